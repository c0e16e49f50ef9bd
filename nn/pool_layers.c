/* nn/pool_layers.c - the MaxPool2d, AvgPool2d, AdaptiveAvgPool2d and
 * Upsample modules (no parameters).
 *
 * Owns: their constructors (options checked up front, zero fields meaning
 * PyTorch's defaults), forwards (the differentiable ops of autograd/ops_nn.h;
 * an op's error is prefixed with the layer, e.g. "MaxPool2d(kernel_size=2,
 * ...): max_pool2d: ...") and descriptions (PyTorch's extra_repr: a size
 * prints as one number when both of its entries are equal). The four share
 * one struct and one table of ops indexed by kind.
 *
 * Upsample: scale_h > 0 resamples by scale factors (scale_w 0 repeats
 * scale_h), otherwise to size_h x size_w (size_w 0 repeats size_h).
 */
#include "nn/nn_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum pool_kind { POOL_MAX, POOL_AVG, POOL_ADAPTIVE, POOL_UPSAMPLE, POOL_COUNT } pool_kind;

typedef struct pool {
  nb_module base;
  pool_kind kind;
  nb_pool2d_opts pool;   /* max / avg, defaults filled in */
  int64_t out_h, out_w;  /* adaptive */
  nb_interp_opts interp; /* upsample */
} pool;

/* ---- description ---------------------------------------------------------------- */

/* ", key=v" or ", key=(v0, v1)" (v1 != v0), appended at len. */
static size_t put_pair(char *buf, size_t size, size_t len, const char *key, const int64_t v[2]) {
  if (len >= size) return len;
  if (v[0] == v[1])
    return len + (size_t)snprintf(buf + len, size - len, "%s%s=%lld", len ? ", " : "", key,
                                  (long long)v[0]);
  return len + (size_t)snprintf(buf + len, size - len, "%s%s=(%lld, %lld)", len ? ", " : "", key,
                                (long long)v[0], (long long)v[1]);
}

/* A Python float: "2.0", "1.5", "1e-05". */
static const char *py_float(double v, char *buf, size_t size) {
  snprintf(buf, size, "%.17g", v);
  for (int digits = 1; digits <= 17; digits++) { /* shortest round trip, as repr */
    snprintf(buf, size, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) break;
  }
  if (!strpbrk(buf, ".eninf")) strncat(buf, ".0", size - strlen(buf) - 1);
  return buf;
}

static void pool_describe(const nb_module *self, char *buf, size_t size) {
  const pool *p = (const pool *)self;
  const nb_pool2d_opts *o = &p->pool;
  size_t len = 0;
  buf[0] = '\0';
  switch (p->kind) {
  case POOL_MAX:
  case POOL_AVG:
    len = put_pair(buf, size, len, "kernel_size", o->kernel);
    len = put_pair(buf, size, len, "stride", o->stride);
    len = put_pair(buf, size, len, "padding", o->padding);
    if (p->kind == POOL_MAX) {
      len = put_pair(buf, size, len, "dilation", o->dilation);
      if (len < size)
        snprintf(buf + len, size - len, ", ceil_mode=%s", o->ceil_mode ? "True" : "False");
    }
    break;
  case POOL_ADAPTIVE: {
    char h[24], w[24];
    snprintf(h, sizeof h, p->out_h < 0 ? "None" : "%lld", (long long)p->out_h);
    snprintf(w, sizeof w, p->out_w < 0 ? "None" : "%lld", (long long)p->out_w);
    if (p->out_h == p->out_w)
      snprintf(buf, size, "output_size=%s", h);
    else
      snprintf(buf, size, "output_size=(%s, %s)", h, w);
    break;
  }
  case POOL_UPSAMPLE: {
    const nb_interp_opts *u = &p->interp;
    const char *mode = u->mode == NB_INTERP_NEAREST ? "nearest" : "bilinear";
    if (u->scale_factor[0] > 0) {
      char a[40], b[40];
      py_float(u->scale_factor[0], a, sizeof a);
      py_float(u->scale_factor[1], b, sizeof b);
      if (u->scale_factor[0] == u->scale_factor[1])
        len = (size_t)snprintf(buf, size, "scale_factor=%s", a);
      else
        len = (size_t)snprintf(buf, size, "scale_factor=(%s, %s)", a, b);
    } else {
      len = put_pair(buf, size, 0, "size", u->size);
    }
    if (len < size) snprintf(buf + len, size - len, ", mode='%s'", mode);
    break;
  }
  case POOL_COUNT: break;
  }
}

