/* tests/nn/test_init.c - initialization (nn/init.c) and the layers' defaults.
 *
 * tests/fixtures/nn_init.txt (tools/fixtures/gen_nn_init.py) holds PyTorch's
 * calculate_gain table, fans, and for every init the distribution it must
 * produce (mean, std, bounds; computed with torch's helpers and checked
 * against torch's own samples by the generator). Here nabla fills large
 * tensors and their statistics must match within sampling error. Orthogonal
 * fills give gain^2 I Gram matrices; trunc_normal stays inside [a, b].
 */
#include <math.h>
#include <string.h>

#include "nn/nn.h"
#include "nn/nn_impl.h"
#include "support/nbtest.h"

TestSuite(nn_init, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

/* Kaiming's nonlinearity codes in the fixture. */
static const char *const NONLIN[] = {"leaky_relu", "relu", "tanh"};

static double stat(nb_tensor *t, nb_tensor *(*reduce)(nb_tensor *, const int *, int, bool)) {
  nb_tensor *d = nbk_to(t, NB_DTYPE_FLOAT64);
  nb_tensor *r = reduce(d, NB_ALL_DIMS, false);
  double v = nb_item(r);
  nb_free(r);
  nb_free(d);
  return v;
}

static double sample_std(nb_tensor *t) {
  nb_tensor *d = nbk_to(t, NB_DTYPE_FLOAT64);
  nb_tensor *r = nbk_std(d, NB_ALL_DIMS, 1.0, false);
  double v = nb_item(r);
  nb_free(r);
  nb_free(d);
  return v;
}

/* Assert t has the case's shape and distribution (within sampling error). */
static void check_distribution(const nbt_case *c, nb_tensor *t) {
  const char *name = nbt_case_name(c);
  int64_t shape[NB_MAX_DIMS];
  int nd = nbt_case_param_ints(c, "shape", shape, NB_MAX_DIMS);
  nbt_assert_shape(t, nd, shape, name);
  double n = (double)nb_numel(t), mean = nbt_case_param(c, "mean"), std = nbt_case_param(c, "std");
  double m = stat(t, nbk_mean), s = sample_std(t);
  cr_assert(fabs(m - mean) <= 6 * std / sqrt(n) + 1e-12, "%s: mean %g, expected %g", name, m, mean);
  cr_assert(fabs(s - std) <= 5 / sqrt(2 * n) * std, "%s: std %g, expected %g", name, s, std);
  if (!nbt_case_has_param(c, "lo")) return;
  double lo = nbt_case_param(c, "lo"), hi = nbt_case_param(c, "hi");
  double mn = stat(t, nbk_amin), mx = stat(t, nbk_amax), slack = 1e-6 * (hi - lo);
  cr_assert(mn >= lo - slack && mx <= hi + slack, "%s: range [%g, %g] outside [%g, %g]", name, mn,
            mx, lo, hi);
  if (n >= 100000) /* and the whole range is used */
    cr_assert(mn < lo + 2e-3 * (hi - lo) && mx > hi - 2e-3 * (hi - lo),
              "%s: range [%g, %g] does not reach [%g, %g]", name, mn, mx, lo, hi);
}

static nb_tensor *case_empty(const nbt_case *c, nb_dtype dtype) {
  int64_t shape[NB_MAX_DIMS];
  int nd = nbt_case_param_ints(c, "shape", shape, NB_MAX_DIMS);
  return nb_empty(dtype, nd, shape);
}

Test(nn_init, calculate_gain_matches_pytorch) {
  nbt_fixture *f = nbt_fixture_load("nn_init");
  const nbt_case *c = nbt_fixture_case(f, "gains");
  static const char *const names[] = {
      "linear",           "conv1d",  "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
      "conv_transpose3d", "sigmoid", "tanh",   "relu",   "leaky_relu",       "selu"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char key[64];
    snprintf(key, sizeof key, "gain_%s", names[i]);
    double g = nb_calculate_gain(names[i], NAN); /* NAN = PyTorch's param=None */
    cr_assert_float_eq(g, nbt_case_param(c, key), 1e-15, "%s: %.17g", names[i], g);
  }
  cr_assert_float_eq(nb_calculate_gain("leaky_relu", 0), nbt_case_param(c, "gain_leaky_relu_p0"),
                     1e-15);
  cr_assert_float_eq(nb_calculate_gain("leaky_relu", 0.2), nbt_case_param(c, "gain_leaky_relu_p02"),
                     1e-15);
  cr_assert_float_eq(nb_calculate_gain("leaky_relu", sqrt(5)),
                     nbt_case_param(c, "gain_leaky_relu_p5"), 1e-15);
  cr_assert(isnan(nb_calculate_gain("softsign", 0)));
  cr_assert_eq(nb_last_status(), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "softsign"), "%s", nb_errmsg());
  cr_assert(isnan(nb_calculate_gain(NULL, 0)));
  nbt_fixture_free(f);
}

