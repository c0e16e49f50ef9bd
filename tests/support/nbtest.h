/* tests/support/nbtest.h - the helpers every nabla test uses.
 *
 * Owns: reading golden-value fixture files (tests/fixtures/<family>.txt,
 * written by tools/fixtures/gen.py from PyTorch; format in
 * tests/fixtures/README.md), comparing tensors with expected values, and leak
 * checks for Criterion suites (tests/support/fixture.c); expected errors
 * (tests/support/expect.c); the autograd fixture-case harness and other
 * per-op fixture conventions (tests/support/cases.c); scratch directories and
 * whole-file reads (tests/support/scratch.c).
 *
 * Failures: every nbt_assert_* and every fixture accessor that cannot do its
 * job fails the current Criterion test (reported at the CALLER's file:line,
 * since the public names are macros that pass __FILE__/__LINE__) and aborts
 * it, like cr_assert. Only the _read/_parse/nbt_compare functions report
 * problems by return value instead.
 *
 * Typical test:
 *
 *   TestSuite(elementwise, .init = nbt_leak_setup, .fini = nbt_leak_teardown);
 *   Test(elementwise, add_broadcast) {
 *     nbt_fixture *f = nbt_fixture_load("elementwise");
 *     const nbt_case *c = nbt_fixture_case(f, "add_broadcast");
 *     nb_tensor *a = nbt_case_tensor(c, "a"), *b = nbt_case_tensor(c, "b");
 *     nb_tensor *y = nbk_add(a, b);
 *     nbt_case_check(c, "out", y, NBT_TOL_DEFAULT, NBT_TOL_DEFAULT);
 *     nb_free(y); nb_free(b); nb_free(a);
 *     nbt_fixture_free(f);
 *   }
 */
#ifndef NABLA_TESTS_NBTEST_H
#define NABLA_TESTS_NBTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include "tensor/tensor.h"

/* ---- tolerances ----------------------------------------------------------- */

/* Pass as rtol or atol to use the default for the EXPECTED tensor's dtype:
 * torch.testing.assert_close's defaults (float32: rtol 1.3e-6, atol 1e-5;
 * float64: rtol 1e-7, atol 1e-7; int64/bool: exact). */
#define NBT_TOL_DEFAULT (-1.0)
#define NBT_F32_RTOL 1.3e-6
#define NBT_F32_ATOL 1e-5
#define NBT_F64_RTOL 1e-7
#define NBT_F64_ATOL 1e-7

/* ---- failing a test ------------------------------------------------------- */

/* Report a failed assertion at file:line with a printf-style message and abort
 * the current test (as cr_assert_fail). In .fini Criterion 2.4 prints the
 * failure but still counts the test as passed (see nbt_leak_teardown). */
void nbt_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

/* ---- fixture files -------------------------------------------------------- */

typedef struct nbt_fixture nbt_fixture; /* a parsed file */
typedef struct nbt_case nbt_case;       /* one `case ... end` block of it */

/* Read and parse NB_TEST_FIXTURES "/<family>.txt". Fails the test with the
 * file:line of the first problem if the file is missing or malformed. The
 * caller frees the result with nbt_fixture_free. */
nbt_fixture *nbt_fixture_load_at(const char *file, int line, const char *family);
#define nbt_fixture_load(family) nbt_fixture_load_at(__FILE__, __LINE__, (family))

/* Read and parse the fixture file at `path` without failing any test: NULL on
 * error with "path:line: reason" written to err (errsize bytes, may be 0). */
nbt_fixture *nbt_fixture_read(const char *path, char *err, size_t errsize);

/* Parse fixture text held in memory (NUL-terminated); `label` names it in
 * error messages. Same contract as nbt_fixture_read. */
nbt_fixture *nbt_fixture_parse(const char *text, const char *label, char *err, size_t errsize);

/* Free a fixture and its cases (NULL is ignored). Tensors made from it by
 * nbt_case_tensor are independent and stay valid. */
void nbt_fixture_free(nbt_fixture *f);

/* The case named `name`; fails the test (naming the file and the case) if it
 * does not exist. The case lives as long as f. */
