/* data/idx.c - the IDX reader (the MNIST file format) and Fashion-MNIST.
 *
 * Owns: nb_idx_load (raw or gzip'd files through zlib's gzread, which reads
 * both; header validation; big-endian decoding; conversion to any dtype in
 * fixed-size chunks, so only the result is held whole) and nb_fashion_mnist.
 *
 * An IDX file is a 4-byte magic (0, 0, type code, ndim), ndim big-endian
 * uint32 sizes, then the elements, big-endian, row-major.
 */
#include "data/data.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- element types --------------------------------------------------------- */

enum {
  IDX_U8 = 0x08,
  IDX_I8 = 0x09,
  IDX_I16 = 0x0B,
  IDX_I32 = 0x0C,
  IDX_F32 = 0x0D,
  IDX_F64 = 0x0E
};

/* Bytes per element of a type code; 0 for an unknown code. */
static int idx_elem_size(int code) {
  switch (code) {
  case IDX_U8:
  case IDX_I8: return 1;
  case IDX_I16: return 2;
  case IDX_I32:
  case IDX_F32: return 4;
  case IDX_F64: return 8;
  default: return 0;
  }
}

static uint64_t load_be(const unsigned char *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v = v << 8 | p[i];
  return v;
}

/* Decode n big-endian elements of type `code` into doubles (exact for every
 * IDX integer type). One loop per type, each simple enough to vectorize. */
#define DECODE_LOOP(EXPR)                                                                          \
  for (int64_t i = 0; i < n; i++) {                                                                \
    const unsigned char *p = src + i * esize;                                                      \
    dst[i] = (EXPR);                                                                               \
  }
static void decode(int code, const unsigned char *src, double *dst, int64_t n) {
  const int64_t esize = idx_elem_size(code);
  switch (code) {
  case IDX_U8: DECODE_LOOP((double)p[0]) break;
  case IDX_I8: DECODE_LOOP((double)(int8_t)p[0]) break;
  case IDX_I16: DECODE_LOOP((double)(int16_t)(uint16_t)load_be(p, 2)) break;
  case IDX_I32: DECODE_LOOP((double)(int32_t)(uint32_t)load_be(p, 4)) break;
  case IDX_F32:
    for (int64_t i = 0; i < n; i++) {
      uint32_t bits = (uint32_t)load_be(src + i * 4, 4);
      float f;
      memcpy(&f, &bits, sizeof f);
      dst[i] = f;
    }
    break;
  case IDX_F64:
    for (int64_t i = 0; i < n; i++) {
      uint64_t bits = load_be(src + i * 8, 8);
      memcpy(&dst[i], &bits, sizeof dst[i]);
    }
    break;
  }
}
#undef DECODE_LOOP

/* double -> int64 saturating (NaN -> 0), as nabla's dtype conversion does. */
static inline int64_t to_i64(double x) {
  return x != x                        ? 0
         : x >= 9.2233720368547758e18  ? INT64_MAX
         : x <= -9.2233720368547758e18 ? INT64_MIN
                                       : (int64_t)x;
}

/* Store n doubles as `dtype` at dst. */
static void store(nb_dtype dtype, void *dst, const double *src, int64_t n) {
  switch (dtype) {
  case NB_DTYPE_FLOAT32:
    for (int64_t i = 0; i < n; i++) ((float *)dst)[i] = (float)src[i];
    break;
  case NB_DTYPE_FLOAT64: memcpy(dst, src, (size_t)n * sizeof(double)); break;
  case NB_DTYPE_INT64:
    for (int64_t i = 0; i < n; i++) ((int64_t *)dst)[i] = to_i64(src[i]);
    break;
  case NB_DTYPE_BOOL:
    for (int64_t i = 0; i < n; i++) ((uint8_t *)dst)[i] = src[i] != 0;
    break;
  default: break;
  }
}

/* ---- reading ------------------------------------------------------------------- */

/* Read exactly `want` bytes unless the file ends or is corrupt: returns the
 * bytes read, or -1 (with the error recorded) for a read / gzip error. */
static int64_t read_full(gzFile f, const char *path, void *buf, int64_t want) {
  int64_t got = 0;
  while (got < want) {
    int64_t chunk = want - got < (1 << 30) ? want - got : (1 << 30);
    int r = gzread(f, (char *)buf + got, (unsigned)chunk);
    if (r < 0) {
      int errnum = 0;
      const char *msg = gzerror(f, &errnum);
      if (errnum == Z_ERRNO) {
        nb_set_error(NB_ERR_IO, "idx_load: %s: read error: %s", path, strerror(errno));
      } else {
        nb_set_error(NB_ERR_FORMAT, "idx_load: %s: corrupt gzip data: %s", path, msg);
      }
      return -1;
    }
    if (r == 0) break;
    got += r;
  }
  /* A gzip stream cut short reads as a short file plus Z_BUF_ERROR: the
   * caller reports it as truncation, with the byte counts. */
  return got;
}

