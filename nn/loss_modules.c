/* nn/loss_modules.c - every loss of autograd/ops_loss.h as a module
 * (L1Loss, MSELoss, ..., MarginRankingLoss).
 *
 * Owns: the loss modules' constructors (options copied and checked), their
 * forward (nb_loss(m, input, target), or nb_forward_n with three inputs for
 * CosineEmbeddingLoss and MarginRankingLoss) and the tensors in their
 * options: as in PyTorch, the losses that take a class or element weight
 * (CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss) hold it as the
 * buffer "weight", and BCEWithLogitsLoss its pos_weight as "pos_weight" - a
 * reference sharing the caller's storage, released when the module is freed.
 * Fields a loss does not use are ignored, as by the ops. One struct and one
 * table indexed by kind.
 */
#include "nn/nn_impl.h"

#include <math.h>
#include <stdio.h>

typedef enum loss_kind {
  LOSS_L1,
  LOSS_MSE,
  LOSS_SMOOTH_L1,
  LOSS_HUBER,
  LOSS_CROSS_ENTROPY,
  LOSS_NLL,
  LOSS_BCE,
  LOSS_BCE_LOGITS,
  LOSS_KL_DIV,
  LOSS_COSINE_EMBEDDING,
  LOSS_MARGIN_RANKING,
  LOSS_COUNT
} loss_kind;

typedef nb_tensor *(*loss2_fn)(nb_tensor *, nb_tensor *, const nb_loss_opts *);
typedef nb_tensor *(*loss3_fn)(nb_tensor *, nb_tensor *, nb_tensor *, const nb_loss_opts *);

typedef struct loss_info {
  const char *op;          /* the constructor, in errors */
  loss2_fn f2;             /* input, target */
  loss3_fn f3;             /* x1, x2, target */
  bool weight, pos_weight; /* the buffers PyTorch's module registers */
} loss_info;

static const loss_info infos[LOSS_COUNT] = {
    [LOSS_L1] = {"l1_loss_new", nb_l1_loss, NULL, false, false},
    [LOSS_MSE] = {"mse_loss_new", nb_mse_loss, NULL, false, false},
    [LOSS_SMOOTH_L1] = {"smooth_l1_loss_new", nb_smooth_l1_loss, NULL, false, false},
    [LOSS_HUBER] = {"huber_loss_new", nb_huber_loss, NULL, false, false},
    [LOSS_CROSS_ENTROPY] = {"cross_entropy_loss_new", nb_cross_entropy, NULL, true, false},
    [LOSS_NLL] = {"nll_loss_new", nb_nll_loss, NULL, true, false},
    [LOSS_BCE] = {"bce_loss_new", nb_binary_cross_entropy, NULL, true, false},
    [LOSS_BCE_LOGITS] = {"bce_with_logits_loss_new", nb_binary_cross_entropy_with_logits, NULL,
                         true, true},
    [LOSS_KL_DIV] = {"kl_div_loss_new", nb_kl_div, NULL, false, false},
    [LOSS_COSINE_EMBEDDING] = {"cosine_embedding_loss_new", NULL, nb_cosine_embedding_loss, false,
                               false},
    [LOSS_MARGIN_RANKING] = {"margin_ranking_loss_new", NULL, nb_margin_ranking_loss, false, false},
};

typedef struct loss {
  nb_module base;
  loss_kind kind;
  nb_loss_opts opts; /* weight and pos_weight NULL: they live in the buffers */
  bool has_weight, has_pos_weight;
} loss;

static nb_tensor *loss_forward(nb_module *self, nb_tensor *const *in, int n) {
  const loss *l = (const loss *)self;
  const loss_info *info = &infos[l->kind];
  if (nb__nn_check_arity(self, n, info->f3 ? 3 : 2) != NB_OK) return NULL;
  nb_loss_opts o = l->opts;
  /* The buffers, which nb_module_set_tensor and state-dict loading may replace. */
  if (l->has_weight) o.weight = nb_module_get_buffer(self, "weight");
  if (l->has_pos_weight) o.pos_weight = nb_module_get_buffer(self, "pos_weight");
  nb_tensor *y = info->f3 ? info->f3(in[0], in[1], in[2], &o) : info->f2(in[0], in[1], &o);
  if (!y) nb__nn_prefix_error(self->ops->type_name);
  return y;
}

#define LOSS_OPS(KIND, NAME) [KIND] = {.type_name = NAME, .forward = loss_forward}
static const nb_module_ops loss_ops[LOSS_COUNT] = {
    LOSS_OPS(LOSS_L1, "L1Loss"),
    LOSS_OPS(LOSS_MSE, "MSELoss"),
    LOSS_OPS(LOSS_SMOOTH_L1, "SmoothL1Loss"),
    LOSS_OPS(LOSS_HUBER, "HuberLoss"),
    LOSS_OPS(LOSS_CROSS_ENTROPY, "CrossEntropyLoss"),
    LOSS_OPS(LOSS_NLL, "NLLLoss"),
    LOSS_OPS(LOSS_BCE, "BCELoss"),
    LOSS_OPS(LOSS_BCE_LOGITS, "BCEWithLogitsLoss"),
    LOSS_OPS(LOSS_KL_DIV, "KLDivLoss"),
    LOSS_OPS(LOSS_COSINE_EMBEDDING, "CosineEmbeddingLoss"),
    LOSS_OPS(LOSS_MARGIN_RANKING, "MarginRankingLoss"),
};
#undef LOSS_OPS

