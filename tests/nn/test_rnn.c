/* tests/nn/test_rnn.c - RNN (tanh, relu), LSTM and GRU modules vs PyTorch.
 *
 * Sweeps tests/fixtures/nn_rnn.txt (tools/fixtures/gen_nn_rnn.py): every mode
 * with 1 and 2 layers, uni- and bidirectional, time- and batch-first, with
 * and without initial states, plus float64, no-bias, unbatched and
 * eval-mode-dropout cases. The module gets PyTorch's weights (copied into its
 * parameters by name), then its output, final states and the gradients of
 * (out * w).sum() + (hn * w2).sum() [+ (cn * w3).sum()] with respect to the
 * input, the initial states and every parameter must match; parameter names,
 * order and shapes must equal PyTorch's. Also: batch-first input as a
 * non-contiguous view, nb_forward / nb_forward_n, default initialization,
 * descriptions, dropout in training, gradcheck and gradgradcheck in float64,
 * freeing without scopes, and the error paths.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/nn.h"
#include "support/nbtest.h"

TestSuite(nn_rnn, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

enum { MODE_RNN_TANH, MODE_RNN_RELU, MODE_LSTM, MODE_GRU };

static bool is_f64(const nbt_case *c) { return strstr(nbt_case_name(c), "_f64") != NULL; }

static void check(const nbt_case *c, const char *name, nb_tensor *t) {
  bool f64 = is_f64(c);
  nbt_case_check(c, name, t, f64 ? 1e-10 : 1e-4, f64 ? 1e-12 : 1e-5);
}

static nb_module *make_module(int mode, int64_t in, int64_t hidden, const nb_rnn_opts *o) {
  switch (mode) {
  case MODE_RNN_TANH:
  case MODE_RNN_RELU: return nb_rnn_new(in, hidden, o);
  case MODE_LSTM: return nb_lstm_new(in, hidden, o);
  default: return nb_gru_new(in, hidden, o);
  }
}

/* The module a case describes, with PyTorch's weights loaded; checks that its
 * parameter names, order and shapes are PyTorch's. */
static nb_module *case_module(const nbt_case *c) {
  int mode = (int)nbt_case_param(c, "mode");
  nb_rnn_opts o = {.num_layers = (int)nbt_case_param(c, "layers"),
                   .batch_first = nbt_case_param(c, "batch_first") != 0,
                   .bidirectional = nbt_case_param(c, "bidirectional") != 0,
                   .no_bias = nbt_case_param(c, "bias") == 0,
                   .relu = mode == MODE_RNN_RELU,
                   .dropout = nbt_case_param(c, "dropout"),
                   .dtype = is_f64(c) ? NB_DTYPE_FLOAT64 : NB_DTYPE_FLOAT32};
  nb_module *m = make_module(mode, (int64_t)nbt_case_param(c, "input_size"),
                             (int64_t)nbt_case_param(c, "hidden_size"), &o);
  cr_assert_not_null(m, "%s: %s", nbt_case_name(c), nb_errmsg());
  static const char *const types[] = {"RNN", "RNN", "LSTM", "GRU"};
  cr_assert_str_eq(nb_module_type(m), types[mode]);
  nb_named_tensors params = nb_module_parameters(m);
  cr_assert_eq(params.n, (int)nbt_case_param(c, "nparams"), "%s: parameter count",
               nbt_case_name(c));
  nb_scope_begin();
  for (int i = 0; i < params.n; i++) {
    char key[96];
    snprintf(key, sizeof key, "idx.%s", params.names[i]);
    cr_assert(nbt_case_has_param(c, key), "%s: PyTorch has no parameter %s", nbt_case_name(c),
              params.names[i]);
    cr_assert_eq((int)nbt_case_param(c, key), i, "%s: position of %s", nbt_case_name(c), key);
    snprintf(key, sizeof key, "p.%s", params.names[i]);
    nb_tensor *v = nbt_case_tensor(c, key);
    nb_tensor *p = params.tensors[i];
    cr_assert(nb_ndim(p) == nb_ndim(v) &&
                  !memcmp(nb_shape(p), nb_shape(v), sizeof(int64_t) * (size_t)nb_ndim(v)),
              "%s: %s shape", nbt_case_name(c), params.names[i]);
    cr_assert_eq(nb_dtype_of(p), nb_dtype_of(v), "%s: %s dtype", nbt_case_name(c), key);
    nbt_assert_ok(nb_copy_(p, v), key);
  }
  nb_scope_end();
  if (nbt_case_param(c, "train") == 0) nb_module_eval(m);
  return m;
}

