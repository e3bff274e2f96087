#include "runtime/Npz.h"

#include "runtime/DataFile.h"
#include "runtime/Npy.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>

#include <zlib.h>

namespace slope::runtime {

using detail::loadLE16;
using detail::loadLE32;
using detail::loadLE64;

namespace {

constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr size_t kEndSize = 22;
constexpr size_t kZip64EndSize = 56;
constexpr size_t kZip64LocatorSize = 20;
constexpr size_t kCentralHeaderSize = 46;
constexpr size_t kLocalHeaderSize = 30;
constexpr uint32_t kZip64Sentinel = 0xffffffff;

struct Member {
  std::string name; // as in the archive, e.g. "h1.weight.npy"
  std::string key;  // the name without ".npy"
  uint16_t flags = 0;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t compressedSize = 0;
  uint64_t uncompressedSize = 0;
  uint64_t localOffset = 0;
  uint64_t dataOffset = 0; // known once the local header is checked
};

std::string hex32(uint32_t v) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0x%08x", v);
  return buffer;
}

const char *methodName(uint16_t method) {
  switch (method) {
  case 1:
    return " (shrink)";
  case 6:
    return " (implode)";
  case 9:
    return " (deflate64)";
  case 12:
    return " (bzip2)";
  case 14:
    return " (lzma)";
  case 93:
    return " (zstd)";
  case 95:
    return " (xz)";
  case 98:
    return " (ppmd)";
  case 99:
    return " (AES encryption)";
  default:
    return "";
  }
}

class NpzReader {
public:
  NpzReader(std::string_view bytes, const std::string &name) : bytes_(bytes), name_(name) {}

  std::vector<std::pair<std::string, Tensor>> read() {
    readCentralDirectory();
    checkLocalHeaders();
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const Member &m : members_)
      tensors.emplace_back(m.key, extract(m));
    return tensors;
  }

private:
  [[noreturn]] void fail(const std::string &message) const {
    throw DataError(name_ + ": " + message);
  }
  [[noreturn]] void fail(const Member &m, const std::string &message) const {
    fail("member " + detail::quoted(m.name) + message);
  }

  uint32_t u16(uint64_t at) const { return loadLE16(bytes_.data() + at); }
  uint32_t u32(uint64_t at) const { return loadLE32(bytes_.data() + at); }
  uint64_t u64(uint64_t at) const { return loadLE64(bytes_.data() + at); }

  // The end of central directory record is the last thing in the file but
  // for a comment of up to 64 KiB.
  size_t findEndRecord() const {
    const char *missing = "not a valid .npz file: no zip end of central directory record "
                          "(file truncated?)";
    if (bytes_.size() < kEndSize)
      fail(missing);
    size_t lowest = bytes_.size() - kEndSize > 0xffff ? bytes_.size() - kEndSize - 0xffff : 0;
    for (size_t pos = bytes_.size() - kEndSize + 1; pos-- > lowest;) {
      if (u32(pos) == kEndSignature && pos + kEndSize + u16(pos + 20) <= bytes_.size())
        return pos;
    }
    fail(missing);
  }

