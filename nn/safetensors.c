/* nn/safetensors.c - the safetensors file format.
 *
 * Owns: reading and writing safetensors files, the format PyTorch's ecosystem
 * uses for state dicts: an 8-byte little-endian header length N, N bytes of
 * JSON header {"__metadata__": {...}, "<name>": {"dtype": "F32", "shape":
 * [...], "data_offsets": [begin, end]}, ...} padded with spaces to a multiple
 * of 8, then the tensors' raw little-endian bytes (offsets count from the end
 * of the header). The header is parsed and written with jansson.
 *
 * Reading trusts nothing: the header length is checked against the file size
 * before anything is allocated, the JSON must be well formed without duplicate
 * keys, every entry needs a known dtype, a shape of non-negative integers and
 * offsets holding exactly shape x element size bytes, and the tensors must
 * tile the data section exactly (no overlap, no gap, nothing past the end) as
 * the reference implementation requires. Failures are NB_ERR_FORMAT naming the
 * path and the tensor; dtypes nabla has no tensor type for (F16, BF16, I32...)
 * are NB_ERR_DTYPE.
 *
 * Writing keeps the given order (state-dict order) with contiguous offsets and
 * is atomic: the file is written to "<path>.tmp.<pid>" beside it, fsynced,
 * then renamed over path; on any failure the temporary is removed and a file
 * already at path is untouched.
 */
#include "nn/nn_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference implementation's limit on the header (100 MB): a larger
 * length is corruption, refused before allocating. */
#define ST_MAX_HEADER ((uint64_t)100000000)
#define ST_METADATA "__metadata__"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define ST_SWAP 1 /* the file is little-endian: swap every element */
#else
#define ST_SWAP 0
#endif

/* The format's dtypes. The first NB_DTYPE_COUNT rows are nabla's own, indexed
 * by nb_dtype; the rest are recognised but have no nabla tensor type. */
typedef struct st_dtype {
  const char *name;
  int dtype; /* nb_dtype, or -1 */
} st_dtype;

static const st_dtype st_dtypes[] = {
    [NB_DTYPE_FLOAT32] = {"F32", NB_DTYPE_FLOAT32},
    [NB_DTYPE_FLOAT64] = {"F64", NB_DTYPE_FLOAT64},
    [NB_DTYPE_INT64] = {"I64", NB_DTYPE_INT64},
    [NB_DTYPE_BOOL] = {"BOOL", NB_DTYPE_BOOL},
    {"F16", -1},
    {"BF16", -1},
    {"F8_E4M3", -1},
    {"F8_E5M2", -1},
    {"I8", -1},
    {"I16", -1},
    {"I32", -1},
    {"U8", -1},
    {"U16", -1},
    {"U32", -1},
    {"U64", -1},
};
_Static_assert(NB_DTYPE_COUNT == 4, "give every nabla dtype its safetensors name in st_dtypes");

/* Record "<op>: "<path>": <message>" with status st and return st. */
static nb_status fail(nb_status st, const char *op, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static nb_status fail(nb_status st, const char *op, const char *path, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return nb_set_error(st, "%s: \"%s\": %s", op, path, msg);
}

/* Reverse the bytes of each of n elements of size es (big-endian hosts). */
static inline void swap_elements(void *data, size_t es, size_t n) {
  unsigned char *p = data;
  for (size_t i = 0; i < n; i++, p += es)
    for (size_t a = 0, b = es - 1; a < b; a++, b--) {
      unsigned char c = p[a];
      p[a] = p[b];
      p[b] = c;
    }
}

/* ---- reading ------------------------------------------------------------------ */

/* Read exactly n bytes at offset; false with errno set (0 for a short file). */
static bool read_at(int fd, void *buf, size_t n, uint64_t offset) {
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t got = pread(fd, p, n, (off_t)offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (got == 0) errno = 0;
      return false;
    }
    p += got;
    n -= (size_t)got;
    offset += (uint64_t)got;
  }
  return true;
}

/* One validated header entry. */
typedef struct entry {
  const char *name; /* the JSON key (lives as long as the parsed header) */
  nb_dtype dtype;
  int ndim;
  int64_t shape[NB_MAX_DIMS];
  uint64_t begin, end;
} entry;

