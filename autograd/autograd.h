/* autograd/autograd.h - the public API of nabla's autograd layer.
 *
 * Owns: define-by-run graph recording, backward and nb_grad (higher-order),
 * no-grad mode, hooks, anomaly mode, DOT export, the op-definition API shared
 * by built-in and user ops, gradcheck, and the differentiable ops themselves
 * (nb_add, nb_matmul, ...), which call the tensor layer's nbk_* kernels.
 *
 * Conventions: as in tensor/tensor.h (new references, scopes, NULL in -> NULL
 * out keeping the first error, nb_status for actions). An op records a node
 * only when grad mode is on and some floating-point input requires grad.
 */
#ifndef NABLA_AUTOGRAD_H
#define NABLA_AUTOGRAD_H

#include "tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- leaves, gradients, modes -------------------------------------------- */

/* Mark a leaf as needing a gradient (floating dtypes only; NB_ERR_DTYPE else;
 * NB_ERR_GRAPH when turning it off on a non-leaf). */
NB_API nb_status nb_requires_grad_(nb_tensor *t, bool requires_grad);
NB_API bool nb_requires_grad(const nb_tensor *t);
/* True for tensors made by the user (no grad_fn). */
NB_API bool nb_is_leaf(const nb_tensor *t);
/* The accumulated gradient (borrowed; NULL if none yet). */
NB_API nb_tensor *nb_grad_of(const nb_tensor *t);
/* Replace / drop the gradient (NULL drops it; the tensor retains g). */
NB_API nb_status nb_set_grad(nb_tensor *t, nb_tensor *g);
/* Zero the gradient in place (set_to_none frees it instead, like PyTorch). */
NB_API nb_status nb_zero_grad(nb_tensor *t, bool set_to_none);
/* Keep the gradient of a non-leaf tensor in its .grad during backward. */
NB_API nb_status nb_retain_grad(nb_tensor *t);
/* A new tensor sharing t's storage, cut from the graph (requires_grad false). */
NB_API nb_tensor *nb_detach(nb_tensor *t);
/* The name of the op that made t ("add"), or NULL for leaves. */
NB_API const char *nb_grad_fn_name(const nb_tensor *t);

/* Grad mode is thread-local and nests: set returns the previous value so a
 * caller can restore it. nb_no_grad_begin/end are the common pair. */
NB_API bool nb_set_grad_enabled(bool enabled);
NB_API bool nb_is_grad_enabled(void);
NB_API void nb_no_grad_begin(void);
NB_API void nb_no_grad_end(void);

/* ---- backward ------------------------------------------------------------- */

typedef struct nb_backward_opts {
  nb_tensor *grad_output; /* d(root); NULL = ones, allowed only for 1-element roots */
  bool keep_graph;        /* keep saved tensors for another backward */
  bool create_graph;      /* record the backward itself (higher-order grads) */
} nb_backward_opts;

/* Accumulate d(root)/d(leaf) into every leaf's .grad that requires grad.
 * Frees the graph's saved tensors unless keep_graph; a second backward through
 * a freed graph is NB_ERR_GRAPH. NB_ERR_STALE if a saved tensor was modified in
 * place since it was saved (the message names the op). */
NB_API nb_status nb_backward(nb_tensor *root);
NB_API nb_status nb_backward_ex(nb_tensor *root, const nb_backward_opts *opts);

/* torch.autograd.grad: gradients of sum_i <outputs[i], grad_outputs[i]> with
 * respect to each of inputs[0..ninputs) into grads_out (new references; NULL
 * where an input is unreachable and allow_unused; NB_ERR_GRAPH otherwise).
 * grad_outputs may be NULL (ones for 1-element outputs). Leaves' .grad are not
 * touched. With create_graph the results are differentiable. */
typedef struct nb_grad_opts {
  nb_tensor *const *grad_outputs;
  bool keep_graph; /* defaults to create_graph, as in PyTorch */
  bool create_graph;
  bool allow_unused;
} nb_grad_opts;
NB_API nb_status nb_grad(nb_tensor *const *outputs, int noutputs, nb_tensor *const *inputs,
                         int ninputs, nb_tensor **grads_out, const nb_grad_opts *opts);

/* ---- hooks, anomaly mode, graph export ------------------------------------ */

/* Called with the gradient flowing into t during backward. Return NULL to keep
 * it, or a new tensor (same shape) to replace it; the engine owns the result. */
typedef nb_tensor *(*nb_grad_hook)(nb_tensor *grad, void *user);
NB_API nb_status nb_register_hook(nb_tensor *t, nb_grad_hook hook, void *user);

