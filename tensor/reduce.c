/* tensor/reduce.c - reductions, arg-reductions and per-dim scans.
 *
 * Owns: sum/mean/prod/amax/amin/var/std/logsumexp/norm over a dim list,
 * max/min along a dim with indices, argmax/argmin, all/any (one generic
 * reduction engine driven by a table of typed fold kernels), and
 * softmax/log_softmax/cumsum (one generic "along a dim" line engine).
 *
 * The reduction engine splits the input's dims into kept dims (the output's)
 * and reduced dims, drops size-1 dims and merges dims that step as one. Then:
 *  - one output (a full reduction): the reduced space is cut into fixed
 *    chunks of CHUNK elements, reduced in parallel into partials that are
 *    combined in order, so the result never depends on the thread count;
 *  - the innermost kept dim contiguous and the reduction strided (sum over
 *    dim 0 of [N, C]), or many short reductions: "panels" of adjacent
 *    outputs accumulate whole input row segments in a vectorizable loop;
 *  - otherwise each output folds its reduced sub-space run by run (a
 *    contiguous run is a lane-split loop the compiler vectorizes).
 * Each output is computed by exactly one thread. Float sums accumulate in
 * double; var is two-pass (mean, then squared deviations) and logsumexp
 * max-shifted, both through a per-output shift from a first pass.
 */
#include "tensor/tensor_impl.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 8192 /* elements per partial of a full reduction (thread-count independent) */
#define LINE 64    /* bytes: per-thread scratch is padded to cache lines (no false sharing) */
#define PANEL 256  /* outputs per panel (see reduce_panels) */
#define LANES 32   /* independent accumulators in a contiguous run */
#define SHORT 16   /* reductions this short go in panels of outputs */

/* ---- typed fold kernels ---------------------------------------------------- */

/* Per-call parameters of a reduction. */
typedef struct rctx {
  double p;            /* norm order */
  double correction;   /* var / std divisor N - correction */
  const double *shift; /* per-output shift from a first pass (var: mean, lse: max) */
} rctx;

typedef struct shacc { /* a sum of f(x - shift) */
  double shift, sum;
} shacc;

/* Value + index accumulators of arg-reductions (i < 0: nothing seen yet). */
typedef struct arg_f32 {
  float val;
  int64_t idx;
} arg_f32;
typedef struct arg_f64 {
  double val;
  int64_t idx;
} arg_f64;
typedef struct arg_i64 {
  int64_t val;
  int64_t idx;
} arg_i64;
typedef struct arg_b {
  uint8_t val;
  int64_t idx;
} arg_b;

/* A fold kernel set: set w accumulators up for outputs o.., fold a run of n
 * elements (byte stride s, reduced linear index k of the first) into acc[0],
 * fold one element of w adjacent outputs (stride s) into acc[0..w), merge a
 * later partial into acc, and write the result(s) of N folded elements. */
typedef void (*init_fn)(void *acc, int64_t w, int64_t o, const rctx *c);
typedef void (*run_fn)(void *acc, const char *x, int64_t s, int64_t n, int64_t k, const rctx *c);
typedef void (*panel_fn)(void *acc, const char *x, int64_t s, int64_t w, int64_t k, const rctx *c);
typedef void (*comb_fn)(void *acc, const void *later);
typedef void (*fin_fn)(const void *acc, char *out0, char *out1, int64_t n, const rctx *c);

/* v != v rather than isnan(): the form GCC if-converts and vectorizes. */
static inline bool nan_f32(float v) { return v != v; }
static inline bool nan_f64(double v) { return v != v; }
static inline bool nan_none(int64_t v) { return false; }
#define ISNAN(v) _Generic((v), float : nan_f32, double : nan_f64, default : nan_none)(v)
#define LOWEST(d)                                                                                  \
  _Generic((d), float : -INFINITY, double : -INFINITY, int64_t : INT64_MIN, default : 0)
#define HIGHEST(d)                                                                                 \
  _Generic((d), float : INFINITY, double : INFINITY, int64_t : INT64_MAX, default : 1)
static inline double lse_term_f32(float v, double shift) { return expf(v - (float)shift); }
static inline double lse_term_f64(double v, double shift) { return exp(v - shift); }
#define LSE_TERM(v, shift) _Generic((v), float : lse_term_f32, default : lse_term_f64)(v, shift)

/* Element loads: bool reads as 0/1 whatever byte is stored. */
#define LD_SAME(x) (x)
#define LD_BOOL(x) ((x) != 0)

/* Fold kinds: ZERO(d, r) makes d empty with r's parameters, INIT(d, o) makes
 * d empty for output o, FOLD(a, v, k) folds value v at reduced index k, and
 * COMB(a, b) merges b (later elements) into a. */
#define ZERO_0(d, r) (d) = 0
#define INIT_0(d, o) (d) = 0
#define ZERO_1(d, r) (d) = 1
#define INIT_1(d, o) (d) = 1
#define ZERO_LO(d, r) (d) = LOWEST(d)
#define INIT_LO(d, o) (d) = LOWEST(d)
#define ZERO_HI(d, r) (d) = HIGHEST(d)
#define INIT_HI(d, o) (d) = HIGHEST(d)
#define ZERO_INF(d, r) (d) = INFINITY
#define INIT_INF(d, o) (d) = INFINITY
#define ZERO_SH(d, r) ((d).shift = (r).shift, (d).sum = 0)
#define INIT_SH(d, o) ((d).shift = c->shift[o], (d).sum = 0)
#define ZERO_ARG(d, r) ((d).val = 0, (d).idx = -1)
#define INIT_ARG(d, o) ((d).val = 0, (d).idx = -1)

#define FOLD_ADD(a, v, k) (a) += (v)
#define COMB_ADD(a, b) (a) += (b)
#define FOLD_MUL(a, v, k) (a) *= (v)
#define COMB_MUL(a, b) (a) *= (b)
#define FOLD_MAX(a, v, k) (a) = (((v) > (a)) | ISNAN(v)) ? (v) : (a)
#define FOLD_MIN(a, v, k) (a) = (((v) < (a)) | ISNAN(v)) ? (v) : (a)
#define COMB_MAX(a, b) FOLD_MAX(a, b, 0)
#define COMB_MIN(a, b) FOLD_MIN(a, b, 0)
#define FOLD_AND(a, v, k) (a) &= ((v) != 0)
#define COMB_AND(a, b) (a) &= (b)
#define FOLD_OR(a, v, k) (a) |= ((v) != 0)
#define COMB_OR(a, b) (a) |= (b)
#define FOLD_ABSSUM(a, v, k) (a) += fabs((double)(v))
#define FOLD_SQSUM(a, v, k) (a) += (double)(v) * (double)(v)
#define FOLD_ABSMAX(a, v, k) FOLD_MAX(a, fabs((double)(v)), k)
#define FOLD_ABSMIN(a, v, k) FOLD_MIN(a, fabs((double)(v)), k)
#define FOLD_NNZ(a, v, k) (a) += ((v) != 0)
#define FOLD_POWSUM(a, v, k) (a) += pow(fabs((double)(v)), c->p)
#define FOLD_SQDEV(a, v, k) (a).sum += ((double)(v) - (a).shift) * ((double)(v) - (a).shift)
#define FOLD_EXPDEV(a, v, k) (a).sum += LSE_TERM(v, (a).shift)
#define COMB_SH(a, b) (a).sum += (b).sum
/* First occurrence wins; a NaN beats any number (and the first NaN stays). */
#define ARG_BETTER_MAX(v, a) ((v) > (a).val || (ISNAN(v) && !ISNAN((a).val)))
#define ARG_BETTER_MIN(v, a) ((v) < (a).val || (ISNAN(v) && !ISNAN((a).val)))
#define FOLD_ARGMAX(a, v, k)                                                                       \
  if ((a).idx < 0 || ARG_BETTER_MAX(v, a)) (a).val = (v), (a).idx = (k)
