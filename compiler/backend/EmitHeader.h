// The C header of an ahead-of-time compiled network (SPEC §5): size macros, the
// parameter struct when the weights are not embedded, and the entry function, valid C99
// and C++. No LLVM here: the header depends on the graph alone.
#pragma once

#include "compiler/ir/Graph.h"

#include <string>
#include <string_view>

namespace slope::backend {

struct HeaderOptions {
  /// The parameters are embedded in the object (no `<net>_params` argument).
  bool embedded = false;
  /// For the comment: the source file, the weights file (when embedded), and what the
  /// object was compiled for.
  std::string sourceName;
  std::string weightsName;
  std::string triple;
  std::string cpu;
};

/// The field name SPEC §5 gives a parameter: every character that cannot appear in a
/// C identifier becomes `_`, and a leading digit gets a `p` in front
/// (`h1.weight` -> `h1_weight`, `0.bias` -> `p0_bias`).
std::string parameterFieldName(std::string_view key);

/// The header text. Throws CodegenError (Jit.h) when two parameter keys give the same
/// field name.
std::string emitHeader(const ir::Graph &graph, const HeaderOptions &options);

/// Checks what emitHeader would reject, so that a failing compile writes nothing.
void checkHeaderNames(const ir::Graph &graph, bool embedded);

} // namespace slope::backend
