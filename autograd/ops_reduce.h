/* autograd/ops_reduce.h - differentiable reductions and softmax.
 *
 * Same semantics as the nbk_* kernels in tensor/tensor.h: dims/ndims select
 * the reduced dims (NB_ALL_DIMS = all), keepdim keeps them as size 1.
 */
#ifndef NABLA_OPS_REDUCE_H
#define NABLA_OPS_REDUCE_H
#include "tensor/tensor.h"

NB_API nb_tensor *nb_sum(nb_tensor *x, const int *dims, int ndims, bool keepdim);
NB_API nb_tensor *nb_mean(nb_tensor *x, const int *dims, int ndims, bool keepdim);
NB_API nb_tensor *nb_softmax(nb_tensor *x, int dim);
NB_API nb_tensor *nb_log_softmax(nb_tensor *x, int dim);
/* Product; the gradient is the product of the other entries, computed
 * without dividing by zeros (slices with zeros get exact gradients; second
 * derivatives are exact for slices with at most one zero). */
NB_API nb_tensor *nb_prod(nb_tensor *x, const int *dims, int ndims, bool keepdim);
/* Max / min over dims; the gradient is split evenly among tied entries. */
NB_API nb_tensor *nb_amax(nb_tensor *x, const int *dims, int ndims, bool keepdim);
NB_API nb_tensor *nb_amin(nb_tensor *x, const int *dims, int ndims, bool keepdim);
/* Max / min along dim: values (differentiable; the gradient goes to the
 * selected index) and int64 indices (first occurrence). Either output may be
 * NULL if not wanted; both are new references. */
NB_API nb_status nb_max_dim(nb_tensor *x, int dim, bool keepdim, nb_tensor **values,
                            nb_tensor **indices);
NB_API nb_status nb_min_dim(nb_tensor *x, int dim, bool keepdim, nb_tensor **values,
                            nb_tensor **indices);
/* Variance with `correction` (1 = unbiased) and std = sqrt(var). */
NB_API nb_tensor *nb_var(nb_tensor *x, const int *dims, int ndims, double correction, bool keepdim);
NB_API nb_tensor *nb_std(nb_tensor *x, const int *dims, int ndims, double correction, bool keepdim);
NB_API nb_tensor *nb_logsumexp(nb_tensor *x, const int *dims, int ndims, bool keepdim);
/* p-norm (p = 1, 2, INFINITY, -INFINITY or any p > 0); the gradient is 0
 * where the norm is 0 (PyTorch's convention). */
NB_API nb_tensor *nb_norm(nb_tensor *x, double p, const int *dims, int ndims, bool keepdim);
/* Running sum along dim; the gradient is the reversed running sum. */
NB_API nb_tensor *nb_cumsum(nb_tensor *x, int dim);

#endif
