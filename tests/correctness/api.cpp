// The embedded C++ API (SPEC §4): compile, forward from several threads, errors.
#include "slope/slope.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <thread>
#include <utility>
#include <vector>

namespace {

const char *kMlp = R"(network mlp {
  input x : f32[48]
  h = dense(x, 96) |> leaky_relu(alpha = 2.5)
  g = dense(h, 96) |> leaky_relu(alpha = -0.5)
  r = add(g, h)
  out = dense(r, 10)
  output out
}
)";

// The first layer's weights (1.1 MB) stream from L3 at small batches: threads share it
// by column tiles, one layer after the other; the second layer splits by rows.
const char *kBig = R"(network big {
  input x : f32[1100]
  h = dense(x, 250) |> leaky_relu(alpha = 0.1)
  y = dense(h, 30) |> softmax()
  output y
}
)";

std::vector<float> inputs(int64_t batch, int64_t width) {
  std::vector<float> x(size_t(batch * width));
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = std::sin(0.7f * float(i)) * 3.0f;
  return x;
}

bool close(float a, float b) { return std::fabs(a - b) <= 1e-4f * (1.0f + std::fabs(b)); }

/// The outputs of `a` and `b` (same input and output sizes) on the same `batch` rows.
std::pair<std::vector<float>, std::vector<float>> forwardBoth(const slope::Network &a,
                                                              const slope::Network &b,
                                                              int64_t batch) {
  std::vector<float> x = inputs(batch, a.input_size());
  std::vector<float> ya(size_t(batch * a.output_size()), NAN), yb(ya.size(), NAN);
  a.forward(x.data(), ya.data(), batch);
  b.forward(x.data(), yb.data(), batch);
  return {ya, yb};
}

} // namespace

TEST_CASE("api: JIT agrees with the reference evaluator, on one thread and on several") {
  slope::Options options;
  options.random_weights_seed = 3;
  options.reference = true;
  slope::Network reference = slope::compile_source(kMlp, options);
  CHECK(reference.name() == "mlp");
  CHECK(reference.input_size() == 48);
  CHECK(reference.output_size() == 10);

  for (unsigned threads : {1u, 2u, 3u}) {
    options.reference = false;
    options.threads = threads;
    slope::Network net = slope::compile_source(kMlp, options);
    for (int64_t batch : {0, 1, 2, 7, 64, 301}) {
      CAPTURE(threads);
      CAPTURE(batch);
      auto [y, expected] = forwardBoth(net, reference, batch);
      for (size_t i = 0; i < y.size(); ++i)
        REQUIRE(close(y[i], expected[i]));
    }
  }
}

TEST_CASE("api: layers too large for L2 give the same bits on any number of threads") {
  const char *text = kBig;
  slope::Options options;
  options.random_weights_seed = 5;
  options.threads = 1;
  slope::Network one = slope::compile_source(text, options);
  for (unsigned threads : {2u, 3u}) {
    options.threads = threads;
    slope::Network net = slope::compile_source(text, options);
    for (int64_t batch : {1, 2, 5, 9, 40}) {
      CAPTURE(threads);
      CAPTURE(batch);
      auto [y, expected] = forwardBoth(net, one, batch);
      REQUIRE(y.size() == size_t(batch * 30));
      CHECK(std::memcmp(y.data(), expected.data(), y.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("api: one network called from several threads at once") {
  // The MLP splits its batch by rows; the big network runs layer by layer, its first
  // layer by column tiles.
  for (auto [text, batch] : {std::pair{kMlp, int64_t(257)}, {kBig, int64_t(3)}}) {
    slope::Options options;
    options.random_weights_seed = 11;
    options.threads = 2; // each call may also use the pool: callers contend for it
    slope::Network net = slope::compile_source(text, options);
    CAPTURE(net.name());
    std::vector<float> x = inputs(batch, net.input_size());
    std::vector<float> expected(size_t(batch * net.output_size()));
    net.forward(x.data(), expected.data(), batch);

    std::vector<std::vector<float>> results(4, std::vector<float>(expected.size()));
    std::vector<std::thread> callers;
    for (auto &y : results)
      callers.emplace_back([&] {
        for (int repeat = 0; repeat < 30; ++repeat)
          net.forward(x.data(), y.data(), batch);
      });
    for (std::thread &t : callers)
      t.join();
    for (const auto &y : results)
      CHECK(std::memcmp(y.data(), expected.data(), y.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("api: errors carry the command line's text") {
  try {
    slope::compile_source("network n {\n  input x : f32[4]\n  y = leaky_rleu(x)\n  output y\n}\n",
                          {}, "bad.slope");
    FAIL("compiled a bad source");
  } catch (const slope::Error &e) {
    CHECK(std::string(e.what()) ==
          "bad.slope:3:7: error: unknown activation 'leaky_rleu'; did you mean 'leaky_relu'?\n"
          "   3 |   y = leaky_rleu(x)\n"
          "     |       ^~~~~~~~~~\n");
  }
  CHECK_THROWS_WITH_AS(slope::compile_source(kMlp), 
                       "error: network 'mlp' reads parameters ('h.weight' first); give a weights "
                       "file with --weights FILE, or --random-weights SEED\n",
                       slope::Error);
  CHECK_THROWS_WITH_AS(slope::compile_file("/nonexistent/net.slope"),
                       "error: cannot read '/nonexistent/net.slope': No such file or directory\n",
                       slope::Error);

  CHECK_THROWS_WITH_AS(slope::compile_file("/dev/zero"),
                       "error: cannot read '/dev/zero': not a regular file\n", slope::Error);

  slope::Options options;
  options.random_weights_seed = 1;
  options.threads = slope::max_threads + 1;
  CHECK_THROWS_WITH_AS(slope::compile_source(kMlp, options),
                       "error: too many threads: 1025; at most 1024 (0 means one per core)\n",
                       slope::Error);
  options.threads = slope::max_threads; // the largest count is allowed
  CHECK_NOTHROW(slope::compile_source(kMlp, options));
  options.threads = 0;
  slope::Network net = slope::compile_source(kMlp, options);
  std::vector<float> x(48), y(10);
  CHECK_THROWS_WITH_AS(net.forward(x.data(), y.data(), -1),
                       "error: batch must not be negative, got -1\n", slope::Error);
  CHECK_THROWS_WITH_AS(net.forward(nullptr, y.data(), 1),
                       "error: forward: input and output must not be null\n", slope::Error);
  CHECK_THROWS_WITH_AS(net.forward(x.data(), y.data(), std::numeric_limits<int64_t>::max()),
                       "error: batch too large: 9223372036854775807 rows of 48 floats overflow "
                       "a 64-bit byte count\n",
                       slope::Error);
  net.forward(nullptr, nullptr, 0); // batch 0 touches nothing
}

TEST_CASE("api: copies share the compiled network") {
  slope::Options options;
  options.random_weights_seed = 5;
  slope::Network a = slope::compile_source(kMlp, options);
  slope::Network b = a;
  std::vector<float> x = inputs(3, 48), ya(30), yb(30);
  a.forward(x.data(), ya.data(), 3);
  b.forward(x.data(), yb.data(), 3);
  CHECK(ya == yb);
  CHECK(std::string(slope::version()).find('.') != std::string::npos);
}
