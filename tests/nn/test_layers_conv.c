/* tests/nn/test_layers_conv.c - Conv1d, Conv2d, ConvTranspose2d, MaxPool2d,
 * AvgPool2d, AdaptiveAvgPool2d and Upsample modules vs PyTorch.
 *
 * Sweeps tests/fixtures/nn_layers.txt (tools/fixtures/gen_nn_layers.py): each
 * layer gets PyTorch's weights (copied into its state by name), then its
 * output and the gradients of (out * gout).sum() with respect to the input
 * and every parameter must match, in float32 and float64. Also: default
 * initialization bounds from torch's fan formulas, state names and shapes of
 * a small CNN built with nb_sequential_new (and its training-mode values),
 * the Fashion-MNIST reference CNN, descriptions and error paths.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "support/nbtest.h"

TestSuite(nn_conv, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

static const char *const tags[] = {"f32", "f64"};

static bool is_f64(const nbt_case *c) { return strstr(nbt_case_name(c), "_f64") != NULL; }

/* Float32 convolutions sum many products in a different order than PyTorch. */
static void check(const nbt_case *c, const char *name, nb_tensor *t) {
  bool f64 = is_f64(c);
  nbt_case_check(c, name, t, f64 ? 1e-10 : 1e-4, f64 ? 1e-12 : 1e-5);
}

/* Copy the case's state ("p.<name>") into m, checking names, order, shapes
 * and dtypes against PyTorch's state_dict. */
static void load_state(const nbt_case *c, nb_module *m) {
  char buf[160];
  nb_named_tensors state = nb_module_state(m);
  for (int i = 0; i < state.n; i++) {
    snprintf(buf, sizeof buf, "p.%s", state.names[i]);
    cr_assert(nbt_case_has_tensor(c, buf), "%s: torch has no state entry %s", nbt_case_name(c),
              state.names[i]);
    nb_tensor *v = nbt_case_tensor(c, buf);
    nbt_assert_shape(state.tensors[i], nb_ndim(v), nb_shape(v), buf);
    cr_assert_eq(nb_dtype_of(state.tensors[i]), nb_dtype_of(v), "%s dtype", buf);
    nbt_assert_ok(nb_copy_(state.tensors[i], v), buf);
    nb_free(v);
    snprintf(buf, sizeof buf, "idx.%s", state.names[i]);
    cr_assert_eq((int)nbt_case_param(c, buf), i, "%s: position of %s", nbt_case_name(c), buf);
  }
}

/* Load the case's state into m, run it on x and compare the output and the
 * gradients with PyTorch's. Returns the output (scoped). */
static nb_tensor *run_loaded(const nbt_case *c, nb_module *m) {
  char buf[160];
  nb_tensor *x = nbt_case_tensor(c, "x");
  nb_requires_grad_(x, true);
  nb_module_zero_grad(m, true);
  nb_tensor *out = nb_forward(m, x);
  cr_assert_not_null(out, "%s: %s", nbt_case_name(c), nb_errmsg());
  check(c, "out", out);
  nb_tensor *loss = nb_sum(nb_mul(out, nbt_case_tensor(c, "gout")), NB_ALL_DIMS, false);
  nbt_assert_ok(nb_backward(loss), nbt_case_name(c));
  check(c, "g_x", nb_grad_of(x));
  nb_named_tensors params = nb_module_parameters(m);
  for (int i = 0; i < params.n; i++) {
    snprintf(buf, sizeof buf, "g.%s", params.names[i]);
    check(c, buf, nb_grad_of(params.tensors[i]));
  }
  return out;
}

static void run_case(const nbt_case *c, nb_module *m) {
  cr_assert_not_null(m, "%s: %s", nbt_case_name(c), nb_errmsg());
  nb_scope_begin();
  load_state(c, m);
  run_loaded(c, m);
  nb_scope_end();
  nb_module_free(m);
}

/* ---- convolutions --------------------------------------------------------------------- */

