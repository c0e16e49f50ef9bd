/* tests/tensor/test_errors.c - the error state and argument validation.
 *
 * Owns the tests of tensor/error.c (nb_errmsg, nb_last_status, nb_clear_error,
 * nb_status_str, nb_set_error), the "a NULL input keeps the first error" rule,
 * thread-local errors, and the validation every maker shares: dtypes, ndim,
 * negative sizes, element-count and byte-count overflow, thread counts.
 */
#include "support/nbtest.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

TestSuite(errors, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

/* ---- the error state ------------------------------------------------------------------- */

Test(errors, status_names_for_every_code) {
  static const struct {
    nb_status code;
    const char *name;
  } names[] = {
      {NB_OK, "NB_OK"},
      {NB_ERR_ARG, "NB_ERR_ARG"},
      {NB_ERR_SHAPE, "NB_ERR_SHAPE"},
      {NB_ERR_DTYPE, "NB_ERR_DTYPE"},
      {NB_ERR_MEMORY, "NB_ERR_MEMORY"},
      {NB_ERR_IO, "NB_ERR_IO"},
      {NB_ERR_FORMAT, "NB_ERR_FORMAT"},
      {NB_ERR_INDEX, "NB_ERR_INDEX"},
      {NB_ERR_STALE, "NB_ERR_STALE"},
      {NB_ERR_GRAPH, "NB_ERR_GRAPH"},
      {NB_ERR_NULL, "NB_ERR_NULL"},
      {NB_ERR_NUMERIC, "NB_ERR_NUMERIC"},
  };
  const int n = (int)(sizeof names / sizeof names[0]);
  cr_assert_eq(n, 12);
  for (int i = 0; i < n; i++) {
    cr_assert_str_eq(nb_status_str(names[i].code), names[i].name);
    cr_assert_eq((int)names[i].code, -i, "codes are 0, -1, ..., -11");
  }
  cr_assert_str_eq(nb_status_str((nb_status)-12), "NB_ERR_UNKNOWN");
  cr_assert_str_eq(nb_status_str((nb_status)1), "NB_ERR_UNKNOWN");
  cr_assert_str_eq(nb_status_str((nb_status)-1000), "NB_ERR_UNKNOWN");
}

Test(errors, set_error_formats_and_clear_error_resets) {
  cr_assert_str_eq(nb_errmsg(), "", "a fresh thread has no error");
  cr_assert_eq(nb_last_status(), NB_OK);
  for (int code = -1; code >= -11; code--) {
    nb_status got = nb_set_error((nb_status)code, "my_op: %s %d (%.2f) [%s]", "bad", code, 0.5,
                                 nb_status_str((nb_status)code));
    cr_assert_eq(got, (nb_status)code, "returns its status");
    cr_assert_eq(nb_last_status(), (nb_status)code);
    char want[200];
    snprintf(want, sizeof want, "my_op: bad %d (0.50) [%s]", code, nb_status_str((nb_status)code));
    cr_assert_str_eq(nb_errmsg(), want);
  }
  nb_clear_error();
  cr_assert_str_eq(nb_errmsg(), "");
  cr_assert_eq(nb_last_status(), NB_OK);
}

Test(errors, set_error_can_wrap_the_previous_message) {
  /* The natural way to add context: pass nb_errmsg() back in. */
  nb_tensor *t = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, -3));
  cr_assert_null(t);
  char inner[1024];
  snprintf(inner, sizeof inner, "%s", nb_errmsg());
  cr_assert_neq(inner[0], '\0');
  nb_set_error(NB_ERR_IO, "loading layer 3: %s", nb_errmsg());
  char want[1100];
  snprintf(want, sizeof want, "loading layer 3: %s", inner);
  cr_assert_str_eq(nb_errmsg(), want);
  cr_assert_eq(nb_last_status(), NB_ERR_IO);
  nb_clear_error();
}

