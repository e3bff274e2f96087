// softplus at extreme beta and threshold: beta from the smallest subnormal to 3e38 and
// negative, thresholds from -FLT_MAX to FLT_MAX (also above exp's overflow, 88.7 in f32
// and 709.8 in double, where log1p(exp(beta*x)) must not be evaluated as written). The
// JIT is checked against the reference evaluator (the SPEC's rule: 4 ulp, NaN, ±inf and
// ±0 exact), and the evaluator against the definition computed here in long double
// (within 1 ulp: it is that definition in double, rounded once). Exact values for a few
// cases were computed with 60-digit arithmetic.
#include "activations_testing.h"
#include "jit_testing.h"

#include <cfloat>
#include <cstdio>

using namespace slope;
using namespace slope::jittest;
using namespace slope::acttest;

namespace {

/// softplus of `operand` with beta and threshold written so that they round back to
/// the same f32 values.
std::string softplusCall(const std::string &operand, float beta, float threshold) {
  return "softplus(" + operand + ", beta = " + formatFloat(beta) +
         ", threshold = " + formatFloat(threshold) + ")";
}

/// A network of one softplus over `width` features.
std::string softplusSource(int64_t width, float beta, float threshold) {
  return "network n {\n  input x : f32[" + std::to_string(width) + "]\n  y = " +
         softplusCall("x", beta, threshold) + "\n  output y\n}\n";
}

/// The definition in long double: the branch on beta*x rounded to f32 (PyTorch's), the
/// value log1p(exp(z))/beta with z = beta*x exact, rounded to f32 once.
float softplusLongDouble(float x, float beta, float threshold) {
  if (beta * x > threshold)
    return x;
  long double z = static_cast<long double>(beta) * x;
  long double soft = z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
  return static_cast<float>(soft / beta);
}

/// Distance across zero for finite values (+0 and -0 one point), 0 for equal kinds.
int64_t distance(float a, float b) {
  if (std::isnan(a) || std::isnan(b))
    return std::isnan(a) && std::isnan(b) ? 0 : INT64_MAX;
  if (std::isinf(a) || std::isinf(b))
    return a == b ? 0 : INT64_MAX;
  return ulpDistance(a, b);
}

const std::vector<float> kBetas = {0x1p-149f, 1e-40f, 1e-38f, 1e-30f, 1e-20f, 1e-10f,
                                   1e-3f,     0.01f,  0.5f,   1.0f,   3.0f,   1e3f,
                                   1e10f,     1e30f,  3e38f,  -1.0f,  -1e-30f, -3.0f};
const std::vector<float> kThresholds = {20.0f, 0.0f,   -20.0f, 1e-30f, 88.0f, 100.0f,
                                        700.0f, 1000.0f, 1e10f, 1e30f,  -1e30f, FLT_MAX};

/// Inputs for one beta: the special values, and z/beta for z spread over where the value
/// changes (exp's whole range and past it), around the threshold and near 0.
std::vector<float> inputsFor(float beta, float threshold, std::mt19937_64 &rng) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {std::numeric_limits<float>::quiet_NaN(), inf, -inf, 0.0f, -0.0f,
                          FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN, 0x1p-149f, -0x1p-149f,
                          1.0f, -1.0f, 1e30f, -1e30f};
  for (float z : {-1e4f, -800.0f, -745.0f, -710.0f, -300.0f, -250.0f, -210.0f, -200.0f,
                  -190.0f, -180.0f, -175.0f, -172.0f, -150.0f, -120.0f, -104.0f, -103.97f,
                  -100.0f, -88.0f, -80.0f, -64.0f, -63.99f, -30.0f, -1.0f, -1e-3f, -1e-30f,
                  1e-30f, 1e-3f, 1.0f, 20.0f, 30.0f, 88.0f, 89.0f, 100.0f, 500.0f, 700.0f,
                  709.0f, 710.0f, 800.0f, 1000.0f, 1e4f, 1e10f, threshold}) {
    float v = z / beta;
    for (int i = 0; i < 3; ++i, v = std::nextafter(v, inf))
      x.push_back(v);
  }
  std::uniform_real_distribution<float> zs(-260.0f, 40.0f);
  for (int i = 0; i < 2000; ++i)
    x.push_back(zs(rng) / beta);
  std::uniform_real_distribution<float> near(-2.0f, 2.0f);
  for (int i = 0; i < 500; ++i)
    x.push_back((threshold + near(rng)) / beta);
  return x;
}

} // namespace

