/* autograd/op_loss.c - loss functions.
 *
 * Owns: the fused class-index losses as rows - cross_entropy (log-softmax +
 * weighted NLL + label smoothing in one pass: stable, and its gradient
 * softmax * rowsum(Q) - Q needs no log-softmax tensor) and nll_loss, sharing
 * one forward / backward - and the composite losses built from differentiable
 * ops (probability-target cross-entropy, mse, l1, binary cross-entropy with
 * and without logits, smooth_l1, huber, kl_div, cosine_embedding,
 * margin_ranking), which inherit their gradients.
 */
#include "autograd/op_impl.h"

#include <math.h>
#include <stdlib.h>

/* ---- helpers --------------------------------------------------------------- */

static const nb_loss_opts default_opts;

/* Temporaries of a composite, freed together (nb_free ignores NULL). */
typedef struct tmps {
  nb_tensor *t[48];
  int n;
} tmps;
static nb_tensor *tmp(tmps *s, nb_tensor *x) {
  if (s->n < (int)(sizeof s->t / sizeof s->t[0])) s->t[s->n++] = x;
  return x;
}
/* Take x back out of the list (the result of a composite). */
static nb_tensor *untmp(tmps *s, nb_tensor *x) {
  for (int i = 0; i < s->n; i++)
    if (s->t[i] == x) s->t[i] = NULL;
  return x;
}
static void tmps_free(tmps *s) {
  for (int i = s->n - 1; i >= 0; i--) nb_free(s->t[i]);
  s->n = 0;
}

static bool check_reduction(const char *op, nb_reduction r, bool batchmean_ok) {
  if ((unsigned)r >= NB_REDUCTION_COUNT || (r == NB_REDUCTION_BATCHMEAN && !batchmean_ok)) {
    nb__fail(NB_ERR_ARG, "%s: bad reduction %d", op, (int)r);
    return false;
  }
  return true;
}

/* Apply a reduction to per-element losses, taking ownership of them. */
static nb_tensor *reduce_take(nb_tensor *losses, const nb_loss_opts *opts) {
  nb_reduction r = opts ? opts->reduction : NB_REDUCTION_MEAN;
  if (!losses || r == NB_REDUCTION_NONE) return losses;
  nb_tensor *out = r == NB_REDUCTION_SUM ? nb_sum(losses, NB_ALL_DIMS, false)
                                         : nb_mean(losses, NB_ALL_DIMS, false);
  nb_free(losses);
  return out;
}

/* Input and target of an elementwise loss: floating, same shape. */
static bool check_pair(const char *op, nb_tensor *x, nb_tensor *y, const nb_loss_opts *o,
                       bool batchmean_ok) {
  if (!check_reduction(op, o->reduction, batchmean_ok)) return false;
  if (!nb_dtype_is_floating(x->dtype) || !nb_dtype_is_floating(y->dtype)) {
    nb__fail(NB_ERR_DTYPE, "%s: input and target must be floating, got %s and %s", op,
             nb_dtype_name(x->dtype), nb_dtype_name(y->dtype));
    return false;
  }
  bool same = x->ndim == y->ndim;
  for (int i = 0; same && i < x->ndim; i++) same = x->shape[i] == y->shape[i];
  if (!same) {
    nb__fail(NB_ERR_SHAPE, "%s: input %s and target %s must have the same shape", op, nb__shp(x),
             nb__shp(y));
    return false;
  }
  return true;
}

/* clamp_min(x, lo) built from relu, so it stays differentiable. */
static nb_tensor *clamp_min(tmps *s, nb_tensor *x, double lo) {
  return nb_add_scalar(tmp(s, nb_relu(tmp(s, nb_add_scalar(x, -lo)))), lo);
}

/* softplus(-x) = -log(sigmoid(x)) = -log_softmax([x, 0])[0]: stable for any x
 * and smooth everywhere (no kink at 0 as in max(-x,0) + log1p(exp(-|x|))). */
static nb_tensor *neg_log_sigmoid(tmps *s, nb_tensor *x) {
  nb_tensor *z = tmp(s, nb_zeros_like(x, NB_DTYPE_COUNT));
  nb_tensor *st = tmp(s, nb_stack((nb_tensor *[]){x, z}, 2, -1));
  nb_tensor *ls = tmp(s, nb_log_softmax(st, -1));
  return nb_neg(tmp(s, nb_select(ls, -1, 0)));
}

/* ---- cross_entropy / nll_loss (class indices), one fused mechanism ---------- */

typedef struct ce_params {
  nb_reduction reduction;
  int64_t ignore_index;
  double label_smoothing;
  double denom; /* written by forward: sum of the weights of non-ignored targets */
} ce_params;

/* Per-row losses of log-probabilities lp [M, C] (contiguous):
 * valid_n * -((1 - eps) w[t_n] lp[n, t_n] + eps / C sum_c w_c lp[n, c]). */
