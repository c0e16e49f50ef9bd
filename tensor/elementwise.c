/* tensor/elementwise.c - elementwise kernels.
 *
 * Owns: the binary ops (add ... minimum) and their scalar forms, the unary
 * math and activation functions, clamp/floor/ceil/round, where, comparisons and
 * logic, and the in-place updates nb_add_ ... nb_clamp_.
 *
 * One mechanism runs them all: every op is a row of `ops` (arity, dtype rule)
 * and of `loops` (one typed inner loop per compute dtype, NULL where PyTorch
 * has no kernel), and apply() does the rest: PyTorch's result-type rule
 * (dimensioned tensors > 0-d tensors > scalars, bool < int64 < float32 <
 * float64), converting operands to the compute dtype, broadcasting, the
 * strided walk (nb_iter), and for in-place forms the cast check, aliasing and
 * the version bump. The public functions are one-line wrappers.
 *
 * Scalars arrive as double, so "is it an int?" is decided by value: an
 * integral scalar behaves like a Python int (int64 tensors stay int64), any
 * other like a Python float (int64 tensors give float32).
 */
#include "tensor/tensor_impl.h"

#include <string.h>
#include <tgmath.h>

/* ---- the ops ------------------------------------------------------------- */

/* Flags of an op's dtype rule. */
enum {
  TO_FLOAT = 1u,        /* integer/bool compute dtypes become float32 */
  CMP = 2u,             /* the output is bool, compared in the compute dtype */
  LOGICAL = 4u,         /* inputs are tested for nonzero: compute in bool */
  NO_BOOL = 8u,         /* a bool tensor operand is an error (PyTorch's sub) */
  PARAMS_PROMOTE = 16u, /* the op's scalar params take part in type promotion */
  COND = 32u            /* operand 0 is a condition (any dtype, nonzero = true) */
};

/* name, arity, flags */
#define OPS(X)                                                                                     \
  X(ADD, 2, 0)                                                                                     \
  X(SUB, 2, NO_BOOL)                                                                               \
  X(MUL, 2, 0)                                                                                     \
  X(DIV, 2, TO_FLOAT)                                                                              \
  X(POW, 2, 0)                                                                                     \
  X(MAX, 2, 0)                                                                                     \
  X(MIN, 2, 0)                                                                                     \
  X(EQ, 2, CMP)                                                                                    \
  X(NE, 2, CMP)                                                                                    \
  X(LT, 2, CMP)                                                                                    \
  X(LE, 2, CMP)                                                                                    \
  X(GT, 2, CMP)                                                                                    \
  X(GE, 2, CMP)                                                                                    \
  X(AND, 2, LOGICAL)                                                                               \
  X(OR, 2, LOGICAL)                                                                                \
  X(RELU_BW, 2, 0)                                                                                 \
  X(AXPY, 2, PARAMS_PROMOTE)                                                                       \
  X(ADDCMUL, 3, PARAMS_PROMOTE)                                                                    \
  X(ADDCDIV, 3, PARAMS_PROMOTE)                                                                    \
  X(WHERE, 3, COND)                                                                                \
  X(NEG, 1, 0)                                                                                     \
  X(EXP, 1, TO_FLOAT)                                                                              \
  X(LOG, 1, TO_FLOAT)                                                                              \
  X(LOG1P, 1, TO_FLOAT)                                                                            \
  X(EXPM1, 1, TO_FLOAT)                                                                            \
  X(SQRT, 1, TO_FLOAT)                                                                             \
  X(RSQRT, 1, TO_FLOAT)                                                                            \
  X(ABS, 1, 0)                                                                                     \
  X(SIGN, 1, 0)                                                                                    \
  X(SIN, 1, TO_FLOAT)                                                                              \
  X(COS, 1, TO_FLOAT)                                                                              \
  X(TANH, 1, TO_FLOAT)                                                                             \
  X(SIGMOID, 1, TO_FLOAT)                                                                          \
  X(RELU, 1, 0)                                                                                    \
  X(GELU, 1, 0)                                                                                    \
  X(GELU_TANH, 1, 0)                                                                               \
  X(SILU, 1, 0)                                                                                    \
  X(SOFTPLUS, 1, 0)                                                                                \
  X(LEAKY_RELU, 1, 0)                                                                              \
  X(ELU, 1, 0)                                                                                     \
  X(CLAMP, 1, PARAMS_PROMOTE)                                                                      \
  X(FLOOR, 1, 0)                                                                                   \
  X(CEIL, 1, 0)                                                                                    \
  X(ROUND, 1, 0)

#define AS_ENUM(NAME, ARITY, FLAGS) OP_##NAME,
typedef enum op { OPS(AS_ENUM) OP_COUNT } op;
#undef AS_ENUM

static const struct {
  int arity;
  unsigned flags;
} ops[OP_COUNT] = {
#define AS_INFO(NAME, ARITY, FLAGS) [OP_##NAME] = {ARITY, FLAGS},
    OPS(AS_INFO)
#undef AS_INFO
};

/* Scalar parameters of an op (alpha, beta, bounds...). Float loops read p;
 * int64 loops read ip, where a NaN (absent) param 0 / 1 reads as the lowest /
 * highest int64 (clamp's open bounds). */
#define MAX_PARAMS 2
typedef struct {
  double p[MAX_PARAMS];
  int64_t ip[MAX_PARAMS];
} op_params;

/* ---- typed inner loops --------------------------------------------------- */
/* Each loop body is written once as an expression of x (y, z) of type T and
 * the params P0, P1 (also of type T); <tgmath.h> picks expf for float and exp
 * for double. The contiguous branches are plain indexed loops the compiler
 * vectorizes; a stride-0 operand (a scalar) is hoisted out of the loop. */

