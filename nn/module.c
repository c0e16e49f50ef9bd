/* nn/module.c - the module object.
 *
 * Owns: making and freeing modules; registering parameters, buffers and
 * children (unique names without '.'); lookup by dotted name; forward
 * dispatch (which also feeds an active summary); the hierarchical listings
 * with PyTorch's names ("features.0.weight"), cached per module and rebuilt
 * after any structural change in its subtree; train/eval, zero_grad and
 * parameter counts; and the small error helpers the nn/ files share.
 *
 * Ownership: a module owns one reference to each of its tensors, always an
 * unscoped one (nb_keep), so freeing the module releases them safely whether
 * or not a scope is open. A child has exactly one parent.
 */
#include "nn/nn_impl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- error helpers shared by nn/ -------------------------------------------- */

nb_status nb__nn_null(const char *op, const char *what) {
  if (nb_last_status() == NB_OK) nb_set_error(NB_ERR_NULL, "%s: %s is NULL", op, what);
  return NB_ERR_NULL;
}

nb_status nb__nn_prefix_error(const char *op) {
  nb_status st = nb_last_status();
  if (st == NB_OK) st = NB_ERR_ARG;
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", nb_errmsg());
  return nb_set_error(st, "%s: %s", op, msg);
}

#define NN_SHP_SLOTS 4
#define NN_SHP_SIZE 128

static char *next_shape_buf(void) {
  static _Thread_local char bufs[NN_SHP_SLOTS][NN_SHP_SIZE];
  static _Thread_local int next;
  char *buf = bufs[next];
  next = (next + 1) % NN_SHP_SLOTS;
  return buf;
}

const char *nb__nn_shp(const nb_tensor *t) {
  if (!t) return "NULL";
  return nb_shape_str(t, next_shape_buf(), NN_SHP_SIZE);
}

const char *nb__nn_dims(int ndim, const int64_t *shape) {
  char *buf = next_shape_buf();
  size_t len = 0;
  buf[len++] = '[';
  for (int i = 0; i < ndim && len < NN_SHP_SIZE - 24; i++)
    len +=
        (size_t)snprintf(buf + len, NN_SHP_SIZE - len, i ? ", %lld" : "%lld", (long long)shape[i]);
  snprintf(buf + len, NN_SHP_SIZE - len, "]");
  return buf;
}

nb_status nb__nn_check_dtype(const char *op, nb_dtype dtype) {
  if (!nb_dtype_is_floating(dtype))
    return nb_set_error(NB_ERR_DTYPE, "%s: parameters must be float32 or float64, got %s", op,
                        nb_dtype_name(dtype));
  return NB_OK;
}

nb_status nb__nn_check_arity(const nb_module *m, int n, int want) {
  if (n != want)
    return nb_set_error(NB_ERR_ARG, "%s: expected %d input%s, got %d", m->ops->type_name, want,
                        want == 1 ? "" : "s", n);
  return NB_OK;
}

/* ---- the module's registry ---------------------------------------------------- */

enum { KIND_PARAM, KIND_BUFFER, KIND_CHILD, KIND_COUNT };
static const char *const kind_names[KIND_COUNT] = {"parameter", "buffer", "child"};

typedef struct slot {
  char *name;
  nb_tensor *tensor; /* parameters and buffers (a buffer may be NULL) */
  nb_module *child;
} slot;

typedef struct slot_list {
  size_t n, cap;
  slot *items;
} slot_list;

enum { LIST_PARAMS, LIST_BUFFERS, LIST_STATE, LIST_COUNT };

/* One cached listing: names point into text. */
typedef struct name_cache {
  bool valid;
  int n;
  const char **names;
  nb_tensor **tensors;
  char *text;
} name_cache;

struct nb_module_entries {
  nb_module *parent;
  slot_list lists[KIND_COUNT];
  name_cache cache[LIST_COUNT];
};

/* Grow *items (elem bytes each, capacity *cap) to hold at least need. */
static bool grow(void **items, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return true;
  size_t ncap = *cap ? *cap : 8;
  while (ncap < need) {
    if (ncap > SIZE_MAX / 2) return false;
    ncap *= 2;
  }
  if (ncap > SIZE_MAX / elem) return false;
  void *p = realloc(*items, ncap * elem);
  if (!p) return false;
  *items = p;
  *cap = ncap;
  return true;
}

