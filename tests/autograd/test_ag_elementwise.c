/* tests/autograd/test_ag_elementwise.c - the elementwise ops' values and
 * gradients against PyTorch.
 *
 * Every case of tests/fixtures/ag_elementwise.txt (tools/fixtures/
 * gen_ag_elementwise.py) is "<op>.<variant>": the op runs on the case's
 * leaves (through a transpose / stepped-slice view where the case says so),
 * its output is compared with PyTorch's, then backward with grad_output = w
 * and each leaf's .grad is compared with PyTorch's gradient of
 * (out * w).sum(). One test per op runs all its cases; the table below must
 * name every row of autograd/ops_elementwise.def. Error paths follow.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nabla.h"
#include "support/nbtest.h"

TestSuite(ag_elementwise, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

/* ---- the ops, applied from a case's inputs and params ------------------------ */

typedef nb_tensor *(*op_fn)(nb_tensor *const *in, const nbt_case *c);

#define PARAM(name) nbt_case_param(c, name)
#define OP_BINARY(NAME)                                                                            \
  static nb_tensor *op_##NAME(nb_tensor *const *in, const nbt_case *c) {                           \
    (void)c;                                                                                       \
    return nb_##NAME(in[0], in[1]);                                                                \
  }
#define OP_UNARY(NAME)                                                                             \
  static nb_tensor *op_##NAME(nb_tensor *const *in, const nbt_case *c) {                           \
    (void)c;                                                                                       \
    return nb_##NAME(in[0]);                                                                       \
  }
#define OP_UNARY_P(NAME, ...)                                                                      \
  static nb_tensor *op_##NAME(nb_tensor *const *in, const nbt_case *c) {                           \
    return nb_##NAME(in[0], __VA_ARGS__);                                                          \
  }

OP_BINARY(add)
OP_BINARY(sub)
OP_BINARY(mul)
OP_BINARY(div)
OP_BINARY(pow)
OP_BINARY(maximum)
OP_BINARY(minimum)
OP_UNARY(neg)
OP_UNARY(abs)
OP_UNARY(exp)
OP_UNARY(log)
OP_UNARY(log1p)
OP_UNARY(expm1)
OP_UNARY(sqrt)
OP_UNARY(rsqrt)
OP_UNARY(sin)
OP_UNARY(cos)
OP_UNARY(tanh)
OP_UNARY(sigmoid)
OP_UNARY(relu)
OP_UNARY(silu)
OP_UNARY_P(leaky_relu, PARAM("slope"))
OP_UNARY_P(elu, PARAM("alpha"))
OP_UNARY_P(gelu, PARAM("tanh") != 0)
OP_UNARY_P(softplus, PARAM("beta"), PARAM("threshold"))
OP_UNARY_P(hardtanh, PARAM("min"), PARAM("max"))
OP_UNARY_P(clamp, PARAM("lo"), PARAM("hi"))
OP_UNARY_P(add_scalar, PARAM("s"))
OP_UNARY_P(sub_scalar, PARAM("s"))
OP_UNARY_P(mul_scalar, PARAM("s"))
OP_UNARY_P(div_scalar, PARAM("s"))
OP_UNARY_P(pow_scalar, PARAM("s"))
OP_UNARY_P(rsub_scalar, PARAM("s"))
OP_UNARY_P(rdiv_scalar, PARAM("s"))
OP_UNARY_P(rpow_scalar, PARAM("s"))
OP_UNARY_P(to, PARAM("dtype") != 0 ? NB_DTYPE_FLOAT64 : NB_DTYPE_FLOAT32)

static nb_tensor *op_relu_backward(nb_tensor *const *in, const nbt_case *c) {
  (void)c;
  return nb_relu_backward(in[0], in[1]);
}
static nb_tensor *op_where(nb_tensor *const *in, const nbt_case *c) {
  (void)c;
  return nb_where(in[0], in[1], in[2]);
}

typedef struct op_entry {
  const char *name;
  int ninputs;
  const char *inputs[3];
  op_fn fn;
} op_entry;