/* clang-format off */
#define PARAM(c, k)                                                                                \
  _Generic((T)0, float: (float)(c)->p[k], double: (c)->p[k], int64_t: (c)->ip[k],                  \
                 uint8_t: (uint8_t)((c)->ip[k] != 0))
/* clang-format on */

#define LOOP_PROLOGUE(TYPE)                                                                        \
  typedef TYPE T;                                                                                  \
  const op_params *c_ = vctx;                                                                      \
  const T P0 = PARAM(c_, 0), P1 = PARAM(c_, 1);                                                    \
  (void)P0;                                                                                        \
  (void)P1

#define LOOP1(NAME, TYPE, EXPR)                                                                    \
  static void NAME(char **p, const int64_t *s, int64_t n, void *vctx) {                            \
    LOOP_PROLOGUE(TYPE);                                                                           \
    if (s[0] == (int64_t)sizeof(T) && s[1] == (int64_t)sizeof(T)) {                                \
      T *o = (T *)p[0];                                                                            \
      const T *xv = (const T *)p[1];                                                               \
      for (int64_t i = 0; i < n; i++) {                                                            \
        const T x = xv[i];                                                                         \
        o[i] = (T)(EXPR);                                                                          \
      }                                                                                            \
    } else {                                                                                       \
      char *o = p[0];                                                                              \
      const char *xp = p[1];                                                                       \
      for (int64_t i = 0; i < n; i++, o += s[0], xp += s[1]) {                                     \
        const T x = *(const T *)xp;                                                                \
        *(T *)o = (T)(EXPR);                                                                       \
      }                                                                                            \
    }                                                                                              \
  }

#define LOOP2(NAME, OUT, TYPE, EXPR)                                                               \
  static void NAME(char **p, const int64_t *s, int64_t n, void *vctx) {                            \
    LOOP_PROLOGUE(TYPE);                                                                           \
    OUT *o = (OUT *)p[0];                                                                          \
    const T *xv = (const T *)p[1], *yv = (const T *)p[2];                                          \
    const int64_t so = (int64_t)sizeof(OUT), st = (int64_t)sizeof(T);                              \
    if (s[0] == so && s[1] == st && s[2] == st) {                                                  \
      for (int64_t i = 0; i < n; i++) {                                                            \
        const T x = xv[i], y = yv[i];                                                              \
        o[i] = (OUT)(EXPR);                                                                        \
      }                                                                                            \
    } else if (s[0] == so && s[1] == st && s[2] == 0) {                                            \
      const T y = yv[0];                                                                           \
      for (int64_t i = 0; i < n; i++) {                                                            \
        const T x = xv[i];                                                                         \
        o[i] = (OUT)(EXPR);                                                                        \
      }                                                                                            \
    } else if (s[0] == so && s[1] == 0 && s[2] == st) {                                            \
      const T x = xv[0];                                                                           \
      for (int64_t i = 0; i < n; i++) {                                                            \
        const T y = yv[i];                                                                         \
        o[i] = (OUT)(EXPR);                                                                        \
      }                                                                                            \
    } else {                                                                                       \
      char *op_ = p[0];                                                                            \
      const char *xp = p[1], *yp = p[2];                                                           \
      for (int64_t i = 0; i < n; i++, op_ += s[0], xp += s[1], yp += s[2]) {                       \
        const T x = *(const T *)xp, y = *(const T *)yp;                                            \
        *(OUT *)op_ = (OUT)(EXPR);                                                                 \
      }                                                                                            \
    }                                                                                              \
  }

/* One contiguous-output run of LOOP3 where operand k steps by K* elements (1)
 * or stays put (0, a broadcast scalar): the literal multipliers let the
 * compiler hoist the scalars and vectorize the rest. */
#define LOOP3_RUN(KX, KY, KZ, EXPR)                                                                \
  for (int64_t i = 0; i < n; i++) {                                                                \
    const TXT x = xv[i * (KX)];                                                                    \
    const T y = yv[i * (KY)], z = zv[i * (KZ)];                                                    \
    o[i] = (T)(EXPR);                                                                              \
  }                                                                                                \
  break

/* Operand types may differ here (where's condition is bool). A contiguous
 * output with each input contiguous or a scalar takes one of 8 specialized
 * runs; anything else the strided loop. */
#define LOOP3(NAME, TYPE, TX, EXPR)                                                                \
  static void NAME(char **p, const int64_t *s, int64_t n, void *vctx) {                            \
    LOOP_PROLOGUE(TYPE);                                                                           \
    const int64_t st = (int64_t)sizeof(T), sx = (int64_t)sizeof(TX);                               \
    if (s[0] == st && (s[1] == sx || s[1] == 0) && (s[2] == st || s[2] == 0) &&                    \
        (s[3] == st || s[3] == 0)) {                                                               \
      T *o = (T *)p[0];                                                                            \
      typedef TX TXT;                                                                              \
      const TXT *xv = (const TXT *)p[1];                                                           \
      const T *yv = (const T *)p[2], *zv = (const T *)p[3];                                        \
      switch ((s[1] == 0) * 4 + (s[2] == 0) * 2 + (s[3] == 0)) {                                   \
      case 0: LOOP3_RUN(1, 1, 1, EXPR);                                                            \
      case 1: LOOP3_RUN(1, 1, 0, EXPR);                                                            \
      case 2: LOOP3_RUN(1, 0, 1, EXPR);                                                            \
      case 3: LOOP3_RUN(1, 0, 0, EXPR);                                                            \
      case 4: LOOP3_RUN(0, 1, 1, EXPR);                                                            \
      case 5: LOOP3_RUN(0, 1, 0, EXPR);                                                            \
      case 6: LOOP3_RUN(0, 0, 1, EXPR);                                                            \
      default: LOOP3_RUN(0, 0, 0, EXPR);                                                           \
      }                                                                                            \
    } else {                                                                                       \
      char *o = p[0];                                                                              \
      const char *xp = p[1], *yp = p[2], *zp = p[3];                                               \
      for (int64_t i = 0; i < n; i++, o += s[0], xp += s[1], yp += s[2], zp += s[3]) {             \
        const TX x = *(const TX *)xp;                                                              \
        const T y = *(const T *)yp, z = *(const T *)zp;                                            \
        *(T *)o = (T)(EXPR);                                                                       \
      }                                                                                            \
    }                                                                                              \
  }

