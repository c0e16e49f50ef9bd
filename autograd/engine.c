/* autograd/engine.c - recording the graph and running backward.
 *
 * Owns: grad mode, nb_apply (running an op and recording its node), the
 * nb_ctx accessors, leaf/gradient accessors, hooks, and the backward engine:
 * an explicit-stack topological sort (no recursion, linear time), gradient
 * routing with broadcast reduction and shape checks, accumulation into leaves,
 * saved-tensor version checks, graph release, and nb_grad for higher order.
 */
#include "autograd/autograd_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- modes -------------------------------------------------------------- */

static _Thread_local bool grad_disabled; /* default: grad mode on */
static _Thread_local bool anomaly_on;
static _Thread_local int no_grad_depth;
static _Thread_local bool no_grad_saved[64];

bool nb_set_grad_enabled(bool enabled) {
  bool prev = !grad_disabled;
  grad_disabled = !enabled;
  return prev;
}
bool nb_is_grad_enabled(void) { return !grad_disabled; }

void nb_no_grad_begin(void) {
  bool prev = nb_set_grad_enabled(false);
  if (no_grad_depth < 64) no_grad_saved[no_grad_depth] = prev;
  no_grad_depth++;
}

void nb_no_grad_end(void) {
  if (no_grad_depth == 0) return;
  no_grad_depth--;
  nb_set_grad_enabled(no_grad_depth < 64 ? no_grad_saved[no_grad_depth] : false);
}

void nb_set_anomaly_mode(bool enabled) { anomaly_on = enabled; }
bool nb_anomaly_mode(void) { return anomaly_on; }

nb_status nb__check_finite(const nb_tensor *t, const char *what, const char *op) {
  if (!anomaly_on || !t || !nb_dtype_is_floating(t->dtype)) return NB_OK;
  nb_tensor *view = nb__new_view(t, t->ndim, t->shape, t->strides, t->offset);
  if (!view) return nb_last_status();
  nb_tensor *c = nbk_contiguous(view);
  nb_free(view);
  if (!c) return nb_last_status();
  bool bad = false;
  for (int64_t i = 0; i < c->numel && !bad; i++) bad = !isfinite(nb__load(c->dtype, nb__ptr(c, i)));
  nb_free(c);
  if (bad)
    return nb__fail(NB_ERR_NUMERIC, "anomaly: %s of %s (shape %s) contains NaN or Inf", what, op,
                    nb__shp(t));
  return NB_OK;
}

/* ---- metadata, leaves, gradients ------------------------------------------- */

static void meta_destroy(nb_object *o) {
  nb_meta *m = (nb_meta *)o;
  nb__release(m->retained_grad);
  free(m);
}

nb_meta *nb__meta_of(nb_tensor *t) {
  if (t->autograd_meta) return (nb_meta *)t->autograd_meta;
  nb_meta *m = calloc(1, sizeof *m);
  if (!m) return nb__fail_null(NB_ERR_MEMORY, "autograd: out of memory");
  m->base.refcount = 1;
  m->base.destroy = meta_destroy;
  t->autograd_meta = &m->base;
  if (t->grad_fn) { /* the node shares the metadata to find hooks */
    nb_ctx *node = (nb_ctx *)t->grad_fn;
    if (!node->meta) {
      node->meta = m;
      nb__object_retain(&m->base);
    }
  }
  return m;
}

nb_status nb_requires_grad_(nb_tensor *t, bool requires_grad) {
  NB_CHECK_NULL_STATUS("requires_grad_", t);
  if (requires_grad && !nb_dtype_is_floating(t->dtype))
    return nb__fail(NB_ERR_DTYPE, "requires_grad_: only floating tensors can require grad, got %s",
                    nb_dtype_name(t->dtype));
  if (!requires_grad && t->grad_fn)
    return nb__fail(NB_ERR_GRAPH,
                    "requires_grad_: a non-leaf tensor (made by %s) always "
                    "requires grad; use nb_detach",
                    ((nb_ctx *)t->grad_fn)->def->name);
  t->requires_grad = requires_grad;
  return NB_OK;
}

bool nb_requires_grad(const nb_tensor *t) { return t && t->requires_grad; }
bool nb_is_leaf(const nb_tensor *t) { return t && !t->grad_fn; }

