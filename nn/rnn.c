/* nn/rnn.c - the recurrent layers RNN (tanh or relu), LSTM and GRU.
 *
 * Owns: their constructors (PyTorch's parameter names weight_ih_l{k},
 * weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} with "_reverse" for the backward
 * direction, gates stacked i, f, g, o for LSTM and r, z, n for GRU, all
 * initialized U(+-1/sqrt(hidden))), nb_rnn_forward and the module forward
 * (multi-layer, batch_first, bidirectional, unbatched 2-D input, dropout
 * between layers in training, initial states in and final states out) and
 * their descriptions (PyTorch's extra_repr).
 *
 * Every step is built from differentiable autograd ops, so gradients of every
 * order come for free: a layer's input projection W_ih x + b_ih is one
 * nb_linear over all T * B rows, then each time step adds one nb_linear of
 * the hidden state and the cell's elementwise gates.
 */
#include "nn/nn_impl.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum rnn_mode { MODE_RNN, MODE_LSTM, MODE_GRU, MODE_COUNT } rnn_mode;

/* Gates stacked in the weights' first dim, per mode. */
static const int gate_count[MODE_COUNT] = {1, 4, 3};

typedef struct rnn {
  nb_module base;
  rnn_mode mode;
  int64_t input_size, hidden;
  int layers, dirs;
  bool batch_first, bias, relu;
  double dropout;
} rnn;

/* One layer-direction's parameters (biases NULL without bias). */
typedef struct cell_params {
  nb_tensor *w_ih, *w_hh, *b_ih, *b_hh;
} cell_params;

static void free_all(nb_tensor **ts, int64_t n) {
  for (int64_t i = 0; i < n; i++) nb_free(ts[i]);
}

/* ---- description --------------------------------------------------------------------- */

static void rnn_describe(const nb_module *self, char *buf, size_t size) {
  const rnn *r = (const rnn *)self;
  size_t len = 0;
#define APPEND(...)                                                                                \
  do {                                                                                             \
    if (len < size) len += (size_t)snprintf(buf + len, size - len, __VA_ARGS__);                   \
  } while (0)
  APPEND("%lld, %lld", (long long)r->input_size, (long long)r->hidden);
  if (r->layers != 1) APPEND(", num_layers=%d", r->layers);
  if (!r->bias) APPEND(", bias=False");
  if (r->batch_first) APPEND(", batch_first=True");
  if (r->dropout != 0) APPEND(", dropout=%g", r->dropout);
  if (r->dirs == 2) APPEND(", bidirectional=True");
  if (r->relu) APPEND(", nonlinearity='relu'");
#undef APPEND
}

/* "LSTM(10, 20, num_layers=2)": how errors name the layer. */
static const char *layer_name(const rnn *r, char *buf, size_t size) {
  char desc[160];
  rnn_describe(&r->base, desc, sizeof desc);
  snprintf(buf, size, "%s(%s)", r->base.ops->type_name, desc);
  return buf;
}

/* ---- one time step ------------------------------------------------------------------- */

/* The new hidden state (and *c_new for LSTM) from xp = W_ih x_t + b_ih [B, G*H]
 * and the previous h (and c). NULL with an error if an op failed. */
