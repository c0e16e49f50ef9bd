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
/* Pieces of split_size (the last may be smaller) / up to `chunks` pieces of
 * ceil(size / chunks) along dim, as differentiable slices of x: writes up to
 * capacity new references into out and returns the count, or a negative
 * nb_status (NB_ERR_ARG if capacity is too small; out then holds nothing). */
NB_API int nb_split(nb_tensor *x, int64_t split_size, int dim, nb_tensor **out, int capacity);
NB_API int nb_chunk(nb_tensor *x, int chunks, int dim, nb_tensor **out, int capacity);
/* Tile x (torch.Tensor.repeat): nrepeats >= ndim entries; the gradient sums
 * the tiles. */
NB_API nb_tensor *nb_repeat(nb_tensor *x, int nrepeats, const int64_t *repeats);
/* Reverse along each listed dim (a copy); the gradient is flipped back. */
NB_API nb_tensor *nb_flip(nb_tensor *x, const int *dims, int ndims);
/* out[i][j] = x[index[i][j]][j] for dim 0, etc. (int64 index, same ndim as x;
 * index no larger than x outside dim). The gradient scatter-adds into zeros,
 * so repeated indices accumulate. index gets no gradient. */
NB_API nb_tensor *nb_gather(nb_tensor *x, int dim, nb_tensor *index);
/* Copy of x with src[i][j] added at [index[i][j]][j] (dim 0), etc.
 * Differentiable w.r.t. x (identity) and src (gather of the gradient; zero for
 * src entries outside index's shape). */
NB_API nb_tensor *nb_scatter_add(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src);
/* Copy of x with value where the bool mask (broadcast to x) is true; those
 * positions get no gradient, the mask none at all. */
NB_API nb_tensor *nb_masked_fill(nb_tensor *x, nb_tensor *mask, double value);
/* Constant pad in F.pad order (pads = {last_lo, last_hi, prev_lo, ...};
 * negative pads crop). The gradient is cropped back to x's shape. */
NB_API nb_tensor *nb_pad(nb_tensor *x, int npads, const int64_t *pads, double value);
/* x as a contiguous tensor (a view when x already is one); identity gradient. */
NB_API nb_tensor *nb_contiguous(nb_tensor *x);

#endif
