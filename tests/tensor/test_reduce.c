/* tests/tensor/test_reduce.c - tests of tensor/reduce.c (reductions, arg-
 * reductions, softmax/log_softmax/cumsum, all/any).
 *
 * Values come from PyTorch (tests/fixtures/reduce.txt, written by
 * tools/fixtures/gen_reduce.py): every case names its op and how to make the
 * operand from the recorded x (as is, transposed, stepped slice, permuted,
 * expanded), and the sweeps below run every case of an op. Hand-written tests
 * cover the error paths, NULL propagation, the large-tensor paths (checked
 * against plain double loops), bitwise-identical results with 1 and 2
 * threads, and float32 sums accumulated in double.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "support/nbtest.h"

TestSuite(reduce, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

/* Mirrors OPS in tools/fixtures/gen_reduce.py. */
enum {
  OP_SUM,
  OP_MEAN,
  OP_PROD,
  OP_AMAX,
  OP_AMIN,
  OP_VAR,
  OP_STD,
  OP_LOGSUMEXP,
  OP_NORM,
  OP_MAX_DIM,
  OP_MIN_DIM,
  OP_ARGMAX,
  OP_ARGMIN,
  OP_SOFTMAX,
  OP_LOG_SOFTMAX,
  OP_CUMSUM,
  OP_ALL,
  OP_ANY,
};

/* Mirrors VIEWS in gen_reduce.py: the operand made from x (a new reference). */
static nb_tensor *make_view(const nbt_case *c, nb_tensor *x) {
  int view = (int)nbt_case_param(c, "view");
  int nd = nb_ndim(x);
  nb_tensor *v = NULL;
  switch (view) {
  case 0: v = nb_retain(x); break;
  case 1: v = nbk_transpose(x, 0, -1); break;
  case 2: v = nbk_slice(x, 0, 0, INT64_MAX, 2); break;
  case 3: {
    int perm[NB_MAX_DIMS];
    for (int i = 0; i < nd; i++) perm[i] = nd - 1 - i;
    v = nbk_permute(x, nd, perm);
    break;
  }
  case 4: {
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, nb_shape(x), sizeof(int64_t) * (size_t)nd);
    shape[0] = 3;
    v = nbk_expand(x, nd, shape);
    break;
  }
  case 5: v = nbk_slice(x, -1, 1, INT64_MAX, 2); break;
  default: cr_assert_fail("%s: unknown view %d", nbt_case_where(c), view);
  }
  cr_assert_not_null(v, "%s: view %d: %s", nbt_case_where(c), view, nb_errmsg());
  if (view != 0 && nb_numel(v) > 1)
    cr_assert(!nb_is_contiguous(v), "%s: view %d should not be contiguous", nbt_case_where(c),
              view);
  return v;
}

/* float32 results: torch sums in float, nabla in double. */
static double rtol_for(nb_tensor *y) {
  return nb_dtype_of(y) == NB_DTYPE_FLOAT32 ? 2e-6 : NBT_TOL_DEFAULT;
}

static void check(const nbt_case *c, const char *name, nb_tensor *y) {
  cr_assert_not_null(y, "%s (%s): %s", nbt_case_name(c), nbt_case_where(c), nb_errmsg());
  cr_assert(nb_is_contiguous(y), "%s: result is not contiguous", nbt_case_name(c));
  nbt_case_check(c, name, y, rtol_for(y), NBT_TOL_DEFAULT);
  nb_free(y);
}

