/* autograd/op_conv.c - differentiable convolutions.
 *
 * Owns, side by side per row: forward (the tensor/conv.c kernel), backward,
 * gradcheck sample, and the public wrappers. Three rows serve the 1-D and 2-D
 * forms alike, and each backward is written with the rows themselves, so
 * every gradient is differentiable again (double backward):
 *   conv              y = conv(x, w) + b
 *     gx = conv_transpose(g, w) with the output_padding that restores x's size,
 *     gw = conv_weight_grad(x, g), gb = g summed over all but the channel dim;
 *   conv_transpose    y = conv_transpose(x, w) + b, the adjoint of conv in x
 *     gx = conv(g, w) (cropped to x when output_padding >= stride),
 *     gw = conv_weight_grad(g, x) (x zero-padded to conv(g)'s size then);
 *   conv_weight_grad  gw = W(x, gy), bilinear with <G, W(x, gy)> = <conv(x, G), gy>
 *     gx = conv_transpose(gy, G), ggy = conv(x, G).
 */
#include "autograd/op_impl.h"

#include <string.h>

/* The options of every row, in 2-D form: a 1-D op uses index 1 (the width),
 * as the kernels do. Zero fields are PyTorch's defaults. */
typedef struct conv_params {
  int sd; /* spatial dims: 1 or 2 */
  int64_t stride[2], padding[2], dilation[2], output_padding[2], groups;
  int64_t kernel[2]; /* conv_weight_grad: the kernel size */
} conv_params;

static int64_t or_one(int64_t v) { return v > 0 ? v : 1; }

/* Size of spatial dim d (0 height, 1 width) of a shape with sd spatial dims. */
static int64_t spatial(int ndim, const int64_t *shape, int sd, int d) {
  return d == 1 ? shape[ndim - 1] : sd == 2 ? shape[ndim - 2] : 1;
}

/* ---- the kernels, from the params ------------------------------------------------- */

static nb_conv2d_opts opts2d(const conv_params *p) {
  return (nb_conv2d_opts){{p->stride[0], p->stride[1]},
                          {p->padding[0], p->padding[1]},
                          {p->dilation[0], p->dilation[1]},
                          p->groups};
}
static nb_conv1d_opts opts1d(const conv_params *p) {
  return (nb_conv1d_opts){p->stride[1], p->padding[1], p->dilation[1], p->groups};
}

static nb_tensor *kernel_conv(const conv_params *p, nb_tensor *x, nb_tensor *w, nb_tensor *b) {
  nb_conv2d_opts o2 = opts2d(p);
  nb_conv1d_opts o1 = opts1d(p);
  return p->sd == 1 ? nbk_conv1d(x, w, b, &o1) : nbk_conv2d(x, w, b, &o2);
}

static nb_tensor *kernel_transpose(const conv_params *p, nb_tensor *x, nb_tensor *w, nb_tensor *b) {
  nb_conv_transpose2d_opts o2 = {{p->stride[0], p->stride[1]},
                                 {p->padding[0], p->padding[1]},
                                 {p->output_padding[0], p->output_padding[1]},
                                 {p->dilation[0], p->dilation[1]},
                                 p->groups};
  nb_conv_transpose1d_opts o1 = {p->stride[1], p->padding[1], p->output_padding[1], p->dilation[1],
                                 p->groups};
  return p->sd == 1 ? nbk_conv_transpose1d(x, w, b, &o1) : nbk_conv_transpose2d(x, w, b, &o2);
}

static nb_tensor *kernel_weight(const conv_params *p, nb_tensor *x, nb_tensor *g) {
  nb_conv2d_opts o2 = opts2d(p);
  nb_conv1d_opts o1 = opts1d(p);
  return p->sd == 1 ? nbk_conv1d_weight_grad(x, g, p->kernel[1], &o1)
                    : nbk_conv2d_weight_grad(x, g, p->kernel[0], p->kernel[1], &o2);
}

/* ---- helpers for the backwards ------------------------------------------------------ */

/* Apply a row of this family (differentiable) with a copy of p. */
static nb_tensor *apply(const nb_op_def *def, conv_params p, nb_tensor *a, nb_tensor *b,
                        nb_tensor *bias) {
  return nb_apply(def, bias ? 3 : 2, (nb_tensor *[]){a, b, bias}, &p);
}

