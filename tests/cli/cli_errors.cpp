// `slope run` failures: user errors (exit 1, one exact message on stderr, nothing on
// stdout; a bad option value is one), usage errors (exit 2: the command line's shape),
// and the promise that a failed run never leaves an output file behind, nor changes one
// that was there (SPEC §3); what --output may be.
#include "TestUtil.h"

#include <doctest/doctest.h>

#include <filesystem>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using slope::runtime::Tensor;
using slope::testutil::readBytes;
using slope::testutil::RunResult;
using slope::testutil::runSlope;
using slope::testutil::scratchDir;
using slope::testutil::sourceDir;
using slope::testutil::tensor;
using slope::testutil::writeBytes;
using slope::testutil::writeSafetensors;

void writeNpy(const fs::path &path, const Tensor &t) { slope::runtime::writeNpy(path.string(), t); }

/// A scratch directory holding:
///   small.slope   x [4] -> dense h [3]; reads h.weight [3, 4], h.bias [3]
///   two.slope     networks 'a' and 'b'
///   w.safetensors small's weights; x.npy [2, 4]
fs::path setUp(const std::string &name) {
  fs::path dir = scratchDir(name);
  writeBytes(dir / "small.slope", "network small {\n  input x : f32[4]\n  h = dense(x, 3)\n  output h\n}\n");
  writeBytes(dir / "two.slope", "network a {\n  input x : f32[4]\n  y = relu(x)\n  output y\n}\n"
                                "network b {\n  input x : f32[4]\n  y = relu(x)\n  output y\n}\n");
  writeSafetensors(dir / "w.safetensors", {{"h.weight", tensor({3, 4}, std::vector<float>(12, 1))},
                                           {"h.bias", tensor({3}, {0, 0, 0})}});
  writeNpy(dir / "x.npy", tensor({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}));
  return dir;
}

struct Failure {
  const char *what;
  std::vector<std::string> args; // after `run`, without --output
  std::string err;
};

