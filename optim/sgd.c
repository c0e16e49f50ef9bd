/* optim/sgd.c - stochastic gradient descent (torch.optim.SGD's algorithm).
 *
 * Owns: nb_sgd_new, SGD's hyperparameters and its fused update: weight decay
 * added to the gradient, momentum with dampening (the buffer starts as the
 * first step's gradient), Nesterov, maximize.
 */
#include <math.h>

#include "optim/optim_impl.h"

enum { BUF }; /* state slots */

static nb_status sgd_hyper(const void *opts, nb__hyper *h) {
  const nb_sgd_opts *o = opts;
  *h = (nb__hyper){.lr = o->lr,
                   .momentum = o->momentum,
                   .dampening = o->dampening,
                   .weight_decay = o->weight_decay,
                   .nesterov = o->nesterov,
                   .maximize = o->maximize};
  nb_status st = nb__optim_check_min("sgd", "lr", o->lr, 0, true);
  if (st == NB_OK) st = nb__optim_check_min("sgd", "momentum", o->momentum, 0, false);
  if (st == NB_OK) st = nb__optim_check_min("sgd", "weight_decay", o->weight_decay, 0, false);
  if (st == NB_OK && !(o->dampening >= 0 && o->dampening <= 1))
    st = nb__optim_bad("sgd", "dampening", o->dampening, "0 <= dampening <= 1");
  if (st == NB_OK && o->nesterov && (o->momentum <= 0 || o->dampening != 0))
    st = nb_set_error(NB_ERR_ARG,
                      "sgd: nesterov needs momentum > 0 and dampening 0 (got momentum %g, "
                      "dampening %g)",
                      o->momentum, o->dampening);
  return st;
}

static bool sgd_slot_used(const nb__hyper *h, int k) { return k == BUF && h->momentum != 0; }

typedef struct sgd_ctx {
  void *p, *buf;
  const void *g;
  double lr, momentum, dampening, weight_decay;
  bool maximize, nesterov, first;
} sgd_ctx;

/* The same operations, in the same order and precision, as PyTorch's
 * _single_tensor_sgd; the first step copies the gradient into the buffer. */
#define SGD_BODY(T)                                                                                \
  const sgd_ctx *k = ctx;                                                                          \
  T *restrict p = k->p, *restrict buf = k->buf;                                                    \
  const T *restrict g = k->g;                                                                      \
  const T lr = (T)k->lr, mom = (T)k->momentum, omd = (T)(1 - k->dampening);                        \
  const T wd = (T)k->weight_decay;                                                                 \
  for (int64_t i = lo; i < hi; i++) {                                                              \
    T d = k->maximize ? -g[i] : g[i];                                                              \
    if (k->weight_decay != 0) d = d + wd * p[i];                                                   \
    if (buf) {                                                                                     \
      T b = k->first ? d : buf[i] * mom + omd * d;                                                 \
      buf[i] = b;                                                                                  \
      d = k->nesterov ? d + mom * b : b;                                                           \
    }                                                                                              \
    p[i] = p[i] - lr * d;                                                                          \
  }
NB__KERNELS(sgd_kernels, SGD_BODY);

static void sgd_update(const nb__update *u) {
  const nb__hyper *h = u->h;
  sgd_ctx c = {.p = u->p,
               .g = u->g,
               .buf = h->momentum != 0 ? u->s[BUF] : NULL,
               .lr = h->lr,
               .momentum = h->momentum,
               .dampening = h->dampening,
               .weight_decay = h->weight_decay,
               .maximize = h->maximize,
               .nesterov = h->nesterov,
               .first = u->created[BUF]};
  nb__optim_run(u->n, sgd_kernels[u->dtype], &c);
}

const nb__algo nb__algo_sgd = {
    .name = "sgd",
    .opts_size = sizeof(nb_sgd_opts),
    .cycle_momentum = true,
    .hyper = sgd_hyper,
    .nslots = 1,
    .slots = {[BUF] = {"momentum_buffer", NB__SLOT_LIKE, NB__INIT_ZERO}},
    .slot_used = sgd_slot_used,
    .update = sgd_update,
};

nb_optimizer *nb_sgd_new(nb_tensor *const *params, int n, const nb_sgd_opts *opts) {
  return nb__optim_new(&nb__algo_sgd, params, n, opts);
}
