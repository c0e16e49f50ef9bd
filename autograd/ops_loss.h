/* autograd/ops_loss.h - differentiable loss functions with PyTorch's options.
 *
 * Reductions follow PyTorch: NB_REDUCTION_MEAN (the default, zero value),
 * NB_REDUCTION_SUM, NB_REDUCTION_NONE (per-element losses), and
 * NB_REDUCTION_BATCHMEAN (kl_div only: sum / input.size(0)).
 *
 * nb_loss_opts: a zeroed struct (or opts == NULL) gives PyTorch's defaults for
 * every loss. Fields a loss does not use are ignored. Shapes must match as
 * documented per loss (stricter than PyTorch, which broadcasts some with a
 * warning); errors name the loss and both shapes.
 */
#ifndef NABLA_OPS_LOSS_H
#define NABLA_OPS_LOSS_H
#include "tensor/tensor.h"

typedef enum nb_reduction {
  NB_REDUCTION_MEAN,
  NB_REDUCTION_SUM,
  NB_REDUCTION_NONE,
  NB_REDUCTION_BATCHMEAN, /* kl_div only */
  NB_REDUCTION_COUNT
} nb_reduction;

#define NB_DEFAULT_IGNORE_INDEX (-100)

typedef struct nb_loss_opts {
  nb_reduction reduction;
  /* cross_entropy / nll_loss: per-class weights [C] (NULL = all 1; a constant:
   * no gradient flows to it). binary_cross_entropy(_with_logits): per-element
   * weights broadcast to the input. */
  nb_tensor *weight;
  /* cross_entropy / nll_loss (class indices): targets equal to the ignore
   * index contribute 0 and are left out of the mean's denominator. When
   * use_ignore_index is false PyTorch's default -100 applies. */
  bool use_ignore_index;
  int64_t ignore_index;
  /* cross_entropy: mixes the target with the uniform distribution, in [0, 1]. */
  double label_smoothing;
  /* binary_cross_entropy_with_logits: weight of positive examples,
   * broadcast over the last dim (NULL = 1). */
  nb_tensor *pos_weight;
  /* smooth_l1_loss beta (0 = PyTorch's 1.0; set use_zero_beta for beta 0,
   * which is l1_loss) and huber_loss delta (0 = PyTorch's 1.0). */
  double beta;
  bool use_zero_beta;
  double delta;
  /* cosine_embedding_loss / margin_ranking_loss margin (default 0). */
  double margin;
  /* kl_div: the target is given as log-probabilities. */
  bool log_target;
} nb_loss_opts;

/* Cross-entropy of logits [N, C] or [N, C, d1, ...] (class dim 1) against
 * either int64 class indices [N] / [N, d1, ...] (fused log-softmax + NLL:
 * stable) or class probabilities (floating, same shape as logits; gradients
 * flow to the target too). Options: reduction, weight, ignore_index (indices
 * only), label_smoothing. Mean with class indices divides by the summed weight
 * of the non-ignored targets (NaN if all are ignored), as PyTorch. */
NB_API nb_tensor *nb_cross_entropy(nb_tensor *logits, nb_tensor *target, const nb_loss_opts *opts);
/* Negative log-likelihood of log-probabilities [N, C] or [N, C, d1, ...]
 * against int64 class indices. Options: reduction, weight, ignore_index. */
NB_API nb_tensor *nb_nll_loss(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts);
/* Mean squared error and mean absolute error between same-shaped (or
 * broadcastable) input and target. */
NB_API nb_tensor *nb_mse_loss(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts);
NB_API nb_tensor *nb_l1_loss(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts);
/* Binary cross-entropy of probabilities in [0, 1] against same-shaped
 * floating targets; log terms clamped to >= -100 as PyTorch. Options:
 * reduction, weight. */
NB_API nb_tensor *nb_binary_cross_entropy(nb_tensor *input, nb_tensor *target,
                                          const nb_loss_opts *opts);
/* Binary cross-entropy on logits, stable for any magnitude. Options:
 * reduction, weight, pos_weight. */
NB_API nb_tensor *nb_binary_cross_entropy_with_logits(nb_tensor *input, nb_tensor *target,
                                                      const nb_loss_opts *opts);
/* |d| < beta ? 0.5 d^2 / beta : |d| - beta / 2 with d = input - target (same
 * shapes). Options: reduction, beta / use_zero_beta. */
NB_API nb_tensor *nb_smooth_l1_loss(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts);
/* |d| < delta ? 0.5 d^2 : delta (|d| - delta / 2). Options: reduction, delta. */
NB_API nb_tensor *nb_huber_loss(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts);
/* KL divergence with input = log-probabilities: target (log target - input),
 * 0 where target == 0; exp(target) (target - input) with log_target. Same
 * shapes. Options: reduction (incl. batchmean), log_target. */
NB_API nb_tensor *nb_kl_div(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts);
/* x1, x2 [N, D] (or [D]) and target [N] (or 0-d) of +-1: 1 - cos where
 * target is 1, max(0, cos - margin) where -1. Options: reduction, margin. */
NB_API nb_tensor *nb_cosine_embedding_loss(nb_tensor *x1, nb_tensor *x2, nb_tensor *target,
                                           const nb_loss_opts *opts);
/* max(0, -target (x1 - x2) + margin), all three the same shape. Options:
 * reduction, margin. */
NB_API nb_tensor *nb_margin_ranking_loss(nb_tensor *x1, nb_tensor *x2, nb_tensor *target,
                                         const nb_loss_opts *opts);

#endif
