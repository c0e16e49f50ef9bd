/* tests/data/test_dataset.c - datasets: tensor datasets, users' callback
 * datasets, subsets, concatenations, random and stratified splits, the
 * internal extension points (wrapped datasets, set_epoch, attached state). */
#include "support/nbtest.h"

#include "data/data.h"
#include "data/data_impl.h"

#include <math.h>
#include <string.h>

TestSuite(dataset, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

/* n samples: features [n, 3] float32 with row i = (i, i + 0.5, -i), target
 * int64 [n] = label(i). */
static nb_dataset *rows_dataset(int64_t n, int64_t (*label)(int64_t)) {
  nb_tensor *x = nb_empty(NB_DTYPE_FLOAT32, NB_SHAPE(n, 3));
  nb_tensor *y = nb_empty(NB_DTYPE_INT64, NB_SHAPE(n));
  float *xd = nb_data(x);
  int64_t *yd = nb_data(y);
  for (int64_t i = 0; i < n; i++) {
    xd[3 * i] = (float)i;
    xd[3 * i + 1] = (float)i + 0.5f;
    xd[3 * i + 2] = -(float)i;
    yd[i] = label ? label(i) : i;
  }
  nb_dataset *ds = nb_tensor_dataset_new(x, y);
  nb_free(x);
  nb_free(y);
  cr_assert(ds, "%s", nb_errmsg());
  return ds;
}

/* Sample i of ds: its features' first value and its target. */
static void sample(nb_dataset *ds, int64_t i, double *x0, int64_t *y) {
  nb_tensor *f = NULL, *t = NULL;
  nbt_assert_ok(nb_dataset_get(ds, i, &f, &t), "dataset_get");
  *x0 = ((const float *)nb_data(f))[0];
  *y = t ? *(const int64_t *)nb_data(t) : -1;
  nb_free(f);
  nb_free(t);
}

/* ---- tensor dataset ----------------------------------------------------------- */

Test(dataset, tensor_dataset_specs_and_values) {
  nb_dataset *ds = rows_dataset(5, NULL);
  cr_assert_eq(nb_dataset_len(ds), 5);
  const nb_field_spec *fs = nb_dataset_features(ds), *ts = nb_dataset_target(ds);
  cr_assert_eq(fs->dtype, NB_DTYPE_FLOAT32);
  cr_assert_eq(fs->ndim, 1);
  cr_assert_eq(fs->shape[0], 3);
  cr_assert(ts);
  cr_assert_eq(ts->dtype, NB_DTYPE_INT64);
  cr_assert_eq(ts->ndim, 0);
  nb_tensor *f, *t;
  nbt_assert_ok(nb_dataset_get(ds, 2, &f, &t), "get 2");
  nbt_assert_shape(f, NB_SHAPE(3), "features");
  nbt_assert_shape(t, NB_SCALAR_SHAPE, "target");
  nbt_assert_values(f, ((double[]){2, 2.5, -2}), 3, 0, 0, "features of 2");
  nbt_assert_values(t, ((double[]){2}), 1, 0, 0, "target of 2");
  nb_free(f);
  nb_free(t);
  /* A target pointer of NULL: the target is made and dropped. */
  nbt_assert_ok(nb_dataset_get(ds, 4, &f, NULL), "get without target");
  nbt_assert_values(f, ((double[]){4, 4.5, -4}), 3, 0, 0, "features of 4");
  nb_free(f);
  f = t = (nb_tensor *)1;
  nbt_expect_status(nb_dataset_get(ds, 5, &f, &t), NB_ERR_INDEX, "index 5 is out of range");
  cr_assert(!f && !t, "outputs cleared on error");
  nbt_expect_status(nb_dataset_get(ds, -1, &f, &t), NB_ERR_INDEX, "index -1");
  nb_dataset_free(ds);
}

Test(dataset, tensor_dataset_noncontiguous_and_no_target) {
  /* features = transpose of a [4, 6] arange: rows of the [6, 4] view. */
  nb_tensor *a = nb_arange(NB_DTYPE_FLOAT64, 0, 24, 1);
  nb_tensor *m = nbk_reshape(a, NB_SHAPE(4, 6));
  nb_tensor *x = nbk_transpose(m, 0, 1);
  cr_assert(!nb_is_contiguous(x));
  nb_dataset *ds = nb_tensor_dataset_new(x, NULL);
  nb_free(x);
  nb_free(m);
  nb_free(a);
  cr_assert(ds, "%s", nb_errmsg());
  cr_assert_eq(nb_dataset_len(ds), 6);
  cr_assert_null(nb_dataset_target(ds));
  nb_tensor *f, *t = (nb_tensor *)1;
  nbt_assert_ok(nb_dataset_get(ds, 1, &f, &t), "get");
  cr_assert_null(t);
  nbt_assert_values(f, ((double[]){1, 7, 13, 19}), 4, 0, 0, "column 1");
  nb_free(f);
  nb_dataset_free(ds);
}

Test(dataset, tensor_dataset_keeps_no_copy_and_writes_strided_destinations) {
  nb_tensor *x = nb_arange(NB_DTYPE_FLOAT32, 0, 8, 1);
  nb_tensor *x2 = nbk_reshape(x, NB_SHAPE(4, 2));
  nb_dataset *ds = nb_tensor_dataset_new(x2, NULL);
  cr_assert(ds);
  /* Retained, not copied: a write to x shows through. */
  nb_fill_(x, 9);
  /* A strided destination (a column of a [2, 2] tensor) goes through copy_. */
  nb_tensor *dst = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 2));
  nb_tensor *col = nbk_select(dst, 1, 1);
  nbt_assert_ok(nb__dataset_get_into(ds, 3, col, NULL), "get into a column");
  nbt_assert_values(dst, ((double[]){0, 9, 0, 9}), 4, 0, 0, "column written");
  nb_free(col);
  nb_free(dst);
  nb_free(x2);
  nb_free(x);
  nb_dataset_free(ds);
}

