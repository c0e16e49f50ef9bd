/* tests/data/test_idx.c - the IDX reader and Fashion-MNIST (data/idx.c).
 *
 * Owns the tests of nb_idx_load (every element type, big-endian decoding,
 * conversion to each dtype, raw and gzip'd files written at run time into a
 * temporary directory, header validation, truncated and overlong files,
 * corrupt gzip data) and nb_fashion_mnist (Debian's dataset-fashion-mnist,
 * installed by tools/setup.sh: sizes, labels, pixel range, NCHW layout).
 */
#include "support/nbtest.h"

#include "data/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

TestSuite(idx, .init = nbt_scratch_setup, .fini = nbt_scratch_teardown);

#define FASHION "/usr/share/datasets/fashion-mnist"

/* nb_idx_load that must fail with `code` and a message holding the strings. */
#define EXPECT_LOAD_FAIL(path, code, ...)                                                          \
  nbt_expect_fail(nb_idx_load((path), NB_DTYPE_FLOAT32), (code), __VA_ARGS__)

/* Write bytes to dir/name, gzip'd if gz; returns the path (static buffer per call site). */
static const char *write_file(const char *name, const void *bytes, size_t n, bool gz, char *path,
                              size_t size) {
  snprintf(path, size, "%s", nbt_scratch_path(name));
  if (gz) {
    gzFile f = gzopen(path, "wb");
    cr_assert(f);
    if (n) cr_assert_eq(gzwrite(f, bytes, (unsigned)n), (int)n);
    cr_assert_eq(gzclose(f), Z_OK);
  } else {
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    if (n) cr_assert_eq(fwrite(bytes, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
  }
  return path;
}

/* An IDX image: header for (code, dims) followed by `data` (already big-endian). */
static size_t make_idx(unsigned char *out, int code, int ndim, const uint32_t *dims,
                       const void *data, size_t data_bytes) {
  size_t n = 0;
  out[n++] = 0;
  out[n++] = 0;
  out[n++] = (unsigned char)code;
  out[n++] = (unsigned char)ndim;
  for (int i = 0; i < ndim; i++) {
    out[n++] = (unsigned char)(dims[i] >> 24);
    out[n++] = (unsigned char)(dims[i] >> 16);
    out[n++] = (unsigned char)(dims[i] >> 8);
    out[n++] = (unsigned char)dims[i];
  }
  if (data_bytes) memcpy(out + n, data, data_bytes);
  return n + data_bytes;
}

/* Big-endian bytes of n values of `size` bytes each, from host values. */
static void to_be(unsigned char *dst, const void *src, int n, int size) {
  const unsigned char *s = src;
  for (int i = 0; i < n; i++)
    for (int b = 0; b < size; b++) dst[i * size + b] = s[i * size + (size - 1 - b)];
}

/* ---- element types and dtypes ---------------------------------------------------------- */

Test(idx, ubyte_3d_raw_and_gz_every_dtype) {
  unsigned char data[24], file[64];
  for (int i = 0; i < 24; i++) data[i] = (unsigned char)(i * 11); /* 0 .. 253 */
  size_t n = make_idx(file, 0x08, 3, (const uint32_t[]){2, 3, 4}, data, 24);
  double want[24];
  for (int i = 0; i < 24; i++) want[i] = i * 11;
  for (int gz = 0; gz < 2; gz++) {
    char path[256];
    write_file(gz ? "u8.idx.gz" : "u8.idx", file, n, gz, path, sizeof path);
    for (nb_dtype dt = 0; dt < NB_DTYPE_COUNT; dt++) {
      nb_tensor *t = nb_idx_load(path, dt);
      cr_assert(t, "%s as %s: %s", path, nb_dtype_name(dt), nb_errmsg());
      nbt_assert_shape(t, NB_SHAPE(2, 3, 4), "shape");
      cr_assert_eq(nb_dtype_of(t), dt);
      if (dt == NB_DTYPE_BOOL) {
        double b[24];
        for (int i = 0; i < 24; i++) b[i] = want[i] != 0;
        nbt_assert_values(t, b, 24, 0, 0, "bool");
      } else {
        nbt_assert_values(t, want, 24, 0, 0, nb_dtype_name(dt));
      }
      nb_free(t);
    }
  }
}

Test(idx, signed_and_wide_types_are_big_endian) {
  char path[256];
  unsigned char file[256], be[64];
  const uint32_t dims[] = {5};
  /* 0x09 signed byte */
  const int8_t i8[5] = {-128, -1, 0, 1, 127};
  size_t n = make_idx(file, 0x09, 1, dims, i8, 5);
  nb_tensor *t = nb_idx_load(write_file("i8", file, n, false, path, sizeof path), NB_DTYPE_INT64);
  nbt_assert_values(t, ((double[]){-128, -1, 0, 1, 127}), 5, 0, 0, "int8");
  nb_free(t);
  /* 0x0B int16 */
  const int16_t i16[5] = {-32768, -2, 0, 258, 32767};
  to_be(be, i16, 5, 2);
  n = make_idx(file, 0x0B, 1, dims, be, 10);
  t = nb_idx_load(write_file("i16", file, n, true, path, sizeof path), NB_DTYPE_FLOAT64);
  nbt_assert_values(t, ((double[]){-32768, -2, 0, 258, 32767}), 5, 0, 0, "int16");
  nb_free(t);
  /* 0x0C int32 */
  const int32_t i32[5] = {INT32_MIN, -70000, 0, 16909060, INT32_MAX};
  to_be(be, i32, 5, 4);
  n = make_idx(file, 0x0C, 1, dims, be, 20);
  t = nb_idx_load(write_file("i32", file, n, false, path, sizeof path), NB_DTYPE_INT64);
  nbt_assert_values(t, ((double[]){INT32_MIN, -70000, 0, 16909060, INT32_MAX}), 5, 0, 0, "int32");
  nb_free(t);
  /* 0x0D float32 */
  const float f32[5] = {-1.5f, 0.1f, 0.0f, 3.25f, 1e30f};
  to_be(be, f32, 5, 4);
  n = make_idx(file, 0x0D, 1, dims, be, 20);
  t = nb_idx_load(write_file("f32", file, n, true, path, sizeof path), NB_DTYPE_FLOAT32);
  nbt_assert_values(t, ((double[]){-1.5, (double)0.1f, 0, 3.25, (double)1e30f}), 5, 0, 0,
                    "float32");
  nb_free(t);
  /* 0x0E float64, 2-d */
  const double f64[6] = {-2.5, 1e-300, 0, 7, 0.1, -0.0};
  to_be(be, f64, 6, 8);
  n = make_idx(file, 0x0E, 2, (const uint32_t[]){3, 2}, be, 48);
  t = nb_idx_load(write_file("f64", file, n, false, path, sizeof path), NB_DTYPE_FLOAT64);
  nbt_assert_shape(t, NB_SHAPE(3, 2), "f64");
  nbt_assert_values(t, f64, 6, 0, 0, "float64");
  nb_free(t);
  /* float -> int64 truncates toward zero */
  n = make_idx(file, 0x0D, 1, dims, (to_be(be, f32, 5, 4), be), 20);
  t = nb_idx_load(write_file("f32b", file, n, false, path, sizeof path), NB_DTYPE_INT64);
  nbt_assert_values(t, ((double[]){-1, 0, 0, 3, 9223372036854775807.0}), 5, 0, 0, "to int64");
  nb_free(t);
}

Test(idx, empty_dims_and_8_dims) {
  char path[256];
  unsigned char file[128];
  size_t n = make_idx(file, 0x08, 2, (const uint32_t[]){0, 28}, NULL, 0);
  nb_tensor *t =
      nb_idx_load(write_file("empty", file, n, false, path, sizeof path), NB_DTYPE_FLOAT32);
  nbt_assert_shape(t, NB_SHAPE(0, 28), "empty");
  nb_free(t);
  unsigned char data[2] = {5, 6};
  n = make_idx(file, 0x08, 8, (const uint32_t[]){1, 1, 1, 2, 1, 1, 1, 1}, data, 2);
  t = nb_idx_load(write_file("8d", file, n, true, path, sizeof path), NB_DTYPE_INT64);
  nbt_assert_shape(t, NB_SHAPE(1, 1, 1, 2, 1, 1, 1, 1), "8d");
  nbt_assert_values(t, ((double[]){5, 6}), 2, 0, 0, "8d");
  nb_free(t);
}

/* ---- header checks ------------------------------------------------------------------------- */

Test(idx, header_validation) {
  char path[256];
  unsigned char file[128], data[4] = {1, 2, 3, 4};
  for (int gz = 0; gz < 2; gz++) {
    /* magic's first bytes must be zero */
    size_t n = make_idx(file, 0x08, 1, (const uint32_t[]){4}, data, 4);
    file[0] = 0x1f;
    write_file("magic", file, n, gz, path, sizeof path);
    EXPECT_LOAD_FAIL(path, NB_ERR_FORMAT, path, "bad magic 0x1f000801");
    /* unknown element type */
    n = make_idx(file, 0x0A, 1, (const uint32_t[]){4}, data, 4);
    write_file("type", file, n, gz, path, sizeof path);
    EXPECT_LOAD_FAIL(path, NB_ERR_FORMAT, path, "unknown element type code 0x0a");
    /* ndim 0 and 9 */
    n = make_idx(file, 0x08, 0, NULL, data, 4);
    write_file("ndim0", file, n, gz, path, sizeof path);
    EXPECT_LOAD_FAIL(path, NB_ERR_FORMAT, path, "0 dimensions (expected 1 to 8)");
    n = make_idx(file, 0x08, 9, (const uint32_t[]){1, 1, 1, 1, 1, 1, 1, 1, 4}, data, 4);
    write_file("ndim9", file, n, gz, path, sizeof path);
    EXPECT_LOAD_FAIL(path, NB_ERR_FORMAT, path, "9 dimensions");
    /* shorter than a header, and a header cut inside the sizes */
    write_file("short", file, 3, gz, path, sizeof path);
    EXPECT_LOAD_FAIL(path, NB_ERR_FORMAT, path, "3 bytes: too short for an IDX header");
    write_file("empty", file, 0, gz, path, sizeof path);
    EXPECT_LOAD_FAIL(path, NB_ERR_FORMAT, path, "0 bytes");
    n = make_idx(file, 0x08, 3, (const uint32_t[]){1, 2, 2}, data, 4);
    write_file("cuthead", file, 10, gz, path, sizeof path);
    EXPECT_LOAD_FAIL(path, NB_ERR_FORMAT, path,
                     "truncated header: expected 12 bytes of sizes, got 6");
    /* sizes whose product overflows */
    n = make_idx(file, 0x0E, 3, (const uint32_t[]){0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, data, 0);
    write_file("huge", file, n, gz, path, sizeof path);
    EXPECT_LOAD_FAIL(path, NB_ERR_FORMAT, path, "overflow");
  }
}

Test(idx, truncated_and_overlong_files) {
  char path[256];
  unsigned char file[4096], data[2000];
  for (int i = 0; i < 2000; i++) data[i] = (unsigned char)i;
  /* [10, 100] int16: 2000 data bytes after a 12-byte header */
  size_t n = make_idx(file, 0x0B, 2, (const uint32_t[]){10, 100}, data, 2000);
  for (int gz = 0; gz < 2; gz++) {
    write_file(gz ? "cut.gz" : "cut", file, n - 7, gz, path, sizeof path);
    EXPECT_LOAD_FAIL(path, NB_ERR_FORMAT, path, "truncated", "2000 bytes of data (2012 in all)",
                     "has 1993 (2005 in all)");
    write_file(gz ? "long.gz" : "long", file, n + 1, gz, path, sizeof path);
    EXPECT_LOAD_FAIL(path, NB_ERR_FORMAT, path, "longer than its header says");
  }
}

Test(idx, gzip_cut_short_and_corrupt) {
  char path[256], gzpath[256];
  unsigned char file[70000], data[65536];
  for (int i = 0; i < 65536; i++) data[i] = (unsigned char)(i * 7 + i / 300);
  size_t n = make_idx(file, 0x08, 1, (const uint32_t[]){65536}, data, 65536);
  write_file("whole.gz", file, n, true, gzpath, sizeof gzpath);
  FILE *f = fopen(gzpath, "rb");
  static unsigned char gz[140000];
  size_t gzn = fread(gz, 1, sizeof gz, f);
  fclose(f);
  cr_assert(gzn > 100);
  nb_tensor *t = nb_idx_load(gzpath, NB_DTYPE_INT64);
  cr_assert(t, "%s", nb_errmsg());
  nb_free(t);
  /* the compressed stream cut in the middle: truncated data, not a crash */
  write_file("half.gz", gz, gzn / 2, false, path, sizeof path);
  nbt_expect_fail(nb_idx_load(path, NB_DTYPE_FLOAT32), NB_ERR_FORMAT, path);
  /* bytes flipped inside the deflate data: a gzip error, not garbage */
  for (size_t i = gzn / 3; i < gzn / 3 + 16; i++) gz[i] ^= 0x5a;
  write_file("bad.gz", gz, gzn, false, path, sizeof path);
  nbt_expect_fail(nb_idx_load(path, NB_DTYPE_FLOAT32), NB_ERR_FORMAT, path);
}

Test(idx, bad_arguments) {
  nbt_expect_fail(nb_idx_load(NULL, NB_DTYPE_FLOAT32), NB_ERR_ARG, "idx_load: path is NULL");
  EXPECT_LOAD_FAIL("/nonexistent/file.idx", NB_ERR_IO, "cannot open /nonexistent/file.idx");
  nbt_expect_fail(nb_idx_load(FASHION "/t10k-labels-idx1-ubyte.gz", NB_DTYPE_COUNT), NB_ERR_DTYPE,
                  "invalid dtype");
  /* a text file is not an IDX file */
  EXPECT_LOAD_FAIL(NB_SOURCE_DIR "/datasets/wine.csv", NB_ERR_FORMAT, "wine.csv", "bad magic");
}

/* ---- Fashion-MNIST ------------------------------------------------------------------------- */

static void check_fashion(bool train, int64_t n) {
  nb_dataset *ds = nb_fashion_mnist(NULL, train);
  cr_assert(ds, "%s", nb_errmsg());
  cr_assert_eq(nb_dataset_len(ds), n);
  const nb_field_spec *fs = nb_dataset_features(ds), *ts = nb_dataset_target(ds);
  cr_assert(fs->dtype == NB_DTYPE_FLOAT32 && fs->ndim == 3 && fs->shape[0] == 1 &&
            fs->shape[1] == 28 && fs->shape[2] == 28);
  cr_assert(ts && ts->dtype == NB_DTYPE_INT64 && ts->ndim == 0);

  /* the raw files, read directly, against the dataset's samples */
  const char *prefix = train ? "train" : "t10k";
  char ipath[256], lpath[256];
  snprintf(ipath, sizeof ipath, FASHION "/%s-images-idx3-ubyte.gz", prefix);
  snprintf(lpath, sizeof lpath, FASHION "/%s-labels-idx1-ubyte.gz", prefix);
  nb_tensor *raw = nb_idx_load(ipath, NB_DTYPE_FLOAT32);
  nb_tensor *labels = nb_idx_load(lpath, NB_DTYPE_INT64);
  cr_assert(raw && labels, "%s", nb_errmsg());
  nbt_assert_shape(raw, NB_SHAPE(n, 28, 28), "raw images");
  /* pixels span 0..255, labels 0..9 with n/10 of each class */
  nb_tensor *mx = nbk_amax(raw, NB_ALL_DIMS, false), *mn = nbk_amin(raw, NB_ALL_DIMS, false);
  cr_assert_float_eq(nb_item(mx), 255.0, 0);
  cr_assert_float_eq(nb_item(mn), 0.0, 0);
  const int64_t *lab = nb_data(labels);
  int64_t counts[10] = {0};
  for (int64_t i = 0; i < n; i++) {
    cr_assert(lab[i] >= 0 && lab[i] <= 9);
    counts[lab[i]]++;
  }
  for (int c = 0; c < 10; c++)
    cr_assert_eq(counts[c], n / 10, "class %d: %lld", c, (long long)counts[c]);

  /* samples: pixels = raw / 255 exactly, in [0, 1]; the label matches */
  const int64_t picks[] = {0, 1, 777, n / 2, n - 1};
  for (size_t k = 0; k < sizeof picks / sizeof picks[0]; k++) {
    int64_t i = picks[k];
    nb_tensor *x, *y;
    nbt_assert_ok(nb_dataset_get(ds, i, &x, &y), "get");
    nbt_assert_shape(x, NB_SHAPE(1, 28, 28), "sample");
    nb_tensor *row = nbk_select(raw, 0, i);
    nb_tensor *want = nbk_div_scalar(row, 255.0);
    nb_tensor *want4 = nbk_unsqueeze(want, 0);
    nbt_assert_close(x, want4, 0, 0, "pixels / 255");
    const float *px = nb_data(x);
    for (int p = 0; p < 784; p++) cr_assert(px[p] >= 0.0f && px[p] <= 1.0f);
    cr_assert_eq((int64_t)nb_item(y), lab[i]);
    nb_free(want4);
    nb_free(want);
    nb_free(row);
    nb_free(x);
    nb_free(y);
  }
  nb_free(mx);
  nb_free(mn);
  nb_free(raw);
  nb_free(labels);
  nb_dataset_free(ds);
}

Test(idx, fashion_mnist_train, .timeout = 60) { check_fashion(true, 60000); }

Test(idx, fashion_mnist_test) { check_fashion(false, 10000); }

Test(idx, fashion_mnist_from_a_directory_and_missing_files) {
  /* a copy of the test files, one of them uncompressed */
  char path[256];
  nb_tensor *labels = nb_idx_load(FASHION "/t10k-labels-idx1-ubyte.gz", NB_DTYPE_INT64);
  cr_assert(labels);
  static unsigned char file[10008];
  unsigned char lab[10000];
  const int64_t *l = nb_data(labels);
  for (int i = 0; i < 10000; i++) lab[i] = (unsigned char)l[i];
  nb_free(labels);
  size_t n = make_idx(file, 0x08, 1, (const uint32_t[]){10000}, lab, 10000);
  write_file("t10k-labels-idx1-ubyte", file, n, false, path, sizeof path);
  /* images missing: NB_ERR_IO naming the file and the package */
  nbt_expect_fail(nb_fashion_mnist(nbt_scratch_dir(), false), NB_ERR_IO, nbt_scratch_dir(),
                  "t10k-images-idx3-ubyte.gz", "apt-get install dataset-fashion-mnist");
  char cmd[512];
  snprintf(cmd, sizeof cmd, "cp " FASHION "/t10k-images-idx3-ubyte.gz '%s'/", nbt_scratch_dir());
  cr_assert_eq(system(cmd), 0);
  nb_dataset *ds = nb_fashion_mnist(nbt_scratch_dir(), false);
  cr_assert(ds, "%s", nb_errmsg());
  cr_assert_eq(nb_dataset_len(ds), 10000);
  nb_dataset_free(ds);
  /* labels that disagree with the images in count */
  n = make_idx(file, 0x08, 1, (const uint32_t[]){9999}, lab, 9999);
  write_file("t10k-labels-idx1-ubyte", file, n, false, path, sizeof path);
  nbt_expect_fail(nb_fashion_mnist(nbt_scratch_dir(), false), NB_ERR_FORMAT,
                  "images [10000, 28, 28] and labels [9999]");
  /* a label out of 0..9 */
  lab[5] = 10;
  n = make_idx(file, 0x08, 1, (const uint32_t[]){10000}, lab, 10000);
  write_file("t10k-labels-idx1-ubyte", file, n, false, path, sizeof path);
  nbt_expect_fail(nb_fashion_mnist(nbt_scratch_dir(), false), NB_ERR_FORMAT,
                  "label 10 of sample 5 is not in 0..9");
  /* labels stored as int32 are not Fashion-MNIST's ubyte */
  unsigned char be[40];
  const int32_t v[10] = {0};
  to_be(be, v, 10, 4);
  n = make_idx(file, 0x0C, 1, (const uint32_t[]){10}, be, 40);
  write_file("t10k-labels-idx1-ubyte", file, n, false, path, sizeof path);
  nbt_expect_fail(nb_fashion_mnist(nbt_scratch_dir(), false), NB_ERR_FORMAT,
                  "element type 0x0c, expected 0x08");
  /* a directory with nothing */
  nbt_expect_fail(nb_fashion_mnist("/nonexistent", true), NB_ERR_IO,
                  "/nonexistent/train-images-idx3-ubyte.gz", "dataset-fashion-mnist");
}
