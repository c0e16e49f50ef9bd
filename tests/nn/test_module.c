/* tests/nn/test_module.c - the module object and containers.
 *
 * Registration and PyTorch's hierarchical names and order (checked against
 * what PyTorch prints for the same Net, see the comment on expected_*),
 * duplicate and malformed names, ownership on failure, lookup by dotted
 * name, cache invalidation, train/eval propagation, zero_grad, parameter
 * counts, tied parameters, Sequential / ModuleList / ModuleDict, forward
 * errors, and that freeing a module releases every tensor.
 */
#include <string.h>

#include "nn/nn.h"
#include "support/nbtest.h"

TestSuite(nn_module, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

/* ---- a user-defined module tree (PyTorch twin in the comment below) --------- */

/* class Block(nn.Module): scale = Parameter(ones(3)); fc1 = Linear(3, 4);
 *   register_buffer("running", zeros(3)); fc2 = Linear(4, 3)
 *   forward(x) = fc2(relu(fc1(x))) * scale + x
 * class Net(nn.Module): stem = Linear(2, 3); block = Block();
 *   heads = ModuleList([Linear(3, 1), Linear(3, 2)]);
 *   temperature = Parameter(ones(1)); register_buffer("steps", zeros((), int64))
 *   forward(x) = heads[0](block(stem(x))) * temperature */
static nb_tensor *block_forward(nb_module *self, nb_tensor *const *in, int n) {
  /* Temporaries are freed explicitly: the result must be a new reference
   * owned like any op's result (by the caller's scope, if one is open). */
  nb_tensor *h = nb_forward(nb_module_get_child(self, "fc1"), in[0]);
  nb_tensor *a = nb_relu(h);
  nb_tensor *y = nb_forward(nb_module_get_child(self, "fc2"), a);
  nb_tensor *s = nb_mul(y, nb_module_get_parameter(self, "scale"));
  nb_tensor *out = nb_add(s, in[0]);
  nb_free(h);
  nb_free(a);
  nb_free(y);
  nb_free(s);
  return out;
}

static int block_frees;
static void block_free(nb_module *self) { block_frees++; }

static const nb_module_ops block_ops = {
    .type_name = "Block", .forward = block_forward, .free = block_free};

static nb_tensor *net_forward(nb_module *self, nb_tensor *const *in, int n) {
  nb_tensor *h = nb_forward(nb_module_get_child(self, "stem"), in[0]);
  nb_tensor *b = nb_forward(nb_module_get_child(self, "block"), h);
  nb_tensor *y = nb_forward(nb_module_get_child(self, "heads.0"), b);
  nb_tensor *out = nb_mul(y, nb_module_get_parameter(self, "temperature"));
  nb_free(h);
  nb_free(b);
  nb_free(y);
  return out;
}

static const nb_module_ops net_ops = {.type_name = "Net", .forward = net_forward};

static nb_module *block_new(void) {
  nb_module *b = nb_module_new(&block_ops, sizeof(nb_module));
  cr_assert_not_null(nb_module_add_parameter(b, "scale", nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3))));
  cr_assert_not_null(nb_module_add_child(b, "fc1", nb_linear_new(3, 4, NULL)));
  cr_assert_not_null(nb_module_add_buffer(b, "running", nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(3))));
  cr_assert_not_null(nb_module_add_child(b, "fc2", nb_linear_new(4, 3, NULL)));
  return b;
}

static nb_module *net_new(void) {
  nb_module *m = nb_module_new(&net_ops, sizeof(nb_module));
  cr_assert_not_null(m, "%s", nb_errmsg());
  cr_assert_not_null(nb_module_add_child(m, "stem", nb_linear_new(2, 3, NULL)));
  cr_assert_not_null(nb_module_add_child(m, "block", block_new()));
  nb_module *heads = nb_module_add_child(m, "heads", nb_module_list_new());
  cr_assert_eq(nb_module_list_append(heads, nb_linear_new(3, 1, NULL)), NB_OK);
  cr_assert_eq(nb_module_list_append(heads, nb_linear_new(3, 2, NULL)), NB_OK);
  /* Registered after the children: still listed first, as in PyTorch. */
  cr_assert_not_null(
      nb_module_add_parameter(m, "temperature", nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(1))));
  cr_assert_not_null(nb_module_add_buffer(m, "steps", nb_zeros(NB_DTYPE_INT64, NB_SCALAR_SHAPE)));
  return m;
}