/// Every way `slope run` can fail with a user error in the scratch directory of setUp.
std::vector<Failure> userErrors(const fs::path &dir) {
  std::string w = readBytes(dir / "w.safetensors");
  writeBytes(dir / "truncated.safetensors", w.substr(0, w.size() - 8));
  writeSafetensors(dir / "shape.safetensors", {{"h.weight", tensor({4, 3}, std::vector<float>(12, 1))},
                                               {"h.bias", tensor({3}, {0, 0, 0})}});
  writeSafetensors(dir / "nobias.safetensors", {{"h.weight", tensor({3, 4}, std::vector<float>(12, 1))}});
  writeNpy(dir / "x5.npy", tensor({2, 5}, std::vector<float>(10, 1)));
  writeNpy(dir / "x3d.npy", tensor({1, 2, 4}, std::vector<float>(8, 1)));
  writeNpy(dir / "x1d.npy", tensor({3}, {1, 2, 3}));
  writeBytes(dir / "bad.slope", "network n {\n  input x : f32[4]\n  output y\n}\n");
  fs::create_directories(dir / "folder.slope");
  return {
      {"no weights option", {"small.slope", "--input", "x.npy"},
       "error: network 'small' reads parameters ('h.weight' first); give a weights file with "
       "--weights FILE, or --random-weights SEED\n"},
      {"missing weights file", {"small.slope", "--weights", "nope.safetensors", "--input", "x.npy"},
       "error: nope.safetensors: cannot open file: No such file or directory\n"},
      {"truncated weights file", {"small.slope", "--weights", "truncated.safetensors", "--input", "x.npy"},
       "error: truncated.safetensors: tensor 'h.bias': data_offsets [48, 60] run past the end of "
       "the data (52 bytes)\n"},
      {"wrong shape", {"small.slope", "--weights", "shape.safetensors", "--input", "x.npy"},
       "error: shape.safetensors: tensor 'h.weight' has shape [4, 3]; expected [3, 4]\n"},
      {"missing key", {"small.slope", "--weights", "nobias.safetensors", "--input", "x.npy"},
       "error: nobias.safetensors: missing tensor 'h.bias'; network 'small' reads it with shape [3]\n"},
      {"input of the wrong width", {"small.slope", "--weights", "w.safetensors", "--input", "x5.npy"},
       "error: x5.npy: input has shape [2, 5]; network 'small' expects [batch, 4] or [4]\n"},
      {"input of rank 3", {"small.slope", "--weights", "w.safetensors", "--input", "x3d.npy"},
       "error: x3d.npy: input has shape [1, 2, 4]; network 'small' expects [batch, 4] or [4]\n"},
      {"vector input of the wrong width", {"small.slope", "--weights", "w.safetensors", "--input", "x1d.npy"},
       "error: x1d.npy: input has shape [3]; network 'small' expects [batch, 4] or [4]\n"},
      {"missing input file", {"small.slope", "--weights", "w.safetensors", "--input", "nope.npy"},
       "error: nope.npy: cannot open file: No such file or directory\n"},
      {"nonexistent source", {"nope.slope", "--weights", "w.safetensors", "--input", "x.npy"},
       "error: cannot read 'nope.slope': No such file or directory\n"},
      {"source is a directory", {"folder.slope", "--input", "x.npy"},
       "error: cannot read 'folder.slope': Is a directory\n"},
      // Regression: /dev/zero was read until memory ran out.
      {"source is a device", {"/dev/zero", "--input", "x.npy"},
       "error: cannot read '/dev/zero': not a regular file\n"},
      // Regression: 100000 started that many threads, which took minutes.
      {"too many threads",
       {"small.slope", "--weights", "w.safetensors", "--input", "x.npy", "--threads", "100000"},
       "error: --threads: expected a whole number from 0 to 1024, got '100000'\n"},
      {"threads not a number",
       {"small.slope", "--weights", "w.safetensors", "--input", "x.npy", "--threads", "two"},
       "error: --threads: expected a whole number from 0 to 1024, got 'two'\n"},
      // Regression: read as seed 2^64 - 1.
      {"negative seed", {"small.slope", "--random-weights", "-1", "--input", "x.npy"},
       "error: --random-weights: expected a whole number (0 or more), got '-1'\n"},
      {"seed past 2^64", {"small.slope", "--random-weights", "18446744073709551616", "--input", "x.npy"},
       "error: --random-weights: expected a whole number (0 or more), got "
       "'18446744073709551616'\n"},
      {"bad source", {"bad.slope", "--input", "x.npy"},
       "bad.slope:3:10: error: use of undefined value 'y'; did you mean 'x'?\n"
       "   3 |   output y\n"
       "     |          ^\n"},
      {"several networks without --network", {"two.slope", "--input", "x.npy"},
       "error: 'two.slope' defines 2 networks ('a', 'b'); choose one with --network\n"},
      {"unknown --network", {"two.slope", "--network", "c", "--input", "x.npy"},
       "error: 'two.slope' has no network 'c'; it defines 'a', 'b'\n"},
  };
}

} // namespace

TEST_CASE("run: user errors exit 1 with one exact message") {
  fs::path dir = setUp("cli_errors_user");
  for (const Failure &f : userErrors(dir)) {
    SUBCASE(f.what) {
      std::vector<std::string> args = {"run"};
      args.insert(args.end(), f.args.begin(), f.args.end());
      RunResult r = runSlope(args, dir.string());
      CHECK(r.status == 1);
      CHECK(r.out == "");
      CHECK(r.err == f.err);
    }
  }
}

TEST_CASE("run: a failed run writes no output file") {
  fs::path dir = setUp("cli_errors_no_output");
  for (const Failure &f : userErrors(dir)) {
    SUBCASE(f.what) {
      std::vector<std::string> args = {"run"};
      args.insert(args.end(), f.args.begin(), f.args.end());
      args.insert(args.end(), {"--output", "y.npy"});
      fs::remove(dir / "y.npy");
      RunResult r = runSlope(args, dir.string());
      CHECK(r.status == 1);
      CHECK(r.err == f.err);
      CHECK_FALSE(fs::exists(dir / "y.npy"));
    }
  }
}

TEST_CASE("run: a failed run leaves an existing output file unchanged") {
  fs::path dir = setUp("cli_errors_keep_output");
  const std::string previous = "not an .npy file, and it must stay as it is\n";
  for (const Failure &f : userErrors(dir)) {
    SUBCASE(f.what) {
      writeBytes(dir / "y.npy", previous);
      std::vector<std::string> args = {"run"};
      args.insert(args.end(), f.args.begin(), f.args.end());
      args.insert(args.end(), {"--output", "y.npy"});
      RunResult r = runSlope(args, dir.string());
      CHECK(r.status == 1);
      CHECK(r.err == f.err);
      REQUIRE(fs::exists(dir / "y.npy"));
      CHECK(readBytes(dir / "y.npy") == previous);
    }
  }
  // Nothing else was left in the directory (no temporary files).
  for (const auto &entry : fs::directory_iterator(dir))
    CHECK_MESSAGE(entry.path().filename().string().find(".tmp") == std::string::npos,
                  entry.path().filename().string());
}