Test(dataset, tensor_dataset_errors) {
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(4, 2));
  nb_tensor *y = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(3));
  nb_tensor *s = nb_scalar(NB_DTYPE_FLOAT32, 1);
  nbt_expect_null(nb_tensor_dataset_new(x, y), NB_ERR_SHAPE, "[4, 2]");
  cr_assert(strstr(nb_errmsg(), "(4 vs 3)"), "%s", nb_errmsg());
  nbt_expect_null(nb_tensor_dataset_new(s, NULL), NB_ERR_SHAPE, "first (sample) dim");
  nbt_expect_fail(nb_tensor_dataset_new(NULL, y), NB_ERR_NULL, "tensor_dataset");
  /* A NULL input keeps the earlier error. */
  nb_set_error(NB_ERR_SHAPE, "earlier failure");
  nbt_expect_null(nb_tensor_dataset_new(NULL, NULL), NB_ERR_SHAPE, "earlier failure");
  cr_assert_eq(nb_dataset_len(NULL), -1);
  nb_dataset_free(NULL);
  nb_free(s);
  nb_free(y);
  nb_free(x);
}

/* ---- a user's dataset ------------------------------------------------------------ */

typedef struct squares {
  int64_t n, fail_at;
  int *freed;
} squares;

static int64_t squares_len(void *ctx) { return ((squares *)ctx)->n; }

/* features [2] = (i, i*i) float64, target float32 scalar sqrt(i). */
static nb_status squares_get(void *ctx, int64_t i, nb_tensor *features, nb_tensor *target) {
  squares *s = ctx;
  if (i == s->fail_at)
    return nb_set_error(NB_ERR_IO, "squares: cannot make sample %lld", (long long)i);
  double *f = nb_data(features);
  f[0] = (double)i;
  f[1] = (double)(i * i);
  return nb_fill_(target, sqrt((double)i));
}

static void squares_free(void *ctx) { (*((squares *)ctx)->freed)++; }

