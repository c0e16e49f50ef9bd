/* tests/nn/test_safetensors.c - the safetensors reader and writer (nn/safetensors.c).
 *
 * Owns: round trips of every dtype (0-d, empty, non-contiguous inputs), byte
 * compatibility with the PyTorch-side writer of tools/fixtures/gen_state.py
 * (tests/fixtures/torch_dtypes.safetensors), truncated and corrupt files
 * (every cut offset, byte flips, a table of malformed headers: always a clean
 * NB_ERR_FORMAT/NB_ERR_IO naming the path and the tensor, never a crash), and
 * atomic writes (a failure midway, a rename that cannot happen, bad
 * arguments: the previous file stays byte-identical, no temporary is left).
 */
#include "support/nbtest.h"
#include "nn/nn.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a scratch directory per test ------------------------------------------------ */

TestSuite(safetensors, .init = nbt_scratch_setup, .fini = nbt_scratch_teardown);

static void write_bytes(const char *path, const void *data, size_t n) {
  unlink(path); /* truncating in place makes ext4 flush on close: slow in loops */
  FILE *f = fopen(path, "wb");
  if (!f) cr_assert_fail("create %s: %s", path, strerror(errno));
  if (fwrite(data, 1, n, f) != n || fclose(f) != 0) cr_assert_fail("write %s failed", path);
}

/* A file with an 8-byte length `hlen`, the header text and `data` zero bytes. */
static void write_raw(const char *path, uint64_t hlen, const char *header, size_t hsize,
                      size_t data) {
  size_t n = 8 + hsize + data;
  unsigned char *buf = calloc(1, n);
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
  memcpy(buf + 8, header, hsize);
  write_bytes(path, buf, n);
  free(buf);
}

static void write_header(const char *path, const char *header, size_t data) {
  write_raw(path, strlen(header), header, strlen(header), data);
}

/* Files in the scratch directory (to see that no temporary is left). */
static int dir_entries(void) {
  DIR *d = opendir(nbt_scratch_dir());
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return n;
}

static bool same_file(const char *path, const unsigned char *data, size_t size) {
  size_t n;
  unsigned char *now = nbt_read_file(path, &n);
  bool same = n == size && memcmp(now, data, n) == 0;
  free(now);
  return same;
}

/* Same dtype, shape and bytes (bitwise: NaN payloads and -0 included). */
static void assert_identical(nb_tensor *a, nb_tensor *b, const char *what) {
  cr_assert_not_null(a, "%s: NULL", what);
  cr_assert_not_null(b, "%s: NULL", what);
  cr_assert_eq(nb_dtype_of(a), nb_dtype_of(b), "%s: dtype %s vs %s", what,
               nb_dtype_name(nb_dtype_of(a)), nb_dtype_name(nb_dtype_of(b)));
  nbt_assert_shape(a, nb_ndim(b), nb_shape(b), what);
  int64_t n = nb_numel(a);
  size_t bytes = (size_t)n * nb_dtype_size(nb_dtype_of(a));
  void *x = malloc(bytes + 1), *y = malloc(bytes + 1);
  nbt_assert_ok(nb_copy_out(a, nb_dtype_of(a), x, n), what);
  nbt_assert_ok(nb_copy_out(b, nb_dtype_of(b), y, n), what);
  cr_assert(memcmp(x, y, bytes) == 0, "%s: values differ", what);
  free(x);
  free(y);
}

/* The tensors of state.txt case "dtypes", in torch_dtypes.safetensors' order. */
static const char *const dtype_names[] = {"f32",        "f64",           "i64",         "flag",
                                          "scalar_f32", "scalar_i64",    "scalar_bool", "empty_f32",
                                          "empty_i64",  "block.0.weight"};
#define NDTYPES ((int)(sizeof dtype_names / sizeof dtype_names[0]))

static void load_dtype_tensors(nb_tensor **out) {
  nbt_fixture *f = nbt_fixture_load("state");
  const nbt_case *c = nbt_fixture_case(f, "dtypes");
  for (int i = 0; i < NDTYPES; i++) out[i] = nbt_case_tensor(c, dtype_names[i]);
  nbt_fixture_free(f);
}

