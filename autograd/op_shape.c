/* autograd/op_shape.c - differentiable shape and indexing ops.
 *
 * Owns, side by side per op: forward (nbk_* view or copy), backward
 * (differentiable), gradcheck sample and public wrapper. Composites (flatten,
 * squeeze, unsqueeze, transpose, t, narrow, select, stack) are built from the
 * primitive rows and need no backward of their own.
 */
#include "autograd/op_common.h"

#include <string.h>

/* ---- reshape (also flatten/squeeze/unsqueeze) --------------------------------- */
typedef struct shape_params {
  int ndim;
  int64_t shape[NB_MAX_DIMS];
} shape_params;

static nb_tensor *reshape_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  shape_params *p = vp;
  return nbk_reshape(in[0], p->ndim, p->shape);
}
static nb_status reshape_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_reshape(g, nb_ctx_input_ndim(ctx, 0), nb_ctx_input_shape(ctx, 0));
  return NB_OK;
}
NB_DEFINE_OP_P(reshape, 1, shape_params, 0);
nb_status nb__sample_reshape(nb_op_sample *s) {
  static shape_params p = {2, {3, -1}};
  nb__sample_input(s, true, NB_SHAPE(2, 3, 2));
  NB_SAMPLE_CALL(s, reshape, &p);
  return NB_OK;
}
static shape_params make_shape(int ndim, const int64_t *shape) {
  shape_params p = {.ndim = ndim};
  if (ndim >= 0 && ndim <= NB_MAX_DIMS && shape)
    memcpy(p.shape, shape, sizeof(int64_t) * (size_t)ndim);
  return p;
}
nb_tensor *nb_reshape(nb_tensor *x, int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > NB_MAX_DIMS || (ndim && !shape))
    return nb__fail_null(NB_ERR_SHAPE, "reshape: bad target (%d dims)", ndim);
  shape_params p = make_shape(ndim, shape);
  return nb_apply(&nb__op_reshape, 1, (nb_tensor *[]){x}, &p);
}

/* The composites compute their target shape with the kernel's view (no copy,
 * same validation and errors) and reshape to it. */
static nb_tensor *reshape_like(nb_tensor *x, nb_tensor *view) {
  if (!view) return NULL;
  nb_tensor *r = nb_reshape(x, view->ndim, view->shape);
  nb_free(view);
  return r;
}
nb_tensor *nb_flatten(nb_tensor *x, int start_dim, int end_dim) {
  NB_CHECK_NULL("flatten", x);
  return reshape_like(x, nbk_flatten(x, start_dim, end_dim));
}
nb_tensor *nb_squeeze(nb_tensor *x, int dim) {
  NB_CHECK_NULL("squeeze", x);
  return reshape_like(x, nbk_squeeze(x, dim));
}
nb_tensor *nb_unsqueeze(nb_tensor *x, int dim) {
  NB_CHECK_NULL("unsqueeze", x);
  return reshape_like(x, nbk_unsqueeze(x, dim));
}

/* ---- expand: the engine sums the gradient back to the input's shape ----------- */
static nb_tensor *expand_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  shape_params *p = vp;
  return nbk_expand(in[0], p->ndim, p->shape);
}
static nb_status expand_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = g;
  return NB_OK;
}
NB_DEFINE_OP_P(expand, 1, shape_params, 0);
nb_status nb__sample_expand(nb_op_sample *s) {
  static shape_params p = {3, {2, 3, 4}};
  nb__sample_input(s, true, NB_SHAPE(3, 1));
  NB_SAMPLE_CALL(s, expand, &p);
  return NB_OK;
}
nb_tensor *nb_expand(nb_tensor *x, int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > NB_MAX_DIMS || (ndim && !shape))
    return nb__fail_null(NB_ERR_SHAPE, "expand: bad target (%d dims)", ndim);
  shape_params p = make_shape(ndim, shape);
  return nb_apply(&nb__op_expand, 1, (nb_tensor *[]){x}, &p);
}

/* ---- permute (also transpose, t): backward permutes by the inverse ------------- */
typedef struct permute_params {
  int ndim;
  int dims[NB_MAX_DIMS];
} permute_params;

