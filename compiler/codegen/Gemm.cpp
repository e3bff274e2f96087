#include "compiler/codegen/Gemm.h"

#include "compiler/codegen/Epilogue.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>

#include <algorithm>
#include <cassert>
#include <functional>
#include <string>

namespace slope::codegen {

DenseTiling denseTiling(int64_t units, int64_t in, const TargetSpec &target) {
  DenseTiling t;
  t.lanes = target.lanes;
  t.kBlocked = units * in * 4 > DenseTiling::kUnblockedWeightBytes;
  // Register tile: nv vectors wide (fewer when the layer is narrower), as many rows as
  // leave registers for the weight vectors and one broadcast. With 32 registers: 6 x 4
  // for weights that stay in L2, where batch 1 runs single-row tiles whose speed is the
  // number of independent accumulator chains (4); 8 x 3 for larger weights, streamed
  // once per column tile, where 8-row blocks divide the usual batch sizes (16, 64, ...)
  // with no clamped rest; 8 x 1 for layers a single vector wide, whose 6 rows would be
  // too few accumulator chains to keep both FMA ports busy.
  int64_t vectors = std::max<int64_t>((units + t.lanes - 1) / t.lanes, 1);
  bool wide = target.vectorRegisters >= 32;
  unsigned maxVectors = wide ? (t.kBlocked ? 3 : 4) : 2;
  t.nv = static_cast<unsigned>(std::min<int64_t>(maxVectors, vectors));
  t.mr = std::min(wide && (t.kBlocked || t.nv == 1) ? 8u : 6u,
                  (target.vectorRegisters - t.nv - 1) / t.nv);
  t.fullTiles = units / t.fullWidth();
  int64_t rest = units - t.fullTiles * t.fullWidth();
  if (rest > 0) {
    t.restVectors = static_cast<unsigned>((rest + t.lanes - 1) / t.lanes);
    t.restActive = static_cast<unsigned>(rest - int64_t(t.restVectors - 1) * t.lanes);
  }
  return t;
}

int64_t denseKPassLimit(const TargetSpec &target) {
  return target.l2Bytes >= 2 * 1024 * 1024 ? 4096 : 2048;
}

int64_t packedWeightSize(int64_t units, int64_t in, const TargetSpec &target) {
  int64_t lanes = target.lanes;
  return (units + lanes - 1) / lanes * lanes * in;
}

void packDenseWeightsInto(const float *weights, int64_t units, int64_t in,
                          const TargetSpec &target, float *packed) {
  DenseTiling t = denseTiling(units, in, target);
  std::fill_n(packed, packedWeightSize(units, in, target), 0.0f);
  for (int64_t u = 0; u < units; ++u) {
    int64_t tile = u / t.fullWidth();
    int64_t width = tile < t.fullTiles ? t.fullWidth() : int64_t(t.restVectors) * t.lanes;
    int64_t start = tile * t.fullWidth() * in;
    int64_t c = u - tile * t.fullWidth();
    for (int64_t i = 0; i < in; ++i)
      packed[start + i * width + c] = weights[u * in + i];
  }
}

std::vector<float> packDenseWeights(const float *weights, int64_t units, int64_t in,
                                    const TargetSpec &target) {
  std::vector<float> packed(static_cast<size_t>(packedWeightSize(units, in, target)));
  packDenseWeightsInto(weights, units, in, target, packed.data());
  return packed;
}

namespace {

/// How the K-blocked kernel cuts K: passes of at most denseKPassLimit inputs, as even as
/// possible.
struct KSplit {
  int64_t passes;
  int64_t length;     // inputs in every pass but the last
  int64_t lastLength; // inputs in the last
};

KSplit kSplit(int64_t in, const TargetSpec &target) {
  const int64_t limit = denseKPassLimit(target);
  int64_t passes = std::max<int64_t>(1, (in + limit - 1) / limit);
  int64_t length = (in + passes - 1) / passes;
  return KSplit{passes, length, in - (passes - 1) * length};
}

struct DenseShape {
  const ir::Node *dense;
  int64_t in;
  int64_t units;
  Matrix x;
  llvm::Value *weights;
  bool weightsPacked; // the packed layout, else the user's [units, in]
  llvm::Value *bias;  // null without bias
  DenseTiling tiling;
  /// The weights stream from L3 or memory: prefetch them ahead of the loads.
  bool streamWeights = false;
  /// The tiles run in blocks of rows, one after the other: each may prefetch the next
  /// block's inputs (kNextInputsPrefetchMaxBytes).
  bool rowBlocks = false;
  /// Chunk by chunk (emitChunkedColumnsOrElse): the row blocks of a chunk, this many (i64),
  /// share the prefetch of the weight stream kChunkStreamAheadBytes ahead, each its own
  /// part of it. Null otherwise.
  llvm::Value *streamBlocks = nullptr;
};

/// How far ahead of its loads a streaming tile prefetches its weights. A single stream
/// stalls at every 4 KiB page, where the hardware prefetcher stops; 4 KiB ahead ran a
/// 1024 x 1024 layer at batch 1 (weights from L3) 20% faster; 1, 2 and 8 KiB were no
/// better (docs/codegen.md).
constexpr int64_t kWeightPrefetchBytes = 4096;

/// One column tile: `nv` vectors from unit `firstColumn`, the last with `lastActive`
/// columns; its packed weights start at float `weightStart`, `nv * lanes` per k. A tile
/// may also span several packed tiles side by side (`packedNv` < nv: vector v is then
/// vector v % packedNv of packed tile v / packedNv), as a single row does at batch 1 to
/// keep more independent sums in flight.
struct ColumnTile {
  llvm::Value *firstColumn;
  llvm::Value *weightStart;
  unsigned nv;
  unsigned lastActive;
  unsigned packedNv = 0; // vectors per k in the packed layout; 0: nv

