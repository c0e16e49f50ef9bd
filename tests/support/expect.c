/* tests/support/expect.c - expected errors (the nbt_expect_* macros of nbtest.h).
 *
 * Owns nbt_expect_error_at: the one check that a call failed with a given
 * status and a message naming what the test expects.
 */
#include "support/nbtest.h"

#include <string.h>

void nbt_expect_error_at(const char *file, int line, const char *what, bool failed, nb_status code,
                         const char *const *needles) {
  if (!failed)
    nbt_fail_at(file, line, "%s: did not fail with %s (last status %s, message \"%s\")", what,
                code == NBT_ANY_STATUS ? "an error" : nb_status_str(code),
                nb_status_str(nb_last_status()), nb_errmsg());
  if (code != NBT_ANY_STATUS && nb_last_status() != code)
    nbt_fail_at(file, line, "%s: last status %s, expected %s (message: \"%s\")", what,
                nb_status_str(nb_last_status()), nb_status_str(code), nb_errmsg());
  for (; *needles; needles++)
    if (!strstr(nb_errmsg(), *needles))
      nbt_fail_at(file, line, "%s: error message \"%s\" does not contain \"%s\"", what, nb_errmsg(),
                  *needles);
}
