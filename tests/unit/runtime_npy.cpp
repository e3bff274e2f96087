// NumPy .npy reading and writing (runtime/Npy.h).

#include "runtime/Npy.h"
#include "runtime_test_util.h"

#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <limits>

#include <sys/resource.h>

using namespace slope::runtime;
using namespace slope::runtime::testing;

namespace {

const std::string kDtypeExpected = "; expected '<f4', '<f8' or '<f2' (either byte order)";
const std::string kKeysExpected = "; expected keys 'descr', 'fortran_order' and 'shape'";

std::string headerError(const std::string &header) {
  return errorOf([&] { readNpyBytes(npyWithHeader(header, ""), "x.npy"); });
}

bool hasTemporaryFiles(const std::string &directory, const std::string &prefix) {
  for (const auto &entry : std::filesystem::directory_iterator(directory)) {
    if (entry.path().filename().string().starts_with(prefix + ".tmp-"))
      return true;
  }
  return false;
}

} // namespace

TEST_CASE("npy: reads an f32 C-order array written by numpy.save") {
  Tensor t = readNpy(fixture("f32_2x3.npy"));
  CHECK(t.shape == std::vector<int64_t>{2, 3});
  CHECK(t.elements() == 6);
  CHECK(bitsOf(t.data) ==
        std::vector<uint32_t>{0x3fc00000, 0xc0000000, 0x0, 0x40500000, 0x3a83126f, 0x80000000});
}

TEST_CASE("npy: reads a rank-0 array and an array with no elements") {
  Tensor scalar = readNpy(fixture("f32_scalar.npy"));
  CHECK(scalar.shape.empty());
  CHECK(scalar.elements() == 1);
  CHECK(scalar.data == std::vector<float>{3.5f});

  Tensor empty = readNpy(fixture("f32_empty_0x4.npy"));
  CHECK(empty.shape == std::vector<int64_t>{0, 4});
  CHECK(empty.elements() == 0);
  CHECK(empty.data.empty());
}

TEST_CASE("npy: f64 is rounded to the nearest f32, overflowing to inf") {
  // 0.1, 1/3, 1e300, -1e-50, 1e-40 (an f32 subnormal), -inf
  Tensor t = readNpy(fixture("f64_6.npy"));
  CHECK(t.shape == std::vector<int64_t>{6});
  CHECK(bitsOf(t.data) ==
        std::vector<uint32_t>{0x3dcccccd, 0x3eaaaaab, 0x7f800000, 0x80000000, 0x116c2, 0xff800000});
}

TEST_CASE("npy: big-endian f16 keeps subnormals, -0, inf and NaN") {
  // 1, -0, 2^-24, inf, NaN, 65504
  Tensor t = readNpy(fixture("f16_be_6.npy"));
  CHECK(bitsOf(t.data) == std::vector<uint32_t>{0x3f800000, 0x80000000, 0x33800000, 0x7f800000,
                                                0x7fc00000, 0x477fe000});
}

TEST_CASE("npy: big-endian f32") {
  Tensor t = readNpy(fixture("f32_be_2x2.npy"));
  CHECK(t.shape == std::vector<int64_t>{2, 2});
  CHECK(t.data == std::vector<float>{1, 2, 3, -4.5f});
}

TEST_CASE("npy: Fortran-order arrays come back in C order") {
  Tensor t2 = readNpy(fixture("fortran_f32_2x3.npy"));
  CHECK(t2.shape == std::vector<int64_t>{2, 3});
  CHECK(t2.data == std::vector<float>{0, 1, 2, 3, 4, 5});

  Tensor t3 = readNpy(fixture("fortran_f64_2x3x2.npy"));
  CHECK(t3.shape == std::vector<int64_t>{2, 3, 2});
  CHECK(t3.data == std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});

  // Hand-made: the file holds column 0, then column 1.
  std::string header = "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }\n";
  Tensor t = readNpyBytes(npyWithHeader(header, f32Bytes({1, 2, 3, 10, 20, 30})), "x.npy");
  CHECK(t.data == std::vector<float>{1, 10, 2, 20, 3, 30});
}

