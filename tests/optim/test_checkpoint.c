/* tests/optim/test_checkpoint.c - training checkpoints (optim/checkpoint.c).
 *
 * Owns: the resume test (train N steps, checkpoint, train M more; fresh,
 * differently initialized objects loaded from the checkpoint give the same M
 * losses and final weights bitwise: model, optimizer state, scheduler,
 * generator and epoch are all restored), for Adam + StepLR with two parameter
 * groups and for other optimizer/scheduler pairs, including OneCycleLR's
 * cycled momentum (SGD) and beta1 (Adam); the groups' state entries; the
 * file's contents; replacing a stepped optimizer's state; and mismatches
 * reported all at once with nothing changed.
 */
#include "support/nbtest.h"
#include "nn/nn.h"
#include "optim/optim.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[128];

static void setup(void) {
  nbt_scratch_setup();
  snprintf(path, sizeof path, "%s", nbt_scratch_path("ckpt.safetensors"));
}

TestSuite(checkpoint, .init = setup, .fini = nbt_scratch_teardown);

enum {
  CFG_ADAM_STEP,
  CFG_SGD_EXP,
  CFG_RMSPROP_COSINE,
  CFG_NONE_SCHED,
  CFG_SGD_ONE_CYCLE,
  CFG_ADAM_ONE_CYCLE,
  CFG_COUNT
};

#define N_BEFORE 5
#define M_AFTER 7

/* A model, its optimizer (weights and biases in two groups) and scheduler. */
typedef struct world {
  nb_module *model;
  nb_optimizer *opt;
  nb_scheduler *sched;
} world;

static world make_world(int cfg, uint64_t init_seed, int64_t hidden) {
  nb_manual_seed(init_seed);
  nb_module *layers[3] = {nb_linear_new(3, hidden, NULL), nb_tanh_new(),
                          nb_linear_new(hidden, 1, NULL)};
  world w = {.model = nb_sequential_new(layers, 3)};
  cr_assert_not_null(w.model, "%s", nb_errmsg());
  nb_module *m = w.model;
  nb_tensor *weights[2] = {nb_module_get_parameter(m, "0.weight"),
                           nb_module_get_parameter(m, "2.weight")};
  nb_tensor *biases[2] = {nb_module_get_parameter(m, "0.bias"),
                          nb_module_get_parameter(m, "2.bias")};
  switch (cfg) {
  case CFG_ADAM_STEP:
  case CFG_NONE_SCHED: {
    nb_adam_opts o = {.lr = 0.05, .weight_decay = 1e-3, .amsgrad = true};
    w.opt = nb_adam_new(weights, 2, &o);
    nb_adam_opts ob = {.lr = 0.02};
    cr_assert_eq(nb_optim_add_group(w.opt, biases, 2, &ob), 1, "%s", nb_errmsg());
    w.sched = cfg == CFG_ADAM_STEP ? nb_step_lr_new(w.opt, 3, 0.5) : NULL;
    break;
  }
  case CFG_SGD_EXP: {
    nb_sgd_opts o = {.lr = 0.1, .momentum = 0.9, .nesterov = true};
    w.opt = nb_sgd_new(weights, 2, &o);
    cr_assert_eq(nb_optim_add_group(w.opt, biases, 2, NULL), 1, "%s", nb_errmsg());
    w.sched = nb_exponential_lr_new(w.opt, 0.8);
    break;
  }
  case CFG_SGD_ONE_CYCLE: { /* OneCycleLR cycles the groups' momentum */
    nb_sgd_opts o = {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3};
    w.opt = nb_sgd_new(weights, 2, &o);
    cr_assert_eq(nb_optim_add_group(w.opt, biases, 2, NULL), 1, "%s", nb_errmsg());
    w.sched = nb_one_cycle_lr_new(w.opt, 0.2, N_BEFORE + M_AFTER, 0, 0, 0);
    break;
  }
  case CFG_ADAM_ONE_CYCLE: { /* ... and the Adam family's beta1 */
    w.opt = nb_adam_new(weights, 2, &(nb_adam_opts){.lr = 0.01});
    cr_assert_eq(nb_optim_add_group(w.opt, biases, 2, &(nb_adam_opts){.lr = 0.02}), 1, "%s",
                 nb_errmsg());
    w.sched = nb_one_cycle_lr_new(w.opt, 0.05, N_BEFORE + M_AFTER, 0.5, 0, 0);
    break;
  }
  default: {
    nb_rmsprop_opts o = {.lr = 0.01, .centered = true, .momentum = 0.5};
    w.opt = nb_rmsprop_new(weights, 2, &o);
    cr_assert_eq(nb_optim_add_group(w.opt, biases, 2, NULL), 1, "%s", nb_errmsg());
    w.sched = nb_cosine_annealing_lr_new(w.opt, 6, 0.001);
  }
  }
  cr_assert_not_null(w.opt, "%s", nb_errmsg());
  cr_assert(cfg == CFG_NONE_SCHED || w.sched, "%s", nb_errmsg());
  return w;
}

