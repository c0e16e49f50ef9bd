/* tensor/tensor_impl.h - nabla's internal tensor definitions (never installed).
 *
 * Owns: the layout of nb_tensor and nb_storage, the refcounted object header
 * that upper layers (autograd) hang off a tensor, and the cross-file helpers
 * every kernel file uses: error reporting, argument checks, shape arithmetic,
 * allocation of results and views, and the broadcasting strided iterator.
 */
#ifndef NABLA_TENSOR_IMPL_H
#define NABLA_TENSOR_IMPL_H

#include "tensor/tensor.h"

#include <stdarg.h>

#define NB_INTERNAL __attribute__((visibility("hidden")))

/* NB_HOT_LOOP before a kernel function: on x86-64 with gcc, also build an
 * AVX2/FMA (x86-64-v3) clone of it, picked once at load time on CPUs that
 * have it (the library itself is built for baseline x86-64). For loops whose
 * speed depends on vector width. Both clones compute the same bits: gcc never
 * reassociates floating point without -ffast-math, and -ffp-contract=off
 * (CMakeLists.txt) forbids fused multiply-adds. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NB_HOT_LOOP __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define NB_HOT_LOOP
#endif

/* ---- refcounted objects owned by upper layers ----------------------------- */

/* A header for objects the tensor layer holds but does not understand (an
 * autograd node, autograd metadata). The tensor layer only counts references
 * and calls destroy when the count reaches zero. */
typedef struct nb_object {
  int64_t refcount;
  void (*destroy)(struct nb_object *self);
  struct nb_object *release_next; /* the deferred-release queue's link */
} nb_object;

NB_INTERNAL void nb__object_retain(nb_object *o);
NB_INTERNAL void nb__object_release(nb_object *o);

/* ---- storage and tensor -------------------------------------------------- */

typedef struct nb_storage {
  void *data;
  size_t bytes;
  int64_t refcount;
  uint64_t version; /* bumped by every in-place write */
  bool borrowed;    /* user memory: released through `release`, never freed */
  void (*release)(void *data, void *ctx);
  void *release_ctx;
} nb_storage;

struct nb_tensor {
  int64_t refcount;
  nb_dtype dtype;
  int ndim;
  int64_t shape[NB_MAX_DIMS];
  int64_t strides[NB_MAX_DIMS]; /* in elements; 0 on broadcast dims */
  int64_t offset;               /* in elements, into storage->data */
  int64_t numel;
  bool contiguous;
  nb_storage *storage;

  /* Scope bookkeeping: index of this tensor's slot in its thread's scope
   * stack, or -1 when no scope owns it. */
  int64_t scope_slot;

  /* Autograd's fields: the tensor layer stores and releases them only. */
  bool requires_grad;
  nb_tensor *grad;          /* accumulated gradient of a leaf (owned) */
  nb_object *grad_fn;       /* the node that made this tensor, NULL for leaves */
  int grad_fn_output;       /* which output of grad_fn this tensor is */
  nb_object *autograd_meta; /* hooks, retain_grad...; NULL until needed */

  nb_tensor *release_next; /* the deferred-release queue's link */
};

/* ---- errors -------------------------------------------------------------- */

