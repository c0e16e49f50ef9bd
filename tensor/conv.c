/* tensor/conv.c - convolutions on BLIS.
 *
 * Owns: conv1d / conv2d, their adjoints conv_transpose1d / conv_transpose2d,
 * and the weight-gradient kernels (tensor/conv.h). 1-D runs as 2-D with a
 * height of 1, so every op is one of three passes over one geometry: an
 * "image" [N, C, H, W] (conv's input, conv_transpose's output) and a "window"
 * tensor [N, O, OH, OW] (conv's output, conv_transpose's input) linked by a
 * weight [O, C/groups, kH, kW]:
 *   forward  window = W_g @ im2col(image)          (conv)
 *   adjoint  image  = col2im(W_g^T @ window)       (conv_transpose)
 *   weight   W_g    = sum window @ im2col(image)^T (weight gradient)
 * Work is split into units, each one GEMM per group:
 *  - a block of samples, when a sample's window is narrow (under BLOCK_MAX_L
 *    columns, as in a late layer whose per-sample GEMMs would be too small to
 *    run BLIS well): im2col writes the block's samples side by side into one
 *    column matrix [cg * kh * kw, samples * oh * ow], and the window side is
 *    gathered into (or scattered from) a buffer [O/groups, samples * oh * ow]
 *    (the weight gradient gathers it transposed and computes W_g^T). Blocks
 *    hold at most BLOCK_BUDGET elements of columns and window rows, and there
 *    are at least MIN_UNITS of them (a multiple of 4) so threads share the
 *    work evenly;
 *  - one sample, whose window rows are used in place: a wide window, or a 1x1
 *    kernel with stride 1 and no padding (the image is its own column
 *    matrix);
 *  - a block of window rows of one sample, when one sample's columns exceed
 *    BLOCK_BUDGET.
 * Units run in parallel with single-threaded BLIS and a column (and window)
 * buffer per thread, or, when there are too few units, one at a time with
 * BLIS threaded. The split into units depends on the sizes only and every
 * output element is computed by one fixed sequence of GEMMs, so results do
 * not depend on the thread count; the weight gradient sums per-chunk
 * partials whose split depends on the sizes only. Every matrix product is a
 * BLIS GEMM; the loops here only copy, fill and add.
 */
#include "tensor/conv.h"
#include "tensor/tensor_impl.h"

#include <blis.h>
#include <omp.h>
#include <string.h>

/* Elements of one unit's column matrix plus window buffer (one thread's). */
#define BLOCK_BUDGET ((int64_t)1 << 19)
/* Samples whose windows have this many columns or more are units of their
 * own: their GEMMs are wide enough, and a block would only add the copies. */
#define BLOCK_MAX_L 512
/* Sample blocks per pass, at least (when there are that many samples). */
#define MIN_UNITS 8
/* Multiply-adds below which a pass stays on one thread. */
#define CONV_PARALLEL_WORK (64.0 * 64.0 * 64.0)
/* The weight gradient's batch split: at most this many partial sums, and at
 * most WG_PARTIAL_BUDGET elements of partials. */
#define WG_MAX_CHUNKS 8
#define WG_PARTIAL_BUDGET ((int64_t)1 << 22)

/* ---- geometry ---------------------------------------------------------------- */

typedef struct geom {
  int64_t n, c, h, w; /* image side */
  int64_t o, oh, ow;  /* window side */
  int64_t kh, kw, sh, sw, ph, pw, dh, dw, groups;
  /* derived */
  int64_t cg, og;  /* channels per group on each side */
  int64_t k;       /* cg * kh * kw: rows of a column matrix */
  int64_t l, hw;   /* oh * ow, h * w */
  int64_t rows;    /* window rows per unit (row blocks) */
  int64_t nblk;    /* row blocks per sample (1 for sample blocks) */
  int64_t units;   /* units per pass */
  int64_t width;   /* the widest unit's columns */
  bool direct;     /* 1x1, stride 1, no padding: no im2col, one sample a unit */
  bool by_samples; /* units are blocks of whole samples */
} geom;

/* A strided matrix for one GEMM. */
typedef struct mat {
  void *p;
  int64_t rows, cols, rs, cs;
} mat;

/* Unit u: samples [n, n + nb), window rows [oh0, oh1); ncols = (oh1 - oh0)
 * * ow columns per sample, width = nb * ncols in all. */
typedef struct unit {
  int64_t n, nb, oh0, oh1, ncols, width;
} unit;

static unit unit_of(const geom *g, int64_t u) {
  unit r = {.nb = 1, .oh1 = g->oh};
  if (g->by_samples) {
    r.n = g->n * u / g->units;
    r.nb = g->n * (u + 1) / g->units - r.n;
  } else {
    r.n = u / g->nblk;
    r.oh0 = (u % g->nblk) * g->rows;
    r.oh1 = r.oh0 + g->rows < g->oh ? r.oh0 + g->rows : g->oh;
  }
  r.ncols = (r.oh1 - r.oh0) * g->ow;
  r.width = r.nb * r.ncols;
  return r;
}

/* The outputs o in [lo, hi) (clamped to [o0, o1)) whose input index
 * o * s + off is in [0, n). */
static void valid_span(int64_t off, int64_t s, int64_t n, int64_t o0, int64_t o1, int64_t *lo,
                       int64_t *hi) {
  int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
  int64_t b = n - off <= 0 ? 0 : (n - off + s - 1) / s;
  a = a < o0 ? o0 : a > o1 ? o1 : a;
  b = b < a ? a : b > o1 ? o1 : b;
  *lo = a, *hi = b;
}

/* BLIS rejects zero or interleaved strides on degenerate (1-row / 1-column)
 * matrices: give those the canonical strides. */
static void blis_strides(int64_t m, int64_t n, int64_t *rs, int64_t *cs) {
  if (m <= 1 && n <= 1)
    *rs = *cs = 1;
  else if (m == 1)
    *rs = *cs * n;
  else if (n == 1)
    *cs = *rs * m;
}

/* ---- typed loops ------------------------------------------------------------------ */

