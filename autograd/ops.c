/* autograd/ops.c - the op table built from ops.def, and shared op helpers.
 *
 * Owns: nb__op_def / nb__op_sample (the table the gradient-check test walks),
 * the sample-building helpers every family uses, and nb__sum_to (reducing a
 * broadcast gradient to its input's shape, differentiably).
 */
#include "autograd/op_impl.h"

#include <string.h>

#define NB_OP(name) [NB_OP_##name] = &nb__op_##name,
static const nb_op_def *const op_table[NB_OP_COUNT] = {
#include "autograd/ops.def"
};
#undef NB_OP

#define NB_OP(name) [NB_OP_##name] = nb__sample_##name,
static nb_status (*const sample_table[NB_OP_COUNT])(nb_op_sample *) = {
#include "autograd/ops.def"
};
#undef NB_OP

const nb_op_def *nb__op_def(nb_op_id id) {
  return (unsigned)id < NB_OP_COUNT ? op_table[id] : NULL;
}

nb_status nb__op_sample(nb_op_id id, nb_op_sample *sample) {
  if ((unsigned)id >= NB_OP_COUNT) return nb__fail(NB_ERR_ARG, "op_sample: bad op id %d", (int)id);
  memset(sample, 0, sizeof *sample);
  return sample_table[id](sample);
}

nb_tensor *nb__sample_input(nb_op_sample *s, bool requires_grad, int ndim, const int64_t *shape) {
  nb_tensor *t = nb_keep(nb_randn(NB_DTYPE_FLOAT64, ndim, shape, NULL));
  if (!t) return NULL;
  if (requires_grad) nb_requires_grad_(t, true);
  s->inputs[s->ninputs++] = t;
  return t;
}

nb_tensor *nb__sample_apply(nb_tensor *const *inputs, int n, void *user) {
  const nb_sample_call *call = user;
  return nb_apply(call->def, n, inputs, call->params);
}

nb_tensor *nb__sum_to(nb_tensor *g, int ndim, const int64_t *shape) {
  NB_CHECK_NULL("sum_to", g);
  if (g->ndim < ndim)
    return nb__fail_null(NB_ERR_SHAPE, "sum_to: %s has fewer dims than target", nb__shp(g));
  int dims[NB_MAX_DIMS], n = 0, lead = g->ndim - ndim;
  for (int d = 0; d < g->ndim; d++) {
    if (d < lead) {
      dims[n++] = d;
    } else if (shape[d - lead] == 1 && g->shape[d] != 1) {
      dims[n++] = d;
    } else if (shape[d - lead] != g->shape[d]) {
      char buf[160];
      return nb__fail_null(NB_ERR_SHAPE, "sum_to: %s does not reduce to %s", nb__shp(g),
                           nb__dims_str(ndim, shape, buf, sizeof buf));
    }
  }
  if (n == 0) return nb_reshape(g, ndim, shape);
  nb_tensor *s = nb_sum(g, dims, n, true);
  nb_tensor *r = nb_reshape(s, ndim, shape);
  nb_free(s);
  return r;
}
