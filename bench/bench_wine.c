/* bench/bench_wine.c - per-step overhead: full-batch training of a tiny MLP.
 *
 * Owns: the twin of bench/torch_ref.py's `wine` workload. The 178 wine samples
 * (datasets/wine.csv through nb_csv_load; class from "class_N") standardized
 * as (x - mean) / std over all rows (unbiased std, as torch's x.std(0)); a
 * Sequential 13 -> 32 -> ReLU -> 3, cross-entropy, SGD lr 0.1 momentum 0.9,
 * 2000 full-batch steps (zero_grad, forward, loss, backward, step). Only the
 * 2000 steps are timed; the final loss and the training accuracy after them
 * are printed to check that the model learned what PyTorch's does.
 *
 *   bench_wine [THREADS]     (default $NB_NUM_THREADS, else 2)
 *
 * After the training, the same program times the floor BLIS sets: the five
 * matrix products of one step (forward x W1^T and h W2^T, backward g W2,
 * g^T h and gh^T x) called straight through bli_sgemm_ex on one thread,
 * STEPS times, on buffers of the same shapes in the layouts nabla hands BLIS
 * (W1^T row-major, as linalg.c copies it; the others as views of row-major
 * tensors). nabla calls BLIS for every matrix product, so no step can take
 * less than blis_s / STEPS.
 *
 * Prints one line:
 *   wine nabla_s=<s for 2000 steps> loss=<final loss> train_acc=<accuracy>
 *     blis_s=<s for 2000 steps' five products, BLIS alone>
 */
#include "bench/bench_util.h"

#include <blis.h>

#define STEPS 2000
#define FEATURES 13
#define HIDDEN 32
#define CLASSES 3

static const char prog[] = "bench_wine";

/* The whole CSV as one batch: *x [178, 13] float32, *y [178] int64 (new refs). */
static nb_status load_wine(nb_tensor **x, nb_tensor **y) {
  nb_dataset *ds = nb_csv_load(NB_SOURCE_DIR "/datasets/wine.csv",
                               &(nb_csv_opts){.target_column = "class", .sorted_labels = true});
  if (!ds) return nb_last_status();
  nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){.batch_size = nb_dataset_len(ds)});
  nb_batch b;
  nb_status st = NB_OK;
  if (l && nb_loader_next(l, &b)) {
    *x = nb_retain(b.x);
    *y = nb_retain(b.y);
  } else {
    st = l ? nb_loader_status(l) : nb_last_status();
  }
  nb_loader_free(l);
  nb_dataset_free(ds);
  return st;
}

/* One product c = a @ b of row-major-or-not float buffers on one BLIS thread
 * (strides in elements). */
static void sgemm1(int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa, int64_t csa,
                   const float *b, int64_t rsb, int64_t csb, float *c) {
  float one = 1, zero = 0;
  rntm_t rntm = BLIS_RNTM_INITIALIZER;
  bli_rntm_set_num_threads(1, &rntm);
  bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &one, (float *)a, rsa, csa,
               (float *)b, rsb, csb, &zero, c, n, 1, NULL, &rntm);
}

