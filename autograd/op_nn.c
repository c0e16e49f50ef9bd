/* autograd/op_nn.c - differentiable network primitives.
 *
 * Owns, side by side per row: forward (tensor/pool.h kernel), backward,
 * gradcheck sample and public wrapper for
 *  - max_pool2d, whose backward is the row max_pool2d_backward (add the
 *    gradient at the saved argmax positions), whose own backward gathers at
 *    those positions: both are linear in the gradient, so every order works;
 *  - the linear resamplers avg_pool2d, adaptive_avg_pool2d,
 *    upsample_nearest2d and upsample_bilinear2d: each is a pair of rows, the op
 *    and its adjoint (NAME_backward), each one's backward being the other;
 * and the composites built from differentiable ops (dropout, embedding,
 * layer_norm, batch_norm with in-place running-stat updates, group_norm),
 * which inherit their gradients.
 */
#include "autograd/op_impl.h"

#include <string.h>

/* ---- helpers --------------------------------------------------------------------- */

/* Temporaries of a composite, freed together (nb_free ignores NULL). */
typedef struct tmps {
  nb_tensor *t[32];
  int n;
} tmps;
static nb_tensor *tmp(tmps *s, nb_tensor *x) {
  if (s->n < (int)(sizeof s->t / sizeof s->t[0])) s->t[s->n++] = x;
  return x;
}
static void tmps_free(tmps *s) {
  for (int i = s->n - 1; i >= 0; i--) nb_free(s->t[i]);
  s->n = 0;
}

static bool same_shape(const nb_tensor *t, int ndim, const int64_t *shape) {
  if (t->ndim != ndim) return false;
  for (int d = 0; d < ndim; d++)
    if (t->shape[d] != shape[d]) return false;
  return true;
}

static bool check_floating(const char *op, const char *what, const nb_tensor *t) {
  if (nb_dtype_is_floating(t->dtype)) return true;
  nb__fail(NB_ERR_DTYPE, "%s: %s must be floating, got %s", op, what, nb_dtype_name(t->dtype));
  return false;
}

/* A gradcheck input holding distinct values (no ties for max): a shuffled
 * 0.25-spaced ramp, so finite differences never flip an argmax. */
static nb_tensor *sample_distinct(nb_op_sample *s, int ndim, const int64_t *shape) {
  nb_tensor *x = nb__sample_input(s, true, ndim, shape);
  if (!x) return NULL;
  nb_scope_begin();
  nb_tensor *perm = nb_randperm(nb_numel(x), NULL);
  nb_copy_(x, nbk_reshape(nbk_mul_scalar(nbk_to(perm, NB_DTYPE_FLOAT64), 0.25), ndim, shape));
  nb_scope_end();
  return x;
}

/* ---- max_pool2d: backward adds the gradient at the argmax ----------------------------- */

typedef struct max_pool_params {
  nb_pool2d_opts opts;
  int64_t in_hw[2];
  nb_tensor *indices; /* written by forward: the caller's new reference */
} max_pool_params;

typedef struct max_back_params {
  int64_t in_hw[2];
} max_back_params;

static nb_tensor *max_pool2d_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  max_pool_params *p = vp;
  nb_tensor *y = nbk_max_pool2d(in[0], &p->opts, &p->indices);
  if (!y) return NULL;
  p->in_hw[0] = in[0]->shape[in[0]->ndim - 2];
  p->in_hw[1] = in[0]->shape[in[0]->ndim - 1];
  nb_ctx_save(ctx, p->indices);
  return y;
}
static nb_status max_pool2d_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const max_pool_params *p = nb_ctx_params(ctx);
  max_back_params bp = {{p->in_hw[0], p->in_hw[1]}};
  gi[0] = nb_apply(&nb__op_max_pool2d_backward, 2, (nb_tensor *[]){g, nb_ctx_saved(ctx, 0)}, &bp);
  return gi[0] ? NB_OK : nb_last_status();
}
NB_DEFINE_OP_P(max_pool2d, 1, max_pool_params, 0);