TEST_CASE("softplus: extreme beta and threshold, JIT against the evaluator and the definition") {
  std::mt19937_64 rng(81);
  // The worst distances: JIT vs evaluator overall and where beta*x < -64 (the value is
  // exp(beta*x)/beta, one exp rounded about once: 2 ulp at most), evaluator vs the long
  // double definition.
  int64_t worstJit = 0, worstTail = 0, worstEvaluator = 0;
  std::string worstJitCase, worstTailCase;
  auto record = [](int64_t ulps, int64_t &worst, std::string &label, float beta, float threshold) {
    if (ulps <= worst)
      return;
    worst = ulps;
    label = "beta " + formatFloat(beta) + ", threshold " + formatFloat(threshold);
  };
  for (float beta : kBetas) {
    for (float threshold : kThresholds) {
      std::string source = softplusSource(37, beta, threshold);
      CAPTURE(source);
      ir::Graph graph = parseNetwork(source);
      auto jit = backend::JitModule::compile(graph, {});
      std::vector<float> x = inputsFor(beta, threshold, rng);
      x.resize((x.size() + 36) / 37 * 37, 0.5f);
      auto batch = static_cast<int64_t>(x.size() / 37);
      std::vector<float> got(x.size(), 12345.0f);
      REQUIRE(jit->forward(x.data(), got.data(), batch) == 0);
      std::vector<float> want = eval::evaluate(graph, {}, x.data(), batch);
      int failures = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        float definition = softplusLongDouble(x[i], beta, threshold);
        int64_t ulps = 0;
        bool ok = meetsSpec(got[i], want[i], false, ulps);
        record(ulps, worstJit, worstJitCase, beta, threshold);
        bool tail = !(beta * x[i] > threshold) && static_cast<double>(beta) * x[i] < -64;
        if (tail) {
          record(ulps, worstTail, worstTailCase, beta, threshold);
          ok = ok && ulps <= 2;
        }
        int64_t toDefinition = distance(want[i], definition);
        worstEvaluator = std::max(worstEvaluator, toDefinition);
        ok = ok && toDefinition <= 1;
        if (!ok && failures++ < 3) {
          INFO("x = " << formatFloat(x[i]) << " (beta*x = " << formatFloat(beta * x[i])
                      << "): JIT " << formatFloat(got[i]) << ", evaluator "
                      << formatFloat(want[i]) << ", long double " << formatFloat(definition)
                      << " (" << ulps << " ulp)");
          CHECK(false);
        }
      }

      // Fused after a dense layer with one input and weights +-1: h = +-x, exactly.
      ir::Graph fused =
          parseNetwork("network n {\n  input x : f32[1]\n  h = dense(x, 29, bias = false)\n"
                       "  y = " + softplusCall("h", beta, threshold) + "\n  output y\n}\n");
      REQUIRE(fused.groups.size() == 1);
      ir::ParameterValues fusedParams;
      std::vector<float> &weights = fusedParams.values["h.weight"];
      for (size_t u = 0; u < 29; ++u)
        weights.push_back(u % 2 ? -1.0f : 1.0f);
      auto fusedJit = backend::JitModule::compile(fused, fusedParams);
      auto fusedBatch = static_cast<int64_t>(x.size());
      std::vector<float> fusedGot(x.size() * 29, 12345.0f);
      REQUIRE(fusedJit->forward(x.data(), fusedGot.data(), fusedBatch) == 0);
      std::vector<float> fusedWant = eval::evaluate(fused, fusedParams, x.data(), fusedBatch);
      for (size_t i = 0; i < fusedGot.size(); ++i) {
        int64_t ulps = 0;
        bool ok = meetsSpec(fusedGot[i], fusedWant[i], false, ulps);
        record(ulps, worstJit, worstJitCase, beta, threshold);
        if (!ok && failures++ < 3) {
          INFO("fused, x = " << formatFloat(x[i / 29]) << " times " << weights[i % 29]
                             << ": JIT " << formatFloat(fusedGot[i]) << ", evaluator "
                             << formatFloat(fusedWant[i]) << " (" << ulps << " ulp)");
          CHECK(false);
        }
      }
    }
  }
  std::printf("softplus at extreme beta and threshold, max ulp: JIT vs evaluator %lld (%s), "
              "where beta*x < -64 %lld (%s); evaluator vs long double %lld\n",
              static_cast<long long>(worstJit), worstJitCase.c_str(),
              static_cast<long long>(worstTail), worstTailCase.c_str(),
              static_cast<long long>(worstEvaluator));
}

