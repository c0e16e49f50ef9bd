/* tests/nn/test_state_dict.c - module state dicts (nn/state_dict.c).
 *
 * Owns: PyTorch interop in both directions (a state dict written from
 * PyTorch by tools/fixtures/gen_state.py loads into the same model built with
 * nn and gives PyTorch's outputs; nabla's file for that model is byte-identical
 * to PyTorch's), save/load round trips with buffers of every dtype, and the
 * checks of nb_module_load: all problems (missing and unexpected keys, shape
 * and dtype mismatches) reported in one message, strict and non-strict
 * modes, and nothing changed when any check fails.
 *
 * With NB_INTEROP_DIR set, the interop test also leaves nabla_mlp.safetensors
 * and nabla_mlp_out.txt there for tools/check_torch_interop.py.
 */
#include "support/nbtest.h"
#include "nn/nn.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(state_dict, .init = nbt_scratch_setup, .fini = nbt_scratch_teardown);

/* Sequential(Linear(4, 8), ReLU, Linear(8, 3)): the interop model. */
static nb_module *mlp(uint64_t seed) {
  nb_manual_seed(seed);
  nb_module *layers[3] = {nb_linear_new(4, 8, NULL), nb_relu_new(), nb_linear_new(8, 3, NULL)};
  nb_module *m = nb_sequential_new(layers, 3);
  cr_assert_not_null(m, "%s", nb_errmsg());
  return m;
}

static nb_tensor *run(nb_module *m, nb_tensor *x) {
  nb_no_grad_begin();
  nb_tensor *y = nb_forward(m, x);
  nb_no_grad_end();
  cr_assert_not_null(y, "%s", nb_errmsg());
  return y;
}

/* Bitwise equality of two same-shaped float tensors. */
static bool bitwise_equal(nb_tensor *a, nb_tensor *b) {
  if (nb_dtype_of(a) != nb_dtype_of(b) || nb_numel(a) != nb_numel(b)) return false;
  size_t bytes = (size_t)nb_numel(a) * nb_dtype_size(nb_dtype_of(a));
  void *x = malloc(bytes + 1), *y = malloc(bytes + 1);
  nb_copy_out(a, nb_dtype_of(a), x, nb_numel(a));
  nb_copy_out(b, nb_dtype_of(b), y, nb_numel(b));
  bool same = memcmp(x, y, bytes) == 0;
  free(x);
  free(y);
  return same;
}

/* Clones of every state tensor, to show later that nothing changed. */
typedef struct snapshot {
  int n;
  nb_tensor *t[64];
} snapshot;

static snapshot take(nb_module *m) {
  nb_named_tensors s = nb_module_state(m);
  snapshot snap = {.n = s.n};
  cr_assert_leq(s.n, 64);
  for (int i = 0; i < s.n; i++) snap.t[i] = nbk_clone(s.tensors[i]);
  return snap;
}

static void assert_unchanged(nb_module *m, snapshot *snap, const char *what) {
  nb_named_tensors s = nb_module_state(m);
  cr_assert_eq(s.n, snap->n, "%s", what);
  for (int i = 0; i < s.n; i++) {
    cr_assert(bitwise_equal(s.tensors[i], snap->t[i]), "%s: \"%s\" changed", what, s.names[i]);
    nb_free(snap->t[i]);
  }
}

static void save_list(const char *path, int n, const char *const *names, nb_tensor **tensors) {
  nbt_assert_ok(nb_safetensors_save(path, (nb_named_tensors){n, names, tensors}), path);
  for (int i = 0; i < n; i++) nb_free(tensors[i]);
}

/* ---- PyTorch interop ---------------------------------------------------------------- */

Test(state_dict, loads_a_pytorch_state_dict_and_gives_its_outputs) {
  nbt_fixture *f = nbt_fixture_load("state");
  const nbt_case *c = nbt_fixture_case(f, "mlp");
  nb_module *m = mlp(5);
  nbt_assert_ok(nb_module_load(m, NB_TEST_FIXTURES "/torch_mlp.safetensors", true), "load");
  const char *names[4] = {"0.weight", "0.bias", "2.weight", "2.bias"};
  for (int i = 0; i < 4; i++) {
    char key[32];
    snprintf(key, sizeof key, "p.%s", names[i]);
    nb_tensor *want = nbt_case_tensor(c, key);
    nbt_assert_close(nb_module_get_parameter(m, names[i]), want, 0, 0, names[i]);
    nb_free(want);
  }
  nb_tensor *x = nbt_case_tensor(c, "x");
  nb_tensor *y = run(m, x);
  nbt_case_check(c, "out", y, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT);
  nb_free(y);
  nb_free(x);
  nb_module_free(m);
  nbt_fixture_free(f);
}

