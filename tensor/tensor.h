/* tensor/tensor.h - the public API of nabla's tensor layer.
 *
 * Owns: dtypes, errors, the tensor object (refcounted storage, views), memory
 * (scopes, caching allocator, counters), random generators, threads, and the
 * kernels (elementwise, reductions, BLIS matrix products, joining/indexing,
 * printing). Nothing here knows about gradients.
 *
 * Naming: functions named nbk_* are the raw kernels of ops that autograd makes
 * differentiable (autograd/autograd.h exposes them as nb_add, nb_matmul, ...);
 * they never record a graph. Everything else here is nb_* and has no
 * differentiable twin (creation, comparisons, argmax, in-place updates...).
 *
 * Conventions that hold for every function below unless its comment says
 * otherwise:
 *  - A function that makes a tensor returns a NEW reference, or NULL on error
 *    with nb_errmsg() describing the problem (op name and shapes).
 *  - Inside nb_scope_begin()/nb_scope_end(), new tensors are owned by the scope;
 *    outside any scope the caller owns them and releases them with nb_free().
 *  - Inputs are borrowed (never consumed). A NULL input makes the function
 *    return NULL (or NB_ERR_NULL) without overwriting an earlier error, so a
 *    chained expression can be checked once at the end.
 *  - `dim` arguments may be negative (counted from the end, as in PyTorch).
 *  - Functions that act return nb_status: NB_OK (0) or a negative code.
 *  - Never abort() or exit() on bad input.
 */
#ifndef NABLA_TENSOR_H
#define NABLA_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NB_API __attribute__((visibility("default")))

/* ---- dtypes ------------------------------------------------------------- */

typedef enum nb_dtype {
  NB_DTYPE_FLOAT32, /* the default dtype */
  NB_DTYPE_FLOAT64,
  NB_DTYPE_INT64, /* labels, indices */
  NB_DTYPE_BOOL,  /* masks; stored one byte per element */
  NB_DTYPE_COUNT
} nb_dtype;

/* Name as PyTorch spells it ("float32", ...); "invalid" for a bad value. */
NB_API const char *nb_dtype_name(nb_dtype dtype);
/* Bytes per element (0 for a bad value). */
NB_API size_t nb_dtype_size(nb_dtype dtype);
/* True for float32 and float64. */
NB_API bool nb_dtype_is_floating(nb_dtype dtype);
/* The dtype PyTorch's type promotion gives a binary op on a and b
 * (bool < int64 < float32 < float64). */
NB_API nb_dtype nb_promote_types(nb_dtype a, nb_dtype b);

/* ---- errors ------------------------------------------------------------- */

typedef enum nb_status {
  NB_OK = 0,
  NB_ERR_ARG = -1,     /* an argument is out of range or inconsistent */
  NB_ERR_SHAPE = -2,   /* shapes do not match / cannot broadcast */
  NB_ERR_DTYPE = -3,   /* dtype not supported by the op */
  NB_ERR_MEMORY = -4,  /* allocation failed or size overflowed */
  NB_ERR_IO = -5,      /* a file could not be read or written */
  NB_ERR_FORMAT = -6,  /* a file's content is malformed */
  NB_ERR_INDEX = -7,   /* an index is out of bounds */
  NB_ERR_STALE = -8,   /* a tensor saved for backward was modified in place */
  NB_ERR_GRAPH = -9,   /* misuse of the autograd graph (released, no grad) */
  NB_ERR_NULL = -10,   /* a NULL tensor was passed (an earlier op failed) */
  NB_ERR_NUMERIC = -11 /* NaN/Inf caught by anomaly mode */
} nb_status;

/* The calling thread's last error message ("" when none). Valid until the next
 * failing call on this thread. */
NB_API const char *nb_errmsg(void);
/* The calling thread's last error code (NB_OK when none). */
NB_API nb_status nb_last_status(void);
/* Forget the calling thread's last error. */
NB_API void nb_clear_error(void);
/* A short constant name for a status ("NB_ERR_SHAPE"). */
NB_API const char *nb_status_str(nb_status status);
/* Record an error (for users' own ops and modules, so their failures read like
 * nabla's). printf-style; returns `status` for `return nb_set_error(...)`. */
