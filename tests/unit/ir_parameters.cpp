// The parameters a graph reads: their specs, binding the tensors of a weights file to
// them (with exact errors, and the unused tensors), and --random-weights.
#include "compiler/ir/Parameters.h"
#include "frontend/Lower.h"
#include "lower_testing.h"
#include "runtime/Tensor.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace {

using slope::ir::Graph;
using slope::runtime::Tensor;
using Tensors = std::vector<std::pair<std::string, Tensor>>;

using slope::testutil::lowerOne;

/// x [3] -> dense h [2] -> prelu p (per channel) -> dense o [4] without bias.
Graph sample() {
  return lowerOne("network s {\n"
                  "  input x : f32[3]\n"
                  "  h = dense(x, 2)\n"
                  "  p = prelu(h)\n"
                  "  o = dense(p, 4, bias = false, name = \"0\")\n"
                  "  output o\n"
                  "}\n");
}

Tensor filled(std::vector<int64_t> shape, float start) {
  Tensor t;
  t.shape = std::move(shape);
  t.data.resize(static_cast<size_t>(t.elements()));
  for (size_t i = 0; i < t.data.size(); ++i)
    t.data[i] = start + static_cast<float>(i);
  return t;
}

Tensors goodTensors() {
  return {{"h.weight", filled({2, 3}, 1)},
          {"h.bias", filled({2}, 10)},
          {"p.weight", filled({2}, 20)},
          {"0.weight", filled({4, 2}, 30)}};
}

std::string bindError(const Graph &g, const Tensors &tensors) {
  try {
    slope::ir::bindParameters(g, tensors, "w.safetensors", nullptr);
  } catch (const slope::ir::ParameterError &e) {
    return e.what();
  }
  return "(no error)";
}

} // namespace

TEST_CASE("parameterSpecs: keys, shapes and users in source order") {
  Graph g = sample();
  std::vector<slope::ir::ParameterSpec> specs = slope::ir::parameterSpecs(g);
  REQUIRE(specs.size() == 4);
  CHECK(specs[0].key == "h.weight");
  CHECK(specs[0].shape == std::vector<int64_t>{2, 3});
  CHECK(g.node(specs[0].user).name == "h");
  CHECK_FALSE(specs[0].sharedAllowed);
  CHECK(specs[1].key == "h.bias");
  CHECK(specs[1].shape == std::vector<int64_t>{2});
  CHECK(g.node(specs[1].user).name == "h");
  CHECK(specs[2].key == "p.weight");
  CHECK(specs[2].shape == std::vector<int64_t>{2});
  CHECK(specs[2].sharedAllowed);
  CHECK(g.node(specs[2].user).name == "p");
  CHECK(specs[3].key == "0.weight");
  CHECK(specs[3].shape == std::vector<int64_t>{4, 2});
  CHECK(g.node(specs[3].user).name == "o");
}

TEST_CASE("parameterSpecs: a network without parameters") {
  Graph g = lowerOne("network n {\n  input x : f32[3]\n  y = relu(x) |> softmax()\n  output y\n}\n");
  CHECK(slope::ir::parameterSpecs(g).empty());
  CHECK(slope::ir::randomParameters(g, 1).values.empty());
}

TEST_CASE("bindParameters: values by key, and the unused tensors in file order") {
  Graph g = sample();
  Tensors tensors = goodTensors();
  tensors.insert(tensors.begin() + 1, {"zz", filled({1}, 0)});
  tensors.push_back({"aa.bias", filled({3}, 0)});
  std::vector<std::string> unused;
  slope::ir::ParameterValues values = slope::ir::bindParameters(g, tensors, "w.safetensors", &unused);
  CHECK(unused == std::vector<std::string>{"zz", "aa.bias"});
  CHECK(values.values.size() == 4);
  CHECK(values.at("h.weight") == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(values.at("h.bias") == std::vector<float>{10, 11});
  CHECK(values.at("p.weight") == std::vector<float>{20, 21});
  CHECK(values.at("0.weight") == filled({4, 2}, 30).data);
  std::vector<std::string> none;
  slope::ir::bindParameters(g, goodTensors(), "w.safetensors", &none);
  CHECK(none.empty());
}

TEST_CASE("bindParameters: a shared prelu slope of shape [1]") {
  Graph g = sample();
  Tensors tensors = goodTensors();
  tensors[2].second = filled({1}, 0.25f);
  slope::ir::ParameterValues values = slope::ir::bindParameters(g, tensors, "w.safetensors", nullptr);
  CHECK(values.at("p.weight") == std::vector<float>{0.25f});
}

TEST_CASE("bindParameters: errors name the file, the key, and the expected shape") {
  Graph g = sample();
  SUBCASE("missing weight") {
    Tensors t = goodTensors();
    t.erase(t.begin());
    CHECK(bindError(g, t) == "w.safetensors: missing tensor 'h.weight'; network 's' reads it with shape [2, 3]");
  }
  SUBCASE("missing prelu slope") {
    Tensors t = goodTensors();
    t.erase(t.begin() + 2);
    CHECK(bindError(g, t) ==
          "w.safetensors: missing tensor 'p.weight'; network 's' reads it with shape [2] or [1]");
  }
  SUBCASE("transposed weight") {
    Tensors t = goodTensors();
    t[3].second = filled({2, 4}, 0);
    CHECK(bindError(g, t) == "w.safetensors: tensor '0.weight' has shape [2, 4]; expected [4, 2]");
  }
  SUBCASE("bias of the wrong rank") {
    Tensors t = goodTensors();
    t[1].second = filled({1, 2}, 0);
    CHECK(bindError(g, t) == "w.safetensors: tensor 'h.bias' has shape [1, 2]; expected [2]");
  }
  SUBCASE("prelu slope of the wrong width") {
    Tensors t = goodTensors();
    t[2].second = filled({3}, 0);
    CHECK(bindError(g, t) == "w.safetensors: tensor 'p.weight' has shape [3]; expected [2] or [1]");
  }
  SUBCASE("a scalar") {
    Tensors t = goodTensors();
    t[1].second = filled({}, 0);
    CHECK(bindError(g, t) == "w.safetensors: tensor 'h.bias' has shape []; expected [2]");
  }
  SUBCASE("everything right") { CHECK(bindError(g, goodTensors()) == "(no error)"); }
}

TEST_CASE("randomParameters: deterministic, seed-dependent, bounded like nn.Linear") {
  Graph g = sample();
  slope::ir::ParameterValues a = slope::ir::randomParameters(g, 7);
  slope::ir::ParameterValues b = slope::ir::randomParameters(g, 7);
  slope::ir::ParameterValues c = slope::ir::randomParameters(g, 8);
  REQUIRE(a.values.size() == 4);
  CHECK(a.values == b.values);
  CHECK(a.at("h.weight") != c.at("h.weight"));
  CHECK(a.at("h.weight").size() == 6);
  CHECK(a.at("h.bias").size() == 2);
  CHECK(a.at("0.weight").size() == 8);
  CHECK(a.at("p.weight") == std::vector<float>{0.25f, 0.25f});
  // Uniform in ±1/sqrt(in): in = 3 for h, 2 for o.
  for (float v : a.at("h.weight"))
    CHECK(std::fabs(v) <= 1 / std::sqrt(3.0f));
  for (float v : a.at("0.weight"))
    CHECK(std::fabs(v) <= 1 / std::sqrt(2.0f));
  // Not all equal, not all zero.
  std::vector<float> w = a.at("0.weight");
  CHECK(std::adjacent_find(w.begin(), w.end(), std::not_equal_to<float>()) != w.end());
}
