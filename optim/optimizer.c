/* optim/optimizer.c - the optimizer object shared by every algorithm.
 *
 * Owns: construction (parameter checks, hyperparameters through the
 * algorithm's table entry), parameter groups, step (lazy state creation, the
 * contiguous fast path and the copy fallback, version bumps), zero_grad, lr
 * get/set, state enumeration/loading for checkpoints, free, and the parallel
 * loop driver the fused updates share.
 */
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_impl.h"

/* ---- shared helpers ----------------------------------------------------- */

nb_status nb__optim_null(const char *op) {
  if (nb_last_status() == NB_OK) nb_set_error(NB_ERR_NULL, "%s: input tensor is NULL", op);
  return NB_ERR_NULL;
}

nb_status nb__optim_bad(const char *algo, const char *name, double value, const char *expected) {
  return nb_set_error(NB_ERR_ARG, "%s: invalid %s %g (expected %s)", algo, name, value, expected);
}

nb_status nb__optim_check_min(const char *algo, const char *name, double v, double lo, bool open) {
  if (isfinite(v) && (open ? v > lo : v >= lo)) return NB_OK;
  char expected[64];
  snprintf(expected, sizeof expected, "%s %g", open ? ">" : ">=", lo);
  return nb__optim_bad(algo, name, v, expected);
}

void nb__optim_run(int64_t n, nb__kernel k, const void *ctx) {
  int threads = nb_get_num_threads();
  if (n < NB__OPTIM_GRAIN || threads <= 1) {
    k(ctx, 0, n);
    return;
  }
  const int64_t chunk = NB__OPTIM_GRAIN / 2, nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t c = 0; c < nchunks; c++)
    k(ctx, c * chunk, c * chunk + chunk < n ? c * chunk + chunk : n);
}

/* ---- construction and groups ---------------------------------------------- */

static bool grow(void **array, int *cap, int need, size_t elem) {
  if (need <= *cap) return true;
  int ncap = *cap ? *cap : 4;
  while (ncap < need) ncap *= 2;
  void *p = realloc(*array, (size_t)ncap * elem);
  if (!p) return false;
  *array = p;
  *cap = ncap;
  return true;
}

static void free_param(nb__param *p) {
  for (int k = 0; k < NB__MAX_SLOTS; k++) nb_free(p->slot[k]);
}

/* The groups' state entries: name and place in nb__hyper. */
static const struct {
  const char *name;
  size_t offset;
} group_entries[NB__GROUP_ENTRIES] = {
    [NB__GROUP_LR] = {"lr", offsetof(nb__hyper, lr)},
    [NB__GROUP_MOMENTUM] = {"momentum", offsetof(nb__hyper, momentum)},
    [NB__GROUP_BETA1] = {"beta1", offsetof(nb__hyper, beta1)},
};

static bool group_has(const nb__algo *algo, int e) {
  return e == NB__GROUP_LR || (e == NB__GROUP_MOMENTUM && algo->cycle_momentum) ||
         (e == NB__GROUP_BETA1 && algo->cycle_beta1);
}

static int group_entry_count(const nb__algo *algo) {
  int n = 0;
  for (int e = 0; e < NB__GROUP_ENTRIES; e++) n += group_has(algo, e);
  return n;
}

static double *group_value(nb__hyper *h, int e) {
  return (double *)((char *)h + group_entries[e].offset);
}

nb_status nb__optim_check_group_value(const nb_optimizer *opt, int e, double v) {
  const char *an = opt->algo->name, *name = group_entries[e].name;
  if (e != NB__GROUP_BETA1) return nb__optim_check_min(an, name, v, 0, false);
  return v >= 0 && v < 1 ? NB_OK : nb__optim_bad(an, name, v, "0 <= beta1 < 1");
}

static void free_group(nb__group *g) {
  for (int e = 0; e < NB__GROUP_ENTRIES; e++) nb_free(g->entry_t[e]);
}

