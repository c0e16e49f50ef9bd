/* tests/nn/test_layers_basic.c - Linear, Bilinear, Embedding, Flatten,
 * Unflatten, Identity, Dropout and the activation modules vs PyTorch.
 *
 * Sweeps tests/fixtures/nn_basic.txt (tools/fixtures/gen_nn_basic.py): the
 * module gets PyTorch's weights (copied into its parameters with nb_copy_,
 * found through its own state names), then its output and the gradients of
 * (out * gout).sum() with respect to the inputs and every parameter must
 * match, in float32 and float64. Also: dropout in training (statistics and
 * gradient), default dtypes, descriptions, non-contiguous inputs and errors.
 */
#include <math.h>
#include <string.h>

#include "nn/nn.h"
#include "support/nbtest.h"

TestSuite(nn_basic, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

static bool is_f64(const nbt_case *c) { return strstr(nbt_case_name(c), "_f64") != NULL; }

static void check(const nbt_case *c, const char *name, nb_tensor *t) {
  bool f64 = is_f64(c);
  nbt_case_check(c, name, t, f64 ? 1e-10 : 1e-5, f64 ? 1e-12 : 1e-5);
}

/* "weight" for a top-level tensor, "p.0.weight" (or "g." for gradients) for a nested one. */
static const char *key(const char *prefix_flat, const char *prefix_nested, const char *name,
                       char *buf, size_t size) {
  snprintf(buf, size, "%s%s", strchr(name, '.') ? prefix_nested : prefix_flat, name);
  return buf;
}

/* Load the case's weights into m, run it on the case's inputs, and compare
 * the output and all gradients with PyTorch's. */
static void run_case(const nbt_case *c, nb_module *m) {
  cr_assert_not_null(m, "%s: %s", nbt_case_name(c), nb_errmsg());
  char buf[128];
  nb_scope_begin();
  nb_named_tensors state = nb_module_state(m);
  for (int i = 0; i < state.n; i++) {
    nb_tensor *v = nbt_case_tensor(c, key("", "p.", state.names[i], buf, sizeof buf));
    nbt_assert_ok(nb_copy_(state.tensors[i], v), state.names[i]);
    cr_assert_eq(nb_dtype_of(state.tensors[i]), nb_dtype_of(v), "%s dtype", state.names[i]);
  }
  bool two = nbt_case_has_tensor(c, "x1");
  const char *names[2] = {two ? "x1" : "x", "x2"};
  nb_tensor *in[2];
  int n = two ? 2 : 1;
  for (int i = 0; i < n; i++) {
    in[i] = nbt_case_tensor(c, names[i]);
    if (nb_dtype_is_floating(nb_dtype_of(in[i]))) nb_requires_grad_(in[i], true);
  }
  nb_tensor *out = nb_forward_n(m, in, n);
  cr_assert_not_null(out, "%s: %s", nbt_case_name(c), nb_errmsg());
  check(c, "out", out);
  nb_tensor *loss = nb_sum(nb_mul(out, nbt_case_tensor(c, "gout")), NB_ALL_DIMS, false);
  nbt_assert_ok(nb_backward(loss), nbt_case_name(c));
  for (int i = 0; i < n; i++)
    if (nb_requires_grad(in[i]))
      check(c, key("g_", "g_", names[i], buf, sizeof buf), nb_grad_of(in[i]));
  nb_named_tensors params = nb_module_parameters(m);
  for (int i = 0; i < params.n; i++) {
    check(c, key("g_", "g.", params.names[i], buf, sizeof buf), nb_grad_of(params.tensors[i]));
    if (strchr(params.names[i], '.')) { /* PyTorch's order of named_parameters() */
      snprintf(buf, sizeof buf, "idx.%s", params.names[i]);
      cr_assert_eq((int)nbt_case_param(c, buf), i, "%s: position of %s", nbt_case_name(c), buf);
    }
  }
  nb_scope_end();
  nb_module_free(m);
}

static const char *const tags[] = {"f32", "f64"};

static nb_layer_opts opts_for(const nbt_case *c, bool bias) {
  return (nb_layer_opts){.no_bias = !bias, .dtype = is_f64(c) ? NB_DTYPE_FLOAT64 : 0};
}

Test(nn_basic, linear) {
  nbt_fixture *f = nbt_fixture_load("nn_basic");
  static const char *const variants[] = {"2d", "3d", "nobias"};
  for (int t = 0; t < 2; t++)
    for (int v = 0; v < 3; v++) {
      char name[64];
      snprintf(name, sizeof name, "linear_%s_%s", variants[v], tags[t]);
      const nbt_case *c = nbt_fixture_case(f, name);
      nb_layer_opts o = opts_for(c, nbt_case_param(c, "bias") != 0);
      nb_module *m =
          nb_linear_new((int64_t)nbt_case_param(c, "in"), (int64_t)nbt_case_param(c, "out"), &o);
      cr_assert_eq(nb_module_parameters(m).n, o.no_bias ? 1 : 2);
      run_case(c, m);
    }
  nbt_fixture_free(f);
}

Test(nn_basic, bilinear) {
  nbt_fixture *f = nbt_fixture_load("nn_basic");
  static const char *const variants[] = {"2d", "3d", "nobias"};
  for (int t = 0; t < 2; t++)
    for (int v = 0; v < 3; v++) {
      char name[64];
      snprintf(name, sizeof name, "bilinear_%s_%s", variants[v], tags[t]);
      const nbt_case *c = nbt_fixture_case(f, name);
      nb_layer_opts o = opts_for(c, nbt_case_param(c, "bias") != 0);
      run_case(c,
               nb_bilinear_new((int64_t)nbt_case_param(c, "in1"), (int64_t)nbt_case_param(c, "in2"),
                               (int64_t)nbt_case_param(c, "out"), &o));
    }
  nbt_fixture_free(f);
}

Test(nn_basic, embedding_flatten_unflatten) {
  nbt_fixture *f = nbt_fixture_load("nn_basic");
  for (int t = 0; t < 2; t++) {
    char name[64];
    snprintf(name, sizeof name, "embedding_%s", tags[t]);
    const nbt_case *c = nbt_fixture_case(f, name);
    nb_layer_opts o = opts_for(c, true);
    run_case(c, nb_embedding_new((int64_t)nbt_case_param(c, "num"),
                                 (int64_t)nbt_case_param(c, "dim"), &o));
    static const char *const flats[] = {"flatten_default", "flatten_0_2"};
    for (int i = 0; i < 2; i++) {
      snprintf(name, sizeof name, "%s_%s", flats[i], tags[t]);
      c = nbt_fixture_case(f, name);
      run_case(c, nb_flatten_new((int)nbt_case_param(c, "start"), (int)nbt_case_param(c, "end")));
    }
    static const char *const unflats[] = {"unflatten", "unflatten_infer"};
    for (int i = 0; i < 2; i++) {
      snprintf(name, sizeof name, "%s_%s", unflats[i], tags[t]);
      c = nbt_fixture_case(f, name);
      int64_t sizes[NB_MAX_DIMS];
      int ns = nbt_case_param_ints(c, "sizes", sizes, NB_MAX_DIMS);
      run_case(c, nb_unflatten_new((int)nbt_case_param(c, "dim"), ns, sizes));
    }
  }
  nbt_fixture_free(f);
}

/* The activation modules, by the fixture's names. */
static nb_module *make_activation(const char *name, const nbt_case *c) {
  double a = nbt_case_has_param(c, "a") ? nbt_case_param(c, "a") : 0;
  if (!strcmp(name, "identity")) return nb_identity_new();
  if (!strcmp(name, "relu")) return nb_relu_new();
  if (!strcmp(name, "leaky_relu")) return nb_leaky_relu_new(a);
  if (!strcmp(name, "elu")) return nb_elu_new(a);
  if (!strcmp(name, "gelu")) return nb_gelu_new(false);
  if (!strcmp(name, "gelu_tanh")) return nb_gelu_new(true);
  if (!strcmp(name, "silu")) return nb_silu_new();
  if (!strcmp(name, "sigmoid")) return nb_sigmoid_new();
  if (!strcmp(name, "tanh")) return nb_tanh_new();
  if (!strcmp(name, "softplus")) return nb_softplus_new(a, nbt_case_param(c, "b"));
  if (!strcmp(name, "softmax")) return nb_softmax_new((int)nbt_case_param(c, "dim"));
  if (!strcmp(name, "log_softmax")) return nb_log_softmax_new((int)nbt_case_param(c, "dim"));
  nb_module *d = nb_dropout_new(a); /* dropout_eval and dropout_p0 */
  if (!strcmp(name, "dropout_eval")) nb_module_eval(d);
  return d;
}

Test(nn_basic, activations) {
  static const char *const acts[] = {
      "identity", "relu", "leaky_relu", "elu",     "gelu",        "gelu_tanh",    "silu",
      "sigmoid",  "tanh", "softplus",   "softmax", "log_softmax", "dropout_eval", "dropout_p0"};
  static const char *const types[] = {"Identity", "ReLU",       "LeakyReLU", "ELU",    "GELU",
                                      "GELU",     "SiLU",       "Sigmoid",   "Tanh",   "Softplus",
                                      "Softmax",  "LogSoftmax", "Dropout",   "Dropout"};
  nbt_fixture *f = nbt_fixture_load("nn_basic");
  for (int t = 0; t < 2; t++)
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
      char name[64];
      snprintf(name, sizeof name, "act_%s_%s", acts[i], tags[t]);
      const nbt_case *c = nbt_fixture_case(f, name);
      nb_module *m = make_activation(acts[i], c);
      cr_assert_str_eq(nb_module_type(m), types[i]);
      cr_assert_eq(nb_module_num_params(m), 0);
      run_case(c, m);
    }
  nbt_fixture_free(f);
}

