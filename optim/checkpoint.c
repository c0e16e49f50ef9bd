/* optim/checkpoint.c - training checkpoints.
 *
 * Owns: nb_checkpoint_save and nb_checkpoint_load. A checkpoint is one
 * safetensors file (nn/safetensors.c writes it atomically) holding
 *   "model.<name>"       the model's state dict, PyTorch's names;
 *   "optim.<name>"       the optimizer's state entries ("optim.3.exp_avg",
 *                        "optim.3.step", "optim.group.0.lr", and the group's
 *                        "optim.group.0.momentum" or "optim.group.0.beta1"
 *                        that OneCycleLR cycles, for the algorithms with one);
 *   "sched"              the scheduler's state, float64 [n] (only with one);
 *   "epoch"              int64, 0-d;
 *   "rng.state"          the default generator's four xoshiro256** words,
 *                        int64 [4] (the uint64 bits);
 *   "rng.cached_normal"  float64 0-d and "rng.has_cached" bool 0-d: the
 *                        second Box-Muller value.
 *
 * Loading checks every entry against the objects before touching anything
 * and reports all problems in one message: missing and unexpected keys,
 * shape and dtype mismatches (the status is NB_ERR_SHAPE if a shape differs,
 * else NB_ERR_DTYPE, else NB_ERR_ARG, as nb_module_load). Then it restores the
 * scheduler first (nb_scheduler_load_state checks the state's layout itself,
 * so a failure there still leaves everything unchanged), then the optimizer
 * (its state is replaced: per-parameter state the file lacks is dropped and
 * starts afresh, as on a new optimizer), the model (copied in place under
 * no-grad), the generator and the epoch.
 *
 * The optimizer's entries are checked through its internals (optim_impl.h):
 * the public nb_optim_state_load both checks and applies, one entry at a time.
 */
#include "optim/optim_impl.h"
#include "nn/nn.h"

#include <stdlib.h>
#include <string.h>

#define OPTIM_PREFIX "optim."
#define MODEL_PREFIX "model."

/* ---- helpers -------------------------------------------------------------------- */

static nb_status prefix_error(const char *op) {
  nb_status st = nb_last_status();
  if (st == NB_OK) st = NB_ERR_ARG;
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", nb_errmsg());
  return nb_set_error(st, "%s: %s", op, msg);
}

/* a + b in a new malloc'd string (NULL when out of memory). */
static char *join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *s = malloc(la + lb + 1);
  if (!s) return NULL;
  memcpy(s, a, la);
  memcpy(s + la, b, lb + 1);
  return s;
}

/* Note a shape or dtype difference between the file's tensor and what `who`
 * ("model", "optimizer", "checkpoint") needs. */
static void check_entry(nb_problems *r, const char *name, nb_tensor *file, int ndim,
                        const int64_t *shape, nb_dtype dtype, const char *who) {
  bool same = nb_ndim(file) == ndim;
  for (int d = 0; same && d < ndim; d++) same = nb_shape(file)[d] == shape[d];
  if (!same) {
    char have[128], want[128] = "[";
    size_t len = 1;
    for (int d = 0; d < ndim && len < sizeof want - 24; d++)
      len += (size_t)snprintf(want + len, sizeof want - len, d ? ", %lld" : "%lld",
                              (long long)shape[d]);
    snprintf(want + len, sizeof want - len, "]");
    nb_problems_add(r, NB_ERR_SHAPE, "\"%s\" has shape %s in the file but the %s needs %s", name,
                    nb_shape_str(file, have, sizeof have), who, want);
  } else if (nb_dtype_of(file) != dtype) {
    nb_problems_add(r, NB_ERR_DTYPE, "\"%s\" is %s in the file but the %s needs %s", name,
                    nb_dtype_name(nb_dtype_of(file)), who, nb_dtype_name(dtype));
  }
}

/* The file's entries sorted by name, for lookups. */
typedef struct keyed {
  const char *name;
  int index;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
  return strcmp(((const keyed *)a)->name, ((const keyed *)b)->name);
}

typedef struct lookup {
  keyed *index;
  int n;
  bool *used;
} lookup;

/* Index of the entry named a + b, or -1 (-2 when out of memory). */
static int find(const lookup *l, const char *a, const char *b) {
  char *name = join(a, b);
  if (!name) return -2;
  keyed key = {name, 0};
  const keyed *k = bsearch(&key, l->index, (size_t)l->n, sizeof *l->index, cmp_keyed);
  free(name);
  return k ? k->index : -1;
}

/* ---- saving ------------------------------------------------------------------------ */

