/* nn/nn_impl.h - nn internals shared by the nn/ sources (never installed).
 *
 * Owns: the small helpers every layer file needs (errors in nabla's style
 * built on the public error API, shape strings, layer options, creating and
 * initializing parameters), the hook that lets nb_forward report output
 * shapes to an active summary, and the child replacement ModuleDict uses.
 * nn/ calls only the public API of tensor/ and autograd/.
 */
#ifndef NABLA_NN_IMPL_H
#define NABLA_NN_IMPL_H

#include "nn/nn.h"

#define NB_NN_INTERNAL __attribute__((visibility("hidden")))

/* ---- errors ----------------------------------------------------------------- */

/* For a NULL input (tensor or module): keep an earlier error if one is set,
 * else record "<op>: <what> is NULL". Returns NB_ERR_NULL. */
NB_NN_INTERNAL nb_status nb__nn_null(const char *op, const char *what);
/* Prefix the current error message with "<op>: " (keeping its status, which
 * is returned) so a failure inside a helper names the public call. */
NB_NN_INTERNAL nb_status nb__nn_prefix_error(const char *op);
/* Short-lived shape strings for error messages ("[2, 3]"; "NULL" for NULL):
 * up to 4 per message. */
NB_NN_INTERNAL const char *nb__nn_shp(const nb_tensor *t);
/* Same for a shape given as sizes. */
NB_NN_INTERNAL const char *nb__nn_dims(int ndim, const int64_t *shape);

/* ---- layers ----------------------------------------------------------------- */

/* Check that a layer's dtype (0 = float32) is floating: NB_ERR_DTYPE naming
 * op otherwise. */
NB_NN_INTERNAL nb_status nb__nn_check_dtype(const char *op, nb_dtype dtype);
/* Check that a module got exactly `want` inputs: NB_ERR_ARG naming its type. */
NB_NN_INTERNAL nb_status nb__nn_check_arity(const nb_module *m, int n, int want);
/* Make an uninitialized parameter of the given shape and register it on m.
 * Returns it (borrowed from m) or NULL with an error. */
NB_NN_INTERNAL nb_tensor *nb__nn_new_param(nb_module *m, const char *name, nb_dtype dtype, int ndim,
                                           const int64_t *shape);
/* A new tensor that is x (a view with x's shape, differentiable): what
 * Identity and friends return, so that outputs are always new references. */
NB_NN_INTERNAL nb_tensor *nb__nn_alias(nb_tensor *x);
/* PyTorch's reset_parameters for Linear and Conv layers: weight
 * kaiming_uniform_(a = sqrt(5)), i.e. U(+-1/sqrt(fan_in)), and bias (may be
 * NULL) U(+-1/sqrt(fan_in)) (0 when fan_in is 0). */
NB_NN_INTERNAL nb_status nb__nn_init_affine(nb_tensor *weight, nb_tensor *bias, nb_generator *g);
/* torch.nn.init._calculate_fan_in_and_fan_out: fan_in = size(1) * receptive
 * field, fan_out = size(0) * receptive field; NB_ERR_SHAPE below 2 dims. */
NB_NN_INTERNAL nb_status nb__nn_fans(const char *op, const nb_tensor *t, int64_t *fan_in,
                                     int64_t *fan_out);

/* ---- module internals ----------------------------------------------------------- */

/* Replace m's i-th child by `child` (keeping its name and position) and free
 * the old one. Takes ownership of child in every case. */
NB_NN_INTERNAL nb_status nb__module_replace_child(nb_module *m, int i, nb_module *child);
/* Free m unless it belongs to a tree (has a parent, or is `near` or one of
 * its ancestors; near may be NULL): what a function that takes ownership of
 * a module does with it when it fails. */
NB_NN_INTERNAL void nb__module_discard(nb_module *m, const nb_module *near);
/* Index of m's child named `name` (no dots), or -1. */
NB_NN_INTERNAL int nb__module_child_index(const nb_module *m, const char *name);

/* ---- summary recorder --------------------------------------------------------- */

/* Called by nb_forward_n after every successful module call: when a summary
 * is running on this thread, remembers out's shape for m. */
NB_NN_INTERNAL void nb__summary_note(const nb_module *m, const nb_tensor *out);

#endif /* NABLA_NN_IMPL_H */
