#pragma once

#include "compiler/ir/Graph.h"

namespace slope::passes {

/// Removes the values the output does not depend on (the input always stays).
void removeDeadValues(ir::Graph &graph);

} // namespace slope::passes
