// Compiled networks against the semantics: random networks bit for bit against the
// kernel-order evaluator (which is itself checked node by node against the reference
// evaluator's definitions), against the reference evaluator within the dense error
// bound, fused against unfused, and the entry function's argument checks.
#include "activations_testing.h"
#include "jit_testing.h"

#include <algorithm>

using namespace slope;
using namespace slope::jittest;

namespace {

/// Compiles, runs at `batch` and returns the output (NaN-filled beforehand, so an
/// element the kernels forget to write shows up).
std::vector<float> runJit(const backend::JitModule &jit, const std::vector<float> &input,
                          int64_t batch) {
  std::vector<float> out(static_cast<size_t>(batch * jit.outputWidth()), 12345.0f);
  REQUIRE(jit.forward(input.data(), out.data(), batch) == 0);
  return out;
}

/// Checks each node of the kernel-order values against the definitions: the
/// piecewise-linear ops bit for bit on the same operands, dense within
/// n * eps * sum(|terms|) of the sum computed in double.
void checkNodeByNode(const ir::Graph &graph, const ir::ParameterValues &params,
                     const std::vector<std::vector<float>> &values, int64_t batch) {
  auto rows = static_cast<size_t>(batch);
  for (ir::ValueId id = 1; id < graph.nodes.size(); ++id) {
    const ir::Node &node = graph.nodes[id];
    size_t width = static_cast<size_t>(node.width);
    const std::vector<float> &x = values[node.operands[0]];
    size_t in = static_cast<size_t>(graph.node(node.operands[0]).width);
    if (node.op == ir::Op::Dense) {
      const float *w = params.data(node.weightKey());
      const float *bias = node.hasBias() ? params.data(node.biasKey()) : nullptr;
      for (size_t b = 0; b < rows; ++b)
        for (size_t u = 0; u < width; ++u) {
          double exact = bias ? bias[u] : 0.0, magnitude = bias ? std::fabs(bias[u]) : 0.0;
          for (size_t i = 0; i < in; ++i) {
            double term = double(x[b * in + i]) * double(w[u * in + i]);
            exact += term;
            magnitude += std::fabs(term);
          }
          float got = values[id][b * width + u];
          if (!std::isfinite(magnitude) || !std::isfinite(got))
            continue; // special values: checked bit for bit against the kernels instead
          double bound = double(in + 1) * 0x1p-23 * magnitude + 1e-44;
          if (std::fabs(double(got) - exact) > bound) {
            INFO("dense " << node.name << " [" << b << ", " << u << "]: " << got << " vs "
                          << exact << " bound " << bound);
            CHECK(false);
            return;
          }
        }
      continue;
    }
    if (node.op == ir::Op::Softmax || node.op == ir::Op::Add || node.op == ir::Op::Prelu)
      continue; // add and prelu: written exactly as the evaluator's; softmax: within 1 ulp
    for (size_t i = 0; i < values[id].size(); ++i)
      if (!sameFloat(values[id][i], eval::applyActivation(node, x[i]))) {
        INFO(node.name << "[" << i << "] of " << x[i]);
        CHECK(false);
        return;
      }
  }
}

/// Compares compiled output with the kernel-order evaluator: bit for bit, except a
/// final softmax, whose kernel rounds its double-precision result once: within 1 ulp.
void checkAgainstKernelOrder(const ir::Graph &graph, const std::vector<float> &got,
                             const std::vector<float> &expected) {
  REQUIRE(got.size() == expected.size());
  bool softmax = graph.node(graph.output).op == ir::Op::Softmax;
  for (size_t i = 0; i < got.size(); ++i) {
    bool ok = sameFloat(got[i], expected[i]);
    if (!ok && softmax)
      ok = acttest::ulpDistance(got[i], expected[i]) <= 1;
    if (!ok) {
      INFO("element " << i << ": got " << got[i] << " expected " << expected[i]);
      CHECK(false);
      return;
    }
  }
}

std::vector<int64_t> batchesToTry(std::mt19937_64 &rng) {
  return {0, 1, static_cast<int64_t>(2 + rng() % 6), static_cast<int64_t>(7 + rng() % 64), 70};
}

} // namespace

