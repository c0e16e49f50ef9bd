/* data/loader.c - the DataLoader.
 *
 * Owns: nb_loader: epochs of indices from a sampler, batches gathered into
 * contiguous [B, ...] tensors by OpenMP threads (one dataset get per sample,
 * each writing into its own row view), and a background thread that prepares
 * up to PREFETCH batches ahead while the caller trains on the current one.
 *
 * Memory: a batch lives in a slot: the batch buffers [B, ...], and per row a
 * one-sample tensor with its own storage (nb_from_blob over the row), made
 * once, so concurrent gets never touch a shared refcount or version counter.
 * The caller sees the batch through fresh nb_from_blob wrappers of the
 * buffers whose release callback tells the loader when the last reference is
 * gone: a batch the caller nb_retain'ed (or autograd saved) keeps its slot,
 * and the loader makes another. Steady state is PREFETCH + 1 slots and no
 * allocation per batch (the wrappers come from the allocator's pools).
 *
 * Threads: one mutex (`lock`, shared by all loaders: slots outlive a loader
 * whose last batch the caller still holds) guards the hand-off between the
 * caller and the producer thread. The producer stays within the epoch the
 * caller started; the sampler and nb_dataset_set_epoch run in the caller's
 * thread between epochs, the collate hook in the caller's thread per batch.
 */
#include "data/data_impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PREFETCH 2 /* batches prepared ahead of the one the caller holds */
/* Gather a batch with OpenMP threads only when its gets are estimated to
 * take this long on one thread: a fork/join costs microseconds idle but can
 * cost milliseconds when the cores are busy (the training thread's own
 * kernels), so memcpy-cheap batches (a tensor dataset: ~50 us for 64 images)
 * stay on one thread while decoding, augmentation or generated samples go
 * parallel. The estimate is the CPU time the threads spent in gets (not wall
 * time, which waiting for a busy core inflates). Results are the same either
 * way: each sample has its own row. */
#define PARALLEL_MIN_NS 200e3

typedef struct slot {
  nb_tensor *bx, *by;   /* the batch buffers [B, ...] (by NULL without targets) */
  nb_tensor **rx, **ry; /* one-sample views of the rows, each with its own storage */
  nb_tensor *ux, *uy;   /* the caller's wrappers of the current batch, or NULL */
  int64_t rows, index;  /* rows (the batch size), batch number in its epoch */
  /* Guarded by lock: */
  bool busy;               /* being filled or queued as ready */
  int user_refs;           /* wrappers (ux, uy) still alive */
  struct nb_loader *owner; /* NULL once the loader is gone: the last wrapper frees the slot */
  struct slot *next;       /* ready queue */
} slot;