#define FOLD_ARGMIN(a, v, k)                                                                       \
  if ((a).idx < 0 || ARG_BETTER_MIN(v, a)) (a).val = (v), (a).idx = (k)
#define COMB_ARGMAX(a, b)                                                                          \
  if ((b).idx >= 0 && ((a).idx < 0 || ARG_BETTER_MAX((b).val, a))) (a) = (b)
#define COMB_ARGMIN(a, b)                                                                          \
  if ((b).idx >= 0 && ((a).idx < 0 || ARG_BETTER_MIN((b).val, a))) (a) = (b)

/* The four kernels of one fold kind on one input type T (loaded as V by LD)
 * with accumulator A. NL lanes split a contiguous run into independent
 * accumulators (merged in a fixed order) so the loop vectorizes; order-
 * sensitive folds (arg-reductions) use one lane. */
#define DEFINE_FOLD(NAME, T, V, LD, A, NL, ZERO, INIT, FOLD, COMB)                                 \
  enum { NAME##_asz = sizeof(A) };                                                                 \
  static void NAME##_init(void *acc_, int64_t w_, int64_t o_, const rctx *c) {                     \
    A *a_ = acc_;                                                                                  \
    for (int64_t j_ = 0; j_ < w_; j_++) {                                                          \
      INIT(a_[j_], o_ + j_);                                                                       \
    }                                                                                              \
  }                                                                                                \
  NB_HOT_LOOP static void NAME##_run(void *acc_, const char *x_, int64_t s_, int64_t n_,           \
                                     int64_t k_, const rctx *c) {                                  \
    A *a_ = acc_;                                                                                  \
    int64_t nv_ = 0;                                                                               \
    if (s_ == (int64_t)sizeof(T) && n_ >= 2 * (NL)) {                                              \
      const T *xv_ = (const T *)(const void *)x_;                                                  \
      A l_[NL];                                                                                    \
      nv_ = n_ - n_ % (NL);                                                                        \
      for (int j_ = 0; j_ < (NL); j_++) {                                                          \
        ZERO(l_[j_], a_[0]);                                                                       \
      }                                                                                            \
      for (int64_t i_ = 0; i_ < nv_; i_ += (NL))                                                   \
        for (int j_ = 0; j_ < (NL); j_++) {                                                        \
          V v_ = LD(xv_[i_ + j_]);                                                                 \
          FOLD(l_[j_], v_, k_ + i_ + j_);                                                          \
        }                                                                                          \
      for (int j_ = 0; j_ < (NL); j_++) {                                                          \
        COMB(a_[0], l_[j_]);                                                                       \
      }                                                                                            \
    }                                                                                              \
    A t_ = a_[0]; /* a local accumulator: no store per element */                                  \
    x_ += nv_ * s_;                                                                                \
    for (int64_t i_ = nv_; i_ < n_; i_++, x_ += s_) {                                              \
      V v_ = LD(*(const T *)(const void *)x_);                                                     \
      FOLD(t_, v_, k_ + i_);                                                                       \
    }                                                                                              \
    a_[0] = t_;                                                                                    \
  }                                                                                                \
  NB_HOT_LOOP static void NAME##_panel(void *acc_, const char *x_, int64_t s_, int64_t w_,         \
                                       int64_t k_, const rctx *c) {                                \
    A *a_ = acc_;                                                                                  \
    if (s_ == (int64_t)sizeof(T)) {                                                                \
      const T *xv_ = (const T *)(const void *)x_;                                                  \
      for (int64_t j_ = 0; j_ < w_; j_++) {                                                        \
        V v_ = LD(xv_[j_]);                                                                        \
        FOLD(a_[j_], v_, k_);                                                                      \
      }                                                                                            \
    } else {                                                                                       \
      for (int64_t j_ = 0; j_ < w_; j_++, x_ += s_) {                                              \
        V v_ = LD(*(const T *)(const void *)x_);                                                   \
        FOLD(a_[j_], v_, k_);                                                                      \
      }                                                                                            \
    }                                                                                              \
  }                                                                                                \
  static void NAME##_comb(void *acc_, const void *b_) {                                            \
    A *a_ = acc_;                                                                                  \
    const A *bb_ = b_;                                                                             \
    COMB(a_[0], bb_[0]);                                                                           \
  }

/* Each fold kind over the dtypes it supports: F = float32/float64, I =
 * int64/bool. */