static nb_tensor *permute_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  permute_params *p = vp;
  return nbk_permute(in[0], p->ndim, p->dims);
}
static nb_status permute_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const permute_params *p = nb_ctx_params(ctx);
  int inverse[NB_MAX_DIMS];
  for (int i = 0; i < p->ndim; i++) inverse[(p->dims[i] + p->ndim) % p->ndim] = i;
  gi[0] = nb_permute(g, p->ndim, inverse);
  return NB_OK;
}
NB_DEFINE_OP_P(permute, 1, permute_params, 0);
nb_status nb__sample_permute(nb_op_sample *s) {
  static permute_params p = {3, {2, 0, 1}};
  nb__sample_input(s, true, NB_SHAPE(2, 3, 4));
  NB_SAMPLE_CALL(s, permute, &p);
  return NB_OK;
}
nb_tensor *nb_permute(nb_tensor *x, int ndim, const int *dims) {
  if (ndim < 0 || ndim > NB_MAX_DIMS || (ndim && !dims))
    return nb__fail_null(NB_ERR_ARG, "permute: bad dims (%d)", ndim);
  permute_params p = {.ndim = ndim};
  memcpy(p.dims, dims, sizeof(int) * (size_t)ndim);
  return nb_apply(&nb__op_permute, 1, (nb_tensor *[]){x}, &p);
}
nb_tensor *nb_transpose(nb_tensor *x, int dim0, int dim1) {
  NB_CHECK_NULL("transpose", x);
  int nd = x->ndim;
  int d0 = nb__wrap_dim("transpose", dim0, nd), d1 = nb__wrap_dim("transpose", dim1, nd);
  if (d0 < 0 || d1 < 0) return NULL;
  if (nd == 0) return nb_reshape(x, 0, NULL);
  int dims[NB_MAX_DIMS];
  for (int i = 0; i < nd; i++) dims[i] = i;
  dims[d0] = d1;
  dims[d1] = d0;
  return nb_permute(x, nd, dims);
}
nb_tensor *nb_t(nb_tensor *x) {
  NB_CHECK_NULL("t", x);
  if (x->ndim > 2)
    return nb__fail_null(NB_ERR_SHAPE, "t: expects a tensor with <= 2 dims, got %s", nb__shp(x));
  return x->ndim < 2 ? nb_reshape(x, x->ndim, x->shape) : nb_transpose(x, 0, 1);
}

/* ---- slice (also narrow, select): backward pads the gradient into zeros -------- */
typedef struct slice_params {
  int dim;
  int64_t start, end, step;
} slice_params;

static nb_tensor *slice_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  slice_params *p = vp;
  nb_tensor *y = nbk_slice(in[0], p->dim, p->start, p->end, p->step);
  if (y) { /* resolve Python slice rules once, so backward knows the positions */
    p->dim = nb__wrap_dim("slice", p->dim, in[0]->ndim);
    int64_t size = in[0]->shape[p->dim];
    if (p->start < 0) p->start += size;
    p->start = p->start < 0 ? 0 : p->start > size ? size : p->start;
  }
  return y;
}
static nb_status slice_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const slice_params *p = nb_ctx_params(ctx);
  const int64_t *shape = nb_ctx_input_shape(ctx, 0);
  int nd = nb_ctx_input_ndim(ctx, 0);
  /* Scatter g into a zero tensor at start::step along dim (index_add of the
   * positions keeps it differentiable with respect to g). */
  int64_t count = g->shape[p->dim];
  nb_tensor *index = nb_arange(NB_DTYPE_INT64, (double)p->start,
                               (double)(p->start + count * p->step), (double)p->step);
  nb_tensor *zeros = nb_zeros(g->dtype, nd, shape);
  gi[0] = nb_index_add(zeros, p->dim, index, g);
  return NB_OK;
}
NB_DEFINE_OP_P(slice, 1, slice_params, 0);
nb_status nb__sample_slice(nb_op_sample *s) {
  static slice_params p = {1, 1, 6, 2};
  nb__sample_input(s, true, NB_SHAPE(2, 7));
  NB_SAMPLE_CALL(s, slice, &p);
  return NB_OK;
}
nb_tensor *nb_slice(nb_tensor *x, int dim, int64_t start, int64_t end, int64_t step) {
  return nb_apply(&nb__op_slice, 1, (nb_tensor *[]){x}, &(slice_params){dim, start, end, step});
}
nb_tensor *nb_narrow(nb_tensor *x, int dim, int64_t start, int64_t length) {
  NB_CHECK_NULL("narrow", x);
  nb_tensor *check = nbk_narrow(x, dim, start, length); /* validates like the kernel */
  if (!check) return NULL;
  nb_free(check);
  int d = nb__wrap_dim("narrow", dim, x->ndim);
  int64_t s0 = start < 0 ? start + x->shape[d] : start;
  return nb_slice(x, d, s0, s0 + length, 1);
}
nb_tensor *nb_select(nb_tensor *x, int dim, int64_t index) {
  NB_CHECK_NULL("select", x);
  nb_tensor *check = nbk_select(x, dim, index);
  if (!check) return NULL;
  nb_free(check);
  int d = nb__wrap_dim("select", dim, x->ndim);
  int64_t i = index < 0 ? index + x->shape[d] : index;
  nb_tensor *sl = nb_slice(x, d, i, i + 1, 1);
  nb_tensor *r = nb_squeeze(sl, d);
  nb_free(sl);
  return r;
}

/* ---- index_add: x with src's slices added at index along dim ----------------- */
typedef struct index_params {
  int dim;
} index_params;