/* (out * w).sum() + (hn * w2).sum() [+ (cn * w3).sum()]. */
static nb_tensor *case_loss(const nbt_case *c, nb_tensor *out, nb_tensor *hn, nb_tensor *cn) {
  nb_tensor *loss = nb_add(nb_sum(nb_mul(out, nbt_case_tensor(c, "w")), NB_ALL_DIMS, false),
                           nb_sum(nb_mul(hn, nbt_case_tensor(c, "w2")), NB_ALL_DIMS, false));
  if (cn) loss = nb_add(loss, nb_sum(nb_mul(cn, nbt_case_tensor(c, "w3")), NB_ALL_DIMS, false));
  return loss;
}

/* A copy of x (values equal) laid out time-major underneath: a
 * non-contiguous [B, T, F] view. */
static nb_tensor *noncontiguous(nb_tensor *x) {
  nb_tensor *tm = nbk_transpose(x, 0, 1);
  nb_tensor *copy = nbk_contiguous(tm);
  nb_tensor *view = nbk_transpose(copy, 0, 1);
  nb_free(copy);
  nb_free(tm);
  return view;
}

static void run_case(const nbt_case *c) {
  nb_module *m = case_module(c);
  int mode = (int)nbt_case_param(c, "mode");
  bool lstm = mode == MODE_LSTM, init = nbt_case_param(c, "init") != 0;
  nb_scope_begin();
  nb_tensor *x = nbt_case_tensor(c, "x");
  nb_tensor *h0 = init ? nbt_case_tensor(c, "h0") : NULL;
  nb_tensor *c0 = init && lstm ? nbt_case_tensor(c, "c0") : NULL;
  nb_requires_grad_(x, true);
  if (h0) nb_requires_grad_(h0, true);
  if (c0) nb_requires_grad_(c0, true);
  nb_tensor *out, *hn, *cn;
  nbt_assert_ok(nb_rnn_forward(m, x, h0, c0, &out, &hn, &cn), nbt_case_name(c));
  check(c, "out", out);
  check(c, "hn", hn);
  if (lstm)
    check(c, "cn", cn);
  else
    cr_assert_null(cn, "%s: cn without LSTM", nbt_case_name(c));
  nbt_assert_ok(nb_backward(case_loss(c, out, hn, cn)), nbt_case_name(c));
  check(c, "g_x", nb_grad_of(x));
  if (h0) check(c, "g_h0", nb_grad_of(h0));
  if (c0) check(c, "g_c0", nb_grad_of(c0));
  nb_named_tensors params = nb_module_parameters(m);
  for (int i = 0; i < params.n; i++) {
    char key[96];
    snprintf(key, sizeof key, "g.%s", params.names[i]);
    check(c, key, nb_grad_of(params.tensors[i]));
  }

  /* nb_forward_n (x[, h0[, c0]]) returns the same output only. */
  nb_tensor *in[3] = {x, h0, c0};
  int n = !h0 ? 1 : c0 ? 3 : 2;
  check(c, "out", nb_forward_n(m, in, n));

  /* Batch-first input as a non-contiguous view: same values and gradient. */
  if (nbt_case_param(c, "batch_first") != 0 && nbt_case_param(c, "unbatched") == 0) {
    nb_tensor *xv = noncontiguous(nbt_case_tensor(c, "x"));
    cr_assert(!nb_is_contiguous(xv));
    nb_requires_grad_(xv, true);
    nbt_assert_ok(nb_rnn_forward(m, xv, h0, c0, &out, &hn, &cn), "non-contiguous");
    check(c, "out", out);
    nbt_assert_ok(nb_backward(case_loss(c, out, hn, cn)), "non-contiguous");
    check(c, "g_x", nb_grad_of(xv));
  }
  nb_scope_end();
  nb_module_free(m);
}

