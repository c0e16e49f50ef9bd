/* tests/data/test_transforms.c - transforms and the transformed dataset
 * (data/transforms.c).
 *
 * Owns the tests of standardize and min-max (statistics against nbk_mean /
 * nbk_std / nbk_amin / nbk_amax over the wine training split, applied to the
 * validation split with the same transform, constant features, int64
 * features), normalize, random crop (every output is a window of the padded
 * image) and flip, one-hot targets, compose, the specs a transformed dataset
 * reports, epoch propagation, determinism of the random transforms with 1 and
 * 2 loader threads and their change between epochs, and the error paths.
 */
#include "support/nbtest.h"

#include "data/data.h"

#include <math.h>
#include <string.h>

TestSuite(transforms, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

#define DATASETS NB_SOURCE_DIR "/datasets/"

static nb_dataset *wine(void) {
  nb_dataset *ds = nb_csv_load(DATASETS "wine.csv", &(nb_csv_opts){.target_column = "class"});
  cr_assert(ds, "%s", nb_errmsg());
  return ds;
}

/* Every sample's features stacked into [N, ...] (and targets into [N, ...]). */
static nb_tensor *stack_all(nb_dataset *ds, nb_tensor **targets) {
  int64_t n = nb_dataset_len(ds);
  nb_tensor **xs = malloc(sizeof *xs * (size_t)n), **ys = malloc(sizeof *ys * (size_t)n);
  for (int64_t i = 0; i < n; i++) nbt_assert_ok(nb_dataset_get(ds, i, &xs[i], &ys[i]), "get");
  nb_tensor *x = nbk_stack(xs, (int)n, 0);
  if (targets) *targets = ys[0] ? nbk_stack(ys, (int)n, 0) : NULL;
  for (int64_t i = 0; i < n; i++) {
    nb_free(xs[i]);
    nb_free(ys[i]);
  }
  free(xs);
  free(ys);
  cr_assert(x, "%s", nb_errmsg());
  return x;
}

/* A tensor dataset over a copy of `values` [n, f] (float32), targets 0..n-1 mod classes. */
static nb_dataset *table(const double *values, int64_t n, int64_t f, int64_t classes) {
  nb_tensor *d = nb_from_data(NB_DTYPE_FLOAT64, values, 2, (const int64_t[]){n, f});
  nb_tensor *x = nbk_to(d, NB_DTYPE_FLOAT32);
  nb_tensor *y = NULL;
  if (classes > 0) {
    int64_t *labels = malloc(sizeof *labels * (size_t)n);
    for (int64_t i = 0; i < n; i++) labels[i] = i % classes;
    y = nb_from_data(NB_DTYPE_INT64, labels, 1, &n);
    free(labels);
  }
  nb_dataset *ds = nb_tensor_dataset_new(x, y);
  cr_assert(ds, "%s", nb_errmsg());
  nb_free(d);
  nb_free(x);
  nb_free(y);
  return ds;
}

/* ---- standardize and min-max ---------------------------------------------------------------- */

Test(transforms, standardize_wine_training_split) {
  nb_dataset *all = wine(), *parts[2];
  nbt_assert_ok(nb_random_split(all, (const double[]){0.8, 0.2}, 2, 42, parts), "split");
  nb_dataset_free(all);
  nb_transform *t = nb_standardize_fit(parts[0]);
  cr_assert(t, "%s", nb_errmsg());

  /* statistics: the training split's mean and unbiased std, per feature */
  nb_tensor *x = stack_all(parts[0], NULL);
  nbt_assert_shape(x, NB_SHAPE(nb_dataset_len(parts[0]), 13), "train");
  cr_assert_eq(nb_dataset_len(parts[0]), 143); /* 0.8 * 178 rounded as torch's random_split */
  nb_tensor *mean = nbk_mean(x, NB_DIMS(0), false), *std = nbk_std(x, NB_DIMS(0), 1.0, false);
  nbt_assert_close(nb_transform_stat(t, "mean"), mean, 1e-6, 1e-6, "mean");
  nbt_assert_close(nb_transform_stat(t, "std"), std, 1e-6, 1e-6, "std");
  cr_assert_null(nb_transform_stat(t, "min"));
  cr_assert_null(nb_transform_stat(t, "nope"));

  /* one transform for both splits: the validation set uses the training statistics */
  nb_dataset *train = nb_transformed_new(parts[0], t);
  nb_dataset *val = nb_transformed_new(parts[1], t);
  cr_assert(train && val, "%s", nb_errmsg());
  nb_tensor *xt = stack_all(train, NULL);
  nb_scope_begin();
  nbt_assert_close(xt, nbk_div(nbk_sub(x, mean), std), 1e-5, 1e-5, "standardized train");
  nb_scope_end();
  /* which has mean 0 and std 1 */
  nb_tensor *m0 = nbk_mean(xt, NB_DIMS(0), false), *s1 = nbk_std(xt, NB_DIMS(0), 1.0, false);
  for (int j = 0; j < 13; j++) {
    cr_assert_float_eq(((float *)nb_data(m0))[j], 0.0, 1e-5);
    cr_assert_float_eq(((float *)nb_data(s1))[j], 1.0, 1e-5);
  }
  nb_tensor *xv = stack_all(parts[1], NULL), *xvt = stack_all(val, NULL);
  nb_scope_begin();
  nbt_assert_close(xvt, nbk_div(nbk_sub(xv, mean), std), 1e-5, 1e-5, "standardized validation");
  nb_scope_end();
  /* targets pass through */
  nb_tensor *f, *y, *f2, *y2;
  nbt_assert_ok(nb_dataset_get(parts[1], 3, &f, &y), "get");
  nbt_assert_ok(nb_dataset_get(val, 3, &f2, &y2), "get");
  cr_assert(nb_equal(y, y2));
  /* the CSV class names are reachable through the transform */
  cr_assert_eq(nb_csv_num_classes(val), 3);

  nb_free(f), nb_free(y), nb_free(f2), nb_free(y2);
  nb_free(x), nb_free(mean), nb_free(std), nb_free(xt), nb_free(m0);
  nb_free(s1), nb_free(xv), nb_free(xvt);
  /* free in any order: the transform lives until its last dataset goes */
  nb_dataset_free(parts[0]);
  nb_dataset_free(train);
  nb_dataset_free(parts[1]);
  nb_dataset_free(val);
}

Test(transforms, standardize_constant_feature_and_int64) {
  /* column 1 is constant: std 0, divided by 1, so it maps to 0 */
  const double v[] = {1, 5, 2, 5, 3, 5, 6, 5};
  nb_dataset *ds = table(v, 4, 2, 2);
  nb_transform *t = nb_standardize_fit(ds);
  cr_assert(t);
  nbt_assert_values(nb_transform_stat(t, "mean"), ((double[]){3, 5}), 2, 1e-6, 1e-6, "mean");
  nbt_assert_values(nb_transform_stat(t, "std"), ((double[]){sqrt(14.0 / 3.0), 0}), 2, 1e-6, 1e-6,
                    "std");
  nb_dataset *s = nb_transformed_new(ds, t);
  nb_tensor *x = stack_all(s, NULL);
  double s0 = sqrt(14.0 / 3.0);
  nbt_assert_values(x, ((double[]){-2 / s0, 0, -1 / s0, 0, 0, 0, 3 / s0, 0}), 8, 1e-6, 1e-6,
                    "standardized");
  nb_free(x);
  nb_dataset_free(s);
  nb_dataset_free(ds);

  /* int64 features come out float32 */
  nb_tensor *xi =
      nb_from_data(NB_DTYPE_INT64, (const int64_t[]){1, 2, 3, 6}, 2, (const int64_t[]){4, 1});
  nb_dataset *di = nb_tensor_dataset_new(xi, NULL);
  nb_free(xi);
  nb_dataset *si = nb_transformed_new(di, nb_standardize_fit(di));
  cr_assert(si, "%s", nb_errmsg());
  cr_assert_eq(nb_dataset_features(si)->dtype, NB_DTYPE_FLOAT32);
  cr_assert_null(nb_dataset_target(si));
  nb_tensor *f, *y;
  nbt_assert_ok(nb_dataset_get(si, 3, &f, &y), "get");
  cr_assert_null(y);
  nbt_assert_values(f, ((double[]){3 / sqrt(14.0 / 3.0)}), 1, 1e-6, 1e-6, "int64 in");
  nb_free(f);
  nb_dataset_free(di);
  nb_dataset_free(si);
}

Test(transforms, standardize_float64_keeps_float64) {
  nb_dataset *ds = nb_csv_load(DATASETS "iris.csv",
                               &(nb_csv_opts){.dtype = NB_DTYPE_FLOAT64, .target_index = -1});
  cr_assert(ds, "%s", nb_errmsg());
  nb_transform *t = nb_standardize_fit(ds);
  cr_assert_eq(nb_dtype_of(nb_transform_stat(t, "mean")), NB_DTYPE_FLOAT64);
  nb_tensor *x = stack_all(ds, NULL);
  nb_tensor *std = nbk_std(x, NB_DIMS(0), 1.0, false);
  nbt_assert_close(nb_transform_stat(t, "std"), std, 1e-12, 1e-12, "std float64");
  nb_dataset *s = nb_transformed_new(ds, t);
  cr_assert_eq(nb_dataset_features(s)->dtype, NB_DTYPE_FLOAT64);
  nb_free(x);
  nb_free(std);
  nb_dataset_free(s);
  nb_dataset_free(ds);
}

Test(transforms, minmax) {
  nb_dataset *ds = wine();
  nb_transform *t = nb_minmax_fit(ds);
  cr_assert(t, "%s", nb_errmsg());
  nb_tensor *x = stack_all(ds, NULL);
  nb_tensor *mn = nbk_amin(x, NB_DIMS(0), false), *mx = nbk_amax(x, NB_DIMS(0), false);
  nbt_assert_close(nb_transform_stat(t, "min"), mn, 0, 0, "min");
  nbt_assert_close(nb_transform_stat(t, "max"), mx, 0, 0, "max");
  cr_assert_null(nb_transform_stat(t, "mean"));
  nb_dataset *s = nb_transformed_new(ds, t);
  nb_tensor *xs = stack_all(s, NULL);
  nb_scope_begin();
  nbt_assert_close(xs, nbk_div(nbk_sub(x, mn), nbk_sub(mx, mn)), 1e-5, 1e-6, "scaled");
  nb_scope_end();
  nb_tensor *lo = nbk_amin(xs, NB_DIMS(0), false), *hi = nbk_amax(xs, NB_DIMS(0), false);
  for (int j = 0; j < 13; j++) {
    cr_assert_float_eq(((float *)nb_data(lo))[j], 0.0, 1e-6);
    cr_assert_float_eq(((float *)nb_data(hi))[j], 1.0, 1e-6);
  }
  nb_free(x), nb_free(mn), nb_free(mx), nb_free(xs), nb_free(lo), nb_free(hi);
  nb_dataset_free(s);
  nb_dataset_free(ds);
  /* a constant feature maps to 0; one sample is enough */
  nb_dataset *one = table((const double[]){4, 4}, 1, 2, 0);
  nb_dataset *so = nb_transformed_new(one, nb_minmax_fit(one));
  cr_assert(so, "%s", nb_errmsg());
  nb_tensor *f, *y;
  nbt_assert_ok(nb_dataset_get(so, 0, &f, &y), "get");
  nbt_assert_values(f, ((double[]){0, 0}), 2, 0, 0, "constant");
  nb_free(f);
  nb_dataset_free(one);
  nb_dataset_free(so);
}

Test(transforms, fit_errors) {
  nbt_expect_fail(nb_standardize_fit(NULL), NB_ERR_NULL, "standardize");
  nb_dataset *one = table((const double[]){1, 2}, 1, 2, 0);
  nbt_expect_fail(nb_standardize_fit(one), NB_ERR_ARG,
                  "standardize: fitting needs at least 2 samples, the dataset has 1");
  /* a transform fitted on 2 features does not apply to 4 */
  nb_dataset *four = table((const double[]){1, 2, 3, 4, 5, 6, 7, 8}, 2, 4, 0);
  nbt_expect_fail(nb_transformed_new(four, nb_minmax_fit(one)), NB_ERR_SHAPE,
                  "minmax: fitted on features [2], applied to features [4]");
  nb_dataset_free(one);
  nb_dataset_free(four);
}

/* ---- images: normalize, crop, flip -------------------------------------------------------------
 */

/* n images [c, h, w] with distinct values: image i pixel (ch, r, col) = i*1000 + ch*100 + r*10 +
 * col. */
static nb_dataset *images(int64_t n, int64_t c, int64_t h, int64_t w) {
  nb_tensor *x = nb_empty(NB_DTYPE_FLOAT32, 4, (const int64_t[]){n, c, h, w});
  float *p = nb_data(x);
  for (int64_t i = 0; i < n; i++)
    for (int64_t ch = 0; ch < c; ch++)
      for (int64_t r = 0; r < h; r++)
        for (int64_t col = 0; col < w; col++)
          *p++ = (float)(i * 1000 + ch * 100 + r * 10 + col + 1);
  nb_tensor *y = nb_arange(NB_DTYPE_INT64, 0, (double)n, 1);
  nb_dataset *ds = nb_tensor_dataset_new(x, y);
  nb_free(x);
  nb_free(y);
  cr_assert(ds);
  return ds;
}

Test(transforms, normalize_per_channel) {
  nb_dataset *ds = images(3, 2, 2, 3);
  nb_transform *t = nb_normalize_new((const double[]){10, 100}, (const double[]){2, 4}, 2);
  cr_assert(t);
  nbt_assert_values(nb_transform_stat(t, "std"), ((double[]){2, 4}), 2, 0, 0, "std");
  nb_dataset *s = nb_transformed_new(ds, t);
  nb_tensor *f, *y;
  nbt_assert_ok(nb_dataset_get(s, 1, &f, &y), "get");
  double want[12];
  for (int ch = 0, k = 0; ch < 2; ch++)
    for (int r = 0; r < 2; r++)
      for (int col = 0; col < 3; col++, k++)
        want[k] = (1000 + ch * 100 + r * 10 + col + 1 - (ch ? 100.0 : 10.0)) / (ch ? 4.0 : 2.0);
  nbt_assert_values(f, want, 12, 1e-6, 1e-6, "normalized");
  cr_assert_eq((int64_t)nb_item(y), 1);
  nb_free(f);
  nb_free(y);
  nb_dataset_free(s);
  /* channel count and argument checks */
  nbt_expect_fail(nb_transformed_new(ds, nb_normalize_new((const double[]){0, 0, 0},
                                                          (const double[]){1, 1, 1}, 3)),
                  NB_ERR_SHAPE, "normalize: features [2, 2, 3]: expected 3 channels first");
  nbt_expect_fail(nb_normalize_new((const double[]){0}, (const double[]){0}, 1), NB_ERR_ARG,
                  "std[0] = 0");
  cr_assert_null(nb_normalize_new((const double[]){0}, (const double[]){1}, 0));
  cr_assert_null(nb_normalize_new(NULL, (const double[]){1}, 1));
  nb_dataset_free(ds);
}

/* The (top, left) window of image i's zero-padded copy that `out` [c, h, w] equals, or false. */
static bool find_window(const float *out, int64_t i, int64_t c, int64_t H, int64_t W, int64_t h,
                        int64_t w, int64_t pad, int64_t *top, int64_t *left) {
  for (int64_t t = 0; t <= H + 2 * pad - h; t++)
    for (int64_t l = 0; l <= W + 2 * pad - w; l++) {
      bool same = true;
      for (int64_t ch = 0; ch < c && same; ch++)
        for (int64_t r = 0; r < h && same; r++)
          for (int64_t col = 0; col < w && same; col++) {
            int64_t sr = t + r - pad, sc = l + col - pad;
            float v = sr < 0 || sr >= H || sc < 0 || sc >= W
                          ? 0.0f
                          : (float)(i * 1000 + ch * 100 + sr * 10 + sc + 1);
            same = out[(ch * h + r) * w + col] == v;
          }
      if (same) {
        *top = t;
        *left = l;
        return true;
      }
    }
  return false;
}

Test(transforms, random_crop_is_a_window_of_the_padded_image) {
  const int64_t n = 200, C = 2, H = 5, W = 6, h = 4, w = 5, pad = 2;
  nb_dataset *ds = images(n, C, H, W);
  nb_dataset *s = nb_transformed_new(ds, nb_random_crop_new(h, w, pad, 11));
  cr_assert(s, "%s", nb_errmsg());
  const nb_field_spec *fs = nb_dataset_features(s);
  cr_assert(fs->ndim == 3 && fs->shape[0] == C && fs->shape[1] == h && fs->shape[2] == w);
  bool seen[6][6] = {{false}}; /* (H + 2pad - h + 1) x (W + 2pad - w + 1) windows */
  for (int64_t i = 0; i < n; i++) {
    nb_tensor *f, *y;
    nbt_assert_ok(nb_dataset_get(s, i, &f, &y), "get");
    int64_t top, left;
    cr_assert(find_window(nb_data(f), i, C, H, W, h, w, pad, &top, &left),
              "sample %lld is not a window of its padded image", (long long)i);
    seen[top][left] = true;
    cr_assert_eq((int64_t)nb_item(y), i);
    nb_free(f);
    nb_free(y);
  }
  int count = 0;
  for (int a = 0; a < 6; a++)
    for (int b = 0; b < 6; b++) count += seen[a][b];
  cr_assert_eq(count, 36, "only %d of the 36 windows drawn in 200 samples", count);
  nb_dataset_free(s);
  /* no padding, full size: the identity */
  s = nb_transformed_new(ds, nb_random_crop_new(H, W, 0, 3));
  nb_tensor *a = stack_all(ds, NULL), *b = stack_all(s, NULL);
  nbt_assert_close(b, a, 0, 0, "identity crop");
  nb_free(a);
  nb_free(b);
  nb_dataset_free(s);
  /* a crop larger than the padded image */
  nbt_expect_fail(nb_transformed_new(ds, nb_random_crop_new(10, 3, 2, 0)), NB_ERR_SHAPE,
                  "random_crop: a 10 x 3 crop does not fit [2, 5, 6] images padded by 2");
  nbt_expect_fail(nb_random_crop_new(0, 3, 0, 0), NB_ERR_ARG, "random_crop");
  cr_assert_null(nb_random_crop_new(3, 3, -1, 0));
  nb_dataset_free(ds);
}

/* Whether sample f (image i, [c, h, w]) is image i mirrored left-right (else unchanged). */
static bool is_flipped(const float *f, int64_t i, int64_t c, int64_t h, int64_t w) {
  bool flipped = true, same = true;
  for (int64_t ch = 0; ch < c; ch++)
    for (int64_t r = 0; r < h; r++)
      for (int64_t col = 0; col < w; col++) {
        float v = f[(ch * h + r) * w + col];
        flipped = flipped && v == (float)(i * 1000 + ch * 100 + r * 10 + (w - 1 - col) + 1);
        same = same && v == (float)(i * 1000 + ch * 100 + r * 10 + col + 1);
      }
  cr_assert(flipped != same, "sample %lld is neither the image nor its mirror", (long long)i);
  return flipped;
}

Test(transforms, random_hflip) {
  const int64_t n = 1000;
  nb_dataset *ds = images(n, 2, 3, 4);
  for (int k = 0; k < 3; k++) {
    double p = k * 0.5;
    nb_dataset *s = nb_transformed_new(ds, nb_random_hflip_new(p, 5));
    cr_assert(s);
    int64_t flips = 0;
    for (int64_t i = 0; i < n; i++) {
      nb_tensor *f, *y;
      nbt_assert_ok(nb_dataset_get(s, i, &f, &y), "get");
      flips += is_flipped(nb_data(f), i, 2, 3, 4);
      nb_free(f);
      nb_free(y);
    }
    if (k == 0) cr_assert_eq(flips, 0);
    if (k == 1)
      cr_assert(flips > 430 && flips < 570, "%lld of 1000 flipped at p=0.5", (long long)flips);
    if (k == 2) cr_assert_eq(flips, n);
    nb_dataset_free(s);
  }
  nbt_expect_fail(nb_random_hflip_new(1.5, 0), NB_ERR_ARG,
                  "random_hflip: probability 1.5 not in [0, 1]");
  cr_assert_null(nb_random_hflip_new(NAN, 0));
  nb_dataset_free(ds);
}

/* Every batch of one epoch of `ds` through a loader with `threads` threads, concatenated. */
static nb_tensor *epoch_of(nb_loader *l) {
  nb_batch b;
  nb_tensor *parts[64];
  int n = 0;
  while (nb_loader_next(l, &b)) {
    cr_assert(n < 64);
    parts[n++] = nbk_clone(b.x);
  }
  cr_assert_eq(nb_loader_status(l), NB_OK, "%s", nb_errmsg());
  nb_tensor *all = nbk_cat(parts, n, 0);
  for (int i = 0; i < n; i++) nb_free(parts[i]);
  return all;
}

Test(transforms, random_crop_and_flip_deterministic_across_threads_and_epochs, .timeout = 60) {
  const int64_t n = 300;
  nb_dataset *ds = images(n, 3, 8, 8);
  nb_transform *ts[] = {nb_random_crop_new(8, 8, 2, 99), nb_random_hflip_new(0.5, 7)};
  nb_dataset *aug = nb_transformed_new(ds, nb_compose(ts, 2));
  cr_assert(aug, "%s", nb_errmsg());
  nb_tensor *runs[2][3];
  for (int threads = 1; threads <= 2; threads++) {
    nb_loader *l = nb_loader_new(
        aug, &(nb_loader_opts){
                 .batch_size = 32, .num_threads = threads, .shuffle = threads == 2, .seed = 1});
    cr_assert(l, "%s", nb_errmsg());
    for (int e = 0; e < 3; e++) runs[threads - 1][e] = epoch_of(l);
    nb_loader_free(l);
  }
  /* shuffled or not, 1 or 2 threads: sample i of epoch e is the same, so compare
   * the sequential run with the shuffled one re-ordered by the sample's own label */
  for (int e = 0; e < 3; e++) {
    nbt_assert_shape(runs[0][e], NB_SHAPE(n, 3, 8, 8), "epoch");
    const float *a = nb_data(runs[0][e]), *b = nb_data(runs[1][e]);
    /* identify each shuffled sample by its unpadded centre pixel value's image number */
    int matched = 0;
    for (int64_t j = 0; j < n; j++) {
      const float *bj = b + j * 192;
      for (int64_t i = 0; i < n; i++)
        if (memcmp(a + i * 192, bj, 192 * sizeof(float)) == 0) {
          matched++;
          break;
        }
    }
    cr_assert_eq(matched, n, "epoch %d: %d of %lld samples agree across threads/orders", e, matched,
                 (long long)n);
  }
  /* epochs differ */
  for (int e = 1; e < 3; e++) cr_assert_not(nb_equal(runs[0][0], runs[0][e]), "epoch %d", e);
  /* dataset_get after set_epoch reproduces what the loader saw in that epoch */
  nb_dataset_set_epoch(aug, 2);
  nb_tensor *f, *y;
  nbt_assert_ok(nb_dataset_get(aug, 17, &f, &y), "get");
  nb_tensor *row = nbk_select(runs[0][2], 0, 17);
  nbt_assert_close(f, row, 0, 0, "epoch 2 sample 17");
  nb_free(row);
  nb_free(f);
  nb_free(y);
  for (int t = 0; t < 2; t++)
    for (int e = 0; e < 3; e++) nb_free(runs[t][e]);
  nb_dataset_free(aug);
  nb_dataset_free(ds);
}

Test(transforms, epoch_reaches_through_a_subset) {
  nb_dataset *ds = images(50, 1, 4, 4);
  nb_dataset *aug = nb_transformed_new(ds, nb_random_crop_new(4, 4, 3, 1));
  int64_t idx[] = {5, 6, 7};
  nb_dataset *sub = nb_subset_new(aug, idx, 3);
  nb_tensor *e0 = stack_all(sub, NULL);
  nb_dataset_set_epoch(sub, 1);
  nb_tensor *e1 = stack_all(sub, NULL);
  nb_dataset_set_epoch(sub, 0);
  nb_tensor *e0b = stack_all(sub, NULL);
  cr_assert_not(nb_equal(e0, e1));
  cr_assert(nb_equal(e0, e0b));
  nb_free(e0), nb_free(e1), nb_free(e0b);
  nb_dataset_free(sub);
  nb_dataset_free(aug);
  nb_dataset_free(ds);
}

/* ---- targets, compose, errors
 * --------------------------------------------------------------------- */

Test(transforms, one_hot_target) {
  nb_dataset *ds = wine();
  nb_dataset *s = nb_transformed_new(ds, nb_one_hot_target_new(3));
  cr_assert(s, "%s", nb_errmsg());
  const nb_field_spec *ts = nb_dataset_target(s);
  cr_assert(ts->dtype == NB_DTYPE_FLOAT32 && ts->ndim == 1 && ts->shape[0] == 3);
  nb_tensor *f, *y, *f0, *y0;
  nbt_assert_ok(nb_dataset_get(s, 177, &f, &y), "get");
  nbt_assert_ok(nb_dataset_get(ds, 177, &f0, &y0), "get");
  nbt_assert_values(y, ((double[]){0, 0, 1}), 3, 0, 0, "one-hot");
  nbt_assert_close(f, f0, 0, 0, "features untouched");
  nb_free(f), nb_free(y), nb_free(f0), nb_free(y0);
  nb_dataset_free(s);
  /* a class index beyond num_classes fails at get time */
  s = nb_transformed_new(ds, nb_one_hot_target_new(2));
  nb_clear_error();
  nbt_expect_status(nb_dataset_get(s, 177, &f, &y), NB_ERR_INDEX, "sample 177",
                    "one_hot_target: class index 2 out of range for 2 classes");
  nb_dataset_free(s);
  nb_dataset_free(ds);
  /* no target, or a target that is not a class index */
  nb_dataset *nt = images(2, 1, 2, 2);
  nb_dataset *nt2 = nb_transformed_new(nt, nb_one_hot_target_new(3));
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 2));
  nb_dataset *noy = nb_tensor_dataset_new(x, NULL);
  nbt_expect_fail(nb_transformed_new(noy, nb_one_hot_target_new(3)), NB_ERR_ARG,
                  "one_hot_target: the dataset has no target");
  nb_dataset *fy = nb_tensor_dataset_new(x, x);
  nbt_expect_fail(nb_transformed_new(fy, nb_one_hot_target_new(3)), NB_ERR_DTYPE,
                  "one_hot_target: target float32 [2]");
  cr_assert_null(nb_one_hot_target_new(0));
  nb_free(x);
  nb_dataset_free(nt2);
  nb_dataset_free(nt);
  nb_dataset_free(noy);
  nb_dataset_free(fy);
}

