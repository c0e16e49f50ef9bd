/* tests/tensor/test_pool.c - pooling and resampling kernels (tensor/pool.h) vs PyTorch.
 *
 * Sweeps tests/fixtures/pool.txt (tools/fixtures/gen_pool.py): every kernel's
 * output (and max_pool2d's indices) and its backward kernel's result for a
 * random output gradient, float32 and float64, contiguous / transposed /
 * step-sliced inputs, 3-D inputs; plus empty batches, thread determinism and
 * error paths.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "support/nbtest.h"
#include "tensor/pool.h"

TestSuite(pool, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

enum { OP_MAX, OP_AVG, OP_ADAPTIVE, OP_INTERP };

static nb_interp_opts interp_opts(const nbt_case *c) {
  nb_interp_opts o = {.mode = (nb_interp_mode)nbt_case_param(c, "mode")};
  nbt_case_param_ints_n(c, "size", o.size, 2);
  cr_assert_eq(nbt_case_param_doubles(c, "scale", o.scale_factor, 2), 2);
  o.align_corners = nbt_case_param(c, "align_corners") != 0;
  return o;
}

/* x as the case describes it: xs itself, its transpose, or xs[..., ::2]. */
static nb_tensor *case_input(const nbt_case *c) {
  nb_tensor *xs = nbt_case_tensor(c, "xs");
  int layout = (int)nbt_case_param(c, "layout");
  if (layout == 0) return xs;
  int nd = nb_ndim(xs);
  nb_tensor *x = layout == 1 ? nbk_transpose(xs, nd - 2, nd - 1)
                             : nbk_slice(xs, nd - 1, 0, nb_size(xs, nd - 1), 2);
  cr_assert(!nb_is_contiguous(x), "%s: the input should be a non-contiguous view",
            nbt_case_name(c));
  return x;
}

static void run_case(const nbt_case *c) {
  nb_scope_begin();
  int op = (int)nbt_case_param(c, "op");
  nb_tensor *x = case_input(c);
  bool f32 = nb_dtype_of(x) == NB_DTYPE_FLOAT32;
  double rtol = f32 ? 1e-5 : 1e-12, atol = f32 ? 1e-6 : 1e-12;
  int nd = nb_ndim(x);
  int64_t h = nb_size(x, nd - 2), w = nb_size(x, nd - 1);
  nb_tensor *gout = nbt_case_tensor(c, "gout");
  nb_tensor *out = NULL, *gx = NULL;
  if (op == OP_MAX) {
    nb_pool2d_opts o;
    nbt_case_pool2d_opts(c, true, &o);
    nb_tensor *idx = NULL;
    out = nbk_max_pool2d(x, &o, &idx);
    cr_assert_not_null(out, "%s: %s", nbt_case_name(c), nb_errmsg());
    nbt_case_check(c, "indices", idx, 0, 0);
    gx = nbk_max_pool2d_backward(gout, idx, h, w);
  } else if (op == OP_AVG) {
    nb_pool2d_opts o;
    nbt_case_pool2d_opts(c, false, &o);
    out = nbk_avg_pool2d(x, &o);
    gx = nbk_avg_pool2d_backward(gout, h, w, &o);
  } else if (op == OP_ADAPTIVE) {
    int64_t size[2];
    nbt_case_param_ints_n(c, "size", size, 2);
    out = nbk_adaptive_avg_pool2d(x, size[0], size[1]);
    gx = nbk_adaptive_avg_pool2d_backward(gout, h, w);
  } else {
    nb_interp_opts o = interp_opts(c);
    out = nbk_interpolate(x, &o);
    gx = nbk_interpolate_backward(gout, h, w, &o);
  }
  cr_assert_not_null(out, "%s: %s", nbt_case_name(c), nb_errmsg());
  cr_assert_not_null(gx, "%s: backward: %s", nbt_case_name(c), nb_errmsg());
  cr_assert(nb_is_contiguous(out) && nb_is_contiguous(gx));
  nbt_case_check(c, "out", out, rtol, atol);
  nbt_case_check(c, "gx", gx, rtol, atol);
  nb_scope_end();
}

Test(pool, fixtures_vs_pytorch) { cr_assert_gt(nbt_fixture_sweep("pool", run_case), 80); }

