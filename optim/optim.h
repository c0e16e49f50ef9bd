/* optim/optim.h - the public API of nabla's optimizers, schedulers, clipping.
 *
 * Optimizers update parameters in place with fused loops over each tensor
 * (no graph, no allocation per step after the first). Update formulas are
 * PyTorch's documented algorithms. Options structs: a zero field means
 * PyTorch's default (lr has no default for SGD and must be set).
 *
 * Parameter groups: an optimizer starts with one group (the params passed to
 * nb_<name>_new with its opts); nb_optim_add_group adds another group with its
 * own full opts (NULL = the optimizer's construction opts), e.g. no weight
 * decay on biases.
 *
 * State (moments, step counts) is created at a parameter's first step; later
 * steps allocate nothing. Each update is one pass over the parameter's data
 * (OpenMP above 32768 elements; the same result with any thread count) in the
 * parameter's dtype; a non-contiguous parameter is updated through a copy.
 *
 * Gradient accumulation: gradients add up over backward calls until zeroed,
 * so a batch can be processed in k parts: zero once, backward each part's
 * loss scaled by its share of the batch (1/k for means over equal parts),
 * then step once. Clip, if wanted, between the last backward and the step.
 *
 *   nb_optim_zero_grad(opt, true);
 *   for (int i = 0; i < k; i++) {
 *     nb_scope_begin();
 *     nb_backward(nb_mul_scalar(nb_cross_entropy(forward(xs[i]), ys[i], NULL), 1.0 / k));
 *     nb_scope_end();
 *   }
 *   nb_optim_step(opt);
 */
#ifndef NABLA_OPTIM_H
#define NABLA_OPTIM_H

#include "autograd/autograd.h"

struct nb_module; /* nn/nn.h */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_optimizer nb_optimizer;

typedef struct nb_sgd_opts {
  double lr; /* required, > 0 */
  double momentum, dampening, weight_decay;
  bool nesterov, maximize;
} nb_sgd_opts;

typedef struct nb_adam_opts {
  double lr;           /* 0 = 1e-3 */
  double betas[2];     /* 0 = 0.9, 0.999 */
  double eps;          /* 0 = 1e-8 */
  double weight_decay; /* Adam: L2 added to the gradient; AdamW: decoupled (0 = 1e-2 for AdamW) */
  bool amsgrad, maximize;
} nb_adam_opts;

typedef struct nb_rmsprop_opts {
  double lr;    /* 0 = 1e-2 */
  double alpha; /* 0 = 0.99 */
  double eps;   /* 0 = 1e-8 */
  double weight_decay, momentum;
  bool centered, maximize;
} nb_rmsprop_opts;

typedef struct nb_adagrad_opts {
  double lr; /* 0 = 1e-2 */
  double lr_decay, weight_decay, initial_accumulator_value;
  double eps; /* 0 = 1e-10 */
  bool maximize;
} nb_adagrad_opts;

typedef struct nb_adadelta_opts {
  double lr;  /* 0 = 1.0 */
  double rho; /* 0 = 0.9 */
  double eps; /* 0 = 1e-6 */
  double weight_decay;
  bool maximize;
} nb_adadelta_opts;

/* Adamax, NAdam and RAdam take nb_adam_opts (lr 0 = 2e-3 for Adamax and
 * NAdam, 1e-3 for RAdam); NAdam's momentum_decay is 4e-3 as in PyTorch. */

/* Each returns a new optimizer over params[0..n) (borrowed: they must outlive
 * it and require grad), or NULL with NB_ERR_ARG naming a bad hyperparameter
 * (negative lr, betas outside [0,1), eps <= 0, ...). */
NB_API nb_optimizer *nb_sgd_new(nb_tensor *const *params, int n, const nb_sgd_opts *opts);
NB_API nb_optimizer *nb_adam_new(nb_tensor *const *params, int n, const nb_adam_opts *opts);
NB_API nb_optimizer *nb_adamw_new(nb_tensor *const *params, int n, const nb_adam_opts *opts);
NB_API nb_optimizer *nb_adamax_new(nb_tensor *const *params, int n, const nb_adam_opts *opts);
NB_API nb_optimizer *nb_nadam_new(nb_tensor *const *params, int n, const nb_adam_opts *opts);
NB_API nb_optimizer *nb_radam_new(nb_tensor *const *params, int n, const nb_adam_opts *opts);
NB_API nb_optimizer *nb_rmsprop_new(nb_tensor *const *params, int n, const nb_rmsprop_opts *opts);
NB_API nb_optimizer *nb_adagrad_new(nb_tensor *const *params, int n, const nb_adagrad_opts *opts);
NB_API nb_optimizer *nb_adadelta_new(nb_tensor *const *params, int n, const nb_adadelta_opts *opts);
/* Add a group; opts points to this optimizer's own opts type (NULL = the
 * construction opts). Returns the group index or a negative nb_status. */
