/* tensor/pool.c - 2-D pooling and resampling kernels (tensor/pool.h).
 *
 * Owns: max_pool2d and its backward, and the linear resamplers avg_pool2d,
 * adaptive_avg_pool2d and interpolate (nearest, bilinear) with their
 * backward (adjoint) kernels.
 *
 * Every linear resampler is separable: out[oh, ow] = sum_h sum_w A[oh, h]
 * B[ow, w] x[h, w], where each row of A (and B) has its nonzero weights on one
 * contiguous run of input indices. One axis_map per axis holds those runs
 * (start, length, weights); each op only says how to build its maps. The
 * adjoint is the same gather with the transposed maps (each input index's
 * run of outputs), so backward writes every input-gradient element once, in
 * parallel, without scatter conflicts. Max pooling has its own loop.
 *
 * Work is split by (n, c) plane with OpenMP above NB_PARALLEL_GRAIN; a plane
 * is computed by one thread in a fixed order, so results do not depend on the
 * thread count.
 *
 * Max pooling's usual layer, a float 2x2 stride-2 window, has a forward in
 * GCC vector types (pairs of 4-output row chunks per 8-lane vector) that
 * gives the general loop's bits, which tests/tensor/test_pool.c checks.
 */
#include "tensor/pool.h"
#include "tensor/tensor_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the [..., H, W] plane layout of a tensor -------------------------------------- */

typedef struct planes {
  int nlead;        /* leading dims: 1 ([C, H, W]) or 2 ([N, C, H, W]) */
  int64_t count;    /* number of planes */
  int64_t inner;    /* size of the last leading dim */
  int64_t s0, s1;   /* strides of the leading dims */
  int64_t h, w;     /* plane size */
  int64_t sh, sw;   /* plane strides */
  const char *data; /* element [0, ..., 0] */
  size_t elem;
} planes;

static planes planes_of(const nb_tensor *t) {
  planes p = {.nlead = t->ndim - 2, .data = nb_data(t), .elem = nb_dtype_size(t->dtype)};
  p.h = t->shape[t->ndim - 2];
  p.w = t->shape[t->ndim - 1];
  p.sh = t->strides[t->ndim - 2];
  p.sw = t->strides[t->ndim - 1];
  p.s0 = t->strides[0];
  p.inner = t->shape[p.nlead - 1];
  p.s1 = p.nlead == 2 ? t->strides[1] : 0;
  p.count = p.nlead == 2 ? t->shape[0] * t->shape[1] : t->shape[0];
  return p;
}

/* Pointer to element [0, 0] of plane i. */
static const char *plane_ptr(const planes *p, int64_t i) {
  int64_t off = p->nlead == 2 ? (i / p->inner) * p->s0 + (i % p->inner) * p->s1 : i * p->s0;
  return p->data + off * (int64_t)p->elem;
}

/* A new contiguous tensor with x's leading dims and an oh x ow plane. */
static nb_tensor *new_like_planes(const char *op, const nb_tensor *x, int64_t oh, int64_t ow) {
  int64_t shape[4];
  memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  shape[x->ndim - 2] = oh;
  shape[x->ndim - 1] = ow;
  return nb__new(op, x->dtype, x->ndim, shape);
}

/* x must be a floating [C, H, W] or [N, C, H, W] tensor with a non-empty plane. */
static bool check_input(const char *op, const nb_tensor *x) {
  if (!nb_dtype_is_floating(x->dtype)) {
    nb__fail(NB_ERR_DTYPE, "%s: expects a float32 or float64 input, got %s", op,
             nb_dtype_name(x->dtype));
    return false;
  }
  if (x->ndim != 3 && x->ndim != 4) {
    nb__fail(NB_ERR_SHAPE, "%s: expects a [N, C, H, W] or [C, H, W] input, got %s", op, nb__shp(x));
    return false;
  }
  if (x->shape[x->ndim - 2] < 1 || x->shape[x->ndim - 1] < 1) {
    nb__fail(NB_ERR_SHAPE, "%s: input %s has an empty plane", op, nb__shp(x));
    return false;
  }
  if (x->shape[x->ndim - 2] > INT32_MAX || x->shape[x->ndim - 1] > INT32_MAX) {
    nb__fail(NB_ERR_SHAPE, "%s: input %s: plane dims above 2^31 are not supported", op, nb__shp(x));
    return false;
  }
  return true;
}

/* Threads for `work` multiply-adds spread over `count` planes. */
static int threads_for_planes(int64_t work, int64_t count) {
  int nt = nb__threads_for(work);
  return count < nt ? (int)(count > 0 ? count : 1) : nt;
}

/* ---- pooling geometry ----------------------------------------------------------------- */

/* One axis of a pooling window: kernel, stride, padding, dilation. */
typedef struct pool_axis {
  int64_t k, s, p, d;
} pool_axis;

/* PyTorch's pooling_output_shape: floor/ceil((in + 2p - d (k - 1) - 1) / s) + 1,
 * minus a last window starting in the right padding. */
static int64_t pool_out_size(int64_t in, const pool_axis *a, bool ceil_mode) {
  int64_t num = in + 2 * a->p - a->d * (a->k - 1) - 1 + (ceil_mode ? a->s - 1 : 0);
  int64_t q = num >= 0 ? num / a->s : -((-num + a->s - 1) / a->s);
  int64_t out = q + 1;
  if (ceil_mode && (out - 1) * a->s >= in + a->p) out--;
  return out;
}

/* Validate opts into per-axis geometry (dilation forced to 1 unless allowed). */
static bool pool_geometry(const char *op, const nb_pool2d_opts *o, bool dilation_ok,
                          pool_axis ax[2]) {
  if (!o) {
    nb__fail(NB_ERR_ARG, "%s: options are required (kernel size)", op);
    return false;
  }
  int64_t k1 = o->kernel[1] ? o->kernel[1] : o->kernel[0];
  int64_t k[2] = {o->kernel[0], k1};
  for (int i = 0; i < 2; i++) {
    ax[i].k = k[i];
    ax[i].s = o->stride[i] ? o->stride[i] : k[i];
    ax[i].p = o->padding[i];
    ax[i].d = dilation_ok && o->dilation[i] ? o->dilation[i] : 1;
  }
  if (ax[0].k <= 0 || ax[1].k <= 0 || ax[0].s <= 0 || ax[1].s <= 0 || ax[0].d <= 0 ||
      ax[1].d <= 0) {
    nb__fail(NB_ERR_ARG,
             "%s: kernel %lldx%lld, stride %lldx%lld and dilation %lldx%lld must be positive", op,
             (long long)ax[0].k, (long long)ax[1].k, (long long)o->stride[0],
             (long long)o->stride[1], (long long)o->dilation[0], (long long)o->dilation[1]);
    return false;
  }
  for (int i = 0; i < 2; i++) { /* keeps the window arithmetic far from overflow */
    if (ax[i].k > INT32_MAX || ax[i].s > INT32_MAX || ax[i].d > INT32_MAX || ax[i].p > INT32_MAX) {
      nb__fail(NB_ERR_ARG, "%s: kernel, stride, padding or dilation is too large", op);
      return false;
    }
  }
  if (!dilation_ok && (o->dilation[0] > 1 || o->dilation[1] > 1)) {
    nb__fail(NB_ERR_ARG, "%s: dilation is not supported", op);
    return false;
  }
  for (int i = 0; i < 2; i++) {
    if (ax[i].p < 0 || ax[i].p > ax[i].k / 2) {
      nb__fail(NB_ERR_ARG,
               "%s: padding %lldx%lld must be >= 0 and at most half the kernel %lldx%lld", op,
               (long long)ax[0].p, (long long)ax[1].p, (long long)ax[0].k, (long long)ax[1].k);
      return false;
    }
  }
  if (o->divisor_override < 0) {
    nb__fail(NB_ERR_ARG, "%s: divisor_override %lld must be positive", op,
             (long long)o->divisor_override);
    return false;
  }
  return true;
}

