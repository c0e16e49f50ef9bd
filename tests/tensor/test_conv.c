/* tests/tensor/test_conv.c - the convolution kernels (tensor/conv.c).
 *
 * Sweeps tests/fixtures/conv.txt (tools/fixtures/gen_conv.py): conv1d,
 * conv2d, conv_transpose1d/2d and the weight-gradient kernels against
 * PyTorch for stride, padding, dilation, groups, depthwise, 1x1, non-square
 * kernels, bias / no bias, unbatched and non-contiguous inputs, float32 and
 * float64. Then: a geometry large enough to block the im2col buffer checked
 * against a direct loop and the adjoint identities, results identical with 1
 * and 2 threads, empty batches, default options, and the error paths.
 */
#include <math.h>
#include <string.h>

#include "support/nbtest.h"
#include "tensor/conv.h"

TestSuite(conv, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

enum { OP_C1, OP_C2, OP_T1, OP_T2, OP_W1, OP_W2 };

/* The case's options as the 2-D structs (1-D ops read index 0). */
typedef struct case_opts {
  nb_conv_transpose2d_opts t;
  int64_t kernel[2];
} case_opts;

static case_opts read_opts(const nbt_case *c) {
  case_opts o = {0};
  nbt_case_param_ints(c, "stride", o.t.stride, 2);
  nbt_case_param_ints(c, "padding", o.t.padding, 2);
  nbt_case_param_ints(c, "dilation", o.t.dilation, 2);
  nbt_case_param_ints(c, "output_padding", o.t.output_padding, 2);
  o.t.groups = (int64_t)nbt_case_param(c, "groups");
  if (nbt_case_has_param(c, "kernel")) nbt_case_param_ints(c, "kernel", o.kernel, 2);
  return o;
}

static nb_conv2d_opts as2d(const case_opts *o) {
  nb_conv2d_opts r = {.groups = o->t.groups};
  for (int d = 0; d < 2; d++)
    r.stride[d] = o->t.stride[d], r.padding[d] = o->t.padding[d], r.dilation[d] = o->t.dilation[d];
  return r;
}
static nb_conv1d_opts as1d(const case_opts *o) {
  return (nb_conv1d_opts){o->t.stride[0], o->t.padding[0], o->t.dilation[0], o->t.groups};
}

/* Run the case's op on x (already made non-contiguous if asked). */
static nb_tensor *run_op(int op, const case_opts *o, nb_tensor *x, nb_tensor *w, nb_tensor *b) {
  nb_conv2d_opts o2 = as2d(o);
  nb_conv1d_opts o1 = as1d(o);
  nb_conv_transpose1d_opts t1 = {o->t.stride[0], o->t.padding[0], o->t.output_padding[0],
                                 o->t.dilation[0], o->t.groups};
  switch (op) {
  case OP_C1: return nbk_conv1d(x, w, b, &o1);
  case OP_C2: return nbk_conv2d(x, w, b, &o2);
  case OP_T1: return nbk_conv_transpose1d(x, w, b, &t1);
  case OP_T2: return nbk_conv_transpose2d(x, w, b, &o->t);
  case OP_W1: return nbk_conv1d_weight_grad(x, w, o->kernel[0], &o1);
  default: return nbk_conv2d_weight_grad(x, w, o->kernel[0], o->kernel[1], &o2);
  }
}

static void run_case(const nbt_case *c) {
  nb_scope_begin();
  int op = (int)nbt_case_param(c, "op");
  case_opts o = read_opts(c);
  nb_tensor *x = nbt_case_tensor(c, "x");
  if (nbt_case_param(c, "x_t") != 0) {
    x = nbk_transpose(x, -1, -2);
    cr_assert(!nb_is_contiguous(x), "%s: x should be a strided view", nbt_case_name(c));
  }
  bool wg = op == OP_W1 || op == OP_W2;
  nb_tensor *w = nbt_case_tensor(c, wg ? "g" : "w");
  nb_tensor *b = nbt_case_has_tensor(c, "bias") ? nbt_case_tensor(c, "bias") : NULL;
  nb_tensor *out = run_op(op, &o, x, w, b);
  cr_assert_not_null(out, "%s: %s", nbt_case_name(c), nb_errmsg());
  cr_assert(nb_is_contiguous(out));
  bool f32 = nb_dtype_of(x) == NB_DTYPE_FLOAT32;
  nbt_case_check(c, "out", out, f32 ? 1e-5 : 1e-11, f32 ? 1e-5 : 1e-12);
  nb_scope_end();
}

Test(conv, fixtures_vs_pytorch) {
  nbt_fixture *f = nbt_fixture_load("conv");
  int n = nbt_fixture_num_cases(f);
  cr_assert_geq(n, 70);
  for (int i = 0; i < n; i++) run_case(nbt_fixture_case_index(f, i));
  nbt_fixture_free(f);
}

/* ---- a geometry whose im2col buffer is split into row blocks ------------------ */

/* Direct float64 conv2d (padding, stride, dilation; groups 1). */
static nb_tensor *naive_conv2d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *o) {
  const int64_t *xs = nb_shape(x), *ws = nb_shape(w);
  int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ws[0], KH = ws[2], KW = ws[3];
  int64_t OH = (H + 2 * o->padding[0] - o->dilation[0] * (KH - 1) - 1) / o->stride[0] + 1;
  int64_t OW = (W + 2 * o->padding[1] - o->dilation[1] * (KW - 1) - 1) / o->stride[1] + 1;
  nb_tensor *out = nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(N, O, OH, OW));
  const double *xd = nb_data(x), *wd = nb_data(w), *bd = nb_data(b);
  double *od = nb_data(out);
  for (int64_t n = 0; n < N; n++)
    for (int64_t oc = 0; oc < O; oc++)
      for (int64_t oh = 0; oh < OH; oh++)
        for (int64_t ow = 0; ow < OW; ow++) {
          double s = bd[oc];
          for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < KH; i++)
              for (int64_t j = 0; j < KW; j++) {
                int64_t ih = oh * o->stride[0] - o->padding[0] + i * o->dilation[0];
                int64_t iw = ow * o->stride[1] - o->padding[1] + j * o->dilation[1];
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += xd[((n * C + c) * H + ih) * W + iw] * wd[((oc * C + c) * KH + i) * KW + j];
              }
          od[((n * O + oc) * OH + oh) * OW + ow] = s;
        }
  return out;
}

