/* tests/nn/test_layers_norm.c - BatchNorm1d, BatchNorm2d, LayerNorm and
 * GroupNorm modules vs PyTorch.
 *
 * Sweeps tests/fixtures/nn_layers.txt (tools/fixtures/gen_nn_layers.py):
 * LayerNorm / GroupNorm get PyTorch's (randomized) affine parameters and must
 * give its output and the gradients of (out * gout).sum(); BatchNorm runs two
 * training steps then one eval step, and after each its output, gradients,
 * running_mean, running_var and num_batches_tracked must match. Also: state
 * names, dtypes and defaults, descriptions and error paths.
 */
#include <math.h>
#include <string.h>

#include "nn/nn.h"
#include "support/nbtest.h"

TestSuite(nn_norm, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

static const char *const tags[] = {"f32", "f64"};

static bool is_f64(const nbt_case *c) { return strstr(nbt_case_name(c), "_f64") != NULL; }

static void check(const nbt_case *c, const char *name, nb_tensor *t) {
  bool f64 = is_f64(c);
  nbt_case_check(c, name, t, f64 ? 1e-10 : 1e-5, f64 ? 1e-12 : 2e-5);
}

static nb_norm_opts opts_for(const nbt_case *c) {
  return (nb_norm_opts){
      .eps = nbt_case_param(c, "eps"),
      .momentum = nbt_case_has_param(c, "momentum") ? nbt_case_param(c, "momentum") : 0,
      .no_affine = nbt_case_param(c, "affine") == 0,
      .no_running_stats = nbt_case_has_param(c, "track") && nbt_case_param(c, "track") == 0,
      .dtype = is_f64(c) ? NB_DTYPE_FLOAT64 : NB_DTYPE_FLOAT32};
}

/* Copy "p.<name>" into m's state, checking names, order, shapes and dtypes. */
static void load_state(const nbt_case *c, nb_module *m) {
  char buf[160];
  nb_named_tensors state = nb_module_state(m);
  for (int i = 0; i < state.n; i++) {
    snprintf(buf, sizeof buf, "p.%s", state.names[i]);
    cr_assert(nbt_case_has_tensor(c, buf), "%s: torch has no %s", nbt_case_name(c), buf);
    nb_tensor *v = nbt_case_tensor(c, buf);
    nbt_assert_shape(state.tensors[i], nb_ndim(v), nb_shape(v), buf);
    cr_assert_eq(nb_dtype_of(state.tensors[i]), nb_dtype_of(v), "%s dtype", buf);
    nbt_assert_ok(nb_copy_(state.tensors[i], v), buf);
    snprintf(buf, sizeof buf, "idx.%s", state.names[i]);
    cr_assert_eq((int)nbt_case_param(c, buf), i, "%s: position of %s", nbt_case_name(c), buf);
  }
}

/* One forward/backward step with inputs and expectations suffixed by `step`
 * ("" or "1", "2", ...). */
static void step(const nbt_case *c, nb_module *m, const char *suffix) {
  char buf[160];
  snprintf(buf, sizeof buf, "x%s", suffix);
  nb_tensor *x = nbt_case_tensor(c, buf);
  nb_requires_grad_(x, true);
  nb_module_zero_grad(m, true);
  nb_tensor *out = nb_forward(m, x);
  cr_assert_not_null(out, "%s: %s", nbt_case_name(c), nb_errmsg());
  snprintf(buf, sizeof buf, "out%s", suffix);
  check(c, buf, out);
  snprintf(buf, sizeof buf, "gout%s", suffix);
  nb_tensor *loss = nb_sum(nb_mul(out, nbt_case_tensor(c, buf)), NB_ALL_DIMS, false);
  nbt_assert_ok(nb_backward(loss), nbt_case_name(c));
  snprintf(buf, sizeof buf, "g_x%s", suffix);
  check(c, buf, nb_grad_of(x));
  nb_named_tensors params = nb_module_parameters(m);
  for (int i = 0; i < params.n; i++) {
    snprintf(buf, sizeof buf, "g.%s%s", params.names[i], suffix);
    check(c, buf, nb_grad_of(params.tensors[i]));
  }
}

Test(nn_norm, layer_norm) {
  static const char *const names[] = {"ln_last", "ln_two_noaffine"};
  nbt_fixture *f = nbt_fixture_load("nn_layers");
  for (int t = 0; t < 2; t++)
    for (int i = 0; i < 2; i++) {
      char name[64];
      snprintf(name, sizeof name, "%s_%s", names[i], tags[t]);
      const nbt_case *c = nbt_fixture_case(f, name);
      int64_t shape[NB_MAX_DIMS];
      int nd = nbt_case_param_ints(c, "shape", shape, NB_MAX_DIMS);
      nb_norm_opts o = opts_for(c);
      nb_module *m = nb_layer_norm_new(nd, shape, &o);
      cr_assert_not_null(m, "%s", nb_errmsg());
      cr_assert_eq(nb_module_parameters(m).n, o.no_affine ? 0 : 2);
      nb_scope_begin();
      load_state(c, m);
      step(c, m, "");
      nb_scope_end();
      nb_module_free(m);
    }
  nbt_fixture_free(f);
}

Test(nn_norm, group_norm) {
  static const char *const names[] = {"gn_affine", "gn_noaffine"};
  nbt_fixture *f = nbt_fixture_load("nn_layers");
  for (int t = 0; t < 2; t++)
    for (int i = 0; i < 2; i++) {
      char name[64];
      snprintf(name, sizeof name, "%s_%s", names[i], tags[t]);
      const nbt_case *c = nbt_fixture_case(f, name);
      nb_norm_opts o = opts_for(c);
      nb_module *m = nb_group_norm_new((int64_t)nbt_case_param(c, "groups"),
                                       (int64_t)nbt_case_param(c, "channels"), &o);
      cr_assert_not_null(m, "%s", nb_errmsg());
      nb_scope_begin();
      load_state(c, m);
      step(c, m, "");
      nb_scope_end();
      nb_module_free(m);
    }
  nbt_fixture_free(f);
}

Test(nn_norm, batch_norm_train_train_eval) {
  static const char *const names[] = {"bn1d_2d", "bn1d_3d", "bn2d", "bn2d_nostats"};
  nbt_fixture *f = nbt_fixture_load("nn_layers");
  for (int t = 0; t < 2; t++)
    for (int i = 0; i < 4; i++) {
      char name[64], buf[96];
      snprintf(name, sizeof name, "%s_%s", names[i], tags[t]);
      const nbt_case *c = nbt_fixture_case(f, name);
      nb_norm_opts o = opts_for(c);
      int64_t features = (int64_t)nbt_case_param(c, "features");
      nb_module *m = nbt_case_param(c, "kind") == 1 ? nb_batch_norm1d_new(features, &o)
                                                    : nb_batch_norm2d_new(features, &o);
      cr_assert_not_null(m, "%s", nb_errmsg());
      cr_assert_eq(nb_module_buffers(m).n, o.no_running_stats ? 0 : 3, "%s buffers", name);
      nb_scope_begin();
      load_state(c, m);
      for (int s = 1; s <= 3; s++) {
        snprintf(buf, sizeof buf, "%d", s);
        nb_module_train(m, s < 3);
        step(c, m, buf);
        nb_named_tensors state = nb_module_state(m);
        for (int k = 0; k < state.n; k++) { /* running stats and batch count after the step */
          snprintf(buf, sizeof buf, "p%d.%s", s, state.names[k]);
          check(c, buf, state.tensors[k]);
        }
      }
      nb_scope_end();
      nb_module_free(m);
    }
  nbt_fixture_free(f);
}

Test(nn_norm, defaults_names_and_no_grad_counting) {
  nb_module *bn = nb_batch_norm2d_new(3, NULL);
  nb_named_tensors s = nb_module_state(bn);
  static const char *const names[] = {"weight", "bias", "running_mean", "running_var",
                                      "num_batches_tracked"};
  static const double first[] = {1, 0, 0, 1, 0};
  cr_assert_eq(s.n, 5);
  for (int i = 0; i < 5; i++) {
    cr_assert_str_eq(s.names[i], names[i]);
    cr_assert_eq(nb_dtype_of(s.tensors[i]), i == 4 ? NB_DTYPE_INT64 : NB_DTYPE_FLOAT32);
    cr_assert_eq(nb_ndim(s.tensors[i]), i == 4 ? 0 : 1);
    nb_scope_begin();
    nbt_assert_values(nbk_select(nbk_reshape(s.tensors[i], NB_SHAPE(-1)), 0, 0), &first[i], 1, 0, 0,
                      names[i]);
    nb_scope_end();
  }
  cr_assert_eq(nb_module_num_params(bn), 6);
  cr_assert(nb_requires_grad(s.tensors[0]) && !nb_requires_grad(s.tensors[2]));
  /* The batch is counted and the stats updated in training even under no-grad. */
  nb_scope_begin();
  nb_no_grad_begin();
  nb_tensor *x = nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3, 2, 2), 5.0);
  nb_tensor *y = nb_forward(bn, x);
  nb_no_grad_end();
  nbt_assert_close(y, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3, 2, 2)), 0, 1e-6, "constant input");
  cr_assert_eq(nb_item(nb_module_get_buffer(bn, "num_batches_tracked")), 1);
  nbt_assert_values(nb_module_get_buffer(bn, "running_mean"), ((double[]){0.5, 0.5, 0.5}), 3, 1e-6,
                    1e-6, "running_mean");
  nbt_assert_values(nb_module_get_buffer(bn, "running_var"), ((double[]){0.9, 0.9, 0.9}), 3, 1e-6,
                    1e-6, "running_var");
  /* Eval never counts. */
  nb_module_eval(bn);
  cr_assert_not_null(nb_forward(bn, x));
  cr_assert_eq(nb_item(nb_module_get_buffer(bn, "num_batches_tracked")), 1);
  nb_scope_end();
  nb_module_free(bn);

  int64_t shape[] = {2, 3};
  nb_module *ln = nb_layer_norm_new(2, shape, &(nb_norm_opts){.dtype = NB_DTYPE_FLOAT64});
  nb_module *gn = nb_group_norm_new(2, 4, NULL);
  nb_named_tensors ls = nb_module_state(ln), gs = nb_module_state(gn);
  cr_assert_eq(ls.n, 2);
  cr_assert_str_eq(ls.names[0], "weight");
  cr_assert_str_eq(ls.names[1], "bias");
  nbt_assert_shape(ls.tensors[0], NB_SHAPE(2, 3), "LayerNorm weight");
  cr_assert_eq(nb_dtype_of(ls.tensors[1]), NB_DTYPE_FLOAT64);
  nbt_assert_values(ls.tensors[0], ((double[]){1, 1, 1, 1, 1, 1}), 6, 0, 0, "ones");
  nbt_assert_values(ls.tensors[1], ((double[]){0, 0, 0, 0, 0, 0}), 6, 0, 0, "zeros");
  cr_assert_eq(gs.n, 2);
  nbt_assert_shape(gs.tensors[0], NB_SHAPE(4), "GroupNorm weight");
  nb_module_free(gn);
  nb_module_free(ln);
}