  unsigned vectorsPerK() const { return packedNv ? packedNv : nv; }
};

/// The inputs k0 .. k0+length of one pass over K. Only the first pass starts its sums
/// from +0; the others continue the partial sums the previous pass stored in the output.
/// Only the last pass applies the epilogue (bias, the fused chain) to the full sums.
struct KRange {
  llvm::Value *k0;
  int64_t length;
  bool first;
  bool last;
  /// Set where one instance runs the first range and later ones (`first` false): the
  /// sums start from +0 where it holds (i1), else from the output.
  llvm::Value *firstAtRunTime = nullptr;
};

/// Where the weight vector W[col .. col+lanes, kk] for vector v of the tile starts in the
/// packed layout, plus `ahead` floats.
llvm::Value *weightIndex(KernelBuilder &k, const DenseShape &s, const ColumnTile &t,
                         unsigned v, llvm::Value *kk, int64_t ahead = 0) {
  int64_t lanes = k.target.lanes;
  int64_t perK = int64_t(t.vectorsPerK()) * lanes;
  int64_t within = (v / t.vectorsPerK()) * perK * s.in + (v % t.vectorsPerK()) * lanes;
  return k.b.CreateAdd(t.weightStart,
                       k.b.CreateAdd(k.b.CreateMul(kk, k.i64c(perK)), k.i64c(within + ahead)));
}

/// The weight vector W[col .. col+lanes, kk] for vector v of the tile, from the packed
/// layout (lanes past `units` hold zeros there).
llvm::Value *loadWeights(KernelBuilder &k, const DenseShape &s, const ColumnTile &t,
                         unsigned v, llvm::Value *kk) {
  return k.loadVector(s.weights, weightIndex(k, s, t, v, kk), nullptr);
}

/// A prefetch of the cache line at `address` for reading, into every level (the address
/// may lie past the data: a prefetch never faults).
void emitPrefetch(KernelBuilder &k, llvm::Value *address) {
  llvm::Function *prefetch = llvm::Intrinsic::getDeclaration(
      k.function->getParent(), llvm::Intrinsic::prefetch, {k.b.getPtrTy()});
  // Read, high locality (into every level), data cache.
  k.b.CreateCall(prefetch, {address, k.b.getInt32(0), k.b.getInt32(3), k.b.getInt32(1)});
}

/// A prefetch of the weights vector v of the tile will load kWeightPrefetchBytes later.
void prefetchWeights(KernelBuilder &k, const DenseShape &s, const ColumnTile &t, unsigned v,
                     llvm::Value *kk) {
  llvm::Value *index = weightIndex(k, s, t, v, kk, kWeightPrefetchBytes / 4);
  emitPrefetch(k, k.b.CreateGEP(k.f32(), s.weights, index, "weights.ahead"));
}

/// The inputs of the next block of rows, up to this many bytes, are prefetched into L1
/// while a block runs over the whole K. Those of the 784 x 128 layer's next 6 rows
/// (18 KiB) come from L3 at batch 1024 (the inputs, 3.1 MiB, outgrow L2), and the
/// prefetch ran that layer 4% faster and the 784->128->64->10 MLP 3-4%; 1024 x 1024 at
/// batch 256 (32 KiB, from L2) ran 3% faster in one set of alternating runs and within
/// the noise in another. A larger next block (4096 x 4096: 128 KiB) would evict the
/// current one's inputs from L1, and prefetched into L2 instead it ran no faster.
constexpr int64_t kNextInputsPrefetchMaxBytes = 32 * 1024;

/// The cache line a prefetch brings in (x86-64 and most AArch64 cores; where lines are
/// longer, a run prefetched line by line is still covered, only some prefetches repeat).
constexpr int64_t kCacheLineBytes = 64;

/// At two to kChunkedMaxBlocks blocks of rows, a layer whose weights stream from L3 or
/// memory runs each column tile a chunk of kChunkInputs inputs at a time, every row block
/// on the chunk (in L1) before the next, and the blocks share the prefetch of the stream,
/// kChunkStreamAheadBytes ahead of the chunk, evenly: the stream then runs while every
/// block computes. One block after the other over the whole K, as at more blocks, the
/// stream stands still while the later blocks compute from L2. Measured against that
/// order (medians of alternating runs): 1024 x 1024 at batch 16 ran in 0.88x the time, at
/// 24 in 0.93x, at 32 in 0.98x; 4096 x 4096 at 16 in 0.84x, at 32 in 0.90x; 1024 x 1024
/// at 40 to 64 (5 to 8 blocks) within 3% either way. Chunks of 64 and 256 inputs, and
/// 8 to 32 KiB ahead, were no better (docs/codegen.md).
constexpr int64_t kChunkedMaxBlocks = 4;
constexpr int64_t kChunkInputs = 128;
constexpr int64_t kChunkStreamAheadBytes = 16 * 1024;

/// Transposes a square matrix of vectors (lanes x lanes, lanes a power of two) in
/// registers: log2(lanes) rounds that swap the off-diagonal blocks of each size, two
/// two-source shuffles per pair of vectors per round.
void transposeInRegisters(llvm::IRBuilder<> &b, std::vector<llvm::Value *> &m) {
  int n = static_cast<int>(m.size());
  for (int h = n / 2; h >= 1; h /= 2)
    for (int i = 0; i < n; ++i) {
      if (i & h)
        continue;
      std::vector<int> low(n), high(n);
      for (int j = 0; j < n; ++j) {
        low[j] = (j & h) ? n + j - h : j;
        high[j] = (j & h) ? n + j : j + h;
      }
      llvm::Value *a = b.CreateShuffleVector(m[i], m[i + h], low);
      llvm::Value *c = b.CreateShuffleVector(m[i], m[i + h], high);
      m[i] = a;
      m[i + h] = c;
    }
}

/// Vector v of column tile `t` for the `count` inputs from absolute k `k0`, read from the
/// user's row-major [units, in] layout: `lanes` units' runs along k (zeros past the
/// tile's last unit and past `count`), transposed in registers, so that element j is
/// W[first unit of the vector .. +lanes, k0 + j], what the packed layout holds per k.
std::vector<llvm::Value *> userLayoutBlock(KernelBuilder &k, const DenseShape &s,
                                           const ColumnTile &t, unsigned v, llvm::Value *k0,
                                           unsigned count) {
  llvm::IRBuilder<> &b = k.b;
  unsigned lanes = k.target.lanes;
  unsigned active = v + 1 == t.nv ? t.lastActive : lanes;
  std::vector<llvm::Value *> m(lanes, llvm::ConstantAggregateZero::get(k.vec()));
  for (unsigned i = 0; i < active; ++i) {
    llvm::Value *unit = b.CreateAdd(t.firstColumn, k.i64c(v * lanes + i));
    m[i] = k.loadVector(s.weights, b.CreateAdd(b.CreateMul(unit, k.i64c(s.in)), k0),
                        k.laneMask(count));
  }
  transposeInRegisters(b, m);
  return m;
}

/// The sums of a tile over the inputs of `kr` with its weights read straight from the
/// user's layout, without a panel: a lanes x lanes block at a time, transposed in
/// registers (userLayoutBlock) and used at once. One vector of units after the other
/// runs over the whole pass, so that `lanes` rows of the weights stream at once, as the
/// panel packer reads them. Every accumulator still adds its terms in increasing k, as
/// over packed weights.
std::vector<llvm::Value *> userLayoutSums(KernelBuilder &k, const DenseShape &s,
                                          const ColumnTile &t, unsigned mr,
                                          const std::vector<llvm::Value *> &xRow,
                                          std::vector<llvm::Value *> acc, const KRange &kr) {
  llvm::IRBuilder<> &b = k.b;
  unsigned lanes = k.target.lanes;
  int64_t chunks = kr.length / lanes;
  unsigned rest = static_cast<unsigned>(kr.length % lanes);
  for (unsigned v = 0; v < t.nv; ++v) {
    auto block = [&](llvm::Value *k0, unsigned count, std::vector<llvm::Value *> &c) {
      std::vector<llvm::Value *> m = userLayoutBlock(k, s, t, v, k0, count);
      for (unsigned j = 0; j < count; ++j) {
        llvm::Value *kk = b.CreateAdd(k0, k.i64c(j));
        for (unsigned r = 0; r < mr; ++r)
          c[r] = b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {k.vec()},
                                   {k.broadcast(xRow[r], kk), m[j], c[r]});
      }
    };
    std::vector<llvm::Value *> sums(mr);
    for (unsigned r = 0; r < mr; ++r)
      sums[r] = acc[r * t.nv + v];
    sums = k.loop("k_blocks", k.i64c(chunks), std::move(sums),
                  [&](llvm::Value *i, std::vector<llvm::Value *> &c) {
                    block(b.CreateAdd(kr.k0, b.CreateMul(i, k.i64c(lanes))), lanes, c);
                  });
    if (rest)
      block(b.CreateAdd(kr.k0, k.i64c(chunks * lanes)), rest, sums);
    for (unsigned r = 0; r < mr; ++r)
      acc[r * t.nv + v] = sums[r];
  }
  return acc;
}

/// How many k steps one iteration of a tile's loop over packed weights runs. Unrolled,
/// the loop's own instructions (counter, pointer, compare and branch) are paid once per
/// `kUnrollSteps` steps and the scheduler sees more loads to hoist ahead of their
/// multiply-adds. Measured against 1 on the AVX-512 machine of docs/PERFORMANCE.md: 2 ran
/// a 784 x 128 layer at batch 1024 7% faster and the 784->128->64->10 MLP 5-6% faster
/// at batch 64 and 1024 (4 no better); single-row tiles, whose steps are short (one
/// broadcast against the tile's vectors), ran the MLP at batch 1 7% faster with 4 (8 no
/// better). The summation order is the same: every accumulator still adds its terms in
/// increasing k.
int64_t kUnrollSteps(unsigned mr) { return mr == 1 ? 4 : 2; }

/// One register tile: rows row0 .. row0+mr of column tile `t`. With `lastRow` set, rows
/// past it are clamped to it: they load, compute and store exactly what row `lastRow`
/// does, so a tail of fewer than mr rows runs the full tile with nothing to mask.
void emitTile(KernelBuilder &k, const DenseShape &s, unsigned mr, const ColumnTile &t,
              llvm::Value *row0, llvm::Value *lastRow, const KRange &kr) {
  llvm::IRBuilder<> &b = k.b;
  unsigned nv = t.nv;
  int64_t lanes = k.target.lanes;
  // Every row's inputs and outputs as a pointer: unclamped, a constant offset from the
  // tile's first row, which the code generator folds into the addressing mode of each
  // load and store (one base register for all rows, none spilled).
  std::vector<llvm::Value *> rows(mr), xRow(mr), outRow(mr);
  llvm::Value *xBase = b.CreateInBoundsGEP(k.f32(), s.x.base, b.CreateMul(row0, k.i64c(s.x.stride)));
  llvm::Value *outBase = b.CreateInBoundsGEP(
      k.f32(), k.output.base,
      b.CreateAdd(b.CreateMul(row0, k.i64c(k.output.stride)), t.firstColumn));
  for (unsigned r = 0; r < mr; ++r) {
    rows[r] = b.CreateAdd(row0, k.i64c(r));
    if (lastRow && r > 0) {
      rows[r] = b.CreateSelect(b.CreateICmpSLT(rows[r], lastRow), rows[r], lastRow);
      xRow[r] = b.CreateInBoundsGEP(k.f32(), s.x.base, b.CreateMul(rows[r], k.i64c(s.x.stride)));
      outRow[r] = b.CreateInBoundsGEP(
          k.f32(), k.output.base,
          b.CreateAdd(b.CreateMul(rows[r], k.i64c(k.output.stride)), t.firstColumn));
    } else {
      xRow[r] = b.CreateInBoundsGEP(k.f32(), xBase, k.i64c(r * s.x.stride));
      outRow[r] = b.CreateInBoundsGEP(k.f32(), outBase, k.i64c(r * k.output.stride));
    }
  }
  auto column = [&](unsigned v) { return b.CreateAdd(t.firstColumn, k.i64c(v * lanes)); };
  auto inRow = [&](unsigned v) { return k.i64c(v * lanes); }; // vector v within a row
  auto maskOf = [&](unsigned v) {
    return k.laneMask(v + 1 == nv ? t.lastActive : k.target.lanes);
  };

  // Partial sums are stored as f32 and reloaded exactly, so a split K sums the same
  // terms in the same order as one pass.
  llvm::Constant *zero = llvm::ConstantAggregateZero::get(k.vec());
  std::vector<llvm::Value *> init(mr * nv, zero);
  auto loadSums = [&] {
    for (unsigned r = 0; r < mr; ++r)
      for (unsigned v = 0; v < nv; ++v)
        init[r * nv + v] = k.loadVector(outRow[r], inRow(v), maskOf(v));
  };
  if (kr.firstAtRunTime) {
    llvm::BasicBlock *entry = b.GetInsertBlock();
    llvm::BasicBlock *resume = llvm::BasicBlock::Create(b.getContext(), "resume_sums", k.function);
    llvm::BasicBlock *ready = llvm::BasicBlock::Create(b.getContext(), "sums_ready", k.function);
    b.CreateCondBr(kr.firstAtRunTime, ready, resume);
    b.SetInsertPoint(resume);
    loadSums();
    b.CreateBr(ready);
    b.SetInsertPoint(ready);
    for (llvm::Value *&sum : init) {
      llvm::PHINode *phi = b.CreatePHI(k.vec(), 2);
      phi->addIncoming(zero, entry);
      phi->addIncoming(sum, resume);
      sum = phi;
    }
  } else if (!kr.first) {
    loadSums();
  }

  // This block's share of the weight stream (DenseShape::streamBlocks): per k step, the
  // tile's width of weights divided among the blocks (rounded up: the shares may overlap,
  // never leave a gap), from kChunkStreamAheadBytes past the chunk's first weights, after
  // the shares of the blocks before it. A step's share is at most two lines apart from
  // the next one's (width <= 4 vectors of 64 bytes, two blocks or more), and two
  // prefetches a line apart cover it.
  llvm::Value *streamStart = nullptr, *streamStep = nullptr;
  if (s.streamBlocks && mr > 1) {
    int64_t widthBytes = int64_t(t.vectorsPerK()) * lanes * 4;
    streamStep =
        b.CreateUDiv(b.CreateAdd(k.i64c(widthBytes - 1), s.streamBlocks), s.streamBlocks);
    llvm::Value *share = b.CreateMul(streamStep, k.i64c(kr.length));
    llvm::Value *block = b.CreateUDiv(row0, k.i64c(mr));
    llvm::Value *chunk = b.CreateGEP(k.f32(), s.weights, weightIndex(k, s, t, 0, kr.k0));
    llvm::Value *offset = b.CreateAdd(k.i64c(kChunkStreamAheadBytes), b.CreateMul(block, share));
    streamStart = b.CreateGEP(b.getInt8Ty(), chunk, offset);
  }

  // One k step over packed weights: the tile's weight vectors, each row's input
  // broadcast against them.
  auto step = [&](llvm::Value *kk, std::vector<llvm::Value *> &c) {
    std::vector<llvm::Value *> w(nv);
    for (unsigned v = 0; v < nv; ++v)
      w[v] = loadWeights(k, s, t, v, kk);
    if (s.streamWeights)
      for (unsigned v = 0; v < nv; ++v)
        prefetchWeights(k, s, t, v, kk);
    if (streamStart) {
      llvm::Value *advance = b.CreateMul(b.CreateSub(kk, kr.k0), streamStep);
      llvm::Value *at = b.CreateGEP(b.getInt8Ty(), streamStart, advance, "stream.ahead");
      emitPrefetch(k, at);
      emitPrefetch(k, b.CreateGEP(b.getInt8Ty(), at, k.i64c(kCacheLineBytes)));
    }
    for (unsigned r = 0; r < mr; ++r) {
      llvm::Value *xb = k.broadcast(xRow[r], kk);
      for (unsigned v = 0; v < nv; ++v)
        c[r * nv + v] =
            b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {k.vec()}, {xb, w[v], c[r * nv + v]});
    }
  };
  std::vector<llvm::Value *> acc;
  if (!s.weightsPacked) {
    acc = userLayoutSums(k, s, t, mr, xRow, init, kr);
  } else {
    // `unroll` steps per iteration, the rest after the loop.
    const int64_t unroll = kUnrollSteps(mr);
    const int64_t iterations = kr.length / unroll;
    // The next block's rows follow this block's: with a pass over the whole K, its
    // inputs are one run of mr rows, prefetched front to back in even steps per
    // iteration (a line or more each, so that every line gets one).
    const int64_t nextBytes = int64_t(mr) * s.x.stride * 4;
    const bool prefetchNext = s.rowBlocks && mr > 1 && kr.first && kr.last && iterations > 0 &&
                              nextBytes <= kNextInputsPrefetchMaxBytes;
    const int64_t nextStep = prefetchNext ? (nextBytes + iterations - 1) / iterations : 0;
    llvm::Value *nextRows =
        prefetchNext ? b.CreateGEP(b.getInt8Ty(), xBase, k.i64c(nextBytes)) : nullptr;
    acc = k.loop("k", k.i64c(iterations), init,
                 [&](llvm::Value *i, std::vector<llvm::Value *> &c) {
      for (int64_t line = 0; line * kCacheLineBytes < nextStep; ++line)
        emitPrefetch(k, b.CreateGEP(b.getInt8Ty(), nextRows,
                                    b.CreateAdd(b.CreateMul(i, k.i64c(nextStep)),
                                                k.i64c(line * kCacheLineBytes)),
                                    "next.inputs"));
      llvm::Value *first = b.CreateAdd(kr.k0, b.CreateMul(i, k.i64c(unroll)));
      for (int64_t j = 0; j < unroll; ++j)
        step(b.CreateAdd(first, k.i64c(j)), c);
    });
    for (int64_t j = iterations * unroll; j < kr.length; ++j)
      step(b.CreateAdd(kr.k0, k.i64c(j)), acc);
  }

