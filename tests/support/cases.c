/* tests/support/cases.c - per-op fixture conventions shared by the op tests.
 *
 * Owns the sweep over a fixture family's cases, the "<op>__<variant>" case
 * names, exact-length int params, pool2d options, and the autograd harness
 * (nbt_check_grad_case: inputs, forward, backward with a stored weight,
 * output and gradients against PyTorch) that the tests/autograd sweeps share.
 */
#include "support/nbtest.h"

#include "autograd/autograd.h"
#include "tensor/pool.h"

#include <string.h>

/* ---- fixture conventions ------------------------------------------------------------- */

void nbt_case_param_ints_n_at(const char *file, int line, const nbt_case *c, const char *name,
                              int64_t *out, int n) {
  int got = nbt_case_param_ints_at(file, line, c, name, out, n);
  if (got != n)
    nbt_fail_at(file, line, "case %s: param '%s' has %d values, expected %d", nbt_case_name(c),
                name, got, n);
}

const char *nbt_case_op(const nbt_case *c, char *buf, size_t size) {
  const char *name = nbt_case_name(c), *sep = strstr(name, "__");
  snprintf(buf, size, "%.*s", sep ? (int)(sep - name) : (int)strlen(name), name);
  return buf;
}

void nbt_case_pool2d_opts_at(const char *file, int line, const nbt_case *c, bool max,
                             nb_pool2d_opts *out) {
  nb_pool2d_opts o = {0};
  nbt_case_param_ints_n_at(file, line, c, "kernel", o.kernel, 2);
  nbt_case_param_ints_n_at(file, line, c, "stride", o.stride, 2);
  nbt_case_param_ints_n_at(file, line, c, "padding", o.padding, 2);
  o.ceil_mode = nbt_case_param_at(file, line, c, "ceil_mode") != 0;
  if (max) {
    nbt_case_param_ints_n_at(file, line, c, "dilation", o.dilation, 2);
  } else {
    o.exclude_pad = nbt_case_param_at(file, line, c, "exclude_pad") != 0;
    o.divisor_override = (int64_t)nbt_case_param_at(file, line, c, "divisor");
  }
  *out = o;
}

/* Every case of family through fn(file, line, case, ctx); returns the count. */
static int sweep(const char *file, int line, const char *family,
                 void (*fn)(const char *file, int line, const nbt_case *c, const void *ctx),
                 const void *ctx) {
  nbt_fixture *f = nbt_fixture_load_at(file, line, family);
  int n = nbt_fixture_num_cases(f);
  for (int i = 0; i < n; i++) fn(file, line, nbt_fixture_case_index(f, i), ctx);
  nbt_fixture_free(f);
  return n;
}

static void call_plain(const char *file, int line, const nbt_case *c, const void *ctx) {
  (void)file;
  (void)line;
  (*(void (*const *)(const nbt_case *))ctx)(c);
}

int nbt_fixture_sweep_at(const char *file, int line, const char *family,
                         void (*fn)(const nbt_case *c)) {
  return sweep(file, line, family, call_plain, &fn);
}

/* ---- autograd cases ------------------------------------------------------------------ */

const nbt_grad_input nbt_indexed_inputs[NBT_INDEXED_INPUTS] = {{"in0", "grad_in0", NULL},
                                                               {"in1", "grad_in1", NULL},
                                                               {"in2", "grad_in2", NULL},
                                                               {"in3", "grad_in3", NULL}};

static void pick_tols(const nbt_tols *t, bool f32, double *rtol, double *atol) {
  *rtol = f32 ? t->rtol32 : t->rtol64;
  *atol = f32 ? t->atol32 : t->atol64;
}

void nbt_check_grad_case_at(const char *file, int line, const nbt_case *c,
                            const nbt_grad_spec *spec) {
  const char *name = nbt_case_name(c);
  if (!spec || !spec->run || spec->ninputs < 0 || spec->ninputs > NBT_GRAD_MAX_INPUTS)
    nbt_fail_at(file, line, "nbt_check_grad_case: bad spec");
  nb_scope_begin();
  nb_tensor *leaf[NBT_GRAD_MAX_INPUTS] = {0}, *in[NBT_GRAD_MAX_INPUTS] = {0};
  for (int i = 0; i < spec->ninputs; i++) {
    const nbt_grad_input *d = &spec->inputs[i];
    if (!nbt_case_has_tensor(c, d->name)) continue;
    in[i] = leaf[i] = nbt_case_tensor_at(file, line, c, d->name);
    if (d->grad && nbt_case_has_tensor(c, d->grad))
      nbt_assert_ok_at(file, line, nb_requires_grad_(leaf[i], true), name);
  }
  if (nbt_case_has_param(c, "transpose")) {
    int64_t tr[NBT_GRAD_MAX_INPUTS];
    int ntr = nbt_case_param_ints_at(file, line, c, "transpose", tr, NBT_GRAD_MAX_INPUTS);
    for (int i = 0; i < ntr; i++) {
      if (tr[i] < 0 || tr[i] >= spec->ninputs)
        nbt_fail_at(file, line, "case %s: transpose lists input %lld of %d", name, (long long)tr[i],
                    spec->ninputs);
      in[tr[i]] = nb_transpose(leaf[tr[i]], 0, 1);
    }
  }
  nb_tensor *out = spec->run(c, in);
  if (!out) nbt_fail_at(file, line, "case %s (%s): %s", name, nbt_case_where(c), nb_errmsg());
  bool f32 = nb_dtype_of(out) == NB_DTYPE_FLOAT32;
  double rtol, atol;
  pick_tols(&spec->tols, f32, &rtol, &atol);
  nbt_case_check_at(file, line, c, "out", out, rtol, atol);
  nb_backward_opts opts = {.grad_output = nbt_case_tensor_at(file, line, c, spec->grad_output)};
  nb_status st = nb_backward_ex(out, &opts);
  if (st != NB_OK)
    nbt_fail_at(file, line, "case %s: backward: %s: %s", name, nb_status_str(st), nb_errmsg());
  for (int i = 0; i < spec->ninputs; i++) {
    const nbt_grad_input *d = &spec->inputs[i];
    if (!d->grad || !nbt_case_has_tensor(c, d->grad)) continue;
    if (!leaf[i])
      nbt_fail_at(file, line, "case %s: %s without its input %s", name, d->grad, d->name);
    nb_tensor *g = nb_grad_of(leaf[i]);
    if (!g) nbt_fail_at(file, line, "case %s: no gradient for %s", name, d->name);
    pick_tols(d->tols ? d->tols : &spec->tols, f32, &rtol, &atol);
    nbt_case_check_at(file, line, c, d->grad, g, rtol, atol);
  }
  nb_scope_end();
}

static void call_grad(const char *file, int line, const nbt_case *c, const void *ctx) {
  nbt_check_grad_case_at(file, line, c, ctx);
}

int nbt_check_grad_cases_at(const char *file, int line, const char *family,
                            const nbt_grad_spec *spec) {
  return sweep(file, line, family, call_grad, spec);
}
