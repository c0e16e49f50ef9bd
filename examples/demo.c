/* examples/demo.c - train a small classifier on the shipped wine data.
 *
 * A 13 -> 32 -> 3 MLP, cross-entropy, full-batch SGD with momentum, written
 * with nabla's tensors and autograd only: the parameters are plain tensors
 * that require grad, and the update is two in-place tensor ops per parameter.
 * Prints one line per 20 epochs and ends with `final val_accuracy=<value>`.
 * (The CSV is read with a few lines of stdio here; the data layer's CSV
 * reader replaces them once it lands.)
 *
 * Usage: demo [path/to/wine.csv] [epochs]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla.h"

#define FEATURES 13
#define CLASSES 3
#define HIDDEN 32
#define MAX_ROWS 1024

static int load_wine(const char *path, float *x, int64_t *y) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "demo: cannot open %s\n", path);
    return -1;
  }
  char line[4096];
  int rows = 0;
  if (!fgets(line, sizeof line, f)) rows = -1; /* header */
  while (rows >= 0 && rows < MAX_ROWS && fgets(line, sizeof line, f)) {
    char *p = line;
    for (int j = 0; j < FEATURES; j++) {
      char *end;
      x[rows * FEATURES + j] = strtof(p, &end);
      if (end == p || *end != ',') {
        fprintf(stderr, "demo: %s:%d: bad value in column %d\n", path, rows + 2, j + 1);
        fclose(f);
        return -1;
      }
      p = end + 1;
    }
    const char *label = strstr(p, "class_");
    if (!label) {
      fprintf(stderr, "demo: %s:%d: bad class label\n", path, rows + 2);
      fclose(f);
      return -1;
    }
    y[rows++] = atoi(label + 6);
  }
  fclose(f);
  return rows;
}

/* PyTorch's default Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
static nb_tensor *param(int64_t rows, int64_t cols, int64_t fan_in) {
  double bound = 1.0 / sqrt((double)fan_in);
  nb_tensor *t = cols ? nb_uniform(NB_DTYPE_FLOAT32, NB_SHAPE(rows, cols), -bound, bound, NULL)
                      : nb_uniform(NB_DTYPE_FLOAT32, NB_SHAPE(rows), -bound, bound, NULL);
  nb_requires_grad_(t, true);
  return t;
}

static nb_tensor *forward(nb_tensor *x, nb_tensor **p) {
  return nb_linear(nb_relu(nb_linear(x, p[0], p[1])), p[2], p[3]);
}

static double accuracy(nb_tensor *logits, nb_tensor *y) {
  nb_tensor *pred = nb_argmax(logits, 1, false);
  nb_tensor *hits = nbk_to(nb_eq(pred, y), NB_DTYPE_FLOAT32);
  return nb_item(nbk_mean(hits, NB_ALL_DIMS, false));
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : NB_SOURCE_DIR "/datasets/wine.csv";
  int epochs = argc > 2 ? atoi(argv[2]) : 200;
  static float xs[MAX_ROWS * FEATURES];
  static int64_t ys[MAX_ROWS];
  int n = load_wine(path, xs, ys);
  if (n <= 0) return 1;
  nb_manual_seed(0);
  nb_scope_begin(); /* owns everything below; released at the end */

  /* Split 80/20 with a seeded permutation, standardize with training stats. */
  nb_tensor *x_all = nb_from_data(NB_DTYPE_FLOAT32, xs, NB_SHAPE(n, FEATURES));
  nb_tensor *y_all = nb_from_data(NB_DTYPE_INT64, ys, NB_SHAPE(n));
  nb_tensor *perm = nb_randperm(n, NULL);
  int64_t n_train = n * 8 / 10;
  nb_tensor *tr = nbk_narrow(perm, 0, 0, n_train), *va = nbk_narrow(perm, 0, n_train, n - n_train);
  nb_tensor *x_tr = nbk_index_select(x_all, 0, tr), *y_tr = nbk_index_select(y_all, 0, tr);
  nb_tensor *x_va = nbk_index_select(x_all, 0, va), *y_va = nbk_index_select(y_all, 0, va);
  nb_tensor *mu = nbk_mean(x_tr, NB_DIMS(0), true), *sd = nbk_std(x_tr, NB_DIMS(0), 1, true);
  nb_tensor *xt = nbk_div(nbk_sub(x_tr, mu), sd), *xv = nbk_div(nbk_sub(x_va, mu), sd);
  if (!xt || !xv) {
    fprintf(stderr, "demo: %s\n", nb_errmsg());
    return 1;
  }
  printf("wine: %d samples, %lld train / %lld validation, %d features, %d classes\n", n,
         (long long)n_train, (long long)(n - n_train), FEATURES, CLASSES);

  nb_tensor *p[4] = {param(HIDDEN, FEATURES, FEATURES), param(HIDDEN, 0, FEATURES),
                     param(CLASSES, HIDDEN, HIDDEN), param(CLASSES, 0, HIDDEN)};
  nb_tensor *velocity[4];
  for (int i = 0; i < 4; i++) velocity[i] = nb_zeros_like(p[i], NB_DTYPE_COUNT);
  const double lr = 0.05, momentum = 0.9;

  double val_acc = 0;
  for (int epoch = 1; epoch <= epochs; epoch++) {
    nb_scope_begin();
    nb_tensor *loss = nb_cross_entropy(forward(xt, p), y_tr, NULL);
    for (int i = 0; i < 4; i++) nb_zero_grad(p[i], true);
    if (nb_backward(loss) != NB_OK) {
      fprintf(stderr, "demo: %s\n", nb_errmsg());
      return 1;
    }
    for (int i = 0; i < 4; i++) { /* SGD with momentum, as torch.optim.SGD */
      nb_mul_scalar_(velocity[i], momentum);
      nb_add_(velocity[i], nb_grad_of(p[i]));
      nb_axpy_(p[i], -lr, velocity[i]);
    }
    if (epoch % 20 == 0 || epoch == 1) {
      nb_no_grad_begin();
      nb_tensor *logits = forward(xv, p);
      double val_loss = nb_item(nb_cross_entropy(logits, y_va, NULL));
      val_acc = accuracy(logits, y_va);
      nb_no_grad_end();
      printf("epoch %3d  train_loss %.4f  val_loss %.4f  val_accuracy %.3f\n", epoch,
             nb_item(loss), val_loss, val_acc);
    }
    nb_scope_end();
  }
  printf("final val_accuracy=%.4f\n", val_acc);
  nb_scope_end();
  return 0;
}