/* Run one fixture case. */
static void run_case(const nbt_case *c) {
  int op = (int)nbt_case_param(c, "op");
  nb_tensor *x = nbt_case_tensor(c, "x");
  nb_tensor *v = make_view(c, x);
  int dims[NB_MAX_DIMS];
  int nd = nbt_case_has_param(c, "dims") ? nbt_case_param_dims(c, "dims", dims, NB_MAX_DIMS) : 0;
  bool keep = nbt_case_has_param(c, "keepdim") && nbt_case_param(c, "keepdim") != 0;
  double extra = nbt_case_has_param(c, "extra") ? nbt_case_param(c, "extra") : 0;
  int dim = nbt_case_has_param(c, "dim") ? (int)nbt_case_param(c, "dim") : 0;
  const int *dl = nd ? dims : NULL;
  switch (op) {
  case OP_SUM: check(c, "out", nbk_sum(v, dl, nd, keep)); break;
  case OP_MEAN: check(c, "out", nbk_mean(v, dl, nd, keep)); break;
  case OP_PROD: check(c, "out", nbk_prod(v, dl, nd, keep)); break;
  case OP_AMAX: check(c, "out", nbk_amax(v, dl, nd, keep)); break;
  case OP_AMIN: check(c, "out", nbk_amin(v, dl, nd, keep)); break;
  case OP_VAR: check(c, "out", nbk_var(v, dl, nd, extra, keep)); break;
  case OP_STD: check(c, "out", nbk_std(v, dl, nd, extra, keep)); break;
  case OP_LOGSUMEXP: check(c, "out", nbk_logsumexp(v, dl, nd, keep)); break;
  case OP_NORM: check(c, "out", nbk_norm(v, extra, dl, nd, keep)); break;
  case OP_MAX_DIM:
  case OP_MIN_DIM: {
    nb_tensor *vals = NULL, *idx = NULL;
    nb_status st = (op == OP_MAX_DIM ? nbk_max_dim : nbk_min_dim)(v, dim, keep, &vals, &idx);
    nbt_assert_ok(st, nbt_case_name(c));
    check(c, "values", vals);
    check(c, "indices", idx);
    break;
  }
  case OP_ARGMAX: check(c, "out", nb_argmax(v, dim, keep)); break;
  case OP_ARGMIN: check(c, "out", nb_argmin(v, dim, keep)); break;
  case OP_SOFTMAX: check(c, "out", nbk_softmax(v, dim)); break;
  case OP_LOG_SOFTMAX: check(c, "out", nbk_log_softmax(v, dim)); break;
  case OP_CUMSUM: check(c, "out", nbk_cumsum(v, dim)); break;
  case OP_ALL: check(c, "out", nb_all(v)); break;
  case OP_ANY: check(c, "out", nb_any(v)); break;
  default: cr_assert_fail("%s: unknown op %d", nbt_case_where(c), op);
  }
  nb_free(v);
  nb_free(x);
}

/* Run every fixture case of op; at least `min_cases` must exist. */
static void sweep(int op, int min_cases) {
  nbt_fixture *f = nbt_fixture_load("reduce");
  int ran = 0;
  for (int i = 0; i < nbt_fixture_num_cases(f); i++) {
    const nbt_case *c = nbt_fixture_case_index(f, i);
    if ((int)nbt_case_param(c, "op") != op) continue;
    run_case(c);
    ran++;
  }
  cr_assert_geq(ran, min_cases, "op %d: only %d fixture cases", op, ran);
  nbt_fixture_free(f);
}

Test(reduce, sum) { sweep(OP_SUM, 100); }
Test(reduce, mean) { sweep(OP_MEAN, 50); }
Test(reduce, prod) { sweep(OP_PROD, 100); }
Test(reduce, amax) { sweep(OP_AMAX, 100); }
Test(reduce, amin) { sweep(OP_AMIN, 100); }
Test(reduce, var) { sweep(OP_VAR, 60); }
Test(reduce, std) { sweep(OP_STD, 60); }
Test(reduce, logsumexp) { sweep(OP_LOGSUMEXP, 100); }
Test(reduce, norm) { sweep(OP_NORM, 100); }
Test(reduce, max_dim) { sweep(OP_MAX_DIM, 60); }
Test(reduce, min_dim) { sweep(OP_MIN_DIM, 60); }
Test(reduce, argmax) { sweep(OP_ARGMAX, 60); }
Test(reduce, argmin) { sweep(OP_ARGMIN, 60); }
Test(reduce, softmax) { sweep(OP_SOFTMAX, 30); }
Test(reduce, log_softmax) { sweep(OP_LOG_SOFTMAX, 30); }
Test(reduce, cumsum) { sweep(OP_CUMSUM, 60); }
Test(reduce, all) { sweep(OP_ALL, 20); }
Test(reduce, any) { sweep(OP_ANY, 20); }

/* ---- result dtypes and shapes ------------------------------------------------ */

