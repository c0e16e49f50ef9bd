/* nn/init.c - parameter initialization, as torch.nn.init.
 *
 * Owns: calculate_gain, the fan computation, uniform / normal / constant /
 * xavier / kaiming / orthogonal / truncated-normal fills, and the default
 * reset of Linear- and Conv-style layers. Same formulas (and hence the same
 * distributions) as PyTorch; the numbers come from nabla's generators. Fills
 * act on the tensor's data directly and record no graph.
 */
#include "nn/nn_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SQRT2 1.41421356237309504880
#define SQRT_2PI 2.50662827463100050242

/* ---- gains and fans ------------------------------------------------------------- */

typedef struct gain_row {
  const char *name;
  double gain; /* NAN: computed (leaky_relu) */
} gain_row;

static const gain_row gains[] = {
    {"linear", 1.0},           {"conv1d", 1.0},           {"conv2d", 1.0},
    {"conv3d", 1.0},           {"conv_transpose1d", 1.0}, {"conv_transpose2d", 1.0},
    {"conv_transpose3d", 1.0}, {"sigmoid", 1.0},          {"tanh", 5.0 / 3.0},
    {"relu", SQRT2},           {"leaky_relu", NAN},       {"selu", 0.75},
};

double nb_calculate_gain(const char *nonlinearity, double param) {
  for (size_t i = 0; nonlinearity && i < sizeof gains / sizeof gains[0]; i++) {
    if (strcmp(nonlinearity, gains[i].name) != 0) continue;
    if (!isnan(gains[i].gain)) return gains[i].gain;
    double slope = isnan(param) ? 0.01 : param; /* NAN = PyTorch's param=None */
    return sqrt(2.0 / (1.0 + slope * slope));
  }
  nb_set_error(NB_ERR_ARG, "calculate_gain: unsupported nonlinearity \"%s\"",
               nonlinearity ? nonlinearity : "(NULL)");
  return NAN;
}

nb_status nb__nn_fans(const char *op, const nb_tensor *t, int64_t *fan_in, int64_t *fan_out) {
  int nd = nb_ndim(t);
  if (nd < 2)
    return nb_set_error(NB_ERR_SHAPE,
                        "%s: fan in and fan out need a tensor of at least 2 dims, got %s", op,
                        nb__nn_shp(t));
  const int64_t *s = nb_shape(t);
  int64_t receptive = 1;
  for (int i = 2; i < nd; i++) receptive *= s[i]; /* fits: numel did */
  *fan_in = s[1] * receptive;
  *fan_out = s[0] * receptive;
  return NB_OK;
}

/* A floating tensor to fill, or an error naming op. */
static nb_status check_float(const char *op, const nb_tensor *t) {
  if (!t) return nb__nn_null(op, "the tensor");
  if (!nb_dtype_is_floating(nb_dtype_of(t)))
    return nb_set_error(NB_ERR_DTYPE, "%s: needs a float32 or float64 tensor, got %s", op,
                        nb_dtype_name(nb_dtype_of(t)));
  return NB_OK;
}

/* ---- simple fills ----------------------------------------------------------------- */

nb_status nb_init_uniform_(nb_tensor *t, double a, double b, nb_generator *g) {
  nb_status st = check_float("init_uniform_", t);
  return st != NB_OK ? st : nb_uniform_(t, a, b, g);
}

nb_status nb_init_normal_(nb_tensor *t, double mean, double std, nb_generator *g) {
  nb_status st = check_float("init_normal_", t);
  return st != NB_OK ? st : nb_normal_(t, mean, std, g);
}

nb_status nb_init_constant_(nb_tensor *t, double value) {
  if (!t) return nb__nn_null("init_constant_", "the tensor");
  return nb_fill_(t, value);
}

nb_status nb_init_zeros_(nb_tensor *t) { return nb_init_constant_(t, 0.0); }
nb_status nb_init_ones_(nb_tensor *t) { return nb_init_constant_(t, 1.0); }

/* ---- xavier and kaiming ------------------------------------------------------------ */

/* Fill with U(-sqrt(3) std, sqrt(3) std) or N(0, std). */
static nb_status fill_scaled(nb_tensor *t, bool uniform, double std, nb_generator *g) {
  if (uniform) return nb_uniform_(t, -sqrt(3.0) * std, sqrt(3.0) * std, g);
  return nb_normal_(t, 0.0, std, g);
}

static nb_status xavier(const char *op, nb_tensor *t, double gain, bool uniform, nb_generator *g) {
  int64_t fan_in = 0, fan_out = 0;
  nb_status st = check_float(op, t);
  if (st == NB_OK) st = nb__nn_fans(op, t, &fan_in, &fan_out);
  if (st != NB_OK || nb_numel(t) == 0) return st;
  return fill_scaled(t, uniform, gain * sqrt(2.0 / (double)(fan_in + fan_out)), g);
}