  void readCentralDirectory() {
    size_t end = findEndRecord();
    uint64_t disk = u16(end + 4);
    uint64_t directoryDisk = u16(end + 6);
    uint64_t entriesOnDisk = u16(end + 8);
    uint64_t entries = u16(end + 10);
    uint64_t directorySize = u32(end + 12);
    uint64_t directoryOffset = u32(end + 16);
    uint64_t directoryLimit = end; // where the central directory must end by

    if (end >= kZip64LocatorSize && u32(end - kZip64LocatorSize) == kZip64LocatorSignature) {
      size_t locator = end - kZip64LocatorSize;
      uint64_t record = u64(locator + 8);
      if (u32(locator + 4) != 0 || u32(locator + 16) > 1)
        fail("multi-disk zip archives are not supported");
      if (record > locator || locator - record < kZip64EndSize)
        fail("zip64 end of central directory record offset " + std::to_string(record) +
             " lies outside the file");
      if (u32(record) != kZip64EndSignature)
        fail("no zip64 end of central directory record at offset " + std::to_string(record));
      disk = u32(record + 16);
      directoryDisk = u32(record + 20);
      entriesOnDisk = u64(record + 24);
      entries = u64(record + 32);
      directorySize = u64(record + 40);
      directoryOffset = u64(record + 48);
      directoryLimit = record;
    }
    if (disk != 0 || directoryDisk != 0 || entriesOnDisk != entries)
      fail("multi-disk zip archives are not supported");
    if (directoryOffset > directoryLimit || directorySize > directoryLimit - directoryOffset)
      fail("zip central directory (" + std::to_string(directorySize) + " bytes at offset " +
           std::to_string(directoryOffset) + ") does not fit in the " +
           std::to_string(directoryLimit) + " bytes before its end record");
    if (entries > directorySize / kCentralHeaderSize)
      fail("zip central directory of " + std::to_string(directorySize) + " bytes cannot hold " +
           std::to_string(entries) + " entries");
    directoryOffset_ = directoryOffset;

    std::set<std::string> keys;
    uint64_t pos = directoryOffset;
    uint64_t directoryEnd = directoryOffset + directorySize;
    for (uint64_t i = 0; i < entries; ++i) {
      std::string where =
          "zip central directory entry " + std::to_string(i) + " at offset " + std::to_string(pos);
      if (directoryEnd - pos < kCentralHeaderSize || u32(pos) != kCentralHeaderSignature)
        fail(where + " is invalid");
      uint64_t nameLength = u16(pos + 28);
      uint64_t extraLength = u16(pos + 30);
      uint64_t commentLength = u16(pos + 32);
      uint64_t entrySize = kCentralHeaderSize + nameLength + extraLength + commentLength;
      if (directoryEnd - pos < entrySize)
        fail(where + " is truncated");
      Member m;
      m.flags = static_cast<uint16_t>(u16(pos + 8));
      m.method = static_cast<uint16_t>(u16(pos + 10));
      m.crc = u32(pos + 16);
      m.compressedSize = u32(pos + 20);
      m.uncompressedSize = u32(pos + 24);
      m.localOffset = u32(pos + 42);
      m.name = std::string(bytes_.substr(pos + kCentralHeaderSize, nameLength));
      readZip64Extra(m, bytes_.substr(pos + kCentralHeaderSize + nameLength, extraLength));
      m.key = m.name;
      if (m.key.ends_with(".npy"))
        m.key.resize(m.key.size() - 4);
      if (!keys.insert(m.key).second)
        fail("duplicate key " + detail::quoted(m.key));
      if (m.flags & 1)
        fail(m, " is encrypted; encrypted archives are not supported");
      members_.push_back(std::move(m));
      pos += entrySize;
    }
    if (pos != directoryEnd)
      fail("zip central directory has " + std::to_string(directoryEnd - pos) +
           " bytes after its last entry");
  }

  // Sizes and offsets that do not fit in 32 bits are 0xffffffff in the entry
  // and follow, in this order, in the zip64 extra field (id 1).
  void readZip64Extra(Member &m, std::string_view extra) const {
    size_t pos = 0;
    while (extra.size() - pos >= 4) {
      uint32_t id = loadLE16(extra.data() + pos);
      size_t length = loadLE16(extra.data() + pos + 2);
      if (extra.size() - pos - 4 < length)
        fail(m, ": malformed zip extra field");
      if (id == 1) {
        std::string_view field = extra.substr(pos + 4, length);
        size_t used = 0;
        for (uint64_t *value : {&m.uncompressedSize, &m.compressedSize, &m.localOffset}) {
          if (*value != kZip64Sentinel)
            continue;
          if (field.size() - used < 8)
            fail(m, ": zip64 extra field is too short");
          *value = loadLE64(field.data() + used);
          used += 8;
        }
      }
      pos += 4 + length;
    }
  }

  void checkLocalHeaders() {
    for (Member &m : members_) {
      uint64_t at = m.localOffset;
      if (at > directoryOffset_ || directoryOffset_ - at < kLocalHeaderSize)
        fail(m, ": local header offset " + std::to_string(at) +
                    " lies outside the member area (offsets below " +
                    std::to_string(directoryOffset_) + ")");
      if (u32(at) != kLocalHeaderSignature)
        fail(m, ": no zip local file header at offset " + std::to_string(at));
      uint64_t nameLength = u16(at + 26);
      uint64_t extraLength = u16(at + 28);
      uint64_t headerSize = kLocalHeaderSize + nameLength + extraLength;
      if (directoryOffset_ - at < headerSize)
        fail(m, ": local header at offset " + std::to_string(at) +
                    " runs into the zip central directory");
      std::string_view localName = bytes_.substr(at + kLocalHeaderSize, nameLength);
      if (localName != m.name)
        fail(m, ": its local header names it " + detail::quoted(localName));
      m.dataOffset = at + headerSize;
      if (m.compressedSize > directoryOffset_ - m.dataOffset)
        fail(m, ": compressed data (" + std::to_string(m.compressedSize) + " bytes at offset " +
                    std::to_string(m.dataOffset) +
                    ") runs into the zip central directory at offset " +
                    std::to_string(directoryOffset_));
    }
    // Members must not share bytes: overlapping members are how zip bombs
    // multiply their size.
    std::vector<const Member *> byOffset;
    for (const Member &m : members_)
      byOffset.push_back(&m);
    std::sort(byOffset.begin(), byOffset.end(),
              [](const Member *a, const Member *b) { return a->localOffset < b->localOffset; });
    for (size_t i = 1; i < byOffset.size(); ++i) {
      const Member &before = *byOffset[i - 1];
      if (byOffset[i]->localOffset < before.dataOffset + before.compressedSize)
        fail(*byOffset[i], " overlaps member " + detail::quoted(before.name));
    }
  }

