/* nn/state_dict.c - saving and loading a module's state dict.
 *
 * Owns: nb_module_save (the module's parameters and buffers under PyTorch's
 * names, in state-dict order, as one safetensors file) and nb_module_load
 * (read a safetensors file, check it against the module, apply it).
 *
 * Loading checks every entry before changing anything and reports all
 * problems in one message, as PyTorch's load_state_dict does: missing and
 * unexpected keys (strict mode only), then shape and dtype mismatches
 * (always). The status is NB_ERR_SHAPE if any shape differs, else
 * NB_ERR_DTYPE if any dtype differs, else NB_ERR_ARG (keys). Values are
 * copied into the module's existing tensors under no-grad, so tensors handed
 * out earlier (and optimizers holding them) see the loaded values.
 */
#include "nn/nn_impl.h"

#include <stdlib.h>
#include <string.h>

/* ---- matching names ------------------------------------------------------------- */

typedef struct keyed {
  const char *name;
  int index;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
  return strcmp(((const keyed *)a)->name, ((const keyed *)b)->name);
}

/* Compare a module tensor with the file's: note a shape or dtype mismatch. */
static void check_entry(nb_problems *r, const char *name, nb_tensor *have, nb_tensor *file) {
  bool same = nb_ndim(have) == nb_ndim(file);
  for (int d = 0; same && d < nb_ndim(have); d++) same = nb_shape(have)[d] == nb_shape(file)[d];
  if (!same)
    nb_problems_add(r, NB_ERR_SHAPE, "\"%s\" has shape %s in the file but %s in the module", name,
                    nb__nn_shp(file), nb__nn_shp(have));
  else if (nb_dtype_of(have) != nb_dtype_of(file))
    nb_problems_add(r, NB_ERR_DTYPE, "\"%s\" is %s in the file but %s in the module", name,
                    nb_dtype_name(nb_dtype_of(file)), nb_dtype_name(nb_dtype_of(have)));
}

nb_status nb_module_save(nb_module *m, const char *path) {
  static const char op[] = "module_save";
  if (!m) return nb__nn_null(op, "the module");
  nb_clear_error(); /* an empty listing is only a failure if it set an error */
  nb_named_tensors state = nb_module_state(m);
  if (nb_last_status() != NB_OK) return nb__nn_prefix_error(op);
  nb_status st = nb_safetensors_save(path, state);
  return st == NB_OK ? NB_OK : nb__nn_prefix_error(op);
}

nb_status nb_module_load(nb_module *m, const char *path, bool strict) {
  static const char op[] = "module_load";
  if (!m) return nb__nn_null(op, "the module");
  nb_named_tensors file;
  if (nb_safetensors_load(path, &file) != NB_OK) return nb__nn_prefix_error(op);
  nb_clear_error();
  nb_named_tensors state = nb_module_state(m);
  keyed *index = malloc((size_t)(file.n ? file.n : 1) * sizeof *index);
  int *match = malloc((size_t)(state.n ? state.n : 1) * sizeof *match);
  bool *used = calloc((size_t)(file.n ? file.n : 1), sizeof *used);
  nb_status st = nb_last_status();
  if (st == NB_OK && (!index || !match || !used))
    st = nb_set_error(NB_ERR_MEMORY, "out of memory matching %d names", file.n);
  if (st != NB_OK) {
    free(index);
    free(match);
    free(used);
    nb_named_tensors_free(&file);
    return nb__nn_prefix_error(op);
  }
  for (int i = 0; i < file.n; i++) index[i] = (keyed){file.names[i], i};
  qsort(index, (size_t)file.n, sizeof *index, cmp_keyed);

  nb_problems r = {0};
  for (int i = 0; i < state.n; i++) {
    keyed key = {state.names[i], 0};
    const keyed *k = bsearch(&key, index, (size_t)file.n, sizeof *index, cmp_keyed);
    match[i] = k ? k->index : -1;
    if (k)
      used[k->index] = true;
    else if (strict)
      nb_problems_add(&r, NB_ERR_ARG, "missing key \"%s\"", state.names[i]);
  }
  for (int j = 0; j < file.n && strict; j++)
    if (!used[j]) nb_problems_add(&r, NB_ERR_ARG, "unexpected key \"%s\"", file.names[j]);
  for (int i = 0; i < state.n; i++)
    if (match[i] >= 0) check_entry(&r, state.names[i], state.tensors[i], file.tensors[match[i]]);

  if (r.count) {
    char more[48] = "";
    if (r.hidden) snprintf(more, sizeof more, "; ... and %d more", r.hidden);
    st = nb_set_error(r.status, "%s: \"%s\" does not fit the %s (%d problem%s): %s%s", op, path,
                      nb_module_type(m), r.count, r.count == 1 ? "" : "s", r.text, more);
  } else {
    bool was = nb_set_grad_enabled(false);
    for (int i = 0; i < state.n && st == NB_OK; i++)
      if (match[i] >= 0) st = nb_copy_(state.tensors[i], file.tensors[match[i]]);
    nb_set_grad_enabled(was);
    if (st != NB_OK) nb__nn_prefix_error(op);
  }
  free(index);
  free(match);
  free(used);
  nb_named_tensors_free(&file);
  return st;
}
