/* tensor/scope.c - thread-local memory scopes.
 *
 * Owns: the stack of open scopes on each thread. Every tensor made while a
 * scope is open is recorded in a slot of that thread's stack; closing the
 * scope releases every tensor still recorded. nb_free and nb_keep clear a
 * tensor's slot in O(1), so freeing or keeping a scoped tensor is safe.
 */
#include "tensor/tensor_impl.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct scope_stack {
  nb_tensor **slots;
  int64_t count, capacity;
  int64_t *frames; /* start slot of each open scope */
  int depth, frame_capacity;
} scope_stack;

static _Thread_local scope_stack S;

/* A thread's stack is freed when the thread exits (a pthread key destructor;
 * TLS is still valid then). Tensors left in scopes it never closed are not
 * released: that is the caller's leak, as with any unfreed tensor. */
static pthread_key_t stack_key;
static pthread_once_t stack_key_once = PTHREAD_ONCE_INIT;
static bool stack_key_ok;

static void free_stack(void *unused) {
  (void)unused;
  free(S.slots);
  free(S.frames);
  S = (scope_stack){0};
}

static void make_stack_key(void) { stack_key_ok = pthread_key_create(&stack_key, free_stack) == 0; }

void nb_scope_begin(void) {
  if (!S.frames) { /* this thread's first scope */
    pthread_once(&stack_key_once, make_stack_key);
    if (stack_key_ok) pthread_setspecific(stack_key, &S);
  }
  if (S.depth == S.frame_capacity) {
    int cap = S.frame_capacity ? S.frame_capacity * 2 : 16;
    int64_t *frames = realloc(S.frames, sizeof *frames * (size_t)cap);
    if (!frames) {
      /* Without a frame the scope cannot be tracked: tensors stay owned by the
       * caller. Record the problem; nb_scope_end will report it too. */
      nb__fail(NB_ERR_MEMORY, "scope_begin: out of memory");
      return;
    }
    S.frames = frames;
    S.frame_capacity = cap;
  }
  S.frames[S.depth++] = S.count;
}

nb_status nb_scope_end(void) {
  if (S.depth == 0) return nb__fail(NB_ERR_ARG, "scope_end: no scope is open on this thread");
  int64_t start = S.frames[--S.depth];
  for (int64_t i = S.count - 1; i >= start; i--) {
    nb_tensor *t = S.slots[i];
    if (!t) continue;
    S.slots[i] = NULL;
    t->scope_slot = -1;
    nb_free(t);
  }
  S.count = start; /* the slot array is kept: a steady loop never reallocates */
  return NB_OK;
}

int nb_scope_depth(void) { return S.depth; }

void nb__scope_adopt(nb_tensor *t) {
  if (S.depth == 0) return;
  if (S.count == S.capacity) {
    int64_t cap = S.capacity ? S.capacity * 2 : 256;
    nb_tensor **slots = realloc(S.slots, sizeof *slots * (size_t)cap);
    if (!slots) return; /* stays owned by the caller; never lost */
    S.slots = slots;
    S.capacity = cap;
  }
  t->scope_slot = S.count;
  S.slots[S.count++] = t;
}

void nb__scope_forget(nb_tensor *t) {
  if (t->scope_slot < S.count && S.slots[t->scope_slot] == t) S.slots[t->scope_slot] = NULL;
  t->scope_slot = -1;
}

nb_tensor *nb_keep(nb_tensor *t) {
  if (t && t->scope_slot >= 0) nb__scope_forget(t);
  return t;
}

nb_tensor *nb_scope_end_keep(nb_tensor *keep) {
  if (keep && keep->scope_slot >= 0) nb__scope_forget(keep);
  if (nb_scope_end() != NB_OK) return keep;
  if (keep) nb__scope_adopt(keep);
  return keep;
}
