#include "frontend/Lower.h"

#include "frontend/Parser.h"

#include <cmath>
#include <map>
#include <unordered_map>

namespace slope {

namespace {

using ir::Op;
using ir::ValueId;

/// The names an op's operands go by in messages.
std::string_view operandName(const ir::OpInfo &info, size_t i) {
  if (info.operands == 1)
    return "x";
  return i == 0 ? "a" : "b";
}

std::string describeLiteral(const ast::Arg &arg) {
  switch (arg.kind) {
  case ast::Arg::Kind::Number:
    return arg.text;
  case ast::Arg::Kind::Bool:
    return arg.boolean ? "`true`" : "`false`";
  case ast::Arg::Kind::String:
    return fmt::format("\"{}\"", arg.text);
  case ast::Arg::Kind::Name:
    return fmt::format("value '{}'", arg.text);
  case ast::Arg::Kind::Call:
    return "an operation call";
  case ast::Arg::Kind::Invalid:
    break;
  }
  return "an invalid token";
}

class NetworkLowering {
public:
  NetworkLowering(const ast::Network &network, DiagnosticEngine &diags)
      : network_(network), diags_(diags), source_(diags.source()) {}

  std::optional<ir::Graph> run() {
    size_t errorsBefore = diags_.errorCount();
    graph_.name = network_.name;
    graph_.nameRange = network_.nameRange;
    // nodes[0] is the input; a placeholder until its statement is seen.
    graph_.nodes.emplace_back();
    const ast::Stmt *input = nullptr;
    const ast::Stmt *output = nullptr;
    for (const ast::Stmt &stmt : network_.stmts) {
      switch (stmt.kind) {
      case ast::Stmt::Kind::Input:
        if (input) {
          diags_.report(DiagKind::DuplicateInput, stmt.range, network_.name, lineOf(input->range));
          break;
        }
        input = &stmt;
        if (stmt.broken)
          define(stmt.name, stmt.nameRange, std::nullopt);
        else
          lowerInput(stmt);
        break;
      case ast::Stmt::Kind::Assign:
        lowerAssign(stmt);
        break;
      case ast::Stmt::Kind::Output:
        if (output) {
          diags_.report(DiagKind::DuplicateOutput, stmt.range, network_.name, lineOf(output->range));
          break;
        }
        output = &stmt;
        if (std::optional<ValueId> id = resolve(stmt.name, stmt.nameRange))
          graph_.output = *id;
        break;
      }
    }
    if (!input && !network_.skippedTokens)
      diags_.report(DiagKind::MissingInput, network_.nameRange, network_.name);
    if (!output && !network_.skippedTokens)
      diags_.report(DiagKind::MissingOutput, network_.nameRange, network_.name);
    if (diags_.errorCount() != errorsBefore)
      return std::nullopt;
    checkParameterCount();
    if (diags_.errorCount() != errorsBefore)
      return std::nullopt;
    return std::move(graph_);
  }

private:
  /// A name in scope: the value it is bound to, or none when its definition failed (so
  /// that its uses report nothing more).
  struct Binding {
    std::optional<ValueId> value;
    SourceRange range;
  };

  uint32_t lineOf(SourceRange range) const { return source_.lineColumn(range.offset).line; }

  bool define(const std::string &name, SourceRange range, std::optional<ValueId> value) {
    auto [it, inserted] = scope_.try_emplace(name, Binding{value, range});
    if (!inserted) {
      diags_.report(DiagKind::Redefinition, range, name, lineOf(it->second.range));
      return false;
    }
    names_.push_back(name);
    return true;
  }

  std::optional<ValueId> resolve(const std::string &name, SourceRange range) {
    auto it = scope_.find(name);
    if (it != scope_.end())
      return it->second.value;
    std::vector<std::string_view> candidates(names_.begin(), names_.end());
    diags_.report(DiagKind::UndefinedValue, range, name, didYouMean(name, candidates));
    return std::nullopt;
  }

