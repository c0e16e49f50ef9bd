/* tests/nn/test_loss_modules.c - the loss modules (L1Loss ... MarginRankingLoss).
 *
 * Each loss case of tests/fixtures/nn_layers.txt (tools/fixtures/gen_nn_layers.py)
 * holds a PyTorch loss module with non-default options, its inputs, output
 * and gradients: the nabla module built with the same options must give the
 * same value and gradients, and exactly what the autograd op gives with those
 * options. Also: options are copied and their tensors held as PyTorch's
 * buffers ("weight", "pos_weight") that survive the caller's tensors and are
 * released with the module, and error paths.
 */
#include <math.h>
#include <string.h>

#include "nn/nn.h"
#include "support/nbtest.h"

TestSuite(nn_loss, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

typedef nb_tensor *(*op2)(nb_tensor *, nb_tensor *, const nb_loss_opts *);
typedef nb_tensor *(*op3)(nb_tensor *, nb_tensor *, nb_tensor *, const nb_loss_opts *);

static const struct {
  const char *fixture, *type;
  nb_module *(*make)(const nb_loss_opts *);
  op2 f2;
  op3 f3;
} losses[] = {
    {"loss_l1", "L1Loss", nb_l1_loss_new, nb_l1_loss, NULL},
    {"loss_mse_sum", "MSELoss", nb_mse_loss_new, nb_mse_loss, NULL},
    {"loss_smooth_l1_none", "SmoothL1Loss", nb_smooth_l1_loss_new, nb_smooth_l1_loss, NULL},
    {"loss_huber", "HuberLoss", nb_huber_loss_new, nb_huber_loss, NULL},
    {"loss_ce", "CrossEntropyLoss", nb_cross_entropy_loss_new, nb_cross_entropy, NULL},
    {"loss_nll_sum", "NLLLoss", nb_nll_loss_new, nb_nll_loss, NULL},
    {"loss_bce", "BCELoss", nb_bce_loss_new, nb_binary_cross_entropy, NULL},
    {"loss_bce_logits", "BCEWithLogitsLoss", nb_bce_with_logits_loss_new,
     nb_binary_cross_entropy_with_logits, NULL},
    {"loss_kl_batchmean", "KLDivLoss", nb_kl_div_loss_new, nb_kl_div, NULL},
    {"loss_cosine", "CosineEmbeddingLoss", nb_cosine_embedding_loss_new, NULL,
     nb_cosine_embedding_loss},
    {"loss_margin_ranking", "MarginRankingLoss", nb_margin_ranking_loss_new, NULL,
     nb_margin_ranking_loss},
};
#define NLOSSES (sizeof losses / sizeof losses[0])

static double param_or(const nbt_case *c, const char *name, double dflt) {
  return nbt_case_has_param(c, name) ? nbt_case_param(c, name) : dflt;
}

/* The case's options (weight tensors are new and scoped). */
static nb_loss_opts opts_of(const nbt_case *c) {
  nb_loss_opts o = {.reduction = (nb_reduction)param_or(c, "reduction", 0),
                    .label_smoothing = param_or(c, "label_smoothing", 0),
                    .beta = param_or(c, "beta", 0),
                    .delta = param_or(c, "delta", 0),
                    .margin = param_or(c, "margin", 0),
                    .log_target = param_or(c, "log_target", 0) != 0};
  if (nbt_case_has_param(c, "ignore_index")) {
    o.use_ignore_index = true;
    o.ignore_index = (int64_t)nbt_case_param(c, "ignore_index");
  }
  if (nbt_case_has_tensor(c, "opt.weight")) o.weight = nbt_case_tensor(c, "opt.weight");
  if (nbt_case_has_tensor(c, "opt.pos_weight")) o.pos_weight = nbt_case_tensor(c, "opt.pos_weight");
  return o;
}

Test(nn_loss, modules_match_torch_and_ops) {
  nbt_fixture *f = nbt_fixture_load("nn_layers");
  for (size_t i = 0; i < NLOSSES; i++) {
    const nbt_case *c = nbt_fixture_case(f, losses[i].fixture);
    nb_scope_begin();
    nb_loss_opts o = opts_of(c);
    nb_module *m = losses[i].make(&o);
    cr_assert_not_null(m, "%s: %s", losses[i].type, nb_errmsg());
    cr_assert_str_eq(nb_module_type(m), losses[i].type);
    cr_assert_eq(nb_module_state(m).n, (int)nbt_case_param(c, "nstate"), "%s state",
                 losses[i].type);
    cr_assert_eq(nb_module_num_params(m), 0);
    int n = losses[i].f3 ? 3 : 2;
    nb_tensor *in[3];
    char buf[32];
    for (int k = 0; k < n; k++) {
      snprintf(buf, sizeof buf, "x%d", k + 1);
      in[k] = nbt_case_tensor(c, buf);
      snprintf(buf, sizeof buf, "g_x%d", k + 1);
      if (nbt_case_has_tensor(c, buf)) nb_requires_grad_(in[k], true);
    }
    nb_tensor *out = n == 2 ? nb_loss(m, in[0], in[1]) : nb_forward_n(m, in, 3);
    cr_assert_not_null(out, "%s: %s", losses[i].type, nb_errmsg());
    nbt_case_check(c, "out", out, 1e-5, 1e-6);
    /* Exactly the op with the same options. */
    nb_tensor *ref =
        n == 2 ? losses[i].f2(in[0], in[1], &o) : losses[i].f3(in[0], in[1], in[2], &o);
    nbt_assert_close(out, ref, 0, 0, losses[i].type);
    nbt_assert_ok(nb_backward(nb_sum(nb_mul(out, nbt_case_tensor(c, "gout")), NB_ALL_DIMS, false)),
                  losses[i].type);
    for (int k = 0; k < n; k++) {
      snprintf(buf, sizeof buf, "g_x%d", k + 1);
      if (nbt_case_has_tensor(c, buf)) nbt_case_check(c, buf, nb_grad_of(in[k]), 1e-5, 1e-6);
    }
    nb_scope_end();
    nb_module_free(m);
  }
  nbt_fixture_free(f);
}

Test(nn_loss, options_are_copied_and_tensors_held) {
  nbt_fixture *f = nbt_fixture_load("nn_layers");
  const nbt_case *c = nbt_fixture_case(f, "loss_bce_logits");
  nb_loss_opts o = {0};
  nb_module *m;
  { /* The caller's options and tensors go away before the module is used. */
    nb_scope_begin();
    o = opts_of(c);
    m = nb_bce_with_logits_loss_new(&o);
    cr_assert_not_null(m, "%s", nb_errmsg());
    nb_scope_end();
    o = (nb_loss_opts){.reduction = NB_REDUCTION_SUM};
  }
  nb_named_tensors s = nb_module_state(m);
  cr_assert_eq(s.n, 2);
  cr_assert_str_eq(s.names[0], "weight"); /* PyTorch's buffer names and order */
  cr_assert_str_eq(s.names[1], "pos_weight");
  nb_scope_begin();
  nb_tensor *x = nbt_case_tensor(c, "x1"), *t = nbt_case_tensor(c, "x2");
  nbt_case_check(c, "out", nb_loss(m, x, t), 1e-5, 1e-6);
  /* The buffers are what forward uses: replacing one changes the value. */
  nb_tensor *ones = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4));
  nbt_assert_ok(nb_module_set_tensor(m, "pos_weight", ones), "set pos_weight");
  nb_loss_opts plain = {.weight = nbt_case_tensor(c, "opt.weight")};
  nbt_assert_close(nb_loss(m, x, t), nb_binary_cross_entropy_with_logits(x, t, &plain), 0, 0,
                   "pos_weight 1");
  nb_scope_end();
  nb_module_free(m); /* releases the held tensors (the leak check counts them) */

  /* A loss that takes no weight ignores one, as the op does. */
  nb_scope_begin();
  nb_tensor *w = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3));
  nb_module *mse = nb_mse_loss_new(&(nb_loss_opts){.weight = w});
  cr_assert_eq(nb_module_state(mse).n, 0);
  nb_module *nll = nb_nll_loss_new(&(nb_loss_opts){.weight = w});
  cr_assert_eq(nb_module_state(nll).n, 1);
  cr_assert(nb_shares_storage(nb_module_get_buffer(nll, "weight"), w));
  nb_scope_end();
  nb_module_free(nll);
  nb_module_free(mse);
  nbt_fixture_free(f);
}

