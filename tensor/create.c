/* tensor/create.c - making tensors from nothing or from C arrays.
 *
 * Owns: empty/zeros/ones/full/scalar, arange/linspace/eye, from_data, the
 * *_like forms, and the fills nb_fill_ / nb_zero_. (Random creation lives in
 * random.c, wrapping user memory in tensor.c.)
 */
#include "tensor/tensor_impl.h"

#include <math.h>
#include <string.h>

nb_tensor *nb_empty(nb_dtype dtype, int ndim, const int64_t *shape) {
  return nb__new("empty", dtype, ndim, shape);
}

/* Fill every element of a tensor of any layout with one value. */
typedef struct {
  nb_dtype dtype;
  double value;
} fill_ctx;

#define FILL_LOOP(NAME, T, CONVERT)                                                                \
  static void NAME(char **p, const int64_t *s, int64_t n, void *vctx) {                            \
    const fill_ctx *c = vctx;                                                                      \
    T v = CONVERT;                                                                                 \
    if (s[0] == (int64_t)sizeof(T)) {                                                              \
      T *d = (T *)p[0];                                                                            \
      for (int64_t i = 0; i < n; i++) d[i] = v;                                                    \
    } else {                                                                                       \
      char *d = p[0];                                                                              \
      for (int64_t i = 0; i < n; i++, d += s[0]) *(T *)d = v;                                      \
    }                                                                                              \
  }
FILL_LOOP(fill_f32, float, (float)c->value)
FILL_LOOP(fill_f64, double, c->value)
FILL_LOOP(fill_i64, int64_t, (int64_t)c->value)
FILL_LOOP(fill_b, uint8_t, (uint8_t)(c->value != 0))
static const nb_iter_fn fill_loops[NB_DTYPE_COUNT] = {
    [NB_DTYPE_FLOAT32] = fill_f32,
    [NB_DTYPE_FLOAT64] = fill_f64,
    [NB_DTYPE_INT64] = fill_i64,
    [NB_DTYPE_BOOL] = fill_b,
};

nb_status nb_fill_(nb_tensor *x, double value) {
  NB_CHECK_NULL_STATUS("fill_", x);
  if (x->dtype == NB_DTYPE_INT64 && !(fabs(value) < 9.2e18))
    return nb__fail(NB_ERR_ARG, "fill_: value %g does not fit int64", value);
  nb_iter it;
  nb_status st = nb__iter_init(&it, "fill_", 1, (nb_tensor *[]){x});
  if (st != NB_OK) return st;
  fill_ctx c = {x->dtype, value};
  it.write_only = true;
  nb__iter_run(&it, fill_loops[x->dtype], &c, true);
  nb__bump_version(x);
  return NB_OK;
}

nb_status nb_zero_(nb_tensor *x) { return nb_fill_(x, 0.0); }

/* A new tensor of `value`; errors name `op` (the public function called). */
static nb_tensor *make_full(const char *op, nb_dtype dtype, int ndim, const int64_t *shape,
                            double value) {
  if (dtype == NB_DTYPE_INT64 && !(fabs(value) < 9.2e18))
    return nb__fail_null(NB_ERR_ARG, "%s: value %g does not fit int64", op, value);
  nb_tensor *t = nb__new(op, dtype, ndim, shape);
  if (t && nb_fill_(t, value) != NB_OK) {
    nb_free(t);
    return NULL;
  }
  if (t) t->storage->version = 0;
  return t;
}

nb_tensor *nb_full(nb_dtype dtype, int ndim, const int64_t *shape, double value) {
  return make_full("full", dtype, ndim, shape, value);
}

nb_tensor *nb_zeros(nb_dtype dtype, int ndim, const int64_t *shape) {
  return make_full("zeros", dtype, ndim, shape, 0.0);
}

nb_tensor *nb_ones(nb_dtype dtype, int ndim, const int64_t *shape) {
  return make_full("ones", dtype, ndim, shape, 1.0);
}

nb_tensor *nb_scalar(nb_dtype dtype, double value) {
  return make_full("scalar", dtype, 0, NULL, value);
}

/* arange and linspace: numeric dtypes only (torch has no bool kernels). */
static bool range_dtype_ok(const char *op, nb_dtype dtype) {
  if ((unsigned)dtype < NB_DTYPE_COUNT && dtype != NB_DTYPE_BOOL) return true;
  nb__fail(NB_ERR_DTYPE, "%s: dtype %s is not supported (float32, float64, int64)", op,
           nb_dtype_name(dtype));
  return false;
}