static max_pool_params max_pool_sample = {
    .opts = {.kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 1}, .dilation = {1, 2}}};
nb_status nb__sample_max_pool2d(nb_op_sample *s) {
  sample_distinct(s, NB_SHAPE(2, 2, 5, 4));
  NB_SAMPLE_CALL(s, max_pool2d, &max_pool_sample);
  return NB_OK;
}

nb_tensor *nb_max_pool2d(nb_tensor *x, const nb_pool2d_opts *opts, nb_tensor **indices) {
  if (indices) *indices = NULL;
  NB_CHECK_NULL("max_pool2d", x);
  if (!opts) return nb__fail_null(NB_ERR_ARG, "max_pool2d: options are required (kernel size)");
  max_pool_params p = {.opts = *opts};
  nb_tensor *y = nb_apply(&nb__op_max_pool2d, 1, (nb_tensor *[]){x}, &p);
  if (y && indices)
    *indices = p.indices;
  else
    nb_free(p.indices);
  return y;
}

/* grad [..., Ho, Wo] added at indices into [..., H, W]; the backward gathers
 * the incoming [..., H, W] gradient at the same indices. */
static nb_tensor *max_pool2d_backward_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  max_back_params *p = vp;
  nb_tensor *y = nbk_max_pool2d_backward(in[0], in[1], p->in_hw[0], p->in_hw[1]);
  if (y) nb_ctx_save(ctx, in[1]);
  return y;
}
static nb_status max_pool2d_backward_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  if (!nb_ctx_needs_grad(ctx, 0)) return NB_OK;
  nb_tensor *idx = nb_ctx_saved(ctx, 0);
  int nd = nb_ctx_input_ndim(ctx, 0);
  const int64_t *shape = nb_ctx_input_shape(ctx, 0);
  int64_t gflat[4], iflat[4];
  memcpy(gflat, g->shape, sizeof(int64_t) * (size_t)(nd - 2));
  memcpy(iflat, shape, sizeof(int64_t) * (size_t)(nd - 2));
  gflat[nd - 2] = g->shape[nd - 2] * g->shape[nd - 1];
  iflat[nd - 2] = shape[nd - 2] * shape[nd - 1];
  nb_tensor *picked =
      nb_gather(nb_reshape(g, nd - 1, gflat), nd - 2, nbk_reshape(idx, nd - 1, iflat));
  gi[0] = nb_reshape(picked, nd, shape);
  return gi[0] ? NB_OK : nb_last_status();
}
NB_DEFINE_OP_P(max_pool2d_backward, 2, max_back_params, 0);

nb_status nb__sample_max_pool2d_backward(nb_op_sample *s) {
  static max_back_params p = {{5, 4}};
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(2, 2, 5, 4), NULL);
  nb_tensor *idx = NULL;
  nb_tensor *y = nbk_max_pool2d(x, &max_pool_sample.opts, &idx);
  nb_free(x);
  if (!y) return nb_last_status();
  nb__sample_input(s, true, y->ndim, y->shape);
  s->inputs[s->ninputs++] = nb_keep(idx);
  nb_free(y);
  NB_SAMPLE_CALL(s, max_pool2d_backward, &p);
  return NB_OK;
}

/* ---- linear resamplers: an op and its adjoint, each the other's gradient ---------------- */

typedef enum lin_kind { LIN_AVG, LIN_ADAPTIVE, LIN_NEAREST, LIN_BILINEAR } lin_kind;

typedef struct lin_params {
  nb_pool2d_opts pool;   /* LIN_AVG */
  int64_t out_hw[2];     /* LIN_ADAPTIVE */
  nb_interp_opts interp; /* LIN_NEAREST / LIN_BILINEAR */
  int64_t in_hw[2];      /* the op's input plane size (written by the op's forward) */
} lin_params;

/* The op (adjoint false: t is the input) or its adjoint (t is the op's output
 * gradient, the result has the op's input plane size). */
