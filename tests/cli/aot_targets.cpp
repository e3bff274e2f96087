// `slope compile --target/--cpu`: the portable x86-64 levels run on this host (when it
// has their instructions), and aarch64 objects link with the cross compiler and run
// under qemu-user.
#include "cli/aot_testing.h"

#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <tuple>

using namespace slope;
using namespace slope::aottest;

namespace {

const fs::path kDigits = testutil::sourceDir() / "samples/digits";

bool hostRuns(const std::string &cpu) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpu == "x86-64")
    return true;
  if (cpu == "x86-64-v2")
    return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt");
  if (cpu == "x86-64-v3")
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("bmi2");
  if (cpu == "x86-64-v4")
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
  (void)cpu;
  return false;
}

bool contains(const std::string &text, const std::string &what) {
  return text.find(what) != std::string::npos;
}

std::vector<float> digitsReference(const fs::path &dir, const runtime::Tensor &x) {
  return reference(dir, kDigits / "digits.slope", kDigits / "digits.safetensors", x);
}

} // namespace

TEST_CASE("aot: the x86-64 levels, baseline to v4, have their vector width and run here") {
  fs::path dir = testutil::scratchDir("aot_x86_levels");
  runtime::Tensor x = rows(runtime::readNpy((kDigits / "test_x.npy").string()), 101);
  std::vector<float> expected = digitsReference(dir, x);
  const std::vector<std::string> weights = {"--weights", (kDigits / "digits.safetensors").string()};
  for (std::string cpu : {"x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4"}) {
    CAPTURE(cpu);
    std::vector<std::string> common = {(kDigits / "digits.slope").string(), "--target",
                                       "x86_64-linux-gnu", "--cpu", cpu};
    common.insert(common.end(), weights.begin(), weights.end());

    std::vector<std::string> asmArgs = common;
    asmArgs.insert(asmArgs.end(), {"--emit", "asm", "-o", (dir / (cpu + ".s")).string()});
    compile(asmArgs);
    std::string text = testutil::readBytes(dir / (cpu + ".s"));
    bool v3 = cpu == "x86-64-v3", v4 = cpu == "x86-64-v4";
    CHECK(contains(text, "digits_forward:"));
    CHECK(contains(text, "%ymm") == v3); // v4 uses zmm throughout
    CHECK(contains(text, "%zmm") == v4);
    CHECK(contains(text, "vfmadd") == (v3 || v4));

    std::vector<std::string> objArgs = common;
    objArgs.insert(objArgs.end(), {"-o", (dir / (cpu + ".o")).string(), "--header",
                                   (dir / (cpu + ".h")).string()});
    compile(objArgs);
    CHECK(contains(testutil::readBytes(dir / (cpu + ".h")),
                   " * Target: x86_64-unknown-linux-gnu, CPU " + cpu + ".\n"));
    if (!hostRuns(cpu)) {
      MESSAGE("this host cannot run " << cpu << " code; compiled only");
      continue;
    }
    Program p = link(dir, "cc", "digits", cpu + ".h", (dir / (cpu + ".o")).string(), nullptr,
                     "driver_" + cpu);
    for (int64_t batch : {101, 1, 0}) {
      CAPTURE(batch);
      Call c = call(p, x.data, batch);
      REQUIRE(c.rc == 0);
      checkClose(c.output, std::vector<float>(expected.begin(), expected.begin() + batch * 10));
    }
  }
}

