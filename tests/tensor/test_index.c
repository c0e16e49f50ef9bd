/* tests/tensor/test_index.c - tests of tensor/index.c (joining and indexing).
 *
 * Owns: every case of tests/fixtures/index.txt (PyTorch values, written by
 * tools/fixtures/gen_index.py) swept per op, including non-contiguous
 * inputs, empty and 0-d tensors and dtype promotion; error paths (codes and
 * messages); NULL propagation; duplicate-index semantics; and bitwise
 * agreement between 1 and 2 threads above the parallel grain.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "support/nbtest.h"

TestSuite(index, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

/* ---- helpers ----------------------------------------------------------------- */

/* The case's input `name` as the op sees it: param "<name>_view" 1 means
 * transpose(0, 1) of the stored tensor, 2 means x[::2]. */
static nb_tensor *input(const nbt_case *c, const char *name) {
  nb_tensor *t = nbt_case_tensor(c, name);
  char key[64];
  snprintf(key, sizeof key, "%s_view", name);
  if (!nbt_case_has_param(c, key)) return t;
  int how = (int)nbt_case_param(c, key);
  nb_tensor *v = how == 1 ? nbk_transpose(t, 0, 1) : nbk_slice(t, 0, 0, INT64_MAX, 2);
  cr_assert_not_null(v, "%s: view of %s: %s", nbt_case_where(c), name, nb_errmsg());
  cr_assert_not(nb_is_contiguous(v), "%s: view of %s should be non-contiguous", nbt_case_where(c),
                name);
  nb_free(t);
  return v;
}

static int dim_param(const nbt_case *c) { return (int)nbt_case_param(c, "dim"); }

typedef nb_tensor *(*case_fn)(const nbt_case *c);

/* Run fn on every case named "<op>.*" and compare with its "out". */
static void sweep(const char *op, case_fn fn) {
  nbt_fixture *f = nbt_fixture_load("index");
  size_t len = strlen(op);
  int count = 0;
  for (int i = 0; i < nbt_fixture_num_cases(f); i++) {
    const nbt_case *c = nbt_fixture_case_index(f, i);
    const char *name = nbt_case_name(c);
    if (strncmp(name, op, len) != 0 || name[len] != '.') continue;
    nb_scope_begin();
    nb_tensor *out = fn(c);
    nbt_case_check(c, "out", out, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT);
    cr_assert(nb_is_contiguous(out), "%s: result should be contiguous", nbt_case_where(c));
    nb_scope_end();
    count++;
  }
  cr_assert_gt(count, 0, "no cases for %s", op);
  nbt_fixture_free(f);
}

