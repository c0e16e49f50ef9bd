/* tests/data/test_loader.c - the DataLoader and the samplers: permutations per
 * epoch, seeds, thread-count independence, drop_last, weighted sampling,
 * users' samplers and datasets, errors naming the sample, the collate hook,
 * batches kept past the next call, and no allocation in steady state. */
#include "support/nbtest.h"

#include "data/data.h"
#include "data/data_impl.h" /* nb__dataset_make: a set_epoch hook */

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

TestSuite(loader, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

/* n samples: features [n, 3] float32, row i = (i, i + 0.5, -i); target int64 i. */
static nb_dataset *rows_dataset(int64_t n) {
  nb_tensor *x = nb_empty(NB_DTYPE_FLOAT32, NB_SHAPE(n, 3));
  nb_tensor *y = nb_empty(NB_DTYPE_INT64, NB_SHAPE(n));
  float *xd = nb_data(x);
  int64_t *yd = nb_data(y);
  for (int64_t i = 0; i < n; i++) {
    xd[3 * i] = (float)i;
    xd[3 * i + 1] = (float)i + 0.5f;
    xd[3 * i + 2] = -(float)i;
    yd[i] = i;
  }
  nb_dataset *ds = nb_tensor_dataset_new(x, y);
  nb_free(x);
  nb_free(y);
  cr_assert(ds, "%s", nb_errmsg());
  return ds;
}

/* Check a batch of rows_dataset: shapes, contiguity, features matching the
 * targets; append the targets to out. */
static int64_t take_batch(const nb_batch *b, int64_t expect_size, int64_t *out) {
  cr_assert_eq(b->size, expect_size, "batch %lld has %lld samples, want %lld", (long long)b->index,
               (long long)b->size, (long long)expect_size);
  nbt_assert_shape(b->x, NB_SHAPE(expect_size, 3), "batch x");
  nbt_assert_shape(b->y, NB_SHAPE(expect_size), "batch y");
  cr_assert(nb_is_contiguous(b->x) && nb_is_contiguous(b->y));
  const float *x = nb_data(b->x);
  const int64_t *y = nb_data(b->y);
  for (int64_t r = 0; r < b->size; r++) {
    cr_assert_float_eq(x[3 * r], (float)y[r], 0);
    cr_assert_float_eq(x[3 * r + 1], (float)y[r] + 0.5f, 0);
    cr_assert_float_eq(x[3 * r + 2], -(float)y[r], 0);
    out[r] = y[r];
  }
  return b->size;
}

/* One epoch of targets into order (len n); asserts batch sizes for batch size bs. */
static void run_epoch(nb_loader *l, int64_t n, int64_t bs, bool drop_last, int64_t *order) {
  nb_batch b;
  int64_t got = 0, k = 0;
  while (nb_loader_next(l, &b)) {
    cr_assert_eq(b.index, k++);
    int64_t want = n - got < bs ? n - got : bs;
    got += take_batch(&b, want, order + got);
  }
  nbt_assert_ok(nb_loader_status(l), "loader status at the end of the epoch");
  cr_assert_eq(k, nb_loader_num_batches(l));
  cr_assert_eq(got, drop_last ? n / bs * bs : n);
}

static void assert_permutation(const int64_t *order, int64_t n) {
  char *seen = calloc((size_t)n, 1);
  for (int64_t i = 0; i < n; i++) {
    cr_assert(order[i] >= 0 && order[i] < n);
    cr_assert_eq(seen[order[i]], 0, "sample %lld twice", (long long)order[i]);
    seen[order[i]] = 1;
  }
  free(seen);
}

Test(loader, each_epoch_is_a_new_permutation) {
  enum { N = 103, B = 10 };
  nb_dataset *ds = rows_dataset(N);
  nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){.batch_size = B, .shuffle = true, .seed = 7});
  nb_dataset_free(ds); /* the loader holds its own reference */
  cr_assert(l, "%s", nb_errmsg());
  cr_assert_eq(nb_loader_num_batches(l), 11);
  cr_assert_eq(nb_loader_epoch(l), 0);
  int64_t orders[3][N];
  for (int e = 0; e < 3; e++) {
    run_epoch(l, N, B, false, orders[e]);
    assert_permutation(orders[e], N);
    cr_assert_eq(nb_loader_epoch(l), e + 1);
    cr_assert_eq(nb_loader_iteration(l), 11 * (e + 1));
  }
  cr_assert(memcmp(orders[0], orders[1], sizeof orders[0]) != 0, "epochs differ");
  cr_assert(memcmp(orders[1], orders[2], sizeof orders[0]) != 0, "epochs differ");
  int in_place = 0;
  for (int i = 0; i < N; i++) in_place += orders[0][i] == i;
  cr_assert_lt(in_place, 20, "shuffled");
  nb_loader_free(l);
}