static nb_named_tensors list_of(int n, const char *const *names, nb_tensor *const *tensors) {
  return (nb_named_tensors){.n = n, .names = names, .tensors = tensors};
}

static void free_all(nb_tensor **t, int n) {
  for (int i = 0; i < n; i++) nb_free(t[i]);
}

/* Load must fail with one of the statuses, leave an empty list, and name the
 * path (checked without an assertion per call: Criterion reports every
 * passing assertion to its runner, which is slow in loops). */
static void assert_load_fails(const char *path, nb_status want, nb_status alt, const char *needle,
                              const char *what) {
  nb_named_tensors out = {.n = 99};
  nb_status st = nb_safetensors_load(path, &out);
  if (st != want && st != alt)
    cr_assert_fail("%s: status %s (%s)", what, nb_status_str(st), nb_errmsg());
  if (nb_last_status() != st || out.n != 0 || out.tensors)
    cr_assert_fail("%s: the status must be recorded and the list empty", what);
  if (!strstr(nb_errmsg(), "safetensors_load") || !strstr(nb_errmsg(), path))
    cr_assert_fail("%s: the message should name the op and the path: %s", what, nb_errmsg());
  if (needle && !strstr(nb_errmsg(), needle))
    cr_assert_fail("%s: the message lacks \"%s\": %s", what, needle, nb_errmsg());
}

/* ---- round trips -------------------------------------------------------------------- */

Test(safetensors, round_trip_every_dtype_0d_and_empty) {
  nb_tensor *t[NDTYPES];
  load_dtype_tensors(t);
  const char *path = nbt_scratch_path("all.safetensors");
  nbt_assert_ok(nb_safetensors_save(path, list_of(NDTYPES, dtype_names, t)), "save");
  nb_named_tensors back;
  nbt_assert_ok(nb_safetensors_load(path, &back), "load");
  cr_assert_eq(back.n, NDTYPES);
  for (int i = 0; i < NDTYPES; i++) {
    cr_assert_str_eq(back.names[i], dtype_names[i], "order is kept");
    assert_identical(back.tensors[i], t[i], dtype_names[i]);
    cr_assert(nb_is_contiguous(back.tensors[i]));
  }
  nb_named_tensors_free(&back);
  cr_assert_eq(back.n, 0);
  cr_assert_null(back.tensors);
  nb_named_tensors_free(&back); /* twice is harmless */
  nb_named_tensors_free(NULL);
  free_all(t, NDTYPES);
}

Test(safetensors, byte_identical_to_the_torch_side_writer) {
  nb_tensor *t[NDTYPES];
  load_dtype_tensors(t);
  const char *mine = nbt_scratch_path("nabla.safetensors");
  nbt_assert_ok(nb_safetensors_save(mine, list_of(NDTYPES, dtype_names, t)), "save");
  size_t na, nb;
  unsigned char *a = nbt_read_file(mine, &na);
  unsigned char *b = nbt_read_file(NB_TEST_FIXTURES "/torch_dtypes.safetensors", &nb);
  cr_assert_eq(na, nb, "sizes: nabla %zu, torch side %zu", na, nb);
  for (size_t i = 0; i < na; i++)
    cr_assert_eq(a[i], b[i], "first difference at byte %zu: nabla '%c', torch side '%c'", i, a[i],
                 b[i]);
  /* The layout the reference implementation writes: aligned header, metadata first. */
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | a[i];
  cr_assert_eq(hlen % 8, 0);
  cr_assert(memcmp(a + 8, "{\"__metadata__\":{\"format\":\"pt\"},\"f32\":", 38) == 0);
  cr_assert_eq(a[8 + hlen - 1], ' ', "padded with spaces");
  free(a);
  free(b);
  free_all(t, NDTYPES);
}

Test(safetensors, reads_the_torch_side_file) {
  nb_tensor *t[NDTYPES];
  load_dtype_tensors(t);
  nb_named_tensors got;
  nbt_assert_ok(nb_safetensors_load(NB_TEST_FIXTURES "/torch_dtypes.safetensors", &got), "load");
  cr_assert_eq(got.n, NDTYPES);
  for (int i = 0; i < NDTYPES; i++) {
    cr_assert_str_eq(got.names[i], dtype_names[i]);
    assert_identical(got.tensors[i], t[i], dtype_names[i]);
  }
  nb_named_tensors_free(&got);
  free_all(t, NDTYPES);
}