/* Output size of a pooling of an h x w plane; false + error if too small. */
static bool pool_out_hw(const char *op, int64_t h, int64_t w, const pool_axis ax[2], bool ceil_mode,
                        int64_t out[2]) {
  out[0] = pool_out_size(h, &ax[0], ceil_mode);
  out[1] = pool_out_size(w, &ax[1], ceil_mode);
  if (out[0] < 1 || out[1] < 1) {
    nb__fail(NB_ERR_SHAPE,
             "%s: a %lldx%lld plane with kernel %lldx%lld, padding %lldx%lld, dilation "
             "%lldx%lld gives an output of %lldx%lld (too small)",
             op, (long long)h, (long long)w, (long long)ax[0].k, (long long)ax[1].k,
             (long long)ax[0].p, (long long)ax[1].p, (long long)ax[0].d, (long long)ax[1].d,
             (long long)out[0], (long long)out[1]);
    return false;
  }
  return true;
}

/* Taps i in [lo, hi) of window o whose input index o s - p + i d lies in [0, in). */
static void valid_taps(int64_t o, int64_t in, const pool_axis *a, int64_t *lo, int64_t *hi) {
  int64_t start = o * a->s - a->p;
  *lo = start < 0 ? (-start + a->d - 1) / a->d : 0;
  int64_t n = in - start > 0 ? (in - start + a->d - 1) / a->d : 0;
  *hi = n < a->k ? n : a->k;
}

/* ---- separable linear maps ----------------------------------------------------------- */

typedef enum map_kind { MAP_AVG, MAP_ADAPTIVE, MAP_NEAREST, MAP_BILINEAR } map_kind;

/* How to build one axis's map. */
typedef struct axis_spec {
  map_kind kind;
  int64_t in, out;
  pool_axis pool;   /* MAP_AVG */
  bool exclude_pad; /* MAP_AVG */
  double fixed;     /* MAP_AVG: > 0 replaces every weight (divisor_override) */
  double sf;        /* MAP_NEAREST / MAP_BILINEAR: scale factor given, or 0 */
  bool align;       /* MAP_BILINEAR: align_corners */
} axis_spec;

/* Output o's taps: writes the first input index, returns the count, and
 * writes the weights into w when w is not NULL (at most 2 for the resamplers,
 * the window size for the pools). */
static int64_t spec_taps(const axis_spec *s, int64_t o, int64_t *start, double *w) {
  switch (s->kind) {
  case MAP_AVG: {
    const pool_axis *a = &s->pool;
    int64_t hs = o * a->s - a->p, he = hs + a->k < s->in + a->p ? hs + a->k : s->in + a->p;
    int64_t pool = he - hs;
    hs = hs > 0 ? hs : 0;
    he = he < s->in ? he : s->in;
    int64_t n = he - hs;
    double wt = s->fixed > 0 ? s->fixed : 1.0 / (double)(s->exclude_pad ? n : pool);
    for (int64_t i = 0; w && i < n; i++) w[i] = wt;
    *start = hs;
    return n;
  }
  case MAP_ADAPTIVE: {
    int64_t hs = o * s->in / s->out, he = ((o + 1) * s->in + s->out - 1) / s->out;
    for (int64_t i = 0; w && i < he - hs; i++) w[i] = 1.0 / (double)(he - hs);
    *start = hs;
    return he - hs;
  }
  case MAP_NEAREST: {
    /* PyTorch's NCHW kernel, float arithmetic included (its channels-last
     * kernel, also taken for C = 1, special-cases out == in and out == 2 in,
     * which differs for some scale factors). */
    float scale = s->sf > 0 ? (float)(1.0 / s->sf) : (float)s->in / (float)s->out;
    int64_t src = (int64_t)floorf((float)o * scale);
    *start = src < s->in - 1 ? src : s->in - 1;
    if (w) w[0] = 1.0;
    return 1;
  }
  case MAP_BILINEAR: { /* PyTorch's compute_source_index_and_lambda */
    if (s->out == s->in) {
      *start = o;
      if (w) w[0] = 1.0;
      return 1;
    }
    double scale = s->align    ? (s->out > 1 ? (double)(s->in - 1) / (double)(s->out - 1) : 0.0)
                   : s->sf > 0 ? 1.0 / s->sf
                               : (double)s->in / (double)s->out;
    double src = s->align ? scale * (double)o : scale * ((double)o + 0.5) - 0.5;
    if (src < 0) src = 0;
    int64_t i0 = (int64_t)src;
    if (i0 > s->in - 1) i0 = s->in - 1;
    double l1 = src - (double)i0;
    l1 = l1 < 0 ? 0 : l1 > 1 ? 1 : l1;
    *start = i0;
    if (i0 < s->in - 1) {
      if (w) w[0] = 1.0 - l1, w[1] = l1;
      return 2;
    }
    if (w) w[0] = 1.0; /* both taps on the last index */
    return 1;
  }
  }
  return 0;
}

/* For each output index: its run of input indices [start, start + len) and the
 * run's weights at w + woff. */
typedef struct axis_map {
  int64_t n;
  int64_t *start, *len, *woff;
  double *w;
  int64_t taps; /* total run length */
} axis_map;

static void map_free(axis_map *m) {
  free(m->start);
  m->start = NULL;
}

