/* tests/optim/test_schedulers.c - learning-rate schedulers vs PyTorch.
 *
 * Every `sched_*` case of tests/fixtures/optim.txt: an optimizer with two
 * groups (lr 0.1 and 0.05), the scheduler built from the case's params, and
 * get_last_lr() after construction and after each of 40 steps, compared with
 * PyTorch's to 1e-13 relative (the same double operations in the same order:
 * in practice bit for bit). OneCycleLR's cycled momentum / beta1 too. Then
 * state save/load for every kind, and the errors.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <string.h>

#include "nabla.h"
#include "optim/optim_impl.h"
#include "support/nbtest.h"

TestSuite(sched, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

#define STEPS 40

static const char *const CASES[] = {
    "step",        "multistep",         "exponential", "cosine",
    "cosine_warm", "cosine_warm_mult1", "linear_up",   "linear_down",
    "one_cycle",   "one_cycle_adam",    "lambda",      "plateau_min",
    "plateau_max", "sequential",        "sequential3",
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

static double lambda_fn(int epoch, void *user) {
  (void)user;
  return pow(0.95, epoch) * (1 + 0.1 * (epoch % 3)); /* as gen_optim.py's lambda_fn */
}

/* Two parameters in two groups: lr 0.1 (construction) and 0.05 (added). */
typedef struct setup {
  nb_tensor *p[2];
  nb_optimizer *opt;
} setup;

static void make_setup(setup *s, bool adam) {
  for (int i = 0; i < 2; i++) {
    s->p[i] = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2));
    nb_requires_grad_(s->p[i], true);
  }
  if (adam) {
    s->opt = nb_adam_new(&s->p[0], 1, &(nb_adam_opts){.lr = 0.1});
    nb_optim_add_group(s->opt, &s->p[1], 1, &(nb_adam_opts){.lr = 0.05});
  } else {
    s->opt = nb_sgd_new(&s->p[0], 1, &(nb_sgd_opts){.lr = 0.1, .momentum = 0.9});
    nb_optim_add_group(s->opt, &s->p[1], 1, &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9});
  }
  cr_assert_eq(nb_optim_group_count(s->opt), 2, "%s", nb_errmsg());
}

static void free_setup(setup *s) {
  nb_optim_free(s->opt);
  nb_free(s->p[0]);
  nb_free(s->p[1]);
}

static double P(const nbt_case *c, const char *name) { return nbt_case_param(c, name); }

/* The scheduler of case `name` (params from the fixture). */
static nb_scheduler *build(const char *name, const nbt_case *c, nb_optimizer *opt) {
  if (!strcmp(name, "step")) return nb_step_lr_new(opt, (int)P(c, "step_size"), P(c, "gamma"));
  if (!strcmp(name, "multistep")) {
    int ms[8];
    int64_t raw[8];
    int n = nbt_case_param_ints(c, "milestones", raw, 8);
    for (int i = 0; i < n; i++) ms[i] = (int)raw[i];
    return nb_multistep_lr_new(opt, ms, n, P(c, "gamma"));
  }
  if (!strcmp(name, "exponential")) return nb_exponential_lr_new(opt, P(c, "gamma"));
  if (!strcmp(name, "cosine"))
    return nb_cosine_annealing_lr_new(opt, (int)P(c, "t_max"), P(c, "eta_min"));
  if (!strncmp(name, "cosine_warm", 11))
    return nb_cosine_warm_restarts_new(opt, (int)P(c, "t_0"), (int)P(c, "t_mult"), P(c, "eta_min"));
  if (!strncmp(name, "linear", 6))
    return nb_linear_lr_new(opt, P(c, "start_factor"), P(c, "end_factor"),
                            (int)P(c, "total_iters"));
  if (!strncmp(name, "one_cycle", 9))
    return nb_one_cycle_lr_new(opt, P(c, "max_lr"), (int)P(c, "total_steps"), P(c, "pct_start"),
                               P(c, "div_factor"), P(c, "final_div_factor"));
  if (!strcmp(name, "lambda")) return nb_lambda_lr_new(opt, lambda_fn, NULL);
  if (!strncmp(name, "plateau", 7)) {
    nb_plateau_opts o = {.mode_max = P(c, "mode_max") != 0,
                         .factor = P(c, "factor"),
                         .patience = (int)P(c, "patience"),
                         .threshold = P(c, "threshold"),
                         .cooldown = (int)P(c, "cooldown"),
                         .min_lr = P(c, "min_lr")};
    return nb_reduce_on_plateau_new(opt, &o);
  }
  if (!strcmp(name, "sequential")) { /* warmup, then cosine (as the generator) */
    nb_scheduler *s[2] = {nb_linear_lr_new(opt, 0.1, 1.0, 5),
                          nb_cosine_annealing_lr_new(opt, 15, 0.001)};
    return nb_sequential_lr_new(opt, s, 2, (const int[]){5});
  }
  if (!strcmp(name, "sequential3")) {
    nb_scheduler *s[3] = {nb_linear_lr_new(opt, 0.5, 1.0, 4), nb_exponential_lr_new(opt, 0.9),
                          nb_step_lr_new(opt, 5, 0.5)};
    return nb_sequential_lr_new(opt, s, 3, (const int[]){4, 12});
  }
  cr_assert_fail("no builder for %s", name);
  return NULL;
}