#define BIN(NAME)                                                                                  \
  { #NAME, 2, {"a", "b" }, op_##NAME }
#define UN(NAME)                                                                                   \
  { #NAME, 1, {"x" }, op_##NAME }
static const op_entry OPS[] = {
    BIN(add),
    BIN(sub),
    BIN(mul),
    BIN(div),
    BIN(pow),
    BIN(maximum),
    BIN(minimum),
    {"where", 3, {"cond", "a", "b"}, op_where},
    {"relu_backward", 2, {"g", "y"}, op_relu_backward},
    UN(neg),
    UN(abs),
    UN(exp),
    UN(log),
    UN(log1p),
    UN(expm1),
    UN(sqrt),
    UN(rsqrt),
    UN(sin),
    UN(cos),
    UN(tanh),
    UN(sigmoid),
    UN(relu),
    UN(leaky_relu),
    UN(elu),
    UN(gelu),
    UN(silu),
    UN(softplus),
    UN(hardtanh),
    UN(clamp),
    UN(add_scalar),
    UN(sub_scalar),
    UN(mul_scalar),
    UN(div_scalar),
    UN(pow_scalar),
    UN(rsub_scalar),
    UN(rdiv_scalar),
    UN(rpow_scalar),
    UN(to),
};
#define NOPS ((int)(sizeof OPS / sizeof OPS[0]))

/* The op of a case name "<op>.<variant>", or NULL. */
static const op_entry *op_of_case(const char *case_name) {
  const char *dot = strchr(case_name, '.');
  size_t len = dot ? (size_t)(dot - case_name) : strlen(case_name);
  for (int i = 0; i < NOPS; i++)
    if (strlen(OPS[i].name) == len && !strncmp(OPS[i].name, case_name, len)) return &OPS[i];
  return NULL;
}

/* The node an op records: its own, or the row a composite calls. */
static const char *node_name(const char *op) {
  return !strcmp(op, "sub_scalar") ? "add_scalar" : !strcmp(op, "div_scalar") ? "mul_scalar" : op;
}

/* ---- running one case ------------------------------------------------------------ */

static void check(const nbt_case *c, const char *name, nb_tensor *actual) {
  bool f64 = actual && nb_dtype_of(actual) == NB_DTYPE_FLOAT64;
  nbt_case_check(c, name, actual, f64 ? 1e-10 : 1e-5, f64 ? 1e-12 : 1e-6);
}

static void run_case(const op_entry *op, const nbt_case *c) {
  const char *where = nbt_case_where(c);
  nb_scope_begin();
  nb_tensor *leaf[3], *in[3];
  bool wants_grad[3];
  char name[64];
  for (int i = 0; i < op->ninputs; i++) {
    leaf[i] = nbt_case_tensor(c, op->inputs[i]);
    snprintf(name, sizeof name, "grad_%s", op->inputs[i]);
    wants_grad[i] = nbt_case_has_tensor(c, name);
    if (wants_grad[i]) nbt_assert_ok(nb_requires_grad_(leaf[i], true), where);
    snprintf(name, sizeof name, "view_%s", op->inputs[i]);
    int view = nbt_case_has_param(c, name) ? (int)nbt_case_param(c, name) : 0;
    in[i] = view == 1   ? nb_transpose(leaf[i], 0, 1)
            : view == 2 ? nb_slice(leaf[i], -1, 0, INT64_MAX, 2)
                        : leaf[i];
    cr_assert_not_null(in[i], "%s: view of %s: %s", where, op->inputs[i], nb_errmsg());
    if (view) cr_assert(!nb_is_contiguous(in[i]), "%s: view of %s is contiguous", where, name);
  }
  nb_tensor *y = op->fn(in, c);
  cr_assert_not_null(y, "%s: %s", where, nb_errmsg());
  check(c, "out", y);
  cr_assert(nb_requires_grad(y), "%s: output does not require grad", where);
  cr_assert_str_eq(nb_grad_fn_name(y), node_name(op->name), "%s", where);
  nb_tensor *w = nbt_case_tensor(c, "w");
  nbt_assert_ok(nb_backward_ex(y, &(nb_backward_opts){.grad_output = w}), where);
  for (int i = 0; i < op->ninputs; i++) {
    snprintf(name, sizeof name, "grad_%s", op->inputs[i]);
    if (wants_grad[i])
      check(c, name, nb_grad_of(leaf[i]));
    else
      cr_assert_null(nb_grad_of(leaf[i]), "%s: %s got a gradient", where, op->inputs[i]);
  }
  nb_scope_end();
}

ParameterizedTestParameters(ag_elementwise, pytorch) {
  static int ids[NOPS];
  for (int i = 0; i < NOPS; i++) ids[i] = i;
  return cr_make_param_array(int, ids, NOPS);
}

ParameterizedTest(int *id, ag_elementwise, pytorch, .init = nbt_leak_setup,
                  .fini = nbt_leak_teardown) {
  const op_entry *op = &OPS[*id];
  nbt_fixture *f = nbt_fixture_load("ag_elementwise");
  int ran = 0;
  for (int i = 0; i < nbt_fixture_num_cases(f); i++) {
    const nbt_case *c = nbt_fixture_case_index(f, i);
    if (op_of_case(nbt_case_name(c)) != op) continue;
    run_case(op, c);
    ran++;
  }
  cr_expect_geq(ran, 4, "op %s: only %d fixture cases", op->name, ran);
  nbt_fixture_free(f);
}

/* Every fixture case names a known op, and every row of the family's .def is
 * in the table above (so a new row without PyTorch cases fails here). */
Test(ag_elementwise, coverage) {
  nbt_fixture *f = nbt_fixture_load("ag_elementwise");
  for (int i = 0; i < nbt_fixture_num_cases(f); i++) {
    const char *name = nbt_case_name(nbt_fixture_case_index(f, i));
    cr_expect_not_null(op_of_case(name), "case %s names no op of the table", name);
  }
  nbt_fixture_free(f);
#define NB_OP(NAME) #NAME,
  static const char *rows[] = {
#include "autograd/ops_elementwise.def"
  };
#undef NB_OP
  for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
    cr_expect_not_null(op_of_case(rows[r]), "row %s has no PyTorch test", rows[r]);
}

/* ---- error paths ---------------------------------------------------------------- */

Test(ag_elementwise, bad_shapes_name_the_op) {
  nb_scope_begin();
  nb_tensor *a = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *b = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4));
  nb_requires_grad_(a, true);
  nb_requires_grad_(b, true);
  nb_tensor *cond = nb_gt_scalar(nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(5)), 0.0);
  nbt_expect_fail(nb_pow(a, b), NB_ERR_SHAPE, "pow");
  nbt_expect_fail(nb_maximum(a, b), NB_ERR_SHAPE, "maximum");
  nbt_expect_fail(nb_minimum(a, b), NB_ERR_SHAPE, "minimum");
  nbt_expect_fail(nb_where(cond, a, a), NB_ERR_SHAPE, "where");
  nbt_expect_fail(nb_where(nb_gt_scalar(a, 0.0), a, b), NB_ERR_SHAPE, "where");
  nbt_expect_fail(nb_sub(a, b), NB_ERR_SHAPE, "[2, 3]");
  nb_scope_end();
}