/* Hand-checked values: 2x2 max / avg pools of a 4x4 ramp, bilinear upsampling
 * of a 1x2 row with align_corners. */
Test(pool, known_values) {
  nb_scope_begin();
  nb_tensor *x = nbk_reshape(nb_arange(NB_DTYPE_FLOAT32, 0, 16, 1), NB_SHAPE(1, 1, 4, 4));
  nb_tensor *idx = NULL;
  nb_tensor *m = nbk_max_pool2d(x, &(nb_pool2d_opts){.kernel = {2, 2}}, &idx);
  nbt_assert_values(m, ((double[]){5, 7, 13, 15}), 4, 0, 0, "max");
  nbt_assert_values(idx, ((double[]){5, 7, 13, 15}), 4, 0, 0, "indices");
  nb_tensor *a = nbk_avg_pool2d(x, &(nb_pool2d_opts){.kernel = {2}});
  nbt_assert_values(a, ((double[]){2.5, 4.5, 10.5, 12.5}), 4, 1e-6, 0, "avg (square shorthand)");
  nb_tensor *r = nb_from_data(NB_DTYPE_FLOAT64, (double[]){1, 3}, NB_SHAPE(1, 1, 1, 2));
  nb_tensor *u = nbk_interpolate(
      r, &(nb_interp_opts){.mode = NB_INTERP_BILINEAR, .size = {1, 5}, .align_corners = true});
  nbt_assert_values(u, ((double[]){1, 1.5, 2, 2.5, 3}), 5, 1e-15, 0, "bilinear");
  nb_tensor *g = nbk_adaptive_avg_pool2d(x, 1, 1);
  nbt_assert_shape(g, NB_SHAPE(1, 1, 1, 1), "global");
  nbt_assert_values(g, ((double[]){7.5}), 1, 1e-7, 0, "global mean");
  nb_scope_end();
}

/* The 2x2 stride-2 loops (float: chunks of 4 outputs paired into 8-lane
 * vectors, the last chunk of a row shifted back; double: whole rows in
 * vector groups) against the general loop, which a view with non-unit width
 * stride takes: same maxima and indices with ties, NaN, -0 and -inf
 * everywhere, for row lengths that are multiples of 8, longer, between 4 and
 * 8, and below 4, odd sizes whose last row and column no window covers, and
 * inputs that are views with rows further apart than their width or planes
 * out of order. */
static nb_tensor *ties_nan_input(int dtype, int64_t h, int64_t w, uint64_t seed) {
  int64_t n = 2 * 3 * h * (w + 3);
  double *v = malloc(sizeof(double) * (size_t)n);
  const double pick[6] = {-INFINITY, 0, -0.0, 1, 1, NAN};
  uint64_t r = seed;
  for (int64_t i = 0; i < n; i++) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    v[i] = pick[r % 6];
  }
  nb_tensor *x64 = nb_from_data(NB_DTYPE_FLOAT64, v, 4, (int64_t[]){2, 3, h, w + 3});
  free(v);
  return nbk_to(x64, (nb_dtype)dtype);
}

static void same_pool(nb_tensor *x, int64_t h, int64_t w, const char *what) {
  nb_tensor *strided = nbk_transpose(nbk_contiguous(nbk_transpose(x, 2, 3)), 2, 3);
  nb_pool2d_opts k2 = {.kernel = {2, 2}};
  nb_tensor *i1 = NULL, *i2 = NULL;
  nb_tensor *m1 = nbk_max_pool2d(x, &k2, &i1), *m2 = nbk_max_pool2d(strided, &k2, &i2);
  cr_assert(m1 && m2, "%s", nb_errmsg());
  size_t es = nb_dtype_size(nb_dtype_of(x));
  cr_assert(memcmp(nb_data(m1), nb_data(m2), es * (size_t)nb_numel(m1)) == 0,
            "%s: maxima differ for %lldx%lld", what, (long long)h, (long long)w);
  cr_assert(memcmp(nb_data(i1), nb_data(i2), 8 * (size_t)nb_numel(i1)) == 0,
            "%s: indices differ for %lldx%lld", what, (long long)h, (long long)w);
}

