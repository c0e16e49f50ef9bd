/* nn/conv_layers.c - the Conv1d, Conv2d and ConvTranspose2d modules.
 *
 * Owns: their constructors (PyTorch's parameter names "weight" and "bias",
 * shapes - [out, in / groups, k...] for a convolution, [in, out / groups, kh,
 * kw] for a transposed one - and default initialization: weight
 * kaiming_uniform_(a = sqrt(5)) and bias U(+-1/sqrt(fan_in)), fan_in computed
 * from the weight as torch does), their forward (the differentiable ops of
 * autograd/ops_conv.h; an unbatched input gets a batch dim of 1 around the
 * op) and their descriptions (PyTorch's extra_repr). The three layers share
 * one struct and one table indexed by kind.
 */
#include "nn/nn_impl.h"

#include <stdio.h>
#include <string.h>

typedef enum conv_kind { CONV_1D, CONV_2D, CONV_T2D, CONV_COUNT } conv_kind;

typedef struct conv_info {
  const char *op;  /* constructor name in errors */
  const char *dim; /* spatial dims in error messages */
  int nspatial;
  bool transposed;
} conv_info;

static const conv_info infos[CONV_COUNT] = {
    [CONV_1D] = {"conv1d_new", "L", 1, false},
    [CONV_2D] = {"conv2d_new", "H, W", 2, false},
    [CONV_T2D] = {"conv_transpose2d_new", "H, W", 2, true},
};

typedef struct conv {
  nb_module base;
  conv_kind kind;
  int64_t in, out, groups;
  int64_t kernel[2], stride[2], padding[2], dilation[2], output_padding[2];
  bool bias;
} conv;

/* ---- description ---------------------------------------------------------------- */

/* Append a Python tuple of the first n values ("(3,)", "(3, 2)"). */
static size_t put_tuple(char *buf, size_t size, size_t len, const char *key, const int64_t *v,
                        int n) {
  if (len >= size) return len;
  len += (size_t)snprintf(buf + len, size - len, ", %s=(%lld%s", key, (long long)v[0],
                          n == 1 ? ",)" : "");
  if (n == 2 && len < size)
    len += (size_t)snprintf(buf + len, size - len, ", %lld)", (long long)v[1]);
  return len;
}

static bool all_equal(const int64_t *v, int n, int64_t value) {
  for (int i = 0; i < n; i++)
    if (v[i] != value) return false;
  return true;
}

static void conv_describe(const nb_module *self, char *buf, size_t size) {
  const conv *c = (const conv *)self;
  int ns = infos[c->kind].nspatial;
  size_t len = (size_t)snprintf(buf, size, "%lld, %lld", (long long)c->in, (long long)c->out);
  len = put_tuple(buf, size, len, "kernel_size", c->kernel, ns);
  len = put_tuple(buf, size, len, "stride", c->stride, ns);
  if (!all_equal(c->padding, ns, 0)) len = put_tuple(buf, size, len, "padding", c->padding, ns);
  if (!all_equal(c->dilation, ns, 1)) len = put_tuple(buf, size, len, "dilation", c->dilation, ns);
  if (!all_equal(c->output_padding, ns, 0))
    len = put_tuple(buf, size, len, "output_padding", c->output_padding, ns);
  if (c->groups != 1 && len < size)
    len += (size_t)snprintf(buf + len, size - len, ", groups=%lld", (long long)c->groups);
  if (!c->bias && len < size) snprintf(buf + len, size - len, ", bias=False");
}

/* "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))": how errors name the layer. */
static const char *conv_repr(const nb_module *self, char *buf, size_t size) {
  int len = snprintf(buf, size, "%s(", self->ops->type_name);
  if (len > 0 && (size_t)len < size) conv_describe(self, buf + len, size - (size_t)len);
  len = (int)strlen(buf);
  if ((size_t)len + 1 < size) snprintf(buf + len, size - (size_t)len, ")");
  return buf;
}

/* ---- forward ------------------------------------------------------------------------ */

