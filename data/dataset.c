/* data/dataset.c - the dataset object and the built-in datasets.
 *
 * Owns: nb_dataset (user callbacks over a context, the specs of a sample,
 * references to wrapped datasets, the ext slot other dataset types attach
 * state to; layout in data_impl.h), the tensor dataset, subsets (a subset of
 * a subset maps straight to the source), concatenations, and the seeded
 * random and stratified splits.
 */
#include "data/data_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- specs and errors ------------------------------------------------------------- */

int64_t nb__spec_numel(const nb_field_spec *spec) {
  int64_t n = 1;
  for (int d = 0; d < spec->ndim; d++) n *= spec->shape[d];
  return n;
}

size_t nb__spec_bytes(const nb_field_spec *spec) {
  return (size_t)nb__spec_numel(spec) * nb_dtype_size(spec->dtype);
}

nb_status nb__data_null(const char *op, const char *what) {
  if (nb_last_status() == NB_OK) nb_set_error(NB_ERR_NULL, "%s: %s is NULL", op, what);
  return nb_last_status();
}

/* "float32 [1, 28, 28]" */
static const char *spec_str(const nb_field_spec *s, char *buf, size_t size) {
  int at = snprintf(buf, size, "%s [", nb_dtype_name(s->dtype));
  for (int d = 0; d < s->ndim && at > 0 && (size_t)at < size; d++)
    at += snprintf(buf + at, size - (size_t)at, d ? ", %lld" : "%lld", (long long)s->shape[d]);
  if (at > 0 && (size_t)at < size) snprintf(buf + at, size - (size_t)at, "]");
  return buf;
}

/* A sample's field: a valid dtype, ndim < NB_MAX_DIMS (the batch adds a dim),
 * sizes >= 0, and a byte size that fits. */
static nb_status check_spec(const char *op, const char *what, const nb_field_spec *s) {
  if (s->dtype < 0 || s->dtype >= NB_DTYPE_COUNT)
    return nb_set_error(NB_ERR_DTYPE, "%s: %s dtype %d is not a dtype", op, what, (int)s->dtype);
  if (s->ndim < 0 || s->ndim >= NB_MAX_DIMS)
    return nb_set_error(NB_ERR_SHAPE, "%s: %s has %d dims; a sample has 0 to %d", op, what, s->ndim,
                        NB_MAX_DIMS - 1);
  int64_t bytes = (int64_t)nb_dtype_size(s->dtype);
  for (int d = 0; d < s->ndim; d++) {
    if (s->shape[d] < 0)
      return nb_set_error(NB_ERR_SHAPE, "%s: %s size %lld at dim %d is negative", op, what,
                          (long long)s->shape[d], d);
    if (__builtin_mul_overflow(bytes, s->shape[d], &bytes))
      return nb_set_error(NB_ERR_MEMORY, "%s: %s sample size overflows", op, what);
  }
  return NB_OK;
}

static bool spec_equal(const nb_field_spec *a, const nb_field_spec *b) {
  if (a->dtype != b->dtype || a->ndim != b->ndim) return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return false;
  return true;
}

/* ---- the dataset object ----------------------------------------------------------- */

nb_dataset *nb__dataset_make(const nb_dataset_ops *ops, void *ctx, const nb_field_spec *features,
                             const nb_field_spec *target, nb_dataset *const *wrapped, int nwrapped,
                             void (*set_epoch)(void *ctx, int64_t epoch)) {
  const char *op = "dataset_new";
  if (!ops || !ops->len || !ops->get) {
    nb_set_error(NB_ERR_ARG, "%s: ops and its len and get callbacks are required", op);
    return NULL;
  }
  if (!features) {
    nb_set_error(NB_ERR_ARG, "%s: the features spec is required", op);
    return NULL;
  }
  if (check_spec(op, "features", features) != NB_OK) return NULL;
  if (target && check_spec(op, "target", target) != NB_OK) return NULL;
  if (nwrapped < 0 || (nwrapped > 0 && !wrapped)) {
    nb_set_error(NB_ERR_ARG, "%s: %d wrapped datasets", op, nwrapped);
    return NULL;
  }
  for (int i = 0; i < nwrapped; i++)
    if (!wrapped[i]) {
      nb__data_null(op, "a wrapped dataset");
      return NULL;
    }
  nb_dataset *ds = calloc(1, sizeof *ds);
  nb_dataset **w = nwrapped ? malloc(sizeof *w * (size_t)nwrapped) : NULL;
  if (!ds || (nwrapped && !w)) {
    free(ds);
    free(w);
    nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op);
    return NULL;
  }
  ds->ops = *ops;
  ds->ctx = ctx;
  ds->features = *features;
  if (target) ds->target = *target;
  ds->has_target = target != NULL;
  ds->refs = 1;
  ds->wrapped = w;
  ds->nwrapped = nwrapped;
  for (int i = 0; i < nwrapped; i++) w[i] = nb__dataset_retain(wrapped[i]);
  ds->set_epoch = set_epoch;
  return ds;
}