static void free_world(world *w) {
  nb_scheduler_free(w->sched);
  nb_optim_free(w->opt);
  nb_module_free(w->model);
}

/* One step on a fresh random batch from the default generator (so its state
 * is part of what must be restored): returns the loss. */
static double train_step(world *w) {
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(16, 3), NULL);
  nb_tensor *y = nbk_sin(nbk_sum(x, NB_DIMS(1), true));
  nb_tensor *loss = nb_mse_loss(nb_forward(w->model, x), y, NULL);
  cr_assert_not_null(loss, "%s", nb_errmsg());
  nbt_assert_ok(nb_optim_zero_grad(w->opt, true), "zero_grad");
  nbt_assert_ok(nb_backward(loss), "backward");
  nbt_assert_ok(nb_optim_step(w->opt), "step");
  if (w->sched) nbt_assert_ok(nb_scheduler_step(w->sched), "scheduler");
  double v = nb_item(loss);
  nb_scope_end();
  return v;
}

static bool same_params(nb_module *a, nb_module *b) {
  nb_named_tensors sa = nb_module_state(a), sb = nb_module_state(b);
  if (sa.n != sb.n) return false;
  for (int i = 0; i < sa.n; i++) {
    int64_t n = nb_numel(sa.tensors[i]);
    if (n != nb_numel(sb.tensors[i])) return false;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    nb_copy_out(sa.tensors[i], NB_DTYPE_FLOAT32, x, n);
    nb_copy_out(sb.tensors[i], NB_DTYPE_FLOAT32, y, n);
    bool same = memcmp(x, y, (size_t)n * sizeof *x) == 0;
    free(x);
    free(y);
    if (!same) return false;
  }
  return true;
}

/* The optimizer's per-group state entries ("group.<g>.<name>"), in order. */
typedef struct group_state {
  int n;
  const char *names[8];
  double values[8];
} group_state;

static group_state get_group_state(const nb_optimizer *opt) {
  group_state gs = {0};
  int count = nb_optim_state_count(opt);
  for (int i = 0; i < count; i++) {
    const char *name;
    nb_tensor *value;
    nbt_assert_ok(nb_optim_state_at(opt, i, &name, &value), "state_at");
    if (strncmp(name, "group.", 6) != 0) continue;
    cr_assert_lt(gs.n, 8, "too many group entries");
    gs.names[gs.n] = name;
    gs.values[gs.n++] = nb_item(value);
  }
  return gs;
}

/* The value of the state entry `name`, NAN when the optimizer has none. */
static double entry_value(const nb_optimizer *opt, const char *name) {
  group_state gs = get_group_state(opt);
  for (int i = 0; i < gs.n; i++)
    if (!strcmp(gs.names[i], name)) return gs.values[i];
  return NAN;
}

