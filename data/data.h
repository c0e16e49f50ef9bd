/* data/data.h - the public API of nabla's data layer.
 *
 * Owns: the dataset interface (length + get(i) filling a sample's tensors),
 * built-in datasets (tensors, subsets, concatenations, seeded splits), readers
 * (CSV, IDX / Fashion-MNIST), composable transforms, samplers, and the
 * DataLoader that gathers shuffled mini-batches with OpenMP threads and
 * prepares the next batch in the background.
 *
 * Conventions as in tensor/tensor.h. Datasets, transforms, samplers and
 * loaders are refcount-free objects with one owner: *_free releases them and
 * accepts NULL. A wrapper (subset, split part, transformed dataset, loader)
 * holds a reference to what it wraps: nb_dataset_free the parts in any order.
 */
#ifndef NABLA_DATA_H
#define NABLA_DATA_H

#include "tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- datasets ------------------------------------------------------------- */

/* The dtype and shape of one sample's features or target (ndim 0 = scalar,
 * e.g. a class index). */
typedef struct nb_field_spec {
  nb_dtype dtype;
  int ndim;
  int64_t shape[NB_MAX_DIMS];
} nb_field_spec;

typedef struct nb_dataset nb_dataset;

/* A user's dataset: callbacks and a context pointer. */
typedef struct nb_dataset_ops {
  /* Number of samples. */
  int64_t (*len)(void *ctx);
  /* Write sample `index` into `features` and `target`: tensors of exactly the
   * dataset's specs (views into the batch being built; write with nb_copy_,
   * nb_fill_ or through nb_data/nb_view_of). `target` is NULL for a dataset
   * without targets. Called from several threads at once with different
   * indices. Return NB_OK or an error set with nb_set_error. */
  nb_status (*get)(void *ctx, int64_t index, nb_tensor *features, nb_tensor *target);
  /* Release ctx (optional). */
  void (*free)(void *ctx);
} nb_dataset_ops;

/* Wrap callbacks; target NULL = no targets. NULL + error on bad specs. */
NB_API nb_dataset *nb_dataset_new(const nb_dataset_ops *ops, void *ctx,
                                  const nb_field_spec *features, const nb_field_spec *target);
NB_API int64_t nb_dataset_len(const nb_dataset *ds);
NB_API const nb_field_spec *nb_dataset_features(const nb_dataset *ds);
/* NULL when the dataset has no targets. */
NB_API const nb_field_spec *nb_dataset_target(const nb_dataset *ds);
/* Sample i as new tensors (target may come back NULL). NB_ERR_INDEX if out of range. */
NB_API nb_status nb_dataset_get(nb_dataset *ds, int64_t i, nb_tensor **features,
                                nb_tensor **target);
/* Tell the dataset (and what it wraps) which epoch is starting, for random
 * transforms. The loader calls it. */
NB_API void nb_dataset_set_epoch(nb_dataset *ds, int64_t epoch);
NB_API void nb_dataset_free(nb_dataset *ds);

/* Samples are the rows (first dim) of features and, if not NULL, of target;
 * both are retained (not copied). */
NB_API nb_dataset *nb_tensor_dataset_new(nb_tensor *features, nb_tensor *target);
/* The samples indices[0..n) of ds (copied list; each index validated). */
NB_API nb_dataset *nb_subset_new(nb_dataset *ds, const int64_t *indices, int64_t n);
/* parts one after another (same specs). */
NB_API nb_dataset *nb_concat_dataset_new(nb_dataset *const *parts, int n);
/* Split ds into n random subsets: sizes are fractions summing to 1 (the
 * remainder goes to the first parts, as torch.utils.data.random_split) or
 * counts summing to len. Same seed, same split. out[0..n) are new subsets. */
NB_API nb_status nb_random_split(nb_dataset *ds, const double *sizes, int n, uint64_t seed,
                                 nb_dataset **out);