static const nb_dataset_ops squares_ops = {squares_len, squares_get, squares_free};
static const nb_field_spec squares_x = {NB_DTYPE_FLOAT64, 1, {2}};
static const nb_field_spec squares_y = {NB_DTYPE_FLOAT32, 0, {0}};

Test(dataset, user_callbacks) {
  int freed = 0;
  squares ctx = {.n = 10, .fail_at = 7, .freed = &freed};
  nb_dataset *ds = nb_dataset_new(&squares_ops, &ctx, &squares_x, &squares_y);
  cr_assert(ds, "%s", nb_errmsg());
  cr_assert_eq(nb_dataset_len(ds), 10);
  nb_tensor *f, *t;
  nbt_assert_ok(nb_dataset_get(ds, 3, &f, &t), "get 3");
  nbt_assert_shape(f, NB_SHAPE(2), "features");
  cr_assert_eq(nb_dtype_of(f), NB_DTYPE_FLOAT64);
  cr_assert_eq(nb_dtype_of(t), NB_DTYPE_FLOAT32);
  nbt_assert_values(f, ((double[]){3, 9}), 2, 0, 0, "features");
  nbt_assert_values(t, ((double[]){sqrt(3.0)}), 1, -1, -1, "target");
  nb_free(f);
  nb_free(t);
  nbt_expect_status(nb_dataset_get(ds, 7, &f, &t), NB_ERR_IO, "sample 7");
  cr_assert(strstr(nb_errmsg(), "squares: cannot make sample 7"), "%s", nb_errmsg());
  cr_assert_eq(freed, 0);
  nb_dataset_free(ds);
  cr_assert_eq(freed, 1, "the free callback runs once");
}

Test(dataset, new_validates_specs) {
  squares ctx = {.n = 1, .fail_at = -1};
  nb_field_spec deep = {NB_DTYPE_FLOAT32, NB_MAX_DIMS, {1, 1, 1, 1, 1, 1, 1, 1}};
  nb_field_spec negative = {NB_DTYPE_FLOAT32, 2, {3, -1}};
  nb_field_spec bad_dtype = {NB_DTYPE_COUNT, 0, {0}};
  nb_field_spec huge = {NB_DTYPE_FLOAT64, 3, {INT64_MAX / 4, 4, 4}};
  nbt_expect_null(nb_dataset_new(NULL, &ctx, &squares_x, NULL), NB_ERR_ARG, "dataset_new");
  nbt_expect_null(
      nb_dataset_new(&(nb_dataset_ops){squares_len, NULL, NULL}, &ctx, &squares_x, NULL),
      NB_ERR_ARG, "get callbacks");
  nbt_expect_null(nb_dataset_new(&squares_ops, &ctx, NULL, NULL), NB_ERR_ARG, "features spec");
  nbt_expect_null(nb_dataset_new(&squares_ops, &ctx, &deep, NULL), NB_ERR_SHAPE,
                  "features has 8 dims");
  nbt_expect_null(nb_dataset_new(&squares_ops, &ctx, &squares_x, &negative), NB_ERR_SHAPE,
                  "target size -1 at dim 1");
  nbt_expect_null(nb_dataset_new(&squares_ops, &ctx, &bad_dtype, NULL), NB_ERR_DTYPE,
                  "not a dtype");
  nbt_expect_null(nb_dataset_new(&squares_ops, &ctx, &huge, NULL), NB_ERR_MEMORY, "overflows");
}

/* ---- subsets and concatenations ------------------------------------------------------ */

