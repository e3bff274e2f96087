// The JIT: a network compiled in memory for the host CPU (an ORC LLJIT, in the spirit
// of LLVM's KaleidoscopeJIT), and the optimized IR and assembly `slope dump` prints.
//
// This header is included by the public API and the CLI: it exposes no LLVM type. Errors
// are thrown as CodegenError.
#pragma once

#include "compiler/ir/Graph.h"
#include "compiler/ir/Parameters.h"

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace slope::codegen {
struct PackedParameter;
} // namespace slope::codegen

namespace slope::backend {

/// Code generation failed: an op the compiler does not support yet (the message names
/// it), parameters that do not match the graph, or an LLVM failure.
class CodegenError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct CompileOptions {
  /// 0 to 3, as -O0..-O3.
  unsigned optLevel = 3;
  /// The CPU to generate code for; empty means the host's. Setting it (with `features`)
  /// narrows the ISA, e.g. {"x86-64-v3", ""} for AVX2 code on an AVX-512 host; it must
  /// not name features the host lacks.
  std::string cpu;
  /// Subtarget features, e.g. "-avx512f"; empty means the CPU's (the host's when `cpu` is
  /// empty too).
  std::string features;
  /// Threads the JIT compiles on (the kernels split between them); 0 means one per
  /// hardware thread. At most kMaxCompileThreads, and never more than the kernels.
  unsigned compileThreads = 0;
};

inline constexpr unsigned kMaxCompileThreads = 8;

class JitModule {
public:
  /// Compiles `graph` (its fusion groups filled) with `parameters` bound. Throws
  /// CodegenError.
  static std::unique_ptr<JitModule> compile(const ir::Graph &graph,
                                            const ir::ParameterValues &parameters,
                                            const CompileOptions &options = {});
  ~JitModule();
  JitModule(const JitModule &) = delete;
  JitModule &operator=(const JitModule &) = delete;

  /// Runs the network on `batch` rows: input holds batch * inputWidth() floats, output
  /// receives batch * outputWidth() floats (they must not overlap). Returns 0, or
  /// non-zero for a bad argument (batch < 0, a null pointer with batch > 0) or when the
  /// scratch memory cannot be allocated. Thread-safe: any number of threads may call it
  /// at once.
  int32_t forward(const float *input, float *output, int64_t batch) const;

  /// The fusion groups forward() runs, in order (none when the output is the input).
  size_t groups() const { return columnTiles_.size(); }
  /// The column tiles that step() can share between parts for `group` (a dense layer
  /// whose weights stream from L3 or memory), or 0 when the group runs whole in part 0.
  int64_t columnTiles(size_t group) const { return columnTiles_[group]; }
  /// Floats of scratch step() needs for `batch` rows.
  int64_t stepScratchFloats(int64_t batch) const { return stepScratchRow_ * batch; }
  struct FreeDeleter {
    void operator()(void *p) const;
  };
  using StepScratch = std::unique_ptr<float, FreeDeleter>;
  /// A scratch buffer for step() at `batch` rows: stepScratchFloats(batch) floats (at
  /// least one cache line), 64-byte aligned; null when that size overflows int64_t
  /// bytes or the allocation fails.
  StepScratch allocateStepScratch(int64_t batch) const;
  /// Part `part` of `parts` of fusion group `group` (codegen::stepEntryName): forward(),
  /// to the bit, is step() for every group in order, each for every part (on any
  /// threads, at once) before the next group starts, all on one `scratch` of
  /// stepScratchFloats(batch) floats, 64-byte aligned. Nothing is checked: batch > 0,
  /// pointers that are not null, group < groups() and part < parts.
  void step(const float *input, float *output, int64_t batch, float *scratch, size_t group,
            unsigned part, unsigned parts) const {
    step_(params_.data(), input, output, batch, scratch, int64_t(group), part, parts);
  }

  int64_t inputWidth() const { return inputWidth_; }
  int64_t outputWidth() const { return outputWidth_; }
  /// f32 lanes per vector in the generated kernels (16 on AVX-512, 8 on AVX2, ...).
  unsigned vectorLanes() const { return lanes_; }

private:
  using EntryFunction = int32_t (*)(const float *const *, const float *, float *, int64_t);
  using StepFunction = void (*)(const float *const *, const float *, float *, int64_t, float *,
                                int64_t, int64_t, int64_t);
  struct State;
  JitModule();
  /// Writes the planned parameters into one block (parameters_) and points params_ at
  /// them.
  void bindParameters(const std::vector<codegen::PackedParameter> &packed);

  std::unique_ptr<State> state_; // the LLJIT that owns the code
  /// Every parameter, packed, in one block: each starts on a cache line (a vector load of
  /// the weights never straddles two), and a block of weights larger than a huge page is
  /// aligned to one and offered to the kernel as transparent huge pages.
  std::unique_ptr<float, FreeDeleter> parameters_;
  std::vector<const float *> params_;
  EntryFunction entry_ = nullptr;
  StepFunction step_ = nullptr;
  std::vector<int64_t> columnTiles_;
  int64_t stepScratchRow_ = 0;
  int64_t inputWidth_ = 0;
  int64_t outputWidth_ = 0;
  unsigned lanes_ = 0;
};

/// The optimized LLVM IR of the network as the JIT compiles it, for
/// `slope dump --stage llvm`. Needs no parameter values. Throws CodegenError.
std::string emitLlvmText(const ir::Graph &graph, const CompileOptions &options = {});

/// The host assembly of the same module, for `slope dump --stage asm`.
std::string emitAssembly(const ir::Graph &graph, const CompileOptions &options = {});

} // namespace slope::backend