/* im2col: col [k, nb * ncols] with row stride ld (row (c, i, j), column
 * (sample, oh - oh0, ow)) from cg image channels of nb samples x [nb, c, h, w];
 * zeros where the window reads padding.
 * col2im: its adjoint, x[c, ih, iw] += col[...], for channels [c0, c1).
 * gemm: c = a @ b + beta c on nt BLIS threads (pack: pack both operands, which
 * keeps BLIS on kernels summing each element in k order whatever the threads).
 * fill: dst[ch * stride + i] = bias[ch] (0 without bias), ch < nch, i < len.
 * accum: dst += src over n elements.
 * copy_rows: dst[r * dld + i] = src[r * sld + i], r < nrows, i < len.
 * transpose: dst[j * dld + i] = src[i * sld + j], i < nrows, j < ncols.
 *
 * The copies are memory-bound loops over short rows: NB_HOT_LOOP builds an
 * AVX2 clone of them. Rows of a column matrix are runs of ow elements, short
 * in the layers that matter (11, 26): a run of up to 4 chunks of 32 bytes is
 * that many vector moves, the last one overlapping the one before, instead of
 * a loop and its remainder (longer runs are a memcpy); sums go chunk by chunk
 * with a scalar remainder. A chunk moves as one vector (gcc's memcpy of 32
 * unaligned bytes splits into two 16-byte moves even in the AVX2 clone). */
#define CHUNK 32
#if defined(__GNUC__)
#define CHUNK_TYPES(S, T)                                                                          \
  typedef T S##_chunk __attribute__((vector_size(CHUNK), aligned(sizeof(T)), may_alias));          \
  typedef T S##_half __attribute__((vector_size(CHUNK / 2), aligned(sizeof(T)), may_alias));
#define MOVE(S, kind, d, s) (*(S##_##kind *)(d) = *(const S##_##kind *)(s))
#else
#define CHUNK_TYPES(S, T)
#define MOVE_BYTES_chunk CHUNK
#define MOVE_BYTES_half (CHUNK / 2)
#define MOVE(S, kind, d, s) memcpy((d), (s), MOVE_BYTES_##kind)
#endif
CHUNK_TYPES(f32, float)
CHUNK_TYPES(f64, double)
#define CONV_LOOPS(S, T, BLI_GEMM_EX)                                                              \
  static inline void copy_run_##S(T *restrict d, const T *restrict s, int64_t n) {                 \
    enum { V = CHUNK / sizeof(T) };                                                                \
    if (n > 4 * V) {                                                                               \
      memcpy(d, s, sizeof(T) * (size_t)n);                                                         \
    } else if (n >= V) { /* written out: gcc would make a loop a memmove call */                   \
      MOVE(S, chunk, d, s);                                                                        \
      if (n > 2 * V) MOVE(S, chunk, d + V, s + V);                                                 \
      if (n > 3 * V) MOVE(S, chunk, d + 2 * V, s + 2 * V);                                         \
      if (n > V) MOVE(S, chunk, d + n - V, s + n - V);                                             \
    } else if (n >= V / 2) {                                                                       \
      MOVE(S, half, d, s);                                                                         \
      MOVE(S, half, d + n - V / 2, s + n - V / 2);                                                 \
    } else {                                                                                       \
      for (int64_t i = 0; i < n; i++) d[i] = s[i];                                                 \
    }                                                                                              \
  }                                                                                                \
  static inline void add_run_##S(T *restrict d, const T *restrict s, int64_t n) {                  \
    enum { V = CHUNK / sizeof(T) };                                                                \
    int64_t i = 0;                                                                                 \
    for (; i + V <= n; i += V)                                                                     \
      for (int l = 0; l < V; l++) d[i + l] += s[i + l];                                            \
    for (; i < n; i++) d[i] += s[i];                                                               \
  }                                                                                                \
  NB_HOT_LOOP static void im2col_##S(const geom *g, const void *xv, int64_t nb, int64_t oh0,       \
                                     int64_t oh1, void *colv, int64_t ld) {                        \
    const int64_t OW = g->ow, SW = g->sw, ncols = (oh1 - oh0) * OW;                                \
    for (int64_t i = 0; i < g->kh; i++) {                                                          \
      int64_t hoff = i * g->dh - g->ph, hlo, hhi;                                                  \
      valid_span(hoff, g->sh, g->h, oh0, oh1, &hlo, &hhi);                                         \
      for (int64_t j = 0; j < g->kw; j++) {                                                        \
        int64_t off = j * g->dw - g->pw, lo, hi;                                                   \
        valid_span(off, SW, g->w, 0, OW, &lo, &hi);                                                \
        for (int64_t c = 0; c < g->cg; c++)                                                        \
          for (int64_t s = 0; s < nb; s++) {                                                       \
            T *restrict dst = (T *)colv + ((c * g->kh + i) * g->kw + j) * ld + s * ncols;          \
            const T *restrict img = (const T *)xv + (s * g->c + c) * g->hw;                        \
            if (hlo > oh0) memset(dst, 0, sizeof(T) * (size_t)((hlo - oh0) * OW));                 \
            dst += (hlo - oh0) * OW;                                                               \
            for (int64_t oh = hlo; oh < hhi; oh++, dst += OW) {                                    \
              const T *restrict row = img + (oh * g->sh + hoff) * g->w;                            \
              for (int64_t ow = 0; ow < lo; ow++) dst[ow] = 0;                                     \
              if (SW == 1)                                                                         \
                copy_run_##S(dst + lo, row + lo + off, hi - lo);                                   \
              else                                                                                 \
                for (int64_t ow = lo; ow < hi; ow++) dst[ow] = row[ow * SW + off];                 \
              for (int64_t ow = hi; ow < OW; ow++) dst[ow] = 0;                                    \
            }                                                                                      \
            if (oh1 > hhi) memset(dst, 0, sizeof(T) * (size_t)((oh1 - hhi) * OW));                 \
          }                                                                                        \
      }                                                                                            \
    }                                                                                              \
  }                                                                                                \
  NB_HOT_LOOP static void col2im_##S(const geom *g, const void *colv, int64_t ld, int64_t oh0,     \
                                     int64_t oh1, void *xv, int64_t c0, int64_t c1) {              \
    const T *col = colv;                                                                           \
    T *x = xv;                                                                                     \
    const int64_t OW = g->ow, SW = g->sw;                                                          \
    for (int64_t c = c0; c < c1; c++)                                                              \
      for (int64_t i = 0; i < g->kh; i++) {                                                        \
        int64_t hoff = i * g->dh - g->ph, hlo, hhi;                                                \
        valid_span(hoff, g->sh, g->h, oh0, oh1, &hlo, &hhi);                                       \
        for (int64_t j = 0; j < g->kw; j++) {                                                      \
          int64_t off = j * g->dw - g->pw, lo, hi;                                                 \
          valid_span(off, SW, g->w, 0, OW, &lo, &hi);                                              \
          const T *restrict src = col + ((c * g->kh + i) * g->kw + j) * ld + (hlo - oh0) * OW;     \
          for (int64_t oh = hlo; oh < hhi; oh++, src += OW) {                                      \
            T *restrict row = x + c * g->hw + (oh * g->sh + hoff) * g->w;                          \
            if (SW == 1)                                                                           \
              add_run_##S(row + lo + off, src + lo, hi - lo);                                      \
            else                                                                                   \
              for (int64_t ow = lo; ow < hi; ow++) row[ow * SW + off] += src[ow];                  \
          }                                                                                        \
        }                                                                                          \
      }                                                                                            \
  }                                                                                                \
  static void gemm_##S(const mat *a, const mat *b, const mat *c, double beta, int nt, bool pack) { \
    if (c->rows == 0 || c->cols == 0) return;                                                      \
    if (a->cols == 0) {                                                                            \
      for (int64_t i = 0; i < c->rows; i++)                                                        \
        for (int64_t j = 0; j < c->cols; j++) {                                                    \
          T *p = (T *)c->p + i * c->rs + j * c->cs;                                                \
          *p = beta == 0 ? (T)0 : (T)beta * *p;                                                    \
        }                                                                                          \
      return;                                                                                      \
    }                                                                                              \
    int64_t rsa = a->rs, csa = a->cs, rsb = b->rs, csb = b->cs, rsc = c->rs, csc = c->cs;          \
    blis_strides(a->rows, a->cols, &rsa, &csa);                                                    \
    blis_strides(b->rows, b->cols, &rsb, &csb);                                                    \
    blis_strides(c->rows, c->cols, &rsc, &csc);                                                    \
    T one = 1, bt = (T)beta;                                                                       \
    rntm_t rntm = BLIS_RNTM_INITIALIZER;                                                           \
    bli_rntm_set_num_threads(nt, &rntm);                                                           \
    if (pack) {                                                                                    \
      bli_rntm_set_pack_a(true, &rntm);                                                            \
      bli_rntm_set_pack_b(true, &rntm);                                                            \
    }                                                                                              \
    BLI_GEMM_EX(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, c->rows, c->cols, a->cols, &one, (T *)a->p,  \
                rsa, csa, (T *)b->p, rsb, csb, &bt, (T *)c->p, rsc, csc, NULL, &rntm);             \
  }                                                                                                \
  static void fill_##S(void *dstv, const void *biasv, int64_t nch, int64_t len, int64_t stride) {  \
    T *dst = dstv;                                                                                 \
    const T *bias = biasv;                                                                         \
    for (int64_t ch = 0; ch < nch; ch++, dst += stride) {                                          \
      T v = bias ? bias[ch] : (T)0;                                                                \
      for (int64_t i = 0; i < len; i++) dst[i] = v;                                                \
    }                                                                                              \
  }                                                                                                \
  static void accum_##S(void *dstv, const void *srcv, int64_t n) {                                 \
    T *dst = dstv;                                                                                 \
    const T *src = srcv;                                                                           \
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];                                              \
  }                                                                                                \
  NB_HOT_LOOP static void transpose_##S(void *dstv, int64_t dld, const void *srcv, int64_t sld,    \
                                        int64_t nrows, int64_t ncols) {                            \
    enum { B = 8 }; /* rows at a time: each write is a run of B */                                 \
    T *restrict dst = dstv;                                                                        \
    const T *restrict src = srcv;                                                                  \
    int64_t i = 0;                                                                                 \
    for (; i + B <= nrows; i += B)                                                                 \
      for (int64_t j = 0; j < ncols; j++)                                                          \
        for (int r = 0; r < B; r++) dst[j * dld + i + r] = src[(i + r) * sld + j];                 \
    for (; i < nrows; i++)                                                                         \
      for (int64_t j = 0; j < ncols; j++) dst[j * dld + i] = src[i * sld + j];                     \
  }                                                                                                \
  NB_HOT_LOOP static void copy_rows_##S(void *dstv, int64_t dld, const void *srcv, int64_t sld,    \
                                        int64_t nrows, int64_t len) {                              \
    for (int64_t r = 0; r < nrows; r++) {                                                          \
      T *restrict dst = (T *)dstv + r * dld;                                                       \
      const T *restrict src = (const T *)srcv + r * sld;                                           \
      copy_run_##S(dst, src, len);                                                                 \
    }                                                                                              \
  }

