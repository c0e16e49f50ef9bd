/* tests/optim/test_optimizers.c - optimizers vs PyTorch, and the optimizer object.
 *
 * Trajectories: every optimizer and option combination of
 * tests/fixtures/optim.txt (tools/fixtures/gen_optim.py) runs 200 steps on
 *  - the quadratic 0.5 x^T A x - b^T x (float64): parameters after steps 1,
 *    10, 50, 200 within 1e-5 relative of PyTorch's;
 *  - the wine MLP in float64: within 1e-5 relative of PyTorch's float64 run;
 *  - the wine MLP in float32: within K times the distance between PyTorch's
 *    own float32 and float64 runs (the case's `noise`), at least 1e-5: both
 *    implementations round differently in float32 and the training dynamics
 *    amplify that rounding the same way they amplify PyTorch's own.
 * Then: no allocation per step after the first, identical results with 1 and
 * 2 threads, state save/load, groups, skipping params without gradients,
 * zero_grad, lr get/set, the non-contiguous fallback, version bumps,
 * gradient accumulation, and the errors.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nabla.h"
#include "support/nbtest.h"

TestSuite(optim, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

static const char *const CONFIGS[] = {
    "sgd_plain",        "sgd_momentum",        "sgd_dampening",    "sgd_nesterov",
    "sgd_weight_decay", "sgd_maximize",        "adam_default",     "adam_lr",
    "adam_amsgrad",     "adam_weight_decay",   "adam_maximize",    "adamw_default",
    "adamw_amsgrad",    "adamax_default",      "adamax_options",   "nadam_default",
    "nadam_options",    "radam_default",       "radam_options",    "rmsprop_default",
    "rmsprop_centered", "rmsprop_momentum",    "rmsprop_all",      "adagrad_default",
    "adagrad_options",  "adagrad_wd_maximize", "adadelta_default", "adadelta_options",
};
#define NCONFIGS ((int)(sizeof CONFIGS / sizeof CONFIGS[0]))
static const int CHECKPOINTS[] = {1, 10, 50, 200};
/* float32 MLP: allowed distance from PyTorch's float32 run, in units of
 * PyTorch's own float32-vs-float64 distance. */
#define NOISE_FACTOR 10.0

/* ---- building optimizers from a case's options ---------------------------- */

static double opt_param(const nbt_case *c, const char *name) {
  return nbt_case_has_param(c, name) ? nbt_case_param(c, name) : 0.0;
}

typedef nb_optimizer *(*adam_ctor)(nb_tensor *const *, int, const nb_adam_opts *);

/* Options absent from the case stay 0: nabla's "PyTorch default". */
static nb_optimizer *make_opt(const nbt_case *c, nb_tensor *const *params, int n) {
  static const adam_ctor ADAM[] = {NULL,          nb_adam_new,  nb_adamw_new,
                                   nb_adamax_new, nb_nadam_new, nb_radam_new};
  int algo = (int)nbt_case_param(c, "algo");
  bool maximize = opt_param(c, "maximize") != 0;
  double lr = opt_param(c, "lr"), wd = opt_param(c, "weight_decay"), eps = opt_param(c, "eps");
  switch (algo) {
  case 0:
    return nb_sgd_new(params, n,
                      &(nb_sgd_opts){.lr = lr,
                                     .momentum = opt_param(c, "momentum"),
                                     .dampening = opt_param(c, "dampening"),
                                     .weight_decay = wd,
                                     .nesterov = opt_param(c, "nesterov") != 0,
                                     .maximize = maximize});
  case 1:
  case 2:
  case 3:
  case 4:
  case 5:
    return ADAM[algo](params, n,
                      &(nb_adam_opts){.lr = lr,
                                      .betas = {opt_param(c, "beta1"), opt_param(c, "beta2")},
                                      .eps = eps,
                                      .weight_decay = wd,
                                      .amsgrad = opt_param(c, "amsgrad") != 0,
                                      .maximize = maximize});
  case 6:
    return nb_rmsprop_new(params, n,
                          &(nb_rmsprop_opts){.lr = lr,
                                             .alpha = opt_param(c, "alpha"),
                                             .eps = eps,
                                             .weight_decay = wd,
                                             .momentum = opt_param(c, "momentum"),
                                             .centered = opt_param(c, "centered") != 0,
                                             .maximize = maximize});
  case 7:
    return nb_adagrad_new(
        params, n,
        &(nb_adagrad_opts){.lr = lr,
                           .lr_decay = opt_param(c, "lr_decay"),
                           .weight_decay = wd,
                           .initial_accumulator_value = opt_param(c, "initial_accumulator_value"),
                           .eps = eps,
                           .maximize = maximize});
  case 8:
    return nb_adadelta_new(params, n,
                           &(nb_adadelta_opts){.lr = lr,
                                               .rho = opt_param(c, "rho"),
                                               .eps = eps,
                                               .weight_decay = wd,
                                               .maximize = maximize});
  default: cr_assert_fail("unknown algo %d", algo); return NULL;
  }
}