#define CE_ROWS(T)                                                                                 \
  static void ce_rows_##T(const T *lp, const int64_t *t, const double *w, int64_t M, int64_t C,    \
                          int64_t ignore, double eps, T *out, double *denom) {                     \
    double d = 0;                                                                                  \
    for (int64_t n = 0; n < M; n++) {                                                              \
      if (t[n] == ignore) {                                                                        \
        out[n] = 0;                                                                                \
        continue;                                                                                  \
      }                                                                                            \
      const T *row = lp + n * C;                                                                   \
      double wt = w ? w[t[n]] : 1.0, acc = (1 - eps) * wt * (double)row[t[n]];                     \
      if (eps != 0) {                                                                              \
        double sm = 0;                                                                             \
        for (int64_t c = 0; c < C; c++) sm += (w ? w[c] : 1.0) * (double)row[c];                   \
        acc += eps / (double)C * sm;                                                               \
      }                                                                                            \
      out[n] = (T)-acc;                                                                            \
      d += wt;                                                                                     \
    }                                                                                              \
    *denom = d;                                                                                    \
  }
CE_ROWS(float)
CE_ROWS(double)

/* Log-softmax of the rows of x [M, C] (element strides rs, cs) into lp and,
 * when sm is given, softmax into sm (both contiguous): one pass of max and
 * exps serves both. The arithmetic is nbk_log_softmax's / nbk_softmax's
 * (NaN-propagating max, exps of T summed in double), so the values match
 * those kernels bit for bit. */
#define CE_LOG_SOFTMAX(T, EXP)                                                                     \
  static void ce_log_softmax_##T(const T *x, int64_t rs, int64_t cs, int64_t M, int64_t C, T *lp,  \
                                 T *sm) {                                                          \
    for (int64_t n = 0; n < M; n++) {                                                              \
      const T *xr = x + n * rs;                                                                    \
      T *lr = lp + n * C, *sr = sm ? sm + n * C : NULL;                                            \
      T m = -INFINITY; /* a row of -inf, +inf or NaN gives NaN */                                  \
      for (int64_t c = 0; c < C; c++) {                                                            \
        const T v = xr[c * cs];                                                                    \
        if (v > m || v != v) m = v;                                                                \
      }                                                                                            \
      double sum = 0;                                                                              \
      for (int64_t c = 0; c < C; c++) {                                                            \
        const T e = EXP((T)(xr[c * cs] - m));                                                      \
        if (sr) sr[c] = e;                                                                         \
        sum += e;                                                                                  \
      }                                                                                            \
      const double lse = log(sum);                                                                 \
      for (int64_t c = 0; c < C; c++) lr[c] = (T)((double)(xr[c * cs] - m) - lse);                 \
      if (sr)                                                                                      \
        for (int64_t c = 0; c < C; c++) sr[c] = (T)(sr[c] / sum);                                  \
    }                                                                                              \
  }
CE_LOG_SOFTMAX(float, expf)
CE_LOG_SOFTMAX(double, exp)

/* Validate x [M, C], target int64 [M] (values in [0, C) or ignore), weight [C]. */
static bool ce_check(const char *op, nb_tensor *x, nb_tensor *y, nb_tensor *w, int64_t ignore) {
  if (!nb_dtype_is_floating(x->dtype)) {
    nb__fail(NB_ERR_DTYPE, "%s: input must be floating, got %s", op, nb_dtype_name(x->dtype));
    return false;
  }
  if (y->dtype != NB_DTYPE_INT64) {
    nb__fail(NB_ERR_DTYPE, "%s: target must be int64 class indices, got %s", op,
             nb_dtype_name(y->dtype));
    return false;
  }
  if (x->ndim != 2 || y->ndim != 1 || y->shape[0] != x->shape[0]) {
    nb__fail(NB_ERR_SHAPE, "%s: input %s and target %s: expects [N, C] and [N]", op, nb__shp(x),
             nb__shp(y));
    return false;
  }
  if (w && (w->ndim != 1 || w->shape[0] != x->shape[1] || !nb_dtype_is_floating(w->dtype))) {
    nb__fail(NB_ERR_SHAPE, "%s: weight %s (%s) must be a floating [C] with C = %lld", op,
             nb__shp(w), nb_dtype_name(w->dtype), (long long)x->shape[1]);
    return false;
  }
  return true;
}