Test(reduce, result_dtypes) {
  nb_scope_begin();
  nb_tensor *b = nb_ones(NB_DTYPE_BOOL, NB_SHAPE(2, 3));
  nb_tensor *i = nb_ones(NB_DTYPE_INT64, NB_SHAPE(2, 3));
  nb_tensor *f = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  cr_assert_eq(nb_dtype_of(nbk_sum(b, NB_ALL_DIMS, false)), NB_DTYPE_INT64);
  cr_assert_eq(nb_dtype_of(nbk_prod(b, NB_DIMS(0), false)), NB_DTYPE_INT64);
  cr_assert_eq(nb_dtype_of(nbk_amax(b, NB_DIMS(1), false)), NB_DTYPE_BOOL);
  cr_assert_eq(nb_dtype_of(nbk_cumsum(b, 1)), NB_DTYPE_INT64);
  cr_assert_eq(nb_dtype_of(nbk_logsumexp(i, NB_DIMS(1), false)), NB_DTYPE_FLOAT32);
  cr_assert_eq(nb_dtype_of(nb_argmax(f, 0, false)), NB_DTYPE_INT64);
  cr_assert_eq(nb_dtype_of(nb_all(i)), NB_DTYPE_BOOL);
  cr_assert_eq(nb_dtype_of(nbk_var(f, NB_DIMS(1), 1, false)), NB_DTYPE_FLOAT32);
  /* NB_NO_DIM with keepdim: every dim kept as 1, like torch. */
  nbt_assert_shape(nb_argmax(f, NB_NO_DIM, true), NB_SHAPE(1, 1), "argmax keepdim");
  nbt_assert_shape(nb_argmin(f, NB_NO_DIM, false), NB_SCALAR_SHAPE, "argmin");
  nbt_assert_shape(nbk_sum(f, NB_ALL_DIMS, true), NB_SHAPE(1, 1), "sum keepdim");
  nbt_assert_values(nbk_sum(b, NB_ALL_DIMS, false), ((const double[]){6}), 1, 0, 0, "bool sum");
  nb_scope_end();
}

Test(reduce, max_dim_optional_outputs) {
  nb_scope_begin();
  double data[] = {1, 7, 3, 9, 2, 9};
  nb_tensor *x = nb_from_data(NB_DTYPE_FLOAT64, data, NB_SHAPE(2, 3));
  nb_tensor *vals = NULL, *idx = NULL;
  nbt_assert_ok(nbk_max_dim(x, 1, false, &vals, NULL), "values only");
  nbt_assert_values(vals, ((const double[]){7, 9}), 2, 0, 0, "values");
  nbt_assert_ok(nbk_min_dim(x, 0, true, NULL, &idx), "indices only");
  nbt_assert_shape(idx, NB_SHAPE(1, 3), "indices");
  nbt_assert_values(idx, ((const double[]){0, 1, 0}), 3, 0, 0, "indices");
  nbt_assert_ok(nbk_max_dim(x, -1, false, NULL, NULL), "neither");
  nb_scope_end();
}

/* ---- errors ------------------------------------------------------------------- */

Test(reduce, error_bad_dims) {
  nb_scope_begin();
  nb_tensor *x = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nbt_expect_null(nbk_sum(x, NB_DIMS(2), false), NB_ERR_INDEX, "sum", "dim 2");
  nbt_expect_null(nbk_mean(x, NB_DIMS(-3), false), NB_ERR_INDEX, "mean", "dim -3");
  nbt_expect_null(nbk_amax(x, NB_DIMS(0, 0), false), NB_ERR_ARG, "amax", "multiple times");
  nbt_expect_null(nbk_var(x, NB_DIMS(1, -1), 1, false), NB_ERR_ARG, "var", "multiple times");
  nbt_expect_null(nbk_norm(x, 2, NB_DIMS(0, -2), false), NB_ERR_ARG, "norm", "[2, 3]");
  nbt_expect_null(nbk_prod(x, NULL, 2, false), NB_ERR_ARG, "prod", "dim list");
  nbt_expect_null(nbk_sum(x, (const int[]){0}, -1, false), NB_ERR_ARG, "sum", "dim list");
  nbt_expect_null(nb_argmax(x, 5, false), NB_ERR_INDEX, "argmax", "dim 5");
  nbt_expect_null(nbk_softmax(x, 2), NB_ERR_INDEX, "softmax", "dim 2");
  nbt_expect_null(nbk_log_softmax(x, -3), NB_ERR_INDEX, "log_softmax", "dim -3");
  nbt_expect_null(nbk_cumsum(x, 9), NB_ERR_INDEX, "cumsum", "dim 9");
  nb_tensor *v = NULL, *i = NULL;
  nbt_expect_status(nbk_max_dim(x, 3, false, &v, &i), NB_ERR_INDEX, "max", "dim 3");
  cr_assert(v == NULL && i == NULL);
  nbt_expect_status(nbk_min_dim(x, NB_NO_DIM, false, &v, &i), NB_ERR_ARG, "min", "dim");
  /* 0-d tensors take dim 0 / -1 only, once. */
  nb_tensor *s = nb_scalar(NB_DTYPE_FLOAT64, 2.5);
  nbt_expect_null(nbk_sum(s, NB_DIMS(1), false), NB_ERR_INDEX, "sum", "dim 1");
  nbt_expect_null(nbk_sum(s, NB_DIMS(0, -1), false), NB_ERR_ARG, "sum", "multiple times");
  nbt_expect_null(nbk_var(x, NB_DIMS(0), NAN, false), NB_ERR_ARG, "var", "correction");
  nbt_expect_null(nbk_norm(x, NAN, NB_ALL_DIMS, false), NB_ERR_ARG, "norm", "p");
  nb_scope_end();
}

