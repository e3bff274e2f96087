// The passes on graphs from small sources: dead-value removal, the fusion of dense
// layers with what follows them, single-node kernels, and the printer's text.
#include "compiler/passes/DeadCode.h"
#include "compiler/passes/FuseDenseBiasAct.h"
#include "compiler/passes/Pipeline.h"
#include "frontend/Lower.h"
#include "lower_testing.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace {

using slope::ir::Graph;
using slope::ir::ValueId;

using slope::testutil::lowerOne;

std::string wrap(const std::string &body) { return "network f {\n  input x : f32[4]\n" + body + "}\n"; }

Graph fused(const std::string &body, bool fuse = true) {
  Graph g = lowerOne(wrap(body));
  slope::passes::PipelineOptions options;
  options.fuse = fuse;
  slope::passes::runPipeline(g, options);
  return g;
}

/// The groups as lists of value names.
std::vector<std::vector<std::string>> groupNames(const Graph &g) {
  std::vector<std::vector<std::string>> out;
  for (const auto &group : g.groups) {
    std::vector<std::string> names;
    for (ValueId id : group.nodes)
      names.push_back(g.node(id).name);
    out.push_back(names);
  }
  return out;
}

std::vector<std::string> nodeNames(const Graph &g) {
  std::vector<std::string> v;
  for (const auto &n : g.nodes)
    v.push_back(n.name);
  return v;
}

/// Checks the invariants of Graph.h: every node but the input is in exactly one group;
/// each group is a chain (every later node reads its predecessor); values inside a group
/// have one use and are not the output; whatever a group reads from outside is the input
/// or the result of an earlier group.
void checkGroupsValid(const Graph &g) {
  std::vector<unsigned> uses(g.nodes.size(), 0);
  for (const auto &n : g.nodes)
    for (ValueId op : n.operands)
      ++uses[op];
  ++uses[g.output];
  std::vector<int> groupOf(g.nodes.size(), -1);
  for (size_t k = 0; k < g.groups.size(); ++k)
    for (ValueId id : g.groups[k].nodes) {
      CHECK_MESSAGE(groupOf[id] == -1, "value in two groups: ", g.node(id).name);
      groupOf[id] = static_cast<int>(k);
    }
  CHECK(groupOf[0] == -1);
  for (size_t id = 1; id < g.nodes.size(); ++id)
    CHECK_MESSAGE(groupOf[id] != -1, "value in no group: ", g.node(id).name);
  std::set<ValueId> computed = {0};
  for (const auto &group : g.groups) {
    REQUIRE_FALSE(group.nodes.empty());
    for (size_t i = 0; i < group.nodes.size(); ++i) {
      const auto &node = g.node(group.nodes[i]);
      if (i > 0) {
        bool readsPrevious = false;
        for (ValueId op : node.operands)
          readsPrevious |= op == group.nodes[i - 1];
        CHECK_MESSAGE(readsPrevious, node.name, " does not continue its chain");
      }
      if (i + 1 < group.nodes.size()) {
        CHECK_MESSAGE(uses[group.nodes[i]] == 1, node.name, " is fused but has other uses");
      }
      for (ValueId op : node.operands) {
        bool inside = std::find(group.nodes.begin(), group.nodes.begin() + i, op) != group.nodes.begin() + i;
        CHECK_MESSAGE((inside || computed.count(op) == 1), node.name, " reads ", g.node(op).name,
                      " before it is computed");
      }
    }
    computed.insert(group.result());
  }
}

} // namespace

TEST_CASE("dead code: values the output does not depend on are removed") {
  Graph g = lowerOne(wrap("  h = dense(x, 3)\n"
                          "  u = relu(h)\n"
                          "  v = add(u, u)\n"
                          "  a = leaky_relu(h)\n"
                          "  w = dense(a, 2)\n"
                          "  o = dense(a, 5)\n"
                          "  output o\n"));
  slope::passes::removeDeadValues(g);
  CHECK(nodeNames(g) == std::vector<std::string>{"x", "h", "a", "o"});
  CHECK(g.node(g.output).name == "o");
  CHECK(g.nodes[1].operands == std::vector<ValueId>{0});
  CHECK(g.nodes[2].operands == std::vector<ValueId>{1});
  CHECK(g.nodes[3].operands == std::vector<ValueId>{2});
  std::vector<std::string> keys;
  for (const auto &spec : slope::ir::parameterSpecs(g))
    keys.push_back(spec.key);
  CHECK(keys == std::vector<std::string>{"h.weight", "h.bias", "o.weight", "o.bias"});
}