TEST_CASE("aot: weights passed in the user's layout give the bits of embedded ones, at every "
          "blocking edge") {
  // Without --weights, each dense kernel packs its weights itself (a transpose in
  // registers, one column tile and K pass at a time) and then runs the kernel of
  // embedded weights: the same sums in the same order. The layers cover K tails of
  // every ISA's lane count, column tails, no full column tile, and 1 to 3 K passes.
  fs::path dir = testutil::scratchDir("aot_user_layout");
  const fs::path source = dir / "edges.slope";
  testutil::writeBytes(source, "network edges {\n"
                               "  input x : f32[37]\n"
                               "  a = dense(x, 29) |> leaky_relu(alpha = 0.2)\n"
                               "  b = dense(a, 2100, bias = false) |> relu()\n"
                               "  c = dense(b, 50) |> leaky_relu(alpha = -1.5)\n"
                               "  d = dense(c, 4100)\n"
                               "  y = dense(d, 33)\n"
                               "  output y\n"
                               "}\n");
  // in x units: 37 x 29 (a K tail for 4, 8 and 16 lanes), 29 x 2100, 2100 x 50 (2 passes
  // of 1050), 50 x 4100, 4100 x 33 (3 passes, the last 1366; no full column tile).
  const std::vector<std::tuple<std::string, int64_t, int64_t>> layers = {
      {"a", 29, 37}, {"b", 2100, 29}, {"c", 50, 2100}, {"d", 4100, 50}, {"y", 33, 4100}};
  std::mt19937 rng(20261124);
  std::vector<std::pair<std::string, runtime::Tensor>> tensors;
  for (const auto &[name, units, in] : layers) {
    std::uniform_real_distribution<float> weight(-1.0f / std::sqrt(float(in)),
                                                 1.0f / std::sqrt(float(in)));
    std::vector<float> w(static_cast<size_t>(units * in));
    for (float &v : w)
      v = weight(rng);
    // Values the transpose must move untouched.
    w[1] = -0.0f;
    w[2] = 1e-40f;
    tensors.push_back({name + ".weight", testutil::tensor({units, in}, w)});
    if (name != "b") {
      std::vector<float> bias(static_cast<size_t>(units));
      for (float &v : bias)
        v = weight(rng);
      tensors.push_back({name + ".bias", testutil::tensor({units}, bias)});
    }
  }
  const fs::path weights = dir / "edges.safetensors";
  testutil::writeSafetensors(weights, tensors);
  ir::Graph graph = loadGraph(source);
  ExternalParameters params = externalParameters(graph, weights);

  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(size_t(23 * 37));
  for (float &v : x)
    v = uniform(rng);
  // Rows 20 to 22: NaN, infinities, -0 and a subnormal.
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(), -0.0f, 1e-40f};
  for (size_t i = 0; i < 5; ++i)
    x[20 * 37 + i * 7 + 3] = specials[i];

  for (std::string cpu : {"x86-64", "x86-64-v3", "x86-64-v4"}) {
    CAPTURE(cpu);
    if (!hostRuns(cpu)) {
      MESSAGE("this host cannot run " << cpu << " code; skipped");
      continue;
    }
    std::vector<std::string> common = {source.string(), "--target", "x86_64-linux-gnu", "--cpu",
                                       cpu};
    std::vector<std::string> embeddedArgs = common, userArgs = common;
    embeddedArgs.insert(embeddedArgs.end(), {"--weights", weights.string(), "-o",
                                             (dir / (cpu + ".emb.o")).string(), "--header",
                                             (dir / (cpu + ".emb.h")).string()});
    userArgs.insert(userArgs.end(), {"-o", (dir / (cpu + ".user.o")).string(), "--header",
                                     (dir / (cpu + ".user.h")).string()});
    compile(embeddedArgs);
    compile(userArgs);
    Program embedded = link(dir, "cc", "edges", cpu + ".emb.h",
                            (dir / (cpu + ".emb.o")).string(), nullptr, "emb_" + cpu);
    Program user = link(dir, "cc", "edges", cpu + ".user.h", (dir / (cpu + ".user.o")).string(),
                        &params, "user_" + cpu);
    // Blocks of 8 rows with AVX-512, 6 with AVX2 and SSE: every kind of rest, a lone row,
    // and the rows with special values.
    for (int64_t batch : {1, 2, 3, 7, 8, 13, 23, 0}) {
      CAPTURE(batch);
      Call want = call(embedded, x, batch), got = call(user, x, batch);
      REQUIRE(want.rc == 0);
      REQUIRE(got.rc == 0);
      REQUIRE(got.output.size() == size_t(batch * 33));
      for (size_t i = 0; i < got.output.size(); ++i) {
        if (testutil::bitsOf(got.output[i]) != testutil::bitsOf(want.output[i])) {
          INFO("element " << i << ": " << got.output[i] << ", embedded " << want.output[i]);
          CHECK(testutil::bitsOf(got.output[i]) == testutil::bitsOf(want.output[i]));
          break;
        }
      }
    }
  }
}

