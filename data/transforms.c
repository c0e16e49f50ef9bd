/* data/transforms.c - composable sample transforms and the transformed dataset.
 *
 * Owns: nb_transform (standardize and min-max fitted on a dataset, per-channel
 * normalize, random crop with zero padding, random horizontal flip, one-hot
 * targets, compose), nb_transformed_new, nb_transform_stat, nb_transform_free.
 *
 * A transform is a row of a small table (tdef): how it changes a sample's
 * specs, and an apply that maps one sample's raw contiguous buffers to the
 * next. The transformed dataset flattens compositions into a list of stages,
 * computes every stage's specs once when it is made, and runs the stages in
 * its get over two scratch buffers (in place where a stage allows it), so a
 * sample costs no tensor allocation beyond the wrapped dataset's own.
 *
 * Contract decisions (documented here, data.h states the rest):
 *  - Standardize divides by the unbiased std (torch.std); a constant feature
 *    (std 0) is divided by 1 instead, as sklearn's StandardScaler does, so it
 *    maps to 0. Min-max divides a constant feature's range by 1 likewise.
 *    nb_transform_stat reports the statistics as fitted (std 0, max == min).
 *    Standardize needs at least 2 samples, min-max at least 1.
 *  - Features of any dtype are accepted by the arithmetic transforms; they
 *    come out float64 if they were float64, else float32. Statistics tensors
 *    have that output dtype and the feature shape (normalize: float64 [C]).
 *  - Random transforms draw from a splitmix64 stream seeded by
 *    (seed, epoch, sample index) (nb__mix_seed twice): the same with any
 *    thread count or sampling order, different every epoch.
 *  - Ownership: nb_transformed_new and nb_compose take the caller's reference
 *    to a transform. The same transform may be handed to several of them
 *    (e.g. one standardize fitted on the training split, applied to the
 *    training and validation sets): each further hand-over adds a reference,
 *    and the last holder frees it. Transforms are immutable once made.
 */
#include "data/data_impl.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- the transform object --------------------------------------------------- */

/* One stage's buffers: features (and target, NULL without one) in and out,
 * each contiguous with the given spec. f_out may equal f_in for a stage that
 * works in place (same dtype and size); f_out / t_out are NULL when the stage
 * does not write that field. */
typedef struct stage_io {
  const nb_field_spec *fs_in, *fs_out, *ts_in, *ts_out;
  const void *f_in, *t_in;
  void *f_out, *t_out;
  uint64_t seed; /* this stage's seed for this sample (random stages) */
} stage_io;

typedef struct tdef {
  const char *name;
  /* Turn the input specs into the output specs in place (tg NULL when the
   * dataset has no target); an error if the transform does not apply. */
  nb_status (*spec)(const nb_transform *t, nb_field_spec *f, nb_field_spec *tg);
  nb_status (*apply)(const nb_transform *t, const stage_io *io);
  bool writes_features, writes_target;
  bool in_place; /* f_out may alias f_in when dtype and size are unchanged */
  bool random;
} tdef;

#define MAX_STATS 2

struct nb_transform {
  const tdef *def;
  atomic_int refs;
  atomic_bool adopted; /* the maker's reference was handed to a holder */
  /* affine transforms: y = (x - shift[k]) / scale[k], k = element / group */
  double *shift, *scale;
  int64_t nstat;
  bool per_channel;     /* normalize: k = channel; else k = element */
  nb_field_spec fitted; /* standardize / min-max: the feature spec fitted on */
  const char *stat_names[MAX_STATS];
  nb_tensor *stats[MAX_STATS]; /* borrowed out by nb_transform_stat */
  /* random crop / flip */
  int64_t height, width, padding;
  double p;
  uint64_t seed;
  /* one-hot */
  int64_t classes;
  /* compose */
  nb_transform **parts;
  int nparts;
};

static nb_transform *transform_new(const tdef *def, const char *op) {
  nb_transform *t = calloc(1, sizeof *t);
  if (!t) {
    nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op);
    return NULL;
  }
  t->def = def;
  atomic_init(&t->refs, 1);
  atomic_init(&t->adopted, false);
  return t;
}

