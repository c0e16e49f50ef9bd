/* autograd/op_reduce.c - differentiable reductions and softmax.
 *
 * Owns, side by side per op: forward (nbk_* kernel), backward (differentiable
 * nb_* ops), gradcheck sample and public wrapper. Reduction gradients are
 * broadcast back over the reduced dims by expand_back.
 */
#include "autograd/op_impl.h"

#include <math.h>
#include <string.h>

typedef struct reduce_params {
  int dims[NB_MAX_DIMS];
  int ndims; /* 0 = all dims */
  bool keepdim;
} reduce_params;

static reduce_params make_reduce(const int *dims, int ndims, bool keepdim) {
  reduce_params p = {.ndims = ndims > NB_MAX_DIMS ? NB_MAX_DIMS + 1 : ndims, .keepdim = keepdim};
  for (int i = 0; i < ndims && i < NB_MAX_DIMS && dims; i++) p.dims[i] = dims[i];
  return p;
}

static bool is_reduced(const reduce_params *p, int d, int nd) {
  bool reduced = p->ndims == 0;
  for (int i = 0; i < p->ndims && !reduced; i++) reduced = (p->dims[i] + nd) % nd == d;
  return reduced;
}

/* Bring g (the reduced shape) back to the input's shape: reinsert reduced
 * dims as size 1, then expand. Differentiable. */
static nb_tensor *expand_back(nb_ctx *ctx, nb_tensor *g, const reduce_params *p) {
  int nd = nb_ctx_input_ndim(ctx, 0);
  const int64_t *shape = nb_ctx_input_shape(ctx, 0);
  int64_t kept[NB_MAX_DIMS];
  memcpy(kept, shape, sizeof(int64_t) * (size_t)nd);
  for (int d = 0; d < nd; d++)
    if (is_reduced(p, d, nd)) kept[d] = 1;
  nb_tensor *r = nb_reshape(g, nd, kept);
  return nb_expand(r, nd, shape);
}

static int64_t reduced_count(nb_ctx *ctx, const reduce_params *p) {
  int nd = nb_ctx_input_ndim(ctx, 0);
  const int64_t *shape = nb_ctx_input_shape(ctx, 0);
  int64_t count = 1;
  for (int d = 0; d < nd; d++)
    if (is_reduced(p, d, nd)) count *= shape[d];
  return count;
}

/* ---- sum ----------------------------------------------------------------- */
static nb_tensor *sum_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  reduce_params *p = vp;
  return nbk_sum(in[0], p->ndims ? p->dims : NULL, p->ndims, p->keepdim);
}
static nb_status sum_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = expand_back(ctx, g, nb_ctx_params(ctx));
  return NB_OK;
}
NB_DEFINE_OP_P(sum, 1, reduce_params, 0);
nb_status nb__sample_sum(nb_op_sample *s) {
  static reduce_params p = {.dims = {0, -1}, .ndims = 2, .keepdim = false};
  nb__sample_input(s, true, NB_SHAPE(2, 3, 4));
  NB_SAMPLE_CALL(s, sum, &p);
  return NB_OK;
}
nb_tensor *nb_sum(nb_tensor *x, const int *dims, int ndims, bool keepdim) {
  reduce_params p = make_reduce(dims, ndims, keepdim);
  return nb_apply(&nb__op_sum, 1, (nb_tensor *[]){x}, &p);
}

/* ---- mean ---------------------------------------------------------------- */
static nb_tensor *mean_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  reduce_params *p = vp;
  return nbk_mean(in[0], p->ndims ? p->dims : NULL, p->ndims, p->keepdim);
}
static nb_status mean_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const reduce_params *p = nb_ctx_params(ctx);
  int64_t count = reduced_count(ctx, p);
  gi[0] = nb_mul_scalar(expand_back(ctx, g, p), count ? 1.0 / (double)count : 0.0);
  return NB_OK;
}
NB_DEFINE_OP_P(mean, 1, reduce_params, 0);
nb_status nb__sample_mean(nb_op_sample *s) {
  static reduce_params p = {.dims = {1}, .ndims = 1, .keepdim = true};
  nb__sample_input(s, true, NB_SHAPE(3, 4));
  NB_SAMPLE_CALL(s, mean, &p);
  return NB_OK;
}
nb_tensor *nb_mean(nb_tensor *x, const int *dims, int ndims, bool keepdim) {
  reduce_params p = make_reduce(dims, ndims, keepdim);
  return nb_apply(&nb__op_mean, 1, (nb_tensor *[]){x}, &p);
}

