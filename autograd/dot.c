/* autograd/dot.c - Graphviz DOT export of the graph behind a tensor.
 *
 * Owns: nb_export_dot. Walks the nodes with an explicit stack (any depth) and
 * writes one box per op (name, output shape, bytes of saved tensors) and one
 * ellipse per leaf that requires grad (shape), with edges input -> op.
 */
#include "autograd/autograd_impl.h"

#include <stdlib.h>

static int64_t saved_bytes(const nb_ctx *node) {
  int64_t bytes = 0;
  for (int i = 0; i < node->nsaved; i++)
    if (node->saved[i])
      bytes += node->saved[i]->numel * (int64_t)nb_dtype_size(node->saved[i]->dtype);
  return bytes;
}

nb_status nb_export_dot(const nb_tensor *t, FILE *f) {
  NB_CHECK_NULL_STATUS("export_dot", t);
  if (!f) return nb__fail(NB_ERR_ARG, "export_dot: FILE is NULL");
  fprintf(f, "digraph nabla {\n  rankdir=BT;\n  node [fontname=\"monospace\"];\n");
  char buf[160];
  if (!t->grad_fn) {
    fprintf(f, "  t%p [shape=ellipse,label=\"leaf %s%s\"];\n}\n", (const void *)t,
            nb__dims_str(t->ndim, t->shape, buf, sizeof buf),
            t->requires_grad ? " requires_grad" : "");
    return ferror(f) ? nb__fail(NB_ERR_IO, "export_dot: write failed") : NB_OK;
  }
  /* Visited set: a growing array searched linearly would be quadratic, so
   * mark nodes with a fresh epoch-like tag through visit_epoch's top bit. */
  int64_t cap = 64, top = 0, nseen = 0, seen_cap = 64;
  nb_ctx **stack = malloc(sizeof *stack * (size_t)cap);
  nb_ctx **seen = malloc(sizeof *seen * (size_t)seen_cap);
  if (!stack || !seen) {
    free(stack);
    free(seen);
    return nb__fail(NB_ERR_MEMORY, "export_dot: out of memory");
  }
  const uint64_t mark = (uint64_t)1 << 63;
  stack[top++] = (nb_ctx *)t->grad_fn;
  ((nb_ctx *)t->grad_fn)->visit_epoch |= mark;
  nb_status st = NB_OK;
  while (top > 0 && st == NB_OK) {
    nb_ctx *node = stack[--top];
    if (nseen == seen_cap) {
      nb_ctx **s2 = realloc(seen, sizeof *seen * (size_t)(seen_cap *= 2));
      if (!s2) {
        st = nb__fail(NB_ERR_MEMORY, "export_dot: out of memory");
        break;
      }
      seen = s2;
    }
    seen[nseen++] = node;
    fprintf(f, "  n%p [shape=box,label=\"%s\\n%s\\nsaved %lld B%s\"];\n", (void *)node,
            node->def->name,
            nb__dims_str(node->out_meta.ndim, node->out_meta.shape, buf, sizeof buf),
            (long long)saved_bytes(node), node->released ? " (released)" : "");
    for (int i = 0; i < node->ninputs; i++) {
      nb_ctx *child = (nb_ctx *)node->edges[i].node;
      nb_tensor *leaf = node->edges[i].leaf;
      if (leaf) {
        fprintf(f, "  t%p [shape=ellipse,label=\"leaf %s requires_grad\"];\n", (void *)leaf,
                nb__dims_str(leaf->ndim, leaf->shape, buf, sizeof buf));
        fprintf(f, "  t%p -> n%p;\n", (void *)leaf, (void *)node);
      } else if (child) {
        fprintf(f, "  n%p -> n%p;\n", (void *)child, (void *)node);
        if (!(child->visit_epoch & mark)) {
          child->visit_epoch |= mark;
          if (top == cap) {
            nb_ctx **s2 = realloc(stack, sizeof *stack * (size_t)(cap *= 2));
            if (!s2) {
              st = nb__fail(NB_ERR_MEMORY, "export_dot: out of memory");
              break;
            }
            stack = s2;
          }
          stack[top++] = child;
        }
      }
    }
  }
  for (int64_t i = 0; i < nseen; i++) seen[i]->visit_epoch &= ~mark;
  for (int64_t i = 0; i < top; i++) stack[i]->visit_epoch &= ~mark;
  free(stack);
  free(seen);
  fprintf(f, "}\n");
  if (st == NB_OK && ferror(f)) st = nb__fail(NB_ERR_IO, "export_dot: write failed");
  return st;
}
