/* tests/tensor/test_random.c - seedable generators and random tensors.
 *
 * Owns the tests of tensor/random.c: xoshiro256** seeded through splitmix64
 * against an independent Python implementation (tests/fixtures/create.txt,
 * cases xoshiro_*), reproducibility (seeds, saved states, the default
 * generator, thread counts), the shapes of the distributions on 100k draws,
 * and argument errors.
 */
#include "support/nbtest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

TestSuite(random, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

#define N_STATS 100000

/* Same dtype, shape and bytes (a deliberate bitwise comparison). */
static bool same_bits(nb_tensor *a, nb_tensor *b) {
  if (!a || !b || nb_dtype_of(a) != nb_dtype_of(b) || nb_numel(a) != nb_numel(b)) return false;
  return memcmp(nb_data(a), nb_data(b), (size_t)nb_numel(a) * nb_dtype_size(nb_dtype_of(a))) == 0;
}

/* Mean and (population) standard deviation of a tensor's values. */
static void moments(nb_tensor *t, double *mean, double *std) {
  int64_t n = nb_numel(t);
  double *v = malloc(sizeof(double) * (size_t)n);
  cr_assert_eq(nb_copy_out(t, NB_DTYPE_FLOAT64, v, n), NB_OK);
  double s = 0, s2 = 0;
  for (int64_t i = 0; i < n; i++) s += v[i];
  *mean = s / (double)n;
  for (int64_t i = 0; i < n; i++) s2 += (v[i] - *mean) * (v[i] - *mean);
  *std = sqrt(s2 / (double)n);
  free(v);
}

/* Every kind of random tensor from generator g, in a fixed order. */
#define N_KINDS 7
static void draw_all(nb_generator *g, nb_tensor **out) {
  out[0] = nb_rand(NB_DTYPE_FLOAT32, NB_SHAPE(3, 50), g);
  out[1] = nb_rand(NB_DTYPE_FLOAT64, NB_SHAPE(101), g);
  out[2] = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(7, 9), g); /* odd: leaves a cached normal */
  out[3] = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(64), g);
  out[4] = nb_randint(-5, 17, NB_SHAPE(200), g);
  out[5] = nb_randperm(300, g);
  out[6] = nb_bernoulli(NB_DTYPE_BOOL, NB_SHAPE(4, 40), 0.3, g);
  for (int i = 0; i < N_KINDS; i++) cr_assert_not_null(out[i], "kind %d: %s", i, nb_errmsg());
}

static void free_all(nb_tensor **t) {
  for (int i = 0; i < N_KINDS; i++) nb_free(t[i]);
}

/* ---- the generator is the standard algorithm ------------------------------------------ */

static void check_golden(const char *name) {
  nbt_fixture *f = nbt_fixture_load("create");
  const nbt_case *c = nbt_fixture_case(f, name);
  int64_t seed_bits[1], state[4], u64[8];
  nbt_case_param_ints(c, "seed", seed_bits, 1);
  nb_tensor *st = nbt_case_tensor(c, "state"), *u = nbt_case_tensor(c, "u64");
  nb_tensor *uni = nbt_case_tensor(c, "uniform");
  int64_t n = nb_numel(u);
  cr_assert_eq(nb_copy_out(st, NB_DTYPE_INT64, state, 4), NB_OK);
  cr_assert_eq(nb_copy_out(u, NB_DTYPE_INT64, u64, n), NB_OK);
  nb_generator *g = nb_generator_new((uint64_t)seed_bits[0]);
  nb_generator_state s;
  nb_generator_get_state(g, &s);
  for (int i = 0; i < 4; i++)
    cr_assert_eq(s.s[i], (uint64_t)state[i], "%s: splitmix64 state word %d", name, i);
  cr_assert_eq(s.has_cached, 0);
  for (int64_t i = 0; i < n; i++) {
    uint64_t got = nb_generator_u64(g);
    cr_assert_eq(got, (uint64_t)u64[i], "%s: draw %lld: %llu vs %llu", name, (long long)i,
                 (unsigned long long)got, (unsigned long long)(uint64_t)u64[i]);
  }
  /* The same draws scaled to doubles in [0, 1). */
  nb_generator_seed(g, (uint64_t)seed_bits[0]);
  double d[8];
  for (int64_t i = 0; i < n; i++) d[i] = nb_generator_uniform(g);
  nb_tensor *dt = nb_from_data(NB_DTYPE_FLOAT64, d, NB_SHAPE(n));
  nbt_assert_close(dt, uni, 0, 0, "uniform doubles");
  nb_free(dt);
  nb_generator_free(g);
  nb_free(uni);
  nb_free(u);
  nb_free(st);
  nbt_fixture_free(f);
}

