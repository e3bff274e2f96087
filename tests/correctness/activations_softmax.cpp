// softmax through the JIT against its definition computed in double precision and
// rounded to f32 (the reference evaluator), and against the same definition computed in
// long double in this file, which also checks the evaluator. The SPEC allows 4 ulp; the
// kernel computes in double and rounds once, so it must be within 1 ulp.
//
// Rows of every kind: random (normal, nearly uniform, spread over exp's whole range so
// that outputs are subnormal, log-uniform magnitudes, huge values, random bits), with
// NaN, ±inf, ±FLT_MAX, ±0 and subnormals at random places, rows of -inf; widths 1 to
// 4099 (vector tails on every ISA), batch 0, 1 and odd; standalone and after a dense
// layer; on the host ISA and the narrower ones it can run (testIsas()).
#include "activations_testing.h"
#include "jit_testing.h"

#include <cfloat>
#include <cstdio>

using namespace slope;
using namespace slope::jittest;
using namespace slope::acttest;

namespace {

std::string softmaxSource(int64_t width) {
  return "network n {\n  input x : f32[" + std::to_string(width) +
         "]\n  y = softmax(x)\n  output y\n}\n";
}

/// The definition in long double: m = max(x) (NaN if any x is NaN), exp(x - m) / sum,
/// rounded to f32 once. `exact[i]` tells whether the value before rounding is exactly 0
/// or NaN (not merely below the smallest subnormal).
std::vector<float> softmaxLongDouble(const float *x, size_t width, std::vector<bool> &exact) {
  long double m = -std::numeric_limits<long double>::infinity();
  for (size_t i = 0; i < width; ++i)
    m = x[i] > m || std::isnan(x[i]) ? x[i] : m;
  std::vector<long double> e(width);
  long double sum = 0;
  for (size_t i = 0; i < width; ++i)
    sum += e[i] = std::exp(static_cast<long double>(x[i]) - m);
  std::vector<float> y(width);
  exact.assign(width, false);
  for (size_t i = 0; i < width; ++i) {
    long double v = e[i] / sum;
    y[i] = static_cast<float>(v);
    exact[i] = v == 0 || std::isnan(v);
  }
  return y;
}

struct Tally {
  int64_t jitVsEvaluator = 0;
  int64_t jitVsLongDouble = 0;
  int64_t evaluatorVsLongDouble = 0;
  int64_t elements = 0;
  int64_t differing = 0; // JIT results not bit-identical to the evaluator's
  int64_t subnormal = 0; // outputs in the subnormal range
};

std::map<std::string, Tally> &tallies() {
  static std::map<std::string, Tally> table;
  return table;
}

/// Whether `got` is within `limit` ulp of `want`: NaN for NaN, +0 exactly for an exact 0,
/// else finite, non-negative and within `limit` ulp across zero.
bool within(float got, float want, bool exactWant, int64_t limit, int64_t &ulps) {
  ulps = 0;
  if (std::isnan(want) || std::isnan(got))
    return std::isnan(want) && std::isnan(got);
  if (exactWant)
    return std::bit_cast<uint32_t>(got) == std::bit_cast<uint32_t>(want);
  if (!std::isfinite(got) || std::signbit(got))
    return false;
  ulps = ulpDistance(got, want);
  return ulps <= limit;
}

/// Runs the softmax of `graph` (whose input is `input`, `batch` rows) through the JIT and
/// the evaluator; `softmaxIn` is the softmax's own input (the same as `input` when it is
/// standalone). Checks every element and returns the number of failures.
int compareSoftmax(const ir::Graph &graph, const ir::ParameterValues &params,
                   const std::vector<float> &input, const std::vector<float> &softmaxIn,
                   int64_t batch, const Isa &isa, const std::string &label) {
  auto jit = backend::JitModule::compile(graph, params, isa.options);
  auto width = static_cast<size_t>(jit->outputWidth());
  std::vector<float> got(static_cast<size_t>(batch) * width + 1, 12345.0f);
  REQUIRE(jit->forward(input.data(), got.data(), batch) == 0);
  CHECK(got.back() == 12345.0f); // nothing written past the last row
  std::vector<float> want = eval::evaluate(graph, params, input.data(), batch);
  REQUIRE(want.size() + 1 == got.size());
  Tally &t = tallies()[isa.name + std::string(" ") + label];
  int failures = 0;
  for (int64_t row = 0; row < batch; ++row) {
    size_t at = static_cast<size_t>(row) * width;
    std::vector<bool> exact;
    std::vector<float> ld = softmaxLongDouble(&softmaxIn[at], width, exact);
    for (size_t i = 0; i < width; ++i) {
      float g = got[at + i], w = want[at + i];
      int64_t toEvaluator = 0, toDefinition = 0, evaluatorToDefinition = 0;
      bool okEvaluator = within(g, w, exact[i], 1, toEvaluator);
      bool okDefinition = within(g, ld[i], exact[i], 1, toDefinition);
      bool okReference = within(w, ld[i], exact[i], 1, evaluatorToDefinition);
      bool ok = okEvaluator && okDefinition && okReference;
      t.jitVsEvaluator = std::max(t.jitVsEvaluator, toEvaluator);
      t.jitVsLongDouble = std::max(t.jitVsLongDouble, toDefinition);
      t.evaluatorVsLongDouble = std::max(t.evaluatorVsLongDouble, evaluatorToDefinition);
      t.elements += 1;
      t.differing += !sameFloat(g, w);
      t.subnormal += std::fpclassify(g) == FP_SUBNORMAL;
      if (!ok && failures++ < 5) {
        INFO(std::string(isa.name)
             << " " << label << " width " << width << " row " << row << " column " << i
             << " x = " << formatFloat(softmaxIn[at + i]) << ": JIT " << formatFloat(g)
             << ", evaluator " << formatFloat(w) << ", long double " << formatFloat(ld[i]));
        CHECK(false);
      }
    }
  }
  return failures;
}

const float kSpecials[] = {std::numeric_limits<float>::quiet_NaN(),
                           -std::numeric_limits<float>::quiet_NaN(),
                           std::numeric_limits<float>::infinity(),
                           -std::numeric_limits<float>::infinity(),
                           FLT_MAX, -FLT_MAX, 0.0f, -0.0f, 0x1p-149f, -0x1p-149f, 1e-40f,
                           FLT_MIN, -FLT_MIN, 88.8f, -88.8f, 103.97f, -104.0f, 1000.0f};

/// One random row of `width` values, of a kind chosen by `kind`.
void randomRow(std::mt19937_64 &rng, unsigned kind, float *row, size_t width) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  float offset = (unit(rng) - 0.5f) * 100.0f;
  for (size_t i = 0; i < width; ++i) {
    float &v = row[i];
    switch (kind) {
    case 0: // typical logits
      v = normal(rng) * 3.0f;
      break;
    case 1: // nearly uniform
      v = offset + normal(rng) * 0.01f;
      break;
    case 2: // spread over exp's range: outputs down to the subnormals and below
      v = offset - unit(rng) * 115.0f;
      break;
    case 3: // log-uniform magnitudes, both signs
      v = std::exp2(unit(rng) * 48.0f - 40.0f) * (rng() % 2 ? 1.0f : -1.0f);
      break;
    case 4: // huge: one or two outputs near 1, the rest +0
      v = (unit(rng) - 0.5f) * 2e4f;
      break;
    case 5: // ties: a few distinct values
      v = offset + static_cast<float>(rng() % 4) * 0.5f;
      break;
    default: // random bits: NaN, inf, subnormals
      v = std::bit_cast<float>(static_cast<uint32_t>(rng()));
      break;
    }
  }
  // Special values at random places in some rows; some rows all -inf but one element.
  unsigned special = static_cast<unsigned>(rng() % 16);
  if (special < 3) {
    row[rng() % width] = kSpecials[rng() % std::size(kSpecials)];
  } else if (special == 3) {
    for (size_t i = 0; i < width; ++i)
      row[i] = -std::numeric_limits<float>::infinity();
    if (rng() % 2)
      row[rng() % width] = normal(rng);
  }
}