TEST_CASE("jit: random networks match the kernel-order evaluator bit for bit") {
  for (const Isa &isa : testIsas()) {
    SUBCASE(isa.name) {
      std::mt19937_64 rng(20240601);
      for (int n = 0; n < 40; ++n) {
        std::string text = randomNetworkSource(rng);
        ir::Graph graph = parseNetwork(text);
        ir::ParameterValues params = randomParameters(graph, rng);
        std::unique_ptr<backend::JitModule> jit = backend::JitModule::compile(graph, params, isa.options);
        for (int64_t batch : batchesToTry(rng)) {
          INFO(isa.name << ", network " << n << ", batch " << batch << ":\n" << text);
          std::vector<float> input =
              randomInput(rng, static_cast<size_t>(batch * graph.inputWidth()), n % 2 == 0);
          std::vector<std::vector<float>> expected =
              kernelOrderValues(graph, params, input, batch, isa.fma);
          if (isa.name == std::string("host"))
            checkNodeByNode(graph, params, expected, batch);
          checkAgainstKernelOrder(graph, runJit(*jit, input, batch), expected[graph.output]);
        }
      }
    }
  }
}

TEST_CASE("jit: random finite networks match the reference evaluator within the dense error bound") {
  std::mt19937_64 rng(777);
  for (int n = 0; n < 40; ++n) {
    std::string text = randomNetworkSource(rng);
    ir::Graph graph = parseNetwork(text);
    ir::ParameterValues params = randomParameters(graph, rng);
    std::unique_ptr<backend::JitModule> jit = backend::JitModule::compile(graph, params);
    int64_t batch = static_cast<int64_t>(rng() % 71);
    std::vector<float> input =
        randomInput(rng, static_cast<size_t>(batch * graph.inputWidth()), false);
    std::vector<float> got = runJit(*jit, input, batch);
    std::vector<float> want = eval::evaluate(graph, params, input.data(), batch);

    // A forward error bound for every value: dense adds n*eps*sum|terms| (twice: the
    // evaluator's order and the kernels' each stay within it of the exact sum) and
    // propagates |W| * bound; a piecewise op scales a bound by at most max(1, |slope|);
    // add sums the bounds. Computed in double on the reference's values.
    std::vector<std::vector<double>> bound(graph.nodes.size());
    std::vector<std::vector<float>> ref = kernelOrderValues(graph, params, input, batch, false);
    auto rows = static_cast<size_t>(batch);
    bound[0].assign(input.size(), 0.0);
    for (ir::ValueId id = 1; id < graph.nodes.size(); ++id) {
      const ir::Node &node = graph.nodes[id];
      size_t width = static_cast<size_t>(node.width);
      const std::vector<double> &bx = bound[node.operands[0]];
      const std::vector<float> &x = ref[node.operands[0]];
      size_t in = static_cast<size_t>(graph.node(node.operands[0]).width);
      std::vector<double> &by = bound[id];
      by.assign(rows * width, 0.0);
      if (node.op == ir::Op::Dense) {
        const float *w = params.data(node.weightKey());
        for (size_t b = 0; b < rows; ++b)
          for (size_t u = 0; u < width; ++u) {
            double magnitude = node.hasBias() ? std::fabs(params.data(node.biasKey())[u]) : 0;
            double propagated = 0;
            for (size_t i = 0; i < in; ++i) {
              magnitude += std::fabs(double(x[b * in + i]) * w[u * in + i]) +
                           bx[b * in + i] * std::fabs(w[u * in + i]);
              propagated += bx[b * in + i] * std::fabs(w[u * in + i]);
            }
            by[b * width + u] = propagated + 2.0 * double(in + 1) * 0x1p-23 * magnitude;
          }
      } else if (node.op == ir::Op::Add) {
        for (size_t i = 0; i < by.size(); ++i)
          by[i] = bx[i] + bound[node.operands[1]][i] + 0x1p-23 * std::fabs(ref[id][i]);
      } else if (node.op == ir::Op::Softmax) {
        // Outputs in [0, 1], derivatives at most 1: the kernel's rounding plus the
        // largest input error.
        double worst = bx.empty() ? 0.0 : *std::max_element(bx.begin(), bx.end());
        for (size_t i = 0; i < by.size(); ++i)
          by[i] = 1e-5 + 2.0 * worst;
      } else {
        double slope = 1.0;
        if (node.op == ir::Op::LeakyRelu)
          slope = std::max(1.0, std::fabs(double(node.alpha())));
        if (node.op == ir::Op::Prelu)
          for (float s : params.at(node.weightKey()))
            slope = std::max(slope, std::fabs(double(s)));
        for (size_t i = 0; i < by.size(); ++i)
          by[i] = bx[i] * slope + 0x1p-23 * std::fabs(ref[id][i]);
      }
    }
    const std::vector<double> &final = bound[graph.output];
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      double tolerance = 2.0 * final[i] + 1e-30;
      if (!(std::fabs(double(got[i]) - double(want[i])) <= tolerance)) {
        INFO("network " << n << ", batch " << batch << ", element " << i << ": " << got[i]
                        << " vs reference " << want[i] << ", bound " << tolerance << "\n"
                        << text);
        CHECK(false);
        break;
      }
    }
  }
}