Test(safetensors, non_contiguous_inputs_are_written_row_major) {
  nb_tensor *base = nb_arange(NB_DTYPE_FLOAT64, 0, 24, 1);
  nb_tensor *m = nbk_reshape(base, NB_SHAPE(4, 6));
  nb_tensor *row1 = nbk_slice(m, 0, 1, 2, 1); /* [1, 6] */
  nb_tensor *views[3] = {nbk_transpose(m, 0, 1), nbk_slice(m, 1, 0, 6, 2),
                         nbk_expand(row1, NB_SHAPE(3, 6))};
  const char *names[3] = {"transposed", "stepped", "expanded"};
  for (int i = 0; i < 3; i++) cr_assert(!nb_is_contiguous(views[i]), "%s", names[i]);
  const char *path = nbt_scratch_path("views.safetensors");
  nbt_assert_ok(nb_safetensors_save(path, list_of(3, names, views)), "save");
  nb_named_tensors back;
  nbt_assert_ok(nb_safetensors_load(path, &back), "load");
  for (int i = 0; i < 3; i++) {
    nb_tensor *dense = nbk_contiguous(views[i]);
    assert_identical(back.tensors[i], dense, names[i]);
    nb_free(dense);
  }
  double expanded_row[6] = {6, 7, 8, 9, 10, 11};
  nb_tensor *row = nbk_select(back.tensors[2], 0, 2);
  nbt_assert_values(row, expanded_row, 6, 0, 0, "expanded rows are real copies");
  nb_free(row);
  nb_named_tensors_free(&back);
  free_all(views, 3);
  nb_free(row1);
  nb_free(m);
  nb_free(base);
}

Test(safetensors, empty_list_round_trips) {
  const char *path = nbt_scratch_path("empty.safetensors");
  nbt_assert_ok(nb_safetensors_save(path, (nb_named_tensors){0}), "save");
  nb_named_tensors back = {.n = 5};
  nbt_assert_ok(nb_safetensors_load(path, &back), "load");
  cr_assert_eq(back.n, 0);
  nb_named_tensors_free(&back);
  size_t n;
  unsigned char *raw = nbt_read_file(path, &n);
  cr_assert_eq(n, 8 + 32, "just the padded metadata header (%zu bytes)", n);
  free(raw);
}

Test(safetensors, header_order_is_kept_when_offsets_differ) {
  /* Data of "b" first: the list follows the header, values the offsets. */
  const char *path = nbt_scratch_path("order.safetensors");
  const char header[] = "{\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                        "\"a\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}}";
  unsigned char buf[8 + sizeof header - 1 + 16] = {0};
  buf[0] = sizeof header - 1;
  memcpy(buf + 8, header, sizeof header - 1);
  buf[8 + sizeof header - 1] = 5;     /* b = [5] */
  buf[8 + sizeof header - 1 + 8] = 7; /* a = 7 */
  write_bytes(path, buf, sizeof buf);
  nb_named_tensors got;
  nbt_assert_ok(nb_safetensors_load(path, &got), "load");
  cr_assert_eq(got.n, 2);
  cr_assert_str_eq(got.names[0], "b");
  cr_assert_str_eq(got.names[1], "a");
  nbt_assert_values(got.tensors[0], ((double[]){5}), 1, 0, 0, "b");
  nbt_assert_shape(got.tensors[1], NB_SCALAR_SHAPE, "a is 0-d");
  nbt_assert_values(got.tensors[1], ((double[]){7}), 1, 0, 0, "a");
  nb_named_tensors_free(&got);
}

Test(safetensors, loaded_tensors_outlive_an_open_scope) {
  const char *path = nbt_scratch_path("scoped.safetensors");
  nb_tensor *x = nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(2, 2), 1.5);
  const char *name = "x";
  nbt_assert_ok(nb_safetensors_save(path, list_of(1, &name, &x)), "save");
  nb_free(x);
  nb_named_tensors got;
  nb_scope_begin();
  nbt_assert_ok(nb_safetensors_load(path, &got), "load");
  nb_scope_end();
  nbt_assert_values(got.tensors[0], ((double[]){1.5, 1.5, 1.5, 1.5}), 4, 0, 0, "owned by the list");
  nb_named_tensors_free(&got);
}

