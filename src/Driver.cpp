#include "src/Driver.h"

#include "frontend/Lower.h"
#include "frontend/Parser.h"
#include "runtime/DataFile.h"
#include "runtime/Tensor.h"
#include "runtime/Weights.h"

#include <fmt/format.h>

#include <string>
#include <variant>

namespace slope::driver {

namespace {

std::string networkNames(const ir::Module &module) {
  std::string names;
  for (const ir::Graph &g : module.networks)
    names += fmt::format("{}'{}'", names.empty() ? "" : ", ", g.name);
  return names;
}

} // namespace

std::string errorText(std::string_view message) { return fmt::format("error: {}\n", message); }

std::unique_ptr<Source> readSource(const std::string &path) {
  std::variant<std::string, runtime::detail::FileReadFailure> read =
      runtime::detail::tryReadFileBytes(path);
  if (auto *failed = std::get_if<runtime::detail::FileReadFailure>(&read))
    throw Error(errorText(fmt::format("cannot read '{}': {}", path, failed->reason)));
  return std::make_unique<Source>(path, std::move(std::get<std::string>(read)));
}

ast::File parseSource(const Source &source) {
  DiagnosticEngine diags(source);
  ast::File file = parse(source, diags);
  if (diags.hasErrors())
    throw Error(diags.render());
  return file;
}

ir::Module compileSource(const Source &source) {
  DiagnosticEngine diags(source);
  std::optional<ir::Module> module = compileToIR(source, diags);
  if (!module)
    throw Error(diags.render());
  return std::move(*module);
}

const ir::Graph &selectNetwork(const ir::Module &module, const std::string &name,
                               const Source &source) {
  if (name.empty()) {
    if (module.networks.size() == 1)
      return module.networks.front();
    throw Error(errorText(fmt::format("'{}' defines {} networks ({}); choose one with --network",
                                      source.name(), module.networks.size(),
                                      networkNames(module))));
  }
  if (const ir::Graph *graph = module.find(name))
    return *graph;
  throw Error(errorText(fmt::format("'{}' has no network '{}'; it defines {}", source.name(), name,
                                    networkNames(module))));
}

ir::ParameterValues loadParameters(const ir::Graph &graph, const Options &options,
                                   std::vector<std::string> &warnings) {
  if (!options.weights.empty() && options.random_weights_seed)
    throw Error(errorText("give either weights or a random-weights seed, not both"));
  if (options.random_weights_seed)
    return ir::randomParameters(graph, *options.random_weights_seed);
  if (options.weights.empty()) {
    std::vector<ir::ParameterSpec> specs = ir::parameterSpecs(graph);
    if (specs.empty())
      return {};
    throw Error(errorText(fmt::format(
        "network '{}' reads parameters ('{}' first); give a weights file with --weights FILE, "
        "or --random-weights SEED",
        graph.name, specs.front().key)));
  }
  try {
    std::vector<std::string> unused;
    ir::ParameterValues values =
        ir::bindParameters(graph, runtime::loadWeights(options.weights), options.weights, &unused);
    for (const std::string &key : unused)
      // The key comes from the file: escaped and cut, as in the readers' errors.
      warnings.push_back(fmt::format("{}: unused tensor {}; network '{}' does not read it",
                                     options.weights, runtime::detail::quoted(key), graph.name));
    return values;
  } catch (const runtime::DataError &e) {
    throw Error(errorText(e.what()));
  } catch (const ir::ParameterError &e) {
    throw Error(errorText(e.what()));
  }
}

} // namespace slope::driver
