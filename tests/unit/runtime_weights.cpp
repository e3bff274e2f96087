// Weights files by content (runtime/Weights.h) and the shared conversions
// (runtime/DataFile.h).

#include "runtime/DataFile.h"
#include "runtime/Weights.h"
#include "runtime_test_util.h"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <random>

using namespace slope::runtime;
using namespace slope::runtime::testing;

namespace {

std::vector<std::string> keysOf(const std::vector<std::pair<std::string, Tensor>> &tensors) {
  std::vector<std::string> keys;
  for (const auto &[key, tensor] : tensors)
    keys.push_back(key);
  return keys;
}

std::string weightsError(const std::string &name, const std::string &bytes) {
  std::string path = scratch(name);
  writeBytes(path, bytes);
  return errorOf([&] { loadWeights(path); });
}

} // namespace

TEST_CASE("weights: the format comes from the content, not the name") {
  std::string st = scratch("weights_st.bin");
  std::filesystem::copy_file(fixture("weights.safetensors"), st,
                             std::filesystem::copy_options::overwrite_existing);
  CHECK(keysOf(loadWeights(st)) ==
        std::vector<std::string>{"h1.bias", "h1.weight", "out.weight", "scale"});
  std::string npz = scratch("weights_npz.safetensors");
  std::filesystem::copy_file(fixture("weights_savez_compressed.npz"), npz,
                             std::filesystem::copy_options::overwrite_existing);
  CHECK(keysOf(loadWeights(npz)) == std::vector<std::string>{"h1.weight", "h1.bias", "out.weight"});
  CHECK(keysOf(loadWeights(fixture("weights_savez.npz"))) ==
        std::vector<std::string>{"h1.weight", "h1.bias", "out.weight"});
  // numpy.savez() with no arrays writes only an end record.
  std::string empty = std::string("PK\x05\x06", 4) + std::string(18, '\0');
  CHECK(weightsError("weights_empty_zip.npz", empty) == "no error");
}

TEST_CASE("weights: missing, empty and unrecognized files") {
  std::string missing = scratch("weights_missing.safetensors");
  CHECK(errorOf([&] { loadWeights(missing); }) ==
        missing + ": cannot open file: No such file or directory");
  CHECK(weightsError("weights_empty.safetensors", "") ==
        scratch("weights_empty.safetensors") + ": file is empty");
  CHECK(weightsError("weights_elf.bin", std::string("\x7f"
                                                    "ELF\x02\x01\x01\x00 and more",
                                                    17)) ==
        scratch("weights_elf.bin") +
            ": unknown weights format; expected safetensors or NumPy .npz (the file starts with "
            "7f 45 4c 46 02 01 01 00)");
  CHECK(weightsError("weights_short.bin", "abc") ==
        scratch("weights_short.bin") +
            ": unknown weights format; expected safetensors or NumPy .npz (the file starts with "
            "61 62 63)");
  CHECK(weightsError("weights_text.json", "{\"h1.weight\": [1, 2]}") ==
        scratch("weights_text.json") +
            ": unknown weights format; expected safetensors or NumPy .npz (the file starts with "
            "7b 22 68 31 2e 77 65 69)");
  CHECK(errorOf([&] { loadWeights(fixture("f32_2x3.npy")); }) ==
        fixture("f32_2x3.npy") +
            ": is a single .npy array; expected a safetensors or .npz weights file");
  CHECK(errorOf([&] { loadWeights(SLOPE_TEST_TMPDIR); }) ==
        std::string(SLOPE_TEST_TMPDIR) + ": cannot read file: Is a directory");
}

TEST_CASE("weights: damaged files of each format get that format's message") {
  std::string st = readBytes(fixture("weights.safetensors"));
  CHECK(weightsError("weights_cut.safetensors", st.substr(0, 100)) ==
        scratch("weights_cut.safetensors") +
            ": header length is 280 bytes but only 92 bytes follow (file truncated?)");
  // A header length of 2^60 is still recognized when the JSON follows.
  CHECK(weightsError("weights_2p60.safetensors", le(uint64_t(1) << 60, 8) + "{}") ==
        scratch("weights_2p60.safetensors") +
            ": header length is 1152921504606846976 bytes but only 2 bytes follow (file "
            "truncated?)");
  std::string npz = readBytes(fixture("weights_savez.npz"));
  CHECK(weightsError("weights_cut.npz", npz.substr(0, 300)) ==
        scratch("weights_cut.npz") +
            ": not a valid .npz file: no zip end of central directory record (file truncated?)");
}

TEST_CASE("conversions: every f16 value converts exactly") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    CAPTURE(h);
    uint16_t bits = static_cast<uint16_t>(h);
    float converted = detail::halfToFloat(bits);
    uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    if (exponent == 0x1f && mantissa != 0) {
      // NaN: sign and payload are kept, signaling or not.
      CHECK(std::bit_cast<uint32_t>(converted) ==
            (((h & 0x8000u) << 16) | 0x7f800000u | (mantissa << 13)));
      continue;
    }
    double expected = exponent == 0x1f ? INFINITY
                      : exponent == 0
                          ? std::ldexp(mantissa, -24)
                          : std::ldexp(1024 + mantissa, static_cast<int>(exponent) - 25);
    if (h & 0x8000)
      expected = -expected;
    CHECK(std::bit_cast<uint32_t>(converted) ==
          std::bit_cast<uint32_t>(static_cast<float>(expected)));
  }
}

TEST_CASE("conversions: f64 to f32 matches the hardware conversion in range") {
  std::mt19937_64 random(42);
  for (int i = 0; i < 100000; ++i) {
    double d = std::bit_cast<double>(random());
    if (std::isnan(d) || std::fabs(d) > std::numeric_limits<float>::max())
      continue;
    CAPTURE(d);
    CHECK(std::bit_cast<uint32_t>(detail::doubleToFloat(d)) ==
          std::bit_cast<uint32_t>(static_cast<float>(d)));
  }
  constexpr float kMax = std::numeric_limits<float>::max();
  CHECK(detail::doubleToFloat(0x1.fffffefffffffp127) == kMax);
  CHECK(detail::doubleToFloat(-0x1.fffffefffffffp127) == -kMax);
  CHECK(detail::doubleToFloat(0x1.ffffffp127) == INFINITY);
  CHECK(detail::doubleToFloat(-1e308) == -INFINITY);
  CHECK(std::isnan(detail::doubleToFloat(std::nan(""))));
  CHECK(std::signbit(detail::doubleToFloat(-std::nan(""))));
}

TEST_CASE("messages: names from files are quoted safely") {
  CHECK(detail::quoted("h1.weight") == "'h1.weight'");
  CHECK(detail::quoted("it's \\ \n \x7f") == "'it\\'s \\\\ \\x0a \\x7f'");
  CHECK(detail::quoted("caf\xc3\xa9 \xe2\x82\xac") == "'caf\xc3\xa9 \xe2\x82\xac'");
  CHECK(detail::quoted("bad \xc3 \xed\xa0\x80 \xff") == "'bad \\xc3 \\xed\\xa0\\x80 \\xff'");
  CHECK(detail::quoted(std::string(100, 'a')) == "'" + std::string(80, 'a') + "...'");
  CHECK(detail::printable("a'b\x01") == "a'b\\x01");
}
