/* autograd/gradcheck.c - checking gradients against finite differences.
 *
 * Owns: nb_gradcheck (first derivatives) and nb_gradgradcheck (second
 * derivatives), offered to users for their own ops. Both project onto a random
 * direction: the analytic vector-Jacobian product J^T v from one backward is
 * compared, element by element of every checked input, with central
 * differences of <f(x), v>. All arithmetic is float64.
 */
#include "autograd/autograd_impl.h"

#include <math.h>
#include <string.h>

#define MAX_INPUTS 16

static bool checked(nb_tensor *const *inputs, int n, int i) {
  bool any = false;
  for (int k = 0; k < n; k++) any = any || (inputs[k] && inputs[k]->requires_grad);
  return nb_dtype_is_floating(inputs[i]->dtype) && (!any || inputs[i]->requires_grad);
}

/* <fn(x), v> as a double, under no-grad. */
static nb_status project(nb_gradcheck_fn fn, nb_tensor *const *x, int n, void *user, nb_tensor *v,
                         double *out) {
  nb_tensor *y = fn(x, n, user);
  if (!y) return nb_last_status();
  nb_tensor *y64 = nbk_to(y, NB_DTYPE_FLOAT64);
  nb_tensor *p = y64 ? nbk_mul(y64, v) : NULL;
  nb_tensor *s = p ? nbk_sum(p, NB_ALL_DIMS, false) : NULL;
  nb_status st = s ? NB_OK : nb_last_status();
  if (s) *out = nb_item(s);
  nb_free(s);
  nb_free(p);
  nb_free(y64);
  nb_free(y);
  return st;
}

nb_status nb_gradcheck(nb_gradcheck_fn fn, nb_tensor *const *inputs, int n, void *user,
                       const nb_gradcheck_opts *opts) {
  if (!fn || n < 1 || n > MAX_INPUTS || !inputs)
    return nb__fail(NB_ERR_ARG, "gradcheck: need a function and 1..%d inputs", MAX_INPUTS);
  for (int i = 0; i < n; i++) NB_CHECK_NULL_STATUS("gradcheck", inputs[i]);
  double eps = opts && opts->eps > 0 ? opts->eps : 1e-6;
  double atol = opts && opts->atol > 0 ? opts->atol : 1e-5;
  double rtol = opts && opts->rtol > 0 ? opts->rtol : 1e-3;

  nb_scope_begin();
  nb_status st = NB_OK;
  nb_tensor *x[MAX_INPUTS];
  for (int i = 0; i < n && st == NB_OK; i++) {
    bool check = checked(inputs, n, i);
    x[i] = check ? nbk_to(inputs[i], NB_DTYPE_FLOAT64) : inputs[i];
    if (check) x[i] = x[i] ? nbk_clone(x[i]) : NULL;
    if (!x[i] || (check && nb_requires_grad_(x[i], true) != NB_OK)) st = nb_last_status();
  }
  nb_tensor *y = st == NB_OK ? fn(x, n, user) : NULL;
  if (st == NB_OK && !y) st = nb_last_status();
  if (st == NB_OK && !nb_dtype_is_floating(y->dtype))
    st = nb__fail(NB_ERR_DTYPE, "gradcheck: the function's output is %s, not floating",
                  nb_dtype_name(y->dtype));
  nb_tensor *v = st == NB_OK ? nb_randn(NB_DTYPE_FLOAT64, y->ndim, y->shape, NULL) : NULL;
  if (st == NB_OK && !v) st = nb_last_status();
  /* Analytic J^T v for every checked input in one backward. */
  nb_tensor *wrt[MAX_INPUTS], *grads[MAX_INPUTS] = {0};
  int idx[MAX_INPUTS], nwrt = 0;
  for (int i = 0; i < n && st == NB_OK; i++)
    if (checked(inputs, n, i)) {
      idx[nwrt] = i;
      wrt[nwrt++] = x[i];
    }
  if (st == NB_OK && nwrt == 0) st = nb__fail(NB_ERR_ARG, "gradcheck: no floating input to check");
  /* An output that recorded no graph has a zero gradient (e.g. the gradient
   * of a linear op in gradgradcheck); finite differences must agree. */
  if (st == NB_OK && y->requires_grad) {
    nb_tensor *vy = nbk_to(v, y->dtype);
    st = vy ? nb_grad(&y, 1, wrt, nwrt, grads,
                      &(nb_grad_opts){.grad_outputs = &vy, .allow_unused = true})
            : nb_last_status();
  }
  /* Numeric: central differences of <f(x), v>, one element at a time. */
  for (int w = 0; w < nwrt && st == NB_OK; w++) {
    nb_tensor *xi = wrt[w];
    nb_tensor *g64 = grads[w] ? nbk_to(grads[w], NB_DTYPE_FLOAT64) : NULL;
    nb_tensor *g = g64 ? nbk_contiguous(g64) : NULL; /* gradients may be views */
    double *data = nb__ptr(xi, 0);
    for (int64_t e = 0; e < xi->numel && st == NB_OK; e++) {
      double orig = data[e], fp = 0, fm = 0;
      data[e] = orig + eps;
      nb_no_grad_begin();
      st = project(fn, x, n, user, v, &fp);
      data[e] = orig - eps;
      if (st == NB_OK) st = project(fn, x, n, user, v, &fm);
      nb_no_grad_end();
      data[e] = orig;
      if (st != NB_OK) break;
      double numeric = (fp - fm) / (2 * eps);
      double analytic = g ? nb__load(NB_DTYPE_FLOAT64, nb__ptr(g, e)) : 0.0;
      if (!(fabs(analytic - numeric) <= atol + rtol * fabs(numeric))) {
        char buf[160];
        st = nb__fail(NB_ERR_NUMERIC,
                      "gradcheck: input %d (shape %s), element %lld: analytic %.8g vs numeric "
                      "%.8g",
                      idx[w], nb__dims_str(xi->ndim, xi->shape, buf, sizeof buf), (long long)e,
                      analytic, numeric);
      }
    }
  }
  for (int w = 0; w < nwrt; w++) nb_free(grads[w]);
  nb_scope_end();
  return st;
}

