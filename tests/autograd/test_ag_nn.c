/* tests/autograd/test_ag_nn.c - differentiable network primitives vs PyTorch.
 *
 * Sweeps every case of tests/fixtures/ag_nn.txt (tools/fixtures/gen_ag_nn.py):
 * forward value and the gradients of (out * gout).sum() for every leaf,
 * float32 and float64, contiguous and transposed inputs, and batch_norm's
 * running stats after one step. Plus: dropout's mask semantics (Bernoulli
 * draws from the generator, 1 / (1 - p) scaling, the same mask in backward,
 * eval identity), error paths, gradchecks (first and second order) of the
 * composites, and second derivatives through max_pool2d.
 */
#include <math.h>
#include <string.h>

#include "autograd/autograd.h"
#include "support/nbtest.h"

TestSuite(ag_nn, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

enum { OP_MAX, OP_AVG, OP_ADAPTIVE, OP_INTERP, OP_EMB, OP_LN, OP_BN, OP_GN };

static const nbt_tols tols = {2e-5, 2e-6, 1e-10, 1e-12};

/* Inputs: x (w for embedding, the table) with the optional weight and bias;
 * x_t: x is seen transposed; prescale: the op sees 3 x + 1. Batch norm's
 * running stats are checked here, after the step. */
static nb_tensor *run_nn(const nbt_case *c, nb_tensor **in) {
  int op = (int)nbt_case_param(c, "op");
  if (op == OP_EMB) {
    nb_embedding_opts o = {0};
    if (nbt_case_has_param(c, "padding_idx"))
      o = (nb_embedding_opts){true, (int64_t)nbt_case_param(c, "padding_idx")};
    return nb_embedding(in[1], nbt_case_tensor(c, "indices"), &o);
  }
  nb_tensor *x = in[0], *w = in[2], *b = in[3];
  int nd = nb_ndim(x);
  nb_tensor *xv = nbt_case_param(c, "x_t") != 0 ? nb_transpose(x, nd - 2, nd - 1) : x;
  if (nbt_case_has_param(c, "prescale")) xv = nb_add_scalar(nb_mul_scalar(xv, 3), 1);
  if (op == OP_MAX || op == OP_AVG) {
    nb_pool2d_opts o;
    nbt_case_pool2d_opts(c, op == OP_MAX, &o);
    if (op == OP_AVG) return nb_avg_pool2d(xv, &o);
    nb_tensor *idx = NULL, *out = nb_max_pool2d(xv, &o, &idx);
    cr_assert_not_null(idx, "%s: %s", nbt_case_name(c), nb_errmsg());
    nbt_case_check(c, "indices", idx, 0, 0);
    return out;
  }
  if (op == OP_ADAPTIVE) {
    int64_t size[2];
    nbt_case_param_ints_n(c, "size", size, 2);
    return nb_adaptive_avg_pool2d(xv, size[0], size[1]);
  }
  if (op == OP_INTERP) {
    nb_interp_opts o = {.mode = (nb_interp_mode)nbt_case_param(c, "mode"),
                        .align_corners = nbt_case_param(c, "align_corners") != 0};
    nbt_case_param_ints_n(c, "size", o.size, 2);
    nbt_case_param_doubles(c, "scale", o.scale_factor, 2);
    return nb_interpolate(xv, &o);
  }
  if (op == OP_LN) {
    int64_t ns[NB_MAX_DIMS];
    int n = nbt_case_param_ints(c, "nshape", ns, NB_MAX_DIMS);
    return nb_layer_norm(xv, n, ns, w, b, nbt_case_param(c, "eps"));
  }
  if (op == OP_GN)
    return nb_group_norm(xv, (int64_t)nbt_case_param(c, "groups"), w, b, nbt_case_param(c, "eps"));
  nb_tensor *rm = nbt_case_has_tensor(c, "rm") ? nbt_case_tensor(c, "rm") : NULL;
  nb_tensor *rv = nbt_case_has_tensor(c, "rv") ? nbt_case_tensor(c, "rv") : NULL;
  nb_batch_norm_opts o = {.training = nbt_case_param(c, "training") != 0,
                          .momentum = nbt_case_param(c, "momentum"),
                          .eps = nbt_case_param(c, "eps")};
  uint64_t v0 = rm ? nb_version(rm) : 0;
  nb_tensor *out = nb_batch_norm(xv, rm, rv, w, b, &o);
  if (rm)
    cr_assert_eq(nb_version(rm) != v0, o.training, "%s: running_mean version", nbt_case_name(c));
  if (rm && out) {
    bool f32 = nb_dtype_of(out) == NB_DTYPE_FLOAT32;
    nbt_case_check(c, "rm_after", rm, f32 ? tols.rtol32 : tols.rtol64,
                   f32 ? tols.atol32 : tols.atol64);
    nbt_case_check(c, "rv_after", rv, f32 ? tols.rtol32 : tols.rtol64,
                   f32 ? tols.atol32 : tols.atol64);
  }
  return out;
}

static const nbt_grad_input inputs[] = {
    {"x", "gx", NULL}, {"w", "gw", NULL}, {"weight", "gweight", NULL}, {"bias", "gbias", NULL}};

Test(ag_nn, fixtures_vs_pytorch) {
  const nbt_grad_spec spec = {inputs, 4, "gout", tols, run_nn};
  cr_assert_gt(nbt_check_grad_cases("ag_nn", &spec), 60);
}

/* ---- dropout ------------------------------------------------------------------------ */

Test(ag_nn, dropout_mask_semantics) {
  nb_scope_begin();
  const int64_t n = 20000;
  const double p = 0.3;
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(100, n / 100), NULL);
  nb_requires_grad_(x, true);
  nb_generator *g = nb_generator_new(42);
  nb_tensor *y = nb_dropout(x, p, true, g);
  cr_assert_not_null(y, "%s", nb_errmsg());
  nbt_assert_shape(y, NB_SHAPE(100, n / 100), "dropout");
  /* The mask is exactly Bernoulli(1 - p) from the same generator state, scaled. */
  nb_generator_seed(g, 42);
  nb_tensor *keep = nb_bernoulli(NB_DTYPE_FLOAT64, NB_SHAPE(100, n / 100), 1 - p, g);
  nb_tensor *expect = nbk_mul(x, nbk_mul_scalar(keep, 1 / (1 - p)));
  nbt_assert_close(y, expect, 1e-15, 0, "dropout = x * mask / (1 - p)");
  double kept = nb_item(nbk_sum(keep, NB_ALL_DIMS, false)) / (double)n;
  cr_assert(fabs(kept - (1 - p)) < 0.02, "kept fraction %g, expected about %g", kept, 1 - p);
  /* Backward multiplies by the same scaled mask. */
  nb_tensor *go = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(100, n / 100), NULL);
  cr_assert_eq(nb_backward_ex(y, &(nb_backward_opts){.grad_output = go}), NB_OK, "%s", nb_errmsg());
  nbt_assert_close(nb_grad_of(x), nbk_mul(go, nbk_mul_scalar(keep, 1 / (1 - p))), 1e-15, 0,
                   "dropout gradient");
  /* Same seed, same mask; another seed, another mask. */
  nb_generator_seed(g, 42);
  nb_tensor *y2 = nb_dropout(x, p, true, g);
  cr_assert(nb_equal(y, y2), "a seeded generator must reproduce the mask");
  nb_tensor *y3 = nb_dropout(x, p, true, g);
  cr_assert(!nb_equal(y, y3), "the generator must advance");
  nb_generator_free(g);
  nb_scope_end();
}