const nbt_case *nbt_fixture_case_at(const char *file, int line, const nbt_fixture *f,
                                    const char *name);
#define nbt_fixture_case(f, name) nbt_fixture_case_at(__FILE__, __LINE__, (f), (name))

/* Number of cases, and the i-th in file order (NULL if out of range): for
 * tests that sweep every case of a family. */
int nbt_fixture_num_cases(const nbt_fixture *f);
const nbt_case *nbt_fixture_case_index(const nbt_fixture *f, int i);

/* The case's name, and "<family>.txt:<line>" of its `case` line. */
const char *nbt_case_name(const nbt_case *c);
const char *nbt_case_where(const nbt_case *c);

/* True if the case has a tensor / a param with this name (for optional ones). */
bool nbt_case_has_tensor(const nbt_case *c, const char *name);
bool nbt_case_has_param(const nbt_case *c, const char *name);

/* A NEW tensor (nb_from_data: contiguous, stored dtype and shape) holding the
 * case's tensor `name`. Ownership as nb_from_data: the caller nb_free()s it,
 * or the open nb_scope owns it. Fails the test if the tensor is missing or
 * nb_from_data fails. */
nb_tensor *nbt_case_tensor_at(const char *file, int line, const nbt_case *c, const char *name);
#define nbt_case_tensor(c, name) nbt_case_tensor_at(__FILE__, __LINE__, (c), (name))

/* The first value of param `name` (bools are 0/1). Fails the test if the
 * param is missing or has no values. */
double nbt_case_param_at(const char *file, int line, const nbt_case *c, const char *name);
#define nbt_case_param(c, name) nbt_case_param_at(__FILE__, __LINE__, (c), (name))

/* Copy param `name`'s values into out (at most cap of them) and return their
 * count (0 for an empty list). Fails the test if the param is missing, has
 * more than cap values, or (for _ints/_dims) a value that is not an integer
 * in range. _dims gives int, ready for nbk_sum(x, dims, n, keepdim). */
int nbt_case_param_ints_at(const char *file, int line, const nbt_case *c, const char *name,
                           int64_t *out, int cap);
#define nbt_case_param_ints(c, name, out, cap)                                                     \
  nbt_case_param_ints_at(__FILE__, __LINE__, (c), (name), (out), (cap))
int nbt_case_param_dims_at(const char *file, int line, const nbt_case *c, const char *name,
                           int *out, int cap);
#define nbt_case_param_dims(c, name, out, cap)                                                     \
  nbt_case_param_dims_at(__FILE__, __LINE__, (c), (name), (out), (cap))
int nbt_case_param_doubles_at(const char *file, int line, const nbt_case *c, const char *name,
                              double *out, int cap);
#define nbt_case_param_doubles(c, name, out, cap)                                                  \
  nbt_case_param_doubles_at(__FILE__, __LINE__, (c), (name), (out), (cap))

/* Compare `actual` with the case's tensor `name` as nbt_assert_close does,
 * with the context "<family>.txt case <case>: <name>". actual is borrowed. */
void nbt_case_check_at(const char *file, int line, const nbt_case *c, const char *name,
                       nb_tensor *actual, double rtol, double atol);
#define nbt_case_check(c, name, actual, rtol, atol)                                                \
  nbt_case_check_at(__FILE__, __LINE__, (c), (name), (actual), (rtol), (atol))

/* Exactly n int values of param `name` into out (fails the test otherwise):
 * nbt_case_param_ints_n(c, "kernel", o.kernel, 2). */
void nbt_case_param_ints_n_at(const char *file, int line, const nbt_case *c, const char *name,
                              int64_t *out, int n);
#define nbt_case_param_ints_n(c, name, out, n)                                                     \
  nbt_case_param_ints_n_at(__FILE__, __LINE__, (c), (name), (out), (n))

/* The case's op by the naming convention "<op>__<variant>": its name up to the
 * first "__" (all of it if none), truncated to fit size bytes; returns buf. */
const char *nbt_case_op(const nbt_case *c, char *buf, size_t size);

/* Load `family`, call fn on each of its cases in file order, free it; returns
 * the number of cases (e.g. cr_assert_gt(nbt_fixture_sweep("pool", run_case), 80)). */
