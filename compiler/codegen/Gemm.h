// The dense kernel: a register-blocked microkernel over packed weights, with the rest of
// its fusion group (bias, residual add, activations) applied to each tile's sums while
// they are still in the core: in registers, or (tiles of several rows) stored to the
// output tile in L1 and read straight back by the epilogue loop.
//
// Packed layout (what `packDenseWeights` writes and the kernel reads): the [units, in]
// weight matrix cut into column tiles of `DenseTiling::nv` vectors (`lanes` units each;
// the last tile may be narrower), each tile stored k-major, so that the weights one k
// step of a register tile needs are one contiguous run of `width` floats:
//
//   packed[tileStart + k * width + c] = W[(firstUnit + c) * in + k], or 0 past `units`.
//
// A register tile is mr rows x nv vectors of accumulators; for every k it broadcasts mr
// inputs and loads nv weight vectors, mr * nv fused multiply-adds. Every accumulator sums
// its terms in increasing k whatever the tile shape, so tails and fused/unfused runs give
// identical bits.
#pragma once

#include "compiler/codegen/KernelBuilder.h"

#include <cstdint>
#include <vector>

namespace slope::codegen {

/// How a dense layer's columns are cut into register tiles for a target: what the
/// packer and the kernel must agree on.
struct DenseTiling {
  /// Weights up to this size are assumed to stay in L2 across blocks of rows.
  static constexpr int64_t kUnblockedWeightBytes = 512 * 1024;

  unsigned lanes = 0;      // f32 lanes per vector
  bool kBlocked = false;   // K cut into passes (weights larger than kUnblockedWeightBytes)
  unsigned nv = 0;         // vectors in a full column tile
  unsigned mr = 0;         // rows in a full register tile
  int64_t fullTiles = 0;   // column tiles of nv vectors
  unsigned restVectors = 0; // vectors in the narrower last tile (0: none)
  unsigned restActive = 0;  // units in that tile's last vector

  /// Floats of packed weights per k step in a full tile.
  int64_t fullWidth() const { return int64_t(nv) * lanes; }
  /// Column tiles in all, the narrower last one included.
  int64_t columnTiles() const { return fullTiles + (restVectors > 0 ? 1 : 0); }
};

DenseTiling denseTiling(int64_t units, int64_t in, const TargetSpec &target);

/// The most inputs one pass of the cache-blocked kernel covers: K is cut into as few
/// passes as keep under it, as even as possible. A pass's weight block (its inputs x one
/// column tile, 48 floats wide with AVX-512) must stay in L2 while the row blocks stream
/// past, and longer passes mean fewer of them: every pass but the first reloads the
/// partial sums of the whole output (8 MiB for 4096 x 4096 at batch 512). 2048 (384 KiB
/// blocks) for L2s under 2 MiB or unknown: with a 1 MiB L2 it ran 4096 x 4096 and
/// 2048 x 2048 3-4% faster than 512; 4096 (768 KiB) with 2 MiB or more, which ran 4096 x
/// 4096 at batch 512 about 2% faster than 2048 (docs/codegen.md).
int64_t denseKPassLimit(const TargetSpec &target);

/// Floats in the packed form of a [units, in] weight matrix.
int64_t packedWeightSize(int64_t units, int64_t in, const TargetSpec &target);

/// Packs a row-major [units, in] weight matrix into the kernel's layout: writes all
/// packedWeightSize floats of `packed`, the padding's zeros included.
void packDenseWeightsInto(const float *weights, int64_t units, int64_t in,
                          const TargetSpec &target, float *packed);

/// The same, into a new vector.
std::vector<float> packDenseWeights(const float *weights, int64_t units, int64_t in,
                                    const TargetSpec &target);

/// Floats of scratch (the kernel's `panel` argument) a dense kernel needs when its
/// weights come at run time in the user's [units, in] layout: it packs them there one
/// column tile and pass at a time.
int64_t denseRuntimePanelFloats(int64_t units, int64_t in, const TargetSpec &target);

/// Whether the kernel of a [units, in] dense layer over packed weights computes a range
/// of its column tiles (KernelBuilder::tileBegin), so that threads can share a layer
/// whose weights stream from L3 or memory by columns, each streaming its own part of
/// them, where a split by rows would stream them all on every thread: the K-blocked
/// layers.
bool denseSplitsColumns(int64_t units, int64_t in, const TargetSpec &target);

/// Emits the kernel of a group anchored on a dense node.
void emitDenseKernel(KernelBuilder &k);

} // namespace slope::codegen