Test(ag_nn, dropout_identity_and_extremes) {
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(4, 5), NULL);
  nb_requires_grad_(x, true);
  nb_tensor *ev = nb_dropout(x, 0.5, false, NULL);
  cr_assert_not_null(ev);
  cr_assert(ev != x, "eval dropout returns a new reference");
  cr_assert(nb_equal(ev, x) && nb_shares_storage(ev, x), "eval dropout is an identity view");
  nb_tensor *z = nb_dropout(x, 0.0, true, NULL);
  cr_assert(nb_equal(z, x), "p = 0 keeps everything");
  nb_tensor *all = nb_dropout(x, 1.0, true, NULL);
  cr_assert(nb_equal(all, nb_zeros_like(x, NB_DTYPE_COUNT)), "p = 1 drops everything");
  nb_tensor *s = nb_add(nb_sum(ev, NB_ALL_DIMS, false), nb_sum(all, NB_ALL_DIMS, false));
  cr_assert_eq(nb_backward(s), NB_OK, "%s", nb_errmsg());
  cr_assert(nb_equal(nb_grad_of(x), nb_ones_like(x, NB_DTYPE_COUNT)),
            "eval passes the gradient, p = 1 blocks it");
  /* errors */
  cr_assert_null(nb_dropout(x, 1.5, true, NULL));
  cr_assert(strstr(nb_errmsg(), "dropout") && strstr(nb_errmsg(), "1.5"), "%s", nb_errmsg());
  cr_assert_null(nb_dropout(x, NAN, true, NULL));
  cr_assert_null(nb_dropout(nb_zeros(NB_DTYPE_INT64, NB_SHAPE(3)), 0.5, true, NULL));
  cr_assert(strstr(nb_errmsg(), "int64"), "%s", nb_errmsg());
  nb_scope_end();
}

