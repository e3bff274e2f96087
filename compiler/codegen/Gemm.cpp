#include "compiler/codegen/Gemm.h"

#include "compiler/codegen/Epilogue.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>

#include <algorithm>

namespace slope::codegen {

int64_t packedWeightSize(int64_t units, int64_t in, unsigned lanes) {
  int64_t panels = (units + lanes - 1) / lanes;
  return panels * in * lanes;
}

std::vector<float> packDenseWeights(const float *weights, int64_t units, int64_t in,
                                    unsigned lanes) {
  std::vector<float> packed(static_cast<size_t>(packedWeightSize(units, in, lanes)), 0.0f);
  for (int64_t u = 0; u < units; ++u) {
    int64_t panel = u / lanes;
    int64_t lane = u % lanes;
    for (int64_t i = 0; i < in; ++i)
      packed[static_cast<size_t>((panel * in + i) * lanes + lane)] = weights[u * in + i];
  }
  return packed;
}

namespace {

struct DenseShape {
  const ir::Node *dense;
  int64_t in;
  int64_t units;
  Matrix x;
  llvm::Value *weights;
  llvm::Value *bias; // null without bias
  unsigned mr;       // rows in a full tile
  unsigned nv;       // panels in a full tile
};

/// The weight vector W[col .. col+lanes, kk] (only the first `active` lanes exist).
llvm::Value *loadWeights(KernelBuilder &k, const DenseShape &s, llvm::Value *panel,
                         llvm::Value *kk, unsigned active) {
  int64_t lanes = k.target.lanes;
  if (k.packedWeights) {
    llvm::Value *index =
        k.b.CreateMul(k.b.CreateAdd(k.b.CreateMul(panel, k.i64c(s.in)), kk), k.i64c(lanes));
    return k.loadVector(s.weights, index, nullptr);
  }
  // The user's [units, in] layout (parameters passed at run time, not packed): a strided
  // gather. Correct but slow; the packed form is what the fast path reads.
  llvm::Value *first = k.b.CreateAdd(
      k.b.CreateMul(k.b.CreateMul(panel, k.i64c(lanes)), k.i64c(s.in)), kk);
  std::vector<llvm::Constant *> offsets;
  for (int64_t l = 0; l < lanes; ++l)
    offsets.push_back(k.i64c(l * s.in));
  llvm::Value *indices =
      k.b.CreateAdd(k.b.CreateVectorSplat(k.target.lanes, first), llvm::ConstantVector::get(offsets));
  llvm::Value *ptrs = k.b.CreateInBoundsGEP(k.f32(), s.weights, indices);
  llvm::Constant *mask = k.laneMask(active);
  if (!mask)
    mask = llvm::ConstantVector::getSplat(llvm::ElementCount::getFixed(k.target.lanes),
                                          k.b.getTrue());
  return k.b.CreateMaskedGather(k.vec(), ptrs, llvm::Align(4), mask,
                                llvm::ConstantAggregateZero::get(k.vec()));
}

/// The inputs k0 .. k0+length of one pass over K. Only the first pass starts its sums
/// from +0; the others continue the partial sums the previous pass stored in the output.
/// Only the last pass applies the epilogue (bias, the fused chain) to the full sums.
struct KRange {
  llvm::Value *k0;
  int64_t length;
  bool first;
  bool last;
};

/// One tile: rows row0 .. row0+mr, panels panel0 .. panel0+nv; the last panel has only
/// `lastActive` columns.
void emitTile(KernelBuilder &k, const DenseShape &s, unsigned mr, unsigned nv,
              unsigned lastActive, llvm::Value *row0, llvm::Value *panel0,
              const KRange &kr) {
  llvm::IRBuilder<> &b = k.b;
  std::vector<llvm::Value *> xRow(mr);
  for (unsigned r = 0; r < mr; ++r)
    xRow[r] = b.CreateMul(b.CreateAdd(row0, k.i64c(r)), k.i64c(s.x.stride));
  auto outIndex = [&](unsigned r, unsigned v) {
    llvm::Value *col = b.CreateMul(b.CreateAdd(panel0, k.i64c(v)), k.i64c(k.target.lanes));
    llvm::Value *row = b.CreateAdd(row0, k.i64c(r));
    return b.CreateAdd(b.CreateMul(row, k.i64c(k.output.stride)), col);
  };
  auto maskOf = [&](unsigned v) {
    return k.laneMask(v + 1 == nv ? lastActive : k.target.lanes);
  };

  // Partial sums are stored as f32 and reloaded exactly, so a split K sums the same
  // terms in the same order as one pass.
  std::vector<llvm::Value *> init(mr * nv, llvm::ConstantAggregateZero::get(k.vec()));
  if (!kr.first)
    for (unsigned r = 0; r < mr; ++r)
      for (unsigned v = 0; v < nv; ++v)
        init[r * nv + v] = k.loadVector(k.output.base, outIndex(r, v), maskOf(v));

  std::vector<llvm::Value *> acc =
      k.loop("k", k.i64c(kr.length), init, [&](llvm::Value *i, std::vector<llvm::Value *> &c) {
        llvm::Value *kk = b.CreateAdd(kr.k0, i);
        std::vector<llvm::Value *> w(nv);
        for (unsigned v = 0; v < nv; ++v)
          w[v] = loadWeights(k, s, b.CreateAdd(panel0, k.i64c(v)), kk,
                             v + 1 == nv ? lastActive : k.target.lanes);
        for (unsigned r = 0; r < mr; ++r) {
          llvm::Value *xb = k.broadcast(s.x.base, b.CreateAdd(xRow[r], kk));
          for (unsigned v = 0; v < nv; ++v)
            c[r * nv + v] =
                b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {k.vec()}, {xb, w[v], c[r * nv + v]});
        }
      });