/* What PyTorch lists for Net (named_parameters, named_buffers, state_dict). */
static const char *const expected_params[] = {
    "temperature",      "stem.weight",    "stem.bias",        "block.scale",
    "block.fc1.weight", "block.fc1.bias", "block.fc2.weight", "block.fc2.bias",
    "heads.0.weight",   "heads.0.bias",   "heads.1.weight",   "heads.1.bias"};
static const char *const expected_buffers[] = {"steps", "block.running"};
static const char *const expected_state[] = {
    "temperature",      "steps",          "stem.weight",      "stem.bias",
    "block.scale",      "block.running",  "block.fc1.weight", "block.fc1.bias",
    "block.fc2.weight", "block.fc2.bias", "heads.0.weight",   "heads.0.bias",
    "heads.1.weight",   "heads.1.bias"};

static void assert_names(nb_named_tensors list, const char *const *names, int n, const char *what) {
  cr_assert_eq(list.n, n, "%s: %d entries, expected %d", what, list.n, n);
  for (int i = 0; i < n; i++) {
    cr_assert_str_eq(list.names[i], names[i], "%s[%d]", what, i);
    cr_assert_not_null(list.tensors[i], "%s[%d]", what, i);
  }
}

#define NAMES(list, arr, what)                                                                     \
  assert_names((list), (arr), (int)(sizeof(arr) / sizeof(arr[0])), (what))

Test(nn_module, pytorch_names_and_order) {
  nb_module *m = net_new();
  NAMES(nb_module_parameters(m), expected_params, "parameters");
  NAMES(nb_module_buffers(m), expected_buffers, "buffers");
  NAMES(nb_module_state(m), expected_state, "state");
  cr_assert_eq(nb_module_num_params(m), 56); /* sum(p.numel()) in PyTorch */
  nb_named_tensors p = nb_module_parameters(m);
  nbt_assert_shape(p.tensors[4], NB_SHAPE(4, 3), "block.fc1.weight");
  for (int i = 0; i < p.n; i++) cr_assert(nb_requires_grad(p.tensors[i]), "%s", p.names[i]);
  cr_assert_not(nb_requires_grad(nb_module_get_buffer(m, "block.running")));
  cr_assert_eq(nb_dtype_of(nb_module_get_buffer(m, "steps")), NB_DTYPE_INT64);
  /* Listings are cached: the same arrays until the structure changes. */
  cr_assert_eq(nb_module_parameters(m).names, p.names);
  nb_module_free(m);
}

Test(nn_module, lookup_by_dotted_name) {
  nb_module *m = net_new();
  nb_tensor *b = nb_module_get_parameter(m, "block.fc1.bias");
  nbt_assert_shape(b, NB_SHAPE(4), "block.fc1.bias");
  cr_assert_eq(b, nb_module_get_parameter(nb_module_get_child(m, "block.fc1"), "bias"));
  cr_assert_str_eq(nb_module_type(nb_module_get_child(m, "block.fc1")), "Linear");
  cr_assert_str_eq(nb_module_type(nb_module_get_child(m, "heads")), "ModuleList");
  cr_assert_str_eq(nb_module_type(nb_module_get_child(m, "heads.1")), "Linear");
  nbt_assert_shape(nb_module_get_buffer(m, "block.running"), NB_SHAPE(3), "running");
  cr_assert_eq(nb_module_num_children(m), 3);
  const char *name = NULL;
  cr_assert_str_eq(nb_module_type(nb_module_child_at(m, 1, &name)), "Block");
  cr_assert_str_eq(name, "block");
  nbt_expect_null(nb_module_child_at(m, 3, NULL), NB_ERR_INDEX, "child_at");

  nbt_expect_null(nb_module_get_parameter(m, "block.fc3.bias"), NB_ERR_ARG, "block.fc3.bias");
  cr_assert_null(nb_module_get_parameter(m, "block.running")); /* a buffer, not a parameter */
  cr_assert_null(nb_module_get_buffer(m, "block.scale"));
  nbt_expect_null(nb_module_get_child(m, "block.fc1.weight"), NB_ERR_ARG,
                  "no child named \"block.fc1.weight\"");
  cr_assert_null(nb_module_get_child(m, "nothing"));
  nb_module_free(m);
}

