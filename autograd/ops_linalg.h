/* autograd/ops_linalg.h - differentiable matrix products (BLIS underneath).
 *
 * Same semantics as nbk_matmul / nbk_linear in tensor/tensor.h.
 */
#ifndef NABLA_OPS_LINALG_H
#define NABLA_OPS_LINALG_H
#include "tensor/tensor.h"

/* torch.matmul: all cases (1-D, 2-D, batched with broadcasting). */
NB_API nb_tensor *nb_matmul(nb_tensor *a, nb_tensor *b);
/* [B,n,k] @ [B,k,m]. */
NB_API nb_tensor *nb_bmm(nb_tensor *a, nb_tensor *b);
/* y = x @ w^T + b (b may be NULL): one GEMM with the bias folded in. */
NB_API nb_tensor *nb_linear(nb_tensor *x, nb_tensor *w, nb_tensor *b);
/* torch.dot: 1-D [n] . [n] of one dtype -> 0-d. */
NB_API nb_tensor *nb_dot(nb_tensor *a, nb_tensor *b);
/* torch.outer: 1-D [n] and [m] -> [n, m] (dtypes promoted). */
NB_API nb_tensor *nb_outer(nb_tensor *a, nb_tensor *b);

#endif