Test(nn_basic, sequential_mlp_names_and_values) {
  nbt_fixture *f = nbt_fixture_load("nn_basic");
  for (int t = 0; t < 2; t++) {
    char name[64];
    snprintf(name, sizeof name, "seq_mlp_%s", tags[t]);
    const nbt_case *c = nbt_fixture_case(f, name);
    nb_layer_opts o = opts_for(c, true);
    nb_module *m = nb_sequential_new(
        (nb_module *[]){nb_linear_new(4, 6, &o), nb_tanh_new(), nb_linear_new(6, 3, &o)}, 3);
    cr_assert_eq(nb_module_parameters(m).n, (int)nbt_case_param(c, "nparams"));
    run_case(c, m);
  }
  nbt_fixture_free(f);
}

Test(nn_basic, dropout_training) {
  nb_manual_seed(7);
  nb_module *d = nb_dropout_new(0.3);
  nb_scope_begin();
  nb_tensor *x = nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(200, 500), 2.0);
  nb_requires_grad_(x, true);
  nb_tensor *y = nb_forward(d, x);
  nbt_assert_shape(y, NB_SHAPE(200, 500), "dropout");
  double zeros = nb_item(nbk_sum(nb_eq_scalar(y, 0.0), NB_ALL_DIMS, false)) / 1e5;
  cr_assert(fabs(zeros - 0.3) < 0.01, "fraction dropped %g, expected 0.3", zeros);
  /* Kept entries are scaled by 1 / (1 - p); the gradient uses the same mask. */
  nb_tensor *kept = nb_where(nb_ne_scalar(y, 0.0), y, nb_full_like(y, NB_DTYPE_COUNT, 2.0 / 0.7));
  nbt_assert_close(kept, nb_full_like(y, NB_DTYPE_COUNT, 2.0 / 0.7), 1e-6, 1e-6, "scale");
  nbt_assert_ok(nb_backward(nb_sum(y, NB_ALL_DIMS, false)), "backward");
  nbt_assert_close(nb_grad_of(x), nb_div_scalar(y, 2.0), 1e-6, 1e-6, "dropout gradient");
  /* Eval: the identity (a new tensor); p = 1: all zeros. */
  nb_module_eval(d);
  nb_tensor *e = nb_forward(d, x);
  cr_assert_neq(e, x);
  nbt_assert_close(e, x, 0, 0, "eval");
  nb_scope_end();
  nb_module_free(d);
  nb_module *all = nb_dropout_new(1.0);
  nb_scope_begin();
  nb_tensor *z = nb_forward(all, nb_ones(NB_DTYPE_FLOAT64, NB_SHAPE(3, 4)));
  nbt_assert_close(z, nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(3, 4)), 0, 0, "p = 1");
  nb_scope_end();
  nb_module_free(all);
}

