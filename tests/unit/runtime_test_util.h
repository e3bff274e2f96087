#pragma once

// Helpers for the data-file tests (runtime_*.cpp): fixture paths, scratch
// files, and byte builders for hand-made hostile files.

#include "runtime/Tensor.h"

#include <bit>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace slope::runtime::testing {

inline std::string fixture(const std::string &name) {
  return std::string(SLOPE_SOURCE_DIR) + "/tests/fixtures/data/" + name;
}

/// A path in the test scratch directory; every test case uses its own names
/// because ctest may run the cases in parallel.
inline std::string scratch(const std::string &name) {
  return std::string(SLOPE_TEST_TMPDIR) + "/runtime_" + name;
}

inline std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// `value` as `count` little-endian bytes.
inline std::string le(uint64_t value, int count) {
  std::string out;
  for (int i = 0; i < count; ++i)
    out += static_cast<char>((value >> (8 * i)) & 0xff);
  return out;
}

inline std::vector<uint32_t> bitsOf(const std::vector<float> &values) {
  std::vector<uint32_t> out;
  for (float f : values)
    out.push_back(std::bit_cast<uint32_t>(f));
  return out;
}

inline std::string f32Bytes(const std::vector<float> &values) {
  std::string out;
  for (float f : values)
    out += le(std::bit_cast<uint32_t>(f), 4);
  return out;
}

/// An .npy with exactly this header text (no padding added) and data.
inline std::string npyWithHeader(const std::string &header, const std::string &data,
                                 int major = 1) {
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  out += major == 1 ? le(header.size(), 2) : le(header.size(), 4);
  return out + header + data;
}

inline std::string f32Header(const std::string &shape) {
  return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }\n";
}

/// What a call throws: the message of a DataError, or a description of
/// anything else (so that a test shows it rather than crashing).
template <typename F> std::string errorOf(F &&f) {
  try {
    f();
  } catch (const DataError &e) {
    return e.what();
  } catch (const std::exception &e) {
    return std::string("unexpected exception: ") + e.what();
  }
  return "no error";
}

} // namespace slope::runtime::testing
