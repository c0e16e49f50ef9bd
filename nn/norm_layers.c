/* nn/norm_layers.c - the BatchNorm1d, BatchNorm2d, LayerNorm and GroupNorm
 * modules.
 *
 * Owns: their constructors (PyTorch's names: parameters "weight" (ones) and
 * "bias" (zeros) unless no_affine; BatchNorm buffers "running_mean" (zeros),
 * "running_var" (ones) and the int64 0-d "num_batches_tracked" unless
 * no_running_stats), forwards (the differentiable ops of autograd/ops_nn.h)
 * and descriptions (PyTorch's extra_repr). BatchNorm in training normalizes
 * with the batch statistics and, when it tracks running statistics, updates
 * them (momentum) and counts the batch; in eval it uses the running
 * statistics, or the batch's when it tracks none - as PyTorch. The four share
 * one struct and one table of ops indexed by kind.
 */
#include "nn/nn_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef enum norm_kind { NORM_BATCH1D, NORM_BATCH2D, NORM_LAYER, NORM_GROUP, NORM_COUNT } norm_kind;

typedef struct norm {
  nb_module base;
  norm_kind kind;
  double eps, momentum;
  bool affine, track;
  int64_t channels; /* BatchNorm num_features, GroupNorm num_channels */
  int64_t groups;   /* GroupNorm */
  int nnorm;        /* LayerNorm normalized_shape */
  int64_t shape[NB_MAX_DIMS];
} norm;

/* ---- description ---------------------------------------------------------------- */

static const char *py_bool(bool b) { return b ? "True" : "False"; }

static void norm_describe(const nb_module *self, char *buf, size_t size) {
  const norm *m = (const norm *)self;
  switch (m->kind) {
  case NORM_BATCH1D:
  case NORM_BATCH2D:
    snprintf(buf, size, "%lld, eps=%g, momentum=%g, affine=%s, track_running_stats=%s",
             (long long)m->channels, m->eps, m->momentum, py_bool(m->affine), py_bool(m->track));
    break;
  case NORM_LAYER: {
    char shape[160] = "(";
    size_t len = 1;
    for (int i = 0; i < m->nnorm && len < sizeof shape; i++)
      len += (size_t)snprintf(shape + len, sizeof shape - len, "%s%lld", i ? ", " : "",
                              (long long)m->shape[i]);
    if (len < sizeof shape) snprintf(shape + len, sizeof shape - len, m->nnorm == 1 ? ",)" : ")");
    snprintf(buf, size, "%s, eps=%g, elementwise_affine=%s", shape, m->eps, py_bool(m->affine));
    break;
  }
  case NORM_GROUP:
    snprintf(buf, size, "%lld, %lld, eps=%g, affine=%s", (long long)m->groups,
             (long long)m->channels, m->eps, py_bool(m->affine));
    break;
  case NORM_COUNT: buf[0] = '\0'; break;
  }
}

/* "BatchNorm2d(4, eps=1e-05, ...)": how errors name the layer. */
static const char *norm_repr(const nb_module *self, char *buf, size_t size) {
  int len = snprintf(buf, size, "%s(", self->ops->type_name);
  norm_describe(self, buf + len, size - (size_t)len - 1);
  strcat(buf, ")");
  return buf;
}

/* ---- forward ------------------------------------------------------------------------ */

/* Input dims a layer accepts ([N, C] or [N, C, L]; [N, C, H, W]; [N, C, ...])
 * and their spelling in errors. */
static bool input_ok(const norm *m, const nb_tensor *x, const char **want) {
  int nd = nb_ndim(x);
  switch (m->kind) {
  case NORM_BATCH1D: *want = "[N, %lld] or [N, %lld, L]"; return nd == 2 || nd == 3;
  case NORM_BATCH2D: *want = "[N, %lld, H, W]"; return nd == 4;
  default: *want = "[N, %lld, ...]"; return nd >= 2;
  }
}