/* ---- the two problems -------------------------------------------------------- */

typedef struct problem {
  nb_tensor *a, *b, *x, *y; /* quad: A, b; mlp: x, y */
  bool mlp;
} problem;

static nb_tensor *loss_of(const problem *pb, nb_tensor *const *p) {
  if (pb->mlp)
    return nb_cross_entropy(nb_linear(nb_tanh(nb_linear(pb->x, p[0], p[1])), p[2], p[3]), pb->y,
                            NULL);
  nb_tensor *x = p[0];
  return nb_sub(nb_mul_scalar(nb_dot(x, nb_matmul(pb->a, x)), 0.5), nb_dot(pb->b, x));
}

/* One training step: zero_grad, backward of (+-)loss, step. */
static void train_step(nb_optimizer *opt, const problem *pb, nb_tensor *const *p, bool negate) {
  nb_scope_begin();
  nb_tensor *loss = loss_of(pb, p);
  if (negate) loss = nb_neg(loss);
  cr_assert_not_null(loss, "%s", nb_errmsg());
  nbt_assert_ok(nb_optim_zero_grad(opt, true), "zero_grad");
  nbt_assert_ok(nb_backward(loss), "backward");
  nbt_assert_ok(nb_optim_step(opt), "step");
  nb_scope_end();
}

/* Load a problem's data and starting parameters (as dtype) into a scope. */
static int load_problem(const nbt_fixture *f, bool mlp, nb_dtype dtype, problem *pb,
                        nb_tensor **p) {
  const nbt_case *d = nbt_fixture_case(f, mlp ? "mlp_data" : "quad_data");
  memset(pb, 0, sizeof *pb);
  pb->mlp = mlp;
  if (!mlp) {
    pb->a = nbt_case_tensor(d, "A");
    pb->b = nbt_case_tensor(d, "b");
    p[0] = nbt_case_tensor(d, "x0");
    nb_requires_grad_(p[0], true);
    return 1;
  }
  pb->x = nbk_to(nbt_case_tensor(d, "x"), dtype);
  pb->y = nbt_case_tensor(d, "y");
  for (int i = 0; i < 4; i++) {
    char name[8];
    snprintf(name, sizeof name, "p%d", i);
    p[i] = nbk_clone(nbk_to(nbt_case_tensor(d, name), dtype));
    nb_requires_grad_(p[i], true);
  }
  return 4;
}

/* Run config `name` on a problem for 200 steps, comparing the parameters with
 * the fixture's `<prefix><i>_s<step>` at each checkpoint. */
static void trajectory(const char *name, bool mlp, nb_dtype dtype, const char *prefix) {
  nbt_fixture *f = nbt_fixture_load("optim");
  char cname[64];
  snprintf(cname, sizeof cname, "%s_%s", mlp ? "mlp" : "quad", name);
  const nbt_case *c = nbt_fixture_case(f, cname);
  nb_scope_begin();
  problem pb;
  nb_tensor *p[4];
  int np = load_problem(f, mlp, dtype, &pb, p);
  double rtol = 1e-5, atol = 1e-9;
  if (dtype == NB_DTYPE_FLOAT32) { /* see the file comment */
    rtol = fmax(1e-5, NOISE_FACTOR * nbt_case_param(c, "noise"));
    atol = rtol * 1e-3;
  }
  nb_optimizer *opt = make_opt(c, p, np);
  cr_assert_not_null(opt, "%s: %s", cname, nb_errmsg());
  bool negate = nbt_case_param(c, "negate") != 0;
  for (int step = 1, k = 0; step <= 200; step++) {
    train_step(opt, &pb, p, negate);
    if (step != CHECKPOINTS[k]) continue;
    for (int i = 0; i < np; i++) {
      char tname[32], what[128];
      snprintf(tname, sizeof tname, "%s%d_s%d", prefix, i, step);
      snprintf(what, sizeof what, "%s %s (%s)", cname, tname, nb_dtype_name(dtype));
      nb_tensor *expected = nbt_case_tensor(c, tname);
      nbt_assert_close_any_dtype(p[i], expected, rtol, atol, what);
    }
    k++;
  }
  nb_optim_free(opt);
  nb_scope_end();
  nbt_fixture_free(f);
}

ParameterizedTestParameters(optim, pytorch) {
  static int ids[3 * NCONFIGS];
  for (int i = 0; i < 3 * NCONFIGS; i++) ids[i] = i;
  return cr_make_param_array(int, ids, 3 * NCONFIGS);
}

