/* tensor/linalg.c - matrix products on BLIS.
 *
 * Owns: matmul (torch.matmul's 1-D/2-D/batched rules with broadcast batch
 * dims), bmm, dot, outer, linear (one GEMM with the bias preloaded) and the
 * in-place gemm_. Every product funnels into matmul_into(), which hands each
 * operand's two strides to bli_?gemm as (rs, cs) so transposed and sliced views
 * are never copied; only layouts BLIS rejects (stride 0, overlapping rows) are
 * made contiguous first. int64 runs a plain loop (wrapping like PyTorch).
 */
#include "tensor/tensor_impl.h"

#include <blis.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* m*n*k below which one matrix is multiplied on one thread (BLIS's thread
 * start-up costs more than it saves), and below which a batch of matrices is
 * split across threads one whole matrix each instead of threading each GEMM. */
#define GEMM_PARALLEL_WORK (64.0 * 64.0 * 64.0)
#define GEMM_SMALL_WORK (160.0 * 160.0 * 160.0)

/* ---- one matrix product --------------------------------------------------- */

/* c = alpha a @ b + beta c for one m x k by k x n product; strides in elements.
 * beta == 0 means c is not read (NaNs there do not propagate), as in BLAS. */
typedef struct gemm_dims {
  int64_t m, n, k;
  double alpha, beta;
  int64_t rsa, csa, rsb, csb, rsc, csc;
} gemm_dims;

typedef void (*gemm_fn)(const gemm_dims *g, const void *a, const void *b, void *c, int nt);

static inline int64_t mul_wrap(int64_t x, int64_t y) {
  return (int64_t)((uint64_t)x * (uint64_t)y); /* int64 overflow wraps, as in torch */
}
static inline int64_t add_wrap(int64_t x, int64_t y) {
  return (int64_t)((uint64_t)x + (uint64_t)y);
}

/* c = beta c (c = 0 when beta == 0): the whole product when k == 0. */
#define SCALE_LOOP(NAME, T, MUL)                                                                   \
  static void NAME(const gemm_dims *g, void *cv) {                                                 \
    T *c = cv, beta = (T)g->beta;                                                                  \
    for (int64_t i = 0; i < g->m; i++)                                                             \
      for (int64_t j = 0; j < g->n; j++) {                                                         \
        T *p = c + i * g->rsc + j * g->csc;                                                        \
        *p = beta == 0 ? (T)0 : MUL(beta, *p);                                                     \
      }                                                                                            \
  }
#define MUL_FLOAT(x, y) ((x) * (y))
SCALE_LOOP(scale_f32, float, MUL_FLOAT)
SCALE_LOOP(scale_f64, double, MUL_FLOAT)
SCALE_LOOP(scale_i64, int64_t, mul_wrap)

/* BLIS's runtime settings for one product on nt threads. When both a and b
 * run contiguously along k (x @ w^T, the linear layer's layout), BLIS's small-
 * matrix path uses dot-product kernels whose rounding depends on how the
 * threads split the columns; packing both operands switches it to kernels that
 * sum every element in k order, as all other layouts do. The choice depends on
 * the sizes only (products that small never use threads), so results are the
 * same for any thread count, at about the same speed. */
static rntm_t blis_runtime(const gemm_dims *g, int nt) {
  rntm_t rntm = BLIS_RNTM_INITIALIZER;
  bli_rntm_set_num_threads(nt, &rntm);
  if (g->csa == 1 && g->rsb == 1 &&
      (double)g->m * (double)g->n * (double)g->k >= GEMM_PARALLEL_WORK) {
    bli_rntm_set_pack_a(true, &rntm);
    bli_rntm_set_pack_b(true, &rntm);
  }
  return rntm;
}

/* Below GEMM_PARALLEL_WORK, the x @ w^T layout (a's rows and b's columns both
 * contiguous along k) runs BLIS's small-matrix dot-product kernels, which are
 * slow when b has many columns: 178 x 13 @ (32 x 13)^T takes 10.4 us, against
 * 2.6 us with b row-major (bench/bench_wine's first layer). A b of at most
 * SMALL_B_COPY elements and at least SMALL_B_MIN_COLS columns is copied to
 * row-major on the stack first. (The choice depends on the sizes only.) */