/* ---- log_softmax: dx = g - softmax * sum(g) ------------------------------------ */
typedef struct dim_params {
  int dim;
} dim_params;

static nb_tensor *log_softmax_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  nb_tensor *y = nbk_log_softmax(in[0], ((dim_params *)vp)->dim);
  nb_ctx_save(ctx, y);
  return y;
}
static nb_status log_softmax_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  int dim = ((dim_params *)nb_ctx_params(ctx))->dim;
  nb_tensor *y = nb_ctx_saved(ctx, 0);
  nb_tensor *gsum = nb_sum(g, &dim, 1, true);
  gi[0] = nb_sub(g, nb_mul(nb_exp(y), gsum));
  return NB_OK;
}
NB_DEFINE_OP_P(log_softmax, 1, dim_params, 0);
nb_status nb__sample_log_softmax(nb_op_sample *s) {
  static dim_params p = {-1};
  nb__sample_input(s, true, NB_SHAPE(3, 5));
  NB_SAMPLE_CALL(s, log_softmax, &p);
  return NB_OK;
}
nb_tensor *nb_log_softmax(nb_tensor *x, int dim) {
  return nb_apply(&nb__op_log_softmax, 1, (nb_tensor *[]){x}, &(dim_params){dim});
}

/* ---- softmax: dx = y * (g - sum(g * y)) ----------------------------------------- */
static nb_tensor *softmax_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  nb_tensor *y = nbk_softmax(in[0], ((dim_params *)vp)->dim);
  nb_ctx_save(ctx, y);
  return y;
}
static nb_status softmax_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  int dim = ((dim_params *)nb_ctx_params(ctx))->dim;
  nb_tensor *y = nb_ctx_saved(ctx, 0);
  nb_tensor *gy = nb_mul(g, y);
  gi[0] = nb_sub(gy, nb_mul(y, nb_sum(gy, &dim, 1, true)));
  return NB_OK;
}
NB_DEFINE_OP_P(softmax, 1, dim_params, 0);
nb_status nb__sample_softmax(nb_op_sample *s) {
  static dim_params p = {0};
  nb__sample_input(s, true, NB_SHAPE(4, 3));
  NB_SAMPLE_CALL(s, softmax, &p);
  return NB_OK;
}
nb_tensor *nb_softmax(nb_tensor *x, int dim) {
  return nb_apply(&nb__op_softmax, 1, (nb_tensor *[]){x}, &(dim_params){dim});
}

/* The dims argument of a reduction from its params (NULL, 0 = all dims). */
#define REDUCE_DIMS(p) ((p)->ndims ? (p)->dims : NULL), (p)->ndims

/* A constant (no graph) float copy of a bool mask in dtype. */
static nb_tensor *mask_as(nb_tensor *mask, nb_dtype dtype) { return nbk_to(mask, dtype); }

/* ---- prod: the product of the others, without dividing by zeros ----------------- */
/* With P the product of the nonzero entries and z the count of zeros in a slice:
 * no zero -> P / x; one zero -> P at the zero, and elsewhere (zero entry) * P / x
 * (0 in value, but it keeps the second derivative right); two or more -> 0. */
