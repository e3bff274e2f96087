// `slope compile` for the host: objects linked with cc and c++ into real programs,
// compared with the reference evaluator and PyTorch, with embedded and external
// weights, every batch size that matters, and bad arguments.
#include "cli/aot_testing.h"

#include <fstream>
#include <limits>
#include <set>
#include <sstream>

using namespace slope;
using namespace slope::aottest;

namespace {

const fs::path kDigits = testutil::sourceDir() / "samples/digits";
const fs::path kTorch = testutil::sourceDir() / "tests/fixtures/torch";

/// Symbols an object may leave to the C library and libm.
bool allowedUndefined(const std::string &name) {
  static const std::set<std::string> libc = {"malloc", "free", "memcpy", "memmove", "memset",
                                              "_GLOBAL_OFFSET_TABLE_"};
  static const std::set<std::string> libm = {
      "expf", "exp2f", "expm1f", "logf", "log1pf", "log2f", "tanhf", "erff", "erfcf",
      "sqrtf", "powf", "fmaf", "fmaxf", "fminf", "exp", "log", "log1p", "expm1", "tanh", "erf"};
  return libc.count(name) || libm.count(name);
}

/// The symbols `nm -u` lists for an object.
std::vector<std::string> undefinedSymbols(const std::string &object,
                                          const std::string &nm = "nm") {
  std::vector<std::string> names;
  std::istringstream lines(runOk(nm, {"-u", object}));
  std::string type, name;
  while (lines >> type >> name)
    names.push_back(name);
  return names;
}

void checkUndefined(const std::string &object, const std::string &nm = "nm") {
  for (const std::string &name : undefinedSymbols(object, nm)) {
    INFO(object, " needs ", name);
    CHECK(allowedUndefined(name));
  }
}

/// Every case of the PyTorch fixtures that has a dense layer (and so a weights file).
std::vector<std::string> torchNetworkCases() {
  std::vector<std::string> names;
  std::ifstream index(kTorch / "index.tsv");
  std::string line;
  std::getline(index, line); // the column names
  while (std::getline(index, line)) {
    std::istringstream fields(line);
    std::string name, kind;
    fields >> name >> kind;
    if (kind == "mlp")
      names.push_back(name);
  }
  return names;
}

} // namespace

TEST_CASE("aot: digits with embedded weights links with cc and c++ and matches the reference") {
  fs::path dir = testutil::scratchDir("aot_digits_embedded");
  compile({(kDigits / "digits.slope").string(), "-o", (dir / "digits.o").string(), "--header",
           (dir / "digits.h").string(), "--weights", (kDigits / "digits.safetensors").string()});
  checkUndefined((dir / "digits.o").string());

  runtime::Tensor x = runtime::readNpy((kDigits / "test_x.npy").string());
  REQUIRE(x.shape == std::vector<int64_t>{450, 64});
  std::vector<float> all = reference(dir, kDigits / "digits.slope", kDigits / "digits.safetensors", x);
  // The JIT compiles the same lowered module for the same CPU: the same bits.
  fs::path jitOut = dir / "jit.npy";
  runOk(SLOPE_CLI, {"run", (kDigits / "digits.slope").string(), "--weights",
                    (kDigits / "digits.safetensors").string(), "--input",
                    (kDigits / "test_x.npy").string(), "--output", jitOut.string()});
  std::vector<float> jit = runtime::readNpy(jitOut.string()).data;

  for (std::string compiler : {"cc", "c++"}) {
    CAPTURE(compiler);
    Program p = link(dir, compiler, "digits", "digits.h", (dir / "digits.o").string(), nullptr,
                     compiler == "cc" ? "driver_c" : "driver_cxx");
    // 450 rows needs the heap scratch, 1 and 7 the stack one.
    for (int64_t batch : {450, 1, 7, 0}) {
      CAPTURE(batch);
      Call c = call(p, x.data, batch);
      REQUIRE(c.rc == 0);
      std::vector<float> expected(all.begin(), all.begin() + batch * 10);
      checkClose(c.output, expected);
      std::vector<float> fromJit(jit.begin(), jit.begin() + batch * 10);
      CHECK(c.output == fromJit);
    }
    // The PyTorch scores of the sample.
    Call c = call(p, x.data, 450);
    checkClose(c.output, runtime::readNpy((kDigits / "expected_scores.npy").string()).data);
  }
}

