// safetensors files (runtime/Safetensors.h).

#include "runtime/Safetensors.h"
#include "runtime_test_util.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using namespace slope::runtime;
using namespace slope::runtime::testing;

namespace {

using Tensors = std::vector<std::pair<std::string, Tensor>>;

std::string safetensors(const std::string &header, const std::string &data) {
  return le(header.size(), 8) + header + data;
}

Tensors read(const std::string &header, const std::string &data) {
  return readSafetensorsBytes(safetensors(header, data), "w.safetensors");
}

std::string stError(const std::string &header, const std::string &data = std::string(64, '\0')) {
  return errorOf([&] { read(header, data); });
}

std::string entry(const std::string &dtype, const std::string &shape, uint64_t begin,
                  uint64_t end) {
  return "{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(begin) + "," + std::to_string(end) + "]}";
}

std::vector<std::string> keysOf(const Tensors &tensors) {
  std::vector<std::string> keys;
  for (const auto &[key, tensor] : tensors)
    keys.push_back(key);
  return keys;
}

std::string u16s(std::initializer_list<uint16_t> values) {
  std::string out;
  for (uint16_t v : values)
    out += le(v, 2);
  return out;
}

std::string f64s(std::initializer_list<double> values) {
  std::string out;
  for (double v : values)
    out += le(std::bit_cast<uint64_t>(v), 8);
  return out;
}

const std::string kW = "w.safetensors: tensor 'w'";

} // namespace