nb_tensor *nb_arange(nb_dtype dtype, double start, double end, double step) {
  if (!range_dtype_ok("arange", dtype)) return NULL;
  if (dtype == NB_DTYPE_INT64) { /* as torch: the arguments become integers first */
    start = trunc(start);
    end = trunc(end);
    step = trunc(step);
  }
  if (step == 0 || !isfinite(step) || !isfinite(start) || !isfinite(end))
    return nb__fail_null(NB_ERR_ARG,
                         "arange: start %g, end %g, step %g: need finite values "
                         "and a nonzero step",
                         start, end, step);
  if ((end - start) / step < 0)
    return nb__fail_null(NB_ERR_ARG, "arange: step %g goes away from end %g (start %g)", step, end,
                         start);
  double count = ceil((end - start) / step);
  if (count > 9.0e15) return nb__fail_null(NB_ERR_MEMORY, "arange: %g elements", count);
  int64_t n = (int64_t)count;
  nb_tensor *t = nb__new("arange", dtype, 1, &n);
  if (!t) return NULL;
  size_t es = nb_dtype_size(dtype);
  for (int64_t i = 0; i < n; i++)
    nb__store(dtype, (char *)nb__ptr(t, 0) + es * (size_t)i, start + (double)i * step);
  return t;
}

nb_tensor *nb_linspace(nb_dtype dtype, double start, double end, int64_t steps) {
  if (!range_dtype_ok("linspace", dtype)) return NULL;
  if (steps < 0)
    return nb__fail_null(NB_ERR_ARG, "linspace: steps %lld is negative", (long long)steps);
  nb_tensor *t = nb__new("linspace", dtype, 1, &steps);
  if (!t) return NULL;
  if (dtype == NB_DTYPE_INT64) { /* as torch: the ends become integers first */
    start = trunc(start);
    end = trunc(end);
  }
  size_t es = nb_dtype_size(dtype);
  double step = steps > 1 ? (end - start) / (double)(steps - 1) : 0;
  /* As torch: the first half counts up from start, the second down from end,
   * so both endpoints are exact; a single step is start. */
  int64_t half = steps / 2;
  for (int64_t i = 0; i < steps; i++) {
    double v =
        i < half || steps == 1 ? start + step * (double)i : end - step * (double)(steps - 1 - i);
    nb__store(dtype, (char *)nb__ptr(t, 0) + es * (size_t)i, v);
  }
  return t;
}

nb_tensor *nb_eye(nb_dtype dtype, int64_t n, int64_t m) {
  if (m < 0) m = n;
  if (n < 0) return nb__fail_null(NB_ERR_ARG, "eye: n %lld is negative", (long long)n);
  nb_tensor *t = make_full("eye", dtype, 2, (int64_t[]){n, m}, 0.0);
  if (!t) return NULL;
  size_t es = nb_dtype_size(dtype);
  for (int64_t i = 0; i < n && i < m; i++)
    nb__store(dtype, (char *)nb__ptr(t, 0) + es * (size_t)(i * m + i), 1.0);
  return t;
}

nb_tensor *nb_from_data(nb_dtype dtype, const void *data, int ndim, const int64_t *shape) {
  nb_tensor *t = nb__new("from_data", dtype, ndim, shape);
  if (!t) return NULL;
  if (t->numel > 0 && !data) {
    nb_free(t);
    return nb__fail_null(NB_ERR_ARG, "from_data: data is NULL");
  }
  if (t->numel > 0) memcpy(nb__ptr(t, 0), data, (size_t)t->numel * nb_dtype_size(dtype));
  return t;
}

static nb_dtype like_dtype(const nb_tensor *t, nb_dtype dtype) {
  return dtype == NB_DTYPE_COUNT ? t->dtype : dtype;
}

nb_tensor *nb_empty_like(const nb_tensor *t, nb_dtype dtype) {
  NB_CHECK_NULL("empty_like", t);
  return nb__new("empty_like", like_dtype(t, dtype), t->ndim, t->shape);
}

nb_tensor *nb_zeros_like(const nb_tensor *t, nb_dtype dtype) {
  NB_CHECK_NULL("zeros_like", t);
  return make_full("zeros_like", like_dtype(t, dtype), t->ndim, t->shape, 0.0);
}

nb_tensor *nb_ones_like(const nb_tensor *t, nb_dtype dtype) {
  NB_CHECK_NULL("ones_like", t);
  return make_full("ones_like", like_dtype(t, dtype), t->ndim, t->shape, 1.0);
}

nb_tensor *nb_full_like(const nb_tensor *t, nb_dtype dtype, double value) {
  NB_CHECK_NULL("full_like", t);
  return make_full("full_like", like_dtype(t, dtype), t->ndim, t->shape, value);
}
