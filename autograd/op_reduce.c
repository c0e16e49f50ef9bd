/* autograd/op_reduce.c - differentiable reductions and softmax.
 *
 * Owns, side by side per op: forward (nbk_* kernel), backward (differentiable
 * nb_* ops), gradcheck sample and public wrapper. Reduction gradients are
 * broadcast back over the reduced dims by expand_back.
 */
#include "autograd/op_common.h"

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