Test(nn_module, bad_and_duplicate_names_rejected) {
  nb_module *m = net_new();
  nb_module *block = nb_module_get_child(m, "block");
  /* Each failure releases what it was given: the leak check proves it. */
  nbt_expect_null(nb_module_add_parameter(block, "scale", nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3))),
                  NB_ERR_ARG, "already has a parameter named \"scale\"");
  nbt_expect_null(nb_module_add_buffer(block, "fc1", nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3))),
                  NB_ERR_ARG, "already has a child named \"fc1\"");
  nbt_expect_null(nb_module_add_child(block, "running", nb_relu_new()), NB_ERR_ARG,
                  "already has a buffer named \"running\"");
  nbt_expect_null(nb_module_add_parameter(block, "a.b", nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(1))),
                  NB_ERR_ARG, "must not contain '.'");
  nbt_expect_null(nb_module_add_child(block, "", nb_relu_new()), NB_ERR_ARG, "must not be empty");
  nbt_expect_null(nb_module_add_parameter(block, "idx", nb_zeros(NB_DTYPE_INT64, NB_SHAPE(2))),
                  NB_ERR_DTYPE, "must be floating");
  /* A NULL tensor (an earlier failure) keeps the earlier error. */
  nb_set_error(NB_ERR_SHAPE, "earlier failure");
  nbt_expect_null(nb_module_add_parameter(block, "w", NULL), NB_ERR_SHAPE, "earlier failure");
  nbt_expect_null(nb_module_add_child(NULL, "x", nb_relu_new()), NB_ERR_SHAPE, "earlier failure");
  nb_clear_error();

  /* A module that already has a parent, or an ancestor, is refused and left
   * where it is. */
  nb_module *fc1 = nb_module_get_child(m, "block.fc1");
  nbt_expect_null(nb_module_add_child(m, "again", fc1), NB_ERR_ARG, "already a child of a Block");
  nbt_expect_null(nb_module_add_child(block, "loop", m), NB_ERR_ARG, "cycle");
  cr_assert_eq(nb_module_get_child(m, "block.fc1"), fc1);
  NAMES(nb_module_state(m), expected_state, "state after failures");
  nb_module_free(m);
}

Test(nn_module, cache_follows_structure) {
  nb_module *m = net_new();
  nb_named_tensors before = nb_module_parameters(m);
  cr_assert_eq(before.n, 12);
  /* A change deep in the tree invalidates every ancestor's listing. */
  nb_module *fc2 = nb_module_get_child(m, "block.fc2");
  cr_assert_not_null(nb_module_add_parameter(fc2, "gain", nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(3))));
  nb_named_tensors after = nb_module_parameters(m);
  cr_assert_eq(after.n, 13);
  cr_assert_str_eq(after.names[8], "block.fc2.gain");
  cr_assert_eq(nb_module_num_params(m), 59);
  /* Freeing a registered child removes it from its parent. */
  nb_module_free(nb_module_get_child(m, "heads.0"));
  after = nb_module_parameters(m);
  cr_assert_eq(after.n, 11);
  cr_assert_str_eq(after.names[9], "heads.1.weight");
  cr_assert_eq(nb_module_num_children(nb_module_get_child(m, "heads")), 1);
  nb_module_free(m);
}

