// The reference evaluator: the graph IR's semantics (compiler/ir/Graph.h) written as
// plainly as possible, one op at a time, in scalar code. It is the oracle compiled code
// is tested against, and `slope run --reference` uses it directly.
#pragma once

#include "compiler/ir/Graph.h"
#include "compiler/ir/Parameters.h"

#include <cstdint>
#include <vector>

namespace slope::eval {

/// Evaluates the graph on `batch` rows of `graph.inputWidth()` floats and returns
/// `batch * graph.outputWidth()` floats. Ignores fusion groups.
std::vector<float> evaluate(const ir::Graph &graph, const ir::ParameterValues &parameters,
                            const float *input, int64_t batch);

/// One activation applied to one element, exactly as the evaluator computes it.
/// `slope` is prelu's channel slope (unused by the other ops).
float applyActivation(const ir::Node &node, float x, float slope = 0.0f);

} // namespace slope::eval
