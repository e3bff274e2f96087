// `slope compile`: its user errors (exit 1, a message, no file written, an existing
// file left as it was), usage errors (exit 2), and the header's exact shape: valid C99
// and C++, size macros, parameter field names.
#include "cli/aot_testing.h"

using namespace slope;
using namespace slope::aottest;

namespace {

const fs::path kDigits = testutil::sourceDir() / "samples/digits";

bool contains(const std::string &text, const std::string &what) {
  return text.find(what) != std::string::npos;
}

/// Runs `slope compile SOURCE ARGS... -o DIR/out.o --header DIR/out.h` on a directory
/// holding an old out.o, and checks the status, the message, and that nothing changed.
void checkFails(const fs::path &dir, std::vector<std::string> args, int status,
                const std::string &message) {
  testutil::writeBytes(dir / "out.o", "old object");
  fs::remove(dir / "out.h");
  std::vector<std::string> all = {"compile"};
  all.insert(all.end(), args.begin(), args.end());
  all.insert(all.end(), {"-o", (dir / "out.o").string(), "--header", (dir / "out.h").string()});
  RunResult r = testutil::runSlope(all);
  CAPTURE(r.err);
  CHECK(r.status == status);
  CHECK(contains(r.err, message));
  CHECK(testutil::readBytes(dir / "out.o") == "old object");
  CHECK(!fs::exists(dir / "out.h"));
  size_t files = 0;
  for ([[maybe_unused]] const auto &entry : fs::directory_iterator(dir))
    ++files;
  CHECK(files == 1); // no temporary left behind
}

} // namespace

