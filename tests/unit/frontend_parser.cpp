// The parser alone: the syntax tree it builds (pipes desugared, nested calls, keyword
// arguments, several networks) and its recovery (every syntax error once, no cascades).
#include "frontend/Parser.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>
#include <vector>

namespace {

using slope::ast::Arg;
using slope::ast::Call;
using slope::ast::Stmt;

struct Parsed {
  std::unique_ptr<slope::Source> source;
  slope::ast::File file;
  std::string diagnostics;
  std::vector<slope::DiagKind> kinds;
};

Parsed parseText(const std::string &text) {
  Parsed p;
  p.source = std::make_unique<slope::Source>("p.slope", text);
  slope::DiagnosticEngine diags(*p.source);
  p.file = slope::parse(*p.source, diags);
  p.diagnostics = diags.render();
  for (const slope::Diagnostic &d : diags.diagnostics())
    p.kinds.push_back(d.kind);
  return p;
}

/// The value of the only assignment in a one-network file with `body` as its statements.
const Call &valueOf(const Parsed &p, size_t stmt) {
  INFO(p.diagnostics);
  REQUIRE(p.kinds.empty());
  REQUIRE(p.file.networks.size() == 1);
  REQUIRE(p.file.networks[0].stmts.size() > stmt);
  const Stmt &s = p.file.networks[0].stmts[stmt];
  REQUIRE(s.kind == Stmt::Kind::Assign);
  REQUIRE(s.value);
  return *s.value;
}

std::string wrap(const std::string &body) { return "network n {\n  input x : f32[4]\n" + body + "}\n"; }

} // namespace

TEST_CASE("parser: statements of a network") {
  Parsed p = parseText(wrap("  h = dense(x, 3)\n  output h\n"));
  REQUIRE(p.kinds.empty());
  REQUIRE(p.file.networks.size() == 1);
  const auto &net = p.file.networks[0];
  CHECK(net.name == "n");
  REQUIRE(net.stmts.size() == 3);
  CHECK(net.stmts[0].kind == Stmt::Kind::Input);
  CHECK(net.stmts[0].name == "x");
  CHECK(net.stmts[0].width == 4.0);
  CHECK(net.stmts[1].kind == Stmt::Kind::Assign);
  CHECK(net.stmts[1].name == "h");
  CHECK(net.stmts[2].kind == Stmt::Kind::Output);
  CHECK(net.stmts[2].name == "h");
  const Call &dense = *net.stmts[1].value;
  CHECK(dense.callee == "dense");
  REQUIRE(dense.args.size() == 2);
  CHECK(dense.args[0].kind == Arg::Kind::Name);
  CHECK(dense.args[0].text == "x");
  CHECK_FALSE(dense.args[0].piped);
  CHECK(dense.args[1].kind == Arg::Kind::Number);
  CHECK(dense.args[1].number == 3.0);
  CHECK(p.source->slice(dense.range) == "dense(x, 3)");
  CHECK(p.source->slice(net.stmts[1].range) == "h = dense(x, 3)");
}

TEST_CASE("parser: a pipe passes its left side as the first argument") {
  Parsed p = parseText(wrap("  y = dense(x, 3) |> leaky_relu(0.2)\n  output y\n"));
  const Call &c = valueOf(p, 1);
  CHECK(c.callee == "leaky_relu");
  REQUIRE(c.args.size() == 2);
  CHECK(c.args[0].kind == Arg::Kind::Call);
  CHECK(c.args[0].piped);
  REQUIRE(c.args[0].call);
  CHECK(c.args[0].call->callee == "dense");
  CHECK(c.args[0].call->args.size() == 2);
  CHECK(c.args[1].kind == Arg::Kind::Number);
  CHECK(c.args[1].number == 0.2);
  CHECK_FALSE(c.args[1].piped);
  CHECK(p.source->slice(c.range) == "dense(x, 3) |> leaky_relu(0.2)");
}

TEST_CASE("parser: a chain of pipes from a name, with empty argument lists") {
  Parsed p = parseText(wrap("  y = x |> relu() |> leaky_relu(alpha = 0.5) |> identity()\n  output y\n"));
  const Call &id = valueOf(p, 1);
  CHECK(id.callee == "identity");
  REQUIRE(id.args.size() == 1);
  REQUIRE(id.args[0].call);
  const Call &leaky = *id.args[0].call;
  CHECK(leaky.callee == "leaky_relu");
  REQUIRE(leaky.args.size() == 2);
  CHECK(leaky.args[1].keyword == std::optional<std::string>("alpha"));
  REQUIRE(leaky.args[0].call);
  const Call &relu = *leaky.args[0].call;
  CHECK(relu.callee == "relu");
  REQUIRE(relu.args.size() == 1);
  CHECK(relu.args[0].kind == Arg::Kind::Name);
  CHECK(relu.args[0].text == "x");
  CHECK(relu.args[0].piped);
}