nb_dataset *nb_dataset_new(const nb_dataset_ops *ops, void *ctx, const nb_field_spec *features,
                           const nb_field_spec *target) {
  return nb__dataset_make(ops, ctx, features, target, NULL, 0, NULL);
}

nb_dataset *nb__dataset_retain(nb_dataset *ds) {
  if (ds) ds->refs++;
  return ds;
}

nb_status nb__dataset_attach(nb_dataset *ds, const void *kind, void *ext,
                             void (*ext_free)(void *ext)) {
  if (!ds) return nb__data_null("dataset_attach", "dataset");
  if (ds->kind)
    return nb_set_error(NB_ERR_ARG, "dataset_attach: the dataset already carries extra state");
  ds->kind = kind;
  ds->ext = ext;
  ds->ext_free = ext_free;
  return NB_OK;
}

void *nb__dataset_ext(const nb_dataset *ds, const void *kind) {
  if (!ds || !kind) return NULL;
  if (ds->kind == kind) return ds->ext;
  for (int i = 0; i < ds->nwrapped; i++) {
    void *ext = nb__dataset_ext(ds->wrapped[i], kind);
    if (ext) return ext;
  }
  return NULL;
}

int64_t nb_dataset_len(const nb_dataset *ds) {
  if (!ds) {
    nb__data_null("dataset_len", "dataset");
    return -1;
  }
  return ds->ops.len(ds->ctx);
}

const nb_field_spec *nb_dataset_features(const nb_dataset *ds) {
  if (!ds) {
    nb__data_null("dataset_features", "dataset");
    return NULL;
  }
  return &ds->features;
}

const nb_field_spec *nb_dataset_target(const nb_dataset *ds) {
  return ds && ds->has_target ? &ds->target : NULL;
}

nb_status nb_dataset_get(nb_dataset *ds, int64_t i, nb_tensor **features, nb_tensor **target) {
  const char *op = "dataset_get";
  if (features) *features = NULL;
  if (target) *target = NULL;
  if (!ds) return nb__data_null(op, "dataset");
  if (!features) return nb_set_error(NB_ERR_ARG, "%s: features output pointer is NULL", op);
  int64_t n = ds->ops.len(ds->ctx);
  if (i < 0 || i >= n)
    return nb_set_error(NB_ERR_INDEX,
                        "%s: index %lld is out of range for a dataset of %lld samples", op,
                        (long long)i, (long long)n);
  nb_tensor *f = nb_empty(ds->features.dtype, ds->features.ndim, ds->features.shape);
  nb_tensor *t =
      ds->has_target ? nb_empty(ds->target.dtype, ds->target.ndim, ds->target.shape) : NULL;
  if (!f || (ds->has_target && !t)) {
    nb_free(f);
    nb_free(t);
    return nb_last_status();
  }
  nb_clear_error();
  nb_status st = nb__dataset_get_into(ds, i, f, t);
  if (st != NB_OK) {
    char msg[768];
    snprintf(msg, sizeof msg, "%s",
             nb_last_status() != NB_OK ? nb_errmsg() : "get failed without a message");
    nb_free(f);
    nb_free(t);
    return nb_set_error(st, "%s: sample %lld: %s", op, (long long)i, msg);
  }
  *features = f;
  if (target)
    *target = t;
  else
    nb_free(t);
  return NB_OK;
}

void nb_dataset_set_epoch(nb_dataset *ds, int64_t epoch) {
  if (!ds) return;
  for (int i = 0; i < ds->nwrapped; i++) nb_dataset_set_epoch(ds->wrapped[i], epoch);
  if (ds->set_epoch) ds->set_epoch(ds->ctx, epoch);
}

