#include "compiler/backend/EmitHeader.h"

#include "compiler/backend/EmitObject.h"
#include "compiler/backend/Jit.h"
#include "slope/slope.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <set>
#include <vector>

namespace slope::backend {

namespace {

bool isAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isAsciiDigit(char c) { return c >= '0' && c <= '9'; }

std::string upperCase(std::string_view s) {
  std::string out(s);
  for (char &c : out)
    if (c >= 'a' && c <= 'z')
      c = static_cast<char>(c - 'a' + 'A');
  return out;
}

/// Text that is safe inside a C block comment on one line: no `*/` or `/*`, no
/// control characters, ASCII only (a file name may hold anything).
std::string commentSafe(std::string_view text) {
  std::string out;
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f)
      out += '?';
    else if ((c == '/' && !out.empty() && out.back() == '*') ||
             (c == '*' && !out.empty() && out.back() == '/'))
      out += std::string(" ") + c;
    else
      out += c;
  }
  return out;
}

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s;
  for (int64_t d : shape)
    s += fmt::format("{}{}", s.empty() ? "" : ", ", d);
  return "[" + s + "]";
}

std::string attrText(const ir::AttrInfo &info, double value) {
  switch (info.type) {
  case ir::AttrType::Int:
    return fmt::format("{}", static_cast<int64_t>(value));
  case ir::AttrType::Float:
    return fmt::format("{}", value);
  case ir::AttrType::Bool:
    return value != 0 ? "true" : "false";
  case ir::AttrType::Approximation:
    return value == 0 ? "\"none\"" : "\"tanh\"";
  }
  return "?";
}

/// `name = op(operands, attrs) -> [width]`, one layer of the comment.
std::string layerText(const ir::Graph &graph, const ir::Node &node) {
  std::string args;
  for (ir::ValueId operand : node.operands)
    args += fmt::format("{}{}", args.empty() ? "" : ", ", graph.node(operand).name);
  std::span<const ir::AttrInfo> attrs = ir::opInfo(node.op).attrs;
  for (size_t i = 0; i < attrs.size() && i < node.attrs.size(); ++i)
    args += fmt::format("{}{} = {}", args.empty() ? "" : ", ", attrs[i].name,
                        attrText(attrs[i], node.attrs[i]));
  return fmt::format("{} = {}({}) -> [{}]", node.name, ir::opName(node.op), args, node.width);
}

/// The activations the network applies, each once, in order of first use.
std::string activationList(const ir::Graph &graph) {
  std::vector<std::string_view> seen;
  for (const ir::Node &node : graph.nodes)
    if (node.op != ir::Op::Input && ir::isActivation(node.op) &&
        std::find(seen.begin(), seen.end(), ir::opName(node.op)) == seen.end())
      seen.push_back(ir::opName(node.op));
  if (seen.empty())
    return "none";
  std::string s;
  for (std::string_view name : seen)
    s += fmt::format("{}{}", s.empty() ? "" : ", ", name);
  return s;
}

/// The live nodes (after dead-code removal every node is; before, the fusion groups
/// say which), in evaluation order.
std::vector<ir::ValueId> liveNodes(const ir::Graph &graph) {
  std::set<ir::ValueId> live;
  for (const ir::FusionGroup &group : graph.groups)
    live.insert(group.nodes.begin(), group.nodes.end());
  std::vector<ir::ValueId> ids;
  for (ir::ValueId id = 1; id < graph.nodes.size(); ++id)
    if (graph.groups.empty() || live.count(id))
      ids.push_back(id);
  return ids;
}

std::string parameterComment(const ir::ParameterSpec &spec) {
  std::string text = commentSafe(spec.key) + " " + shapeText(spec.shape);
  if (spec.sharedAllowed)
    text += fmt::format("; a shared slope is repeated {} times", spec.shape.front());
  return text;
}

} // namespace

std::string parameterFieldName(std::string_view key) {
  std::string name;
  if (key.empty() || isAsciiDigit(key.front()))
    name += 'p';
  for (char c : key) {
    // One `_` per character, as SPEC §5 says: a UTF-8 character's continuation bytes
    // (10xxxxxx) add nothing to its lead byte's.
    if ((static_cast<unsigned char>(c) & 0xC0) == 0x80)
      continue;
    name += isAsciiLetter(c) || isAsciiDigit(c) || c == '_' ? c : '_';
  }
  return name;
}