Test(dataset, subset_maps_indices_and_composes) {
  nb_dataset *ds = rows_dataset(10, NULL);
  nb_dataset *sub = nb_subset_new(ds, (const int64_t[]){7, 2, 9, 2}, 4);
  cr_assert(sub, "%s", nb_errmsg());
  cr_assert_eq(nb_dataset_len(sub), 4);
  double x0;
  int64_t y;
  const int64_t want[] = {7, 2, 9, 2};
  for (int k = 0; k < 4; k++) {
    sample(sub, k, &x0, &y);
    cr_assert_eq(y, want[k]);
    cr_assert_float_eq(x0, (double)want[k], 0);
  }
  /* A subset of a subset, then the pieces freed before it. */
  nb_dataset *sub2 = nb_subset_new(sub, (const int64_t[]){3, 0}, 2);
  cr_assert(sub2);
  nb_dataset_free(ds);
  nb_dataset_free(sub);
  sample(sub2, 0, &x0, &y);
  cr_assert_eq(y, 2);
  sample(sub2, 1, &x0, &y);
  cr_assert_eq(y, 7);
  nb_dataset *empty = nb_subset_new(sub2, NULL, 0);
  cr_assert(empty);
  cr_assert_eq(nb_dataset_len(empty), 0);
  nb_dataset_free(empty);
  nb_dataset_free(sub2);
}

Test(dataset, subset_errors) {
  nb_dataset *ds = rows_dataset(5, NULL);
  nbt_expect_null(nb_subset_new(ds, (const int64_t[]){1, 7}, 2), NB_ERR_INDEX,
                  "index 7 at position 1 is out of range");
  cr_assert(strstr(nb_errmsg(), "5 samples"), "%s", nb_errmsg());
  nbt_expect_null(nb_subset_new(ds, (const int64_t[]){-1}, 1), NB_ERR_INDEX,
                  "index -1 at position 0");
  nbt_expect_null(nb_subset_new(ds, NULL, 3), NB_ERR_ARG, "NULL list");
  nbt_expect_null(nb_subset_new(ds, (const int64_t[]){0}, -2), NB_ERR_ARG, "-2 indices");
  nbt_expect_fail(nb_subset_new(NULL, (const int64_t[]){0}, 1), NB_ERR_NULL, "subset");
  nb_dataset_free(ds);
}

Test(dataset, concat_maps_across_parts) {
  nb_dataset *a = rows_dataset(3, NULL), *b = rows_dataset(0, NULL), *c = rows_dataset(4, NULL);
  nb_dataset *cat = nb_concat_dataset_new((nb_dataset *[]){a, b, c}, 3);
  cr_assert(cat, "%s", nb_errmsg());
  nb_dataset_free(a);
  nb_dataset_free(b);
  nb_dataset_free(c);
  cr_assert_eq(nb_dataset_len(cat), 7);
  const int64_t want[] = {0, 1, 2, 0, 1, 2, 3};
  for (int k = 0; k < 7; k++) {
    double x0;
    int64_t y;
    sample(cat, k, &x0, &y);
    cr_assert_eq(y, want[k], "sample %d: %lld", k, (long long)y);
  }
  nb_tensor *f, *t;
  nbt_expect_status(nb_dataset_get(cat, 7, &f, &t), NB_ERR_INDEX, "index 7");
  nb_dataset_free(cat);
}

Test(dataset, concat_errors) {
  nb_dataset *a = rows_dataset(3, NULL);
  squares ctx = {.n = 2, .fail_at = -1, .freed = &(int){0}};
  nb_dataset *sq = nb_dataset_new(&squares_ops, &ctx, &squares_x, &squares_y);
  nb_dataset *sq_no_target = nb_dataset_new(&squares_ops, &ctx, &squares_x, NULL);
  nbt_expect_null(nb_concat_dataset_new((nb_dataset *[]){a, sq}, 2), NB_ERR_SHAPE,
                  "part 1's features are float64 [2], part 0's float32 [3]");
  nbt_expect_null(nb_concat_dataset_new((nb_dataset *[]){sq, sq_no_target}, 2), NB_ERR_SHAPE,
                  "part 1's target is none, part 0's float32 []");
  nbt_expect_null(nb_concat_dataset_new((nb_dataset *[]){a}, 0), NB_ERR_ARG, "0 parts");
  nbt_expect_fail(nb_concat_dataset_new((nb_dataset *[]){a, NULL}, 2), NB_ERR_NULL,
                  "concat_dataset");
  nb_dataset_free(sq_no_target);
  nb_dataset_free(sq);
  nb_dataset_free(a);
}

