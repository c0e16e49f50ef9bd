/* autograd/ops_elementwise.h - differentiable elementwise ops and activations.
 *
 * Each is the autograd twin of the nbk_* kernel of the same name in
 * tensor/tensor.h (same shapes, broadcasting, dtype promotion and errors) and
 * records a node when an input requires grad. Returns a new tensor or NULL.
 */
#ifndef NABLA_OPS_ELEMENTWISE_H
#define NABLA_OPS_ELEMENTWISE_H
#include "tensor/tensor.h"

NB_API nb_tensor *nb_add(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_sub(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_mul(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_div(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_neg(nb_tensor *x);
NB_API nb_tensor *nb_abs(nb_tensor *x);
NB_API nb_tensor *nb_exp(nb_tensor *x);
NB_API nb_tensor *nb_log(nb_tensor *x);
NB_API nb_tensor *nb_tanh(nb_tensor *x);
NB_API nb_tensor *nb_sigmoid(nb_tensor *x);
NB_API nb_tensor *nb_relu(nb_tensor *x);
/* x + s, x - s, x * s, x / s, x ** exponent. */
NB_API nb_tensor *nb_add_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_sub_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_mul_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_div_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_pow_scalar(nb_tensor *x, double exponent);
/* Convert dtype; differentiable between floating dtypes. */
NB_API nb_tensor *nb_to(nb_tensor *x, nb_dtype dtype);

#endif
