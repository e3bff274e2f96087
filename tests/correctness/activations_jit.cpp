// Every activation through the JIT against the reference evaluator, standalone and fused
// after `dense`: special values (NaN, ±inf, ±0, subnormals, FLT_MAX, the ops' branch
// points and exp's overflow and underflow edges) and at least 10^5 random values per op,
// at widths that are not multiples of the vector width, at batch 0, 1 and odd sizes.
// The piecewise-linear ops must match bit for bit; the others within 4 ulp, and exactly
// on NaN, ±inf and ±0. The worst distance per op is printed (docs/activations.md).
#include "activations_testing.h"
#include "jit_testing.h"

#include <cfloat>
#include <cstdio>

using namespace slope;
using namespace slope::jittest;
using namespace slope::acttest;

namespace {

struct Activation {
  std::string call; // the call after `x`: "elu(alpha = 0.5)" is `elu(h, alpha = 0.5)`
  bool exact;       // piecewise linear: bit-exact
  float boundary = NAN; // an x where the op switches branch, tested with its neighbours
};

const std::vector<Activation> &activations() {
  static const std::vector<Activation> list = {
      {"leaky_relu()", true},
      {"leaky_relu(alpha = 0.2)", true},
      {"leaky_relu(alpha = 2.5)", true},
      {"leaky_relu(alpha = -0.5)", true},
      {"relu()", true},
      {"prelu()", true},
      {"relu6()", true, 6.0f},
      {"clipped_relu(ceiling = 2.5)", true, 2.5f},
      {"clipped_relu(ceiling = 20)", true, 20.0f},
      {"identity()", true},
      {"crelu()", true},
      {"elu()", false},
      {"elu(alpha = 0.5)", false},
      {"elu(alpha = 2)", false},
      {"elu(alpha = -0.5)", false}, // elu(-0) = -0.5 * +0 = -0
      {"selu()", false},
      {"softplus()", false, 20.0f},
      {"softplus(beta = 2, threshold = 10)", false, 5.0f},
      {"softplus(beta = 3, threshold = 1)", false, 1.0f / 3.0f},
      {"softplus(beta = 0.5, threshold = 5)", false, 10.0f},
      {"softplus(beta = 0.01, threshold = 20)", false, 2000.0f},
      {"softplus(beta = 3, threshold = 20)", false, 20.0f / 3.0f},
      {"sigmoid()", false},
      {"tanh()", false},
      {"gelu()", false, -0.5f},
      {"gelu(approximate = \"tanh\")", false},
      {"silu()", false, -80.0f},
  };
  return list;
}

/// `call` applied to `operand`: "elu(alpha = 2)" on "h" is "elu(h, alpha = 2)".
std::string applied(const std::string &call, const std::string &operand) {
  size_t open = call.find('(');
  std::string args = call.substr(open + 1, call.size() - open - 2);
  return call.substr(0, open) + "(" + operand + (args.empty() ? "" : ", " + args) + ")";
}

std::vector<float> specialValues(float boundary) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {std::numeric_limits<float>::quiet_NaN(),
                          -std::numeric_limits<float>::quiet_NaN(),
                          std::bit_cast<float>(0x7fa00001u), // a signalling NaN
                          inf, -inf, 0.0f, -0.0f, FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN,
                          0x1p-149f, -0x1p-149f, 0x1.fffffcp-127f, -0x1.fffffcp-127f,
                          1e-40f, -1e-40f, 1e-30f, -1e-30f, 1e-7f, -1e-7f, 1e30f, -1e30f};
  for (float a : {0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 5.0f, 6.0f, 10.0f, 13.2f, 14.6f, 20.0f, 30.0f,
                  64.0f, 80.0f, 87.33655f, 88.72283f, 88.72284f, 89.0f, 100.0f, 103.97f, 104.0f,
                  150.0f, 1000.0f})
    for (float s : {a, -a})
      for (float f : {std::nextafter(s, -inf), s, std::nextafter(s, inf)})
        v.push_back(f);
  if (!std::isnan(boundary))
    for (float s : {boundary, -boundary}) {
      float f = s;
      for (int i = 0; i < 4; ++i)
        f = std::nextafter(f, -inf);
      for (int i = 0; i < 9; ++i, f = std::nextafter(f, inf))
        v.push_back(f);
    }
  return v;
}