/* A holder (dataset or compose) takes a reference: the maker's for the first
 * hand-over, a new one for each further one. */
static void transform_adopt(nb_transform *t) {
  if (atomic_exchange(&t->adopted, true)) atomic_fetch_add(&t->refs, 1);
}

void nb_transform_free(nb_transform *t) {
  if (!t || atomic_fetch_sub(&t->refs, 1) != 1) return;
  for (int i = 0; i < t->nparts; i++) nb_transform_free(t->parts[i]);
  free(t->parts);
  for (int i = 0; i < MAX_STATS; i++) nb_free(t->stats[i]);
  free(t->shift);
  free(t->scale);
  free(t);
}

nb_tensor *nb_transform_stat(const nb_transform *t, const char *name) {
  if (!t || !name) return NULL;
  for (int i = 0; i < MAX_STATS; i++)
    if (t->stat_names[i] && strcmp(t->stat_names[i], name) == 0) return t->stats[i];
  for (int i = 0; i < t->nparts; i++) {
    nb_tensor *s = nb_transform_stat(t->parts[i], name);
    if (s) return s;
  }
  return NULL;
}

/* ---- helpers ------------------------------------------------------------------- */

static int64_t spec_numel(const nb_field_spec *s) { return nb__spec_numel(s); }

static bool spec_equal(const nb_field_spec *a, const nb_field_spec *b) {
  if (a->dtype != b->dtype || a->ndim != b->ndim) return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return false;
  return true;
}

/* "[2, 3]" for a spec's shape. */
static const char *spec_shape(const nb_field_spec *s, char *buf, size_t size) {
  size_t at = 0;
  at += (size_t)snprintf(buf, size, "[");
  for (int d = 0; d < s->ndim && at < size; d++)
    at += (size_t)snprintf(buf + at, size - at, d ? ", %lld" : "%lld", (long long)s->shape[d]);
  if (at < size) snprintf(buf + at, size - at, "]");
  return buf;
}

/* The floating dtype arithmetic transforms produce from `in`. */
static nb_dtype float_out(nb_dtype in) {
  return in == NB_DTYPE_FLOAT64 ? NB_DTYPE_FLOAT64 : NB_DTYPE_FLOAT32;
}

/* n elements of dtype at src as doubles. */
static void load_doubles(nb_dtype dtype, const void *src, double *dst, int64_t n) {
  switch (dtype) {
  case NB_DTYPE_FLOAT32:
    for (int64_t i = 0; i < n; i++) dst[i] = ((const float *)src)[i];
    break;
  case NB_DTYPE_FLOAT64: memcpy(dst, src, (size_t)n * sizeof *dst); break;
  case NB_DTYPE_INT64:
    for (int64_t i = 0; i < n; i++) dst[i] = (double)((const int64_t *)src)[i];
    break;
  case NB_DTYPE_BOOL:
    for (int64_t i = 0; i < n; i++) dst[i] = ((const uint8_t *)src)[i] != 0;
    break;
  default: break;
  }
}

/* A tensor of `spec` over memory we own (released by nobody). */
static nb_tensor *wrap(const nb_field_spec *s, void *data) {
  return nb_from_blob(s->dtype, data, s->ndim, s->shape, NULL, NULL, NULL);
}

/* Splitmix64: the per-sample stream of random stages. */
static uint64_t next_u64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double next_uniform(uint64_t *s) { return (double)(next_u64(s) >> 11) * 0x1.0p-53; }
/* Uniform integer in [0, n). */
static int64_t next_below(uint64_t *s, int64_t n) {
  int64_t v = (int64_t)(next_uniform(s) * (double)n);
  return v < n ? v : n - 1;
}

/* ---- affine transforms: standardize, min-max, normalize ------------------------------ */

static nb_status affine_spec(const nb_transform *t, nb_field_spec *f, nb_field_spec *tg) {
  (void)tg;
  char a[128], b[128];
  if (t->per_channel) {
    if (f->ndim < 1 || f->shape[0] != t->nstat)
      return nb_set_error(NB_ERR_SHAPE,
                          "%s: features %s: expected %lld channels first ([C, ...] samples)",
                          t->def->name, spec_shape(f, a, sizeof a), (long long)t->nstat);
  } else {
    nb_field_spec want = t->fitted;
    want.dtype = f->dtype;
    if (!spec_equal(f, &want))
      return nb_set_error(NB_ERR_SHAPE, "%s: fitted on features %s, applied to features %s",
                          t->def->name, spec_shape(&t->fitted, a, sizeof a),
                          spec_shape(f, b, sizeof b));
  }
  f->dtype = float_out(f->dtype);
  return NB_OK;
}