/* When on (thread-local), the first op whose forward output or backward
 * gradient has a NaN/Inf fails with NB_ERR_NUMERIC naming the op and shapes. */
NB_API void nb_set_anomaly_mode(bool enabled);
NB_API bool nb_anomaly_mode(void);

/* Write the graph behind t as Graphviz DOT: one node per op (name, output
 * shape, saved-tensor bytes) and per leaf (shape, requires_grad). */
NB_API nb_status nb_export_dot(const nb_tensor *t, FILE *f);

/* ---- defining ops: the one mechanism for built-in and user ops ----------- */

typedef struct nb_ctx nb_ctx;

/* An op: forward computes the output from the inputs (any nabla calls; it
 * runs with grad mode off) and saves what backward needs; backward turns the
 * output's gradient into each input's gradient, written with nabla's
 * differentiable ops so that higher-order gradients work. grad_inputs[i] may
 * be left NULL (no gradient). The engine sums a gradient over broadcast dims
 * to the input's shape and checks shapes. */
typedef struct nb_op_def {
  const char *name;
  int ninputs; /* -1: any number (cat, stack) */
  nb_tensor *(*forward)(nb_ctx *ctx, nb_tensor *const *inputs, int ninputs, void *params);
  nb_status (*backward)(nb_ctx *ctx, nb_tensor *grad_output, nb_tensor **grad_inputs);
  size_t params_size; /* bytes of the params struct copied into the node */
  unsigned flags;     /* NB_OP_* */
} nb_op_def;

enum {
  NB_OP_FIRST_ORDER = 1u << 0, /* backward is not itself differentiable */
  NB_OP_NO_GRAD = 1u << 1,     /* never differentiable (integer outputs) */
};

/* Run def on inputs; records a node when any input needs grad. params (may be
 * NULL) points to def->params_size bytes: forward may write results into it
 * (e.g. extra outputs) before it is copied into the node. */
NB_API nb_tensor *nb_apply(const nb_op_def *def, int ninputs, nb_tensor *const *inputs,
                           void *params);

/* In forward: keep a tensor for backward (an input, the output, or anything
 * computed). Saving the op's own output is allowed. Returns the saved index. */
NB_API int nb_ctx_save(nb_ctx *ctx, nb_tensor *t);
/* In backward: saved tensor i (borrowed, valid during this backward). */
NB_API nb_tensor *nb_ctx_saved(nb_ctx *ctx, int i);
/* The params copy (writable in forward, read-only in backward). */
NB_API void *nb_ctx_params(nb_ctx *ctx);
/* Whether input i needs a gradient (skip work when not). */
NB_API bool nb_ctx_needs_grad(const nb_ctx *ctx, int i);
/* Input i's shape and dtype as they were in forward. */
NB_API int nb_ctx_input_ndim(const nb_ctx *ctx, int i);
NB_API const int64_t *nb_ctx_input_shape(const nb_ctx *ctx, int i);
NB_API nb_dtype nb_ctx_input_dtype(const nb_ctx *ctx, int i);
NB_API int nb_ctx_ninputs(const nb_ctx *ctx);
/* True while forward runs for recording (false under no-grad: skip saving). */
NB_API bool nb_ctx_recording(const nb_ctx *ctx);

/* ---- gradient checking ------------------------------------------------------ */

typedef struct nb_gradcheck_opts {
  double eps;  /* finite-difference step; 0 = 1e-6 */
  double atol; /* 0 = 1e-5 */
  double rtol; /* 0 = 1e-3 */
} nb_gradcheck_opts;

/* A function of tensors to check: returns a new tensor (any shape). */
typedef nb_tensor *(*nb_gradcheck_fn)(nb_tensor *const *inputs, int ninputs, void *user);

/* Compare fn's analytic gradients (backward) with central finite differences,
 * in float64 (inputs are converted). Every floating input is checked. On a
 * mismatch returns NB_ERR_NUMERIC with a message naming the input, element,
 * analytic and numeric values. */
NB_API nb_status nb_gradcheck(nb_gradcheck_fn fn, nb_tensor *const *inputs, int ninputs, void *user,
                              const nb_gradcheck_opts *opts);
/* Same for second derivatives: checks the gradient of <grad fn, v> (random v)
 * built with create_graph against finite differences of the first gradient. */
NB_API nb_status nb_gradgradcheck(nb_gradcheck_fn fn, nb_tensor *const *inputs, int ninputs,
                                  void *user, const nb_gradcheck_opts *opts);

#ifdef __cplusplus
}
#endif

#include "autograd/ops.h"

#endif /* NABLA_AUTOGRAD_H */