/* One block holds the three index arrays and the weights. */
static bool map_alloc(const char *op, axis_map *m, int64_t n, int64_t taps) {
  m->n = n;
  m->taps = taps;
  size_t bytes = sizeof(int64_t) * 3 * (size_t)(n > 0 ? n : 1) + sizeof(double) * (size_t)taps;
  m->start = malloc(bytes);
  if (!m->start) {
    nb__fail(NB_ERR_MEMORY, "%s: out of memory (%zu bytes of resampling weights)", op, bytes);
    return false;
  }
  m->len = m->start + n;
  m->woff = m->len + n;
  m->w = (double *)(m->woff + n);
  return true;
}

static bool map_build(const char *op, const axis_spec *s, axis_map *m) {
  int64_t taps = 0, start;
  for (int64_t o = 0; o < s->out; o++) taps += spec_taps(s, o, &start, NULL);
  if (!map_alloc(op, m, s->out, taps)) return false;
  for (int64_t o = 0, off = 0; o < s->out; o++) {
    m->woff[o] = off;
    m->len[o] = spec_taps(s, o, &m->start[o], m->w + off);
    off += m->len[o];
  }
  return true;
}

/* The adjoint map: for input index i, the run of outputs whose taps include i
 * (zero weights fill any gap in the run). */
static bool map_transpose(const char *op, const axis_map *f, int64_t in, axis_map *t) {
  int64_t *lo = malloc(sizeof(int64_t) * 2 * (size_t)(in > 0 ? in : 1));
  if (!lo) {
    nb__fail(NB_ERR_MEMORY, "%s: out of memory", op);
    return false;
  }
  int64_t *hi = lo + in, taps = 0;
  for (int64_t i = 0; i < in; i++) lo[i] = f->n, hi[i] = -1;
  for (int64_t o = 0; o < f->n; o++) {
    for (int64_t j = 0; j < f->len[o]; j++) {
      int64_t i = f->start[o] + j;
      if (o < lo[i]) lo[i] = o;
      if (o > hi[i]) hi[i] = o;
    }
  }
  for (int64_t i = 0; i < in; i++) taps += hi[i] >= lo[i] ? hi[i] - lo[i] + 1 : 0;
  bool ok = map_alloc(op, t, in, taps);
  if (ok) {
    memset(t->w, 0, sizeof(double) * (size_t)taps);
    for (int64_t i = 0, off = 0; i < in; i++) {
      t->start[i] = hi[i] >= lo[i] ? lo[i] : 0;
      t->len[i] = hi[i] >= lo[i] ? hi[i] - lo[i] + 1 : 0;
      t->woff[i] = off;
      off += t->len[i];
    }
    for (int64_t o = 0; o < f->n; o++)
      for (int64_t j = 0; j < f->len[o]; j++) {
        int64_t i = f->start[o] + j;
        t->w[t->woff[i] + o - t->start[i]] += f->w[f->woff[o] + j];
      }
  }
  free(lo);
  return ok;
}

/* One plane in two passes, accumulating in double:
 *   rows[h, ow] = sum_j mw.w[j] x[h, ws + j]       for the input rows in use,
 *   out[oh, ow] = sum_i mh.w[i] rows[hs + i, ow]   (whole rows: vectorizes).
 * rows holds in_h x mw.n doubles, acc mw.n doubles (per-thread scratch). */
#define SEP_PLANE(T)                                                                               \
  static void sep_plane_##T(const char *xp, int64_t sh, int64_t sw, T *out, const axis_map *mh,    \
                            const axis_map *mw, const bool *used, int64_t in_h, double *rows,      \
                            double *acc) {                                                         \
    const T *x = (const T *)xp;                                                                    \
    const int64_t wo = mw->n;                                                                      \
    for (int64_t h = 0; h < in_h; h++) {                                                           \
      if (!used[h]) continue;                                                                      \
      const T *row = x + h * sh;                                                                   \
      double *r = rows + h * wo;                                                                   \
      for (int64_t ow = 0; ow < wo; ow++) {                                                        \
        const double *ww = mw->w + mw->woff[ow];                                                   \
        const T *xw = row + mw->start[ow] * sw;                                                    \
        double v = 0;                                                                              \
        if (sw == 1)                                                                               \
          for (int64_t j = 0; j < mw->len[ow]; j++) v += ww[j] * (double)xw[j];                    \
        else                                                                                       \
          for (int64_t j = 0; j < mw->len[ow]; j++) v += ww[j] * (double)xw[j * sw];               \
        r[ow] = v;                                                                                 \
      }                                                                                            \
    }                                                                                              \
    for (int64_t oh = 0; oh < mh->n; oh++) {                                                       \
      const double *wh = mh->w + mh->woff[oh];                                                     \
      for (int64_t ow = 0; ow < wo; ow++) acc[ow] = 0;                                             \
      for (int64_t i = 0; i < mh->len[oh]; i++) {                                                  \
        const double *r = rows + (mh->start[oh] + i) * wo, a = wh[i];                              \
        for (int64_t ow = 0; ow < wo; ow++) acc[ow] += a * r[ow];                                  \
      }                                                                                            \
      T *o = out + oh * wo;                                                                        \
      for (int64_t ow = 0; ow < wo; ow++) o[ow] = (T)acc[ow];                                      \
    }                                                                                              \
  }
SEP_PLANE(float)
SEP_PLANE(double)

/* Apply the maps to every plane of x into a new [..., mh.n, mw.n] tensor. */
static nb_tensor *sep_apply(const char *op, nb_tensor *x, const axis_map *mh, const axis_map *mw) {
  nb_tensor *out = new_like_planes(op, x, mh->n, mw->n);
  if (!out) return NULL;
  planes p = planes_of(x);
  if (p.count == 0 || out->numel == 0) return out;
  /* Input rows some output row reads; the rest are never combined. */
  bool *used = calloc((size_t)p.h, sizeof(bool));
  if (!used) {
    nb_free(out);
    return nb__fail_null(NB_ERR_MEMORY, "%s: out of memory", op);
  }
  int64_t nused = 0;
  for (int64_t oh = 0; oh < mh->n; oh++)
    for (int64_t i = 0; i < mh->len[oh]; i++) used[mh->start[oh] + i] = true;
  for (int64_t h = 0; h < p.h; h++) nused += used[h];
  int64_t plane_out = mh->n * mw->n;
  int nt = threads_for_planes(p.count * (nused * mw->taps + mh->taps * mw->n + plane_out), p.count);
  bool f32 = x->dtype == NB_DTYPE_FLOAT32, oom = false;
  char *o = nb_data(out);
  size_t scratch = sizeof(double) * (size_t)((p.h + 1) * mw->n);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    double *rows = malloc(scratch); /* once per thread */
    if (!rows) {
#pragma omp atomic write
      oom = true;
    }
#pragma omp for schedule(static)
    for (int64_t i = 0; i < p.count; i++) {
      if (!rows) continue;
      double *acc = rows + p.h * mw->n;
      if (f32)
        sep_plane_float(plane_ptr(&p, i), p.sh, p.sw, (float *)o + i * plane_out, mh, mw, used, p.h,
                        rows, acc);
      else
        sep_plane_double(plane_ptr(&p, i), p.sh, p.sw, (double *)o + i * plane_out, mh, mw, used,
                         p.h, rows, acc);
    }
    free(rows);
  }
  free(used);
  if (oom) {
    nb_free(out);
    return nb__fail_null(NB_ERR_MEMORY, "%s: out of memory (%zu bytes of scratch)", op, scratch);
  }
  return out;
}

