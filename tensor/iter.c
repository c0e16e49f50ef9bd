/* tensor/iter.c - the broadcasting strided iterator under every elementwise
 * kernel.
 *
 * Owns: aligning operands to the output shape (stride 0 where broadcast),
 * dropping size-1 dims and collapsing dims that are contiguous for every
 * operand, and walking any linear range of the result with one callback per
 * inner run, serially or split across OpenMP threads.
 */
#include "tensor/tensor_impl.h"

#include <omp.h>
#include <string.h>

nb_status nb__iter_init(nb_iter *it, const char *op, int narg, nb_tensor *const *args) {
  memset(it, 0, sizeof *it);
  const nb_tensor *out = args[0];
  it->narg = narg;
  it->numel = out->numel;
  /* Full-rank byte strides of each operand in the output's shape. */
  int64_t st[NB_ITER_MAX_ARGS][NB_MAX_DIMS];
  for (int a = 0; a < narg; a++) {
    const nb_tensor *t = args[a];
    size_t es = nb_dtype_size(t->dtype);
    it->base[a] = (char *)t->storage->data + (size_t)t->offset * es;
    if (t->ndim > out->ndim) goto mismatch;
    for (int d = 0; d < out->ndim; d++) {
      int td = d - (out->ndim - t->ndim);
      if (td < 0) {
        st[a][d] = 0;
      } else if (t->shape[td] == out->shape[d]) {
        st[a][d] = t->strides[td] * (int64_t)es;
      } else if (t->shape[td] == 1) {
        st[a][d] = 0;
      } else {
        goto mismatch;
      }
    }
  }
  /* Drop size-1 dims, then merge an outer dim into its inner neighbour when
   * every operand steps across the pair as across one dim. */
  int n = 0;
  for (int d = 0; d < out->ndim; d++) {
    if (out->shape[d] == 1) continue;
    if (n > 0) {
      bool merge = true;
      for (int a = 0; a < narg && merge; a++)
        merge = it->strides[a][n - 1] == st[a][d] * out->shape[d];
      if (merge) {
        it->shape[n - 1] *= out->shape[d];
        for (int a = 0; a < narg; a++) it->strides[a][n - 1] = st[a][d];
        continue;
      }
    }
    it->shape[n] = out->shape[d];
    for (int a = 0; a < narg; a++) it->strides[a][n] = st[a][d];
    n++;
  }
  if (n == 0) { /* a single element */
    it->shape[0] = 1;
    n = 1;
  }
  it->ndim = n;
  return NB_OK;
mismatch:;
  char msg[512];
  int len = snprintf(msg, sizeof msg, "%s: shapes", op);
  for (int a = 1; a < narg && len < (int)sizeof msg; a++)
    len += snprintf(msg + len, sizeof msg - (size_t)len, " %s", nb__shp(args[a]));
  return nb__fail(NB_ERR_SHAPE, "%s cannot be broadcast to the output shape %s", msg, nb__shp(out));
}

/* The walk for a known operand count (the dispatch below makes NARG a
 * constant, so the per-run pointer updates unroll). Pointers start at
 * `start`; after each run they move on by whole runs and carry into outer
 * dims like an odometer, never recomputing offsets from indices. */
static inline __attribute__((always_inline)) void
range_n(const nb_iter *it, int64_t start, int64_t end, nb_iter_fn fn, void *ctx, const int NARG) {
  const int last = it->ndim - 1;
  int64_t idx[NB_MAX_DIMS];
  int64_t rest = start;
  for (int d = last; d >= 0; d--) {
    idx[d] = rest % it->shape[d];
    rest /= it->shape[d];
  }
  char *ptrs[NB_ITER_MAX_ARGS];
  int64_t inner[NB_ITER_MAX_ARGS];
  /* jump[d][a]: from one past the end of dim d + 1 to the next index of dim d. */
  int64_t jump[NB_MAX_DIMS][NB_ITER_MAX_ARGS];
  for (int a = 0; a < NARG; a++) {
    int64_t off = 0;
    for (int d = 0; d <= last; d++) off += idx[d] * it->strides[a][d];
    ptrs[a] = it->base[a] + off;
    inner[a] = it->strides[a][last];
    for (int d = 0; d < last; d++)
      jump[d][a] = it->strides[a][d] - it->shape[d + 1] * it->strides[a][d + 1];
  }
  int64_t pos = start;
  for (;;) {
    int64_t n = it->shape[last] - idx[last];
    if (n > end - pos) n = end - pos;
    fn(ptrs, inner, n, ctx);
    pos += n;
    if (pos >= end) return;
    /* The run ended at the end of the inner dim (else pos == end). */
    idx[last] = 0;
    int d = last - 1;
    for (int a = 0; a < NARG; a++) ptrs[a] += n * inner[a] + jump[d][a];
    while (++idx[d] == it->shape[d] && d > 0) {
      idx[d--] = 0;
      for (int a = 0; a < NARG; a++) ptrs[a] += jump[d][a];
    }
  }
}

void nb__iter_range(const nb_iter *it, int64_t start, int64_t end, nb_iter_fn fn, void *ctx) {
  if (start >= end) return;
  switch (it->narg) {
  case 1: range_n(it, start, end, fn, ctx, 1); break;
  case 2: range_n(it, start, end, fn, ctx, 2); break;
  case 3: range_n(it, start, end, fn, ctx, 3); break;
  default: range_n(it, start, end, fn, ctx, NB_ITER_MAX_ARGS); break;
  }
}

void nb__iter_run(const nb_iter *it, nb_iter_fn fn, void *ctx, bool parallel) {
  int threads = parallel ? nb__threads_for(it->numel) : 1;
  if (threads <= 1) {
    nb__iter_range(it, 0, it->numel, fn, ctx);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t chunk = (it->numel + nt - 1) / nt;
    int64_t lo = chunk * t, hi = lo + chunk < it->numel ? lo + chunk : it->numel;
    nb__iter_range(it, lo, hi, fn, ctx);
  }
}