static nb_tensor *step(const rnn *r, const cell_params *p, nb_tensor *xp, nb_tensor *h,
                       nb_tensor *c, nb_tensor **c_new) {
  nb_tensor *hp = nb_linear(h, p->w_hh, p->b_hh), *out = NULL;
  switch (r->mode) {
  case MODE_RNN: {
    nb_tensor *pre = nb_add(xp, hp);
    out = r->relu ? nb_relu(pre) : nb_tanh(pre);
    nb_free(pre);
    break;
  }
  case MODE_LSTM: { /* gates i, f, g, o; c' = f c + i g; h' = o tanh(c') */
    nb_tensor *gates = nb_add(xp, hp), *g[4] = {NULL};
    if (gates) nb_chunk(gates, 4, 1, g, 4);
    nb_tensor *t[] = {nb_sigmoid(g[0]), nb_sigmoid(g[1]), nb_tanh(g[2]), nb_sigmoid(g[3])};
    nb_tensor *fc = nb_mul(t[1], c), *ig = nb_mul(t[0], t[2]);
    *c_new = nb_add(fc, ig);
    nb_tensor *tc = nb_tanh(*c_new);
    out = nb_mul(t[3], tc);
    nb_tensor *tmp[] = {gates, fc, ig, tc};
    free_all(tmp, 4);
    free_all(g, 4);
    free_all(t, 4);
    break;
  }
  case MODE_GRU: {
    /* r, z from both projections; n = tanh(x_n + r (W_hn h + b_hn)); h' = n + z (h - n) */
    nb_tensor *xg[3] = {NULL}, *hg[3] = {NULL};
    nb_chunk(xp, 3, 1, xg, 3);
    if (hp) nb_chunk(hp, 3, 1, hg, 3);
    nb_tensor *ar = nb_add(xg[0], hg[0]), *rg = nb_sigmoid(ar);
    nb_tensor *az = nb_add(xg[1], hg[1]), *z = nb_sigmoid(az);
    nb_tensor *rh = nb_mul(rg, hg[2]), *an = nb_add(xg[2], rh), *n = nb_tanh(an);
    nb_tensor *d = nb_sub(h, n), *zd = nb_mul(z, d);
    out = nb_add(n, zd);
    nb_tensor *tmp[] = {ar, rg, az, z, rh, an, n, d, zd};
    free_all(tmp, 9);
    free_all(xg, 3);
    free_all(hg, 3);
    break;
  }
  case MODE_COUNT: break;
  }
  nb_free(hp);
  return out;
}

/* Run one direction of one layer: xs[t] = W_ih x_t + b_ih [B, G*H] (borrowed)
 * is the input projection of step t, h and c (borrowed) the initial states.
 * outs[t] gets the hidden state after step t (new references; the caller
 * frees them, also after a failure) and *c_last the final cell state (LSTM). */
static nb_status run_direction(const rnn *r, const cell_params *p, nb_tensor *const *xs, int64_t T,
                               bool reverse, nb_tensor *h, nb_tensor *c, nb_tensor **outs,
                               nb_tensor **c_last) {
  nb_tensor *c_own = NULL;
  for (int64_t i = 0; i < T; i++) {
    int64_t t = reverse ? T - 1 - i : i;
    nb_tensor *c_new = NULL;
    h = outs[t] = step(r, p, xs[t], h, c, &c_new);
    nb_free(c_own); /* the graph keeps what backward needs */
    c = c_own = c_new;
    if (!h || (r->mode == MODE_LSTM && !c)) {
      nb_free(c_own);
      return nb_last_status() != NB_OK ? nb_last_status() : NB_ERR_ARG;
    }
  }
  *c_last = c_own;
  return NB_OK;
}

/* W_ih x + b_ih for a layer input [A, C, F] as one GEMM over A * C rows:
 * [A, C, G*H]. */
static nb_tensor *project(nb_tensor *in, const cell_params *p) {
  nb_tensor *flat = nb_flatten(in, 0, 1);
  nb_tensor *y = nb_linear(flat, p->w_ih, p->b_ih);
  nb_tensor *y3 = y ? nb_reshape(y, NB_SHAPE(nb_size(in, 0), nb_size(in, 1), nb_size(y, 1))) : NULL;
  nb_free(flat);
  nb_free(y);
  return y3;
}

/* Steps [0, len) of x along tdim into steps[0..len) (new references), by
 * halving. A slice's gradient is a zero tensor of its input's size with the
 * slice's gradient added in, so selecting every step straight from x would
 * cost O(T^2) in backward; halving costs O(T log T). */
static nb_status split_steps(nb_tensor *x, int tdim, int64_t len, nb_tensor **steps) {
  if (len == 1) {
    steps[0] = nb_select(x, tdim, 0);
    return steps[0] ? NB_OK : nb_last_status();
  }
  int64_t half = len / 2;
  nb_tensor *lo = nb_narrow(x, tdim, 0, half),
            *hi = lo ? nb_narrow(x, tdim, half, len - half) : NULL;
  nb_status st = hi ? split_steps(lo, tdim, half, steps) : nb_last_status();
  if (st == NB_OK) st = split_steps(hi, tdim, len - half, steps + half);
  nb_free(lo);
  nb_free(hi);
  return st;
}

/* Pieces joined by one cat: nb_stack takes at most 4096 tensors. */
#define JOIN_FANIN 256

/* h[0..n) (equal shapes) stacked along dim, as cats of at most JOIN_FANIN
 * pieces (one level per factor of JOIN_FANIN in n). */
