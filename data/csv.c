/* data/csv.c - the CSV reader.
 *
 * Owns: nb_csv_load (a streaming RFC 4180 parser: header, delimiter, quoted
 * fields with embedded delimiters / doubled quotes / newlines, CRLF, a UTF-8
 * BOM, blank lines skipped; column selection by name or index; class labels
 * mapped to indices in first-seen or sorted order; numbers parsed with strtod
 * in the "C" locale), the CSV dataset it returns, and the class-mapping
 * accessors nb_csv_num_classes / nb_csv_class_name / nb_csv_save_classes /
 * nb_csv_dropped_rows.
 *
 * Memory: the file is read through a fixed 64 KiB buffer; only the record
 * being parsed is held as text. Parsed numbers go straight into growing
 * arrays (realloc, which glibc serves by mremap for large blocks, so growth
 * does not double the peak) that become the dataset's tensors without a copy.
 */
#include "data/data_impl.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OP "csv_load"
/* A record (one row's text) longer than this is treated as a broken file
 * (e.g. an unterminated quote swallowing the rest), not buffered on. */
#define MAX_RECORD_BYTES ((size_t)1 << 28)

/* Grow *p (holding *cap items of `size` bytes) to at least `need` items,
 * by 1.5x. False (and *p untouched) on overflow or out of memory. */
static bool grow(void **p, int64_t *cap, int64_t need, size_t size) {
  if (need <= *cap) return true;
  int64_t n = *cap < 16 ? 16 : *cap + *cap / 2;
  if (n < need) n = need;
  size_t bytes;
  if (__builtin_mul_overflow((size_t)n, size, &bytes)) return false;
  void *q = realloc(*p, bytes);
  if (!q) return false;
  *p = q;
  *cap = n;
  return true;
}

/* ---- the record reader ------------------------------------------------------ */

typedef struct reader {
  FILE *f;
  char delim;
  int pushback; /* a character given back, or -1 */
  int64_t line; /* current physical line, 1-based */
  size_t pos, len;
  unsigned char buf[1 << 16];
} reader;

/* One record: fields NUL-terminated one after another in text. */
typedef struct field_info {
  int64_t start; /* offset into text */
  int64_t line;  /* line the field starts on */
  bool quoted;
} field_info;

typedef struct record {
  char *text;
  int64_t len, cap;
  field_info *f;
  int64_t n, fcap;
  int64_t line;  /* line the record starts on */
  bool too_long; /* the last failed reserve hit MAX_RECORD_BYTES */
} record;

static inline int rd_getc(reader *r) {
  if (r->pushback >= 0) {
    int c = r->pushback;
    r->pushback = -1;
    return c;
  }
  if (r->pos == r->len) {
    r->len = fread(r->buf, 1, sizeof r->buf, r->f);
    r->pos = 0;
    if (r->len == 0) return EOF;
  }
  return r->buf[r->pos++];
}

/* Room for `extra` more bytes of text (and a NUL). */
static bool rec_reserve(record *rec, int64_t extra) {
  if (rec->len + extra + 1 <= rec->cap) return true;
  rec->too_long = (size_t)(rec->len + extra) >= MAX_RECORD_BYTES;
  return !rec->too_long && grow((void **)&rec->text, &rec->cap, rec->len + extra + 1, 1);
}

static inline bool rec_putc(record *rec, int c) {
  if (rec->len + 1 >= rec->cap && !rec_reserve(rec, 1)) return false;
  rec->text[rec->len++] = (char)c;
  return true;
}

static bool field_begin(record *rec, int64_t line) {
  if (!grow((void **)&rec->f, &rec->fcap, rec->n + 1, sizeof *rec->f)) return false;
  rec->f[rec->n++] = (field_info){.start = rec->len, .line = line};
  return true;
}

