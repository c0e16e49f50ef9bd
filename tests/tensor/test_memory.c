/* tests/tensor/test_memory.c - references, scopes, the caching allocator, counters.
 *
 * Owns the tests of tensor/scope.c and tensor/alloc.c and of the reference
 * counting in tensor/tensor.c: live counters, nb_retain/nb_free, scopes
 * (nesting, nb_keep, freeing scoped tensors early), cache reuse without system
 * allocations, user allocators, peak/in-use/cached byte counters, thread
 * safety, and releasing million-long chains without recursion. The sanitizer
 * run sets NB_NO_CACHE=1; the cache assertions then check the opposite.
 */
#include "support/nbtest.h"
#include "tensor/tensor_impl.h" /* nb_object, grad/grad_fn links for the release chain */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

TestSuite(memory, .init = nbt_leak_setup, .fini = nbt_leak_teardown);

/* Same rule as tensor/alloc.c: NB_NO_CACHE set and not "0" turns caching off. */
static bool cache_on(void) {
  const char *env = getenv("NB_NO_CACHE");
  return !(env && env[0] && env[0] != '0');
}

static nb_mem_stats stats(void) {
  nb_mem_stats s;
  memset(&s, 0, sizeof s);
  nb_mem_stats_get(&s);
  return s;
}

static int64_t live_tensors(void) { return stats().live_tensors; }

/* ---- counters and references ------------------------------------------------------------ */

Test(memory, live_counters_follow_tensors_views_and_storages) {
  nb_mem_stats s0 = stats();
  nb_tensor *a = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(10));
  nb_mem_stats s1 = stats();
  cr_assert_eq(s1.live_tensors, s0.live_tensors + 1);
  cr_assert_eq(s1.live_storages, s0.live_storages + 1);
  nb_tensor *v = nbk_contiguous(a); /* a view: a tensor, no storage */
  cr_assert(nb_shares_storage(a, v));
  nb_mem_stats s2 = stats();
  cr_assert_eq(s2.live_tensors, s0.live_tensors + 2);
  cr_assert_eq(s2.live_storages, s0.live_storages + 1);
  /* The view keeps the storage alive after its base is freed. */
  nb_free(a);
  cr_assert_eq(stats().live_storages, s0.live_storages + 1);
  cr_assert_eq(nb_fill_(v, 2), NB_OK);
  nbt_assert_values(v, ((double[]){2, 2, 2, 2, 2, 2, 2, 2, 2, 2}), 10, 0, 0, "view alive");
  nb_free(v);
  nb_mem_stats s3 = stats();
  cr_assert_eq(s3.live_tensors, s0.live_tensors);
  cr_assert_eq(s3.live_storages, s0.live_storages);
  cr_assert_eq(s3.bytes_in_use, s0.bytes_in_use);
}

Test(memory, retain_and_free_count_references) {
  int64_t base = live_tensors();
  nb_tensor *t = nb_ones(NB_DTYPE_INT64, NB_SHAPE(3));
  cr_assert_eq(nb_retain(t), t);
  nb_retain(t); /* three references */
  nb_free(t);
  nb_free(t);
  cr_assert_eq(live_tensors(), base + 1, "alive while a reference remains");
  nbt_assert_values(t, ((double[]){1, 1, 1}), 3, 0, 0, "still readable");
  nb_free(t);
  cr_assert_eq(live_tensors(), base);
  nb_free(NULL); /* ignored */
}

