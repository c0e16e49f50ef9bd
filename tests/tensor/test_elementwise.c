/* tests/tensor/test_elementwise.c - tests of tensor/elementwise.c.
 *
 * Owns: values and dtypes of every elementwise kernel against PyTorch
 * (tests/fixtures/elementwise.txt from tools/fixtures/gen_elementwise.py, swept
 * by case-name prefix), type promotion, broadcasting, non-contiguous views,
 * empty and 0-d tensors, special values, in-place forms (version bump,
 * aliasing), error paths, and identical results with 1 and 2 threads.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "support/nbtest.h"
#include "tensor/tensor_impl.h" /* NB_STREAM_MIN_BYTES */

TestSuite(elementwise, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

/* ---- the functions under test, by the names the fixture uses -------------- */

typedef nb_tensor *(*unary_fn)(nb_tensor *x, double p0, double p1);
#define UNARY(NAME, CALL)                                                                          \
  static nb_tensor *u_##NAME(nb_tensor *x, double p0, double p1) {                                 \
    (void)p0;                                                                                      \
    (void)p1;                                                                                      \
    return CALL;                                                                                   \
  }
UNARY(neg, nbk_neg(x))
UNARY(exp, nbk_exp(x))
UNARY(log, nbk_log(x))
UNARY(log1p, nbk_log1p(x))
UNARY(expm1, nbk_expm1(x))
UNARY(sqrt, nbk_sqrt(x))
UNARY(rsqrt, nbk_rsqrt(x))
UNARY(abs, nbk_abs(x))
UNARY(sign, nbk_sign(x))
UNARY(sin, nbk_sin(x))
UNARY(cos, nbk_cos(x))
UNARY(tanh, nbk_tanh(x))
UNARY(sigmoid, nbk_sigmoid(x))
UNARY(relu, nbk_relu(x))
UNARY(gelu, nbk_gelu(x, false))
UNARY(gelu_tanh, nbk_gelu(x, true))
UNARY(silu, nbk_silu(x))
UNARY(softplus, nbk_softplus(x, p0, p1))
UNARY(leaky_relu, nbk_leaky_relu(x, p0))
UNARY(elu, nbk_elu(x, p0))
UNARY(floor, nb_floor(x))
UNARY(ceil, nb_ceil(x))
UNARY(round, nb_round(x))
UNARY(clamp, nbk_clamp(x, p0, p1))

static const struct {
  const char *name;
  unary_fn fn;
} unary_ops[] = {
#define U(NAME)                                                                                    \
  { #NAME, u_##NAME }
    U(neg),      U(exp),        U(log), U(log1p),     U(expm1),   U(sqrt), U(rsqrt), U(abs),
    U(sign),     U(sin),        U(cos), U(tanh),      U(sigmoid), U(relu), U(gelu),  U(silu),
    U(softplus), U(leaky_relu), U(elu), U(gelu_tanh), U(floor),   U(ceil), U(round), U(clamp),
#undef U
};

static const struct {
  const char *name;
  nb_tensor *(*fn)(nb_tensor *, nb_tensor *);
} binary_ops[] = {
    {"add", nbk_add},
    {"sub", nbk_sub},
    {"mul", nbk_mul},
    {"div", nbk_div},
    {"pow", nbk_pow},
    {"maximum", nbk_maximum},
    {"minimum", nbk_minimum},
    {"eq", nb_eq},
    {"ne", nb_ne},
    {"lt", nb_lt},
    {"le", nb_le},
    {"gt", nb_gt},
    {"ge", nb_ge},
    {"logical_and", nb_logical_and},
    {"logical_or", nb_logical_or},
};

static const struct {
  const char *name;
  nb_tensor *(*fn)(nb_tensor *, double);
} scalar_ops[] = {
    {"add_scalar", nbk_add_scalar},   {"sub_scalar", nbk_sub_scalar},
    {"rsub_scalar", nbk_rsub_scalar}, {"mul_scalar", nbk_mul_scalar},
    {"div_scalar", nbk_div_scalar},   {"rdiv_scalar", nbk_rdiv_scalar},
    {"pow_scalar", nbk_pow_scalar},   {"rpow_scalar", nbk_rpow_scalar},
    {"eq_scalar", nb_eq_scalar},      {"ne_scalar", nb_ne_scalar},
    {"lt_scalar", nb_lt_scalar},      {"le_scalar", nb_le_scalar},
    {"gt_scalar", nb_gt_scalar},      {"ge_scalar", nb_ge_scalar},
};

/* In-place forms with operands o0, o1 and params p0, p1 (unused ones NULL/0). */
typedef nb_status (*inplace_fn)(nb_tensor *x, nb_tensor *o0, nb_tensor *o1, double p0, double p1);
#define INPLACE(NAME, CALL)                                                                        \
  static nb_status i_##NAME(nb_tensor *x, nb_tensor *o0, nb_tensor *o1, double p0, double p1) {    \
    (void)o0;                                                                                      \
    (void)o1;                                                                                      \
    (void)p0;                                                                                      \
    (void)p1;                                                                                      \
    return CALL;                                                                                   \
  }