void nb_dataset_free(nb_dataset *ds) {
  if (!ds || --ds->refs > 0) return;
  if (ds->ops.free) ds->ops.free(ds->ctx);
  if (ds->ext_free) ds->ext_free(ds->ext);
  for (int i = 0; i < ds->nwrapped; i++) nb_dataset_free(ds->wrapped[i]);
  free(ds->wrapped);
  free(ds);
}

/* ---- tensor dataset --------------------------------------------------------------- */

typedef struct tensor_ds {
  nb_tensor *x, *y; /* contiguous; y may be NULL */
  const char *xdata, *ydata;
  size_t xrow, yrow; /* bytes per sample */
  int64_t n;
} tensor_ds;

/* Copy one sample's bytes into dst: a memcpy when dst is a contiguous block of
 * the same dtype and size (the loader's rows always are), else through
 * nb_copy_ from a private wrapper of the row (no shared refcount touched). */
static nb_status copy_row(nb_tensor *dst, const char *src, size_t bytes, nb_dtype dtype, int ndim,
                          const int64_t *shape) {
  if (!dst) return nb__data_null("tensor_dataset_get", "destination");
  if (nb_dtype_of(dst) == dtype && nb_is_contiguous(dst) &&
      (size_t)nb_numel(dst) * nb_dtype_size(dtype) == bytes) {
    if (bytes) memcpy(nb_data(dst), src, bytes);
    return NB_OK;
  }
  nb_tensor *row = nb_from_blob(dtype, (void *)src, ndim, shape, NULL, NULL, NULL);
  nb_status st = row ? nb_copy_(dst, row) : nb_last_status();
  nb_free(row);
  return st;
}

static int64_t tensor_ds_len(void *ctx) { return ((tensor_ds *)ctx)->n; }

static nb_status tensor_ds_get(void *ctx, int64_t i, nb_tensor *features, nb_tensor *target) {
  tensor_ds *c = ctx;
  nb_status st = copy_row(features, c->xdata + (size_t)i * c->xrow, c->xrow, nb_dtype_of(c->x),
                          nb_ndim(c->x) - 1, nb_shape(c->x) + 1);
  if (st == NB_OK && c->y && target)
    st = copy_row(target, c->ydata + (size_t)i * c->yrow, c->yrow, nb_dtype_of(c->y),
                  nb_ndim(c->y) - 1, nb_shape(c->y) + 1);
  return st;
}

static void tensor_ds_free(void *ctx) {
  tensor_ds *c = ctx;
  nb_free(c->x);
  nb_free(c->y);
  free(c);
}

static nb_field_spec row_spec(const nb_tensor *t) {
  nb_field_spec s = {.dtype = nb_dtype_of(t), .ndim = nb_ndim(t) - 1};
  for (int d = 1; d < nb_ndim(t); d++) s.shape[d - 1] = nb_shape(t)[d];
  return s;
}

nb_dataset *nb_tensor_dataset_new(nb_tensor *features, nb_tensor *target) {
  const char *op = "tensor_dataset";
  if (!features) {
    nb__data_null(op, "features");
    return NULL;
  }
  if (nb_ndim(features) < 1 || (target && nb_ndim(target) < 1)) {
    nb_set_error(NB_ERR_SHAPE, "%s: features %s and target %s need a first (sample) dim", op,
                 nb_ndim(features) < 1 ? "0-d" : "ok",
                 target && nb_ndim(target) < 1 ? "0-d" : "ok");
    return NULL;
  }
  if (target && nb_size(target, 0) != nb_size(features, 0)) {
    char fs[64], ts[64];
    nb_set_error(NB_ERR_SHAPE, "%s: features %s and target %s differ in samples (%lld vs %lld)", op,
                 nb_shape_str(features, fs, sizeof fs), nb_shape_str(target, ts, sizeof ts),
                 (long long)nb_size(features, 0), (long long)nb_size(target, 0));
    return NULL;
  }
  tensor_ds *c = calloc(1, sizeof *c);
  if (!c) {
    nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op);
    return NULL;
  }
  /* Views (no copy) when already contiguous; the loader memcpy's whole rows. */
  c->x = nb_keep(nbk_contiguous(features));
  c->y = target ? nb_keep(nbk_contiguous(target)) : NULL;
  nb_field_spec fs = row_spec(features), ts = target ? row_spec(target) : (nb_field_spec){0};
  nb_dataset *ds = NULL;
  if (c->x && (!target || c->y)) {
    c->xdata = nb_data(c->x);
    c->ydata = c->y ? nb_data(c->y) : NULL;
    c->xrow = nb__spec_bytes(&fs);
    c->yrow = target ? nb__spec_bytes(&ts) : 0;
    c->n = nb_size(features, 0);
    nb_dataset_ops ops = {tensor_ds_len, tensor_ds_get, tensor_ds_free};
    ds = nb_dataset_new(&ops, c, &fs, target ? &ts : NULL);
  }
  if (!ds) tensor_ds_free(c);
  return ds;
}

