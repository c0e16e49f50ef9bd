/* tensor/conv.h - convolution kernels of nabla's tensor layer.
 *
 * Owns: the raw (non-differentiable) kernels behind torch.nn.functional's
 * conv1d, conv2d, conv_transpose1d and conv_transpose2d, and the
 * weight-gradient kernels of conv1d and conv2d. autograd/ops_conv.h makes them differentiable
 * (nb_conv2d, ...).
 *
 * Layouts are PyTorch's: input [N, C, H, W] (or [C, H, W] unbatched; 1-D:
 * [N, C, L] or [C, L]), conv weight [O, C/groups, kH, kW], transposed-conv
 * weight [C, O/groups, kH, kW], bias [O] or NULL. Input, weight and bias share
 * one floating dtype (float32 or float64); any strides are accepted. Results
 * are new contiguous tensors, identical with any thread count.
 *
 * Options: a NULL opts pointer or a zero field means PyTorch's default
 * (stride 1, padding 0, dilation 1, output_padding 0, groups 1); negative
 * values are NB_ERR_ARG. Bad shapes are NB_ERR_SHAPE with a message naming the
 * op and the shapes, e.g. "conv2d: input [1, 3, 8, 8] has 3 channels but
 * weight [4, 2, 3, 3] expects 2 x groups 1".
 */
#ifndef NABLA_TENSOR_CONV_H
#define NABLA_TENSOR_CONV_H

#include "tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_conv1d_opts {
  int64_t stride, padding, dilation, groups;
} nb_conv1d_opts;

/* Per spatial dim: [0] is the height, [1] the width. */
typedef struct nb_conv2d_opts {
  int64_t stride[2], padding[2], dilation[2];
  int64_t groups;
} nb_conv2d_opts;

typedef struct nb_conv_transpose1d_opts {
  int64_t stride, padding, output_padding, dilation, groups;
} nb_conv_transpose1d_opts;

typedef struct nb_conv_transpose2d_opts {
  int64_t stride[2], padding[2], output_padding[2], dilation[2];
  int64_t groups;
} nb_conv_transpose2d_opts;

/* out[n, o, oh, ow] = b[o] + sum_{c, i, j} w[o, c, i, j] *
 *   x[n, g C/groups + c, oh stride - padding + i dilation, ...] (g = o's group),
 * with zero padding. Output size per spatial dim:
 * (in + 2 padding - dilation (k - 1) - 1) / stride + 1, which must be >= 1. */
NB_API nb_tensor *nbk_conv2d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *opts);
/* conv2d over one spatial dim: x [N, C, L], w [O, C/groups, k]. */
NB_API nb_tensor *nbk_conv1d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv1d_opts *opts);
/* The adjoint of conv2d in its input ("deconvolution"): x [N, C, H, W],
 * w [C, O/groups, kH, kW] -> [N, O, Hout, Wout] with
 * Hout = (H - 1) stride - 2 padding + dilation (kH - 1) + output_padding + 1
 * (>= 1); output_padding must be smaller than stride or dilation. */
NB_API nb_tensor *nbk_conv_transpose2d(nb_tensor *x, nb_tensor *w, nb_tensor *b,
                                       const nb_conv_transpose2d_opts *opts);
/* conv_transpose2d over one spatial dim: x [N, C, L], w [C, O/groups, k]. */
NB_API nb_tensor *nbk_conv_transpose1d(nb_tensor *x, nb_tensor *w, nb_tensor *b,
                                       const nb_conv_transpose1d_opts *opts);
/* The gradient of conv2d's output with respect to its weight: for x
 * [N, C, H, W] and grad_out [N, O, OH, OW] (conv2d's output shape for a
 * kH x kW kernel and these opts), returns [O, C/groups, kH, kW] =
 * sum over n, oh, ow of grad_out[n, o, oh, ow] * (the input window). */
NB_API nb_tensor *nbk_conv2d_weight_grad(nb_tensor *x, nb_tensor *grad_out, int64_t kh, int64_t kw,
                                         const nb_conv2d_opts *opts);
/* The same for conv1d: x [N, C, L], grad_out [N, O, OL] -> [O, C/groups, k]. */
NB_API nb_tensor *nbk_conv1d_weight_grad(nb_tensor *x, nb_tensor *grad_out, int64_t k,
                                         const nb_conv1d_opts *opts);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_TENSOR_CONV_H */