CONV_LOOPS(f32, float, bli_sgemm_ex)
CONV_LOOPS(f64, double, bli_dgemm_ex)

typedef struct conv_loops {
  void (*im2col)(const geom *g, const void *x, int64_t nb, int64_t oh0, int64_t oh1, void *col,
                 int64_t ld);
  void (*col2im)(const geom *g, const void *col, int64_t ld, int64_t oh0, int64_t oh1, void *x,
                 int64_t c0, int64_t c1);
  void (*gemm)(const mat *a, const mat *b, const mat *c, double beta, int nt, bool pack);
  void (*fill)(void *dst, const void *bias, int64_t nch, int64_t len, int64_t stride);
  void (*accum)(void *dst, const void *src, int64_t n);
  void (*copy_rows)(void *dst, int64_t dld, const void *src, int64_t sld, int64_t nrows,
                    int64_t len);
  void (*transpose)(void *dst, int64_t dld, const void *src, int64_t sld, int64_t nrows,
                    int64_t ncols);
} conv_loops;

static const conv_loops loops[NB_DTYPE_COUNT] = {
    [NB_DTYPE_FLOAT32] = {im2col_f32, col2im_f32, gemm_f32, fill_f32, accum_f32, copy_rows_f32,
                          transpose_f32},
    [NB_DTYPE_FLOAT64] = {im2col_f64, col2im_f64, gemm_f64, fill_f64, accum_f64, copy_rows_f64,
                          transpose_f64},
};

/* ---- the three passes -------------------------------------------------------------- */

/* Raw operands of a pass: contiguous data in the pass's dtype. */
typedef struct pass {
  const geom *g;
  const conv_loops *L;
  size_t es;        /* element size */
  char *image;      /* [n, c, h, w] */
  char *window;     /* [n, o, oh, ow] */
  char *weight;     /* [o, cg, kh, kw] */
  const char *bias; /* [o] (forward) or [c] (adjoint), or NULL */
  char *bufs;       /* per thread: a column buffer, then a window buffer */
  int64_t colsize;  /* elements of one column buffer */
  int64_t bufsize;  /* elements of one thread's buffers */
  char *partials;   /* the weight gradient's partial sums but the first */
  bool wpack;       /* the weight gradient's GEMMs pack their operands */
} pass;