#define FOLD_F(KIND, A, NL, ZERO, INIT, FOLD, COMB)                                                \
  DEFINE_FOLD(KIND##_f32, float, float, LD_SAME, A, NL, ZERO, INIT, FOLD, COMB)                    \
  DEFINE_FOLD(KIND##_f64, double, double, LD_SAME, A, NL, ZERO, INIT, FOLD, COMB)
#define FOLD_I(KIND, A, NL, ZERO, INIT, FOLD, COMB)                                                \
  DEFINE_FOLD(KIND##_i64, int64_t, int64_t, LD_SAME, A, NL, ZERO, INIT, FOLD, COMB)                \
  DEFINE_FOLD(KIND##_b, uint8_t, int, LD_BOOL, A, NL, ZERO, INIT, FOLD, COMB)

FOLD_F(fsum, double, LANES, ZERO_0, INIT_0, FOLD_ADD, COMB_ADD)
FOLD_I(isum, uint64_t, LANES, ZERO_0, INIT_0, FOLD_ADD, COMB_ADD) /* wraps like torch */
FOLD_F(fprod, double, LANES, ZERO_1, INIT_1, FOLD_MUL, COMB_MUL)
FOLD_I(iprod, uint64_t, LANES, ZERO_1, INIT_1, FOLD_MUL, COMB_MUL)
DEFINE_FOLD(max_f32, float, float, LD_SAME, float, LANES, ZERO_LO, INIT_LO, FOLD_MAX, COMB_MAX)
DEFINE_FOLD(max_f64, double, double, LD_SAME, double, LANES, ZERO_LO, INIT_LO, FOLD_MAX, COMB_MAX)
DEFINE_FOLD(max_i64, int64_t, int64_t, LD_SAME, int64_t, LANES, ZERO_LO, INIT_LO, FOLD_MAX,
            COMB_MAX)
DEFINE_FOLD(max_b, uint8_t, int, LD_BOOL, uint8_t, LANES, ZERO_LO, INIT_LO, FOLD_MAX, COMB_MAX)
DEFINE_FOLD(min_f32, float, float, LD_SAME, float, LANES, ZERO_HI, INIT_HI, FOLD_MIN, COMB_MIN)
DEFINE_FOLD(min_f64, double, double, LD_SAME, double, LANES, ZERO_HI, INIT_HI, FOLD_MIN, COMB_MIN)
DEFINE_FOLD(min_i64, int64_t, int64_t, LD_SAME, int64_t, LANES, ZERO_HI, INIT_HI, FOLD_MIN,
            COMB_MIN)
DEFINE_FOLD(min_b, uint8_t, int, LD_BOOL, uint8_t, LANES, ZERO_HI, INIT_HI, FOLD_MIN, COMB_MIN)
FOLD_F(all, uint8_t, LANES, ZERO_1, INIT_1, FOLD_AND, COMB_AND)
FOLD_I(all, uint8_t, LANES, ZERO_1, INIT_1, FOLD_AND, COMB_AND)
FOLD_F(any, uint8_t, LANES, ZERO_0, INIT_0, FOLD_OR, COMB_OR)
FOLD_I(any, uint8_t, LANES, ZERO_0, INIT_0, FOLD_OR, COMB_OR)
FOLD_F(abssum, double, LANES, ZERO_0, INIT_0, FOLD_ABSSUM, COMB_ADD)
FOLD_F(sqsum, double, LANES, ZERO_0, INIT_0, FOLD_SQSUM, COMB_ADD)
FOLD_F(absmax, double, LANES, ZERO_0, INIT_0, FOLD_ABSMAX, COMB_MAX)
FOLD_F(absmin, double, LANES, ZERO_INF, INIT_INF, FOLD_ABSMIN, COMB_MIN)
FOLD_F(nnz, double, LANES, ZERO_0, INIT_0, FOLD_NNZ, COMB_ADD)
FOLD_F(powsum, double, LANES, ZERO_0, INIT_0, FOLD_POWSUM, COMB_ADD)
FOLD_F(sqdev, shacc, LANES, ZERO_SH, INIT_SH, FOLD_SQDEV, COMB_SH)
FOLD_F(expdev, shacc, LANES, ZERO_SH, INIT_SH, FOLD_EXPDEV, COMB_SH)
DEFINE_FOLD(argmax_f32, float, float, LD_SAME, arg_f32, 1, ZERO_ARG, INIT_ARG, FOLD_ARGMAX,
            COMB_ARGMAX)
DEFINE_FOLD(argmax_f64, double, double, LD_SAME, arg_f64, 1, ZERO_ARG, INIT_ARG, FOLD_ARGMAX,
            COMB_ARGMAX)
DEFINE_FOLD(argmax_i64, int64_t, int64_t, LD_SAME, arg_i64, 1, ZERO_ARG, INIT_ARG, FOLD_ARGMAX,
            COMB_ARGMAX)
DEFINE_FOLD(argmax_b, uint8_t, int, LD_BOOL, arg_b, 1, ZERO_ARG, INIT_ARG, FOLD_ARGMAX, COMB_ARGMAX)
DEFINE_FOLD(argmin_f32, float, float, LD_SAME, arg_f32, 1, ZERO_ARG, INIT_ARG, FOLD_ARGMIN,
            COMB_ARGMIN)
DEFINE_FOLD(argmin_f64, double, double, LD_SAME, arg_f64, 1, ZERO_ARG, INIT_ARG, FOLD_ARGMIN,
            COMB_ARGMIN)
DEFINE_FOLD(argmin_i64, int64_t, int64_t, LD_SAME, arg_i64, 1, ZERO_ARG, INIT_ARG, FOLD_ARGMIN,
            COMB_ARGMIN)
DEFINE_FOLD(argmin_b, uint8_t, int, LD_BOOL, arg_b, 1, ZERO_ARG, INIT_ARG, FOLD_ARGMIN, COMB_ARGMIN)

/* Finishers: write the result of accumulator `a` over n elements. */
#define DEFINE_FIN(NAME, A, O, EXPR)                                                               \
  static void NAME(const void *acc_, char *o0_, char *o1_, int64_t n, const rctx *c) {             \
    A a = *(const A *)acc_;                                                                        \
    *(O *)(void *)o0_ = (O)(EXPR);                                                                 \
  }
#define DEFINE_ARGFIN(NAME, A, O)                                                                  \
  static void NAME(const void *acc_, char *o0_, char *o1_, int64_t n, const rctx *c) {             \
    A a = *(const A *)acc_;                                                                        \
    *(O *)(void *)o0_ = a.val;                                                                     \
    *(int64_t *)(void *)o1_ = a.idx;                                                               \
  }
#define FIN_F(NAME, A, EXPR)                                                                       \
  DEFINE_FIN(NAME##_f32, A, float, EXPR)                                                           \
  DEFINE_FIN(NAME##_f64, A, double, EXPR)

FIN_F(fin_cast, double, a)
FIN_F(fin_mean, double, a / (double)n)
FIN_F(fin_sqrt, double, sqrt(a))
FIN_F(fin_root, double, pow(a, 1.0 / c->p))
FIN_F(fin_var, shacc, a.sum / fmax((double)n - c->correction, 0.0))
FIN_F(fin_std, shacc, sqrt(a.sum / fmax((double)n - c->correction, 0.0)))
FIN_F(fin_lse, shacc, log(a.sum) + a.shift)
DEFINE_FIN(fin_cast_i64, uint64_t, int64_t, a)
DEFINE_FIN(fin_mean64, double, double, a / (double)n)
DEFINE_FIN(fin_same_f32, float, float, a)
DEFINE_FIN(fin_same_f64, double, double, a)
DEFINE_FIN(fin_same_i64, int64_t, int64_t, a)
DEFINE_FIN(fin_same_b, uint8_t, uint8_t, a)
/* The shift of logsumexp: the max, with infinities replaced by 0 (as torch). */
DEFINE_FIN(fin_maxshift_f32, float, double, isinf(a) ? 0.0 : (double)a)
DEFINE_FIN(fin_maxshift_f64, double, double, isinf(a) ? 0.0 : a)
DEFINE_ARGFIN(fin_arg_f32, arg_f32, float)
DEFINE_ARGFIN(fin_arg_f64, arg_f64, double)
DEFINE_ARGFIN(fin_arg_i64, arg_i64, int64_t)
DEFINE_ARGFIN(fin_arg_b, arg_b, uint8_t)

/* ---- the reduction table --------------------------------------------------- */

typedef enum rop {
  R_SUM,
  R_MEAN,
  R_PROD,
  R_AMAX,
  R_AMIN,
  R_ALL,
  R_ANY,
  R_NORM1,
  R_NORM2,
  R_NORMINF,
  R_NORMNINF,
  R_NORM0,
  R_NORMP,
  R_MEAN64, /* var's first pass: the mean as float64 */
  R_VAR,
  R_STD,
  R_MAX64, /* logsumexp's first pass: the shift as float64 */
  R_LSE,
  R_ARGMAX, /* two outputs: values and int64 indices */
  R_ARGMIN,
  R_COUNT
} rop;

typedef struct reducer {
  init_fn init;
  run_fn run;
  panel_fn panel;
  comb_fn comb;
  fin_fn fin;
  int asz;       /* accumulator bytes */
  nb_dtype out;  /* dtype of the (first) output */
  bool nonempty; /* no identity: reducing zero elements is an error */
} reducer;

#define RED(K, FIN, OUT, NE)                                                                       \
  { K##_init, K##_run, K##_panel, K##_comb, FIN, K##_asz, OUT, NE }
#define F32 NB_DTYPE_FLOAT32
#define F64 NB_DTYPE_FLOAT64
#define I64 NB_DTYPE_INT64
#define BOOL NB_DTYPE_BOOL
#define RED_F(K, FIN, NE)                                                                          \
  [F32] = RED(K##_f32, FIN##_f32, F32, NE), [F64] = RED(K##_f64, FIN##_f64, F64, NE)

static const reducer table[R_COUNT][NB_DTYPE_COUNT] = {
    [R_SUM] = {RED_F(fsum, fin_cast, false), [I64] = RED(isum_i64, fin_cast_i64, I64, false),
               [BOOL] = RED(isum_b, fin_cast_i64, I64, false)},
    [R_MEAN] = {RED_F(fsum, fin_mean, false)},
    [R_PROD] = {RED_F(fprod, fin_cast, false), [I64] = RED(iprod_i64, fin_cast_i64, I64, false),
                [BOOL] = RED(iprod_b, fin_cast_i64, I64, false)},
    [R_AMAX] = {RED_F(max, fin_same, true), [I64] = RED(max_i64, fin_same_i64, I64, true),
                [BOOL] = RED(max_b, fin_same_b, BOOL, true)},
    [R_AMIN] = {RED_F(min, fin_same, true), [I64] = RED(min_i64, fin_same_i64, I64, true),
                [BOOL] = RED(min_b, fin_same_b, BOOL, true)},
    [R_ALL] = {[F32] = RED(all_f32, fin_same_b, BOOL, false),
               [F64] = RED(all_f64, fin_same_b, BOOL, false),
               [I64] = RED(all_i64, fin_same_b, BOOL, false),
               [BOOL] = RED(all_b, fin_same_b, BOOL, false)},
    [R_ANY] = {[F32] = RED(any_f32, fin_same_b, BOOL, false),
               [F64] = RED(any_f64, fin_same_b, BOOL, false),
               [I64] = RED(any_i64, fin_same_b, BOOL, false),
               [BOOL] = RED(any_b, fin_same_b, BOOL, false)},
    [R_NORM1] = {RED_F(abssum, fin_cast, false)},
    [R_NORM2] = {RED_F(sqsum, fin_sqrt, false)},
    [R_NORMINF] = {RED_F(absmax, fin_cast, true)},
    [R_NORMNINF] = {RED_F(absmin, fin_cast, true)},
    [R_NORM0] = {RED_F(nnz, fin_cast, false)},
    [R_NORMP] = {RED_F(powsum, fin_root, false)},
    [R_MEAN64] = {[F32] = RED(fsum_f32, fin_mean64, F64, false),
                  [F64] = RED(fsum_f64, fin_mean64, F64, false)},
    [R_VAR] = {RED_F(sqdev, fin_var, false)},
    [R_STD] = {RED_F(sqdev, fin_std, false)},
    [R_MAX64] = {[F32] = RED(max_f32, fin_maxshift_f32, F64, false),
                 [F64] = RED(max_f64, fin_maxshift_f64, F64, false)},
    [R_LSE] = {RED_F(expdev, fin_lse, false)},
    [R_ARGMAX] = {[F32] = RED(argmax_f32, fin_arg_f32, F32, true),
                  [F64] = RED(argmax_f64, fin_arg_f64, F64, true),
                  [I64] = RED(argmax_i64, fin_arg_i64, I64, true),
                  [BOOL] = RED(argmax_b, fin_arg_b, BOOL, true)},
    [R_ARGMIN] = {[F32] = RED(argmin_f32, fin_arg_f32, F32, true),
                  [F64] = RED(argmin_f64, fin_arg_f64, F64, true),
                  [I64] = RED(argmin_i64, fin_arg_i64, I64, true),
                  [BOOL] = RED(argmin_b, fin_arg_b, BOOL, true)},
};
_Static_assert(sizeof table / sizeof table[0] == R_COUNT, "one table row per reduction");

/* ---- the engine ------------------------------------------------------------ */

typedef struct plan {
  const reducer *r;
  const rctx *c;
  const char *in;
  char *out[2];
  int64_t osz[2]; /* output element bytes */
  int64_t es;     /* input element bytes */
  int nk, nr;
  int64_t kshape[NB_MAX_DIMS], kstride[NB_MAX_DIMS]; /* kept dims, input byte strides */
  int64_t rshape[NB_MAX_DIMS], rstride[NB_MAX_DIMS]; /* reduced dims, innermost last */
  int64_t M, N;                                      /* outputs, elements per output */
} plan;

/* Append a dim to a list, merging it into the previous one when they step as
 * one dim; size-1 dims are dropped. Returns the new count. */
static int push_dim(int n, int64_t *shape, int64_t *stride, int64_t size, int64_t st) {
  if (size == 1) return n;
  if (n > 0 && stride[n - 1] == st * size) {
    shape[n - 1] *= size;
    stride[n - 1] = st;
    return n;
  }
  shape[n] = size;
  stride[n] = st;
  return n + 1;
}

/* Split x's dims into kept and reduced (mask) lists. Unless keep_order (arg-
 * reductions, whose indices are logical positions), the reduced dims are
 * walked in memory order: largest stride outermost. */
static void make_plan(plan *p, const nb_tensor *x, const bool *mask, bool keep_order) {
  p->es = (int64_t)nb_dtype_size(x->dtype);
  p->in = nb__ptr(x, 0);
  int order[NB_MAX_DIMS], nred = 0;
  p->nk = p->nr = 0;
  p->M = p->N = 1;
  for (int d = 0; d < x->ndim; d++) {
    if (mask[d]) {
      order[nred++] = d;
      p->N *= x->shape[d];
    } else {
      p->M *= x->shape[d];
      p->nk = push_dim(p->nk, p->kshape, p->kstride, x->shape[d], x->strides[d] * p->es);
    }
  }
  if (!keep_order) /* stable insertion sort by decreasing stride */
    for (int i = 1; i < nred; i++)
      for (int j = i; j > 0 && x->strides[order[j]] > x->strides[order[j - 1]]; j--) {
        int t = order[j];
        order[j] = order[j - 1];
        order[j - 1] = t;
      }
  for (int i = 0; i < nred; i++)
    p->nr =
        push_dim(p->nr, p->rshape, p->rstride, x->shape[order[i]], x->strides[order[i]] * p->es);
  if (p->nk == 0) p->kshape[p->nk++] = 1, p->kstride[0] = 0;
  if (p->nr == 0) p->rshape[p->nr++] = 1, p->rstride[0] = 0;
}

/* Fold reduced linear elements [lo, hi) of the output at `base` into acc. */
static void reduce_range(const plan *p, void *acc, const char *base, int64_t lo, int64_t hi) {
  const int last = p->nr - 1;
  int64_t idx[NB_MAX_DIMS], rest = lo;
  for (int d = last; d >= 0; d--) {
    idx[d] = rest % p->rshape[d];
    rest /= p->rshape[d];
  }
  for (int64_t pos = lo; pos < hi;) {
    int64_t off = 0;
    for (int d = 0; d <= last; d++) off += idx[d] * p->rstride[d];
    int64_t n = p->rshape[last] - idx[last];
    if (n > hi - pos) n = hi - pos;
    p->r->run(acc, base + off, p->rstride[last], n, pos, p->c);
    pos += n;
    idx[last] += n;
    for (int d = last; d > 0 && idx[d] == p->rshape[d]; d--) {
      idx[d] = 0;
      idx[d - 1]++;
    }
  }
}

/* Byte offset of kept linear index q over the first nd kept dims. */
static int64_t kept_offset(const plan *p, int nd, int64_t q) {
  int64_t off = 0;
  for (int d = nd - 1; d >= 0; d--) {
    off += (q % p->kshape[d]) * p->kstride[d];
    q /= p->kshape[d];
  }
  return off;
}

/* An odometer over dims (innermost last) that tracks byte offsets into two
 * operands, so a loop over many outputs or lines divides only once. */
typedef struct walker {
  int nd;
  const int64_t *shape, *st0, *st1;
  int64_t idx[NB_MAX_DIMS], off0, off1;
} walker;

static void walk_start(walker *w, int nd, const int64_t *shape, const int64_t *st0,
                       const int64_t *st1, int64_t q) {
  *w = (walker){.nd = nd, .shape = shape, .st0 = st0, .st1 = st1};
  for (int d = nd - 1; d >= 0; d--) {
    w->idx[d] = q % shape[d];
    q /= shape[d];
    w->off0 += w->idx[d] * st0[d];
    w->off1 += w->idx[d] * st1[d];
  }
}

static inline void walk_next(walker *w) {
  for (int d = w->nd - 1; d >= 0; d--) {
    w->off0 += w->st0[d];
    w->off1 += w->st1[d];
    if (++w->idx[d] < w->shape[d]) return;
    w->off0 -= w->idx[d] * w->st0[d];
    w->off1 -= w->idx[d] * w->st1[d];
    w->idx[d] = 0;
  }
}

/* This thread's share [lo, hi) of n independent items (inside a parallel
 * region; the whole range outside one). */
static void my_share(int64_t n, int64_t *lo, int64_t *hi) {
  int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
  int64_t q = n / nt, r = n % nt;
  *lo = t * q + (t < r ? t : r);
  *hi = *lo + q + (t < r);
}

static void finish(const plan *p, const void *acc, int64_t o) {
  p->r->fin(acc, p->out[0] + o * p->osz[0], p->out[1] ? p->out[1] + o * p->osz[1] : NULL, p->N,
            p->c);
}

/* One panel: outputs o0..o0+w of kept row q (innermost kept dim contiguous),
 * accumulating one input row segment per reduced index. */
static void panel_tile(const plan *p, char *acc, int64_t q, int64_t j0, int64_t w) {
  const int lk = p->nk - 1, lr = p->nr - 1;
  const char *base = p->in + kept_offset(p, lk, q) + j0 * p->kstride[lk];
  int64_t o0 = q * p->kshape[lk] + j0;
  p->r->init(acc, w, o0, p->c);
  int64_t idx[NB_MAX_DIMS] = {0}, roff = 0;
  for (int64_t k = 0; k < p->N; k++) {
    p->r->panel(acc, base + roff, p->kstride[lk], w, k, p->c);
    int d = lr;
    idx[d]++;
    roff += p->rstride[d];
    while (d > 0 && idx[d] == p->rshape[d]) {
      roff -= idx[d] * p->rstride[d];
      idx[d] = 0;
      d--;
      idx[d]++;
      roff += p->rstride[d];
    }
  }
  for (int64_t j = 0; j < w; j++) finish(p, acc + j * p->r->asz, o0 + j);
}

static nb_status scratch_alloc(const char *op, int64_t bytes, char **buf) {
  *buf = malloc((size_t)(bytes > 0 ? bytes : 1));
  if (!*buf)
    return nb__fail(NB_ERR_MEMORY, "%s: out of memory for %lld bytes of scratch", op,
                    (long long)bytes);
  return NB_OK;
}

/* Nothing to fold: every output is the empty result (sum 0, prod 1, mean nan). */
static nb_status reduce_empty(const char *op, const plan *p) {
  char *acc;
  if (scratch_alloc(op, p->r->asz, &acc) != NB_OK) return NB_ERR_MEMORY;
  for (int64_t o = 0; o < p->M; o++) {
    p->r->init(acc, 1, o, p->c);
    finish(p, acc, o);
  }
  free(acc);
  return NB_OK;
}

/* One output: fixed chunks of the reduced space fold into partials (in
 * parallel), which merge in chunk order - the same bits for any thread count. */
static nb_status reduce_full(const char *op, const plan *p, int nt) {
  const int64_t N = p->N, asz = p->r->asz, nchunks = (N + CHUNK - 1) / CHUNK;
  char *part;
  if (scratch_alloc(op, nchunks * asz, &part) != NB_OK) return NB_ERR_MEMORY;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int64_t ch = 0; ch < nchunks; ch++) {
    p->r->init(part + ch * asz, 1, 0, p->c);
    reduce_range(p, part + ch * asz, p->in, ch * CHUNK,
                 N - ch * CHUNK > CHUNK ? (ch + 1) * CHUNK : N);
  }
  for (int64_t ch = 1; ch < nchunks; ch++) p->r->comb(part, part + ch * asz);
  finish(p, part, 0);
  free(part);
  return NB_OK;
}

/* Panels of W adjacent outputs along the innermost kept dim, each folding one
 * input segment per reduced index. The width never changes a result, so it
 * shrinks to give every thread work. */
static nb_status reduce_panels(const char *op, const plan *p, int nt) {
  const int lk = p->nk - 1;
  const int64_t C = p->kshape[lk], Q = p->M / C;
  int64_t W = PANEL;
  while (W > 16 && Q * ((C + W - 1) / W) < nt) W /= 2;
  const int64_t nb = (C + W - 1) / W, tiles = Q * nb;
  const int64_t slot = (W * p->r->asz + LINE - 1) / LINE * LINE;
  char *buf;
  if (scratch_alloc(op, nt * slot, &buf) != NB_OK) return NB_ERR_MEMORY;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    char *acc = buf + omp_get_thread_num() * slot;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tiles; t++) {
      int64_t j0 = (t % nb) * W;
      panel_tile(p, acc, t / nb, j0, C - j0 < W ? C - j0 : W);
    }
  }
  free(buf);
  return NB_OK;
}

/* One output at a time, each folding its reduced sub-space run by run. */
static nb_status reduce_each(const char *op, const plan *p, int nt) {
  const int64_t slot = (p->r->asz + LINE - 1) / LINE * LINE;
  char *buf;
  if (scratch_alloc(op, nt * slot, &buf) != NB_OK) return NB_ERR_MEMORY;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    char *acc = buf + omp_get_thread_num() * slot;
    int64_t lo, hi;
    my_share(p->M, &lo, &hi);
    walker w;
    walk_start(&w, p->nk, p->kshape, p->kstride, p->kstride, lo);
    for (int64_t o = lo; o < hi; o++, walk_next(&w)) {
      const char *base = p->in + w.off0;
      p->r->init(acc, 1, o, p->c);
      if (p->nr == 1)
        p->r->run(acc, base, p->rstride[0], p->N, 0, p->c);
      else
        reduce_range(p, acc, base, 0, p->N);
      finish(p, acc, o);
    }
  }
  free(buf);
  return NB_OK;
}

/* Reduce x over mask into the contiguous outputs out0 (and out1 for arg-
 * reductions), which have the kept dims' sizes in order. */
static nb_status reduce_into(const char *op, const reducer *r, nb_tensor *x, const bool *mask,
                             bool keep_order, nb_tensor *out0, nb_tensor *out1, const rctx *c) {
  plan p;
  make_plan(&p, x, mask, keep_order);
  p.r = r;
  p.c = c;
  p.out[0] = nb__ptr(out0, 0);
  p.out[1] = out1 ? nb__ptr(out1, 0) : NULL;
  p.osz[0] = (int64_t)nb_dtype_size(out0->dtype);
  p.osz[1] = out1 ? (int64_t)nb_dtype_size(out1->dtype) : 0;
  if (p.M == 0) return NB_OK;
  if (p.N == 0) return reduce_empty(op, &p);
  int nt = nb__threads_for(p.M * p.N);
  if (p.M == 1) return reduce_full(op, &p, nt);
  /* Panels for an outer-dim reduction (contiguous outputs, strided reduction;
   * e.g. a bias gradient) and for many short reductions, where one output at
   * a time would be a chain of dependent adds. */
  const int lk = p.nk - 1;
  const bool outer = p.kstride[lk] == p.es && p.rstride[p.nr - 1] != p.es;
  if (p.kshape[lk] >= 8 && (outer || p.N <= SHORT)) return reduce_panels(op, &p, nt);
  return reduce_each(op, &p, nt);
}

/* ---- argument checks and the public reductions ------------------------------ */

/* Parse a dim list into mask (NULL/0 = every dim). Duplicates are an error. */
static nb_status parse_dims(const char *op, const nb_tensor *x, const int *dims, int ndims,
                            bool *mask) {
  memset(mask, 0, sizeof(bool) * NB_MAX_DIMS);
  if (ndims < 0 || (ndims > 0 && !dims))
    return nb__fail(NB_ERR_ARG, "%s: bad dim list (%s, %d dims) for input of shape %s", op,
                    dims ? "dims" : "NULL", ndims, nb__shp(x));
  if (ndims == 0) {
    for (int d = 0; d < x->ndim; d++) mask[d] = true;
    return NB_OK;
  }
  bool seen[NB_MAX_DIMS] = {false};
  for (int i = 0; i < ndims; i++) {
    int d = nb__wrap_dim(op, dims[i], x->ndim);
    if (d < 0) return nb_last_status();
    if (seen[d])
      return nb__fail(NB_ERR_ARG,
                      "%s: dim %d appears multiple times in the list of dims "
                      "(input of shape %s)",
                      op, d, nb__shp(x));
    seen[d] = true;
    if (x->ndim > 0) mask[d] = true;
  }
  return NB_OK;
}

/* The output shape for x reduced over mask. Returns its ndim. */
static int out_shape(const nb_tensor *x, const bool *mask, bool keepdim, int64_t *shape) {
  int n = 0;
  for (int d = 0; d < x->ndim; d++)
    if (!mask[d])
      shape[n++] = x->shape[d];
    else if (keepdim)
      shape[n++] = 1;
  return n;
}

static const reducer *find_reducer(const char *op, rop id, const nb_tensor *x) {
  const reducer *r = &table[id][x->dtype];
  if (r->run) return r;
  bool floats_only = table[id][NB_DTYPE_INT64].run == NULL;
  nb__fail(NB_ERR_DTYPE, "%s: input of shape %s has dtype %s, which is not supported%s", op,
           nb__shp(x), nb_dtype_name(x->dtype),
           floats_only ? " (needs float32 or float64; convert with nbk_to)" : "");
  return NULL;
}

static nb_status check_nonempty(const char *op, const reducer *r, const nb_tensor *x,
                                const bool *mask) {
  if (!r->nonempty) return NB_OK;
  for (int d = 0; d < x->ndim; d++)
    if (mask[d] && x->shape[d] == 0)
      return nb__fail(NB_ERR_SHAPE,
                      "%s: cannot perform reduction over the zero-size dim %d of "
                      "shape %s: the operation has no identity",
                      op, d, nb__shp(x));
  return NB_OK;
}

/* The common path: x reduced over dims by table row id into a new tensor. */
static nb_tensor *reduce(const char *op, rop id, nb_tensor *x, const int *dims, int ndims,
                         bool keepdim, const rctx *c) {
  NB_CHECK_NULL(op, x);
  const reducer *r = find_reducer(op, id, x);
  bool mask[NB_MAX_DIMS];
  if (!r || parse_dims(op, x, dims, ndims, mask) != NB_OK ||
      check_nonempty(op, r, x, mask) != NB_OK)
    return NULL;
  int64_t shape[NB_MAX_DIMS];
  int nd = out_shape(x, mask, keepdim, shape);
  nb_tensor *out = nb__new(op, r->out, nd, shape);
  if (out && reduce_into(op, r, x, mask, false, out, NULL, c) != NB_OK) {
    nb_free(out);
    return NULL;
  }
  return out;
}

static const rctx no_ctx = {0};

nb_tensor *nbk_sum(nb_tensor *x, const int *dims, int ndims, bool keepdim) {
  return reduce("sum", R_SUM, x, dims, ndims, keepdim, &no_ctx);
}

nb_tensor *nbk_mean(nb_tensor *x, const int *dims, int ndims, bool keepdim) {
  return reduce("mean", R_MEAN, x, dims, ndims, keepdim, &no_ctx);
}

nb_tensor *nbk_prod(nb_tensor *x, const int *dims, int ndims, bool keepdim) {
  return reduce("prod", R_PROD, x, dims, ndims, keepdim, &no_ctx);
}

nb_tensor *nbk_amax(nb_tensor *x, const int *dims, int ndims, bool keepdim) {
  return reduce("amax", R_AMAX, x, dims, ndims, keepdim, &no_ctx);
}

nb_tensor *nbk_amin(nb_tensor *x, const int *dims, int ndims, bool keepdim) {
  return reduce("amin", R_AMIN, x, dims, ndims, keepdim, &no_ctx);
}

/* A two-pass reduction: `first` gives a float64 per-output shift that the
 * second pass `second` folds around. */
static nb_tensor *two_pass(const char *op, rop first, rop second, nb_tensor *x, const int *dims,
                           int ndims, bool keepdim, rctx *c) {
  nb_tensor *shift = reduce(op, first, x, dims, ndims, keepdim, c);
  if (!shift) return NULL;
  c->shift = nb__ptr(shift, 0);
  nb_tensor *out = reduce(op, second, x, dims, ndims, keepdim, c);
  nb_free(shift);
  return out;
}

static nb_tensor *var_std(const char *op, rop id, nb_tensor *x, const int *dims, int ndims,
                          double correction, bool keepdim) {
  if (isnan(correction))
    return nb__fail_null(NB_ERR_ARG, "%s: correction is NaN (input of shape %s)", op, nb__shp(x));
  rctx c = {.correction = correction};
  return two_pass(op, R_MEAN64, id, x, dims, ndims, keepdim, &c);
}

nb_tensor *nbk_var(nb_tensor *x, const int *dims, int ndims, double correction, bool keepdim) {
  NB_CHECK_NULL("var", x);
  return var_std("var", R_VAR, x, dims, ndims, correction, keepdim);
}

nb_tensor *nbk_std(nb_tensor *x, const int *dims, int ndims, double correction, bool keepdim) {
  NB_CHECK_NULL("std", x);
  return var_std("std", R_STD, x, dims, ndims, correction, keepdim);
}

nb_tensor *nbk_logsumexp(nb_tensor *x, const int *dims, int ndims, bool keepdim) {
  NB_CHECK_NULL("logsumexp", x);
  rctx c = {0};
  if (nb_dtype_is_floating(x->dtype))
    return two_pass("logsumexp", R_MAX64, R_LSE, x, dims, ndims, keepdim, &c);
  /* Integer and bool inputs give float32, as in torch. */
  nb_tensor *xf = nbk_to(x, NB_DTYPE_FLOAT32);
  nb_tensor *out = xf ? two_pass("logsumexp", R_MAX64, R_LSE, xf, dims, ndims, keepdim, &c) : NULL;
  nb_free(xf);
  return out;
}

nb_tensor *nbk_norm(nb_tensor *x, double p, const int *dims, int ndims, bool keepdim) {
  NB_CHECK_NULL("norm", x);
  if (isnan(p)) return nb__fail_null(NB_ERR_ARG, "norm: p is NaN (input of shape %s)", nb__shp(x));
  rctx c = {.p = p};
  rop id = p == 1     ? R_NORM1
           : p == 2   ? R_NORM2
           : p == 0   ? R_NORM0
           : isinf(p) ? (p > 0 ? R_NORMINF : R_NORMNINF)
                      : R_NORMP;
  return reduce("norm", id, x, dims, ndims, keepdim, &c);
}

nb_tensor *nb_all(nb_tensor *x) { return reduce("all", R_ALL, x, NB_ALL_DIMS, false, &no_ctx); }

nb_tensor *nb_any(nb_tensor *x) { return reduce("any", R_ANY, x, NB_ALL_DIMS, false, &no_ctx); }

/* ---- arg-reductions ------------------------------------------------------- */

/* Values and first-occurrence indices of the max/min over dim (NB_NO_DIM: the
 * flattened tensor, whose keepdim shape is all ones). */
static nb_status arg_reduce(const char *op, rop id, nb_tensor *x, int dim, bool keepdim,
                            nb_tensor **values, nb_tensor **indices) {
  const reducer *r = find_reducer(op, id, x);
  if (!r) return NB_ERR_DTYPE;
  bool mask[NB_MAX_DIMS];
  nb_status st =
      dim == NB_NO_DIM ? parse_dims(op, x, NB_ALL_DIMS, mask) : parse_dims(op, x, &dim, 1, mask);
  if (st != NB_OK || (st = check_nonempty(op, r, x, mask)) != NB_OK) return st;
  int64_t shape[NB_MAX_DIMS];
  int nd = out_shape(x, mask, keepdim, shape);
  nb_tensor *v = nb__new(op, r->out, nd, shape);
  nb_tensor *i = v ? nb__new(op, NB_DTYPE_INT64, nd, shape) : NULL;
  if (!i || reduce_into(op, r, x, mask, true, v, i, &no_ctx) != NB_OK) {
    nb_free(i);
    nb_free(v);
    return nb_last_status();
  }
  if (values)
    *values = v;
  else
    nb_free(v);
  if (indices)
    *indices = i;
  else
    nb_free(i);
  return NB_OK;
}

static nb_status max_min_dim(const char *op, rop id, nb_tensor *x, int dim, bool keepdim,
                             nb_tensor **values, nb_tensor **indices) {
  if (values) *values = NULL;
  if (indices) *indices = NULL;
  NB_CHECK_NULL_STATUS(op, x);
  if (dim == NB_NO_DIM) /* a dim is required here */
    return nb__fail(NB_ERR_ARG, "%s: a dim is required (input of shape %s)", op, nb__shp(x));
  return arg_reduce(op, id, x, dim, keepdim, values, indices);
}

nb_status nbk_max_dim(nb_tensor *x, int dim, bool keepdim, nb_tensor **values,
                      nb_tensor **indices) {
  return max_min_dim("max", R_ARGMAX, x, dim, keepdim, values, indices);
}

nb_status nbk_min_dim(nb_tensor *x, int dim, bool keepdim, nb_tensor **values,
                      nb_tensor **indices) {
  return max_min_dim("min", R_ARGMIN, x, dim, keepdim, values, indices);
}

nb_tensor *nb_argmax(nb_tensor *x, int dim, bool keepdim) {
  NB_CHECK_NULL("argmax", x);
  nb_tensor *i = NULL;
  arg_reduce("argmax", R_ARGMAX, x, dim, keepdim, NULL, &i);
  return i;
}

nb_tensor *nb_argmin(nb_tensor *x, int dim, bool keepdim) {
  NB_CHECK_NULL("argmin", x);
  nb_tensor *i = NULL;
  arg_reduce("argmin", R_ARGMIN, x, dim, keepdim, NULL, &i);
  return i;
}

/* ---- along one dim: softmax, log_softmax, cumsum --------------------------- */

/* A line kernel: n elements of x (element stride xs) into y (stride ys). The
 * bodies are always_inline so the contiguous call (strides 1) specializes
 * into a vectorizable loop. */
typedef void (*line_fn)(const void *x, int64_t xs, void *y, int64_t ys, int64_t n);

#define INLINE static inline __attribute__((always_inline))
#define EXPT(v) _Generic((v), float : expf, default : exp)(v)

#define DEFINE_SOFTMAX(SFX, T)                                                                     \
  INLINE void softmax_##SFX##_body(const T *x, int64_t xs, T *y, int64_t ys, int64_t n,            \
                                   bool log_) {                                                    \
    T m = -INFINITY; /* a row of -inf, +inf or NaN gives NaN, as in torch */                       \
    for (int64_t i = 0; i < n; i++) FOLD_MAX(m, x[i * xs], 0);                                     \
    double sum = 0;                                                                                \
    if (log_) {                                                                                    \
      for (int64_t i = 0; i < n; i++) sum += EXPT((T)(x[i * xs] - m));                             \
      double lse = log(sum);                                                                       \
      for (int64_t i = 0; i < n; i++) y[i * ys] = (T)((double)(x[i * xs] - m) - lse);              \
    } else {                                                                                       \
      for (int64_t i = 0; i < n; i++) {                                                            \
        T e = EXPT((T)(x[i * xs] - m));                                                            \
        y[i * ys] = e;                                                                             \
        sum += e;                                                                                  \
      }                                                                                            \
      for (int64_t i = 0; i < n; i++) y[i * ys] = (T)(y[i * ys] / sum);                            \
    }                                                                                              \
  }                                                                                                \
  static void softmax_##SFX(const void *x, int64_t xs, void *y, int64_t ys, int64_t n) {           \
    if (xs == 1 && ys == 1)                                                                        \
      softmax_##SFX##_body(x, 1, y, 1, n, false);                                                  \
    else                                                                                           \
      softmax_##SFX##_body(x, xs, y, ys, n, false);                                                \
  }                                                                                                \
  static void log_softmax_##SFX(const void *x, int64_t xs, void *y, int64_t ys, int64_t n) {       \
    if (xs == 1 && ys == 1)                                                                        \
      softmax_##SFX##_body(x, 1, y, 1, n, true);                                                   \
    else                                                                                           \
      softmax_##SFX##_body(x, xs, y, ys, n, true);                                                 \
  }
DEFINE_SOFTMAX(f32, float)
DEFINE_SOFTMAX(f64, double)

/* Running sums accumulate in A (double for floats, wrapping uint64 for ints). */
#define DEFINE_CUMSUM(SFX, T, LD, A, O)                                                            \
  INLINE void cumsum_##SFX##_body(const T *x, int64_t xs, O *y, int64_t ys, int64_t n) {           \
    A acc = 0;                                                                                     \
    for (int64_t i = 0; i < n; i++) {                                                              \
      acc += (A)LD(x[i * xs]);                                                                     \
      y[i * ys] = (O)acc;                                                                          \
    }                                                                                              \
  }                                                                                                \
  static void cumsum_##SFX(const void *x, int64_t xs, void *y, int64_t ys, int64_t n) {            \
    if (xs == 1 && ys == 1)                                                                        \
      cumsum_##SFX##_body(x, 1, y, 1, n);                                                          \
    else                                                                                           \
      cumsum_##SFX##_body(x, xs, y, ys, n);                                                        \
  }