/* ---- subset ----------------------------------------------------------------------- */

typedef struct subset_ds {
  nb_dataset *base; /* wrapped[0] */
  int64_t *indices;
  int64_t n;
} subset_ds;

static int64_t subset_len(void *ctx) { return ((subset_ds *)ctx)->n; }

static nb_status subset_get(void *ctx, int64_t i, nb_tensor *features, nb_tensor *target) {
  subset_ds *c = ctx;
  return nb__dataset_get_into(c->base, c->indices[i], features, target);
}

static void subset_free(void *ctx) {
  subset_ds *c = ctx;
  free(c->indices);
  free(c);
}

nb_dataset *nb_subset_new(nb_dataset *ds, const int64_t *indices, int64_t n) {
  const char *op = "subset";
  if (!ds) {
    nb__data_null(op, "dataset");
    return NULL;
  }
  if (n < 0 || (n > 0 && !indices)) {
    nb_set_error(NB_ERR_ARG, "%s: %lld indices%s", op, (long long)n,
                 n > 0 ? " from a NULL list" : "; need >= 0");
    return NULL;
  }
  int64_t len = nb_dataset_len(ds);
  if (len < 0) return NULL;
  subset_ds *c = calloc(1, sizeof *c);
  if (c && n > 0 && (size_t)n > SIZE_MAX / sizeof(int64_t)) {
    free(c);
    c = NULL;
  }
  if (c) c->indices = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
  if (!c || !c->indices) {
    if (c) free(c);
    nb_set_error(NB_ERR_MEMORY, "%s: out of memory for %lld indices", op, (long long)n);
    return NULL;
  }
  /* A subset of a subset indexes the source directly: one hop per sample. */
  const subset_ds *inner = ds->ops.get == subset_get ? ds->ctx : NULL;
  for (int64_t k = 0; k < n; k++) {
    if (indices[k] < 0 || indices[k] >= len) {
      nb_set_error(NB_ERR_INDEX,
                   "%s: index %lld at position %lld is out of range for a dataset of %lld samples",
                   op, (long long)indices[k], (long long)k, (long long)len);
      subset_free(c);
      return NULL;
    }
    c->indices[k] = inner ? inner->indices[indices[k]] : indices[k];
  }
  c->n = n;
  c->base = inner ? inner->base : ds;
  nb_dataset_ops ops = {subset_len, subset_get, subset_free};
  nb_dataset *out = nb__dataset_make(&ops, c, &ds->features, ds->has_target ? &ds->target : NULL,
                                     &c->base, 1, NULL);
  if (!out) subset_free(c);
  return out;
}

/* ---- concatenation ---------------------------------------------------------------- */

typedef struct concat_ds {
  nb_dataset **parts; /* the dataset's wrapped[] */
  int64_t *ends;      /* ends[k] = samples in parts 0..k */
  int n;
} concat_ds;

static int64_t concat_len(void *ctx) {
  concat_ds *c = ctx;
  return c->ends[c->n - 1];
}

static nb_status concat_get(void *ctx, int64_t i, nb_tensor *features, nb_tensor *target) {
  concat_ds *c = ctx;
  int lo = 0, hi = c->n - 1; /* the first part whose end is past i */
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (c->ends[mid] > i)
      hi = mid;
    else
      lo = mid + 1;
  }
  int64_t start = lo ? c->ends[lo - 1] : 0;
  return nb__dataset_get_into(c->parts[lo], i - start, features, target);
}