static char *dup_string(const char *s) {
  size_t len = strlen(s) + 1;
  char *d = malloc(len);
  if (d) memcpy(d, s, len);
  return d;
}

static void free_cache(name_cache *c) {
  free(c->names);
  free(c->tensors);
  free(c->text);
  *c = (name_cache){0};
}

/* A structural change in m: every cached listing of m and its ancestors is stale. */
static void invalidate(nb_module *m) {
  for (; m; m = m->entries->parent)
    for (int i = 0; i < LIST_COUNT; i++) m->entries->cache[i].valid = false;
}

/* Index of the slot named exactly name[0..len) in m's list of kind, or -1. */
static int find_n(const nb_module *m, int kind, const char *name, size_t len) {
  const slot_list *l = &m->entries->lists[kind];
  for (size_t i = 0; i < l->n; i++)
    if (strncmp(l->items[i].name, name, len) == 0 && l->items[i].name[len] == '\0') return (int)i;
  return -1;
}

static int find(const nb_module *m, int kind, const char *name) {
  return find_n(m, kind, name, strlen(name));
}

int nb__module_child_index(const nb_module *m, const char *name) {
  return m && name ? find(m, KIND_CHILD, name) : -1;
}

static nb_status check_name(const char *op, const nb_module *m, const char *name) {
  if (!name || !*name) return nb_set_error(NB_ERR_ARG, "%s: the name must not be empty", op);
  if (strchr(name, '.'))
    return nb_set_error(NB_ERR_ARG, "%s: name \"%s\" must not contain '.'", op, name);
  for (int k = 0; k < KIND_COUNT; k++)
    if (find(m, k, name) >= 0)
      return nb_set_error(NB_ERR_ARG, "%s: %s already has a %s named \"%s\"", op, m->ops->type_name,
                          kind_names[k], name);
  return NB_OK;
}

static nb_status push_slot(const char *op, nb_module *m, int kind, const char *name, nb_tensor *t,
                           nb_module *child) {
  slot_list *l = &m->entries->lists[kind];
  char *copy = dup_string(name);
  if (!copy || !grow((void **)&l->items, &l->cap, l->n + 1, sizeof(slot))) {
    free(copy);
    return nb_set_error(NB_ERR_MEMORY, "%s: out of memory registering \"%s\"", op, name);
  }
  l->items[l->n++] = (slot){.name = copy, .tensor = t, .child = child};
  invalidate(m);
  return NB_OK;
}

nb_module *nb_module_new(const nb_module_ops *ops, size_t size) {
  if (!ops || !ops->type_name) {
    nb_set_error(NB_ERR_ARG, "module_new: ops with a type_name are required");
    return NULL;
  }
  if (size < sizeof(nb_module)) {
    nb_set_error(NB_ERR_ARG, "module_new: %s: size %zu is smaller than nb_module (%zu)",
                 ops->type_name, size, sizeof(nb_module));
    return NULL;
  }
  nb_module *m = calloc(1, size);
  struct nb_module_entries *e = calloc(1, sizeof *e);
  if (!m || !e) {
    free(m);
    free(e);
    nb_set_error(NB_ERR_MEMORY, "module_new: %s: out of memory (%zu bytes)", ops->type_name, size);
    return NULL;
  }
  m->ops = ops;
  m->training = true;
  m->entries = e;
  return m;
}

/* A module-owned alias of t for a parameter: a leaf (non-leaves are detached,
 * as nn.Parameter does), out of any scope. Consumes the reference t. */
static nb_tensor *adopt_param(nb_tensor *t, bool requires_grad) {
  nb_keep(t);
  if (!nb_is_leaf(t)) {
    nb_tensor *d = nb_keep(nb_detach(t));
    nb_free(t);
    if (!d) return NULL;
    t = d;
  }
  if (nb_requires_grad_(t, requires_grad) != NB_OK) {
    nb_free(t);
    return NULL;
  }
  return t;
}

