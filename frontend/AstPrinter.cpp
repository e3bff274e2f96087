#include "frontend/Ast.h"

#include <fmt/format.h>

namespace slope::ast {

namespace {

class Printer {
public:
  explicit Printer(const Source &source) : source_(source) {}

  std::string run(const File &file) {
    for (const Network &network : file.networks) {
      line(0, fmt::format("network {}", network.name), network.nameRange);
      for (const Stmt &stmt : network.stmts)
        statement(stmt);
    }
    return std::move(out_);
  }

private:
  void line(int depth, const std::string &text, SourceRange range) {
    LineColumn at = source_.lineColumn(range.offset);
    out_ += fmt::format("{}{}  @{}:{}\n", std::string(2 * depth, ' '), text, at.line, at.column);
  }

  void statement(const Stmt &stmt) {
    switch (stmt.kind) {
    case Stmt::Kind::Input:
      line(1, fmt::format("input {} : f32[{}]", stmt.name, stmt.width), stmt.range);
      return;
    case Stmt::Kind::Output:
      line(1, fmt::format("output {}", stmt.name), stmt.range);
      return;
    case Stmt::Kind::Assign:
      line(1, fmt::format("{} =", stmt.name), stmt.range);
      if (stmt.value)
        call(2, *stmt.value, "");
      return;
    }
  }

  void call(int depth, const Call &c, const std::string &prefix) {
    line(depth, fmt::format("{}call {}", prefix, c.callee), c.calleeRange);
    for (const Arg &arg : c.args)
      argument(depth + 1, arg);
  }

  void argument(int depth, const Arg &arg) {
    std::string prefix = arg.keyword ? fmt::format("{} = ", *arg.keyword) : "";
    if (arg.piped)
      prefix = "|> " + prefix;
    switch (arg.kind) {
    case Arg::Kind::Call:
      call(depth, *arg.call, prefix);
      return;
    case Arg::Kind::Name:
      line(depth, fmt::format("{}value {}", prefix, arg.text), arg.range);
      return;
    case Arg::Kind::Number:
      line(depth, fmt::format("{}number {}", prefix, arg.text), arg.range);
      return;
    case Arg::Kind::Bool:
      line(depth, fmt::format("{}bool {}", prefix, arg.boolean ? "true" : "false"), arg.range);
      return;
    case Arg::Kind::String:
      line(depth, fmt::format("{}string \"{}\"", prefix, arg.text), arg.range);
      return;
    case Arg::Kind::Invalid:
      line(depth, fmt::format("{}invalid", prefix), arg.range);
      return;
    }
  }

  const Source &source_;
  std::string out_;
};

} // namespace

std::string print(const File &file, const Source &source) { return Printer(source).run(file); }

} // namespace slope::ast
