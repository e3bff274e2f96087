// The index of the PyTorch-generated fixtures (tests/fixtures/torch/index.tsv), read
// by every test that runs them.
#pragma once

#include "TestUtil.h"

#include "compiler/passes/Pipeline.h"
#include "runtime/Npy.h"
#include "src/Driver.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
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

/// Reads a .npy file of f64 values without converting them to f32 (runtime::readNpy
/// converts): only the little-endian C-order '<f8' files the fixture script writes.
inline std::vector<double> readF64Npy(const std::filesystem::path &path,
                                       std::vector<int64_t> &shape) {
  std::string bytes = slope::testutil::readBytes(path);
  REQUIRE(bytes.compare(0, 6, "\x93NUMPY") == 0);
  size_t headerLength, offset;
  if (bytes[6] == 1) {
    headerLength = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else {
    headerLength = 0;
    for (int i = 0; i < 4; ++i)
      headerLength |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    offset = 12;
  }
  std::string header = bytes.substr(offset, headerLength);
  REQUIRE(header.find("'descr': '<f8'") != std::string::npos);
  REQUIRE(header.find("'fortran_order': False") != std::string::npos);
  size_t open = header.find("'shape': (");
  REQUIRE(open != std::string::npos);
  size_t close = header.find(')', open);
  std::string dims = header.substr(open + 10, close - open - 10);
  shape.clear();
  std::istringstream in(dims);
  std::string item;
  int64_t n = 1;
  while (std::getline(in, item, ','))
    if (item.find_first_not_of(' ') != std::string::npos) {
      shape.push_back(std::stoll(item));
      n *= shape.back();
    }
  size_t data = offset + headerLength;
  REQUIRE(bytes.size() == data + static_cast<size_t>(n) * 8);
  std::vector<double> values(static_cast<size_t>(n));
  std::memcpy(values.data(), bytes.data() + data, values.size() * 8);
  return values;
}

inline std::vector<double> readF64Npy(const std::filesystem::path &path) {
  std::vector<int64_t> shape;
  return readF64Npy(path, shape);
}

/// A case ready to run: its network fused, its parameters bound (from
/// NAME.safetensors, or random when it has none) and its input (NAME.x.npy, checked
/// against the index's shape).
struct LoadedCase {
  ir::Graph graph;
  ir::ParameterValues parameters;
  runtime::Tensor x;
};

inline LoadedCase loadCase(const Case &c, std::vector<std::string> &warnings) {
  std::filesystem::path dir = fixtureDir();
  std::unique_ptr<Source> source = driver::readSource((dir / (c.name + ".slope")).string());
  ir::Module module = driver::compileSource(*source);
  LoadedCase loaded;
  loaded.graph = driver::selectNetwork(module, "", *source);
  passes::runPipeline(loaded.graph);
  Options options;
  if (c.params)
    options.weights = (dir / (c.name + ".safetensors")).string();
  loaded.parameters = driver::loadParameters(loaded.graph, options, warnings);
  loaded.x = runtime::readNpy((dir / (c.name + ".x.npy")).string());
  REQUIRE(loaded.x.shape == std::vector<int64_t>{c.batch, c.in});
  REQUIRE(loaded.graph.inputWidth() == c.in);
  return loaded;
}

} // namespace slope::torchfixtures