static void check_max22(int dtype, int64_t h, int64_t w) {
  nb_tensor *x = ties_nan_input(dtype, h, w, 88172645463325252ull + (uint64_t)(h * 131 + w));
  same_pool(nbk_contiguous(nbk_slice(x, 3, 0, w, 1)), h, w, "contiguous");
  same_pool(nbk_slice(x, 3, 2, w + 2, 1), h, w, "rows w + 3 apart");
  same_pool(nbk_transpose(nbk_slice(x, 3, 1, w + 1, 1), 0, 1), h, w, "planes out of order");
}

Test(pool, max_2x2_rows_match_general_loop) {
  nb_scope_begin();
  for (int d = 0; d < 2; d++) {
    int dt = d ? NB_DTYPE_FLOAT64 : NB_DTYPE_FLOAT32;
    check_max22(dt, 6, 32);  /* rows of 16 */
    check_max22(dt, 26, 26); /* 13: 8 + a shifted 8 / chunks 0, 4, 8, 9 */
    check_max22(dt, 11, 11); /* 5: 4 + a shifted 4, odd width and height */
    check_max22(dt, 9, 8);   /* 4: one chunk per row */
    check_max22(dt, 5, 15);  /* 7: chunks 0, 3 */
    check_max22(dt, 3, 19);  /* one row of 9: an odd number of chunks */
    check_max22(dt, 4, 7);   /* 3: the row loop */
  }
  nb_scope_end();
}

/* max_pool2d_backward against a plain scatter (+0, then += at each index,
 * bitwise): on a 2x2 pool's indices (each gradient written once where it is
 * the argmax, -0 becoming +0, NaN kept), with odd sizes, a strided gradient,
 * and on indices outside their 2x2 window (a 3x3 pool's overlapping ones, one
 * index moved to another window), which the general scatter handles. */
static void check_back(nb_tensor *g, nb_tensor *idx, int64_t h, int64_t w, const char *what) {
  nb_tensor *gc = nbk_contiguous(g), *ic = nbk_contiguous(idx);
  bool f32 = nb_dtype_of(g) == NB_DTYPE_FLOAT32;
  int64_t planes = nb_size(g, 0) * nb_size(g, 1), pout = nb_size(g, 2) * nb_size(g, 3);
  nb_tensor *want = nb_zeros(nb_dtype_of(g), NB_SHAPE(nb_size(g, 0), nb_size(g, 1), h, w));
  const int64_t *ix = nb_data(ic);
  for (int64_t p = 0; p < planes; p++)
    for (int64_t k = 0; k < pout; k++) {
      int64_t at = p * h * w + ix[p * pout + k];
      if (f32)
        ((float *)nb_data(want))[at] += ((const float *)nb_data(gc))[p * pout + k];
      else
        ((double *)nb_data(want))[at] += ((const double *)nb_data(gc))[p * pout + k];
    }
  /* a freed block of NaN, which the allocator's cache hands to the result:
   * every element must be written */
  nb_free(nb_full_like(want, nb_dtype_of(want), NAN));
  nb_tensor *got = nbk_max_pool2d_backward(g, idx, h, w);
  cr_assert_not_null(got, "%s: %s", what, nb_errmsg());
  cr_assert(memcmp(nb_data(got), nb_data(want),
                   nb_dtype_size(nb_dtype_of(g)) * (size_t)nb_numel(want)) == 0,
            "%s: backward differs from the scatter for %lldx%lld", what, (long long)h,
            (long long)w);
}