/* p with the output_padding that makes conv_transpose of a window of size
 * `out` give an image of input i's size: in - ((out - 1) s - 2 p + d (k - 1) + 1),
 * always in [0, stride). k: the kernel's spatial sizes. */
static conv_params with_output_padding(const conv_params *p, const nb_ctx *ctx, int i,
                                       const nb_tensor *window, const int64_t *k) {
  conv_params t = *p;
  int nd = nb_ctx_input_ndim(ctx, i);
  const int64_t *shape = nb_ctx_input_shape(ctx, i);
  for (int d = 2 - p->sd; d < 2; d++) {
    int64_t in = spatial(nd, shape, p->sd, d), out = spatial(window->ndim, window->shape, p->sd, d);
    int64_t full = (out - 1) * or_one(p->stride[d]) - 2 * p->padding[d] +
                   or_one(p->dilation[d]) * (k[d] - 1) + 1;
    t.output_padding[d] = in - full;
  }
  return t;
}

/* The kernel's spatial sizes from a weight-shaped input i. */
static void kernel_of(const nb_ctx *ctx, int i, int sd, int64_t *k) {
  int nd = nb_ctx_input_ndim(ctx, i);
  const int64_t *shape = nb_ctx_input_shape(ctx, i);
  for (int d = 0; d < 2; d++) k[d] = spatial(nd, shape, sd, d);
}

/* The bias gradient: g summed over every dim but the channel dim. */
static nb_tensor *bias_grad(nb_tensor *g, int sd) {
  int dims[3], n = 0;
  bool batched = g->ndim == sd + 2;
  if (batched) dims[n++] = 0;
  for (int d = 0; d < sd; d++) dims[n++] = g->ndim - sd + d;
  return nb_sum(g, dims, n, false);
}

/* ---- conv: y = conv(x, w) + b ---------------------------------------------------------- */

static nb_tensor *conv_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *pv) {
  if (nb_ctx_needs_grad(ctx, 0)) nb_ctx_save(ctx, in[1]);
  if (nb_ctx_needs_grad(ctx, 1)) nb_ctx_save(ctx, in[0]);
  return kernel_conv(pv, in[0], in[1], n == 3 ? in[2] : NULL);
}
static nb_status conv_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const conv_params *p = nb_ctx_params(ctx);
  bool need_x = nb_ctx_needs_grad(ctx, 0), need_w = nb_ctx_needs_grad(ctx, 1);
  nb_tensor *w = need_x ? nb_ctx_saved(ctx, 0) : NULL;
  nb_tensor *x = need_w ? nb_ctx_saved(ctx, need_x ? 1 : 0) : NULL;
  int64_t k[2];
  kernel_of(ctx, 1, p->sd, k);
  if (need_x)
    gi[0] = apply(&nb__op_conv_transpose, with_output_padding(p, ctx, 0, g, k), g, w, NULL);
  if (need_w) {
    conv_params t = *p;
    t.kernel[0] = k[0], t.kernel[1] = k[1];
    gi[1] = apply(&nb__op_conv_weight_grad, t, x, g, NULL);
  }
  if (nb_ctx_ninputs(ctx) == 3 && nb_ctx_needs_grad(ctx, 2)) gi[2] = bias_grad(g, p->sd);
  return NB_OK;
}
NB_DEFINE_OP_P(conv, -1, conv_params, 0);
nb_status nb__sample_conv(nb_op_sample *s) {
  /* groups 2, stride 2 with a remainder (gx needs output_padding 1), padding,
   * dilation, non-square kernel, bias */
  static conv_params p = {
      .sd = 2, .stride = {2, 1}, .padding = {1, 0}, .dilation = {1, 2}, .groups = 2};
  nb__sample_input(s, true, NB_SHAPE(2, 4, 6, 5));
  nb__sample_input(s, true, NB_SHAPE(4, 2, 3, 2));
  nb__sample_input(s, true, NB_SHAPE(4));
  NB_SAMPLE_CALL(s, conv, &p);
  return NB_OK;
}

/* ---- conv_transpose: y = conv_transpose(x, w) + b ------------------------------------- */