/* <a, b> as a double. */
static double inner(nb_tensor *a, nb_tensor *b) {
  nb_tensor *p = nbk_mul(a, b), *s = nbk_sum(p, NB_ALL_DIMS, false);
  double v = nb_item(s);
  nb_free(s);
  nb_free(p);
  return v;
}

Test(conv, blocked_columns_vs_direct_loop_and_adjoints) {
  nb_scope_begin();
  nb_manual_seed(7);
  /* k = 64 * 5 * 5 = 1600 column rows of 46 columns: 14 window rows per block. */
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(2, 64, 48, 48), NULL);
  nb_tensor *w = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(4, 64, 5, 5), NULL);
  nb_tensor *b = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(4), NULL);
  nb_conv2d_opts o = {.stride = {1, 1}, .padding = {2, 1}, .dilation = {1, 1}};
  nb_tensor *y = nbk_conv2d(x, w, b, &o);
  nbt_assert_shape(y, NB_SHAPE(2, 4, 48, 46), "y");
  nbt_assert_close(y, naive_conv2d(x, w, b, &o), 1e-10, 1e-10, "blocked conv2d");
  /* conv_transpose2d is the adjoint: <conv(x, w), v> = <x, conv_t(v, w)>. */
  nb_tensor *v = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(2, 4, 48, 46), NULL);
  nb_tensor *y0 = nbk_conv2d(x, w, NULL, &o);
  nb_conv_transpose2d_opts t = {.padding = {2, 1}};
  nb_tensor *xt = nbk_conv_transpose2d(v, w, NULL, &t);
  nbt_assert_shape(xt, NB_SHAPE(2, 64, 48, 48), "conv_transpose2d");
  double lhs = inner(y0, v), rhs = inner(x, xt);
  cr_assert(fabs(lhs - rhs) <= 1e-9 * fabs(lhs), "adjoint: %.17g vs %.17g", lhs, rhs);
  /* the weight gradient: <conv(x, u), v> = <u, wgrad(x, v)> for any u. */
  nb_tensor *gw = nbk_conv2d_weight_grad(x, v, 5, 5, &o);
  nbt_assert_shape(gw, NB_SHAPE(4, 64, 5, 5), "weight grad");
  double rhs2 = inner(w, gw);
  cr_assert(fabs(lhs - rhs2) <= 1e-9 * fabs(lhs), "weight grad: %.17g vs %.17g", lhs, rhs2);
  /* padding taller than a block: whole blocks read only padding */
  nb_tensor *x2 = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(1, 64, 16, 48), NULL);
  nb_conv2d_opts o2 = {.padding = {20, 1}, .stride = {1, 1}, .dilation = {1, 1}};
  nb_tensor *y2 = nbk_conv2d(x2, w, b, &o2);
  nbt_assert_shape(y2, NB_SHAPE(1, 4, 52, 46), "y2");
  nbt_assert_close(y2, naive_conv2d(x2, w, b, &o2), 1e-10, 1e-10, "blocked conv2d, big padding");
  nb_tensor *v2 = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(1, 4, 52, 46), NULL);
  nb_tensor *xt2 =
      nbk_conv_transpose2d(v2, w, NULL, &(nb_conv_transpose2d_opts){.padding = {20, 1}});
  nb_tensor *gw2 = nbk_conv2d_weight_grad(x2, v2, 5, 5, &o2);
  double l2 = inner(nbk_conv2d(x2, w, NULL, &o2), v2), r2 = inner(x2, xt2), r3 = inner(w, gw2);
  cr_assert(fabs(l2 - r2) <= 1e-9 * fabs(l2), "adjoint, big padding: %.17g vs %.17g", l2, r2);
  cr_assert(fabs(l2 - r3) <= 1e-9 * fabs(l2), "weight grad, big padding: %.17g vs %.17g", l2, r3);
  nb_scope_end();
}

