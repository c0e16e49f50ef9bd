/* autograd/op_shape.c - differentiable shape and indexing ops.
 *
 * Owns, side by side per op: forward (nbk_* view or copy), backward
 * (differentiable), gradcheck sample and public wrapper. Composites (flatten,
 * squeeze, unsqueeze, transpose, t, narrow, select, stack) are built from the
 * primitive rows and need no backward of their own.
 */
#include "autograd/op_impl.h"

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
  s->inputs[s->ninputs++] =
      nb_keep(nb_from_data(NB_DTYPE_INT64, (int64_t[]){3, 0, 3}, NB_SHAPE(3)));
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
  s->inputs[s->ninputs++] =
      nb_keep(nb_from_data(NB_DTYPE_INT64, (int64_t[]){1, 1, 3}, NB_SHAPE(3)));
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

/* ---- split / chunk: composites returning nb_slice pieces ----------------------- */
/* The kernel validates and makes the views; each view is replaced by the
 * differentiable slice covering the same range. */
static int pieces_to_slices(nb_tensor *x, int dim, int count, nb_tensor **out) {
  if (count < 0) return count;
  int d = nb__wrap_dim("split", dim, x->ndim);
  int64_t at = 0;
  int status = count;
  for (int i = 0; i < count; i++) {
    int64_t len = out[i]->shape[d];
    nb_free(out[i]);
    out[i] = status >= 0 ? nb_slice(x, d, at, at + len, 1) : NULL;
    if (!out[i] && status >= 0) status = nb_last_status();
    at += len;
  }
  if (status < 0)
    for (int i = 0; i < count; i++) {
      nb_free(out[i]);
      out[i] = NULL;
    }
  return status;
}
int nb_split(nb_tensor *x, int64_t split_size, int dim, nb_tensor **out, int capacity) {
  if (!x) return nb__null_input("split");
  return pieces_to_slices(x, dim, nbk_split(x, split_size, dim, out, capacity), out);
}
int nb_chunk(nb_tensor *x, int chunks, int dim, nb_tensor **out, int capacity) {
  if (!x) return nb__null_input("chunk");
  return pieces_to_slices(x, dim, nbk_chunk(x, chunks, dim, out, capacity), out);
}

/* ---- repeat: backward sums the tiles of each dim ------------------------------- */
typedef struct repeat_params {
  int n;
  int64_t repeats[NB_MAX_DIMS];
} repeat_params;

static nb_tensor *repeat_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  repeat_params *p = vp;
  return nbk_repeat(in[0], p->n, p->repeats);
}
static nb_status repeat_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const repeat_params *p = nb_ctx_params(ctx);
  int nd = nb_ctx_input_ndim(ctx, 0), lead = p->n - nd;
  const int64_t *in_shape = nb_ctx_input_shape(ctx, 0);
  for (int i = 0; i < p->n; i++)
    if (p->repeats[i] == 0) { /* an empty output: nothing flows back */
      gi[0] = nb_zeros(g->dtype, nd, in_shape);
      return NB_OK;
    }
  /* Leading new dims are pure tiles: sum them away. */
  if (lead > 0) {
    int dims[NB_MAX_DIMS];
    for (int i = 0; i < lead; i++) dims[i] = i;
    g = nb_sum(g, dims, lead, false);
  }
  /* Dim d of g is [repeats, size] flattened: split it in two and sum the first. */
  for (int d = 0; d < nd && g; d++) {
    int64_t r = p->repeats[lead + d];
    if (r == 1) continue;
    if (g->ndim < NB_MAX_DIMS) {
      int64_t shape[NB_MAX_DIMS];
      memcpy(shape, g->shape, sizeof(int64_t) * (size_t)d);
      shape[d] = r;
      shape[d + 1] = in_shape[d];
      memcpy(shape + d + 2, g->shape + d + 1, sizeof(int64_t) * (size_t)(g->ndim - d - 1));
      g = nb_sum(nb_reshape(g, g->ndim + 1, shape), &d, 1, false);
    } else { /* no room for another dim: add the tiles one by one */
      nb_tensor *acc = nb_narrow(g, d, 0, in_shape[d]);
      for (int64_t k = 1; k < r; k++)
        acc = nb_add(acc, nb_narrow(g, d, k * in_shape[d], in_shape[d]));
      g = acc;
    }
  }
  gi[0] = g;
  return NB_OK;
}
NB_DEFINE_OP_P(repeat, 1, repeat_params, 0);
nb_status nb__sample_repeat(nb_op_sample *s) {
  static repeat_params p = {3, {2, 1, 3}};
  nb__sample_input(s, true, NB_SHAPE(2, 3));
  NB_SAMPLE_CALL(s, repeat, &p);
  return NB_OK;
}
nb_tensor *nb_repeat(nb_tensor *x, int nrepeats, const int64_t *repeats) {
  NB_CHECK_NULL("repeat", x);
  if (nrepeats < 0 || nrepeats > NB_MAX_DIMS || (nrepeats && !repeats))
    return nb__fail_null(NB_ERR_ARG, "repeat: bad repeat count %d for %s", nrepeats, nb__shp(x));
  repeat_params p = {.n = nrepeats};
  memcpy(p.repeats, repeats, sizeof(int64_t) * (size_t)nrepeats);
  return nb_apply(&nb__op_repeat, 1, (nb_tensor *[]){x}, &p);
}

