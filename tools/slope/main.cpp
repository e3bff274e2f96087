// The `slope` command line (SPEC §3). Thin: it parses options and calls the library.
//
// Exit status: 0 success, 1 a user error (bad source, data file or option value) with a
// message on stderr, 2 a usage error, 3 an internal error (a bug in slope).
#include "compiler/backend/Jit.h"
#include "compiler/ir/Graph.h"
#include "compiler/passes/Pipeline.h"
#include "frontend/Ast.h"
#include "runtime/Npy.h"
#include "runtime/Tensor.h"
#include "slope/slope.hpp"
#include "src/Driver.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>

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

void printWarnings(const std::vector<std::string> &warnings) {
  for (const std::string &w : warnings)
    fmt::print(stderr, "warning: {}\n", w);
}

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s;
  for (int64_t d : shape)
    s += fmt::format("{}{}", s.empty() ? "" : ", ", d);
  return "[" + s + "]";
}

int runCheck(const std::string &path) {
  std::unique_ptr<slope::Source> source = slope::driver::readSource(path);
  slope::driver::compileSource(*source);
  return 0;
}

int runRun(const RunArgs &args) {
  slope::Options options;
  options.weights = args.weights;
  options.random_weights_seed = args.seed;
  options.network = args.network;
  options.threads = args.threads;
  options.reference = args.reference;
  options.fuse = !args.noFuse;
  slope::Network net = slope::compile_file(args.source, options);
  printWarnings(net.warnings());

  slope::runtime::Tensor x;
  try {
    x = slope::runtime::readNpy(args.input);
  } catch (const slope::runtime::DataError &e) {
    throw slope::Error(slope::driver::errorText(e.what()));
  }
  const int64_t width = net.input_size();
  bool shapeOk = (x.shape.size() == 2 && x.shape[1] == width) ||
                 (x.shape.size() == 1 && x.shape[0] == width);
  if (!shapeOk)
    throw slope::Error(slope::driver::errorText(
        fmt::format("{}: input has shape {}; network '{}' expects [batch, {}] or [{}]", args.input,
                    shapeText(x.shape), net.name(), width, width)));
  const int64_t batch = x.shape.size() == 2 ? x.shape[0] : 1;

  slope::runtime::Tensor y;
  y.shape = x.shape.size() == 2 ? std::vector<int64_t>{batch, net.output_size()}
                                : std::vector<int64_t>{net.output_size()};
  y.data.resize(static_cast<size_t>(batch * net.output_size()));
  net.forward(x.data.data(), y.data.data(), batch);

  if (!args.output.empty()) {
    try {
      slope::runtime::writeNpy(args.output, y);
    } catch (const slope::runtime::DataError &e) {
      throw slope::Error(slope::driver::errorText(e.what()));
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

int runDump(const DumpArgs &args) {
  std::unique_ptr<slope::Source> source = slope::driver::readSource(args.source);
  if (args.stage == "ast") {
    fmt::print("{}", slope::ast::print(slope::driver::parseSource(*source), *source));
    return 0;
  }
  slope::ir::Module module = slope::driver::compileSource(*source);
  std::vector<slope::ir::Graph> graphs;
  if (args.network.empty())
    graphs = module.networks;
  else
    graphs.push_back(slope::driver::selectNetwork(module, args.network, *source));
  std::string out;
  for (slope::ir::Graph &graph : graphs) {
    if (args.stage == "ir") {
      out += (out.empty() ? "" : "\n") + slope::ir::print(graph);
      continue;
    }
    slope::passes::PipelineOptions pipeline;
    pipeline.fuse = !args.noFuse;
    slope::passes::runPipeline(graph, pipeline);
    try {
      if (args.stage == "fused")
        out += (out.empty() ? "" : "\n") + slope::ir::print(graph);
      else if (args.stage == "llvm")
        out += slope::backend::emitLlvmText(graph);
      else
        out += slope::backend::emitAssembly(graph);
    } catch (const slope::backend::CodegenError &e) {
      throw slope::Error(slope::driver::errorText(e.what()));
    }
  }
  fmt::print("{}", out);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"slope: compiles small neural networks into fused, vectorized CPU code", "slope"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("slope ") + slope::version());

  std::string checkPath;
  CLI::App *check = app.add_subcommand("check", "Parse and verify a network; diagnostics only");
  check->add_option("NET", checkPath, "a .slope file")->required();

  RunArgs run;
  CLI::App *runCmd = app.add_subcommand("run", "Compile a network and run it on an .npy input");
  runCmd->add_option("NET", run.source, "a .slope file")->required();
  CLI::Option *weights =
      runCmd->add_option("--weights", run.weights, "weights: .safetensors or .npz");
  runCmd->add_option("--random-weights", run.seed, "random weights from this seed")
      ->excludes(weights);
  runCmd->add_option("--input", run.input, "input .npy, shape [batch, width] or [width]")
      ->required();
  runCmd->add_option("--output", run.output, "write the result to this .npy instead of stdout");
  runCmd->add_option("--network", run.network, "the network to run, when the file has several");
  runCmd->add_option("--threads", run.threads, "threads to use (default: all cores)");
  runCmd->add_flag("--reference", run.reference, "run the reference evaluator, not compiled code");
  runCmd->add_flag("--no-fuse", run.noFuse, "compile every op as a kernel of its own");

  DumpArgs dump;
  CLI::App *dumpCmd = app.add_subcommand("dump", "Print a compilation stage");
  dumpCmd->add_option("NET", dump.source, "a .slope file")->required();
  dumpCmd->add_option("--stage", dump.stage, "the stage to print")
      ->required()
      ->check(CLI::IsMember({"ast", "ir", "fused", "llvm", "asm"}));
  dumpCmd->add_option("--network", dump.network, "only this network");
  dumpCmd->add_flag("--no-fuse", dump.noFuse, "show the unfused kernels");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    app.exit(e);
    return 2;
  }

  try {
    if (*check)
      return runCheck(checkPath);
    if (*runCmd)
      return runRun(run);
    if (*dumpCmd)
      return runDump(dump);
  } catch (const slope::Error &e) {
    std::fputs(e.what(), stderr);
    return 1;
  } catch (const std::exception &e) {
    fmt::print(stderr, "internal error: {}\n", e.what());
    return 3;
  }
  return 2;
}