std::vector<float> randomRows(std::mt19937_64 &rng, size_t rows, size_t width) {
  std::vector<float> x(rows * width);
  for (size_t r = 0; r < rows; ++r)
    randomRow(rng, static_cast<unsigned>(rng() % 8), &x[r * width], width);
  return x;
}

const std::vector<int64_t> kWidths = {1,  2,  3,   5,   7,   8,   9,    15,   16,  17,
                                      31, 33, 37, 63, 64, 65, 100, 257, 1000, 1021, 4099};

void printTallies() {
  std::printf("softmax, max ulp (JIT vs evaluator, JIT vs long double, evaluator vs long "
              "double), outputs not bit-identical to the evaluator, subnormal outputs:\n");
  for (const auto &[label, t] : tallies())
    std::printf("  %-28s %lld %lld %lld  %lld of %lld differ, %lld subnormal\n", label.c_str(),
                static_cast<long long>(t.jitVsEvaluator),
                static_cast<long long>(t.jitVsLongDouble),
                static_cast<long long>(t.evaluatorVsLongDouble),
                static_cast<long long>(t.differing), static_cast<long long>(t.elements),
                static_cast<long long>(t.subnormal));
}

} // namespace

TEST_CASE("softmax: exact values") {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    std::vector<float> x;
    std::vector<uint32_t> bits; // the correctly rounded definition; 0x7fc00000: any NaN
  };
  // Computed with 60-digit arithmetic and rounded to f32 once.
  const std::vector<Case> cases = {
      {{0.0f, 0.0f}, {0x3f000000, 0x3f000000}},
      {{1.0f, 2.0f, 3.0f}, {0x3db861f3, 0x3e7a9a1a, 0x3f2a4d3b}},
      {{0.0f, 0.0f, 0.0f}, {0x3eaaaaab, 0x3eaaaaab, 0x3eaaaaab}},
      {{-1.0f, 0.0f, 1.0f, 2.0f, 3.0f},
       {0x3c3ef9c7, 0x3d01c80c, 0x3db0642a, 0x3e6fbd96, 0x3f22ebad}},
      {{0.0f, -100.0f}, {0x3f800000, 0x0000001b}},   // 3.78e-44, subnormal
      {{0.0f, -103.5f}, {0x3f800000, 0x00000001}},   // the smallest subnormal
      {{0.0f, -103.9f}, {0x3f800000, 0x00000001}},   // 7.5e-46: just above half of it
      {{0.0f, -104.0f}, {0x3f800000, 0x00000000}},   // 6.8e-46: just below, +0
      {{88.8f, 0.0f}, {0x3f800000, 0x001d9fa5}},     // exp(88.8) overflows f32
      {{FLT_MAX, -FLT_MAX}, {0x3f800000, 0x00000000}}, // x - m is -inf in f32
      {{FLT_MAX, FLT_MAX}, {0x3f000000, 0x3f000000}},
      {{0x1p-149f, 0.0f}, {0x3f000000, 0x3f000000}},
      {{1000.0f, 999.0f, 990.0f, 900.0f, 896.0f},
       {0x3f3b2511, 0x3e89b185, 0x380b3451, 0x00000013, 0x00000000}},
      {{-inf, 0.0f}, {0x00000000, 0x3f800000}},
      {{-inf, -inf}, {0x7fc00000, 0x7fc00000}},      // -inf - -inf
      {{inf, 0.0f}, {0x7fc00000, 0x7fc00000}},       // inf - inf
      {{nan, 0.0f, 1.0f}, {0x7fc00000, 0x7fc00000, 0x7fc00000}},
      {{0.0f, 1.0f, nan}, {0x7fc00000, 0x7fc00000, 0x7fc00000}},
      {{5.0f}, {0x3f800000}},
      {{-FLT_MAX}, {0x3f800000}},
      {{-0.0f}, {0x3f800000}},
      {{nan}, {0x7fc00000}},
      {{inf}, {0x7fc00000}},
      {{-inf}, {0x7fc00000}},
  };
  std::vector<float> twenty(20);
  for (int i = 0; i < 20; ++i)
    twenty[static_cast<size_t>(i)] = static_cast<float>((i - 10) * 0.7);
  const std::vector<uint32_t> twentyBits = {
      0x3562481f, 0x35e3d672, 0x36656789, 0x36e6fb5b, 0x376891fb, 0x37ea2b60, 0x386bc799,
      0x38ed66a7, 0x396f088e, 0x39f0ad56, 0x3a725503, 0x3af3ff9a, 0x3b75ad1f, 0x3bf75d97,
      0x3c79110b, 0x3cfac77e, 0x3d7c80f0, 0x3dfe3d73, 0x3e7ffcfd, 0x3f00dfd1};
  std::vector<Case> all = cases;
  all.push_back({twenty, twentyBits});
  for (const Isa &isa : testIsas()) {
    std::string isaName = isa.name;
    for (const Case &c : all) {
      CAPTURE(isaName);
      CAPTURE(c.x.size());
      ir::Graph graph = parseNetwork(softmaxSource(static_cast<int64_t>(c.x.size())));
      auto jit = backend::JitModule::compile(graph, {}, isa.options);
      // Three copies of the row: batch 3 runs the row loop, not just its first pass.
      std::vector<float> x;
      for (int copy = 0; copy < 3; ++copy)
        x.insert(x.end(), c.x.begin(), c.x.end());
      std::vector<float> got(x.size(), 12345.0f);
      REQUIRE(jit->forward(x.data(), got.data(), 3) == 0);
      std::vector<float> evaluated = eval::evaluate(graph, {}, x.data(), 3);
      for (size_t i = 0; i < got.size(); ++i) {
        uint32_t want = c.bits[i % c.x.size()];
        CAPTURE(i);
        CAPTURE(formatFloat(got[i]));
        if (want == 0x7fc00000) {
          CHECK(std::isnan(got[i]));
          CHECK(std::isnan(evaluated[i]));
          continue;
        }
        CHECK(std::bit_cast<uint32_t>(got[i]) == want);
        CHECK(std::bit_cast<uint32_t>(evaluated[i]) == want);
      }
    }
  }
}

