/* optim/adam.c - the Adam family: Adam, AdamW, Adamax, NAdam, RAdam.
 *
 * Owns: their constructors, shared hyperparameter handling (nb_adam_opts) and
 * fused updates. Each kernel performs the operations of PyTorch's
 * _single_tensor_<algo> in the same order and in the parameter's precision;
 * the per-step scalars (bias corrections, NAdam's momentum schedule, RAdam's
 * rectification) are computed once per parameter in double, as PyTorch does
 * in Python. NAdam's mu_product is a float32 scalar, as in PyTorch.
 */
#include <tgmath.h>

#include "optim/optim_impl.h"

enum { STEP, EXP_AVG, EXP_AVG_SQ, MAX_EXP_AVG_SQ }; /* slots of Adam, AdamW and RAdam */
enum { EXP_INF = EXP_AVG_SQ };                      /* Adamax's third slot */
enum { NSTEP, NMU, NEXP_AVG, NEXP_AVG_SQ };         /* NAdam's slots */

/* Defaults for zero fields, then PyTorch's checks (plus: amsgrad only for
 * Adam/AdamW). */
static nb_status family_hyper(const char *name, const nb_adam_opts *o, nb__hyper *h, double lr,
                              double weight_decay, bool amsgrad_ok) {
  *h = (nb__hyper){.lr = nb__or(o->lr, lr),
                   .beta1 = nb__or(o->betas[0], 0.9),
                   .beta2 = nb__or(o->betas[1], 0.999),
                   .eps = nb__or(o->eps, 1e-8),
                   .weight_decay = nb__or(o->weight_decay, weight_decay),
                   .momentum_decay = 4e-3,
                   .amsgrad = o->amsgrad,
                   .maximize = o->maximize};
  nb_status st = nb__optim_check_min(name, "lr", o->lr, 0, false);
  if (st == NB_OK && !(o->betas[0] >= 0 && o->betas[0] < 1))
    st = nb__optim_bad(name, "beta1 (betas[0])", o->betas[0], "0 <= beta1 < 1");
  if (st == NB_OK && !(o->betas[1] >= 0 && o->betas[1] < 1))
    st = nb__optim_bad(name, "beta2 (betas[1])", o->betas[1], "0 <= beta2 < 1");
  if (st == NB_OK) st = nb__optim_check_min(name, "eps", o->eps, 0, false);
  if (st == NB_OK) st = nb__optim_check_min(name, "weight_decay", o->weight_decay, 0, false);
  if (st == NB_OK && o->amsgrad && !amsgrad_ok)
    st = nb_set_error(NB_ERR_ARG, "%s: amsgrad is not an option of %s", name, name);
  return st;
}

static nb_status adam_hyper(const void *o, nb__hyper *h) {
  return family_hyper("adam", o, h, 1e-3, 0, true);
}
static nb_status adamw_hyper(const void *o, nb__hyper *h) {
  return family_hyper("adamw", o, h, 1e-3, 1e-2, true);
}
static nb_status adamax_hyper(const void *o, nb__hyper *h) {
  return family_hyper("adamax", o, h, 2e-3, 0, false);
}
static nb_status nadam_hyper(const void *o, nb__hyper *h) {
  return family_hyper("nadam", o, h, 2e-3, 0, false);
}
static nb_status radam_hyper(const void *o, nb__hyper *h) {
  return family_hyper("radam", o, h, 1e-3, 0, false);
}

static bool adam_slot_used(const nb__hyper *h, int k) { return k != MAX_EXP_AVG_SQ || h->amsgrad; }

/* One context for the family; each kernel reads the fields it needs. */
typedef struct adam_ctx {
  void *p, *m, *v, *x; /* x: max_exp_avg_sq (amsgrad) or exp_inf; NULL if unused */
  const void *g;
  double beta1, beta2, eps, weight_decay;
  double decay;  /* AdamW: 1 - lr * weight_decay (decoupled); else weight decay is L2 */
  double c1, c2; /* per-algorithm step scalars, see each kernel */
  double bc;     /* a bias correction, see each kernel */
  double bc2;    /* RAdam: sqrt(bias_correction2) */
  bool maximize, decoupled, rectify;
} adam_ctx;

