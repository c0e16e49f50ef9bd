/* optim/adagrad.c - Adagrad and Adadelta (torch.optim's algorithms).
 *
 * Owns: nb_adagrad_new (lr_decay, initial_accumulator_value) and
 * nb_adadelta_new (rho), their hyperparameters and fused updates, with
 * weight decay added to the gradient and maximize in both.
 */
#include <tgmath.h>

#include "optim/optim_impl.h"

enum { STEP, SUM };                     /* Adagrad's slots */
enum { SQUARE_AVG = 1, ACC_DELTA = 2 }; /* Adadelta's slots after STEP */

static nb_status adagrad_hyper(const void *opts, nb__hyper *h) {
  const nb_adagrad_opts *o = opts;
  *h = (nb__hyper){.lr = nb__or(o->lr, 1e-2),
                   .lr_decay = o->lr_decay,
                   .weight_decay = o->weight_decay,
                   .init_acc = o->initial_accumulator_value,
                   .eps = nb__or(o->eps, 1e-10),
                   .maximize = o->maximize};
  nb_status st = nb__optim_check_min("adagrad", "lr", o->lr, 0, false);
  if (st == NB_OK) st = nb__optim_check_min("adagrad", "lr_decay", o->lr_decay, 0, false);
  if (st == NB_OK) st = nb__optim_check_min("adagrad", "weight_decay", o->weight_decay, 0, false);
  if (st == NB_OK)
    st = nb__optim_check_min("adagrad", "initial_accumulator_value", o->initial_accumulator_value,
                             0, false);
  if (st == NB_OK) st = nb__optim_check_min("adagrad", "eps", o->eps, 0, false);
  return st;
}

static nb_status adadelta_hyper(const void *opts, nb__hyper *h) {
  const nb_adadelta_opts *o = opts;
  *h = (nb__hyper){.lr = nb__or(o->lr, 1.0),
                   .rho = nb__or(o->rho, 0.9),
                   .eps = nb__or(o->eps, 1e-6),
                   .weight_decay = o->weight_decay,
                   .maximize = o->maximize};
  nb_status st = nb__optim_check_min("adadelta", "lr", o->lr, 0, false);
  if (st == NB_OK && !(o->rho >= 0 && o->rho <= 1))
    st = nb__optim_bad("adadelta", "rho", o->rho, "0 <= rho <= 1");
  if (st == NB_OK) st = nb__optim_check_min("adadelta", "eps", o->eps, 0, false);
  if (st == NB_OK) st = nb__optim_check_min("adadelta", "weight_decay", o->weight_decay, 0, false);
  return st;
}

typedef struct ada_ctx {
  void *p, *a, *b; /* Adagrad: a = sum; Adadelta: a = square_avg, b = acc_delta */
  const void *g;
  double lr, eps, weight_decay, rho;
  bool maximize;
} ada_ctx;

#define ADA_PROLOGUE(T)                                                                            \
  const ada_ctx *k = ctx;                                                                          \
  T *restrict p = k->p, *restrict a = k->a, *restrict b = k->b;                                    \
  const T *restrict g = k->g;                                                                      \
  const T nlr = (T)(-k->lr), eps = (T)k->eps, wd = (T)k->weight_decay;                             \
  const T rho = (T)k->rho, omr = (T)(1 - k->rho);                                                  \
  (void)b, (void)rho, (void)omr;

#define ADA_GRAD(T)                                                                                \
  T gi = k->maximize ? -g[i] : g[i];                                                               \
  if (k->weight_decay != 0) gi = gi + wd * p[i];

/* Adagrad: lr is the decayed clr; sum += 1 * g * g; p += -clr * g / (sqrt(sum) + eps). */
#define ADAGRAD_BODY(T)                                                                            \
  ADA_PROLOGUE(T)                                                                                  \
  for (int64_t i = lo; i < hi; i++) {                                                              \
    ADA_GRAD(T)                                                                                    \
    const T s = a[i] + (T)1 * gi * gi;                                                             \
    a[i] = s;                                                                                      \
    p[i] = p[i] + nlr * gi / (sqrt(s) + eps);                                                      \
  }
NB__KERNELS(adagrad_kernels, ADAGRAD_BODY);

/* Adadelta, as PyTorch: the step scales sqrt(acc_delta + eps) / sqrt(square_avg + eps). */
#define ADADELTA_BODY(T)                                                                           \
  ADA_PROLOGUE(T)                                                                                  \
  for (int64_t i = lo; i < hi; i++) {                                                              \
    ADA_GRAD(T)                                                                                    \
    const T sq = a[i] * rho + omr * gi * gi;                                                       \
    a[i] = sq;                                                                                     \
    const T delta = sqrt(b[i] + eps) / sqrt(sq + eps) * gi;                                        \
    b[i] = b[i] * rho + omr * delta * delta;                                                       \
    p[i] = p[i] + nlr * delta;                                                                     \
  }
NB__KERNELS(adadelta_kernels, ADADELTA_BODY);

static void adagrad_update(const nb__update *u) {
  const nb__hyper *h = u->h;
  const double step = ++*(double *)u->s[STEP];
  ada_ctx c = {.p = u->p,
               .g = u->g,
               .a = u->s[SUM],
               .lr = h->lr / (1 + (step - 1) * h->lr_decay),
               .eps = h->eps,
               .weight_decay = h->weight_decay,
               .maximize = h->maximize};
  nb__optim_run(u->n, adagrad_kernels[u->dtype], &c);
}

static void adadelta_update(const nb__update *u) {
  const nb__hyper *h = u->h;
  *(double *)u->s[STEP] += 1;
  ada_ctx c = {.p = u->p,
               .g = u->g,
               .a = u->s[SQUARE_AVG],
               .b = u->s[ACC_DELTA],
               .lr = h->lr,
               .eps = h->eps,
               .weight_decay = h->weight_decay,
               .rho = h->rho,
               .maximize = h->maximize};
  nb__optim_run(u->n, adadelta_kernels[u->dtype], &c);
}

const nb__algo nb__algo_adagrad = {
    .name = "adagrad",
    .opts_size = sizeof(nb_adagrad_opts),
    .hyper = adagrad_hyper,
    .nslots = 2,
    .slots = {[STEP] = {"step", NB__SLOT_F64, NB__INIT_ZERO},
              [SUM] = {"sum", NB__SLOT_LIKE, NB__INIT_ACC}},
    .update = adagrad_update,
};
const nb__algo nb__algo_adadelta = {
    .name = "adadelta",
    .opts_size = sizeof(nb_adadelta_opts),
    .hyper = adadelta_hyper,
    .nslots = 3,
    .slots = {[STEP] = {"step", NB__SLOT_F64, NB__INIT_ZERO},
              [SQUARE_AVG] = {"square_avg", NB__SLOT_LIKE, NB__INIT_ZERO},
              [ACC_DELTA] = {"acc_delta", NB__SLOT_LIKE, NB__INIT_ZERO}},
    .update = adadelta_update,
};

nb_optimizer *nb_adagrad_new(nb_tensor *const *params, int n, const nb_adagrad_opts *opts) {
  return nb__optim_new(&nb__algo_adagrad, params, n, opts);
}
nb_optimizer *nb_adadelta_new(nb_tensor *const *params, int n, const nb_adadelta_opts *opts) {
  return nb__optim_new(&nb__algo_adadelta, params, n, opts);
}
