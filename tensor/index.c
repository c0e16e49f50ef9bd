/* tensor/index.c - joining and indexing.
 *
 * Owns: cat, stack, index_select, gather, scatter, scatter_add, index_add,
 * masked_fill, masked_select, one_hot, repeat, flip and pad.
 *
 * Two mechanisms do all the moving:
 *  - block copies (cat, stack, repeat, pad) write through views of the result
 *    with nb_copy_, which converts dtypes and picks the fast paths;
 *  - one typed strided walker (sg_*) for the indexed ops and flip: it walks a
 *    shape S and moves dst[p] <- src[p] where one side is addressed along `dim`
 *    by an int64 index tensor (gather reads through it, scatter writes through
 *    it). Flip is the walker's plain copy with negative source strides, which
 *    exist only inside this file.
 * Every index value is validated before anything is written.
 *
 * Determinism: the walker splits work across threads only where no two
 * threads can touch one output element, and each output element's writes keep
 * their order (increasing position along `dim`). So scatter with duplicate
 * indices keeps the LAST write along dim, scatter_add/index_add accumulate
 * duplicates in index order, and results are identical with any thread count.
 */
#include "tensor/tensor_impl.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* ---- small helpers ---------------------------------------------------------- */

/* Size / stride of dim d, treating a 0-d tensor as one element. */
static int64_t size_at(const nb_tensor *t, int d) { return t->ndim ? t->shape[d] : 1; }
static int64_t stride_at(const nb_tensor *t, int d) { return t->ndim ? t->strides[d] : 0; }

/* A result written through views starts life at version 0 like any new tensor. */
static nb_tensor *fresh(nb_tensor *out) {
  out->storage->version = 0;
  return out;
}

static void *free_null(nb_tensor *t) {
  nb_free(t);
  return NULL;
}

/* Copy src (broadcast, converted) into the view of out with this layout at
 * element `offset` from out's first element. */
static nb_status copy_into(nb_tensor *out, int ndim, const int64_t *shape, const int64_t *strides,
                           int64_t offset, nb_tensor *src) {
  nb_tensor *view = nb__new_view(out, ndim, shape, strides, out->offset + offset);
  if (!view) return nb_last_status();
  nb_status st = nb_copy_(view, src);
  nb_free(view);
  return st;
}

/* A view of t broadcast to shape (stride 0 on new and expanded dims); the
 * shape must be a valid broadcast of t's. */
static nb_tensor *broadcast_view(nb_tensor *t, int ndim, const int64_t *shape) {
  int64_t st[NB_MAX_DIMS];
  int lead = ndim - t->ndim;
  for (int k = 0; k < ndim; k++)
    st[k] = k < lead || t->shape[k - lead] != shape[k] ? 0 : t->strides[k - lead];
  return nb__new_view(t, ndim, shape, st, t->offset);
}

/* A scalar converted once to every dtype; errors if it does not fit int64. */
typedef struct {
  double f64;
  float f32;
  int64_t i64;
  uint8_t b;
} scalar_value;

static nb_status cast_value(const char *op, nb_dtype dtype, double value, scalar_value *out) {
  bool fits = fabs(value) < 9.2e18; /* false for NaN too */
  if (dtype == NB_DTYPE_INT64 && !fits)
    return nb__fail(NB_ERR_ARG, "%s: value %g does not fit an int64 tensor", op, value);
  *out = (scalar_value){value, (float)value, fits ? (int64_t)value : 0, value != 0};
  return NB_OK;
}

/* "[1, 2]": the multi-index of row-major position `flat` in shape. */
static char *position_str(int ndim, const int64_t *shape, int64_t flat, char *buf, size_t size) {
  int64_t idx[NB_MAX_DIMS];
  for (int k = ndim - 1; k >= 0; k--) {
    idx[k] = shape[k] ? flat % shape[k] : 0;
    flat = shape[k] ? flat / shape[k] : 0;
  }
  return nb__dims_str(ndim, idx, buf, size);
}

/* ---- index validation -------------------------------------------------------- */

typedef struct {
  int64_t hi;   /* values must lie in [0, hi) */
  int64_t seen; /* elements checked so far (row-major position) */
  int64_t max;  /* largest value seen */
  bool bad;
  int64_t bad_value, bad_pos;
} scan_ctx;

static void scan_loop(char **p, const int64_t *s, int64_t n, void *vctx) {
  scan_ctx *c = vctx;
  if (c->bad) return;
  const char *q = p[0];
  for (int64_t i = 0; i < n; i++, q += s[0]) {
    int64_t v = *(const int64_t *)q;
    if (v < 0 || v >= c->hi) {
      c->bad = true;
      c->bad_value = v;
      c->bad_pos = c->seen + i;
      return;
    }
    if (v > c->max) c->max = v;
  }
  c->seen += n;
}

/* Walk every value of the int64 tensor `index` in row-major order (serially,
 * so the first bad value is the one reported). */
static nb_status scan_values(const char *op, nb_tensor *index, scan_ctx *c) {
  nb_iter it;
  nb_status st = nb__iter_init(&it, op, 1, (nb_tensor *[]){index});
  if (st == NB_OK) nb__iter_run(&it, scan_loop, c, false);
  return st;
}

static nb_status check_index_dtype(const char *op, const nb_tensor *index) {
  if (index->dtype != NB_DTYPE_INT64)
    return nb__fail(NB_ERR_DTYPE, "%s: index must be int64, got %s", op,
                    nb_dtype_name(index->dtype));
  return NB_OK;
}