/* Shared head of every kernel: the gradient (negated for maximize) with L2
 * weight decay, and the first and second moment updates. */
#define FAMILY_PROLOGUE(T)                                                                         \
  const adam_ctx *k = ctx;                                                                         \
  T *restrict p = k->p, *restrict m = k->m, *restrict v = k->v, *restrict x = k->x;                \
  const T *restrict g = k->g;                                                                      \
  const T b1 = (T)k->beta1, omb1 = (T)(1 - k->beta1), b2 = (T)k->beta2;                            \
  const T omb2 = (T)(1 - k->beta2), eps = (T)k->eps, wd = (T)k->weight_decay;                      \
  const T c1 = (T)k->c1, c2 = (T)k->c2, bc = (T)k->bc, bc2 = (T)k->bc2, decay = (T)k->decay;       \
  (void)x, (void)c2, (void)bc2, (void)omb2, (void)bc;

#define GRAD_AND_MOMENTS(T, with_v)                                                                \
  T gi = k->maximize ? -g[i] : g[i], pi = p[i];                                                    \
  if (k->decoupled)                                                                                \
    pi = pi * decay;                                                                               \
  else if (k->weight_decay != 0)                                                                   \
    gi = gi + wd * pi;                                                                             \
  const T mi = m[i] * b1 + omb1 * gi;                                                              \
  m[i] = mi;                                                                                       \
  T vi = 0;                                                                                        \
  if (with_v) {                                                                                    \
    vi = v[i] * b2 + omb2 * gi * gi;                                                               \
    v[i] = vi;                                                                                     \
  }

/* Adam / AdamW: c1 = -lr / bias_correction1, bc = sqrt(bias_correction2). */
#define ADAM_BODY(T)                                                                               \
  FAMILY_PROLOGUE(T)                                                                               \
  for (int64_t i = lo; i < hi; i++) {                                                              \
    GRAD_AND_MOMENTS(T, 1)                                                                         \
    if (x) { /* amsgrad: torch.maximum (NaN wins) */                                               \
      const T mx = x[i];                                                                           \
      vi = (mx > vi) | (mx != mx) ? mx : vi;                                                       \
      x[i] = vi;                                                                                   \
    }                                                                                              \
    const T den = sqrt(vi) / bc + eps;                                                             \
    p[i] = pi + c1 * mi / den;                                                                     \
  }
NB__KERNELS(adam_kernels, ADAM_BODY);

/* Adamax: x = exp_inf = max(exp_inf * beta2, |g| + eps); c1 = -lr / bias_correction1. */
#define ADAMAX_BODY(T)                                                                             \
  FAMILY_PROLOGUE(T)                                                                               \
  for (int64_t i = lo; i < hi; i++) {                                                              \
    GRAD_AND_MOMENTS(T, 0)                                                                         \
    const T a = x[i] * b2, b = fabs(gi) + eps;                                                     \
    const T u = (a > b) | (a != a) ? a : b;                                                        \
    x[i] = u;                                                                                      \
    p[i] = pi + c1 * mi / u;                                                                       \
  }
NB__KERNELS(adamax_kernels, ADAMAX_BODY);

/* NAdam: bc = bias_correction2; c1, c2 = the gradient's and the momentum's
 * step sizes (negative). */
#define NADAM_BODY(T)                                                                              \
  FAMILY_PROLOGUE(T)                                                                               \
  for (int64_t i = lo; i < hi; i++) {                                                              \
    GRAD_AND_MOMENTS(T, 1)                                                                         \
    const T den = sqrt(vi / bc) + eps;                                                             \
    pi = pi + c1 * gi / den;                                                                       \
    p[i] = pi + c2 * mi / den;                                                                     \
  }
NB__KERNELS(nadam_kernels, NADAM_BODY);

/* RAdam: bc = bias_correction1, c1 = lr; when rectifying, c2 = rect and the
 * adaptive lr is bc2 / (sqrt(v) + eps) with bc2 = sqrt(bias_correction2). */