/* Every fixture case of one mode. */
static void sweep(int mode) {
  nbt_fixture *f = nbt_fixture_load("nn_rnn");
  int count = 0;
  for (int i = 0; i < nbt_fixture_num_cases(f); i++) {
    const nbt_case *c = nbt_fixture_case_index(f, i);
    if ((int)nbt_case_param(c, "mode") != mode) continue;
    run_case(c);
    count++;
  }
  cr_assert_eq(count, 20, "cases of mode %d", mode);
  nbt_fixture_free(f);
}

Test(nn_rnn, rnn_tanh_matches_pytorch) { sweep(MODE_RNN_TANH); }
Test(nn_rnn, rnn_relu_matches_pytorch) { sweep(MODE_RNN_RELU); }
Test(nn_rnn, lstm_matches_pytorch) { sweep(MODE_LSTM); }
Test(nn_rnn, gru_matches_pytorch) { sweep(MODE_GRU); }

/* ---- initialization and descriptions ------------------------------------------------- */

Test(nn_rnn, default_init_bounds) {
  static const int gates[] = {1, 1, 4, 3};
  for (int mode = 0; mode < 4; mode++) {
    nb_rnn_opts o = {.num_layers = 2, .bidirectional = true, .relu = mode == MODE_RNN_RELU};
    int64_t in = 7, hidden = 16;
    nb_module *m = make_module(mode, in, hidden, &o);
    cr_assert_not_null(m, "%s", nb_errmsg());
    nb_named_tensors p = nb_module_parameters(m);
    cr_assert_eq(p.n, 16);
    cr_assert_str_eq(p.names[0], "weight_ih_l0");
    cr_assert_str_eq(p.names[4], "weight_ih_l0_reverse");
    cr_assert_str_eq(p.names[15], "bias_hh_l1_reverse");
    int64_t total = 0;
    for (int i = 0; i < p.n; i++) {
      cr_assert_eq(nb_dtype_of(p.tensors[i]), NB_DTYPE_FLOAT32);
      cr_assert(nb_requires_grad(p.tensors[i]));
      cr_assert_eq(nb_size(p.tensors[i], 0), gates[mode] * hidden, "%s", p.names[i]);
      int64_t n = nb_numel(p.tensors[i]);
      float *v = nb_data(p.tensors[i]);
      double lo = 1, hi = -1, sum = 0;
      for (int64_t k = 0; k < n; k++) {
        lo = fmin(lo, v[k]);
        hi = fmax(hi, v[k]);
        sum += v[k];
      }
      /* U(-1/4, 1/4): inside the bounds; weights (>= 112 values) spread over
       * them and centered. */
      cr_assert(lo >= -0.25 && hi <= 0.25, "%s: [%g, %g]", p.names[i], lo, hi);
      if (n >= 112) {
        cr_assert(lo < -0.2 && hi > 0.2, "%s: [%g, %g]", p.names[i], lo, hi);
        cr_assert(fabs(sum / (double)n) < 0.05, "%s: mean %g", p.names[i], sum / (double)n);
      }
      total += n;
    }
    int64_t g = gates[mode] * hidden;
    int64_t want = 2 * (g * in + g * hidden + 2 * g) + 2 * (g * 2 * hidden + g * hidden + 2 * g);
    cr_assert_eq(total, want);
    cr_assert_eq(nb_module_num_params(m), want);
    nb_module_free(m);
  }
}

Test(nn_rnn, generator_dtype_and_no_bias) {
  nb_generator *g1 = nb_generator_new(5), *g2 = nb_generator_new(5);
  nb_rnn_opts o1 = {.dtype = NB_DTYPE_FLOAT64, .generator = g1};
  nb_rnn_opts o2 = {.dtype = NB_DTYPE_FLOAT64, .generator = g2};
  nb_module *a = nb_gru_new(3, 5, &o1), *b = nb_gru_new(3, 5, &o2);
  nb_named_tensors pa = nb_module_parameters(a), pb = nb_module_parameters(b);
  cr_assert_eq(pa.n, 4);
  for (int i = 0; i < pa.n; i++) {
    cr_assert_eq(nb_dtype_of(pa.tensors[i]), NB_DTYPE_FLOAT64);
    nbt_assert_close(pa.tensors[i], pb.tensors[i], 0, 0, pa.names[i]); /* same seed */
  }
  nb_module_free(a);
  nb_module_free(b);
  nb_generator_free(g1);
  nb_generator_free(g2);

  nb_module *m = nb_lstm_new(3, 5, &(nb_rnn_opts){.no_bias = true, .num_layers = 3});
  nb_named_tensors p = nb_module_parameters(m);
  cr_assert_eq(p.n, 6);
  cr_assert_str_eq(p.names[5], "weight_hh_l2");
  nbt_assert_shape(p.tensors[0], NB_SHAPE(20, 3), "weight_ih_l0");
  nbt_assert_shape(p.tensors[2], NB_SHAPE(20, 5), "weight_ih_l1");
  nbt_assert_shape(p.tensors[3], NB_SHAPE(20, 5), "weight_hh_l1");
  nb_module_free(m);
}

