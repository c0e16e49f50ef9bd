/* optim/rmsprop.c - RMSprop (torch.optim.RMSprop's algorithm).
 *
 * Owns: nb_rmsprop_new, its hyperparameters and fused update: weight decay
 * added to the gradient, the running average of squared gradients, centered
 * (minus the squared running mean), momentum, maximize.
 */
#include <tgmath.h>

#include "optim/optim_impl.h"

enum { STEP, SQUARE_AVG, MOMENTUM_BUFFER, GRAD_AVG }; /* state slots */

static nb_status rmsprop_hyper(const void *opts, nb__hyper *h) {
  const nb_rmsprop_opts *o = opts;
  *h = (nb__hyper){.lr = nb__or(o->lr, 1e-2),
                   .alpha = nb__or(o->alpha, 0.99),
                   .eps = nb__or(o->eps, 1e-8),
                   .weight_decay = o->weight_decay,
                   .momentum = o->momentum,
                   .centered = o->centered,
                   .maximize = o->maximize};
  nb_status st = nb__optim_check_min("rmsprop", "lr", o->lr, 0, false);
  if (st == NB_OK && !(o->alpha >= 0 && o->alpha <= 1))
    st = nb__optim_bad("rmsprop", "alpha", o->alpha, "0 <= alpha <= 1");
  if (st == NB_OK) st = nb__optim_check_min("rmsprop", "eps", o->eps, 0, false);
  if (st == NB_OK) st = nb__optim_check_min("rmsprop", "momentum", o->momentum, 0, false);
  if (st == NB_OK) st = nb__optim_check_min("rmsprop", "weight_decay", o->weight_decay, 0, false);
  return st;
}

static bool rmsprop_slot_used(const nb__hyper *h, int k) {
  return k == MOMENTUM_BUFFER ? h->momentum > 0 : k == GRAD_AVG ? h->centered : true;
}

typedef struct rmsprop_ctx {
  void *p, *sq, *buf, *gavg; /* buf / gavg NULL when unused */
  const void *g;
  double lr, alpha, eps, momentum, weight_decay;
  bool maximize;
} rmsprop_ctx;

/* The operations of PyTorch's _single_tensor_rmsprop, in order; CENTERED and
 * MOMENTUM are constants so that each of the four variants is a simple loop. */
#define RMSPROP_BODY(T, CENTERED, MOMENTUM)                                                        \
  const rmsprop_ctx *k = ctx;                                                                      \
  T *restrict p = k->p, *restrict sq = k->sq, *restrict buf = k->buf, *restrict ga = k->gavg;      \
  const T *restrict g = k->g;                                                                      \
  const T alpha = (T)k->alpha, oma = (T)(1 - k->alpha), eps = (T)k->eps, nlr = (T)(-k->lr);        \
  const T mom = (T)k->momentum, wd = (T)k->weight_decay;                                           \
  (void)buf, (void)ga, (void)mom;                                                                  \
  for (int64_t i = lo; i < hi; i++) {                                                              \
    T gi = k->maximize ? -g[i] : g[i];                                                             \
    if (k->weight_decay != 0) gi = gi + wd * p[i];                                                 \
    const T s = sq[i] * alpha + oma * gi * gi;                                                     \
    sq[i] = s;                                                                                     \
    T avg;                                                                                         \
    if (CENTERED) {                                                                                \
      const T a = ga[i] * alpha + oma * gi;                                                        \
      ga[i] = a;                                                                                   \
      avg = sqrt(s + (T)-1 * a * a);                                                               \
    } else {                                                                                       \
      avg = sqrt(s);                                                                               \
    }                                                                                              \
    avg = avg + eps;                                                                               \
    if (MOMENTUM) {                                                                                \
      const T b = buf[i] * mom + (T)1 * gi / avg;                                                  \
      buf[i] = b;                                                                                  \
      p[i] = p[i] + nlr * b;                                                                       \
    } else {                                                                                       \
      p[i] = p[i] + nlr * gi / avg;                                                                \
    }                                                                                              \
  }
#define RMSPROP_PLAIN(T) RMSPROP_BODY(T, 0, 0)
#define RMSPROP_MOMENTUM(T) RMSPROP_BODY(T, 0, 1)
#define RMSPROP_CENTERED(T) RMSPROP_BODY(T, 1, 0)
#define RMSPROP_CENTERED_MOMENTUM(T) RMSPROP_BODY(T, 1, 1)
NB__KERNELS(rmsprop_plain, RMSPROP_PLAIN);
NB__KERNELS(rmsprop_momentum, RMSPROP_MOMENTUM);
NB__KERNELS(rmsprop_centered, RMSPROP_CENTERED);
NB__KERNELS(rmsprop_centered_momentum, RMSPROP_CENTERED_MOMENTUM);
/* Indexed by centered * 2 + (momentum > 0). */
static const nb__kernel *const rmsprop_kernels[4] = {rmsprop_plain, rmsprop_momentum,
                                                     rmsprop_centered, rmsprop_centered_momentum};

static void rmsprop_update(const nb__update *u) {
  const nb__hyper *h = u->h;
  *(double *)u->s[STEP] += 1;
  rmsprop_ctx c = {.p = u->p,
                   .g = u->g,
                   .sq = u->s[SQUARE_AVG],
                   .buf = h->momentum > 0 ? u->s[MOMENTUM_BUFFER] : NULL,
                   .gavg = h->centered ? u->s[GRAD_AVG] : NULL,
                   .lr = h->lr,
                   .alpha = h->alpha,
                   .eps = h->eps,
                   .momentum = h->momentum,
                   .weight_decay = h->weight_decay,
                   .maximize = h->maximize};
  nb__optim_run(u->n, rmsprop_kernels[h->centered * 2 + (h->momentum > 0)][u->dtype], &c);
}

const nb__algo nb__algo_rmsprop = {
    .name = "rmsprop",
    .opts_size = sizeof(nb_rmsprop_opts),
    .cycle_momentum = true,
    .hyper = rmsprop_hyper,
    .nslots = 4,
    .slots = {[STEP] = {"step", NB__SLOT_F64, NB__INIT_ZERO},
              [SQUARE_AVG] = {"square_avg", NB__SLOT_LIKE, NB__INIT_ZERO},
              [MOMENTUM_BUFFER] = {"momentum_buffer", NB__SLOT_LIKE, NB__INIT_ZERO},
              [GRAD_AVG] = {"grad_avg", NB__SLOT_LIKE, NB__INIT_ZERO}},
    .slot_used = rmsprop_slot_used,
    .update = rmsprop_update,
};

nb_optimizer *nb_rmsprop_new(nb_tensor *const *params, int n, const nb_rmsprop_opts *opts) {
  return nb__optim_new(&nb__algo_rmsprop, params, n, opts);
}
