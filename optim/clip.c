/* optim/clip.c - gradient clipping (torch.nn.utils.clip_grad_norm_ /
 * clip_grad_value_).
 *
 * Owns: nb_clip_grad_norm (the p-norm of all gradients together, computed as
 * PyTorch does: the p-norm of the per-gradient p-norms, or the largest |g|
 * for p = inf; gradients scaled by max_norm / (total + 1e-6) when that is
 * below 1) and nb_clip_grad_value. Parameters without a gradient are skipped.
 */
#include <math.h>

#include "optim/optim_impl.h"

static nb_status check_list(const char *op, nb_tensor *const *params, int n) {
  if (n < 0 || (n > 0 && !params))
    return nb_set_error(NB_ERR_ARG, "%s: bad parameter list (%d parameters)", op, n);
  for (int i = 0; i < n; i++)
    if (!params[i]) return nb__optim_null(op);
  return NB_OK;
}

double nb_clip_grad_norm(nb_tensor *const *params, int n, double max_norm, double p) {
  const char *op = "clip_grad_norm";
  if (check_list(op, params, n) != NB_OK) return NAN;
  if (!(max_norm >= 0)) {
    nb_set_error(NB_ERR_ARG, "%s: invalid max_norm %g (expected >= 0)", op, max_norm);
    return NAN;
  }
  if (!(p > 0 || p == -INFINITY)) {
    nb_set_error(NB_ERR_ARG, "%s: invalid norm type p = %g (expected p > 0 or +-inf)", op, p);
    return NAN;
  }
  /* Combine the per-gradient norms in double, in parameter order. */
  double total = p == -INFINITY ? INFINITY : 0;
  bool any = false;
  for (int i = 0; i < n; i++) {
    nb_tensor *g = nb_grad_of(params[i]);
    if (!g) continue;
    nb_tensor *norm = nbk_norm(g, p, NB_ALL_DIMS, false);
    double v = nb_item(norm);
    nb_free(norm);
    if (!norm) return NAN;
    if (isinf(p)) /* +inf: the largest |g|; -inf: the smallest */
      total = p > 0 ? (v > total || isnan(v) ? v : total) : (v < total || isnan(v) ? v : total);
    else
      total += p == 1 ? v : p == 2 ? v * v : pow(v, p);
    any = true;
  }
  if (!any) return 0;
  if (!isinf(p)) total = p == 1 ? total : p == 2 ? sqrt(total) : pow(total, 1 / p);
  const double coef = max_norm / (total + 1e-6);
  if (!(coef >= 1)) /* PyTorch multiplies by min(coef, 1): NaN propagates */
    for (int i = 0; i < n; i++) {
      nb_tensor *g = nb_grad_of(params[i]);
      if (g && nb_mul_scalar_(g, coef) != NB_OK) return NAN;
    }
  return total;
}

nb_status nb_clip_grad_value(nb_tensor *const *params, int n, double clip) {
  const char *op = "clip_grad_value";
  nb_status st = check_list(op, params, n);
  if (st != NB_OK) return st;
  if (!(clip >= 0))
    return nb_set_error(NB_ERR_ARG, "%s: invalid clip value %g (expected >= 0)", op, clip);
  for (int i = 0; i < n && st == NB_OK; i++) {
    nb_tensor *g = nb_grad_of(params[i]);
    if (g) st = nb_clamp_(g, -clip, clip);
  }
  return st;
}