static nb_tensor *conv_transpose_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *pv) {
  if (nb_ctx_needs_grad(ctx, 0)) nb_ctx_save(ctx, in[1]);
  if (nb_ctx_needs_grad(ctx, 1)) nb_ctx_save(ctx, in[0]);
  return kernel_transpose(pv, in[0], in[1], n == 3 ? in[2] : NULL);
}
static nb_status conv_transpose_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const conv_params *p = nb_ctx_params(ctx);
  bool need_x = nb_ctx_needs_grad(ctx, 0), need_w = nb_ctx_needs_grad(ctx, 1);
  nb_tensor *w = need_x ? nb_ctx_saved(ctx, 0) : NULL;
  nb_tensor *x = need_w ? nb_ctx_saved(ctx, need_x ? 1 : 0) : NULL;
  int nd = nb_ctx_input_ndim(ctx, 0);
  const int64_t *xs = nb_ctx_input_shape(ctx, 0);
  int64_t k[2], extra[2] = {0, 0};
  kernel_of(ctx, 1, p->sd, k);
  conv_params t = *p;
  t.output_padding[0] = t.output_padding[1] = 0;
  /* conv(g) covers x plus output_padding / stride more positions (output_padding
   * may reach the dilation): crop them from gx, zero-pad x by them for gw. */
  for (int d = 2 - p->sd; d < 2; d++) extra[d] = p->output_padding[d] / or_one(p->stride[d]);
  if (need_x) {
    nb_tensor *r = apply(&nb__op_conv, t, g, w, NULL);
    for (int d = 2 - p->sd; d < 2; d++)
      if (extra[d] > 0) r = nb_narrow(r, nd - 2 + d, 0, spatial(nd, xs, p->sd, d));
    gi[0] = r;
  }
  if (need_w) {
    t.kernel[0] = k[0], t.kernel[1] = k[1];
    if (extra[0] > 0 || extra[1] > 0)
      x = nb_pad(x, 2 * p->sd, (const int64_t[]){0, extra[1], 0, extra[0]}, 0.0);
    gi[1] = apply(&nb__op_conv_weight_grad, t, g, x, NULL);
  }
  if (nb_ctx_ninputs(ctx) == 3 && nb_ctx_needs_grad(ctx, 2)) gi[2] = bias_grad(g, p->sd);
  return NB_OK;
}
NB_DEFINE_OP_P(conv_transpose, -1, conv_params, 0);
nb_status nb__sample_conv_transpose(nb_op_sample *s) {
  /* output_padding 1 in the width reaches past stride 1 (allowed by dilation
   * 2): the crop / zero-pad path */
  static conv_params p = {.sd = 2,
                          .stride = {2, 1},
                          .padding = {0, 1},
                          .dilation = {1, 2},
                          .output_padding = {1, 1},
                          .groups = 2};
  nb__sample_input(s, true, NB_SHAPE(2, 4, 3, 3));
  nb__sample_input(s, true, NB_SHAPE(4, 3, 2, 3));
  nb__sample_input(s, true, NB_SHAPE(6));
  NB_SAMPLE_CALL(s, conv_transpose, &p);
  return NB_OK;
}

/* ---- conv_weight_grad: gw = W(x, gy) ------------------------------------------------- */

static nb_tensor *conv_weight_grad_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *pv) {
  if (nb_ctx_needs_grad(ctx, 0)) nb_ctx_save(ctx, in[1]);
  if (nb_ctx_needs_grad(ctx, 1)) nb_ctx_save(ctx, in[0]);
  return kernel_weight(pv, in[0], in[1]);
}
static nb_status conv_weight_grad_backward(nb_ctx *ctx, nb_tensor *G, nb_tensor **gi) {
  const conv_params *p = nb_ctx_params(ctx);
  bool need_x = nb_ctx_needs_grad(ctx, 0), need_gy = nb_ctx_needs_grad(ctx, 1);
  nb_tensor *gy = need_x ? nb_ctx_saved(ctx, 0) : NULL;
  nb_tensor *x = need_gy ? nb_ctx_saved(ctx, need_x ? 1 : 0) : NULL;
  if (need_x)
    gi[0] =
        apply(&nb__op_conv_transpose, with_output_padding(p, ctx, 0, gy, p->kernel), gy, G, NULL);
  if (need_gy) gi[1] = apply(&nb__op_conv, *p, x, G, NULL);
  return NB_OK;
}
NB_DEFINE_OP_P(conv_weight_grad, 2, conv_params, 0);
nb_status nb__sample_conv_weight_grad(nb_op_sample *s) {
  static conv_params p = {.sd = 2,
                          .stride = {1, 2},
                          .padding = {1, 1},
                          .dilation = {2, 1},
                          .groups = 2,
                          .kernel = {2, 3}};
  nb__sample_input(s, true, NB_SHAPE(2, 4, 5, 4)); /* x */
  nb__sample_input(s, true, NB_SHAPE(2, 4, 5, 2)); /* grad_out */
  NB_SAMPLE_CALL(s, conv_weight_grad, &p);
  return NB_OK;
}

