// A small JIT for unit tests that build LLVM IR by hand and run it on the host CPU.
//
// Modules are compiled the way the product compiles kernels: for the host CPU with all of
// its features, 512-bit vectors allowed, optimized at O3 by the new pass manager, and
// loaded into one ORC LLJIT. Header-only; the only state is the HostJit object.
#pragma once

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Metadata.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>
#include <utility>

namespace slope::test {

// A module under construction, with the context it lives in (ORC wants one per module).
struct JitModule {
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;
};

class HostJit {
public:
  static llvm::Expected<std::unique_ptr<HostJit>> create() {
    static const bool initialized = [] {
      llvm::InitializeNativeTarget();
      llvm::InitializeNativeTargetAsmPrinter();
      llvm::InitializeNativeTargetAsmParser();
      return true;
    }();
    (void)initialized;

    auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!builder)
      return builder.takeError();
    builder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
    auto machine = builder->createTargetMachine();
    if (!machine)
      return machine.takeError();
    auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(*builder).create();
    if (!jit)
      return jit.takeError();
    return std::unique_ptr<HostJit>(new HostJit(builder->getCPU(),
                                                builder->getFeatures().getString(),
                                                std::move(*machine), std::move(*jit)));
  }

  const std::string &cpu() const { return cpu_; }

  // An empty module with the host's triple and data layout.
  JitModule newModule(llvm::StringRef name) const {
    JitModule m;
    m.context = std::make_unique<llvm::LLVMContext>();
    m.module = std::make_unique<llvm::Module>(name, *m.context);
    m.module->setDataLayout(machine_->createDataLayout());
    m.module->setTargetTriple(machine_->getTargetTriple().str());
    return m;
  }

  // Lets O3 and code generation use everything the host has, zmm registers included.
  void setHostAttributes(llvm::Function &f) const {
    f.addFnAttr("target-cpu", cpu_);
    f.addFnAttr("target-features", features_);
    f.addFnAttr("prefer-vector-width", "512");
    f.addFnAttr(llvm::Attribute::NoUnwind);
  }

  // Verifies, optimizes at O3 and loads the module.
  llvm::Error add(JitModule m) {
    std::string problems;
    llvm::raw_string_ostream os(problems);
    if (llvm::verifyModule(*m.module, &os))
      return llvm::createStringError(llvm::inconvertibleErrorCode(), "invalid module: " + os.str());
    optimize(*m.module);
    return jit_->addIRModule(
        llvm::orc::ThreadSafeModule(std::move(m.module), std::move(m.context)));
  }

  template <class Fn> llvm::Expected<Fn *> lookup(llvm::StringRef name) {
    auto address = jit_->lookup(name);
    if (!address)
      return address.takeError();
    return address->toPtr<Fn *>();
  }

private:
  HostJit(std::string cpu, std::string features, std::unique_ptr<llvm::TargetMachine> machine,
          std::unique_ptr<llvm::orc::LLJIT> jit)
      : cpu_(std::move(cpu)), features_(std::move(features)), machine_(std::move(machine)),
        jit_(std::move(jit)) {}

  void optimize(llvm::Module &m) const {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder passes(machine_.get());
    passes.registerModuleAnalyses(mam);
    passes.registerCGSCCAnalyses(cgam);
    passes.registerFunctionAnalyses(fam);
    passes.registerLoopAnalyses(lam);
    passes.crossRegisterProxies(lam, fam, cgam, mam);
    passes.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(m, mam);
  }

  std::string cpu_;
  std::string features_;
  std::unique_ptr<llvm::TargetMachine> machine_;
  std::unique_ptr<llvm::orc::LLJIT> jit_;
};

// Loop metadata that keeps O3 from vectorizing or unrolling a loop, so that a loop written
// with scalar operations runs scalar code.
inline llvm::MDNode *keepLoopAsWritten(llvm::LLVMContext &ctx) {
  llvm::Metadata *noVectorize =
      llvm::MDNode::get(ctx, {llvm::MDString::get(ctx, "llvm.loop.vectorize.enable"),
                              llvm::ConstantAsMetadata::get(llvm::ConstantInt::getFalse(ctx))});
  llvm::Metadata *noUnroll =
      llvm::MDNode::get(ctx, {llvm::MDString::get(ctx, "llvm.loop.unroll.disable")});
  llvm::MDNode *loop = llvm::MDNode::getDistinct(ctx, {nullptr, noVectorize, noUnroll});
  loop->replaceOperandWith(0, loop);
  return loop;
}

inline std::string errorText(llvm::Error error) {
  return llvm::toString(std::move(error));
}

} // namespace slope::test
