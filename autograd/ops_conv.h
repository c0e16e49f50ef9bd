/* autograd/ops_conv.h - differentiable convolutions (im2col + BLIS underneath).
 *
 * Same semantics, options and errors as the kernels in tensor/conv.h
 * (torch.nn.functional.conv1d / conv2d / conv_transpose1d / conv_transpose2d):
 * NULL opts or zero fields mean PyTorch's defaults; b may be NULL. Gradients
 * flow to the input, the weight and the bias, and are themselves
 * differentiable (double backward, gradient penalties).
 */
#ifndef NABLA_OPS_CONV_H
#define NABLA_OPS_CONV_H
#include "tensor/conv.h"
#include "tensor/tensor.h"

/* x [N, C, L] (or [C, L]), w [O, C/groups, k], b [O] -> [N, O, L_out]. */
NB_API nb_tensor *nb_conv1d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv1d_opts *opts);
/* x [N, C, H, W] (or [C, H, W]), w [O, C/groups, kH, kW], b [O] -> [N, O, H_out, W_out]. */
NB_API nb_tensor *nb_conv2d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *opts);
/* x [N, C, L], w [C, O/groups, k], b [O] -> [N, O, L_out]. */
NB_API nb_tensor *nb_conv_transpose1d(nb_tensor *x, nb_tensor *w, nb_tensor *b,
                                      const nb_conv_transpose1d_opts *opts);
/* x [N, C, H, W], w [C, O/groups, kH, kW], b [O] -> [N, O, H_out, W_out]. */
NB_API nb_tensor *nb_conv_transpose2d(nb_tensor *x, nb_tensor *w, nb_tensor *b,
                                      const nb_conv_transpose2d_opts *opts);
/* conv2d's weight gradient for input x and output gradient grad_out, as a
 * differentiable op (torch.nn.grad.conv2d_weight): [O, C/groups, kh, kw]. */
NB_API nb_tensor *nb_conv2d_weight_grad(nb_tensor *x, nb_tensor *grad_out, int64_t kh, int64_t kw,
                                        const nb_conv2d_opts *opts);
/* The same for conv1d: [O, C/groups, k]. */
NB_API nb_tensor *nb_conv1d_weight_grad(nb_tensor *x, nb_tensor *grad_out, int64_t k,
                                        const nb_conv1d_opts *opts);

#endif
