// Accuracy of the vectorized transcendental functions (compiler/codegen/VectorMath.h).
//
// Each function is compiled by the host JIT into four loops over arrays: 16, 8 and 4 lanes
// wide (each followed by a scalar tail loop) and scalar only. All four run on the same
// inputs and must agree bit for bit; the results are compared with libm's double-precision
// function rounded to float. A sweep covers about 1.0e7 inputs per function: every 1021st
// bit pattern of the whole f32 space (both signs, subnormals, infinities, NaN encodings),
// 3e6 inputs evenly spaced in value over the range where the function is not constant,
// 3e6 evenly spaced in bit pattern over the same range (dense near zero), 513 consecutive
// floats around each breakpoint, and the special values. Set
// SLOPE_VECTOR_MATH_EXHAUSTIVE=1 to sweep all 2^32 inputs instead (minutes, not seconds).
//
// Distance is counted in representable floats between the result and the correctly rounded
// reference: |key(got) - key(want)| where key orders all finite floats on one integer line
// (+0 and -0 both map to 0, each subnormal step is one ulp). Infinite and NaN references
// must be matched exactly, and a finite reference must not get an infinite result.

#include "compiler/codegen/VectorMath.h"
#include "jit_test_util.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <llvm/IR/BasicBlock.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/IntrinsicInst.h>
#include <llvm/IR/Operator.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using slope::test::HostJit;
using slope::test::JitModule;

using EmitFn = llvm::Value *(*)(llvm::IRBuilderBase &, llvm::Value *);
using ApplyFn = void(const float *, float *, int64_t);
using ReferenceFn = double (*)(double);

constexpr std::array<unsigned, 4> Widths = {16, 8, 4, 1};
constexpr int64_t MaxUlp = 4;

struct MathFunction {
  const char *name;
  EmitFn emit;
  ReferenceFn reference;
  float lo, hi; // where the function is not constant in f32
  // Clamps, piece boundaries, overflow and rounding limits, and last the input with the
  // largest error in the exhaustive sweep (docs/vector-math.md).
  std::vector<float> breakpoints;
};