/* ---- flip: its own inverse ----------------------------------------------------- */
typedef struct dims_params {
  int ndims;
  int dims[NB_MAX_DIMS];
} dims_params;

static nb_tensor *flip_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  dims_params *p = vp;
  return nbk_flip(in[0], p->dims, p->ndims);
}
static nb_status flip_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const dims_params *p = nb_ctx_params(ctx);
  gi[0] = nb_flip(g, p->dims, p->ndims);
  return NB_OK;
}
NB_DEFINE_OP_P(flip, 1, dims_params, 0);
nb_status nb__sample_flip(nb_op_sample *s) {
  static dims_params p = {2, {0, -1}};
  nb__sample_input(s, true, NB_SHAPE(3, 2, 4));
  NB_SAMPLE_CALL(s, flip, &p);
  return NB_OK;
}
nb_tensor *nb_flip(nb_tensor *x, const int *dims, int ndims) {
  NB_CHECK_NULL("flip", x);
  if (ndims < 0 || ndims > NB_MAX_DIMS || (ndims && !dims))
    return nb__fail_null(NB_ERR_ARG, "flip: bad dim count %d for %s", ndims, nb__shp(x));
  dims_params p = {.ndims = ndims};
  memcpy(p.dims, dims, sizeof(int) * (size_t)ndims);
  return nb_apply(&nb__op_flip, 1, (nb_tensor *[]){x}, &p);
}

/* ---- gather: backward scatter-adds the gradient into zeros --------------------- */
static nb_tensor *gather_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  index_params *p = vp;
  nb_tensor *y = nbk_gather(in[0], p->dim, in[1]);
  if (y) p->dim = nb__wrap_dim("gather", p->dim, y->ndim);
  nb_ctx_save(ctx, in[1]);
  return y;
}
static nb_status gather_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  int dim = ((index_params *)nb_ctx_params(ctx))->dim;
  nb_tensor *zeros = nb_zeros(g->dtype, nb_ctx_input_ndim(ctx, 0), nb_ctx_input_shape(ctx, 0));
  gi[0] = nb_scatter_add(zeros, dim, nb_ctx_saved(ctx, 0), g);
  return NB_OK;
}
NB_DEFINE_OP_P(gather, 2, index_params, 0);
nb_status nb__sample_gather(nb_op_sample *s) {
  static index_params p = {1};
  nb__sample_input(s, true, NB_SHAPE(3, 4));
  s->inputs[s->ninputs++] =
      nb_keep(nb_from_data(NB_DTYPE_INT64, (int64_t[]){0, 3, 3, 1, 1, 1, 2, 0, 3}, NB_SHAPE(3, 3)));
  NB_SAMPLE_CALL(s, gather, &p);
  return NB_OK;
}
nb_tensor *nb_gather(nb_tensor *x, int dim, nb_tensor *index) {
  return nb_apply(&nb__op_gather, 2, (nb_tensor *[]){x, index}, &(index_params){dim});
}

/* ---- scatter_add: x passes through; src gathers its gradient back --------------- */
static nb_tensor *scatter_add_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  index_params *p = vp;
  nb_tensor *y = nbk_scatter_add(in[0], p->dim, in[1], in[2]);
  if (y) p->dim = nb__wrap_dim("scatter_add", p->dim, y->ndim);
  if (nb_ctx_needs_grad(ctx, 2)) nb_ctx_save(ctx, in[1]);
  return y;
}
static nb_status scatter_add_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  int dim = ((index_params *)nb_ctx_params(ctx))->dim;
  gi[0] = g;
  if (!nb_ctx_needs_grad(ctx, 2)) return NB_OK;
  nb_tensor *gs = nb_gather(g, dim, nb_ctx_saved(ctx, 0));
  /* index may be smaller than src: src's unused entries get zeros. */
  int nd = nb_ctx_input_ndim(ctx, 2);
  const int64_t *shape = nb_ctx_input_shape(ctx, 2);
  int64_t pads[2 * NB_MAX_DIMS] = {0};
  bool grow = false;
  for (int d = 0; gs && d < nd; d++) {
    pads[2 * (nd - 1 - d) + 1] = shape[d] - gs->shape[d];
    grow = grow || shape[d] != gs->shape[d];
  }
  gi[2] = grow ? nb_pad(gs, 2 * nd, pads, 0.0) : gs;
  return NB_OK;
}
NB_DEFINE_OP_P(scatter_add, 3, index_params, 0);
nb_status nb__sample_scatter_add(nb_op_sample *s) {
  static index_params p = {0};
  nb__sample_input(s, true, NB_SHAPE(3, 4));
  s->inputs[s->ninputs++] =
      nb_keep(nb_from_data(NB_DTYPE_INT64, (int64_t[]){2, 0, 2, 1, 2, 2}, NB_SHAPE(2, 3)));
  nb__sample_input(s, true, NB_SHAPE(3, 4));
  NB_SAMPLE_CALL(s, scatter_add, &p);
  return NB_OK;
}
nb_tensor *nb_scatter_add(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src) {
  return nb_apply(&nb__op_scatter_add, 3, (nb_tensor *[]){x, index, src}, &(index_params){dim});
}