static nb_tensor *ce_forward(nb_ctx *ctx, nb_tensor *const *in, int n, ce_params *p,
                             bool log_softmax) {
  const char *op = log_softmax ? "cross_entropy" : "nll_loss";
  nb_tensor *x = in[0], *y = in[1], *w = n == 3 ? in[2] : NULL;
  if (!ce_check(op, x, y, w, p->ignore_index)) return NULL;
  int64_t M = x->shape[0], C = x->shape[1];
  /* nb_retain + nb_free would take a scoped x out of its scope: keep a flag. */
  bool own = x->dtype != NB_DTYPE_FLOAT32 && x->dtype != NB_DTYPE_FLOAT64;
  nb_tensor *xd = own ? nbk_to(x, NB_DTYPE_FLOAT32) : x;
  /* cross_entropy's backward needs softmax(x): made here with the log-softmax
   * when a graph is recorded (saved after x, before y). */
  const bool keep_sm = log_softmax && nb_ctx_recording(ctx);
  nb_tensor *lp = !xd           ? NULL
                  : log_softmax ? nb__new(op, xd->dtype, 2, x->shape)
                                : nbk_contiguous(xd);
  nb_tensor *sm = keep_sm && lp ? nb__new(op, xd->dtype, 2, x->shape) : NULL;
  if (keep_sm && !sm) {
    nb_free(lp);
    lp = NULL;
  }
  if (log_softmax && lp && (sm || !keep_sm)) {
    const int64_t rs = xd->strides[0], cs = xd->strides[1];
    if (xd->dtype == NB_DTYPE_FLOAT32)
      ce_log_softmax_float(nb__ptr(xd, 0), rs, cs, M, C, nb_data(lp), sm ? nb_data(sm) : NULL);
    else
      ce_log_softmax_double(nb__ptr(xd, 0), rs, cs, M, C, nb_data(lp), sm ? nb_data(sm) : NULL);
  }
  nb_tensor *yc = nbk_contiguous(y);
  nb_tensor *wc = w ? nbk_to(w, NB_DTYPE_FLOAT64) : NULL;
  nb_tensor *wcc = wc ? nbk_contiguous(wc) : NULL;
  nb_tensor *lpc = lp ? nbk_contiguous(lp) : NULL;
  nb_tensor *losses = lpc ? nb_zeros(lpc->dtype, 1, (int64_t[]){M}) : NULL;
  nb_tensor *out = NULL;
  if (losses && yc && (!w || wcc)) {
    const int64_t *t = nb_data(yc);
    int64_t bad = -1;
    for (int64_t i = 0; i < M && bad < 0; i++)
      if (t[i] != p->ignore_index && (t[i] < 0 || t[i] >= C)) bad = i;
    if (bad >= 0) {
      nb__fail(NB_ERR_INDEX, "%s: target %lld at %lld is out of bounds for %lld classes", op,
               (long long)t[bad], (long long)bad, (long long)C);
    } else {
      const double *wd = wcc ? nb_data(wcc) : NULL;
      double eps = log_softmax ? p->label_smoothing : 0;
      if (lpc->dtype == NB_DTYPE_FLOAT32)
        ce_rows_float(nb_data(lpc), t, wd, M, C, p->ignore_index, eps, nb_data(losses), &p->denom);
      else
        ce_rows_double(nb_data(lpc), t, wd, M, C, p->ignore_index, eps, nb_data(losses), &p->denom);
      if (p->reduction == NB_REDUCTION_NONE) {
        out = losses;
        losses = NULL;
      } else {
        nb_tensor *s = nbk_sum(losses, NB_ALL_DIMS, false);
        if (p->reduction == NB_REDUCTION_SUM) {
          out = s;
        } else {
          out = s ? nbk_mul_scalar(s, 1.0 / p->denom) : NULL;
          nb_free(s);
        }
      }
    }
  }
  nb_free(losses);
  if (!out) nb_free(sm);
  nb_free(lpc);
  nb_free(wcc);
  nb_free(wc);
  nb_free(yc);
  nb_free(lp);
  if (own) nb_free(xd);
  if (out && nb_ctx_recording(ctx)) {
    if (log_softmax) {
      nb_ctx_save(ctx, x);
      nb_ctx_save(ctx, sm);
      nb_free(sm);
    }
    nb_ctx_save(ctx, y);
    if (w) nb_ctx_save(ctx, w);
  }
  return out;
}

/* Q's row n in double (zero for an ignored target). */
static void ce_q_row(double *q, int64_t C, int64_t t, const double *w, double eps, int64_t ignore) {
  for (int64_t c = 0; c < C; c++) q[c] = 0;
  if (t == ignore) return;
  for (int64_t c = 0; c < C && eps != 0; c++) q[c] = eps / (double)C * (w ? w[c] : 1);
  q[t] += (1 - eps) * (w ? w[t] : 1);
}

/* The backward without a graph, fused over rows; the same arithmetic as the
 * differentiable formula below, operation by operation: Q rounded to T, its
 * row sum accumulated in double, (softmax * rowsum - Q) * scale in T, where
 * scale is g[n], g or g * (T)(1 / denom). sm is NULL for nll_loss (d = -Q). */