  void lowerInput(const ast::Stmt &stmt) {
    double width = stmt.width;
    if (!(width >= 1 && width <= double(kMaxWidth)) || width != std::floor(width)) {
      diags_.report(DiagKind::InputWidthOutOfRange, stmt.widthRange, kMaxWidth,
                    source_.slice(stmt.widthRange));
      width = 1;
    }
    ir::Node &node = graph_.nodes[0];
    node.name = stmt.name;
    node.width = static_cast<int64_t>(width);
    node.range = stmt.range;
    define(stmt.name, stmt.nameRange, ValueId{0});
  }

  void lowerAssign(const ast::Stmt &stmt) {
    statement_ = &stmt;
    nestedCount_ = 0;
    unnamedParametric_.clear();
    std::optional<ValueId> value;
    if (!stmt.broken)
      value = lowerCall(*stmt.value, /*isRoot=*/true);
    define(stmt.name, stmt.nameRange, value);
  }

  std::optional<ValueId> lowerCall(const ast::Call &call, bool isRoot) {
    std::optional<Op> op = ir::lookupOp(call.callee);
    if (!op) {
      reportUnknownOperation(call);
      // Still check the arguments: their errors are independent of this one.
      for (const ast::Arg &arg : call.args)
        if (arg.kind == ast::Arg::Kind::Call)
          lowerCall(*arg.call, false);
        else if (arg.kind == ast::Arg::Kind::Name)
          resolve(arg.text, arg.range);
      return std::nullopt;
    }
    const ir::OpInfo &info = ir::opInfo(*op);
    const size_t slotCount = info.operands + info.attrs.size();
    std::vector<const ast::Arg *> slots(slotCount, nullptr);
    const ast::Arg *nameArg = nullptr;
    bool ok = true;

    size_t positional = 0;
    for (const ast::Arg &arg : call.args) {
      if (arg.kind == ast::Arg::Kind::Invalid)
        ok = false; // diagnosed by the lexer
      if (!arg.keyword) {
        if (positional >= slotCount) {
          if (positional == slotCount)
            diags_.report(DiagKind::TooManyArguments, arg.range, info.spelling, slotCount,
                          slotCount == 1 ? "" : "s", countPositional(call));
          ++positional;
          ok = false;
          continue;
        }
        slots[positional++] = &arg;
        continue;
      }
      const std::string &keyword = *arg.keyword;
      if (keyword == "name") {
        if (info.parameters == ir::ParameterKind::None) {
          diags_.report(DiagKind::NameWithoutParameters, arg.keywordRange, info.spelling);
          ok = false;
        } else if (nameArg) {
          diags_.report(DiagKind::DuplicateArgument, arg.keywordRange, keyword, info.spelling);
          ok = false;
        } else {
          nameArg = &arg;
        }
        continue;
      }
      std::optional<size_t> index = ir::attrIndex(*op, keyword);
      if (!index) {
        std::vector<std::string_view> known;
        for (const ir::AttrInfo &attr : info.attrs)
          known.push_back(attr.name);
        if (info.parameters != ir::ParameterKind::None)
          known.push_back("name");
        diags_.report(DiagKind::UnknownArgument, arg.keywordRange, info.spelling, keyword,
                      didYouMean(keyword, known));
        ok = false;
        continue;
      }
      size_t slot = info.operands + *index;
      if (slots[slot]) {
        diags_.report(DiagKind::DuplicateArgument, arg.keywordRange, keyword, info.spelling);
        ok = false;
        continue;
      }
      slots[slot] = &arg;
    }

    ir::Node node;
    node.op = *op;
    // Operands.
    for (size_t i = 0; i < info.operands; ++i) {
      const ast::Arg *arg = slots[i];
      if (!arg) {
        diags_.report(DiagKind::MissingArgument, call.range, info.spelling, operandName(info, i));
        ok = false;
        continue;
      }
      std::optional<ValueId> value;
      if (arg->kind == ast::Arg::Kind::Call) {
        value = lowerCall(*arg->call, false);
      } else if (arg->kind == ast::Arg::Kind::Name) {
        value = resolve(arg->text, arg->range);
      } else if (arg->kind != ast::Arg::Kind::Invalid) {
        diags_.report(DiagKind::ArgumentKind, arg->range, operandName(info, i), info.spelling,
                      "a value", describeLiteral(*arg));
      }
      if (!value) {
        ok = false;
        continue;
      }
      node.operands.push_back(*value);
    }
    // Attributes.
    for (size_t i = 0; i < info.attrs.size(); ++i) {
      std::optional<double> value = attributeValue(info, info.attrs[i], slots[info.operands + i], call);
      if (!value) {
        ok = false;
        continue;
      }
      node.attrs.push_back(*value);
    }
    // Parameters.
    if (info.parameters != ir::ParameterKind::None) {
      if (nameArg) {
        if (nameArg->kind != ast::Arg::Kind::String) {
          diags_.report(DiagKind::ArgumentKind, nameArg->range, "name", info.spelling, "a string",
                        describeLiteral(*nameArg));
          ok = false;
        } else if (nameArg->text.empty()) {
          diags_.report(DiagKind::EmptyParameterName, nameArg->range);
          ok = false;
        } else {
          node.parameterPrefix = nameArg->text;
        }
      } else {
        unnamedParametric_.push_back(&call);
        if (unnamedParametric_.size() == 2) {
          diags_.report(DiagKind::TwoParametricOperations, call.calleeRange, statement_->name);
          ok = false;
        }
        node.parameterPrefix = statement_->name;
      }
      if (ok)
        claimParameterPrefix(node.parameterPrefix, nameArg ? nameArg->range : call.calleeRange);
    }
    if (!ok)
      return std::nullopt;
    if (!inferWidth(node, call))
      return std::nullopt;
    node.range = call.range;
    node.name = isRoot ? statement_->name : fmt::format("{}/{}", statement_->name, ++nestedCount_);
    graph_.nodes.push_back(std::move(node));
    return static_cast<ValueId>(graph_.nodes.size() - 1);
  }

