/* tensor/print.c - text form of tensors, and whole-tensor comparisons.
 *
 * Owns: nb_to_string / nb_fprint / nb_print, which follow PyTorch 1.13's
 * torch/_tensor_str.py with its default print options (precision 4, threshold
 * 1000, edgeitems 3, linewidth 80), and nb_allclose / nb_equal.
 *
 * The formatter is PyTorch's: over the values that get printed (only the edge
 * items when the tensor is elided), float tensors whose nonzero finite values
 * are all integers print as `1.`, else with 4 decimals `0.1235`; scientific
 * `1.0000e+10` when max/min of the nonzero finite magnitudes exceeds 1000 or the
 * max exceeds 1e8 (or, for non-integers, the min is below 1e-4). Every value is
 * right-aligned to the widest one; rows wrap at 80 columns as PyTorch's
 * _vector_str does; nan/inf print as `nan`/`inf`. The dtype suffix appears for
 * float64 only (float32 is the default dtype; PyTorch omits int64 and bool
 * too), except that an empty tensor names any non-float32 dtype and its size
 * when it is not 1-D, as PyTorch does.
 * Deviation: PyTorch appends `requires_grad=True` / `grad_fn=<...>`; the tensor
 * layer knows nothing about gradients, so nabla never prints those.
 */
#include "tensor/tensor_impl.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { PRECISION = 4, THRESHOLD = 1000, EDGE = 3, LINEWIDTH = 80 };

/* ---- a growable string ----------------------------------------------------- */

typedef struct {
  char *buf;
  size_t len, cap;
  bool oom;
} sbuf;

static void put_n(sbuf *s, const char *p, size_t n) {
  if (s->oom) return;
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + n + 1) cap *= 2;
    char *nb = realloc(s->buf, cap);
    if (!nb) {
      s->oom = true;
      return;
    }
    s->buf = nb;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, p, n);
  s->len += n;
  s->buf[s->len] = '\0';
}

static void put(sbuf *s, const char *p) { put_n(s, p, strlen(p)); }

static void put_spaces(sbuf *s, int n) {
  for (int i = 0; i < n; i++) put_n(s, " ", 1);
}

/* ---- the formatter --------------------------------------------------------- */

typedef struct {
  const nb_tensor *t;
  bool summarize;
  bool floating, int_mode, sci_mode;
  int width;
  /* statistics of the nonzero finite values (floating dtypes) */
  int64_t count;
  double min_abs, max_abs;
} printer;

typedef void (*visit_fn)(printer *p, const void *elem);

/* Call fn on every element that gets printed, in order. */
static void visit(printer *p, int dim, int64_t off, visit_fn fn) {
  const nb_tensor *t = p->t;
  if (dim == t->ndim) {
    fn(p, nb__ptr(t, off));
    return;
  }
  int64_t n = t->shape[dim];
  bool elide = p->summarize && n > 2 * EDGE;
  for (int64_t i = 0; i < n; i++) {
    if (elide && i == EDGE) i = n - EDGE;
    visit(p, dim + 1, off + i * t->strides[dim], fn);
  }
}

/* Text of one value without padding; returns its length. */
static int format_value(const printer *p, const void *elem, char *out, size_t size) {
  switch (p->t->dtype) {
  case NB_DTYPE_INT64: return snprintf(out, size, "%lld", (long long)*(const int64_t *)elem);
  case NB_DTYPE_BOOL: return snprintf(out, size, "%s", *(const uint8_t *)elem ? "True" : "False");
  default: break;
  }
  double v = nb__load(p->t->dtype, elem);
  if (isnan(v)) return snprintf(out, size, "nan"); /* never "-nan" */
  if (p->sci_mode) return snprintf(out, size, "%.*e", PRECISION, v);
  if (p->int_mode) return snprintf(out, size, isinf(v) ? "%.0f" : "%.0f.", v);
  return snprintf(out, size, "%.*f", PRECISION, v);
}

