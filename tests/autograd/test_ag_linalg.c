/* tests/autograd/test_ag_linalg.c - autograd matrix products vs PyTorch.
 *
 * Sweeps tests/fixtures/ag_linalg.txt (tools/fixtures/gen_ag_linalg.py):
 * matmul in every rank combination (incl. broadcast batches), bmm, linear
 * (bias / no bias / 3-D input), dot, outer, with transposed (non-contiguous)
 * operands: output and gradients, float32 and float64; plus error paths.
 */
#include <string.h>

#include "autograd/autograd.h"
#include "support/nbtest.h"

TestSuite(ag_linalg, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

static void check_tol(const nbt_case *c, const char *name, nb_tensor *t, bool f32) {
  nbt_case_check(c, name, t, f32 ? 1e-5 : 1e-10, f32 ? 1e-5 : 1e-12);
}

static void run_case(const nbt_case *c) {
  nb_scope_begin();
  int op = (int)nbt_case_param(c, "op");
  nb_tensor *a = nbt_case_tensor(c, "a"), *b = nbt_case_tensor(c, "b");
  nb_tensor *bias = nbt_case_has_tensor(c, "bias") ? nbt_case_tensor(c, "bias") : NULL;
  bool f32 = nb_dtype_of(a) == NB_DTYPE_FLOAT32;
  nb_requires_grad_(a, true);
  nb_requires_grad_(b, true);
  if (bias) nb_requires_grad_(bias, true);
  nb_tensor *av = nbt_case_param(c, "a_t") != 0 ? nb_transpose(a, -1, -2) : a;
  nb_tensor *bv = nbt_case_param(c, "b_t") != 0 ? nb_transpose(b, -1, -2) : b;
  nb_tensor *out = op == 0   ? nb_matmul(av, bv)
                   : op == 1 ? nb_bmm(av, bv)
                   : op == 2 ? nb_linear(av, bv, bias)
                   : op == 3 ? nb_dot(av, bv)
                             : nb_outer(av, bv);
  cr_assert_not_null(out, "%s: %s", nbt_case_name(c), nb_errmsg());
  check_tol(c, "out", out, f32);
  nb_backward_opts bo = {.grad_output = nbt_case_tensor(c, "gout")};
  cr_assert_eq(nb_backward_ex(out, &bo), NB_OK, "%s: %s", nbt_case_name(c), nb_errmsg());
  check_tol(c, "ga", nb_grad_of(a), f32);
  check_tol(c, "gb", nb_grad_of(b), f32);
  if (bias) check_tol(c, "gbias", nb_grad_of(bias), f32);
  nb_scope_end();
}

Test(ag_linalg, fixtures_vs_pytorch) {
  nbt_fixture *f = nbt_fixture_load("ag_linalg");
  int n = nbt_fixture_num_cases(f);
  cr_assert_gt(n, 40);
  for (int i = 0; i < n; i++) run_case(nbt_fixture_case_index(f, i));
  nbt_fixture_free(f);
}

static void expect_err(nb_tensor *t, const char *op, const char *detail) {
  cr_assert_null(t, "%s: expected an error", op);
  cr_assert(strstr(nb_errmsg(), op), "message lacks %s: %s", op, nb_errmsg());
  if (detail) cr_assert(strstr(nb_errmsg(), detail), "message lacks %s: %s", detail, nb_errmsg());
}

Test(ag_linalg, errors) {
  nb_scope_begin();
  nb_tensor *v3 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3));
  nb_tensor *v4 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4));
  nb_tensor *v3d = nb_ones(NB_DTYPE_FLOAT64, NB_SHAPE(3));
  nb_tensor *m23 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *b234 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3, 4));
  nb_tensor *b354 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3, 5, 4));
  expect_err(nb_dot(v3, v4), "dot", "[4]");
  expect_err(nb_dot(v3, v3d), "dot", "float64");
  expect_err(nb_dot(m23, v3), "dot", "[2, 3]");
  expect_err(nb_outer(m23, v3), "outer", "[2, 3]");
  expect_err(nb_bmm(b234, b354), "bmm", "[3, 5, 4]");
  expect_err(nb_matmul(m23, m23), "matmul", "[2, 3]");
  cr_assert_null(nb_dot(NULL, v3));
  nb_scope_end();
}