static char *at(const pass *p, const char *base, int64_t elems) {
  return base ? (char *)base + (size_t)elems * p->es : NULL;
}

/* Work item i of a pass, with one thread's buffers buf, on nt BLIS threads. */
typedef void (*item_fn)(const pass *p, int64_t i, char *buf, int nt);

/* Run items [0, count): several at once with 1-thread BLIS and buffers each,
 * or (too few items) one at a time on threaded BLIS. Items write disjoint
 * outputs, so the split never changes results. */
static void for_items(const pass *p, int64_t count, item_fn fn) {
  const geom *g = p->g;
  double work = (double)g->n * (double)g->o * (double)g->l * (double)g->k;
  int maxt = omp_in_parallel() || work < CONV_PARALLEL_WORK ? 1 : omp_get_max_threads();
  int outer = count >= 2 && maxt > 1 ? (count < maxt ? (int)count : maxt) : 1;
  if (outer > 1) {
#pragma omp parallel num_threads(outer)
    {
      char *buf = at(p, p->bufs, omp_get_thread_num() * p->bufsize);
#pragma omp for schedule(static)
      for (int64_t i = 0; i < count; i++) fn(p, i, buf, 1);
    }
  } else {
    for (int64_t i = 0; i < count; i++) fn(p, i, p->bufs, maxt);
  }
}

/* The column matrix [cg * kh * kw, width] of unit u, group grp: the image
 * itself when direct, else im2col of each sample into its columns of buf. */
static mat columns(const pass *p, const unit *u, int64_t grp, char *buf) {
  const geom *g = p->g;
  char *img = at(p, p->image, (u->n * g->c + grp * g->cg) * g->hw);
  if (g->direct) return (mat){at(p, img, u->oh0 * g->ow), g->k, u->ncols, g->hw, 1};
  p->L->im2col(g, img, u->nb, u->oh0, u->oh1, buf, u->width);
  return (mat){buf, g->k, u->width, u->width, 1};
}

/* Window rows [og, width] of unit u, group grp: in place for one sample,
 * else the window buffer of buf (load: gathered from the window tensor). */
static mat window_rows(const pass *p, const unit *u, int64_t grp, char *buf, bool load) {
  const geom *g = p->g;
  char *win = at(p, p->window, (u->n * g->o + grp * g->og) * g->l + u->oh0 * g->ow);
  if (u->nb == 1) return (mat){win, g->og, u->ncols, g->l, 1};
  char *wb = at(p, buf, p->colsize);
  if (load)
    for (int64_t s = 0; s < u->nb; s++)
      p->L->copy_rows(at(p, wb, s * u->ncols), u->width, at(p, win, s * g->o * g->l), g->l, g->og,
                      u->ncols);
  return (mat){wb, g->og, u->width, u->width, 1};
}

/* Scatter a window buffer from window_rows back to the window tensor. */
static void store_window(const pass *p, const unit *u, int64_t grp, const mat *m) {
  const geom *g = p->g;
  if (u->nb == 1) return;
  char *win = at(p, p->window, (u->n * g->o + grp * g->og) * g->l);
  for (int64_t s = 0; s < u->nb; s++)
    p->L->copy_rows(at(p, win, s * g->o * g->l), g->l, at(p, m->p, s * u->ncols), u->width, g->og,
                    u->ncols);
}

/* forward, unit i: window rows = W_g @ columns (+ bias, preloaded: beta 1). */
static void forward_unit(const pass *p, int64_t i, char *buf, int nt) {
  const geom *g = p->g;
  unit u = unit_of(g, i);
  for (int64_t grp = 0; grp < g->groups; grp++) {
    mat c = window_rows(p, &u, grp, buf, false);
    if (p->bias) p->L->fill(c.p, at(p, p->bias, grp * g->og), g->og, c.cols, c.rs);
    mat b = columns(p, &u, grp, buf);
    mat a = {at(p, p->weight, grp * g->og * g->k), g->og, g->k, g->k, 1};
    p->L->gemm(&a, &b, &c, p->bias ? 1.0 : 0.0, nt, false);
    store_window(p, &u, grp, &c);
  }
}

/* adjoint, item i: image = col2im(W_g^T @ window) (+ bias) for one unit of
 * whole samples, or for all row blocks of sample i: those overlap in the
 * image, so they run in order. */
static void adjoint_item(const pass *p, int64_t i, char *buf, int nt) {
  const geom *g = p->g;
  int64_t u0 = g->by_samples ? i : i * g->nblk, u1 = g->by_samples ? i + 1 : u0 + g->nblk;
  unit first = unit_of(g, u0);
  for (int64_t s = 0; s < first.nb; s++)
    p->L->fill(at(p, p->image, (first.n + s) * g->c * g->hw), p->bias, g->c, g->hw, g->hw);
  for (int64_t ui = u0; ui < u1; ui++) {
    unit u = unit_of(g, ui);
    for (int64_t grp = 0; grp < g->groups; grp++) {
      mat b = window_rows(p, &u, grp, buf, true);
      mat a = {at(p, p->weight, grp * g->og * g->k), g->k, g->og, 1, g->k}; /* W_g^T */
      char *img = at(p, p->image, (u.n * g->c + grp * g->cg) * g->hw);
      if (g->direct) { /* the image rows are the column matrix: accumulate */
        mat c = {at(p, img, u.oh0 * g->ow), g->k, u.ncols, g->hw, 1};
        p->L->gemm(&a, &b, &c, 1.0, nt, false);
        continue;
      }
      mat c = {buf, g->k, u.width, u.width, 1};
      p->L->gemm(&a, &b, &c, 0.0, nt, false);
      /* channels are independent: split them when BLIS had the threads */
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
      for (int64_t ch = 0; ch < g->cg; ch++)
        for (int64_t s = 0; s < u.nb; s++)
          p->L->col2im(g, at(p, buf, s * u.ncols), u.width, u.oh0, u.oh1,
                       at(p, img, s * g->c * g->hw), ch, ch + 1);
    }
  }
}

