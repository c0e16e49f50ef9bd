/* tests/autograd/test_ag_conv.c - autograd convolutions vs PyTorch.
 *
 * Sweeps tests/fixtures/ag_conv.txt (tools/fixtures/gen_ag_conv.py): conv1d,
 * conv2d, conv_transpose1d/2d with stride, padding, dilation, groups,
 * depthwise, 1x1, non-square kernels, bias / no bias, unbatched and
 * non-contiguous inputs: output, gradients for input, weight and bias, and
 * for part of the cases the double backward (gradients of <gx, vx> + <gw, vw>
 * with gx, gw taken with create_graph). Then gradcheck / gradgradcheck of
 * configurations the table-driven test does not sample (1-D, 1x1, unbatched,
 * output_padding past the stride), and error paths.
 */
#include <string.h>

#include "autograd/autograd.h"
#include "support/nbtest.h"

TestSuite(ag_conv, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

enum { OP_C1, OP_C2, OP_T1, OP_T2 };

typedef struct conv_call {
  int op;
  nb_conv_transpose2d_opts o; /* 1-D ops read index 0 */
} conv_call;

static nb_tensor *call(const conv_call *c, nb_tensor *x, nb_tensor *w, nb_tensor *b) {
  const nb_conv_transpose2d_opts *o = &c->o;
  nb_conv2d_opts o2 = {{o->stride[0], o->stride[1]},
                       {o->padding[0], o->padding[1]},
                       {o->dilation[0], o->dilation[1]},
                       o->groups};
  switch (c->op) {
  case OP_C1:
    return nb_conv1d(x, w, b,
                     &(nb_conv1d_opts){o->stride[0], o->padding[0], o->dilation[0], o->groups});
  case OP_C2: return nb_conv2d(x, w, b, &o2);
  case OP_T1:
    return nb_conv_transpose1d(x, w, b,
                               &(nb_conv_transpose1d_opts){o->stride[0], o->padding[0],
                                                           o->output_padding[0], o->dilation[0],
                                                           o->groups});
  default: return nb_conv_transpose2d(x, w, b, o);
  }
}

static conv_call read_call(const nbt_case *c) {
  conv_call r = {.op = (int)nbt_case_param(c, "op")};
  nbt_case_param_ints(c, "stride", r.o.stride, 2);
  nbt_case_param_ints(c, "padding", r.o.padding, 2);
  nbt_case_param_ints(c, "dilation", r.o.dilation, 2);
  nbt_case_param_ints(c, "output_padding", r.o.output_padding, 2);
  r.o.groups = (int64_t)nbt_case_param(c, "groups");
  return r;
}

static void check(const nbt_case *c, const char *name, nb_tensor *t, bool f32) {
  nbt_case_check(c, name, t, f32 ? 2e-5 : 1e-10, f32 ? 2e-5 : 1e-11);
}

/* The sum of a * b over all elements (differentiable). */
static nb_tensor *dot_all(nb_tensor *a, nb_tensor *b) {
  return nb_sum(nb_mul(a, b), NB_ALL_DIMS, false);
}

static void run_case(const nbt_case *c) {
  nb_scope_begin();
  conv_call cc = read_call(c);
  bool xt = nbt_case_param(c, "x_t") != 0;
  nb_tensor *leaf = nbt_case_tensor(c, "x"), *w = nbt_case_tensor(c, "w");
  nb_tensor *b = nbt_case_has_tensor(c, "bias") ? nbt_case_tensor(c, "bias") : NULL;
  bool f32 = nb_dtype_of(leaf) == NB_DTYPE_FLOAT32;
  nb_requires_grad_(leaf, true);
  nb_requires_grad_(w, true);
  if (b) nb_requires_grad_(b, true);
  nb_tensor *x = xt ? nb_transpose(leaf, -1, -2) : leaf; /* non-contiguous view */
  nb_tensor *out = call(&cc, x, w, b);
  cr_assert_not_null(out, "%s: %s", nbt_case_name(c), nb_errmsg());
  cr_assert_str_eq(nb_grad_fn_name(out), cc.op <= OP_C2 ? "conv" : "conv_transpose");
  check(c, "out", out, f32);
  nb_tensor *gout = nbt_case_tensor(c, "gout");
  /* first order: backward into the leaves' .grad */
  nb_backward_opts bo = {.grad_output = gout, .keep_graph = true};
  nbt_assert_ok(nb_backward_ex(out, &bo), nbt_case_name(c));
  nb_tensor *gx = nb_grad_of(leaf);
  check(c, "gx", xt ? nbk_transpose(gx, -1, -2) : gx, f32);
  check(c, "gw", nb_grad_of(w), f32);
  if (b) check(c, "gbias", nb_grad_of(b), f32);
  if (nbt_case_param(c, "second") != 0) {
    nb_zero_grad(leaf, true);
    nb_zero_grad(w, true);
    nb_tensor *g[2] = {NULL, NULL};
    nb_grad_opts go = {.grad_outputs = (nb_tensor *[]){gout}, .create_graph = true};
    nbt_assert_ok(nb_grad((nb_tensor *[]){out}, 1, (nb_tensor *[]){x, w}, 2, g, &go), "grad");
    check(c, "gx", g[0], f32);
    check(c, "gw", g[1], f32);
    nb_tensor *s =
        nb_add(dot_all(g[0], nbt_case_tensor(c, "vx")), dot_all(g[1], nbt_case_tensor(c, "vw")));
    nbt_assert_ok(nb_backward(s), "double backward");
    gx = nb_grad_of(leaf);
    cr_assert_not_null(gx, "%s: no second-order gradient for x", nbt_case_name(c));
    check(c, "ggx", xt ? nbk_transpose(gx, -1, -2) : gx, f32);
    check(c, "ggw", nb_grad_of(w), f32);
    nb_free(g[0]);
    nb_free(g[1]);
  }
  nb_scope_end();
}

Test(ag_conv, fixtures_vs_pytorch) {
  nbt_fixture *f = nbt_fixture_load("ag_conv");
  int n = nbt_fixture_num_cases(f);
  cr_assert_geq(n, 40);
  for (int i = 0; i < n; i++) run_case(nbt_fixture_case_index(f, i));
  nbt_fixture_free(f);
}

/* ---- gradcheck of configurations beyond the op table's samples ---------------- */

typedef struct gc_case {
  conv_call c;
  int wgrad_k; /* > 0: check nb_conv1d/2d_weight_grad(x, g) instead */
} gc_case;

static nb_tensor *gc_fn(nb_tensor *const *in, int n, void *user) {
  const gc_case *g = user;
  if (g->wgrad_k > 0) {
    nb_conv2d_opts o2 = {{g->c.o.stride[0], g->c.o.stride[1]},
                         {g->c.o.padding[0], g->c.o.padding[1]},
                         {g->c.o.dilation[0], g->c.o.dilation[1]},
                         g->c.o.groups};
    nb_conv1d_opts o1 = {g->c.o.stride[0], g->c.o.padding[0], g->c.o.dilation[0], g->c.o.groups};
    return g->c.op == OP_C1 ? nb_conv1d_weight_grad(in[0], in[1], g->wgrad_k, &o1)
                            : nb_conv2d_weight_grad(in[0], in[1], g->wgrad_k, g->wgrad_k, &o2);
  }
  return call(&g->c, in[0], in[1], n == 3 ? in[2] : NULL);
}

static void gradcheck_both(gc_case *g, int n, const int64_t *const *shapes, const int *ndims,
                           const char *what) {
  nb_scope_begin();
  nb_manual_seed(99);
  nb_tensor *in[3];
  for (int i = 0; i < n; i++) {
    in[i] = nb_randn(NB_DTYPE_FLOAT64, ndims[i], shapes[i], NULL);
    nb_requires_grad_(in[i], true);
  }
  nb_status st = nb_gradcheck(gc_fn, in, n, g, NULL);
  cr_assert_eq(st, NB_OK, "gradcheck %s: %s", what, nb_errmsg());
  st = nb_gradgradcheck(gc_fn, in, n, g, NULL);
  cr_assert_eq(st, NB_OK, "gradgradcheck %s: %s", what, nb_errmsg());
  nb_scope_end();
}

#define SHAPES(...)                                                                                \
  (const int64_t *const[]) { __VA_ARGS__ }
#define S(...)                                                                                     \
  (const int64_t[]) { __VA_ARGS__ }

Test(ag_conv, gradcheck_conv1d) {
  gc_case g = {{OP_C1, {.stride = {2}, .padding = {1}, .dilation = {2}, .groups = 2}}, 0};
  gradcheck_both(&g, 3, SHAPES(S(2, 4, 9), S(6, 2, 3), S(6)), (int[]){3, 3, 1}, "conv1d");
}

Test(ag_conv, gradcheck_conv_transpose1d) {
  gc_case g = {{OP_T1, {.stride = {2}, .padding = {1}, .output_padding = {1}, .groups = 2}}, 0};
  gradcheck_both(&g, 3, SHAPES(S(2, 4, 4), S(4, 2, 3), S(4)), (int[]){3, 3, 1}, "conv_t1d");
}

Test(ag_conv, gradcheck_conv1d_weight_grad) {
  gc_case g = {{OP_C1, {.stride = {2}, .padding = {1}}}, 3};
  gradcheck_both(&g, 2, SHAPES(S(2, 3, 8), S(2, 4, 4)), (int[]){3, 3}, "conv1d_weight_grad");
}

Test(ag_conv, gradcheck_pointwise_unbatched) {
  gc_case g = {{OP_C2, {.groups = 2}}, 0}; /* 1x1 kernel: no im2col */
  gradcheck_both(&g, 3, SHAPES(S(4, 3, 3), S(6, 2, 1, 1), S(6)), (int[]){3, 4, 1}, "1x1");
  gc_case t = {{.op = OP_T2}, 0};
  gradcheck_both(&t, 2, SHAPES(S(1, 4, 3, 2), S(4, 3, 1, 1)), (int[]){4, 4}, "1x1 transpose");
  gc_case w = {{.op = OP_C2}, 1};
  gradcheck_both(&w, 2, SHAPES(S(2, 3, 3, 2), S(2, 4, 3, 2)), (int[]){4, 4}, "1x1 weight grad");
}

Test(ag_conv, gradcheck_depthwise_transpose_dilated_output_padding) {
  /* output_padding 2 >= stride 1 (allowed by dilation 3): crop and zero-pad paths */
  gc_case g = {
      {OP_T2, {.dilation = {3, 3}, .padding = {1, 0}, .output_padding = {2, 1}, .groups = 3}}, 0};
  gradcheck_both(&g, 2, SHAPES(S(1, 3, 3, 2), S(3, 1, 2, 2)), (int[]){4, 4}, "transpose");
}

/* ---- modes and errors --------------------------------------------------------------- */

Test(ag_conv, no_grad_records_nothing) {
  nb_scope_begin();
  nb_tensor *x = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(1, 2, 4, 4));
  nb_tensor *w = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3, 2, 3, 3));
  nb_requires_grad_(w, true);
  nb_no_grad_begin();
  nb_tensor *y = nb_conv2d(x, w, NULL, NULL);
  nb_no_grad_end();
  cr_assert_not_null(y);
  cr_assert_null(nb_grad_fn_name(y));
  cr_assert(!nb_requires_grad(y));
  double want[12];
  for (int i = 0; i < 12; i++) want[i] = 18;
  nbt_assert_values(y, want, 12, 0, 0, "ones conv ones");
  nb_scope_end();
}

