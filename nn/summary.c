/* nn/summary.c - the model summary.
 *
 * Owns: nb_module_summary and the thread-local recorder behind it. The
 * summary lists the modules in tree order (dotted names, indented by depth),
 * runs one no-grad forward on zeros in eval mode (so dropout draws nothing
 * and normalization statistics do not move; each module's mode is restored
 * afterwards) while nb_forward reports every module call's output shape to
 * the recorder, then prints one row per module (name, type, output shape,
 * parameters of its subtree, description) and the totals.
 */
#include "nn/nn_impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct row {
  nb_module *m;
  char *name; /* dotted path; "" for the root */
  int depth;
  bool training; /* mode before the summary, restored after */
  int calls;     /* forward calls seen */
  int ndim;      /* output shape of the first call */
  int64_t shape[NB_MAX_DIMS];
} row;

typedef struct recorder {
  row *rows;
  int n, cap;
} recorder;

static _Thread_local recorder *active;

void nb__summary_note(const nb_module *m, const nb_tensor *out) {
  recorder *r = active;
  if (!r) return;
  for (int i = 0; i < r->n; i++) {
    if (r->rows[i].m != m) continue;
    if (r->rows[i].calls++ == 0) {
      r->rows[i].ndim = nb_ndim(out);
      memcpy(r->rows[i].shape, nb_shape(out), sizeof(int64_t) * (size_t)nb_ndim(out));
    }
    return;
  }
}

/* Append m (named name) and its subtree in pre-order. */
static nb_status add_rows(recorder *r, nb_module *m, const char *name, int depth) {
  if (r->n == r->cap) {
    int cap = r->cap ? 2 * r->cap : 16;
    row *rows = realloc(r->rows, sizeof *rows * (size_t)cap);
    if (!rows) return nb_set_error(NB_ERR_MEMORY, "module_summary: out of memory");
    r->rows = rows;
    r->cap = cap;
  }
  size_t len = strlen(name) + 1;
  row *w = &r->rows[r->n];
  *w = (row){.m = m, .name = malloc(len), .depth = depth, .training = m->training};
  if (!w->name) return nb_set_error(NB_ERR_MEMORY, "module_summary: out of memory");
  memcpy(w->name, name, len);
  r->n++;
  for (int i = 0; i < nb_module_num_children(m); i++) {
    const char *child_name;
    nb_module *child = nb_module_child_at(m, i, &child_name);
    size_t clen = strlen(child_name);
    char *full = malloc(len + clen + 1);
    if (!full) return nb_set_error(NB_ERR_MEMORY, "module_summary: out of memory");
    if (len > 1)
      snprintf(full, len + clen + 1, "%s.%s", name, child_name);
    else
      memcpy(full, child_name, clen + 1);
    nb_status st = add_rows(r, child, full, depth + 1);
    free(full);
    if (st != NB_OK) return st;
  }
  return NB_OK;
}