nb_tensor *nb_module_add_parameter(nb_module *m, const char *name, nb_tensor *t) {
  static const char op[] = "add_parameter";
  if (!t) {
    nb__nn_null(op, "the tensor");
    return NULL;
  }
  nb_status st = m ? check_name(op, m, name) : nb__nn_null(op, "the module");
  if (st == NB_OK && !nb_dtype_is_floating(nb_dtype_of(t)))
    st = nb_set_error(NB_ERR_DTYPE, "%s: %s parameter \"%s\" must be floating, got %s", op,
                      m->ops->type_name, name, nb_dtype_name(nb_dtype_of(t)));
  if (st != NB_OK) {
    nb_free(t);
    return NULL;
  }
  t = adopt_param(t, true);
  if (!t) return NULL;
  if (push_slot(op, m, KIND_PARAM, name, t, NULL) != NB_OK) {
    nb_free(t);
    return NULL;
  }
  return t;
}

nb_tensor *nb_module_add_buffer(nb_module *m, const char *name, nb_tensor *t) {
  static const char op[] = "add_buffer";
  nb_status st = m ? check_name(op, m, name) : nb__nn_null(op, "the module");
  if (st == NB_OK && t && !nb_is_leaf(t)) {
    /* A buffer is state, not part of any graph: keep a detached alias. */
    nb_tensor *d = nb_detach(t);
    nb_free(t);
    t = d;
    if (!t) return NULL;
  }
  if (st == NB_OK) st = push_slot(op, m, KIND_BUFFER, name, nb_keep(t), NULL);
  if (st != NB_OK) {
    nb_free(t);
    return NULL;
  }
  return t;
}

/* True when a is m or one of m's ancestors. */
static bool is_ancestor(const nb_module *a, const nb_module *m) {
  for (; m; m = m->entries->parent)
    if (m == a) return true;
  return false;
}

void nb__module_discard(nb_module *m, const nb_module *near) {
  if (m && !m->entries->parent && !is_ancestor(m, near)) nb_module_free(m);
}

/* Why child cannot be attached to m (it belongs to a tree already), or NB_OK. */
static nb_status check_attachable(const char *op, const nb_module *m, const nb_module *child) {
  if (child->entries->parent)
    return nb_set_error(NB_ERR_ARG, "%s: the %s is already a child of a %s", op,
                        child->ops->type_name, child->entries->parent->ops->type_name);
  if (is_ancestor(child, m))
    return nb_set_error(NB_ERR_ARG,
                        "%s: adding the %s to itself or its descendant %s would make "
                        "a cycle",
                        op, child->ops->type_name, m->ops->type_name);
  return NB_OK;
}

nb_module *nb_module_add_child(nb_module *m, const char *name, nb_module *child) {
  static const char op[] = "add_child";
  if (!child) {
    nb__nn_null(op, "the child module");
    return NULL;
  }
  if (!m) {
    nb__nn_null(op, "the module");
    nb__module_discard(child, NULL);
    return NULL;
  }
  /* A child that already belongs to a tree stays there untouched; any other
   * failure consumes it, so nb_module_add_child(m, "x", nb_linear_new(...))
   * never leaks. */
  if (check_attachable(op, m, child) != NB_OK) return NULL;
  if (check_name(op, m, name) != NB_OK ||
      push_slot(op, m, KIND_CHILD, name, NULL, child) != NB_OK) {
    nb_module_free(child);
    return NULL;
  }
  child->entries->parent = m;
  return child;
}

static void destroy(nb_module *m);

nb_status nb__module_replace_child(nb_module *m, int i, nb_module *child) {
  static const char op[] = "replace_child";
  if (!child) return nb__nn_null(op, "the child module");
  slot_list *l = &m->entries->lists[KIND_CHILD];
  nb_status st = check_attachable(op, m, child);
  if (st != NB_OK) return st;
  if (i < 0 || (size_t)i >= l->n) {
    nb__module_discard(child, m);
    return nb_set_error(NB_ERR_INDEX, "%s: %s has no child %d", op, m->ops->type_name, i);
  }
  nb_module *old = l->items[i].child;
  old->entries->parent = NULL;
  destroy(old);
  l->items[i].child = child;
  child->entries->parent = m;
  invalidate(m);
  return NB_OK;
}

/* ---- lookup by dotted name ------------------------------------------------------ */

/* Follow the dotted prefix of name through children: the module owning the
 * last component (*leaf), or NULL if a child on the way is missing. */
