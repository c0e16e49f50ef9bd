/* autograd/op_impl.h - what every op family file includes (never installed).
 *
 * Owns: the macros that define an op's table entry from its forward and
 * backward, and the helpers for gradcheck samples.
 */
#ifndef NABLA_OP_COMMON_H
#define NABLA_OP_COMMON_H

#include "autograd/autograd_impl.h"

/* Define the table entry nb__op_NAME from NAME_forward / NAME_backward. */
#define NB_DEFINE_OP(NAME, NINPUTS, FLAGS)                                                         \
  const nb_op_def nb__op_##NAME = {#NAME, NINPUTS, NAME##_forward, NAME##_backward, 0, FLAGS}
/* Same, for an op with a typed params struct. */
#define NB_DEFINE_OP_P(NAME, NINPUTS, PARAMS, FLAGS)                                               \
  const nb_op_def nb__op_##NAME = {#NAME,           NINPUTS,        NAME##_forward,                \
                                   NAME##_backward, sizeof(PARAMS), FLAGS}

/* A sample's call: apply def with params (static storage in the sample). */
typedef struct nb_sample_call {
  const nb_op_def *def;
  void *params;
} nb_sample_call;

/* Add a float64 randn input of the given shape to the sample (kept outside
 * any scope; the test frees sample inputs). */
NB_INTERNAL nb_tensor *nb__sample_input(nb_op_sample *s, bool requires_grad, int ndim,
                                        const int64_t *shape);
/* gradcheck function applying ((nb_sample_call *)user)->def. */
NB_INTERNAL nb_tensor *nb__sample_apply(nb_tensor *const *inputs, int n, void *user);

/* Set the sample to call op NAME with params P (a static object or NULL). */
#define NB_SAMPLE_CALL(S, NAME, P)                                                                 \
  do {                                                                                             \
    static nb_sample_call call_;                                                                   \
    call_ = (nb_sample_call){&nb__op_##NAME, (P)};                                                 \
    (S)->fn = nb__sample_apply;                                                                    \
    (S)->user = &call_;                                                                            \
  } while (0)

#endif
