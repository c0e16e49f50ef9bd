/* autograd/op_elementwise.c - differentiable elementwise ops.
 *
 * Owns, per op and side by side: forward (the nbk_* kernel), backward
 * (written with differentiable nb_* ops so it can itself be differentiated),
 * the gradcheck sample, and the public wrapper. Broadcast gradients are
 * reduced to each input's shape by the engine, so backward returns them at
 * the output's shape.
 *
 * PyTorch's conventions at non-differentiable points are kept (relu'(0) = 0,
 * abs'(0) = 0, leaky_relu'(0) = slope, elu'(0) = alpha, clamp passes the
 * gradient at its bounds, hardtanh does not, ties of maximum/minimum split it
 * half and half), and so is its NaN behaviour: masks are the same
 * comparisons PyTorch's backward formulas use, and masked-out gradients are
 * selected away with where (never multiplied by 0, which would turn an
 * infinite gradient into NaN).
 */
#include "autograd/op_impl.h"

#include <math.h>

#define IN(i) ((nb_tensor *[]){i})
#define IN2(a, b) ((nb_tensor *[]){a, b})
#define IN3(a, b, c) ((nb_tensor *[]){a, b, c})

typedef struct scalar_params {
  double s;
} scalar_params;

typedef struct pair_params {
  double a, b;
} pair_params;

/* ---- shared helpers ---------------------------------------------------------- */

/* A 0-d zero of g's dtype, for where(mask, 0, g) (a 0-d operand never changes
 * the result dtype of a dimensioned one). */
static nb_tensor *zero_of(nb_tensor *g) { return nb_scalar(nb_dtype_of(g), 0.0); }

/* Forwards that are a kernel call saving its input (x) or its output (y). */
#define FORWARD_SAVING_INPUT(NAME, CALL)                                                           \
  static nb_tensor *NAME##_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {           \
    nb_ctx_save(ctx, in[0]);                                                                       \
    return CALL;                                                                                   \
  }
#define FORWARD_SAVING_OUTPUT(NAME, CALL)                                                          \
  static nb_tensor *NAME##_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {           \
    nb_tensor *y = CALL;                                                                           \
    nb_ctx_save(ctx, y);                                                                           \
    return y;                                                                                      \
  }
#define P(TYPE) ((TYPE *)vp)                        /* params in forward */
#define CP(TYPE) ((const TYPE *)nb_ctx_params(ctx)) /* params in backward */

/* Samples: float64 randn inputs, kept away from non-differentiable points so
 * finite differences see a smooth function. Temporaries live in a scope. */

/* x -> k + sign(x - k) (|x - k| + gap): at least gap away from k. */
static void sample_away(nb_tensor *x, double k, double gap) {
  nb_scope_begin();
  nb_tensor *d = nbk_sub_scalar(x, k);
  nb_copy_(x, nbk_add_scalar(nbk_mul(nbk_sign(d), nbk_add_scalar(nbk_abs(d), gap)), k));
  nb_scope_end();
}
/* x -> |x| + lo. */
static void sample_positive(nb_tensor *x, double lo) {
  nb_scope_begin();
  nb_copy_(x, nbk_add_scalar(nbk_abs(x), lo));
  nb_scope_end();
}
/* One randn input of the given shape calling NAME with params PARAMS. */
#define SAMPLE1(NAME, PARAMS, ...)                                                                 \
  nb_status nb__sample_##NAME(nb_op_sample *s) {                                                   \
    nb__sample_input(s, true, NB_SHAPE(__VA_ARGS__));                                              \
    NB_SAMPLE_CALL(s, NAME, PARAMS);                                                               \
    return NB_OK;                                                                                  \
  }

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
  sample_positive(nb__sample_input(s, true, NB_SHAPE(4)), 0.5); /* keep away from 0 */
  NB_SAMPLE_CALL(s, div, NULL);
  return NB_OK;
}
nb_tensor *nb_div(nb_tensor *a, nb_tensor *b) { return nb_apply(&nb__op_div, 2, IN2(a, b), NULL); }