static void resume_is_exact(int cfg) {
  world a = make_world(cfg, 1, 16);
  nb_manual_seed(100);
  for (int i = 0; i < N_BEFORE; i++) train_step(&a);
  nbt_assert_ok(nb_checkpoint_save(path, a.model, a.opt, a.sched, N_BEFORE), "save");
  group_state saved = get_group_state(a.opt);
  cr_assert_eq(saved.n, 4, "cfg %d: each group's lr and momentum or beta1", cfg);
  double la[M_AFTER], lb[M_AFTER];
  for (int i = 0; i < M_AFTER; i++) la[i] = train_step(&a);

  world b = make_world(cfg, 2, 16);
  cr_assert(!same_params(a.model, b.model), "a differently initialized model");
  if (cfg == CFG_SGD_ONE_CYCLE || cfg == CFG_ADAM_ONE_CYCLE) {
    /* The checkpoint is mid-cycle: its momentum or beta1 is not the fresh one. */
    group_state fresh = get_group_state(b.opt);
    cr_assert(fresh.values[1] != saved.values[1], "cfg %d: %s %.17g both fresh and saved", cfg,
              saved.names[1], saved.values[1]);
  }
  nb_manual_seed(999); /* a different data stream unless the checkpoint restores it */
  int64_t epoch = -1;
  nbt_assert_ok(nb_checkpoint_load(path, b.model, b.opt, b.sched, &epoch), "load");
  cr_assert_eq(epoch, N_BEFORE);
  group_state loaded = get_group_state(b.opt);
  cr_assert_eq(loaded.n, saved.n);
  for (int i = 0; i < saved.n; i++) {
    cr_assert_str_eq(loaded.names[i], saved.names[i]);
    cr_assert(memcmp(&loaded.values[i], &saved.values[i], sizeof(double)) == 0,
              "cfg %d: %s restored as %.17g, saved %.17g", cfg, saved.names[i], loaded.values[i],
              saved.values[i]);
  }
  for (int i = 0; i < M_AFTER; i++) lb[i] = train_step(&b);
  for (int i = 0; i < M_AFTER; i++)
    cr_assert(memcmp(&la[i], &lb[i], sizeof la[i]) == 0,
              "cfg %d: loss %d after resuming: %.17g, uninterrupted %.17g", cfg, i, lb[i], la[i]);
  cr_assert(same_params(a.model, b.model), "cfg %d: the final weights match bitwise", cfg);
  if (a.sched)
    cr_assert(nb_scheduler_get_last_lr(a.sched, 0) == nb_scheduler_get_last_lr(b.sched, 0));
  free_world(&a);
  free_world(&b);
}

Test(checkpoint, resume_matches_an_uninterrupted_run_bitwise) { resume_is_exact(CFG_ADAM_STEP); }

Test(checkpoint, resume_is_exact_for_other_optimizers_and_schedulers) {
  resume_is_exact(CFG_SGD_EXP);
  resume_is_exact(CFG_RMSPROP_COSINE);
  resume_is_exact(CFG_NONE_SCHED);
}

Test(checkpoint, resume_is_exact_under_one_cycle_momentum_and_beta1) {
  resume_is_exact(CFG_SGD_ONE_CYCLE);
  resume_is_exact(CFG_ADAM_ONE_CYCLE);
}

