/* tensor/tensor.c - the tensor object: dtypes, layout, references, accessors.
 *
 * Owns: dtype facts and promotion, shape arithmetic (overflow-checked),
 * making tensors and views over refcounted storages, releasing them (and the
 * autograd objects hung on them), element access, and the thread setting.
 */
#include "tensor/tensor_impl.h"

#include <blis.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- dtypes ---------------------------------------------------------------- */

static const struct {
  const char *name;
  size_t size;
  bool floating;
} dtype_info[] = {
    [NB_DTYPE_FLOAT32] = {"float32", 4, true},
    [NB_DTYPE_FLOAT64] = {"float64", 8, true},
    [NB_DTYPE_INT64] = {"int64", 8, false},
    [NB_DTYPE_BOOL] = {"bool", 1, false},
};
_Static_assert(sizeof dtype_info / sizeof dtype_info[0] == NB_DTYPE_COUNT,
               "dtype_info must have one row per dtype");

static bool dtype_ok(nb_dtype d) { return (unsigned)d < NB_DTYPE_COUNT; }

const char *nb_dtype_name(nb_dtype dtype) {
  return dtype_ok(dtype) ? dtype_info[dtype].name : "invalid";
}
size_t nb_dtype_size(nb_dtype dtype) { return dtype_ok(dtype) ? dtype_info[dtype].size : 0; }
bool nb_dtype_is_floating(nb_dtype dtype) { return dtype_ok(dtype) && dtype_info[dtype].floating; }

nb_dtype nb_promote_types(nb_dtype a, nb_dtype b) {
  /* Rank order bool < int64 < float32 < float64. */
  static const int rank[] = {
      [NB_DTYPE_BOOL] = 0, [NB_DTYPE_INT64] = 1, [NB_DTYPE_FLOAT32] = 2, [NB_DTYPE_FLOAT64] = 3};
  if (!dtype_ok(a)) return b;
  if (!dtype_ok(b)) return a;
  return rank[a] >= rank[b] ? a : b;
}

double nb__load(nb_dtype dtype, const void *p) {
  switch (dtype) {
  case NB_DTYPE_FLOAT32: return *(const float *)p;
  case NB_DTYPE_FLOAT64: return *(const double *)p;
  case NB_DTYPE_INT64: return (double)*(const int64_t *)p;
  case NB_DTYPE_BOOL: return *(const uint8_t *)p ? 1.0 : 0.0;
  default: return NAN;
  }
}

void nb__store(nb_dtype dtype, void *p, double v) {
  switch (dtype) {
  case NB_DTYPE_FLOAT32: *(float *)p = (float)v; break;
  case NB_DTYPE_FLOAT64: *(double *)p = v; break;
  case NB_DTYPE_INT64:
    /* Truncate toward zero like a C cast, but never invoke UB on NaN/huge. */
    *(int64_t *)p = isnan(v)                      ? 0
                    : v >= 9.2233720368547758e18  ? INT64_MAX
                    : v <= -9.2233720368547758e18 ? INT64_MIN
                                                  : (int64_t)v;
    break;
  case NB_DTYPE_BOOL: *(uint8_t *)p = v != 0.0; break;
  default: break;
  }
}

/* ---- shapes ---------------------------------------------------------------- */

char *nb__dims_str(int ndim, const int64_t *shape, char *buf, size_t size) {
  size_t n = 0;
  if (size == 0) return buf;
  n += (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < ndim && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, i ? ", %lld" : "%lld", (long long)shape[i]);
  if (n < size) snprintf(buf + n, size - n, "]");
  return buf;
}

char *nb_shape_str(const nb_tensor *t, char *buf, size_t size) {
  if (!t) {
    if (size) snprintf(buf, size, "(null)");
    return buf;
  }
  return nb__dims_str(t->ndim, t->shape, buf, size);
}

const char *nb__shp(const nb_tensor *t) {
  static _Thread_local char ring[4][128];
  static _Thread_local int next;
  char *buf = ring[next];
  next = (next + 1) % 4;
  return nb_shape_str(t, buf, sizeof ring[0]);
}