Test(reduce, error_dtypes) {
  nb_scope_begin();
  nb_tensor *i = nb_ones(NB_DTYPE_INT64, NB_SHAPE(2, 3));
  nb_tensor *b = nb_ones(NB_DTYPE_BOOL, NB_SHAPE(2, 3));
  nbt_expect_null(nbk_mean(i, NB_ALL_DIMS, false), NB_ERR_DTYPE, "mean", "int64");
  nbt_expect_null(nbk_mean(b, NB_DIMS(0), false), NB_ERR_DTYPE, "mean", "bool");
  nbt_expect_null(nbk_var(i, NB_DIMS(0), 1, false), NB_ERR_DTYPE, "var", "int64");
  nbt_expect_null(nbk_std(b, NB_ALL_DIMS, 1, false), NB_ERR_DTYPE, "std", "bool");
  nbt_expect_null(nbk_norm(i, 2, NB_ALL_DIMS, false), NB_ERR_DTYPE, "norm", "int64");
  nbt_expect_null(nbk_softmax(i, 1), NB_ERR_DTYPE, "softmax", "int64");
  nbt_expect_null(nbk_log_softmax(b, 0), NB_ERR_DTYPE, "log_softmax", "bool");
  nb_scope_end();
}

Test(reduce, error_empty_without_identity) {
  nb_scope_begin();
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0, 3));
  nbt_expect_null(nbk_amax(x, NB_DIMS(0), false), NB_ERR_SHAPE, "amax", "cannot perform reduction");
  nbt_expect_null(nbk_amin(x, NB_ALL_DIMS, false), NB_ERR_SHAPE, "amin", "[0, 3]");
  nbt_expect_null(nbk_norm(x, INFINITY, NB_DIMS(0), false), NB_ERR_SHAPE, "norm", "zero-size");
  nbt_expect_null(nbk_norm(x, -INFINITY, NB_ALL_DIMS, true), NB_ERR_SHAPE, "norm", "zero-size");
  nbt_expect_null(nb_argmax(x, NB_NO_DIM, false), NB_ERR_SHAPE, "argmax", "cannot perform");
  nbt_expect_null(nb_argmin(x, 0, true), NB_ERR_SHAPE, "argmin", "cannot perform");
  nb_tensor *v = NULL;
  nbt_expect_status(nbk_max_dim(x, 0, false, &v, NULL), NB_ERR_SHAPE, "max", "[0, 3]");
  cr_assert_null(v);
  /* Reducing a non-empty dim of an empty tensor is fine: an empty result. */
  nbt_assert_shape(nbk_amax(x, NB_DIMS(1), false), NB_SHAPE(0), "amax over dim 1");
  nbt_assert_shape(nb_argmax(x, 1, true), NB_SHAPE(0, 1), "argmax over dim 1");
  nb_scope_end();
}