static void observe_stats(printer *p, const void *elem) {
  double v = nb__load(p->t->dtype, elem);
  if (!isfinite(v) || v == 0.0) return;
  double a = fabs(v);
  if (p->count == 0 || a < p->min_abs) p->min_abs = a;
  if (p->count == 0 || a > p->max_abs) p->max_abs = a;
  if (v != ceil(v)) p->int_mode = false;
  p->count++;
}

/* Width as PyTorch measures it: integers and bools over every printed value;
 * floats over the nonzero finite ones only. */
static void observe_width(printer *p, const void *elem) {
  if (p->floating) {
    double v = nb__load(p->t->dtype, elem);
    if (!isfinite(v) || v == 0.0) return;
  }
  char buf[64];
  int n = format_value(p, elem, buf, sizeof buf);
  if (n > p->width) p->width = n;
}

static void init_printer(printer *p, const nb_tensor *t) {
  *p = (printer){.t = t,
                 .summarize = t->numel > THRESHOLD,
                 .floating = nb_dtype_is_floating(t->dtype),
                 .int_mode = true,
                 .width = 1};
  if (p->floating) {
    visit(p, 0, 0, observe_stats);
    if (p->count == 0) return; /* only zeros, nan, inf: "0.", "nan" */
    double ratio = p->max_abs / p->min_abs;
    p->sci_mode = ratio > 1000.0 || p->max_abs > 1.0e8 || (!p->int_mode && p->min_abs < 1.0e-4);
  }
  visit(p, 0, 0, observe_width);
}

static void put_value(sbuf *s, const printer *p, const void *elem) {
  char buf[64];
  int n = format_value(p, elem, buf, sizeof buf);
  put_spaces(s, p->width - n);
  put(s, buf);
}

/* ---- layout, as _tensor_str_with_formatter -------------------------------- */

static void put_tensor(sbuf *s, const printer *p, int dim, int64_t off, int indent) {
  const nb_tensor *t = p->t;
  if (dim == t->ndim) {
    put_value(s, p, nb__ptr(t, off));
    return;
  }
  int64_t n = t->shape[dim];
  bool elide = p->summarize && n > 2 * EDGE;
  put(s, "[");
  if (dim == t->ndim - 1) {
    int per_line = (LINEWIDTH - indent) / (p->width + 2);
    if (per_line < 1) per_line = 1;
    int64_t k = 0; /* items so far, the "..." included */
    for (int64_t i = 0; i < n; i++, k++) {
      if (k > 0) {
        if (k % per_line == 0) {
          put(s, ",\n");
          put_spaces(s, indent + 1);
        } else {
          put(s, ", ");
        }
      }
      if (elide && i == EDGE) {
        put(s, " ...");
        i = n - EDGE - 1;
        continue;
      }
      put_value(s, p, nb__ptr(t, off + i * t->strides[dim]));
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      if (i > 0) {
        put(s, ",");
        for (int j = 0; j < t->ndim - dim - 1; j++) put(s, "\n");
        put_spaces(s, indent + 1);
      }
      if (elide && i == EDGE) {
        put(s, "...");
        i = n - EDGE - 1;
        continue;
      }
      put_tensor(s, p, dim + 1, off + i * t->strides[dim], indent + 1);
    }
  }
  put(s, "]");
}

/* Append ", suffix" or ",\n       suffix" when the line would pass 80 columns
 * (_add_suffixes). */
static void put_suffix(sbuf *s, const char *suffix, int indent) {
  if (s->oom) return;
  const char *nl = strrchr(s->buf, '\n');
  /* PyTorch's len(s) - s.rfind("\n") + 1, with rfind -1 when there is none. */
  size_t last = nl ? (size_t)(s->buf + s->len - nl) + 1 : s->len + 2;
  if (last + strlen(suffix) + 2 > LINEWIDTH) {
    put(s, ",\n");
    put_spaces(s, indent);
  } else {
    put(s, ", ");
  }
  put(s, suffix);
}