/* Read the next record. 1 = a record, 0 = end of file, <0 = error (set). */
static int read_record(reader *r, record *rec, const char *path) {
  rec->n = 0;
  rec->len = 0;
  rec->line = r->line;
  int c = rd_getc(r);
  if (c == EOF) return 0;
  for (;;) {
    if (!field_begin(rec, r->line)) goto oom;
    if (c == '"') {
      rec->f[rec->n - 1].quoted = true;
      int64_t qline = r->line;
      for (;;) {
        c = rd_getc(r);
        if (c == EOF) {
          nb_set_error(NB_ERR_FORMAT, OP ": %s:%lld:%lld: quoted field never closed", path,
                       (long long)qline, (long long)rec->n);
          return -1;
        }
        if (c == '"') {
          c = rd_getc(r);
          if (c != '"') break; /* the closing quote; c is what follows */
        } else if (c == '\n') {
          r->line++;
        }
        if (!rec_putc(rec, c)) goto oom;
      }
      while (c != r->delim && (c == ' ' || c == '\t')) c = rd_getc(r);
      if (c != r->delim && c != '\n' && c != '\r' && c != EOF) {
        char what[24];
        snprintf(what, sizeof what, c > ' ' && c < 127 ? "character '%c'" : "byte 0x%02x", c);
        nb_set_error(NB_ERR_FORMAT, OP ": %s:%lld:%lld: unexpected %s after a closing quote", path,
                     (long long)r->line, (long long)rec->n, what);
        return -1;
      }
    } else {
      while (c != r->delim && c != '\n' && c != '\r' && c != EOF) {
        if (!rec_putc(rec, c)) goto oom;
        /* the rest of the field that sits in the buffer, in one copy */
        size_t p = r->pos, end = r->len;
        const unsigned char *b = r->buf, d = (unsigned char)r->delim;
        while (p < end && b[p] != d && b[p] != '\n' && b[p] != '\r') p++;
        int64_t run = (int64_t)(p - r->pos);
        if (run > 0) {
          if (!rec_reserve(rec, run)) goto oom;
          memcpy(rec->text + rec->len, b + r->pos, (size_t)run);
          rec->len += run;
          r->pos = p;
        }
        c = rd_getc(r);
      }
    }
    if (!rec_putc(rec, '\0')) goto oom;
    if (c == r->delim) {
      c = rd_getc(r);
      continue;
    }
    if (c == '\r') {
      c = rd_getc(r);
      if (c != '\n') r->pushback = c == EOF ? -1 : c;
    }
    r->line++;
    return 1;
  }
oom:
  if (rec->too_long)
    nb_set_error(NB_ERR_FORMAT, OP ": %s:%lld: record longer than %zu bytes (an unclosed quote?)",
                 path, (long long)rec->line, MAX_RECORD_BYTES);
  else
    nb_set_error(NB_ERR_MEMORY, OP ": %s:%lld: out of memory", path, (long long)rec->line);
  return -1;
}

/* Field i without surrounding spaces and tabs (cut off in place; field
 * lengths come from the offsets, so no strlen). */