enum { OWN_SCHED, OWN_EPOCH, OWN_RNG_STATE, OWN_RNG_NORMAL, OWN_RNG_HAS, OWN_COUNT };
static const char *const own_names[OWN_COUNT] = {"sched", "epoch", "rng.state", "rng.cached_normal",
                                                 "rng.has_cached"};

nb_status nb_checkpoint_save(const char *path, struct nb_module *model, nb_optimizer *opt,
                             nb_scheduler *sched, int64_t epoch) {
  static const char op[] = "checkpoint_save";
  if (!model || !opt)
    return nb_set_error(NB_ERR_ARG, "%s: the model and the optimizer are required", op);
  nb_clear_error(); /* an empty state listing is only a failure if it set an error */
  nb_named_tensors ms = nb_module_state(model);
  int no = nb_optim_state_count(opt);
  int ns = sched ? nb_scheduler_state(sched, NULL, 0) : 0;
  if (nb_last_status() != NB_OK || no < 0 || ns < 0) return prefix_error(op);

  int total = ms.n + no + OWN_COUNT;
  char **names = calloc((size_t)total, sizeof *names);
  nb_tensor **tensors = calloc((size_t)total, sizeof *tensors);
  double *sbuf = malloc((size_t)(ns ? ns : 1) * sizeof *sbuf);
  nb_tensor *own[OWN_COUNT] = {0};
  nb_status st = names && tensors && sbuf ? NB_OK : nb_set_error(NB_ERR_MEMORY, "out of memory");
  int n = 0;
  for (int i = 0; i < ms.n && st == NB_OK; i++, n++) {
    names[n] = join(MODEL_PREFIX, ms.names[i]);
    tensors[n] = ms.tensors[i];
  }
  for (int i = 0; i < no && st == NB_OK; i++, n++) {
    const char *name;
    st = nb_optim_state_at(opt, i, &name, &tensors[n]);
    if (st == NB_OK) names[n] = join(OPTIM_PREFIX, name);
  }
  if (st == NB_OK) {
    nb_generator_state gs;
    nb_generator_get_state(nb_default_generator(), &gs);
    int64_t words[4];
    memcpy(words, gs.s, sizeof words);
    uint8_t has = gs.has_cached != 0;
    if (sched && nb_scheduler_state(sched, sbuf, ns) == ns)
      own[OWN_SCHED] = nb_keep(nb_from_data(NB_DTYPE_FLOAT64, sbuf, 1, (int64_t[]){ns}));
    own[OWN_EPOCH] = nb_keep(nb_from_data(NB_DTYPE_INT64, &epoch, NB_SCALAR_SHAPE));
    own[OWN_RNG_STATE] = nb_keep(nb_from_data(NB_DTYPE_INT64, words, 1, (int64_t[]){4}));
    own[OWN_RNG_NORMAL] =
        nb_keep(nb_from_data(NB_DTYPE_FLOAT64, &gs.cached_normal, NB_SCALAR_SHAPE));
    own[OWN_RNG_HAS] = nb_keep(nb_from_data(NB_DTYPE_BOOL, &has, NB_SCALAR_SHAPE));
    for (int k = 0; k < OWN_COUNT && st == NB_OK; k++) {
      if (k == OWN_SCHED && !sched) continue;
      if (!own[k]) st = nb_last_status() != NB_OK ? nb_last_status() : NB_ERR_MEMORY;
      names[n] = join("", own_names[k]);
      tensors[n++] = own[k];
    }
  }
  for (int i = 0; i < n && st == NB_OK; i++)
    if (!names[i]) st = nb_set_error(NB_ERR_MEMORY, "out of memory");
  if (st == NB_OK)
    st = nb_safetensors_save(path, (nb_named_tensors){n, (const char *const *)names, tensors});
  if (st != NB_OK) prefix_error(op);
  for (int i = 0; names && i < total; i++) free(names[i]);
  for (int k = 0; k < OWN_COUNT; k++) nb_free(own[k]);
  free(names);
  free(tensors);
  free(sbuf);
  return st;
}

/* ---- loading ------------------------------------------------------------------------- */

/* Check the file's optimizer entry "optim.<rest>": false if the optimizer has
 * no such entry (then it is reported as unexpected). */