TEST_CASE("npy: format versions 2.0 and 3.0") {
  CHECK(readNpy(fixture("v2_f32_3.npy")).data == std::vector<float>{1, 2, 3});
  CHECK(readNpy(fixture("v3_f32_3.npy")).data == std::vector<float>{1, 2, 3});
}

TEST_CASE("npy: header syntax that ast.literal_eval accepts") {
  auto read = [](const std::string &header, const std::string &data) {
    return readNpyBytes(npyWithHeader(header, data), "x.npy");
  };
  // Old numpy under Python 2 wrote longs.
  CHECK(read("{'descr': '<f4', 'fortran_order': False, 'shape': (1L, 2L), }", f32Bytes({1, 2}))
            .shape == std::vector<int64_t>{1, 2});
  // Double quotes, any key order, no trailing comma, tabs and newlines.
  CHECK(read("{\"shape\":(2,),\n\t\"fortran_order\":False,\"descr\":\"<f4\"}", f32Bytes({1, 2}))
            .data == std::vector<float>{1, 2});
  // No byte order, or "not applicable", or native, all mean native.
  for (const char *descr : {"f4", "|f4", "=f4"}) {
    CAPTURE(descr);
    CHECK(read(std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (1,)}",
               f32Bytes({7}))
              .data == std::vector<float>{7});
  }
  // A zero-size array may have any other dimension.
  CHECK(read(f32Header("(0, 1000000)"), "").shape == std::vector<int64_t>{0, 1000000});
}

TEST_CASE("npy: dtypes other than f2, f4 and f8 are refused by name") {
  CHECK(errorOf([] { readNpy(fixture("i32_3.npy")); }) ==
        fixture("i32_3.npy") + ": unsupported dtype '<i4'" + kDtypeExpected);
  CHECK(headerError("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }") ==
        "x.npy: unsupported dtype '|O'" + kDtypeExpected);
  CHECK(headerError("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }") ==
        "x.npy: unsupported dtype '<c8'" + kDtypeExpected);
  CHECK(headerError("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }") ==
        "x.npy: unsupported dtype [('a', '<f4')]" + kDtypeExpected);
  CHECK(headerError("{'descr': 4, 'fortran_order': False, 'shape': (1,), }") ==
        "x.npy: unsupported dtype 4" + kDtypeExpected);
}

TEST_CASE("npy: header dict with missing, extra or mistyped keys") {
  CHECK(headerError("{'descr': '<f4', 'fortran_order': False, }") ==
        "x.npy: npy header has no key 'shape'" + kKeysExpected);
  CHECK(headerError("{'fortran_order': False, 'shape': (1,), }") ==
        "x.npy: npy header has no key 'descr'" + kKeysExpected);
  CHECK(headerError("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}") ==
        "x.npy: npy header has unexpected key 'x'" + kKeysExpected);
  CHECK(headerError("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 3: 1}") ==
        "x.npy: npy header has unexpected key 3" + kKeysExpected);
  CHECK(headerError("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}") ==
        "x.npy: npy header has key 'descr' twice");
  CHECK(headerError("{'descr': '<f4', 'fortran_order': 'yes', 'shape': (1,), }") ==
        "x.npy: npy header 'fortran_order' must be True or False; got 'yes'");
  CHECK(headerError("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }") ==
        "x.npy: npy header 'fortran_order' must be True or False; got 0");
  CHECK(headerError("(1, 2)") == "x.npy: npy header is not a dict: (1, 2)");
  CHECK(headerError("'descr'") == "x.npy: npy header is not a dict: 'descr'");
}

TEST_CASE("npy: shapes that are not tuples of non-negative integers") {
  const std::string prefix = "x.npy: npy header 'shape' must be a tuple of non-negative integers; ";
  CHECK(headerError(f32Header("[2, 3]")) == prefix + "got [2, 3]");
  CHECK(headerError(f32Header("(2, -3)")) == prefix + "got (2, -3)");
  CHECK(headerError(f32Header("(-99999999999999999999,)")) ==
        prefix + "got (-99999999999999999999,)");
  CHECK(headerError(f32Header("(3)")) == prefix + "got 3"); // Python: (3) is not a tuple
  CHECK(headerError(f32Header("(2.5,)")) == prefix + "got (2.5,)");
  CHECK(headerError(f32Header("('2',)")) == prefix + "got ('2',)");
  CHECK(headerError(f32Header("None")) == prefix + "got None");
  CHECK(headerError(f32Header("((2,),)")) == prefix + "got ((2,),)");
}