/* The weight gradient's chunks: how many partial sums (sizes only). */
static int64_t wg_chunks(const geom *g) {
  int64_t wsize = g->o * g->k;
  int64_t by_mem = wsize > 0 ? WG_PARTIAL_BUDGET / wsize : WG_MAX_CHUNKS;
  int64_t n = g->units < WG_MAX_CHUNKS ? g->units : WG_MAX_CHUNKS;
  if (n > by_mem) n = by_mem;
  return n < 1 ? 1 : n;
}

/* weight gradient, chunk ch of wg_chunks: the sum over its units of window @
 * columns^T, into the result (chunk 0, p->weight) or its partial. Blocks of
 * samples compute the transpose, columns @ window^T, from window rows
 * gathered transposed ([width, og]: BLIS packs it along its rows, and this
 * layout ran ~15% faster), summed in the thread's buffer and transposed into
 * place at the end. */
static void weight_chunk(const pass *p, int64_t ch, char *buf, int nt) {
  const geom *g = p->g;
  int64_t nch = wg_chunks(g), wsize = g->o * g->k;
  char *dst = ch == 0 ? p->weight : at(p, p->partials, (ch - 1) * wsize);
  int64_t u0 = g->units * ch / nch, u1 = g->units * (ch + 1) / nch;
  if (u0 == u1) p->L->fill(dst, NULL, 1, wsize, 0);
  char *wt = at(p, buf, p->colsize), *sum = at(p, wt, g->og * g->width);
  for (int64_t ui = u0; ui < u1; ui++) {
    unit u = unit_of(g, ui);
    for (int64_t grp = 0; grp < g->groups; grp++) {
      mat cols = columns(p, &u, grp, buf);
      double beta = ui == u0 ? 0.0 : 1.0;
      if (g->by_samples) {
        char *win = at(p, p->window, (u.n * g->o + grp * g->og) * g->l);
        for (int64_t s = 0; s < u.nb; s++)
          p->L->transpose(at(p, wt, s * u.ncols * g->og), g->og, at(p, win, s * g->o * g->l), g->l,
                          g->og, u.ncols);
        mat b = {wt, u.width, g->og, g->og, 1};
        mat c = {at(p, sum, grp * g->k * g->og), g->k, g->og, g->og, 1};
        p->L->gemm(&cols, &b, &c, beta, nt, p->wpack);
        continue;
      }
      mat a = window_rows(p, &u, grp, buf, true);
      mat b = {cols.p, cols.cols, cols.rows, cols.cs, cols.rs}; /* columns^T */
      mat c = {at(p, dst, grp * g->og * g->k), g->og, g->k, g->k, 1};
      p->L->gemm(&a, &b, &c, beta, nt, p->wpack);
    }
  }
  if (g->by_samples && u0 < u1)
    for (int64_t grp = 0; grp < g->groups; grp++)
      p->L->transpose(at(p, dst, grp * g->og * g->k), g->k, at(p, sum, grp * g->k * g->og), g->og,
                      g->k, g->og);
}

/* The three passes. The weight gradient's partials are added in chunk order.
 * A single chunk may run on threaded BLIS, whose unpacked kernels for the
 * weight gradient's layout (both operands contiguous along k) round
 * differently with the thread count: it packs both operands. Several chunks
 * always run on 1-thread BLIS, where the unpacked kernels are faster for
 * thin results (a first layer's cg * kh * kw of 9, say). */
static void run_forward(const pass *p) { for_items(p, p->g->units, forward_unit); }
static void run_adjoint(const pass *p) {
  for_items(p, p->g->by_samples ? p->g->units : p->g->n, adjoint_item);
}
static void run_weight(pass *p) {
  int64_t nch = wg_chunks(p->g), wsize = p->g->o * p->g->k;
  p->wpack = nch == 1;
  for_items(p, nch, weight_chunk);
  for (int64_t ch = 1; ch < nch; ch++)
    p->L->accum(p->weight, at(p, p->partials, (ch - 1) * wsize), wsize);
}

/* ---- arguments ------------------------------------------------------------------- */

typedef enum conv_kind { CONV_FORWARD, CONV_TRANSPOSE, CONV_WEIGHT } conv_kind;

/* Resolved options; spatial dim 1 is the width (1-D ops use only it). */
typedef struct conv_args {
  int sd; /* spatial dims: 1 or 2 */
  int64_t stride[2], padding[2], dilation[2], output_padding[2], groups;
  int64_t kernel[2]; /* CONV_WEIGHT only */
} conv_args;

/* "a x b" (2-D) or "b" (1-D) into buf. */
static const char *pair(const conv_args *a, const int64_t *v, char *buf, size_t size) {
  if (a->sd == 2)
    snprintf(buf, size, "%lld x %lld", (long long)v[0], (long long)v[1]);
  else
    snprintf(buf, size, "%lld", (long long)v[1]);
  return buf;
}

/* Fill *a from user values: 0 picks the default, negatives are refused. */
static nb_status resolve(const char *op, conv_args *a, const int64_t *stride,
                         const int64_t *padding, const int64_t *dilation, const int64_t *outpad,
                         int64_t groups) {
  const int64_t *src[4] = {stride, padding, dilation, outpad};
  int64_t *dst[4] = {a->stride, a->padding, a->dilation, a->output_padding};
  static const char *names[4] = {"stride", "padding", "dilation", "output_padding"};
  static const int64_t defaults[4] = {1, 0, 1, 0};
  for (int f = 0; f < 4; f++)
    for (int d = 0; d < 2; d++) {
      int64_t v = src[f] && d >= 2 - a->sd ? src[f][d - (2 - a->sd)] : 0;
      if (v < 0)
        return nb__fail(NB_ERR_ARG, "%s: %s must be >= 0 (0 = default), got %lld", op, names[f],
                        (long long)v);
      dst[f][d] = v == 0 ? defaults[f] : v;
    }
  if (groups < 0)
    return nb__fail(NB_ERR_ARG, "%s: groups must be >= 0 (0 = default), got %lld", op,
                    (long long)groups);
  a->groups = groups == 0 ? 1 : groups;
  return NB_OK;
}

/* conv's window size: (in + 2 pad - dil (k - 1) - 1) / stride + 1; -1 when the
 * padded input is smaller than the dilated kernel or on overflow. */
static int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  int64_t span, pad2, num;
  if (__builtin_mul_overflow(d, k - 1, &span) || __builtin_mul_overflow(p, 2, &pad2) ||
      __builtin_add_overflow(in, pad2, &num) || __builtin_sub_overflow(num, span + 1, &num) ||
      num < 0)
    return -1;
  return num / s + 1;
}

