/* tests/tensor/test_view.c - views (tensor/view.c) and the layout changes of
 * tensor/copy.c on non-contiguous views.
 *
 * Checks each view's shape, strides and offset against what PyTorch 1.13
 * gives for the same call (values noted beside each case were read from
 * torch), its values (through nb_copy_out / nb_get), that it shares storage
 * and writes through to the base, reshape's view-or-copy rule
 * (computeStride), errors, empty and 0-d tensors, and the live-tensor count.
 */
#include "support/nbtest.h"

#include <string.h>

TestSuite(view, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

#define STR(...) ((const int64_t[]){__VA_ARGS__})

/* Assert t's shape, strides and offset. */
static void expect_layout_at(const char *file, int line, nb_tensor *t, int ndim,
                             const int64_t *shape, const int64_t *strides, int64_t offset,
                             const char *what) {
  nbt_assert_shape_at(file, line, t, ndim, shape, what);
  for (int i = 0; i < ndim; i++)
    if (nb_strides(t)[i] != strides[i])
      nbt_fail_at(file, line, "%s: stride %d is %lld, expected %lld", what, i,
                  (long long)nb_strides(t)[i], (long long)strides[i]);
  if (nb_offset(t) != offset)
    nbt_fail_at(file, line, "%s: offset %lld, expected %lld", what, (long long)nb_offset(t),
                (long long)offset);
}
#define expect_layout(t, shape, strides, offset, what)                                             \
  expect_layout_at(__FILE__, __LINE__, (t), shape, (strides), (offset), (what))

/* expect_values(t, "what", v0, v1, ...): t's values in row-major order. */
#define expect_values(t, what, ...)                                                                \
  nbt_assert_values((t), ((const double[]){__VA_ARGS__}),                                          \
                    (int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)), NBT_TOL_DEFAULT,  \
                    0.0, (what))

/* 0, 1, ..., n-1 as float32 shaped `shape` (a new reference, or the open scope's). */
static nb_tensor *iota(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  nb_tensor *a = nb_arange(NB_DTYPE_FLOAT32, 0, (double)n, 1);
  nb_tensor *r = nbk_reshape(a, ndim, shape);
  nb_free(a);
  cr_assert(r && nb_is_contiguous(r), "iota: %s", nb_errmsg());
  return r;
}

static int64_t live_tensors(void) {
  nb_mem_stats s;
  nb_mem_stats_get(&s);
  return s.live_tensors;
}

/* ---- reshape / view -------------------------------------------------------- */

Test(view, reshape_contiguous_is_view) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(24));
  nb_tensor *r = nbk_reshape(x, NB_SHAPE(2, 3, 4));
  expect_layout(r, NB_SHAPE(2, 3, 4), STR(12, 4, 1), 0, "reshape [2,3,4]");
  cr_expect(nb_shares_storage(r, x));
  nb_tensor *r2 = nbk_reshape(r, NB_SHAPE(4, -1));
  expect_layout(r2, NB_SHAPE(4, 6), STR(6, 1), 0, "reshape [4,-1]");
  cr_expect(nb_shares_storage(r2, x));
  const int64_t idx[] = {2, 3};
  cr_expect_float_eq(nb_get(r2, idx), 15.0, 1e-12);
  nb_tensor *v = nbk_view(r, NB_SHAPE(-1));
  expect_layout(v, NB_SHAPE(24), STR(1), 0, "view [-1]");
  /* 0-d <-> [1, 1] */
  nb_tensor *s = nb_scalar(NB_DTYPE_FLOAT64, 2.5);
  nb_tensor *s11 = nbk_reshape(s, NB_SHAPE(1, 1));
  expect_layout(s11, NB_SHAPE(1, 1), STR(1, 1), 0, "0-d to [1,1]");
  nb_tensor *back = nbk_view(s11, NB_SCALAR_SHAPE);
  expect_layout(back, NB_SCALAR_SHAPE, NULL, 0, "[1,1] to 0-d");
  cr_expect_float_eq(nb_item(back), 2.5, 1e-12);
  cr_expect(nb_shares_storage(back, s));
  nb_scope_end();
}

/* PyTorch's computeStride: strides of x.view(new) for x = as_strided(shape,
 * strides), or a failure (reshape copies then), as torch 1.13 reports. */
typedef struct {
  int ndim;
  int64_t shape[4], strides[4];
  int new_ndim;
  int64_t new_shape[4];
  bool viewable;
  int64_t new_strides[4];
} stride_case;

