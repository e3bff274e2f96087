#include "compiler/passes/DeadCode.h"

#include <cassert>

namespace slope::passes {

void removeDeadValues(ir::Graph &graph) {
  assert(graph.groups.empty() && "dead-code removal runs before fusion");
  std::vector<bool> live(graph.nodes.size(), false);
  live[0] = true;
  live[graph.output] = true;
  // Operands precede their users, so one backward sweep finds every live value.
  for (size_t id = graph.nodes.size(); id-- > 1;)
    if (live[id])
      for (ir::ValueId operand : graph.nodes[id].operands)
        live[operand] = true;

  std::vector<ir::ValueId> newId(graph.nodes.size());
  std::vector<ir::Node> kept;
  for (size_t id = 0; id < graph.nodes.size(); ++id) {
    if (!live[id])
      continue;
    newId[id] = static_cast<ir::ValueId>(kept.size());
    kept.push_back(std::move(graph.nodes[id]));
    for (ir::ValueId &operand : kept.back().operands)
      operand = newId[operand];
  }
  graph.output = newId[graph.output];
  graph.nodes = std::move(kept);
}

} // namespace slope::passes