/* ---- public wrappers ------------------------------------------------------------------- */

static conv_params params2d(const nb_conv2d_opts *o) {
  conv_params p = {.sd = 2};
  if (o) {
    memcpy(p.stride, o->stride, sizeof p.stride);
    memcpy(p.padding, o->padding, sizeof p.padding);
    memcpy(p.dilation, o->dilation, sizeof p.dilation);
    p.groups = o->groups;
  }
  return p;
}
static conv_params params1d(const nb_conv1d_opts *o) {
  conv_params p = {.sd = 1};
  if (o) p.stride[1] = o->stride, p.padding[1] = o->padding, p.dilation[1] = o->dilation;
  if (o) p.groups = o->groups;
  return p;
}

nb_tensor *nb_conv2d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *opts) {
  NB_CHECK_NULL("conv2d", x, w);
  return apply(&nb__op_conv, params2d(opts), x, w, b);
}

nb_tensor *nb_conv1d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv1d_opts *opts) {
  NB_CHECK_NULL("conv1d", x, w);
  return apply(&nb__op_conv, params1d(opts), x, w, b);
}

nb_tensor *nb_conv_transpose2d(nb_tensor *x, nb_tensor *w, nb_tensor *b,
                               const nb_conv_transpose2d_opts *opts) {
  NB_CHECK_NULL("conv_transpose2d", x, w);
  conv_params p = {.sd = 2};
  if (opts) {
    memcpy(p.stride, opts->stride, sizeof p.stride);
    memcpy(p.padding, opts->padding, sizeof p.padding);
    memcpy(p.dilation, opts->dilation, sizeof p.dilation);
    memcpy(p.output_padding, opts->output_padding, sizeof p.output_padding);
    p.groups = opts->groups;
  }
  return apply(&nb__op_conv_transpose, p, x, w, b);
}

nb_tensor *nb_conv_transpose1d(nb_tensor *x, nb_tensor *w, nb_tensor *b,
                               const nb_conv_transpose1d_opts *opts) {
  NB_CHECK_NULL("conv_transpose1d", x, w);
  conv_params p = {.sd = 1};
  if (opts) {
    p.stride[1] = opts->stride, p.padding[1] = opts->padding, p.dilation[1] = opts->dilation;
    p.output_padding[1] = opts->output_padding, p.groups = opts->groups;
  }
  return apply(&nb__op_conv_transpose, p, x, w, b);
}

nb_tensor *nb_conv2d_weight_grad(nb_tensor *x, nb_tensor *grad_out, int64_t kh, int64_t kw,
                                 const nb_conv2d_opts *opts) {
  NB_CHECK_NULL("conv2d_weight_grad", x, grad_out);
  conv_params p = params2d(opts);
  p.kernel[0] = kh, p.kernel[1] = kw;
  return apply(&nb__op_conv_weight_grad, p, x, grad_out, NULL);
}

nb_tensor *nb_conv1d_weight_grad(nb_tensor *x, nb_tensor *grad_out, int64_t k,
                                 const nb_conv1d_opts *opts) {
  NB_CHECK_NULL("conv1d_weight_grad", x, grad_out);
  conv_params p = params1d(opts);
  p.kernel[1] = k;
  return apply(&nb__op_conv_weight_grad, p, x, grad_out, NULL);
}
