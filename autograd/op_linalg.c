/* autograd/op_linalg.c - differentiable matrix products.
 *
 * Owns, side by side per op: forward (the BLIS-backed nbk_* kernel), backward
 * (matmuls of the gradient with transposed views: no copies), gradcheck
 * sample and public wrapper. linear is its own row so the bias is added by
 * the GEMM itself and its gradient is one reduction. dot and outer are
 * composites (matmul of vectors; a broadcast product).
 */
#include "autograd/op_impl.h"

/* ---- matmul -------------------------------------------------------------- */
static nb_tensor *matmul_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  if (nb_ctx_needs_grad(ctx, 1)) nb_ctx_save(ctx, in[0]);
  if (nb_ctx_needs_grad(ctx, 0)) nb_ctx_save(ctx, in[1]);
  return nbk_matmul(in[0], in[1]);
}
static nb_status matmul_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  bool need_a = nb_ctx_needs_grad(ctx, 0), need_b = nb_ctx_needs_grad(ctx, 1);
  nb_tensor *a = need_b ? nb_ctx_saved(ctx, 0) : NULL;
  nb_tensor *b = need_a ? nb_ctx_saved(ctx, need_b ? 1 : 0) : NULL;
  int nda = nb_ctx_input_ndim(ctx, 0), ndb = nb_ctx_input_ndim(ctx, 1);
  if (nda == 1 && ndb == 1) { /* dot product: g is 0-d */
    if (need_a) gi[0] = nb_mul(g, b);
    if (need_b) gi[1] = nb_mul(g, a);
    return NB_OK;
  }
  /* Work in the >= 2-D form: a 1-D a is [1,k], a 1-D b is [k,1]; put the
   * removed dims back into g. The engine sums broadcast batch dims. */
  nb_tensor *a2 = a && nda == 1 ? nb_unsqueeze(a, 0) : a;
  nb_tensor *b2 = b && ndb == 1 ? nb_unsqueeze(b, -1) : b;
  nb_tensor *g2 = g;
  if (nda == 1) g2 = nb_unsqueeze(g2, -2);
  if (ndb == 1) g2 = nb_unsqueeze(g2, -1);
  /* Drop the dims a 1-D operand gained ([..., 1, k] / [..., k, 1]); the engine
   * then sums the batch dims away. */
  if (need_a) {
    gi[0] = nb_matmul(g2, nb_transpose(b2, -1, -2));
    if (nda == 1) gi[0] = nb_squeeze(gi[0], -2);
  }
  if (need_b) {
    gi[1] = nb_matmul(nb_transpose(a2, -1, -2), g2);
    if (ndb == 1) gi[1] = nb_squeeze(gi[1], -1);
  }
  return NB_OK;
}
NB_DEFINE_OP(matmul, 2, 0);
nb_status nb__sample_matmul(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(2, 1, 3, 4));
  nb__sample_input(s, true, NB_SHAPE(3, 4, 2)); /* batch dims broadcast */
  NB_SAMPLE_CALL(s, matmul, NULL);
  return NB_OK;
}
nb_tensor *nb_matmul(nb_tensor *a, nb_tensor *b) {
  return nb_apply(&nb__op_matmul, 2, (nb_tensor *[]){a, b}, NULL);
}
nb_tensor *nb_bmm(nb_tensor *a, nb_tensor *b) {
  NB_CHECK_NULL("bmm", a, b);
  if (a->ndim != 3 || b->ndim != 3 || a->shape[0] != b->shape[0])
    return nb__fail_null(NB_ERR_SHAPE, "bmm: %s @ %s: expects [B,n,k] @ [B,k,m]", nb__shp(a),
                         nb__shp(b));
  return nb_matmul(a, b);
}

/* ---- linear: y = x w^T + b ------------------------------------------------- */
static nb_tensor *linear_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  if (nb_ctx_needs_grad(ctx, 0)) nb_ctx_save(ctx, in[1]);
  if (nb_ctx_needs_grad(ctx, 1)) nb_ctx_save(ctx, in[0]);
  return nbk_linear(in[0], in[1], n == 3 ? in[2] : NULL);
}
static nb_status linear_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  bool need_x = nb_ctx_needs_grad(ctx, 0), need_w = nb_ctx_needs_grad(ctx, 1);
  nb_tensor *w = need_x ? nb_ctx_saved(ctx, 0) : NULL;
  nb_tensor *x = need_w ? nb_ctx_saved(ctx, need_x ? 1 : 0) : NULL;
  if (need_x) gi[0] = nb_matmul(g, w); /* [..., out] @ [out, in] */
  if (need_w) {                        /* g^T x over all leading dims */
    int64_t out = g->shape[g->ndim - 1], in = x->shape[x->ndim - 1];
    nb_tensor *g2 = nb_reshape(g, 2, (int64_t[]){-1, out});
    nb_tensor *x2 = nb_reshape(x, 2, (int64_t[]){-1, in});
    gi[1] = nb_matmul(nb_t(g2), x2);
  }
  if (nb_ctx_ninputs(ctx) == 3 && nb_ctx_needs_grad(ctx, 2)) gi[2] = g; /* engine sums */
  return NB_OK;
}
NB_DEFINE_OP(linear, -1, 0);
nb_status nb__sample_linear(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(2, 3, 4)); /* x */
  nb__sample_input(s, true, NB_SHAPE(5, 4));    /* w */
  nb__sample_input(s, true, NB_SHAPE(5));       /* b */
  NB_SAMPLE_CALL(s, linear, NULL);
  return NB_OK;
}
nb_tensor *nb_linear(nb_tensor *x, nb_tensor *w, nb_tensor *b) {
  NB_CHECK_NULL("linear", x, w);
  return nb_apply(&nb__op_linear, b ? 3 : 2, (nb_tensor *[]){x, w, b}, NULL);
}

/* ---- composites: dot, outer ------------------------------------------------ */
nb_tensor *nb_dot(nb_tensor *a, nb_tensor *b) {
  NB_CHECK_NULL("dot", a, b);
  if (a->ndim != 1 || b->ndim != 1 || a->shape[0] != b->shape[0])
    return nb__fail_null(NB_ERR_SHAPE, "dot: %s . %s: expects two 1-D tensors of equal size",
                         nb__shp(a), nb__shp(b));
  if (a->dtype != b->dtype)
    return nb__fail_null(NB_ERR_DTYPE, "dot: expects equal dtypes, got %s and %s",
                         nb_dtype_name(a->dtype), nb_dtype_name(b->dtype));
  return nb_matmul(a, b);
}

nb_tensor *nb_outer(nb_tensor *a, nb_tensor *b) {
  NB_CHECK_NULL("outer", a, b);
  if (a->ndim != 1 || b->ndim != 1)
    return nb__fail_null(NB_ERR_SHAPE, "outer: %s x %s: expects two 1-D tensors", nb__shp(a),
                         nb__shp(b));
  nb_tensor *a2 = nb_unsqueeze(a, 1), *b2 = nb_unsqueeze(b, 0);
  nb_tensor *out = nb_mul(a2, b2);
  nb_free(b2);
  nb_free(a2);
  return out;
}
