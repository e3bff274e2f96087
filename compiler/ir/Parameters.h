// The parameter values a network runs with, checked against what its graph reads.
#pragma once

#include "compiler/ir/Graph.h"

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace slope::runtime {
struct Tensor;
}

namespace slope::ir {

/// Parameter values by key, each a dense row-major f32 array of its spec's shape (a
/// shared prelu slope is one element).
struct ParameterValues {
  std::map<std::string, std::vector<float>, std::less<>> values;

  const std::vector<float> &at(std::string_view key) const;
  const float *data(std::string_view key) const { return at(key).data(); }
};

/// A user error in the weights: names the file, the key, and what was expected.
class ParameterError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Checks `tensors` (as loaded from `fileName`) against the graph's parameter specs.
/// Throws ParameterError for a missing key or a wrong shape; tensors the graph does not
/// read are returned in `unused`, for a warning.
ParameterValues bindParameters(const Graph &graph,
                               const std::vector<std::pair<std::string, runtime::Tensor>> &tensors,
                               const std::string &fileName, std::vector<std::string> *unused);

/// Deterministic random parameters for `--random-weights SEED`: weights and biases
/// uniform in ±1/sqrt(in) as PyTorch's nn.Linear initializes them, prelu slopes 0.25.
ParameterValues randomParameters(const Graph &graph, uint64_t seed);

} // namespace slope::ir
