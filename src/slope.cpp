#include "slope/slope.hpp"

#include "compiler/backend/Jit.h"
#include "compiler/eval/Reference.h"
#include "compiler/passes/Pipeline.h"
#include "runtime/ThreadPool.h"
#include "src/Driver.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>

namespace slope {

struct Network::Impl {
  ir::Graph graph;
  ir::ParameterValues parameters;
  std::vector<std::string> warnings;
  /// Null when the network runs on the reference evaluator.
  std::unique_ptr<backend::JitModule> jit;
  /// Null when forward runs on the calling thread only.
  std::shared_ptr<runtime::ThreadPool> pool;
  /// Floating-point operations per row, to decide when splitting a batch pays: of the
  /// whole network, and of each fusion group.
  double flopsPerRow = 0;
  std::vector<double> groupFlopsPerRow;
  /// Whether forward steps through the fusion groups one at a time, each shared by the
  /// threads (forwardBySteps), rather than giving each thread a slice of rows.
  bool bySteps = false;
  /// When a forward call last ran alone because the workers slept (steady clock, ns).
  mutable std::atomic<int64_t> lastRanAloneNs{0};

  /// After a call that ran alone only because the workers slept (runtime::rowSlices):
  /// wakes them if the previous such call was less than 300 us before, i.e. calls come
  /// in a loop, so that the next call finds them spinning and splits. A sporadic caller
  /// does not wake them: on a virtual machine the wake-up of a halted core cost it more
  /// than a split would save (1024 x 1024 at batch 1, called every millisecond and waking
  /// them each time: 90th percentile 121 us against 85 us on one thread).
  void ranAlone() const {
    int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
    if (now - lastRanAloneNs.exchange(now, std::memory_order_relaxed) < 300'000)
      pool->wake();
  }
};

Network::Network(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

namespace {

Error outOfScratch() {
  return Error(driver::errorText("forward: out of memory for the intermediate values"));
}

/// A forward pass through the JIT's step entry: one fusion group after the other, each
/// cut into parts for the threads (runtime::groupParts). A layer whose weights stream
/// from L3 or memory is shared by column tiles, so that each thread streams its own
/// share of the weights once; slices of rows would each stream all of them.
void forwardBySteps(const Network::Impl &impl, const float *input, float *output,
                    int64_t batch) {
  const backend::JitModule &jit = *impl.jit;
  // On the stack up to 16 KiB, as the forward entry keeps its own (docs/codegen.md).
  constexpr int64_t kStackFloats = 4096;
  alignas(64) float onStack[kStackFloats];
  backend::JitModule::StepScratch onHeap;
  float *scratch = onStack;
  int64_t rowFloats = jit.stepScratchFloats(1);
  if (rowFloats > 0 && batch > kStackFloats / rowFloats) {
    onHeap = jit.allocateStepScratch(batch);
    if (!onHeap)
      throw outOfScratch();
    scratch = onHeap.get();
  }
  unsigned threads = impl.pool->threads();
  auto partsOf = [&](size_t g, bool workersAwake) {
    return runtime::groupParts(batch, impl.groupFlopsPerRow[g], jit.columnTiles(g), threads,
                               workersAwake);
  };
  // Work too small to wake a sleeping worker runs on the caller (Impl::ranAlone after,
  // not before: woken workers would spin beside it). A group that woke them leaves them
  // awake for the next groups.
  bool ranAlone = false;
  for (size_t g = 0; g < jit.groups(); ++g) {
    const bool awake = impl.pool->awake();
    unsigned parts = partsOf(g, awake);
    ranAlone |= !awake && parts < partsOf(g, true);
    if (parts == 1) {
      jit.step(input, output, batch, scratch, g, 0, 1);
      continue;
    }
    impl.pool->run(parts, [&](size_t part) {
      jit.step(input, output, batch, scratch, g, static_cast<unsigned>(part), parts);
    });
  }
  if (ranAlone)
    impl.ranAlone();
}

} // namespace

const std::string &Network::name() const { return impl_->graph.name; }
int64_t Network::input_size() const { return impl_->graph.inputWidth(); }
int64_t Network::output_size() const { return impl_->graph.outputWidth(); }
const std::vector<std::string> &Network::warnings() const { return impl_->warnings; }

void Network::forward(const float *input, float *output, int64_t batch) const {
  if (batch < 0)
    throw Error(driver::errorText(fmt::format("batch must not be negative, got {}", batch)));
  if (batch > impl_->graph.maxBatch())
    throw Error(driver::errorText(
        fmt::format("batch too large: {} rows of {} floats overflow a 64-bit byte count", batch,
                    std::max(input_size(), output_size()))));
  if (batch == 0)
    return;
  if (!input || !output)
    throw Error(driver::errorText("forward: input and output must not be null"));
  if (impl_->jit) {
    const backend::JitModule &jit = *impl_->jit;
    if (impl_->bySteps) {
      forwardBySteps(*impl_, input, output, batch);
      return;
    }
    // Rows are independent: a large batch is split into contiguous slices of rows. Work
    // too small to wake a sleeping worker runs on the caller (Impl::ranAlone after).
    unsigned parts = 1;
    bool ranAlone = false;
    if (impl_->pool) {
      unsigned threads = impl_->pool->threads();
      const bool awake = impl_->pool->awake();
      parts = runtime::rowSlices(batch, impl_->flopsPerRow, threads, awake);
      ranAlone = !awake && parts < runtime::rowSlices(batch, impl_->flopsPerRow, threads, true);
    }
    if (parts == 1) {
      int32_t status = jit.forward(input, output, batch);
      if (ranAlone)
        impl_->ranAlone();
      if (status != 0)
        throw outOfScratch();
      return;
    }
    const int64_t rows = (batch + parts - 1) / parts;
    std::atomic<bool> failed{false};
    impl_->pool->run(parts, [&](size_t part) {
      int64_t begin = int64_t(part) * rows, count = std::min(rows, batch - begin);
      if (count > 0 && jit.forward(input + begin * jit.inputWidth(),
                                   output + begin * jit.outputWidth(), count) != 0)
        failed = true;
    });
    if (failed)
      throw outOfScratch();
    return;
  }
  std::vector<float> y = eval::evaluate(impl_->graph, impl_->parameters, input, batch);
  std::copy(y.begin(), y.end(), output);
}

namespace {

Network compile(const Source &source, const Options &options) {
  if (options.threads > max_threads)
    throw Error(driver::errorText(fmt::format(
        "too many threads: {}; at most {} (0 means one per core)", options.threads, max_threads)));
  ir::Module module = driver::compileSource(source);
  auto impl = std::make_shared<Network::Impl>();
  impl->graph = driver::selectNetwork(module, options.network, source);
  passes::PipelineOptions pipeline;
  pipeline.fuse = options.fuse;
  passes::runPipeline(impl->graph, pipeline);
  // After the pipeline: values removed as dead read no parameters.
  impl->parameters = driver::loadParameters(impl->graph, options, impl->warnings);
  auto nodeFlops = [&](const ir::Node &node) {
    return node.op == ir::Op::Dense
               ? 2.0 * double(impl->graph.node(node.operands[0]).width) * double(node.width)
               : double(node.width);
  };
  for (const ir::Node &node : impl->graph.nodes)
    impl->flopsPerRow += nodeFlops(node);
  for (const ir::FusionGroup &group : impl->graph.groups) {
    double flops = 0;
    for (ir::ValueId id : group.nodes)
      flops += nodeFlops(impl->graph.node(id));
    impl->groupFlopsPerRow.push_back(flops);
  }
  unsigned threads = options.threads ? options.threads : runtime::ThreadPool::hardwareThreads();
  if (threads > 1)
    impl->pool = runtime::ThreadPool::shared(threads);
  if (!options.reference) {
    try {
      impl->jit = backend::JitModule::compile(impl->graph, impl->parameters);
      // Group by group only when some layer can share its columns between threads.
      for (size_t g = 0; g < impl->jit->groups(); ++g)
        impl->bySteps |= impl->pool && impl->jit->columnTiles(g) >= 2;
    } catch (const backend::CodegenError &e) {
      throw Error(driver::errorText(fmt::format("{}; `--reference` runs it on the reference evaluator", e.what())));
    }
  }
  return Network(std::move(impl));
}

} // namespace

Network compile_file(const std::string &path, const Options &options) {
  std::unique_ptr<Source> source = driver::readSource(path);
  return compile(*source, options);
}

Network compile_source(std::string_view text, const Options &options,
                       const std::string &source_name) {
  Source source(source_name, std::string(text));
  return compile(source, options);
}

const char *version() { return SLOPE_VERSION; }

} // namespace slope