NB_API nb_status nb_set_error(nb_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Several problems collected into one message (e.g. every mismatch of a state
 * dict): zero-initialize, add problems, then report r.text. Items beyond the
 * text's space are only counted (hidden). status keeps the most severe code
 * seen, ranked NB_ERR_SHAPE > NB_ERR_DTYPE > anything else. */
typedef struct nb_problems {
  char text[800]; /* "item; item; ..." */
  size_t len;
  int count, hidden;
  nb_status status;
} nb_problems;
NB_API void nb_problems_add(nb_problems *p, nb_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the tensor object -------------------------------------------------- */

#define NB_MAX_DIMS 8
/* Marks "no dim" where a function takes an optional dim (all dims). */
#define NB_NO_DIM (-1000)

typedef struct nb_tensor nb_tensor;

/* A plain description of a tensor's memory for users' own kernels: `data`
 * points at element [0,...,0]; strides are in elements and may be 0 (broadcast)
 * or negative-free views of any layout. Valid while the tensor is alive. */
typedef struct nb_view {
  void *data;
  nb_dtype dtype;
  int ndim;
  const int64_t *shape;
  const int64_t *strides;
  int64_t numel;
} nb_view;

/* Shape literal helpers: nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3)). */
#define NB_SHAPE(...)                                                                              \
  (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]) { __VA_ARGS__ }
#define NB_SCALAR_SHAPE 0, NULL
/* Dim-list literal: nbk_sum(x, NB_DIMS(0, 1), false). NB_ALL_DIMS = every dim. */
#define NB_DIMS(...) (const int[]){__VA_ARGS__}, (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int))
#define NB_ALL_DIMS NULL, 0

/* Accessors. For a NULL tensor: nb_dtype_of gives NB_DTYPE_COUNT, nb_ndim /
 * nb_numel / nb_offset -1, nb_shape / nb_strides NULL, the others false or 0. */
NB_API nb_dtype nb_dtype_of(const nb_tensor *t);
NB_API int nb_ndim(const nb_tensor *t);
/* Pointer to ndim sizes, owned by the tensor. */
NB_API const int64_t *nb_shape(const nb_tensor *t);
/* Pointer to ndim strides (in elements), owned by the tensor. */
NB_API const int64_t *nb_strides(const nb_tensor *t);
/* Size / stride of one dim (negative dims allowed); -1 and an error if out of range. */
NB_API int64_t nb_size(const nb_tensor *t, int dim);
NB_API int64_t nb_stride(const nb_tensor *t, int dim);
NB_API int64_t nb_numel(const nb_tensor *t);
/* Element offset of the view into its storage. */
NB_API int64_t nb_offset(const nb_tensor *t);
/* True when the elements are laid out row-major without gaps. */
NB_API bool nb_is_contiguous(const nb_tensor *t);
/* The storage's version counter: bumped by every in-place write. */
NB_API uint64_t nb_version(const nb_tensor *t);
/* Mark t's storage as modified in place (for users' own kernels that write
 * through nb_data), so autograd detects stale saved tensors. */
NB_API void nb_bump_version(nb_tensor *t);
/* True when a and b share one storage (a is a view of b or vice versa). */
NB_API bool nb_shares_storage(const nb_tensor *a, const nb_tensor *b);
/* Pointer to element [0,...,0] (contiguous or not). NULL for a NULL tensor. */
NB_API void *nb_data(const nb_tensor *t);
/* Fill *view with the tensor's memory description; NB_ERR_NULL for NULL t. */
NB_API nb_status nb_view_of(const nb_tensor *t, nb_view *view);
/* The value of a tensor with exactly one element, as double; NaN and an error
 * otherwise. */
NB_API double nb_item(const nb_tensor *t);
/* The element at a full index (ndim entries), converted to double. NaN and
 * NB_ERR_INDEX when out of range. */
NB_API double nb_get(const nb_tensor *t, const int64_t *index);
/* Copy all elements in row-major logical order into dst as `dtype`; `count`
 * must equal nb_numel(t). */
NB_API nb_status nb_copy_out(const nb_tensor *t, nb_dtype dtype, void *dst, int64_t count);

/* ---- memory: references, scopes, allocator, counters -------------------- */

/* Add a reference; returns t. */
NB_API nb_tensor *nb_retain(nb_tensor *t);
/* Drop a reference (NULL is ignored). If t is owned by an open scope, the scope
 * forgets it, so freeing a scoped tensor early is safe. */
NB_API void nb_free(nb_tensor *t);
/* Open a scope on this thread: every tensor made until the matching
 * nb_scope_end() is released then. Scopes nest. */
NB_API void nb_scope_begin(void);
/* Close the innermost scope, releasing what it owns. NB_ERR_ARG if none open. */
NB_API nb_status nb_scope_end(void);
/* Take t out of its scope so it outlives it; the caller then owns that
 * reference (nb_free it later). No-op for unscoped tensors. Returns t. */
NB_API nb_tensor *nb_keep(nb_tensor *t);
/* Close the innermost scope like nb_scope_end, but hand `keep` (which may be
 * NULL) to the enclosing scope, or to the caller when no scope encloses it.
 * The way a function computes in a private scope and returns its result:
 *   nb_scope_begin(); ...; return nb_scope_end_keep(result); */
NB_API nb_tensor *nb_scope_end_keep(nb_tensor *keep);
/* Number of open scopes on this thread. */
NB_API int nb_scope_depth(void);

typedef struct nb_mem_stats {
  int64_t live_tensors;  /* tensor objects alive */
  int64_t live_storages; /* storages alive */
  int64_t bytes_in_use;  /* bytes of live storages (owned ones) */
  int64_t bytes_cached;  /* bytes held in the allocator's free lists */
  int64_t peak_bytes;    /* high-water mark of bytes_in_use */
  int64_t system_allocs; /* calls made to the underlying allocator so far */
  int64_t cache_hits;    /* storage requests served from the free lists */
} nb_mem_stats;
/* Copy the process-wide counters into *stats (NULL is ignored). */
NB_API void nb_mem_stats_get(nb_mem_stats *stats);

/* A user-pluggable allocator for storage memory. alloc must return memory
 * aligned to `align` (a power of two, 64) or NULL. */
typedef struct nb_allocator {
  void *(*alloc)(size_t bytes, size_t align, void *ctx);
  void (*free)(void *ptr, size_t bytes, void *ctx);
  void *ctx;
} nb_allocator;
/* Install an allocator (NULL restores the default aligned_alloc/free). Empties
 * the cache first; call it before making tensors. */
NB_API void nb_set_allocator(const nb_allocator *allocator);
/* Return every cached block to the underlying allocator. */
NB_API void nb_empty_cache(void);
/* Turn the caching allocator off (every free goes straight back) or on. Used to
 * make sanitizer builds see every allocation. Default on. */
NB_API void nb_set_caching(bool enabled);

/* ---- threads ------------------------------------------------------------ */

/* Set the threads used by nabla's OpenMP kernels and by BLIS (n >= 1). */
NB_API nb_status nb_set_num_threads(int n);
NB_API int nb_get_num_threads(void);

/* ---- random generators -------------------------------------------------- */

/* xoshiro256** seeded through splitmix64: the same numbers for a seed on every
 * machine and with any thread count (random fills are generated in order). */
typedef struct nb_generator nb_generator;
typedef struct nb_generator_state {
  uint64_t s[4];
  double cached_normal; /* second Box-Muller value, valid if has_cached */
  int has_cached;
} nb_generator_state;

/* New generator; free with nb_generator_free. NULL on allocation failure. */
NB_API nb_generator *nb_generator_new(uint64_t seed);
NB_API void nb_generator_free(nb_generator *g);
NB_API void nb_generator_seed(nb_generator *g, uint64_t seed);
NB_API void nb_generator_get_state(const nb_generator *g, nb_generator_state *state);
NB_API void nb_generator_set_state(nb_generator *g, const nb_generator_state *state);
/* The process-wide default generator, used wherever a function takes NULL. */
NB_API nb_generator *nb_default_generator(void);
/* Seed the default generator (torch.manual_seed). */
NB_API void nb_manual_seed(uint64_t seed);
/* Raw draws: 64 random bits; uniform double in [0,1); standard normal. */
NB_API uint64_t nb_generator_u64(nb_generator *g);
NB_API double nb_generator_uniform(nb_generator *g);
NB_API double nb_generator_normal(nb_generator *g);

/* ---- creation ------------------------------------------------------------- */

/* Uninitialised tensor of the given shape (ndim <= NB_MAX_DIMS, sizes >= 0). */
NB_API nb_tensor *nb_empty(nb_dtype dtype, int ndim, const int64_t *shape);
NB_API nb_tensor *nb_zeros(nb_dtype dtype, int ndim, const int64_t *shape);
NB_API nb_tensor *nb_ones(nb_dtype dtype, int ndim, const int64_t *shape);
NB_API nb_tensor *nb_full(nb_dtype dtype, int ndim, const int64_t *shape, double value);
/* 0-d tensor holding value. */
NB_API nb_tensor *nb_scalar(nb_dtype dtype, double value);
/* Values start, start+step, ... < end (as torch.arange). */
NB_API nb_tensor *nb_arange(nb_dtype dtype, double start, double end, double step);
/* `steps` evenly spaced values from start to end inclusive. */
NB_API nb_tensor *nb_linspace(nb_dtype dtype, double start, double end, int64_t steps);
/* n x m identity (m < 0 means m = n). */
NB_API nb_tensor *nb_eye(nb_dtype dtype, int64_t n, int64_t m);
/* Uniform [0,1), standard normal, normal(mean, std), and integers in [low, high)
 * (int64). g NULL = the default generator. */
NB_API nb_tensor *nb_rand(nb_dtype dtype, int ndim, const int64_t *shape, nb_generator *g);
NB_API nb_tensor *nb_randn(nb_dtype dtype, int ndim, const int64_t *shape, nb_generator *g);
NB_API nb_tensor *nb_normal(nb_dtype dtype, int ndim, const int64_t *shape, double mean, double std,
                            nb_generator *g);
NB_API nb_tensor *nb_uniform(nb_dtype dtype, int ndim, const int64_t *shape, double low,
                             double high, nb_generator *g);
NB_API nb_tensor *nb_randint(int64_t low, int64_t high, int ndim, const int64_t *shape,
                             nb_generator *g);
/* Random permutation of 0..n-1 (int64), Fisher-Yates. */
NB_API nb_tensor *nb_randperm(int64_t n, nb_generator *g);
/* 1 with probability p, else 0, in dtype. */
NB_API nb_tensor *nb_bernoulli(nb_dtype dtype, int ndim, const int64_t *shape, double p,
                               nb_generator *g);
/* Copy `numel(shape)` elements of `dtype` from a C array (row-major). */
NB_API nb_tensor *nb_from_data(nb_dtype dtype, const void *data, int ndim, const int64_t *shape);
/* Wrap user memory without copying (borrowed storage). strides NULL means
 * row-major. `release(data, ctx)` is called when the last view dies (may be
 * NULL). The caller keeps the memory valid until then. */
NB_API nb_tensor *nb_from_blob(nb_dtype dtype, void *data, int ndim, const int64_t *shape,
                               const int64_t *strides, void (*release)(void *data, void *ctx),
                               void *ctx);
/* Same shape as t, optionally another dtype (NB_DTYPE_COUNT keeps t's). */
NB_API nb_tensor *nb_empty_like(const nb_tensor *t, nb_dtype dtype);
NB_API nb_tensor *nb_zeros_like(const nb_tensor *t, nb_dtype dtype);
NB_API nb_tensor *nb_ones_like(const nb_tensor *t, nb_dtype dtype);
NB_API nb_tensor *nb_full_like(const nb_tensor *t, nb_dtype dtype, double value);
NB_API nb_tensor *nb_rand_like(const nb_tensor *t, nb_generator *g);
NB_API nb_tensor *nb_randn_like(const nb_tensor *t, nb_generator *g);

/* ---- views (no copy) and layout ------------------------------------------ */

/* Reshape; one size may be -1. Returns a view when the strides allow it, else
 * a contiguous copy (torch.reshape). */
NB_API nb_tensor *nbk_reshape(nb_tensor *x, int ndim, const int64_t *shape);
/* Like reshape but never copies: NB_ERR_SHAPE when not viewable (torch.view). */
NB_API nb_tensor *nbk_view(nb_tensor *x, int ndim, const int64_t *shape);
/* Merge dims start..end (inclusive) into one. */
NB_API nb_tensor *nbk_flatten(nb_tensor *x, int start_dim, int end_dim);
/* Split dim into the sizes given (one may be -1). */
NB_API nb_tensor *nbk_unflatten(nb_tensor *x, int dim, int nsizes, const int64_t *sizes);
/* Remove size-1 dim `dim`, or every size-1 dim when dim == NB_NO_DIM. */
NB_API nb_tensor *nbk_squeeze(nb_tensor *x, int dim);
/* Insert a size-1 dim at `dim` (in [-ndim-1, ndim]). */
NB_API nb_tensor *nbk_unsqueeze(nb_tensor *x, int dim);
NB_API nb_tensor *nbk_transpose(nb_tensor *x, int dim0, int dim1);
/* dims is a permutation of 0..ndim-1 (negatives allowed). */
NB_API nb_tensor *nbk_permute(nb_tensor *x, int ndim, const int *dims);
/* Transpose of a <= 2-D tensor. */
NB_API nb_tensor *nbk_t(nb_tensor *x);
/* x[start:end:step] along dim (Python slice rules: negative start/end count
 * from the end, out-of-range values clamp; step >= 1). */
NB_API nb_tensor *nbk_slice(nb_tensor *x, int dim, int64_t start, int64_t end, int64_t step);
/* length elements of dim starting at start (must fit). */
NB_API nb_tensor *nbk_narrow(nb_tensor *x, int dim, int64_t start, int64_t length);
/* x[..., index, ...]: removes dim. */
NB_API nb_tensor *nbk_select(nb_tensor *x, int dim, int64_t index);
/* Broadcast to shape (stride 0 on expanded dims); -1 keeps a size. */
NB_API nb_tensor *nbk_expand(nb_tensor *x, int ndim, const int64_t *shape);
NB_API nb_tensor *nbk_broadcast_to(nb_tensor *x, int ndim, const int64_t *shape);
/* Sliding windows of `size` every `step` along dim, as a new last dim. */
NB_API nb_tensor *nbk_unfold(nb_tensor *x, int dim, int64_t size, int64_t step);
/* Split into pieces of split_size along dim (the last may be smaller). Writes up
 * to `capacity` new references into out; returns the count, or a negative
 * nb_status (NB_ERR_ARG if capacity is too small). */
NB_API int nbk_split(nb_tensor *x, int64_t split_size, int dim, nb_tensor **out, int capacity);
/* Split into pieces of the given sizes (they must sum to the dim's size). */
NB_API int nbk_split_sizes(nb_tensor *x, int nsizes, const int64_t *sizes, int dim,
                           nb_tensor **out);
/* torch.chunk: up to `chunks` pieces of ceil(size/chunks). */
NB_API int nbk_chunk(nb_tensor *x, int chunks, int dim, nb_tensor **out, int capacity);
/* A new view of x (no copy) if x is contiguous, else a contiguous copy. */
NB_API nb_tensor *nbk_contiguous(nb_tensor *x);
/* Always a contiguous copy. */
NB_API nb_tensor *nbk_clone(nb_tensor *x);
/* Convert to dtype (a new view of x, no copy, when already that dtype). */
NB_API nb_tensor *nbk_to(nb_tensor *x, nb_dtype dtype);
/* Copy src into dst in place, broadcasting src to dst's shape and converting
 * the dtype; bumps dst's version. */
NB_API nb_status nb_copy_(nb_tensor *dst, nb_tensor *src);

/* ---- elementwise --------------------------------------------------------- */
/* Binary ops broadcast as NumPy/PyTorch and promote dtypes as PyTorch does
 * (bool < int64 < float32 < float64, where a tensor with dims outranks a 0-d
 * tensor, which outranks a scalar: float32 [n] + float64 0-d is float32).
 * Scalars act like Python numbers: an integral double keeps an int64 tensor
 * int64 (x * 2.0), a non-integral one makes it float32. div and the math
 * functions (exp, log, sin, sigmoid...) give float32 for integer inputs;
 * relu, abs, sign, neg, floor, ceil, round and clamp keep int64; gelu, silu,
 * softplus, leaky_relu and elu need floating inputs (NB_ERR_DTYPE);
 * comparisons give bool; bool + bool is or, bool * bool is and, bool - x is
 * NB_ERR_DTYPE. nbk_where accepts a condition of any dtype (nonzero = true). */

NB_API nb_tensor *nbk_add(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nbk_sub(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nbk_mul(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nbk_div(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nbk_pow(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nbk_maximum(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nbk_minimum(nb_tensor *a, nb_tensor *b);
/* relu's backward, fused: y <= 0 ? 0 : grad elementwise (y is relu's output,
 * so relu'(0) = 0, and a NaN y passes grad through, as PyTorch's
 * threshold_backward(grad, y, 0)); broadcasts and promotes like nbk_mul.
 * Floating and int64 dtypes; bool is NB_ERR_DTYPE. */
NB_API nb_tensor *nbk_relu_backward(nb_tensor *grad, nb_tensor *y);
/* Scalar forms: x op s, and for rsub/rdiv/rpow s op x. */
NB_API nb_tensor *nbk_add_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nbk_sub_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nbk_rsub_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nbk_mul_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nbk_div_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nbk_rdiv_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nbk_pow_scalar(nb_tensor *x, double exponent);
NB_API nb_tensor *nbk_rpow_scalar(nb_tensor *x, double base);

NB_API nb_tensor *nbk_neg(nb_tensor *x);
NB_API nb_tensor *nbk_exp(nb_tensor *x);
NB_API nb_tensor *nbk_log(nb_tensor *x);
NB_API nb_tensor *nbk_log1p(nb_tensor *x);
NB_API nb_tensor *nbk_expm1(nb_tensor *x);
NB_API nb_tensor *nbk_sqrt(nb_tensor *x);
NB_API nb_tensor *nbk_rsqrt(nb_tensor *x);
NB_API nb_tensor *nbk_abs(nb_tensor *x);
NB_API nb_tensor *nbk_sign(nb_tensor *x);
NB_API nb_tensor *nbk_sin(nb_tensor *x);
NB_API nb_tensor *nbk_cos(nb_tensor *x);
NB_API nb_tensor *nbk_tanh(nb_tensor *x);
NB_API nb_tensor *nbk_sigmoid(nb_tensor *x);
NB_API nb_tensor *nbk_relu(nb_tensor *x);
/* gelu: exact (erf) when tanh_approx is false, else PyTorch's tanh form. */
NB_API nb_tensor *nbk_gelu(nb_tensor *x, bool tanh_approx);
NB_API nb_tensor *nbk_silu(nb_tensor *x);
/* softplus(x) = log(1 + exp(beta x)) / beta, linear where beta x > threshold
 * (PyTorch defaults: beta 1, threshold 20). */
NB_API nb_tensor *nbk_softplus(nb_tensor *x, double beta, double threshold);
NB_API nb_tensor *nbk_leaky_relu(nb_tensor *x, double negative_slope);
NB_API nb_tensor *nbk_elu(nb_tensor *x, double alpha);
/* Clamp to [lo, hi]; pass NAN for an absent bound. */
NB_API nb_tensor *nbk_clamp(nb_tensor *x, double lo, double hi);
NB_API nb_tensor *nb_floor(nb_tensor *x);
NB_API nb_tensor *nb_ceil(nb_tensor *x);
/* Round half to even, as torch.round. */
NB_API nb_tensor *nb_round(nb_tensor *x);
/* cond ? a : b, broadcasting all three; cond is bool (nonzero = true). */
NB_API nb_tensor *nbk_where(nb_tensor *cond, nb_tensor *a, nb_tensor *b);

/* Comparisons and logic: bool results. */
NB_API nb_tensor *nb_eq(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_ne(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_lt(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_le(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_gt(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_ge(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_eq_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_ne_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_lt_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_le_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_gt_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_ge_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_logical_and(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_logical_or(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_logical_not(nb_tensor *x);

/* In place (for optimizers and data prep): write into x, broadcasting the
 * other operand to x's shape; x's dtype is kept. Each bumps x's version. */
NB_API nb_status nb_add_(nb_tensor *x, nb_tensor *other);
NB_API nb_status nb_sub_(nb_tensor *x, nb_tensor *other);
NB_API nb_status nb_mul_(nb_tensor *x, nb_tensor *other);
NB_API nb_status nb_div_(nb_tensor *x, nb_tensor *other);
NB_API nb_status nb_add_scalar_(nb_tensor *x, double s);
NB_API nb_status nb_mul_scalar_(nb_tensor *x, double s);
/* x += alpha * other (torch.add_(other, alpha=alpha)). */
NB_API nb_status nb_axpy_(nb_tensor *x, double alpha, nb_tensor *other);
/* x += value * a * b  and  x += value * a / b. */
NB_API nb_status nb_addcmul_(nb_tensor *x, double value, nb_tensor *a, nb_tensor *b);
NB_API nb_status nb_addcdiv_(nb_tensor *x, double value, nb_tensor *a, nb_tensor *b);
NB_API nb_status nb_clamp_(nb_tensor *x, double lo, double hi);
NB_API nb_status nb_fill_(nb_tensor *x, double value);
NB_API nb_status nb_zero_(nb_tensor *x);
/* Fill with uniform [low, high) / normal(mean, std) values, in element order. */
NB_API nb_status nb_uniform_(nb_tensor *x, double low, double high, nb_generator *g);
NB_API nb_status nb_normal_(nb_tensor *x, double mean, double std, nb_generator *g);

/* ---- reductions ---------------------------------------------------------- */
/* dims/ndims select the reduced dims (NB_ALL_DIMS = all); keepdim keeps them
 * as size 1. Float sums accumulate in double and are split into fixed chunks,
 * so results are identical with any thread count. Integer/bool sums give int64. */

NB_API nb_tensor *nbk_sum(nb_tensor *x, const int *dims, int ndims, bool keepdim);
NB_API nb_tensor *nbk_mean(nb_tensor *x, const int *dims, int ndims, bool keepdim);
NB_API nb_tensor *nbk_prod(nb_tensor *x, const int *dims, int ndims, bool keepdim);
NB_API nb_tensor *nbk_amax(nb_tensor *x, const int *dims, int ndims, bool keepdim);
NB_API nb_tensor *nbk_amin(nb_tensor *x, const int *dims, int ndims, bool keepdim);
/* Variance / standard deviation with Bessel-style `correction` (1 = unbiased). */
NB_API nb_tensor *nbk_var(nb_tensor *x, const int *dims, int ndims, double correction,
                          bool keepdim);
NB_API nb_tensor *nbk_std(nb_tensor *x, const int *dims, int ndims, double correction,
                          bool keepdim);
NB_API nb_tensor *nbk_logsumexp(nb_tensor *x, const int *dims, int ndims, bool keepdim);
/* p-norm: p = 1, 2, INFINITY, -INFINITY, 0 (count of nonzeros), or any other
 * p (sum |x|^p)^(1/p) as torch.linalg.vector_norm. */
NB_API nb_tensor *nbk_norm(nb_tensor *x, double p, const int *dims, int ndims, bool keepdim);
/* Max / min along one dim: values and int64 indices (first occurrence).
 * Either output pointer may be NULL if not wanted. */
NB_API nb_status nbk_max_dim(nb_tensor *x, int dim, bool keepdim, nb_tensor **values,
                             nb_tensor **indices);
NB_API nb_status nbk_min_dim(nb_tensor *x, int dim, bool keepdim, nb_tensor **values,
                             nb_tensor **indices);
/* Index of the max/min along dim, or of the flattened tensor if dim == NB_NO_DIM. */
NB_API nb_tensor *nb_argmax(nb_tensor *x, int dim, bool keepdim);
NB_API nb_tensor *nb_argmin(nb_tensor *x, int dim, bool keepdim);
/* Numerically stable softmax / log_softmax along dim (max subtracted). */
NB_API nb_tensor *nbk_softmax(nb_tensor *x, int dim);
NB_API nb_tensor *nbk_log_softmax(nb_tensor *x, int dim);
NB_API nb_tensor *nbk_cumsum(nb_tensor *x, int dim);
/* True if all / any element is nonzero (0-d bool). */
NB_API nb_tensor *nb_all(nb_tensor *x);
NB_API nb_tensor *nb_any(nb_tensor *x);

/* ---- linear algebra (BLIS) ----------------------------------------------- */

/* torch.matmul: 1-D dot, 2-D mm, 1-D @ 2-D / 2-D @ 1-D, and batched with the
 * batch dims broadcast. Operands' strides go to bli_?gemm as they are, so a
 * transposed view is never copied. float32/float64 (int64 by a plain loop). */
NB_API nb_tensor *nbk_matmul(nb_tensor *a, nb_tensor *b);
/* [B,n,k] @ [B,k,m] -> [B,n,m]; no broadcasting. */
NB_API nb_tensor *nbk_bmm(nb_tensor *a, nb_tensor *b);
/* 1-D . 1-D -> 0-d. */
NB_API nb_tensor *nbk_dot(nb_tensor *a, nb_tensor *b);
/* [n] x [m] -> [n,m]. */
NB_API nb_tensor *nbk_outer(nb_tensor *a, nb_tensor *b);
/* y = x @ w^T + b for x [..., in], w [out, in], b [out] or NULL: one GEMM with
 * the bias preloaded into the output (beta = 1). */
NB_API nb_tensor *nbk_linear(nb_tensor *x, nb_tensor *w, nb_tensor *b);
/* c = alpha * (a @ b) + beta * c in place, for 2-D a [n,k], b [k,m], c [n,m];
 * any strides. Bumps c's version. */
NB_API nb_status nb_gemm_(nb_tensor *c, double alpha, nb_tensor *a, nb_tensor *b, double beta);

/* ---- joining and indexing ------------------------------------------------ */

/* Concatenate n tensors along dim (shapes equal elsewhere; dtypes promoted;
 * 1-D empty tensors are skipped as in PyTorch). */
NB_API nb_tensor *nbk_cat(nb_tensor *const *tensors, int n, int dim);
/* Stack n same-shaped tensors along a new dim. */
NB_API nb_tensor *nbk_stack(nb_tensor *const *tensors, int n, int dim);
/* Entries of x along dim at the int64 1-D `index`. */
NB_API nb_tensor *nbk_index_select(nb_tensor *x, int dim, nb_tensor *index);
/* out[i][j] = x[index[i][j]][j] (dim 0) etc.; index int64, same ndim as x. */
NB_API nb_tensor *nbk_gather(nb_tensor *x, int dim, nb_tensor *index);
/* Copy of x with src written / added at index along dim (torch.scatter /
 * scatter_add, out of place). With duplicate indices the last write along dim
 * wins (scatter) and duplicates accumulate in index order (scatter_add), the
 * same with any thread count. src must have x's dtype. */
NB_API nb_tensor *nbk_scatter(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src);
NB_API nb_tensor *nbk_scatter_add(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src);
/* Copy of x with src's slices added at the 1-D int64 index along dim. */
NB_API nb_tensor *nbk_index_add(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src);
/* Copy of x with value where mask (broadcast to x) is true. */
NB_API nb_tensor *nbk_masked_fill(nb_tensor *x, nb_tensor *mask, double value);
/* 1-D tensor of x's elements where mask (broadcast) is true. */
NB_API nb_tensor *nbk_masked_select(nb_tensor *x, nb_tensor *mask);
/* int64 labels [...] -> int64 [..., num_classes] (num_classes < 0: max+1). */
NB_API nb_tensor *nb_one_hot(nb_tensor *labels, int64_t num_classes);
/* Tile x: repeats has >= ndim entries (torch.Tensor.repeat). */
NB_API nb_tensor *nbk_repeat(nb_tensor *x, int nrepeats, const int64_t *repeats);
/* Reverse the order along each listed dim (copies). */
NB_API nb_tensor *nbk_flip(nb_tensor *x, const int *dims, int ndims);
/* Constant pad, F.pad order: pads = {last_lo, last_hi, prev_lo, prev_hi, ...};
 * npads even, <= 2*ndim; negative pads crop. */
NB_API nb_tensor *nbk_pad(nb_tensor *x, int npads, const int64_t *pads, double value);

/* ---- printing and comparison --------------------------------------------- */

/* PyTorch-style text: "tensor([[1., 2.],\n        [3., 4.]])", elided with
 * "..." beyond 1000 elements (3 edge items). Returns a malloc'd string the
 * caller frees with free(); NULL on error. */
NB_API char *nb_to_string(const nb_tensor *t);
/* Print nb_to_string(t) and a newline to f (stdout if NULL). */
NB_API nb_status nb_fprint(FILE *f, const nb_tensor *t);
NB_API nb_status nb_print(const nb_tensor *t);
/* "[2, 3]" into buf (always NUL-terminated); returns buf. */
NB_API char *nb_shape_str(const nb_tensor *t, char *buf, size_t size);
/* |a - b| <= atol + rtol |b| elementwise after broadcasting (NaNs unequal). */
NB_API bool nb_allclose(nb_tensor *a, nb_tensor *b, double rtol, double atol);
/* Same shape and the same values (dtypes may differ). */
NB_API bool nb_equal(nb_tensor *a, nb_tensor *b);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_TENSOR_H */
