/* tests/autograd/test_engine.c - the backward engine's behaviour.
 *
 * Accumulation, keep_graph and the released-graph error, no-grad, detach,
 * hooks, retain_grad, the in-place (stale saved tensor) error, a chain of a
 * million ops, anomaly mode, DOT export, higher-order gradients through
 * nb_grad, and that training-style steps in scopes leak nothing.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "nabla.h"
#include "support/nbtest.h"

TestSuite(engine, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

static nb_tensor *leaf(const double *v, int n) {
  nb_tensor *t = nb_from_data(NB_DTYPE_FLOAT64, v, 1, (int64_t[]){n});
  nb_requires_grad_(t, true);
  return t;
}

Test(engine, square_sum_gradient_and_accumulation) {
  nb_tensor *x = leaf((double[]){1, -2, 3}, 3);
  for (int round = 1; round <= 2; round++) {
    nb_scope_begin();
    nb_tensor *y = nb_sum(nb_mul(x, x), NB_ALL_DIMS, false);
    cr_assert_float_eq(nb_item(y), 14.0, 1e-12);
    nbt_assert_ok(nb_backward(y), "backward");
    nb_scope_end();
    /* d/dx sum(x^2) = 2x, accumulated over rounds */
    nbt_assert_values(nb_grad_of(x), ((double[]){2.0 * round, -4.0 * round, 6.0 * round}), 3, 1e-12,
                      0, "accumulated grad");
  }
  nbt_assert_ok(nb_zero_grad(x, false), "zero_grad");
  nbt_assert_values(nb_grad_of(x), ((double[]){0, 0, 0}), 3, 0, 0, "zeroed");
  nbt_assert_ok(nb_zero_grad(x, true), "zero_grad none");
  cr_assert_null(nb_grad_of(x));
  nb_free(x);
}

Test(engine, broadcast_gradient_is_summed_to_input_shape) {
  nb_scope_begin();
  nb_tensor *a = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *b = nb_from_data(NB_DTYPE_FLOAT32, (float[]){1, 2, 3}, NB_SHAPE(3));
  nb_requires_grad_(a, true);
  nb_requires_grad_(b, true);
  nb_tensor *y = nb_sum(nb_mul(a, b), NB_ALL_DIMS, false);
  nbt_assert_ok(nb_backward(y), "backward");
  nbt_assert_values(nb_grad_of(b), ((double[]){2, 2, 2}), 3, 0, 0, "b grad summed over rows");
  nbt_assert_values(nb_grad_of(a), ((double[]){1, 2, 3, 1, 2, 3}), 6, 0, 0, "a grad");
  nb_scope_end();
}

Test(engine, keep_graph_and_released_graph_error) {
  nb_tensor *x = leaf((double[]){0.5, 1.5}, 2);
  nb_scope_begin();
  nb_tensor *y = nb_sum(nb_exp(x), NB_ALL_DIMS, false);
  nbt_assert_ok(nb_backward_ex(y, &(nb_backward_opts){.keep_graph = true}), "first");
  nbt_assert_ok(nb_backward(y), "second (graph kept)");
  nbt_assert_values(nb_grad_of(x), ((double[]){2 * exp(0.5), 2 * exp(1.5)}), 2, 1e-12, 0, "2x");
  cr_assert_eq(nb_backward(y), NB_ERR_GRAPH);
  cr_assert(strstr(nb_errmsg(), "second time"), "message: %s", nb_errmsg());
  cr_assert(strstr(nb_errmsg(), "exp") || strstr(nb_errmsg(), "sum"), "names op: %s", nb_errmsg());
  nb_clear_error();
  nb_scope_end();
  nb_free(x);
}

Test(engine, non_scalar_backward_needs_grad_output) {
  nb_tensor *x = leaf((double[]){1, 2}, 2);
  nb_scope_begin();
  nb_tensor *y = nb_mul_scalar(x, 3);
  cr_assert_eq(nb_backward(y), NB_ERR_SHAPE);
  cr_assert(strstr(nb_errmsg(), "not a scalar"), "%s", nb_errmsg());
  nb_tensor *go = nb_from_data(NB_DTYPE_FLOAT64, (double[]){1, 10}, NB_SHAPE(2));
  nbt_assert_ok(nb_backward_ex(y, &(nb_backward_opts){.grad_output = go}), "with grad_output");
  nbt_assert_values(nb_grad_of(x), ((double[]){3, 30}), 2, 0, 0, "vjp");
  nb_scope_end();
  nb_free(x);
}