static nb_tensor *lin_kernel(lin_kind kind, bool adjoint, nb_tensor *t, lin_params *p) {
  if (!adjoint && t->ndim >= 2) {
    p->in_hw[0] = t->shape[t->ndim - 2];
    p->in_hw[1] = t->shape[t->ndim - 1];
  }
  const int64_t h = p->in_hw[0], w = p->in_hw[1];
  switch (kind) {
  case LIN_AVG:
    return adjoint ? nbk_avg_pool2d_backward(t, h, w, &p->pool) : nbk_avg_pool2d(t, &p->pool);
  case LIN_ADAPTIVE:
    return adjoint ? nbk_adaptive_avg_pool2d_backward(t, h, w)
                   : nbk_adaptive_avg_pool2d(t, p->out_hw[0], p->out_hw[1]);
  case LIN_NEAREST:
  case LIN_BILINEAR:
    return adjoint ? nbk_interpolate_backward(t, h, w, &p->interp) : nbk_interpolate(t, &p->interp);
  }
  return nb__fail_null(NB_ERR_ARG, "resample: bad kind %d", (int)kind);
}

/* The gradient of one of the pair is the other applied to g. */
static nb_status lin_grad(const nb_op_def *other, nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  lin_params p = *(const lin_params *)nb_ctx_params(ctx);
  gi[0] = nb_apply(other, 1, (nb_tensor *[]){g}, &p);
  return gi[0] ? NB_OK : nb_last_status();
}

#define LINEAR_ROWS(NAME, KIND)                                                                    \
  static nb_tensor *NAME##_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {           \
    return lin_kernel(KIND, false, in[0], vp);                                                     \
  }                                                                                                \
  static nb_status NAME##_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {                    \
    return lin_grad(&nb__op_##NAME##_backward, ctx, g, gi);                                        \
  }                                                                                                \
  NB_DEFINE_OP_P(NAME, 1, lin_params, 0);                                                          \
  static nb_tensor *NAME##_backward_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {  \
    return lin_kernel(KIND, true, in[0], vp);                                                      \
  }                                                                                                \
  static nb_status NAME##_backward_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {           \
    return lin_grad(&nb__op_##NAME, ctx, g, gi);                                                   \
  }                                                                                                \
  NB_DEFINE_OP_P(NAME##_backward, 1, lin_params, 0);

LINEAR_ROWS(avg_pool2d, LIN_AVG)
LINEAR_ROWS(adaptive_avg_pool2d, LIN_ADAPTIVE)
LINEAR_ROWS(upsample_nearest2d, LIN_NEAREST)
LINEAR_ROWS(upsample_bilinear2d, LIN_BILINEAR)

/* Samples: the op on a [2, 2, in] input, and its adjoint on a gradient of the
 * op's output shape (in_hw filled in by running the op once). */
static nb_status lin_sample(nb_op_sample *s, const nb_op_def *op, const nb_op_def *adjoint,
                            lin_params *p, int64_t in_h, int64_t in_w) {
  static nb_sample_call call;
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(2, 2, in_h, in_w));
  nb_tensor *y = x ? nb_apply(op, 1, (nb_tensor *[]){x}, p) : NULL;
  nb_free(x);
  if (!y) return nb_last_status();
  if (adjoint)
    nb__sample_input(s, true, y->ndim, y->shape);
  else
    nb__sample_input(s, true, NB_SHAPE(2, 2, in_h, in_w));
  nb_free(y);
  call = (nb_sample_call){adjoint ? adjoint : op, p};
  s->fn = nb__sample_apply;
  s->user = &call;
  return NB_OK;
}

static lin_params avg_sample = {
    .pool = {.kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 1}, .ceil_mode = true}};
static lin_params avg_sample_excl = {
    .pool = {.kernel = {2, 3}, .padding = {1, 1}, .ceil_mode = true, .exclude_pad = true}};
static lin_params adaptive_sample = {.out_hw = {3, 2}};
static lin_params nearest_sample = {.interp = {.mode = NB_INTERP_NEAREST, .size = {7, 3}}};
static lin_params bilinear_sample = {.interp = {.mode = NB_INTERP_BILINEAR, .size = {6, 7}}};
static lin_params bilinear_sample_ac = {
    .interp = {.mode = NB_INTERP_BILINEAR, .scale_factor = {1.5, 0.7}, .align_corners = true}};