Test(checkpoint, group_entries_are_the_hyperparameters_schedulers_change) {
  nb_tensor *p = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(3));
  nbt_assert_ok(nb_requires_grad_(p, true), "requires_grad");
  nb_optimizer *opts[4] = {nb_sgd_new(&p, 1, &(nb_sgd_opts){.lr = 0.1}),
                           nb_rmsprop_new(&p, 1, NULL), nb_adamw_new(&p, 1, NULL),
                           nb_adagrad_new(&p, 1, NULL)};
  static const char *const second[4] = {"group.0.momentum", "group.0.momentum", "group.0.beta1",
                                        NULL};
  for (int k = 0; k < 4; k++) {
    cr_assert_not_null(opts[k], "%s", nb_errmsg());
    group_state gs = get_group_state(opts[k]);
    cr_assert_eq(gs.n, second[k] ? 2 : 1, "%s", nb_optim_name(opts[k]));
    cr_assert_str_eq(gs.names[0], "group.0.lr");
    if (second[k]) cr_assert_str_eq(gs.names[1], second[k]);
  }
  cr_assert_float_eq(entry_value(opts[0], "group.0.momentum"), 0.0, 0, "sgd's momentum");
  cr_assert_float_eq(entry_value(opts[2], "group.0.beta1"), 0.9, 1e-15, "adamw's beta1");

  /* The entries follow OneCycleLR (0.95 at the start, then lower), load sets them. */
  nb_scheduler *s = nb_one_cycle_lr_new(opts[2], 0.1, 10, 0, 0, 0);
  cr_assert_not_null(s, "%s", nb_errmsg());
  cr_assert_float_eq(entry_value(opts[2], "group.0.beta1"), 0.95, 1e-15);
  for (int i = 0; i < 3; i++) nbt_assert_ok(nb_scheduler_step(s), "scheduler");
  double b1 = entry_value(opts[2], "group.0.beta1");
  cr_assert(b1 < 0.95 && b1 > 0.85, "beta1 %g mid-cycle", b1);
  nb_tensor *v = nb_scalar(NB_DTYPE_FLOAT64, 0.5);
  nbt_assert_ok(nb_optim_state_load(opts[0], "group.0.momentum", v), "load momentum");
  cr_assert_float_eq(entry_value(opts[0], "group.0.momentum"), 0.5, 0);
  nbt_assert_ok(nb_optim_state_load(opts[2], "group.0.beta1", v), "load beta1");
  cr_assert_float_eq(entry_value(opts[2], "group.0.beta1"), 0.5, 0);

  /* Errors: entries an algorithm lacks, out-of-range values, several values. */
  cr_assert_eq(nb_optim_state_load(opts[0], "group.0.beta1", v), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "sgd") && strstr(nb_errmsg(), "group.0.beta1"), "%s", nb_errmsg());
  cr_assert_eq(nb_optim_state_load(opts[3], "group.0.momentum", v), NB_ERR_ARG);
  cr_assert_eq(nb_optim_state_load(opts[2], "group.1.beta1", v), NB_ERR_ARG);
  nb_tensor *bad[3] = {nb_scalar(NB_DTYPE_FLOAT64, -0.1), nb_scalar(NB_DTYPE_FLOAT64, 1.0),
                       nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(2))};
  cr_assert_eq(nb_optim_state_load(opts[0], "group.0.momentum", bad[0]), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "momentum -0.1"), "%s", nb_errmsg());
  cr_assert_eq(nb_optim_state_load(opts[2], "group.0.beta1", bad[1]), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "adamw") && strstr(nb_errmsg(), "beta1 1"), "%s", nb_errmsg());
  cr_assert_eq(nb_optim_state_load(opts[2], "group.0.beta1", bad[2]), NB_ERR_SHAPE);
  cr_assert(strstr(nb_errmsg(), "group.0.beta1"), "%s", nb_errmsg());
  cr_assert_float_eq(entry_value(opts[0], "group.0.momentum"), 0.5, 0, "unchanged by errors");
  cr_assert_float_eq(entry_value(opts[2], "group.0.beta1"), 0.5, 0, "unchanged by errors");

  for (int k = 0; k < 3; k++) nb_free(bad[k]);
  nb_free(v);
  nb_scheduler_free(s);
  for (int k = 0; k < 4; k++) nb_optim_free(opts[k]);
  nb_free(p);
}