static nb_tensor *i64s(int n, const int64_t *v) {
  return nb_from_data(NB_DTYPE_INT64, v, 1, (int64_t[]){n});
}
#define I64(...)                                                                                   \
  i64s((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

/* ---- PyTorch fixtures, one sweep per op ----------------------------------------- */

static nb_tensor *list_op(const nbt_case *c, bool stack) {
  int n = (int)nbt_case_param(c, "n");
  nb_tensor *ts[8];
  cr_assert_leq(n, 8);
  for (int i = 0; i < n; i++) {
    char name[8];
    snprintf(name, sizeof name, "t%d", i);
    ts[i] = input(c, name);
  }
  return stack ? nbk_stack(ts, n, dim_param(c)) : nbk_cat(ts, n, dim_param(c));
}
static nb_tensor *run_cat(const nbt_case *c) { return list_op(c, false); }
static nb_tensor *run_stack(const nbt_case *c) { return list_op(c, true); }
static nb_tensor *run_index_select(const nbt_case *c) {
  return nbk_index_select(input(c, "x"), dim_param(c), input(c, "index"));
}
static nb_tensor *run_gather(const nbt_case *c) {
  return nbk_gather(input(c, "x"), dim_param(c), input(c, "index"));
}
static nb_tensor *run_scatter(const nbt_case *c) {
  return nbk_scatter(input(c, "x"), dim_param(c), input(c, "index"), input(c, "src"));
}
static nb_tensor *run_scatter_add(const nbt_case *c) {
  return nbk_scatter_add(input(c, "x"), dim_param(c), input(c, "index"), input(c, "src"));
}
static nb_tensor *run_index_add(const nbt_case *c) {
  return nbk_index_add(input(c, "x"), dim_param(c), input(c, "index"), input(c, "src"));
}
static nb_tensor *run_masked_fill(const nbt_case *c) {
  return nbk_masked_fill(input(c, "x"), input(c, "mask"), nbt_case_param(c, "value"));
}
static nb_tensor *run_masked_select(const nbt_case *c) {
  return nbk_masked_select(input(c, "x"), input(c, "mask"));
}
static nb_tensor *run_one_hot(const nbt_case *c) {
  return nb_one_hot(input(c, "labels"), (int64_t)nbt_case_param(c, "num_classes"));
}
static nb_tensor *run_repeat(const nbt_case *c) {
  int64_t reps[8];
  int n = nbt_case_param_ints(c, "repeats", reps, 8);
  return nbk_repeat(input(c, "x"), n, reps);
}
static nb_tensor *run_flip(const nbt_case *c) {
  int dims[8];
  int n = nbt_case_param_dims(c, "dims", dims, 8);
  return nbk_flip(input(c, "x"), dims, n);
}
static nb_tensor *run_pad(const nbt_case *c) {
  int64_t pads[16];
  int n = nbt_case_param_ints(c, "pads", pads, 16);
  return nbk_pad(input(c, "x"), n, pads, nbt_case_param(c, "value"));
}

Test(index, cat) { sweep("cat", run_cat); }
Test(index, stack) { sweep("stack", run_stack); }
Test(index, index_select) { sweep("index_select", run_index_select); }
Test(index, gather) { sweep("gather", run_gather); }
Test(index, scatter) { sweep("scatter", run_scatter); }
Test(index, scatter_add) { sweep("scatter_add", run_scatter_add); }
Test(index, index_add) { sweep("index_add", run_index_add); }
Test(index, masked_fill) { sweep("masked_fill", run_masked_fill); }
Test(index, masked_select) { sweep("masked_select", run_masked_select); }
Test(index, one_hot) { sweep("one_hot", run_one_hot); }
Test(index, repeat) { sweep("repeat", run_repeat); }
Test(index, flip) { sweep("flip", run_flip); }
Test(index, pad) { sweep("pad", run_pad); }

/* ---- semantics beyond the fixtures ------------------------------------------------- */

Test(index, scatter_duplicates_last_write_wins) {
  nb_scope_begin();
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *index =
      nb_from_data(NB_DTYPE_INT64, (int64_t[]){1, 0, 1, 1, 0, 1, 1, 1, 1}, NB_SHAPE(3, 3));
  nb_tensor *src =
      nb_from_data(NB_DTYPE_FLOAT32, (float[]){1, 2, 3, 4, 5, 6, 7, 8, 9}, NB_SHAPE(3, 3));
  /* Along dim 0 the writes to one element come in index-row order: the last wins. */
  nb_tensor *out = nbk_scatter(x, 0, index, src);
  nbt_assert_values(out, ((double[]){0, 5, 0, 7, 8, 9}), 6, 0, 0, "scatter dim 0 duplicates");
  nb_tensor *add = nbk_scatter_add(x, 0, index, src);
  nbt_assert_values(add, ((double[]){0, 7, 0, 12, 8, 18}), 6, 0, 0, "scatter_add duplicates");
  nb_scope_end();
}

Test(index, out_of_place_leaves_inputs_alone) {
  nb_scope_begin();
  nb_tensor *x = nb_arange(NB_DTYPE_FLOAT64, 0, 6, 1);
  nb_tensor *x2 = nbk_reshape(x, 2, (int64_t[]){2, 3});
  nb_tensor *index = nb_from_data(NB_DTYPE_INT64, (int64_t[]){2, 0}, NB_SHAPE(2, 1));
  nb_tensor *src = nb_full(NB_DTYPE_FLOAT64, NB_SHAPE(2, 1), -1);
  nb_tensor *mask = nb_full(NB_DTYPE_BOOL, NB_SHAPE(3), 1);
  uint64_t v = nb_version(x);
  nb_tensor *outs[] = {nbk_scatter(x2, 1, index, src),
                       nbk_scatter_add(x2, 1, index, src),
                       nbk_index_add(x2, 0, I64(1, 1), nb_ones(NB_DTYPE_FLOAT64, NB_SHAPE(2, 3))),
                       nbk_masked_fill(x2, mask, 9),
                       nbk_flip(x2, NB_DIMS(0)),
                       nbk_pad(x2, 2, (int64_t[]){0, 0}, 0)};
  for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
    cr_assert_not_null(outs[i], "op %zu: %s", i, nb_errmsg());
    cr_assert_not(nb_shares_storage(outs[i], x), "op %zu shares x's storage", i);
  }
  nbt_assert_values(x, ((double[]){0, 1, 2, 3, 4, 5}), 6, 0, 0, "x untouched");
  cr_assert_eq(nb_version(x), v);
  nbt_assert_values(outs[2], ((double[]){0, 1, 2, 5, 6, 7}), 6, 0, 0, "index_add dup rows");
  nb_scope_end();
}

Test(index, bool_accumulation_is_or) {
  nb_scope_begin();
  nb_tensor *x = nb_from_data(NB_DTYPE_BOOL, (uint8_t[]){0, 1}, NB_SHAPE(2));
  nb_tensor *src = nb_from_data(NB_DTYPE_BOOL, (uint8_t[]){1, 1}, NB_SHAPE(2));
  nb_tensor *out = nbk_scatter_add(x, 0, I64(0, 0), src);
  nbt_assert_values(out, ((double[]){1, 1}), 2, 0, 0, "scatter_add bool");
  out = nbk_index_add(x, 0, I64(1, 1), src);
  nbt_assert_values(out, ((double[]){0, 1}), 2, 0, 0, "index_add bool");
  nb_scope_end();
}

Test(index, zero_dim_inputs) {
  nb_scope_begin();
  nb_tensor *s = nb_scalar(NB_DTYPE_FLOAT32, 2.5);
  nb_tensor *out = nbk_index_select(s, 0, I64(0));
  nbt_assert_shape(out, NB_SCALAR_SHAPE, "index_select of 0-d");
  nbt_assert_values(out, ((double[]){2.5}), 1, 0, 0, "index_select of 0-d");
  out = nbk_index_add(s, -1, I64(0), nb_scalar(NB_DTYPE_FLOAT32, 1));
  nbt_assert_values(out, ((double[]){3.5}), 1, 0, 0, "index_add of 0-d");
  out = nbk_masked_fill(s, nb_scalar(NB_DTYPE_BOOL, 1), -1);
  nbt_assert_values(out, ((double[]){-1}), 1, 0, 0, "masked_fill of 0-d");
  out = nbk_masked_select(s, nb_scalar(NB_DTYPE_BOOL, 1));
  nbt_assert_shape(out, NB_SHAPE(1), "masked_select of 0-d");
  nbt_expect_null(nbk_index_select(s, 0, I64(1)), NB_ERR_INDEX, "index_select", "index 1",
                  "size 1");
  nbt_expect_null(nbk_index_select(s, 0, I64(0, 0)), NB_ERR_SHAPE, "index_select", "0-d");
  nb_scope_end();
}

Test(index, expanded_inputs) {
  /* Stride-0 (expanded) inputs read correctly. */
  nb_scope_begin();
  nb_tensor *row = nb_from_data(NB_DTYPE_FLOAT32, (float[]){1, 2, 3}, NB_SHAPE(1, 3));
  nb_tensor *x = nbk_expand(row, 2, (int64_t[]){2, 3});
  nb_tensor *out = nbk_cat((nb_tensor *[]){x, x}, 2, 1);
  nbt_assert_values(out, ((double[]){1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}), 12, 0, 0, "cat");
  out = nbk_gather(x, 1, nb_from_data(NB_DTYPE_INT64, (int64_t[]){2, 0}, NB_SHAPE(2, 1)));
  nbt_assert_values(out, ((double[]){3, 1}), 2, 0, 0, "gather");
  out = nbk_flip(x, NB_DIMS(1));
  nbt_assert_values(out, ((double[]){3, 2, 1, 3, 2, 1}), 6, 0, 0, "flip");
  /* An expanded index works for gather too. */
  nb_tensor *idx = nbk_expand(nb_from_data(NB_DTYPE_INT64, (int64_t[]){1}, NB_SHAPE(1, 1)), 2,
                              (int64_t[]){2, 2});
  out = nbk_gather(x, 1, idx);
  nbt_assert_values(out, ((double[]){2, 2, 2, 2}), 4, 0, 0, "gather expanded index");
  /* An expanded 1-D index repeats one slot: index_add accumulates every row. */
  nb_tensor *one = nbk_expand(I64(1), 1, (int64_t[]){4});
  out = nbk_index_add(nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(3)), 0, one,
                      nb_arange(NB_DTYPE_FLOAT64, 1, 5, 1));
  nbt_assert_values(out, ((double[]){0, 10, 0}), 3, 0, 0, "index_add expanded index");
  nb_scope_end();
}

