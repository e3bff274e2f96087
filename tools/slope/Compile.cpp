// `slope compile`: an object file and a C header (SPEC §5).
#include "compiler/backend/EmitHeader.h"
#include "compiler/backend/EmitObject.h"
#include "compiler/ir/Graph.h"
#include "compiler/passes/Pipeline.h"
#include "runtime/DataFile.h"
#include "slope/slope.hpp"
#include "src/Driver.h"
#include "tools/slope/Commands.h"

#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <utility>
#include <vector>

namespace slope::cli {

namespace {

struct CompileArgs {
  std::string source, output, header, weights, triple, cpu, emit = "obj", network;
};

backend::OutputKind outputKind(const std::string &emit) {
  if (emit == "asm")
    return backend::OutputKind::Assembly;
  if (emit == "llvm")
    return backend::OutputKind::LlvmIr;
  return backend::OutputKind::Object;
}

/// Rejects destinations that are the same file, or one of the files the command reads.
void checkDestinations(const CompileArgs &args) {
  std::vector<std::pair<const char *, const std::string *>> destinations = {{"output", &args.output}};
  if (!args.header.empty())
    destinations.push_back({"header", &args.header});
  if (destinations.size() == 2 && samePath(args.header, args.output))
    fail(fmt::format("the header and the output are the same file '{}'", args.output));
  for (const auto &[what, path] : destinations)
    checkNotAnInput(what, *path, args.source, args.weights);
}

int compile(const CompileArgs &args) {
  checkDestinations(args);
  std::unique_ptr<Source> source = driver::readSource(args.source);
  ir::Module module = driver::compileSource(*source);
  ir::Graph graph = driver::selectNetwork(module, args.network, *source);
  passes::runPipeline(graph);

  Options options;
  options.weights = args.weights;
  options.network = args.network;
  std::vector<std::string> warnings;
  std::optional<ir::ParameterValues> values;
  if (!args.weights.empty())
    values = driver::loadParameters(graph, options, warnings);
  for (const std::string &w : warnings)
    fmt::print(stderr, "warning: {}\n", w);

  backend::AotOptions aot;
  aot.triple = args.triple;
  aot.cpu = args.cpu;
  aot.output = outputKind(args.emit);
  aot.embedded = values ? &*values : nullptr;
  std::vector<std::string> contents; // the object, then the header
  try {
    backend::checkHeaderNames(graph, values.has_value());
    backend::AotOutput out = backend::compileAheadOfTime(graph, aot);
    contents.push_back(std::move(out.bytes));
    if (!args.header.empty()) {
      backend::HeaderOptions header;
      header.embedded = values.has_value();
      header.sourceName = std::filesystem::path(args.source).filename().string();
      header.weightsName = std::filesystem::path(args.weights).filename().string();
      header.triple = out.target.triple;
      header.cpu = out.target.cpu;
      contents.push_back(backend::emitHeader(graph, header));
    }
  } catch (const backend::CodegenError &e) {
    fail(e.what());
  }
  std::vector<runtime::detail::OutputFile> files = {{args.output, contents[0]}};
  if (contents.size() > 1)
    files.push_back({args.header, contents[1]});
  try {
    runtime::detail::writeFilesAtomically(files);
  } catch (const runtime::DataError &e) {
    fail(e.what());
  }
  return 0;
}

} // namespace

Command addCompileCommand(CLI::App &app) {
  auto args = std::make_shared<CompileArgs>();
  CLI::App *cmd = app.add_subcommand("compile", "Write an object file and a C header");
  cmd->add_option("NET", args->source, "a .slope file")->required();
  cmd->add_option("-o,--output", args->output, "the object file to write")->required();
  cmd->add_option("--header", args->header, "also write the C header here");
  cmd->add_option("--weights", args->weights,
                  "embed these weights (.safetensors or .npz); without, the function takes "
                  "them as arguments");
  cmd->add_option("--target", args->triple, "target triple, e.g. aarch64-linux-gnu (default: host)");
  cmd->add_option("--cpu", args->cpu,
                  "CPU to generate code for, e.g. x86-64-v3, or native (the default for the "
                  "host target)");
  cmd->add_option("--emit", args->emit, "what to write: obj (default), asm or llvm")
      ->check(oneOf({"obj", "asm", "llvm"}));
  cmd->add_option("--network", args->network, "the network to compile, when the file has several");
  return {cmd, [args] { return compile(*args); }};
}

} // namespace slope::cli