/* Every value of index must address dim d of x: NB_ERR_INDEX naming the
 * first bad value, its position in index, and the size. */
static nb_status check_index_values(const char *op, nb_tensor *index, const nb_tensor *x, int d) {
  scan_ctx c = {.hi = size_at(x, d), .max = -1};
  nb_status st = scan_values(op, index, &c);
  if (st != NB_OK || !c.bad) return st;
  char pos[160];
  return nb__fail(NB_ERR_INDEX,
                  "%s: index %lld (at %s of index %s) is out of range for dim %d of x %s "
                  "(size %lld)",
                  op, (long long)c.bad_value,
                  position_str(index->ndim, index->shape, c.bad_pos, pos, sizeof pos),
                  nb__shp(index), d, nb__shp(x), (long long)c.hi);
}

/* ---- the strided gather/scatter walker ------------------------------------------ */

typedef enum {
  SG_COPY,    /* dst[p] = src[p] */
  SG_GATHER,  /* dst[p] = src[p + idx[p] * jump] */
  SG_SCATTER, /* dst[p + idx[p] * jump] = src[p] */
  SG_ADD      /* dst[p + idx[p] * jump] += src[p] */
} sg_mode;

typedef struct {
  sg_mode mode;
  int ndim; /* >= 1 after sg_compact */
  int kdim; /* the indexed dim after sg_compact, -1 if it was dropped */
  int64_t shape[NB_MAX_DIMS];
  /* In elements; the indexed operand has stride 0 along the indexed dim. May
   * be negative (flip). */
  int64_t dst_st[NB_MAX_DIMS], src_st[NB_MAX_DIMS], idx_st[NB_MAX_DIMS];
  char *dst;
  const char *src;
  const int64_t *idx; /* NULL for SG_COPY */
  int64_t jump;       /* elements one index step moves the indexed operand */
} sg_plan;

/* Drop size-1 dims and merge neighbours every operand steps across as one
 * dim; never merge across the indexed dim `dim` (kept so that scatter's
 * thread split can see it). */
static void sg_compact(sg_plan *p, int dim) {
  int n = 0, kdim = -1;
  for (int k = 0; k < p->ndim; k++) {
    if (p->shape[k] == 1) continue;
    bool keep_apart = k == dim || (n > 0 && n - 1 == kdim);
    if (n > 0 && !keep_apart && p->dst_st[n - 1] == p->dst_st[k] * p->shape[k] &&
        p->src_st[n - 1] == p->src_st[k] * p->shape[k] &&
        p->idx_st[n - 1] == p->idx_st[k] * p->shape[k]) {
      p->shape[n - 1] *= p->shape[k];
      p->dst_st[n - 1] = p->dst_st[k];
      p->src_st[n - 1] = p->src_st[k];
      p->idx_st[n - 1] = p->idx_st[k];
      continue;
    }
    if (k == dim) kdim = n;
    p->shape[n] = p->shape[k];
    p->dst_st[n] = p->dst_st[k];
    p->src_st[n] = p->src_st[k];
    p->idx_st[n] = p->idx_st[k];
    n++;
  }
  if (n == 0) {
    p->shape[0] = 1;
    p->dst_st[0] = p->src_st[0] = p->idx_st[0] = 0;
    n = 1;
  }
  p->ndim = n;
  p->kdim = kdim;
}

/* Rows [r0, r1) (all dims but the last), columns [c0, c1) of the last dim,
 * c1 > c0. A row whose index stride is 0 (index_select, index_add) is a plain
 * strided copy/add with one offset. */