Test(safetensors, names_keep_utf8_and_reject_invalid) {
  const char *path = nbt_scratch_path("names.safetensors");
  nb_tensor *x = nb_scalar(NB_DTYPE_FLOAT64, 2);
  const char *names[2] = {"caf\xc3\xa9.poids", "layers.10.attn.q_proj.weight"};
  nb_tensor *ts[2] = {x, x}; /* one tensor under two names is fine */
  nbt_assert_ok(nb_safetensors_save(path, list_of(2, names, ts)), "save");
  nb_named_tensors got;
  nbt_assert_ok(nb_safetensors_load(path, &got), "load");
  cr_assert_str_eq(got.names[0], names[0]);
  cr_assert_str_eq(got.names[1], names[1]);
  cr_assert_neq(got.tensors[0], got.tensors[1], "separate copies on load");
  nb_named_tensors_free(&got);
  const char *bad = "bad\xff";
  cr_assert_eq(nb_safetensors_save(nbt_scratch_path("bad.safetensors"), list_of(1, &bad, &x)),
               NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "UTF-8"), "%s", nb_errmsg());
  nb_free(x);
}

/* ---- malformed files ---------------------------------------------------------------- */

Test(safetensors, truncated_at_every_byte_is_a_clean_error) {
  nb_tensor *t[NDTYPES];
  load_dtype_tensors(t);
  const char *full = nbt_scratch_path("full.safetensors"),
             *cut = nbt_scratch_path("cut.safetensors");
  nbt_assert_ok(nb_safetensors_save(full, list_of(NDTYPES, dtype_names, t)), "save");
  free_all(t, NDTYPES);
  size_t n;
  unsigned char *raw = nbt_read_file(full, &n);
  for (size_t k = 0; k < n; k++) {
    write_bytes(cut, raw, k);
    char what[64];
    snprintf(what, sizeof what, "cut at byte %zu of %zu", k, n);
    assert_load_fails(cut, NB_ERR_FORMAT, NB_ERR_FORMAT, NULL, what);
  }
  /* The same bytes plus one more are not a valid file either. */
  unsigned char *longer = malloc(n + 1);
  memcpy(longer, raw, n);
  longer[n] = 0;
  write_bytes(cut, longer, n + 1);
  assert_load_fails(cut, NB_ERR_FORMAT, NB_ERR_FORMAT, "end at byte", "one byte too many");
  free(longer);
  free(raw);
}

Test(safetensors, byte_flips_never_crash) {
  nb_tensor *t[NDTYPES];
  load_dtype_tensors(t);
  const char *full = nbt_scratch_path("full.safetensors"),
             *bad = nbt_scratch_path("flipped.safetensors");
  nbt_assert_ok(nb_safetensors_save(full, list_of(NDTYPES, dtype_names, t)), "save");
  free_all(t, NDTYPES);
  size_t n;
  unsigned char *raw = nbt_read_file(full, &n);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
  const unsigned char values[] = {0, '"', '}', ']', '9', '-', ',', 0xff};
  int loaded = 0, failed = 0;
  for (size_t k = 0; k < 8 + hlen; k++)
    for (size_t v = 0; v < sizeof values; v++) {
      if (raw[k] == values[v]) continue;
      unsigned char saved = raw[k];
      raw[k] = values[v];
      write_bytes(bad, raw, n);
      raw[k] = saved;
      nb_named_tensors got;
      nb_status st = nb_safetensors_load(bad, &got);
      if (st == NB_OK) {
        loaded++; /* e.g. a flipped padding byte: still a valid file */
        nb_named_tensors_free(&got);
        continue;
      }
      failed++;
      if ((st != NB_ERR_FORMAT && st != NB_ERR_DTYPE && st != NB_ERR_SHAPE) || got.n != 0)
        cr_assert_fail("byte %zu = %u: status %s (%s)", k, values[v], nb_status_str(st),
                       nb_errmsg());
    }
  cr_assert_gt(failed, 1000, "most flips must be caught (%d caught, %d loaded)", failed, loaded);
  free(raw);
}

