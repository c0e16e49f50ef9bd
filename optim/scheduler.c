/* optim/scheduler.c - learning-rate schedulers with PyTorch's semantics.
 *
 * Owns: StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR,
 * CosineAnnealingWarmRestarts, LinearLR, OneCycleLR (cos, two phases, with
 * momentum / beta1 cycling), LambdaLR, ReduceLROnPlateau and SequentialLR,
 * their state for checkpoints, and their errors.
 *
 * Each follows torch/optim/lr_scheduler.py (1.13) line by line: the same
 * chainable recurrences where PyTorch uses them (so values match bit for bit,
 * including CosineAnnealingLR's recursive form), closed forms where PyTorch
 * switches to them (a step to an explicit epoch, as SequentialLR does at a
 * milestone), and the same construction step (an initial step at epoch 0 that
 * already sets the groups' lr). Base lrs are the groups' initial_lr, set by
 * the first scheduler made on the optimizer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_impl.h"

typedef enum kind {
  STEP_LR,
  MULTISTEP_LR,
  EXPONENTIAL_LR,
  COSINE_LR,
  WARM_RESTARTS,
  LINEAR_LR,
  ONE_CYCLE_LR,
  LAMBDA_LR,
  PLATEAU,
  SEQUENTIAL,
  KIND_COUNT
} kind;

static const char *const kind_names[KIND_COUNT] = {
    [STEP_LR] = "step_lr",
    [MULTISTEP_LR] = "multistep_lr",
    [EXPONENTIAL_LR] = "exponential_lr",
    [COSINE_LR] = "cosine_annealing_lr",
    [WARM_RESTARTS] = "cosine_warm_restarts",
    [LINEAR_LR] = "linear_lr",
    [ONE_CYCLE_LR] = "one_cycle_lr",
    [LAMBDA_LR] = "lambda_lr",
    [PLATEAU] = "reduce_on_plateau",
    [SEQUENTIAL] = "sequential_lr",
};

/* OneCycleLR's per-group values (PyTorch keeps them in the param group). */
typedef struct cycle_group {
  double initial_lr, max_lr, min_lr;
} cycle_group;

struct nb_scheduler {
  kind kind;
  nb_optimizer *opt;
  int ngroups; /* the optimizer's groups when the scheduler was made */
  double *base_lrs, *last_lrs;
  int last_epoch, step_count;
  /* parameters */
  int step_size, t_max, t_0, t_mult, total_iters, total_steps;
  double gamma, eta_min, start_factor, end_factor;
  int *milestones, nmilestones; /* MultiStepLR (sorted), SequentialLR */
  /* CosineAnnealingWarmRestarts */
  double t_cur, t_i;
  /* OneCycleLR */
  double end_step[2];
  cycle_group *cycle;
  bool cycle_momentum, cycle_beta1;
  /* LambdaLR */
  nb_lr_lambda fn;
  void *user;
  /* ReduceLROnPlateau */
  nb_plateau_opts plateau;
  double best;
  int num_bad_epochs, cooldown_counter;
  /* SequentialLR */
  nb_scheduler **subs;
  int nsubs;
};

#define PI 3.141592653589793 /* math.pi */
#define ONE_CYCLE_BASE_MOMENTUM 0.85
#define ONE_CYCLE_MAX_MOMENTUM 0.95

/* ---- construction ------------------------------------------------------------ */

static nb_scheduler *alloc_sched(kind k, nb_optimizer *opt) {
  if (!opt) {
    nb_set_error(NB_ERR_ARG, "%s: optimizer is NULL", kind_names[k]);
    return NULL;
  }
  nb_scheduler *s = calloc(1, sizeof *s);
  int n = opt->ngroups;
  if (s) {
    s->base_lrs = calloc((size_t)n + 1, sizeof(double));
    s->last_lrs = calloc((size_t)n + 1, sizeof(double));
  }
  if (!s || !s->base_lrs || !s->last_lrs) {
    nb_scheduler_free(s);
    nb_set_error(NB_ERR_MEMORY, "%s: out of memory", kind_names[k]);
    return NULL;
  }
  s->kind = k;
  s->opt = opt;
  s->ngroups = n;
  s->last_epoch = -1;
  for (int g = 0; g < n; g++) s->last_lrs[g] = opt->groups[g].h.lr;
  return s;
}