/* id = config * 3 + problem: quad float64, MLP float64, MLP float32. */
ParameterizedTest(int *id, optim, pytorch, .init = nbt_leak_setup, .fini = nbt_leak_teardown) {
  const char *name = CONFIGS[*id / 3];
  switch (*id % 3) {
  case 0: trajectory(name, false, NB_DTYPE_FLOAT64, "p"); break;
  case 1: trajectory(name, true, NB_DTYPE_FLOAT64, "d"); break;
  default: trajectory(name, true, NB_DTYPE_FLOAT32, "p"); break;
  }
}

Test(optim, fixture_has_every_config) {
  nbt_fixture *f = nbt_fixture_load("optim");
  int quad = 0;
  for (int i = 0; i < nbt_fixture_num_cases(f); i++)
    quad += strncmp(nbt_case_name(nbt_fixture_case_index(f, i)), "quad_", 5) == 0;
  cr_assert_eq(quad - 1, NCONFIGS, "the fixture has %d configs, the test %d", quad - 1, NCONFIGS);
  nbt_fixture_free(f);
}

/* ---- every algorithm with every state slot in use --------------------------- */

enum { ALGOS = 9 };
static nb_optimizer *make_full(int algo, nb_tensor *const *p, int n) {
  switch (algo) {
  case 0: return nb_sgd_new(p, n, &(nb_sgd_opts){.lr = 0.01, .momentum = 0.9, .nesterov = true});
  case 1: return nb_adam_new(p, n, &(nb_adam_opts){.amsgrad = true, .weight_decay = 0.1});
  case 2: return nb_adamw_new(p, n, &(nb_adam_opts){.amsgrad = true});
  case 3: return nb_adamax_new(p, n, &(nb_adam_opts){.weight_decay = 0.1});
  case 4: return nb_nadam_new(p, n, &(nb_adam_opts){.weight_decay = 0.1});
  case 5: return nb_radam_new(p, n, &(nb_adam_opts){.weight_decay = 0.1});
  case 6: return nb_rmsprop_new(p, n, &(nb_rmsprop_opts){.centered = true, .momentum = 0.5});
  case 7: return nb_adagrad_new(p, n, &(nb_adagrad_opts){.lr_decay = 0.1});
  default: return nb_adadelta_new(p, n, &(nb_adadelta_opts){.weight_decay = 0.1});
  }
}

/* A leaf of n random values with a random gradient. */
static nb_tensor *leaf_with_grad(nb_dtype dtype, int64_t n, uint64_t seed) {
  nb_generator *g = nb_generator_new(seed);
  nb_tensor *p = nb_keep(nb_randn(dtype, NB_SHAPE(n), g));
  nb_tensor *grad = nb_randn(dtype, NB_SHAPE(n), g);
  nb_requires_grad_(p, true);
  nbt_assert_ok(nb_set_grad(p, grad), "set_grad");
  nb_free(grad);
  nb_generator_free(g);
  return p;
}

Test(optim, no_allocation_after_first_step) {
  for (int algo = 0; algo < ALGOS; algo++) {
    nb_tensor *p[2] = {leaf_with_grad(NB_DTYPE_FLOAT32, 40000, 1),
                       leaf_with_grad(NB_DTYPE_FLOAT64, 1000, 2)};
    nb_optimizer *opt = make_full(algo, p, 2);
    cr_assert_not_null(opt, "%s", nb_errmsg());
    nbt_assert_ok(nb_optim_step(opt), "first step"); /* creates the state */
    nb_mem_stats before, after;
    nb_mem_stats_get(&before);
    for (int i = 0; i < 10; i++) nbt_assert_ok(nb_optim_step(opt), "step");
    nb_mem_stats_get(&after);
    const char *name = nb_optim_name(opt);
    cr_assert_eq(after.live_tensors, before.live_tensors, "%s made tensors", name);
    cr_assert_eq(after.cache_hits, before.cache_hits, "%s requested storage", name);
    if (!getenv("NB_NO_CACHE"))
      cr_assert_eq(after.system_allocs, before.system_allocs, "%s allocated", name);
    nb_optim_free(opt);
    nb_free(p[0]);
    nb_free(p[1]);
  }
}

Test(optim, same_result_with_one_and_two_threads) {
  int saved = nb_get_num_threads();
  for (int algo = 0; algo < ALGOS; algo++) {
    nb_tensor *p[2];
    for (int t = 0; t < 2; t++) {
      nb_set_num_threads(t + 1);
      p[t] = leaf_with_grad(NB_DTYPE_FLOAT32, 32768 + 4097, 5);
      nb_optimizer *opt = make_full(algo, &p[t], 1);
      for (int i = 0; i < 3; i++) nbt_assert_ok(nb_optim_step(opt), "step");
      nb_optim_free(opt);
    }
    /* Deliberately bitwise: the split must not change any element. */
    cr_assert(nb_equal(p[0], p[1]), "algo %d differs between 1 and 2 threads", algo);
    nb_free(p[0]);
    nb_free(p[1]);
  }
  nb_set_num_threads(saved);
}