TEST_CASE("run: an unwritable output path is a user error, and leaves nothing behind") {
  fs::path dir = setUp("cli_errors_unwritable");
  SUBCASE("missing directory") {
    RunResult r = runSlope({"run", "small.slope", "--weights", "w.safetensors", "--input", "x.npy",
                            "--output", "nodir/y.npy"},
                           dir.string());
    CHECK(r.status == 1);
    CHECK(r.out == "");
    CHECK(r.err == "error: nodir/y.npy: cannot write file: No such file or directory\n");
  }
  SUBCASE("a directory in the way") {
    fs::create_directory(dir / "taken.npy");
    RunResult r = runSlope({"run", "small.slope", "--weights", "w.safetensors", "--input", "x.npy",
                            "--output", "taken.npy"},
                           dir.string());
    CHECK(r.status == 1);
    CHECK(r.out == "");
    CHECK(r.err == "error: taken.npy: cannot write file: Is a directory\n");
    CHECK(fs::is_directory(dir / "taken.npy"));
    CHECK(fs::is_empty(dir / "taken.npy"));
  }
  for (const auto &entry : fs::directory_iterator(dir))
    CHECK_MESSAGE(entry.path().filename().string().find(".tmp") == std::string::npos,
                  entry.path().filename().string());
}

TEST_CASE("usage errors exit 2") {
  fs::path dir = setUp("cli_errors_usage");
  struct Usage {
    const char *what;
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Usage> cases = {
      {"no subcommand", {}, "A subcommand is required\nRun with --help for more information.\n"},
      {"unknown command", {"frobnicate", "small.slope"},
       "unknown command 'frobnicate'; the commands are check, run, compile, dump, bench, "
       "plot\nRun with --help for more information.\n"},
      {"misspelt command", {"bnech", "small.slope"},
       "unknown command 'bnech'; did you mean 'bench'?\nRun with --help for more "
       "information.\n"},
      {"unknown option",
       {"run", "small.slope", "--weights", "w.safetensors", "--input", "x.npy", "--bogus"},
       "The following argument was not expected: --bogus\nRun with --help for more information.\n"},
      {"--weights with --random-weights",
       {"run", "small.slope", "--weights", "w.safetensors", "--random-weights", "7", "--input", "x.npy"},
       "--weights excludes --random-weights\nRun with --help for more information.\n"},
      {"missing --input", {"run", "small.slope", "--weights", "w.safetensors"},
       "--input is required\nRun with --help for more information.\n"},
      {"check without a file", {"check"}, "NET is required\nRun with --help for more information.\n"},
  };
  for (const Usage &u : cases) {
    SUBCASE(u.what) {
      std::vector<std::string> args = u.args;
      if (!args.empty() && args[0] == "run")
        args.insert(args.end(), {"--output", "y.npy"});
      RunResult r = runSlope(args, dir.string());
      CHECK(r.status == 2);
      CHECK(r.out == "");
      CHECK(r.err == u.err);
      CHECK_FALSE(fs::exists(dir / "y.npy"));
    }
  }
}

TEST_CASE("check: the source must be a file, and --network a network of it") {
  fs::path dir = setUp("cli_errors_check");
  fs::create_directories(dir / "folder.slope");
  struct Case {
    std::vector<std::string> args;
    int status;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{"check", "two.slope"}, 0, ""},
      {{"check", "two.slope", "--network", "b"}, 0, ""},
      {{"check", "two.slope", "--network", "c"}, 1,
       "error: 'two.slope' has no network 'c'; it defines 'a', 'b'\n"},
      {{"check", "folder.slope"}, 1, "error: cannot read 'folder.slope': Is a directory\n"},
      {{"check", "/dev/zero"}, 1, "error: cannot read '/dev/zero': not a regular file\n"},
      {{"bench", "small.slope", "--threads", "5000"}, 1,
       "error: --threads: expected a whole number from 0 to 1024, got '5000'\n"},
  };
  for (const Case &c : cases) {
    INFO(c.args[1], " ", c.args.size() > 2 ? c.args[3] : "");
    RunResult r = runSlope(c.args, dir.string());
    CHECK(r.status == c.status);
    CHECK(r.out == "");
    CHECK(r.err == c.err);
  }
}

