// A whole network as one LLVM module: the entry function, one kernel function per
// fusion group, and (optionally) the parameters as constant data. The JIT and the AOT
// backend both start from this module.
//
// Entry-function ABI (C):
//
//   int32_t <name>_forward(const float *const *params,        // ParameterSource::Arguments
//                          const float *input, float *output, int64_t batch);
//   int32_t <name>_forward(const float *input, float *output, int64_t batch);  // Embedded
//
// params[i] is the i-th tensor of ir::parameterSpecs(graph). input holds batch rows of
// graph.inputWidth() floats, output receives batch rows of graph.outputWidth() floats;
// they must not overlap. Returns kForwardOk, or one of the codes below without writing
// anything. Reentrant and thread-safe: intermediate values live in a per-call scratch
// buffer (on the stack when small, else malloc/free), never in globals.
#pragma once

#include "compiler/codegen/Target.h"
#include "compiler/ir/Graph.h"
#include "compiler/ir/Parameters.h"

#include <llvm/Support/Error.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace llvm {
class LLVMContext;
class Module;
} // namespace llvm

namespace slope::codegen {

inline constexpr int32_t kForwardOk = 0;
inline constexpr int32_t kForwardBadBatch = 1;       // batch < 0 or > Graph::maxBatch()
inline constexpr int32_t kForwardNullPointer = 2;    // a null pointer with batch > 0
inline constexpr int32_t kForwardOutOfMemory = 3;    // scratch too large or malloc failed

/// Scratch up to this many bytes lives on the stack of the entry function.
inline constexpr int64_t kStackScratchBytes = 16 * 1024;

enum class ParameterSource : uint8_t {
  /// The entry takes `params`, one pointer per parameter.
  Arguments,
  /// The parameters are private constant globals of the module, already packed; the
  /// entry takes no `params`.
  Embedded,
};

struct NetworkOptions {
  TargetSpec target;
  ParameterSource parameters = ParameterSource::Arguments;
  /// Arguments only: params[i] is in the kernel layout (`packParameters`, as the JIT
  /// passes them) rather than the user's layout (`P.weight` [units, in] row-major, as an
  /// AOT caller passes them; each dense kernel then packs its weights into scratch, one
  /// column tile and K pass at a time, before it runs on them).
  bool packedArguments = true;
  /// Embedded only: the values to embed.
  const ir::ParameterValues *values = nullptr;
  /// The entry function's name; empty means `<graph.name>_forward`.
  std::string entryName;
  /// Code generation split into modules compiled in parallel (the JIT): this module
  /// defines the kernels `kernelPartitions` assigns to `partition` and declares the
  /// others. With more than one partition the kernels have external linkage, and only
  /// partition 0 defines the entry function (the other modules hold kernels only).
  unsigned partitions = 1;
  unsigned partition = 0;
  /// Also define the step entry (stepEntryName), in partition 0. Only with the
  /// parameters as packed arguments (the JIT's mode).
  bool stepEntry = false;
};

/// Which of `partitions` modules defines each kernel (one per fusion group): the
/// kernels, largest first by an estimate of their code size, each to the partition
/// with the least code so far; partition 0 starts with the entry function. With
/// `partitionCost`, also each partition's estimated code.
std::vector<unsigned> kernelPartitions(const ir::Graph &graph, const TargetSpec &target,
                                       unsigned partitions,
                                       std::vector<int64_t> *partitionCost = nullptr);

/// `<graph.name>_forward`.
std::string defaultEntryName(const ir::Graph &graph);

/// The step entry (NetworkOptions::stepEntry) runs one fusion group, whole or a part of
/// its column tiles, so that threads can share a forward pass layer by layer when the
/// batch is too small to split by rows:
///
///   void <graph.name>_step(const float *const *params, const float *input, float *output,
///                          int64_t batch, float *scratch, int64_t group,
///                          int64_t part, int64_t parts);
///
/// Groups 0 .. groups-1 in order, each called for every part 0 .. parts-1 (on any
/// threads, at once) before the next group starts, compute what the forward entry does,
/// to the bit. A part computes rows batch*part/parts .. batch*(part+1)/parts of the
/// group; but a group with at least `parts` column tiles (groupColumnTiles) computes
/// tiles tiles*part/parts .. tiles*(part+1)/parts of every row. A part with no rows
/// does nothing. `scratch` holds
/// batch * stepScratchFloats(graph) floats, 64-byte aligned, shared by all the parts.
/// Nothing is checked: the caller checks the arguments as the forward entry does, with
/// batch > 0 and 1 <= parts.
std::string stepEntryName(const ir::Graph &graph);

/// Floats per row of the step entry's scratch: the values groups store for later ones.
int64_t stepScratchFloats(const ir::Graph &graph);

/// Per fusion group, the column tiles the step entry can share between parts (a dense
/// layer whose weights are too large for L2: Gemm.h, denseSplitsColumns), or 0 for a
/// group whose parts are always rows.
std::vector<int64_t> groupColumnTiles(const ir::Graph &graph, const TargetSpec &target);

/// Emits the network (whose fusion groups must be filled). Fails with a message naming
/// the op for an op the code generator does not support yet, or for missing values.
/// The module has the target triple set; the caller sets the data layout of the
/// TargetMachine that will compile it.
llvm::Expected<std::unique_ptr<llvm::Module>>
emitNetwork(llvm::LLVMContext &context, const ir::Graph &graph, const NetworkOptions &options);

/// One parameter in the kernel layout: `size` floats, which `write(dest)` writes (it
/// reads the ParameterValues it was planned from, which must outlive it).
struct PackedParameter {
  int64_t size = 0;
  std::function<void(float *dest)> write;
};

/// The parameters in the kernel layout, in ir::parameterSpecs(graph) order: dense
/// weights packed (Gemm.h), a shared prelu slope broadcast to its width, the rest as
/// given; planned, so that the caller writes them where it wants (the JIT: one aligned
/// block, without an intermediate copy). Fails on a missing key or a wrong size.
llvm::Expected<std::vector<PackedParameter>>
planParameters(const ir::Graph &graph, const ir::ParameterValues &values,
               const TargetSpec &target);

/// planParameters, written into one vector each.
llvm::Expected<std::vector<std::vector<float>>>
packParameters(const ir::Graph &graph, const ir::ParameterValues &values,
               const TargetSpec &target);

} // namespace slope::codegen