  if (!kr.last) {
    for (unsigned r = 0; r < mr; ++r)
      for (unsigned v = 0; v < nv; ++v)
        k.storeVector(acc[r * nv + v], k.output.base, outIndex(r, v), maskOf(v));
    return;
  }
  for (unsigned v = 0; v < nv; ++v) {
    llvm::Constant *mask = maskOf(v);
    llvm::Value *col =
        b.CreateMul(b.CreateAdd(panel0, k.i64c(v)), k.i64c(k.target.lanes));
    llvm::Value *bias = s.bias ? k.loadVector(s.bias, col, mask) : nullptr;
    for (unsigned r = 0; r < mr; ++r) {
      llvm::Value *row = b.CreateAdd(row0, k.i64c(r));
      llvm::Value *y = acc[r * nv + v];
      if (bias)
        y = b.CreateFAdd(y, bias);
      y = applyChain(k, 1, y, row, col, mask);
      llvm::Value *outIndex = b.CreateAdd(b.CreateMul(row, k.i64c(k.output.stride)), col);
      k.storeVector(y, k.output.base, outIndex, mask);
    }
  }
}

/// The column tiles: `fullBlocks` of s.nv panels, then one narrower tile for the rest.
struct ColumnTiles {
  int64_t fullBlocks;
  unsigned restPanels; // 0 when the full tiles cover every unit
  unsigned restActive; // columns in the rest tile's last panel
};

ColumnTiles columnTiles(const KernelBuilder &k, const DenseShape &s) {
  int64_t lanes = k.target.lanes;
  int64_t blockColumns = s.nv * lanes;
  ColumnTiles t{s.units / blockColumns, 0, 0};
  int64_t rest = s.units - t.fullBlocks * blockColumns;
  if (rest > 0) {
    t.restPanels = static_cast<unsigned>((rest + lanes - 1) / lanes);
    t.restActive = static_cast<unsigned>(rest - (t.restPanels - 1) * lanes);
  }
  return t;
}

/// Every column of rows row0 .. row0+mr: full tiles of s.nv panels, then the rest.
void emitRowBlock(KernelBuilder &k, const DenseShape &s, unsigned mr, llvm::Value *row0,
                  const KRange &kr) {
  ColumnTiles t = columnTiles(k, s);
  k.loop("panels", k.i64c(t.fullBlocks), [&](llvm::Value *blk) {
    emitTile(k, s, mr, s.nv, k.target.lanes, row0, k.b.CreateMul(blk, k.i64c(s.nv)), kr);
  });
  if (t.restPanels > 0)
    emitTile(k, s, mr, t.restPanels, t.restActive, row0, k.i64c(t.fullBlocks * s.nv), kr);
}

/// Every row of the tile column at panel0: blocks of s.mr rows, then single rows.
void emitColumnTile(KernelBuilder &k, const DenseShape &s, unsigned nv, unsigned lastActive,
                    llvm::Value *panel0, const KRange &kr) {
  llvm::Value *fullRowBlocks = k.b.CreateSDiv(k.rows, k.i64c(s.mr));
  k.loop("rows", fullRowBlocks, [&](llvm::Value *blk) {
    emitTile(k, s, s.mr, nv, lastActive, k.b.CreateMul(blk, k.i64c(s.mr)), panel0, kr);
  });
  llvm::Value *done = k.b.CreateMul(fullRowBlocks, k.i64c(s.mr));
  k.loop("tail_rows", k.b.CreateSub(k.rows, done), [&](llvm::Value *r) {
    emitTile(k, s, 1, nv, lastActive, k.b.CreateAdd(done, r), panel0, kr);
  });
}

/// One pass over the inputs kr.k0 .. +kr.length for every row and column, column tiles
/// outside: the tile's weight panel (kr.length x nv*lanes floats) stays in L2 while every
/// row block streams its inputs past it.
void emitKPass(KernelBuilder &k, const DenseShape &s, const KRange &kr) {
  ColumnTiles t = columnTiles(k, s);
  k.loop("col_tiles", k.i64c(t.fullBlocks), [&](llvm::Value *blk) {
    emitColumnTile(k, s, s.nv, k.target.lanes, k.b.CreateMul(blk, k.i64c(s.nv)), kr);
  });
  if (t.restPanels > 0)
    emitColumnTile(k, s, t.restPanels, t.restActive, k.i64c(t.fullBlocks * s.nv), kr);
}

} // namespace

