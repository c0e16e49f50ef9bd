/* autograd/ops_shape.h - differentiable shape and indexing ops.
 *
 * Same semantics as the nbk_* kernels in tensor/tensor.h; views stay views
 * (no copy) and their gradients flow back to the viewed tensor.
 */
#ifndef NABLA_OPS_SHAPE_H
#define NABLA_OPS_SHAPE_H
#include "tensor/tensor.h"

NB_API nb_tensor *nb_reshape(nb_tensor *x, int ndim, const int64_t *shape);
NB_API nb_tensor *nb_flatten(nb_tensor *x, int start_dim, int end_dim);
NB_API nb_tensor *nb_squeeze(nb_tensor *x, int dim);
NB_API nb_tensor *nb_unsqueeze(nb_tensor *x, int dim);
NB_API nb_tensor *nb_expand(nb_tensor *x, int ndim, const int64_t *shape);
NB_API nb_tensor *nb_permute(nb_tensor *x, int ndim, const int *dims);
NB_API nb_tensor *nb_transpose(nb_tensor *x, int dim0, int dim1);
NB_API nb_tensor *nb_t(nb_tensor *x);
NB_API nb_tensor *nb_slice(nb_tensor *x, int dim, int64_t start, int64_t end, int64_t step);
NB_API nb_tensor *nb_narrow(nb_tensor *x, int dim, int64_t start, int64_t length);
NB_API nb_tensor *nb_select(nb_tensor *x, int dim, int64_t index);
/* Copy of x with src's slices added at the int64 1-D index along dim. */
NB_API nb_tensor *nb_index_add(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src);
NB_API nb_tensor *nb_index_select(nb_tensor *x, int dim, nb_tensor *index);
NB_API nb_tensor *nb_cat(nb_tensor *const *tensors, int n, int dim);
NB_API nb_tensor *nb_stack(nb_tensor *const *tensors, int n, int dim);

#endif