Test(nn_module, set_tensor_replaces_keeping_the_callers_reference) {
  nb_module *m = net_new();
  nb_tensor *w = nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(4, 3), 0.5);
  cr_assert_eq(nb_module_set_tensor(m, "block.fc1.weight", w), NB_OK, "%s", nb_errmsg());
  nb_tensor *p = nb_module_get_parameter(m, "block.fc1.weight");
  cr_assert_neq(p, w);
  cr_assert(nb_shares_storage(p, w));
  cr_assert(nb_requires_grad(p));
  cr_assert_eq(nb_module_parameters(m).tensors[4], p);
  nb_tensor *r = nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(3), 2.0);
  cr_assert_eq(nb_module_set_tensor(m, "block.running", r), NB_OK);
  cr_assert_float_eq(nb_get(nb_module_get_buffer(m, "block.running"), (int64_t[]){1}), 2.0, 1e-12);
  nbt_expect_status(nb_module_set_tensor(m, "block.nothing", w), NB_ERR_ARG, "block.nothing");
  nb_tensor *i = nb_zeros(NB_DTYPE_INT64, NB_SHAPE(3));
  nbt_expect_status(nb_module_set_tensor(m, "block.scale", i), NB_ERR_DTYPE, "floating");
  nb_free(i);
  nb_free(r);
  nb_free(w); /* still the caller's */
  nb_module_free(m);
}

Test(nn_module, parameters_are_leaves_requiring_grad) {
  nb_module *m = nb_module_new(&block_ops, sizeof(nb_module));
  nb_tensor *a = nb_ones(NB_DTYPE_FLOAT64, NB_SHAPE(2));
  nb_requires_grad_(a, true);
  nb_tensor *p = nb_module_add_parameter(m, "p", nb_mul_scalar(a, 3.0)); /* a non-leaf */
  cr_assert_not_null(p, "%s", nb_errmsg());
  cr_assert(nb_is_leaf(p));
  cr_assert(nb_requires_grad(p));
  cr_assert_float_eq(nb_get(p, (int64_t[]){0}), 3.0, 1e-12);
  nb_free(a);
  nb_module_free(m);
  cr_assert_eq(block_frees, 1); /* the user's free callback ran */
}

Test(nn_module, train_eval_propagate) {
  nb_module *m = net_new();
  nb_module *all[] = {m, nb_module_get_child(m, "stem"), nb_module_get_child(m, "block"),
                      nb_module_get_child(m, "block.fc2"), nb_module_get_child(m, "heads.1")};
  for (int i = 0; i < 5; i++) cr_assert(all[i]->training, "default is training");
  nb_module_eval(m);
  for (int i = 0; i < 5; i++) cr_assert_not(all[i]->training, "module %d after eval", i);
  nb_module_train(nb_module_get_child(m, "block"), true);
  cr_assert(all[2]->training && all[3]->training);
  cr_assert_not(all[0]->training || all[1]->training || all[4]->training);
  nb_module_train(m, true);
  for (int i = 0; i < 5; i++) cr_assert(all[i]->training);
  nb_module_free(m);
}

Test(nn_module, zero_grad_and_forward) {
  nb_module *m = net_new();
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(5, 2), NULL);
  nb_tensor *y = nb_forward(m, x);
  nbt_assert_shape(y, NB_SHAPE(5, 1), "net output");
  nbt_assert_ok(nb_backward(nb_sum(y, NB_ALL_DIMS, false)), "backward");
  nb_named_tensors p = nb_module_parameters(m);
  for (int i = 0; i < p.n; i++) {
    bool used = strncmp(p.names[i], "heads.1", 7) != 0;
    cr_assert_eq(nb_grad_of(p.tensors[i]) != NULL, used, "grad of %s", p.names[i]);
  }
  cr_assert_gt(nb_item(nbk_sum(nbk_abs(nb_grad_of(p.tensors[1])), NB_ALL_DIMS, false)), 0);
  nb_module_zero_grad(m, false);
  for (int i = 0; i < p.n; i++) {
    nb_tensor *g = nb_grad_of(p.tensors[i]);
    if (g) cr_assert_leq(nb_item(nbk_sum(nbk_abs(g), NB_ALL_DIMS, false)), 0.0, "%s", p.names[i]);
  }
  nb_module_zero_grad(m, true);
  for (int i = 0; i < p.n; i++) cr_assert_null(nb_grad_of(p.tensors[i]), "%s", p.names[i]);
  nb_scope_end();
  nb_module_free(m);
}

