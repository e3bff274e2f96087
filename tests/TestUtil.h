// Helpers shared by the test folders: running the `slope` program with its output
// captured, scratch directories, small files (text, .npy, safetensors), and f32 bits.
// Header-only; everything is in slope::testutil so it can sit beside other helpers.
#pragma once

#include "compiler/ir/Graph.h"
#include "runtime/Npy.h"
#include "runtime/Tensor.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace slope::testutil {

/// What a run of a program left behind. `status` is the exit status, or 128 + the
/// signal number when a signal ended it.
struct RunResult {
  int status = -1;
  std::string out;
  std::string err;
};

/// Runs `program` with `args` (no shell involved), in `cwd` when it is not empty, with
/// stdin from /dev/null; stdout and stderr are captured separately.
inline RunResult runProgram(const std::string &program, const std::vector<std::string> &args,
                            const std::string &cwd = {}) {
  std::vector<std::string> storage;
  storage.push_back(program);
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char *> argv;
  for (std::string &s : storage)
    argv.push_back(s.data());
  argv.push_back(nullptr);

  int outPipe[2], errPipe[2];
  if (::pipe2(outPipe, O_CLOEXEC) != 0 || ::pipe2(errPipe, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0)
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    int devNull = ::open("/dev/null", O_RDONLY);
    if (devNull >= 0)
      ::dup2(devNull, 0);
    ::dup2(outPipe[1], 1);
    ::dup2(errPipe[1], 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0)
      ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(outPipe[1]);
  ::close(errPipe[1]);

  RunResult result;
  pollfd fds[2] = {{outPipe[0], POLLIN, 0}, {errPipe[0], POLLIN, 0}};
  std::string *sinks[2] = {&result.out, &result.err};
  int stillOpen = 2;
  while (stillOpen > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      char buffer[65536];
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      ::close(fds[i].fd);
      fds[i].fd = -1;
      --stillOpen;
    }
  }
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(wstatus))
    result.status = WEXITSTATUS(wstatus);
  else if (WIFSIGNALED(wstatus))
    result.status = 128 + WTERMSIG(wstatus);
  return result;
}

#ifdef SLOPE_CLI
/// Runs the `slope` program built with the tests.
inline RunResult runSlope(const std::vector<std::string> &args, const std::string &cwd = {}) {
  return runProgram(SLOPE_CLI, args, cwd);
}
#endif

inline std::filesystem::path sourceDir() { return SLOPE_SOURCE_DIR; }

/// A fresh, empty scratch directory for one test: SLOPE_TEST_TMPDIR/<name>.
inline std::filesystem::path scratchDir(const std::string &name) {
  std::filesystem::path dir = std::filesystem::path(SLOPE_TEST_TMPDIR) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline std::string readBytes(const std::filesystem::path &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

inline void writeBytes(const std::filesystem::path &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out)
    throw std::runtime_error("cannot write " + path.string());
}

inline runtime::Tensor tensor(std::vector<int64_t> shape, std::vector<float> data) {
  runtime::Tensor t;
  t.shape = std::move(shape);
  t.data = std::move(data);
  return t;
}

/// A safetensors file holding `tensors` as F32, in the given order.
inline std::string safetensorsBytes(const std::vector<std::pair<std::string, runtime::Tensor>> &tensors) {
  std::string header = "{", data;
  for (const auto &[key, t] : tensors) {
    std::string shape;
    for (int64_t d : t.shape)
      shape += (shape.empty() ? "" : ",") + std::to_string(d);
    size_t begin = data.size();
    data.append(reinterpret_cast<const char *>(t.data.data()), t.data.size() * sizeof(float));
    header += (header.size() > 1 ? "," : "") + ("\"" + key + "\":{\"dtype\":\"F32\",\"shape\":[" + shape +
                                                "],\"data_offsets\":[" + std::to_string(begin) + "," +
                                                std::to_string(data.size()) + "]}");
  }
  header += "}";
  while (header.size() % 8 != 0)
    header += ' ';
  std::string bytes;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    bytes += static_cast<char>((n >> (8 * i)) & 0xff);
  return bytes + header + data;
}

inline void writeSafetensors(const std::filesystem::path &path,
                             const std::vector<std::pair<std::string, runtime::Tensor>> &tensors) {
  writeBytes(path, safetensorsBytes(tensors));
}

inline uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

/// Bitwise equality, except that any NaN matches any NaN.
inline bool sameBits(float a, float b) {
  if (std::isnan(a) || std::isnan(b))
    return std::isnan(a) && std::isnan(b);
  return bitsOf(a) == bitsOf(b);
}

/// Splits text into lines (without their '\n'); a final line without '\n' counts too.
inline std::vector<std::string> splitLines(const std::string &text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

/// A lone node of `op` with the given attributes, the rest at their defaults (as the
/// lowering fills them): what the evaluator's per-op functions take.
inline ir::Node opNode(ir::Op op, std::vector<double> attrs = {}) {
  ir::Node n;
  n.op = op;
  for (size_t i = attrs.size(); i < ir::opInfo(op).attrs.size(); ++i)
    attrs.push_back(ir::opInfo(op).attrs[i].defaultValue);
  n.attrs = attrs;
  return n;
}

} // namespace slope::testutil
