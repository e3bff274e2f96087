// slope: compile small neural networks written in the slope language into fused,
// vectorized machine code, and run them.
//
//   slope::Options opts;
//   opts.weights = "digits.safetensors";
//   slope::Network net = slope::compile_file("digits.slope", opts);   // throws slope::Error
//   std::vector<float> y(batch * net.output_size());
//   net.forward(x.data(), y.data(), batch);                              // x: batch*input_size
//
// A compiled Network is immutable: `forward` may be called from several threads at once,
// and copies of a Network share the compiled code.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace slope {

/// Any user error: a bad source (what() holds the diagnostics exactly as the command
/// line prints them), a bad data file, or a bad option.
class Error : public std::runtime_error {
public:
  explicit Error(const std::string &message) : std::runtime_error(message) {}
};

/// The most threads Options::threads may ask for (more than any machine slope targets
/// has cores; a bound so that a mistyped count fails at once instead of starting
/// millions of threads).
inline constexpr unsigned max_threads = 1024;

struct Options {
  /// Weights file (safetensors or .npz). Needed only when the network has parameters.
  std::string weights;
  /// Deterministic random parameters instead of a weights file.
  std::optional<uint64_t> random_weights_seed;
  /// Which network of the file to compile; may stay empty when the file has one.
  std::string network;
  /// Threads `forward` may use; 0 means all cores. At most max_threads.
  unsigned threads = 0;
  /// Fuse dense layers with their bias, residual add and activations.
  bool fuse = true;
  /// Run the reference evaluator instead of compiled code (slow; for checking).
  bool reference = false;
};

class Network {
public:
  const std::string &name() const;
  int64_t input_size() const;
  int64_t output_size() const;

  /// Computes `batch` rows: `input` holds batch*input_size() floats, `output` receives
  /// batch*output_size(). Throws slope::Error for a negative batch, a batch too large
  /// for memory (its rows' bytes would overflow int64), or a null pointer.
  void forward(const float *input, float *output, int64_t batch) const;

  /// Warnings found while compiling, e.g. tensors of the weights file the network does
  /// not read.
  const std::vector<std::string> &warnings() const;

  struct Impl;
  explicit Network(std::shared_ptr<const Impl> impl);

private:
  std::shared_ptr<const Impl> impl_;
};

Network compile_file(const std::string &path, const Options &options = {});
/// `source_name` is the file name diagnostics show.
Network compile_source(std::string_view text, const Options &options = {},
                       const std::string &source_name = "<source>");

/// The version of slope, e.g. "0.1.0".
const char *version();

} // namespace slope