/* ---- pow: d/da = b a^(b-1), d/db = a^b log a (PyTorch's masks) ------------------ */
static nb_tensor *pow_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  nb_tensor *y = nbk_pow(in[0], in[1]);
  nb_ctx_save(ctx, in[0]);
  nb_ctx_save(ctx, in[1]);
  if (nb_ctx_needs_grad(ctx, 1)) nb_ctx_save(ctx, y); /* saved 2 */
  return y;
}
static nb_status pow_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  nb_tensor *a = nb_ctx_saved(ctx, 0), *b = nb_ctx_saved(ctx, 1), *zero = zero_of(g);
  if (nb_ctx_needs_grad(ctx, 0)) { /* 0 where b == 0, even at a == 0 */
    nb_tensor *d = nb_mul(b, nb_pow(a, nb_sub_scalar(b, 1.0)));
    gi[0] = nb_where(nb_eq_scalar(b, 0.0), zero, nb_mul(g, d));
  }
  if (nb_ctx_needs_grad(ctx, 1)) { /* 0 where a == 0 and b >= 0; log a in a's dtype (PyTorch) */
    nb_tensor *y = nb_ctx_saved(ctx, 2);
    nb_tensor *at_zero = nb_logical_and(nb_eq_scalar(a, 0.0), nb_ge_scalar(b, 0.0));
    nb_tensor *d = nb_mul(y, nb_log(a));
    gi[1] = nb_mul(g, nb_where(at_zero, zero, d));
  }
  return NB_OK;
}
NB_DEFINE_OP(pow, 2, 0);
nb_status nb__sample_pow(nb_op_sample *s) {
  sample_positive(nb__sample_input(s, true, NB_SHAPE(3, 4)), 0.5); /* a > 0: log a exists */
  nb__sample_input(s, true, NB_SHAPE(4));
  NB_SAMPLE_CALL(s, pow, NULL);
  return NB_OK;
}
nb_tensor *nb_pow(nb_tensor *a, nb_tensor *b) { return nb_apply(&nb__op_pow, 2, IN2(a, b), NULL); }

/* ---- maximum / minimum: the larger (smaller) input takes the gradient; ties
 * halve it; a NaN on either side gives both the whole gradient (PyTorch). -------- */
static nb_tensor *maximum_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  nb_ctx_save(ctx, in[0]);
  nb_ctx_save(ctx, in[1]);
  return nbk_maximum(in[0], in[1]);
}
static nb_tensor *minimum_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  nb_ctx_save(ctx, in[0]);
  nb_ctx_save(ctx, in[1]);
  return nbk_minimum(in[0], in[1]);
}
/* where(lose, 0, where(tie, g / 2, g)) */
static nb_tensor *extremum_grad(nb_tensor *g, nb_tensor *lose, nb_tensor *tie) {
  return nb_where(lose, zero_of(g), nb_where(tie, nb_mul_scalar(g, 0.5), g));
}
static nb_status extremum_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi, bool is_max) {
  nb_tensor *a = nb_ctx_saved(ctx, 0), *b = nb_ctx_saved(ctx, 1), *tie = nb_eq(a, b);
  if (nb_ctx_needs_grad(ctx, 0)) gi[0] = extremum_grad(g, is_max ? nb_lt(a, b) : nb_gt(a, b), tie);
  if (nb_ctx_needs_grad(ctx, 1)) gi[1] = extremum_grad(g, is_max ? nb_gt(a, b) : nb_lt(a, b), tie);
  return NB_OK;
}
static nb_status maximum_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  return extremum_backward(ctx, g, gi, true);
}
static nb_status minimum_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  return extremum_backward(ctx, g, gi, false);
}
NB_DEFINE_OP(maximum, 2, 0);
NB_DEFINE_OP(minimum, 2, 0);
/* b broadcast against a, and a moved away from ties with b. */
static nb_status sample_extremum(nb_op_sample *s) {
  nb_tensor *a = nb__sample_input(s, true, NB_SHAPE(3, 4));
  nb_tensor *b = nb__sample_input(s, true, NB_SHAPE(4));
  nb_scope_begin();
  nb_tensor *d = nbk_sub(a, b);
  nb_copy_(a, nbk_add(b, nbk_mul(nbk_sign(d), nbk_add_scalar(nbk_abs(d), 0.1))));
  nb_scope_end();
  return NB_OK;
}
nb_status nb__sample_maximum(nb_op_sample *s) {
  NB_SAMPLE_CALL(s, maximum, NULL);
  return sample_extremum(s);
}
nb_status nb__sample_minimum(nb_op_sample *s) {
  NB_SAMPLE_CALL(s, minimum, NULL);
  return sample_extremum(s);
}
nb_tensor *nb_maximum(nb_tensor *a, nb_tensor *b) {
  return nb_apply(&nb__op_maximum, 2, IN2(a, b), NULL);
}
nb_tensor *nb_minimum(nb_tensor *a, nb_tensor *b) {
  return nb_apply(&nb__op_minimum, 2, IN2(a, b), NULL);
}

