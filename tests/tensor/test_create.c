/* tests/tensor/test_create.c - tensor creation, accessors, dtypes and conversions.
 *
 * Owns the tests of tensor/create.c (empty/zeros/ones/full/scalar, arange,
 * linspace, eye, from_data, *_like), nb_from_blob and the accessors of
 * tensor/tensor.c, the dtype helpers, and tensor/copy.c (nbk_to between every
 * dtype pair, nb_copy_ with broadcasting, strided and overlapping operands).
 * Golden values: tests/fixtures/create.txt (tools/fixtures/gen_create.py).
 */
#include "support/nbtest.h"
#include "tensor/tensor_impl.h" /* nb__new_view: overlapping views of one storage */

#include <math.h>
#include <stdlib.h>
#include <string.h>

TestSuite(create, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

static const nb_dtype all_dtypes[] = {NB_DTYPE_FLOAT32, NB_DTYPE_FLOAT64, NB_DTYPE_INT64,
                                      NB_DTYPE_BOOL};
#define NDTYPES 4

/* ---- helpers -------------------------------------------------------------------- */

static nb_dtype case_dtype(const nbt_case *c, const char *name) {
  return (nb_dtype)(int)nbt_case_param(c, name);
}

/* Run fn on every case whose name starts with prefix; returns how many ran. */
static int for_cases(const nbt_fixture *f, const char *prefix, void (*fn)(const nbt_case *c)) {
  int n = 0;
  for (int i = 0; i < nbt_fixture_num_cases(f); i++) {
    const nbt_case *c = nbt_fixture_case_index(f, i);
    if (strncmp(nbt_case_name(c), prefix, strlen(prefix)) == 0) {
      fn(c);
      n++;
    }
  }
  return n;
}

/* Element i (row-major over a contiguous tensor) as double. */
static double at(nb_tensor *t, int64_t i) {
  return nb__load(nb_dtype_of(t), (char *)nb_data(t) + (size_t)i * nb_dtype_size(nb_dtype_of(t)));
}

/* ---- dtypes ----------------------------------------------------------------------- */

Test(create, dtype_helpers) {
  static const char *names[] = {"float32", "float64", "int64", "bool"};
  static const size_t sizes[] = {4, 8, 8, 1};
  static const bool floating[] = {true, true, false, false};
  for (int i = 0; i < NDTYPES; i++) {
    cr_assert_str_eq(nb_dtype_name(all_dtypes[i]), names[i]);
    cr_assert_eq(nb_dtype_size(all_dtypes[i]), sizes[i]);
    cr_assert_eq(nb_dtype_is_floating(all_dtypes[i]), floating[i]);
  }
  const nb_dtype bad[] = {NB_DTYPE_COUNT, (nb_dtype)-1, (nb_dtype)99};
  for (int i = 0; i < 3; i++) {
    cr_assert_str_eq(nb_dtype_name(bad[i]), "invalid");
    cr_assert_eq(nb_dtype_size(bad[i]), 0);
    cr_assert(!nb_dtype_is_floating(bad[i]));
  }
}

Test(create, promote_types_table_matches_torch) {
  nbt_fixture *f = nbt_fixture_load("create");
  const nbt_case *c = nbt_fixture_case(f, "promote");
  nb_tensor *table = nbt_case_tensor(c, "table");
  for (int a = 0; a < NDTYPES; a++)
    for (int b = 0; b < NDTYPES; b++) {
      int64_t want = (int64_t)nb_get(table, (int64_t[]){a, b});
      nb_dtype got = nb_promote_types(all_dtypes[a], all_dtypes[b]);
      cr_assert_eq(got, (nb_dtype)want, "promote(%s, %s) = %s, torch says %s",
                   nb_dtype_name(all_dtypes[a]), nb_dtype_name(all_dtypes[b]), nb_dtype_name(got),
                   nb_dtype_name((nb_dtype)want));
    }
  nb_free(table);
  nbt_fixture_free(f);
}

/* ---- shapes and the basic makers ---------------------------------------------------- */

/* Receives NB_SHAPE(...) / NB_SCALAR_SHAPE as the (ndim, shape) argument pair. */
static void grab_shape(int ndim, const int64_t *shape, int *ndim_out, const int64_t **shape_out) {
  *ndim_out = ndim;
  *shape_out = shape;
}

Test(create, shape_macros) {
  int n = -1;
  const int64_t *s = NULL;
  grab_shape(NB_SHAPE(2, 3, 4), &n, &s);
  cr_assert_eq(n, 3);
  cr_assert(s[0] == 2 && s[1] == 3 && s[2] == 4);
  grab_shape(NB_SHAPE(7), &n, &s);
  cr_assert_eq(n, 1);
  cr_assert_eq(s[0], 7);
  grab_shape(NB_SCALAR_SHAPE, &n, &s);
  cr_assert_eq(n, 0);
  cr_assert_null(s);
  nb_tensor *t = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nbt_assert_shape(t, NB_SHAPE(2, 3), "zeros via NB_SHAPE");
  nb_free(t);
}

Test(create, empty_layout_every_dtype) {
  for (int i = 0; i < NDTYPES; i++) {
    nb_tensor *t = nb_empty(all_dtypes[i], NB_SHAPE(2, 3, 4));
    nbt_assert_shape(t, NB_SHAPE(2, 3, 4), nb_dtype_name(all_dtypes[i]));
    cr_assert_eq(nb_dtype_of(t), all_dtypes[i]);
    cr_assert_eq(nb_ndim(t), 3);
    cr_assert_eq(nb_numel(t), 24);
    const int64_t *st = nb_strides(t);
    cr_assert(st[0] == 12 && st[1] == 4 && st[2] == 1);
    cr_assert(nb_is_contiguous(t));
    cr_assert_eq(nb_offset(t), 0);
    cr_assert_eq(nb_version(t), 0);
    cr_assert_eq((uintptr_t)nb_data(t) % 64, 0, "storage is 64-byte aligned");
    nb_free(t);
  }
}

Test(create, zeros_ones_full_scalar_every_dtype) {
  /* torch.full truncates toward zero for int64 and tests != 0 for bool. */
  static const double fill = -2.75;
  static const double want_full[] = {-2.75, -2.75, -2, 1};
  for (int i = 0; i < NDTYPES; i++) {
    nb_dtype dt = all_dtypes[i];
    nb_tensor *z = nb_zeros(dt, NB_SHAPE(3, 5));
    nb_tensor *o = nb_ones(dt, NB_SHAPE(3, 5));
    nb_tensor *f = nb_full(dt, NB_SHAPE(3, 5), fill);
    nb_tensor *s = nb_scalar(dt, fill);
    double zv[15], ov[15], fv[15];
    for (int k = 0; k < 15; k++) {
      zv[k] = 0;
      ov[k] = 1;
      fv[k] = want_full[i];
    }
    nbt_assert_values(z, zv, 15, 0, 0, "zeros");
    nbt_assert_values(o, ov, 15, 0, 0, "ones");
    nbt_assert_values(f, fv, 15, 0, 0, "full");
    nbt_assert_shape(s, NB_SCALAR_SHAPE, "scalar");
    cr_assert_eq(nb_dtype_of(z), dt);
    cr_assert_eq(nb_dtype_of(s), dt);
    cr_assert_eq(nb_numel(s), 1);
    cr_assert(nb_is_contiguous(s));
    cr_assert_float_eq(nb_item(s), want_full[i], 0.0);
    cr_assert_eq(nb_version(f), 0, "a fresh tensor starts at version 0");
    nb_free(z);
    nb_free(o);
    nb_free(f);
    nb_free(s);
  }
  nb_tensor *big = nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(2), 1e30);
  nbt_assert_values(big, ((double[]){1e30, 1e30}), 2, NBT_F32_RTOL, 0, "float32 1e30");
  nb_free(big);
}