/* Like random_split with fractions, but each class (an int64 scalar target)
 * is split in the same proportions. */
NB_API nb_status nb_stratified_split(nb_dataset *ds, const double *fractions, int n, uint64_t seed,
                                     nb_dataset **out);

/* ---- CSV ------------------------------------------------------------------- */

typedef enum nb_csv_target {
  NB_CSV_TARGET_CLASS,      /* labels (strings or integers) -> int64 class indices */
  NB_CSV_TARGET_REGRESSION, /* a number -> float */
  NB_CSV_TARGET_NONE,       /* no target column */
  NB_CSV_TARGET_COUNT
} nb_csv_target;

typedef struct nb_csv_opts {
  char delimiter; /* 0 = ',' */
  bool no_header; /* columns are then named by index only */
  /* Feature columns by name or by 0-based index (NULL/0 = every column but
   * the target). */
  const char *const *feature_columns;
  const int *feature_indices;
  int nfeatures;
  /* Target column by name; else, with use_target_index, by 0-based index
   * (negative counts from the end); else the last column. */
  const char *target_column;
  bool use_target_index;
  int target_index;
  nb_csv_target target_kind;
  bool sorted_labels; /* class order: sorted, else first seen */
  bool drop_bad_rows; /* drop (and count) rows with missing / bad values instead of failing */
  nb_dtype dtype;     /* features (and regression target) dtype; 0 = float32 */
} nb_csv_opts;

/* Load a CSV file (header, delimiter, quoted fields, CRLF, UTF-8 BOM, empty
 * lines skipped) streaming: the text is never held whole. Errors name the
 * file, line and column ("wine.csv:12:3: 'abc' is not a number"). */
NB_API nb_dataset *nb_csv_load(const char *path, const nb_csv_opts *opts);
/* Class names of a CSV dataset with a class target (index = class). */
NB_API int nb_csv_num_classes(const nb_dataset *ds);
NB_API const char *nb_csv_class_name(const nb_dataset *ds, int index);
/* Write the class mapping, one "index,name" line each (atomically). */
NB_API nb_status nb_csv_save_classes(const nb_dataset *ds, const char *path);
NB_API int64_t nb_csv_dropped_rows(const nb_dataset *ds);

/* ---- IDX (MNIST format) ------------------------------------------------------ */

/* Read an IDX file (raw or gzip'd) into a tensor of `dtype` with the file's
 * dims; header validated (magic, type code, dims, size). */
NB_API nb_tensor *nb_idx_load(const char *path, nb_dtype dtype);
/* Fashion-MNIST from Debian's dataset-fashion-mnist (dir NULL =
 * /usr/share/datasets/fashion-mnist): features float32 [1, 28, 28] in [0, 1],
 * target int64 class index. */
NB_API nb_dataset *nb_fashion_mnist(const char *dir, bool train);

/* ---- transforms ------------------------------------------------------------------ */

typedef struct nb_transform nb_transform;

/* Per-feature standardization with mean/std fitted on `train` (population
 * std as sklearn? no: unbiased, as torch.std), and min-max scaling to [0,1]. */
NB_API nb_transform *nb_standardize_fit(nb_dataset *train);
NB_API nb_transform *nb_minmax_fit(nb_dataset *train);
/* Image normalization per channel: (x - mean[c]) / std[c]. */
NB_API nb_transform *nb_normalize_new(const double *mean, const double *std, int channels);
/* Random crop of [C, H, W] images to size after zero padding, and random
 * horizontal flip with probability p; seeded, the same with any thread count,
 * different each epoch. */
NB_API nb_transform *nb_random_crop_new(int64_t height, int64_t width, int64_t padding,
                                        uint64_t seed);