INPLACE(add_, nb_add_(x, o0))
INPLACE(sub_, nb_sub_(x, o0))
INPLACE(mul_, nb_mul_(x, o0))
INPLACE(div_, nb_div_(x, o0))
INPLACE(add_scalar_, nb_add_scalar_(x, p0))
INPLACE(mul_scalar_, nb_mul_scalar_(x, p0))
INPLACE(axpy_, nb_axpy_(x, p0, o0))
INPLACE(addcmul_, nb_addcmul_(x, p0, o0, o1))
INPLACE(addcdiv_, nb_addcdiv_(x, p0, o0, o1))
INPLACE(clamp_, nb_clamp_(x, p0, p1))

static const struct {
  const char *name;
  inplace_fn fn;
} inplace_ops[] = {
#define I(NAME)                                                                                    \
  { #NAME, i_##NAME }
    I(add_),        I(sub_),  I(mul_),     I(div_),     I(add_scalar_),
    I(mul_scalar_), I(axpy_), I(addcmul_), I(addcdiv_), I(clamp_),
#undef I
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers -------------------------------------------------------------- */

/* The op of a case named "<kind>.<op>.<...>" into buf. */
static const char *case_op(const nbt_case *c, char *buf, size_t size) {
  const char *name = nbt_case_name(c), *start = strchr(name, '.');
  cr_assert_not_null(start, "case %s has no op", name);
  start++;
  const char *end = strchr(start, '.');
  size_t n = end ? (size_t)(end - start) : strlen(start);
  cr_assert_lt(n, size);
  memcpy(buf, start, n);
  buf[n] = '\0';
  return buf;
}

static bool has_prefix(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

static double param_or(const nbt_case *c, const char *name, double dflt) {
  return nbt_case_has_param(c, name) ? nbt_case_param(c, name) : dflt;
}

/* The case either expects `out` (compared with y, which is freed) or records
 * `error`: y must be NULL with that status and a message naming op. */
static void check_result(const nbt_case *c, const char *op, nb_tensor *y) {
  if (nbt_case_has_param(c, "error")) {
    int code = (int)nbt_case_param(c, "error");
    cr_assert_null(y, "%s: expected %s, got a tensor", nbt_case_where(c),
                   nb_status_str((nb_status)code));
    cr_assert_eq(nb_last_status(), code, "%s: status %s (%s), expected %s", nbt_case_where(c),
                 nb_status_str(nb_last_status()), nb_errmsg(), nb_status_str((nb_status)code));
    cr_assert_not_null(strstr(nb_errmsg(), op), "%s: message \"%s\" does not name %s",
                       nbt_case_where(c), nb_errmsg(), op);
    nb_clear_error();
    return;
  }
  nbt_case_check(c, "out", y, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT);
  nb_free(y);
}

/* ---- fixture sweeps ------------------------------------------------------- */

Test(elementwise, unary_vs_pytorch) {
  nbt_fixture *f = nbt_fixture_load("elementwise");
  int run = 0;
  for (int i = 0; i < nbt_fixture_num_cases(f); i++) {
    const nbt_case *c = nbt_fixture_case_index(f, i);
    if (!has_prefix(nbt_case_name(c), "u.")) continue;
    char op[64];
    case_op(c, op, sizeof op);
    unary_fn fn = NULL;
    for (size_t k = 0; k < COUNT(unary_ops); k++)
      if (strcmp(unary_ops[k].name, op) == 0) fn = unary_ops[k].fn;
    cr_assert_not_null(fn, "no unary op %s", op);
    nb_tensor *x = nbt_case_tensor(c, "x");
    nb_tensor *y = fn(x, param_or(c, "p0", 0), param_or(c, "p1", 0));
    check_result(c, strcmp(op, "gelu_tanh") == 0 ? "gelu" : op, y);
    nb_free(x);
    run++;
  }
  cr_assert_geq(run, 100, "only %d unary cases", run);
  nbt_fixture_free(f);
}

Test(elementwise, binary_vs_pytorch) {
  nbt_fixture *f = nbt_fixture_load("elementwise");
  int run = 0;
  for (int i = 0; i < nbt_fixture_num_cases(f); i++) {
    const nbt_case *c = nbt_fixture_case_index(f, i);
    if (!has_prefix(nbt_case_name(c), "b.")) continue;
    char op[64];
    case_op(c, op, sizeof op);
    nb_tensor *(*fn)(nb_tensor *, nb_tensor *) = NULL;
    for (size_t k = 0; k < COUNT(binary_ops); k++)
      if (strcmp(binary_ops[k].name, op) == 0) fn = binary_ops[k].fn;
    cr_assert_not_null(fn, "no binary op %s", op);
    nb_tensor *a = nbt_case_tensor(c, "a"), *b = nbt_case_tensor(c, "b");
    check_result(c, op, fn(a, b));
    nb_free(a);
    nb_free(b);
    run++;
  }
  cr_assert_geq(run, 15 * 16, "only %d binary cases", run);
  nbt_fixture_free(f);
}

Test(elementwise, scalar_forms_vs_pytorch) {
  nbt_fixture *f = nbt_fixture_load("elementwise");
  int run = 0;
  for (int i = 0; i < nbt_fixture_num_cases(f); i++) {
    const nbt_case *c = nbt_fixture_case_index(f, i);
    if (!has_prefix(nbt_case_name(c), "s.")) continue;
    char op[64];
    case_op(c, op, sizeof op);
    nb_tensor *(*fn)(nb_tensor *, double) = NULL;
    for (size_t k = 0; k < COUNT(scalar_ops); k++)
      if (strcmp(scalar_ops[k].name, op) == 0) fn = scalar_ops[k].fn;
    cr_assert_not_null(fn, "no scalar op %s", op);
    nb_tensor *x = nbt_case_tensor(c, "x");
    check_result(c, op, fn(x, nbt_case_param(c, "s")));
    nb_free(x);
    run++;
  }
  cr_assert_geq(run, 14 * 4 * 5, "only %d scalar cases", run);
  nbt_fixture_free(f);
}

Test(elementwise, where_vs_pytorch) {
  nbt_fixture *f = nbt_fixture_load("elementwise");
  int run = 0;
  for (int i = 0; i < nbt_fixture_num_cases(f); i++) {
    const nbt_case *c = nbt_fixture_case_index(f, i);
    if (!has_prefix(nbt_case_name(c), "w.")) continue;
    nb_tensor *cond = nbt_case_tensor(c, "cond");
    nb_tensor *a = nbt_case_tensor(c, "a"), *b = nbt_case_tensor(c, "b");
    check_result(c, "where", nbk_where(cond, a, b));
    nb_free(cond);
    nb_free(a);
    nb_free(b);
    run++;
  }
  cr_assert_geq(run, 7);
  nbt_fixture_free(f);
}

Test(elementwise, inplace_vs_pytorch) {
  nbt_fixture *f = nbt_fixture_load("elementwise");
  int run = 0;
  for (int i = 0; i < nbt_fixture_num_cases(f); i++) {
    const nbt_case *c = nbt_fixture_case_index(f, i);
    if (!has_prefix(nbt_case_name(c), "i.")) continue;
    char op[64];
    case_op(c, op, sizeof op);
    inplace_fn fn = NULL;
    for (size_t k = 0; k < COUNT(inplace_ops); k++)
      if (strcmp(inplace_ops[k].name, op) == 0) fn = inplace_ops[k].fn;
    cr_assert_not_null(fn, "no in-place op %s", op);
    nb_tensor *x = nbt_case_tensor(c, "x");
    nb_tensor *o0 = nbt_case_has_tensor(c, "o0") ? nbt_case_tensor(c, "o0") : NULL;
    nb_tensor *o1 = nbt_case_has_tensor(c, "o1") ? nbt_case_tensor(c, "o1") : NULL;
    uint64_t v0 = nb_version(x);
    nb_status st = fn(x, o0, o1, param_or(c, "p0", 0), param_or(c, "p1", 0));
    if (nbt_case_has_param(c, "error")) {
      int code = (int)nbt_case_param(c, "error");
      cr_assert_eq(st, code, "%s: status %s (%s), expected %s", nbt_case_where(c),
                   nb_status_str(st), nb_errmsg(), nb_status_str((nb_status)code));
      cr_assert_not_null(strstr(nb_errmsg(), op), "%s: message \"%s\"", nbt_case_where(c),
                         nb_errmsg());
      cr_assert_eq(nb_version(x), v0, "%s: version bumped on error", nbt_case_where(c));
      nbt_case_check(c, "x", x, 0, 0); /* untouched */
      nb_clear_error();
    } else {
      nbt_assert_ok(st, nbt_case_where(c));
      cr_assert_gt(nb_version(x), v0, "%s: version not bumped", nbt_case_where(c));
      nbt_case_check(c, "out", x, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT);
    }
    nb_free(x);
    nb_free(o0);
    nb_free(o1);
    run++;
  }
  cr_assert_geq(run, 30);
  nbt_fixture_free(f);
}

/* ---- non-contiguous views ------------------------------------------------- */

Test(elementwise, noncontiguous_views) {
  nbt_fixture *f = nbt_fixture_load("elementwise");
  const nbt_case *c = nbt_fixture_case(f, "nc.views");
  nb_tensor *a = nbt_case_tensor(c, "a"), *b = nbt_case_tensor(c, "b");
  nb_tensor *v = nbt_case_tensor(c, "v"), *w = nbt_case_tensor(c, "w");
  nb_scope_begin();
  nb_tensor *at = nbk_transpose(a, 0, 1);
  cr_assert(!nb_is_contiguous(at));
  nbt_case_check(c, "add_t", nbk_add(at, b), NBT_TOL_DEFAULT, NBT_TOL_DEFAULT);
  nb_tensor *a_step = nbk_slice(a, 1, 0, 6, 2);
  cr_assert(!nb_is_contiguous(a_step));
  nbt_case_check(c, "exp_step", nbk_exp(a_step), NBT_TOL_DEFAULT, NBT_TOL_DEFAULT);
  nb_tensor *a_rows = nbk_slice(a, 0, 0, 4, 2);
  nb_tensor *bt_rows = nbk_slice(nbk_transpose(b, 0, 1), 0, 1, 4, 2);
  nbt_case_check(c, "mul_step_rows", nbk_mul(a_rows, bt_rows), NBT_TOL_DEFAULT, NBT_TOL_DEFAULT);
  nb_tensor *vx = nbk_expand(v, NB_SHAPE(4, 6));
  cr_assert_eq(nb_stride(vx, 0), 0);
  nbt_case_check(c, "mul_expand", nbk_mul(a, vx), NBT_TOL_DEFAULT, NBT_TOL_DEFAULT);
  nbt_case_check(c, "sigmoid_expand", nbk_sigmoid(vx), NBT_TOL_DEFAULT, NBT_TOL_DEFAULT);
  nbt_case_check(c, "gt_t", nb_gt(at, b), 0, 0);
  nbt_case_check(c, "where_t", nbk_where(nb_gt_scalar(at, 0), at, b), NBT_TOL_DEFAULT,
                 NBT_TOL_DEFAULT);
  /* In place into a stepped view and into a transposed view of a copy of a. */
  nb_tensor *y = nbk_clone(a);
  nbt_assert_ok(nb_add_(nbk_slice(y, 1, 0, 6, 2), w), "add_ into a stepped view");
  nbt_case_check(c, "inplace_step", y, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT);
  nb_tensor *z = nbk_clone(a);
  nbt_assert_ok(nb_mul_(nbk_transpose(z, 0, 1), b), "mul_ into a transposed view");
  nbt_case_check(c, "inplace_t", z, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT);
  nbt_assert_ok(nb_scope_end(), "scope_end");
  nb_free(a);
  nb_free(b);
  nb_free(v);
  nb_free(w);
  nbt_fixture_free(f);
}

/* ---- shapes: empty and 0-d ------------------------------------------------ */

Test(elementwise, empty_and_zero_dim) {
  nb_scope_begin();
  nb_tensor *e = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0, 3));
  nbt_assert_shape(nbk_add(e, nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 1, 3))), NB_SHAPE(2, 0, 3),
                   "[0,3] + [2,1,3]");
  nbt_assert_shape(nbk_gelu(e, true), NB_SHAPE(0, 3), "gelu of empty");
  nbt_assert_shape(nb_lt_scalar(e, 1), NB_SHAPE(0, 3), "lt_scalar of empty");
  nbt_assert_shape(nbk_where(nb_zeros(NB_DTYPE_BOOL, NB_SHAPE(0, 1)), e, e), NB_SHAPE(0, 3),
                   "where of empty");
  nbt_assert_ok(nb_add_(e, nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3))), "add_ into empty");
  nbt_assert_ok(nb_clamp_(e, 0, 1), "clamp_ of empty");

  nb_tensor *s = nb_scalar(NB_DTYPE_FLOAT64, 2.0);
  nb_tensor *y = nbk_mul(s, s);
  nbt_assert_shape(y, NB_SCALAR_SHAPE, "0-d * 0-d");
  cr_assert_float_eq(nb_item(y), 4.0, 1e-12);
  y = nbk_sub(nb_arange(NB_DTYPE_FLOAT64, 0, 3, 1), s);
  nbt_assert_values(y, ((double[]){-2, -1, 0}), 3, 0, 0, "arange - 0-d");
  y = nbk_rsqrt(nb_scalar(NB_DTYPE_INT64, 4));
  nbt_assert_shape(y, NB_SCALAR_SHAPE, "rsqrt of 0-d");
  cr_assert_eq(nb_dtype_of(y), NB_DTYPE_FLOAT32);
  cr_assert_float_eq(nb_item(y), 0.5, 1e-7);
  nbt_assert_ok(nb_axpy_(s, 3, nb_scalar(NB_DTYPE_FLOAT64, 1)), "axpy_ 0-d");
  cr_assert_float_eq(nb_item(s), 5.0, 1e-12);
  nbt_assert_ok(nb_scope_end(), "scope_end");
}

