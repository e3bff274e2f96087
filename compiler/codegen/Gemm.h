// The dense kernel: a register-blocked microkernel over packed weights, with the rest of
// its fusion group (bias, residual add, activations) applied to the accumulators in
// registers before the only store.
//
// Packed layout (what `packDenseWeights` writes and the kernel reads): the [units, in]
// weight matrix cut into panels of `lanes` consecutive units, each panel stored k-major,
// so that one vector load gives W[u0 .. u0+lanes, k]:
//
//   packed[(p * in + k) * lanes + l] = W[(p * lanes + l) * in + k], or 0 past `units`.
//
// A tile is mr rows x nv panels of accumulators; for every k it broadcasts mr inputs
// and loads nv weight vectors, mr * nv fused multiply-adds. Every accumulator sums its
// terms in increasing k whatever the tile shape, so tails and fused/unfused runs give
// identical bits.
#pragma once

#include "compiler/codegen/KernelBuilder.h"

#include <cstdint>
#include <vector>

namespace slope::codegen {

/// Floats in the packed form of a [units, in] weight matrix.
int64_t packedWeightSize(int64_t units, int64_t in, unsigned lanes);

/// Packs a row-major [units, in] weight matrix into the kernel's layout.
std::vector<float> packDenseWeights(const float *weights, int64_t units, int64_t in,
                                    unsigned lanes);

/// Emits the kernel of a group anchored on a dense node.
void emitDenseKernel(KernelBuilder &k);

} // namespace slope::codegen