static char *trimmed(const record *rec, int64_t i) {
  char *s = rec->text + rec->f[i].start;
  char *e = rec->text + (i + 1 < rec->n ? rec->f[i + 1].start : rec->len) - 1; /* its NUL */
  while (s < e && (*s == ' ' || *s == '\t')) s++;
  while (e > s && (e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
  return s;
}

/* A line with nothing but blanks (and no quotes). */
static bool blank_record(record *rec) {
  return rec->n == 1 && !rec->f[0].quoted && *trimmed(rec, 0) == '\0';
}

/* ---- class labels ---------------------------------------------------------------- */

typedef struct labels {
  char **names; /* first-seen order */
  int64_t n, cap;
  int32_t *slots; /* open addressing: index into names, or -1 */
  int64_t nslots;
} labels;

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* Class id of `name`, adding it if new; -1 when out of memory. */
static int64_t label_id(labels *L, const char *name) {
  if (L->n * 2 >= L->nslots) {
    int64_t ns = L->nslots ? L->nslots * 2 : 64;
    if (ns > INT32_MAX) return -1;
    int32_t *s = malloc((size_t)ns * sizeof *s);
    if (!s) return -1;
    for (int64_t i = 0; i < ns; i++) s[i] = -1;
    for (int64_t i = 0; i < L->n; i++) {
      uint64_t h = hash_str(L->names[i]) & (uint64_t)(ns - 1);
      while (s[h] >= 0) h = (h + 1) & (uint64_t)(ns - 1);
      s[h] = (int32_t)i;
    }
    free(L->slots);
    L->slots = s;
    L->nslots = ns;
  }
  uint64_t h = hash_str(name) & (uint64_t)(L->nslots - 1);
  while (L->slots[h] >= 0) {
    if (strcmp(L->names[L->slots[h]], name) == 0) return L->slots[h];
    h = (h + 1) & (uint64_t)(L->nslots - 1);
  }
  char *copy = strdup(name);
  if (!copy || !grow((void **)&L->names, &L->cap, L->n + 1, sizeof *L->names)) {
    free(copy);
    return -1;
  }
  L->names[L->n] = copy;
  L->slots[h] = (int32_t)L->n;
  return L->n++;
}

/* Parse a whole string as a long long (for numeric label ordering). */
static bool parse_int(const char *s, long long *v) {
  char *end;
  errno = 0;
  *v = strtoll(s, &end, 10);
  return end != s && *end == '\0' && errno == 0;
}

/* A class while sorting: `numeric` is the same for all (every label an
 * integer), so the comparison needs no global state. */
typedef struct sort_item {
  char *name;
  long long value;
  bool numeric;
  int64_t first_id;
} sort_item;

static int cmp_label(const void *a, const void *b) {
  const sort_item *x = a, *y = b;
  if (x->numeric) return (x->value > y->value) - (x->value < y->value);
  return strcmp(x->name, y->name);
}

/* Reorder the classes sorted (numerically when every label is an integer,
 * else by byte value) and renumber the targets y[0..n). */
static bool sort_labels(labels *L, int64_t *y, int64_t n) {
  size_t k = (size_t)(L->n ? L->n : 1);
  sort_item *items = malloc(k * sizeof *items);
  int64_t *remap = malloc(k * sizeof *remap);
  if (!items || !remap) {
    free(items);
    free(remap);
    return false;
  }
  bool ints = true;
  for (int64_t i = 0; i < L->n; i++) {
    items[i] = (sort_item){.name = L->names[i], .first_id = i};
    ints = ints && parse_int(L->names[i], &items[i].value);
  }
  for (int64_t i = 0; i < L->n; i++) items[i].numeric = ints;
  qsort(items, (size_t)L->n, sizeof *items, cmp_label);
  for (int64_t i = 0; i < L->n; i++) {
    remap[items[i].first_id] = i;
    L->names[i] = items[i].name;
  }
  for (int64_t i = 0; i < n; i++) y[i] = remap[y[i]];
  free(items);
  free(remap);
  return true;
}

static void labels_free(labels *L) {
  for (int64_t i = 0; i < L->n; i++) free(L->names[i]);
  free(L->names);
  free(L->slots);
}

/* ---- column selection ------------------------------------------------------------- */

typedef struct columns {
  int64_t ncols;
  char **names;  /* header names (NULL without a header) */
  int64_t *feat; /* selected feature columns */
  int64_t nfeat;
  int64_t target; /* -1 = none */
} columns;

static void columns_free(columns *c) {
  if (c->names)
    for (int64_t i = 0; i < c->ncols; i++) free(c->names[i]);
  free(c->names);
  free(c->feat);
}

/* "a, b, c" (shortened with "..." to fit) for error messages. */
static const char *names_list(const columns *c, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (int64_t i = 0; i < c->ncols; i++) {
    int w = snprintf(buf + used, size - used, "%s'%s'", i ? ", " : "", c->names[i]);
    if (w < 0 || (size_t)w >= size - used - 4) {
      snprintf(buf + used, size - used, ", ...");
      break;
    }
    used += (size_t)w;
  }
  return buf;
}

/* The column named `name`, or -1 with the error set (listing the names). */
static int64_t column_by_name(const columns *c, const char *path, const char *name,
                              const char *what) {
  char list[640];
  if (!c->names) {
    nb_set_error(NB_ERR_ARG, OP ": %s: %s column '%s' asked by name, but the file has no header",
                 path, what, name);
    return -1;
  }
  for (int64_t i = 0; i < c->ncols; i++)
    if (strcmp(c->names[i], name) == 0) return i;
  nb_set_error(NB_ERR_ARG, OP ": %s: no %s column named '%s'; the columns are %s", path, what, name,
               names_list(c, list, sizeof list));
  return -1;
}

/* Index i (negative counts from the end), or -1 with the error set. */
static int64_t column_by_index(const columns *c, const char *path, int64_t i, const char *what) {
  int64_t j = i < 0 ? i + c->ncols : i;
  if (j < 0 || j >= c->ncols) {
    nb_set_error(NB_ERR_ARG, OP ": %s: %s column index %lld out of range for %lld columns", path,
                 what, (long long)i, (long long)c->ncols);
    return -1;
  }
  return j;
}

/* Resolve the options against the first record (the header, or the first
 * row without one). */
static bool resolve_columns(columns *c, const record *rec, const nb_csv_opts *o, const char *path) {
  c->ncols = rec->n;
  if (!o->no_header) {
    c->names = calloc((size_t)c->ncols, sizeof *c->names);
    if (!c->names) goto oom;
    for (int64_t i = 0; i < c->ncols; i++)
      if (!(c->names[i] = strdup(trimmed(rec, i)))) goto oom;
  }
  c->target = -1;
  if (o->target_kind != NB_CSV_TARGET_NONE) {
    c->target = o->target_column ? column_by_name(c, path, o->target_column, "target")
                                 : column_by_index(c, path, o->target_index, "target");
    if (c->target < 0) return false;
  }
  int64_t n =
      o->nfeatures > 0 && (o->feature_columns || o->feature_indices) ? o->nfeatures : c->ncols;
  if (!(c->feat = malloc((size_t)(n ? n : 1) * sizeof *c->feat))) goto oom;
  c->nfeat = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t j;
    if (o->nfeatures > 0 && o->feature_columns) {
      if (!o->feature_columns[i]) {
        nb_set_error(NB_ERR_ARG, OP ": %s: feature column name %lld is NULL", path, (long long)i);
        return false;
      }
      j = column_by_name(c, path, o->feature_columns[i], "feature");
    } else if (o->nfeatures > 0 && o->feature_indices) {
      j = column_by_index(c, path, o->feature_indices[i], "feature");
    } else {
      j = i == c->target ? -2 : i; /* every column but the target */
    }
    if (j == -1) return false;
    if (j >= 0) c->feat[c->nfeat++] = j;
  }
  if (c->nfeat == 0) {
    nb_set_error(NB_ERR_ARG, OP ": %s: no feature columns (%lld columns, one is the target)", path,
                 (long long)c->ncols);
    return false;
  }
  return true;
oom:
  nb_set_error(NB_ERR_MEMORY, OP ": %s: out of memory", path);
  return false;
}

/* ---- the CSV dataset -------------------------------------------------------------- */

/* A CSV dataset is a tensor dataset over the parsed numbers carrying this as
 * its ext (data_impl.h), found again through subsets and transforms. */
static const char csv_kind;

typedef struct csv_info {
  char **classes;
  int64_t nclasses;
  int64_t dropped;
} csv_info;

static void csv_info_free(void *p) {
  csv_info *c = p;
  if (!c) return;
  for (int64_t i = 0; i < c->nclasses; i++) free(c->classes[i]);
  free(c->classes);
  free(c);
}

/* The CSV info behind ds (or what it wraps), or NULL with an error naming op. */
static csv_info *csv_of(const nb_dataset *ds, const char *op) {
  if (!ds) {
    nb__data_null(op, "dataset");
    return NULL;
  }
  csv_info *c = nb__dataset_ext(ds, &csv_kind);
  if (!c)
    nb_set_error(NB_ERR_ARG, "%s: not a dataset loaded by nb_csv_load (nor built on one)", op);
  return c;
}

/* ---- loading ------------------------------------------------------------------------ */

/* NULL when `text` is a finite number (stored in *v), else why not. */
static const char *bad_number(char *s, double *v) {
  if (!*s) return "missing value";
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  if (end == s || *end || isnan(*v)) return "is not a number";
  if (isinf(*v)) return errno == ERANGE ? "is out of range" : "is not finite";
  return NULL;
}

static void store_value(nb_dtype dtype, void *base, int64_t i, double v) {
  if (dtype == NB_DTYPE_FLOAT64)
    ((double *)base)[i] = v;
  else
    ((float *)base)[i] = (float)v;
}

static void free_blob(void *data, void *ctx) {
  (void)ctx;
  free(data);
}

/* A tensor owning malloc'd `data` (freed with it, or now on failure). */
static nb_tensor *adopt(void *data, nb_dtype dtype, int ndim, const int64_t *shape) {
  nb_tensor *t = nb_from_blob(dtype, data, ndim, shape, NULL, free_blob, NULL);
  if (!t) free(data);
  return t;
}

typedef struct load_state {
  const char *path;
  const nb_csv_opts *o;
  reader *r;
  record rec;
  columns cols;
  labels L;
  void *x, *y;
  int64_t xcap, ycap, n;
  double *row;
  int64_t dropped;
} load_state;

/* Report a bad value in column j of the current record, or (drop_bad_rows)
 * count the row. Returns true if loading goes on. */
static bool bad_value(load_state *s, int64_t j, const char *why) {
  if (s->o->drop_bad_rows) {
    s->dropped++;
    return true;
  }
  char col[300];
  if (s->cols.names)
    snprintf(col, sizeof col, "column '%s'", s->cols.names[j]);
  else
    snprintf(col, sizeof col, "column index %lld", (long long)j);
  const char *text = trimmed(&s->rec, j);
  if (!*text)
    nb_set_error(NB_ERR_FORMAT, OP ": %s:%lld:%lld: %s (%s)", s->path, (long long)s->rec.f[j].line,
                 (long long)(j + 1), why, col);
  else
    nb_set_error(NB_ERR_FORMAT, OP ": %s:%lld:%lld: '%.60s%s' %s (%s)", s->path,
                 (long long)s->rec.f[j].line, (long long)(j + 1), text,
                 strlen(text) > 60 ? "..." : "", why, col);
  return false;
}

/* Parse one data record into the arrays. false = stop (error set). */
static bool take_row(load_state *s) {
  const nb_csv_opts *o = s->o;
  columns *c = &s->cols;
  if (s->rec.n != c->ncols) {
    nb_set_error(NB_ERR_FORMAT, OP ": %s:%lld: %lld fields, expected %lld (as in %s)", s->path,
                 (long long)s->rec.line, (long long)s->rec.n, (long long)c->ncols,
                 o->no_header ? "the first row" : "the header");
    return false;
  }
  for (int64_t k = 0; k < c->nfeat; k++) {
    const char *why = bad_number(trimmed(&s->rec, c->feat[k]), &s->row[k]);
    if (why) return bad_value(s, c->feat[k], why);
  }
  double tv = 0;
  const char *label = NULL;
  if (o->target_kind == NB_CSV_TARGET_REGRESSION) {
    const char *why = bad_number(trimmed(&s->rec, c->target), &tv);
    if (why) return bad_value(s, c->target, why);
  } else if (o->target_kind == NB_CSV_TARGET_CLASS) {
    label = trimmed(&s->rec, c->target);
    if (!*label) return bad_value(s, c->target, "missing class label");
  }
  nb_dtype dt = o->dtype;
  size_t es = nb_dtype_size(dt);
  if (!grow(&s->x, &s->xcap, (s->n + 1) * c->nfeat, es) ||
      (o->target_kind != NB_CSV_TARGET_NONE &&
       !grow(&s->y, &s->ycap, s->n + 1, o->target_kind == NB_CSV_TARGET_CLASS ? 8 : es)))
    goto oom;
  for (int64_t k = 0; k < c->nfeat; k++) store_value(dt, s->x, s->n * c->nfeat + k, s->row[k]);
  if (label) {
    int64_t id = label_id(&s->L, label);
    if (id < 0) goto oom;
    ((int64_t *)s->y)[s->n] = id;
  } else if (o->target_kind == NB_CSV_TARGET_REGRESSION) {
    store_value(dt, s->y, s->n, tv);
  }
  s->n++;
  return true;
oom:
  nb_set_error(NB_ERR_MEMORY, OP ": %s:%lld: out of memory after %lld rows", s->path,
               (long long)s->rec.line, (long long)s->n);
  return false;
}

/* Validate the options (NULL = defaults) into *o. */
static bool check_opts(const char *path, const nb_csv_opts *in, nb_csv_opts *o) {
  if (in)
    *o = *in;
  else
    *o = (nb_csv_opts){.target_index = -1, .target_kind = NB_CSV_TARGET_CLASS};
  if (!o->target_column && !o->use_target_index) o->target_index = -1; /* the last column */
  if (!o->delimiter) o->delimiter = ',';
  if (o->delimiter == '"' || o->delimiter == '\n' || o->delimiter == '\r') {
    nb_set_error(NB_ERR_ARG, OP ": %s: delimiter %d cannot be a quote or a line end", path,
                 o->delimiter);
    return false;
  }
  if ((unsigned)o->target_kind >= NB_CSV_TARGET_COUNT) {
    nb_set_error(NB_ERR_ARG, OP ": %s: invalid target kind %d", path, (int)o->target_kind);
    return false;
  }
  if (o->dtype != NB_DTYPE_FLOAT32 && o->dtype != NB_DTYPE_FLOAT64) {
    nb_set_error(NB_ERR_DTYPE, OP ": %s: dtype %s; features load as float32 or float64", path,
                 nb_dtype_name(o->dtype));
    return false;
  }
  if (o->nfeatures < 0) {
    nb_set_error(NB_ERR_ARG, OP ": %s: nfeatures %d < 0", path, o->nfeatures);
    return false;
  }
  return true;
}

nb_dataset *nb_csv_load(const char *path, const nb_csv_opts *opts) {
  if (!path) return nb_set_error(NB_ERR_ARG, OP ": path is NULL"), NULL;
  nb_csv_opts o;
  if (!check_opts(path, opts, &o)) return NULL;
  errno = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return nb_set_error(NB_ERR_IO, OP ": cannot open %s: %s", path, strerror(errno)), NULL;
  load_state s = {.path = path, .o = &o};
  nb_dataset *ds = NULL;
  csv_info *info = NULL;
  nb_tensor *x = NULL, *y = NULL;
  locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0), old_locale = (locale_t)0;
  if (!(s.r = malloc(sizeof *s.r)) || !c_locale) {
    nb_set_error(NB_ERR_MEMORY, OP ": %s: out of memory", path);
    goto done;
  }
  *s.r = (reader){.f = f, .delim = o.delimiter, .pushback = -1, .line = 1};
  /* A UTF-8 byte order mark is not part of the first field. */
  s.r->len = fread(s.r->buf, 1, sizeof s.r->buf, f);
  if (s.r->len >= 3 && memcmp(s.r->buf, "\xEF\xBB\xBF", 3) == 0) s.r->pos = 3;
  old_locale = uselocale(c_locale); /* strtod reads '.' whatever the user's locale */

  bool have_columns = false;
  int rc;
  while ((rc = read_record(s.r, &s.rec, path)) > 0) {
    if (blank_record(&s.rec)) continue;
    if (!have_columns) {
      if (!resolve_columns(&s.cols, &s.rec, &o, path)) goto done;
      if (!(s.row = malloc((size_t)s.cols.nfeat * sizeof *s.row))) {
        nb_set_error(NB_ERR_MEMORY, OP ": %s: out of memory", path);
        goto done;
      }
      have_columns = true;
      if (!o.no_header) continue;
    }
    if (!take_row(&s)) goto done;
  }
  if (rc < 0) goto done;
  if (ferror(f)) {
    nb_set_error(NB_ERR_IO, OP ": %s: read error: %s", path, strerror(errno));
    goto done;
  }
  if (!have_columns) {
    nb_set_error(NB_ERR_FORMAT, OP ": %s: empty file", path);
    goto done;
  }
  if (s.n == 0) {
    nb_set_error(NB_ERR_FORMAT, OP ": %s: no data rows%s", path,
                 s.dropped ? " (every row had a bad value and was dropped)" : "");
    goto done;
  }
  if (o.target_kind == NB_CSV_TARGET_CLASS && o.sorted_labels && !sort_labels(&s.L, s.y, s.n)) {
    nb_set_error(NB_ERR_MEMORY, OP ": %s: out of memory", path);
    goto done;
  }
  if (!(info = calloc(1, sizeof *info))) {
    nb_set_error(NB_ERR_MEMORY, OP ": %s: out of memory", path);
    goto done;
  }
  /* Shrink to size (in place for large blocks) and hand the arrays over. */
  nb_dtype dt = o.dtype, tdt = o.target_kind == NB_CSV_TARGET_CLASS ? NB_DTYPE_INT64 : dt;
  void *shrunk = realloc(s.x, (size_t)(s.n * s.cols.nfeat) * nb_dtype_size(dt));
  if (shrunk) s.x = shrunk;
  x = adopt(s.x, dt, 2, (const int64_t[]){s.n, s.cols.nfeat});
  s.x = NULL;
  if (!x) goto done;
  if (o.target_kind != NB_CSV_TARGET_NONE) {
    if ((shrunk = realloc(s.y, (size_t)s.n * nb_dtype_size(tdt)))) s.y = shrunk;
    y = adopt(s.y, tdt, 1, (const int64_t[]){s.n});
    s.y = NULL;
    if (!y) goto done;
  }
  info->classes = s.L.names;
  info->nclasses = s.L.n;
  s.L.names = NULL;
  s.L.n = 0;
  info->dropped = s.dropped;
  ds = nb_tensor_dataset_new(x, y);
  if (ds && nb__dataset_attach(ds, &csv_kind, info, csv_info_free) != NB_OK) {
    nb_dataset_free(ds);
    ds = NULL;
  }
  if (ds) info = NULL; /* the dataset owns it now */
done:
  if (old_locale) uselocale(old_locale);
  if (c_locale) freelocale(c_locale);
  csv_info_free(info);
  nb_free(x);
  nb_free(y);
  labels_free(&s.L);
  columns_free(&s.cols);
  free(s.rec.text);
  free(s.rec.f);
  free(s.row);
  free(s.x);
  free(s.y);
  free(s.r);
  fclose(f);
  return ds;
}