typedef struct corrupt_case {
  const char *what, *header;
  size_t data;
  nb_status status;
  const char *needle;
} corrupt_case;

#define ENTRY(name, dtype, shape, offs)                                                            \
  "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offs "}"

static const corrupt_case corrupt_cases[] = {
    {"unfinished JSON", "{\"a\":", 0, NB_ERR_FORMAT, "not valid JSON"},
    {"trailing garbage", "{}x", 0, NB_ERR_FORMAT, "not valid JSON"},
    {"too big an integer", "{" ENTRY("a", "F32", "[1]", "[0,99999999999999999999]") "}", 4,
     NB_ERR_FORMAT, "not valid JSON"},
    {"an array", "[1, 2]", 0, NB_ERR_FORMAT, "not a JSON object"},
    {"duplicate keys",
     "{" ENTRY("a", "F32", "[1]", "[0,4]") "," ENTRY("a", "F32", "[1]", "[4,8]") "}", 8,
     NB_ERR_FORMAT, "duplicate"},
    {"entry not an object", "{\"w\":3}", 0, NB_ERR_FORMAT, "tensor \"w\": the entry is not"},
    {"no dtype", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, NB_ERR_FORMAT,
     "tensor \"w\": \"dtype\""},
    {"unknown dtype", "{" ENTRY("w", "F99", "[1]", "[0,4]") "}", 4, NB_ERR_FORMAT,
     "unknown dtype \"F99\""},
    {"half precision", "{" ENTRY("w", "F16", "[2]", "[0,4]") "}", 4, NB_ERR_DTYPE,
     "tensor \"w\" has dtype F16"},
    {"bfloat16", "{" ENTRY("w", "BF16", "[2]", "[0,4]") "}", 4, NB_ERR_DTYPE,
     "\"w\" has dtype BF16"},
    {"int32", "{" ENTRY("w", "I32", "[1]", "[0,4]") "}", 4, NB_ERR_DTYPE, "I32"},
    {"shape not an array", "{" ENTRY("w", "F32", "4", "[0,4]") "}", 4, NB_ERR_FORMAT,
     "tensor \"w\": \"shape\""},
    {"negative size", "{" ENTRY("w", "F32", "[2,-1]", "[0,4]") "}", 4, NB_ERR_FORMAT,
     "tensor \"w\": shape entry 1"},
    {"fractional size", "{" ENTRY("w", "F32", "[1.0]", "[0,4]") "}", 4, NB_ERR_FORMAT,
     "shape entry 0"},
    {"nine dims", "{" ENTRY("w", "F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]") "}", 4, NB_ERR_SHAPE,
     "9 dims"},
    {"overflowing shape", "{" ENTRY("w", "F32", "[4294967296,4294967296,4294967296]", "[0,4]") "}",
     4, NB_ERR_FORMAT, "overflows"},
    {"one offset", "{" ENTRY("w", "F32", "[1]", "[4]") "}", 4, NB_ERR_FORMAT,
     "\"w\": \"data_offsets\""},
    {"begin after end", "{" ENTRY("w", "F32", "[0]", "[8,4]") "}", 8, NB_ERR_FORMAT,
     "\"data_offsets\""},
    {"negative offset", "{" ENTRY("w", "F32", "[1]", "[-4,0]") "}", 4, NB_ERR_FORMAT,
     "\"data_offsets\""},
    {"shape vs offsets", "{" ENTRY("w", "F32", "[3]", "[0,8]") "}", 8, NB_ERR_FORMAT,
     "needs 12 bytes but data_offsets [0, 8] hold 8"},
    {"past the end", "{" ENTRY("w", "F32", "[2]", "[0,8]") "}", 4, NB_ERR_FORMAT,
     "tensor \"w\": data_offsets [0, 8] run past the end"},
    {"huge offsets", "{" ENTRY("w", "F32", "[1]", "[9223372036854775800,9223372036854775804]") "}",
     4, NB_ERR_FORMAT, "run past the end"},
    {"overlap", "{" ENTRY("a", "F32", "[2]", "[0,8]") "," ENTRY("b", "F32", "[2]", "[4,12]") "}",
     12, NB_ERR_FORMAT, "\"a\" [0, 8) and \"b\" [4, 12) overlap"},
    {"same range twice",
     "{" ENTRY("a", "I64", "[]", "[0,8]") "," ENTRY("b", "F64", "[]", "[0,8]") "}", 8,
     NB_ERR_FORMAT, "overlap"},
    {"gap", "{" ENTRY("a", "F32", "[2]", "[0,8]") "," ENTRY("b", "F32", "[2]", "[12,20]") "}", 20,
     NB_ERR_FORMAT, "bytes [8, 12) of the data section belong to no tensor"},
    {"leading gap", "{" ENTRY("a", "F32", "[1]", "[4,8]") "}", 8, NB_ERR_FORMAT, "bytes [0, 4)"},
    {"trailing bytes", "{" ENTRY("a", "F32", "[2]", "[0,8]") "}", 12, NB_ERR_FORMAT,
     "has 12 bytes but the tensors end at byte 8"},
    {"data but no tensors", "{}", 4, NB_ERR_FORMAT, "end at byte 0"},
    {"metadata not an object", "{\"__metadata__\":3}", 0, NB_ERR_FORMAT, "__metadata__"},
    {"metadata value not a string", "{\"__metadata__\":{\"n\":1}}", 0, NB_ERR_FORMAT,
     "\"__metadata__\" entry \"n\""},
};