TEST_CASE("jit: fused and unfused kernels give identical bits") {
  std::mt19937_64 rng(99);
  for (int n = 0; n < 30; ++n) {
    std::string text = randomNetworkSource(rng, /*allowSoftmax=*/true);
    ir::Graph fused = parseNetwork(text, true);
    ir::Graph unfused = parseNetwork(text, false);
    ir::ParameterValues params = randomParameters(fused, rng);
    auto a = backend::JitModule::compile(fused, params);
    auto b = backend::JitModule::compile(unfused, params);
    for (int64_t batch : batchesToTry(rng)) {
      INFO("network " << n << ", batch " << batch << ":\n" << text);
      std::vector<float> input =
          randomInput(rng, static_cast<size_t>(batch * fused.inputWidth()), true);
      std::vector<float> ya = runJit(*a, input, batch);
      std::vector<float> yb = runJit(*b, input, batch);
      CHECK(firstDifference(ya, yb) == -1);
    }
  }
}

TEST_CASE("jit: a network compiled on several threads gives the bits of one compiled on one") {
  // The kernels are split between modules compiled in parallel and linked by the JIT;
  // one thread compiles everything in one module. 3 threads leave some partition with
  // more than one kernel, or with none but the entry, depending on the network.
  std::mt19937_64 rng(4242);
  backend::CompileOptions one, three;
  one.compileThreads = 1;
  three.compileThreads = 3;
  for (int n = 0; n < 12; ++n) {
    std::string text = randomNetworkSource(rng, /*allowSoftmax=*/true);
    ir::Graph graph = parseNetwork(text);
    ir::ParameterValues params = randomParameters(graph, rng);
    auto a = backend::JitModule::compile(graph, params, one);
    auto b = backend::JitModule::compile(graph, params, three);
    for (int64_t batch : batchesToTry(rng)) {
      INFO("network " << n << ", batch " << batch << ":\n" << text);
      std::vector<float> input =
          randomInput(rng, static_cast<size_t>(batch * graph.inputWidth()), true);
      CHECK(firstDifference(runJit(*a, input, batch), runJit(*b, input, batch)) == -1);
    }
  }
}