Test(nn_rnn, describe) {
  char buf[256];
  nb_module *m = nb_lstm_new(3, 4,
                             &(nb_rnn_opts){.num_layers = 2,
                                            .batch_first = true,
                                            .dropout = 0.5,
                                            .bidirectional = true,
                                            .no_bias = true});
  m->ops->describe(m, buf, sizeof buf);
  cr_assert_str_eq(buf, "3, 4, num_layers=2, bias=False, batch_first=True, dropout=0.5, "
                        "bidirectional=True");
  nb_module_free(m);
  m = nb_gru_new(10, 20, NULL);
  m->ops->describe(m, buf, sizeof buf);
  cr_assert_str_eq(buf, "10, 20");
  nb_module_free(m);
  m = nb_rnn_new(2, 3, &(nb_rnn_opts){.relu = true});
  m->ops->describe(m, buf, sizeof buf);
  cr_assert_str_eq(buf, "2, 3, nonlinearity='relu'");
  cr_assert_str_eq(nb_module_type(m), "RNN");
  nb_module_free(m);
}

/* ---- dropout between layers ------------------------------------------------------------ */

Test(nn_rnn, dropout_between_layers_in_training_only) {
  nb_manual_seed(3);
  nb_module *m = nb_lstm_new(3, 4, &(nb_rnn_opts){.num_layers = 2, .dropout = 1.0});
  nb_scope_begin();
  nb_tensor *x1 = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(5, 2, 3), NULL);
  nb_tensor *x2 = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(5, 2, 3), NULL);
  nb_requires_grad_(x1, true);
  /* Training with p = 1: layer 1 sees zeros, so the output ignores x ... */
  nb_tensor *o1 = nb_forward(m, x1), *o2 = nb_forward(m, x2);
  nbt_assert_close(o1, o2, 1e-6, 1e-7, "training output with p = 1");
  nb_tensor *o, *hn;
  nbt_assert_ok(nb_rnn_forward(m, x1, NULL, NULL, &o, &hn, NULL), "forward");
  nbt_assert_ok(nb_backward(nb_sum(o, NB_ALL_DIMS, false)), "backward");
  nb_tensor *g = nb_grad_of(x1);
  if (g) nbt_assert_close(g, nb_zeros_like(g, 0), 0, 0, "no gradient through dropout");
  /* ... but layer 0's final state does. */
  nb_tensor *h0_layer0 = nb_select(hn, 0, 0);
  nb_tensor *hn2;
  nbt_assert_ok(nb_rnn_forward(m, x2, NULL, NULL, NULL, &hn2, NULL), "forward");
  cr_assert(!nbt_compare(h0_layer0, nb_select(hn2, 0, 0), 1e-3, 1e-3, 0, NULL, 0));
  /* Eval: no dropout, the output depends on x. */
  nb_module_eval(m);
  nb_tensor *e1 = nb_forward(m, x1), *e2 = nb_forward(m, x2);
  cr_assert(!nbt_compare(e1, e2, 1e-3, 1e-3, 0, NULL, 0), "eval outputs must differ");
  cr_assert(!nbt_compare(e1, o1, 1e-3, 1e-3, 0, NULL, 0), "eval differs from p = 1 training");
  nb_scope_end();
  nb_module_free(m);

  /* p = 0.5 in training: random masks, two runs differ; eval matches p = 0. */
  nb_module *d = nb_gru_new(3, 4, &(nb_rnn_opts){.num_layers = 2, .dropout = 0.5});
  nb_module *z = nb_gru_new(3, 4, &(nb_rnn_opts){.num_layers = 2});
  nb_scope_begin();
  nb_named_tensors pd = nb_module_parameters(d), pz = nb_module_parameters(z);
  for (int i = 0; i < pd.n; i++) nb_copy_(pz.tensors[i], pd.tensors[i]);
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(6, 3, 3), NULL);
  nb_tensor *t1 = nb_forward(d, x), *t2 = nb_forward(d, x), *ref = nb_forward(z, x);
  cr_assert(!nbt_compare(t1, t2, 1e-4, 1e-4, 0, NULL, 0), "two training runs differ");
  nb_module_eval(d);
  nbt_assert_close(nb_forward(d, x), ref, 1e-6, 1e-7, "eval = no dropout");
  nb_scope_end();
  nb_module_free(d);
  nb_module_free(z);
}