static nb_tensor *conv_apply(const conv *c, nb_tensor *x, nb_tensor *w, nb_tensor *b) {
  switch (c->kind) {
  case CONV_1D: {
    nb_conv1d_opts o = {c->stride[0], c->padding[0], c->dilation[0], c->groups};
    return nb_conv1d(x, w, b, &o);
  }
  case CONV_2D: {
    nb_conv2d_opts o = {.groups = c->groups};
    memcpy(o.stride, c->stride, sizeof o.stride);
    memcpy(o.padding, c->padding, sizeof o.padding);
    memcpy(o.dilation, c->dilation, sizeof o.dilation);
    return nb_conv2d(x, w, b, &o);
  }
  case CONV_T2D: {
    nb_conv_transpose2d_opts o = {.groups = c->groups};
    memcpy(o.stride, c->stride, sizeof o.stride);
    memcpy(o.padding, c->padding, sizeof o.padding);
    memcpy(o.dilation, c->dilation, sizeof o.dilation);
    memcpy(o.output_padding, c->output_padding, sizeof o.output_padding);
    return nb_conv_transpose2d(x, w, b, &o);
  }
  case CONV_COUNT: break;
  }
  nb_set_error(NB_ERR_ARG, "forward: invalid convolution kind %d", (int)c->kind);
  return NULL;
}

static nb_tensor *conv_forward(nb_module *self, nb_tensor *const *in, int n) {
  const conv *c = (const conv *)self;
  if (nb__nn_check_arity(self, n, 1) != NB_OK) return NULL;
  nb_tensor *x = in[0];
  int ns = infos[c->kind].nspatial, nd = nb_ndim(x);
  bool batched = nd == ns + 2;
  char name[256];
  if ((!batched && nd != ns + 1) || nb_size(x, nd - ns - 1) != c->in) {
    nb_set_error(NB_ERR_SHAPE, "%s: expected input [N, %lld, %s] or [%lld, %s], got %s",
                 conv_repr(self, name, sizeof name), (long long)c->in, infos[c->kind].dim,
                 (long long)c->in, infos[c->kind].dim, nb__nn_shp(x));
    return NULL;
  }
  nb_tensor *w = nb_module_get_parameter(self, "weight");
  nb_tensor *b = c->bias ? nb_module_get_parameter(self, "bias") : NULL;
  nb_tensor *xb = batched ? x : nb_unsqueeze(x, 0);
  nb_tensor *y = xb ? conv_apply(c, xb, w, b) : NULL;
  if (!batched) {
    nb_tensor *squeezed = y ? nb_squeeze(y, 0) : NULL;
    nb_free(y);
    nb_free(xb);
    y = squeezed;
  }
  if (!y) nb__nn_prefix_error(conv_repr(self, name, sizeof name));
  return y;
}

static const nb_module_ops conv_ops[CONV_COUNT] = {
    [CONV_1D] = {.type_name = "Conv1d", .forward = conv_forward, .describe = conv_describe},
    [CONV_2D] = {.type_name = "Conv2d", .forward = conv_forward, .describe = conv_describe},
    [CONV_T2D] = {.type_name = "ConvTranspose2d",
                  .forward = conv_forward,
                  .describe = conv_describe},
};

/* ---- construction ---------------------------------------------------------------------- */

/* Fill c's geometry from the options (zero fields are PyTorch's defaults)
 * after checking every value. NB_OK or an error naming op. */