/* Load `path` into a new tensor of `dtype`; *code_out receives the file's
 * element type code. */
static nb_tensor *idx_read(const char *path, nb_dtype dtype, int *code_out) {
  if (!path) return nb_set_error(NB_ERR_ARG, "idx_load: path is NULL"), NULL;
  if ((unsigned)dtype >= NB_DTYPE_COUNT)
    return nb_set_error(NB_ERR_DTYPE, "idx_load: %s: invalid dtype %d", path, (int)dtype), NULL;
  errno = 0;
  gzFile f = gzopen(path, "rb");
  if (!f)
    return nb_set_error(NB_ERR_IO, "idx_load: cannot open %s: %s", path,
                        errno ? strerror(errno) : "out of memory"),
           NULL;
  nb_tensor *out = NULL;
  unsigned char head[4 + 4 * NB_MAX_DIMS];
  double *conv = NULL;
  unsigned char *raw = NULL;

  int64_t got = read_full(f, path, head, 4);
  if (got < 0) goto done;
  if (got < 4) {
    nb_set_error(NB_ERR_FORMAT, "idx_load: %s: %lld bytes: too short for an IDX header", path,
                 (long long)got);
    goto done;
  }
  if (head[0] != 0 || head[1] != 0) {
    nb_set_error(
        NB_ERR_FORMAT,
        "idx_load: %s: bad magic 0x%02x%02x%02x%02x: an IDX file starts with two zero bytes", path,
        head[0], head[1], head[2], head[3]);
    goto done;
  }
  int code = head[2], ndim = head[3];
  int esize = idx_elem_size(code);
  if (!esize) {
    nb_set_error(NB_ERR_FORMAT,
                 "idx_load: %s: unknown element type code 0x%02x (expected 0x08, 0x09, 0x0B, 0x0C, "
                 "0x0D or 0x0E)",
                 path, code);
    goto done;
  }
  if (ndim < 1 || ndim > NB_MAX_DIMS) {
    nb_set_error(NB_ERR_FORMAT, "idx_load: %s: %d dimensions (expected 1 to %d)", path, ndim,
                 NB_MAX_DIMS);
    goto done;
  }
  got = read_full(f, path, head + 4, 4 * ndim);
  if (got < 0) goto done;
  if (got < 4 * ndim) {
    nb_set_error(NB_ERR_FORMAT,
                 "idx_load: %s: truncated header: expected %d bytes of sizes, got %lld", path,
                 4 * ndim, (long long)got);
    goto done;
  }
  int64_t shape[NB_MAX_DIMS], numel = 1, data_bytes;
  for (int i = 0; i < ndim; i++) {
    shape[i] = (int64_t)load_be(head + 4 + 4 * i, 4);
    if (__builtin_mul_overflow(numel, shape[i], &numel)) numel = INT64_MAX;
  }
  if (numel == INT64_MAX || __builtin_mul_overflow(numel, (int64_t)esize, &data_bytes)) {
    nb_set_error(NB_ERR_FORMAT, "idx_load: %s: sizes overflow (more than 2^63 bytes of data)",
                 path);
    goto done;
  }
  int64_t header_bytes = 4 + 4 * (int64_t)ndim;

  out = nb_empty(dtype, ndim, shape);
  if (!out) goto done;
  /* Decode in chunks: raw bytes -> doubles -> dtype, so memory beyond the
   * result stays at a few MiB whatever the file's size. */
  const int64_t chunk = 1 << 18; /* elements */
  raw = malloc((size_t)chunk * (size_t)esize);
  conv = malloc((size_t)chunk * sizeof(double));
  if (!raw || !conv) {
    nb_set_error(NB_ERR_MEMORY, "idx_load: %s: out of memory", path);
    goto fail;
  }
  char *dst = nb_data(out);
  size_t dsize = nb_dtype_size(dtype);
  for (int64_t done_el = 0; done_el < numel; done_el += chunk) {
    int64_t n = numel - done_el < chunk ? numel - done_el : chunk;
    got = read_full(f, path, raw, n * esize);
    if (got < 0) goto fail;
    if (got < n * esize) {
      int64_t have = done_el * esize + got;
      nb_set_error(NB_ERR_FORMAT,
                   "idx_load: %s: truncated: the header promises %lld bytes of data (%lld in all), "
                   "the file has %lld (%lld in all)%s",
                   path, (long long)data_bytes, (long long)(header_bytes + data_bytes),
                   (long long)have, (long long)(header_bytes + have),
                   gzdirect(f) ? "" : ", counted after decompression");
      goto fail;
    }
    decode(code, raw, conv, n);
    store(dtype, dst + (size_t)done_el * dsize, conv, n);
  }
  unsigned char extra[64];
  got = read_full(f, path, extra, sizeof extra);
  if (got < 0) goto fail;
  if (got > 0) {
    nb_set_error(NB_ERR_FORMAT,
                 "idx_load: %s: longer than its header says: %lld bytes of data expected, more "
                 "follow",
                 path, (long long)data_bytes);
    goto fail;
  }
  *code_out = code;
  goto done;
fail:
  nb_free(out);
  out = NULL;
done:
  free(raw);
  free(conv);
  gzclose(f);
  return out;
}

