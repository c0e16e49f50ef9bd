/* data/data_impl.h - internals shared by the data layer's files; never installed.
 *
 * Owns: the layout of nb_dataset and the internal helpers the data layer's files share
 * (dataset.c defines them unless noted). Public API and conventions: data.h.
 *
 * ---- How a dataset is built inside data/ ------------------------------------
 *
 * Every dataset, built-in or a user's, is one nb_dataset: callbacks
 * (nb_dataset_ops: len, get, free) over a context pointer, plus the specs of
 * one sample's features and target. Datasets made inside data/ use
 * nb__dataset_make(), which is nb_dataset_new() plus the extension points:
 *
 *  - wrapped[]: the datasets this one is built on (a subset's source, a
 *    transformed dataset's input, a concatenation's parts). The new dataset
 *    holds a reference to each (released when it is freed, so users free the
 *    pieces in any order); nb_dataset_set_epoch() reaches them first.
 *  - set_epoch(ctx, epoch): called by nb_dataset_set_epoch() after the
 *    wrapped datasets got theirs; random transforms reseed per epoch here
 *    (derive the epoch's stream with nb__mix_seed(seed, epoch), as the
 *    random sampler does, so results do not depend on thread counts). The
 *    loader calls it in the caller's thread before an epoch's first get,
 *    never while gets run. A random transform draws each sample's numbers
 *    from (epoch seed, index) - a hash as in examples/custom_dataset.c -
 *    never from a generator that concurrent gets share.
 *  - kind + ext: extra state a dataset type hangs on a dataset it did not
 *    make itself, e.g. a CSV dataset's class names and dropped-row count on
 *    the tensor dataset holding its numbers. Tag with the address of a static
 *    object in your file (`static const char csv_kind;` ... &csv_kind) and
 *    attach with nb__dataset_attach(); find it again with nb__dataset_ext(),
 *    which also looks through the datasets ds wraps (depth first), so
 *    nb_csv_num_classes() works on a split part or a transformed CSV dataset.
 *  - A wrapper calls what it wraps with nb__dataset_get_into() (no range
 *    check, no allocation): the loader validates indices once per epoch and
 *    subsets/concatenations validate theirs when they are made.
 *
 * A dataset's length must not change once it is wrapped or loaded.
 *
 * ---- Threads: rules for every get callback ----------------------------------
 *
 * The DataLoader calls get from several OpenMP threads at once (of its
 * background thread, or of the caller's thread with no_prefetch), each call
 * with a different index and its own features/target tensors: each of those
 * is a one-sample tensor with its OWN storage (nb_from_blob over a row of the
 * batch), so get may write into it (nb_copy_, nb_fill_, in-place ops,
 * nb_data), make views of it and free them. Tensor refcounts and version
 * counters are NOT atomic, so get must never nb_retain / nb_free / make a
 * view of / write in place to a tensor that other calls can touch at the same
 * time (the dataset's own tensors, a transform's statistics): read those
 * through nb_data() / nb_view_of() only, or from a private nb_from_blob
 * wrapper of their memory. Creating new tensors is safe (the allocator locks)
 * but costs; each one must be nb_free'd before get returns (thread 0 may be
 * the user's thread with a scope open). Report failures with nb_set_error()
 * and return its status: the loader prefixes the sample index.
 */
#ifndef NABLA_DATA_IMPL_H
#define NABLA_DATA_IMPL_H

#include "data/data.h"

#define NB__DATA_INTERNAL __attribute__((visibility("hidden")))

struct nb_dataset {
  nb_dataset_ops ops; /* copied from the maker */
  void *ctx;          /* ops' context, released with ops.free */
  nb_field_spec features;
  nb_field_spec target; /* valid when has_target */
  bool has_target;
  int refs; /* the owner's + one per wrapper or loader holding it */
  nb_dataset **wrapped;
  int nwrapped;
  void (*set_epoch)(void *ctx, int64_t epoch);
  const void *kind; /* ext's tag (address of a static object), NULL = none */
  void *ext;
  void (*ext_free)(void *ext);
};

/* nb_dataset_new plus the datasets it wraps (it takes a reference to each of
 * wrapped[0..nwrapped)) and an optional set_epoch hook. On failure returns
 * NULL with the error set and does NOT call ops->free(ctx): the caller still
 * owns ctx. */
NB__DATA_INTERNAL nb_dataset *nb__dataset_make(const nb_dataset_ops *ops, void *ctx,
                                               const nb_field_spec *features,
                                               const nb_field_spec *target,
                                               nb_dataset *const *wrapped, int nwrapped,
                                               void (*set_epoch)(void *ctx, int64_t epoch));

/* Hang ext (tagged kind, released with ext_free, which may be NULL) on ds.
 * NB_ERR_ARG if ds already carries an ext. */
NB__DATA_INTERNAL nb_status nb__dataset_attach(nb_dataset *ds, const void *kind, void *ext,
                                               void (*ext_free)(void *ext));

/* The ext tagged kind on ds or on what it wraps (depth first); NULL if none. */
NB__DATA_INTERNAL void *nb__dataset_ext(const nb_dataset *ds, const void *kind);

/* Take one more reference to ds (released by nb_dataset_free). Returns ds. */
NB__DATA_INTERNAL nb_dataset *nb__dataset_retain(nb_dataset *ds);

/* Write sample i into features/target (target NULL when ds has none): the
 * raw get, for wrappers and the loader. i must be in range. */
static inline nb_status nb__dataset_get_into(nb_dataset *ds, int64_t i, nb_tensor *features,
                                             nb_tensor *target) {
  return ds->ops.get(ds->ctx, i, features, target);
}

/* Elements and bytes of one sample's field (validated when the dataset was
 * made, so they cannot overflow). */
NB__DATA_INTERNAL int64_t nb__spec_numel(const nb_field_spec *spec);
NB__DATA_INTERNAL size_t nb__spec_bytes(const nb_field_spec *spec);

/* Record NB_ERR_NULL for a NULL object argument of `op`, unless an earlier
 * error is already recorded (the chained-call rule of tensor.h). Returns the
 * status now current. */
NB__DATA_INTERNAL nb_status nb__data_null(const char *op, const char *what);

/* ---- randomness (sampler.c) -------------------------------------------------- */

/* A seed for epoch `epoch` of a stream seeded `seed` (a splitmix64 mix: no two
 * (seed, epoch) pairs nearby collide). */
NB__DATA_INTERNAL uint64_t nb__mix_seed(uint64_t seed, int64_t epoch);
/* Fisher-Yates shuffle of a[0..n) with unbiased draws from g. */
NB__DATA_INTERNAL void nb__shuffle(int64_t *a, int64_t n, nb_generator *g);

/* ---- samplers (sampler.c) ------------------------------------------------------ */

/* Indices per epoch (< 0 and the error set on failure). */
NB__DATA_INTERNAL int64_t nb__sampler_count(nb_sampler *s);
/* Write the epoch's count indices into out. */
NB__DATA_INTERNAL nb_status nb__sampler_fill(nb_sampler *s, int64_t epoch, int64_t *out);

#endif /* NABLA_DATA_IMPL_H */