#define CE_GRAD_ROWS(T)                                                                            \
  static void ce_grad_rows_##T(const T *sm, const int64_t *t, const double *w, int64_t M,          \
                               int64_t C, const ce_params *p, double eps, const T *g, int64_t gs,  \
                               double *q, T *out) {                                                \
    const bool per_row = p->reduction == NB_REDUCTION_NONE;                                        \
    const T scale0 = p->reduction == NB_REDUCTION_SUM ? g[0] : (T)(g[0] * (T)(1.0 / p->denom));    \
    for (int64_t n = 0; n < M; n++) {                                                              \
      const T scale = per_row ? g[n * gs] : scale0;                                                \
      ce_q_row(q, C, t[n], w, eps, p->ignore_index);                                               \
      double rs = 0;                                                                               \
      for (int64_t c = 0; c < C; c++) rs += (double)(T)q[c];                                       \
      const T rst = (T)rs;                                                                         \
      for (int64_t c = 0; c < C; c++) {                                                            \
        const T qc = (T)q[c];                                                                      \
        const T d = sm ? (T)(sm[n * C + c] * rst) - qc : -qc;                                      \
        out[n * C + c] = (T)(d * scale);                                                           \
      }                                                                                            \
    }                                                                                              \
  }
CE_GRAD_ROWS(float)
CE_GRAD_ROWS(double)

/* d loss_n / d lp[n, c] = -Q[n, c] with Q = valid_n ((1 - eps) w[t_n] onehot + eps / C w_c);
 * through log-softmax: d/dx = softmax * rowsum(Q) - Q. Q is a constant. Without
 * create_graph the fused rows above compute it; with it, differentiable ops. */
static nb_status ce_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi, bool log_softmax) {
  const ce_params *p = nb_ctx_params(ctx);
  if (!nb_ctx_needs_grad(ctx, 0)) return NB_OK;
  int k = 0;
  nb_tensor *x = log_softmax ? nb_ctx_saved(ctx, k++) : NULL;
  nb_tensor *saved_sm = log_softmax ? nb_ctx_saved(ctx, k++) : NULL;
  nb_tensor *y = nb_ctx_saved(ctx, k++);
  nb_tensor *w = nb_ctx_ninputs(ctx) == 3 ? nb_ctx_saved(ctx, k++) : NULL;
  const int64_t *shape = nb_ctx_input_shape(ctx, 0);
  int64_t M = shape[0], C = shape[1];
  nb_dtype dt = nb_ctx_input_dtype(ctx, 0);
  double eps = log_softmax ? p->label_smoothing : 0;
  nb_tensor *yc = nbk_contiguous(y);
  nb_tensor *wd = w ? nbk_contiguous(nbk_to(w, NB_DTYPE_FLOAT64)) : NULL;
  if (!yc || (w && !wd)) return nb_last_status();
  const int64_t *t = nb_data(yc);
  const double *wv = wd ? nb_data(wd) : NULL;
  if (!nb_is_grad_enabled() && g->dtype == dt &&
      (dt == NB_DTYPE_FLOAT32 || dt == NB_DTYPE_FLOAT64)) {
    nb_tensor *sm = saved_sm;
    nb_tensor *out = nb__new("cross_entropy_backward", dt, 2, (int64_t[]){M, C});
    double *q = malloc(sizeof(double) * (size_t)(C > 0 ? C : 1));
    if (out && q && (sm || !log_softmax)) {
      const int64_t gs = g->ndim > 0 ? g->strides[0] : 0;
      if (dt == NB_DTYPE_FLOAT32)
        ce_grad_rows_float(sm ? nb_data(sm) : NULL, t, wv, M, C, p, eps, nb__ptr(g, 0), gs, q,
                           nb_data(out));
      else
        ce_grad_rows_double(sm ? nb_data(sm) : NULL, t, wv, M, C, p, eps, nb__ptr(g, 0), gs, q,
                            nb_data(out));
      gi[0] = out;
    } else {
      nb_free(out);
      if (!q) nb__fail(NB_ERR_MEMORY, "cross_entropy backward: out of memory");
    }
    free(q);
    return gi[0] ? NB_OK : nb_last_status();
  }
  nb_tensor *q = nb_zeros(NB_DTYPE_FLOAT64, 2, (int64_t[]){M, C});
  if (!q) return nb_last_status();
  double *qv = nb_data(q);
  for (int64_t n = 0; n < M; n++) ce_q_row(qv + n * C, C, t[n], wv, eps, p->ignore_index);
  nb_tensor *qt = nbk_to(q, dt);
  nb_tensor *d = log_softmax
                     ? nb_sub(nb_mul(nb_softmax(x, 1), nbk_sum(qt, (int[]){1}, 1, true)), qt)
                     : nbk_neg(qt);
  nb_tensor *scale = p->reduction == NB_REDUCTION_NONE  ? nb_unsqueeze(g, 1)
                     : p->reduction == NB_REDUCTION_SUM ? g
                                                        : nb_mul_scalar(g, 1.0 / p->denom);
  gi[0] = nb_mul(d, scale);
  return gi[0] ? NB_OK : nb_last_status();
}