TEST_CASE("jit: compiles for different ISAs in one process each get their own ISA") {
  // The JIT keeps its target machines between compiles: one kept for one ISA must never
  // compile for another. Each ISA twice, interleaved, so that the second compile of each
  // reuses a machine.
  std::mt19937_64 rng(77);
  ir::Graph graph = parseNetwork("network n {\n  input x : f32[37]\n"
                                 "  h = dense(x, 29) |> leaky_relu(alpha = 0.25)\n"
                                 "  o = dense(h, 5)\n  output o\n}\n");
  ir::ParameterValues params = randomParameters(graph, rng);
  const int64_t batch = 9;
  std::vector<float> input = randomInput(rng, static_cast<size_t>(batch * 37), true);
  std::vector<Isa> isas = testIsas();
  for (int round = 0; round < 2; ++round)
    for (const Isa &isa : isas) {
      INFO("round " << round << ", " << isa.name);
      auto jm = backend::JitModule::compile(graph, params, isa.options);
      if (std::string(isa.name) == "x86-64")
        CHECK(jm->vectorLanes() == 4u);
      if (std::string(isa.name) == "x86-64-v3")
        CHECK(jm->vectorLanes() == 8u);
#if defined(__x86_64__)
      if (std::string(isa.name) == "host" && __builtin_cpu_supports("avx512f"))
        CHECK(jm->vectorLanes() == 16u);
#endif
      auto want = kernelOrderValues(graph, params, input, batch, isa.fma);
      CHECK(firstDifference(runJit(*jm, input, batch), want[graph.output]) == -1);
    }
}

TEST_CASE("jit: piecewise activations are exact on special values for every alpha") {
  // Every special value and a spread of ordinary ones, through each activation as an
  // elementwise kernel and fused after a dense layer with an identity-like weight.
  std::vector<float> specials = {std::numeric_limits<float>::quiet_NaN(),
                                 -std::numeric_limits<float>::quiet_NaN(),
                                 std::numeric_limits<float>::infinity(),
                                 -std::numeric_limits<float>::infinity(),
                                 0.0f, -0.0f, 1e-40f, -1e-40f,
                                 std::numeric_limits<float>::denorm_min(),
                                 -std::numeric_limits<float>::denorm_min(),
                                 std::numeric_limits<float>::min(),
                                 -std::numeric_limits<float>::min(),
                                 std::numeric_limits<float>::max(),
                                 -std::numeric_limits<float>::max(),
                                 1.0f, -1.0f, 5.9999995f, 6.0f, 6.0000005f, -6.0f, 0.5f, -0.5f,
                                 3.0f, 100.0f, -100.0f};
  const int64_t width = static_cast<int64_t>(specials.size());
  std::vector<std::string> activations = {"relu(x)", "relu6(x)", "identity(x)",
                                          "clipped_relu(x, ceiling = 0.5)",
                                          "clipped_relu(x, ceiling = 0)",
                                          "clipped_relu(x, ceiling = -1)", "prelu(x)"};
  for (float alpha : interestingAlphas())
    activations.push_back("leaky_relu(x, alpha = " + formatFloat(alpha) + ")");
  activations.push_back("leaky_relu(x, alpha = 3.4e38)");
  activations.push_back("leaky_relu(x)");
  for (const Isa &isa : testIsas()) {
    for (const std::string &activation : activations) {
      std::string text = "network n {\n  input x : f32[" + std::to_string(width) +
                         "]\n  y = " + activation + "\n  output y\n}\n";
      INFO(isa.name << ": " << text);
      ir::Graph graph = parseNetwork(text);
      std::mt19937_64 rng(5);
      ir::ParameterValues params = randomParameters(graph, rng);
      auto jit = backend::JitModule::compile(graph, params, isa.options);
      // Every row holds the specials rotated, so each lands in every lane position.
      int64_t batch = width;
      std::vector<float> input;
      for (int64_t r = 0; r < batch; ++r)
        for (int64_t c = 0; c < width; ++c)
          input.push_back(specials[static_cast<size_t>((r + c) % width)]);
      std::vector<float> got = runJit(*jit, input, batch);
      std::vector<float> want = eval::evaluate(graph, params, input.data(), batch);
      int64_t diff = firstDifference(got, want);
      if (diff >= 0) {
        INFO("element " << diff << " of input " << input[size_t(diff)] << ": got "
                        << got[size_t(diff)] << ", reference " << want[size_t(diff)]);
        CHECK(false);
      }
    }
  }
}

