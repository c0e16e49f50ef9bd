/* tests/support/scratch.c - scratch directories and whole-file reads for tests.
 *
 * Owns the per-test temporary directory (nbt_scratch_*: made by a suite's
 * .init, removed with everything in it by its .fini) and nbt_read_file.
 */
#include "support/nbtest.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[64];

const char *nbt_scratch_make(void) {
  snprintf(scratch, sizeof scratch, "/tmp/nb_test_XXXXXX");
  if (!mkdtemp(scratch)) {
    int err = errno;
    scratch[0] = '\0';
    nbt_fail_at(__FILE__, __LINE__, "mkdtemp: %s", strerror(err));
  }
  return scratch;
}

const char *nbt_scratch_dir(void) { return scratch; }

/* Remove path and, for a directory, everything below it (links are not followed). */
static void remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return;
  if (!S_ISDIR(st.st_mode)) {
    unlink(path);
    return;
  }
  chmod(path, 0700); /* a test may have made it read-only */
  DIR *d = opendir(path);
  if (d) {
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      char sub[512];
      snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
      remove_tree(sub);
    }
    closedir(d);
  }
  rmdir(path);
}

void nbt_scratch_remove(void) {
  if (!scratch[0]) return;
  remove_tree(scratch);
  scratch[0] = '\0';
}

void nbt_scratch_setup(void) {
  nbt_scratch_make();
  nbt_leak_setup();
}

void nbt_scratch_teardown(void) {
  nbt_scratch_remove();
  nbt_leak_teardown();
}

const char *nbt_scratch_path(const char *name) {
  static char bufs[4][512];
  static int next;
  char *b = bufs[next++ % 4];
  snprintf(b, sizeof bufs[0], "%s/%s", scratch, name);
  return b;
}

unsigned char *nbt_read_file_at(const char *file, int line, const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) nbt_fail_at(file, line, "open %s: %s", path, strerror(errno));
  long n = -1;
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    nbt_fail_at(file, line, "cannot seek in %s", path);
  }
  unsigned char *buf = malloc((size_t)n + 1);
  if (!buf) {
    fclose(f);
    nbt_fail_at(file, line, "no memory for the %ld bytes of %s", n, path);
  }
  size_t got = fread(buf, 1, (size_t)n, f);
  fclose(f);
  if (got != (size_t)n) {
    free(buf);
    nbt_fail_at(file, line, "read %zu of the %ld bytes of %s", got, n, path);
  }
  buf[n] = '\0';
  if (size) *size = (size_t)n;
  return buf;
}
