/* examples/custom_op.c - defining your own differentiable op outside nabla.
 *
 * scaled_tanh(x, a) = a * tanh(x), with `a` broadcast (e.g. a learnable
 * per-feature gain). The op is an nb_op_def: a forward that computes the
 * output with nabla kernels and saves what backward needs, and a backward
 * written with differentiable nb_* ops, so second derivatives work too.
 * main() gradchecks it (first and second order) and fits `a` by gradient
 * descent. tests/autograd/test_custom_op.c reuses this definition.
 */
#include <math.h>
#include <stdio.h>

#include "nabla.h"

/* forward: y = a * tanh(x). Saves the inputs, not tanh(x): a tensor computed
 * in forward is a constant to a second backward, while saved inputs (and the
 * saved output) stay connected to the graph, so second derivatives work. */
static nb_tensor *scaled_tanh_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *params) {
  (void)n;
  (void)params;
  nb_tensor *t = nb_tanh(in[0]); /* forward runs with grad off: a plain kernel call */
  nb_tensor *y = nb_mul(in[1], t);
  nb_free(t);
  nb_ctx_save(ctx, in[0]);
  nb_ctx_save(ctx, in[1]);
  return y;
}

/* backward: dx = g * a * (1 - tanh^2 x), da = g * tanh x (the engine sums da
 * over the dims where a was broadcast). Temporaries belong to the engine's
 * scope: no frees needed here. */
static nb_status scaled_tanh_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **grad_in) {
  nb_tensor *x = nb_ctx_saved(ctx, 0), *a = nb_ctx_saved(ctx, 1);
  nb_tensor *t = nb_tanh(x);
  if (nb_ctx_needs_grad(ctx, 0))
    grad_in[0] = nb_mul(nb_mul(g, a), nb_add_scalar(nb_neg(nb_mul(t, t)), 1.0));
  if (nb_ctx_needs_grad(ctx, 1)) grad_in[1] = nb_mul(g, t);
  return NB_OK;
}

static const nb_op_def scaled_tanh_def = {
    .name = "scaled_tanh",
    .ninputs = 2,
    .forward = scaled_tanh_forward,
    .backward = scaled_tanh_backward,
};

static nb_tensor *scaled_tanh(nb_tensor *x, nb_tensor *a) {
  return nb_apply(&scaled_tanh_def, 2, (nb_tensor *[]){x, a}, NULL);
}

/* The function gradcheck evaluates. */
static nb_tensor *scaled_tanh_check_fn(nb_tensor *const *in, int n, void *user) {
  (void)n;
  (void)user;
  return scaled_tanh(in[0], in[1]);
}

#ifndef NB_CUSTOM_OP_NO_MAIN
int main(void) {
  nb_manual_seed(0);
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(4, 3), NULL);
  nb_tensor *a = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(3), NULL);
  nb_requires_grad_(x, true);
  nb_requires_grad_(a, true);
  nb_tensor *inputs[] = {x, a};
  if (nb_gradcheck(scaled_tanh_check_fn, inputs, 2, NULL, NULL) != NB_OK ||
      nb_gradgradcheck(scaled_tanh_check_fn, inputs, 2, NULL, NULL) != NB_OK) {
    fprintf(stderr, "custom_op: %s\n", nb_errmsg());
    return 1;
  }
  printf("scaled_tanh: gradcheck and gradgradcheck passed\n");

  /* Fit a so that a * tanh(x) matches 2.5 * tanh(x). */
  nb_tensor *gain = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(3));
  nb_requires_grad_(gain, true);
  nb_tensor *xs = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(64, 3), NULL);
  nb_tensor *target = nbk_mul_scalar(nbk_tanh(xs), 2.5);
  double loss_value = 0;
  for (int step = 0; step < 200; step++) {
    nb_scope_begin();
    nb_tensor *loss = nb_mse_loss(scaled_tanh(xs, gain), target, NULL);
    nb_zero_grad(gain, true);
    if (nb_backward(loss) != NB_OK) {
      fprintf(stderr, "custom_op: %s\n", nb_errmsg());
      return 1;
    }
    nb_axpy_(gain, -0.5, nb_grad_of(gain));
    loss_value = nb_item(loss);
    nb_scope_end();
  }
  printf("fitted gain: ");
  nb_print(gain);
  printf("final mse=%.6f\n", loss_value);
  bool fitted = fabs(nb_get(gain, (int64_t[]){0}) - 2.5) < 0.05;
  nb_scope_end();
  return fitted ? 0 : 1;
}
#endif