#define SMALL_B_COPY 4096
#define SMALL_B_MIN_COLS 16
static bool copy_small_b(const gemm_dims *g) {
  return g->csa == 1 && g->rsb == 1 && g->csb != 1 && g->n >= SMALL_B_MIN_COLS &&
         g->n * g->k <= SMALL_B_COPY &&
         (double)g->m * (double)g->n * (double)g->k < GEMM_PARALLEL_WORK;
}

/* float32 / float64: BLIS with nt threads (nt == 1 inside a parallel batch). */
#define BLIS_GEMM(NAME, T, SCALE, BLI_GEMM_EX)                                                     \
  static void NAME(const gemm_dims *g, const void *a, const void *b, void *c, int nt) {            \
    if (g->k == 0) {                                                                               \
      SCALE(g, c);                                                                                 \
      return;                                                                                      \
    }                                                                                              \
    T alpha = (T)g->alpha, beta = (T)g->beta;                                                      \
    int64_t rsb = g->rsb, csb = g->csb;                                                            \
    T bcopy[SMALL_B_COPY];                                                                         \
    if (copy_small_b(g)) {                                                                         \
      const T *bs = b;                                                                             \
      for (int64_t p = 0; p < g->k; p++)                                                           \
        for (int64_t j = 0; j < g->n; j++) bcopy[p * g->n + j] = bs[p + j * csb];                  \
      b = bcopy, rsb = g->n, csb = 1;                                                              \
    }                                                                                              \
    rntm_t rntm = blis_runtime(g, nt);                                                             \
    BLI_GEMM_EX(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, g->m, g->n, g->k, &alpha, (T *)a, g->rsa,    \
                g->csa, (T *)b, rsb, csb, &beta, (T *)c, g->rsc, g->csc, NULL, &rntm);             \
  }
BLIS_GEMM(gemm_f32, float, scale_f32, bli_sgemm_ex)
BLIS_GEMM(gemm_f64, double, scale_f64, bli_dgemm_ex)

/* int64: row by row, c[i,:] = beta c[i,:] + sum_p (alpha a[i,p]) b[p,:], any
 * strides; rows are split across threads (integer sums are exact in any order). */
static void gemm_i64(const gemm_dims *g, const void *av, const void *bv, void *cv, int nt) {
  scale_i64(g, cv);
  if (g->k == 0) return;
  const int64_t *a = av, *b = bv;
  int64_t *c = cv, alpha = (int64_t)g->alpha;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int64_t i = 0; i < g->m; i++) {
    int64_t *crow = c + i * g->rsc;
    for (int64_t p = 0; p < g->k; p++) {
      int64_t s = mul_wrap(alpha, a[i * g->rsa + p * g->csa]);
      const int64_t *brow = b + p * g->rsb;
      for (int64_t j = 0; j < g->n; j++)
        crow[j * g->csc] = add_wrap(crow[j * g->csc], mul_wrap(s, brow[j * g->csb]));
    }
  }
}

static const gemm_fn gemm_loops[NB_DTYPE_COUNT] = {
    [NB_DTYPE_FLOAT32] = gemm_f32,
    [NB_DTYPE_FLOAT64] = gemm_f64,
    [NB_DTYPE_INT64] = gemm_i64,
};

/* ---- operand layouts ------------------------------------------------------ */

/* One operand of a batched product: its matrix dims and its strides along the
 * product's (broadcast) batch dims, 0 where it is broadcast. */
typedef struct operand {
  char *data; /* element [0, ..., 0] */
  int64_t rows, cols, rs, cs;
  int64_t bs[NB_MAX_DIMS];
} operand;

/* Describe t as a (batch of) matrices: its trailing has_rows + has_cols dims
 * are the matrix (a missing one has size 1: a 1-D left operand is a row, a 1-D
 * right operand a column), the rest align right with bshape's nbatch dims. */
static void layout(operand *o, const nb_tensor *t, bool has_rows, bool has_cols, int nbatch,
                   const int64_t *bshape) {
  int nmat = (int)has_rows + (int)has_cols, nd = t->ndim, tb = nd - nmat;
  o->data = nb__ptr(t, 0);
  o->rows = has_rows ? t->shape[nd - nmat] : 1;
  o->rs = has_rows ? t->strides[nd - nmat] : 0;
  o->cols = has_cols ? t->shape[nd - 1] : 1;
  o->cs = has_cols ? t->strides[nd - 1] : 0;
  for (int d = 0; d < nbatch; d++) {
    int td = d - (nbatch - tb);
    o->bs[d] = td < 0 || t->shape[td] == 1 || bshape[d] == 1 ? 0 : t->strides[td];
  }
}

