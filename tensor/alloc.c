/* tensor/alloc.c - the caching allocator beneath every storage and tensor.
 *
 * Owns: size-classed free lists of 64-byte-aligned blocks (four classes per
 * power of two, so at most 25% waste), a pool of tensor structs, the
 * user-pluggable underlying allocator, and the memory counters tests and
 * benchmarks read. A steady training loop asks the system for nothing after
 * warm-up. Thread-safe (one mutex; data loader threads allocate too).
 * NB_NO_CACHE=1 in the environment turns caching off (sanitizer runs).
 */
#include "tensor/tensor_impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NB_ALIGN 64
#define NB_MIN_BLOCK 64
#define NB_NUM_CLASSES 256
#define NB_CACHE_LIMIT ((int64_t)2 << 30) /* never cache more than 2 GiB */

typedef struct free_block {
  struct free_block *next;
} free_block;

static void *default_alloc(size_t bytes, size_t align, void *ctx) {
  (void)ctx;
  /* aligned_alloc wants a multiple of the alignment (ASan enforces it). */
  return aligned_alloc(align, (bytes + align - 1) & ~(align - 1));
}
static void default_free(void *p, size_t bytes, void *ctx) {
  (void)bytes;
  (void)ctx;
  free(p);
}

static struct {
  pthread_mutex_t lock;
  nb_allocator backend;
  free_block *classes[NB_NUM_CLASSES];
  nb_tensor *tensor_pool; /* free tensor structs, linked through ->grad */
  int caching;            /* -1 = not yet read from the environment */
  nb_mem_stats stats;
} A = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .backend = {default_alloc, default_free, NULL},
    .caching = -1,
};

/* Round bytes up to its class size; returns the class index, or -1 when the
 * block is too large to cache. */
static int size_class(size_t bytes, size_t *rounded) {
  if (bytes <= NB_MIN_BLOCK) {
    *rounded = NB_MIN_BLOCK;
    return 0;
  }
  int log2p = 63 - __builtin_clzll((unsigned long long)(bytes - 1)); /* p < bytes <= 2p */
  size_t p = (size_t)1 << log2p;
  size_t quarter = p / 4;
  size_t steps = (bytes - p + quarter - 1) / quarter; /* 1..4 */
  *rounded = p + steps * quarter;
  int index = (log2p - 6) * 4 + (int)steps;
  return index < NB_NUM_CLASSES && log2p < 40 ? index : -1;
}

static bool caching_enabled(void) {
  if (A.caching < 0) {
    const char *env = getenv("NB_NO_CACHE");
    A.caching = !(env && env[0] && env[0] != '0');
  }
  return A.caching == 1;
}

void *nb__alloc_bytes(size_t bytes) {
  if (bytes > SIZE_MAX / 2) return NULL; /* no machine has it, and rounding up would wrap */
  size_t rounded;
  int cls = size_class(bytes, &rounded);
  void *p = NULL;
  pthread_mutex_lock(&A.lock);
  if (cls >= 0 && A.classes[cls]) {
    free_block *b = A.classes[cls];
    A.classes[cls] = b->next;
    A.stats.bytes_cached -= (int64_t)rounded;
    A.stats.cache_hits++;
    p = b;
  } else {
    p = A.backend.alloc(rounded, NB_ALIGN, A.backend.ctx);
    if (!p && A.stats.bytes_cached > 0) { /* give the cache back and retry */
      pthread_mutex_unlock(&A.lock);
      nb_empty_cache();
      pthread_mutex_lock(&A.lock);
      p = A.backend.alloc(rounded, NB_ALIGN, A.backend.ctx);
    }
    if (p) A.stats.system_allocs++;
  }
  if (p) {
    A.stats.bytes_in_use += (int64_t)rounded;
    if (A.stats.bytes_in_use > A.stats.peak_bytes) A.stats.peak_bytes = A.stats.bytes_in_use;
  }
  pthread_mutex_unlock(&A.lock);
  return p;
}

void nb__free_bytes(void *p, size_t bytes) {
  if (!p) return;
  size_t rounded;
  int cls = size_class(bytes, &rounded);
  pthread_mutex_lock(&A.lock);
  A.stats.bytes_in_use -= (int64_t)rounded;
  if (cls >= 0 && caching_enabled() && A.stats.bytes_cached + (int64_t)rounded <= NB_CACHE_LIMIT) {
    free_block *b = p;
    b->next = A.classes[cls];
    A.classes[cls] = b;
    A.stats.bytes_cached += (int64_t)rounded;
  } else {
    A.backend.free(p, rounded, A.backend.ctx);
  }
  pthread_mutex_unlock(&A.lock);
}

nb_tensor *nb__alloc_tensor_struct(void) {
  nb_tensor *t = NULL;
  pthread_mutex_lock(&A.lock);
  if (A.tensor_pool) {
    t = A.tensor_pool;
    A.tensor_pool = t->grad;
    A.stats.live_tensors++;
  }
  pthread_mutex_unlock(&A.lock);
  if (!t) {
    t = malloc(sizeof *t);
    if (!t) return NULL;
    pthread_mutex_lock(&A.lock);
    A.stats.system_allocs++;
    A.stats.live_tensors++;
    pthread_mutex_unlock(&A.lock);
  }
  memset(t, 0, sizeof *t);
  return t;
}

void nb__free_tensor_struct(nb_tensor *t) {
  pthread_mutex_lock(&A.lock);
  A.stats.live_tensors--;
  if (caching_enabled()) {
    t->grad = A.tensor_pool;
    A.tensor_pool = t;
    t = NULL;
  }
  pthread_mutex_unlock(&A.lock);
  free(t);
}

void nb__count_storage(int delta, int64_t bytes) {
  (void)bytes;
  pthread_mutex_lock(&A.lock);
  A.stats.live_storages += delta;
  pthread_mutex_unlock(&A.lock);
}

void nb_mem_stats_get(nb_mem_stats *stats) {
  if (!stats) return;
  pthread_mutex_lock(&A.lock);
  *stats = A.stats;
  pthread_mutex_unlock(&A.lock);
}

void nb_empty_cache(void) {
  pthread_mutex_lock(&A.lock);
  for (int c = 0; c < NB_NUM_CLASSES; c++) {
    while (A.classes[c]) {
      free_block *b = A.classes[c];
      A.classes[c] = b->next;
      /* Recover the class size from the index (inverse of size_class). */
      size_t rounded = NB_MIN_BLOCK;
      if (c > 0) {
        int log2p = (c - 1) / 4 + 6;
        int steps = (c - 1) % 4 + 1;
        size_t p = (size_t)1 << log2p;
        rounded = p + (size_t)steps * (p / 4);
      }
      A.backend.free(b, rounded, A.backend.ctx);
    }
  }
  A.stats.bytes_cached = 0;
  while (A.tensor_pool) {
    nb_tensor *t = A.tensor_pool;
    A.tensor_pool = t->grad;
    free(t);
  }
  pthread_mutex_unlock(&A.lock);
}

void nb_set_allocator(const nb_allocator *allocator) {
  nb_empty_cache();
  pthread_mutex_lock(&A.lock);
  if (allocator && allocator->alloc && allocator->free)
    A.backend = *allocator;
  else
    A.backend = (nb_allocator){default_alloc, default_free, NULL};
  pthread_mutex_unlock(&A.lock);
}

void nb_set_caching(bool enabled) {
  if (!enabled) nb_empty_cache();
  pthread_mutex_lock(&A.lock);
  A.caching = enabled ? 1 : 0;
  pthread_mutex_unlock(&A.lock);
}