/* ---- special values ------------------------------------------------------- */

Test(elementwise, large_magnitudes_stay_finite) {
  nb_scope_begin();
  for (int d = 0; d < 2; d++) {
    nb_dtype dt = d ? NB_DTYPE_FLOAT64 : NB_DTYPE_FLOAT32;
    nb_tensor *x = nb_from_data(NB_DTYPE_FLOAT64, (double[]){-1000, -100, 100, 1000}, NB_SHAPE(4));
    x = nbk_to(x, dt);
    nbt_assert_values(nbk_sigmoid(x), ((double[]){0, 0, 1, 1}), 4, 0, 1e-30, "sigmoid");
    nbt_assert_values(nbk_tanh(x), ((double[]){-1, -1, 1, 1}), 4, 0, 0, "tanh");
    nbt_assert_values(nbk_softplus(x, 1, 20), ((double[]){0, 0, 100, 1000}), 4, 0, 1e-30,
                      "softplus");
    nbt_assert_values(nbk_silu(x), ((double[]){0, 0, 100, 1000}), 4, 0, 1e-30, "silu");
    nbt_assert_values(nbk_exp(x), ((double[]){0, 0, d ? exp(100.0) : INFINITY, INFINITY}), 4,
                      NBT_TOL_DEFAULT, 1e-30, "exp");
    nbt_assert_values(nbk_gelu(x, false), ((double[]){0, 0, 100, 1000}), 4, 0, 0, "gelu");
    nbt_assert_values(nbk_gelu(x, true), ((double[]){0, 0, 100, 1000}), 4, 0, 0, "gelu tanh");
  }
  /* The stable sigmoid resolves tiny values instead of flushing them: 1/(1+e^100)
   * is 3.7e-44, a float32 subnormal. */
  nb_tensor *y = nbk_sigmoid(nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(1), -100));
  cr_assert(nb_item(y) > 0 && nb_item(y) < 1e-43, "sigmoid(-100) = %g", nb_item(y));
  y = nbk_sigmoid(nb_full(NB_DTYPE_FLOAT64, NB_SHAPE(1), -700));
  cr_assert(fabs(nb_item(y) / exp(-700.0) - 1) < 1e-12, "sigmoid(-700) = %g", nb_item(y));
  /* log1p / expm1 keep tiny arguments exact. */
  y = nbk_log1p(nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(1), 1e-10));
  cr_assert(fabs(nb_item(y) / 1e-10 - 1) < 1e-6, "log1p(1e-10) = %g", nb_item(y));
  y = nbk_expm1(nb_full(NB_DTYPE_FLOAT64, NB_SHAPE(1), -1e-12));
  cr_assert(fabs(nb_item(y) / -1e-12 - 1) < 1e-12, "expm1(-1e-12) = %g", nb_item(y));
  nbt_assert_ok(nb_scope_end(), "scope_end");
}