TEST_CASE("npy: shapes too large to exist") {
  CHECK(headerError(f32Header("(99999999999999999999,)")) ==
        "x.npy: shape (99999999999999999999,) is too large");
  // The element count fits in int64 but not the byte count.
  CHECK(headerError(f32Header("(4611686018427387904,)")) ==
        "x.npy: shape (4611686018427387904,) is too large");
  CHECK(headerError(f32Header("(3037000500, 3037000500)")) ==
        "x.npy: shape (3037000500, 3037000500) is too large");
  // A zero does not excuse the other dimensions.
  CHECK(headerError(f32Header("(0, 4611686018427387904, 4)")) ==
        "x.npy: shape (0, 4611686018427387904, 4) is too large");
  std::string rank65 = "(";
  for (int i = 0; i < 65; ++i)
    rank65 += "1, ";
  rank65 += ")";
  CHECK(headerError(f32Header(rank65)) ==
        "x.npy: shape has 65 dimensions; at most 64 are supported");
}

TEST_CASE("npy: a header that is not a valid dict literal") {
  const std::string prefix = "x.npy: npy header is not a valid dict literal: ";
  CHECK(headerError("{'descr' '<f4'}") ==
        prefix + "expected ':' after a key, found character '\\'' at offset 9");
  CHECK(headerError("{'descr': '<f4") == prefix + "unterminated string at offset 14");
  CHECK(headerError("{'descr': '<f4', 'shape': (1, 2}") ==
        prefix + "expected ',' or ')', found character '}' at offset 31");
  CHECK(headerError("{'descr': '<f4'} trailing") ==
        prefix + "unexpected character 't' after the dict at offset 17");
  CHECK(headerError("") == prefix + "expected a value, found end of header at offset 0");
  CHECK(headerError("{'descr': np.float32}") == prefix + "unexpected name 'np' at offset 10");
  CHECK(headerError("{'descr': 1x}") == prefix + "invalid number '1x' at offset 12");
  CHECK(headerError("{'descr': @}") ==
        prefix + "expected a value, found character '@' at offset 10");
  CHECK(headerError(std::string("{'descr'\0: 1}", 13)) ==
        prefix + "expected ':' after a key, found character '\\x00' at offset 8");
  CHECK(headerError(std::string(1000, '(')) == prefix + "values nested too deeply at offset 33");
  std::string many = "[";
  for (int i = 0; i < 20000; ++i)
    many += "0,";
  CHECK(headerError(many + "]") == prefix + "too many values at offset 19999");
}

TEST_CASE("npy: preamble errors") {
  CHECK(errorOf([] { readNpyBytes("hello world, this is text", "x.npy"); }) ==
        "x.npy: not a NumPy .npy file: it does not start with \\x93NUMPY");
  CHECK(errorOf([] { readNpyBytes(readBytes(fixture("weights_savez.npz")), "x.npy"); }) ==
        "x.npy: not a NumPy .npy file: it does not start with \\x93NUMPY (it is a zip archive; "
        "an .npz file?)");
  std::string v4 = npyWithHeader(f32Header("(1,)"), f32Bytes({1}));
  v4[6] = 4;
  CHECK(errorOf([&] { readNpyBytes(v4, "x.npy"); }) ==
        "x.npy: unsupported .npy format version 4.0; expected 1.0, 2.0 or 3.0");
  v4[6] = 1;
  v4[7] = 1;
  CHECK(errorOf([&] { readNpyBytes(v4, "x.npy"); }) ==
        "x.npy: unsupported .npy format version 1.1; expected 1.0, 2.0 or 3.0");
  // A v2 header length of 2 GiB is refused before anything is read or allocated.
  std::string huge = std::string("\x93NUMPY\x02\x00", 8) + le(uint64_t(1) << 31, 4) + "{}";
  CHECK(errorOf([&] { readNpyBytes(huge, "x.npy"); }) ==
        "x.npy: npy header is 2147483648 bytes; at most 1048576 are supported");
}

