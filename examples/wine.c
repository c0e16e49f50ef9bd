/* examples/wine.c - the course's wine classifier, with the full stack.
 *
 * Loads datasets/wine.csv with the CSV reader (13 numeric features; the
 * string labels class_0..class_2 become class indices), splits it 80/20 with
 * a seed keeping the class proportions, standardizes both splits with the
 * statistics of the training split, and trains a 13 -> 32 -> 3 MLP
 * (Linear-ReLU-Linear) with cross-entropy and Adam on shuffled mini-batches
 * from the DataLoader. One line per epoch; the last line is
 * `final val_accuracy=<value>`, and the exit status is 1 if that is < 0.95.
 *
 * Usage: wine [path/to/wine.csv] [epochs]
 */
#include <stdio.h>
#include <stdlib.h>

#include "nabla.h"

#define HIDDEN 32
#define BATCH 16
#define SEED 42

/* Stop with nabla's error message when a call failed. */
static void check(bool ok, const char *what) {
  if (ok) return;
  fprintf(stderr, "wine: %s: %s\n", what, nb_errmsg());
  exit(1);
}

/* Mean cross-entropy and accuracy of the model over one pass of a loader. */
static void evaluate(nb_module *model, nb_loader *loader, double *loss, double *accuracy) {
  double loss_sum = 0, hits = 0;
  int64_t n = 0;
  nb_batch b;
  nb_module_eval(model);
  nb_no_grad_begin();
  while (nb_loader_next(loader, &b)) {
    nb_scope_begin();
    nb_tensor *logits = nb_forward(model, b.x);
    nb_tensor *l = nb_cross_entropy(logits, b.y, &(nb_loss_opts){.reduction = NB_REDUCTION_SUM});
    nb_tensor *correct = nb_sum(nb_eq(nb_argmax(logits, 1, false), b.y), NB_ALL_DIMS, false);
    check(l && correct, "evaluate");
    loss_sum += nb_item(l);
    hits += nb_item(correct);
    n += b.size;
    nb_scope_end();
  }
  nb_no_grad_end();
  check(nb_loader_status(loader) == NB_OK && n > 0, "validation batches");
  *loss = loss_sum / (double)n;
  *accuracy = hits / (double)n;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : NB_SOURCE_DIR "/datasets/wine.csv";
  int epochs = argc > 2 ? atoi(argv[2]) : 40;
  if (epochs <= 0) {
    fprintf(stderr, "usage: wine [path/to/wine.csv] [epochs > 0]\n");
    return 1;
  }
  nb_manual_seed(SEED); /* the model's initial weights */

  /* Data: CSV -> stratified 80/20 split -> standardize with training statistics. */
  nb_dataset *all = nb_csv_load(
      path, &(nb_csv_opts){.target_column = "class", .target_kind = NB_CSV_TARGET_CLASS});
  check(all != NULL, "loading the data");
  int64_t features = nb_dataset_features(all)->shape[0];
  int classes = nb_csv_num_classes(all);
  printf("%s: %lld samples, %lld features, classes:", path, (long long)nb_dataset_len(all),
         (long long)features);
  for (int c = 0; c < classes; c++) printf(" %d=%s", c, nb_csv_class_name(all, c));
  printf("\n");

  nb_dataset *split[2];
  check(nb_stratified_split(all, (const double[]){0.8, 0.2}, 2, SEED, split) == NB_OK, "splitting");
  nb_transform *standardize = nb_standardize_fit(split[0]);
  check(standardize != NULL, "fitting the standardization");
  /* The same fitted transform for both splits (each takes a reference). */
  nb_dataset *train = nb_transformed_new(split[0], standardize);
  check(train != NULL, "standardizing the training split");
  nb_dataset *val = nb_transformed_new(split[1], standardize);
  check(val != NULL, "standardizing the validation split");
  nb_loader *train_loader =
      nb_loader_new(train, &(nb_loader_opts){.batch_size = BATCH, .shuffle = true, .seed = SEED});
  nb_loader *val_loader = nb_loader_new(val, &(nb_loader_opts){.batch_size = 64});
  check(train_loader && val_loader, "making the loaders");
  printf("train %lld samples (%lld batches of %d), validation %lld samples\n",
         (long long)nb_dataset_len(train), (long long)nb_loader_num_batches(train_loader), BATCH,
         (long long)nb_dataset_len(val));

  /* Model and optimizer. */
  nb_module *layers[] = {nb_linear_new(features, HIDDEN, NULL), nb_relu_new(),
                         nb_linear_new(HIDDEN, classes, NULL)};
  nb_module *model = nb_sequential_new(layers, 3); /* owns the layers (frees them on error) */
  check(model != NULL, "making the model");
  nb_named_tensors params = nb_module_parameters(model);
  nb_optimizer *opt = nb_adam_new(params.tensors, params.n, &(nb_adam_opts){.lr = 1e-2});
  check(opt != NULL, "making the optimizer");
  printf("model: %lld -> %d -> %d MLP, %lld parameters; Adam lr 1e-2, cross-entropy\n",
         (long long)features, HIDDEN, classes, (long long)nb_module_num_params(model));

  /* Training: one line per epoch. */
  double val_loss = 0, val_accuracy = 0;
  for (int epoch = 1; epoch <= epochs; epoch++) {
    double loss_sum = 0;
    int64_t seen = 0;
    nb_batch b;
    nb_module_train(model, true);
    while (nb_loader_next(train_loader, &b)) {
      nb_scope_begin(); /* frees this step's activations and graph */
      nb_tensor *loss = nb_cross_entropy(nb_forward(model, b.x), b.y, NULL);
      check(loss != NULL, "forward");
      check(nb_optim_zero_grad(opt, true) == NB_OK && nb_backward(loss) == NB_OK &&
                nb_optim_step(opt) == NB_OK,
            "training step");
      loss_sum += nb_item(loss) * (double)b.size;
      seen += b.size;
      nb_scope_end();
    }
    check(nb_loader_status(train_loader) == NB_OK, "training batches");
    evaluate(model, val_loader, &val_loss, &val_accuracy);
    printf("epoch %3d  train_loss %.4f  val_loss %.4f  val_accuracy %.4f\n", epoch,
           loss_sum / (double)seen, val_loss, val_accuracy);
  }

  nb_optim_free(opt);
  nb_module_free(model);
  nb_loader_free(train_loader);
  nb_loader_free(val_loader);
  nb_dataset_free(train);
  nb_dataset_free(val);
  nb_dataset_free(split[0]);
  nb_dataset_free(split[1]);
  nb_dataset_free(all);
  printf("final val_accuracy=%.4f\n", val_accuracy);
  return val_accuracy >= 0.95 ? 0 : 1;
}