static nb_tensor *index_add_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  index_params *p = vp;
  nb_tensor *y = nbk_index_add(in[0], p->dim, in[1], in[2]);
  if (y) p->dim = nb__wrap_dim("index_add", p->dim, y->ndim);
  if (nb_ctx_needs_grad(ctx, 2)) nb_ctx_save(ctx, in[1]);
  return y;
}
static nb_status index_add_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  int dim = ((index_params *)nb_ctx_params(ctx))->dim;
  gi[0] = g;
  if (nb_ctx_needs_grad(ctx, 2)) gi[2] = nb_index_select(g, dim, nb_ctx_saved(ctx, 0));
  return NB_OK;
}
NB_DEFINE_OP_P(index_add, 3, index_params, 0);
nb_status nb__sample_index_add(nb_op_sample *s) {
  static index_params p = {0};
  nb__sample_input(s, true, NB_SHAPE(4, 3));
  s->inputs[s->ninputs++] = nb_keep(nb_from_data(NB_DTYPE_INT64, (int64_t[]){3, 0, 3}, NB_SHAPE(3)));
  nb__sample_input(s, true, NB_SHAPE(3, 3));
  NB_SAMPLE_CALL(s, index_add, &p);
  return NB_OK;
}
nb_tensor *nb_index_add(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src) {
  return nb_apply(&nb__op_index_add, 3, (nb_tensor *[]){x, index, src}, &(index_params){dim});
}

/* ---- index_select: backward adds the gradient rows back at index ------------ */
static nb_tensor *index_select_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  index_params *p = vp;
  nb_tensor *y = nbk_index_select(in[0], p->dim, in[1]);
  if (y) p->dim = nb__wrap_dim("index_select", p->dim, y->ndim);
  nb_ctx_save(ctx, in[1]);
  return y;
}
static nb_status index_select_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  int dim = ((index_params *)nb_ctx_params(ctx))->dim;
  nb_tensor *zeros = nb_zeros(g->dtype, nb_ctx_input_ndim(ctx, 0), nb_ctx_input_shape(ctx, 0));
  gi[0] = nb_index_add(zeros, dim, nb_ctx_saved(ctx, 0), g);
  return NB_OK;
}
NB_DEFINE_OP_P(index_select, 2, index_params, 0);
nb_status nb__sample_index_select(nb_op_sample *s) {
  static index_params p = {1};
  nb__sample_input(s, true, NB_SHAPE(2, 4));
  s->inputs[s->ninputs++] = nb_keep(nb_from_data(NB_DTYPE_INT64, (int64_t[]){1, 1, 3}, NB_SHAPE(3)));
  NB_SAMPLE_CALL(s, index_select, &p);
  return NB_OK;
}
nb_tensor *nb_index_select(nb_tensor *x, int dim, nb_tensor *index) {
  return nb_apply(&nb__op_index_select, 2, (nb_tensor *[]){x, index}, &(index_params){dim});
}

/* ---- cat (also stack): backward slices the gradient back apart ----------------- */
typedef struct cat_params {
  int dim;
} cat_params;

static nb_tensor *cat_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  cat_params *p = vp;
  nb_tensor *y = nbk_cat(in, n, p->dim);
  if (y) p->dim = nb__wrap_dim("cat", p->dim, y->ndim);
  return y;
}
static nb_status cat_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  int dim = ((cat_params *)nb_ctx_params(ctx))->dim;
  int64_t at = 0;
  for (int i = 0; i < nb_ctx_ninputs(ctx); i++) {
    int nd = nb_ctx_input_ndim(ctx, i);
    const int64_t *shape = nb_ctx_input_shape(ctx, i);
    if (nd == 1 && shape[0] == 0 && g->ndim != 1) continue; /* skipped legacy empty input */
    int64_t len = shape[dim];
    if (nb_ctx_needs_grad(ctx, i)) gi[i] = nb_slice(g, dim, at, at + len, 1);
    at += len;
  }
  return NB_OK;
}
NB_DEFINE_OP_P(cat, -1, cat_params, 0);
nb_status nb__sample_cat(nb_op_sample *s) {
  static cat_params p = {1};
  nb__sample_input(s, true, NB_SHAPE(2, 3));
  nb__sample_input(s, true, NB_SHAPE(2, 1));
  NB_SAMPLE_CALL(s, cat, &p);
  return NB_OK;
}
nb_tensor *nb_cat(nb_tensor *const *tensors, int n, int dim) {
  if (n < 1 || !tensors) return nb__fail_null(NB_ERR_ARG, "cat: needs at least one tensor");
  return nb_apply(&nb__op_cat, n, tensors, &(cat_params){dim});
}
nb_tensor *nb_stack(nb_tensor *const *tensors, int n, int dim) {
  if (n < 1 || !tensors) return nb__fail_null(NB_ERR_ARG, "stack: needs at least one tensor");
  if (n > 4096) return nb__fail_null(NB_ERR_ARG, "stack: at most 4096 tensors");
  nb_tensor *check = nbk_stack(tensors, n, dim); /* validates shapes like the kernel */
  if (!check) return NULL;
  int d = nb__wrap_dim("stack", dim, check->ndim);
  nb_free(check);
  nb_tensor *parts[4096];
  for (int i = 0; i < n; i++) parts[i] = nb_unsqueeze(tensors[i], d);
  nb_tensor *r = nb_cat(parts, n, d);
  for (int i = 0; i < n; i++) nb_free(parts[i]);
  return r;
}