Test(transforms, compose_chains_specs_and_stats) {
  nb_dataset *all = wine(), *parts[2];
  nbt_assert_ok(nb_stratified_split(all, (const double[]){0.8, 0.2}, 2, 3, parts), "split");
  nb_transform *std = nb_standardize_fit(parts[0]);
  nb_transform *inner[] = {std, nb_one_hot_target_new(3)};
  nb_transform *outer[] = {nb_compose(inner, 2)};
  nb_transform *t = nb_compose(outer, 1); /* nested */
  cr_assert(t, "%s", nb_errmsg());
  cr_assert_eq(nb_transform_stat(t, "std"), nb_transform_stat(std, "std"));
  nb_dataset *s = nb_transformed_new(parts[1], t);
  cr_assert(s, "%s", nb_errmsg());
  cr_assert_eq(nb_dataset_features(s)->dtype, NB_DTYPE_FLOAT32);
  cr_assert_eq(nb_dataset_target(s)->ndim, 1);
  nb_tensor *f, *y, *f0, *y0;
  nbt_assert_ok(nb_dataset_get(s, 0, &f, &y), "get");
  nbt_assert_ok(nb_dataset_get(parts[1], 0, &f0, &y0), "get");
  nb_scope_begin();
  nbt_assert_close(f,
                   nbk_div(nbk_sub(f0, nb_transform_stat(t, "mean")), nb_transform_stat(t, "std")),
                   1e-5, 1e-5, "standardized");
  nb_scope_end();
  int64_t c = (int64_t)nb_item(y0);
  for (int k = 0; k < 3; k++) cr_assert_float_eq(((float *)nb_data(y))[k], k == c, 0);
  nb_free(f), nb_free(y), nb_free(f0), nb_free(y0);
  nb_dataset_free(s);
  nb_dataset_free(parts[0]);
  nb_dataset_free(parts[1]);
  nb_dataset_free(all);
  /* errors: nothing to compose, a NULL part (the others are released) */
  nbt_expect_fail(nb_compose(NULL, 0), NB_ERR_ARG, "compose");
  nb_transform *some[] = {nb_one_hot_target_new(2), NULL};
  nbt_expect_fail(nb_compose(some, 2), NB_ERR_NULL, "compose");
  /* a NULL dataset or transform: the transform is released all the same */
  nbt_expect_fail(nb_transformed_new(NULL, nb_one_hot_target_new(2)), NB_ERR_NULL,
                  "transformed_new");
  nb_transform_free(NULL);
  cr_assert_null(nb_transform_stat(NULL, "mean"));
}

