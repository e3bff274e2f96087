// NumPy .npz archives (runtime/Npz.h).

#include "runtime/Npy.h"
#include "runtime/Npz.h"
#include "runtime_test_util.h"

#include <doctest/doctest.h>

#include <optional>

#include <zlib.h>

using namespace slope::runtime;
using namespace slope::runtime::testing;

namespace {

using Tensors = std::vector<std::pair<std::string, Tensor>>;

std::string rawDeflate(const std::string &data) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) ==
          Z_OK);
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef *>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string hex(uint32_t value) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%08x", value);
  return buffer;
}

uint32_t crcOf(const std::string &data) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef *>(data.data()), static_cast<uInt>(data.size())));
}

// One member of a hand-made zip; the optional fields override what is
// written in the central directory.
struct ZipMember {
  std::string name;
  std::string content;                // the uncompressed member
  uint16_t method = 0;                // 0 stored, 8 deflate, anything else written as stored
  std::optional<std::string> payload; // the bytes written instead of compressing `content`
  std::optional<uint32_t> crc;
  std::optional<uint64_t> compressedSize;
  std::optional<uint64_t> uncompressedSize;
  std::optional<uint64_t> localOffset;
  std::optional<std::string> localName;
  uint16_t flags = 0;
  bool zip64 = false;       // sizes and offset in the central zip64 extra field
  std::string centralExtra; // appended to the central extra field
};

struct ZipOptions {
  bool zip64End = false; // zip64 end record and locator
  std::optional<uint64_t> entries;
  std::optional<uint64_t> directoryOffset;
  uint16_t disk = 0;
};