/* ---- errors ------------------------------------------------------------------------------ */
Test(ag_nn, errors) {
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(2, 4, 3, 3), NULL);
  nb_tensor *c4 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4));
  nb_tensor *c3 = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3));
  /* pools: wrappers check options; kernels' errors come through */
  nbt_expect_null(nb_max_pool2d(x, NULL, NULL), NB_ERR_ARG, "max_pool2d", "kernel");
  nbt_expect_null(nb_avg_pool2d(x, NULL), NB_ERR_ARG, "avg_pool2d", "kernel");
  nbt_expect_null(nb_interpolate(x, NULL), NB_ERR_ARG, "interpolate", "size");
  nbt_expect_null(nb_avg_pool2d(x, &(nb_pool2d_opts){.kernel = {4, 4}}), NB_ERR_SHAPE, "avg_pool2d",
                  "too small");
  nbt_expect_null(nb_adaptive_avg_pool2d(c4, 2, 2), NB_ERR_SHAPE, "adaptive_avg_pool2d", "[4]");
  /* embedding */
  nb_tensor *w = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(5, 2), NULL);
  nb_tensor *bad = nb_from_data(NB_DTYPE_INT64, (int64_t[]){1, 7, 0}, NB_SHAPE(3));
  nbt_expect_null(nb_embedding(w, bad, NULL), NB_ERR_INDEX, "embedding", "index 7");
  nb_tensor *neg = nb_from_data(NB_DTYPE_INT64, (int64_t[]){-1}, NB_SHAPE(1));
  nbt_expect_null(nb_embedding(w, neg, NULL), NB_ERR_INDEX, "embedding", "-1");
  nb_tensor *ok = nb_from_data(NB_DTYPE_INT64, (int64_t[]){1, 4}, NB_SHAPE(2));
  nbt_expect_null(nb_embedding(w, ok, &(nb_embedding_opts){true, 5}), NB_ERR_INDEX, "embedding",
                  "padding_idx 5");
  nbt_expect_null(nb_embedding(c4, ok, NULL), NB_ERR_SHAPE, "embedding", "[4]");
  nbt_expect_null(nb_embedding(w, c4, NULL), NB_ERR_DTYPE, "embedding", "float32");
  /* layer_norm */
  nbt_expect_null(nb_layer_norm(x, 1, (int64_t[]){4}, NULL, NULL, 0), NB_ERR_SHAPE, "layer_norm",
                  "[4]");
  nbt_expect_null(nb_layer_norm(x, 5, (int64_t[]){2, 4, 3, 3, 1}, NULL, NULL, 0), NB_ERR_SHAPE,
                  "layer_norm", "5 dims");
  nbt_expect_null(nb_layer_norm(x, 1, (int64_t[]){3}, c4, NULL, 0), NB_ERR_SHAPE, "layer_norm",
                  "weight");
  /* batch_norm */
  nbt_expect_null(nb_batch_norm(x, NULL, NULL, NULL, NULL, NULL), NB_ERR_ARG, "batch_norm",
                  "eval mode");
  nbt_expect_null(nb_batch_norm(x, c4, NULL, NULL, NULL, NULL), NB_ERR_ARG, "batch_norm", "both");
  nbt_expect_null(nb_batch_norm(x, c3, c3, NULL, NULL, NULL), NB_ERR_SHAPE, "batch_norm",
                  "running_mean");
  nbt_expect_null(nb_batch_norm(x, NULL, NULL, NULL, c3, &(nb_batch_norm_opts){.training = true}),
                  NB_ERR_SHAPE, "batch_norm", "bias");
  nb_tensor *one = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(1, 4), NULL);
  nbt_expect_null(nb_batch_norm(one, c4, c4, NULL, NULL, &(nb_batch_norm_opts){.training = true}),
                  NB_ERR_SHAPE, "batch_norm", "more than 1 value");
  nbt_expect_null(
      nb_batch_norm(c4, NULL, NULL, NULL, NULL, &(nb_batch_norm_opts){.training = true}),
      NB_ERR_SHAPE, "batch_norm", "[4]");
  /* group_norm */
  nbt_expect_null(nb_group_norm(x, 3, NULL, NULL, 0), NB_ERR_ARG, "group_norm", "3 groups");
  nbt_expect_null(nb_group_norm(x, 0, NULL, NULL, 0), NB_ERR_ARG, "group_norm", "0 groups");
  nbt_expect_null(nb_group_norm(x, 2, c3, NULL, 0), NB_ERR_SHAPE, "group_norm", "weight");
  nbt_expect_null(nb_group_norm(nb_zeros(NB_DTYPE_INT64, NB_SHAPE(2, 4)), 2, NULL, NULL, 0),
                  NB_ERR_DTYPE, "group_norm", "int64");
  /* NULL in -> NULL out, keeping the first error. */
  nb_set_error(NB_ERR_IO, "earlier failure");
  cr_assert_null(nb_max_pool2d(NULL, &(nb_pool2d_opts){.kernel = {2, 2}}, NULL));
  cr_assert_null(nb_adaptive_avg_pool2d(NULL, 1, 1));
  cr_assert_null(nb_layer_norm(NULL, 1, (int64_t[]){3}, NULL, NULL, 0));
  cr_assert_null(nb_batch_norm(NULL, NULL, NULL, NULL, NULL, NULL));
  cr_assert_null(nb_group_norm(NULL, 1, NULL, NULL, 0));
  cr_assert_null(nb_embedding(w, NULL, NULL));
  cr_assert_null(nb_dropout(NULL, 0.5, true, NULL));
  cr_assert(strstr(nb_errmsg(), "earlier failure"), "%s", nb_errmsg());
  nb_scope_end();
}