double sigmoidReference(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

MathFunction mathFunction(const std::string &name) {
  if (name == "exp")
    return {"exp",
            slope::codegen::emitExp,
            [](double x) { return std::exp(x); },
            -104.0f,
            89.0f,
            {88.72283f, -87.33654f, -103.27893f, -103.97208f, -104.0f, 0.0f, 0.34657f, 0x1p-24f}};
  if (name == "expm1")
    return {
        "expm1",
        slope::codegen::emitExpm1,
        [](double x) { return std::expm1(x); },
        -18.0f,
        89.0f,
        {88.72283f, -17.32868f, -20.0f, 0x1p-23f, -0x1p-23f, 0.34657f, -0.34657f, 0x1.8baa96p-2f}};
  if (name == "log1p")
    return {"log1p",
            slope::codegen::emitLog1p,
            [](double x) { return std::log1p(x); },
            -1.0f,
            1.0e6f,
            {-1.0f, -0.25f, 0.5f, 0x1p24f, 3.4028235e38f, 0.0f, 0x1.deeea6p-22f}};
  if (name == "tanh")
    return {"tanh",
            slope::codegen::emitTanh,
            [](double x) { return std::tanh(x); },
            -10.0f,
            10.0f,
            {9.010913f, -9.010913f, 10.0f, 0x1p-23f, -0x1p-23f, 0.17329f, 0.0f, 0x1.00152cp-5f}};
  if (name == "erf")
    return {"erf",
            slope::codegen::emitErf,
            [](double x) { return std::erf(x); },
            -4.5f,
            4.5f,
            {0.875f, -0.875f, 3.9192059f, 4.0f, -4.0f, 0.0f, 0x1.0d58p-136f}};
  if (name == "sigmoid")
    return {"sigmoid",
            slope::codegen::emitSigmoid,
            sigmoidReference,
            -105.0f,
            20.0f,
            {-87.33654f, -103.27893f, -103.97208f, -104.0f, 16.635532f, 0.0f, -0x1.194afep+0f}};
  FAIL("unknown function " << name);
  return {};
}

// --- Floats on an integer line -------------------------------------------------------

int64_t key(float x) {
  uint32_t bits = std::bit_cast<uint32_t>(x);
  int64_t magnitude = bits & 0x7fffffffu;
  return (bits >> 31) ? -magnitude : magnitude;
}

float fromKey(int64_t k) {
  uint32_t bits = k >= 0 ? static_cast<uint32_t>(k) : (0x80000000u | static_cast<uint32_t>(-k));
  return std::bit_cast<float>(bits);
}

float fromBits(uint32_t bits) {
  return std::bit_cast<float>(bits);
}

bool sameResult(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) ||
         std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

std::string show(float x) {
  return fmt::format("{} ({:a})", x, x);
}

// --- Kernels -----------------------------------------------------------------------------

// for (; i + width <= n; i += width) out[i : i+width] = fn(in[i : i+width]); returns the
// final i. The loop is kept as written, so a scalar loop stays scalar.
llvm::Value *emitLoop(llvm::IRBuilder<> &b, EmitFn fn, llvm::Value *in, llvm::Value *out,
                      llvm::Value *start, llvm::Value *n, unsigned width) {
  llvm::LLVMContext &ctx = b.getContext();
  llvm::Function *f = b.GetInsertBlock()->getParent();
  llvm::Type *f32 = b.getFloatTy();
  llvm::Type *valueTy = width == 1 ? f32 : llvm::FixedVectorType::get(f32, width);

  llvm::BasicBlock *before = b.GetInsertBlock();
  auto *header = llvm::BasicBlock::Create(ctx, "loop", f);
  auto *body = llvm::BasicBlock::Create(ctx, "body", f);
  auto *done = llvm::BasicBlock::Create(ctx, "done", f);
  b.CreateBr(header);

  b.SetInsertPoint(header);
  llvm::PHINode *i = b.CreatePHI(b.getInt64Ty(), 2, "i");
  i->addIncoming(start, before);
  llvm::Value *next = b.CreateAdd(i, b.getInt64(width));
  b.CreateCondBr(b.CreateICmpSLE(next, n), body, done);

  b.SetInsertPoint(body);
  llvm::Value *x = b.CreateAlignedLoad(valueTy, b.CreateGEP(f32, in, i), llvm::Align(4));
  b.CreateAlignedStore(fn(b, x), b.CreateGEP(f32, out, i), llvm::Align(4));
  i->addIncoming(next, b.GetInsertBlock());
  b.CreateBr(header)->setMetadata(llvm::LLVMContext::MD_loop, slope::test::keepLoopAsWritten(ctx));

  b.SetInsertPoint(done);
  return i;
}

struct Kernels {
  std::array<ApplyFn *, Widths.size()> apply{};
};

// void apply_<name>_<width>(const float *in, float *out, int64_t n)
Kernels compileKernels(HostJit &jit, const MathFunction &fn) {
  JitModule m = jit.newModule(fn.name);
  llvm::IRBuilder<> b(*m.context);
  auto *type =
      llvm::FunctionType::get(b.getVoidTy(), {b.getPtrTy(), b.getPtrTy(), b.getInt64Ty()}, false);
  std::array<std::string, Widths.size()> names;
  for (size_t w = 0; w < Widths.size(); ++w) {
    names[w] = fmt::format("apply_{}_{}", fn.name, Widths[w]);
    auto *f = llvm::Function::Create(type, llvm::Function::ExternalLinkage, names[w], *m.module);
    jit.setHostAttributes(*f);
    b.SetInsertPoint(llvm::BasicBlock::Create(*m.context, "entry", f));
    llvm::Value *i = b.getInt64(0);
    if (Widths[w] > 1)
      i = emitLoop(b, fn.emit, f->getArg(0), f->getArg(1), i, f->getArg(2), Widths[w]);
    emitLoop(b, fn.emit, f->getArg(0), f->getArg(1), i, f->getArg(2), 1);
    b.CreateRetVoid();
  }
  if (llvm::Error error = jit.add(std::move(m)))
    FAIL(slope::test::errorText(std::move(error)));

  Kernels kernels;
  for (size_t w = 0; w < Widths.size(); ++w) {
    auto address = jit.lookup<ApplyFn>(names[w]);
    if (!address)
      FAIL(slope::test::errorText(address.takeError()));
    kernels.apply[w] = *address;
  }
  return kernels;
}

// --- Sweeps ------------------------------------------------------------------------------

std::vector<float> specialValues() {
  constexpr float inf = std::numeric_limits<float>::infinity();
  return {0.0f,
          -0.0f,
          inf,
          -inf,
          fromBits(0x7fc00000u), // quiet NaN
          fromBits(0xffc00000u), // negative quiet NaN
          fromBits(0x7f800001u), // signaling NaN
          fromBits(0x7fffffffu),
          fromBits(0x00000001u), // smallest subnormal
          fromBits(0x80000001u),
          fromBits(0x007fffffu), // largest subnormal
          fromBits(0x807fffffu),
          std::numeric_limits<float>::min(),
          -std::numeric_limits<float>::min(),
          std::numeric_limits<float>::max(),
          -std::numeric_limits<float>::max(),
          1.0f,
          -1.0f,
          0.5f,
          -0.5f,
          2.0f,
          -2.0f,
          1e-30f,
          -1e-30f};
}

std::vector<float> sweepInputs(const MathFunction &fn) {
  std::vector<float> xs = specialValues();
  for (float p : fn.breakpoints)
    for (int64_t k = -256; k <= 256; ++k)
      xs.push_back(fromKey(key(p) + k));
  for (uint64_t bits = 7; bits <= 0xffffffffu; bits += 1021)
    xs.push_back(fromBits(static_cast<uint32_t>(bits)));
  constexpr int64_t Steps = 3'000'000;
  for (int64_t k = 0; k <= Steps; ++k)
    xs.push_back(static_cast<float>(fn.lo + (double(fn.hi) - fn.lo) * double(k) / Steps));
  const int64_t klo = key(fn.lo), khi = key(fn.hi);
  for (int64_t k = 0; k <= Steps; ++k)
    xs.push_back(fromKey(klo + (khi - klo) * k / Steps));
  return xs;
}

struct Stats {
  uint64_t inputs = 0;
  int64_t maxUlp = 0;
  float worstX = 0, worstGot = 0, worstWant = 0;
  uint64_t problems = 0; // wrong NaN/inf, or widths that disagree
  std::string firstProblem;

  void problem(std::string what) {
    if (problems++ == 0)
      firstProblem = std::move(what);
  }
  void merge(const Stats &other) {
    inputs += other.inputs;
    if (other.maxUlp > maxUlp) {
      maxUlp = other.maxUlp;
      worstX = other.worstX;
      worstGot = other.worstGot;
      worstWant = other.worstWant;
    }
    if (problems == 0)
      firstProblem = other.firstProblem;
    problems += other.problems;
  }
};

void check(const MathFunction &fn, float x, float got, Stats &stats) {
  float want = static_cast<float>(fn.reference(static_cast<double>(x)));
  ++stats.inputs;
  auto problem = [&](const char *what) {
    stats.problem(
        fmt::format("{}({}): {}: got {}, want {}", fn.name, show(x), what, show(got), show(want)));
  };
  if (std::isnan(want) || std::isnan(got)) {
    if (!(std::isnan(want) && std::isnan(got)))
      problem("NaN mismatch");
    return;
  }
  if (std::isinf(want) || std::isinf(got)) {
    if (got != want)
      problem("infinity mismatch");
    return;
  }
  int64_t ulp = std::abs(key(got) - key(want));
  if (ulp > stats.maxUlp) {
    stats.maxUlp = ulp;
    stats.worstX = x;
    stats.worstGot = got;
    stats.worstWant = want;
  }
}

// Runs every width on inputs [begin, end) of a source that writes `count` inputs starting at
// index `first` into `dst`, and checks them.
using InputSource = std::function<void(uint64_t first, size_t count, float *dst)>;

Stats sweepRange(const MathFunction &fn, const Kernels &kernels, const InputSource &source,
                 uint64_t begin, uint64_t end) {
  constexpr size_t Block = 4096;
  std::vector<float> in(Block);
  std::array<std::vector<float>, Widths.size()> out;
  for (auto &o : out)
    o.resize(Block);
  Stats stats;
  for (uint64_t first = begin; first < end; first += Block) {
    size_t count = static_cast<size_t>(std::min<uint64_t>(Block, end - first));
    source(first, count, in.data());
    for (size_t w = 0; w < Widths.size(); ++w)
      kernels.apply[w](in.data(), out[w].data(), static_cast<int64_t>(count));
    for (size_t j = 0; j < count; ++j) {
      for (size_t w = 1; w < Widths.size(); ++w)
        if (!sameResult(out[w][j], out[0][j]))
          stats.problem(fmt::format("{}({}): width {} gives {}, width {} gives {}", fn.name,
                                    show(in[j]), Widths[w], show(out[w][j]), Widths[0],
                                    show(out[0][j])));
      check(fn, in[j], out[0][j], stats);
    }
  }
  return stats;
}

Stats sweep(const MathFunction &fn, const Kernels &kernels, const InputSource &source,
            uint64_t total) {
  unsigned threads = std::clamp(std::thread::hardware_concurrency(), 1u, 16u);
  std::vector<Stats> partial(threads);
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      uint64_t begin = total * t / threads, end = total * (t + 1) / threads;
      partial[t] = sweepRange(fn, kernels, source, begin, end);
    });
  for (auto &worker : workers)
    worker.join();
  Stats stats;
  for (const Stats &p : partial)
    stats.merge(p);
  return stats;
}

