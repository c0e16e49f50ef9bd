/* autograd/ops_elementwise.h - differentiable elementwise ops and activations.
 *
 * Each is the autograd twin of the nbk_* kernel of the same name in
 * tensor/tensor.h (same shapes, broadcasting, dtype promotion and errors) and
 * records a node when an input requires grad. Returns a new tensor or NULL.
 * Gradients follow PyTorch's conventions at the non-differentiable points
 * (noted per function); every floating input of a binary op is
 * differentiable.
 */
#ifndef NABLA_OPS_ELEMENTWISE_H
#define NABLA_OPS_ELEMENTWISE_H
#include "tensor/tensor.h"

NB_API nb_tensor *nb_add(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_sub(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_mul(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_div(nb_tensor *a, nb_tensor *b);
/* a ** b. d/da = b a^(b-1) (0 where b == 0); d/db = a^b log a (0 where a == 0
 * and b >= 0). */
NB_API nb_tensor *nb_pow(nb_tensor *a, nb_tensor *b);
/* Elementwise max / min (NaN propagates). Ties split the gradient half and
 * half between a and b, as PyTorch does. */
NB_API nb_tensor *nb_maximum(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_minimum(nb_tensor *a, nb_tensor *b);
/* cond ? a : b, broadcasting all three. cond (bool; nonzero = true) gets no
 * gradient; a gets the gradient where cond holds, b elsewhere. */
NB_API nb_tensor *nb_where(nb_tensor *cond, nb_tensor *a, nb_tensor *b);

NB_API nb_tensor *nb_neg(nb_tensor *x);
/* d/dx = sign(x): 0 at 0. */
NB_API nb_tensor *nb_abs(nb_tensor *x);
NB_API nb_tensor *nb_exp(nb_tensor *x);
NB_API nb_tensor *nb_log(nb_tensor *x);
/* log(1 + x) and exp(x) - 1, accurate near 0. */
NB_API nb_tensor *nb_log1p(nb_tensor *x);
NB_API nb_tensor *nb_expm1(nb_tensor *x);
/* sqrt(x) and 1 / sqrt(x). */
NB_API nb_tensor *nb_sqrt(nb_tensor *x);
NB_API nb_tensor *nb_rsqrt(nb_tensor *x);
NB_API nb_tensor *nb_sin(nb_tensor *x);
NB_API nb_tensor *nb_cos(nb_tensor *x);
NB_API nb_tensor *nb_tanh(nb_tensor *x);
NB_API nb_tensor *nb_sigmoid(nb_tensor *x);

/* ---- activations ---------------------------------------------------------- */

/* max(x, 0); d/dx = 0 at 0. */
NB_API nb_tensor *nb_relu(nb_tensor *x);
/* relu's backward: y <= 0 ? 0 : g elementwise, for y = relu(x) (a NaN y passes
 * g), broadcasting g and y. Differentiable in g (it is linear in g); y is a
 * mask and gets no gradient, as PyTorch's threshold_backward(g, y, 0). */
NB_API nb_tensor *nb_relu_backward(nb_tensor *g, nb_tensor *y);
/* x > 0 ? x : negative_slope * x; d/dx = negative_slope at 0 (PyTorch's
 * default slope is 0.01). */
NB_API nb_tensor *nb_leaky_relu(nb_tensor *x, double negative_slope);
/* x > 0 ? x : alpha (exp(x) - 1); d/dx = alpha at 0 (default alpha 1). */
NB_API nb_tensor *nb_elu(nb_tensor *x, double alpha);
/* x Phi(x) with the exact normal CDF, or PyTorch's tanh approximation
 * (approximate="tanh") when tanh_approx. */
NB_API nb_tensor *nb_gelu(nb_tensor *x, bool tanh_approx);
/* x sigmoid(x). */
NB_API nb_tensor *nb_silu(nb_tensor *x);
/* log(1 + exp(beta x)) / beta, and x where beta x > threshold (PyTorch
 * defaults: beta 1, threshold 20); d/dx = 1 there. */
NB_API nb_tensor *nb_softplus(nb_tensor *x, double beta, double threshold);
/* Clamp to [min_val, max_val] (defaults -1, 1); the gradient is 0 at and
 * beyond the bounds (x <= min_val or x >= max_val). Bool inputs are an error. */
NB_API nb_tensor *nb_hardtanh(nb_tensor *x, double min_val, double max_val);
/* Clamp to [lo, hi], NAN = no bound (at least one given; lo > hi gives hi
 * everywhere). The gradient passes where lo <= x <= hi, bounds included. */
NB_API nb_tensor *nb_clamp(nb_tensor *x, double lo, double hi);

/* ---- scalar forms ---------------------------------------------------------- */

/* x + s, x - s, x * s, x / s (s != 0), x ** exponent. */
NB_API nb_tensor *nb_add_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_sub_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_mul_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_div_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_pow_scalar(nb_tensor *x, double exponent);
/* s - x, s / x, base ** x. For base 0 the gradient is 0 where x >= 0. */
NB_API nb_tensor *nb_rsub_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_rdiv_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_rpow_scalar(nb_tensor *x, double base);

/* Convert dtype; differentiable between floating dtypes. */
NB_API nb_tensor *nb_to(nb_tensor *x, nb_dtype dtype);

#endif