/* y[e] = (x[e] - shift[k]) / scale[k] over groups of `group` elements. */
#define AFFINE_LOOP(IT, OT)                                                                        \
  do {                                                                                             \
    const IT *x = io->f_in;                                                                        \
    OT *y = io->f_out;                                                                             \
    for (int64_t k = 0, e = 0; k < t->nstat; k++) {                                                \
      const double sh = t->shift[k], sc = t->scale[k];                                             \
      for (int64_t end = e + group; e < end; e++) y[e] = (OT)(((double)x[e] - sh) / sc);           \
    }                                                                                              \
  } while (0)

static nb_status affine_apply(const nb_transform *t, const stage_io *io) {
  int64_t n = spec_numel(io->fs_in);
  int64_t group = t->nstat ? n / t->nstat : 0;
  bool f64 = io->fs_out->dtype == NB_DTYPE_FLOAT64;
  switch (io->fs_in->dtype) {
  case NB_DTYPE_FLOAT32: AFFINE_LOOP(float, float); break;
  case NB_DTYPE_FLOAT64: AFFINE_LOOP(double, double); break;
  case NB_DTYPE_INT64:
    if (f64)
      AFFINE_LOOP(int64_t, double);
    else
      AFFINE_LOOP(int64_t, float);
    break;
  case NB_DTYPE_BOOL:
    if (f64)
      AFFINE_LOOP(uint8_t, double);
    else
      AFFINE_LOOP(uint8_t, float);
    break;
  default: return nb_set_error(NB_ERR_DTYPE, "%s: invalid dtype", t->def->name);
  }
  return NB_OK;
}
#undef AFFINE_LOOP

static const tdef standardize_def = {.name = "standardize",
                                     .spec = affine_spec,
                                     .apply = affine_apply,
                                     .writes_features = true,
                                     .in_place = true};
static const tdef minmax_def = {.name = "minmax",
                                .spec = affine_spec,
                                .apply = affine_apply,
                                .writes_features = true,
                                .in_place = true};
static const tdef normalize_def = {.name = "normalize",
                                   .spec = affine_spec,
                                   .apply = affine_apply,
                                   .writes_features = true,
                                   .in_place = true};

/* Keep a statistic (doubles, the fitted spec's shape) as a tensor of dtype. */
static bool add_stat(nb_transform *t, int slot, const char *name, const double *v, nb_dtype dtype,
                     int ndim, const int64_t *shape) {
  nb_tensor *d = nb_from_data(NB_DTYPE_FLOAT64, v, ndim, shape);
  nb_tensor *s = d ? nbk_to(d, dtype) : NULL;
  nb_free(d);
  if (!s) return false;
  t->stat_names[slot] = name;
  t->stats[slot] = nb_keep(s); /* outlives any scope open now */
  return true;
}