Test(ag_elementwise, bad_dtypes_and_args_name_the_op) {
  nb_scope_begin();
  nb_tensor *i64 = nb_arange(NB_DTYPE_INT64, 0, 4, 1);
  nb_tensor *mask = nb_gt_scalar(i64, 1.0);
  nb_tensor *x = nb_ones(NB_DTYPE_FLOAT64, NB_SHAPE(3));
  nb_requires_grad_(x, true);
  nbt_expect_fail(nb_gelu(i64, false), NB_ERR_DTYPE, "gelu");
  nbt_expect_fail(nb_leaky_relu(mask, 0.1), NB_ERR_DTYPE, "leaky_relu");
  nbt_expect_fail(nb_elu(i64, 1.0), NB_ERR_DTYPE, "elu");
  nbt_expect_fail(nb_hardtanh(mask, -1, 1), NB_ERR_DTYPE, "hardtanh");
  nbt_expect_fail(nb_rsub_scalar(mask, 1.0), NB_ERR_DTYPE, "rsub_scalar");
  nbt_expect_fail(nb_pow(mask, mask), NB_ERR_DTYPE, "pow");
  nbt_expect_fail(nb_clamp(x, NAN, NAN), NB_ERR_ARG, "clamp");
  nbt_expect_fail(nb_hardtanh(x, NAN, 1.0), NB_ERR_ARG, "hardtanh");
  nbt_expect_fail(nb_div_scalar(x, 0.0), NB_ERR_ARG, "div_scalar");
  nbt_expect_fail(nb_to(x, NB_DTYPE_COUNT), NB_ERR_DTYPE, "");
  nb_scope_end();
}

