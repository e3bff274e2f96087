// What the JIT and AOT paths share after code generation: target machines, the O3
// pipeline, and assembly or object emission. Includes LLVM headers: keep it out of
// widely included headers.
#pragma once

#include <llvm/Support/Error.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>

namespace llvm {
class Module;
} // namespace llvm

namespace slope::backend {

/// Registers the native target, its assembly printer and parser (once per process).
void initializeNativeTarget();

/// Runs LLVM's default per-module pipeline at `optLevel` (0..3) with `tm`'s cost model.
/// The module's data layout must be `tm`'s.
void optimizeModule(llvm::Module &module, llvm::TargetMachine &tm, unsigned optLevel);

/// Emits the module as assembly text or as an object file.
llvm::Expected<std::string> emitMachineCode(llvm::Module &module, llvm::TargetMachine &tm,
                                            llvm::CodeGenFileType type);

/// The CodeGenOptLevel for 0..3.
llvm::CodeGenOptLevel codeGenOptLevel(unsigned optLevel);

} // namespace slope::backend
