// Shared by the jit_*.cpp tests: random networks as source text, random parameters and
// inputs with special values, and an evaluator that sums dense layers in the kernels'
// order, so that compiled code can be compared with it bit for bit.
#pragma once

#include "compiler/backend/Jit.h"
#include "compiler/eval/Reference.h"
#include "compiler/ir/Graph.h"
#include "compiler/ir/Parameters.h"
#include "compiler/passes/Pipeline.h"
#include "frontend/Diagnostics.h"
#include "frontend/Lower.h"
#include "frontend/Source.h"

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace slope::jittest {

/// The one network of `text`, lowered and run through the pass pipeline.
inline ir::Graph parseNetwork(const std::string &text, bool fuse = true) {
  Source source("test.slope", text);
  DiagnosticEngine diags(source);
  std::optional<ir::Module> module = compileToIR(source, diags);
  INFO(text);
  INFO(diags.render());
  REQUIRE(module.has_value());
  REQUIRE(module->networks.size() == 1);
  ir::Graph graph = module->networks.front();
  passes::runPipeline(graph, {.fuse = fuse, .dump = {}});
  return graph;
}

/// Equal bits, except that any NaN equals any NaN (the IR's NaN rule).
inline bool sameFloat(float a, float b) {
  if (std::isnan(a) && std::isnan(b))
    return true;
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

/// The index of the first element that differs, or -1.
inline int64_t firstDifference(const std::vector<float> &a, const std::vector<float> &b) {
  if (a.size() != b.size())
    return 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (!sameFloat(a[i], b[i]))
      return static_cast<int64_t>(i);
  return -1;
}

inline const std::vector<int64_t> &interestingWidths() {
  static const std::vector<int64_t> widths = {1,  2,  3,  4,  5,  7,  8,   13,  15,  16,  17,
                                              23, 31, 32, 33, 47, 63, 64,  65,  97,  101, 127,
                                              128, 129, 191, 251, 256, 257, 293, 300};
  return widths;
}

inline const std::vector<float> &interestingAlphas() {
  static const std::vector<float> alphas = {0.0f, 1.0f, 0.01f, 0.2f, 2.5f, 7.0f, -0.5f, -3.0f,
                                            1e-40f, -0.0f};
  return alphas;
}

inline std::string formatFloat(float v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.9g", static_cast<double>(v));
  return buffer;
}

/// A random network over the piecewise-linear ops, as source text: dense layers with
/// and without bias, chains of activations, residual adds, prelu, and optionally a
/// final softmax.
inline std::string randomNetworkSource(std::mt19937_64 &rng, bool allowSoftmax = true) {
  auto pick = [&](const auto &v) { return v[rng() % v.size()]; };
  const std::vector<int64_t> &widths = interestingWidths();
  int64_t inWidth = pick(widths);
  std::string text = "network n {\n  input x : f32[" + std::to_string(inWidth) + "]\n";
  struct Value {
    std::string name;
    int64_t width;
  };
  std::vector<Value> values = {{"x", inWidth}};
  Value current = values.back();
  int steps = 1 + static_cast<int>(rng() % 7);
  for (int s = 0; s < steps; ++s) {
    std::string name = "v" + std::to_string(s);
    std::string expr;
    int64_t width = current.width;
    unsigned choice = rng() % 10;
    if (choice < 3) {
      width = pick(widths);
      expr = "dense(" + current.name + ", " + std::to_string(width) +
             (rng() % 4 == 0 ? ", bias = false" : "") + ")";
    } else if (choice == 3) {
      expr = "relu(" + current.name + ")";
    } else if (choice == 4) {
      expr = "leaky_relu(" + current.name + ", alpha = " + formatFloat(pick(interestingAlphas())) +
             ")";
    } else if (choice == 5) {
      expr = "prelu(" + current.name + ")";
    } else if (choice == 6) {
      expr = rng() % 2 ? "relu6(" + current.name + ")"
                       : "clipped_relu(" + current.name + ", ceiling = " +
                             formatFloat(static_cast<float>(rng() % 100) / 16.0f - 1.0f) + ")";
    } else if (choice == 7) {
      expr = "identity(" + current.name + ")";
    } else {
      std::vector<Value> same;
      for (const Value &v : values)
        if (v.width == current.width)
          same.push_back(v);
      const Value &other = pick(same);
      expr = rng() % 2 ? "add(" + current.name + ", " + other.name + ")"
                       : "add(" + other.name + ", " + current.name + ")";
    }
    text += "  " + name + " = " + expr + "\n";
    current = {name, width};
    values.push_back(current);
  }
  if (allowSoftmax && rng() % 5 == 0) {
    text += "  sm = softmax(" + current.name + ")\n";
    current = {"sm", current.width};
  }
  text += "  output " + current.name + "\n}\n";
  return text;
}

/// Random parameters: dense weights uniform in ±1/sqrt(in) with some exact zeros, biases
/// likewise, prelu slopes in [-3, 3] per channel, or one shared slope.
inline ir::ParameterValues randomParameters(const ir::Graph &graph, std::mt19937_64 &rng) {
  ir::ParameterValues values;
  for (const ir::ParameterSpec &spec : ir::parameterSpecs(graph)) {
    int64_t n = 1;
    for (int64_t d : spec.shape)
      n *= d;
    const ir::Node &user = graph.node(spec.user);
    std::vector<float> data;
    if (user.op == ir::Op::Dense) {
      float bound = 1.0f / std::sqrt(static_cast<float>(graph.node(user.operands[0]).width));
      std::uniform_real_distribution<float> u(-bound, bound);
      for (int64_t i = 0; i < n; ++i)
        data.push_back(rng() % 16 == 0 ? 0.0f : u(rng));
    } else {
      std::uniform_real_distribution<float> u(-3.0f, 3.0f);
      int64_t count = spec.sharedAllowed && rng() % 3 == 0 ? 1 : n;
      for (int64_t i = 0; i < count; ++i)
        data.push_back(u(rng));
    }
    values.values.emplace(spec.key, std::move(data));
  }
  return values;
}

/// Inputs in about [-2, 2]; with `specials`, about one element in eight is NaN, ±inf,
/// ±0, a subnormal or huge.
inline std::vector<float> randomInput(std::mt19937_64 &rng, size_t n, bool specials) {
  static const float kSpecials[] = {std::numeric_limits<float>::quiet_NaN(),
                                    -std::numeric_limits<float>::quiet_NaN(),
                                    std::numeric_limits<float>::infinity(),
                                    -std::numeric_limits<float>::infinity(),
                                    0.0f,
                                    -0.0f,
                                    1e-40f,
                                    -1e-42f,
                                    std::numeric_limits<float>::denorm_min(),
                                    std::numeric_limits<float>::min(),
                                    -std::numeric_limits<float>::min(),
                                    3e38f,
                                    -3e38f};
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float &v : x)
    v = specials && rng() % 8 == 0 ? kSpecials[rng() % std::size(kSpecials)] : normal(rng);
  return x;
}

/// Every value of the graph computed as the kernels compute it: dense sums its terms in
/// increasing input index, fused (fma) when the target fuses llvm.fmuladd, then adds the
/// bias; every other op as the reference evaluator defines it. Softmax is computed in
/// double (the kernels' is within 1 ulp of it).
inline std::vector<std::vector<float>> kernelOrderValues(const ir::Graph &graph,
                                                        const ir::ParameterValues &params,
                                                        const std::vector<float> &input,
                                                        int64_t batch, bool fma) {
  size_t rows = static_cast<size_t>(batch);
  std::vector<std::vector<float>> values(graph.nodes.size());
  values[0] = input;
  for (ir::ValueId id = 1; id < graph.nodes.size(); ++id) {
    const ir::Node &node = graph.nodes[id];
    size_t width = static_cast<size_t>(node.width);
    const std::vector<float> &x = values[node.operands[0]];
    size_t in = static_cast<size_t>(graph.node(node.operands[0]).width);
    std::vector<float> &y = values[id];
    y.assign(rows * width, 0.0f);
    switch (node.op) {
    case ir::Op::Dense: {
      const float *w = params.data(node.weightKey());
      const float *bias = node.hasBias() ? params.data(node.biasKey()) : nullptr;
      for (size_t b = 0; b < rows; ++b)
        for (size_t u = 0; u < width; ++u) {
          float acc = 0.0f;
          for (size_t i = 0; i < in; ++i)
            acc = fma ? std::fma(x[b * in + i], w[u * in + i], acc)
                      : acc + x[b * in + i] * w[u * in + i];
          y[b * width + u] = bias ? acc + bias[u] : acc;
        }
      break;
    }
    case ir::Op::Add: {
      const std::vector<float> &other = values[node.operands[1]];
      for (size_t i = 0; i < y.size(); ++i)
        y[i] = x[i] + other[i];
      break;
    }
    case ir::Op::Prelu: {
      const std::vector<float> &slopes = params.at(node.weightKey());
      for (size_t b = 0; b < rows; ++b)
        for (size_t c = 0; c < width; ++c)
          y[b * width + c] = eval::applyActivation(node, x[b * in + c],
                                                   slopes.size() == 1 ? slopes[0] : slopes[c]);
      break;
    }
    case ir::Op::Softmax:
      y = eval::evaluate(
          [&] {
            // A graph of just the softmax, so the evaluator's definition is reused.
            ir::Graph g;
            g.name = "softmax";
            ir::Node in0;
            in0.op = ir::Op::Input;
            in0.width = node.width;
            ir::Node sm = node;
            sm.operands = {0};
            g.nodes = {in0, sm};
            g.output = 1;
            return g;
          }(),
          {}, x.data(), batch);
      break;
    default:
      for (size_t i = 0; i < y.size(); ++i)
        y[i] = eval::applyActivation(node, x[i]);
      break;
    }
  }
  return values;
}

/// Whether the target the JIT compiles for by default fuses multiply-adds.
inline bool hostFusesMultiplyAdd() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("fma");
#else
  return true;
#endif
}

/// An instruction set to test on this host: JIT options and whether it fuses llvm.fmuladd.
struct Isa {
  const char *name;
  backend::CompileOptions options;
  bool fma;
};

/// The host, and on x86-64 the narrower ISAs it can also run (AVX2, SSE2).
inline std::vector<Isa> testIsas() {
  std::vector<Isa> isas = {{"host", {}, hostFusesMultiplyAdd()}};
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    isas.push_back({"x86-64-v3", {.optLevel = 3, .cpu = "x86-64-v3", .features = ""}, true});
  isas.push_back({"x86-64", {.optLevel = 3, .cpu = "x86-64", .features = ""}, false});
#endif
  return isas;
}

} // namespace slope::jittest
