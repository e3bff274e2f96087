#include "runtime/DataFile.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace slope::runtime::detail {

namespace {

class FileDescriptor {
public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor &) = delete;
  FileDescriptor &operator=(const FileDescriptor &) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  int get() const { return fd_; }

private:
  int fd_;
};


// Length of the valid UTF-8 sequence at the start of `s`, or 0.
size_t utf8SequenceLength(std::string_view s) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = byte(0);
  size_t length;
  uint32_t min;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if ((c & 0xe0) == 0xc0) {
    length = 2, min = 0x80, cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    length = 3, min = 0x800, cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    length = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  if (s.size() < length)
    return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (byte(i) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return length;
}

} // namespace

std::variant<std::string, FileReadFailure> tryReadFileBytes(const std::string &path) {
  auto failure = [](const char *what, int error) {
    return FileReadFailure{what, std::strerror(error)};
  };
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0)
    return failure("cannot open file", errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0)
    return failure("cannot read file", errno);
  if (S_ISDIR(st.st_mode))
    return failure("cannot read file", EISDIR);
  // Devices such as /dev/zero never end; pipes do, so they are allowed.
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
    return FileReadFailure{"cannot read file", "not a regular file"};

  std::string bytes;
  if (S_ISREG(st.st_mode))
    bytes.resize(static_cast<size_t>(st.st_size));
  size_t used = 0;
  for (;;) {
    if (used == bytes.size())
      bytes.resize(bytes.empty() ? 65536 : bytes.size() * 2);
    ssize_t n = ::read(fd.get(), bytes.data() + used, bytes.size() - used);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return failure("cannot read file", errno);
    }
    if (n == 0)
      break;
    used += static_cast<size_t>(n);
    // A regular file is read up to the size it had when opened.
    if (S_ISREG(st.st_mode) && used == static_cast<size_t>(st.st_size))
      break;
  }
  bytes.resize(used);
  return bytes;
}

std::string readFileBytes(const std::string &path) {
  std::variant<std::string, FileReadFailure> read = tryReadFileBytes(path);
  if (auto *failed = std::get_if<FileReadFailure>(&read))
    throw DataError(path + ": " + failed->what + ": " + failed->reason);
  return std::move(std::get<std::string>(read));
}

namespace {

[[noreturn]] void failWrite(const std::string &path, int error) {
  throw DataError(path + ": cannot write file: " + std::strerror(error));
}

/// Writes all of `bytes` to `fd`; 0 or the error.
int writeAll(int fd, std::string_view bytes) {
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno;
    written += static_cast<size_t>(n);
  }
  return 0;
}

/// A name for a temporary file next to `destination`: its name, cut so that the whole
/// stays within NAME_MAX (a legal 255-byte name must not fail for want of room), and
/// ".tmp-PID-N".
std::string temporaryName(const std::filesystem::path &destination, unsigned serial) {
  std::string suffix = ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(serial);
  std::string name = destination.filename().string();
  constexpr size_t kNameMax = 255;
  name.resize(std::min(name.size(), kNameMax - suffix.size()));
  return (destination.parent_path() / (name + suffix)).string();
}

} // namespace