Test(memory, bytes_in_use_and_peak) {
  nb_mem_stats s0 = stats();
  const int64_t n = 1 << 20; /* 4 MiB of float32 */
  nb_tensor *big = nb_empty(NB_DTYPE_FLOAT32, NB_SHAPE(n));
  nb_mem_stats s1 = stats();
  int64_t grew = s1.bytes_in_use - s0.bytes_in_use;
  cr_assert_geq(grew, 4 * n, "in use grew by %lld", (long long)grew);
  cr_assert_leq(grew, 4 * n + 4096, "size classes waste at most 25%%, exact at powers of 2");
  cr_assert_geq(s1.peak_bytes, s1.bytes_in_use);
  cr_assert_geq(s1.peak_bytes, s0.bytes_in_use + 4 * n);
  int64_t high = s1.peak_bytes;
  nb_free(big);
  nb_mem_stats s2 = stats();
  cr_assert_eq(s2.bytes_in_use, s0.bytes_in_use, "in use returns to its start");
  cr_assert_eq(s2.peak_bytes, high, "peak is a high-water mark");
  nb_tensor *small = nb_empty(NB_DTYPE_FLOAT32, NB_SHAPE(1000));
  cr_assert_eq(stats().peak_bytes, high, "a smaller tensor does not move the peak");
  nb_free(small);
  /* Two live at once push the mark higher than either alone. */
  nb_tensor *x = nb_empty(NB_DTYPE_FLOAT32, NB_SHAPE(n));
  nb_tensor *y = nb_empty(NB_DTYPE_FLOAT32, NB_SHAPE(n));
  cr_assert_geq(stats().peak_bytes, s0.bytes_in_use + 8 * n);
  nb_free(y);
  nb_free(x);
}

/* ---- scopes ------------------------------------------------------------------------------ */

Test(memory, scope_frees_what_it_made) {
  int64_t base = live_tensors();
  cr_assert_eq(nb_scope_depth(), 0);
  nb_scope_begin();
  cr_assert_eq(nb_scope_depth(), 1);
  nb_tensor *a = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(4));
  nb_tensor *b = nbk_to(a, NB_DTYPE_FLOAT64);
  nb_tensor *c = nbk_contiguous(b);
  cr_assert(a && b && c);
  cr_assert_eq(live_tensors(), base + 3);
  cr_assert_eq(nb_scope_end(), NB_OK);
  cr_assert_eq(nb_scope_depth(), 0);
  cr_assert_eq(live_tensors(), base, "the scope released all three");
  nbt_assert_no_leaks("after scope_end");
}

Test(memory, nested_scopes) {
  int64_t base = live_tensors();
  nb_scope_begin();
  nb_tensor *outer = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  nb_scope_begin();
  cr_assert_eq(nb_scope_depth(), 2);
  nb_tensor *inner1 = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  nb_tensor *inner2 = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  cr_assert(inner1 && inner2);
  cr_assert_eq(live_tensors(), base + 3);
  cr_assert_eq(nb_scope_end(), NB_OK);
  cr_assert_eq(live_tensors(), base + 1, "inner scope freed its two; outer's survives");
  nbt_assert_values(outer, ((double[]){1, 1}), 2, 0, 0, "outer tensor intact");
  cr_assert_eq(nb_scope_end(), NB_OK);
  cr_assert_eq(live_tensors(), base);
  /* Deep nesting, one tensor per level. */
  for (int i = 0; i < 100; i++) {
    nb_scope_begin();
    cr_assert_not_null(nb_scalar(NB_DTYPE_FLOAT64, i));
  }
  cr_assert_eq(nb_scope_depth(), 100);
  cr_assert_eq(live_tensors(), base + 100);
  for (int i = 0; i < 100; i++) {
    cr_assert_eq(nb_scope_end(), NB_OK);
    cr_assert_eq(live_tensors(), base + 99 - i);
  }
}