nb_status nb_init_xavier_uniform_(nb_tensor *t, double gain, nb_generator *g) {
  return xavier("init_xavier_uniform_", t, gain, true, g);
}

nb_status nb_init_xavier_normal_(nb_tensor *t, double gain, nb_generator *g) {
  return xavier("init_xavier_normal_", t, gain, false, g);
}

static nb_status kaiming(const char *op, nb_tensor *t, double a, nb_fan_mode mode,
                         const char *nonlinearity, bool uniform, nb_generator *g) {
  int64_t fans[NB_FAN_MODE_COUNT] = {0, 0};
  nb_status st = check_float(op, t);
  if (st == NB_OK && (mode < 0 || mode >= NB_FAN_MODE_COUNT))
    st = nb_set_error(NB_ERR_ARG, "%s: invalid fan mode %d", op, (int)mode);
  if (st == NB_OK) st = nb__nn_fans(op, t, &fans[NB_FAN_IN], &fans[NB_FAN_OUT]);
  if (st != NB_OK) return st;
  double gain = nb_calculate_gain(nonlinearity ? nonlinearity : "leaky_relu", a);
  if (isnan(gain)) return nb__nn_prefix_error(op);
  if (nb_numel(t) == 0) return NB_OK; /* PyTorch: initializing zero-element tensors is a no-op */
  return fill_scaled(t, uniform, gain / sqrt((double)fans[mode]), g);
}

nb_status nb_init_kaiming_uniform_(nb_tensor *t, double a, nb_fan_mode mode,
                                   const char *nonlinearity, nb_generator *g) {
  return kaiming("init_kaiming_uniform_", t, a, mode, nonlinearity, true, g);
}

nb_status nb_init_kaiming_normal_(nb_tensor *t, double a, nb_fan_mode mode,
                                  const char *nonlinearity, nb_generator *g) {
  return kaiming("init_kaiming_normal_", t, a, mode, nonlinearity, false, g);
}

nb_status nb__nn_init_affine(nb_tensor *weight, nb_tensor *bias, nb_generator *g) {
  nb_status st = nb_init_kaiming_uniform_(weight, sqrt(5.0), NB_FAN_IN, "leaky_relu", g);
  if (st != NB_OK || !bias) return st;
  int64_t fan_in = 0, fan_out = 0;
  st = nb__nn_fans("init_affine", weight, &fan_in, &fan_out);
  if (st != NB_OK) return st;
  double bound = fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0.0;
  return nb_init_uniform_(bias, -bound, bound, g);
}

/* ---- writing computed values --------------------------------------------------------- */

/* Copy n doubles (row-major over t's shape) into t, converting to its dtype. */
static nb_status write_values(const char *op, nb_tensor *t, const double *v) {
  nb_tensor *src = nb_from_data(NB_DTYPE_FLOAT64, v, nb_ndim(t), nb_shape(t));
  nb_status st = src ? nb_copy_(t, src) : nb_last_status();
  nb_free(src);
  return st != NB_OK ? nb__nn_prefix_error(op) : NB_OK;
}

static double *alloc_doubles(const char *op, int64_t n) {
  double *p =
      (uint64_t)n <= SIZE_MAX / sizeof(double) ? malloc((size_t)(n ? n : 1) * sizeof *p) : NULL;
  if (!p) nb_set_error(NB_ERR_MEMORY, "%s: out of memory for %lld values", op, (long long)n);
  return p;
}

/* ---- orthogonal ------------------------------------------------------------------------- */

/* Householder QR of a (m x n, row-major, m >= n), overwritten: on return q
 * (m x n) holds the reduced Q with each column multiplied by the sign of
 * R's diagonal entry, so that R's diagonal is positive (torch's sign fix). v
 * is scratch of m x n. */
static void householder_q(double *a, double *q, double *v, int64_t m, int64_t n) {
  for (int64_t k = 0; k < n; k++) {
    double norm = 0;
    for (int64_t i = k; i < m; i++) norm += a[i * n + k] * a[i * n + k];
    norm = sqrt(norm);
    double alpha = a[k * n + k] > 0 ? -norm : norm;
    double *vk = v + k * m; /* reflector k, entries k..m-1 used */
    double vnorm = 0;
    for (int64_t i = k; i < m; i++) {
      vk[i] = a[i * n + k] - (i == k ? alpha : 0.0);
      vnorm += vk[i] * vk[i];
    }
    vnorm = sqrt(vnorm);
    for (int64_t i = k; i < m; i++) vk[i] = vnorm > 0 ? vk[i] / vnorm : 0.0;
    for (int64_t j = k; j < n; j++) { /* a[k:, j] -= 2 v (v . a[k:, j]) */
      double dot = 0;
      for (int64_t i = k; i < m; i++) dot += vk[i] * a[i * n + j];
      for (int64_t i = k; i < m; i++) a[i * n + j] -= 2 * dot * vk[i];
    }
  }
  for (int64_t i = 0; i < m * n; i++) q[i] = 0;
  for (int64_t i = 0; i < n; i++) q[i * n + i] = 1;
  for (int64_t k = n - 1; k >= 0; k--) { /* Q = H_0 ... H_{n-1} I */
    const double *vk = v + k * m;
    for (int64_t j = 0; j < n; j++) {
      double dot = 0;
      for (int64_t i = k; i < m; i++) dot += vk[i] * q[i * n + j];
      for (int64_t i = k; i < m; i++) q[i * n + j] -= 2 * dot * vk[i];
    }
  }
  for (int64_t j = 0; j < n; j++)
    if (a[j * n + j] < 0)
      for (int64_t i = 0; i < m; i++) q[i * n + j] = -q[i * n + j];
}

