/* data/sampler.c - the order in which a loader visits samples.
 *
 * Owns: nb_sampler (a count and a fill(epoch) callback; the built-ins are
 * callbacks over the sampler itself), the sequential, random (a fresh
 * permutation per epoch from seed and epoch) and weighted (with replacement by
 * inverse CDF, without by exponential races, as torch.multinomial) samplers,
 * and the seeded shuffling the splits share. Everything is drawn in order on
 * one thread, so a seed gives the same indices with any thread count.
 */
#include "data/data_impl.h"

#include <math.h>
#include <stdlib.h>

typedef struct keyed {
  double key;
  int64_t index;
} keyed;

struct nb_sampler {
  int64_t (*count)(void *user);
  nb_status (*fill)(void *user, int64_t epoch, int64_t *out);
  void *user; /* the sampler itself for the built-ins */
  /* Built-ins' state. */
  int64_t n;   /* population */
  int64_t num; /* indices per epoch */
  uint64_t seed;
  nb_generator *g;
  double *cdf; /* weighted: running sums of the weights (with replacement), else the weights */
  keyed *keys; /* weighted without replacement: one per positive weight */
  int64_t npositive;
};

/* ---- randomness ------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t nb__mix_seed(uint64_t seed, int64_t epoch) {
  return splitmix64(seed ^ splitmix64((uint64_t)epoch ^ 0xD1B54A32D192ED03ull));
}

/* Uniform in [0, range) without modulo bias (range >= 1). */
static uint64_t bounded(nb_generator *g, uint64_t range) {
  uint64_t threshold = (0 - range) % range, x;
  do x = nb_generator_u64(g);
  while (x < threshold);
  return x % range;
}

void nb__shuffle(int64_t *a, int64_t n, nb_generator *g) {
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)bounded(g, (uint64_t)i + 1);
    int64_t t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/* ---- the sampler object ------------------------------------------------------------ */

static nb_sampler *sampler_alloc(const char *op) {
  nb_sampler *s = calloc(1, sizeof *s);
  if (!s) nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op);
  return s;
}

int64_t nb__sampler_count(nb_sampler *s) { return s->count(s->user); }

nb_status nb__sampler_fill(nb_sampler *s, int64_t epoch, int64_t *out) {
  return s->fill(s->user, epoch, out);
}

void nb_sampler_free(nb_sampler *s) {
  if (!s) return;
  nb_generator_free(s->g);
  free(s->cdf);
  free(s->keys);
  free(s);
}

nb_sampler *nb_sampler_new(int64_t (*count)(void *user),
                           nb_status (*fill)(void *user, int64_t epoch, int64_t *out), void *user) {
  if (!count || !fill) {
    nb_set_error(NB_ERR_ARG, "sampler_new: count and fill callbacks are required");
    return NULL;
  }
  nb_sampler *s = sampler_alloc("sampler_new");
  if (s) *s = (nb_sampler){.count = count, .fill = fill, .user = user};
  return s;
}

static int64_t builtin_count(void *user) { return ((nb_sampler *)user)->num; }

static nb_status sequential_fill(void *user, int64_t epoch, int64_t *out) {
  nb_sampler *s = user;
  for (int64_t i = 0; i < s->n; i++) out[i] = i;
  return NB_OK;
}

static nb_status random_fill(void *user, int64_t epoch, int64_t *out) {
  nb_sampler *s = user;
  nb_generator_seed(s->g, nb__mix_seed(s->seed, epoch));
  for (int64_t i = 0; i < s->n; i++) out[i] = i;
  nb__shuffle(out, s->n, s->g);
  return NB_OK;
}

/* Sequential (random false) or random: both visit 0..n-1 once. */
static nb_sampler *range_sampler(const char *op, int64_t n, uint64_t seed, bool random) {
  if (n < 0) {
    nb_set_error(NB_ERR_ARG, "%s: %lld samples; need >= 0", op, (long long)n);
    return NULL;
  }
  nb_sampler *s = sampler_alloc(op);
  if (!s) return NULL;
  *s = (nb_sampler){.count = builtin_count,
                    .fill = random ? random_fill : sequential_fill,
                    .n = n,
                    .num = n,
                    .seed = seed};
  s->user = s;
  if (random && !(s->g = nb_generator_new(seed))) {
    free(s);
    nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op);
    return NULL;
  }
  return s;
}

nb_sampler *nb_sequential_sampler_new(int64_t n) {
  return range_sampler("sequential_sampler", n, 0, false);
}