/* ---- forward ------------------------------------------------------------------------ */

static nb_tensor *pool_apply(const pool *p, nb_tensor *x) {
  switch (p->kind) {
  case POOL_MAX: return nb_max_pool2d(x, &p->pool, NULL);
  case POOL_AVG: return nb_avg_pool2d(x, &p->pool);
  case POOL_ADAPTIVE: return nb_adaptive_avg_pool2d(x, p->out_h, p->out_w);
  case POOL_UPSAMPLE: return nb_interpolate(x, &p->interp);
  case POOL_COUNT: break;
  }
  nb_set_error(NB_ERR_ARG, "forward: invalid pooling kind %d", (int)p->kind);
  return NULL;
}

static nb_tensor *pool_forward(nb_module *self, nb_tensor *const *in, int n) {
  if (nb__nn_check_arity(self, n, 1) != NB_OK) return NULL;
  nb_tensor *y = pool_apply((const pool *)self, in[0]);
  if (!y) {
    char name[256];
    int len = snprintf(name, sizeof name, "%s(", self->ops->type_name);
    pool_describe(self, name + len, sizeof name - (size_t)len - 1);
    strcat(name, ")");
    nb__nn_prefix_error(name);
  }
  return y;
}

#define POOL_OPS(KIND, NAME)                                                                       \
  [KIND] = {.type_name = NAME, .forward = pool_forward, .describe = pool_describe}
static const nb_module_ops pool_ops[POOL_COUNT] = {
    POOL_OPS(POOL_MAX, "MaxPool2d"),
    POOL_OPS(POOL_AVG, "AvgPool2d"),
    POOL_OPS(POOL_ADAPTIVE, "AdaptiveAvgPool2d"),
    POOL_OPS(POOL_UPSAMPLE, "Upsample"),
};
#undef POOL_OPS

/* ---- construction ---------------------------------------------------------------------- */

static nb_module *pool_new(pool proto) {
  pool *p = (pool *)nb_module_new(&pool_ops[proto.kind], sizeof(pool));
  if (!p) return NULL;
  proto.base = p->base;
  *p = proto;
  return &p->base;
}

/* Max / average pooling with the defaults filled in, after the checks the
 * op would make (so that a bad layer fails when it is built). */
static nb_module *window_pool_new(pool_kind kind, const char *op, int64_t kh, int64_t kw,
                                  const nb_pool_layer_opts *opts) {
  nb_pool_layer_opts o = opts ? *opts : (nb_pool_layer_opts){0};
  pool p = {.kind = kind};
  int64_t k[2] = {kh, kw};
  for (int i = 0; i < 2; i++) {
    if (k[i] <= 0 || o.stride[i] < 0 || o.dilation[i] < 0 || o.padding[i] < 0 ||
        o.padding[i] > k[i] / 2) {
      nb_set_error(NB_ERR_ARG,
                   "%s: kernel %lldx%lld must be positive, stride %lldx%lld and dilation "
                   "%lldx%lld >= 0 (0 = default), padding %lldx%lld >= 0 and at most half the "
                   "kernel",
                   op, (long long)kh, (long long)kw, (long long)o.stride[0], (long long)o.stride[1],
                   (long long)o.dilation[0], (long long)o.dilation[1], (long long)o.padding[0],
                   (long long)o.padding[1]);
      return NULL;
    }
    if (kind == POOL_AVG && o.dilation[i] > 1) {
      nb_set_error(NB_ERR_ARG, "%s: average pooling has no dilation (got %lld)", op,
                   (long long)o.dilation[i]);
      return NULL;
    }
    p.pool.kernel[i] = k[i];
    p.pool.stride[i] = o.stride[i] ? o.stride[i] : k[i];
    p.pool.padding[i] = o.padding[i];
    p.pool.dilation[i] = o.dilation[i] ? o.dilation[i] : 1;
  }
  p.pool.ceil_mode = o.ceil_mode;
  p.pool.exclude_pad = kind == POOL_AVG && o.exclude_pad;
  return pool_new(p);
}

