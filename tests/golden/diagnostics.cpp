// Every `.slope` file in tests/golden/diagnostics/ is compiled, and its diagnostics are
// compared with the `.stderr` file beside it. Together the files must exercise every
// kind in frontend/Diagnostics.def.
#include "golden/Golden.h"

#include "frontend/Diagnostics.h"
#include "frontend/Lower.h"

#include <set>

namespace {

using slope::test::checkGolden;
using slope::test::goldenInputs;
using slope::test::readFile;

std::set<slope::DiagKind> &kindsSeen() {
  static std::set<slope::DiagKind> seen;
  return seen;
}

void compileGolden(const std::filesystem::path &path) {
  slope::Source source(path.filename().string(), readFile(path));
  slope::DiagnosticEngine diags(source);
  std::optional<slope::ir::Module> module = slope::compileToIR(source, diags);
  for (const slope::Diagnostic &d : diags.diagnostics())
    kindsSeen().insert(d.kind);
  INFO(path.filename().string());
  CHECK_MESSAGE(!module, "a diagnostics test must not compile");
  checkGolden(std::filesystem::path(path).replace_extension(".stderr"), diags.render());
}

} // namespace

TEST_CASE("golden diagnostics") {
  std::vector<std::filesystem::path> files = goldenInputs("diagnostics", ".slope");
  REQUIRE(files.size() >= 30);
  for (const auto &path : files) {
    SUBCASE(path.filename().string().c_str()) { compileGolden(path); }
  }
}

TEST_CASE("every diagnostic kind has a golden test") {
  kindsSeen().clear();
  for (const auto &path : goldenInputs("diagnostics", ".slope"))
    compileGolden(path);
  std::vector<slope::DiagKind> all = {
#define DIAGNOSTIC(Kind, Severity, Message) slope::DiagKind::Kind,
#include "frontend/Diagnostics.def"
  };
  for (slope::DiagKind kind : all) {
    INFO("diagnostic kind without a golden test: ", slope::diagKindName(kind));
    CHECK(kindsSeen().count(kind) == 1);
  }
}
