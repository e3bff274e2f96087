#include "compiler/ir/Graph.h"

#include <fmt/format.h>

namespace slope::ir {

namespace {

std::string attrText(const AttrInfo &info, double value) {
  switch (info.type) {
  case AttrType::Int:
    return fmt::format("{}", static_cast<int64_t>(value));
  case AttrType::Float:
    return fmt::format("{}", value);
  case AttrType::Bool:
    return value != 0 ? "true" : "false";
  case AttrType::Approximation:
    return value == 0 ? "\"none\"" : "\"tanh\"";
  }
  return "?";
}

std::string nodeText(const Graph &graph, const Node &node) {
  std::string args;
  for (ValueId operand : node.operands)
    args += fmt::format("{}{}", args.empty() ? "" : ", ", graph.node(operand).name);
  std::span<const AttrInfo> attrs = opInfo(node.op).attrs;
  for (size_t i = 0; i < attrs.size(); ++i)
    args += fmt::format(", {} = {}", attrs[i].name, attrText(attrs[i], node.attrs[i]));
  std::string text = fmt::format("{}: f32[{}] = {}({})", node.name, node.width, opName(node.op), args);
  switch (opInfo(node.op).parameters) {
  case ParameterKind::None:
    break;
  case ParameterKind::WeightAndBias:
    text += node.hasBias() ? fmt::format("  reads {}, {}", node.weightKey(), node.biasKey())
                           : fmt::format("  reads {}", node.weightKey());
    break;
  case ParameterKind::ChannelWeight:
    text += fmt::format("  reads {}", node.weightKey());
    break;
  }
  return text;
}

} // namespace

std::string print(const Graph &graph) {
  const Node &input = graph.nodes.front();
  std::string out = fmt::format("network {}({}: f32[{}]) -> f32[{}] {{\n", graph.name, input.name,
                                input.width, graph.outputWidth());
  for (size_t i = 1; i < graph.nodes.size(); ++i)
    out += fmt::format("  {}\n", nodeText(graph, graph.nodes[i]));
  out += fmt::format("  output {}\n", graph.node(graph.output).name);
  if (!graph.groups.empty()) {
    // The fusion report: which source values each kernel computes, and the one it stores.
    out += "\n  kernels:\n";
    for (size_t k = 0; k < graph.groups.size(); ++k) {
      const FusionGroup &group = graph.groups[k];
      std::string ops, names;
      for (ValueId id : group.nodes) {
        ops += fmt::format("{}{}", ops.empty() ? "" : " + ", opName(graph.node(id).op));
        names += fmt::format("{}{}", names.empty() ? "" : ", ", graph.node(id).name);
      }
      const Node &result = graph.node(group.result());
      out += fmt::format("    #{} {}  [{}] -> {}: f32[{}]\n", k, ops, names, result.name,
                         result.width);
    }
  }
  out += "}\n";
  return out;
}

std::string print(const Module &module) {
  std::string out;
  for (const Graph &graph : module.networks)
    out += (out.empty() ? "" : "\n") + print(graph);
  return out;
}

} // namespace slope::ir
