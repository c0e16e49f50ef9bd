/* tensor/copy.c - copying and dtype conversion.
 *
 * Owns: nb_copy_ (broadcasting, converting, in place), and the layout and
 * dtype changes built on it: contiguous, clone, to.
 */
#include "tensor/tensor_impl.h"

#include <string.h>

/* One converting loop per (destination, source) dtype pair. */
#define CONVERT_LOOP(NAME, DT, ST, EXPR)                                                           \
  static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {                             \
    (void)ctx;                                                                                     \
    char *d = p[0];                                                                                \
    const char *src = p[1];                                                                        \
    if (s[0] == (int64_t)sizeof(DT) && s[1] == (int64_t)sizeof(ST)) {                              \
      DT *dv = (DT *)d;                                                                            \
      const ST *sv = (const ST *)src;                                                              \
      for (int64_t i = 0; i < n; i++) {                                                            \
        ST x = sv[i];                                                                              \
        dv[i] = (EXPR);                                                                            \
      }                                                                                            \
    } else if (s[0] == (int64_t)sizeof(DT) && s[1] == 0) { /* one value, broadcast */              \
      DT *dv = (DT *)d;                                                                            \
      ST x = *(const ST *)src;                                                                     \
      const DT v = (EXPR);                                                                         \
      for (int64_t i = 0; i < n; i++) dv[i] = v;                                                   \
    } else {                                                                                       \
      for (int64_t i = 0; i < n; i++, d += s[0], src += s[1]) {                                    \
        ST x = *(const ST *)src;                                                                   \
        *(DT *)d = (EXPR);                                                                         \
      }                                                                                            \
    }                                                                                              \
  }

/* float -> int64 truncates toward zero like torch; out-of-range and NaN become
 * INT64_MIN there, here they saturate (no undefined behaviour). */
static inline int64_t f2i(double x) {
  return x != x                        ? 0
         : x >= 9.2233720368547758e18  ? INT64_MAX
         : x <= -9.2233720368547758e18 ? INT64_MIN
                                       : (int64_t)x;
}

CONVERT_LOOP(cv_f32_f32, float, float, x)
CONVERT_LOOP(cv_f32_f64, float, double, (float)x)
CONVERT_LOOP(cv_f32_i64, float, int64_t, (float)x)
CONVERT_LOOP(cv_f32_b, float, uint8_t, (float)(x != 0))
CONVERT_LOOP(cv_f64_f32, double, float, (double)x)
CONVERT_LOOP(cv_f64_f64, double, double, x)
CONVERT_LOOP(cv_f64_i64, double, int64_t, (double)x)
CONVERT_LOOP(cv_f64_b, double, uint8_t, (double)(x != 0))
CONVERT_LOOP(cv_i64_f32, int64_t, float, f2i(x))
CONVERT_LOOP(cv_i64_f64, int64_t, double, f2i(x))
CONVERT_LOOP(cv_i64_i64, int64_t, int64_t, x)
CONVERT_LOOP(cv_i64_b, int64_t, uint8_t, (int64_t)(x != 0))
CONVERT_LOOP(cv_b_f32, uint8_t, float, (uint8_t)(x != 0))
CONVERT_LOOP(cv_b_f64, uint8_t, double, (uint8_t)(x != 0))
CONVERT_LOOP(cv_b_i64, uint8_t, int64_t, (uint8_t)(x != 0))
CONVERT_LOOP(cv_b_b, uint8_t, uint8_t, (uint8_t)(x != 0))