DEFINE_CUMSUM(f32, float, LD_SAME, double, float)
DEFINE_CUMSUM(f64, double, LD_SAME, double, double)
DEFINE_CUMSUM(i64, int64_t, LD_SAME, uint64_t, int64_t)
DEFINE_CUMSUM(b, uint8_t, LD_BOOL, uint64_t, int64_t)

typedef struct line_op {
  const char *name;
  line_fn fn[NB_DTYPE_COUNT];
  nb_dtype out[NB_DTYPE_COUNT];
} line_op;

static const line_op op_softmax = {
    "softmax", {[F32] = softmax_f32, [F64] = softmax_f64}, {[F32] = F32, [F64] = F64}};
static const line_op op_log_softmax = {
    "log_softmax", {[F32] = log_softmax_f32, [F64] = log_softmax_f64}, {[F32] = F32, [F64] = F64}};
static const line_op op_cumsum = {
    "cumsum",
    {[F32] = cumsum_f32, [F64] = cumsum_f64, [I64] = cumsum_i64, [BOOL] = cumsum_b},
    {[F32] = F32, [F64] = F64, [I64] = I64, [BOOL] = I64}};

/* Apply a line kernel to every line of x along dim, into a new contiguous
 * tensor; lines are independent, so they split across threads freely. */
