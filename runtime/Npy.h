#pragma once

// NumPy .npy files: the format of network inputs and outputs, and of each
// member of an .npz archive. See docs/data-files.md for what is accepted.

#include "runtime/Tensor.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace slope::runtime {

/// Reads a .npy file (format 1.0, 2.0 or 3.0) of dtype f4, f8 or f2 in
/// either byte order, C or Fortran order, any rank. Throws DataError.
Tensor readNpy(const std::string &path);

/// Reads .npy content from memory. `displayName` starts every error message,
/// e.g. "x.npy" or "w.npz: tensor 'h1.weight'".
Tensor readNpyBytes(std::string_view bytes, const std::string &displayName);

/// Writes `t` as a little-endian f32 C-order .npy (format 1.0, the bytes that
/// numpy.save writes). The file appears complete or not at all: the content is
/// written to a temporary file in the same directory, then renamed over
/// `path`. Throws DataError.
void writeNpy(const std::string &path, const Tensor &t);

/// The bytes that writeNpy writes. Throws std::invalid_argument when `t` is
/// inconsistent (a negative dimension, or data.size() != elements()).
std::string npyBytes(const Tensor &t);

/// Sizes that an .npy stream declares in its header.
struct NpyLayout {
  uint64_t headerBytes; ///< preamble and header, i.e. the offset of the data
  uint64_t dataBytes;   ///< elements times item size
};

/// For readers of compressed containers, which must bound the memory they
/// inflate into: the layout declared by an .npy stream that starts with
/// `prefix`, or std::nullopt when `prefix` is too short to contain its
/// header. Throws DataError for a malformed header, like readNpyBytes.
std::optional<NpyLayout> npyLayoutFromPrefix(std::string_view prefix,
                                             const std::string &displayName);

} // namespace slope::runtime
