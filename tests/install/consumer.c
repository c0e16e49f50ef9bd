/* tests/install/consumer.c - a program built against an INSTALLED nabla, the
 * way a user would build it (pkg-config, or CMake's find_package). Checks that
 * the umbrella header and the shared library work from outside the source
 * tree: sum(ones(2, 3)) must be 6. */
#include <nabla.h>

#include <stdio.h>

int main(void) {
  nb_tensor *x = nb_ones(NB_DTYPE_FLOAT32, NB_SHAPE(2, 3));
  nb_tensor *s = nbk_sum(x, NB_ALL_DIMS, false);
  if (!s) {
    fprintf(stderr, "consumer: nbk_sum(nb_ones([2, 3])) failed: %s\n", nb_errmsg());
    nb_free(x);
    return 1;
  }
  double value = nb_item(s);
  nb_free(s);
  nb_free(x);
  if (!(value > 5.999 && value < 6.001)) { /* also false for NaN */
    fprintf(stderr, "consumer: sum of ones([2, 3]) is %g, expected 6\n", value);
    return 1;
  }
  printf("consumer ok\n");
  return 0;
}