/* ---- where: the condition routes the gradient; it gets none itself ------------- */
static nb_tensor *where_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  nb_ctx_save(ctx, in[0]);
  return nbk_where(in[0], in[1], in[2]);
}
static nb_status where_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  nb_tensor *cond = nb_ctx_saved(ctx, 0), *zero = zero_of(g);
  if (nb_ctx_needs_grad(ctx, 1)) gi[1] = nb_where(cond, g, zero);
  if (nb_ctx_needs_grad(ctx, 2)) gi[2] = nb_where(cond, zero, g);
  return NB_OK;
}
NB_DEFINE_OP(where, 3, 0);
nb_status nb__sample_where(nb_op_sample *s) {
  /* A bool condition [3, 1] broadcast against a [2, 1, 4] and b [4]. */
  nb_tensor *c = nb__sample_input(s, false, NB_SHAPE(3, 1));
  s->inputs[0] = nb_keep(nb_gt_scalar(c, 0.0));
  nb_free(c);
  if (!s->inputs[0]) return nb_last_status();
  nb__sample_input(s, true, NB_SHAPE(2, 1, 4));
  nb__sample_input(s, true, NB_SHAPE(4));
  NB_SAMPLE_CALL(s, where, NULL);
  return NB_OK;
}
nb_tensor *nb_where(nb_tensor *cond, nb_tensor *a, nb_tensor *b) {
  return nb_apply(&nb__op_where, 3, IN3(cond, a, b), NULL);
}

/* ---- neg ---------------------------------------------------------------- */
static nb_tensor *neg_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  return nbk_neg(in[0]);
}
static nb_status neg_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_neg(g);
  return NB_OK;
}
NB_DEFINE_OP(neg, 1, 0);
SAMPLE1(neg, NULL, 5)
nb_tensor *nb_neg(nb_tensor *x) { return nb_apply(&nb__op_neg, 1, IN(x), NULL); }

/* ---- abs: d/dx = sign(x), 0 at 0 --------------------------------------------------- */
FORWARD_SAVING_INPUT(abs, nbk_abs(in[0]))
static nb_status abs_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_mul(g, nbk_sign(nb_ctx_saved(ctx, 0)));
  return NB_OK;
}
NB_DEFINE_OP(abs, 1, 0);
nb_status nb__sample_abs(nb_op_sample *s) {
  sample_away(nb__sample_input(s, true, NB_SHAPE(5)), 0.0, 0.1);
  NB_SAMPLE_CALL(s, abs, NULL);
  return NB_OK;
}
nb_tensor *nb_abs(nb_tensor *x) { return nb_apply(&nb__op_abs, 1, IN(x), NULL); }

/* ---- exp: d/dx = exp(x), the saved output ---------------------------------- */
FORWARD_SAVING_OUTPUT(exp, nbk_exp(in[0]))
static nb_status exp_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_mul(g, nb_ctx_saved(ctx, 0));
  return NB_OK;
}
NB_DEFINE_OP(exp, 1, 0);
SAMPLE1(exp, NULL, 2, 3)
nb_tensor *nb_exp(nb_tensor *x) { return nb_apply(&nb__op_exp, 1, IN(x), NULL); }

/* ---- log: d/dx = 1/x ----------------------------------------------------------- */
FORWARD_SAVING_INPUT(log, nbk_log(in[0]))
static nb_status log_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_div(g, nb_ctx_saved(ctx, 0));
  return NB_OK;
}
NB_DEFINE_OP(log, 1, 0);
nb_status nb__sample_log(nb_op_sample *s) {
  sample_positive(nb__sample_input(s, true, NB_SHAPE(2, 3)), 0.5);
  NB_SAMPLE_CALL(s, log, NULL);
  return NB_OK;
}
nb_tensor *nb_log(nb_tensor *x) { return nb_apply(&nb__op_log, 1, IN(x), NULL); }

/* ---- log1p: d/dx = 1 / (x + 1) ----------------------------------------------------- */
FORWARD_SAVING_INPUT(log1p, nbk_log1p(in[0]))
static nb_status log1p_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_div(g, nb_add_scalar(nb_ctx_saved(ctx, 0), 1.0));
  return NB_OK;
}
NB_DEFINE_OP(log1p, 1, 0);
nb_status nb__sample_log1p(nb_op_sample *s) {
  nb_tensor *x = nb__sample_input(s, true, NB_SHAPE(2, 3));
  sample_positive(x, 0.0);
  nb_scope_begin();
  nb_copy_(x, nbk_sub_scalar(x, 0.5)); /* > -0.5: also some negative values */
  nb_scope_end();
  NB_SAMPLE_CALL(s, log1p, NULL);
  return NB_OK;
}
nb_tensor *nb_log1p(nb_tensor *x) { return nb_apply(&nb__op_log1p, 1, IN(x), NULL); }

/* ---- expm1: d/dx = y + 1 ------------------------------------------------------------ */
FORWARD_SAVING_OUTPUT(expm1, nbk_expm1(in[0]))
static nb_status expm1_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_mul(g, nb_add_scalar(nb_ctx_saved(ctx, 0), 1.0));
  return NB_OK;
}
NB_DEFINE_OP(expm1, 1, 0);
SAMPLE1(expm1, NULL, 2, 3)
nb_tensor *nb_expm1(nb_tensor *x) { return nb_apply(&nb__op_expm1, 1, IN(x), NULL); }