Test(create, zero_dim_tensors) {
  for (int i = 0; i < NDTYPES; i++) {
    nb_tensor *t = nb_zeros(all_dtypes[i], NB_SCALAR_SHAPE);
    nbt_assert_shape(t, NB_SCALAR_SHAPE, "0-d zeros");
    cr_assert_eq(nb_numel(t), 1);
    cr_assert_float_eq(nb_item(t), 0.0, 0.0);
    cr_assert_float_eq(nb_get(t, NULL), 0.0, 0.0, "a 0-d tensor takes an empty index");
    double out = -1;
    nbt_assert_ok(nb_copy_out(t, NB_DTYPE_FLOAT64, &out, 1), "copy_out 0-d");
    cr_assert_float_eq(out, 0.0, 0.0);
    nb_free(t);
  }
  nb_tensor *s = nb_scalar(NB_DTYPE_FLOAT64, 3.25);
  nb_tensor *o = nb_ones_like(s, NB_DTYPE_COUNT);
  nbt_assert_shape(o, NB_SCALAR_SHAPE, "ones_like 0-d");
  cr_assert_float_eq(nb_item(o), 1.0, 0.0);
  nb_free(o);
  nb_free(s);
}

Test(create, empty_tensors_with_a_zero_dim) {
  for (int i = 0; i < NDTYPES; i++) {
    nb_tensor *t = nb_zeros(all_dtypes[i], NB_SHAPE(2, 0, 3));
    nbt_assert_shape(t, NB_SHAPE(2, 0, 3), "zeros [2, 0, 3]");
    cr_assert_eq(nb_numel(t), 0);
    cr_assert(nb_is_contiguous(t));
    const int64_t *st = nb_strides(t); /* torch.empty(2, 0, 3).stride() == (3, 3, 1) */
    cr_assert(st[0] == 3 && st[1] == 3 && st[2] == 1, "strides (%lld, %lld, %lld)",
              (long long)st[0], (long long)st[1], (long long)st[2]);
    nbt_assert_ok(nb_copy_out(t, NB_DTYPE_FLOAT64, NULL, 0), "copy_out of nothing");
    nb_tensor *f = nb_full(all_dtypes[i], NB_SHAPE(0), 5.0);
    nbt_assert_shape(f, NB_SHAPE(0), "full [0]");
    nb_tensor *l = nb_ones_like(t, NB_DTYPE_COUNT);
    nbt_assert_shape(l, NB_SHAPE(2, 0, 3), "ones_like");
    nb_tensor *c = nbk_to(t, all_dtypes[(i + 1) % NDTYPES]);
    nbt_assert_shape(c, NB_SHAPE(2, 0, 3), "to");
    nb_free(c);
    nb_free(l);
    nb_free(f);
    nb_free(t);
  }
  nb_tensor *e = nb_from_data(NB_DTYPE_INT64, NULL, NB_SHAPE(0, 4));
  nbt_assert_shape(e, NB_SHAPE(0, 4), "from_data of nothing may pass NULL");
  nb_free(e);
}

/* ---- arange / linspace / eye against torch ----------------------------------------------- */

static void check_arange(const nbt_case *c) {
  nb_dtype dt = case_dtype(c, "dtype");
  nb_tensor *y = nb_arange(dt, nbt_case_param(c, "start"), nbt_case_param(c, "end"),
                           nbt_case_param(c, "step"));
  /* torch computes start + i * step in double (int64: in int64) and rounds
   * once: the values must match exactly, as must the length. */
  nbt_case_check(c, "out", y, 0, 0);
  nb_free(y);
}

Test(create, arange_matches_torch) {
  nbt_fixture *f = nbt_fixture_load("create");
  cr_assert_geq(for_cases(f, "arange_", check_arange), 14);
  nbt_fixture_free(f);
}

