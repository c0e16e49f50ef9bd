/* nn/nn.h - the public API of nabla's nn layer.
 *
 * Owns: the module abstraction (forward, hierarchical named parameters and
 * buffers with PyTorch's names, children, train/eval, zero_grad), containers,
 * layers, loss modules, initialization, model summary, and state dicts saved
 * and loaded as safetensors files that PyTorch reads and writes.
 *
 * A user's own module is a struct whose first member is an nb_module, made
 * with nb_module_new(&ops, sizeof(struct)); see examples/custom_module.c.
 * Freeing a module frees its parameters, buffers and children.
 */
#ifndef NABLA_NN_H
#define NABLA_NN_H

#include "autograd/autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_module nb_module;

typedef struct nb_module_ops {
  const char *type_name; /* "Linear", shown by summaries and errors */
  /* Compute the output from n inputs (most modules take one; losses take
   * input and target). Returns a new tensor or NULL with an error. */
  nb_tensor *(*forward)(nb_module *self, nb_tensor *const *inputs, int n);
  /* Release what the module's struct owns beyond parameters, buffers and
   * children (optional). */
  void (*free)(nb_module *self);
  /* One line of extra description for summaries, e.g. "in=13, out=32"
   * (optional). */
  void (*describe)(const nb_module *self, char *buf, size_t size);
} nb_module_ops;

/* The base every module starts with. Fields are managed by nb_module_*;
 * read `training` directly if convenient. */
struct nb_module {
  const nb_module_ops *ops;
  bool training;
  struct nb_module_entries *entries; /* parameters, buffers, children (private) */
};

/* A list of named tensors (names like "features.0.weight"), owned by the
 * module and valid until its structure changes or it is freed. */
typedef struct nb_named_tensors {
  int n;
  const char *const *names;
  nb_tensor *const *tensors;
} nb_named_tensors;

/* Allocate a zeroed module struct of `size` bytes (>= sizeof(nb_module)). */
NB_API nb_module *nb_module_new(const nb_module_ops *ops, size_t size);
/* Register a parameter (takes the tensor's reference, sets requires_grad) /
 * a buffer (takes the reference; NULL allowed as in PyTorch) / a child (takes
 * ownership). Names must be unique within the module and contain no '.'.
 * Each returns what it registered, or NULL with an error. */
NB_API nb_tensor *nb_module_add_parameter(nb_module *m, const char *name, nb_tensor *t);
NB_API nb_tensor *nb_module_add_buffer(nb_module *m, const char *name, nb_tensor *t);
NB_API nb_module *nb_module_add_child(nb_module *m, const char *name, nb_module *child);
/* Look up by (dotted) name; NULL if absent. */
NB_API nb_tensor *nb_module_get_parameter(nb_module *m, const char *name);
NB_API nb_tensor *nb_module_get_buffer(nb_module *m, const char *name);
NB_API nb_module *nb_module_get_child(nb_module *m, const char *name);
/* Replace a registered parameter's or buffer's tensor (e.g. when loading). */
NB_API nb_status nb_module_set_tensor(nb_module *m, const char *name, nb_tensor *t);

/* Run the module: nb_forward for one input, nb_forward_n for several. */
NB_API nb_tensor *nb_forward(nb_module *m, nb_tensor *x);
NB_API nb_tensor *nb_forward_n(nb_module *m, nb_tensor *const *inputs, int n);
/* Loss modules: nb_forward_n(loss, {input, target}, 2). */
NB_API nb_tensor *nb_loss(nb_module *loss, nb_tensor *input, nb_tensor *target);

/* All parameters / buffers / both (state-dict order: a module's own
 * parameters, then its buffers, then its children's, recursively). */
NB_API nb_named_tensors nb_module_parameters(nb_module *m);
NB_API nb_named_tensors nb_module_buffers(nb_module *m);
NB_API nb_named_tensors nb_module_state(nb_module *m);
NB_API int64_t nb_module_num_params(nb_module *m);
NB_API void nb_module_train(nb_module *m, bool training);
NB_API void nb_module_eval(nb_module *m);
NB_API void nb_module_zero_grad(nb_module *m, bool set_to_none);
NB_API const char *nb_module_type(const nb_module *m);
NB_API int nb_module_num_children(const nb_module *m);
NB_API nb_module *nb_module_child_at(const nb_module *m, int i, const char **name);
NB_API void nb_module_free(nb_module *m);

/* Print one row per module (name, type, output shape for an input of the
 * given shape, parameter count) and the totals, running a no-grad forward on
 * zeros. */
NB_API nb_status nb_module_summary(nb_module *m, nb_dtype dtype, int ndim, const int64_t *shape,
                                   FILE *f);

/* ---- containers ------------------------------------------------------------ */

/* Children named "0", "1", ...; forward chains them. Takes ownership. */
NB_API nb_module *nb_sequential_new(nb_module *const *modules, int n);
NB_API nb_status nb_sequential_append(nb_module *seq, nb_module *m);
/* ModuleList (no forward) and ModuleDict (no forward). */
NB_API nb_module *nb_module_list_new(void);
NB_API nb_status nb_module_list_append(nb_module *list, nb_module *m);
NB_API nb_module *nb_module_list_at(nb_module *list, int i);
NB_API nb_module *nb_module_dict_new(void);
NB_API nb_status nb_module_dict_set(nb_module *dict, const char *key, nb_module *m);
NB_API nb_module *nb_module_dict_get(nb_module *dict, const char *key);