/* ---- blocks of samples ---------------------------------------------------------- */

/* Narrow windows run as blocks of samples (gathered and scattered window
 * rows, one column matrix per block); one sample alone runs in place. The
 * batch must match the samples one at a time: conv and conv_transpose sample
 * by sample, the weight gradient as the sum of the samples' gradients. */
static void check_blocks(int sd, int64_t n, int64_t c, int64_t o, int64_t groups, int64_t stride,
                         int64_t pad, int64_t dil) {
  nb_manual_seed(5);
  int64_t in = 9, k = 3, out = (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
  int64_t xs[4] = {n, c, sd == 2 ? in : 1, in}, ws[4] = {o, c / groups, sd == 2 ? k : 1, k};
  int64_t gs[4] = {n, o, sd == 2 ? out : 1, out};
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT64, 4, xs, NULL);
  nb_tensor *w = nb_randn(NB_DTYPE_FLOAT64, 4, ws, NULL);
  nb_tensor *b = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(o), NULL);
  nb_tensor *wt = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(o, c / groups, ws[2], k), NULL);
  nb_tensor *g = nb_randn(NB_DTYPE_FLOAT64, 4, gs, NULL);
  nb_conv2d_opts op = {.stride = {sd == 2 ? stride : 1, stride},
                       .padding = {sd == 2 ? pad : 0, pad},
                       .dilation = {sd == 2 ? dil : 1, dil},
                       .groups = groups};
  nb_conv_transpose2d_opts tp = {.stride = {op.stride[0], op.stride[1]},
                                 .padding = {op.padding[0], op.padding[1]},
                                 .dilation = {op.dilation[0], op.dilation[1]},
                                 .groups = groups};
  nb_tensor *y = nbk_conv2d(x, w, b, &op);
  nb_tensor *xt = nbk_conv_transpose2d(g, wt, NULL, &tp);
  nb_tensor *gw = nbk_conv2d_weight_grad(x, g, ws[2], k, &op);
  cr_assert(y && xt && gw, "%s", nb_errmsg());
  cr_assert_eq(nb_shape(xt)[2], xs[2], "conv_transpose2d gives the image back");
  nb_tensor *gsum = nb_zeros_like(gw, NB_DTYPE_FLOAT64);
  for (int64_t i = 0; i < n; i++) {
    nb_tensor *xi = nbk_contiguous(nbk_narrow(x, 0, i, 1));
    nb_tensor *gi = nbk_contiguous(nbk_narrow(g, 0, i, 1));
    nbt_assert_close(nbk_narrow(y, 0, i, 1), nbk_conv2d(xi, w, b, &op), 1e-12, 1e-12,
                     "conv2d sample");
    nbt_assert_close(nbk_narrow(xt, 0, i, 1), nbk_conv_transpose2d(gi, wt, NULL, &tp), 1e-12, 1e-12,
                     "conv_transpose2d sample");
    nb_add_(gsum, nbk_conv2d_weight_grad(xi, gi, ws[2], k, &op));
  }
  nbt_assert_close(gw, gsum, 1e-11, 1e-11, "weight gradient = sum over samples");
}