TEST_CASE("dead code: the input stays when the output does not read it") {
  Graph g = lowerOne("network c {\n  input x : f32[4]\n  output x\n}\n");
  slope::passes::removeDeadValues(g);
  CHECK(g.nodes.size() == 1);
  CHECK(g.output == 0);
}

TEST_CASE("fusion: dense and its activation") {
  Graph g = fused("  h = dense(x, 3)\n  a = leaky_relu(h)\n  output a\n");
  CHECK(groupNames(g) == std::vector<std::vector<std::string>>{{"h", "a"}});
  checkGroupsValid(g);
}

TEST_CASE("fusion: dense, activation and a residual add") {
  Graph g = fused("  h = dense(x, 4)\n  a = leaky_relu(h, alpha = 0.2)\n  r = add(a, x)\n"
                  "  o = dense(r, 2)\n  output o\n");
  CHECK(groupNames(g) == std::vector<std::vector<std::string>>{{"h", "a", "r"}, {"o"}});
  checkGroupsValid(g);
}

TEST_CASE("fusion: the residual add may read the chain as its second operand") {
  Graph g = fused("  h = dense(x, 4) |> relu()\n  r = add(x, h)\n  output r\n");
  CHECK(groupNames(g) == std::vector<std::vector<std::string>>{{"h/1", "h", "r"}});
  checkGroupsValid(g);
}

TEST_CASE("fusion: the digits network") {
  Graph g = lowerOne("network digits {\n"
                     "  input  x : f32[64]\n"
                     "  h1  = dense(x, 32)\n"
                     "  a1  = leaky_relu(h1, alpha = 0.01)\n"
                     "  h2  = dense(a1, 32) |> leaky_relu(0.2)\n"
                     "  r   = add(h2, a1)\n"
                     "  out = dense(r, 10)\n"
                     "  output out\n"
                     "}\n");
  slope::passes::runPipeline(g);
  // a1 has two uses: its group ends there, and the add reads it from memory.
  CHECK(groupNames(g) ==
        std::vector<std::vector<std::string>>{{"h1", "a1"}, {"h2/1", "h2", "r"}, {"out"}});
  checkGroupsValid(g);
}

TEST_CASE("fusion stops at a value with several uses") {
  Graph g = fused("  h = dense(x, 4)\n  a = relu(h)\n  b = sigmoid(h)\n  s = add(a, b)\n  output s\n");
  CHECK(groupNames(g) == std::vector<std::vector<std::string>>{{"h"}, {"b"}, {"a", "s"}});
  checkGroupsValid(g);
  Graph twice = fused("  h = dense(x, 4)\n  s = add(h, h)\n  t = relu(s)\n  output t\n");
  CHECK(groupNames(twice) == std::vector<std::vector<std::string>>{{"h"}, {"s", "t"}});
  checkGroupsValid(twice);
}

TEST_CASE("fusion stops at the network's output") {
  // Called without dead-code removal, so the output still has a user.
  Graph g = lowerOne(wrap("  h = dense(x, 4)\n  a = relu(h)\n  output h\n"));
  slope::passes::fuseDenseBiasActivation(g);
  CHECK(groupNames(g) == std::vector<std::vector<std::string>>{{"h"}, {"a"}});
}

TEST_CASE("fusion keeps softmax alone") {
  Graph g = fused("  h = dense(x, 4)\n  s = softmax(h)\n  r = relu(s)\n  o = dense(r, 2) |> softmax()\n  output o\n");
  CHECK(groupNames(g) == std::vector<std::vector<std::string>>{{"h"}, {"s"}, {"r"}, {"o/1"}, {"o"}});
  checkGroupsValid(g);
}

TEST_CASE("fusion: crelu may end a chain, never continue one") {
  Graph g = fused("  h = dense(x, 4)\n  c = crelu(h)\n  r = relu(c)\n  d = crelu(r)\n  output d\n");
  CHECK(groupNames(g) == std::vector<std::vector<std::string>>{{"h", "c"}, {"r", "d"}});
  checkGroupsValid(g);
  Graph alone = fused("  c = crelu(x)\n  l = leaky_relu(c)\n  output l\n");
  CHECK(groupNames(alone) == std::vector<std::vector<std::string>>{{"c"}, {"l"}});
}