static nb_status advance(nb_scheduler *s, const nbt_case *c, nb_tensor *metrics, int i) {
  if (!metrics) return nb_scheduler_step(s);
  (void)c;
  return nb_scheduler_step_metric(s, nb_get(metrics, (const int64_t[]){i}));
}

ParameterizedTestParameters(sched, pytorch) {
  static int ids[NCASES];
  for (int i = 0; i < NCASES; i++) ids[i] = i;
  return cr_make_param_array(int, ids, NCASES);
}

ParameterizedTest(int *id, sched, pytorch, .init = nbt_leak_setup, .fini = nbt_leak_teardown) {
  const char *name = CASES[*id];
  nbt_fixture *f = nbt_fixture_load("optim");
  char cname[64];
  snprintf(cname, sizeof cname, "sched_%s", name);
  const nbt_case *c = nbt_fixture_case(f, cname);
  setup su;
  make_setup(&su, strcmp(name, "one_cycle_adam") == 0);
  nb_scheduler *s = build(name, c, su.opt);
  cr_assert_not_null(s, "%s: %s", name, nb_errmsg());
  nb_tensor *metrics = nbt_case_has_tensor(c, "metrics") ? nbt_case_tensor(c, "metrics") : NULL;
  nb_tensor *want = nbt_case_tensor(c, "lr");
  nb_tensor *want_m = nbt_case_has_tensor(c, "momentum") ? nbt_case_tensor(c, "momentum") : NULL;
  for (int i = 0; i <= STEPS; i++) {
    if (i > 0) {
      nbt_assert_ok(nb_optim_step(su.opt), "optimizer step"); /* no grads: a no-op */
      nbt_assert_ok(advance(s, c, metrics, i - 1), name);
    }
    for (int g = 0; g < 2; g++) {
      double e = nb_get(want, (const int64_t[]){i, g});
      double lr = nb_scheduler_get_last_lr(s, g);
      cr_assert(fabs(lr - e) <= 1e-13 * fabs(e), "%s step %d group %d: lr %.17g, PyTorch %.17g",
                name, i, g, lr, e);
      cr_assert(fabs(nb_optim_get_lr(su.opt, g) - e) <= 1e-13 * fabs(e),
                "%s step %d group %d: the optimizer's lr %.17g, PyTorch %.17g", name, i, g,
                nb_optim_get_lr(su.opt, g), e);
      if (want_m) {
        const nb__hyper *h = &su.opt->groups[g].h;
        double m = su.opt->algo->cycle_beta1 ? h->beta1 : h->momentum;
        double em = nb_get(want_m, (const int64_t[]){i, g});
        cr_assert(fabs(m - em) <= 1e-13, "%s step %d: momentum %.17g, PyTorch %.17g", name, i, m,
                  em);
      }
    }
  }
  nb_scheduler_free(s);
  nb_free(want);
  nb_free(want_m);
  nb_free(metrics);
  free_setup(&su);
  nbt_fixture_free(f);
}

