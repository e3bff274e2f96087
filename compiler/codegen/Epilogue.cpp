#include "compiler/codegen/Epilogue.h"

#include "compiler/codegen/VectorMath.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>

#include <array>
#include <cassert>
#include <cmath>
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

// The smooth activations. Each is the definition of compiler/ir/Graph.h rearranged so
// that f32 arithmetic stays within 4 ulp of it computed in double: where a product or a
// sum would lose the bits the result depends on (beta*x, x*x, the argument of gelu's
// tanh), it is carried as an unevaluated sum hi + lo of two floats (Dekker's products with
// fma); where a result would pass through the subnormal range before a final product
// (sigmoid(x) for x < -80, then times x), it is built from two normal factors instead.
// The measured errors are in docs/activations.md.

llvm::Value *fma(KernelBuilder &k, llvm::Value *a, llvm::Value *b, llvm::Value *c) {
  return k.b.CreateIntrinsic(llvm::Intrinsic::fma, {a->getType()}, {a, b, c});
}

llvm::Value *fabs(KernelBuilder &k, llvm::Value *x) {
  return k.b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
}

/// The rounding error of a*b: a*b == p + productError(a, b, p) exactly (p = fl(a*b)),
/// unless the product is subnormal or overflows.
llvm::Value *productError(KernelBuilder &k, llvm::Value *a, llvm::Value *b, llvm::Value *p) {
  return fma(k, a, b, k.b.CreateFNeg(p));
}

/// A double constant as hi + lo, two floats.
struct SplitConstant {
  float hi, lo;
  explicit SplitConstant(double v)
      : hi(static_cast<float>(v)), lo(static_cast<float>(v - static_cast<double>(hi))) {}
};

/// c*x with c a double constant, rounded about once: fma(x, c.hi, x*c.lo).
llvm::Value *mulConstant(KernelBuilder &k, llvm::Value *x, SplitConstant c) {
  llvm::Value *rounded = fma(k, x, splat(k, c.hi), k.b.CreateFMul(x, splat(k, c.lo)));
  // ±inf: inf*hi + inf*lo is NaN when lo < 0.
  llvm::Value *infinite = k.b.CreateFCmpOEQ(fabs(k, x), llvm::ConstantFP::getInfinity(k.vec()));
  return k.b.CreateSelect(infinite, k.b.CreateFMul(x, splat(k, c.hi)), rounded);
}

/// exp(hi + lo) for |lo| <= ulp(hi): exp(hi) * (1 + lo).
llvm::Value *expOfSum(KernelBuilder &k, llvm::Value *hi, llvm::Value *lo) {
  llvm::Value *e = emitExp(k.b, hi);
  return fma(k, e, lo, e);
}

/// lo where hi is small enough for lo to be meaningful, else 0: keeps the NaN of
/// inf - inf in the error term of an overflowed product out of the result.
llvm::Value *errorTermIfFinite(KernelBuilder &k, llvm::Value *hi, llvm::Value *lo, float limit) {
  llvm::Value *small = k.b.CreateFCmpOLT(fabs(k, hi), splat(k, limit));
  return k.b.CreateSelect(small, lo, splat(k, 0.0f));
}

// PyTorch's selu constants.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

/// expm1(x), with +0 for x = -0: the definitions' exp(x) - 1, whose cancellation
/// expm1 avoids, is +0 there (and so is PyTorch's elu(-0)). An fadd of +0 without
/// fast-math flags is kept by LLVM; it changes nothing but the sign of a zero.
llvm::Value *expm1PositiveZero(KernelBuilder &k, llvm::Value *x) {
  return k.b.CreateFAdd(emitExpm1(k.b, x), splat(k, 0.0f));
}