struct nb_loader {
  nb_dataset *ds;
  nb_sampler *sampler;
  int64_t batch_size;
  bool drop_last, prefetch;
  int opt_threads;
  nb_status (*collate)(nb_tensor *features, nb_tensor *target, void *user);
  void *collate_user;
  const nb_field_spec *xs, *ys; /* ys NULL without targets */
  size_t xrow, yrow;
  int64_t *order; /* this epoch's sample indices */
  int64_t order_cap, count, num_batches;
  int64_t epoch, iteration;
  nb_status status;
  slot *current; /* the batch the caller holds */
  /* Guarded by lock: */
  bool active, stop;
  int64_t produce_next, deliver_next;
  int inflight, nready, threads;
  slot *ready_head, *ready_tail;
  slot **slots;
  int nslots, cap_slots;
  double sample_ns; /* running estimate of one get's CPU time (written by the filler) */
  bool warmed;      /* the steady-state slots exist */
  nb_status perr;   /* a failed batch: the error the caller gets after the batches before it */
  char pmsg[1024];
  pthread_cond_t cond;
  pthread_t thread;
  bool has_thread;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- slots ---------------------------------------------------------------------- */

static void slot_destroy(slot *s) {
  if (!s) return;
  for (int64_t p = 0; s->rx && p < s->rows; p++) nb_free(s->rx[p]);
  for (int64_t p = 0; s->ry && p < s->rows; p++) nb_free(s->ry[p]);
  nb_free(s->bx);
  nb_free(s->by);
  free(s->rx);
  free(s->ry);
  free(s);
}

/* The storage of a caller's wrapper died: when both are gone the slot is
 * free again (or, its loader gone, destroyed). Runs in whichever thread
 * dropped the last reference. */
static void slot_release(void *data, void *ctx) {
  slot *s = ctx;
  bool orphan = false;
  pthread_mutex_lock(&lock);
  if (--s->user_refs == 0) {
    if (s->owner)
      pthread_cond_broadcast(&s->owner->cond);
    else
      orphan = true;
  }
  pthread_mutex_unlock(&lock);
  if (orphan) slot_destroy(s);
}

/* Batch buffers and row views for B samples; tensors made here are the
 * loader's, never a scope's. */
static nb_status rows_new(const nb_field_spec *spec, int64_t b, size_t row, nb_tensor **buf,
                          nb_tensor **rows) {
  int64_t shape[NB_MAX_DIMS];
  shape[0] = b;
  memcpy(shape + 1, spec->shape, sizeof(int64_t) * (size_t)spec->ndim);
  *buf = nb_keep(nb_empty(spec->dtype, spec->ndim + 1, shape));
  if (!*buf) return nb_last_status();
  char *base = nb_data(*buf);
  for (int64_t p = 0; p < b; p++) {
    rows[p] = nb_keep(nb_from_blob(spec->dtype, base + (size_t)p * row, spec->ndim, spec->shape,
                                   NULL, NULL, NULL));
    if (!rows[p]) return nb_last_status();
  }
  return NB_OK;
}

static slot *slot_new(nb_loader *l) {
  const char *op = "loader";
  int64_t b = l->batch_size;
  slot *s = calloc(1, sizeof *s);
  if (s) {
    s->rx = calloc((size_t)b, sizeof *s->rx);
    s->ry = l->ys ? calloc((size_t)b, sizeof *s->ry) : NULL;
    s->rows = b;
  }
  if (!s || !s->rx || (l->ys && !s->ry)) {
    slot_destroy(s);
    nb_set_error(NB_ERR_MEMORY, "%s: out of memory for a batch slot", op);
    return NULL;
  }
  nb_status st = rows_new(l->xs, b, l->xrow, &s->bx, s->rx);
  if (st == NB_OK && l->ys) st = rows_new(l->ys, b, l->yrow, &s->by, s->ry);
  pthread_mutex_lock(&lock);
  if (st == NB_OK && l->nslots == l->cap_slots) {
    int cap = l->cap_slots ? 2 * l->cap_slots : 4;
    slot **grown = realloc(l->slots, sizeof *grown * (size_t)cap);
    if (grown) {
      l->slots = grown;
      l->cap_slots = cap;
    } else {
      st = NB_ERR_MEMORY;
    }
  }
  if (st == NB_OK) {
    s->owner = l;
    s->busy = true;
    l->slots[l->nslots++] = s;
  }
  pthread_mutex_unlock(&lock);
  if (st != NB_OK) {
    if (nb_last_status() == NB_OK) nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op);
    slot_destroy(s);
    return NULL;
  }
  return s;
}

/* A free slot (no wrapper alive, not queued), marked busy, or a new one. */
static slot *slot_take(nb_loader *l) {
  slot *s = NULL;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < l->nslots && !s; i++)
    if (!l->slots[i]->busy && l->slots[i]->user_refs == 0) s = l->slots[i];
  if (s) s->busy = true;
  pthread_mutex_unlock(&lock);
  return s ? s : slot_new(l);
}

/* Drop the loader's references to a delivered batch's wrappers. */
static void slot_drop_user(slot *s) {
  nb_tensor *x = s->ux, *y = s->uy;
  s->ux = s->uy = NULL; /* before the free: the slot may be reused at once */
  nb_free(x);
  nb_free(y);
}

/* ---- filling a batch ---------------------------------------------------------------- */

static nb_tensor *wrap_batch(slot *s, nb_tensor *buf, int64_t n) {
  int64_t shape[NB_MAX_DIMS];
  memcpy(shape, nb_shape(buf), sizeof(int64_t) * (size_t)nb_ndim(buf));
  shape[0] = n;
  pthread_mutex_lock(&lock);
  s->user_refs++;
  pthread_mutex_unlock(&lock);
  nb_tensor *t = nb_keep(
      nb_from_blob(nb_dtype_of(buf), nb_data(buf), nb_ndim(buf), shape, NULL, slot_release, s));
  if (!t) {
    pthread_mutex_lock(&lock);
    s->user_refs--;
    pthread_mutex_unlock(&lock);
  }
  return t;
}

