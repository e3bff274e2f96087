// `slope bench` end to end: the JSON lines (fields, consistency), the text table, the
// engines, and errors on bad arguments (issue: fast kernels, item 3).
#include "TestUtil.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using slope::testutil::runSlope;
using slope::testutil::scratchDir;
using slope::testutil::splitLines;
using slope::testutil::writeBytes;

/// 4 -> 3 -> 2 with a leaky_relu between the layers, in a scratch directory of the
/// test case's own: ctest runs test cases in parallel processes, and a shared directory
/// would be wiped by the next one to start.
fs::path tinyNetwork(const std::string &dirName) {
  fs::path dir = scratchDir(dirName);
  fs::path source = dir / "tiny.slope";
  writeBytes(source, "network tiny {\n  input x : f32[4]\n  h = dense(x, 3) |> leaky_relu(0.1)\n"
                     "  y = dense(h, 2)\n  output y\n}\n");
  return source;
}
/// Counted as `slope bench` counts: a dense layer 2 * in * out, any other op one per
/// element.
constexpr double kTinyFlopsPerRow = 2 * 4 * 3 + 3 + 2 * 3 * 2;

std::vector<nlohmann::json> jsonLines(const std::string &out) {
  std::vector<nlohmann::json> rows;
  for (const std::string &line : splitLines(out))
    rows.push_back(nlohmann::json::parse(line));
  return rows;
}

} // namespace

TEST_CASE("cli bench: --json prints one consistent object per batch size") {
  const fs::path tiny = tinyNetwork("cli_bench_json");
  auto r = runSlope({"bench", tiny.string(), "--batch", "1,3,0", "--threads", "1",
                     "--json", "--min-time", "0.01"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.err.empty()); // no progress line when stderr is not a terminal
  std::vector<nlohmann::json> rows = jsonLines(r.out);
  REQUIRE(rows.size() == 3);
  const int64_t batches[] = {1, 3, 0};
  for (size_t i = 0; i < rows.size(); ++i) {
    const nlohmann::json &row = rows[i];
    INFO(row.dump());
    CHECK(row.at("network") == "tiny");
    CHECK(row.at("batch") == batches[i]);
    CHECK(row.at("threads") == 1);
    CHECK(row.at("engine") == "jit");
    CHECK(row.at("fused") == true);
    double median = row.at("median_us"), lo = row.at("min_us"), hi = row.at("max_us");
    CHECK(lo >= 0);
    CHECK(lo <= median);
    CHECK(median <= hi);
    CHECK(row.at("runs").get<int64_t>() >= 5);
    CHECK(row.at("compile_ms").get<double>() > 0);
    CHECK(row.at("first_compile_ms").get<double>() > 0);
    double expected = median > 0 ? kTinyFlopsPerRow * double(batches[i]) / (median * 1e3) : 0;
    CHECK(row.at("gflops").get<double>() == doctest::Approx(expected).epsilon(1e-9));
  }
}

TEST_CASE("cli bench: the text table, the reference engine and --no-fuse") {
  const fs::path tiny = tinyNetwork("cli_bench_text");
  auto r = runSlope({"bench", tiny.string(), "--batch", "2", "--threads", "1",
                     "--min-time", "0.01"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  std::vector<std::string> lines = splitLines(r.out);
  REQUIRE(lines.size() == 3);
  // (No std::regex: g++ 12 warns inside <regex> under the sanitizers.)
  double compileMs = -1, firstMs = -1;
  char tail = 0;
  CHECK(std::sscanf(lines[0].c_str(),
                    "network tiny (4 -> 2), 1 thread, compiled in %lf ms (the first compile in "
                    "this process: %lf ms%c",
                    &compileMs, &firstMs, &tail) == 3);
  CHECK(tail == ')');
  CHECK(lines[0].back() == ')');
  CHECK(compileMs > 0);
  CHECK(firstMs > 0);
  CHECK(lines[1] == "  batch    median_us       min_us       max_us    GFLOP/s     runs");
  std::istringstream row(lines[2]);
  int64_t batch = 0, runs = 0;
  double median = 0, lo = 0, hi = 0, gflops = 0;
  row >> batch >> median >> lo >> hi >> gflops >> runs;
  CHECK(!row.fail());
  CHECK(row.eof());
  CHECK(batch == 2);
  CHECK(lo <= median);
  CHECK(median <= hi);
  CHECK(runs >= 5);
  CHECK(lines[2].size() == lines[1].size()); // the columns line up with the header

  for (const char *flag : {"--reference", "--no-fuse"}) {
    auto j = runSlope({"bench", tiny.string(), "--batch", "1", "--threads", "1",
                       "--json", "--min-time", "0.01", flag});
    INFO(flag << ": " << j.err);
    REQUIRE(j.status == 0);
    std::vector<nlohmann::json> rows = jsonLines(j.out);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].at("engine") == (std::string(flag) == "--reference" ? "reference" : "jit"));
    CHECK(rows[0].at("fused") == (std::string(flag) != "--no-fuse"));
  }
}

TEST_CASE("cli bench: bad arguments are errors with a message") {
  const fs::path tiny = tinyNetwork("cli_bench_errors");
  auto missing = runSlope({"bench", "nope.slope"}, tiny.parent_path().string());
  CHECK(missing.status == 1);
  CHECK(missing.out.empty());
  CHECK(missing.err == "error: cannot read 'nope.slope': No such file or directory\n");

  auto negative = runSlope({"bench", tiny.string(), "--batch", "-1"});
  CHECK(negative.status == 1);
  CHECK(negative.err == "error: --batch: expected a whole number from 0 to 16777216, got '-1'\n");
}