static void expect_err(nb_tensor *t, const char *op, const char *detail) {
  cr_assert_null(t, "%s: expected an error", op);
  cr_assert(strstr(nb_errmsg(), op), "message lacks %s: %s", op, nb_errmsg());
  if (detail) cr_assert(strstr(nb_errmsg(), detail), "message lacks '%s': %s", detail, nb_errmsg());
}

Test(ag_conv, errors) {
  nb_scope_begin();
  nb_tensor *x = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(1, 3, 8, 8));
  nb_tensor *w = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(4, 2, 3, 3));
  nb_requires_grad_(w, true);
  expect_err(nb_conv2d(x, w, NULL, NULL), "conv2d",
             "input [1, 3, 8, 8] has 3 channels but weight [4, 2, 3, 3] expects 2 x groups 1");
  expect_err(nb_conv1d(x, w, NULL, NULL), "conv1d", "input [1, 3, 8, 8]");
  expect_err(nb_conv_transpose2d(x, w, NULL, &(nb_conv_transpose2d_opts){.stride = {-1, 1}}),
             "conv_transpose2d", "stride");
  expect_err(nb_conv_transpose1d(nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(1, 3, 8)),
                                 nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3, 2, 3)), NULL,
                                 &(nb_conv_transpose1d_opts){.output_padding = 1}),
             "conv_transpose1d", "output_padding");
  expect_err(nb_conv2d_weight_grad(x, nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(1, 4, 5, 5)), 3, 3, NULL),
             "conv2d_weight_grad", "spatial size 6 x 6");
  nb_set_error(NB_ERR_INDEX, "earlier failure");
  cr_assert_null(nb_conv2d(NULL, w, NULL, NULL));
  cr_assert(strstr(nb_errmsg(), "earlier failure"));
  nb_scope_end();
}