Test(nn_basic, noncontiguous_inputs_and_defaults) {
  nb_manual_seed(1);
  nb_module *lin = nb_linear_new(4, 3, NULL);
  nb_module *emb = nb_embedding_new(6, 2, NULL);
  cr_assert_eq(nb_dtype_of(nb_module_get_parameter(lin, "weight")), NB_DTYPE_FLOAT32);
  nb_scope_begin();
  nb_tensor *xt = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(4, 5), NULL);
  nb_tensor *x = nbk_transpose(xt, 0, 1); /* [5, 4], not contiguous */
  cr_assert_not(nb_is_contiguous(x));
  nbt_assert_close(nb_forward(lin, x), nb_forward(lin, nbk_contiguous(x)), 1e-6, 1e-6,
                   "linear on a transposed input");
  nb_tensor *idx = nb_from_data(NB_DTYPE_INT64, (int64_t[]){5, 0, 3, 3}, NB_SHAPE(2, 2));
  nb_tensor *idx_t = nbk_transpose(idx, 0, 1);
  nb_tensor *rows = nb_forward(emb, idx_t);
  nbt_assert_shape(rows, NB_SHAPE(2, 2, 2), "embedding of a transposed index");
  nb_tensor *w = nb_module_get_parameter(emb, "weight");
  nbt_assert_close(nbk_select(nbk_select(rows, 0, 1), 0, 0), nbk_select(w, 0, 0), 0, 0, "row 0");
  /* Zero-size layers and inputs work as in PyTorch. */
  nb_module *empty = nb_linear_new(0, 3, NULL);
  nb_tensor *y0 = nb_forward(empty, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 0)));
  nbt_assert_close(y0, nbk_expand(nb_module_get_parameter(empty, "bias"), NB_SHAPE(2, 3)), 0, 0,
                   "in_features = 0 gives the bias");
  nb_scope_end();
  nb_module_free(empty);
  nb_module_free(emb);
  nb_module_free(lin);
}