static const nb_iter_fn convert[NB_DTYPE_COUNT][NB_DTYPE_COUNT] = {
    [NB_DTYPE_FLOAT32] = {[NB_DTYPE_FLOAT32] = cv_f32_f32,
                          [NB_DTYPE_FLOAT64] = cv_f32_f64,
                          [NB_DTYPE_INT64] = cv_f32_i64,
                          [NB_DTYPE_BOOL] = cv_f32_b},
    [NB_DTYPE_FLOAT64] = {[NB_DTYPE_FLOAT32] = cv_f64_f32,
                          [NB_DTYPE_FLOAT64] = cv_f64_f64,
                          [NB_DTYPE_INT64] = cv_f64_i64,
                          [NB_DTYPE_BOOL] = cv_f64_b},
    [NB_DTYPE_INT64] = {[NB_DTYPE_FLOAT32] = cv_i64_f32,
                        [NB_DTYPE_FLOAT64] = cv_i64_f64,
                        [NB_DTYPE_INT64] = cv_i64_i64,
                        [NB_DTYPE_BOOL] = cv_i64_b},
    [NB_DTYPE_BOOL] = {[NB_DTYPE_FLOAT32] = cv_b_f32,
                       [NB_DTYPE_FLOAT64] = cv_b_f64,
                       [NB_DTYPE_INT64] = cv_b_i64,
                       [NB_DTYPE_BOOL] = cv_b_b},
};

nb_status nb_copy_(nb_tensor *dst, nb_tensor *src) {
  NB_CHECK_NULL_STATUS("copy_", dst, src);
  /* The version moves only when dst is written: a rejected copy_ must not
   * make autograd's saved tensors look modified. */
  if (dst->numel == 0) {
    nb_iter it;
    nb_status st = nb__iter_init(&it, "copy_", 2, (nb_tensor *[]){dst, src});
    if (st == NB_OK) nb__bump_version(dst);
    return st;
  }
  if (dst->dtype == src->dtype && dst->contiguous && src->contiguous && dst->numel == src->numel &&
      dst->ndim >= src->ndim) {
    bool same = true;
    for (int i = 0; i < src->ndim && same; i++)
      same = src->shape[i] == dst->shape[dst->ndim - src->ndim + i];
    if (same && dst->storage != src->storage) {
      memcpy(nb__ptr(dst, 0), nb__ptr(src, 0), (size_t)dst->numel * nb_dtype_size(dst->dtype));
      nb__bump_version(dst);
      return NB_OK;
    }
  }
  nb_tensor *from = src;
  if (dst->storage == src->storage && src != dst) {
    /* Overlapping views: read from a private copy first. */
    from = nbk_clone(src);
    if (!from) return nb_last_status();
  }
  nb_iter it;
  nb_status st = nb__iter_init(&it, "copy_", 2, (nb_tensor *[]){dst, from});
  if (st == NB_OK) {
    it.write_only = true;
    nb__iter_run(&it, convert[dst->dtype][from->dtype], NULL, true);
    nb__bump_version(dst);
  }
  if (from != src) nb_free(from);
  return st;
}

nb_tensor *nbk_clone(nb_tensor *x) {
  NB_CHECK_NULL("clone", x);
  nb_tensor *out = nb__new("clone", x->dtype, x->ndim, x->shape);
  if (!out) return NULL;
  nb_iter it;
  if (nb__iter_init(&it, "clone", 2, (nb_tensor *[]){out, x}) != NB_OK) {
    nb_free(out);
    return NULL;
  }
  if (x->contiguous) {
    memcpy(nb__ptr(out, 0), nb__ptr(x, 0), (size_t)x->numel * nb_dtype_size(x->dtype));
  } else {
    it.write_only = true;
    nb__iter_run(&it, convert[x->dtype][x->dtype], NULL, true);
  }
  return out;
}

nb_tensor *nbk_contiguous(nb_tensor *x) {
  NB_CHECK_NULL("contiguous", x);
  if (x->contiguous) {
    nb_tensor *view = nb__new_view(x, x->ndim, x->shape, x->strides, x->offset);
    return view;
  }
  return nbk_clone(x);
}

nb_tensor *nbk_to(nb_tensor *x, nb_dtype dtype) {
  NB_CHECK_NULL("to", x);
  if ((unsigned)dtype >= NB_DTYPE_COUNT)
    return nb__fail_null(NB_ERR_DTYPE, "to: invalid dtype %d", (int)dtype);
  if (dtype == x->dtype) return nb__new_view(x, x->ndim, x->shape, x->strides, x->offset);
  nb_tensor *out = nb__new("to", dtype, x->ndim, x->shape);
  if (!out) return NULL;
  if (nb_copy_(out, x) != NB_OK) {
    nb_free(out);
    return NULL;
  }
  out->storage->version = 0;
  return out;
}