/* ---- splits -------------------------------------------------------------------------- */

/* The targets of part k, in order; returns the count. */
static int64_t part_labels(nb_dataset *part, int64_t *out) {
  int64_t n = nb_dataset_len(part);
  for (int64_t i = 0; i < n; i++) {
    double x0;
    sample(part, i, &x0, &out[i]);
    cr_assert_float_eq(x0, (double)out[i], 0, "features follow their target");
  }
  return n;
}

/* parts cover 0..len-1 exactly once (targets = indices). */
static void assert_partition(nb_dataset **parts, int n, int64_t len) {
  int seen[256] = {0};
  int64_t labels[256];
  for (int k = 0; k < n; k++) {
    int64_t m = part_labels(parts[k], labels);
    for (int64_t i = 0; i < m; i++) seen[labels[i]]++;
  }
  for (int64_t i = 0; i < len; i++)
    cr_assert_eq(seen[i], 1, "sample %lld seen %d times", (long long)i, seen[i]);
}

static void split_lengths(int64_t len, const double *sizes, int n, const int64_t *want) {
  nb_dataset *ds = rows_dataset(len, NULL), *parts[8];
  nbt_assert_ok(nb_random_split(ds, sizes, n, 42, parts), "random_split");
  for (int k = 0; k < n; k++)
    cr_assert_eq(nb_dataset_len(parts[k]), want[k], "len %lld part %d: %lld, want %lld",
                 (long long)len, k, (long long)nb_dataset_len(parts[k]), (long long)want[k]);
  assert_partition(parts, n, len);
  nb_dataset_free(ds);
  for (int k = 0; k < n; k++) nb_dataset_free(parts[k]);
}

Test(dataset, random_split_sizes_match_torch) {
  /* Lengths from torch.utils.data.random_split with these arguments. */
  split_lengths(10, (double[]){0.33, 0.33, 0.34}, 3, (int64_t[]){4, 3, 3});
  split_lengths(11, (double[]){0.5, 0.5}, 2, (int64_t[]){6, 5});
  split_lengths(10, (double[]){0.3, 0.3, 0.4}, 3, (int64_t[]){3, 3, 4});
  split_lengths(7, (double[]){0.25, 0.25, 0.25, 0.25}, 4, (int64_t[]){2, 2, 2, 1});
  split_lengths(10, (double[]){0.1, 0.1, 0.1, 0.7}, 4, (int64_t[]){1, 1, 1, 7});
  split_lengths(10, (double[]){2, 8}, 2, (int64_t[]){2, 8});
  split_lengths(10, (double[]){0, 10, 0}, 3, (int64_t[]){0, 10, 0});
}

Test(dataset, random_split_is_seeded) {
  nb_dataset *ds = rows_dataset(50, NULL), *a[2], *b[2], *c[2];
  nbt_assert_ok(nb_random_split(ds, (double[]){0.8, 0.2}, 2, 7, a), "split a");
  nbt_assert_ok(nb_random_split(ds, (double[]){0.8, 0.2}, 2, 7, b), "split b");
  nbt_assert_ok(nb_random_split(ds, (double[]){0.8, 0.2}, 2, 8, c), "split c");
  int64_t la[64], lb[64], lc[64];
  for (int k = 0; k < 2; k++) {
    int64_t n = part_labels(a[k], la);
    cr_assert_eq(part_labels(b[k], lb), n);
    cr_assert_eq(part_labels(c[k], lc), n);
    cr_assert(memcmp(la, lb, sizeof(int64_t) * (size_t)n) == 0, "same seed, same part %d", k);
    if (k == 0) cr_assert(memcmp(la, lc, sizeof(int64_t) * (size_t)n) != 0, "another seed differs");
  }
  /* The split is random, not the first 40 in order. */
  part_labels(a[0], la);
  int in_order = 0;
  for (int i = 0; i < 40; i++) in_order += la[i] == i;
  cr_assert_lt(in_order, 40);
  for (int k = 0; k < 2; k++) {
    nb_dataset_free(a[k]);
    nb_dataset_free(b[k]);
    nb_dataset_free(c[k]);
  }
  nb_dataset_free(ds);
}