Test(random, xoshiro256ss_golden_seed42) { check_golden("xoshiro_seed42"); }
Test(random, xoshiro256ss_golden_seed0) { check_golden("xoshiro_seed0"); }
Test(random, xoshiro256ss_golden_seed_max) { check_golden("xoshiro_seedmax"); }

/* ---- reproducibility ------------------------------------------------------------------- */

Test(random, same_seed_same_tensors) {
  nb_generator *g1 = nb_generator_new(1234), *g2 = nb_generator_new(1234);
  nb_tensor *a[N_KINDS], *b[N_KINDS];
  draw_all(g1, a);
  draw_all(g2, b);
  for (int i = 0; i < N_KINDS; i++)
    cr_assert(same_bits(a[i], b[i]), "kind %d differs for the same seed", i);
  free_all(b);
  /* nb_generator_seed restarts the stream. */
  nb_generator_seed(g2, 1234);
  draw_all(g2, b);
  for (int i = 0; i < N_KINDS; i++)
    cr_assert(same_bits(a[i], b[i]), "kind %d differs after reseeding", i);
  free_all(b);
  free_all(a);
  nb_generator_free(g2);
  nb_generator_free(g1);
}

Test(random, different_seeds_differ) {
  nb_generator *g1 = nb_generator_new(1), *g2 = nb_generator_new(2);
  nb_tensor *a[N_KINDS], *b[N_KINDS];
  draw_all(g1, a);
  draw_all(g2, b);
  for (int i = 0; i < N_KINDS; i++)
    cr_assert(!same_bits(a[i], b[i]), "kind %d is the same for seeds 1 and 2", i);
  free_all(b);
  free_all(a);
  nb_generator_free(g2);
  nb_generator_free(g1);
}

Test(random, state_round_trip_reproduces_the_next_draws) {
  nb_generator *g = nb_generator_new(99);
  nb_tensor *warm = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(5), g); /* odd: a normal is cached */
  nb_generator_state saved;
  nb_generator_get_state(g, &saved);
  cr_assert_eq(saved.has_cached, 1, "Box-Muller's second value is part of the state");
  nb_tensor *a[N_KINDS], *b[N_KINDS];
  draw_all(g, a);
  uint64_t after_a = nb_generator_u64(g);
  nb_generator_set_state(g, &saved);
  draw_all(g, b);
  cr_assert_eq(nb_generator_u64(g), after_a);
  for (int i = 0; i < N_KINDS; i++)
    cr_assert(same_bits(a[i], b[i]), "kind %d differs after set_state", i);
  /* A state moves between generators. */
  nb_generator *h = nb_generator_new(0);
  nb_generator_set_state(h, &saved);
  nb_tensor *c[N_KINDS];
  draw_all(h, c);
  for (int i = 0; i < N_KINDS; i++)
    cr_assert(same_bits(a[i], c[i]), "kind %d differs in another generator", i);
  free_all(c);
  free_all(b);
  free_all(a);
  nb_free(warm);
  nb_generator_free(h);
  nb_generator_free(g);
}

Test(random, a_split_randn_continues_the_normal_pairs) {
  /* randn(3) then randn(1) uses the cached second Box-Muller value: the four
   * numbers equal randn(4) from the same seed. */
  nb_generator *g = nb_generator_new(5), *h = nb_generator_new(5);
  nb_tensor *p1 = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(3), g);
  nb_tensor *p2 = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(1), g);
  nb_tensor *whole = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(4), h);
  cr_assert(memcmp(nb_data(p1), nb_data(whole), 3 * sizeof(double)) == 0);
  cr_assert(memcmp(nb_data(p2), (double *)nb_data(whole) + 3, sizeof(double)) == 0);
  nb_free(whole);
  nb_free(p2);
  nb_free(p1);
  nb_generator_free(h);
  nb_generator_free(g);
}

