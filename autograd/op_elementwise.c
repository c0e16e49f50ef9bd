/* autograd/op_elementwise.c - differentiable elementwise ops.
 *
 * Owns, per op and side by side: forward (the nbk_* kernel), backward
 * (written with differentiable nb_* ops so it can itself be differentiated),
 * the gradcheck sample, and the public wrapper. Broadcast gradients are
 * reduced to each input's shape by the engine, so backward returns them at
 * the output's shape.
 */
#include "autograd/op_common.h"

#define IN(i) ((nb_tensor *[]){i})
#define IN2(a, b) ((nb_tensor *[]){a, b})

typedef struct scalar_params {
  double s;
} scalar_params;

/* ---- add ---------------------------------------------------------------- */
static nb_tensor *add_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  return nbk_add(in[0], in[1]);
}
static nb_status add_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = g;
  gi[1] = g;
  return NB_OK;
}
NB_DEFINE_OP(add, 2, 0);
nb_status nb__sample_add(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(3, 4));
  nb__sample_input(s, true, NB_SHAPE(4)); /* broadcast */
  NB_SAMPLE_CALL(s, add, NULL);
  return NB_OK;
}
nb_tensor *nb_add(nb_tensor *a, nb_tensor *b) { return nb_apply(&nb__op_add, 2, IN2(a, b), NULL); }

/* ---- sub ---------------------------------------------------------------- */
static nb_tensor *sub_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  return nbk_sub(in[0], in[1]);
}
static nb_status sub_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = g;
  if (nb_ctx_needs_grad(ctx, 1)) gi[1] = nb_neg(g);
  return NB_OK;
}
NB_DEFINE_OP(sub, 2, 0);
nb_status nb__sample_sub(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(2, 1, 3));
  nb__sample_input(s, true, NB_SHAPE(4, 3));
  NB_SAMPLE_CALL(s, sub, NULL);
  return NB_OK;
}
nb_tensor *nb_sub(nb_tensor *a, nb_tensor *b) { return nb_apply(&nb__op_sub, 2, IN2(a, b), NULL); }

/* ---- mul ---------------------------------------------------------------- */
static nb_tensor *mul_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  if (nb_ctx_needs_grad(ctx, 1)) nb_ctx_save(ctx, in[0]); /* saved 0 */
  if (nb_ctx_needs_grad(ctx, 0)) nb_ctx_save(ctx, in[1]); /* saved 0 or 1 */
  return nbk_mul(in[0], in[1]);
}
static nb_status mul_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  bool ga = nb_ctx_needs_grad(ctx, 0), gb = nb_ctx_needs_grad(ctx, 1);
  nb_tensor *a = gb ? nb_ctx_saved(ctx, 0) : NULL;
  nb_tensor *b = ga ? nb_ctx_saved(ctx, gb ? 1 : 0) : NULL;
  if (ga) gi[0] = nb_mul(g, b);
  if (gb) gi[1] = nb_mul(g, a);
  return NB_OK;
}
NB_DEFINE_OP(mul, 2, 0);
nb_status nb__sample_mul(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(3, 4));
  nb__sample_input(s, true, NB_SHAPE(3, 1));
  NB_SAMPLE_CALL(s, mul, NULL);
  return NB_OK;
}
nb_tensor *nb_mul(nb_tensor *a, nb_tensor *b) { return nb_apply(&nb__op_mul, 2, IN2(a, b), NULL); }

/* ---- div ---------------------------------------------------------------- */
static nb_tensor *div_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  nb_ctx_save(ctx, in[0]);
  nb_ctx_save(ctx, in[1]);
  return nbk_div(in[0], in[1]);
}
static nb_status div_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  nb_tensor *a = nb_ctx_saved(ctx, 0), *b = nb_ctx_saved(ctx, 1);
  nb_tensor *ga = nb_div(g, b);
  if (nb_ctx_needs_grad(ctx, 0)) gi[0] = ga;
  if (nb_ctx_needs_grad(ctx, 1)) gi[1] = nb_neg(nb_div(nb_mul(ga, a), b)); /* -g a / b^2 */
  return NB_OK;
}
NB_DEFINE_OP(div, 2, 0);
nb_status nb__sample_div(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(3, 4));
  nb_tensor *b = nb__sample_input(s, true, NB_SHAPE(4));
  nb_no_grad_begin();
  nb_tensor *shifted = nbk_add_scalar(nbk_abs(b), 0.5); /* keep away from 0 */
  nb_copy_(b, shifted);
  nb_no_grad_end();
  NB_SAMPLE_CALL(s, div, NULL);
  return NB_OK;
}
nb_tensor *nb_div(nb_tensor *a, nb_tensor *b) { return nb_apply(&nb__op_div, 2, IN2(a, b), NULL); }