int nbt_fixture_sweep_at(const char *file, int line, const char *family,
                         void (*fn)(const nbt_case *c));
#define nbt_fixture_sweep(family, fn) nbt_fixture_sweep_at(__FILE__, __LINE__, (family), (fn))

/* The options of a pool2d case (tensor/pool.h): int pairs kernel, stride and
 * padding and the flag ceil_mode; with max also dilation, else (avg) the flag
 * exclude_pad and divisor (divisor_override). Fails the test if one is missing. */
struct nb_pool2d_opts;
void nbt_case_pool2d_opts_at(const char *file, int line, const nbt_case *c, bool max,
                             struct nb_pool2d_opts *out);
#define nbt_case_pool2d_opts(c, max, out)                                                          \
  nbt_case_pool2d_opts_at(__FILE__, __LINE__, (c), (max), (out))

/* ---- autograd fixture cases ------------------------------------------------ */

/* The harness of the tests/autograd fixture sweeps. A case holds an op's
 * inputs, its output "out", the weight w of backward (spec.grad_output) and
 * the gradient of (out * w).sum() for each input that needs one:
 *
 *   static const nbt_grad_input inputs[] = {{"a", "ga"}, {"b", "gb"}};
 *   static nb_tensor *run(const nbt_case *c, nb_tensor **in) { return nb_dot(in[0], in[1]); }
 *   static const nbt_grad_spec spec = {inputs, 2, "gout", {1e-5, 1e-5, 1e-10, 1e-12}, run};
 *   Test(ag_dot, fixtures) { cr_assert_gt(nbt_check_grad_cases("ag_dot", &spec), 10); }
 */

#define NBT_GRAD_MAX_INPUTS 8

/* Tolerances picked by the output's dtype: the 32 pair for float32, else the 64 pair. */
typedef struct nbt_tols {
  double rtol32, atol32, rtol64, atol64;
} nbt_tols;

/* One input of a case. */
typedef struct nbt_grad_input {
  const char *name;     /* the case's tensor; passed to run as NULL when the case lacks it */
  const char *grad;     /* its expected gradient: when the case has that tensor, the input
                           requires grad and nb_grad_of(input) is compared with it */
  const nbt_tols *tols; /* for that gradient; NULL: the spec's */
} nbt_grad_input;

typedef struct nbt_grad_spec {
  const nbt_grad_input *inputs; /* ninputs (at most NBT_GRAD_MAX_INPUTS) of them */
  int ninputs;
  const char *grad_output; /* the case's tensor passed as grad_output to nb_backward_ex */
  nbt_tols tols;           /* for "out" and the gradients */
  /* The op under test: in[i] is the case's tensor inputs[i].name as a new leaf
   * (or NULL). If the case has an int-list param "transpose", the inputs it
   * lists arrive as nb_transpose(leaf, 0, 1) instead. run may make more views,
   * read params and check extra outputs; it returns the output (NULL fails the
   * case with nb_errmsg()). It runs inside the harness's nb_scope. */
  nb_tensor *(*run)(const nbt_case *c, nb_tensor **in);
} nbt_grad_spec;

/* The inputs "in0".."in3" with gradients "grad_in0".."grad_in3" (the
 * convention of the ag_shape and ag_reduce fixtures): spec.inputs for
 * ninputs = NBT_INDEXED_INPUTS. */
#define NBT_INDEXED_INPUTS 4
extern const nbt_grad_input nbt_indexed_inputs[NBT_INDEXED_INPUTS];

/* Run case c: in an nb_scope, load the inputs, set requires_grad on those with
 * an expected gradient, out = spec->run(c, in), compare out with "out", call
 * nb_backward_ex(out, grad_output = the case's spec->grad_output) and compare
 * each expected gradient. Fails the test at file:line naming the case. */
void nbt_check_grad_case_at(const char *file, int line, const nbt_case *c,
                            const nbt_grad_spec *spec);
#define nbt_check_grad_case(c, spec) nbt_check_grad_case_at(__FILE__, __LINE__, (c), (spec))

