// `slope bench`: times forward passes of a compiled network, batch by batch.
//
// For each batch size: one warm-up call, then calls in a loop until at least
// --min-time seconds have passed (and at least 5 calls); the median, minimum and maximum
// time per call are reported, with GFLOP/s computed from the median. Multiply-adds of
// dense layers count as two operations; activations as one per element.
#include "compiler/passes/Pipeline.h"
#include "slope/slope.hpp"
#include "src/Driver.h"
#include "tools/slope/Commands.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <thread>

#include <unistd.h>

namespace slope::cli {

namespace {

struct BenchArgs {
  std::string source, weights, network;
  std::vector<int64_t> batches{1, 64, 1024};
  std::optional<uint64_t> seed;
  unsigned threads = 0;
  double minTime = 0.2;
  bool json = false, noFuse = false, reference = false;
};

double flopsPerRow(const ir::Graph &graph) {
  double flops = 0;
  for (const ir::Node &node : graph.nodes)
    flops += node.op == ir::Op::Dense
                 ? 2.0 * double(graph.node(node.operands[0]).width) * double(node.width)
                 : double(node.width);
  return flops - double(graph.inputWidth()); // the input node computes nothing
}

int bench(const BenchArgs &args) {
  std::unique_ptr<Source> source = driver::readSource(args.source);
  ir::Module module = driver::compileSource(*source);
  ir::Graph graph = driver::selectNetwork(module, args.network, *source);
  passes::runPipeline(graph);
  const double flops = flopsPerRow(graph);

  Options options;
  options.weights = args.weights;
  options.network = graph.name;
  options.threads = args.threads;
  options.fuse = !args.noFuse;
  options.reference = args.reference;
  if (args.weights.empty())
    options.random_weights_seed = args.seed.value_or(1);
  // The first compile in a process also pays for LLVM's one-time set-up and for paging
  // in its code; an application that compiles again pays only the rest. Both are
  // reported: the first, and the median of kCompiles more.
  constexpr int kCompiles = 5;
  auto timeCompile = [&] {
    auto start = std::chrono::steady_clock::now();
    Network compiled = compile_source(source->text(), options, source->name());
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return std::pair(std::move(compiled), ms);
  };
  auto [net, firstCompileMs] = timeCompile();
  std::vector<double> compileTimes;
  for (int i = 0; i < kCompiles; ++i)
    compileTimes.push_back(timeCompile().second);
  std::sort(compileTimes.begin(), compileTimes.end());
  const double compileMs = compileTimes[kCompiles / 2];
  const unsigned threads = args.threads ? args.threads : std::max(1u, std::thread::hardware_concurrency());

  if (!args.json)
    fmt::print("network {} ({} -> {}), {} thread{}, compiled in {:.1f} ms (the first compile "
               "in this process: {:.1f} ms)\n"
               "{:>7} {:>12} {:>12} {:>12} {:>10} {:>8}\n",
               net.name(), net.input_size(), net.output_size(), threads, threads == 1 ? "" : "s",
               compileMs, firstCompileMs, "batch", "median_us", "min_us", "max_us", "GFLOP/s", "runs");
  // The progress line is for a person watching a terminal, not for a log.
  const bool progress = !args.json && isatty(STDERR_FILENO);
  std::mt19937 random(12345);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (int64_t batch : args.batches) {
    std::vector<float> x(size_t(batch * net.input_size()));
    for (float &v : x)
      v = uniform(random);
    std::vector<float> y(size_t(batch * net.output_size()));
    if (progress)
      fmt::print(stderr, "  timing batch {}...\r", batch);
    net.forward(x.data(), y.data(), batch); // warm-up: page in, wake the workers
    std::vector<double> times;
    auto start = std::chrono::steady_clock::now();
    while (true) {
      auto t0 = std::chrono::steady_clock::now();
      net.forward(x.data(), y.data(), batch);
      auto t1 = std::chrono::steady_clock::now();
      times.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      if (times.size() >= 5 && std::chrono::duration<double>(t1 - start).count() >= args.minTime)
        break;
    }
    std::sort(times.begin(), times.end());
    double median = times.size() % 2 ? times[times.size() / 2]
                                     : 0.5 * (times[times.size() / 2 - 1] + times[times.size() / 2]);
    double gflops = median > 0 ? flops * double(batch) / (median * 1e3) : 0.0;
    if (args.json) {
      nlohmann::json row = {{"network", net.name()},     {"batch", batch},
                            {"threads", threads},        {"median_us", median},
                            {"min_us", times.front()},   {"max_us", times.back()},
                            {"gflops", gflops},          {"runs", times.size()},
                            {"compile_ms", compileMs},   {"first_compile_ms", firstCompileMs},
                            {"fused", !args.noFuse},
                            {"engine", args.reference ? "reference" : "jit"}};
      fmt::print("{}\n", row.dump());
    } else {
      if (progress)
        fmt::print(stderr, "\33[2K");
      fmt::print("{:>7} {:>12.2f} {:>12.2f} {:>12.2f} {:>10.2f} {:>8}\n", batch, median,
                 times.front(), times.back(), gflops, times.size());
    }
    std::fflush(stdout);
  }
  return 0;
}

} // namespace

Command addBenchCommand(CLI::App &app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App *cmd = app.add_subcommand("bench", "Time forward passes at several batch sizes");
  cmd->add_option("NET", args->source, "a .slope file")->required();
  CLI::Option *weights = cmd->add_option("--weights", args->weights, "weights (default: random)");
  cmd->add_option("--random-weights", args->seed, "seed of the random weights")
      ->check(wholeNumber(std::numeric_limits<uint64_t>::max()))
      ->excludes(weights);
  cmd->add_option("--batch", args->batches, "batch sizes, e.g. 1,64,1024")
      ->delimiter(',')
      ->check(wholeNumber(uint64_t(1) << 24));
  cmd->add_option("--threads", args->threads, "threads to use (default: all cores)")
      ->check(wholeNumber(max_threads));
  cmd->add_option("--network", args->network, "the network, when the file has several");
  cmd->add_option("--min-time", args->minTime, "seconds to time each batch size (default 0.2)")
      ->check(numberIn(0.0, 3600.0));
  cmd->add_flag("--json", args->json, "one JSON object per batch size");
  cmd->add_flag("--no-fuse", args->noFuse, "compile every op as a kernel of its own");
  cmd->add_flag("--reference", args->reference, "time the reference evaluator");
  return {cmd, [args] { return bench(*args); }};
}

} // namespace slope::cli
