// The pass pipeline from the graph Lower builds to the fused graph code generation
// reads. Pipeline.cpp is a flat list of passes, each optionally followed by a dump.
#pragma once

#include "compiler/ir/Graph.h"

#include <functional>
#include <string_view>

namespace slope::passes {

struct PipelineOptions {
  /// Fuse dense layers with their bias, residual add and activations. Off, every node
  /// is a kernel of its own (`--no-fuse`), which must compute the same bits.
  bool fuse = true;
  /// Called after each pass with its name and the graph it produced.
  std::function<void(std::string_view pass, const ir::Graph &)> dump;
};

/// Removes dead values, verifies, and fills `graph.groups`.
void runPipeline(ir::Graph &graph, const PipelineOptions &options = {});

} // namespace slope::passes