static nb_module *make_conv(const nbt_case *c) {
  int64_t k[2], stride[2], pad[2], dil[2], opad[2];
  nbt_case_param_ints(c, "kernel", k, 2);
  nbt_case_param_ints(c, "stride", stride, 2);
  nbt_case_param_ints(c, "padding", pad, 2);
  nbt_case_param_ints(c, "dilation", dil, 2);
  nbt_case_param_ints(c, "output_padding", opad, 2);
  nb_conv_layer_opts o = {.groups = (int64_t)nbt_case_param(c, "groups"),
                          .no_bias = nbt_case_param(c, "bias") == 0,
                          .dtype = is_f64(c) ? NB_DTYPE_FLOAT64 : NB_DTYPE_FLOAT32};
  memcpy(o.stride, stride, sizeof stride);
  memcpy(o.padding, pad, sizeof pad);
  memcpy(o.dilation, dil, sizeof dil);
  memcpy(o.output_padding, opad, sizeof opad);
  int64_t in = (int64_t)nbt_case_param(c, "in"), out = (int64_t)nbt_case_param(c, "out");
  switch ((int)nbt_case_param(c, "kind")) {
  case 1: return nb_conv1d_new(in, out, k[0], &o);
  case 2: return nb_conv2d_new(in, out, k[0], k[1], &o);
  default: return nb_conv_transpose2d_new(in, out, k[0], k[1], &o);
  }
}

static void sweep(const char *const *names, size_t n, nb_module *(*make)(const nbt_case *)) {
  nbt_fixture *f = nbt_fixture_load("nn_layers");
  for (int t = 0; t < 2; t++)
    for (size_t i = 0; i < n; i++) {
      char name[64];
      snprintf(name, sizeof name, "%s_%s", names[i], tags[t]);
      const nbt_case *c = nbt_fixture_case(f, name);
      run_case(c, make(c));
    }
  nbt_fixture_free(f);
}

Test(nn_conv, conv1d) {
  static const char *const names[] = {"conv1d_basic", "conv1d_groups", "conv1d_unbatched"};
  sweep(names, 3, make_conv);
}

Test(nn_conv, conv2d) {
  static const char *const names[] = {"conv2d_basic", "conv2d_groups", "conv2d_nobias",
                                      "conv2d_unbatched"};
  sweep(names, 4, make_conv);
}

Test(nn_conv, conv_transpose2d) {
  static const char *const names[] = {"convt2d_basic", "convt2d_groups", "convt2d_unbatched"};
  sweep(names, 3, make_conv);
}

/* ---- pooling and resampling ------------------------------------------------------------- */

static nb_module *make_pool(const nbt_case *c) {
  int64_t k[2];
  nb_pool_layer_opts o = {.ceil_mode = nbt_case_param(c, "ceil") != 0,
                          .exclude_pad = nbt_case_param(c, "exclude_pad") != 0};
  nbt_case_param_ints(c, "kernel", k, 2);
  nbt_case_param_ints(c, "stride", o.stride, 2);
  nbt_case_param_ints(c, "padding", o.padding, 2);
  nbt_case_param_ints(c, "dilation", o.dilation, 2);
  if (nbt_case_param(c, "kind") == 1) return nb_max_pool2d_new(k[0], k[1], &o);
  return nb_avg_pool2d_new(k[0], k[1], &o);
}

static nb_module *make_adaptive(const nbt_case *c) {
  int64_t out[2];
  nbt_case_param_ints(c, "out", out, 2);
  return nb_adaptive_avg_pool2d_new(out[0], out[1]);
}

static nb_module *make_upsample(const nbt_case *c) {
  double scale[2];
  int64_t size[2];
  nbt_case_param_doubles(c, "scale", scale, 2);
  nbt_case_param_ints(c, "size", size, 2);
  return nb_upsample_new(nbt_case_param(c, "mode") ? "bilinear" : "nearest", scale[0], scale[1],
                         size[0], size[1], nbt_case_param(c, "align") != 0);
}

Test(nn_conv, pools) {
  static const char *const names[] = {"maxpool_2", "maxpool_opts", "avgpool_2", "avgpool_opts",
                                      "avgpool_unbatched"};
  sweep(names, 5, make_pool);
  static const char *const adaptive[] = {"adaptive_3x4", "adaptive_keep_h"};
  sweep(adaptive, 2, make_adaptive);
}

Test(nn_conv, upsample) {
  static const char *const names[] = {"upsample_nearest_2", "upsample_bilinear_size",
                                      "upsample_bilinear_scale"};
  sweep(names, 3, make_upsample);
}

/* ---- default initialization --------------------------------------------------------------- */