/* Check params[0..n) and append them as group g. */
static nb_status add_params(nb_optimizer *opt, nb_tensor *const *params, int n, int g,
                            const char *op) {
  const char *name = opt->algo->name;
  if (n < 0 || (n > 0 && !params))
    return nb_set_error(NB_ERR_ARG, "%s: %s: bad parameter list (%d parameters)", name, op, n);
  for (int i = 0; i < n; i++) {
    nb_tensor *t = params[i];
    if (!t) return nb__optim_null(name);
    if (!nb_dtype_is_floating(nb_dtype_of(t)))
      return nb_set_error(NB_ERR_DTYPE, "%s: %s: parameter %d is %s (floating point needed)", name,
                          op, i, nb_dtype_name(nb_dtype_of(t)));
    if (!nb_requires_grad(t) || !nb_is_leaf(t))
      return nb_set_error(NB_ERR_ARG, "%s: %s: parameter %d must be a leaf that requires grad",
                          name, op, i);
    for (int j = 0; j < opt->nparams + i; j++) {
      nb_tensor *other = j < opt->nparams ? opt->params[j].t : params[j - opt->nparams];
      if (other == t)
        return nb_set_error(NB_ERR_ARG, "%s: %s: parameter %d appears more than once", name, op, i);
    }
  }
  if (!grow((void **)&opt->params, &opt->cap_params, opt->nparams + n, sizeof(nb__param)))
    return nb_set_error(NB_ERR_MEMORY, "%s: out of memory", name);
  for (int i = 0; i < n; i++) {
    nb__param *p = &opt->params[opt->nparams];
    memset(p, 0, sizeof *p);
    p->t = params[i];
    p->group = g;
    for (int k = 0; k < opt->algo->nslots; k++)
      snprintf(p->names[k], sizeof p->names[k], "%d.%s", opt->nparams, opt->algo->slots[k].name);
    opt->nparams++;
  }
  return NB_OK;
}

int nb_optim_add_group(nb_optimizer *opt, nb_tensor *const *params, int n, const void *opts) {
  if (!opt) return nb_set_error(NB_ERR_ARG, "optim_add_group: optimizer is NULL");
  nb__hyper h;
  nb_status st = opt->algo->hyper(opts ? opts : opt->opts, &h);
  if (st != NB_OK) return st;
  if (!grow((void **)&opt->groups, &opt->cap_groups, opt->ngroups + 1, sizeof(nb__group)))
    return nb_set_error(NB_ERR_MEMORY, "%s: out of memory", opt->algo->name);
  nb__group *g = &opt->groups[opt->ngroups];
  memset(g, 0, sizeof *g);
  g->h = h;
  g->initial_lr = NAN;
  for (int e = 0; e < NB__GROUP_ENTRIES && st == NB_OK; e++) {
    if (!group_has(opt->algo, e)) continue;
    snprintf(g->entry_name[e], sizeof g->entry_name[e], "group.%d.%s", opt->ngroups,
             group_entries[e].name);
    g->entry_t[e] = nb_keep(nb_scalar(NB_DTYPE_FLOAT64, *group_value(&g->h, e)));
    if (!g->entry_t[e]) st = nb_last_status();
  }
  int first = opt->nparams;
  if (st == NB_OK) st = add_params(opt, params, n, opt->ngroups, "add_group");
  if (st != NB_OK) { /* undo: the group and any parameters already appended */
    while (opt->nparams > first) free_param(&opt->params[--opt->nparams]);
    free_group(g);
    return st;
  }
  return opt->ngroups++;
}

nb_optimizer *nb__optim_new(const nb__algo *algo, nb_tensor *const *params, int n,
                            const void *opts) {
  if (n <= 0 || !params) {
    nb_set_error(NB_ERR_ARG, "%s: empty parameter list (%d parameters)", algo->name, n);
    return NULL;
  }
  nb_optimizer *opt = calloc(1, sizeof *opt);
  void *copy = calloc(1, algo->opts_size);
  if (!opt || !copy) {
    free(opt);
    free(copy);
    nb_set_error(NB_ERR_MEMORY, "%s: out of memory", algo->name);
    return NULL;
  }
  if (opts) memcpy(copy, opts, algo->opts_size);
  opt->algo = algo;
  opt->opts = copy;
  if (nb_optim_add_group(opt, params, n, NULL) < 0) {
    nb_optim_free(opt);
    return NULL;
  }
  return opt;
}

