// The PyTorch-generated activation cases of tests/fixtures/torch (index.tsv rows named
// act_*) through the JIT: `exact` cases bit for bit with NAME.y.npy, `ulp` cases against
// NAME.ref.npy (the definition in double precision) with NaN, ±inf and ±0 exact and
// finite values within 4 ulp of the correctly rounded f32. Where PyTorch disagrees with
// the definition (notes.txt), the definition is what is checked: docs/activations.md.
#include "TestUtil.h"
#include "activations_testing.h"
#include "torch_fixtures.h"

#include "compiler/backend/Jit.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace {

namespace fs = std::filesystem;
using namespace slope::acttest;

using slope::torchfixtures::Case;
using slope::torchfixtures::fixtureDir;
using slope::torchfixtures::readF64Npy;

std::vector<Case> actCases() {
  std::vector<Case> cases;
  for (const Case &c : slope::torchfixtures::readIndex())
    if (c.kind == "act")
      cases.push_back(c);
  return cases;
}

} // namespace

TEST_CASE("activations: the PyTorch fixtures through the JIT") {
  std::vector<Case> cases = actCases();
  REQUIRE(cases.size() >= 60);
  REQUIRE(std::count_if(cases.begin(), cases.end(),
                        [](const Case &c) { return c.op == "softmax"; }) == 2);
  std::map<std::string, int64_t> worst;
  for (const Case &c : cases) {
    CAPTURE(c.name);
    fs::path dir = fixtureDir();
    std::vector<std::string> warnings;
    slope::torchfixtures::LoadedCase loaded = slope::torchfixtures::loadCase(c, warnings);
    auto jit = slope::backend::JitModule::compile(loaded.graph, loaded.parameters);
    REQUIRE(jit->outputWidth() == c.out);
    std::vector<float> got(static_cast<size_t>(c.batch * c.out), 12345.0f);
    REQUIRE(jit->forward(loaded.x.data.data(), got.data(), c.batch) == 0);

    std::vector<float> want;
    std::vector<bool> roundsToZero(got.size(), false); // a finite, non-zero definition
    bool exact = c.compare == "exact";
    if (exact) {
      want = slope::runtime::readNpy((dir / (c.name + ".y.npy")).string()).data;
    } else {
      REQUIRE(c.compare == "ulp");
      for (double d : readF64Npy(dir / (c.name + ".ref.npy"))) {
        if (std::isfinite(d) && d != 0 && static_cast<float>(d) == 0)
          roundsToZero[want.size()] = true;
        want.push_back(static_cast<float>(d));
      }
    }
    REQUIRE(want.size() == got.size());
    int mismatches = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      int64_t ulps = 0;
      bool ok = meetsSpec(got[i], want[i], exact, ulps);
      if (roundsToZero[i] && std::isfinite(got[i])) {
        // A definition below half the smallest subnormal: within 4 ulp across zero.
        ulps = ulpDistance(got[i], want[i]);
        ok = ulps <= 4;
      }
      worst[c.op] = std::max(worst[c.op], ulps);
      if (!ok && mismatches++ < 5) {
        INFO("element " << i << " x = " << (c.in == c.out ? loaded.x.data[i] : 0.0f) << ": got "
                        << got[i] << " expected " << want[i] << " (" << ulps << " ulp)");
        CHECK(false);
      }
    }
  }
  std::printf("max ulp of the JIT against the fixtures' double-precision definitions:\n");
  for (const auto &[op, ulps] : worst)
    std::printf("  %-14s %lld\n", op.c_str(), static_cast<long long>(ulps));
}