Test(state_dict, saves_the_same_bytes_as_pytorch) {
  /* PyTorch's weights in nabla's model, saved by nabla: the file is the one
   * the PyTorch side wrote, byte for byte (names, order, dtypes, layout). */
  nb_module *m = mlp(5);
  nbt_assert_ok(nb_module_load(m, NB_TEST_FIXTURES "/torch_mlp.safetensors", true), "load");
  const char *path = nbt_scratch_path("mlp.safetensors");
  nbt_assert_ok(nb_module_save(m, path), "save");
  size_t na, nb;
  unsigned char *a = nbt_read_file(path, &na);
  unsigned char *b = nbt_read_file(NB_TEST_FIXTURES "/torch_mlp.safetensors", &nb);
  cr_assert_eq(na, nb, "sizes %zu vs %zu", na, nb);
  cr_assert(memcmp(a, b, na) == 0, "nabla's file differs from PyTorch's");
  free(a);
  free(b);
  nb_module_free(m);
}

Test(state_dict, writes_a_file_pytorch_loads) {
  /* nabla's own weights: the file has PyTorch's names, shapes and dtypes in
   * state-dict order; tools/check_torch_interop.py loads it into torch. */
  nbt_fixture *f = nbt_fixture_load("state");
  nb_tensor *x = nbt_case_tensor(nbt_fixture_case(f, "mlp"), "x");
  nb_module *m = mlp(2024);
  const char *env = getenv("NB_INTEROP_DIR");
  char path[512], out_path[512];
  snprintf(path, sizeof path, "%s/nabla_mlp.safetensors", env ? env : nbt_scratch_dir());
  snprintf(out_path, sizeof out_path, "%s/nabla_mlp_out.txt", env ? env : nbt_scratch_dir());
  nbt_assert_ok(nb_module_save(m, path), "save");
  nb_tensor *y = run(m, x);
  FILE *out = fopen(out_path, "w");
  cr_assert_not_null(out);
  float v[15];
  nbt_assert_ok(nb_copy_out(y, NB_DTYPE_FLOAT32, v, 15), "outputs");
  for (int i = 0; i < 15; i++) fprintf(out, "%.9g%c", v[i], i % 3 == 2 ? '\n' : ' ');
  fclose(out);

  nb_named_tensors got;
  nbt_assert_ok(nb_safetensors_load(path, &got), "reload");
  const char *names[4] = {"0.weight", "0.bias", "2.weight", "2.bias"};
  const int64_t shapes[4][2] = {{8, 4}, {8, 0}, {3, 8}, {3, 0}};
  cr_assert_eq(got.n, 4);
  for (int i = 0; i < 4; i++) {
    cr_assert_str_eq(got.names[i], names[i]);
    cr_assert_eq(nb_dtype_of(got.tensors[i]), NB_DTYPE_FLOAT32);
    nbt_assert_shape(got.tensors[i], shapes[i][1] ? 2 : 1, shapes[i], names[i]);
    cr_assert(bitwise_equal(got.tensors[i], nb_module_get_parameter(m, names[i])), "%s", names[i]);
  }
  nb_named_tensors_free(&got);
  nb_free(y);
  nb_free(x);
  nb_module_free(m);
  nbt_fixture_free(f);
}

/* ---- round trips ----------------------------------------------------------------------- */

Test(state_dict, round_trip_restores_outputs_bitwise) {
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(6, 4), NULL);
  nb_module *a = mlp(1), *b = mlp(2);
  nb_tensor *ya = run(a, x), *yb = run(b, x);
  cr_assert(!bitwise_equal(ya, yb), "differently seeded models differ before loading");
  const char *path = nbt_scratch_path("a.safetensors");
  nbt_assert_ok(nb_module_save(a, path), "save");
  nb_tensor *w_before = nb_module_get_parameter(b, "0.weight");
  uint64_t version = nb_version(w_before);
  nbt_assert_ok(nb_module_load(b, path, true), "load");
  /* Loaded in place: the same leaf tensors, now holding a's values. */
  nb_tensor *w = nb_module_get_parameter(b, "0.weight");
  cr_assert_eq(w, w_before, "the module keeps its tensor objects");
  cr_assert_gt(nb_version(w), version, "an in-place write");
  cr_assert(nb_is_leaf(w) && nb_requires_grad(w), "still a trainable leaf");
  nb_tensor *yb2 = run(b, x);
  cr_assert(bitwise_equal(ya, yb2), "outputs after loading");
  nb_free(yb2);
  nb_free(yb);
  nb_free(ya);
  nb_free(x);
  nb_module_free(a);
  nb_module_free(b);
}

/* A module with buffers of every dtype and a NULL buffer (left out). */
static const nb_module_ops stats_ops = {.type_name = "Stats"};