Test(errors, long_messages_are_truncated_safely) {
  char big[5000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  nb_set_error(NB_ERR_FORMAT, "file: %s: end", big);
  size_t len = strlen(nb_errmsg());
  cr_assert_gt(len, 500, "most of the message is kept");
  cr_assert_lt(len, sizeof big, "but it is truncated to the buffer");
  cr_assert(strncmp(nb_errmsg(), "file: xxx", 9) == 0);
  cr_assert_eq(nb_last_status(), NB_ERR_FORMAT);
  nb_clear_error();
}

Test(errors, success_leaves_the_last_error) {
  /* errno-like: only a failing call writes the error state. */
  nb_set_error(NB_ERR_STALE, "earlier");
  nb_tensor *t = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  cr_assert_not_null(t);
  cr_assert_eq(nb_last_status(), NB_ERR_STALE);
  cr_assert_str_eq(nb_errmsg(), "earlier");
  nb_free(t);
  nb_clear_error();
}

/* ---- NULL inputs ------------------------------------------------------------------------ */

Test(errors, null_input_keeps_the_first_error) {
  nb_clear_error();
  nb_tensor *a = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(4, -2));
  nbt_expect_null(a, NB_ERR_SHAPE, "zeros", "-2", "negative");
  char first[1024];
  snprintf(first, sizeof first, "%s", nb_errmsg());
  /* A chain of calls on the NULL result: every one returns NULL / NB_ERR_NULL
   * and the message still names the first failure. */
  nb_tensor *b = nbk_to(a, NB_DTYPE_FLOAT64);
  cr_assert_null(b);
  nb_tensor *c = nbk_clone(b);
  cr_assert_null(c);
  cr_assert_null(nbk_contiguous(c));
  cr_assert_null(nb_zeros_like(c, NB_DTYPE_COUNT));
  cr_assert_null(nb_empty_like(c, NB_DTYPE_COUNT));
  cr_assert_null(nb_ones_like(c, NB_DTYPE_COUNT));
  cr_assert_null(nb_full_like(c, NB_DTYPE_COUNT, 1));
  cr_assert_null(nb_rand_like(c, NULL));
  cr_assert_null(nb_randn_like(c, NULL));
  cr_assert_eq(nb_copy_(c, c), NB_ERR_NULL);
  cr_assert_eq(nb_fill_(c, 1), NB_ERR_NULL);
  cr_assert_eq(nb_uniform_(c, 0, 1, NULL), NB_ERR_NULL);
  cr_assert_eq(nb_normal_(c, 0, 1, NULL), NB_ERR_NULL);
  nb_view v;
  cr_assert_eq(nb_view_of(c, &v), NB_ERR_NULL);
  double out;
  cr_assert_eq(nb_copy_out(c, NB_DTYPE_FLOAT64, &out, 1), NB_ERR_NULL);
  cr_assert(isnan(nb_item(c)));
  cr_assert_eq(nb_size(c, 0), -1);
  cr_assert_str_eq(nb_errmsg(), first, "the first message survives");
  cr_assert_eq(nb_last_status(), NB_ERR_SHAPE, "and so does its status");
}

Test(errors, null_input_without_an_earlier_error_says_so) {
  nbt_expect_fail(nbk_to(NULL, NB_DTYPE_FLOAT64), NB_ERR_NULL, "to", "NULL");
  nb_clear_error();
  nbt_expect_status(nb_copy_(NULL, NULL), NB_ERR_NULL, "copy_", "NULL");
  nbt_expect_fail(nb_zeros_like(NULL, NB_DTYPE_FLOAT32), NB_ERR_NULL, "zeros_like");
  nb_clear_error();
  nb_free(NULL); /* ignored, no error */
  cr_assert_eq(nb_last_status(), NB_OK);
  cr_assert_null(nb_retain(NULL));
  cr_assert_null(nb_keep(NULL));
}

/* ---- errors are per thread --------------------------------------------------------------- */

typedef struct {
  pthread_barrier_t *barrier;
  nb_status seen_at_start, seen_after_main_error, mine;
  char msg_at_start[64], msg_after[256];
} thread_report;