void nb_optim_free(nb_optimizer *opt) {
  if (!opt) return;
  for (int i = 0; i < opt->nparams; i++) free_param(&opt->params[i]);
  for (int g = 0; g < opt->ngroups; g++) free_group(&opt->groups[g]);
  free(opt->params);
  free(opt->groups);
  free(opt->opts);
  free(opt);
}

/* ---- step ----------------------------------------------------------------- */

static bool slot_used(const nb_optimizer *opt, const nb__param *p, int k) {
  return !opt->algo->slot_used || opt->algo->slot_used(&opt->groups[p->group].h, k);
}

/* A new (dense) state tensor for slot k of p, filled with its initial value. */
static nb_tensor *make_slot(const nb_optimizer *opt, const nb__param *p, int k) {
  const nb__slot *s = &opt->algo->slots[k];
  double init = s->init == NB__INIT_ONE   ? 1.0
                : s->init == NB__INIT_ACC ? opt->groups[p->group].h.init_acc
                                          : 0.0;
  nb_tensor *t = s->kind == NB__SLOT_LIKE  ? nb_full_like(p->t, NB_DTYPE_COUNT, init)
                 : s->kind == NB__SLOT_F64 ? nb_scalar(NB_DTYPE_FLOAT64, init)
                                           : nb_scalar(NB_DTYPE_FLOAT32, init);
  return t ? nb_keep(t) : NULL;
}

/* Check every gradient's shape first so a bad one changes no parameter. */
static nb_status check_grads(const nb_optimizer *opt) {
  for (int i = 0; i < opt->nparams; i++) {
    const nb__param *p = &opt->params[i];
    nb_tensor *g = nb_grad_of(p->t);
    if (!g) continue;
    bool same = nb_ndim(g) == nb_ndim(p->t);
    for (int d = 0; same && d < nb_ndim(g); d++) same = nb_shape(g)[d] == nb_shape(p->t)[d];
    if (!same) {
      char a[128], b[128];
      return nb_set_error(NB_ERR_SHAPE, "%s: step: parameter %d is %s but its gradient is %s",
                          opt->algo->name, i, nb_shape_str(p->t, a, sizeof a),
                          nb_shape_str(g, b, sizeof b));
    }
    if (!nb_dtype_is_floating(nb_dtype_of(g)))
      return nb_set_error(NB_ERR_DTYPE, "%s: step: gradient of parameter %d is %s", opt->algo->name,
                          i, nb_dtype_name(nb_dtype_of(g)));
  }
  return NB_OK;
}

static nb_status step_param(nb_optimizer *opt, nb__param *p) {
  nb_tensor *g = nb_grad_of(p->t);
  nb__update u = {.h = &opt->groups[p->group].h, .dtype = nb_dtype_of(p->t), .n = nb_numel(p->t)};
  for (int k = 0; k < opt->algo->nslots; k++) {
    if (!p->slot[k] && slot_used(opt, p, k)) {
      p->slot[k] = make_slot(opt, p, k);
      if (!p->slot[k]) return nb_last_status();
      u.created[k] = true;
    }
    u.s[k] = p->slot[k] ? nb_data(p->slot[k]) : NULL;
  }
  /* Fast path: dense parameter and gradient of the same dtype. Otherwise
   * update dense copies and write the parameter back. (Only the copies are
   * freed: nb_free on the borrowed gradient would take it out of its scope.) */
  const bool dense = nb_is_contiguous(p->t);
  const bool dense_g = nb_is_contiguous(g) && nb_dtype_of(g) == u.dtype;
  nb_tensor *pc = dense ? p->t : nbk_clone(p->t);
  nb_tensor *gc = dense_g ? g : nbk_clone(nbk_to(g, u.dtype));
  nb_status st = pc && gc ? NB_OK : nb_last_status();
  if (st == NB_OK) {
    u.p = nb_data(pc);
    u.g = nb_data(gc);
    if (u.n > 0) opt->algo->update(&u);
    if (dense)
      nb_bump_version(p->t);
    else
      st = nb_copy_(p->t, pc);
  }
  if (!dense) nb_free(pc);
  if (!dense_g) nb_free(gc);
  return st;
}