Test(random, default_generator_and_manual_seed) {
  nb_generator *d = nb_default_generator();
  cr_assert_not_null(d);
  cr_assert_eq(nb_default_generator(), d, "one process-wide generator");
  nb_manual_seed(7);
  nb_tensor *a[N_KINDS];
  draw_all(NULL, a); /* NULL = the default generator */
  nb_manual_seed(7);
  nb_tensor *b[N_KINDS];
  draw_all(d, b); /* the same object, passed explicitly */
  nb_generator *g = nb_generator_new(7);
  nb_tensor *c[N_KINDS];
  draw_all(g, c); /* manual_seed(7) == a fresh generator seeded 7 */
  for (int i = 0; i < N_KINDS; i++) {
    cr_assert(same_bits(a[i], b[i]), "kind %d", i);
    cr_assert(same_bits(a[i], c[i]), "kind %d", i);
  }
  /* The raw draws with NULL use it too. */
  nb_manual_seed(42);
  nb_generator *g42 = nb_generator_new(42);
  cr_assert_eq(nb_generator_u64(NULL), nb_generator_u64(g42));
  cr_assert_float_eq(nb_generator_uniform(NULL), nb_generator_uniform(g42), 0.0);
  cr_assert_float_eq(nb_generator_normal(NULL), nb_generator_normal(g42), 0.0);
  nb_generator_free(g42);
  free_all(c);
  free_all(b);
  free_all(a);
  nb_generator_free(g);
}

Test(random, identical_with_1_and_2_threads) {
  int saved = nb_get_num_threads();
  nb_tensor *r[2][4];
  for (int th = 1; th <= 2; th++) {
    cr_assert_eq(nb_set_num_threads(th), NB_OK);
    nb_generator *g = nb_generator_new(2024);
    r[th - 1][0] = nb_rand(NB_DTYPE_FLOAT32, NB_SHAPE(300, 300), g);
    r[th - 1][1] = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(90001), g);
    r[th - 1][2] = nb_randint(0, 1000, NB_SHAPE(70000), g);
    r[th - 1][3] = nb_empty(NB_DTYPE_FLOAT32, NB_SHAPE(200, 300));
    cr_assert_eq(nb_normal_(r[th - 1][3], 1, 2, g), NB_OK);
    nb_generator_free(g);
  }
  for (int k = 0; k < 4; k++) {
    cr_assert(same_bits(r[0][k], r[1][k]), "fill %d differs between 1 and 2 threads", k);
    nb_free(r[0][k]);
    nb_free(r[1][k]);
  }
  nb_set_num_threads(saved);
}

/* ---- values -------------------------------------------------------------------------- */

Test(random, randperm_is_a_permutation) {
  nb_generator *g = nb_generator_new(3);
  const int64_t n = 1000;
  nb_tensor *p = nb_randperm(n, g);
  nbt_assert_shape(p, NB_SHAPE(n), "randperm");
  cr_assert_eq(nb_dtype_of(p), NB_DTYPE_INT64);
  const int64_t *v = nb_data(p);
  char *seen = calloc((size_t)n, 1);
  int64_t fixed = 0;
  for (int64_t i = 0; i < n; i++) {
    cr_assert(v[i] >= 0 && v[i] < n, "value %lld out of range", (long long)v[i]);
    cr_assert(!seen[v[i]], "value %lld twice", (long long)v[i]);
    seen[v[i]] = 1;
    fixed += v[i] == i;
  }
  cr_assert_lt(fixed, 10, "a shuffle, not the identity (%lld fixed points)", (long long)fixed);
  free(seen);
  nb_tensor *e = nb_randperm(0, g);
  nbt_assert_shape(e, NB_SHAPE(0), "randperm(0)");
  nb_tensor *one = nb_randperm(1, g);
  nbt_assert_values(one, ((double[]){0}), 1, 0, 0, "randperm(1)");
  nb_free(one);
  nb_free(e);
  nb_free(p);
  nb_generator_free(g);
}