char *nb_to_string(const nb_tensor *t) {
  if (!t) return nb__null_input("to_string"), NULL;
  static const char prefix[] = "tensor(";
  const int indent = (int)sizeof prefix - 1;
  sbuf s = {0};
  char suffix[300];
  put(&s, prefix);
  if (t->numel == 0) {
    put(&s, "[]");
    if (t->ndim != 1) {
      size_t n = (size_t)snprintf(suffix, sizeof suffix, "size=(");
      for (int i = 0; i < t->ndim && n < sizeof suffix; i++)
        n += (size_t)snprintf(suffix + n, sizeof suffix - n, i ? ", %lld" : "%lld",
                              (long long)t->shape[i]);
      if (n < sizeof suffix) snprintf(suffix + n, sizeof suffix - n, t->ndim == 1 ? ",)" : ")");
      put_suffix(&s, suffix, indent);
    }
    if (t->dtype != NB_DTYPE_FLOAT32) {
      snprintf(suffix, sizeof suffix, "dtype=torch.%s", nb_dtype_name(t->dtype));
      put_suffix(&s, suffix, indent);
    }
  } else {
    printer p;
    init_printer(&p, t);
    put_tensor(&s, &p, 0, 0, indent);
    if (t->dtype == NB_DTYPE_FLOAT64) put_suffix(&s, "dtype=torch.float64", indent);
  }
  put(&s, ")");
  if (s.oom) {
    free(s.buf);
    return nb__fail_null(NB_ERR_MEMORY, "to_string: out of memory printing a tensor of shape %s",
                         nb__shp(t));
  }
  return s.buf;
}

nb_status nb_fprint(FILE *f, const nb_tensor *t) {
  NB_CHECK_NULL_STATUS("print", t);
  char *text = nb_to_string(t);
  if (!text) return nb_last_status();
  if (!f) f = stdout;
  int rc = fprintf(f, "%s\n", text);
  free(text);
  if (rc < 0 || ferror(f))
    return nb__fail(NB_ERR_IO, "print: writing a tensor of shape %s failed", nb__shp(t));
  return NB_OK;
}

nb_status nb_print(const nb_tensor *t) { return nb_fprint(stdout, t); }

/* ---- comparisons ------------------------------------------------------------ */

typedef struct {
  double rtol, atol;
  bool exact;         /* nb_equal: plain equality */
  atomic_bool differ; /* set by whichever thread finds a mismatch */
} cmp_ctx;

static inline bool close_enough(double x, double y, const cmp_ctx *c) {
  if (isnan(x) || isnan(y)) return false;
  if (x == y) return true; /* also inf == inf */
  if (isinf(x) || isinf(y)) return false;
  return fabs(x - y) <= c->atol + c->rtol * fabs(y);
}

/* One loop per (a, b) dtype pair. EQ compares x and y exactly: as int64 when
 * both are integers (exact beyond 2^53), else as double. */
#define CMP_LOOP(NAME, TA, TB, EQ)                                                                 \
  static void NAME(char **p, const int64_t *s, int64_t n, void *vctx) {                            \
    cmp_ctx *c = vctx;                                                                             \
    if (atomic_load_explicit(&c->differ, memory_order_relaxed)) return;                            \
    const char *pa = p[0], *pb = p[1];                                                             \
    for (int64_t i = 0; i < n; i++, pa += s[0], pb += s[1]) {                                      \
      TA x = *(const TA *)pa;                                                                      \
      TB y = *(const TB *)pb;                                                                      \
      if (c->exact ? !(EQ) : !close_enough((double)x, (double)y, c)) {                             \
        atomic_store_explicit(&c->differ, true, memory_order_relaxed);                             \
        return;                                                                                    \
      }                                                                                            \
    }                                                                                              \
  }