static nb_tensor *prod_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  reduce_params *p = vp;
  nb_tensor *y = nbk_prod(in[0], REDUCE_DIMS(p), p->keepdim);
  nb_ctx_save(ctx, in[0]);
  return y;
}
static nb_status prod_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const reduce_params *p = nb_ctx_params(ctx);
  nb_tensor *x = nb_ctx_saved(ctx, 0);
  nb_tensor *ge = expand_back(ctx, g, p);
  nb_tensor *zero = nb_eq_scalar(x, 0.0);
  nb_tensor *xs = nb_masked_fill(x, zero, 1.0);
  nb_tensor *prod = nb_prod(xs, REDUCE_DIMS(p), true);
  nb_tensor *others = nb_div(prod, xs);
  nb_tensor *any = nb_any(zero);
  if (!any) return nb_last_status();
  if (nb_item(any) == 0) {
    gi[0] = nb_mul(ge, others);
    return NB_OK;
  }
  nb_tensor *nz = nbk_sum(zero, REDUCE_DIMS(p), true);
  nb_tensor *none = nb_eq_scalar(nz, 0.0), *one = nb_eq_scalar(nz, 1.0);
  /* the zero entry of each slice (value 0, gradient 1 at that entry) */
  nb_tensor *zsum = nb_sum(nb_masked_fill(x, nb_logical_not(zero), 0.0), REDUCE_DIMS(p), true);
  nb_tensor *at_zero = nb_masked_fill(nb_expand(prod, x->ndim, x->shape),
                                      nb_logical_not(nb_logical_and(zero, one)), 0.0);
  nb_tensor *beside_zero = nb_masked_fill(
      nb_mul(zsum, others), nb_logical_not(nb_logical_and(nb_logical_not(zero), one)), 0.0);
  nb_tensor *no_zero =
      nb_masked_fill(others, nb_logical_not(nb_expand(none, x->ndim, x->shape)), 0.0);
  gi[0] = nb_mul(ge, nb_add(no_zero, nb_add(at_zero, beside_zero)));
  return NB_OK;
}
NB_DEFINE_OP_P(prod, 1, reduce_params, 0);
nb_status nb__sample_prod(nb_op_sample *s) {
  static reduce_params p = {.dims = {1}, .ndims = 1, .keepdim = false};
  nb__sample_input(s, true, NB_SHAPE(3, 4));
  NB_SAMPLE_CALL(s, prod, &p);
  return NB_OK;
}
nb_tensor *nb_prod(nb_tensor *x, const int *dims, int ndims, bool keepdim) {
  reduce_params p = make_reduce(dims, ndims, keepdim);
  return nb_apply(&nb__op_prod, 1, (nb_tensor *[]){x}, &p);
}

/* ---- amax / amin: the gradient is split evenly among the tied extremes --------- */
/* Weights mask / count (constant): 1/k at each of the k entries equal to the
 * extreme of their slice. */
static nb_tensor *tie_weights(nb_ctx *ctx, const reduce_params *p, nb_tensor *x, nb_tensor *y) {
  nb_tensor *ye = expand_back(ctx, nb_detach(y), p);
  nb_tensor *maskf = mask_as(nb_eq(x, ye), x->dtype);
  return nbk_div(maskf, nbk_sum(maskf, REDUCE_DIMS(p), true));
}
static nb_tensor *amax_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  reduce_params *p = vp;
  nb_tensor *y = nbk_amax(in[0], REDUCE_DIMS(p), p->keepdim);
  nb_ctx_save(ctx, in[0]);
  nb_ctx_save(ctx, y);
  return y;
}
static nb_tensor *amin_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  reduce_params *p = vp;
  nb_tensor *y = nbk_amin(in[0], REDUCE_DIMS(p), p->keepdim);
  nb_ctx_save(ctx, in[0]);
  nb_ctx_save(ctx, y);
  return y;
}
static nb_status amax_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const reduce_params *p = nb_ctx_params(ctx);
  nb_tensor *w = tie_weights(ctx, p, nb_ctx_saved(ctx, 0), nb_ctx_saved(ctx, 1));
  gi[0] = nb_mul(expand_back(ctx, g, p), w);
  return NB_OK;
}
#define amin_backward amax_backward
NB_DEFINE_OP_P(amax, 1, reduce_params, 0);
NB_DEFINE_OP_P(amin, 1, reduce_params, 0);
nb_status nb__sample_amax(nb_op_sample *s) {
  static reduce_params p = {.dims = {0}, .ndims = 1, .keepdim = false};
  nb__sample_input(s, true, NB_SHAPE(4, 3));
  NB_SAMPLE_CALL(s, amax, &p);
  return NB_OK;
}
nb_status nb__sample_amin(nb_op_sample *s) {
  static reduce_params p = {.ndims = 0, .keepdim = true};
  nb__sample_input(s, true, NB_SHAPE(2, 3));
  NB_SAMPLE_CALL(s, amin, &p);
  return NB_OK;
}
nb_tensor *nb_amax(nb_tensor *x, const int *dims, int ndims, bool keepdim) {
  reduce_params p = make_reduce(dims, ndims, keepdim);
  return nb_apply(&nb__op_amax, 1, (nb_tensor *[]){x}, &p);
}
nb_tensor *nb_amin(nb_tensor *x, const int *dims, int ndims, bool keepdim) {
  reduce_params p = make_reduce(dims, ndims, keepdim);
  return nb_apply(&nb__op_amin, 1, (nb_tensor *[]){x}, &p);
}

