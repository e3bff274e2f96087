#include "compiler/ir/Graph.h"

#include <array>
#include <cassert>
#include <cmath>

namespace slope::ir {

namespace {

constexpr size_t kOpCount = 0
#define SLOPE_OP(Id, Spelling, Operands, Fusion, Parameters) +1
#include "compiler/ir/Ops.def"
    ;

struct AttrRow {
  Op op;
  AttrInfo info;
};

constexpr AttrRow kAttrRows[] = {
#define SLOPE_OP_ATTR(Id, Name, Type, Default) {Op::Id, {#Name, AttrType::Type, Default}},
#include "compiler/ir/Ops.def"
};

/// The attribute rows of each op, contiguous in Ops.def order.
std::span<const AttrInfo> attrsOf(Op op) {
  static const auto table = [] {
    std::array<std::vector<AttrInfo>, kOpCount> t;
    for (const AttrRow &row : kAttrRows)
      t[static_cast<size_t>(row.op)].push_back(row.info);
    return t;
  }();
  return table[static_cast<size_t>(op)];
}

const std::array<OpInfo, kOpCount> &opTable() {
  static const std::array<OpInfo, kOpCount> table = {{
#define SLOPE_OP(Id, Spelling, Operands, Fusion, Parameters)                                 \
  {Spelling, Operands, FusionKind::Fusion, ParameterKind::Parameters, attrsOf(Op::Id)},
#include "compiler/ir/Ops.def"
  }};
  return table;
}

} // namespace

const OpInfo &opInfo(Op op) { return opTable()[static_cast<size_t>(op)]; }

std::string_view opName(Op op) { return opInfo(op).spelling; }

std::optional<Op> lookupOp(std::string_view spelling) {
  for (size_t i = 0; i < kOpCount; ++i) {
    Op op = static_cast<Op>(i);
    if (op != Op::Input && opInfo(op).spelling == spelling)
      return op;
  }
  return std::nullopt;
}

std::span<const std::string_view> callableOpNames() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (size_t i = 0; i < kOpCount; ++i)
      if (static_cast<Op>(i) != Op::Input)
        v.push_back(opInfo(static_cast<Op>(i)).spelling);
    return v;
  }();
  return names;
}

bool isActivation(Op op) {
  const OpInfo &info = opInfo(op);
  return info.operands == 1 &&
         (info.fusion == FusionKind::Elementwise || info.fusion == FusionKind::Widening);
}

std::optional<size_t> attrIndex(Op op, std::string_view name) {
  std::span<const AttrInfo> attrs = opInfo(op).attrs;
  for (size_t i = 0; i < attrs.size(); ++i)
    if (attrs[i].name == name)
      return i;
  return std::nullopt;
}

int64_t Node::units() const {
  assert(op == Op::Dense && "units() of a non-dense node");
  return intAttr(0);
}

bool Node::hasBias() const {
  assert(op == Op::Dense && "hasBias() of a non-dense node");
  return boolAttr(1);
}

float Node::alpha() const {
  assert((op == Op::LeakyRelu || op == Op::Elu) && "alpha() of a node without alpha");
  return f32Attr(0);
}

float Node::ceiling() const {
  if (op == Op::Relu6)
    return 6.0f;
  assert(op == Op::ClippedRelu && "ceiling() of a node without a ceiling");
  return f32Attr(0);
}

const Graph *Module::find(std::string_view name) const {
  for (const Graph &g : networks)
    if (g.name == name)
      return &g;
  return nullptr;
}

std::vector<ParameterSpec> parameterSpecs(const Graph &graph) {
  std::vector<ParameterSpec> specs;
  for (ValueId id = 0; id < graph.nodes.size(); ++id) {
    const Node &node = graph.nodes[id];
    switch (opInfo(node.op).parameters) {
    case ParameterKind::None:
      break;
    case ParameterKind::WeightAndBias: {
      int64_t in = graph.node(node.operands[0]).width;
      specs.push_back({node.weightKey(), {node.width, in}, id});
      if (node.hasBias())
        specs.push_back({node.biasKey(), {node.width}, id});
      break;
    }
    case ParameterKind::ChannelWeight:
      specs.push_back({node.weightKey(), {node.width}, id, /*sharedAllowed=*/true});
      break;
    }
  }
  return specs;
}

} // namespace slope::ir