Test(memory, keep_lets_a_tensor_outlive_its_scope) {
  int64_t base = live_tensors();
  nb_scope_begin();
  nb_tensor *kept = nb_full(NB_DTYPE_FLOAT32, NB_SHAPE(3), 7);
  nb_tensor *dropped = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(3));
  cr_assert_not_null(dropped);
  cr_assert_eq(nb_keep(kept), kept);
  cr_assert_eq(nb_scope_end(), NB_OK);
  cr_assert_eq(live_tensors(), base + 1);
  nbt_assert_values(kept, ((double[]){7, 7, 7}), 3, 0, 0, "kept tensor");
  nb_free(kept);
  cr_assert_eq(live_tensors(), base);
  /* Kept in an inner scope: owned by the caller, not by the outer scope. */
  nb_scope_begin();
  nb_scope_begin();
  nb_tensor *k2 = nb_keep(nb_ones(NB_DTYPE_BOOL, NB_SHAPE(2)));
  nb_scope_end();
  nb_scope_end();
  cr_assert_eq(live_tensors(), base + 1);
  nb_free(k2);
  /* Unscoped: a no-op; keeping twice is harmless. */
  nb_tensor *u = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1));
  cr_assert_eq(nb_keep(u), u);
  nb_scope_begin();
  nb_tensor *k3 = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1));
  nb_keep(k3);
  nb_keep(k3);
  nb_scope_end();
  cr_assert_eq(live_tensors(), base + 2);
  nb_free(k3);
  nb_free(u);
}

Test(memory, freeing_a_scoped_tensor_early_is_safe) {
  int64_t base = live_tensors();
  nb_scope_begin();
  nb_tensor *a = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(8));
  nb_tensor *b = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(8));
  nb_free(a); /* the scope forgets it */
  cr_assert_eq(live_tensors(), base + 1, "freed at once");
  /* A new tensor may reuse a's struct; the scope must free it exactly once. */
  nb_tensor *c = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(8));
  cr_assert(b && c);
  cr_assert_eq(live_tensors(), base + 2);
  cr_assert_eq(nb_scope_end(), NB_OK); /* no double free: the sanitizer run proves it */
  cr_assert_eq(live_tensors(), base);
  /* Freed inside an inner scope though the outer scope made it. */
  nb_scope_begin();
  nb_tensor *o = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2));
  nb_scope_begin();
  nb_free(o);
  cr_assert_not_null(nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(2)));
  nb_scope_end();
  nb_scope_end();
  cr_assert_eq(live_tensors(), base);
  /* A retained scoped tensor survives the scope with the extra reference. */
  nb_scope_begin();
  nb_tensor *r = nb_retain(nb_full(NB_DTYPE_INT64, NB_SHAPE(1), 5));
  nb_scope_end();
  cr_assert_eq(live_tensors(), base + 1);
  nbt_assert_values(r, ((double[]){5}), 1, 0, 0, "retained");
  nb_free(r);
}

Test(memory, scope_end_without_scope_is_an_error) {
  nb_clear_error();
  cr_assert_eq(nb_scope_end(), NB_ERR_ARG);
  cr_assert_eq(nb_last_status(), NB_ERR_ARG);
  cr_assert(strstr(nb_errmsg(), "scope_end"), "%s", nb_errmsg());
  nb_scope_begin();
  cr_assert_eq(nb_scope_end(), NB_OK);
  cr_assert_eq(nb_scope_end(), NB_ERR_ARG, "one end per begin");
  cr_assert_eq(nb_scope_depth(), 0);
  nb_clear_error();
}

Test(memory, a_steady_scoped_loop_reuses_memory) {
  /* Warm up the cache, tensor pool and scope slots, then loop. */
  for (int warm = 0; warm < 2; warm++) {
    nb_scope_begin();
    for (int k = 0; k < 10; k++) cr_assert_not_null(nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(100 + k)));
    nb_scope_end();
  }
  nb_mem_stats s0 = stats();
  for (int step = 0; step < 500; step++) {
    nb_scope_begin();
    for (int k = 0; k < 10; k++) cr_assert_not_null(nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(100 + k)));
    nb_scope_end();
  }
  nb_mem_stats s1 = stats();
  if (cache_on()) {
    cr_assert_eq(s1.system_allocs, s0.system_allocs, "%lld new system allocations",
                 (long long)(s1.system_allocs - s0.system_allocs));
    cr_assert_geq(s1.cache_hits - s0.cache_hits, 500 * 10 * 2, "storage and data from the cache");
  } else {
    cr_assert_eq(s1.cache_hits, s0.cache_hits, "NB_NO_CACHE: nothing comes from a cache");
    cr_assert_geq(s1.system_allocs - s0.system_allocs, 500 * 10 * 2);
  }
  cr_assert_eq(s1.live_tensors, s0.live_tensors);
}