/* conv_transpose's image size: (in - 1) s - 2 p + d (k - 1) + op + 1; -1 on
 * overflow, <= 0 when too small. */
static int64_t transpose_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, int64_t op) {
  int64_t a, b, r;
  if (__builtin_mul_overflow(in - 1, s, &a) || __builtin_mul_overflow(d, k - 1, &b) ||
      __builtin_add_overflow(a, b, &r) || __builtin_add_overflow(r, op + 1, &r) ||
      __builtin_sub_overflow(r, p, &r) || __builtin_sub_overflow(r, p, &r))
    return -1;
  return r;
}

/* The three spatial sizes of t's last sd dims as [h, w] (h = 1 for 1-D). */
static void spatial(const nb_tensor *t, int sd, int64_t *hw) {
  hw[0] = sd == 2 ? t->shape[t->ndim - 2] : 1;
  hw[1] = t->shape[t->ndim - 1];
}

static const char *kind_layout(int sd) { return sd == 2 ? "[N, C, H, W]" : "[N, C, L]"; }

/* Check a data operand's rank: sd + 2 (batched) or sd + 1 (unbatched). */
static nb_status check_rank(const char *op, const char *what, const nb_tensor *t, int sd,
                            bool *batched) {
  if (t->ndim != sd + 1 && t->ndim != sd + 2)
    return nb__fail(NB_ERR_SHAPE, "%s: %s %s must be %d-D (unbatched) or %d-D %s", op, what,
                    nb__shp(t), sd + 1, sd + 2, kind_layout(sd));
  *batched = t->ndim == sd + 2;
  return NB_OK;
}

/* All operands floating and of one dtype. */
static nb_status check_dtypes(const char *op, nb_tensor *const *ts, const char *const *names,
                              int n) {
  for (int i = 0; i < n; i++) {
    if (!ts[i]) continue;
    if (!nb_dtype_is_floating(ts[i]->dtype))
      return nb__fail(NB_ERR_DTYPE, "%s: %s %s is %s; expected float32 or float64", op, names[i],
                      nb__shp(ts[i]), nb_dtype_name(ts[i]->dtype));
    if (ts[i]->dtype != ts[0]->dtype)
      return nb__fail(NB_ERR_DTYPE, "%s: %s %s is %s but %s %s is %s; they must match", op,
                      names[i], nb__shp(ts[i]), nb_dtype_name(ts[i]->dtype), names[0],
                      nb__shp(ts[0]), nb_dtype_name(ts[0]->dtype));
  }
  return NB_OK;
}

/* Validate the operands of `kind` and fill the geometry and the result shape.
 * FORWARD: a = input (image), b = weight, bias [O]. TRANSPOSE: a = input
 * (window), b = weight, bias [C]. WEIGHT: a = input (image), b = grad_out
 * (window), kernel from args. */