/* float32 and float64 instances of one expression, with AVX2 clones
 * (NB_HOT_LOOP: the same bits, twice the vector width). */
#define FLOAT1(NAME, EXPR)                                                                         \
  NB_HOT_LOOP LOOP1(NAME##_f32, float, EXPR)                                                       \
  NB_HOT_LOOP LOOP1(NAME##_f64, double, EXPR)
#define FLOAT2(NAME, OUT, EXPR)                                                                    \
  NB_HOT_LOOP LOOP2(NAME##_f32, OUT, float, EXPR)                                                  \
  NB_HOT_LOOP LOOP2(NAME##_f64, OUT, double, EXPR)
#define FLOAT3(NAME, TX, EXPR)                                                                     \
  NB_HOT_LOOP LOOP3(NAME##_f32, float, TX, EXPR)                                                   \
  NB_HOT_LOOP LOOP3(NAME##_f64, double, TX, EXPR)
/* Every dtype: float32, float64, int64, bool. */
#define ALL2(NAME, OUT, EXPR)                                                                      \
  FLOAT2(NAME, OUT, EXPR) LOOP2(NAME##_i64, OUT, int64_t, EXPR) LOOP2(NAME##_b, OUT, uint8_t, EXPR)

/* int64 arithmetic wraps around on overflow, as in PyTorch (no UB here). */
static inline int64_t wrap_add(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a + (uint64_t)b);
}
static inline int64_t wrap_sub(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a - (uint64_t)b);
}
static inline int64_t wrap_mul(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a * (uint64_t)b);
}
/* Integer power as PyTorch: negative exponents give 0 except for bases 1, -1. */
static inline int64_t int_pow(int64_t base, int64_t e) {
  if (e < 0) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
  uint64_t r = 1, b = (uint64_t)base;
  for (; e; e >>= 1, b *= b)
    if (e & 1) r *= b;
  return (int64_t)r;
}

/* sqrt(2/pi), 1/sqrt(2) */
#define K_SQRT_2_PI 0.79788456080286535587989211986876
#define K_SQRT1_2 0.70710678118654752440084436210485

/* (clang-format would take `x * y` in these macro arguments for a declaration.) */
/* clang-format off */

/* binary arithmetic */
FLOAT2(add, T, x + y)
FLOAT2(sub, T, x - y)
FLOAT2(mul, T, x * y)
FLOAT2(div, T, x / y)
FLOAT2(pow, T, pow(x, y))
FLOAT2(axpy, T, x + P0 * y)
LOOP2(add_i64, int64_t, int64_t, wrap_add(x, y))
LOOP2(sub_i64, int64_t, int64_t, wrap_sub(x, y))
LOOP2(mul_i64, int64_t, int64_t, wrap_mul(x, y))
LOOP2(pow_i64, int64_t, int64_t, int_pow(x, y))
LOOP2(axpy_i64, int64_t, int64_t, wrap_add(x, wrap_mul(P0, y)))
LOOP2(add_b, uint8_t, uint8_t, x || y)
LOOP2(mul_b, uint8_t, uint8_t, x && y)
/* NaN-propagating max/min; otherwise std::max / std::min (max(0, -0) = 0). */
ALL2(max, T, (x < y || y != y) ? y : x)
ALL2(min, T, (y < x || y != y) ? y : x)
/* comparisons and logic */
ALL2(eq, uint8_t, x == y)
ALL2(ne, uint8_t, x != y)
ALL2(lt, uint8_t, x < y)
ALL2(le, uint8_t, x <= y)
ALL2(gt, uint8_t, x > y)
ALL2(ge, uint8_t, x >= y)
LOOP2(and_b, uint8_t, uint8_t, x && y)
LOOP2(or_b, uint8_t, uint8_t, x || y)
/* relu's backward: x the gradient, y relu's output; a NaN y passes x through. */
FLOAT2(relu_bw, T, y <= 0 ? 0 : x)
LOOP2(relu_bw_i64, int64_t, int64_t, y <= 0 ? 0 : x)

/* ternary */
FLOAT3(addcmul, T, x + P0 * y * z)
LOOP3(addcmul_i64, int64_t, int64_t, wrap_add(x, wrap_mul(wrap_mul(P0, y), z)))
FLOAT3(addcdiv, T, x + P0 * y / z)
FLOAT3(where, uint8_t, x ? y : z)
LOOP3(where_i64, int64_t, uint8_t, x ? y : z)
LOOP3(where_b, uint8_t, uint8_t, x ? y : z)

/* unary */
FLOAT1(neg, -x)
FLOAT1(exp, exp(x))
FLOAT1(log, log(x))
FLOAT1(log1p, log1p(x))
FLOAT1(expm1, expm1(x))
FLOAT1(sqrt, sqrt(x))
FLOAT1(rsqrt, 1 / sqrt(x))
FLOAT1(abs, fabs(x))
FLOAT1(sign, (x > 0) - (x < 0)) /* sign(NaN) = 0 as in PyTorch */
FLOAT1(sin, sin(x))
FLOAT1(cos, cos(x))
FLOAT1(tanh, tanh(x))
/* exp of a non-positive number only: no overflow for large |x|. */
FLOAT1(sigmoid, x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)))
FLOAT1(relu, x < 0 ? 0 : x) /* keeps NaN and -0 */
FLOAT1(gelu, x * (T)0.5 * (1 + erf(x * (T)K_SQRT1_2)))
FLOAT1(gelu_tanh, (T)0.5 * x * (1 + tanh((T)K_SQRT_2_PI * (x + (T)0.044715 * (x * x * x)))))
FLOAT1(silu, x / (1 + exp(-x)))
FLOAT1(softplus, x * P0 > P1 ? x : log1p(exp(x * P0)) / P0) /* P0 beta, P1 threshold */
FLOAT1(leaky_relu, x > 0 ? x : x * P0)
FLOAT1(elu, x > 0 ? x : P0 * expm1(x))
FLOAT1(clamp, x < P0 ? P0 : x > P1 ? P1 : x) /* NaN bounds never compare: absent */
FLOAT1(floor, floor(x))
FLOAT1(ceil, ceil(x))
FLOAT1(round, nearbyint(x)) /* half to even in the default rounding mode */
LOOP1(neg_i64, int64_t, wrap_sub(0, x))
LOOP1(abs_i64, int64_t, x < 0 ? wrap_sub(0, x) : x)
LOOP1(sign_i64, int64_t, (x > 0) - (x < 0))
LOOP1(relu_i64, int64_t, x < 0 ? 0 : x)
LOOP1(clamp_i64, int64_t, x < P0 ? P0 : x > P1 ? P1 : x)
LOOP1(copy_i64, int64_t, x)
LOOP1(copy_b, uint8_t, x)
/* clang-format on */

#define F32 NB_DTYPE_FLOAT32
#define F64 NB_DTYPE_FLOAT64
#define I64 NB_DTYPE_INT64
#define BOOL NB_DTYPE_BOOL
#define FLOATS(NAME) [F32] = NAME##_f32, [F64] = NAME##_f64
#define ALL(NAME) FLOATS(NAME), [I64] = NAME##_i64, [BOOL] = NAME##_b

/* Inner loop per op and compute dtype; NULL = not supported (PyTorch has no
 * kernel either), e.g. gelu of int64, neg of bool. */
static const nb_iter_fn loops[OP_COUNT][NB_DTYPE_COUNT] = {
    [OP_ADD] = {FLOATS(add), [I64] = add_i64, [BOOL] = add_b},
    [OP_SUB] = {FLOATS(sub), [I64] = sub_i64},
    [OP_MUL] = {FLOATS(mul), [I64] = mul_i64, [BOOL] = mul_b},
    [OP_DIV] = {FLOATS(div)},
    [OP_POW] = {FLOATS(pow), [I64] = pow_i64},
    [OP_MAX] = {ALL(max)},
    [OP_MIN] = {ALL(min)},
    [OP_EQ] = {ALL(eq)},
    [OP_NE] = {ALL(ne)},
    [OP_LT] = {ALL(lt)},
    [OP_LE] = {ALL(le)},
    [OP_GT] = {ALL(gt)},
    [OP_GE] = {ALL(ge)},
    [OP_AND] = {[BOOL] = and_b},
    [OP_OR] = {[BOOL] = or_b},
    [OP_RELU_BW] = {FLOATS(relu_bw), [I64] = relu_bw_i64},
    [OP_AXPY] = {FLOATS(axpy), [I64] = axpy_i64},
    [OP_ADDCMUL] = {FLOATS(addcmul), [I64] = addcmul_i64},
    [OP_ADDCDIV] = {FLOATS(addcdiv)},
    [OP_WHERE] = {ALL(where)},
    [OP_NEG] = {FLOATS(neg), [I64] = neg_i64},
    [OP_EXP] = {FLOATS(exp)},
    [OP_LOG] = {FLOATS(log)},
    [OP_LOG1P] = {FLOATS(log1p)},
    [OP_EXPM1] = {FLOATS(expm1)},
    [OP_SQRT] = {FLOATS(sqrt)},
    [OP_RSQRT] = {FLOATS(rsqrt)},
    [OP_ABS] = {FLOATS(abs), [I64] = abs_i64},
    [OP_SIGN] = {FLOATS(sign), [I64] = sign_i64, [BOOL] = copy_b},
    [OP_SIN] = {FLOATS(sin)},
    [OP_COS] = {FLOATS(cos)},
    [OP_TANH] = {FLOATS(tanh)},
    [OP_SIGMOID] = {FLOATS(sigmoid)},
    [OP_RELU] = {FLOATS(relu), [I64] = relu_i64},
    [OP_GELU] = {FLOATS(gelu)},
    [OP_GELU_TANH] = {FLOATS(gelu_tanh)},
    [OP_SILU] = {FLOATS(silu)},
    [OP_SOFTPLUS] = {FLOATS(softplus)},
    [OP_LEAKY_RELU] = {FLOATS(leaky_relu)},
    [OP_ELU] = {FLOATS(elu)},
    [OP_CLAMP] = {FLOATS(clamp), [I64] = clamp_i64},
    [OP_FLOOR] = {FLOATS(floor), [I64] = copy_i64},
    [OP_CEIL] = {FLOATS(ceil), [I64] = copy_i64},
    [OP_ROUND] = {FLOATS(round), [I64] = copy_i64},
};
_Static_assert(sizeof loops / sizeof loops[0] == OP_COUNT, "one row of loops per op");

/* ---- type promotion ------------------------------------------------------ */

#define NO_DTYPE (-1)

static int category(int dtype) { return dtype == BOOL ? 0 : dtype == I64 ? 1 : 2; }

static int promote(int a, int b) {
  return a == NO_DTYPE ? b : b == NO_DTYPE ? a : (int)nb_promote_types(a, b);
}

/* PyTorch's combine_categories: a lower-priority group only matters when it
 * is of a higher category (bool < integer < floating). */
static int combine(int higher, int lower) {
  if (higher != NO_DTYPE && nb_dtype_is_floating(higher)) return higher;
  if (higher == BOOL || (lower != NO_DTYPE && nb_dtype_is_floating(lower)))
    return promote(higher, lower);
  return higher != NO_DTYPE ? higher : lower;
}

static bool is_integral(double s) { return isfinite(s) && s == floor(s); }

static bool fits_int64(double s) {
  return s >= -9223372036854775808.0 && s < 9223372036854775808.0;
}

/* ---- the driver ---------------------------------------------------------- */

/* One call: up to 3 operands, each a tensor or a scalar, and the params. */
typedef struct {
  const char *name;
  op op;
  nb_tensor *t[3];  /* tensor operands */
  double s[3];      /* scalar operands' values */
  unsigned scalars; /* bit i: operand i is the scalar s[i] */
  int nparams;
  double p[MAX_PARAMS];
} call;

static bool is_scalar(const call *c, int i) { return (c->scalars >> i) & 1u; }

/* The result dtype over the operands (skipping a condition) and, for
 * PARAMS_PROMOTE ops, the non-NaN params: dimensioned tensors > 0-d tensors >
 * scalars (integral scalars count as int64, others as float32). */
static int result_type(const call *c) {
  const unsigned flags = ops[c->op].flags;
  int dim = NO_DTYPE, zero = NO_DTYPE, wrapped = NO_DTYPE;
  for (int i = (flags & COND) ? 1 : 0; i < ops[c->op].arity; i++) {
    if (is_scalar(c, i))
      wrapped = promote(wrapped, is_integral(c->s[i]) ? I64 : F32);
    else if (c->t[i]->ndim == 0)
      zero = promote(zero, c->t[i]->dtype);
    else
      dim = promote(dim, c->t[i]->dtype);
  }
  if (flags & PARAMS_PROMOTE)
    for (int k = 0; k < c->nparams; k++)
      if (!isnan(c->p[k])) wrapped = promote(wrapped, is_integral(c->p[k]) ? I64 : F32);
  return combine(dim, combine(zero, wrapped));
}

/* The compute dtype of the call, or NO_DTYPE after recording an error. */
static int compute_dtype(const call *c) {
  const unsigned flags = ops[c->op].flags;
  if (flags & NO_BOOL)
    for (int i = 0; i < ops[c->op].arity; i++)
      if (!is_scalar(c, i) && c->t[i]->dtype == BOOL)
        return nb__fail(NB_ERR_DTYPE,
                        "%s: not supported for a bool tensor (operand %d of shape %s); use "
                        "logical_not or logical ops on masks",
                        c->name, i, nb__shp(c->t[i])),
               NO_DTYPE;
  int ct = (flags & LOGICAL) ? BOOL : result_type(c);
  if ((flags & TO_FLOAT) && !nb_dtype_is_floating(ct)) ct = F32;
  if (!loops[c->op][ct])
    return nb__fail(NB_ERR_DTYPE, "%s: not supported for dtype %s", c->name, nb_dtype_name(ct)),
           NO_DTYPE;
  if (ct == I64 || ct == BOOL) {
    for (int i = 0; i < ops[c->op].arity; i++)
      if (is_scalar(c, i) && !fits_int64(c->s[i]))
        return nb__fail(NB_ERR_ARG, "%s: scalar %g does not fit int64", c->name, c->s[i]), NO_DTYPE;
    for (int k = 0; k < c->nparams; k++)
      if (!isnan(c->p[k]) && !fits_int64(c->p[k]))
        return nb__fail(NB_ERR_ARG, "%s: scalar %g does not fit int64", c->name, c->p[k]), NO_DTYPE;
  }
  if (c->op == OP_ADDCDIV && !nb_dtype_is_floating(c->t[1]->dtype) &&
      !nb_dtype_is_floating(c->t[2]->dtype))
    return nb__fail(NB_ERR_DTYPE,
                    "%s: integer division is not supported (a is %s, b is %s); convert a or b "
                    "to a floating dtype",
                    c->name, nb_dtype_name(c->t[1]->dtype), nb_dtype_name(c->t[2]->dtype)),
           NO_DTYPE;
  if (c->op == OP_POW && ct == I64 && is_scalar(c, 1) && c->s[1] < 0)
    return nb__fail(NB_ERR_ARG, "%s: integers to negative integer powers are not allowed (%g)",
                    c->name, c->s[1]),
           NO_DTYPE;
  return ct;
}

static bool same_layout(const nb_tensor *a, const nb_tensor *b) {
  if (a->storage != b->storage || a->offset != b->offset || a->ndim != b->ndim) return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d] || (a->shape[d] > 1 && a->strides[d] != b->strides[d]))
      return false;
  return true;
}