/* Fit standardize (mean/std) or min-max (min/max) per feature element. */
static nb_transform *fit(nb_dataset *train, const tdef *def) {
  const char *op = def->name;
  if (!train) return nb__data_null(op, "dataset"), NULL;
  const nb_field_spec *fs = nb_dataset_features(train), *ts = nb_dataset_target(train);
  int64_t n = nb_dataset_len(train), nf = spec_numel(fs);
  bool std_mode = def == &standardize_def;
  if (n < (std_mode ? 2 : 1))
    return nb_set_error(NB_ERR_ARG, "%s: fitting needs at least %d samples, the dataset has %lld",
                        op, std_mode ? 2 : 1, (long long)n),
           NULL;
  nb_transform *t = transform_new(def, op);
  if (!t) return NULL;
  size_t k = (size_t)(nf ? nf : 1);
  double *a = calloc(k, sizeof *a), *b = calloc(k, sizeof *b), *x = malloc(k * sizeof *x);
  void *fbuf = malloc(nb__spec_bytes(fs) + 8), *tbuf = ts ? malloc(nb__spec_bytes(ts) + 8) : NULL;
  nb_tensor *ft = fbuf ? wrap(fs, fbuf) : NULL, *tt = tbuf ? wrap(ts, tbuf) : NULL;
  bool ok = a && b && x && ft && (!ts || tt);
  if (!ok && nb_last_status() == NB_OK) nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op);
  /* One pass: Welford's mean and sum of squared deviations (a, b), or
   * min and max (a, b), in double. */
  for (int64_t i = 0; ok && i < n; i++) {
    nb_status st = nb__dataset_get_into(train, i, ft, tt);
    if (st != NB_OK) {
      char msg[768];
      snprintf(msg, sizeof msg, "%s", nb_errmsg());
      nb_set_error(st, "%s: sample %lld: %s", op, (long long)i, msg);
      ok = false;
      break;
    }
    load_doubles(fs->dtype, fbuf, x, nf);
    if (std_mode) {
      for (int64_t e = 0; e < nf; e++) {
        double d = x[e] - a[e];
        a[e] += d / (double)(i + 1);
        b[e] += d * (x[e] - a[e]);
      }
    } else if (i == 0) {
      memcpy(a, x, (size_t)nf * sizeof *x);
      memcpy(b, x, (size_t)nf * sizeof *x);
    } else {
      for (int64_t e = 0; e < nf; e++) {
        a[e] = x[e] < a[e] ? x[e] : a[e];
        b[e] = x[e] > b[e] ? x[e] : b[e];
      }
    }
  }
  if (ok) {
    t->fitted = *fs;
    t->nstat = nf;
    nb_dtype od = float_out(fs->dtype);
    if (std_mode) {
      for (int64_t e = 0; e < nf; e++) b[e] = sqrt(b[e] / (double)(n - 1));
      ok = add_stat(t, 0, "mean", a, od, fs->ndim, fs->shape) &&
           add_stat(t, 1, "std", b, od, fs->ndim, fs->shape);
      for (int64_t e = 0; e < nf; e++) b[e] = b[e] > 0 ? b[e] : 1.0;
    } else {
      ok = add_stat(t, 0, "min", a, od, fs->ndim, fs->shape) &&
           add_stat(t, 1, "max", b, od, fs->ndim, fs->shape);
      for (int64_t e = 0; e < nf; e++) b[e] = b[e] > a[e] ? b[e] - a[e] : 1.0;
    }
    t->shift = a;
    t->scale = b;
    a = b = NULL;
  }
  nb_free(ft);
  nb_free(tt);
  free(fbuf);
  free(tbuf);
  free(x);
  free(a);
  free(b);
  if (!ok) {
    nb_transform_free(t);
    return NULL;
  }
  return t;
}

nb_transform *nb_standardize_fit(nb_dataset *train) { return fit(train, &standardize_def); }

nb_transform *nb_minmax_fit(nb_dataset *train) { return fit(train, &minmax_def); }

nb_transform *nb_normalize_new(const double *mean, const double *std, int channels) {
  const char *op = normalize_def.name;
  if (channels < 1)
    return nb_set_error(NB_ERR_ARG, "%s: %d channels; need >= 1", op, channels), NULL;
  if (!mean || !std) return nb_set_error(NB_ERR_ARG, "%s: mean or std is NULL", op), NULL;
  for (int c = 0; c < channels; c++) {
    if (!isfinite(mean[c]))
      return nb_set_error(NB_ERR_ARG, "%s: mean[%d] = %g is not finite", op, c, mean[c]), NULL;
    if (!(std[c] > 0) || !isfinite(std[c]))
      return nb_set_error(NB_ERR_ARG, "%s: std[%d] = %g; need a finite value > 0", op, c, std[c]),
             NULL;
  }
  nb_transform *t = transform_new(&normalize_def, op);
  if (!t) return NULL;
  t->per_channel = true;
  t->nstat = channels;
  t->shift = malloc((size_t)channels * sizeof *t->shift);
  t->scale = malloc((size_t)channels * sizeof *t->scale);
  int64_t shape[1] = {channels};
  if (!t->shift || !t->scale || !add_stat(t, 0, "mean", mean, NB_DTYPE_FLOAT64, 1, shape) ||
      !add_stat(t, 1, "std", std, NB_DTYPE_FLOAT64, 1, shape)) {
    if (nb_last_status() == NB_OK) nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op);
    nb_transform_free(t);
    return NULL;
  }
  memcpy(t->shift, mean, (size_t)channels * sizeof *mean);
  memcpy(t->scale, std, (size_t)channels * sizeof *std);
  return t;
}