/* ---- errors ---------------------------------------------------------------------- */

Test(index, cat_stack_errors) {
  nb_scope_begin();
  nb_tensor *a = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *b = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(3, 4));
  nb_tensor *c3 = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3, 1));
  nb_tensor *e = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0));
  nb_tensor *s = nb_scalar(NB_DTYPE_FLOAT32, 1);
  nbt_expect_null(nbk_cat((nb_tensor *[]){a, a, b}, 3, 0), NB_ERR_SHAPE, "cat", "input 2", "[3, 4]",
                  "[2, 3]", "dim 0");
  nbt_expect_null(nbk_cat((nb_tensor *[]){e, a, c3}, 3, 1), NB_ERR_SHAPE, "cat", "input 2",
                  "[2, 3, 1]", "input 1");
  nbt_expect_null(nbk_cat((nb_tensor *[]){a, s}, 2, 0), NB_ERR_SHAPE, "cat", "input 1", "0-d");
  nbt_expect_null(nbk_cat((nb_tensor *[]){a}, 0, 0), NB_ERR_ARG, "cat");
  nbt_expect_null(nbk_cat(NULL, 2, 0), NB_ERR_ARG, "cat");
  nbt_expect_null(nbk_cat((nb_tensor *[]){a, a}, 2, 2), NB_ERR_INDEX, "cat", "dim 2");
  nbt_expect_null(nbk_cat((nb_tensor *[]){e, e}, 2, 1), NB_ERR_INDEX, "cat", "dim 1");
  nbt_expect_null(nbk_stack((nb_tensor *[]){a, b}, 2, 0), NB_ERR_SHAPE, "stack", "input 1",
                  "[3, 4]", "[2, 3]");
  nbt_expect_null(nbk_stack((nb_tensor *[]){a, a}, 2, 3), NB_ERR_INDEX, "stack", "dim 3");
  nbt_expect_null(nbk_stack((nb_tensor *[]){a, a}, 2, -4), NB_ERR_INDEX, "stack", "dim -4");
  nb_tensor *ok = nbk_stack((nb_tensor *[]){a, a}, 2, -3);
  nbt_assert_shape(ok, NB_SHAPE(2, 2, 3), "stack dim -3");
  ok = nbk_stack((nb_tensor *[]){a, a}, 2, 2);
  nbt_assert_shape(ok, NB_SHAPE(2, 3, 2), "stack dim 2");
  nb_scope_end();
}