/* ---- masked_fill: the filled positions get no gradient --------------------------- */
typedef struct fill_params {
  double value;
} fill_params;

static nb_tensor *masked_fill_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  nb_tensor *y = nbk_masked_fill(in[0], in[1], ((fill_params *)vp)->value);
  nb_ctx_save(ctx, in[1]);
  return y;
}
static nb_status masked_fill_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = nb_masked_fill(g, nb_ctx_saved(ctx, 0), 0.0);
  return NB_OK;
}
NB_DEFINE_OP_P(masked_fill, 2, fill_params, 0);
nb_status nb__sample_masked_fill(nb_op_sample *s) {
  static fill_params p = {2.5};
  nb__sample_input(s, true, NB_SHAPE(2, 3));
  s->inputs[s->ninputs++] = nb_keep(nb_from_data(NB_DTYPE_BOOL, (bool[]){1, 0, 1}, NB_SHAPE(3)));
  NB_SAMPLE_CALL(s, masked_fill, &p);
  return NB_OK;
}
nb_tensor *nb_masked_fill(nb_tensor *x, nb_tensor *mask, double value) {
  return nb_apply(&nb__op_masked_fill, 2, (nb_tensor *[]){x, mask}, &(fill_params){value});
}

/* ---- pad: backward pads by the negated amounts (crops what was added) ------------ */
typedef struct pad_params {
  int npads;
  int64_t pads[2 * NB_MAX_DIMS];
  double value;
} pad_params;

static nb_tensor *pad_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  pad_params *p = vp;
  return nbk_pad(in[0], p->npads, p->pads, p->value);
}
static nb_status pad_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  const pad_params *p = nb_ctx_params(ctx);
  int64_t neg[2 * NB_MAX_DIMS];
  for (int i = 0; i < p->npads; i++) neg[i] = -p->pads[i];
  gi[0] = nb_pad(g, p->npads, neg, 0.0);
  return NB_OK;
}
NB_DEFINE_OP_P(pad, 1, pad_params, 0);
nb_status nb__sample_pad(nb_op_sample *s) {
  static pad_params p = {4, {1, 2, -1, 1}, 0.5};
  nb__sample_input(s, true, NB_SHAPE(3, 3));
  NB_SAMPLE_CALL(s, pad, &p);
  return NB_OK;
}
nb_tensor *nb_pad(nb_tensor *x, int npads, const int64_t *pads, double value) {
  NB_CHECK_NULL("pad", x);
  if (npads < 0 || npads > 2 * NB_MAX_DIMS || (npads && !pads))
    return nb__fail_null(NB_ERR_ARG, "pad: %d pad values for x %s", npads, nb__shp(x));
  pad_params p = {.npads = npads, .value = value};
  memcpy(p.pads, pads, sizeof(int64_t) * (size_t)npads);
  return nb_apply(&nb__op_pad, 1, (nb_tensor *[]){x}, &p);
}

/* ---- contiguous: identity gradient ---------------------------------------------- */
static nb_tensor *contiguous_forward(nb_ctx *ctx, nb_tensor *const *in, int n, void *vp) {
  return nbk_contiguous(in[0]);
}
static nb_status contiguous_backward(nb_ctx *ctx, nb_tensor *g, nb_tensor **gi) {
  gi[0] = g;
  return NB_OK;
}
NB_DEFINE_OP(contiguous, 1, 0);
nb_status nb__sample_contiguous(nb_op_sample *s) {
  nb__sample_input(s, true, NB_SHAPE(2, 3));
  NB_SAMPLE_CALL(s, contiguous, NULL);
  return NB_OK;
}
nb_tensor *nb_contiguous(nb_tensor *x) {
  return nb_apply(&nb__op_contiguous, 1, (nb_tensor *[]){x}, NULL);
}