Test(engine, no_grad_nests_and_detach_cuts) {
  nb_tensor *x = leaf((double[]){1, 2}, 2);
  nb_scope_begin();
  nb_no_grad_begin();
  nb_no_grad_begin();
  cr_assert(!nb_requires_grad(nb_exp(x)), "no graph under no_grad");
  nb_no_grad_end();
  cr_assert(!nb_is_grad_enabled());
  bool prev = nb_set_grad_enabled(true); /* enable-grad inside no-grad */
  cr_assert(nb_requires_grad(nb_exp(x)));
  nb_set_grad_enabled(prev);
  nb_no_grad_end();
  cr_assert(nb_is_grad_enabled());
  nb_tensor *d = nb_detach(nb_exp(x));
  cr_assert(!nb_requires_grad(d) && nb_is_leaf(d));
  cr_assert_eq(nb_backward(nb_sum(d, NB_ALL_DIMS, false)), NB_ERR_GRAPH);
  nb_clear_error();
  cr_assert_eq(nb_requires_grad_(nb_exp(x), false), NB_ERR_GRAPH);
  nb_tensor *i = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(2));
  cr_assert_eq(nb_requires_grad_(i, true), NB_ERR_DTYPE);
  nb_clear_error();
  nb_scope_end();
  nb_free(x);
}

static nb_tensor *double_it(nb_tensor *g, void *user) {
  (*(int *)user)++;
  return nb_mul_scalar(g, 2.0);
}

Test(engine, hooks_and_retain_grad) {
  nb_tensor *x = leaf((double[]){1, 2}, 2);
  int calls = 0;
  nbt_assert_ok(nb_register_hook(x, double_it, &calls), "leaf hook");
  nb_scope_begin();
  nb_tensor *h = nb_mul_scalar(x, 3);
  nbt_assert_ok(nb_retain_grad(h), "retain");
  nbt_assert_ok(nb_register_hook(h, double_it, &calls), "non-leaf hook");
  nbt_assert_ok(nb_backward(nb_sum(h, NB_ALL_DIMS, false)), "backward");
  cr_assert_eq(calls, 2);
  /* h's gradient 1 doubled by its hook = 2; x's = 2*3 = 6, doubled = 12 */
  nbt_assert_values(nb_grad_of(h), ((double[]){2, 2}), 2, 0, 0, "retained (after hook)");
  nbt_assert_values(nb_grad_of(x), ((double[]){12, 12}), 2, 0, 0, "leaf after hooks");
  nb_scope_end();
  nb_free(x);
}

Test(engine, in_place_modification_of_saved_tensor_is_an_error) {
  nb_tensor *x = leaf((double[]){0.1, 0.2}, 2);
  nb_scope_begin();
  nb_tensor *y = nb_exp(x); /* saves its output */
  nb_tensor *z = nb_sum(y, NB_ALL_DIMS, false);
  nbt_assert_ok(nb_add_scalar_(y, 1.0), "in-place write");
  cr_assert_eq(nb_backward(z), NB_ERR_STALE);
  cr_assert(strstr(nb_errmsg(), "exp"), "names the op: %s", nb_errmsg());
  cr_assert(strstr(nb_errmsg(), "modified in place"), "%s", nb_errmsg());
  nb_clear_error();
  nb_scope_end();
  nb_free(x);
}

Test(engine, million_op_chain_without_stack_overflow, .timeout = 120) {
  nb_tensor *x = leaf((double[]){1}, 1);
  nb_tensor *y = nb_retain(x);
  for (int i = 0; i < 1000000; i++) {
    nb_tensor *next = nb_add_scalar(y, 1e-6);
    nb_free(y);
    y = next;
  }
  cr_assert_not_null(y);
  nb_tensor *s = nb_sum(y, NB_ALL_DIMS, false);
  nbt_assert_ok(nb_backward(s), "backward through 1e6 ops");
  nbt_assert_values(nb_grad_of(x), ((double[]){1}), 1, 0, 0, "chain grad");
  nb_free(s);
  nb_free(y); /* frees a million nodes without recursion */
  nb_free(x);
}

Test(engine, anomaly_mode_names_the_op) {
  nb_tensor *x = leaf((double[]){-1, 2}, 2);
  nb_set_anomaly_mode(true);
  nb_scope_begin();
  cr_assert_null(nb_log(x));
  cr_assert_eq(nb_last_status(), NB_ERR_NUMERIC);
  cr_assert(strstr(nb_errmsg(), "log"), "%s", nb_errmsg());
  cr_assert(strstr(nb_errmsg(), "[2]"), "shape in message: %s", nb_errmsg());
  nb_clear_error();
  nb_scope_end();
  nb_set_anomaly_mode(false);
  nb_free(x);
}

