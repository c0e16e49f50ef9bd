/* tensor/random.c - seedable random generators.
 *
 * Owns: xoshiro256** generators (seeded through splitmix64), the process-wide
 * default generator, uniform / normal draws, and the random fills. Fills draw
 * in element order on one thread, so a seed gives the same numbers on every
 * machine and with any thread count.
 */
#include "tensor/tensor_impl.h"

#include <math.h>
#include <stdlib.h>

struct nb_generator {
  nb_generator_state state;
};

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void nb_generator_seed(nb_generator *g, uint64_t seed) {
  if (!g) return;
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) g->state.s[i] = splitmix64(&x);
  g->state.has_cached = 0;
  g->state.cached_normal = 0;
}

nb_generator *nb_generator_new(uint64_t seed) {
  nb_generator *g = malloc(sizeof *g);
  if (!g) return nb__fail_null(NB_ERR_MEMORY, "generator_new: out of memory");
  nb_generator_seed(g, seed);
  return g;
}

void nb_generator_free(nb_generator *g) { free(g); }

void nb_generator_get_state(const nb_generator *g, nb_generator_state *state) {
  if (g && state) *state = g->state;
}

void nb_generator_set_state(nb_generator *g, const nb_generator_state *state) {
  if (g && state) g->state = *state;
}

static nb_generator default_gen;
static bool default_seeded;

nb_generator *nb_default_generator(void) {
  if (!default_seeded) {
    nb_generator_seed(&default_gen, 0); /* deterministic by default, like torch's seed 0 runs */
    default_seeded = true;
  }
  return &default_gen;
}

void nb_manual_seed(uint64_t seed) {
  nb_generator_seed(&default_gen, seed);
  default_seeded = true;
}

