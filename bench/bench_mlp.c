/* bench/bench_mlp.c - one Fashion-MNIST epoch of an MLP, and test accuracy.
 *
 * Owns: the twin of bench/torch_ref.py's `mlp` workload: 784 -> 256 -> ReLU ->
 * 128 -> ReLU -> 10 (nn Sequential of Linear/ReLU) on each batch viewed as
 * [64, 784], trained and tested by bench_fmnist.h (Adam lr 1e-3, batch 64,
 * one shuffled epoch through the DataLoader).
 *
 *   bench_mlp [THREADS]     (default $NB_NUM_THREADS, else 2)
 *
 * Prints one line:
 *   mlp nabla_s=<epoch s> test_acc=<acc> allocs_after_warmup=<n> peak_rss_mb=<MiB>
 */
#include "bench/bench_fmnist.h"

int main(int argc, char **argv) {
  static const char prog[] = "bench_mlp";
  if (bench_threads(prog, argc, argv) < 0) return 2;
  nb_manual_seed(0);
  nb_module *net = nb_sequential_new((nb_module *[]){nb_linear_new(784, 256, NULL), nb_relu_new(),
                                                     nb_linear_new(256, 128, NULL), nb_relu_new(),
                                                     nb_linear_new(128, 10, NULL)},
                                     5);
  return bench_fmnist_run(prog, "mlp", net, NB_SHAPE(-1, 784));
}