/* ---- the caching allocator --------------------------------------------------------------- */

Test(memory, cache_serves_repeated_sizes_without_system_allocs) {
  nb_tensor *w1 = nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(1000));
  nb_tensor *w2 = nb_ones(NB_DTYPE_FLOAT64, NB_SHAPE(1000));
  nb_free(w2);
  nb_free(w1);
  nb_mem_stats s0 = stats();
  for (int i = 0; i < 1000; i++) {
    nb_tensor *a = nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(1000));
    nb_tensor *b = nb_ones(NB_DTYPE_FLOAT64, NB_SHAPE(1000));
    cr_assert(a && b);
    nb_free(b);
    nb_free(a);
  }
  nb_mem_stats s1 = stats();
  if (!cache_on()) {
    cr_assert_eq(s1.cache_hits, s0.cache_hits, "NB_NO_CACHE: no cache hits");
    cr_assert_eq(s1.bytes_cached, 0);
    cr_assert_geq(s1.system_allocs - s0.system_allocs, 4000);
    return;
  }
  cr_assert_eq(s1.system_allocs, s0.system_allocs, "0 new system allocations after warm-up");
  cr_assert_geq(s1.cache_hits - s0.cache_hits, 4000, "cache hits grew by %lld",
                (long long)(s1.cache_hits - s0.cache_hits));
  /* A size in the same class (8000 and 7900 bytes both round to 8192) hits too. */
  nb_tensor *c = nb_empty(NB_DTYPE_FLOAT64, NB_SHAPE(990));
  cr_assert_eq(stats().system_allocs, s1.system_allocs);
  nb_free(c);
}

Test(memory, empty_cache_returns_cached_bytes) {
  nb_tensor *t = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(50000));
  nb_free(t);
  if (cache_on()) cr_assert_geq(stats().bytes_cached, 200000, "freed blocks are cached");
  nb_empty_cache();
  cr_assert_eq(stats().bytes_cached, 0);
  /* The next request goes to the system again. */
  int64_t before = stats().system_allocs;
  nb_tensor *u = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(50000));
  cr_assert_gt(stats().system_allocs, before);
  nb_free(u);
}

Test(memory, caching_can_be_switched_off_and_on) {
  nb_set_caching(true);
  nb_tensor *t = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(5000));
  nb_free(t);
  cr_assert_gt(stats().bytes_cached, 0);
  nb_set_caching(false);
  cr_assert_eq(stats().bytes_cached, 0, "switching off empties the cache");
  int64_t hits = stats().cache_hits;
  for (int i = 0; i < 10; i++) nb_free(nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(5000)));
  cr_assert_eq(stats().bytes_cached, 0);
  cr_assert_eq(stats().cache_hits, hits);
  nb_set_caching(true);
  nb_free(nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(5000)));
  nb_free(nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(5000)));
  cr_assert_gt(stats().cache_hits, hits);
  nb_set_caching(cache_on());
}

/* A user allocator that counts calls and checks every free against its alloc. */
#define MAX_BLOCKS 4096
typedef struct {
  int64_t allocs, frees, bad_frees, misaligned;
  int nlive;
  void *ptr[MAX_BLOCKS];
  size_t bytes[MAX_BLOCKS];
} tracker;

static void *tracked_alloc(size_t bytes, size_t align, void *ctx) {
  tracker *tr = ctx;
  tr->allocs++;
  if (align & (align - 1) || tr->nlive == MAX_BLOCKS) return NULL;
  void *p = aligned_alloc(align, (bytes + align - 1) / align * align);
  if (!p) return NULL;
  if ((uintptr_t)p % 64) tr->misaligned++;
  tr->ptr[tr->nlive] = p;
  tr->bytes[tr->nlive++] = bytes;
  return p;
}

