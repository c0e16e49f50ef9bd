/* nn/basic_layers.c - Linear, Bilinear, Embedding and the parameter-free
 * modules (Identity, Flatten, Unflatten, Dropout, activations).
 *
 * Owns: those layers' constructors (PyTorch's parameter names, shapes and
 * default initialization), forwards (built from differentiable autograd ops,
 * so gradients of every order come for free) and descriptions (PyTorch's
 * extra_repr). The parameter-free modules share one struct and one table of
 * ops indexed by kind.
 */
#include "nn/nn_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- shared helpers -------------------------------------------------------------- */

nb_tensor *nb__nn_alias(nb_tensor *x) { return nb_expand(x, nb_ndim(x), nb_shape(x)); }

nb_tensor *nb__nn_new_param(nb_module *m, const char *name, nb_dtype dtype, int ndim,
                            const int64_t *shape) {
  return nb_module_add_parameter(m, name, nb_empty(dtype, ndim, shape));
}

/* Layer options with the defaults filled in, after checking sizes >= 0 and
 * the dtype. NB_OK or an error naming op. */
static nb_status layer_opts(const char *op, const nb_layer_opts *in, nb_layer_opts *out, int nsizes,
                            const int64_t *sizes) {
  *out = in ? *in : (nb_layer_opts){0};
  for (int i = 0; i < nsizes; i++)
    if (sizes[i] < 0)
      return nb_set_error(NB_ERR_ARG, "%s: sizes must be >= 0, got %lld", op, (long long)sizes[i]);
  return nb__nn_check_dtype(op, out->dtype);
}

/* Free a half-built module and return NULL (its constructor failed). */
static nb_module *fail_module(nb_module *m) {
  nb_module_free(m);
  return NULL;
}

/* ---- Linear ---------------------------------------------------------------------------- */

typedef struct linear {
  nb_module base;
  int64_t in, out;
  bool bias;
} linear;

static nb_tensor *linear_forward(nb_module *self, nb_tensor *const *in, int n) {
  const linear *l = (const linear *)self;
  if (nb__nn_check_arity(self, n, 1) != NB_OK) return NULL;
  nb_tensor *x = in[0];
  if (nb_ndim(x) < 1 || nb_size(x, -1) != l->in) {
    nb_set_error(NB_ERR_SHAPE,
                 "Linear(in_features=%lld, out_features=%lld): input %s does not "
                 "end in %lld features",
                 (long long)l->in, (long long)l->out, nb__nn_shp(x), (long long)l->in);
    return NULL;
  }
  nb_tensor *b = l->bias ? nb_module_get_parameter(self, "bias") : NULL;
  return nb_linear(x, nb_module_get_parameter(self, "weight"), b);
}

static void linear_describe(const nb_module *self, char *buf, size_t size) {
  const linear *l = (const linear *)self;
  snprintf(buf, size, "in_features=%lld, out_features=%lld, bias=%s", (long long)l->in,
           (long long)l->out, l->bias ? "True" : "False");
}

static const nb_module_ops linear_ops = {
    .type_name = "Linear", .forward = linear_forward, .describe = linear_describe};

nb_module *nb_linear_new(int64_t in_features, int64_t out_features, const nb_layer_opts *opts) {
  nb_layer_opts o;
  if (layer_opts("linear_new", opts, &o, 2, (int64_t[]){in_features, out_features}) != NB_OK)
    return NULL;
  linear *l = (linear *)nb_module_new(&linear_ops, sizeof(linear));
  if (!l) return NULL;
  *l = (linear){.base = l->base, .in = in_features, .out = out_features, .bias = !o.no_bias};
  nb_tensor *w = nb__nn_new_param(&l->base, "weight", o.dtype, NB_SHAPE(out_features, in_features));
  nb_tensor *b =
      l->bias ? nb__nn_new_param(&l->base, "bias", o.dtype, NB_SHAPE(out_features)) : NULL;
  if (!w || (l->bias && !b) || nb__nn_init_affine(w, b, o.generator) != NB_OK)
    return fail_module(&l->base);
  return &l->base;
}

/* ---- Bilinear ----------------------------------------------------------------------------- */