/* Operand i as a tensor of `dtype` readable while `dst` is written: a new
 * reference in *tmp when it had to be made (scalar, conversion, or a copy of
 * an input overlapping dst differently), else the operand itself. */
static nb_tensor *operand(const call *c, int i, int dtype, const nb_tensor *dst, nb_tensor **tmp) {
  *tmp = NULL;
  nb_tensor *t = c->t[i];
  if (is_scalar(c, i))
    *tmp = nb_scalar((nb_dtype)dtype, c->s[i]);
  else if (t->dtype != (nb_dtype)dtype)
    *tmp = nbk_to(t, (nb_dtype)dtype);
  else if (dst && t->storage == dst->storage && !same_layout(t, dst))
    *tmp = nbk_clone(t);
  else
    return t;
  return *tmp;
}

/* Run the call. dst NULL: into a new tensor of the broadcast shape, returned in
 * *result. Else in place into dst (which must be operand 0): the operands must
 * broadcast to dst's shape and the result dtype cast to dst's. */
static nb_status apply(const call *c, nb_tensor *dst, nb_tensor **result) {
  const int arity = ops[c->op].arity;
  for (int i = 0; i < arity; i++)
    if (!is_scalar(c, i) && !c->t[i]) return nb__null_input(c->name);
  const int ct = compute_dtype(c);
  if (ct == NO_DTYPE) return nb_last_status();
  const nb_dtype out_dtype = (ops[c->op].flags & CMP) ? BOOL : (nb_dtype)ct;

  /* The broadcast shape of the tensor operands. */
  int ndim = 0;
  int64_t shape[NB_MAX_DIMS];
  for (int i = 0; i < arity; i++) {
    if (is_scalar(c, i)) continue;
    nb_status st =
        nb__broadcast_shapes(c->name, ndim, shape, c->t[i]->ndim, c->t[i]->shape, &ndim, shape);
    if (st != NB_OK) return st;
  }

  nb_tensor *out = NULL;
  if (dst) {
    if (ndim != dst->ndim || memcmp(shape, dst->shape, sizeof(int64_t) * (size_t)ndim) != 0) {
      char buf[160];
      return nb__fail(NB_ERR_SHAPE,
                      "%s: the operands broadcast to shape %s, not to the shape %s of the "
                      "tensor written in place",
                      c->name, nb__dims_str(ndim, shape, buf, sizeof buf), nb__shp(dst));
    }
    if (category(ct) > category(dst->dtype))
      return nb__fail(NB_ERR_DTYPE,
                      "%s: result type %s can't be cast to the %s tensor %s written "
                      "in place",
                      c->name, nb_dtype_name(ct), nb_dtype_name(dst->dtype), nb__shp(dst));
    for (int d = 0; d < dst->ndim; d++)
      if (dst->strides[d] == 0 && dst->shape[d] > 1)
        return nb__fail(NB_ERR_ARG,
                        "%s: the tensor %s written in place is expanded (stride 0 at dim %d); "
                        "clone it first",
                        c->name, nb__shp(dst), d);
    /* Write straight into dst unless the result needs rounding from a wider
     * dtype (float64 into float32): then compute aside and copy. */
    out = ct == (int)dst->dtype ? dst : nb__new(c->name, (nb_dtype)ct, ndim, shape);
  } else {
    out = nb__new(c->name, out_dtype, ndim, shape);
  }
  if (!out) return nb_last_status();

  nb_tensor *args[1 + 3] = {out}, *tmps[3] = {NULL, NULL, NULL};
  nb_status st = NB_OK;
  for (int i = 0; i < arity && st == NB_OK; i++) {
    int dtype = (i == 0 && (ops[c->op].flags & COND)) ? BOOL : ct;
    args[1 + i] = operand(c, i, dtype, out == dst ? dst : NULL, &tmps[i]);
    if (!args[1 + i]) st = nb_last_status();
  }
  nb_iter it;
  if (st == NB_OK) st = nb__iter_init(&it, c->name, 1 + arity, args);
  if (st == NB_OK) {
    op_params prm = {{0}, {0}};
    for (int k = 0; k < c->nparams; k++) {
      prm.p[k] = c->p[k];
      prm.ip[k] = isnan(c->p[k])        ? (k == 0 ? INT64_MIN : INT64_MAX)
                  : fits_int64(c->p[k]) ? (int64_t)c->p[k]
                                        : 0;
    }
    it.write_only = true;
    nb__iter_run(&it, loops[c->op][ct], &prm, true);
  }
  for (int i = 0; i < 3; i++) nb_free(tmps[i]);

  if (!dst) {
    if (st != NB_OK)
      nb_free(out);
    else
      *result = out;
    return st;
  }
  if (out != dst) {
    if (st == NB_OK) st = nb_copy_(dst, out); /* bumps dst's version */
    nb_free(out);
  } else if (st == NB_OK) {
    nb__bump_version(dst);
  }
  return st;
}