static nb_tensor *cross_entropy_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  return ce_forward(ctx, in, n, vp, true);
}
static nb_status cross_entropy_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  return ce_backward(ctx, g, gi, true);
}
NB_DEFINE_OP_P(cross_entropy, -1, ce_params, 0);

static nb_tensor *nll_loss_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  return ce_forward(ctx, in, n, vp, false);
}
static nb_status nll_loss_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  return ce_backward(ctx, g, gi, false);
}
NB_DEFINE_OP_P(nll_loss, -1, ce_params, 0);

/* Samples: weights, an ignored target, label smoothing (weight gets no grad). */
static void ce_sample_inputs(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(5, 3));
  s->inputs[s->ninputs++] =
      nb_keep(nb_from_data(NB_DTYPE_INT64, (int64_t[]){0, 2, -1, 1, 2}, NB_SHAPE(5)));
  s->inputs[s->ninputs++] =
      nb_keep(nb_from_data(NB_DTYPE_FLOAT64, (double[]){0.5, 2.0, 1.5}, NB_SHAPE(3)));
}
nb_status nb__sample_cross_entropy(nb_op_sample *s) {
  static ce_params p = {NB_REDUCTION_MEAN, -1, 0.2, 0};
  ce_sample_inputs(s);
  NB_SAMPLE_CALL(s, cross_entropy, &p);
  return NB_OK;
}
nb_status nb__sample_nll_loss(nb_op_sample *s) {
  static ce_params p = {NB_REDUCTION_NONE, -1, 0, 0};
  ce_sample_inputs(s);
  NB_SAMPLE_CALL(s, nll_loss, &p);
  return NB_OK;
}

/* Class-index losses of any rank: [C] / [], [N, C] / [N], [N, C, d...] / [N, d...]
 * are brought to [M, C] / [M] with differentiable views for the row. */
static nb_tensor *class_index_loss(const char *op, const nb_op_def *def, nb_tensor *x, nb_tensor *y,
                                   const nb_loss_opts *o) {
  nb_tensor *w = o->weight;
  bool shape_ok = x->ndim >= 1 && y->ndim == (x->ndim == 1 ? 0 : x->ndim - 1);
  for (int i = 0; shape_ok && i < y->ndim; i++)
    shape_ok = y->shape[i] == x->shape[i == 0 ? 0 : i + 1];
  if (!shape_ok)
    return nb__fail_null(NB_ERR_SHAPE,
                         "%s: input %s and target %s: expects [N, C, d...] and "
                         "[N, d...] (or [C] and [])",
                         op, nb__shp(x), nb__shp(y));
  ce_params p = {o->reduction, o->use_ignore_index ? o->ignore_index : NB_DEFAULT_IGNORE_INDEX,
                 o->label_smoothing, 0};
  tmps s = {0};
  int64_t C = x->shape[x->ndim == 1 ? 0 : 1];
  nb_tensor *x2 = x, *y2 = y;
  if (x->ndim == 1) {
    x2 = tmp(&s, nb_unsqueeze(x, 0));
    y2 = tmp(&s, nb_reshape(y, 1, (int64_t[]){1}));
  } else if (x->ndim > 2) {
    int perm[NB_MAX_DIMS];
    perm[0] = 0;
    for (int i = 2; i < x->ndim; i++) perm[i - 1] = i;
    perm[x->ndim - 1] = 1;
    x2 = tmp(&s, nb_reshape(tmp(&s, nb_permute(x, x->ndim, perm)), 2, (int64_t[]){-1, C}));
    y2 = tmp(&s, nb_reshape(y, 1, (int64_t[]){-1}));
  }
  nb_tensor *out = nb_apply(def, w ? 3 : 2, (nb_tensor *[]){x2, y2, w}, &p);
  if (out && o->reduction == NB_REDUCTION_NONE && x->ndim != 2) {
    nb_tensor *r = nb_reshape(out, y->ndim, y->shape);
    nb_free(out);
    out = r;
  }
  tmps_free(&s);
  return out;
}