Test(loader, sequential_without_shuffle) {
  nb_dataset *ds = rows_dataset(25);
  nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){.batch_size = 8});
  int64_t order[25];
  for (int e = 0; e < 2; e++) {
    run_epoch(l, 25, 8, false, order);
    for (int i = 0; i < 25; i++) cr_assert_eq(order[i], i);
  }
  nb_loader_free(l);
  /* NULL opts: batch size 1, in order. */
  l = nb_loader_new(ds, NULL);
  cr_assert_eq(nb_loader_num_batches(l), 25);
  run_epoch(l, 25, 1, false, order);
  for (int i = 0; i < 25; i++) cr_assert_eq(order[i], i);
  nb_loader_free(l);
  nb_dataset_free(ds);
}

/* Targets of `epochs` epochs of a fresh loader. */
static void epochs_of(nb_dataset *ds, nb_loader_opts o, int epochs, int64_t n, int64_t *out) {
  nb_loader *l = nb_loader_new(ds, &o);
  cr_assert(l, "%s", nb_errmsg());
  for (int e = 0; e < epochs; e++) run_epoch(l, n, o.batch_size, o.drop_last, out + e * n);
  nb_loader_free(l);
}

Test(loader, same_seed_same_batches) {
  enum { N = 64 };
  nb_dataset *ds = rows_dataset(N);
  int64_t a[2 * N], b[2 * N], c[2 * N], d[2 * N];
  nb_loader_opts o = {.batch_size = 5, .shuffle = true, .seed = 11};
  epochs_of(ds, o, 2, N, a);
  epochs_of(ds, o, 2, N, b);
  o.no_prefetch = true;
  epochs_of(ds, o, 2, N, d);
  o.seed = 12;
  epochs_of(ds, o, 2, N, c);
  cr_assert(memcmp(a, b, sizeof a) == 0, "same seed, same order");
  cr_assert(memcmp(a, d, sizeof a) == 0, "with or without prefetch");
  cr_assert(memcmp(a, c, sizeof a) != 0, "another seed, another order");
  nb_dataset_free(ds);
}

/* A dataset whose samples take computing (~10 us each, so batches are
 * gathered in parallel): features [64] float32 = wave(i, k), target float64
 * [2] = (i, cos(i)). */
static float wave(int64_t i, int k) {
  float sum = 0;
  for (int j = 0; j < 20; j++)
    sum += sinf((float)i * (float)k + 0.1f * (float)(k * k) + 0.01f * (float)j);
  return sum / 20;
}
static int saw_worker_thread;
static int64_t wave_len(void *ctx) { return *(int64_t *)ctx; }
static nb_status wave_get(void *ctx, int64_t i, nb_tensor *features, nb_tensor *target) {
  if (omp_get_thread_num() > 0) __atomic_store_n(&saw_worker_thread, 1, __ATOMIC_RELAXED);
  /* Each row has its own storage: views of it are safe on any thread. */
  nb_tensor *square = nbk_view(features, NB_SHAPE(8, 8));
  if (!square) return nb_last_status();
  float *f = nb_data(square);
  for (int k = 0; k < 64; k++) f[k] = wave(i, k);
  nb_free(square);
  double *t = nb_data(target);
  t[0] = (double)i;
  t[1] = cos((double)i);
  return NB_OK;
}