Test(elementwise, round_half_to_even_and_clamp_nan) {
  nb_scope_begin();
  nb_tensor *x =
      nb_from_data(NB_DTYPE_FLOAT64, (double[]){-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, NAN}, NB_SHAPE(7));
  nbt_assert_values(nb_round(x), ((double[]){-2, -2, 0, 0, 2, 2, NAN}), 7, 0, 0, "round");
  nbt_assert_values(nbk_clamp(x, -1, NAN), ((double[]){-1, -1, -0.5, 0.5, 1.5, 2.5, NAN}), 7, 0, 0,
                    "clamp lo only, NaN passes through");
  nbt_assert_values(nbk_clamp(x, 1, -1), ((double[]){-1, -1, -1, -1, -1, -1, NAN}), 7, 0, 0,
                    "clamp with lo > hi gives hi");
  nbt_assert_ok(nb_scope_end(), "scope_end");
}

Test(elementwise, relu_backward_masks_where_y_le_0) {
  nb_scope_begin();
  /* y <= 0 (incl. -0) zeroes the gradient, even an inf or NaN one; a NaN y passes it. */
  nb_tensor *g =
      nb_from_data(NB_DTYPE_FLOAT32, (float[]){1, -2, INFINITY, NAN, 5, -6, 7}, NB_SHAPE(7));
  nb_tensor *y =
      nb_from_data(NB_DTYPE_FLOAT32, (float[]){-1, 0, -0.0f, 0, NAN, 1e-30f, 2}, NB_SHAPE(7));
  nb_tensor *r = nbk_relu_backward(g, y);
  cr_assert_eq(nb_dtype_of(r), NB_DTYPE_FLOAT32);
  nbt_assert_values(r, ((double[]){0, 0, 0, 0, 5, -6, 7}), 7, 0, 0, "relu_backward f32");
  /* broadcasting and promotion (f32 grad, f64 y -> f64) */
  nb_tensor *g2 = nb_from_data(NB_DTYPE_FLOAT32, (float[]){1, 2}, NB_SHAPE(2));
  nb_tensor *y2 = nb_from_data(NB_DTYPE_FLOAT64, (double[]){1, -1, NAN, 0, 3, 0.5}, NB_SHAPE(3, 2));
  r = nbk_relu_backward(g2, y2);
  cr_assert_eq(nb_dtype_of(r), NB_DTYPE_FLOAT64);
  nbt_assert_shape(r, NB_SHAPE(3, 2), "relu_backward broadcast");
  nbt_assert_values(r, ((double[]){1, 0, 1, 0, 1, 2}), 6, 0, 0, "relu_backward broadcast");
  /* a transposed y: [[1, 0], [-1, 2]] */
  nb_tensor *y3 = nb_from_data(NB_DTYPE_FLOAT64, (double[]){1, -1, 0, 2}, NB_SHAPE(2, 2));
  r = nbk_relu_backward(nb_from_data(NB_DTYPE_FLOAT64, (double[]){1, 2, 3, 4}, NB_SHAPE(2, 2)),
                        nbk_transpose(y3, 0, 1));
  nbt_assert_values(r, ((double[]){1, 0, 0, 4}), 4, 0, 0, "relu_backward transposed y");
  /* int64 */
  nb_tensor *gi = nb_from_data(NB_DTYPE_INT64, (int64_t[]){5, 6, 7}, NB_SHAPE(3));
  nb_tensor *yi = nb_from_data(NB_DTYPE_INT64, (int64_t[]){-1, 0, 1}, NB_SHAPE(3));
  r = nbk_relu_backward(gi, yi);
  cr_assert_eq(nb_dtype_of(r), NB_DTYPE_INT64);
  nbt_assert_values(r, ((double[]){0, 0, 7}), 3, 0, 0, "relu_backward int64");
  /* errors: bool, shape */
  nb_tensor *b = nb_from_data(NB_DTYPE_BOOL, (uint8_t[]){1, 0, 1}, NB_SHAPE(3));
  cr_assert_null(nbk_relu_backward(b, b));
  cr_assert_eq(nb_last_status(), NB_ERR_DTYPE);
  cr_assert(strstr(nb_errmsg(), "relu_backward"), "%s", nb_errmsg());
  cr_assert_null(nbk_relu_backward(g, yi));
  cr_assert_eq(nb_last_status(), NB_ERR_SHAPE);
  cr_assert(strstr(nb_errmsg(), "relu_backward"), "%s", nb_errmsg());
  nbt_assert_ok(nb_scope_end(), "scope_end");
}

