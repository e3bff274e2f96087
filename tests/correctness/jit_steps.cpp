// The JIT's step entry (codegen::stepEntryName), by which threads share a forward pass
// one fusion group at a time: a dense layer too large for L2 by column tiles, anything
// else by rows. Every group, part by part, must give forward()'s bits: for every count
// of parts (more than the column tiles, more than the rows), with the parts of a group
// run in any order, on every ISA of the host.
#include "jit_testing.h"


using namespace slope;
using namespace slope::jittest;

namespace {

/// forward() through the step entry: every group, its parts from the last to the first.
std::vector<float> stepForward(const backend::JitModule &jit, const std::vector<float> &input,
                               int64_t batch, unsigned parts) {
  std::vector<float> out(static_cast<size_t>(batch * jit.outputWidth()), 12345.0f);
  backend::JitModule::StepScratch scratch = jit.allocateStepScratch(batch);
  REQUIRE(scratch);
  for (size_t g = 0; g < jit.groups(); ++g)
    for (unsigned part = parts; part-- > 0;)
      jit.step(input.data(), out.data(), batch, scratch.get(), g, part, parts);
  return out;
}

} // namespace

TEST_CASE("jit: the step entry, group by group and part by part, gives forward's bits") {
  // Column tiles are 3 vectors (48 units) with AVX-512, 2 (16 units) with AVX2, in
  // layers whose weights exceed 512 KiB; the others split by rows.
  const std::vector<std::string> networks = {
      // 200 = 4 tiles + 8 with AVX-512: 5 tiles, the last narrower; then a layer that
      // fits in L2, a residual add after it and a softmax, which all split by rows.
      "network mixed {\n  input x : f32[1100]\n"
      "  h = dense(x, 200) |> leaky_relu(alpha = 0.2)\n"
      "  g = dense(h, 200, bias = false) |> relu()\n"
      "  r = add(g, h) |> crelu()\n"
      "  y = dense(r, 10) |> softmax()\n  output y\n}\n",
      // Two blocked layers in a row (840 and 720 KiB of weights).
      "network deep {\n  input x : f32[700]\n"
      "  h = dense(x, 300) |> elu()\n"
      "  y = dense(h, 600) |> leaky_relu(alpha = -1.5)\n  output y\n}\n",
      // K in 3 passes (2 on a host with 2 MiB of L2 or more); 40 units are a single tile with AVX-512, where any two parts or
      // more split by rows; with AVX2, 2 tiles and a rest of 8 units.
      "network wide {\n  input x : f32[4100]\n"
      "  y = dense(x, 40)\n  output y\n}\n",
  };
  for (const Isa &isa : testIsas()) {
    SUBCASE(isa.name) {
      std::mt19937_64 rng(1124);
      for (const std::string &text : networks) {
        ir::Graph graph = parseNetwork(text);
        ir::ParameterValues params = randomParameters(graph, rng);
        std::unique_ptr<backend::JitModule> jit =
            backend::JitModule::compile(graph, params, isa.options);
        bool anyColumns = false;
        for (size_t g = 0; g < jit->groups(); ++g)
          anyColumns |= jit->columnTiles(g) > 0;
        CHECK(anyColumns);
        for (int64_t batch : {1, 2, 3, 5, 8, 13, 23}) {
          std::vector<float> input =
              randomInput(rng, static_cast<size_t>(batch * graph.inputWidth()), batch % 2 == 1);
          std::vector<float> expected(static_cast<size_t>(batch * jit->outputWidth()));
          REQUIRE(jit->forward(input.data(), expected.data(), batch) == 0);
          for (unsigned parts : {1u, 2u, 3u, 4u, 7u}) {
            INFO(isa.name << ", " << graph.name << ", batch " << batch << ", " << parts
                          << " parts");
            std::vector<float> out = stepForward(*jit, input, batch, parts);
            int64_t bad = firstDifference(out, expected);
            INFO("first difference at " << bad);
            CHECK(bad == -1);
          }
        }
      }
    }
  }
}

TEST_CASE("jit: only dense layers too large for L2 share column tiles between parts") {
  std::mt19937_64 rng(7);
  ir::Graph graph = parseNetwork("network n {\n  input x : f32[1100]\n"
                                 "  h = dense(x, 200) |> leaky_relu()\n"
                                 "  g = dense(h, 64) |> relu()\n"
                                 "  y = softmax(g)\n  output y\n}\n");
  std::unique_ptr<backend::JitModule> jit =
      backend::JitModule::compile(graph, randomParameters(graph, rng));
  REQUIRE(jit->groups() == 3);
  // 200 units: 13 vectors of 16 lanes or 25 of 8, in tiles of 3 or 2 vectors.
  int64_t lanes = jit->vectorLanes();
  int64_t vectorsPerTile = lanes == 16 ? 3 : 2;
  int64_t vectors = (200 + lanes - 1) / lanes;
  CHECK(jit->columnTiles(0) == (vectors + vectorsPerTile - 1) / vectorsPerTile);
  CHECK(jit->columnTiles(1) == 0); // 200 x 64 weights: 50 KiB
  CHECK(jit->columnTiles(2) == 0);
  CHECK(jit->stepScratchFloats(3) == 3 * (200 + 64)); // h and g; y is the output
}