Test(engine, dot_export) {
  nb_tensor *x = leaf((double[]){1, 2}, 2);
  nb_scope_begin();
  nb_tensor *y = nb_sum(nb_exp(nb_mul(x, x)), NB_ALL_DIMS, false);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  nbt_assert_ok(nb_export_dot(y, f), "export");
  fclose(f);
  cr_assert(strstr(buf, "digraph"), "%s", buf);
  cr_assert(strstr(buf, "exp") && strstr(buf, "mul") && strstr(buf, "sum"), "%s", buf);
  cr_assert(strstr(buf, "requires_grad"), "leaf marked: %s", buf);
  cr_assert(strstr(buf, "saved 16 B"), "saved bytes of exp's output: %s", buf);
  free(buf);
  nb_scope_end();
  nb_free(x);
}

Test(engine, second_derivative_and_hessian_vector_product) {
  nb_tensor *x = leaf((double[]){1, 2, 3}, 3);
  nb_scope_begin();
  /* f = sum(x^3): df = 3x^2, d2f (diagonal) = 6x */
  nb_tensor *f = nb_sum(nb_pow_scalar(x, 3), NB_ALL_DIMS, false);
  nb_tensor *g = NULL;
  nbt_assert_ok(nb_grad(&f, 1, &x, 1, &g, &(nb_grad_opts){.create_graph = true}), "grad");
  nbt_assert_values(g, ((double[]){3, 12, 27}), 3, 1e-12, 0, "first");
  cr_assert(nb_requires_grad(g), "create_graph makes a differentiable gradient");
  cr_assert_null(nb_grad_of(x), "nb_grad leaves .grad alone");
  nb_tensor *v = nb_from_data(NB_DTYPE_FLOAT64, (double[]){1, 0, 2}, NB_SHAPE(3));
  nb_tensor *gv = nb_sum(nb_mul(g, v), NB_ALL_DIMS, false);
  nb_tensor *hv = NULL;
  nbt_assert_ok(nb_grad(&gv, 1, &x, 1, &hv, NULL), "hvp");
  nbt_assert_values(hv, ((double[]){6, 0, 36}), 3, 1e-12, 0, "H v = 6x * v");
  nb_scope_end();
  nb_free(x);
}

Test(engine, grad_unused_input) {
  nb_tensor *x = leaf((double[]){1}, 1), *z = leaf((double[]){2}, 1);
  nb_scope_begin();
  nb_tensor *y = nb_sum(nb_mul_scalar(x, 2), NB_ALL_DIMS, false);
  nb_tensor *gs[2];
  cr_assert_eq(nb_grad(&y, 1, (nb_tensor *[]){x, z}, 2, gs, &(nb_grad_opts){.keep_graph = true}),
               NB_ERR_GRAPH);
  nb_clear_error();
  nbt_assert_ok(nb_grad(&y, 1, (nb_tensor *[]){x, z}, 2, gs, &(nb_grad_opts){.allow_unused = true}),
                "allow_unused");
  nbt_assert_values(gs[0], ((double[]){2}), 1, 0, 0, "used");
  cr_assert_null(gs[1]);
  nb_scope_end();
  nb_free(x);
  nb_free(z);
}

Test(engine, training_steps_in_scopes_leak_nothing) {
  nb_manual_seed(7);
  nb_tensor *w = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(4, 3), NULL);
  nb_tensor *b = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(4));
  nb_requires_grad_(w, true);
  nb_requires_grad_(b, true);
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(8, 3), NULL);
  nb_tensor *y = nb_from_data(NB_DTYPE_INT64, (int64_t[]){0, 1, 2, 3, 0, 1, 2, 3}, NB_SHAPE(8));
  nb_mem_stats before, after;
  double first = 0, last = 0;
  for (int step = 0; step < 1000; step++) {
    if (step == 1) nb_mem_stats_get(&before);
    nb_scope_begin();
    nb_tensor *loss = nb_cross_entropy(nb_relu(nb_linear(x, w, b)), y, NULL);
    if (step == 0) first = nb_item(loss);
    last = nb_item(loss);
    nb_zero_grad(w, false);
    nb_zero_grad(b, false);
    nbt_assert_ok(nb_backward(loss), "step");
    nb_no_grad_begin();
    nb_axpy_(w, -0.1, nb_grad_of(w));
    nb_axpy_(b, -0.1, nb_grad_of(b));
    nb_no_grad_end();
    nb_scope_end();
  }
  nb_mem_stats_get(&after);
  cr_assert_eq(after.live_tensors, before.live_tensors, "live tensors %lld -> %lld",
               (long long)before.live_tensors, (long long)after.live_tensors);
  cr_assert_lt(last, first * 0.8, "the loss goes down: %g -> %g", first, last);
  nb_free(w);
  nb_free(b);
  nb_free(x);
  nb_free(y);
}