TEST_CASE("aot: user errors exit 1 and write nothing") {
  fs::path dir = testutil::scratchDir("aot_errors");
  fs::path work = testutil::scratchDir("aot_errors_inputs");
  const std::string digits = (kDigits / "digits.slope").string();
  const std::string weights = (kDigits / "digits.safetensors").string();

  checkFails(dir, {digits, "--target", "foo-bar-baz"}, 1,
             "error: unknown target triple 'foo-bar-baz'; e.g. x86_64-linux-gnu or "
             "aarch64-linux-gnu\n");
  checkFails(dir, {digits, "--target", "x86_64-linux-gnu", "--cpu", "x86-64-v5"}, 1,
             "error: unknown CPU 'x86-64-v5' for target 'x86_64-unknown-linux-gnu'; e.g. x86-64, "
             "x86-64-v2, x86-64-v3, x86-64-v4");
  checkFails(dir, {digits, "--target", "aarch64-linux-gnu", "--cpu", "x86-64-v3"}, 1,
             "error: unknown CPU 'x86-64-v3' for target 'aarch64-unknown-linux-gnu'");
  // Regression: a target without a CPU called "generic" got it anyway, and LLVM printed
  // its own complaints ("'generic' is not a recognized processor ...") first.
  checkFails(dir, {digits, "--target", "nvptx64-nvidia-cuda"}, 1,
             "error: target 'nvptx64-nvidia-cuda' cannot emit an object file here; slope "
             "compiles for CPUs such as x86_64-linux-gnu or aarch64-linux-gnu\n");
  CHECK(testutil::runSlope({"compile", digits, "--target", "nvptx64-nvidia-cuda", "-o",
                            (dir / "gpu.o").string()})
            .err.find("recognized processor") == std::string::npos);
#if defined(__x86_64__)
  checkFails(dir, {digits, "--target", "aarch64-linux-gnu", "--cpu", "native"}, 1,
             "error: `--cpu native` names this machine's CPU, which cannot run code for "
             "'aarch64-unknown-linux-gnu'");
#endif

  testutil::writeBytes(work / "bad.slope",
                       "network bad {\n  input x : f32[4]\n  y = leaky_rleu(x)\n  output y\n}\n");
  checkFails(dir, {(work / "bad.slope").string()}, 1,
             "bad.slope:3:7: error: unknown activation 'leaky_rleu'; did you mean 'leaky_relu'?");
  checkFails(dir, {(work / "missing.slope").string()}, 1, "error: cannot read '");

  checkFails(dir, {digits, "--weights", (work / "none.safetensors").string()}, 1,
             "none.safetensors");
  testutil::writeSafetensors(work / "wrong.safetensors",
                             {{"h1.weight", testutil::tensor({2, 2}, {1, 2, 3, 4})}});
  checkFails(dir, {digits, "--weights", (work / "wrong.safetensors").string()}, 1,
             "h1.weight");
  testutil::writeBytes(work / "truncated.safetensors", "\x10\0\0\0");
  checkFails(dir, {digits, "--weights", (work / "truncated.safetensors").string()}, 1,
             "truncated.safetensors");

  // A file with two networks needs --network.
  testutil::writeBytes(work / "two.slope",
                       "network a {\n input x : f32[2]\n y = relu(x)\n output y\n}\n"
                       "network b {\n input x : f32[3]\n y = relu(x)\n output y\n}\n");
  checkFails(dir, {(work / "two.slope").string()}, 1, "choose one with --network");
  checkFails(dir, {(work / "two.slope").string(), "--network", "c"}, 1, "has no network 'c'");

  // A bad option value is a user error, a missing option a usage error (exit 2).
  checkFails(dir, {digits, "--emit", "exe"}, 1, "--emit");
  RunResult noOutput = testutil::runSlope({"compile", digits});
  CHECK(noOutput.status == 2);

  // The header may not overwrite the object, however the two paths are written.
  RunResult same = testutil::runSlope(
      {"compile", digits, "-o", (dir / "x.o").string(), "--header", (dir / "x.o").string()});
  CHECK(same.status == 1);
  CHECK(!fs::exists(dir / "x.o"));
  // Regression: a path that did not exist yet was compared as written, so the header
  // silently replaced the object.
  const std::vector<std::string> sameAsObject = {"./x.o", (dir / "x.o").string(), "sub/../x.o"};
  for (const std::string &header : sameAsObject) {
    INFO(header);
    fs::create_directories(dir / "sub");
    RunResult r = testutil::runSlope({"compile", digits, "--weights", weights, "-o", "x.o",
                                      "--header", header},
                                     dir.string());
    CHECK(r.status == 1);
    CHECK(r.err == "error: the header and the output are the same file 'x.o'\n");
    CHECK(!fs::exists(dir / "x.o"));
  }
  // Nor overwrite what the command reads.
  fs::copy_file(digits, work / "self.slope", fs::copy_options::overwrite_existing);
  fs::copy_file(weights, work / "self.safetensors", fs::copy_options::overwrite_existing);
  const std::string sourceBefore = testutil::readBytes(work / "self.slope");
  const std::string weightsBefore = testutil::readBytes(work / "self.safetensors");
  RunResult ontoSource = testutil::runSlope(
      {"compile", "self.slope", "--weights", "self.safetensors", "-o", "./self.slope"},
      work.string());
  CHECK(ontoSource.status == 1);
  CHECK(ontoSource.err ==
        "error: the output './self.slope' is the source file; it would be overwritten\n");
  RunResult ontoWeights = testutil::runSlope({"compile", "self.slope", "--weights",
                                              "self.safetensors", "-o", "self.o", "--header",
                                              (work / "self.safetensors").string()},
                                             work.string());
  CHECK(ontoWeights.status == 1);
  CHECK(ontoWeights.err == "error: the header '" + (work / "self.safetensors").string() +
                               "' is the weights file; it would be overwritten\n");
  CHECK(testutil::readBytes(work / "self.slope") == sourceBefore);
  CHECK(testutil::readBytes(work / "self.safetensors") == weightsBefore);
  CHECK(!fs::exists(work / "self.o"));
  // Regression: the object was renamed into place before the header's rename failed on
  // a directory, so a failed compile replaced an existing object.
  testutil::writeBytes(dir / "kept.o", "an older object\n");
  fs::create_directories(dir / "taken.h");
  RunResult headerIsDirectory = testutil::runSlope(
      {"compile", digits, "--weights", weights, "-o", "kept.o", "--header", "taken.h"},
      dir.string());
  CHECK(headerIsDirectory.status == 1);
  CHECK(headerIsDirectory.err == "error: taken.h: cannot write file: Is a directory\n");
  CHECK(testutil::readBytes(dir / "kept.o") == "an older object\n");
  for (const auto &entry : fs::directory_iterator(dir))
    CHECK_MESSAGE(entry.path().filename().string().find(".tmp") == std::string::npos,
                  entry.path().filename().string());
  // An output directory that does not exist.
  RunResult noDir = testutil::runSlope(
      {"compile", digits, "--weights", weights, "-o", (dir / "no/such/dir/x.o").string()});
  CHECK(noDir.status == 1);
  CHECK(contains(noDir.err, "cannot write"));
}