int nb__wrap_dim(const char *op, int dim, int ndim) {
  int lo = ndim > 0 ? -ndim : -1, hi = ndim > 0 ? ndim - 1 : 0;
  if (dim < lo || dim > hi) {
    nb__fail(NB_ERR_INDEX, "%s: dim %d out of range for a %d-d tensor (expected %d..%d)", op, dim,
             ndim, lo, hi);
    return -1;
  }
  return dim < 0 ? dim + (ndim > 0 ? ndim : 1) : dim;
}

nb_status nb__check_shape(const char *op, int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > NB_MAX_DIMS)
    return nb__fail(NB_ERR_SHAPE, "%s: %d dims requested; nabla supports 0..%d", op, ndim,
                    NB_MAX_DIMS);
  if (ndim > 0 && !shape) return nb__fail(NB_ERR_ARG, "%s: shape is NULL for %d dims", op, ndim);
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0)
      return nb__fail(NB_ERR_SHAPE, "%s: size %lld at dim %d is negative", op, (long long)shape[i],
                      i);
  return NB_OK;
}

int64_t nb__numel_checked(const char *op, int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) {
      nb__fail(NB_ERR_SHAPE, "%s: negative size %lld", op, (long long)shape[i]);
      return -1;
    }
    if (__builtin_mul_overflow(n, shape[i], &n)) {
      char buf[200];
      nb__fail(NB_ERR_MEMORY, "%s: shape %s has more elements than fit in 64 bits", op,
               nb__dims_str(ndim, shape, buf, sizeof buf));
      return -1;
    }
  }
  return n;
}

nb_status nb__broadcast_shapes(const char *op, int na, const int64_t *sa, int nb, const int64_t *sb,
                               int *nout, int64_t *out) {
  int n = na > nb ? na : nb;
  int64_t tmp[NB_MAX_DIMS];
  for (int i = 0; i < n; i++) {
    int ia = na - n + i, ib = nb - n + i;
    int64_t da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      char ba[160], bb[160];
      return nb__fail(NB_ERR_SHAPE,
                      "%s: shapes %s and %s cannot be broadcast (size %lld vs %lld at dim %d)", op,
                      nb__dims_str(na, sa, ba, sizeof ba), nb__dims_str(nb, sb, bb, sizeof bb),
                      (long long)da, (long long)db, i);
    }
    tmp[i] = da == 1 ? db : da;
  }
  memcpy(out, tmp, sizeof(int64_t) * (size_t)n);
  *nout = n;
  return NB_OK;
}

/* Unsigned products below: an empty tensor's other sizes may multiply past
 * 2^63 (its strides are never used to address anything), without UB. */
void nb__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides) {
  uint64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    strides[i] = (int64_t)s;
    s *= shape[i] > 1 ? (uint64_t)shape[i] : 1;
  }
}

void nb__refresh_layout(nb_tensor *t) {
  uint64_t un = 1;
  for (int i = 0; i < t->ndim; i++) un *= (uint64_t)t->shape[i];
  int64_t n = (int64_t)un;
  t->numel = n;
  bool contiguous = true;
  int64_t expected = 1;
  for (int i = t->ndim - 1; i >= 0 && n > 0; i--) {
    if (t->shape[i] == 1) continue; /* a size-1 dim's stride does not matter */
    if (t->strides[i] != expected) {
      contiguous = false;
      break;
    }
    expected *= t->shape[i];
  }
  t->contiguous = contiguous || n == 0;
}

/* ---- making and releasing ---------------------------------------------------- */

static nb_tensor *tensor_struct(nb_dtype dtype, int ndim, const int64_t *shape) {
  nb_tensor *t = nb__alloc_tensor_struct();
  if (!t) return nb__fail_null(NB_ERR_MEMORY, "out of memory allocating a tensor");
  t->refcount = 1;
  t->dtype = dtype;
  t->ndim = ndim;
  t->scope_slot = -1;
  if (ndim) memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
  return t;
}