NB_API nb_transform *nb_random_hflip_new(double p, uint64_t seed);
/* Class index target -> one-hot float vector of num_classes. */
NB_API nb_transform *nb_one_hot_target_new(int64_t num_classes);
/* Apply ts[0], then ts[1], ... (takes ownership of them). */
NB_API nb_transform *nb_compose(nb_transform **ts, int n);
/* A dataset whose samples are ds's after t. Takes the caller's reference to t
 * the first time t is handed over; handing the same t to further datasets
 * (e.g. one standardization fitted on the training split, applied to train
 * and validation) adds a reference each time, and the last holder frees it.
 * So the caller never frees t after a successful call. */
NB_API nb_dataset *nb_transformed_new(nb_dataset *ds, nb_transform *t);
/* Write a fitted transform's statistics ("mean", "std", "min", "max") as
 * tensors: borrowed, NULL for a name it does not have. */
NB_API nb_tensor *nb_transform_stat(const nb_transform *t, const char *name);
NB_API void nb_transform_free(nb_transform *t);

/* ---- samplers ----------------------------------------------------------------------- */

typedef struct nb_sampler nb_sampler;
/* New samplers over n indices (NULL + NB_ERR_ARG on bad arguments); a loader
 * given one in its opts takes ownership, else free with nb_sampler_free.
 * Sequential: 0..n-1; random: a new permutation each epoch from seed+epoch. */
NB_API nb_sampler *nb_sequential_sampler_new(int64_t n);
NB_API nb_sampler *nb_random_sampler_new(int64_t n, uint64_t seed);
/* num_samples indices drawn with probability proportional to weights. */
NB_API nb_sampler *nb_weighted_sampler_new(const double *weights, int64_t n, int64_t num_samples,
                                           bool replacement, uint64_t seed);
/* A user's sampler: count() indices per epoch written by fill(epoch, out). */
NB_API nb_sampler *nb_sampler_new(int64_t (*count)(void *user),
                                  nb_status (*fill)(void *user, int64_t epoch, int64_t *out),
                                  void *user);
NB_API void nb_sampler_free(nb_sampler *s);

/* ---- the DataLoader ------------------------------------------------------------------- */

typedef struct nb_loader_opts {
  int64_t batch_size; /* 0 = 1 */
  bool shuffle;       /* a new order each epoch, from seed and the epoch */
  bool drop_last;
  uint64_t seed;
  nb_sampler *sampler; /* overrides shuffle; the loader takes ownership */
  int num_threads;     /* gather threads; 0 = nb_get_num_threads() */
  bool no_prefetch;    /* build each batch on demand instead of in the background */
  /* Called on each finished batch (in place), e.g. for a custom collate. */
  nb_status (*collate)(nb_tensor *features, nb_tensor *target, void *user);
  void *collate_user;
} nb_loader_opts;

typedef struct nb_batch {
  nb_tensor *x;  /* [B, features...], contiguous */
  nb_tensor *y;  /* [B, target...] or NULL */
  int64_t size;  /* B (the last batch may be smaller) */
  int64_t index; /* batch number within the epoch */
} nb_batch;

typedef struct nb_loader nb_loader;

/* The loader holds a reference to ds. */
NB_API nb_loader *nb_loader_new(nb_dataset *ds, const nb_loader_opts *opts);
/* The next batch of the current epoch: true and *batch filled, or false at the
 * end of the epoch (the next call starts a new one) or on error (then
 * nb_loader_status says which). The batch's tensors belong to the loader and
 * stay valid until the next call; nb_retain one to keep it longer. */
NB_API bool nb_loader_next(nb_loader *l, nb_batch *batch);
NB_API nb_status nb_loader_status(const nb_loader *l);
NB_API int64_t nb_loader_num_batches(const nb_loader *l);
/* Epochs completed so far, and batches delivered in all epochs. */
NB_API int64_t nb_loader_epoch(const nb_loader *l);
NB_API int64_t nb_loader_iteration(const nb_loader *l);
NB_API void nb_loader_free(nb_loader *l);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_DATA_H */