typedef struct bilinear {
  nb_module base;
  int64_t in1, in2, out;
  bool bias;
} bilinear;

/* y[..., o] = sum_ij x1[..., i] W[o, i, j] x2[..., j] + b[o], as two matrix
 * products: t = x2 @ W.view(out * in1, in2)^T viewed [N, out, in1], then
 * y = t @ x1[..., None]. */
static nb_tensor *bilinear_forward(nb_module *self, nb_tensor *const *in, int n) {
  const bilinear *l = (const bilinear *)self;
  if (nb__nn_check_arity(self, n, 2) != NB_OK) return NULL;
  nb_tensor *x1 = in[0], *x2 = in[1];
  int nd = nb_ndim(x1);
  if (nd < 1 || nb_ndim(x2) != nd || nb_size(x1, -1) != l->in1 || nb_size(x2, -1) != l->in2 ||
      memcmp(nb_shape(x1), nb_shape(x2), sizeof(int64_t) * (size_t)(nd - 1)) != 0) {
    nb_set_error(NB_ERR_SHAPE,
                 "Bilinear(in1_features=%lld, in2_features=%lld): inputs %s and %s "
                 "must end in %lld and %lld features with equal leading dims",
                 (long long)l->in1, (long long)l->in2, nb__nn_shp(x1), nb__nn_shp(x2),
                 (long long)l->in1, (long long)l->in2);
    return NULL;
  }
  int64_t rows = 1, shape[NB_MAX_DIMS];
  for (int i = 0; i < nd - 1; i++) rows *= (shape[i] = nb_shape(x1)[i]);
  shape[nd - 1] = l->out;
  nb_tensor *w = nb_module_get_parameter(self, "weight");
  nb_tensor *w2 = nb_reshape(w, NB_SHAPE(l->out * l->in1, l->in2));
  nb_tensor *wt = nb_t(w2);
  nb_tensor *a2 = nb_reshape(x2, NB_SHAPE(rows, l->in2));
  nb_tensor *t = nb_matmul(a2, wt);
  nb_tensor *t3 = nb_reshape(t, NB_SHAPE(rows, l->out, l->in1));
  nb_tensor *a1 = nb_reshape(x1, NB_SHAPE(rows, l->in1, 1));
  nb_tensor *y3 = nb_matmul(t3, a1);
  nb_tensor *y = nb_reshape(y3, nd, shape);
  nb_free(w2);
  nb_free(wt);
  nb_free(a2);
  nb_free(t);
  nb_free(t3);
  nb_free(a1);
  nb_free(y3);
  if (!l->bias) return y;
  nb_tensor *out = nb_add(y, nb_module_get_parameter(self, "bias"));
  nb_free(y);
  return out;
}

static void bilinear_describe(const nb_module *self, char *buf, size_t size) {
  const bilinear *l = (const bilinear *)self;
  snprintf(buf, size, "in1_features=%lld, in2_features=%lld, out_features=%lld, bias=%s",
           (long long)l->in1, (long long)l->in2, (long long)l->out, l->bias ? "True" : "False");
}

static const nb_module_ops bilinear_ops = {
    .type_name = "Bilinear", .forward = bilinear_forward, .describe = bilinear_describe};

nb_module *nb_bilinear_new(int64_t in1, int64_t in2, int64_t out, const nb_layer_opts *opts) {
  nb_layer_opts o;
  if (layer_opts("bilinear_new", opts, &o, 3, (int64_t[]){in1, in2, out}) != NB_OK) return NULL;
  bilinear *l = (bilinear *)nb_module_new(&bilinear_ops, sizeof(bilinear));
  if (!l) return NULL;
  *l = (bilinear){.base = l->base, .in1 = in1, .in2 = in2, .out = out, .bias = !o.no_bias};
  nb_tensor *w = nb__nn_new_param(&l->base, "weight", o.dtype, NB_SHAPE(out, in1, in2));
  nb_tensor *b = l->bias ? nb__nn_new_param(&l->base, "bias", o.dtype, NB_SHAPE(out)) : NULL;
  /* PyTorch: weight and bias U(+-1/sqrt(in1)). */
  double bound = in1 > 0 ? 1.0 / sqrt((double)in1) : 0.0;
  if (!w || (l->bias && !b) || nb_init_uniform_(w, -bound, bound, o.generator) != NB_OK ||
      (b && nb_init_uniform_(b, -bound, bound, o.generator) != NB_OK))
    return fail_module(&l->base);
  return &l->base;
}