Test(nn_norm, descriptions) {
  struct {
    nb_module *m;
    const char *type, *text;
  } rows[] = {
      {nb_batch_norm2d_new(4, NULL), "BatchNorm2d",
       "4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True"},
      {nb_batch_norm1d_new(3, &(nb_norm_opts){.eps = 1e-3, .momentum = 0.3, .no_affine = true}),
       "BatchNorm1d", "3, eps=0.001, momentum=0.3, affine=False, track_running_stats=True"},
      {nb_layer_norm_new(1, (int64_t[]){5}, NULL), "LayerNorm",
       "(5,), eps=1e-05, elementwise_affine=True"},
      {nb_layer_norm_new(2, (int64_t[]){3, 5}, &(nb_norm_opts){.no_affine = true}), "LayerNorm",
       "(3, 5), eps=1e-05, elementwise_affine=False"},
      {nb_group_norm_new(2, 4, NULL), "GroupNorm", "2, 4, eps=1e-05, affine=True"},
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

Test(nn_norm, errors) {
  nbt_expect_null(nb_group_norm_new(3, 4, NULL), NB_ERR_ARG,
                  "group_norm_new: num_channels 4 must be divisible by num_groups 3");
  nbt_expect_null(nb_group_norm_new(0, 4, NULL), NB_ERR_ARG, "group_norm_new");
  nbt_expect_null(nb_batch_norm2d_new(-1, NULL), NB_ERR_ARG, "batch_norm2d_new");
  nbt_expect_null(nb_batch_norm1d_new(3, &(nb_norm_opts){.momentum = 1.5}), NB_ERR_ARG,
                  "momentum 1.5");
  nbt_expect_null(nb_batch_norm1d_new(3, &(nb_norm_opts){.eps = -1}), NB_ERR_ARG, "eps -1");
  nbt_expect_null(nb_layer_norm_new(0, NULL, NULL), NB_ERR_ARG, "layer_norm_new");
  nbt_expect_null(nb_layer_norm_new(1, (int64_t[]){4}, &(nb_norm_opts){.dtype = NB_DTYPE_INT64}),
                  NB_ERR_DTYPE, "int64");

  nb_module *bn1 = nb_batch_norm1d_new(4, NULL), *bn2 = nb_batch_norm2d_new(4, NULL);
  nb_module *ln = nb_layer_norm_new(1, (int64_t[]){4}, NULL), *gn = nb_group_norm_new(2, 4, NULL);
  nb_scope_begin();
  nbt_expect_null(nb_forward(bn2, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3, 5, 5))), NB_ERR_SHAPE,
                  "BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True): "
                  "expected input [N, 4, H, W], got [2, 3, 5, 5]");
  nbt_expect_null(nb_forward(bn2, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 4, 5))), NB_ERR_SHAPE,
                  "got [2, 4, 5]");
  nbt_expect_null(nb_forward(bn1, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 4, 5, 5))), NB_ERR_SHAPE,
                  "expected input [N, 4] or [N, 4, L], got [2, 4, 5, 5]");
  nbt_expect_null(nb_forward(bn1, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(3, 5))), NB_ERR_SHAPE,
                  "BatchNorm1d(4, eps=1e-05");
  /* One value per channel in training: the op's error, named by the layer,
   * and nothing counted or updated. */
  nbt_expect_null(nb_forward(bn1, nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(1, 4))), NB_ERR_SHAPE,
                  "BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True): "
                  "batch_norm: expected more than 1 value per channel");
  cr_assert_eq(nb_item(nb_module_get_buffer(bn1, "num_batches_tracked")), 0);
  nbt_expect_null(
      nb_forward(gn, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 6, 3))), NB_ERR_SHAPE,
      "GroupNorm(2, 4, eps=1e-05, affine=True): expected input [N, 4, ...], got [2, 6, 3]");
  nbt_expect_null(nb_forward(ln, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 5))), NB_ERR_SHAPE,
                  "LayerNorm((4,), eps=1e-05, elementwise_affine=True): layer_norm: input [2, 5]");
  nbt_expect_null(nb_forward(bn2, nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(2, 4, 2, 2))), NB_ERR_DTYPE,
                  "BatchNorm2d(4");
  nb_scope_end();
  nb_module_free(gn);
  nb_module_free(ln);
  nb_module_free(bn2);
  nb_module_free(bn1);
}