static void check_linspace(const nbt_case *c) {
  nb_dtype dt = case_dtype(c, "dtype");
  double start = nbt_case_param(c, "start"), end = nbt_case_param(c, "end");
  int64_t steps = (int64_t)nbt_case_param(c, "steps");
  nb_tensor *y = nb_linspace(dt, start, end, steps);
  /* float32: torch computes in float, nabla in double, so allow rounding. */
  nbt_case_check(c, "out", y, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT);
  nb_tensor *want = nbt_case_tensor(c, "out");
  if (steps > 0) { /* endpoints are exact, as in torch */
    cr_assert_float_eq(at(y, 0), at(want, 0), 0.0, "%s: first", nbt_case_name(c));
    cr_assert_float_eq(at(y, steps - 1), at(want, steps - 1), 0.0, "%s: last", nbt_case_name(c));
  }
  nb_free(want);
  nb_free(y);
}

Test(create, linspace_matches_torch) {
  nbt_fixture *f = nbt_fixture_load("create");
  cr_assert_geq(for_cases(f, "linspace_", check_linspace), 14);
  nbt_fixture_free(f);
}

static void check_eye(const nbt_case *c) {
  nb_tensor *y = nb_eye(case_dtype(c, "dtype"), (int64_t)nbt_case_param(c, "n"),
                        (int64_t)nbt_case_param(c, "m"));
  nbt_case_check(c, "out", y, 0, 0);
  nb_free(y);
}

Test(create, eye_matches_torch) {
  nbt_fixture *f = nbt_fixture_load("create");
  cr_assert_eq(for_cases(f, "eye_", check_eye), 24);
  nbt_fixture_free(f);
}

Test(create, arange_linspace_eye_errors) {
  nbt_expect_fail(nb_arange(NB_DTYPE_FLOAT32, 0, 1, 0), NB_ERR_ARG, "arange", "step");
  nbt_expect_fail(nb_arange(NB_DTYPE_FLOAT32, 0, 1, -0.5), NB_ERR_ARG, "arange");
  nbt_expect_fail(nb_arange(NB_DTYPE_FLOAT64, 0, INFINITY, 1), NB_ERR_ARG, "arange");
  nbt_expect_fail(nb_arange(NB_DTYPE_FLOAT64, NAN, 1, 1), NB_ERR_ARG, "arange");
  /* int64: torch truncates the step first, so 0.5 is a zero step. */
  nbt_expect_fail(nb_arange(NB_DTYPE_INT64, 0, 3, 0.5), NB_ERR_ARG, "arange", "step");
  nbt_expect_fail(nb_arange(NB_DTYPE_BOOL, 0, 2, 1), NB_ERR_DTYPE, "arange", "bool");
  nbt_expect_fail(nb_arange((nb_dtype)9, 0, 2, 1), NB_ERR_DTYPE, "arange");
  nbt_expect_fail(nb_arange(NB_DTYPE_FLOAT32, 0, 1e300, 1e-300), NB_ERR_MEMORY, "arange");
  nbt_expect_fail(nb_linspace(NB_DTYPE_FLOAT32, 0, 1, -1), NB_ERR_ARG, "linspace", "-1");
  nbt_expect_fail(nb_linspace(NB_DTYPE_BOOL, 0, 1, 3), NB_ERR_DTYPE, "linspace", "bool");
  nbt_expect_fail(nb_eye(NB_DTYPE_FLOAT32, -2, 3), NB_ERR_ARG, "eye", "-2");
  nbt_expect_fail(nb_eye((nb_dtype)-3, 2, 2), NB_ERR_DTYPE, "eye");
}

/* ---- from_data / from_blob -------------------------------------------------------------- */

Test(create, from_data_every_dtype_copies) {
  float f32[6] = {1.5f, -2, 3.25f, 0, -0.5f, 7};
  double f64[6] = {1e-300, -2, 3.25, 0, -0.5, 1e300};
  int64_t i64[6] = {INT64_MIN, -1, 0, 1, ((int64_t)1 << 53) + 1, INT64_MAX};
  uint8_t b[6] = {1, 0, 1, 1, 0, 0};
  void *src[] = {f32, f64, i64, b};
  for (int i = 0; i < NDTYPES; i++) {
    nb_tensor *t = nb_from_data(all_dtypes[i], src[i], NB_SHAPE(2, 3));
    nbt_assert_shape(t, NB_SHAPE(2, 3), nb_dtype_name(all_dtypes[i]));
    size_t bytes = 6 * nb_dtype_size(all_dtypes[i]);
    cr_assert(memcmp(nb_data(t), src[i], bytes) == 0, "bytes copied exactly");
    cr_assert_neq(nb_data(t), src[i], "from_data copies");
    unsigned char saved[48];
    memcpy(saved, src[i], bytes);
    memset(src[i], 0x55, bytes); /* the tensor must not see this */
    cr_assert(memcmp(nb_data(t), saved, bytes) == 0, "tensor independent of the source");
    memcpy(src[i], saved, bytes);
    nb_free(t);
  }
  nb_tensor *t = nb_from_data(NB_DTYPE_INT64, i64, NB_SHAPE(6));
  int64_t back[6];
  nbt_assert_ok(nb_copy_out(t, NB_DTYPE_INT64, back, 6), "copy_out int64");
  cr_assert(memcmp(back, i64, sizeof back) == 0, "int64 extremes survive exactly");
  nb_free(t);
  nbt_expect_fail(nb_from_data(NB_DTYPE_FLOAT32, NULL, NB_SHAPE(2)), NB_ERR_ARG, "from_data",
                  "NULL");
}

typedef struct {
  int calls;
  void *data;
} release_log;

static void on_release(void *data, void *ctx) {
  release_log *log = ctx;
  log->calls++;
  log->data = data;
}