static double thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return 1e9 * (double)ts.tv_sec + (double)ts.tv_nsec;
}

/* Gather batch k of the epoch into s with up to `threads` OpenMP threads and wrap
 * it for the caller. On failure the error is in l->perr/l->pmsg (the caller
 * of fill holds no lock; fill takes it to publish). */
static nb_status fill_batch(nb_loader *l, slot *s, int64_t k, int threads) {
  int64_t start = k * l->batch_size, n = l->count - start;
  if (n > l->batch_size) n = l->batch_size;
  const int64_t *idx = l->order + start;
  nb_dataset *ds = l->ds;
  nb_tensor **rx = s->rx, **ry = s->ry;
  int64_t err_pos = n;
  nb_status err = NB_OK;
  char msg[768] = "";
  int use = threads > 1 && n > 1 && l->sample_ns * (double)n >= PARALLEL_MIN_NS ? threads : 1;
  double work = 0;
#pragma omp parallel num_threads(use) if (use > 1)
  {
    double t0 = thread_cpu_ns();
#pragma omp for schedule(static) nowait
    for (int64_t p = 0; p < n; p++) {
      nb_clear_error();
      nb_status st = nb__dataset_get_into(ds, idx[p], rx[p], ry ? ry[p] : NULL);
      if (st != NB_OK) {
#pragma omp critical(nb_loader_error)
        if (p < err_pos) { /* report the first failing sample, whatever the thread count */
          err_pos = p;
          err = st;
          snprintf(msg, sizeof msg, "%s",
                   nb_last_status() != NB_OK ? nb_errmsg() : "get failed without a message");
        }
      }
    }
    double spent = thread_cpu_ns() - t0;
#pragma omp atomic
    work += spent;
  }
  if (n > 0) l->sample_ns = 0.5 * l->sample_ns + 0.5 * work / (double)n;
  s->index = k;
  if (err == NB_OK) {
    s->ux = wrap_batch(s, s->bx, n);
    s->uy = s->ux && s->by ? wrap_batch(s, s->by, n) : NULL;
    if (!s->ux || (s->by && !s->uy)) {
      err = nb_last_status() != NB_OK ? nb_last_status() : NB_ERR_MEMORY;
      snprintf(msg, sizeof msg, "%s", nb_errmsg());
      slot_drop_user(s);
    }
  }
  if (err == NB_OK) return NB_OK;
  pthread_mutex_lock(&lock);
  l->perr = err;
  if (err_pos < n)
    snprintf(l->pmsg, sizeof l->pmsg, "loader: sample %lld (batch %lld, position %lld): %s",
             (long long)idx[err_pos], (long long)k, (long long)err_pos, msg);
  else
    snprintf(l->pmsg, sizeof l->pmsg, "loader: batch %lld: %s", (long long)k, msg);
  pthread_mutex_unlock(&lock);
  return err;
}

/* ---- the background producer ------------------------------------------------------- */

static void *producer(void *arg) {
  nb_loader *l = arg;
  pthread_mutex_lock(&lock);
  for (;;) {
    while (!l->stop && !(l->active && l->perr == NB_OK && l->produce_next < l->num_batches &&
                         l->inflight + l->nready < PREFETCH))
      pthread_cond_wait(&l->cond, &lock);
    if (l->stop) break;
    int64_t k = l->produce_next++;
    int threads = l->threads;
    l->inflight++;
    pthread_mutex_unlock(&lock);
    slot *s = slot_take(l);
    nb_status st = s ? fill_batch(l, s, k, threads) : NB_ERR_MEMORY;
    if (!s) {
      char msg[768];
      snprintf(msg, sizeof msg, "%s", nb_errmsg());
      pthread_mutex_lock(&lock);
      l->perr = st;
      snprintf(l->pmsg, sizeof l->pmsg, "loader: batch %lld: %s", (long long)k, msg);
      pthread_mutex_unlock(&lock);
    }
    pthread_mutex_lock(&lock);
    l->inflight--;
    if (s && st == NB_OK) {
      s->next = NULL;
      if (l->ready_tail)
        l->ready_tail->next = s;
      else
        l->ready_head = s;
      l->ready_tail = s;
      l->nready++;
    } else if (s) {
      s->busy = false;
    }
    pthread_cond_broadcast(&l->cond);
  }
  pthread_mutex_unlock(&lock);
  return NULL;
}

