/* autograd/ops_nn.h - differentiable network primitives (torch.nn.functional).
 *
 * Owns the declarations of: pooling (max, average, adaptive average) and
 * resampling (interpolate: nearest, bilinear) on NCHW tensors - the
 * differentiable twins of the kernels in tensor/pool.h, with the same options,
 * shapes and errors - and the composites dropout, embedding, layer_norm,
 * batch_norm and group_norm, built from differentiable ops so they inherit
 * gradients of every order. Conventions as in autograd/autograd.h.
 */
#ifndef NABLA_OPS_NN_H
#define NABLA_OPS_NN_H
#include "tensor/tensor.h"
#include "tensor/pool.h"

/* ---- pooling and resampling ------------------------------------------------- */

/* F.max_pool2d on [N, C, H, W] or [C, H, W] (opts required: kernel size).
 * If indices is not NULL it receives a new int64 tensor of argmax positions
 * (h * W + w within each plane; return_indices=True). The gradient goes to
 * the argmax positions; it is piecewise linear, so second derivatives (with
 * respect to the incoming gradient) are exact. */
NB_API nb_tensor *nb_max_pool2d(nb_tensor *x, const nb_pool2d_opts *opts, nb_tensor **indices);
/* F.avg_pool2d (kernel, stride, padding, ceil_mode, count_include_pad via
 * exclude_pad, divisor_override). */
NB_API nb_tensor *nb_avg_pool2d(nb_tensor *x, const nb_pool2d_opts *opts);
/* F.adaptive_avg_pool2d to out_h x out_w (-1 keeps that input size). */
NB_API nb_tensor *nb_adaptive_avg_pool2d(nb_tensor *x, int64_t out_h, int64_t out_w);
/* F.interpolate with mode nearest or bilinear (size or scale_factor,
 * align_corners for bilinear). */
NB_API nb_tensor *nb_interpolate(nb_tensor *x, const nb_interp_opts *opts);

/* ---- dropout and embedding -------------------------------------------------- */

/* F.dropout: when training, x times a mask of Bernoulli(1 - p) draws from g
 * (NULL = the default generator) scaled by 1 / (1 - p) (zeros for p = 1);
 * the gradient is multiplied by the same mask. Not training (or p = 0): an
 * identity view of x. p must be in [0, 1]; x floating. */
NB_API nb_tensor *nb_dropout(nb_tensor *x, double p, bool training, nb_generator *g);

typedef struct nb_embedding_opts {
  /* Entries equal to padding_idx (negative counts from the end) get no
   * gradient; their output is the weight row as usual. */
  bool use_padding_idx;
  int64_t padding_idx;
} nb_embedding_opts;

/* F.embedding: rows of weight [V, D] at int64 indices of any shape ->
 * [..., D]. An index outside [0, V) is NB_ERR_INDEX naming it. The gradient
 * adds each output row's gradient into its weight row. opts may be NULL. */
NB_API nb_tensor *nb_embedding(nb_tensor *weight, nb_tensor *indices,
                               const nb_embedding_opts *opts);

/* ---- normalization ----------------------------------------------------------- */

/* F.layer_norm over the last nnorm dims, which must equal normalized_shape:
 * (x - mean) / sqrt(var + eps) (biased var), times weight and plus bias
 * (either NULL, else of normalized_shape). eps 0 means PyTorch's 1e-5. */
NB_API nb_tensor *nb_layer_norm(nb_tensor *x, int nnorm, const int64_t *normalized_shape,
                                nb_tensor *weight, nb_tensor *bias, double eps);

typedef struct nb_batch_norm_opts {
  bool training;   /* batch statistics (and running-stat updates) instead of running ones */
  double momentum; /* running = (1 - momentum) running + momentum batch; 0 = 0.1 */
  double eps;      /* 0 = 1e-5 */
} nb_batch_norm_opts;

/* F.batch_norm on x [N, C, ...] with per-channel running_mean, running_var,
 * weight, bias [C] (any may be NULL; running stats both or neither). Training:
 * normalizes with the batch mean and biased variance and, when running stats
 * are given, updates them in place (no graph): the variance with the
 * unbiased batch variance; more than one value per channel is required.
 * Without running stats training never updates anything (momentum 0 has the
 * same effect). Eval: normalizes with the running stats (required; no
 * gradient flows to them). opts NULL = eval with the defaults. */
NB_API nb_tensor *nb_batch_norm(nb_tensor *x, nb_tensor *running_mean, nb_tensor *running_var,
                                nb_tensor *weight, nb_tensor *bias, const nb_batch_norm_opts *opts);

/* F.group_norm on x [N, C, ...]: channels split into `groups` (dividing C),
 * each (sample, group) normalized over its channels and spatial positions
 * with the biased variance, then per-channel weight and bias [C] (either
 * NULL). eps 0 means 1e-5. */
NB_API nb_tensor *nb_group_norm(nb_tensor *x, int64_t groups, nb_tensor *weight, nb_tensor *bias,
                                double eps);

#endif