static nb_status setup(const char *op, conv_kind kind, const conv_args *ar, nb_tensor *a,
                       nb_tensor *b, nb_tensor *bias, geom *g, int *ndim, int64_t *shape) {
  int sd = ar->sd;
  char b1[64], b2[64];
  bool batched = false, wbatched = false;
  const char *anames[3] = {"input", kind == CONV_WEIGHT ? "grad_output" : "weight", "bias"};
  nb_status st = check_dtypes(op, (nb_tensor *[]){a, b, bias}, anames, 3);
  if (st == NB_OK) st = check_rank(op, "input", a, sd, &batched);
  if (st != NB_OK) return st;
  int lead = batched ? 1 : 0;
  *g = (geom){.groups = ar->groups,
              .sh = ar->stride[0],
              .sw = ar->stride[1],
              .ph = ar->padding[0],
              .pw = ar->padding[1],
              .dh = ar->dilation[0],
              .dw = ar->dilation[1],
              .n = batched ? a->shape[0] : 1};
  int64_t in[2], k[2], out[2];
  spatial(a, sd, in);
  if (kind == CONV_WEIGHT) {
    if ((st = check_rank(op, "grad_output", b, sd, &wbatched)) != NB_OK) return st;
    if (wbatched != batched || (batched && b->shape[0] != a->shape[0]))
      return nb__fail(NB_ERR_SHAPE, "%s: input %s and grad_output %s differ in batch size", op,
                      nb__shp(a), nb__shp(b));
    k[0] = sd == 2 ? ar->kernel[0] : 1, k[1] = ar->kernel[1];
    if (k[0] <= 0 || k[1] <= 0)
      return nb__fail(NB_ERR_ARG, "%s: kernel size must be positive, got %s", op,
                      pair(ar, k, b1, sizeof b1));
    g->c = a->shape[lead], g->o = b->shape[lead];
  } else {
    if (b->ndim != sd + 2)
      return nb__fail(NB_ERR_SHAPE, "%s: weight %s must be %d-D %s", op, nb__shp(b), sd + 2,
                      kind == CONV_FORWARD ? (sd == 2 ? "[out_channels, in_channels/groups, kH, kW]"
                                                      : "[out_channels, in_channels/groups, kW]")
                                           : (sd == 2 ? "[in_channels, out_channels/groups, kH, kW]"
                                                      : "[in_channels, out_channels/groups, kW]"));
    spatial(b, sd, k);
    if (k[0] <= 0 || k[1] <= 0)
      return nb__fail(NB_ERR_SHAPE, "%s: weight %s has an empty kernel", op, nb__shp(b));
  }
  g->kh = k[0], g->kw = k[1];
  int64_t chan = a->shape[lead], gr = ar->groups;
  if (kind == CONV_FORWARD) {
    if (chan != b->shape[1] * gr)
      return nb__fail(
          NB_ERR_SHAPE, "%s: input %s has %lld channels but weight %s expects %lld x groups %lld",
          op, nb__shp(a), (long long)chan, nb__shp(b), (long long)b->shape[1], (long long)gr);
    g->c = chan, g->o = b->shape[0];
  } else if (kind == CONV_TRANSPOSE) {
    if (chan != b->shape[0])
      return nb__fail(NB_ERR_SHAPE, "%s: input %s has %lld channels but weight %s expects %lld", op,
                      nb__shp(a), (long long)chan, nb__shp(b), (long long)b->shape[0]);
    if (__builtin_mul_overflow(b->shape[1], gr, &g->c))
      return nb__fail(NB_ERR_MEMORY, "%s: weight %s x groups %lld overflows", op, nb__shp(b),
                      (long long)gr);
    g->o = chan;
  } else if (g->c % gr != 0) {
    return nb__fail(NB_ERR_SHAPE, "%s: input %s has %lld channels, not divisible by groups %lld",
                    op, nb__shp(a), (long long)g->c, (long long)gr);
  }
  if (g->o % gr != 0)
    return nb__fail(NB_ERR_SHAPE, "%s: %s %s has %lld %s channels, not divisible by groups %lld",
                    op, kind == CONV_WEIGHT ? "grad_output" : "weight", nb__shp(b), (long long)g->o,
                    kind == CONV_TRANSPOSE ? "input" : "output", (long long)gr);
  if (bias) {
    int64_t want = kind == CONV_TRANSPOSE ? g->c : g->o;
    if (bias->ndim != 1 || bias->shape[0] != want)
      return nb__fail(NB_ERR_SHAPE, "%s: bias %s must be [%lld] (weight %s)", op, nb__shp(bias),
                      (long long)want, nb__shp(b));
  }
  if (kind == CONV_TRANSPOSE) {
    for (int d = 2 - sd; d < 2; d++)
      if (ar->output_padding[d] >= ar->stride[d] && ar->output_padding[d] >= ar->dilation[d])
        return nb__fail(NB_ERR_ARG,
                        "%s: output_padding %s must be smaller than either stride %s or "
                        "dilation %s",
                        op, pair(ar, ar->output_padding, b1, sizeof b1),
                        pair(ar, ar->stride, b2, sizeof b2),
                        pair(ar, ar->dilation, (char[64]){0}, 64));
    for (int d = 0; d < 2; d++)
      out[d] = transpose_out(in[d], k[d], ar->stride[d], ar->padding[d], ar->dilation[d],
                             ar->output_padding[d]);
    if (out[0] <= 0 || out[1] <= 0)
      return nb__fail(NB_ERR_SHAPE, "%s: input %s with weight %s gives an output of size %s", op,
                      nb__shp(a), nb__shp(b), pair(ar, out, b1, sizeof b1));
    g->h = out[0], g->w = out[1], g->oh = in[0], g->ow = in[1];
  } else {
    for (int d = 0; d < 2; d++)
      out[d] = conv_out(in[d], k[d], ar->stride[d], ar->padding[d], ar->dilation[d]);
    if (out[0] < 1 || out[1] < 1) {
      int64_t padded[2], dk[2];
      for (int d = 0; d < 2; d++) {
        if (__builtin_mul_overflow(ar->padding[d], 2, &padded[d]) ||
            __builtin_add_overflow(padded[d], in[d], &padded[d]))
          padded[d] = INT64_MAX;
        if (__builtin_mul_overflow(ar->dilation[d], k[d] - 1, &dk[d])) dk[d] = INT64_MAX - 1;
        dk[d] += 1;
      }
      return nb__fail(NB_ERR_SHAPE,
                      "%s: input %s padded to %s is smaller than the (dilated) kernel %s", op,
                      nb__shp(a), pair(ar, padded, b1, sizeof b1), pair(ar, dk, b2, sizeof b2));
    }
    g->h = in[0], g->w = in[1], g->oh = out[0], g->ow = out[1];
    if (kind == CONV_WEIGHT) {
      int64_t got[2];
      spatial(b, sd, got);
      if (got[0] != out[0] || got[1] != out[1])
        return nb__fail(
            NB_ERR_SHAPE, "%s: grad_output %s must have spatial size %s for input %s and kernel %s",
            op, nb__shp(b), pair(ar, out, b1, sizeof b1), nb__shp(a), pair(ar, k, b2, sizeof b2));
    }
  }
  g->cg = g->c / gr, g->og = g->o / gr;
  if (__builtin_mul_overflow(g->cg, g->kh * g->kw, &g->k) ||
      __builtin_mul_overflow(g->oh, g->ow, &g->l) || __builtin_mul_overflow(g->h, g->w, &g->hw))
    return nb__fail(NB_ERR_MEMORY, "%s: sizes overflow (input %s)", op, nb__shp(a));
  g->direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
  /* the units: blocks of whole samples when one sample's columns and window
   * rows fit BLOCK_BUDGET, else blocks of one sample's window rows */
  int64_t per_row, per_sample;
  if (__builtin_mul_overflow(g->k, g->ow, &per_row) ||
      __builtin_mul_overflow(g->k + g->og, g->l, &per_sample))
    return nb__fail(NB_ERR_MEMORY, "%s: column buffer size overflows (input %s)", op, nb__shp(a));
  g->rows = g->oh, g->nblk = 1, g->units = g->n, g->by_samples = false;
  if (!g->direct && per_row > 0 && g->l < BLOCK_MAX_L && per_sample <= BLOCK_BUDGET) {
    int64_t most = BLOCK_BUDGET / per_sample; /* samples per unit */
    g->units = (g->n + most - 1) / most;
    if (g->units < MIN_UNITS) g->units = MIN_UNITS;
    g->units = (g->units + 3) / 4 * 4;
    if (g->units > g->n) g->units = g->n;
    g->by_samples = true;
  } else if (!g->direct && per_row > 0) {
    g->rows = BLOCK_BUDGET / per_row;
    if (g->rows < 1) g->rows = 1;
    if (g->rows > g->oh) g->rows = g->oh;
    g->nblk = (g->oh + g->rows - 1) / g->rows;
    g->units = g->n * g->nblk;
  }
  g->width = g->by_samples ? (g->units > 0 ? (g->n + g->units - 1) / g->units : 0) * g->l
                           : g->rows * g->ow;
  /* the result's shape */
  int nd = 0;
  if (kind == CONV_WEIGHT) {
    shape[nd++] = g->o, shape[nd++] = g->cg;
    if (sd == 2) shape[nd++] = g->kh;
    shape[nd++] = g->kw;
  } else {
    if (batched) shape[nd++] = g->n;
    shape[nd++] = kind == CONV_FORWARD ? g->o : g->c;
    if (sd == 2) shape[nd++] = kind == CONV_FORWARD ? g->oh : g->h;
    shape[nd++] = kind == CONV_FORWARD ? g->ow : g->w;
  }
  *ndim = nd;
  return NB_OK;
}