/* ---- the loader --------------------------------------------------------------------- */

static int64_t batches_for(const nb_loader *l, int64_t count) {
  return l->drop_last ? count / l->batch_size : (count + l->batch_size - 1) / l->batch_size;
}

nb_loader *nb_loader_new(nb_dataset *ds, const nb_loader_opts *opts) {
  const char *op = "loader_new";
  nb_loader_opts o = opts ? *opts : (nb_loader_opts){0};
  nb_loader *l = NULL;
  nb_status st = NB_OK;
  if (!ds)
    st = nb__data_null(op, "dataset");
  else if (o.batch_size < 0 || o.num_threads < 0)
    st = nb_set_error(NB_ERR_ARG, "%s: batch_size %lld and num_threads %d must be >= 0", op,
                      (long long)o.batch_size, o.num_threads);
  if (st != NB_OK) {
    nb_sampler_free(o.sampler); /* ownership passed either way */
    return NULL;
  }
  int64_t b = o.batch_size ? o.batch_size : 1, bytes;
  const nb_field_spec *xs = nb_dataset_features(ds), *ys = nb_dataset_target(ds);
  size_t xrow = nb__spec_bytes(xs), yrow = ys ? nb__spec_bytes(ys) : 0;
  if (__builtin_mul_overflow(b, (int64_t)(xrow > yrow ? xrow : yrow), &bytes) ||
      (size_t)b > SIZE_MAX / sizeof(nb_tensor *))
    st = nb_set_error(NB_ERR_MEMORY, "%s: a batch of %lld samples is too large", op, (long long)b);
  int64_t len = st == NB_OK ? nb_dataset_len(ds) : -1;
  if (st == NB_OK && len < 0) st = nb_last_status();
  nb_sampler *sampler = o.sampler;
  if (st == NB_OK && !sampler)
    sampler = o.shuffle ? nb_random_sampler_new(len, o.seed) : nb_sequential_sampler_new(len);
  if (st == NB_OK && !sampler) st = nb_last_status();
  if (st == NB_OK && !(l = calloc(1, sizeof *l)))
    st = nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op);
  if (st != NB_OK) {
    nb_sampler_free(sampler);
    return NULL;
  }
  *l = (nb_loader){.ds = nb__dataset_retain(ds),
                   .sampler = sampler,
                   .batch_size = b,
                   .drop_last = o.drop_last,
                   .prefetch = !o.no_prefetch,
                   .opt_threads = o.num_threads,
                   .collate = o.collate,
                   .collate_user = o.collate_user,
                   .xs = xs,
                   .ys = ys,
                   .xrow = xrow,
                   .yrow = yrow};
  int64_t count = nb__sampler_count(sampler);
  l->num_batches = count > 0 ? batches_for(l, count) : 0;
  if (pthread_cond_init(&l->cond, NULL) != 0) {
    nb_set_error(NB_ERR_MEMORY, "%s: cannot make a condition variable", op);
    nb_dataset_free(l->ds);
    nb_sampler_free(sampler);
    free(l);
    return NULL;
  }
  if (l->prefetch) {
    l->has_thread = pthread_create(&l->thread, NULL, producer, l) == 0;
    l->prefetch = l->has_thread; /* no thread: build batches on demand */
  }
  return l;
}

/* Make the slots of the steady state (the batch held + PREFETCH ahead) and
 * one wrapper per batch tensor of each alive at once, freed at once: the
 * allocator's pools then hold what later batches need, and no batch after
 * the first epoch asks the system for memory. Runs in the caller's thread
 * with the producer idle. */
