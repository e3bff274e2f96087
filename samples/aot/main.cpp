// The same classifier with the weights passed at run time: the application loads them
// however it likes (here from the safetensors file the network was trained into) and
// hands slope's function one pointer per parameter in `digits_params`. C++, no LLVM,
// no slope library.
//
//   classify_params WEIGHTS.safetensors TEST_X.npy EXPECTED_SCORES.npy
//
// Exits 1 on an error, or when a score differs from PyTorch's by more than summation
// order.
#include "digits_params.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The F32 tensors of a safetensors file by name. A safetensors file is an 8-byte
/// little-endian header length, a JSON header mapping each name to its dtype, shape and
/// byte range, and the data. This reader scans the header for just what it needs.
std::map<std::string, std::vector<float>> readSafetensors(const std::string &path) {
  std::string bytes = readFile(path);
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0 && bytes.size() >= 8; --i)
    headerSize = headerSize << 8 | static_cast<unsigned char>(bytes[i]);
  if (bytes.size() < 8 || headerSize > bytes.size() - 8)
    throw std::runtime_error(path + ": not a safetensors file");
  const std::string header = bytes.substr(8, headerSize);
  const char *data = bytes.data() + 8 + headerSize;
  const size_t dataSize = bytes.size() - 8 - headerSize;
  std::map<std::string, std::vector<float>> tensors;
  for (size_t at = header.find("\"data_offsets\""); at != std::string::npos;
       at = header.find("\"data_offsets\"", at + 1)) {
    size_t open = header.rfind('{', at), nameEnd = header.rfind('"', open);
    size_t nameBegin = header.rfind('"', nameEnd - 1) + 1;
    std::string name = header.substr(nameBegin, nameEnd - nameBegin);
    std::string entry = header.substr(open, header.find('}', at) - open);
    if (entry.find("\"F32\"") == std::string::npos)
      throw std::runtime_error(path + ": tensor " + name + " is not F32");
    unsigned long long begin = 0, end = 0;
    if (std::sscanf(header.c_str() + header.find('[', at), "[%llu,%llu]", &begin, &end) != 2 ||
        begin > end || end > dataSize)
      throw std::runtime_error(path + ": bad byte range for " + name);
    std::vector<float> values((end - begin) / sizeof(float));
    std::memcpy(values.data(), data + begin, values.size() * sizeof(float));
    tensors[name] = std::move(values);
  }
  return tensors;
}

/// The float32 data of a C-order .npy file (format 1.0).
std::vector<float> readNpy(const std::string &path) {
  std::string bytes = readFile(path);
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    throw std::runtime_error(path + ": not an .npy file");
  size_t headerSize = static_cast<unsigned char>(bytes[8]) |
                      static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8;
  std::string header = bytes.substr(10, headerSize);
  if (header.find("'<f4'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error(path + ": not a C-order float32 .npy file");
  std::vector<float> values((bytes.size() - 10 - headerSize) / sizeof(float));
  std::memcpy(values.data(), bytes.data() + 10 + headerSize, values.size() * sizeof(float));
  return values;
}

const float *tensor(const std::map<std::string, std::vector<float>> &tensors,
                    const std::string &name, size_t size) {
  auto it = tensors.find(name);
  if (it == tensors.end() || it->second.size() != size)
    throw std::runtime_error("the weights have no tensor " + name + " of " +
                             std::to_string(size) + " floats");
  return it->second.data();
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s WEIGHTS.safetensors TEST_X.npy EXPECTED_SCORES.npy\n",
                 argv[0]);
    return 2;
  }
  try {
    auto weights = readSafetensors(argv[1]);
    std::vector<float> x = readNpy(argv[2]);
    std::vector<float> expected = readNpy(argv[3]);
    const int64_t batch = static_cast<int64_t>(x.size() / DIGITS_INPUT_SIZE);
    if (expected.size() != static_cast<size_t>(batch) * DIGITS_OUTPUT_SIZE)
      throw std::runtime_error("the inputs and the expected scores do not match in size");

    // One field per parameter, named after its key (h1.weight -> h1_weight), row-major.
    digits_params params;
    params.h1_weight = tensor(weights, "h1.weight", 32 * DIGITS_INPUT_SIZE);
    params.h1_bias = tensor(weights, "h1.bias", 32);
    params.h2_weight = tensor(weights, "h2.weight", 32 * 32);
    params.h2_bias = tensor(weights, "h2.bias", 32);
    params.out_weight = tensor(weights, "out.weight", DIGITS_OUTPUT_SIZE * 32);
    params.out_bias = tensor(weights, "out.bias", DIGITS_OUTPUT_SIZE);

    // The function keeps no state: two threads may run it at once, here on two halves.
    std::vector<float> scores(expected.size());
    const int64_t half = batch / 2;
    int status[2] = {-1, -1};
    std::thread first([&] { status[0] = digits_forward(&params, x.data(), scores.data(), half); });
    status[1] = digits_forward(&params, x.data() + half * DIGITS_INPUT_SIZE,
                               scores.data() + half * DIGITS_OUTPUT_SIZE, batch - half);
    first.join();
    if (status[0] != 0 || status[1] != 0)
      throw std::runtime_error("digits_forward failed");
    if (digits_forward(nullptr, x.data(), scores.data(), 1) == 0)
      throw std::runtime_error("digits_forward accepted null parameters");

    double worst = 0;
    for (size_t i = 0; i < scores.size(); ++i) {
      double error = std::fabs(scores[i] - expected[i]) / (1.0 + std::fabs(expected[i]));
      if (!(error <= worst)) // a NaN counts as the worst
        worst = error;
    }
    std::printf("digits (C++, weights passed at run time): %lld rows, largest difference "
                "from PyTorch %.2g\n",
                static_cast<long long>(batch), worst);
    if (!(worst <= 1e-4)) {
      std::fprintf(stderr, "the scores differ from PyTorch's by more than summation order\n");
      return 1;
    }
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