Test(nn_init, fans_match_pytorch) {
  nbt_fixture *f = nbt_fixture_load("nn_init");
  static const char *const cases[] = {"fans_dense", "fans_conv", "fans_conv1d"};
  for (int i = 0; i < 3; i++) {
    const nbt_case *c = nbt_fixture_case(f, cases[i]);
    nb_tensor *t = case_empty(c, NB_DTYPE_FLOAT32);
    int64_t fan_in = 0, fan_out = 0;
    nbt_assert_ok(nb__nn_fans("test", t, &fan_in, &fan_out), cases[i]);
    cr_assert_eq(fan_in, (int64_t)nbt_case_param(c, "fan_in"), "%s", cases[i]);
    cr_assert_eq(fan_out, (int64_t)nbt_case_param(c, "fan_out"), "%s", cases[i]);
    nb_free(t);
  }
  nbt_fixture_free(f);
}

/* The uniform / normal / xavier / kaiming / trunc_normal cases, each run in
 * float32 with an explicit generator and in float64 with the default one. */
static nb_status run_init(const nbt_case *c, nb_tensor *t, nb_generator *g) {
  const char *name = nbt_case_name(c);
  double a = nbt_case_has_param(c, "a") ? nbt_case_param(c, "a") : 0;
  if (!strcmp(name, "uniform")) return nb_init_uniform_(t, a, nbt_case_param(c, "b"), g);
  if (!strcmp(name, "normal")) return nb_init_normal_(t, a, nbt_case_param(c, "b"), g);
  if (!strcmp(name, "xavier_uniform"))
    return nb_init_xavier_uniform_(t, nbt_case_param(c, "gain"), g);
  if (!strcmp(name, "xavier_normal"))
    return nb_init_xavier_normal_(t, nbt_case_param(c, "gain"), g);
  if (!strncmp(name, "trunc_normal", 12))
    return nb_init_trunc_normal_(t, nbt_case_param(c, "m"), nbt_case_param(c, "s"), a,
                                 nbt_case_param(c, "b"), g);
  nb_fan_mode mode = (nb_fan_mode)nbt_case_param(c, "mode");
  const char *nl = NONLIN[(int)nbt_case_param(c, "nl")];
  if (!strncmp(name, "kaiming_uniform", 15)) return nb_init_kaiming_uniform_(t, a, mode, nl, g);
  return nb_init_kaiming_normal_(t, a, mode, nl, g);
}

Test(nn_init, distributions_match_pytorch) {
  static const char *const cases[] = {"uniform",
                                      "normal",
                                      "xavier_uniform",
                                      "xavier_normal",
                                      "kaiming_uniform_default",
                                      "kaiming_uniform_sqrt5",
                                      "kaiming_uniform_fan_out_relu",
                                      "kaiming_normal_relu",
                                      "kaiming_normal_fan_out_leaky",
                                      "kaiming_normal_tanh",
                                      "trunc_normal_default",
                                      "trunc_normal_shifted",
                                      "trunc_normal_tail"};
  nbt_fixture *f = nbt_fixture_load("nn_init");
  nb_generator *g = nb_generator_new(42);
  nb_manual_seed(5);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const nbt_case *c = nbt_fixture_case(f, cases[i]);
    for (int d = 0; d < 2; d++) {
      nb_tensor *t = case_empty(c, d ? NB_DTYPE_FLOAT64 : NB_DTYPE_FLOAT32);
      nbt_assert_ok(run_init(c, t, d ? NULL : g), cases[i]);
      check_distribution(c, t);
      nb_free(t);
    }
  }
  nb_generator_free(g);
  nbt_fixture_free(f);
}