Test(index, index_value_errors) {
  nb_scope_begin();
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *bad = nb_from_data(NB_DTYPE_INT64, (int64_t[]){0, 1, 2, 0, 5, 1}, NB_SHAPE(2, 3));
  nb_tensor *neg = nb_from_data(NB_DTYPE_INT64, (int64_t[]){0, -1, 2, 0, 1, 1}, NB_SHAPE(2, 3));
  nb_tensor *src = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nbt_expect_null(nbk_gather(x, 1, bad), NB_ERR_INDEX, "gather", "index 5", "size 3", "[1, 1]");
  nbt_expect_null(nbk_gather(x, -1, neg), NB_ERR_INDEX, "gather", "index -1", "size 3");
  nbt_expect_null(nbk_scatter(x, 1, bad, src), NB_ERR_INDEX, "scatter", "index 5", "size 3");
  nbt_expect_null(nbk_scatter_add(x, 0, neg, src), NB_ERR_INDEX, "scatter_add", "index -1",
                  "size 2");
  nbt_expect_null(nbk_index_select(x, 0, I64(0, 2)), NB_ERR_INDEX, "index_select", "index 2",
                  "size 2");
  nbt_expect_null(nbk_index_select(x, 1, I64(-3)), NB_ERR_INDEX, "index_select", "index -3",
                  "size 3");
  nbt_expect_null(nbk_index_add(x, 1, I64(0, 3, 1), src), NB_ERR_INDEX, "index_add", "index 3",
                  "size 3");
  nb_tensor *empty = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 0));
  nbt_expect_null(nbk_index_select(empty, 1, I64(0)), NB_ERR_INDEX, "index_select", "size 0");
  nb_scope_end();
}