/* ---- sqrt: d/dx = 1 / (2 y) --------------------------------------------------------- */
FORWARD_SAVING_OUTPUT(sqrt, nbk_sqrt(in[0]))
static nb_status sqrt_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_div(g, nb_mul_scalar(nb_ctx_saved(ctx, 0), 2.0));
  return NB_OK;
}
NB_DEFINE_OP(sqrt, 1, 0);
nb_status nb__sample_sqrt(nb_op_sample *s) {
  sample_positive(nb__sample_input(s, true, NB_SHAPE(2, 3)), 0.5);
  NB_SAMPLE_CALL(s, sqrt, NULL);
  return NB_OK;
}
nb_tensor *nb_sqrt(nb_tensor *x) { return nb_apply(&nb__op_sqrt, 1, IN(x), NULL); }

/* ---- rsqrt: d/dx = -y^3 / 2 --------------------------------------------------------- */
FORWARD_SAVING_OUTPUT(rsqrt, nbk_rsqrt(in[0]))
static nb_status rsqrt_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_mul(nb_mul_scalar(g, -0.5), nb_pow_scalar(nb_ctx_saved(ctx, 0), 3.0));
  return NB_OK;
}
NB_DEFINE_OP(rsqrt, 1, 0);
nb_status nb__sample_rsqrt(nb_op_sample *s) {
  sample_positive(nb__sample_input(s, true, NB_SHAPE(2, 3)), 0.5);
  NB_SAMPLE_CALL(s, rsqrt, NULL);
  return NB_OK;
}
nb_tensor *nb_rsqrt(nb_tensor *x) { return nb_apply(&nb__op_rsqrt, 1, IN(x), NULL); }

/* ---- sin, cos ------------------------------------------------------------------------ */
FORWARD_SAVING_INPUT(sin, nbk_sin(in[0]))
static nb_status sin_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_mul(g, nb_cos(nb_ctx_saved(ctx, 0)));
  return NB_OK;
}
NB_DEFINE_OP(sin, 1, 0);
SAMPLE1(sin, NULL, 2, 3)
nb_tensor *nb_sin(nb_tensor *x) { return nb_apply(&nb__op_sin, 1, IN(x), NULL); }

FORWARD_SAVING_INPUT(cos, nbk_cos(in[0]))
static nb_status cos_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_mul(g, nb_neg(nb_sin(nb_ctx_saved(ctx, 0))));
  return NB_OK;
}
NB_DEFINE_OP(cos, 1, 0);
SAMPLE1(cos, NULL, 2, 3)
nb_tensor *nb_cos(nb_tensor *x) { return nb_apply(&nb__op_cos, 1, IN(x), NULL); }

/* ---- tanh: d/dx = 1 - y^2 --------------------------------------------------------- */
FORWARD_SAVING_OUTPUT(tanh, nbk_tanh(in[0]))
static nb_status tanh_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  nb_tensor *y = nb_ctx_saved(ctx, 0);
  gi[0] = nb_mul(g, nb_rsub_scalar(nb_mul(y, y), 1.0));
  return NB_OK;
}
NB_DEFINE_OP(tanh, 1, 0);
SAMPLE1(tanh, NULL, 2, 3)
nb_tensor *nb_tanh(nb_tensor *x) { return nb_apply(&nb__op_tanh, 1, IN(x), NULL); }

/* ---- sigmoid: d/dx = y (1 - y) ----------------------------------------------------- */
FORWARD_SAVING_OUTPUT(sigmoid, nbk_sigmoid(in[0]))
static nb_status sigmoid_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  nb_tensor *y = nb_ctx_saved(ctx, 0);
  gi[0] = nb_mul(g, nb_mul(y, nb_rsub_scalar(y, 1.0)));
  return NB_OK;
}
NB_DEFINE_OP(sigmoid, 1, 0);
SAMPLE1(sigmoid, NULL, 2, 3)
nb_tensor *nb_sigmoid(nb_tensor *x) { return nb_apply(&nb__op_sigmoid, 1, IN(x), NULL); }

/* ---- relu: the gradient is 0 where y <= 0 (so relu'(0) = 0; a NaN passes it,
 * as PyTorch's threshold_backward) --------------------------------------------------- */
FORWARD_SAVING_OUTPUT(relu, nbk_relu(in[0]))
static nb_status relu_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_relu_backward(g, nb_ctx_saved(ctx, 0));
  return NB_OK;
}
NB_DEFINE_OP(relu, 1, 0);
nb_status nb__sample_relu(nb_op_sample *s) {
  sample_away(nb__sample_input(s, true, NB_SHAPE(3, 4)), 0.0, 0.1);
  NB_SAMPLE_CALL(s, relu, NULL);
  return NB_OK;
}
nb_tensor *nb_relu(nb_tensor *x) { return nb_apply(&nb__op_relu, 1, IN(x), NULL); }

/* ---- relu_backward: y <= 0 ? 0 : g, one fused kernel. Linear in g, so its
 * gradient wrt g is itself; y is a mask and gets none (PyTorch's
 * threshold_backward) ------------------------------------------------------------- */