TEST_CASE("softmax: random rows with special values, every width, batch 0/1/odd, per ISA") {
  std::mt19937_64 rng(71);
  for (const Isa &isa : testIsas()) {
    for (int64_t width : kWidths) {
      CAPTURE(width);
      auto w = static_cast<size_t>(width);
      ir::Graph graph = parseNetwork(softmaxSource(width));
      REQUIRE(graph.groups.size() == 1);
      int64_t rows = std::max<int64_t>(int64_t(5), 12000 / width) | 1;
      std::vector<float> x = randomRows(rng, static_cast<size_t>(rows), w);
      for (int64_t batch : {int64_t(0), int64_t(1), rows})
        CHECK(compareSoftmax(graph, {}, x, x, batch, isa, "standalone") == 0);
    }
  }
  printTallies();
}

TEST_CASE("softmax: after a dense layer") {
  // dense(x, units) from one input feature without bias: h[u] = x * W[u], one f32 product
  // in the kernel and in the evaluator alike, so the softmax sees the same values.
  std::mt19937_64 rng(72);
  for (const Isa &isa : testIsas()) {
    for (int64_t units : {1, 7, 16, 17, 100, 1000}) {
      CAPTURE(units);
      auto u = static_cast<size_t>(units);
      ir::Graph graph =
          parseNetwork("network n {\n  input x : f32[1]\n  h = dense(x, " +
                       std::to_string(units) +
                       ", bias = false)\n  y = softmax(h)\n  output y\n}\n");
      REQUIRE(graph.groups.size() == 2); // softmax reads whole rows: a kernel of its own
      ir::ParameterValues params = randomParameters(graph, rng);
      std::vector<float> &weights = params.values.at("h.weight");
      randomRow(rng, static_cast<unsigned>(rng() % 6), weights.data(), u);
      const int64_t batch = 37;
      std::vector<float> x(static_cast<size_t>(batch));
      for (size_t r = 0; r < x.size(); ++r)
        x[r] = r < std::size(kSpecials) ? kSpecials[r] : static_cast<float>(r) * 0.25f - 4.0f;
      std::vector<float> h(static_cast<size_t>(batch) * u);
      for (size_t r = 0; r < x.size(); ++r)
        for (size_t i = 0; i < u; ++i)
          h[r * u + i] = x[r] * weights[i];
      CHECK(compareSoftmax(graph, params, x, h, batch, isa, "after dense") == 0);
    }
  }
  printTallies();
}
