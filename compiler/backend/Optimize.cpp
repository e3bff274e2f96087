#include "compiler/backend/Optimize.h"

#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Transforms/Scalar/EarlyCSE.h>
#include <llvm/Transforms/Scalar/LICM.h>
#include <llvm/Transforms/Scalar/SimplifyCFG.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <string>

namespace slope::backend {

namespace {

/// LLVM's own options from the environment variable SLOPE_LLVM_ARGS, as for Halide's
/// HL_LLVM_ARGS: `SLOPE_LLVM_ARGS="-x86-asm-syntax=intel" slope dump --stage asm ...`.
/// For studying the code generator, not a supported interface: the options are LLVM's,
/// change between its versions, and hold for the whole process. A bad one is reported
/// on stderr and the rest still apply; unset, nothing of LLVM's option state is touched
/// (an application embedding slope may have set it).
void parseLlvmArgs() {
  const char *value = std::getenv("SLOPE_LLVM_ARGS");
  if (!value || !*value)
    return;
  // LLVM names the program in its messages: "SLOPE_LLVM_ARGS: Unknown command line
  // argument ...  Try: 'SLOPE_LLVM_ARGS --help'", which is what to set for its help.
  const char *argv[] = {"SLOPE_LLVM_ARGS"};
  std::string errors;
  llvm::raw_string_ostream os(errors);
  if (llvm::cl::ParseCommandLineOptions(1, argv, "", &os, "SLOPE_LLVM_ARGS"))
    return;
  os.flush();
  std::istringstream lines(errors);
  for (std::string line; std::getline(lines, line);)
    std::fprintf(stderr, "warning: %s\n", line.c_str());
}

} // namespace

void initializeNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
    parseLlvmArgs();
  });
}

llvm::CodeGenOptLevel codeGenOptLevel(unsigned optLevel) {
  switch (optLevel) {
  case 0:
    return llvm::CodeGenOptLevel::None;
  case 1:
    return llvm::CodeGenOptLevel::Less;
  case 2:
    return llvm::CodeGenOptLevel::Default;
  default:
    return llvm::CodeGenOptLevel::Aggressive;
  }
}

namespace {

/// The function passes for slope's kernels. They are vectorized and register-blocked by
/// construction, with constant loop bounds, so LLVM's default pipeline mostly spends its
/// time undoing that (unrolling the k loops, re-vectorizing, inlining every kernel into
/// the entry) and instruction selection then pays for the larger IR. What the kernels do
/// need: common subexpressions of the index arithmetic, the row and panel offsets
/// hoisted out of the k loop, and tidy control flow. Strength reduction of the addresses
/// is done by the code generator (LSR), and so is constant folding: InstCombine, once in
/// this list, changed no vector instruction of the benchmark networks' kernels and cost
/// about 7% of compiling the 784-128-64-10 MLP (docs/codegen.md).
llvm::FunctionPassManager kernelPipeline() {
  llvm::FunctionPassManager fpm;
  fpm.addPass(llvm::EarlyCSEPass(/*UseMemorySSA=*/false));
  fpm.addPass(llvm::SimplifyCFGPass());
  fpm.addPass(llvm::createFunctionToLoopPassAdaptor(llvm::LICMPass(llvm::LICMOptions()),
                                                    /*UseMemorySSA=*/true));
  fpm.addPass(llvm::EarlyCSEPass(/*UseMemorySSA=*/true));
  return fpm;
}

} // namespace

void optimizeModule(llvm::Module &module, llvm::TargetMachine &tm, unsigned optLevel) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(&tm);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm =
      optLevel == 0 ? pb.buildO0DefaultPipeline(llvm::OptimizationLevel::O0)
                    : llvm::ModulePassManager();
  if (optLevel > 0)
    mpm.addPass(llvm::createModuleToFunctionPassAdaptor(kernelPipeline()));
  mpm.run(module, mam);
}

llvm::Expected<std::string> emitMachineCode(llvm::Module &module, llvm::TargetMachine &tm,
                                            llvm::CodeGenFileType type) {
  llvm::SmallVector<char, 0> bytes;
  llvm::raw_svector_ostream os(bytes);
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, os, nullptr, type))
    return llvm::createStringError(
        "target '" + tm.getTargetTriple().str() + "' cannot emit " +
        (type == llvm::CodeGenFileType::ObjectFile ? "an object file" : "assembly") +
        " here; slope compiles for CPUs such as x86_64-linux-gnu or aarch64-linux-gnu");
  pm.run(module);
  return std::string(bytes.begin(), bytes.end());
}

} // namespace slope::backend
