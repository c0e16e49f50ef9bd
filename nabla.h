/* nabla.h - the umbrella header: include this to use all of nabla. */
#ifndef NABLA_H
#define NABLA_H
#include "tensor/tensor.h"
#include "tensor/conv.h"
#include "tensor/pool.h"
#include "autograd/autograd.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "data/data.h"
#endif