/* ---- gradcheck ---------------------------------------------------------------------------- */

/* out, hn and cn of the module in *user, flattened and concatenated. */
static nb_tensor *lstm_fn(nb_tensor *const *in, int n, void *user) {
  nb_tensor *out, *hn, *cn;
  if (nb_rnn_forward(user, in[0], n > 1 ? in[1] : NULL, n > 2 ? in[2] : NULL, &out, &hn, &cn) !=
      NB_OK)
    return NULL;
  nb_tensor *parts[3] = {nb_flatten(out, 0, -1), nb_flatten(hn, 0, -1),
                         cn ? nb_flatten(cn, 0, -1) : NULL};
  nb_tensor *y = nb_cat(parts, cn ? 3 : 2, 0);
  nb_tensor *tmp[] = {out, hn, cn, parts[0], parts[1], parts[2]};
  for (int i = 0; i < 6; i++) nb_free(tmp[i]);
  return y;
}

Test(nn_rnn, gradcheck_lstm_float64) {
  nb_manual_seed(11);
  nb_module *m = nb_lstm_new(
      2, 3, &(nb_rnn_opts){.num_layers = 2, .bidirectional = true, .dtype = NB_DTYPE_FLOAT64});
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(3, 2, 2), NULL);
  nb_tensor *h0 = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(4, 2, 3), NULL);
  nb_tensor *c0 = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(4, 2, 3), NULL);
  nb_tensor *in[3] = {x, h0, c0};
  nbt_assert_ok(nb_gradcheck(lstm_fn, in, 3, m, NULL), "gradcheck");
  nbt_assert_ok(nb_gradgradcheck(lstm_fn, in, 3, m, NULL), "gradgradcheck");
  nb_free(x);
  nb_free(h0);
  nb_free(c0);
  nb_module_free(m);
}

Test(nn_rnn, gradcheck_gru_and_rnn_float64) {
  nb_manual_seed(12);
  nb_module *mods[2] = {
      nb_gru_new(2, 3, &(nb_rnn_opts){.batch_first = true, .dtype = NB_DTYPE_FLOAT64}),
      nb_rnn_new(2, 3, &(nb_rnn_opts){.num_layers = 2, .dtype = NB_DTYPE_FLOAT64})};
  for (int i = 0; i < 2; i++) {
    /* GRU batch_first [B = 2, T = 3, 2]; RNN [T = 3, B = 2, 2]. */
    nb_tensor *x = nb_randn(NB_DTYPE_FLOAT64, 3, (int64_t[]){i ? 3 : 2, i ? 2 : 3, 2}, NULL);
    nb_tensor *h0 = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(i + 1, 2, 3), NULL);
    nb_tensor *in[2] = {x, h0};
    nbt_assert_ok(nb_gradcheck(lstm_fn, in, 2, mods[i], NULL), nb_module_type(mods[i]));
    nbt_assert_ok(nb_gradgradcheck(lstm_fn, in, 2, mods[i], NULL), nb_module_type(mods[i]));
    nb_free(x);
    nb_free(h0);
    nb_module_free(mods[i]);
  }
}

/* ---- ownership ------------------------------------------------------------------------------ */

