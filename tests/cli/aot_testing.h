// Shared by the aot_*.cpp tests: `slope compile` a network, link the object into a small
// C (or C++) driver program with the system's compilers, run it, and read what it
// wrote. The driver reads raw f32 files (the input, and each parameter when the weights
// are not embedded), calls <net>_forward once, prints its return code, and writes the
// output as raw f32.
#pragma once

#include "TestUtil.h"
#include "compiler/backend/EmitHeader.h"
#include "compiler/ir/Parameters.h"
#include "compiler/passes/Pipeline.h"
#include "runtime/Npy.h"
#include "runtime/Tensor.h"
#include "runtime/Weights.h"
#include "src/Driver.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace slope::aottest {

namespace fs = std::filesystem;
using testutil::RunResult;

/// The program's path from PATH, or empty.
inline std::string findProgram(const std::string &name) {
  const char *path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos)
      end = dirs.size();
    fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate.string();
    start = end + 1;
  }
  return {};
}

/// Runs a program found on PATH; fails the test when it is missing.
inline RunResult run(const std::string &program, const std::vector<std::string> &args,
                     const std::string &cwd = {}) {
  std::string path = program.find('/') == std::string::npos ? findProgram(program) : program;
  INFO("program: ", program);
  REQUIRE_MESSAGE(!path.empty(), program << " is not installed; scripts/setup installs it");
  return testutil::runProgram(path, args, cwd);
}

/// Runs a program and requires exit status 0.
inline std::string runOk(const std::string &program, const std::vector<std::string> &args,
                         const std::string &cwd = {}) {
  RunResult r = run(program, args, cwd);
  std::string command = program;
  for (const std::string &a : args)
    command += " " + a;
  INFO("command: ", command);
  INFO("stderr: ", r.err);
  INFO("stdout: ", r.out);
  REQUIRE(r.status == 0);
  return r.out;
}

/// `slope compile ARGS...`, required to succeed.
inline void compile(const std::vector<std::string> &args) {
  runOk(SLOPE_CLI, [&] {
    std::vector<std::string> all = {"compile"};
    all.insert(all.end(), args.begin(), args.end());
    return all;
  }());
}

inline std::string upper(std::string s) {
  for (char &c : s)
    if (c >= 'a' && c <= 'z')
      c = static_cast<char>(c - 'a' + 'A');
  return s;
}

/// The driver's source for network `net` whose header is `header`; `fields` are the
/// params struct's fields in order (empty: the function takes no params). Valid C99
/// and C++.
///   driver IN.f32 OUT.f32 BATCH MODE [PARAM.f32...]
/// MODE: ok, null-input, null-output, null-params, null-field. It prints
/// "rc=<code> untouched=<0|1>", untouched telling whether the output buffer kept its
/// canary values, and writes batch*OUTPUT_SIZE floats to OUT.f32 when rc is 0.
inline std::string driverSource(const std::string &net, const std::string &header,
                                const std::vector<std::string> &fields) {
  const std::string NET = upper(net);
  std::string s;
  s += "#include \"" + header + "\"\n";
  s += R"(#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *load(const char *path) {
  FILE *f = fopen(path, "rb");
  long size;
  float *data;
  if (!f) {
    perror(path);
    exit(3);
  }
  fseek(f, 0, SEEK_END);
  size = ftell(f);
  fseek(f, 0, SEEK_SET);
  data = (float *)malloc((size_t)size + sizeof(float));
  if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(3);
  }
  fclose(f);
  return data;
}