TEST_CASE("fusion: a chain of activations without a dense") {
  Graph g = fused("  a = relu(x)\n  b = tanh(a)\n  c = prelu(b)\n  output c\n");
  CHECK(groupNames(g) == std::vector<std::vector<std::string>>{{"a", "b", "c"}});
  checkGroupsValid(g);
}

TEST_CASE("fusion: groups are in a valid order when a chain reads a later group") {
  // The chain from `a` reaches `s`, which also reads `b`, computed after `a`.
  Graph g = fused("  a = dense(x, 4)\n  b = dense(x, 4) |> relu()\n  s = add(a, b)\n  t = relu(s)\n  output t\n");
  CHECK(groupNames(g) == std::vector<std::vector<std::string>>{{"b/1", "b"}, {"a", "s", "t"}});
  checkGroupsValid(g);
}

TEST_CASE("--no-fuse: one kernel per node") {
  Graph g = fused("  h = dense(x, 4)\n  a = leaky_relu(h)\n  r = add(a, x)\n  output r\n", false);
  CHECK(groupNames(g) == std::vector<std::vector<std::string>>{{"h"}, {"a"}, {"r"}});
  checkGroupsValid(g);
}

TEST_CASE("the pipeline removes dead values before it groups") {
  Graph g = fused("  h = dense(x, 4)\n  dead = relu(h)\n  a = leaky_relu(h)\n  output a\n");
  CHECK(nodeNames(g) == std::vector<std::string>{"x", "h", "a"});
  CHECK(groupNames(g) == std::vector<std::vector<std::string>>{{"h", "a"}});
  std::vector<std::string> passes;
  Graph h = lowerOne(wrap("  a = relu(x)\n  output a\n"));
  slope::passes::PipelineOptions options;
  options.dump = [&](std::string_view pass, const Graph &) { passes.emplace_back(pass); };
  slope::passes::runPipeline(h, options);
  CHECK(passes == std::vector<std::string>{"lower", "dead-code", "fuse-dense-bias-activation"});
}

TEST_CASE("printer: the IR and its kernels") {
  Graph g = lowerOne("network p {\n"
                     "  input x : f32[3]\n"
                     "  h = dense(x, 2, bias = false)\n"
                     "  a = prelu(h, name = \"0\")\n"
                     "  g = gelu(a, approximate = \"tanh\")\n"
                     "  s = softplus(g, beta = 0.5) |> clipped_relu(ceiling = 2.5)\n"
                     "  c = crelu(s)\n"
                     "  output c\n"
                     "}\n");
  CHECK(slope::ir::print(g) ==
        "network p(x: f32[3]) -> f32[4] {\n"
        "  h: f32[2] = dense(x, units = 2, bias = false)  reads h.weight\n"
        "  a: f32[2] = prelu(h)  reads 0.weight\n"
        "  g: f32[2] = gelu(a, approximate = \"tanh\")\n"
        "  s/1: f32[2] = softplus(g, beta = 0.5, threshold = 20)\n"
        "  s: f32[2] = clipped_relu(s/1, ceiling = 2.5)\n"
        "  c: f32[4] = crelu(s)\n"
        "  output c\n"
        "}\n");
  slope::passes::runPipeline(g);
  CHECK(slope::ir::print(g) ==
        "network p(x: f32[3]) -> f32[4] {\n"
        "  h: f32[2] = dense(x, units = 2, bias = false)  reads h.weight\n"
        "  a: f32[2] = prelu(h)  reads 0.weight\n"
        "  g: f32[2] = gelu(a, approximate = \"tanh\")\n"
        "  s/1: f32[2] = softplus(g, beta = 0.5, threshold = 20)\n"
        "  s: f32[2] = clipped_relu(s/1, ceiling = 2.5)\n"
        "  c: f32[4] = crelu(s)\n"
        "  output c\n"
        "\n"
        "  kernels:\n"
        "    #0 dense + prelu + gelu + softplus + clipped_relu + crelu  [h, a, g, s/1, s, c] -> c: f32[4]\n"
        "}\n");
}