Test(nn_rnn, no_scope_everything_freed) {
  nb_module *m = nb_lstm_new(3, 4, &(nb_rnn_opts){.num_layers = 2, .bidirectional = true});
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(4, 2, 3), NULL);
  nb_tensor *h0 = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(4, 2, 4));
  nb_requires_grad_(x, true);
  nb_tensor *out, *hn, *cn;
  nbt_assert_ok(nb_rnn_forward(m, x, h0, NULL, &out, &hn, &cn), "forward");
  nbt_assert_shape(out, NB_SHAPE(4, 2, 8), "out");
  nbt_assert_shape(hn, NB_SHAPE(4, 2, 4), "hn");
  nbt_assert_shape(cn, NB_SHAPE(4, 2, 4), "cn");
  /* Same values as zero initial states given explicitly. */
  nb_tensor *out2 = nb_forward(m, x);
  nbt_assert_close(out2, out, 0, 0, "h0 zeros = NULL");
  nb_free(out2);
  nb_tensor *s = nb_sum(out, NB_ALL_DIMS, false);
  nbt_assert_ok(nb_backward(s), "backward");
  cr_assert_not_null(nb_grad_of(x));
  nb_free(s);
  nb_free(out);
  nb_free(hn);
  nb_free(cn);
  /* Only some outputs wanted. */
  nbt_assert_ok(nb_rnn_forward(m, x, NULL, NULL, NULL, &hn, NULL), "hn only");
  nbt_assert_shape(hn, NB_SHAPE(4, 2, 4), "hn");
  nb_free(hn);
  nb_free(x);
  nb_free(h0);
  nb_module_free(m);
}

Test(nn_rnn, empty_batch) {
  nb_module *m = nb_gru_new(3, 4, &(nb_rnn_opts){.bidirectional = true});
  nb_scope_begin();
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(5, 0, 3));
  nb_tensor *out, *hn;
  nbt_assert_ok(nb_rnn_forward(m, x, NULL, NULL, &out, &hn, NULL), "empty batch");
  nbt_assert_shape(out, NB_SHAPE(5, 0, 8), "out");
  nbt_assert_shape(hn, NB_SHAPE(2, 0, 4), "hn");
  nb_scope_end();
  nb_module_free(m);
}

/* ---- errors -----------------------------------------------------------------------------------
 */

static void expect_error(nb_status st, nb_status want, const char *const *parts, int n) {
  cr_assert_eq(st, want, "status %s, message: %s", nb_status_str(st), nb_errmsg());
  cr_assert_eq(nb_last_status(), want);
  for (int i = 0; i < n; i++)
    cr_assert(strstr(nb_errmsg(), parts[i]), "\"%s\" not in: %s", parts[i], nb_errmsg());
}
#define EXPECT_ERROR(st, want, ...)                                                                \
  expect_error((st), (want), (const char *const[]){__VA_ARGS__},                                   \
               (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))

Test(nn_rnn, constructor_errors) {
  cr_assert_null(nb_lstm_new(3, 0, NULL));
  EXPECT_ERROR(nb_last_status(), NB_ERR_ARG, "lstm_new", "hidden_size 0");
  cr_assert_null(nb_gru_new(-1, 4, NULL));
  EXPECT_ERROR(nb_last_status(), NB_ERR_ARG, "gru_new", "input_size -1");
  cr_assert_null(nb_rnn_new(3, 4, &(nb_rnn_opts){.num_layers = -2}));
  EXPECT_ERROR(nb_last_status(), NB_ERR_ARG, "rnn_new", "num_layers -2");
  cr_assert_null(nb_rnn_new(3, 4, &(nb_rnn_opts){.dropout = 1.5}));
  EXPECT_ERROR(nb_last_status(), NB_ERR_ARG, "dropout 1.5");
  cr_assert_null(nb_rnn_new(3, 4, &(nb_rnn_opts){.dropout = NAN}));
  EXPECT_ERROR(nb_last_status(), NB_ERR_ARG, "dropout");
  cr_assert_null(nb_lstm_new(3, 4, &(nb_rnn_opts){.relu = true}));
  EXPECT_ERROR(nb_last_status(), NB_ERR_ARG, "lstm_new", "relu");
  cr_assert_null(nb_gru_new(3, 4, &(nb_rnn_opts){.dtype = NB_DTYPE_INT64}));
  EXPECT_ERROR(nb_last_status(), NB_ERR_DTYPE, "gru_new", "int64");
}