TEST_CASE("npy: data shorter or longer than the shape says") {
  std::string header = f32Header("(2, 2)");
  CHECK(errorOf([&] {
          readNpyBytes(npyWithHeader(header, f32Bytes({1, 2, 3})), "x.npy");
        }) == "x.npy: array data is 12 bytes; expected 16 for shape (2, 2) and dtype '<f4'");
  CHECK(errorOf([&] {
          readNpyBytes(npyWithHeader(header, f32Bytes({1, 2, 3, 4, 5})), "x.npy");
        }) == "x.npy: array data is 20 bytes; expected 16 for shape (2, 2) and dtype '<f4'");
  std::string f8 = "{'descr': '>f8', 'fortran_order': False, 'shape': (), }";
  CHECK(errorOf([&] { readNpyBytes(npyWithHeader(f8, "1234567"), "x.npy"); }) ==
        "x.npy: array data is 7 bytes; expected 8 for shape () and dtype '>f8'");
  // A shape that claims 2^40 bytes is refused without allocating them.
  CHECK(errorOf([&] { readNpyBytes(npyWithHeader(f32Header("(274877906944,)"), ""), "x.npy"); }) ==
        "x.npy: array data is 0 bytes; expected 1099511627776 for shape (274877906944,) and "
        "dtype '<f4'");
}

TEST_CASE("npy: a file truncated at any position is an error, never a crash") {
  for (const char *name : {"f32_2x3.npy", "fortran_f64_2x3x2.npy", "v2_f32_3.npy"}) {
    std::string bytes = readBytes(fixture(name));
    REQUIRE(bytes.size() > 128);
    for (size_t n = 0; n < bytes.size(); ++n) {
      CAPTURE(name);
      CAPTURE(n);
      std::string message = errorOf([&] { readNpyBytes(bytes.substr(0, n), "x.npy"); });
      CHECK(message.starts_with("x.npy: "));
    }
  }
  std::string bytes = readBytes(fixture("f32_2x3.npy")); // 128-byte header, 24 bytes of data
  auto truncated = [&](size_t n) {
    return errorOf([&] { readNpyBytes(bytes.substr(0, n), "x.npy"); });
  };
  CHECK(truncated(0) == "x.npy: truncated .npy data (0 bytes); the preamble needs 10");
  CHECK(truncated(4) == "x.npy: truncated .npy data (4 bytes); the preamble needs 10");
  CHECK(truncated(9) == "x.npy: truncated .npy data (9 bytes); the preamble needs 10");
  CHECK(truncated(10) ==
        "x.npy: truncated .npy data: the header needs 118 bytes but only 0 follow the preamble");
  CHECK(truncated(100) ==
        "x.npy: truncated .npy data: the header needs 118 bytes but only 90 follow the preamble");
  CHECK(truncated(128) ==
        "x.npy: array data is 0 bytes; expected 24 for shape (2, 3) and dtype '<f4'");
  CHECK(truncated(151) ==
        "x.npy: array data is 23 bytes; expected 24 for shape (2, 3) and dtype '<f4'");
}

TEST_CASE("npy: corrupting any byte gives a result or a DataError, never a crash") {
  for (const char *name : {"f32_2x3.npy", "f16_be_6.npy", "fortran_f32_2x3.npy"}) {
    std::string bytes = readBytes(fixture(name));
    for (size_t i = 0; i < bytes.size(); ++i) {
      for (unsigned char value : {0x00, 0x01, 0x27, 0x28, 0x2c, 0x39, 0x7f, 0xff}) {
        std::string corrupt = bytes;
        corrupt[i] = static_cast<char>(value);
        CAPTURE(name);
        CAPTURE(i);
        std::string message = errorOf([&] { readNpyBytes(corrupt, "x.npy"); });
        CHECK((message == "no error" || message.starts_with("x.npy: ")));
      }
    }
  }
}

