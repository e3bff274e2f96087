// activationDerivative against central finite differences of each activation's
// definition in double precision, away from kinks; exactly at kinks and on special
// values, against what PyTorch 1.13's autograd gives (compiler/eval/Derivatives.h).
#include "TestUtil.h"

#include "compiler/eval/Derivatives.h"

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <vector>

using namespace slope;

namespace {

using testutil::opNode;

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

/// The definitions of compiler/ir/Graph.h in double; `kinks` are the points where the
/// function is not differentiable (or its branch switches).
struct Smooth {
  ir::Node node;
  std::function<double(double)> f;
  std::vector<double> kinks;
};

std::vector<Smooth> functions() {
  constexpr double seluAlpha = 1.6732632423543772848170429916717;
  constexpr double seluScale = 1.0507009873554804934193349852946;
  auto softplus = [](double beta, double threshold) {
    return [=](double x) {
      return beta * x > threshold ? x : std::log1p(std::exp(beta * x)) / beta;
    };
  };
  return {
      {opNode(ir::Op::LeakyRelu, {0.1}), [](double x) { return x > 0 ? x : double(0.1f) * x; }, {0}},
      {opNode(ir::Op::LeakyRelu, {-2.5}), [](double x) { return x > 0 ? x : -2.5 * x; }, {0}},
      {opNode(ir::Op::Relu), [](double x) { return x < 0 ? 0 : x; }, {0}},
      {opNode(ir::Op::Relu6), [](double x) { return x < 0 ? 0 : (x > 6 ? 6 : x); }, {0, 6}},
      {opNode(ir::Op::ClippedRelu, {2.5}), [](double x) { return x < 0 ? 0 : (x > 2.5 ? 2.5 : x); }, {0, 2.5}},
      {opNode(ir::Op::Identity), [](double x) { return x; }, {}},
      {opNode(ir::Op::Elu, {1.0}), [](double x) { return x > 0 ? x : std::expm1(x); }, {0}},
      {opNode(ir::Op::Elu, {2.0}), [](double x) { return x > 0 ? x : 2 * std::expm1(x); }, {0}},
      {opNode(ir::Op::Selu),
       [=](double x) { return seluScale * (x > 0 ? x : seluAlpha * std::expm1(x)); }, {0}},
      {opNode(ir::Op::Softplus), softplus(1, 20), {20}},
      {opNode(ir::Op::Softplus, {2, 10}), softplus(2, 10), {5}},
      {opNode(ir::Op::Softplus, {0.5, 5}), softplus(0.5, 5), {10}},
      {opNode(ir::Op::Sigmoid), sigmoid, {}},
      {opNode(ir::Op::Tanh), [](double x) { return std::tanh(x); }, {}},
      {opNode(ir::Op::Gelu, {0}), [](double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }, {}},
      {opNode(ir::Op::Gelu, {1}),
       [](double x) {
         double u = 0.79788456080286535587989211986876 * (x + 0.044715 * x * x * x);
         return 0.5 * x * (1 + std::tanh(u));
       },
       {}},
      {opNode(ir::Op::Silu), [](double x) { return x * sigmoid(x); }, {}},
  };
}

} // namespace

TEST_CASE("derivatives: central finite differences away from kinks") {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-12.0, 12.0);
  for (const Smooth &s : functions()) {
    CAPTURE(ir::opName(s.node.op));
    int checked = 0;
    for (int i = 0; i < 20000; ++i) {
      float x = static_cast<float>(u(rng));
      double h = 1e-4 * std::max(1.0, std::fabs(double(x)));
      bool nearKink = false;
      for (double k : s.kinks)
        nearKink |= std::fabs(double(x) - k) < 4 * h;
      if (nearKink)
        continue;
      double fd = (s.f(double(x) + h) - s.f(double(x) - h)) / (2 * h);
      // Truncation error h^2 f'''/6 and cancellation eps*|f|/h: both far below this.
      double tolerance = 1e-6 * std::max(1.0, std::fabs(fd)) + 1e-9;
      float d = eval::activationDerivative(s.node, x, 0.0f);
      if (std::fabs(double(d) - fd) > tolerance) {
        INFO("x = " << x << ": derivative " << d << ", finite difference " << fd);
        CHECK(false);
        break;
      }
      ++checked;
    }
    CHECK(checked > 15000);
  }
  // prelu with a channel slope.
  ir::Node prelu = opNode(ir::Op::Prelu);
  CHECK(eval::activationDerivative(prelu, -3.0f, 0.25f) == 0.25f);
  CHECK(eval::activationDerivative(prelu, 3.0f, 0.25f) == 1.0f);
}

