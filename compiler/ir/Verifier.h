// Checks the graph IR's invariants. A failure is a compiler bug, never a user error: it
// aborts with the broken invariant and the printed graph.
#pragma once

#include "compiler/ir/Graph.h"

namespace slope::ir {

void verify(const Graph &graph);

} // namespace slope::ir
