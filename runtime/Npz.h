#pragma once

// NumPy .npz archives, as written by numpy.savez (stored) and
// numpy.savez_compressed (deflate), zip64 records included.

#include "runtime/Tensor.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slope::runtime {

/// The arrays of an .npz file in archive order, keyed by member name without
/// its ".npy" suffix. Every member must be an .npy array that readNpyBytes
/// accepts; CRC-32s are verified. Throws DataError.
std::vector<std::pair<std::string, Tensor>> readNpz(const std::string &path);

/// readNpz on content already in memory; `displayName` starts every message.
std::vector<std::pair<std::string, Tensor>> readNpzBytes(std::string_view bytes,
                                                         const std::string &displayName);

} // namespace slope::runtime