/* ---- max / min along a dim: values, with the int64 indices in the params -------- */
typedef struct extreme_dim_params {
  int dim;
  bool keepdim;
  nb_tensor *indices; /* written by forward: the caller's new reference */
} extreme_dim_params;

static nb_tensor *extreme_dim_forward(nb_ctx *ctx, nb_tensor *x, extreme_dim_params *p,
                                      bool is_min) {
  nb_tensor *values = NULL;
  nb_status st = (is_min ? nbk_min_dim : nbk_max_dim)(x, p->dim, p->keepdim, &values, &p->indices);
  if (st != NB_OK) return NULL;
  p->dim = nb__wrap_dim("max_dim", p->dim, x->ndim);
  nb_ctx_save(ctx, p->indices);
  return values;
}
static nb_tensor *max_dim_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  return extreme_dim_forward(ctx, in[0], vp, false);
}
static nb_tensor *min_dim_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  return extreme_dim_forward(ctx, in[0], vp, true);
}
/* The gradient goes to the selected positions: scatter-add into zeros. */
static nb_status max_dim_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const extreme_dim_params *p = nb_ctx_params(ctx);
  int nd = nb_ctx_input_ndim(ctx, 0);
  if (nd == 0) {
    gi[0] = g;
    return NB_OK;
  }
  nb_tensor *index = nb_ctx_saved(ctx, 0);
  if (!p->keepdim) {
    g = nb_unsqueeze(g, p->dim);
    index = nbk_unsqueeze(index, p->dim);
  }
  nb_tensor *zeros = nb_zeros(g->dtype, nd, nb_ctx_input_shape(ctx, 0));
  gi[0] = nb_scatter_add(zeros, p->dim, index, g);
  return NB_OK;
}
#define min_dim_backward max_dim_backward
NB_DEFINE_OP_P(max_dim, 1, extreme_dim_params, 0);
NB_DEFINE_OP_P(min_dim, 1, extreme_dim_params, 0);
nb_status nb__sample_max_dim(nb_op_sample *s) {
  static extreme_dim_params p = {.dim = 1, .keepdim = false};
  nb__sample_input(s, true, NB_SHAPE(3, 4));
  NB_SAMPLE_CALL(s, max_dim, &p);
  return NB_OK;
}
nb_status nb__sample_min_dim(nb_op_sample *s) {
  static extreme_dim_params p = {.dim = 0, .keepdim = true};
  nb__sample_input(s, true, NB_SHAPE(3, 2));
  NB_SAMPLE_CALL(s, min_dim, &p);
  return NB_OK;
}
static nb_status extreme_dim(const nb_op_def *def, nb_tensor *x, int dim, bool keepdim,
                             nb_tensor **values, nb_tensor **indices) {
  extreme_dim_params p = {.dim = dim, .keepdim = keepdim};
  nb_tensor *v = nb_apply(def, 1, (nb_tensor *[]){x}, &p);
  if (!v) {
    nb_free(p.indices);
    return nb_last_status();
  }
  if (values)
    *values = v;
  else
    nb_free(v);
  if (indices)
    *indices = p.indices;
  else
    nb_free(p.indices);
  return NB_OK;
}
nb_status nb_max_dim(nb_tensor *x, int dim, bool keepdim, nb_tensor **values, nb_tensor **indices) {
  return extreme_dim(&nb__op_max_dim, x, dim, keepdim, values, indices);
}
nb_status nb_min_dim(nb_tensor *x, int dim, bool keepdim, nb_tensor **values, nb_tensor **indices) {
  return extreme_dim(&nb__op_min_dim, x, dim, keepdim, values, indices);
}