/* Eval mode leaves the running stats alone; no gradient reaches them. */
Test(ag_nn, batch_norm_eval_keeps_stats) {
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(3, 2, 4), NULL);
  nb_tensor *rm = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2)),
            *rv = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  uint64_t v0 = nb_version(rm), v1 = nb_version(rv);
  nb_tensor *y = nb_batch_norm(x, rm, rv, NULL, NULL, NULL);
  cr_assert_not_null(y, "%s", nb_errmsg());
  cr_assert_eq(nb_version(rm), v0);
  cr_assert_eq(nb_version(rv), v1);
  nbt_assert_close(y, nbk_mul_scalar(x, 1 / sqrt(1 + 1e-5)), 1e-6, 1e-7, "eval with 0 / 1 stats");
  nb_scope_end();
}

/* ---- gradchecks of the composites (float64, second order too) ------------------------- */

typedef struct gc_user {
  int op;
  nb_tensor *idx, *rm, *rv;
  nb_generator *g;
  bool training;
} gc_user;

static nb_tensor *gc_fn(nb_tensor *const *in, int n, void *u) {
  gc_user *c = u;
  switch (c->op) {
  case OP_EMB:
    return nb_embedding(in[0], c->idx, NULL); /* padding rows get no gradient by design */
  case OP_LN: return nb_layer_norm(in[0], 2, (int64_t[]){3, 4}, in[1], in[2], 0);
  case OP_BN: {
    /* fresh running stats every call: the gradcheck calls fn many times */
    nb_tensor *rm = c->rm ? nbk_clone(c->rm) : NULL, *rv = c->rv ? nbk_clone(c->rv) : NULL;
    nb_tensor *y = nb_batch_norm(in[0], rm, rv, in[1], in[2],
                                 &(nb_batch_norm_opts){.training = c->training, .eps = 0.1});
    nb_free(rm);
    nb_free(rv);
    return y;
  }
  case OP_GN: return nb_group_norm(in[0], 2, in[1], in[2], 0.01);
  default: /* dropout with a mask that is the same on every call */
    nb_generator_seed(c->g, 9);
    return nb_dropout(in[0], 0.4, true, c->g);
  }
}

