/* tests/tensor/test_linalg.c - tests of tensor/linalg.c (matrix products).
 *
 * Owns: matmul in every rank combination, bmm, dot, outer, linear and gemm_
 * against PyTorch (tests/fixtures/linalg.txt from tools/fixtures/gen_linalg.py)
 * in float32/float64/int64; transposed, stepped and expanded operands (and that
 * strided ones are not copied); empty dims; error messages; and identical
 * results with 1 and 2 threads.
 */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "support/nbtest.h"

TestSuite(linalg, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

/* float32 products are summed in a different order than PyTorch's BLAS. */
#define F32_TOL 1e-5

static double tol_for(nb_tensor *expected) {
  return nb_dtype_of(expected) == NB_DTYPE_FLOAT32 ? F32_TOL : NBT_TOL_DEFAULT;
}

/* Check y against the case's `name` (shape, dtype, values); y is freed. */
static void check_and_free(const nbt_case *c, const char *name, nb_tensor *y) {
  cr_assert_not_null(y, "%s: %s", nbt_case_name(c), nb_errmsg());
  nb_tensor *e = nbt_case_tensor(c, name);
  cr_assert(nb_is_contiguous(y), "%s: result not contiguous", nbt_case_name(c));
  nbt_case_check(c, name, y, tol_for(e), tol_for(e));
  nb_free(e);
  nb_free(y);
}

typedef nb_tensor *(*binary_fn)(nb_tensor *, nb_tensor *);

/* out = fn(a, b) for the named case. */
static void run_binary_case(const nbt_fixture *f, const char *name, binary_fn fn) {
  const nbt_case *c = nbt_fixture_case(f, name);
  nb_tensor *a = nbt_case_tensor(c, "a"), *b = nbt_case_tensor(c, "b");
  check_and_free(c, "out", fn(a, b));
  nb_free(b);
  nb_free(a);
}

static const char *const dtype_tags[] = {"f32", "f64", "i64"};

/* ---- matmul: every rank combination -------------------------------------- */

Test(linalg, matmul_all_ranks) {
  static const char *const names[] = {"vv", "vm",    "mv", "mm", "bm",  "mb",
                                      "bb", "bcast", "vb", "bv", "b4m", "big"};
  nbt_fixture *f = nbt_fixture_load("linalg");
  char name[64];
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    for (int t = 0; t < 3; t++) {
      if (strcmp(names[i], "big") == 0 && t == 2) continue;
      snprintf(name, sizeof name, "matmul_%s_%s", names[i], dtype_tags[t]);
      run_binary_case(f, name, nbk_matmul);
    }
  nbt_fixture_free(f);
}

Test(linalg, matmul_result_shapes) {
  /* The 1-D promotions are removed again; dot gives a 0-d tensor. */
  nb_tensor *v = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4));
  nb_tensor *m = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4, 5));
  nb_tensor *b = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3, 5, 4));
  nb_tensor *vv = nbk_matmul(v, v), *vm = nbk_matmul(v, m), *bv = nbk_matmul(b, v);
  nbt_assert_shape(vv, NB_SCALAR_SHAPE, "v @ v");
  nbt_assert_shape(vm, NB_SHAPE(5), "v @ m");
  nbt_assert_shape(bv, NB_SHAPE(3, 5), "b @ v");
  cr_assert_float_eq(nb_item(vv), 4.0, 1e-6);
  nb_free(bv);
  nb_free(vm);
  nb_free(vv);
  nb_free(b);
  nb_free(m);
  nb_free(v);
}

Test(linalg, matmul_mixed_dtypes_promote) {
  nbt_fixture *f = nbt_fixture_load("linalg");
  const nbt_case *c = nbt_fixture_case(f, "matmul_mixed");
  nb_tensor *a = nbt_case_tensor(c, "a"), *b = nbt_case_tensor(c, "b");
  nb_tensor *y = nbk_matmul(a, b);
  cr_assert_not_null(y, "%s", nb_errmsg());
  cr_assert_eq(nb_dtype_of(y), NB_DTYPE_FLOAT64);
  check_and_free(c, "out", y);
  /* int64 @ float32 -> float32 */
  nb_tensor *ai = nb_ones(NB_DTYPE_INT64, NB_SHAPE(2, 3));
  nb_tensor *bf = nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(3, 2), 0.5);
  nb_tensor *yf = nbk_matmul(ai, bf);
  cr_assert_eq(nb_dtype_of(yf), NB_DTYPE_FLOAT32);
  nbt_assert_values(yf, ((double[]){1.5, 1.5, 1.5, 1.5}), 4, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT,
                    "int64 @ float32");
  nb_free(yf);
  nb_free(bf);
  nb_free(ai);
  nb_free(b);
  nb_free(a);
  nbt_fixture_free(f);
}

/* ---- non-contiguous operands --------------------------------------------- */

