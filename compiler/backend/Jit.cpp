#include "compiler/backend/Jit.h"

#include "compiler/backend/Optimize.h"
#include "compiler/codegen/Network.h"
#include "compiler/codegen/Target.h"

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

namespace slope::backend {

namespace {

[[noreturn]] void fail(llvm::Error error) {
  throw CodegenError(llvm::toString(std::move(error)));
}

template <typename T> T check(llvm::Expected<T> value) {
  if (!value)
    fail(value.takeError());
  return std::move(*value);
}

/// The machine to compile for: the host, or the CPU and features the options name.
llvm::orc::JITTargetMachineBuilder machineBuilder(const CompileOptions &options) {
  initializeNativeTarget();
  llvm::orc::JITTargetMachineBuilder jtmb = check(llvm::orc::JITTargetMachineBuilder::detectHost());
  if (!options.cpu.empty()) {
    jtmb.setCPU(options.cpu);
    jtmb.getFeatures() = llvm::SubtargetFeatures();
  }
  if (!options.features.empty())
    jtmb.addFeatures(std::vector<std::string>{options.features});
  jtmb.setCodeGenOptLevel(codeGenOptLevel(options.optLevel));
  jtmb.setRelocationModel(llvm::Reloc::PIC_);
  return jtmb;
}

/// The network's module, optimized, with the kernel ABI the JIT uses (parameters passed
/// packed in the pointer array).
struct OptimizedModule {
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;
  codegen::TargetSpec target;
};

OptimizedModule buildModule(const ir::Graph &graph, const CompileOptions &options,
                            llvm::TargetMachine &tm) {
  OptimizedModule result;
  result.context = std::make_unique<llvm::LLVMContext>();
  result.target = codegen::targetSpecFor(tm);
  codegen::NetworkOptions networkOptions;
  networkOptions.target = result.target;
  networkOptions.parameters = codegen::ParameterSource::Arguments;
  networkOptions.packedArguments = true;
  result.module = check(codegen::emitNetwork(*result.context, graph, networkOptions));
  result.module->setDataLayout(tm.createDataLayout());
  optimizeModule(*result.module, tm, options.optLevel);
  return result;
}

} // namespace

struct JitModule::State {
  std::unique_ptr<llvm::orc::LLJIT> jit;
};

JitModule::JitModule() = default;
JitModule::~JitModule() = default;

std::unique_ptr<JitModule> JitModule::compile(const ir::Graph &graph,
                                              const ir::ParameterValues &parameters,
                                              const CompileOptions &options) {
  llvm::orc::JITTargetMachineBuilder jtmb = machineBuilder(options);
  std::unique_ptr<llvm::TargetMachine> tm = check(jtmb.createTargetMachine());
  OptimizedModule built = buildModule(graph, options, *tm);

  std::unique_ptr<JitModule> jm(new JitModule());
  jm->packed_ = check(codegen::packParameters(graph, parameters, built.target));
  for (const std::vector<float> &p : jm->packed_)
    jm->params_.push_back(p.data());
  jm->inputWidth_ = graph.inputWidth();
  jm->outputWidth_ = graph.outputWidth();
  jm->lanes_ = built.target.lanes;

  std::string entryName = codegen::defaultEntryName(graph);
  jm->state_ = std::make_unique<State>();
  jm->state_->jit = check(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(jtmb).create());
  llvm::orc::LLJIT &jit = *jm->state_->jit;
  if (llvm::Error e = jit.addIRModule(
          llvm::orc::ThreadSafeModule(std::move(built.module), std::move(built.context))))
    fail(std::move(e));
  llvm::orc::ExecutorAddr address = check(jit.lookup(entryName));
  jm->entry_ = address.toPtr<EntryFunction>();
  return jm;
}

int32_t JitModule::forward(const float *input, float *output, int64_t batch) const {
  return entry_(params_.data(), input, output, batch);
}

std::string emitLlvmText(const ir::Graph &graph, const CompileOptions &options) {
  llvm::orc::JITTargetMachineBuilder jtmb = machineBuilder(options);
  std::unique_ptr<llvm::TargetMachine> tm = check(jtmb.createTargetMachine());
  OptimizedModule built = buildModule(graph, options, *tm);
  std::string text;
  llvm::raw_string_ostream os(text);
  built.module->print(os, nullptr);
  return os.str();
}

std::string emitAssembly(const ir::Graph &graph, const CompileOptions &options) {
  llvm::orc::JITTargetMachineBuilder jtmb = machineBuilder(options);
  std::unique_ptr<llvm::TargetMachine> tm = check(jtmb.createTargetMachine());
  OptimizedModule built = buildModule(graph, options, *tm);
  return check(emitMachineCode(*built.module, *tm, llvm::CodeGenFileType::AssemblyFile));
}

} // namespace slope::backend