Test(ag_elementwise, null_inputs_keep_the_first_error) {
  nb_scope_begin();
  nb_tensor *x = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  nb_requires_grad_(x, true);
  nb_clear_error();
  cr_assert_null(nb_sqrt(NULL));
  cr_assert_eq(nb_last_status(), NB_ERR_NULL);
  /* a failing chain reports its first failure, not the NULLs after it */
  nb_tensor *bad = nb_pow(x, nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3)));
  cr_assert_null(nb_gelu(nb_clamp(nb_where(NULL, bad, x), -1, 1), true));
  cr_assert_null(nb_maximum(x, bad));
  cr_assert_null(nb_rpow_scalar(bad, 2.0));
  cr_assert_eq(nb_last_status(), NB_ERR_SHAPE, "%s", nb_errmsg());
  cr_assert(strstr(nb_errmsg(), "pow"), "%s", nb_errmsg());
  nb_clear_error();
  nb_scope_end();
}

/* Non-floating results record nothing; a bool condition never gets a gradient. */
Test(ag_elementwise, integer_results_and_conditions_record_no_gradient) {
  nb_scope_begin();
  nb_tensor *i64 = nb_arange(NB_DTYPE_INT64, -2, 3, 1);
  nb_tensor *r = nb_relu(i64);
  nbt_assert_values(r, ((double[]){0, 0, 0, 1, 2}), 5, 0, 0, "relu int64");
  cr_assert_eq(nb_dtype_of(r), NB_DTYPE_INT64);
  cr_assert(!nb_requires_grad(r));
  nb_tensor *x = nb_arange(NB_DTYPE_FLOAT32, -2, 3, 1);
  nb_requires_grad_(x, true);
  nb_tensor *cond = nb_gt_scalar(x, 0.0);
  nb_tensor *y = nb_where(cond, x, nb_mul_scalar(x, 3.0));
  nbt_assert_ok(nb_backward(nb_sum(y, NB_ALL_DIMS, false)), "backward");
  nbt_assert_values(nb_grad_of(x), ((double[]){3, 3, 3, 1, 1}), 5, 0, 0, "where routes");
  nb_no_grad_begin();
  cr_assert(!nb_requires_grad(nb_gelu(x, false)), "no-grad mode records nothing");
  nb_no_grad_end();
  nb_scope_end();
}

/* Second derivatives against their closed forms: d2/dx2 of gelu, elu and pow
 * (through nb_grad with create_graph). */
Test(ag_elementwise, second_derivatives) {
  nb_scope_begin();
  double xs[] = {-1.5, -0.25, 0.4, 2.0};
  nb_tensor *x = nb_from_data(NB_DTYPE_FLOAT64, xs, NB_SHAPE(4));
  nb_requires_grad_(x, true);
  nb_tensor *ys[] = {nb_gelu(x, false), nb_elu(x, 1.5), nb_pow(x, nb_scalar(NB_DTYPE_FLOAT64, 3))};
  for (int k = 0; k < 3; k++) {
    nb_tensor *g = NULL, *gg = NULL, *s = nb_sum(ys[k], NB_ALL_DIMS, false);
    nbt_assert_ok(nb_grad(&s, 1, &x, 1, &g, &(nb_grad_opts){.create_graph = true}), "grad");
    nb_tensor *gs = nb_sum(g, NB_ALL_DIMS, false);
    nbt_assert_ok(nb_grad(&gs, 1, &x, 1, &gg, NULL), "grad of grad");
    for (int i = 0; i < 4; i++) {
      double v = xs[i], want;
      if (k == 0) /* gelu'' = phi(x) (2 - x^2) */
        want = exp(-v * v / 2) * 0.39894228040143267794 * (2 - v * v);
      else if (k == 1) /* elu'' = alpha exp(x) for x <= 0 */
        want = v <= 0 ? 1.5 * exp(v) : 0;
      else /* (x^3)'' = 6x */
        want = 6 * v;
      cr_expect(fabs(nb_get(gg, (int64_t[]){i}) - want) < 1e-12, "op %d at %g: %g vs %g", k, v,
                nb_get(gg, (int64_t[]){i}), want);
    }
    nb_free(gg);
    nb_free(g);
  }
  nb_scope_end();
}
