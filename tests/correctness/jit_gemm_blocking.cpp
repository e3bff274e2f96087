// The cache-blocked dense kernel (weights larger than L2: K cut into passes, column tiles
// outside rows; at a few row blocks, each column tile chunk by chunk) bit for bit against
// the kernel-order evaluator, on shapes chosen for its edge cases: K not a multiple of
// the pass or chunk length, a single pass, a column tail in the last panel, a narrower
// last column tile, batches 0, 1, odd and across row blocks; with a residual add and a
// bias-free layer so that the epilogue is seen to run once, on the full sums. And the
// single-row tiles of weights that fit in L2, which pair column tiles.
#include "jit_testing.h"

using namespace slope;
using namespace slope::jittest;

namespace {

struct Shape {
  int64_t in;
  int64_t units;
  bool bias;
};

std::string blockedNetwork(const Shape &s) {
  std::string bias = s.bias ? "" : ", bias = false";
  return "network blocked {\n  input x : f32[" + std::to_string(s.in) + "]\n" +
         "  h = dense(x, " + std::to_string(s.units) + bias + ") |> leaky_relu(alpha = 0.2)\n" +
         "  r = dense(x, " + std::to_string(s.units) + ") |> leaky_relu(alpha = -1.5)\n" +
         "  y = add(h, r)\n  output y\n}\n";
}

/// Every shape on every ISA of the host at every batch, bit for bit against the
/// kernel-order evaluator.
void checkShapes(const std::vector<Shape> &shapes, const std::vector<int64_t> &batches) {
  for (const Isa &isa : testIsas()) {
    SUBCASE(isa.name) {
      std::mt19937_64 rng(20261124);
      for (const Shape &shape : shapes) {
        std::string text = blockedNetwork(shape);
        ir::Graph graph = parseNetwork(text);
        ir::ParameterValues params = randomParameters(graph, rng);
        std::unique_ptr<backend::JitModule> jit =
            backend::JitModule::compile(graph, params, isa.options);
        for (int64_t batch : batches) {
          INFO(isa.name << ", in " << shape.in << ", units " << shape.units << ", batch "
                        << batch);
          std::vector<float> input =
              randomInput(rng, static_cast<size_t>(batch * graph.inputWidth()), batch % 2 == 1);
          std::vector<float> out(static_cast<size_t>(batch * jit->outputWidth()), 12345.0f);
          REQUIRE(jit->forward(input.data(), out.data(), batch) == 0);
          if (batch == 0)
            continue;
          std::vector<float> expected =
              kernelOrderValues(graph, params, input, batch, isa.fma)[graph.output];
          REQUIRE(out.size() == expected.size());
          int64_t bad = firstDifference(out, expected);
          INFO("first difference at " << bad << ": got "
                                      << (bad >= 0 ? formatFloat(out[size_t(bad)]) : "")
                                      << ", expected "
                                      << (bad >= 0 ? formatFloat(expected[size_t(bad)]) : ""));
          CHECK(bad == -1);
        }
      }
    }
  }
}

} // namespace

TEST_CASE("jit: cache-blocked dense matches the kernel-order evaluator at every edge") {
  // weights > 512 KiB take the blocked path; passes of at most 2048 inputs, as below,
  // for the named ISAs (x86-64-v3, x86-64), and for the host's unless its L2 is 2 MiB or
  // more: then 4096 (2100 and 2052 in one pass, 4097 in two, 8200 in three). Column
  // tiles of 3 vectors (48 units) with AVX-512, 2 with AVX2 (16 units).
  const std::vector<Shape> shapes = {
      {2100, 200, true},  // 2 passes of 1050; 200 = 4 tiles + 8
      {1024, 137, false}, // 1 pass; 137 = 2 tiles + 41 (the last vector 9 wide)
      {4097, 80, true},   // 3 passes of 1366, 1366, 1365; 80 = 1 tile + 32
      {1500, 100, true},  // 1 pass of 1500; 100 = 2 tiles + 4
      {2052, 300, true},  // 2 passes of 1026: just over one pass; 300 = 6 tiles + 12
      {8200, 33, true},   // 5 passes of 1640; 33: no full tile, 3 vectors, the last 1 wide
      {100, 1400, true},  // 1 pass, shorter than one chunk; 1400 = 29 tiles + 8
  };
  // Row blocks are 8 rows with AVX-512 (6 with AVX2): a rest of 3 rows or more (2 with
  // AVX2) runs as one clamped block, a smaller one row by row; 1 to 4 rows in all (1 to
  // 3 with AVX2) run as one tile of exactly that many rows over the whole K. Two to four
  // blocks with no single rows run chunk by chunk (128 inputs: the shapes' K leave last
  // chunks of 52, 128, 1, 92, 4, 8 and 100); more blocks, or single rows after them, pass by
  // pass. Between them these batches give every rest from 1 to 7 alone and several
  // after one to four blocks, on both sides of the chunked orders' limits.
  checkShapes(shapes, {0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 13, 16, 19, 22, 23, 24, 25, 32, 33, 35});
}