/* Run a separable op: forward (x's plane -> out_h x out_w), or its adjoint
 * (grad's out_h x out_w plane -> in_h x in_w). sh / sw describe the axes with
 * in = the forward input's size and out = the forward output's size. */
static nb_tensor *sep_run(const char *op, nb_tensor *t, const axis_spec *sh, const axis_spec *sw,
                          bool adjoint) {
  axis_map f[2] = {{0}}, m[2] = {{0}};
  nb_tensor *out = NULL;
  if (map_build(op, sh, &f[0]) && map_build(op, sw, &f[1])) {
    if (!adjoint) {
      out = sep_apply(op, t, &f[0], &f[1]);
    } else if (map_transpose(op, &f[0], sh->in, &m[0]) && map_transpose(op, &f[1], sw->in, &m[1])) {
      out = sep_apply(op, t, &m[0], &m[1]);
    }
  }
  for (int i = 0; i < 2; i++) {
    map_free(&f[i]);
    map_free(&m[i]);
  }
  return out;
}

/* A backward kernel's gradient and the forward input's plane size it is given. */
static bool check_backward(const char *op, const nb_tensor *g, int64_t in_h, int64_t in_w) {
  if (!check_input(op, g)) return false;
  if (in_h < 1 || in_w < 1 || in_h > INT32_MAX || in_w > INT32_MAX) {
    nb__fail(NB_ERR_ARG, "%s: input size %lldx%lld must be positive (and below 2^31)", op,
             (long long)in_h, (long long)in_w);
    return false;
  }
  return true;
}

/* A backward kernel's gradient must be [..., out_h, out_w] for the forward's size. */
static bool check_grad(const char *op, const nb_tensor *g, int64_t in_h, int64_t in_w,
                       const int64_t out[2]) {
  if (g->shape[g->ndim - 2] != out[0] || g->shape[g->ndim - 1] != out[1]) {
    nb__fail(NB_ERR_SHAPE, "%s: gradient %s does not match the forward output %lldx%lld", op,
             nb__shp(g), (long long)out[0], (long long)out[1]);
    return false;
  }
  return true;
}

/* ---- avg_pool2d ---------------------------------------------------------------------------- */

/* Axis specs of avg_pool2d for an in_h x in_w plane; false + error on bad opts. */
static bool avg_specs(const char *op, const nb_pool2d_opts *o, int64_t in_h, int64_t in_w,
                      axis_spec s[2]) {
  pool_axis ax[2];
  int64_t out[2];
  if (!pool_geometry(op, o, false, ax) || !pool_out_hw(op, in_h, in_w, ax, o->ceil_mode, out))
    return false;
  double div = (double)o->divisor_override;
  for (int i = 0; i < 2; i++)
    s[i] = (axis_spec){.kind = MAP_AVG,
                       .in = i ? in_w : in_h,
                       .out = out[i],
                       .pool = ax[i],
                       .exclude_pad = o->exclude_pad,
                       .fixed = div > 0 ? (i ? 1.0 / div : 1.0) : 0};
  return true;
}

nb_tensor *nbk_avg_pool2d(nb_tensor *x, const nb_pool2d_opts *opts) {
  NB_CHECK_NULL("avg_pool2d", x);
  axis_spec s[2];
  if (!check_input("avg_pool2d", x) ||
      !avg_specs("avg_pool2d", opts, x->shape[x->ndim - 2], x->shape[x->ndim - 1], s))
    return NULL;
  return sep_run("avg_pool2d", x, &s[0], &s[1], false);
}

nb_tensor *nbk_avg_pool2d_backward(nb_tensor *grad, int64_t in_h, int64_t in_w,
                                   const nb_pool2d_opts *opts) {
  const char *op = "avg_pool2d_backward";
  NB_CHECK_NULL(op, grad);
  axis_spec s[2];
  if (!check_backward(op, grad, in_h, in_w) || !avg_specs(op, opts, in_h, in_w, s) ||
      !check_grad(op, grad, in_h, in_w, (int64_t[]){s[0].out, s[1].out}))
    return NULL;
  return sep_run(op, grad, &s[0], &s[1], true);
}

/* ---- adaptive_avg_pool2d ------------------------------------------------------------------ */

static void adaptive_specs(int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
                           axis_spec s[2]) {
  s[0] = (axis_spec){.kind = MAP_ADAPTIVE, .in = in_h, .out = out_h};
  s[1] = (axis_spec){.kind = MAP_ADAPTIVE, .in = in_w, .out = out_w};
}

nb_tensor *nbk_adaptive_avg_pool2d(nb_tensor *x, int64_t out_h, int64_t out_w) {
  const char *op = "adaptive_avg_pool2d";
  NB_CHECK_NULL(op, x);
  if (!check_input(op, x)) return NULL;
  int64_t in_h = x->shape[x->ndim - 2], in_w = x->shape[x->ndim - 1];
  if (out_h == -1) out_h = in_h;
  if (out_w == -1) out_w = in_w;
  if (out_h < 0 || out_w < 0 || out_h > INT32_MAX || out_w > INT32_MAX)
    return nb__fail_null(NB_ERR_ARG, "%s: output size %lldx%lld must be >= 0 (or -1 to keep)", op,
                         (long long)out_h, (long long)out_w);
  axis_spec s[2];
  adaptive_specs(in_h, in_w, out_h, out_w, s);
  return sep_run(op, x, &s[0], &s[1], false);
}

nb_tensor *nbk_adaptive_avg_pool2d_backward(nb_tensor *grad, int64_t in_h, int64_t in_w) {
  const char *op = "adaptive_avg_pool2d_backward";
  NB_CHECK_NULL(op, grad);
  if (!check_backward(op, grad, in_h, in_w)) return NULL;
  int64_t out[2] = {grad->shape[grad->ndim - 2], grad->shape[grad->ndim - 1]};
  if (!check_grad(op, grad, in_h, in_w, out)) return NULL;
  axis_spec s[2];
  adaptive_specs(in_h, in_w, out[0], out[1], s);
  return sep_run(op, grad, &s[0], &s[1], true);
}