nb_module *nb_max_pool2d_new(int64_t kernel_h, int64_t kernel_w, const nb_pool_layer_opts *opts) {
  return window_pool_new(POOL_MAX, "max_pool2d_new", kernel_h, kernel_w, opts);
}

nb_module *nb_avg_pool2d_new(int64_t kernel_h, int64_t kernel_w, const nb_pool_layer_opts *opts) {
  return window_pool_new(POOL_AVG, "avg_pool2d_new", kernel_h, kernel_w, opts);
}

nb_module *nb_adaptive_avg_pool2d_new(int64_t out_h, int64_t out_w) {
  if (out_h < -1 || out_w < -1) {
    nb_set_error(NB_ERR_ARG,
                 "adaptive_avg_pool2d_new: output size %lldx%lld must be >= 0 (or -1 to keep "
                 "the input's)",
                 (long long)out_h, (long long)out_w);
    return NULL;
  }
  return pool_new((pool){.kind = POOL_ADAPTIVE, .out_h = out_h, .out_w = out_w});
}

nb_module *nb_upsample_new(const char *mode, double scale_h, double scale_w, int64_t size_h,
                           int64_t size_w, bool align_corners) {
  static const char op[] = "upsample_new";
  pool p = {.kind = POOL_UPSAMPLE};
  nb_interp_opts *u = &p.interp;
  if (mode && !strcmp(mode, "nearest")) {
    u->mode = NB_INTERP_NEAREST;
  } else if (mode && !strcmp(mode, "bilinear")) {
    u->mode = NB_INTERP_BILINEAR;
  } else {
    nb_set_error(NB_ERR_ARG, "%s: mode \"%s\" must be \"nearest\" or \"bilinear\"", op,
                 mode ? mode : "(NULL)");
    return NULL;
  }
  if (align_corners && u->mode == NB_INTERP_NEAREST) {
    nb_set_error(NB_ERR_ARG, "%s: align_corners is only valid with mode \"bilinear\"", op);
    return NULL;
  }
  u->align_corners = align_corners;
  bool by_scale = scale_h != 0 || scale_w != 0;
  if (scale_w == 0) scale_w = scale_h;
  if (size_w == 0) size_w = size_h;
  if (by_scale) {
    if (!(scale_h > 0 && scale_w > 0) || !isfinite(scale_h) || !isfinite(scale_w) || size_h != 0) {
      nb_set_error(NB_ERR_ARG,
                   "%s: scale factors %gx%g must be positive and finite, with no size (got "
                   "%lldx%lld)",
                   op, scale_h, scale_w, (long long)size_h, (long long)size_w);
      return NULL;
    }
    u->scale_factor[0] = scale_h;
    u->scale_factor[1] = scale_w;
  } else {
    if (size_h <= 0 || size_w <= 0) {
      nb_set_error(NB_ERR_ARG, "%s: give positive scale factors or a positive size, got %lldx%lld",
                   op, (long long)size_h, (long long)size_w);
      return NULL;
    }
    u->size[0] = size_h;
    u->size[1] = size_w;
  }
  return pool_new(p);
}