Test(random, rand_is_uniform_in_unit_interval) {
  nb_generator *g = nb_generator_new(11);
  const nb_dtype dts[] = {NB_DTYPE_FLOAT32, NB_DTYPE_FLOAT64};
  for (int k = 0; k < 2; k++) {
    nb_tensor *t = nb_rand(dts[k], NB_SHAPE(N_STATS), g);
    cr_assert_eq(nb_dtype_of(t), dts[k]);
    double *v = malloc(sizeof(double) * N_STATS);
    cr_assert_eq(nb_copy_out(t, NB_DTYPE_FLOAT64, v, N_STATS), NB_OK);
    int64_t bins[10] = {0};
    for (int i = 0; i < N_STATS; i++) {
      cr_assert(v[i] >= 0 && v[i] < 1, "rand value %.17g outside [0, 1)", v[i]);
      bins[(int)(v[i] * 10)]++;
    }
    for (int b = 0; b < 10; b++)
      cr_assert(fabs((double)bins[b] / (N_STATS / 10) - 1) < 0.05, "decile %d holds %lld", b,
                (long long)bins[b]);
    double mean, std;
    moments(t, &mean, &std);
    cr_assert(fabs(mean - 0.5) < 0.01, "%s mean %g", nb_dtype_name(dts[k]), mean);
    cr_assert(fabs(std - sqrt(1.0 / 12)) < 0.01, "std %g", std);
    free(v);
    nb_free(t);
  }
  nb_generator_free(g);
}

/* The xoshiro256** state whose next output is `want` (the scrambler inverted). */
static void state_for_output(uint64_t want, nb_generator_state *st) {
  uint64_t inv9 = 9, inv5 = 5; /* Newton's iteration for inverses mod 2^64 */
  for (int i = 0; i < 6; i++) {
    inv9 *= 2 - 9 * inv9;
    inv5 *= 2 - 5 * inv5;
  }
  uint64_t x = want * inv9; /* = rotl(s1 * 5, 7) */
  x = (x >> 7) | (x << 57); /* = s1 * 5 */
  memset(st, 0, sizeof *st);
  st->s[0] = 0x0123456789abcdefull;
  st->s[1] = x * inv5;
  st->s[2] = 0xfedcba9876543210ull;
  st->s[3] = 0x1111111111111111ull;
}

Test(random, float32_rand_never_returns_one) {
  /* The largest possible draw: 53 bits of ones round to 1.0f in float32. */
  nb_generator *g = nb_generator_new(0);
  nb_generator_state st;
  state_for_output(UINT64_MAX, &st);
  nb_generator_set_state(g, &st);
  cr_assert_eq(nb_generator_u64(g), UINT64_MAX, "the crafted state works");
  nb_generator_set_state(g, &st);
  nb_tensor *f = nb_rand(NB_DTYPE_FLOAT32, NB_SHAPE(1), g);
  cr_assert_lt(nb_item(f), 1.0, "float32 rand gave %.9g", nb_item(f));
  cr_assert_gt(nb_item(f), 0.999, "and it is the largest float below 1");
  nb_generator_set_state(g, &st);
  nb_tensor *d = nb_rand(NB_DTYPE_FLOAT64, NB_SHAPE(1), g);
  cr_assert_lt(nb_item(d), 1.0);
  nb_generator_set_state(g, &st);
  nb_tensor *z = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1));
  cr_assert_eq(nb_uniform_(z, 0, 1, g), NB_OK);
  cr_assert_lt(nb_item(z), 1.0, "float32 uniform_ gave %.9g", nb_item(z));
  nb_free(z);
  nb_free(d);
  nb_free(f);
  nb_generator_free(g);
}

