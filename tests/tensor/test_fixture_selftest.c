/* tests/tensor/test_fixture_selftest.c - tests of the test framework itself.
 *
 * Owns: checks that tests/support/fixture.c reads tests/fixtures/example.txt
 * (made by tools/fixtures/gen_example.py) exactly as PyTorch wrote it, that
 * malformed fixture text is rejected with file:line, and that the comparison
 * helpers accept and reject what they should. Uses only creation, shape and
 * copy-out functions of tensor/tensor.h.
 */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "support/nbtest.h"

TestSuite(fixture_selftest, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

/* dtype, ndim and sizes of t. */
static void check_meta(nb_tensor *t, nb_dtype dtype, int ndim, const int64_t *shape) {
  cr_assert_not_null(t);
  cr_assert_eq(nb_dtype_of(t), dtype, "dtype %s, expected %s", nb_dtype_name(nb_dtype_of(t)),
               nb_dtype_name(dtype));
  nbt_assert_shape(t, ndim, shape, "fixture tensor");
}

/* a and e equal, NaN equal to NaN, infinities equal to themselves. */
static bool same_or_both_nan(double a, double e) {
  if (isnan(a) || isnan(e)) return isnan(a) && isnan(e);
  if (isinf(a) || isinf(e)) return a == e;
  return fabs(a - e) <= 1e-12 * (1 + fabs(e));
}

Test(fixture_selftest, example_cases_in_order) {
  nbt_fixture *f = nbt_fixture_load("example");
  cr_assert_eq(nbt_fixture_num_cases(f), 2);
  cr_assert_str_eq(nbt_case_name(nbt_fixture_case_index(f, 0)), "add_broadcast");
  cr_assert_str_eq(nbt_case_name(nbt_fixture_case_index(f, 1)), "sum_dim0");
  cr_assert_null(nbt_fixture_case_index(f, 2));
  cr_assert_null(nbt_fixture_case_index(f, -1));
  const nbt_case *c = nbt_fixture_case(f, "sum_dim0");
  cr_assert_eq(c, nbt_fixture_case_index(f, 1));
  cr_assert(strncmp(nbt_case_where(c), "example.txt:", 12) == 0, "where: %s", nbt_case_where(c));
  cr_assert(nbt_case_has_tensor(c, "x"));
  cr_assert_not(nbt_case_has_tensor(c, "nope"));
  cr_assert(nbt_case_has_param(c, "dims"));
  cr_assert_not(nbt_case_has_param(c, "x"));
  nbt_fixture_free(f);
}

Test(fixture_selftest, example_add_broadcast) {
  nbt_fixture *f = nbt_fixture_load("example");
  const nbt_case *c = nbt_fixture_case(f, "add_broadcast");
  nb_tensor *a = nbt_case_tensor(c, "a");
  nb_tensor *b = nbt_case_tensor(c, "b");
  nb_tensor *out = nbt_case_tensor(c, "out");
  check_meta(a, NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  check_meta(b, NB_DTYPE_FLOAT32, NB_SHAPE(3));
  check_meta(out, NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  double alpha = nbt_case_param(c, "alpha");
  cr_assert(fabs(alpha - 0.5) < 1e-15, "alpha = %g", alpha);

  float av[6], bv[3], ov[6];
  nbt_assert_ok(nb_copy_out(a, NB_DTYPE_FLOAT32, av, 6), "copy a");
  nbt_assert_ok(nb_copy_out(b, NB_DTYPE_FLOAT32, bv, 3), "copy b");
  nbt_assert_ok(nb_copy_out(out, NB_DTYPE_FLOAT32, ov, 6), "copy out");
  /* gen_example.py plants nan at [0,1], inf at [1,0], -inf at [1,2]. */
  cr_assert(isnan(av[1]));
  cr_assert(isinf(av[3]) && av[3] > 0);
  cr_assert(isinf(av[5]) && av[5] < 0);
  for (int i = 0; i < 2; i++) {
    for (int j = 0; j < 3; j++) {
      double want = (double)av[i * 3 + j] + alpha * (double)bv[j];
      double got = ov[i * 3 + j];
      bool ok = isnan(want) || isinf(want) ? same_or_both_nan(got, want)
                                           : fabs(got - want) <= 1e-6 * (1 + fabs(want));
      cr_assert(ok, "out[%d][%d] = %.9g, a + alpha*b = %.9g", i, j, got, want);
    }
  }
  /* The stored values compare equal to themselves, NaN and infinities included. */
  nbt_assert_close(out, out, 0, 0, "out vs itself");
  nbt_case_check(c, "out", out, 0, 0);
  nbt_case_check(c, "a", a, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT);
  nb_free(out);
  nb_free(b);
  nb_free(a);
  nbt_fixture_free(f);
}

Test(fixture_selftest, example_sum_dim0) {
  nbt_fixture *f = nbt_fixture_load("example");
  const nbt_case *c = nbt_fixture_case(f, "sum_dim0");
  nb_tensor *x = nbt_case_tensor(c, "x");
  nb_tensor *out = nbt_case_tensor(c, "out");
  check_meta(x, NB_DTYPE_FLOAT64, NB_SHAPE(4, 3));
  check_meta(out, NB_DTYPE_FLOAT64, NB_SHAPE(3));

  int64_t dims64[4];
  int dims[4];
  cr_assert_eq(nbt_case_param_ints(c, "dims", dims64, 4), 1);
  cr_assert_eq(dims64[0], 0);
  cr_assert_eq(nbt_case_param_dims(c, "dims", dims, 4), 1);
  cr_assert_eq(dims[0], 0);
  cr_assert(fabs(nbt_case_param(c, "keepdim")) < 0.5, "keepdim is false");

  double xv[12], ov[3], want[3] = {0, 0, 0};
  nbt_assert_ok(nb_copy_out(x, NB_DTYPE_FLOAT64, xv, 12), "copy x");
  nbt_assert_ok(nb_copy_out(out, NB_DTYPE_FLOAT64, ov, 3), "copy out");
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 3; j++) want[j] += xv[i * 3 + j];
  nbt_assert_values(out, want, 3, 1e-12, 1e-12, "sum over dim 0");
  for (int j = 0; j < 3; j++) cr_assert(fabs(ov[j] - want[j]) <= 1e-12, "out[%d]", j);
  nb_free(out);
  nb_free(x);
  nbt_fixture_free(f);
}

/* Every dtype, 0-d and empty tensors, special values, params of all kinds. */
static const char *good_text = "# a comment\n"
                               "\n"
                               "case kinds\r\n"
                               "  tensor f float32 1 4 : 1.5 nan -inf 3.4028235e+38\n"
                               "tensor d float64 2 1 2 : -0.0 5e-324\n"
                               "tensor i int64 1 3 : -9223372036854775807 0 9007199254740993\n"
                               "tensor m bool 2 2 1 : 1 0\n"
                               "tensor s float64 0 : 2.25\n"
                               "tensor e float32 2 0 3 :\n"
                               "param alpha 0.25\n"
                               "param dims -1 0 2\n"
                               "param mixed 2.0 3.5 inf\n"
                               "param none\n"
                               "end\n"
                               "case second\n"
                               "end";

Test(fixture_selftest, parse_all_kinds) {
  char err[256];
  nbt_fixture *f = nbt_fixture_parse(good_text, "mem.txt", err, sizeof err);
  cr_assert_not_null(f, "parse failed: %s", err);
  cr_assert_eq(nbt_fixture_num_cases(f), 2);
  const nbt_case *c = nbt_fixture_case(f, "kinds");
  cr_assert_str_eq(nbt_case_where(c), "mem.txt:3");

  nb_tensor *t = nbt_case_tensor(c, "f");
  float fv[4];
  check_meta(t, NB_DTYPE_FLOAT32, NB_SHAPE(4));
  nbt_assert_ok(nb_copy_out(t, NB_DTYPE_FLOAT32, fv, 4), "copy f");
  cr_assert(fabs(fv[0] - 1.5f) < 1e-7f);
  cr_assert(isnan(fv[1]));
  cr_assert(isinf(fv[2]) && fv[2] < 0);
  cr_assert(isfinite(fv[3]) && fv[3] > 3.4e38f, "FLT_MAX's shortest repr reads as FLT_MAX");
  nb_free(t);

  t = nbt_case_tensor(c, "d");
  double dv[2];
  check_meta(t, NB_DTYPE_FLOAT64, NB_SHAPE(1, 2));
  nbt_assert_ok(nb_copy_out(t, NB_DTYPE_FLOAT64, dv, 2), "copy d");
  cr_assert(dv[0] == 0 && signbit(dv[0]), "-0.0 keeps its sign");
  cr_assert(dv[1] > 0 && dv[1] < 1e-323, "subnormal 5e-324");
  nb_free(t);

  t = nbt_case_tensor(c, "i");
  int64_t iv[3];
  check_meta(t, NB_DTYPE_INT64, NB_SHAPE(3));
  nbt_assert_ok(nb_copy_out(t, NB_DTYPE_INT64, iv, 3), "copy i");
  cr_assert_eq(iv[0], -INT64_MAX);
  cr_assert_eq(iv[1], 0);
  cr_assert_eq(iv[2], INT64_C(9007199254740993), "int64 beyond 2^53 stays exact");
  nb_free(t);

  t = nbt_case_tensor(c, "m");
  bool mv[2];
  check_meta(t, NB_DTYPE_BOOL, NB_SHAPE(2, 1));
  nbt_assert_ok(nb_copy_out(t, NB_DTYPE_BOOL, mv, 2), "copy m");
  cr_assert(mv[0] && !mv[1]);
  nb_free(t);

  t = nbt_case_tensor(c, "s");
  check_meta(t, NB_DTYPE_FLOAT64, NB_SCALAR_SHAPE);
  nbt_assert_values(t, (const double[]){2.25}, 1, 0, 0, "0-d value");
  nb_free(t);

  t = nbt_case_tensor(c, "e");
  check_meta(t, NB_DTYPE_FLOAT32, NB_SHAPE(0, 3));
  cr_assert_eq(nb_numel(t), 0);
  nb_free(t);

  cr_assert(fabs(nbt_case_param(c, "alpha") - 0.25) < 1e-15);
  int dims[8];
  cr_assert_eq(nbt_case_param_dims(c, "dims", dims, 8), 3);
  cr_assert(dims[0] == -1 && dims[1] == 0 && dims[2] == 2);
  double mixed[3];
  cr_assert_eq(nbt_case_param_doubles(c, "mixed", mixed, 3), 3);
  cr_assert(fabs(mixed[1] - 3.5) < 1e-15 && isinf(mixed[2]));
  int64_t none[1];
  cr_assert_eq(nbt_case_param_ints(c, "none", none, 1), 0);
  nbt_fixture_free(f);
}

/* Each malformed text and a fragment its error message must contain. */
static const struct {
  const char *text;
  const char *want;
} bad_texts[] = {
    {"tensor a float32 1 1 : 1\n", "bad.txt:1: 'tensor' outside a case"},
    {"case a\ntensor x float16 1 1 : 1\nend\n", "bad.txt:2: tensor x: unknown dtype"},
    {"case a\ntensor x float32 1 2 : 1\nend\n", "bad.txt:2: tensor x: shape [2] needs 2 values"},
    {"case a\ntensor x float32 1 2 1 2\nend\n", "bad.txt:2: tensor x: expected ':'"},
    {"case a\ntensor x float32 9 1 1 1 1 1 1 1 1 1 : 1\nend\n", "bad ndim"},
    {"case a\ntensor x float32 1 -2 :\nend\n", "bad size '-2'"},
    {"case a\ntensor x float32 1 2 : 1 abc\nend\n", "value 1 'abc' is not a valid float32"},
    {"case a\ntensor x float32 1 1 : 1e39\nend\n", "is not a valid float32"},
    {"case a\ntensor x int64 1 1 : 1.5\nend\n", "is not a valid int64"},
    {"case a\ntensor x int64 1 1 : 99999999999999999999\nend\n", "is not a valid int64"},
    {"case a\ntensor x bool 1 1 : 2\nend\n", "is not a valid bool"},
    {"case a\ntensor x int64 1 1 : 1\ntensor x int64 1 1 : 1\nend\n",
     "bad.txt:3: case a: tensor 'x' defined twice"},
    {"case a\nparam p 1 x\nend\n", "bad.txt:2: param p: value 'x' is not a number"},
    {"case a\nparam p 1\nparam p 2\nend\n", "param 'p' defined twice"},
    {"case a\nend\ncase a\nend\n", "bad.txt:3: case 'a' defined twice"},
    {"case a\ncase b\nend\n", "bad.txt:2: 'case' inside case a"},
    {"case a\ntensor x int64 1 1 : 1\n", "bad.txt:1: case a is not closed by 'end'"},
    {"end\n", "bad.txt:1: 'end' outside a case"},
    {"case\n", "case line needs exactly one name"},
    {"case a b\nend\n", "case line needs exactly one name"},
    {"case a\nfrobnicate\nend\n", "bad.txt:2: unknown line 'frobnicate'"},
};

Test(fixture_selftest, parse_errors_name_file_and_line) {
  for (size_t k = 0; k < sizeof bad_texts / sizeof bad_texts[0]; k++) {
    char err[256] = "unset";
    nbt_fixture *f = nbt_fixture_parse(bad_texts[k].text, "dir/bad.txt", err, sizeof err);
    cr_assert_null(f, "text %zu parsed but should not:\n%s", k, bad_texts[k].text);
    cr_assert(strstr(err, bad_texts[k].want) != NULL, "text %zu: error '%s' lacks '%s'", k, err,
              bad_texts[k].want);
  }
  char err[256];
  cr_assert_null(nbt_fixture_read("/nonexistent/nope.txt", err, sizeof err));
  cr_assert(strstr(err, "/nonexistent/nope.txt: cannot open") != NULL, "%s", err);
  /* An empty text is a valid file with no cases. */
  nbt_fixture *f = nbt_fixture_parse("", "empty.txt", err, sizeof err);
  cr_assert_not_null(f, "%s", err);
  cr_assert_eq(nbt_fixture_num_cases(f), 0);
  nbt_fixture_free(f);
}

Test(fixture_selftest, compare_reports_mismatches) {
  float av[6] = {1, 2, 3, 4, 5, 6};
  float bv[6] = {1, 2, 3, 4.5f, 5, 6.001f};
  nb_tensor *a = nb_from_data(NB_DTYPE_FLOAT32, av, NB_SHAPE(2, 3));
  nb_tensor *b = nb_from_data(NB_DTYPE_FLOAT32, bv, NB_SHAPE(2, 3));
  nb_tensor *a6 = nb_from_data(NB_DTYPE_FLOAT32, av, NB_SHAPE(6));
  double dv[6] = {1, 2, 3, 4, 5, 6};
  nb_tensor *d = nb_from_data(NB_DTYPE_FLOAT64, dv, NB_SHAPE(2, 3));
  char msg[1024];

  cr_assert(nbt_compare(a, a, 0, 0, 0, msg, sizeof msg), "%s", msg);
  cr_assert_not(nbt_compare(a, b, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT, 0, msg, sizeof msg));
  cr_assert(strstr(msg, "values differ at [1, 0] (flat 3)") != NULL, "%s", msg);
  cr_assert(strstr(msg, "actual 4 vs expected 4.5") != NULL, "%s", msg);
  cr_assert(strstr(msg, "2 of 6 elements differ") != NULL, "%s", msg);
  cr_assert(strstr(msg, "worst at [1, 0]") != NULL, "%s", msg);
  /* A loose enough tolerance accepts the same pair. */
  cr_assert(nbt_compare(a, b, 0, 0.6, 0, msg, sizeof msg), "%s", msg);
  cr_assert(nbt_compare(a, b, 0.2, 0, 0, msg, sizeof msg), "%s", msg);

  cr_assert_not(nbt_compare(a, a6, 0, 0, 0, msg, sizeof msg));
  cr_assert(strstr(msg, "shapes differ: actual float32 [2, 3] vs expected float32 [6]") != NULL,
            "%s", msg);
  cr_assert_not(nbt_compare(a, d, 0, 0, 0, msg, sizeof msg));
  cr_assert(strstr(msg, "dtypes differ") != NULL, "%s", msg);
  cr_assert(nbt_compare(a, d, 0, 0, NBT_CMP_ANY_DTYPE, msg, sizeof msg), "%s", msg);
  nbt_assert_close_any_dtype(a, d, 0, 0, "float32 vs float64");
  cr_assert_not(nbt_compare(NULL, a, 0, 0, 0, msg, sizeof msg));
  cr_assert(strstr(msg, "actual tensor is NULL") != NULL, "%s", msg);

  /* NaN matches NaN only; an infinity matches only itself. */
  float n1[3] = {NAN, INFINITY, 1}, n2[3] = {NAN, INFINITY, NAN}, n3[3] = {1, -INFINITY, 1};
  nb_tensor *t1 = nb_from_data(NB_DTYPE_FLOAT32, n1, NB_SHAPE(3));
  nb_tensor *t2 = nb_from_data(NB_DTYPE_FLOAT32, n2, NB_SHAPE(3));
  nb_tensor *t3 = nb_from_data(NB_DTYPE_FLOAT32, n3, NB_SHAPE(3));
  cr_assert(nbt_compare(t1, t1, 0, 0, 0, msg, sizeof msg), "%s", msg);
  cr_assert_not(nbt_compare(t1, t2, 1, 1, 0, msg, sizeof msg));
  cr_assert(strstr(msg, "at [2]") != NULL, "%s", msg);
  cr_assert_not(nbt_compare(t1, t3, 1e9, 1e9, 0, msg, sizeof msg));
  cr_assert(strstr(msg, "at [0]") != NULL, "%s", msg);

  /* Integers compare exactly beyond 2^53. */
  int64_t i1[2] = {INT64_C(9007199254740993), 1}, i2[2] = {INT64_C(9007199254740992), 1};
  nb_tensor *ti1 = nb_from_data(NB_DTYPE_INT64, i1, NB_SHAPE(2));
  nb_tensor *ti2 = nb_from_data(NB_DTYPE_INT64, i2, NB_SHAPE(2));
  cr_assert_not(nbt_compare(ti1, ti2, 0, 0, 0, msg, sizeof msg));
  cr_assert(strstr(msg, "actual 9007199254740993 vs expected 9007199254740992") != NULL, "%s", msg);
  nbt_assert_close(ti1, ti1, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT, "int64 exact");

  nbt_assert_values(a, dv, 6, 0, 0, "float32 values");
  nbt_assert_shape(a, NB_SHAPE(2, 3), "a shape");

  nb_tensor *all[] = {a, b, a6, d, t1, t2, t3, ti1, ti2};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) nb_free(all[k]);
  nbt_assert_no_leaks("after freeing");
}