nb_tensor *nb_idx_load(const char *path, nb_dtype dtype) {
  int code;
  return idx_read(path, dtype, &code);
}

/* ---- Fashion-MNIST ------------------------------------------------------------------- */

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* Load dir/name(.gz) as a ubyte IDX file of `dtype`; prefers the .gz name
 * Debian ships, falls back to an uncompressed copy. */
static nb_tensor *fashion_file(const char *dir, const char *name, nb_dtype dtype) {
  char gz[4096], plain[4096];
  int n1 = snprintf(gz, sizeof gz, "%s/%s.gz", dir, name);
  int n2 = snprintf(plain, sizeof plain, "%s/%s", dir, name);
  if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof gz || (size_t)n2 >= sizeof plain)
    return nb_set_error(NB_ERR_ARG, "fashion_mnist: directory name too long: %s", dir), NULL;
  const char *path = gz;
  FILE *probe = fopen(gz, "rb");
  if (!probe) {
    probe = fopen(plain, "rb");
    path = plain;
  }
  if (!probe)
    return nb_set_error(NB_ERR_IO,
                        "fashion_mnist: cannot open %s: %s (install Debian's Fashion-MNIST with "
                        "`apt-get install dataset-fashion-mnist`)",
                        gz, strerror(errno)),
           NULL;
  fclose(probe);
  int code = 0;
  nb_tensor *t = idx_read(path, dtype, &code);
  if (t && code != IDX_U8) {
    nb_free(t);
    return nb_set_error(NB_ERR_FORMAT,
                        "fashion_mnist: %s: element type 0x%02x, expected 0x08 (ubyte)", path,
                        code),
           NULL;
  }
  return t;
}

nb_dataset *nb_fashion_mnist(const char *dir, bool train) {
  if (!dir) dir = FASHION_DIR;
  const char *prefix = train ? "train" : "t10k";
  char name[64];
  snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
  nb_tensor *images = fashion_file(dir, name, NB_DTYPE_FLOAT32);
  if (!images) return NULL;
  snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
  nb_tensor *labels = fashion_file(dir, name, NB_DTYPE_INT64);
  nb_tensor *nchw = NULL;
  nb_dataset *ds = NULL;
  if (!labels) goto done;
  const int64_t *is = nb_shape(images), *ls = nb_shape(labels);
  if (nb_ndim(images) != 3 || is[1] != 28 || is[2] != 28 || nb_ndim(labels) != 1 ||
      ls[0] != is[0]) {
    char a[64], b[64];
    nb_set_error(NB_ERR_FORMAT,
                 "fashion_mnist: %s: images %s and labels %s; expected [N, 28, 28] and [N]", dir,
                 nb_shape_str(images, a, sizeof a), nb_shape_str(labels, b, sizeof b));
    goto done;
  }
  const int64_t *lab = nb_data(labels);
  for (int64_t i = 0; i < ls[0]; i++)
    if (lab[i] < 0 || lab[i] > 9) {
      nb_set_error(NB_ERR_FORMAT, "fashion_mnist: %s: label %lld of sample %lld is not in 0..9",
                   dir, (long long)lab[i], (long long)i);
      goto done;
    }
  /* ubyte 0..255 -> [0, 1] in place (x / 255 as torchvision's ToTensor), then
   * NCHW with one channel (a view). */
  nb_tensor *scale = nb_scalar(NB_DTYPE_FLOAT32, 255.0);
  nb_status st = scale ? nb_div_(images, scale) : nb_last_status();
  nb_free(scale);
  if (st != NB_OK) goto done;
  nchw = nbk_reshape(images, 4, (const int64_t[]){is[0], 1, 28, 28});
  if (nchw) ds = nb_tensor_dataset_new(nchw, labels);
done:
  nb_free(nchw);
  nb_free(labels);
  nb_free(images);
  return ds;
}