static nb_status warm_up(nb_loader *l) {
  int want = l->prefetch ? PREFETCH + 1 : 1;
  nb_tensor *wrappers[2 * (PREFETCH + 1)] = {0};
  nb_status st = NB_OK;
  for (int i = l->nslots; i < want && st == NB_OK; i++) {
    slot *s = slot_new(l);
    if (!s) st = nb_last_status();
    pthread_mutex_lock(&lock);
    if (s) s->busy = false;
    pthread_mutex_unlock(&lock);
  }
  for (int i = 0; i < l->nslots && i < want && st == NB_OK; i++) {
    slot *s = l->slots[i];
    wrappers[2 * i] = nb_from_blob(nb_dtype_of(s->bx), nb_data(s->bx), nb_ndim(s->bx),
                                   nb_shape(s->bx), NULL, NULL, NULL);
    wrappers[2 * i + 1] = s->by ? nb_from_blob(nb_dtype_of(s->by), nb_data(s->by), nb_ndim(s->by),
                                               nb_shape(s->by), NULL, NULL, NULL)
                                : NULL;
    if (!wrappers[2 * i] || (s->by && !wrappers[2 * i + 1])) st = nb_last_status();
  }
  for (int i = 0; i < 2 * (PREFETCH + 1); i++) nb_free(wrappers[i]);
  l->warmed = st == NB_OK;
  return st;
}

/* Begin epoch l->epoch: the sampler's order (validated), batch count, the
 * dataset's set_epoch. The producer is idle (no epoch active). */
static nb_status start_epoch(nb_loader *l, int threads) {
  const char *op = "loader";
  int64_t count = nb__sampler_count(l->sampler);
  if (count < 0) return nb_last_status() != NB_OK ? nb_last_status() : NB_ERR_ARG;
  if (count > l->order_cap) {
    int64_t *grown = (size_t)count <= SIZE_MAX / sizeof(int64_t)
                         ? realloc(l->order, sizeof(int64_t) * (size_t)count)
                         : NULL;
    if (!grown)
      return nb_set_error(NB_ERR_MEMORY, "%s: out of memory for %lld indices", op,
                          (long long)count);
    l->order = grown;
    l->order_cap = count;
  }
  nb_status st = count ? nb__sampler_fill(l->sampler, l->epoch, l->order) : NB_OK;
  if (st != NB_OK) {
    char msg[768];
    snprintf(msg, sizeof msg, "%s", nb_errmsg());
    return nb_set_error(st, "%s: sampler (epoch %lld): %s", op, (long long)l->epoch, msg);
  }
  int64_t len = nb_dataset_len(l->ds);
  for (int64_t p = 0; p < count; p++)
    if (l->order[p] < 0 || l->order[p] >= len)
      return nb_set_error(NB_ERR_INDEX,
                          "%s: the sampler gave index %lld at position %lld of epoch %lld; the "
                          "dataset has %lld samples",
                          op, (long long)l->order[p], (long long)p, (long long)l->epoch,
                          (long long)len);
  if (!l->warmed && (st = warm_up(l)) != NB_OK) return st;
  nb_dataset_set_epoch(l->ds, l->epoch);
  pthread_mutex_lock(&lock);
  l->count = count;
  l->num_batches = batches_for(l, count);
  l->threads = threads;
  l->active = true;
  l->produce_next = l->deliver_next = 0;
  l->perr = NB_OK;
  pthread_cond_broadcast(&l->cond);
  pthread_mutex_unlock(&lock);
  return NB_OK;
}

/* Stop the epoch early (an error): wait for the batch being filled, give back
 * the queued ones. The next call starts the same epoch again. */
static void abort_epoch(nb_loader *l) {
  pthread_mutex_lock(&lock);
  l->produce_next = l->num_batches;
  while (l->inflight > 0) pthread_cond_wait(&l->cond, &lock);
  slot *queued = l->ready_head;
  l->ready_head = l->ready_tail = NULL;
  l->nready = 0;
  for (slot *s = queued; s; s = s->next) s->busy = false;
  l->active = false;
  l->perr = NB_OK;
  pthread_mutex_unlock(&lock);
  while (queued) {
    slot *next = queued->next;
    slot_drop_user(queued);
    queued = next;
  }
}

static bool fail_next(nb_loader *l, nb_status st) {
  l->status = st;
  return false;
}