Test(random, randn_and_normal_moments) {
  nb_generator *g = nb_generator_new(12);
  const nb_dtype dts[] = {NB_DTYPE_FLOAT32, NB_DTYPE_FLOAT64};
  for (int k = 0; k < 2; k++) {
    nb_tensor *t = nb_randn(dts[k], NB_SHAPE(100, 1000), g);
    double mean, std;
    moments(t, &mean, &std);
    cr_assert(fabs(mean) < 0.01, "randn %s mean %g", nb_dtype_name(dts[k]), mean);
    cr_assert(fabs(std - 1) < 0.01, "randn %s std %g", nb_dtype_name(dts[k]), std);
    nb_free(t);
    nb_tensor *n = nb_normal(dts[k], NB_SHAPE(N_STATS), 3, 2, g);
    moments(n, &mean, &std);
    cr_assert(fabs(mean - 3) < 0.02, "normal(3, 2) mean %g", mean);
    cr_assert(fabs(std - 2) < 0.02, "normal(3, 2) std %g", std);
    nb_free(n);
  }
  /* About 68.3% of standard normals fall within one std. */
  nb_tensor *t = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(N_STATS), g);
  const double *v = nb_data(t);
  int64_t within = 0;
  for (int i = 0; i < N_STATS; i++) within += fabs(v[i]) < 1;
  cr_assert(fabs((double)within / N_STATS - 0.6827) < 0.01, "%lld within 1 std", (long long)within);
  nb_free(t);
  nb_tensor *zero_std = nb_normal(NB_DTYPE_FLOAT64, NB_SHAPE(3), -4, 0, g);
  nbt_assert_values(zero_std, ((double[]){-4, -4, -4}), 3, 0, 0, "std 0");
  nb_free(zero_std);
  nb_generator_free(g);
}

Test(random, uniform_range_and_in_place_fills) {
  nb_generator *g = nb_generator_new(13);
  nb_tensor *u = nb_uniform(NB_DTYPE_FLOAT64, NB_SHAPE(N_STATS), -2, 5, g);
  double mean, std;
  moments(u, &mean, &std);
  cr_assert(fabs(mean - 1.5) < 0.03, "uniform(-2, 5) mean %g", mean);
  const double *v = nb_data(u);
  for (int i = 0; i < N_STATS; i++) cr_assert(v[i] >= -2 && v[i] < 5);
  /* In-place fills walk any layout in logical order: a strided fill gets the
   * numbers a contiguous fill gets, and the gaps stay untouched. */
  double buf[24];
  for (int i = 0; i < 24; i++) buf[i] = 1000;
  nb_tensor *s = nb_from_blob(NB_DTYPE_FLOAT64, buf, NB_SHAPE(3, 4), (int64_t[]){1, 6}, NULL, NULL);
  nb_tensor *c = nb_empty(NB_DTYPE_FLOAT64, NB_SHAPE(3, 4));
  nb_generator_seed(g, 77);
  uint64_t v0 = nb_version(s);
  cr_assert_eq(nb_normal_(s, 0, 1, g), NB_OK);
  cr_assert_gt(nb_version(s), v0, "normal_ bumps the version");
  nb_generator_seed(g, 77);
  cr_assert_eq(nb_normal_(c, 0, 1, g), NB_OK);
  double logical[12];
  cr_assert_eq(nb_copy_out(s, NB_DTYPE_FLOAT64, logical, 12), NB_OK);
  cr_assert(memcmp(logical, nb_data(c), sizeof logical) == 0, "strided fill in logical order");
  for (int i = 0; i < 24; i++)
    if (i % 6 >= 3) cr_assert_float_eq(buf[i], 1000.0, 0.0, "gap %d untouched", i);
  nb_generator_seed(g, 78);
  cr_assert_eq(nb_uniform_(s, 10, 11, g), NB_OK);
  for (int i = 0; i < 24; i++)
    if (i % 6 < 3) cr_assert(buf[i] >= 10 && buf[i] < 11);
  nb_free(c);
  nb_free(s);
  nb_free(u);
  nb_generator_free(g);
}