/* ---- in place: aliasing and versions -------------------------------------- */

static nb_tensor *square(void) {
  return nb_from_data(NB_DTYPE_FLOAT32, (float[]){1, 2, 3, 4, 5, 6, 7, 8, 9}, NB_SHAPE(3, 3));
}

Test(elementwise, inplace_aliasing) {
  nb_scope_begin();
  nb_tensor *x = square();
  uint64_t v = nb_version(x);
  nbt_assert_ok(nb_add_(x, x), "x += x");
  nbt_assert_values(x, ((double[]){2, 4, 6, 8, 10, 12, 14, 16, 18}), 9, 0, 0, "x += x");
  cr_assert_gt(nb_version(x), v);
  v = nb_version(x);
  nbt_assert_ok(nb_mul_(x, x), "x *= x");
  nbt_assert_values(x, ((double[]){4, 16, 36, 64, 100, 144, 196, 256, 324}), 9, 0, 0, "x *= x");
  cr_assert_gt(nb_version(x), v);

  /* x += x^T reads elements the same call writes: must use the old values. */
  x = square();
  nb_tensor *xt = nbk_transpose(x, 0, 1);
  cr_assert(nb_shares_storage(x, xt));
  v = nb_version(xt);
  nbt_assert_ok(nb_add_(x, xt), "x += x^T");
  nbt_assert_values(x, ((double[]){2, 6, 10, 6, 10, 14, 10, 14, 18}), 9, 0, 0, "x += x^T");
  cr_assert_gt(nb_version(xt), v, "the view shares the storage's version");

  /* x^T += x, addcmul with the transposed view, and a shifted overlap. */
  x = square();
  nbt_assert_ok(nb_sub_(nbk_transpose(x, 0, 1), x), "x^T -= x");
  nbt_assert_values(x, ((double[]){0, -2, -4, 2, 0, -2, 4, 2, 0}), 9, 0, 0, "x^T -= x");
  x = square();
  nbt_assert_ok(nb_addcmul_(x, 1, nbk_transpose(x, 0, 1), x), "x += x^T * x");
  nbt_assert_values(x, ((double[]){2, 10, 24, 12, 30, 54, 28, 56, 90}), 9, 0, 0, "addcmul");
  nb_tensor *r = nb_arange(NB_DTYPE_INT64, 0, 8, 1);
  nbt_assert_ok(nb_add_(nbk_slice(r, 0, 1, 8, 1), nbk_slice(r, 0, 0, 7, 1)), "r[1:] += r[:7]");
  nbt_assert_values(r, ((double[]){0, 1, 3, 5, 7, 9, 11, 13}), 8, 0, 0, "shifted overlap");

  /* float32 x with a float64 operand: computed in float64, rounded into x. */
  x = nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(2), 1);
  v = nb_version(x);
  nbt_assert_ok(nb_add_(x, nb_full(NB_DTYPE_FLOAT64, NB_SHAPE(2), 1e-9)), "f32 += f64");
  cr_assert_eq(nb_dtype_of(x), NB_DTYPE_FLOAT32);
  cr_assert_gt(nb_version(x), v);
  nbt_assert_values(x, ((double[]){1, 1}), 2, 0, 0, "f32 += f64");
  nbt_assert_ok(nb_scope_end(), "scope_end");
}

