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

void nb__iter_range(const nb_iter *it, int64_t start, int64_t end, nb_iter_fn fn, void *ctx) {
  if (start >= end) return;
  const int last = it->ndim - 1;
  int64_t idx[NB_MAX_DIMS];
  int64_t rest = start;
  for (int d = last; d >= 0; d--) {
    idx[d] = rest % it->shape[d];
    rest /= it->shape[d];
  }
  int64_t inner[NB_ITER_MAX_ARGS];
  for (int a = 0; a < it->narg; a++) inner[a] = it->strides[a][last];
  char *ptrs[NB_ITER_MAX_ARGS];
  int64_t pos = start;
  while (pos < end) {
    for (int a = 0; a < it->narg; a++) {
      int64_t off = 0;
      for (int d = 0; d <= last; d++) off += idx[d] * it->strides[a][d];
      ptrs[a] = it->base[a] + off;
    }
    int64_t n = it->shape[last] - idx[last];
    if (n > end - pos) n = end - pos;
    fn(ptrs, inner, n, ctx);
    pos += n;
    idx[last] += n;
    for (int d = last; d > 0 && idx[d] == it->shape[d]; d--) {
      idx[d] = 0;
      idx[d - 1]++;
    }
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