void emitDenseKernel(KernelBuilder &k) {
  const ir::Node &dense = k.graph.node(k.group.nodes.front());
  DenseShape s;
  s.dense = &dense;
  s.in = k.graph.node(dense.operands[0]).width;
  s.units = dense.width;
  s.x = k.values.at(dense.operands[0]);
  s.weights = k.params.at(dense.weightKey());
  s.bias = dense.hasBias() ? k.params.at(dense.biasKey()) : nullptr;

  // Register tile: nv panels wide (fewer when the layer is narrower), as many rows as
  // leave registers for the weight vectors and one broadcast.
  int64_t panels = (s.units + k.target.lanes - 1) / k.target.lanes;
  unsigned maxPanels = k.target.vectorRegisters >= 32 ? 4 : 2;
  s.nv = static_cast<unsigned>(std::min<int64_t>(maxPanels, panels));
  s.mr = std::min(6u, (k.target.vectorRegisters - s.nv - 1) / s.nv);

  // Weights that fit in L2 are read once per block of rows, rows outside: nothing to
  // block. Larger ones are cut into passes over at most kMaxKBlock inputs, column tiles
  // outside rows, so that a weight panel block (<= 128 KiB with AVX-512) stays in L2 and
  // the rows' inputs for the pass (6 x 2 KiB) in L1.
  constexpr int64_t kUnblockedWeightBytes = 512 * 1024;
  constexpr int64_t kMaxKBlock = 512;
  if (s.units * s.in * 4 <= kUnblockedWeightBytes) {
    KRange all{k.i64c(0), s.in, true, true};
    llvm::Value *fullRowBlocks = k.b.CreateSDiv(k.rows, k.i64c(s.mr));
    k.loop("rows", fullRowBlocks, [&](llvm::Value *blk) {
      emitRowBlock(k, s, s.mr, k.b.CreateMul(blk, k.i64c(s.mr)), all);
    });
    llvm::Value *done = k.b.CreateMul(fullRowBlocks, k.i64c(s.mr));
    k.loop("tail_rows", k.b.CreateSub(k.rows, done), [&](llvm::Value *r) {
      emitRowBlock(k, s, 1, k.b.CreateAdd(done, r), all);
    });
    return;
  }
  int64_t passes = (s.in + kMaxKBlock - 1) / kMaxKBlock;
  int64_t kc = (s.in + passes - 1) / passes;
  int64_t lastLength = s.in - (passes - 1) * kc;
  if (passes == 1) {
    emitKPass(k, s, KRange{k.i64c(0), s.in, true, true});
    return;
  }
  emitKPass(k, s, KRange{k.i64c(0), kc, true, false});
  k.loop("k_passes", k.i64c(passes - 2), [&](llvm::Value *p) {
    llvm::Value *k0 = k.b.CreateMul(k.b.CreateAdd(p, k.i64c(1)), k.i64c(kc));
    emitKPass(k, s, KRange{k0, kc, false, false});
  });
  emitKPass(k, s, KRange{k.i64c((passes - 1) * kc), lastLength, false, true});
}

} // namespace slope::codegen