  // Without an epilogue (a pass that is not the last, or a bare dense), the sums are
  // the result. With one, a single-row tile applies it in registers; a taller tile
  // stores its sums and runs the epilogue as a loop over its rows on what it just
  // stored (in L1): the same bits, for a few dozen loads and stores against the tile's
  // K x mr x nv multiply-adds, and mr times less code for LLVM to compile.
  bool epilogue = kr.last && (s.bias || k.group.nodes.size() > 1);
  if (!epilogue || mr > 1) {
    for (unsigned r = 0; r < mr; ++r)
      for (unsigned v = 0; v < nv; ++v)
        k.storeVector(acc[r * nv + v], outRow[r], inRow(v), maskOf(v));
    if (!epilogue)
      return;
  }
  auto finish = [&](llvm::Value *row, unsigned v, llvm::Value *sum) {
    llvm::Constant *mask = maskOf(v);
    llvm::Value *col = column(v);
    llvm::Value *index = b.CreateAdd(b.CreateMul(row, k.i64c(k.output.stride)), col);
    if (!sum)
      sum = k.loadVector(k.output.base, index, mask);
    if (s.bias)
      sum = b.CreateFAdd(sum, k.loadVector(s.bias, col, mask));
    k.storeVector(applyChain(k, 1, sum, row, col, mask), k.output.base, index, mask);
  };
  if (mr == 1) {
    for (unsigned v = 0; v < nv; ++v)
      finish(rows[0], v, acc[v]);
    return;
  }
  // Clamped, only the rows that exist: the repeated ones hold the last row's sums, and
  // the epilogue must run once per row.
  llvm::Value *tripCount = k.i64c(mr);
  if (lastRow) {
    llvm::Value *existing = b.CreateSub(b.CreateAdd(lastRow, k.i64c(1)), row0);
    tripCount = b.CreateSelect(b.CreateICmpSLT(existing, tripCount), existing, tripCount);
  }
  k.loop("epilogue", tripCount, [&](llvm::Value *r) {
    for (unsigned v = 0; v < nv; ++v)
      finish(b.CreateAdd(row0, r), v, nullptr);
  });
}