static void tracked_free(void *p, size_t bytes, void *ctx) {
  tracker *tr = ctx;
  tr->frees++;
  for (int i = 0; i < tr->nlive; i++)
    if (tr->ptr[i] == p) {
      if (tr->bytes[i] != bytes) tr->bad_frees++; /* freed with another size */
      tr->ptr[i] = tr->ptr[--tr->nlive];
      tr->bytes[i] = tr->bytes[tr->nlive];
      free(p);
      return;
    }
  tr->bad_frees++; /* not ours */
}

static void run_user_allocator(bool caching) {
  tracker *tr = calloc(1, sizeof *tr);
  nb_set_caching(caching);
  nb_set_allocator(&(nb_allocator){tracked_alloc, tracked_free, tr});
  /* Many sizes, so every size class's round trip through the cache is checked. */
  for (int64_t n = 1; n <= 5000; n += 37) {
    nb_tensor *t = nb_empty(NB_DTYPE_BOOL, NB_SHAPE(n));
    cr_assert_not_null(t);
    cr_assert_eq((uintptr_t)nb_data(t) % 64, 0);
    cr_assert_eq(nb_fill_(t, 1), NB_OK); /* write every byte (ASan checks the extent) */
    nb_free(t);
  }
  nb_tensor *keep = nb_zeros(NB_DTYPE_FLOAT64, NB_SHAPE(3, 3));
  cr_assert_gt(tr->allocs, 2, "the user allocator is called");
  nb_free(keep);
  nb_set_allocator(NULL); /* empties the cache back into tracked_free */
  cr_assert_eq(tr->nlive, 0, "every block came back (%d outstanding)", tr->nlive);
  cr_assert_eq(tr->frees, tr->allocs);
  cr_assert_eq(tr->bad_frees, 0, "blocks are freed with their allocation size");
  cr_assert_eq(tr->misaligned, 0);
  int64_t calls = tr->allocs;
  nb_tensor *after = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(1));
  nbt_assert_values(after, ((double[]){1}), 1, 0, 0, "default allocator restored");
  nb_free(after);
  cr_assert_eq(tr->allocs, calls, "the default allocator is back");
  nb_set_caching(cache_on());
  free(tr);
}

Test(memory, user_allocator_with_cache) { run_user_allocator(true); }
Test(memory, user_allocator_without_cache) { run_user_allocator(false); }

static void *failing_alloc(size_t bytes, size_t align, void *ctx) {
  (void)bytes;
  (void)align;
  ++*(int *)ctx;
  return NULL;
}
static void never_free(void *p, size_t bytes, void *ctx) {
  (void)p;
  (void)bytes;
  (void)ctx;
}

Test(memory, allocation_failure_is_an_error_not_a_crash) {
  int calls = 0;
  nb_set_allocator(&(nb_allocator){failing_alloc, never_free, &calls});
  nb_clear_error();
  nb_tensor *t = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(7, 9));
  cr_assert_null(t);
  cr_assert_gt(calls, 0);
  cr_assert_eq(nb_last_status(), NB_ERR_MEMORY);
  cr_assert(strstr(nb_errmsg(), "zeros") && strstr(nb_errmsg(), "[7, 9]"), "%s", nb_errmsg());
  nb_set_allocator(NULL);
  nb_clear_error();
  nb_tensor *ok = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(7, 9));
  cr_assert_not_null(ok);
  nb_free(ok);
}

/* ---- threads ------------------------------------------------------------------------------ */

typedef struct {
  int id;
  int64_t failures;
  int depth_seen;
} worker_arg;

static void *alloc_worker(void *p) {
  worker_arg *w = p;
  w->depth_seen = nb_scope_depth(); /* scopes are per thread */
  for (int i = 0; i < 3000; i++) {
    nb_tensor *a = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1 + (i * 7 + w->id) % 300));
    nb_tensor *b = nbk_to(a, NB_DTYPE_FLOAT64);
    nb_tensor *c = nb_retain(b);
    if (!a || !b || c != b) w->failures++;
    nb_free(c);
    nb_free(b);
    nb_free(a);
    /* Scopes on this thread: its stack is freed when the thread exits (LSan
     * in the sanitizer run reports it otherwise). */
    nb_scope_begin();
    if (!nb_ones(NB_DTYPE_INT64, NB_SHAPE(1 + i % 50))) w->failures++;
    if (nb_scope_depth() != 1) w->failures++;
    nb_scope_end();
  }
  return NULL;
}

