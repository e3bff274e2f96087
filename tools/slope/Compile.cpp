// `slope compile`: an object file and a C header (SPEC §5).
#include "compiler/backend/EmitHeader.h"
#include "compiler/backend/EmitObject.h"
#include "compiler/ir/Graph.h"
#include "compiler/passes/Pipeline.h"
#include "slope/slope.hpp"
#include "src/Driver.h"
#include "tools/slope/Commands.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <utility>
#include <vector>

namespace slope::cli {

namespace {

struct CompileArgs {
  std::string source, output, header, weights, triple, cpu, emit = "obj", network;
};

struct PendingFile {
  std::string path;
  std::string bytes;
  std::string temporary;
};

/// Writes every file next to its destination under a temporary name, then renames
/// them all into place: a failure leaves no partial file and no file of this run
/// (except, if a rename fails for a reason other than a directory in the way, the
/// files renamed before it).
void writeFiles(std::vector<PendingFile> &files) {
  auto removeTemporaries = [&files] {
    for (PendingFile &f : files)
      if (!f.temporary.empty())
        ::unlink(f.temporary.c_str());
  };
  for (PendingFile &f : files) {
    int fd = -1;
    for (int attempt = 0; fd < 0; ++attempt) {
      f.temporary = fmt::format("{}.tmp-{}-{}", f.path, ::getpid(), attempt);
      fd = ::open(f.temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd >= 0)
        break;
      int error = errno;
      if (error != EEXIST || attempt == 100) {
        f.temporary.clear();
        removeTemporaries();
        fail(fmt::format("cannot write '{}': {}", f.path, std::strerror(error)));
      }
    }
    size_t written = 0;
    int error = 0;
    while (written < f.bytes.size() && error == 0) {
      ssize_t n = ::write(fd, f.bytes.data() + written, f.bytes.size() - written);
      if (n < 0 && errno != EINTR)
        error = errno;
      else if (n > 0)
        written += static_cast<size_t>(n);
    }
    if (::close(fd) != 0 && error == 0)
      error = errno;
    if (error != 0) {
      removeTemporaries();
      fail(fmt::format("cannot write '{}': {}", f.path, std::strerror(error)));
    }
  }
  // rename() would fail on a directory, but only after the files before it were
  // renamed into place: look first, so that such a failure writes nothing.
  for (PendingFile &f : files) {
    std::error_code ec;
    if (std::filesystem::is_directory(f.path, ec)) {
      removeTemporaries();
      fail(fmt::format("cannot write '{}': {}", f.path, std::strerror(EISDIR)));
    }
  }
  for (PendingFile &f : files) {
    if (::rename(f.temporary.c_str(), f.path.c_str()) != 0) {
      int error = errno;
      removeTemporaries();
      fail(fmt::format("cannot write '{}': {}", f.path, std::strerror(error)));
    }
    f.temporary.clear();
  }
}

backend::OutputKind outputKind(const std::string &emit) {
  if (emit == "asm")
    return backend::OutputKind::Assembly;
  if (emit == "llvm")
    return backend::OutputKind::LlvmIr;
  return backend::OutputKind::Object;
}

/// Whether two paths name the same file, whether or not it exists yet: "x.o", "./x.o",
/// "$PWD/x.o" and "d/../x.o" all do (symbolic links resolved where they exist).
bool samePath(const std::string &a, const std::string &b) {
  namespace fs = std::filesystem;
  auto resolved = [](const std::string &path) {
    std::error_code ec;
    fs::path full = fs::weakly_canonical(fs::absolute(path, ec), ec);
    return ec ? fs::path(path).lexically_normal() : full;
  };
  return resolved(a) == resolved(b);
}

/// Rejects destinations that are the same file, or one of the files the command reads.
void checkDestinations(const CompileArgs &args) {
  std::vector<std::pair<const char *, const std::string *>> destinations = {{"output", &args.output}};
  if (!args.header.empty())
    destinations.push_back({"header", &args.header});
  if (destinations.size() == 2 && samePath(args.header, args.output))
    fail(fmt::format("the header and the output are the same file '{}'", args.output));
  for (const auto &[what, path] : destinations) {
    if (samePath(*path, args.source))
      fail(fmt::format("the {} '{}' is the source file; it would be overwritten", what, *path));
    if (!args.weights.empty() && samePath(*path, args.weights))
      fail(fmt::format("the {} '{}' is the weights file; it would be overwritten", what, *path));
  }
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
  std::vector<PendingFile> files;
  try {
    backend::checkHeaderNames(graph, values.has_value());
    backend::AotOutput out = backend::compileAheadOfTime(graph, aot);
    files.push_back({args.output, std::move(out.bytes), {}});
    if (!args.header.empty()) {
      backend::HeaderOptions header;
      header.embedded = values.has_value();
      header.sourceName = std::filesystem::path(args.source).filename().string();
      header.weightsName = std::filesystem::path(args.weights).filename().string();
      header.triple = out.target.triple;
      header.cpu = out.target.cpu;
      files.push_back({args.header, backend::emitHeader(graph, header), {}});
    }
  } catch (const backend::CodegenError &e) {
    fail(e.what());
  }
  writeFiles(files);
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