/// x > 0 ? x : alpha*expm1(x): expm1 within 2 ulp, then one rounding.
llvm::Value *elu(KernelBuilder &k, llvm::Value *x, float alpha) {
  llvm::Value *negative = k.b.CreateFMul(splat(k, alpha), expm1PositiveZero(k, x));
  return k.b.CreateSelect(k.b.CreateFCmpOGT(x, splat(k, 0.0f)), x, negative);
}

/// scale * (x > 0 ? x : alpha*expm1(x)), the constants in double as hi + lo.
llvm::Value *selu(KernelBuilder &k, llvm::Value *x) {
  llvm::Value *positive = mulConstant(k, x, SplitConstant(kSeluScale));
  llvm::Value *negative =
      mulConstant(k, expm1PositiveZero(k, x), SplitConstant(kSeluScale * kSeluAlpha));
  return k.b.CreateSelect(k.b.CreateFCmpOGT(x, splat(k, 0.0f)), positive, negative);
}

/// x * exp(z) for z = hi + lo < -80 (where sigmoid(z) = exp(z) to far below an ulp), as
/// (x * t) * t with t = exp(z/2): both factors are normal, so the result rounds once
/// even when it is subnormal.
llvm::Value *timesTinyExp(KernelBuilder &k, llvm::Value *x, llvm::Value *hi, llvm::Value *lo) {
  llvm::Value *half = splat(k, 0.5f);
  llvm::Value *t = expOfSum(k, k.b.CreateFMul(hi, half), k.b.CreateFMul(lo, half));
  return k.b.CreateFMul(k.b.CreateFMul(x, t), t);
}

/// beta*x > threshold ? x : log1p(exp(beta*x))/beta. The branch is chosen on beta*x
/// rounded to f32, as PyTorch does; the value is the function of z = beta*x exactly, as
/// hi + lo (rounding z would cost |z| ulps of exp(z)), for every beta and threshold.
/// log1p(exp(z)) is computed as max(z, 0) + log1p(exp(-|z|)), so that exp never
/// overflows (also for thresholds above exp's overflow, where PyTorch's f32 gives inf).
/// For z < -64, where log1p(exp(z)) = exp(z) to far below an ulp, the value exp(z)/beta
/// is exp(z - ln|beta|) with the sign of beta: one exp of an argument carried as hi + lo,
/// rounded once even when the result is subnormal. exp(z) itself would underflow long
/// before the result does when beta is tiny (beta = 1e-30 has non-zero results down to
/// z = -172, a subnormal beta down to z = -207), and a product of rounded factors would
/// round several times.
llvm::Value *softplus(KernelBuilder &k, llvm::Value *x, float beta, float threshold) {
  llvm::IRBuilder<> &b = k.b;
  llvm::Value *hi = b.CreateFMul(splat(k, beta), x);
  llvm::Value *lo = errorTermIfFinite(k, hi, productError(k, splat(k, beta), x, hi), 0x1p100f);
  llvm::Value *positive = b.CreateFCmpOGT(hi, splat(k, 0.0f));
  // -|z| = -|hi| - sign(hi)*lo; exp(-|hi|) times 1 - sign(hi)*lo.
  llvm::Value *e = expOfSum(k, b.CreateFNeg(fabs(k, hi)),
                            b.CreateSelect(positive, b.CreateFNeg(lo), lo));
  llvm::Value *t = emitLog1p(b, e);
  llvm::Value *r = b.CreateSelect(positive, b.CreateFAdd(hi, b.CreateFAdd(lo, t)), t);
  llvm::Value *soft = b.CreateFDiv(r, splat(k, beta));
  // z - ln|beta| = s + sl: hi + c.hi by Knuth's two-sum, then the low parts. Past
  // |s| = 2^20 the result is 0 and sl is dropped (it is NaN for infinite hi).
  const SplitConstant minusLogBeta(-std::log(std::fabs(static_cast<double>(beta))));
  llvm::Value *c = splat(k, minusLogBeta.hi);
  llvm::Value *sum = b.CreateFAdd(hi, c);
  llvm::Value *cPart = b.CreateFSub(sum, hi);
  llvm::Value *sl = b.CreateFAdd(b.CreateFSub(hi, b.CreateFSub(sum, cPart)),
                                 b.CreateFSub(c, cPart));
  sl = b.CreateFAdd(sl, b.CreateFAdd(lo, splat(k, minusLogBeta.lo)));
  llvm::Value *tiny = expOfSum(k, sum, errorTermIfFinite(k, sum, sl, 0x1p20f));
  if (beta < 0)
    tiny = b.CreateFNeg(tiny);
  soft = b.CreateSelect(b.CreateFCmpOLT(hi, splat(k, -64.0f)), tiny, soft);
  return b.CreateSelect(b.CreateFCmpOGT(hi, splat(k, threshold)), x, soft);
}