/* ---- state for checkpoints ----------------------------------------------------- */

static void quad_steps(nb_optimizer *opt, const problem *pb, nb_tensor *x, int n) {
  for (int i = 0; i < n; i++) train_step(opt, pb, &x, false);
}

Test(optim, state_roundtrip_continues_identically) {
  nbt_fixture *f = nbt_fixture_load("optim");
  for (int algo = 0; algo < ALGOS; algo++) {
    nb_scope_begin();
    problem pb;
    nb_tensor *x, *y;
    load_problem(f, false, NB_DTYPE_FLOAT64, &pb, &x);
    nb_optimizer *a = make_full(algo, &x, 1);
    quad_steps(a, &pb, x, 5);
    nbt_assert_ok(nb_optim_set_lr(a, 0, 0.003), "set_lr"); /* the lr travels too */
    load_problem(f, false, NB_DTYPE_FLOAT64, &pb, &y);
    nbt_assert_ok(nb_copy_(y, x), "copy params");
    nb_optimizer *b = make_full(algo, &y, 1);
    int n = nb_optim_state_count(a);
    cr_assert_gt(n, 1);
    for (int i = 0; i < n; i++) {
      const char *name;
      nb_tensor *value;
      nbt_assert_ok(nb_optim_state_at(a, i, &name, &value), "state_at");
      nbt_assert_ok(nb_optim_state_load(b, name, value), name);
    }
    cr_assert_eq(nb_optim_state_count(b), n);
    cr_assert_float_eq(nb_optim_get_lr(b, 0), 0.003, 1e-15);
    quad_steps(a, &pb, x, 5);
    quad_steps(b, &pb, y, 5);
    /* Deliberately bitwise: the same state and inputs give the same bits. */
    cr_assert(nb_equal(x, y), "%s: trajectories differ after the state copy", nb_optim_name(a));
    nb_optim_free(a);
    nb_optim_free(b);
    nb_scope_end();
  }
  nbt_fixture_free(f);
}

Test(optim, state_names_and_errors) {
  nb_tensor *p[2] = {leaf_with_grad(NB_DTYPE_FLOAT32, 6, 1),
                     leaf_with_grad(NB_DTYPE_FLOAT32, 3, 2)};
  nb_optimizer *opt = nb_adam_new(p, 2, &(nb_adam_opts){.amsgrad = true});
  cr_assert_str_eq(nb_optim_name(opt), "adam");
  cr_assert_eq(nb_optim_state_count(opt), 2); /* group.0.lr and .beta1 only, before any step */
  nbt_assert_ok(nb_optim_step(opt), "step");
  static const char *const want[] = {
      "0.step",    "0.exp_avg",    "0.exp_avg_sq",     "0.max_exp_avg_sq", "1.step",
      "1.exp_avg", "1.exp_avg_sq", "1.max_exp_avg_sq", "group.0.lr",       "group.0.beta1"};
  cr_assert_eq(nb_optim_state_count(opt), 10);
  for (int i = 0; i < 10; i++) {
    const char *name;
    nb_tensor *v;
    nbt_assert_ok(nb_optim_state_at(opt, i, &name, &v), "state_at");
    cr_assert_str_eq(name, want[i]);
  }
  const char *name;
  nb_tensor *v;
  nb_optim_state_at(opt, 0, &name, &v);
  cr_assert_float_eq(nb_item(v), 1.0, 0, "step after one step");
  nb_optim_state_at(opt, 8, &name, &v);
  cr_assert_float_eq(nb_item(v), 1e-3, 1e-18, "default lr");
  nb_optim_state_at(opt, 9, &name, &v);
  cr_assert_float_eq(nb_item(v), 0.9, 1e-15, "default beta1");
  cr_assert_eq(nb_optim_state_at(opt, 10, &name, &v), NB_ERR_INDEX);
  cr_assert_eq(nb_optim_state_at(opt, -1, &name, &v), NB_ERR_INDEX);

  nb_tensor *wrong = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(5));
  cr_assert_eq(nb_optim_state_load(opt, "0.exp_avg", wrong), NB_ERR_SHAPE);
  cr_assert(strstr(nb_errmsg(), "0.exp_avg") && strstr(nb_errmsg(), "[5]"), "%s", nb_errmsg());
  cr_assert_eq(nb_optim_state_load(opt, "0.step", wrong), NB_ERR_SHAPE);
  cr_assert_eq(nb_optim_state_load(opt, "0.momentum_buffer", wrong), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "0.momentum_buffer"), "%s", nb_errmsg());
  cr_assert_eq(nb_optim_state_load(opt, "2.exp_avg", wrong), NB_ERR_ARG);
  cr_assert_eq(nb_optim_state_load(opt, "group.1.lr", wrong), NB_ERR_ARG);
  cr_assert_eq(nb_optim_state_load(opt, "group.0.momentum", wrong), NB_ERR_ARG); /* not adam's */
  cr_assert_eq(nb_optim_state_load(opt, "x.step", wrong), NB_ERR_ARG);
  nb_clear_error();
  cr_assert_eq(nb_optim_state_load(opt, "0.step", NULL), NB_ERR_NULL);
  nb_free(wrong);

  /* Loading creates an entry that does not exist yet (a fresh optimizer). */
  nb_optimizer *fresh = nb_adam_new(p, 2, NULL);
  nb_tensor *steps = nb_scalar(NB_DTYPE_FLOAT64, 41);
  nbt_assert_ok(nb_optim_state_load(fresh, "1.step", steps), "load step");
  cr_assert_eq(nb_optim_state_count(fresh), 3); /* 1.step, group.0.lr, group.0.beta1 */
  nb_set_grad(p[0], NULL);                      /* only p[1] steps */
  nbt_assert_ok(nb_optim_step(fresh), "step");
  nb_optim_state_at(fresh, 0, &name, &v);
  cr_assert_str_eq(name, "1.step");
  cr_assert_float_eq(nb_item(v), 42.0, 0);
  cr_assert_eq(nb_optim_state_count(fresh), 5); /* 1.step, 1.exp_avg, 1.exp_avg_sq, lr, beta1 */
  nb_free(steps);
  nb_optim_free(fresh);
  nb_optim_free(opt);
  nb_free(p[0]);
  nb_free(p[1]);
}