/* ---- var: dx = g * 2 (x - mean) / (N - correction); std = sqrt(var) -------------- */
typedef struct var_params {
  reduce_params r;
  double correction;
} var_params;

static nb_tensor *var_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  var_params *p = vp;
  nb_tensor *y = nbk_var(in[0], REDUCE_DIMS(&p->r), p->correction, p->r.keepdim);
  nb_ctx_save(ctx, in[0]);
  return y;
}
static nb_status var_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const var_params *p = nb_ctx_params(ctx);
  nb_tensor *x = nb_ctx_saved(ctx, 0);
  double denom = (double)reduced_count(ctx, &p->r) - p->correction;
  nb_tensor *centered = nb_sub(x, nb_mean(x, REDUCE_DIMS(&p->r), true));
  gi[0] = nb_mul(expand_back(ctx, g, &p->r), nb_mul_scalar(centered, 2.0 / denom));
  return NB_OK;
}
NB_DEFINE_OP_P(var, 1, var_params, 0);
nb_status nb__sample_var(nb_op_sample *s) {
  static var_params p = {.r = {.dims = {1}, .ndims = 1, .keepdim = false}, .correction = 1};
  nb__sample_input(s, true, NB_SHAPE(3, 5));
  NB_SAMPLE_CALL(s, var, &p);
  return NB_OK;
}
nb_tensor *nb_var(nb_tensor *x, const int *dims, int ndims, double correction, bool keepdim) {
  var_params p = {make_reduce(dims, ndims, keepdim), correction};
  return nb_apply(&nb__op_var, 1, (nb_tensor *[]){x}, &p);
}
nb_tensor *nb_std(nb_tensor *x, const int *dims, int ndims, double correction, bool keepdim) {
  nb_tensor *v = nb_var(x, dims, ndims, correction, keepdim);
  nb_tensor *r = nb_pow_scalar(v, 0.5);
  nb_free(v);
  return r;
}

/* ---- logsumexp: dx = g * exp(x - y) --------------------------------------------- */
static nb_tensor *logsumexp_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  reduce_params *p = vp;
  nb_tensor *y = nbk_logsumexp(in[0], REDUCE_DIMS(p), p->keepdim);
  nb_ctx_save(ctx, in[0]);
  nb_ctx_save(ctx, y);
  return y;
}
static nb_status logsumexp_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const reduce_params *p = nb_ctx_params(ctx);
  nb_tensor *x = nb_ctx_saved(ctx, 0), *y = nb_ctx_saved(ctx, 1);
  gi[0] = nb_mul(expand_back(ctx, g, p), nb_exp(nb_sub(x, expand_back(ctx, y, p))));
  return NB_OK;
}
NB_DEFINE_OP_P(logsumexp, 1, reduce_params, 0);
nb_status nb__sample_logsumexp(nb_op_sample *s) {
  static reduce_params p = {.dims = {0, 2}, .ndims = 2, .keepdim = true};
  nb__sample_input(s, true, NB_SHAPE(2, 3, 2));
  NB_SAMPLE_CALL(s, logsumexp, &p);
  return NB_OK;
}
nb_tensor *nb_logsumexp(nb_tensor *x, const int *dims, int ndims, bool keepdim) {
  reduce_params p = make_reduce(dims, ndims, keepdim);
  return nb_apply(&nb__op_logsumexp, 1, (nb_tensor *[]){x}, &p);
}

