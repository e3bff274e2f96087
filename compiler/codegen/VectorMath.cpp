// Vectorized exp, expm1, log1p, tanh, erf and sigmoid as straight-line LLVM IR.
//
// Every function follows the same plan: reduce the argument with a Cody-Waite split of a
// constant (ln 2 in two parts, so that n*ln2_hi is exact), evaluate a minimax polynomial
// on the reduced interval with explicit fmas (Horner), rebuild the result by adding an
// integer to the exponent bits, and fix up special inputs with selects at the end. No
// branches, no calls, no tables (so nothing needs a gather on NEON or AVX2).
//
// The polynomials are published minimax fits, in single precision:
//   - exp:   the expf polynomial of SLEEF (Naoki Shibata, src/libm/sleefsp.c, xexpf;
//            Boost Software License 1.0);
//   - expm1, log1p, tanh, erf: Arm Optimized Routines (pl/math/expm1f_1u6.c with
//            expm1f_data.c, log1pf_2u1.c with log1pf_data.c, tanhf_2u6.c, erff_1u5.c with
//            erff_data.c; MIT OR Apache-2.0 WITH LLVM-exception), generated there with
//            Sollya's fpminimax.
// The reductions are the classic ones (Cody and Waite, "Software Manual for the
// Elementary Functions", 1980; Tang, "Table-driven implementation of the exponential
// function in IEEE floating-point arithmetic", 1989) arranged for SIMD without branches.
// Measured accuracy and the method are in docs/vector-math.md.

#include "compiler/codegen/VectorMath.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>

#include <bit>
#include <cassert>
#include <cstdint>
#include <initializer_list>

namespace slope::codegen {
namespace {

using llvm::Value;

// ln 2 split for Cody-Waite: Ln2Hi has 16 significant bits, so n*Ln2Hi is exact for
// |n| < 2^8, and Ln2Hi + Ln2Lo equals ln 2 to about 2^-44.
constexpr float InvLn2 = 0x1.715476p+0f;
constexpr float Ln2Hi = 0x1.62e4p-1f;
constexpr float Ln2Lo = 0x1.7f7d1cp-20f;
// Adding 1.5 * 2^23 rounds a float of magnitude below 2^22 to an integer, and leaves that
// integer in the low bits of the sum's representation.
constexpr float RoundShift = 0x1.8p23f;

// Emits IR on one shape of value: `float` or `<N x float>`, with the `i32` integer type of
// the same shape for bit manipulation.
class Emitter {
public:
  Emitter(llvm::IRBuilderBase &builder, llvm::Type *floatTy)
      : b(builder), f32(floatTy), i32(floatTy->getWithNewType(builder.getInt32Ty())) {}

  Value *f(float v) const { return llvm::ConstantFP::get(f32, v); }
  Value *i(int32_t v) const {
    return llvm::ConstantInt::get(i32, static_cast<uint64_t>(static_cast<int64_t>(v)), true);
  }
  Value *nan() const { return llvm::ConstantFP::getNaN(f32); }
  Value *inf(bool negative) const { return llvm::ConstantFP::getInfinity(f32, negative); }

  Value *add(Value *x, Value *y) { return b.CreateFAdd(x, y); }
  Value *sub(Value *x, Value *y) { return b.CreateFSub(x, y); }
  Value *mul(Value *x, Value *y) { return b.CreateFMul(x, y); }
  Value *div(Value *x, Value *y) { return b.CreateFDiv(x, y); }
  Value *neg(Value *x) { return b.CreateFNeg(x); }
  Value *fma(Value *x, Value *y, Value *z) {
    return b.CreateIntrinsic(llvm::Intrinsic::fma, {f32}, {x, y, z});
  }
  Value *fabs(Value *x) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x); }
  Value *copysign(Value *magnitude, Value *sign) { return b.CreateCopySign(magnitude, sign); }

  Value *lt(Value *x, Value *y) { return b.CreateFCmpOLT(x, y); }
  Value *gt(Value *x, Value *y) { return b.CreateFCmpOGT(x, y); }
  Value *eq(Value *x, Value *y) { return b.CreateFCmpOEQ(x, y); }
  // True when x < y or either is NaN.
  Value *ltOrNaN(Value *x, Value *y) { return b.CreateFCmpULT(x, y); }
  Value *isNaN(Value *x) { return b.CreateFCmpUNO(x, x); }
  Value *select(Value *c, Value *x, Value *y) { return b.CreateSelect(c, x, y); }