TEST_CASE("aot: digits with the weights as arguments, in the user's layout") {
  fs::path dir = testutil::scratchDir("aot_digits_external");
  compile({(kDigits / "digits.slope").string(), "-o", (dir / "digits.o").string(), "--header",
           (dir / "digits.h").string()});
  checkUndefined((dir / "digits.o").string());
  std::string header = testutil::readBytes(dir / "digits.h");
  CHECK(header.find("typedef struct digits_params {\n"
                    "  const float *h1_weight; /* h1.weight [32, 64] */\n"
                    "  const float *h1_bias; /* h1.bias [32] */\n"
                    "  const float *h2_weight; /* h2.weight [32, 32] */\n") != std::string::npos);
  CHECK(header.find("int digits_forward(const digits_params *params, const float *input, "
                    "float *output, int64_t batch);") != std::string::npos);

  ir::Graph graph = loadGraph(kDigits / "digits.slope");
  ExternalParameters params = externalParameters(graph, kDigits / "digits.safetensors");
  runtime::Tensor x = runtime::readNpy((kDigits / "test_x.npy").string());
  std::vector<float> all = reference(dir, kDigits / "digits.slope", kDigits / "digits.safetensors", x);
  for (std::string compiler : {"cc", "c++"}) {
    CAPTURE(compiler);
    Program p = link(dir, compiler, "digits", "digits.h", (dir / "digits.o").string(), &params,
                     compiler == "cc" ? "driver_c" : "driver_cxx");
    for (int64_t batch : {450, 1, 13, 0}) {
      CAPTURE(batch);
      Call c = call(p, x.data, batch);
      REQUIRE(c.rc == 0);
      checkClose(c.output, std::vector<float>(all.begin(), all.begin() + batch * 10));
    }
  }
}

TEST_CASE("aot: bad arguments return non-zero and write nothing") {
  fs::path dir = testutil::scratchDir("aot_bad_arguments");
  compile({(kDigits / "digits.slope").string(), "-o", (dir / "embedded.o").string(), "--header",
           (dir / "embedded.h").string(), "--weights", (kDigits / "digits.safetensors").string()});
  compile({(kDigits / "digits.slope").string(), "-o", (dir / "external.o").string(), "--header",
           (dir / "external.h").string()});
  ir::Graph graph = loadGraph(kDigits / "digits.slope");
  ExternalParameters params = externalParameters(graph, kDigits / "digits.safetensors");
  Program embedded = link(dir, "cc", "digits", "embedded.h", (dir / "embedded.o").string(),
                          nullptr, "embedded");
  Program external = link(dir, "cc", "digits", "external.h", (dir / "external.o").string(),
                          &params, "external");
  std::vector<float> x(64 * 3, 0.5f);

  for (const Program *p : {&embedded, &external}) {
    CAPTURE(p->executable);
    Call negative = call(*p, x, -1);
    CHECK(negative.rc == 1);
    CHECK(negative.untouched);
    CHECK(call(*p, x, std::numeric_limits<int64_t>::min()).rc == 1);
    for (std::string mode : {"null-input", "null-output"}) {
      CAPTURE(mode);
      Call c = call(*p, x, 3, mode);
      CHECK(c.rc == 2);
      CHECK(c.untouched);
      // Nothing to read or write: not an error.
      CHECK(call(*p, x, 0, mode).rc == 0);
    }
  }
  for (std::string mode : {"null-params", "null-field"}) {
    CAPTURE(mode);
    Call c = call(external, x, 3, mode);
    CHECK(c.rc == 2);
    CHECK(c.untouched);
  }
  // A batch whose rows of input or output overflow an int64 byte count cannot be in
  // memory: 1. Below that, one whose scratch size overflows, or cannot be allocated: 3.
  const int64_t maxBatch = std::numeric_limits<int64_t>::max() / 4 / 64;
  for (int64_t batch : {std::numeric_limits<int64_t>::max(), maxBatch + 1}) {
    Call huge = call(embedded, x, batch);
    CHECK(huge.rc == 1);
    CHECK(huge.untouched);
  }
  Call noScratch = call(embedded, x, maxBatch);
  CHECK(noScratch.rc == 3);
  CHECK(noScratch.untouched);
}

// Regression: networks without scratch checked no size, and crashed (relu) or returned
// 0 having done nothing (identity, whose byte count wrapped around) for such batches.
TEST_CASE("aot: a batch too large for memory returns 1 without scratch too") {
  fs::path dir = testutil::scratchDir("aot_huge_batch");
  const std::vector<std::string> bodies = {"y = relu(x)", "y = identity(x)",
                                            "y = dense(x, 2) |> leaky_relu()"};
  for (const std::string &body : bodies) {
    CAPTURE(body);
    testutil::writeBytes(dir / "huge.slope",
                         "network huge {\n  input x : f32[3]\n  " + body +
                             "\n  output y\n}\n");
    compile({(dir / "huge.slope").string(), "-o", (dir / "huge.o").string(), "--header",
             (dir / "huge.h").string()});
    ir::Graph graph = loadGraph(dir / "huge.slope");
    ExternalParameters params;
    for (const ir::ParameterSpec &spec : ir::parameterSpecs(graph)) {
      int64_t elements = 1;
      for (int64_t d : spec.shape)
        elements *= d;
      params.fields.push_back(backend::parameterFieldName(spec.key));
      params.values.push_back(std::vector<float>(static_cast<size_t>(elements), 0.5f));
    }
    Program p = link(dir, "cc", "huge", "huge.h", (dir / "huge.o").string(),
                     params.fields.empty() ? nullptr : &params, "huge");
    const int64_t widest = graph.outputWidth() > 3 ? graph.outputWidth() : 3;
    const int64_t maxBatch = std::numeric_limits<int64_t>::max() / 4 / widest;
    CHECK(graph.maxBatch() == maxBatch);
    std::vector<float> x(6, 0.25f);
    for (int64_t batch : {std::numeric_limits<int64_t>::max(), maxBatch + 1}) {
      CAPTURE(batch);
      Call c = call(p, x, batch);
      CHECK(c.rc == 1);
      CHECK(c.untouched);
    }
    CHECK(call(p, x, 2).rc == 0);
  }
}