/* All bytes of `epochs` epochs with `threads` threads. */
static void wave_bytes(nb_dataset *ds, int threads, bool prefetch, float *xs, double *ys) {
  nbt_assert_ok(nb_set_num_threads(threads), "threads");
  nb_loader *l = nb_loader_new(
      ds,
      &(nb_loader_opts){.batch_size = 64, .shuffle = true, .seed = 3, .no_prefetch = !prefetch});
  nb_batch b;
  for (int e = 0; e < 2; e++)
    while (nb_loader_next(l, &b)) {
      memcpy(xs, nb_data(b.x), sizeof(float) * 64 * (size_t)b.size);
      memcpy(ys, nb_data(b.y), sizeof(double) * 2 * (size_t)b.size);
      xs += 64 * b.size;
      ys += 2 * b.size;
    }
  nbt_assert_ok(nb_loader_status(l), "status");
  nb_loader_free(l);
}

Test(loader, identical_batches_with_one_and_two_threads) {
  static int64_t n = 640;
  nb_dataset *ds = nb_dataset_new(&(nb_dataset_ops){wave_len, wave_get, NULL}, &n,
                                  &(nb_field_spec){NB_DTYPE_FLOAT32, 1, {64}},
                                  &(nb_field_spec){NB_DTYPE_FLOAT64, 1, {2}});
  cr_assert(ds, "%s", nb_errmsg());
  size_t nx = 2 * 640 * 64, ny = 2 * 640 * 2;
  float *x1 = malloc(sizeof(float) * nx), *x2 = malloc(sizeof(float) * nx);
  float *x3 = malloc(sizeof(float) * nx);
  double *y1 = malloc(sizeof(double) * ny), *y2 = malloc(sizeof(double) * ny);
  double *y3 = malloc(sizeof(double) * ny);
  wave_bytes(ds, 1, true, x1, y1);
  cr_assert_eq(saw_worker_thread, 0);
  wave_bytes(ds, 2, true, x2, y2);
  cr_assert_eq(saw_worker_thread, 1, "costly samples are gathered by several threads");
  wave_bytes(ds, 2, false, x3, y3);
  nb_set_num_threads(2);
  cr_assert(memcmp(x1, x2, sizeof(float) * nx) == 0, "features bitwise equal, 1 vs 2 threads");
  cr_assert(memcmp(y1, y2, sizeof(double) * ny) == 0, "targets bitwise equal, 1 vs 2 threads");
  cr_assert(memcmp(x1, x3, sizeof(float) * nx) == 0, "features equal without prefetch");
  cr_assert(memcmp(y1, y3, sizeof(double) * ny) == 0, "targets equal without prefetch");
  /* Each row is its sample: target (i, cos i), features sin(i k + 0.1 k^2). */
  for (size_t r = 0; r < 2 * 640; r++) {
    double i = y1[2 * r];
    cr_assert_float_eq(y1[2 * r + 1], cos(i), 1e-15);
    cr_assert_float_eq(x1[64 * r + 5], wave((int64_t)i, 5), 1e-6);
  }
  free(x1);
  free(x2);
  free(x3);
  free(y1);
  free(y2);
  free(y3);
  nb_dataset_free(ds);
}

Test(loader, drop_last_and_partial_batches) {
  nb_dataset *ds = rows_dataset(103);
  int64_t order[103];
  nb_loader *l =
      nb_loader_new(ds, &(nb_loader_opts){.batch_size = 10, .drop_last = true, .shuffle = true});
  cr_assert_eq(nb_loader_num_batches(l), 10);
  run_epoch(l, 103, 10, true, order);
  nb_loader_free(l);
  l = nb_loader_new(ds, &(nb_loader_opts){.batch_size = 10});
  cr_assert_eq(nb_loader_num_batches(l), 11);
  run_epoch(l, 103, 10, false, order); /* asserts 10 x 10 then 3 */
  nb_loader_free(l);
  /* Fewer samples than a batch: drop_last gives an empty epoch. */
  l = nb_loader_new(ds, &(nb_loader_opts){.batch_size = 200, .drop_last = true});
  cr_assert_eq(nb_loader_num_batches(l), 0);
  nb_batch b;
  for (int e = 1; e <= 2; e++) {
    cr_assert_not(nb_loader_next(l, &b));
    nbt_assert_ok(nb_loader_status(l), "empty epoch");
    cr_assert_null(b.x);
    cr_assert_eq(nb_loader_epoch(l), e);
  }
  nb_loader_free(l);
  l = nb_loader_new(ds, &(nb_loader_opts){.batch_size = 200});
  cr_assert(nb_loader_next(l, &b));
  cr_assert_eq(b.size, 103);
  cr_assert_not(nb_loader_next(l, &b));
  nb_loader_free(l);
  nb_dataset_free(ds);
}

