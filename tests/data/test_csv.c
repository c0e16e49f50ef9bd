/* tests/data/test_csv.c - the CSV reader (data/csv.c).
 *
 * Owns the tests of nb_csv_load and the class-mapping accessors: the shipped
 * data sets (wine, iris, houses), the edge cases in tests/data/files/ (quoted
 * fields, BOM + CRLF + blank lines, missing and non-numeric values with
 * file:line:column errors, wrong field counts, unknown column names,
 * drop_bad_rows), label order, saving the mapping atomically, options, and a
 * generated 50 MB file whose peak memory stays near the numbers' size.
 */
#include "support/nbtest.h"

#include "data/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

TestSuite(csv, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

#define DATASETS NB_SOURCE_DIR "/datasets/"
#define FILES NB_SOURCE_DIR "/tests/data/files/"

/* nb_csv_load that must fail with `code` and a message holding the strings. */
#define EXPECT_LOAD_FAIL(path, opts, code, ...)                                                    \
  nbt_expect_fail(nb_csv_load((path), (opts)), (code), __VA_ARGS__)

/* Options as a macro argument: OPTS(.target_column = "class", ...). */
#define OPTS(...) (&(nb_csv_opts){__VA_ARGS__})

static nb_dataset *load_ok(const char *path, const nb_csv_opts *opts) {
  nb_dataset *ds = nb_csv_load(path, opts);
  cr_assert(ds, "loading %s: %s", path, nb_errmsg());
  return ds;
}

/* Sample i's features and target as new tensors (target may be NULL). */
static void sample(nb_dataset *ds, int64_t i, nb_tensor **x, nb_tensor **y) {
  nbt_assert_ok(nb_dataset_get(ds, i, x, y), "dataset_get");
}

/* Assert sample i's features are exactly `n` values and its target `t` (NAN = no target). */
static void expect_row(nb_dataset *ds, int64_t i, const double *vals, int64_t n, double t) {
  nb_tensor *x, *y;
  sample(ds, i, &x, &y);
  nbt_assert_values(x, vals, n, 1e-6, 1e-6, "features");
  if (t == t) {
    cr_assert(y);
    nbt_assert_values(y, &t, 1, 1e-6, 1e-6, "target");
  } else {
    cr_assert_null(y);
  }
  nb_free(x);
  nb_free(y);
}

static void expect_spec(const nb_field_spec *s, nb_dtype dtype, int ndim, int64_t dim0) {
  cr_assert(s);
  cr_assert_eq(s->dtype, dtype, "dtype %s", nb_dtype_name(s->dtype));
  cr_assert_eq(s->ndim, ndim);
  if (ndim) cr_assert_eq(s->shape[0], dim0, "size %lld", (long long)s->shape[0]);
}

/* ---- the shipped data sets ------------------------------------------------------------ */

Test(csv, wine_string_classes) {
  nb_dataset *ds = load_ok(DATASETS "wine.csv", OPTS(.target_column = "class"));
  cr_assert_eq(nb_dataset_len(ds), 178);
  expect_spec(nb_dataset_features(ds), NB_DTYPE_FLOAT32, 1, 13);
  expect_spec(nb_dataset_target(ds), NB_DTYPE_INT64, 0, 0);
  cr_assert_eq(nb_csv_num_classes(ds), 3);
  for (int c = 0; c < 3; c++) {
    char want[16];
    snprintf(want, sizeof want, "class_%d", c);
    cr_assert_str_eq(nb_csv_class_name(ds, c), want);
  }
  cr_assert_eq(nb_csv_dropped_rows(ds), 0);
  /* first and last rows of the file */
  expect_row(
      ds, 0,
      (double[]){14.23, 1.71, 2.43, 15.6, 127, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065}, 13,
      0);
  expect_row(ds, 177,
             (double[]){14.13, 4.1, 2.74, 24.5, 96, 2.05, 0.76, 0.56, 1.35, 9.2, 0.61, 1.6, 560},
             13, 2);
  /* class sizes of the UCI data: 59, 71, 48 */
  int64_t counts[3] = {0};
  for (int64_t i = 0; i < 178; i++) {
    nb_tensor *x, *y;
    sample(ds, i, &x, &y);
    int64_t c = (int64_t)nb_item(y);
    cr_assert(c >= 0 && c < 3);
    counts[c]++;
    nb_free(x);
    nb_free(y);
  }
  cr_assert(counts[0] == 59 && counts[1] == 71 && counts[2] == 48, "%lld %lld %lld",
            (long long)counts[0], (long long)counts[1], (long long)counts[2]);
  nb_dataset_free(ds);
}

Test(csv, wine_defaults_take_the_last_column) {
  /* opts NULL: a class target in the last column, every other column a feature */
  nb_dataset *ds = load_ok(DATASETS "wine.csv", NULL);
  expect_spec(nb_dataset_features(ds), NB_DTYPE_FLOAT32, 1, 13);
  cr_assert_eq(nb_csv_num_classes(ds), 3);
  nb_dataset_free(ds);
}

Test(csv, iris_string_classes_sorted_and_first_seen) {
  static const char *names[] = {"setosa", "versicolor", "virginica"};
  for (int sorted = 0; sorted < 2; sorted++) {
    nb_dataset *ds =
        load_ok(DATASETS "iris.csv", OPTS(.target_column = "species", .sorted_labels = sorted));
    cr_assert_eq(nb_dataset_len(ds), 150);
    expect_spec(nb_dataset_features(ds), NB_DTYPE_FLOAT32, 1, 4);
    cr_assert_eq(nb_csv_num_classes(ds), 3);
    for (int c = 0; c < 3; c++) cr_assert_str_eq(nb_csv_class_name(ds, c), names[c]);
    expect_row(ds, 0, (double[]){5.1, 3.5, 1.4, 0.2}, 4, 0);
    expect_row(ds, 149, (double[]){5.9, 3.0, 5.1, 1.8}, 4, 2);
    nb_dataset_free(ds);
  }
}

Test(csv, houses_regression) {
  nb_dataset *ds = load_ok(DATASETS "houses.csv", OPTS(.target_column = "MEDV",
                                                       .target_kind = NB_CSV_TARGET_REGRESSION, ));
  cr_assert_eq(nb_dataset_len(ds), 506);
  expect_spec(nb_dataset_features(ds), NB_DTYPE_FLOAT32, 1, 12);
  expect_spec(nb_dataset_target(ds), NB_DTYPE_FLOAT32, 0, 0);
  expect_row(ds, 0, (double[]){0.00632, 18, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 4.98},
             12, 24.0);
  expect_row(ds, 505, (double[]){0.04741, 0, 11.93, 0, 0.573, 6.03, 80.8, 2.505, 1, 273, 21, 7.88},
             12, 11.9);
  /* a regression dataset has no classes */
  nb_clear_error();
  cr_assert_eq(nb_csv_num_classes(ds), 0);
  nb_dataset_free(ds);
}

Test(csv, houses_rooms_only_by_name_and_index_float64) {
  const char *cols[] = {"RM"};
  nb_dataset *a = load_ok(DATASETS "houses.csv",
                          OPTS(.feature_columns = cols, .nfeatures = 1, .target_column = "MEDV",
                               .target_kind = NB_CSV_TARGET_REGRESSION, .dtype = NB_DTYPE_FLOAT64));
  expect_spec(nb_dataset_features(a), NB_DTYPE_FLOAT64, 1, 1);
  expect_spec(nb_dataset_target(a), NB_DTYPE_FLOAT64, 0, 0);
  expect_row(a, 2, (double[]){7.185}, 1, 34.7);
  /* the same columns by index: RM is column 5, MEDV the last */
  nb_dataset *b = load_ok(DATASETS "houses.csv",
                          OPTS(.feature_indices = (const int[]){5}, .nfeatures = 1,
                               .target_index = -1, .target_kind = NB_CSV_TARGET_REGRESSION));
  expect_row(b, 2, (double[]){7.185}, 1, 34.7);
  nb_dataset_free(a);
  nb_dataset_free(b);
}

/* ---- edge cases --------------------------------------------------------------------------- */

Test(csv, quoted_fields) {
  const char *cols[] = {"x", "y"};
  nb_dataset *ds = load_ok(FILES "quoted.csv",
                           OPTS(.feature_columns = cols, .nfeatures = 2, .target_column = "label"));
  cr_assert_eq(nb_dataset_len(ds), 4);
  cr_assert_eq(nb_csv_num_classes(ds), 3);
  cr_assert_str_eq(nb_csv_class_name(ds, 0), "cat");
  cr_assert_str_eq(nb_csv_class_name(ds, 1), "big, dog");
  cr_assert_str_eq(nb_csv_class_name(ds, 2), "the \"fox\"");
  expect_row(ds, 0, (double[]){1.5, 2}, 2, 0);
  expect_row(ds, 1, (double[]){2.5, 3}, 2, 1);
  expect_row(ds, 2, (double[]){3.5, 4}, 2, 0); /* after a newline inside quotes */
  expect_row(ds, 3, (double[]){4.5, 5}, 2, 2);
  nb_dataset_free(ds);
}

Test(csv, quoted_text_column_is_not_a_number) {
  /* every column but the label: the quoted name column is text. Line 2, column 1. */
  EXPECT_LOAD_FAIL(FILES "quoted.csv", OPTS(.target_column = "label"), NB_ERR_FORMAT,
                   "quoted.csv:2:1: 'a, b' is not a number", "column 'name'");
}

Test(csv, line_numbers_count_newlines_inside_quotes) {
  /* the quoted note spans lines 2-3, so the bad value is on line 4 */
  const char *cols[] = {"v"};
  EXPECT_LOAD_FAIL(FILES "multiline.csv",
                   OPTS(.feature_columns = cols, .nfeatures = 1, .target_kind = NB_CSV_TARGET_NONE),
                   NB_ERR_FORMAT, "multiline.csv:4:2: 'bad' is not a number");
}

Test(csv, bom_crlf_and_blank_lines) {
  /* guard against a checkout that rewrote the file's bytes */
  FILE *f = fopen(FILES "bom_crlf.csv", "rb");
  cr_assert(f);
  char head[8] = {0};
  cr_assert_eq(fread(head, 1, 7, f), 7);
  fclose(f);
  cr_assert(memcmp(head,
                   "\xEF\xBB\xBF"
                   "a,b",
                   6) == 0,
            "bom_crlf.csv lost its BOM");
  const char *cols[] = {"a", "b"}; /* "a" is the first name, after the BOM */
  nb_dataset *ds = load_ok(FILES "bom_crlf.csv",
                           OPTS(.feature_columns = cols, .nfeatures = 2, .target_column = "label"));
  cr_assert_eq(nb_dataset_len(ds), 3);
  cr_assert_eq(nb_csv_num_classes(ds), 2);
  cr_assert_str_eq(nb_csv_class_name(ds, 0), "x"); /* no "\r" left on labels */
  cr_assert_str_eq(nb_csv_class_name(ds, 1), "y");
  expect_row(ds, 0, (double[]){1, 2}, 2, 0);
  expect_row(ds, 1, (double[]){3, 4}, 2, 1);
  expect_row(ds, 2, (double[]){5, 6}, 2, 0);
  nb_dataset_free(ds);
}

Test(csv, missing_value_names_file_line_column) {
  EXPECT_LOAD_FAIL(FILES "missing.csv", OPTS(.target_column = "label"), NB_ERR_FORMAT,
                   "missing.csv:3:2: missing value", "column 'f2'");
}

Test(csv, non_numeric_value_names_file_line_column) {
  /* feature f1 only: the missing f2 on line 3 is not read, 'abc' on line 5 is */
  const char *cols[] = {"f1"};
  EXPECT_LOAD_FAIL(FILES "missing.csv",
                   OPTS(.feature_columns = cols, .nfeatures = 1, .target_column = "label"),
                   NB_ERR_FORMAT, "missing.csv:5:1: 'abc' is not a number", "column 'f1'");
}

Test(csv, missing_label_is_an_error) {
  EXPECT_LOAD_FAIL(FILES "nolabel.csv", OPTS(.target_column = "label"), NB_ERR_FORMAT,
                   "nolabel.csv:3:2: missing class label", "column 'label'");
}

Test(csv, drop_bad_rows_counts_them) {
  nb_dataset *ds =
      load_ok(FILES "missing.csv", OPTS(.target_column = "label", .drop_bad_rows = true));
  /* dropped: 3,,b (missing) / abc,6,b (text) / 7,8, (no label) */
  cr_assert_eq(nb_csv_dropped_rows(ds), 3);
  cr_assert_eq(nb_dataset_len(ds), 3);
  expect_row(ds, 0, (double[]){1, 2}, 2, 0);
  expect_row(ds, 1, (double[]){4, 5}, 2, 0);
  expect_row(ds, 2, (double[]){9, 10}, 2, 1);
  /* labels of dropped rows are not classes: a, then b from the last row */
  cr_assert_eq(nb_csv_num_classes(ds), 2);
  cr_assert_str_eq(nb_csv_class_name(ds, 1), "b");
  nb_dataset_free(ds);
}

Test(csv, wrong_field_count_names_the_line) {
  EXPECT_LOAD_FAIL(FILES "fields.csv", OPTS(.target_column = "c"), NB_ERR_FORMAT,
                   "fields.csv:4:", "4 fields, expected 3");
  /* not a bad value: drop_bad_rows does not hide it */
  EXPECT_LOAD_FAIL(FILES "fields.csv", OPTS(.target_column = "c", .drop_bad_rows = true),
                   NB_ERR_FORMAT, "fields.csv:4:");
}

Test(csv, unknown_column_lists_the_names) {
  EXPECT_LOAD_FAIL(DATASETS "wine.csv", OPTS(.target_column = "label"), NB_ERR_ARG,
                   "no target column named 'label'", "'alcohol'", "'class'");
  const char *cols[] = {"alcohol", "colour"};
  EXPECT_LOAD_FAIL(DATASETS "iris.csv",
                   OPTS(.feature_columns = cols, .nfeatures = 2, .target_column = "species"),
                   NB_ERR_ARG, "no feature column named 'alcohol'",
                   "'sepal_length', 'sepal_width', 'petal_length', 'petal_width', 'species'");
  EXPECT_LOAD_FAIL(DATASETS "iris.csv", OPTS(.use_target_index = true, .target_index = 5),
                   NB_ERR_ARG, "target column index 5 out of range for 5 columns");
  EXPECT_LOAD_FAIL(DATASETS "iris.csv",
                   OPTS(.feature_indices = (const int[]){-6}, .nfeatures = 1, .target_index = -1),
                   NB_ERR_ARG, "feature column index -6");
}

Test(csv, label_order_first_seen_sorted_and_numeric) {
  /* column s: b, a, c, a, b */
  nb_csv_opts o = {.feature_columns = (const char *[]){"v"}, .nfeatures = 1, .target_column = "s"};
  nb_dataset *first = load_ok(FILES "labels.csv", &o);
  cr_assert_str_eq(nb_csv_class_name(first, 0), "b");
  cr_assert_str_eq(nb_csv_class_name(first, 2), "c");
  expect_row(first, 1, (double[]){2}, 1, 1); /* a = 1 */
  o.sorted_labels = true;
  nb_dataset *sorted = load_ok(FILES "labels.csv", &o);
  cr_assert_str_eq(nb_csv_class_name(sorted, 0), "a");
  cr_assert_str_eq(nb_csv_class_name(sorted, 1), "b");
  expect_row(sorted, 0, (double[]){1}, 1, 1); /* b = 1 */
  expect_row(sorted, 1, (double[]){2}, 1, 0);
  expect_row(sorted, 2, (double[]){3}, 1, 2);
  /* integer labels 10, 9, 2, 10, 2 sort as numbers: 2, 9, 10 */
  o.target_column = "n";
  nb_dataset *ints = load_ok(FILES "labels.csv", &o);
  cr_assert_str_eq(nb_csv_class_name(ints, 0), "2");
  cr_assert_str_eq(nb_csv_class_name(ints, 1), "9");
  cr_assert_str_eq(nb_csv_class_name(ints, 2), "10");
  expect_row(ints, 0, (double[]){1}, 1, 2);
  expect_row(ints, 2, (double[]){3}, 1, 0);
  nbt_expect_fail(nb_csv_class_name(ints, 3), NB_ERR_INDEX, "class 3 out of range for 3 classes");
  cr_assert_null(nb_csv_class_name(ints, -1));
  nb_dataset_free(first);
  nb_dataset_free(sorted);
  nb_dataset_free(ints);
}

Test(csv, no_header_semicolons_regression) {
  nb_dataset *ds =
      load_ok(FILES "semicolon.csv", OPTS(.delimiter = ';', .no_header = true, .target_index = -1,
                                          .target_kind = NB_CSV_TARGET_REGRESSION));
  cr_assert_eq(nb_dataset_len(ds), 3);
  expect_row(ds, 0, (double[]){1.5, 2}, 2, 0.25);
  expect_row(ds, 1, (double[]){-300, 4}, 2, 1.5);
  expect_row(ds, 2, (double[]){5, 6}, 2, 2.75);
  nb_dataset_free(ds);
  /* without a header there are no names to ask for */
  EXPECT_LOAD_FAIL(FILES "semicolon.csv",
                   OPTS(.delimiter = ';', .no_header = true, .target_column = "t"), NB_ERR_ARG,
                   "no header");
  /* with the wrong delimiter each line is one text field */
  EXPECT_LOAD_FAIL(FILES "semicolon.csv",
                   OPTS(.no_header = true, .target_kind = NB_CSV_TARGET_NONE), NB_ERR_FORMAT,
                   "semicolon.csv:1:1: '1.5;2;0.25' is not a number");
}

Test(csv, no_target) {
  nb_dataset *ds = load_ok(FILES "semicolon.csv", OPTS(.delimiter = ';', .no_header = true,
                                                       .target_kind = NB_CSV_TARGET_NONE));
  expect_spec(nb_dataset_features(ds), NB_DTYPE_FLOAT32, 1, 3);
  cr_assert_null(nb_dataset_target(ds));
  expect_row(ds, 2, (double[]){5, 6, 2.75}, 3, NAN);
  nb_dataset_free(ds);
}

Test(csv, regression_target_errors) {
  nb_csv_opts o = {.target_column = "t", .target_kind = NB_CSV_TARGET_REGRESSION};
  EXPECT_LOAD_FAIL(FILES "regress.csv", &o, NB_ERR_FORMAT,
                   "regress.csv:3:3: 'oops' is not a number", "column 't'");
  o.drop_bad_rows = true;
  nb_dataset *ds = load_ok(FILES "regress.csv", &o);
  cr_assert_eq(nb_dataset_len(ds), 1); /* oops, inf and 1e999 (out of range) dropped */
  cr_assert_eq(nb_csv_dropped_rows(ds), 3);
  expect_row(ds, 0, (double[]){1, 2}, 2, 0.5);
  nb_dataset_free(ds);
}

Test(csv, malformed_files) {
  EXPECT_LOAD_FAIL(
      FILES "unclosed.csv",
      OPTS(.feature_indices = (const int[]){0}, .nfeatures = 1, .target_kind = NB_CSV_TARGET_NONE),
      NB_ERR_FORMAT, "unclosed.csv:3:2: quoted field never closed");
  EXPECT_LOAD_FAIL(FILES "afterquote.csv", OPTS(.use_target_index = true, .target_index = 1),
                   NB_ERR_FORMAT,
                   "afterquote.csv:2:2: unexpected character 'y' after a closing quote");
  EXPECT_LOAD_FAIL(FILES "header_only.csv", NULL, NB_ERR_FORMAT, "header_only.csv: no data rows");
  EXPECT_LOAD_FAIL(FILES "no_such_file.csv", NULL, NB_ERR_IO, "cannot open", "no_such_file.csv");
  nbt_expect_fail(nb_csv_load(NULL, NULL), NB_ERR_ARG, "csv_load: path is NULL");
  /* a binary file is rejected with a message naming it, not a crash */
  nb_clear_error();
  cr_assert_null(nb_csv_load("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", NULL));
  cr_assert(nb_last_status() == NB_ERR_FORMAT || nb_last_status() == NB_ERR_ARG, "%s", nb_errmsg());
  cr_assert(strstr(nb_errmsg(), "t10k-labels-idx1-ubyte.gz"), "%s", nb_errmsg());
}

Test(csv, empty_file) {
  char path[] = "/tmp/nb_csv_empty_XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  EXPECT_LOAD_FAIL(path, NULL, NB_ERR_FORMAT, "empty file");
  remove(path);
}

Test(csv, bad_options) {
  EXPECT_LOAD_FAIL(DATASETS "wine.csv", OPTS(.dtype = NB_DTYPE_INT64), NB_ERR_DTYPE, "int64");
  EXPECT_LOAD_FAIL(DATASETS "wine.csv", OPTS(.delimiter = '"'), NB_ERR_ARG, "delimiter");
  EXPECT_LOAD_FAIL(DATASETS "wine.csv", OPTS(.target_kind = NB_CSV_TARGET_COUNT), NB_ERR_ARG,
                   "target kind");
  EXPECT_LOAD_FAIL(DATASETS "wine.csv", OPTS(.nfeatures = -1), NB_ERR_ARG, "nfeatures");
  /* one column that is the target: nothing left for features */
  EXPECT_LOAD_FAIL(FILES "semicolon.csv", OPTS(.no_header = true), NB_ERR_ARG,
                   "no feature columns");
}

/* ---- the class mapping -------------------------------------------------------------------- */

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  static char buf[4096];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

Test(csv, save_classes_atomically) {
  char dir[] = "/tmp/nb_csv_XXXXXX";
  cr_assert(mkdtemp(dir));
  char path[256], tmp[300];
  snprintf(path, sizeof path, "%s/classes.csv", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  /* an older file is replaced whole */
  FILE *f = fopen(path, "w");
  fputs("old contents that are longer than the new ones, old contents\n", f);
  fclose(f);
  nb_dataset *ds = load_ok(DATASETS "wine.csv", OPTS(.target_column = "class"));
  nbt_assert_ok(nb_csv_save_classes(ds, path), "save_classes");
  char *text = slurp(path);
  cr_assert(text);
  cr_assert_str_eq(text, "0,class_0\n1,class_1\n2,class_2\n");
  cr_assert_eq(access(tmp, F_OK), -1, "the temporary file is left behind");
  /* names with the delimiter or quotes are written quoted */
  const char *cols[] = {"x"};
  nb_dataset *q = load_ok(FILES "quoted.csv",
                          OPTS(.feature_columns = cols, .nfeatures = 1, .target_column = "label"));
  nbt_assert_ok(nb_csv_save_classes(q, path), "save_classes");
  cr_assert_str_eq(slurp(path), "0,cat\n1,\"big, dog\"\n2,\"the \"\"fox\"\"\"\n");
  /* the saved mapping reads back as a CSV */
  nb_dataset *back =
      nb_csv_load(path, OPTS(.no_header = true, .feature_indices = (const int[]){0}, .nfeatures = 1,
                             .use_target_index = true, .target_index = 1));
  cr_assert(back, "%s", nb_errmsg());
  cr_assert_str_eq(nb_csv_class_name(back, 1), "big, dog");
  cr_assert_str_eq(nb_csv_class_name(back, 2), "the \"fox\"");
  nb_dataset_free(back);
  /* a directory that does not exist: an error, and the old file survives */
  char bad[300];
  snprintf(bad, sizeof bad, "%s/missing/classes.csv", dir);
  nb_clear_error();
  nbt_expect_status(nb_csv_save_classes(ds, bad), NB_ERR_IO, "csv_save_classes: cannot create",
                    "missing/classes.csv.tmp");
  cr_assert_eq(nb_csv_save_classes(ds, NULL), NB_ERR_ARG);
  nb_dataset_free(q);
  nb_dataset_free(ds);
  remove(path);
  rmdir(dir);
}

Test(csv, accessors_reach_through_splits_and_reject_others) {
  nb_dataset *ds = load_ok(DATASETS "wine.csv", OPTS(.target_column = "class"));
  nb_dataset *parts[2];
  nbt_assert_ok(nb_random_split(ds, (const double[]){0.8, 0.2}, 2, 7, parts), "split");
  cr_assert_eq(nb_csv_num_classes(parts[1]), 3);
  cr_assert_str_eq(nb_csv_class_name(parts[0], 2), "class_2");
  cr_assert_eq(nb_csv_dropped_rows(parts[0]), 0);
  nb_dataset_free(ds); /* parts keep it alive */
  cr_assert_eq(nb_csv_num_classes(parts[0]), 3);
  nb_dataset_free(parts[0]);
  nb_dataset_free(parts[1]);

  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(4, 2));
  nb_dataset *plain = nb_tensor_dataset_new(x, NULL);
  nb_free(x);
  nb_clear_error();
  cr_assert_eq(nb_csv_num_classes(plain), -1);
  nbt_expect_error(NB_ERR_ARG, "csv_num_classes", "nb_csv_load");
  cr_assert_eq(nb_csv_dropped_rows(plain), -1);
  cr_assert_null(nb_csv_class_name(plain, 0));
  cr_assert_eq(nb_csv_save_classes(plain, "/tmp/never"), NB_ERR_ARG);
  nb_clear_error();
  cr_assert_eq(nb_csv_num_classes(NULL), -1);
  nbt_expect_error(NB_ERR_NULL, "csv_num_classes");
  nb_dataset_free(plain);
}

Test(csv, loads_inside_a_scope) {
  /* the dataset's tensors must outlive a scope open during the load */
  nb_scope_begin();
  nb_dataset *ds = load_ok(DATASETS "iris.csv", NULL);
  nb_scope_end();
  expect_row(ds, 0, (double[]){5.1, 3.5, 1.4, 0.2}, 4, 0);
  nb_dataset_free(ds);
}

/* ---- streaming ------------------------------------------------------------------------------- */

static long peak_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

Test(csv, streams_a_50mb_file, .timeout = 120) {
#if defined(__SANITIZE_ADDRESS__)
  const int64_t rows = 60000; /* keep the sanitizer run short; memory is not measured */
#else
  const int64_t rows = 600000;
#endif
  const int cols = 10;
  char path[] = "/tmp/nb_csv_big_XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  FILE *f = fdopen(fd, "w");
  for (int c = 0; c < cols; c++) fprintf(f, "c%d,", c);
  fputs("label\n", f);
  /* rows repeat with period 1000: format those once, write them over and over */
  static char block[1000 * 128];
  size_t used = 0;
  for (int64_t r = 0; r < 1000; r++) {
    for (int c = 0; c < cols; c++)
      used += (size_t)snprintf(block + used, sizeof block - used, "%.6f,",
                               (double)((r * 31 + c * 7) % 1000) / 7.0);
    used += (size_t)snprintf(block + used, sizeof block - used, "k%lld\n", (long long)(r % 5));
  }
  for (int64_t r = 0; r < rows; r += 1000) cr_assert_eq(fwrite(block, 1, used, f), used);
  long bytes = ftell(f);
  fclose(f);
  long before = peak_rss_kb();
  nb_dataset *ds = load_ok(path, NULL);
  long grown = peak_rss_kb() - before;
  remove(path);
  cr_assert_eq(nb_dataset_len(ds), rows);
  cr_assert_eq(nb_csv_num_classes(ds), 5);
  int64_t r = rows - 1;
  double want[10];
  for (int c = 0; c < cols; c++) want[c] = (double)((r * 31 + c * 7) % 1000) / 7.0;
  expect_row(ds, r, want, cols, (double)(r % 5));
  nb_dataset_free(ds);
#if !defined(__SANITIZE_ADDRESS__)
  /* numbers: rows * (10 float32 + 1 int64) = 28.8 MB; the text is ~67 MB */
  long numbers_kb = (long)(rows * (cols * 4 + 8) / 1024);
  cr_assert(bytes > 50L * 1000 * 1000, "file of %ld bytes", bytes);
  cr_assert(grown < numbers_kb * 3 / 2 + 8 * 1024,
            "peak memory grew by %ld KiB loading %ld bytes; the numbers take %ld KiB", grown, bytes,
            numbers_kb);
#else
  (void)bytes;
  (void)grown;
#endif
}

Test(csv, zeroed_options_take_the_last_column_as_class_target) {
  nb_dataset *ds = nb_csv_load(DATASETS "iris.csv", &(nb_csv_opts){0});
  cr_assert_not_null(ds, "%s", nb_errmsg());
  cr_assert_eq(nb_dataset_features(ds)->shape[0], 4);
  cr_assert_eq(nb_csv_num_classes(ds), 3);
  cr_assert_str_eq(nb_csv_class_name(ds, 0), "setosa");
  nb_dataset_free(ds);
}