/* ---- errors ----------------------------------------------------------------- */

Test(elementwise, shape_errors_name_op_and_shapes) {
  nb_scope_begin();
  nb_tensor *a = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3)),
            *b = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4));
  nbt_expect_null(nbk_add(a, b), NB_ERR_SHAPE, "add", "[2, 3]", "[4]");
  nbt_expect_null(nb_ge(b, a), NB_ERR_SHAPE, "ge", "[2, 3]", "[4]");
  nbt_expect_null(nbk_where(nb_ones(NB_DTYPE_BOOL, NB_SHAPE(5)), a, a), NB_ERR_SHAPE, "where",
                  "[5]", "[2, 3]");
  /* In place: the operands must broadcast to x's shape. */
  nb_tensor *x = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3));
  uint64_t v = nb_version(x);
  nbt_expect_status(nb_add_(x, a), NB_ERR_SHAPE, "add_", "[2, 3]", "[3]");
  nbt_expect_status(nb_addcmul_(x, 1, x, b), NB_ERR_SHAPE, "addcmul_", "[3]", "[4]");
  cr_assert_eq(nb_version(x), v);
  nbt_assert_values(x, ((double[]){1, 1, 1}), 3, 0, 0, "x untouched");
  /* Writing into an expanded view would race: refused. */
  nb_tensor *ex = nbk_expand(nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(1, 3)), NB_SHAPE(4, 3));
  nbt_expect_status(nb_mul_scalar_(ex, 2), NB_ERR_ARG, "mul_scalar_", "[4, 3]");
  nbt_assert_ok(nb_scope_end(), "scope_end");
}

