// One compiled network shared by several threads (run under TSan too): every call must
// give the bits a single-threaded call gives, whatever the batch, with the scratch
// buffer on the stack or on the heap.
#include "jit_testing.h"

#include <atomic>
#include <thread>

using namespace slope;
using namespace slope::jittest;

TEST_CASE("jit: concurrent forward calls on one module give single-threaded results") {
  ir::Graph graph = parseNetwork(
      "network n {\n  input x : f32[97]\n  h = dense(x, 128)\n  a = leaky_relu(h, alpha = 0.2)\n"
      "  g = dense(a, 64) |> relu6()\n  k = dense(g, 128)\n  r = add(k, a)\n"
      "  o = dense(r, 10)\n  s = softmax(o)\n  output s\n}\n");
  std::mt19937_64 rng(42);
  ir::ParameterValues params = randomParameters(graph, rng);
  std::shared_ptr<const backend::JitModule> jit = backend::JitModule::compile(graph, params);

  // Batches on both sides of the stack scratch limit.
  const std::vector<int64_t> batches = {1, 3, 8, 17, 33, 70};
  std::vector<std::vector<float>> inputs, expected;
  for (int64_t batch : batches) {
    inputs.push_back(randomInput(rng, size_t(batch * 97), true));
    std::vector<float> y(size_t(batch * 10));
    REQUIRE(jit->forward(inputs.back().data(), y.data(), batch) == 0);
    expected.push_back(y);
  }

  const unsigned threads = std::max(4u, std::thread::hardware_concurrency());
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int iteration = 0; iteration < 200; ++iteration) {
        size_t which = (t + size_t(iteration)) % batches.size();
        std::vector<float> y(expected[which].size(), -1.0f);
        if (jit->forward(inputs[which].data(), y.data(), batches[which]) != 0)
          ++failures;
        if (firstDifference(y, expected[which]) != -1)
          ++mismatches;
      }
    });
  for (std::thread &t : pool)
    t.join();
  CHECK(failures.load() == 0);
  CHECK(mismatches.load() == 0);
}

TEST_CASE("jit: modules compiled concurrently on several threads all work") {
  const int count = 4;
  std::vector<std::string> sources;
  for (int i = 0; i < count; ++i)
    sources.push_back("network n {\n  input x : f32[" + std::to_string(10 + i) +
                      "]\n  h = dense(x, " + std::to_string(20 + 7 * i) +
                      ") |> leaky_relu(alpha = 1.5)\n  o = dense(h, 3)\n  output o\n}\n");
  std::vector<ir::Graph> graphs;
  std::vector<ir::ParameterValues> params;
  std::mt19937_64 rng(4);
  for (const std::string &s : sources) {
    graphs.push_back(parseNetwork(s));
    params.push_back(randomParameters(graphs.back(), rng));
  }
  std::vector<std::unique_ptr<backend::JitModule>> modules(count);
  std::vector<std::string> errors(count);
  std::vector<std::thread> pool;
  for (int i = 0; i < count; ++i)
    pool.emplace_back([&, i] {
      try {
        modules[size_t(i)] = backend::JitModule::compile(graphs[size_t(i)], params[size_t(i)]);
      } catch (const std::exception &e) {
        errors[size_t(i)] = e.what();
      }
    });
  for (std::thread &t : pool)
    t.join();
  for (int i = 0; i < count; ++i) {
    INFO(errors[size_t(i)]);
    REQUIRE(modules[size_t(i)]);
    int64_t batch = 5;
    std::vector<float> input = randomInput(rng, size_t(batch * graphs[size_t(i)].inputWidth()), false);
    std::vector<float> y(size_t(batch * 3));
    REQUIRE(modules[size_t(i)]->forward(input.data(), y.data(), batch) == 0);
    auto want = kernelOrderValues(graphs[size_t(i)], params[size_t(i)], input, batch,
                                  hostFusesMultiplyAdd());
    CHECK(firstDifference(y, want[graphs[size_t(i)].output]) == -1);
  }
}