/* Whether BLIS accepts an m x n matrix with strides (*rs, *cs), after giving
 * size-1 dims a harmless stride (theirs is never used). These are the rules of
 * BLIS's bli_check_matrix_strides: no zero stride, and rows and columns must
 * not interleave (one stride at least the other times its dim). */
static bool blis_strides_ok(int64_t m, int64_t n, int64_t *rs, int64_t *cs) {
  if (m <= 1 && n <= 1) {
    *rs = *cs = 1;
    return true;
  }
  if (m == 1 && __builtin_mul_overflow(*cs, n, rs)) return false;
  if (n == 1 && __builtin_mul_overflow(*rs, m, cs)) return false;
  int64_t r = *rs, c = *cs, span;
  if (r <= 0 || c <= 0) return false;
  if (r == 1 && c == 1) return m == 1 || n == 1;
  if (r == 1) return c >= m;
  if (c == 1) return r >= n;
  if (r == c) return m == 1 || n == 1;
  if (r < c) return !__builtin_mul_overflow(m, r, &span) && span <= c;
  return !__builtin_mul_overflow(n, c, &span) && span <= r;
}

static bool operand_ok(operand *o) { return blis_strides_ok(o->rows, o->cols, &o->rs, &o->cs); }

/* Merge the batch dims into the rows when the operand walks batch-then-row as
 * one stride (a [B, m, k] contiguous block is a [B*m, k] matrix). Returns the
 * merged row stride through *rs. */
static bool fold_rows(const operand *o, int nbatch, const int64_t *bshape, int64_t *rs) {
  int64_t size = o->rows, stride = o->rs;
  for (int d = nbatch - 1; d >= 0; d--) {
    if (bshape[d] == 1) continue;
    if (size == 1) {
      size = bshape[d];
      stride = o->bs[d];
    } else if (o->bs[d] != stride * size) {
      return false;
    } else {
      size *= bshape[d];
    }
  }
  *rs = stride;
  return true;
}

/* ---- the batched driver --------------------------------------------------- */

/* Product i of a batch (row-major index over bshape) on nt threads. */
static void run_entry(const gemm_dims *g, int64_t i, int nbatch, const int64_t *bshape,
                      const operand *a, const operand *b, const operand *c, nb_dtype dtype,
                      int nt) {
  int64_t oa = 0, ob = 0, oc = 0;
  for (int d = nbatch - 1; d >= 0; d--) {
    int64_t idx = i % bshape[d];
    i /= bshape[d];
    oa += idx * a->bs[d], ob += idx * b->bs[d], oc += idx * c->bs[d];
  }
  int64_t es = (int64_t)nb_dtype_size(dtype);
  bool reads_ab = g->k > 0; /* with k == 0, a and b may not even be laid out */
  gemm_loops[dtype](g, reads_ab ? a->data + oa * es : NULL, reads_ab ? b->data + ob * es : NULL,
                    c->data + oc * es, nt);
}

/* c[i] = alpha a[i] @ b[i] + beta c[i] over the batch, for operands already
 * accepted by BLIS (or int64). Independent products; each is computed whole by
 * one BLIS call, so results do not depend on the thread split. */