Test(nn_basic, descriptions) {
  struct {
    nb_module *m;
    const char *text;
  } rows[] = {
      {nb_linear_new(5, 3, NULL), "in_features=5, out_features=3, bias=True"},
      {nb_linear_new(5, 3, &(nb_layer_opts){.no_bias = true}),
       "in_features=5, out_features=3, bias=False"},
      {nb_bilinear_new(2, 3, 4, NULL), "in1_features=2, in2_features=3, out_features=4, bias=True"},
      {nb_embedding_new(10, 4, NULL), "10, 4"},
      {nb_flatten_new(1, -1), "start_dim=1, end_dim=-1"},
      {nb_unflatten_new(1, 2, (int64_t[]){2, 3}), "dim=1, unflattened_size=[2, 3]"},
      {nb_dropout_new(0.25), "p=0.25"},
      {nb_leaky_relu_new(0.01), "negative_slope=0.01"},
      {nb_gelu_new(true), "approximate='tanh'"},
      {nb_softplus_new(1, 20), "beta=1, threshold=20"},
      {nb_softmax_new(-1), "dim=-1"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    char buf[128];
    cr_assert_not_null(rows[i].m);
    rows[i].m->ops->describe(rows[i].m, buf, sizeof buf);
    cr_assert_str_eq(buf, rows[i].text);
    nb_module_free(rows[i].m);
  }
}

Test(nn_basic, errors) {
  nbt_expect_null(nb_linear_new(-1, 3, NULL), NB_ERR_ARG, "linear_new");
  nbt_expect_null(nb_linear_new(2, 3, &(nb_layer_opts){.dtype = NB_DTYPE_INT64}), NB_ERR_DTYPE,
                  "int64");
  nbt_expect_null(nb_bilinear_new(2, -3, 3, NULL), NB_ERR_ARG, "bilinear_new");
  nbt_expect_null(nb_embedding_new(4, 2, &(nb_layer_opts){.dtype = NB_DTYPE_BOOL}), NB_ERR_DTYPE,
                  "embedding_new");
  nbt_expect_null(nb_dropout_new(1.5), NB_ERR_ARG, "dropout_new");
  nbt_expect_null(nb_unflatten_new(0, 2, (int64_t[]){-1, -1}), NB_ERR_ARG, "-1 once");
  nbt_expect_null(nb_unflatten_new(0, 0, NULL), NB_ERR_ARG, "unflatten_new");
  nbt_expect_null(nb_softplus_new(0, 20), NB_ERR_ARG, "beta");

  nb_module *lin = nb_linear_new(5, 3, NULL), *bil = nb_bilinear_new(3, 4, 2, NULL);
  nb_module *emb = nb_embedding_new(10, 4, NULL), *unf = nb_unflatten_new(1, 2, (int64_t[]){4, 2});
  nb_scope_begin();
  nbt_expect_null(nb_forward(lin, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(4, 6))), NB_ERR_SHAPE,
                  "Linear(in_features=5, out_features=3): input [4, 6]");
  nbt_expect_null(nb_forward(lin, nb_zeros(NB_DTYPE_FLOAT32, NB_SCALAR_SHAPE)), NB_ERR_SHAPE, "[]");
  nb_tensor *a = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(5, 3)),
            *b = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(4, 4));
  nbt_expect_null(nb_forward_n(bil, (nb_tensor *[]){a, b}, 2), NB_ERR_SHAPE, "[5, 3] and [4, 4]");
  nbt_expect_null(nb_forward(bil, a), NB_ERR_ARG, "Bilinear: expected 2 inputs, got 1");
  nbt_expect_null(nb_forward(emb, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(3))), NB_ERR_DTYPE, "int64");
  nb_tensor *bad = nb_from_data(NB_DTYPE_INT64, (int64_t[]){1, 10}, NB_SHAPE(2));
  nbt_expect_null(nb_forward(emb, bad), NB_ERR_INDEX, "10");
  nbt_expect_null(nb_forward(unf, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 6))), NB_ERR_SHAPE,
                  "Unflatten(dim=1, unflattened_size=[4, 2]): input [2, 6]");
  nbt_expect_null(nb_forward(unf, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(8))), NB_ERR_SHAPE,
                  "out of range");
  nb_scope_end();
  nb_module_free(unf);
  nb_module_free(emb);
  nb_module_free(bil);
  nb_module_free(lin);
}