/* ---- interpolate ---------------------------------------------------------------------------- */

static bool interp_specs(const char *op, const nb_tensor *t, const nb_interp_opts *o, int64_t in_h,
                         int64_t in_w, axis_spec s[2]) {
  if (t->ndim != 4) { /* PyTorch reads a 3-D input as [N, C, L] (1-D resampling) */
    nb__fail(NB_ERR_SHAPE, "%s: expects a 4-D [N, C, H, W] tensor, got %s", op, nb__shp(t));
    return false;
  }
  if (!o) {
    nb__fail(NB_ERR_ARG, "%s: options are required (size or scale_factor)", op);
    return false;
  }
  if ((unsigned)o->mode >= NB_INTERP_COUNT) {
    nb__fail(NB_ERR_ARG, "%s: bad mode %d", op, (int)o->mode);
    return false;
  }
  if (o->align_corners && o->mode == NB_INTERP_NEAREST) {
    nb__fail(NB_ERR_ARG, "%s: align_corners is only valid with bilinear mode", op);
    return false;
  }
  bool by_size = o->size[0] != 0 || o->size[1] != 0;
  double sf[2] = {o->scale_factor[0], o->scale_factor[1] ? o->scale_factor[1] : o->scale_factor[0]};
  int64_t out[2];
  if (by_size) {
    if (sf[0] != 0) {
      nb__fail(NB_ERR_ARG, "%s: give either size or scale_factor, not both", op);
      return false;
    }
    out[0] = o->size[0];
    out[1] = o->size[1];
  } else {
    for (int i = 0; i < 2; i++) {
      if (!(sf[i] > 0) || !isfinite(sf[i])) {
        nb__fail(NB_ERR_ARG, "%s: scale_factor %gx%g must be positive (or give size)", op, sf[0],
                 sf[1]);
        return false;
      }
      double v = floor((double)(i ? in_w : in_h) * sf[i]);
      out[i] = v < 9.0e18 ? (int64_t)v : -1;
    }
  }
  if (out[0] < 1 || out[1] < 1) {
    nb__fail(NB_ERR_ARG, "%s: input %lldx%lld and output %lldx%lld sizes must be positive", op,
             (long long)in_h, (long long)in_w, (long long)out[0], (long long)out[1]);
    return false;
  }
  map_kind kind = o->mode == NB_INTERP_NEAREST ? MAP_NEAREST : MAP_BILINEAR;
  for (int i = 0; i < 2; i++)
    s[i] = (axis_spec){.kind = kind,
                       .in = i ? in_w : in_h,
                       .out = out[i],
                       .sf = by_size ? 0 : sf[i],
                       .align = o->align_corners};
  return true;
}

nb_tensor *nbk_interpolate(nb_tensor *x, const nb_interp_opts *opts) {
  NB_CHECK_NULL("interpolate", x);
  axis_spec s[2];
  if (!check_input("interpolate", x) ||
      !interp_specs("interpolate", x, opts, x->shape[x->ndim - 2], x->shape[x->ndim - 1], s))
    return NULL;
  return sep_run("interpolate", x, &s[0], &s[1], false);
}

nb_tensor *nbk_interpolate_backward(nb_tensor *grad, int64_t in_h, int64_t in_w,
                                    const nb_interp_opts *opts) {
  const char *op = "interpolate_backward";
  NB_CHECK_NULL(op, grad);
  axis_spec s[2];
  if (!check_backward(op, grad, in_h, in_w)) return NULL;
  if (!interp_specs(op, grad, opts, in_h, in_w, s) ||
      !check_grad(op, grad, in_h, in_w, (int64_t[]){s[0].out, s[1].out}))
    return NULL;
  return sep_run(op, grad, &s[0], &s[1], true);
}

/* ---- max_pool2d -------------------------------------------------------------------------- */

/* Per output index of one axis: the first input index a window covers and the
 * number of its taps inside the input (taps are `d` apart). */
typedef struct taps_table {
  int64_t *first, *count;
} taps_table;

/* Build both axes' tables (one block; free tab[0].first). Every window must
 * cover at least one input element. */
static bool max_taps(const char *op, const nb_tensor *x, const pool_axis ax[2],
                     const int64_t out[2], taps_table tab[2]) {
  int64_t *block = malloc(sizeof(int64_t) * 2 * (size_t)(out[0] + out[1]));
  if (!block) {
    nb__fail(NB_ERR_MEMORY, "%s: out of memory", op);
    return false;
  }
  for (int a = 0; a < 2; a++) {
    int64_t in = x->shape[x->ndim - 2 + a];
    tab[a].first = a ? block + 2 * out[0] : block;
    tab[a].count = tab[a].first + out[a];
    for (int64_t o = 0; o < out[a]; o++) {
      int64_t lo, hi;
      valid_taps(o, in, &ax[a], &lo, &hi);
      if (lo >= hi) {
        nb__fail(NB_ERR_ARG,
                 "%s: input %s with kernel %lldx%lld, padding %lldx%lld, dilation %lldx%lld: "
                 "output window %lld along dim %d covers no input element",
                 op, nb__shp(x), (long long)ax[0].k, (long long)ax[1].k, (long long)ax[0].p,
                 (long long)ax[1].p, (long long)ax[0].d, (long long)ax[1].d, (long long)o,
                 x->ndim - 2 + a);
        free(block);
        return false;
      }
      tab[a].first[o] = o * ax[a].s - ax[a].p + lo * ax[a].d;
      tab[a].count[o] = hi - lo;
    }
  }
  return true;
}

/* One plane: the max of each window and its flat position, as PyTorch's
 * max_pool2d_with_indices (NaN wins, ties keep the first, a window of -inf
 * reports its first tap). */
#define MAX_PLANE(T)                                                                               \
  static void max_plane_##T(const planes *p, const char *xp, T *out, int64_t *idx,                 \
                            const taps_table tab[2], const int64_t dil[2], const int64_t osz[2]) { \
    const T *x = (const T *)xp;                                                                    \
    const int64_t sh = p->sh, sw = p->sw, W = p->w, dh = dil[0], dw = dil[1];                      \
    for (int64_t oh = 0; oh < osz[0]; oh++) {                                                      \
      const int64_t h0 = tab[0].first[oh], nh = tab[0].count[oh];                                  \
      for (int64_t ow = 0; ow < osz[1]; ow++) {                                                    \
        const int64_t w0 = tab[1].first[ow], nw = tab[1].count[ow];                                \
        T best = (T)-INFINITY;                                                                     \
        int64_t bi = h0 * W + w0;                                                                  \
        for (int64_t i = 0; i < nh; i++) {                                                         \
          const int64_t h = h0 + i * dh;                                                           \
          const T *row = x + h * sh;                                                               \
          for (int64_t j = 0; j < nw; j++) {                                                       \
            const int64_t w = w0 + j * dw;                                                         \
            const T v = row[w * sw];                                                               \
            const bool take = v > best || v != v; /* branch-free: maxima are unpredictable */      \
            best = take ? v : best;                                                                \
            bi = take ? h * W + w : bi;                                                            \
          }                                                                                        \
        }                                                                                          \
        out[oh * osz[1] + ow] = best;                                                              \
        idx[oh * osz[1] + ow] = bi;                                                                \
      }                                                                                            \
    }                                                                                              \
  }