/// x * sigmoid(x).
llvm::Value *silu(KernelBuilder &k, llvm::Value *x) {
  llvm::Value *near = k.b.CreateFMul(x, emitSigmoid(k.b, x));
  llvm::Value *far = timesTinyExp(k, x, x, splat(k, 0.0f));
  return k.b.CreateSelect(k.b.CreateFCmpOLT(x, splat(k, -80.0f)), far, near);
}

/// gelu(approximate = "tanh"): 0.5*x*(1 + tanh(u)) = x * sigmoid(2u), u =
/// sqrt(2/pi)*(x + 0.044715*x^3). 2u is computed as hi + lo (about 44 bits): the result
/// is about exp(2u) for negative x, whose relative error is |2u| times that of 2u.
llvm::Value *geluTanh(KernelBuilder &k, llvm::Value *x) {
  llvm::IRBuilder<> &b = k.b;
  const SplitConstant cubic(0.044715);
  const SplitConstant twoSqrt2OverPi(2.0 * 0.79788456080286535587989211986876);
  // x^2 = s + sl.
  llvm::Value *s = b.CreateFMul(x, x);
  llvm::Value *sl = productError(k, x, x, s);
  // 0.044715 * x^2 = q + ql.
  llvm::Value *q = b.CreateFMul(splat(k, cubic.hi), s);
  llvm::Value *ql = b.CreateFAdd(productError(k, splat(k, cubic.hi), s, q),
                                 fma(k, splat(k, cubic.hi), sl, b.CreateFMul(splat(k, cubic.lo), s)));
  // 1 + q = w + wl (Knuth's two-sum), plus ql.
  llvm::Value *one = splat(k, 1.0f);
  llvm::Value *w = b.CreateFAdd(one, q);
  llvm::Value *bv = b.CreateFSub(w, one);
  llvm::Value *wl = b.CreateFAdd(b.CreateFSub(one, b.CreateFSub(w, bv)), b.CreateFSub(q, bv));
  wl = b.CreateFAdd(wl, ql);
  // x * (1 + 0.044715 x^2) = p + pl.
  llvm::Value *p = b.CreateFMul(x, w);
  llvm::Value *pl = fma(k, x, wl, productError(k, x, w, p));
  // 2u = m + ml.
  llvm::Value *m = b.CreateFMul(splat(k, twoSqrt2OverPi.hi), p);
  llvm::Value *ml = b.CreateFAdd(productError(k, splat(k, twoSqrt2OverPi.hi), p, m),
                                 fma(k, splat(k, twoSqrt2OverPi.hi), pl,
                                     b.CreateFMul(splat(k, twoSqrt2OverPi.lo), p)));
  ml = errorTermIfFinite(k, m, ml, 0x1p20f);
  // x / (1 + exp(-2u)), or x * exp(2u) where exp(-2u) would overflow.
  llvm::Value *e = expOfSum(k, b.CreateFNeg(m), b.CreateFNeg(ml));
  llvm::Value *near = b.CreateFDiv(x, b.CreateFAdd(one, e));
  llvm::Value *far = timesTinyExp(k, x, m, ml);
  return b.CreateSelect(b.CreateFCmpOLT(m, splat(k, -80.0f)), far, near);
}