int main(int argc, char **argv) {
  int64_t batch, i, n;
  float *x, *y;
  const char *mode;
  int rc, untouched = 1;
  FILE *out;
)";
  if (!fields.empty())
    s += "  " + net + "_params params;\n";
  s += "  if (argc != " + std::to_string(5 + fields.size()) + R"() {
    fprintf(stderr, "bad arguments\n");
    return 3;
  }
  batch = strtoll(argv[3], NULL, 10);
  mode = argv[4];
  x = load(argv[1]);
  /* A batch too large to exist (to test the size checks) gets a one-row canary. */
  n = (batch > 0 && batch < 1000000 ? batch : 1) * )" + NET + R"(_OUTPUT_SIZE;
  y = (float *)malloc(sizeof(float) * (size_t)n);
  if (!y)
    return 3;
  for (i = 0; i < n; ++i)
    y[i] = 12345.0f;
)";
  for (size_t i = 0; i < fields.size(); ++i)
    s += "  params." + fields[i] + " = load(argv[" + std::to_string(5 + i) + "]);\n";
  if (!fields.empty())
    s += "  if (strcmp(mode, \"null-field\") == 0)\n    params." + fields.back() + " = NULL;\n";
  s += "  rc = " + net + "_forward(";
  if (!fields.empty())
    s += "strcmp(mode, \"null-params\") == 0 ? NULL : &params, ";
  s += R"(strcmp(mode, "null-input") == 0 ? NULL : x,
                strcmp(mode, "null-output") == 0 ? NULL : y, batch);
  for (i = 0; i < n; ++i)
    untouched &= y[i] == 12345.0f;
  printf("rc=%d untouched=%d\n", rc, untouched);
  if (rc != 0)
    return 0;
  out = fopen(argv[2], "wb");
  if (!out || fwrite(y, sizeof(float), (size_t)(batch * )" + NET + R"(_OUTPUT_SIZE), out) !=
                  (size_t)(batch * )" + NET + R"(_OUTPUT_SIZE) || fclose(out) != 0) {
    perror(argv[2]);
    return 3;
  }
  return 0;
}
)";
  return s;
}

inline void writeFloats(const fs::path &path, const std::vector<float> &values) {
  std::string bytes(values.size() * sizeof(float), '\0');
  if (!values.empty())
    std::memcpy(bytes.data(), values.data(), bytes.size());
  testutil::writeBytes(path, bytes);
}

