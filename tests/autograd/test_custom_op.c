/* tests/autograd/test_custom_op.c - a user-defined op through the public API.
 *
 * Reuses examples/custom_op.c's scaled_tanh and checks its values, its first
 * and second derivatives, and that gradcheck catches a wrong backward.
 */
#define NB_CUSTOM_OP_NO_MAIN
#include "../../examples/custom_op.c"

#include <criterion/criterion.h>
#include <string.h>

#include "support/nbtest.h"

TestSuite(custom_op, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

Test(custom_op, values_and_gradients) {
  nb_scope_begin();
  nb_tensor *x = nb_from_data(NB_DTYPE_FLOAT64, (double[]){0.5, -1.0}, NB_SHAPE(2));
  nb_tensor *a = nb_from_data(NB_DTYPE_FLOAT64, (double[]){3.0}, NB_SHAPE(1));
  nb_requires_grad_(x, true);
  nb_requires_grad_(a, true);
  nb_tensor *y = scaled_tanh(x, a);
  nbt_assert_values(y, ((double[]){3 * tanh(0.5), 3 * tanh(-1.0)}), 2, 1e-12, 0, "forward");
  cr_assert_str_eq(nb_grad_fn_name(y), "scaled_tanh");
  nbt_assert_ok(nb_backward(nb_sum(y, NB_ALL_DIMS, false)), "backward");
  double t0 = tanh(0.5), t1 = tanh(-1.0);
  nbt_assert_values(nb_grad_of(x), ((double[]){3 * (1 - t0 * t0), 3 * (1 - t1 * t1)}), 2, 1e-12, 0,
                    "dx");
  nbt_assert_values(nb_grad_of(a), ((double[]){t0 + t1}), 1, 1e-12, 0, "da summed");
  nb_scope_end();
}

Test(custom_op, gradcheck_first_and_second_order) {
  nb_manual_seed(3);
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(3, 2), NULL);
  nb_tensor *a = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(2), NULL);
  nb_requires_grad_(x, true);
  nb_requires_grad_(a, true);
  nb_tensor *in[] = {x, a};
  nbt_assert_ok(nb_gradcheck(scaled_tanh_check_fn, in, 2, NULL, NULL), "gradcheck");
  nbt_assert_ok(nb_gradgradcheck(scaled_tanh_check_fn, in, 2, NULL, NULL), "gradgradcheck");
  nb_scope_end();
}

/* A deliberately wrong backward: gradcheck must name the input and element. */
static nb_status wrong_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  (void)ctx;
  gi[0] = nb_mul_scalar(g, 2.0); /* d/dx of x*x is 2x, not 2 */
  return NB_OK;
}
static nb_tensor *square_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *p) {
  (void)ctx;
  (void)n;
  (void)p;
  return nb_mul(in[0], in[0]);
}
static const nb_op_def wrong_def = {"wrong_square", 1, square_forward, wrong_backward, 0, 0};
static nb_tensor *wrong_fn(nb_tensor *const *in, int n, void *user) {
  (void)n;
  (void)user;
  return nb_apply(&wrong_def, 1, in, NULL);
}

Test(custom_op, gradcheck_reports_a_wrong_backward) {
  nb_scope_begin();
  nb_tensor *x = nb_from_data(NB_DTYPE_FLOAT64, (double[]){3.0, 4.0}, NB_SHAPE(2));
  nb_requires_grad_(x, true);
  cr_assert_eq(nb_gradcheck(wrong_fn, &x, 1, NULL, NULL), NB_ERR_NUMERIC);
  cr_assert(strstr(nb_errmsg(), "input 0"), "%s", nb_errmsg());
  cr_assert(strstr(nb_errmsg(), "element 0"), "%s", nb_errmsg());
  nb_clear_error();
  nb_scope_end();
}

Test(custom_op, op_without_backward_fails_at_backward) {
  static const nb_op_def no_bw = {"no_backward", 1, square_forward, NULL, 0, 0};
  nb_scope_begin();
  nb_tensor *x = nb_from_data(NB_DTYPE_FLOAT64, (double[]){1.0}, NB_SHAPE(1));
  nb_requires_grad_(x, true);
  nb_tensor *y = nb_apply(&no_bw, 1, &x, NULL);
  cr_assert_eq(nb_backward(nb_sum(y, NB_ALL_DIMS, false)), NB_ERR_GRAPH);
  cr_assert(strstr(nb_errmsg(), "no_backward"), "%s", nb_errmsg());
  nb_clear_error();
  nb_scope_end();
}