/// Calls `body(tile)` for every column tile of the kernel (those from k.tileBegin to
/// k.tileEnd when it has a range): the full ones in a loop, then the rest. With `pairs`
/// (never with a range), the full tiles go two at a time (ColumnTile::packedNv), an odd
/// one alone.
void forEachColumnTile(KernelBuilder &k, const DenseShape &s, bool pairs,
                       const std::function<void(const ColumnTile &)> &body) {
  const DenseTiling &d = s.tiling;
  auto fullTile = [&](llvm::Value *tile) {
    return ColumnTile{k.b.CreateMul(tile, k.i64c(d.fullWidth())),
                      k.b.CreateMul(tile, k.i64c(d.fullWidth() * s.in)), d.nv, d.lanes};
  };
  auto restTile = [&] {
    return ColumnTile{k.i64c(d.fullTiles * d.fullWidth()),
                      k.i64c(d.fullTiles * d.fullWidth() * s.in), d.restVectors, d.restActive};
  };
  if (k.tileBegin) {
    assert(!pairs && "a range of column tiles is never paired");
    llvm::IRBuilder<> &b = k.b;
    llvm::Value *fullTiles = k.i64c(d.fullTiles);
    llvm::Value *fullEnd =
        b.CreateSelect(b.CreateICmpSLT(k.tileEnd, fullTiles), k.tileEnd, fullTiles);
    llvm::Value *count = b.CreateSub(fullEnd, k.tileBegin);
    count = b.CreateSelect(b.CreateICmpSGT(count, k.i64c(0)), count, k.i64c(0));
    k.loop("col_tiles", count,
           [&](llvm::Value *tile) { body(fullTile(b.CreateAdd(k.tileBegin, tile))); });
    if (d.restVectors > 0)
      k.loop("col_rest", b.CreateZExt(b.CreateICmpSGT(k.tileEnd, fullTiles), k.i64()),
             [&](llvm::Value *) { body(restTile()); });
    return;
  }
  int64_t paired = pairs ? d.fullTiles / 2 * 2 : 0;
  k.loop("col_tile_pairs", k.i64c(paired / 2), [&](llvm::Value *pair) {
    ColumnTile t = fullTile(k.b.CreateMul(pair, k.i64c(2)));
    t.nv = 2 * d.nv;
    t.packedNv = d.nv;
    body(t);
  });
  k.loop("col_tiles", k.i64c(d.fullTiles - paired),
         [&](llvm::Value *tile) { body(fullTile(k.b.CreateAdd(tile, k.i64c(paired)))); });
  if (d.restVectors > 0)
    body(restTile());
}