nb_tensor *nb__new(const char *op, nb_dtype dtype, int ndim, const int64_t *shape) {
  if (!dtype_ok(dtype)) return nb__fail_null(NB_ERR_DTYPE, "%s: invalid dtype %d", op, (int)dtype);
  if (nb__check_shape(op, ndim, shape) != NB_OK) return NULL;
  int64_t numel = nb__numel_checked(op, ndim, shape);
  if (numel < 0) return NULL;
  size_t bytes;
  if (__builtin_mul_overflow((size_t)numel, nb_dtype_size(dtype), &bytes))
    return nb__fail_null(NB_ERR_MEMORY, "%s: %lld elements overflow the byte count", op,
                         (long long)numel);
  nb_storage *s = nb__alloc_bytes(sizeof *s);
  void *data = s ? nb__alloc_bytes(bytes) : NULL;
  if (!data) {
    nb__free_bytes(s, sizeof *s);
    char buf[200];
    return nb__fail_null(NB_ERR_MEMORY, "%s: out of memory allocating %zu bytes for shape %s", op,
                         bytes, nb__dims_str(ndim, shape, buf, sizeof buf));
  }
  *s = (nb_storage){.data = data, .bytes = bytes, .refcount = 1};
  nb__count_storage(1, (int64_t)bytes);
  nb_tensor *t = tensor_struct(dtype, ndim, shape);
  if (!t) {
    nb__free_bytes(data, bytes);
    nb__free_bytes(s, sizeof *s);
    nb__count_storage(-1, (int64_t)bytes);
    return NULL;
  }
  t->storage = s;
  nb__contiguous_strides(ndim, shape, t->strides);
  t->numel = numel;
  t->contiguous = true;
  nb__scope_adopt(t);
  return t;
}

nb_tensor *nb__new_view(const nb_tensor *base, int ndim, const int64_t *shape,
                        const int64_t *strides, int64_t offset) {
  nb_tensor *t = tensor_struct(base->dtype, ndim, shape);
  if (!t) return NULL;
  if (ndim) memcpy(t->strides, strides, sizeof(int64_t) * (size_t)ndim);
  t->offset = offset;
  t->storage = base->storage;
  t->storage->refcount++;
  nb__refresh_layout(t);
  nb__scope_adopt(t);
  return t;
}

nb_tensor *nb_from_blob(nb_dtype dtype, void *data, int ndim, const int64_t *shape,
                        const int64_t *strides, void (*release)(void *data, void *ctx), void *ctx) {
  const char *op = "from_blob";
  if (!dtype_ok(dtype)) return nb__fail_null(NB_ERR_DTYPE, "%s: invalid dtype %d", op, (int)dtype);
  if (nb__check_shape(op, ndim, shape) != NB_OK) return NULL;
  int64_t numel = nb__numel_checked(op, ndim, shape);
  if (numel < 0) return NULL;
  if (!data && numel > 0) return nb__fail_null(NB_ERR_ARG, "%s: data is NULL", op);
  int64_t st[NB_MAX_DIMS];
  if (strides) {
    for (int i = 0; i < ndim; i++)
      if (strides[i] < 0)
        return nb__fail_null(NB_ERR_ARG, "%s: negative stride %lld at dim %d", op,
                             (long long)strides[i], i);
    memcpy(st, strides, sizeof(int64_t) * (size_t)ndim);
  } else {
    nb__contiguous_strides(ndim, shape, st);
  }
  int64_t span = 1; /* elements from the first to one past the last */
  for (int i = 0; i < ndim && numel > 0; i++) {
    int64_t reach;
    if (__builtin_mul_overflow(shape[i] - 1, st[i], &reach) ||
        __builtin_add_overflow(span, reach, &span) ||
        __builtin_mul_overflow(span, (int64_t)nb_dtype_size(dtype), &reach))
      return nb__fail_null(NB_ERR_MEMORY, "%s: shape and strides span more than 2^63 bytes", op);
  }
  nb_storage *s = nb__alloc_bytes(sizeof *s);
  if (!s) return nb__fail_null(NB_ERR_MEMORY, "%s: out of memory", op);
  *s = (nb_storage){.data = data,
                    .bytes = numel ? (size_t)span * nb_dtype_size(dtype) : 0,
                    .refcount = 1,
                    .borrowed = true,
                    .release = release,
                    .release_ctx = ctx};
  nb__count_storage(1, 0);
  nb_tensor *t = tensor_struct(dtype, ndim, shape);
  if (!t) {
    nb__free_bytes(s, sizeof *s);
    nb__count_storage(-1, 0);
    return NULL;
  }
  t->storage = s;
  memcpy(t->strides, st, sizeof(int64_t) * (size_t)ndim);
  nb__refresh_layout(t);
  nb__scope_adopt(t);
  return t;
}