nb_status nb__sample_avg_pool2d(nb_op_sample *s) {
  return lin_sample(s, &nb__op_avg_pool2d, NULL, &avg_sample, 5, 4);
}
nb_status nb__sample_avg_pool2d_backward(nb_op_sample *s) {
  return lin_sample(s, &nb__op_avg_pool2d, &nb__op_avg_pool2d_backward, &avg_sample_excl, 4, 5);
}
nb_status nb__sample_adaptive_avg_pool2d(nb_op_sample *s) {
  return lin_sample(s, &nb__op_adaptive_avg_pool2d, NULL, &adaptive_sample, 5, 5);
}
nb_status nb__sample_adaptive_avg_pool2d_backward(nb_op_sample *s) {
  return lin_sample(s, &nb__op_adaptive_avg_pool2d, &nb__op_adaptive_avg_pool2d_backward,
                    &adaptive_sample, 5, 5);
}
nb_status nb__sample_upsample_nearest2d(nb_op_sample *s) {
  return lin_sample(s, &nb__op_upsample_nearest2d, NULL, &nearest_sample, 3, 4);
}
nb_status nb__sample_upsample_nearest2d_backward(nb_op_sample *s) {
  return lin_sample(s, &nb__op_upsample_nearest2d, &nb__op_upsample_nearest2d_backward,
                    &nearest_sample, 3, 4);
}
nb_status nb__sample_upsample_bilinear2d(nb_op_sample *s) {
  return lin_sample(s, &nb__op_upsample_bilinear2d, NULL, &bilinear_sample, 3, 4);
}
nb_status nb__sample_upsample_bilinear2d_backward(nb_op_sample *s) {
  return lin_sample(s, &nb__op_upsample_bilinear2d, &nb__op_upsample_bilinear2d_backward,
                    &bilinear_sample_ac, 3, 4);
}

nb_tensor *nb_avg_pool2d(nb_tensor *x, const nb_pool2d_opts *opts) {
  NB_CHECK_NULL("avg_pool2d", x);
  if (!opts) return nb__fail_null(NB_ERR_ARG, "avg_pool2d: options are required (kernel size)");
  lin_params p = {.pool = *opts};
  return nb_apply(&nb__op_avg_pool2d, 1, (nb_tensor *[]){x}, &p);
}

nb_tensor *nb_adaptive_avg_pool2d(nb_tensor *x, int64_t out_h, int64_t out_w) {
  lin_params p = {.out_hw = {out_h, out_w}};
  return nb_apply(&nb__op_adaptive_avg_pool2d, 1, (nb_tensor *[]){x}, &p);
}

nb_tensor *nb_interpolate(nb_tensor *x, const nb_interp_opts *opts) {
  NB_CHECK_NULL("interpolate", x);
  if (!opts)
    return nb__fail_null(NB_ERR_ARG, "interpolate: options are required (size or scale_factor)");
  lin_params p = {.interp = *opts};
  const nb_op_def *def =
      opts->mode == NB_INTERP_NEAREST ? &nb__op_upsample_nearest2d : &nb__op_upsample_bilinear2d;
  return nb_apply(def, 1, (nb_tensor *[]){x}, &p);
}

/* ---- dropout ------------------------------------------------------------------------------ */

nb_tensor *nb_dropout(nb_tensor *x, double p, bool training, nb_generator *g) {
  NB_CHECK_NULL("dropout", x);
  if (!(p >= 0 && p <= 1))
    return nb__fail_null(NB_ERR_ARG, "dropout: probability p = %g is not in [0, 1]", p);
  if (!check_floating("dropout", "input", x)) return NULL;
  if (!training || p == 0) return nb_to(x, x->dtype); /* an identity view */
  /* The scaled mask is a constant: nb_mul's gradient multiplies by it. */
  nb_tensor *mask = p == 1 ? nb_zeros_like(x, NB_DTYPE_COUNT)
                           : nb_bernoulli(x->dtype, x->ndim, x->shape, 1 - p, g);
  if (mask && p < 1 && nb_mul_scalar_(mask, 1.0 / (1.0 - p)) != NB_OK) {
    nb_free(mask);
    return NULL;
  }
  nb_tensor *y = mask ? nb_mul(x, mask) : NULL;
  nb_free(mask);
  return y;
}