/* ---- neg ---------------------------------------------------------------- */
static nb_tensor *neg_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  return nbk_neg(in[0]);
}
static nb_status neg_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_neg(g);
  return NB_OK;
}
NB_DEFINE_OP(neg, 1, 0);
nb_status nb__sample_neg(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(5));
  NB_SAMPLE_CALL(s, neg, NULL);
  return NB_OK;
}
nb_tensor *nb_neg(nb_tensor *x) { return nb_apply(&nb__op_neg, 1, IN(x), NULL); }

/* ---- abs: d/dx = sign(x) --------------------------------------------------------- */
static nb_tensor *abs_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  nb_ctx_save(ctx, in[0]);
  return nbk_abs(in[0]);
}
static nb_status abs_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_mul(g, nbk_sign(nb_ctx_saved(ctx, 0)));
  return NB_OK;
}
NB_DEFINE_OP(abs, 1, 0);
nb_status nb__sample_abs(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(5));
  NB_SAMPLE_CALL(s, abs, NULL);
  return NB_OK;
}
nb_tensor *nb_abs(nb_tensor *x) { return nb_apply(&nb__op_abs, 1, IN(x), NULL); }

/* ---- exp: d/dx = exp(x), the saved output ---------------------------------- */
static nb_tensor *exp_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  nb_tensor *y = nbk_exp(in[0]);
  nb_ctx_save(ctx, y);
  return y;
}
static nb_status exp_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_mul(g, nb_ctx_saved(ctx, 0));
  return NB_OK;
}
NB_DEFINE_OP(exp, 1, 0);
nb_status nb__sample_exp(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(2, 3));
  NB_SAMPLE_CALL(s, exp, NULL);
  return NB_OK;
}
nb_tensor *nb_exp(nb_tensor *x) { return nb_apply(&nb__op_exp, 1, IN(x), NULL); }

/* ---- log: d/dx = 1/x ----------------------------------------------------------- */
static nb_tensor *log_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  nb_ctx_save(ctx, in[0]);
  return nbk_log(in[0]);
}
static nb_status log_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_div(g, nb_ctx_saved(ctx, 0));
  return NB_OK;
}
NB_DEFINE_OP(log, 1, 0);
nb_status nb__sample_log(nb_op_sample *s) {
  nb_tensor *x = nb__sample_input(s, true, NB_SHAPE(2, 3));
  nb_no_grad_begin();
  nb_copy_(x, nbk_add_scalar(nbk_abs(x), 0.5));
  nb_no_grad_end();
  NB_SAMPLE_CALL(s, log, NULL);
  return NB_OK;
}
nb_tensor *nb_log(nb_tensor *x) { return nb_apply(&nb__op_log, 1, IN(x), NULL); }

/* ---- tanh: d/dx = 1 - y^2 --------------------------------------------------------- */
static nb_tensor *tanh_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  nb_tensor *y = nbk_tanh(in[0]);
  nb_ctx_save(ctx, y);
  return y;
}
static nb_status tanh_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  nb_tensor *y = nb_ctx_saved(ctx, 0);
  gi[0] = nb_mul(g, nb_add_scalar(nb_neg(nb_mul(y, y)), 1.0));
  return NB_OK;
}
NB_DEFINE_OP(tanh, 1, 0);
nb_status nb__sample_tanh(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(2, 3));
  NB_SAMPLE_CALL(s, tanh, NULL);
  return NB_OK;
}
nb_tensor *nb_tanh(nb_tensor *x) { return nb_apply(&nb__op_tanh, 1, IN(x), NULL); }

/* ---- sigmoid: d/dx = y (1 - y) ----------------------------------------------------- */
static nb_tensor *sigmoid_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  nb_tensor *y = nbk_sigmoid(in[0]);
  nb_ctx_save(ctx, y);
  return y;
}
static nb_status sigmoid_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  nb_tensor *y = nb_ctx_saved(ctx, 0);
  gi[0] = nb_mul(g, nb_mul(y, nb_add_scalar(nb_neg(y), 1.0)));
  return NB_OK;
}
NB_DEFINE_OP(sigmoid, 1, 0);
nb_status nb__sample_sigmoid(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(2, 3));
  NB_SAMPLE_CALL(s, sigmoid, NULL);
  return NB_OK;
}
nb_tensor *nb_sigmoid(nb_tensor *x) { return nb_apply(&nb__op_sigmoid, 1, IN(x), NULL); }