Test(index, index_shape_and_dtype_errors) {
  nb_scope_begin();
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *fidx = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *idx = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(2, 3));
  nb_tensor *src = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *src64 = nb_ones(NB_DTYPE_FLOAT64, NB_SHAPE(2, 3));
  nbt_expect_null(nbk_gather(x, 1, fidx), NB_ERR_DTYPE, "gather", "int64", "float32");
  nbt_expect_null(nbk_index_select(x, 1, fidx), NB_ERR_DTYPE, "index_select", "int64");
  nbt_expect_null(nbk_index_select(x, 1, idx), NB_ERR_SHAPE, "index_select", "1-D", "[2, 3]");
  nbt_expect_null(nbk_gather(x, 2, idx), NB_ERR_INDEX, "gather", "dim 2");
  nbt_expect_null(nbk_gather(x, 1, nb_zeros(NB_DTYPE_INT64, NB_SHAPE(3, 1))), NB_ERR_SHAPE,
                  "gather", "[3, 1]", "[2, 3]", "dim 0");
  nbt_expect_null(nbk_gather(x, 1, nb_zeros(NB_DTYPE_INT64, NB_SHAPE(6))), NB_ERR_SHAPE, "gather",
                  "[6]", "dims");
  nbt_expect_null(nbk_scatter(x, 1, idx, src64), NB_ERR_DTYPE, "scatter", "float64", "float32");
  nbt_expect_null(nbk_scatter(x, 1, idx, nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 2))), NB_ERR_SHAPE,
                  "scatter", "[2, 2]", "[2, 3]");
  nbt_expect_null(nbk_scatter_add(x, 0, nb_zeros(NB_DTYPE_INT64, NB_SHAPE(2, 4)),
                                  nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 4))),
                  NB_ERR_SHAPE, "scatter_add", "[2, 4]", "dim 1");
  nbt_expect_null(nbk_index_add(x, 0, I64(0, 1, 1), src), NB_ERR_SHAPE, "index_add", "[2, 3]", "3");
  nbt_expect_null(nbk_index_add(x, 0, I64(0, 1), src64), NB_ERR_DTYPE, "index_add", "float64");
  nb_scope_end();
}

Test(index, mask_one_hot_errors) {
  nb_scope_begin();
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *xi = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(2, 3));
  nb_tensor *m4 = nb_ones(NB_DTYPE_BOOL, NB_SHAPE(4));
  nb_tensor *mf = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3));
  nb_tensor *m23 = nb_ones(NB_DTYPE_BOOL, NB_SHAPE(2, 2, 3));
  nbt_expect_null(nbk_masked_fill(x, mf, 0), NB_ERR_DTYPE, "masked_fill", "bool", "float32");
  nbt_expect_null(nbk_masked_fill(x, m4, 0), NB_ERR_SHAPE, "masked_fill", "[4]", "[2, 3]");
  /* The mask broadcasts to x's shape, never the other way. */
  nbt_expect_null(nbk_masked_fill(x, m23, 0), NB_ERR_SHAPE, "masked_fill", "[2, 2, 3]");
  nbt_expect_null(nbk_masked_fill(xi, nb_ones(NB_DTYPE_BOOL, NB_SHAPE(3)), NAN), NB_ERR_ARG,
                  "masked_fill", "int64");
  nbt_expect_null(nbk_masked_select(x, m4), NB_ERR_SHAPE, "masked_select", "[4]", "[2, 3]");
  nbt_expect_null(nbk_masked_select(x, mf), NB_ERR_DTYPE, "masked_select", "bool");
  nb_tensor *labels = nb_from_data(NB_DTYPE_INT64, (int64_t[]){0, 1, 2, 7, 1, 0}, NB_SHAPE(2, 3));
  nbt_expect_null(nb_one_hot(labels, 5), NB_ERR_INDEX, "one_hot", "label 7", "[1, 0]", "5 classes");
  nbt_expect_null(nb_one_hot(labels, 0), NB_ERR_INDEX, "one_hot", "label 0", "[0, 0]");
  nb_tensor *negl = nb_from_data(NB_DTYPE_INT64, (int64_t[]){3, -2}, NB_SHAPE(2));
  nbt_expect_null(nb_one_hot(negl, -1), NB_ERR_INDEX, "one_hot", "label -2", "[1]", "negative");
  nbt_expect_null(nb_one_hot(nb_zeros(NB_DTYPE_INT64, NB_SHAPE(0)), -1), NB_ERR_ARG, "one_hot",
                  "empty");
  nbt_expect_null(nb_one_hot(x, 3), NB_ERR_DTYPE, "one_hot", "int64");
  nb_tensor *oh = nb_one_hot(nb_zeros(NB_DTYPE_INT64, NB_SHAPE(2)), 0);
  nbt_expect_null(oh, NB_ERR_INDEX, "one_hot", "label 0");
  nb_tensor *ok = nb_one_hot(nb_zeros(NB_DTYPE_INT64, NB_SHAPE(0, 2)), 0);
  nbt_assert_shape(ok, NB_SHAPE(0, 2, 0), "one_hot of empty labels, 0 classes");
  nb_scope_end();
}

