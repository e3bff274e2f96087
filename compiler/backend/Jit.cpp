#include "compiler/backend/Jit.h"

#include "compiler/backend/Optimize.h"
#include "compiler/codegen/Network.h"
#include "compiler/codegen/Target.h"

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>
#include <new>
#include <optional>
#include <thread>

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

/// TargetMachines kept between compiles. A TargetMachine is cheap to create, but the
/// subtarget it builds on first use (the X86 lowering tables, the scheduling model) costs
/// a few milliseconds, paid again by every fresh one: about a fifth of compiling the
/// 784-128-64-10 MLP (docs/codegen.md). One TargetMachine must not compile on two
/// threads at once, so a compile leases one per thread and gives it back when done.
/// The pool keeps at most kMaxCompileThreads machines for each target.
class MachinePool {
public:
  class Lease {
  public:
    Lease(MachinePool &pool, std::string key, std::unique_ptr<llvm::TargetMachine> tm)
        : pool_(pool), key_(std::move(key)), tm_(std::move(tm)) {}
    Lease(Lease &&) = default;
    ~Lease() {
      if (tm_)
        pool_.giveBack(key_, std::move(tm_));
    }
    llvm::TargetMachine &operator*() const { return *tm_; }

  private:
    MachinePool &pool_;
    std::string key_;
    std::unique_ptr<llvm::TargetMachine> tm_;
  };

  /// The process's pool. Never destroyed: it may outlive LLVM's own statics at exit.
  static MachinePool &instance() {
    static MachinePool *pool = new MachinePool();
    return *pool;
  }

  /// A machine `jtmb` describes, built with `optLevel` (which jtmb does not tell).
  Lease lease(llvm::orc::JITTargetMachineBuilder &jtmb, unsigned optLevel) {
    std::string key = jtmb.getTargetTriple().str() + "|" + jtmb.getCPU() + "|" +
                      jtmb.getFeatures().getString() + "|" + std::to_string(optLevel);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      std::vector<std::unique_ptr<llvm::TargetMachine>> &idle = idle_[key];
      if (!idle.empty()) {
        std::unique_ptr<llvm::TargetMachine> tm = std::move(idle.back());
        idle.pop_back();
        return Lease(*this, std::move(key), std::move(tm));
      }
    }
    return Lease(*this, std::move(key), check(jtmb.createTargetMachine()));
  }

private:
  void giveBack(const std::string &key, std::unique_ptr<llvm::TargetMachine> tm) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::unique_ptr<llvm::TargetMachine>> &idle = idle_[key];
    if (idle.size() < kMaxCompileThreads)
      idle.push_back(std::move(tm));
  }

  std::mutex mutex_;
  std::map<std::string, std::vector<std::unique_ptr<llvm::TargetMachine>>> idle_;
};

/// The network's module, optimized, with the kernel ABI the JIT uses (parameters passed
/// packed in the pointer array, and the step entry besides the forward entry); with
/// `partitions` > 1, the part of it that `partition` defines (codegen::NetworkOptions).
struct OptimizedModule {
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;
  codegen::TargetSpec target;
};

OptimizedModule buildModule(const ir::Graph &graph, const CompileOptions &options,
                            llvm::TargetMachine &tm, unsigned partitions = 1,
                            unsigned partition = 0) {
  OptimizedModule result;
  result.context = std::make_unique<llvm::LLVMContext>();
  result.target = codegen::targetSpecFor(tm);
  codegen::NetworkOptions networkOptions;
  networkOptions.target = result.target;
  networkOptions.parameters = codegen::ParameterSource::Arguments;
  networkOptions.packedArguments = true;
  networkOptions.partitions = partitions;
  networkOptions.partition = partition;
  networkOptions.stepEntry = true;
  result.module = check(codegen::emitNetwork(*result.context, graph, networkOptions));
  result.module->setDataLayout(tm.createDataLayout());
  optimizeModule(*result.module, tm, options.optLevel);
  return result;
}