static nb_tensor *join_steps(nb_tensor *const *h, int64_t n, int dim) {
  if (n == 1) return nb_unsqueeze(h[0], dim);
  int64_t per = 1; /* steps per piece */
  while (per * JOIN_FANIN < n) per *= JOIN_FANIN;
  nb_tensor *parts[JOIN_FANIN] = {NULL};
  int np = 0;
  for (int64_t at = 0; at < n; at += per)
    parts[np++] = join_steps(h + at, at + per < n ? per : n - at, dim);
  nb_tensor *y = nb_cat(parts, np, dim);
  free_all(parts, np);
  return y;
}

/* ---- parameters ---------------------------------------------------------------------- */

static void param_name(char *buf, size_t size, const char *kind, int layer, int dir) {
  snprintf(buf, size, "%s_l%d%s", kind, layer, dir ? "_reverse" : "");
}

static const char *const param_kinds[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};

/* Looked up by name on every forward: loading may have replaced them. */
static nb_status get_params(nb_module *m, const rnn *r, int layer, int dir, cell_params *p) {
  nb_tensor *t[4] = {NULL};
  for (int i = 0; i < (r->bias ? 4 : 2); i++) {
    char name[64];
    param_name(name, sizeof name, param_kinds[i], layer, dir);
    if (!(t[i] = nb_module_get_parameter(m, name))) return nb_last_status();
  }
  *p = (cell_params){t[0], t[1], t[2], t[3]};
  return NB_OK;
}

/* ---- forward ------------------------------------------------------------------------- */

/* Check an initial state against the expected shape and dtype. */
static nb_status check_state(const char *who, const char *what, nb_tensor *s, int ndim,
                             const int64_t *shape, nb_dtype dt) {
  if (!s) return NB_OK;
  if (nb_ndim(s) != ndim || memcmp(nb_shape(s), shape, sizeof(int64_t) * (size_t)ndim) != 0)
    return nb_set_error(NB_ERR_SHAPE, "%s: %s %s must be %s (layers * directions, %shidden)", who,
                        what, nb__nn_shp(s), nb__nn_dims(ndim, shape), ndim == 3 ? "batch, " : "");
  if (nb_dtype_of(s) != dt)
    return nb_set_error(NB_ERR_DTYPE, "%s: %s is %s but the parameters are %s", who, what,
                        nb_dtype_name(nb_dtype_of(s)), nb_dtype_name(dt));
  return NB_OK;
}

/* Validate x (3-D [T, B, in] / [B, T, in], or 2-D unbatched [T, in]) and the
 * initial states; *T and *B get the sizes. */
static nb_status check_inputs(const rnn *r, const char *who, nb_tensor *x, nb_tensor *h0,
                              nb_tensor *c0, nb_dtype dt, int64_t *T, int64_t *B) {
  int nd = nb_ndim(x);
  bool batched = nd == 3;
  const char *layout = r->batch_first ? "[B, T, %lld]" : "[T, B, %lld]";
  char want[64];
  snprintf(want, sizeof want, layout, (long long)r->input_size);
  if ((nd != 2 && nd != 3) || nb_size(x, -1) != r->input_size)
    return nb_set_error(NB_ERR_SHAPE,
                        "%s: input %s must be %s (or unbatched [T, %lld]): expected %lld "
                        "input features",
                        who, nb__nn_shp(x), want, (long long)r->input_size,
                        (long long)r->input_size);
  if (nb_dtype_of(x) != dt)
    return nb_set_error(NB_ERR_DTYPE, "%s: input is %s but the parameters are %s", who,
                        nb_dtype_name(nb_dtype_of(x)), nb_dtype_name(dt));
  *T = nb_size(x, batched && r->batch_first ? 1 : 0);
  *B = batched ? nb_size(x, r->batch_first ? 0 : 1) : 1;
  if (*T < 1 || *T > INT_MAX)
    return nb_set_error(NB_ERR_SHAPE, "%s: input %s: the sequence length must be in [1, %d]", who,
                        nb__nn_shp(x), INT_MAX);
  if (c0 && r->mode != MODE_LSTM) return nb_set_error(NB_ERR_ARG, "%s: c0 is only for LSTM", who);
  int64_t shape[3] = {(int64_t)r->layers * r->dirs, *B, r->hidden};
  if (!batched) shape[1] = r->hidden;
  nb_status st = check_state(who, "h0", h0, nd, shape, dt);
  return st == NB_OK ? check_state(who, "c0", c0, nd, shape, dt) : st;
}