static nb_status conv_config(conv *c, const nb_conv_layer_opts *o) {
  const conv_info *info = &infos[c->kind];
  const char *op = info->op;
  int ns = info->nspatial;
  if (c->in < 0 || c->out < 0)
    return nb_set_error(NB_ERR_ARG, "%s: channels must be >= 0, got in %lld, out %lld", op,
                        (long long)c->in, (long long)c->out);
  if (o->groups < 0)
    return nb_set_error(NB_ERR_ARG, "%s: groups %lld must be positive", op, (long long)o->groups);
  c->groups = o->groups ? o->groups : 1;
  if (c->in % c->groups != 0 || c->out % c->groups != 0)
    return nb_set_error(NB_ERR_ARG,
                        "%s: in_channels %lld and out_channels %lld must be divisible by groups "
                        "%lld",
                        op, (long long)c->in, (long long)c->out, (long long)c->groups);
  for (int i = 0; i < ns; i++) {
    if (c->kernel[i] <= 0 || o->stride[i] < 0 || o->padding[i] < 0 || o->dilation[i] < 0 ||
        o->output_padding[i] < 0)
      return nb_set_error(NB_ERR_ARG,
                          "%s: kernel size %lld must be positive, stride %lld and dilation %lld "
                          "positive (0 = 1), padding %lld and output_padding %lld >= 0",
                          op, (long long)c->kernel[i], (long long)o->stride[i],
                          (long long)o->dilation[i], (long long)o->padding[i],
                          (long long)o->output_padding[i]);
    c->stride[i] = o->stride[i] ? o->stride[i] : 1;
    c->padding[i] = o->padding[i];
    c->dilation[i] = o->dilation[i] ? o->dilation[i] : 1;
    c->output_padding[i] = o->output_padding[i];
    if (!info->transposed && c->output_padding[i] != 0)
      return nb_set_error(NB_ERR_ARG, "%s: output_padding is for transposed convolutions only", op);
    if (c->output_padding[i] >= c->stride[i] && c->output_padding[i] >= c->dilation[i])
      return nb_set_error(NB_ERR_ARG,
                          "%s: output_padding %lld must be smaller than stride %lld or dilation "
                          "%lld",
                          op, (long long)c->output_padding[i], (long long)c->stride[i],
                          (long long)c->dilation[i]);
  }
  for (int i = ns; i < 2; i++) { /* Conv1d: the second entries are unused */
    c->kernel[i] = 1;
    c->stride[i] = c->dilation[i] = 1;
  }
  c->bias = !o->no_bias;
  return nb__nn_check_dtype(op, o->dtype);
}

static nb_module *conv_new(conv_kind kind, int64_t in, int64_t out, int64_t kh, int64_t kw,
                           const nb_conv_layer_opts *opts) {
  nb_conv_layer_opts o = opts ? *opts : (nb_conv_layer_opts){0};
  conv *c = (conv *)nb_module_new(&conv_ops[kind], sizeof(conv));
  if (!c) return NULL;
  *c = (conv){.base = c->base, .kind = kind, .in = in, .out = out, .kernel = {kh, kw}};
  int ns = infos[kind].nspatial;
  nb_tensor *w = NULL, *b = NULL;
  if (conv_config(c, &o) == NB_OK) {
    bool t = infos[kind].transposed;
    int64_t shape[4] = {t ? in : out, (t ? out : in) / c->groups, c->kernel[0], c->kernel[1]};
    w = nb__nn_new_param(&c->base, "weight", o.dtype, ns + 2, shape);
    b = c->bias && w ? nb__nn_new_param(&c->base, "bias", o.dtype, 1, &out) : NULL;
  }
  if (!w || (c->bias && !b) || nb__nn_init_affine(w, b, o.generator) != NB_OK) {
    nb_module_free(&c->base);
    return NULL;
  }
  return &c->base;
}

nb_module *nb_conv1d_new(int64_t in_channels, int64_t out_channels, int64_t kernel,
                         const nb_conv_layer_opts *opts) {
  return conv_new(CONV_1D, in_channels, out_channels, kernel, 1, opts);
}

nb_module *nb_conv2d_new(int64_t in_channels, int64_t out_channels, int64_t kernel_h,
                         int64_t kernel_w, const nb_conv_layer_opts *opts) {
  return conv_new(CONV_2D, in_channels, out_channels, kernel_h, kernel_w, opts);
}

nb_module *nb_conv_transpose2d_new(int64_t in_channels, int64_t out_channels, int64_t kernel_h,
                                   int64_t kernel_w, const nb_conv_layer_opts *opts) {
  return conv_new(CONV_T2D, in_channels, out_channels, kernel_h, kernel_w, opts);
}