Test(create, from_blob_borrows_and_releases_once) {
  double buf[6] = {0, 1, 2, 3, 4, 5};
  release_log log = {0, NULL};
  nb_tensor *t = nb_from_blob(NB_DTYPE_FLOAT64, buf, NB_SHAPE(2, 3), NULL, on_release, &log);
  nbt_assert_shape(t, NB_SHAPE(2, 3), "from_blob");
  cr_assert_eq(nb_data(t), (void *)buf, "no copy");
  cr_assert(nb_is_contiguous(t));
  /* Writes go both ways. */
  ((double *)nb_data(t))[4] = 40;
  cr_assert_float_eq(buf[4], 40.0, 0.0);
  buf[1] = -1;
  cr_assert_float_eq(nb_get(t, (int64_t[]){0, 1}), -1.0, 0.0);
  nbt_assert_ok(nb_fill_(t, 9), "fill_ through the tensor");
  for (int i = 0; i < 6; i++) cr_assert_float_eq(buf[i], 9.0, 0.0);
  /* Two more views of the same storage: release waits for the last one. */
  nb_tensor *v1 = nbk_to(t, NB_DTYPE_FLOAT64); /* same dtype: a view */
  nb_tensor *v2 = nbk_contiguous(t);           /* contiguous: a view */
  cr_assert(nb_shares_storage(v1, t) && nb_shares_storage(v2, t));
  nb_free(t);
  cr_assert_eq(log.calls, 0);
  nb_free(v2);
  cr_assert_eq(log.calls, 0);
  nb_free(v1);
  cr_assert_eq(log.calls, 1, "release runs exactly once, when the last view dies");
  cr_assert_eq(log.data, (void *)buf);
  /* NULL release is allowed. */
  nb_tensor *u = nb_from_blob(NB_DTYPE_FLOAT64, buf, NB_SHAPE(6), NULL, NULL, NULL);
  cr_assert_not_null(u);
  nb_free(u);
  cr_assert_eq(log.calls, 1);
}

Test(create, from_blob_released_by_scope_end) {
  int64_t buf[3] = {1, 2, 3};
  release_log log = {0, NULL};
  nb_scope_begin();
  nb_tensor *t = nb_from_blob(NB_DTYPE_INT64, buf, NB_SHAPE(3), NULL, on_release, &log);
  cr_assert_not_null(t);
  nbt_assert_ok(nb_scope_end(), "scope_end");
  cr_assert_eq(log.calls, 1);
}

Test(create, from_blob_strides_make_a_non_contiguous_tensor) {
  /* A 3x4 row-major buffer seen as its 4x3 transpose. */
  float buf[12];
  for (int i = 0; i < 12; i++) buf[i] = (float)i;
  nb_tensor *t = nb_from_blob(NB_DTYPE_FLOAT32, buf, NB_SHAPE(4, 3), (int64_t[]){1, 4}, NULL, NULL);
  nbt_assert_shape(t, NB_SHAPE(4, 3), "transposed blob");
  cr_assert(!nb_is_contiguous(t));
  cr_assert_eq(nb_stride(t, 0), 1);
  cr_assert_eq(nb_stride(t, -1), 4);
  cr_assert_float_eq(nb_get(t, (int64_t[]){2, 1}), 6.0, 0.0); /* buf[2 + 4] */
  const double want[12] = {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11};
  nbt_assert_values(t, want, 12, 0, 0, "logical order through copy_out");
  nb_tensor *c = nbk_clone(t);
  cr_assert(nb_is_contiguous(c));
  cr_assert(!nb_shares_storage(c, t));
  nbt_assert_values(c, want, 12, 0, 0, "clone");
  nb_tensor *cc = nbk_contiguous(t);
  cr_assert(nb_is_contiguous(cc) && !nb_shares_storage(cc, t), "contiguous copies a strided t");
  nbt_assert_values(cc, want, 12, 0, 0, "contiguous");
  /* A stepped view (every other row of 3x4) with a gap. */
  nb_tensor *s = nb_from_blob(NB_DTYPE_FLOAT32, buf, NB_SHAPE(2, 4), (int64_t[]){8, 1}, NULL, NULL);
  cr_assert(!nb_is_contiguous(s));
  nbt_assert_values(s, ((double[]){0, 1, 2, 3, 8, 9, 10, 11}), 8, 0, 0, "stepped rows");
  /* Size-1 dims' strides do not matter for contiguity, as in torch. */
  nb_tensor *one =
      nb_from_blob(NB_DTYPE_FLOAT32, buf, NB_SHAPE(1, 4), (int64_t[]){100, 1}, NULL, NULL);
  cr_assert(nb_is_contiguous(one));
  nb_free(one);
  nb_free(s);
  nb_free(cc);
  nb_free(c);
  nb_free(t);
}

Test(create, from_blob_errors) {
  float buf[4] = {0};
  nbt_expect_fail(
      nb_from_blob(NB_DTYPE_FLOAT32, buf, NB_SHAPE(2, 2), (int64_t[]){-1, 1}, NULL, NULL),
      NB_ERR_ARG, "from_blob", "stride");
  nbt_expect_fail(nb_from_blob(NB_DTYPE_FLOAT32, NULL, NB_SHAPE(2), NULL, NULL, NULL), NB_ERR_ARG,
                  "from_blob", "NULL");
  nbt_expect_fail(nb_from_blob((nb_dtype)4, buf, NB_SHAPE(2), NULL, NULL, NULL), NB_ERR_DTYPE,
                  "from_blob");
  nbt_expect_fail(nb_from_blob(NB_DTYPE_FLOAT32, buf, 9, (int64_t[9]){1}, NULL, NULL, NULL),
                  NB_ERR_SHAPE, "from_blob");
  /* Strides whose span does not fit 64 bits. */
  nbt_expect_fail(nb_from_blob(NB_DTYPE_FLOAT32, buf, NB_SHAPE(1 << 20, 1 << 20),
                               (int64_t[]){(int64_t)1 << 50, 1}, NULL, NULL),
                  NB_ERR_MEMORY, "from_blob");
  nb_tensor *e = nb_from_blob(NB_DTYPE_FLOAT32, NULL, NB_SHAPE(3, 0), NULL, NULL, NULL);
  nbt_assert_shape(e, NB_SHAPE(3, 0), "an empty blob may be NULL");
  nb_free(e);
}

