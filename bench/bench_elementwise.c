/* bench/bench_elementwise.c - memory-bound elementwise ops against memcpy.
 *
 * Owns: the twin of bench/torch_ref.py's `elementwise` workload. Two float32
 * leaves a, b of N = 16M elements that require grad; one round runs, for each
 * of add(a, b), mul(a, b) and relu(a): zero the leaves' gradients (set to
 * none), y = op(...), s = sum(y), backward(s). 1 warm-up round, then ROUNDS
 * timed rounds. In the same program, interleaved with the rounds (so a busy
 * machine slows both alike), plain memcpy of 64 MiB buffers moving as many
 * bytes, split over the same number of threads (one memcpy per thread).
 *
 * The memcpy walks a ring of RING buffers (buffer i is copied into buffer
 * i + 1), 384 MiB in all: more than the 320 MiB the ops touch (a, b, y and the
 * two gradients) and more than the last-level cache, so both sides measure
 * memory bandwidth. (Copying one 64 MiB buffer back and forth measures the
 * cache instead on a host with a large L3 - 260 MB on the machine of
 * docs/performance.md, where that doubled memcpy's figure at 2 threads.)
 *
 * Bytes moved per op (E = 4N bytes, one float32 tensor): the traffic an
 * unfused implementation cannot avoid - each tensor read or written once:
 *   add:  forward reads a, b, writes y (3E); sum reads y (1E);
 *         backward writes a.grad and b.grad (2E)               -> 6E
 *   mul:  forward 3E; sum 1E; backward reads b and a, writes
 *         a.grad = g * b and b.grad = g * a (4E)               -> 8E
 *   relu: forward reads a, writes y (2E); sum 1E; backward reads
 *         the mask source (1E) and writes a.grad (1E)          -> 5E
 * so one round is 19E = 19 * 64 MiB (the incoming gradient of sum is an
 * expanded scalar: no traffic). memcpy moves 2 bytes (read + write) per byte
 * copied. gbps = bytes / seconds / 1e9 on both sides.
 *
 *   bench_elementwise [THREADS]     (default $NB_NUM_THREADS, else 2)
 *
 * Prints:
 *   elementwise nabla_s=<s for ROUNDS rounds> gbps=<achieved> memcpy_gbps=<memcpy>
 *     ratio_to_memcpy=<gbps / memcpy_gbps>                      (one line)
 *   elementwise add_gbps=<> mul_gbps=<> relu_gbps=<>            (per op)
 */
#include "bench/bench_util.h"

#include <string.h>

#define N (16 * 1024 * 1024)
#define WARMUP 1
#define ROUNDS 5
#define E ((double)N * sizeof(float))
#define RING 6 /* memcpy buffers of E bytes */

static const char prog[] = "bench_elementwise";

enum { OP_ADD, OP_MUL, OP_RELU, NOPS };
static const char *const op_names[NOPS] = {"add", "mul", "relu"};
static const double op_bytes[NOPS] = {6 * E, 8 * E, 5 * E};

/* One op forward + sum + backward; false on error. */
static bool run_op(int op, nb_tensor *a, nb_tensor *b) {
  nb_scope_begin();
  nb_zero_grad(a, true);
  nb_zero_grad(b, true);
  nb_tensor *y = op == OP_ADD ? nb_add(a, b) : op == OP_MUL ? nb_mul(a, b) : nb_relu(a);
  bool ok = nb_backward(nb_sum(y, NB_ALL_DIMS, false)) == NB_OK;
  nb_scope_end();
  return ok;
}

/* Copy src to dst (bytes), one contiguous piece per thread. */
static void threaded_memcpy(char *dst, const char *src, size_t bytes, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; t++) {
    size_t lo = bytes * (size_t)t / (size_t)threads, hi = bytes * (size_t)(t + 1) / (size_t)threads;
    memcpy(dst + lo, src + lo, hi - lo);
  }
}

int main(int argc, char **argv) {
  int threads = bench_threads(prog, argc, argv);
  if (threads < 0) return 2;
  nb_manual_seed(0);
  nb_tensor *a = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(N), NULL);
  nb_tensor *b = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(N), NULL);
  if (!a || !b || nb_requires_grad_(a, true) != NB_OK || nb_requires_grad_(b, true) != NB_OK)
    return bench_fail(prog, "inputs");
  size_t buf_bytes = (size_t)N * sizeof(float);
  char *ring[RING];
  for (int i = 0; i < RING; i++) {
    ring[i] = malloc(buf_bytes);
    if (!ring[i]) {
      fprintf(stderr, "%s: out of memory\n", prog);
      return 1;
    }
    memset(ring[i], i, buf_bytes); /* fault the pages in before timing */
  }

  /* Copies of 64 MiB (2E moved each) to match one round's 19E. */
  const int copies = 10;
  double op_s[NOPS] = {0}, memcpy_s = 0;
  int next = 0; /* the ring buffer copied next */
  for (int r = 0; r < WARMUP + ROUNDS; r++) {
    for (int op = 0; op < NOPS; op++) {
      double t0 = bench_now();
      if (!run_op(op, a, b)) return bench_fail(prog, op_names[op]);
      if (r >= WARMUP) op_s[op] += bench_now() - t0;
    }
    double t0 = bench_now();
    for (int c = 0; c < copies; c++, next = (next + 1) % RING)
      threaded_memcpy(ring[(next + 1) % RING], ring[next], buf_bytes, threads);
    if (r >= WARMUP) memcpy_s += bench_now() - t0;
  }

  double seconds = 0, bytes = 0;
  for (int op = 0; op < NOPS; op++) seconds += op_s[op], bytes += op_bytes[op] * ROUNDS;
  double gbps = bytes / seconds / 1e9;
  double memcpy_gbps = 2.0 * E * copies * ROUNDS / memcpy_s / 1e9;
  printf("elementwise nabla_s=%.4f gbps=%.2f memcpy_gbps=%.2f ratio_to_memcpy=%.3f\n", seconds,
         gbps, memcpy_gbps, gbps / memcpy_gbps);
  printf("elementwise");
  for (int op = 0; op < NOPS; op++)
    printf(" %s_gbps=%.2f", op_names[op], op_bytes[op] * ROUNDS / op_s[op] / 1e9);
  printf(" (threads=%d rounds=%d, %.0f MB per round)\n", threads, ROUNDS,
         (op_bytes[OP_ADD] + op_bytes[OP_MUL] + op_bytes[OP_RELU]) / 1e6);

  for (int i = 0; i < RING; i++) free(ring[i]);
  nb_free(b);
  nb_free(a);
  return 0;
}