inline std::vector<float> readFloats(const fs::path &path) {
  std::string bytes = testutil::readBytes(path);
  std::vector<float> values(bytes.size() / sizeof(float));
  if (!values.empty())
    std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

/// The one network of a source file (or the one named), as `slope compile` sees it:
/// after the pass pipeline.
inline ir::Graph loadGraph(const fs::path &source, const std::string &network = {}) {
  std::unique_ptr<Source> text = driver::readSource(source.string());
  ir::Module module = driver::compileSource(*text);
  ir::Graph graph = driver::selectNetwork(module, network, *text);
  passes::runPipeline(graph);
  return graph;
}

/// The parameters of a weights file in the order the params struct lists them, in
/// the user's layout, a shared prelu slope repeated over its channels as the header
/// asks; with their field names.
struct ExternalParameters {
  std::vector<std::string> fields;
  std::vector<std::vector<float>> values;
};

inline ExternalParameters externalParameters(const ir::Graph &graph, const fs::path &weights) {
  ExternalParameters p;
  ir::ParameterValues values =
      ir::bindParameters(graph, runtime::loadWeights(weights.string()), weights.string(), nullptr);
  for (const ir::ParameterSpec &spec : ir::parameterSpecs(graph)) {
    std::vector<float> v = values.at(spec.key);
    if (spec.sharedAllowed && v.size() == 1)
      v.assign(static_cast<size_t>(spec.shape.front()), v.front());
    p.fields.push_back(backend::parameterFieldName(spec.key));
    p.values.push_back(std::move(v));
  }
  return p;
}

/// A linked driver for one compiled network.
struct Program {
  fs::path dir;
  std::string executable;
  /// Run through this (e.g. qemu-aarch64) when not empty.
  std::vector<std::string> runner;
  std::vector<std::string> paramFiles;
  int64_t inputWidth = 0, outputWidth = 0;
};

/// Builds the driver for `net` (header `header` in `dir`) with `compiler` (cc, c++,
/// aarch64-linux-gnu-gcc) and the object, with warnings as errors.
inline Program link(const fs::path &dir, const std::string &compiler, const std::string &net,
                    const std::string &header, const std::string &object,
                    const ExternalParameters *params, const std::string &exeName) {
  Program p;
  p.dir = dir;
  bool cxx = compiler.find("++") != std::string::npos;
  fs::path source = dir / (exeName + (cxx ? ".cpp" : ".c"));
  testutil::writeBytes(source, driverSource(net, header, params ? params->fields
                                                                : std::vector<std::string>{}));
  std::vector<std::string> args = {cxx ? "-std=c++17" : "-std=c99", "-Wall", "-Wextra",
                                   "-Werror", "-pedantic", "-I", dir.string(),
                                   source.string(), object, "-o", (dir / exeName).string(),
                                   "-lm"};
  runOk(compiler, args);
  p.executable = (dir / exeName).string();
  if (params)
    for (size_t i = 0; i < params->values.size(); ++i) {
      fs::path file = dir / (exeName + ".param" + std::to_string(i) + ".f32");
      writeFloats(file, params->values[i]);
      p.paramFiles.push_back(file.string());
    }
  return p;
}

struct Call {
  int rc = -1;
  bool untouched = false;
  std::vector<float> output;
};

/// Runs the driver on `batch` rows of `input` (which may hold more) in `mode`.
inline Call call(const Program &p, const std::vector<float> &input, int64_t batch,
                 const std::string &mode = "ok") {
  static int counter = 0;
  std::string tag = std::to_string(counter++);
  fs::path in = p.dir / ("in" + tag + ".f32"), out = p.dir / ("out" + tag + ".f32");
  writeFloats(in, input);
  std::vector<std::string> args = {in.string(), out.string(), std::to_string(batch), mode};
  args.insert(args.end(), p.paramFiles.begin(), p.paramFiles.end());
  std::string program = p.executable;
  if (!p.runner.empty()) {
    program = p.runner.front();
    std::vector<std::string> all(p.runner.begin() + 1, p.runner.end());
    all.push_back(p.executable);
    all.insert(all.end(), args.begin(), args.end());
    args = all;
  }
  std::string text = runOk(program, args);
  Call c;
  int untouched = 0;
  REQUIRE(std::sscanf(text.c_str(), "rc=%d untouched=%d", &c.rc, &untouched) == 2);
  c.untouched = untouched != 0;
  if (c.rc == 0)
    c.output = readFloats(out);
  return c;
}

/// Within float32 summation order of `expected`: |a - e| <= tol * (1 + |e|), NaN
/// matching NaN, infinities exactly.
inline void checkClose(const std::vector<float> &actual, const std::vector<float> &expected,
                       double tolerance = 1e-5) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    float a = actual[i], e = expected[i];
    bool ok = (std::isnan(a) && std::isnan(e)) ||
              (std::isinf(e) ? a == e
                             : std::fabs(double(a) - double(e)) <= tolerance * (1 + std::fabs(double(e))));
    if (!ok) {
      INFO("element ", i, ": ", a, ", expected ", e);
      CHECK(ok);
      return;
    }
  }
}

/// The reference evaluator's output for `input` (a [batch, width] tensor).
inline std::vector<float> reference(const fs::path &dir, const fs::path &source,
                                    const fs::path &weights, const runtime::Tensor &input,
                                    const std::vector<std::string> &extra = {}) {
  fs::path in = dir / "reference_in.npy", out = dir / "reference_out.npy";
  runtime::writeNpy(in.string(), input);
  std::vector<std::string> args = {"run", source.string(), "--reference", "--input", in.string(),
                                   "--output", out.string()};
  if (!weights.empty()) {
    args.push_back("--weights");
    args.push_back(weights.string());
  }
  args.insert(args.end(), extra.begin(), extra.end());
  runOk(SLOPE_CLI, args);
  return runtime::readNpy(out.string()).data;
}

/// The first `rows` rows of `t`, as a tensor.
inline runtime::Tensor rows(const runtime::Tensor &t, int64_t rows) {
  int64_t width = t.shape.size() == 2 ? t.shape[1] : t.shape[0];
  return testutil::tensor({rows, width},
                          std::vector<float>(t.data.begin(), t.data.begin() + rows * width));
}

} // namespace slope::aottest