/* Targets of a whole epoch drawn by sampler s over rows_dataset(n). */
static int64_t sampled(int64_t n, nb_sampler *s, int64_t bs, int64_t *counts) {
  nb_dataset *ds = rows_dataset(n);
  nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){.batch_size = bs, .sampler = s});
  cr_assert(l, "%s", nb_errmsg());
  nb_batch b;
  int64_t total = 0;
  while (nb_loader_next(l, &b)) {
    const int64_t *y = nb_data(b.y);
    for (int64_t r = 0; r < b.size; r++) counts[y[r]]++;
    total += b.size;
  }
  nb_loader_free(l);
  nb_dataset_free(ds);
  return total;
}

Test(loader, weighted_with_replacement_frequencies) {
  const double w[5] = {1, 2, 0, 3, 4};
  int64_t counts[5] = {0};
  nb_sampler *s = nb_weighted_sampler_new(w, 5, 40000, true, 5);
  cr_assert(s, "%s", nb_errmsg());
  cr_assert_eq(sampled(5, s, 1000, counts), 40000);
  cr_assert_eq(counts[2], 0, "a zero weight is never drawn");
  for (int i = 0; i < 5; i++)
    cr_assert(fabs((double)counts[i] / 40000 - w[i] / 10) < 0.01, "index %d: %lld draws", i,
              (long long)counts[i]);
}

Test(loader, weighted_without_replacement) {
  const double w[5] = {1, 2, 0, 3, 4};
  /* Every epoch: 4 distinct indices (never the zero weight); the first drawn
   * follows the weights. */
  nb_dataset *ds = rows_dataset(5);
  nb_loader *l =
      nb_loader_new(ds, &(nb_loader_opts){.batch_size = 4,
                                          .no_prefetch = true,
                                          .sampler = nb_weighted_sampler_new(w, 5, 4, false, 1)});
  cr_assert(l, "%s", nb_errmsg());
  int64_t first[5] = {0};
  enum { EPOCHS = 4000 };
  nb_batch b;
  for (int e = 0; e < EPOCHS; e++) {
    cr_assert(nb_loader_next(l, &b));
    const int64_t *y = nb_data(b.y);
    cr_assert_eq(b.size, 4);
    int seen[5] = {0};
    for (int r = 0; r < 4; r++) seen[y[r]]++;
    cr_assert(seen[0] == 1 && seen[1] == 1 && seen[2] == 0 && seen[3] == 1 && seen[4] == 1,
              "epoch %d: distinct indices", e);
    first[y[0]]++;
    cr_assert_not(nb_loader_next(l, &b));
  }
  for (int i = 0; i < 5; i++)
    cr_assert(fabs((double)first[i] / EPOCHS - w[i] / 10) < 0.03, "index %d first %lld times", i,
              (long long)first[i]);
  nb_loader_free(l);
  nb_dataset_free(ds);
}

Test(loader, sampler_errors) {
  cr_assert_null(nb_weighted_sampler_new((double[]){1, -1}, 2, 3, true, 0));
  cr_assert_eq(nb_last_status(), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "weight 1 is -1"), "%s", nb_errmsg());
  cr_assert_null(nb_weighted_sampler_new((double[]){0, 0}, 2, 3, true, 0));
  cr_assert(strstr(nb_errmsg(), "sum to 0"), "%s", nb_errmsg());
  cr_assert_null(nb_weighted_sampler_new((double[]){1, 0, 2}, 3, 3, false, 0));
  cr_assert(strstr(nb_errmsg(), "3 samples requested; need 1..2 (without replacement"), "%s",
            nb_errmsg());
  cr_assert_null(nb_weighted_sampler_new((double[]){NAN}, 1, 1, true, 0));
  cr_assert_null(nb_weighted_sampler_new(NULL, 1, 1, true, 0));
  cr_assert_null(nb_random_sampler_new(-1, 0));
  cr_assert(strstr(nb_errmsg(), "random_sampler: -1 samples"), "%s", nb_errmsg());
  cr_assert_null(nb_sampler_new(NULL, NULL, NULL));
  cr_assert_eq(nb_last_status(), NB_ERR_ARG);
  nb_sampler_free(NULL);
}