Test(transforms, free_an_unused_transform) {
  nb_dataset *ds = wine();
  nb_transform *t = nb_standardize_fit(ds);
  cr_assert(t);
  nb_transform_free(t);
  nb_dataset_free(ds);
}

Test(transforms, fitted_inside_a_scope) {
  nb_dataset *ds = wine();
  nb_scope_begin();
  nb_transform *t = nb_minmax_fit(ds);
  nb_scope_end();
  cr_assert(t);
  nbt_assert_shape(nb_transform_stat(t, "max"), NB_SHAPE(13), "max outlives the scope");
  nb_transform_free(t);
  nb_dataset_free(ds);
}

Test(transforms, fashion_mnist_pipeline) {
  nb_dataset *fm = nb_fashion_mnist(NULL, false);
  cr_assert(fm, "%s", nb_errmsg());
  nb_transform *ts[] = {nb_random_crop_new(28, 28, 4, 1), nb_random_hflip_new(0.5, 2),
                        nb_normalize_new((const double[]){0.2860}, (const double[]){0.3530}, 1),
                        nb_one_hot_target_new(10)};
  nb_dataset *s = nb_transformed_new(fm, nb_compose(ts, 4));
  cr_assert(s, "%s", nb_errmsg());
  nb_loader *l = nb_loader_new(s, &(nb_loader_opts){.batch_size = 256, .shuffle = true});
  nb_batch b;
  int64_t seen = 0;
  while (nb_loader_next(l, &b)) {
    nbt_assert_shape(b.x, NB_SHAPE(b.size, 1, 28, 28), "x");
    nbt_assert_shape(b.y, NB_SHAPE(b.size, 10), "y");
    seen += b.size;
  }
  cr_assert_eq(nb_loader_status(l), NB_OK, "%s", nb_errmsg());
  cr_assert_eq(seen, 10000);
  nb_loader_free(l);
  nb_dataset_free(s);
  nb_dataset_free(fm);
}