static void run_batch(nb_dtype dtype, int nbatch, const int64_t *bshape, int64_t k, double alpha,
                      double beta, const operand *a, const operand *b, const operand *c) {
  gemm_dims g = {.m = c->rows,
                 .n = c->cols,
                 .k = k,
                 .alpha = alpha,
                 .beta = beta,
                 .rsa = a->rs,
                 .csa = a->cs,
                 .rsb = b->rs,
                 .csb = b->cs,
                 .rsc = c->rs,
                 .csc = c->cs};
  int64_t nmat = 1;
  for (int d = 0; d < nbatch; d++) nmat *= bshape[d];
  /* A batch against one shared right matrix whose left operands and results
   * stack into single matrices: one big GEMM (x [B, T, in] @ w [in, out]). */
  bool b_shared = true;
  for (int d = 0; d < nbatch; d++) b_shared = b_shared && b->bs[d] == 0;
  int64_t rsa, rsc;
  if (nmat > 1 && k > 0 && b_shared && fold_rows(a, nbatch, bshape, &rsa) &&
      fold_rows(c, nbatch, bshape, &rsc)) {
    int64_t rows = nmat * g.m, csa = g.csa, csc = g.csc;
    if (dtype == NB_DTYPE_INT64 ||
        (blis_strides_ok(rows, k, &rsa, &csa) && blis_strides_ok(rows, g.n, &rsc, &csc))) {
      g.m = rows;
      g.rsa = rsa, g.csa = csa, g.rsc = rsc, g.csc = csc;
      nmat = 1;
    }
  }
  double work = (double)g.m * (double)g.n * (double)(k > 0 ? k : 1);
  int maxt = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (nmat > 1 && maxt > 1 && work < GEMM_SMALL_WORK && work * (double)nmat >= GEMM_PARALLEL_WORK) {
#pragma omp parallel for num_threads(maxt) schedule(static)
    for (int64_t i = 0; i < nmat; i++) run_entry(&g, i, nbatch, bshape, a, b, c, dtype, 1);
  } else {
    int nt = work < GEMM_PARALLEL_WORK ? 1 : maxt;
    for (int64_t i = 0; i < nmat; i++) run_entry(&g, i, nbatch, bshape, a, b, c, dtype, nt);
  }
}

/* Make *o acceptable to BLIS when it is not: lay it out over *tmp, a
 * contiguous copy of t (copy) or a fresh tensor of t's shape (an output that
 * is not read). */
static nb_status fix_layout(const char *op, nb_tensor *t, bool copy, nb_tensor **tmp, operand *o,
                            bool has_rows, bool has_cols, int nbatch, const int64_t *bshape) {
  if (operand_ok(o)) return NB_OK;
  *tmp = copy ? nbk_clone(t) : nb__new(op, t->dtype, t->ndim, t->shape);
  if (!*tmp) return nb_last_status();
  layout(o, *tmp, has_rows, has_cols, nbatch, bshape);
  operand_ok(o);
  return NB_OK;
}

/* c = alpha a @ b + beta c with torch.matmul's shape rules: a, b and c share
 * one dtype (float32/float64/int64), c has matmul_shape(a, b) and any strides
 * without overlap. Operands BLIS cannot take as they are are copied
 * contiguous; a c it cannot write is computed in a temporary and copied back. */
static nb_status matmul_into(const char *op, nb_tensor *c, nb_tensor *a, nb_tensor *b, double alpha,
                             double beta) {
  if (c->numel == 0) return NB_OK;
  bool rows = a->ndim >= 2, cols = b->ndim >= 2, blis = c->dtype != NB_DTYPE_INT64;
  int nbatch = c->ndim - (int)rows - (int)cols;
  const int64_t *bshape = c->shape;
  int64_t k = a->shape[a->ndim - 1];
  nb_tensor *tmp[3] = {NULL, NULL, NULL}; /* copies of a, b, c when BLIS needs them */
  operand oa = {0}, ob = {0}, oc;
  nb_status st = NB_OK;
  if (k > 0) { /* with k == 0, a and b are never read */
    layout(&oa, a, rows, true, nbatch, bshape);
    layout(&ob, b, true, cols, nbatch, bshape);
    if (blis) st = fix_layout(op, a, true, &tmp[0], &oa, rows, true, nbatch, bshape);
    if (blis && st == NB_OK) st = fix_layout(op, b, true, &tmp[1], &ob, true, cols, nbatch, bshape);
  }
  layout(&oc, c, rows, cols, nbatch, bshape);
  if (blis && st == NB_OK)
    st = fix_layout(op, c, beta != 0, &tmp[2], &oc, rows, cols, nbatch, bshape);
  if (st == NB_OK) run_batch(c->dtype, nbatch, bshape, k, alpha, beta, &oa, &ob, &oc);
  if (st == NB_OK && tmp[2]) st = nb_copy_(c, tmp[2]);
  for (int i = 0; i < 3; i++) nb_free(tmp[i]);
  return st;
}

/* ---- shapes and dtypes ----------------------------------------------------- */

