/* tests/optim/test_checkpoint.c - training checkpoints (optim/checkpoint.c).
 *
 * Owns: the resume test (train N steps, checkpoint, train M more; fresh,
 * differently initialized objects loaded from the checkpoint give the same M
 * losses and final weights bitwise: model, optimizer state, scheduler,
 * generator and epoch are all restored), for Adam + StepLR with two parameter
 * groups and for other optimizer/scheduler pairs; the file's contents;
 * replacing a stepped optimizer's state; and mismatches reported all at once
 * with nothing changed.
 */
#include "support/nbtest.h"
#include "nn/nn.h"
#include "optim/optim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64], path[128];

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/nb_checkpoint_XXXXXX");
  cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
  snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
  nbt_leak_setup();
}

static void teardown(void) {
  unlink(path);
  rmdir(dir);
  nbt_leak_teardown();
}

TestSuite(checkpoint, .init = setup, .fini = teardown);

enum { CFG_ADAM_STEP, CFG_SGD_EXP, CFG_RMSPROP_COSINE, CFG_NONE_SCHED, CFG_COUNT };

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

#define N_BEFORE 5
#define M_AFTER 7

static void resume_is_exact(int cfg) {
  world a = make_world(cfg, 1, 16);
  nb_manual_seed(100);
  for (int i = 0; i < N_BEFORE; i++) train_step(&a);
  nbt_assert_ok(nb_checkpoint_save(path, a.model, a.opt, a.sched, N_BEFORE), "save");
  double lr0 = nb_optim_get_lr(a.opt, 0), lr1 = nb_optim_get_lr(a.opt, 1);
  double la[M_AFTER], lb[M_AFTER];
  for (int i = 0; i < M_AFTER; i++) la[i] = train_step(&a);

  world b = make_world(cfg, 2, 16);
  cr_assert(!same_params(a.model, b.model), "a differently initialized model");
  nb_manual_seed(999); /* a different data stream unless the checkpoint restores it */
  int64_t epoch = -1;
  nbt_assert_ok(nb_checkpoint_load(path, b.model, b.opt, b.sched, &epoch), "load");
  cr_assert_eq(epoch, N_BEFORE);
  cr_assert(nb_optim_get_lr(b.opt, 0) == lr0 && nb_optim_get_lr(b.opt, 1) == lr1,
            "cfg %d: learning rates restored (%g, %g vs %g, %g)", cfg, nb_optim_get_lr(b.opt, 0),
            nb_optim_get_lr(b.opt, 1), lr0, lr1);
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
   * 2 group lrs, sched, epoch and 3 rng entries. */
  cr_assert_eq(f.n, 4 + 2 * 4 + 2 * 3 + 2 + 1 + 1 + 3, "%d entries", f.n);
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
  cr_assert_eq(nb_optim_state_count(a.opt), 2, "only the group lrs");
  double first[M_AFTER], again[M_AFTER];
  for (int i = 0; i < M_AFTER; i++) first[i] = train_step(&a);
  cr_assert_gt(nb_optim_state_count(a.opt), 2, "momentum buffers now");
  nbt_assert_ok(nb_checkpoint_load(path, a.model, a.opt, a.sched, NULL), "reload");
  cr_assert_eq(nb_optim_state_count(a.opt), 2, "the buffers are dropped");
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
   * state is unknown to SGD, and SGD's group lrs are there. */
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
  assert_mentions("(17 problems)"); /* 3 model shapes, 14 Adam entries */
  assert_mentions("unexpected key \"optim.3.exp_avg_sq\"");
  assert_untouched(&c, &b, "after the mismatch");
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
  snprintf(bad, sizeof bad, "%s/no/such/dir/ckpt", dir);
  cr_assert_eq(nb_checkpoint_save(bad, a.model, a.opt, a.sched, 0), NB_ERR_IO);
  assert_mentions("checkpoint_save: safetensors_save: ");
  cr_assert_eq(nb_checkpoint_save(path, NULL, a.opt, NULL, 0), NB_ERR_ARG);
  cr_assert_eq(nb_checkpoint_save(path, a.model, NULL, NULL, 0), NB_ERR_ARG);
  cr_assert_eq(nb_checkpoint_load(path, NULL, a.opt, NULL, NULL), NB_ERR_ARG);
  free_world(&a);
}