  // min/max against a constant, written as compare + select (one vminps/vmaxps on x86,
  // whose NaN rule is the same). A NaN x gives the constant; callers that can see a NaN
  // put it back at the end.
  Value *minC(Value *x, float c) { return select(lt(x, f(c)), x, f(c)); }
  Value *maxC(Value *x, float c) { return select(gt(x, f(c)), x, f(c)); }

  Value *bitsOf(Value *x) { return b.CreateBitCast(x, i32); }
  Value *fromBits(Value *n) { return b.CreateBitCast(n, f32); }
  Value *iadd(Value *x, Value *y) { return b.CreateAdd(x, y); }
  Value *isub(Value *x, Value *y) { return b.CreateSub(x, y); }
  Value *iand(Value *x, Value *y) { return b.CreateAnd(x, y); }
  Value *ashr(Value *x, unsigned bits) { return b.CreateAShr(x, bits); }
  Value *toFloat(Value *n) { return b.CreateSIToFP(n, f32); }

  // 2^n for an integer n in [-126, 127].
  Value *pow2(Value *n) { return fromBits(b.CreateShl(iadd(n, i(127)), 23)); }

  // c[0] + x*(c[1] + x*(c[2] + ...)), by Horner's rule with fmas.
  Value *horner(Value *x, std::initializer_list<float> c) {
    auto it = c.end();
    Value *acc = f(*--it);
    while (it != c.begin())
      acc = fma(acc, x, f(*--it));
    return acc;
  }

private:
  llvm::IRBuilderBase &b;
  llvm::Type *f32;
  llvm::Type *i32;
};

// x = n*ln2 + r with n an integer and |r| <= ln2/2 (up to rounding), for |x| < 2^21.
struct Ln2Reduction {
  Value *r;
  Value *n; // i32
};

Ln2Reduction reduceByLn2(Emitter &e, Value *x) {
  Value *shifted = e.fma(x, e.f(InvLn2), e.f(RoundShift));
  Value *nf = e.sub(shifted, e.f(RoundShift));
  Value *n = e.isub(e.bitsOf(shifted), e.i(std::bit_cast<int32_t>(RoundShift)));
  Value *r = e.fma(nf, e.f(-Ln2Hi), x);
  r = e.fma(nf, e.f(-Ln2Lo), r);
  return {r, n};
}

// exp(r) for |r| <= ln2/2, under 1 ulp: SLEEF's xexpf polynomial,
// exp(r) ~ 1 + r + r^2 * P(r).
Value *expOfReduced(Emitter &e, Value *r) {
  Value *p = e.horner(r, {0.5f, 0.166666671633720397949219f, 0.0416664853692054748535156f,
                          0.00833336077630519866943359f, 0.00139304355252534151077271f,
                          0.000198527617612853646278381f});
  return e.add(e.fma(e.mul(r, r), p, r), e.f(1.0f));
}

// expm1(r) for |r| <= ln2/2: Arm's expm1f polynomial, expm1(r) ~ r + r^2 * P(r).
Value *expm1OfReduced(Emitter &e, Value *r) {
  Value *p = e.horner(
      r, {0x1.fffffep-2f, 0x1.5554aep-3f, 0x1.555736p-5f, 0x1.12287cp-7f, 0x1.6b55a2p-10f});
  return e.fma(e.mul(r, r), p, r);
}

// exp(x) for x in [-104, 89] (n in [-150, 128]). 2^n is applied as two factors so that
// neither leaves the normal range: the first product is exact and the second rounds once,
// which gives correctly scaled subnormal results and overflows exactly when the result
// does.
Value *expInRange(Emitter &e, Value *x) {
  Ln2Reduction red = reduceByLn2(e, x);
  Value *p = expOfReduced(e, red.r);
  Value *n1 = e.ashr(red.n, 1);
  Value *n2 = e.isub(red.n, n1);
  return e.mul(e.mul(p, e.pow2(n1)), e.pow2(n2));
}