static nb_module *stats_new(double fill) {
  nb_module *m = nb_module_new(&stats_ops, sizeof(nb_module));
  nb_module_add_parameter(m, "scale", nb_full(NB_DTYPE_FLOAT64, NB_SHAPE(2), fill));
  nb_module_add_buffer(m, "running", nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(3), fill));
  nb_module_add_buffer(m, "absent", NULL);
  nb_module_add_buffer(m, "count", nb_scalar(NB_DTYPE_INT64, fill * 1e15));
  nb_module_add_buffer(m, "mask", nb_full(NB_DTYPE_BOOL, NB_SHAPE(2, 2), fill > 1));
  nb_module_add_buffer(m, "empty", nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(0, 4)));
  return m;
}

Test(state_dict, buffers_of_every_dtype_round_trip) {
  nb_module *a = nb_sequential_new((nb_module *[]){stats_new(7), nb_linear_new(2, 2, NULL)}, 2);
  nb_module *b = nb_sequential_new((nb_module *[]){stats_new(0), nb_linear_new(2, 2, NULL)}, 2);
  const char *path = nbt_scratch_path("stats.safetensors");
  nbt_assert_ok(nb_module_save(a, path), "save");
  nb_named_tensors got;
  nbt_assert_ok(nb_safetensors_load(path, &got), "read back");
  const char *order[] = {"0.scale", "0.running", "0.count", "0.mask",
                         "0.empty", "1.weight",  "1.bias"};
  cr_assert_eq(got.n, 7, "the NULL buffer is not saved");
  for (int i = 0; i < 7; i++) cr_assert_str_eq(got.names[i], order[i], "state-dict order");
  nb_named_tensors_free(&got);
  nbt_assert_ok(nb_module_load(b, path, true), "load");
  nb_named_tensors sa = nb_module_state(a), sb = nb_module_state(b);
  for (int i = 0; i < sa.n; i++)
    cr_assert(bitwise_equal(sa.tensors[i], sb.tensors[i]), "%s", sa.names[i]);
  cr_assert_eq((int64_t)nb_item(nb_module_get_buffer(b, "0.count")), INT64_C(7000000000000000));
  nb_module_free(a);
  nb_module_free(b);
}

/* ---- checks before loading -------------------------------------------------------------- */

/* A file that fits mlp() badly in four ways: "0.weight" float64, "0.bias"
 * missing, "2.weight" transposed, "extra.w" unknown ("2.bias" fits). */
static void write_bad_mlp_file(const char *path) {
  const char *names[4] = {"0.weight", "2.weight", "2.bias", "extra.w"};
  nb_tensor *t[4] = {
      nb_ones(NB_DTYPE_FLOAT64, NB_SHAPE(8, 4)), nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(8, 3)),
      nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3)), nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(1))};
  save_list(path, 4, names, t);
}

static void assert_mentions(const char *needle) {
  cr_assert(strstr(nb_errmsg(), needle), "the message lacks [%s]: %s", needle, nb_errmsg());
}

Test(state_dict, strict_load_reports_every_problem_at_once) {
  const char *path = nbt_scratch_path("bad.safetensors");
  write_bad_mlp_file(path);
  nb_module *m = mlp(3);
  snapshot before = take(m);
  cr_assert_eq(nb_module_load(m, path, true), NB_ERR_SHAPE, "%s", nb_errmsg());
  assert_mentions("module_load");
  assert_mentions(path);
  assert_mentions("Sequential (4 problems)");
  assert_mentions("missing key \"0.bias\"");
  assert_mentions("unexpected key \"extra.w\"");
  assert_mentions("\"2.weight\" has shape [8, 3] in the file but [3, 8] in the module");
  assert_mentions("\"0.weight\" is float64 in the file but float32 in the module");
  cr_assert_null(strstr(nb_errmsg(), "2.bias"), "a fitting entry is not a problem");
  assert_unchanged(m, &before, "after a failed strict load");
  nb_module_free(m);
}

Test(state_dict, non_strict_ignores_keys_but_not_shapes_or_dtypes) {
  const char *path = nbt_scratch_path("bad.safetensors");
  write_bad_mlp_file(path);
  nb_module *m = mlp(3);
  snapshot before = take(m);
  cr_assert_eq(nb_module_load(m, path, false), NB_ERR_SHAPE, "%s", nb_errmsg());
  assert_mentions("(2 problems)");
  assert_mentions("\"2.weight\" has shape [8, 3]");
  assert_mentions("\"0.weight\" is float64");
  cr_assert_null(strstr(nb_errmsg(), "missing"), "%s", nb_errmsg());
  cr_assert_null(strstr(nb_errmsg(), "unexpected"), "%s", nb_errmsg());
  assert_unchanged(m, &before, "after a failed non-strict load");
  nb_module_free(m);
}