Test(linalg, matmul_transposed_operands) {
  nbt_fixture *f = nbt_fixture_load("linalg");
  char name[64];
  for (int t = 0; t < 3; t++) {
    snprintf(name, sizeof name, "matmul_transposed_%s", dtype_tags[t]);
    const nbt_case *c = nbt_fixture_case(f, name);
    nb_tensor *at = nbt_case_tensor(c, "at"), *bt = nbt_case_tensor(c, "bt");
    nb_tensor *a = nbk_t(at), *b = nbk_transpose(bt, 0, 1);
    cr_assert(!nb_is_contiguous(a) && !nb_is_contiguous(b));
    check_and_free(c, "out", nbk_matmul(a, b));
    /* one transposed, one contiguous */
    nb_tensor *bc = nbk_contiguous(b);
    nb_tensor *y1 = nbk_matmul(a, bc);
    check_and_free(c, "out", y1);
    nb_free(bc);
    nb_free(b);
    nb_free(a);
    nb_free(bt);
    nb_free(at);
  }
  nbt_fixture_free(f);
}

Test(linalg, matmul_stepped_slices) {
  nbt_fixture *f = nbt_fixture_load("linalg");
  char name[64];
  for (int t = 0; t < 3; t++) {
    snprintf(name, sizeof name, "matmul_stepped_%s", dtype_tags[t]);
    const nbt_case *c = nbt_fixture_case(f, name);
    nb_tensor *abase = nbt_case_tensor(c, "abase"), *bbase = nbt_case_tensor(c, "bbase");
    /* abase[::2, ::2] and bbase[1::2, ::3] */
    nb_tensor *a0 = nbk_slice(abase, 0, 0, 6, 2), *a = nbk_slice(a0, 1, 0, 8, 2);
    nb_tensor *b0 = nbk_slice(bbase, 0, 1, 9, 2), *b = nbk_slice(b0, 1, 0, 15, 3);
    nbt_assert_shape(a, NB_SHAPE(3, 4), "a");
    nbt_assert_shape(b, NB_SHAPE(4, 5), "b");
    check_and_free(c, "out", nbk_matmul(a, b));
    nb_free(b);
    nb_free(b0);
    nb_free(a);
    nb_free(a0);
    nb_free(bbase);
    nb_free(abase);
  }
  nbt_fixture_free(f);
}

Test(linalg, matmul_expanded_operands) {
  nbt_fixture *f = nbt_fixture_load("linalg");
  char name[64];
  for (int t = 0; t < 3; t++) {
    snprintf(name, sizeof name, "matmul_expanded_%s", dtype_tags[t]);
    const nbt_case *c = nbt_fixture_case(f, name);
    nb_tensor *acol = nbt_case_tensor(c, "acol"), *b0 = nbt_case_tensor(c, "b0");
    nb_tensor *a = nbk_expand(acol, NB_SHAPE(3, 4)), *b = nbk_expand(b0, NB_SHAPE(2, 4, 5));
    cr_assert_eq(nb_stride(a, 1), 0);
    cr_assert_eq(nb_stride(b, 0), 0);
    check_and_free(c, "out", nbk_matmul(a, b));
    nb_free(b);
    nb_free(a);
    nb_free(b0);
    nb_free(acol);

    snprintf(name, sizeof name, "matmul_batch_expanded_%s", dtype_tags[t]);
    c = nbt_fixture_case(f, name);
    nb_tensor *a2 = nbt_case_tensor(c, "a"), *bb = nbt_case_tensor(c, "b");
    nb_tensor *ae = nbk_expand(a2, NB_SHAPE(2, 3, 4));
    check_and_free(c, "out", nbk_matmul(ae, bb));
    nb_free(ae);
    nb_free(bb);
    nb_free(a2);

    snprintf(name, sizeof name, "matmul_permuted_%s", dtype_tags[t]);
    c = nbt_fixture_case(f, name);
    nb_tensor *abase = nbt_case_tensor(c, "abase"), *bm = nbt_case_tensor(c, "b");
    nb_tensor *ap = nbk_permute(abase, 3, (const int[]){1, 0, 2});
    check_and_free(c, "out", nbk_matmul(ap, bm));
    nb_free(ap);
    nb_free(bm);
    nb_free(abase);
  }
  nbt_fixture_free(f);
}

/* Bytes the allocator hands out while computing y = fn(a, b), beyond what was
 * in use before: the peak minus the start (nothing is freed before the call in
 * these tests, so the peak so far equals the bytes in use). */
static int64_t extra_peak_bytes(binary_fn fn, nb_tensor *a, nb_tensor *b, nb_tensor **y) {
  nb_mem_stats s0, s1;
  nb_mem_stats_get(&s0);
  cr_assert_eq(s0.peak_bytes, s0.bytes_in_use, "the test must not free before measuring");
  *y = fn(a, b);
  cr_assert_not_null(*y, "%s", nb_errmsg());
  nb_mem_stats_get(&s1);
  return s1.peak_bytes - s0.bytes_in_use;
}

