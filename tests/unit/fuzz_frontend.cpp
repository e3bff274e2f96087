// Mutation testing of the frontend: thousands of corrupted variants of the golden
// sources (bytes flipped, deleted, duplicated, spliced) must each either compile or be
// rejected with at least one diagnostic; none may crash, hang or assert. Deterministic:
// the seed is fixed, so a failure reproduces.
#include "compiler/passes/Pipeline.h"
#include "frontend/Lower.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace {

std::vector<std::string> corpus() {
  std::vector<std::string> texts;
  std::filesystem::path dir = std::filesystem::path(SLOPE_SOURCE_DIR) / "tests/golden/diagnostics";
  std::vector<std::filesystem::path> files;
  for (const auto &entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".slope")
      files.push_back(entry.path());
  // Valid sources too, so that many mutants still compile and reach the passes.
  for (const auto &entry : std::filesystem::directory_iterator(
           std::filesystem::path(SLOPE_SOURCE_DIR) / "tests/fixtures/torch"))
    if (entry.path().extension() == ".slope")
      files.push_back(entry.path());
  files.push_back(std::filesystem::path(SLOPE_SOURCE_DIR) / "samples/digits/digits.slope");
  std::sort(files.begin(), files.end());
  for (const auto &path : files) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    texts.push_back(std::move(text).str());
  }
  return texts;
}

std::string mutate(std::string text, const std::vector<std::string> &others, std::mt19937 &rng) {
  static const char kInteresting[] = "(){}[],:=|>#\"\n -.e0123456789xyz_\x80\xff";
  int edits = 1 + int(rng() % 3);
  for (int e = 0; e < edits; ++e) {
    size_t at = text.empty() ? 0 : rng() % text.size();
    switch (rng() % 5) {
    case 0: // replace a byte
      if (!text.empty())
        text[at] = kInteresting[rng() % (sizeof(kInteresting) - 1)];
      break;
    case 1: // delete a run
      text.erase(at, rng() % 8);
      break;
    case 2: // insert a byte
      text.insert(text.begin() + long(at), kInteresting[rng() % (sizeof(kInteresting) - 1)]);
      break;
    case 3: { // duplicate a run
      std::string run = text.substr(at, rng() % 16);
      text.insert(at, run);
      break;
    }
    default: { // splice in a piece of another file
      const std::string &other = others[rng() % others.size()];
      size_t from = other.empty() ? 0 : rng() % other.size();
      text.insert(at, other.substr(from, rng() % 40));
      break;
    }
    }
  }
  return text;
}

} // namespace

TEST_CASE("fuzz: corrupted sources never crash the frontend") {
  std::vector<std::string> texts = corpus();
  REQUIRE(texts.size() > 10);
  std::mt19937 rng(20261124);
  size_t rejected = 0, accepted = 0;
  for (int i = 0; i < 6000; ++i) {
    std::string text = mutate(texts[size_t(i) % texts.size()], texts, rng);
    slope::Source source("fuzz.slope", text);
    slope::DiagnosticEngine diags(source);
    std::optional<slope::ir::Module> module = slope::compileToIR(source, diags);
    // Either a module and no error, or no module and at least one error: never both,
    // never neither.
    CHECK(module.has_value() == !diags.hasErrors());
    if (module) {
      ++accepted;
      // What the frontend accepts, the passes take without breaking an invariant (the
      // verifier aborts if one breaks).
      for (slope::ir::Graph &graph : module->networks)
        slope::passes::runPipeline(graph);
    } else {
      ++rejected;
    }
    // Rendering must work for every diagnostic (ranges inside the text).
    std::string rendered = diags.render();
    CHECK(rendered.size() >= diags.diagnostics().size());
  }
  MESSAGE("accepted ", accepted, ", rejected ", rejected);
  CHECK(rejected > 1000);
  CHECK(accepted > 100);
}