/* Check the options a loss uses (the rest are ignored). */
static nb_status check_opts(const char *op, loss_kind kind, const nb_loss_opts *o) {
  const loss_info *info = &infos[kind];
  if ((unsigned)o->reduction >= NB_REDUCTION_COUNT ||
      (o->reduction == NB_REDUCTION_BATCHMEAN && kind != LOSS_KL_DIV))
    return nb_set_error(NB_ERR_ARG, "%s: invalid reduction %d%s", op, (int)o->reduction,
                        o->reduction == NB_REDUCTION_BATCHMEAN ? " (batchmean is for KLDivLoss)"
                                                               : "");
  if (kind == LOSS_CROSS_ENTROPY && !(o->label_smoothing >= 0 && o->label_smoothing <= 1))
    return nb_set_error(NB_ERR_ARG, "%s: label_smoothing %g must be in [0, 1]", op,
                        o->label_smoothing);
  if ((kind == LOSS_SMOOTH_L1 && !(o->beta >= 0)) || (kind == LOSS_HUBER && !(o->delta >= 0)))
    return nb_set_error(NB_ERR_ARG, "%s: %s %g must be >= 0 (0 = 1.0)", op,
                        kind == LOSS_HUBER ? "delta" : "beta",
                        kind == LOSS_HUBER ? o->delta : o->beta);
  if ((kind == LOSS_COSINE_EMBEDDING || kind == LOSS_MARGIN_RANKING) && !isfinite(o->margin))
    return nb_set_error(NB_ERR_ARG, "%s: margin %g must be finite", op, o->margin);
  const nb_tensor *t[2] = {info->weight ? o->weight : NULL,
                           info->pos_weight ? o->pos_weight : NULL};
  for (int i = 0; i < 2; i++)
    if (t[i] && !nb_dtype_is_floating(nb_dtype_of(t[i])))
      return nb_set_error(NB_ERR_DTYPE, "%s: %s must be float32 or float64, got %s %s", op,
                          i ? "pos_weight" : "weight", nb_dtype_name(nb_dtype_of(t[i])),
                          nb__nn_shp(t[i]));
  return NB_OK;
}

/* Register a constant alias of t (sharing its storage) as buffer `name`. */
static bool hold(nb_module *m, const char *name, nb_tensor *t) {
  nb_tensor *alias = nb_detach(t);
  return alias && nb_module_add_buffer(m, name, alias) != NULL;
}

static nb_module *loss_new(loss_kind kind, const nb_loss_opts *opts) {
  const loss_info *info = &infos[kind];
  nb_loss_opts o = opts ? *opts : (nb_loss_opts){0};
  if (check_opts(info->op, kind, &o) != NB_OK) return NULL;
  nb_tensor *weight = info->weight ? o.weight : NULL;
  nb_tensor *pos_weight = info->pos_weight ? o.pos_weight : NULL;
  o.weight = o.pos_weight = NULL;
  loss *l = (loss *)nb_module_new(&loss_ops[kind], sizeof(loss));
  if (!l) return NULL;
  *l = (loss){.base = l->base,
              .kind = kind,
              .opts = o,
              .has_weight = weight != NULL,
              .has_pos_weight = pos_weight != NULL};
  if ((weight && !hold(&l->base, "weight", weight)) ||
      (pos_weight && !hold(&l->base, "pos_weight", pos_weight))) {
    nb__nn_prefix_error(info->op);
    nb_module_free(&l->base);
    return NULL;
  }
  return &l->base;
}

nb_module *nb_l1_loss_new(const nb_loss_opts *opts) { return loss_new(LOSS_L1, opts); }
nb_module *nb_mse_loss_new(const nb_loss_opts *opts) { return loss_new(LOSS_MSE, opts); }
nb_module *nb_smooth_l1_loss_new(const nb_loss_opts *opts) {
  return loss_new(LOSS_SMOOTH_L1, opts);
}
nb_module *nb_huber_loss_new(const nb_loss_opts *opts) { return loss_new(LOSS_HUBER, opts); }
nb_module *nb_cross_entropy_loss_new(const nb_loss_opts *opts) {
  return loss_new(LOSS_CROSS_ENTROPY, opts);
}
nb_module *nb_nll_loss_new(const nb_loss_opts *opts) { return loss_new(LOSS_NLL, opts); }
nb_module *nb_bce_loss_new(const nb_loss_opts *opts) { return loss_new(LOSS_BCE, opts); }
nb_module *nb_bce_with_logits_loss_new(const nb_loss_opts *opts) {
  return loss_new(LOSS_BCE_LOGITS, opts);
}
nb_module *nb_kl_div_loss_new(const nb_loss_opts *opts) { return loss_new(LOSS_KL_DIV, opts); }
nb_module *nb_cosine_embedding_loss_new(const nb_loss_opts *opts) {
  return loss_new(LOSS_COSINE_EMBEDDING, opts);
}
nb_module *nb_margin_ranking_loss_new(const nb_loss_opts *opts) {
  return loss_new(LOSS_MARGIN_RANKING, opts);
}
