/* bench/bench_loader.c - DataLoader throughput on Fashion-MNIST.
 *
 * The training set (60000 x [1, 28, 28] float32 + int64 labels) through
 * nb_fashion_mnist, batches of 64, shuffled: seconds per epoch and batches per
 * second, the workload of `torch_ref.py loader` (PyTorch's DataLoader over a
 * TensorDataset). Usage: bench_loader [threads (2)] [epochs (5)] [prefetch (1)].
 * Prints `loader nabla_s=<seconds per epoch> batches=<n> batches_per_s=<rate>`
 * for the mean over the epochs, then the first (cold) epoch on its own line.
 */
#include "nabla.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
  int epochs = argc > 2 ? atoi(argv[2]) : 5;
  bool prefetch = argc > 3 ? atoi(argv[3]) != 0 : true;
  if (nb_set_num_threads(threads) != NB_OK || epochs < 1) {
    fprintf(stderr, "usage: bench_loader [threads] [epochs] [prefetch]\n");
    return 2;
  }
  nb_dataset *ds = nb_fashion_mnist(NULL, true);
  if (!ds) {
    fprintf(stderr, "bench_loader: %s\n", nb_errmsg());
    return 1;
  }
  nb_loader *l = nb_loader_new(
      ds, &(nb_loader_opts){.batch_size = 64, .shuffle = true, .no_prefetch = !prefetch});
  if (!l) {
    fprintf(stderr, "bench_loader: %s\n", nb_errmsg());
    nb_dataset_free(ds);
    return 1;
  }
  nb_batch b;
  int64_t batches = 0, labels = 0;
  double first = 0, total = 0;
  for (int e = 0; e < epochs; e++) {
    double t0 = now();
    while (nb_loader_next(l, &b)) {
      labels += ((const int64_t *)nb_data(b.y))[0]; /* touch the batch */
      batches++;
    }
    double dt = now() - t0;
    if (nb_loader_status(l) != NB_OK) {
      fprintf(stderr, "bench_loader: %s\n", nb_errmsg());
      return 1;
    }
    if (e == 0) first = dt;
    total += dt;
  }
  double per_epoch = total / epochs;
  int64_t per = batches / epochs;
  printf("loader nabla_s=%.4f batches=%lld batches_per_s=%.0f\n", per_epoch, (long long)per,
         (double)per / per_epoch);
  printf("loader first_epoch_s=%.4f threads=%d epochs=%d prefetch=%d (label sum %lld)\n", first,
         threads, epochs, prefetch, (long long)labels);
  nb_loader_free(l);
  nb_dataset_free(ds);
  return 0;
}