TEST_CASE("parser: nested calls and keyword arguments of every kind") {
  Parsed p = parseText(wrap("  y = add(dense(x, 4, bias = false, name = \"0\"), gelu(x, approximate = \"tanh\"))\n"
                            "  output y\n"));
  const Call &add = valueOf(p, 1);
  CHECK(add.callee == "add");
  REQUIRE(add.args.size() == 2);
  REQUIRE(add.args[0].kind == Arg::Kind::Call);
  const Call &dense = *add.args[0].call;
  CHECK(dense.callee == "dense");
  REQUIRE(dense.args.size() == 4);
  CHECK_FALSE(dense.args[1].keyword);
  CHECK(*dense.args[2].keyword == "bias");
  CHECK(dense.args[2].kind == Arg::Kind::Bool);
  CHECK(dense.args[2].boolean == false);
  CHECK(p.source->slice(dense.args[2].keywordRange) == "bias");
  CHECK(*dense.args[3].keyword == "name");
  CHECK(dense.args[3].kind == Arg::Kind::String);
  CHECK(dense.args[3].text == "0");
  const Call &gelu = *add.args[1].call;
  CHECK(gelu.callee == "gelu");
  REQUIRE(gelu.args.size() == 2);
  CHECK(gelu.args[1].kind == Arg::Kind::String);
  CHECK(gelu.args[1].text == "tanh");
  CHECK_FALSE(add.args[0].piped);
  CHECK_FALSE(add.args[1].piped);
}

TEST_CASE("parser: a pipe inside an argument") {
  Parsed p = parseText(wrap("  y = add(x |> relu(), x)\n  output y\n"));
  const Call &add = valueOf(p, 1);
  REQUIRE(add.args.size() == 2);
  REQUIRE(add.args[0].kind == Arg::Kind::Call);
  CHECK(add.args[0].call->callee == "relu");
  REQUIRE(add.args[0].call->args.size() == 1);
  CHECK(add.args[0].call->args[0].piped);
  CHECK(add.args[1].kind == Arg::Kind::Name);
}

TEST_CASE("parser: several networks") {
  Parsed p = parseText("network a {\n  input x : f32[1]\n  output x\n}\n"
                       "# between\n"
                       "network b { input y : f32[2] output y }\n"
                       "network c {\n}\n");
  REQUIRE(p.kinds.empty());
  REQUIRE(p.file.networks.size() == 3);
  CHECK(p.file.networks[0].name == "a");
  CHECK(p.file.networks[1].name == "b");
  CHECK(p.file.networks[2].name == "c");
  CHECK(p.file.networks[1].stmts.size() == 2);
  CHECK(p.file.networks[2].stmts.empty());
}

TEST_CASE("parser: several syntax errors in one file are each reported once") {
  Parsed p = parseText("network n {\n"
                       "  input x : f32[4]\n"
                       "  a = relu(x,, 3)\n"
                       "  b = dense(x 3)\n"
                       "  c = relu(x |> )\n"
                       "  d = leaky_relu(x, alpha = )\n"
                       "  output a\n"
                       "}\n"
                       "junk\n"
                       "network m {\n"
                       "  input y : f32[2]\n"
                       "  z = relu(y)\n"
                       "  output z\n"
                       "}\n");
  CHECK(p.diagnostics == "p.slope:3:14: error: expected an argument, found `,`\n"
                         "   3 |   a = relu(x,, 3)\n"
                         "     |              ^\n"
                         "p.slope:4:15: error: expected `,` or `)`, found number 3\n"
                         "   4 |   b = dense(x 3)\n"
                         "     |               ^\n"
                         "p.slope:5:17: error: expected an operation call, found `)`\n"
                         "   5 |   c = relu(x |> )\n"
                         "     |                 ^\n"
                         "p.slope:6:29: error: expected a number, `true`, `false` or a string after `alpha =`, found `)`\n"
                         "   6 |   d = leaky_relu(x, alpha = )\n"
                         "     |                             ^\n"
                         "p.slope:9:1: error: expected `network`, found 'junk'\n"
                         "   9 | junk\n"
                         "     | ^~~~\n");
  // Both networks are there, and the broken statements keep their names.
  REQUIRE(p.file.networks.size() == 2);
  std::vector<std::string> names;
  for (const Stmt &s : p.file.networks[0].stmts)
    names.push_back(s.name);
  CHECK(names == std::vector<std::string>{"x", "a", "b", "c", "d", "a"});
  CHECK(p.file.networks[0].stmts[1].broken);
  CHECK(p.file.networks[0].stmts[4].broken);
  CHECK(p.file.networks[0].stmts[5].kind == Stmt::Kind::Output);
  CHECK(p.file.networks[1].stmts.size() == 3);
}

