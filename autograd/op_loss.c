/* autograd/op_loss.c - loss functions.
 *
 * Owns: cross_entropy as one fused row (log-softmax + NLL in one pass: stable,
 * and its gradient softmax - onehot needs no log-softmax tensor), and the
 * composite losses (mse, l1) built from differentiable ops.
 */
#include "autograd/op_common.h"

/* Apply a reduction to per-element losses, taking ownership of them. */
static nb_tensor *reduce_take(nb_tensor *losses, const nb_loss_opts *opts) {
  nb_reduction r = opts ? opts->reduction : NB_REDUCTION_MEAN;
  if (!losses || r == NB_REDUCTION_NONE) return losses;
  nb_tensor *out = r == NB_REDUCTION_SUM ? nb_sum(losses, NB_ALL_DIMS, false)
                                         : nb_mean(losses, NB_ALL_DIMS, false);
  nb_free(losses);
  return out;
}

typedef struct ce_params {
  nb_reduction reduction;
} ce_params;

/* ---- cross_entropy (class indices) ------------------------------------------- */
static nb_tensor *cross_entropy_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  ce_params *p = vp;
  nb_tensor *x = in[0], *y = in[1];
  if (x->ndim != 2 || y->ndim != 1 || y->shape[0] != x->shape[0])
    return nb__fail_null(NB_ERR_SHAPE, "cross_entropy: logits %s and target %s: expects [N, C] "
                                       "and [N]",
                         nb__shp(x), nb__shp(y));
  if (y->dtype != NB_DTYPE_INT64)
    return nb__fail_null(NB_ERR_DTYPE, "cross_entropy: target must be int64 class indices, got %s",
                         nb_dtype_name(y->dtype));
  if (!nb_dtype_is_floating(x->dtype))
    return nb__fail_null(NB_ERR_DTYPE, "cross_entropy: logits must be floating, got %s",
                         nb_dtype_name(x->dtype));
  nb_tensor *logp = nbk_log_softmax(x, 1);
  nb_tensor *idx = nbk_unsqueeze(y, 1);
  nb_tensor *picked = logp && idx ? nbk_gather(logp, 1, idx) : NULL;
  nb_tensor *losses = picked ? nbk_neg(picked) : NULL;
  nb_tensor *flat = losses ? nbk_reshape(losses, 1, (int64_t[]){x->shape[0]}) : NULL;
  nb_tensor *out = NULL;
  if (flat) {
    out = p->reduction == NB_REDUCTION_NONE ? nbk_clone(flat)
          : p->reduction == NB_REDUCTION_SUM ? nbk_sum(flat, NB_ALL_DIMS, false)
                                              : nbk_mean(flat, NB_ALL_DIMS, false);
  }
  nb_free(flat);
  nb_free(losses);
  nb_free(picked);
  nb_free(idx);
  nb_free(logp);
  if (out) {
    nb_ctx_save(ctx, x);
    nb_ctx_save(ctx, y);
  }
  return out;
}
static nb_status cross_entropy_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const ce_params *p = nb_ctx_params(ctx);
  nb_tensor *x = nb_ctx_saved(ctx, 0), *y = nb_ctx_saved(ctx, 1);
  int64_t N = x->shape[0], C = x->shape[1];
  nb_tensor *onehot = nbk_to(nb_one_hot(y, C), x->dtype);
  nb_tensor *d = nb_sub(nb_softmax(x, 1), onehot); /* [N, C] */
  nb_tensor *scale = p->reduction == NB_REDUCTION_NONE ? nb_unsqueeze(g, 1)
                     : p->reduction == NB_REDUCTION_SUM ? g
                                                         : nb_mul_scalar(g, N ? 1.0 / (double)N : 0);
  gi[0] = nb_mul(d, scale);
  return NB_OK;
}
NB_DEFINE_OP_P(cross_entropy, 2, ce_params, 0);
nb_status nb__sample_cross_entropy(nb_op_sample *s) {
  static ce_params p = {NB_REDUCTION_MEAN};
  nb__sample_input(s, true, NB_SHAPE(4, 3));
  s->inputs[s->ninputs++] = nb_keep(nb_from_data(NB_DTYPE_INT64, (int64_t[]){0, 2, 1, 2}, NB_SHAPE(4)));
  NB_SAMPLE_CALL(s, cross_entropy, &p);
  return NB_OK;
}
nb_tensor *nb_cross_entropy(nb_tensor *logits, nb_tensor *target, const nb_loss_opts *opts) {
  ce_params p = {opts ? opts->reduction : NB_REDUCTION_MEAN};
  if ((unsigned)p.reduction >= NB_REDUCTION_COUNT)
    return nb__fail_null(NB_ERR_ARG, "cross_entropy: bad reduction %d", (int)p.reduction);
  return nb_apply(&nb__op_cross_entropy, 2, (nb_tensor *[]){logits, target}, &p);
}

/* ---- composites ---------------------------------------------------------------- */
nb_tensor *nb_mse_loss(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts) {
  NB_CHECK_NULL("mse_loss", input, target);
  nb_tensor *d = nb_sub(input, target);
  nb_tensor *sq = nb_mul(d, d);
  nb_free(d);
  return reduce_take(sq, opts);
}

nb_tensor *nb_l1_loss(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts) {
  NB_CHECK_NULL("l1_loss", input, target);
  nb_tensor *d = nb_sub(input, target);
  nb_tensor *a = nb_abs(d);
  nb_free(d);
  return reduce_take(a, opts);
}