Test(conv, sample_blocks_match_samples) {
  nb_scope_begin();
  check_blocks(2, 37, 6, 8, 1, 1, 0, 1);    /* uneven blocks */
  check_blocks(2, 21, 6, 4, 2, 2, 1, 1);    /* groups, stride, padding */
  check_blocks(2, 16, 4, 6, 2, 1, 2, 2);    /* dilation */
  check_blocks(1, 19, 4, 6, 1, 2, 1, 1);    /* 1-D */
  check_blocks(2, 300, 32, 32, 1, 1, 0, 1); /* 12 blocks: weight chunks of two */
  nb_scope_end();
}

/* ---- thread determinism ------------------------------------------------------- */

static void same_bits(nb_tensor *a, nb_tensor *b, const char *what) {
  cr_assert_not_null(a, "%s: %s", what, nb_errmsg());
  cr_assert_not_null(b, "%s: %s", what, nb_errmsg());
  cr_assert_eq(nb_numel(a), nb_numel(b));
  cr_assert(memcmp(nb_data(a), nb_data(b), (size_t)nb_numel(a) * sizeof(float)) == 0,
            "%s differs between 1 and 2 threads", what);
}

static void check_threads(int64_t n, int64_t c, int64_t hw, int64_t o) {
  nb_manual_seed(11);
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(n, c, hw, hw), NULL);
  nb_tensor *w = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(o, c, 3, 3), NULL);
  nb_tensor *b = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(o), NULL);
  nb_tensor *g = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(n, o, hw, hw), NULL);
  nb_conv2d_opts op = {.padding = {1, 1}};
  nb_tensor *r[2][3];
  int saved = nb_get_num_threads();
  for (int t = 0; t < 2; t++) {
    nb_set_num_threads(t + 1);
    r[t][0] = nbk_conv2d(x, w, b, &op);
    r[t][1] = nbk_conv_transpose2d(g, w, NULL, &(nb_conv_transpose2d_opts){.padding = {1, 1}});
    r[t][2] = nbk_conv2d_weight_grad(x, g, 3, 3, &op);
  }
  nb_set_num_threads(saved);
  same_bits(r[0][0], r[1][0], "conv2d");
  same_bits(r[0][1], r[1][1], "conv_transpose2d");
  same_bits(r[0][2], r[1][2], "conv2d_weight_grad");
}

Test(conv, identical_with_1_and_2_threads) {
  nb_scope_begin();
  check_threads(8, 16, 20, 32);  /* samples split across threads */
  check_threads(1, 64, 40, 64);  /* one sample: threaded BLIS, channels split */
  check_threads(64, 32, 11, 64); /* narrow windows: blocks of 8 samples */
  nb_scope_end();
}

/* ---- empty tensors, defaults ----------------------------------------------------- */

Test(conv, empty_batch_and_channels) {
  nb_scope_begin();
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0, 3, 5, 5));
  nb_tensor *w = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4, 3, 3, 3));
  nbt_assert_shape(nbk_conv2d(x, w, NULL, NULL), NB_SHAPE(0, 4, 3, 3), "N = 0");
  nb_tensor *g = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0, 4, 3, 3));
  nb_tensor *gw = nbk_conv2d_weight_grad(x, g, 3, 3, NULL);
  nbt_assert_shape(gw, NB_SHAPE(4, 3, 3, 3), "weight grad of N = 0");
  double zeros[108] = {0};
  nbt_assert_values(gw, zeros, 108, 0, 0, "weight grad of an empty batch is 0");
  nbt_assert_shape(nbk_conv_transpose2d(g, w, NULL, NULL), NB_SHAPE(0, 3, 5, 5), "T, N = 0");
  /* no input channels: the output is the bias */
  nb_tensor *x0 = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1, 0, 4, 4));
  nb_tensor *w0 = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 0, 3, 3));
  nb_tensor *b = nb_from_data(NB_DTYPE_FLOAT32, (float[]){1.5f, -2}, NB_SHAPE(2));
  nb_tensor *y0 = nbk_conv2d(x0, w0, b, NULL);
  double want[8] = {1.5, 1.5, 1.5, 1.5, -2, -2, -2, -2};
  nbt_assert_shape(y0, NB_SHAPE(1, 2, 2, 2), "C = 0");
  nbt_assert_values(y0, want, 8, 0, 0, "C = 0 gives the bias");
  nb_scope_end();
}