/// Whether `rows` rows are better run as one clamped or shifted block of mr rows than as
/// single-row tiles: a single-row tile takes about one FMA latency (4 cycles) per k, its
/// few accumulator chains being dependent, where a full tile takes its mr * nv
/// multiply-adds at two per cycle.
int64_t minBlockRows(const DenseTiling &d) {
  int64_t blockCycles = int64_t(d.mr) * d.nv / 2;
  return (blockCycles + 3) / 4; // rows * 4 cycles >= blockCycles
}

llvm::Value *blockBeatsSingleRows(KernelBuilder &k, const DenseShape &s, llvm::Value *rows) {
  return k.b.CreateICmpSGE(rows, k.i64c(minBlockRows(s.tiling)));
}

/// How forEachRowBlock cuts k.rows into blocks of mr rows.
struct RowBlocks {
  llvm::Value *fullBlocks; // blocks of mr rows that exist
  llvm::Value *rest;       // rows after them
  llvm::Value *extra;      // i1: the rest runs as one more block, else row by row
  llvm::Value *blocks;     // blocks in all
};

RowBlocks rowBlocks(KernelBuilder &k, const DenseShape &s, bool shiftLast) {
  llvm::IRBuilder<> &b = k.b;
  llvm::Value *mrc = k.i64c(s.tiling.mr);
  llvm::Value *fullBlocks = b.CreateSDiv(k.rows, mrc);
  llvm::Value *rest = b.CreateSub(k.rows, b.CreateMul(fullBlocks, mrc));
  llvm::Value *extra = blockBeatsSingleRows(k, s, rest);
  if (shiftLast)
    extra = b.CreateAnd(extra, b.CreateICmpSGE(k.rows, mrc));
  return RowBlocks{fullBlocks, rest, extra,
                   b.CreateAdd(fullBlocks, b.CreateZExt(extra, k.i64()))};
}