/* ---- embedding ---------------------------------------------------------------------------- */

nb_tensor *nb_embedding(nb_tensor *weight, nb_tensor *indices, const nb_embedding_opts *opts) {
  const char *op = "embedding";
  NB_CHECK_NULL(op, weight, indices);
  if (weight->ndim != 2)
    return nb__fail_null(NB_ERR_SHAPE, "%s: weight %s must be 2-D [num_embeddings, dim]", op,
                         nb__shp(weight));
  if (indices->dtype != NB_DTYPE_INT64)
    return nb__fail_null(NB_ERR_DTYPE, "%s: indices must be int64, got %s", op,
                         nb_dtype_name(indices->dtype));
  if (indices->ndim >= NB_MAX_DIMS)
    return nb__fail_null(NB_ERR_SHAPE, "%s: indices %s have too many dims (at most %d)", op,
                         nb__shp(indices), NB_MAX_DIMS - 1);
  int64_t V = weight->shape[0], D = weight->shape[1];
  bool pad = opts && opts->use_padding_idx;
  int64_t pi = pad ? opts->padding_idx : 0;
  if (pad && (pi < -V || pi >= V))
    return nb__fail_null(NB_ERR_INDEX, "%s: padding_idx %lld is out of range for %lld embeddings",
                         op, (long long)pi, (long long)V);
  if (pi < 0) pi += V;
  tmps s = {0};
  nb_tensor *flat = tmp(&s, nbk_reshape(indices, 1, (int64_t[]){indices->numel}));
  nb_tensor *fc = flat ? tmp(&s, nbk_contiguous(flat)) : NULL;
  if (!fc) {
    tmps_free(&s);
    return NULL;
  }
  const int64_t *iv = nb_data(fc);
  for (int64_t k = 0; k < fc->numel; k++) {
    if (iv[k] < 0 || iv[k] >= V) {
      tmps_free(&s);
      return nb__fail_null(NB_ERR_INDEX,
                           "%s: index %lld (at flat position %lld) is out of range "
                           "for %lld embeddings",
                           op, (long long)iv[k], (long long)k, (long long)V);
    }
  }
  nb_tensor *rows = tmp(&s, nb_index_select(weight, 0, fc));
  if (pad) { /* padding rows: the same values, cut from the graph */
    nb_tensor *mask = tmp(&s, nbk_unsqueeze(tmp(&s, nb_eq_scalar(fc, (double)pi)), 1));
    rows = tmp(&s, nb_where(mask, tmp(&s, nb_detach(rows)), rows));
  }
  int64_t shape[NB_MAX_DIMS];
  memcpy(shape, indices->shape, sizeof(int64_t) * (size_t)indices->ndim);
  shape[indices->ndim] = D;
  nb_tensor *out = nb_reshape(rows, indices->ndim + 1, shape);
  tmps_free(&s);
  return out;
}

/* ---- normalization -------------------------------------------------------------------------- */

/* (x - mean) / sqrt(var + eps) over dims (biased variance), differentiable. */
static nb_tensor *normalize(tmps *s, nb_tensor *x, const int *dims, int ndims, double eps) {
  nb_tensor *mean = tmp(s, nb_mean(x, dims, ndims, true));
  nb_tensor *var = tmp(s, nb_var(x, dims, ndims, 0, true));
  nb_tensor *rstd = tmp(s, nb_rsqrt(tmp(s, nb_add_scalar(var, eps))));
  return nb_mul(tmp(s, nb_sub(x, mean)), rstd);
}