Test(index, layout_errors) {
  nb_scope_begin();
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *xi = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(2, 3));
  nbt_expect_null(nbk_repeat(x, 1, (int64_t[]){2}), NB_ERR_ARG, "repeat", "[2, 3]");
  nbt_expect_null(nbk_repeat(x, 2, (int64_t[]){2, -1}), NB_ERR_ARG, "repeat", "-1", "negative");
  nbt_expect_null(nbk_repeat(x, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}), NB_ERR_ARG, "repeat");
  nbt_expect_null(nbk_repeat(x, 2, (int64_t[]){INT64_MAX, 3}), NB_ERR_MEMORY, "repeat");
  nbt_expect_null(nbk_flip(x, NB_DIMS(0, -2)), NB_ERR_ARG, "flip", "dim 0", "more than once");
  nbt_expect_null(nbk_flip(x, NB_DIMS(2)), NB_ERR_INDEX, "flip", "dim 2");
  nbt_expect_null(nbk_pad(x, 3, (int64_t[]){1, 1, 1}, 0), NB_ERR_ARG, "pad", "3", "even");
  nbt_expect_null(nbk_pad(x, 6, (int64_t[]){1, 1, 1, 1, 1, 1}, 0), NB_ERR_ARG, "pad", "6",
                  "[2, 3]");
  nbt_expect_null(nbk_pad(x, -2, (int64_t[]){1, 1}, 0), NB_ERR_ARG, "pad");
  nbt_expect_null(nbk_pad(x, 2, (int64_t[]){-2, -2}, 0), NB_ERR_SHAPE, "pad", "(-2, -2)", "dim 1",
                  "negative");
  nbt_expect_null(nbk_pad(x, 2, (int64_t[]){INT64_MAX, 1}, 0), NB_ERR_SHAPE, "pad", "overflow");
  nbt_expect_null(nbk_pad(xi, 2, (int64_t[]){1, 1}, NAN), NB_ERR_ARG, "pad", "int64");
  nbt_expect_null(nbk_pad(xi, 2, (int64_t[]){1, 1}, 1e30), NB_ERR_ARG, "pad", "int64");
  nb_scope_end();
}

Test(index, null_inputs_keep_first_error) {
  nb_scope_begin();
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *idx = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(2, 3));
  nb_tensor *idx1 = I64(0);
  nb_tensor *mask = nb_ones(NB_DTYPE_BOOL, NB_SHAPE(3));
  /* The first failure: an out-of-range index. */
  nb_tensor *failed = nbk_index_select(x, 0, I64(9));
  cr_assert_null(failed);
  char first[512];
  snprintf(first, sizeof first, "%s", nb_errmsg());
  cr_assert_not_null(strstr(first, "index 9"));
  nb_tensor *outs[] = {
      nbk_cat((nb_tensor *[]){x, failed}, 2, 0),
      nbk_stack((nb_tensor *[]){failed, x}, 2, 0),
      nbk_index_select(failed, 0, idx1),
      nbk_index_select(x, 0, failed),
      nbk_gather(failed, 0, idx),
      nbk_gather(x, 0, failed),
      nbk_scatter(x, 0, idx, failed),
      nbk_scatter_add(failed, 0, idx, x),
      nbk_index_add(x, 0, failed, x),
      nbk_masked_fill(failed, mask, 1),
      nbk_masked_fill(x, failed, 1),
      nbk_masked_select(failed, mask),
      nb_one_hot(failed, 3),
      nbk_repeat(failed, 2, (int64_t[]){1, 1}),
      nbk_flip(failed, NB_DIMS(0)),
      nbk_pad(failed, 2, (int64_t[]){1, 1}, 0),
  };
  for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
    cr_assert_null(outs[i], "call %zu returned a tensor", i);
    cr_assert_eq(nb_last_status(), NB_ERR_INDEX, "call %zu: status %s", i,
                 nb_status_str(nb_last_status()));
    cr_assert_str_eq(nb_errmsg(), first, "call %zu overwrote the first error", i);
  }
  /* Without an earlier error a NULL input reports NB_ERR_NULL naming the op. */
  nbt_expect_fail(nbk_flip(NULL, NB_DIMS(0)), NB_ERR_NULL, "flip");
  nbt_expect_fail(nbk_cat((nb_tensor *[]){x, NULL}, 2, 0), NB_ERR_NULL, "cat");
  nb_scope_end();
}