Test(safetensors, corrupt_headers_are_clear_errors) {
  const char *path = nbt_scratch_path("corrupt.safetensors");
  for (size_t i = 0; i < sizeof corrupt_cases / sizeof corrupt_cases[0]; i++) {
    const corrupt_case *c = &corrupt_cases[i];
    write_header(path, c->header, c->data);
    assert_load_fails(path, c->status, c->status, c->needle, c->what);
  }
  /* Valid metadata and an empty tensor at the end are fine. */
  static const char meta[] = "\"__metadata__\":{\"format\":\"pt\",\"epoch\":\"3\"}";
  static const char a[] = ENTRY("a", "F32", "[1]", "[0,4]"),
                    e[] = ENTRY("e", "I64", "[0,5]", "[4,4]");
  char valid[256];
  snprintf(valid, sizeof valid, "{%s,%s,%s}", meta, a, e);
  write_header(path, valid, 4);
  nb_named_tensors got;
  nbt_assert_ok(nb_safetensors_load(path, &got), "metadata and an empty tensor");
  cr_assert_eq(got.n, 2);
  nbt_assert_shape(got.tensors[1], NB_SHAPE(0, 5), "e");
  nb_named_tensors_free(&got);
}

Test(safetensors, header_length_lies_are_format_errors) {
  const char *path = nbt_scratch_path("length.safetensors");
  const char *h = "{" ENTRY("a", "F32", "[1]", "[0,4]") "}";
  size_t hs = strlen(h);
  write_raw(path, UINT64_C(1) << 63, h, hs, 4);
  assert_load_fails(path, NB_ERR_FORMAT, NB_ERR_FORMAT, "header length 9223372036854775808",
                    "a huge header length");
  write_raw(path, UINT64_MAX, h, hs, 4);
  assert_load_fails(path, NB_ERR_FORMAT, NB_ERR_FORMAT, "bytes that follow it", "all ones");
  write_raw(path, hs + 5, h, hs, 4);
  assert_load_fails(path, NB_ERR_FORMAT, NB_ERR_FORMAT, "exceeds", "one byte past the end");
  /* Within a (sparse) 200 MB file but above the reference's 100 MB limit. */
  write_raw(path, 150000000, h, hs, 4);
  cr_assert_eq(truncate(path, 200000000), 0);
  assert_load_fails(path, NB_ERR_FORMAT, NB_ERR_FORMAT, "exceeds the limit", "over the limit");
  write_raw(path, 0, h, hs, 4);
  assert_load_fails(path, NB_ERR_FORMAT, NB_ERR_FORMAT, "header length 0", "zero");
  write_raw(path, hs - 1, h, hs, 4);
  assert_load_fails(path, NB_ERR_FORMAT, NB_ERR_FORMAT, "not valid JSON", "one byte short");
  write_bytes(path, "\x10\0\0", 3);
  assert_load_fails(path, NB_ERR_FORMAT, NB_ERR_FORMAT, "3 bytes", "shorter than the length");
  /* A NUL inside the header. */
  char with_nul[] = "{\"a\":{}}";
  with_nul[2] = '\0';
  write_raw(path, sizeof with_nul - 1, with_nul, sizeof with_nul - 1, 0);
  assert_load_fails(path, NB_ERR_FORMAT, NB_ERR_FORMAT, "not valid JSON", "NUL byte");
}