Test(nn_module, free_releases_everything) {
  nb_mem_stats s0, s1;
  nb_mem_stats_get(&s0);
  nb_scope_begin(); /* a model built inside a scope outlives it */
  nb_module *m = net_new();
  nb_scope_end();
  nb_mem_stats_get(&s1);
  cr_assert_eq(s1.live_tensors - s0.live_tensors, 14, "12 parameters + 2 buffers alive");
  nb_scope_begin();
  nb_tensor *y = nb_forward(m, nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(4, 2), NULL));
  nbt_assert_ok(nb_backward(nb_sum(y, NB_ALL_DIMS, false)), "backward");
  nb_scope_end();
  nb_module_parameters(m);
  nb_module_state(m);
  nb_module_free(m);
  nbt_assert_no_leaks("after nb_module_free");
}

Test(nn_module, tied_parameters_listed_once) {
  nb_module *a = nb_linear_new(3, 3, NULL), *b = nb_linear_new(3, 3, NULL);
  nb_module *seq = nb_sequential_new((nb_module *[]){a, b}, 2);
  nb_tensor *w = nb_module_get_parameter(a, "weight");
  cr_assert_eq(nb_module_set_tensor(b, "weight", w), NB_OK); /* shares storage only */
  cr_assert_eq(nb_module_parameters(seq).n, 4);
  /* Registering the very same tensor object twice ties it (PyTorch's
   * parameters() then lists it once; the state dict keeps both names). */
  cr_assert_not_null(nb_module_add_parameter(b, "tied", nb_retain(w)));
  nb_named_tensors p = nb_module_parameters(seq), s = nb_module_state(seq);
  cr_assert_eq(p.n, 4);
  cr_assert_eq(s.n, 5);
  cr_assert_str_eq(s.names[4], "1.tied");
  cr_assert_eq(nb_module_num_params(seq), 2 * 12);
  nb_module_free(seq);
}

Test(nn_module, sequential) {
  nb_manual_seed(3);
  nb_module *seq = nb_sequential_new(
      (nb_module *[]){nb_linear_new(4, 5, NULL), nb_tanh_new(), nb_linear_new(5, 2, NULL)}, 3);
  cr_assert_not_null(seq, "%s", nb_errmsg());
  cr_assert_str_eq(nb_module_type(seq), "Sequential");
  const char *names[] = {"0.weight", "0.bias", "2.weight", "2.bias"};
  NAMES(nb_module_parameters(seq), names, "sequential");
  nb_scope_begin();
  nb_tensor *x = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(3, 4), NULL);
  nb_tensor *y = nb_forward(seq, x);
  nb_tensor *h = nb_tanh(nb_linear(x, nb_module_get_parameter(seq, "0.weight"),
                                   nb_module_get_parameter(seq, "0.bias")));
  nb_tensor *ref = nb_linear(h, nb_module_get_parameter(seq, "2.weight"),
                             nb_module_get_parameter(seq, "2.bias"));
  nbt_assert_close(y, ref, 1e-6, 1e-6, "sequential forward");
  /* Errors inside name the child. */
  nbt_expect_null(nb_forward(seq, nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(3, 7), NULL)), NB_ERR_SHAPE,
                  "Sequential[0] (Linear)");
  nb_scope_end();

  cr_assert_eq(nb_sequential_append(seq, nb_relu_new()), NB_OK);
  cr_assert_str_eq(nb_module_type(nb_module_get_child(seq, "3")), "ReLU");
  nb_module *list = nb_module_list_new();
  nbt_expect_status(nb_sequential_append(list, nb_relu_new()), NB_ERR_ARG, "expected a Sequential");
  nb_module_free(list);

  /* An empty Sequential is the identity; a NULL module frees the others. */
  nb_module *empty = nb_sequential_new(NULL, 0);
  nb_scope_begin();
  nb_tensor *x2 = nb_randn(NB_DTYPE_FLOAT32, NB_SHAPE(2), NULL);
  nb_tensor *y2 = nb_forward(empty, x2);
  cr_assert_neq(y2, x2);
  nbt_assert_close(y2, x2, 0, 0, "empty sequential");
  nb_scope_end();
  nb_set_error(NB_ERR_ARG, "constructor failed");
  nbt_expect_null(nb_sequential_new((nb_module *[]){nb_relu_new(), NULL}, 2), NB_ERR_ARG,
                  "constructor failed");
  nb_module_free(empty);
  nb_module_free(seq);
}