Test(random, randint_covers_the_range_uniformly) {
  nb_generator *g = nb_generator_new(14);
  const int64_t low = -3, high = 7, n = 1000000;
  nb_tensor *t = nb_randint(low, high, NB_SHAPE(n), g);
  cr_assert_eq(nb_dtype_of(t), NB_DTYPE_INT64);
  const int64_t *v = nb_data(t);
  int64_t bins[10] = {0};
  for (int64_t i = 0; i < n; i++) {
    cr_assert(v[i] >= low && v[i] < high, "value %lld outside [-3, 7)", (long long)v[i]);
    bins[v[i] - low]++;
  }
  for (int b = 0; b < 10; b++)
    cr_assert(fabs((double)bins[b] / (double)(n / 10) - 1) < 0.02, "value %d drawn %lld times",
              b + (int)low, (long long)bins[b]);
  nb_free(t);
  /* A single-value range. */
  nb_tensor *one = nb_randint(5, 6, NB_SHAPE(4), g);
  nbt_assert_values(one, ((double[]){5, 5, 5, 5}), 4, 0, 0, "randint(5, 6)");
  nb_free(one);
  nb_generator_free(g);
}

Test(random, randint_exact_beyond_2_to_the_53) {
  nb_generator *g = nb_generator_new(15);
  const int64_t low = ((int64_t)1 << 60) + 1;
  nb_tensor *t = nb_randint(low, low + 10, NB_SHAPE(2000), g);
  const int64_t *v = nb_data(t);
  int seen[10] = {0};
  for (int i = 0; i < 2000; i++) {
    cr_assert(v[i] >= low && v[i] < low + 10, "value %lld", (long long)v[i]);
    seen[v[i] - low] = 1;
  }
  for (int b = 0; b < 10; b++) cr_assert(seen[b], "low + %d never drawn", b);
  nb_free(t);
  /* The whole int64 range (its width does not fit int64). */
  nb_tensor *w = nb_randint(INT64_MIN, INT64_MAX, NB_SHAPE(1000), g);
  cr_assert_not_null(w, "%s", nb_errmsg());
  const int64_t *wv = nb_data(w);
  int neg = 0;
  for (int i = 0; i < 1000; i++) neg += wv[i] < 0;
  cr_assert(neg > 400 && neg < 600, "%d of 1000 negative", neg);
  nb_free(w);
  nb_generator_free(g);
}

Test(random, bernoulli_frequency) {
  nb_generator *g = nb_generator_new(16);
  const nb_dtype dts[] = {NB_DTYPE_FLOAT32, NB_DTYPE_FLOAT64, NB_DTYPE_INT64, NB_DTYPE_BOOL};
  for (int k = 0; k < 4; k++) {
    nb_tensor *t = nb_bernoulli(dts[k], NB_SHAPE(N_STATS), 0.3, g);
    cr_assert_eq(nb_dtype_of(t), dts[k]);
    double *v = malloc(sizeof(double) * N_STATS);
    cr_assert_eq(nb_copy_out(t, NB_DTYPE_FLOAT64, v, N_STATS), NB_OK);
    int64_t ones = 0;
    for (int i = 0; i < N_STATS; i++) {
      cr_assert(v[i] == 0 || v[i] == 1, "bernoulli value %g", v[i]); /* exact 0/1 */
      ones += v[i] != 0;
    }
    cr_assert(fabs((double)ones / N_STATS - 0.3) < 0.01, "%s: frequency %g", nb_dtype_name(dts[k]),
              (double)ones / N_STATS);
    free(v);
    nb_free(t);
  }
  nb_tensor *p0 = nb_bernoulli(NB_DTYPE_FLOAT32, NB_SHAPE(1000), 0, g);
  nb_tensor *p1 = nb_bernoulli(NB_DTYPE_FLOAT32, NB_SHAPE(1000), 1, g);
  double mean, std;
  moments(p0, &mean, &std);
  cr_assert_float_eq(mean, 0.0, 0.0, "p = 0 gives only zeros");
  moments(p1, &mean, &std);
  cr_assert_float_eq(mean, 1.0, 0.0, "p = 1 gives only ones");
  nb_free(p1);
  nb_free(p0);
  nb_generator_free(g);
}

