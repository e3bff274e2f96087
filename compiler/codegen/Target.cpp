#include "compiler/codegen/Target.h"

#include <llvm/ADT/SmallVector.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/IR/Function.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>

#include <unistd.h>

namespace slope::codegen {

namespace {

/// Whether the feature string explicitly enables `name` ("+name").
bool hasFeature(llvm::StringRef features, llvm::StringRef name) {
  llvm::SmallVector<llvm::StringRef, 64> parts;
  features.split(parts, ',', -1, false);
  bool enabled = false;
  for (llvm::StringRef part : parts) {
    if (part.size() < 2)
      continue;
    if (part.drop_front() == name)
      enabled = part.front() == '+';
  }
  return enabled;
}

/// Whether the feature string explicitly disables `name` ("-name").
bool disablesFeature(llvm::StringRef features, llvm::StringRef name) {
  llvm::SmallVector<llvm::StringRef, 64> parts;
  features.split(parts, ',', -1, false);
  bool disabled = false;
  for (llvm::StringRef part : parts) {
    if (part.size() < 2)
      continue;
    if (part.drop_front() == name)
      disabled = part.front() == '-';
  }
  return disabled;
}

} // namespace

TargetSpec targetSpecFor(const std::string &triple, const std::string &cpu,
                         const std::string &features) {
  TargetSpec spec;
  spec.triple = triple;
  spec.cpu = cpu;
  spec.features = features;
  llvm::Triple t(triple);
  if (t.isX86()) {
    // AVX-512 with 512-bit registers (LLVM 18+ gates them behind evex512, which host
    // detection reports; a feature string that does not mention it keeps the default).
    if (hasFeature(features, "avx512f") && !disablesFeature(features, "evex512")) {
      spec.lanes = 16;
      spec.vectorRegisters = 32;
      return spec;
    }
    if (hasFeature(features, "avx")) {
      spec.lanes = 8;
      spec.vectorRegisters = 16;
      return spec;
    }
    spec.lanes = 4; // SSE2 is part of x86-64
    spec.vectorRegisters = 16;
    return spec;
  }
  if (t.isAArch64()) {
    spec.lanes = 4; // NEON (Advanced SIMD) is part of AArch64
    spec.vectorRegisters = 32;
    return spec;
  }
  spec.lanes = 4;
  spec.vectorRegisters = 16;
  return spec;
}

int64_t hostL2Bytes() {
#ifdef _SC_LEVEL2_CACHE_SIZE
  long bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
  return bytes > 0 ? bytes : 0;
#else
  return 0;
#endif
}

TargetSpec targetSpecFor(const llvm::TargetMachine &tm) {
  TargetSpec spec = targetSpecFor(tm.getTargetTriple().str(), tm.getTargetCPU().str(),
                                  tm.getTargetFeatureString().str());
  if (tm.getTargetTriple() == llvm::Triple(llvm::sys::getProcessTriple()) &&
      tm.getTargetCPU() == llvm::sys::getHostCPUName())
    spec.l2Bytes = hostL2Bytes();
  // A CPU name implies features its feature string need not list (`--cpu x86-64-v4`):
  // ask the subtarget, which knows both.
  const llvm::MCSubtargetInfo *sti = tm.getMCSubtargetInfo();
  if (!sti || !tm.getTargetTriple().isX86())
    return spec;
  if (sti->checkFeatures("+avx512f,+evex512")) {
    spec.lanes = 16;
    spec.vectorRegisters = 32;
  } else if (sti->checkFeatures("+avx")) {
    spec.lanes = 8;
    spec.vectorRegisters = 16;
  }
  return spec;
}

void applyTargetAttributes(llvm::Function &f, const TargetSpec &spec) {
  if (!spec.cpu.empty())
    f.addFnAttr("target-cpu", spec.cpu);
  if (!spec.features.empty())
    f.addFnAttr("target-features", spec.features);
  if (llvm::Triple(spec.triple).isX86()) {
    std::string bits = std::to_string(spec.lanes * 32);
    f.addFnAttr("prefer-vector-width", bits);
    f.addFnAttr("min-legal-vector-width", bits);
  }
  f.addFnAttr(llvm::Attribute::NoUnwind);
  // On a cache line: where a kernel's hot loop falls relative to 64-byte boundaries then
  // depends on its own code only, not on what the linker placed before it. With the
  // default 16, adding a function to one JIT module moved the MLP's first kernel and
  // cost it 5-9% (784-128-64-10 at batch 64: 67.5 us against 63.5 us, alternating runs;
  // identical instructions).
  f.setAlignment(llvm::Align(64));
}

} // namespace slope::codegen
