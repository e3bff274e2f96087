// Note on fusion
// ==============
//
// Each op has a fusion kind (Ops.def), as in TVM's fuse_ops: `dense` is
// out-elementwise-fusable (whatever is applied element by element to its result can run
// while the result is still in registers), activations and `add` are elementwise,
// `crelu` is elementwise but widening (it writes two outputs per input, so it can end a
// chain but not continue one), and `softmax` is opaque (it reads a whole row first).
// The bias is not a node of its own: it belongs to its dense.
//
// The pass walks the nodes in order. Each node not yet in a group starts one, and the
// group grows by the node's consumer as long as
//   * the group's last value has exactly one use, and is not the network's output
//     (so no one else needs it in memory), and
//   * that consumer is elementwise (or widening, which then ends the group).
// A residual `add` fuses through its chained operand; its other operand is read from
// memory. The values inside a group never make a pass over memory: only its last value
// is stored (the dense kernel may park a tile's sums in that value's place in L1 for its
// epilogue loop, which overwrites them).
//
// Groups are then ordered by their result. That order is valid: every value a group
// reads from outside is the result of another group (a value inside a group has its
// only use there), and it precedes the reader's result in the node order.
#include "compiler/passes/FuseDenseBiasAct.h"

#include <algorithm>

namespace slope::passes {

namespace {

std::vector<std::vector<ir::ValueId>> usersOf(const ir::Graph &graph) {
  std::vector<std::vector<ir::ValueId>> users(graph.nodes.size());
  for (ir::ValueId id = 0; id < graph.nodes.size(); ++id)
    for (ir::ValueId operand : graph.nodes[id].operands)
      if (users[operand].empty() || users[operand].back() != id)
        users[operand].push_back(id);
  return users;
}

/// How many times a value is read (an op reading it twice counts twice).
std::vector<unsigned> useCounts(const ir::Graph &graph) {
  std::vector<unsigned> uses(graph.nodes.size(), 0);
  for (const ir::Node &node : graph.nodes)
    for (ir::ValueId operand : node.operands)
      ++uses[operand];
  ++uses[graph.output];
  return uses;
}

void orderByResult(ir::Graph &graph) {
  std::sort(graph.groups.begin(), graph.groups.end(),
            [](const ir::FusionGroup &a, const ir::FusionGroup &b) { return a.result() < b.result(); });
}

} // namespace

void fuseDenseBiasActivation(ir::Graph &graph) {
  std::vector<std::vector<ir::ValueId>> users = usersOf(graph);
  std::vector<unsigned> uses = useCounts(graph);
  std::vector<bool> grouped(graph.nodes.size(), false);
  graph.groups.clear();
  for (ir::ValueId id = 1; id < graph.nodes.size(); ++id) {
    if (grouped[id])
      continue;
    ir::FusionGroup group{{id}};
    grouped[id] = true;
    while (true) {
      ir::ValueId tail = group.result();
      ir::FusionKind tailKind = ir::opInfo(graph.node(tail).op).fusion;
      if (tailKind == ir::FusionKind::Opaque || tailKind == ir::FusionKind::Widening)
        break;
      if (uses[tail] != 1 || users[tail].size() != 1)
        break;
      ir::ValueId user = users[tail].front();
      ir::FusionKind userKind = ir::opInfo(graph.node(user).op).fusion;
      if (grouped[user] ||
          (userKind != ir::FusionKind::Elementwise && userKind != ir::FusionKind::Widening))
        break;
      group.nodes.push_back(user);
      grouped[user] = true;
    }
    graph.groups.push_back(std::move(group));
  }
  orderByResult(graph);
}

void assignSingleNodeGroups(ir::Graph &graph) {
  graph.groups.clear();
  for (ir::ValueId id = 1; id < graph.nodes.size(); ++id)
    graph.groups.push_back({{id}});
}

} // namespace slope::passes
