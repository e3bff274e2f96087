#include "compiler/codegen/Epilogue.h"

#include <llvm/IR/Constants.h>

#include <cassert>
#include <string>

namespace slope::codegen {

namespace {

llvm::Value *splat(KernelBuilder &k, float v) {
  return llvm::ConstantFP::get(k.vec(), static_cast<double>(v));
}

/// x > 0 ? x : slope*x. The compare is false for NaN, so NaN becomes slope*NaN (a NaN);
/// -0 becomes slope*-0, as the definition says.
llvm::Value *leakyRelu(KernelBuilder &k, llvm::Value *x, llvm::Value *slope) {
  llvm::Value *positive = k.b.CreateFCmpOGT(x, splat(k, 0.0f));
  return k.b.CreateSelect(positive, x, k.b.CreateFMul(slope, x));
}

/// x < 0 ? +0 : x (NaN and -0 pass through).
llvm::Value *relu(KernelBuilder &k, llvm::Value *x) {
  llvm::Value *negative = k.b.CreateFCmpOLT(x, splat(k, 0.0f));
  return k.b.CreateSelect(negative, splat(k, 0.0f), x);
}

/// x < 0 ? +0 : (x > c ? c : x).
llvm::Value *clippedRelu(KernelBuilder &k, llvm::Value *x, float ceiling) {
  llvm::Value *above = k.b.CreateFCmpOGT(x, splat(k, ceiling));
  llvm::Value *clipped = k.b.CreateSelect(above, splat(k, ceiling), x);
  llvm::Value *negative = k.b.CreateFCmpOLT(x, splat(k, 0.0f));
  return k.b.CreateSelect(negative, splat(k, 0.0f), clipped);
}

/// The node's operand `operand`, from this tile's registers or from memory.
llvm::Value *operandValue(KernelBuilder &k, const std::map<ir::ValueId, llvm::Value *> &inTile,
                          ir::ValueId operand, llvm::Value *row, llvm::Value *col,
                          llvm::Constant *mask) {
  if (auto it = inTile.find(operand); it != inTile.end())
    return it->second;
  auto mem = k.values.find(operand);
  assert(mem != k.values.end() && "operand neither in the tile nor in memory");
  llvm::Value *index = k.b.CreateAdd(k.b.CreateMul(row, k.i64c(mem->second.stride)), col);
  return k.loadVector(mem->second.base, index, mask);
}

} // namespace

llvm::Error checkSupported(const ir::Node &node) {
  switch (node.op) {
  case ir::Op::Input:
  case ir::Op::Dense:
  case ir::Op::LeakyRelu:
  case ir::Op::Relu:
  case ir::Op::Prelu:
  case ir::Op::Relu6:
  case ir::Op::ClippedRelu:
  case ir::Op::Identity:
  case ir::Op::Add:
  case ir::Op::Softmax:
    return llvm::Error::success();
  case ir::Op::Elu:
  case ir::Op::Selu:
  case ir::Op::Softplus:
  case ir::Op::Sigmoid:
  case ir::Op::Tanh:
  case ir::Op::Gelu:
  case ir::Op::Silu:
  case ir::Op::Crelu:
    break;
  }
  return llvm::createStringError("`" + std::string(ir::opName(node.op)) +
                                 "` is not supported yet by the compiler");
}

llvm::Value *applyChain(KernelBuilder &k, size_t first, llvm::Value *current, llvm::Value *row,
                        llvm::Value *col, llvm::Constant *mask) {
  const std::vector<ir::ValueId> &ids = k.group.nodes;
  std::map<ir::ValueId, llvm::Value *> inTile;
  if (first > 0)
    inTile[ids[first - 1]] = current;
  for (size_t n = first; n < ids.size(); ++n) {
    const ir::Node &node = k.graph.node(ids[n]);
    auto operand = [&](size_t i) {
      return operandValue(k, inTile, node.operands[i], row, col, mask);
    };
    llvm::Value *x = operand(0);
    llvm::Value *y = nullptr;
    switch (node.op) {
    case ir::Op::LeakyRelu:
      y = leakyRelu(k, x, splat(k, node.alpha()));
      break;
    case ir::Op::Prelu: {
      llvm::Value *slopes = k.params.at(node.weightKey());
      y = leakyRelu(k, x, k.loadVector(slopes, col, mask));
      break;
    }
    case ir::Op::Relu:
      y = relu(k, x);
      break;
    case ir::Op::Relu6:
      y = clippedRelu(k, x, 6.0f);
      break;
    case ir::Op::ClippedRelu:
      y = clippedRelu(k, x, node.ceiling());
      break;
    case ir::Op::Identity:
      y = x;
      break;
    case ir::Op::Add:
      y = k.b.CreateFAdd(x, operand(1));
      break;
    case ir::Op::Input:
    case ir::Op::Dense:
    case ir::Op::Softmax:
    case ir::Op::Elu:
    case ir::Op::Selu:
    case ir::Op::Softplus:
    case ir::Op::Sigmoid:
    case ir::Op::Tanh:
    case ir::Op::Gelu:
    case ir::Op::Silu:
    case ir::Op::Crelu:
      assert(false && "not an elementwise op the code generator supports");
      y = x;
      break;
    }
    inTile[ids[n]] = y;
    current = y;
  }
  return current;
}

void emitElementwiseKernel(KernelBuilder &k) {
  int64_t width = k.graph.node(k.group.result()).width;
  int64_t lanes = k.target.lanes;
  int64_t fullVectors = width / lanes;
  unsigned tail = static_cast<unsigned>(width % lanes);
  k.loop("row", k.rows, [&](llvm::Value *row) {
    llvm::Value *outRow = k.b.CreateMul(row, k.i64c(k.output.stride));
    auto tile = [&](llvm::Value *col, llvm::Constant *mask) {
      llvm::Value *y = applyChain(k, 0, nullptr, row, col, mask);
      k.storeVector(y, k.output.base, k.b.CreateAdd(outRow, col), mask);
    };
    k.loop("col", k.i64c(fullVectors), [&](llvm::Value *v) {
      tile(k.b.CreateMul(v, k.i64c(lanes)), nullptr);
    });
    if (tail)
      tile(k.i64c(fullVectors * lanes), k.laneMask(tail));
  });
}

} // namespace slope::codegen