Test(linalg, strided_operands_are_not_copied) {
  const int64_t n = 256, bytes = n * n * 4;
  nb_tensor *abase = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(n, n), NULL);
  nb_tensor *bbase = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(2 * n, 2 * n), NULL);
  nb_tensor *col = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(n, 1), NULL);
  nb_tensor *at = nbk_t(abase);
  nb_tensor *b0 = nbk_slice(bbase, 0, 0, 2 * n, 2), *bs = nbk_slice(b0, 1, 1, 2 * n, 2);
  nb_tensor *bexp = nbk_expand(col, NB_SHAPE(n, n));
  nb_tensor *y1, *y2;
  /* transposed @ stepped (general strides): only the output is allocated */
  int64_t extra = extra_peak_bytes(nbk_matmul, at, bs, &y1);
  cr_assert(extra >= bytes && extra < bytes + bytes / 4, "transposed/stepped: %lld extra bytes",
            (long long)extra);
  /* stride 0 is not for BLIS: that operand IS copied (the measure works) */
  extra = extra_peak_bytes(nbk_matmul, at, bexp, &y2);
  cr_assert(extra >= 2 * bytes, "expanded operand: %lld extra bytes", (long long)extra);
  /* and the values agree with contiguous copies */
  nb_tensor *ac = nbk_contiguous(at), *bc = nbk_contiguous(bs), *ec = nbk_contiguous(bexp);
  nb_tensor *r1 = nbk_matmul(ac, bc), *r2 = nbk_matmul(ac, ec);
  nbt_assert_close(y1, r1, 1e-6, 1e-5, "strided vs contiguous");
  nbt_assert_close(y2, r2, 1e-6, 1e-5, "expanded vs contiguous");
  nb_free(r2);
  nb_free(r1);
  nb_free(ec);
  nb_free(bc);
  nb_free(ac);
  nb_free(y2);
  nb_free(y1);
  nb_free(bexp);
  nb_free(bs);
  nb_free(b0);
  nb_free(at);
  nb_free(col);
  nb_free(bbase);
  nb_free(abase);
}

static nb_tensor *linear_nobias(nb_tensor *x, nb_tensor *w) { return nbk_linear(x, w, NULL); }

Test(linalg, linear_folds_without_copies) {
  const int64_t in = 128, out = 96;
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(4, 64, in), NULL);
  nb_tensor *w = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(out, in), NULL);
  nb_tensor *y;
  int64_t extra = extra_peak_bytes(linear_nobias, x, w, &y);
  int64_t ybytes = 4 * 64 * out * 4;
  cr_assert(extra >= ybytes && extra < ybytes + ybytes / 4, "linear: %lld extra bytes",
            (long long)extra);
  nbt_assert_shape(y, NB_SHAPE(4, 64, out), "y");
  /* the same as a batched matmul with w^T */
  nb_tensor *wt = nbk_t(w), *r = nbk_matmul(x, wt);
  nbt_assert_close(y, r, 1e-6, 1e-5, "linear vs matmul");
  nb_free(r);
  nb_free(wt);
  nb_free(y);
  nb_free(w);
  nb_free(x);
}

/* ---- bmm, dot, outer ------------------------------------------------------ */

Test(linalg, bmm_dot_outer) {
  nbt_fixture *f = nbt_fixture_load("linalg");
  char name[64];
  for (int t = 0; t < 3; t++) {
    snprintf(name, sizeof name, "bmm_%s", dtype_tags[t]);
    run_binary_case(f, name, nbk_bmm);
    snprintf(name, sizeof name, "dot_%s", dtype_tags[t]);
    run_binary_case(f, name, nbk_dot);
    snprintf(name, sizeof name, "outer_%s", dtype_tags[t]);
    run_binary_case(f, name, nbk_outer);
  }
  const nbt_case *c = nbt_fixture_case(f, "dot_stepped");
  nb_tensor *abase = nbt_case_tensor(c, "abase"), *bbase = nbt_case_tensor(c, "bbase");
  nb_tensor *a = nbk_slice(abase, 0, 0, 10, 2), *b = nbk_slice(bbase, 0, 1, 15, 3);
  nb_tensor *y = nbk_dot(a, b);
  nbt_assert_shape(y, NB_SCALAR_SHAPE, "dot");
  check_and_free(c, "out", y);
  /* outer of stepped views too: [5] x [5] against the values */
  nb_tensor *o = nbk_outer(a, b);
  nbt_assert_shape(o, NB_SHAPE(5, 5), "outer");
  double ea = nb_get(a, (int64_t[]){3}), eb = nb_get(b, (int64_t[]){4});
  cr_assert_float_eq(nb_get(o, (int64_t[]){3, 4}), ea * eb, 1e-6);
  nb_free(o);
  nb_free(b);
  nb_free(a);
  nb_free(bbase);
  nb_free(abase);
  nbt_fixture_free(f);
}

/* ---- linear --------------------------------------------------------------- */