Test(conv, zero_options_mean_defaults) {
  nb_scope_begin();
  nb_manual_seed(3);
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3, 6, 5), NULL);
  nb_tensor *w = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(4, 3, 3, 2), NULL);
  nb_tensor *a = nbk_conv2d(x, w, NULL, NULL);
  nb_tensor *b = nbk_conv2d(x, w, NULL, &(nb_conv2d_opts){0});
  nb_tensor *c =
      nbk_conv2d(x, w, NULL, &(nb_conv2d_opts){.stride = {1, 1}, .dilation = {1, 1}, .groups = 1});
  nbt_assert_shape(a, NB_SHAPE(2, 4, 4, 4), "defaults");
  nbt_assert_close(b, a, 0, 0, "zeroed opts");
  nbt_assert_close(c, a, 0, 0, "explicit defaults");
  /* a strided weight and bias give the same result */
  nb_tensor *wt = nbk_contiguous(nbk_transpose(w, 2, 3)); /* [4, 3, 2, 3] */
  nb_tensor *bias2 = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(4, 2), NULL);
  nb_tensor *bv = nbk_select(bias2, 1, 1); /* stride 2 */
  cr_assert(!nb_is_contiguous(nbk_transpose(wt, 2, 3)) && !nb_is_contiguous(bv));
  nb_tensor *d = nbk_conv2d(x, nbk_transpose(wt, 2, 3), bv, NULL);
  nbt_assert_close(d, nbk_conv2d(x, w, nbk_contiguous(bv), NULL), 0, 0, "strided weight, bias");
  /* conv1d is conv2d with a height of 1 */
  nb_tensor *x1 = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3, 9), NULL);
  nb_tensor *w1 = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(4, 3, 2), NULL);
  nb_tensor *y1 = nbk_conv1d(x1, w1, NULL, &(nb_conv1d_opts){.stride = 2, .padding = 1});
  nb_tensor *y2 = nbk_conv2d(nbk_unsqueeze(x1, 2), nbk_unsqueeze(w1, 2), NULL,
                             &(nb_conv2d_opts){.stride = {1, 2}, .padding = {0, 1}});
  nbt_assert_close(y1, nbk_squeeze(y2, 2), 0, 0, "conv1d vs conv2d");
  nb_scope_end();
}

/* ---- errors ------------------------------------------------------------------------- */

static void expect_err(nb_tensor *t, nb_status code, const char *op, const char *detail) {
  cr_assert_null(t, "%s: expected an error", op);
  cr_assert_eq(nb_last_status(), code, "%s: status %s, want %s (%s)", op,
               nb_status_str(nb_last_status()), nb_status_str(code), nb_errmsg());
  cr_assert(strstr(nb_errmsg(), op), "message lacks %s: %s", op, nb_errmsg());
  if (detail) cr_assert(strstr(nb_errmsg(), detail), "message lacks '%s': %s", detail, nb_errmsg());
}

