// The softmax kernel. Each output is computed in double and rounded to f32 once, which
// is the definition the SPEC measures against (exp(x - m) / sum(exp(x - m)) in double):
// in f32, exp's own rounding (1 ulp per term), the f32 sum and the division add up to
// 5-7 ulp on normal outputs and far more on subnormal ones, where the quotient of two
// rounded floats is rounded again. In double the errors are below 2^-45 relative, so the
// single rounding to f32 is the only one that shows.
//
// Three passes over the row, all vectorized: the maximum (f32 compare and select), the
// sum of exp(x - m) in <N x double> lanes, and exp(x - m) * (1 / sum) in double again,
// rounded and stored. The exponentials are computed twice rather than stored, because
// the output row only has room for them in f32.

#include "compiler/codegen/Softmax.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>

#include <bit>
#include <cstdint>
#include <limits>

namespace slope::codegen {

namespace {

using llvm::Value;

// Below this, exp(d) / sum (sum >= 1: the maximum contributes exp(0)) is under 2^-150,
// half the smallest subnormal, and rounds to +0 in f32.
constexpr double kLowestExponent = -105.0;

/// exp(d) for d <= 0 in <N x double>, within about 2^-46 relative for d >= -105 and +0
/// below; NaN passes through. n = round(d / ln 2), r = d - n ln 2 (ln 2 split as in
/// fdlibm: n * Ln2Hi is exact), exp(r) by its Taylor polynomial of degree 11 (|r| <=
/// 0.347: the remainder is below 2^-46), and 2^n by the exponent bits (n >= -152:
/// normal in double). The multiply-adds are llvm.fmuladd: fused or not, their rounding
/// is far below what the f32 result can show, and a target without FMA gets a multiply
/// and an add instead of a call to libm's fma per lane.
Value *expNonPositiveF64(llvm::IRBuilderBase &b, Value *d) {
  llvm::IRBuilderBase::FastMathFlagGuard guard(b);
  b.clearFastMathFlags();
  llvm::Type *f64 = d->getType();
  llvm::Type *i64 = f64->getWithNewType(b.getInt64Ty());
  auto c = [&](double v) { return llvm::ConstantFP::get(f64, v); };
  auto mulAdd = [&](Value *x, Value *y, Value *z) {
    return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {f64}, {x, y, z});
  };
  constexpr double InvLn2 = 0x1.71547652b82fep+0;
  constexpr double Ln2Hi = 0x1.62e42feep-1;       // 6.93147180369123816490e-01
  constexpr double Ln2Lo = 0x1.a39ef35793c76p-33; // 1.90821492927058770002e-10
  constexpr double RoundShift = 0x1.8p52;

  // Clamped to [-105, 0] by compare and select (NaN gives -105 and is put back below).
  Value *x = b.CreateSelect(b.CreateFCmpOGT(d, c(kLowestExponent)), d, c(kLowestExponent));
  x = b.CreateSelect(b.CreateFCmpOLT(x, c(0.0)), x, c(0.0));
  Value *shifted = mulAdd(x, c(InvLn2), c(RoundShift));
  Value *n = b.CreateFSub(shifted, c(RoundShift));
  Value *r = mulAdd(n, c(-Ln2Hi), x); // exact, fused or not
  r = mulAdd(n, c(-Ln2Lo), r);
  // 1 + r + r^2/2! + ... + r^11/11!, by Horner's rule from the highest term.
  double coefficient = 1.0;
  double coefficients[12];
  for (int i = 0; i < 12; ++i) {
    coefficients[i] = coefficient;
    coefficient /= i + 1;
  }
  Value *p = c(coefficients[11]);
  for (int i = 11; i-- > 0;)
    p = mulAdd(p, r, c(coefficients[i]));
  // 2^n: n + 1023 in the exponent field. `shifted` and RoundShift are both in
  // [2^52, 2^53), where consecutive integers are consecutive encodings, so the
  // difference of their bits is n.
  Value *nBits = b.CreateSub(b.CreateBitCast(shifted, i64),
                             llvm::ConstantInt::get(i64, std::bit_cast<uint64_t>(RoundShift)));
  Value *scale = b.CreateBitCast(
      b.CreateShl(b.CreateAdd(nBits, llvm::ConstantInt::get(i64, 1023)), 52), f64);
  Value *result = b.CreateFMul(p, scale);
  result = b.CreateSelect(b.CreateFCmpOLT(d, c(kLowestExponent)), c(0.0), result);
  return b.CreateSelect(b.CreateFCmpUNO(d, d), d, result);
}

} // namespace

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
  auto *vecF64 = llvm::FixedVectorType::get(b.getDoubleTy(), k.target.lanes);
  llvm::Value *zeroF64 = llvm::ConstantAggregateZero::get(vecF64);

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

    // Pass 1: the row's maximum m, by compare and select. NaN never wins: a NaN in the
    // row reaches the sum through exp(NaN - m) instead, and the whole row comes out NaN,
    // as in the definition (and PyTorch). So does a row of -inf (m = -inf) or with an inf
    // (m = inf): inf - inf is NaN.
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
    llvm::Value *mv = b.CreateVectorSplat(k.target.lanes, b.CreateFPExt(m, b.getDoubleTy()));

    // exp(x - m) in double for one vector of the row. x - m is exact in double unless the
    // two are more than 2^29 apart, where the rounding cannot change the result.
    auto expShifted = [&](llvm::Value *col, llvm::Constant *mask) {
      llvm::Value *v = k.loadVector(x.base, b.CreateAdd(xRow, col), mask);
      return expNonPositiveF64(b, b.CreateFSub(b.CreateFPExt(v, vecF64), mv));
    };

    // Pass 2: the sum, lane-wise in double (the masked lanes add +0).
    std::vector<llvm::Value *> sums = forEachVector(
        [&](llvm::Value *col, llvm::Constant *mask, std::vector<llvm::Value *> &c) {
          llvm::Value *e = expShifted(col, mask);
          if (mask)
            e = b.CreateSelect(mask, e, zeroF64);
          c[0] = b.CreateFAdd(c[0], e);
        },
        {zeroF64});
    llvm::Value *sum =
        b.CreateFAddReduce(llvm::ConstantFP::getNegativeZero(b.getDoubleTy()), sums[0]);
    llvm::Value *reciprocal = b.CreateFDiv(llvm::ConstantFP::get(b.getDoubleTy(), 1.0), sum);
    llvm::Value *rv = b.CreateVectorSplat(k.target.lanes, reciprocal);

    // Pass 3: exp(x - m) / sum, rounded to f32 once.
    forEachVector(
        [&](llvm::Value *col, llvm::Constant *mask, std::vector<llvm::Value *> &) {
          llvm::Value *y = b.CreateFPTrunc(b.CreateFMul(expShifted(col, mask), rv), k.vec());
          k.storeVector(y, k.output.base, b.CreateAdd(outRow, col), mask);
        },
        {});
  });
}

} // namespace slope::codegen
