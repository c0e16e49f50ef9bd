/* autograd/ops.h - the differentiable ops, by family (included by autograd.h). */
#ifndef NABLA_AUTOGRAD_OPS_H
#define NABLA_AUTOGRAD_OPS_H
#include "autograd/ops_elementwise.h"
#include "autograd/ops_reduce.h"
#include "autograd/ops_shape.h"
#include "autograd/ops_linalg.h"
#include "autograd/ops_loss.h"
#include "autograd/ops_conv.h"
#include "autograd/ops_nn.h"
#endif