void checkHeaderNames(const ir::Graph &graph, bool embedded) {
  if (!takesParameterArgument(graph, embedded))
    return;
  std::map<std::string, std::string> keyOfField;
  for (const ir::ParameterSpec &spec : ir::parameterSpecs(graph)) {
    std::string field = parameterFieldName(spec.key);
    auto [it, inserted] = keyOfField.emplace(field, spec.key);
    if (!inserted)
      throw CodegenError(fmt::format(
          "parameters '{}' and '{}' of network '{}' would both be the field `{}` of "
          "`{}_params`; rename one with `name = \"...\"`, or embed the weights with --weights",
          it->second, spec.key, graph.name, field, graph.name));
  }
}

std::string emitHeader(const ir::Graph &graph, const HeaderOptions &options) {
  checkHeaderNames(graph, options.embedded);
  const std::string net = graph.name;
  const std::string NET = upperCase(net);
  // The name as written, not upper-cased: headers of networks `mlp` and `MLP` must not
  // hide each other (their size macros, equal or not, the compiler then checks).
  const std::string guard = "SLOPE_NETWORK_" + net + "_H";
  const bool takesParams = takesParameterArgument(graph, options.embedded);
  std::vector<ir::ParameterSpec> specs = ir::parameterSpecs(graph);
  std::string h;
  auto line = [&h](std::string_view text) {
    h += text;
    h += '\n';
  };

  line(fmt::format("/* Network `{}` of {}, compiled ahead of time by slope {}.", net,
                   commentSafe(options.sourceName), version()));
  line(" * Generated by `slope compile`: regenerate it rather than editing it.");
  line(" *");
  line(fmt::format(" * Target: {}, CPU {}.", commentSafe(options.triple),
                   commentSafe(options.cpu)));
  if (specs.empty())
    line(" * Parameters: none.");
  else if (options.embedded)
    line(fmt::format(" * Parameters: embedded in the object, from {}.",
                     commentSafe(options.weightsName)));
  else
    line(fmt::format(" * Parameters: passed in `{}_params`.", net));
  line(" *");
  line(" * Layers, in evaluation order ([n]: floats per sample):");
  const ir::Node &input = graph.nodes.front();
  line(fmt::format(" *   {} = input -> [{}]", input.name, input.width));
  for (ir::ValueId id : liveNodes(graph)) {
    const ir::Node &node = graph.node(id);
    std::string reads;
    for (const ir::ParameterSpec &spec : specs)
      if (spec.user == id)
        reads += fmt::format("{}{} {}", reads.empty() ? "  reads " : ", ", commentSafe(spec.key),
                             shapeText(spec.shape));
    line(" *   " + layerText(graph, node) + reads);
  }
  line(fmt::format(" *   output {}", graph.node(graph.output).name));
  line(fmt::format(" * Activations: {}.", activationList(graph)));
  line(" */");
  line(fmt::format("#ifndef {}", guard));
  line(fmt::format("#define {}", guard));
  line("");
  line("#include <stdint.h>");
  line("");
  line("#ifdef __cplusplus");
  line("extern \"C\" {");
  line("#endif");
  line("");
  line(fmt::format("#define {}_INPUT_SIZE {}", NET, graph.inputWidth()));
  line(fmt::format("#define {}_OUTPUT_SIZE {}", NET, graph.outputWidth()));
  line("");
  if (takesParams) {
    line("/* One pointer per parameter, in source order, each to row-major floats of the");
    line("   shape shown (PyTorch's layout: a dense weight is [units, in]). */");
    line(fmt::format("typedef struct {}_params {{", net));
    for (const ir::ParameterSpec &spec : specs)
      line(fmt::format("  const float *{}; /* {} */", parameterFieldName(spec.key),
                       parameterComment(spec)));
    line(fmt::format("}} {}_params;", net));
    line("");
  }
  line(fmt::format("/* input: batch*{0}_INPUT_SIZE floats, output: batch*{0}_OUTPUT_SIZE floats.",
                   NET));
  line("   Returns 0 on success, non-zero for a bad argument (e.g. batch < 0 or a null pointer).");
  line("   In detail: 1 for batch < 0 (or so large that batch rows' bytes overflow int64_t),");
  line("   2 for a null pointer when batch > 0, 3 when the scratch memory cannot be");
  line("   allocated; nothing is written then. input and output must not overlap.");
  line("   Reentrant and thread-safe: it keeps no state between calls. */");
  if (takesParams)
    line(fmt::format("int {0}_forward(const {0}_params *params, const float *input, float *output, "
                     "int64_t batch);",
                     net));
  else
    line(fmt::format("int {}_forward(const float *input, float *output, int64_t batch);", net));
  line("");
  line("#ifdef __cplusplus");
  line("} /* extern \"C\" */");
  line("#endif");
  line("");
  line(fmt::format("#endif /* {} */", guard));
  return h;
}

} // namespace slope::backend