/// About 10^5 values: uniform near the origin, log-uniform magnitudes of both signs from
/// 2^-40 to 2^8, uniform over exp's whole range, and random bit patterns.
std::vector<float> randomValues(std::mt19937_64 &rng, size_t n) {
  std::uniform_real_distribution<float> near(-10.0f, 10.0f), wide(-120.0f, 120.0f),
      exponent(-40.0f, 8.0f);
  std::vector<float> v(n);
  for (float &f : v) {
    switch (rng() % 6) {
    case 0:
    case 1:
      f = near(rng);
      break;
    case 2:
    case 3:
      f = std::exp2(exponent(rng)) * (rng() % 2 ? 1.0f : -1.0f);
      break;
    case 4:
      f = wide(rng);
      break;
    default:
      f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
      break;
    }
  }
  return v;
}

/// Compiles `graph`, runs it at `batch` on `input`, and compares every output with the
/// reference evaluator. Returns the number of mismatches (reporting the first few).
int compareWithReference(const ir::Graph &graph, const ir::ParameterValues &params,
                         const std::vector<float> &input, int64_t batch, const Activation &act,
                         const std::string &label) {
  auto jit = backend::JitModule::compile(graph, params);
  std::vector<float> got(static_cast<size_t>(batch * jit->outputWidth()), 12345.0f);
  REQUIRE(jit->forward(input.data(), got.data(), batch) == 0);
  std::vector<float> want = eval::evaluate(graph, params, input.data(), batch);
  REQUIRE(got.size() == want.size());
  // The activation's input for output i, for messages: the value before the op.
  int mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    int64_t ulps = 0;
    if (meetsSpec(got[i], want[i], act.exact, ulps)) {
      recordUlps(act.call, ulps);
      continue;
    }
    if (mismatches++ < 5) {
      INFO(label << " " << act.call << " output " << i << ": got " << formatFloat(got[i])
                 << " expected " << formatFloat(want[i]) << " (" << ulps << " ulp)");
      CHECK(false);
    }
  }
  return mismatches;
}

ir::ParameterValues preluSlopes(const ir::Graph &graph, std::mt19937_64 &rng) {
  ir::ParameterValues params = randomParameters(graph, rng);
  return params;
}

} // namespace

TEST_CASE("activations: standalone, special values at every tail width and batch") {
  std::mt19937_64 rng(61);
  for (const Activation &act : activations()) {
    std::vector<float> specials = specialValues(act.boundary);
    for (int64_t width : {1, 7, 17, 33}) {
      std::string text = "network n {\n  input x : f32[" + std::to_string(width) +
                         "]\n  y = " + applied(act.call, "x") + "\n  output y\n}\n";
      ir::Graph graph = parseNetwork(text);
      ir::ParameterValues params = preluSlopes(graph, rng);
      int64_t rows = static_cast<int64_t>((specials.size() + width - 1) / width) | 1;
      std::vector<float> input(static_cast<size_t>(rows * width));
      for (size_t i = 0; i < input.size(); ++i)
        input[i] = specials[(i * 7 + static_cast<size_t>(width)) % specials.size()];
      for (int64_t batch : {int64_t(0), int64_t(1), rows})
        CHECK(compareWithReference(graph, params, input, batch, act, "standalone") == 0);
    }
  }
}

TEST_CASE("activations: fused after dense, special values") {
  // dense(x, units) from one input: h[u] = x * W[u] + b[u] is the same f32 operation in
  // the kernel and the evaluator, so the activation sees the same values in both.
  std::mt19937_64 rng(62);
  const std::vector<float> scales = {1.0f, -1.0f, 0.5f, 3.0f, 1e-3f, -7.0f, 1e-38f, 2.0f};
  for (const Activation &act : activations()) {
    std::vector<float> specials = specialValues(act.boundary);
    for (int64_t units : {1, 9, 19, 45}) {
      std::string text = "network n {\n  input x : f32[1]\n  h = dense(x, " +
                         std::to_string(units) + ")\n  y = " + applied(act.call, "h") +
                         "\n  output y\n}\n";
      ir::Graph graph = parseNetwork(text);
      REQUIRE(graph.groups.size() == 1); // dense and its activation in one kernel
      ir::ParameterValues params = preluSlopes(graph, rng);
      std::vector<float> &w = params.values.at("h.weight");
      std::vector<float> &b = params.values.at("h.bias");
      for (size_t u = 0; u < w.size(); ++u) {
        w[u] = scales[u % scales.size()];
        b[u] = u % 3 == 0 ? 0.0f : b[u];
      }
      auto batch = static_cast<int64_t>(specials.size());
      for (int64_t rows : {int64_t(0), int64_t(1), batch | 1})
        CHECK(compareWithReference(graph, params, specials, std::min(rows, batch), act,
                                   "fused") == 0);
    }
  }
}