  void checkCrc(const Member &m, uint32_t crc) const {
    if (crc != m.crc)
      fail(m, " is corrupted: its CRC-32 is " + hex32(crc) + "; the zip directory says " +
                  hex32(m.crc));
  }

  Tensor extract(const Member &m) const {
    std::string display = name_ + ": tensor " + detail::quoted(m.key);
    std::string_view compressed = bytes_.substr(m.dataOffset, m.compressedSize);
    if (m.method == 0) {
      if (m.compressedSize != m.uncompressedSize)
        fail(m, " is stored with a compressed size of " + std::to_string(m.compressedSize) +
                    " bytes but an uncompressed size of " + std::to_string(m.uncompressedSize));
      checkCrc(m, static_cast<uint32_t>(crc32_z(
                      0, reinterpret_cast<const Bytef *>(compressed.data()), compressed.size())));
      return readNpyBytes(compressed, display);
    }
    if (m.method == 8) {
      return readNpyBytes(inflate(m, compressed, display), display);
    }
    fail(m, " uses compression method " + std::to_string(m.method) + methodName(m.method) +
                "; expected 0 (stored) or 8 (deflate)");
  }

  // Inflates a member without trusting any size: the output grows only with
  // what the stream really produces, never beyond the size in the zip
  // directory, which must match what the .npy header inside describes. The
  // CRC-32 is checked before the .npy header is blamed, so that a corrupted
  // member is reported as such.
  std::string inflate(const Member &m, std::string_view compressed,
                      const std::string &display) const {
    z_stream zs{};
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
      fail(m, ": cannot initialize zlib");
    struct End {
      z_stream *zs;
      ~End() { inflateEnd(zs); }
    } end{&zs};

    std::string out;
    std::optional<DataError> headerError; // once set, output is only counted
    bool layoutChecked = false;
    uint64_t inflated = 0;
    uLong crc = crc32_z(0, nullptr, 0);
    size_t inputUsed = 0;
    std::vector<char> buffer(1 << 16);
    for (;;) {
      if (zs.avail_in == 0 && inputUsed < compressed.size()) {
        size_t chunk = std::min<size_t>(compressed.size() - inputUsed, 1u << 30);
        zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(compressed.data() + inputUsed));
        zs.avail_in = static_cast<uInt>(chunk);
        inputUsed += chunk;
      }
      zs.next_out = reinterpret_cast<Bytef *>(buffer.data());
      zs.avail_out = static_cast<uInt>(buffer.size());
      int status = ::inflate(&zs, Z_NO_FLUSH);
      size_t produced = buffer.size() - zs.avail_out;
      if (produced > m.uncompressedSize - inflated)
        fail(m, " inflates to more than the " + std::to_string(m.uncompressedSize) +
                    " bytes given in the zip directory");
      inflated += produced;
      crc = crc32_z(crc, reinterpret_cast<const Bytef *>(buffer.data()), produced);
      if (!headerError) {
        out.append(buffer.data(), produced);
        try {
          if (!layoutChecked)
            layoutChecked = checkLayout(m, out, display);
        } catch (const DataError &e) {
          headerError = e;
          std::string().swap(out);
        }
      }
      if (status == Z_STREAM_END)
        break;
      if (status == Z_BUF_ERROR)
        fail(m, ": deflate stream is truncated");
      if (status != Z_OK)
        fail(m, ": invalid deflate data: " + std::string(zs.msg ? zs.msg : zError(status)));
    }
    checkCrc(m, static_cast<uint32_t>(crc));
    if (headerError)
      throw *headerError;
    if (inflated != m.uncompressedSize)
      fail(m, " inflates to " + std::to_string(inflated) + " bytes; the zip directory says " +
                  std::to_string(m.uncompressedSize));
    return out;
  }

  // Whether `prefix` holds the whole .npy header; throws when the sizes it
  // describes differ from the zip directory's.
  bool checkLayout(const Member &m, std::string_view prefix, const std::string &display) const {
    std::optional<NpyLayout> layout = npyLayoutFromPrefix(prefix, display);
    if (!layout)
      return false;
    uint64_t total = layout->headerBytes + layout->dataBytes;
    if (total != m.uncompressedSize)
      fail(m, " has an uncompressed size of " + std::to_string(m.uncompressedSize) +
                  " bytes in the zip directory but its .npy header describes " +
                  std::to_string(total));
    return true;
  }

  std::string_view bytes_;
  const std::string &name_;
  std::vector<Member> members_;
  uint64_t directoryOffset_ = 0;
};

} // namespace

std::vector<std::pair<std::string, Tensor>> readNpzBytes(std::string_view bytes,
                                                         const std::string &displayName) {
  return NpzReader(bytes, displayName).read();
}

std::vector<std::pair<std::string, Tensor>> readNpz(const std::string &path) {
  std::string bytes = detail::readFileBytes(path);
  if (bytes.empty())
    throw DataError(path + ": file is empty");
  return readNpzBytes(bytes, path);
}

} // namespace slope::runtime
