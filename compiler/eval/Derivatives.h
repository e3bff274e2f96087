// The derivative of each activation, the groundwork for gradients: what PyTorch's
// autograd (1.13) gives, computed in double precision and rounded once to f32.
//
// At the kinks the one-sided choice is PyTorch's, which tests `x <= 0` (or `x >= c`) to
// pick the flat side:
//   leaky_relu'(0) = alpha, prelu'(0) = a[c], relu'(0) = 0, elu'(0) = alpha,
//   selu'(0) = scale*alpha, relu6'(0) = relu6'(6) = 0, clipped_relu'(c) = 0,
//   softplus' switches to 1 where beta*x (f32) > threshold, as its forward does.
// NaN follows the same tests: a NaN input takes the side of the `else`, so
// leaky_relu'(NaN) = alpha, relu'(NaN) = 1, elu'(NaN) = 1, selu'(NaN) = scale,
// relu6'(NaN) = 1; the smooth ops give NaN. At ±inf each formula is evaluated
// literally, as PyTorch does: gelu'(±inf) = silu'(±inf) = NaN (x * 0), sigmoid'(±inf) =
// tanh'(±inf) = 0. docs/activations.md lists every derivative.
#pragma once

#include "compiler/ir/Graph.h"

namespace slope::eval {

/// d/dx of the activation `node` at x; `slope` is prelu's channel slope. For crelu,
/// whose output has two elements per input, the derivative of its first half, relu(x)
/// (the second's is creluSecondHalfDerivative).
float activationDerivative(const ir::Node &node, float x, float slope = 0.0f);

/// d/dx relu(-x): -1 for x < 0, else 0 (PyTorch's relu'(0) = 0 on -x).
float creluSecondHalfDerivative(float x);

} // namespace slope::eval
