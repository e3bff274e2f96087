#include "compiler/eval/Reference.h"

#include <cassert>
#include <cmath>
#include <limits>

namespace slope::eval {

namespace {

using ir::Op;

/// f32 arithmetic, one rounding per operation, as the definitions are written.
float mul(float a, float b) { return a * b; }

double sigmoidDouble(double x) { return 1.0 / (1.0 + std::exp(-x)); }

} // namespace

float applyActivation(const ir::Node &node, float x, float slope) {
  switch (node.op) {
  case Op::LeakyRelu:
    return x > 0 ? x : mul(node.alpha(), x);
  case Op::Relu:
    return x < 0 ? +0.0f : x;
  case Op::Prelu:
    return x > 0 ? x : mul(slope, x);
  case Op::Relu6:
  case Op::ClippedRelu: {
    float ceiling = node.ceiling();
    return x < 0 ? +0.0f : (x > ceiling ? ceiling : x);
  }
  case Op::Identity:
    return x;
  // The transcendental activations: the definition in double precision, rounded once.
  // expm1 is exact where exp(x) - 1 cancels, but keeps the sign of zero where that
  // difference does not: expm1(-0) = -0, exp(-0) - 1 = +0. Adding +0 gives elu(-0) =
  // alpha * +0, as the definition and PyTorch do.
  case Op::Elu: {
    double alpha = node.alpha();
    return x > 0 ? x : static_cast<float>(alpha * (std::expm1(double(x)) + 0.0));
  }
  case Op::Selu: {
    // PyTorch's constants.
    constexpr double alpha = 1.6732632423543772848170429916717;
    constexpr double scale = 1.0507009873554804934193349852946;
    return static_cast<float>(scale * (x > 0 ? double(x) : alpha * (std::expm1(double(x)) + 0.0)));
  }
  case Op::Softplus: {
    // The branch is chosen on beta*x rounded to f32, as PyTorch does; the value is
    // the definition in double, written so that exp cannot overflow before log1p (a
    // threshold above 709.78 would otherwise give inf below it). beta*x is exact in
    // double, and exp(beta*x) underflows in double only where exp(beta*x)/beta is far
    // below f32's range for every f32 beta, so this is the definition rounded once for
    // every beta and threshold (docs/activations.md).
    float beta = node.f32Attr(0), threshold = node.f32Attr(1);
    if (mul(beta, x) > threshold)
      return x;
    double bx = double(beta) * double(x);
    double soft = bx > 0 ? bx + std::log1p(std::exp(-bx)) : std::log1p(std::exp(bx));
    return static_cast<float>(soft / beta);
  }
  case Op::Sigmoid:
    return static_cast<float>(sigmoidDouble(x));
  case Op::Tanh:
    return static_cast<float>(std::tanh(double(x)));
  case Op::Gelu: {
    double d = x;
    if (static_cast<ir::GeluApproximation>(node.intAttr(0)) == ir::GeluApproximation::Tanh) {
      // 0.5*x*(1 + tanh(u)) = x / (1 + exp(-2u)): the same function without the
      // cancellation of 1 + tanh(u) for large negative x.
      constexpr double kSqrt2OverPi = 0.79788456080286535587989211986876;
      double u = kSqrt2OverPi * (d + 0.044715 * d * d * d);
      return static_cast<float>(d / (1.0 + std::exp(-2.0 * u)));
    }
    return static_cast<float>(0.5 * d * std::erfc(-d / std::sqrt(2.0)));
  }
  case Op::Silu:
    return static_cast<float>(double(x) * sigmoidDouble(x));
  case Op::Input:
  case Op::Dense:
  case Op::Crelu:
  case Op::Add:
  case Op::Softmax:
    break;
  }
  assert(false && "applyActivation of an op that is not a one-to-one activation");
  return std::numeric_limits<float>::quiet_NaN();
}

std::vector<float> evaluate(const ir::Graph &graph, const ir::ParameterValues &parameters,
                            const float *input, int64_t batch) {
  const size_t rows = static_cast<size_t>(batch);
  std::vector<std::vector<float>> values(graph.nodes.size());
  values[0].assign(input, input + rows * graph.inputWidth());
  for (ir::ValueId id = 1; id < graph.nodes.size(); ++id) {
    const ir::Node &node = graph.nodes[id];
    const size_t width = static_cast<size_t>(node.width);
    const std::vector<float> &x = values[node.operands[0]];
    const size_t in = static_cast<size_t>(graph.node(node.operands[0]).width);
    std::vector<float> &y = values[id];
    y.assign(rows * width, 0.0f);
    switch (node.op) {
    case Op::Input:
      assert(false && "a second input");
      break;
    case Op::Dense: {
      const float *w = parameters.data(node.weightKey());
      const float *bias = node.hasBias() ? parameters.data(node.biasKey()) : nullptr;
      for (size_t b = 0; b < rows; ++b)
        for (size_t u = 0; u < width; ++u) {
          float sum = 0.0f;
          for (size_t i = 0; i < in; ++i)
            sum += x[b * in + i] * w[u * in + i];
          y[b * width + u] = bias ? sum + bias[u] : sum;
        }
      break;
    }
    case Op::Add: {
      const std::vector<float> &other = values[node.operands[1]];
      for (size_t i = 0; i < y.size(); ++i)
        y[i] = x[i] + other[i];
      break;
    }
    case Op::Crelu:
      // concat(relu(x), relu(-x)) along the feature axis.
      for (size_t b = 0; b < rows; ++b)
        for (size_t i = 0; i < in; ++i) {
          float v = x[b * in + i];
          y[b * width + i] = v < 0 ? +0.0f : v;
          y[b * width + in + i] = -v < 0 ? +0.0f : -v;
        }
      break;
    case Op::Softmax:
      for (size_t b = 0; b < rows; ++b) {
        const float *row = &x[b * in];
        float max = -std::numeric_limits<float>::infinity();
        for (size_t i = 0; i < in; ++i)
          max = row[i] > max || std::isnan(row[i]) ? row[i] : max;
        double sum = 0;
        for (size_t i = 0; i < in; ++i)
          sum += std::exp(double(row[i]) - double(max));
        for (size_t i = 0; i < in; ++i)
          y[b * width + i] = static_cast<float>(std::exp(double(row[i]) - double(max)) / sum);
      }
      break;
    case Op::Prelu: {
      const std::vector<float> &slopes = parameters.at(node.weightKey());
      for (size_t b = 0; b < rows; ++b)
        for (size_t c = 0; c < width; ++c)
          y[b * width + c] =
              applyActivation(node, x[b * in + c], slopes.size() == 1 ? slopes[0] : slopes[c]);
      break;
    }
    default:
      for (size_t i = 0; i < y.size(); ++i)
        y[i] = applyActivation(node, x[i]);
      break;
    }
    // Free what no later node reads? Networks are small; keeping every value keeps
    // this evaluator obviously correct.
  }
  return std::move(values[graph.output]);
}

} // namespace slope::eval
