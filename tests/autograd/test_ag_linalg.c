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

/* op 0..4: matmul, bmm, linear, dot, outer; a_t / b_t: the operand is seen transposed. */
static nb_tensor *run_linalg(const nbt_case *c, nb_tensor **in) {
  int op = (int)nbt_case_param(c, "op");
  nb_tensor *av = nbt_case_param(c, "a_t") != 0 ? nb_transpose(in[0], -1, -2) : in[0];
  nb_tensor *bv = nbt_case_param(c, "b_t") != 0 ? nb_transpose(in[1], -1, -2) : in[1];
  return op == 0   ? nb_matmul(av, bv)
         : op == 1 ? nb_bmm(av, bv)
         : op == 2 ? nb_linear(av, bv, in[2])
         : op == 3 ? nb_dot(av, bv)
                   : nb_outer(av, bv);
}

static const nbt_grad_input inputs[] = {
    {"a", "ga", NULL}, {"b", "gb", NULL}, {"bias", "gbias", NULL}};
static const nbt_grad_spec spec = {inputs, 3, "gout", {1e-5, 1e-5, 1e-10, 1e-12}, run_linalg};

Test(ag_linalg, fixtures_vs_pytorch) { cr_assert_gt(nbt_check_grad_cases("ag_linalg", &spec), 40); }

Test(ag_linalg, errors) {
  nb_scope_begin();
  nb_tensor *v3 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3));
  nb_tensor *v4 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4));
  nb_tensor *v3d = nb_ones(NB_DTYPE_FLOAT64, NB_SHAPE(3));
  nb_tensor *m23 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *b234 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3, 4));
  nb_tensor *b354 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3, 5, 4));
  nbt_expect_null(nb_dot(v3, v4), NBT_ANY_STATUS, "dot", "[4]");
  nbt_expect_null(nb_dot(v3, v3d), NBT_ANY_STATUS, "dot", "float64");
  nbt_expect_null(nb_dot(m23, v3), NBT_ANY_STATUS, "dot", "[2, 3]");
  nbt_expect_null(nb_outer(m23, v3), NBT_ANY_STATUS, "outer", "[2, 3]");
  nbt_expect_null(nb_bmm(b234, b354), NBT_ANY_STATUS, "bmm", "[3, 5, 4]");
  nbt_expect_null(nb_matmul(m23, m23), NBT_ANY_STATUS, "matmul", "[2, 3]");
  cr_assert_null(nb_dot(NULL, v3));
  nb_scope_end();
}