/* ---- *_like ----------------------------------------------------------------------------- */

Test(create, like_functions_keep_shape_and_pick_dtype) {
  float buf[6] = {1, 2, 3, 4, 5, 6};
  /* A non-contiguous source: the results are still contiguous. */
  nb_tensor *src =
      nb_from_blob(NB_DTYPE_FLOAT32, buf, NB_SHAPE(3, 2), (int64_t[]){1, 3}, NULL, NULL);
  for (int i = 0; i <= NDTYPES; i++) {
    nb_dtype want = i < NDTYPES ? all_dtypes[i] : NB_DTYPE_FLOAT32;
    nb_dtype arg = i < NDTYPES ? all_dtypes[i] : NB_DTYPE_COUNT; /* COUNT keeps src's */
    nb_tensor *ts[] = {nb_empty_like(src, arg), nb_zeros_like(src, arg), nb_ones_like(src, arg),
                       nb_full_like(src, arg, 3.0)};
    const double vals[] = {NAN, 0, 1, 3};
    for (int k = 0; k < 4; k++) {
      nbt_assert_shape(ts[k], NB_SHAPE(3, 2), "like");
      cr_assert_eq(nb_dtype_of(ts[k]), want);
      cr_assert(nb_is_contiguous(ts[k]));
      cr_assert(!nb_shares_storage(ts[k], src));
      if (k > 0) {
        double w = want == NB_DTYPE_BOOL && vals[k] != 0 ? 1 : vals[k];
        double all[6] = {w, w, w, w, w, w};
        nbt_assert_values(ts[k], all, 6, 0, 0, "like values");
      }
    }
    for (int k = 0; k < 4; k++) nb_free(ts[k]);
  }
  nb_tensor *r = nb_rand_like(src, NULL);
  nbt_assert_shape(r, NB_SHAPE(3, 2), "rand_like");
  cr_assert_eq(nb_dtype_of(r), NB_DTYPE_FLOAT32);
  nb_tensor *rn = nb_randn_like(src, NULL);
  nbt_assert_shape(rn, NB_SHAPE(3, 2), "randn_like");
  nb_free(rn);
  nb_free(r);
  nbt_expect_fail(nb_zeros_like(src, (nb_dtype)17), NB_ERR_DTYPE, "zeros_like");
  nb_free(src);
}

/* ---- accessors -------------------------------------------------------------------------- */

Test(create, size_and_stride_accessors) {
  nb_tensor *t = nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(2, 3, 4));
  const int64_t sizes[] = {2, 3, 4}, strides[] = {12, 4, 1};
  for (int d = 0; d < 3; d++) {
    cr_assert_eq(nb_size(t, d), sizes[d]);
    cr_assert_eq(nb_size(t, d - 3), sizes[d], "negative dim %d", d - 3);
    cr_assert_eq(nb_stride(t, d), strides[d]);
    cr_assert_eq(nb_stride(t, d - 3), strides[d]);
  }
  const int bad_dims[] = {3, -4, 100, -100};
  for (int i = 0; i < 4; i++) {
    nb_clear_error();
    cr_assert_eq(nb_size(t, bad_dims[i]), -1);
    nbt_expect_error(NB_ERR_INDEX, "size", "out of range");
    nb_clear_error();
    cr_assert_eq(nb_stride(t, bad_dims[i]), -1);
    nbt_expect_error(NB_ERR_INDEX, "stride", "out of range");
  }
  cr_assert_eq(nb_numel(t), 24);
  /* A 0-d tensor has no dims at all (torch: "tensor has no dimensions"). */
  nb_tensor *s = nb_scalar(NB_DTYPE_FLOAT32, 1);
  nb_clear_error();
  cr_assert_eq(nb_size(s, 0), -1);
  nbt_expect_error(NB_ERR_INDEX, "size");
  nb_clear_error();
  cr_assert_eq(nb_stride(s, -1), -1);
  nbt_expect_error(NB_ERR_INDEX, "stride");
  /* NULL tensors. */
  nb_clear_error();
  cr_assert_eq(nb_size(NULL, 0), -1);
  nbt_expect_error(NB_ERR_NULL, "size");
  cr_assert_eq(nb_numel(NULL), -1);
  cr_assert_eq(nb_ndim(NULL), -1);
  cr_assert_null(nb_shape(NULL));
  cr_assert_null(nb_data(NULL));
  cr_assert(!nb_is_contiguous(NULL));
  cr_assert_eq(nb_dtype_of(NULL), NB_DTYPE_COUNT);
  nb_free(s);
  nb_free(t);
}

Test(create, item_and_get) {
  nb_tensor *one = nb_full(NB_DTYPE_INT64, NB_SHAPE(1, 1, 1), -7);
  cr_assert_float_eq(nb_item(one), -7.0, 0.0, "item of a [1, 1, 1] tensor");
  nb_free(one);
  nb_tensor *t = nb_arange(NB_DTYPE_FLOAT32, 0, 6, 1);
  nb_tensor *m = nb_from_blob(NB_DTYPE_FLOAT32, nb_data(t), NB_SHAPE(2, 3), NULL, NULL, NULL);
  nb_clear_error();
  cr_assert(isnan(nb_item(m)));
  nbt_expect_error(NB_ERR_SHAPE, "item", "[2, 3]", "6 elements");
  nb_tensor *e = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0));
  nb_clear_error();
  cr_assert(isnan(nb_item(e)));
  nbt_expect_error(NB_ERR_SHAPE, "item", "[0]");
  nb_free(e);
  cr_assert_float_eq(nb_get(m, (int64_t[]){1, 2}), 5.0, 0.0);
  cr_assert_float_eq(nb_get(m, (int64_t[]){0, 0}), 0.0, 0.0);
  nb_clear_error();
  cr_assert(isnan(nb_get(m, (int64_t[]){2, 0})));
  nbt_expect_error(NB_ERR_INDEX, "get", "[2, 3]");
  nb_clear_error();
  cr_assert(isnan(nb_get(m, (int64_t[]){0, -1})));
  nbt_expect_error(NB_ERR_INDEX, "get");
  nb_clear_error();
  cr_assert(isnan(nb_get(m, NULL)));
  nbt_expect_error(NB_ERR_INDEX, "get");
  nb_clear_error();
  cr_assert(isnan(nb_item(NULL)));
  nbt_expect_error(NB_ERR_NULL, "item");
  nb_free(m);
  nb_free(t);
}