/* ---- random crop ------------------------------------------------------------------ */

static nb_status crop_spec(const nb_transform *t, nb_field_spec *f, nb_field_spec *tg) {
  (void)tg;
  char a[128];
  if (f->ndim < 2)
    return nb_set_error(NB_ERR_SHAPE, "random_crop: features %s: expected [..., H, W] images",
                        spec_shape(f, a, sizeof a));
  int64_t h = f->shape[f->ndim - 2], w = f->shape[f->ndim - 1];
  if (t->height > h + 2 * t->padding || t->width > w + 2 * t->padding)
    return nb_set_error(NB_ERR_SHAPE,
                        "random_crop: a %lld x %lld crop does not fit %s images padded by %lld",
                        (long long)t->height, (long long)t->width, spec_shape(f, a, sizeof a),
                        (long long)t->padding);
  f->shape[f->ndim - 2] = t->height;
  f->shape[f->ndim - 1] = t->width;
  return NB_OK;
}

static nb_status crop_apply(const nb_transform *t, const stage_io *io) {
  const nb_field_spec *in = io->fs_in;
  const int64_t H = in->shape[in->ndim - 2], W = in->shape[in->ndim - 1];
  const int64_t h = t->height, w = t->width, pad = t->padding;
  const size_t es = nb_dtype_size(in->dtype);
  int64_t lead = 1;
  for (int d = 0; d < in->ndim - 2; d++) lead *= in->shape[d];
  /* torchvision's RandomCrop: a window of the padded image, top then left */
  uint64_t rng = io->seed;
  const int64_t top = next_below(&rng, H + 2 * pad - h + 1);
  const int64_t left = next_below(&rng, W + 2 * pad - w + 1);
  /* columns [c_lo, c_hi) of the output come from the image, the rest is 0 */
  int64_t c_lo = pad - left > 0 ? pad - left : 0;
  int64_t c_hi = W + pad - left < w ? W + pad - left : w;
  if (c_hi < c_lo) c_hi = c_lo;
  const char *src = io->f_in;
  char *dst = io->f_out;
  for (int64_t l = 0; l < lead; l++) {
    const char *plane = src + (size_t)(l * H * W) * es;
    for (int64_t r = 0; r < h; r++, dst += (size_t)w * es) {
      int64_t sr = top + r - pad;
      if (sr < 0 || sr >= H) {
        memset(dst, 0, (size_t)w * es);
        continue;
      }
      memset(dst, 0, (size_t)c_lo * es);
      memcpy(dst + (size_t)c_lo * es, plane + (size_t)(sr * W + left + c_lo - pad) * es,
             (size_t)(c_hi - c_lo) * es);
      memset(dst + (size_t)c_hi * es, 0, (size_t)(w - c_hi) * es);
    }
  }
  return NB_OK;
}

static const tdef crop_def = {.name = "random_crop",
                              .spec = crop_spec,
                              .apply = crop_apply,
                              .writes_features = true,
                              .random = true};

nb_transform *nb_random_crop_new(int64_t height, int64_t width, int64_t padding, uint64_t seed) {
  if (height < 1 || width < 1 || padding < 0 || padding > INT32_MAX || height > INT32_MAX ||
      width > INT32_MAX)
    return nb_set_error(NB_ERR_ARG,
                        "random_crop: size %lld x %lld, padding %lld; need sizes >= 1 and "
                        "padding >= 0",
                        (long long)height, (long long)width, (long long)padding),
           NULL;
  nb_transform *t = transform_new(&crop_def, "random_crop");
  if (!t) return NULL;
  t->height = height;
  t->width = width;
  t->padding = padding;
  t->seed = seed;
  return t;
}