static nb_scheduler *fail(nb_scheduler *s, const char *fmt, double value) {
  nb_set_error(NB_ERR_ARG, fmt, kind_names[s->kind], value);
  nb_scheduler_free(s);
  return NULL;
}

static double group_lr(const nb_scheduler *s, int g) { return s->opt->groups[g].h.lr; }

/* OneCycleLR's two cosine phases at s->last_epoch: start[i] -> end[i]. */
static double one_cycle_anneal(const nb_scheduler *s, const double start[2], const double end[2]) {
  double start_step = 0;
  for (int i = 0; i < 2; i++) {
    const double end_step = s->end_step[i];
    if (s->last_epoch <= end_step || i == 1) {
      /* PyTorch divides by zero here when pct_start * total_steps is 1. */
      const double pct =
          end_step != start_step ? (s->last_epoch - start_step) / (end_step - start_step) : 1;
      return end[i] + (start[i] - end[i]) / 2.0 * (cos(PI * pct) + 1);
    }
    start_step = end_step;
  }
  return end[1];
}

/* The chainable value of group g at s->last_epoch (PyTorch's get_lr). */
static double get_lr(const nb_scheduler *s, int g) {
  const double lr = group_lr(s, g), base = s->base_lrs[g];
  const int e = s->last_epoch;
  switch (s->kind) {
  case STEP_LR: return e == 0 || e % s->step_size != 0 ? lr : lr * s->gamma;
  case MULTISTEP_LR: {
    int count = 0;
    for (int i = 0; i < s->nmilestones; i++) count += s->milestones[i] == e;
    return count == 0 ? lr : lr * pow(s->gamma, count);
  }
  case EXPONENTIAL_LR: return e == 0 ? lr : lr * s->gamma;
  case COSINE_LR:
    if (e == 0) return lr;
    if (s->step_count == 1 && e > 0)
      return s->eta_min + (base - s->eta_min) * (1 + cos((e)*PI / s->t_max)) / 2;
    if ((e - 1 - s->t_max) % (2 * s->t_max) == 0)
      return lr + (base - s->eta_min) * (1 - cos(PI / s->t_max)) / 2;
    return (1 + cos(PI * e / s->t_max)) / (1 + cos(PI * (e - 1) / s->t_max)) * (lr - s->eta_min) +
           s->eta_min;
  case WARM_RESTARTS:
    return s->eta_min + (base - s->eta_min) * (1 + cos(PI * s->t_cur / s->t_i)) / 2;
  case LINEAR_LR:
    if (e == 0) return lr * s->start_factor;
    if (e > s->total_iters) return lr;
    return lr *
           (1. + (s->end_factor - s->start_factor) / (s->total_iters * s->start_factor +
                                                      (e - 1) * (s->end_factor - s->start_factor)));
  case LAMBDA_LR: return base * s->fn(e, s->user);
  case ONE_CYCLE_LR: {
    const cycle_group *c = &s->cycle[g];
    return one_cycle_anneal(s, (const double[]){c->initial_lr, c->max_lr},
                            (const double[]){c->max_lr, c->min_lr});
  }
  default: return lr;
  }
}

/* PyTorch's _get_closed_form_lr where the scheduler has one, else get_lr. */
static double closed_form_lr(const nb_scheduler *s, int g) {
  const double base = s->base_lrs[g];
  const int e = s->last_epoch;
  switch (s->kind) {
  case STEP_LR: return base * pow(s->gamma, e / s->step_size);
  case MULTISTEP_LR: {
    int passed = 0; /* bisect_right over the sorted milestones */
    while (passed < s->nmilestones && s->milestones[passed] <= e) passed++;
    return base * pow(s->gamma, passed);
  }
  case EXPONENTIAL_LR: return base * pow(s->gamma, e);
  case COSINE_LR: return s->eta_min + (base - s->eta_min) * (1 + cos(PI * e / s->t_max)) / 2;
  case LINEAR_LR:
    return base *
           (s->start_factor + (s->end_factor - s->start_factor) *
                                  (e < s->total_iters ? e : s->total_iters) / s->total_iters);
  default: return get_lr(s, g);
  }
}