Test(view, compute_stride_matches_pytorch) {
  static const stride_case cases[] = {
      {3, {2, 3, 4}, {12, 4, 1}, 2, {6, 4}, true, {4, 1}},
      {3, {2, 3, 4}, {12, 4, 1}, 2, {2, 12}, true, {12, 1}},
      {2, {4, 3}, {1, 4}, 3, {2, 2, 3}, true, {2, 1, 4}},
      {2, {4, 3}, {1, 4}, 1, {12}, false, {0}},
      {2, {4, 3}, {1, 4}, 3, {4, 3, 1}, true, {1, 4, 4}},
      {2, {4, 3}, {1, 4}, 4, {1, 4, 1, 3}, true, {4, 1, 12, 4}},
      {3, {2, 3, 4}, {1, 8, 2}, 2, {2, 12}, true, {1, 2}},
      {3, {2, 3, 4}, {1, 8, 2}, 4, {2, 3, 2, 2}, true, {1, 8, 4, 2}},
      {3, {2, 3, 4}, {24, 8, 2}, 2, {6, 4}, true, {8, 2}},
      {3, {2, 3, 4}, {24, 8, 2}, 2, {2, 12}, true, {24, 2}},
      {3, {3, 1, 4}, {4, 100, 1}, 1, {12}, true, {1}},
      {3, {3, 1, 4}, {4, 100, 1}, 2, {3, 4}, true, {4, 1}},
      {2, {2, 2}, {0, 1}, 1, {4}, false, {0}},
      {2, {2, 2}, {0, 1}, 3, {2, 1, 2}, true, {0, 2, 1}},
      {1, {6}, {2}, 2, {2, 3}, true, {6, 2}},
      {1, {6}, {2}, 3, {3, 1, 2}, true, {4, 4, 2}},
      {1, {1}, {5}, 0, {0}, true, {0}},
      {3, {2, 1, 3}, {3, 7, 1}, 3, {1, 6, 1}, true, {6, 1, 1}},
      {1, {4}, {0}, 2, {2, 2}, true, {0, 0}},
  };
  static float buf[200];
  for (int i = 0; i < 200; i++) buf[i] = (float)i;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const stride_case *c = &cases[k];
    char what[64];
    snprintf(what, sizeof what, "case %zu", k);
    nb_tensor *x = nb_from_blob(NB_DTYPE_FLOAT32, buf, c->ndim, c->shape, c->strides, NULL, NULL);
    cr_assert(x, "%s", nb_errmsg());
    nb_tensor *v = nbk_view(x, c->new_ndim, c->new_shape);
    nb_tensor *r = nbk_reshape(x, c->new_ndim, c->new_shape);
    cr_assert(r, "%s: reshape failed: %s", what, nb_errmsg());
    /* Either way reshape's values are x's in row-major order. */
    nb_tensor *flat_x = nbk_clone(x);
    double xs[64], rs[64];
    int64_t n = nb_numel(x);
    cr_assert(nb_copy_out(flat_x, NB_DTYPE_FLOAT64, xs, n) == NB_OK);
    cr_assert(nb_copy_out(r, NB_DTYPE_FLOAT64, rs, n) == NB_OK);
    for (int64_t j = 0; j < n; j++)
      cr_expect_float_eq(rs[j], xs[j], 1e-12, "%s elem %lld", what, (long long)j);
    if (c->viewable) {
      expect_layout_at(__FILE__, __LINE__, v, c->new_ndim, c->new_shape, c->new_strides, 0, what);
      expect_layout_at(__FILE__, __LINE__, r, c->new_ndim, c->new_shape, c->new_strides, 0, what);
      cr_expect(nb_shares_storage(r, x), "%s: reshape should be a view", what);
    } else {
      cr_expect_null(v, "%s: view should fail", what);
      cr_expect_eq(nb_last_status(), NB_ERR_SHAPE);
      cr_expect(!nb_shares_storage(r, x), "%s: reshape should copy", what);
      cr_expect(nb_is_contiguous(r));
    }
    nb_free(flat_x);
    nb_free(r);
    nb_free(v);
    nb_free(x);
    nb_clear_error();
  }
}

Test(view, reshape_of_permuted_is_view) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(2, 3, 4));
  nb_tensor *p = nbk_permute(x, 3, (const int[]){2, 0, 1});
  expect_layout(p, NB_SHAPE(4, 2, 3), STR(1, 12, 4), 0, "permute");
  nb_tensor *r = nbk_reshape(p, NB_SHAPE(4, 6)); /* torch: strides (1, 4) */
  expect_layout(r, NB_SHAPE(4, 6), STR(1, 4), 0, "reshape of permuted");
  cr_expect(nb_shares_storage(r, x));
  expect_values(r, "reshape values", 0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22,
                3, 7, 11, 15, 19, 23);
  nb_scope_end();
}

Test(view, reshape_copies_when_needed) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(3, 4));
  nb_tensor *t = nbk_transpose(x, 0, 1);
  nb_tensor *r = nbk_reshape(t, NB_SHAPE(12));
  expect_layout(r, NB_SHAPE(12), STR(1), 0, "reshape of transposed");
  cr_expect(!nb_shares_storage(r, x), "reshape of a transposed tensor must copy");
  expect_values(r, "copied values", 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11);
  nb_tensor *f = nbk_flatten(t, 0, -1);
  cr_expect(!nb_shares_storage(f, x));
  expect_values(f, "flatten copy", 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11);
  /* The copy is independent of the base. */
  nbt_assert_ok(nb_fill_(r, -1), "fill copy");
  const int64_t i0[] = {0, 1};
  cr_expect_float_eq(nb_get(x, i0), 1.0, 1e-12);
  nb_scope_end();
}

Test(view, view_fails_when_not_viewable) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(3, 4));
  nb_tensor *t = nbk_t(x);
  nbt_expect_null(nbk_view(t, NB_SHAPE(12)), NB_ERR_SHAPE, "view", "[12]", "[4, 3]", "reshape");
  nb_tensor *cols = nbk_slice(x, 1, 1, 3, 1);
  nbt_expect_null(nbk_view(cols, NB_SHAPE(6)), NB_ERR_SHAPE, "view", "[6]", "[3, 2]");
  /* x[:, ::2] has strides (4, 2): its dims merge, so it is viewable */
  nb_tensor *step = nbk_slice(x, 1, 0, 4, 2);
  expect_layout(nbk_view(step, NB_SHAPE(6)), NB_SHAPE(6), STR(2), 0, "view of x[:, ::2]");
  nb_scope_end();
}