Test(safetensors, bool_bytes_are_normalised) {
  const char *path = nbt_scratch_path("bool.safetensors");
  const char header[] = "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]}}";
  unsigned char buf[8 + sizeof header - 1 + 3] = {sizeof header - 1};
  memcpy(buf + 8, header, sizeof header - 1);
  memcpy(buf + 8 + sizeof header - 1, "\x02\x00\xff", 3);
  write_bytes(path, buf, sizeof buf);
  nb_named_tensors got;
  nbt_assert_ok(nb_safetensors_load(path, &got), "load");
  const unsigned char *b = nb_data(got.tensors[0]);
  cr_assert(b[0] == 1 && b[1] == 0 && b[2] == 1, "bytes %u %u %u", b[0], b[1], b[2]);
  nb_named_tensors_free(&got);
}

Test(safetensors, missing_and_non_regular_files_are_io_errors) {
  assert_load_fails(nbt_scratch_path("absent.safetensors"), NB_ERR_IO, NB_ERR_IO, "cannot open",
                    "missing file");
  assert_load_fails(nbt_scratch_dir(), NB_ERR_IO, NB_ERR_IO, "not a regular file", "a directory");
  nb_named_tensors got;
  cr_assert_eq(nb_safetensors_load(NULL, &got), NB_ERR_ARG);
  cr_assert_eq(nb_safetensors_load(nbt_scratch_dir(), NULL), NB_ERR_ARG);
}

/* ---- atomic writes -------------------------------------------------------------------- */

/* Write the "old" file that a failing save must leave alone. */
static unsigned char *make_old_file(const char *path, size_t *size) {
  nb_tensor *x = nb_arange(NB_DTYPE_INT64, 0, 10, 1);
  const char *name = "old";
  nbt_assert_ok(nb_safetensors_save(path, list_of(1, &name, &x)), "old file");
  nb_free(x);
  return nbt_read_file(path, size);
}

Test(safetensors, bad_arguments_leave_the_old_file) {
  const char *path = nbt_scratch_path("keep.safetensors");
  size_t n;
  unsigned char *old = make_old_file(path, &n);
  nb_tensor *x = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3));
  const char *dup[2] = {"w", "w"}, *meta = "__metadata__", *one = "w";
  nb_tensor *pair[2] = {x, x}, *null_t = NULL;
  const char *null_name = NULL;
  struct {
    nb_named_tensors list;
    nb_status st;
    const char *needle;
  } bad[] = {
      {list_of(2, dup, pair), NB_ERR_ARG, "\"w\" is used twice"},
      {list_of(1, &meta, &x), NB_ERR_ARG, "\"__metadata__\" is reserved"},
      {list_of(1, &one, &null_t), NB_ERR_NULL, "\"w\" is NULL"},
      {list_of(1, &null_name, &x), NB_ERR_ARG, "NULL name"},
      {list_of(-1, &one, &x), NB_ERR_ARG, "bad tensor list"},
      {list_of(1, NULL, &x), NB_ERR_ARG, "bad tensor list"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    nb_clear_error();
    cr_assert_eq(nb_safetensors_save(path, bad[i].list), bad[i].st, "case %zu: %s", i, nb_errmsg());
    cr_assert(strstr(nb_errmsg(), bad[i].needle) && strstr(nb_errmsg(), path), "case %zu: %s", i,
              nb_errmsg());
    cr_assert(same_file(path, old, n), "case %zu changed the file", i);
  }
  cr_assert_eq(nb_safetensors_save(NULL, list_of(1, &one, &x)), NB_ERR_ARG);
  cr_assert_eq(nb_safetensors_save("", list_of(1, &one, &x)), NB_ERR_ARG);
  /* A NULL tensor after an earlier failure keeps that error. */
  nb_set_error(NB_ERR_SHAPE, "earlier failure");
  cr_assert_eq(nb_safetensors_save(path, list_of(1, &one, &null_t)), NB_ERR_NULL);
  cr_assert_str_eq(nb_errmsg(), "earlier failure");
  cr_assert_eq(dir_entries(), 1, "no temporary left");
  nb_free(x);
  free(old);
}