static void *error_thread(void *arg) {
  thread_report *r = arg;
  r->seen_at_start = nb_last_status();
  snprintf(r->msg_at_start, sizeof r->msg_at_start, "%s", nb_errmsg());
  pthread_barrier_wait(r->barrier); /* 1: main has set its error */
  r->seen_after_main_error = nb_last_status();
  nb_tensor *t = nb_empty((nb_dtype)42, NB_SHAPE(1));
  r->mine = t ? NB_OK : nb_last_status();
  snprintf(r->msg_after, sizeof r->msg_after, "%s", nb_errmsg());
  pthread_barrier_wait(r->barrier); /* 2: this thread has failed too */
  return NULL;
}

Test(errors, errors_are_thread_local) {
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, 2);
  thread_report r;
  memset(&r, 0, sizeof r);
  r.barrier = &barrier;
  nb_set_error(NB_ERR_GRAPH, "main thread's error");
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, error_thread, &r), 0);
  pthread_barrier_wait(&barrier);
  nb_set_error(NB_ERR_IO, "main: second error");
  pthread_barrier_wait(&barrier);
  pthread_join(th, NULL);
  pthread_barrier_destroy(&barrier);
  cr_assert_eq(r.seen_at_start, NB_OK, "a new thread starts without an error");
  cr_assert_str_eq(r.msg_at_start, "");
  cr_assert_eq(r.seen_after_main_error, NB_OK, "main's errors are not seen by the thread");
  cr_assert_eq(r.mine, NB_ERR_DTYPE);
  cr_assert(strstr(r.msg_after, "empty") && strstr(r.msg_after, "dtype"), "%s", r.msg_after);
  cr_assert_eq(nb_last_status(), NB_ERR_IO, "the thread's error did not reach main");
  cr_assert_str_eq(nb_errmsg(), "main: second error");
  nb_clear_error();
}

/* ---- argument validation shared by every maker -------------------------------------------- */

Test(errors, bad_dtype_values) {
  const nb_dtype bad[] = {NB_DTYPE_COUNT, (nb_dtype)-1, (nb_dtype)1000};
  float buf[2] = {0};
  nb_tensor *x = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  for (int i = 0; i < 3; i++) {
    nb_dtype d = bad[i];
    nbt_expect_fail(nb_empty(d, NB_SHAPE(2)), NB_ERR_DTYPE, "empty", "dtype");
    nbt_expect_fail(nb_zeros(d, NB_SHAPE(2)), NB_ERR_DTYPE, "zeros", "dtype");
    nbt_expect_fail(nb_ones(d, NB_SHAPE(2)), NB_ERR_DTYPE, "ones", "dtype");
    nbt_expect_fail(nb_full(d, NB_SHAPE(2), 1), NB_ERR_DTYPE, "full", "dtype");
    nbt_expect_fail(nb_scalar(d, 1), NB_ERR_DTYPE, "scalar", "dtype");
    nbt_expect_fail(nb_from_data(d, buf, NB_SHAPE(2)), NB_ERR_DTYPE, "from_data", "dtype");
    nbt_expect_fail(nb_from_blob(d, buf, NB_SHAPE(2), NULL, NULL, NULL), NB_ERR_DTYPE, "from_blob");
    nbt_expect_fail(nbk_to(x, d), NB_ERR_DTYPE, "to", "dtype");
    nbt_expect_fail(nb_rand(d, NB_SHAPE(2), NULL), NB_ERR_DTYPE, "rand");
    nbt_expect_fail(nb_bernoulli(d, NB_SHAPE(2), 0.5, NULL), NB_ERR_DTYPE, "bernoulli");
    nbt_expect_fail(nb_arange(d, 0, 2, 1), NB_ERR_DTYPE, "arange");
    nbt_expect_fail(nb_eye(d, 2, 2), NB_ERR_DTYPE, "eye");
    if (d != NB_DTYPE_COUNT) /* COUNT means "keep x's dtype" for the _like makers */
      nbt_expect_fail(nb_full_like(x, d, 1), NB_ERR_DTYPE, "full_like");
    nb_clear_error();
    nbt_expect_status(nb_copy_out(x, d, buf, 2), NB_ERR_DTYPE, "copy_out");
  }
  nb_free(x);
}