/* ---- Embedding ------------------------------------------------------------------------------ */

typedef struct embedding {
  nb_module base;
  int64_t num, dim;
} embedding;

static nb_tensor *embedding_forward(nb_module *self, nb_tensor *const *in, int n) {
  if (nb__nn_check_arity(self, n, 1) != NB_OK) return NULL;
  return nb_embedding(nb_module_get_parameter(self, "weight"), in[0], NULL);
}

static void embedding_describe(const nb_module *self, char *buf, size_t size) {
  const embedding *e = (const embedding *)self;
  snprintf(buf, size, "%lld, %lld", (long long)e->num, (long long)e->dim);
}

static const nb_module_ops embedding_ops = {
    .type_name = "Embedding", .forward = embedding_forward, .describe = embedding_describe};

nb_module *nb_embedding_new(int64_t num_embeddings, int64_t dim, const nb_layer_opts *opts) {
  nb_layer_opts o;
  if (layer_opts("embedding_new", opts, &o, 2, (int64_t[]){num_embeddings, dim}) != NB_OK)
    return NULL;
  embedding *e = (embedding *)nb_module_new(&embedding_ops, sizeof(embedding));
  if (!e) return NULL;
  e->num = num_embeddings;
  e->dim = dim;
  nb_tensor *w = nb__nn_new_param(&e->base, "weight", o.dtype, NB_SHAPE(num_embeddings, dim));
  if (!w || nb_init_normal_(w, 0.0, 1.0, o.generator) != NB_OK) return fail_module(&e->base);
  return &e->base;
}

/* ---- parameter-free modules --------------------------------------------------------------- */

typedef enum simple_kind {
  SIMPLE_IDENTITY,
  SIMPLE_FLATTEN,
  SIMPLE_UNFLATTEN,
  SIMPLE_DROPOUT,
  SIMPLE_RELU,
  SIMPLE_LEAKY_RELU,
  SIMPLE_ELU,
  SIMPLE_GELU,
  SIMPLE_SILU,
  SIMPLE_SIGMOID,
  SIMPLE_TANH,
  SIMPLE_SOFTPLUS,
  SIMPLE_SOFTMAX,
  SIMPLE_LOG_SOFTMAX,
  SIMPLE_COUNT
} simple_kind;

typedef struct simple {
  nb_module base;
  simple_kind kind;
  double a, b; /* dropout p, slope, alpha, beta and threshold */
  int d0, d1;  /* flatten start / end, unflatten / softmax dim */
  bool flag;   /* gelu tanh approximation */
  int nsizes;  /* unflatten */
  int64_t sizes[NB_MAX_DIMS];
} simple;

/* x's shape with dim d replaced by the unflatten sizes (-1 resolved). */
static nb_tensor *unflatten(const simple *s, nb_tensor *x) {
  int nd = nb_ndim(x), d = s->d0 < 0 ? s->d0 + nd : s->d0;
  const char *why = NULL;
  int64_t shape[NB_MAX_DIMS], known = 1;
  int infer = -1;
  if (d < 0 || d >= nd)
    why = "dim is out of range";
  else if (nd - 1 + s->nsizes > NB_MAX_DIMS)
    why = "too many dims";
  for (int i = 0; !why && i < s->nsizes; i++) {
    if (s->sizes[i] == -1)
      infer = i;
    else
      known *= s->sizes[i];
  }
  if (!why) {
    int64_t size = nb_size(x, d);
    if (infer >= 0 ? (known == 0 || size % known != 0) : known != size)
      why = "the sizes do not multiply to the dim's size";
    int o = 0;
    for (int i = 0; i < d; i++) shape[o++] = nb_shape(x)[i];
    for (int i = 0; i < s->nsizes && !why; i++)
      shape[o++] = i == infer ? size / known : s->sizes[i];
    for (int i = d + 1; i < nd; i++) shape[o++] = nb_shape(x)[i];
  }
  if (why) {
    nb_set_error(NB_ERR_SHAPE, "Unflatten(dim=%d, unflattened_size=%s): input %s: %s", s->d0,
                 nb__nn_dims(s->nsizes, s->sizes), nb__nn_shp(x), why);
    return NULL;
  }
  return nb_reshape(x, nd - 1 + s->nsizes, shape);
}