Test(checkpoint, the_file_holds_every_part) {
  world a = make_world(CFG_ADAM_STEP, 1, 4);
  nb_manual_seed(7);
  for (int i = 0; i < 2; i++) train_step(&a);
  nb_generator_state gs;
  nb_generator_get_state(nb_default_generator(), &gs);
  nbt_assert_ok(nb_checkpoint_save(path, a.model, a.opt, a.sched, 42), "save");
  nb_named_tensors f;
  nbt_assert_ok(nb_safetensors_load(path, &f), "read");
  int ns = nb_scheduler_state(a.sched, NULL, 0);
  /* 4 model tensors; 4 slots for each weight (amsgrad) and 3 for each bias;
   * 2 group lrs and 2 beta1s, sched, epoch and 3 rng entries. */
  cr_assert_eq(f.n, 4 + 2 * 4 + 2 * 3 + 2 * 2 + 1 + 1 + 3, "%d entries", f.n);
  const char *first[] = {"model.0.weight", "model.0.bias", "model.2.weight",
                         "model.2.bias",   "optim.0.step", "optim.0.exp_avg"};
  for (int i = 0; i < 6; i++) cr_assert_str_eq(f.names[i], first[i]);
  for (int i = 0; i < f.n; i++) {
    const char *n = f.names[i];
    nb_tensor *t = f.tensors[i];
    if (!strcmp(n, "epoch")) {
      cr_assert_eq(nb_dtype_of(t), NB_DTYPE_INT64);
      cr_assert_eq(*(int64_t *)nb_data(t), 42);
    } else if (!strcmp(n, "rng.state")) {
      cr_assert(memcmp(nb_data(t), gs.s, sizeof gs.s) == 0, "the generator's words");
    } else if (!strcmp(n, "sched")) {
      nbt_assert_shape(t, NB_SHAPE(ns), "sched");
    } else if (!strcmp(n, "optim.group.1.lr")) {
      nbt_assert_values(t, ((double[]){0.02}), 1, 0, 0, "group 1 lr");
    } else if (!strcmp(n, "optim.group.1.beta1")) {
      nbt_assert_values(t, ((double[]){0.9}), 1, 0, 0, "group 1 beta1");
    } else if (!strcmp(n, "model.2.bias")) {
      nbt_assert_close(t, nb_module_get_parameter(a.model, "2.bias"), 0, 0, "model values");
    }
  }
  nb_named_tensors_free(&f);
  free_world(&a);
}

Test(checkpoint, loading_replaces_a_stepped_optimizers_state) {
  /* A checkpoint from before the first step has no per-parameter state: the
   * state the optimizer built since is dropped, so the run repeats exactly. */
  world a = make_world(CFG_SGD_EXP, 1, 8);
  nb_manual_seed(5);
  nbt_assert_ok(nb_checkpoint_save(path, a.model, a.opt, a.sched, 0), "save fresh");
  cr_assert_eq(nb_optim_state_count(a.opt), 4, "only the groups' lrs and momentums");
  double first[M_AFTER], again[M_AFTER];
  for (int i = 0; i < M_AFTER; i++) first[i] = train_step(&a);
  cr_assert_gt(nb_optim_state_count(a.opt), 4, "momentum buffers now");
  nbt_assert_ok(nb_checkpoint_load(path, a.model, a.opt, a.sched, NULL), "reload");
  cr_assert_eq(nb_optim_state_count(a.opt), 4, "the buffers are dropped");
  for (int i = 0; i < M_AFTER; i++) again[i] = train_step(&a);
  cr_assert(memcmp(first, again, sizeof first) == 0, "the same losses again");
  free_world(&a);
}

/* ---- mismatches ---------------------------------------------------------------------- */

/* Everything a failed load must leave alone. */
typedef struct before {
  nb_tensor *params[4];
  nb_generator_state gs;
  int optim_entries;
  double lr0, sched[32];
  int nsched;
} before;

static before record(world *w) {
  before b = {0};
  nb_named_tensors s = nb_module_state(w->model);
  for (int i = 0; i < 4; i++) b.params[i] = nbk_clone(s.tensors[i]);
  nb_generator_get_state(nb_default_generator(), &b.gs);
  b.optim_entries = nb_optim_state_count(w->opt);
  b.lr0 = nb_optim_get_lr(w->opt, 0);
  if (w->sched) b.nsched = nb_scheduler_state(w->sched, b.sched, 32);
  return b;
}

