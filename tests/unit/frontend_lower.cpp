// Lowering: the graph IR built from a syntax tree, its widths, attributes (with their
// defaults), parameter prefixes and value names. Passes have not run: dead values stay.
#include "frontend/Lower.h"
#include "lower_testing.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

namespace {

using slope::ir::Graph;
using slope::ir::Node;
using slope::ir::Op;

using slope::testutil::lowerOne;

std::string lowerErrors(const std::string &text) {
  slope::Source source("l.slope", text);
  slope::DiagnosticEngine diags(source);
  std::optional<slope::ir::Module> module = slope::compileToIR(source, diags);
  CHECK_FALSE(module);
  return diags.render();
}

std::string wrap(const std::string &body, int width = 4) {
  return "network n {\n  input x : f32[" + std::to_string(width) + "]\n" + body + "}\n";
}

const Node &named(const Graph &g, const std::string &name) {
  for (const Node &n : g.nodes)
    if (n.name == name)
      return n;
  FAIL("no node named ", name);
  return g.nodes[0];
}

std::vector<std::string> names(const Graph &g) {
  std::vector<std::string> v;
  for (const Node &n : g.nodes)
    v.push_back(n.name);
  return v;
}

} // namespace

TEST_CASE("lower: widths") {
  Graph g = lowerOne(wrap("  h = dense(x, 7)\n"
                          "  c = crelu(h)\n"
                          "  s = softmax(c)\n"
                          "  a = add(s, s)\n"
                          "  o = dense(a, 1, bias = false)\n"
                          "  output o\n",
                          5));
  CHECK(g.name == "n");
  CHECK(g.inputWidth() == 5);
  CHECK(named(g, "x").op == Op::Input);
  CHECK(named(g, "h").width == 7);
  CHECK(named(g, "c").width == 14);
  CHECK(named(g, "s").width == 14);
  CHECK(named(g, "a").width == 14);
  CHECK(named(g, "o").width == 1);
  CHECK(g.outputWidth() == 1);
  CHECK(g.nodes[g.output].name == "o");
  CHECK(g.groups.empty());
}

TEST_CASE("lower: operands are in evaluation order") {
  Graph g = lowerOne(wrap("  h = dense(x, 3)\n  r = relu(h)\n  a = add(r, h)\n  output a\n"));
  REQUIRE(g.nodes.size() == 4);
  CHECK(names(g) == std::vector<std::string>{"x", "h", "r", "a"});
  CHECK(g.nodes[1].operands == std::vector<slope::ir::ValueId>{0});
  CHECK(g.nodes[2].operands == std::vector<slope::ir::ValueId>{1});
  CHECK(g.nodes[3].operands == std::vector<slope::ir::ValueId>{2, 1});
}

TEST_CASE("lower: default attributes") {
  Graph g = lowerOne(wrap("  d = dense(x, 4)\n"
                          "  l = leaky_relu(d)\n"
                          "  e = elu(l)\n"
                          "  c = clipped_relu(e)\n"
                          "  s = softplus(c)\n"
                          "  g = gelu(s)\n"
                          "  output g\n"));
  CHECK(named(g, "d").attrs == std::vector<double>{4, 1});
  CHECK(named(g, "d").hasBias());
  CHECK(named(g, "l").attrs == std::vector<double>{0.01});
  CHECK(named(g, "l").alpha() == 0.01f);
  CHECK(named(g, "e").attrs == std::vector<double>{1.0});
  CHECK(named(g, "c").attrs == std::vector<double>{6});
  CHECK(named(g, "c").ceiling() == 6.0f);
  CHECK(named(g, "s").attrs == std::vector<double>{1, 20});
  CHECK(named(g, "g").attrs == std::vector<double>{0});
}

TEST_CASE("lower: given attributes, positional and by keyword") {
  Graph g = lowerOne(wrap("  a = leaky_relu(x, 0.2)\n"
                          "  b = leaky_relu(a, alpha = -0.5)\n"
                          "  c = clipped_relu(b, ceiling = 2.5)\n"
                          "  d = softplus(c, 2, threshold = 10)\n"
                          "  e = gelu(d, approximate = \"tanh\")\n"
                          "  f = dense(e, 3, bias = false)\n"
                          "  r = relu6(f)\n"
                          "  output r\n"));
  CHECK(named(g, "a").attrs == std::vector<double>{0.2});
  CHECK(named(g, "b").alpha() == -0.5f);
  CHECK(named(g, "c").ceiling() == 2.5f);
  CHECK(named(g, "d").attrs == std::vector<double>{2, 10});
  CHECK(named(g, "e").attrs == std::vector<double>{1});
  CHECK_FALSE(named(g, "f").hasBias());
  CHECK(named(g, "r").ceiling() == 6.0f);
  CHECK(named(g, "r").attrs.empty());
}

