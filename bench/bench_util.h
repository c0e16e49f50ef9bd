/* bench/bench_util.h - helpers shared by the benchmark programs.
 *
 * Owns: the wall clock, the thread-count convention (argv[1], else the
 * NB_NUM_THREADS environment variable, else 2; applied to nabla's OpenMP
 * kernels and BLIS with nb_set_num_threads), error reporting, the allocator's
 * system-allocation counter and the process's peak RSS. Header-only (static
 * functions), so each bench_*.c stays one self-contained program.
 */
#ifndef NABLA_BENCH_UTIL_H
#define NABLA_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "nabla.h"

/* Seconds on the monotonic clock. */
static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Print "<prog>: <what>: <nabla's last error>" to stderr; returns 1 for main. */
static inline int bench_fail(const char *prog, const char *what) {
  fprintf(stderr, "%s: %s: %s\n", prog, what, nb_errmsg());
  return 1;
}

/* Read the thread count (argv[1], else $NB_NUM_THREADS, else 2) and apply it.
 * Returns the count, or -1 after printing a usage error. */
static inline int bench_threads(const char *prog, int argc, char **argv) {
  const char *s = argc > 1 ? argv[1] : getenv("NB_NUM_THREADS");
  int n = s && *s ? atoi(s) : 2;
  if (n < 1 || nb_set_num_threads(n) != NB_OK) {
    fprintf(stderr, "usage: %s [threads >= 1] (or NB_NUM_THREADS)\n", prog);
    return -1;
  }
  return n;
}

/* Calls nabla's allocator has made to the system allocator so far. */
static inline int64_t bench_system_allocs(void) {
  nb_mem_stats st;
  nb_mem_stats_get(&st);
  return st.system_allocs;
}

/* Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux). */
static inline double bench_peak_rss_mb(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
  return (double)ru.ru_maxrss / 1024.0;
}

#endif /* NABLA_BENCH_UTIL_H */