// expm1(x) for x in [-40, 40]: 2^n * (1 + expm1(r)) - 1 = expm1(r) * 2^n + (2^n - 1),
// rounded once by the fma; 2^n - 1 is exact for the n where it matters.
Value *expm1Small(Emitter &e, Value *x) {
  Ln2Reduction red = reduceByLn2(e, x);
  Value *p = expm1OfReduced(e, red.r);
  Value *t = e.pow2(red.n);
  return e.fma(p, t, e.sub(t, e.f(1.0f)));
}

// Brackets the builder so that no fast-math flags reach the emitted instructions.
class PlainFloatScope {
public:
  explicit PlainFloatScope(llvm::IRBuilderBase &b) : guard(b) {
    assert(!b.getIsFPConstrained() && "vector math assumes the default floating-point env");
    b.clearFastMathFlags();
  }

private:
  llvm::IRBuilderBase::FastMathFlagGuard guard;
};

Emitter emitterFor(llvm::IRBuilderBase &b, Value *x) {
  assert(x->getType()->getScalarType()->isFloatTy() && "vector math takes f32 values");
  return Emitter(b, x->getType());
}

} // namespace

llvm::Value *emitExp(llvm::IRBuilderBase &b, llvm::Value *x) {
  PlainFloatScope scope(b);
  Emitter e = emitterFor(b, x);
  // Below -104 the result rounds to +0, above 89 it overflows; clamping there keeps n in
  // the range expInRange handles and lets the arithmetic produce 0 and inf itself.
  Value *clamped = e.minC(e.maxC(x, -104.0f), 89.0f);
  Value *result = expInRange(e, clamped);
  return e.select(e.isNaN(x), x, result);
}

llvm::Value *emitExpm1(llvm::IRBuilderBase &b, llvm::Value *x) {
  PlainFloatScope scope(b);
  Emitter e = emitterFor(b, x);
  // expm1(x) rounds to -1 below about -17.3; above 89 it overflows. Inside, n is in
  // [-29, 128], and 2^n is applied as 2 * 2^(n-1) so that n = 128 overflows correctly:
  // expm1(x) = 2 * (expm1(r) * 2^(n-1) + (2^(n-1) - 1/2)).
  Value *clamped = e.minC(e.maxC(x, -20.0f), 89.0f);
  Ln2Reduction red = reduceByLn2(e, clamped);
  Value *p = expm1OfReduced(e, red.r);
  Value *half = e.pow2(e.isub(red.n, e.i(1)));
  Value *result = e.mul(e.f(2.0f), e.fma(p, half, e.sub(half, e.f(0.5f))));
  // expm1(x) rounds to x when |x| < 2^-23; passing x through also keeps -0 and NaN.
  return e.select(e.ltOrNaN(e.fabs(x), e.f(0x1p-23f)), x, result);
}

llvm::Value *emitLog1p(llvm::IRBuilderBase &b, llvm::Value *x) {
  PlainFloatScope scope(b);
  Emitter e = emitterFor(b, x);
  // 1 + x = 2^k * (1 + m) with m in [-0.25, 0.5]. m is computed from x rather than from the
  // rounded 1 + x: m = x * 2^-k + (2^-k - 1), where the scaling is exact (an exponent
  // subtraction) and the sum rounds once, so the low bits of x survive. 2^-k is formed as
  // 4 * 2^-k / 4 so that it stays normal up to k = 128. (Arm Optimized Routines, log1pf.)
  Value *u = e.add(x, e.f(1.0f));
  Value *k = e.iand(e.isub(e.bitsOf(u), e.i(0x3f400000)), e.i(static_cast<int32_t>(0xff800000)));
  Value *scaledX = e.fromBits(e.isub(e.bitsOf(x), k));
  Value *fourOver2k = e.fromBits(e.isub(e.i(std::bit_cast<int32_t>(4.0f)), k));
  Value *m = e.add(scaledX, e.fma(e.f(0.25f), fourOver2k, e.f(-1.0f)));
  // log1p(m) ~ m + m^2 * P(m) on [-0.25, 0.5].
  Value *p =
      e.horner(m, {-0x1p-1f, 0x1.5555aap-2f, -0x1.000038p-2f, 0x1.99675cp-3f, -0x1.54ef78p-3f,
                   0x1.28a1f4p-3f, -0x1.0da91p-3f, 0x1.abcb6p-4f, -0x1.6f0d5ep-5f});
  Value *logm = e.fma(m, e.mul(m, p), m);
  Value *kf = e.toFloat(e.ashr(k, 23));
  Value *result = e.fma(kf, e.f(0x1.62e43p-1f), logm);
  // log1p(x) has the sign of x on its whole domain; this also gives log1p(-0) = -0.
  result = e.copysign(result, x);
  result = e.select(e.lt(x, e.f(-1.0f)), e.nan(), result);
  result = e.select(e.eq(x, e.f(-1.0f)), e.inf(true), result);
  // +inf and NaN pass through.
  Value *infOrNaN = b.CreateFCmpUEQ(x, e.inf(false));
  return e.select(infOrNaN, x, result);
}