Test(safetensors, a_write_failing_midway_keeps_the_old_file) {
  const char *path = nbt_scratch_path("model.safetensors");
  size_t n;
  unsigned char *old = make_old_file(path, &n);
  /* Like a full disk: writes past 4 KiB fail with EFBIG (SIGXFSZ ignored). */
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit saved, small = {4096, 4096};
  getrlimit(RLIMIT_FSIZE, &saved);
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
  nb_tensor *big = nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(100, 100)); /* 80 KB */
  const char *name = "big";
  nb_status st = nb_safetensors_save(path, list_of(1, &name, &big));
  setrlimit(RLIMIT_FSIZE, &saved);
  cr_assert_eq(st, NB_ERR_IO, "%s", nb_errmsg());
  cr_assert(strstr(nb_errmsg(), "writing the temporary file") &&
                strstr(nb_errmsg(), "the previous file is untouched"),
            "%s", nb_errmsg());
  cr_assert(same_file(path, old, n), "the old file must survive");
  cr_assert_eq(dir_entries(), 1, "the temporary file is removed");
  nb_named_tensors got;
  nbt_assert_ok(nb_safetensors_load(path, &got), "the old file still loads");
  cr_assert_str_eq(got.names[0], "old");
  nb_named_tensors_free(&got);
  nb_free(big);
  free(old);
}

Test(safetensors, a_rename_that_fails_keeps_the_destination) {
  /* The destination is a non-empty directory: the temporary is written, the
   * rename fails, and both the directory and its file are untouched. */
  const char *target = nbt_scratch_path("taken.safetensors");
  cr_assert_eq(mkdir(target, 0700), 0);
  char inner[600];
  snprintf(inner, sizeof inner, "%s/keep", target);
  write_bytes(inner, "precious", 8);
  nb_tensor *x = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  const char *name = "x";
  cr_assert_eq(nb_safetensors_save(target, list_of(1, &name, &x)), NB_ERR_IO);
  cr_assert(strstr(nb_errmsg(), "renaming the temporary file"), "%s", nb_errmsg());
  cr_assert(same_file(inner, (const unsigned char *)"precious", 8));
  cr_assert_eq(dir_entries(), 1, "the temporary file is removed");
  /* A directory that does not exist: nothing can be created. */
  cr_assert_eq(
      nb_safetensors_save(nbt_scratch_path("no/such/dir.safetensors"), list_of(1, &name, &x)),
      NB_ERR_IO);
  cr_assert(strstr(nb_errmsg(), "cannot create a temporary file"), "%s", nb_errmsg());
  nb_free(x);
}

Test(safetensors, overwriting_replaces_the_file_and_leaves_no_temporaries) {
  const char *path = nbt_scratch_path("replace.safetensors");
  size_t n;
  free(make_old_file(path, &n));
  /* A stale temporary of this process (left by a crash) is not in the way. */
  char stale[600];
  snprintf(stale, sizeof stale, "%s.tmp.%ld", path, (long)getpid());
  write_bytes(stale, "junk", 4);
  nb_tensor *x = nb_full(NB_DTYPE_FLOAT64, NB_SHAPE(2), -3);
  const char *name = "new";
  nbt_assert_ok(nb_safetensors_save(path, list_of(1, &name, &x)), "overwrite");
  cr_assert(same_file(stale, (const unsigned char *)"junk", 4), "not ours to touch");
  unlink(stale);
  cr_assert_eq(dir_entries(), 1);
  nb_named_tensors got;
  nbt_assert_ok(nb_safetensors_load(path, &got), "load");
  cr_assert_eq(got.n, 1);
  cr_assert_str_eq(got.names[0], "new");
  assert_identical(got.tensors[0], x, "new contents");
  nb_named_tensors_free(&got);
  nb_free(x);
}
