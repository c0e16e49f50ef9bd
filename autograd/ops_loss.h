/* autograd/ops_loss.h - differentiable loss functions with PyTorch's options.
 *
 * Reductions follow PyTorch: NB_REDUCTION_MEAN (the default, zero value),
 * NB_REDUCTION_SUM, NB_REDUCTION_NONE (per-element losses).
 */
#ifndef NABLA_OPS_LOSS_H
#define NABLA_OPS_LOSS_H
#include "tensor/tensor.h"

typedef enum nb_reduction {
  NB_REDUCTION_MEAN,
  NB_REDUCTION_SUM,
  NB_REDUCTION_NONE,
  NB_REDUCTION_COUNT
} nb_reduction;

typedef struct nb_loss_opts {
  nb_reduction reduction;
} nb_loss_opts;

/* Cross-entropy of logits [N, C] against int64 class indices [N]: fused
 * log-softmax + negative log-likelihood (stable). opts may be NULL. */
NB_API nb_tensor *nb_cross_entropy(nb_tensor *logits, nb_tensor *target, const nb_loss_opts *opts);
/* Mean squared error and mean absolute error between same-shaped (or
 * broadcastable) input and target. */
NB_API nb_tensor *nb_mse_loss(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts);
NB_API nb_tensor *nb_l1_loss(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts);

#endif