static nb_module *walk(nb_module *m, const char *name, const char **leaf) {
  const char *dot;
  while ((dot = strchr(name, '.')) != NULL) {
    int i = find_n(m, KIND_CHILD, name, (size_t)(dot - name));
    if (i < 0) return NULL;
    m = m->entries->lists[KIND_CHILD].items[i].child;
    name = dot + 1;
  }
  *leaf = name;
  return m;
}

/* The slot of kind named by the dotted path, or NULL with an error. */
static slot *lookup(const char *op, nb_module *m, int kind, const char *name) {
  if (!m) {
    nb__nn_null(op, "the module");
    return NULL;
  }
  if (!name) {
    nb_set_error(NB_ERR_ARG, "%s: the name is NULL", op);
    return NULL;
  }
  const char *leaf;
  nb_module *owner = walk(m, name, &leaf);
  int i = owner ? find(owner, kind, leaf) : -1;
  if (i < 0) {
    nb_set_error(NB_ERR_ARG, "%s: %s has no %s named \"%s\"", op, m->ops->type_name,
                 kind_names[kind], name);
    return NULL;
  }
  return &owner->entries->lists[kind].items[i];
}

nb_tensor *nb_module_get_parameter(nb_module *m, const char *name) {
  slot *s = lookup("get_parameter", m, KIND_PARAM, name);
  return s ? s->tensor : NULL;
}

nb_tensor *nb_module_get_buffer(nb_module *m, const char *name) {
  slot *s = lookup("get_buffer", m, KIND_BUFFER, name);
  return s ? s->tensor : NULL;
}

nb_module *nb_module_get_child(nb_module *m, const char *name) {
  if (!m) {
    nb__nn_null("get_child", "the module");
    return NULL;
  }
  /* Every component is a child: look the whole path up as "path." + leaf. */
  const char *dot = name ? strrchr(name, '.') : NULL;
  slot *s = NULL;
  if (!dot) {
    s = lookup("get_child", m, KIND_CHILD, name);
  } else {
    const char *leaf;
    nb_module *owner = walk(m, name, &leaf);
    int i = owner ? find(owner, KIND_CHILD, leaf) : -1;
    if (i >= 0)
      s = &owner->entries->lists[KIND_CHILD].items[i];
    else
      nb_set_error(NB_ERR_ARG, "get_child: %s has no child named \"%s\"", m->ops->type_name, name);
  }
  return s ? s->child : NULL;
}

nb_status nb_module_set_tensor(nb_module *m, const char *name, nb_tensor *t) {
  static const char op[] = "set_tensor";
  if (!t) return nb__nn_null(op, "the tensor");
  if (!m) return nb__nn_null(op, "the module");
  const char *leaf = "";
  nb_module *owner = name ? walk(m, name, &leaf) : NULL;
  int kind = KIND_PARAM, i = -1;
  if (owner)
    for (kind = KIND_PARAM; kind <= KIND_BUFFER; kind++)
      if ((i = find(owner, kind, leaf)) >= 0) break;
  if (i < 0)
    return nb_set_error(NB_ERR_ARG, "%s: %s has no parameter or buffer named \"%s\"", op,
                        m->ops->type_name, name ? name : "(NULL)");
  slot *s = &owner->entries->lists[kind].items[i];
  nb_tensor *alias;
  if (kind == KIND_PARAM) {
    if (!nb_dtype_is_floating(nb_dtype_of(t)))
      return nb_set_error(NB_ERR_DTYPE, "%s: parameter \"%s\" must be floating, got %s", op, name,
                          nb_dtype_name(nb_dtype_of(t)));
    /* The module keeps its own tensor object sharing t's storage (as
     * nn.Parameter(t) does), so t stays the caller's. */
    alias = adopt_param(nb_detach(t), nb_requires_grad(s->tensor));
  } else {
    alias = nb_keep(nb_detach(t));
  }
  if (!alias) return nb_last_status();
  nb_free(s->tensor);
  s->tensor = alias;
  invalidate(owner);
  return NB_OK;
}

/* ---- forward ------------------------------------------------------------------- */

