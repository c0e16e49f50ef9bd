/* tests/autograd/test_ag_loss.c - autograd losses vs PyTorch.
 *
 * Sweeps every case of tests/fixtures/ag_loss.txt (tools/fixtures/gen_ag_loss.py):
 * forward value and the gradients of (out * gout).sum() for each leaf, float32
 * and float64, every option; plus error paths, the fused rows' gradchecks with
 * leak checks, and gradchecks of the composites.
 */
#include <string.h>

#include "autograd/autograd.h"
#include "support/nbtest.h"

TestSuite(ag_loss, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

typedef nb_tensor *(*loss2_fn)(nb_tensor *, nb_tensor *, const nb_loss_opts *);
typedef nb_tensor *(*loss3_fn)(nb_tensor *, nb_tensor *, nb_tensor *, const nb_loss_opts *);
static const loss2_fn LOSS2[] = {nb_cross_entropy,
                                 nb_nll_loss,
                                 nb_mse_loss,
                                 nb_l1_loss,
                                 nb_binary_cross_entropy,
                                 nb_binary_cross_entropy_with_logits,
                                 nb_smooth_l1_loss,
                                 nb_huber_loss,
                                 nb_kl_div,
                                 NULL,
                                 NULL};
static const loss3_fn LOSS3[] = {[9] = nb_cosine_embedding_loss, [10] = nb_margin_ranking_loss};

/* Options from the case's params; x_t: x is seen transposed. */
static nb_tensor *run_loss(const nbt_case *c, nb_tensor **in) {
  int loss = (int)nbt_case_param(c, "loss");
  nb_loss_opts o = {.reduction = (nb_reduction)nbt_case_param(c, "reduction")};
  nb_tensor *xv = nbt_case_param(c, "x_t") != 0 ? nb_transpose(in[0], 0, 1) : in[0];
  if (nbt_case_has_tensor(c, "weight")) o.weight = nbt_case_tensor(c, "weight");
  if (nbt_case_has_tensor(c, "pos_weight")) o.pos_weight = nbt_case_tensor(c, "pos_weight");
  if (nbt_case_has_param(c, "ignore_index")) {
    o.use_ignore_index = true;
    o.ignore_index = (int64_t)nbt_case_param(c, "ignore_index");
  }
  if (nbt_case_has_param(c, "label_smoothing"))
    o.label_smoothing = nbt_case_param(c, "label_smoothing");
  if (nbt_case_has_param(c, "beta")) {
    o.beta = nbt_case_param(c, "beta");
    o.use_zero_beta = o.beta == 0;
  }
  if (nbt_case_has_param(c, "delta")) o.delta = nbt_case_param(c, "delta");
  if (nbt_case_has_param(c, "margin")) o.margin = nbt_case_param(c, "margin");
  if (nbt_case_has_param(c, "log_target")) o.log_target = nbt_case_param(c, "log_target") != 0;
  return LOSS3[loss] ? LOSS3[loss](xv, in[1], in[2], &o) : LOSS2[loss](xv, in[2], &o);
}

/* bce's target gradient is log(1 - p) - log(p): float32 rounding of 1 - p. */
static const nbt_tols gy_tols = {1e-4, 1e-5, 1e-9, 1e-11};
/* y requires grad (and has gy) when param y_grad is set. */
static const nbt_grad_input inputs[] = {
    {"x", "gx", NULL}, {"x2", "gx2", NULL}, {"y", "gy", &gy_tols}};
static const nbt_grad_spec spec = {inputs, 3, "gout", {2e-5, 2e-6, 1e-9, 1e-11}, run_loss};

Test(ag_loss, fixtures_vs_pytorch) { cr_assert_gt(nbt_check_grad_cases("ag_loss", &spec), 200); }

/* ---- error paths --------------------------------------------------------------- */
Test(ag_loss, errors) {
  nb_scope_begin();
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(4, 3));
  nb_tensor *y34 = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(3, 4));
  nb_tensor *yi = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(4));
  nb_tensor *yi5 = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(5));
  nb_tensor *yb = nb_zeros(NB_DTYPE_BOOL, NB_SHAPE(4));
  nbt_expect_null(nb_cross_entropy(x, yi5, NULL), NBT_ANY_STATUS, "cross_entropy", "[4, 3]");
  cr_assert(strstr(nb_errmsg(), "[5]"));
  nbt_expect_null(nb_cross_entropy(x, yb, NULL), NBT_ANY_STATUS, "cross_entropy", "bool");
  nbt_expect_null(nb_cross_entropy(x, y34, NULL), NBT_ANY_STATUS, "cross_entropy", "[3, 4]");
  nbt_expect_null(nb_cross_entropy(x, yi, &(nb_loss_opts){.reduction = (nb_reduction)9}),
                  NBT_ANY_STATUS, "cross_entropy", "reduction");
  nbt_expect_null(nb_cross_entropy(x, yi, &(nb_loss_opts){.reduction = NB_REDUCTION_BATCHMEAN}),
                  NBT_ANY_STATUS, "cross_entropy", "reduction");
  nbt_expect_null(nb_cross_entropy(x, yi, &(nb_loss_opts){.label_smoothing = 1.5}), NBT_ANY_STATUS,
                  "cross_entropy", "label_smoothing");
  nb_tensor *bad = nb_from_data(NB_DTYPE_INT64, (int64_t[]){0, 3, 1, 1}, NB_SHAPE(4));
  nbt_expect_null(nb_cross_entropy(x, bad, NULL), NBT_ANY_STATUS, "cross_entropy", "out of bounds");
  nbt_expect_null(nb_nll_loss(x, bad, NULL), NBT_ANY_STATUS, "nll_loss", "out of bounds");
  nb_tensor *w2 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  nbt_expect_null(nb_cross_entropy(x, yi, &(nb_loss_opts){.weight = w2}), NBT_ANY_STATUS,
                  "cross_entropy", "weight");
  nbt_expect_null(nb_nll_loss(x, y34, NULL), NBT_ANY_STATUS, "nll_loss", "float32");
  nbt_expect_null(nb_binary_cross_entropy(x, y34, NULL), NBT_ANY_STATUS, "binary_cross_entropy",
                  "[3, 4]");
  nbt_expect_null(nb_binary_cross_entropy_with_logits(x, yi, NULL), NBT_ANY_STATUS,
                  "binary_cross_entropy_with_logits", "int64");
  nbt_expect_null(nb_smooth_l1_loss(x, y34, NULL), NBT_ANY_STATUS, "smooth_l1_loss", "[4, 3]");
  nbt_expect_null(nb_huber_loss(x, y34, NULL), NBT_ANY_STATUS, "huber_loss", "[3, 4]");
  nbt_expect_null(nb_huber_loss(x, x, &(nb_loss_opts){.delta = -1}), NBT_ANY_STATUS, "huber_loss",
                  "delta");
  nbt_expect_null(nb_kl_div(x, y34, NULL), NBT_ANY_STATUS, "kl_div", "[3, 4]");
  nbt_expect_null(nb_mse_loss(x, x, &(nb_loss_opts){.reduction = NB_REDUCTION_COUNT}),
                  NBT_ANY_STATUS, "mse_loss", "reduction");
  nb_tensor *t4 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4));
  nbt_expect_null(nb_cosine_embedding_loss(x, y34, t4, NULL), NBT_ANY_STATUS,
                  "cosine_embedding_loss", "[3, 4]");
  nbt_expect_null(nb_cosine_embedding_loss(x, x, yi5, NULL), NBT_ANY_STATUS,
                  "cosine_embedding_loss", "[5]");
  nbt_expect_null(nb_margin_ranking_loss(t4, t4, x, NULL), NBT_ANY_STATUS, "margin_ranking_loss",
                  "[4, 3]");
  /* kl_div accepts batchmean. */
  nb_tensor *k = nb_kl_div(x, x, &(nb_loss_opts){.reduction = NB_REDUCTION_BATCHMEAN});
  cr_assert_not_null(k, "%s", nb_errmsg());
  /* NULL in -> NULL out, keeping the first error. */
  cr_assert_null(nb_cross_entropy(NULL, yi, NULL));
  nb_scope_end();
}