#define RADAM_BODY(T)                                                                              \
  FAMILY_PROLOGUE(T)                                                                               \
  for (int64_t i = lo; i < hi; i++) {                                                              \
    GRAD_AND_MOMENTS(T, 1)                                                                         \
    const T bcm = mi / bc;                                                                         \
    if (k->rectify)                                                                                \
      p[i] = pi - bcm * c1 * (bc2 / (sqrt(vi) + eps)) * c2;                                        \
    else                                                                                           \
      p[i] = pi - bcm * c1;                                                                        \
  }
NB__KERNELS(radam_kernels, RADAM_BODY);

/* The context every family member starts from; step is incremented. */
static adam_ctx family_ctx(const nb__update *u, double *step) {
  const nb__hyper *h = u->h;
  *step = ++*(double *)u->s[STEP];
  return (adam_ctx){.p = u->p,
                    .g = u->g,
                    .m = u->s[EXP_AVG],
                    .v = u->s[EXP_AVG_SQ],
                    .beta1 = h->beta1,
                    .beta2 = h->beta2,
                    .eps = h->eps,
                    .weight_decay = h->weight_decay,
                    .maximize = h->maximize};
}

static void adam_common(const nb__update *u, bool decoupled) {
  const nb__hyper *h = u->h;
  double step;
  adam_ctx c = family_ctx(u, &step);
  c.x = h->amsgrad ? u->s[MAX_EXP_AVG_SQ] : NULL;
  c.decoupled = decoupled;
  c.decay = 1 - h->lr * h->weight_decay;
  c.c1 = -(h->lr / (1 - pow(h->beta1, step)));
  c.bc = sqrt(1 - pow(h->beta2, step));
  nb__optim_run(u->n, adam_kernels[u->dtype], &c);
}

static void adam_update(const nb__update *u) { adam_common(u, false); }
static void adamw_update(const nb__update *u) { adam_common(u, true); }

static void adamax_update(const nb__update *u) {
  double step;
  adam_ctx c = family_ctx(u, &step);
  c.x = u->s[EXP_INF];
  c.v = NULL;
  c.c1 = -(u->h->lr / (1 - pow(u->h->beta1, step)));
  nb__optim_run(u->n, adamax_kernels[u->dtype], &c);
}

static void nadam_update(const nb__update *u) {
  const nb__hyper *h = u->h;
  const double step = ++*(double *)u->s[NSTEP];
  adam_ctx c = {.p = u->p,
                .g = u->g,
                .m = u->s[NEXP_AVG],
                .v = u->s[NEXP_AVG_SQ],
                .beta1 = h->beta1,
                .beta2 = h->beta2,
                .eps = h->eps,
                .weight_decay = h->weight_decay,
                .maximize = h->maximize};
  const double mu = h->beta1 * (1. - 0.5 * pow(0.96, step * h->momentum_decay));
  const double mu_next = h->beta1 * (1. - 0.5 * pow(0.96, (step + 1) * h->momentum_decay));
  float *mu_product = u->s[NMU]; /* float32 arithmetic, as PyTorch's 0-d tensor */
  *mu_product = *mu_product * (float)mu;
  const float mu_product_next = *mu_product * (float)mu * (float)mu_next;
  c.bc = 1 - pow(h->beta2, step);
  c.c1 = -h->lr * (1. - mu) / (1. - (double)*mu_product);
  c.c2 = -h->lr * mu_next / (1. - (double)mu_product_next);
  nb__optim_run(u->n, nadam_kernels[u->dtype], &c);
}

static void radam_update(const nb__update *u) {
  const nb__hyper *h = u->h;
  double step;
  adam_ctx c = family_ctx(u, &step);
  const double bc1 = 1 - pow(h->beta1, step), bc2 = 1 - pow(h->beta2, step);
  const double rho_inf = 2 / (1 - h->beta2) - 1;
  const double rho_t = rho_inf - 2 * step * pow(h->beta2, step) / bc2;
  c.bc = bc1;
  c.c1 = h->lr;
  c.rectify = rho_t > 5.;
  if (c.rectify) {
    c.c2 = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t));
    c.bc2 = sqrt(bc2);
  }
  nb__optim_run(u->n, radam_kernels[u->dtype], &c);
}