static void storage_release(nb_storage *s) {
  if (--s->refcount > 0) return;
  if (s->refcount < 0) return; /* underflow is a bug; never double free */
  if (s->borrowed) {
    if (s->release) s->release(s->data, s->release_ctx);
    nb__count_storage(-1, 0);
  } else {
    nb__free_bytes(s->data, s->bytes);
    nb__count_storage(-1, (int64_t)s->bytes);
  }
  nb__free_bytes(s, sizeof *s);
}

void nb__object_retain(nb_object *o) {
  if (o) o->refcount++;
}

nb_tensor *nb_retain(nb_tensor *t) {
  if (t) t->refcount++;
  return t;
}

/* Releasing a tensor can release its grad and its grad_fn, whose destruction
 * releases further tensors and nodes: a chain of a million ops must not
 * recurse a million deep. Whatever reaches a zero count is queued and the
 * outermost release destroys the queue in a loop. */
static _Thread_local nb_tensor *tensor_queue;
static _Thread_local nb_object *object_queue;
static _Thread_local bool draining;

static void tensor_destroy(nb_tensor *t) {
  nb_tensor *grad = t->grad;
  nb_object *grad_fn = t->grad_fn, *meta = t->autograd_meta;
  storage_release(t->storage);
  nb__free_tensor_struct(t);
  nb__release(grad);
  nb__object_release(grad_fn);
  nb__object_release(meta);
}

static void drain_release_queues(void) {
  if (draining) return;
  draining = true;
  while (tensor_queue || object_queue) {
    if (tensor_queue) {
      nb_tensor *t = tensor_queue;
      tensor_queue = t->release_next;
      tensor_destroy(t);
    } else {
      nb_object *o = object_queue;
      object_queue = o->release_next;
      o->destroy(o);
    }
  }
  draining = false;
}

void nb__object_release(nb_object *o) {
  if (!o || --o->refcount > 0) return;
  o->release_next = object_queue;
  object_queue = o;
  drain_release_queues();
}

void nb_free(nb_tensor *t) {
  if (!t) return;
  if (t->scope_slot >= 0) nb__scope_forget(t);
  nb__release(t);
}

void nb__release(nb_tensor *t) {
  if (!t || --t->refcount > 0) return;
  t->release_next = tensor_queue;
  tensor_queue = t;
  drain_release_queues();
}

/* ---- accessors --------------------------------------------------------------- */

nb_dtype nb_dtype_of(const nb_tensor *t) { return t ? t->dtype : NB_DTYPE_COUNT; }
int nb_ndim(const nb_tensor *t) { return t ? t->ndim : -1; }
const int64_t *nb_shape(const nb_tensor *t) { return t ? t->shape : NULL; }
const int64_t *nb_strides(const nb_tensor *t) { return t ? t->strides : NULL; }
int64_t nb_numel(const nb_tensor *t) { return t ? t->numel : -1; }
int64_t nb_offset(const nb_tensor *t) { return t ? t->offset : -1; }
bool nb_is_contiguous(const nb_tensor *t) { return t && t->contiguous; }
uint64_t nb_version(const nb_tensor *t) { return t ? t->storage->version : 0; }
bool nb_shares_storage(const nb_tensor *a, const nb_tensor *b) {
  return a && b && a->storage == b->storage;
}
void *nb_data(const nb_tensor *t) { return t ? nb__ptr(t, 0) : NULL; }

/* The dim of size/stride: -1 and NB_ERR_INDEX when out of range, and for every
 * dim of a 0-d tensor (torch: "tensor has no dimensions"). */