/* ---- norm ------------------------------------------------------------------------ */
/* p = 2: x / y; p = 1: sign(x); p = +-inf: sign(x) split evenly among the tied
 * extremes of |x|; other p: sign(x) |x|^(p-1) / y^(p-1). Where y == 0 the
 * gradient is 0, as in PyTorch. */
typedef struct norm_params {
  reduce_params r;
  double p;
} norm_params;

static nb_tensor *norm_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  norm_params *p = vp;
  nb_tensor *y = nbk_norm(in[0], p->p, REDUCE_DIMS(&p->r), p->r.keepdim);
  nb_ctx_save(ctx, in[0]);
  nb_ctx_save(ctx, y);
  return y;
}
static nb_status norm_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const norm_params *p = nb_ctx_params(ctx);
  const reduce_params *r = &p->r;
  nb_tensor *x = nb_ctx_saved(ctx, 0), *y = nb_ctx_saved(ctx, 1);
  nb_tensor *ge = expand_back(ctx, g, r), *sign = nbk_sign(x);
  if (p->p == 1) {
    gi[0] = nb_mul(ge, sign);
    return NB_OK;
  }
  if (isinf(p->p)) {
    gi[0] = nb_mul(ge, nbk_mul(sign, tie_weights(ctx, r, nbk_abs(x), y)));
    return NB_OK;
  }
  nb_tensor *ye = expand_back(ctx, y, r);
  nb_tensor *yzero = nb_eq_scalar(ye, 0.0);
  nb_tensor *ysafe = nb_masked_fill(ye, yzero, 1.0);
  nb_tensor *d;
  if (p->p == 2) {
    d = nb_div(x, ysafe);
  } else {
    nb_tensor *num = nb_mul(sign, nb_pow_scalar(nb_abs(x), p->p - 1));
    d = nb_masked_fill(nb_div(num, nb_pow_scalar(ysafe, p->p - 1)), yzero, 0.0);
  }
  gi[0] = nb_mul(ge, d);
  return NB_OK;
}
NB_DEFINE_OP_P(norm, 1, norm_params, 0);
nb_status nb__sample_norm(nb_op_sample *s) {
  static norm_params p = {.r = {.dims = {1}, .ndims = 1, .keepdim = false}, .p = 3};
  nb__sample_input(s, true, NB_SHAPE(2, 4));
  NB_SAMPLE_CALL(s, norm, &p);
  return NB_OK;
}
nb_tensor *nb_norm(nb_tensor *x, double p, const int *dims, int ndims, bool keepdim) {
  norm_params np = {make_reduce(dims, ndims, keepdim), p};
  return nb_apply(&nb__op_norm, 1, (nb_tensor *[]){x}, &np);
}

/* ---- cumsum: dx = reverse cumsum of g ------------------------------------------- */
static nb_tensor *cumsum_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  dim_params *p = vp;
  nb_tensor *y = nbk_cumsum(in[0], p->dim);
  if (y) p->dim = nb__wrap_dim("cumsum", p->dim, y->ndim);
  return y;
}
static nb_status cumsum_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  int dim = ((dim_params *)nb_ctx_params(ctx))->dim;
  if (g->ndim == 0) {
    gi[0] = g;
    return NB_OK;
  }
  gi[0] = nb_flip(nb_cumsum(nb_flip(g, &dim, 1), dim), &dim, 1);
  return NB_OK;
}
NB_DEFINE_OP_P(cumsum, 1, dim_params, 0);
nb_status nb__sample_cumsum(nb_op_sample *s) {
  static dim_params p = {-1};
  nb__sample_input(s, true, NB_SHAPE(3, 4));
  NB_SAMPLE_CALL(s, cumsum, &p);
  return NB_OK;
}
nb_tensor *nb_cumsum(nb_tensor *x, int dim) {
  return nb_apply(&nb__op_cumsum, 1, (nb_tensor *[]){x}, &(dim_params){dim});
}