/* nbt_check_grad_case on every case of `family`; returns the number of cases. */
int nbt_check_grad_cases_at(const char *file, int line, const char *family,
                            const nbt_grad_spec *spec);
#define nbt_check_grad_cases(family, spec)                                                         \
  nbt_check_grad_cases_at(__FILE__, __LINE__, (family), (spec))

/* ---- comparisons ---------------------------------------------------------- */

/* Flags for nbt_compare. */
#define NBT_CMP_ANY_DTYPE 1u /* do not require equal dtypes */

/* The comparison behind every assertion below, without failing anything:
 * true when actual and expected have the same shape (no broadcasting), the
 * same dtype (unless NBT_CMP_ANY_DTYPE) and every element pair is close:
 * |a - e| <= atol + rtol * |e|, NaN matches NaN, +-inf matches only itself.
 * Integer/bool pairs equal as int64 always match (exact beyond 2^53).
 * Negative rtol/atol (NBT_TOL_DEFAULT) pick the default for expected's dtype.
 * On false, msg (msgsize bytes, may be 0) says why: a NULL tensor (with
 * nb_errmsg()), shapes, dtypes, or the first mismatching index with both values,
 * the tolerance, how many elements differ and the largest difference. */
bool nbt_compare(nb_tensor *actual, nb_tensor *expected, double rtol, double atol, unsigned flags,
                 char *msg, size_t msgsize);

/* Assert nbt_compare(actual, expected, rtol, atol, 0) with context `what`.
 * Both tensors are borrowed. */
void nbt_assert_close_at(const char *file, int line, nb_tensor *actual, nb_tensor *expected,
                         double rtol, double atol, const char *what);
#define nbt_assert_close(actual, expected, rtol, atol, what)                                       \
  nbt_assert_close_at(__FILE__, __LINE__, (actual), (expected), (rtol), (atol), (what))

/* As nbt_assert_close but the dtypes may differ (values compared as double,
 * or int64 when both are integer/bool). */
void nbt_assert_close_any_dtype_at(const char *file, int line, nb_tensor *actual,
                                   nb_tensor *expected, double rtol, double atol, const char *what);
#define nbt_assert_close_any_dtype(actual, expected, rtol, atol, what)                             \
  nbt_assert_close_any_dtype_at(__FILE__, __LINE__, (actual), (expected), (rtol), (atol), (what))

/* Assert that actual (any dtype) has exactly n elements close to the
 * row-major values expected[0..n-1] (same rules as nbt_compare; negative
 * tolerances pick actual's dtype defaults). Shape is not checked. */
void nbt_assert_values_at(const char *file, int line, nb_tensor *actual, const double *expected,
                          int64_t n, double rtol, double atol, const char *what);
#define nbt_assert_values(actual, expected, n, rtol, atol, what)                                   \
  nbt_assert_values_at(__FILE__, __LINE__, (actual), (expected), (n), (rtol), (atol), (what))

/* Assert t is non-NULL with exactly this shape. Works with NB_SHAPE:
 * nbt_assert_shape(t, NB_SHAPE(2, 3), "y"); nbt_assert_shape(t, NB_SCALAR_SHAPE, "s"). */
void nbt_assert_shape_at(const char *file, int line, nb_tensor *t, int ndim, const int64_t *shape,
                         const char *what);
/* Variadic so NB_SHAPE(...) can expand to its two arguments: (t, ndim, shape, what). */
#define nbt_assert_shape(t, ...) nbt_assert_shape_at(__FILE__, __LINE__, (t), __VA_ARGS__)

/* Assert a status is NB_OK (the message carries nb_status_str and nb_errmsg). */
void nbt_assert_ok_at(const char *file, int line, nb_status status, const char *what);
#define nbt_assert_ok(status, what) nbt_assert_ok_at(__FILE__, __LINE__, (status), (what))

/* ---- expected errors ------------------------------------------------------ */

/* Pass as `code` to check the message only, not nb_last_status(). */
#define NBT_ANY_STATUS ((nb_status)1)

/* The check behind the nbt_expect_* macros: fails the test at file:line,
 * naming `what`, unless `failed` is true, nb_last_status() is `code` (any
 * status for NBT_ANY_STATUS) and nb_errmsg() contains every string of the
 * NULL-terminated list `needles`. Leaves the error state as it is. */
