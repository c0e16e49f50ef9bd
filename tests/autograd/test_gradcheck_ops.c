/* tests/autograd/test_gradcheck_ops.c - the table-driven gradient check.
 *
 * Walks every row of autograd/ops.def: builds the op's sample, checks its
 * first derivatives against finite differences in float64, and its second
 * derivatives unless the row is marked NB_OP_FIRST_ORDER. An op whose
 * backward is missing or wrong fails here by name.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "autograd/autograd_impl.h"
#include "support/nbtest.h"

ParameterizedTestParameters(gradcheck, every_op) {
  static int ids[NB_OP_COUNT];
  for (int i = 0; i < NB_OP_COUNT; i++) ids[i] = i;
  return cr_make_param_array(int, ids, NB_OP_COUNT);
}

static void free_sample(nb_op_sample *s) {
  for (int i = 0; i < s->ninputs; i++) nb_free(s->inputs[i]);
}

ParameterizedTest(int *id, gradcheck, every_op, .init = nbt_leak_setup, .fini = nbt_leak_teardown) {
  const nb_op_def *def = nb__op_def((nb_op_id)*id);
  cr_assert_not_null(def);
  cr_assert_not_null(def->backward, "op %s has no backward", def->name);
  nb_manual_seed(1234 + (uint64_t)*id);
  nb_scope_begin();
  nb_op_sample s;
  nb_status st = nb__op_sample((nb_op_id)*id, &s);
  cr_assert_eq(st, NB_OK, "sample of %s: %s", def->name, nb_errmsg());
  cr_assert_not_null(s.fn, "sample of %s sets no function", def->name);
  st = nb_gradcheck(s.fn, s.inputs, s.ninputs, s.user, NULL);
  cr_expect_eq(st, NB_OK, "gradcheck of %s: %s", def->name, nb_errmsg());
  if (st == NB_OK && !(def->flags & NB_OP_FIRST_ORDER)) {
    st = nb_gradgradcheck(s.fn, s.inputs, s.ninputs, s.user, NULL);
    cr_expect_eq(st, NB_OK, "gradgradcheck of %s: %s", def->name, nb_errmsg());
  }
  free_sample(&s);
  nb_scope_end();
}