static nb_tensor *make(call c) {
  nb_tensor *out = NULL;
  return apply(&c, NULL, &out) == NB_OK ? out : NULL;
}

/* In place into operand 0 (apply checks it for NULL like the others). */
static nb_status inplace(call c) { return apply(&c, c.t[0], NULL); }

/* Call builders. */
#define TENSORS(...) .t = {__VA_ARGS__}
#define WITH_PARAMS(...)                                                                           \
  .nparams = (int)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)), .p = {__VA_ARGS__}

static nb_tensor *binary(const char *name, op o, nb_tensor *a, nb_tensor *b) {
  return make((call){.name = name, .op = o, TENSORS(a, b)});
}
/* x op s, or s op x when reversed. */
static nb_tensor *binary_scalar(const char *name, op o, nb_tensor *x, double s, bool reversed) {
  call c = {.name = name, .op = o};
  int xi = reversed ? 1 : 0;
  c.t[xi] = x;
  c.s[1 - xi] = s;
  c.scalars = 1u << (1 - xi);
  return make(c);
}
static nb_tensor *unary(const char *name, op o, nb_tensor *x) {
  return make((call){.name = name, .op = o, TENSORS(x)});
}
static nb_tensor *unary_params(const char *name, op o, nb_tensor *x, double p0, double p1) {
  return make((call){.name = name, .op = o, TENSORS(x), .nparams = 2, .p = {p0, p1}});
}