Test(elementwise, dtype_and_argument_errors) {
  nb_scope_begin();
  nb_tensor *i = nb_arange(NB_DTYPE_INT64, 0, 4, 1), *f = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4));
  nb_tensor *b = nb_ones(NB_DTYPE_BOOL, NB_SHAPE(4));
  uint64_t v = nb_version(i);
  nbt_expect_status(nb_add_(i, f), NB_ERR_DTYPE, "add_", "float32", "int64");
  nbt_expect_status(nb_div_(i, i), NB_ERR_DTYPE, "div_", "float32");
  nbt_expect_status(nb_mul_scalar_(i, 0.5), NB_ERR_DTYPE, "mul_scalar_");
  nbt_expect_status(nb_add_(b, i), NB_ERR_DTYPE, "add_", "bool");
  cr_assert_eq(nb_version(i), v);
  nbt_assert_values(i, ((double[]){0, 1, 2, 3}), 4, 0, 0, "i untouched");

  nbt_expect_null(nbk_sub(b, b), NB_ERR_DTYPE, "sub", "bool");
  nbt_expect_null(nbk_rsub_scalar(b, 1), NB_ERR_DTYPE, "rsub_scalar");
  nbt_expect_null(nbk_neg(b), NB_ERR_DTYPE, "neg", "bool");
  nbt_expect_null(nbk_gelu(i, false), NB_ERR_DTYPE, "gelu", "int64");
  nbt_expect_null(nbk_pow(b, b), NB_ERR_DTYPE, "pow", "bool");
  nbt_expect_null(nbk_pow_scalar(i, -2), NB_ERR_ARG, "pow_scalar", "negative");
  nbt_expect_null(nbk_add_scalar(i, 1e20), NB_ERR_ARG, "add_scalar", "int64");
  nbt_expect_null(nbk_clamp(f, NAN, NAN), NB_ERR_ARG, "clamp");
  nbt_expect_status(nb_clamp_(f, NAN, NAN), NB_ERR_ARG, "clamp_");
  nbt_expect_status(nb_addcdiv_(f, 1, i, i), NB_ERR_DTYPE, "addcdiv_", "int64");
  nbt_assert_ok(nb_scope_end(), "scope_end");
}