/// G(z) = 0.5 * z * erfc(z/sqrt2) * exp(z^2/2) for z in [0.5, 14.6]: gelu(-z) =
/// -exp(-z^2/2) * G(z). Least-squares fits of degree 9 in relative error on four
/// intervals, in z - mid (the first three) and in 1/z (the last); each is within 1.3 ulp
/// of G when evaluated in f32 (scripts of the fit: docs/activations.md).
struct GeluPiece {
  float upper, mid; // mid NaN: the variable is 1/z
  std::array<float, 10> coefficients;
};
const std::array<GeluPiece, 4> kGeluPieces = {{
    {1.5f, 1.0f,
      {0x1.0bdb2ep-2f, 0x1.fcc824p-4f, -0x1.344082p-4f, 0x1.2f47c4p-5f, -0x1.035dcp-6f,
       0x1.8f160ep-8f, -0x1.199f08p-9f, 0x1.72246ep-11f, -0x1.e32fc8p-13f, 0x1.20ac5ep-14f}},
    {3.0f, 2.25f,
      {0x1.62039ap-2f, 0x1.15aa6cp-5f, -0x1.ee983ep-7f, 0x1.70c528p-8f, -0x1.e935dcp-10f,
       0x1.294bbp-11f, -0x1.4fd626p-13f, 0x1.666cc8p-15f, -0x1.8b8b2p-17f, 0x1.831d8p-19f}},
    {6.0f, 4.5f,
      {0x1.86c626p-2f, 0x1.bfbafp-8f, -0x1.004c82p-9f, 0x1.fa39bcp-12f, -0x1.c80c7ap-14f,
       0x1.802f1p-16f, -0x1.2e964cp-18f, 0x1.cdf8fep-21f, -0x1.9d017ep-23f, 0x1.29c94ap-25f}},
    {INFINITY, NAN,
      {0x1.988478p-2f, -0x1.4f005ep-15f, -0x1.973aap-2f, -0x1.66e3a2p-6f, 0x1.6c6abcp+0f,
       -0x1.5c2728p+0f, -0x1.15d6d4p+1f, 0x1.41bd1ap+1f, 0x1.8518e6p+1f, 0x1.ba1ec2p+0f}},
}};

