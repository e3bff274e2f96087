#pragma once

#include "compiler/ir/Graph.h"

namespace slope::passes {

/// Groups each dense layer with its bias, a following residual add and the chain of
/// activations after it into one kernel (see the note in the .cpp).
void fuseDenseBiasActivation(ir::Graph &graph);

/// One kernel per node: what `--no-fuse` compiles.
void assignSingleNodeGroups(ir::Graph &graph);

} // namespace slope::passes