static void gc(gc_user u, nb_tensor *const *in, int n) {
  cr_assert_eq(nb_gradcheck(gc_fn, in, n, &u, NULL), NB_OK, "op %d: %s", u.op, nb_errmsg());
  cr_assert_eq(nb_gradgradcheck(gc_fn, in, n, &u, NULL), NB_OK, "op %d: %s", u.op, nb_errmsg());
}

static nb_tensor *leaf(int ndim, const int64_t *shape) {
  nb_tensor *t = nb_randn(NB_DTYPE_FLOAT64, ndim, shape, NULL);
  nb_requires_grad_(t, true);
  return t;
}

Test(ag_nn, gradcheck_composites) {
  nb_manual_seed(11);
  nb_scope_begin();
  nb_tensor *idx = nb_from_data(NB_DTYPE_INT64, (int64_t[]){0, 2, 3, 3, 2, 1}, NB_SHAPE(2, 3));
  gc((gc_user){.op = OP_EMB, .idx = idx}, (nb_tensor *[]){leaf(NB_SHAPE(4, 3))}, 1);
  gc((gc_user){.op = OP_LN},
     (nb_tensor *[]){leaf(NB_SHAPE(2, 3, 4)), leaf(NB_SHAPE(3, 4)), leaf(NB_SHAPE(3, 4))}, 3);
  nb_tensor *rm = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(3), NULL);
  nb_tensor *rv = nbk_add_scalar(nb_rand(NB_DTYPE_FLOAT64, NB_SHAPE(3), NULL), 0.5);
  nb_tensor *bn_in[] = {leaf(NB_SHAPE(4, 3, 2)), leaf(NB_SHAPE(3)), leaf(NB_SHAPE(3))};
  gc((gc_user){.op = OP_BN, .rm = rm, .rv = rv, .training = true}, bn_in, 3);
  gc((gc_user){.op = OP_BN, .training = true}, bn_in, 3);
  gc((gc_user){.op = OP_BN, .rm = rm, .rv = rv, .training = false}, bn_in, 3);
  gc((gc_user){.op = OP_GN},
     (nb_tensor *[]){leaf(NB_SHAPE(2, 4, 3)), leaf(NB_SHAPE(4)), leaf(NB_SHAPE(4))}, 3);
  nb_generator *g = nb_generator_new(1);
  gc((gc_user){.op = -1, .g = g}, (nb_tensor *[]){leaf(NB_SHAPE(3, 5))}, 1);
  nb_generator_free(g);
  nb_scope_end();
}