TEST_CASE("derivatives: at the kinks and on special values, as PyTorch's autograd") {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto d = [](const ir::Node &node, float x, float slope = 0.0f) {
    return eval::activationDerivative(node, x, slope);
  };
  ir::Node leaky = opNode(ir::Op::LeakyRelu, {0.1});
  CHECK(d(leaky, 0.0f) == 0.1f);
  CHECK(d(leaky, -0.0f) == 0.1f);
  CHECK(d(leaky, nan) == 0.1f);
  CHECK(d(leaky, inf) == 1.0f);
  CHECK(d(leaky, -inf) == 0.1f);
  ir::Node prelu = opNode(ir::Op::Prelu);
  CHECK(d(prelu, 0.0f, 0.25f) == 0.25f);
  CHECK(d(prelu, nan, 0.25f) == 0.25f);
  ir::Node relu = opNode(ir::Op::Relu);
  CHECK(d(relu, 0.0f) == 0.0f);
  CHECK(d(relu, -0.0f) == 0.0f);
  CHECK(d(relu, nan) == 1.0f);
  CHECK(d(relu, -inf) == 0.0f);
  ir::Node relu6 = opNode(ir::Op::Relu6);
  CHECK(d(relu6, 0.0f) == 0.0f);
  CHECK(d(relu6, 6.0f) == 0.0f);
  CHECK(d(relu6, std::nextafter(6.0f, 0.0f)) == 1.0f);
  CHECK(d(relu6, nan) == 1.0f);
  CHECK(d(relu6, inf) == 0.0f);
  ir::Node clipped = opNode(ir::Op::ClippedRelu, {2.5});
  CHECK(d(clipped, 2.5f) == 0.0f);
  CHECK(d(clipped, 0.0f) == 0.0f);
  ir::Node crelu = opNode(ir::Op::Crelu);
  CHECK(d(crelu, 0.0f) == 0.0f);
  CHECK(d(crelu, 2.0f) == 1.0f);
  CHECK(eval::creluSecondHalfDerivative(0.0f) == 0.0f);
  CHECK(eval::creluSecondHalfDerivative(-2.0f) == -1.0f);
  CHECK(eval::creluSecondHalfDerivative(2.0f) == 0.0f);
  CHECK(d(opNode(ir::Op::Identity), nan) == 1.0f);
  ir::Node elu = opNode(ir::Op::Elu, {2.0});
  CHECK(d(elu, 0.0f) == 2.0f);
  CHECK(d(elu, -0.0f) == 2.0f);
  CHECK(d(elu, nan) == 1.0f);
  CHECK(d(elu, -inf) == 0.0f);
  CHECK(d(opNode(ir::Op::Elu, {1.0}), 0.0f) == 1.0f);
  ir::Node selu = opNode(ir::Op::Selu);
  CHECK(d(selu, 0.0f) == 1.7580993175506592f);
  CHECK(d(selu, 1.0f) == 1.0507010221481323f);
  CHECK(d(selu, nan) == 1.0507010221481323f);
  CHECK(d(selu, -inf) == 0.0f);
  ir::Node softplus = opNode(ir::Op::Softplus);
  CHECK(d(softplus, 0.0f) == 0.5f);
  CHECK(d(softplus, 20.0f) == 0.99999999793884631f);
  CHECK(d(softplus, std::nextafter(20.0f, inf)) == 1.0f);
  CHECK(std::isnan(d(softplus, nan)));
  CHECK(d(softplus, inf) == 1.0f);
  CHECK(d(softplus, -inf) == 0.0f);
  // The branch on beta*x rounded to f32: 3 * f32(1/3) rounds to 1, not above threshold 1.
  ir::Node softplus31 = opNode(ir::Op::Softplus, {3, 1});
  CHECK(d(softplus31, 1.0f / 3.0f) == 0.7310585975646973f);
  CHECK(d(softplus31, std::nextafter(1.0f / 3.0f, inf)) == 1.0f);
  ir::Node sigmoid = opNode(ir::Op::Sigmoid);
  CHECK(d(sigmoid, 0.0f) == 0.25f);
  CHECK(d(sigmoid, inf) == 0.0f);
  CHECK(d(sigmoid, -inf) == 0.0f);
  CHECK(std::isnan(d(sigmoid, nan)));
  ir::Node tanh = opNode(ir::Op::Tanh);
  CHECK(d(tanh, 0.0f) == 1.0f);
  CHECK(d(tanh, -inf) == 0.0f);
  for (ir::Node node : {opNode(ir::Op::Gelu, {0}), opNode(ir::Op::Gelu, {1}),
                        opNode(ir::Op::Silu)}) {
    CHECK(d(node, 0.0f) == 0.5f);
    CHECK(d(node, -0.0f) == 0.5f);
    CHECK(std::isnan(d(node, inf))); // x * 0 in the formula, NaN in PyTorch too
    CHECK(std::isnan(d(node, -inf)));
    CHECK(std::isnan(d(node, nan)));
  }
  CHECK(d(opNode(ir::Op::Gelu, {0}), 2.5f) == doctest::Approx(1.0376111268997192).epsilon(1e-7));
  CHECK(d(opNode(ir::Op::Gelu, {1}), 2.5f) == doctest::Approx(1.0379517078399658).epsilon(1e-7));
  CHECK(d(opNode(ir::Op::Silu), 2.5f) == doctest::Approx(1.0994011163711548).epsilon(1e-7));
}