/// gelu(approximate = "none"): 0.5*x*erfc(-x/sqrt2). For x >= -0.5 as
/// x * (0.5 * (1 + erf(x/sqrt2))), where 1 + erf cancels at most one bit; below, as
/// -exp(-x^2/2) * G(-x), x^2 exact as s + sl.
llvm::Value *geluErf(KernelBuilder &k, llvm::Value *x) {
  llvm::IRBuilder<> &b = k.b;
  llvm::Value *erf = emitErf(b, b.CreateFMul(x, splat(k, static_cast<float>(M_SQRT1_2))));
  llvm::Value *upper =
      b.CreateFMul(x, b.CreateFMul(splat(k, 0.5f), b.CreateFAdd(splat(k, 1.0f), erf)));

  llvm::Value *z = b.CreateFNeg(x);
  llvm::Value *last = splat(k, 14.6f);
  z = b.CreateSelect(b.CreateFCmpOGT(z, last), last, z);
  // The piece's coefficients and variable, chosen lane by lane.
  std::array<llvm::Value *, 10> c;
  llvm::Value *variable = b.CreateFDiv(splat(k, 1.0f), z);
  for (size_t j = 0; j < c.size(); ++j)
    c[j] = splat(k, kGeluPieces.back().coefficients[j]);
  for (size_t i = kGeluPieces.size() - 1; i-- > 0;) {
    const GeluPiece &piece = kGeluPieces[i];
    llvm::Value *inside = b.CreateFCmpOLT(z, splat(k, piece.upper));
    for (size_t j = 0; j < c.size(); ++j)
      c[j] = b.CreateSelect(inside, splat(k, piece.coefficients[j]), c[j]);
    variable = b.CreateSelect(inside, b.CreateFSub(z, splat(k, piece.mid)), variable);
  }
  llvm::Value *g = c.back();
  for (size_t j = c.size() - 1; j-- > 0;)
    g = fma(k, g, variable, c[j]);

  llvm::Value *s = b.CreateFMul(x, x);
  llvm::Value *sl = errorTermIfFinite(k, s, productError(k, x, x, s), 0x1p20f);
  llvm::Value *half = splat(k, -0.5f);
  llvm::Value *e = expOfSum(k, b.CreateFMul(s, half), b.CreateFMul(sl, half));
  llvm::Value *lower = b.CreateFNeg(b.CreateFMul(e, g));
  // gelu(-inf) is -inf * 0 in the definition: NaN, as in PyTorch.
  llvm::Value *minusInf = llvm::ConstantFP::getInfinity(k.vec(), true);
  lower = b.CreateSelect(b.CreateFCmpOEQ(x, minusInf), llvm::ConstantFP::getNaN(k.vec()), lower);
  return b.CreateSelect(b.CreateFCmpOLT(x, splat(k, -0.5f)), lower, upper);
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
  case ir::Op::Elu:
  case ir::Op::Selu:
  case ir::Op::Relu6:
  case ir::Op::ClippedRelu:
  case ir::Op::Softplus:
  case ir::Op::Sigmoid:
  case ir::Op::Tanh:
  case ir::Op::Gelu:
  case ir::Op::Silu:
  case ir::Op::Crelu:
  case ir::Op::Identity:
  case ir::Op::Add:
  case ir::Op::Softmax:
    return llvm::Error::success();
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
    case ir::Op::Elu:
      y = elu(k, x, node.alpha());
      break;
    case ir::Op::Selu:
      y = selu(k, x);
      break;
    case ir::Op::Softplus:
      y = softplus(k, x, node.f32Attr(0), node.f32Attr(1));
      break;
    case ir::Op::Sigmoid:
      y = emitSigmoid(k.b, x);
      break;
    case ir::Op::Tanh:
      y = emitTanh(k.b, x);
      break;
    case ir::Op::Gelu:
      y = static_cast<ir::GeluApproximation>(node.intAttr(0)) == ir::GeluApproximation::Tanh
              ? geluTanh(k, x)
              : geluErf(k, x);
      break;
    case ir::Op::Silu:
      y = silu(k, x);
      break;
    case ir::Op::Crelu: {
      // The widening op ends its group: it stores its second half, relu(-x) at columns
      // [w, 2w) of the output row, itself, and returns the first half for the caller's
      // store at `col`.
      assert(n + 1 == ids.size() && "crelu must end its fusion group");
      int64_t half = k.graph.node(node.operands[0]).width;
      llvm::Value *index = k.b.CreateAdd(k.b.CreateMul(row, k.i64c(k.output.stride)),
                                         k.b.CreateAdd(col, k.i64c(half)));
      k.storeVector(relu(k, k.b.CreateFNeg(x)), k.output.base, index, mask);
      y = relu(k, x);
      break;
    }
    case ir::Op::Input:
    case ir::Op::Dense:
    case ir::Op::Softmax:
      assert(false && "not an elementwise op");
      y = x;
      break;
    }
    inTile[ids[n]] = y;
    current = y;
  }
  return current;
}

void emitElementwiseKernel(KernelBuilder &k) {
  // The columns the chain computes: those of its last value, or of the value a widening
  // last op (crelu) reads.
  const ir::Node &last = k.graph.node(k.group.result());
  int64_t width = ir::opInfo(last.op).fusion == ir::FusionKind::Widening
                      ? k.graph.node(last.operands[0]).width
                      : last.width;
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