static void assert_untouched(world *w, before *b, const char *what) {
  nb_named_tensors s = nb_module_state(w->model);
  for (int i = 0; i < 4; i++) {
    nbt_assert_close(s.tensors[i], b->params[i], 0, 0, what);
    nb_free(b->params[i]);
  }
  nb_generator_state gs;
  nb_generator_get_state(nb_default_generator(), &gs);
  cr_assert(memcmp(gs.s, b->gs.s, sizeof gs.s) == 0, "%s: the generator moved", what);
  cr_assert_eq(nb_optim_state_count(w->opt), b->optim_entries, "%s", what);
  cr_assert(nb_optim_get_lr(w->opt, 0) == b->lr0, "%s: lr changed", what);
  double now[32];
  if (w->sched) {
    cr_assert_eq(nb_scheduler_state(w->sched, now, 32), b->nsched);
    cr_assert(memcmp(now, b->sched, sizeof(double) * (size_t)b->nsched) == 0, "%s: scheduler",
              what);
  }
}

static void assert_mentions(const char *needle) {
  cr_assert(strstr(nb_errmsg(), needle), "the message lacks [%s]: %s", needle, nb_errmsg());
}

Test(checkpoint, mismatches_are_reported_together_and_change_nothing) {
  world a = make_world(CFG_ADAM_STEP, 1, 16);
  nb_manual_seed(3);
  train_step(&a);
  nbt_assert_ok(nb_checkpoint_save(path, a.model, a.opt, a.sched, 1), "save");
  free_world(&a);

  /* Another width and another optimizer: the model's shapes differ, Adam's
   * state (and beta1s) is unknown to SGD, SGD's group lrs are there but its
   * groups' momentums are not. */
  world c = make_world(CFG_SGD_EXP, 9, 8);
  train_step(&c);
  before b = record(&c);
  cr_assert_eq(nb_checkpoint_load(path, c.model, c.opt, c.sched, NULL), NB_ERR_SHAPE, "%s",
               nb_errmsg());
  assert_mentions("checkpoint_load");
  assert_mentions(path);
  assert_mentions("Sequential model, sgd optimizer and scheduler");
  assert_mentions("\"model.0.weight\" has shape [16, 3] in the file but the model needs [8, 3]");
  assert_mentions("\"model.2.weight\" has shape [1, 16] in the file but the model needs [1, 8]");
  assert_mentions("unexpected key \"optim.0.exp_avg\"");
  assert_mentions("(21 problems)"); /* 3 model shapes, 14 + 2 Adam entries, 2 momentums */
  assert_mentions("unexpected key \"optim.3.exp_avg_sq\"");
  assert_mentions("missing key \"optim.group.0.momentum\"");
  assert_untouched(&c, &b, "after the mismatch");
  free_world(&c);
}

Test(checkpoint, an_invalid_group_value_is_reported_and_changes_nothing) {
  world a = make_world(CFG_SGD_ONE_CYCLE, 1, 4);
  train_step(&a);
  nbt_assert_ok(nb_checkpoint_save(path, a.model, a.opt, a.sched, 1), "save");
  nb_named_tensors f;
  nbt_assert_ok(nb_safetensors_load(path, &f), "read");
  int hits = 0;
  for (int i = 0; i < f.n; i++)
    if (!strcmp(f.names[i], "optim.group.1.momentum")) {
      *(double *)nb_data(f.tensors[i]) = -0.5; /* what nb_optim_state_load refuses */
      hits++;
    }
  cr_assert_eq(hits, 1, "the file has group 1's momentum");
  nbt_assert_ok(nb_safetensors_save(path, f), "rewrite");
  nb_named_tensors_free(&f);

  world c = make_world(CFG_SGD_ONE_CYCLE, 2, 4);
  train_step(&c);
  before b = record(&c);
  group_state gs = get_group_state(c.opt);
  cr_assert_eq(nb_checkpoint_load(path, c.model, c.opt, c.sched, NULL), NB_ERR_ARG, "%s",
               nb_errmsg());
  assert_mentions("(1 problem): \"optim.group.1.momentum\" is invalid");
  assert_mentions("sgd: invalid momentum -0.5");
  assert_untouched(&c, &b, "an invalid momentum");
  group_state now = get_group_state(c.opt);
  cr_assert(memcmp(now.values, gs.values, sizeof gs.values) == 0, "the groups changed");
  free_world(&a);
  free_world(&c);
}

