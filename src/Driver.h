// The steps the command line and the C++ API share: read a source, compile it to IR,
// pick a network, bind its parameters. Every user error is thrown as slope::Error with
// the message the command line prints.
#pragma once

#include "compiler/ir/Graph.h"
#include "compiler/ir/Parameters.h"
#include "frontend/Ast.h"
#include "slope/slope.hpp"

#include <memory>

namespace slope::driver {

/// Reads a source file; throws Error("error: cannot read 'x.slope': ...").
std::unique_ptr<Source> readSource(const std::string &path);

/// Parses the source; throws Error with every diagnostic when it has errors.
ast::File parseSource(const Source &source);

/// Parses and lowers the source; throws Error with every diagnostic when it has errors.
ir::Module compileSource(const Source &source);

/// The network named `name`, or the only network when `name` is empty.
const ir::Graph &selectNetwork(const ir::Module &module, const std::string &name,
                               const Source &source);

/// The network's parameters from `options` (weights file or random seed); unused
/// tensors are appended to `warnings`.
ir::ParameterValues loadParameters(const ir::Graph &graph, const Options &options,
                                   std::vector<std::string> &warnings);

/// Formats a user error for the command line and slope::Error: "error: <message>".
std::string errorText(std::string_view message);

} // namespace slope::driver