  static size_t countPositional(const ast::Call &call) {
    size_t n = 0;
    for (const ast::Arg &arg : call.args)
      n += arg.keyword ? 0 : 1;
    return n;
  }

  void reportUnknownOperation(const ast::Call &call) {
    std::optional<std::string_view> guess = closestSpelling(call.callee, ir::callableOpNames());
    if (guess && ir::isActivation(*ir::lookupOp(*guess))) {
      diags_.report(DiagKind::UnknownActivation, call.calleeRange, call.callee, *guess);
      return;
    }
    diags_.report(DiagKind::UnknownOperation, call.calleeRange, call.callee,
                  guess ? fmt::format("; did you mean '{}'?", *guess) : std::string());
  }

  std::optional<double> attributeValue(const ir::OpInfo &info, const ir::AttrInfo &attr,
                                       const ast::Arg *arg, const ast::Call &call) {
    if (!arg) {
      if (std::isnan(attr.defaultValue)) {
        diags_.report(DiagKind::MissingArgument, call.range, info.spelling, attr.name);
        return std::nullopt;
      }
      return attr.defaultValue;
    }
    using Kind = ast::Arg::Kind;
    if (arg->kind == Kind::Invalid)
      return std::nullopt;
    auto wrongKind = [&](std::string_view expected) -> std::optional<double> {
      diags_.report(DiagKind::ArgumentKind, arg->range, attr.name, info.spelling, expected,
                    describeLiteral(*arg));
      return std::nullopt;
    };
    auto outOfRange = [&](std::string_view expected) -> std::optional<double> {
      diags_.report(DiagKind::ArgumentOutOfRange, arg->range, attr.name, info.spelling, expected,
                    describeLiteral(*arg));
      return std::nullopt;
    };
    switch (attr.type) {
    case ir::AttrType::Int: {
      if (arg->kind != Kind::Number || arg->number != std::floor(arg->number))
        return wrongKind("an integer");
      if (arg->number < 1 || arg->number > double(kMaxWidth))
        return outOfRange(fmt::format("between 1 and {}", kMaxWidth));
      return arg->number;
    }
    case ir::AttrType::Float: {
      if (arg->kind != Kind::Number)
        return wrongKind("a number");
      // Used as f32: it must stay finite when rounded.
      if (!std::isfinite(static_cast<float>(arg->number)))
        return outOfRange("a finite f32 number");
      // softplus divides by beta as an f32: it must not round to zero either.
      if (attr.name == "beta" && static_cast<float>(arg->number) == 0.0f)
        return outOfRange("a finite number that is non-zero in f32");
      return arg->number;
    }
    case ir::AttrType::Bool:
      if (arg->kind != Kind::Bool)
        return wrongKind("`true` or `false`");
      return arg->boolean ? 1.0 : 0.0;
    case ir::AttrType::Approximation:
      if (arg->kind != Kind::String)
        return wrongKind("a string");
      if (arg->text == "none")
        return double(ir::GeluApproximation::None);
      if (arg->text == "tanh")
        return double(ir::GeluApproximation::Tanh);
      return outOfRange("\"none\" or \"tanh\"");
    }
    return std::nullopt;
  }