Test(view, reshape_errors) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(24));
  nbt_expect_null(nbk_reshape(x, NB_SHAPE(5)), NB_ERR_SHAPE, "reshape", "[5]", "[24]");
  nbt_expect_null(nbk_reshape(x, NB_SHAPE(-1, -1)), NB_ERR_SHAPE, "reshape", "-1");
  nbt_expect_null(nbk_reshape(x, NB_SHAPE(5, -1)), NB_ERR_SHAPE, "reshape", "[5, -1]", "[24]");
  nbt_expect_null(nbk_reshape(x, NB_SHAPE(-2, -12)), NB_ERR_SHAPE, "reshape");
  nbt_expect_null(nbk_view(x, NB_SHAPE(1, 1, 1, 1, 1, 1, 1, 1, 24)), NB_ERR_SHAPE, "view",
                  "9 dims");
  nbt_expect_null(nbk_reshape(x, 2, NULL), NB_ERR_ARG, "reshape", "NULL");
  nb_tensor *e = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0, 3));
  nbt_expect_null(nbk_reshape(e, NB_SHAPE(0, -1)), NB_ERR_SHAPE, "reshape", "ambiguous");
  /* Shape products are overflow-checked. */
  const int64_t big = (int64_t)1 << 40;
  nbt_expect_null(nbk_reshape(e, NB_SHAPE(big, big, 0)), NB_ERR_MEMORY, "reshape", "64 bits");
  nb_tensor *e2 = nbk_reshape(e, NB_SHAPE(3, 0)); /* torch: strides (1, 1) */
  expect_layout(e2, NB_SHAPE(3, 0), STR(1, 1), 0, "empty reshape");
  /* NULL input keeps the earlier error. */
  nb_set_error(NB_ERR_IO, "earlier");
  cr_expect_null(nbk_reshape(NULL, NB_SHAPE(2)));
  cr_expect_null(nbk_view(NULL, NB_SHAPE(2)));
  cr_expect_eq(nb_last_status(), NB_ERR_IO);
  cr_expect_str_eq(nb_errmsg(), "earlier");
  nb_clear_error();
  nb_scope_end();
}

/* ---- flatten / unflatten --------------------------------------------------- */

Test(view, flatten) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(2, 3, 4));
  expect_layout(nbk_flatten(x, 1, 2), NB_SHAPE(2, 12), STR(12, 1), 0, "flatten(1,2)");
  expect_layout(nbk_flatten(x, 0, -1), NB_SHAPE(24), STR(1), 0, "flatten(0,-1)");
  expect_layout(nbk_flatten(x, -3, -2), NB_SHAPE(6, 4), STR(4, 1), 0, "flatten(-3,-2)");
  nb_tensor *same = nbk_flatten(x, 1, 1);
  expect_layout(same, NB_SHAPE(2, 3, 4), STR(12, 4, 1), 0, "flatten(1,1)");
  cr_expect(nb_shares_storage(same, x));
  /* A viewable flatten of a permuted tensor stays a view. */
  nb_tensor *p = nbk_permute(x, 3, (const int[]){2, 0, 1});
  nb_tensor *fp = nbk_flatten(p, 1, 2);
  expect_layout(fp, NB_SHAPE(4, 6), STR(1, 4), 0, "flatten of permuted");
  cr_expect(nb_shares_storage(fp, x));
  /* 0-d flattens to [1]. */
  nb_tensor *s = nb_scalar(NB_DTYPE_INT64, 7);
  nb_tensor *fs = nbk_flatten(s, 0, -1);
  expect_layout(fs, NB_SHAPE(1), STR(1), 0, "flatten 0-d");
  expect_values(fs, "flatten 0-d value", 7);
  cr_expect(nb_shares_storage(fs, s));
  nbt_expect_null(nbk_flatten(x, 2, 1), NB_ERR_ARG, "flatten", "start_dim");
  nbt_expect_null(nbk_flatten(x, 0, 3), NB_ERR_INDEX, "flatten", "dim 3");
  nb_scope_end();
}

Test(view, unflatten) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(2, 12));
  nb_tensor *u = nbk_unflatten(x, 1, 2, STR(3, -1));
  expect_layout(u, NB_SHAPE(2, 3, 4), STR(12, 4, 1), 0, "unflatten");
  cr_expect(nb_shares_storage(u, x));
  const int64_t idx[] = {1, 2, 3};
  cr_expect_float_eq(nb_get(u, idx), 23.0, 1e-12);
  /* Splitting a dim of a transposed tensor is always a view. */
  nb_tensor *t = nbk_t(iota(NB_SHAPE(3, 4)));
  nb_tensor *ut = nbk_unflatten(t, 0, 2, STR(2, 2));
  expect_layout(ut, NB_SHAPE(2, 2, 3), STR(2, 1, 4), 0, "unflatten transposed");
  expect_values(ut, "unflatten transposed values", 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11);
  expect_layout(nbk_unflatten(x, -1, 3, STR(2, 3, 2)), NB_SHAPE(2, 2, 3, 2), STR(12, 6, 2, 1), 0,
                "unflatten -1");
  nbt_expect_null(nbk_unflatten(x, 1, 2, STR(5, 2)), NB_ERR_SHAPE, "unflatten", "[5, 2]",
                  "[2, 12]");
  nbt_expect_null(nbk_unflatten(x, 2, 2, STR(3, 4)), NB_ERR_INDEX, "unflatten", "dim 2");
  nbt_expect_null(nbk_unflatten(x, 1, 0, STR(1)), NB_ERR_ARG, "unflatten");
  nbt_expect_null(nbk_unflatten(nb_scalar(NB_DTYPE_FLOAT32, 1), 0, 1, STR(1)), NB_ERR_INDEX,
                  "unflatten", "0-d");
  nb_scope_end();
}

/* ---- squeeze / unsqueeze / transpose / permute / t ------------------------- */