/* A user's sampler: the indices of the epoch in reverse, rotated by epoch;
 * bad = 1 makes it give an out-of-range index. */
typedef struct reverse_sampler {
  int64_t n;
  int bad;
} reverse_sampler;
static int64_t reverse_count(void *user) { return ((reverse_sampler *)user)->n; }
static nb_status reverse_fill(void *user, int64_t epoch, int64_t *out) {
  reverse_sampler *r = user;
  for (int64_t i = 0; i < r->n; i++) out[i] = (r->n - 1 - i + epoch) % r->n;
  if (r->bad) out[2] = r->n + 5;
  return NB_OK;
}

Test(loader, user_sampler) {
  reverse_sampler r = {6, 0};
  nb_dataset *ds = rows_dataset(6);
  nb_loader *l = nb_loader_new(
      ds, &(nb_loader_opts){.batch_size = 4,
                            .sampler = nb_sampler_new(reverse_count, reverse_fill, &r)});
  int64_t order[6];
  for (int64_t e = 0; e < 2; e++) {
    run_epoch(l, 6, 4, false, order);
    for (int64_t i = 0; i < 6; i++) cr_assert_eq(order[i], (6 - 1 - i + e) % 6);
  }
  r.bad = 1;
  nb_batch b;
  cr_assert_not(nb_loader_next(l, &b));
  cr_assert_eq(nb_loader_status(l), NB_ERR_INDEX);
  cr_assert(strstr(nb_errmsg(), "the sampler gave index 11 at position 2 of epoch 2; the dataset "
                                "has 6 samples"),
            "%s", nb_errmsg());
  r.bad = 0;
  run_epoch(l, 6, 4, false, order);
  cr_assert_eq(nb_loader_epoch(l), 3);
  nb_loader_free(l);
  nb_dataset_free(ds);
}

/* A user's dataset failing on one sample. */
typedef struct flaky {
  int64_t n, fail_at;
} flaky;
static int64_t flaky_len(void *ctx) { return ((flaky *)ctx)->n; }
static nb_status flaky_get(void *ctx, int64_t i, nb_tensor *features, nb_tensor *target) {
  flaky *f = ctx;
  if (i == f->fail_at)
    return nb_set_error(NB_ERR_FORMAT, "flaky: record %lld is corrupt", (long long)i);
  nb_status st = nb_fill_(features, (double)i);
  return st == NB_OK ? nb_fill_(target, (double)(i % 3)) : st;
}

static void errors_propagate(bool prefetch) {
  flaky ctx = {100, 37};
  nb_dataset *ds = nb_dataset_new(&(nb_dataset_ops){flaky_len, flaky_get, NULL}, &ctx,
                                  &(nb_field_spec){NB_DTYPE_FLOAT32, 2, {2, 2}},
                                  &(nb_field_spec){NB_DTYPE_INT64, 0, {0}});
  nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){.batch_size = 8, .no_prefetch = !prefetch});
  nb_batch b;
  for (int k = 0; k < 4; k++) {
    cr_assert(nb_loader_next(l, &b), "batch %d: %s", k, nb_errmsg());
    nbt_assert_shape(b.x, NB_SHAPE(8, 2, 2), "x");
    cr_assert_float_eq(((const float *)nb_data(b.x))[4 * 7 + 3], 8.0 * k + 7, 0);
    cr_assert_eq(((const int64_t *)nb_data(b.y))[7], (8 * k + 7) % 3);
  }
  cr_assert_not(nb_loader_next(l, &b));
  cr_assert_null(b.x);
  cr_assert_eq(nb_loader_status(l), NB_ERR_FORMAT);
  cr_assert_eq(nb_last_status(), NB_ERR_FORMAT);
  cr_assert(
      strstr(nb_errmsg(), "loader: sample 37 (batch 4, position 5): flaky: record 37 is corrupt"),
      "%s", nb_errmsg());
  cr_assert_eq(nb_loader_epoch(l), 0, "the failed epoch does not count");
  /* The next call starts the epoch again; with the bad sample fixed it runs through. */
  ctx.fail_at = -1;
  int64_t k = 0;
  while (nb_loader_next(l, &b)) cr_assert_eq(b.index, k++);
  nbt_assert_ok(nb_loader_status(l), "status");
  cr_assert_eq(k, 13);
  cr_assert_eq(nb_loader_epoch(l), 1);
  nb_loader_free(l);
  nb_dataset_free(ds);
}