Test(reduce, null_propagation) {
  /* No earlier error: the op records one naming itself. */
  nb_clear_error();
  cr_assert_null(nbk_sum(NULL, NB_ALL_DIMS, false));
  cr_assert_eq(nb_last_status(), NB_ERR_NULL);
  cr_assert(strstr(nb_errmsg(), "sum"), "%s", nb_errmsg());
  /* An earlier error survives every op given NULL. */
  nb_set_error(NB_ERR_SHAPE, "the first failure");
  nb_tensor *v = (nb_tensor *)1, *i = (nb_tensor *)1;
  cr_assert_null(nbk_mean(NULL, NB_DIMS(0), true));
  cr_assert_null(nbk_prod(NULL, NB_ALL_DIMS, false));
  cr_assert_null(nbk_amax(NULL, NB_ALL_DIMS, false));
  cr_assert_null(nbk_amin(NULL, NB_ALL_DIMS, false));
  cr_assert_null(nbk_var(NULL, NB_ALL_DIMS, 1, false));
  cr_assert_null(nbk_std(NULL, NB_ALL_DIMS, 1, false));
  cr_assert_null(nbk_logsumexp(NULL, NB_ALL_DIMS, false));
  cr_assert_null(nbk_norm(NULL, 2, NB_ALL_DIMS, false));
  cr_assert_eq(nbk_max_dim(NULL, 0, false, &v, &i), NB_ERR_NULL);
  cr_assert(v == NULL && i == NULL);
  cr_assert_eq(nbk_min_dim(NULL, 0, false, NULL, NULL), NB_ERR_NULL);
  cr_assert_null(nb_argmax(NULL, 0, false));
  cr_assert_null(nb_argmin(NULL, NB_NO_DIM, false));
  cr_assert_null(nbk_softmax(NULL, 0));
  cr_assert_null(nbk_log_softmax(NULL, 0));
  cr_assert_null(nbk_cumsum(NULL, 0));
  cr_assert_null(nb_all(NULL));
  cr_assert_null(nb_any(NULL));
  cr_assert_eq(nb_last_status(), NB_ERR_SHAPE);
  cr_assert_str_eq(nb_errmsg(), "the first failure");
  nb_clear_error();
}

/* ---- large tensors: every engine path against plain double loops ------------ */

/* A [rows, cols] float32 tensor of reproducible values in [-1, 1) (caller frees). */
static nb_tensor *grid(int64_t rows, int64_t cols, uint64_t seed) {
  nb_generator *g = nb_generator_new(seed);
  nb_tensor *x = nb_uniform(NB_DTYPE_FLOAT32, NB_SHAPE(rows, cols), -1, 1, g);
  nb_generator_free(g);
  cr_assert_not_null(x, "%s", nb_errmsg());
  return x;
}

Test(reduce, large_sum_var_against_loops) {
  const int64_t R = 300, C = 1000;
  nb_tensor *x = grid(R, C, 7);
  const float *d = nb_data(x);
  double *col = calloc((size_t)C, sizeof(double)), *row = calloc((size_t)R, sizeof(double));
  double all = 0;
  for (int64_t r = 0; r < R; r++)
    for (int64_t c = 0; c < C; c++) {
      col[c] += d[r * C + c];
      row[r] += d[r * C + c];
      all += d[r * C + c];
    }
  double mean = all / (double)(R * C), ss = 0;
  for (int64_t k = 0; k < R * C; k++) ss += (d[k] - mean) * (d[k] - mean);
  for (int threads = 1; threads <= 2; threads++) {
    nb_set_num_threads(threads);
    nb_tensor *s0 = nbk_sum(x, NB_DIMS(0), false), *s1 = nbk_sum(x, NB_DIMS(-1), true);
    nb_tensor *sa = nbk_sum(x, NB_ALL_DIMS, false), *va = nbk_var(x, NB_ALL_DIMS, 1, false);
    nbt_assert_shape(s1, NB_SHAPE(300, 1), "sum dim 1 keepdim");
    nbt_assert_values(s0, col, C, 1e-6, 1e-5, "sum over dim 0 (panels)");
    nbt_assert_values(s1, row, R, 1e-6, 1e-5, "sum over dim 1 (runs)");
    nbt_assert_values(sa, &all, 1, 1e-6, 1e-4, "sum over all (chunks)");
    double var = ss / (double)(R * C - 1);
    nbt_assert_values(va, &var, 1, 1e-6, 0, "var over all");
    nb_free(va);
    nb_free(sa);
    nb_free(s1);
    nb_free(s0);
  }
  /* The transposed view: the same sums, through the strided paths. */
  nb_tensor *t = nbk_transpose(x, 0, 1);
  nb_tensor *t0 = nbk_sum(t, NB_DIMS(0), false), *t1 = nbk_sum(t, NB_DIMS(1), false);
  nbt_assert_values(t0, row, R, 1e-6, 1e-5, "transposed sum over dim 0");
  nbt_assert_values(t1, col, C, 1e-6, 1e-5, "transposed sum over dim 1");
  nb_free(t1);
  nb_free(t0);
  nb_free(t);
  free(row);
  free(col);
  nb_free(x);
}