/* ---- public: binary ------------------------------------------------------ */

nb_tensor *nbk_add(nb_tensor *a, nb_tensor *b) { return binary("add", OP_ADD, a, b); }
nb_tensor *nbk_sub(nb_tensor *a, nb_tensor *b) { return binary("sub", OP_SUB, a, b); }
nb_tensor *nbk_mul(nb_tensor *a, nb_tensor *b) { return binary("mul", OP_MUL, a, b); }
nb_tensor *nbk_div(nb_tensor *a, nb_tensor *b) { return binary("div", OP_DIV, a, b); }
nb_tensor *nbk_pow(nb_tensor *a, nb_tensor *b) { return binary("pow", OP_POW, a, b); }
nb_tensor *nbk_maximum(nb_tensor *a, nb_tensor *b) { return binary("maximum", OP_MAX, a, b); }
nb_tensor *nbk_minimum(nb_tensor *a, nb_tensor *b) { return binary("minimum", OP_MIN, a, b); }
nb_tensor *nbk_relu_backward(nb_tensor *grad, nb_tensor *y) {
  return binary("relu_backward", OP_RELU_BW, grad, y);
}

nb_tensor *nbk_add_scalar(nb_tensor *x, double s) {
  return binary_scalar("add_scalar", OP_ADD, x, s, false);
}
nb_tensor *nbk_sub_scalar(nb_tensor *x, double s) {
  return binary_scalar("sub_scalar", OP_SUB, x, s, false);
}
nb_tensor *nbk_rsub_scalar(nb_tensor *x, double s) {
  return binary_scalar("rsub_scalar", OP_SUB, x, s, true);
}
nb_tensor *nbk_mul_scalar(nb_tensor *x, double s) {
  return binary_scalar("mul_scalar", OP_MUL, x, s, false);
}
nb_tensor *nbk_div_scalar(nb_tensor *x, double s) {
  return binary_scalar("div_scalar", OP_DIV, x, s, false);
}
nb_tensor *nbk_rdiv_scalar(nb_tensor *x, double s) {
  return binary_scalar("rdiv_scalar", OP_DIV, x, s, true);
}
nb_tensor *nbk_pow_scalar(nb_tensor *x, double exponent) {
  return binary_scalar("pow_scalar", OP_POW, x, exponent, false);
}
nb_tensor *nbk_rpow_scalar(nb_tensor *x, double base) {
  return binary_scalar("rpow_scalar", OP_POW, x, base, true);
}