Test(sched, state_roundtrip_continues_identically) {
  nbt_fixture *f = nbt_fixture_load("optim");
  for (int k = 0; k < NCASES; k++) {
    const char *name = CASES[k];
    char cname[64];
    snprintf(cname, sizeof cname, "sched_%s", name);
    const nbt_case *c = nbt_fixture_case(f, cname);
    bool adam = strcmp(name, "one_cycle_adam") == 0;
    nb_tensor *metrics = nbt_case_has_tensor(c, "metrics") ? nbt_case_tensor(c, "metrics") : NULL;
    setup a, b;
    make_setup(&a, adam);
    nb_scheduler *sa = build(name, c, a.opt);
    for (int i = 0; i < 10; i++) nbt_assert_ok(advance(sa, c, metrics, i), name);
    double state[256];
    int n = nb_scheduler_state(sa, state, 256);
    cr_assert(n > 4 && n <= 256, "%s: %d state values", name, n);
    cr_assert_eq(nb_scheduler_state(sa, NULL, 0), n);

    make_setup(&b, adam);
    nb_scheduler *sb = build(name, c, b.opt);
    nbt_assert_ok(nb_scheduler_load_state(sb, state, n), name);
    for (int g = 0; g < 2; g++) nb_optim_set_lr(b.opt, g, nb_optim_get_lr(a.opt, g));
    for (int i = 10; i < 25; i++) {
      nbt_assert_ok(advance(sa, c, metrics, i), name);
      nbt_assert_ok(advance(sb, c, metrics, i), name);
      for (int g = 0; g < 2; g++) /* deliberately bitwise: same state, same operations */
        cr_assert(nb_scheduler_get_last_lr(sa, g) == nb_scheduler_get_last_lr(sb, g),
                  "%s step %d group %d: %.17g vs %.17g after the state copy", name, i, g,
                  nb_scheduler_get_last_lr(sa, g), nb_scheduler_get_last_lr(sb, g));
    }
    /* A state from another kind is refused and changes nothing. */
    int other = (k + 2) % NCASES; /* a different kind for every k */
    setup o;
    make_setup(&o, false);
    snprintf(cname, sizeof cname, "sched_%s", CASES[other]);
    nb_scheduler *so = build(CASES[other], nbt_fixture_case(f, cname), o.opt);
    double before[256];
    int m = nb_scheduler_state(so, before, 256);
    cr_assert_eq(nb_scheduler_load_state(so, state, n), NB_ERR_ARG, "%s into %s", name,
                 CASES[other]);
    double after[256];
    cr_assert_eq(nb_scheduler_state(so, after, 256), m);
    cr_assert(memcmp(before, after, (size_t)m * sizeof(double)) == 0);
    nb_scheduler_free(so);
    free_setup(&o);

    nb_scheduler_free(sa);
    nb_scheduler_free(sb);
    free_setup(&a);
    free_setup(&b);
    nb_free(metrics);
  }
  nbt_fixture_free(f);
}