static void apply_lrs(nb_scheduler *s, bool closed_form) {
  /* Group g's new value depends only on group g: set them one by one. */
  for (int g = 0; g < s->ngroups; g++)
    s->opt->groups[g].h.lr = s->last_lrs[g] = closed_form ? closed_form_lr(s, g) : get_lr(s, g);
  if (s->kind == ONE_CYCLE_LR && (s->cycle_momentum || s->cycle_beta1)) {
    const double m =
        one_cycle_anneal(s, (const double[]){ONE_CYCLE_MAX_MOMENTUM, ONE_CYCLE_BASE_MOMENTUM},
                         (const double[]){ONE_CYCLE_BASE_MOMENTUM, ONE_CYCLE_MAX_MOMENTUM});
    for (int g = 0; g < s->ngroups; g++) {
      nb__hyper *h = &s->opt->groups[g].h;
      *(s->cycle_beta1 ? &h->beta1 : &h->momentum) = m;
    }
  }
}

/* CosineAnnealingWarmRestarts.step(epoch) (has_epoch false: epoch=None). */
static void warm_restarts_step(nb_scheduler *s, bool has_epoch, double epoch) {
  if (!has_epoch && s->last_epoch < 0) {
    has_epoch = true;
    epoch = 0;
  }
  if (!has_epoch) {
    epoch = s->last_epoch + 1;
    s->t_cur = s->t_cur + 1;
    if (s->t_cur >= s->t_i) {
      s->t_cur = s->t_cur - s->t_i;
      s->t_i = s->t_i * s->t_mult;
    }
  } else if (epoch >= s->t_0) {
    if (s->t_mult == 1) {
      s->t_cur = fmod(epoch, s->t_0);
    } else {
      int n = (int)(log(epoch / s->t_0 * (s->t_mult - 1) + 1) / log(s->t_mult));
      s->t_cur = epoch - s->t_0 * (pow(s->t_mult, n) - 1) / (s->t_mult - 1);
      s->t_i = s->t_0 * pow(s->t_mult, n);
    }
  } else {
    s->t_i = s->t_0;
    s->t_cur = epoch;
  }
  s->last_epoch = (int)floor(epoch);
  apply_lrs(s, false);
}

/* _LRScheduler.step(): chainable, or to an explicit epoch (closed form). */
static nb_status sched_step(nb_scheduler *s, bool has_epoch, int epoch) {
  if (s->kind == WARM_RESTARTS) {
    warm_restarts_step(s, has_epoch, epoch);
    return NB_OK;
  }
  int next = has_epoch ? epoch : s->last_epoch + 1;
  if (s->kind == ONE_CYCLE_LR && next > s->total_steps)
    return nb_set_error(NB_ERR_ARG, "one_cycle_lr: stepped %d times, but total_steps is %d",
                        next + 1, s->total_steps);
  s->step_count++;
  s->last_epoch = next;
  apply_lrs(s, has_epoch);
  return NB_OK;
}

/* The constructor's tail shared by the _LRScheduler kinds: base lrs from
 * the groups' initial_lr (set now if unset), then the initial step. */
static nb_scheduler *start(nb_scheduler *s) {
  for (int g = 0; g < s->ngroups; g++) {
    nb__group *grp = &s->opt->groups[g];
    if (isnan(grp->initial_lr)) grp->initial_lr = grp->h.lr;
    s->base_lrs[g] = grp->initial_lr;
  }
  s->step_count = 0;
  if (sched_step(s, false, 0) != NB_OK) {
    nb_scheduler_free(s);
    return NULL;
  }
  return s;
}