/* ---- the class mapping -------------------------------------------------------------- */

int nb_csv_num_classes(const nb_dataset *ds) {
  csv_info *c = csv_of(ds, "csv_num_classes");
  return c ? (int)c->nclasses : -1;
}

const char *nb_csv_class_name(const nb_dataset *ds, int index) {
  csv_info *c = csv_of(ds, "csv_class_name");
  if (!c) return NULL;
  if (index < 0 || index >= c->nclasses) {
    nb_set_error(NB_ERR_INDEX, "csv_class_name: class %d out of range for %lld classes", index,
                 (long long)c->nclasses);
    return NULL;
  }
  return c->classes[index];
}

int64_t nb_csv_dropped_rows(const nb_dataset *ds) {
  csv_info *c = csv_of(ds, "csv_dropped_rows");
  return c ? c->dropped : -1;
}

/* Write a name as a CSV field: quoted (quotes doubled) when it holds a
 * delimiter, a quote, a line end or surrounding blanks. */
static void put_field(FILE *f, const char *s) {
  size_t n = strlen(s);
  bool quote = n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t');
  quote = quote || strpbrk(s, ",\"\r\n") != NULL;
  if (!quote) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

nb_status nb_csv_save_classes(const nb_dataset *ds, const char *path) {
  const char *op = "csv_save_classes";
  csv_info *c = csv_of(ds, op);
  if (!c) return nb_last_status();
  if (!path) return nb_set_error(NB_ERR_ARG, "%s: path is NULL", op);
  /* Write aside, then rename over the target: a failure leaves any previous
   * file as it was. */
  size_t n = strlen(path);
  char *tmp = malloc(n + 5);
  if (!tmp) return nb_set_error(NB_ERR_MEMORY, "%s: out of memory", op);
  memcpy(tmp, path, n);
  memcpy(tmp + n, ".tmp", 5);
  nb_status st = NB_OK;
  errno = 0;
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    st = nb_set_error(NB_ERR_IO, "%s: cannot create %s: %s", op, tmp, strerror(errno));
    goto done;
  }
  for (int64_t i = 0; i < c->nclasses; i++) {
    fprintf(f, "%lld,", (long long)i);
    put_field(f, c->classes[i]);
    fputc('\n', f);
  }
  bool bad = ferror(f) != 0;
  int err = errno;
  if (fclose(f) != 0 && !bad) {
    bad = true;
    err = errno;
  }
  if (bad) {
    remove(tmp);
    st = nb_set_error(NB_ERR_IO, "%s: cannot write %s: %s", op, tmp, strerror(err));
    goto done;
  }
  if (rename(tmp, path) != 0) {
    err = errno;
    remove(tmp);
    st = nb_set_error(NB_ERR_IO, "%s: cannot rename %s to %s: %s", op, tmp, path, strerror(err));
  }
done:
  free(tmp);
  return st;
}
