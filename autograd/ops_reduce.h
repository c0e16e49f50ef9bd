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

#endif