/* Every ignored target: mean is 0 / 0 = NaN as in PyTorch; sum is 0. */
Test(ag_loss, all_ignored) {
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(2, 3), NULL);
  nb_tensor *y = nb_from_data(NB_DTYPE_INT64, (int64_t[]){-100, -100}, NB_SHAPE(2));
  double m = nb_item(nb_cross_entropy(x, y, NULL));
  cr_assert(m != m, "mean over no targets should be NaN, got %g", m);
  double s = nb_item(nb_cross_entropy(x, y, &(nb_loss_opts){.reduction = NB_REDUCTION_SUM}));
  cr_assert_float_eq(s, 0.0, 1e-15);
  nb_scope_end();
}

/* ---- gradchecks of the composites (float64, second order too) ------------- */
typedef struct gc_user {
  int loss;
  nb_loss_opts o;
  nb_tensor *y;
} gc_user;
static nb_tensor *gc_fn(nb_tensor *const *in, int n, void *u) {
  gc_user *g = u;
  if (LOSS3[g->loss]) return LOSS3[g->loss](in[0], in[1], g->y, &g->o);
  return LOSS2[g->loss](in[0], n > 1 ? in[1] : g->y, &g->o);
}

static void gc(int loss, nb_loss_opts o, nb_tensor *x, nb_tensor *x2, nb_tensor *y, bool second) {
  gc_user u = {loss, o, y};
  nb_requires_grad_(x, true);
  if (x2) nb_requires_grad_(x2, true);
  nb_tensor *in[2] = {x, x2};
  int n = x2 ? 2 : 1;
  cr_assert_eq(nb_gradcheck(gc_fn, in, n, &u, NULL), NB_OK, "loss %d: %s", loss, nb_errmsg());
  if (second)
    cr_assert_eq(nb_gradgradcheck(gc_fn, in, n, &u, NULL), NB_OK, "loss %d: %s", loss, nb_errmsg());
}

