/* bench/bench_matmul.c - 1024x1024 float32 matmul, forward and "backward".
 *
 * Owns: the matmul benchmark, the twin of /work/shared/reference/torch_ref.py's
 * `matmul` workload: per iteration C = A @ B and the two products of its
 * backward, dA = dC @ B^T and dB = A^T @ dC (transposed views, no copies),
 * 20 iterations after 2 warm-up ones; each iteration also runs the same three
 * products straight through bli_sgemm on the same buffers (interleaved, timed
 * apart), to show what nabla's layer costs.
 *
 *   bench_matmul [THREADS]     (default 2)
 *
 * Prints one line:
 *   matmul nabla_s=<s for 20 fwd+bwd> gflops=<nabla> blis_gflops=<raw> ratio_to_blis=<nabla/raw>
 */
#include <blis.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tensor/tensor.h"

#define N 1024
#define WARMUP 2
#define ITERS 20

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *what) {
  fprintf(stderr, "bench_matmul: %s: %s\n", what, nb_errmsg());
  return 1;
}

/* One iteration of nabla's three products; false on error. */
static bool nabla_step(nb_tensor *a, nb_tensor *b, nb_tensor *at, nb_tensor *bt, nb_tensor *dc) {
  nb_scope_begin();
  nb_tensor *c = nbk_matmul(a, b);
  nb_tensor *da = nbk_matmul(dc, bt);
  nb_tensor *db = nbk_matmul(at, dc);
  bool ok = c && da && db;
  nb_scope_end();
  return ok;
}

/* The same products through bli_sgemm (row-major buffers; a transposed
 * operand is the same buffer with its strides swapped). */
static void blis_step(float *a, float *b, float *dc, float *out) {
  float one = 1.0f, zero = 0.0f;
  bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, N, N, N, &one, a, N, 1, b, N, 1, &zero, out, N,
            1);
  bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, N, N, N, &one, dc, N, 1, b, 1, N, &zero,
            out + N * N, N, 1);
  bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, N, N, N, &one, a, 1, N, dc, N, 1, &zero,
            out + 2 * N * N, N, 1);
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
  if (nb_set_num_threads(threads) != NB_OK) return fail("set_num_threads");
  nb_manual_seed(0);
  nb_tensor *a = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(N, N), NULL);
  nb_tensor *b = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(N, N), NULL);
  nb_tensor *dc = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(N, N)); /* d(sum C)/dC */
  nb_tensor *out = nb_empty(NB_DTYPE_FLOAT32, NB_SHAPE(3, N, N));
  if (!a || !b || !dc || !out) return fail("inputs");

  nb_tensor *at = nbk_t(a), *bt = nbk_t(b);
  /* Interleaved, so a busy machine slows both sides alike. */
  double nabla_s = 0, blis_s = 0;
  for (int it = 0; it < WARMUP + ITERS; it++) {
    double t0 = now();
    if (!nabla_step(a, b, at, bt, dc)) return fail("matmul");
    double t1 = now();
    blis_step(nb_data(a), nb_data(b), nb_data(dc), nb_data(out));
    double t2 = now();
    if (it >= WARMUP) nabla_s += t1 - t0, blis_s += t2 - t1;
  }

  double flop = 3.0 * 2.0 * (double)N * N * N * ITERS;
  double gflops = flop / nabla_s / 1e9, blis_gflops = flop / blis_s / 1e9;
  printf("matmul nabla_s=%.3f gflops=%.1f blis_gflops=%.1f ratio_to_blis=%.3f\n", nabla_s, gflops,
         blis_gflops, gflops / blis_gflops);
  nb_free(bt);
  nb_free(at);
  nb_free(out);
  nb_free(dc);
  nb_free(b);
  nb_free(a);
  return 0;
}