Test(errors, too_many_dims_and_bad_ndim) {
  int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  nbt_expect_fail(nb_zeros(NB_DTYPE_FLOAT32, 9, nine), NB_ERR_SHAPE, "zeros", "9 dims", "8");
  nbt_expect_fail(nb_empty(NB_DTYPE_FLOAT32, 9, nine), NB_ERR_SHAPE, "empty", "9 dims");
  nbt_expect_fail(nb_rand(NB_DTYPE_FLOAT32, 9, nine, NULL), NB_ERR_SHAPE, "rand");
  nbt_expect_fail(nb_from_data(NB_DTYPE_FLOAT32, nine, 9, nine), NB_ERR_SHAPE, "from_data");
  nbt_expect_fail(nb_zeros(NB_DTYPE_FLOAT32, -1, nine), NB_ERR_SHAPE, "zeros", "-1 dims");
  nbt_expect_fail(nb_zeros(NB_DTYPE_FLOAT32, 2, NULL), NB_ERR_ARG, "zeros", "NULL");
  /* Eight dims is the maximum and works. */
  nb_tensor *t = nb_ones(NB_DTYPE_FLOAT32, 8, nine);
  cr_assert_not_null(t);
  cr_assert_eq(nb_ndim(t), NB_MAX_DIMS);
  cr_assert_float_eq(nb_item(t), 1.0, 0.0);
  nb_free(t);
}

Test(errors, negative_sizes) {
  nbt_expect_fail(nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, -1)), NB_ERR_SHAPE, "zeros", "-1",
                  "dim 1");
  nbt_expect_fail(nb_ones(NB_DTYPE_INT64, NB_SHAPE(-5)), NB_ERR_SHAPE, "ones", "-5");
  nbt_expect_fail(nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(3, -2), NULL), NB_ERR_SHAPE, "randn", "-2");
  nbt_expect_fail(nb_randint(0, 5, NB_SHAPE(-1), NULL), NB_ERR_SHAPE, "randint");
}

Test(errors, element_count_overflow) {
  const int64_t big = (int64_t)1 << 40;
  nbt_expect_fail(nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(big, big)), NB_ERR_MEMORY, "zeros",
                  "[1099511627776, 1099511627776]", "64 bits");
  nbt_expect_fail(nb_empty(NB_DTYPE_BOOL, NB_SHAPE(big, 1, big)), NB_ERR_MEMORY, "empty");
  nbt_expect_fail(nb_rand(NB_DTYPE_FLOAT32, NB_SHAPE(big, big), NULL), NB_ERR_MEMORY, "rand");
  nbt_expect_fail(nb_eye(NB_DTYPE_FLOAT32, big, big), NB_ERR_MEMORY, "eye");
  /* Overflow is decided by the product, not by the order of the sizes. */
  nbt_expect_fail(nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(3, INT64_MAX / 2)), NB_ERR_MEMORY, "zeros");
  /* A zero size makes any product fine. */
  nb_tensor *t = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(big, 0, big));
  nbt_assert_shape(t, NB_SHAPE(big, 0, big), "zero-size product");
  cr_assert_eq(nb_numel(t), 0);
  nb_free(t);
}

Test(errors, byte_count_overflow_and_out_of_memory) {
  /* The element count fits in int64 but the bytes do not fit in size_t. */
  nbt_expect_fail(nb_empty(NB_DTYPE_FLOAT64, NB_SHAPE((int64_t)1 << 62)), NB_ERR_MEMORY, "empty");
  /* The bytes fit in size_t but are more than any allocator can round up. */
  nbt_expect_fail(nb_empty(NB_DTYPE_INT64, NB_SHAPE(((int64_t)1 << 61) - 1)), NB_ERR_MEMORY,
                  "empty");
  nbt_expect_fail(nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(((int64_t)1 << 62) - 3)), NB_ERR_MEMORY,
                  "zeros");