TEST_CASE("npy: file errors name the path") {
  std::string missing = scratch("npy_missing.npy");
  std::filesystem::remove(missing);
  CHECK(errorOf([&] { readNpy(missing); }) ==
        missing + ": cannot open file: No such file or directory");
  std::string empty = scratch("npy_empty.npy");
  writeBytes(empty, "");
  CHECK(errorOf([&] { readNpy(empty); }) == empty + ": file is empty");
  CHECK(errorOf([&] { readNpy(SLOPE_TEST_TMPDIR); }) ==
        std::string(SLOPE_TEST_TMPDIR) + ": cannot read file: Is a directory");
  CHECK(errorOf([&] { readNpy("/dev/zero"); }) ==
        "/dev/zero: cannot read file: not a regular file");
}

TEST_CASE("npy: writes the same bytes as numpy.save") {
  for (const char *name : {"f32_2x3.npy", "f32_scalar.npy", "f32_empty_0x4.npy"}) {
    CAPTURE(name);
    std::string expected = readBytes(fixture(name));
    CHECK(npyBytes(readNpyBytes(expected, name)) == expected);
  }
}

TEST_CASE("npy: write then read gives back every bit") {
  Tensor t;
  t.shape = {2, 3};
  t.data = {1.0f,
            -0.0f,
            std::numeric_limits<float>::infinity(),
            std::bit_cast<float>(0x7fa00001u),
            std::numeric_limits<float>::denorm_min(),
            -3.25f};
  std::string path = scratch("npy_roundtrip.npy");
  writeNpy(path, t);
  Tensor back = readNpy(path);
  CHECK(back.shape == t.shape);
  CHECK(bitsOf(back.data) == bitsOf(t.data));
  // A long first dimension still leaves the header 64-byte aligned.
  t.shape = {6, 1};
  std::string bytes = npyBytes(t);
  CHECK((bytes.size() - 24) % 64 == 0);
}

TEST_CASE("npy: an inconsistent tensor is refused before the file is touched") {
  std::string path = scratch("npy_inconsistent.npy");
  writeBytes(path, "old content");
  Tensor t;
  t.shape = {2, 3};
  t.data = {1, 2, 3, 4, 5};
  CHECK(errorOf([&] { writeNpy(path, t); }) ==
        path + ": cannot write tensor: shape (2, 3) has 6 elements but the data has 5");
  t.shape = {-1};
  CHECK(errorOf([&] { writeNpy(path, t); }) ==
        path + ": cannot write tensor: shape (-1,) is invalid");
  CHECK(readBytes(path) == "old content");
  CHECK_THROWS_AS(npyBytes(t), std::invalid_argument);
}

TEST_CASE("npy: a failed write leaves no file and no temporary behind") {
  Tensor t;
  t.shape = {1};
  t.data = {1};
  std::string inMissingDirectory = scratch("npy_no_such_dir/y.npy");
  CHECK(errorOf([&] { writeNpy(inMissingDirectory, t); }) ==
        inMissingDirectory + ": cannot write file: No such file or directory");
  CHECK(!std::filesystem::exists(inMissingDirectory));

  // Renaming over a directory fails after the temporary file is written.
  std::string directory = scratch("npy_dir_target");
  std::filesystem::create_directories(directory);
  CHECK(errorOf([&] { writeNpy(directory, t); }) ==
        directory + ": cannot write file: Is a directory");
  CHECK(std::filesystem::is_directory(directory));
  CHECK(!hasTemporaryFiles(SLOPE_TEST_TMPDIR, "runtime_npy_dir_target"));
}

TEST_CASE("npy: a write that fails midway does not clobber the existing file") {
  std::string path = scratch("npy_fsize.npy");
  writeBytes(path, "old content");
  Tensor big;
  big.shape = {100000};
  big.data.assign(100000, 1.0f);

  // Make writes beyond 4 KiB fail with EFBIG instead of killing the process.
  struct rlimit saved;
  REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
  auto savedHandler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 4096;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::string message = errorOf([&] { writeNpy(path, big); });
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, savedHandler);

  CHECK(message == path + ": cannot write file: File too large");
  CHECK(readBytes(path) == "old content");
  CHECK(!hasTemporaryFiles(SLOPE_TEST_TMPDIR, "runtime_npy_fsize.npy"));
  writeNpy(path, big); // and with room, it works
  CHECK(readNpy(path).data.size() == 100000);
}