TEST_CASE("jit: single rows pair the column tiles of weights that fit in L2") {
  // Column tiles of 4 vectors (64 units) with AVX-512, 2 (16 units) with AVX2; a single
  // row runs two full tiles at a time, then an odd one alone, then the narrower rest.
  const std::vector<Shape> shapes = {
      {37, 200, true},   // 3 tiles + 8: a pair, one alone, the rest
      {100, 128, false}, // 2 tiles: one pair
      {300, 320, true},  // 5 tiles: two pairs and one alone
      {19, 70, true},    // 1 tile + 6: nothing to pair with AVX-512
      {3, 130, true},    // fewer inputs than one unrolled iteration of the k loop
      {37, 10, true},    // one vector wide: blocks of 8 rows (AVX-512), any rest a block
  };
  // Blocks of 6 rows; a rest of 1 or 2 rows (AVX-512) runs row by row. The k loops
  // run 4 steps per iteration in single rows, 2 in blocks (kUnrollSteps): 37, 19 and 3
  // inputs leave a rest of 1, 3 and 3 steps after the loop (1, 1 and 1 in blocks).
  checkShapes(shapes, {1, 2, 3, 7, 8, 13, 14});
}

TEST_CASE("jit: weights that stream from L3 or memory are prefetched ahead, cached ones not") {
  // The 1100 x 200 layer takes the blocked path (its weights do not fit in L2): at 1 to
  // mr/2 rows its tiles stream them once, and at more rows each pass's first row block
  // brings them in, both with a software prefetch ahead of the loads. The 64 x 32
  // layer's weights stay in cache: no prefetch of them, only of the next block's inputs
  // (6 rows of 256 bytes, well under kNextInputsPrefetchMaxBytes).
  ir::Graph blocked = parseNetwork(blockedNetwork({1100, 200, true}));
  std::string blockedIr = backend::emitLlvmText(blocked);
  CHECK(blockedIr.find("%weights.ahead") != std::string::npos);
  // At two to four row blocks, the blocks share the prefetch of the stream instead.
  CHECK(blockedIr.find("%stream.ahead") != std::string::npos);
  ir::Graph small = parseNetwork(blockedNetwork({64, 32, true}));
  std::string smallIr = backend::emitLlvmText(small);
  CHECK(smallIr.find("%weights.ahead") == std::string::npos);
  CHECK(smallIr.find("%stream.ahead") == std::string::npos);
  CHECK(smallIr.find("%next.inputs") != std::string::npos);
  CHECK(smallIr.find("call void @llvm.prefetch") != std::string::npos);
}

TEST_CASE("jit: the next block's inputs are prefetched only while they fit in L1") {
  // Blocks of 8 rows with AVX-512, 6 with AVX2: 1500 inputs make 48,000 or 36,000
  // bytes, over the 32 KiB limit (and the tiles of up to 4 rows that stream these
  // weights have no next block); 1000 inputs 32,000 or 24,000 bytes, under it.
  CHECK(backend::emitLlvmText(parseNetwork(blockedNetwork({1500, 100, true})))
            .find("%next.inputs") == std::string::npos);
  CHECK(backend::emitLlvmText(parseNetwork(blockedNetwork({1000, 200, true})))
            .find("%next.inputs") != std::string::npos);
}