Test(state_dict, key_problems_fail_strict_and_pass_non_strict) {
  /* Everything but "0.bias", plus an unknown key. */
  const char *path = nbt_scratch_path("partial.safetensors");
  const char *names[4] = {"0.weight", "2.weight", "2.bias", "extra.w"};
  nb_tensor *t[4] = {nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(8, 4), 0.5),
                     nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(3, 8), 0.25),
                     nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(3), -1),
                     nb_ones(NB_DTYPE_INT64, NB_SHAPE(1))};
  save_list(path, 4, names, t);
  nb_module *m = mlp(4);
  snapshot before = take(m);
  cr_assert_eq(nb_module_load(m, path, true), NB_ERR_ARG, "keys only: %s", nb_errmsg());
  assert_mentions("(2 problems): missing key \"0.bias\"; unexpected key \"extra.w\"");
  assert_unchanged(m, &before, "after the strict failure");
  nb_tensor *bias = nbk_clone(nb_module_get_parameter(m, "0.bias"));
  nbt_assert_ok(nb_module_load(m, path, false), "non-strict");
  nbt_assert_values(nb_module_get_parameter(m, "2.bias"), ((double[]){-1, -1, -1}), 3, 0, 0,
                    "loaded");
  cr_assert_eq(nb_get(nb_module_get_parameter(m, "0.weight"), (int64_t[]){7, 3}), 0.5);
  cr_assert(bitwise_equal(nb_module_get_parameter(m, "0.bias"), bias), "the missing one is kept");
  nb_free(bias);
  nb_module_free(m);
}

Test(state_dict, a_dtype_mismatch_alone_is_a_dtype_error) {
  const char *path = nbt_scratch_path("f64.safetensors");
  nb_module *m = mlp(3);
  nb_named_tensors s = nb_module_state(m);
  nb_tensor *t[4];
  for (int i = 0; i < 4; i++) t[i] = nbk_to(s.tensors[i], NB_DTYPE_FLOAT64);
  save_list(path, 4, s.names, t);
  cr_assert_eq(nb_module_load(m, path, true), NB_ERR_DTYPE, "%s", nb_errmsg());
  assert_mentions("(4 problems)");
  nb_module_free(m);
}

Test(state_dict, long_problem_lists_are_cut_with_a_count) {
  nb_module *list = nb_module_list_new();
  for (int i = 0; i < 40; i++) nb_module_list_append(list, nb_linear_new(2, 2, NULL));
  const char *path = nbt_scratch_path("none.safetensors");
  nbt_assert_ok(nb_safetensors_save(path, (nb_named_tensors){0}), "empty file");
  cr_assert_eq(nb_module_load(list, path, true), NB_ERR_ARG);
  assert_mentions("ModuleList (80 problems): missing key \"0.weight\"; missing key \"0.bias\"");
  assert_mentions(" more");
  const char *more = strstr(nb_errmsg(), "; ... and ");
  cr_assert_not_null(more, "%s", nb_errmsg());
  int hidden = atoi(more + 10);
  cr_assert(hidden > 0 && hidden < 80, "%d hidden", hidden);
  cr_assert_lt(strlen(nb_errmsg()), 1000);
  nbt_assert_ok(nb_module_load(list, path, false), "nothing to load is fine when not strict");
  nb_module_free(list);
}

Test(state_dict, file_and_argument_errors) {
  nb_module *m = mlp(3);
  cr_assert_eq(nb_module_load(m, nbt_scratch_path("absent.safetensors"), true), NB_ERR_IO);
  assert_mentions("module_load: safetensors_load: ");
  assert_mentions("cannot open");
  const char *path = nbt_scratch_path("junk.safetensors");
  FILE *f = fopen(path, "wb");
  fputs("definitely not a safetensors file", f);
  fclose(f);
  cr_assert_eq(nb_module_load(m, path, true), NB_ERR_FORMAT);
  assert_mentions("module_load: safetensors_load: ");
  cr_assert_eq(nb_module_load(m, NULL, true), NB_ERR_ARG);
  cr_assert_eq(nb_module_save(m, nbt_scratch_path("no/such/dir.safetensors")), NB_ERR_IO);
  assert_mentions("module_save: safetensors_save: ");
  nb_clear_error();
  cr_assert_eq(nb_module_load(NULL, path, true), NB_ERR_NULL);
  cr_assert_eq(nb_module_save(NULL, path), NB_ERR_NULL);
  nb_module_free(m);
}

Test(state_dict, a_module_without_state_saves_an_empty_file) {
  nb_module *relu = nb_relu_new();
  const char *path = nbt_scratch_path("relu.safetensors");
  nbt_assert_ok(nb_module_save(relu, path), "save");
  nbt_assert_ok(nb_module_load(relu, path, true), "load");
  nb_named_tensors got;
  nbt_assert_ok(nb_safetensors_load(path, &got), "read");
  cr_assert_eq(got.n, 0);
  nb_named_tensors_free(&got);
  nb_module_free(relu);
}
