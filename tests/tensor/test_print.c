/* tests/tensor/test_print.c - nb_to_string / nb_fprint / nb_print and
 * nb_allclose / nb_equal (tensor/print.c).
 *
 * The strings are compared exactly with PyTorch's str() of the same tensors:
 * tests/fixtures/print.txt holds the inputs and print_expected.txt the texts
 * (both written by tools/fixtures/gen_print.py; format in its docstring).
 */
#include "support/nbtest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

TestSuite(print, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

/* ---- print_expected.txt ----------------------------------------------------- */

typedef struct {
  char *name, *text;
} expected_block;

typedef struct {
  expected_block *blocks;
  int n;
  char *file;
} expected_file;

/* Split "=== case NAME\n<text>\n=== end\n" blocks in place. */
static expected_file load_expected(void) {
  expected_file e = {0};
  e.file = (char *)nbt_read_file(NB_TEST_FIXTURES "/print_expected.txt", NULL);
  static const char open_tag[] = "=== case ", close_tag[] = "\n=== end\n";
  char *p = e.file;
  while ((p = strstr(p, open_tag)) != NULL) {
    char *name = p + strlen(open_tag);
    char *eol = strchr(name, '\n');
    cr_assert(eol, "print_expected.txt: unterminated case line");
    *eol = '\0';
    char *text = eol + 1;
    char *end = strstr(text, close_tag);
    cr_assert(end, "print_expected.txt: case %s has no '=== end'", name);
    *end = '\0';
    e.blocks = realloc(e.blocks, sizeof *e.blocks * (size_t)(e.n + 1));
    cr_assert(e.blocks);
    e.blocks[e.n++] = (expected_block){name, text};
    p = end + strlen(close_tag);
  }
  return e;
}

static const char *expected_text(const expected_file *e, const char *name) {
  for (int i = 0; i < e->n; i++)
    if (strcmp(e->blocks[i].name, name) == 0) return e->blocks[i].text;
  return NULL;
}

static void free_expected(expected_file *e) {
  free(e->blocks);
  free(e->file);
}

/* ---- every fixture case, exactly as PyTorch prints it ----------------------- */

Test(print, matches_pytorch) {
  nbt_fixture *f = nbt_fixture_load("print");
  expected_file e = load_expected();
  int ncases = nbt_fixture_num_cases(f);
  cr_assert(ncases >= 40 && ncases == e.n, "%d fixture cases, %d expected texts", ncases, e.n);
  for (int i = 0; i < ncases; i++) {
    const nbt_case *c = nbt_fixture_case_index(f, i);
    const char *want = expected_text(&e, nbt_case_name(c));
    cr_assert(want, "no expected text for case %s", nbt_case_name(c));
    nb_tensor *x = nbt_case_tensor(c, "x");
    nb_tensor *shown = nbt_case_param(c, "transpose") != 0 ? nbk_t(x) : nb_retain(x);
    cr_assert(shown, "%s: %s", nbt_case_name(c), nb_errmsg());
    char *got = nb_to_string(shown);
    cr_assert(got, "%s: nb_to_string failed: %s", nbt_case_name(c), nb_errmsg());
    cr_expect_str_eq(got, want, "%s (%s):\n--- nabla\n%s\n--- torch\n%s", nbt_case_name(c),
                     nbt_case_where(c), got, want);
    free(got);
    nb_free(shown);
    nb_free(x);
  }
  free_expected(&e);
  nbt_fixture_free(f);
}

/* ---- strided views print their logical values -------------------------------- */

static void expect_string(nb_tensor *t, const char *want) {
  cr_assert(t, "%s", nb_errmsg());
  char *got = nb_to_string(t);
  cr_assert(got, "%s", nb_errmsg());
  cr_expect_str_eq(got, want, "\n--- nabla\n%s\n--- expected\n%s", got, want);
  free(got);
}

Test(print, views) {
  nb_scope_begin();
  nb_tensor *x = nb_arange(NB_DTYPE_FLOAT32, 0, 10, 1);
  expect_string(nbk_slice(x, 0, 1, 10, 3), "tensor([1., 4., 7.])");
  nb_tensor *row = nbk_reshape(nbk_slice(x, 0, 0, 3, 1), NB_SHAPE(1, 3));
  expect_string(nbk_expand(row, NB_SHAPE(2, 3)), "tensor([[0., 1., 2.],\n        [0., 1., 2.]])");
  nb_tensor *i = nb_arange(NB_DTYPE_INT64, -2, 4, 1);
  expect_string(nbk_t(nbk_view(i, NB_SHAPE(2, 3))), "tensor([[-2,  1],\n        [-1,  2],\n"
                                                    "        [ 0,  3]])");
  expect_string(nbk_select(i, 0, 1), "tensor(-1)");
  expect_string(nbk_slice(i, 0, 3, 3, 1), "tensor([], dtype=torch.int64)");
  nb_scope_end();
}

Test(print, fprint_and_print) {
  nb_tensor *x = nb_from_data(NB_DTYPE_FLOAT64, (const double[]){0.5, -2.25}, NB_SHAPE(2));
  FILE *f = tmpfile();
  cr_assert(f);
  nbt_assert_ok(nb_fprint(f, x), "fprint");
  rewind(f);
  char buf[256] = {0};
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  cr_expect_eq(n, strlen(buf));
  cr_expect_str_eq(buf, "tensor([ 0.5000, -2.2500], dtype=torch.float64)\n");
  nbt_assert_ok(nb_print(x), "print to stdout");
  nbt_assert_ok(nb_fprint(NULL, x), "fprint NULL file means stdout");
  nb_free(x);
  nb_set_error(NB_ERR_IO, "earlier");
  cr_expect_null(nb_to_string(NULL));
  cr_expect_eq(nb_print(NULL), NB_ERR_NULL);
  cr_expect_str_eq(nb_errmsg(), "earlier", "a NULL input keeps the earlier error");
  nb_clear_error();
}

/* Far beyond float32's range (strings checked against torch 1.13). */
Test(print, extreme_values) {
  nb_scope_begin();
  nb_tensor *d = nb_from_data(NB_DTYPE_FLOAT64, (const double[]){1e300, -1e-300, 0}, NB_SHAPE(3));
  expect_string(d, "tensor([ 1.0000e+300, -1.0000e-300,   0.0000e+00], dtype=torch.float64)");
  int64_t big[] = {INT64_MIN, INT64_MAX};
  expect_string(nb_from_data(NB_DTYPE_INT64, big, NB_SHAPE(2)),
                "tensor([-9223372036854775808,  9223372036854775807])");
  nb_scope_end();
}

/* ---- allclose / equal ----------------------------------------------------------- */

static nb_tensor *f32(int n, const float *v) {
  return nb_from_data(NB_DTYPE_FLOAT32, v, 1, (const int64_t[]){n});
}

Test(print, allclose) {
  nb_scope_begin();
  nb_tensor *a = f32(3, (const float[]){1.0f, 2.0f, 3.0f});
  nb_tensor *b = f32(3, (const float[]){1.0f, 2.0f + 1e-6f, 3.0f});
  cr_expect(nb_allclose(a, b, 1e-5, 1e-8));
  cr_expect(!nb_allclose(a, b, 0, 1e-8));
  /* |a-b| <= atol + rtol*|b|: the tolerance scales with b, not a */
  nb_tensor *p = f32(1, (const float[]){100.0f}), *q = f32(1, (const float[]){110.0f});
  cr_expect(nb_allclose(p, q, 0.1, 0));     /* 10 <= 11 */
  cr_expect(!nb_allclose(q, p, 0.09, 0.0)); /* 10 > 9 */
  cr_expect(nb_allclose(q, p, 0.09, 1.0));  /* 10 <= 10 */
  /* broadcasting: [2,3] vs [3] and [2,1] */
  nb_tensor *m = nb_from_data(NB_DTYPE_FLOAT64, (const double[]){1, 2, 3, 1, 2, 3}, NB_SHAPE(2, 3));
  cr_expect(nb_allclose(m, a, 0, 0));
  cr_expect(nb_allclose(a, m, 0, 0));
  nb_tensor *col = nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(2, 1), 2.0);
  cr_expect(!nb_allclose(m, col, 0, 0.5));
  cr_expect(nb_allclose(m, col, 0, 1.0));
  /* NaN is never close; inf only to the same inf */
  nb_tensor *n1 = f32(2, (const float[]){NAN, INFINITY});
  nb_tensor *n2 = f32(2, (const float[]){NAN, INFINITY});
  cr_expect(!nb_allclose(n1, n2, 1, 1));
  nb_tensor *i1 = f32(2, (const float[]){-INFINITY, INFINITY});
  nb_tensor *i2 = f32(2, (const float[]){-INFINITY, INFINITY});
  nb_tensor *i3 = f32(2, (const float[]){INFINITY, INFINITY});
  nb_tensor *i4 = f32(2, (const float[]){-INFINITY, 1e30f});
  cr_expect(nb_allclose(i1, i2, 0, 0));
  cr_expect(!nb_allclose(i1, i3, 1, 1));
  cr_expect(!nb_allclose(i1, i4, 1, 1));
  /* mixed dtypes and a non-contiguous view */
  nb_tensor *ints = nb_arange(NB_DTYPE_INT64, 0, 6, 1);
  nb_tensor *fl = nb_arange(NB_DTYPE_FLOAT32, 0, 6, 1);
  nb_tensor *t1 = nbk_t(nbk_view(ints, NB_SHAPE(2, 3)));
  nb_tensor *t2 = nbk_contiguous(nbk_t(nbk_view(fl, NB_SHAPE(2, 3))));
  cr_expect(nb_allclose(t1, t2, 0, 0));
  cr_expect(!nb_allclose(t1, nbk_view(fl, NB_SHAPE(3, 2)), 0, 0.5));
  nb_tensor *bools = nb_from_data(NB_DTYPE_BOOL, (const bool[]){true, false}, NB_SHAPE(2));
  cr_expect(nb_allclose(bools, f32(2, (const float[]){1.0f, 0.0f}), 0, 0));
  /* empty tensors are trivially close */
  nb_tensor *e = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0, 3));
  cr_expect(nb_allclose(e, a, 0, 0));
  /* errors */
  cr_expect(!nb_allclose(a, f32(2, (const float[]){1, 2}), 1, 1));
  cr_expect_eq(nb_last_status(), NB_ERR_SHAPE);
  cr_expect(strstr(nb_errmsg(), "allclose") && strstr(nb_errmsg(), "[3]") &&
                strstr(nb_errmsg(), "[2]"),
            "%s", nb_errmsg());
  cr_expect(!nb_allclose(a, a, -1, 0));
  cr_expect_eq(nb_last_status(), NB_ERR_ARG);
  nb_set_error(NB_ERR_IO, "earlier");
  cr_expect(!nb_allclose(NULL, a, 1, 1));
  cr_expect_str_eq(nb_errmsg(), "earlier");
  nb_clear_error();
  nb_scope_end();
}