/* Validate, allocate and run one pass. */
static nb_tensor *conv_run(const char *op, conv_kind kind, const conv_args *ar, nb_tensor *a,
                           nb_tensor *b, nb_tensor *bias) {
  geom g;
  int ndim = 0;
  int64_t shape[NB_MAX_DIMS];
  if (setup(op, kind, ar, a, b, bias, &g, &ndim, shape) != NB_OK) return NULL;
  nb_tensor *out = nb__new(op, a->dtype, ndim, shape);
  if (!out || out->numel == 0) return out;
  /* scratch: the weight gradient's partials, then per thread a column buffer
   * and (units of several samples) a window buffer */
  int64_t colsize = g.direct ? 0 : g.k * g.width;
  int64_t bufsize = colsize;
  if (kind == CONV_WEIGHT && g.by_samples)
    bufsize += g.og * g.width + g.o * g.k; /* transposed window rows, the chunk's sum */
  else if (g.by_samples && g.width > g.l)
    bufsize += g.og * g.width;
  int64_t nthreads = omp_get_max_threads(), extra = 0, scratch_n;
  if (kind == CONV_WEIGHT) extra = (wg_chunks(&g) - 1) * g.o * g.k;
  if (__builtin_mul_overflow(bufsize, nthreads, &scratch_n) ||
      __builtin_add_overflow(scratch_n, extra, &scratch_n)) {
    nb_free(out);
    return nb__fail_null(NB_ERR_MEMORY, "%s: scratch size overflows (input %s)", op, nb__shp(a));
  }
  nb_tensor *ca = nbk_contiguous(a), *cb = ca ? nbk_contiguous(b) : NULL;
  nb_tensor *cbias = cb && bias ? nbk_contiguous(bias) : NULL;
  nb_tensor *scratch = cb && (!bias || cbias) && scratch_n > 0
                           ? nb__new(op, a->dtype, 1, (int64_t[]){scratch_n})
                           : NULL;
  if (!cb || (bias && !cbias) || (scratch_n > 0 && !scratch)) {
    nb_free(out);
    out = NULL;
  } else {
    char *sp = scratch ? nb_data(scratch) : NULL;
    pass p = {.g = &g,
              .L = &loops[a->dtype],
              .es = nb_dtype_size(a->dtype),
              .bias = cbias ? nb_data(cbias) : NULL,
              .partials = sp,
              .colsize = colsize,
              .bufsize = bufsize};
    p.bufs = at(&p, sp, extra);
    if (kind == CONV_FORWARD) {
      p.image = nb_data(ca), p.weight = nb_data(cb), p.window = nb_data(out);
      run_forward(&p);
    } else if (kind == CONV_TRANSPOSE) {
      p.window = nb_data(ca), p.weight = nb_data(cb), p.image = nb_data(out);
      run_adjoint(&p);
    } else {
      p.image = nb_data(ca), p.window = nb_data(cb), p.weight = nb_data(out);
      run_weight(&p);
    }
  }
  nb_free(scratch);
  nb_free(cbias);
  nb_free(cb);
  nb_free(ca);
  return out;
}

/* ---- public API ------------------------------------------------------------------ */

/* An option array of a possibly NULL opts (NULL = defaults). */
#define OPT(o, f) ((o) ? (o)->f : NULL)
#define OPT1(o, f) ((o) ? &(o)->f : NULL)

nb_tensor *nbk_conv2d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *opts) {
  NB_CHECK_NULL("conv2d", x, w);
  conv_args a = {.sd = 2};
  if (resolve("conv2d", &a, OPT(opts, stride), OPT(opts, padding), OPT(opts, dilation), NULL,
              opts ? opts->groups : 0) != NB_OK)
    return NULL;
  return conv_run("conv2d", CONV_FORWARD, &a, x, w, b);
}

nb_tensor *nbk_conv1d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv1d_opts *opts) {
  NB_CHECK_NULL("conv1d", x, w);
  conv_args a = {.sd = 1};
  if (resolve("conv1d", &a, OPT1(opts, stride), OPT1(opts, padding), OPT1(opts, dilation), NULL,
              opts ? opts->groups : 0) != NB_OK)
    return NULL;
  return conv_run("conv1d", CONV_FORWARD, &a, x, w, b);
}

nb_tensor *nbk_conv_transpose2d(nb_tensor *x, nb_tensor *w, nb_tensor *b,
                                const nb_conv_transpose2d_opts *opts) {
  NB_CHECK_NULL("conv_transpose2d", x, w);
  conv_args a = {.sd = 2};
  if (resolve("conv_transpose2d", &a, OPT(opts, stride), OPT(opts, padding), OPT(opts, dilation),
              OPT(opts, output_padding), opts ? opts->groups : 0) != NB_OK)
    return NULL;
  return conv_run("conv_transpose2d", CONV_TRANSPOSE, &a, x, w, b);
}

nb_tensor *nbk_conv_transpose1d(nb_tensor *x, nb_tensor *w, nb_tensor *b,
                                const nb_conv_transpose1d_opts *opts) {
  NB_CHECK_NULL("conv_transpose1d", x, w);
  conv_args a = {.sd = 1};
  if (resolve("conv_transpose1d", &a, OPT1(opts, stride), OPT1(opts, padding), OPT1(opts, dilation),
              OPT1(opts, output_padding), opts ? opts->groups : 0) != NB_OK)
    return NULL;
  return conv_run("conv_transpose1d", CONV_TRANSPOSE, &a, x, w, b);
}

nb_tensor *nbk_conv2d_weight_grad(nb_tensor *x, nb_tensor *grad_out, int64_t kh, int64_t kw,
                                  const nb_conv2d_opts *opts) {
  NB_CHECK_NULL("conv2d_weight_grad", x, grad_out);
  conv_args a = {.sd = 2, .kernel = {kh, kw}};
  if (resolve("conv2d_weight_grad", &a, OPT(opts, stride), OPT(opts, padding), OPT(opts, dilation),
              NULL, opts ? opts->groups : 0) != NB_OK)
    return NULL;
  return conv_run("conv2d_weight_grad", CONV_WEIGHT, &a, x, grad_out, NULL);
}

nb_tensor *nbk_conv1d_weight_grad(nb_tensor *x, nb_tensor *grad_out, int64_t k,
                                  const nb_conv1d_opts *opts) {
  NB_CHECK_NULL("conv1d_weight_grad", x, grad_out);
  conv_args a = {.sd = 1, .kernel = {1, k}};
  if (resolve("conv1d_weight_grad", &a, OPT1(opts, stride), OPT1(opts, padding),
              OPT1(opts, dilation), NULL, opts ? opts->groups : 0) != NB_OK)
    return NULL;
  return conv_run("conv1d_weight_grad", CONV_WEIGHT, &a, x, grad_out, NULL);
}
