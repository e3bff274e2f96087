#pragma once

// Pieces shared by the data-file readers in runtime/ (not a public API).

#include "runtime/Tensor.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace slope::runtime::detail {

/// Why a file could not be read: what failed, "cannot open file" or "cannot read file",
/// and the reason, the system's (`No such file or directory`, `Is a directory`) or
/// "not a regular file" for a device such as /dev/zero, which never ends.
struct FileReadFailure {
  const char *what;
  std::string reason;
};

/// The whole content of a regular file (up to the size it had when opened) or a pipe,
/// or why it cannot be read. The source reader (src/Driver.cpp) shares it, with its own
/// wording of the failure.
std::variant<std::string, FileReadFailure> tryReadFileBytes(const std::string &path);

/// tryReadFileBytes, throwing DataError such as
/// `x.npy: cannot open file: No such file or directory`.
std::string readFileBytes(const std::string &path);

/// `text` in single quotes and safe to print in a message: quotes,
/// backslashes, control characters and bytes that are not UTF-8 are escaped,
/// and a long text is cut after 80 bytes with "...".
std::string quoted(std::string_view text);

/// `text` with control characters and bytes that are not UTF-8 escaped as
/// \xNN, safe to print.
std::string printable(std::string_view text);

/// A file to write: `bytes` to `path`.
struct OutputFile {
  std::string path;
  std::string_view bytes;
};

/// Writes every file so that no reader ever sees a part of one. A destination that is
/// a regular file or does not exist yet is written to a temporary file next to it,
/// synced, and renamed over it once every file is complete; a symbolic link is
/// followed to its target; a device or FIFO (/dev/null, /dev/stdout) is written in
/// place, before anything is renamed. A directory in the way fails before anything is
/// written. On failure no temporary file and nothing renamed is left, and DataError
/// says `PATH: cannot write file: REASON`.
void writeFilesAtomically(std::span<const OutputFile> files);

/// The first `count` bytes of `bytes` as hex pairs, e.g. "7f 45 4c 46".
std::string hexPrefix(std::string_view bytes, size_t count);

/// Exact conversions to f32 (NaN payloads, infinities and subnormals kept).
float halfToFloat(uint16_t bits);
float bfloat16ToFloat(uint16_t bits);
/// Rounds to nearest, ties to even; beyond the f32 range it gives ±inf, as a
/// hardware conversion does.
float doubleToFloat(double value);

/// The product of `dims`, or std::nullopt when some dimension is negative or
/// when the product of the non-zero dimensions times `itemSize` does not fit
/// in int64_t (a shape with a zero still has to be sane in its other
/// dimensions).
std::optional<int64_t> checkedElements(const std::vector<int64_t> &dims, int64_t itemSize);

/// Little-endian loads from unaligned bytes.
inline uint64_t loadLE(const char *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline uint16_t loadLE16(const char *p) {
  return static_cast<uint16_t>(loadLE(p, 2));
}
inline uint32_t loadLE32(const char *p) {
  return static_cast<uint32_t>(loadLE(p, 4));
}
inline uint64_t loadLE64(const char *p) {
  return loadLE(p, 8);
}

} // namespace slope::runtime::detail
