/* examples/optimizers.c - SGD, SGD with momentum and Adam on the same problem.
 *
 * Trains three copies of one 13 -> 16 -> 3 tanh MLP (same initial weights)
 * on the standardized wine data, full batch, with cross-entropy, each with
 * its own optimizer from optim/, and prints the three training-loss curves
 * side by side every 25 steps, then each model's training accuracy.
 *
 * Usage: optimizers [path/to/wine.csv] [steps]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla.h"

#define FEATURES 13
#define HIDDEN 16
#define CLASSES 3
#define RUNS 3

/* The whole CSV as two tensors: one loader batch holding every row. */
static bool load_wine(const char *path, nb_tensor **x, nb_tensor **y) {
  nb_dataset *ds = nb_csv_load(path, &(nb_csv_opts){.target_column = "class"});
  nb_loader *all =
      ds ? nb_loader_new(ds, &(nb_loader_opts){.batch_size = nb_dataset_len(ds)}) : NULL;
  nb_batch b;
  bool ok = all && nb_loader_next(all, &b);
  if (ok) {
    *x = nbk_clone(b.x);
    *y = nbk_clone(b.y);
  }
  nb_loader_free(all);
  nb_dataset_free(ds);
  return ok && *x && *y;
}

static nb_tensor *forward(nb_tensor *x, nb_tensor *const *p) {
  return nb_linear(nb_tanh(nb_linear(x, p[0], p[1])), p[2], p[3]);
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : NB_SOURCE_DIR "/datasets/wine.csv";
  int steps = argc > 2 ? atoi(argv[2]) : 300;
  if (steps <= 0) return 1;
  nb_manual_seed(0);

  nb_scope_begin(); /* data and initial weights; released at the end */
  nb_tensor *raw = NULL, *y = NULL;
  if (!load_wine(path, &raw, &y)) {
    fprintf(stderr, "optimizers: %s\n", nb_errmsg());
    return 1;
  }
  nb_tensor *x =
      nbk_div(nbk_sub(raw, nbk_mean(raw, NB_DIMS(0), true)), nbk_std(raw, NB_DIMS(0), 1, true));
  /* PyTorch's default Linear init, drawn once and copied into each run. */
  const int64_t rows[4] = {HIDDEN, HIDDEN, CLASSES, CLASSES}, cols[4] = {FEATURES, 0, HIDDEN, 0};
  nb_tensor *init[4];
  for (int i = 0; i < 4; i++) {
    double bound = 1.0 / sqrt((double)(i < 2 ? FEATURES : HIDDEN));
    init[i] = cols[i]
                  ? nb_uniform(NB_DTYPE_FLOAT32, NB_SHAPE(rows[i], cols[i]), -bound, bound, NULL)
                  : nb_uniform(NB_DTYPE_FLOAT32, NB_SHAPE(rows[i]), -bound, bound, NULL);
  }
  if (!x || !init[3]) {
    fprintf(stderr, "optimizers: %s\n", nb_errmsg());
    return 1;
  }

  const char *names[RUNS] = {"sgd", "momentum", "adam"};
  nb_tensor *p[RUNS][4];
  nb_optimizer *opt[RUNS];
  for (int r = 0; r < RUNS; r++)
    for (int i = 0; i < 4; i++) {
      p[r][i] = nbk_clone(init[i]);
      nb_requires_grad_(p[r][i], true);
    }
  opt[0] = nb_sgd_new(p[0], 4, &(nb_sgd_opts){.lr = 0.1});
  opt[1] = nb_sgd_new(p[1], 4, &(nb_sgd_opts){.lr = 0.1, .momentum = 0.9});
  opt[2] = nb_adam_new(p[2], 4, &(nb_adam_opts){.lr = 0.01});
  if (!opt[0] || !opt[1] || !opt[2]) {
    fprintf(stderr, "optimizers: %s\n", nb_errmsg());
    return 1;
  }

  printf("wine: %d samples, %d features, %d classes; full-batch training loss\n",
         (int)nb_size(raw, 0), FEATURES, CLASSES);
  printf("%6s", "step");
  for (int r = 0; r < RUNS; r++) printf("  %10s", names[r]);
  printf("\n");
  for (int step = 1; step <= steps; step++) {
    double loss[RUNS];
    for (int r = 0; r < RUNS; r++) {
      nb_scope_begin();
      nb_tensor *l = nb_cross_entropy(forward(x, p[r]), y, NULL);
      nb_optim_zero_grad(opt[r], true);
      if (nb_backward(l) != NB_OK || nb_optim_step(opt[r]) != NB_OK) {
        fprintf(stderr, "optimizers: %s\n", nb_errmsg());
        return 1;
      }
      loss[r] = nb_item(l);
      nb_scope_end();
    }
    if (step == 1 || step % 25 == 0) {
      printf("%6d", step);
      for (int r = 0; r < RUNS; r++) printf("  %10.5f", loss[r]);
      printf("\n");
    }
  }

  printf("%6s", "acc");
  for (int r = 0; r < RUNS; r++) {
    nb_scope_begin();
    nb_no_grad_begin();
    nb_tensor *hits = nbk_to(nb_eq(nb_argmax(forward(x, p[r]), 1, false), y), NB_DTYPE_FLOAT32);
    printf("  %10.4f", nb_item(nbk_mean(hits, NB_ALL_DIMS, false)));
    nb_no_grad_end();
    nb_scope_end();
  }
  printf("\n");
  for (int r = 0; r < RUNS; r++) nb_optim_free(opt[r]);
  nb_scope_end();
  return 0;
}