static int accessor_dim(const char *op, const nb_tensor *t, int dim) {
  if (t->ndim == 0) {
    nb__fail(NB_ERR_INDEX, "%s: dim %d requested but the tensor is 0-d (has no dims)", op, dim);
    return -1;
  }
  return nb__wrap_dim(op, dim, t->ndim);
}

int64_t nb_size(const nb_tensor *t, int dim) {
  if (!t) return nb__null_input("size"), -1;
  int d = accessor_dim("size", t, dim);
  return d < 0 ? -1 : t->shape[d];
}

int64_t nb_stride(const nb_tensor *t, int dim) {
  if (!t) return nb__null_input("stride"), -1;
  int d = accessor_dim("stride", t, dim);
  return d < 0 ? -1 : t->strides[d];
}

nb_status nb_view_of(const nb_tensor *t, nb_view *view) {
  NB_CHECK_NULL_STATUS("view_of", t);
  if (!view) return nb__fail(NB_ERR_ARG, "view_of: view is NULL");
  *view = (nb_view){nb__ptr(t, 0), t->dtype, t->ndim, t->shape, t->strides, t->numel};
  return NB_OK;
}

void nb__bump_version(nb_tensor *t) { t->storage->version++; }
void nb_bump_version(nb_tensor *t) {
  if (t) t->storage->version++;
}

double nb_item(const nb_tensor *t) {
  if (!t) return nb__null_input("item"), NAN;
  if (t->numel != 1)
    return nb__fail(NB_ERR_SHAPE, "item: tensor of shape %s has %lld elements, not 1", nb__shp(t),
                    (long long)t->numel),
           NAN;
  return nb__load(t->dtype, nb__ptr(t, 0));
}

double nb_get(const nb_tensor *t, const int64_t *index) {
  if (!t) return nb__null_input("get"), NAN;
  int64_t off = 0;
  for (int i = 0; i < t->ndim; i++) {
    if (!index || index[i] < 0 || index[i] >= t->shape[i])
      return nb__fail(NB_ERR_INDEX, "get: index %lld out of range for dim %d of shape %s",
                      index ? (long long)index[i] : -1LL, i, nb__shp(t)),
             NAN;
    off += index[i] * t->strides[i];
  }
  return nb__load(t->dtype, nb__ptr(t, off));
}

typedef struct {
  nb_dtype src, dst;
} convert_ctx;

nb_status nb_copy_out(const nb_tensor *t, nb_dtype dtype, void *dst, int64_t count) {
  NB_CHECK_NULL_STATUS("copy_out", t);
  if (!dtype_ok(dtype)) return nb__fail(NB_ERR_DTYPE, "copy_out: invalid dtype %d", (int)dtype);
  if (count != t->numel)
    return nb__fail(NB_ERR_ARG, "copy_out: count %lld but tensor of shape %s has %lld elements",
                    (long long)count, nb__shp(t), (long long)t->numel);
  if (count > 0 && !dst) return nb__fail(NB_ERR_ARG, "copy_out: destination is NULL");
  nb_tensor *out = nb_from_blob(dtype, dst, t->ndim, t->shape, NULL, NULL, NULL);
  if (!out) return nb_last_status();
  nb_tensor *view = nb__new_view(t, t->ndim, t->shape, t->strides, t->offset);
  nb_status st = view ? nb_copy_(out, view) : nb_last_status();
  nb_free(view);
  nb_free(out);
  return st;
}

/* ---- threads ------------------------------------------------------------------ */

nb_status nb_set_num_threads(int n) {
  if (n < 1) return nb__fail(NB_ERR_ARG, "set_num_threads: %d threads requested; need >= 1", n);
  omp_set_num_threads(n);
  bli_thread_set_num_threads(n);
  return NB_OK;
}

int nb_get_num_threads(void) { return omp_get_max_threads(); }

int nb__threads_for(int64_t work) {
  if (work < NB_PARALLEL_GRAIN || omp_in_parallel()) return 1;
  int max = omp_get_max_threads();
  int64_t want = work / NB_PARALLEL_GRAIN;
  return want < max ? (int)want : max;
}