nb_status nb_init_orthogonal_(nb_tensor *t, double gain, nb_generator *g) {
  static const char op[] = "init_orthogonal_";
  nb_status st = check_float(op, t);
  if (st != NB_OK) return st;
  if (nb_ndim(t) < 2)
    return nb_set_error(NB_ERR_SHAPE, "%s: needs a tensor of at least 2 dims, got %s", op,
                        nb__nn_shp(t));
  int64_t numel = nb_numel(t);
  if (numel == 0) return NB_OK;
  int64_t rows = nb_size(t, 0), cols = numel / rows;
  bool wide = rows < cols; /* factor the transpose so that m >= n */
  int64_t m = wide ? cols : rows, n = wide ? rows : cols;
  nb_tensor *draw = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(rows, cols), g);
  double *buf = alloc_doubles(op, numel), *a = alloc_doubles(op, numel),
         *q = alloc_doubles(op, numel), *v = alloc_doubles(op, numel);
  st = draw && buf && a && q && v ? nb_copy_out(draw, NB_DTYPE_FLOAT64, buf, numel)
                                  : nb_last_status();
  if (st == NB_OK) {
    for (int64_t i = 0; i < rows; i++) /* a = draw (or its transpose), m x n */
      for (int64_t j = 0; j < cols; j++) a[wide ? j * n + i : i * n + j] = buf[i * cols + j];
    householder_q(a, q, v, m, n);
    for (int64_t i = 0; i < rows; i++)
      for (int64_t j = 0; j < cols; j++) buf[i * cols + j] = gain * q[wide ? j * n + i : i * n + j];
    st = write_values(op, t, buf);
  }
  nb_free(draw);
  free(buf);
  free(a);
  free(q);
  free(v);
  return st;
}

/* ---- truncated normal --------------------------------------------------------------------- */

static double normal_cdf(double x) { return 0.5 * erfc(-x / SQRT2); }

/* The standard normal quantile: Acklam's rational approximation refined by
 * one Halley step on erfc, accurate to about 1e-15. */
static double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  if (p <= 0) return -INFINITY;
  if (p >= 1) return INFINITY;
  double x;
  if (p < 0.02425 || p > 1 - 0.02425) {
    double r = sqrt(-2 * log(p < 0.5 ? p : 1 - p));
    x = (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) /
        ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1);
    if (p > 0.5) x = -x;
  } else {
    double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  double e = normal_cdf(x) - p;
  double u = e * SQRT_2PI * exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

/* torch.nn.init.trunc_normal_: inverse-CDF sampling of N(mean, std) restricted
 * to [a, b], then clamped to [a, b]. An interval above the mean is sampled in
 * the mirrored lower tail, where the CDF keeps its precision. */
nb_status nb_init_trunc_normal_(nb_tensor *t, double mean, double std, double a, double b,
                                nb_generator *g) {
  static const char op[] = "init_trunc_normal_";
  nb_status st = check_float(op, t);
  if (st != NB_OK) return st;
  if (!(std > 0) || !isfinite(std) || !isfinite(mean))
    return nb_set_error(NB_ERR_ARG, "%s: std %g must be positive and finite (mean %g)", op, std,
                        mean);
  if (!(a < b)) return nb_set_error(NB_ERR_ARG, "%s: bounds [%g, %g] are empty", op, a, b);
  int64_t numel = nb_numel(t);
  if (numel == 0) return NB_OK;
  double lo = (a - mean) / std, hi = (b - mean) / std;
  bool mirror = lo > 0;
  double plo = normal_cdf(mirror ? -hi : lo), phi = normal_cdf(mirror ? -lo : hi);
  nb_tensor *u = nb_uniform(NB_DTYPE_FLOAT64, nb_ndim(t), nb_shape(t), plo, phi, g);
  double *v = u ? alloc_doubles(op, numel) : NULL;
  st = v ? nb_copy_out(u, NB_DTYPE_FLOAT64, v, numel) : nb_last_status();
  if (st == NB_OK) {
    for (int64_t i = 0; i < numel; i++) {
      double z = normal_quantile(v[i]);
      double x = mean + std * (mirror ? -z : z);
      v[i] = x < a ? a : x > b ? b : x;
    }
    st = write_values(op, t, v);
  }
  nb_free(u);
  free(v);
  return st;
}