/* Probability targets: -sum_c w_c t'_c log_softmax(x)_c with t' = (1 - eps) t + eps / C. */
static nb_tensor *cross_entropy_probs(nb_tensor *x, nb_tensor *y, const nb_loss_opts *o) {
  bool same = x->ndim == y->ndim;
  for (int i = 0; same && i < x->ndim; i++) same = x->shape[i] == y->shape[i];
  if (!same)
    return nb__fail_null(NB_ERR_SHAPE,
                         "cross_entropy: input %s and probability target %s must "
                         "have the same shape",
                         nb__shp(x), nb__shp(y));
  int cdim = x->ndim == 1 ? 0 : 1;
  int64_t C = x->shape[cdim];
  nb_tensor *w = o->weight;
  if (w && (w->ndim != 1 || w->shape[0] != C || !nb_dtype_is_floating(w->dtype)))
    return nb__fail_null(NB_ERR_SHAPE,
                         "cross_entropy: weight %s must be a floating [C] with C = "
                         "%lld",
                         nb__shp(w), (long long)C);
  tmps s = {0};
  nb_tensor *lp = tmp(&s, nb_log_softmax(x, cdim));
  nb_tensor *t = y;
  if (o->label_smoothing != 0)
    t = tmp(&s, nb_add_scalar(tmp(&s, nb_mul_scalar(y, 1 - o->label_smoothing)),
                              o->label_smoothing / (double)C));
  nb_tensor *prod = tmp(&s, nb_mul(lp, t));
  if (w) {
    int64_t ws[NB_MAX_DIMS];
    for (int i = 0; i < x->ndim - cdim; i++) ws[i] = i == 0 ? C : 1;
    prod = tmp(&s, nb_mul(prod, tmp(&s, nb_reshape(w, x->ndim - cdim, ws))));
  }
  nb_tensor *per = tmp(&s, nb_neg(tmp(&s, nb_sum(prod, (int[]){cdim}, 1, false))));
  nb_tensor *out = NULL;
  if (o->reduction == NB_REDUCTION_NONE)
    out = untmp(&s, per);
  else if (o->reduction == NB_REDUCTION_SUM)
    out = nb_sum(per, NB_ALL_DIMS, false);
  else if (per)
    out = nb_div_scalar(tmp(&s, nb_sum(per, NB_ALL_DIMS, false)),
                        (double)(nb_numel(x) / (C ? C : 1)));
  tmps_free(&s);
  return out;
}

nb_tensor *nb_cross_entropy(nb_tensor *logits, nb_tensor *target, const nb_loss_opts *opts) {
  NB_CHECK_NULL("cross_entropy", logits, target);
  const nb_loss_opts *o = opts ? opts : &default_opts;
  if (!check_reduction("cross_entropy", o->reduction, false)) return NULL;
  if (!(o->label_smoothing >= 0 && o->label_smoothing <= 1))
    return nb__fail_null(NB_ERR_ARG, "cross_entropy: label_smoothing %g is not in [0, 1]",
                         o->label_smoothing);
  if (!nb_dtype_is_floating(logits->dtype))
    return nb__fail_null(NB_ERR_DTYPE, "cross_entropy: logits must be floating, got %s",
                         nb_dtype_name(logits->dtype));
  if (nb_dtype_is_floating(target->dtype)) return cross_entropy_probs(logits, target, o);
  if (target->dtype != NB_DTYPE_INT64)
    return nb__fail_null(NB_ERR_DTYPE,
                         "cross_entropy: target must be int64 class indices or "
                         "floating probabilities, got %s",
                         nb_dtype_name(target->dtype));
  return class_index_loss("cross_entropy", &nb__op_cross_entropy, logits, target, o);
}

nb_tensor *nb_nll_loss(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts) {
  NB_CHECK_NULL("nll_loss", input, target);
  const nb_loss_opts *o = opts ? opts : &default_opts;
  if (!check_reduction("nll_loss", o->reduction, false)) return NULL;
  if (!nb_dtype_is_floating(input->dtype))
    return nb__fail_null(NB_ERR_DTYPE, "nll_loss: input must be floating, got %s",
                         nb_dtype_name(input->dtype));
  if (target->dtype != NB_DTYPE_INT64)
    return nb__fail_null(NB_ERR_DTYPE, "nll_loss: target must be int64 class indices, got %s",
                         nb_dtype_name(target->dtype));
  return class_index_loss("nll_loss", &nb__op_nll_loss, input, target, o);
}

/* ---- composites ---------------------------------------------------------------- */
nb_tensor *nb_mse_loss(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts) {
  NB_CHECK_NULL("mse_loss", input, target);
  if (opts && !check_reduction("mse_loss", opts->reduction, false)) return NULL;
  nb_tensor *d = nb_sub(input, target);
  nb_tensor *sq = nb_mul(d, d);
  nb_free(d);
  return reduce_take(sq, opts);
}

nb_tensor *nb_l1_loss(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts) {
  NB_CHECK_NULL("l1_loss", input, target);
  if (opts && !check_reduction("l1_loss", opts->reduction, false)) return NULL;
  nb_tensor *d = nb_sub(input, target);
  nb_tensor *a = nb_abs(d);
  nb_free(d);
  return reduce_take(a, opts);
}