static nb_tensor *relu_backward_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  if (nb_ctx_needs_grad(ctx, 0)) nb_ctx_save(ctx, in[1]);
  return nbk_relu_backward(in[0], in[1]);
}
static nb_status relu_backward_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  if (nb_ctx_needs_grad(ctx, 0)) gi[0] = nb_relu_backward(g, nb_ctx_saved(ctx, 0));
  return NB_OK;
}
NB_DEFINE_OP(relu_backward, 2, 0);
nb_status nb__sample_relu_backward(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(4)); /* broadcast against y */
  sample_away(nb__sample_input(s, true, NB_SHAPE(3, 4)), 0.0, 0.1);
  NB_SAMPLE_CALL(s, relu_backward, NULL);
  return NB_OK;
}
nb_tensor *nb_relu_backward(nb_tensor *g, nb_tensor *y) {
  return nb_apply(&nb__op_relu_backward, 2, IN2(g, y), NULL);
}

/* ---- leaky_relu: g where x > 0, else slope * g ------------------------------------- */
FORWARD_SAVING_INPUT(leaky_relu, nbk_leaky_relu(in[0], P(scalar_params)->s))
static nb_status leaky_relu_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  nb_tensor *pos = nb_gt_scalar(nb_ctx_saved(ctx, 0), 0.0);
  gi[0] = nb_where(pos, g, nb_mul_scalar(g, CP(scalar_params)->s));
  return NB_OK;
}
NB_DEFINE_OP_P(leaky_relu, 1, scalar_params, 0);
nb_status nb__sample_leaky_relu(nb_op_sample *s) {
  static scalar_params p = {0.1};
  sample_away(nb__sample_input(s, true, NB_SHAPE(3, 4)), 0.0, 0.1);
  NB_SAMPLE_CALL(s, leaky_relu, &p);
  return NB_OK;
}
nb_tensor *nb_leaky_relu(nb_tensor *x, double negative_slope) {
  return nb_apply(&nb__op_leaky_relu, 1, IN(x), &(scalar_params){negative_slope});
}

/* ---- elu: g where x > 0 (or NaN), else g alpha exp(x). exp sees min(x, 0), so
 * the unselected branch never overflows into a NaN second derivative. ------------- */
FORWARD_SAVING_INPUT(elu, nbk_elu(in[0], P(scalar_params)->s))
static nb_status elu_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  nb_tensor *x = nb_ctx_saved(ctx, 0);
  nb_tensor *neg = nb_mul(nb_mul_scalar(g, CP(scalar_params)->s), nb_exp(nb_clamp(x, NAN, 0.0)));
  gi[0] = nb_where(nb_le_scalar(x, 0.0), neg, g);
  return NB_OK;
}
NB_DEFINE_OP_P(elu, 1, scalar_params, 0);
nb_status nb__sample_elu(nb_op_sample *s) {
  static scalar_params p = {1.5};
  sample_away(nb__sample_input(s, true, NB_SHAPE(3, 4)), 0.0, 0.1);
  NB_SAMPLE_CALL(s, elu, &p);
  return NB_OK;
}
nb_tensor *nb_elu(nb_tensor *x, double alpha) {
  return nb_apply(&nb__op_elu, 1, IN(x), &(scalar_params){alpha});
}

/* ---- gelu ------------------------------------------------------------------------------
 * exact:  d/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi);
 * tanh:   with t = tanh(k (x + c x^3)), d/dx = (1 + t) / 2 + x / 2 (1 - t^2) k (1 + 3 c x^2).
 * Both are written with differentiable ops. Phi has no kernel of its own: it is
 * a file-local op (no row; gelu's gradgradcheck covers it) whose forward is
 * gelu(x) / x (1/2 at 0) - the same 0.5 (1 + erf(x / sqrt 2)) PyTorch's
 * backward evaluates, to within rounding - and whose backward is phi. */
#define K_SQRT_2_PI 0.79788456080286535587989211986876  /* sqrt(2 / pi) */
#define K_1_SQRT_2PI 0.39894228040143267793994605993438 /* 1 / sqrt(2 pi) */
#define K_GELU_C 0.044715

typedef struct gelu_params {
  bool tanh_approx;
} gelu_params;

static nb_tensor *normal_pdf(nb_tensor *x) {
  return nb_mul_scalar(nb_exp(nb_mul_scalar(nb_mul(x, x), -0.5)), K_1_SQRT_2PI);
}
static nb_tensor *normal_cdf_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  nb_ctx_save(ctx, in[0]);
  nb_tensor *gelu = nbk_gelu(in[0], false);
  nb_tensor *ratio = gelu ? nbk_div(gelu, in[0]) : NULL;
  nb_tensor *at_zero = ratio ? nb_eq_scalar(in[0], 0.0) : NULL;
  nb_tensor *half = at_zero ? nb_scalar(nb_dtype_of(ratio), 0.5) : NULL;
  nb_tensor *cdf = half ? nbk_where(at_zero, half, ratio) : NULL;
  nb_free(half);
  nb_free(at_zero);
  nb_free(ratio);
  nb_free(gelu);
  return cdf;
}
static nb_status normal_cdf_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_mul(g, normal_pdf(nb_ctx_saved(ctx, 0)));
  return NB_OK;
}
static const nb_op_def normal_cdf_op = {"normal_cdf",        1, normal_cdf_forward,
                                        normal_cdf_backward, 0, 0};

