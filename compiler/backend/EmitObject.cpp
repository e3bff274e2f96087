#include "compiler/backend/EmitObject.h"

#include "compiler/backend/Optimize.h"
#include "compiler/codegen/Network.h"
#include "compiler/codegen/Target.h"

#include <llvm/ADT/StringMap.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

namespace slope::backend {

namespace {

/// Every target libLLVM was built with (Debian's has X86 and AArch64 among them), with
/// the assembly printers that object emission needs.
void initializeAllTargets() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeAllTargetInfos();
    llvm::InitializeAllTargets();
    llvm::InitializeAllTargetMCs();
    llvm::InitializeAllAsmPrinters();
    llvm::InitializeAllAsmParsers();
  });
}

[[noreturn]] void fail(const std::string &message) { throw CodegenError(message); }

template <typename T> T check(llvm::Expected<T> value) {
  if (!value)
    fail(llvm::toString(value.takeError()));
  return std::move(*value);
}

/// The host's features as a subtarget feature string, sorted so that the same host
/// always gives the same string.
std::string hostFeatures() {
  std::vector<std::string> parts;
  for (const auto &feature : llvm::sys::getHostCPUFeatures())
    parts.push_back((feature.getValue() ? "+" : "-") + feature.getKey().str());
  std::sort(parts.begin(), parts.end());
  std::string features;
  for (const std::string &part : parts)
    features += (features.empty() ? "" : ",") + part;
  return features;
}

std::string cpuExamples(const llvm::Triple &triple) {
  bool host = triple.getArch() == llvm::Triple(llvm::sys::getProcessTriple()).getArch();
  std::string native = host ? ", native" : "";
  if (triple.getArch() == llvm::Triple::x86_64)
    return "x86-64, x86-64-v2, x86-64-v3, x86-64-v4, skylake, znver3" + native;
  if (triple.isAArch64())
    return "generic, cortex-a72, neoverse-n1, apple-m1" + native;
  return "a CPU that `llc -mtriple=" + triple.str() + " -mcpu=help` lists" + native;
}

const llvm::Target &lookupTarget(const std::string &triple) {
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target || llvm::Triple(triple).getArch() == llvm::Triple::UnknownArch)
    fail("unknown target triple '" + triple +
         "'; e.g. x86_64-linux-gnu or aarch64-linux-gnu");
  return *target;
}

std::unique_ptr<llvm::TargetMachine> createTargetMachine(const AotTarget &target,
                                                         unsigned optLevel) {
  const llvm::Target &llvmTarget = lookupTarget(target.triple);
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> tm(llvmTarget.createTargetMachine(
      target.triple, target.cpu, target.features, options, llvm::Reloc::PIC_, std::nullopt,
      codeGenOptLevel(optLevel)));
  if (!tm)
    fail("cannot generate code for target '" + target.triple + "'");
  return tm;
}

} // namespace

bool takesParameterArgument(const ir::Graph &graph, bool embedded) {
  return !embedded && !ir::parameterSpecs(graph).empty();
}

AotTarget resolveTarget(const std::string &triple, const std::string &cpu) {
  initializeAllTargets();
  const std::string host = llvm::sys::getProcessTriple();
  AotTarget target;
  target.triple = triple.empty() ? host : llvm::Triple::normalize(triple);
  llvm::Triple parsed(target.triple);
  const llvm::Target &llvmTarget = lookupTarget(target.triple);

  if (cpu == "native" || (cpu.empty() && triple.empty())) {
    if (parsed.getArch() != llvm::Triple(host).getArch())
      fail("`--cpu native` names this machine's CPU, which cannot run code for '" +
           target.triple + "'; name a CPU of that target, e.g. " + cpuExamples(parsed));
    target.cpu = llvm::sys::getHostCPUName().str();
    target.features = hostFeatures();
    return target;
  }
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget(
      llvmTarget.createMCSubtargetInfo(target.triple, "", ""));
  if (cpu.empty()) {
    // The target's baseline. Not every target has a CPU called "generic" (NVPTX does
    // not, and LLVM would print a complaint of its own); those get LLVM's default.
    if (parsed.getArch() == llvm::Triple::x86_64) {
      target.cpu = "x86-64";
    } else if (parsed.getArch() == llvm::Triple::riscv64 && parsed.isOSLinux()) {
      // LLVM's bare rv64i uses the soft-float ABI, which no Linux toolchain links
      // with; RV64GC (with its lp64d ABI) is the Linux baseline, as Clang's default.
      target.cpu = "generic-rv64";
      target.features = "+m,+a,+f,+d,+c";
    } else if (subtarget && subtarget->isCPUStringValid("generic")) {
      target.cpu = "generic";
    }
    return target;
  }
  if (!subtarget || !subtarget->isCPUStringValid(cpu))
    fail("unknown CPU '" + cpu + "' for target '" + target.triple + "'; e.g. " +
         cpuExamples(parsed));
  target.cpu = cpu;
  return target;
}

AotOutput compileAheadOfTime(const ir::Graph &graph, const AotOptions &options) {
  AotOutput out;
  out.target = resolveTarget(options.triple, options.cpu);
  std::unique_ptr<llvm::TargetMachine> tm = createTargetMachine(out.target, options.optLevel);

  codegen::NetworkOptions networkOptions;
  networkOptions.target = codegen::targetSpecFor(*tm);
  out.target.vectorLanes = networkOptions.target.lanes;
  static const ir::ParameterValues none;
  if (takesParameterArgument(graph, options.embedded != nullptr)) {
    networkOptions.parameters = codegen::ParameterSource::Arguments;
    networkOptions.packedArguments = false; // the user's layout, as SPEC §5 declares it
  } else {
    networkOptions.parameters = codegen::ParameterSource::Embedded;
    networkOptions.values = options.embedded ? options.embedded : &none;
  }

  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> module =
      check(codegen::emitNetwork(context, graph, networkOptions));
  module->setDataLayout(tm->createDataLayout());
  optimizeModule(*module, *tm, options.optLevel);

  switch (options.output) {
  case OutputKind::LlvmIr: {
    llvm::raw_string_ostream os(out.bytes);
    module->print(os, nullptr);
    os.flush();
    return out;
  }
  case OutputKind::Assembly:
    out.bytes = check(emitMachineCode(*module, *tm, llvm::CodeGenFileType::AssemblyFile));
    return out;
  case OutputKind::Object:
    out.bytes = check(emitMachineCode(*module, *tm, llvm::CodeGenFileType::ObjectFile));
    return out;
  }
  fail("unknown output kind");
}

} // namespace slope::backend