Test(linalg, linear_cases) {
  static const char *const names[] = {"2d", "3d", "1d"};
  nbt_fixture *f = nbt_fixture_load("linalg");
  char name[64];
  for (int t = 0; t < 2; t++) {
    for (int i = 0; i < 3; i++) {
      snprintf(name, sizeof name, "linear_%s_%s", names[i], dtype_tags[t]);
      const nbt_case *c = nbt_fixture_case(f, name);
      nb_tensor *x = nbt_case_tensor(c, "x"), *w = nbt_case_tensor(c, "w");
      nb_tensor *b = nbt_case_tensor(c, "b");
      check_and_free(c, "out", nbk_linear(x, w, b));
      check_and_free(c, "out_nobias", nbk_linear(x, w, NULL));
      nb_free(b);
      nb_free(w);
      nb_free(x);
    }
    snprintf(name, sizeof name, "linear_permuted_%s", dtype_tags[t]);
    const nbt_case *c = nbt_fixture_case(f, name);
    nb_tensor *xbase = nbt_case_tensor(c, "xbase"), *w = nbt_case_tensor(c, "w");
    nb_tensor *b = nbt_case_tensor(c, "b");
    nb_tensor *x = nbk_permute(xbase, 3, (const int[]){1, 0, 2});
    check_and_free(c, "out", nbk_linear(x, w, b));
    /* a transposed weight view works too */
    nb_tensor *wt = nbk_t(w), *wtc = nbk_contiguous(wt), *wv = nbk_t(wtc);
    check_and_free(c, "out", nbk_linear(x, wv, b));
    nb_free(wv);
    nb_free(wtc);
    nb_free(wt);
    nb_free(x);
    nb_free(b);
    nb_free(w);
    nb_free(xbase);
  }
  const nbt_case *c = nbt_fixture_case(f, "linear_i64");
  nb_tensor *x = nbt_case_tensor(c, "x"), *w = nbt_case_tensor(c, "w");
  nb_tensor *b = nbt_case_tensor(c, "b");
  check_and_free(c, "out", nbk_linear(x, w, b));
  nb_free(b);
  nb_free(w);
  nb_free(x);
  nbt_fixture_free(f);
}

/* ---- gemm_ ---------------------------------------------------------------- */

Test(linalg, gemm_cases) {
  nbt_fixture *f = nbt_fixture_load("linalg");
  char name[64];
  for (int t = 0; t < 3; t++) {
    snprintf(name, sizeof name, "gemm_%s", dtype_tags[t]);
    const nbt_case *c = nbt_fixture_case(f, name);
    nb_tensor *a = nbt_case_tensor(c, "a"), *b = nbt_case_tensor(c, "b");
    nb_tensor *cc = nbt_case_tensor(c, "c"), *e = nbt_case_tensor(c, "out");
    uint64_t v0 = nb_version(cc);
    nbt_assert_ok(nb_gemm_(cc, nbt_case_param(c, "alpha"), a, b, nbt_case_param(c, "beta")), name);
    cr_assert_gt(nb_version(cc), v0, "gemm_ must bump c's version");
    nbt_assert_close(cc, e, tol_for(e), tol_for(e), name);
    nb_free(e);
    nb_free(cc);
    nb_free(b);
    nb_free(a);
  }
  /* c and a transposed views: the result lands in ct's storage */
  const nbt_case *c = nbt_fixture_case(f, "gemm_transposed_c");
  nb_tensor *at = nbt_case_tensor(c, "at"), *b = nbt_case_tensor(c, "b");
  nb_tensor *ct = nbt_case_tensor(c, "ct"), *e = nbt_case_tensor(c, "out");
  nb_tensor *a = nbk_t(at), *cv = nbk_t(ct);
  nbt_assert_ok(nb_gemm_(cv, nbt_case_param(c, "alpha"), a, b, nbt_case_param(c, "beta")),
                "gemm_ transposed");
  nbt_assert_close(cv, e, F32_TOL, F32_TOL, "gemm_ transposed c");
  nb_tensor *back = nbk_t(ct);
  nbt_assert_close(back, e, F32_TOL, F32_TOL, "ct's storage");
  nb_free(back);
  nb_free(cv);
  nb_free(a);
  nb_free(e);
  nb_free(ct);
  nb_free(b);
  nb_free(at);
  nbt_fixture_free(f);
}

