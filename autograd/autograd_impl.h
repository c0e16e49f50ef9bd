/* autograd/autograd_impl.h - autograd internals (never installed).
 *
 * Owns: the graph node (which is the nb_ctx handed to ops), the per-tensor
 * autograd metadata (hooks, retained gradient), the op table generated from
 * ops.def, and the helpers op families share (sum-to-shape, samples for the
 * table-driven gradient check).
 */
#ifndef NABLA_AUTOGRAD_IMPL_H
#define NABLA_AUTOGRAD_IMPL_H

#include "autograd/autograd.h"
#include "tensor/tensor_impl.h"

#define NB_MAX_SAVED 8
#define NB_MAX_HOOKS 4

/* An edge from a node to the thing that produced one of its inputs. */
typedef struct nb_edge {
  nb_object *node; /* the producing node (retained), or NULL */
  nb_tensor *leaf; /* a leaf that requires grad (retained), or NULL */
} nb_edge;

typedef struct nb_input_meta {
  nb_dtype dtype;
  int ndim;
  int64_t shape[NB_MAX_DIMS];
} nb_input_meta;

/* Per-tensor autograd metadata, shared by the tensor and (for non-leaves) the
 * node that made it, so neither needs a weak pointer to the other. */
typedef struct nb_meta {
  nb_object base;
  int nhooks;
  nb_grad_hook hooks[NB_MAX_HOOKS];
  void *hook_user[NB_MAX_HOOKS];
  bool retain_grad;
  nb_tensor *retained_grad; /* for non-leaves with retain_grad */
} nb_meta;

/* The graph node. It is also the nb_ctx an op sees in forward and backward. */
struct nb_ctx {
  nb_object base;
  const nb_op_def *def;
  bool recording; /* false: a stack ctx for a forward that records nothing */
  bool released;  /* saved tensors freed after a backward without keep_graph */
  int ninputs;
  nb_edge *edges;            /* ninputs */
  nb_input_meta *input_meta; /* ninputs */
  void *params;              /* def->params_size bytes (inside this block) */
  int nsaved;
  nb_tensor *saved[NB_MAX_SAVED];
  uint64_t saved_version[NB_MAX_SAVED];
  bool saved_is_output[NB_MAX_SAVED];
  nb_tensor *output_alias[NB_MAX_SAVED]; /* saved outputs re-linked for create_graph */
  nb_input_meta out_meta;
  nb_meta *meta; /* the output tensor's metadata (hooks, retain_grad), or NULL */
  size_t bytes;  /* allocation size of this block */
  /* Engine scratch, valid during one backward. */
  uint64_t visit_epoch;
  nb_tensor *grad_accum;
  int capture_index; /* nb_grad: index in inputs, or -1 */
};

/* Get or create t's metadata (NULL + error on allocation failure). */
NB_INTERNAL nb_meta *nb__meta_of(nb_tensor *t);
/* Sum g over broadcast dims down to shape (differentiable). New reference. */
NB_INTERNAL nb_tensor *nb__sum_to(nb_tensor *g, int ndim, const int64_t *shape);
/* Anomaly-mode check of t: NB_ERR_NUMERIC naming `what` if a NaN/Inf is seen. */
NB_INTERNAL nb_status nb__check_finite(const nb_tensor *t, const char *what, const char *op);

/* ---- the op table ----------------------------------------------------------- */

/* A sample for the table-driven gradient check: float64 inputs (those with
 * requires_grad set are checked) and a function that applies the op. */
typedef struct nb_op_sample {
  int ninputs;
  nb_tensor *inputs[8];
  nb_gradcheck_fn fn;
  void *user;
} nb_op_sample;

#define NB_OP(name) NB_OP_##name,
typedef enum nb_op_id {
#include "autograd/ops.def"
  NB_OP_COUNT
} nb_op_id;
#undef NB_OP

#define NB_OP(name)                                                                                \
  extern const nb_op_def nb__op_##name;                                                            \
  NB_INTERNAL nb_status nb__sample_##name(nb_op_sample *sample);
#include "autograd/ops.def"
#undef NB_OP

/* The table, indexed by nb_op_id. */
NB_INTERNAL const nb_op_def *nb__op_def(nb_op_id id);
/* Fill a gradcheck sample for op id (the caller frees the inputs). */
NB_INTERNAL nb_status nb__op_sample(nb_op_id id, nb_op_sample *sample);

#endif /* NABLA_AUTOGRAD_IMPL_H */