/* Record an error (printf-style) and return status. */
NB_INTERNAL nb_status nb__fail(nb_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
NB_INTERNAL nb_status nb__vfail(nb_status status, const char *fmt, va_list ap);
/* Same, returning NULL, for tensor-making functions. */
NB_INTERNAL void *nb__fail_null(nb_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* For a NULL input: keep an earlier error if one is set, else record
 * "<op>: input is NULL". Returns NB_ERR_NULL. */
NB_INTERNAL nb_status nb__null_input(const char *op);

/* Return NULL / NB_ERR_NULL from the calling function if any of the tensors
 * is NULL (without overwriting the first error). */
#define NB_CHECK_NULL(op, ...)                                                                     \
  do {                                                                                             \
    const nb_tensor *nb__in_[] = {__VA_ARGS__};                                                    \
    for (size_t nb__i_ = 0; nb__i_ < sizeof nb__in_ / sizeof nb__in_[0]; nb__i_++)                 \
      if (!nb__in_[nb__i_]) {                                                                      \
        nb__null_input(op);                                                                        \
        return NULL;                                                                               \
      }                                                                                            \
  } while (0)
#define NB_CHECK_NULL_STATUS(op, ...)                                                              \
  do {                                                                                             \
    const nb_tensor *nb__in_[] = {__VA_ARGS__};                                                    \
    for (size_t nb__i_ = 0; nb__i_ < sizeof nb__in_ / sizeof nb__in_[0]; nb__i_++)                 \
      if (!nb__in_[nb__i_]) return nb__null_input(op);                                             \
  } while (0)

/* ---- shapes -------------------------------------------------------------- */

/* "[2, 3]" for a shape array into buf. */
NB_INTERNAL char *nb__dims_str(int ndim, const int64_t *shape, char *buf, size_t size);
/* Short-lived shape strings for error messages: up to 4 per message. */
NB_INTERNAL const char *nb__shp(const nb_tensor *t);
/* Normalise a possibly negative dim into [0, ndim); -1 and an error naming op
 * when out of range. */
NB_INTERNAL int nb__wrap_dim(const char *op, int dim, int ndim);
/* Product of sizes, overflow-checked: NB_ERR_MEMORY via *status on overflow or
 * negative size; returns -1 then. */
NB_INTERNAL int64_t nb__numel_checked(const char *op, int ndim, const int64_t *shape);
/* Validate ndim/shape for a new tensor (0 <= ndim <= NB_MAX_DIMS, sizes >= 0). */
NB_INTERNAL nb_status nb__check_shape(const char *op, int ndim, const int64_t *shape);
/* Broadcast two shapes NumPy-style into out (NB_MAX_DIMS entries); error names op. */
NB_INTERNAL nb_status nb__broadcast_shapes(const char *op, int na, const int64_t *sa, int nb,
                                           const int64_t *sb, int *nout, int64_t *out);
/* Row-major strides for a shape. */
NB_INTERNAL void nb__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
/* Recompute numel and the contiguous flag after changing shape/strides. */
NB_INTERNAL void nb__refresh_layout(nb_tensor *t);

/* ---- making tensors ------------------------------------------------------ */

/* New contiguous tensor with fresh storage (uninitialised). NULL + error on
 * bad shape or out of memory. */
NB_INTERNAL nb_tensor *nb__new(const char *op, nb_dtype dtype, int ndim, const int64_t *shape);
/* New view of base's storage with the given layout (shares and retains it). */
NB_INTERNAL nb_tensor *nb__new_view(const nb_tensor *base, int ndim, const int64_t *shape,
                                    const int64_t *strides, int64_t offset);
/* Drop a reference held by library internals (a node's saved tensor, an
 * edge's leaf): unlike nb_free it never takes t out of its scope. */
NB_INTERNAL void nb__release(nb_tensor *t);
/* Bump the storage version after an in-place write. */
NB_INTERNAL void nb__bump_version(nb_tensor *t);
/* Element pointer for a linear storage index (offset already applied). */
static inline void *nb__ptr(const nb_tensor *t, int64_t elem) {
  return (char *)t->storage->data + (size_t)(t->offset + elem) * nb_dtype_size(t->dtype);
}
/* Read element (as double) from a typed pointer; write likewise. */
NB_INTERNAL double nb__load(nb_dtype dtype, const void *p);
NB_INTERNAL void nb__store(nb_dtype dtype, void *p, double v);

/* ---- allocator (alloc.c) ------------------------------------------------- */

NB_INTERNAL void *nb__alloc_bytes(size_t bytes);
NB_INTERNAL void nb__free_bytes(void *p, size_t bytes);
NB_INTERNAL nb_tensor *nb__alloc_tensor_struct(void);
NB_INTERNAL void nb__free_tensor_struct(nb_tensor *t);
NB_INTERNAL void nb__count_storage(int delta, int64_t bytes);

/* ---- scopes (scope.c) ---------------------------------------------------- */

/* Give a new tensor to the innermost open scope (no-op without one). */
NB_INTERNAL void nb__scope_adopt(nb_tensor *t);
/* Forget t's scope slot (used by nb_free / nb_keep). */
NB_INTERNAL void nb__scope_forget(nb_tensor *t);

/* ---- threads ------------------------------------------------------------- */

/* Below this many elements, kernels stay single-threaded. */
#define NB_PARALLEL_GRAIN 32768
NB_INTERNAL int nb__threads_for(int64_t work);

/* ---- the broadcasting strided iterator ----------------------------------- */
/* Walks operand 0 (the output) and up to 3 inputs broadcast to its shape.
 * Dims are collapsed where every operand is contiguous across them and size-1
 * dims dropped, so most loops run over one long inner dim. */

#define NB_ITER_MAX_ARGS 4

typedef struct nb_iter {
  int narg;
  int ndim;
  int64_t numel;
  int64_t shape[NB_MAX_DIMS];                     /* innermost last */
  int64_t strides[NB_ITER_MAX_ARGS][NB_MAX_DIMS]; /* in bytes */
  char *base[NB_ITER_MAX_ARGS];
  int64_t out_size; /* element size of operand 0 */
  /* Set by the caller when fn writes operand 0 without reading it: then a
   * large output is written past the caches (see nb__iter_run). */
  bool write_only;
} nb_iter;

/* The inner loop: n elements, pointers to each operand's first element, and
 * each operand's byte stride along the run. */
typedef void (*nb_iter_fn)(char **ptrs, const int64_t *strides, int64_t n, void *ctx);

/* Set up the walk of args[0..narg) over out_shape: args[0] must have exactly
 * out_shape; the others must broadcast to it (errors name op). */
NB_INTERNAL nb_status nb__iter_init(nb_iter *it, const char *op, int narg, nb_tensor *const *args);
/* Run fn over every element, in parallel above NB_PARALLEL_GRAIN when
 * `parallel` is true (the split never changes results for elementwise work).
 * With it->write_only and an output of at least NB_STREAM_MIN_BYTES, runs
 * whose output is contiguous are computed tile by tile into a buffer that
 * stays in L1 and stored with non-temporal stores: no read-for-ownership of
 * output lines, and the caches keep the inputs (what memcpy does for large
 * copies). Results are the same bits either way. */
#define NB_STREAM_MIN_BYTES ((int64_t)32 << 20)
NB_INTERNAL void nb__iter_run(const nb_iter *it, nb_iter_fn fn, void *ctx, bool parallel);
/* Run fn over linear elements [start, end) of the walk (single thread). */
NB_INTERNAL void nb__iter_range(const nb_iter *it, int64_t start, int64_t end, nb_iter_fn fn,
                                void *ctx);

#endif /* NABLA_TENSOR_IMPL_H */
