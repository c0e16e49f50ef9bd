/* nn/layers.h - convolution, pooling, normalization, recurrent and loss
 * modules (included by nn/nn.h).
 *
 * Each constructor returns a new module with PyTorch's parameter names,
 * shapes and default initialization, or NULL with an error naming the bad
 * argument. Options structs: zero fields mean PyTorch's defaults.
 */
#ifndef NABLA_NN_LAYERS_H
#define NABLA_NN_LAYERS_H

#include "nn/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- convolution ----------------------------------------------------------- */

typedef struct nb_conv_layer_opts {
  int64_t stride[2];         /* 0 = 1 */
  int64_t padding[2];        /* 0 = 0 */
  int64_t dilation[2];       /* 0 = 1 */
  int64_t output_padding[2]; /* ConvTranspose2d only */
  int64_t groups;            /* 0 = 1 */
  bool no_bias;
  nb_dtype dtype;
  nb_generator *generator;
} nb_conv_layer_opts;

/* Conv1d uses index 0 of each pair. Kernel sizes: [k] or [kh, kw]. */
NB_API nb_module *nb_conv1d_new(int64_t in_channels, int64_t out_channels, int64_t kernel,
                                const nb_conv_layer_opts *opts);
NB_API nb_module *nb_conv2d_new(int64_t in_channels, int64_t out_channels, int64_t kernel_h,
                                int64_t kernel_w, const nb_conv_layer_opts *opts);
NB_API nb_module *nb_conv_transpose2d_new(int64_t in_channels, int64_t out_channels,
                                          int64_t kernel_h, int64_t kernel_w,
                                          const nb_conv_layer_opts *opts);

/* ---- pooling and resampling ---------------------------------------------------- */

typedef struct nb_pool_layer_opts {
  int64_t stride[2]; /* 0 = kernel */
  int64_t padding[2];
  int64_t dilation[2]; /* MaxPool2d; 0 = 1 */
  bool ceil_mode;
  bool exclude_pad; /* AvgPool2d: count_include_pad = false */
} nb_pool_layer_opts;

NB_API nb_module *nb_max_pool2d_new(int64_t kernel_h, int64_t kernel_w,
                                    const nb_pool_layer_opts *opts);
NB_API nb_module *nb_avg_pool2d_new(int64_t kernel_h, int64_t kernel_w,
                                    const nb_pool_layer_opts *opts);
NB_API nb_module *nb_adaptive_avg_pool2d_new(int64_t out_h, int64_t out_w);
/* Upsample by scale factors (or to a size when scale is 0): "nearest" or
 * "bilinear" (align_corners as given). */
NB_API nb_module *nb_upsample_new(const char *mode, double scale_h, double scale_w, int64_t size_h,
                                  int64_t size_w, bool align_corners);

/* ---- normalization ----------------------------------------------------------------- */

typedef struct nb_norm_opts {
  double eps;      /* 0 = 1e-5 */
  double momentum; /* BatchNorm; 0 = 0.1 */
  bool no_affine;  /* no weight/bias */
  bool no_running_stats;
  nb_dtype dtype;
} nb_norm_opts;

NB_API nb_module *nb_batch_norm1d_new(int64_t features, const nb_norm_opts *opts);
NB_API nb_module *nb_batch_norm2d_new(int64_t features, const nb_norm_opts *opts);
NB_API nb_module *nb_layer_norm_new(int ndims, const int64_t *normalized_shape,
                                    const nb_norm_opts *opts);
NB_API nb_module *nb_group_norm_new(int64_t groups, int64_t channels, const nb_norm_opts *opts);

/* ---- recurrent ------------------------------------------------------------------------- */

typedef struct nb_rnn_opts {
  int num_layers; /* 0 = 1 */
  bool batch_first, bidirectional, no_bias;
  bool relu;      /* RNN only: relu instead of tanh */
  double dropout; /* between layers, in training */
  nb_dtype dtype;
  nb_generator *generator;
} nb_rnn_opts;

NB_API nb_module *nb_rnn_new(int64_t input_size, int64_t hidden_size, const nb_rnn_opts *opts);
NB_API nb_module *nb_lstm_new(int64_t input_size, int64_t hidden_size, const nb_rnn_opts *opts);
NB_API nb_module *nb_gru_new(int64_t input_size, int64_t hidden_size, const nb_rnn_opts *opts);
/* Run a recurrent module: x [T, B, in] (or [B, T, in] with batch_first);
 * initial states h0 (and c0 for LSTM) [layers * directions, B, hidden] or
 * NULL for zeros. *out gets the output sequence; *hn / *cn (may be NULL) the
 * final states. nb_forward(m, x) returns the output sequence only. */
NB_API nb_status nb_rnn_forward(nb_module *m, nb_tensor *x, nb_tensor *h0, nb_tensor *c0,
                                nb_tensor **out, nb_tensor **hn, nb_tensor **cn);

/* ---- losses as modules (nb_loss(m, input, target)) --------------------------------------- */

/* Each takes the same options as its op in autograd/ops_loss.h (copied;
 * tensors in them are retained). */
NB_API nb_module *nb_l1_loss_new(const nb_loss_opts *opts);
NB_API nb_module *nb_mse_loss_new(const nb_loss_opts *opts);
NB_API nb_module *nb_smooth_l1_loss_new(const nb_loss_opts *opts);
NB_API nb_module *nb_huber_loss_new(const nb_loss_opts *opts);
NB_API nb_module *nb_cross_entropy_loss_new(const nb_loss_opts *opts);
NB_API nb_module *nb_nll_loss_new(const nb_loss_opts *opts);
NB_API nb_module *nb_bce_loss_new(const nb_loss_opts *opts);
NB_API nb_module *nb_bce_with_logits_loss_new(const nb_loss_opts *opts);
NB_API nb_module *nb_kl_div_loss_new(const nb_loss_opts *opts);
/* Three inputs (x1, x2, y): use nb_forward_n. */
NB_API nb_module *nb_cosine_embedding_loss_new(const nb_loss_opts *opts);
NB_API nb_module *nb_margin_ranking_loss_new(const nb_loss_opts *opts);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_NN_LAYERS_H */