Test(loader, get_errors_name_the_sample) { errors_propagate(true); }
Test(loader, get_errors_name_the_sample_without_prefetch) { errors_propagate(false); }

static nb_status double_x(nb_tensor *x, nb_tensor *y, void *user) {
  (*(int *)user)++;
  if (*(int *)user == 3) return nb_set_error(NB_ERR_ARG, "collate: third batch refused");
  return nb_mul_scalar_(x, 2);
}

Test(loader, collate_hook) {
  nb_dataset *ds = rows_dataset(20);
  int calls = 0;
  nb_loader *l = nb_loader_new(
      ds, &(nb_loader_opts){.batch_size = 4, .collate = double_x, .collate_user = &calls});
  nb_batch b;
  for (int k = 0; k < 2; k++) {
    cr_assert(nb_loader_next(l, &b));
    const float *x = nb_data(b.x);
    const int64_t *y = nb_data(b.y);
    for (int r = 0; r < 4; r++) cr_assert_float_eq(x[3 * r + 1], 2 * ((float)y[r] + 0.5f), 0);
  }
  cr_assert_not(nb_loader_next(l, &b));
  cr_assert_eq(nb_loader_status(l), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "loader: collate (batch 2): collate: third batch refused"), "%s",
            nb_errmsg());
  nb_loader_free(l);
  nb_dataset_free(ds);
}

Test(loader, retained_batches_stay_valid) {
  nb_dataset *ds = rows_dataset(40);
  nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){.batch_size = 4, .shuffle = true, .seed = 1});
  nb_batch b;
  cr_assert(nb_loader_next(l, &b));
  nb_tensor *kept_x = nb_retain(b.x), *kept_y = nb_retain(b.y);
  float first[12];
  int64_t first_y[4];
  memcpy(first, nb_data(kept_x), sizeof first);
  memcpy(first_y, nb_data(kept_y), sizeof first_y);
  nb_tensor *last = NULL;
  for (int e = 0; e < 3; e++)
    while (nb_loader_next(l, &b)) {
      cr_assert(nb_data(b.x) != nb_data(kept_x), "a kept batch's memory is not reused");
      cr_assert(memcmp(first, nb_data(kept_x), sizeof first) == 0);
      nb_free(last);
      last = nb_retain(b.y); /* also kept past the loader */
    }
  cr_assert(memcmp(first_y, nb_data(kept_y), sizeof first_y) == 0);
  nb_loader_free(l);
  nb_dataset_free(ds);
  /* Still readable after the loader is gone. */
  cr_assert(memcmp(first, nb_data(kept_x), sizeof first) == 0);
  const int64_t *ly = nb_data(last);
  cr_assert(ly[0] >= 0 && ly[0] < 40);
  nb_free(kept_x);
  nb_free(kept_y);
  nb_free(last);
}