/* A non-negative JSON integer, or false. */
static bool json_size(const json_t *v, uint64_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
  *out = (uint64_t)json_integer_value(v);
  return true;
}

/* Check one header entry and fill *e. */
static nb_status parse_entry(const char *op, const char *path, const char *name, json_t *v,
                             entry *e) {
  if (!json_is_object(v))
    return fail(NB_ERR_FORMAT, op, path, "tensor \"%s\": the entry is not a JSON object", name);
  e->name = name;
  json_t *dt = json_object_get(v, "dtype");
  if (!json_is_string(dt))
    return fail(NB_ERR_FORMAT, op, path, "tensor \"%s\": \"dtype\" is missing or not a string",
                name);
  const char *dts = json_string_value(dt);
  int known = -1;
  for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0] && known < 0; i++)
    if (strcmp(dts, st_dtypes[i].name) == 0) known = (int)i;
  if (known < 0)
    return fail(NB_ERR_FORMAT, op, path, "tensor \"%s\": unknown dtype \"%s\"", name, dts);
  if (st_dtypes[known].dtype < 0)
    return fail(NB_ERR_DTYPE, op, path,
                "tensor \"%s\" has dtype %s, which nabla has no tensor type for (it reads F32, "
                "F64, I64 and BOOL)",
                name, dts);
  e->dtype = (nb_dtype)st_dtypes[known].dtype;

  json_t *shape = json_object_get(v, "shape");
  if (!json_is_array(shape))
    return fail(NB_ERR_FORMAT, op, path, "tensor \"%s\": \"shape\" is missing or not an array",
                name);
  if (json_array_size(shape) > NB_MAX_DIMS)
    return fail(NB_ERR_SHAPE, op, path, "tensor \"%s\" has %zu dims; nabla supports at most %d",
                name, json_array_size(shape), NB_MAX_DIMS);
  e->ndim = (int)json_array_size(shape);
  uint64_t numel = 1;
  for (int d = 0; d < e->ndim; d++) {
    uint64_t size;
    if (!json_size(json_array_get(shape, (size_t)d), &size) || size > INT64_MAX)
      return fail(NB_ERR_FORMAT, op, path,
                  "tensor \"%s\": shape entry %d is not a non-negative integer", name, d);
    e->shape[d] = (int64_t)size;
    if (size && numel > (uint64_t)INT64_MAX / size)
      return fail(NB_ERR_FORMAT, op, path, "tensor \"%s\": the element count of shape %s overflows",
                  name, nb__nn_dims(e->ndim, e->shape));
    numel *= size;
  }

  json_t *offs = json_object_get(v, "data_offsets");
  if (!json_is_array(offs) || json_array_size(offs) != 2 ||
      !json_size(json_array_get(offs, 0), &e->begin) ||
      !json_size(json_array_get(offs, 1), &e->end) || e->begin > e->end)
    return fail(NB_ERR_FORMAT, op, path,
                "tensor \"%s\": \"data_offsets\" must be [begin, end] with 0 <= begin <= end",
                name);
  uint64_t es = nb_dtype_size(e->dtype);
  if (numel > UINT64_MAX / es || e->end - e->begin != numel * es)
    return fail(NB_ERR_FORMAT, op, path,
                "tensor \"%s\": shape %s of %s needs %llu bytes but data_offsets [%llu, %llu] "
                "hold %llu",
                name, nb__nn_dims(e->ndim, e->shape), dts,
                numel > UINT64_MAX / es ? 0ULL : (unsigned long long)(numel * es),
                (unsigned long long)e->begin, (unsigned long long)e->end,
                (unsigned long long)(e->end - e->begin));
  return NB_OK;
}

static int cmp_offsets(const void *pa, const void *pb) {
  const entry *a = *(const entry *const *)pa, *b = *(const entry *const *)pb;
  if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
  return a->end < b->end ? -1 : a->end > b->end;
}

/* The tensors must tile [0, data_size) exactly, as the reference reader
 * requires: sorted by offset, each starts where the previous one ended. */