Test(create, copy_out_converts_and_checks_count) {
  double vals[6] = {-1.5, 0, 2.7, 1e-9, -3, 100.5};
  nb_tensor *t = nb_from_data(NB_DTYPE_FLOAT64, vals, NB_SHAPE(2, 3));
  int64_t ints[6];
  nbt_assert_ok(nb_copy_out(t, NB_DTYPE_INT64, ints, 6), "to int64");
  const int64_t want_i[6] = {-1, 0, 2, 0, -3, 100};
  cr_assert(memcmp(ints, want_i, sizeof ints) == 0);
  uint8_t bools[6];
  nbt_assert_ok(nb_copy_out(t, NB_DTYPE_BOOL, bools, 6), "to bool");
  const uint8_t want_b[6] = {1, 0, 1, 1, 1, 1};
  cr_assert(memcmp(bools, want_b, sizeof bools) == 0);
  float fl[6];
  nbt_assert_ok(nb_copy_out(t, NB_DTYPE_FLOAT32, fl, 6), "to float32");
  for (int i = 0; i < 6; i++) cr_assert_float_eq(fl[i], (float)vals[i], 0.0);
  /* The source layout is honoured: a transposed blob comes out in logical order. */
  nb_tensor *tt =
      nb_from_blob(NB_DTYPE_FLOAT64, vals, NB_SHAPE(3, 2), (int64_t[]){1, 3}, NULL, NULL);
  double out[6];
  nbt_assert_ok(nb_copy_out(tt, NB_DTYPE_FLOAT64, out, 6), "strided");
  const double want_t[6] = {-1.5, 1e-9, 0, -3, 2.7, 100.5};
  for (int i = 0; i < 6; i++) cr_assert_float_eq(out[i], want_t[i], 0.0);
  cr_assert_eq(nb_version(t), 0, "copy_out does not write the source");
  nb_clear_error();
  nbt_expect_status(nb_copy_out(t, NB_DTYPE_FLOAT64, out, 5), NB_ERR_ARG, "copy_out", "5",
                    "[2, 3]");
  cr_assert_eq(nb_copy_out(t, NB_DTYPE_FLOAT64, NULL, 6), NB_ERR_ARG);
  cr_assert_eq(nb_copy_out(t, (nb_dtype)8, out, 6), NB_ERR_DTYPE);
  nb_clear_error();
  cr_assert_eq(nb_copy_out(NULL, NB_DTYPE_FLOAT64, out, 6), NB_ERR_NULL);
  nb_free(tt);
  nb_free(t);
}

Test(create, view_of_describes_memory) {
  int64_t buf[12];
  for (int i = 0; i < 12; i++) buf[i] = i;
  nb_tensor *t = nb_from_blob(NB_DTYPE_INT64, buf, NB_SHAPE(2, 3), (int64_t[]){6, 2}, NULL, NULL);
  nb_view v;
  nbt_assert_ok(nb_view_of(t, &v), "view_of");
  cr_assert_eq(v.data, (void *)buf);
  cr_assert_eq(v.data, nb_data(t));
  cr_assert_eq(v.dtype, NB_DTYPE_INT64);
  cr_assert_eq(v.ndim, 2);
  cr_assert(v.shape[0] == 2 && v.shape[1] == 3);
  cr_assert(v.strides[0] == 6 && v.strides[1] == 2);
  cr_assert_eq(v.numel, 6);
  /* A user kernel reading through the view. */
  int64_t sum = 0;
  for (int64_t i = 0; i < v.shape[0]; i++)
    for (int64_t j = 0; j < v.shape[1]; j++)
      sum += ((int64_t *)v.data)[i * v.strides[0] + j * v.strides[1]];
  cr_assert_eq(sum, 0 + 2 + 4 + 6 + 8 + 10);
  /* A view with an offset into its storage. */
  nb_tensor *off = nb__new_view(t, 1, (int64_t[]){3}, (int64_t[]){1}, 7);
  nbt_assert_ok(nb_view_of(off, &v), "view_of offset");
  cr_assert_eq(v.data, (void *)(buf + 7));
  cr_assert_eq(nb_offset(off), 7);
  nb_clear_error();
  nbt_expect_status(nb_view_of(t, NULL), NB_ERR_ARG, "view_of");
  nb_clear_error();
  cr_assert_eq(nb_view_of(NULL, &v), NB_ERR_NULL);
  nb_free(off);
  nb_free(t);
}

/* ---- conversions -------------------------------------------------------------------------- */

static void check_to(const nbt_case *c) {
  nb_dtype src = case_dtype(c, "src"), dst = case_dtype(c, "dst");
  nb_tensor *x = nbt_case_tensor(c, "x");
  cr_assert_eq(nb_dtype_of(x), src);
  int64_t n = nb_numel(x);
  size_t es = nb_dtype_size(src), ed = nb_dtype_size(dst);
  /* Contiguous: nbk_to, nb_copy_ into a fresh tensor, nb_copy_out. */
  nb_tensor *y = nbk_to(x, dst);
  nbt_case_check(c, "out", y, 0, 0);
  cr_assert_eq(nb_shares_storage(x, y), src == dst, "%s: a view iff same dtype", nbt_case_name(c));
  nb_tensor *z = nb_empty(dst, NB_SHAPE(n));
  nbt_assert_ok(nb_copy_(z, x), "copy_");
  nbt_case_check(c, "out", z, 0, 0);
  unsigned char *raw = malloc((size_t)n * ed);
  nbt_assert_ok(nb_copy_out(x, dst, raw, n), "copy_out");
  cr_assert(memcmp(raw, nb_data(y), (size_t)n * ed) == 0, "%s: copy_out bytes", nbt_case_name(c));
  /* Strided source (every other element of a blob): the general loop. */
  unsigned char *wide = calloc((size_t)(2 * n), es);
  for (int64_t i = 0; i < n; i++)
    memcpy(wide + (size_t)(2 * i) * es, (char *)nb_data(x) + (size_t)i * es, es);
  nb_tensor *xs = nb_from_blob(src, wide, NB_SHAPE(n), (int64_t[]){2}, NULL, NULL);
  nb_tensor *ys = nbk_to(xs, dst);
  nbt_case_check(c, "out", ys, 0, 0);
  nb_free(ys);
  nb_free(xs);
  free(wide);
  free(raw);
  nb_free(z);
  nb_free(y);
  nb_free(x);
}