Test(random, shapes_0d_and_empty) {
  nb_generator *g = nb_generator_new(17);
  nb_tensor *s = nb_rand(NB_DTYPE_FLOAT64, NB_SCALAR_SHAPE, g);
  nbt_assert_shape(s, NB_SCALAR_SHAPE, "0-d rand");
  cr_assert(nb_item(s) >= 0 && nb_item(s) < 1);
  nb_tensor *e = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(4, 0), g);
  nbt_assert_shape(e, NB_SHAPE(4, 0), "empty randn");
  /* Drawing nothing consumes nothing. */
  nb_generator_state before, after;
  nb_generator_get_state(g, &before);
  nb_tensor *e2 = nb_randint(0, 3, NB_SHAPE(0), g);
  nb_generator_get_state(g, &after);
  cr_assert(memcmp(before.s, after.s, sizeof before.s) == 0);
  cr_assert_eq(nb_version(s), 0, "a fresh random tensor starts at version 0");
  nb_free(e2);
  nb_free(e);
  nb_free(s);
  nb_generator_free(g);
}

Test(random, argument_errors) {
  nbt_expect_fail(nb_rand(NB_DTYPE_INT64, NB_SHAPE(2), NULL), NB_ERR_DTYPE, "rand", "int64");
  nbt_expect_fail(nb_randn(NB_DTYPE_BOOL, NB_SHAPE(2), NULL), NB_ERR_DTYPE, "randn", "bool");
  nbt_expect_fail(nb_normal(NB_DTYPE_FLOAT32, NB_SHAPE(2), 0, -1, NULL), NB_ERR_ARG, "normal",
                  "std");
  nbt_expect_fail(nb_normal(NB_DTYPE_FLOAT32, NB_SHAPE(2), 0, NAN, NULL), NB_ERR_ARG, "normal");
  nbt_expect_fail(nb_uniform(NB_DTYPE_FLOAT64, NB_SHAPE(2), 2, 1, NULL), NB_ERR_ARG, "uniform");
  nbt_expect_fail(nb_uniform(NB_DTYPE_INT64, NB_SHAPE(2), 0, 1, NULL), NB_ERR_DTYPE, "uniform");
  nbt_expect_fail(nb_randint(3, 3, NB_SHAPE(2), NULL), NB_ERR_ARG, "randint", "3");
  nbt_expect_fail(nb_randint(3, -3, NB_SHAPE(2), NULL), NB_ERR_ARG, "randint");
  nbt_expect_fail(nb_bernoulli(NB_DTYPE_FLOAT32, NB_SHAPE(2), 1.5, NULL), NB_ERR_ARG, "bernoulli");
  nbt_expect_fail(nb_bernoulli(NB_DTYPE_FLOAT32, NB_SHAPE(2), -0.1, NULL), NB_ERR_ARG, "bernoulli");
  nbt_expect_fail(nb_bernoulli(NB_DTYPE_FLOAT32, NB_SHAPE(2), NAN, NULL), NB_ERR_ARG, "bernoulli");
  nbt_expect_fail(nb_randperm(-1, NULL), NB_ERR_ARG, "randperm", "-1");
  nb_tensor *i = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(3));
  nb_tensor *f = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(3));
  /* torch: "check_uniform_bounds" / "normal_kernel_cpu" not implemented for 'Long'. */
  nb_clear_error();
  nbt_expect_status(nb_uniform_(i, 0, 1, NULL), NB_ERR_DTYPE, "uniform_", "int64");
  nb_clear_error();
  nbt_expect_status(nb_normal_(i, 0, 1, NULL), NB_ERR_DTYPE, "normal_");
  nbt_assert_values(i, ((double[]){0, 0, 0}), 3, 0, 0, "the rejected tensor is unchanged");
  nb_clear_error();
  nbt_expect_status(nb_uniform_(f, 1, 0, NULL), NB_ERR_ARG, "uniform_");
  nb_clear_error();
  nbt_expect_status(nb_normal_(f, 0, -2, NULL), NB_ERR_ARG, "normal_");
  nbt_expect_fail(nb_rand_like(i, NULL), NB_ERR_DTYPE, "rand");
  nb_free(f);
  nb_free(i);
}