Test(view, squeeze) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(1, 3, 1, 2));
  nb_tensor *all = nbk_squeeze(x, NB_NO_DIM);
  expect_layout(all, NB_SHAPE(3, 2), STR(2, 1), 0, "squeeze all");
  cr_expect(nb_shares_storage(all, x));
  expect_values(all, "squeeze values", 0, 1, 2, 3, 4, 5);
  expect_layout(nbk_squeeze(x, 0), NB_SHAPE(3, 1, 2), STR(2, 2, 1), 0, "squeeze(0)");
  expect_layout(nbk_squeeze(x, -2), NB_SHAPE(1, 3, 2), STR(6, 2, 1), 0, "squeeze(-2)");
  /* A dim that is not size 1 is left alone, as in PyTorch. */
  expect_layout(nbk_squeeze(x, 1), NB_SHAPE(1, 3, 1, 2), STR(6, 2, 2, 1), 0, "squeeze(1)");
  nb_tensor *s = nb_scalar(NB_DTYPE_BOOL, 1);
  expect_layout(nbk_squeeze(s, 0), NB_SCALAR_SHAPE, NULL, 0, "squeeze 0-d");
  expect_layout(nbk_squeeze(s, NB_NO_DIM), NB_SCALAR_SHAPE, NULL, 0, "squeeze 0-d all");
  nbt_expect_null(nbk_squeeze(x, 4), NB_ERR_INDEX, "squeeze", "dim 4");
  nb_scope_end();
}

Test(view, unsqueeze) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(2, 3));
  expect_layout(nbk_unsqueeze(x, 0), NB_SHAPE(1, 2, 3), STR(6, 3, 1), 0, "unsqueeze(0)");
  expect_layout(nbk_unsqueeze(x, 1), NB_SHAPE(2, 1, 3), STR(3, 3, 1), 0, "unsqueeze(1)");
  expect_layout(nbk_unsqueeze(x, -1), NB_SHAPE(2, 3, 1), STR(3, 1, 1), 0, "unsqueeze(-1)");
  nb_tensor *s = nb_scalar(NB_DTYPE_FLOAT32, 4);
  nb_tensor *us = nbk_unsqueeze(s, 0);
  expect_layout(us, NB_SHAPE(1), STR(1), 0, "unsqueeze 0-d");
  cr_expect(nb_shares_storage(us, s));
  nbt_expect_null(nbk_unsqueeze(x, 3), NB_ERR_INDEX, "unsqueeze", "dim 3");
  nb_tensor *eight = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1, 1, 1, 1, 1, 1, 1, 2));
  nbt_expect_null(nbk_unsqueeze(eight, 0), NB_ERR_SHAPE, "unsqueeze", "8 dims");
  /* torch: zeros(0,3).unsqueeze(1).stride() == (3, 3, 1) */
  nb_tensor *e = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0, 3));
  expect_layout(nbk_unsqueeze(e, 1), NB_SHAPE(0, 1, 3), STR(3, 3, 1), 0, "unsqueeze empty");
  nb_scope_end();
}

Test(view, transpose_permute_t) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(2, 3, 4));
  nb_tensor *t = nbk_transpose(x, 0, -1);
  expect_layout(t, NB_SHAPE(4, 3, 2), STR(1, 4, 12), 0, "transpose(0,-1)");
  cr_expect(!nb_is_contiguous(t));
  const int64_t idx[] = {3, 1, 1};
  cr_expect_float_eq(nb_get(t, idx), 12.0 + 4.0 + 3.0, 1e-12);
  nb_tensor *p = nbk_permute(x, 3, (const int[]){1, -1, 0});
  expect_layout(p, NB_SHAPE(3, 4, 2), STR(4, 1, 12), 0, "permute(1,-1,0)");
  expect_values(p, "permute values", 0, 12, 1, 13, 2, 14, 3, 15, 4, 16, 5, 17, 6, 18, 7, 19, 8, 20,
                9, 21, 10, 22, 11, 23);
  nbt_expect_null(nbk_permute(x, 3, (const int[]){0, 0, 1}), NB_ERR_ARG, "permute", "permutation");
  nbt_expect_null(nbk_permute(x, 3, (const int[]){0, 1, -2}), NB_ERR_ARG, "permute", "permutation");
  nbt_expect_null(nbk_permute(x, 2, (const int[]){0, 1}), NB_ERR_ARG, "permute", "[2, 3, 4]");
  nbt_expect_null(nbk_permute(x, 3, (const int[]){0, 1, 3}), NB_ERR_INDEX, "permute", "dim 3");
  nbt_expect_null(nbk_transpose(x, 0, 5), NB_ERR_INDEX, "transpose", "dim 5");
  nb_tensor *m = iota(NB_SHAPE(2, 3));
  nb_tensor *mt = nbk_t(m);
  expect_layout(mt, NB_SHAPE(3, 2), STR(1, 3), 0, "t 2-d");
  expect_values(mt, "t values", 0, 3, 1, 4, 2, 5);
  expect_layout(nbk_t(iota(NB_SHAPE(5))), NB_SHAPE(5), STR(1), 0, "t 1-d");
  expect_layout(nbk_t(nb_scalar(NB_DTYPE_FLOAT32, 1)), NB_SCALAR_SHAPE, NULL, 0, "t 0-d");
  nbt_expect_null(nbk_t(x), NB_ERR_SHAPE, "t:", "[2, 3, 4]");
  nb_scope_end();
}

/* ---- slice / narrow / select ------------------------------------------------ */