/* ---- groups, skipping, zero_grad, lr ----------------------------------------- */

Test(optim, groups_have_their_own_hyperparameters) {
  double w[3] = {1, 2, 3}, b[2] = {-1, 4}, gw[3] = {0.5, -0.5, 1}, gb[2] = {2, -2};
  nb_tensor *pw = nb_from_data(NB_DTYPE_FLOAT64, w, NB_SHAPE(3));
  nb_tensor *pb = nb_from_data(NB_DTYPE_FLOAT64, b, NB_SHAPE(2));
  nb_tensor *frozen = nb_ones(NB_DTYPE_FLOAT64, NB_SHAPE(2));
  nb_requires_grad_(pw, true);
  nb_requires_grad_(pb, true);
  nb_requires_grad_(frozen, true);
  nb_tensor *tgw = nb_from_data(NB_DTYPE_FLOAT64, gw, NB_SHAPE(3));
  nb_tensor *tgb = nb_from_data(NB_DTYPE_FLOAT64, gb, NB_SHAPE(2));
  nb_set_grad(pw, tgw);
  nb_set_grad(pb, tgb);
  nb_optimizer *opt = nb_sgd_new(&pw, 1, &(nb_sgd_opts){.lr = 0.1, .weight_decay = 0.5});
  cr_assert_eq(nb_optim_add_group(opt, &pb, 1, &(nb_sgd_opts){.lr = 0.01}), 1);
  cr_assert_eq(nb_optim_add_group(opt, &frozen, 1, NULL), 2); /* construction opts */
  cr_assert_eq(nb_optim_group_count(opt), 3);
  cr_assert_float_eq(nb_optim_get_lr(opt, 2), 0.1, 1e-15);
  nbt_assert_ok(nb_optim_step(opt), "step"); /* frozen has no gradient: skipped */
  double ew[3], eb[2];
  for (int i = 0; i < 3; i++) ew[i] = w[i] - 0.1 * (gw[i] + 0.5 * w[i]);
  for (int i = 0; i < 2; i++) eb[i] = b[i] - 0.01 * gb[i];
  nbt_assert_values(pw, ew, 3, 1e-15, 1e-15, "weights (weight decay 0.5)");
  nbt_assert_values(pb, eb, 2, 1e-15, 1e-15, "biases (no weight decay)");
  nbt_assert_values(frozen, ((double[]){1, 1}), 2, 0, 0, "no grad: unchanged");

  /* lr: one group, all groups, errors. */
  nbt_assert_ok(nb_optim_set_lr(opt, 1, 0.5), "set_lr");
  cr_assert_float_eq(nb_optim_get_lr(opt, 1), 0.5, 0);
  cr_assert_float_eq(nb_optim_get_lr(opt, 0), 0.1, 0);
  nbt_assert_ok(nb_optim_set_lr(opt, -1, 0.25), "set_lr all");
  for (int g = 0; g < 3; g++) cr_assert_float_eq(nb_optim_get_lr(opt, g), 0.25, 0);
  cr_assert_eq(nb_optim_set_lr(opt, 3, 0.1), NB_ERR_INDEX);
  cr_assert(strstr(nb_errmsg(), "group 3"), "%s", nb_errmsg());
  cr_assert_eq(nb_optim_set_lr(opt, 0, -0.1), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "lr") && strstr(nb_errmsg(), "-0.1"), "%s", nb_errmsg());
  cr_assert(isnan(nb_optim_get_lr(opt, -1)));
  cr_assert(isnan(nb_optim_get_lr(NULL, 0)));

  /* A parameter in two groups, a bad group: errors, nothing added. */
  cr_assert_lt(nb_optim_add_group(opt, &pw, 1, NULL), 0);
  cr_assert(strstr(nb_errmsg(), "more than once"), "%s", nb_errmsg());
  nb_tensor *extra = nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(2));
  nb_requires_grad_(extra, true);
  cr_assert_eq(nb_optim_add_group(opt, &extra, 1, &(nb_sgd_opts){.lr = -1}), NB_ERR_ARG);
  cr_assert_eq(nb_optim_group_count(opt), 3);

  /* zero_grad: zeros in place, then released. */
  nbt_assert_ok(nb_optim_zero_grad(opt, false), "zero_grad");
  nbt_assert_values(nb_grad_of(pw), ((double[]){0, 0, 0}), 3, 0, 0, "zeroed");
  nbt_assert_ok(nb_optim_zero_grad(opt, true), "zero_grad set_to_none");
  cr_assert_null(nb_grad_of(pw));
  cr_assert_null(nb_grad_of(pb));
  nb_optim_free(opt);
  nb_free(extra);
  nb_free(tgw);
  nb_free(tgb);
  nb_free(frozen);
  nb_free(pb);
  nb_free(pw);
}