uint64_t nb_generator_u64(nb_generator *g) {
  if (!g) g = nb_default_generator();
  uint64_t *s = g->state.s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double nb_generator_uniform(nb_generator *g) {
  return (double)(nb_generator_u64(g) >> 11) * 0x1.0p-53; /* 53 random bits in [0,1) */
}

double nb_generator_normal(nb_generator *g) {
  if (!g) g = nb_default_generator();
  if (g->state.has_cached) {
    g->state.has_cached = 0;
    return g->state.cached_normal;
  }
  /* Box-Muller; 1 - u keeps the log argument in (0, 1]. */
  double u1 = 1.0 - nb_generator_uniform(g), u2 = nb_generator_uniform(g);
  double r = sqrt(-2.0 * log(u1)), theta = 6.283185307179586476925 * u2;
  g->state.cached_normal = r * sin(theta);
  g->state.has_cached = 1;
  return r * cos(theta);
}

__extension__ typedef unsigned __int128 u128;

/* Uniform integer in [0, n) without modulo bias (Lemire's method). */
static uint64_t below(nb_generator *g, uint64_t n) {
  u128 m = (u128)nb_generator_u64(g) * n;
  uint64_t low = (uint64_t)m;
  if (low < n) {
    uint64_t threshold = -n % n;
    while (low < threshold) {
      m = (u128)nb_generator_u64(g) * n;
      low = (uint64_t)m;
    }
  }
  return (uint64_t)(m >> 64);
}

/* Fill every element of x (any layout) in logical order with draw(). */
typedef double (*draw_fn)(nb_generator *g, const double *params);

static nb_status fill_random(nb_tensor *x, nb_generator *g, draw_fn draw, const double *params) {
  if (!g) g = nb_default_generator();
  int64_t idx[NB_MAX_DIMS] = {0};
  size_t es = nb_dtype_size(x->dtype);
  for (int64_t i = 0; i < x->numel; i++) {
    int64_t off = 0;
    for (int d = 0; d < x->ndim; d++) off += idx[d] * x->strides[d];
    nb__store(x->dtype, (char *)x->storage->data + (size_t)(x->offset + off) * es, draw(g, params));
    for (int d = x->ndim - 1; d >= 0 && ++idx[d] == x->shape[d]; d--) idx[d] = 0;
  }
  nb__bump_version(x);
  return NB_OK;
}

static double draw_uniform(nb_generator *g, const double *p) {
  return p[0] + (p[1] - p[0]) * nb_generator_uniform(g);
}
/* float32 fills take 24 random bits, as torch does: 53 bits would round up to
 * exactly 1.0f about once in 2^25 draws, outside rand's [0, 1). */
static double draw_uniform_f32(nb_generator *g, const double *p) {
  return p[0] + (p[1] - p[0]) * ((double)(nb_generator_u64(g) >> 40) * 0x1.0p-24);
}
static draw_fn uniform_draw(nb_dtype dtype) {
  return dtype == NB_DTYPE_FLOAT32 ? draw_uniform_f32 : draw_uniform;
}
static double draw_normal(nb_generator *g, const double *p) {
  return p[0] + p[1] * nb_generator_normal(g);
}
static double draw_bernoulli(nb_generator *g, const double *p) {
  return nb_generator_uniform(g) < p[0] ? 1.0 : 0.0;
}

static nb_tensor *make_random(const char *op, nb_dtype dtype, int ndim, const int64_t *shape,
                              nb_generator *g, draw_fn draw, const double *params) {
  nb_tensor *t = nb__new(op, dtype, ndim, shape);
  if (t) fill_random(t, g, draw, params);
  if (t) t->storage->version = 0;
  return t;
}

static bool need_float(const char *op, nb_dtype dtype) {
  if (nb_dtype_is_floating(dtype)) return true;
  nb__fail(NB_ERR_DTYPE, "%s: needs a floating dtype, got %s", op, nb_dtype_name(dtype));
  return false;
}

nb_tensor *nb_uniform(nb_dtype dtype, int ndim, const int64_t *shape, double low, double high,
                      nb_generator *g) {
  if (!need_float("uniform", dtype)) return NULL;
  if (!(low <= high))
    return nb__fail_null(NB_ERR_ARG, "uniform: low %g must be <= high %g", low, high);
  return make_random("uniform", dtype, ndim, shape, g, uniform_draw(dtype), (double[]){low, high});
}

nb_tensor *nb_rand(nb_dtype dtype, int ndim, const int64_t *shape, nb_generator *g) {
  if (!need_float("rand", dtype)) return NULL;
  return make_random("rand", dtype, ndim, shape, g, uniform_draw(dtype), (double[]){0, 1});
}

nb_tensor *nb_normal(nb_dtype dtype, int ndim, const int64_t *shape, double mean, double std,
                     nb_generator *g) {
  if (!need_float("normal", dtype)) return NULL;
  if (!(std >= 0)) return nb__fail_null(NB_ERR_ARG, "normal: std %g must be >= 0", std);
  return make_random("normal", dtype, ndim, shape, g, draw_normal, (double[]){mean, std});
}

nb_tensor *nb_randn(nb_dtype dtype, int ndim, const int64_t *shape, nb_generator *g) {
  if (!need_float("randn", dtype)) return NULL;
  return make_random("randn", dtype, ndim, shape, g, draw_normal, (double[]){0, 1});
}

nb_tensor *nb_randint(int64_t low, int64_t high, int ndim, const int64_t *shape, nb_generator *g) {
  if (high <= low)
    return nb__fail_null(NB_ERR_ARG, "randint: high %lld must be > low %lld", (long long)high,
                         (long long)low);
  nb_tensor *t = nb__new("randint", NB_DTYPE_INT64, ndim, shape);
  if (!t) return NULL;
  if (!g) g = nb_default_generator();
  /* In integers throughout: any int64 range, exact beyond 2^53. */
  uint64_t range = (uint64_t)high - (uint64_t)low;
  int64_t *v = nb__ptr(t, 0);
  for (int64_t i = 0; i < t->numel; i++) v[i] = (int64_t)((uint64_t)low + below(g, range));
  return t;
}

nb_tensor *nb_bernoulli(nb_dtype dtype, int ndim, const int64_t *shape, double p, nb_generator *g) {
  if (!(p >= 0 && p <= 1)) return nb__fail_null(NB_ERR_ARG, "bernoulli: p %g must be in [0, 1]", p);
  return make_random("bernoulli", dtype, ndim, shape, g, draw_bernoulli, (double[]){p});
}

nb_tensor *nb_randperm(int64_t n, nb_generator *g) {
  if (n < 0) return nb__fail_null(NB_ERR_ARG, "randperm: n %lld is negative", (long long)n);
  nb_tensor *t = nb__new("randperm", NB_DTYPE_INT64, 1, (int64_t[]){n});
  if (!t) return NULL;
  if (!g) g = nb_default_generator();
  int64_t *v = nb__ptr(t, 0);
  for (int64_t i = 0; i < n; i++) v[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)below(g, (uint64_t)i + 1);
    int64_t tmp = v[i];
    v[i] = v[j];
    v[j] = tmp;
  }
  return t;
}

nb_tensor *nb_rand_like(const nb_tensor *t, nb_generator *g) {
  NB_CHECK_NULL("rand_like", t);
  return nb_rand(t->dtype, t->ndim, t->shape, g);
}

nb_tensor *nb_randn_like(const nb_tensor *t, nb_generator *g) {
  NB_CHECK_NULL("randn_like", t);
  return nb_randn(t->dtype, t->ndim, t->shape, g);
}

nb_status nb_uniform_(nb_tensor *x, double low, double high, nb_generator *g) {
  NB_CHECK_NULL_STATUS("uniform_", x);
  if (!need_float("uniform_", x->dtype)) return NB_ERR_DTYPE;
  if (!(low <= high)) return nb__fail(NB_ERR_ARG, "uniform_: low %g must be <= high %g", low, high);
  return fill_random(x, g, uniform_draw(x->dtype), (double[]){low, high});
}

nb_status nb_normal_(nb_tensor *x, double mean, double std, nb_generator *g) {
  NB_CHECK_NULL_STATUS("normal_", x);
  if (!need_float("normal_", x->dtype)) return NB_ERR_DTYPE;
  if (!(std >= 0)) return nb__fail(NB_ERR_ARG, "normal_: std %g must be >= 0", std);
  return fill_random(x, g, draw_normal, (double[]){mean, std});
}