static void check_back22(int dtype, int64_t h, int64_t w) {
  nb_tensor *x =
      nbk_contiguous(nbk_slice(ties_nan_input(dtype, h, w, 7 + (uint64_t)w), 3, 0, w, 1));
  nb_tensor *idx = NULL;
  nb_tensor *y = nbk_max_pool2d(x, &(nb_pool2d_opts){.kernel = {2, 2}}, &idx);
  cr_assert_not_null(y, "%s", nb_errmsg());
  /* gradients with -0, NaN and ordinary values */
  nb_tensor *g = nbk_mul(ties_nan_input(dtype, nb_size(y, 2), nb_size(y, 3), 99),
                         nb_scalar((nb_dtype)dtype, 3));
  g = nbk_contiguous(nbk_slice(g, 3, 0, nb_size(y, 3), 1));
  check_back(g, idx, h, w, "2x2 indices");
  check_back(nbk_transpose(nbk_contiguous(nbk_transpose(g, 2, 3)), 2, 3), idx, h, w,
             "strided gradient");
  /* one index moved into the next window of its row: the scatter sums two there */
  nb_tensor *moved = nbk_clone(idx);
  int64_t *m = nb_data(moved);
  m[nb_size(y, 3) + 1] = m[nb_size(y, 3)];
  check_back(g, moved, h, w, "an index outside its window");
  /* an index 2^32 past a valid one is out of range, not taken for it */
  nb_tensor *far = nbk_clone(idx);
  ((int64_t *)nb_data(far))[nb_numel(far) - 1] += (int64_t)1 << 32;
  nbt_expect_null(nbk_max_pool2d_backward(g, far, h, w), NB_ERR_INDEX, "max_pool2d_backward",
                  "out of range");
  nb_tensor *i3 = NULL;
  nb_tensor *y3 = nbk_max_pool2d(x, &(nb_pool2d_opts){.kernel = {3, 3}, .stride = {2, 2}}, &i3);
  check_back(y3, i3, h, w, "3x3 stride-2 indices");
}

Test(pool, max_2x2_backward_matches_scatter) {
  nb_scope_begin();
  for (int d = 0; d < 2; d++) {
    int dt = d ? NB_DTYPE_FLOAT64 : NB_DTYPE_FLOAT32;
    check_back22(dt, 26, 26); /* rows of 13 */
    check_back22(dt, 7, 35);  /* 17, an odd width and height */
    check_back22(dt, 6, 32);  /* 16 */
    check_back22(dt, 11, 11); /* 5 */
  }
  nb_scope_end();
}

/* An empty batch gives an empty output of the right shape. */
Test(pool, empty_batch) {
  nb_scope_begin();
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0, 3, 5, 5));
  nb_pool2d_opts o = {.kernel = {2, 2}};
  nbt_assert_shape(nbk_max_pool2d(x, &o, NULL), NB_SHAPE(0, 3, 2, 2), "max");
  nbt_assert_shape(nbk_avg_pool2d(x, &o), NB_SHAPE(0, 3, 2, 2), "avg");
  nbt_assert_shape(nbk_adaptive_avg_pool2d(x, 3, 1), NB_SHAPE(0, 3, 3, 1), "adaptive");
  nbt_assert_shape(nbk_interpolate(x, &(nb_interp_opts){.scale_factor = {2}}),
                   NB_SHAPE(0, 3, 10, 10), "interpolate");
  nb_tensor *g = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0, 3, 2, 2));
  nbt_assert_shape(nbk_avg_pool2d_backward(g, 5, 5, &o), NB_SHAPE(0, 3, 5, 5), "avg backward");
  nb_scope_end();
}

/* Above the parallel grain, 1 and 2 threads give bitwise identical results. */
static void same_bits(nb_tensor *a, nb_tensor *b, const char *what) {
  cr_assert_not_null(a, "%s: %s", what, nb_errmsg());
  cr_assert_not_null(b, "%s: %s", what, nb_errmsg());
  cr_assert_eq(nb_numel(a), nb_numel(b));
  size_t bytes = (size_t)nb_numel(a) * nb_dtype_size(nb_dtype_of(a));
  cr_assert(memcmp(nb_data(a), nb_data(b), bytes) == 0, "%s differs between thread counts", what);
}

Test(pool, thread_determinism) {
  nb_scope_begin();
  nb_manual_seed(3);
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(4, 8, 40, 36), NULL);
  nb_pool2d_opts po = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
  nb_interp_opts bo = {.mode = NB_INTERP_BILINEAR, .size = {57, 61}};
  nb_tensor *r[2][8];
  for (int t = 0; t < 2; t++) {
    nb_set_num_threads(t + 1);
    nb_tensor *idx = NULL;
    r[t][0] = nbk_max_pool2d(x, &po, &idx);
    r[t][1] = idx;
    r[t][2] = nbk_max_pool2d_backward(r[t][0], idx, 40, 36);
    r[t][3] = nbk_avg_pool2d(x, &po);
    r[t][4] = nbk_avg_pool2d_backward(r[t][3], 40, 36, &po);
    r[t][5] = nbk_adaptive_avg_pool2d(x, 7, 5);
    r[t][6] = nbk_interpolate(x, &bo);
    r[t][7] = nbk_interpolate_backward(r[t][6], 40, 36, &bo);
  }
  nb_set_num_threads(2);
  const char *names[] = {"max",      "indices",  "max backward", "avg",
                         "avg back", "adaptive", "bilinear",     "bilinear back"};
  for (int i = 0; i < 8; i++) same_bits(r[0][i], r[1][i], names[i]);
  nb_scope_end();
}