bool exhaustive() {
  const char *value = std::getenv("SLOPE_VECTOR_MATH_EXHAUSTIVE");
  return value && std::string(value) == "1";
}

void checkAccuracy(const std::string &name) {
  MathFunction fn = mathFunction(name);
  auto jit = HostJit::create();
  if (!jit)
    FAIL(slope::test::errorText(jit.takeError()));
  Kernels kernels = compileKernels(**jit, fn);

  Stats stats;
  if (exhaustive()) {
    stats = sweep(
        fn, kernels,
        [](uint64_t first, size_t count, float *dst) {
          for (size_t j = 0; j < count; ++j)
            dst[j] = fromBits(static_cast<uint32_t>(first + j));
        },
        uint64_t{1} << 32);
  } else {
    std::vector<float> xs = sweepInputs(fn);
    stats = sweep(
        fn, kernels,
        [&xs](uint64_t first, size_t count, float *dst) {
          std::memcpy(dst, xs.data() + first, count * sizeof(float));
        },
        xs.size());
  }

  MESSAGE(fmt::format("{}: max {} ulp over {} inputs{} (cpu {}); worst at x = {}: got {}, "
                      "want {}",
                      fn.name, stats.maxUlp, stats.inputs, exhaustive() ? " (all of f32)" : "",
                      (*jit)->cpu(), show(stats.worstX), show(stats.worstGot),
                      show(stats.worstWant)));
  CHECK_MESSAGE(stats.problems == 0, stats.problems << " problems; first: " << stats.firstProblem);
  CHECK(stats.inputs >= 10'000'000);
  CHECK(stats.maxUlp <= MaxUlp);
}

} // namespace