/* Largest |value|, mean and mean square of t. */
static void moments(nb_tensor *t, double *amax, double *mean, double *meansq) {
  int64_t n = nb_numel(t);
  double *v = malloc(sizeof(double) * (size_t)n);
  nbt_assert_ok(nb_copy_out(t, NB_DTYPE_FLOAT64, v, n), "copy_out");
  double s = 0, s2 = 0, m = 0;
  for (int64_t i = 0; i < n; i++) {
    s += v[i];
    s2 += v[i] * v[i];
    m = fmax(m, fabs(v[i]));
  }
  free(v);
  *amax = m;
  *mean = s / (double)n;
  *meansq = s2 / (double)n;
}

Test(nn_conv, default_init_bounds) {
  static const char *const names[] = {"init_conv1d", "init_conv2d", "init_conv2d_groups",
                                      "init_convt2d", "init_convt2d_groups"};
  nbt_fixture *f = nbt_fixture_load("nn_layers");
  nb_generator *g = nb_generator_new(123);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const nbt_case *c = nbt_fixture_case(f, names[i]);
    nb_generator_seed(g, 123 + i);
    int64_t wshape[4];
    int nd = nbt_case_param_ints(c, "weight_shape", wshape, 4);
    double wb = nbt_case_param(c, "wbound"), bb = nbt_case_param(c, "bbound");
    int64_t k[2];
    nbt_case_param_ints(c, "kernel", k, 2);
    nb_conv_layer_opts o = {.groups = (int64_t)nbt_case_param(c, "groups"), .generator = g};
    int64_t in = (int64_t)nbt_case_param(c, "in"), out = (int64_t)nbt_case_param(c, "out");
    int kind = (int)nbt_case_param(c, "kind");
    nb_module *m = kind == 1   ? nb_conv1d_new(in, out, k[0], &o)
                   : kind == 2 ? nb_conv2d_new(in, out, k[0], k[1], &o)
                               : nb_conv_transpose2d_new(in, out, k[0], k[1], &o);
    cr_assert_not_null(m, "%s", nb_errmsg());
    nb_tensor *w = nb_module_get_parameter(m, "weight"), *b = nb_module_get_parameter(m, "bias");
    nbt_assert_shape(w, nd, wshape, names[i]);
    nbt_assert_shape(b, NB_SHAPE(out), names[i]);
    double amax, mean, meansq;
    moments(w, &amax, &mean, &meansq);
    int64_t n = nb_numel(w);
    cr_assert(amax <= wb && amax > 0.98 * wb, "%s: max |w| %g vs bound %g", names[i], amax, wb);
    cr_assert(fabs(mean) < 4 * wb / sqrt(3.0 * (double)n), "%s: mean %g", names[i], mean);
    cr_assert(fabs(meansq / (wb * wb / 3) - 1) < 0.1, "%s: variance %g vs %g", names[i], meansq,
              wb * wb / 3);
    moments(b, &amax, &mean, &meansq);
    cr_assert(amax <= bb && amax > 0.5 * bb, "%s: max |b| %g vs bound %g", names[i], amax, bb);
    /* The same seed gives the same weights. */
    nb_generator_seed(g, 123 + i);
    nb_module *again = kind == 1   ? nb_conv1d_new(in, out, k[0], &o)
                       : kind == 2 ? nb_conv2d_new(in, out, k[0], k[1], &o)
                                   : nb_conv_transpose2d_new(in, out, k[0], k[1], &o);
    nbt_assert_close(nb_module_get_parameter(again, "weight"), w, 0, 0, "reseeded weight");
    nb_module_free(again);
    nb_module_free(m);
  }
  nb_generator_free(g);
  nbt_fixture_free(f);
}

/* ---- small CNN: names, shapes, values ------------------------------------------------------- */

static nb_module *small_cnn(nb_dtype dtype) {
  nb_conv_layer_opts co = {.padding = {1, 1}, .dtype = dtype};
  nb_norm_opts no = {.dtype = dtype};
  nb_layer_opts lo = {.dtype = dtype};
  nb_module *layers[] = {nb_conv2d_new(3, 8, 3, 3, &co),
                         nb_batch_norm2d_new(8, &no),
                         nb_relu_new(),
                         nb_max_pool2d_new(2, 2, NULL),
                         nb_flatten_new(1, -1),
                         nb_linear_new(8 * 4 * 4, 10, &lo)};
  return nb_sequential_new(layers, 6);
}