TEST_CASE("safetensors: reads F32, F16, BF16 and F64 in data order") {
  Tensors t = readSafetensors(fixture("weights.safetensors"));
  REQUIRE(keysOf(t) == std::vector<std::string>{"h1.bias", "h1.weight", "out.weight", "scale"});
  CHECK(t[0].second.shape == std::vector<int64_t>{2});
  CHECK(t[0].second.data == std::vector<float>{0.5f, -65504.0f});
  CHECK(t[1].second.shape == std::vector<int64_t>{2, 3});
  CHECK(t[1].second.data == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(t[2].second.shape == std::vector<int64_t>{1, 4});
  CHECK(bitsOf(t[2].second.data) ==
        std::vector<uint32_t>{0x3f800000, 0xc0200000, 0x80000, 0x7f800000});
  CHECK(t[3].second.shape.empty());
  CHECK(bitsOf(t[3].second.data) == std::vector<uint32_t>{0x3eaaaaab});
}

TEST_CASE("safetensors: F16 and BF16 convert exactly, NaN payloads included") {
  // F16: max subnormal, min subnormal, -0, -inf, a quiet NaN with payload, a signaling NaN.
  Tensors t =
      read("{\"h\":" + entry("F16", "[6]", 0, 12) + ",\"b\":" + entry("BF16", "[3]", 12, 18) + "}",
           u16s({0x03ff, 0x0001, 0x8000, 0xfc00, 0x7e01, 0xfd01}) + u16s({0x0001, 0xff81, 0x7f80}));
  REQUIRE(keysOf(t) == std::vector<std::string>{"h", "b"});
  CHECK(bitsOf(t[0].second.data) == std::vector<uint32_t>{0x387fc000, 0x33800000, 0x80000000,
                                                          0xff800000, 0x7fc02000, 0xffa02000});
  CHECK(bitsOf(t[1].second.data) == std::vector<uint32_t>{0x00010000, 0xff810000, 0x7f800000});
}

TEST_CASE("safetensors: F64 rounds to nearest even and overflows to inf") {
  constexpr double kMax = std::numeric_limits<float>::max();
  Tensors t = read("{\"d\":" + entry("F64", "[8]", 0, 64) + "}",
                   f64s({0.1, 1.0 + 0x1p-24 /* a tie: to even, 1 */, 1.0 + 0x1.8p-23 /* up */,
                         0x1.fffffefffffffp127 /* just above FLT_MAX: FLT_MAX */,
                         0x1.ffffffp127 /* halfway to 2^128: inf */, -1e300, 0x1p-150 /* tie: 0 */,
                         -std::nan("")}));
  CHECK(bitsOf(t[0].second.data) ==
        std::vector<uint32_t>{0x3dcccccd, 0x3f800000, 0x3f800002,
                              std::bit_cast<uint32_t>(static_cast<float>(kMax)), 0x7f800000,
                              0xff800000, 0x0, 0xffc00000});
}

TEST_CASE("safetensors: order is by data offset, then by name; zero-size tensors anywhere") {
  Tensors t =
      read("{\"b\":" + entry("F32", "[1]", 4, 8) + ",\"a\":" + entry("F32", "[1]", 8, 12) +
               ",\"z\":" + entry("F32", "[0]", 4, 4) + ",\"y\":" + entry("F32", "[2,0]", 4, 4) +
               ",\"c\":" + entry("F32", "[1]", 0, 4) + "}",
           f32Bytes({1, 2, 3}));
  CHECK(keysOf(t) == std::vector<std::string>{"c", "y", "z", "b", "a"});
  CHECK(t[0].second.data == std::vector<float>{1});
  CHECK(t[4].second.data == std::vector<float>{3});
}

TEST_CASE("safetensors: __metadata__, unknown fields, gaps and padding are accepted") {
  Tensors t = read("{\"__metadata__\":{\"format\":\"pt\",\"nested\":[1,{\"x\":null}]},"
                   "\"w\":{\"data_offsets\":[8,12],\"extra\":{\"k\":[1,2]},\"shape\":[],"
                   "\"dtype\":\"F32\",\"more\":-1.5}}      ",
                   f32Bytes({9, 9, 7, 9}));
  REQUIRE(keysOf(t) == std::vector<std::string>{"w"});
  CHECK(t[0].second.data == std::vector<float>{7});
  CHECK(read("{\"__metadata__\":5}", "").empty());
  CHECK(read("{}", "").empty());
}

TEST_CASE("safetensors: header length") {
  CHECK(errorOf([] { readSafetensorsBytes(std::string("\x10\x00\x00", 3), "w.safetensors"); }) ==
        "w.safetensors: file is truncated (3 bytes); a safetensors file starts with an 8-byte "
        "header length");
  CHECK(errorOf([] { readSafetensorsBytes(le(uint64_t(1) << 60, 8) + "{}", "w.safetensors"); }) ==
        "w.safetensors: header length is 1152921504606846976 bytes but only 2 bytes follow (file "
        "truncated?)");
  CHECK(errorOf([] { readSafetensorsBytes(le(~uint64_t(0), 8) + "{}", "w.safetensors"); }) ==
        "w.safetensors: header length is 18446744073709551615 bytes but only 2 bytes follow (file "
        "truncated?)");
  CHECK(errorOf([] { readSafetensorsBytes(le(3, 8) + "{}", "w.safetensors"); }) ==
        "w.safetensors: header length is 3 bytes but only 2 bytes follow (file truncated?)");
}

TEST_CASE("safetensors: the header must be a JSON object of tensor objects") {
  CHECK(stError("") == "w.safetensors: invalid JSON header: parse error at line 1, column 1: "
                       "syntax error while parsing value - unexpected end of input; expected "
                       "'[', '{', or a literal");
  CHECK(stError("{\"w\":") ==
        "w.safetensors: invalid JSON header: parse error at line 1, column 6: syntax error while "
        "parsing value - unexpected end of input; expected '[', '{', or a literal");
  CHECK(stError(std::string("{\"w\xff\":1}")) ==
        "w.safetensors: invalid JSON header: parse error at line 1, column 4: syntax error while "
        "parsing object key - invalid string: ill-formed UTF-8 byte; last read: '\"w\\xff'; "
        "expected string literal");
  CHECK(stError("[]") == "w.safetensors: JSON header is not an object; got an array");
  CHECK(stError("7") == "w.safetensors: JSON header is not an object; got 7");
  CHECK(stError("{\"w\":\"F32\"}") == kW + " is not a JSON object; got 'F32'");
  CHECK(stError("{\"w\":[1]}") == kW + " is not a JSON object; got an array");
  CHECK(stError("{\"w\":null}") == kW + " is not a JSON object; got null");
}

TEST_CASE("safetensors: missing and mistyped fields") {
  CHECK(stError("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}") == kW + " has no 'dtype' field");
  CHECK(stError("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}") ==
        kW + " has no 'shape' field");
  CHECK(stError("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}") ==
        kW + " has no 'data_offsets' field");
  CHECK(stError("{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}") ==
        kW + ": 'dtype' must be a string; got 32");
  CHECK(stError("{\"w\":{\"dtype\":[\"F32\"],\"shape\":[1],\"data_offsets\":[0,4]}}") ==
        kW + ": 'dtype' must be a string; got an array");
  const std::string shape = kW + ": 'shape' must be an array of non-negative integers; ";
  CHECK(stError("{\"w\":" + entry("F32", "\"1\"", 0, 4) + "}") == shape + "got '1'");
  CHECK(stError("{\"w\":" + entry("F32", "{}", 0, 4) + "}") == shape + "got an object");
  CHECK(stError("{\"w\":" + entry("F32", "[-1]", 0, 4) + "}") == shape + "found -1");
  CHECK(stError("{\"w\":" + entry("F32", "[1.0]", 0, 4) + "}") == shape + "found 1.0");
  CHECK(stError("{\"w\":" + entry("F32", "[[1]]", 0, 4) + "}") == shape + "found an array");
  CHECK(stError("{\"w\":" + entry("F32", "[true]", 0, 4) + "}") == shape + "found true");
  const std::string offsets =
      kW + ": 'data_offsets' must be an array of two non-negative integers; ";
  CHECK(stError("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}") ==
        offsets + "got [4]");
  CHECK(stError("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}") ==
        offsets + "got more than two");
  CHECK(stError("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,-4]}}") ==
        offsets + "found -4");
  CHECK(stError("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e2]}}") ==
        offsets + "found 1e2");
  CHECK(stError("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{}}}") ==
        offsets + "got an object");
  CHECK(
      stError(
          "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551616]}}") ==
      offsets + "found 18446744073709551616");
}

TEST_CASE("safetensors: duplicate keys and fields") {
  CHECK(stError("{\"w\":" + entry("F32", "[1]", 0, 4) + ",\"w\":" + entry("F32", "[1]", 4, 8) +
                "}") == "w.safetensors: duplicate key 'w' in the JSON header");
  CHECK(stError(
            "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}") ==
        kW + " has field 'dtype' twice");
}

TEST_CASE("safetensors: unsupported dtypes") {
  CHECK(stError("{\"h1.weight\":" + entry("I32", "[1]", 0, 4) + "}") ==
        "w.safetensors: tensor 'h1.weight' has dtype I32; expected F32, F16, BF16 or F64");
  CHECK(stError("{\"w\":" + entry("F8_E4M3", "[1]", 0, 1) + "}") ==
        kW + " has dtype F8_E4M3; expected F32, F16, BF16 or F64");
  CHECK(stError("{\"w\":" + entry("f32", "[1]", 0, 4) + "}") ==
        kW + " has dtype f32; expected F32, F16, BF16 or F64");
  CHECK(stError("{\"w\":" + entry("F 32'\\n", "[1]", 0, 4) + "}") ==
        kW + " has dtype 'F 32\\'\\x0a'; expected F32, F16, BF16 or F64");
}

TEST_CASE("safetensors: shapes and data offsets that do not fit") {
  CHECK(stError("{\"w\":" + entry("F32", "[9223372036854775808]", 0, 4) + "}") ==
        kW + ": shape [9223372036854775808] is too large");
  CHECK(stError("{\"w\":" + entry("F32", "[4611686018427387904,2]", 0, 4) + "}") ==
        kW + ": shape [4611686018427387904, 2] is too large");
  CHECK(stError("{\"w\":" + entry("F32", "[2305843009213693952]", 0, 4) + "}") ==
        kW + ": shape [2305843009213693952] is too large");
  std::string rank65 = "[1";
  for (int i = 0; i < 64; ++i)
    rank65 += ",1";
  CHECK(stError("{\"w\":" + entry("F32", rank65 + "]", 0, 4) + "}") ==
        kW + ": shape has more than 64 dimensions; at most 64 are supported");
  CHECK(stError("{\"w\":" + entry("F32", "[1]", 8, 4) + "}") ==
        kW + ": data_offsets [8, 4] have begin > end");
  CHECK(stError("{\"w\":" + entry("F32", "[1]", 64, 68) + "}") ==
        kW + ": data_offsets [64, 68] run past the end of the data (64 bytes)");
  CHECK(stError("{\"w\":" + entry("F32", "[1]", 0, 18446744073709551615u) + "}") ==
        kW + ": data_offsets [0, 18446744073709551615] run past the end of the data (64 bytes)");
  CHECK(stError("{\"w\":" + entry("F32", "[2,2]", 0, 12) + "}") ==
        kW + ": data_offsets [0, 12] hold 12 bytes; expected 16 for shape [2, 2] of F32");
  CHECK(stError("{\"w\":" + entry("BF16", "[]", 0, 4) + "}") ==
        kW + ": data_offsets [0, 4] hold 4 bytes; expected 2 for shape [] of BF16");
}

TEST_CASE("safetensors: tensors must not share bytes") {
  CHECK(stError("{\"a\":" + entry("F32", "[4]", 0, 16) + ",\"b\":" + entry("F32", "[4]", 8, 24) +
                "}") ==
        "w.safetensors: tensor 'b': data_offsets [8, 24] overlap tensor 'a' at [0, 16]");
  CHECK(stError("{\"a\":" + entry("F32", "[4]", 0, 16) + ",\"b\":" + entry("F32", "[4]", 0, 16) +
                "}") ==
        "w.safetensors: tensor 'b': data_offsets [0, 16] overlap tensor 'a' at [0, 16]");
  // A zero-size tensor inside another one shares nothing.
  CHECK(read("{\"a\":" + entry("F32", "[4]", 0, 16) + ",\"b\":" + entry("F32", "[0]", 8, 8) + "}",
             f32Bytes({1, 2, 3, 4}))
            .size() == 2);
}

TEST_CASE("safetensors: a file truncated at any position is an error, never a crash") {
  std::string bytes = readBytes(fixture("weights.safetensors"));
  for (size_t n = 0; n < bytes.size(); ++n) {
    CAPTURE(n);
    std::string message =
        errorOf([&] { readSafetensorsBytes(bytes.substr(0, n), "w.safetensors"); });
    CHECK(message.starts_with("w.safetensors: "));
  }
  auto truncated = [&](size_t n) {
    return errorOf([&] { readSafetensorsBytes(bytes.substr(0, n), "w.safetensors"); });
  };
  CHECK(truncated(7) == "w.safetensors: file is truncated (7 bytes); a safetensors file starts "
                        "with an 8-byte header length");
  CHECK(truncated(100) ==
        "w.safetensors: header length is 280 bytes but only 92 bytes follow (file truncated?)");
  // The last tensor, "scale", is the one cut short.
  CHECK(truncated(bytes.size() - 1) ==
        "w.safetensors: tensor 'scale': data_offsets [36, 44] run past the end of the data (43 "
        "bytes)");
}

TEST_CASE("safetensors: corrupting any byte gives a result or a DataError, never a crash") {
  std::string bytes = readBytes(fixture("weights.safetensors"));
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (unsigned char value : {0x00, 0x01, 0x22, 0x2c, 0x30, 0x5b, 0x7b, 0x7d, 0x80, 0xff}) {
      std::string corrupt = bytes;
      corrupt[i] = static_cast<char>(value);
      CAPTURE(i);
      std::string message = errorOf([&] { readSafetensorsBytes(corrupt, "w.safetensors"); });
      CHECK((message == "no error" || message.starts_with("w.safetensors: ")));
    }
  }
}

TEST_CASE("safetensors: deeply nested or huge headers do not exhaust memory or stack") {
  std::string deep =
      "{\"__metadata__\":" + std::string(200000, '[') + std::string(200000, ']') + "}";
  CHECK(read(deep, "").empty());
  std::string wide = "{\"__metadata__\":[";
  for (int i = 0; i < 200000; ++i)
    wide += "0,";
  wide += "0]}";
  CHECK(read(wide, "").empty());
}

TEST_CASE("safetensors: file errors name the path") {
  std::string missing = scratch("st_missing.safetensors");
  CHECK(errorOf([&] { readSafetensors(missing); }) ==
        missing + ": cannot open file: No such file or directory");
  std::string empty = scratch("st_empty.safetensors");
  writeBytes(empty, "");
  CHECK(errorOf([&] { readSafetensors(empty); }) == empty + ": file is empty");
}