Test(nn_init, same_seed_same_values) {
  nb_generator *g1 = nb_generator_new(9), *g2 = nb_generator_new(9);
  nb_tensor *a = nb_empty(NB_DTYPE_FLOAT32, NB_SHAPE(20, 30));
  nb_tensor *b = nb_empty(NB_DTYPE_FLOAT32, NB_SHAPE(20, 30));
  nbt_assert_ok(nb_init_trunc_normal_(a, 0, 1, -2, 2, g1), "a");
  nbt_assert_ok(nb_init_trunc_normal_(b, 0, 1, -2, 2, g2), "b");
  cr_assert(nb_equal(a, b));
  nbt_assert_ok(nb_init_orthogonal_(a, 1, g1), "a");
  nbt_assert_ok(nb_init_orthogonal_(b, 1, g2), "b");
  cr_assert(nb_equal(a, b));
  nb_free(a);
  nb_free(b);
  nb_generator_free(g1);
  nb_generator_free(g2);
}

Test(nn_init, constant_zeros_ones) {
  nb_tensor *t = nb_empty(NB_DTYPE_FLOAT64, NB_SHAPE(3, 4));
  nb_tensor *ref = nb_full(NB_DTYPE_FLOAT64, NB_SHAPE(3, 4), 0.7);
  nbt_assert_ok(nb_init_constant_(t, 0.7), "constant");
  nbt_assert_close(t, ref, 0, 0, "constant");
  nbt_assert_ok(nb_init_ones_(t), "ones");
  nb_fill_(ref, 1.0);
  nbt_assert_close(t, ref, 0, 0, "ones");
  nbt_assert_ok(nb_init_zeros_(t), "zeros");
  nb_fill_(ref, 0.0);
  nbt_assert_close(t, ref, 0, 0, "zeros");
  nb_tensor *i = nb_empty(NB_DTYPE_INT64, NB_SHAPE(2)); /* constants work for any dtype */
  nbt_assert_ok(nb_init_constant_(i, 3), "int64 constant");
  cr_assert_eq((int64_t)nb_get(i, (int64_t[]){1}), 3);
  nb_free(i);
  nb_free(ref);
  nb_free(t);
}

Test(nn_init, orthogonal_gives_orthonormal_rows_or_columns) {
  nbt_fixture *f = nbt_fixture_load("nn_init");
  static const char *const cases[] = {"orthogonal_tall", "orthogonal_wide", "orthogonal_conv"};
  for (int i = 0; i < 3; i++)
    for (int d = 0; d < 2; d++) {
      const nbt_case *c = nbt_fixture_case(f, cases[i]);
      double gain = nbt_case_param(c, "gain");
      nb_scope_begin();
      nb_tensor *t = case_empty(c, d ? NB_DTYPE_FLOAT64 : NB_DTYPE_FLOAT32);
      nbt_assert_ok(nb_init_orthogonal_(t, gain, NULL), cases[i]);
      int64_t rows = nb_size(t, 0), cols = nb_numel(t) / rows;
      nb_tensor *w = nbk_reshape(nbk_to(t, NB_DTYPE_FLOAT64), NB_SHAPE(rows, cols));
      nb_tensor *gram = rows >= cols ? nbk_matmul(nbk_t(w), w) : nbk_matmul(w, nbk_t(w));
      int64_t k = rows < cols ? rows : cols;
      nb_tensor *ref = nbk_mul_scalar(nb_eye(NB_DTYPE_FLOAT64, k, -1), gain * gain);
      nbt_assert_close(gram, ref, 0, d ? 1e-12 : 1e-5, cases[i]);
      /* Not a trivial answer: the entries are spread out. */
      cr_assert_gt(sample_std(t), 0.5 * gain / sqrt((double)(rows > cols ? rows : cols)));
      nb_scope_end();
    }
  nbt_fixture_free(f);
}

Test(nn_init, layer_defaults_match_pytorch) {
  nbt_fixture *f = nbt_fixture_load("nn_init");
  nb_manual_seed(11);
  const nbt_case *c = nbt_fixture_case(f, "linear_default_weight");
  nb_module *lin = nb_linear_new((int64_t)nbt_case_param(c, "in_features"),
                                 (int64_t)nbt_case_param(c, "out_features"), NULL);
  check_distribution(c, nb_module_get_parameter(lin, "weight"));
  check_distribution(nbt_fixture_case(f, "linear_default_bias"),
                     nb_module_get_parameter(lin, "bias"));
  c = nbt_fixture_case(f, "bilinear_default_weight");
  nb_module *bil =
      nb_bilinear_new((int64_t)nbt_case_param(c, "in1"), (int64_t)nbt_case_param(c, "in2"),
                      (int64_t)nbt_case_param(c, "out"), NULL);
  check_distribution(c, nb_module_get_parameter(bil, "weight"));
  check_distribution(nbt_fixture_case(f, "bilinear_default_bias"),
                     nb_module_get_parameter(bil, "bias"));
  c = nbt_fixture_case(f, "embedding_default_weight");
  nb_generator *g = nb_generator_new(3);
  nb_module *emb =
      nb_embedding_new((int64_t)nbt_case_param(c, "num"), (int64_t)nbt_case_param(c, "dim"),
                       &(nb_layer_opts){.dtype = NB_DTYPE_FLOAT64, .generator = g});
  check_distribution(c, nb_module_get_parameter(emb, "weight"));
  nb_module_free(emb);
  nb_module_free(bil);
  nb_module_free(lin);
  nb_generator_free(g);
  nbt_fixture_free(f);
}