Test(nn_rnn, forward_errors) {
  nb_module *m = nb_lstm_new(3, 4, &(nb_rnn_opts){.num_layers = 2});
  nb_module *g = nb_gru_new(3, 4, &(nb_rnn_opts){.batch_first = true, .bidirectional = true});
  nb_module *lin = nb_linear_new(3, 4, NULL);
  nb_scope_begin();
  nb_tensor *out = (nb_tensor *)1, *hn = (nb_tensor *)1, *cn = (nb_tensor *)1;
  nb_tensor *bad = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(5, 2, 7));
  EXPECT_ERROR(nb_rnn_forward(m, bad, NULL, NULL, &out, &hn, &cn), NB_ERR_SHAPE,
               "LSTM(3, 4, num_layers=2)", "[5, 2, 7]", "[T, B, 3]");
  cr_assert(!out && !hn && !cn, "outputs are NULL after an error");
  cr_assert_null(nb_forward(m, bad));
  EXPECT_ERROR(nb_last_status(), NB_ERR_SHAPE, "LSTM", "[5, 2, 7]");
  cr_assert_null(nb_forward(g, bad));
  EXPECT_ERROR(nb_last_status(), NB_ERR_SHAPE, "GRU(3, 4, batch_first=True, bidirectional=True)",
               "[B, T, 3]");
  nb_tensor *x4 = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(5, 2, 1, 3));
  cr_assert_null(nb_forward(m, x4));
  EXPECT_ERROR(nb_last_status(), NB_ERR_SHAPE, "[5, 2, 1, 3]");

  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(5, 2, 3));
  nb_tensor *h_bad = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1, 2, 4));
  EXPECT_ERROR(nb_rnn_forward(m, x, h_bad, NULL, &out, &hn, NULL), NB_ERR_SHAPE, "LSTM", "h0",
               "[1, 2, 4]", "[2, 2, 4]");
  EXPECT_ERROR(nb_rnn_forward(m, x, NULL, h_bad, &out, &hn, NULL), NB_ERR_SHAPE, "c0", "[1, 2, 4]",
               "[2, 2, 4]");
  nb_tensor *h_f64 = nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(2, 2, 4));
  EXPECT_ERROR(nb_rnn_forward(m, x, h_f64, NULL, &out, NULL, NULL), NB_ERR_DTYPE, "h0", "float64",
               "float32");
  nb_tensor *x64 = nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(5, 2, 3));
  EXPECT_ERROR(nb_rnn_forward(m, x64, NULL, NULL, &out, NULL, NULL), NB_ERR_DTYPE, "input",
               "float64");
  nb_tensor *xg = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 5, 3));
  nb_tensor *hg = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 2, 4));
  EXPECT_ERROR(nb_rnn_forward(g, xg, hg, hg, &out, &hn, NULL), NB_ERR_ARG, "GRU", "c0",
               "only for LSTM");
  /* Unbatched input wants 2-D states. */
  nb_tensor *xu = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(5, 3));
  EXPECT_ERROR(nb_rnn_forward(g, xu, hg, NULL, &out, &hn, NULL), NB_ERR_SHAPE, "h0", "[2, 4]");
  nb_tensor *empty = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0, 2, 3));
  EXPECT_ERROR(nb_rnn_forward(m, empty, NULL, NULL, &out, NULL, NULL), NB_ERR_SHAPE,
               "sequence length");
  /* Too many inputs through nb_forward_n. */
  cr_assert_null(nb_forward_n(g, (nb_tensor *[]){xg, hg, hg}, 3));
  EXPECT_ERROR(nb_last_status(), NB_ERR_ARG, "GRU", "1 to 2 inputs");
  cr_assert_null(nb_forward_n(m, (nb_tensor *[]){x, x, x, x}, 4));
  EXPECT_ERROR(nb_last_status(), NB_ERR_ARG, "LSTM", "1 to 3 inputs");
  /* Not a recurrent module; NULLs. */
  EXPECT_ERROR(nb_rnn_forward(lin, x, NULL, NULL, &out, NULL, NULL), NB_ERR_ARG, "rnn_forward",
               "Linear");
  nb_clear_error();
  EXPECT_ERROR(nb_rnn_forward(NULL, x, NULL, NULL, &out, NULL, NULL), NB_ERR_NULL, "rnn_forward");
  nb_set_error(NB_ERR_SHAPE, "earlier failure");
  cr_assert_eq(nb_rnn_forward(m, NULL, NULL, NULL, &out, NULL, NULL), NB_ERR_NULL);
  cr_assert_str_eq(nb_errmsg(), "earlier failure", "the first error is kept");
  nb_scope_end();
  nb_module_free(m);
  nb_module_free(g);
  nb_module_free(lin);
}