nb_sampler *nb_random_sampler_new(int64_t n, uint64_t seed) {
  return range_sampler("random_sampler", n, seed, true);
}

/* ---- weighted ------------------------------------------------------------------------ */

/* With replacement: each draw is the first index whose running sum passes
 * u * total. */
static nb_status weighted_fill(void *user, int64_t epoch, int64_t *out) {
  nb_sampler *s = user;
  nb_generator_seed(s->g, nb__mix_seed(s->seed, epoch));
  double total = s->cdf[s->n - 1];
  for (int64_t k = 0; k < s->num; k++) {
    double u = nb_generator_uniform(s->g) * total;
    int64_t lo = 0, hi = s->n - 1;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (s->cdf[mid] > u)
        hi = mid;
      else
        lo = mid + 1;
    }
    /* A u rounded up to total lands on the last index: step back to the last
     * one with a positive weight. */
    while (lo > 0 && s->cdf[lo] == s->cdf[lo - 1]) lo--;
    out[k] = lo;
  }
  return NB_OK;
}

static int keyed_cmp(const void *pa, const void *pb) {
  const keyed *a = pa, *b = pb;
  if (a->key != b->key) return a->key < b->key ? -1 : 1;
  return (a->index > b->index) - (a->index < b->index);
}

/* Without replacement: each index races an exponential clock of rate w; the
 * first num to finish, in finishing order, are a weighted draw without
 * replacement (Efraimidis-Spirakis). */
static nb_status weighted_norepl_fill(void *user, int64_t epoch, int64_t *out) {
  nb_sampler *s = user;
  nb_generator_seed(s->g, nb__mix_seed(s->seed, epoch));
  for (int64_t k = 0, i = 0; i < s->n; i++) {
    double w = s->cdf[i];
    if (w > 0) s->keys[k++] = (keyed){-log1p(-nb_generator_uniform(s->g)) / w, i};
  }
  qsort(s->keys, (size_t)s->npositive, sizeof *s->keys, keyed_cmp);
  for (int64_t k = 0; k < s->num; k++) out[k] = s->keys[k].index;
  return NB_OK;
}

nb_sampler *nb_weighted_sampler_new(const double *weights, int64_t n, int64_t num_samples,
                                    bool replacement, uint64_t seed) {
  const char *op = "weighted_sampler";
  if (!weights || n < 1) {
    nb_set_error(NB_ERR_ARG, "%s: %lld weights%s; need at least 1", op, (long long)n,
                 weights ? "" : " (NULL)");
    return NULL;
  }
  double total = 0;
  int64_t npositive = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!(weights[i] >= 0) || !isfinite(weights[i])) {
      nb_set_error(NB_ERR_ARG, "%s: weight %lld is %g; weights must be finite and >= 0", op,
                   (long long)i, weights[i]);
      return NULL;
    }
    total += weights[i];
    npositive += weights[i] > 0;
  }
  if (!(total > 0) || !isfinite(total)) {
    nb_set_error(NB_ERR_ARG, "%s: the weights sum to %g; need a positive finite sum", op, total);
    return NULL;
  }
  if (num_samples < 1 || (!replacement && num_samples > npositive)) {
    nb_set_error(NB_ERR_ARG, "%s: %lld samples requested; need 1..%lld (%s, %lld positive weights)",
                 op, (long long)num_samples, (long long)(replacement ? INT64_MAX : npositive),
                 replacement ? "with replacement" : "without replacement", (long long)npositive);
    return NULL;
  }
  nb_sampler *s = sampler_alloc(op);
  if (!s) return NULL;
  *s = (nb_sampler){.count = builtin_count,
                    .fill = replacement ? weighted_fill : weighted_norepl_fill,
                    .n = n,
                    .num = num_samples,
                    .seed = seed,
                    .npositive = npositive};
  s->user = s;
  bool fits = (size_t)n <= SIZE_MAX / sizeof(keyed);
  s->g = nb_generator_new(seed);
  s->cdf = fits ? malloc(sizeof(double) * (size_t)n) : NULL;
  s->keys = !replacement && fits ? malloc(sizeof(keyed) * (size_t)npositive) : NULL;
  if (!s->g || !s->cdf || (!replacement && !s->keys)) {
    nb_sampler_free(s);
    nb_set_error(NB_ERR_MEMORY, "%s: out of memory for %lld weights", op, (long long)n);
    return NULL;
  }
  double sum = 0;
  for (int64_t i = 0; i < n; i++) s->cdf[i] = replacement ? (sum += weights[i]) : weights[i];
  return s;
}