/// Calls `body(mr, row0, lastRow)` for every block of rows: blocks of mr rows, then the
/// rest: as one more full block when that beats single rows (blockBeatsSingleRows),
/// else row by row. That last block is either shifted back to end at the last row
/// (`shiftLast`: it recomputes rows of the block before it, which only a kernel whose
/// sums start from zero may do, and needs at least mr rows) or clamped at the last row
/// (`lastRow`: its rows past the end repeat the last one). Full blocks run the same code
/// as that last block: one tile instance, not two.
void forEachRowBlock(KernelBuilder &k, const DenseShape &s, bool shiftLast,
                     const std::function<void(unsigned mr, llvm::Value *row0,
                                              llvm::Value *lastRow)> &body) {
  unsigned mr = s.tiling.mr;
  llvm::IRBuilder<> &b = k.b;
  llvm::Value *mrc = k.i64c(mr);
  RowBlocks cut = rowBlocks(k, s, shiftLast);
  llvm::Value *fullBlocks = cut.fullBlocks, *extra = cut.extra;
  llvm::Value *lastRow = mr > 1 && !shiftLast ? b.CreateSub(k.rows, k.i64c(1)) : nullptr;
  k.loop("rows", cut.blocks, [&](llvm::Value *blk) {
    llvm::Value *row0 = b.CreateMul(blk, mrc);
    if (shiftLast)
      row0 = b.CreateSelect(b.CreateICmpSLT(blk, fullBlocks), row0, b.CreateSub(k.rows, mrc));
    body(mr, row0, lastRow);
  });
  if (mr == 1)
    return;
  llvm::Value *done = b.CreateSelect(extra, k.rows, b.CreateMul(fullBlocks, mrc));
  k.loop("tail_rows", b.CreateSub(k.rows, done),
         [&](llvm::Value *r) { body(1, b.CreateAdd(done, r), nullptr); });
}

/// Packs the weights of column tile `t` for the inputs of `kr` from the user's
/// row-major [units, in] layout into `panel`, k-major (`t.nv * lanes` floats per k, zero
/// past `units`), the layout a packed tile reads: lanes x lanes blocks are loaded along k
/// (one contiguous vector per unit) and transposed in registers.
void packPanel(KernelBuilder &k, const DenseShape &s, const ColumnTile &t, const KRange &kr,
               llvm::Value *panel) {
  llvm::IRBuilder<> &b = k.b;
  unsigned lanes = k.target.lanes;
  int64_t width = int64_t(t.nv) * lanes;
  // Vector v of the tile for the k's kk .. kk+count of the pass (kk relative to its
  // start). One vector of units at a time, so that `lanes` rows of the weights stream
  // at once, not the tile's nv * lanes.
  auto block = [&](unsigned v, llvm::Value *kk, unsigned count) {
    std::vector<llvm::Value *> m = userLayoutBlock(k, s, t, v, b.CreateAdd(kr.k0, kk), count);
    for (unsigned j = 0; j < count; ++j)
      k.storeVector(m[j], panel,
                    b.CreateAdd(b.CreateMul(b.CreateAdd(kk, k.i64c(j)), k.i64c(width)),
                                k.i64c(v * lanes)),
                    nullptr);
  };
  int64_t chunks = kr.length / lanes;
  unsigned rest = static_cast<unsigned>(kr.length % lanes);
  for (unsigned v = 0; v < t.nv; ++v) {
    k.loop("pack_k", k.i64c(chunks),
           [&](llvm::Value *c) { block(v, b.CreateMul(c, k.i64c(lanes)), lanes); });
    if (rest)
      block(v, k.i64c(chunks * lanes), rest);
  }
}