TEST_CASE("softplus: exact values at extreme beta and threshold") {
  struct Case {
    float x, beta, threshold;
    uint32_t bits; // the definition, computed with 60-digit arithmetic, rounded once
  };
  const Case cases[] = {
      {-1e32f, 1e-30f, 20.0f, 0x29278966},     // z = -100: 3.72e-14, where exp(z) is subnormal
      {-1.5e32f, 1e-30f, 20.0f, 0x0518991a},   // z = -150: exp(z) is 0 in f32, the result normal
      {-1.7e32f, 1e-30f, 20.0f, 0x0000000b},   // z = -170: subnormal
      {-1.72e32f, 1e-30f, 20.0f, 0x00000001},  // the smallest subnormal
      {-1.8e32f, 1e-30f, 20.0f, 0x00000000},   // below half of it: +0
      {1e31f, 1e-30f, 20.0f, 0x72fc6fc7},      // z = 10
      {0.0f, 1e-30f, 20.0f, 0x710bfadf},       // ln2 / beta = 6.93e29
      {-1.3696075e31f, 1e-30f, 88.0f, 0x676e9f2e},
      {1.0f, 1e-40f, 20.0f, 0x7f800000},       // ln2 / beta overflows: inf
      {-1.0f, 1e-40f, 20.0f, 0x7f800000},
      {95.0f, 1.0f, 1000.0f, 0x42be0000},      // above exp's overflow, below the threshold
      {500.0f, 1.0f, 1000.0f, 0x43fa0000},
      {30.0f, 1.0f, 1000.0f, 0x41f00000},
      {1e5f, 0.01f, 1e30f, 0x47c35000},        // z = 1000: above exp's overflow in double
      {-1e5f, 0.01f, 1e30f, 0x00000000},
      {-1e4f, 0.01f, 1e30f, 0x00000a5f},       // subnormal, beta < 1
      {-33.0f, 3.0f, 20.0f, 0x00000018},       // subnormal, beta > 1
      {-40.0f, 3.0f, 20.0f, 0x00000000},
      {100.0f, -1.0f, 20.0f, 0x8000001b},      // negative beta: negative results
      {-30.0f, -1.0f, 20.0f, 0xc1f00000},
      {-25.0f, -1.0f, 20.0f, 0xc1c80000},      // beta*x = 25 > 20: x
      {1e32f, -1e-30f, 20.0f, 0xa9278966},
      {-1e-8f, 1e10f, 20.0f, 0x00000000},
      {-5e-9f, 1e10f, 20.0f, 0x0ac84afb},      // z = -50, beta = 1e10
      {-1.2e-37f, 3e38f, 20.0f, 0x00000000},
  };
  int64_t worst = 0;
  for (const Isa &isa : testIsas()) {
    std::string isaName = isa.name;
    for (const Case &c : cases) {
      std::string source = softplusSource(19, c.beta, c.threshold);
      CAPTURE(isaName);
      CAPTURE(source);
      CAPTURE(formatFloat(c.x));
      ir::Graph graph = parseNetwork(source);
      auto jit = backend::JitModule::compile(graph, {}, isa.options);
      std::vector<float> x(19, c.x), got(19, 12345.0f);
      REQUIRE(jit->forward(x.data(), got.data(), 1) == 0);
      // The JIT as the SPEC says: 4 ulp, and ±0 and ±inf exactly.
      const float exact = std::bit_cast<float>(c.bits);
      for (float g : got) {
        int64_t ulps = 0;
        CAPTURE(formatFloat(g));
        CHECK(meetsSpec(g, exact, false, ulps));
        worst = std::max(worst, ulps);
      }
      std::vector<float> want = eval::evaluate(graph, {}, x.data(), 1);
      CHECK(std::bit_cast<uint32_t>(want[0]) == c.bits);
      CHECK(std::bit_cast<uint32_t>(softplusLongDouble(c.x, c.beta, c.threshold)) == c.bits);
    }
  }
  std::printf("softplus exact values: max ulp of the JIT %lld\n", static_cast<long long>(worst));
}
