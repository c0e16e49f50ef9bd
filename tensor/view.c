/* tensor/view.c - views: new shapes and strides over the same storage.
 *
 * Owns: reshape/view (PyTorch's computeStride rule decides whether a reshape
 * can be a view), flatten/unflatten, squeeze/unsqueeze, transpose/permute/t,
 * slice/narrow/select, expand/broadcast_to, unfold, and split/split_sizes/
 * chunk. Every result is made by nb__new_view and shares x's storage, except
 * reshape's fallback when no view is possible (a contiguous nbk_clone).
 * contiguous/clone/to/copy_ live in copy.c.
 */
#include "tensor/tensor_impl.h"

#include <string.h>

/* A layout being built: shape, strides (elements) and offset. */
typedef struct {
  int ndim;
  int64_t shape[NB_MAX_DIMS];
  int64_t strides[NB_MAX_DIMS];
  int64_t offset;
} layout;

static layout layout_of(const nb_tensor *x) {
  layout l = {.ndim = x->ndim, .offset = x->offset};
  if (x->ndim) {
    memcpy(l.shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    memcpy(l.strides, x->strides, sizeof(int64_t) * (size_t)x->ndim);
  }
  return l;
}

static nb_tensor *make_view(const nb_tensor *x, const layout *l) {
  return nb__new_view(x, l->ndim, l->shape, l->strides, l->offset);
}

static void drop_dim(layout *l, int d) {
  for (int i = d; i + 1 < l->ndim; i++) {
    l->shape[i] = l->shape[i + 1];
    l->strides[i] = l->strides[i + 1];
  }
  l->ndim--;
}

/* Insert a dim at d (0 <= d <= ndim < NB_MAX_DIMS). */
static void insert_dim(layout *l, int d, int64_t size, int64_t stride) {
  for (int i = l->ndim; i > d; i--) {
    l->shape[i] = l->shape[i - 1];
    l->strides[i] = l->strides[i - 1];
  }
  l->shape[d] = size;
  l->strides[d] = stride;
  l->ndim++;
}

/* Wrap dim for an op that needs x to have at least one dim; -1 on error. */
static int real_dim(const char *op, const nb_tensor *x, int dim) {
  if (x->ndim == 0) {
    nb__fail(NB_ERR_INDEX, "%s: dim %d given for a 0-d tensor, which has no dims", op, dim);
    return -1;
  }
  return nb__wrap_dim(op, dim, x->ndim);
}

/* ---- reshape and view ------------------------------------------------------ */

/* Describe what infer_shape resolves against, for messages only: the whole
 * input x (dim < 0) or its dim `dim`. Formatted on error paths only. */
static const char *describe_input(const nb_tensor *x, int dim, char *buf, size_t size) {
  if (dim < 0)
    snprintf(buf, size, "input of shape %s", nb__shp(x));
  else
    snprintf(buf, size, "dim %d (size %lld) of input of shape %s", dim, (long long)x->shape[dim],
             nb__shp(x));
  return buf;
}

/* Resolve a requested shape (at most one -1) holding `numel` elements into
 * out; x and dim say what is being resolved, for messages (see describe_input). */
static nb_status infer_shape(const char *op, const nb_tensor *x, int dim, int64_t numel, int ndim,
                             const int64_t *shape, int64_t *out) {
  char what[200];
  if (ndim < 0 || ndim > NB_MAX_DIMS)
    return nb__fail(NB_ERR_SHAPE, "%s: %d dims requested for %s; nabla supports 0..%d", op, ndim,
                    describe_input(x, dim, what, sizeof what), NB_MAX_DIMS);
  if (ndim > 0 && !shape) return nb__fail(NB_ERR_ARG, "%s: shape is NULL for %d dims", op, ndim);
  char buf[200];
  int infer = -1;
  for (int i = 0; i < ndim; i++) {
    out[i] = shape[i];
    if (shape[i] != -1) continue;
    if (infer >= 0)
      return nb__fail(NB_ERR_SHAPE,
                      "%s: shape %s has more than one -1 (only one size can be inferred)", op,
                      nb__dims_str(ndim, shape, buf, sizeof buf));
    infer = i;
    out[i] = 1;
  }
  int64_t known = nb__numel_checked(op, ndim, out);
  if (known < 0) return nb_last_status();
  if (infer >= 0) {
    if (known == 0)
      return nb__fail(NB_ERR_SHAPE,
                      "%s: shape %s is ambiguous for %s: the other sizes multiply to 0, so the "
                      "-1 could be anything",
                      op, nb__dims_str(ndim, shape, buf, sizeof buf),
                      describe_input(x, dim, what, sizeof what));
    if (numel % known != 0)
      return nb__fail(NB_ERR_SHAPE, "%s: shape %s is invalid for %s (%lld elements)", op,
                      nb__dims_str(ndim, shape, buf, sizeof buf),
                      describe_input(x, dim, what, sizeof what), (long long)numel);
    out[infer] = numel / known;
  } else if (known != numel) {
    return nb__fail(NB_ERR_SHAPE, "%s: shape %s (%lld elements) is invalid for %s (%lld elements)",
                    op, nb__dims_str(ndim, shape, buf, sizeof buf), (long long)known,
                    describe_input(x, dim, what, sizeof what), (long long)numel);
  }
  return NB_OK;
}

/* PyTorch's computeStride: strides that let x be viewed as `shape` (same
 * numel), or false when x's memory layout does not allow a view. Dims of x are
 * taken in chunks that are contiguous among themselves; each chunk must be
 * covered exactly by a run of the new dims. */
static bool compute_strides(const nb_tensor *x, int ndim, const int64_t *shape, int64_t *strides) {
  if (x->ndim == 0) {
    for (int i = 0; i < ndim; i++) strides[i] = 1;
    return true;
  }
  if (x->numel == 0) {
    bool same = ndim == x->ndim && memcmp(shape, x->shape, sizeof(int64_t) * (size_t)ndim) == 0;
    if (same)
      memcpy(strides, x->strides, sizeof(int64_t) * (size_t)ndim);
    else
      nb__contiguous_strides(ndim, shape, strides);
    return true;
  }
  int vd = ndim - 1;
  int64_t base = x->strides[x->ndim - 1], tensor_numel = 1, view_numel = 1;
  for (int td = x->ndim - 1; td >= 0; td--) {
    tensor_numel *= x->shape[td];
    int64_t chunk_end;
    bool boundary = td == 0 || (x->shape[td - 1] != 1 &&
                                (__builtin_mul_overflow(tensor_numel, base, &chunk_end) ||
                                 x->strides[td - 1] != chunk_end));
    if (!boundary) continue;
    while (vd >= 0 && (view_numel < tensor_numel || shape[vd] == 1)) {
      if (__builtin_mul_overflow(view_numel, base, &strides[vd])) return false;
      view_numel *= shape[vd];
      vd--;
    }
    if (view_numel != tensor_numel) return false;
    if (td > 0) {
      base = x->strides[td - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  return vd == -1;
}

static nb_tensor *reshape_impl(const char *op, nb_tensor *x, int ndim, const int64_t *shape,
                               bool allow_copy) {
  int64_t ns[NB_MAX_DIMS], st[NB_MAX_DIMS];
  if (infer_shape(op, x, -1, x->numel, ndim, shape, ns) != NB_OK) return NULL;
  if (compute_strides(x, ndim, ns, st)) return nb__new_view(x, ndim, ns, st, x->offset);
  if (!allow_copy) {
    char a[200], b[200];
    return nb__fail_null(NB_ERR_SHAPE,
                         "%s: shape %s is not compatible with input of shape %s and strides %s "
                         "(its memory is not laid out so that the dims merge); use reshape, "
                         "which copies when needed",
                         op, nb__dims_str(ndim, ns, a, sizeof a), nb__shp(x),
                         nb__dims_str(x->ndim, x->strides, b, sizeof b));
  }
  nb_tensor *c = nbk_clone(x);
  if (!c) return NULL;
  /* c is a fresh private tensor: give it the new shape in place. */
  c->ndim = ndim;
  if (ndim) memcpy(c->shape, ns, sizeof(int64_t) * (size_t)ndim);
  nb__contiguous_strides(ndim, ns, c->strides);
  nb__refresh_layout(c);
  return c;
}

nb_tensor *nbk_reshape(nb_tensor *x, int ndim, const int64_t *shape) {
  NB_CHECK_NULL("reshape", x);
  return reshape_impl("reshape", x, ndim, shape, true);
}

nb_tensor *nbk_view(nb_tensor *x, int ndim, const int64_t *shape) {
  NB_CHECK_NULL("view", x);
  return reshape_impl("view", x, ndim, shape, false);
}

nb_tensor *nbk_flatten(nb_tensor *x, int start_dim, int end_dim) {
  NB_CHECK_NULL("flatten", x);
  int s = nb__wrap_dim("flatten", start_dim, x->ndim);
  if (s < 0) return NULL;
  int e = nb__wrap_dim("flatten", end_dim, x->ndim);
  if (e < 0) return NULL;
  if (s > e)
    return nb__fail_null(NB_ERR_ARG, "flatten: start_dim %d comes after end_dim %d for shape %s",
                         start_dim, end_dim, nb__shp(x));
  if (x->ndim == 0) return reshape_impl("flatten", x, 1, (const int64_t[]){1}, true);
  if (s == e) return nb__new_view(x, x->ndim, x->shape, x->strides, x->offset);
  int64_t shape[NB_MAX_DIMS];
  int n = 0;
  for (int i = 0; i < s; i++) shape[n++] = x->shape[i];
  int64_t merged = nb__numel_checked("flatten", e - s + 1, x->shape + s);
  if (merged < 0) return NULL;
  shape[n++] = merged;
  for (int i = e + 1; i < x->ndim; i++) shape[n++] = x->shape[i];
  return reshape_impl("flatten", x, n, shape, true);
}

nb_tensor *nbk_unflatten(nb_tensor *x, int dim, int nsizes, const int64_t *sizes) {
  NB_CHECK_NULL("unflatten", x);
  int d = real_dim("unflatten", x, dim);
  if (d < 0) return NULL;
  if (nsizes < 1 || !sizes)
    return nb__fail_null(NB_ERR_ARG, "unflatten: needs at least one size (got %d%s)", nsizes,
                         sizes ? "" : ", sizes NULL");
  if (x->ndim - 1 + nsizes > NB_MAX_DIMS)
    return nb__fail_null(NB_ERR_SHAPE,
                         "unflatten: splitting dim %d of %s into %d sizes gives %d "
                         "dims; nabla supports up to %d",
                         d, nb__shp(x), nsizes, x->ndim - 1 + nsizes, NB_MAX_DIMS);
  int64_t split[NB_MAX_DIMS], shape[NB_MAX_DIMS];
  if (infer_shape("unflatten", x, d, x->shape[d], nsizes, sizes, split) != NB_OK) return NULL;
  int n = 0;
  for (int i = 0; i < d; i++) shape[n++] = x->shape[i];
  for (int i = 0; i < nsizes; i++) shape[n++] = split[i];
  for (int i = d + 1; i < x->ndim; i++) shape[n++] = x->shape[i];
  return reshape_impl("unflatten", x, n, shape, false);
}

/* ---- adding, removing and reordering dims ---------------------------------- */

nb_tensor *nbk_squeeze(nb_tensor *x, int dim) {
  NB_CHECK_NULL("squeeze", x);
  layout l = layout_of(x);
  if (dim == NB_NO_DIM) {
    for (int i = l.ndim - 1; i >= 0; i--)
      if (l.shape[i] == 1) drop_dim(&l, i);
  } else {
    int d = nb__wrap_dim("squeeze", dim, x->ndim);
    if (d < 0) return NULL;
    if (x->ndim > 0 && l.shape[d] == 1) drop_dim(&l, d); /* else a no-op, as in PyTorch */
  }
  return make_view(x, &l);
}

nb_tensor *nbk_unsqueeze(nb_tensor *x, int dim) {
  NB_CHECK_NULL("unsqueeze", x);
  if (x->ndim >= NB_MAX_DIMS)
    return nb__fail_null(NB_ERR_SHAPE,
                         "unsqueeze: %s already has %d dims (the most nabla supports)", nb__shp(x),
                         NB_MAX_DIMS);
  int d = nb__wrap_dim("unsqueeze", dim, x->ndim + 1);
  if (d < 0) return NULL;
  layout l = layout_of(x);
  insert_dim(&l, d, 1, d < x->ndim ? x->shape[d] * x->strides[d] : 1);
  return make_view(x, &l);
}

nb_tensor *nbk_transpose(nb_tensor *x, int dim0, int dim1) {
  NB_CHECK_NULL("transpose", x);
  int a = nb__wrap_dim("transpose", dim0, x->ndim);
  if (a < 0) return NULL;
  int b = nb__wrap_dim("transpose", dim1, x->ndim);
  if (b < 0) return NULL;
  layout l = layout_of(x);
  if (x->ndim > 0) {
    l.shape[a] = x->shape[b];
    l.strides[a] = x->strides[b];
    l.shape[b] = x->shape[a];
    l.strides[b] = x->strides[a];
  }
  return make_view(x, &l);
}

nb_tensor *nbk_permute(nb_tensor *x, int ndim, const int *dims) {
  NB_CHECK_NULL("permute", x);
  if (ndim != x->ndim)
    return nb__fail_null(NB_ERR_ARG, "permute: %d dims given for the %d-d tensor %s", ndim, x->ndim,
                         nb__shp(x));
  if (ndim > 0 && !dims) return nb__fail_null(NB_ERR_ARG, "permute: dims is NULL");
  layout l = layout_of(x);
  bool seen[NB_MAX_DIMS] = {false};
  for (int i = 0; i < ndim; i++) {
    int d = nb__wrap_dim("permute", dims[i], ndim);
    if (d < 0) return NULL;
    if (seen[d])
      return nb__fail_null(NB_ERR_ARG,
                           "permute: dims is not a permutation of 0..%d for %s (dim %d repeats)",
                           ndim - 1, nb__shp(x), d);
    seen[d] = true;
    l.shape[i] = x->shape[d];
    l.strides[i] = x->strides[d];
  }
  return make_view(x, &l);
}

nb_tensor *nbk_t(nb_tensor *x) {
  NB_CHECK_NULL("t", x);
  if (x->ndim > 2)
    return nb__fail_null(NB_ERR_SHAPE,
                         "t: expects a tensor with <= 2 dims, but %s has %d; use transpose or "
                         "permute",
                         nb__shp(x), x->ndim);
  return nbk_transpose(x, 0, x->ndim == 2 ? 1 : 0);
}

/* ---- slicing ------------------------------------------------------------- */

/* View of elements start..start+len-1 of dim d (already validated). */
static nb_tensor *narrow_view(const nb_tensor *x, int d, int64_t start, int64_t len) {
  layout l = layout_of(x);
  l.offset += start * x->strides[d];
  l.shape[d] = len;
  return make_view(x, &l);
}

nb_tensor *nbk_slice(nb_tensor *x, int dim, int64_t start, int64_t end, int64_t step) {
  NB_CHECK_NULL("slice", x);
  int d = real_dim("slice", x, dim);
  if (d < 0) return NULL;
  if (step < 1)
    return nb__fail_null(NB_ERR_ARG, "slice: step %lld for dim %d of %s; step must be >= 1",
                         (long long)step, d, nb__shp(x));
  int64_t n = x->shape[d];
  if (start < 0) start = start + n < 0 ? 0 : start + n;
  if (end < 0) end = end + n < 0 ? 0 : end + n;
  if (start > n) start = n;
  if (end > n) end = n;
  int64_t len = end > start ? (end - start - 1) / step + 1 : 0;
  layout l = layout_of(x);
  l.offset += start * x->strides[d];
  l.shape[d] = len;
  /* The stride of a dim of size <= 1 never matters; avoid overflowing it. */
  if (__builtin_mul_overflow(x->strides[d], step, &l.strides[d])) l.strides[d] = x->strides[d];
  return make_view(x, &l);
}

nb_tensor *nbk_narrow(nb_tensor *x, int dim, int64_t start, int64_t length) {
  NB_CHECK_NULL("narrow", x);
  int d = real_dim("narrow", x, dim);
  if (d < 0) return NULL;
  int64_t n = x->shape[d];
  if (start < -n || start > n)
    return nb__fail_null(NB_ERR_INDEX,
                         "narrow: start %lld out of range for dim %d of size %lld (%s)",
                         (long long)start, d, (long long)n, nb__shp(x));
  if (start < 0) start += n;
  if (length < 0 || length > n - start)
    return nb__fail_null(NB_ERR_INDEX,
                         "narrow: start %lld + length %lld exceeds dim %d of size %lld (%s)",
                         (long long)start, (long long)length, d, (long long)n, nb__shp(x));
  return narrow_view(x, d, start, length);
}

nb_tensor *nbk_select(nb_tensor *x, int dim, int64_t index) {
  NB_CHECK_NULL("select", x);
  int d = real_dim("select", x, dim);
  if (d < 0) return NULL;
  int64_t n = x->shape[d];
  if (index < -n || index >= n)
    return nb__fail_null(NB_ERR_INDEX,
                         "select: index %lld out of range for dim %d of size %lld (%s)",
                         (long long)index, d, (long long)n, nb__shp(x));
  if (index < 0) index += n;
  layout l = layout_of(x);
  l.offset += index * x->strides[d];
  drop_dim(&l, d);
  return make_view(x, &l);
}

/* ---- broadcasting views -------------------------------------------------- */

static nb_tensor *expand_impl(const char *op, nb_tensor *x, int ndim, const int64_t *shape) {
  if (ndim < x->ndim || ndim > NB_MAX_DIMS)
    return nb__fail_null(NB_ERR_SHAPE, "%s: %d target dims for %s; need %d..%d", op, ndim,
                         nb__shp(x), x->ndim, NB_MAX_DIMS);
  if (ndim > 0 && !shape)
    return nb__fail_null(NB_ERR_ARG, "%s: shape is NULL for %d dims", op, ndim);
  char want[200];
  nb__dims_str(ndim, shape, want, sizeof want);
  layout l = {.ndim = ndim, .offset = x->offset};
  for (int i = ndim - 1; i >= 0; i--) {
    int xd = x->ndim - (ndim - i);
    int64_t size = xd >= 0 ? x->shape[xd] : 1;
    int64_t stride = xd >= 0                         ? x->strides[xd]
                     : x->ndim == 0 || i == ndim - 1 ? 0
                                                     : l.shape[i + 1] * l.strides[i + 1];
    int64_t target = shape[i];
    if (target == -1) {
      if (xd < 0)
        return nb__fail_null(NB_ERR_SHAPE,
                             "%s: %s to %s: -1 is not allowed in a new leading dim (%d)", op,
                             nb__shp(x), want, i);
      target = size;
    } else if (target < 0) {
      return nb__fail_null(NB_ERR_SHAPE, "%s: %s to %s: size %lld at dim %d is negative", op,
                           nb__shp(x), want, (long long)target, i);
    }
    if (size != target) {
      if (size != 1)
        return nb__fail_null(NB_ERR_SHAPE,
                             "%s: %s to %s: the size %lld must match the existing size %lld at "
                             "non-singleton dim %d",
                             op, nb__shp(x), want, (long long)target, (long long)size, i);
      size = target;
      stride = 0;
    }
    l.shape[i] = size;
    l.strides[i] = stride;
  }
  if (nb__numel_checked(op, ndim, l.shape) < 0) return NULL;
  return make_view(x, &l);
}

nb_tensor *nbk_expand(nb_tensor *x, int ndim, const int64_t *shape) {
  NB_CHECK_NULL("expand", x);
  return expand_impl("expand", x, ndim, shape);
}

nb_tensor *nbk_broadcast_to(nb_tensor *x, int ndim, const int64_t *shape) {
  NB_CHECK_NULL("broadcast_to", x);
  return expand_impl("broadcast_to", x, ndim, shape);
}

nb_tensor *nbk_unfold(nb_tensor *x, int dim, int64_t size, int64_t step) {
  NB_CHECK_NULL("unfold", x);
  int d = nb__wrap_dim("unfold", dim, x->ndim);
  if (d < 0) return NULL;
  if (x->ndim >= NB_MAX_DIMS)
    return nb__fail_null(NB_ERR_SHAPE, "unfold: %s already has %d dims (the most nabla supports)",
                         nb__shp(x), NB_MAX_DIMS);
  int64_t n = x->ndim ? x->shape[d] : 1, stride = x->ndim ? x->strides[d] : 1;
  if (step < 1)
    return nb__fail_null(NB_ERR_ARG, "unfold: step %lld for %s; step must be >= 1", (long long)step,
                         nb__shp(x));
  if (size < 0 || size > n)
    return nb__fail_null(NB_ERR_SHAPE,
                         "unfold: size %lld for dim %d of size %lld (%s); need 0..%lld",
                         (long long)size, d, (long long)n, nb__shp(x), (long long)n);
  layout l = layout_of(x);
  if (x->ndim) {
    l.shape[d] = (n - size) / step + 1;
    if (__builtin_mul_overflow(stride, step, &l.strides[d])) l.strides[d] = stride;
  }
  insert_dim(&l, l.ndim, size, stride);
  return make_view(x, &l);
}

/* ---- splitting ----------------------------------------------------------- */

/* Write n narrow views of dim d into out: piece i has sizes[i] elements, or
 * split_size (the last one what is left) when sizes is NULL. On failure frees
 * what it made and returns the status. */
static int make_pieces(nb_tensor *x, int d, int n, const int64_t *sizes, int64_t split_size,
                       nb_tensor **out) {
  int64_t start = 0, total = x->shape[d];
  for (int i = 0; i < n; i++) {
    int64_t len = sizes ? sizes[i] : total - start < split_size ? total - start : split_size;
    out[i] = narrow_view(x, d, start, len);
    if (!out[i]) {
      while (i-- > 0) {
        nb_free(out[i]);
        out[i] = NULL;
      }
      return nb_last_status();
    }
    start += len;
  }
  return n;
}

/* Checks shared by split and chunk; returns the wrapped dim or a status. */
static int split_args(const char *op, nb_tensor *x, int dim, nb_tensor **out) {
  if (!x) return nb__null_input(op);
  if (!out) return nb__fail(NB_ERR_ARG, "%s: out is NULL", op);
  int d = real_dim(op, x, dim);
  return d < 0 ? nb_last_status() : d;
}

static int split_impl(const char *op, nb_tensor *x, int64_t split_size, int d, nb_tensor **out,
                      int capacity) {
  int64_t n = x->shape[d];
  if (split_size < 0 || (split_size == 0 && n != 0))
    return nb__fail(NB_ERR_ARG,
                    "%s: split_size %lld for dim %d of size %lld (%s); it must be > 0 "
                    "(0 only for an empty dim)",
                    op, (long long)split_size, d, (long long)n, nb__shp(x));
  int64_t count = split_size == 0 || n == 0 ? 1 : (n - 1) / split_size + 1;
  if (count > capacity)
    return nb__fail(NB_ERR_ARG,
                    "%s: %s along dim %d in pieces of %lld makes %lld pieces but out "
                    "holds only %d",
                    op, nb__shp(x), d, (long long)split_size, (long long)count, capacity);
  return make_pieces(x, d, (int)count, NULL, split_size, out);
}

int nbk_split(nb_tensor *x, int64_t split_size, int dim, nb_tensor **out, int capacity) {
  int d = split_args("split", x, dim, out);
  if (d < 0) return d;
  return split_impl("split", x, split_size, d, out, capacity);
}

int nbk_split_sizes(nb_tensor *x, int nsizes, const int64_t *sizes, int dim, nb_tensor **out) {
  int d = split_args("split_sizes", x, dim, out);
  if (d < 0) return d;
  if (nsizes < 0 || (nsizes > 0 && !sizes))
    return nb__fail(NB_ERR_ARG, "split_sizes: %d sizes%s", nsizes, sizes ? "" : " (sizes NULL)");
  int64_t sum = 0;
  for (int i = 0; i < nsizes; i++) {
    if (sizes[i] < 0)
      return nb__fail(NB_ERR_ARG, "split_sizes: size %lld at position %d is negative",
                      (long long)sizes[i], i);
    if (__builtin_add_overflow(sum, sizes[i], &sum))
      return nb__fail(NB_ERR_ARG, "split_sizes: the sizes overflow 64 bits");
  }
  if (sum != x->shape[d])
    return nb__fail(NB_ERR_SHAPE, "split_sizes: sizes sum to %lld but dim %d of %s has size %lld",
                    (long long)sum, d, nb__shp(x), (long long)x->shape[d]);
  return make_pieces(x, d, nsizes, sizes, 0, out);
}

int nbk_chunk(nb_tensor *x, int chunks, int dim, nb_tensor **out, int capacity) {
  int d = split_args("chunk", x, dim, out);
  if (d < 0) return d;
  if (chunks < 1)
    return nb__fail(NB_ERR_ARG, "chunk: chunks must be > 0, got %d (%s)", chunks, nb__shp(x));
  int64_t n = x->shape[d];
  if (n == 0) {
    /* As PyTorch: an empty dim gives `chunks` empty pieces. */
    if (chunks > capacity)
      return nb__fail(NB_ERR_ARG, "chunk: %s along dim %d makes %d pieces but out holds only %d",
                      nb__shp(x), d, chunks, capacity);
    return make_pieces(x, d, chunks, NULL, 0, out);
  }
  return split_impl("chunk", x, (n + chunks - 1) / chunks, d, out, capacity);
}