nb_tensor *nb_grad_of(const nb_tensor *t) {
  if (!t) return NULL;
  if (t->grad_fn) {
    nb_meta *m = (nb_meta *)t->autograd_meta;
    return m ? m->retained_grad : NULL;
  }
  return t->grad;
}

nb_status nb_set_grad(nb_tensor *t, nb_tensor *g) {
  NB_CHECK_NULL_STATUS("set_grad", t);
  if (g && (g->ndim != t->ndim || memcmp(g->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim)))
    return nb__fail(NB_ERR_SHAPE, "set_grad: gradient shape %s differs from the tensor's %s",
                    nb__shp(g), nb__shp(t));
  nb_retain(g);
  nb__release(t->grad);
  t->grad = g;
  return NB_OK;
}

nb_status nb_zero_grad(nb_tensor *t, bool set_to_none) {
  NB_CHECK_NULL_STATUS("zero_grad", t);
  if (!t->grad) return NB_OK;
  if (set_to_none || t->grad->grad_fn) {
    nb__release(t->grad);
    t->grad = NULL;
    return NB_OK;
  }
  return nb_zero_(t->grad);
}

nb_status nb_retain_grad(nb_tensor *t) {
  NB_CHECK_NULL_STATUS("retain_grad", t);
  if (!t->grad_fn) return NB_OK; /* leaves keep their grad anyway */
  nb_meta *m = nb__meta_of(t);
  if (!m) return nb_last_status();
  m->retain_grad = true;
  return NB_OK;
}

nb_status nb_register_hook(nb_tensor *t, nb_grad_hook hook, void *user) {
  NB_CHECK_NULL_STATUS("register_hook", t);
  if (!hook) return nb__fail(NB_ERR_ARG, "register_hook: hook is NULL");
  if (!t->requires_grad)
    return nb__fail(NB_ERR_GRAPH, "register_hook: tensor of shape %s does not require grad",
                    nb__shp(t));
  nb_meta *m = nb__meta_of(t);
  if (!m) return nb_last_status();
  if (m->nhooks == NB_MAX_HOOKS)
    return nb__fail(NB_ERR_ARG, "register_hook: at most %d hooks per tensor", NB_MAX_HOOKS);
  m->hooks[m->nhooks] = hook;
  m->hook_user[m->nhooks++] = user;
  return NB_OK;
}

nb_tensor *nb_detach(nb_tensor *t) {
  NB_CHECK_NULL("detach", t);
  return nb__new_view(t, t->ndim, t->shape, t->strides, t->offset);
}

const char *nb_grad_fn_name(const nb_tensor *t) {
  return t && t->grad_fn ? ((const nb_ctx *)t->grad_fn)->def->name : NULL;
}

/* ---- nodes ------------------------------------------------------------------- */

static void release_saved(nb_ctx *node) {
  for (int i = 0; i < node->nsaved; i++) {
    nb__release(node->saved[i]);
    node->saved[i] = NULL;
  }
}

static void node_destroy(nb_object *o) {
  nb_ctx *node = (nb_ctx *)o;
  release_saved(node);
  for (int i = 0; i < node->ninputs; i++) {
    nb__object_release(node->edges[i].node);
    nb__release(node->edges[i].leaf);
  }
  nb__release(node->grad_accum);
  if (node->meta) nb__object_release(&node->meta->base);
  nb__free_bytes(node, node->bytes);
}

static size_t align_up(size_t n) { return (n + 15) & ~(size_t)15; }

static nb_ctx *node_new(const nb_op_def *def, int n) {
  size_t head = align_up(sizeof(nb_ctx));
  size_t edges = align_up(sizeof(nb_edge) * (size_t)n);
  size_t metas = align_up(sizeof(nb_input_meta) * (size_t)n);
  size_t bytes = head + edges + metas + align_up(def->params_size);
  nb_ctx *node = nb__alloc_bytes(bytes);
  if (!node)
    return nb__fail_null(NB_ERR_MEMORY, "%s: out of memory recording the graph", def->name);
  memset(node, 0, bytes);
  node->base.refcount = 1;
  node->base.destroy = node_destroy;
  node->bytes = bytes;
  node->def = def;
  node->recording = true;
  node->ninputs = n;
  node->edges = (nb_edge *)((char *)node + head);
  node->input_meta = (nb_input_meta *)((char *)node + head + edges);
  node->params = def->params_size ? (char *)node + head + edges + metas : NULL;
  node->capture_index = -1;
  return node;
}

