/* tests/support/fixture.c - the test helpers declared in tests/support/nbtest.h.
 *
 * Owns: the fixture-file parser (format in tests/fixtures/README.md; the
 * writer is tools/fixtures/fixturelib.py), the case accessors, tensor
 * comparisons, leak checks, and nbt_fail_at, the one place that reports a
 * failure to Criterion. Every public function that can fail a test takes the
 * caller's file:line so Criterion points at the test, not at this file.
 */
#include "support/nbtest.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NB_TEST_FIXTURES
#define NB_TEST_FIXTURES "tests/fixtures" /* tests/CMakeLists.txt sets the absolute path */
#endif

_Static_assert(sizeof(bool) == 1, "bool tensors are stored one byte per element");

/* ---- failing a test --------------------------------------------------------- */

/* Set once this process (one Criterion test) has failed through nbt_fail_at. */
static bool test_failed;

/* Send a failed assertion to Criterion without aborting. */
static void report_failure(const char *file, int line, const char *msg) {
  struct criterion_assert_stats stats;
  memset(&stats, 0, sizeof stats);
  stats.passed = false;
  stats.file = file;
  stats.line = line > 0 ? (unsigned)line : 0u;
  stats.message = msg;
  criterion_send_assert(&stats);
  test_failed = true;
}

void nbt_fail_at(const char *file, int line, const char *fmt, ...) {
  char stack[1024];
  char *msg = stack;
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(stack, sizeof stack, fmt, ap);
  va_end(ap);
  if (len >= (int)sizeof stack) {
    char *big = malloc((size_t)len + 1);
    if (big) {
      va_start(ap, fmt);
      vsnprintf(big, (size_t)len + 1, fmt, ap);
      va_end(ap);
      msg = big;
    }
  }
  report_failure(file, line, msg);
  if (msg != stack) free(msg);
  criterion_abort_test();
}

/* ---- small utilities ---------------------------------------------------------- */

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

/* snprintf that tolerates size 0 / NULL buffers. */
static void put_msg(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put_msg(char *buf, size_t size, const char *fmt, ...) {
  if (!buf || size == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, size, fmt, ap);
  va_end(ap);
}

static const char *dtype_str(nb_dtype dtype) {
  switch (dtype) {
  case NB_DTYPE_FLOAT32: return "float32";
  case NB_DTYPE_FLOAT64: return "float64";
  case NB_DTYPE_INT64: return "int64";
  case NB_DTYPE_BOOL: return "bool";
  default: return "invalid";
  }
}

static size_t dtype_bytes(nb_dtype dtype) {
  switch (dtype) {
  case NB_DTYPE_FLOAT32: return sizeof(float);
  case NB_DTYPE_FLOAT64: return sizeof(double);
  case NB_DTYPE_INT64: return sizeof(int64_t);
  case NB_DTYPE_BOOL: return sizeof(bool);
  default: return 0;
  }
}

static bool dtype_is_float(nb_dtype dtype) {
  return dtype == NB_DTYPE_FLOAT32 || dtype == NB_DTYPE_FLOAT64;
}

/* "[2, 3]" ("[]" for 0-d) into buf. */
static const char *shape_str(char *buf, size_t size, int ndim, const int64_t *shape) {
  size_t used = 0;
  buf[0] = '\0';
  used += (size_t)snprintf(buf, size, "[");
  for (int d = 0; d < ndim && used < size; d++)
    used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "", (long long)shape[d]);
  if (used < size) snprintf(buf + used, size - used, "]");
  return buf;
}

/* Row-major multi-index of flat element k, as "[i, j]". */
static const char *index_str(char *buf, size_t size, int ndim, const int64_t *shape, int64_t k) {
  int64_t idx[NB_MAX_DIMS] = {0};
  for (int d = ndim - 1; d >= 0; d--) {
    if (shape[d] > 0) {
      idx[d] = k % shape[d];
      k /= shape[d];
    }
  }
  return shape_str(buf, size, ndim, idx);
}

/* ---- the parsed representation -------------------------------------------------- */

typedef struct nbt_tensor_entry {
  char *name;
  nb_dtype dtype;
  int ndim;
  int64_t shape[NB_MAX_DIMS];
  int64_t numel;
  void *data; /* numel elements of dtype (at least one byte allocated) */
  int line;
} nbt_tensor_entry;

typedef struct nbt_param_entry {
  char *name;
  int count;
  double *values; /* every value as double */
  int64_t *ints;  /* exact value where integral[i] */
  bool *integral; /* the token was an integer in int64 range */
  int line;
} nbt_param_entry;

struct nbt_case {
  char *name;
  char *where; /* "<file>:<line>" */
  const nbt_fixture *owner;
  nbt_tensor_entry *tensors;
  int ntensors, tensors_cap;
  nbt_param_entry *params;
  int nparams, params_cap;
};

struct nbt_fixture {
  char *label; /* path or label given to the parser */
  nbt_case *cases;
  int ncases, cases_cap;
};

