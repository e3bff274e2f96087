// The machine's FP32 multiply-add peak on one core, measured: independent chains of
// vector FMAs on registers (no memory traffic), as many as hide the FMA latency on
// every current x86-64 core, timed for --min-time seconds. The performance report sets
// every row's time against the time this peak would take for its work, so that a target
// no code can reach on this machine is seen as such.
#include "PeerBench.h"

#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

#if defined(__AVX512F__)
using Vector = __m512;
constexpr int kLanes = 16;
const char *kIsa = "avx512f";
inline Vector splat(float v) { return _mm512_set1_ps(v); }
inline Vector fma(Vector a, Vector b, Vector c) { return _mm512_fmadd_ps(a, b, c); }
#elif defined(__FMA__)
using Vector = __m256;
constexpr int kLanes = 8;
const char *kIsa = "avx2+fma";
inline Vector splat(float v) { return _mm256_set1_ps(v); }
inline Vector fma(Vector a, Vector b, Vector c) { return _mm256_fmadd_ps(a, b, c); }
#else
#error "peak.cpp needs FMA (build with -march=native on an FMA machine)"
#endif

constexpr int kChains = 24; // latency (4) x FMA units (2) x 3: never latency-bound
constexpr long kStepsPerCall = 1 << 16;

/// kStepsPerCall x kChains FMAs; returns a sum so that nothing is optimized away.
__attribute__((noinline)) float run(float seed) {
  Vector acc[kChains];
  for (int c = 0; c < kChains; ++c)
    acc[c] = splat(seed * float(c + 1));
  const Vector a = splat(0.999999f), b = splat(1e-7f);
  for (long i = 0; i < kStepsPerCall; ++i) {
    // Fully unrolled, so that every chain lives in a register.
#pragma GCC unroll 24
    for (int c = 0; c < kChains; ++c)
      acc[c] = fma(acc[c], a, b);
  }
  alignas(64) float lanes[kLanes];
  float s = 0;
  for (int c = 0; c < kChains; ++c) {
    std::memcpy(lanes, &acc[c], sizeof lanes);
    for (float l : lanes)
      s += l;
  }
  return s;
}

} // namespace

int main(int argc, char **argv) {
  double minTime = 0.3;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--min-time")
      minTime = std::stod(argv[i + 1]);
  volatile float sink = run(1.0f); // warm-up: clocks up
  using Clock = std::chrono::steady_clock;
  double best = 0;
  auto start = Clock::now();
  do {
    auto t0 = Clock::now();
    sink = sink + run(float(best) * 1e-30f + 1.0f);
    double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    double gflops = 2.0 * kLanes * kChains * double(kStepsPerCall) / seconds / 1e9;
    best = gflops > best ? gflops : best;
  } while (std::chrono::duration<double>(Clock::now() - start).count() < minTime);
  std::printf("{\"library\":\"peak\",\"isa\":\"%s\",\"gflops\":%.1f}\n", kIsa, best);
  return 0;
}