static void concat_free(void *ctx) {
  concat_ds *c = ctx;
  free(c->ends);
  free(c);
}

nb_dataset *nb_concat_dataset_new(nb_dataset *const *parts, int n) {
  const char *op = "concat_dataset";
  if (n < 1 || !parts) {
    nb_set_error(NB_ERR_ARG, "%s: %d parts; need at least 1", op, n);
    return NULL;
  }
  for (int k = 0; k < n; k++)
    if (!parts[k]) {
      nb__data_null(op, "a part");
      return NULL;
    }
  for (int k = 1; k < n; k++) {
    const nb_dataset *a = parts[0], *b = parts[k];
    char sa[160], sb[160];
    if (!spec_equal(&a->features, &b->features)) {
      nb_set_error(NB_ERR_SHAPE, "%s: part %d's features are %s, part 0's %s", op, k,
                   spec_str(&b->features, sb, sizeof sb), spec_str(&a->features, sa, sizeof sa));
      return NULL;
    }
    if (a->has_target != b->has_target || (a->has_target && !spec_equal(&a->target, &b->target))) {
      nb_set_error(NB_ERR_SHAPE, "%s: part %d's target is %s, part 0's %s", op, k,
                   b->has_target ? spec_str(&b->target, sb, sizeof sb) : "none",
                   a->has_target ? spec_str(&a->target, sa, sizeof sa) : "none");
      return NULL;
    }
  }
  concat_ds *c = calloc(1, sizeof *c);
  if (c) c->ends = malloc(sizeof(int64_t) * (size_t)n);
  if (!c || !c->ends) {
    free(c);
    nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op);
    return NULL;
  }
  int64_t total = 0;
  for (int k = 0; k < n; k++) {
    int64_t len = nb_dataset_len(parts[k]);
    if (len < 0 || __builtin_add_overflow(total, len, &total)) {
      concat_free(c);
      nb_set_error(NB_ERR_ARG, "%s: part %d has length %lld", op, k, (long long)len);
      return NULL;
    }
    c->ends[k] = total;
  }
  c->n = n;
  nb_dataset_ops ops = {concat_len, concat_get, concat_free};
  nb_dataset *ds =
      nb__dataset_make(&ops, c, &parts[0]->features,
                       parts[0]->has_target ? &parts[0]->target : NULL, parts, n, NULL);
  if (!ds) {
    concat_free(c);
    return NULL;
  }
  c->parts = ds->wrapped;
  return ds;
}

/* ---- splits ----------------------------------------------------------------------- */

/* "[0.5, 0.6]" */
static const char *list_str(const double *v, int n, char *buf, size_t size) {
  int at = snprintf(buf, size, "[");
  for (int k = 0; k < n && at > 0 && (size_t)at < size; k++)
    at += snprintf(buf + at, size - (size_t)at, k ? ", %g" : "%g", v[k]);
  if (at > 0 && (size_t)at < size) snprintf(buf + at, size - (size_t)at, "]");
  return buf;
}

static bool are_fractions(const double *sizes, int n) {
  double sum = 0;
  for (int k = 0; k < n; k++) {
    if (!(sizes[k] >= 0 && sizes[k] <= 1)) return false;
    sum += sizes[k];
  }
  return fabs(sum - 1) <= 1e-9;
}

/* Part sizes for len samples, as torch.utils.data.random_split: fractions get
 * floor(len * f) each and the remainder one by one to parts 0, 1, ...; counts
 * must be whole and sum to len. */
static nb_status split_sizes(const char *op, int64_t len, const double *sizes, int n,
                             bool allow_counts, int64_t *out) {
  char buf[256];
  if (are_fractions(sizes, n)) {
    int64_t used = 0;
    for (int k = 0; k < n; k++) used += out[k] = (int64_t)floor((double)len * sizes[k]);
    if (used > len) /* only with a sum a hair above 1 and a huge len */
      return nb_set_error(NB_ERR_ARG, "%s: fractions %s exceed the dataset's %lld samples", op,
                          list_str(sizes, n, buf, sizeof buf), (long long)len);
    for (int64_t r = 0; r < len - used; r++) out[r % n]++;
    return NB_OK;
  }
  if (allow_counts) {
    int64_t sum = 0;
    bool ok = true;
    for (int k = 0; k < n && ok; k++) {
      ok = sizes[k] >= 0 && sizes[k] <= 9.0e18 && sizes[k] == floor(sizes[k]);
      if (ok) sum += out[k] = (int64_t)sizes[k];
      ok = ok && sum <= len;
    }
    if (ok && sum == len) return NB_OK;
    return nb_set_error(NB_ERR_ARG,
                        "%s: sizes %s are neither fractions summing to 1 nor counts summing "
                        "to the dataset's %lld samples",
                        op, list_str(sizes, n, buf, sizeof buf), (long long)len);
  }
  return nb_set_error(NB_ERR_ARG, "%s: fractions %s must lie in [0, 1] and sum to 1", op,
                      list_str(sizes, n, buf, sizeof buf));
}