#if !defined(__SANITIZE_ADDRESS__)
  /* A plausible size the system cannot give (2^50 bytes exceeds any x86-64
   * address space). ASan reports such requests instead of returning NULL. */
  nbt_expect_fail(nb_empty(NB_DTYPE_FLOAT32, NB_SHAPE((int64_t)1 << 48)), NB_ERR_MEMORY, "empty",
                  "out of memory", "[281474976710656]");
#endif
  /* The library still works afterwards. */
  nb_tensor *t = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3));
  nbt_assert_values(t, ((double[]){1, 1, 1}), 3, 0, 0, "after a failed allocation");
  nb_free(t);
}

Test(errors, set_num_threads_validates) {
  int before = nb_get_num_threads();
  cr_assert_geq(before, 1);
  nb_clear_error();
  nbt_expect_status(nb_set_num_threads(0), NB_ERR_ARG, "set_num_threads", "0");
  cr_assert_eq(nb_set_num_threads(-3), NB_ERR_ARG);
  cr_assert_eq(nb_get_num_threads(), before, "a rejected call changes nothing");
  nbt_assert_ok(nb_set_num_threads(1), "1 thread");
  cr_assert_eq(nb_get_num_threads(), 1);
  nbt_assert_ok(nb_set_num_threads(2), "2 threads");
  cr_assert_eq(nb_get_num_threads(), 2);
  nb_set_num_threads(before);
}

Test(errors, messages_name_the_op_and_shapes) {
  nb_tensor *t = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_clear_error();
  cr_assert(isnan(nb_item(t)));
  nbt_expect_error(NB_ERR_SHAPE, "item:", "[2, 3]");
  nb_clear_error();
  cr_assert(isnan(nb_get(t, (int64_t[]){0, 3})));
  nbt_expect_error(NB_ERR_INDEX, "get:", "3", "dim 1", "[2, 3]");
  nb_tensor *u = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(3, 2));
  nb_clear_error();
  nbt_expect_status(nb_copy_(t, u), NB_ERR_SHAPE, "copy_", "[3, 2]", "[2, 3]");
  nb_clear_error();
  cr_assert_eq(nb_size(t, 2), -1);
  nbt_expect_error(NB_ERR_INDEX, "size", "dim 2", "2-d");
  nb_clear_error();
  nbt_expect_status(nb_scope_end(), NB_ERR_ARG, "scope_end", "no scope");
  nbt_expect_fail(nb_full(NB_DTYPE_INT64, NB_SHAPE(2), NAN), NB_ERR_ARG, "full", "int64");
  nbt_expect_fail(nb_full(NB_DTYPE_INT64, NB_SHAPE(2), 1e19), NB_ERR_ARG, "full", "int64");
  nb_free(u);
  nb_free(t);
}

Test(errors, problems_collect_several_into_one_message) {
  nb_problems p = {0};
  nb_problems_add(&p, NB_ERR_ARG, "missing key \"%s\"", "a");
  nb_problems_add(&p, NB_ERR_SHAPE, "\"%s\" has shape [%d]", "b", 3);
  nb_problems_add(&p, NB_ERR_DTYPE, "\"c\" is int64");
  cr_assert_eq(p.count, 3);
  cr_assert_eq(p.hidden, 0);
  cr_assert_eq(p.status, NB_ERR_SHAPE, "shape outranks dtype and keys");
  cr_assert_str_eq(p.text, "missing key \"a\"; \"b\" has shape [3]; \"c\" is int64");
  for (int i = 0; i < 100; i++) nb_problems_add(&p, NB_ERR_ARG, "unexpected key \"k%03d\"", i);
  cr_assert_eq(p.count, 103);
  cr_assert_gt(p.hidden, 0, "items beyond the text's space are counted");
  cr_assert_lt(p.len, sizeof p.text);
  cr_assert_eq(strlen(p.text), p.len);
}