nb_status nb_optim_step(nb_optimizer *opt) {
  if (!opt) return nb_set_error(NB_ERR_ARG, "optim_step: optimizer is NULL");
  nb_status st = check_grads(opt);
  if (st != NB_OK) return st;
  /* Scratch of the fallback path belongs to no user scope. */
  nb_scope_begin();
  for (int i = 0; i < opt->nparams && st == NB_OK; i++)
    if (nb_grad_of(opt->params[i].t)) st = step_param(opt, &opt->params[i]);
  nb_scope_end();
  return st;
}

nb_status nb_optim_zero_grad(nb_optimizer *opt, bool set_to_none) {
  if (!opt) return nb_set_error(NB_ERR_ARG, "optim_zero_grad: optimizer is NULL");
  for (int i = 0; i < opt->nparams; i++) {
    nb_status st = nb_zero_grad(opt->params[i].t, set_to_none);
    if (st != NB_OK) return st;
  }
  return NB_OK;
}

/* ---- groups and lr --------------------------------------------------------- */

int nb_optim_group_count(const nb_optimizer *opt) {
  if (!opt) return nb_set_error(NB_ERR_ARG, "optim_group_count: optimizer is NULL");
  return opt->ngroups;
}

const char *nb_optim_name(const nb_optimizer *opt) { return opt ? opt->algo->name : NULL; }

static nb_status check_group(const nb_optimizer *opt, int group, bool allow_all, const char *op) {
  if (!opt) return nb_set_error(NB_ERR_ARG, "%s: optimizer is NULL", op);
  if ((group < 0 || group >= opt->ngroups) && !(allow_all && group == -1))
    return nb_set_error(NB_ERR_INDEX, "%s: group %d out of range (%d groups)", op, group,
                        opt->ngroups);
  return NB_OK;
}

double nb_optim_get_lr(const nb_optimizer *opt, int group) {
  if (check_group(opt, group, false, "optim_get_lr") != NB_OK) return NAN;
  return opt->groups[group].h.lr;
}

nb_status nb_optim_set_lr(nb_optimizer *opt, int group, double lr) {
  nb_status st = check_group(opt, group, true, "optim_set_lr");
  if (st != NB_OK) return st;
  st = nb__optim_check_group_value(opt, NB__GROUP_LR, lr);
  if (st != NB_OK) return st;
  for (int g = 0; g < opt->ngroups; g++)
    if (group == -1 || g == group) opt->groups[g].h.lr = lr;
  return NB_OK;
}

/* ---- state for checkpoints ------------------------------------------------- */

int nb_optim_state_count(const nb_optimizer *opt) {
  if (!opt) return nb_set_error(NB_ERR_ARG, "optim_state_count: optimizer is NULL");
  int count = opt->ngroups * group_entry_count(opt->algo);
  for (int i = 0; i < opt->nparams; i++)
    for (int k = 0; k < opt->algo->nslots; k++) count += opt->params[i].slot[k] != NULL;
  return count;
}

/* Order: every parameter's existing slots (parameter order, slot order), then
 * each group's entries (group order; lr, then momentum or beta1). */