/* Common argument checks; out[] is cleared first so a failure leaves NULLs. */
static nb_status split_args(const char *op, nb_dataset *ds, const double *sizes, int n,
                            nb_dataset **out) {
  if (out && n > 0)
    for (int k = 0; k < n; k++) out[k] = NULL;
  if (!ds) return nb__data_null(op, "dataset");
  if (n < 1 || !sizes || !out)
    return nb_set_error(NB_ERR_ARG, "%s: %d parts (sizes %s, out %s); need n >= 1", op, n,
                        sizes ? "given" : "NULL", out ? "given" : "NULL");
  return NB_OK;
}

/* Make out[k] = subset of ds at idx[offset_k .. offset_k + counts[k]). */
static nb_status make_parts(nb_dataset *ds, const int64_t *idx, const int64_t *counts, int n,
                            nb_dataset **out) {
  int64_t at = 0;
  for (int k = 0; k < n; k++) {
    out[k] = nb_subset_new(ds, idx + at, counts[k]);
    if (!out[k]) {
      for (int j = 0; j < k; j++) {
        nb_dataset_free(out[j]);
        out[j] = NULL;
      }
      return nb_last_status();
    }
    at += counts[k];
  }
  return NB_OK;
}

/* malloc'd 0..len-1 shuffled by g, or NULL with the error set. */
static int64_t *shuffled_range(const char *op, int64_t len, nb_generator *g) {
  int64_t *a =
      len >= 0 && len < INT64_MAX / 16 ? malloc(sizeof(int64_t) * (size_t)(len + 1)) : NULL;
  if (!a) {
    nb_set_error(NB_ERR_MEMORY, "%s: out of memory for %lld indices", op, (long long)len);
    return NULL;
  }
  for (int64_t i = 0; i < len; i++) a[i] = i;
  if (g) nb__shuffle(a, len, g);
  return a;
}

nb_status nb_random_split(nb_dataset *ds, const double *sizes, int n, uint64_t seed,
                          nb_dataset **out) {
  const char *op = "random_split";
  nb_status st = split_args(op, ds, sizes, n, out);
  if (st != NB_OK) return st;
  int64_t len = nb_dataset_len(ds);
  if (len < 0) return nb_last_status();
  int64_t *counts = malloc(sizeof(int64_t) * (size_t)n);
  if (!counts) return nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op);
  st = split_sizes(op, len, sizes, n, true, counts);
  nb_generator *g = st == NB_OK ? nb_generator_new(seed) : NULL;
  if (st == NB_OK && !g) st = nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op);
  int64_t *perm = g ? shuffled_range(op, len, g) : NULL;
  if (g && !perm) st = nb_last_status();
  if (perm) st = make_parts(ds, perm, counts, n, out);
  free(perm);
  nb_generator_free(g);
  free(counts);
  return st;
}

typedef struct labeled {
  int64_t label, index;
} labeled;

static int labeled_cmp(const void *pa, const void *pb) {
  const labeled *a = pa, *b = pb;
  if (a->label != b->label) return a->label < b->label ? -1 : 1;
  return (a->index > b->index) - (a->index < b->index);
}