/* torch.matmul's result shape for a @ b into shape (NB_MAX_DIMS entries). */
static nb_status matmul_shape(const char *op, const nb_tensor *a, const nb_tensor *b, int *ndim,
                              int64_t *shape) {
  if (a->ndim < 1 || b->ndim < 1)
    return nb__fail(NB_ERR_SHAPE, "%s: %s @ %s: both arguments need at least 1 dim", op, nb__shp(a),
                    nb__shp(b));
  int64_t ka = a->shape[a->ndim - 1], kb = b->shape[b->ndim >= 2 ? b->ndim - 2 : 0];
  if (ka != kb)
    return nb__fail(NB_ERR_SHAPE, "%s: %s @ %s: inner dimensions differ (%lld vs %lld)", op,
                    nb__shp(a), nb__shp(b), (long long)ka, (long long)kb);
  int na = a->ndim > 2 ? a->ndim - 2 : 0, nb = b->ndim > 2 ? b->ndim - 2 : 0, n;
  if (nb__broadcast_shapes(op, na, a->shape, nb, b->shape, &n, shape) != NB_OK) {
    char ba[160], bb[160];
    return nb__fail(NB_ERR_SHAPE, "%s: %s @ %s: batch dimensions %s and %s cannot be broadcast", op,
                    nb__shp(a), nb__shp(b), nb__dims_str(na, a->shape, ba, sizeof ba),
                    nb__dims_str(nb, b->shape, bb, sizeof bb));
  }
  if (a->ndim >= 2) shape[n++] = a->shape[a->ndim - 2];
  if (b->ndim >= 2) shape[n++] = b->shape[b->ndim - 1];
  *ndim = n;
  return NB_OK;
}

/* The dtype a product of these operands runs in: their promotion; bool and
 * invalid dtypes are refused. NB_DTYPE_COUNT after recording an error. */
static nb_dtype product_dtype(const char *op, int n, nb_tensor *const *ts) {
  nb_dtype dt = ts[0]->dtype;
  for (int i = 0; i < n; i++) {
    if (ts[i]->dtype == NB_DTYPE_BOOL || (unsigned)ts[i]->dtype >= NB_DTYPE_COUNT) {
      nb__fail(NB_ERR_DTYPE, "%s: %s tensor %s: dtype not supported (float32, float64, int64)", op,
               nb_dtype_name(ts[i]->dtype), nb__shp(ts[i]));
      return NB_DTYPE_COUNT;
    }
    dt = nb_promote_types(dt, ts[i]->dtype);
  }
  return dt;
}

/* out = a @ b for inputs of any supported dtypes (promoted), the shape check
 * already done: converts, allocates and runs the product. */
static nb_tensor *product(const char *op, nb_tensor *a, nb_tensor *b) {
  int ndim;
  int64_t shape[NB_MAX_DIMS];
  if (matmul_shape(op, a, b, &ndim, shape) != NB_OK) return NULL;
  nb_dtype dt = product_dtype(op, 2, (nb_tensor *[]){a, b});
  if (dt == NB_DTYPE_COUNT) return NULL;
  nb_tensor *ca = nbk_to(a, dt), *cb = ca ? nbk_to(b, dt) : NULL;
  nb_tensor *out = cb ? nb__new(op, dt, ndim, shape) : NULL;
  if (out && matmul_into(op, out, ca, cb, 1.0, 0.0) != NB_OK) {
    nb_free(out);
    out = NULL;
  }
  nb_free(cb);
  nb_free(ca);
  return out;
}

/* ---- public API ------------------------------------------------------------ */

nb_tensor *nbk_matmul(nb_tensor *a, nb_tensor *b) {
  NB_CHECK_NULL("matmul", a, b);
  return product("matmul", a, b);
}

nb_tensor *nbk_bmm(nb_tensor *a, nb_tensor *b) {
  NB_CHECK_NULL("bmm", a, b);
  if (a->ndim != 3 || b->ndim != 3)
    return nb__fail_null(NB_ERR_SHAPE, "bmm: %s @ %s: expected 3-D tensors", nb__shp(a),
                         nb__shp(b));
  if (a->shape[0] != b->shape[0])
    return nb__fail_null(NB_ERR_SHAPE, "bmm: %s @ %s: batch sizes differ (%lld vs %lld)",
                         nb__shp(a), nb__shp(b), (long long)a->shape[0], (long long)b->shape[0]);
  return product("bmm", a, b);
}