nb_tensor *nb_forward_n(nb_module *m, nb_tensor *const *inputs, int n) {
  static const char op[] = "forward";
  if (!m) {
    nb__nn_null(op, "the module");
    return NULL;
  }
  if (n < 1 || !inputs) {
    nb_set_error(NB_ERR_ARG, "%s: %s: needs at least one input (got %d)", op, m->ops->type_name, n);
    return NULL;
  }
  for (int i = 0; i < n; i++)
    if (!inputs[i]) {
      nb__nn_null(op, "an input");
      return NULL;
    }
  if (!m->ops->forward) {
    nb_set_error(NB_ERR_ARG, "%s: %s has no forward", op, m->ops->type_name);
    return NULL;
  }
  nb_tensor *out = m->ops->forward(m, inputs, n);
  if (!out) {
    if (nb_last_status() == NB_OK)
      nb_set_error(NB_ERR_ARG, "%s: %s returned NULL without an error", op, m->ops->type_name);
    return NULL;
  }
  nb__summary_note(m, out);
  return out;
}

nb_tensor *nb_forward(nb_module *m, nb_tensor *x) { return nb_forward_n(m, &x, 1); }

nb_tensor *nb_loss(nb_module *loss, nb_tensor *input, nb_tensor *target) {
  nb_tensor *in[2] = {input, target};
  return nb_forward_n(loss, in, 2);
}

/* ---- listings ------------------------------------------------------------------- */

/* Builds one listing: names are written into text (prefix + name + NUL) and
 * remembered by offset, since text moves as it grows. */
typedef struct builder {
  size_t n, cap, tensors_cap, len, text_cap, plen, prefix_cap;
  size_t *offsets;
  nb_tensor **tensors;
  char *text, *prefix;
  bool dedup; /* skip tensors listed already (parameters(), buffers()) */
  bool failed;
} builder;

static bool append_text(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
  if (n > SIZE_MAX - *len - 1 || !grow((void **)buf, cap, *len + n + 1, 1)) return false;
  memcpy(*buf + *len, s, n);
  *len += n;
  (*buf)[*len] = '\0';
  return true;
}

static void add_entry(builder *b, const char *name, nb_tensor *t) {
  if (b->dedup)
    for (size_t i = 0; i < b->n; i++)
      if (b->tensors[i] == t) return;
  size_t at = b->len;
  if (!grow((void **)&b->offsets, &b->cap, b->n + 1, sizeof(size_t)) ||
      !grow((void **)&b->tensors, &b->tensors_cap, b->n + 1, sizeof(nb_tensor *)) ||
      !append_text(&b->text, &b->len, &b->text_cap, b->prefix ? b->prefix : "", b->plen) ||
      !append_text(&b->text, &b->len, &b->text_cap, name, strlen(name) + 1)) {
    b->failed = true;
    return;
  }
  b->offsets[b->n] = at;
  b->tensors[b->n++] = t;
}

/* Own parameters (if params), own buffers (if buffers), then each child's,
 * recursively: PyTorch's named_parameters / named_buffers / state_dict order. */
static void collect(const nb_module *m, bool params, bool buffers, builder *b) {
  for (int kind = KIND_PARAM; kind <= KIND_BUFFER; kind++) {
    if (kind == KIND_PARAM ? !params : !buffers) continue;
    const slot_list *l = &m->entries->lists[kind];
    for (size_t i = 0; i < l->n && !b->failed; i++)
      if (l->items[i].tensor) add_entry(b, l->items[i].name, l->items[i].tensor);
  }
  const slot_list *c = &m->entries->lists[KIND_CHILD];
  for (size_t i = 0; i < c->n && !b->failed; i++) {
    size_t saved = b->plen;
    if (!append_text(&b->prefix, &b->plen, &b->prefix_cap, c->items[i].name,
                     strlen(c->items[i].name)) ||
        !append_text(&b->prefix, &b->plen, &b->prefix_cap, ".", 1)) {
      b->failed = true;
      return;
    }
    collect(c->items[i].child, params, buffers, b);
    b->plen = saved;
  }
}