nb_status nb_optim_state_at(const nb_optimizer *opt, int i, const char **name, nb_tensor **value) {
  if (!opt || !name || !value) return nb_set_error(NB_ERR_ARG, "optim_state_at: NULL argument");
  int index = i;
  for (int j = 0; j < opt->nparams && i >= 0; j++)
    for (int k = 0; k < opt->algo->nslots; k++) {
      if (!opt->params[j].slot[k]) continue;
      if (i-- == 0) {
        *name = opt->params[j].names[k];
        *value = opt->params[j].slot[k];
        return NB_OK;
      }
    }
  const int per = group_entry_count(opt->algo);
  if (i < 0 || i >= opt->ngroups * per)
    return nb_set_error(NB_ERR_INDEX, "optim_state_at: entry %d out of range (%d entries)", index,
                        nb_optim_state_count(opt));
  nb__group *g = &opt->groups[i / per];
  for (int e = 0, r = i % per; e < NB__GROUP_ENTRIES; e++) {
    if (!g->entry_t[e] || r-- > 0) continue;
    *(double *)nb_data(g->entry_t[e]) = *group_value(&g->h, e);
    *name = g->entry_name[e];
    *value = g->entry_t[e];
    break;
  }
  return NB_OK;
}

/* Parse "<digits>.<rest>": the index, and rest in *rest. */
static bool parse_index(const char *s, int *index, const char **rest) {
  long v = 0;
  const char *c = s;
  if (*c < '0' || *c > '9') return false;
  while (*c >= '0' && *c <= '9' && v < 1000000000L) v = v * 10 + (*c++ - '0');
  if (*c != '.') return false;
  *index = (int)v;
  *rest = c + 1;
  return true;
}

nb_status nb_optim_state_load(nb_optimizer *opt, const char *name, nb_tensor *value) {
  if (!opt || !name) return nb_set_error(NB_ERR_ARG, "optim_state_load: NULL argument");
  if (!value) return nb__optim_null("optim_state_load");
  const char *an = opt->algo->name, *rest;
  int idx;
  int k = -1;
  if (strncmp(name, "group.", 6) == 0 && parse_index(name + 6, &idx, &rest) && idx < opt->ngroups)
    for (int e = 0; e < NB__GROUP_ENTRIES; e++)
      if (group_has(opt->algo, e) && strcmp(rest, group_entries[e].name) == 0) k = e;
  if (k >= 0) {
    if (nb_numel(value) != 1)
      return nb_set_error(NB_ERR_SHAPE, "%s: state_load: %s needs one value, got %lld", an, name,
                          (long long)nb_numel(value));
    double v = nb_item(value);
    nb_status st = nb__optim_check_group_value(opt, k, v);
    if (st == NB_OK) *group_value(&opt->groups[idx].h, k) = v;
    return st;
  }
  if (parse_index(name, &idx, &rest) && idx < opt->nparams)
    for (int j = 0; j < opt->algo->nslots; j++)
      if (strcmp(rest, opt->algo->slots[j].name) == 0) k = j;
  if (k < 0) return nb_set_error(NB_ERR_ARG, "%s: state_load: unknown state entry '%s'", an, name);
  nb__param *p = &opt->params[idx];
  bool like = opt->algo->slots[k].kind == NB__SLOT_LIKE;
  bool fits = like ? nb_ndim(value) == nb_ndim(p->t) : nb_numel(value) == 1;
  for (int d = 0; like && fits && d < nb_ndim(value); d++)
    fits = nb_shape(value)[d] == nb_shape(p->t)[d];
  if (!fits) {
    char a[128], b[128];
    return nb_set_error(NB_ERR_SHAPE, "%s: state_load: %s is %s but the state needs %s", an, name,
                        nb_shape_str(value, a, sizeof a),
                        like ? nb_shape_str(p->t, b, sizeof b) : "one value");
  }
  if (!p->slot[k]) {
    p->slot[k] = make_slot(opt, p, k);
    if (!p->slot[k]) return nb_last_status();
  }
  if (like) return nb_copy_(p->slot[k], value);
  nb_tensor *flat = nbk_reshape(value, NB_SCALAR_SHAPE);
  nb_status st = flat ? nb_copy_(p->slot[k], flat) : nb_last_status();
  nb_free(flat);
  return st;
}