TEST_CASE("activations: 10^5 random values per op, standalone and fused") {
  std::mt19937_64 rng(63);
  const int64_t width = 37, batch = 2703; // 100011 values, odd rows and a tail
  for (const Activation &act : activations()) {
    std::vector<float> input = randomValues(rng, static_cast<size_t>(width * batch));
    std::string text = "network n {\n  input x : f32[" + std::to_string(width) + "]\n  y = " +
                       applied(act.call, "x") + "\n  output y\n}\n";
    ir::Graph graph = parseNetwork(text);
    ir::ParameterValues params = preluSlopes(graph, rng);
    CHECK(compareWithReference(graph, params, input, batch, act, "random") == 0);

    // Fused, with one input feature: the dense scales each value by 1.
    std::string fused = "network n {\n  input x : f32[1]\n  h = dense(x, 29, bias = false)\n"
                        "  y = " + applied(act.call, "h") + "\n  output y\n}\n";
    ir::Graph fusedGraph = parseNetwork(fused);
    REQUIRE(fusedGraph.groups.size() == 1);
    ir::ParameterValues fusedParams = preluSlopes(fusedGraph, rng);
    std::vector<float> &w = fusedParams.values.at("h.weight");
    for (size_t u = 0; u < w.size(); ++u)
      w[u] = u % 2 ? 1.0f : -1.0f;
    std::vector<float> column(input.begin(), input.begin() + 4001);
    CHECK(compareWithReference(fusedGraph, fusedParams, column, 4001, act, "fused random") == 0);
  }
  std::printf("max ulp against the reference evaluator, per activation:\n");
  for (const auto &[call, ulps] : maxUlps())
    std::printf("  %-40s %lld\n", call.c_str(), static_cast<long long>(ulps));
}

TEST_CASE("activations: crelu after dense writes both halves of each row") {
  ir::Graph graph = parseNetwork("network n {\n  input x : f32[5]\n  h = dense(x, 19)\n"
                                 "  c = crelu(h)\n  output c\n}\n");
  REQUIRE(graph.groups.size() == 1);
  REQUIRE(graph.outputWidth() == 38);
  std::mt19937_64 rng(64);
  ir::ParameterValues params = randomParameters(graph, rng);
  auto jit = backend::JitModule::compile(graph, params);
  // The dense alone, computed as the kernel sums, then concat(relu(h), relu(-h)).
  ir::Graph denseOnly = parseNetwork("network n {\n  input x : f32[5]\n  h = dense(x, 19)\n"
                                     "  output h\n}\n");
  for (int64_t batch : {1, 3, 8, 13}) {
    std::vector<float> input = randomInput(rng, static_cast<size_t>(batch * 5), true);
    auto h = kernelOrderValues(denseOnly, params, input, batch, hostFusesMultiplyAdd());
    std::vector<float> expected;
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t u = 0; u < 19; ++u) {
        float v = h[denseOnly.output][static_cast<size_t>(b * 19 + u)];
        expected.push_back(v < 0 ? +0.0f : v);
      }
      for (int64_t u = 0; u < 19; ++u) {
        float v = -h[denseOnly.output][static_cast<size_t>(b * 19 + u)];
        expected.push_back(v < 0 ? +0.0f : v);
      }
    }
    std::vector<float> got(static_cast<size_t>(batch * 38), 12345.0f);
    REQUIRE(jit->forward(input.data(), got.data(), batch) == 0);
    CHECK(firstDifference(got, expected) == -1);
  }
}

TEST_CASE("activations: chains of smooth ops, with a residual add, fused") {
  ir::Graph graph = parseNetwork(
      "network n {\n  input x : f32[23]\n  h = dense(x, 23)\n  a = gelu(h)\n  b = tanh(a)\n"
      "  s = silu(b)\n  r = add(s, x)\n  e = elu(r, alpha = 0.5)\n  output e\n}\n");
  std::mt19937_64 rng(65);
  ir::ParameterValues params = randomParameters(graph, rng);
  auto jit = backend::JitModule::compile(graph, params);
  std::vector<float> input = randomInput(rng, 23 * 9, false);
  auto values = kernelOrderValues(graph, params, input, 9, hostFusesMultiplyAdd());
  std::vector<float> got(23 * 9);
  REQUIRE(jit->forward(input.data(), got.data(), 9) == 0);
  // Each op is within 4 ulp of its definition; composed, the error is bounded by the
  // ops' conditioning, far below this tolerance for inputs in [-2, 2].
  for (size_t i = 0; i < got.size(); ++i)
    CHECK(std::fabs(got[i] - values[graph.output][i]) <= 1e-5f * (1 + std::fabs(got[i])));
}