static nb_status check_tiling(const char *op, const char *path, entry *entries, size_t n,
                              uint64_t data_size) {
  for (size_t i = 0; i < n; i++)
    if (entries[i].end > data_size)
      return fail(NB_ERR_FORMAT, op, path,
                  "tensor \"%s\": data_offsets [%llu, %llu] run past the end of the data section "
                  "(%llu bytes; is the file truncated?)",
                  entries[i].name, (unsigned long long)entries[i].begin,
                  (unsigned long long)entries[i].end, (unsigned long long)data_size);
  const entry **order = malloc((n ? n : 1) * sizeof *order);
  if (!order) return fail(NB_ERR_MEMORY, op, path, "out of memory sorting %zu entries", n);
  for (size_t i = 0; i < n; i++) order[i] = &entries[i];
  qsort(order, n, sizeof *order, cmp_offsets);
  nb_status st = NB_OK;
  uint64_t pos = 0;
  for (size_t i = 0; i < n && st == NB_OK; i++) {
    const entry *e = order[i];
    if (e->begin < pos)
      st = fail(NB_ERR_FORMAT, op, path,
                "tensors \"%s\" [%llu, %llu) and \"%s\" [%llu, %llu) overlap", order[i - 1]->name,
                (unsigned long long)order[i - 1]->begin, (unsigned long long)order[i - 1]->end,
                e->name, (unsigned long long)e->begin, (unsigned long long)e->end);
    else if (e->begin > pos)
      st = fail(NB_ERR_FORMAT, op, path,
                "bytes [%llu, %llu) of the data section belong to no tensor (before \"%s\")",
                (unsigned long long)pos, (unsigned long long)e->begin, e->name);
    pos = e->end;
  }
  free(order);
  if (st == NB_OK && pos != data_size)
    st = fail(NB_ERR_FORMAT, op, path,
              "the data section has %llu bytes but the tensors end at byte %llu",
              (unsigned long long)data_size, (unsigned long long)pos);
  return st;
}

/* Parse and validate the JSON header: entries[0..*n) in header order. */
static nb_status parse_header(const char *op, const char *path, const char *text, size_t len,
                              uint64_t data_size, json_t **root_out, entry **entries_out,
                              size_t *n_out) {
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return fail(NB_ERR_FORMAT, op, path, "the header is not valid JSON: %s (line %d, column %d)",
                jerr.text, jerr.line, jerr.column);
  *root_out = root;
  if (!json_is_object(root))
    return fail(NB_ERR_FORMAT, op, path, "the header is not a JSON object");
  size_t n = json_object_size(root);
  json_t *meta = json_object_get(root, ST_METADATA);
  if (meta) {
    n--;
    const char *key;
    json_t *value;
    if (!json_is_object(meta))
      return fail(NB_ERR_FORMAT, op, path, "\"" ST_METADATA "\" is not a JSON object");
    json_object_foreach(meta, key, value) {
      if (!json_is_string(value))
        return fail(NB_ERR_FORMAT, op, path, "\"" ST_METADATA "\" entry \"%s\" is not a string",
                    key);
    }
  }
  entry *entries = calloc(n ? n : 1, sizeof *entries);
  if (!entries) return fail(NB_ERR_MEMORY, op, path, "out of memory for %zu entries", n);
  *entries_out = entries;
  size_t i = 0;
  const char *key;
  json_t *value;
  json_object_foreach(root, key, value) {
    if (value == meta) continue;
    nb_status st = parse_entry(op, path, key, value, &entries[i++]);
    if (st != NB_OK) return st;
  }
  *n_out = n;
  return check_tiling(op, path, entries, n, data_size);
}

/* The result list: one block holding the tensor pointers, the name pointers
 * and the names (nb_named_tensors_free frees it through .tensors). */
static nb_status make_list(const char *op, const char *path, const entry *entries, size_t n,
                           nb_named_tensors *out) {
  if (n > INT32_MAX) return fail(NB_ERR_FORMAT, op, path, "too many tensors (%zu)", n);
  size_t text = 0;
  for (size_t i = 0; i < n; i++) text += strlen(entries[i].name) + 1;
  if (n == 0) return NB_OK;
  size_t ptrs = n * (sizeof(nb_tensor *) + sizeof(char *));
  void *block = calloc(1, ptrs + text);
  if (!block) return fail(NB_ERR_MEMORY, op, path, "out of memory for %zu names", n);
  nb_tensor **tensors = block;
  const char **names = (const char **)(tensors + n);
  char *p = (char *)(names + n);
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(entries[i].name) + 1;
    memcpy(p, entries[i].name, len);
    names[i] = p;
    p += len;
  }
  *out = (nb_named_tensors){.n = (int)n, .names = names, .tensors = tensors};
  return NB_OK;
}