/// One pass over the inputs kr.k0 .. +kr.length for every row and column, column tiles
/// outside: the tile's weight block (kr.length x nv*lanes floats) stays in L2 while every
/// row block streams its inputs past it. Weights in the user's layout are first packed,
/// block by block, into the kernel's panel buffer (k.panel).
void emitKPass(KernelBuilder &k, const DenseShape &s, const KRange &kr) {
  forEachColumnTile(k, s, /*pairs=*/false, [&](const ColumnTile &tile) {
    DenseShape shape = s;
    // The first row block of a pass brings the tile's weight block in from L3 or memory;
    // without prefetching ahead of it, the stream stalls at every page. Prefetched in
    // every block (the later ones read it from L2, where a prefetch costs a load slot),
    // 4096 x 4096 ran 2.1-2.3x faster at batch 5 to 16, 1.16x at 64, and the same at 512;
    // 1024 x 1024 (weights in L3) the same at 16 and 256, 3% faster at 64.
    shape.streamWeights = s.weightsPacked;
    shape.rowBlocks = true;
    ColumnTile t = tile;
    if (!s.weightsPacked) {
      packPanel(k, s, tile, kr, k.panel);
      shape.weights = k.panel;
      shape.weightsPacked = true;
      // The panel holds this pass only: k is counted from kr.k0.
      t.weightStart = k.b.CreateMul(k.b.CreateNeg(kr.k0), k.i64c(int64_t(t.nv) * k.target.lanes));
    }
    forEachRowBlock(k, shape, /*shiftLast=*/false,
                    [&](unsigned mr, llvm::Value *row0, llvm::Value *lastRow) {
      emitTile(k, shape, mr, t, row0, lastRow, kr);
    });
  });
}

/// Calls `body(range)` for every range of inputs of `split`, in increasing k: a loop
/// over all but the last (one instance of `body`, told at run time whether it runs the
/// first), then the last, which applies the epilogue.
void forEachKRange(KernelBuilder &k, const KSplit &split,
                   const std::function<void(const KRange &)> &body) {
  if (split.passes == 1) {
    body(KRange{k.i64c(0), split.lastLength, true, true});
    return;
  }
  int64_t length = split.length;
  k.loop("k_passes", k.i64c(split.passes - 1), [&](llvm::Value *p) {
    KRange range{k.b.CreateMul(p, k.i64c(length)), length, false, false};
    llvm::Value *first = k.b.CreateICmpEQ(p, k.i64c(0));
    if (auto *known = llvm::dyn_cast<llvm::ConstantInt>(first))
      range.first = known->isOne(); // two ranges: the loop runs once
    else
      range.firstAtRunTime = first;
    body(range);
  });
  body(KRange{k.i64c((split.passes - 1) * length), split.lastLength, false, true});
}

/// The K-blocked kernel: every pass of kSplit.
void emitKPasses(KernelBuilder &k, const DenseShape &s) {
  forEachKRange(k, kSplit(s.in, k.target), [&](const KRange &kr) { emitKPass(k, s, kr); });
}

