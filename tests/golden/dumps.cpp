// Every `.slope` file in tests/golden/dumps/ is compiled, and what `slope dump` prints
// for its stages is compared with the files beside it: `.ast`, `.ir` and `.fused`
// (and `.unfused`, the fused stage under --no-fuse). SLOPE_UPDATE_GOLDEN=1 rewrites them.
#include "golden/Golden.h"

#include "TestUtil.h"

#include "compiler/ir/Graph.h"
#include "compiler/passes/Pipeline.h"
#include "frontend/Ast.h"
#include "src/Driver.h"

namespace {

using slope::test::checkGolden;
using slope::test::goldenInputs;

/// The text of one stage, as `slope dump --stage <stage>` prints it for the whole file.
std::string dumpStage(const std::filesystem::path &path, const std::string &stage, bool fuse = true) {
  slope::Source source(path.filename().string(), slope::test::readFile(path));
  if (stage == "ast")
    return slope::ast::print(slope::driver::parseSource(source), source);
  slope::ir::Module module = slope::driver::compileSource(source);
  std::string out;
  for (slope::ir::Graph &graph : module.networks) {
    if (stage != "ir") {
      slope::passes::PipelineOptions options;
      options.fuse = fuse;
      slope::passes::runPipeline(graph, options);
    }
    out += (out.empty() ? "" : "\n") + slope::ir::print(graph);
  }
  return out;
}

} // namespace

TEST_CASE("golden dumps") {
  std::vector<std::filesystem::path> files = goldenInputs("dumps", ".slope");
  REQUIRE(files.size() >= 4);
  for (const auto &path : files) {
    SUBCASE(path.filename().string().c_str()) {
      auto golden = [&](const char *extension) {
        return std::filesystem::path(path).replace_extension(extension);
      };
      checkGolden(golden(".ast"), dumpStage(path, "ast"));
      checkGolden(golden(".ir"), dumpStage(path, "ir"));
      checkGolden(golden(".fused"), dumpStage(path, "fused"));
      checkGolden(golden(".unfused"), dumpStage(path, "fused", /*fuse=*/false));
    }
  }
}

TEST_CASE("golden dumps are what the command line prints") {
  for (const auto &path : goldenInputs("dumps", ".slope")) {
    CAPTURE(path.filename().string());
    for (const char *stage : {"ast", "ir", "fused"}) {
      CAPTURE(stage);
      slope::testutil::RunResult r =
          slope::testutil::runSlope({"dump", path.filename().string(), "--stage", stage}, path.parent_path().string());
      CHECK(r.status == 0);
      CHECK(r.err == "");
      CHECK(r.out == dumpStage(path, stage));
    }
    slope::testutil::RunResult r = slope::testutil::runSlope(
        {"dump", path.filename().string(), "--stage", "fused", "--no-fuse"}, path.parent_path().string());
    CHECK(r.status == 0);
    CHECK(r.out == dumpStage(path, "fused", false));
  }
}