Test(elementwise, null_inputs_keep_the_first_error) {
  nb_tensor *a = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3)),
            *b = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4));
  /* A chained expression fails once, at its first error. */
  nb_tensor *y = nbk_exp(nbk_mul_scalar(nbk_add(a, b), 2));
  cr_assert_null(y);
  cr_assert_eq(nb_last_status(), NB_ERR_SHAPE);
  char first[512];
  snprintf(first, sizeof first, "%s", nb_errmsg());
  cr_assert_not_null(strstr(first, "add"));
  cr_assert_null(nbk_where(NULL, a, a));
  cr_assert_null(nb_logical_not(NULL));
  cr_assert_null(nbk_clamp(NULL, NAN, NAN));
  cr_assert_null(nbk_gelu(NULL, true));
  cr_assert_eq(nb_add_(a, NULL), NB_ERR_NULL);
  cr_assert_eq(nb_clamp_(NULL, NAN, NAN), NB_ERR_NULL);
  cr_assert_eq(nb_addcmul_(a, 1, a, NULL), NB_ERR_NULL);
  cr_assert_eq(nb_last_status(), NB_ERR_SHAPE, "the first error was overwritten");
  cr_assert_str_eq(nb_errmsg(), first);
  /* Without an earlier error, a NULL input is reported as such, naming the op. */
  nb_clear_error();
  cr_assert_null(nb_lt(a, NULL));
  cr_assert_eq(nb_last_status(), NB_ERR_NULL);
  cr_assert_not_null(strstr(nb_errmsg(), "lt"), "%s", nb_errmsg());
  nb_clear_error();
  nb_free(a);
  nb_free(b);
}

/* ---- threads ---------------------------------------------------------------- */

/* Every kernel family on 100k elements; the results as one byte string. */
static void run_kernels(nb_tensor *x, nb_tensor *row, nb_tensor **outs, int n) {
  int k = 0;
  outs[k++] = nbk_add(x, row);
  outs[k++] = nbk_exp(x);
  outs[k++] = nbk_gelu(x, true);
  outs[k++] = nbk_sigmoid(x);
  outs[k++] = nbk_pow_scalar(x, 3);
  outs[k++] = nbk_where(nb_gt_scalar(x, 0), x, row);
  outs[k] = nbk_clone(x);
  nbt_assert_ok(nb_axpy_(outs[k], 0.5, row), "axpy_");
  nbt_assert_ok(nb_addcdiv_(outs[k], 0.1, x, nbk_add_scalar(nbk_abs(x), 1)), "addcdiv_");
  k++;
  cr_assert_eq(k, n);
}

Test(elementwise, same_bits_with_1_and_2_threads) {
  enum { N = 7 };
  nb_scope_begin();
  nb_generator *g = nb_generator_new(42);
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(400, 250), g);
  nb_tensor *row = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(250), g);
  nb_generator_free(g);
  nb_tensor *one[N], *two[N];
  int saved = nb_get_num_threads();
  nbt_assert_ok(nb_set_num_threads(1), "1 thread");
  run_kernels(x, row, one, N);
  nbt_assert_ok(nb_set_num_threads(2), "2 threads");
  run_kernels(x, row, two, N);
  nb_set_num_threads(saved);
  for (int k = 0; k < N; k++) {
    cr_assert_not_null(one[k]);
    cr_assert_not_null(two[k]);
    cr_assert_eq(nb_numel(one[k]), 100000);
    cr_assert(memcmp(nb_data(one[k]), nb_data(two[k]), 100000 * sizeof(float)) == 0,
              "kernel %d differs between 1 and 2 threads", k);
  }
  nbt_assert_ok(nb_scope_end(), "scope_end");
}

/* Outputs of NB_STREAM_MIN_BYTES or more are written with streaming stores
 * through an L1 tile: check every element of such outputs, from an input
 * view whose first element is not 16-byte aligned (the unaligned head), with
 * a broadcast operand, and from fill_ and copy_. */
Test(elementwise, large_outputs_written_past_the_cache) {
  const int64_t n = (NB_STREAM_MIN_BYTES / (int64_t)sizeof(float)) + 1003;
  nb_scope_begin();
  nb_generator *g = nb_generator_new(7);
  nb_tensor *base = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(n + 1), g);
  nb_generator_free(g);
  nb_tensor *x = nbk_slice(base, 0, 1, n + 1, 1); /* starts 4 bytes past a 64-byte boundary */
  nb_tensor *x2 = nbk_slice(base, 0, 0, n, 1);
  nb_tensor *two = nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(1), 2.0);
  const float *xb = nb_data(base);

  nb_tensor *sum = nbk_add(x, x2), *prod = nbk_mul(x, two), *copy = nbk_contiguous(x);
  nb_tensor *filled = nb_empty(NB_DTYPE_FLOAT32, NB_SHAPE(n));
  nbt_assert_ok(nb_fill_(filled, -1.5), "fill_");
  nb_tensor *bcast = nbk_contiguous(nbk_expand(two, NB_SHAPE(n)));
  cr_assert(sum && prod && copy && filled && bcast);
  const float *s = nb_data(sum), *p = nb_data(prod), *c = nb_data(copy), *f = nb_data(filled),
              *b = nb_data(bcast);
  int64_t bad = -1;
  for (int64_t i = 0; i < n && bad < 0; i++)
    if (s[i] != xb[i + 1] + xb[i] || p[i] != xb[i + 1] * 2.0f || c[i] != xb[i + 1] ||
        f[i] != -1.5f || b[i] != 2.0f)
      bad = i;
  cr_assert_eq(bad, -1, "element %lld of a %lld-element output is wrong", (long long)bad,
               (long long)n);
  nbt_assert_ok(nb_scope_end(), "scope_end");
}
