// What the kernels are specialized for (compiler/codegen/Target.h): the L2 size that
// TargetSpec carries for the host's own CPU only, and the K passes it sizes
// (denseKPassLimit, compiler/codegen/Gemm.h).
#include "compiler/backend/Optimize.h"
#include "compiler/codegen/Gemm.h"
#include "compiler/codegen/Target.h"

#include <doctest/doctest.h>

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/Target/TargetMachine.h>

#include <fstream>
#include <string>

using namespace slope;

namespace {

std::unique_ptr<llvm::TargetMachine> hostMachine(const std::string &cpu = "") {
  backend::initializeNativeTarget();
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  REQUIRE(static_cast<bool>(builder));
  if (!cpu.empty()) {
    builder->setCPU(cpu);
    builder->getFeatures() = llvm::SubtargetFeatures();
  }
  auto machine = builder->createTargetMachine();
  REQUIRE(static_cast<bool>(machine));
  return std::move(*machine);
}

/// The L2 size of cpu0 as Linux's sysfs reports it ("2048K"), or -1 without it.
int64_t sysfsL2Bytes() {
  for (int index = 0; index < 8; ++index) {
    std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    std::ifstream level(dir + "level"), type(dir + "type"), size(dir + "size");
    std::string l, t, s;
    if (!(level >> l) || !(type >> t) || !(size >> s))
      continue;
    if (l != "2" || t == "Instruction" || s.empty())
      continue;
    int64_t scale = s.back() == 'K' ? 1024 : s.back() == 'M' ? 1024 * 1024 : 1;
    return std::stoll(s) * scale;
  }
  return -1;
}

} // namespace

TEST_CASE("the host's L2 is what the C library and sysfs report, when they do") {
  int64_t l2 = codegen::hostL2Bytes();
  CHECK(l2 >= 0);
  int64_t sysfs = sysfsL2Bytes();
  if (sysfs > 0 && l2 > 0)
    CHECK(l2 == sysfs);
}

TEST_CASE("TargetSpec knows the L2 of the host's own CPU only") {
  CHECK(codegen::targetSpecFor(*hostMachine()).l2Bytes == codegen::hostL2Bytes());
#if defined(__x86_64__)
  // A CPU name says nothing of the chip's cache: the same machine, named generically.
  codegen::TargetSpec generic = codegen::targetSpecFor(*hostMachine("x86-64-v2"));
  CHECK(generic.cpu == "x86-64-v2");
  CHECK(generic.l2Bytes == 0);
#endif
  CHECK(codegen::targetSpecFor("x86_64-unknown-linux-gnu", "skylake-avx512", "").l2Bytes == 0);
}

TEST_CASE("the cache-blocked kernel's passes grow with a 2 MiB L2") {
  codegen::TargetSpec spec = codegen::targetSpecFor("x86_64-unknown-linux-gnu", "", "+avx512f");
  for (int64_t l2 : {int64_t(0), int64_t(1) << 20, (int64_t(2) << 20) - 1}) {
    spec.l2Bytes = l2;
    INFO("L2 " << l2);
    CHECK(codegen::denseKPassLimit(spec) == 2048);
  }
  for (int64_t l2 : {int64_t(2) << 20, int64_t(32) << 20}) {
    spec.l2Bytes = l2;
    INFO("L2 " << l2);
    CHECK(codegen::denseKPassLimit(spec) == 4096);
  }
  // The panel a user-layout kernel packs into holds one column tile (3 vectors of 16)
  // for one pass: 4097 inputs are 3 passes of 1366 under 2048, 2 of 2049 under 4096.
  spec.l2Bytes = 0;
  CHECK(codegen::denseRuntimePanelFloats(4096, 4097, spec) == 48 * 1366);
  spec.l2Bytes = int64_t(2) << 20;
  CHECK(codegen::denseRuntimePanelFloats(4096, 4097, spec) == 48 * 2049);
}
