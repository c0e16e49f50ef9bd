/* examples/custom_module.c - writing your own module in C.
 *
 * A module is a struct whose first member is an nb_module, made with
 * nb_module_new(&ops, sizeof(struct)). Its ops give the type name, the
 * forward (any differentiable nabla calls) and optionally a one-line
 * description and a free for what the struct owns beyond its parameters,
 * buffers and children. Here: a residual block x + fc2(relu(fc1(x))) whose two
 * Linear children are registered as "fc1" and "fc2", so the model's
 * parameters get PyTorch's names ("1.fc1.weight", ...). main() puts it in a
 * Sequential, prints the summary and fits a synthetic regression with plain
 * SGD written against nb_module_parameters.
 */
#include <stdio.h>

#include "nabla.h"

typedef struct residual_block {
  nb_module base; /* must come first */
  int64_t features;
  nb_module *fc1, *fc2; /* children: owned (and freed) by base, borrowed here */
} residual_block;

static nb_tensor *residual_forward(nb_module *self, nb_tensor *const *inputs, int n) {
  residual_block *block = (residual_block *)self;
  if (n != 1) {
    nb_set_error(NB_ERR_ARG, "ResidualBlock: expected 1 input, got %d", n);
    return NULL;
  }
  nb_tensor *h = nb_forward(block->fc1, inputs[0]);
  nb_tensor *a = nb_relu(h);
  nb_tensor *y = nb_forward(block->fc2, a);
  nb_tensor *out = nb_add(inputs[0], y); /* NULL (with the first error) if anything failed */
  nb_free(h);
  nb_free(a);
  nb_free(y);
  return out;
}

static void residual_describe(const nb_module *self, char *buf, size_t size) {
  snprintf(buf, size, "features=%lld", (long long)((const residual_block *)self)->features);
}

static const nb_module_ops residual_ops = {
    .type_name = "ResidualBlock",
    .forward = residual_forward,
    .describe = residual_describe,
};

static nb_module *residual_block_new(int64_t features) {
  residual_block *block = (residual_block *)nb_module_new(&residual_ops, sizeof *block);
  if (!block) return NULL;
  block->features = features;
  block->fc1 = nb_module_add_child(&block->base, "fc1", nb_linear_new(features, features, NULL));
  block->fc2 = nb_module_add_child(&block->base, "fc2", nb_linear_new(features, features, NULL));
  if (!block->fc1 || !block->fc2) {
    nb_module_free(&block->base);
    return NULL;
  }
  return &block->base;
}

int main(void) {
  nb_manual_seed(0);
  nb_module *model =
      nb_sequential_new((nb_module *[]){nb_linear_new(4, 32, NULL), residual_block_new(32),
                                        nb_relu_new(), nb_linear_new(32, 1, NULL)},
                        4);
  if (!model || nb_module_summary(model, NB_DTYPE_FLOAT32, NB_SHAPE(256, 4), stdout) != NB_OK) {
    fprintf(stderr, "custom_module: %s\n", nb_errmsg());
    nb_module_free(model);
    return 1;
  }

  /* Targets from a fixed random "teacher": y = tanh(x A) B. */
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(256, 4), NULL);
  nb_tensor *teacher_a = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(4, 8), NULL);
  nb_tensor *teacher_b = nb_normal(NB_DTYPE_FLOAT32, NB_SHAPE(8, 1), 0.0, 0.5, NULL);
  nb_tensor *xa = nbk_matmul(x, teacher_a), *hidden = nbk_tanh(xa);
  nb_tensor *y = nbk_matmul(hidden, teacher_b);

  const double lr = 0.05;
  const int steps = 300;
  double first = 0, last = 0;
  nb_named_tensors params = nb_module_parameters(model);
  printf("\ntraining: %d parameter tensors, %lld values\n", params.n,
         (long long)nb_module_num_params(model));
  for (int step = 0; step < steps; step++) {
    nb_scope_begin();
    nb_tensor *loss = nb_mse_loss(nb_forward(model, x), y, NULL);
    nb_module_zero_grad(model, true);
    if (!loss || nb_backward(loss) != NB_OK) {
      fprintf(stderr, "custom_module: step %d: %s\n", step, nb_errmsg());
      nb_scope_end();
      break;
    }
    for (int i = 0; i < params.n; i++)
      nb_axpy_(params.tensors[i], -lr, nb_grad_of(params.tensors[i]));
    last = nb_item(loss);
    if (step == 0) first = last;
    if (step % 50 == 0 || step == steps - 1) printf("step %3d  loss %.6f\n", step, last);
    nb_scope_end();
  }
  printf("final loss %.6f (from %.6f)\n", last, first);

  nb_free(y);
  nb_free(hidden);
  nb_free(xa);
  nb_free(teacher_b);
  nb_free(teacher_a);
  nb_free(x);
  nb_module_free(model);
  return last < 0.25 * first ? 0 : 1;
}
