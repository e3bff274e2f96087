#pragma once

// Weights files: safetensors or NumPy .npz, recognized by their content.

#include "runtime/Tensor.h"

#include <string>
#include <utility>
#include <vector>

namespace slope::runtime {

/// The tensors of a weights file, whatever its name: a zip archive (local
/// header or empty-archive signature) is read as .npz, anything else whose
/// first 8 bytes can be a safetensors header length as safetensors. Throws
/// DataError, also for a missing, unreadable or empty file or an unknown format.
std::vector<std::pair<std::string, Tensor>> loadWeights(const std::string &path);

} // namespace slope::runtime