Test(reduce, large_argmax_first_occurrence_across_chunks) {
  const int64_t n = 100000;
  float *d = calloc((size_t)n, sizeof(float));
  for (int64_t k = 0; k < n; k++) d[k] = (float)(k % 97) / 97.0f;
  d[9000] = d[20000] = d[99999] = 5.0f; /* ties in different chunks: the first wins */
  d[30000] = d[8191] = -5.0f;
  nb_tensor *x = nb_from_data(NB_DTYPE_FLOAT32, d, NB_SHAPE(n));
  for (int threads = 1; threads <= 2; threads++) {
    nb_set_num_threads(threads);
    nb_tensor *a = nb_argmax(x, NB_NO_DIM, false), *b = nb_argmin(x, 0, false);
    cr_assert_eq((int64_t)nb_item(a), 9000, "argmax %g with %d threads", nb_item(a), threads);
    cr_assert_eq((int64_t)nb_item(b), 8191, "argmin %g with %d threads", nb_item(b), threads);
    nb_free(b);
    nb_free(a);
  }
  d[70000] = d[50000] = NAN; /* the first NaN wins */
  nb_tensor *y = nb_from_data(NB_DTYPE_FLOAT32, d, NB_SHAPE(n));
  nb_set_num_threads(2);
  nb_tensor *v = NULL, *i = NULL;
  nbt_assert_ok(nbk_max_dim(y, 0, false, &v, &i), "max_dim");
  cr_assert(isnan(nb_item(v)));
  cr_assert_eq((int64_t)nb_item(i), 50000);
  nb_free(i);
  nb_free(v);
  nb_free(y);
  nb_free(x);
  free(d);
}

Test(reduce, large_softmax_cumsum_against_loops) {
  const int64_t R = 100, C = 500;
  nb_tensor *x = grid(R, C, 11);
  const float *d = nb_data(x);
  nb_set_num_threads(2);
  nb_tensor *s = nbk_softmax(x, 0), *cs = nbk_cumsum(x, 1);
  const float *sd = nb_data(s), *cd = nb_data(cs);
  for (int64_t c = 0; c < C; c++) {
    double m = -INFINITY, z = 0;
    for (int64_t r = 0; r < R; r++) m = fmax(m, d[r * C + c]);
    for (int64_t r = 0; r < R; r++) z += exp(d[r * C + c] - m);
    for (int64_t r = 0; r < R; r++)
      cr_assert_float_eq(sd[r * C + c], exp(d[r * C + c] - m) / z, 1e-7, "softmax [%lld, %lld]",
                         (long long)r, (long long)c);
  }
  for (int64_t r = 0; r < R; r++) {
    double acc = 0;
    for (int64_t c = 0; c < C; c++) {
      acc += d[r * C + c];
      cr_assert_float_eq(cd[r * C + c], acc, 1e-5, "cumsum [%lld, %lld]", (long long)r,
                         (long long)c);
    }
  }
  nb_free(cs);
  nb_free(s);
  nb_free(x);
}

Test(reduce, float32_sum_accumulates_in_double) {
  nb_tensor *x = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(10000000));
  nb_tensor *s = nbk_sum(x, NB_ALL_DIMS, false), *m = nbk_mean(x, NB_DIMS(0), false);
  cr_assert_eq(nb_dtype_of(s), NB_DTYPE_FLOAT32);
  nbt_assert_values(s, ((const double[]){1e7}), 1, 0, 0, "sum of 1e7 float32 ones");
  nbt_assert_values(m, ((const double[]){1.0}), 1, 0, 0, "mean of 1e7 float32 ones");
  /* 0.1f is inexact: a float accumulator drifts by percents over 1e7 terms,
   * a double one lands on the float nearest the exact sum. */
  nb_tensor *t = nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(10000000), 0.1);
  nb_tensor *st = nbk_sum(t, NB_ALL_DIMS, false);
  double want = (double)(float)(1e7 * (double)0.1f);
  nbt_assert_values(st, &want, 1, 0, 0, "sum of 1e7 float32 0.1s");
  nb_free(st);
  nb_free(t);
  nb_free(m);
  nb_free(s);
  nb_free(x);
}

/* ---- identical results with 1 and 2 threads ------------------------------- */