/* Allocate and read every tensor into out (made by make_list). */
static nb_status read_tensors(const char *op, const char *path, int fd, uint64_t data_start,
                              const entry *entries, nb_named_tensors *out) {
  nb_tensor **tensors = (nb_tensor **)out->tensors;
  for (int i = 0; i < out->n; i++) {
    const entry *e = &entries[i];
    nb_tensor *t = nb_keep(nb_empty(e->dtype, e->ndim, e->shape));
    if (!t) {
      nb__nn_prefix_error(op);
      return nb_last_status();
    }
    tensors[i] = t;
    size_t bytes = (size_t)(e->end - e->begin);
    if (bytes == 0) continue;
    if (!read_at(fd, nb_data(t), bytes, data_start + e->begin))
      return fail(NB_ERR_IO, op, path, "reading tensor \"%s\" failed: %s", e->name,
                  errno ? strerror(errno) : "the file ended early (changed while reading?)");
    size_t es = nb_dtype_size(e->dtype), count = bytes / es;
    if (ST_SWAP) swap_elements(nb_data(t), es, count);
    if (e->dtype == NB_DTYPE_BOOL) { /* nabla's bools are 0 or 1 */
      unsigned char *b = nb_data(t);
      for (size_t k = 0; k < count; k++) b[k] = b[k] != 0;
    }
  }
  return NB_OK;
}

void nb_named_tensors_free(nb_named_tensors *list) {
  if (!list) return;
  for (int i = 0; i < list->n; i++) nb_free(list->tensors[i]);
  free((void *)list->tensors);
  *list = (nb_named_tensors){0};
}

nb_status nb_safetensors_load(const char *path, nb_named_tensors *out) {
  static const char op[] = "safetensors_load";
  if (!out) return nb_set_error(NB_ERR_ARG, "%s: the output list is NULL", op);
  *out = (nb_named_tensors){0};
  if (!path) return nb_set_error(NB_ERR_ARG, "%s: the path is NULL", op);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(NB_ERR_IO, op, path, "cannot open: %s", strerror(errno));
  struct stat sb;
  nb_status st = NB_OK;
  char *text = NULL;
  json_t *root = NULL;
  entry *entries = NULL;
  size_t n = 0;
  unsigned char len8[8];
  uint64_t hlen = 0, size = 0;
  if (fstat(fd, &sb) != 0)
    st = fail(NB_ERR_IO, op, path, "cannot stat: %s", strerror(errno));
  else if (!S_ISREG(sb.st_mode))
    st = fail(NB_ERR_IO, op, path, "not a regular file");
  else if ((size = (uint64_t)sb.st_size) < 8)
    st = fail(NB_ERR_FORMAT, op, path,
              "the file has %llu bytes, fewer than the 8-byte header length",
              (unsigned long long)size);
  else if (!read_at(fd, len8, 8, 0))
    st = fail(NB_ERR_IO, op, path, "cannot read: %s", errno ? strerror(errno) : "short read");
  if (st == NB_OK) {
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | len8[i];
    if (hlen == 0)
      st = fail(NB_ERR_FORMAT, op, path, "header length 0 (not a safetensors file?)");
    else if (hlen > size - 8)
      st = fail(NB_ERR_FORMAT, op, path,
                "header length %llu exceeds the %llu bytes that follow it (truncated, or not a "
                "safetensors file?)",
                (unsigned long long)hlen, (unsigned long long)(size - 8));
    else if (hlen > ST_MAX_HEADER)
      st = fail(NB_ERR_FORMAT, op, path, "header length %llu exceeds the limit of %llu bytes",
                (unsigned long long)hlen, (unsigned long long)ST_MAX_HEADER);
  }
  if (st == NB_OK && !(text = malloc((size_t)hlen)))
    st = fail(NB_ERR_MEMORY, op, path, "out of memory for a %llu-byte header",
              (unsigned long long)hlen);
  if (st == NB_OK && !read_at(fd, text, (size_t)hlen, 8))
    st = fail(NB_ERR_IO, op, path, "cannot read the header: %s",
              errno ? strerror(errno) : "short read");
  if (st == NB_OK)
    st = parse_header(op, path, text, (size_t)hlen, size - 8 - hlen, &root, &entries, &n);
  if (st == NB_OK) st = make_list(op, path, entries, n, out);
  if (st == NB_OK) st = read_tensors(op, path, fd, 8 + hlen, entries, out);
  if (st != NB_OK) nb_named_tensors_free(out);
  json_decref(root);
  free(entries);
  free(text);
  close(fd);
  return st;
}