/* ---- threads ------------------------------------------------------------------------ */

/* Bitwise equality of two contiguous results. */
static void same_bits(nb_tensor *a, nb_tensor *b, const char *what) {
  cr_assert_not_null(a, "%s: %s", what, nb_errmsg());
  cr_assert_not_null(b, "%s: %s", what, nb_errmsg());
  nbt_assert_shape(b, nb_ndim(a), nb_shape(a), what);
  cr_assert_eq(nb_dtype_of(a), nb_dtype_of(b), "%s: dtypes", what);
  cr_assert(nb_is_contiguous(a) && nb_is_contiguous(b), "%s: not contiguous", what);
  size_t bytes = (size_t)nb_numel(a) * nb_dtype_size(nb_dtype_of(a));
  cr_assert(memcmp(nb_data(a), nb_data(b), bytes) == 0, "%s: 1 and 2 threads differ", what);
}

/* Evaluate EXPR with 1 and with 2 threads; the results must match bitwise.
 * The 1-thread result is left in OUT. */
#define THREADS_AGREE(OUT, EXPR, WHAT)                                                             \
  do {                                                                                             \
    nbt_assert_ok(nb_set_num_threads(1), "threads");                                               \
    OUT = (EXPR);                                                                                  \
    nbt_assert_ok(nb_set_num_threads(2), "threads");                                               \
    nb_tensor *two_ = (EXPR);                                                                      \
    same_bits(OUT, two_, WHAT);                                                                    \
  } while (0)

/* Serial reference for scatter_add of 2-D float32 tensors along dim. */
static nb_tensor *ref_scatter_add(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src) {
  nb_tensor *out = nbk_clone(x);
  const int64_t *sx = nb_shape(x), *si = nb_shape(index);
  const float *s = nb_data(src);
  const int64_t *ix = nb_data(index);
  float *o = nb_data(out);
  int64_t scols = nb_shape(src)[1];
  for (int64_t i = 0; i < si[0]; i++)
    for (int64_t j = 0; j < si[1]; j++) {
      int64_t k = ix[i * si[1] + j];
      o[dim == 0 ? k * sx[1] + j : i * sx[1] + k] += s[i * scols + j];
    }
  return out;
}

Test(index, threads_scatter_family) {
  nb_scope_begin();
  nb_manual_seed(7);
  /* Many duplicates along dim 0 (threads split the columns) and along dim 1
   * (threads split the rows). */
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(50, 400), NULL);
  nb_tensor *src = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(300, 800), NULL);
  nb_tensor *i0 = nb_randint(0, 50, NB_SHAPE(300, 400), NULL);
  nb_tensor *i1 = nb_randint(0, 400, NB_SHAPE(50, 800), NULL);
  nb_tensor *out;
  THREADS_AGREE(out, nbk_scatter_add(x, 0, i0, src), "scatter_add dim 0");
  nbt_assert_close(out, ref_scatter_add(x, 0, i0, src), 1e-5, 1e-5, "scatter_add dim 0 ref");
  THREADS_AGREE(out, nbk_scatter_add(x, 1, i1, src), "scatter_add dim 1");
  nbt_assert_close(out, ref_scatter_add(x, 1, i1, src), 1e-5, 1e-5, "scatter_add dim 1 ref");
  THREADS_AGREE(out, nbk_scatter(x, 0, i0, src), "scatter dim 0");
  THREADS_AGREE(out, nbk_scatter(x, 1, i1, src), "scatter dim 1");
  /* index_add is a scatter_add with the index broadcast along the other dims:
   * both accumulate in index order, so they agree bitwise. */
  nb_tensor *v = nb_randint(0, 50, NB_SHAPE(300), NULL);
  nb_tensor *s2 = nbk_narrow(src, 1, 0, 400);
  nb_tensor *v2 = nbk_expand(nbk_unsqueeze(v, 1), 2, (int64_t[]){300, 400});
  THREADS_AGREE(out, nbk_index_add(x, 0, v, s2), "index_add dim 0");
  same_bits(out, nbk_scatter_add(x, 0, v2, s2), "index_add vs scatter_add");
  nb_tensor *xt = nbk_contiguous(nbk_t(x));
  nb_tensor *w = nb_randint(0, 50, NB_SHAPE(500), NULL);
  nb_tensor *st = nbk_t(nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(500, 400), NULL)); /* [400, 500] */
  THREADS_AGREE(out, nbk_index_add(xt, 1, w, st), "index_add dim 1");
  /* 3-D along the middle dim: threads take blocks of rows. */
  nb_tensor *x3 = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(40, 30, 40), NULL);
  nb_tensor *i3 = nb_randint(0, 30, NB_SHAPE(40, 60, 40), NULL);
  nb_tensor *s3 = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(40, 60, 40), NULL);
  THREADS_AGREE(out, nbk_scatter_add(x3, 1, i3, s3), "scatter_add 3-D dim 1");
  THREADS_AGREE(out, nbk_scatter(x3, -2, i3, s3), "scatter 3-D dim 1");
  nb_scope_end();
}