MAX_PLANE(float)
MAX_PLANE(double)

/* Columns of one output row that the full-window loop handles at a time. */
#define MAX_ROW_BLOCK 128

/* One plane whose windows all lie inside the input (no padding reached, no
 * partial window) and whose rows are contiguous: the same maxima, ties and
 * NaN rule as max_plane, tap by tap over a block of an output row at once
 * (vectorizable: the best value and its tap's offset in the plane per
 * column). S: the width stride. */
#define MAX_FULL_BLOCK(T, S)                                                                       \
  {                                                                                                \
    for (int64_t t = 0; t < n; t++) best[t] = (T)-INFINITY, tap[t] = 0;                            \
    for (int64_t i = 0; i < kh; i++) {                                                             \
      const T *row = x + (h0 + i * dh) * sh + ow0 * (S);                                           \
      for (int64_t j = 0; j < kw; j++) {                                                           \
        const T *restrict src = row + j * dw;                                                      \
        const int32_t off = (int32_t)(i * dh * W + j * dw);                                        \
        for (int64_t t = 0; t < n; t++) {                                                          \
          const T v = src[t * (S)];                                                                \
          const bool take = v > best[t] || v != v;                                                 \
          best[t] = take ? v : best[t];                                                            \
          tap[t] = take ? off : tap[t];                                                            \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
  }

/* The same for a K x K undilated window and width stride S fixed at compile
 * time: the taps unroll, so the loop over the block's columns vectorizes as
 * one. */
#define MAX_FULL_ROW(T, K, S)                                                                      \
  {                                                                                                \
    T *restrict o = out + oh * osz[1] + ow0;                                                       \
    int64_t *restrict ix = idx + oh * osz[1] + ow0;                                                \
    const T *restrict r0 = x + h0 * sh + ow0 * (S);                                                \
    for (int64_t t = 0; t < n; t++) {                                                              \
      T b = (T)-INFINITY;                                                                          \
      int32_t at = 0;                                                                              \
      for (int64_t i = 0; i < (K); i++)                                                            \
        for (int64_t j = 0; j < (K); j++) {                                                        \
          const T v = r0[i * sh + t * (S) + j];                                                    \
          const bool take = v > b || v != v;                                                       \
          b = take ? v : b;                                                                        \
          at = take ? (int32_t)(i * W + j) : at;                                                   \
        }                                                                                          \
      o[t] = b;                                                                                    \
      ix[t] = h0 * W + (ow0 + t) * (S) + at;                                                       \
    }                                                                                              \
    continue;                                                                                      \
  }
/* The full-window loop is compute-bound: NB_HOT_LOOP also builds an AVX2 clone. */
/* The 2x2 stride-2 window (double, and float rows under 4 outputs) over a whole output row
 * of n: outputs [t0, t1) by a loop the compiler vectorizes; a row whose length
 * is not a multiple of 8 (4) ends with one more group shifted back to end at
 * the row's end (recomputing a few outputs, same values), so short rows (13,
 * 5) run as vectors instead of a scalar remainder. The first tap needs no
 * test: it wins against -inf unless it is -inf itself, with the same
 * result. */
#define MAX22_SPAN(T, t0, t1)                                                                      \
  for (int64_t t = (t0); t < (t1); t++) {                                                          \
    const T a = r0[2 * t], b = r0[2 * t + 1], c = r1[2 * t], d = r1[2 * t + 1];                    \
    T m = a;                                                                                       \
    int32_t at = 0;                                                                                \
    bool take = b > m || b != b;                                                                   \
    m = take ? b : m, at = take ? 1 : at;                                                          \
    take = c > m || c != c;                                                                        \
    m = take ? c : m, at = take ? w1 : at;                                                         \
    take = d > m || d != d;                                                                        \
    m = take ? d : m, at = take ? w1 + 1 : at;                                                     \
    o[t] = m;                                                                                      \
    ix[t] = base + 2 * t + at;                                                                     \
  }
#define MAX22_ROW(T)                                                                               \
  {                                                                                                \
    const int64_t n = osz[1], base = h0 * W;                                                       \
    const int32_t w1 = (int32_t)W;                                                                 \
    const T *restrict r0 = x + h0 * sh, *restrict r1 = r0 + sh;                                    \
    T *restrict o = out + oh * n;                                                                  \
    int64_t *restrict ix = idx + oh * n;                                                           \
    const int64_t g = n >= 8 ? 8 : 4, whole = n / g * g;                                           \
    MAX22_SPAN(T, 0, whole)                                                                        \
    if (whole < n) {                                                                               \
      int64_t t0 = n >= g ? n - g : whole;                                                         \
      MAX22_SPAN(T, t0, n)                                                                         \
    }                                                                                              \
    continue;                                                                                      \
  }
#define MAX_PLANE_FULL(T)                                                                          \
  NB_HOT_LOOP static void max_plane_full_##T(                                                      \
      const planes *p, const char *xp, T *out, int64_t *idx, const taps_table tab[2],              \
      const int64_t kern[2], const int64_t str[2], const int64_t dil[2], const int64_t osz[2]) {   \
    const T *x = (const T *)xp;                                                                    \
    const int64_t sh = p->sh, W = p->w, kh = kern[0], kw = kern[1], dh = dil[0], dw = dil[1];      \
    const int64_t s = str[1];                                                                      \
    T best[MAX_ROW_BLOCK];                                                                         \
    int32_t tap[MAX_ROW_BLOCK];                                                                    \
    for (int64_t oh = 0; oh < osz[0]; oh++) {                                                      \
      const int64_t h0 = tab[0].first[oh];                                                         \
      if (s == 2 && kh == 2 && kw == 2 && dh == 1 && dw == 1 && p->sw == 1) MAX22_ROW(T)           \
      for (int64_t ow0 = 0; ow0 < osz[1]; ow0 += MAX_ROW_BLOCK) {                                  \
        const int64_t n = osz[1] - ow0 < MAX_ROW_BLOCK ? osz[1] - ow0 : MAX_ROW_BLOCK;             \
        if (s == 2 && kh == 3 && kw == 3 && dh == 1 && dw == 1)                                    \
          MAX_FULL_ROW(T, 3, 2)                                                                    \
        else if (s == 2)                                                                           \
          MAX_FULL_BLOCK(T, 2)                                                                     \
        else if (s == 1)                                                                           \
          MAX_FULL_BLOCK(T, 1)                                                                     \
        else                                                                                       \
          MAX_FULL_BLOCK(T, s)                                                                     \
        T *o = out + oh * osz[1] + ow0;                                                            \
        int64_t *ix = idx + oh * osz[1] + ow0;                                                     \
        for (int64_t t = 0; t < n; t++) {                                                          \
          o[t] = best[t];                                                                          \
          ix[t] = h0 * W + (ow0 + t) * s + tap[t];                                                 \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
  }
MAX_PLANE_FULL(float)
MAX_PLANE_FULL(double)

/* The float 2x2 stride-2 window (the usual pooling layer) on rows of at
 * least 4 outputs, in GCC vector types: a row of n outputs is cut into
 * chunks of 4 (the last one shifted back to end at the row's end,
 * recomputing a few outputs with the same values), and two chunks, of any
 * rows, fill one 8-lane vector, so rows as short as 13 or 5 outputs still run
 * at full width. A chunk's 8 + 8 input floats are split into the windows'
 * taps a, b (top row) and c, d (bottom row) by one shuffle each; the taps
 * are taken in that order with max_plane's rule (greater or NaN replaces, so
 * ties keep the first and the last NaN wins), as bit selects. The chunk
 * table (built once per call, the same for every plane) gives each chunk's
 * input offset (top-left tap, row stride sh), output offset and flat index of
 * its first window's top-left tap. Lanes do not interact, so the pairing
 * changes no bit. */
typedef float v4f __attribute__((vector_size(16)));
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef int64_t v4l __attribute__((vector_size(32)));

typedef struct max22_chunk {
  int64_t in, out, flat;
} max22_chunk;

/* Chunks of an oh x n output plane (n >= 4) over rows sh apart of width W. */
static max22_chunk *max22_chunks(const char *op, int64_t oh, int64_t n, int64_t sh, int64_t W,
                                 int64_t *count) {
  const int64_t per = (n + 3) / 4;
  *count = oh * per;
  max22_chunk *c = malloc(sizeof(max22_chunk) * (size_t)*count);
  if (!c) {
    nb__fail(NB_ERR_MEMORY, "%s: out of memory", op);
    return NULL;
  }
  for (int64_t r = 0, k = 0; r < oh; r++)
    for (int64_t j = 0; j < per; j++, k++) {
      const int64_t t = j * 4 < n - 4 ? j * 4 : n - 4;
      c[k] = (max22_chunk){.in = 2 * r * sh + 2 * t, .out = r * n + t, .flat = 2 * r * W + 2 * t};
    }
  return c;
}

#define V4F_LOAD(dst, src) memcpy(&(dst), (src), sizeof(v4f))
/* take = v > m || v != v; m = take ? v : m; at = take ? off : at */
#define MAX22_TAKE(v, off)                                                                         \
  {                                                                                                \
    const v8i take = ((v) > m) | ((v) != (v));                                                     \
    m = (v8f)(((v8i)(v)&take) | ((v8i)m & ~take));                                                 \
    at = ((off)&take) | (at & ~take);                                                              \
  }

NB_HOT_LOOP static void max22_plane_float(const float *x, float *out, int64_t *idx,
                                          const max22_chunk *ch, int64_t count, int64_t sh,
                                          int32_t W) {
  const v8i one = {1, 1, 1, 1, 1, 1, 1, 1}, w0 = one * W, w1 = w0 + one;
  const v4l step = {0, 2, 4, 6};
  for (int64_t k = 0; k < count; k += 2) {
    const max22_chunk *A = ch + k, *B = ch + (k + 1 < count ? k + 1 : k);
    v4f a0l, a0h, a1l, a1h, b0l, b0h, b1l, b1h;
    V4F_LOAD(a0l, x + A->in), V4F_LOAD(a0h, x + A->in + 4);
    V4F_LOAD(b0l, x + B->in), V4F_LOAD(b0h, x + B->in + 4);
    V4F_LOAD(a1l, x + A->in + sh), V4F_LOAD(a1h, x + A->in + sh + 4);
    V4F_LOAD(b1l, x + B->in + sh), V4F_LOAD(b1h, x + B->in + sh + 4);
    const v8f top0 = __builtin_shufflevector(a0l, b0l, 0, 1, 2, 3, 4, 5, 6, 7);
    const v8f top1 = __builtin_shufflevector(a0h, b0h, 0, 1, 2, 3, 4, 5, 6, 7);
    const v8f bot0 = __builtin_shufflevector(a1l, b1l, 0, 1, 2, 3, 4, 5, 6, 7);
    const v8f bot1 = __builtin_shufflevector(a1h, b1h, 0, 1, 2, 3, 4, 5, 6, 7);
    const v8f ta = __builtin_shufflevector(top0, top1, 0, 2, 8, 10, 4, 6, 12, 14);
    const v8f tb = __builtin_shufflevector(top0, top1, 1, 3, 9, 11, 5, 7, 13, 15);
    const v8f tc = __builtin_shufflevector(bot0, bot1, 0, 2, 8, 10, 4, 6, 12, 14);
    const v8f td = __builtin_shufflevector(bot0, bot1, 1, 3, 9, 11, 5, 7, 13, 15);
    v8f m = ta;
    v8i at = one - one;
    MAX22_TAKE(tb, one)
    MAX22_TAKE(tc, w0)
    MAX22_TAKE(td, w1)
    const v4f ml = __builtin_shufflevector(m, m, 0, 1, 2, 3);
    const v4f mh = __builtin_shufflevector(m, m, 4, 5, 6, 7);
    const v4l il =
        __builtin_convertvector(__builtin_shufflevector(at, at, 0, 1, 2, 3), v4l) + step + A->flat;
    const v4l ih =
        __builtin_convertvector(__builtin_shufflevector(at, at, 4, 5, 6, 7), v4l) + step + B->flat;
    memcpy(out + A->out, &ml, sizeof ml);
    memcpy(out + B->out, &mh, sizeof mh);
    memcpy(idx + A->out, &il, sizeof il);
    memcpy(idx + B->out, &ih, sizeof ih);
  }
}

nb_tensor *nbk_max_pool2d(nb_tensor *x, const nb_pool2d_opts *opts, nb_tensor **indices) {
  const char *op = "max_pool2d";
  if (indices) *indices = NULL;
  NB_CHECK_NULL(op, x);
  pool_axis ax[2];
  int64_t osz[2];
  taps_table tab[2];
  if (!check_input(op, x) || !pool_geometry(op, opts, true, ax) ||
      !pool_out_hw(op, x->shape[x->ndim - 2], x->shape[x->ndim - 1], ax, opts->ceil_mode, osz) ||
      !max_taps(op, x, ax, osz, tab))
    return NULL;
  nb_tensor *out = new_like_planes(op, x, osz[0], osz[1]);
  nb_tensor *idx = out ? nb__new(op, NB_DTYPE_INT64, out->ndim, out->shape) : NULL;
  if (!idx) {
    free(tab[0].first);
    nb_free(out);
    return NULL;
  }
  planes p = planes_of(x);
  int64_t plane_out = osz[0] * osz[1], dil[2] = {ax[0].d, ax[1].d};
  int nt = threads_for_planes(p.count * plane_out * ax[0].k * ax[1].k, p.count);
  bool f32 = x->dtype == NB_DTYPE_FLOAT32;
  /* every window inside the input (its first tap at o * stride) with contiguous rows */
  bool full = p.sw == 1 && (ax[0].k - 1) * ax[0].d * p.w + (ax[1].k - 1) * ax[1].d < INT32_MAX;
  for (int a = 0; a < 2 && full; a++)
    for (int64_t k = 0; k < osz[a] && full; k++)
      full = tab[a].count[k] == ax[a].k && tab[a].first[k] == k * ax[a].s;
  int64_t kern[2] = {ax[0].k, ax[1].k}, str[2] = {ax[0].s, ax[1].s};
  char *o = nb_data(out);
  int64_t *ix = nb_data(idx);
  /* the float 2x2 stride-2 window on rows of at least 4 outputs */
  max22_chunk *ch = NULL;
  int64_t nch = 0;
  if (full && f32 && kern[0] == 2 && kern[1] == 2 && str[0] == 2 && str[1] == 2 && dil[0] == 1 &&
      dil[1] == 1 && osz[1] >= 4 && p.count > 0) {
    ch = max22_chunks(op, osz[0], osz[1], p.sh, p.w, &nch);
    if (!ch) {
      free(tab[0].first);
      nb_free(idx);
      nb_free(out);
      return NULL;
    }
  }
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int64_t i = 0; i < p.count; i++) {
    if (ch)
      max22_plane_float((const float *)plane_ptr(&p, i), (float *)o + i * plane_out,
                        ix + i * plane_out, ch, nch, p.sh, (int32_t)p.w);
    else if (full && f32)
      max_plane_full_float(&p, plane_ptr(&p, i), (float *)o + i * plane_out, ix + i * plane_out,
                           tab, kern, str, dil, osz);
    else if (full)
      max_plane_full_double(&p, plane_ptr(&p, i), (double *)o + i * plane_out, ix + i * plane_out,
                            tab, kern, str, dil, osz);
    else if (f32)
      max_plane_float(&p, plane_ptr(&p, i), (float *)o + i * plane_out, ix + i * plane_out, tab,
                      dil, osz);
    else
      max_plane_double(&p, plane_ptr(&p, i), (double *)o + i * plane_out, ix + i * plane_out, tab,
                       dil, osz);
  }
  free(tab[0].first);
  free(ch);
  if (indices)
    *indices = idx;
  else
    nb_free(idx);
  return out;
}

/* gx[idx[k]] += g[k] over one plane (gx zeroed first); false when an index
 * is outside the plane (skipped). */
#define MAX_BACK_PLANE(T)                                                                          \
  static bool max_back_plane_##T(const planes *g, const char *gp, const int64_t *idx, T *gx,       \
                                 int64_t plane_in) {                                               \
    const T *gv = (const T *)gp;                                                                   \
    bool ok = true;                                                                                \
    memset(gx, 0, sizeof(T) * (size_t)plane_in);                                                   \
    for (int64_t oh = 0; oh < g->h; oh++)                                                          \
      for (int64_t ow = 0; ow < g->w; ow++) {                                                      \
        const int64_t k = idx[oh * g->w + ow];                                                     \
        if (k >= 0 && k < plane_in)                                                                \
          gx[k] += gv[oh * g->sh + ow * g->sw];                                                    \
        else                                                                                       \
          ok = false;                                                                              \
      }                                                                                            \
    return ok;                                                                                     \
  }
MAX_BACK_PLANE(float)
MAX_BACK_PLANE(double)

nb_tensor *nbk_max_pool2d_backward(nb_tensor *grad, nb_tensor *indices, int64_t in_h,
                                   int64_t in_w) {
  const char *op = "max_pool2d_backward";
  NB_CHECK_NULL(op, grad, indices);
  if (!check_backward(op, grad, in_h, in_w)) return NULL;
  if (indices->dtype != NB_DTYPE_INT64)
    return nb__fail_null(NB_ERR_DTYPE, "%s: indices must be int64, got %s", op,
                         nb_dtype_name(indices->dtype));
  bool same = indices->ndim == grad->ndim;
  for (int d = 0; same && d < grad->ndim; d++) same = indices->shape[d] == grad->shape[d];
  if (!same)
    return nb__fail_null(NB_ERR_SHAPE, "%s: indices %s and gradient %s must have the same shape",
                         op, nb__shp(indices), nb__shp(grad));
  nb_tensor *ic = nbk_contiguous(indices);
  if (!ic) return NULL;
  const int64_t *ix = nb_data(ic);
  int64_t plane_in = in_h * in_w;
  nb_tensor *gx = new_like_planes(op, grad, in_h, in_w);
  if (!gx) {
    nb_free(ic);
    return NULL;
  }
  planes g = planes_of(grad);
  int64_t plane_out = g.h * g.w;
  int nt = threads_for_planes(g.count * (plane_out + plane_in), g.count);
  bool f32 = grad->dtype == NB_DTYPE_FLOAT32, ok = true;
  char *o = nb_data(gx);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static) reduction(&& : ok)
  for (int64_t i = 0; i < g.count; i++) {
    if (f32)
      ok = max_back_plane_float(&g, plane_ptr(&g, i), ix + i * plane_out, (float *)o + i * plane_in,
                                plane_in) &&
           ok;
    else
      ok = max_back_plane_double(&g, plane_ptr(&g, i), ix + i * plane_out,
                                 (double *)o + i * plane_in, plane_in) &&
           ok;
  }
  /* the planes skipped bad indices: name the first one */
  for (int64_t k = 0; !ok && k < ic->numel; k++) {
    if (ix[k] < 0 || ix[k] >= plane_in) {
      nb__fail(NB_ERR_INDEX, "%s: index %lld at %lld is out of range for a %lldx%lld plane", op,
               (long long)ix[k], (long long)k, (long long)in_h, (long long)in_w);
      break;
    }
  }
  nb_free(ic);
  if (!ok) {
    nb_free(gx);
    return NULL;
  }
  return gx;
}