#define EQ_F ((double)x == (double)y)
#define EQ_I ((int64_t)x == (int64_t)y)
CMP_LOOP(cmp_f32_f32, float, float, EQ_F)
CMP_LOOP(cmp_f32_f64, float, double, EQ_F)
CMP_LOOP(cmp_f32_i64, float, int64_t, EQ_F)
CMP_LOOP(cmp_f32_b, float, uint8_t, EQ_F)
CMP_LOOP(cmp_f64_f32, double, float, EQ_F)
CMP_LOOP(cmp_f64_f64, double, double, EQ_F)
CMP_LOOP(cmp_f64_i64, double, int64_t, EQ_F)
CMP_LOOP(cmp_f64_b, double, uint8_t, EQ_F)
CMP_LOOP(cmp_i64_f32, int64_t, float, EQ_F)
CMP_LOOP(cmp_i64_f64, int64_t, double, EQ_F)
CMP_LOOP(cmp_i64_i64, int64_t, int64_t, EQ_I)
CMP_LOOP(cmp_i64_b, int64_t, uint8_t, EQ_I)
CMP_LOOP(cmp_b_f32, uint8_t, float, EQ_F)
CMP_LOOP(cmp_b_f64, uint8_t, double, EQ_F)
CMP_LOOP(cmp_b_i64, uint8_t, int64_t, EQ_I)
CMP_LOOP(cmp_b_b, uint8_t, uint8_t, EQ_I)

static const nb_iter_fn cmp_loops[NB_DTYPE_COUNT][NB_DTYPE_COUNT] = {
    [NB_DTYPE_FLOAT32] = {[NB_DTYPE_FLOAT32] = cmp_f32_f32,
                          [NB_DTYPE_FLOAT64] = cmp_f32_f64,
                          [NB_DTYPE_INT64] = cmp_f32_i64,
                          [NB_DTYPE_BOOL] = cmp_f32_b},
    [NB_DTYPE_FLOAT64] = {[NB_DTYPE_FLOAT32] = cmp_f64_f32,
                          [NB_DTYPE_FLOAT64] = cmp_f64_f64,
                          [NB_DTYPE_INT64] = cmp_f64_i64,
                          [NB_DTYPE_BOOL] = cmp_f64_b},
    [NB_DTYPE_INT64] = {[NB_DTYPE_FLOAT32] = cmp_i64_f32,
                        [NB_DTYPE_FLOAT64] = cmp_i64_f64,
                        [NB_DTYPE_INT64] = cmp_i64_i64,
                        [NB_DTYPE_BOOL] = cmp_i64_b},
    [NB_DTYPE_BOOL] = {[NB_DTYPE_FLOAT32] = cmp_b_f32,
                       [NB_DTYPE_FLOAT64] = cmp_b_f64,
                       [NB_DTYPE_INT64] = cmp_b_i64,
                       [NB_DTYPE_BOOL] = cmp_b_b},
};

/* Walk a (already of the common shape) against b (broadcast to it). */
static bool all_match(const char *op, nb_tensor *a, nb_tensor *b, cmp_ctx *c) {
  nb_iter it;
  if (nb__iter_init(&it, op, 2, (nb_tensor *[]){a, b}) != NB_OK) return false;
  atomic_init(&c->differ, false);
  nb__iter_run(&it, cmp_loops[a->dtype][b->dtype], c, true);
  return !atomic_load(&c->differ);
}

bool nb_allclose(nb_tensor *a, nb_tensor *b, double rtol, double atol) {
  if (!a || !b) return nb__null_input("allclose"), false;
  if (isnan(rtol) || isnan(atol) || rtol < 0 || atol < 0)
    return nb__fail(NB_ERR_ARG, "allclose: rtol %g and atol %g must be >= 0", rtol, atol), false;
  int n;
  int64_t shape[NB_MAX_DIMS];
  if (nb__broadcast_shapes("allclose", a->ndim, a->shape, b->ndim, b->shape, &n, shape) != NB_OK)
    return false;
  nb_tensor *ea = nbk_expand(a, n, shape);
  if (!ea) return false;
  cmp_ctx c = {.rtol = rtol, .atol = atol};
  bool ok = all_match("allclose", ea, b, &c);
  nb_free(ea);
  return ok;
}

bool nb_equal(nb_tensor *a, nb_tensor *b) {
  if (!a || !b) return nb__null_input("equal"), false;
  if (a->ndim != b->ndim ||
      (a->ndim && memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) != 0))
    return false;
  cmp_ctx c = {.exact = true};
  return all_match("equal", a, b, &c);
}