/* Large windows and large outputs agree with a direct computation. */
Test(pool, adaptive_matches_mean) {
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(2, 3, 9, 8), NULL);
  nb_tensor *g = nbk_adaptive_avg_pool2d(x, 1, 1);
  nb_tensor *m = nbk_mean(x, NB_DIMS(2, 3), true);
  nbt_assert_close(g, m, 1e-13, 1e-13, "global adaptive pool = mean");
  nb_scope_end();
}

/* ---- errors ----------------------------------------------------------------------------- */
Test(pool, errors) {
  nb_scope_begin();
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1, 2, 4, 4));
  nb_tensor *xi = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(1, 2, 4, 4));
  nb_tensor *x2 = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(4, 4));
  nb_tensor *x3 = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 4, 4));
  nb_tensor *xe = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1, 2, 0, 4));
  nb_pool2d_opts k2 = {.kernel = {2, 2}};
  nbt_expect_null(nbk_max_pool2d(xi, &k2, NULL), NB_ERR_DTYPE, "max_pool2d", "int64");
  nbt_expect_null(nbk_max_pool2d(x2, &k2, NULL), NB_ERR_SHAPE, "max_pool2d", "[4, 4]");
  nbt_expect_null(nbk_avg_pool2d(xe, &k2), NB_ERR_SHAPE, "avg_pool2d", "[1, 2, 0, 4]");
  nbt_expect_null(nbk_max_pool2d(x, NULL, NULL), NB_ERR_ARG, "max_pool2d", "kernel");
  nbt_expect_null(nbk_max_pool2d(x, &(nb_pool2d_opts){.kernel = {0, 2}}, NULL), NB_ERR_ARG,
                  "max_pool2d", "positive");
  nbt_expect_null(nbk_max_pool2d(x, &(nb_pool2d_opts){.kernel = {2, 2}, .stride = {-1, 1}}, NULL),
                  NB_ERR_ARG, "max_pool2d", "stride");
  nbt_expect_null(nbk_avg_pool2d(x, &(nb_pool2d_opts){.kernel = {2, 2}, .padding = {2, 0}}),
                  NB_ERR_ARG, "avg_pool2d", "half the kernel");
  nbt_expect_null(nbk_avg_pool2d(x, &(nb_pool2d_opts){.kernel = {2, 2}, .dilation = {2, 2}}),
                  NB_ERR_ARG, "avg_pool2d", "dilation");
  nbt_expect_null(nbk_avg_pool2d(x, &(nb_pool2d_opts){.kernel = {5, 5}}), NB_ERR_SHAPE,
                  "avg_pool2d", "too small");
  nbt_expect_null(nbk_avg_pool2d(x, &(nb_pool2d_opts){.kernel = {2, 2}, .divisor_override = -2}),
                  NB_ERR_ARG, "avg_pool2d", "divisor_override");
  /* A dilated window entirely in the padding (PyTorch returns -inf there). */
  nb_tensor *x22 = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1, 1, 2, 2));
  nbt_expect_null(
      nbk_max_pool2d(
          x22, &(nb_pool2d_opts){.kernel = {2, 2}, .padding = {1, 1}, .dilation = {3, 3}}, NULL),
      NB_ERR_ARG, "max_pool2d", "covers no input element");
  nbt_expect_null(nbk_adaptive_avg_pool2d(x, -3, 2), NB_ERR_ARG, "adaptive_avg_pool2d", "-3");
  nb_interp_opts near2 = {.scale_factor = {2, 2}};
  nbt_expect_null(nbk_interpolate(x3, &near2), NB_ERR_SHAPE, "interpolate", "4-D");
  nbt_expect_null(nbk_interpolate(x, NULL), NB_ERR_ARG, "interpolate", "size");
  nbt_expect_null(
      nbk_interpolate(
          x, &(nb_interp_opts){.mode = NB_INTERP_NEAREST, .size = {3, 3}, .align_corners = true}),
      NB_ERR_ARG, "interpolate", "align_corners");
  nbt_expect_null(nbk_interpolate(x, &(nb_interp_opts){.size = {3, 3}, .scale_factor = {2, 2}}),
                  NB_ERR_ARG, "interpolate", "either");
  nbt_expect_null(nbk_interpolate(x, &(nb_interp_opts){.mode = (nb_interp_mode)7, .size = {3, 3}}),
                  NB_ERR_ARG, "interpolate", "mode");
  nbt_expect_null(nbk_interpolate(x, &(nb_interp_opts){.scale_factor = {-1, 2}}), NB_ERR_ARG,
                  "interpolate", "scale_factor");
  nbt_expect_null(nbk_interpolate(x, &(nb_interp_opts){.scale_factor = {0.1, 1}}), NB_ERR_ARG,
                  "interpolate", "positive");
  nbt_expect_null(nbk_interpolate(x, &(nb_interp_opts){.size = {3, 0}}), NB_ERR_ARG, "interpolate",
                  "3x0");
  /* backward kernels: the gradient must match the forward output */
  nb_tensor *g = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1, 2, 3, 3));
  nbt_expect_null(nbk_avg_pool2d_backward(g, 4, 4, &k2), NB_ERR_SHAPE, "avg_pool2d_backward",
                  "[1, 2, 3, 3]");
  nbt_expect_null(nbk_avg_pool2d_backward(g, 0, 4, &k2), NB_ERR_ARG, "avg_pool2d_backward", "0x4");
  nbt_expect_null(nbk_interpolate_backward(g, 4, (int64_t)1 << 40, &near2), NB_ERR_ARG,
                  "interpolate_backward", "2^31");
  nbt_expect_null(nbk_adaptive_avg_pool2d_backward(g, 0, 4), NB_ERR_ARG,
                  "adaptive_avg_pool2d_backward", "0x4");
  nbt_expect_null(nbk_interpolate_backward(g, 4, 4, &near2), NB_ERR_SHAPE, "interpolate_backward",
                  "8x8");
  nb_tensor *gi = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(1, 2, 3, 3));
  nb_tensor *bad = nb_full(NB_DTYPE_INT64, NB_SHAPE(1, 2, 3, 3), 16);
  nbt_expect_null(nbk_max_pool2d_backward(g, bad, 4, 4), NB_ERR_INDEX, "max_pool2d_backward", "16");
  /* one bad index in the second plane: named with its position */
  int64_t one_bad[18] = {0};
  one_bad[10] = -1;
  nbt_expect_null(nbk_max_pool2d_backward(
                      g, nb_from_data(NB_DTYPE_INT64, one_bad, 4, (int64_t[]){1, 2, 3, 3}), 4, 4),
                  NB_ERR_INDEX, "max_pool2d_backward", "index -1 at 10");
  nbt_expect_null(nbk_max_pool2d_backward(g, g, 4, 4), NB_ERR_DTYPE, "max_pool2d_backward",
                  "float32");
  nbt_expect_null(nbk_max_pool2d_backward(g, nb_zeros(NB_DTYPE_INT64, NB_SHAPE(1, 2, 3, 2)), 4, 4),
                  NB_ERR_SHAPE, "max_pool2d_backward", "[1, 2, 3, 2]");
  nbt_expect_null(nbk_max_pool2d_backward(g, gi, 0, 4), NB_ERR_ARG, "max_pool2d_backward", "0x4");
  /* NULL in -> NULL out, keeping the first error. */
  nb_set_error(NB_ERR_IO, "earlier failure");
  cr_assert_null(nbk_avg_pool2d(NULL, &k2));
  cr_assert_null(nbk_max_pool2d_backward(g, NULL, 4, 4));
  cr_assert(strstr(nb_errmsg(), "earlier failure"));
  nb_tensor *idx = (nb_tensor *)1;
  cr_assert_null(nbk_max_pool2d(NULL, &k2, &idx));
  cr_assert_null(idx, "indices must be cleared on failure");
  nb_scope_end();
}