// Regression: text after a complete statement on the same line (`c = relu(x) extra`)
// was reported on the next line ("expected `=`, found 'd'"), and recovery then skipped
// `d`, hiding line 5's own error. Now: one error at `extra`, one at line 5's `)`.
TEST_CASE("parser: trailing text after a statement is reported where it is") {
  Parsed p = parseText("network n {\n"
                       "  input x : f32[4]\n"
                       "  a = relu(x)\n"
                       "  c = relu(x) extra\n"
                       "  d = leaky_relu(x, alpha = )\n"
                       "  output a\n"
                       "}\n");
  REQUIRE(p.kinds.size() == 2);
  CHECK(p.diagnostics.rfind("p.slope:4:15: error: ", 0) == 0);
  CHECK(p.diagnostics.find("p.slope:5:29: error: expected a number, `true`, `false` or a string after "
                           "`alpha =`, found `)`\n") != std::string::npos);
}

// Regression: when a call was left open at the end of a line, recovery skipped the
// first token of the next line, losing that statement, and a spurious error followed
// (here "network 'n' has no `output`").
TEST_CASE("parser: an unclosed call does not swallow the next statement") {
  Parsed p = parseText("network n {\n  input x : f32[4]\n  a = relu(x\n  output a\n}\n");
  CHECK(p.kinds == std::vector<slope::DiagKind>{slope::DiagKind::ExpectedToken});
  REQUIRE(p.file.networks.size() == 1);
  const auto &stmts = p.file.networks[0].stmts;
  REQUIRE(stmts.size() == 3);
  CHECK(stmts[2].kind == Stmt::Kind::Output);
  CHECK(stmts[2].name == "a");
}

namespace {

/// A network whose one assignment is `depth` calls of relu nested inside one another, or
/// with `pipes`, a chain of `depth` pipe stages from x.
std::string deepNetwork(int depth, bool pipes) {
  std::string value;
  if (pipes) {
    value = "x";
    for (int i = 0; i < depth; ++i)
      value += " |> relu()";
  } else {
    for (int i = 0; i < depth; ++i)
      value += "relu(";
    value += "x" + std::string(size_t(depth), ')');
  }
  return "network n {\n  input x : f32[4]\n  y = " + value + "\n  z = relu(q)\n  output y\n}\n";
}

} // namespace

// Regression: 10,000 nested calls (or pipe stages) crashed the parser, the lowering
// and the AST printer, which walk the tree recursively, by overflowing the stack.
TEST_CASE("parser: calls nest up to 256 deep, pipe stages included, then it is an error") {
  for (bool pipes : {false, true}) {
    INFO((pipes ? "pipes" : "nested calls"));
    Parsed ok = parseText(deepNetwork(256, pipes));
    CHECK(ok.kinds.empty());
    REQUIRE(ok.file.networks.size() == 1);
    const Call *c = ok.file.networks[0].stmts[1].value.get();
    int depth = 0;
    while (c) {
      ++depth;
      REQUIRE(c->args.size() == 1);
      c = c->args[0].call.get();
    }
    CHECK(depth == 256);

    for (int depth : {257, 10000}) {
      Parsed deep = parseText(deepNetwork(depth, pipes));
      // One error, where the 257th call begins; the statements after it are parsed
      // (the undefined `q` is the lowering's to report, not the parser's).
      CHECK(deep.kinds == std::vector<slope::DiagKind>{slope::DiagKind::NestedTooDeeply});
      int column = pipes ? 12 + 256 * 10 : 7 + 256 * 5;
      CHECK(deep.diagnostics.rfind(fmt::format("p.slope:3:{}: error: expression nested too deeply: "
                                               "more than 256 calls and pipe stages inside one "
                                               "another; split it into statements\n",
                                               column),
                                   0) == 0);
      REQUIRE(deep.file.networks.size() == 1);
      const auto &stmts = deep.file.networks[0].stmts;
      REQUIRE(stmts.size() == 4);
      CHECK(stmts[1].broken);
      CHECK(stmts[2].name == "z");
      CHECK(stmts[3].kind == Stmt::Kind::Output);
    }
  }
  // Depth counts calls inside calls and stages alike: 128 nested calls in the last of
  // 129 stages is 257.
  std::string inner;
  for (int i = 0; i < 128; ++i)
    inner += "relu(";
  inner += "x" + std::string(128, ')');
  std::string chain = "x";
  for (int i = 0; i < 128; ++i)
    chain += " |> relu()";
  Parsed mixed = parseText("network n {\n  input x : f32[4]\n  y = " + chain + " |> add(" + inner +
                           ")\n  output y\n}\n");
  CHECK(mixed.kinds == std::vector<slope::DiagKind>{slope::DiagKind::NestedTooDeeply});
}

// Regression: a syntax error on a one-line network made recovery skip its `output` too,
// and "network 'n' has no `output`" followed, though it has one.
TEST_CASE("parser: a network whose tokens were skipped after an error says so") {
  Parsed broken = parseText("network a { input x : f32[3] y = x output y }\n");
  REQUIRE(broken.file.networks.size() == 1);
  CHECK(broken.file.networks[0].skippedTokens);
  Parsed fine = parseText("network a { input x : f32[3] y = relu(x) output y }\n");
  REQUIRE(fine.file.networks.size() == 1);
  CHECK(fine.kinds.empty());
  CHECK_FALSE(fine.file.networks[0].skippedTokens);
}