/// The threads a compile runs on: `options.compileThreads`, or one per hardware thread;
/// at most kMaxCompileThreads.
unsigned compileThreadCount(const CompileOptions &options) {
  unsigned threads = options.compileThreads;
  if (threads == 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  return std::min(threads, kMaxCompileThreads);
}

/// How many modules to split the network into, each compiled on its own thread: one per
/// compile thread, at most one per kernel.
unsigned partitionCount(const ir::Graph &graph, const CompileOptions &options) {
  return static_cast<unsigned>(
      std::clamp<size_t>(graph.groups.size(), 1, compileThreadCount(options)));
}

/// The JIT's compile layer would compile IR modules; slope adds only objects, compiled
/// beforehand (JitModule::compile). This compiler stands in for LLJIT's default one,
/// which would build a TargetMachine of its own for every JIT: as much as a fifth of
/// compiling a one-kernel network.
class ObjectsOnly : public llvm::orc::IRCompileLayer::IRCompiler {
public:
  ObjectsOnly() : IRCompiler(llvm::orc::IRSymbolMapper::ManglingOptions()) {}
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> operator()(llvm::Module &) override {
    return llvm::createStringError("slope's JIT links compiled objects only");
  }
};

/// An LLJIT for objects compiled for `jtmb`'s machine, whose data layout is given (LLJIT
/// would otherwise build a TargetMachine to ask).
std::unique_ptr<llvm::orc::LLJIT> createJit(const llvm::orc::JITTargetMachineBuilder &jtmb,
                                            const llvm::DataLayout &dataLayout) {
  return check(
      llvm::orc::LLJITBuilder()
          .setJITTargetMachineBuilder(jtmb)
          .setDataLayout(dataLayout)
          .setCompileFunctionCreator(
              [](llvm::orc::JITTargetMachineBuilder)
                  -> llvm::Expected<std::unique_ptr<llvm::orc::IRCompileLayer::IRCompiler>> {
                return std::make_unique<ObjectsOnly>();
              })
          .create());
}

} // namespace

struct JitModule::State {
  std::unique_ptr<llvm::orc::LLJIT> jit;
};

JitModule::JitModule() = default;
JitModule::~JitModule() = default;

void JitModule::FreeDeleter::operator()(void *p) const { std::free(p); }

JitModule::StepScratch JitModule::allocateStepScratch(int64_t batch) const {
  constexpr int64_t kLine = 64;
  if (batch < 0 ||
      (stepScratchRow_ > 0 &&
       batch > (std::numeric_limits<int64_t>::max() - kLine) / 4 / stepScratchRow_))
    return nullptr;
  int64_t bytes = std::max(kLine, (stepScratchRow_ * batch * 4 + kLine - 1) / kLine * kLine);
  return StepScratch(static_cast<float *>(std::aligned_alloc(kLine, size_t(bytes))));
}

void JitModule::bindParameters(const std::vector<codegen::PackedParameter> &packed) {
  constexpr size_t kLine = 64;
  constexpr size_t kHugePage = size_t(2) << 20;
  std::vector<size_t> offsets;
  size_t bytes = 0;
  for (const codegen::PackedParameter &p : packed) {
    offsets.push_back(bytes);
    bytes += (size_t(p.size) * sizeof(float) + kLine - 1) / kLine * kLine;
  }
  if (bytes == 0)
    return;
  size_t alignment = bytes >= kHugePage ? kHugePage : kLine;
  bytes = (bytes + alignment - 1) / alignment * alignment; // aligned_alloc's contract
  void *block = std::aligned_alloc(alignment, bytes);
  if (!block)
    throw std::bad_alloc();
  parameters_.reset(static_cast<float *>(block));
  // Weights that stream from L3 or DRAM at small batches cross a 4 KiB page every 64
  // cache lines; huge pages spare the TLB misses. Only a hint: the kernel may decline.
#ifdef MADV_HUGEPAGE
  if (alignment == kHugePage)
    madvise(block, bytes, MADV_HUGEPAGE);
#endif
  auto *base = static_cast<char *>(block);
  for (size_t i = 0; i < packed.size(); ++i) {
    auto *dest = reinterpret_cast<float *>(base + offsets[i]);
    packed[i].write(dest);
    params_.push_back(dest);
  }
}