static nb_tensor *batch_norm_forward(nb_module *self, nb_tensor *x) {
  norm *m = (norm *)self;
  nb_tensor *w = m->affine ? nb_module_get_parameter(self, "weight") : NULL;
  nb_tensor *b = m->affine ? nb_module_get_parameter(self, "bias") : NULL;
  nb_tensor *mean = m->track ? nb_module_get_buffer(self, "running_mean") : NULL;
  nb_tensor *var = m->track ? nb_module_get_buffer(self, "running_var") : NULL;
  /* Batch statistics in training, and in eval without running statistics;
   * only training updates the running ones. */
  nb_batch_norm_opts o = {
      .training = self->training || !m->track, .momentum = m->momentum, .eps = m->eps};
  nb_tensor *y = nb_batch_norm(x, mean, var, w, b, &o);
  if (y && self->training && m->track &&
      nb_add_scalar_(nb_module_get_buffer(self, "num_batches_tracked"), 1.0) != NB_OK) {
    nb_free(y);
    return NULL;
  }
  return y;
}

static nb_tensor *norm_forward(nb_module *self, nb_tensor *const *in, int n) {
  const norm *m = (const norm *)self;
  if (nb__nn_check_arity(self, n, 1) != NB_OK) return NULL;
  nb_tensor *x = in[0];
  char name[320];
  if (m->kind != NORM_LAYER) {
    const char *want;
    if (!input_ok(m, x, &want) || nb_size(x, 1) != m->channels) {
      char expect[96];
      snprintf(expect, sizeof expect, want, (long long)m->channels, (long long)m->channels);
      nb_set_error(NB_ERR_SHAPE, "%s: expected input %s, got %s",
                   norm_repr(self, name, sizeof name), expect, nb__nn_shp(x));
      return NULL;
    }
  }
  nb_tensor *w = m->affine ? nb_module_get_parameter(self, "weight") : NULL;
  nb_tensor *b = m->affine ? nb_module_get_parameter(self, "bias") : NULL;
  /* As PyTorch, the input's dtype must be the layer's (when it has tensors). */
  nb_tensor *own = w ? w : m->track ? nb_module_get_buffer(self, "running_mean") : NULL;
  if (own && nb_dtype_of(x) != nb_dtype_of(own)) {
    nb_set_error(NB_ERR_DTYPE, "%s: input %s is %s but the layer is %s",
                 norm_repr(self, name, sizeof name), nb__nn_shp(x), nb_dtype_name(nb_dtype_of(x)),
                 nb_dtype_name(nb_dtype_of(own)));
    return NULL;
  }
  nb_tensor *y = NULL;
  switch (m->kind) {
  case NORM_BATCH1D:
  case NORM_BATCH2D: y = batch_norm_forward(self, x); break;
  case NORM_LAYER: y = nb_layer_norm(x, m->nnorm, m->shape, w, b, m->eps); break;
  case NORM_GROUP: y = nb_group_norm(x, m->groups, w, b, m->eps); break;
  case NORM_COUNT: nb_set_error(NB_ERR_ARG, "forward: invalid norm kind %d", (int)m->kind); break;
  }
  if (!y) nb__nn_prefix_error(norm_repr(self, name, sizeof name));
  return y;
}

#define NORM_OPS(KIND, NAME)                                                                       \
  [KIND] = {.type_name = NAME, .forward = norm_forward, .describe = norm_describe}
static const nb_module_ops norm_ops[NORM_COUNT] = {
    NORM_OPS(NORM_BATCH1D, "BatchNorm1d"),
    NORM_OPS(NORM_BATCH2D, "BatchNorm2d"),
    NORM_OPS(NORM_LAYER, "LayerNorm"),
    NORM_OPS(NORM_GROUP, "GroupNorm"),
};
#undef NORM_OPS

/* ---- construction ---------------------------------------------------------------------- */

/* Register t (a new reference, may be NULL after a failure) filled with value
 * as a parameter or buffer of m. */
static bool add_filled(nb_module *m, const char *name, bool param, nb_tensor *t, double value) {
  if (!t || nb_fill_(t, value) != NB_OK) {
    nb_free(t);
    return false;
  }
  return (param ? nb_module_add_parameter(m, name, t) : nb_module_add_buffer(m, name, t)) != NULL;
}