/* ---- random horizontal flip ----------------------------------------------------------- */

static nb_status flip_spec(const nb_transform *t, nb_field_spec *f, nb_field_spec *tg) {
  (void)t;
  (void)tg;
  char a[128];
  if (f->ndim < 1)
    return nb_set_error(NB_ERR_SHAPE, "random_hflip: features %s: nothing to flip",
                        spec_shape(f, a, sizeof a));
  return NB_OK;
}

static nb_status flip_apply(const nb_transform *t, const stage_io *io) {
  const size_t es = nb_dtype_size(io->fs_in->dtype);
  const int64_t n = spec_numel(io->fs_in), W = io->fs_in->shape[io->fs_in->ndim - 1];
  if (io->f_out != io->f_in) memcpy(io->f_out, io->f_in, (size_t)n * es);
  uint64_t rng = io->seed;
  if (!(next_uniform(&rng) < t->p) || W < 2) return NB_OK;
  char *row = io->f_out, tmp[16];
  for (int64_t r = 0; r < n / W; r++, row += (size_t)W * es)
    for (int64_t i = 0, j = W - 1; i < j; i++, j--) {
      memcpy(tmp, row + (size_t)i * es, es);
      memcpy(row + (size_t)i * es, row + (size_t)j * es, es);
      memcpy(row + (size_t)j * es, tmp, es);
    }
  return NB_OK;
}

static const tdef flip_def = {.name = "random_hflip",
                              .spec = flip_spec,
                              .apply = flip_apply,
                              .writes_features = true,
                              .in_place = true,
                              .random = true};

nb_transform *nb_random_hflip_new(double p, uint64_t seed) {
  if (!(p >= 0 && p <= 1))
    return nb_set_error(NB_ERR_ARG, "random_hflip: probability %g not in [0, 1]", p), NULL;
  nb_transform *t = transform_new(&flip_def, "random_hflip");
  if (!t) return NULL;
  t->p = p;
  t->seed = seed;
  return t;
}

/* ---- one-hot targets ------------------------------------------------------------------ */

static nb_status onehot_spec(const nb_transform *t, nb_field_spec *f, nb_field_spec *tg) {
  (void)f;
  char a[128];
  if (!tg) return nb_set_error(NB_ERR_ARG, "one_hot_target: the dataset has no target");
  if (tg->dtype != NB_DTYPE_INT64 || tg->ndim != 0)
    return nb_set_error(NB_ERR_DTYPE,
                        "one_hot_target: target %s %s; expected an int64 class index (a scalar)",
                        nb_dtype_name(tg->dtype), spec_shape(tg, a, sizeof a));
  *tg = (nb_field_spec){.dtype = NB_DTYPE_FLOAT32, .ndim = 1, .shape = {t->classes}};
  return NB_OK;
}

static nb_status onehot_apply(const nb_transform *t, const stage_io *io) {
  int64_t c = *(const int64_t *)io->t_in;
  if (c < 0 || c >= t->classes)
    return nb_set_error(NB_ERR_INDEX,
                        "one_hot_target: class index %lld out of range for %lld classes",
                        (long long)c, (long long)t->classes);
  float *y = io->t_out;
  for (int64_t i = 0; i < t->classes; i++) y[i] = 0.0f;
  y[c] = 1.0f;
  return NB_OK;
}

static const tdef onehot_def = {
    .name = "one_hot_target", .spec = onehot_spec, .apply = onehot_apply, .writes_target = true};

nb_transform *nb_one_hot_target_new(int64_t num_classes) {
  if (num_classes < 1 || num_classes > INT32_MAX)
    return nb_set_error(NB_ERR_ARG, "one_hot_target: %lld classes; need >= 1",
                        (long long)num_classes),
           NULL;
  nb_transform *t = transform_new(&onehot_def, "one_hot_target");
  if (t) t->classes = num_classes;
  return t;
}

/* ---- compose ------------------------------------------------------------------------------ */

/* Flattened into its parts by nb_transformed_new; never applied itself. */
static const tdef compose_def = {.name = "compose"};