#define SG_KERNEL(NAME, T, ADD)                                                                    \
  static void NAME(const sg_plan *p, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {             \
    const int last = p->ndim - 1;                                                                  \
    const int64_t ds = p->dst_st[last], ss = p->src_st[last], is = p->idx_st[last];                \
    const int64_t n = c1 - c0, jump = p->jump;                                                     \
    const sg_mode mode = p->mode;                                                                  \
    int64_t pos[NB_MAX_DIMS] = {0}, rest = r0;                                                     \
    for (int k = last - 1; k >= 0; k--) {                                                          \
      pos[k] = rest % p->shape[k];                                                                 \
      rest /= p->shape[k];                                                                         \
    }                                                                                              \
    for (int64_t r = r0; r < r1; r++) {                                                            \
      int64_t od = c0 * ds, os = c0 * ss, oi = c0 * is;                                            \
      for (int k = 0; k < last; k++) {                                                             \
        od += pos[k] * p->dst_st[k];                                                               \
        os += pos[k] * p->src_st[k];                                                               \
        oi += pos[k] * p->idx_st[k];                                                               \
      }                                                                                            \
      T *dp = (T *)p->dst + od;                                                                    \
      const T *sp = (const T *)p->src + os;                                                        \
      const int64_t *ip = mode == SG_COPY ? NULL : p->idx + oi;                                    \
      if (mode == SG_COPY || is == 0) {                                                            \
        if (mode == SG_GATHER)                                                                     \
          sp += ip[0] * jump;                                                                      \
        else if (mode != SG_COPY)                                                                  \
          dp += ip[0] * jump;                                                                      \
        if (mode == SG_ADD) {                                                                      \
          for (int64_t i = 0; i < n; i++) dp[i * ds] = ADD(dp[i * ds], sp[i * ss]);                \
        } else if (ds == 1 && ss == 1) {                                                           \
          for (int64_t i = 0; i < n; i++) dp[i] = sp[i];                                           \
        } else {                                                                                   \
          for (int64_t i = 0; i < n; i++) dp[i * ds] = sp[i * ss];                                 \
        }                                                                                          \
      } else if (mode == SG_GATHER) {                                                              \
        for (int64_t i = 0; i < n; i++) dp[i * ds] = sp[i * ss + ip[i * is] * jump];               \
      } else if (mode == SG_SCATTER) {                                                             \
        for (int64_t i = 0; i < n; i++) dp[i * ds + ip[i * is] * jump] = sp[i * ss];               \
      } else {                                                                                     \
        for (int64_t i = 0; i < n; i++) {                                                          \
          T *q = dp + i * ds + ip[i * is] * jump;                                                  \
          *q = ADD(*q, sp[i * ss]);                                                                \
        }                                                                                          \
      }                                                                                            \
      for (int k = last - 1; k >= 0 && ++pos[k] == p->shape[k]; k--) pos[k] = 0;                   \
    }                                                                                              \
  }

#define ADD_FLOAT(a, b) ((a) + (b))
#define ADD_INT(a, b) ((int64_t)((uint64_t)(a) + (uint64_t)(b))) /* wraps like torch */
#define ADD_BOOL(a, b) ((uint8_t)((a) | (b)))                    /* torch: True + True = True */
SG_KERNEL(sg_f32, float, ADD_FLOAT)
SG_KERNEL(sg_f64, double, ADD_FLOAT)
SG_KERNEL(sg_i64, int64_t, ADD_INT)
SG_KERNEL(sg_b, uint8_t, ADD_BOOL)

typedef void (*sg_fn)(const sg_plan *p, int64_t r0, int64_t r1, int64_t c0, int64_t c1);
static const sg_fn sg_kernels[NB_DTYPE_COUNT] = {
    [NB_DTYPE_FLOAT32] = sg_f32,
    [NB_DTYPE_FLOAT64] = sg_f64,
    [NB_DTYPE_INT64] = sg_i64,
    [NB_DTYPE_BOOL] = sg_b,
};
_Static_assert(sizeof sg_kernels / sizeof sg_kernels[0] == NB_DTYPE_COUNT, "one kernel per dtype");

/* Compact the plan and run it, in parallel above NB_PARALLEL_GRAIN. Gather and
 * copy write each dst element from one position, so any split is safe. A
 * scatter's positions collide only when they differ in the indexed dim alone,
 * so threads take whole blocks of rows spanning that dim, or (if there are too
 * few blocks) disjoint column ranges of a last dim that is not the indexed one;
 * otherwise the scatter runs serially. */
static void sg_run(sg_plan *p, int dim, nb_dtype dtype) {
  sg_compact(p, dim);
  const sg_fn fn = sg_kernels[dtype];
  const int last = p->ndim - 1;
  int64_t numel = 1;
  for (int k = 0; k < p->ndim; k++) numel *= p->shape[k];
  if (numel == 0) return;
  const int64_t cols = p->shape[last], rows = numel / cols;
  const bool scatter = p->mode == SG_SCATTER || p->mode == SG_ADD;
  int64_t unit = 1; /* rows that must stay in one thread */
  if (scatter && p->kdim >= 0)
    for (int k = p->kdim; k < last; k++) unit *= p->shape[k];
  const int64_t units = rows / unit;
  const bool cols_ok = !(scatter && p->kdim == last);
  int threads = nb__threads_for(numel);
  const bool by_rows = units >= threads;
  if (!by_rows && !(cols_ok && cols >= threads)) threads = 1;
  if (threads <= 1) {
    fn(p, 0, rows, 0, cols);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t total = by_rows ? units : cols;
    int64_t chunk = (total + nt - 1) / nt, lo = chunk * t;
    int64_t hi = lo + chunk < total ? lo + chunk : total;
    if (lo < hi) {
      if (by_rows)
        fn(p, lo * unit, hi * unit, 0, cols);
      else
        fn(p, 0, rows, lo, hi);
    }
  }
}

/* ---- cat and stack ---------------------------------------------------------------- */

/* Check a list of tensors (non-empty, no NULL) and promote their dtypes. */
static nb_status check_list(const char *op, nb_tensor *const *tensors, int n, nb_dtype *dtype) {
  if (!tensors || n < 1)
    return nb__fail(NB_ERR_ARG, "%s: expected a non-empty list of tensors, got %d", op,
                    tensors ? n : 0);
  for (int i = 0; i < n; i++)
    if (!tensors[i]) return nb__null_input(op);
  *dtype = tensors[0]->dtype;
  for (int i = 1; i < n; i++) *dtype = nb_promote_types(*dtype, tensors[i]->dtype);
  return NB_OK;
}

/* PyTorch's legacy rule: 1-D empty tensors are ignored by cat. */
static bool cat_skipped(const nb_tensor *t) { return t->ndim == 1 && t->shape[0] == 0; }

nb_tensor *nbk_cat(nb_tensor *const *tensors, int n, int dim) {
  const char *op = "cat";
  nb_dtype dtype;
  if (check_list(op, tensors, n, &dtype) != NB_OK) return NULL;
  int ref = -1;
  for (int i = 0; i < n; i++) {
    if (tensors[i]->ndim == 0)
      return nb__fail_null(NB_ERR_SHAPE, "cat: input %d is 0-d and cannot be concatenated", i);
    if (ref < 0 && !cat_skipped(tensors[i])) ref = i;
  }
  const bool all_skipped = ref < 0;
  const nb_tensor *r = tensors[all_skipped ? 0 : ref];
  int d = nb__wrap_dim(op, dim, r->ndim);
  if (d < 0) return NULL;
  int64_t shape[NB_MAX_DIMS];
  memcpy(shape, r->shape, sizeof(int64_t) * (size_t)r->ndim);
  shape[d] = 0;
  for (int i = 0; i < n; i++) {
    const nb_tensor *t = tensors[i];
    if (!all_skipped && cat_skipped(t)) continue;
    if (t->ndim != r->ndim)
      return nb__fail_null(NB_ERR_SHAPE,
                           "cat: input %d has shape %s but input %d has shape %s: the numbers of "
                           "dims differ",
                           i, nb__shp(t), ref, nb__shp(r));
    for (int k = 0; k < r->ndim; k++)
      if (k != d && t->shape[k] != r->shape[k])
        return nb__fail_null(NB_ERR_SHAPE,
                             "cat: input %d has shape %s but input %d has shape %s: sizes must "
                             "match except in dim %d",
                             i, nb__shp(t), ref, nb__shp(r), d);
    if (__builtin_add_overflow(shape[d], t->shape[d], &shape[d]))
      return nb__fail_null(NB_ERR_MEMORY, "cat: the size along dim %d overflows", d);
  }
  nb_tensor *out = nb__new(op, dtype, r->ndim, shape);
  if (!out) return NULL;
  int64_t start = 0;
  for (int i = 0; i < n; i++) {
    nb_tensor *t = tensors[i];
    if (cat_skipped(t) || t->numel == 0) continue;
    if (copy_into(out, t->ndim, t->shape, out->strides, start * out->strides[d], t) != NB_OK)
      return free_null(out);
    start += t->shape[d];
  }
  return fresh(out);
}

nb_tensor *nbk_stack(nb_tensor *const *tensors, int n, int dim) {
  const char *op = "stack";
  nb_dtype dtype;
  if (check_list(op, tensors, n, &dtype) != NB_OK) return NULL;
  const nb_tensor *r = tensors[0];
  if (r->ndim >= NB_MAX_DIMS)
    return nb__fail_null(NB_ERR_SHAPE, "stack: inputs of shape %s would give more than %d dims",
                         nb__shp(r), NB_MAX_DIMS);
  int d = nb__wrap_dim(op, dim, r->ndim + 1);
  if (d < 0) return NULL;
  for (int i = 1; i < n; i++) {
    const nb_tensor *t = tensors[i];
    bool same = t->ndim == r->ndim;
    for (int k = 0; k < r->ndim && same; k++) same = t->shape[k] == r->shape[k];
    if (!same)
      return nb__fail_null(NB_ERR_SHAPE,
                           "stack: input %d has shape %s but input 0 has shape %s: stack needs "
                           "equal shapes",
                           i, nb__shp(t), nb__shp(r));
  }
  int64_t shape[NB_MAX_DIMS], st[NB_MAX_DIMS];
  for (int k = 0, j = 0; k <= r->ndim; k++) shape[k] = k == d ? n : r->shape[j++];
  nb_tensor *out = nb__new(op, dtype, r->ndim + 1, shape);
  if (!out) return NULL;
  if (out->numel == 0) return out;
  for (int k = 0; k < r->ndim; k++) st[k] = out->strides[k < d ? k : k + 1];
  for (int i = 0; i < n; i++)
    if (copy_into(out, r->ndim, r->shape, st, i * out->strides[d], tensors[i]) != NB_OK)
      return free_null(out);
  return fresh(out);
}

/* ---- gather, index_select ---------------------------------------------------------- */

nb_tensor *nbk_gather(nb_tensor *x, int dim, nb_tensor *index) {
  const char *op = "gather";
  NB_CHECK_NULL(op, x, index);
  int d = nb__wrap_dim(op, dim, x->ndim);
  if (d < 0 || check_index_dtype(op, index) != NB_OK) return NULL;
  if (index->ndim != x->ndim)
    return nb__fail_null(NB_ERR_SHAPE, "gather: index %s has %d dims but x %s has %d",
                         nb__shp(index), index->ndim, nb__shp(x), x->ndim);
  for (int k = 0; k < x->ndim; k++)
    if (k != d && index->shape[k] > x->shape[k])
      return nb__fail_null(NB_ERR_SHAPE,
                           "gather: index %s is larger than x %s at dim %d (only dim %d may be "
                           "larger)",
                           nb__shp(index), nb__shp(x), k, d);
  if (check_index_values(op, index, x, d) != NB_OK) return NULL;
  nb_tensor *out = nb__new(op, x->dtype, index->ndim, index->shape);
  if (!out || out->numel == 0) return out;
  sg_plan p = {.mode = SG_GATHER,
               .ndim = x->ndim,
               .dst = nb__ptr(out, 0),
               .src = nb__ptr(x, 0),
               .idx = nb__ptr(index, 0),
               .jump = stride_at(x, d)};
  for (int k = 0; k < x->ndim; k++) {
    p.shape[k] = index->shape[k];
    p.dst_st[k] = out->strides[k];
    p.src_st[k] = k == d ? 0 : x->strides[k];
    p.idx_st[k] = index->strides[k];
  }
  sg_run(&p, d, x->dtype);
  return out;
}

/* A 1-D (or one-element 0-d) int64 index along dim d of x. */
static nb_status check_index_1d(const char *op, const nb_tensor *index, const nb_tensor *x) {
  if (check_index_dtype(op, index) != NB_OK) return nb_last_status();
  if (index->ndim > 1)
    return nb__fail(NB_ERR_SHAPE, "%s: index must be 1-D, got shape %s", op, nb__shp(index));
  if (x->ndim == 0 && index->numel != 1)
    return nb__fail(NB_ERR_SHAPE, "%s: a 0-d x takes exactly one index, got index of shape %s", op,
                    nb__shp(index));
  return NB_OK;
}

nb_tensor *nbk_index_select(nb_tensor *x, int dim, nb_tensor *index) {
  const char *op = "index_select";
  NB_CHECK_NULL(op, x, index);
  int d = nb__wrap_dim(op, dim, x->ndim);
  if (d < 0 || check_index_1d(op, index, x) != NB_OK ||
      check_index_values(op, index, x, d) != NB_OK)
    return NULL;
  int64_t shape[NB_MAX_DIMS];
  memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  if (x->ndim) shape[d] = index->numel;
  nb_tensor *out = nb__new(op, x->dtype, x->ndim, shape);
  if (!out || out->numel == 0) return out;
  /* A gather whose index is broadcast over every dim but d. */
  sg_plan p = {.mode = SG_GATHER,
               .ndim = x->ndim,
               .dst = nb__ptr(out, 0),
               .src = nb__ptr(x, 0),
               .idx = nb__ptr(index, 0),
               .jump = stride_at(x, d)};
  for (int k = 0; k < x->ndim; k++) {
    p.shape[k] = shape[k];
    p.dst_st[k] = out->strides[k];
    p.src_st[k] = k == d ? 0 : x->strides[k];
    p.idx_st[k] = k == d ? stride_at(index, 0) : 0;
  }
  sg_run(&p, d, x->dtype);
  return out;
}

/* ---- scatter, scatter_add, index_add ------------------------------------------------ */

static nb_status check_src_dtype(const char *op, const nb_tensor *x, const nb_tensor *src) {
  if (src->dtype != x->dtype)
    return nb__fail(NB_ERR_DTYPE, "%s: src is %s but x is %s (they must match)", op,
                    nb_dtype_name(src->dtype), nb_dtype_name(x->dtype));
  return NB_OK;
}

static nb_tensor *scatter_common(const char *op, sg_mode mode, nb_tensor *x, int dim,
                                 nb_tensor *index, nb_tensor *src) {
  NB_CHECK_NULL(op, x, index, src);
  int d = nb__wrap_dim(op, dim, x->ndim);
  if (d < 0 || check_index_dtype(op, index) != NB_OK || check_src_dtype(op, x, src) != NB_OK)
    return NULL;
  if (index->ndim != x->ndim || src->ndim != x->ndim)
    return nb__fail_null(NB_ERR_SHAPE,
                         "%s: x %s, index %s and src %s must have the same number of dims", op,
                         nb__shp(x), nb__shp(index), nb__shp(src));
  for (int k = 0; k < x->ndim; k++)
    if (index->shape[k] > src->shape[k] || (k != d && index->shape[k] > x->shape[k]))
      return nb__fail_null(NB_ERR_SHAPE,
                           "%s: index %s must be no larger than src %s in every dim and than x "
                           "%s in every dim but %d (dim %d differs)",
                           op, nb__shp(index), nb__shp(src), nb__shp(x), d, k);
  if (check_index_values(op, index, x, d) != NB_OK) return NULL;
  nb_tensor *out = nbk_clone(x);
  if (!out || index->numel == 0) return out;
  sg_plan p = {.mode = mode,
               .ndim = x->ndim,
               .dst = nb__ptr(out, 0),
               .src = nb__ptr(src, 0),
               .idx = nb__ptr(index, 0),
               .jump = stride_at(out, d)};
  for (int k = 0; k < x->ndim; k++) {
    p.shape[k] = index->shape[k];
    p.dst_st[k] = k == d ? 0 : out->strides[k];
    p.src_st[k] = src->strides[k];
    p.idx_st[k] = index->strides[k];
  }
  sg_run(&p, d, x->dtype);
  return out;
}

nb_tensor *nbk_scatter(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src) {
  return scatter_common("scatter", SG_SCATTER, x, dim, index, src);
}

nb_tensor *nbk_scatter_add(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src) {
  return scatter_common("scatter_add", SG_ADD, x, dim, index, src);
}

nb_tensor *nbk_index_add(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src) {
  const char *op = "index_add";
  NB_CHECK_NULL(op, x, index, src);
  int d = nb__wrap_dim(op, dim, x->ndim);
  if (d < 0 || check_index_1d(op, index, x) != NB_OK || check_src_dtype(op, x, src) != NB_OK)
    return NULL;
  bool ok = src->ndim == x->ndim;
  for (int k = 0; k < x->ndim && ok; k++)
    ok = src->shape[k] == (k == d ? index->numel : x->shape[k]);
  if (!ok)
    return nb__fail_null(NB_ERR_SHAPE,
                         "index_add: src %s must have x's shape %s with %lld (the number of "
                         "indices) at dim %d",
                         nb__shp(src), nb__shp(x), (long long)index->numel, d);
  if (check_index_values(op, index, x, d) != NB_OK) return NULL;
  nb_tensor *out = nbk_clone(x);
  if (!out || src->numel == 0) return out;
  /* A scatter_add whose index is broadcast over every dim but d. */
  sg_plan p = {.mode = SG_ADD,
               .ndim = x->ndim,
               .dst = nb__ptr(out, 0),
               .src = nb__ptr(src, 0),
               .idx = nb__ptr(index, 0),
               .jump = stride_at(out, d)};
  for (int k = 0; k < x->ndim; k++) {
    p.shape[k] = src->shape[k];
    p.dst_st[k] = k == d ? 0 : out->strides[k];
    p.src_st[k] = src->strides[k];
    p.idx_st[k] = k == d ? stride_at(index, 0) : 0;
  }
  sg_run(&p, d, x->dtype);
  return out;
}

/* ---- masks -------------------------------------------------------------------------- */

static nb_status check_mask(const char *op, const nb_tensor *mask) {
  if (mask->dtype != NB_DTYPE_BOOL)
    return nb__fail(NB_ERR_DTYPE, "%s: mask must be bool, got %s", op, nb_dtype_name(mask->dtype));
  return NB_OK;
}

/* d = mask ? value : d, over (out, mask) runs. */
#define MASKED_FILL_LOOP(NAME, T, FIELD)                                                           \
  static void NAME(char **p, const int64_t *s, int64_t n, void *vctx) {                            \
    const T v = ((const scalar_value *)vctx)->FIELD;                                               \
    if (s[0] == (int64_t)sizeof(T) && s[1] == 1) {                                                 \
      T *d = (T *)p[0];                                                                            \
      const uint8_t *m = (const uint8_t *)p[1];                                                    \
      for (int64_t i = 0; i < n; i++) d[i] = m[i] ? v : d[i];                                      \
    } else {                                                                                       \
      for (int64_t i = 0; i < n; i++)                                                              \
        if (*(const uint8_t *)(p[1] + i * s[1])) *(T *)(p[0] + i * s[0]) = v;                      \
    }                                                                                              \
  }
MASKED_FILL_LOOP(mfill_f32, float, f32)
MASKED_FILL_LOOP(mfill_f64, double, f64)
MASKED_FILL_LOOP(mfill_i64, int64_t, i64)
MASKED_FILL_LOOP(mfill_b, uint8_t, b)
static const nb_iter_fn mfill_loops[NB_DTYPE_COUNT] = {
    [NB_DTYPE_FLOAT32] = mfill_f32,
    [NB_DTYPE_FLOAT64] = mfill_f64,
    [NB_DTYPE_INT64] = mfill_i64,
    [NB_DTYPE_BOOL] = mfill_b,
};

nb_tensor *nbk_masked_fill(nb_tensor *x, nb_tensor *mask, double value) {
  const char *op = "masked_fill";
  NB_CHECK_NULL(op, x, mask);
  scalar_value v;
  if (check_mask(op, mask) != NB_OK || cast_value(op, x->dtype, value, &v) != NB_OK) return NULL;
  nb_tensor *out = nbk_clone(x);
  if (!out) return NULL;
  nb_iter it;
  if (nb__iter_init(&it, op, 2, (nb_tensor *[]){out, mask}) != NB_OK) return free_null(out);
  nb__iter_run(&it, mfill_loops[x->dtype], &v, true);
  return out;
}

static void count_loop(char **p, const int64_t *s, int64_t n, void *vctx) {
  int64_t c = 0;
  for (int64_t i = 0; i < n; i++) c += *(const uint8_t *)(p[0] + i * s[0]) != 0;
  *(int64_t *)vctx += c;
}

/* Append x's element to ctx's cursor where the mask is set (serial: order). */
#define SELECT_LOOP(NAME, T)                                                                       \
  static void NAME(char **p, const int64_t *s, int64_t n, void *vctx) {                            \
    char **cursor = vctx;                                                                          \
    T *d = (T *)*cursor;                                                                           \
    for (int64_t i = 0; i < n; i++)                                                                \
      if (*(const uint8_t *)(p[1] + i * s[1])) *d++ = *(const T *)(p[0] + i * s[0]);               \
    *cursor = (char *)d;                                                                           \
  }
SELECT_LOOP(select_f32, float)
SELECT_LOOP(select_f64, double)
SELECT_LOOP(select_i64, int64_t)
SELECT_LOOP(select_b, uint8_t)
static const nb_iter_fn select_loops[NB_DTYPE_COUNT] = {
    [NB_DTYPE_FLOAT32] = select_f32,
    [NB_DTYPE_FLOAT64] = select_f64,
    [NB_DTYPE_INT64] = select_i64,
    [NB_DTYPE_BOOL] = select_b,
};

nb_tensor *nbk_masked_select(nb_tensor *x, nb_tensor *mask) {
  const char *op = "masked_select";
  NB_CHECK_NULL(op, x, mask);
  if (check_mask(op, mask) != NB_OK) return NULL;
  int nd;
  int64_t shape[NB_MAX_DIMS];
  if (nb__broadcast_shapes(op, x->ndim, x->shape, mask->ndim, mask->shape, &nd, shape) != NB_OK)
    return NULL;
  nb_tensor *xe = broadcast_view(x, nd, shape), *me = broadcast_view(mask, nd, shape);
  nb_tensor *out = NULL;
  nb_iter it;
  if (xe && me && nb__iter_init(&it, op, 1, (nb_tensor *[]){me}) == NB_OK) {
    int64_t count = 0;
    nb__iter_run(&it, count_loop, &count, false);
    out = nb__new(op, x->dtype, 1, &count);
    if (out && count > 0 && nb__iter_init(&it, op, 2, (nb_tensor *[]){xe, me}) == NB_OK) {
      char *cursor = nb__ptr(out, 0);
      nb__iter_run(&it, select_loops[x->dtype], &cursor, false);
    }
  }
  nb_free(me);
  nb_free(xe);
  return out;
}

/* ---- one_hot ------------------------------------------------------------------------- */

nb_tensor *nb_one_hot(nb_tensor *labels, int64_t num_classes) {
  const char *op = "one_hot";
  NB_CHECK_NULL(op, labels);
  if (labels->dtype != NB_DTYPE_INT64)
    return nb__fail_null(NB_ERR_DTYPE, "one_hot: labels must be int64, got %s",
                         nb_dtype_name(labels->dtype));
  if (labels->ndim >= NB_MAX_DIMS)
    return nb__fail_null(NB_ERR_SHAPE, "one_hot: labels %s leave no room for the class dim",
                         nb__shp(labels));
  if (num_classes < 0 && labels->numel == 0)
    return nb__fail_null(NB_ERR_ARG,
                         "one_hot: cannot infer num_classes from empty labels %s; pass it",
                         nb__shp(labels));
  scan_ctx c = {.hi = num_classes < 0 ? INT64_MAX : num_classes, .max = -1};
  if (scan_values(op, labels, &c) != NB_OK) return NULL;
  if (c.bad) {
    char pos[160];
    position_str(labels->ndim, labels->shape, c.bad_pos, pos, sizeof pos);
    if (c.bad_value < 0)
      return nb__fail_null(NB_ERR_INDEX, "one_hot: label %lld at %s of labels %s is negative",
                           (long long)c.bad_value, pos, nb__shp(labels));
    return nb__fail_null(NB_ERR_INDEX,
                         "one_hot: label %lld at %s of labels %s is out of range for %lld classes",
                         (long long)c.bad_value, pos, nb__shp(labels), (long long)num_classes);
  }
  const int64_t classes = num_classes < 0 ? c.max + 1 : num_classes;
  int64_t shape[NB_MAX_DIMS];
  memcpy(shape, labels->shape, sizeof(int64_t) * (size_t)labels->ndim);
  shape[labels->ndim] = classes;
  nb_tensor *out = nb__new(op, NB_DTYPE_INT64, labels->ndim + 1, shape);
  if (!out || out->numel == 0) return out;
  nb_tensor *lab = nbk_contiguous(labels);
  if (!lab) return free_null(out);
  int64_t *o = nb__ptr(out, 0);
  const int64_t *l = nb__ptr(lab, 0);
  memset(o, 0, sizeof(int64_t) * (size_t)out->numel);
  for (int64_t i = 0; i < lab->numel; i++) o[i * classes + l[i]] = 1;
  nb_free(lab);
  return out;
}

/* ---- repeat, flip, pad --------------------------------------------------------------- */

nb_tensor *nbk_repeat(nb_tensor *x, int nrepeats, const int64_t *repeats) {
  const char *op = "repeat";
  NB_CHECK_NULL(op, x);
  if (nrepeats < x->ndim || nrepeats > NB_MAX_DIMS || (nrepeats > 0 && !repeats))
    return nb__fail_null(NB_ERR_ARG, "repeat: %d repeats for x %s: need %d..%d of them", nrepeats,
                         nb__shp(x), x->ndim, NB_MAX_DIMS);
  const int lead = nrepeats - x->ndim;
  int64_t size[NB_MAX_DIMS], xst[NB_MAX_DIMS], shape[NB_MAX_DIMS];
  for (int i = 0; i < nrepeats; i++) {
    if (repeats[i] < 0)
      return nb__fail_null(NB_ERR_ARG, "repeat: repeat %lld at position %d is negative",
                           (long long)repeats[i], i);
    size[i] = i < lead ? 1 : x->shape[i - lead];
    xst[i] = i < lead ? 0 : x->strides[i - lead];
    if (__builtin_mul_overflow(size[i], repeats[i], &shape[i]))
      return nb__fail_null(NB_ERR_MEMORY, "repeat: x %s repeated %lld times at dim %d overflows",
                           nb__shp(x), (long long)repeats[i], i);
  }
  nb_tensor *out = nb__new(op, x->dtype, nrepeats, shape);
  if (!out || out->numel == 0) return out;
  /* Each dim i of out is (repeat r_i, block of size s_i): list the non-trivial
   * ones innermost first as (size, out stride, x stride); x's stride is 0 on a
   * repeat. The innermost NB_MAX_DIMS go into one copy's views, any others
   * are looped here. */
  int64_t esz[2 * NB_MAX_DIMS], edst[2 * NB_MAX_DIMS], esrc[2 * NB_MAX_DIMS];
  int ne = 0;
  for (int i = nrepeats - 1; i >= 0; i--) {
    if (size[i] != 1) {
      esz[ne] = size[i], edst[ne] = out->strides[i], esrc[ne] = xst[i];
      ne++;
    }
    if (repeats[i] != 1) {
      esz[ne] = repeats[i], edst[ne] = size[i] * out->strides[i], esrc[ne] = 0;
      ne++;
    }
  }
  const int nv = ne < NB_MAX_DIMS ? ne : NB_MAX_DIMS;
  int64_t vshape[NB_MAX_DIMS], vdst[NB_MAX_DIMS], vsrc[NB_MAX_DIMS];
  for (int j = 0; j < nv; j++) {
    vshape[j] = esz[nv - 1 - j];
    vdst[j] = edst[nv - 1 - j];
    vsrc[j] = esrc[nv - 1 - j];
  }
  nb_tensor *dv = nb__new_view(out, nv, vshape, vdst, out->offset);
  nb_tensor *sv = nb__new_view(x, nv, vshape, vsrc, x->offset);
  nb_status st = dv && sv ? NB_OK : nb_last_status();
  int64_t pos[2 * NB_MAX_DIMS] = {0};
  while (st == NB_OK) {
    int64_t od = 0, os = 0;
    for (int e = nv; e < ne; e++) od += pos[e] * edst[e], os += pos[e] * esrc[e];
    dv->offset = out->offset + od;
    sv->offset = x->offset + os;
    st = nb_copy_(dv, sv);
    int e = nv;
    while (e < ne && ++pos[e] == esz[e]) pos[e++] = 0;
    if (e == ne) break;
  }
  nb_free(sv);
  nb_free(dv);
  return st == NB_OK ? fresh(out) : free_null(out);
}

nb_tensor *nbk_flip(nb_tensor *x, const int *dims, int ndims) {
  const char *op = "flip";
  NB_CHECK_NULL(op, x);
  if (ndims < 0 || (ndims > 0 && !dims))
    return nb__fail_null(NB_ERR_ARG, "flip: bad dims list (%d dims%s)", ndims,
                         dims ? "" : ", NULL");
  bool flipped[NB_MAX_DIMS] = {false};
  for (int i = 0; i < ndims; i++) {
    int d = nb__wrap_dim(op, dims[i], x->ndim);
    if (d < 0) return NULL;
    if (flipped[d])
      return nb__fail_null(NB_ERR_ARG, "flip: dim %d appears more than once in the dims list", d);
    flipped[d] = true;
  }
  nb_tensor *out = nb__new(op, x->dtype, x->ndim, x->shape);
  if (!out || out->numel == 0) return out;
  /* Read x backwards along the flipped dims: start at their last element and
   * step with negated strides. */
  int64_t start = 0;
  sg_plan p = {.mode = SG_COPY, .ndim = x->ndim, .dst = nb__ptr(out, 0)};
  for (int k = 0; k < x->ndim; k++) {
    bool f = flipped[k];
    if (f) start += (x->shape[k] - 1) * x->strides[k];
    p.shape[k] = x->shape[k];
    p.dst_st[k] = out->strides[k];
    p.src_st[k] = f ? -x->strides[k] : x->strides[k];
  }
  p.src = nb__ptr(x, start);
  sg_run(&p, -1, x->dtype);
  return out;
}

nb_tensor *nbk_pad(nb_tensor *x, int npads, const int64_t *pads, double value) {
  const char *op = "pad";
  NB_CHECK_NULL(op, x);
  if (npads < 0 || npads % 2 || npads > 2 * x->ndim || (npads > 0 && !pads))
    return nb__fail_null(NB_ERR_ARG,
                         "pad: %d pad values for x %s: need an even count of at most %d", npads,
                         nb__shp(x), 2 * x->ndim);
  scalar_value v;
  if (cast_value(op, x->dtype, value, &v) != NB_OK) return NULL;
  int64_t shape[NB_MAX_DIMS], lo[NB_MAX_DIMS] = {0}, hi[NB_MAX_DIMS] = {0};
  bool grows = false;
  memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  for (int j = 0; j < npads / 2; j++) {
    int k = x->ndim - 1 - j;
    lo[k] = pads[2 * j];
    hi[k] = pads[2 * j + 1];
    grows = grows || lo[k] > 0 || hi[k] > 0;
    if (__builtin_add_overflow(shape[k], lo[k], &shape[k]) ||
        __builtin_add_overflow(shape[k], hi[k], &shape[k]) || shape[k] < 0)
      return nb__fail_null(NB_ERR_SHAPE,
                           "pad: pads (%lld, %lld) on dim %d of x %s give a negative or "
                           "overflowing size",
                           (long long)lo[k], (long long)hi[k], k, nb__shp(x));
  }
  nb_tensor *out = nb__new(op, x->dtype, x->ndim, shape);
  if (!out || out->numel == 0) return out;
  if (grows && nb_fill_(out, value) != NB_OK) return free_null(out);
  /* The part of x that survives cropping goes to its place in out. */
  int64_t len[NB_MAX_DIMS], dst_off = 0, src_off = 0;
  for (int k = 0; k < x->ndim; k++) {
    int64_t s = x->shape[k];
    int64_t crop_lo = lo[k] >= 0 ? 0 : lo[k] <= -s ? s : -lo[k];
    int64_t crop_hi = hi[k] >= 0 ? 0 : hi[k] <= -s ? s : -hi[k];
    len[k] = s - crop_lo - crop_hi;
    if (len[k] <= 0) return fresh(out); /* nothing of x survives */
    dst_off += (lo[k] > 0 ? lo[k] : 0) * out->strides[k];
    src_off += crop_lo * x->strides[k];
  }
  nb_tensor *src = nb__new_view(x, x->ndim, len, x->strides, x->offset + src_off);
  nb_status st = src ? copy_into(out, x->ndim, len, out->strides, dst_off, src) : nb_last_status();
  nb_free(src);
  return st == NB_OK ? fresh(out) : free_null(out);
}
