#include "compiler/eval/Derivatives.h"

#include <cassert>
#include <cmath>
#include <limits>

namespace slope::eval {

namespace {

using ir::Op;

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSqrt2OverPi = 0.79788456080286535587989211986876;
constexpr double kInvSqrt2Pi = 0.39894228040143267793994605993438;

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

float round(double v) { return static_cast<float>(v); }

} // namespace

float creluSecondHalfDerivative(float x) { return x < 0 ? -1.0f : 0.0f; }

float activationDerivative(const ir::Node &node, float x, float slope) {
  const double d = x;
  switch (node.op) {
  case Op::LeakyRelu:
    return x > 0 ? 1.0f : node.alpha();
  case Op::Prelu:
    return x > 0 ? 1.0f : slope;
  case Op::Relu:
  case Op::Crelu:
    return x <= 0 ? 0.0f : 1.0f;
  case Op::Relu6:
  case Op::ClippedRelu:
    return x <= 0 || x >= node.ceiling() ? 0.0f : 1.0f;
  case Op::Identity:
    return 1.0f;
  case Op::Elu:
    return x <= 0 ? round(double(node.alpha()) * std::exp(d)) : 1.0f;
  case Op::Selu:
    return round(x <= 0 ? kSeluScale * kSeluAlpha * std::exp(d) : kSeluScale);
  case Op::Softplus: {
    float beta = node.f32Attr(0), threshold = node.f32Attr(1);
    if (beta * x > threshold)
      return 1.0f;
    return round(sigmoid(double(beta) * d));
  }
  case Op::Sigmoid: {
    double s = sigmoid(d);
    return round(s * (1.0 - s));
  }
  case Op::Tanh: {
    double t = std::tanh(d);
    return round(1.0 - t * t);
  }
  case Op::Gelu: {
    if (static_cast<ir::GeluApproximation>(node.intAttr(0)) == ir::GeluApproximation::Tanh) {
      // y = x * s, s = sigmoid(2u), u = sqrt(2/pi) * (x + 0.044715 x^3).
      double u = kSqrt2OverPi * (d + 0.044715 * d * d * d);
      double du = kSqrt2OverPi * (1.0 + 3.0 * 0.044715 * d * d);
      double s = sigmoid(2.0 * u);
      return round(s + d * s * (1.0 - s) * 2.0 * du);
    }
    // Phi(x) + x * phi(x).
    return round(0.5 * std::erfc(-d / std::sqrt(2.0)) + d * kInvSqrt2Pi * std::exp(-0.5 * d * d));
  }
  case Op::Silu: {
    double s = sigmoid(d);
    return round(s * (1.0 + d * (1.0 - s)));
  }
  case Op::Input:
  case Op::Dense:
  case Op::Add:
  case Op::Softmax:
    break;
  }
  assert(false && "activationDerivative of an op that is not an activation");
  return std::numeric_limits<float>::quiet_NaN();
}

} // namespace slope::eval
