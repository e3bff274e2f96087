// Vectorized transcendental functions, emitted as straight-line LLVM IR.
//
// The fused kernels apply smooth activations in registers, on `<N x float>` vectors
// (N = 16 for AVX-512, 8 for AVX2, 4 for NEON) and on scalar `float` for loop tails.
// A libm call per element is not acceptable there, so each function below emits its own
// range reduction and minimax polynomial with no branches and no calls: only plain
// arithmetic, integer bit manipulation, compares, selects, and the intrinsics llvm.fma,
// llvm.fabs and llvm.copysign, which lower to instructions on x86-64 (with FMA) and
// AArch64.
//
// Contract, for every f32 input and on every vector width (the lanes are independent and
// the results bit-identical across widths):
//
//   - within 4 ulp of the function computed in double precision and rounded to float
//     (the measured maxima are in docs/vector-math.md; tests/unit/vector_math.cpp checks
//     them);
//   - NaN in gives NaN out; infinities give the limits (exp(-inf) = +0, exp(inf) = inf,
//     expm1(-inf) = -1, log1p(-1) = -inf, log1p(x < -1) = NaN, tanh(±inf) = ±1,
//     erf(±inf) = ±1, sigmoid(-inf) = +0, sigmoid(inf) = 1);
//   - the sign of zero is kept where the function is odd or zero-preserving
//     (expm1, log1p, tanh, erf);
//   - subnormal inputs and results are exact IEEE arithmetic: nothing assumes or needs
//     flush-to-zero, and exp's tiny results are rounded once into the subnormal range;
//   - overflow happens exactly where the rounded result overflows
//     (exp(88.72283f) is finite, exp(88.72284f) is inf).
//
// The emitted IR carries no fast-math flags (the builder's flags are cleared while
// emitting and restored afterwards): reassociating these sequences would break them.
#pragma once

namespace llvm {
class IRBuilderBase;
class Value;
} // namespace llvm

namespace slope::codegen {

// Each takes an f32 value (scalar `float` or `<N x float>`) and returns one of the same
// type, computed lane by lane.
llvm::Value *emitExp(llvm::IRBuilderBase &b, llvm::Value *x);
llvm::Value *emitExpm1(llvm::IRBuilderBase &b, llvm::Value *x);
llvm::Value *emitLog1p(llvm::IRBuilderBase &b, llvm::Value *x);
llvm::Value *emitTanh(llvm::IRBuilderBase &b, llvm::Value *x);
llvm::Value *emitErf(llvm::IRBuilderBase &b, llvm::Value *x);
llvm::Value *emitSigmoid(llvm::IRBuilderBase &b, llvm::Value *x); // 1/(1+exp(-x))

} // namespace slope::codegen