/* ---- state dicts and summaries ------------------------------------------------------------ */

/* Loading replaces the parameters' tensors: the forward must use the new ones. */
Test(nn_rnn, save_load_round_trip) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/nb_rnn_XXXXXX");
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  nb_rnn_opts o = {.num_layers = 2, .bidirectional = true};
  nb_module *a = nb_lstm_new(3, 4, &o), *b = nb_lstm_new(3, 4, &o);
  nbt_assert_ok(nb_module_save(a, path), "save");
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(5, 2, 3), NULL);
  nb_tensor *ya = nb_forward(a, x);
  cr_assert(!nbt_compare(nb_forward(b, x), ya, 1e-4, 1e-4, 0, NULL, 0), "different weights");
  nbt_assert_ok(nb_module_load(b, path, true), "load");
  nbt_assert_close(nb_forward(b, x), ya, 0, 0, "same outputs after loading");
  nb_scope_end();
  unlink(path);
  nb_module_free(a);
  nb_module_free(b);
}

Test(nn_rnn, summary) {
  nb_module *m =
      nb_sequential_new((nb_module *[]){nb_gru_new(3, 4, &(nb_rnn_opts){.batch_first = true})}, 1);
  char *text = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  nbt_assert_ok(nb_module_summary(m, NB_DTYPE_FLOAT32, 3, (int64_t[]){2, 7, 3}, f), "summary");
  fclose(f);
  cr_assert(strstr(text, "GRU"), "%s", text);
  cr_assert(strstr(text, "[2, 7, 4]"), "%s", text);
  cr_assert(strstr(text, "108"), "%s", text); /* 12 * 3 + 12 * 4 + 12 + 12 */
  free(text);
  nb_module_free(m);
}

/* ---- long sequences ------------------------------------------------------------------------ */

/* More steps than one nb_stack / nb_cat call takes: the output's steps must be
 * in order (the forward direction's last step and the backward direction's
 * first step are the final states), a prefix of the sequence gives the same
 * outputs, and backward runs through every step. */
Test(nn_rnn, long_sequence) {
  nb_manual_seed(21);
  const int64_t T = 4200, H = 2;
  nb_module *m = nb_gru_new(1, H, &(nb_rnn_opts){.bidirectional = true, .batch_first = true});
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(1, T, 1), NULL);
  nb_requires_grad_(x, true);
  nb_tensor *out, *hn;
  nbt_assert_ok(nb_rnn_forward(m, x, NULL, NULL, &out, &hn, NULL), "forward");
  nbt_assert_shape(out, NB_SHAPE(1, T, 2 * H), "out");
  nb_tensor *fwd_last = nb_narrow(nb_select(out, 1, T - 1), 1, 0, H);
  nb_tensor *bwd_first = nb_narrow(nb_select(out, 1, 0), 1, H, H);
  nbt_assert_close(fwd_last, nb_select(hn, 0, 0), 0, 0, "forward final state");
  nbt_assert_close(bwd_first, nb_select(hn, 0, 1), 0, 0, "backward final state");
  /* The forward direction is causal: a prefix gives the same outputs. */
  const int64_t P = 4100;
  nb_tensor *prefix_out;
  nbt_assert_ok(nb_rnn_forward(m, nb_narrow(x, 1, 0, P), NULL, NULL, &prefix_out, NULL, NULL),
                "prefix");
  nbt_assert_close(nb_narrow(prefix_out, 2, 0, H), nb_narrow(nb_narrow(out, 1, 0, P), 2, 0, H),
                   1e-6, 1e-7, "prefix outputs");
  nbt_assert_ok(nb_backward(nb_sum(out, NB_ALL_DIMS, false)), "backward");
  nbt_assert_shape(nb_grad_of(x), NB_SHAPE(1, T, 1), "grad");
  nb_scope_end();
  nb_module_free(m);
}
