// What the JIT and AOT paths share after code generation: target machines, the
// optimization pipeline, and assembly or object emission. Includes LLVM headers: keep it
// out of widely included headers.
#pragma once

#include <llvm/Support/Error.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>

namespace llvm {
class Module;
} // namespace llvm

namespace slope::backend {

/// Registers the native target, its assembly printer and parser, and applies the LLVM
/// options of the environment variable SLOPE_LLVM_ARGS (once per process).
void initializeNativeTarget();

/// Optimizes the module with `tm`'s cost model: at `optLevel` 0 LLVM's O0 pipeline, else
/// a short function pass list suited to kernels that are vectorized and register-blocked
/// by construction (CSE, simplifycfg, LICM; no unrolling, vectorizers or inlining). The
/// module's data layout must be `tm`'s.
void optimizeModule(llvm::Module &module, llvm::TargetMachine &tm, unsigned optLevel);

/// Emits the module as assembly text or as an object file.
llvm::Expected<std::string> emitMachineCode(llvm::Module &module, llvm::TargetMachine &tm,
                                            llvm::CodeGenFileType type);

/// The CodeGenOptLevel for 0..3.
llvm::CodeGenOptLevel codeGenOptLevel(unsigned optLevel);

} // namespace slope::backend