static void fill_meta(nb_input_meta *m, const nb_tensor *t) {
  m->dtype = t->dtype;
  m->ndim = t->ndim;
  memcpy(m->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
}

nb_tensor *nb_apply(const nb_op_def *def, int n, nb_tensor *const *inputs, void *params) {
  if (!def || !def->forward) return nb__fail_null(NB_ERR_ARG, "apply: op definition is incomplete");
  if (def->ninputs >= 0 && n != def->ninputs)
    return nb__fail_null(NB_ERR_ARG, "%s: takes %d inputs, got %d", def->name, def->ninputs, n);
  if (n < 0 || (n > 0 && !inputs))
    return nb__fail_null(NB_ERR_ARG, "%s: bad input list", def->name);
  bool record = !grad_disabled && !(def->flags & NB_OP_NO_GRAD);
  bool any = false;
  for (int i = 0; i < n; i++) {
    if (!inputs[i]) {
      nb__null_input(def->name);
      return NULL;
    }
    any = any || inputs[i]->requires_grad;
  }
  record = record && any;

  nb_ctx stack_ctx = {.def = def, .recording = false, .ninputs = n, .params = params};
  nb_ctx *ctx = &stack_ctx;
  if (record) {
    ctx = node_new(def, n);
    if (!ctx) return NULL;
    for (int i = 0; i < n; i++) {
      nb_tensor *in = inputs[i];
      fill_meta(&ctx->input_meta[i], in);
      if (!in->requires_grad) continue;
      if (in->grad_fn) {
        ctx->edges[i].node = in->grad_fn;
        nb__object_retain(in->grad_fn);
      } else {
        ctx->edges[i].leaf = nb_retain(in);
      }
    }
  }
  bool prev = nb_set_grad_enabled(false);
  nb_tensor *out = def->forward(ctx, inputs, n, params);
  nb_set_grad_enabled(prev);
  if (!out || !record || !nb_dtype_is_floating(out->dtype)) {
    if (record) nb__object_release(&ctx->base);
    if (out && nb__check_finite(out, "output", def->name) != NB_OK) {
      nb_free(out);
      return NULL;
    }
    return out;
  }
  if (def->params_size && params) memcpy(ctx->params, params, def->params_size);
  /* A saved output must not keep its own node alive: save an alias. */
  for (int i = 0; i < ctx->nsaved; i++) {
    if (ctx->saved[i] != out) continue;
    nb_tensor *alias = nb__new_view(out, out->ndim, out->shape, out->strides, out->offset);
    if (!alias) {
      nb__object_release(&ctx->base);
      nb_free(out);
      return NULL;
    }
    nb_keep(alias);
    nb__release(out); /* the reference nb_ctx_save took */
    ctx->saved[i] = alias;
    ctx->saved_is_output[i] = true;
  }
  fill_meta(&ctx->out_meta, out);
  if (out->grad_fn || out->grad) { /* forward returned an existing tensor */
    nb__object_release(&ctx->base);
    nb_free(out);
    return nb__fail_null(NB_ERR_ARG, "%s: forward must return a new tensor", def->name);
  }
  out->grad_fn = &ctx->base;
  out->requires_grad = true;
  if (nb__check_finite(out, "output", def->name) != NB_OK) {
    nb_free(out);
    return NULL;
  }
  return out;
}

/* ---- ctx accessors ----------------------------------------------------------- */

int nb_ctx_save(nb_ctx *ctx, nb_tensor *t) {
  if (!ctx || !ctx->recording) return 0;
  if (!t) return nb__null_input(ctx->def->name);
  if (ctx->nsaved == NB_MAX_SAVED)
    return nb__fail(NB_ERR_ARG, "%s: saves more than %d tensors", ctx->def->name, NB_MAX_SAVED);
  int i = ctx->nsaved++;
  ctx->saved[i] = nb_retain(t); /* the node's own reference */
  ctx->saved_version[i] = t->storage->version;
  return i;
}

nb_tensor *nb_ctx_saved(nb_ctx *ctx, int i) {
  if (!ctx || i < 0 || i >= ctx->nsaved) {
    nb__fail(NB_ERR_ARG, "%s: no saved tensor %d", ctx ? ctx->def->name : "ctx_saved", i);
    return NULL;
  }
  if (!ctx->saved_is_output[i] || !nb_is_grad_enabled()) return ctx->saved[i];
  /* create_graph: the saved output must lead back to this node. */
  if (!ctx->output_alias[i]) {
    nb_tensor *s = ctx->saved[i];
    nb_tensor *alias = nb__new_view(s, s->ndim, s->shape, s->strides, s->offset);
    if (!alias) return NULL;
    nb_keep(alias);
    alias->grad_fn = &ctx->base;
    nb__object_retain(&ctx->base);
    alias->requires_grad = true;
    ctx->output_alias[i] = alias;
  }
  return ctx->output_alias[i];
}

void *nb_ctx_params(nb_ctx *ctx) { return ctx ? ctx->params : NULL; }
bool nb_ctx_needs_grad(const nb_ctx *ctx, int i) {
  return ctx && i >= 0 && i < ctx->ninputs && ctx->recording &&
         (ctx->edges[i].node || ctx->edges[i].leaf);
}
int nb_ctx_ninputs(const nb_ctx *ctx) { return ctx ? ctx->ninputs : 0; }
bool nb_ctx_recording(const nb_ctx *ctx) { return ctx && ctx->recording; }
int nb_ctx_input_ndim(const nb_ctx *ctx, int i) {
  return ctx && ctx->recording && i >= 0 && i < ctx->ninputs ? ctx->input_meta[i].ndim : -1;
}
const int64_t *nb_ctx_input_shape(const nb_ctx *ctx, int i) {
  return ctx && ctx->recording && i >= 0 && i < ctx->ninputs ? ctx->input_meta[i].shape : NULL;
}
nb_dtype nb_ctx_input_dtype(const nb_ctx *ctx, int i) {
  return ctx && ctx->recording && i >= 0 && i < ctx->ninputs ? ctx->input_meta[i].dtype
                                                             : NB_DTYPE_COUNT;
}

/* ---- the backward engine ----------------------------------------------------- */

/* Reusable per-thread buffers: a steady training loop allocates none. */
typedef struct engine_buffers {
  nb_ctx **order;
  int64_t norder, order_cap;
  struct frame {
    nb_ctx *node;
    int next_edge;
  } * stack;
  int64_t stack_cap;
} engine_buffers;
static _Thread_local engine_buffers B;
static _Thread_local uint64_t epoch;

static bool grow(void **buf, int64_t *cap, int64_t need, size_t elem) {
  if (need <= *cap) return true;
  int64_t n = *cap ? *cap : 64;
  while (n < need) n *= 2;
  void *p = realloc(*buf, (size_t)n * elem);
  if (!p) return false;
  *buf = p;
  *cap = n;
  return true;
}

/* Depth-first postorder of every node reachable from the roots, with an
 * explicit stack: a node comes after all the nodes it consumes. */
static nb_status topo_sort(nb_ctx *const *roots, int nroots) {
  epoch++;
  B.norder = 0;
  int64_t top = 0;
  for (int r = 0; r < nroots; r++) {
    if (!roots[r] || roots[r]->visit_epoch == epoch) continue;
    if (!grow((void **)&B.stack, &B.stack_cap, top + 1, sizeof *B.stack)) goto oom;
    roots[r]->visit_epoch = epoch;
    B.stack[top++] = (struct frame){roots[r], 0};
    while (top > 0) {
      struct frame *f = &B.stack[top - 1];
      if (f->next_edge < f->node->ninputs) {
        nb_ctx *child = (nb_ctx *)f->node->edges[f->next_edge++].node;
        if (!child || child->visit_epoch == epoch) continue;
        child->visit_epoch = epoch;
        if (!grow((void **)&B.stack, &B.stack_cap, top + 1, sizeof *B.stack)) goto oom;
        B.stack[top++] = (struct frame){child, 0};
        continue;
      }
      if (!grow((void **)&B.order, &B.order_cap, B.norder + 1, sizeof *B.order)) goto oom;
      B.order[B.norder++] = f->node;
      top--;
    }
  }
  return NB_OK;
oom:
  return nb__fail(NB_ERR_MEMORY, "backward: out of memory sorting the graph");
}

/* Add g into *slot (taking g's reference). */
static nb_status accumulate(nb_tensor **slot, nb_tensor *g, bool create_graph) {
  if (!*slot) {
    *slot = g;
    return NB_OK;
  }
  nb_tensor *sum;
  if (!create_graph && !(*slot)->grad_fn && (*slot)->refcount == 1 &&
      (*slot)->storage->refcount == 1 && (*slot)->dtype == g->dtype) {
    nb_status st = nb_add_(*slot, g);
    nb__release(g);
    return st;
  }
  sum = nb_add(*slot, g);
  nb__release(g);
  if (!sum) return nb_last_status();
  nb_keep(sum);
  nb__release(*slot);
  *slot = sum;
  return NB_OK;
}

static nb_tensor *run_hooks(nb_meta *m, nb_tensor *g) {
  for (int h = 0; m && h < m->nhooks && g; h++) {
    nb_tensor *r = m->hooks[h](g, m->hook_user[h]);
    if (r && r != g) {
      if (r->ndim != g->ndim || memcmp(r->shape, g->shape, sizeof(int64_t) * (size_t)g->ndim)) {
        nb__fail(NB_ERR_SHAPE, "hook: returned gradient of shape %s for one of shape %s",
                 nb__shp(r), nb__shp(g));
        nb__release(r);
        nb__release(g);
        return NULL;
      }
      nb_keep(r);
      nb__release(g);
      g = r;
    }
  }
  return g;
}

/* Bring a backward result to its input's shape and dtype. Takes g. */
static nb_tensor *conform(nb_tensor *g, const nb_input_meta *m, const char *op, int i) {
  if (g->ndim != m->ndim || memcmp(g->shape, m->shape, sizeof(int64_t) * (size_t)m->ndim)) {
    nb_tensor *r = nb__sum_to(g, m->ndim, m->shape);
    nb__release(g);
    if (!r) {
      char buf[160];
      nb__fail(NB_ERR_SHAPE, "backward of %s: gradient for input %d does not reduce to %s", op, i,
               nb__dims_str(m->ndim, m->shape, buf, sizeof buf));
      return NULL;
    }
    g = nb_keep(r);
  }
  if (g->dtype != m->dtype && nb_dtype_is_floating(m->dtype)) {
    nb_tensor *r = nb_to(g, m->dtype);
    nb__release(g);
    if (!r) return NULL;
    g = nb_keep(r);
  }
  return g;
}

typedef struct run_opts {
  bool keep_graph, create_graph, accumulate_leaves;
  nb_tensor *const *capture; /* nb_grad inputs */
  int ncapture;
  nb_tensor **captured;
} run_opts;

static int capture_slot(const run_opts *o, const nb_tensor *leaf) {
  for (int i = 0; i < o->ncapture; i++)
    if (o->capture[i] == leaf) return i;
  return -1;
}

/* Deliver gradient g (owned) to a leaf: hooks, then capture or accumulate. */
static nb_status deliver_to_leaf(nb_tensor *leaf, nb_tensor *g, const run_opts *o) {
  g = run_hooks((nb_meta *)leaf->autograd_meta, g);
  if (!g) return nb_last_status();
  int slot = capture_slot(o, leaf);
  if (slot >= 0) return accumulate(&o->captured[slot], g, o->create_graph);
  if (!o->accumulate_leaves) {
    nb__release(g);
    return NB_OK;
  }
  if (!o->create_graph && g->grad_fn == NULL && (g->storage->refcount > 1 || !g->contiguous)) {
    /* The leaf's .grad must not alias another tensor (e.g. the incoming
     * gradient of an add): keep a private copy. */
    nb_tensor *c = nbk_clone(g);
    nb__release(g);
    if (!c) return nb_last_status();
    g = nb_keep(c);
  }
  return accumulate(&leaf->grad, g, o->create_graph);
}

static nb_status run_node(nb_ctx *node, const run_opts *o) {
  nb_tensor *g = node->grad_accum;
  node->grad_accum = NULL;
  const char *op = node->def->name;
  if (node->released) {
    nb__release(g);
    return nb__fail(NB_ERR_GRAPH,
                    "backward through %s a second time: its saved tensors were freed after the "
                    "first backward (pass keep_graph to keep them)",
                    op);
  }
  for (int i = 0; i < node->nsaved; i++) {
    nb_tensor *s = node->saved[i];
    if (s && s->storage->version != node->saved_version[i]) {
      nb__release(g);
      return nb__fail(NB_ERR_STALE,
                      "backward of %s: saved tensor %d (shape %s) was modified in place after "
                      "it was saved (version %llu, saved at %llu)",
                      op, i, nb__shp(s), (unsigned long long)s->storage->version,
                      (unsigned long long)node->saved_version[i]);
    }
  }
  if (node->meta) {
    g = run_hooks(node->meta, g);
    if (!g) return nb_last_status();
    if (node->meta->retain_grad) {
      nb_tensor *copy = o->create_graph ? nb_retain(g) : nb_keep(nbk_clone(g));
      if (!copy) {
        nb__release(g);
        return nb_last_status();
      }
      nb_status st = accumulate(&node->meta->retained_grad, copy, o->create_graph);
      if (st != NB_OK) {
        nb__release(g);
        return st;
      }
    }
  }
  if (node->capture_index >= 0) {
    nb_status st = accumulate(&o->captured[node->capture_index], nb_retain(g), o->create_graph);
    if (st != NB_OK) {
      nb__release(g);
      return st;
    }
  }
  if (!node->def->backward) {
    nb__release(g);
    return nb__fail(NB_ERR_GRAPH, "backward: op %s has no backward", op);
  }
  nb_tensor *grads[node->ninputs > 0 ? node->ninputs : 1];
  memset(grads, 0, sizeof grads);
  bool prev = nb_set_grad_enabled(o->create_graph);
  nb_scope_begin();
  nb_status st = node->def->backward(node, g, grads);
  for (int i = 0; i < node->ninputs; i++) {
    if (grads[i] && (node->edges[i].node || node->edges[i].leaf))
      nb_retain(grads[i]);
    else
      grads[i] = NULL;
  }
  nb_scope_end();
  nb_set_grad_enabled(prev);
  nb__release(g);
  for (int i = 0; i < NB_MAX_SAVED; i++) {
    nb__release(node->output_alias[i]);
    node->output_alias[i] = NULL;
  }
  for (int i = 0; i < node->ninputs; i++) {
    nb_tensor *gi = grads[i];
    grads[i] = NULL;
    if (!gi || st != NB_OK) {
      nb__release(gi);
      continue;
    }
    prev = nb_set_grad_enabled(o->create_graph);
    gi = conform(gi, &node->input_meta[i], op, i);
    nb_set_grad_enabled(prev);
    if (!gi) {
      st = nb_last_status();
      continue;
    }
    if (nb__check_finite(gi, "gradient", op) != NB_OK) {
      nb__release(gi);
      st = NB_ERR_NUMERIC;
      continue;
    }
    if (node->edges[i].node) {
      nb_ctx *child = (nb_ctx *)node->edges[i].node;
      st = accumulate(&child->grad_accum, gi, o->create_graph);
    } else {
      st = deliver_to_leaf(node->edges[i].leaf, gi, o);
    }
  }
  if (st == NB_OK && !o->keep_graph) {
    release_saved(node);
    node->released = true;
  }
  return st;
}

static nb_status run_backward(nb_tensor *const *roots, nb_tensor *const *root_grads, int nroots,
                              const run_opts *o) {
  nb_ctx *nodes[nroots > 0 ? nroots : 1];
  for (int r = 0; r < nroots; r++) {
    NB_CHECK_NULL_STATUS("backward", roots[r]);
    nodes[r] = (nb_ctx *)roots[r]->grad_fn;
    if (!roots[r]->requires_grad)
      return nb__fail(NB_ERR_GRAPH,
                      "backward: tensor %d (shape %s) does not require grad and "
                      "has no grad_fn",
                      r, nb__shp(roots[r]));
  }
  nb_status st = topo_sort(nodes, nroots);
  if (st != NB_OK) return st;
  for (int64_t i = 0; i < B.norder; i++) B.order[i]->capture_index = -1;
  for (int c = 0; c < o->ncapture; c++)
    if (o->capture[c] && o->capture[c]->grad_fn)
      ((nb_ctx *)o->capture[c]->grad_fn)->capture_index = c;
  /* Seed the roots' gradients. */
  for (int r = 0; r < nroots && st == NB_OK; r++) {
    nb_tensor *g = root_grads ? root_grads[r] : NULL;
    if (g) {
      if (g->ndim != roots[r]->ndim ||
          memcmp(g->shape, roots[r]->shape, sizeof(int64_t) * (size_t)g->ndim))
        st = nb__fail(NB_ERR_SHAPE, "backward: gradient shape %s differs from the output's %s",
                      nb__shp(g), nb__shp(roots[r]));
      else
        g = nb_retain(g);
    } else if (roots[r]->numel == 1) {
      g = nb_keep(nb_ones_like(roots[r], NB_DTYPE_COUNT));
      if (!g) st = nb_last_status();
    } else {
      st = nb__fail(NB_ERR_SHAPE,
                    "backward: output of shape %s is not a scalar; pass its "
                    "gradient (grad_output)",
                    nb__shp(roots[r]));
    }
    if (st != NB_OK) break;
    if (nodes[r])
      st = accumulate(&nodes[r]->grad_accum, g, o->create_graph);
    else
      st = deliver_to_leaf(roots[r], g, o);
  }
  /* Reverse postorder: every consumer runs before the node it consumes. */
  for (int64_t i = B.norder - 1; i >= 0 && st == NB_OK; i--) {
    nb_ctx *node = B.order[i];
    if (!node->grad_accum) continue; /* no gradient reached it */
    st = run_node(node, o);
  }
  for (int64_t i = 0; i < B.norder; i++) { /* after an error, drop pending grads */
    nb__release(B.order[i]->grad_accum);
    B.order[i]->grad_accum = NULL;
    B.order[i]->capture_index = -1;
  }
  return st;
}

nb_status nb_backward_ex(nb_tensor *root, const nb_backward_opts *opts) {
  NB_CHECK_NULL_STATUS("backward", root);
  nb_backward_opts d = opts ? *opts : (nb_backward_opts){0};
  run_opts o = {.keep_graph = d.keep_graph || d.create_graph,
                .create_graph = d.create_graph,
                .accumulate_leaves = true};
  nb_tensor *grads[1] = {d.grad_output};
  return run_backward(&root, grads, 1, &o);
}

nb_status nb_backward(nb_tensor *root) { return nb_backward_ex(root, NULL); }

nb_status nb_grad(nb_tensor *const *outputs, int noutputs, nb_tensor *const *inputs, int ninputs,
                  nb_tensor **grads_out, const nb_grad_opts *opts) {
  if (noutputs < 1 || ninputs < 1 || !outputs || !inputs || !grads_out)
    return nb__fail(NB_ERR_ARG, "grad: need at least one output, one input and an output array");
  nb_grad_opts d = opts ? *opts : (nb_grad_opts){0};
  for (int i = 0; i < ninputs; i++) {
    grads_out[i] = NULL;
    NB_CHECK_NULL_STATUS("grad", inputs[i]);
    if (!inputs[i]->requires_grad)
      return nb__fail(NB_ERR_GRAPH, "grad: input %d (shape %s) does not require grad", i,
                      nb__shp(inputs[i]));
  }
  run_opts o = {.keep_graph = d.keep_graph || d.create_graph,
                .create_graph = d.create_graph,
                .accumulate_leaves = false,
                .capture = inputs,
                .ncapture = ninputs,
                .captured = grads_out};
  nb_status st = run_backward(outputs, d.grad_outputs, noutputs, &o);
  for (int i = 0; i < ninputs && st == NB_OK; i++) {
    if (!grads_out[i] && !d.allow_unused)
      st = nb__fail(NB_ERR_GRAPH,
                    "grad: input %d (shape %s) is not reachable from the outputs "
                    "(set allow_unused)",
                    i, nb__shp(inputs[i]));
  }
  if (st != NB_OK) {
    for (int i = 0; i < ninputs; i++) {
      nb__release(grads_out[i]);
      grads_out[i] = NULL;
    }
    return st;
  }
  for (int i = 0; i < ninputs; i++) /* results belong to the caller's scope */
    if (grads_out[i]) nb__scope_adopt(grads_out[i]);
  return NB_OK;
}
