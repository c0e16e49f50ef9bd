/* bench/bench_cnn.c - one Fashion-MNIST epoch of a small conv net, and test accuracy.
 *
 * Owns: the twin of bench/torch_ref.py's `cnn` workload: Conv2d(1, 32, 3) ->
 * ReLU -> MaxPool2d(2) -> Conv2d(32, 64, 3) -> ReLU -> MaxPool2d(2) -> Flatten
 * -> Linear(1600, 128) -> ReLU -> Linear(128, 10) on batches viewed as
 * [64, 1, 28, 28], trained and tested by bench_fmnist.h (Adam lr 1e-3, batch
 * 64, one shuffled epoch through the DataLoader).
 *
 *   bench_cnn [THREADS]     (default $NB_NUM_THREADS, else 2)
 *
 * Prints one line:
 *   cnn nabla_s=<epoch s> test_acc=<acc> allocs_after_warmup=<n> peak_rss_mb=<MiB>
 */
#include "bench/bench_fmnist.h"

int main(int argc, char **argv) {
  static const char prog[] = "bench_cnn";
  if (bench_threads(prog, argc, argv) < 0) return 2;
  nb_manual_seed(0);
  nb_module *net = nb_sequential_new(
      (nb_module *[]){nb_conv2d_new(1, 32, 3, 3, NULL), nb_relu_new(),
                      nb_max_pool2d_new(2, 2, NULL), nb_conv2d_new(32, 64, 3, 3, NULL),
                      nb_relu_new(), nb_max_pool2d_new(2, 2, NULL), nb_flatten_new(1, -1),
                      nb_linear_new(1600, 128, NULL), nb_relu_new(), nb_linear_new(128, 10, NULL)},
      10);
  return bench_fmnist_run(prog, "cnn", net, NB_SHAPE(-1, 1, 28, 28));
}