/* Every sample's int64 class label, read through get with one scratch sample. */
static nb_status read_labels(const char *op, nb_dataset *ds, int64_t len, labeled *out) {
  const nb_field_spec *fs = &ds->features, *ts = &ds->target;
  if (!ds->has_target || ts->dtype != NB_DTYPE_INT64 || ts->ndim != 0) {
    char buf[160];
    return nb_set_error(NB_ERR_DTYPE, "%s: needs an int64 scalar class target; the dataset's is %s",
                        op, ds->has_target ? spec_str(ts, buf, sizeof buf) : "none");
  }
  nb_tensor *f = nb_empty(fs->dtype, fs->ndim, fs->shape);
  nb_tensor *t = nb_empty(ts->dtype, ts->ndim, ts->shape);
  nb_status st = f && t ? NB_OK : nb_last_status();
  for (int64_t i = 0; i < len && st == NB_OK; i++) {
    st = nb__dataset_get_into(ds, i, f, t);
    if (st == NB_OK) {
      out[i] = (labeled){*(const int64_t *)nb_data(t), i};
    } else {
      char msg[768];
      snprintf(msg, sizeof msg, "%s", nb_errmsg());
      st = nb_set_error(st, "%s: sample %lld: %s", op, (long long)i, msg);
    }
  }
  nb_free(f);
  nb_free(t);
  return st;
}

/* Split a class of m samples by fractions: floor(m * f) each, the remainder
 * one each to the parts with the largest fractional parts (ties: lower part). */
static void class_counts(int64_t m, const double *fractions, int n, int64_t *out) {
  int64_t used = 0;
  for (int k = 0; k < n; k++) used += out[k] = (int64_t)floor((double)m * fractions[k]);
  for (int64_t r = used; r < m; r++) {
    int best = -1;
    double best_frac = -1;
    for (int k = 0; k < n; k++) {
      double exact = (double)m * fractions[k];
      double frac = exact - (double)out[k]; /* < 1 while the part is below exact */
      if (frac > best_frac) {
        best_frac = frac;
        best = k;
      }
    }
    out[best]++;
  }
}

nb_status nb_stratified_split(nb_dataset *ds, const double *fractions, int n, uint64_t seed,
                              nb_dataset **out) {
  const char *op = "stratified_split";
  nb_status st = split_args(op, ds, fractions, n, out);
  if (st != NB_OK) return st;
  int64_t len = nb_dataset_len(ds);
  if (len < 0) return nb_last_status();
  /* counts: part sizes; per: one class's share of each part; next: where
   * part k's next index goes in idx (parts laid out one after another). */
  int64_t *counts = malloc(sizeof(int64_t) * (size_t)n * 3);
  labeled *lab = len < INT64_MAX / 32 ? malloc(sizeof *lab * (size_t)(len + 1)) : NULL;
  int64_t *idx = shuffled_range(op, len, NULL), *cls = shuffled_range(op, len, NULL);
  nb_generator *g = nb_generator_new(seed);
  if (!counts || !lab || !idx || !cls || !g)
    st = nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op);
  if (st == NB_OK) st = split_sizes(op, len, fractions, n, false, counts);
  if (st == NB_OK) st = read_labels(op, ds, len, lab);
  if (st == NB_OK) {
    int64_t *per = counts + n, *next = counts + 2 * n;
    qsort(lab, (size_t)len, sizeof *lab, labeled_cmp);
    for (int k = 0; k < n; k++) counts[k] = 0;
    for (int pass = 0; pass < 2; pass++) {
      /* Pass 0 sums the part sizes; pass 1 deals each shuffled class out. */
      for (int k = 0; pass == 1 && k < n; k++) next[k] = k ? next[k - 1] + counts[k - 1] : 0;
      for (int64_t lo = 0, hi; lo < len; lo = hi) {
        for (hi = lo; hi < len && lab[hi].label == lab[lo].label; hi++) {
        }
        class_counts(hi - lo, fractions, n, per);
        if (pass == 0) {
          for (int k = 0; k < n; k++) counts[k] += per[k];
          continue;
        }
        for (int64_t j = lo; j < hi; j++) cls[j] = lab[j].index;
        nb__shuffle(cls + lo, hi - lo, g);
        int64_t j = lo;
        for (int k = 0; k < n; k++)
          for (int64_t c = 0; c < per[k]; c++) idx[next[k]++] = cls[j++];
      }
    }
    /* Mix the classes within each part. */
    for (int64_t k = 0, at = 0; k < n; at += counts[k], k++) nb__shuffle(idx + at, counts[k], g);
    st = make_parts(ds, idx, counts, n, out);
  }
  nb_generator_free(g);
  free(cls);
  free(idx);
  free(lab);
  free(counts);
  return st;
}