Test(dataset, random_split_errors) {
  nb_dataset *ds = rows_dataset(10, NULL),
             *out[3] = {(nb_dataset *)1, (nb_dataset *)1, (nb_dataset *)1};
  nbt_expect_status(nb_random_split(ds, (double[]){0.5, 0.6}, 2, 0, out), NB_ERR_ARG,
                    "sizes [0.5, 0.6] are neither fractions summing to 1 nor counts summing to the "
                    "dataset's 10 samples");
  cr_assert(!out[0] && !out[1], "outputs cleared");
  nbt_expect_status(nb_random_split(ds, (double[]){3, 3}, 2, 0, out), NB_ERR_ARG, "[3, 3]");
  nbt_expect_status(nb_random_split(ds, (double[]){-2, 12}, 2, 0, out), NB_ERR_ARG, "[-2, 12]");
  nbt_expect_status(nb_random_split(ds, (double[]){2.5, 7.5}, 2, 0, out), NB_ERR_ARG, "[2.5, 7.5]");
  nbt_expect_status(nb_random_split(ds, (double[]){1}, 0, 0, out), NB_ERR_ARG, "0 parts");
  nbt_expect_status(nb_random_split(ds, NULL, 2, 0, out), NB_ERR_ARG, "sizes NULL");
  nb_clear_error();
  nbt_expect_status(nb_random_split(NULL, (double[]){1}, 1, 0, out), NB_ERR_NULL, "random_split");
  nb_dataset_free(ds);
}

static int64_t class_of(int64_t i) { return i % 10 < 5 ? 0 : i % 10 < 8 ? 1 : 2; } /* 50/30/20% */
static int64_t uneven_class(int64_t i) { return i < 7 ? 4 : -3; }                  /* 7 and 5 */

/* Per-class counts of each part are within 1 of fraction * class size and
 * together cover the dataset once. */
static void check_stratified(int64_t len, int64_t (*label)(int64_t), const double *fr, int n,
                             const int64_t *classes, int nclasses) {
  nb_dataset *ds = rows_dataset(len, label), *parts[4];
  nbt_assert_ok(nb_stratified_split(ds, fr, n, 3, parts), "stratified_split");
  int64_t idx[256];
  int seen[256] = {0};
  for (int c = 0; c < nclasses; c++) {
    int64_t size = 0, total = 0;
    for (int64_t i = 0; i < len; i++) size += label(i) == classes[c];
    for (int k = 0; k < n; k++) {
      int64_t m = nb_dataset_len(parts[k]), in_class = 0;
      for (int64_t i = 0; i < m; i++) {
        nb_tensor *f, *t;
        nbt_assert_ok(nb_dataset_get(parts[k], i, &f, &t), "get");
        idx[i] = (int64_t)((const float *)nb_data(f))[0]; /* the source index */
        cr_assert_eq(*(const int64_t *)nb_data(t), label(idx[i]));
        in_class += label(idx[i]) == classes[c];
        if (c == 0) seen[idx[i]]++;
        nb_free(f);
        nb_free(t);
      }
      double exact = fr[k] * (double)size;
      cr_assert(fabs((double)in_class - exact) < 1, "class %lld part %d: %lld samples, exact %g",
                (long long)classes[c], k, (long long)in_class, exact);
      total += in_class;
    }
    cr_assert_eq(total, size);
  }
  for (int64_t i = 0; i < len; i++) cr_assert_eq(seen[i], 1, "sample %lld", (long long)i);
  for (int k = 0; k < n; k++) nb_dataset_free(parts[k]);
  nb_dataset_free(ds);
}