TEST_CASE("aot: aarch64 objects use NEON, link with the cross compiler and run under qemu") {
  fs::path dir = testutil::scratchDir("aot_aarch64");
  const std::string gcc = "aarch64-linux-gnu-gcc";
  const std::string sysroot = "/usr/aarch64-linux-gnu";
  runtime::Tensor x = rows(runtime::readNpy((kDigits / "test_x.npy").string()), 77);
  std::vector<float> expected = digitsReference(dir, x);
  const std::string source = (kDigits / "digits.slope").string();
  const std::string weights = (kDigits / "digits.safetensors").string();

  compile({source, "--target", "aarch64-linux-gnu", "--weights", weights, "--emit", "asm", "-o",
           (dir / "digits.s").string()});
  std::string text = testutil::readBytes(dir / "digits.s");
  CHECK(contains(text, "digits_forward:"));
  CHECK(contains(text, "fmla\tv")); // NEON fused multiply-add on vector registers
  CHECK(contains(text, ".4s"));

  compile({source, "--target", "aarch64-linux-gnu", "--weights", weights, "--emit", "llvm", "-o",
           (dir / "digits.ll").string()});
  std::string ir = testutil::readBytes(dir / "digits.ll");
  CHECK(contains(ir, "target triple = \"aarch64-unknown-linux-gnu\""));
  CHECK(contains(ir, "define"));
  CHECK(contains(ir, "@digits_forward("));

  compile({source, "--target", "aarch64-linux-gnu", "--weights", weights, "-o",
           (dir / "embedded.o").string(), "--header", (dir / "embedded.h").string()});
  compile({source, "--target", "aarch64-linux-gnu", "--cpu", "neoverse-n1", "-o",
           (dir / "external.o").string(), "--header", (dir / "external.h").string()});
  // An ELF relocatable file whose e_machine is EM_AARCH64 (183).
  std::string elf = testutil::readBytes(dir / "embedded.o");
  REQUIRE(elf.size() > 20);
  CHECK(elf.compare(0, 4, "\x7f" "ELF") == 0);
  CHECK(static_cast<unsigned char>(elf[18]) == 183);
  CHECK(elf[19] == 0);
  std::string nm = findProgram("aarch64-linux-gnu-nm").empty() ? "nm" : "aarch64-linux-gnu-nm";
  for (std::string object : {"embedded.o", "external.o"}) {
    std::istringstream lines(runOk(nm, {"-u", (dir / object).string()}));
    std::string type, name;
    while (lines >> type >> name) {
      INFO(object, " needs ", name);
      CHECK((name == "malloc" || name == "free" || name == "memcpy" || name == "memset" ||
             name == "memmove"));
    }
  }

  ExternalParameters params = externalParameters(loadGraph(kDigits / "digits.slope"), weights);
  Program embedded = link(dir, gcc, "digits", "embedded.h", (dir / "embedded.o").string(),
                          nullptr, "embedded");
  Program external = link(dir, gcc, "digits", "external.h", (dir / "external.o").string(),
                          &params, "external");
  for (Program *p : {&embedded, &external}) {
    CAPTURE(p->executable);
    p->runner = {"qemu-aarch64", "-L", sysroot};
    for (int64_t batch : {77, 1, 0}) {
      CAPTURE(batch);
      Call c = call(*p, x.data, batch);
      REQUIRE(c.rc == 0);
      checkClose(c.output, std::vector<float>(expected.begin(), expected.begin() + batch * 10));
    }
    Call bad = call(*p, x.data, -1);
    CHECK(bad.rc == 1);
    CHECK(bad.untouched);
    CHECK(call(*p, x.data, 2, "null-input").rc == 2);
  }
  CHECK(call(external, x.data, 2, "null-params").rc == 2);
}

// Regression: without --cpu, riscv64 got LLVM's bare rv64i with the soft-float ABI
// (ELF flags 0), which no Linux toolchain links with its double-float objects.
TEST_CASE("aot: riscv64 Linux objects default to RV64GC and the lp64d ABI") {
  fs::path dir = testutil::scratchDir("aot_riscv64");
  compile({(kDigits / "digits.slope").string(), "--target", "riscv64-linux-gnu", "--weights",
           (kDigits / "digits.safetensors").string(), "-o", (dir / "digits.o").string()});
  std::string elf = testutil::readBytes(dir / "digits.o");
  REQUIRE(elf.size() > 52);
  CHECK(elf.compare(0, 4, "\x7f" "ELF") == 0);
  CHECK(static_cast<unsigned char>(elf[18]) == 243); // e_machine EM_RISCV
  uint32_t flags = 0; // e_flags, little-endian at offset 48 of an ELF64 header
  for (int i = 3; i >= 0; --i)
    flags = flags << 8 | static_cast<unsigned char>(elf[48 + i]);
  CHECK(flags == (0x1u /* EF_RISCV_RVC */ | 0x4u /* EF_RISCV_FLOAT_ABI_DOUBLE */));
  compile({(kDigits / "digits.slope").string(), "--target", "riscv64-linux-gnu", "--weights",
           (kDigits / "digits.safetensors").string(), "--emit", "asm", "-o",
           (dir / "digits.s").string()});
  CHECK(contains(testutil::readBytes(dir / "digits.s"), "fmadd.s")); // the F extension
}