/* ---- public: unary ------------------------------------------------------- */

nb_tensor *nbk_neg(nb_tensor *x) { return unary("neg", OP_NEG, x); }
nb_tensor *nbk_exp(nb_tensor *x) { return unary("exp", OP_EXP, x); }
nb_tensor *nbk_log(nb_tensor *x) { return unary("log", OP_LOG, x); }
nb_tensor *nbk_log1p(nb_tensor *x) { return unary("log1p", OP_LOG1P, x); }
nb_tensor *nbk_expm1(nb_tensor *x) { return unary("expm1", OP_EXPM1, x); }
nb_tensor *nbk_sqrt(nb_tensor *x) { return unary("sqrt", OP_SQRT, x); }
nb_tensor *nbk_rsqrt(nb_tensor *x) { return unary("rsqrt", OP_RSQRT, x); }
nb_tensor *nbk_abs(nb_tensor *x) { return unary("abs", OP_ABS, x); }
nb_tensor *nbk_sign(nb_tensor *x) { return unary("sign", OP_SIGN, x); }
nb_tensor *nbk_sin(nb_tensor *x) { return unary("sin", OP_SIN, x); }
nb_tensor *nbk_cos(nb_tensor *x) { return unary("cos", OP_COS, x); }
nb_tensor *nbk_tanh(nb_tensor *x) { return unary("tanh", OP_TANH, x); }
nb_tensor *nbk_sigmoid(nb_tensor *x) { return unary("sigmoid", OP_SIGMOID, x); }
nb_tensor *nbk_relu(nb_tensor *x) { return unary("relu", OP_RELU, x); }
nb_tensor *nbk_gelu(nb_tensor *x, bool tanh_approx) {
  return tanh_approx ? unary("gelu", OP_GELU_TANH, x) : unary("gelu", OP_GELU, x);
}
nb_tensor *nbk_silu(nb_tensor *x) { return unary("silu", OP_SILU, x); }
nb_tensor *nbk_softplus(nb_tensor *x, double beta, double threshold) {
  return unary_params("softplus", OP_SOFTPLUS, x, beta, threshold);
}
nb_tensor *nbk_leaky_relu(nb_tensor *x, double negative_slope) {
  return unary_params("leaky_relu", OP_LEAKY_RELU, x, negative_slope, 0);
}
nb_tensor *nbk_elu(nb_tensor *x, double alpha) { return unary_params("elu", OP_ELU, x, alpha, 0); }
nb_tensor *nb_floor(nb_tensor *x) { return unary("floor", OP_FLOOR, x); }
nb_tensor *nb_ceil(nb_tensor *x) { return unary("ceil", OP_CEIL, x); }
nb_tensor *nb_round(nb_tensor *x) { return unary("round", OP_ROUND, x); }

/* Clamp's bounds: NaN = absent, at least one given; lo > hi clamps all to hi
 * (PyTorch's min(max(x, lo), hi)). NB_OK or an error naming op. */