nb_scheduler *nb_step_lr_new(nb_optimizer *opt, int step_size, double gamma) {
  nb_scheduler *s = alloc_sched(STEP_LR, opt);
  if (!s) return NULL;
  if (step_size <= 0) return fail(s, "%s: invalid step_size %g (expected > 0)", step_size);
  if (!isfinite(gamma) || gamma < 0) return fail(s, "%s: invalid gamma %g (expected >= 0)", gamma);
  s->step_size = step_size;
  s->gamma = gamma;
  return start(s);
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

nb_scheduler *nb_multistep_lr_new(nb_optimizer *opt, const int *milestones, int n, double gamma) {
  nb_scheduler *s = alloc_sched(MULTISTEP_LR, opt);
  if (!s) return NULL;
  if (n < 0 || (n > 0 && !milestones)) return fail(s, "%s: bad milestone list (%g milestones)", n);
  if (!isfinite(gamma) || gamma < 0) return fail(s, "%s: invalid gamma %g (expected >= 0)", gamma);
  s->milestones = malloc(((size_t)n + 1) * sizeof(int));
  if (!s->milestones) return fail(s, "%s: out of memory (%g milestones)", n);
  if (n > 0) memcpy(s->milestones, milestones, (size_t)n * sizeof(int));
  qsort(s->milestones, (size_t)n, sizeof(int), cmp_int); /* PyTorch's Counter is unordered */
  s->nmilestones = n;
  s->gamma = gamma;
  return start(s);
}

nb_scheduler *nb_exponential_lr_new(nb_optimizer *opt, double gamma) {
  nb_scheduler *s = alloc_sched(EXPONENTIAL_LR, opt);
  if (!s) return NULL;
  if (!isfinite(gamma) || gamma < 0) return fail(s, "%s: invalid gamma %g (expected >= 0)", gamma);
  s->gamma = gamma;
  return start(s);
}

nb_scheduler *nb_cosine_annealing_lr_new(nb_optimizer *opt, int t_max, double eta_min) {
  nb_scheduler *s = alloc_sched(COSINE_LR, opt);
  if (!s) return NULL;
  if (t_max <= 0) return fail(s, "%s: invalid t_max %g (expected > 0)", t_max);
  if (!isfinite(eta_min) || eta_min < 0)
    return fail(s, "%s: invalid eta_min %g (expected >= 0)", eta_min);
  s->t_max = t_max;
  s->eta_min = eta_min;
  return start(s);
}

nb_scheduler *nb_cosine_warm_restarts_new(nb_optimizer *opt, int t_0, int t_mult, double eta_min) {
  nb_scheduler *s = alloc_sched(WARM_RESTARTS, opt);
  if (!s) return NULL;
  if (t_0 <= 0) return fail(s, "%s: invalid t_0 %g (expected a positive integer)", t_0);
  if (t_mult < 1) return fail(s, "%s: invalid t_mult %g (expected an integer >= 1)", t_mult);
  if (!isfinite(eta_min) || eta_min < 0)
    return fail(s, "%s: invalid eta_min %g (expected >= 0)", eta_min);
  s->t_0 = t_0;
  s->t_i = t_0;
  s->t_mult = t_mult;
  s->eta_min = eta_min;
  s->t_cur = -1;
  return start(s);
}

nb_scheduler *nb_linear_lr_new(nb_optimizer *opt, double start_factor, double end_factor,
                               int total_iters) {
  nb_scheduler *s = alloc_sched(LINEAR_LR, opt);
  if (!s) return NULL;
  if (!(start_factor > 0 && start_factor <= 1))
    return fail(s, "%s: invalid start_factor %g (expected 0 < start_factor <= 1)", start_factor);
  if (!(end_factor >= 0 && end_factor <= 1))
    return fail(s, "%s: invalid end_factor %g (expected 0 <= end_factor <= 1)", end_factor);
  if (total_iters <= 0) return fail(s, "%s: invalid total_iters %g (expected > 0)", total_iters);
  s->start_factor = start_factor;
  s->end_factor = end_factor;
  s->total_iters = total_iters;
  return start(s);
}

nb_scheduler *nb_one_cycle_lr_new(nb_optimizer *opt, double max_lr, int total_steps,
                                  double pct_start, double div_factor, double final_div_factor) {
  nb_scheduler *s = alloc_sched(ONE_CYCLE_LR, opt);
  if (!s) return NULL;
  pct_start = nb__or(pct_start, 0.3);
  div_factor = nb__or(div_factor, 25);
  final_div_factor = nb__or(final_div_factor, 1e4);
  if (total_steps <= 0) return fail(s, "%s: invalid total_steps %g (expected > 0)", total_steps);
  if (!(max_lr > 0) || !isfinite(max_lr))
    return fail(s, "%s: invalid max_lr %g (expected > 0)", max_lr);
  if (!(pct_start > 0 && pct_start <= 1))
    return fail(s, "%s: invalid pct_start %g (expected 0 < pct_start <= 1)", pct_start);
  if (!(div_factor > 0) || !isfinite(div_factor))
    return fail(s, "%s: invalid div_factor %g (expected > 0)", div_factor);
  if (!(final_div_factor > 0) || !isfinite(final_div_factor))
    return fail(s, "%s: invalid final_div_factor %g (expected > 0)", final_div_factor);
  s->cycle = calloc((size_t)s->ngroups + 1, sizeof *s->cycle);
  if (!s->cycle) return fail(s, "%s: out of memory (%g groups)", s->ngroups);
  s->total_steps = total_steps;
  s->end_step[0] = (double)(pct_start * total_steps) - 1;
  s->end_step[1] = total_steps - 1;
  for (int g = 0; g < s->ngroups; g++) {
    cycle_group *c = &s->cycle[g];
    c->initial_lr = opt->groups[g].initial_lr = max_lr / div_factor;
    c->max_lr = max_lr;
    c->min_lr = c->initial_lr / final_div_factor;
  }
  /* PyTorch's default cycle_momentum=True: momentum for SGD / RMSprop, beta1
   * for the Adam family; optimizers with neither are left alone. */
  s->cycle_momentum = opt->algo->cycle_momentum;
  s->cycle_beta1 = opt->algo->cycle_beta1;
  return start(s);
}

nb_scheduler *nb_lambda_lr_new(nb_optimizer *opt, nb_lr_lambda fn, void *user) {
  nb_scheduler *s = alloc_sched(LAMBDA_LR, opt);
  if (!s) return NULL;
  if (!fn) {
    nb_set_error(NB_ERR_ARG, "lambda_lr: the lambda is NULL");
    nb_scheduler_free(s);
    return NULL;
  }
  s->fn = fn;
  s->user = user;
  return start(s);
}

nb_scheduler *nb_reduce_on_plateau_new(nb_optimizer *opt, const nb_plateau_opts *opts) {
  nb_scheduler *s = alloc_sched(PLATEAU, opt);
  if (!s) return NULL;
  nb_plateau_opts o = opts ? *opts : (nb_plateau_opts){0};
  if (!(o.factor >= 0 && o.factor < 1))
    return fail(s, "%s: invalid factor %g (expected 0 <= factor < 1; 0 = 0.1)", o.factor);
  if (o.patience < -1)
    return fail(s, "%s: invalid patience %g (expected >= 0, or -1 for 0)", o.patience);
  if (!(o.threshold >= 0) || !isfinite(o.threshold))
    return fail(s, "%s: invalid threshold %g (expected >= 0)", o.threshold);
  if (o.cooldown < 0) return fail(s, "%s: invalid cooldown %g (expected >= 0)", o.cooldown);
  if (!(o.min_lr >= 0) || !isfinite(o.min_lr))
    return fail(s, "%s: invalid min_lr %g (expected >= 0)", o.min_lr);
  o.factor = nb__or(o.factor, 0.1);
  o.patience = o.patience == 0 ? 10 : o.patience == -1 ? 0 : o.patience;
  o.threshold = nb__or(o.threshold, 1e-4);
  s->plateau = o;
  s->last_epoch = 0;
  s->best = o.mode_max ? -INFINITY : INFINITY;
  return s;
}

static nb_status plateau_step(nb_scheduler *s, double current) {
  const nb_plateau_opts *o = &s->plateau;
  s->last_epoch++;
  bool better = o->mode_max ? current > s->best * (o->threshold + 1.)
                            : current < s->best * (1. - o->threshold);
  if (better) {
    s->best = current;
    s->num_bad_epochs = 0;
  } else {
    s->num_bad_epochs++;
  }
  if (s->cooldown_counter > 0) {
    s->cooldown_counter--;
    s->num_bad_epochs = 0;
  }
  if (s->num_bad_epochs > o->patience) {
    for (int g = 0; g < s->ngroups; g++) {
      double old_lr = group_lr(s, g), new_lr = old_lr * o->factor;
      if (new_lr < o->min_lr) new_lr = o->min_lr;
      if (old_lr - new_lr > 1e-8) s->opt->groups[g].h.lr = new_lr;
    }
    s->cooldown_counter = o->cooldown;
    s->num_bad_epochs = 0;
  }
  for (int g = 0; g < s->ngroups; g++) s->last_lrs[g] = group_lr(s, g);
  return NB_OK;
}

nb_scheduler *nb_sequential_lr_new(nb_optimizer *opt, nb_scheduler **schedulers, int n,
                                   const int *milestones) {
  nb_scheduler *s = alloc_sched(SEQUENTIAL, opt);
  const char *bad = NULL;
  int at = -1;
  if (n <= 0 || !schedulers || (n > 1 && !milestones)) {
    bad = "needs n >= 1 schedulers and n - 1 milestones";
  } else {
    for (int i = 0; i < n && !bad; i++) {
      at = i;
      if (!schedulers[i])
        bad = "scheduler is NULL";
      else if (schedulers[i]->opt != opt)
        bad = "scheduler belongs to another optimizer";
      else if (schedulers[i]->kind == PLATEAU || schedulers[i]->kind == SEQUENTIAL)
        bad = "reduce_on_plateau and sequential_lr cannot be sequenced";
      else if (i > 0 && i < n - 1 && milestones[i] <= milestones[i - 1])
        bad = "milestones must increase";
      else if (i < n - 1 && milestones[i] <= 0)
        bad = "milestones must be > 0";
    }
  }
  if (s && !bad) {
    s->subs = malloc((size_t)n * sizeof *s->subs);
    s->milestones = malloc((size_t)n * sizeof(int));
    if (!s->subs || !s->milestones) bad = "out of memory";
  }
  if (!s || bad) { /* the schedulers are ours even on failure */
    if (bad && at >= 0) nb_set_error(NB_ERR_ARG, "sequential_lr: scheduler %d: %s", at, bad);
    if (bad && at < 0) nb_set_error(NB_ERR_ARG, "sequential_lr: %s (got %d)", bad, n);
    for (int i = 0; schedulers && i < n; i++) nb_scheduler_free(schedulers[i]);
    nb_scheduler_free(s);
    return NULL;
  }
  memcpy(s->subs, schedulers, (size_t)n * sizeof *s->subs);
  if (n > 1) memcpy(s->milestones, milestones, (size_t)(n - 1) * sizeof(int));
  s->nsubs = n;
  s->nmilestones = n - 1;
  /* As PyTorch: reset the lrs, undo the schedulers' initial steps, then
   * redo the first one's. */
  for (int g = 0; g < s->ngroups; g++) {
    nb__group *grp = &opt->groups[g];
    if (isnan(grp->initial_lr)) grp->initial_lr = grp->h.lr; /* a group added since */
    s->base_lrs[g] = grp->h.lr = grp->initial_lr;
  }
  for (int i = 0; i < n; i++) s->subs[i]->last_epoch -= 1;
  s->subs[0]->step_count = 0;
  sched_step(s->subs[0], false, 0);
  s->last_epoch = 0;
  memcpy(s->last_lrs, s->subs[0]->last_lrs, (size_t)s->ngroups * sizeof(double));
  return s;
}

static nb_status sequential_step(nb_scheduler *s) {
  int next = s->last_epoch + 1, idx = 0;
  while (idx < s->nmilestones && s->milestones[idx] <= next) idx++; /* bisect_right */
  nb_scheduler *sub = s->subs[idx];
  nb_status st = idx > 0 && s->milestones[idx - 1] == next ? sched_step(sub, true, 0)
                                                           : sched_step(sub, false, 0);
  if (st != NB_OK) return st;
  s->last_epoch = next;
  int n = s->ngroups < sub->ngroups ? s->ngroups : sub->ngroups;
  memcpy(s->last_lrs, sub->last_lrs, (size_t)n * sizeof(double));
  return NB_OK;
}

/* ---- stepping, reading, state ---------------------------------------------- */

nb_status nb_scheduler_step(nb_scheduler *s) {
  if (!s) return nb_set_error(NB_ERR_ARG, "scheduler_step: scheduler is NULL");
  if (s->kind == PLATEAU)
    return nb_set_error(NB_ERR_ARG, "reduce_on_plateau: step needs a metric "
                                    "(use nb_scheduler_step_metric)");
  if (s->kind == SEQUENTIAL) return sequential_step(s);
  return sched_step(s, false, 0);
}

nb_status nb_scheduler_step_metric(nb_scheduler *s, double metric) {
  if (!s) return nb_set_error(NB_ERR_ARG, "scheduler_step_metric: scheduler is NULL");
  if (s->kind != PLATEAU)
    return nb_set_error(NB_ERR_ARG, "%s: takes no metric (use nb_scheduler_step)",
                        kind_names[s->kind]);
  return plateau_step(s, metric);
}

double nb_scheduler_get_last_lr(const nb_scheduler *s, int group) {
  if (!s) {
    nb_set_error(NB_ERR_ARG, "scheduler_get_last_lr: scheduler is NULL");
    return NAN;
  }
  if (group < 0 || group >= s->ngroups) {
    nb_set_error(NB_ERR_INDEX, "%s: group %d out of range (%d groups)", kind_names[s->kind], group,
                 s->ngroups);
    return NAN;
  }
  return s->last_lrs[group];
}

/* State layout: kind, last_epoch, step_count, ngroups, base_lrs[ngroups],
 * last_lrs[ngroups], then per kind: warm restarts t_cur, t_i; plateau best,
 * num_bad_epochs, cooldown_counter; sequential each scheduler's length and
 * state. */
static int put_state(const nb_scheduler *s, double *out, int cap) {
  int n = 0;
#define PUT(v)                                                                                     \
  do {                                                                                             \
    if (n < cap) out[n] = (v);                                                                     \
    n++;                                                                                           \
  } while (0)
  PUT(s->kind);
  PUT(s->last_epoch);
  PUT(s->step_count);
  PUT(s->ngroups);
  for (int g = 0; g < s->ngroups; g++) PUT(s->base_lrs[g]);
  for (int g = 0; g < s->ngroups; g++) PUT(s->last_lrs[g]);
  if (s->kind == WARM_RESTARTS) {
    PUT(s->t_cur);
    PUT(s->t_i);
  } else if (s->kind == PLATEAU) {
    PUT(s->best);
    PUT(s->num_bad_epochs);
    PUT(s->cooldown_counter);
  } else if (s->kind == SEQUENTIAL) {
    for (int i = 0; i < s->nsubs; i++) {
      int len = put_state(s->subs[i], NULL, 0);
      PUT(len);
      n += put_state(s->subs[i], n < cap ? out + n : NULL, n < cap ? cap - n : 0);
    }
  }
#undef PUT
  return n;
}

int nb_scheduler_state(const nb_scheduler *s, double *out, int cap) {
  if (!s || cap < 0 || (cap > 0 && !out))
    return nb_set_error(NB_ERR_ARG, "scheduler_state: NULL scheduler or bad buffer");
  return put_state(s, out, cap);
}

/* Check a state's layout against s (recursively) before loading anything. */
static bool state_fits(const nb_scheduler *s, const double *st, int n) {
  if (n != put_state(s, NULL, 0) || st[0] != s->kind || st[3] != s->ngroups) return false;
  if (s->kind != SEQUENTIAL) return true;
  int pos = 4 + 2 * s->ngroups;
  for (int i = 0; i < s->nsubs; i++) {
    if (!(st[pos] >= 0 && st[pos] < n)) return false;
    int len = (int)st[pos];
    if (!state_fits(s->subs[i], st + pos + 1, len)) return false;
    pos += 1 + len;
  }
  return true;
}

static void load_state(nb_scheduler *s, const double *st) {
  s->last_epoch = (int)st[1];
  s->step_count = (int)st[2];
  int pos = 4;
  for (int g = 0; g < s->ngroups; g++) s->base_lrs[g] = st[pos++];
  for (int g = 0; g < s->ngroups; g++) s->last_lrs[g] = st[pos++];
  if (s->kind == WARM_RESTARTS) {
    s->t_cur = st[pos];
    s->t_i = st[pos + 1];
  } else if (s->kind == PLATEAU) {
    s->best = st[pos];
    s->num_bad_epochs = (int)st[pos + 1];
    s->cooldown_counter = (int)st[pos + 2];
  } else if (s->kind == SEQUENTIAL) {
    for (int i = 0; i < s->nsubs; i++) {
      load_state(s->subs[i], st + pos + 1);
      pos += 1 + (int)st[pos];
    }
  }
}

nb_status nb_scheduler_load_state(nb_scheduler *s, const double *state, int n) {
  if (!s || !state || n <= 0)
    return nb_set_error(NB_ERR_ARG, "scheduler_load_state: NULL scheduler or empty state");
  if (!state_fits(s, state, n))
    return nb_set_error(NB_ERR_ARG,
                        "%s: load_state: the state (%d values) was not saved from a %s over %d "
                        "groups (%d values)",
                        kind_names[s->kind], n, kind_names[s->kind], s->ngroups,
                        put_state(s, NULL, 0));
  load_state(s, state);
  return NB_OK;
}

void nb_scheduler_free(nb_scheduler *s) {
  if (!s) return;
  for (int i = 0; i < s->nsubs; i++) nb_scheduler_free(s->subs[i]);
  free(s->subs);
  free(s->milestones);
  free(s->cycle);
  free(s->base_lrs);
  free(s->last_lrs);
  free(s);
}
