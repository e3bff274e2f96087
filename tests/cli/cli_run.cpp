// `slope check` and `slope run` end to end: the program is spawned, and its exit status,
// stdout, stderr and output files are checked exactly (SPEC §2, §3).
#include "TestUtil.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

namespace {

namespace fs = std::filesystem;
using slope::runtime::Tensor;
using slope::testutil::bitsOf;
using slope::testutil::readBytes;
using slope::testutil::runSlope;
using slope::testutil::scratchDir;
using slope::testutil::sourceDir;
using slope::testutil::splitLines;
using slope::testutil::tensor;
using slope::testutil::writeBytes;
using slope::testutil::writeSafetensors;

fs::path digitsDir() { return sourceDir() / "samples" / "digits"; }
std::string digitsSource() { return (digitsDir() / "digits.slope").string(); }
std::string digitsWeights() { return (digitsDir() / "digits.safetensors").string(); }
std::string digitsInput() { return (digitsDir() / "test_x.npy").string(); }

Tensor readNpy(const fs::path &path) { return slope::runtime::readNpy(path.string()); }

void writeNpy(const fs::path &path, const Tensor &t) { slope::runtime::writeNpy(path.string(), t); }

/// Parses the text output of `slope run`: one line per sample, values separated by one
/// space. Every value must read back with strtof, as a whole token.
std::vector<std::vector<float>> parseTextOutput(const std::string &text) {
  std::vector<std::vector<float>> rows;
  REQUIRE((text.empty() || text.back() == '\n'));
  for (const std::string &line : splitLines(text)) {
    std::vector<float> row;
    size_t start = 0;
    while (true) {
      size_t end = line.find(' ', start);
      std::string token = line.substr(start, end == std::string::npos ? std::string::npos : end - start);
      INFO("line: '", line, "'");
      REQUIRE(!token.empty()); // no double, leading or trailing spaces
      char *parsedEnd = nullptr;
      float value = std::strtof(token.c_str(), &parsedEnd);
      REQUIRE(parsedEnd == token.c_str() + token.size());
      row.push_back(value);
      if (end == std::string::npos)
        break;
      start = end + 1;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

/// A network with one dense layer, x [4] -> h [3], its parameters h.weight and h.bias.
const char *kSmallNet = "network small {\n"
                        "  input x : f32[4]\n"
                        "  h = dense(x, 3)\n"
                        "  output h\n"
                        "}\n";

/// Writes small.slope, w.safetensors (its weights), x.npy ([2, 4]) into `dir`.
void writeSmallCase(const fs::path &dir) {
  writeBytes(dir / "small.slope", kSmallNet);
  writeSafetensors(dir / "w.safetensors",
                   {{"h.weight", tensor({3, 4}, {1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1})},
                    {"h.bias", tensor({3}, {0.5f, -1, 0})}});
  writeNpy(dir / "x.npy", tensor({2, 4}, {1, 2, 3, 4, -1, -2, -3, -4}));
}

} // namespace

TEST_CASE("check: the digits sample is accepted silently") {
  auto r = runSlope({"check", digitsSource()});
  CHECK(r.status == 0);
  CHECK(r.out == "");
  CHECK(r.err == "");
}

TEST_CASE("check: a bad source reports every error once, exit 1") {
  fs::path dir = scratchDir("cli_check_bad");
  writeBytes(dir / "bad.slope", "network n {\n"
                                "  input x : f32[4]\n"
                                "  a = leaky_rleu(x, alpha = 0.1)\n"
                                "  b = relu(y)\n"
                                "  output b\n"
                                "}\n");
  auto r = runSlope({"check", "bad.slope"}, dir.string());
  CHECK(r.status == 1);
  CHECK(r.out == "");
  CHECK(r.err == "bad.slope:3:7: error: unknown activation 'leaky_rleu'; did you mean 'leaky_relu'?\n"
                 "   3 |   a = leaky_rleu(x, alpha = 0.1)\n"
                 "     |       ^~~~~~~~~~\n"
                 "bad.slope:4:12: error: use of undefined value 'y'; did you mean 'x'?\n"
                 "   4 |   b = relu(y)\n"
                 "     |            ^\n");
}

// Regression: after "expected `,` or `)`" at the first token of the next line, the
// parser's recovery consumed that token (`output`), and a spurious "network 'n' has no
// `output`" followed.
TEST_CASE("check: a syntax error is reported alone") {
  fs::path dir = scratchDir("cli_check_syntax");
  writeBytes(dir / "syntax.slope", "network n {\n  input x : f32[4]\n  a = relu(x\n  output a\n}\n");
  auto r = runSlope({"check", "syntax.slope"}, dir.string());
  CHECK(r.status == 1);
  CHECK(r.out == "");
  CHECK(r.err == "syntax.slope:4:3: error: expected `,` or `)`, found `output`\n"
                 "   4 |   output a\n"
                 "     |   ^~~~~~\n");
}

TEST_CASE("check: a nonexistent source file") {
  fs::path dir = scratchDir("cli_check_missing");
  auto r = runSlope({"check", "missing.slope"}, dir.string());
  CHECK(r.status == 1);
  CHECK(r.out == "");
  CHECK(r.err == "error: cannot read 'missing.slope': No such file or directory\n");
}

TEST_CASE("run --output: the digits sample matches expected_scores.npy") {
  fs::path dir = scratchDir("cli_run_digits");
  fs::path out = dir / "scores.npy";
  auto r = runSlope({"run", digitsSource(), "--weights", digitsWeights(), "--input", digitsInput(),
                     "--output", out.string()});
  REQUIRE(r.status == 0);
  CHECK(r.out == "");
  CHECK(r.err == "");
  Tensor y = readNpy(out);
  Tensor expected = readNpy(digitsDir() / "expected_scores.npy");
  REQUIRE(y.shape == expected.shape);
  REQUIRE(y.shape == std::vector<int64_t>{450, 10});
  for (size_t i = 0; i < y.data.size(); ++i) {
    INFO("element ", i, ": ", y.data[i], " vs ", expected.data[i]);
    // Dense layers may differ by summation order only; the scores are sums of terms of
    // magnitude ~1, so the error is absolute near 0 and relative for large scores.
    CHECK(std::fabs(y.data[i] - expected.data[i]) <= 1e-5f * (1 + std::fabs(expected.data[i])));
  }
  // The written file is exactly what numpy.save writes for f32 [450, 10].
  std::string bytes = readBytes(out);
  CHECK(bytes.size() == 128 + 450 * 10 * 4);
  CHECK(bytes.substr(0, 6) == "\x93NUMPY");
}

TEST_CASE("run without --output prints one line per sample that reads back exactly") {
  fs::path dir = scratchDir("cli_run_text");
  fs::path out = dir / "scores.npy";
  auto file = runSlope({"run", digitsSource(), "--weights", digitsWeights(), "--input", digitsInput(),
                        "--output", out.string()});
  REQUIRE(file.status == 0);
  auto text = runSlope({"run", digitsSource(), "--weights", digitsWeights(), "--input", digitsInput()});
  REQUIRE(text.status == 0);
  CHECK(text.err == "");
  Tensor y = readNpy(out);
  std::vector<std::vector<float>> rows = parseTextOutput(text.out);
  REQUIRE(rows.size() == 450);
  for (size_t b = 0; b < rows.size(); ++b) {
    REQUIRE(rows[b].size() == 10);
    for (size_t c = 0; c < 10; ++c) {
      INFO("sample ", b, " value ", c);
      CHECK(bitsOf(rows[b][c]) == bitsOf(y.data[b * 10 + c]));
    }
  }
}

TEST_CASE("run prints special values so that they read back, in shortest form") {
  fs::path dir = scratchDir("cli_run_specials");
  writeBytes(dir / "id.slope", "network id {\n  input x : f32[8]\n  y = identity(x)\n  output y\n}\n");
  const float values[] = {INFINITY, -INFINITY, 0.0f, -0.0f, 1e-45f, 3.4028235e38f, 0.1f, -1.5f};
  writeNpy(dir / "x.npy", tensor({1, 8}, std::vector<float>(std::begin(values), std::end(values))));
  auto r = runSlope({"run", "id.slope", "--input", "x.npy"}, dir.string());
  REQUIRE(r.status == 0);
  CHECK(r.err == "");
  CHECK(r.out == "inf -inf 0 -0 1e-45 3.4028235e+38 0.1 -1.5\n");
  std::vector<std::vector<float>> rows = parseTextOutput(r.out);
  REQUIRE(rows.size() == 1);
  REQUIRE(rows[0].size() == 8);
  for (size_t i = 0; i < 8; ++i)
    CHECK(bitsOf(rows[0][i]) == bitsOf(values[i]));

  writeNpy(dir / "nan.npy", tensor({2, 8}, std::vector<float>(16, NAN)));
  auto n = runSlope({"run", "id.slope", "--input", "nan.npy"}, dir.string());
  REQUIRE(n.status == 0);
  rows = parseTextOutput(n.out);
  REQUIRE(rows.size() == 2);
  for (const auto &row : rows) {
    REQUIRE(row.size() == 8);
    for (float v : row)
      CHECK(std::isnan(v));
  }
}

TEST_CASE("run --reference gives the same results") {
  fs::path dir = scratchDir("cli_run_reference");
  auto jit = runSlope({"run", digitsSource(), "--weights", digitsWeights(), "--input", digitsInput(),
                       "--output", (dir / "jit.npy").string()});
  auto ref = runSlope({"run", digitsSource(), "--weights", digitsWeights(), "--input", digitsInput(),
                       "--reference", "--output", (dir / "ref.npy").string()});
  REQUIRE(jit.status == 0);
  REQUIRE(ref.status == 0);
  CHECK(ref.out == "");
  CHECK(ref.err == "");
  Tensor a = readNpy(dir / "jit.npy"), b = readNpy(dir / "ref.npy");
  Tensor expected = readNpy(digitsDir() / "expected_scores.npy");
  REQUIRE(a.shape == b.shape);
  REQUIRE(b.shape == expected.shape);
  for (size_t i = 0; i < a.data.size(); ++i) {
    // Dense layers may differ by summation order only.
    CHECK(std::fabs(a.data[i] - b.data[i]) <= 1e-5f * (1 + std::fabs(b.data[i])));
    CHECK(std::fabs(b.data[i] - expected.data[i]) <= 1e-5f * (1 + std::fabs(expected.data[i])));
  }
  // The text form of --reference reads back to its .npy output.
  auto text = runSlope({"run", digitsSource(), "--weights", digitsWeights(), "--input", digitsInput(),
                        "--reference"});
  REQUIRE(text.status == 0);
  std::vector<std::vector<float>> rows = parseTextOutput(text.out);
  REQUIRE(rows.size() == 450);
  for (size_t r = 0; r < rows.size(); ++r) {
    REQUIRE(rows[r].size() == 10);
    for (size_t c = 0; c < 10; ++c)
      CHECK(bitsOf(rows[r][c]) == bitsOf(b.data[r * 10 + c]));
  }
}

TEST_CASE("run --no-fuse computes identical bits") {
  fs::path dir = scratchDir("cli_run_nofuse");
  auto fused = runSlope({"run", digitsSource(), "--weights", digitsWeights(), "--input", digitsInput(),
                         "--output", (dir / "fused.npy").string()});
  auto unfused = runSlope({"run", digitsSource(), "--weights", digitsWeights(), "--input",
                           digitsInput(), "--no-fuse", "--output", (dir / "unfused.npy").string()});
  REQUIRE(fused.status == 0);
  REQUIRE(unfused.status == 0);
  CHECK(unfused.err == "");
  CHECK(readBytes(dir / "fused.npy") == readBytes(dir / "unfused.npy"));
  auto fusedText = runSlope({"run", digitsSource(), "--weights", digitsWeights(), "--input", digitsInput()});
  auto unfusedText = runSlope(
      {"run", digitsSource(), "--weights", digitsWeights(), "--input", digitsInput(), "--no-fuse"});
  CHECK(fusedText.out.size() > 450 * 10 * 2);
  CHECK(fusedText.out == unfusedText.out);
}

TEST_CASE("run --random-weights is deterministic") {
  auto a = runSlope({"run", digitsSource(), "--random-weights", "7", "--input", digitsInput()});
  auto b = runSlope({"run", digitsSource(), "--random-weights", "7", "--input", digitsInput()});
  auto other = runSlope({"run", digitsSource(), "--random-weights", "8", "--input", digitsInput()});
  REQUIRE(a.status == 0);
  REQUIRE(b.status == 0);
  REQUIRE(other.status == 0);
  CHECK(a.err == "");
  CHECK(parseTextOutput(a.out).size() == 450);
  CHECK(a.out == b.out);
  CHECK(a.out != other.out);
  // The trained weights give other results again.
  auto trained = runSlope({"run", digitsSource(), "--weights", digitsWeights(), "--input", digitsInput()});
  CHECK(a.out != trained.out);
}

TEST_CASE("run with a [width] input computes one sample, written as [out]") {
  fs::path dir = scratchDir("cli_run_vector");
  Tensor x = readNpy(digitsInput());
  Tensor row = tensor({64}, std::vector<float>(x.data.begin() + 64, x.data.begin() + 128));
  writeNpy(dir / "row.npy", row);
  auto all = runSlope({"run", digitsSource(), "--weights", digitsWeights(), "--input", digitsInput(),
                       "--output", (dir / "all.npy").string()});
  REQUIRE(all.status == 0);
  auto one = runSlope({"run", digitsSource(), "--weights", digitsWeights(), "--input",
                       (dir / "row.npy").string(), "--output", (dir / "one.npy").string()});
  REQUIRE(one.status == 0);
  CHECK(one.err == "");
  Tensor y = readNpy(dir / "one.npy");
  Tensor yAll = readNpy(dir / "all.npy");
  REQUIRE(y.shape == std::vector<int64_t>{10});
  for (size_t c = 0; c < 10; ++c)
    CHECK(bitsOf(y.data[c]) == bitsOf(yAll.data[10 + c]));
  auto text = runSlope({"run", digitsSource(), "--weights", digitsWeights(), "--input",
                        (dir / "row.npy").string()});
  REQUIRE(text.status == 0);
  std::vector<std::vector<float>> rows = parseTextOutput(text.out);
  REQUIRE(rows.size() == 1);
  REQUIRE(rows[0].size() == 10);
  for (size_t c = 0; c < 10; ++c)
    CHECK(bitsOf(rows[0][c]) == bitsOf(y.data[c]));
}

TEST_CASE("run with a [0, width] input: batch 0, empty output") {
  fs::path dir = scratchDir("cli_run_empty");
  writeNpy(dir / "empty.npy", tensor({0, 64}, {}));
  auto text = runSlope({"run", digitsSource(), "--weights", digitsWeights(), "--input",
                        (dir / "empty.npy").string()});
  CHECK(text.status == 0);
  CHECK(text.out == "");
  CHECK(text.err == "");
  auto file = runSlope({"run", digitsSource(), "--weights", digitsWeights(), "--input",
                        (dir / "empty.npy").string(), "--output", (dir / "y.npy").string()});
  REQUIRE(file.status == 0);
  CHECK(file.err == "");
  Tensor y = readNpy(dir / "y.npy");
  CHECK(y.shape == std::vector<int64_t>{0, 10});
  CHECK(y.data.empty());
}

TEST_CASE("run converts an f64 input") {
  fs::path dir = scratchDir("cli_run_f64");
  // A hand-written f64 .npy: [2, 4].
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 4), }";
  while ((10 + header.size() + 1) % 64 != 0)
    header += ' ';
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  bytes += header;
  const double values[] = {1, 2, 3, 4, -1, -2, -3, -4};
  bytes.append(reinterpret_cast<const char *>(values), sizeof values);
  writeSmallCase(dir);
  writeBytes(dir / "x64.npy", bytes);
  auto r = runSlope({"run", "small.slope", "--weights", "w.safetensors", "--input", "x64.npy"},
                    dir.string());
  CHECK(r.status == 0);
  CHECK(r.err == "");
  CHECK(r.out == "1.5 1 10\n-0.5 -3 -10\n");
}

TEST_CASE("run: a small network gives exact text") {
  fs::path dir = scratchDir("cli_run_small");
  writeSmallCase(dir);
  auto r = runSlope({"run", "small.slope", "--weights", "w.safetensors", "--input", "x.npy"}, dir.string());
  CHECK(r.status == 0);
  CHECK(r.err == "");
  CHECK(r.out == "1.5 1 10\n-0.5 -3 -10\n");
}

TEST_CASE("run warns about unused tensors in the weights file") {
  fs::path dir = scratchDir("cli_run_unused");
  writeSmallCase(dir);
  writeSafetensors(dir / "extra.safetensors",
                   {{"h.weight", tensor({3, 4}, {1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1})},
                    {"zz", tensor({2}, {1, 2})},
                    {"h.bias", tensor({3}, {0.5f, -1, 0})},
                    {"aa.bias", tensor({1}, {3})}});
  auto r = runSlope({"run", "small.slope", "--weights", "extra.safetensors", "--input", "x.npy"},
                    dir.string());
  CHECK(r.status == 0);
  CHECK(r.out == "1.5 1 10\n-0.5 -3 -10\n");
  CHECK(r.err == "warning: extra.safetensors: unused tensor 'zz'; network 'small' does not read it\n"
                 "warning: extra.safetensors: unused tensor 'aa.bias'; network 'small' does not read it\n");
}

// Regression: names from the file reached the terminal raw (escape sequences, NUL) and
// uncut, where errors about the same names escape and cut them.
TEST_CASE("run: unused tensor names are escaped and cut in the warning") {
  fs::path dir = scratchDir("cli_run_unused_hostile");
  writeSmallCase(dir);
  writeSafetensors(dir / "hostile.safetensors",
                   {{"h.weight", tensor({3, 4}, {1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1})},
                    {"h.bias", tensor({3}, {0.5f, -1, 0})},
                    // The key is written into the JSON as is: an escape the parser
                    // turns into ESC (0x1b), the start of a terminal escape sequence.
                    {"\\u001b[31mred", tensor({1}, {1})},
                    {std::string(100, 'n'), tensor({1}, {1})}});
  auto r = runSlope({"run", "small.slope", "--weights", "hostile.safetensors", "--input", "x.npy"},
                    dir.string());
  CHECK(r.status == 0);
  CHECK(r.err == "warning: hostile.safetensors: unused tensor '\\x1b[31mred'; network 'small' "
                 "does not read it\n"
                 "warning: hostile.safetensors: unused tensor '" + std::string(80, 'n') +
                 "...'; network 'small' does not read it\n");
}

TEST_CASE("run selects a network with --network") {
  fs::path dir = scratchDir("cli_run_network");
  writeBytes(dir / "two.slope", "network a {\n  input x : f32[2]\n  y = relu(x)\n  output y\n}\n"
                                "network b {\n  input x : f32[2]\n  y = leaky_relu(x, alpha = 0.5)\n"
                                "  output y\n}\n");
  writeNpy(dir / "x.npy", tensor({1, 2}, {-2, 3}));
  auto a = runSlope({"run", "two.slope", "--network", "a", "--input", "x.npy"}, dir.string());
  auto b = runSlope({"run", "two.slope", "--network", "b", "--input", "x.npy"}, dir.string());
  CHECK(a.status == 0);
  CHECK(a.out == "0 3\n");
  CHECK(b.status == 0);
  CHECK(b.out == "-1 3\n");
}

TEST_CASE("dump prints every stage, exit 0") {
  for (const char *stage : {"ast", "ir", "fused"}) {
    CAPTURE(stage);
    auto r = runSlope({"dump", digitsSource(), "--stage", stage});
    CHECK(r.status == 0);
    CHECK(r.err == "");
    CHECK(r.out.rfind(std::string(stage) == "ast" ? "network digits  @2:9\n" : "network digits(x: f32[64]) -> f32[10] {\n", 0) == 0);
    bool hasKernels = r.out.find("\n  kernels:\n") != std::string::npos;
    CHECK(hasKernels == (std::string(stage) == "fused"));
  }
}

TEST_CASE("SLOPE_LLVM_ARGS passes options to LLVM; a bad one is a warning") {
  auto dump = [](const std::string &llvmArgs) {
    return slope::testutil::runProgram(
        "/usr/bin/env", {"SLOPE_LLVM_ARGS=" + llvmArgs, SLOPE_CLI, "dump", digitsSource(),
                         "--stage", "asm"});
  };
  // The operands of the first FMA: AT&T syntax names registers with '%', Intel's does not.
  auto firstFmaOperands = [](const std::string &asmText) {
    std::size_t at = asmText.find("\tvfmadd231ps\t");
    REQUIRE(at != std::string::npos);
    std::size_t end = asmText.find('\n', at);
    return asmText.substr(at, end - at);
  };
  auto att = dump("");
  REQUIRE(att.status == 0);
  CHECK(att.err == "");
  CHECK(firstFmaOperands(att.out).find('%') != std::string::npos);

  auto intel = dump("-x86-asm-syntax=intel");
  REQUIRE(intel.status == 0);
  CHECK(intel.err == "");
  CHECK(firstFmaOperands(intel.out).find('%') == std::string::npos);

  // The good option still applies; LLVM's spelling suggestion may follow the warning.
  auto bad = dump("--no-such-llvm-option -x86-asm-syntax=intel");
  REQUIRE(bad.status == 0);
  CHECK(bad.err.rfind("warning: SLOPE_LLVM_ARGS: Unknown command line argument "
                      "'--no-such-llvm-option'.  Try: 'SLOPE_LLVM_ARGS --help'\n",
                      0) == 0);
  CHECK(intel.out == bad.out);
}