static bool check_optim_entry(nb_problems *r, const nb_optimizer *opt, const char *name,
                              const char *rest, nb_tensor *t) {
  for (int g = 0; g < opt->ngroups; g++)
    for (int e = 0; e < NB__GROUP_ENTRIES; e++)
      if (opt->groups[g].entry_t[e] && strcmp(rest, opt->groups[g].entry_name[e]) == 0) {
        int problems = r->count;
        check_entry(r, name, t, 0, NULL, NB_DTYPE_FLOAT64, "optimizer");
        /* A value nb_optim_state_load would refuse is reported now, so
         * restoring cannot fail halfway. */
        if (r->count == problems &&
            nb__optim_check_group_value(opt, e, *(const double *)nb_data(t)) != NB_OK)
          nb_problems_add(r, NB_ERR_ARG, "\"%s\" is invalid: %s", name, nb_errmsg());
        return true;
      }
  char *end;
  long i = strtol(rest, &end, 10);
  if (end == rest || *end != '.' || i < 0 || i >= opt->nparams) return false;
  const nb__param *p = &opt->params[i];
  for (int k = 0; k < opt->algo->nslots; k++) {
    if (strcmp(rest, p->names[k]) != 0) continue;
    const nb__slot *s = &opt->algo->slots[k];
    if (opt->algo->slot_used && !opt->algo->slot_used(&opt->groups[p->group].h, k))
      nb_problems_add(r, NB_ERR_ARG, "\"%s\" is state this %s does not keep (other options?)", name,
                      opt->algo->name);
    else if (s->kind == NB__SLOT_LIKE)
      check_entry(r, name, t, nb_ndim(p->t), nb_shape(p->t), nb_dtype_of(p->t), "optimizer");
    else
      check_entry(r, name, t, 0, NULL,
                  s->kind == NB__SLOT_F64 ? NB_DTYPE_FLOAT64 : NB_DTYPE_FLOAT32, "optimizer");
    return true;
  }
  return false;
}

/* What the checkpoint holds for each object, found by check(). */
typedef struct plan {
  int *model; /* file index per model state entry */
  int sched, epoch, rng[3];
} plan;

/* Check the file against the objects; fills *p. */
static void check(nb_problems *r, lookup *l, nb_named_tensors file, nb_named_tensors ms,
                  const nb_optimizer *opt, nb_scheduler *sched, plan *p) {
  for (int i = 0; i < ms.n; i++) {
    int j = p->model[i] = find(l, MODEL_PREFIX, ms.names[i]);
    if (j < 0) {
      nb_problems_add(r, NB_ERR_ARG, "missing key \"" MODEL_PREFIX "%s\"", ms.names[i]);
      continue;
    }
    l->used[j] = true;
    nb_tensor *t = ms.tensors[i];
    check_entry(r, file.names[j], file.tensors[j], nb_ndim(t), nb_shape(t), nb_dtype_of(t),
                "model");
  }
  for (int j = 0; j < file.n; j++)
    if (strncmp(file.names[j], OPTIM_PREFIX, strlen(OPTIM_PREFIX)) == 0)
      l->used[j] = check_optim_entry(r, opt, file.names[j], file.names[j] + strlen(OPTIM_PREFIX),
                                     file.tensors[j]);
  for (int g = 0; g < opt->ngroups; g++)
    for (int e = 0; e < NB__GROUP_ENTRIES; e++) {
      const char *entry = opt->groups[g].entry_name[e];
      if (opt->groups[g].entry_t[e] && find(l, OPTIM_PREFIX, entry) < 0)
        nb_problems_add(r, NB_ERR_ARG, "missing key \"" OPTIM_PREFIX "%s\"", entry);
    }

  /* The fixed entries: name, shape, dtype, and where the index goes. */
  int64_t ns = sched ? nb_scheduler_state(sched, NULL, 0) : 0, four = 4;
  const struct {
    const char *name;
    int ndim;
    const int64_t *shape;
    nb_dtype dtype;
    int *slot;
  } fixed[] = {
      {"sched", 1, &ns, NB_DTYPE_FLOAT64, &p->sched},
      {"epoch", 0, NULL, NB_DTYPE_INT64, &p->epoch},
      {"rng.state", 1, &four, NB_DTYPE_INT64, &p->rng[0]},
      {"rng.cached_normal", 0, NULL, NB_DTYPE_FLOAT64, &p->rng[1]},
      {"rng.has_cached", 0, NULL, NB_DTYPE_BOOL, &p->rng[2]},
  };
  for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++) {
    int j = *fixed[k].slot = find(l, "", fixed[k].name);
    if (k == 0 && !sched) continue; /* without a scheduler "sched" is unexpected */
    if (j < 0) {
      nb_problems_add(r, NB_ERR_ARG, "missing key \"%s\"", fixed[k].name);
      continue;
    }
    l->used[j] = true;
    check_entry(r, fixed[k].name, file.tensors[j], fixed[k].ndim, fixed[k].shape, fixed[k].dtype,
                "checkpoint");
  }
  for (int j = 0; j < file.n; j++)
    if (!l->used[j]) nb_problems_add(r, NB_ERR_ARG, "unexpected key \"%s\"", file.names[j]);
}