/* ---- layers (PyTorch's default initialization) -------------------------------- */

typedef struct nb_layer_opts {
  bool no_bias;
  nb_dtype dtype;          /* 0 = float32 */
  nb_generator *generator; /* for initialization; NULL = default */
} nb_layer_opts;

/* Each constructor returns a new module (freed with nb_module_free, or by
 * the container that takes it) with PyTorch's parameter names, shapes and
 * default initialization, or NULL with NB_ERR_ARG naming a bad argument. */
NB_API nb_module *nb_linear_new(int64_t in_features, int64_t out_features,
                                const nb_layer_opts *opts);
NB_API nb_module *nb_bilinear_new(int64_t in1, int64_t in2, int64_t out, const nb_layer_opts *opts);
NB_API nb_module *nb_flatten_new(int start_dim, int end_dim);
NB_API nb_module *nb_unflatten_new(int dim, int nsizes, const int64_t *sizes);
NB_API nb_module *nb_identity_new(void);
NB_API nb_module *nb_dropout_new(double p);
NB_API nb_module *nb_embedding_new(int64_t num_embeddings, int64_t dim, const nb_layer_opts *opts);

/* Activations as modules. */
NB_API nb_module *nb_relu_new(void);
NB_API nb_module *nb_leaky_relu_new(double negative_slope);
NB_API nb_module *nb_elu_new(double alpha);
NB_API nb_module *nb_gelu_new(bool tanh_approx);
NB_API nb_module *nb_silu_new(void);
NB_API nb_module *nb_sigmoid_new(void);
NB_API nb_module *nb_tanh_new(void);
NB_API nb_module *nb_softplus_new(double beta, double threshold);
NB_API nb_module *nb_softmax_new(int dim);
NB_API nb_module *nb_log_softmax_new(int dim);

/* ---- initialization (in place, under no-grad; g NULL = default generator) ---- */

typedef enum nb_fan_mode { NB_FAN_IN, NB_FAN_OUT, NB_FAN_MODE_COUNT } nb_fan_mode;
/* torch.nn.init.calculate_gain: "linear", "conv2d", "sigmoid", "tanh",
 * "relu", "leaky_relu" (param = slope), "selu". NAN for an unknown name. */
NB_API double nb_calculate_gain(const char *nonlinearity, double param);
NB_API nb_status nb_init_uniform_(nb_tensor *t, double a, double b, nb_generator *g);
NB_API nb_status nb_init_normal_(nb_tensor *t, double mean, double std, nb_generator *g);
NB_API nb_status nb_init_constant_(nb_tensor *t, double value);
NB_API nb_status nb_init_zeros_(nb_tensor *t);
NB_API nb_status nb_init_ones_(nb_tensor *t);
NB_API nb_status nb_init_xavier_uniform_(nb_tensor *t, double gain, nb_generator *g);
NB_API nb_status nb_init_xavier_normal_(nb_tensor *t, double gain, nb_generator *g);
NB_API nb_status nb_init_kaiming_uniform_(nb_tensor *t, double a, nb_fan_mode mode,
                                          const char *nonlinearity, nb_generator *g);
NB_API nb_status nb_init_kaiming_normal_(nb_tensor *t, double a, nb_fan_mode mode,
                                         const char *nonlinearity, nb_generator *g);
NB_API nb_status nb_init_orthogonal_(nb_tensor *t, double gain, nb_generator *g);
NB_API nb_status nb_init_trunc_normal_(nb_tensor *t, double mean, double std, double a, double b,
                                       nb_generator *g);

/* ---- state dicts (safetensors) ------------------------------------------------ */

/* Write tensors as a safetensors file atomically (temporary file, then
 * rename): the previous file survives any failure. */
NB_API nb_status nb_safetensors_save(const char *path, nb_named_tensors tensors);
/* Read every tensor of a safetensors file: *out gets a list the caller frees
 * with nb_named_tensors_free. Truncated or corrupt files are NB_ERR_FORMAT
 * naming the path and the problem. */
NB_API nb_status nb_safetensors_load(const char *path, nb_named_tensors *out);
NB_API void nb_named_tensors_free(nb_named_tensors *list);

/* Save the module's state (parameters and buffers, PyTorch's names). */
NB_API nb_status nb_module_save(nb_module *m, const char *path);
/* Load a state dict into the module, checking every name, shape and dtype
 * and reporting all mismatches at once (missing keys, unexpected keys, shape
 * and dtype differences). strict = false ignores missing and unexpected keys
 * but not shape/dtype mismatches. Nothing is changed unless all checks pass. */
NB_API nb_status nb_module_load(nb_module *m, const char *path, bool strict);

#ifdef __cplusplus
}
#endif

#include "nn/layers.h"

#endif /* NABLA_NN_H */