/* State of a forward pass: what run() must free. */
typedef struct run_state {
  nb_tensor **xs;       /* [T]: one direction's input projection per step */
  nb_tensor **outs;     /* [2 * T]: both directions' hidden states of a layer */
  nb_tensor **hn, **cn; /* [layers * dirs]: final states */
  nb_tensor *seq[2];    /* each direction's stacked output */
  nb_tensor *layer_in;  /* the current layer's input when it is not x */
  nb_tensor *h0, *c0;   /* initial states as [layers * dirs, B, H] (borrowed) or NULL */
  nb_tensor *zeros;     /* [B, H] zeros for absent initial states */
  nb_tensor *owned[3];  /* x, h0, c0 unsqueezed from unbatched input */
} run_state;

/* One direction of one layer over layer input `in` [T, B, F] (time along
 * tdim): fills s->seq[d] (the stacked output) and the final states. */
static nb_status run_layer_direction(nb_module *m, const rnn *r, run_state *s, int layer, int d,
                                     nb_tensor *in, int tdim, int64_t T) {
  int k = layer * r->dirs + d;
  cell_params p = {NULL};
  nb_status st = get_params(m, r, layer, d, &p);
  if (st != NB_OK) return st;
  nb_tensor *xp = project(in, &p);
  nb_tensor *h = s->h0 ? nb_select(s->h0, 0, k) : NULL;
  nb_tensor *c = s->c0 ? nb_select(s->c0, 0, k) : NULL;
  nb_tensor **outs = s->outs + d * T;
  st = xp && (h || !s->h0) && (c || !s->c0) ? split_steps(xp, tdim, T, s->xs) : nb_last_status();
  if (st == NB_OK)
    st =
        run_direction(r, &p, s->xs, T, d == 1, h ? h : s->zeros, c ? c : s->zeros, outs, &s->cn[k]);
  free_all(s->xs, T);
  memset(s->xs, 0, sizeof(nb_tensor *) * (size_t)T);
  nb_free(xp);
  nb_free(h);
  nb_free(c);
  if (st == NB_OK && !(s->seq[d] = join_steps(outs, T, tdim))) st = nb_last_status();
  int64_t last = d == 1 ? 0 : T - 1; /* the final state moves to hn */
  s->hn[k] = outs[last];
  outs[last] = NULL;
  free_all(outs, T);
  memset(outs, 0, sizeof(nb_tensor *) * (size_t)T);
  return st;
}

/* One layer: both directions; returns the layer's output [T, B, dirs * H]
 * (time along tdim) or NULL. */
static nb_tensor *run_layer(nb_module *m, const rnn *r, run_state *s, int layer, nb_tensor *in,
                            int tdim, int64_t T) {
  nb_status st = NB_OK;
  for (int d = 0; d < r->dirs && st == NB_OK; d++)
    st = run_layer_direction(m, r, s, layer, d, in, tdim, T);
  nb_tensor *y = NULL;
  if (st == NB_OK && r->dirs == 1) {
    y = s->seq[0];
  } else {
    if (st == NB_OK) y = nb_cat(s->seq, 2, 2);
    free_all(s->seq, 2);
  }
  s->seq[0] = s->seq[1] = NULL;
  return y;
}

/* All layers over x [T, B, in] (time along tdim): the last layer's output or NULL. */
static nb_tensor *run_layers(nb_module *m, const rnn *r, run_state *s, nb_tensor *x, int tdim,
                             int64_t T) {
  for (int l = 0;; l++) {
    nb_tensor *y = run_layer(m, r, s, l, s->layer_in ? s->layer_in : x, tdim, T);
    nb_free(s->layer_in);
    s->layer_in = NULL;
    if (!y || l + 1 == r->layers) return y;
    if (m->training && r->dropout > 0) { /* between layers, in training only */
      s->layer_in = nb_dropout(y, r->dropout, true, NULL);
      nb_free(y);
    } else {
      s->layer_in = y;
    }
    if (!s->layer_in) return NULL;
  }
}