Test(dataset, stratified_split_keeps_class_proportions) {
  check_stratified(100, class_of, (double[]){0.8, 0.2}, 2, (int64_t[]){0, 1, 2}, 3);
  check_stratified(100, class_of, (double[]){0.6, 0.25, 0.15}, 3, (int64_t[]){0, 1, 2}, 3);
  check_stratified(12, uneven_class, (double[]){0.8, 0.2}, 2, (int64_t[]){-3, 4}, 2);
  /* 7 * 0.8 = 5.6 and 5 * 0.8 = 4: parts of 6 + 4 and 1 + 1. */
  nb_dataset *ds = rows_dataset(12, uneven_class), *parts[2];
  nbt_assert_ok(nb_stratified_split(ds, (double[]){0.8, 0.2}, 2, 9, parts), "split");
  cr_assert_eq(nb_dataset_len(parts[0]), 10);
  cr_assert_eq(nb_dataset_len(parts[1]), 2);
  nb_dataset_free(parts[0]);
  nb_dataset_free(parts[1]);
  nb_dataset_free(ds);
}

Test(dataset, stratified_split_errors) {
  squares ctx = {.n = 4, .fail_at = 2, .freed = &(int){0}};
  nb_dataset *sq = nb_dataset_new(&squares_ops, &ctx, &squares_x, &squares_y), *out[2];
  nbt_expect_status(nb_stratified_split(sq, (double[]){0.5, 0.5}, 2, 0, out), NB_ERR_DTYPE,
                    "needs an int64 scalar class target; the dataset's is float32 []");
  nb_dataset *ds = rows_dataset(10, class_of);
  nbt_expect_status(nb_stratified_split(ds, (double[]){5, 5}, 2, 0, out), NB_ERR_ARG,
                    "fractions [5, 5] must lie in [0, 1] and sum to 1");
  cr_assert(!out[0] && !out[1]);
  nb_dataset_free(ds);
  nb_dataset_free(sq);
}

/* ---- extension points -------------------------------------------------------------------- */

typedef struct epoch_probe {
  int64_t last_epoch;
  int calls;
} epoch_probe;

static void probe_set_epoch(void *ctx, int64_t epoch) {
  epoch_probe *p = ctx;
  p->last_epoch = epoch;
  p->calls++;
}

static nb_status probe_get(void *ctx, int64_t i, nb_tensor *f, nb_tensor *t) {
  return nb_fill_(f, (double)i);
}
static int64_t probe_len(void *ctx) { return 4; }

static const char test_kind;

static void ext_free(void *ext) { (*(int *)ext)++; }

Test(dataset, set_epoch_and_attached_state_reach_through_wrappers) {
  epoch_probe probe = {-1, 0};
  nb_dataset_ops ops = {probe_len, probe_get, NULL};
  nb_field_spec fs = {NB_DTYPE_FLOAT32, 0, {0}};
  nb_dataset *base = nb__dataset_make(&ops, &probe, &fs, NULL, NULL, 0, probe_set_epoch);
  cr_assert(base);
  int ext_frees = 0;
  nbt_assert_ok(nb__dataset_attach(base, &test_kind, &ext_frees, ext_free), "attach");
  nbt_expect_status(nb__dataset_attach(base, &test_kind, NULL, NULL), NB_ERR_ARG, "already");
  nb_dataset *sub = nb_subset_new(base, (const int64_t[]){3, 1}, 2);
  nb_dataset *cat = nb_concat_dataset_new((nb_dataset *[]){sub, sub}, 2);
  nb_dataset_free(sub);
  nb_dataset_set_epoch(cat, 5);
  cr_assert_eq(probe.last_epoch, 5);
  cr_assert_eq(probe.calls, 2, "once per path to the base");
  cr_assert_eq(nb__dataset_ext(cat, &test_kind), &ext_frees);
  cr_assert_null(nb__dataset_ext(cat, &probe));
  nb_dataset_free(base);
  cr_assert_eq(ext_frees, 0, "still referenced by the wrappers");
  double x0;
  int64_t y;
  sample(cat, 3, &x0, &y);
  cr_assert_float_eq(x0, 1, 0);
  cr_assert_eq(y, -1, "no target");
  nb_dataset_free(cat);
  cr_assert_eq(ext_frees, 1);
}