FORWARD_SAVING_INPUT(gelu, nbk_gelu(in[0], P(gelu_params)->tanh_approx))
static nb_status gelu_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  nb_tensor *x = nb_ctx_saved(ctx, 0), *d;
  if (!CP(gelu_params)->tanh_approx) {
    nb_tensor *cdf = nb_apply(&normal_cdf_op, 1, IN(x), NULL);
    d = nb_add(cdf, nb_mul(x, normal_pdf(x)));
  } else {
    nb_tensor *x2 = nb_mul(x, x);
    nb_tensor *inner =
        nb_mul_scalar(nb_add(x, nb_mul_scalar(nb_mul(x2, x), K_GELU_C)), K_SQRT_2_PI);
    nb_tensor *t = nb_tanh(inner);
    nb_tensor *left = nb_mul_scalar(nb_add_scalar(t, 1.0), 0.5);
    nb_tensor *slope =
        nb_mul_scalar(nb_add_scalar(nb_mul_scalar(x2, 3 * K_GELU_C), 1.0), K_SQRT_2_PI);
    nb_tensor *right =
        nb_mul(nb_mul(nb_mul_scalar(x, 0.5), nb_rsub_scalar(nb_mul(t, t), 1.0)), slope);
    d = nb_add(left, right);
  }
  gi[0] = nb_mul(g, d);
  return NB_OK;
}
NB_DEFINE_OP_P(gelu, 1, gelu_params, 0);
/* Both forms in one sample: gelu(x0, exact) + gelu(x1, tanh). */
static nb_tensor *gelu_both(nb_tensor *const *in, int n, void *user) {
  nb_tensor *a = nb_gelu(in[0], false), *b = nb_gelu(in[1], true);
  nb_tensor *y = nb_add(a, b);
  nb_free(b);
  nb_free(a);
  return y;
}
nb_status nb__sample_gelu(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(3, 4));
  nb__sample_input(s, true, NB_SHAPE(3, 4));
  s->fn = gelu_both;
  s->user = NULL;
  return NB_OK;
}
nb_tensor *nb_gelu(nb_tensor *x, bool tanh_approx) {
  return nb_apply(&nb__op_gelu, 1, IN(x), &(gelu_params){tanh_approx});
}

/* ---- silu: d/dx = s (1 + x (1 - s)), s = sigmoid(x) ------------------------------------ */
FORWARD_SAVING_INPUT(silu, nbk_silu(in[0]))
static nb_status silu_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  nb_tensor *x = nb_ctx_saved(ctx, 0), *sig = nb_sigmoid(x);
  gi[0] = nb_mul(nb_mul(g, sig), nb_add_scalar(nb_mul(x, nb_rsub_scalar(sig, 1.0)), 1.0));
  return NB_OK;
}
NB_DEFINE_OP(silu, 1, 0);
SAMPLE1(silu, NULL, 3, 4)
nb_tensor *nb_silu(nb_tensor *x) { return nb_apply(&nb__op_silu, 1, IN(x), NULL); }

/* ---- softplus (a = beta, b = threshold): g where beta x > threshold, else
 * g sigmoid(beta x) ------------------------------------------------------------------ */
FORWARD_SAVING_INPUT(softplus, nbk_softplus(in[0], P(pair_params)->a, P(pair_params)->b))
static nb_status softplus_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const pair_params *p = CP(pair_params);
  nb_tensor *x = nb_ctx_saved(ctx, 0);
  nb_tensor *linear = nb_gt_scalar(nbk_mul_scalar(x, p->a), p->b); /* as the kernel decides */
  gi[0] = nb_where(linear, g, nb_mul(g, nb_sigmoid(nb_mul_scalar(x, p->a))));
  return NB_OK;
}
NB_DEFINE_OP_P(softplus, 1, pair_params, 0);
nb_status nb__sample_softplus(nb_op_sample *s) {
  static pair_params p = {2.0, 1.0}; /* linear above x = 0.5: both regimes occur */
  sample_away(nb__sample_input(s, true, NB_SHAPE(3, 4)), 0.5, 0.1);
  NB_SAMPLE_CALL(s, softplus, &p);
  return NB_OK;
}
nb_tensor *nb_softplus(nb_tensor *x, double beta, double threshold) {
  return nb_apply(&nb__op_softplus, 1, IN(x), &(pair_params){beta, threshold});
}