/* The whole forward pass behind nb_rnn_forward and the module's forward. */
static nb_status run(nb_module *m, nb_tensor *x, nb_tensor *h0, nb_tensor *c0, nb_tensor **out,
                     nb_tensor **hn, nb_tensor **cn) {
  const rnn *r = (const rnn *)m;
  char who[192];
  layer_name(r, who, sizeof who);
  cell_params p0 = {NULL};
  if (get_params(m, r, 0, 0, &p0) != NB_OK) return nb__nn_prefix_error(who);
  nb_dtype dt = nb_dtype_of(p0.w_ih);
  int64_t T = 0, B = 0;
  nb_status st = check_inputs(r, who, x, h0, c0, dt, &T, &B);
  if (st != NB_OK) return st;
  bool batched = nb_ndim(x) == 3, lstm = r->mode == MODE_LSTM;
  int tdim = batched && r->batch_first ? 1 : 0, nstates = r->layers * r->dirs;
  run_state s = {
      .xs = calloc((size_t)T, sizeof(nb_tensor *)),
      .outs = calloc((size_t)(2 * T), sizeof(nb_tensor *)),
      .hn = calloc((size_t)nstates, sizeof(nb_tensor *)),
      .cn = calloc((size_t)nstates, sizeof(nb_tensor *)),
      .h0 = h0,
      .c0 = c0,
  };
  nb_tensor *res[3] = {NULL};
  if (!s.xs || !s.outs || !s.hn || !s.cn) {
    st = nb_set_error(NB_ERR_MEMORY, "%s: out of memory for a sequence of %lld steps", who,
                      (long long)T);
    goto done;
  }
  if (!batched) { /* unbatched input: a batch of one, squeezed out at the end */
    x = s.owned[0] = nb_unsqueeze(x, 1);
    if (h0) s.h0 = s.owned[1] = nb_unsqueeze(h0, 1);
    if (c0) s.c0 = s.owned[2] = nb_unsqueeze(c0, 1);
  }
  if (!s.h0 || (lstm && !s.c0)) s.zeros = nb_zeros(dt, NB_SHAPE(B, r->hidden));
  if (x && (s.h0 || !h0) && (s.c0 || !c0) && (s.zeros || (s.h0 && (s.c0 || !lstm)))) {
    res[0] = run_layers(m, r, &s, x, tdim, T);
    if (res[0]) res[1] = join_steps(s.hn, nstates, 0);
    if (res[1] && lstm) res[2] = join_steps(s.cn, nstates, 0);
  }
  for (int i = 0; i < 3 && !batched; i++) {
    nb_tensor *sq = res[i] ? nb_squeeze(res[i], 1) : NULL;
    nb_free(res[i]);
    res[i] = sq;
  }
  if (!res[0] || !res[1] || (lstm && !res[2])) {
    st = nb__nn_prefix_error(who); /* an op failed inside: name the layer */
    free_all(res, 3);
    goto done;
  }
  nb_tensor **dst[3] = {out, hn, cn};
  for (int i = 0; i < 3; i++) {
    if (dst[i] && res[i])
      *dst[i] = res[i];
    else
      nb_free(res[i]);
  }
done:
  if (s.outs) free_all(s.outs, 2 * T);
  free(s.xs); /* emptied by each direction */
  if (s.hn) free_all(s.hn, nstates);
  if (s.cn) free_all(s.cn, nstates);
  free(s.outs);
  free(s.hn);
  free(s.cn);
  free_all(s.owned, 3);
  nb_free(s.zeros);
  return st;
}

static nb_tensor *rnn_forward(nb_module *self, nb_tensor *const *in, int n) {
  const rnn *r = (const rnn *)self;
  int most = r->mode == MODE_LSTM ? 3 : 2;
  if (n < 1 || n > most) {
    char who[192];
    nb_set_error(NB_ERR_ARG, "%s: expected 1 to %d inputs (x, h0%s), got %d",
                 layer_name(r, who, sizeof who), most, most == 3 ? ", c0" : "", n);
    return NULL;
  }
  nb_tensor *out = NULL;
  run(self, in[0], n > 1 ? in[1] : NULL, n > 2 ? in[2] : NULL, &out, NULL, NULL);
  return out;
}

static const nb_module_ops rnn_ops[MODE_COUNT] = {
    [MODE_RNN] = {.type_name = "RNN", .forward = rnn_forward, .describe = rnn_describe},
    [MODE_LSTM] = {.type_name = "LSTM", .forward = rnn_forward, .describe = rnn_describe},
    [MODE_GRU] = {.type_name = "GRU", .forward = rnn_forward, .describe = rnn_describe},
};