Test(create, to_every_dtype_pair_matches_torch) {
  nbt_fixture *f = nbt_fixture_load("create");
  cr_assert_eq(for_cases(f, "to_", check_to), 16);
  nbt_fixture_free(f);
}

Test(create, float_to_int64_out_of_range_saturates) {
  /* torch leaves these undefined (INT64_MIN on x86); nabla saturates and maps
   * NaN to 0 so there is no undefined behaviour. */
  double v[5] = {1e30, -1e30, NAN, INFINITY, -INFINITY};
  nb_tensor *x = nb_from_data(NB_DTYPE_FLOAT64, v, NB_SHAPE(5));
  nb_tensor *y = nbk_to(x, NB_DTYPE_INT64);
  int64_t out[5];
  nbt_assert_ok(nb_copy_out(y, NB_DTYPE_INT64, out, 5), "copy_out");
  cr_assert(out[0] == INT64_MAX && out[1] == INT64_MIN && out[2] == 0 && out[3] == INT64_MAX &&
            out[4] == INT64_MIN);
  nb_free(y);
  nb_free(x);
}

Test(create, to_errors) {
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  nbt_expect_fail(nbk_to(x, NB_DTYPE_COUNT), NB_ERR_DTYPE, "to", "dtype");
  nbt_expect_fail(nbk_to(x, (nb_dtype)-1), NB_ERR_DTYPE, "to");
  nbt_expect_fail(nbk_to(NULL, NB_DTYPE_FLOAT64), NB_ERR_NULL, "to");
  nb_free(x);
}

/* ---- nb_copy_ ----------------------------------------------------------------------------- */

Test(create, copy_broadcasts_into_a_strided_blob) {
  /* dst: a 2x3 column-major view with gaps in a 16-element buffer. */
  double buf[16];
  for (int i = 0; i < 16; i++) buf[i] = -100 - i;
  nb_tensor *dst =
      nb_from_blob(NB_DTYPE_FLOAT64, buf, NB_SHAPE(2, 3), (int64_t[]){2, 5}, NULL, NULL);
  nb_tensor *src = nb_from_data(NB_DTYPE_INT64, (int64_t[]){7, 8, 9}, NB_SHAPE(3));
  uint64_t v0 = nb_version(dst);
  nbt_assert_ok(nb_copy_(dst, src), "copy_ [3] -> [2, 3]");
  cr_assert_gt(nb_version(dst), v0, "copy_ bumps the version");
  /* dst[i][j] lives at buf[2 i + 5 j]. */
  const int where[6] = {0, 5, 10, 2, 7, 12};
  const double want[6] = {7, 8, 9, 7, 8, 9};
  for (int k = 0; k < 6; k++) cr_assert_float_eq(buf[where[k]], want[k], 0.0, "buf[%d]", where[k]);
  for (int i = 0; i < 16; i++) {
    bool written = false;
    for (int k = 0; k < 6; k++) written |= where[k] == i;
    if (!written) cr_assert_float_eq(buf[i], -100.0 - i, 0.0, "gap buf[%d] untouched", i);
  }
  /* A [2, 1] column broadcast along dim 1, and a 0-d value everywhere. */
  nb_tensor *col = nb_from_data(NB_DTYPE_FLOAT32, (float[]){0.5f, -2}, NB_SHAPE(2, 1));
  uint64_t v1 = nb_version(dst);
  nbt_assert_ok(nb_copy_(dst, col), "copy_ [2, 1] -> [2, 3]");
  cr_assert_gt(nb_version(dst), v1);
  nbt_assert_values(dst, ((double[]){0.5, 0.5, 0.5, -2, -2, -2}), 6, 0, 0, "column broadcast");
  nb_tensor *s = nb_scalar(NB_DTYPE_BOOL, 1);
  nbt_assert_ok(nb_copy_(dst, s), "copy_ 0-d");
  nbt_assert_values(dst, ((double[]){1, 1, 1, 1, 1, 1}), 6, 0, 0, "0-d broadcast");
  nb_free(s);
  nb_free(col);
  nb_free(src);
  nb_free(dst);
}

Test(create, copy_errors) {
  nb_tensor *a = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *b = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(4));
  nb_tensor *c = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 2, 3));
  nb_clear_error();
  uint64_t v0 = nb_version(a);
  nbt_expect_status(nb_copy_(a, b), NB_ERR_SHAPE, "copy_", "[4]", "[2, 3]");
  cr_assert_eq(nb_version(a), v0, "a rejected copy_ does not bump the version");
  nb_tensor *a2 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nbt_assert_ok(nb_copy_(a, a2), "same dtype and layout (the memcpy path)");
  cr_assert_gt(nb_version(a), v0, "the memcpy path bumps the version too");
  nb_free(a2);
  nb_clear_error();
  cr_assert_eq(nb_copy_(a, c), NB_ERR_SHAPE, "src cannot have more dims than dst");
  nbt_expect_error(NB_ERR_SHAPE, "copy_");
  nb_clear_error();
  cr_assert_eq(nb_copy_(a, NULL), NB_ERR_NULL);
  cr_assert_eq(nb_copy_(NULL, a), NB_ERR_NULL);
  /* Empty tensors: fine when shapes broadcast, an error when not. */
  nb_tensor *e = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 0));
  nb_tensor *e1 = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(0));
  nbt_assert_ok(nb_copy_(e, e1), "copy_ [0] -> [2, 0]");
  nb_clear_error();
  cr_assert_eq(nb_copy_(e, b), NB_ERR_SHAPE);
  nb_free(e1);
  nb_free(e);
  nb_free(c);
  nb_free(b);
  nb_free(a);
}