Test(nn_module, module_list_and_dict) {
  nb_module *list = nb_module_list_new(), *dict = nb_module_dict_new();
  for (int i = 0; i < 3; i++)
    cr_assert_eq(nb_module_list_append(list, nb_linear_new(2, i + 1, NULL)), NB_OK);
  cr_assert_eq(nb_size(nb_module_get_parameter(nb_module_list_at(list, -1), "weight"), 0), 3);
  cr_assert_eq(nb_module_list_at(list, 0), nb_module_get_child(list, "0"));
  nbt_expect_null(nb_module_list_at(list, 3), NB_ERR_INDEX, "out of range");
  cr_assert_null(nb_module_list_at(list, -4));
  nb_scope_begin();
  nbt_expect_null(nb_forward(list, nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2))), NB_ERR_ARG,
                  "ModuleList has no forward");
  nb_scope_end();

  cr_assert_eq(nb_module_dict_set(dict, "b", nb_linear_new(2, 2, NULL)), NB_OK);
  cr_assert_eq(nb_module_dict_set(dict, "a", nb_relu_new()), NB_OK);
  cr_assert_str_eq(nb_module_type(nb_module_dict_get(dict, "a")), "ReLU");
  /* Replacing keeps the key's position and frees the old module. */
  cr_assert_eq(nb_module_dict_set(dict, "b", nb_linear_new(2, 5, NULL)), NB_OK);
  const char *names[] = {"b.weight", "b.bias"};
  NAMES(nb_module_parameters(dict), names, "dict");
  cr_assert_eq(nb_module_num_params(dict), 15);
  const char *first;
  nb_module_child_at(dict, 0, &first);
  cr_assert_str_eq(first, "b");
  nbt_expect_null(nb_module_dict_get(dict, "c"), NB_ERR_ARG, "\"c\"");
  nbt_expect_status(nb_module_dict_set(dict, "x.y", nb_relu_new()), NB_ERR_ARG, "'.'");
  nbt_expect_status(nb_module_dict_set(list, "k", nb_relu_new()), NB_ERR_ARG,
                    "expected a ModuleDict");

  cr_assert_not_null(nb_module_add_child(list, "dict", dict));
  cr_assert_eq(nb_module_num_params(list), 18 + 15);
  cr_assert_str_eq(nb_module_state(list).names[6], "dict.b.weight");
  nb_module_free(list);
}

Test(nn_module, forward_errors) {
  nb_module *relu = nb_relu_new();
  nb_scope_begin();
  nb_tensor *x = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  nbt_expect_null(nb_forward_n(relu, (nb_tensor *[]){x, x}, 2), NB_ERR_ARG,
                  "ReLU: expected 1 input, got 2");
  nbt_expect_null(nb_forward_n(relu, NULL, 0), NB_ERR_ARG, "at least one input");
  nb_set_error(NB_ERR_DTYPE, "first error");
  cr_assert_null(nb_forward(relu, NULL));
  nbt_expect_null(nb_forward(NULL, x), NB_ERR_DTYPE, "first error");
  nbt_expect_fail(nb_forward(NULL, x), NB_ERR_NULL, "forward");
  nbt_expect_null(nb_module_new(NULL, 64), NB_ERR_ARG, "type_name");
  nbt_expect_null(nb_module_new(&net_ops, 4), NB_ERR_ARG, "smaller than nb_module");
  nb_scope_end();
  cr_assert_null(nb_module_type(NULL));
  cr_assert_eq(nb_module_num_children(NULL), 0);
  cr_assert_eq(nb_module_parameters(NULL).n, 0);
  nb_module_free(NULL);
  nb_module_free(relu);
}
