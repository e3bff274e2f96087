#pragma once

// The in-memory form of every array read from or written to a data file.
//
// Layout: `data` holds the elements in C (row-major) order, as f32, whatever
// the dtype and order in the file were. `shape` may be empty (a scalar, one
// element) and may contain zeros (no elements). Readers guarantee that every
// dimension is non-negative, that the product of the dimensions fits in
// int64_t, and that `data.size() == elements()`.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace slope::runtime {

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;

  /// The product of the dimensions (1 for a scalar).
  int64_t elements() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
};

/// A data file that cannot be read or written. `what()` is the complete
/// message for the user, without an "error: " prefix, and always starts with
/// the path of the file, e.g.
/// `w.safetensors: tensor 'h1.weight' has dtype I32; expected F32, F16, BF16 or F64`.
class DataError : public std::runtime_error {
public:
  explicit DataError(const std::string &message) : std::runtime_error(message) {}
};

} // namespace slope::runtime
