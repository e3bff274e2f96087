// Compiles a network at run time with slope's JIT and runs it from several threads.
//
//   embed NET.slope WEIGHTS
//
// Runs a batch of deterministic inputs through the compiled network from four threads
// at once, checks every result against slope's reference evaluator, and prints the
// first row. Exits 1 on any error or mismatch.
#include <slope/slope.hpp>

#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s NET.slope WEIGHTS\n", argv[0]);
    return 2;
  }
  try {
    slope::Options options;
    options.weights = argv[2];
    slope::Network net = slope::compile_file(argv[1], options);
    options.reference = true;
    slope::Network reference = slope::compile_file(argv[1], options);

    const int64_t batch = 37;
    std::vector<float> x(batch * net.input_size());
    for (size_t i = 0; i < x.size(); ++i)
      x[i] = std::sin(0.37f * float(i)) * 8.0f + 8.0f;
    std::vector<float> expected(batch * net.output_size());
    reference.forward(x.data(), expected.data(), batch);

    std::vector<std::vector<float>> results(4, std::vector<float>(expected.size()));
    std::vector<std::thread> threads;
    for (auto &y : results)
      threads.emplace_back([&net, &x, &y] {
        for (int repeat = 0; repeat < 50; ++repeat)
          net.forward(x.data(), y.data(), batch);
      });
    for (std::thread &t : threads)
      t.join();

    for (const auto &y : results)
      for (size_t i = 0; i < y.size(); ++i)
        if (!(std::fabs(y[i] - expected[i]) <= 1e-4f * (1.0f + std::fabs(expected[i])))) {
          std::fprintf(stderr, "mismatch at %zu: %g, reference %g\n", i, y[i], expected[i]);
          return 1;
        }
    std::printf("%s: %lld -> %lld, 4 threads agree with the reference evaluator\n",
                net.name().c_str(), (long long)net.input_size(), (long long)net.output_size());
    for (int64_t i = 0; i < net.output_size(); ++i)
      std::printf("%s%g", i ? " " : "", results[0][i]);
    std::printf("\n");
    return 0;
  } catch (const slope::Error &e) {
    std::fputs(e.what(), stderr);
    return 1;
  }
}