Test(nn_loss, errors) {
  nbt_expect_null(nb_mse_loss_new(&(nb_loss_opts){.reduction = NB_REDUCTION_BATCHMEAN}), NB_ERR_ARG,
                  "mse_loss_new: invalid reduction 3 (batchmean is for KLDivLoss)");
  nbt_expect_null(nb_l1_loss_new(&(nb_loss_opts){.reduction = (nb_reduction)9}), NB_ERR_ARG,
                  "l1_loss_new: invalid reduction 9");
  nbt_expect_null(nb_cross_entropy_loss_new(&(nb_loss_opts){.label_smoothing = 1.5}), NB_ERR_ARG,
                  "label_smoothing 1.5");
  nbt_expect_null(nb_huber_loss_new(&(nb_loss_opts){.delta = -1}), NB_ERR_ARG, "delta -1");
  nbt_expect_null(nb_smooth_l1_loss_new(&(nb_loss_opts){.beta = NAN}), NB_ERR_ARG, "beta");
  nbt_expect_null(nb_margin_ranking_loss_new(&(nb_loss_opts){.margin = INFINITY}), NB_ERR_ARG,
                  "margin");
  nb_scope_begin();
  nb_tensor *iw = nb_ones(NB_DTYPE_INT64, NB_SHAPE(3));
  nbt_expect_null(nb_nll_loss_new(&(nb_loss_opts){.weight = iw}), NB_ERR_DTYPE,
                  "nll_loss_new: weight must be float32 or float64, got int64 [3]");
  nb_scope_end();

  nb_module *mse = nb_mse_loss_new(NULL), *cos = nb_cosine_embedding_loss_new(NULL);
  nb_module *ce = nb_cross_entropy_loss_new(NULL);
  nb_scope_begin();
  nb_tensor *a = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3)),
            *b = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(3, 2));
  nbt_expect_null(nb_loss(mse, a, b), NB_ERR_SHAPE, "MSELoss: ");
  nbt_expect_null(nb_loss(mse, a, b), NB_ERR_SHAPE, "[2, 3]");
  nbt_expect_null(nb_forward(mse, a), NB_ERR_ARG, "MSELoss: expected 2 inputs, got 1");
  nbt_expect_null(nb_loss(cos, a, a), NB_ERR_ARG, "CosineEmbeddingLoss: expected 3 inputs, got 2");
  nb_tensor *bad = nb_from_data(NB_DTYPE_INT64, (int64_t[]){0, 7}, NB_SHAPE(2));
  nbt_expect_null(nb_loss(ce, a, bad), NB_ERR_INDEX, "CrossEntropyLoss: cross_entropy");
  nb_scope_end();
  nb_module_free(ce);
  nb_module_free(cos);
  nb_module_free(mse);
}