void nbt_expect_error_at(const char *file, int line, const char *what, bool failed, nb_status code,
                         const char *const *needles);

/* The needles of the macros below: one or more strings. */
#define NBT_NEEDLES_(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The thread's last error is `code` and its message contains every string given:
 * nbt_expect_error(NB_ERR_SHAPE, "add", "[2, 3]", "[4]"). */
#define nbt_expect_error(code, ...)                                                                \
  nbt_expect_error_at(__FILE__, __LINE__, "last error", true, (code), NBT_NEEDLES_(__VA_ARGS__))

/* `expr` (a call returning a pointer) returns NULL, the last error is `code`
 * and its message contains every string given. A non-NULL result is not freed
 * (the test stops there). */
#define nbt_expect_null(expr, code, ...)                                                           \
  nbt_expect_error_at(__FILE__, __LINE__, #expr, (expr) == NULL, (code), NBT_NEEDLES_(__VA_ARGS__))

/* `expr` (a call returning nb_status) returns `code`, which is also the last
 * error, and the message contains every string given. */
#define nbt_expect_status(expr, code, ...)                                                         \
  nbt_expect_error_at(__FILE__, __LINE__, #expr, (expr) == (code), (code),                         \
                      NBT_NEEDLES_(__VA_ARGS__))

/* nbt_expect_null after nb_clear_error(), so the call must record its own
 * error (an earlier one cannot satisfy the check). */
#define nbt_expect_fail(expr, code, ...)                                                           \
  do {                                                                                             \
    nb_clear_error();                                                                              \
    nbt_expect_null(expr, code, __VA_ARGS__);                                                      \
  } while (0)

/* ---- leak checks ---------------------------------------------------------- */

/* Criterion fixtures: TestSuite(x, .init = nbt_leak_setup, .fini = nbt_leak_teardown).
 * setup records nb_mem_stats_get()'s live_tensors and live_storages and
 * nb_scope_depth(); teardown reports a failure naming the start and end counts
 * if any differs at the end. Criterion 2.4 ignores failures in .fini, so
 * teardown then abort()s the worker: Criterion prints "crashed during its
 * setup or teardown" and the test program exits non-zero (the CTest entry
 * fails). A test that already failed through an nbt_ helper (whose early exit
 * skips its frees) is not checked. Each test runs in its own process, so the
 * recorded counts are per test. */
void nbt_leak_setup(void);
void nbt_leak_teardown(void);

/* The same check at any point in a test, against the counts recorded by the
 * last nbt_leak_setup(). */
void nbt_assert_no_leaks_at(const char *file, int line, const char *what);
#define nbt_assert_no_leaks(what) nbt_assert_no_leaks_at(__FILE__, __LINE__, (what))

/* ---- scratch files -------------------------------------------------------- */

/* Make a fresh directory /tmp/nb_test_XXXXXX for the current test (fails the
 * test if it cannot) and return its path, valid until nbt_scratch_remove.
 * Suites that write files use .init = nbt_scratch_setup, .fini =
 * nbt_scratch_teardown: the leak checks above plus the directory. */
const char *nbt_scratch_make(void);
/* The directory's path ("" when there is none). */
const char *nbt_scratch_dir(void);
/* Remove the directory and everything in it (making read-only parts writable
 * first); nothing when there is none. */
void nbt_scratch_remove(void);
/* nbt_scratch_make then nbt_leak_setup; nbt_scratch_remove then nbt_leak_teardown. */
void nbt_scratch_setup(void);
void nbt_scratch_teardown(void);
/* "<dir>/<name>" in one of four rotating static buffers (up to four live at once). */
const char *nbt_scratch_path(const char *name);

/* The whole file at path in a malloc'd buffer with a NUL byte after its size
 * bytes (size may be NULL); fails the test if it cannot be read. The caller
 * frees it. */
unsigned char *nbt_read_file_at(const char *file, int line, const char *path, size_t *size);
#define nbt_read_file(path, size) nbt_read_file_at(__FILE__, __LINE__, (path), (size))

#endif /* NABLA_TESTS_NBTEST_H */