Test(nn_init, errors_and_empty_tensors) {
  nb_tensor *v = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(5));
  nb_tensor *m = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(4, 3));
  nb_tensor *i = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(4, 3));
  nbt_expect_status(nb_init_xavier_uniform_(v, 1, NULL), NB_ERR_SHAPE, "at least 2 dims");
  nbt_expect_status(nb_init_kaiming_normal_(v, 0, NB_FAN_IN, "relu", NULL), NB_ERR_SHAPE, "[5]");
  nbt_expect_status(nb_init_orthogonal_(v, 1, NULL), NB_ERR_SHAPE, "init_orthogonal_");
  nbt_expect_status(nb_init_kaiming_uniform_(m, 0, NB_FAN_MODE_COUNT, NULL, NULL), NB_ERR_ARG,
                    "fan mode");
  nbt_expect_status(nb_init_kaiming_uniform_(m, 0, NB_FAN_IN, "swish", NULL), NB_ERR_ARG,
                    "init_kaiming_uniform_: calculate_gain: unsupported nonlinearity \"swish\"");
  nbt_expect_status(nb_init_trunc_normal_(m, 0, 1, 2, 2, NULL), NB_ERR_ARG, "empty");
  nbt_expect_status(nb_init_trunc_normal_(m, 0, 0, -2, 2, NULL), NB_ERR_ARG, "std");
  nbt_expect_status(nb_init_uniform_(i, 0, 1, NULL), NB_ERR_DTYPE, "int64");
  nbt_expect_status(nb_init_xavier_normal_(i, 1, NULL), NB_ERR_DTYPE, "init_xavier_normal_");
  nbt_expect_status(nb_init_uniform_(m, 1, 0, NULL), NB_ERR_ARG, "low");
  nb_set_error(NB_ERR_SHAPE, "earlier");
  cr_assert_eq(nb_init_normal_(NULL, 0, 1, NULL), NB_ERR_NULL);
  nbt_expect_error(NBT_ANY_STATUS, "earlier"); /* the earlier error is kept */
  nb_clear_error();
  nbt_expect_status(nb_init_zeros_(NULL), NB_ERR_NULL, "init_constant_");
  /* Zero-element tensors are a no-op, as in PyTorch. */
  nb_tensor *e = nb_empty(NB_DTYPE_FLOAT32, NB_SHAPE(0, 3));
  nbt_assert_ok(nb_init_kaiming_uniform_(e, 0, NB_FAN_IN, NULL, NULL), "empty kaiming");
  nbt_assert_ok(nb_init_xavier_normal_(e, 1, NULL), "empty xavier");
  nbt_assert_ok(nb_init_orthogonal_(e, 1, NULL), "empty orthogonal");
  nbt_assert_ok(nb_init_trunc_normal_(e, 0, 1, -2, 2, NULL), "empty trunc_normal");
  /* Non-contiguous tensors are filled through their view. */
  nb_tensor *big = nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(6, 8));
  nb_tensor *view = nbk_slice(big, 1, 0, 8, 2); /* [6, 4], stride 2 */
  nbt_assert_ok(nb_init_orthogonal_(view, 1, NULL), "orthogonal on a view");
  nbt_assert_ok(nb_init_trunc_normal_(view, 0, 1, -0.5, 0.5, NULL), "trunc_normal on a view");
  nb_scope_begin();
  double amax = nb_item(nbk_amax(nbk_abs(view), NB_ALL_DIMS, false));
  cr_assert(amax <= 0.5 && amax > 0.3, "max |x| %g", amax);
  nb_tensor *odd = nbk_slice(big, 1, 1, 8, 2);
  cr_assert_leq(nb_item(nbk_amax(nbk_abs(odd), NB_ALL_DIMS, false)), 0.0, "untouched columns");
  nb_scope_end();
  nb_free(view);
  nb_free(big);
  nb_free(e);
  nb_free(i);
  nb_free(m);
  nb_free(v);
}
