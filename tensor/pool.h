/* tensor/pool.h - the tensor layer's 2-D pooling and resampling kernels.
 *
 * Owns: max_pool2d (with argmax indices), avg_pool2d, adaptive_avg_pool2d and
 * interpolate (nearest, bilinear) on NCHW tensors, and their backward kernels
 * (autograd/ops_nn.h exposes the differentiable twins nb_max_pool2d, ...).
 * Semantics are PyTorch's (torch.nn.functional); the conventions of
 * tensor/tensor.h hold (new references, NULL + nb_errmsg() on error, NULL
 * inputs keep the first error).
 *
 * Inputs are [N, C, H, W] or, for the pools, unbatched [C, H, W] (PyTorch
 * reads a 3-D interpolate input as [N, C, L]); float32 or float64, any
 * strides. Results are contiguous, of the input's dtype, with the input's
 * leading dims. Work is split across threads by (n, c) plane above
 * NB_PARALLEL_GRAIN, each plane computed by one thread in a fixed order, so
 * results are identical with any thread count. Sums accumulate in double.
 */
#ifndef NABLA_TENSOR_POOL_H
#define NABLA_TENSOR_POOL_H

#include "tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Pooling options, {height, width} pairs. A zeroed field is PyTorch's default.
 * Output size per axis: floor((in + 2 pad - dilation (kernel - 1) - 1) / stride) + 1
 * (ceil with ceil_mode, dropping a last window that would start in the right
 * padding). */
typedef struct nb_pool2d_opts {
  int64_t kernel[2];        /* window size, > 0; kernel[1] == 0 repeats kernel[0] */
  int64_t stride[2];        /* 0 = that axis's kernel size */
  int64_t padding[2];       /* implicit padding on both sides, 0 <= pad <= kernel / 2 */
  int64_t dilation[2];      /* max_pool2d only: 0 = 1 */
  bool ceil_mode;           /* ceil instead of floor in the output size */
  bool exclude_pad;         /* avg_pool2d: count_include_pad = False */
  int64_t divisor_override; /* avg_pool2d: > 0 divides every window's sum by it */
} nb_pool2d_opts;

/* Max over each window. NaN wins (propagates) as in PyTorch; ties keep the
 * first position in row-major window order. If indices is not NULL it
 * receives a new int64 tensor of the output's shape holding each maximum's
 * flat position h * W + w within its input plane (PyTorch's return_indices).
 * A window that covers no input element (possible only with dilation) is an
 * NB_ERR_ARG error (PyTorch returns -inf with an out-of-range index). */
NB_API nb_tensor *nbk_max_pool2d(nb_tensor *x, const nb_pool2d_opts *opts, nb_tensor **indices);
/* The gradient of max_pool2d: grad [..., Ho, Wo] added at the flat positions
 * `indices` (same shape, int64, each in [0, in_h * in_w)) of zero planes
 * [..., in_h, in_w]. */
NB_API nb_tensor *nbk_max_pool2d_backward(nb_tensor *grad, nb_tensor *indices, int64_t in_h,
                                          int64_t in_w);

/* Mean over each window: the sum over its input elements divided by the
 * window's size clipped to the padded input (count_include_pad), by the count
 * of input elements it covers (exclude_pad), or by divisor_override. */
NB_API nb_tensor *nbk_avg_pool2d(nb_tensor *x, const nb_pool2d_opts *opts);
/* The gradient (adjoint) of avg_pool2d for an input of spatial size
 * in_h x in_w: grad is [..., Ho, Wo] with the forward's output size. */
NB_API nb_tensor *nbk_avg_pool2d_backward(nb_tensor *grad, int64_t in_h, int64_t in_w,
                                          const nb_pool2d_opts *opts);

/* Mean over windows [floor(i in / out), ceil((i + 1) in / out)) per axis, for
 * an output of out_h x out_w (>= 0; -1 keeps the input's size, like None). */
NB_API nb_tensor *nbk_adaptive_avg_pool2d(nb_tensor *x, int64_t out_h, int64_t out_w);
NB_API nb_tensor *nbk_adaptive_avg_pool2d_backward(nb_tensor *grad, int64_t in_h, int64_t in_w);

typedef enum nb_interp_mode {
  NB_INTERP_NEAREST,  /* 'nearest': src = min(floor(dst * scale), in - 1) in float */
  NB_INTERP_BILINEAR, /* 'bilinear', with or without align_corners */
  NB_INTERP_COUNT
} nb_interp_mode;

/* F.interpolate options. Give either size (both > 0) or scale_factor (both
 * > 0; scale_factor[1] == 0 repeats scale_factor[0]): then the output size is
 * floor(in * scale_factor) and the source coordinates use scale =
 * 1 / scale_factor, as PyTorch does with recompute_scale_factor=None (with
 * size, scale = in / out). Bilinear with align_corners uses
 * (in - 1) / (out - 1) instead, and copies an axis whose size is unchanged. */
typedef struct nb_interp_opts {
  nb_interp_mode mode;
  int64_t size[2];
  double scale_factor[2];
  bool align_corners; /* bilinear only (NB_ERR_ARG with nearest, as PyTorch) */
} nb_interp_opts;

/* Resample x [N, C, H, W] (float32/float64) to [N, C, out_h, out_w] by
 * nearest or bilinear interpolation; a new tensor, or NULL with NB_ERR_ARG /
 * NB_ERR_SHAPE naming the bad option or shape. */
NB_API nb_tensor *nbk_interpolate(nb_tensor *x, const nb_interp_opts *opts);
/* The gradient (the exact adjoint) of interpolate for an input of spatial
 * size in_h x in_w. (PyTorch's nearest backward special-cases out == in and
 * out == 2 in, so for e.g. scale_factor 2.1 on 3 -> 6 its gradient is not
 * the adjoint of its own forward; this one is.) */
NB_API nb_tensor *nbk_interpolate_backward(nb_tensor *grad, int64_t in_h, int64_t in_w,
                                           const nb_interp_opts *opts);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_TENSOR_POOL_H */