void writeFilesAtomically(std::span<const OutputFile> files) {
  namespace fs = std::filesystem;
  static std::atomic<unsigned> serial{0};
  struct Pending {
    const OutputFile *file;
    std::string destination; // the path, or the target of the link it is
    bool inPlace = false;     // a device or FIFO
    std::string temporary;
  };
  std::vector<Pending> pending;
  for (const OutputFile &f : files) {
    Pending p{&f, f.path};
    struct stat st;
    if (::lstat(f.path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      std::error_code ec;
      fs::path target = fs::weakly_canonical(f.path, ec);
      if (!ec)
        p.destination = target.string();
    }
    if (::stat(p.destination.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode))
        failWrite(f.path, EISDIR);
      p.inPlace = !S_ISREG(st.st_mode);
    }
    pending.push_back(std::move(p));
  }
  auto removeTemporaries = [&pending] {
    for (Pending &p : pending)
      if (!p.temporary.empty())
        ::unlink(p.temporary.c_str());
  };
  for (Pending &p : pending) {
    if (!p.inPlace)
      continue;
    int fd = ::open(p.destination.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0)
      failWrite(p.file->path, errno);
    int error = writeAll(fd, p.file->bytes);
    if (::close(fd) != 0 && error == 0)
      error = errno;
    if (error != 0)
      failWrite(p.file->path, error);
  }
  for (Pending &p : pending) {
    if (p.inPlace)
      continue;
    int fd = -1;
    for (int attempt = 0; fd < 0; ++attempt) {
      p.temporary = temporaryName(p.destination, serial++);
      fd = ::open(p.temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd < 0 && (errno != EEXIST || attempt == 100)) {
        int error = errno;
        p.temporary.clear();
        removeTemporaries();
        failWrite(p.file->path, error);
      }
    }
    int error = writeAll(fd, p.file->bytes);
    if (error == 0 && ::fsync(fd) != 0)
      error = errno;
    if (::close(fd) != 0 && error == 0)
      error = errno;
    if (error != 0) {
      removeTemporaries();
      failWrite(p.file->path, error);
    }
  }
  for (Pending &p : pending) {
    if (p.temporary.empty())
      continue;
    if (::rename(p.temporary.c_str(), p.destination.c_str()) != 0) {
      int error = errno;
      removeTemporaries();
      failWrite(p.file->path, error);
    }
    p.temporary.clear();
  }
}

namespace {

// Escapes what cannot be printed as is; with `quotes`, also quotes and
// backslashes, and cuts the text after `limit` bytes.
std::string escape(std::string_view text, bool quotes, size_t limit) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (i >= limit) {
      out += "...";
      break;
    }
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (quotes && (c == '\'' || c == '\\')) {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    size_t length = utf8SequenceLength(text.substr(i));
    if (c < 0x20 || c == 0x7f || length == 0) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
      continue;
    }
    out.append(text.substr(i, length));
    i += length;
  }
  return out;
}

} // namespace

std::string quoted(std::string_view text) {
  std::string out(1, '\'');
  out += escape(text, true, 80);
  out += '\'';
  return out;
}

std::string printable(std::string_view text) {
  return escape(text, false, text.size());
}

std::string hexPrefix(std::string_view bytes, size_t count) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < count; ++i) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (i)
      out += ' ';
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) // inf, or NaN with its payload
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in f32.
    float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(magnitude));
  }
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

float bfloat16ToFloat(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

float doubleToFloat(double value) {
  // A C++ conversion of a finite double outside the f32 range is undefined;
  // do what IEEE round-to-nearest does instead. Halfway between FLT_MAX and
  // 2^128 rounds to even, which is 2^128, i.e. infinity.
  constexpr double kMax = std::numeric_limits<float>::max();
  constexpr double kHalfwayToInfinity = 0x1.ffffffp127;
  double magnitude = std::fabs(value);
  if (magnitude > kMax && !std::isinf(value)) {
    float result = magnitude >= kHalfwayToInfinity ? std::numeric_limits<float>::infinity()
                                                   : std::numeric_limits<float>::max();
    return std::signbit(value) ? -result : result;
  }
  return static_cast<float>(value);
}

std::optional<int64_t> checkedElements(const std::vector<int64_t> &dims, int64_t itemSize) {
  int64_t product = itemSize;
  bool empty = false;
  for (int64_t d : dims) {
    if (d < 0)
      return std::nullopt;
    if (d == 0) {
      empty = true;
      continue;
    }
    if (__builtin_mul_overflow(product, d, &product))
      return std::nullopt;
  }
  if (empty)
    return 0;
  return product / itemSize;
}

} // namespace slope::runtime::detail