Test(optim, step_bumps_the_version_and_handles_strided_params) {
  /* A non-contiguous leaf (a transposed layout) steps like its dense twin. */
  double data[6] = {1, 2, 3, 4, 5, 6}, gdata[6] = {0.1, -0.2, 0.3, -0.4, 0.5, -0.6};
  nb_tensor *strided =
      nb_from_blob(NB_DTYPE_FLOAT64, data, NB_SHAPE(3, 2), (const int64_t[]){1, 3}, NULL, NULL);
  nb_tensor *dense = nbk_clone(strided);
  nb_tensor *g = nb_from_data(NB_DTYPE_FLOAT64, gdata, NB_SHAPE(3, 2));
  nb_tensor *p[2] = {strided, dense};
  for (int i = 0; i < 2; i++) {
    nb_requires_grad_(p[i], true);
    nb_set_grad(p[i], g);
  }
  cr_assert(!nb_is_contiguous(strided));
  nb_optimizer *a = nb_adam_new(&p[0], 1, &(nb_adam_opts){.lr = 0.1});
  nb_optimizer *b = nb_adam_new(&p[1], 1, &(nb_adam_opts){.lr = 0.1});
  uint64_t v0 = nb_version(strided), v1 = nb_version(dense);
  for (int i = 0; i < 3; i++) {
    nbt_assert_ok(nb_optim_step(a), "strided step");
    nbt_assert_ok(nb_optim_step(b), "dense step");
  }
  cr_assert_gt(nb_version(strided), v0);
  cr_assert_gt(nb_version(dense), v1);
  nbt_assert_close(strided, dense, 1e-15, 1e-15, "strided vs dense");
  cr_assert_float_eq(data[1], nb_get(strided, (const int64_t[]){1, 0}), 0, "written in place");
  nb_optim_free(a);
  nb_optim_free(b);
  nb_free(g);
  nb_free(dense);
  nb_free(strided);
}

Test(optim, scoped_gradient_stays_in_its_scope) {
  nb_tensor *w = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(3));
  nb_requires_grad_(w, true);
  nb_optimizer *opt = nb_sgd_new(&w, 1, &(nb_sgd_opts){.lr = 1});
  nb_scope_begin();
  nb_tensor *g = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3)); /* owned by the scope */
  nbt_assert_ok(nb_set_grad(w, g), "set_grad");
  nbt_assert_ok(nb_optim_step(opt), "step");
  nbt_assert_ok(nb_optim_zero_grad(opt, true), "zero_grad");
  nb_scope_end(); /* releases g: the leak check fails if the step took it out */
  nbt_assert_values(w, ((double[]){-1, -1, -1}), 3, 0, 0, "stepped");
  nb_optim_free(opt);
  nb_free(w);
}