/* ---- writing ------------------------------------------------------------------ */

/* Write all n bytes; false with errno set. */
static bool write_all(int fd, const void *buf, size_t n) {
  const unsigned char *p = buf;
  while (n > 0) {
    ssize_t put = write(fd, p, n);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) {
      if (put == 0) errno = EIO;
      return false;
    }
    p += put;
    n -= (size_t)put;
  }
  return true;
}

/* Check the list and build the padded header (length-prefixed): a malloc'd
 * buffer of *size bytes. */
static nb_status build_header(const char *op, const char *path, nb_named_tensors list,
                              unsigned char **buf, size_t *size) {
  if (list.n < 0 || (list.n > 0 && (!list.names || !list.tensors)))
    return fail(NB_ERR_ARG, op, path, "bad tensor list (%d entries)", list.n);
  json_t *root = json_object();
  json_t *meta = json_pack("{s:s}", "format", "pt");
  if (!root || !meta || json_object_set_new(root, ST_METADATA, meta) != 0) {
    json_decref(root);
    return fail(NB_ERR_MEMORY, op, path, "out of memory building the header");
  }
  nb_status st = NB_OK;
  uint64_t pos = 0;
  for (int i = 0; i < list.n && st == NB_OK; i++) {
    const char *name = list.names[i];
    nb_tensor *t = list.tensors[i];
    if (!name) {
      st = fail(NB_ERR_ARG, op, path, "tensor %d has a NULL name", i);
      break;
    }
    if (!t) {
      if (nb_last_status() == NB_OK) fail(NB_ERR_NULL, op, path, "tensor \"%s\" is NULL", name);
      st = NB_ERR_NULL;
      break;
    }
    if (json_object_get(root, name)) {
      st = fail(NB_ERR_ARG, op, path, "the name \"%s\" is %s", name,
                strcmp(name, ST_METADATA) == 0 ? "reserved" : "used twice");
      break;
    }
    uint64_t bytes, end;
    if (__builtin_mul_overflow((uint64_t)nb_numel(t), (uint64_t)nb_dtype_size(nb_dtype_of(t)),
                               &bytes) ||
        __builtin_add_overflow(pos, bytes, &end) || end > INT64_MAX) {
      st = fail(NB_ERR_MEMORY, op, path, "tensor \"%s\" %s: the file size overflows", name,
                nb__nn_shp(t));
      break;
    }
    json_t *shape = json_array();
    for (int d = 0; shape && d < nb_ndim(t); d++)
      if (json_array_append_new(shape, json_integer(nb_shape(t)[d])) != 0) {
        json_decref(shape);
        shape = NULL;
      }
    json_t *e = shape ? json_pack("{s:s, s:o, s:[I, I]}", "dtype", st_dtypes[nb_dtype_of(t)].name,
                                  "shape", shape, "data_offsets", (json_int_t)pos, (json_int_t)end)
                      : NULL;
    if (!e)
      st = fail(NB_ERR_MEMORY, op, path, "out of memory building the header");
    else if (json_object_set_new(root, name, e) != 0)
      st = fail(NB_ERR_ARG, op, path, "tensor name \"%s\" is not valid UTF-8", name);
    pos = end;
  }
  char *text = st == NB_OK ? json_dumps(root, JSON_COMPACT) : NULL;
  json_decref(root);
  if (st == NB_OK && !text) st = fail(NB_ERR_MEMORY, op, path, "out of memory writing the header");
  if (st != NB_OK) {
    free(text);
    return st;
  }
  /* Pad with spaces so the data starts 8-byte aligned, as the reference
   * writer does. */
  size_t len = strlen(text), padded = (len + 7) / 8 * 8;
  *buf = malloc(8 + padded);
  if (!*buf) {
    free(text);
    return fail(NB_ERR_MEMORY, op, path, "out of memory for a %zu-byte header", padded);
  }
  for (int i = 0; i < 8; i++) (*buf)[i] = (unsigned char)((uint64_t)padded >> (8 * i));
  memcpy(*buf + 8, text, len);
  memset(*buf + 8 + len, ' ', padded - len);
  *size = 8 + padded;
  free(text);
  return NB_OK;
}