Test(linalg, gemm_interleaved_c_and_aliasing) {
  /* c [2,2] with strides (3, 2): elements at 0, 2, 3, 5 of a 6-float buffer,
   * a layout BLIS rejects (rows interleave); positions 1 and 4 stay put. */
  float buf[6] = {1, -7, 2, 3, -9, 4};
  nb_tensor *c = nb_from_blob(NB_DTYPE_FLOAT32, buf, NB_SHAPE(2, 2), (int64_t[]){3, 2}, NULL, NULL);
  nb_tensor *a = nb_from_data(NB_DTYPE_FLOAT32, (float[]){1, 2, 3, 4, 5, 6}, NB_SHAPE(2, 3));
  nb_tensor *b = nb_from_data(NB_DTYPE_FLOAT32, (float[]){1, 0, 0, 1, 1, 1}, NB_SHAPE(3, 2));
  /* a @ b = [[4, 5], [10, 11]]; c = 2 (a @ b) + 1 * [[1, 2], [3, 4]] */
  nbt_assert_ok(nb_gemm_(c, 2.0, a, b, 1.0), "interleaved c");
  nbt_assert_values(c, ((double[]){9, 12, 23, 26}), 4, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT, "c");
  cr_assert_float_eq(buf[1], -7.0f, 0);
  cr_assert_float_eq(buf[4], -9.0f, 0);
  nb_free(c);

  /* c is a itself: the product reads the old a */
  nb_tensor *sq = nb_from_data(NB_DTYPE_FLOAT64, (double[]){1, 2, 3, 4}, NB_SHAPE(2, 2));
  nb_tensor *m = nb_from_data(NB_DTYPE_FLOAT64, (double[]){0, 1, 1, 0}, NB_SHAPE(2, 2));
  nbt_assert_ok(nb_gemm_(sq, 1.0, sq, m, 0.0), "c is a");
  nbt_assert_values(sq, ((double[]){2, 1, 4, 3}), 4, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT, "swap");
  /* c is b, through a transposed view: sq = sq^T @ sq^T */
  nb_tensor *sqt = nbk_t(sq);
  nbt_assert_ok(nb_gemm_(sq, 1.0, sqt, sqt, 0.0), "c aliases b");
  /* [[2,4],[1,3]] @ [[2,4],[1,3]] = [[8, 20], [5, 13]] */
  nbt_assert_values(sq, ((double[]){8, 20, 5, 13}), 4, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT, "aliased");
  /* beta 0 ignores NaN in c */
  nb_tensor *cn = nb_full(NB_DTYPE_FLOAT64, NB_SHAPE(2, 2), NAN);
  nbt_assert_ok(nb_gemm_(cn, 1.0, m, m, 0.0), "nan c");
  nbt_assert_values(cn, ((double[]){1, 0, 0, 1}), 4, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT, "m @ m");
  /* a float64 operand into a float32 c is converted */
  nb_tensor *c32 = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 2));
  nbt_assert_ok(nb_gemm_(c32, 1.0, m, m, 1.0), "float64 into float32");
  cr_assert_eq(nb_dtype_of(c32), NB_DTYPE_FLOAT32);
  nbt_assert_values(c32, ((double[]){1, 0, 0, 1}), 4, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT, "c32");
  nb_free(c32);
  nb_free(cn);
  nb_free(sqt);
  nb_free(m);
  nb_free(sq);
  nb_free(b);
  nb_free(a);
}

/* ---- empty dims ----------------------------------------------------------- */

Test(linalg, empty_dims) {
  for (int t = 0; t < 3; t++) {
    nb_dtype dt = t == 0 ? NB_DTYPE_FLOAT32 : t == 1 ? NB_DTYPE_FLOAT64 : NB_DTYPE_INT64;
    nb_tensor *a30 = nb_ones(dt, NB_SHAPE(3, 0)), *b04 = nb_ones(dt, NB_SHAPE(0, 4));
    nb_tensor *a03 = nb_ones(dt, NB_SHAPE(0, 3)), *b34 = nb_ones(dt, NB_SHAPE(3, 4));
    nb_tensor *b40 = nb_ones(dt, NB_SHAPE(4, 0)), *a34 = nb_ones(dt, NB_SHAPE(3, 4));
    nb_tensor *e0 = nb_ones(dt, NB_SHAPE(0, 3, 4)), *v0 = nb_ones(dt, NB_SHAPE(0));
    /* k = 0: zeros */
    nb_tensor *y = nbk_matmul(a30, b04);
    nbt_assert_shape(y, NB_SHAPE(3, 4), "k=0");
    cr_assert_eq(nb_dtype_of(y), dt);
    double z[12] = {0};
    nbt_assert_values(y, z, 12, 0, 0, "k=0 gives zeros");
    nb_free(y);
    y = nbk_matmul(a03, b34);
    nbt_assert_shape(y, NB_SHAPE(0, 4), "m=0");
    nb_free(y);
    y = nbk_matmul(a34, b40);
    nbt_assert_shape(y, NB_SHAPE(3, 0), "n=0");
    nb_free(y);
    y = nbk_matmul(e0, b40);
    nbt_assert_shape(y, NB_SHAPE(0, 3, 0), "batch 0");
    nb_free(y);
    nb_tensor *b43 = nbk_t(b34);
    y = nbk_matmul(e0, b43); /* [0,3,4] @ [4,3] -> [0,3,3] */
    nbt_assert_shape(y, NB_SHAPE(0, 3, 3), "batch 0 @ 2-D");
    nb_free(y);
    nb_free(b43);
    y = nbk_dot(v0, v0);
    nbt_assert_shape(y, NB_SCALAR_SHAPE, "empty dot");
    cr_assert_float_eq(nb_item(y), 0.0, 0);
    nb_free(y);
    nb_tensor *v2 = nb_ones(dt, NB_SHAPE(2));
    y = nbk_outer(v0, v2);
    nbt_assert_shape(y, NB_SHAPE(0, 2), "empty outer");
    nb_free(y);
    nb_free(v2);
    /* gemm_ with k = 0 scales c by beta */
    nb_tensor *c = nb_full(dt, NB_SHAPE(3, 4), 3.0);
    nbt_assert_ok(nb_gemm_(c, 1.0, a30, b04, 2.0), "gemm_ k=0");
    double six[12] = {6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6};
    nbt_assert_values(c, six, 12, 0, 0, "beta c");
    nb_free(c);
    nb_free(v0);
    nb_free(e0);
    nb_free(a34);
    nb_free(b40);
    nb_free(b34);
    nb_free(a03);
    nb_free(b04);
    nb_free(a30);
  }
  /* linear with in_features = 0 gives the bias in every row */
  nb_tensor *x = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 0)),
            *w = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3, 0));
  nb_tensor *b = nb_arange(NB_DTYPE_FLOAT32, 1, 4, 1);
  nb_tensor *y = nbk_linear(x, w, b);
  nbt_assert_values(y, ((double[]){1, 2, 3, 1, 2, 3}), 6, 0, 0, "bias only");
  nb_free(y);
  nb_free(b);
  nb_free(w);
  nb_free(x);
}

