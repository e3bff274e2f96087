// The index of the PyTorch-generated fixtures (tests/fixtures/torch/index.tsv), read
// by every test that runs them.
#pragma once

#include "TestUtil.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

namespace slope::torchfixtures {

inline std::filesystem::path fixtureDir() {
  return slope::testutil::sourceDir() / "tests" / "fixtures" / "torch";
}

struct Case {
  std::string name, kind, op, compare;
  int64_t batch = 0, in = 0, out = 0;
  bool params = false;
};

/// Every case of index.tsv, in file order.
inline std::vector<Case> readIndex() {
  std::istringstream text(slope::testutil::readBytes(fixtureDir() / "index.tsv"));
  std::string line;
  std::getline(text, line); // header
  REQUIRE(line == "name\tkind\top\tcompare\tbatch\tin\tout\tparams");
  std::vector<Case> cases;
  while (std::getline(text, line)) {
    if (line.empty())
      continue;
    std::istringstream row(line);
    Case c;
    std::string params;
    std::getline(row, c.name, '\t');
    std::getline(row, c.kind, '\t');
    std::getline(row, c.op, '\t');
    std::getline(row, c.compare, '\t');
    row >> c.batch >> c.in >> c.out >> params;
    c.params = params == "yes";
    cases.push_back(c);
  }
  return cases;
}

} // namespace slope::torchfixtures