/* -w (y max(log p, -100) + (1 - y) max(log(1 - p), -100)). */
nb_tensor *nb_binary_cross_entropy(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts) {
  NB_CHECK_NULL("binary_cross_entropy", input, target);
  const nb_loss_opts *o = opts ? opts : &default_opts;
  if (!check_pair("binary_cross_entropy", input, target, o, false)) return NULL;
  tmps s = {0};
  nb_tensor *lp = clamp_min(&s, tmp(&s, nb_log(input)), -100);
  nb_tensor *one_minus_p = tmp(&s, nb_add_scalar(tmp(&s, nb_neg(input)), 1));
  nb_tensor *l1p = clamp_min(&s, tmp(&s, nb_log(one_minus_p)), -100);
  nb_tensor *one_minus_y = tmp(&s, nb_add_scalar(tmp(&s, nb_neg(target)), 1));
  nb_tensor *pos = tmp(&s, nb_mul(target, tmp(&s, lp)));
  nb_tensor *neg = tmp(&s, nb_mul(one_minus_y, tmp(&s, l1p)));
  nb_tensor *l = nb_neg(tmp(&s, nb_add(pos, neg)));
  if (o->weight) {
    tmp(&s, l);
    l = nb_mul(l, o->weight);
  }
  tmps_free(&s);
  return reduce_take(l, o);
}

/* (1 - y) x + (1 + (pw - 1) y) softplus(-x), times w. */
nb_tensor *nb_binary_cross_entropy_with_logits(nb_tensor *input, nb_tensor *target,
                                               const nb_loss_opts *opts) {
  NB_CHECK_NULL("binary_cross_entropy_with_logits", input, target);
  const nb_loss_opts *o = opts ? opts : &default_opts;
  if (!check_pair("binary_cross_entropy_with_logits", input, target, o, false)) return NULL;
  tmps s = {0};
  nb_tensor *sp = tmp(&s, neg_log_sigmoid(&s, input));
  if (o->pos_weight) {
    nb_tensor *lw = tmp(
        &s, nb_add_scalar(tmp(&s, nb_mul(tmp(&s, nb_add_scalar(o->pos_weight, -1)), target)), 1));
    sp = tmp(&s, nb_mul(lw, sp));
  }
  nb_tensor *one_minus_y = tmp(&s, nb_add_scalar(tmp(&s, nb_neg(target)), 1));
  nb_tensor *l = nb_add(tmp(&s, nb_mul(one_minus_y, input)), sp);
  if (o->weight) {
    tmp(&s, l);
    l = nb_mul(l, o->weight);
  }
  tmps_free(&s);
  return reduce_take(l, o);
}

/* With d = |x - y| and m = min(d, k) = k - relu(k - d):
 * 0.5 m^2 / k + (d - m) is smooth_l1 (k = beta); k times that is huber (k = delta). */
static nb_tensor *smooth_l1_like(const char *op, nb_tensor *x, nb_tensor *y, double k, double outer,
                                 const nb_loss_opts *o) {
  if (!check_pair(op, x, y, o, false)) return NULL;
  if (!(k >= 0)) return nb__fail_null(NB_ERR_ARG, "%s: beta/delta %g must be >= 0", op, k);
  tmps s = {0};
  nb_tensor *d = tmp(&s, nb_abs(tmp(&s, nb_sub(x, y))));
  nb_tensor *l;
  if (k == 0) {
    l = untmp(&s, d);
  } else {
    nb_tensor *m = tmp(
        &s,
        nb_add_scalar(
            tmp(&s, nb_neg(tmp(&s, nb_relu(tmp(&s, nb_add_scalar(tmp(&s, nb_neg(d)), k)))))), k));
    nb_tensor *quad = tmp(&s, nb_mul_scalar(tmp(&s, nb_mul(m, m)), 0.5 / k));
    nb_tensor *lin = tmp(&s, nb_sub(d, m));
    l = tmp(&s, nb_add(quad, lin));
    l = outer == 1 ? untmp(&s, l) : nb_mul_scalar(l, outer);
  }
  tmps_free(&s);
  return reduce_take(l, o);
}

nb_tensor *nb_smooth_l1_loss(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts) {
  NB_CHECK_NULL("smooth_l1_loss", input, target);
  const nb_loss_opts *o = opts ? opts : &default_opts;
  double beta = o->beta != 0 ? o->beta : o->use_zero_beta ? 0 : 1;
  return smooth_l1_like("smooth_l1_loss", input, target, beta, 1, o);
}

nb_tensor *nb_huber_loss(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts) {
  NB_CHECK_NULL("huber_loss", input, target);
  const nb_loss_opts *o = opts ? opts : &default_opts;
  double delta = o->delta != 0 ? o->delta : 1;
  if (!(delta > 0)) return nb__fail_null(NB_ERR_ARG, "huber_loss: delta %g must be > 0", delta);
  return smooth_l1_like("huber_loss", input, target, delta, delta, o);
}