Test(print, equal) {
  nb_scope_begin();
  nb_tensor *a = nb_arange(NB_DTYPE_INT64, 0, 6, 1);
  nb_tensor *b = nb_arange(NB_DTYPE_FLOAT64, 0, 6, 1);
  cr_expect(nb_equal(a, b), "dtypes may differ");
  cr_expect(!nb_equal(a, nbk_view(b, NB_SHAPE(2, 3))), "shapes must match (no broadcasting)");
  cr_expect(!nb_equal(nbk_view(a, NB_SHAPE(2, 3)), nbk_view(b, NB_SHAPE(3, 2))));
  cr_expect(nb_equal(nbk_t(nbk_view(a, NB_SHAPE(2, 3))),
                     nbk_contiguous(nbk_t(nbk_view(b, NB_SHAPE(2, 3))))));
  nb_tensor *c = nb_arange(NB_DTYPE_FLOAT32, 0, 6, 1);
  nbt_assert_ok(nb_fill_(nbk_narrow(c, 0, 5, 1), 5.5), "fill");
  cr_expect(!nb_equal(a, c));
  /* int64 pairs compare exactly, beyond 2^53 */
  int64_t big1[] = {(int64_t)1 << 53}, big2[] = {((int64_t)1 << 53) + 1};
  cr_expect(!nb_equal(nb_from_data(NB_DTYPE_INT64, big1, NB_SHAPE(1)),
                      nb_from_data(NB_DTYPE_INT64, big2, NB_SHAPE(1))));
  cr_expect(nb_equal(nb_from_data(NB_DTYPE_INT64, big2, NB_SHAPE(1)),
                     nb_from_data(NB_DTYPE_INT64, big2, NB_SHAPE(1))));
  /* NaN is not equal to itself; -0 equals 0 */
  nb_tensor *n = nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(2), NAN);
  cr_expect(!nb_equal(n, n));
  cr_expect(nb_equal(nb_scalar(NB_DTYPE_FLOAT32, -0.0), nb_scalar(NB_DTYPE_BOOL, 0)));
  cr_expect(nb_equal(nb_zeros(NB_DTYPE_BOOL, NB_SHAPE(0)), nb_zeros(NB_DTYPE_INT64, NB_SHAPE(0))));
  cr_expect(
      !nb_equal(nb_zeros(NB_DTYPE_BOOL, NB_SCALAR_SHAPE), nb_zeros(NB_DTYPE_INT64, NB_SHAPE(1))));
  nb_set_error(NB_ERR_IO, "earlier");
  cr_expect(!nb_equal(a, NULL));
  cr_expect_str_eq(nb_errmsg(), "earlier");
  nb_clear_error();
  nb_scope_end();
}

/* Above the parallel grain the answers do not depend on the thread count. */
Test(print, comparisons_with_threads) {
  nb_scope_begin();
  int64_t n = 3 * 32768 + 17;
  nb_tensor *a = nb_randn(NB_DTYPE_FLOAT32, 1, &n, NULL);
  nb_tensor *b = nbk_clone(a);
  nb_tensor *late = nbk_narrow(b, 0, n - 5, 1);
  for (int threads = 1; threads <= 2; threads++) {
    nbt_assert_ok(nb_set_num_threads(threads), "threads");
    cr_expect(nb_equal(a, b));
    cr_expect(nb_allclose(a, b, 0, 0));
  }
  const int64_t at[] = {n - 5};
  nbt_assert_ok(nb_fill_(late, nb_get(a, at) + 1e-3), "perturb one element near the end");
  for (int threads = 1; threads <= 2; threads++) {
    nbt_assert_ok(nb_set_num_threads(threads), "threads");
    cr_expect(!nb_equal(a, b), "%d threads", threads);
    cr_expect(!nb_allclose(a, b, 0, 1e-4), "%d threads", threads);
    cr_expect(nb_allclose(a, b, 0, 1e-2), "%d threads", threads);
  }
  nb_scope_end();
}