/* Replace the optimizer's state with the file's: drop per-parameter state
 * the file lacks, then load every "optim." entry. */
static nb_status restore_optimizer(nb_optimizer *opt, const lookup *l, nb_named_tensors file) {
  for (int i = 0; i < opt->nparams; i++)
    for (int k = 0; k < opt->algo->nslots; k++) {
      nb__param *p = &opt->params[i];
      if (p->slot[k] && find(l, OPTIM_PREFIX, p->names[k]) == -1) {
        nb_free(p->slot[k]);
        p->slot[k] = NULL;
      }
    }
  nb_status st = NB_OK;
  for (int j = 0; j < file.n && st == NB_OK; j++)
    if (strncmp(file.names[j], OPTIM_PREFIX, strlen(OPTIM_PREFIX)) == 0)
      st = nb_optim_state_load(opt, file.names[j] + strlen(OPTIM_PREFIX), file.tensors[j]);
  return st;
}

/* Apply a checked checkpoint. */
static nb_status restore(nb_named_tensors file, nb_named_tensors ms, const lookup *l,
                         nb_optimizer *opt, nb_scheduler *sched, const plan *p, int64_t *epoch) {
  nb_status st = NB_OK;
  if (sched) {
    nb_tensor *s = file.tensors[p->sched];
    st = nb_scheduler_load_state(sched, nb_data(s), (int)nb_numel(s));
    if (st != NB_OK) return st;
  }
  st = restore_optimizer(opt, l, file);
  bool was = nb_set_grad_enabled(false);
  for (int i = 0; i < ms.n && st == NB_OK; i++)
    st = nb_copy_(ms.tensors[i], file.tensors[p->model[i]]);
  nb_set_grad_enabled(was);
  if (st != NB_OK) return st;
  nb_generator_state gs;
  memcpy(gs.s, nb_data(file.tensors[p->rng[0]]), sizeof gs.s);
  gs.cached_normal = *(const double *)nb_data(file.tensors[p->rng[1]]);
  gs.has_cached = *(const uint8_t *)nb_data(file.tensors[p->rng[2]]) != 0;
  nb_generator_set_state(nb_default_generator(), &gs);
  if (epoch) *epoch = *(const int64_t *)nb_data(file.tensors[p->epoch]);
  return NB_OK;
}

nb_status nb_checkpoint_load(const char *path, struct nb_module *model, nb_optimizer *opt,
                             nb_scheduler *sched, int64_t *epoch) {
  static const char op[] = "checkpoint_load";
  if (!model || !opt)
    return nb_set_error(NB_ERR_ARG, "%s: the model and the optimizer are required", op);
  nb_named_tensors file;
  if (nb_safetensors_load(path, &file) != NB_OK) return prefix_error(op);
  nb_clear_error();
  nb_named_tensors ms = nb_module_state(model);
  lookup l = {.n = file.n};
  plan p = {0};
  l.index = malloc((size_t)(file.n ? file.n : 1) * sizeof *l.index);
  l.used = calloc((size_t)(file.n ? file.n : 1), sizeof *l.used);
  p.model = malloc((size_t)(ms.n ? ms.n : 1) * sizeof *p.model);
  nb_status st = nb_last_status();
  if (st == NB_OK && (!l.index || !l.used || !p.model))
    st = nb_set_error(NB_ERR_MEMORY, "out of memory matching %d entries", file.n);
  if (st == NB_OK) {
    for (int i = 0; i < file.n; i++) l.index[i] = (keyed){file.names[i], i};
    qsort(l.index, (size_t)file.n, sizeof *l.index, cmp_keyed);
    nb_problems r = {0};
    check(&r, &l, file, ms, opt, sched, &p);
    if (r.count) {
      char more[48] = "";
      if (r.hidden) snprintf(more, sizeof more, "; ... and %d more", r.hidden);
      st = nb_set_error(r.status,
                        "%s: \"%s\" does not fit the %s model, %s optimizer%s (%d "
                        "problem%s): %s%s",
                        op, path, nb_module_type(model), opt->algo->name,
                        sched ? " and scheduler" : "", r.count, r.count == 1 ? "" : "s", r.text,
                        more);
    } else {
      st = restore(file, ms, &l, opt, sched, &p, epoch);
      if (st != NB_OK) prefix_error(op);
    }
  } else {
    prefix_error(op);
  }
  free(l.index);
  free(l.used);
  free(p.model);
  nb_named_tensors_free(&file);
  return st;
}
