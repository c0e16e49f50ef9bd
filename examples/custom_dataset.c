/* examples/custom_dataset.c - your own dataset in C, fed through the DataLoader.
 *
 * The dataset generates its samples on demand: noisy points on two
 * interleaved spirals, features (x, y) float32 and the spiral (0 or 1) as an
 * int64 class. It is three callbacks over a context struct: len, get (write
 * sample i into the tensors the loader hands over) and an optional free.
 *
 * get runs on several threads at once, so it keeps no shared mutable state:
 * each sample's noise comes from a hash of (seed, index), which also makes
 * sample i the same every time it is asked for.
 */
#include "nabla.h"

#include <math.h>
#include <stdio.h>

#define PI 3.14159265358979323846

typedef struct spirals {
  int64_t n;    /* samples */
  double noise; /* standard deviation of the jitter */
  uint64_t seed;
} spirals;

/* A uniform in (0, 1) from a 64-bit hash of (seed, i, k). */
static double hash_uniform(uint64_t seed, int64_t i, int k) {
  uint64_t z = seed + (uint64_t)i * 0x9E3779B97F4A7C15ull + (uint64_t)k * 0xD1B54A32D192ED03ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static int64_t spirals_len(void *ctx) { return ((spirals *)ctx)->n; }

static nb_status spirals_get(void *ctx, int64_t i, nb_tensor *features, nb_tensor *target) {
  const spirals *s = ctx;
  int64_t cls = i % 2;
  double t = 0.25 + 3.0 * PI * (double)(i / 2) / (double)(s->n / 2); /* angle along the arm */
  double r = t / (3.0 * PI);                                         /* radius grows with it */
  double angle = t + PI * (double)cls;                               /* arm 1 is arm 0 turned */
  /* Box-Muller jitter from two hashed uniforms. */
  double u1 = hash_uniform(s->seed, i, 0), u2 = hash_uniform(s->seed, i, 1);
  double g = sqrt(-2 * log(u1)), jx = g * cos(2 * PI * u2), jy = g * sin(2 * PI * u2);
  float *xy = nb_data(features); /* a contiguous [2] float32 row of the batch */
  xy[0] = (float)(r * cos(angle) + s->noise * jx);
  xy[1] = (float)(r * sin(angle) + s->noise * jy);
  *(int64_t *)nb_data(target) = cls;
  return NB_OK;
}

int main(void) {
  spirals ctx = {.n = 1000, .noise = 0.02, .seed = 42};
  nb_dataset_ops ops = {.len = spirals_len,
                        .get = spirals_get}; /* ctx lives on the stack: no free */
  nb_field_spec point = {NB_DTYPE_FLOAT32, 1, {2}}, label = {NB_DTYPE_INT64, 0, {0}};
  nb_dataset *ds = nb_dataset_new(&ops, &ctx, &point, &label);
  nb_loader *loader =
      ds ? nb_loader_new(ds, &(nb_loader_opts){.batch_size = 4, .shuffle = true, .seed = 1}) : NULL;
  if (!loader) {
    fprintf(stderr, "custom_dataset: %s\n", nb_errmsg());
    return 1;
  }
  printf("%lld samples, %lld batches of 4 per epoch\n", (long long)nb_dataset_len(ds),
         (long long)nb_loader_num_batches(loader));

  for (int epoch = 0; epoch < 2; epoch++) {
    nb_batch batch;
    int64_t per_class[2] = {0, 0};
    while (nb_loader_next(loader, &batch)) {
      if (batch.index < 2) { /* show the first two batches of each epoch */
        char xs[32], ys[32];
        printf("epoch %d batch %lld: x %s y %s\n", epoch, (long long)batch.index,
               nb_shape_str(batch.x, xs, sizeof xs), nb_shape_str(batch.y, ys, sizeof ys));
        nb_print(batch.x);
        nb_print(batch.y);
      }
      const int64_t *y = nb_data(batch.y);
      for (int64_t r = 0; r < batch.size; r++) per_class[y[r]]++;
    }
    if (nb_loader_status(loader) != NB_OK) {
      fprintf(stderr, "custom_dataset: %s\n", nb_errmsg());
      return 1;
    }
    printf("epoch %d done: %lld points of spiral 0, %lld of spiral 1; %lld batches so far\n", epoch,
           (long long)per_class[0], (long long)per_class[1],
           (long long)nb_loader_iteration(loader));
  }
  nb_loader_free(loader);
  nb_dataset_free(ds);
  return 0;
}
