/* bench/bench_fmnist.h - one timed Fashion-MNIST training epoch + test accuracy.
 *
 * Owns: the training loop shared by bench_mlp.c and bench_cnn.c, the twin of
 * torch_ref.py's train_epoch/evaluate: cross-entropy, Adam lr 1e-3, batches of
 * 64 from the DataLoader (shuffled; the last partial batch dropped as
 * torch_ref.py's loop does: 937 steps), each batch viewed as the model's input
 * shape; one epoch timed (the loader included, as torch_ref.py times its
 * randperm and indexing), then accuracy on the 10000 test images (no grad,
 * batches of 1000).
 *
 * Steady state: allocs_after_warmup is the number of calls nabla's allocator
 * made to the system allocator during the second half of the epoch (0 when
 * the caching allocator serves every step).
 *
 * Prints one line:
 *   <name> nabla_s=<epoch s> test_acc=<acc> allocs_after_warmup=<n> peak_rss_mb=<MiB>
 */
#ifndef NABLA_BENCH_FMNIST_H
#define NABLA_BENCH_FMNIST_H

#include "bench/bench_util.h"

#define BENCH_FMNIST_BATCH 64

/* Accuracy of net on the test set, or -1 with an error. */
static inline double bench_fmnist_test(nb_module *net, int ndim, const int64_t *shape) {
  nb_dataset *ds = nb_fashion_mnist(NULL, false);
  nb_loader *l = ds ? nb_loader_new(ds, &(nb_loader_opts){.batch_size = 1000}) : NULL;
  int64_t hits = 0, seen = 0;
  nb_batch b;
  nb_no_grad_begin();
  while (l && nb_loader_next(l, &b)) {
    nb_scope_begin();
    nb_tensor *logits = nb_forward(net, nbk_view(b.x, ndim, shape));
    double h = nb_item(nbk_sum(nb_eq(nb_argmax(logits, 1, false), b.y), NB_ALL_DIMS, false));
    nb_scope_end();
    if (h != h) break;
    hits += (int64_t)h;
    seen += b.size;
  }
  nb_no_grad_end();
  bool ok = l && nb_loader_status(l) == NB_OK && seen == nb_dataset_len(ds);
  nb_loader_free(l);
  nb_dataset_free(ds);
  return ok ? (double)hits / (double)seen : -1;
}

/* Train net (taken over and freed) for one epoch, test it, print the line.
 * shape: the model's input shape with -1 for the batch dim. Returns main's
 * exit code. */
static inline int bench_fmnist_run(const char *prog, const char *name, nb_module *net, int ndim,
                                   const int64_t *shape) {
  if (!net) return bench_fail(prog, "model");
  nb_dataset *train = nb_fashion_mnist(NULL, true);
  nb_loader *loader = train
                          ? nb_loader_new(train, &(nb_loader_opts){.batch_size = BENCH_FMNIST_BATCH,
                                                                   .shuffle = true,
                                                                   .drop_last = true})
                          : NULL;
  nb_named_tensors params = nb_module_parameters(net);
  nb_optimizer *opt = nb_adam_new(params.tensors, params.n, &(nb_adam_opts){.lr = 1e-3});
  int rc = 0;
  if (!loader || !opt) {
    rc = bench_fail(prog, loader ? "optimizer" : "training data");
    goto done;
  }

  int64_t half = nb_loader_num_batches(loader) / 2, allocs_mid = 0;
  nb_batch b;
  double t0 = bench_now();
  while (nb_loader_next(loader, &b)) {
    if (b.index == half) allocs_mid = bench_system_allocs();
    nb_scope_begin();
    nb_optim_zero_grad(opt, true);
    nb_tensor *logits = nb_forward(net, nbk_view(b.x, ndim, shape));
    bool ok =
        nb_backward(nb_cross_entropy(logits, b.y, NULL)) == NB_OK && nb_optim_step(opt) == NB_OK;
    nb_scope_end();
    if (!ok) {
      rc = bench_fail(prog, "training step");
      goto done;
    }
  }
  double seconds = bench_now() - t0;
  int64_t allocs = bench_system_allocs() - allocs_mid;
  if (nb_loader_status(loader) != NB_OK) {
    rc = bench_fail(prog, "loader");
    goto done;
  }

  double acc = bench_fmnist_test(net, ndim, shape);
  if (acc < 0) {
    rc = bench_fail(prog, "test accuracy");
    goto done;
  }
  printf("%s nabla_s=%.3f test_acc=%.4f allocs_after_warmup=%lld peak_rss_mb=%.1f\n", name, seconds,
         acc, (long long)allocs, bench_peak_rss_mb());
done:
  nb_optim_free(opt);
  nb_module_free(net);
  nb_loader_free(loader);
  nb_dataset_free(train);
  return rc;
}

#endif /* NABLA_BENCH_FMNIST_H */