Test(view, slice) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(10));
  nb_tensor *s = nbk_slice(x, 0, 1, 8, 3);
  expect_layout(s, NB_SHAPE(3), STR(3), 1, "x[1:8:3]");
  expect_values(s, "x[1:8:3] values", 1, 4, 7);
  cr_expect(nb_shares_storage(s, x));
  expect_values(nbk_slice(x, 0, -3, 100, 1), "x[-3:100]", 7, 8, 9);
  expect_values(nbk_slice(x, -1, -100, 2, 1), "x[-100:2]", 0, 1);
  expect_values(nbk_slice(x, 0, 0, -7, 2), "x[:-7:2]", 0, 2);
  expect_values(nbk_slice(x, 0, 9, 10, 5), "x[9:10:5]", 9);
  nb_tensor *empty = nbk_slice(x, 0, 6, 2, 1);
  expect_layout(empty, NB_SHAPE(0), STR(1), 6, "x[6:2]");
  nb_tensor *m = iota(NB_SHAPE(2, 3));
  /* torch: a[:, 0:10:100].stride() == (3, 100); a[:, 5:1] offset 3 */
  expect_layout(nbk_slice(m, 1, 0, 10, 100), NB_SHAPE(2, 1), STR(3, 100), 0, "a[:, 0:10:100]");
  expect_layout(nbk_slice(m, 1, 5, 1, 1), NB_SHAPE(2, 0), STR(3, 1), 3, "a[:, 5:1]");
  nb_tensor *cols = nbk_slice(m, 1, 0, 3, 2);
  expect_layout(cols, NB_SHAPE(2, 2), STR(3, 2), 0, "a[:, ::2]");
  expect_values(cols, "a[:, ::2] values", 0, 2, 3, 5);
  nbt_expect_null(nbk_slice(x, 0, 0, 5, 0), NB_ERR_ARG, "slice", "step 0");
  nbt_expect_null(nbk_slice(x, 1, 0, 5, 1), NB_ERR_INDEX, "slice", "dim 1");
  nbt_expect_null(nbk_slice(nb_scalar(NB_DTYPE_FLOAT32, 1), 0, 0, 1, 1), NB_ERR_INDEX, "slice",
                  "0-d");
  nb_scope_end();
}

Test(view, narrow) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(3, 5));
  nb_tensor *n = nbk_narrow(x, 1, 1, 3);
  expect_layout(n, NB_SHAPE(3, 3), STR(5, 1), 1, "narrow(1,1,3)");
  expect_values(n, "narrow values", 1, 2, 3, 6, 7, 8, 11, 12, 13);
  expect_values(nbk_narrow(x, 0, -1, 1), "narrow(0,-1,1)", 10, 11, 12, 13, 14);
  expect_layout(nbk_narrow(x, 1, 5, 0), NB_SHAPE(3, 0), STR(5, 1), 5, "narrow empty");
  nbt_expect_null(nbk_narrow(x, 1, 3, 3), NB_ERR_INDEX, "narrow", "start 3", "length 3", "size 5");
  nbt_expect_null(nbk_narrow(x, 1, 6, 0), NB_ERR_INDEX, "narrow", "start 6");
  nbt_expect_null(nbk_narrow(x, 1, -6, 1), NB_ERR_INDEX, "narrow", "start -6");
  nbt_expect_null(nbk_narrow(x, 1, 0, -1), NB_ERR_INDEX, "narrow", "length -1");
  nb_scope_end();
}

Test(view, select) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(2, 3, 4));
  nb_tensor *s = nbk_select(x, 1, -1);
  expect_layout(s, NB_SHAPE(2, 4), STR(12, 1), 8, "select(1,-1)");
  expect_values(s, "select values", 8, 9, 10, 11, 20, 21, 22, 23);
  nb_tensor *v = iota(NB_SHAPE(5));
  nb_tensor *e = nbk_select(v, 0, 3);
  expect_layout(e, NB_SCALAR_SHAPE, NULL, 3, "select to 0-d");
  cr_expect_float_eq(nb_item(e), 3.0, 1e-12);
  nbt_expect_null(nbk_select(x, 1, 3), NB_ERR_INDEX, "select", "index 3", "size 3");
  nbt_expect_null(nbk_select(x, 2, -5), NB_ERR_INDEX, "select", "index -5", "size 4");
  nbt_expect_null(nbk_select(nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0, 2)), 0, 0), NB_ERR_INDEX,
                  "select", "size 0");
  nbt_expect_null(nbk_select(x, -4, 0), NB_ERR_INDEX, "select", "dim -4");
  nb_scope_end();
}

/* ---- expand / broadcast_to / unfold ----------------------------------------- */

Test(view, expand) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(3, 1));
  nb_tensor *e = nbk_expand(x, NB_SHAPE(2, 3, 4));
  expect_layout(e, NB_SHAPE(2, 3, 4), STR(0, 1, 0), 0, "expand [2,3,4]");
  cr_expect(nb_shares_storage(e, x));
  const int64_t idx[] = {1, 2, 3};
  cr_expect_float_eq(nb_get(e, idx), 2.0, 1e-12);
  expect_layout(nbk_expand(x, NB_SHAPE(-1, 5)), NB_SHAPE(3, 5), STR(1, 0), 0, "expand -1");
  expect_layout(nbk_broadcast_to(x, NB_SHAPE(3, 0)), NB_SHAPE(3, 0), STR(1, 0), 0, "to size 0");
  /* torch: ones(3).expand(1,1,3).stride() == (3, 3, 1); 0-d expands with 0 strides */
  expect_layout(nbk_expand(iota(NB_SHAPE(3)), NB_SHAPE(1, 1, 3)), NB_SHAPE(1, 1, 3), STR(3, 3, 1),
                0, "new leading size-1 dims");
  nb_tensor *s = nb_scalar(NB_DTYPE_FLOAT64, 1.5);
  nb_tensor *es = nbk_broadcast_to(s, NB_SHAPE(2, 2));
  expect_layout(es, NB_SHAPE(2, 2), STR(0, 0), 0, "0-d broadcast_to");
  expect_values(es, "0-d expanded values", 1.5, 1.5, 1.5, 1.5);
  nbt_expect_null(nbk_expand(x, NB_SHAPE(4, 4)), NB_ERR_SHAPE, "expand", "[3, 1]", "[4, 4]",
                  "non-singleton");
  nbt_expect_null(nbk_broadcast_to(x, NB_SHAPE(-1, 3, 4)), NB_ERR_SHAPE, "broadcast_to", "-1");
  nbt_expect_null(nbk_expand(x, NB_SHAPE(4)), NB_ERR_SHAPE, "expand", "[3, 1]");
  nbt_expect_null(nbk_expand(x, NB_SHAPE(3, -2)), NB_ERR_SHAPE, "expand", "negative");
  const int64_t big = (int64_t)1 << 40;
  nbt_expect_null(nbk_expand(x, NB_SHAPE(big, big, 3, 1)), NB_ERR_MEMORY, "expand");
  nb_scope_end();
}

