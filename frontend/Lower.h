// Syntax tree to graph IR. Every user error that does not depend on data files ends
// here: names, argument kinds and ranges, widths, parameter prefixes, limits.
#pragma once

#include "compiler/ir/Graph.h"
#include "frontend/Ast.h"
#include "frontend/Diagnostics.h"

#include <optional>

namespace slope {

/// Limits that rule out absurd allocations from a small source file.
inline constexpr int64_t kMaxWidth = int64_t(1) << 20;
inline constexpr int64_t kMaxParameters = int64_t(1) << 30;

/// Returns the module, or nothing when an error was reported.
std::optional<ir::Module> lower(const ast::File &file, DiagnosticEngine &diags);

/// Source text to graph IR: lex, parse, lower.
std::optional<ir::Module> compileToIR(const Source &source, DiagnosticEngine &diags);

} // namespace slope