static nb_tensor *simple_forward(nb_module *self, nb_tensor *const *in, int n) {
  const simple *s = (const simple *)self;
  if (nb__nn_check_arity(self, n, 1) != NB_OK) return NULL;
  nb_tensor *x = in[0];
  switch (s->kind) {
  case SIMPLE_IDENTITY: return nb__nn_alias(x);
  case SIMPLE_FLATTEN: return nb_flatten(x, s->d0, s->d1);
  case SIMPLE_UNFLATTEN: return unflatten(s, x);
  case SIMPLE_DROPOUT: return nb_dropout(x, s->a, self->training, NULL);
  case SIMPLE_RELU: return nb_relu(x);
  case SIMPLE_LEAKY_RELU: return nb_leaky_relu(x, s->a);
  case SIMPLE_ELU: return nb_elu(x, s->a);
  case SIMPLE_GELU: return nb_gelu(x, s->flag);
  case SIMPLE_SILU: return nb_silu(x);
  case SIMPLE_SIGMOID: return nb_sigmoid(x);
  case SIMPLE_TANH: return nb_tanh(x);
  case SIMPLE_SOFTPLUS: return nb_softplus(x, s->a, s->b);
  case SIMPLE_SOFTMAX: return nb_softmax(x, s->d0);
  case SIMPLE_LOG_SOFTMAX: return nb_log_softmax(x, s->d0);
  case SIMPLE_COUNT: break;
  }
  nb_set_error(NB_ERR_ARG, "forward: invalid module kind %d", (int)s->kind);
  return NULL;
}

static void simple_describe(const nb_module *self, char *buf, size_t size) {
  const simple *s = (const simple *)self;
  buf[0] = '\0';
  switch (s->kind) {
  case SIMPLE_FLATTEN: snprintf(buf, size, "start_dim=%d, end_dim=%d", s->d0, s->d1); break;
  case SIMPLE_UNFLATTEN:
    snprintf(buf, size, "dim=%d, unflattened_size=%s", s->d0, nb__nn_dims(s->nsizes, s->sizes));
    break;
  case SIMPLE_DROPOUT: snprintf(buf, size, "p=%g", s->a); break;
  case SIMPLE_LEAKY_RELU: snprintf(buf, size, "negative_slope=%g", s->a); break;
  case SIMPLE_ELU: snprintf(buf, size, "alpha=%g", s->a); break;
  case SIMPLE_GELU: snprintf(buf, size, "approximate='%s'", s->flag ? "tanh" : "none"); break;
  case SIMPLE_SOFTPLUS: snprintf(buf, size, "beta=%g, threshold=%g", s->a, s->b); break;
  case SIMPLE_SOFTMAX:
  case SIMPLE_LOG_SOFTMAX: snprintf(buf, size, "dim=%d", s->d0); break;
  default: break;
  }
}

#define SIMPLE_OPS(KIND, NAME)                                                                     \
  [KIND] = {.type_name = NAME, .forward = simple_forward, .describe = simple_describe}
