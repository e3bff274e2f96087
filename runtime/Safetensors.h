#pragma once

// safetensors files: an 8-byte little-endian header length, a JSON header
// mapping each tensor name to its dtype, shape and data offsets, then the data.

#include "runtime/Tensor.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slope::runtime {

/// The tensors of a safetensors file, converted to f32 (from F32, F16, BF16 or
/// F64), in the order of their data offsets (ties broken by name).
/// "__metadata__" is ignored. Throws DataError.
std::vector<std::pair<std::string, Tensor>> readSafetensors(const std::string &path);

/// readSafetensors on content already in memory; `displayName` starts every
/// message.
std::vector<std::pair<std::string, Tensor>> readSafetensorsBytes(std::string_view bytes,
                                                                 const std::string &displayName);

} // namespace slope::runtime