  void claimParameterPrefix(const std::string &prefix, SourceRange range) {
    auto [it, inserted] = prefixes_.try_emplace(prefix, range);
    if (!inserted)
      diags_.report(DiagKind::DuplicateParameterName, range, prefix, lineOf(it->second));
  }

  bool inferWidth(ir::Node &node, const ast::Call &call) {
    auto widthOf = [&](size_t i) { return graph_.nodes[node.operands[i]].width; };
    switch (node.op) {
    case Op::Input:
      break;
    case Op::Dense:
      node.width = node.units();
      return true;
    case Op::Add: {
      if (widthOf(0) != widthOf(1)) {
        diags_.report(DiagKind::WidthMismatch, call.range, "add", source_.slice(call.args[0].range),
                      widthOf(0), source_.slice(call.args[1].range), widthOf(1));
        return false;
      }
      node.width = widthOf(0);
      return true;
    }
    case Op::Crelu:
      node.width = 2 * widthOf(0);
      if (node.width > kMaxWidth) {
        diags_.report(DiagKind::TooWide, call.range, source_.slice(call.range), node.width,
                      kMaxWidth);
        return false;
      }
      return true;
    default:
      node.width = widthOf(0);
      return true;
    }
    return false;
  }

  void checkParameterCount() {
    int64_t total = 0;
    for (const ir::ParameterSpec &spec : ir::parameterSpecs(graph_)) {
      int64_t n = 1;
      for (int64_t d : spec.shape)
        n *= d; // each dim ≤ 2^20, at most two dims: no overflow
      total += n;
    }
    if (total > kMaxParameters)
      diags_.report(DiagKind::TooManyParameters, network_.nameRange, network_.name, total,
                    kMaxParameters);
  }

  const ast::Network &network_;
  DiagnosticEngine &diags_;
  const Source &source_;
  ir::Graph graph_;
  std::unordered_map<std::string, Binding> scope_;
  std::vector<std::string> names_; // definition order, for suggestions
  std::map<std::string, SourceRange> prefixes_;
  const ast::Stmt *statement_ = nullptr;
  unsigned nestedCount_ = 0;
  std::vector<const ast::Call *> unnamedParametric_;
};

} // namespace

std::optional<ir::Module> lower(const ast::File &file, DiagnosticEngine &diags) {
  size_t errorsBefore = diags.errorCount();
  ir::Module module;
  std::map<std::string, SourceRange> seen;
  for (const ast::Network &network : file.networks) {
    if (network.name.empty())
      continue; // a syntax error, reported already
    auto [it, inserted] = seen.try_emplace(network.name, network.nameRange);
    if (!inserted) {
      diags.report(DiagKind::DuplicateNetwork, network.nameRange, network.name,
                   diags.source().lineColumn(it->second.offset).line);
      continue;
    }
    if (std::optional<ir::Graph> graph = NetworkLowering(network, diags).run())
      module.networks.push_back(std::move(*graph));
  }
  if (file.networks.empty() && !diags.hasErrors())
    diags.report(DiagKind::NoNetwork, SourceRange{0, 0});
  if (diags.errorCount() != errorsBefore)
    return std::nullopt;
  return module;
}

std::optional<ir::Module> compileToIR(const Source &source, DiagnosticEngine &diags) {
  ast::File file = parse(source, diags);
  // Lowering runs even after syntax errors, so that one run reports every error it can.
  std::optional<ir::Module> module = lower(file, diags);
  if (diags.hasErrors())
    return std::nullopt;
  return module;
}

} // namespace slope
