/* tensor/error.c - the thread-local error state behind nb_errmsg().
 *
 * Owns: recording errors (nb__fail and friends), the status names, and the
 * "NULL input keeps the first error" rule.
 */
#include "tensor/tensor_impl.h"

#include <stdio.h>
#include <string.h>

#define NB_ERRMSG_SIZE 1024

static _Thread_local char errmsg[NB_ERRMSG_SIZE];
static _Thread_local nb_status last_status = NB_OK;

const char *nb_errmsg(void) { return errmsg; }

nb_status nb_last_status(void) { return last_status; }

void nb_clear_error(void) {
  errmsg[0] = '\0';
  last_status = NB_OK;
}

const char *nb_status_str(nb_status status) {
  switch (status) {
  case NB_OK: return "NB_OK";
  case NB_ERR_ARG: return "NB_ERR_ARG";
  case NB_ERR_SHAPE: return "NB_ERR_SHAPE";
  case NB_ERR_DTYPE: return "NB_ERR_DTYPE";
  case NB_ERR_MEMORY: return "NB_ERR_MEMORY";
  case NB_ERR_IO: return "NB_ERR_IO";
  case NB_ERR_FORMAT: return "NB_ERR_FORMAT";
  case NB_ERR_INDEX: return "NB_ERR_INDEX";
  case NB_ERR_STALE: return "NB_ERR_STALE";
  case NB_ERR_GRAPH: return "NB_ERR_GRAPH";
  case NB_ERR_NULL: return "NB_ERR_NULL";
  case NB_ERR_NUMERIC: return "NB_ERR_NUMERIC";
  }
  return "NB_ERR_UNKNOWN";
}

nb_status nb__vfail(nb_status status, const char *fmt, va_list ap) {
  /* Format aside first: an argument may be nb_errmsg() itself (wrapping the
   * previous message), and vsnprintf must not read what it is writing. */
  char buf[NB_ERRMSG_SIZE];
  vsnprintf(buf, sizeof buf, fmt, ap);
  memcpy(errmsg, buf, sizeof buf);
  last_status = status;
  return status;
}

nb_status nb__fail(nb_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nb__vfail(status, fmt, ap);
  va_end(ap);
  return status;
}

nb_status nb_set_error(nb_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nb__vfail(status, fmt, ap);
  va_end(ap);
  return status;
}

void *nb__fail_null(nb_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nb__vfail(status, fmt, ap);
  va_end(ap);
  return NULL;
}

nb_status nb__null_input(const char *op) {
  if (last_status == NB_OK) nb__fail(NB_ERR_NULL, "%s: input tensor is NULL", op);
  return NB_ERR_NULL;
}

static int severity(nb_status st) {
  return st == NB_ERR_SHAPE ? 3 : st == NB_ERR_DTYPE ? 2 : st != NB_OK ? 1 : 0;
}

void nb_problems_add(nb_problems *p, nb_status status, const char *fmt, ...) {
  if (!p || !fmt) return;
  char item[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(item, sizeof item, fmt, ap);
  va_end(ap);
  p->count++;
  if (severity(status) > severity(p->status)) p->status = status;
  size_t need = strlen(item) + (p->len ? 2 : 0);
  if (p->hidden || p->len + need >= sizeof p->text) {
    p->hidden++;
    return;
  }
  p->len +=
      (size_t)snprintf(p->text + p->len, sizeof p->text - p->len, "%s%s", p->len ? "; " : "", item);
}