Test(nn_conv, small_cnn_matches_torch) {
  static const char *const expect[] = {"0.weight",
                                       "0.bias",
                                       "1.weight",
                                       "1.bias",
                                       "1.running_mean",
                                       "1.running_var",
                                       "1.num_batches_tracked",
                                       "5.weight",
                                       "5.bias"};
  nbt_fixture *f = nbt_fixture_load("nn_layers");
  for (int t = 0; t < 2; t++) {
    char name[32], buf[64];
    snprintf(name, sizeof name, "cnn_%s", tags[t]);
    const nbt_case *c = nbt_fixture_case(f, name);
    nb_module *m = small_cnn(t ? NB_DTYPE_FLOAT64 : NB_DTYPE_FLOAT32);
    cr_assert_not_null(m, "%s", nb_errmsg());
    nb_named_tensors state = nb_module_state(m);
    cr_assert_eq(state.n, (int)nbt_case_param(c, "nstate"));
    for (int i = 0; i < state.n; i++) cr_assert_str_eq(state.names[i], expect[i]);
    cr_assert_eq(nb_dtype_of(nb_module_get_buffer(m, "1.num_batches_tracked")), NB_DTYPE_INT64);
    cr_assert_eq(nb_module_num_params(m), (int64_t)nbt_case_param(c, "nparams"));
    nb_scope_begin();
    load_state(c, m); /* also checks every shape and dtype against torch's */
    run_loaded(c, m);
    for (int i = 0; i < state.n; i++) { /* BatchNorm's buffers after the training step */
      snprintf(buf, sizeof buf, "post.%s", state.names[i]);
      check(c, buf, state.tensors[i]);
    }
    nb_scope_end();
    nb_module_free(m);
  }
  nbt_fixture_free(f);
}

/* The Fashion-MNIST CNN of /work/shared/reference/torch_ref.py. */
Test(nn_conv, fashion_mnist_cnn_smoke) {
  nb_manual_seed(0);
  nb_module *layers[] = {nb_conv2d_new(1, 32, 3, 3, NULL),
                         nb_relu_new(),
                         nb_max_pool2d_new(2, 2, NULL),
                         nb_conv2d_new(32, 64, 3, 3, NULL),
                         nb_relu_new(),
                         nb_max_pool2d_new(2, 2, NULL),
                         nb_flatten_new(1, -1),
                         nb_linear_new(1600, 128, NULL),
                         nb_relu_new(),
                         nb_linear_new(128, 10, NULL)};
  nb_module *net = nb_sequential_new(layers, 10);
  cr_assert_not_null(net, "%s", nb_errmsg());
  cr_assert_eq(nb_module_num_params(net), 225034); /* sum(p.numel()) in PyTorch */
  nb_scope_begin();
  nb_tensor *x = nb_rand(NB_DTYPE_FLOAT32, NB_SHAPE(4, 1, 28, 28), NULL);
  nb_tensor *y = nb_forward(net, x);
  nbt_assert_shape(y, NB_SHAPE(4, 10), "logits");
  nb_tensor *target = nb_from_data(NB_DTYPE_INT64, (int64_t[]){0, 3, 9, 4}, NB_SHAPE(4));
  nb_tensor *loss = nb_cross_entropy(y, target, NULL);
  double l = nb_item(loss);
  cr_assert(isfinite(l) && l > 1.5 && l < 3.5, "initial loss %g (about ln 10)", l);
  nbt_assert_ok(nb_backward(loss), "backward");
  nb_named_tensors params = nb_module_parameters(net);
  cr_assert_eq(params.n, 8);
  for (int i = 0; i < params.n; i++) {
    nb_tensor *gr = nb_grad_of(params.tensors[i]);
    cr_assert_not_null(gr, "%s has no gradient", params.names[i]);
    nbt_assert_shape(gr, nb_ndim(params.tensors[i]), nb_shape(params.tensors[i]), params.names[i]);
  }
  nb_scope_end();
  nb_module_free(net);
}

/* ---- non-contiguous inputs, descriptions, errors ----------------------------------------- */