/* ---- relu: d/dx = [y > 0] (a constant mask: second derivative 0) ------------------- */
static nb_tensor *relu_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  nb_tensor *y = nbk_relu(in[0]);
  nb_ctx_save(ctx, y);
  return y;
}
static nb_status relu_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  nb_tensor *mask = nb_gt_scalar(nb_ctx_saved(ctx, 0), 0.0);
  gi[0] = nb_mul(g, nbk_to(mask, g->dtype));
  return NB_OK;
}
NB_DEFINE_OP(relu, 1, 0);
nb_status nb__sample_relu(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(3, 4));
  NB_SAMPLE_CALL(s, relu, NULL);
  return NB_OK;
}
nb_tensor *nb_relu(nb_tensor *x) { return nb_apply(&nb__op_relu, 1, IN(x), NULL); }

/* ---- scalar forms ------------------------------------------------------------------ */
static nb_tensor *add_scalar_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  return nbk_add_scalar(in[0], ((scalar_params *)p)->s);
}
static nb_status add_scalar_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = g;
  return NB_OK;
}
NB_DEFINE_OP_P(add_scalar, 1, scalar_params, 0);
nb_status nb__sample_add_scalar(nb_op_sample *s) {
  static scalar_params p = {2.5};
  nb__sample_input(s, true, NB_SHAPE(4));
  NB_SAMPLE_CALL(s, add_scalar, &p);
  return NB_OK;
}
nb_tensor *nb_add_scalar(nb_tensor *x, double s) {
  return nb_apply(&nb__op_add_scalar, 1, IN(x), &(scalar_params){s});
}
nb_tensor *nb_sub_scalar(nb_tensor *x, double s) { return nb_add_scalar(x, -s); }

static nb_tensor *mul_scalar_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  return nbk_mul_scalar(in[0], ((scalar_params *)p)->s);
}
static nb_status mul_scalar_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_mul_scalar(g, ((scalar_params *)nb_ctx_params(ctx))->s);
  return NB_OK;
}
NB_DEFINE_OP_P(mul_scalar, 1, scalar_params, 0);
nb_status nb__sample_mul_scalar(nb_op_sample *s) {
  static scalar_params p = {-1.5};
  nb__sample_input(s, true, NB_SHAPE(2, 2));
  NB_SAMPLE_CALL(s, mul_scalar, &p);
  return NB_OK;
}
nb_tensor *nb_mul_scalar(nb_tensor *x, double s) {
  return nb_apply(&nb__op_mul_scalar, 1, IN(x), &(scalar_params){s});
}
nb_tensor *nb_div_scalar(nb_tensor *x, double s) {
  if (s == 0) return nb__fail_null(NB_ERR_ARG, "div_scalar: division by zero");
  return nb_mul_scalar(x, 1.0 / s);
}

/* x ** c: d/dx = c x^(c-1) */
static nb_tensor *pow_scalar_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  nb_ctx_save(ctx, in[0]);
  return nbk_pow_scalar(in[0], ((scalar_params *)p)->s);
}
static nb_status pow_scalar_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  double c = ((scalar_params *)nb_ctx_params(ctx))->s;
  if (c == 0) {
    gi[0] = nb_mul_scalar(g, 0.0);
    return NB_OK;
  }
  nb_tensor *x = nb_ctx_saved(ctx, 0);
  gi[0] = nb_mul(g, nb_mul_scalar(nb_pow_scalar(x, c - 1), c));
  return NB_OK;
}
NB_DEFINE_OP_P(pow_scalar, 1, scalar_params, 0);
nb_status nb__sample_pow_scalar(nb_op_sample *s) {
  static scalar_params p = {3.0};
  nb__sample_input(s, true, NB_SHAPE(3));
  NB_SAMPLE_CALL(s, pow_scalar, &p);
  return NB_OK;
}
nb_tensor *nb_pow_scalar(nb_tensor *x, double exponent) {
  return nb_apply(&nb__op_pow_scalar, 1, IN(x), &(scalar_params){exponent});
}

/* ---- to: dtype conversion; the engine converts the gradient back ---------------------- */
typedef struct to_params {
  nb_dtype dtype;
} to_params;
static nb_tensor *to_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  return nbk_to(in[0], ((to_params *)p)->dtype);
}
static nb_status to_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = g;
  return NB_OK;
}
NB_DEFINE_OP_P(to, 1, to_params, 0);
nb_status nb__sample_to(nb_op_sample *s) {
  static to_params p = {NB_DTYPE_FLOAT64}; /* float32 would defeat finite differences */
  nb__sample_input(s, true, NB_SHAPE(3));
  NB_SAMPLE_CALL(s, to, &p);
  return NB_OK;
}
nb_tensor *nb_to(nb_tensor *x, nb_dtype dtype) {
  return nb_apply(&nb__op_to, 1, IN(x), &(to_params){dtype});
}