#define ADAM_SLOTS                                                                                 \
  [STEP] = {"step", NB__SLOT_F64, NB__INIT_ZERO},                                                  \
  [EXP_AVG] = {"exp_avg", NB__SLOT_LIKE, NB__INIT_ZERO},                                           \
  [EXP_AVG_SQ] = {"exp_avg_sq", NB__SLOT_LIKE, NB__INIT_ZERO}

const nb__algo nb__algo_adam = {
    .name = "adam",
    .opts_size = sizeof(nb_adam_opts),
    .cycle_beta1 = true,
    .hyper = adam_hyper,
    .nslots = 4,
    .slots = {ADAM_SLOTS, [MAX_EXP_AVG_SQ] = {"max_exp_avg_sq", NB__SLOT_LIKE, NB__INIT_ZERO}},
    .slot_used = adam_slot_used,
    .update = adam_update,
};
const nb__algo nb__algo_adamw = {
    .name = "adamw",
    .opts_size = sizeof(nb_adam_opts),
    .cycle_beta1 = true,
    .hyper = adamw_hyper,
    .nslots = 4,
    .slots = {ADAM_SLOTS, [MAX_EXP_AVG_SQ] = {"max_exp_avg_sq", NB__SLOT_LIKE, NB__INIT_ZERO}},
    .slot_used = adam_slot_used,
    .update = adamw_update,
};
const nb__algo nb__algo_adamax = {
    .name = "adamax",
    .opts_size = sizeof(nb_adam_opts),
    .cycle_beta1 = true,
    .hyper = adamax_hyper,
    .nslots = 3,
    .slots = {[STEP] = {"step", NB__SLOT_F64, NB__INIT_ZERO},
              [EXP_AVG] = {"exp_avg", NB__SLOT_LIKE, NB__INIT_ZERO},
              [EXP_INF] = {"exp_inf", NB__SLOT_LIKE, NB__INIT_ZERO}},
    .update = adamax_update,
};
const nb__algo nb__algo_nadam = {
    .name = "nadam",
    .opts_size = sizeof(nb_adam_opts),
    .cycle_beta1 = true,
    .hyper = nadam_hyper,
    .nslots = 4,
    .slots = {[NSTEP] = {"step", NB__SLOT_F64, NB__INIT_ZERO},
              [NMU] = {"mu_product", NB__SLOT_F32, NB__INIT_ONE},
              [NEXP_AVG] = {"exp_avg", NB__SLOT_LIKE, NB__INIT_ZERO},
              [NEXP_AVG_SQ] = {"exp_avg_sq", NB__SLOT_LIKE, NB__INIT_ZERO}},
    .update = nadam_update,
};
const nb__algo nb__algo_radam = {
    .name = "radam",
    .opts_size = sizeof(nb_adam_opts),
    .cycle_beta1 = true,
    .hyper = radam_hyper,
    .nslots = 3,
    .slots = {ADAM_SLOTS},
    .update = radam_update,
};

nb_optimizer *nb_adam_new(nb_tensor *const *params, int n, const nb_adam_opts *opts) {
  return nb__optim_new(&nb__algo_adam, params, n, opts);
}
nb_optimizer *nb_adamw_new(nb_tensor *const *params, int n, const nb_adam_opts *opts) {
  return nb__optim_new(&nb__algo_adamw, params, n, opts);
}
nb_optimizer *nb_adamax_new(nb_tensor *const *params, int n, const nb_adam_opts *opts) {
  return nb__optim_new(&nb__algo_adamax, params, n, opts);
}
nb_optimizer *nb_nadam_new(nb_tensor *const *params, int n, const nb_adam_opts *opts) {
  return nb__optim_new(&nb__algo_nadam, params, n, opts);
}
nb_optimizer *nb_radam_new(nb_tensor *const *params, int n, const nb_adam_opts *opts) {
  return nb__optim_new(&nb__algo_radam, params, n, opts);
}
