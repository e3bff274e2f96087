// The elementwise ops as LLVM IR on vectors in registers: what a fused kernel applies to
// a dense tile before its single store, and what an elementwise kernel applies to values
// it loads. The piecewise-linear ops are written as compares and selects, never as
// min/max, so that they are bit-exact to compiler/ir/Graph.h for every input (NaN, ±inf,
// ±0, subnormals) and every alpha; no fast-math flag is ever set.
#pragma once

#include "compiler/codegen/KernelBuilder.h"

#include <llvm/Support/Error.h>

namespace slope::codegen {

/// Whether the code generator implements `op`; otherwise the error names it.
llvm::Error checkSupported(const ir::Node &node);

/// Computes group.nodes[first..] for one tile of `target.lanes` columns starting at
/// column `col` (i64) of row `row` (i64); `current` is the value of nodes[first - 1]
/// already in registers (null when first == 0). Operands that are not computed in this
/// tile are loaded from memory; `mask` (null: all lanes) limits loads to the columns
/// that exist. Returns the value of the group's last node.
llvm::Value *applyChain(KernelBuilder &k, size_t first, llvm::Value *current, llvm::Value *row,
                        llvm::Value *col, llvm::Constant *mask);

/// Emits the kernel of a group anchored on an elementwise op: loads its operands, applies
/// the chain and stores the result, tile by tile.
void emitElementwiseKernel(KernelBuilder &k);

} // namespace slope::codegen