std::string buildZip(const std::vector<ZipMember> &members, const ZipOptions &options = {}) {
  std::string out;
  std::string directory;
  for (const ZipMember &m : members) {
    std::string payload = m.payload       ? *m.payload
                          : m.method == 8 ? rawDeflate(m.content)
                                          : m.content;
    uint64_t offset = out.size();
    std::string localName = m.localName ? *m.localName : m.name;
    out += le(0x04034b50, 4) + le(20, 2) + le(m.flags, 2) + le(m.method, 2) + le(0, 4) +
           le(crcOf(m.content), 4) + le(payload.size(), 4) + le(m.content.size(), 4) +
           le(localName.size(), 2) + le(0, 2) + localName + payload;

    uint64_t csize = m.compressedSize.value_or(payload.size());
    uint64_t usize = m.uncompressedSize.value_or(m.content.size());
    uint64_t loff = m.localOffset.value_or(offset);
    std::string extra;
    if (m.zip64)
      extra = le(1, 2) + le(24, 2) + le(usize, 8) + le(csize, 8) + le(loff, 8);
    extra += m.centralExtra;
    auto field = [&](uint64_t v) { return m.zip64 ? le(0xffffffff, 4) : le(v, 4); };
    directory += le(0x02014b50, 4) + le(45, 2) + le(45, 2) + le(m.flags, 2) + le(m.method, 2) +
                 le(0, 4) + le(m.crc.value_or(crcOf(m.content)), 4) + field(csize) + field(usize) +
                 le(m.name.size(), 2) + le(extra.size(), 2) + le(0, 2) + le(0, 2) + le(0, 2) +
                 le(0, 4) + field(loff) + m.name + extra;
  }
  uint64_t directoryOffset = options.directoryOffset.value_or(out.size());
  uint64_t entries = options.entries.value_or(members.size());
  out += directory;
  if (options.zip64End) {
    uint64_t recordOffset = out.size();
    out += le(0x06064b50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(options.disk, 4) + le(0, 4) +
           le(entries, 8) + le(entries, 8) + le(directory.size(), 8) + le(directoryOffset, 8);
    out += le(0x07064b50, 4) + le(0, 4) + le(recordOffset, 8) + le(1, 4);
    out += le(0x06054b50, 4) + le(0xffff, 2) + le(0xffff, 2) + le(0xffff, 2) + le(0xffff, 2) +
           le(0xffffffff, 4) + le(0xffffffff, 4) + le(0, 2);
  } else {
    out += le(0x06054b50, 4) + le(options.disk, 2) + le(0, 2) + le(entries, 2) + le(entries, 2) +
           le(directory.size(), 4) + le(directoryOffset, 4) + le(0, 2);
  }
  return out;
}

std::string smallNpy(std::vector<float> values) {
  Tensor t;
  t.shape = {static_cast<int64_t>(values.size())};
  t.data = std::move(values);
  return npyBytes(t);
}

std::string npzError(const std::string &bytes) {
  return errorOf([&] { readNpzBytes(bytes, "w.npz"); });
}

std::vector<std::string> keysOf(const Tensors &tensors) {
  std::vector<std::string> keys;
  for (const auto &[key, tensor] : tensors)
    keys.push_back(key);
  return keys;
}

void checkFixtureWeights(const Tensors &tensors) {
  REQUIRE(keysOf(tensors) == std::vector<std::string>{"h1.weight", "h1.bias", "out.weight"});
  CHECK(tensors[0].second.shape == std::vector<int64_t>{2, 3});
  CHECK(tensors[0].second.data == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(tensors[1].second.shape == std::vector<int64_t>{2});
  CHECK(tensors[1].second.data == std::vector<float>{0.5f, -0.5f});
  CHECK(tensors[2].second.shape == std::vector<int64_t>{1, 2}); // stored as f64
  CHECK(tensors[2].second.data == std::vector<float>{0.25f, 0.75f});
}

} // namespace

TEST_CASE("npz: reads numpy.savez and numpy.savez_compressed, in archive order") {
  checkFixtureWeights(readNpz(fixture("weights_savez.npz")));
  checkFixtureWeights(readNpz(fixture("weights_savez_compressed.npz")));
}

TEST_CASE("npz: an archive with no members has no tensors") {
  CHECK(readNpzBytes(buildZip({}), "w.npz").empty());
}

TEST_CASE("npz: keys drop only a trailing .npy") {
  Tensors t = readNpzBytes(buildZip({{.name = "a.npy.npy", .content = smallNpy({1})},
                                     {.name = "b", .content = smallNpy({2}), .method = 8},
                                     {.name = "c.npyz", .content = smallNpy({3})}}),
                           "w.npz");
  CHECK(keysOf(t) == std::vector<std::string>{"a.npy", "b", "c.npyz"});
  CHECK(t[1].second.data == std::vector<float>{2});
}

TEST_CASE("npz: zip64 sizes and offsets, and the zip64 end record") {
  std::string npy = smallNpy({1, 2, 3});
  Tensors t = readNpzBytes(buildZip({{.name = "a.npy", .content = npy, .zip64 = true},
                                     {.name = "b.npy", .content = npy, .method = 8, .zip64 = true}},
                                    {.zip64End = true}),
                           "w.npz");
  REQUIRE(keysOf(t) == std::vector<std::string>{"a", "b"});
  CHECK(t[1].second.data == std::vector<float>{1, 2, 3});
  // Other extra fields are skipped.
  CHECK(readNpzBytes(buildZip({{.name = "a.npy",
                                .content = npy,
                                .centralExtra = le(0x5455, 2) + le(5, 2) + "12345"}}),
                     "w.npz")
            .size() == 1);
}

TEST_CASE("npz: corrupted members are caught by their CRC-32") {
  std::string npy = smallNpy({1, 2, 3});
  uint32_t good = crcOf(npy);
  CHECK(npzError(buildZip({{.name = "a.npy", .content = npy, .crc = good ^ 1}})) ==
        "w.npz: member 'a.npy' is corrupted: its CRC-32 is 0x" + hex(good) +
            "; the zip directory says 0x" + hex(good ^ 1));
  std::string compressed =
      npzError(buildZip({{.name = "a.npy", .content = npy, .method = 8, .crc = 0x12345678}}));
  CHECK(compressed.starts_with("w.npz: member 'a.npy' is corrupted: its CRC-32 is 0x"));
  CHECK(compressed.ends_with("; the zip directory says 0x12345678"));
  // A damaged .npy header inside a deflated member is reported as damage.
  std::string i4 = npy;
  i4.replace(i4.find("<f4"), 3, "<i4");
  CHECK(npzError(buildZip({{.name = "a.npy", .content = i4, .method = 8, .crc = good}})) ==
        "w.npz: member 'a.npy' is corrupted: its CRC-32 is 0x" + hex(crcOf(i4)) +
            "; the zip directory says 0x" + hex(good));
}

TEST_CASE("npz: compression methods other than stored and deflate") {
  CHECK(npzError(buildZip({{.name = "a.npy", .content = smallNpy({1}), .method = 12}})) ==
        "w.npz: member 'a.npy' uses compression method 12 (bzip2); expected 0 (stored) or 8 "
        "(deflate)");
  CHECK(npzError(buildZip({{.name = "a.npy", .content = smallNpy({1}), .method = 77}})) ==
        "w.npz: member 'a.npy' uses compression method 77; expected 0 (stored) or 8 (deflate)");
  CHECK(npzError(buildZip({{.name = "a.npy", .content = smallNpy({1}), .flags = 1}})) ==
        "w.npz: member 'a.npy' is encrypted; encrypted archives are not supported");
}

TEST_CASE("npz: bad deflate streams") {
  std::string npy = smallNpy({1, 2, 3, 4, 5, 6, 7, 8});
  std::string deflated = rawDeflate(npy);
  CHECK(npzError(buildZip({{.name = "a.npy",
                            .content = npy,
                            .method = 8,
                            .payload = deflated.substr(0, deflated.size() / 2)}})) ==
        "w.npz: member 'a.npy': deflate stream is truncated");
  CHECK(npzError(buildZip({{.name = "a.npy",
                            .content = npy,
                            .method = 8,
                            .payload = std::string("\xff\xff\xff\xff\xff\xff", 6)}})) ==
        "w.npz: member 'a.npy': invalid deflate data: invalid block type");
  CHECK(npzError(buildZip({{.name = "a.npy", .content = npy, .method = 8, .payload = ""}})) ==
        "w.npz: member 'a.npy': deflate stream is truncated");
}

TEST_CASE("npz: sizes in the zip directory are checked, not trusted") {
  std::string npy = smallNpy({1, 2, 3}); // 128 + 12 bytes
  // A claim of 2^40 bytes is refused as soon as the .npy header is inflated.
  CHECK(npzError(buildZip({{.name = "a.npy",
                            .content = npy,
                            .method = 8,
                            .uncompressedSize = uint64_t(1) << 40,
                            .zip64 = true}})) ==
        "w.npz: member 'a.npy' has an uncompressed size of 1099511627776 bytes in the zip "
        "directory but its .npy header describes 140");
  // Even when the .npy header inside agrees, only bytes really inflated are kept.
  std::string hugeHeader = npyWithHeader(f32Header("(274877906944,)"), "");
  uint64_t claimed = hugeHeader.size() + (uint64_t(1) << 40);
  CHECK(npzError(buildZip({{.name = "a.npy",
                            .content = hugeHeader,
                            .method = 8,
                            .uncompressedSize = claimed,
                            .zip64 = true}})) ==
        "w.npz: member 'a.npy' inflates to " + std::to_string(hugeHeader.size()) +
            " bytes; the zip directory says " + std::to_string(claimed));
  CHECK(npzError(
            buildZip({{.name = "a.npy", .content = npy, .method = 8, .uncompressedSize = 100}})) ==
        "w.npz: member 'a.npy' inflates to more than the 100 bytes given in the zip directory");
  CHECK(npzError(buildZip({{.name = "a.npy", .content = npy, .uncompressedSize = 139}})) ==
        "w.npz: member 'a.npy' is stored with a compressed size of 140 bytes but an "
        "uncompressed size of 139");
}

TEST_CASE("npz: member data must lie inside the archive and not overlap") {
  std::string npy = smallNpy({1, 2, 3});
  CHECK(npzError(buildZip({{.name = "a.npy", .content = npy, .compressedSize = 100000}})) ==
        "w.npz: member 'a.npy': compressed data (100000 bytes at offset 35) runs into the zip "
        "central directory at offset 175");
  CHECK(
      npzError(buildZip(
          {{.name = "a.npy", .content = npy, .localOffset = uint64_t(1) << 40, .zip64 = true}})) ==
      "w.npz: member 'a.npy': local header offset 1099511627776 lies outside the member area "
      "(offsets below 175)");
  CHECK(npzError(buildZip({{.name = "a.npy", .content = npy, .localOffset = 3}})) ==
        "w.npz: member 'a.npy': no zip local file header at offset 3");
  CHECK(npzError(buildZip({{.name = "a.npy", .content = npy, .localName = "b.npy"}})) ==
        "w.npz: member 'a.npy': its local header names it 'b.npy'");
  // 'a.npy' claims 10 more bytes than it has: they belong to 'b.npy'.
  CHECK(npzError(buildZip(
            {{.name = "a.npy", .content = npy, .compressedSize = 150, .uncompressedSize = 150},
             {.name = "b.npy", .content = npy}})) ==
        "w.npz: member 'b.npy' overlaps member 'a.npy'");
  // Two entries for one local header, the zip bomb trick, fail on the name.
  CHECK(npzError(buildZip({{.name = "a.npy", .content = npy},
                           {.name = "b.npy", .content = npy, .localOffset = 0}})) ==
        "w.npz: member 'b.npy': its local header names it 'a.npy'");
  CHECK(npzError(buildZip({{.name = "a.npy", .content = npy}, {.name = "a", .content = npy}})) ==
        "w.npz: duplicate key 'a'");
}

TEST_CASE("npz: broken central directories") {
  std::string npy = smallNpy({1});
  CHECK(npzError("PK\x03\x04 and nothing else") ==
        "w.npz: not a valid .npz file: no zip end of central directory record (file truncated?)");
  CHECK(npzError(buildZip({{.name = "a.npy", .content = npy}}, {.directoryOffset = 5000})) ==
        "w.npz: zip central directory (51 bytes at offset 5000) does not fit in the 218 bytes "
        "before its end record");
  CHECK(npzError(buildZip({{.name = "a.npy", .content = npy}}, {.entries = 2})) ==
        "w.npz: zip central directory of 51 bytes cannot hold 2 entries");
  CHECK(npzError(buildZip({{.name = "a.npy", .content = npy}}, {.directoryOffset = 100})) ==
        "w.npz: zip central directory entry 0 at offset 100 is invalid");
  CHECK(npzError(buildZip({{.name = "a.npy", .content = npy}}, {.disk = 1})) ==
        "w.npz: multi-disk zip archives are not supported");
  CHECK(npzError(buildZip({{.name = "a.npy", .content = npy}},
                          {.zip64End = true, .entries = uint64_t(1) << 40})) ==
        "w.npz: zip central directory of 51 bytes cannot hold 1099511627776 entries");
  // A zip64 field is read only for values that are 0xffffffff.
  CHECK(npzError(buildZip(
            {{.name = "a.npy", .content = npy, .centralExtra = le(1, 2) + le(8, 2) + le(1, 8)}})) ==
        "no error");
  std::string longField = buildZip(
      {{.name = "a.npy", .content = npy, .centralExtra = le(0x7075, 2) + le(100, 2) + "x"}});
  CHECK(npzError(longField) == "w.npz: member 'a.npy': malformed zip extra field");
}

TEST_CASE("npz: a zip64 extra field too short for the values it replaces") {
  std::string npy = smallNpy({1});
  ZipMember m{.name = "a.npy", .content = npy};
  // 0xffffffff sizes with an extra field that holds only one of them.
  std::string extra = le(1, 2) + le(8, 2) + le(npy.size(), 8);
  std::string bytes = buildZip({m});
  size_t central = bytes.find(std::string("PK\x01\x02", 4));
  bytes.replace(central + 20, 8, le(0xffffffff, 4) + le(0xffffffff, 4));
  bytes.replace(central + 30, 2, le(extra.size(), 2));
  bytes.insert(central + 46 + 5, extra);
  // Fix the end record: the directory grew.
  size_t end = bytes.find(std::string("PK\x05\x06", 4));
  bytes.replace(end + 12, 4, le(46 + 5 + extra.size(), 4));
  CHECK(npzError(bytes) == "w.npz: member 'a.npy': zip64 extra field is too short");
}

TEST_CASE("npz: members that are not float arrays name their key") {
  CHECK(npzError(buildZip({{.name = "h1.weight.npy", .content = "just text"}})) ==
        "w.npz: tensor 'h1.weight': not a NumPy .npy file: it does not start with \\x93NUMPY");
  std::string i4 =
      npyWithHeader("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", "1234");
  CHECK(npzError(buildZip({{.name = "h1.bias.npy", .content = i4, .method = 8}})) ==
        "w.npz: tensor 'h1.bias': unsupported dtype '<i4'; expected '<f4', '<f8' or '<f2' "
        "(either byte order)");
  CHECK(npzError(buildZip({{.name = "e.npy", .content = ""}})) ==
        "w.npz: tensor 'e': truncated .npy data (0 bytes); the preamble needs 10");
  CHECK(npzError(buildZip({{.name = "e.npy", .content = "", .method = 8}})) ==
        "w.npz: tensor 'e': truncated .npy data (0 bytes); the preamble needs 10");
}

TEST_CASE("npz: a file truncated at any position is an error, never a crash") {
  for (const char *name : {"weights_savez.npz", "weights_savez_compressed.npz"}) {
    std::string bytes = readBytes(fixture(name));
    for (size_t n = 0; n < bytes.size(); ++n) {
      CAPTURE(name);
      CAPTURE(n);
      CHECK(errorOf([&] { readNpzBytes(bytes.substr(0, n), "w.npz"); }) ==
            "w.npz: not a valid .npz file: no zip end of central directory record (file "
            "truncated?)");
    }
  }
}

TEST_CASE("npz: corrupting any byte gives a result or a DataError, never a crash") {
  for (const char *name : {"weights_savez.npz", "weights_savez_compressed.npz"}) {
    std::string bytes = readBytes(fixture(name));
    size_t failures = 0;
    for (size_t i = 0; i < bytes.size(); ++i) {
      for (unsigned char value : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
        std::string corrupt = bytes;
        if (corrupt[i] == static_cast<char>(value))
          continue;
        corrupt[i] = static_cast<char>(value);
        CAPTURE(name);
        CAPTURE(i);
        std::string message = errorOf([&] { readNpzBytes(corrupt, "w.npz"); });
        CHECK((message == "no error" || message.starts_with("w.npz: ")));
        failures += message != "no error";
      }
    }
    // Most corruptions are caught (by the CRC-32 if nothing else).
    CHECK(failures > bytes.size() * 3);
  }
}

TEST_CASE("npz: file errors name the path") {
  std::string missing = scratch("npz_missing.npz");
  CHECK(errorOf([&] { readNpz(missing); }) ==
        missing + ": cannot open file: No such file or directory");
  std::string empty = scratch("npz_empty.npz");
  writeBytes(empty, "");
  CHECK(errorOf([&] { readNpz(empty); }) == empty + ": file is empty");
}
