/* tests/autograd/test_ag_reduce.c - reduce-family ops against PyTorch.
 *
 * Sweeps every case of tests/fixtures/ag_reduce.txt (tools/fixtures/
 * gen_ag_reduce.py) through nbt_check_grad_cases, as test_ag_shape.c does:
 * output (and max/min indices), then the gradients of (out * w).sum(). Zeros for prod,
 * ties for amax/amin/norm(inf) and a zero slice for norm are in the fixtures.
 * Then the error paths.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "autograd/autograd.h"
#include "support/nbtest.h"

TestSuite(ag_reduce, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

static nb_tensor *run_reduce(const nbt_case *c, nb_tensor **in) {
  char op[64];
  nbt_case_op(c, op, sizeof op);
  int dims[8], nd = nbt_case_has_param(c, "dims") ? nbt_case_param_dims(c, "dims", dims, 8) : 0;
  bool keep = nbt_case_has_param(c, "keepdim") && nbt_case_param(c, "keepdim") != 0;
  const int *d = nd ? dims : NULL;
  nb_tensor *x = in[0];
  if (!strcmp(op, "sum")) return nb_sum(x, d, nd, keep);
  if (!strcmp(op, "mean")) return nb_mean(x, d, nd, keep);
  if (!strcmp(op, "softmax")) return nb_softmax(x, (int)nbt_case_param(c, "dim"));
  if (!strcmp(op, "log_softmax")) return nb_log_softmax(x, (int)nbt_case_param(c, "dim"));
  if (!strcmp(op, "prod")) return nb_prod(x, d, nd, keep);
  if (!strcmp(op, "amax")) return nb_amax(x, d, nd, keep);
  if (!strcmp(op, "amin")) return nb_amin(x, d, nd, keep);
  if (!strcmp(op, "max_dim") || !strcmp(op, "min_dim")) {
    nb_tensor *values = NULL, *indices = NULL;
    nb_status st = (op[1] == 'a' ? nb_max_dim : nb_min_dim)(
        x, (int)nbt_case_param(c, "dim"), nbt_case_param(c, "keepdim") != 0, &values, &indices);
    nbt_assert_ok(st, op);
    nbt_case_check(c, "indices", indices, 0, 0);
    return values;
  }
  if (!strcmp(op, "var")) return nb_var(x, d, nd, nbt_case_param(c, "correction"), keep);
  if (!strcmp(op, "std")) return nb_std(x, d, nd, nbt_case_param(c, "correction"), keep);
  if (!strcmp(op, "logsumexp")) return nb_logsumexp(x, d, nd, keep);
  if (!strcmp(op, "norm")) return nb_norm(x, nbt_case_param(c, "p"), d, nd, keep);
  if (!strcmp(op, "cumsum")) return nb_cumsum(x, (int)nbt_case_param(c, "dim"));
  cr_assert_fail("no runner for op %s", op);
  return NULL;
}

/* in0, in1, ... with gradients grad_in0, ...; "transpose" lists inputs seen transposed. */
static const nbt_grad_spec spec = {
    nbt_indexed_inputs, NBT_INDEXED_INPUTS, "w", {1e-5, 1e-5, 1e-10, 1e-12}, run_reduce};

Test(ag_reduce, fixtures) { nbt_check_grad_cases("ag_reduce", &spec); }

/* max_dim's outputs are optional; indices carry no gradient. */
Test(ag_reduce, max_dim_optional_outputs) {
  nb_scope_begin();
  nb_tensor *x = nb_from_data(NB_DTYPE_FLOAT64, (double[]){1, 5, 2, 7, 0, 3}, NB_SHAPE(2, 3));
  nb_requires_grad_(x, true);
  nb_tensor *idx = NULL, *v = NULL;
  nbt_assert_ok(nb_max_dim(x, -1, false, NULL, &idx), "max_dim indices only");
  {
    static const double e1[] = {1, 0};
    nbt_assert_values(idx, e1, 2, 1e-12, 1e-12, "idx");
  }
  cr_expect(!nb_requires_grad(idx));
  nbt_assert_ok(nb_min_dim(x, 0, true, &v, NULL), "min_dim values only");
  {
    static const double e2[] = {1, 0, 2};
    nbt_assert_values(v, e2, 3, 1e-12, 1e-12, "v");
  }
  nbt_assert_ok(nb_backward(nb_sum(v, NB_ALL_DIMS, false)), "backward");
  {
    static const double e3[] = {1, 0, 1, 0, 1, 0};
    nbt_assert_values(nb_grad_of(x), e3, 6, 1e-12, 1e-12, "nb_grad_of(x)");
  }
  nb_scope_end();
}

/* Second derivative of prod at a zero: d2/dx0 dx1 of x0 x1 x2 at x1 = 0 is x2. */
Test(ag_reduce, prod_second_order_at_zero) {
  nb_scope_begin();
  nb_tensor *x = nb_from_data(NB_DTYPE_FLOAT64, (double[]){2, 0, 3}, NB_SHAPE(3));
  nb_requires_grad_(x, true);
  nb_tensor *y = nb_prod(x, NB_ALL_DIMS, false), *g = NULL;
  nbt_assert_ok(nb_grad(&y, 1, &x, 1, &g, &(nb_grad_opts){.create_graph = true}), "grad");
  {
    static const double e4[] = {0, 6, 0};
    nbt_assert_values(g, e4, 3, 1e-12, 1e-12, "g");
  }
  nb_tensor *g0 = nb_select(g, 0, 0), *h = NULL;
  nbt_assert_ok(nb_grad(&g0, 1, &x, 1, &h, NULL), "grad of grad");
  {
    static const double e5[] = {0, 3, 0};
    nbt_assert_values(h, e5, 3, 1e-12, 1e-12, "h");
  }
  nb_scope_end();
}

Test(ag_reduce, errors) {
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(3, 4), NULL);
  nb_requires_grad_(x, true);
  nbt_expect_null(nb_prod(x, (int[]){2}, 1, false), NBT_ANY_STATUS, "prod");
  nbt_expect_null(nb_amax(x, (int[]){-3}, 1, false), NBT_ANY_STATUS, "amax");
  nbt_expect_null(nb_amin(x, (int[]){5}, 1, false), NBT_ANY_STATUS, "amin");
  nbt_expect_null(nb_var(x, (int[]){4}, 1, 1, false), NBT_ANY_STATUS, "var");
  nbt_expect_null(nb_logsumexp(x, (int[]){2}, 1, false), NBT_ANY_STATUS, "logsumexp");
  nbt_expect_null(nb_norm(x, 2, (int[]){3}, 1, false), NBT_ANY_STATUS, "norm");
  nbt_expect_null(nb_cumsum(x, 2), NBT_ANY_STATUS, "cumsum");
  nb_tensor *v = NULL;
  cr_expect_neq(nb_max_dim(x, 2, false, &v, NULL), NB_OK);
  cr_expect_null(v);
  cr_expect(strstr(nb_errmsg(), "max") != NULL, "%s", nb_errmsg());
  nb_scope_end();
}