/* ---- errors --------------------------------------------------------------- */

Test(linalg, error_messages) {
  nb_tensor *a23 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *a234 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3, 4));
  nb_tensor *b542 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(5, 4, 2));
  nb_tensor *v3 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3)),
            *v4 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4));
  nb_tensor *s = nb_scalar(NB_DTYPE_FLOAT32, 1.0);
  nb_tensor *mask = nb_ones(NB_DTYPE_BOOL, NB_SHAPE(3, 2));

  nb_tensor *y = nbk_matmul(a23, a23);
  cr_assert_null(y);
  cr_assert_eq(nb_last_status(), NB_ERR_SHAPE);
  cr_assert_str_eq(nb_errmsg(), "matmul: [2, 3] @ [2, 3]: inner dimensions differ (3 vs 2)");
  nbt_expect_null(
      nbk_matmul(a234, b542), NB_ERR_SHAPE,
      "matmul: [2, 3, 4] @ [5, 4, 2]: batch dimensions [2] and [5] cannot be broadcast");
  nbt_expect_null(nbk_matmul(s, v3), NB_ERR_SHAPE,
                  "matmul: [] @ [3]: both arguments need at least");
  nbt_expect_null(nbk_matmul(v3, v4), NB_ERR_SHAPE, "inner dimensions differ (3 vs 4)");
  nbt_expect_null(nbk_matmul(a23, mask), NB_ERR_DTYPE, "bool");
  nbt_expect_null(nbk_bmm(a23, a234), NB_ERR_SHAPE, "bmm: [2, 3] @ [2, 3, 4]: expected 3-D");
  nb_tensor *b342 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3, 4, 2));
  nbt_expect_null(nbk_bmm(a234, b342), NB_ERR_SHAPE, "batch sizes differ (2 vs 3)");
  nbt_expect_null(nbk_bmm(a234, b542), NB_ERR_SHAPE, "bmm: [2, 3, 4] @ [5, 4, 2]");
  nbt_expect_null(nbk_dot(a23, v3), NB_ERR_SHAPE, "dot: [2, 3] . [3]: expected 1-D");
  nbt_expect_null(nbk_dot(v3, v4), NB_ERR_SHAPE, "dot: [3] . [4]: sizes differ (3 vs 4)");
  nbt_expect_null(nbk_outer(a23, v3), NB_ERR_SHAPE, "outer: [2, 3] x [3]: expected 1-D");
  nbt_expect_null(nbk_linear(a23, v3, NULL), NB_ERR_SHAPE, "linear: weight [3] must be 2-D");
  nbt_expect_null(nbk_linear(a234, a23, NULL), NB_ERR_SHAPE,
                  "linear: input [2, 3, 4], weight [2, 3]: in_features differ (4 vs 3)");
  nbt_expect_null(nbk_linear(a23, a23, v3), NB_ERR_SHAPE, "linear: bias [3] must be [2]");
  nbt_expect_null(nbk_linear(s, a23, NULL), NB_ERR_SHAPE, "linear: input []");
  nb_tensor *bmask = nb_ones(NB_DTYPE_BOOL, NB_SHAPE(2));
  nbt_expect_null(nbk_linear(a23, a23, bmask), NB_ERR_DTYPE, "linear: bool");

  nb_tensor *c = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 2));
  nb_tensor *a32 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3, 2));
  cr_assert_eq(nb_gemm_(c, 1, a23, a23, 0), NB_ERR_SHAPE);
  cr_assert(strstr(nb_errmsg(), "gemm_: c [2, 2] = a [2, 3] @ b [2, 3]: inner dimensions differ"),
            "%s", nb_errmsg());
  cr_assert_eq(nb_gemm_(c, 1, a23, a234, 0), NB_ERR_SHAPE);
  cr_assert(strstr(nb_errmsg(), "expected 2-D"), "%s", nb_errmsg());
  cr_assert_eq(nb_gemm_(c, 1, a32, a23, 0), NB_ERR_SHAPE);
  cr_assert(strstr(nb_errmsg(), "c must be [3, 3]"), "%s", nb_errmsg());
  cr_assert_eq(nb_gemm_(c, 1, a23, mask, 0), NB_ERR_DTYPE);
  nb_tensor *ci = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(2, 2));
  cr_assert_eq(nb_gemm_(ci, 1, a23, a32, 0), NB_ERR_DTYPE);
  cr_assert(strstr(nb_errmsg(), "gemm_: c [2, 2] is int64 but a @ b is float32"), "%s",
            nb_errmsg());
  nb_tensor *i23 = nb_ones(NB_DTYPE_INT64, NB_SHAPE(2, 3)),
            *i32 = nb_ones(NB_DTYPE_INT64, NB_SHAPE(3, 2));
  cr_assert_eq(nb_gemm_(ci, 0.5, i23, i32, 0), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "integer alpha and beta"), "%s", nb_errmsg());
  nb_tensor *row = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1, 2)),
            *cexp = nbk_expand(row, NB_SHAPE(2, 2));
  uint64_t v = nb_version(cexp);
  cr_assert_eq(nb_gemm_(cexp, 1, a23, a32, 0), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "stride 0"), "%s", nb_errmsg());
  cr_assert_eq(nb_version(cexp), v, "a failed gemm_ must not bump the version");

  nb_free(cexp);
  nb_free(row);
  nb_free(i32);
  nb_free(i23);
  nb_free(ci);
  nb_free(a32);
  nb_free(c);
  nb_free(bmask);
  nb_free(b342);
  nb_free(mask);
  nb_free(s);
  nb_free(v4);
  nb_free(v3);
  nb_free(b542);
  nb_free(a234);
  nb_free(a23);
}

