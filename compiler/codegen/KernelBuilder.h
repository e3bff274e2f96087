// What every kernel generator shares: the function being built, where each value and
// parameter lives, the vector shape, counted loops and (masked) vector memory access.
// Internal to compiler/codegen.
#pragma once

#include "compiler/codegen/Target.h"
#include "compiler/ir/Graph.h"

#include <llvm/ADT/ArrayRef.h>
#include <llvm/IR/IRBuilder.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace slope::codegen {

/// A row-major [rows, width] f32 matrix in memory.
struct Matrix {
  llvm::Value *base = nullptr;
  int64_t stride = 0; // floats between rows
};

/// One kernel function under construction: it computes one fusion group over `rows`
/// rows, reading its operands and parameters through the pointers its arguments hold.
struct KernelBuilder {
  KernelBuilder(llvm::IRBuilder<> &builder, const ir::Graph &g, const ir::FusionGroup &fg,
                const TargetSpec &spec)
      : b(builder), graph(g), group(fg), target(spec) {}

  llvm::IRBuilder<> &b;
  const ir::Graph &graph;
  const ir::FusionGroup &group;
  const TargetSpec &target;
  llvm::Function *function = nullptr;
  /// Values read from memory (the input or earlier groups' results), by id.
  std::map<ir::ValueId, Matrix> values;
  /// Parameters by key; dense weights are in the packed layout when `packedWeights`.
  std::map<std::string, llvm::Value *, std::less<>> params;
  bool packedWeights = true;
  /// Without packedWeights, a dense kernel's scratch for its packed weights
  /// (denseRuntimePanelFloats floats, 64-byte aligned); else null.
  llvm::Value *panel = nullptr;
  Matrix output;
  llvm::Value *rows = nullptr; // i64
  /// A dense kernel that computes a range of its column tiles (denseSplitsColumns): the
  /// tiles tileBegin .. tileEnd (i64) it computes, counting the narrower last one; null
  /// in every other kernel, which computes all of its output.
  llvm::Value *tileBegin = nullptr;
  llvm::Value *tileEnd = nullptr;

  llvm::Type *f32() const { return b.getFloatTy(); }
  llvm::Type *i64() const { return b.getInt64Ty(); }
  llvm::FixedVectorType *vec() const { return llvm::FixedVectorType::get(f32(), target.lanes); }
  llvm::Constant *i64c(int64_t v) const { return b.getInt64(static_cast<uint64_t>(v)); }

  /// A mask with the first `active` of `lanes` lanes set; null when all are active.
  llvm::Constant *laneMask(unsigned active) const;

  /// Loads `lanes` floats at base[index] (index in floats, i64); with a mask, only the
  /// active lanes are read and the others are `passthru` (zero when null).
  llvm::Value *loadVector(llvm::Value *base, llvm::Value *index, llvm::Constant *mask,
                          llvm::Value *passthru = nullptr);
  void storeVector(llvm::Value *value, llvm::Value *base, llvm::Value *index,
                   llvm::Constant *mask);
  /// Loads one float at base[index] and broadcasts it to every lane.
  llvm::Value *broadcast(llvm::Value *base, llvm::Value *index);

  /// Emits `for (i = 0; i < tripCount; ++i) body(i, carried)`, with loop-carried
  /// values: `carried` starts as `initial` and the body replaces its entries with the
  /// values for the next iteration. Returns the values after the loop. A constant trip
  /// count of 0 emits nothing; 1 emits the body once, straight-line.
  std::vector<llvm::Value *>
  loop(const std::string &name, llvm::Value *tripCount, std::vector<llvm::Value *> initial,
       const std::function<void(llvm::Value *i, std::vector<llvm::Value *> &carried)> &body);
  void loop(const std::string &name, llvm::Value *tripCount,
            const std::function<void(llvm::Value *i)> &body);
};

} // namespace slope::codegen
