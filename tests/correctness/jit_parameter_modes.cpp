// The three ways the entry function can get its parameters (what AOT builds on): packed
// pointers (the JIT), the user's layout through pointers (an AOT params struct), and
// embedded constants. All must compute the same bits.
#include "jit_testing.h"

#include "compiler/backend/Optimize.h"
#include "compiler/codegen/Network.h"

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

using namespace slope;
using namespace slope::jittest;

namespace {

/// Emits the network with `options` (target: the host), optimizes it and loads it into
/// its own LLJIT; returns the JIT (which owns the code) and the entry's address.
std::pair<std::unique_ptr<llvm::orc::LLJIT>, void *> load(const ir::Graph &graph,
                                                          codegen::NetworkOptions options) {
  backend::initializeNativeTarget();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  REQUIRE(static_cast<bool>(jtmb));
  auto tm = jtmb->createTargetMachine();
  REQUIRE(static_cast<bool>(tm));
  options.target = codegen::targetSpecFor(**tm);
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = codegen::emitNetwork(*context, graph, options);
  if (!module)
    FAIL(llvm::toString(module.takeError()));
  (*module)->setDataLayout((*tm)->createDataLayout());
  backend::optimizeModule(**module, **tm, 3);
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(*jtmb).create();
  REQUIRE(static_cast<bool>(jit));
  llvm::Error added =
      (*jit)->addIRModule(llvm::orc::ThreadSafeModule(std::move(*module), std::move(context)));
  REQUIRE(!added);
  auto address = (*jit)->lookup(options.entryName);
  REQUIRE(static_cast<bool>(address));
  return {std::move(*jit), address->toPtr<void *>()};
}

} // namespace

TEST_CASE("jit: packed, user-layout and embedded parameters compute the same bits") {
  using WithParams = int32_t (*)(const float *const *, const float *, float *, int64_t);
  using Embedded = int32_t (*)(const float *, float *, int64_t);
  std::mt19937_64 rng(1234);
  for (int n = 0; n < 12; ++n) {
    std::string text = randomNetworkSource(rng);
    ir::Graph graph = parseNetwork(text);
    ir::ParameterValues params = randomParameters(graph, rng);
    // The user layout has no shared prelu slope: broadcast any to its width.
    for (const ir::ParameterSpec &spec : ir::parameterSpecs(graph))
      if (spec.sharedAllowed && params.values[spec.key].size() == 1)
        params.values[spec.key].assign(size_t(spec.shape[0]), params.values[spec.key][0]);
    auto jit = backend::JitModule::compile(graph, params);

    codegen::NetworkOptions user;
    user.packedArguments = false;
    user.entryName = "user_forward";
    auto [userJit, userEntry] = load(graph, user);
    codegen::NetworkOptions embedded;
    embedded.parameters = codegen::ParameterSource::Embedded;
    embedded.values = &params;
    embedded.entryName = "embedded_forward";
    auto [embeddedJit, embeddedEntry] = load(graph, embedded);

    std::vector<const float *> pointers;
    for (const ir::ParameterSpec &spec : ir::parameterSpecs(graph))
      pointers.push_back(params.data(spec.key));
    // 1 to 4 rows take the user layout's panel-free tiles (transposed in registers).
    for (int64_t batch : {0, 1, 2, 3, 4, 5, 70}) {
      INFO("network " << n << ", batch " << batch << ":\n" << text);
      std::vector<float> input = randomInput(rng, size_t(batch * graph.inputWidth()), true);
      size_t outSize = size_t(batch * graph.outputWidth());
      std::vector<float> a(outSize, 1.0f), b(outSize, 2.0f), c(outSize, 3.0f);
      REQUIRE(jit->forward(input.data(), a.data(), batch) == 0);
      REQUIRE(reinterpret_cast<WithParams>(userEntry)(pointers.data(), input.data(), b.data(),
                                                      batch) == 0);
      REQUIRE(reinterpret_cast<Embedded>(embeddedEntry)(input.data(), c.data(), batch) == 0);
      CHECK(firstDifference(a, b) == -1);
      CHECK(firstDifference(a, c) == -1);
    }
    // The embedded entry checks its arguments too.
    std::vector<float> x(size_t(graph.inputWidth())), y(size_t(graph.outputWidth()));
    CHECK(reinterpret_cast<Embedded>(embeddedEntry)(x.data(), y.data(), -3) != 0);
    CHECK(reinterpret_cast<Embedded>(embeddedEntry)(nullptr, y.data(), 1) != 0);
    if (!pointers.empty()) {
      CHECK(reinterpret_cast<WithParams>(userEntry)(nullptr, x.data(), y.data(), 1) != 0);
      std::vector<const float *> withNull = pointers;
      withNull.back() = nullptr;
      CHECK(reinterpret_cast<WithParams>(userEntry)(withNull.data(), x.data(), y.data(), 1) != 0);
    }
  }
}