/* ---- hardtanh (a = min_val, b = max_val): 0 where x <= min_val or x >= max_val ---- */
FORWARD_SAVING_INPUT(hardtanh, nbk_clamp(in[0], P(pair_params)->a, P(pair_params)->b))
static nb_status hardtanh_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const pair_params *p = CP(pair_params);
  nb_tensor *x = nb_ctx_saved(ctx, 0);
  nb_tensor *out = nb_logical_or(nb_le_scalar(x, p->a), nb_ge_scalar(x, p->b));
  gi[0] = nb_where(out, zero_of(g), g);
  return NB_OK;
}
NB_DEFINE_OP_P(hardtanh, 1, pair_params, 0);
nb_status nb__sample_hardtanh(nb_op_sample *s) {
  static pair_params p = {-0.5, 0.8};
  nb_tensor *x = nb__sample_input(s, true, NB_SHAPE(3, 4));
  sample_away(x, p.a, 0.1);
  sample_away(x, p.b, 0.1);
  NB_SAMPLE_CALL(s, hardtanh, &p);
  return NB_OK;
}
nb_tensor *nb_hardtanh(nb_tensor *x, double min_val, double max_val) {
  NB_CHECK_NULL("hardtanh", x);
  if (nb_dtype_of(x) == NB_DTYPE_BOOL)
    return nb__fail_null(NB_ERR_DTYPE, "hardtanh: bool input %s is not supported", nb__shp(x));
  if (isnan(min_val) || isnan(max_val))
    return nb__fail_null(NB_ERR_ARG, "hardtanh: bounds must be numbers, got [%g, %g]", min_val,
                         max_val);
  return nb_apply(&nb__op_hardtanh, 1, IN(x), &(pair_params){min_val, max_val});
}

/* ---- clamp (a = lo, b = hi; NaN = no bound): g where lo <= x <= hi ------------------ */
FORWARD_SAVING_INPUT(clamp, nbk_clamp(in[0], P(pair_params)->a, P(pair_params)->b))
static nb_status clamp_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const pair_params *p = CP(pair_params);
  nb_tensor *x = nb_ctx_saved(ctx, 0), *in;
  if (isnan(p->a))
    in = nb_le_scalar(x, p->b);
  else if (isnan(p->b))
    in = nb_ge_scalar(x, p->a);
  else /* lo > hi: nothing passes, as in PyTorch */
    in = nb_logical_and(nb_ge_scalar(x, p->a), nb_le_scalar(x, p->b));
  gi[0] = nb_where(in, g, zero_of(g));
  return NB_OK;
}
NB_DEFINE_OP_P(clamp, 1, pair_params, 0);
nb_status nb__sample_clamp(nb_op_sample *s) {
  static pair_params p = {-0.5, 0.7};
  nb_tensor *x = nb__sample_input(s, true, NB_SHAPE(3, 4));
  sample_away(x, p.a, 0.1);
  sample_away(x, p.b, 0.1);
  NB_SAMPLE_CALL(s, clamp, &p);
  return NB_OK;
}
nb_tensor *nb_clamp(nb_tensor *x, double lo, double hi) {
  return nb_apply(&nb__op_clamp, 1, IN(x), &(pair_params){lo, hi});
}

/* ---- scalar forms ------------------------------------------------------------------ */
static nb_tensor *add_scalar_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  return nbk_add_scalar(in[0], P(scalar_params)->s);
}
static nb_status add_scalar_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = g;
  return NB_OK;
}
NB_DEFINE_OP_P(add_scalar, 1, scalar_params, 0);
static scalar_params add_scalar_sample = {2.5};
SAMPLE1(add_scalar, &add_scalar_sample, 4)
nb_tensor *nb_add_scalar(nb_tensor *x, double s) {
  return nb_apply(&nb__op_add_scalar, 1, IN(x), &(scalar_params){s});
}
nb_tensor *nb_sub_scalar(nb_tensor *x, double s) { return nb_add_scalar(x, -s); }

static nb_tensor *mul_scalar_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  return nbk_mul_scalar(in[0], P(scalar_params)->s);
}
static nb_status mul_scalar_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_mul_scalar(g, CP(scalar_params)->s);
  return NB_OK;
}
NB_DEFINE_OP_P(mul_scalar, 1, scalar_params, 0);
static scalar_params mul_scalar_sample = {-1.5};
SAMPLE1(mul_scalar, &mul_scalar_sample, 2, 2)
nb_tensor *nb_mul_scalar(nb_tensor *x, double s) {
  return nb_apply(&nb__op_mul_scalar, 1, IN(x), &(scalar_params){s});
}
nb_tensor *nb_div_scalar(nb_tensor *x, double s) {
  NB_CHECK_NULL("div_scalar", x);
  if (s == 0) return nb__fail_null(NB_ERR_ARG, "div_scalar: division of %s by zero", nb__shp(x));
  return nb_mul_scalar(x, 1.0 / s);
}