nb_tensor *nbk_dot(nb_tensor *a, nb_tensor *b) {
  NB_CHECK_NULL("dot", a, b);
  if (a->ndim != 1 || b->ndim != 1)
    return nb__fail_null(NB_ERR_SHAPE, "dot: %s . %s: expected 1-D tensors", nb__shp(a),
                         nb__shp(b));
  if (a->shape[0] != b->shape[0])
    return nb__fail_null(NB_ERR_SHAPE, "dot: %s . %s: sizes differ (%lld vs %lld)", nb__shp(a),
                         nb__shp(b), (long long)a->shape[0], (long long)b->shape[0]);
  return product("dot", a, b);
}

nb_tensor *nbk_outer(nb_tensor *a, nb_tensor *b) {
  NB_CHECK_NULL("outer", a, b);
  if (a->ndim != 1 || b->ndim != 1)
    return nb__fail_null(NB_ERR_SHAPE, "outer: %s x %s: expected 1-D tensors", nb__shp(a),
                         nb__shp(b));
  /* [n, 1] @ [1, m]: a GEMM with k = 1. */
  nb_tensor *col =
      nb__new_view(a, 2, (int64_t[]){a->shape[0], 1}, (int64_t[]){a->strides[0], 1}, a->offset);
  nb_tensor *row = col ? nb__new_view(b, 2, (int64_t[]){1, b->shape[0]},
                                      (int64_t[]){1, b->strides[0]}, b->offset)
                       : NULL;
  nb_tensor *out = row ? product("outer", col, row) : NULL;
  nb_free(row);
  nb_free(col);
  return out;
}

/* Every row of out (fresh, contiguous, last dim b's size) set to the bias b:
 * b goes into the first row (converted by nb_copy_ only when its dtype
 * differs), then the filled rows are doubled with memcpy. */
static nb_status fill_bias(nb_tensor *out, nb_tensor *b) {
  int64_t n = b->shape[0];
  if (out->numel == 0) return NB_OK;
  size_t es = nb_dtype_size(out->dtype), row = (size_t)n * es;
  char *dst = nb__ptr(out, 0);
  if (b->dtype == out->dtype) {
    const char *src = nb__ptr(b, 0);
    if (b->strides[0] == 1 || n == 1)
      memcpy(dst, src, row);
    else
      for (int64_t j = 0; j < n; j++)
        memcpy(dst + (size_t)j * es, src + j * b->strides[0] * (int64_t)es, es);
  } else {
    nb_tensor *first = nb__new_view(out, 1, (int64_t[]){n}, (int64_t[]){1}, out->offset);
    nb_status st = first ? nb_copy_(first, b) : nb_last_status();
    nb_free(first);
    if (st != NB_OK) return st;
  }
  size_t total = (size_t)out->numel * es;
  for (size_t done = row; done < total;) {
    size_t chunk = done < total - done ? done : total - done;
    memcpy(dst + done, dst, chunk);
    done += chunk;
  }
  return NB_OK;
}