Test(linalg, null_inputs_keep_the_first_error) {
  nb_tensor *a = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *bad = nbk_matmul(a, a); /* the first error */
  cr_assert_null(bad);
  const char *first = "matmul: [2, 3] @ [2, 3]: inner dimensions differ (3 vs 2)";
  cr_assert_null(nbk_matmul(bad, a));
  cr_assert_null(nbk_matmul(a, bad));
  cr_assert_null(nbk_bmm(bad, a));
  cr_assert_null(nbk_dot(a, bad));
  cr_assert_null(nbk_outer(bad, a));
  cr_assert_null(nbk_linear(bad, a, NULL));
  cr_assert_null(nbk_linear(a, bad, NULL));
  cr_assert_eq(nb_gemm_(bad, 1, a, a, 0), NB_ERR_NULL);
  cr_assert_eq(nb_gemm_(a, 1, bad, a, 0), NB_ERR_NULL);
  cr_assert_eq(nb_last_status(), NB_ERR_SHAPE);
  cr_assert_str_eq(nb_errmsg(), first);
  /* without an earlier error the message names the op */
  nb_clear_error();
  cr_assert_null(nbk_dot(NULL, a));
  cr_assert_eq(nb_last_status(), NB_ERR_NULL);
  cr_assert(strstr(nb_errmsg(), "dot"), "%s", nb_errmsg());
  nb_free(a);
}

/* ---- threads -------------------------------------------------------------- */

/* y = fn(a, b) with 1 and with 2 threads: bitwise equal (BLIS splits rows and
 * columns, never k; a batch is split by whole matrices). */
static nb_tensor *same_with_1_and_2_threads(binary_fn fn, nb_tensor *a, nb_tensor *b,
                                            const char *what) {
  nb_set_num_threads(1);
  nb_tensor *y1 = fn(a, b);
  nb_set_num_threads(2);
  nb_tensor *y2 = fn(a, b);
  cr_assert_not_null(y1, "%s: %s", what, nb_errmsg());
  cr_assert_not_null(y2, "%s: %s", what, nb_errmsg());
  cr_assert(nb_numel(y1) > 32768 || nb_numel(a) > 32768, "%s: too small to thread", what);
  size_t bytes = (size_t)nb_numel(y1) * nb_dtype_size(nb_dtype_of(y1));
  cr_assert(memcmp(nb_data(y1), nb_data(y2), bytes) == 0, "%s differs with 1 and 2 threads", what);
  nb_free(y2);
  return y1;
}