/* "1,234,567" into buf. */
static const char *group_digits(int64_t v, char *buf, size_t size) {
  char digits[32];
  int n = snprintf(digits, sizeof digits, "%lld", (long long)(v < 0 ? -v : v));
  size_t o = 0;
  if (v < 0 && o + 1 < size) buf[o++] = '-';
  for (int i = 0; i < n && o + 2 < size; i++) {
    if (i > 0 && (n - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = digits[i];
  }
  buf[o] = '\0';
  return buf;
}

enum { COL_NAME, COL_TYPE, COL_SHAPE, COL_PARAMS, COL_DETAILS, COL_COUNT };
#define CELL_SIZE 256

static void print_table(FILE *f, recorder *r, nb_module *root, nb_dtype dtype, int ndim,
                        const int64_t *shape) {
  static const char *const heads[COL_COUNT] = {"Layer", "Type", "Output shape", "Param #",
                                               "Details"};
  char(*cells)[COL_COUNT][CELL_SIZE] = calloc((size_t)r->n, sizeof *cells);
  int width[COL_COUNT];
  for (int c = 0; c < COL_COUNT; c++) width[c] = (int)strlen(heads[c]);
  for (int i = 0; cells && i < r->n; i++) {
    row *w = &r->rows[i];
    char *cell = cells[i][COL_SHAPE];
    snprintf(cells[i][COL_NAME], CELL_SIZE, "%*s%s", 2 * w->depth, "",
             w->depth ? w->name : "(model)");
    snprintf(cells[i][COL_TYPE], CELL_SIZE, "%s", w->m->ops->type_name);
    if (!w->calls)
      snprintf(cell, CELL_SIZE, "--");
    else if (w->calls == 1)
      snprintf(cell, CELL_SIZE, "%s", nb__nn_dims(w->ndim, w->shape));
    else
      snprintf(cell, CELL_SIZE, "%s (x%d)", nb__nn_dims(w->ndim, w->shape), w->calls);
    group_digits(nb_module_num_params(w->m), cells[i][COL_PARAMS], CELL_SIZE);
    if (w->m->ops->describe) w->m->ops->describe(w->m, cells[i][COL_DETAILS], CELL_SIZE);
    for (int c = 0; c < COL_COUNT; c++) {
      int len = (int)strlen(cells[i][c]);
      if (len > width[c]) width[c] = len;
    }
  }
  int rule = 8;
  for (int c = 0; c < COL_COUNT; c++) rule += width[c];
  fprintf(f, "Input: %s %s\n", nb__nn_dims(ndim, shape), nb_dtype_name(dtype));
  fprintf(f, "%-*s  %-*s  %-*s  %*s  %s\n", width[0], heads[0], width[1], heads[1], width[2],
          heads[2], width[3], heads[3], heads[4]);
  for (int i = 0; i < rule; i++) fputc('=', f);
  fputc('\n', f);
  for (int i = 0; cells && i < r->n; i++)
    fprintf(f, "%-*s  %-*s  %-*s  %*s%s%s\n", width[0], cells[i][0], width[1], cells[i][1],
            width[2], cells[i][2], width[3], cells[i][3], cells[i][4][0] ? "  " : "", cells[i][4]);
  for (int i = 0; i < rule; i++) fputc('=', f);
  fputc('\n', f);
  free(cells);

  nb_named_tensors p = nb_module_parameters(root), b = nb_module_buffers(root);
  int64_t total = 0, trainable = 0, buffers = 0;
  for (int i = 0; i < p.n; i++) {
    total += nb_numel(p.tensors[i]);
    if (nb_requires_grad(p.tensors[i])) trainable += nb_numel(p.tensors[i]);
  }
  for (int i = 0; i < b.n; i++) buffers += nb_numel(b.tensors[i]);
  char buf[3][48];
  fprintf(f, "Total params: %s\nTrainable params: %s\nNon-trainable params: %s\n",
          group_digits(total, buf[0], sizeof buf[0]), group_digits(trainable, buf[1], 48),
          group_digits(total - trainable, buf[2], 48));
  if (buffers) fprintf(f, "Buffer elements: %s\n", group_digits(buffers, buf[0], 48));
}

nb_status nb_module_summary(nb_module *m, nb_dtype dtype, int ndim, const int64_t *shape, FILE *f) {
  static const char op[] = "module_summary";
  if (!m) return nb__nn_null(op, "the module");
  if (!f) f = stdout;
  recorder rec = {0};
  nb_status st = add_rows(&rec, m, "", 0);
  nb_tensor *x = st == NB_OK ? nb_zeros(dtype, ndim, shape) : NULL;
  if (st == NB_OK && !x) st = nb__nn_prefix_error(op);
  if (st == NB_OK) {
    recorder *outer = active;
    nb_module_eval(m);
    nb_no_grad_begin();
    active = &rec;
    nb_tensor *out = nb_forward(m, x);
    active = outer;
    nb_no_grad_end();
    for (int i = 0; i < rec.n; i++) rec.rows[i].m->training = rec.rows[i].training;
    if (out)
      print_table(f, &rec, m, dtype, ndim, shape);
    else
      st = nb__nn_prefix_error(op);
    nb_free(out);
  }
  nb_free(x);
  for (int i = 0; i < rec.n; i++) free(rec.rows[i].name);
  free(rec.rows);
  return st;
}