static nb_named_tensors listing(nb_module *m, int which) {
  static const char *const ops[LIST_COUNT] = {"module_parameters", "module_buffers",
                                              "module_state"};
  if (!m) {
    nb__nn_null(ops[which], "the module");
    return (nb_named_tensors){0};
  }
  name_cache *c = &m->entries->cache[which];
  if (!c->valid) {
    builder b = {.dedup = which != LIST_STATE};
    collect(m, which != LIST_BUFFERS, which != LIST_PARAMS, &b);
    const char **names = NULL;
    if (!b.failed && b.n) {
      names = malloc(b.n * sizeof *names);
      if (!names) b.failed = true;
    }
    free(b.prefix);
    if (b.failed || b.n > INT32_MAX) {
      free(b.offsets);
      free(b.tensors);
      free(b.text);
      free(names);
      nb_set_error(NB_ERR_MEMORY, "%s: %s: out of memory listing tensors", ops[which],
                   m->ops->type_name);
      return (nb_named_tensors){0};
    }
    for (size_t i = 0; i < b.n; i++) names[i] = b.text + b.offsets[i];
    free(b.offsets);
    free_cache(c);
    *c = (name_cache){
        .valid = true, .n = (int)b.n, .names = names, .tensors = b.tensors, .text = b.text};
  }
  return (nb_named_tensors){.n = c->n, .names = c->names, .tensors = c->tensors};
}

nb_named_tensors nb_module_parameters(nb_module *m) { return listing(m, LIST_PARAMS); }
nb_named_tensors nb_module_buffers(nb_module *m) { return listing(m, LIST_BUFFERS); }
nb_named_tensors nb_module_state(nb_module *m) { return listing(m, LIST_STATE); }

int64_t nb_module_num_params(nb_module *m) {
  nb_named_tensors p = nb_module_parameters(m);
  int64_t total = 0;
  for (int i = 0; i < p.n; i++) total += nb_numel(p.tensors[i]);
  return total;
}

/* ---- modes, gradients, tree access ------------------------------------------------ */

void nb_module_train(nb_module *m, bool training) {
  if (!m) return;
  m->training = training;
  const slot_list *c = &m->entries->lists[KIND_CHILD];
  for (size_t i = 0; i < c->n; i++) nb_module_train(c->items[i].child, training);
}

void nb_module_eval(nb_module *m) { nb_module_train(m, false); }

void nb_module_zero_grad(nb_module *m, bool set_to_none) {
  nb_named_tensors p = nb_module_parameters(m);
  for (int i = 0; i < p.n; i++) nb_zero_grad(p.tensors[i], set_to_none);
}

const char *nb_module_type(const nb_module *m) { return m ? m->ops->type_name : NULL; }

int nb_module_num_children(const nb_module *m) {
  return m ? (int)m->entries->lists[KIND_CHILD].n : 0;
}

nb_module *nb_module_child_at(const nb_module *m, int i, const char **name) {
  if (!m) {
    nb__nn_null("child_at", "the module");
    return NULL;
  }
  const slot_list *c = &m->entries->lists[KIND_CHILD];
  if (i < 0 || (size_t)i >= c->n) {
    nb_set_error(NB_ERR_INDEX, "child_at: index %d is out of range for a %s with %zu children", i,
                 m->ops->type_name, c->n);
    return NULL;
  }
  if (name) *name = c->items[i].name;
  return c->items[i].child;
}

/* ---- freeing ---------------------------------------------------------------------- */

static void destroy(nb_module *m) {
  if (m->ops->free) m->ops->free(m);
  struct nb_module_entries *e = m->entries;
  for (int kind = 0; kind < KIND_COUNT; kind++) {
    slot_list *l = &e->lists[kind];
    for (size_t i = 0; i < l->n; i++) {
      free(l->items[i].name);
      nb_free(l->items[i].tensor);
      if (l->items[i].child) {
        l->items[i].child->entries->parent = NULL;
        destroy(l->items[i].child);
      }
    }
    free(l->items);
  }
  for (int i = 0; i < LIST_COUNT; i++) free_cache(&e->cache[i]);
  free(e);
  free(m);
}

void nb_module_free(nb_module *m) {
  if (!m) return;
  nb_module *parent = m->entries->parent;
  if (parent) { /* detach from the parent first so it never sees a freed child */
    slot_list *c = &parent->entries->lists[KIND_CHILD];
    for (size_t i = 0; i < c->n; i++)
      if (c->items[i].child == m) {
        free(c->items[i].name);
        memmove(c->items + i, c->items + i + 1, (c->n - i - 1) * sizeof(slot));
        c->n--;
        break;
      }
    invalidate(parent);
  }
  destroy(m);
}