Test(linalg, threads_give_identical_results) {
  static const nb_dtype dts[] = {NB_DTYPE_FLOAT32, NB_DTYPE_FLOAT64, NB_DTYPE_INT64};
  for (int t = 0; t < 3; t++) {
    nb_dtype dt = dts[t];
    nb_tensor *a = dt == NB_DTYPE_INT64 ? nb_randint(-9, 10, NB_SHAPE(250, 300), NULL)
                                        : nb_randn(dt, NB_SHAPE(250, 300), NULL);
    nb_tensor *bt = dt == NB_DTYPE_INT64 ? nb_randint(-9, 10, NB_SHAPE(190, 300), NULL)
                                         : nb_randn(dt, NB_SHAPE(190, 300), NULL);
    nb_tensor *b = nbk_t(bt);
    nb_tensor *y = same_with_1_and_2_threads(nbk_matmul, a, b, "250x300 @ (190x300)^T");
    /* and right: against the product in float64 */
    nb_tensor *a64 = nbk_to(a, NB_DTYPE_FLOAT64), *b64 = nbk_to(b, NB_DTYPE_FLOAT64);
    nb_tensor *r = nbk_matmul(a64, b64), *y64 = nbk_to(y, NB_DTYPE_FLOAT64);
    nbt_assert_close(y64, r, dt == NB_DTYPE_FLOAT32 ? 1e-4 : 1e-12,
                     dt == NB_DTYPE_FLOAT32 ? 1e-4 : 1e-12, "big product");
    nb_free(y64);
    nb_free(r);
    nb_free(b64);
    nb_free(a64);
    nb_free(y);
    nb_free(b);
    nb_free(bt);
    nb_free(a);
  }
  /* many small matrices (split by whole matrices across threads), with a
   * broadcast batch, and each equal to the same product done alone */
  nb_tensor *a = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(8, 8, 24, 40), NULL);
  nb_tensor *b = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(8, 1, 40, 24), NULL);
  nb_tensor *y = same_with_1_and_2_threads(nbk_matmul, a, b, "batched small");
  nbt_assert_shape(y, NB_SHAPE(8, 8, 24, 24), "batched");
  nb_tensor *a5 = nbk_select(a, 0, 5), *a53 = nbk_select(a5, 0, 3);
  nb_tensor *b5 = nbk_select(b, 0, 5), *b50 = nbk_select(b5, 0, 0);
  nb_tensor *y5 = nbk_select(y, 0, 5), *y53 = nbk_select(y5, 0, 3);
  nb_tensor *r = nbk_matmul(a53, b50);
  nbt_assert_close(y53, r, 0, 0, "batch entry [5, 3] alone");
  nb_free(r);
  nb_free(y53);
  nb_free(y5);
  nb_free(b50);
  nb_free(b5);
  nb_free(a53);
  nb_free(a5);
  nb_free(y);
  /* linear: x and w both run along k, the layout where BLIS's small-matrix
   * dot-product kernels would round differently with 2 threads */
  static const int64_t lin[][4] = {{4, 64, 128, 200}, {1, 129, 333, 33}, {1, 100, 700, 65}};
  for (int i = 0; i < 3; i++)
    for (int t = 0; t < 2; t++) {
      nb_dtype dt = t ? NB_DTYPE_FLOAT64 : NB_DTYPE_FLOAT32;
      nb_tensor *x = nb_randn(dt, NB_SHAPE(lin[i][0], lin[i][1], lin[i][2]), NULL);
      nb_tensor *w = nb_randn(dt, NB_SHAPE(lin[i][3], lin[i][2]), NULL);
      nb_tensor *yl = same_with_1_and_2_threads(linear_nobias, x, w, "linear");
      nb_free(yl);
      nb_free(w);
      nb_free(x);
    }
  nb_free(b);
  nb_free(a);
}

/* Small x @ w^T products (a's rows and b's columns contiguous along k) with
 * many columns copy b to row-major before BLIS (linalg.c, copy_small_b):
 * compare with a double-precision loop, for a w that is a row-stepped view
 * too, in float32 and float64, and just past the size limits. */
Test(linalg, small_x_wt_products_match_a_reference_loop) {
  static const int64_t sizes[][3] = {{178, 32, 13}, {5, 16, 1}, {7, 64, 64}, {9, 15, 13}};
  for (int dt = 0; dt < 2; dt++) {
    nb_dtype dtype = dt == 0 ? NB_DTYPE_FLOAT32 : NB_DTYPE_FLOAT64;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
      for (int stepped = 0; stepped < 2; stepped++) {
        int64_t m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
        nb_scope_begin();
        nb_generator *g = nb_generator_new(11 + (uint64_t)s);
        nb_tensor *x = nb_randn(dtype, NB_SHAPE(m, k), g);
        nb_tensor *wbase = nb_randn(dtype, NB_SHAPE(2 * n, k), g);
        nb_generator_free(g);
        nb_tensor *w = stepped ? nbk_slice(wbase, 0, 0, 2 * n, 2) : nbk_slice(wbase, 0, 0, n, 1);
        nb_tensor *y = nbk_matmul(x, nbk_t(w));
        cr_assert_not_null(y, "%s", nb_errmsg());
        nb_tensor *xd = nbk_to(x, NB_DTYPE_FLOAT64),
                  *wd = nbk_contiguous(nbk_to(w, NB_DTYPE_FLOAT64));
        nb_tensor *yd = nbk_to(y, NB_DTYPE_FLOAT64);
        const double *xv = nb_data(xd), *wv = nb_data(wd), *yv = nb_data(yd);
        double worst = 0;
        for (int64_t i = 0; i < m; i++)
          for (int64_t j = 0; j < n; j++) {
            double ref = 0;
            for (int64_t p = 0; p < k; p++) ref += xv[i * k + p] * wv[j * k + p];
            double err = fabs(yv[i * n + j] - ref) / (1 + fabs(ref));
            if (err > worst) worst = err;
          }
        cr_assert(worst < (dt == 0 ? 1e-5 : 1e-12),
                  "%lldx%lldx%lld %s stepped=%d: relative error %g", (long long)m, (long long)n,
                  (long long)k, nb_dtype_name(dtype), stepped, worst);
        nbt_assert_ok(nb_scope_end(), "scope_end");
      }
    }
  }
}
