/* optim/optim_impl.h - internals shared by optim/'s files (never installed).
 *
 * Owns: the optimizer object's layout (groups of parameters, per-parameter
 * state slots), the table entry each algorithm file provides (nb__algo: name,
 * options -> hyperparameters with defaults and validation, state slots, the
 * fused update), and the parallel loop driver the updates share.
 *
 * An algorithm's update sees one parameter at a time with contiguous data of
 * the parameter's dtype: p (written in place), g (the gradient, read only)
 * and each state slot's data. Scalar slots ("step", NAdam's "mu_product")
 * are 0-d tensors whose single value the update reads and writes.
 */
#ifndef NABLA_OPTIM_IMPL_H
#define NABLA_OPTIM_IMPL_H

#include "optim/optim.h"
#include "tensor/tensor_impl.h" /* NB_INTERNAL, NB_HOT_LOOP */

/* Every hyperparameter of every algorithm, defaults applied. */
typedef struct nb__hyper {
  double lr, momentum, dampening, weight_decay;
  double beta1, beta2, eps;
  double alpha, lr_decay, init_acc, rho, momentum_decay;
  bool nesterov, maximize, amsgrad, centered;
} nb__hyper;

enum {
  NB__SLOT_LIKE, /* a tensor like the parameter (same shape and dtype) */
  NB__SLOT_F64,  /* a 0-d float64 scalar (step counters) */
  NB__SLOT_F32   /* a 0-d float32 scalar (NAdam's mu_product, as PyTorch keeps it) */
};
enum { NB__INIT_ZERO, NB__INIT_ONE, NB__INIT_ACC /* hyper.init_acc (Adagrad's sum) */ };

#define NB__MAX_SLOTS 4

typedef struct nb__slot {
  const char *name;
  int kind, init;
} nb__slot;

/* One parameter's update: n contiguous elements of dtype. created[k] is true
 * when slot k was made (initialized) just before this update. */
typedef struct nb__update {
  const nb__hyper *h;
  nb_dtype dtype;
  int64_t n;
  void *p;
  const void *g;
  void *s[NB__MAX_SLOTS];
  bool created[NB__MAX_SLOTS];
} nb__update;

typedef struct nb__algo {
  const char *name;    /* "adam": error messages and nb_optim_name */
  size_t opts_size;    /* sizeof its public opts struct */
  bool cycle_momentum; /* OneCycleLR cycles momentum (SGD, RMSprop) */
  bool cycle_beta1;    /* ... or beta1 (the Adam family) */
  /* opts (never NULL) -> h with PyTorch's defaults for zero fields; NB_ERR_ARG
   * naming the hyperparameter and its value if one is invalid. */
  nb_status (*hyper)(const void *opts, nb__hyper *h);
  int nslots;
  nb__slot slots[NB__MAX_SLOTS];
  /* Whether slot k is needed under h (NULL: all are). */
  bool (*slot_used)(const nb__hyper *h, int k);
  void (*update)(const nb__update *u);
} nb__algo;

NB_INTERNAL extern const nb__algo nb__algo_sgd, nb__algo_adam, nb__algo_adamw, nb__algo_adamax,
    nb__algo_nadam, nb__algo_radam, nb__algo_rmsprop, nb__algo_adagrad, nb__algo_adadelta;

/* A group's hyperparameters that schedulers change while training, listed
 * as state entries "group.<g>.<name>" so checkpoints resume exactly: the lr,
 * and what OneCycleLR cycles, momentum (algorithms with cycle_momentum) or
 * beta1 (cycle_beta1). */
enum { NB__GROUP_LR, NB__GROUP_MOMENTUM, NB__GROUP_BETA1, NB__GROUP_ENTRIES };

typedef struct nb__group {
  nb__hyper h;
  double initial_lr; /* set by the first scheduler (PyTorch's group['initial_lr']); NAN before */
  /* 0-d float64 behind each state entry (nb_optim_state_at copies h's value
   * in); NULL for an entry the algorithm does not have. */
  nb_tensor *entry_t[NB__GROUP_ENTRIES];
  char entry_name[NB__GROUP_ENTRIES][40]; /* "group.<g>.lr", ... */
} nb__group;

typedef struct nb__param {
  nb_tensor *t; /* borrowed */
  int group;
  nb_tensor *slot[NB__MAX_SLOTS]; /* owned; NULL until needed */
  char names[NB__MAX_SLOTS][48];  /* "<index>.<slot name>" */
} nb__param;

struct nb_optimizer {
  const nb__algo *algo;
  void *opts; /* a copy of the construction opts (add_group's NULL) */
  nb__group *groups;
  int ngroups, cap_groups;
  nb__param *params;
  int nparams, cap_params;
};

/* NB_OK if v is a valid value for the group entry e (NB__GROUP_*) of opt:
 * lr and momentum >= 0, 0 <= beta1 < 1; else NB_ERR_ARG naming the
 * algorithm, the hyperparameter and v. */
NB_INTERNAL nb_status nb__optim_check_group_value(const nb_optimizer *opt, int e, double v);

/* Shared constructor behind nb_<name>_new. */
NB_INTERNAL nb_optimizer *nb__optim_new(const nb__algo *algo, nb_tensor *const *params, int n,
                                        const void *opts);

/* Validation helpers for nb__algo.hyper: record NB_ERR_ARG naming the
 * algorithm, the hyperparameter and its value, and return it. */
NB_INTERNAL nb_status nb__optim_bad(const char *algo, const char *name, double value,
                                    const char *expected);
/* NB_OK if lo <= v (or lo < v when open) and v is finite, else nb__optim_bad. */
NB_INTERNAL nb_status nb__optim_check_min(const char *algo, const char *name, double v, double lo,
                                          bool open);
/* value, or dflt when value is 0. */
static inline double nb__or(double value, double dflt) { return value != 0 ? value : dflt; }

/* The typed loop over [lo, hi) of one parameter. */
typedef void (*nb__kernel)(const void *ctx, int64_t lo, int64_t hi);
/* Run k over [0, n): in fixed chunks on nb_get_num_threads() threads when n
 * is at least NB__OPTIM_GRAIN elements (elementwise, so results never depend
 * on the thread count). */
#define NB__OPTIM_GRAIN 32768
NB_INTERNAL void nb__optim_run(int64_t n, nb__kernel k, const void *ctx);

/* Instantiate a kernel table name[NB_DTYPE_COUNT] (float32, float64) from
 * BODY(T), a statement list using `ctx`, `lo`, `hi` and the element type T
 * (with an AVX2 clone: NB_HOT_LOOP). */
#define NB__KERNEL(fn, T, BODY)                                                                    \
  NB_HOT_LOOP static void fn(const void *ctx, int64_t lo, int64_t hi) { BODY(T) }
#define NB__KERNELS(name, BODY)                                                                    \
  NB__KERNEL(name##_f32, float, BODY)                                                              \
  NB__KERNEL(name##_f64, double, BODY)                                                             \
  static const nb__kernel name[NB_DTYPE_COUNT] = {                                                 \
      [NB_DTYPE_FLOAT32] = name##_f32, [NB_DTYPE_FLOAT64] = name##_f64}

/* The NULL-input convention: record NB_ERR_NULL unless an error is pending. */
NB_INTERNAL nb_status nb__optim_null(const char *op);

#endif /* NABLA_OPTIM_IMPL_H */
