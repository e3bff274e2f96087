// The ISA choice for generated code: which vector width the kernels use, and the
// function attributes that make the optimizer and the code generator agree on it.
#pragma once

#include <cstdint>
#include <string>

namespace llvm {
class Function;
class TargetMachine;
} // namespace llvm

namespace slope::codegen {

/// What the kernels are specialized for. Built from the TargetMachine that will emit
/// the code (the host for the JIT, any target for AOT), never from the machine that
/// runs the compiler, so no instruction the target lacks is ever emitted.
struct TargetSpec {
  std::string triple;
  std::string cpu;
  /// The subtarget feature string, e.g. "+avx2,+fma,-avx512f".
  std::string features;
  /// f32 lanes per vector register the kernels use: 16 with AVX-512 (zmm), 8 with AVX
  /// (ymm), 4 with SSE or NEON, 4 elsewhere (LLVM legalizes).
  unsigned lanes = 4;
  /// Vector registers of that width the register allocator has (32 with AVX-512 or
  /// AArch64, 16 otherwise); sizes the dense register tile.
  unsigned vectorRegisters = 16;
  /// The L2 cache of one core in bytes, or 0 when unknown: the host's when the code is
  /// for the host's own CPU, the one LLVM detects (the JIT's default, `slope compile
  /// --cpu native`), else 0, since a CPU name does not say how much L2 the chip has.
  /// Sizes the K passes of the cache-blocked dense kernel (Gemm.h, denseKPassLimit).
  int64_t l2Bytes = 0;
};

/// The L2 cache per core of the machine running this process, in bytes, as the C
/// library reports it; 0 when it does not (some virtual machines expose no cache sizes).
int64_t hostL2Bytes();

/// The spec for the target `tm` generates code for.
TargetSpec targetSpecFor(const llvm::TargetMachine &tm);

/// The spec for a triple, cpu and feature string (exposed for tests).
TargetSpec targetSpecFor(const std::string &triple, const std::string &cpu,
                         const std::string &features);

/// Sets target-cpu, target-features and the preferred vector width on `f`, so that
/// the optimizer and instruction selection see the same ISA; aligns it to a cache line.
void applyTargetAttributes(llvm::Function &f, const TargetSpec &spec);

} // namespace slope::codegen
