// `slope check`, `slope run` and `slope dump`.
#include "compiler/backend/Jit.h"
#include "compiler/ir/Graph.h"
#include "compiler/passes/Pipeline.h"
#include "frontend/Ast.h"
#include "runtime/Npy.h"
#include "runtime/Tensor.h"
#include "slope/slope.hpp"
#include "src/Driver.h"
#include "tools/slope/Commands.h"

#include <fmt/format.h>

#include <cstdio>
#include <limits>
#include <iterator>
#include <memory>

namespace slope::cli {

namespace {

struct RunArgs {
  std::string source, weights, input, output, network;
  std::optional<uint64_t> seed;
  unsigned threads = 0;
  bool reference = false, noFuse = false;
};

struct DumpArgs {
  std::string source, stage, network;
  bool noFuse = false;
};

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s;
  for (int64_t d : shape)
    s += fmt::format("{}{}", s.empty() ? "" : ", ", d);
  return "[" + s + "]";
}

runtime::Tensor readInput(const std::string &path) {
  try {
    return runtime::readNpy(path);
  } catch (const runtime::DataError &e) {
    fail(e.what());
  }
}

int run(const RunArgs &args) {
  // The input may be rewritten in place; the source and the weights may not.
  if (!args.output.empty())
    checkNotAnInput("output", args.output, args.source, args.weights);
  Options options;
  options.weights = args.weights;
  options.random_weights_seed = args.seed;
  options.network = args.network;
  options.threads = args.threads;
  options.reference = args.reference;
  options.fuse = !args.noFuse;
  Network net = compile_file(args.source, options);
  for (const std::string &w : net.warnings())
    fmt::print(stderr, "warning: {}\n", w);

  runtime::Tensor x = readInput(args.input);
  const int64_t width = net.input_size();
  bool shapeOk = (x.shape.size() == 2 && x.shape[1] == width) ||
                 (x.shape.size() == 1 && x.shape[0] == width);
  if (!shapeOk)
    fail(fmt::format("{}: input has shape {}; network '{}' expects [batch, {}] or [{}]",
                     args.input, shapeText(x.shape), net.name(), width, width));
  const int64_t batch = x.shape.size() == 2 ? x.shape[0] : 1;

  runtime::Tensor y;
  y.shape = x.shape.size() == 2 ? std::vector<int64_t>{batch, net.output_size()}
                                : std::vector<int64_t>{net.output_size()};
  y.data.resize(static_cast<size_t>(batch * net.output_size()));
  net.forward(x.data.data(), y.data.data(), batch);

  if (!args.output.empty()) {
    try {
      runtime::writeNpy(args.output, y);
    } catch (const runtime::DataError &e) {
      fail(e.what());
    }
    return 0;
  }
  // One sample per line, each value in the shortest form that reads back to the same f32.
  std::string text;
  const size_t cols = static_cast<size_t>(net.output_size());
  for (int64_t b = 0; b < batch; ++b) {
    for (size_t c = 0; c < cols; ++c)
      fmt::format_to(std::back_inserter(text), "{}{}", c ? " " : "", y.data[b * cols + c]);
    text += '\n';
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

int dump(const DumpArgs &args) {
  std::unique_ptr<Source> source = driver::readSource(args.source);
  if (args.stage == "ast") {
    fmt::print("{}", ast::print(driver::parseSource(*source), *source));
    return 0;
  }
  ir::Module module = driver::compileSource(*source);
  std::vector<ir::Graph> graphs;
  if (args.network.empty())
    graphs = module.networks;
  else
    graphs.push_back(driver::selectNetwork(module, args.network, *source));
  std::string out;
  for (ir::Graph &graph : graphs) {
    if (args.stage == "ir") {
      out += (out.empty() ? "" : "\n") + ir::print(graph);
      continue;
    }
    passes::PipelineOptions pipeline;
    pipeline.fuse = !args.noFuse;
    passes::runPipeline(graph, pipeline);
    try {
      if (args.stage == "fused")
        out += (out.empty() ? "" : "\n") + ir::print(graph);
      else if (args.stage == "llvm")
        out += backend::emitLlvmText(graph);
      else
        out += backend::emitAssembly(graph);
    } catch (const backend::CodegenError &e) {
      fail(e.what());
    }
  }
  fmt::print("{}", out);
  return 0;
}

} // namespace

void fail(std::string_view message) { throw Error(driver::errorText(message)); }

Command addCheckCommand(CLI::App &app) {
  struct CheckArgs {
    std::string source, network;
  };
  auto args = std::make_shared<CheckArgs>();
  CLI::App *cmd = app.add_subcommand("check", "Parse and verify a network; diagnostics only");
  cmd->add_option("NET", args->source, "a .slope file")->required();
  cmd->add_option("--network", args->network,
                  "also require this network to be in the file (every network is verified)");
  return {cmd, [args] {
            std::unique_ptr<Source> source = driver::readSource(args->source);
            ir::Module module = driver::compileSource(*source);
            if (!args->network.empty())
              driver::selectNetwork(module, args->network, *source);
            return 0;
          }};
}

Command addRunCommand(CLI::App &app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App *cmd = app.add_subcommand("run", "Compile a network and run it on an .npy input");
  cmd->add_option("NET", args->source, "a .slope file")->required();
  CLI::Option *weights = cmd->add_option("--weights", args->weights, "weights: .safetensors or .npz");
  cmd->add_option("--random-weights", args->seed, "random weights from this seed")
      ->check(wholeNumber(std::numeric_limits<uint64_t>::max()))
      ->excludes(weights);
  cmd->add_option("--input", args->input, "input .npy, shape [batch, width] or [width]")->required();
  cmd->add_option("--output", args->output, "write the result to this .npy instead of stdout");
  cmd->add_option("--network", args->network, "the network to run, when the file has several");
  cmd->add_option("--threads", args->threads, "threads to use (default: all cores)")
      ->check(wholeNumber(max_threads));
  cmd->add_flag("--reference", args->reference, "run the reference evaluator, not compiled code");
  cmd->add_flag("--no-fuse", args->noFuse, "compile every op as a kernel of its own");
  return {cmd, [args] { return run(*args); }};
}

Command addDumpCommand(CLI::App &app) {
  auto args = std::make_shared<DumpArgs>();
  CLI::App *cmd = app.add_subcommand("dump", "Print a compilation stage");
  cmd->add_option("NET", args->source, "a .slope file")->required();
  cmd->add_option("--stage", args->stage, "the stage to print")
      ->required()
      ->check(oneOf({"ast", "ir", "fused", "llvm", "asm"}));
  cmd->add_option("--network", args->network, "only this network");
  cmd->add_flag("--no-fuse", args->noFuse, "show the unfused kernels");
  return {cmd, [args] { return dump(*args); }};
}

} // namespace slope::cli