Test(optim, stale_saved_parameter_is_detected) {
  nb_tensor *w = nb_ones(NB_DTYPE_FLOAT64, NB_SHAPE(3));
  nb_requires_grad_(w, true);
  nb_optimizer *opt = nb_sgd_new(&w, 1, &(nb_sgd_opts){.lr = 0.1});
  nb_scope_begin();
  nb_tensor *loss = nb_sum(nb_mul(w, w), NB_ALL_DIMS, false); /* saves w */
  nbt_assert_ok(nb_backward_ex(loss, &(nb_backward_opts){.keep_graph = true}), "backward");
  nbt_assert_ok(nb_optim_step(opt), "step");
  cr_assert_eq(nb_backward(loss), NB_ERR_STALE, "the step modified w in place");
  nb_scope_end();
  nb_optim_free(opt);
  nb_free(w);
}

Test(optim, gradient_accumulation_equals_full_batch) {
  nbt_fixture *f = nbt_fixture_load("optim");
  nb_scope_begin();
  problem full, half[2];
  nb_tensor *p[4], *q[4];
  load_problem(f, true, NB_DTYPE_FLOAT64, &full, p);
  load_problem(f, true, NB_DTYPE_FLOAT64, &half[0], q);
  half[1] = half[0];
  for (int h = 0; h < 2; h++) {
    half[h].x = nbk_narrow(full.x, 0, 8 * h, 8);
    half[h].y = nbk_narrow(full.y, 0, 8 * h, 8);
  }
  nb_optimizer *a = nb_sgd_new(p, 4, &(nb_sgd_opts){.lr = 0.5, .momentum = 0.9});
  nb_optimizer *b = nb_sgd_new(q, 4, &(nb_sgd_opts){.lr = 0.5, .momentum = 0.9});
  for (int step = 0; step < 3; step++) {
    train_step(a, &full, p, false);
    /* As documented in optim.h: zero once, backward each half-batch's mean
     * loss scaled by its share of the batch, then step. */
    nbt_assert_ok(nb_optim_zero_grad(b, true), "zero_grad");
    for (int h = 0; h < 2; h++) {
      nb_scope_begin();
      nbt_assert_ok(nb_backward(nb_mul_scalar(loss_of(&half[h], q), 0.5)), "backward");
      nb_scope_end();
    }
    nbt_assert_ok(nb_optim_step(b), "step");
  }
  for (int i = 0; i < 4; i++) nbt_assert_close(q[i], p[i], 1e-12, 1e-14, "accumulated");
  nb_optim_free(a);
  nb_optim_free(b);
  nb_scope_end();
  nbt_fixture_free(f);
}

/* ---- errors ------------------------------------------------------------------ */

typedef struct bad_case {
  int algo;
  nb_sgd_opts sgd;
  nb_adam_opts adam;
  nb_rmsprop_opts rms;
  nb_adagrad_opts ada;
  nb_adadelta_opts delta;
  const char *name, *value; /* expected in the message */
} bad_case;

static nb_optimizer *make_bad(const bad_case *b, nb_tensor *const *p) {
  switch (b->algo) {
  case 0: return nb_sgd_new(p, 1, &b->sgd);
  case 1: return nb_adam_new(p, 1, &b->adam);
  case 2: return nb_adamw_new(p, 1, &b->adam);
  case 3: return nb_adamax_new(p, 1, &b->adam);
  case 4: return nb_nadam_new(p, 1, &b->adam);
  case 5: return nb_radam_new(p, 1, &b->adam);
  case 6: return nb_rmsprop_new(p, 1, &b->rms);
  case 7: return nb_adagrad_new(p, 1, &b->ada);
  default: return nb_adadelta_new(p, 1, &b->delta);
  }
}