Test(ag_loss, gradcheck_composites) {
  nb_manual_seed(7);
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(3, 4), NULL);
  nb_tensor *y = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(3, 4), NULL);
  nb_tensor *p = nb_softmax(nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(3, 4), NULL), 1);
  nb_tensor *yi = nb_from_data(NB_DTYPE_INT64, (int64_t[]){0, 3, 2}, NB_SHAPE(3));
  nb_tensor *pw = nb_full(NB_DTYPE_FLOAT64, NB_SHAPE(4), 2.5);
  gc(0, (nb_loss_opts){.label_smoothing = 0.1}, x, p, NULL, true); /* probs, x and target */
  gc(0, (nb_loss_opts){.label_smoothing = 0.2, .reduction = NB_REDUCTION_SUM}, x, NULL, yi, true);
  gc(5, (nb_loss_opts){.pos_weight = pw}, x, p, NULL, true);
  gc(4, (nb_loss_opts){0}, nb_sigmoid(x), p, NULL, true);
  gc(6, (nb_loss_opts){.beta = 0.7}, nb_mul_scalar(x, 3), y, NULL, false);
  gc(7, (nb_loss_opts){.delta = 0.7, .reduction = NB_REDUCTION_NONE}, nb_mul_scalar(x, 3), y, NULL,
     false);
  gc(8, (nb_loss_opts){.reduction = NB_REDUCTION_BATCHMEAN}, nb_log_softmax(x, 1), p, NULL, true);
  gc(8, (nb_loss_opts){.log_target = true}, nb_log_softmax(x, 1), nb_log_softmax(y, 1), NULL, true);
  nb_tensor *s = nb_from_data(NB_DTYPE_FLOAT64, (double[]){1, -1, -1}, NB_SHAPE(3));
  gc(9, (nb_loss_opts){.margin = -0.9}, x, y, s, true);
  gc(10, (nb_loss_opts){.margin = 0.1}, nb_select(x, 1, 0), nb_select(y, 1, 0), s, false);
  nb_scope_end();
}

/* The fused rows leave nothing behind (forward, backward, double backward). */
Test(ag_loss, rows_no_leak) {
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(5, 3, 2), NULL);
  nb_requires_grad_(x, true);
  nb_tensor *y =
      nb_from_data(NB_DTYPE_INT64, (int64_t[]){0, 2, 1, 1, 2, 0, 0, 1, 2, 2}, NB_SHAPE(5, 2));
  nb_tensor *w = nb_from_data(NB_DTYPE_FLOAT32, (float[]){1, 2, 3}, NB_SHAPE(3));
  nb_loss_opts o = {.weight = w, .label_smoothing = 0.1};
  nb_tensor *l = nb_cross_entropy(x, y, &o);
  nb_tensor *g = NULL;
  cr_assert_eq(nb_grad(&l, 1, &x, 1, &g, &(nb_grad_opts){.create_graph = true}), NB_OK, "%s",
               nb_errmsg());
  cr_assert_eq(nb_backward(nb_sum(nb_mul(g, g), NB_ALL_DIMS, false)), NB_OK, "%s", nb_errmsg());
  cr_assert_not_null(nb_grad_of(x));
  nb_tensor *l2 = nb_nll_loss(nb_log_softmax(x, 1), y, &o);
  cr_assert_eq(nb_backward(l2), NB_OK, "%s", nb_errmsg());
  nb_scope_end();
}