TEST_CASE("vector_math exp accuracy") {
  checkAccuracy("exp");
}
TEST_CASE("vector_math expm1 accuracy") {
  checkAccuracy("expm1");
}
TEST_CASE("vector_math log1p accuracy") {
  checkAccuracy("log1p");
}
TEST_CASE("vector_math tanh accuracy") {
  checkAccuracy("tanh");
}
TEST_CASE("vector_math erf accuracy") {
  checkAccuracy("erf");
}
TEST_CASE("vector_math sigmoid accuracy") {
  checkAccuracy("sigmoid");
}

namespace {

// Runs one input through every width.
std::array<float, Widths.size()> evaluate(const Kernels &kernels, float x) {
  std::array<float, Widths.size()> results{};
  // Pad to a full vector so the wide loops, not only their scalar tails, see the input.
  std::array<float, 16> in, out;
  in.fill(x);
  for (size_t w = 0; w < Widths.size(); ++w) {
    kernels.apply[w](in.data(), out.data(), static_cast<int64_t>(in.size()));
    results[w] = out[3];
  }
  return results;
}

} // namespace

TEST_CASE("vector_math special values") {
  constexpr float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float tiny = fromBits(0x00000001u);
  struct Expect {
    float x, want; // want NaN: any NaN
  };
  const std::vector<std::pair<std::string, std::vector<Expect>>> table = {
      {"exp",
       {{-inf, 0.0f},
        {inf, inf},
        {nan, nan},
        {0.0f, 1.0f},
        {-0.0f, 1.0f},
        {-104.0f, 0.0f},
        {-1000.0f, 0.0f},
        {88.72284f, inf},
        {1000.0f, inf}}},
      {"expm1",
       {{-inf, -1.0f},
        {inf, inf},
        {nan, nan},
        {0.0f, 0.0f},
        {-0.0f, -0.0f},
        {tiny, tiny},
        {-tiny, -tiny},
        {-100.0f, -1.0f},
        {88.72284f, inf}}},
      {"log1p",
       {{-1.0f, -inf},
        {-1.0000001f, nan},
        {-2.0f, nan},
        {-inf, nan},
        {inf, inf},
        {nan, nan},
        {0.0f, 0.0f},
        {-0.0f, -0.0f},
        {tiny, tiny},
        {-tiny, -tiny}}},
      {"tanh",
       {{inf, 1.0f},
        {-inf, -1.0f},
        {nan, nan},
        {0.0f, 0.0f},
        {-0.0f, -0.0f},
        {tiny, tiny},
        {-tiny, -tiny},
        {20.0f, 1.0f},
        {-20.0f, -1.0f}}},
      {"erf",
       {{inf, 1.0f},
        {-inf, -1.0f},
        {nan, nan},
        {0.0f, 0.0f},
        {-0.0f, -0.0f},
        {tiny, tiny},
        {-tiny, -tiny},
        {10.0f, 1.0f},
        {-10.0f, -1.0f}}},
      {"sigmoid",
       {{-inf, 0.0f},
        {inf, 1.0f},
        {nan, nan},
        {0.0f, 0.5f},
        {-0.0f, 0.5f},
        {-1000.0f, 0.0f},
        {1000.0f, 1.0f}}},
  };

  auto jit = HostJit::create();
  if (!jit)
    FAIL(slope::test::errorText(jit.takeError()));
  std::map<std::string, Kernels> compiled;
  for (const auto &[name, expectations] : table) {
    MathFunction fn = mathFunction(name);
    Kernels kernels = compiled[name] = compileKernels(**jit, fn);
    for (const Expect &e : expectations)
      for (float got : evaluate(kernels, e.x))
        CHECK_MESSAGE(sameResult(got, e.want),
                      name << "(" << show(e.x) << ") = " << show(got) << ", want " << show(e.want));

    // Every NaN encoding stays NaN.
    for (uint32_t bits : {0x7f800001u, 0x7fc00000u, 0x7fffffffu, 0xff800001u, 0xffc00000u})
      for (float got : evaluate(kernels, fromBits(bits)))
        CHECK_MESSAGE(std::isnan(got),
                      name << "(NaN " << fmt::format("{:#x}", bits) << ") = " << show(got));

    // Tiny inputs give x-sized results with the right sign, not zero.
    if (name != "exp" && name != "sigmoid")
      for (float x : {1e-30f, -1e-30f, 0x1p-126f, -0x1p-126f, 1e-40f, -1e-40f})
        for (float got : evaluate(kernels, x)) {
          float want = static_cast<float>(fn.reference(x));
          CHECK_MESSAGE(std::abs(key(got) - key(want)) <= 1,
                        name << "(" << show(x) << ") = " << show(got) << ", want " << show(want));
        }
  }

  // Overflow boundaries: the largest float with a finite exp, and the next one.
  const float last = 88.72283f, first = std::nextafter(last, inf);
  CHECK(std::isfinite(static_cast<float>(std::exp(double(last)))));
  CHECK(std::isinf(static_cast<float>(std::exp(double(first)))));
  for (const char *name : {"exp", "expm1"}) {
    for (float got : evaluate(compiled[name], last))
      CHECK_MESSAGE(std::isfinite(got), name << "(" << show(last) << ") = " << show(got));
    for (float got : evaluate(compiled[name], first))
      CHECK_MESSAGE(got == inf, name << "(" << show(first) << ") = " << show(got));
  }
}

