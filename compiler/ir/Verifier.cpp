#include "compiler/ir/Verifier.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace slope::ir {

namespace {
[[noreturn]] void fail(const Graph &graph, const std::string &what) {
  fmt::print(stderr, "internal error: IR verification failed: {}\n{}", what, print(graph));
  std::abort();
}
} // namespace

void verify(const Graph &graph) {
  auto check = [&](bool ok, fmt::string_view format, auto &&...args) {
    if (!ok)
      fail(graph, fmt::vformat(format, fmt::make_format_args(args...)));
  };
  check(!graph.nodes.empty() && graph.nodes[0].op == Op::Input, "nodes[0] is not the input");
  check(graph.output < graph.nodes.size(), "output {} out of range", graph.output);
  for (ValueId id = 0; id < graph.nodes.size(); ++id) {
    const Node &node = graph.nodes[id];
    const OpInfo &info = opInfo(node.op);
    check(id == 0 || node.op != Op::Input, "second input at {}", id);
    check(node.operands.size() == info.operands, "{} has {} operands", node.name,
          node.operands.size());
    check(node.attrs.size() == info.attrs.size(), "{} has {} attributes", node.name,
          node.attrs.size());
    check(node.width >= 1, "{} has width {}", node.name, node.width);
    check((info.parameters == ParameterKind::None) == node.parameterPrefix.empty(),
          "{}: parameter prefix '{}' does not match its op", node.name, node.parameterPrefix);
    for (ValueId operand : node.operands)
      check(operand < id, "{} reads {} before it is defined", node.name, operand);
    int64_t in = node.operands.empty() ? 0 : graph.node(node.operands[0]).width;
    switch (node.op) {
    case Op::Input:
      break;
    case Op::Dense:
      check(node.width == node.units(), "{}: width is not units", node.name);
      break;
    case Op::Add:
      check(in == node.width && graph.node(node.operands[1]).width == node.width,
            "{}: add of unequal widths", node.name);
      break;
    case Op::Crelu:
      check(node.width == 2 * in, "{}: crelu width is not twice its input", node.name);
      break;
    default:
      check(node.width == in, "{}: width differs from its operand", node.name);
      break;
    }
  }
  if (graph.groups.empty())
    return;
  std::vector<int> seen(graph.nodes.size(), 0);
  for (const FusionGroup &group : graph.groups) {
    check(!group.nodes.empty(), "empty fusion group");
    for (size_t i = 0; i < group.nodes.size(); ++i) {
      ValueId id = group.nodes[i];
      check(id < graph.nodes.size(), "group node {} out of range", id);
      ++seen[id];
      if (i == 0)
        continue;
      const Node &node = graph.node(id);
      FusionKind kind = opInfo(node.op).fusion;
      check(kind == FusionKind::Elementwise ||
                (kind == FusionKind::Widening && i + 1 == group.nodes.size()),
            "{} cannot continue a fused chain", node.name);
      bool readsPrevious = false;
      for (ValueId operand : node.operands)
        readsPrevious |= operand == group.nodes[i - 1];
      check(readsPrevious, "{} does not read its predecessor in its group", node.name);
    }
  }
  for (ValueId id = 0; id < graph.nodes.size(); ++id)
    check(seen[id] == (id == 0 ? 0 : 1),
          "{} is in {} groups", graph.nodes[id].name, seen[id]);
}

} // namespace slope::ir