Test(view, unfold) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(7));
  nb_tensor *u = nbk_unfold(x, 0, 3, 2);
  expect_layout(u, NB_SHAPE(3, 3), STR(2, 1), 0, "unfold(0,3,2)");
  expect_values(u, "unfold values", 0, 1, 2, 2, 3, 4, 4, 5, 6);
  cr_expect(nb_shares_storage(u, x));
  /* torch: zeros(2,3,4).unfold(1,2,1) -> [2,2,4,2] strides (12,4,1,4) */
  expect_layout(nbk_unfold(iota(NB_SHAPE(2, 3, 4)), 1, 2, 1), NB_SHAPE(2, 2, 4, 2),
                STR(12, 4, 1, 4), 0, "unfold 3-d");
  expect_layout(nbk_unfold(nb_scalar(NB_DTYPE_FLOAT32, 3), 0, 1, 1), NB_SHAPE(1), STR(1), 0,
                "unfold 0-d");
  expect_layout(nbk_unfold(x, 0, 0, 3), NB_SHAPE(3, 0), STR(3, 1), 0, "unfold size 0");
  nbt_expect_null(nbk_unfold(x, 0, 8, 1), NB_ERR_SHAPE, "unfold", "size 8");
  nbt_expect_null(nbk_unfold(x, 0, 2, 0), NB_ERR_ARG, "unfold", "step 0");
  nb_scope_end();
}

/* ---- split / split_sizes / chunk --------------------------------------------- */

static void expect_pieces(nb_tensor **out, int n, int dim, const int64_t *sizes,
                          const int64_t *offsets) {
  for (int i = 0; i < n; i++) {
    cr_assert(out[i]);
    cr_expect_eq(nb_shape(out[i])[dim], sizes[i], "piece %d size %lld", i,
                 (long long)nb_shape(out[i])[dim]);
    cr_expect_eq(nb_offset(out[i]), offsets[i], "piece %d offset", i);
  }
}

Test(view, split) {
  nb_tensor *x = iota(NB_SHAPE(10));
  nb_tensor *out[8];
  int64_t before = live_tensors();
  int n = nbk_split(x, 3, 0, out, 8);
  cr_assert_eq(n, 4);
  cr_expect_eq(live_tensors(), before + 4);
  expect_pieces(out, 4, 0, STR(3, 3, 3, 1), STR(0, 3, 6, 9));
  expect_values(out[1], "piece 1", 3, 4, 5);
  for (int i = 0; i < n; i++) {
    cr_expect(nb_shares_storage(out[i], x));
    nb_free(out[i]);
  }
  cr_expect_eq(live_tensors(), before);
  /* capacity too small: nothing made, nothing leaked */
  nbt_expect_status(nbk_split(x, 3, 0, out, 3), NB_ERR_ARG, "split", "4 pieces", "3");
  cr_expect_eq(live_tensors(), before);
  nbt_expect_status(nbk_split(x, 0, 0, out, 8), NB_ERR_ARG, "split", "split_size 0");
  nbt_expect_status(nbk_split(x, -2, 0, out, 8), NB_ERR_ARG, "split");
  nbt_expect_status(nbk_split(x, 2, 1, out, 8), NB_ERR_INDEX, "split", "dim 1");
  nbt_expect_status(nbk_split(x, 2, 0, NULL, 8), NB_ERR_ARG, "split", "NULL");
  nb_clear_error();
  nbt_expect_status(nbk_split(NULL, 2, 0, out, 8), NB_ERR_NULL, "split");
  /* along dim 1 of [2,5] */
  nb_tensor *m = iota(NB_SHAPE(2, 5));
  n = nbk_split(m, 2, -1, out, 8);
  cr_assert_eq(n, 3);
  expect_pieces(out, 3, 1, STR(2, 2, 1), STR(0, 2, 4));
  expect_values(out[2], "last column", 4, 9);
  for (int i = 0; i < n; i++) nb_free(out[i]);
  /* an empty dim gives one empty piece; split_size 0 is allowed then */
  nb_tensor *e = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0, 2));
  cr_assert_eq(nbk_split(e, 2, 0, out, 8), 1);
  nbt_assert_shape(out[0], NB_SHAPE(0, 2), "empty split");
  nb_free(out[0]);
  cr_assert_eq(nbk_split(e, 0, 0, out, 8), 1);
  nb_free(out[0]);
  nb_free(e);
  nb_free(m);
  nb_free(x);
}

Test(view, split_sizes) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(2, 10));
  nb_tensor *out[4];
  cr_assert_eq(nbk_split_sizes(x, 3, STR(2, 0, 8), 1, out), 3);
  expect_pieces(out, 3, 1, STR(2, 0, 8), STR(0, 2, 2));
  expect_values(out[0], "first piece", 0, 1, 10, 11);
  expect_layout(out[2], NB_SHAPE(2, 8), STR(10, 1), 2, "last piece");
  nbt_expect_status(nbk_split_sizes(x, 2, STR(2, 7), 1, out), NB_ERR_SHAPE, "split_sizes", "9",
                    "[2, 10]");
  nbt_expect_status(nbk_split_sizes(x, 2, STR(12, -2), 1, out), NB_ERR_ARG, "split_sizes",
                    "negative");
  nbt_expect_status(nbk_split_sizes(x, 1, STR(2), 2, out), NB_ERR_INDEX, "split_sizes", "dim 2");
  nb_scope_end();
}