llvm::Value *emitTanh(llvm::IRBuilderBase &b, llvm::Value *x) {
  PlainFloatScope scope(b);
  Emitter e = emitterFor(b, x);
  // tanh|x| = q / (q + 2) with q = expm1(2|x|) (Arm Optimized Routines, tanhf). Above
  // 9.0109 the result rounds to 1; clamping at 10 keeps expm1 in its small range.
  Value *a = e.fabs(x);
  Value *clamped = e.minC(a, 10.0f);
  Value *q = expm1Small(e, e.add(clamped, clamped));
  Value *result = e.copysign(e.div(q, e.add(q, e.f(2.0f))), x);
  // tanh(x) rounds to x when |x| < 2^-23; passing x through also keeps -0 and NaN.
  return e.select(e.ltOrNaN(a, e.f(0x1p-23f)), x, result);
}

llvm::Value *emitErf(llvm::IRBuilderBase &b, llvm::Value *x) {
  PlainFloatScope scope(b);
  Emitter e = emitterFor(b, x);
  // Two pieces (Arm Optimized Routines, erff):
  //   |x| < 0.875:  erf(a) ~ a + a * P(a^2), P(0) = 2/sqrt(pi) - 1;
  //   0.875 <= |x|: erf(a) ~ 1 - exp(-R(a)), R(a) ~ -log(erfc(a)) = a + a * Q(a).
  // erfc(a) <= 0.13 there, so exp's rounding errors shrink by that factor in the result.
  // Above 3.92 erf rounds to 1, so a is clamped at 4 (where 1 - exp(-R) rounds to 1).
  Value *a = e.minC(e.fabs(x), 4.0f);
  Value *a2 = e.mul(a, a);
  Value *small = e.horner(a2, {0x1.06eba6p-03f, -0x1.8126e0p-02f, 0x1.ce1a46p-04f, -0x1.b68bd2p-06f,
                               0x1.473f48p-08f, -0x1.3a1a82p-11f});
  small = e.fma(small, a, a);
  Value *r = e.horner(a, {0x1.079d0cp-3f, 0x1.450aa0p-1f, 0x1.b55cb0p-4f, -0x1.8d6300p-6f,
                          0x1.fd1336p-9f, -0x1.91d2ccp-12f, 0x1.222900p-16f});
  r = e.fma(r, a, a);
  // R(a) is in [1.1, 18.2]: one normal power of two suffices.
  Ln2Reduction red = reduceByLn2(e, e.neg(r));
  Value *erfc = e.mul(expOfReduced(e, red.r), e.pow2(red.n));
  Value *large = e.sub(e.f(1.0f), erfc);
  Value *result = e.copysign(e.select(e.lt(a, e.f(0.875f)), small, large), x);
  return e.select(e.isNaN(x), x, result);
}

llvm::Value *emitSigmoid(llvm::IRBuilderBase &b, llvm::Value *x) {
  PlainFloatScope scope(b);
  Emitter e = emitterFor(b, x);
  // With t = exp(-|x|) in (0, 1]: sigmoid(x) = 1 / (1 + t) for x >= 0 and t / (1 + t) for
  // x < 0. Neither form cancels, and the second one follows exp into the subnormal range
  // (sigmoid(-100) = 3.7e-44) instead of dividing by an overflowed exp(100).
  Value *t = expInRange(e, e.maxC(e.neg(e.fabs(x)), -104.0f));
  Value *numerator = e.select(b.CreateFCmpOGE(x, e.f(0.0f)), e.f(1.0f), t);
  Value *result = e.div(numerator, e.add(e.f(1.0f), t));
  return e.select(e.isNaN(x), x, result);
}

} // namespace slope::codegen