Test(index, threads_gather_and_copies) {
  nb_scope_begin();
  nb_manual_seed(11);
  const int64_t R = 300, C = 400;
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(R, C), NULL);
  nb_tensor *xt = nbk_t(x); /* [C, R], non-contiguous */
  nb_tensor *idx = nb_randint(0, C, NB_SHAPE(R, C), NULL);
  nb_tensor *out;
  const float *xv = nb_data(x);
  const int64_t *iv = nb_data(idx);

  THREADS_AGREE(out, nbk_gather(x, 1, idx), "gather");
  const float *ov = nb_data(out);
  for (int64_t i = 0; i < R * C; i++)
    cr_assert(ov[i] == xv[(i / C) * C + iv[i]], "gather element %lld", (long long)i);
  THREADS_AGREE(out, nbk_gather(xt, 0, nbk_t(idx)), "gather transposed");
  nb_tensor *want = nbk_t(nbk_gather(x, 1, idx));
  nbt_assert_close(out, nbk_contiguous(want), 0, 0, "gather transposed vs gather");

  THREADS_AGREE(out, nbk_flip(x, NB_DIMS(0, 1)), "flip");
  ov = nb_data(out);
  for (int64_t i = 0; i < R * C; i++)
    cr_assert(ov[i] == xv[R * C - 1 - i], "flip element %lld", (long long)i);
  THREADS_AGREE(out, nbk_flip(xt, NB_DIMS(1)), "flip transposed");
  ov = nb_data(out);
  for (int64_t i = 0; i < C * R; i++)
    cr_assert(ov[i] == xv[(R - 1 - i % R) * C + i / R], "flip transposed element %lld",
              (long long)i);

  nb_tensor *rows = nb_randint(0, R, NB_SHAPE(500), NULL);
  THREADS_AGREE(out, nbk_index_select(x, 0, rows), "index_select dim 0");
  ov = nb_data(out);
  const int64_t *rv = nb_data(rows);
  for (int64_t i = 0; i < 500 * C; i++)
    cr_assert(ov[i] == xv[rv[i / C] * C + i % C], "index_select element %lld", (long long)i);
  nb_tensor *cols = nb_randint(0, C, NB_SHAPE(500), NULL);
  THREADS_AGREE(out, nbk_index_select(x, 1, cols), "index_select dim 1");

  nb_tensor *mask = nb_bernoulli(NB_DTYPE_BOOL, NB_SHAPE(C), 0.5, NULL);
  THREADS_AGREE(out, nbk_masked_fill(x, mask, -7), "masked_fill");
  THREADS_AGREE(out, nbk_masked_select(x, mask), "masked_select");
  THREADS_AGREE(out, nbk_cat((nb_tensor *[]){x, nbk_to(x, NB_DTYPE_FLOAT64)}, 2, 1), "cat");
  THREADS_AGREE(out, nbk_stack((nb_tensor *[]){x, x}, 2, 2), "stack");
  THREADS_AGREE(out, nbk_repeat(xt, 3, (int64_t[]){2, 1, 2}), "repeat");
  THREADS_AGREE(out, nbk_pad(xt, 4, (int64_t[]){1, -2, 3, 4}, 0.5), "pad");
  nb_tensor *labels = nb_randint(0, 10, NB_SHAPE(5000), NULL);
  THREADS_AGREE(out, nb_one_hot(labels, -1), "one_hot");
  nb_scope_end();
}
