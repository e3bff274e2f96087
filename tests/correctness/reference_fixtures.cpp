// The reference evaluator against the PyTorch-generated expectations of
// tests/fixtures/torch (see its README): every case of index.tsv is compiled, evaluated
// on NAME.x.npy, and compared as its `compare` column says.
//
//   exact  bit for bit with NAME.y.npy; any NaN matches any NaN, the sign of zero counts.
//   dense  with NAME.y.npy, within the error that summation order alone can explain: for
//          a sum of n f32 products, |a - b| <= 2 n eps * (sum of |terms|); the terms are
//          not at hand at the output of a multi-layer network, so the bound used is
//          1e-5 * (1 + |b|), which the README states holds for all of these cases and
//          which is 30-100x tighter than any real error in the parameters would give.
//   ulp    with NAME.ref.npy (the definition in double precision): NaN, ±inf and ±0
//          exactly, finite values within 4 ulp of the correctly rounded f32.
#include "TestUtil.h"
#include "activations_testing.h"
#include "torch_fixtures.h"

#include "compiler/eval/Reference.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using slope::runtime::Tensor;

using slope::torchfixtures::Case;
using slope::torchfixtures::fixtureDir;
using slope::torchfixtures::readF64Npy;
using slope::torchfixtures::readIndex;

/// What the reference evaluator computes for a case.
std::vector<float> evaluateCase(const Case &c, std::vector<std::string> &warnings) {
  slope::torchfixtures::LoadedCase loaded = slope::torchfixtures::loadCase(c, warnings);
  const slope::ir::Graph &graph = loaded.graph;
  REQUIRE(graph.outputWidth() == c.out);
  return slope::eval::evaluate(graph, loaded.parameters, loaded.x.data.data(), c.batch);
}

using slope::acttest::Kind;
using slope::acttest::kindOf;
using slope::acttest::ulpDistance;

std::string show(float v) {
  std::ostringstream s;
  s.precision(9);
  s << v;
  return s.str();
}

/// Compares one case and returns a description of the first few mismatches ("" if none).
std::string compareCase(const Case &c, const std::vector<float> &actual, const Tensor &x) {
  fs::path dir = fixtureDir();
  std::ostringstream problems;
  int reported = 0, mismatches = 0;
  auto report = [&](size_t i, const std::string &what) {
    ++mismatches;
    if (reported++ < 8)
      problems << "  [" << i / static_cast<size_t>(c.out) << ", " << i % static_cast<size_t>(c.out)
               << "] " << what << "\n";
  };
  if (c.compare == "exact" || c.compare == "dense") {
    Tensor y = slope::runtime::readNpy((dir / (c.name + ".y.npy")).string());
    REQUIRE(y.shape == std::vector<int64_t>{c.batch, c.out});
    REQUIRE(actual.size() == y.data.size());
    for (size_t i = 0; i < actual.size(); ++i) {
      float a = actual[i], b = y.data[i];
      bool ok = c.compare == "exact"
                    ? slope::testutil::sameBits(a, b)
                    : (std::isnan(a) && std::isnan(b)) || a == b ||
                          std::fabs(double(a) - double(b)) <= 1e-5 * (1 + std::fabs(double(b)));
      if (!ok)
        report(i, "got " + show(a) + ", expected " + show(b));
    }
  } else {
    REQUIRE(c.compare == "ulp");
    std::vector<int64_t> shape;
    std::vector<double> ref = readF64Npy(dir / (c.name + ".ref.npy"), shape);
    REQUIRE(shape == std::vector<int64_t>{c.batch, c.out});
    REQUIRE(actual.size() == ref.size());
    for (size_t i = 0; i < actual.size(); ++i) {
      float a = actual[i];
      float rounded = static_cast<float>(ref[i]); // the correctly rounded f32
      std::string input = c.in == c.out ? " (x = " + show(x.data[i]) + ")" : "";
      if (kindOf(ref[i]) != Kind::Finite || std::isinf(rounded)) {
        // NaN, ±inf and ±0 exactly (also a finite definition beyond FLT_MAX: ±inf).
        if (kindOf(a) != kindOf(rounded))
          report(i, "got " + show(a) + ", expected " + show(rounded) + " (kind)" + input);
        continue;
      }
      // A finite non-zero definition: within 4 ulp of its rounding, counted across zero.
      if (!std::isfinite(a) || ulpDistance(a, rounded) > 4)
        report(i, "got " + show(a) + ", expected " + show(rounded) + " (" +
                      (std::isfinite(a) ? std::to_string(ulpDistance(a, rounded)) : "inf") + " ulp)" + input);
    }
  }
  if (mismatches > 0)
    problems << "  " << mismatches << " element(s) differ\n";
  return problems.str();
}

void checkCase(const Case &c) {
  std::vector<std::string> warnings;
  std::vector<float> actual;
  try {
    actual = evaluateCase(c, warnings);
  } catch (const slope::Error &e) {
    FAIL(c.name, ": ", e.what());
  }
  CHECK(warnings.empty());
  Tensor x = slope::runtime::readNpy((fixtureDir() / (c.name + ".x.npy")).string());
  std::string problems = compareCase(c, actual, x);
  INFO(c.name, " (", c.compare, "):\n", problems);
  CHECK(problems.empty());
}

} // namespace

TEST_CASE("reference evaluator: every PyTorch fixture") {
  std::vector<Case> cases = readIndex();
  REQUIRE(cases.size() == 98);
  size_t checked = 0;
  for (const Case &c : cases) {
    ++checked;
    SUBCASE(c.name.c_str()) { checkCase(c); }
  }
  CHECK(checked == 98);
}

TEST_CASE("reference fixtures: the comparison itself can fail") {
  // A case compared against a perturbed result must report it, for each kind of
  // comparison, so that a passing run above means something.
  std::vector<Case> cases = readIndex();
  for (const char *name : {"act_leaky_relu_a2p5_special", "mlp_residual", "act_tanh_random"}) {
    CAPTURE(name);
    const Case *c = nullptr;
    for (const Case &k : cases)
      if (k.name == name)
        c = &k;
    REQUIRE(c);
    std::vector<std::string> warnings;
    std::vector<float> actual = evaluateCase(*c, warnings);
    Tensor x = slope::runtime::readNpy((fixtureDir() / (c->name + ".x.npy")).string());
    REQUIRE(compareCase(*c, actual, x).empty());
    // Move one finite element by 5 ulp (exact, ulp) or by a relative 1e-4 (dense).
    size_t i = 0;
    while (!std::isfinite(actual[i]) || actual[i] == 0)
      ++i;
    std::vector<float> wrong = actual;
    if (c->compare == "dense")
      wrong[i] = actual[i] * (1 + 1e-4f) + 1e-4f;
    else
      for (int k = 0; k < 5; ++k)
        wrong[i] = std::nextafter(wrong[i], std::numeric_limits<float>::infinity());
    CHECK(compareCase(*c, wrong, x).find("1 element(s) differ") != std::string::npos);
    // And the sign of a zero counts where it is exact.
    if (c->compare == "exact") {
      std::vector<float> flipped = actual;
      for (float &v : flipped)
        if (v == 0) {
          v = -v;
          break;
        }
      CHECK(compareCase(*c, flipped, x) != "");
    }
  }
}
