/* examples/houses.c - house-price regression: which features, which loss?
 *
 * Predicts MEDV (the median house value, in $1000s) in datasets/houses.csv
 * in two settings, from the number of rooms alone (RM) and from all 12
 * features, each trained once with L1 loss and once with MSE loss: four runs
 * of a small MLP (features -> 32 -> 1, ReLU) with Adam on shuffled
 * mini-batches from the DataLoader, the learning rate cosine-annealed over
 * the epochs. The CSV is split 80/20 with a seed (the same rows in both
 * settings) and the features are standardized with the training split's
 * statistics. Every few epochs a run prints its training
 * loss and its validation mean absolute error in $1000s; then a table
 * compares the four runs, and the last line is `final val_mae=<value>`, the
 * best all-features run's.
 *
 * Usage: houses [path/to/houses.csv] [epochs]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nabla.h"

#define HIDDEN 32
#define BATCH 16
#define SEED 7
#define PRINT_EVERY 10

/* Stop with nabla's error message when a call failed. */
static void check(bool ok, const char *what) {
  if (ok) return;
  fprintf(stderr, "houses: %s: %s\n", what, nb_errmsg());
  exit(1);
}

/* Loaders over the standardized training and validation splits of the CSV,
 * with the given feature columns (NULL = all but the target); returns the
 * number of features. The loaders hold what they need, so the datasets are
 * released here. */
static int64_t load(const char *path, const char *const *columns, int ncolumns, nb_loader **train,
                    nb_loader **val) {
  nb_dataset *all = nb_csv_load(path, &(nb_csv_opts){.target_column = "MEDV",
                                                     .target_kind = NB_CSV_TARGET_REGRESSION,
                                                     .feature_columns = columns,
                                                     .nfeatures = ncolumns});
  check(all != NULL, "loading the data");
  nb_dataset *split[2];
  check(nb_random_split(all, (const double[]){0.8, 0.2}, 2, SEED, split) == NB_OK, "splitting");
  nb_transform *standardize = nb_standardize_fit(split[0]);
  check(standardize != NULL, "fitting the standardization");
  nb_dataset *train_ds = nb_transformed_new(split[0], standardize);
  check(train_ds != NULL, "standardizing the training split");
  nb_dataset *val_ds = nb_transformed_new(split[1], standardize);
  check(val_ds != NULL, "standardizing the validation split");
  *train = nb_loader_new(train_ds,
                         &(nb_loader_opts){.batch_size = BATCH, .shuffle = true, .seed = SEED});
  *val = nb_loader_new(val_ds, &(nb_loader_opts){.batch_size = 128});
  check(*train && *val, "making the loaders");
  int64_t features = nb_dataset_features(all)->shape[0];
  printf("%s: %lld features, %lld training and %lld validation samples\n", path,
         (long long)features, (long long)nb_dataset_len(train_ds),
         (long long)nb_dataset_len(val_ds));
  nb_dataset *parts[] = {all, split[0], split[1], train_ds, val_ds};
  for (int i = 0; i < 5; i++) nb_dataset_free(parts[i]);
  return features;
}

/* The model's predictions [B, 1] as [B], to match the targets. */
static nb_tensor *predict(nb_module *model, nb_tensor *x) {
  return nb_squeeze(nb_forward(model, x), 1);
}

/* Mean absolute error over one pass of a loader, in the target's units. */
static double evaluate_mae(nb_module *model, nb_loader *loader) {
  double sum = 0;
  int64_t n = 0;
  nb_batch b;
  nb_module_eval(model);
  nb_no_grad_begin();
  while (nb_loader_next(loader, &b)) {
    nb_scope_begin();
    nb_tensor *err =
        nb_l1_loss(predict(model, b.x), b.y, &(nb_loss_opts){.reduction = NB_REDUCTION_SUM});
    check(err != NULL, "evaluate");
    sum += nb_item(err);
    n += b.size;
    nb_scope_end();
  }
  nb_no_grad_end();
  check(nb_loader_status(loader) == NB_OK && n > 0, "validation batches");
  return sum / (double)n;
}

/* Train a fresh model on `train` with L1 or MSE loss; returns the final
 * validation MAE. */