Test(loader, no_allocation_after_the_first_epoch) {
  nb_dataset *ds = rows_dataset(500);
  for (int prefetch = 0; prefetch < 2; prefetch++) {
    nb_loader *l = nb_loader_new(
        ds, &(nb_loader_opts){.batch_size = 16, .shuffle = true, .no_prefetch = !prefetch});
    nb_batch b;
    double sum = 0;
    while (nb_loader_next(l, &b)) sum += ((const float *)nb_data(b.x))[0];
    nb_mem_stats before, after;
    nb_mem_stats_get(&before);
    for (int e = 0; e < 3; e++)
      while (nb_loader_next(l, &b)) sum += ((const float *)nb_data(b.x))[0];
    nb_mem_stats_get(&after);
    cr_assert_eq(nb_loader_epoch(l), 4);
    cr_assert_gt(sum, 0);
    if (!getenv("NB_NO_CACHE"))
      cr_assert_eq(after.system_allocs, before.system_allocs,
                   "prefetch %d: %lld allocations in epochs 2-4", prefetch,
                   (long long)(after.system_allocs - before.system_allocs));
    nb_loader_free(l);
  }
  nb_dataset_free(ds);
}

Test(loader, works_inside_scopes) {
  nb_dataset *ds = rows_dataset(30);
  for (int prefetch = 0; prefetch < 2; prefetch++) {
    nb_scope_begin();
    nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){.batch_size = 7, .no_prefetch = !prefetch});
    nb_batch b;
    int64_t order[30];
    run_epoch(l, 30, 7, false, order);
    /* A training-style step per batch in its own scope. */
    while (nb_loader_next(l, &b)) {
      nb_scope_begin();
      nb_tensor *s = nbk_sum(b.x, NB_ALL_DIMS, false);
      cr_assert(s, "%s", nb_errmsg());
      nb_scope_end();
    }
    nb_loader_free(l);
    nb_scope_end();
  }
  nb_dataset_free(ds);
}

Test(loader, new_errors) {
  nb_dataset *ds = rows_dataset(4);
  cr_assert_null(nb_loader_new(ds, &(nb_loader_opts){.batch_size = -1}));
  cr_assert_eq(nb_last_status(), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "batch_size -1"), "%s", nb_errmsg());
  /* A rejected loader still takes (frees) the sampler. */
  cr_assert_null(nb_loader_new(
      ds, &(nb_loader_opts){.num_threads = -2, .sampler = nb_random_sampler_new(4, 0)}));
  cr_assert(strstr(nb_errmsg(), "num_threads -2"), "%s", nb_errmsg());
  nb_clear_error();
  cr_assert_null(nb_loader_new(NULL, NULL));
  cr_assert_eq(nb_last_status(), NB_ERR_NULL);
  nb_batch b;
  cr_assert_not(nb_loader_next(NULL, &b));
  nb_loader *l = nb_loader_new(ds, NULL);
  cr_assert_not(nb_loader_next(l, NULL));
  cr_assert_eq(nb_loader_status(l), NB_ERR_ARG);
  nb_loader_free(l);
  nb_loader_free(NULL);
  nb_dataset_free(ds);
}

static void record_epoch(void *ctx, int64_t epoch) {
  int64_t *seen = ctx;
  seen[seen[0]++ + 1] = epoch;
}
static int64_t record_len(void *ctx) { return 10; }
static nb_status record_get(void *ctx, int64_t i, nb_tensor *f, nb_tensor *t) {
  return nb_fill_(f, (double)i);
}

Test(loader, tells_the_dataset_each_epoch) {
  int64_t seen[8] = {0};
  nb_dataset *base =
      nb__dataset_make(&(nb_dataset_ops){record_len, record_get, NULL}, seen,
                       &(nb_field_spec){NB_DTYPE_FLOAT32, 0, {0}}, NULL, NULL, 0, record_epoch);
  nb_dataset *sub = nb_subset_new(base, (const int64_t[]){1, 3, 5}, 3);
  nb_dataset_free(base);
  nb_loader *l = nb_loader_new(sub, &(nb_loader_opts){.batch_size = 2});
  nb_batch b;
  for (int e = 0; e < 3; e++) {
    int k = 0;
    while (nb_loader_next(l, &b)) {
      cr_assert_null(b.y, "no targets");
      nbt_assert_shape(b.x, NB_SHAPE(k ? 1 : 2), "x");
      k++;
    }
    cr_assert_eq(k, 2);
  }
  cr_assert_eq(seen[0], 3);
  for (int e = 0; e < 3; e++) cr_assert_eq(seen[e + 1], e, "set_epoch(%d) through the subset", e);
  nb_loader_free(l);
  nb_dataset_free(sub);
}