Test(create, copy_between_overlapping_views) {
  /* Storage 0..9; dst = [1:9], src = [0:8]: copy_ must read the old values
   * (a forward element loop would smear element 0 along the row). */
  for (int dir = 0; dir < 2; dir++) {
    nb_tensor *base = nb_arange(NB_DTYPE_FLOAT64, 0, 10, 1);
    nb_tensor *lo = nb__new_view(base, 1, (int64_t[]){8}, (int64_t[]){1}, 0);
    nb_tensor *hi = nb__new_view(base, 1, (int64_t[]){8}, (int64_t[]){1}, 1);
    nb_tensor *dst = dir ? lo : hi, *src = dir ? hi : lo;
    nbt_assert_ok(nb_copy_(dst, src), "overlapping copy_");
    const double up[10] = {0, 0, 1, 2, 3, 4, 5, 6, 7, 9};
    const double down[10] = {1, 2, 3, 4, 5, 6, 7, 8, 8, 9};
    nbt_assert_values(base, dir ? down : up, 10, 0, 0, "after overlapping copy");
    nb_free(hi);
    nb_free(lo);
    nb_free(base);
  }
  /* A square matrix overwritten by its own transpose (same storage). */
  nb_tensor *m = nb_arange(NB_DTYPE_INT64, 0, 9, 1);
  nb_tensor *m2 = nb__new_view(m, 2, (int64_t[]){3, 3}, (int64_t[]){3, 1}, 0);
  nb_tensor *mt = nb__new_view(m, 2, (int64_t[]){3, 3}, (int64_t[]){1, 3}, 0);
  nbt_assert_ok(nb_copy_(m2, mt), "copy_ from own transpose");
  nbt_assert_values(m, ((double[]){0, 3, 6, 1, 4, 7, 2, 5, 8}), 9, 0, 0, "transposed in place");
  /* Copying a tensor onto itself changes nothing. */
  nbt_assert_ok(nb_copy_(m2, m2), "self copy");
  nbt_assert_values(m, ((double[]){0, 3, 6, 1, 4, 7, 2, 5, 8}), 9, 0, 0, "self copy");
  nb_free(mt);
  nb_free(m2);
  nb_free(m);
}

Test(create, large_copies_identical_with_1_and_2_threads) {
  /* 300 x 200 = 60000 elements: above NB_PARALLEL_GRAIN, so the iterator
   * splits the work. dst is column-major (strided), src broadcasts a row. */
  const int64_t R = 300, C = 200, N = R * C;
  int saved = nb_get_num_threads();
  double *row = malloc(sizeof(double) * (size_t)C);
  for (int64_t j = 0; j < C; j++) row[j] = 0.1 * (double)j - 3;
  nb_tensor *src = nb_from_data(NB_DTYPE_FLOAT64, row, NB_SHAPE(C));
  nb_tensor *big = nb_arange(NB_DTYPE_FLOAT64, -0.5, (double)N - 0.5, 1);
  float *bcast[2], *conv[2];
  float *want_b = malloc(sizeof(float) * (size_t)N), *want_c = malloc(sizeof(float) * (size_t)N);
  for (int th = 1; th <= 2; th++) {
    nbt_assert_ok(nb_set_num_threads(th), "set threads");
    float *b = bcast[th - 1] = malloc(sizeof(float) * (size_t)N);
    float *c = conv[th - 1] = malloc(sizeof(float) * (size_t)N);
    nb_tensor *dst =
        nb_from_blob(NB_DTYPE_FLOAT32, b, NB_SHAPE(R, C), (int64_t[]){1, R}, NULL, NULL);
    nbt_assert_ok(nb_copy_(dst, src), "broadcast copy");
    /* dst[i][j] lives at b[i + j R]; compare bitwise with one rounding of row[j]. */
    for (int64_t i = 0; i < R; i++)
      for (int64_t j = 0; j < C; j++) want_b[i + j * R] = (float)row[j];
    cr_assert(memcmp(b, want_b, sizeof(float) * (size_t)N) == 0, "%d threads: broadcast", th);
    nb_tensor *y = nbk_to(big, NB_DTYPE_INT64); /* -0.5 + k truncates toward zero */
    nb_tensor *y32 = nbk_to(y, NB_DTYPE_FLOAT32);
    nbt_assert_ok(nb_copy_out(y32, NB_DTYPE_FLOAT32, c, N), "copy_out");
    for (int64_t k = 0; k < N; k++) want_c[k] = (float)(k == 0 ? 0 : k - 1);
    cr_assert(memcmp(c, want_c, sizeof(float) * (size_t)N) == 0, "%d threads: conversion", th);
    nb_free(y32);
    nb_free(y);
    nb_free(dst);
  }
  cr_assert(memcmp(bcast[0], bcast[1], sizeof(float) * (size_t)N) == 0,
            "broadcast copy bitwise identical with 1 and 2 threads");
  cr_assert(memcmp(conv[0], conv[1], sizeof(float) * (size_t)N) == 0,
            "conversion bitwise identical with 1 and 2 threads");
  for (int i = 0; i < 2; i++) {
    free(bcast[i]);
    free(conv[i]);
  }
  free(want_b);
  free(want_c);
  nb_set_num_threads(saved);
  nb_free(big);
  nb_free(src);
  free(row);
}