Test(sched, one_cycle_turns_on_sgd_momentum_as_pytorch) {
  setup su;
  make_setup(&su, false);
  nb_optim_free(su.opt);
  su.opt = nb_sgd_new(su.p, 2, &(nb_sgd_opts){.lr = 0.1}); /* momentum 0 */
  nb_scheduler *s = nb_one_cycle_lr_new(su.opt, 1.0, 10, 0, 0, 0);
  cr_assert_not_null(s, "%s", nb_errmsg());
  cr_assert_float_eq(su.opt->groups[0].h.momentum, 0.95, 1e-15);
  cr_assert_float_eq(nb_optim_get_lr(su.opt, 0), 1.0 / 25, 1e-15); /* max_lr / div_factor */
  nb_tensor *g = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  nb_set_grad(su.p[0], g);
  nbt_assert_ok(nb_optim_step(su.opt), "step");
  /* 0.momentum_buffer, group.0.lr and group.0.momentum */
  cr_assert_eq(nb_optim_state_count(su.opt), 3, "a momentum buffer appeared");
  for (int i = 0; i < 9; i++) nbt_assert_ok(nb_scheduler_step(s), "step");
  cr_assert_float_eq(nb_scheduler_get_last_lr(s, 0), 1.0 / 25 / 1e4, 1e-18, "min lr at the end");
  nbt_assert_ok(nb_scheduler_step(s), "step 10 (PyTorch allows total_steps + 1 values)");
  cr_assert_eq(nb_scheduler_step(s), NB_ERR_ARG, "stepped past total_steps");
  cr_assert(strstr(nb_errmsg(), "total_steps is 10"), "%s", nb_errmsg());
  nb_free(g);
  nb_scheduler_free(s);
  free_setup(&su);
}