Test(memory, allocator_and_counters_are_thread_safe) {
  nb_scope_begin(); /* main's scope must not adopt the workers' tensors */
  pthread_t th[2];
  worker_arg args[2] = {{0, 0, -1}, {1, 0, -1}};
  for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&th[i], NULL, alloc_worker, &args[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  cr_assert_eq(nb_scope_end(), NB_OK);
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(args[i].failures, 0);
    cr_assert_eq(args[i].depth_seen, 0, "a new thread has no open scope");
  }
  nbt_assert_no_leaks("after the workers");
}

/* ---- long chains are released without recursion ------------------------------------------- */

#define CHAIN 1000000

Test(memory, a_million_views_long_chain) {
  /* Each view is made from the previous one, which is then freed: the storage
   * is held by the newest view only. */
  nb_tensor *x = nb_arange(NB_DTYPE_FLOAT32, 0, 6, 1);
  void *data = nb_data(x);
  for (int i = 0; i < CHAIN; i++) {
    nb_tensor *y = i % 2 ? nbk_reshape(x, NB_SHAPE(6)) : nbk_reshape(x, NB_SHAPE(2, 3));
    cr_assert_not_null(y, "step %d: %s", i, nb_errmsg());
    nb_free(x);
    x = y;
  }
  cr_assert_eq(nb_data(x), data, "still the first storage, never copied");
  nbt_assert_values(x, ((double[]){0, 1, 2, 3, 4, 5}), 6, 0, 0, "values after a million views");
  nb_free(x);
  nbt_assert_no_leaks("after the chain");
}

/* A stand-in for an autograd node: it holds its input tensor. */
typedef struct {
  nb_object base;
  nb_tensor *input;
} chain_node;

static int64_t nodes_destroyed;

static void chain_node_destroy(nb_object *o) {
  chain_node *n = (chain_node *)o;
  nb_free(n->input);
  free(n);
  nodes_destroyed++;
}

Test(memory, a_million_nodes_and_grads_release_without_recursion) {
  /* t[i]->grad_fn holds t[i-1] and t[i]->grad is t[i-1]'s grad chain: freeing
   * the last tensor releases 2 million objects. Done recursively this would
   * overflow the 8 MiB stack many times over. */
  int64_t start = live_tensors();
  nb_tensor *base = nb_zeros(NB_DTYPE_FLOAT32, NB_SHAPE(1));
  nb_tensor *t = nb__new_view(base, 1, (int64_t[]){1}, (int64_t[]){1}, 0);
  nb_tensor *g = nb__new_view(base, 1, (int64_t[]){1}, (int64_t[]){1}, 0);
  nb_free(base);
  nodes_destroyed = 0;
  for (int i = 0; i < CHAIN; i++) {
    chain_node *n = malloc(sizeof *n);
    cr_assert_not_null(n);
    n->base = (nb_object){.refcount = 1, .destroy = chain_node_destroy};
    n->input = t; /* our reference moves into the node */
    t = nb__new_view(n->input, 1, (int64_t[]){1}, (int64_t[]){1}, 0);
    t->grad_fn = &n->base;
    nb_tensor *gi = nb__new_view(g, 1, (int64_t[]){1}, (int64_t[]){1}, 0);
    gi->grad = g; /* a grad whose own grad is the previous one */
    g = gi;
  }
  t->grad = g;
  cr_assert_eq(live_tensors(), start + 2 * CHAIN + 2);
  nb_free(t);
  cr_assert_eq(nodes_destroyed, CHAIN);
  nbt_assert_no_leaks("after the chain");
}