TEST_CASE("lower: parameter prefixes") {
  Graph g = lowerOne(wrap("  h = dense(x, 5, name = \"0\")\n"
                          "  p = dense(h, 5) |> prelu(name = \"act\")\n"
                          "  q = prelu(p)\n"
                          "  r = add(dense(q, 5), q)\n"
                          "  s = relu(r)\n"
                          "  output s\n"));
  CHECK(named(g, "h").parameterPrefix == "0");
  CHECK(named(g, "h").weightKey() == "0.weight");
  CHECK(named(g, "h").biasKey() == "0.bias");
  CHECK(named(g, "p/1").parameterPrefix == "p");
  CHECK(named(g, "p").op == Op::Prelu);
  CHECK(named(g, "p").parameterPrefix == "act");
  CHECK(named(g, "q").parameterPrefix == "q");
  CHECK(named(g, "r/1").op == Op::Dense);
  CHECK(named(g, "r/1").parameterPrefix == "r");
  CHECK(named(g, "r").parameterPrefix == "");
  CHECK(named(g, "s").parameterPrefix == "");
}

TEST_CASE("lower: values of nested calls are named stmt/N in evaluation order") {
  Graph g = lowerOne(wrap("  y = add(relu(x), leaky_relu(sigmoid(x)))\n"
                          "  z = x |> relu() |> tanh()\n"
                          "  output y\n"));
  CHECK(names(g) == std::vector<std::string>{"x", "y/1", "y/2", "y/3", "y", "z/1", "z"});
  CHECK(named(g, "y/1").op == Op::Relu);
  CHECK(named(g, "y/2").op == Op::Sigmoid);
  CHECK(named(g, "y/3").op == Op::LeakyRelu);
  CHECK(named(g, "y/3").operands == std::vector<slope::ir::ValueId>{2});
  CHECK(named(g, "y").operands == std::vector<slope::ir::ValueId>{1, 3});
  CHECK(named(g, "z/1").op == Op::Relu);
  CHECK(named(g, "z").op == Op::Tanh);
}

TEST_CASE("lower: dead values are kept until the passes run") {
  Graph g = lowerOne(wrap("  h = dense(x, 3)\n"
                          "  unused = relu(h)\n"
                          "  also = dense(unused, 2)\n"
                          "  output h\n"));
  CHECK(names(g) == std::vector<std::string>{"x", "h", "unused", "also"});
  CHECK(g.nodes[g.output].name == "h");
  std::vector<std::string> keys;
  for (const auto &spec : slope::ir::parameterSpecs(g))
    keys.push_back(spec.key);
  CHECK(keys == std::vector<std::string>{"h.weight", "h.bias", "also.weight", "also.bias"});
}

TEST_CASE("lower: the output may be the input") {
  Graph g = lowerOne(wrap("  output x\n"));
  CHECK(g.nodes.size() == 1);
  CHECK(g.output == 0);
  CHECK(g.outputWidth() == 4);
}

TEST_CASE("lower: user errors of lowering") {
  CHECK(lowerErrors(wrap("  a = add(x, dense(x, 3))\n  output a\n")) ==
        "l.slope:3:7: error: `add` needs operands of equal width; 'x' has width 4 and 'dense(x, 3)' has width 3\n"
        "   3 |   a = add(x, dense(x, 3))\n"
        "     |       ^~~~~~~~~~~~~~~~~~~\n");
  CHECK(lowerErrors(wrap("  a = add(dense(x, 4), dense(x, 4))\n  output a\n")) ==
        "l.slope:3:24: error: two operations with parameters in one statement would both read 'a.*'; "
        "give one of them `name = \"...\"`\n"
        "   3 |   a = add(dense(x, 4), dense(x, 4))\n"
        "     |                        ^~~~~\n");
  CHECK(lowerErrors(wrap("  a = relu(x, name = \"r\")\n  output a\n")) ==
        "l.slope:3:15: error: `relu` has no parameters; `name` applies only to operations that read weights\n"
        "   3 |   a = relu(x, name = \"r\")\n"
        "     |               ^~~~\n");
}

// Regression: `slope check` on this one-line network reported a second, false error,
// "network 'a' has no `output`", after the real one.
TEST_CASE("lower: a network with a syntax error is not also said to lack an input or output") {
  CHECK(lowerErrors("network a { input x : f32[3] y = x output y }\n") ==
        "l.slope:1:34: error: expected an operation call, found 'x'; write `identity(x)` to copy "
        "a value\n"
        "   1 | network a { input x : f32[3] y = x output y }\n"
        "     |                                  ^\n");
  CHECK(lowerErrors("network a {\n  y = relu(((\n}\n") ==
        "l.slope:2:12: error: expected an argument, found `(`\n"
        "   2 |   y = relu(((\n"
        "     |            ^\n");
  // Without a syntax error, a missing input and output are still reported.
  CHECK(lowerErrors("network a {\n  y = relu(z)\n}\n") ==
        "l.slope:1:9: error: network 'a' has no `input`; declare one, e.g. `input x : f32[64]`\n"
        "   1 | network a {\n"
        "     |         ^\n"
        "l.slope:1:9: error: network 'a' has no `output`; name the result with `output <value>`\n"
        "   1 | network a {\n"
        "     |         ^\n"
        "l.slope:2:12: error: use of undefined value 'z'\n"
        "   2 |   y = relu(z)\n"
        "     |            ^\n");
}
