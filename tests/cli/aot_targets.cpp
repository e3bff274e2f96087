// `slope compile --target/--cpu`: the portable x86-64 levels run on this host (when it
// has their instructions), and aarch64 objects link with the cross compiler and run
// under qemu-user.
#include "cli/aot_testing.h"

#include <sstream>

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