typedef nb_tensor *(*reduce_fn)(nb_tensor *x, const int *dims, int ndims);
static nb_tensor *f_sum(nb_tensor *x, const int *d, int n) { return nbk_sum(x, d, n, false); }
static nb_tensor *f_mean(nb_tensor *x, const int *d, int n) { return nbk_mean(x, d, n, false); }
static nb_tensor *f_var(nb_tensor *x, const int *d, int n) { return nbk_var(x, d, n, 1, false); }
static nb_tensor *f_std(nb_tensor *x, const int *d, int n) { return nbk_std(x, d, n, 0, true); }
static nb_tensor *f_norm(nb_tensor *x, const int *d, int n) { return nbk_norm(x, 2, d, n, false); }
static nb_tensor *f_norm3(nb_tensor *x, const int *d, int n) { return nbk_norm(x, 3, d, n, false); }
static nb_tensor *f_lse(nb_tensor *x, const int *d, int n) { return nbk_logsumexp(x, d, n, false); }
static nb_tensor *f_prod(nb_tensor *x, const int *d, int n) { return nbk_prod(x, d, n, false); }
static nb_tensor *f_amax(nb_tensor *x, const int *d, int n) { return nbk_amax(x, d, n, false); }
static nb_tensor *f_argmax(nb_tensor *x, const int *d, int n) {
  return nb_argmax(x, n ? d[0] : NB_NO_DIM, false);
}
static nb_tensor *f_softmax(nb_tensor *x, const int *d, int n) {
  return nbk_softmax(x, n ? d[0] : -1);
}
static nb_tensor *f_logsm(nb_tensor *x, const int *d, int n) {
  return nbk_log_softmax(x, n ? d[0] : -1);
}
static nb_tensor *f_cumsum(nb_tensor *x, const int *d, int n) {
  return nbk_cumsum(x, n ? d[0] : 0);
}

/* fn(x, dims) with 1 and with 2 threads: bitwise the same bytes. */
static void same_bytes(reduce_fn fn, nb_tensor *x, const int *dims, int ndims, const char *what) {
  nb_tensor *y[2];
  for (int t = 0; t < 2; t++) {
    nb_set_num_threads(t + 1);
    y[t] = fn(x, dims, ndims);
    cr_assert_not_null(y[t], "%s: %s", what, nb_errmsg());
  }
  size_t bytes = (size_t)nb_numel(y[0]) * nb_dtype_size(nb_dtype_of(y[0]));
  cr_assert_eq(nb_numel(y[0]), nb_numel(y[1]), "%s", what);
  cr_assert(memcmp(nb_data(y[0]), nb_data(y[1]), bytes) == 0, "%s: 1 vs 2 threads differ", what);
  nb_free(y[1]);
  nb_free(y[0]);
}

Test(reduce, identical_with_1_and_2_threads) {
  static const struct {
    reduce_fn fn;
    const char *name;
  } fns[] = {{f_sum, "sum"},      {f_mean, "mean"},     {f_var, "var"},      {f_std, "std"},
             {f_norm, "norm2"},   {f_norm3, "norm3"},   {f_lse, "lse"},      {f_prod, "prod"},
             {f_amax, "amax"},    {f_argmax, "argmax"}, {f_softmax, "smax"}, {f_logsm, "lsm"},
             {f_cumsum, "cumsum"}};
  nb_tensor *x32 = grid(300, 1000, 3);
  nb_tensor *x64 = nbk_to(x32, NB_DTYPE_FLOAT64);
  nb_tensor *xt = nbk_transpose(x32, 0, 1);
  nb_tensor *xs[] = {x32, x64, xt};
  char what[96];
  for (size_t k = 0; k < sizeof fns / sizeof fns[0]; k++)
    for (int v = 0; v < 3; v++) {
      snprintf(what, sizeof what, "%s input %d all dims", fns[k].name, v);
      same_bytes(fns[k].fn, xs[v], NULL, 0, what);
      snprintf(what, sizeof what, "%s input %d dim 0", fns[k].name, v);
      same_bytes(fns[k].fn, xs[v], NB_DIMS(0), what);
      snprintf(what, sizeof what, "%s input %d dim 1", fns[k].name, v);
      same_bytes(fns[k].fn, xs[v], NB_DIMS(1), what);
    }
  nb_free(xt);
  nb_free(x64);
  nb_free(x32);
}
