// Shared by the activations_*.cpp tests: comparing compiled activations with the
// reference evaluator as the SPEC's accuracy rules say, and recording the worst case.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>

namespace slope::acttest {

enum class Kind { Nan, PosInf, NegInf, PosZero, NegZero, Finite };

/// A float's or a double's class (a double is not rounded to f32 first).
inline Kind kindOf(double v) {
  if (std::isnan(v))
    return Kind::Nan;
  if (std::isinf(v))
    return v > 0 ? Kind::PosInf : Kind::NegInf;
  if (v == 0)
    return std::signbit(v) ? Kind::NegZero : Kind::PosZero;
  return Kind::Finite;
}

/// Distance in representable f32 values (across zero; +0 and -0 are one point).
inline int64_t ulpDistance(float a, float b) {
  auto ordered = [](float f) {
    auto i = std::bit_cast<int32_t>(f);
    return i < 0 ? -static_cast<int64_t>(i & 0x7fffffff) : static_cast<int64_t>(i);
  };
  int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

/// Whether `got` meets the SPEC's rule against `want` (the reference evaluator, or the
/// definition in double rounded to f32): bit for bit for the piecewise-linear ops (any NaN
/// for any NaN); else NaN, ±inf and ±0 exactly and finite values within 4 ulp. `ulps`
/// receives the distance of a finite comparison (0 otherwise).
inline bool meetsSpec(float got, float want, bool exact, int64_t &ulps) {
  ulps = 0;
  if (exact)
    return (std::isnan(got) && std::isnan(want)) ||
           std::bit_cast<uint32_t>(got) == std::bit_cast<uint32_t>(want);
  if (kindOf(want) != Kind::Finite)
    return kindOf(got) == kindOf(want);
  if (!std::isfinite(got))
    return false;
  ulps = ulpDistance(got, want);
  return ulps <= 4;
}

/// The largest distance seen per label, printed by the test that fills it.
inline std::map<std::string, int64_t> &maxUlps() {
  static std::map<std::string, int64_t> table;
  return table;
}

inline void recordUlps(const std::string &label, int64_t ulps) {
  int64_t &slot = maxUlps()[label];
  slot = std::max(slot, ulps);
}

} // namespace slope::acttest