/* Write t's elements in row-major order, little-endian. On failure returns
 * the status: NB_ERR_IO leaves errno describing the write error. */
static nb_status write_tensor(int fd, nb_tensor *t) {
  size_t es = nb_dtype_size(nb_dtype_of(t)), n = (size_t)nb_numel(t);
  if (n == 0) return NB_OK;
  nb_tensor *c = nbk_contiguous(t); /* a view when t is contiguous already */
  if (!c) return nb_last_status();
  bool ok = true;
  if (!ST_SWAP) {
    ok = write_all(fd, nb_data(c), n * es);
  } else {
    unsigned char chunk[1 << 14];
    const unsigned char *src = nb_data(c);
    for (size_t done = 0, step = sizeof chunk / es; done < n && ok; done += step) {
      size_t k = n - done < step ? n - done : step;
      memcpy(chunk, src + done * es, k * es);
      swap_elements(chunk, es, k);
      ok = write_all(fd, chunk, k * es);
    }
  }
  int saved = errno;
  nb_free(c);
  errno = saved;
  return ok ? NB_OK : NB_ERR_IO;
}

/* Create "<path>.tmp.<pid>" (or with a ".<k>" suffix if taken) exclusively. */
static int open_temp(const char *path, char **tmp_out) {
  size_t size = strlen(path) + 64;
  char *tmp = malloc(size);
  if (!tmp) {
    errno = ENOMEM;
    return -1;
  }
  int fd = -1;
  for (int k = 0; k < 100; k++) {
    if (k == 0)
      snprintf(tmp, size, "%s.tmp.%ld", path, (long)getpid());
    else
      snprintf(tmp, size, "%s.tmp.%ld.%d", path, (long)getpid(), k);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EEXIST) break;
  }
  if (fd < 0) {
    int saved = errno;
    free(tmp);
    errno = saved;
    return -1;
  }
  *tmp_out = tmp;
  return fd;
}

/* Make the rename durable (best effort: the file itself is complete). */
static void sync_parent_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
  if (!dir) return;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  free(dir);
}

nb_status nb_safetensors_save(const char *path, nb_named_tensors tensors) {
  static const char op[] = "safetensors_save";
  if (!path || !*path) return nb_set_error(NB_ERR_ARG, "%s: the path is NULL or empty", op);
  unsigned char *header = NULL;
  size_t hsize = 0;
  nb_status st = build_header(op, path, tensors, &header, &hsize);
  if (st != NB_OK) return st;
  char *tmp = NULL;
  int fd = open_temp(path, &tmp);
  if (fd < 0) {
    free(header);
    return fail(NB_ERR_IO, op, path, "cannot create a temporary file beside it: %s",
                strerror(errno));
  }
  const char *step = "writing";
  if (!write_all(fd, header, hsize)) st = NB_ERR_IO;
  for (int i = 0; i < tensors.n && st == NB_OK; i++) st = write_tensor(fd, tensors.tensors[i]);
  if (st == NB_OK && fsync(fd) != 0) {
    st = NB_ERR_IO;
    step = "syncing";
  }
  int err = errno;
  if (close(fd) != 0 && st == NB_OK) {
    st = NB_ERR_IO;
    step = "closing";
    err = errno;
  }
  if (st == NB_OK && rename(tmp, path) != 0) {
    st = NB_ERR_IO;
    step = "renaming";
    err = errno;
  }
  if (st == NB_ERR_IO)
    fail(NB_ERR_IO, op, path,
         "%s the temporary file \"%s\" failed: %s (the previous file is "
         "untouched)",
         step, tmp, strerror(err));
  else if (st != NB_OK)
    nb__nn_prefix_error(op);
  if (st != NB_OK)
    unlink(tmp);
  else
    sync_parent_dir(path);
  free(tmp);
  free(header);
  return st;
}
