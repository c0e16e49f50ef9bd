/* tests/nn/test_summary.c - nb_module_summary.
 *
 * The full text for a small nested model (rows in tree order with dotted
 * names, types, output shapes, subtree parameter counts, descriptions, and
 * the totals), written to a memstream; modules called twice or never; the
 * summary's forward leaving no trace (modes restored, no gradients, the
 * default generator untouched, no leaks); and errors.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "support/nbtest.h"

TestSuite(nn_summary, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

/* Run the summary into a string (the caller frees it); *status gets its result. */
static char *summary_text(nb_module *m, int ndim, const int64_t *shape, nb_status *status) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  cr_assert_not_null(f);
  *status = nb_module_summary(m, NB_DTYPE_FLOAT32, ndim, shape, f);
  fclose(f);
  return buf;
}

static nb_module *small_model(void) {
  nb_module *head = nb_sequential_new((nb_module *[]){nb_linear_new(8, 2, NULL), nb_tanh_new()}, 2);
  nb_module *m =
      nb_sequential_new((nb_module *[]){nb_flatten_new(1, -1), nb_linear_new(12, 8, NULL),
                                        nb_relu_new(), nb_dropout_new(0.5), head},
                        5);
  cr_assert_not_null(m, "%s", nb_errmsg());
  /* One frozen parameter: counted as non-trainable. */
  nb_requires_grad_(nb_module_get_parameter(m, "4.0.bias"), false);
  return m;
}

static const char expected[] =
    "Input: [5, 3, 4] float32\n"
    "Layer    Type        Output shape  Param #  Details\n"
    "=====================================================================================\n"
    "(model)  Sequential  [5, 2]            122\n"
    "  0      Flatten     [5, 12]             0  start_dim=1, end_dim=-1\n"
    "  1      Linear      [5, 8]            104  in_features=12, out_features=8, bias=True\n"
    "  2      ReLU        [5, 8]              0\n"
    "  3      Dropout     [5, 8]              0  p=0.5\n"
    "  4      Sequential  [5, 2]             18\n"
    "    4.0  Linear      [5, 2]             18  in_features=8, out_features=2, bias=True\n"
    "    4.1  Tanh        [5, 2]              0\n"
    "=====================================================================================\n"
    "Total params: 122\n"
    "Trainable params: 120\n"
    "Non-trainable params: 2\n";

Test(nn_summary, rows_and_totals) {
  nb_module *m = small_model();
  nb_module_eval(nb_module_get_child(m, "4")); /* a mixed mode, to be restored */
  nb_generator_state before, after;
  nb_generator_get_state(nb_default_generator(), &before);
  nb_status st;
  char *text = summary_text(m, NB_SHAPE(5, 3, 4), &st);
  nbt_assert_ok(st, "summary");
  cr_assert_str_eq(text, expected, "got:\n%s", text);
  free(text);
  /* The forward left no trace. */
  nb_generator_get_state(nb_default_generator(), &after);
  cr_assert(memcmp(before.s, after.s, sizeof before.s) == 0, "dropout drew random numbers");
  cr_assert(m->training && nb_module_get_child(m, "3")->training);
  cr_assert_not(nb_module_get_child(m, "4")->training || nb_module_get_child(m, "4.0")->training);
  nb_named_tensors p = nb_module_parameters(m);
  for (int i = 0; i < p.n; i++) cr_assert_null(nb_grad_of(p.tensors[i]), "%s", p.names[i]);
  nb_module_free(m);
}

/* Calls its child "fc" twice and never its child "spare". */
static nb_tensor *twice_forward(nb_module *self, nb_tensor *const *in, int n) {
  nb_module *fc = nb_module_get_child(self, "fc");
  nb_tensor *h = nb_forward(fc, in[0]);
  nb_tensor *y = nb_forward(fc, h);
  nb_free(h);
  return y;
}

static void twice_describe(const nb_module *self, char *buf, size_t size) {
  snprintf(buf, size, "reuses fc");
}

static const nb_module_ops twice_ops = {
    .type_name = "Twice", .forward = twice_forward, .describe = twice_describe};

Test(nn_summary, repeated_and_unused_modules) {
  nb_module *m = nb_module_new(&twice_ops, sizeof(nb_module));
  nb_module_add_child(m, "fc", nb_linear_new(3, 3, NULL));
  nb_module *spare = nb_module_add_child(m, "spare", nb_module_list_new());
  nb_module_list_append(spare, nb_linear_new(100, 10, NULL));
  nb_status st;
  char *text = summary_text(m, NB_SHAPE(2, 3), &st);
  nbt_assert_ok(st, "summary");
  cr_assert(strstr(text, "\n(model)      Twice       [2, 3]          1,022  reuses fc\n"), "%s",
            text);
  cr_assert(strstr(text, "\n  fc         Linear      [2, 3] (x2)        12  in_features=3,"), "%s",
            text);
  cr_assert(strstr(text, "\n  spare      ModuleList  --              1,010\n"), "%s", text);
  cr_assert(strstr(text, "\n    spare.0  Linear      --              1,010  in_features=100,"),
            "%s", text);
  cr_assert(strstr(text, "Total params: 1,022\n"), "%s", text);
  free(text);
  nb_module_free(m);
}

Test(nn_summary, errors) {
  nb_module *m = small_model();
  nb_status st;
  char *text = summary_text(m, NB_SHAPE(5, 7), &st); /* 7 features, Linear wants 12 */
  cr_assert_eq(st, NB_ERR_SHAPE, "%s", nb_errmsg());
  cr_assert(strstr(nb_errmsg(), "module_summary: Sequential[1] (Linear): Linear(in_features=12"),
            "%s", nb_errmsg());
  cr_assert_str_eq(text, "");
  free(text);
  cr_assert(m->training, "mode restored after a failure");
  text = summary_text(m, 1, (const int64_t[]){-3}, &st);
  cr_assert_eq(st, NB_ERR_SHAPE, "%s: %s", nb_status_str(st), nb_errmsg());
  cr_assert(strstr(nb_errmsg(), "module_summary: zeros: size -3"), "%s", nb_errmsg());
  free(text);
  nb_set_error(NB_ERR_MEMORY, "earlier");
  cr_assert_eq(nb_module_summary(NULL, NB_DTYPE_FLOAT32, NB_SHAPE(1), NULL), NB_ERR_NULL);
  cr_assert(strstr(nb_errmsg(), "earlier"));
  nb_module_free(m);
}