TEST_CASE("aot: every PyTorch network fixture, embedded and external, matches PyTorch") {
  fs::path dir = testutil::scratchDir("aot_torch_networks");
  std::vector<std::string> cases = torchNetworkCases();
  REQUIRE(cases.size() >= 20);
  for (const std::string &name : cases) {
    CAPTURE(name);
    fs::path source = kTorch / (name + ".slope"), weights = kTorch / (name + ".safetensors");
    runtime::Tensor x = runtime::readNpy((kTorch / (name + ".x.npy")).string());
    std::vector<float> y = runtime::readNpy((kTorch / (name + ".y.npy")).string()).data;
    const int64_t batch = x.shape.size() == 2 ? x.shape[0] : 1;

    compile({source.string(), "-o", (dir / (name + "_e.o")).string(), "--header",
             (dir / (name + "_e.h")).string(), "--weights", weights.string()});
    Program e = link(dir, "cc", name, name + "_e.h", (dir / (name + "_e.o")).string(), nullptr,
                     name + "_e");
    Call ce = call(e, x.data, batch);
    REQUIRE(ce.rc == 0);
    checkClose(ce.output, y);

    compile({source.string(), "-o", (dir / (name + "_x.o")).string(), "--header",
             (dir / (name + "_x.h")).string()});
    ExternalParameters params = externalParameters(loadGraph(source), weights);
    Program p = link(dir, "cc", name, name + "_x.h", (dir / (name + "_x.o")).string(), &params,
                     name + "_x");
    Call cx = call(p, x.data, batch);
    REQUIRE(cx.rc == 0);
    checkClose(cx.output, y);
    checkUndefined((dir / (name + "_x.o")).string());
  }
}

TEST_CASE("aot: elementwise fixtures without parameters match PyTorch or the JIT bit for bit") {
  // The piecewise-linear activations are exact, so they match PyTorch; the smooth ones
  // (checked within 4 ulp by the JIT's tests) match the JIT, which compiles the same
  // module for the same CPU. Ops the code generator does not support yet are reported
  // as such and skipped here.
  fs::path dir = testutil::scratchDir("aot_torch_activations");
  std::ifstream index(kTorch / "index.tsv");
  std::string line;
  std::getline(index, line);
  int compiled = 0;
  while (std::getline(index, line)) {
    std::istringstream fields(line);
    std::string name, kind, op, compare;
    fields >> name >> kind >> op >> compare;
    if (kind == "mlp" || line.find("\tyes") != std::string::npos)
      continue;
    CAPTURE(name);
    fs::path source = kTorch / (name + ".slope"), xPath = kTorch / (name + ".x.npy");
    RunResult r = testutil::runSlope({"compile", source.string(), "-o",
                                      (dir / (name + ".o")).string(), "--header",
                                      (dir / (name + ".h")).string()});
    if (r.status == 1 && r.err.find("not supported yet") != std::string::npos)
      continue;
    INFO(r.err);
    REQUIRE(r.status == 0);
    ++compiled;
    checkUndefined((dir / (name + ".o")).string());
    Program p = link(dir, "cc", name, name + ".h", (dir / (name + ".o")).string(), nullptr, name);
    runtime::Tensor x = runtime::readNpy(xPath.string());
    std::vector<float> y;
    if (compare == "exact") {
      y = runtime::readNpy((kTorch / (name + ".y.npy")).string()).data;
    } else {
      fs::path jitOut = dir / (name + ".jit.npy");
      runOk(SLOPE_CLI, {"run", source.string(), "--input", xPath.string(), "--output",
                        jitOut.string()});
      y = runtime::readNpy(jitOut.string()).data;
    }
    Call c = call(p, x.data, x.shape.size() == 2 ? x.shape[0] : 1);
    REQUIRE(c.rc == 0);
    REQUIRE(c.output.size() == y.size());
    for (size_t i = 0; i < y.size(); ++i) {
      INFO("element ", i, ": ", c.output[i], ", expected ", y[i]);
      REQUIRE(testutil::sameBits(c.output[i], y[i]));
    }
  }
  CHECK(compiled >= 10);
}
