#include "compiler/ir/Parameters.h"

#include "runtime/Tensor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cassert>
#include <cmath>

namespace slope::ir {

namespace {

std::string shapeText(const std::vector<int64_t> &shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::string expectedShapes(const ParameterSpec &spec) {
  return spec.sharedAllowed ? fmt::format("{} or [1]", shapeText(spec.shape)) : shapeText(spec.shape);
}

int64_t elementsOf(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// splitmix64: small, fast, and the same on every platform.
struct Random {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [-bound, bound).
  float uniform(float bound) {
    double unit = static_cast<double>(next() >> 11) * 0x1.0p-53;
    return static_cast<float>((2.0 * unit - 1.0) * bound);
  }
};

} // namespace

const std::vector<float> &ParameterValues::at(std::string_view key) const {
  auto it = values.find(key);
  assert(it != values.end() && "parameter not bound");
  return it->second;
}

ParameterValues bindParameters(const Graph &graph,
                               const std::vector<std::pair<std::string, runtime::Tensor>> &tensors,
                               const std::string &fileName, std::vector<std::string> *unused) {
  std::map<std::string_view, const runtime::Tensor *> byKey;
  for (const auto &[key, tensor] : tensors)
    byKey.emplace(key, &tensor);

  ParameterValues bound;
  for (const ParameterSpec &spec : parameterSpecs(graph)) {
    auto it = byKey.find(spec.key);
    if (it == byKey.end())
      throw ParameterError(fmt::format("{}: missing tensor '{}'; network '{}' reads it with shape {}",
                                       fileName, spec.key, graph.name, expectedShapes(spec)));
    const runtime::Tensor &tensor = *it->second;
    bool shared = spec.sharedAllowed && tensor.shape == std::vector<int64_t>{1};
    if (tensor.shape != spec.shape && !shared)
      throw ParameterError(fmt::format("{}: tensor '{}' has shape {}; expected {}", fileName,
                                       spec.key, shapeText(tensor.shape), expectedShapes(spec)));
    bound.values.emplace(spec.key, tensor.data);
  }
  if (unused)
    for (const auto &[key, tensor] : tensors)
      if (!bound.values.count(key))
        unused->push_back(key);
  return bound;
}

ParameterValues randomParameters(const Graph &graph, uint64_t seed) {
  ParameterValues bound;
  Random random{seed};
  for (const ParameterSpec &spec : parameterSpecs(graph)) {
    std::vector<float> values(static_cast<size_t>(elementsOf(spec.shape)));
    const Node &user = graph.node(spec.user);
    if (user.op == Op::Dense) {
      float bound = 1.0f / std::sqrt(static_cast<float>(graph.node(user.operands[0]).width));
      for (float &v : values)
        v = random.uniform(bound);
    } else {
      std::fill(values.begin(), values.end(), 0.25f);
    }
    bound.values.emplace(spec.key, std::move(values));
  }
  return bound;
}

} // namespace slope::ir