nb_tensor *nbk_linear(nb_tensor *x, nb_tensor *w, nb_tensor *b) {
  NB_CHECK_NULL("linear", x, w);
  const char *op = "linear";
  if (w->ndim != 2)
    return nb__fail_null(NB_ERR_SHAPE,
                         "linear: weight %s must be 2-D [out_features, "
                         "in_features]",
                         nb__shp(w));
  if (x->ndim < 1)
    return nb__fail_null(NB_ERR_SHAPE, "linear: input %s needs at least 1 dim", nb__shp(x));
  if (x->shape[x->ndim - 1] != w->shape[1])
    return nb__fail_null(NB_ERR_SHAPE,
                         "linear: input %s, weight %s: in_features differ (%lld "
                         "vs %lld)",
                         nb__shp(x), nb__shp(w), (long long)x->shape[x->ndim - 1],
                         (long long)w->shape[1]);
  if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
    return nb__fail_null(NB_ERR_SHAPE, "linear: bias %s must be [%lld] (weight %s)", nb__shp(b),
                         (long long)w->shape[0], nb__shp(w));
  nb_dtype dt = product_dtype(op, b ? 3 : 2, (nb_tensor *[]){x, w, b});
  if (dt == NB_DTYPE_COUNT) return NULL;
  int ndim;
  int64_t shape[NB_MAX_DIMS];
  /* w^T as a view: [in, out] with w's strides swapped. */
  nb_tensor *wt = nb__new_view(w, 2, (int64_t[]){w->shape[1], w->shape[0]},
                               (int64_t[]){w->strides[1], w->strides[0]}, w->offset);
  nb_tensor *cx = wt ? nbk_to(x, dt) : NULL, *cw = cx ? nbk_to(wt, dt) : NULL, *out = NULL;
  if (cw && matmul_shape(op, cx, cw, &ndim, shape) == NB_OK) out = nb__new(op, dt, ndim, shape);
  if (out) {
    /* The bias broadcast into every row first, then one GEMM adds x @ w^T. */
    nb_status st = b ? fill_bias(out, b) : NB_OK;
    out->storage->version = 0;
    if (st != NB_OK || matmul_into(op, out, cx, cw, 1.0, b ? 1.0 : 0.0) != NB_OK) {
      nb_free(out);
      out = NULL;
    }
  }
  nb_free(cw);
  nb_free(cx);
  nb_free(wt);
  return out;
}

nb_status nb_gemm_(nb_tensor *c, double alpha, nb_tensor *a, nb_tensor *b, double beta) {
  NB_CHECK_NULL_STATUS("gemm_", c, a, b);
  if (c->ndim != 2 || a->ndim != 2 || b->ndim != 2)
    return nb__fail(NB_ERR_SHAPE, "gemm_: c %s = a %s @ b %s: expected 2-D tensors", nb__shp(c),
                    nb__shp(a), nb__shp(b));
  if (a->shape[1] != b->shape[0])
    return nb__fail(NB_ERR_SHAPE,
                    "gemm_: c %s = a %s @ b %s: inner dimensions differ (%lld vs "
                    "%lld)",
                    nb__shp(c), nb__shp(a), nb__shp(b), (long long)a->shape[1],
                    (long long)b->shape[0]);
  if (c->shape[0] != a->shape[0] || c->shape[1] != b->shape[1])
    return nb__fail(NB_ERR_SHAPE, "gemm_: c %s = a %s @ b %s: c must be [%lld, %lld]", nb__shp(c),
                    nb__shp(a), nb__shp(b), (long long)a->shape[0], (long long)b->shape[1]);
  nb_dtype dt = product_dtype("gemm_", 3, (nb_tensor *[]){c, a, b});
  if (dt == NB_DTYPE_COUNT) return nb_last_status();
  if (c->dtype == NB_DTYPE_INT64 && dt != NB_DTYPE_INT64)
    return nb__fail(NB_ERR_DTYPE, "gemm_: c %s is int64 but a @ b is %s", nb__shp(c),
                    nb_dtype_name(dt));
  if (c->dtype == NB_DTYPE_INT64 && (alpha != floor(alpha) || beta != floor(beta) ||
                                     !(fabs(alpha) < 9.2e18) || !(fabs(beta) < 9.2e18)))
    return nb__fail(NB_ERR_ARG, "gemm_: int64 c %s needs integer alpha and beta (got %g, %g)",
                    nb__shp(c), alpha, beta);
  for (int d = 0; d < 2; d++)
    if (c->strides[d] == 0 && c->shape[d] > 1)
      return nb__fail(NB_ERR_ARG,
                      "gemm_: c %s has stride 0 in dim %d: several elements share "
                      "memory",
                      nb__shp(c), d);
  /* a and b in c's dtype, and copied if they share c's memory. */
  nb_tensor *in[2] = {a, b}, *conv[2] = {NULL, NULL};
  nb_status st = NB_OK;
  for (int i = 0; i < 2 && st == NB_OK; i++) {
    conv[i] = in[i]->dtype == c->dtype && nb_shares_storage(in[i], c) ? nbk_clone(in[i])
                                                                      : nbk_to(in[i], c->dtype);
    if (!conv[i]) st = nb_last_status();
  }
  if (st == NB_OK) st = matmul_into("gemm_", c, conv[0], conv[1], alpha, beta);
  if (st == NB_OK) nb__bump_version(c);
  nb_free(conv[1]);
  nb_free(conv[0]);
  return st;
}