/* Make the module after checking the options: affine parameters of the given
 * shape (ones and zeros) and, for BatchNorm, the running statistics. */
static nb_module *norm_new(norm proto, const char *op, const nb_norm_opts *opts, int pdims,
                           const int64_t *pshape) {
  nb_norm_opts o = opts ? *opts : (nb_norm_opts){0};
  if (nb__nn_check_dtype(op, o.dtype) != NB_OK) return NULL;
  if (!(o.eps >= 0) || !isfinite(o.eps) || !(o.momentum >= 0 && o.momentum <= 1)) {
    nb_set_error(NB_ERR_ARG, "%s: eps %g must be >= 0 (0 = 1e-5) and momentum %g in [0, 1]", op,
                 o.eps, o.momentum);
    return NULL;
  }
  for (int i = 0; i < pdims; i++)
    if (pshape[i] < 0) {
      nb_set_error(NB_ERR_ARG, "%s: sizes must be >= 0, got %s", op, nb__nn_dims(pdims, pshape));
      return NULL;
    }
  bool batch = proto.kind == NORM_BATCH1D || proto.kind == NORM_BATCH2D;
  proto.eps = o.eps != 0 ? o.eps : 1e-5;
  proto.momentum = o.momentum != 0 ? o.momentum : 0.1;
  proto.affine = !o.no_affine;
  proto.track = batch && !o.no_running_stats;
  norm *m = (norm *)nb_module_new(&norm_ops[proto.kind], sizeof(norm));
  if (!m) return NULL;
  proto.base = m->base;
  *m = proto;
  nb_module *base = &m->base;
  bool ok = !m->affine || (add_filled(base, "weight", true, nb_empty(o.dtype, pdims, pshape), 1) &&
                           add_filled(base, "bias", true, nb_empty(o.dtype, pdims, pshape), 0));
  if (ok && m->track)
    ok = add_filled(base, "running_mean", false, nb_empty(o.dtype, pdims, pshape), 0) &&
         add_filled(base, "running_var", false, nb_empty(o.dtype, pdims, pshape), 1) &&
         add_filled(base, "num_batches_tracked", false, nb_empty(NB_DTYPE_INT64, NB_SCALAR_SHAPE),
                    0);
  if (!ok) {
    nb_module_free(base);
    return NULL;
  }
  return base;
}

nb_module *nb_batch_norm1d_new(int64_t features, const nb_norm_opts *opts) {
  return norm_new((norm){.kind = NORM_BATCH1D, .channels = features}, "batch_norm1d_new", opts, 1,
                  &features);
}

nb_module *nb_batch_norm2d_new(int64_t features, const nb_norm_opts *opts) {
  return norm_new((norm){.kind = NORM_BATCH2D, .channels = features}, "batch_norm2d_new", opts, 1,
                  &features);
}

nb_module *nb_layer_norm_new(int ndims, const int64_t *normalized_shape, const nb_norm_opts *opts) {
  static const char op[] = "layer_norm_new";
  if (ndims < 1 || ndims > NB_MAX_DIMS || !normalized_shape) {
    nb_set_error(NB_ERR_ARG, "%s: normalized_shape needs 1 to %d sizes, got %d", op, NB_MAX_DIMS,
                 ndims);
    return NULL;
  }
  norm proto = {.kind = NORM_LAYER, .nnorm = ndims};
  memcpy(proto.shape, normalized_shape, sizeof(int64_t) * (size_t)ndims);
  return norm_new(proto, op, opts, ndims, normalized_shape);
}

nb_module *nb_group_norm_new(int64_t groups, int64_t channels, const nb_norm_opts *opts) {
  static const char op[] = "group_norm_new";
  if (groups <= 0 || channels < 0 || channels % groups != 0) {
    nb_set_error(NB_ERR_ARG, "%s: num_channels %lld must be divisible by num_groups %lld (> 0)", op,
                 (long long)channels, (long long)groups);
    return NULL;
  }
  return norm_new((norm){.kind = NORM_GROUP, .channels = channels, .groups = groups}, op, opts, 1,
                  &channels);
}