// Regression: an allocation that failed was reported as `internal error: std::bad_alloc`
// with exit status 3, as if it were a bug. Here the random weights of a 1,048,576 x 1000
// layer (4 GB) under a 1 GB address-space limit. (Not under AddressSanitizer, whose shadow
// memory needs far more address space than the limit.)
TEST_CASE("run: running out of memory is a user error") {
#if defined(__SANITIZE_ADDRESS__)
  MESSAGE("skipped: AddressSanitizer cannot run under an address-space limit");
#else
  fs::path dir = setUp("cli_errors_memory");
  writeBytes(dir / "big.slope",
             "network big {\n  input x : f32[1048576]\n  h = dense(x, 1000)\n  output h\n}\n");
  RunResult r = slope::testutil::runProgram(
      "/bin/sh",
      {"-c", "ulimit -v 1000000 && exec \"$0\" run big.slope --random-weights 1 --input x.npy "
             "--output y.npy",
       SLOPE_CLI},
      dir.string());
  CHECK(r.status == 1);
  CHECK(r.out == "");
  CHECK(r.err == "error: out of memory\n");
  CHECK_FALSE(fs::exists(dir / "y.npy"));
#endif
}

TEST_CASE("a bad option value of any command is a user error: exit 1, one line") {
  fs::path dir = setUp("cli_errors_option_values");
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{"bench", "small.slope", "--batch", "1,x"},
       "error: --batch: expected a whole number from 0 to 16777216, got 'x'\n"},
      {{"bench", "small.slope", "--batch", "-1"},
       "error: --batch: expected a whole number from 0 to 16777216, got '-1'\n"},
      {{"bench", "small.slope", "--batch", "16777217"},
       "error: --batch: expected a whole number from 0 to 16777216, got '16777217'\n"},
      {{"bench", "small.slope", "--batch", "2.5"},
       "error: --batch: expected a whole number from 0 to 16777216, got '2.5'\n"},
      {{"bench", "small.slope", "--random-weights", "-3"},
       "error: --random-weights: expected a whole number (0 or more), got '-3'\n"},
      {{"bench", "small.slope", "--min-time", "-1"},
       "error: --min-time: expected a number from 0 to 3600, got '-1'\n"},
      {{"bench", "small.slope", "--min-time", "nan"},
       "error: --min-time: expected a number from 0 to 3600, got 'nan'\n"},
      {{"bench", "small.slope", "--threads", "+2"},
       "error: --threads: expected a whole number from 0 to 1024, got '+2'\n"},
      {{"compile", "small.slope", "-o", "x.o", "--emit", "exe"},
       "error: --emit: expected one of obj, asm, llvm, got 'exe'\n"},
      {{"dump", "small.slope", "--stage", "fussed"},
       "error: --stage: expected one of ast, ir, fused, llvm, asm, got 'fussed'; did you mean "
       "'fused'?\n"},
  };
  for (const Case &c : cases) {
    INFO(c.args[0], " ", c.args[2], " ", c.args.back());
    RunResult r = runSlope(c.args, dir.string());
    CHECK(r.status == 1);
    CHECK(r.out == "");
    CHECK(r.err == c.err);
    CHECK_FALSE(fs::exists(dir / "x.o"));
  }
  // Good values still pass: 0 and the upper bounds.
  RunResult ok = runSlope({"bench", "small.slope", "--batch", "0,3", "--threads", "1",
                           "--min-time", "0", "--random-weights", "18446744073709551615"},
                          dir.string());
  CHECK(ok.status == 0);
  CHECK(ok.err == "");
}