TEST_CASE("jit: dense followed by activations is exact on special inputs against the evaluator") {
  // A dense layer whose weights are a permutation matrix has one non-zero term per
  // output, so its sum is exact in any order (inf and NaN inputs make 0 * inf = NaN in
  // every order alike); the fused activations then see exactly the evaluator's values.
  const int64_t width = 37;
  for (float alpha : interestingAlphas()) {
    std::string text = "network n {\n  input x : f32[37]\n  h = dense(x, 37)\n"
                       "  a = leaky_relu(h, alpha = " + formatFloat(alpha) +
                       ")\n  r = add(a, x)\n  c = clipped_relu(r, ceiling = 2.5)\n  output c\n}\n";
    INFO(text);
    ir::Graph graph = parseNetwork(text);
    REQUIRE(graph.groups.size() == 1);
    ir::ParameterValues params;
    std::vector<float> w(static_cast<size_t>(width * width), 0.0f);
    std::vector<float> bias(static_cast<size_t>(width), 0.0f);
    for (int64_t u = 0; u < width; ++u) {
      w[size_t(u * width + (u * 5 + 3) % width)] = u % 3 == 0 ? -1.0f : 1.0f;
      bias[size_t(u)] = u % 4 == 0 ? -0.0f : (u % 4 == 1 ? 0.0f : 0.25f * float(u % 7) - 1.0f);
    }
    params.values["h.weight"] = w;
    params.values["h.bias"] = bias;
    std::mt19937_64 rng(11);
    int64_t batch = 23;
    std::vector<float> input = randomInput(rng, size_t(batch * width), true);
    auto jit = backend::JitModule::compile(graph, params);
    std::vector<float> got = runJit(*jit, input, batch);
    // Against the evaluator only where no term is NaN or infinite (0 * inf terms are NaN
    // in both, but the evaluator then also sums the other rows' zero terms): there the
    // dense results are exact in both.
    std::vector<float> want = eval::evaluate(graph, params, input.data(), batch);
    for (int64_t b = 0; b < batch; ++b) {
      bool finiteRow = true;
      for (int64_t i = 0; i < width; ++i)
        finiteRow = finiteRow && std::isfinite(input[size_t(b * width + i)]);
      for (int64_t u = 0; u < width; ++u) {
        size_t i = size_t(b * width + u);
        if (finiteRow && !sameFloat(got[i], want[i])) {
          INFO("row " << b << " unit " << u << ": got " << got[i] << ", reference " << want[i]);
          CHECK(false);
        }
      }
    }
  }
}

TEST_CASE("jit: the entry function rejects bad arguments") {
  ir::Graph graph = parseNetwork("network n {\n  input x : f32[5]\n  h = dense(x, 3)\n"
                                 "  a = relu(h)\n  o = dense(a, 2)\n  output o\n}\n");
  std::mt19937_64 rng(1);
  auto jit = backend::JitModule::compile(graph, randomParameters(graph, rng));
  std::vector<float> x(10, 1.0f), y(4, 0.0f);
  CHECK(jit->forward(x.data(), y.data(), -1) != 0);
  CHECK(jit->forward(x.data(), y.data(), std::numeric_limits<int64_t>::min()) != 0);
  CHECK(jit->forward(nullptr, y.data(), 2) != 0);
  CHECK(jit->forward(x.data(), nullptr, 2) != 0);
  CHECK(jit->forward(nullptr, nullptr, 0) == 0);
  CHECK(jit->forward(x.data(), y.data(), 0) == 0);
  CHECK(jit->forward(x.data(), y.data(), 2) == 0);
  // A batch whose scratch size overflows is refused before anything is allocated.
  CHECK(jit->forward(x.data(), y.data(), std::numeric_limits<int64_t>::max()) != 0);
}