Test(view, chunk) {
  nb_scope_begin();
  nb_tensor *out[8];
  /* torch.arange(6).chunk(4) gives 3 pieces of 2 */
  nb_tensor *six = iota(NB_SHAPE(6));
  cr_assert_eq(nbk_chunk(six, 4, 0, out, 8), 3);
  expect_pieces(out, 3, 0, STR(2, 2, 2), STR(0, 2, 4));
  nb_tensor *ten = iota(NB_SHAPE(2, 10));
  cr_assert_eq(nbk_chunk(ten, 3, 1, out, 8), 3);
  expect_pieces(out, 3, 1, STR(4, 4, 2), STR(0, 4, 8));
  expect_values(out[2], "chunk 2", 8, 9, 18, 19);
  nb_tensor *five = iota(NB_SHAPE(5));
  cr_assert_eq(nbk_chunk(five, 5, 0, out, 8), 5);
  expect_pieces(out, 5, 0, STR(1, 1, 1, 1, 1), STR(0, 1, 2, 3, 4));
  cr_assert_eq(nbk_chunk(five, 8, 0, out, 8), 5);
  /* torch.zeros(0).chunk(3) gives 3 empty pieces */
  nb_tensor *empty = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(5, 0));
  cr_assert_eq(nbk_chunk(empty, 3, 1, out, 8), 3);
  expect_pieces(out, 3, 1, STR(0, 0, 0), STR(0, 0, 0));
  nbt_expect_status(nbk_chunk(empty, 3, 1, out, 2), NB_ERR_ARG, "chunk", "3 pieces");
  nbt_expect_status(nbk_chunk(six, 0, 0, out, 8), NB_ERR_ARG, "chunk", "got 0");
  nbt_expect_status(nbk_chunk(six, 6, 0, out, 5), NB_ERR_ARG, "chunk", "6 pieces", "5");
  nbt_expect_status(nbk_chunk(nb_scalar(NB_DTYPE_FLOAT32, 1), 1, 0, out, 8), NB_ERR_INDEX, "chunk",
                    "0-d");
  nb_scope_end();
}

/* ---- sharing, writing through, counters --------------------------------------- */

Test(view, writes_through_views) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(3, 4));
  uint64_t v0 = nb_version(x);
  nbt_assert_ok(nb_fill_(nbk_slice(nbk_select(x, 0, 0), 0, 0, 4, 2), -1), "fill stepped slice");
  nbt_assert_ok(nb_fill_(nbk_select(nbk_t(x), 0, 3), -2), "fill a column through t");
  nbt_assert_ok(nb_fill_(nbk_narrow(nbk_reshape(x, NB_SHAPE(12)), 0, 8, 2), -3), "fill narrow");
  nbt_assert_ok(nb_fill_(nbk_squeeze(nbk_unsqueeze(nbk_select(x, 1, 1), 1), NB_NO_DIM), 9),
                "fill column 1");
  cr_expect(nb_version(x) > v0, "writes through views bump the shared version");
  expect_values(x, "base after writes", -1, 9, -1, -2, 4, 9, 6, -2, -3, 9, 10, -2);
  /* unfold windows overlap the base */
  nb_tensor *w = nbk_unfold(nbk_select(x, 0, 1), 0, 2, 2);
  nbt_assert_ok(nb_fill_(nbk_select(w, 1, 0), 7), "fill unfold");
  expect_values(nbk_select(x, 0, 1), "row 1 after unfold fill", 7, 9, 7, -2);
  nb_scope_end();
}

Test(view, views_outlive_base_and_count) {
  int64_t before = live_tensors();
  nb_mem_stats s0, s1;
  nb_mem_stats_get(&s0);
  nb_tensor *a = nb_arange(NB_DTYPE_INT64, 0, 6, 1);
  nb_tensor *m = nbk_view(a, NB_SHAPE(2, 3));
  nb_tensor *t = nbk_transpose(m, 0, 1);
  nb_tensor *row = nbk_select(t, 0, 2);
  nb_tensor *e = nbk_expand(row, NB_SHAPE(2, 2));
  cr_expect_eq(live_tensors(), before + 5, "every view is a tensor object");
  nb_mem_stats_get(&s1);
  cr_expect_eq(s1.live_storages, s0.live_storages + 1, "views share one storage");
  nb_free(a);
  nb_free(m);
  nb_free(row);
  cr_expect_eq(live_tensors(), before + 2);
  expect_values(t, "view after the base is freed", 0, 3, 1, 4, 2, 5);
  expect_values(e, "expand after the base is freed", 2, 5, 2, 5);
  nb_mem_stats_get(&s1);
  cr_expect_eq(s1.live_storages, s0.live_storages + 1, "the storage lives while a view does");
  nb_free(t);
  nb_free(e);
  cr_expect_eq(live_tensors(), before);
  nb_mem_stats_get(&s1);
  cr_expect_eq(s1.live_storages, s0.live_storages, "the last view frees the storage");
}

Test(view, scope_owns_views) {
  int64_t before = live_tensors();
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(4, 4));
  nb_tensor *pieces[4];
  cr_assert_eq(nbk_chunk(nbk_t(x), 2, 0, pieces, 4), 2);
  nb_tensor *kept = nb_keep(nbk_reshape(pieces[1], NB_SHAPE(-1)));
  cr_expect(live_tensors() > before + 4);
  nb_scope_end();
  cr_expect_eq(live_tensors(), before + 1);
  expect_values(kept, "kept reshape of a chunk", 2, 6, 10, 14, 3, 7, 11, 15);
  nb_free(kept);
  cr_expect_eq(live_tensors(), before);
}