TEST_CASE("vector_math emits straight-line code without fast-math flags") {
  for (const char *name : {"exp", "expm1", "log1p", "tanh", "erf", "sigmoid"}) {
    MathFunction fn = mathFunction(name);
    llvm::LLVMContext ctx;
    llvm::Module module("probe", ctx);
    llvm::IRBuilder<> b(ctx);
    // The caller's flags must not leak into the emitted code.
    llvm::FastMathFlags fast;
    fast.setFast();
    b.setFastMathFlags(fast);
    for (llvm::Type *type : {b.getFloatTy(), static_cast<llvm::Type *>(
                                                 llvm::FixedVectorType::get(b.getFloatTy(), 16))}) {
      auto *f = llvm::Function::Create(llvm::FunctionType::get(type, {type}, false),
                                       llvm::Function::ExternalLinkage,
                                       fmt::format("probe_{}", name), module);
      b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", f));
      llvm::Value *result = fn.emit(b, f->getArg(0));
      CHECK(result->getType() == type);
      b.CreateRet(result);
      CHECK(b.getFastMathFlags().isFast()); // restored for the caller
      CHECK(f->size() == 1);
      for (const llvm::Instruction &inst : f->getEntryBlock()) {
        if (llvm::isa<llvm::FPMathOperator>(inst))
          CHECK_MESSAGE(!inst.getFastMathFlags().any(),
                        name << ": fast-math flags on an instruction");
        if (const auto *call = llvm::dyn_cast<llvm::CallInst>(&inst)) {
          llvm::Intrinsic::ID id = call->getIntrinsicID();
          CHECK_MESSAGE((id == llvm::Intrinsic::fma || id == llvm::Intrinsic::fabs ||
                         id == llvm::Intrinsic::copysign),
                        name << ": unexpected call to "
                             << call->getCalledFunction()->getName().str());
        }
      }
    }
  }
}