static void free_case(nbt_case *c) {
  for (int i = 0; i < c->ntensors; i++) {
    free(c->tensors[i].name);
    free(c->tensors[i].data);
  }
  for (int i = 0; i < c->nparams; i++) {
    free(c->params[i].name);
    free(c->params[i].values);
    free(c->params[i].ints);
    free(c->params[i].integral);
  }
  free(c->tensors);
  free(c->params);
  free(c->name);
  free(c->where);
}

void nbt_fixture_free(nbt_fixture *f) {
  if (!f) return;
  for (int i = 0; i < f->ncases; i++) free_case(&f->cases[i]);
  free(f->cases);
  free(f->label);
  free(f);
}

/* ---- the parser ------------------------------------------------------------------- */

typedef struct parser {
  const char *label;
  const char *base; /* label without directories, for nbt_case_where */
  int line;
  char *err;
  size_t errsize;
} parser;

static bool perr(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool perr(parser *p, const char *fmt, ...) {
  char reason[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  put_msg(p->err, p->errsize, "%s:%d: %s", p->label, p->line, reason);
  return false;
}

static bool is_space(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Next whitespace-separated token of *cur, NUL-terminated in place; NULL at
 * the end of the line. */
static char *next_token(char **cur) {
  char *s = *cur;
  while (*s && is_space(*s)) s++;
  if (!*s) {
    *cur = s;
    return NULL;
  }
  char *start = s;
  while (*s && !is_space(*s)) s++;
  if (*s) *s++ = '\0';
  *cur = s;
  return start;
}

static int64_t count_tokens(const char *s) {
  int64_t n = 0;
  while (*s) {
    while (*s && is_space(*s)) s++;
    if (!*s) break;
    n++;
    while (*s && !is_space(*s)) s++;
  }
  return n;
}

static bool parse_i64(const char *tok, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(tok, &end, 10);
  if (end == tok || *end || errno == ERANGE) return false;
  *out = (int64_t)v;
  return true;
}

/* strtod over the whole token; nan, inf, -inf accepted. */
static bool parse_f64(const char *tok, double *out) {
  char *end;
  double v = strtod(tok, &end); /* ERANGE on subnormals is fine: v is right */
  if (end == tok || *end) return false;
  *out = v;
  return true;
}

/* As the writer checks it: (float)strtod. Values just above FLT_MAX that round
 * to it are accepted; beyond, the token is out of range. */
static bool parse_f32(const char *tok, float *out) {
  double v;
  if (!parse_f64(tok, &v)) return false;
  if (isfinite(v) && fabs(v) > FLT_MAX) {
    if (fabs(v) >= 3.4028235677973366e38) /* 2^128 - 2^103: rounds to inf */
      return false;
    v = v > 0 ? FLT_MAX : -FLT_MAX;
  }
  *out = (float)v;
  return true;
}

static bool parse_dtype(const char *tok, nb_dtype *out) {
  for (int d = 0; d < NB_DTYPE_COUNT; d++) {
    if (strcmp(tok, dtype_str((nb_dtype)d)) == 0) {
      *out = (nb_dtype)d;
      return true;
    }
  }
  return false;
}

static nbt_tensor_entry *find_tensor(const nbt_case *c, const char *name) {
  for (int i = 0; i < c->ntensors; i++)
    if (strcmp(c->tensors[i].name, name) == 0) return &c->tensors[i];
  return NULL;
}

static nbt_param_entry *find_param(const nbt_case *c, const char *name) {
  for (int i = 0; i < c->nparams; i++)
    if (strcmp(c->params[i].name, name) == 0) return &c->params[i];
  return NULL;
}

/* Grow *arr (of *cap elements of size elem) to hold one more than n. */
static bool grow(void **arr, int *cap, int n, size_t elem) {
  if (n < *cap) return true;
  int ncap = *cap ? *cap * 2 : 8;
  void *p = realloc(*arr, (size_t)ncap * elem);
  if (!p) return false;
  *arr = p;
  *cap = ncap;
  return true;
}

/* `tensor NAME DTYPE NDIM DIMS... : VALUES...` (cur is after "tensor"). */
static bool parse_tensor(parser *p, nbt_case *c, char *cur) {
  char *name = next_token(&cur);
  char *dtype_tok = next_token(&cur);
  char *ndim_tok = next_token(&cur);
  if (!name || !dtype_tok || !ndim_tok)
    return perr(p, "tensor line needs: tensor NAME DTYPE NDIM DIMS... : VALUES...");
  if (find_tensor(c, name)) return perr(p, "case %s: tensor '%s' defined twice", c->name, name);
  nbt_tensor_entry t;
  memset(&t, 0, sizeof t);
  if (!parse_dtype(dtype_tok, &t.dtype))
    return perr(p, "tensor %s: unknown dtype '%s' (float32, float64, int64, bool)", name,
                dtype_tok);
  int64_t ndim;
  if (!parse_i64(ndim_tok, &ndim) || ndim < 0 || ndim > NB_MAX_DIMS)
    return perr(p, "tensor %s: bad ndim '%s' (0..%d)", name, ndim_tok, NB_MAX_DIMS);
  t.ndim = (int)ndim;
  t.numel = 1;
  for (int d = 0; d < t.ndim; d++) {
    char *tok = next_token(&cur);
    if (!tok || strcmp(tok, ":") == 0)
      return perr(p, "tensor %s: expected %d dims before ':'", name, t.ndim);
    if (!parse_i64(tok, &t.shape[d]) || t.shape[d] < 0)
      return perr(p, "tensor %s: bad size '%s' for dim %d", name, tok, d);
    if (t.shape[d] > 0 && t.numel > INT64_MAX / t.shape[d])
      return perr(p, "tensor %s: shape too large", name);
    t.numel *= t.shape[d];
  }
  char *colon = next_token(&cur);
  if (!colon || strcmp(colon, ":") != 0)
    return perr(p, "tensor %s: expected ':' after %d dims, got '%s'", name, t.ndim,
                colon ? colon : "end of line");
  int64_t nvalues = count_tokens(cur);
  if (nvalues != t.numel) {
    char sbuf[128];
    return perr(p, "tensor %s: shape %s needs %lld values, line has %lld", name,
                shape_str(sbuf, sizeof sbuf, t.ndim, t.shape), (long long)t.numel,
                (long long)nvalues);
  }
  size_t esize = dtype_bytes(t.dtype);
  t.data = malloc(t.numel > 0 ? (size_t)t.numel * esize : 1);
  t.name = dup_str(name);
  if (!t.data || !t.name) {
    free(t.data);
    free(t.name);
    return perr(p, "out of memory");
  }
  for (int64_t k = 0; k < t.numel; k++) {
    char *tok = next_token(&cur);
    bool ok = false;
    switch (t.dtype) {
    case NB_DTYPE_FLOAT32: ok = parse_f32(tok, (float *)t.data + k); break;
    case NB_DTYPE_FLOAT64: ok = parse_f64(tok, (double *)t.data + k); break;
    case NB_DTYPE_INT64: ok = parse_i64(tok, (int64_t *)t.data + k); break;
    case NB_DTYPE_BOOL:
      ok = (strcmp(tok, "0") == 0 || strcmp(tok, "1") == 0);
      if (ok) ((bool *)t.data)[k] = tok[0] == '1';
      break;
    default: break;
    }
    if (!ok) {
      free(t.data);
      free(t.name);
      return perr(p, "tensor %s: value %lld '%s' is not a valid %s", name, (long long)k, tok,
                  dtype_str(t.dtype));
    }
  }
  t.line = p->line;
  if (!grow((void **)&c->tensors, &c->tensors_cap, c->ntensors, sizeof *c->tensors)) {
    free(t.data);
    free(t.name);
    return perr(p, "out of memory");
  }
  c->tensors[c->ntensors++] = t;
  return true;
}

/* `param NAME V...` (cur is after "param"). */
static bool parse_param(parser *p, nbt_case *c, char *cur) {
  char *name = next_token(&cur);
  if (!name) return perr(p, "param line needs: param NAME VALUES...");
  if (find_param(c, name)) return perr(p, "case %s: param '%s' defined twice", c->name, name);
  int64_t n = count_tokens(cur);
  if (n > INT_MAX / 2) return perr(p, "param %s: too many values", name);
  nbt_param_entry e;
  memset(&e, 0, sizeof e);
  e.count = (int)n;
  e.line = p->line;
  e.name = dup_str(name);
  e.values = malloc((size_t)(n ? n : 1) * sizeof *e.values);
  e.ints = malloc((size_t)(n ? n : 1) * sizeof *e.ints);
  e.integral = malloc((size_t)(n ? n : 1) * sizeof *e.integral);
  bool ok = e.name && e.values && e.ints && e.integral;
  if (!ok) perr(p, "out of memory");
  for (int i = 0; ok && i < e.count; i++) {
    char *tok = next_token(&cur);
    if (parse_i64(tok, &e.ints[i])) {
      e.integral[i] = true;
      e.values[i] = (double)e.ints[i];
    } else if (parse_f64(tok, &e.values[i])) {
      e.integral[i] = false;
      e.ints[i] = 0;
    } else {
      ok = false;
      perr(p, "param %s: value '%s' is not a number", name, tok);
    }
  }
  if (ok && !grow((void **)&c->params, &c->params_cap, c->nparams, sizeof *c->params)) {
    ok = false;
    perr(p, "out of memory");
  }
  if (!ok) {
    free(e.name);
    free(e.values);
    free(e.ints);
    free(e.integral);
    return false;
  }
  c->params[c->nparams++] = e;
  return true;
}

static bool parse_text(parser *p, nbt_fixture *f, char *text) {
  nbt_case *open = NULL;
  int open_line = 0;
  char *line = text;
  p->line = 0;
  while (line) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    p->line++;
    char *cur = line;
    char *word = next_token(&cur);
    line = nl ? nl + 1 : NULL;
    if (!word || word[0] == '#') continue;
    if (strcmp(word, "case") == 0) {
      if (open)
        return perr(p, "'case' inside case %s (opened at line %d) without 'end'", open->name,
                    open_line);
      char *name = next_token(&cur);
      if (!name || next_token(&cur)) return perr(p, "case line needs exactly one name: case NAME");
      for (int i = 0; i < f->ncases; i++)
        if (strcmp(f->cases[i].name, name) == 0) return perr(p, "case '%s' defined twice", name);
      if (!grow((void **)&f->cases, &f->cases_cap, f->ncases, sizeof *f->cases))
        return perr(p, "out of memory");
      open = &f->cases[f->ncases++];
      memset(open, 0, sizeof *open);
      open->owner = f;
      open->name = dup_str(name);
      char where[512];
      snprintf(where, sizeof where, "%s:%d", p->base, p->line);
      open->where = dup_str(where);
      if (!open->name || !open->where) return perr(p, "out of memory");
      open_line = p->line;
    } else if (strcmp(word, "end") == 0) {
      if (!open) return perr(p, "'end' outside a case");
      if (next_token(&cur)) return perr(p, "unexpected text after 'end'");
      open = NULL;
    } else if (strcmp(word, "tensor") == 0 || strcmp(word, "param") == 0) {
      if (!open) return perr(p, "'%s' outside a case", word);
      bool ok = word[0] == 't' ? parse_tensor(p, open, cur) : parse_param(p, open, cur);
      if (!ok) return false;
    } else {
      return perr(p, "unknown line '%s' (expected case, tensor, param, end or # comment)", word);
    }
  }
  if (open) {
    p->line = open_line;
    return perr(p, "case %s is not closed by 'end'", open->name);
  }
  return true;
}

nbt_fixture *nbt_fixture_parse(const char *text, const char *label, char *err, size_t errsize) {
  put_msg(err, errsize, "%s", "");
  if (!label) label = "<fixture>";
  if (!text) {
    put_msg(err, errsize, "%s: no text", label);
    return NULL;
  }
  parser p = {label, label, 0, err, errsize};
  const char *slash = strrchr(label, '/');
  if (slash) p.base = slash + 1;
  nbt_fixture *f = calloc(1, sizeof *f);
  char *copy = dup_str(text);
  if (f) f->label = dup_str(label);
  if (!f || !copy || !f->label) {
    put_msg(err, errsize, "%s: out of memory", label);
    free(copy);
    nbt_fixture_free(f);
    return NULL;
  }
  bool ok = parse_text(&p, f, copy);
  free(copy);
  if (!ok) {
    nbt_fixture_free(f);
    return NULL;
  }
  return f;
}

nbt_fixture *nbt_fixture_read(const char *path, char *err, size_t errsize) {
  put_msg(err, errsize, "%s", "");
  if (!path) {
    put_msg(err, errsize, "no path");
    return NULL;
  }
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    put_msg(err, errsize, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  bool ok = buf != NULL;
  while (ok) {
    if (len + 1 >= cap) {
      char *nbuf = realloc(buf, cap * 2);
      if (!nbuf) {
        ok = false;
        break;
      }
      buf = nbuf;
      cap *= 2;
    }
    size_t got = fread(buf + len, 1, cap - len - 1, fp);
    len += got;
    if (got == 0) break;
  }
  bool read_error = ferror(fp) != 0;
  fclose(fp);
  if (!ok || read_error) {
    put_msg(err, errsize, "%s: %s", path, read_error ? "read error" : "out of memory");
    free(buf);
    return NULL;
  }
  buf[len] = '\0';
  if (memchr(buf, '\0', len)) {
    put_msg(err, errsize, "%s: contains a NUL byte (not a fixture text file)", path);
    free(buf);
    return NULL;
  }
  nbt_fixture *f = nbt_fixture_parse(buf, path, err, errsize);
  free(buf);
  return f;
}

nbt_fixture *nbt_fixture_load_at(const char *file, int line, const char *family) {
  if (!family) nbt_fail_at(file, line, "nbt_fixture_load: family is NULL");
  char path[4096];
  int n = snprintf(path, sizeof path, "%s/%s.txt", NB_TEST_FIXTURES, family);
  if (n < 0 || (size_t)n >= sizeof path)
    nbt_fail_at(file, line, "nbt_fixture_load: path too long for family '%s'", family);
  char err[1024];
  nbt_fixture *f = nbt_fixture_read(path, err, sizeof err);
  if (!f)
    nbt_fail_at(file, line,
                "fixture family '%s': %s\n(regenerate with: /usr/bin/python3 "
                "tools/fixtures/gen.py %s)",
                family, err, family);
  return f;
}

/* ---- accessors --------------------------------------------------------------------- */

int nbt_fixture_num_cases(const nbt_fixture *f) { return f ? f->ncases : 0; }

const nbt_case *nbt_fixture_case_index(const nbt_fixture *f, int i) {
  if (!f || i < 0 || i >= f->ncases) return NULL;
  return &f->cases[i];
}

const nbt_case *nbt_fixture_case_at(const char *file, int line, const nbt_fixture *f,
                                    const char *name) {
  if (!f || !name) nbt_fail_at(file, line, "nbt_fixture_case: %s is NULL", f ? "name" : "fixture");
  for (int i = 0; i < f->ncases; i++)
    if (strcmp(f->cases[i].name, name) == 0) return &f->cases[i];
  nbt_fail_at(file, line,
              "fixture %s has no case '%s' (%d cases; add it to tools/fixtures/gen_*.py and "
              "regenerate)",
              f->label, name, f->ncases);
}

const char *nbt_case_name(const nbt_case *c) { return c ? c->name : NULL; }
const char *nbt_case_where(const nbt_case *c) { return c ? c->where : NULL; }

bool nbt_case_has_tensor(const nbt_case *c, const char *name) {
  return c && name && find_tensor(c, name) != NULL;
}

bool nbt_case_has_param(const nbt_case *c, const char *name) {
  return c && name && find_param(c, name) != NULL;
}

static const nbt_tensor_entry *need_tensor(const char *file, int line, const nbt_case *c,
                                           const char *name) {
  if (!c || !name) nbt_fail_at(file, line, "nbt_case_tensor: %s is NULL", c ? "name" : "case");
  const nbt_tensor_entry *t = find_tensor(c, name);
  if (!t) nbt_fail_at(file, line, "case %s (%s) has no tensor '%s'", c->name, c->where, name);
  return t;
}

static const nbt_param_entry *need_param(const char *file, int line, const nbt_case *c,
                                         const char *name) {
  if (!c || !name) nbt_fail_at(file, line, "nbt_case_param: %s is NULL", c ? "name" : "case");
  const nbt_param_entry *e = find_param(c, name);
  if (!e) nbt_fail_at(file, line, "case %s (%s) has no param '%s'", c->name, c->where, name);
  return e;
}

nb_tensor *nbt_case_tensor_at(const char *file, int line, const nbt_case *c, const char *name) {
  const nbt_tensor_entry *t = need_tensor(file, line, c, name);
  nb_tensor *out = nb_from_data(t->dtype, t->data, t->ndim, t->shape);
  if (!out)
    nbt_fail_at(file, line, "case %s: tensor '%s': nb_from_data failed: %s", c->name, name,
                nb_errmsg());
  return out;
}

double nbt_case_param_at(const char *file, int line, const nbt_case *c, const char *name) {
  const nbt_param_entry *e = need_param(file, line, c, name);
  if (e->count < 1) nbt_fail_at(file, line, "case %s: param '%s' has no values", c->name, name);
  return e->values[0];
}

int nbt_case_param_doubles_at(const char *file, int line, const nbt_case *c, const char *name,
                              double *out, int cap) {
  const nbt_param_entry *e = need_param(file, line, c, name);
  if (e->count > cap)
    nbt_fail_at(file, line, "case %s: param '%s' has %d values, room for %d", c->name, name,
                e->count, cap);
  for (int i = 0; i < e->count; i++) out[i] = e->values[i];
  return e->count;
}

int nbt_case_param_ints_at(const char *file, int line, const nbt_case *c, const char *name,
                           int64_t *out, int cap) {
  const nbt_param_entry *e = need_param(file, line, c, name);
  if (e->count > cap)
    nbt_fail_at(file, line, "case %s: param '%s' has %d values, room for %d", c->name, name,
                e->count, cap);
  for (int i = 0; i < e->count; i++) {
    if (e->integral[i]) {
      out[i] = e->ints[i];
    } else {
      double v = e->values[i];
      /* Accept integral doubles like 2.0; 9.2e18 bounds keep the cast defined. */
      if (!(v == floor(v)) || fabs(v) > 9.2e18)
        nbt_fail_at(file, line, "case %s: param '%s' value %d (%.17g) is not an integer", c->name,
                    name, i, v);
      out[i] = (int64_t)v;
    }
  }
  return e->count;
}

int nbt_case_param_dims_at(const char *file, int line, const nbt_case *c, const char *name,
                           int *out, int cap) {
  const nbt_param_entry *e = need_param(file, line, c, name);
  int64_t tmp[NB_MAX_DIMS * 4];
  if (e->count > cap || e->count > (int)(sizeof tmp / sizeof tmp[0]))
    nbt_fail_at(file, line, "case %s: param '%s' has %d values, room for %d", c->name, name,
                e->count, cap);
  int n = nbt_case_param_ints_at(file, line, c, name, tmp, (int)(sizeof tmp / sizeof tmp[0]));
  for (int i = 0; i < n; i++) {
    if (tmp[i] < INT_MIN || tmp[i] > INT_MAX)
      nbt_fail_at(file, line, "case %s: param '%s' value %lld does not fit an int", c->name, name,
                  (long long)tmp[i]);
    out[i] = (int)tmp[i];
  }
  return n;
}

/* ---- comparisons -------------------------------------------------------------------- */

static void default_tols(nb_dtype dtype, double *rtol, double *atol) {
  double r = 0, a = 0;
  if (dtype == NB_DTYPE_FLOAT32) {
    r = NBT_F32_RTOL;
    a = NBT_F32_ATOL;
  } else if (dtype == NB_DTYPE_FLOAT64) {
    r = NBT_F64_RTOL;
    a = NBT_F64_ATOL;
  }
  if (*rtol < 0) *rtol = r;
  if (*atol < 0) *atol = a;
}

/* torch.isclose(equal_nan=True); exact equality first so equal infinities match. */
static bool close_d(double a, double e, double rtol, double atol) {
  if (isnan(a) || isnan(e)) return isnan(a) && isnan(e);
  if (a == e) return true;
  if (isinf(a) || isinf(e)) return false;
  return fabs(a - e) <= atol + rtol * fabs(e);
}

static void fmt_value(char *buf, size_t size, nb_dtype dtype, double d, const int64_t *i) {
  if (i)
    snprintf(buf, size, "%lld", (long long)*i);
  else if (dtype == NB_DTYPE_FLOAT32)
    snprintf(buf, size, "%.9g", d);
  else if (dtype == NB_DTYPE_FLOAT64)
    snprintf(buf, size, "%.17g", d);
  else
    snprintf(buf, size, "%.17g", d);
}

/* Element loop shared by nbt_compare and nbt_assert_values. Exactly one of
 * (ad, ed) / (ai, ei) pairs is used: ints when ai is non-NULL. */
static bool compare_elems(int64_t n, const double *ad, const double *ed, const int64_t *ai,
                          const int64_t *ei, nb_dtype adt, nb_dtype edt, int ndim,
                          const int64_t *shape, double rtol, double atol, char *msg,
                          size_t msgsize) {
  int64_t bad = 0, first = -1, worst = -1;
  double worst_diff = -1;
  for (int64_t k = 0; k < n; k++) {
    double a = ai ? (double)ai[k] : ad[k];
    double e = ai ? (double)ei[k] : ed[k];
    double diff;
    bool ok;
    if (ai) {
      /* Exact: the difference of two int64 is taken in uint64 before rounding. */
      uint64_t ud =
          ai[k] >= ei[k] ? (uint64_t)ai[k] - (uint64_t)ei[k] : (uint64_t)ei[k] - (uint64_t)ai[k];
      diff = (double)ud;
      ok = ud == 0 || diff <= atol + rtol * fabs(e);
    } else {
      diff = fabs(a - e);
      ok = close_d(a, e, rtol, atol);
    }
    if (ok) continue;
    if (bad++ == 0) first = k;
    if (isnan(diff)) diff = INFINITY; /* nan vs number counts as the worst */
    if (diff > worst_diff) {
      worst_diff = diff;
      worst = k;
    }
  }
  if (bad == 0) return true;
  char ibuf[160], wbuf[160], sbuf[160], av[64], ev[64];
  double a = ai ? (double)ai[first] : ad[first];
  double e = ai ? (double)ei[first] : ed[first];
  fmt_value(av, sizeof av, adt, a, ai ? &ai[first] : NULL);
  fmt_value(ev, sizeof ev, edt, e, ai ? &ei[first] : NULL);
  double first_diff = fabs(a - e);
  if (ai)
    first_diff = ai[first] >= ei[first] ? (double)((uint64_t)ai[first] - (uint64_t)ei[first])
                                        : (double)((uint64_t)ei[first] - (uint64_t)ai[first]);
  put_msg(msg, msgsize,
          "values differ at %s (flat %lld): actual %s vs expected %s, |diff| %.3g > tol %.3g "
          "(rtol %.3g, atol %.3g); %lld of %lld elements differ, worst at %s (|diff| %.3g); "
          "shape %s",
          index_str(ibuf, sizeof ibuf, ndim, shape, first), (long long)first, av, ev, first_diff,
          atol + rtol * fabs(e), rtol, atol, (long long)bad, (long long)n,
          index_str(wbuf, sizeof wbuf, ndim, shape, worst), worst_diff,
          shape_str(sbuf, sizeof sbuf, ndim, shape));
  return false;
}

static bool null_msg(const char *which, char *msg, size_t msgsize) {
  const char *em = nb_errmsg();
  put_msg(msg, msgsize, "%s tensor is NULL (last error %s: %s)", which,
          nb_status_str(nb_last_status()), em && *em ? em : "none");
  return false;
}

bool nbt_compare(nb_tensor *actual, nb_tensor *expected, double rtol, double atol, unsigned flags,
                 char *msg, size_t msgsize) {
  put_msg(msg, msgsize, "%s", "");
  if (!actual) return null_msg("actual", msg, msgsize);
  if (!expected) return null_msg("expected", msg, msgsize);
  nb_dtype adt = nb_dtype_of(actual), edt = nb_dtype_of(expected);
  int andim = nb_ndim(actual), endim = nb_ndim(expected);
  const int64_t *ash = nb_shape(actual), *esh = nb_shape(expected);
  char s1[160], s2[160];
  bool same_shape = andim == endim;
  for (int d = 0; same_shape && d < andim; d++) same_shape = ash[d] == esh[d];
  if (!same_shape || (adt != edt && !(flags & NBT_CMP_ANY_DTYPE))) {
    put_msg(msg, msgsize, "%s: actual %s %s vs expected %s %s",
            same_shape ? "dtypes differ" : "shapes differ", dtype_str(adt),
            shape_str(s1, sizeof s1, andim, ash), dtype_str(edt),
            shape_str(s2, sizeof s2, endim, esh));
    return false;
  }
  default_tols(edt, &rtol, &atol);
  int64_t n = nb_numel(expected);
  if (n <= 0) return true;
  bool ints = !dtype_is_float(adt) && !dtype_is_float(edt);
  nb_dtype as = ints ? NB_DTYPE_INT64 : NB_DTYPE_FLOAT64;
  size_t es = ints ? sizeof(int64_t) : sizeof(double);
  void *abuf = malloc((size_t)n * es), *ebuf = malloc((size_t)n * es);
  bool ok;
  if (!abuf || !ebuf) {
    put_msg(msg, msgsize, "out of memory comparing %lld elements", (long long)n);
    ok = false;
  } else if (nb_copy_out(actual, as, abuf, n) != NB_OK) {
    put_msg(msg, msgsize, "nb_copy_out(actual) failed: %s", nb_errmsg());
    ok = false;
  } else if (nb_copy_out(expected, as, ebuf, n) != NB_OK) {
    put_msg(msg, msgsize, "nb_copy_out(expected) failed: %s", nb_errmsg());
    ok = false;
  } else if (ints) {
    ok = compare_elems(n, NULL, NULL, abuf, ebuf, adt, edt, endim, esh, rtol, atol, msg, msgsize);
  } else {
    ok = compare_elems(n, abuf, ebuf, NULL, NULL, adt, edt, endim, esh, rtol, atol, msg, msgsize);
  }
  if (!ok && adt != edt) {
    size_t used = msg ? strlen(msg) : 0;
    if (msg && used < msgsize)
      snprintf(msg + used, msgsize - used, " (actual %s, expected %s)", dtype_str(adt),
               dtype_str(edt));
  }
  free(abuf);
  free(ebuf);
  return ok;
}

void nbt_assert_close_at(const char *file, int line, nb_tensor *actual, nb_tensor *expected,
                         double rtol, double atol, const char *what) {
  char msg[1024];
  if (!nbt_compare(actual, expected, rtol, atol, 0, msg, sizeof msg))
    nbt_fail_at(file, line, "%s: %s", what ? what : "nbt_assert_close", msg);
}

void nbt_assert_close_any_dtype_at(const char *file, int line, nb_tensor *actual,
                                   nb_tensor *expected, double rtol, double atol,
                                   const char *what) {
  char msg[1024];
  if (!nbt_compare(actual, expected, rtol, atol, NBT_CMP_ANY_DTYPE, msg, sizeof msg))
    nbt_fail_at(file, line, "%s: %s", what ? what : "nbt_assert_close_any_dtype", msg);
}

void nbt_assert_values_at(const char *file, int line, nb_tensor *actual, const double *expected,
                          int64_t n, double rtol, double atol, const char *what) {
  char msg[1024];
  if (!what) what = "nbt_assert_values";
  if (!actual) {
    null_msg("actual", msg, sizeof msg);
    nbt_fail_at(file, line, "%s: %s", what, msg);
  }
  int64_t numel = nb_numel(actual);
  char sbuf[160];
  if (numel != n)
    nbt_fail_at(file, line, "%s: actual has %lld elements (shape %s), expected %lld values", what,
                (long long)numel, shape_str(sbuf, sizeof sbuf, nb_ndim(actual), nb_shape(actual)),
                (long long)n);
  if (n <= 0) return;
  default_tols(nb_dtype_of(actual), &rtol, &atol);
  double *abuf = malloc((size_t)n * sizeof *abuf);
  if (!abuf) nbt_fail_at(file, line, "%s: out of memory", what);
  if (nb_copy_out(actual, NB_DTYPE_FLOAT64, abuf, n) != NB_OK) {
    snprintf(msg, sizeof msg, "%s", nb_errmsg());
    free(abuf);
    nbt_fail_at(file, line, "%s: nb_copy_out failed: %s", what, msg);
  }
  bool ok = compare_elems(n, abuf, expected, NULL, NULL, nb_dtype_of(actual), NB_DTYPE_FLOAT64,
                          nb_ndim(actual), nb_shape(actual), rtol, atol, msg, sizeof msg);
  free(abuf);
  if (!ok) nbt_fail_at(file, line, "%s: %s", what, msg);
}

void nbt_assert_shape_at(const char *file, int line, nb_tensor *t, int ndim, const int64_t *shape,
                         const char *what) {
  char msg[512], s1[160], s2[160];
  if (!what) what = "nbt_assert_shape";
  if (!t) {
    null_msg("actual", msg, sizeof msg);
    nbt_fail_at(file, line, "%s: %s", what, msg);
  }
  int tnd = nb_ndim(t);
  const int64_t *tsh = nb_shape(t);
  bool same = tnd == ndim;
  for (int d = 0; same && d < ndim; d++) same = tsh[d] == shape[d];
  if (!same)
    nbt_fail_at(file, line, "%s: shape %s, expected %s", what, shape_str(s1, sizeof s1, tnd, tsh),
                shape_str(s2, sizeof s2, ndim, shape));
}

void nbt_assert_ok_at(const char *file, int line, nb_status status, const char *what) {
  if (status != NB_OK)
    nbt_fail_at(file, line, "%s: status %s (%d): %s", what ? what : "nbt_assert_ok",
                nb_status_str(status), (int)status, nb_errmsg());
}

void nbt_case_check_at(const char *file, int line, const nbt_case *c, const char *name,
                       nb_tensor *actual, double rtol, double atol) {
  const nbt_tensor_entry *t = need_tensor(file, line, c, name);
  nb_tensor *expected = nb_from_data(t->dtype, t->data, t->ndim, t->shape);
  if (!expected)
    nbt_fail_at(file, line, "case %s: tensor '%s': nb_from_data failed: %s", c->name, name,
                nb_errmsg());
  char msg[1024];
  bool ok = nbt_compare(actual, expected, rtol, atol, 0, msg, sizeof msg);
  nb_free(expected);
  if (!ok)
    nbt_fail_at(file, line, "%s case %s: %s (expected at line %d): %s", c->owner->label, c->name,
                name, t->line, msg);
}

/* ---- leak checks ----------------------------------------------------------------------- */

static struct {
  bool recorded;
  int64_t tensors, storages;
  int depth;
} leak_start;

void nbt_leak_setup(void) {
  nb_mem_stats s;
  memset(&s, 0, sizeof s);
  nb_mem_stats_get(&s);
  leak_start.tensors = s.live_tensors;
  leak_start.storages = s.live_storages;
  leak_start.depth = nb_scope_depth();
  leak_start.recorded = true;
}

/* True (and a message in buf) when the counts differ from nbt_leak_setup's. */
static bool leaked(char *buf, size_t size) {
  nb_mem_stats s;
  memset(&s, 0, sizeof s);
  nb_mem_stats_get(&s);
  int depth = nb_scope_depth();
  if (s.live_tensors == leak_start.tensors && s.live_storages == leak_start.storages &&
      depth == leak_start.depth)
    return false;
  put_msg(buf, size,
          "live_tensors %lld -> %lld (%+lld), live_storages %lld -> %lld (%+lld), "
          "open scopes %d -> %d",
          (long long)leak_start.tensors, (long long)s.live_tensors,
          (long long)(s.live_tensors - leak_start.tensors), (long long)leak_start.storages,
          (long long)s.live_storages, (long long)(s.live_storages - leak_start.storages),
          leak_start.depth, depth);
  return true;
}

static const char *no_setup_msg = "nbt_leak_setup() was not called (use TestSuite(x, .init = "
                                  "nbt_leak_setup, .fini = nbt_leak_teardown))";

void nbt_assert_no_leaks_at(const char *file, int line, const char *what) {
  char msg[512];
  if (!what) what = "leak check";
  if (!leak_start.recorded) nbt_fail_at(file, line, "%s: %s", what, no_setup_msg);
  if (leaked(msg, sizeof msg)) nbt_fail_at(file, line, "%s: %s", what, msg);
}

/* Criterion 2.4 prints assertions made in .fini but still counts the test as
 * passed, so a leak in an otherwise passing test is reported and then the
 * worker is aborted: Criterion warns "crashed during its setup or teardown"
 * and the test program exits non-zero, which fails the CTest entry. A test
 * that already failed through an nbt_ helper is left alone. */
void nbt_leak_teardown(void) {
  char msg[600];
  char text[512];
  if (!leak_start.recorded)
    snprintf(msg, sizeof msg, "nbt_leak_teardown: %s", no_setup_msg);
  else if (leaked(text, sizeof text))
    snprintf(msg, sizeof msg, "leak at end of test: %s", text);
  else
    return;
  if (test_failed) return; /* its early exit skipped the frees: the leak is only noise */
  report_failure(__FILE__, __LINE__, msg);
  fprintf(stderr, "nbt_leak_teardown: %s; aborting the test so it cannot pass\n", msg);
  fflush(stderr);
  abort();
}