Test(view, empty_and_zero_d) {
  nb_scope_begin();
  nb_tensor *e = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0, 3));
  expect_layout(nbk_t(e), NB_SHAPE(3, 0), STR(1, 3), 0, "t of empty");
  expect_layout(nbk_slice(e, 1, 1, 3, 1), NB_SHAPE(0, 2), STR(3, 1), 1, "slice of empty");
  expect_layout(nbk_select(e, 1, 2), NB_SHAPE(0), STR(3), 2, "select of empty");
  expect_layout(nbk_flatten(e, 0, 1), NB_SHAPE(0), STR(1), 0, "flatten empty");
  expect_layout(nbk_view(nbk_t(e), NB_SHAPE(0)), NB_SHAPE(0), STR(1), 0, "view of empty t");
  nb_tensor *c = nbk_contiguous(nbk_t(e));
  nbt_assert_shape(c, NB_SHAPE(3, 0), "contiguous empty");
  nb_tensor *s = nb_scalar(NB_DTYPE_INT64, -4);
  nb_tensor *views[] = {nbk_reshape(s, NB_SCALAR_SHAPE), nbk_transpose(s, 0, -1),
                        nbk_permute(s, 0, NULL),         nbk_squeeze(s, NB_NO_DIM),
                        nbk_expand(s, NB_SCALAR_SHAPE),  nbk_flatten(s, 0, 0)};
  for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
    cr_assert(views[i], "view %zu: %s", i, nb_errmsg());
    cr_expect(nb_shares_storage(views[i], s));
    expect_values(views[i], "0-d view", -4);
  }
  nbt_expect_null(nbk_narrow(s, 0, 0, 1), NB_ERR_INDEX, "narrow", "0-d");
  nbt_expect_null(nbk_select(s, 0, 0), NB_ERR_INDEX, "select", "0-d");
  nb_scope_end();
}

/* ---- copy.c on non-contiguous views --------------------------------------------- */

Test(view, contiguous_clone_to_copy_on_views) {
  nb_scope_begin();
  nb_tensor *x = iota(NB_SHAPE(3, 4));
  nb_tensor *t = nbk_t(x);
  nb_tensor *c = nbk_contiguous(t);
  cr_expect(nb_is_contiguous(c) && !nb_shares_storage(c, x));
  expect_values(c, "contiguous of t", 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11);
  nb_tensor *c2 = nbk_contiguous(x);
  cr_expect(nb_shares_storage(c2, x), "contiguous of a contiguous tensor is a view");
  /* clone of a stepped slice */
  nb_tensor *step = nbk_slice(x, 1, 1, 4, 2);
  nb_tensor *cl = nbk_clone(step);
  expect_layout(cl, NB_SHAPE(3, 2), STR(2, 1), 0, "clone of slice");
  cr_expect(!nb_shares_storage(cl, x));
  expect_values(cl, "clone of slice values", 1, 3, 5, 7, 9, 11);
  /* to() of an expanded view */
  nb_tensor *row = nbk_select(x, 0, 2);
  nb_tensor *ex = nbk_expand(row, NB_SHAPE(2, 4));
  nb_tensor *d = nbk_to(ex, NB_DTYPE_FLOAT64);
  cr_expect_eq(nb_dtype_of(d), NB_DTYPE_FLOAT64);
  expect_layout(d, NB_SHAPE(2, 4), STR(4, 1), 0, "to of expanded");
  expect_values(d, "to of expanded values", 8, 9, 10, 11, 8, 9, 10, 11);
  nb_tensor *i = nbk_to(t, NB_DTYPE_INT64);
  expect_values(i, "to int64 of t", 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11);
  nb_tensor *same = nbk_to(t, NB_DTYPE_FLOAT32);
  cr_expect(nb_shares_storage(same, x));
  expect_layout(same, NB_SHAPE(4, 3), STR(1, 4), 0, "to same dtype keeps the view");
  /* copy_ into a transposed view, broadcasting and converting */
  nb_tensor *dst = nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(3, 2));
  nb_tensor *src = nb_arange(NB_DTYPE_INT64, 1, 4, 1);
  nbt_assert_ok(nb_copy_(nbk_t(dst), src), "copy_ into t");
  expect_values(dst, "copy_ through t", 1, 1, 2, 2, 3, 3);
  /* copy_ from a stepped view */
  nb_tensor *dst2 = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(3, 2));
  nbt_assert_ok(nb_copy_(dst2, step), "copy_ from slice");
  expect_values(dst2, "copy_ from slice values", 1, 3, 5, 7, 9, 11);
  /* overlapping: x = x.t() for a square x */
  nb_tensor *sq = iota(NB_SHAPE(3, 3));
  nbt_assert_ok(nb_copy_(sq, nbk_t(sq)), "copy_ overlapping");
  expect_values(sq, "in-place transpose via copy_", 0, 3, 6, 1, 4, 7, 2, 5, 8);
  nb_scope_end();
}

/* Large strided copies are identical with 1 and 2 threads. */
Test(view, strided_copy_thread_determinism) {
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(300, 400), NULL);
  nb_tensor *t = nbk_slice(nbk_t(x), 0, 1, 400, 2);
  nbt_assert_ok(nb_set_num_threads(1), "1 thread");
  nb_tensor *a = nbk_contiguous(t);
  nbt_assert_ok(nb_set_num_threads(2), "2 threads");
  nb_tensor *b = nbk_contiguous(t);
  cr_assert(a && b && nb_numel(a) == 200 * 300);
  cr_expect(memcmp(nb_data(a), nb_data(b), sizeof(float) * 200 * 300) == 0);
  const int64_t idx[] = {5, 7};
  const int64_t xi[] = {7, 11};
  cr_expect_float_eq(nb_get(a, idx), nb_get(x, xi), 1e-12);
  nb_scope_end();
}
