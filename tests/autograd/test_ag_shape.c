/* tests/autograd/test_ag_shape.c - shape-family ops against PyTorch.
 *
 * Sweeps every case of tests/fixtures/ag_shape.txt (tools/fixtures/
 * gen_ag_shape.py) through nbt_check_grad_cases: runs the op named by the case's prefix
 * ("gather__t" -> gather) on in0, in1, ... (leaves listed in param `transpose` go through
 * nb_transpose, so the op sees a non-contiguous view), compares the output,
 * backpropagates the stored weight w and compares each gradient. Then the
 * error paths.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "autograd/autograd.h"
#include "support/nbtest.h"

TestSuite(ag_shape, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

static int pdim(const nbt_case *c, const char *key) { return (int)nbt_case_param(c, key); }

/* Scale the pieces differently and join them, so each gets its own gradient. */
static nb_tensor *join_pieces(nb_tensor **pieces, int count, int dim, const nbt_case *c) {
  cr_assert_eq(count, (int)nbt_case_param(c, "count"), "%d pieces: %s", count, nb_errmsg());
  for (int k = 0; k < count; k++) pieces[k] = nb_mul_scalar(pieces[k], k + 1.0);
  return nb_cat(pieces, count, dim);
}

static nb_tensor *run_shape(const nbt_case *c, nb_tensor **in) {
  char op[64];
  nbt_case_op(c, op, sizeof op);
  int64_t v[16];
  int dims[8];
  nb_tensor *pieces[8];
  if (!strcmp(op, "reshape")) return nb_reshape(in[0], nbt_case_param_ints(c, "shape", v, 8), v);
  if (!strcmp(op, "expand")) return nb_expand(in[0], nbt_case_param_ints(c, "shape", v, 8), v);
  if (!strcmp(op, "permute"))
    return nb_permute(in[0], nbt_case_param_dims(c, "dims", dims, 8), dims);
  if (!strcmp(op, "slice"))
    return nb_slice(in[0], pdim(c, "dim"), (int64_t)nbt_case_param(c, "start"),
                    (int64_t)nbt_case_param(c, "end"), (int64_t)nbt_case_param(c, "step"));
  if (!strcmp(op, "cat")) return nb_cat(in, 2, pdim(c, "dim"));
  if (!strcmp(op, "index_add")) return nb_index_add(in[0], pdim(c, "dim"), in[1], in[2]);
  if (!strcmp(op, "index_select")) return nb_index_select(in[0], pdim(c, "dim"), in[1]);
  if (!strcmp(op, "repeat")) return nb_repeat(in[0], nbt_case_param_ints(c, "repeats", v, 8), v);
  if (!strcmp(op, "flip")) return nb_flip(in[0], dims, nbt_case_param_dims(c, "dims", dims, 8));
  if (!strcmp(op, "split"))
    return join_pieces(
        pieces, nb_split(in[0], (int64_t)nbt_case_param(c, "size"), pdim(c, "dim"), pieces, 8),
        pdim(c, "dim"), c);
  if (!strcmp(op, "chunk"))
    return join_pieces(pieces, nb_chunk(in[0], pdim(c, "chunks"), pdim(c, "dim"), pieces, 8),
                       pdim(c, "dim"), c);
  if (!strcmp(op, "gather")) return nb_gather(in[0], pdim(c, "dim"), in[1]);
  if (!strcmp(op, "scatter_add")) return nb_scatter_add(in[0], pdim(c, "dim"), in[1], in[2]);
  if (!strcmp(op, "masked_fill")) return nb_masked_fill(in[0], in[1], nbt_case_param(c, "value"));
  if (!strcmp(op, "pad"))
    return nb_pad(in[0], nbt_case_param_ints(c, "pads", v, 16), v, nbt_case_param(c, "value"));
  if (!strcmp(op, "contiguous")) return nb_contiguous(in[0]);
  cr_assert_fail("no runner for op %s", op);
  return NULL;
}

/* in0, in1, ... with gradients grad_in0, ...; "transpose" lists inputs seen transposed. */
static const nbt_grad_spec spec = {
    nbt_indexed_inputs, NBT_INDEXED_INPUTS, "w", {1e-5, 1e-5, 1e-10, 1e-12}, run_shape};

Test(ag_shape, fixtures) { nbt_check_grad_cases("ag_shape", &spec); }

Test(ag_shape, errors) {
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(3, 4), NULL);
  nb_requires_grad_(x, true);
  nb_tensor *idx = nb_from_data(NB_DTYPE_INT64, (int64_t[]){0, 5}, NB_SHAPE(1, 2));
  nbt_expect_null(nb_gather(x, 2, idx), NBT_ANY_STATUS, "gather");
  nbt_expect_null(nb_gather(x, 1, idx), NBT_ANY_STATUS, "gather"); /* index 5 out of range */
  nbt_expect_null(nb_scatter_add(x, 0, idx, x), NBT_ANY_STATUS, "scatter_add");
  nbt_expect_null(nb_pad(x, 3, (int64_t[]){1, 1, 1}, 0), NBT_ANY_STATUS, "pad");
  nbt_expect_null(nb_repeat(x, 1, (int64_t[]){2}), NBT_ANY_STATUS, "repeat");
  nbt_expect_null(nb_flip(x, (int[]){3}, 1), NBT_ANY_STATUS, "flip");
  nbt_expect_null(nb_masked_fill(x, idx, 0), NBT_ANY_STATUS, "masked_fill");
  nb_tensor *pieces[2];
  cr_expect_lt(nb_split(x, 1, 1, pieces, 2), 0);
  cr_expect(strstr(nb_errmsg(), "split") != NULL, "%s", nb_errmsg());
  cr_expect_lt(nb_chunk(x, 0, 0, pieces, 2), 0);
  cr_expect(strstr(nb_errmsg(), "chunk") != NULL, "%s", nb_errmsg());
  nb_clear_error();
  cr_expect_null(nb_contiguous(NULL));
  nb_scope_end();
}