static nb_tensor *along_dim(const line_op *op, nb_tensor *x, int dim) {
  NB_CHECK_NULL(op->name, x);
  line_fn fn = op->fn[x->dtype];
  if (!fn)
    return nb__fail_null(NB_ERR_DTYPE,
                         "%s: input of shape %s has dtype %s, which is not "
                         "supported (needs float32 or float64; convert with nbk_to)",
                         op->name, nb__shp(x), nb_dtype_name(x->dtype));
  int d = nb__wrap_dim(op->name, dim, x->ndim);
  if (d < 0) return NULL;
  nb_tensor *y = nb__new(op->name, op->out[x->dtype], x->ndim, x->shape);
  if (!y || y->numel == 0) return y;
  const bool zero_d = x->ndim == 0;
  const int64_t n = zero_d ? 1 : x->shape[d];
  const int64_t xs = zero_d ? 0 : x->strides[d], ys = zero_d ? 0 : y->strides[d];
  const int64_t xes = (int64_t)nb_dtype_size(x->dtype), yes = (int64_t)nb_dtype_size(y->dtype);
  /* The other dims, merged where both x and y step across them as one. */
  int64_t sh[NB_MAX_DIMS], xst[NB_MAX_DIMS], yst[NB_MAX_DIMS];
  int no = 0;
  for (int i = 0; i < x->ndim; i++) {
    if (i == d || x->shape[i] == 1) continue;
    int64_t xsi = x->strides[i] * xes, ysi = y->strides[i] * yes; /* bytes */
    if (no > 0 && xst[no - 1] == xsi * x->shape[i] && yst[no - 1] == ysi * x->shape[i]) {
      sh[no - 1] *= x->shape[i];
      xst[no - 1] = xsi;
      yst[no - 1] = ysi;
      continue;
    }
    sh[no] = x->shape[i];
    xst[no] = xsi;
    yst[no] = ysi;
    no++;
  }
  const int64_t lines = x->numel / n;
  const char *xb = nb__ptr(x, 0);
  char *yb = nb__ptr(y, 0);
  int nt = nb__threads_for(x->numel);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t lo, hi;
    my_share(lines, &lo, &hi);
    walker w;
    walk_start(&w, no, sh, xst, yst, lo);
    for (int64_t l = lo; l < hi; l++, walk_next(&w)) fn(xb + w.off0, xs, yb + w.off1, ys, n);
  }
  return y;
}

nb_tensor *nbk_softmax(nb_tensor *x, int dim) { return along_dim(&op_softmax, x, dim); }

nb_tensor *nbk_log_softmax(nb_tensor *x, int dim) { return along_dim(&op_log_softmax, x, dim); }

nb_tensor *nbk_cumsum(nb_tensor *x, int dim) { return along_dim(&op_cumsum, x, dim); }
