// The softmax kernel: one row at a time, over the feature axis, max-subtracted.
#pragma once

#include "compiler/codegen/KernelBuilder.h"

namespace slope::codegen {

/// out[r, :] = exp(x - m) / sum(exp(x - m)), m = max(x[r, :]), computed in double and
/// rounded to f32 once (within 1 ulp of the double-precision definition). NaN is skipped
/// by the max (so a row with a NaN comes out all NaN through the sum, as in PyTorch).
void emitSoftmaxKernel(KernelBuilder &k);

} // namespace slope::codegen