static nb_status clamp_bounds(const char *name, double *lo, double *hi) {
  if (isnan(*lo) && isnan(*hi))
    return nb__fail(NB_ERR_ARG, "%s: at least one of lo and hi must be given (not NaN)", name);
  if (*lo > *hi) *lo = *hi;
  return NB_OK;
}

nb_tensor *nbk_clamp(nb_tensor *x, double lo, double hi) {
  NB_CHECK_NULL("clamp", x);
  if (clamp_bounds("clamp", &lo, &hi) != NB_OK) return NULL;
  return unary_params("clamp", OP_CLAMP, x, lo, hi);
}

nb_tensor *nbk_where(nb_tensor *cond, nb_tensor *a, nb_tensor *b) {
  return make((call){.name = "where", .op = OP_WHERE, TENSORS(cond, a, b)});
}

/* ---- public: comparisons and logic --------------------------------------- */

nb_tensor *nb_eq(nb_tensor *a, nb_tensor *b) { return binary("eq", OP_EQ, a, b); }
nb_tensor *nb_ne(nb_tensor *a, nb_tensor *b) { return binary("ne", OP_NE, a, b); }
nb_tensor *nb_lt(nb_tensor *a, nb_tensor *b) { return binary("lt", OP_LT, a, b); }
nb_tensor *nb_le(nb_tensor *a, nb_tensor *b) { return binary("le", OP_LE, a, b); }
nb_tensor *nb_gt(nb_tensor *a, nb_tensor *b) { return binary("gt", OP_GT, a, b); }
nb_tensor *nb_ge(nb_tensor *a, nb_tensor *b) { return binary("ge", OP_GE, a, b); }
nb_tensor *nb_eq_scalar(nb_tensor *x, double s) {
  return binary_scalar("eq_scalar", OP_EQ, x, s, false);
}
nb_tensor *nb_ne_scalar(nb_tensor *x, double s) {
  return binary_scalar("ne_scalar", OP_NE, x, s, false);
}
nb_tensor *nb_lt_scalar(nb_tensor *x, double s) {
  return binary_scalar("lt_scalar", OP_LT, x, s, false);
}
nb_tensor *nb_le_scalar(nb_tensor *x, double s) {
  return binary_scalar("le_scalar", OP_LE, x, s, false);
}
nb_tensor *nb_gt_scalar(nb_tensor *x, double s) {
  return binary_scalar("gt_scalar", OP_GT, x, s, false);
}
nb_tensor *nb_ge_scalar(nb_tensor *x, double s) {
  return binary_scalar("ge_scalar", OP_GE, x, s, false);
}
nb_tensor *nb_logical_and(nb_tensor *a, nb_tensor *b) {
  return binary("logical_and", OP_AND, a, b);
}
nb_tensor *nb_logical_or(nb_tensor *a, nb_tensor *b) { return binary("logical_or", OP_OR, a, b); }
/* x == 0 in x's own dtype (NaN counts as true, so its negation is false). */
nb_tensor *nb_logical_not(nb_tensor *x) {
  NB_CHECK_NULL("logical_not", x);
  return make((call){.name = "logical_not", .op = OP_EQ, TENSORS(x), .scalars = 2u});
}

/* ---- public: in place ---------------------------------------------------- */

nb_status nb_add_(nb_tensor *x, nb_tensor *other) {
  return inplace((call){.name = "add_", .op = OP_ADD, TENSORS(x, other)});
}
nb_status nb_sub_(nb_tensor *x, nb_tensor *other) {
  return inplace((call){.name = "sub_", .op = OP_SUB, TENSORS(x, other)});
}
nb_status nb_mul_(nb_tensor *x, nb_tensor *other) {
  return inplace((call){.name = "mul_", .op = OP_MUL, TENSORS(x, other)});
}
nb_status nb_div_(nb_tensor *x, nb_tensor *other) {
  return inplace((call){.name = "div_", .op = OP_DIV, TENSORS(x, other)});
}
nb_status nb_add_scalar_(nb_tensor *x, double s) {
  return inplace(
      (call){.name = "add_scalar_", .op = OP_ADD, TENSORS(x), .s = {0, s}, .scalars = 2u});
}
nb_status nb_mul_scalar_(nb_tensor *x, double s) {
  return inplace(
      (call){.name = "mul_scalar_", .op = OP_MUL, TENSORS(x), .s = {0, s}, .scalars = 2u});
}
nb_status nb_axpy_(nb_tensor *x, double alpha, nb_tensor *other) {
  return inplace((call){.name = "axpy_", .op = OP_AXPY, TENSORS(x, other), WITH_PARAMS(alpha)});
}
nb_status nb_addcmul_(nb_tensor *x, double value, nb_tensor *a, nb_tensor *b) {
  return inplace(
      (call){.name = "addcmul_", .op = OP_ADDCMUL, TENSORS(x, a, b), WITH_PARAMS(value)});
}
nb_status nb_addcdiv_(nb_tensor *x, double value, nb_tensor *a, nb_tensor *b) {
  return inplace(
      (call){.name = "addcdiv_", .op = OP_ADDCDIV, TENSORS(x, a, b), WITH_PARAMS(value)});
}
nb_status nb_clamp_(nb_tensor *x, double lo, double hi) {
  NB_CHECK_NULL_STATUS("clamp_", x);
  nb_status st = clamp_bounds("clamp_", &lo, &hi);
  if (st != NB_OK) return st;
  return inplace((call){.name = "clamp_", .op = OP_CLAMP, TENSORS(x), WITH_PARAMS(lo, hi)});
}