/* The second-order check is a first-order check of x -> sum_i <g_i(x), u_i>,
 * where g = grad of <fn(x), v> built with create_graph. */
typedef struct gg_ctx {
  nb_gradcheck_fn fn;
  void *user;
  nb_tensor *v;
  nb_tensor *u[MAX_INPUTS];
  nb_tensor *const *orig;
} gg_ctx;

static nb_tensor *first_grad_projection(nb_tensor *const *x, int n, void *vctx) {
  gg_ctx *c = vctx;
  /* The first gradient needs a graph even when gradcheck evaluates this
   * function under no-grad for its finite differences. */
  bool grad_on = nb_set_grad_enabled(true);
  nb_tensor *y = c->fn(x, n, c->user);
  if (!y) {
    nb_set_grad_enabled(grad_on);
    return NULL;
  }
  if (!c->v) c->v = nb_keep(nb_randn(NB_DTYPE_FLOAT64, y->ndim, y->shape, NULL));
  nb_tensor *wrt[MAX_INPUTS], *g[MAX_INPUTS] = {0};
  int idx[MAX_INPUTS], nwrt = 0;
  for (int i = 0; i < n; i++)
    if (checked(c->orig, n, i)) {
      idx[nwrt] = i;
      wrt[nwrt++] = x[i];
    }
  nb_tensor *vy = nbk_to(c->v, y->dtype);
  nb_status st =
      !y->requires_grad ? NB_OK /* constant function: zero gradients */
      : vy              ? nb_grad(
                              &y, 1, wrt, nwrt, g,
                              &(nb_grad_opts){.grad_outputs = &vy, .create_graph = true, .allow_unused = true})
           : nb_last_status();
  if (st != NB_OK) {
    nb_set_grad_enabled(grad_on);
    return NULL;
  }
  nb_tensor *total = NULL;
  for (int w = 0; w < nwrt; w++) {
    if (!g[w]) continue;
    if (!c->u[idx[w]])
      c->u[idx[w]] = nb_keep(nb_randn(NB_DTYPE_FLOAT64, g[w]->ndim, g[w]->shape, NULL));
    nb_tensor *term =
        nb_sum(nb_mul(nb_to(g[w], NB_DTYPE_FLOAT64), c->u[idx[w]]), NB_ALL_DIMS, false);
    total = total ? nb_add(total, term) : term;
  }
  if (!total) total = nb_zeros(NB_DTYPE_FLOAT64, NB_SCALAR_SHAPE);
  nb_set_grad_enabled(grad_on);
  return total;
}

nb_status nb_gradgradcheck(nb_gradcheck_fn fn, nb_tensor *const *inputs, int n, void *user,
                           const nb_gradcheck_opts *opts) {
  if (!fn || n < 1 || n > MAX_INPUTS || !inputs)
    return nb__fail(NB_ERR_ARG, "gradgradcheck: need a function and 1..%d inputs", MAX_INPUTS);
  gg_ctx c = {.fn = fn, .user = user, .orig = inputs};
  nb_status st = nb_gradcheck(first_grad_projection, inputs, n, &c, opts);
  nb_free(c.v);
  for (int i = 0; i < MAX_INPUTS; i++) nb_free(c.u[i]);
  return st;
}