Test(conv, errors) {
  nb_scope_begin();
  nb_tensor *x = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(1, 3, 8, 8));
  nb_tensor *w = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4, 2, 3, 3));
  nb_tensor *w3 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4, 3, 3, 3));
  nb_tensor *wd = nb_ones(NB_DTYPE_FLOAT64, NB_SHAPE(4, 3, 3, 3));
  nb_tensor *xi = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(1, 3, 8, 8));
  expect_err(nbk_conv2d(x, w, NULL, NULL), NB_ERR_SHAPE, "conv2d",
             "input [1, 3, 8, 8] has 3 channels but weight [4, 2, 3, 3] expects 2 x groups 1");
  expect_err(nbk_conv2d(x, nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4, 3, 3)), NULL, NULL), NB_ERR_SHAPE,
             "conv2d", "weight [4, 3, 3] must be 4-D");
  expect_err(nbk_conv2d(nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3, 8)), w3, NULL, NULL), NB_ERR_SHAPE,
             "conv2d", "input [3, 8]");
  expect_err(nbk_conv2d(x, wd, NULL, NULL), NB_ERR_DTYPE, "conv2d", "float64");
  expect_err(nbk_conv2d(xi, w3, NULL, NULL), NB_ERR_DTYPE, "conv2d", "int64");
  expect_err(nbk_conv2d(x, w3, nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3)), NULL), NB_ERR_SHAPE,
             "conv2d", "bias [3] must be [4]");
  expect_err(nbk_conv2d(x, w3, NULL, &(nb_conv2d_opts){.stride = {-1, 1}}), NB_ERR_ARG, "conv2d",
             "stride");
  expect_err(nbk_conv2d(x, w3, NULL, &(nb_conv2d_opts){.groups = -2}), NB_ERR_ARG, "conv2d",
             "groups");
  expect_err(nbk_conv2d(x, nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(5, 1, 3, 3)), NULL,
                        &(nb_conv2d_opts){.groups = 3}),
             NB_ERR_SHAPE, "conv2d", "not divisible by groups 3");
  expect_err(nbk_conv2d(nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(1, 3, 2, 2)), w3, NULL, NULL),
             NB_ERR_SHAPE, "conv2d", "smaller than the (dilated) kernel 3 x 3");
  expect_err(nbk_conv2d(x, w3, NULL, &(nb_conv2d_opts){.dilation = {4, 1}}), NB_ERR_SHAPE, "conv2d",
             "kernel 9 x 3");
  expect_err(nbk_conv2d(x, nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4, 3, 0, 3)), NULL, NULL),
             NB_ERR_SHAPE, "conv2d", "empty kernel");
  expect_err(nbk_conv1d(nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(1, 3, 2)),
                        nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4, 3, 3)), NULL, NULL),
             NB_ERR_SHAPE, "conv1d", "padded to 2 is smaller than the (dilated) kernel 3");
  expect_err(nbk_conv1d(x, w3, NULL, NULL), NB_ERR_SHAPE, "conv1d", "input [1, 3, 8, 8]");
  /* transposed */
  nb_tensor *xt = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(1, 4, 3, 3));
  expect_err(nbk_conv_transpose2d(xt, nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3, 2, 3, 3)), NULL, NULL),
             NB_ERR_SHAPE, "conv_transpose2d", "has 4 channels but weight [3, 2, 3, 3] expects 3");
  expect_err(
      nbk_conv_transpose2d(xt, w, NULL,
                           &(nb_conv_transpose2d_opts){.stride = {2, 2}, .output_padding = {2, 2}}),
      NB_ERR_ARG, "conv_transpose2d", "output_padding 2 x 2 must be smaller");
  expect_err(nbk_conv_transpose2d(xt, w, NULL, &(nb_conv_transpose2d_opts){.padding = {3, 0}}),
             NB_ERR_SHAPE, "conv_transpose2d", "output of size -1 x 5");
  expect_err(nbk_conv_transpose2d(xt, w, nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4)), NULL),
             NB_ERR_SHAPE, "conv_transpose2d", "bias [4] must be [2]");
  /* weight gradient */
  nb_tensor *g = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(1, 4, 5, 6));
  expect_err(nbk_conv2d_weight_grad(x, g, 3, 3, NULL), NB_ERR_SHAPE, "conv2d_weight_grad",
             "spatial size 6 x 6");
  expect_err(nbk_conv2d_weight_grad(x, g, 0, 3, NULL), NB_ERR_ARG, "conv2d_weight_grad",
             "kernel size");
  expect_err(nbk_conv2d_weight_grad(x, nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 4, 6, 6)), 3, 3, NULL),
             NB_ERR_SHAPE, "conv2d_weight_grad", "batch size");
  /* NULL keeps the first error */
  nb_clear_error();
  cr_assert_null(nbk_conv2d(NULL, w3, NULL, NULL));
  cr_assert_eq(nb_last_status(), NB_ERR_NULL);
  nb_set_error(NB_ERR_INDEX, "earlier failure");
  cr_assert_null(nbk_conv_transpose2d(xt, NULL, NULL, NULL));
  cr_assert(strstr(nb_errmsg(), "earlier failure"), "%s", nb_errmsg());
  nb_scope_end();
}
