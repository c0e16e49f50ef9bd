/* tests/optim/test_clip.c - gradient clipping vs PyTorch.
 *
 * The `clip_*` cases of tests/fixtures/optim.txt: clip_grad_norm_ with p = 2,
 * 1, inf and 3, clipping and not, float32 and float64 (total norm and the
 * gradients after), and clip_grad_value_. Then parameters without gradients,
 * -inf, NaN propagation, and the errors.
 */
#include <math.h>
#include <string.h>

#include "nabla.h"
#include "support/nbtest.h"

TestSuite(clip, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

/* Three leaves (shapes [3,4], [5], []) holding the case's gradients g0..g2. */
static void load_grads(const nbt_case *c, nb_tensor **p) {
  for (int i = 0; i < 3; i++) {
    char name[8];
    snprintf(name, sizeof name, "g%d", i);
    nb_tensor *g = nbt_case_tensor(c, name);
    p[i] = nb_zeros_like(g, NB_DTYPE_COUNT);
    nb_requires_grad_(p[i], true);
    nbt_assert_ok(nb_set_grad(p[i], g), "set_grad");
    nb_free(g);
  }
}

static void check_grads(const nbt_case *c, nb_tensor **p) {
  for (int i = 0; i < 3; i++) {
    char name[8];
    snprintf(name, sizeof name, "out%d", i);
    nbt_case_check(c, name, nb_grad_of(p[i]), NBT_TOL_DEFAULT, NBT_TOL_DEFAULT);
  }
}

static void free_params(nb_tensor **p) {
  for (int i = 0; i < 3; i++) nb_free(p[i]);
}

Test(clip, fixtures_vs_pytorch) {
  nbt_fixture *f = nbt_fixture_load("optim");
  int seen = 0;
  for (int k = 0; k < nbt_fixture_num_cases(f); k++) {
    const nbt_case *c = nbt_fixture_case_index(f, k);
    const char *name = nbt_case_name(c);
    if (strncmp(name, "clip_", 5) != 0) continue;
    nb_tensor *p[3];
    load_grads(c, p);
    bool f32 = nb_dtype_of(p[0]) == NB_DTYPE_FLOAT32;
    if (!strncmp(name, "clip_norm", 9)) {
      double total = nb_clip_grad_norm(p, 3, nbt_case_param(c, "max_norm"), nbt_case_param(c, "p"));
      double want = nbt_case_param(c, "total"); /* float32 norms: PyTorch rounds them */
      cr_assert(fabs(total - want) <= (f32 ? 1e-6 : 1e-13) * want, "%s: total %.17g vs %.17g", name,
                total, want);
    } else {
      nbt_assert_ok(nb_clip_grad_value(p, 3, nbt_case_param(c, "clip")), name);
    }
    check_grads(c, p);
    free_params(p);
    seen++;
  }
  cr_assert_eq(seen, 2 * (4 * 2 + 1), "clip cases in the fixture");
  nbt_fixture_free(f);
}

Test(clip, skips_params_without_grads_and_other_norms) {
  double a[4] = {3, -4, 0, 0}, b[2] = {-12, 1};
  nb_tensor *pa = nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(4));
  nb_tensor *pb = nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(2));
  nb_tensor *none = nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(2));
  nb_tensor *p[3] = {pa, none, pb};
  for (int i = 0; i < 3; i++) nb_requires_grad_(p[i], true);
  nb_tensor *ga = nb_from_data(NB_DTYPE_FLOAT64, a, NB_SHAPE(4));
  nb_tensor *gb = nb_from_data(NB_DTYPE_FLOAT64, b, NB_SHAPE(2));
  nb_set_grad(pa, ga);
  nb_set_grad(pb, gb);
  /* -inf: the smallest |g| over all gradients. */
  cr_assert_float_eq(nb_clip_grad_norm(p, 3, 100, -INFINITY), 0.0, 0);
  /* 2-norm: sqrt(9 + 16 + 144 + 1) = 13.038...; scaled to 6.5. */
  double total = nb_clip_grad_norm(p, 3, 6.5, 2);
  cr_assert_float_eq(total, sqrt(170.0), 1e-14);
  double coef = 6.5 / (sqrt(170.0) + 1e-6);
  nbt_assert_values(nb_grad_of(pa), ((double[]){3 * coef, -4 * coef, 0, 0}), 4, 1e-15, 0, "a");
  nbt_assert_values(nb_grad_of(pb), ((double[]){-12 * coef, coef}), 2, 1e-15, 0, "b");
  cr_assert_null(nb_grad_of(none));
  /* No gradients at all: 0, nothing touched. */
  cr_assert_float_eq(nb_clip_grad_norm(&none, 1, 1.0, 2), 0.0, 0);
  cr_assert_float_eq(nb_clip_grad_norm(NULL, 0, 1.0, 2), 0.0, 0);
  /* A NaN gradient makes the norm NaN and (as PyTorch) every gradient NaN. */
  nb_tensor *gn = nb_full(NB_DTYPE_FLOAT64, NB_SHAPE(2), NAN);
  nb_set_grad(none, gn);
  cr_assert(isnan(nb_clip_grad_norm(p, 3, 1.0, 2)));
  cr_assert(isnan(nb_get(nb_grad_of(pa), (const int64_t[]){0})));
  /* clip_grad_value skips params without gradients too. */
  nb_set_grad(none, NULL);
  nb_tensor *gb2 = nb_from_data(NB_DTYPE_FLOAT64, b, NB_SHAPE(2)); /* gb itself became NaN */
  nb_set_grad(pb, gb2);
  nb_free(gb2);
  nbt_assert_ok(nb_clip_grad_value(p, 3, 2.0), "clip_grad_value");
  nbt_assert_values(nb_grad_of(pb), ((double[]){-2, 1}), 2, 0, 0, "clamped");
  nb_free(gn);
  nb_free(ga);
  nb_free(gb);
  nb_free(pa);
  nb_free(pb);
  nb_free(none);
}

Test(clip, errors) {
  nb_tensor *p = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  nb_requires_grad_(p, true);
  cr_assert(isnan(nb_clip_grad_norm(&p, 1, -1, 2)));
  cr_assert_eq(nb_last_status(), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "clip_grad_norm: invalid max_norm -1"), "%s", nb_errmsg());
  cr_assert(isnan(nb_clip_grad_norm(&p, 1, 1, 0)));
  cr_assert(strstr(nb_errmsg(), "invalid norm type p = 0"), "%s", nb_errmsg());
  cr_assert(isnan(nb_clip_grad_norm(&p, 1, 1, -2)));
  cr_assert(isnan(nb_clip_grad_norm(&p, 1, 1, NAN)));
  cr_assert(isnan(nb_clip_grad_norm(NULL, 2, 1, 2)));
  cr_assert(strstr(nb_errmsg(), "bad parameter list"), "%s", nb_errmsg());
  nb_clear_error();
  cr_assert(isnan(nb_clip_grad_norm((nb_tensor *[]){p, NULL}, 2, 1, 2)));
  cr_assert_eq(nb_last_status(), NB_ERR_NULL);
  cr_assert_eq(nb_clip_grad_value(&p, 1, -0.5), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "clip_grad_value: invalid clip value -0.5"), "%s", nb_errmsg());
  cr_assert_eq(nb_clip_grad_value(&p, 1, NAN), NB_ERR_ARG);
  cr_assert_eq(nb_clip_grad_value(NULL, 1, 1), NB_ERR_ARG);
  nb_free(p);
}