/* y * weight + bias for optional weight / bias viewed as `shape`. Takes y. */
static nb_tensor *affine(tmps *s, nb_tensor *y, nb_tensor *w, nb_tensor *b, int ndim,
                         const int64_t *shape) {
  if (w) y = nb_mul(tmp(s, y), tmp(s, nb_reshape(w, ndim, shape)));
  if (b) y = nb_add(tmp(s, y), tmp(s, nb_reshape(b, ndim, shape)));
  return y;
}

static bool check_param(const char *op, const char *what, const nb_tensor *t, int ndim,
                        const int64_t *shape) {
  if (!t) return true;
  if (!check_floating(op, what, t)) return false;
  if (same_shape(t, ndim, shape)) return true;
  char buf[160];
  nb__fail(NB_ERR_SHAPE, "%s: %s %s must have shape %s", op, what, nb__shp(t),
           nb__dims_str(ndim, shape, buf, sizeof buf));
  return false;
}

nb_tensor *nb_layer_norm(nb_tensor *x, int nnorm, const int64_t *normalized_shape,
                         nb_tensor *weight, nb_tensor *bias, double eps) {
  const char *op = "layer_norm";
  NB_CHECK_NULL(op, x);
  if (!check_floating(op, "input", x)) return NULL;
  if (nnorm < 1 || nnorm > x->ndim || !normalized_shape)
    return nb__fail_null(NB_ERR_SHAPE, "%s: normalized_shape of %d dims does not fit input %s", op,
                         nnorm, nb__shp(x));
  int lead = x->ndim - nnorm;
  if (memcmp(x->shape + lead, normalized_shape, sizeof(int64_t) * (size_t)nnorm) != 0) {
    char buf[160];
    return nb__fail_null(NB_ERR_SHAPE, "%s: input %s does not end with normalized_shape %s", op,
                         nb__shp(x), nb__dims_str(nnorm, normalized_shape, buf, sizeof buf));
  }
  if (!check_param(op, "weight", weight, nnorm, normalized_shape) ||
      !check_param(op, "bias", bias, nnorm, normalized_shape))
    return NULL;
  int dims[NB_MAX_DIMS];
  for (int i = 0; i < nnorm; i++) dims[i] = lead + i;
  tmps s = {0};
  nb_tensor *y = normalize(&s, x, dims, nnorm, eps != 0 ? eps : 1e-5);
  y = affine(&s, y, weight, bias, nnorm, normalized_shape);
  tmps_free(&s);
  return y;
}

nb_tensor *nb_group_norm(nb_tensor *x, int64_t groups, nb_tensor *weight, nb_tensor *bias,
                         double eps) {
  const char *op = "group_norm";
  NB_CHECK_NULL(op, x);
  if (!check_floating(op, "input", x)) return NULL;
  if (x->ndim < 2)
    return nb__fail_null(NB_ERR_SHAPE, "%s: input %s must be [N, C, ...]", op, nb__shp(x));
  int64_t N = x->shape[0], C = x->shape[1];
  if (groups < 1 || C % groups != 0)
    return nb__fail_null(NB_ERR_ARG, "%s: %lld groups do not divide the %lld channels of %s", op,
                         (long long)groups, (long long)C, nb__shp(x));
  if (!check_param(op, "weight", weight, 1, &C) || !check_param(op, "bias", bias, 1, &C))
    return NULL;
  int64_t inner = N > 0 && C > 0 ? x->numel / (N * groups) : 0;
  int64_t cshape[NB_MAX_DIMS];
  for (int d = 0; d < x->ndim; d++) cshape[d] = d == 1 ? C : 1;
  tmps s = {0};
  nb_tensor *xr = tmp(&s, nb_reshape(x, 3, (int64_t[]){N, groups, inner}));
  nb_tensor *y = tmp(&s, normalize(&s, xr, (int[]){2}, 1, eps != 0 ? eps : 1e-5));
  y = nb_reshape(y, x->ndim, x->shape);
  y = affine(&s, y, weight, bias, x->ndim, cshape);
  tmps_free(&s);
  return y;
}