/// The K-blocked kernel over packed weights when k.rows makes two to kChunkedMaxBlocks
/// blocks of mr rows with no single rows after them (a clamped last block): column
/// tiles outside, then chunks of kChunkInputs inputs, then the row blocks, which share
/// the prefetch of the weight stream (DenseShape::streamBlocks). The partial sums of a
/// chunk go through the output tile (in L1) as between passes: the same bits. Other row
/// counts run `otherwise`.
void emitChunkedColumnsOrElse(KernelBuilder &k, const DenseShape &s,
                              const std::function<void()> &otherwise) {
  assert(s.weightsPacked && "the panel of user-layout weights holds whole passes");
  llvm::IRBuilder<> &b = k.b;
  const unsigned mr = s.tiling.mr;
  RowBlocks cut = rowBlocks(k, s, /*shiftLast=*/false);
  llvm::Value *chunked =
      b.CreateAnd(b.CreateAnd(b.CreateICmpSGE(cut.blocks, k.i64c(2)),
                              b.CreateICmpSLE(cut.blocks, k.i64c(kChunkedMaxBlocks))),
                  b.CreateOr(cut.extra, b.CreateICmpEQ(cut.rest, k.i64c(0))));
  llvm::BasicBlock *few = llvm::BasicBlock::Create(b.getContext(), "few_blocks", k.function);
  llvm::BasicBlock *more = llvm::BasicBlock::Create(b.getContext(), "more_blocks", k.function);
  llvm::BasicBlock *done = llvm::BasicBlock::Create(b.getContext(), "blocks_done", k.function);
  b.CreateCondBr(chunked, few, more);

  b.SetInsertPoint(few);
  DenseShape shape = s;
  shape.streamBlocks = cut.blocks;
  int64_t chunks = (s.in + kChunkInputs - 1) / kChunkInputs;
  KSplit split{chunks, kChunkInputs, s.in - (chunks - 1) * kChunkInputs};
  llvm::Value *lastRow = b.CreateSub(k.rows, k.i64c(1));
  forEachColumnTile(k, s, /*pairs=*/false, [&](const ColumnTile &t) {
    forEachKRange(k, split, [&](const KRange &kr) {
      k.loop("rows", cut.blocks, [&](llvm::Value *blk) {
        emitTile(k, shape, mr, t, b.CreateMul(blk, k.i64c(mr)), lastRow, kr);
      });
    });
  });
  b.CreateBr(done);

  b.SetInsertPoint(more);
  otherwise();
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

/// Up to s.tiling.mr / 2 rows (k.rows, known at run time), one tile of exactly that
/// many rows per column tile over the whole K; more rows run `otherwise`.
void emitFewRowsOrElse(KernelBuilder &k, const DenseShape &s,
                       const std::function<void()> &otherwise) {
  llvm::IRBuilder<> &b = k.b;
  const int64_t fewRows = s.tiling.mr / 2;
  llvm::BasicBlock *more = llvm::BasicBlock::Create(b.getContext(), "more_rows", k.function);
  llvm::BasicBlock *done = llvm::BasicBlock::Create(b.getContext(), "dense_done", k.function);
  llvm::SwitchInst *byRows = b.CreateSwitch(k.rows, more, static_cast<unsigned>(fewRows));
  KRange all{k.i64c(0), s.in, true, true};
  for (int64_t rows = 1; rows <= fewRows; ++rows) {
    llvm::BasicBlock *body =
        llvm::BasicBlock::Create(b.getContext(), "rows_" + std::to_string(rows), k.function);
    byRows->addCase(b.getInt64(static_cast<uint64_t>(rows)), body);
    b.SetInsertPoint(body);
    forEachColumnTile(k, s, /*pairs=*/false, [&](const ColumnTile &t) {
      emitTile(k, s, static_cast<unsigned>(rows), t, k.i64c(0), nullptr, all);
    });
    b.CreateBr(done);
  }
  b.SetInsertPoint(more);
  otherwise();
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

} // namespace

int64_t denseRuntimePanelFloats(int64_t units, int64_t in, const TargetSpec &target) {
  DenseTiling t = denseTiling(units, in, target);
  int64_t width = t.fullTiles > 0 ? t.fullWidth() : int64_t(t.restVectors) * t.lanes;
  return width * kSplit(in, target).length;
}

bool denseSplitsColumns(int64_t units, int64_t in, const TargetSpec &target) {
  return denseTiling(units, in, target).kBlocked;
}

void emitDenseKernel(KernelBuilder &k) {
  const ir::Node &dense = k.graph.node(k.group.nodes.front());
  DenseShape s;
  s.dense = &dense;
  s.in = k.graph.node(dense.operands[0]).width;
  s.units = dense.width;
  s.x = k.values.at(dense.operands[0]);
  s.weights = k.params.at(dense.weightKey());
  s.weightsPacked = k.packedWeights;
  s.bias = dense.hasBias() ? k.params.at(dense.biasKey()) : nullptr;
  s.tiling = denseTiling(s.units, s.in, k.target);

  // Weights that fit in L2 are read once per block of rows, rows outside: nothing to
  // block. Larger ones are cut into passes over at most denseKPassLimit inputs, column
  // tiles outside rows, so that a weight block (<= 384 KiB with AVX-512, 768 KiB with
  // a 2 MiB L2) stays in L2 while the rows' inputs for the pass stream past it.
  // Weights passed at run time in the user's layout are packed by the kernel itself, one
  // column tile and pass at a time, into a panel that the row blocks then share: the
  // K-blocked order (column tiles outside rows) whatever their size.
  // At a few rows each weight serves so few multiply-adds that writing it to the panel
  // and reading it back cost more than they do: the tiles read the user's layout and
  // transpose it in registers instead (userLayoutSums), panel-free.
  if (!s.weightsPacked) {
    emitFewRowsOrElse(k, s, [&] { emitKPasses(k, s); });
    return;
  }
  if (!s.tiling.kBlocked) {
    s.rowBlocks = true;
    KRange all{k.i64c(0), s.in, true, true};
    forEachRowBlock(k, s, /*shiftLast=*/true,
                    [&](unsigned mr, llvm::Value *row0, llvm::Value *lastRow) {
      // A single row pairs the column tiles: 2 * nv independent sums hide the FMA
      // latency that nv chains alone wait on.
      forEachColumnTile(k, s, /*pairs=*/mr == 1, [&](const ColumnTile &t) {
        emitTile(k, s, mr, t, row0, lastRow, all);
      });
    });
    return;
  }
  // Up to half a block of rows (batch 1 to 4 with AVX-512): the weights stream from L3 or
  // memory, and a clamped block of mr rows would spend mr multiply-adds per weight where
  // the stream allows a few. Each column tile runs one tile of exactly that many rows
  // over the whole K, so that the weights stream once, front to back, prefetched ahead.
  // (Up to mr - 1 rows would pay too, less and less, for two more tile instances per row
  // count to compile.) Two to four blocks run the tiles chunk by chunk, so that the
  // stream keeps running while every block computes; more blocks pass by pass.
  DenseShape streaming = s;
  streaming.streamWeights = true;
  emitFewRowsOrElse(k, streaming, [&] {
    emitChunkedColumnsOrElse(k, s, [&] { emitKPasses(k, s); });
  });
}

} // namespace slope::codegen