std::unique_ptr<JitModule> JitModule::compile(const ir::Graph &graph,
                                              const ir::ParameterValues &parameters,
                                              const CompileOptions &options) {
  llvm::orc::JITTargetMachineBuilder jtmb = machineBuilder(options);
  MachinePool &machines = MachinePool::instance();
  std::optional<MachinePool::Lease> callerMachine = machines.lease(jtmb, options.optLevel);
  const codegen::TargetSpec target = codegen::targetSpecFor(**callerMachine);
  const llvm::DataLayout dataLayout = (**callerMachine).createDataLayout();
  std::unique_ptr<JitModule> jm(new JitModule());
  jm->state_ = std::make_unique<State>();

  // Code generation dominates compile time, and the kernels are independent functions:
  // the network is emitted as `partitions` modules, each in its own context and
  // compiled to an object by its own TargetMachine, and the objects are linked by the
  // JIT. The work is a list of tasks that the compile threads take in order, each the
  // next one not yet taken: the partitions, heaviest first, then packing the parameters
  // and creating the JIT, which need no code and so overlap the code generation of the
  // partitions still running. The caller takes the heaviest partition: a worker starts
  // later and colder (a new thread, maybe a new TargetMachine).
  unsigned partitions = partitionCount(graph, options);
  std::vector<int64_t> cost;
  codegen::kernelPartitions(graph, target, partitions, &cost);
  std::vector<unsigned> order(partitions);
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](unsigned a, unsigned b) { return cost[a] > cost[b]; });
  std::vector<std::string> objects(partitions);
  std::vector<std::function<void()>> tasks;
  for (unsigned p : order)
    tasks.push_back([&, p, first = tasks.empty()] {
      std::optional<MachinePool::Lease> tm;
      if (first) { // on the caller's thread
        tm.emplace(std::move(*callerMachine));
        callerMachine.reset();
      } else {
        tm.emplace(machines.lease(jtmb, options.optLevel));
      }
      OptimizedModule built = buildModule(graph, options, **tm, partitions, p);
      objects[p] = check(emitMachineCode(*built.module, **tm, llvm::CodeGenFileType::ObjectFile));
    });
  tasks.push_back(
      [&] { jm->bindParameters(check(codegen::planParameters(graph, parameters, target))); });
  tasks.push_back([&] { jm->state_->jit = createJit(jtmb, dataLayout); });

  std::vector<std::exception_ptr> errors(tasks.size());
  std::atomic<size_t> next{1};
  auto run = [&](size_t task) {
    try {
      tasks[task]();
    } catch (...) {
      errors[task] = std::current_exception();
    }
  };
  auto takeTasks = [&] {
    for (size_t task; (task = next.fetch_add(1)) < tasks.size();)
      run(task);
  };
  std::vector<std::thread> workers;
  for (unsigned w = 1; w < std::min<size_t>(compileThreadCount(options), tasks.size()); ++w)
    workers.emplace_back(takeTasks);
  run(0);
  takeTasks();
  for (std::thread &worker : workers)
    worker.join();
  for (const std::exception_ptr &error : errors)
    if (error)
      std::rethrow_exception(error);

  jm->inputWidth_ = graph.inputWidth();
  jm->outputWidth_ = graph.outputWidth();
  jm->lanes_ = target.lanes;
  llvm::orc::LLJIT &jit = *jm->state_->jit;
  for (unsigned p = 0; p < partitions; ++p)
    if (llvm::Error e = jit.addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(
            objects[p], graph.name + ".part" + std::to_string(p) + ".o")))
      fail(std::move(e));
  llvm::orc::ExecutorAddr address = check(jit.lookup(codegen::defaultEntryName(graph)));
  jm->entry_ = address.toPtr<EntryFunction>();
  jm->step_ = check(jit.lookup(codegen::stepEntryName(graph))).toPtr<StepFunction>();
  jm->columnTiles_ = codegen::groupColumnTiles(graph, target);
  jm->stepScratchRow_ = codegen::stepScratchFloats(graph);
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