NB_API int nb_optim_add_group(nb_optimizer *opt, nb_tensor *const *params, int n, const void *opts);
/* One update of every parameter that has a gradient (others are skipped). */
NB_API nb_status nb_optim_step(nb_optimizer *opt);
/* Zero every parameter's gradient (set_to_none frees them, PyTorch's default). */
NB_API nb_status nb_optim_zero_grad(nb_optimizer *opt, bool set_to_none);
NB_API int nb_optim_group_count(const nb_optimizer *opt);
/* Learning rate of a group; set for one group, or all with group = -1. */
NB_API double nb_optim_get_lr(const nb_optimizer *opt, int group);
NB_API nb_status nb_optim_set_lr(nb_optimizer *opt, int group, double lr);
/* The optimizer's name ("sgd", "adam", ...). */
NB_API const char *nb_optim_name(const nb_optimizer *opt);
/* State for checkpoints, as named tensors: "<param index>.<buffer>" (e.g.
 * "3.exp_avg", "3.step") plus each group's hyperparameters that schedulers
 * change (0-d float64): "group.<g>.lr" for all, and the value OneCycleLR
 * cycles, "group.<g>.momentum" for sgd and rmsprop or "group.<g>.beta1" for
 * adam, adamw, adamax, nadam and radam (adagrad and adadelta have neither).
 * count/at enumerate (borrowed tensors); load copies a tensor into the state
 * entry of that name (creating it if the optimizer has not stepped yet),
 * NB_ERR_ARG for an unknown name or an invalid value (lr or momentum < 0,
 * beta1 outside [0, 1)), NB_ERR_SHAPE for a mismatch. Entries are listed
 * parameter by parameter, then group by group (lr, then momentum or beta1).
 * Buffers, as PyTorch names them: sgd momentum_buffer (when
 * momentum > 0); adam, adamw step, exp_avg, exp_avg_sq, max_exp_avg_sq
 * (amsgrad); adamax step, exp_avg, exp_inf; nadam step, mu_product (float32),
 * exp_avg, exp_avg_sq; radam step, exp_avg, exp_avg_sq; rmsprop step,
 * square_avg, momentum_buffer (momentum > 0), grad_avg (centered); adagrad
 * step, sum; adadelta step, square_avg, acc_delta. Steps are float64. */
NB_API int nb_optim_state_count(const nb_optimizer *opt);
NB_API nb_status nb_optim_state_at(const nb_optimizer *opt, int i, const char **name,
                                   nb_tensor **value);
NB_API nb_status nb_optim_state_load(nb_optimizer *opt, const char *name, nb_tensor *value);
NB_API void nb_optim_free(nb_optimizer *opt);

/* ---- learning-rate schedulers (PyTorch semantics; step once per epoch, or
 * per batch for OneCycleLR) ------------------------------------------------- */

typedef struct nb_scheduler nb_scheduler;
typedef double (*nb_lr_lambda)(int epoch, void *user);

/* Each constructor returns a new scheduler over opt (borrowed: it must
 * outlive the scheduler), setting the groups' lr for epoch 0 as PyTorch does,
 * or NULL with NB_ERR_ARG naming a bad argument. Free with
 * nb_scheduler_free. */
NB_API nb_scheduler *nb_step_lr_new(nb_optimizer *opt, int step_size, double gamma);
NB_API nb_scheduler *nb_multistep_lr_new(nb_optimizer *opt, const int *milestones, int n,
                                         double gamma);