static double run(const char *name, int64_t features, bool l1, nb_loader *train, nb_loader *val,
                  int epochs) {
  nb_manual_seed(SEED); /* reproducible initial weights */
  nb_module *layers[] = {nb_linear_new(features, HIDDEN, NULL), nb_relu_new(),
                         nb_linear_new(HIDDEN, 1, NULL)};
  nb_module *model = nb_sequential_new(layers, 3); /* owns the layers (frees them on error) */
  check(model != NULL, "making the model");
  nb_named_tensors params = nb_module_parameters(model);
  nb_optimizer *opt = nb_adam_new(params.tensors, params.n, &(nb_adam_opts){.lr = 3e-2});
  check(opt != NULL, "making the optimizer");
  /* The learning rate decays from 3e-2 to 0 along a cosine over the epochs. */
  nb_scheduler *schedule = nb_cosine_annealing_lr_new(opt, epochs, 0.0);
  check(schedule != NULL, "making the scheduler");
  printf("\n%s: %lld -> %d -> 1 MLP, %s loss, Adam lr 3e-2 cosine-annealed\n", name,
         (long long)features, HIDDEN, l1 ? "L1" : "MSE");

  double mae = NAN;
  for (int epoch = 1; epoch <= epochs; epoch++) {
    double loss_sum = 0;
    int64_t seen = 0;
    nb_batch b;
    nb_module_train(model, true);
    while (nb_loader_next(train, &b)) {
      nb_scope_begin(); /* frees this step's activations and graph */
      nb_tensor *pred = predict(model, b.x);
      nb_tensor *loss = l1 ? nb_l1_loss(pred, b.y, NULL) : nb_mse_loss(pred, b.y, NULL);
      check(loss != NULL, "forward");
      check(nb_optim_zero_grad(opt, true) == NB_OK && nb_backward(loss) == NB_OK &&
                nb_optim_step(opt) == NB_OK,
            "training step");
      loss_sum += nb_item(loss) * (double)b.size;
      seen += b.size;
      nb_scope_end();
    }
    check(nb_loader_status(train) == NB_OK && nb_scheduler_step(schedule) == NB_OK, "end of epoch");
    if (epoch == 1 || epoch % PRINT_EVERY == 0 || epoch == epochs) {
      mae = evaluate_mae(model, val);
      printf("  epoch %3d  train_%s %8.3f  val_mae %6.3f ($1000s)\n", epoch, l1 ? "l1 " : "mse",
             loss_sum / (double)seen, mae);
    }
  }
  nb_scheduler_free(schedule);
  nb_optim_free(opt);
  nb_module_free(model);
  return mae;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : NB_SOURCE_DIR "/datasets/houses.csv";
  int epochs = argc > 2 ? atoi(argv[2]) : 100;
  if (epochs <= 0) {
    fprintf(stderr, "usage: houses [path/to/houses.csv] [epochs > 0]\n");
    return 1;
  }
  static const char *const rooms[] = {"RM"};
  struct {
    const char *name;
    const char *const *columns; /* NULL = all features */
    int ncolumns;
  } settings[2] = {{"rooms only", rooms, 1}, {"all features", NULL, 0}};
  double mae[2][2]; /* [setting][0 = L1, 1 = MSE] */

  for (int s = 0; s < 2; s++) {
    nb_loader *train, *val;
    printf("%s== %s ==\n", s ? "\n" : "", settings[s].name);
    int64_t features = load(path, settings[s].columns, settings[s].ncolumns, &train, &val);
    for (int k = 0; k < 2; k++) {
      char name[64];
      snprintf(name, sizeof name, "%s, %s", settings[s].name, k == 0 ? "L1" : "MSE");
      mae[s][k] = run(name, features, k == 0, train, val, epochs);
    }
    nb_loader_free(train);
    nb_loader_free(val);
  }

  printf("\nvalidation MAE ($1000s)   L1 loss   MSE loss\n");
  for (int s = 0; s < 2; s++)
    printf("%-24s %8.3f %10.3f\n", settings[s].name, mae[s][0], mae[s][1]);
  double best = fmin(mae[1][0], mae[1][1]);
  printf("final val_mae=%.4f\n", best);
  return best < 4.0 ? 0 : 1; /* $4,000 mean error: a sanity bound, not a target */
}
