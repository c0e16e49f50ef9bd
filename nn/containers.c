/* nn/containers.c - Sequential, ModuleList and ModuleDict.
 *
 * Owns: the three container modules. Sequential names its children "0",
 * "1", ... and chains them in forward; ModuleList and ModuleDict only hold
 * children (they have no forward), as in PyTorch. Every function that takes
 * a module takes ownership of it, also when it fails.
 */
#include "nn/nn_impl.h"

#include <stdio.h>
#include <stdlib.h>

static nb_tensor *sequential_forward(nb_module *self, nb_tensor *const *in, int n) {
  int count = nb_module_num_children(self);
  if (count == 0) return nb__nn_check_arity(self, n, 1) == NB_OK ? nb__nn_alias(in[0]) : NULL;
  nb_tensor *x = NULL;
  for (int i = 0; i < count; i++) {
    const char *name;
    nb_module *child = nb_module_child_at(self, i, &name);
    nb_tensor *y = i == 0 ? nb_forward_n(child, in, n) : nb_forward(child, x);
    nb_free(x); /* the graph keeps what backward needs */
    if (!y) {
      char where[128];
      snprintf(where, sizeof where, "Sequential[%s] (%s)", name, nb_module_type(child));
      nb__nn_prefix_error(where);
      return NULL;
    }
    x = y;
  }
  return x;
}

static const nb_module_ops sequential_ops = {.type_name = "Sequential",
                                             .forward = sequential_forward};
static const nb_module_ops module_list_ops = {.type_name = "ModuleList"};
static const nb_module_ops module_dict_ops = {.type_name = "ModuleDict"};

/* Append m to a Sequential / ModuleList under the next index as its name. */
static nb_status append_indexed(const char *op, nb_module *container, const nb_module_ops *ops,
                                nb_module *m) {
  if (!m) {
    nb__nn_null(op, "the module to append");
    return NB_ERR_NULL;
  }
  if (!container || container->ops != ops) {
    nb_status st = container ? nb_set_error(NB_ERR_ARG, "%s: expected a %s, got a %s", op,
                                            ops->type_name, nb_module_type(container))
                             : nb__nn_null(op, "the container");
    nb__module_discard(m, container);
    return st;
  }
  char name[24];
  snprintf(name, sizeof name, "%d", nb_module_num_children(container));
  return nb_module_add_child(container, name, m) ? NB_OK : nb_last_status();
}

nb_module *nb_sequential_new(nb_module *const *modules, int n) {
  static const char op[] = "sequential_new";
  nb_status st = NB_OK;
  if (n < 0 || (n > 0 && !modules))
    st = nb_set_error(NB_ERR_ARG, "%s: invalid module array (n = %d)", op, n);
  for (int i = 0; st == NB_OK && i < n; i++)
    if (!modules[i]) st = nb__nn_null(op, "a module");
  nb_module *seq = st == NB_OK ? nb_module_new(&sequential_ops, sizeof(nb_module)) : NULL;
  if (!seq) { /* take ownership in every case: free what was given */
    for (int i = 0; modules && i < n; i++) nb__module_discard(modules[i], NULL);
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    if (st == NB_OK)
      st = append_indexed(op, seq, &sequential_ops, modules[i]);
    else
      nb__module_discard(modules[i], seq);
  }
  if (st != NB_OK) {
    nb_module_free(seq);
    return NULL;
  }
  return seq;
}

nb_status nb_sequential_append(nb_module *seq, nb_module *m) {
  return append_indexed("sequential_append", seq, &sequential_ops, m);
}

nb_module *nb_module_list_new(void) { return nb_module_new(&module_list_ops, sizeof(nb_module)); }

nb_status nb_module_list_append(nb_module *list, nb_module *m) {
  return append_indexed("module_list_append", list, &module_list_ops, m);
}

nb_module *nb_module_list_at(nb_module *list, int i) {
  static const char op[] = "module_list_at";
  if (!list) {
    nb__nn_null(op, "the list");
    return NULL;
  }
  int n = nb_module_num_children(list);
  if (i < -n || i >= n) {
    nb_set_error(NB_ERR_INDEX, "%s: index %d is out of range for a %s of %d", op, i,
                 nb_module_type(list), n);
    return NULL;
  }
  return nb_module_child_at(list, i < 0 ? i + n : i, NULL);
}

nb_module *nb_module_dict_new(void) { return nb_module_new(&module_dict_ops, sizeof(nb_module)); }

nb_status nb_module_dict_set(nb_module *dict, const char *key, nb_module *m) {
  static const char op[] = "module_dict_set";
  if (!m) return nb__nn_null(op, "the module");
  if (!dict || dict->ops != &module_dict_ops) {
    nb_status st = dict ? nb_set_error(NB_ERR_ARG, "%s: expected a ModuleDict, got a %s", op,
                                       nb_module_type(dict))
                        : nb__nn_null(op, "the dict");
    nb__module_discard(m, dict);
    return st;
  }
  int i = nb__module_child_index(dict, key);
  if (i >= 0) return nb__module_replace_child(dict, i, m); /* keeps the key's position */
  return nb_module_add_child(dict, key, m) ? NB_OK : nb_last_status();
}

nb_module *nb_module_dict_get(nb_module *dict, const char *key) {
  static const char op[] = "module_dict_get";
  if (!dict) {
    nb__nn_null(op, "the dict");
    return NULL;
  }
  int i = nb__module_child_index(dict, key);
  if (i < 0) {
    nb_set_error(NB_ERR_ARG, "%s: no module under key \"%s\"", op, key ? key : "(NULL)");
    return NULL;
  }
  return nb_module_child_at(dict, i, NULL);
}