TEST_CASE("aot: the header is valid C99 and C++ and says what SPEC §5 says") {
  fs::path dir = testutil::scratchDir("aot_header");
  compile({(kDigits / "digits.slope").string(), "-o", (dir / "digits.o").string(), "--header",
           (dir / "digits.h").string(), "--weights", (kDigits / "digits.safetensors").string()});
  std::string h = testutil::readBytes(dir / "digits.h");
  CHECK(contains(h, "#ifndef SLOPE_NETWORK_digits_H\n#define SLOPE_NETWORK_digits_H\n"));
  CHECK(contains(h, "#endif /* SLOPE_NETWORK_digits_H */\n"));
  CHECK(contains(h, "#include <stdint.h>\n"));
  CHECK(contains(h, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n"));
  CHECK(contains(h, "#define DIGITS_INPUT_SIZE 64\n#define DIGITS_OUTPUT_SIZE 10\n"));
  CHECK(contains(h, "/* input: batch*DIGITS_INPUT_SIZE floats, output: batch*DIGITS_OUTPUT_SIZE "
                    "floats.\n   Returns 0 on success, non-zero for a bad argument (e.g. batch < 0 "
                    "or a null pointer)."));
  CHECK(contains(h, "\nint digits_forward(const float *input, float *output, int64_t batch);\n"));
  CHECK(contains(h, std::string("compiled ahead of time by slope ") + version() + "."));
  CHECK(contains(h, " *   h1 = dense(x, units = 32, bias = true) -> [32]  reads h1.weight [32, "
                    "64], h1.bias [32]\n"));
  CHECK(contains(h, " *   a1 = leaky_relu(h1, alpha = 0.01) -> [32]\n"));
  CHECK(contains(h, " * Activations: leaky_relu.\n"));
  CHECK(contains(h, " * Parameters: embedded in the object, from digits.safetensors.\n"));
  CHECK(!contains(h, "digits_params"));

  // Twice, so that the include guard is exercised; as strict C99 and C++98 alike.
  testutil::writeBytes(dir / "use.c", "#include \"digits.h\"\n#include \"digits.h\"\n"
                                      "int (*entry)(const float *, float *, int64_t) = "
                                      "digits_forward;\nint sizes[DIGITS_INPUT_SIZE + "
                                      "DIGITS_OUTPUT_SIZE];\n");
  runOk("cc", {"-std=c99", "-pedantic-errors", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
               "-I", dir.string(), (dir / "use.c").string()});
  testutil::writeBytes(dir / "use.cpp", testutil::readBytes(dir / "use.c"));
  runOk("c++", {"-std=c++98", "-pedantic-errors", "-Wall", "-Wextra", "-Werror",
                "-Wno-long-long", "-fsyntax-only", "-I", dir.string(), (dir / "use.cpp").string()});
}

// Regression: both headers were guarded by SLOPE_NETWORK_MLP_H, so the second one
// included was silently empty and its function undeclared.
TEST_CASE("aot: the headers of networks whose names differ in case can be included together") {
  fs::path dir = testutil::scratchDir("aot_guard_case");
  for (const std::string name : {"mlp", "MLP"}) {
    testutil::writeBytes(dir / (name + ".slope"), "network " + name +
                                                      " {\n  input x : f32[4]\n"
                                                      "  y = relu(x)\n  output y\n}\n");
    compile({(dir / (name + ".slope")).string(), "-o", (dir / (name + ".o")).string(),
             "--header", (dir / (name + "_net.h")).string()});
  }
  testutil::writeBytes(dir / "both.c",
                       "#include \"mlp_net.h\"\n#include \"MLP_net.h\"\n"
                       "int run(const float *x, float *y) {\n"
                       "  return mlp_forward(x, y, 1) + MLP_forward(x, y, MLP_INPUT_SIZE / 4);\n"
                       "}\n");
  runOk("cc", {"-std=c99", "-pedantic-errors", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
               "-I", dir.string(), (dir / "both.c").string()});
}

TEST_CASE("aot: parameter fields are the keys as C identifiers, and keys that collide are an error") {
  fs::path dir = testutil::scratchDir("aot_field_names");
  CHECK(backend::parameterFieldName("h1.weight") == "h1_weight");
  CHECK(backend::parameterFieldName("0.bias") == "p0_bias");
  CHECK(backend::parameterFieldName("enc.0-a.weight") == "enc_0_a_weight");
  // One `_` per character, not per byte of its UTF-8 (é is 2 bytes, € 3, 𝑥 4).
  CHECK(backend::parameterFieldName("caf\u00e9.weight") == "caf__weight");
  CHECK(backend::parameterFieldName("\u20ac\U0001D465.bias") == "___bias");

  testutil::writeBytes(dir / "seq.slope",
                       "network Seq {\n  input x : f32[3]\n"
                       "  h = dense(x, 4, name = \"0\")\n"
                       "  a = leaky_relu(h, alpha = 2.5)\n"
                       "  out = dense(a, 2, name = \"block.1\") |> prelu(name = \"p\")\n"
                       "  output out\n}\n");
  compile({(dir / "seq.slope").string(), "-o", (dir / "seq.o").string(), "--header",
           (dir / "seq.h").string()});
  std::string h = testutil::readBytes(dir / "seq.h");
  CHECK(contains(h, "typedef struct Seq_params {\n"
                    "  const float *p0_weight; /* 0.weight [4, 3] */\n"
                    "  const float *p0_bias; /* 0.bias [4] */\n"
                    "  const float *block_1_weight; /* block.1.weight [2, 4] */\n"
                    "  const float *block_1_bias; /* block.1.bias [2] */\n"
                    "  const float *p_weight; /* p.weight [2]; a shared slope is repeated 2 "
                    "times */\n"
                    "} Seq_params;\n"));
  CHECK(contains(h, "#define SEQ_INPUT_SIZE 3\n#define SEQ_OUTPUT_SIZE 2\n"));
  CHECK(contains(h, "int Seq_forward(const Seq_params *params, const float *input, float *output, "
                    "int64_t batch);"));
  CHECK(contains(h, " * Activations: leaky_relu, prelu.\n"));
  testutil::writeBytes(dir / "use.c", "#include \"seq.h\"\n");
  runOk("cc", {"-std=c99", "-pedantic-errors", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
               "-I", dir.string(), (dir / "use.c").string()});

  // `a.b.weight` and `a_b.weight` would both be the field a_b_weight.
  testutil::writeBytes(dir / "clash.slope",
                       "network clash {\n  input x : f32[3]\n"
                       "  h = dense(x, 4, name = \"a.b\")\n"
                       "  out = dense(h, 2, name = \"a_b\")\n"
                       "  output out\n}\n");
  RunResult r = testutil::runSlope({"compile", (dir / "clash.slope").string(), "-o",
                                    (dir / "clash.o").string(), "--header",
                                    (dir / "clash.h").string()});
  CHECK(r.status == 1);
  CHECK(r.err == "error: parameters 'a.b.weight' and 'a_b.weight' of network 'clash' would both "
                 "be the field `a_b_weight` of `clash_params`; rename one with `name = \"...\"`, "
                 "or embed the weights with --weights\n");
  CHECK(!fs::exists(dir / "clash.o"));
  CHECK(!fs::exists(dir / "clash.h"));
  // Embedded, there is no struct and so no clash.
  testutil::writeSafetensors(dir / "clash.safetensors",
                             {{"a.b.weight", testutil::tensor({4, 3}, std::vector<float>(12, 0.5f))},
                              {"a.b.bias", testutil::tensor({4}, {1, 2, 3, 4})},
                              {"a_b.weight", testutil::tensor({2, 4}, std::vector<float>(8, 1))},
                              {"a_b.bias", testutil::tensor({2}, {0, -1})}});
  compile({(dir / "clash.slope").string(), "-o", (dir / "clash.o").string(), "--header",
           (dir / "clash.h").string(), "--weights", (dir / "clash.safetensors").string()});
  Program p = link(dir, "cc", "clash", "clash.h", (dir / "clash.o").string(), nullptr, "clash");
  Call c = call(p, {1, 2, 3}, 1);
  REQUIRE(c.rc == 0);
  // h = 0.5*(1+2+3) + (1,2,3,4) = (4,5,6,7); out = sum(h) + (0,-1) = (22, 21).
  CHECK(c.output == std::vector<float>{22, 21});
}

TEST_CASE("aot: a network without parameters takes none, with or without --weights") {
  fs::path dir = testutil::scratchDir("aot_no_parameters");
  testutil::writeBytes(dir / "act.slope",
                       "# two networks in one file\n"
                       "network first {\n  input x : f32[3]\n  y = relu(x)\n  output y\n}\n"
                       "network act {\n  input x : f32[5]\n"
                       "  y = leaky_relu(x, alpha = -0.5) |> clipped_relu(ceiling = 2)\n"
                       "  output y\n}\n");
  compile({(dir / "act.slope").string(), "--network", "act", "-o", (dir / "act.o").string(),
           "--header", (dir / "act.h").string()});
  std::string h = testutil::readBytes(dir / "act.h");
  CHECK(contains(h, "int act_forward(const float *input, float *output, int64_t batch);"));
  CHECK(!contains(h, "act_params"));
  CHECK(contains(h, " * Parameters: none.\n"));
  Program p = link(dir, "c++", "act", "act.h", (dir / "act.o").string(), nullptr, "act");
  Call c = call(p, {-4, -1, 0.5f, 3, 1.5f, 1, 2, -3, -0.0f, 9}, 2);
  REQUIRE(c.rc == 0);
  CHECK(c.output == std::vector<float>{2, 0.5f, 0.5f, 2, 1.5f, 1, 2, 1.5f, 0, 2});
}