/* Seconds for STEPS rounds of one step's five products through BLIS alone. */
static double blis_floor_seconds(int64_t rows) {
  enum { F = FEATURES, H = HIDDEN, C = CLASSES };
  float *buf = calloc((size_t)(rows * (2 * F + 4 * H + 2 * C) + 2 * F * H + 2 * H * C), 4);
  if (!buf) return -1;
  float *x = buf, *w1t = x + rows * F, *h = w1t + F * H, *w2 = h + rows * H, *logits = w2 + C * H;
  float *g = logits + rows * C, *gh = g + rows * C, *gw2 = gh + rows * H, *gw1 = gw2 + C * H;
  float *spare = gw1 + H * F;
  for (int64_t i = 0; i < rows * F; i++) x[i] = (float)(i % 7) * 0.25f - 0.75f;
  for (int64_t i = 0; i < F * H; i++) w1t[i] = (float)(i % 5) * 0.1f - 0.2f;
  for (int64_t i = 0; i < C * H; i++) w2[i] = (float)(i % 3) * 0.1f - 0.1f;
  for (int64_t i = 0; i < rows * C; i++) g[i] = (float)(i % 4) * 0.01f;
  double t0 = bench_now();
  for (int s = 0; s < STEPS; s++) {
    sgemm1(rows, H, F, x, F, 1, w1t, H, 1, h);           /* x @ W1^T (W1^T row-major) */
    sgemm1(rows, C, H, h, H, 1, w2, 1, H, logits);       /* h @ W2^T (a view of W2) */
    sgemm1(rows, H, C, g, C, 1, w2, H, 1, gh);           /* g @ W2 */
    sgemm1(C, H, rows, g, 1, C, h, H, 1, gw2);           /* g^T @ h */
    sgemm1(H, F, rows, gh, 1, H, x, F, 1, gw1);          /* gh^T @ x */
    spare[s % (rows * F)] = gw1[0] + gw2[0] + logits[0]; /* keep the results live */
  }
  double seconds = bench_now() - t0;
  free(buf);
  return seconds;
}

int main(int argc, char **argv) {
  if (bench_threads(prog, argc, argv) < 0) return 2;
  nb_manual_seed(0);
  nb_tensor *raw = NULL, *y = NULL;
  if (load_wine(&raw, &y) != NB_OK) return bench_fail(prog, "loading wine.csv");
  nb_tensor *mean = nbk_mean(raw, NB_DIMS(0), true);
  nb_tensor *std = nbk_std(raw, NB_DIMS(0), 1, true);
  nb_tensor *centered = nbk_sub(raw, mean);
  nb_tensor *x = nbk_div(centered, std);
  nb_free(centered);
  nb_free(std);
  nb_free(mean);
  nb_free(raw);
  if (!x) return bench_fail(prog, "standardizing");

  nb_module *net =
      nb_sequential_new((nb_module *[]){nb_linear_new(FEATURES, HIDDEN, NULL), nb_relu_new(),
                                        nb_linear_new(HIDDEN, CLASSES, NULL)},
                        3);
  if (!net) return bench_fail(prog, "model");
  nb_named_tensors params = nb_module_parameters(net);
  nb_optimizer *opt =
      nb_sgd_new(params.tensors, params.n, &(nb_sgd_opts){.lr = 0.1, .momentum = 0.9});
  if (!opt) return bench_fail(prog, "optimizer");

  nb_tensor *last_loss = NULL;
  double t0 = bench_now();
  for (int step = 0; step < STEPS; step++) {
    nb_scope_begin();
    nb_optim_zero_grad(opt, true);
    nb_tensor *loss = nb_cross_entropy(nb_forward(net, x), y, NULL);
    bool ok = nb_backward(loss) == NB_OK && nb_optim_step(opt) == NB_OK;
    if (ok && step == STEPS - 1) last_loss = nb_keep(loss);
    nb_scope_end();
    if (!ok) return bench_fail(prog, "training step");
  }
  double seconds = bench_now() - t0;

  nb_scope_begin();
  nb_no_grad_begin();
  nb_tensor *hits = nbk_to(nb_eq(nb_argmax(nb_forward(net, x), 1, false), y), NB_DTYPE_FLOAT32);
  double acc = nb_item(nbk_mean(hits, NB_ALL_DIMS, false));
  nb_no_grad_end();
  nb_scope_end();
  if (acc != acc) return bench_fail(prog, "accuracy");
  double blis_s = blis_floor_seconds(nb_shape(x)[0]);
  if (blis_s < 0) return bench_fail(prog, "BLIS floor buffers");
  printf("wine nabla_s=%.4f loss=%.4f train_acc=%.3f blis_s=%.4f\n", seconds, nb_item(last_loss),
         acc, blis_s);

  nb_free(last_loss);
  nb_optim_free(opt);
  nb_module_free(net);
  nb_free(x);
  nb_free(y);
  return 0;
}