Test(sched, errors) {
  setup su;
  make_setup(&su, false);
  nb_optimizer *o = su.opt;
  struct {
    nb_scheduler *s;
    const char *msg;
  } bad[] = {
      {nb_step_lr_new(NULL, 1, 0.1), "optimizer is NULL"},
      {nb_step_lr_new(o, 0, 0.1), "step_lr: invalid step_size 0"},
      {nb_step_lr_new(o, 3, -0.1), "step_lr: invalid gamma -0.1"},
      {nb_multistep_lr_new(o, NULL, 2, 0.1), "multistep_lr: bad milestone list"},
      {nb_exponential_lr_new(o, NAN), "exponential_lr: invalid gamma nan"},
      {nb_cosine_annealing_lr_new(o, 0, 0), "cosine_annealing_lr: invalid t_max 0"},
      {nb_cosine_annealing_lr_new(o, 5, -1), "invalid eta_min -1"},
      {nb_cosine_warm_restarts_new(o, 0, 1, 0), "cosine_warm_restarts: invalid t_0 0"},
      {nb_cosine_warm_restarts_new(o, 5, 0, 0), "invalid t_mult 0"},
      {nb_linear_lr_new(o, 0, 1, 5), "linear_lr: invalid start_factor 0"},
      {nb_linear_lr_new(o, 0.5, 1.5, 5), "invalid end_factor 1.5"},
      {nb_linear_lr_new(o, 0.5, 1, 0), "invalid total_iters 0"},
      {nb_one_cycle_lr_new(o, 0.1, 0, 0, 0, 0), "one_cycle_lr: invalid total_steps 0"},
      {nb_one_cycle_lr_new(o, -0.1, 10, 0, 0, 0), "invalid max_lr -0.1"},
      {nb_one_cycle_lr_new(o, 0.1, 10, 1.5, 0, 0), "invalid pct_start 1.5"},
      {nb_one_cycle_lr_new(o, 0.1, 10, 0, -2, 0), "invalid div_factor -2"},
      {nb_lambda_lr_new(o, NULL, NULL), "lambda_lr: the lambda is NULL"},
      {nb_reduce_on_plateau_new(o, &(nb_plateau_opts){.factor = 1}), "invalid factor 1"},
      {nb_reduce_on_plateau_new(o, &(nb_plateau_opts){.patience = -2}), "invalid patience -2"},
      {nb_reduce_on_plateau_new(o, &(nb_plateau_opts){.threshold = -1}), "invalid threshold -1"},
      {nb_reduce_on_plateau_new(o, &(nb_plateau_opts){.cooldown = -1}), "invalid cooldown -1"},
      {nb_reduce_on_plateau_new(o, &(nb_plateau_opts){.min_lr = -1}), "invalid min_lr -1"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_null(bad[i].s, "case %zu accepted", i);
    nb_clear_error();
  }
  /* Messages: re-run each failing call to read its own message. */
  cr_assert_null(nb_step_lr_new(o, 0, 0.1));
  cr_assert(strstr(nb_errmsg(), bad[1].msg), "%s", nb_errmsg());
  cr_assert_eq(nb_last_status(), NB_ERR_ARG);
  cr_assert_null(nb_one_cycle_lr_new(o, 0.1, 10, 1.5, 0, 0));
  cr_assert(strstr(nb_errmsg(), bad[14].msg), "%s", nb_errmsg());
  cr_assert_null(nb_reduce_on_plateau_new(o, &(nb_plateau_opts){.patience = -2}));
  cr_assert(strstr(nb_errmsg(), bad[18].msg), "%s", nb_errmsg());
  cr_assert_null(nb_linear_lr_new(o, 0.5, 1.5, 5));
  cr_assert(strstr(nb_errmsg(), bad[10].msg), "%s", nb_errmsg());

  /* Construction failures must not have moved the lr. */
  cr_assert_float_eq(nb_optim_get_lr(o, 0), 0.1, 0);

  /* Step kinds, groups, states. */
  nb_scheduler *step = nb_step_lr_new(o, 2, 0.5);
  nb_scheduler *plateau = nb_reduce_on_plateau_new(o, NULL);
  cr_assert_eq(nb_scheduler_step_metric(step, 1.0), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "step_lr: takes no metric"), "%s", nb_errmsg());
  cr_assert_eq(nb_scheduler_step(plateau), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "needs a metric"), "%s", nb_errmsg());
  cr_assert(isnan(nb_scheduler_get_last_lr(step, 2)));
  cr_assert_eq(nb_last_status(), NB_ERR_INDEX);
  cr_assert(isnan(nb_scheduler_get_last_lr(NULL, 0)));
  cr_assert_eq(nb_scheduler_step(NULL), NB_ERR_ARG);
  double st[64];
  int n = nb_scheduler_state(step, st, 2); /* too small: count, partial copy */
  cr_assert_eq(n, 8);
  cr_assert_eq(nb_scheduler_load_state(step, st, n - 1), NB_ERR_ARG);
  cr_assert_eq(nb_scheduler_load_state(step, NULL, n), NB_ERR_ARG);
  cr_assert_lt(nb_scheduler_state(step, NULL, 5), 0);
  nb_scheduler_free(step);
  nb_scheduler_free(plateau);

  /* SequentialLR owns its schedulers even when it fails (no leak under ASan). */
  setup other;
  make_setup(&other, false);
  nb_scheduler *s2[2] = {nb_step_lr_new(o, 2, 0.5), nb_step_lr_new(other.opt, 2, 0.5)};
  cr_assert_null(nb_sequential_lr_new(o, s2, 2, (const int[]){3}));
  cr_assert(strstr(nb_errmsg(), "scheduler 1: scheduler belongs to another optimizer"), "%s",
            nb_errmsg());
  nb_scheduler *s3[2] = {nb_step_lr_new(o, 2, 0.5), nb_reduce_on_plateau_new(o, NULL)};
  cr_assert_null(nb_sequential_lr_new(o, s3, 2, (const int[]){3}));
  cr_assert(strstr(nb_errmsg(), "cannot be sequenced"), "%s", nb_errmsg());
  nb_scheduler *s4[3] = {nb_step_lr_new(o, 2, 0.5), nb_step_lr_new(o, 2, 0.5),
                         nb_step_lr_new(o, 2, 0.5)};
  cr_assert_null(nb_sequential_lr_new(o, s4, 3, (const int[]){5, 5}));
  cr_assert(strstr(nb_errmsg(), "milestones must increase"), "%s", nb_errmsg());
  nb_scheduler *s5[2] = {nb_step_lr_new(o, 0, 0.5), nb_step_lr_new(o, 2, 0.5)}; /* one NULL */
  cr_assert_null(nb_sequential_lr_new(o, s5, 2, (const int[]){3}));
  cr_assert_null(nb_sequential_lr_new(o, NULL, 0, NULL));
  free_setup(&other);
  free_setup(&su);
}