TEST_CASE("run --output: the source and the weights are not overwritten") {
  fs::path dir = setUp("cli_errors_output_onto_input");
  const std::string source = readBytes(dir / "small.slope");
  const std::string weights = readBytes(dir / "w.safetensors");
  RunResult ontoSource = runSlope({"run", "small.slope", "--weights", "w.safetensors", "--input",
                                   "x.npy", "--output", "./small.slope"},
                                  dir.string());
  CHECK(ontoSource.status == 1);
  CHECK(ontoSource.err ==
        "error: the output './small.slope' is the source file; it would be overwritten\n");
  RunResult ontoWeights = runSlope({"run", "small.slope", "--weights", "w.safetensors",
                                    "--input", "x.npy", "--output", "w.safetensors"},
                                   dir.string());
  CHECK(ontoWeights.status == 1);
  CHECK(ontoWeights.err ==
        "error: the output 'w.safetensors' is the weights file; it would be overwritten\n");
  CHECK(readBytes(dir / "small.slope") == source);
  CHECK(readBytes(dir / "w.safetensors") == weights);
  // The input may be replaced by the output.
  RunResult ontoInput = runSlope(
      {"run", "small.slope", "--weights", "w.safetensors", "--input", "x.npy", "--output", "x.npy"},
      dir.string());
  CHECK(ontoInput.status == 0);
  CHECK(slope::runtime::readNpy((dir / "x.npy").string()).shape == std::vector<int64_t>{2, 3});
}

// Regression: the output was written to a temporary file and renamed over its path,
// whatever was there: a FIFO or device (as root, /dev/null itself) became a regular file,
// a symbolic link was replaced by a file, and a legal 250-byte name failed because the
// temporary name went past NAME_MAX.
TEST_CASE("run --output: a FIFO is written in place, a link followed, a long name allowed") {
  fs::path dir = setUp("cli_errors_output_kinds");
  const std::vector<std::string> run = {"run", "small.slope", "--weights", "w.safetensors",
                                        "--input", "x.npy", "--output"};
  auto runTo = [&](const std::string &output) {
    std::vector<std::string> args = run;
    args.push_back(output);
    return runSlope(args, dir.string());
  };
  REQUIRE(runTo("plain.npy").status == 0);
  const std::string expected = readBytes(dir / "plain.npy");

  // A reader already has the FIFO open (without blocking), so the writer's open
  // succeeds; the output (under 64 KiB) fits in the pipe until it is read.
  REQUIRE(::mkfifo((dir / "out.fifo").c_str(), 0666) == 0);
  int reader = ::open((dir / "out.fifo").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  REQUIRE(reader >= 0);
  RunResult fifo = runTo("out.fifo");
  std::string got;
  char buffer[4096];
  for (ssize_t n; (n = ::read(reader, buffer, sizeof buffer)) > 0;)
    got.append(buffer, static_cast<size_t>(n));
  ::close(reader);
  CHECK(fifo.status == 0);
  CHECK(fifo.err == "");
  CHECK(fs::is_fifo(dir / "out.fifo"));
  CHECK(got == expected);

  writeBytes(dir / "target.npy", "old\n");
  fs::create_symlink("target.npy", dir / "link.npy");
  CHECK(runTo("link.npy").status == 0);
  CHECK(fs::is_symlink(dir / "link.npy"));
  CHECK(readBytes(dir / "target.npy") == expected);

  const std::string longName = std::string(246, 'a') + ".npy"; // 250 bytes of NAME_MAX's 255
  RunResult named = runTo(longName);
  CHECK(named.status == 0);
  CHECK(named.err == "");
  CHECK(readBytes(dir / longName) == expected);
  for (const auto &entry : fs::directory_iterator(dir))
    CHECK_MESSAGE(entry.path().filename().string().find(".tmp") == std::string::npos,
                  entry.path().filename().string());
}

// Regression: text that never reached standard output (a full disk, a closed
// descriptor) still exited with 0.
TEST_CASE("what cannot be written to standard output is an error") {
  fs::path dir = setUp("cli_errors_stdout");
  struct Case {
    std::string command;
    std::string err;
  };
  const std::vector<Case> cases = {
      {"run small.slope --weights w.safetensors --input x.npy >/dev/full",
       "error: cannot write to standard output: No space left on device\n"},
      {"run small.slope --weights w.safetensors --input x.npy >&-",
       "error: cannot write to standard output: Bad file descriptor\n"},
      {"dump small.slope --stage ir >/dev/full",
       "error: cannot write to standard output: No space left on device\n"},
      {"check small.slope >/dev/full", ""}, // prints nothing: nothing lost
  };
  for (const Case &c : cases) {
    INFO(c.command);
    RunResult r = slope::testutil::runProgram(
        "/bin/sh", {"-c", "exec \"$0\" " + c.command, SLOPE_CLI}, dir.string());
    CHECK(r.status == (c.err.empty() ? 0 : 1));
    CHECK(r.err == c.err);
  }
}