/* x ** c: d/dx = c x^(c-1), 0 for c = 0 */
FORWARD_SAVING_INPUT(pow_scalar, nbk_pow_scalar(in[0], P(scalar_params)->s))
static nb_status pow_scalar_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  double c = CP(scalar_params)->s;
  if (c == 0) {
    gi[0] = nb_mul_scalar(g, 0.0);
    return NB_OK;
  }
  nb_tensor *x = nb_ctx_saved(ctx, 0);
  gi[0] = nb_mul(g, nb_mul_scalar(nb_pow_scalar(x, c - 1), c));
  return NB_OK;
}
NB_DEFINE_OP_P(pow_scalar, 1, scalar_params, 0);
static scalar_params pow_scalar_sample = {3.0};
SAMPLE1(pow_scalar, &pow_scalar_sample, 3)
nb_tensor *nb_pow_scalar(nb_tensor *x, double exponent) {
  return nb_apply(&nb__op_pow_scalar, 1, IN(x), &(scalar_params){exponent});
}

/* s - x: d/dx = -1 */
static nb_tensor *rsub_scalar_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  return nbk_rsub_scalar(in[0], P(scalar_params)->s);
}
static nb_status rsub_scalar_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_neg(g);
  return NB_OK;
}
NB_DEFINE_OP_P(rsub_scalar, 1, scalar_params, 0);
static scalar_params rsub_scalar_sample = {1.5};
SAMPLE1(rsub_scalar, &rsub_scalar_sample, 2, 3)
nb_tensor *nb_rsub_scalar(nb_tensor *x, double s) {
  return nb_apply(&nb__op_rsub_scalar, 1, IN(x), &(scalar_params){s});
}

/* s / x: d/dx = -s / x^2 = -y / x */
static nb_tensor *rdiv_scalar_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  nb_tensor *y = nbk_rdiv_scalar(in[0], P(scalar_params)->s);
  nb_ctx_save(ctx, in[0]);
  nb_ctx_save(ctx, y);
  return y;
}
static nb_status rdiv_scalar_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  nb_tensor *x = nb_ctx_saved(ctx, 0), *y = nb_ctx_saved(ctx, 1);
  gi[0] = nb_neg(nb_div(nb_mul(g, y), x));
  return NB_OK;
}
NB_DEFINE_OP_P(rdiv_scalar, 1, scalar_params, 0);
nb_status nb__sample_rdiv_scalar(nb_op_sample *s) {
  static scalar_params p = {-2.0};
  sample_away(nb__sample_input(s, true, NB_SHAPE(2, 3)), 0.0, 0.5);
  NB_SAMPLE_CALL(s, rdiv_scalar, &p);
  return NB_OK;
}
nb_tensor *nb_rdiv_scalar(nb_tensor *x, double s) {
  return nb_apply(&nb__op_rdiv_scalar, 1, IN(x), &(scalar_params){s});
}

/* base ** x: d/dx = y log(base); for base 0, 0 where x >= 0 (PyTorch). */
static nb_tensor *rpow_scalar_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  nb_tensor *y = nbk_rpow_scalar(in[0], P(scalar_params)->s);
  nb_ctx_save(ctx, y);
  if (P(scalar_params)->s == 0) nb_ctx_save(ctx, in[0]);
  return y;
}
static nb_status rpow_scalar_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  double base = CP(scalar_params)->s;
  nb_tensor *d = nb_mul_scalar(nb_ctx_saved(ctx, 0), log(base));
  if (base == 0) d = nb_where(nb_ge_scalar(nb_ctx_saved(ctx, 1), 0.0), zero_of(g), d);
  gi[0] = nb_mul(g, d);
  return NB_OK;
}
NB_DEFINE_OP_P(rpow_scalar, 1, scalar_params, 0);
static scalar_params rpow_scalar_sample = {2.5};
SAMPLE1(rpow_scalar, &rpow_scalar_sample, 2, 3)
nb_tensor *nb_rpow_scalar(nb_tensor *x, double base) {
  return nb_apply(&nb__op_rpow_scalar, 1, IN(x), &(scalar_params){base});
}

/* ---- to: dtype conversion; the engine converts the gradient back ---------------------- */
typedef struct to_params {
  nb_dtype dtype;
} to_params;
static nb_tensor *to_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  return nbk_to(in[0], P(to_params)->dtype);
}
static nb_status to_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = g;
  return NB_OK;
}
NB_DEFINE_OP_P(to, 1, to_params, 0);
static to_params to_sample = {NB_DTYPE_FLOAT64}; /* float32 would defeat finite differences */
SAMPLE1(to, &to_sample, 3)
nb_tensor *nb_to(nb_tensor *x, nb_dtype dtype) {
  return nb_apply(&nb__op_to, 1, IN(x), &(to_params){dtype});
}