NB_API nb_scheduler *nb_exponential_lr_new(nb_optimizer *opt, double gamma);
NB_API nb_scheduler *nb_cosine_annealing_lr_new(nb_optimizer *opt, int t_max, double eta_min);
NB_API nb_scheduler *nb_cosine_warm_restarts_new(nb_optimizer *opt, int t_0, int t_mult,
                                                 double eta_min);
NB_API nb_scheduler *nb_linear_lr_new(nb_optimizer *opt, double start_factor, double end_factor,
                                      int total_iters);
/* OneCycleLR (cos annealing, three_phase false): pct_start 0 = 0.3,
 * div_factor 0 = 25, final_div_factor 0 = 1e4. As PyTorch's default
 * cycle_momentum, momentum goes 0.95 -> 0.85 -> 0.95 against the lr: SGD's
 * and RMSprop's momentum (even if it was 0), beta1 of the Adam family;
 * Adagrad and Adadelta have none. total_steps + 1 values, then NB_ERR_ARG. */
NB_API nb_scheduler *nb_one_cycle_lr_new(nb_optimizer *opt, double max_lr, int total_steps,
                                         double pct_start, double div_factor,
                                         double final_div_factor);
/* LambdaLR: lr = initial_lr * fn(epoch). */
NB_API nb_scheduler *nb_lambda_lr_new(nb_optimizer *opt, nb_lr_lambda fn, void *user);
/* ReduceLROnPlateau (mode min/max, factor, patience, threshold rel, cooldown,
 * min_lr); advanced with nb_scheduler_step_metric. */
typedef struct nb_plateau_opts {
  bool mode_max;
  double factor;    /* 0 = 0.1 */
  int patience;     /* 0 = 10; use -1 for 0 */
  double threshold; /* 0 = 1e-4 */
  int cooldown;
  double min_lr;
} nb_plateau_opts;
NB_API nb_scheduler *nb_reduce_on_plateau_new(nb_optimizer *opt, const nb_plateau_opts *opts);
/* SequentialLR: run schedulers[i] until milestones[i], then the next (takes
 * ownership of the schedulers, also when it fails). Made after them, it
 * resets the lr to its initial value as PyTorch does. */
NB_API nb_scheduler *nb_sequential_lr_new(nb_optimizer *opt, nb_scheduler **schedulers, int n,
                                          const int *milestones);
NB_API nb_status nb_scheduler_step(nb_scheduler *s);
NB_API nb_status nb_scheduler_step_metric(nb_scheduler *s, double metric);
NB_API double nb_scheduler_get_last_lr(const nb_scheduler *s, int group);
/* Epoch counter and internal state as doubles, for checkpoints: writes at
 * most cap values and returns how many there are. load needs a state from
 * a scheduler of the same kind over as many groups (NB_ERR_ARG otherwise);
 * the groups' lrs travel with the optimizer's state. */
NB_API int nb_scheduler_state(const nb_scheduler *s, double *out, int cap);
NB_API nb_status nb_scheduler_load_state(nb_scheduler *s, const double *state, int n);
NB_API void nb_scheduler_free(nb_scheduler *s);

/* ---- gradient clipping ------------------------------------------------------ */

/* Scale all gradients so their joint p-norm (p = 2, 1, INFINITY, ...) is at
 * most max_norm; returns the total norm before clipping (NAN + error on bad
 * input). Parameters without a gradient are skipped. */
NB_API double nb_clip_grad_norm(nb_tensor *const *params, int n, double max_norm, double p);
/* Clamp every gradient element to [-clip, clip]. */
NB_API nb_status nb_clip_grad_value(nb_tensor *const *params, int n, double clip);

/* ---- checkpoints (optim/checkpoint.c) ---------------------------------------- */

/* Save the model's state, the optimizer's state, the scheduler's state (may be
 * NULL), the epoch and the default generator's state in one safetensors file,
 * atomically, so training resumes exactly. */
NB_API nb_status nb_checkpoint_save(const char *path, struct nb_module *model, nb_optimizer *opt,
                                    nb_scheduler *sched, int64_t epoch);
/* Restore all of it (the objects must be built the same way as when saved);
 * *epoch receives the saved epoch. Mismatches are reported all at once and
 * nothing is changed unless every check passes. */
NB_API nb_status nb_checkpoint_load(const char *path, struct nb_module *model, nb_optimizer *opt,
                                    nb_scheduler *sched, int64_t *epoch);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_OPTIM_H */