TEST_CASE("jit: scratch larger than the stack buffer goes to the heap") {
  ir::Graph graph = parseNetwork(
      "network n {\n  input x : f32[300]\n  h = dense(x, 300)\n  a = relu(h)\n"
      "  g = dense(a, 257)\n  b = leaky_relu(g, alpha = 2)\n  s = dense(b, 300)\n"
      "  r = add(s, a)\n  output r\n}\n",
      false);
  std::mt19937_64 rng(3);
  ir::ParameterValues params = randomParameters(graph, rng);
  auto jit = backend::JitModule::compile(graph, params);
  for (int64_t batch : {1, 13, 70}) {
    std::vector<float> input = randomInput(rng, size_t(batch * 300), false);
    auto expected = kernelOrderValues(graph, params, input, batch, hostFusesMultiplyAdd());
    CHECK(firstDifference(runJit(*jit, input, batch), expected[graph.output]) == -1);
  }
}

TEST_CASE("jit: a network whose output is its input copies it") {
  ir::Graph graph = parseNetwork("network n {\n  input x : f32[7]\n  output x\n}\n");
  auto jit = backend::JitModule::compile(graph, {});
  std::mt19937_64 rng(8);
  std::vector<float> input = randomInput(rng, 21, true);
  CHECK(firstDifference(runJit(*jit, input, 3), input) == -1);
}

TEST_CASE("jit: missing or mis-sized parameters are a clear error") {
  ir::Graph graph = parseNetwork("network n {\n  input x : f32[4]\n  h = dense(x, 3)\n  output h\n}\n");
  ir::ParameterValues params;
  params.values["h.weight"] = std::vector<float>(12, 0.5f);
  CHECK_THROWS_WITH_AS(backend::JitModule::compile(graph, params), "missing parameter `h.bias`",
                       backend::CodegenError);
  params.values["h.bias"] = std::vector<float>(2, 0.5f);
  CHECK_THROWS_AS(backend::JitModule::compile(graph, params), backend::CodegenError);
}

TEST_CASE("jit: the optimized IR and assembly are vectorized for the host, with no fast-math") {
  ir::Graph graph = parseNetwork("network mlp {\n  input x : f32[64]\n  h = dense(x, 32)\n"
                                 "  a = leaky_relu(h, alpha = 0.1)\n  o = dense(a, 10)\n"
                                 "  s = softmax(o)\n  output s\n}\n");
  std::string ir = backend::emitLlvmText(graph);
  CHECK(ir.find("@mlp_forward(ptr") != std::string::npos);
  CHECK(ir.find("\"target-cpu\"") != std::string::npos);
  for (const char *flag : {" fast ", " nnan ", " ninf ", " nsz ", " reassoc ", " afn ", " arcp "})
    CHECK(ir.find(flag) == std::string::npos);
  std::string asmText = backend::emitAssembly(graph);
  CHECK(asmText.find("mlp_forward") != std::string::npos);
  // Every function starts on a cache line (codegen::applyTargetAttributes).
  for (std::string_view name : {"mlp_forward:", "mlp_step:", "mlp_k0_a:"}) {
    size_t at = asmText.find(std::string("\n") + std::string(name));
    REQUIRE(at != std::string::npos);
    size_t align = asmText.rfind(".p2align\t6", at);
    size_t previousEnd = asmText.rfind(".Lfunc_end", at);
    CHECK(align != std::string::npos);
    CHECK((previousEnd == std::string::npos || align > previousEnd));
  }
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) {
    CHECK(ir.find("<16 x float>") != std::string::npos);
    CHECK(asmText.find("zmm") != std::string::npos);
  } else if (__builtin_cpu_supports("avx2")) {
    CHECK(asmText.find("ymm") != std::string::npos);
  }
  std::string avx2 = backend::emitAssembly(graph, {.optLevel = 3, .cpu = "x86-64-v3", .features = ""});
  CHECK(avx2.find("zmm") == std::string::npos);
  CHECK(avx2.find("ymm") != std::string::npos);
#endif
}