nb_transform *nb_compose(nb_transform **ts, int n) {
  const char *op = compose_def.name;
  if (!ts || n < 1) return nb_set_error(NB_ERR_ARG, "%s: %d transforms; need >= 1", op, n), NULL;
  bool missing = false;
  for (int i = 0; i < n; i++) missing = missing || !ts[i];
  nb_transform *t = missing ? NULL : transform_new(&compose_def, op);
  if (t && !(t->parts = malloc((size_t)n * sizeof *t->parts))) {
    nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op);
    free(t);
    t = NULL;
  }
  if (!t) {
    if (missing) nb__data_null(op, "a transform");
    /* ownership was taken: release what was handed over */
    for (int i = 0; i < n; i++)
      if (ts[i]) {
        transform_adopt(ts[i]);
        nb_transform_free(ts[i]);
      }
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    transform_adopt(ts[i]);
    t->parts[i] = ts[i];
  }
  t->nparts = n;
  return t;
}

/* ---- the transformed dataset ---------------------------------------------------------------- */

typedef struct tds {
  nb_dataset *inner; /* held through the dataset's wrapped[] reference */
  nb_transform *t;   /* our reference */
  const nb_transform **stages;
  int nstages;
  nb_field_spec *fs, *ts; /* nstages + 1 specs each: the input, then each stage's output */
  bool has_target;
  size_t fbytes, tbytes; /* scratch per buffer (rounded to 64 bytes) */
  _Atomic int64_t epoch;
} tds;

static void tds_free(void *ctx) {
  tds *d = ctx;
  if (!d) return;
  nb_transform_free(d->t);
  free(d->stages);
  free(d->fs);
  free(d->ts);
  free(d);
}

static int64_t tds_len(void *ctx) { return nb_dataset_len(((tds *)ctx)->inner); }

static void tds_set_epoch(void *ctx, int64_t epoch) {
  atomic_store_explicit(&((tds *)ctx)->epoch, epoch, memory_order_relaxed);
}

/* The buffer a stage writes into: the current one when it may work in place
 * (same dtype and size), else the scratch buffer that is not current. */
static void *pick_out(const tdef *def, const nb_field_spec *in, const nb_field_spec *out, void *cur,
                      void *const bufs[2]) {
  if (def->in_place && in->dtype == out->dtype && spec_numel(in) == spec_numel(out)) return cur;
  return cur == bufs[0] ? bufs[1] : bufs[0];
}

/* Put a finished field (contiguous at src, spec s) into the caller's tensor. */
static nb_status deliver(nb_tensor *dst, const nb_field_spec *s, void *src) {
  if (nb_data(dst) == src) return NB_OK;
  if (nb_is_contiguous(dst)) {
    memcpy(nb_data(dst), src, nb__spec_bytes(s));
    return NB_OK;
  }
  nb_tensor *w = wrap(s, src);
  nb_status st = w ? nb_copy_(dst, w) : nb_last_status();
  nb_free(w);
  return st;
}