static const nb_module_ops simple_ops[SIMPLE_COUNT] = {
    SIMPLE_OPS(SIMPLE_IDENTITY, "Identity"),
    SIMPLE_OPS(SIMPLE_FLATTEN, "Flatten"),
    SIMPLE_OPS(SIMPLE_UNFLATTEN, "Unflatten"),
    SIMPLE_OPS(SIMPLE_DROPOUT, "Dropout"),
    SIMPLE_OPS(SIMPLE_RELU, "ReLU"),
    SIMPLE_OPS(SIMPLE_LEAKY_RELU, "LeakyReLU"),
    SIMPLE_OPS(SIMPLE_ELU, "ELU"),
    SIMPLE_OPS(SIMPLE_GELU, "GELU"),
    SIMPLE_OPS(SIMPLE_SILU, "SiLU"),
    SIMPLE_OPS(SIMPLE_SIGMOID, "Sigmoid"),
    SIMPLE_OPS(SIMPLE_TANH, "Tanh"),
    SIMPLE_OPS(SIMPLE_SOFTPLUS, "Softplus"),
    SIMPLE_OPS(SIMPLE_SOFTMAX, "Softmax"),
    SIMPLE_OPS(SIMPLE_LOG_SOFTMAX, "LogSoftmax"),
};
#undef SIMPLE_OPS

static nb_module *simple_new(simple proto) {
  simple *s = (simple *)nb_module_new(&simple_ops[proto.kind], sizeof(simple));
  if (!s) return NULL;
  proto.base = s->base;
  *s = proto;
  return &s->base;
}

nb_module *nb_identity_new(void) { return simple_new((simple){.kind = SIMPLE_IDENTITY}); }

nb_module *nb_flatten_new(int start_dim, int end_dim) {
  return simple_new((simple){.kind = SIMPLE_FLATTEN, .d0 = start_dim, .d1 = end_dim});
}

nb_module *nb_unflatten_new(int dim, int nsizes, const int64_t *sizes) {
  static const char op[] = "unflatten_new";
  if (nsizes < 1 || nsizes > NB_MAX_DIMS || !sizes) {
    nb_set_error(NB_ERR_ARG, "%s: needs 1 to %d sizes, got %d", op, NB_MAX_DIMS, nsizes);
    return NULL;
  }
  simple s = {.kind = SIMPLE_UNFLATTEN, .d0 = dim, .nsizes = nsizes};
  int inferred = 0;
  for (int i = 0; i < nsizes; i++) {
    s.sizes[i] = sizes[i];
    inferred += sizes[i] == -1;
    if (sizes[i] < -1 || inferred > 1) {
      nb_set_error(NB_ERR_ARG, "%s: sizes %s: each must be >= 0, or -1 once", op,
                   nb__nn_dims(nsizes, sizes));
      return NULL;
    }
  }
  return simple_new(s);
}

nb_module *nb_dropout_new(double p) {
  if (!(p >= 0 && p <= 1)) {
    nb_set_error(NB_ERR_ARG, "dropout_new: p %g must be in [0, 1]", p);
    return NULL;
  }
  return simple_new((simple){.kind = SIMPLE_DROPOUT, .a = p});
}

nb_module *nb_relu_new(void) { return simple_new((simple){.kind = SIMPLE_RELU}); }
nb_module *nb_leaky_relu_new(double negative_slope) {
  return simple_new((simple){.kind = SIMPLE_LEAKY_RELU, .a = negative_slope});
}
nb_module *nb_elu_new(double alpha) { return simple_new((simple){.kind = SIMPLE_ELU, .a = alpha}); }
nb_module *nb_gelu_new(bool tanh_approx) {
  return simple_new((simple){.kind = SIMPLE_GELU, .flag = tanh_approx});
}
nb_module *nb_silu_new(void) { return simple_new((simple){.kind = SIMPLE_SILU}); }
nb_module *nb_sigmoid_new(void) { return simple_new((simple){.kind = SIMPLE_SIGMOID}); }
nb_module *nb_tanh_new(void) { return simple_new((simple){.kind = SIMPLE_TANH}); }
nb_module *nb_softplus_new(double beta, double threshold) {
  if (!(beta != 0) || isnan(beta)) {
    nb_set_error(NB_ERR_ARG, "softplus_new: beta %g must be nonzero", beta);
    return NULL;
  }
  return simple_new((simple){.kind = SIMPLE_SOFTPLUS, .a = beta, .b = threshold});
}
nb_module *nb_softmax_new(int dim) {
  return simple_new((simple){.kind = SIMPLE_SOFTMAX, .d0 = dim});
}
nb_module *nb_log_softmax_new(int dim) {
  return simple_new((simple){.kind = SIMPLE_LOG_SOFTMAX, .d0 = dim});
}