/* Double backward through max_pool2d: d/dg <max_pool2d_backward(g), v> gathers v
 * at the argmax; the Hessian in x is zero. */
Test(ag_nn, max_pool2d_double_backward) {
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(1, 2, 4, 4), NULL);
  nb_requires_grad_(x, true);
  nb_tensor *idx = NULL;
  nb_tensor *y = nb_max_pool2d(x, &(nb_pool2d_opts){.kernel = {2, 2}}, &idx);
  nb_tensor *go = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(1, 2, 2, 2), NULL);
  nb_requires_grad_(go, true);
  nb_tensor *gx = NULL;
  cr_assert_eq(nb_grad((nb_tensor *[]){y}, 1, (nb_tensor *[]){x}, 1, &gx,
                       &(nb_grad_opts){.grad_outputs = (nb_tensor *[]){go}, .create_graph = true}),
               NB_OK, "%s", nb_errmsg());
  cr_assert_str_eq(nb_grad_fn_name(gx), "max_pool2d_backward");
  nb_tensor *v = nb_randn(NB_DTYPE_FLOAT64, NB_SHAPE(1, 2, 4, 4), NULL);
  nb_tensor *s = nb_sum(nb_mul(gx, v), NB_ALL_DIMS, false);
  nb_tensor *ggo = NULL;
  cr_assert_eq(nb_grad((nb_tensor *[]){s}, 1, (nb_tensor *[]){go}, 1, &ggo, NULL), NB_OK, "%s",
               nb_errmsg());
  nb_tensor *vflat = nbk_reshape(v, NB_SHAPE(1, 2, 16));
  nb_tensor *expect =
      nbk_reshape(nbk_gather(vflat, 2, nbk_reshape(idx, NB_SHAPE(1, 2, 4))), NB_SHAPE(1, 2, 2, 2));
  nbt_assert_close(ggo, expect, 0, 0, "gradient w.r.t. the incoming gradient");
  nb_free(gx);
  nb_free(ggo);
  nb_scope_end();
}

/* The linear resamplers' backward nodes are their adjoint rows. */
Test(ag_nn, backward_node_names) {
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(1, 1, 4, 4), NULL);
  nb_requires_grad_(x, true);
  cr_assert_str_eq(nb_grad_fn_name(nb_avg_pool2d(x, &(nb_pool2d_opts){.kernel = {2, 2}})),
                   "avg_pool2d");
  cr_assert_str_eq(nb_grad_fn_name(nb_adaptive_avg_pool2d(x, 2, 2)), "adaptive_avg_pool2d");
  cr_assert_str_eq(nb_grad_fn_name(nb_interpolate(x, &(nb_interp_opts){.size = {8, 8}})),
                   "upsample_nearest2d");
  nb_tensor *y = nb_interpolate(x, &(nb_interp_opts){.mode = NB_INTERP_BILINEAR, .size = {8, 8}});
  cr_assert_str_eq(nb_grad_fn_name(y), "upsample_bilinear2d");
  nb_tensor *gx = NULL;
  nb_tensor *go = nb_ones_like(y, NB_DTYPE_COUNT);
  nb_requires_grad_(go, true);
  cr_assert_eq(nb_grad((nb_tensor *[]){y}, 1, (nb_tensor *[]){x}, 1, &gx,
                       &(nb_grad_opts){.grad_outputs = (nb_tensor *[]){go}, .create_graph = true}),
               NB_OK, "%s", nb_errmsg());
  cr_assert_str_eq(nb_grad_fn_name(gx), "upsample_bilinear2d_backward");
  nb_free(gx);
  nb_scope_end();
}