Test(checkpoint, missing_parts_and_wrong_dtypes_are_reported) {
  world a = make_world(CFG_NONE_SCHED, 1, 4);
  train_step(&a);
  nbt_assert_ok(nb_checkpoint_save(path, a.model, a.opt, NULL, 3), "save without a scheduler");
  world s = make_world(CFG_ADAM_STEP, 1, 4);
  before b = record(&s);
  cr_assert_eq(nb_checkpoint_load(path, s.model, s.opt, s.sched, NULL), NB_ERR_ARG);
  assert_mentions("(1 problem): missing key \"sched\"");
  assert_untouched(&s, &b, "missing sched");
  nbt_assert_ok(nb_checkpoint_save(path, s.model, s.opt, s.sched, 3), "save with a scheduler");
  b = record(&a);
  cr_assert_eq(nb_checkpoint_load(path, a.model, a.opt, NULL, NULL), NB_ERR_ARG);
  assert_mentions("unexpected key \"sched\"");
  assert_untouched(&a, &b, "unexpected sched");

  /* A model state dict alone is not a checkpoint; a float64 model is a dtype problem. */
  nbt_assert_ok(nb_module_save(a.model, path), "module file");
  cr_assert_eq(nb_checkpoint_load(path, a.model, a.opt, NULL, NULL), NB_ERR_ARG);
  assert_mentions("missing key \"model.0.weight\"");
  assert_mentions("missing key \"epoch\"");
  assert_mentions("unexpected key \"0.weight\"");
  free_world(&s);
  free_world(&a);
}

Test(checkpoint, a_scheduler_of_another_kind_changes_nothing) {
  /* StepLR and ExponentialLR states have the same length: the scheduler's own
   * check rejects it, before anything else is restored. */
  world a = make_world(CFG_ADAM_STEP, 1, 4);
  train_step(&a);
  nbt_assert_ok(nb_checkpoint_save(path, a.model, a.opt, a.sched, 1), "save");
  world c = make_world(CFG_ADAM_STEP, 2, 4);
  nb_scheduler_free(c.sched);
  c.sched = nb_exponential_lr_new(c.opt, 0.5);
  before b = record(&c);
  cr_assert_eq(nb_checkpoint_load(path, c.model, c.opt, c.sched, NULL), NB_ERR_ARG, "%s",
               nb_errmsg());
  assert_mentions("checkpoint_load: ");
  assert_untouched(&c, &b, "another scheduler");
  free_world(&a);
  free_world(&c);
}

Test(checkpoint, file_and_argument_errors) {
  world a = make_world(CFG_ADAM_STEP, 1, 4);
  cr_assert_eq(nb_checkpoint_load(path, a.model, a.opt, a.sched, NULL), NB_ERR_IO);
  assert_mentions("checkpoint_load: safetensors_load: ");
  char bad[200];
  snprintf(bad, sizeof bad, "%s/no/such/dir/ckpt", nbt_scratch_dir());
  cr_assert_eq(nb_checkpoint_save(bad, a.model, a.opt, a.sched, 0), NB_ERR_IO);
  assert_mentions("checkpoint_save: safetensors_save: ");
  cr_assert_eq(nb_checkpoint_save(path, NULL, a.opt, NULL, 0), NB_ERR_ARG);
  cr_assert_eq(nb_checkpoint_save(path, a.model, NULL, NULL, 0), NB_ERR_ARG);
  cr_assert_eq(nb_checkpoint_load(path, NULL, a.opt, NULL, NULL), NB_ERR_ARG);
  free_world(&a);
}
