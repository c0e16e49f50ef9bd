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
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

nb_status nb__iter_init(nb_iter *it, const char *op, int narg, nb_tensor *const *args) {
  memset(it, 0, sizeof *it);
  const nb_tensor *out = args[0];
  it->narg = narg;
  it->out_size = (int64_t)nb_dtype_size(out->dtype);
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

/* ---- streaming stores for large outputs ----------------------------------- */

#define STREAM_TILE 4096 /* bytes of output computed per tile (stays in L1) */

typedef struct stream_ctx {
  nb_iter_fn fn;
  void *ctx;
  int64_t es;
  int narg;
} stream_ctx;

/* Copy bytes (a multiple of 16) from the tile to 16-byte aligned dst with
 * non-temporal stores. */
static void stream_out(char *dst, const char *tile, int64_t bytes) {
#if defined(__SSE2__)
  for (int64_t i = 0; i < bytes; i += 16)
    _mm_stream_si128((__m128i *)(void *)(dst + i),
                     _mm_load_si128((const __m128i *)(const void *)(tile + i)));
#else
  memcpy(dst, tile, (size_t)bytes);
#endif
}

/* An inner run with a contiguous output: the unaligned head and the tail go
 * straight to fn; the body is computed tile by tile and streamed out. */
static void stream_fn(char **ptrs, const int64_t *strides, int64_t n, void *ctxv) {
  const stream_ctx *sc = ctxv;
  const int64_t es = sc->es;
  if (strides[0] != es || n * es < 4 * STREAM_TILE) {
    sc->fn(ptrs, strides, n, sc->ctx);
    return;
  }
  _Alignas(64) char tile[STREAM_TILE];
  char *p[NB_ITER_MAX_ARGS];
  int64_t head = (int64_t)((16 - (uintptr_t)ptrs[0] % 16) % 16);
  if (head % es) { /* cannot align: write normally */
    sc->fn(ptrs, strides, n, sc->ctx);
    return;
  }
  head /= es;
  const int64_t per_tile = STREAM_TILE / es;
  int64_t done = 0;
  while (done < n) {
    int64_t m = done == 0 && head > 0 ? head : n - done < per_tile ? n - done : per_tile;
    for (int a = 0; a < sc->narg; a++) p[a] = ptrs[a] + done * strides[a];
    int64_t bytes = m * es;
    if ((done == 0 && head > 0) || bytes % 16) {
      sc->fn(p, strides, m, sc->ctx);
    } else {
      char *dst = p[0];
      p[0] = tile;
      sc->fn(p, strides, m, sc->ctx);
      stream_out(dst, tile, bytes);
    }
    done += m;
  }
}

static void run_range(const nb_iter *it, int64_t lo, int64_t hi, nb_iter_fn fn, void *ctx,
                      bool stream) {
  if (!stream) {
    nb__iter_range(it, lo, hi, fn, ctx);
    return;
  }
  stream_ctx sc = {fn, ctx, it->out_size, it->narg};
  nb__iter_range(it, lo, hi, stream_fn, &sc);
#if defined(__SSE2__)
  _mm_sfence(); /* order the streamed stores before anything after the kernel */
#endif
}

void nb__iter_run(const nb_iter *it, nb_iter_fn fn, void *ctx, bool parallel) {
  int threads = parallel ? nb__threads_for(it->numel) : 1;
  bool stream = it->write_only && it->numel * it->out_size >= NB_STREAM_MIN_BYTES;
  if (threads <= 1) {
    run_range(it, 0, it->numel, fn, ctx, stream);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t chunk = (it->numel + nt - 1) / nt;
    int64_t lo = chunk * t, hi = lo + chunk < it->numel ? lo + chunk : it->numel;
    run_range(it, lo, hi, fn, ctx, stream);
  }
}