Test(nn_conv, noncontiguous_input) {
  nb_manual_seed(3);
  nb_module *conv = nb_conv2d_new(3, 4, 3, 3, &(nb_conv_layer_opts){.padding = {1, 1}});
  nb_module *pool = nb_max_pool2d_new(2, 2, NULL);
  nb_scope_begin();
  nb_tensor *base = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3, 6, 12), NULL);
  nb_tensor *x = nbk_slice(base, 3, 0, 12, 2); /* [2, 3, 6, 6], stepped */
  cr_assert_not(nb_is_contiguous(x));
  nbt_assert_close(nb_forward(conv, x), nb_forward(conv, nbk_contiguous(x)), 1e-6, 1e-6, "conv");
  nbt_assert_close(nb_forward(pool, x), nb_forward(pool, nbk_contiguous(x)), 0, 0, "pool");
  nb_scope_end();
  nb_module_free(pool);
  nb_module_free(conv);
}

Test(nn_conv, descriptions) {
  struct {
    nb_module *m;
    const char *type, *text;
  } rows[] = {
      {nb_conv2d_new(1, 32, 3, 3, NULL), "Conv2d", "1, 32, kernel_size=(3, 3), stride=(1, 1)"},
      {nb_conv1d_new(4, 6, 3, &(nb_conv_layer_opts){.stride = {2}, .padding = {1}}), "Conv1d",
       "4, 6, kernel_size=(3,), stride=(2,), padding=(1,)"},
      {nb_conv2d_new(4, 6, 3, 2,
                     &(nb_conv_layer_opts){.dilation = {1, 2}, .groups = 2, .no_bias = true}),
       "Conv2d", "4, 6, kernel_size=(3, 2), stride=(1, 1), dilation=(1, 2), groups=2, bias=False"},
      {nb_conv_transpose2d_new(4, 6, 3, 3,
                               &(nb_conv_layer_opts){.stride = {2, 2}, .output_padding = {1, 1}}),
       "ConvTranspose2d", "4, 6, kernel_size=(3, 3), stride=(2, 2), output_padding=(1, 1)"},
      {nb_max_pool2d_new(2, 2, NULL), "MaxPool2d",
       "kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False"},
      {nb_avg_pool2d_new(3, 2, &(nb_pool_layer_opts){.stride = {1, 1}, .padding = {1, 1}}),
       "AvgPool2d", "kernel_size=(3, 2), stride=1, padding=1"},
      {nb_adaptive_avg_pool2d_new(5, 7), "AdaptiveAvgPool2d", "output_size=(5, 7)"},
      {nb_adaptive_avg_pool2d_new(1, 1), "AdaptiveAvgPool2d", "output_size=1"},
      {nb_adaptive_avg_pool2d_new(-1, 3), "AdaptiveAvgPool2d", "output_size=(None, 3)"},
      {nb_upsample_new("nearest", 2, 0, 0, 0, false), "Upsample",
       "scale_factor=2.0, mode='nearest'"},
      {nb_upsample_new("bilinear", 1.5, 2.5, 0, 0, false), "Upsample",
       "scale_factor=(1.5, 2.5), mode='bilinear'"},
      {nb_upsample_new("bilinear", 0, 0, 5, 7, true), "Upsample", "size=(5, 7), mode='bilinear'"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    char buf[160];
    cr_assert_not_null(rows[i].m, "row %zu: %s", i, nb_errmsg());
    cr_assert_str_eq(nb_module_type(rows[i].m), rows[i].type);
    rows[i].m->ops->describe(rows[i].m, buf, sizeof buf);
    cr_assert_str_eq(buf, rows[i].text);
    nb_module_free(rows[i].m);
  }
}

Test(nn_conv, constructor_errors) {
  nbt_expect_null(nb_conv2d_new(3, 4, 3, 3, &(nb_conv_layer_opts){.groups = 2}), NB_ERR_ARG,
                  "conv2d_new: in_channels 3 and out_channels 4 must be divisible by groups 2");
  nbt_expect_null(nb_conv1d_new(-1, 4, 3, NULL), NB_ERR_ARG, "conv1d_new");
  nbt_expect_null(nb_conv2d_new(3, 4, 0, 3, NULL), NB_ERR_ARG, "kernel size 0");
  nbt_expect_null(nb_conv2d_new(3, 4, 3, 3, &(nb_conv_layer_opts){.stride = {-1, 1}}), NB_ERR_ARG,
                  "stride -1");
  nbt_expect_null(nb_conv2d_new(3, 4, 3, 3, &(nb_conv_layer_opts){.output_padding = {1, 0}}),
                  NB_ERR_ARG, "transposed convolutions only");
  nbt_expect_null(
      nb_conv_transpose2d_new(3, 4, 3, 3, &(nb_conv_layer_opts){.output_padding = {1, 0}}),
      NB_ERR_ARG, "output_padding 1 must be smaller than stride 1 or dilation 1");
  nbt_expect_null(nb_conv2d_new(3, 4, 3, 3, &(nb_conv_layer_opts){.dtype = NB_DTYPE_INT64}),
                  NB_ERR_DTYPE, "int64");
  nbt_expect_null(nb_max_pool2d_new(2, 2, &(nb_pool_layer_opts){.padding = {2, 0}}), NB_ERR_ARG,
                  "max_pool2d_new");
  nbt_expect_null(nb_avg_pool2d_new(0, 2, NULL), NB_ERR_ARG, "avg_pool2d_new");
  nbt_expect_null(nb_avg_pool2d_new(2, 2, &(nb_pool_layer_opts){.dilation = {2, 2}}), NB_ERR_ARG,
                  "no dilation");
  nbt_expect_null(nb_adaptive_avg_pool2d_new(-2, 3), NB_ERR_ARG, "adaptive_avg_pool2d_new");
  nbt_expect_null(nb_upsample_new("bicubic", 2, 2, 0, 0, false), NB_ERR_ARG, "bicubic");
  nbt_expect_null(nb_upsample_new("nearest", 2, 2, 0, 0, true), NB_ERR_ARG, "align_corners");
  nbt_expect_null(nb_upsample_new("nearest", 2, 2, 4, 4, false), NB_ERR_ARG, "no size");
  nbt_expect_null(nb_upsample_new("nearest", 0, 0, 0, 0, false), NB_ERR_ARG, "positive size");
}

Test(nn_conv, forward_errors) {
  nb_module *conv = nb_conv2d_new(3, 8, 3, 3, NULL), *c1 = nb_conv1d_new(2, 2, 3, NULL);
  nb_module *ct = nb_conv_transpose2d_new(4, 2, 2, 2, NULL);
  nb_module *pool = nb_max_pool2d_new(3, 3, NULL), *up = nb_upsample_new("nearest", 2, 0, 0, 0, 0);
  nb_scope_begin();
  nbt_expect_null(nb_forward(conv, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1, 4, 8, 8))), NB_ERR_SHAPE,
                  "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1)): expected input [N, 3, H, W] or "
                  "[3, H, W], got [1, 4, 8, 8]");
  nbt_expect_null(nb_forward(conv, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(8, 8))), NB_ERR_SHAPE,
                  "got [8, 8]");
  nbt_expect_null(
      nb_forward(c1, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3, 5))), NB_ERR_SHAPE,
      "Conv1d(2, 2, kernel_size=(3,), stride=(1,)): expected input [N, 2, L] or [2, L], "
      "got [2, 3, 5]");
  nbt_expect_null(nb_forward(ct, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1, 2, 3, 3))), NB_ERR_SHAPE,
                  "ConvTranspose2d(4, 2, kernel_size=(2, 2), stride=(1, 1)): expected input "
                  "[N, 4, H, W]");
  /* Too small for the kernel: the op's error, named by the layer. */
  nbt_expect_null(nb_forward(conv, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1, 3, 2, 2))), NB_ERR_SHAPE,
                  "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1)): conv2d");
  nbt_expect_null(nb_forward(conv, nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(1, 3, 4, 4))), NB_ERR_DTYPE,
                  "Conv2d(3, 8");
  nbt_expect_null(nb_forward(pool, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1, 1, 2, 2))), NB_ERR_SHAPE,
                  "MaxPool2d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False): "
                  "max_pool2d");
  nbt_expect_null(nb_forward(up, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(4))), NB_ERR_SHAPE,
                  "Upsample(scale_factor=2.0, mode='nearest'): interpolate");
  nb_tensor *two[2] = {nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1, 3, 4, 4)),
                       nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1, 3, 4, 4))};
  nbt_expect_null(nb_forward_n(conv, two, 2), NB_ERR_ARG, "Conv2d: expected 1 input, got 2");
  nb_scope_end();
  nb_module_free(up);
  nb_module_free(pool);
  nb_module_free(ct);
  nb_module_free(c1);
  nb_module_free(conv);
}