Test(optim, invalid_hyperparameters_are_rejected) {
  static const bad_case cases[] = {
      {0, .sgd = {.lr = 0}, .name = "sgd: invalid lr", .value = "0"},
      {0, .sgd = {.lr = -0.5}, .name = "lr", .value = "-0.5"},
      {0, .sgd = {.lr = NAN}, .name = "lr", .value = "nan"},
      {0, .sgd = {.lr = 0.1, .momentum = -0.9}, .name = "momentum", .value = "-0.9"},
      {0, .sgd = {.lr = 0.1, .weight_decay = -1}, .name = "weight_decay", .value = "-1"},
      {0, .sgd = {.lr = 0.1, .dampening = 2}, .name = "dampening", .value = "2"},
      {0, .sgd = {.lr = 0.1, .nesterov = true}, .name = "nesterov", .value = "momentum 0"},
      {0, .sgd = {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true},
       .name = "nesterov", .value = "dampening 0.1"},
      {1, .adam = {.lr = -1e-3}, .name = "adam: invalid lr", .value = "-0.001"},
      {1, .adam = {.betas = {1.0, 0.999}}, .name = "beta1", .value = "1"},
      {2, .adam = {.betas = {0.9, -0.5}}, .name = "adamw: invalid beta2", .value = "-0.5"},
      {3, .adam = {.betas = {0.9, 1.5}}, .name = "beta2", .value = "1.5"},
      {4, .adam = {.eps = -1e-8}, .name = "nadam: invalid eps", .value = "-1e-08"},
      {5, .adam = {.weight_decay = -0.1}, .name = "radam: invalid weight_decay", .value = "-0.1"},
      {3, .adam = {.amsgrad = true}, .name = "adamax: amsgrad", .value = "not an option"},
      {6, .rms = {.alpha = 1.5}, .name = "rmsprop: invalid alpha", .value = "1.5"},
      {6, .rms = {.momentum = -1}, .name = "momentum", .value = "-1"},
      {6, .rms = {.eps = -1}, .name = "eps", .value = "-1"},
      {7, .ada = {.lr_decay = -1}, .name = "adagrad: invalid lr_decay", .value = "-1"},
      {7, .ada = {.initial_accumulator_value = -0.1}, .name = "initial_accumulator_value",
       .value = "-0.1"},
      {8, .delta = {.rho = 1.1}, .name = "adadelta: invalid rho", .value = "1.1"},
      {8, .delta = {.lr = -1}, .name = "lr", .value = "-1"},
  };
  nb_tensor *p = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  nb_requires_grad_(p, true);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    nb_clear_error();
    nb_optimizer *opt = make_bad(&cases[i], &p);
    cr_assert_null(opt, "case %zu accepted", i);
    cr_assert_eq(nb_last_status(), NB_ERR_ARG, "case %zu", i);
    cr_assert(strstr(nb_errmsg(), cases[i].name) && strstr(nb_errmsg(), cases[i].value),
              "case %zu: message '%s' lacks '%s' / '%s'", i, nb_errmsg(), cases[i].name,
              cases[i].value);
  }
  nb_free(p);
}

Test(optim, invalid_parameter_lists_are_rejected) {
  nb_tensor *ok = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  nb_tensor *no_grad = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  nb_tensor *ints = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(2));
  nb_requires_grad_(ok, true);
  nb_adam_opts o = {0};
  cr_assert_null(nb_adam_new(&ok, 0, &o));
  cr_assert(strstr(nb_errmsg(), "empty parameter list"), "%s", nb_errmsg());
  cr_assert_null(nb_adam_new(NULL, 2, &o));
  cr_assert_null(nb_adam_new(&no_grad, 1, &o));
  cr_assert(strstr(nb_errmsg(), "requires grad"), "%s", nb_errmsg());
  cr_assert_null(nb_adam_new(&ints, 1, &o));
  cr_assert_eq(nb_last_status(), NB_ERR_DTYPE);
  cr_assert(strstr(nb_errmsg(), "int64"), "%s", nb_errmsg());
  cr_assert_null(nb_adam_new((nb_tensor *[]){ok, ok}, 2, &o));
  cr_assert(strstr(nb_errmsg(), "more than once"), "%s", nb_errmsg());
  nb_clear_error();
  cr_assert_null(nb_adam_new((nb_tensor *[]){ok, NULL}, 2, &o));
  cr_assert_eq(nb_last_status(), NB_ERR_NULL);
  /* NULL optimizer arguments. */
  cr_assert_eq(nb_optim_step(NULL), NB_ERR_ARG);
  cr_assert_eq(nb_optim_zero_grad(NULL, true), NB_ERR_ARG);
  cr_assert_lt(nb_optim_add_group(NULL, &ok, 1, NULL), 0);
  cr_assert_null(nb_optim_name(NULL));
  nb_optim_free(NULL);
  /* A gradient whose dtype differs from the parameter's is converted. */
  nb_optimizer *opt = nb_sgd_new(&ok, 1, &(nb_sgd_opts){.lr = 1});
  nb_tensor *g64 = nb_ones(NB_DTYPE_FLOAT64, NB_SHAPE(2));
  if (nb_set_grad(ok, g64) == NB_OK) {
    nbt_assert_ok(nb_optim_step(opt), "step with a float64 gradient");
    nbt_assert_values(ok, ((double[]){-1, -1}), 2, 0, 0, "converted gradient");
  }
  nb_clear_error();
  nb_tensor *g3 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3));
  if (nb_set_grad(ok, g3) == NB_OK) { /* if autograd accepts it, step must not */
    cr_assert_eq(nb_optim_step(opt), NB_ERR_SHAPE);
    cr_assert(strstr(nb_errmsg(), "[2]") && strstr(nb_errmsg(), "[3]"), "%s", nb_errmsg());
  }
  nb_optim_free(opt);
  nb_free(g3);
  nb_free(g64);
  nb_free(ints);
  nb_free(no_grad);
  nb_free(ok);
}
