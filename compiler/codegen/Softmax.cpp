#include "compiler/codegen/Softmax.h"

#include "compiler/codegen/VectorMath.h"

#include <llvm/IR/Constants.h>

#include <limits>

namespace slope::codegen {

void emitSoftmaxKernel(KernelBuilder &k) {
  llvm::IRBuilder<> &b = k.b;
  const ir::Node &node = k.graph.node(k.group.result());
  Matrix x = k.values.at(node.operands[0]);
  int64_t width = node.width;
  int64_t lanes = k.target.lanes;
  int64_t fullVectors = width / lanes;
  unsigned tail = static_cast<unsigned>(width % lanes);
  llvm::Constant *tailMask = k.laneMask(tail);
  llvm::Value *minusInf =
      llvm::ConstantFP::get(k.vec(), -std::numeric_limits<double>::infinity());
  llvm::Value *zero = llvm::ConstantAggregateZero::get(k.vec());

  // Calls `body(col, mask)` on each vector of the row, the tail last.
  auto forEachVector = [&](const std::function<void(llvm::Value *, llvm::Constant *,
                                                    std::vector<llvm::Value *> &)> &body,
                           std::vector<llvm::Value *> carried) {
    carried = k.loop("vec", k.i64c(fullVectors), carried,
                     [&](llvm::Value *v, std::vector<llvm::Value *> &c) {
                       body(b.CreateMul(v, k.i64c(lanes)), nullptr, c);
                     });
    if (tail)
      body(k.i64c(fullVectors * lanes), tailMask, carried);
    return carried;
  };

  k.loop("row", k.rows, [&](llvm::Value *row) {
    llvm::Value *xRow = b.CreateMul(row, k.i64c(x.stride));
    llvm::Value *outRow = b.CreateMul(row, k.i64c(k.output.stride));

    // Pass 1: the row's maximum, by compare and select (NaN never wins).
    std::vector<llvm::Value *> maxima = forEachVector(
        [&](llvm::Value *col, llvm::Constant *mask, std::vector<llvm::Value *> &c) {
          llvm::Value *v = k.loadVector(x.base, b.CreateAdd(xRow, col), mask, minusInf);
          c[0] = b.CreateSelect(b.CreateFCmpOGT(v, c[0]), v, c[0]);
        },
        {minusInf});
    llvm::Value *m = b.CreateExtractElement(maxima[0], uint64_t(0));
    for (unsigned l = 1; l < k.target.lanes; ++l) {
      llvm::Value *lane = b.CreateExtractElement(maxima[0], uint64_t(l));
      m = b.CreateSelect(b.CreateFCmpOGT(lane, m), lane, m);
    }
    llvm::Value *mv = b.CreateVectorSplat(k.target.lanes, m);

    // Pass 2: e = exp(x - m), stored, and summed lane-wise.
    std::vector<llvm::Value *> sums = forEachVector(
        [&](llvm::Value *col, llvm::Constant *mask, std::vector<llvm::Value *> &c) {
          llvm::Value *v = k.loadVector(x.base, b.CreateAdd(xRow, col), mask);
          llvm::Value *e = emitExp(b, b.CreateFSub(v, mv));
          k.storeVector(e, k.output.base, b.CreateAdd(outRow, col), mask);
          if (mask)
            e = b.CreateSelect(mask, e, zero);
          c[0] = b.CreateFAdd(c[0], e);
        },
        {zero});
    llvm::Value *sum = b.CreateFAddReduce(llvm::ConstantFP::getNegativeZero(k.f32()), sums[0]);
    llvm::Value *sv = b.CreateVectorSplat(k.target.lanes, sum);

    // Pass 3: normalize in place.
    forEachVector(
        [&](llvm::Value *col, llvm::Constant *mask, std::vector<llvm::Value *> &) {
          llvm::Value *index = b.CreateAdd(outRow, col);
          llvm::Value *e = k.loadVector(k.output.base, index, mask);
          k.storeVector(b.CreateFDiv(e, sv), k.output.base, index, mask);
        },
        {});
  });
}

} // namespace slope::codegen