bool nb_loader_next(nb_loader *l, nb_batch *batch) {
  const char *op = "loader_next";
  if (batch) *batch = (nb_batch){0};
  if (!l) {
    nb__data_null(op, "loader");
    return false;
  }
  if (!batch) return fail_next(l, nb_set_error(NB_ERR_ARG, "%s: batch is NULL", op));
  if (l->current) {
    slot_drop_user(l->current);
    l->current = NULL;
  }
  int threads = l->opt_threads > 0 ? l->opt_threads : nb_get_num_threads();
  if (!l->active) {
    nb_status st = start_epoch(l, threads);
    if (st != NB_OK) return fail_next(l, st);
  }
  if (l->deliver_next == l->num_batches) {
    pthread_mutex_lock(&lock);
    l->active = false;
    pthread_mutex_unlock(&lock);
    l->epoch++;
    return fail_next(l, NB_OK);
  }
  slot *s = NULL;
  nb_status st = NB_OK;
  if (l->prefetch) {
    pthread_mutex_lock(&lock);
    l->threads = threads;
    pthread_cond_broadcast(&l->cond);
    while (!l->ready_head && l->perr == NB_OK) pthread_cond_wait(&l->cond, &lock);
    if (l->ready_head) {
      s = l->ready_head;
      l->ready_head = s->next;
      if (!l->ready_head) l->ready_tail = NULL;
      l->nready--;
      s->busy = false; /* held through its wrappers from now on */
      pthread_cond_broadcast(&l->cond);
    } else {
      st = l->perr;
    }
    pthread_mutex_unlock(&lock);
  } else {
    s = slot_take(l);
    st = s ? fill_batch(l, s, l->deliver_next, threads) : nb_last_status();
    if (s) {
      pthread_mutex_lock(&lock);
      s->busy = false;
      pthread_mutex_unlock(&lock);
    }
    if (!s) snprintf(l->pmsg, sizeof l->pmsg, "%s", nb_errmsg());
  }
  if (st != NB_OK) {
    char msg[sizeof l->pmsg];
    pthread_mutex_lock(&lock);
    memcpy(msg, l->pmsg, sizeof msg);
    pthread_mutex_unlock(&lock);
    abort_epoch(l);
    return fail_next(l, nb_set_error(st, "%s", msg));
  }
  l->deliver_next++;
  l->iteration++;
  l->current = s;
  if (l->collate) {
    st = l->collate(s->ux, s->uy, l->collate_user);
    if (st != NB_OK) {
      char msg[768];
      snprintf(msg, sizeof msg, "%s", nb_errmsg());
      /* read before the slot goes back: the background thread may refill it */
      const long long index = (long long)s->index;
      slot_drop_user(s);
      l->current = NULL;
      abort_epoch(l);
      return fail_next(l, nb_set_error(st, "loader: collate (batch %lld): %s", index, msg));
    }
  }
  *batch = (nb_batch){.x = s->ux, .y = s->uy, .size = nb_size(s->ux, 0), .index = s->index};
  l->status = NB_OK;
  return true;
}

nb_status nb_loader_status(const nb_loader *l) { return l ? l->status : NB_ERR_NULL; }

int64_t nb_loader_num_batches(const nb_loader *l) { return l ? l->num_batches : -1; }

int64_t nb_loader_epoch(const nb_loader *l) { return l ? l->epoch : -1; }

int64_t nb_loader_iteration(const nb_loader *l) { return l ? l->iteration : -1; }

void nb_loader_free(nb_loader *l) {
  if (!l) return;
  if (l->has_thread) {
    pthread_mutex_lock(&lock);
    l->stop = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&lock);
    pthread_join(l->thread, NULL);
  }
  if (l->current) slot_drop_user(l->current);
  for (slot *s = l->ready_head, *next; s; s = next) {
    next = s->next;
    slot_drop_user(s);
  }
  /* Slots whose batch the caller still holds outlive the loader: the last
   * wrapper's release destroys them. */
  pthread_mutex_lock(&lock);
  int keep = 0;
  for (int i = 0; i < l->nslots; i++) {
    slot *s = l->slots[i];
    if (s->user_refs > 0)
      s->owner = NULL;
    else
      l->slots[keep++] = s;
  }
  pthread_mutex_unlock(&lock);
  for (int i = 0; i < keep; i++) slot_destroy(l->slots[i]);
  free(l->slots);
  free(l->order);
  pthread_cond_destroy(&l->cond);
  nb_sampler_free(l->sampler);
  nb_dataset_free(l->ds);
  free(l);
}