/* running = (1 - m) running + m * scale * batch (in place, no graph). */
static nb_status update_running(nb_tensor *running, nb_tensor *batch, double m, double scale) {
  int64_t C = running->shape[0];
  nb_tensor *flat = nbk_reshape(batch, 1, &C);
  nb_status st = flat ? nb_mul_scalar_(running, 1 - m) : nb_last_status();
  if (st == NB_OK) st = nb_axpy_(running, m * scale, flat);
  nb_free(flat);
  return st;
}

nb_tensor *nb_batch_norm(nb_tensor *x, nb_tensor *running_mean, nb_tensor *running_var,
                         nb_tensor *weight, nb_tensor *bias, const nb_batch_norm_opts *opts) {
  const char *op = "batch_norm";
  NB_CHECK_NULL(op, x);
  nb_batch_norm_opts o = opts ? *opts : (nb_batch_norm_opts){0};
  double eps = o.eps != 0 ? o.eps : 1e-5, m = o.momentum != 0 ? o.momentum : 0.1;
  if (!check_floating(op, "input", x)) return NULL;
  if (x->ndim < 2)
    return nb__fail_null(NB_ERR_SHAPE, "%s: input %s must be [N, C, ...]", op, nb__shp(x));
  int64_t C = x->shape[1];
  if (!running_mean != !running_var)
    return nb__fail_null(NB_ERR_ARG, "%s: give both running_mean and running_var or neither", op);
  if (!check_param(op, "running_mean", running_mean, 1, &C) ||
      !check_param(op, "running_var", running_var, 1, &C) ||
      !check_param(op, "weight", weight, 1, &C) || !check_param(op, "bias", bias, 1, &C))
    return NULL;
  if (!o.training && !running_mean)
    return nb__fail_null(NB_ERR_ARG, "%s: running_mean and running_var are required in eval mode",
                         op);
  int64_t per_channel = C ? x->numel / C : 0;
  if (o.training && per_channel <= 1)
    return nb__fail_null(NB_ERR_SHAPE,
                         "%s: expected more than 1 value per channel when training, got input %s",
                         op, nb__shp(x));
  int64_t cshape[NB_MAX_DIMS];
  int dims[NB_MAX_DIMS], nd = 0;
  for (int d = 0; d < x->ndim; d++) {
    cshape[d] = d == 1 ? C : 1;
    if (d != 1) dims[nd++] = d;
  }
  tmps s = {0};
  nb_tensor *mean, *var;
  if (o.training) {
    mean = tmp(&s, nb_mean(x, dims, nd, true));
    var = tmp(&s, nb_var(x, dims, nd, 0, true));
    if (running_mean && mean && var) {
      double unbias = (double)per_channel / (double)(per_channel - 1);
      if (update_running(running_mean, mean, m, 1) != NB_OK ||
          update_running(running_var, var, m, unbias) != NB_OK) {
        tmps_free(&s);
        return NULL;
      }
    }
  } else {
    mean = tmp(&s, nb_reshape(tmp(&s, nb_detach(running_mean)), x->ndim, cshape));
    var = tmp(&s, nb_reshape(tmp(&s, nb_detach(running_var)), x->ndim, cshape));
  }
  /* As PyTorch: y = x * scale + shift, scale = weight / sqrt(var + eps),
   * shift = bias - mean * scale (per channel, so only two full-size ops). */
  nb_tensor *scale = tmp(&s, nb_rsqrt(tmp(&s, nb_add_scalar(var, eps))));
  if (weight) scale = tmp(&s, nb_mul(scale, tmp(&s, nb_reshape(weight, x->ndim, cshape))));
  nb_tensor *shift = tmp(&s, nb_neg(tmp(&s, nb_mul(mean, scale))));
  if (bias) shift = tmp(&s, nb_add(shift, tmp(&s, nb_reshape(bias, x->ndim, cshape))));
  nb_tensor *y = nb_add(tmp(&s, nb_mul(x, scale)), shift);
  tmps_free(&s);
  return y;
}