nb_status nb_rnn_forward(nb_module *m, nb_tensor *x, nb_tensor *h0, nb_tensor *c0, nb_tensor **out,
                         nb_tensor **hn, nb_tensor **cn) {
  static const char op[] = "rnn_forward";
  nb_tensor **dst[3] = {out, hn, cn};
  for (int i = 0; i < 3; i++)
    if (dst[i]) *dst[i] = NULL;
  if (!m) return nb__nn_null(op, "the module");
  bool recurrent = false;
  for (int i = 0; i < MODE_COUNT; i++) recurrent = recurrent || m->ops == &rnn_ops[i];
  if (!recurrent)
    return nb_set_error(NB_ERR_ARG, "%s: expected an RNN, LSTM or GRU module, got a %s", op,
                        nb_module_type(m));
  if (!x) return nb__nn_null(op, "the input");
  return run(m, x, h0, c0, out, hn, cn);
}

/* ---- constructors -------------------------------------------------------------------- */

static nb_module *rnn_new(const char *op, rnn_mode mode, int64_t input_size, int64_t hidden,
                          const nb_rnn_opts *opts) {
  nb_rnn_opts o = opts ? *opts : (nb_rnn_opts){0};
  int layers = o.num_layers ? o.num_layers : 1;
  nb_status st = NB_OK;
  if (input_size < 0 || hidden < 1 || hidden > INT64_MAX / 8 || input_size > INT64_MAX / 8)
    st = nb_set_error(NB_ERR_ARG, "%s: input_size %lld must be >= 0 and hidden_size %lld >= 1", op,
                      (long long)input_size, (long long)hidden);
  else if (layers < 1 || layers > INT_MAX / 2)
    st = nb_set_error(NB_ERR_ARG, "%s: num_layers %d must be >= 1", op, o.num_layers);
  else if (!(o.dropout >= 0 && o.dropout <= 1))
    st = nb_set_error(NB_ERR_ARG, "%s: dropout %g must be in [0, 1]", op, o.dropout);
  else if (o.relu && mode != MODE_RNN)
    st = nb_set_error(NB_ERR_ARG, "%s: the relu nonlinearity is for RNN only", op);
  else
    st = nb__nn_check_dtype(op, o.dtype);
  if (st != NB_OK) return NULL;
  rnn *r = (rnn *)nb_module_new(&rnn_ops[mode], sizeof(rnn));
  if (!r) return NULL;
  *r = (rnn){.base = r->base,
             .mode = mode,
             .input_size = input_size,
             .hidden = hidden,
             .layers = layers,
             .dirs = o.bidirectional ? 2 : 1,
             .batch_first = o.batch_first,
             .bias = !o.no_bias,
             .relu = o.relu,
             .dropout = o.dropout};
  /* PyTorch's order: per layer, per direction: w_ih, w_hh, b_ih, b_hh. */
  int64_t gates = gate_count[mode] * hidden;
  double bound = 1.0 / sqrt((double)hidden);
  for (int l = 0; l < layers; l++)
    for (int d = 0; d < r->dirs; d++)
      for (int i = 0; i < (r->bias ? 4 : 2); i++) {
        char name[64];
        param_name(name, sizeof name, param_kinds[i], l, d);
        int64_t cols = i == 1 ? hidden : l == 0 ? input_size : hidden * r->dirs;
        nb_tensor *t = i < 2 ? nb__nn_new_param(&r->base, name, o.dtype, NB_SHAPE(gates, cols))
                             : nb__nn_new_param(&r->base, name, o.dtype, NB_SHAPE(gates));
        if (!t || nb_init_uniform_(t, -bound, bound, o.generator) != NB_OK) {
          nb__nn_prefix_error(op);
          nb_module_free(&r->base);
          return NULL;
        }
      }
  return &r->base;
}

nb_module *nb_rnn_new(int64_t input_size, int64_t hidden_size, const nb_rnn_opts *opts) {
  return rnn_new("rnn_new", MODE_RNN, input_size, hidden_size, opts);
}

nb_module *nb_lstm_new(int64_t input_size, int64_t hidden_size, const nb_rnn_opts *opts) {
  return rnn_new("lstm_new", MODE_LSTM, input_size, hidden_size, opts);
}

nb_module *nb_gru_new(int64_t input_size, int64_t hidden_size, const nb_rnn_opts *opts) {
  return rnn_new("gru_new", MODE_GRU, input_size, hidden_size, opts);
}