static nb_status tds_get(void *ctx, int64_t index, nb_tensor *features, nb_tensor *target) {
  tds *d = ctx;
  const int n = d->nstages;
  const size_t total = 2 * (d->fbytes + d->tbytes);
  double small[512]; /* 4 KiB on the stack covers tabular samples */
  char *scratch = total <= sizeof small ? (char *)small : malloc(total);
  if (!scratch) return nb_set_error(NB_ERR_MEMORY, "transformed dataset: out of memory");
  void *fb[2] = {scratch, scratch + d->fbytes};
  void *tb[2] = {scratch + 2 * d->fbytes, scratch + 2 * d->fbytes + d->tbytes};
  bool has_t = d->has_target && target;

  /* The wrapped sample goes straight into the caller's tensor when nothing
   * changes its spec, else into scratch. */
  nb_tensor *fin = spec_equal(&d->fs[0], &d->fs[n]) && nb_is_contiguous(features)
                       ? features
                       : wrap(&d->fs[0], fb[0]);
  nb_tensor *tin = !d->has_target ? NULL
                   : has_t && spec_equal(&d->ts[0], &d->ts[n]) && nb_is_contiguous(target)
                       ? target
                       : wrap(&d->ts[0], tb[0]);
  nb_status st = !fin || (d->has_target && !tin) ? nb_last_status()
                                                 : nb__dataset_get_into(d->inner, index, fin, tin);
  void *cf = fin ? nb_data(fin) : NULL, *ct = tin ? nb_data(tin) : NULL;
  if (fin != features) nb_free(fin);
  if (tin != target) nb_free(tin);

  const int64_t epoch = atomic_load_explicit(&d->epoch, memory_order_relaxed);
  for (int k = 0; k < n && st == NB_OK; k++) {
    const nb_transform *t = d->stages[k];
    const tdef *def = t->def;
    stage_io io = {.fs_in = &d->fs[k], .fs_out = &d->fs[k + 1], .f_in = cf};
    if (d->has_target) {
      io.ts_in = &d->ts[k];
      io.ts_out = &d->ts[k + 1];
      io.t_in = ct;
    }
    if (def->writes_features) io.f_out = pick_out(def, io.fs_in, io.fs_out, cf, fb);
    if (def->writes_target) io.t_out = pick_out(def, io.ts_in, io.ts_out, ct, tb);
    if (def->random) io.seed = nb__mix_seed(nb__mix_seed(t->seed, epoch), index);
    st = def->apply(t, &io);
    if (io.f_out) cf = io.f_out;
    if (io.t_out) ct = io.t_out;
  }
  if (st == NB_OK) st = deliver(features, &d->fs[n], cf);
  if (st == NB_OK && has_t) st = deliver(target, &d->ts[n], ct);
  if (scratch != (char *)small) free(scratch);
  return st;
}

static const nb_dataset_ops tds_ops = {.len = tds_len, .get = tds_get, .free = tds_free};

/* Count (out NULL) or list the leaf transforms of t in order. */
static int flatten(const nb_transform *t, const nb_transform **out, int at) {
  if (t->def != &compose_def) {
    if (out) out[at] = t;
    return at + 1;
  }
  for (int i = 0; i < t->nparts; i++) at = flatten(t->parts[i], out, at);
  return at;
}

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

nb_dataset *nb_transformed_new(nb_dataset *ds, nb_transform *t) {
  const char *op = "transformed_new";
  if (t) transform_adopt(t); /* ours from here on, whatever happens */
  if (!ds || !t) {
    nb__data_null(op, ds ? "transform" : "dataset");
    nb_transform_free(t);
    return NULL;
  }
  tds *d = calloc(1, sizeof *d);
  if (!d) {
    nb_transform_free(t);
    return nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op), NULL;
  }
  d->inner = ds;
  d->t = t;
  d->nstages = flatten(t, NULL, 0);
  d->stages = malloc((size_t)d->nstages * sizeof *d->stages);
  d->fs = malloc((size_t)(d->nstages + 1) * sizeof *d->fs);
  d->ts = calloc((size_t)(d->nstages + 1), sizeof *d->ts);
  if (!d->stages || !d->fs || !d->ts) {
    tds_free(d);
    return nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op), NULL;
  }
  flatten(t, d->stages, 0);
  const nb_field_spec *ts = nb_dataset_target(ds);
  d->has_target = ts != NULL;
  d->fs[0] = *nb_dataset_features(ds);
  if (ts) d->ts[0] = *ts;
  atomic_init(&d->epoch, 0);
  for (int k = 0; k < d->nstages; k++) {
    d->fs[k + 1] = d->fs[k];
    d->ts[k + 1] = d->ts[k];
    if (d->stages[k]->def->spec(d->stages[k], &d->fs[k + 1], ts ? &d->ts[k + 1] : NULL) != NB_OK) {
      tds_free(d);
      return NULL;
    }
  }
  for (int k = 0; k <= d->nstages; k++) {
    size_t fb = round64(nb__spec_bytes(&d->fs[k])), tb = round64(nb__spec_bytes(&d->ts[k]));
    d->fbytes = fb > d->fbytes ? fb : d->fbytes;
    d->tbytes = ts && tb > d->tbytes ? tb : d->tbytes;
  }
  int n = d->nstages;
  nb_dataset *out =
      nb__dataset_make(&tds_ops, d, &d->fs[n], ts ? &d->ts[n] : NULL, &ds, 1, tds_set_epoch);
  if (!out) tds_free(d);
  return out;
}