/* target (log target - input), 0 where target == 0 (xlogy); with log_target
 * exp(target) (target - input). */
nb_tensor *nb_kl_div(nb_tensor *input, nb_tensor *target, const nb_loss_opts *opts) {
  NB_CHECK_NULL("kl_div", input, target);
  const nb_loss_opts *o = opts ? opts : &default_opts;
  if (!check_pair("kl_div", input, target, o, true)) return NULL;
  tmps s = {0};
  nb_tensor *l;
  if (o->log_target) {
    l = nb_mul(tmp(&s, nb_exp(target)), tmp(&s, nb_sub(target, input)));
  } else {
    /* log(target + (target == 0)) is log target, and 0 where target is 0. */
    nb_tensor *z = tmp(&s, nbk_to(tmp(&s, nb_eq_scalar(target, 0)), target->dtype));
    nb_tensor *lt = tmp(&s, nb_log(tmp(&s, nb_add(target, z))));
    l = nb_mul(target, tmp(&s, nb_sub(lt, input)));
  }
  if (o->reduction == NB_REDUCTION_BATCHMEAN) {
    tmp(&s, l);
    int64_t n0 = input->ndim ? input->shape[0] : 1;
    l = nb_div_scalar(tmp(&s, nb_sum(l, NB_ALL_DIMS, false)), (double)(n0 ? n0 : 1));
    tmps_free(&s);
    return l;
  }
  tmps_free(&s);
  return reduce_take(l, o);
}

/* Target +-1 masks as constants of x's dtype. */
static nb_tensor *sign_mask(tmps *s, nb_tensor *y, double v, nb_dtype dt) {
  return tmp(s, nbk_to(tmp(s, nb_eq_scalar(y, v)), dt));
}

nb_tensor *nb_cosine_embedding_loss(nb_tensor *x1, nb_tensor *x2, nb_tensor *target,
                                    const nb_loss_opts *opts) {
  NB_CHECK_NULL("cosine_embedding_loss", x1, x2, target);
  const nb_loss_opts *o = opts ? opts : &default_opts;
  if (!check_pair("cosine_embedding_loss", x1, x2, o, false)) return NULL;
  if (x1->ndim < 1 || x1->ndim > 2 || target->ndim != x1->ndim - 1 ||
      (x1->ndim == 2 && target->shape[0] != x1->shape[0]))
    return nb__fail_null(NB_ERR_SHAPE,
                         "cosine_embedding_loss: inputs %s and %s and target %s: "
                         "expects [N, D], [N, D], [N] (or [D], [D], [])",
                         nb__shp(x1), nb__shp(x2), nb__shp(target));
  int d = x1->ndim - 1;
  tmps s = {0};
  nb_tensor *dot = tmp(&s, nb_sum(tmp(&s, nb_mul(x1, x2)), &d, 1, false));
  nb_tensor *m1 =
      tmp(&s, nb_add_scalar(tmp(&s, nb_sum(tmp(&s, nb_mul(x1, x1)), &d, 1, false)), 1e-12));
  nb_tensor *m2 =
      tmp(&s, nb_add_scalar(tmp(&s, nb_sum(tmp(&s, nb_mul(x2, x2)), &d, 1, false)), 1e-12));
  nb_tensor *cosv = tmp(&s, nb_mul(dot, tmp(&s, nb_pow_scalar(tmp(&s, nb_mul(m1, m2)), -0.5))));
  nb_tensor *pos = tmp(&s, nb_add_scalar(tmp(&s, nb_neg(cosv)), 1));
  nb_tensor *neg = tmp(&s, nb_relu(tmp(&s, nb_add_scalar(cosv, -o->margin))));
  nb_tensor *l = nb_add(tmp(&s, nb_mul(pos, sign_mask(&s, target, 1, x1->dtype))),
                        tmp(&s, nb_mul(neg, sign_mask(&s, target, -1, x1->dtype))));
  tmps_free(&s);
  return reduce_take(l, o);
}

nb_tensor *nb_margin_ranking_loss(nb_tensor *x1, nb_tensor *x2, nb_tensor *target,
                                  const nb_loss_opts *opts) {
  NB_CHECK_NULL("margin_ranking_loss", x1, x2, target);
  const nb_loss_opts *o = opts ? opts : &default_opts;
  if (!check_pair("margin_ranking_loss", x1, x2, o, false) ||
      !check_pair("margin_ranking_loss", x1, target, o, false))
    return NULL;
  tmps s = {0};
  nb_tensor *d = tmp(&s, nb_mul(tmp(&s, nb_neg(target)), tmp(&s, nb_sub(x1, x2))));
  nb_tensor *l = nb_relu(tmp(&s, nb_add_scalar(d, o->margin)));
  tmps_free(&s);
  return reduce_take(l, o);
}
