// What the frontend and IR unit tests share: one network's source text lowered to its
// graph, with the test failing (and showing the diagnostics) if the source is not clean.
#pragma once

#include "compiler/ir/Graph.h"
#include "frontend/Diagnostics.h"
#include "frontend/Lower.h"
#include "frontend/Source.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>

namespace slope::testutil {

/// The graph of the only network in `text`, which must lower without any diagnostic.
inline ir::Graph lowerOne(const std::string &text) {
  Source source("test.slope", text);
  DiagnosticEngine diags(source);
  std::optional<ir::Module> module = compileToIR(source, diags);
  INFO(diags.render());
  REQUIRE(module);
  REQUIRE(diags.diagnostics().empty());
  REQUIRE(module->networks.size() == 1);
  return module->networks[0];
}

} // namespace slope::testutil
