#include "slope/slope.hpp"

#include "compiler/backend/Jit.h"
#include "compiler/eval/Reference.h"
#include "compiler/passes/Pipeline.h"
#include "runtime/ThreadPool.h"
#include "src/Driver.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>

namespace slope {

struct Network::Impl {
  ir::Graph graph;
  ir::ParameterValues parameters;
  std::vector<std::string> warnings;
  /// Null when the network runs on the reference evaluator.
  std::unique_ptr<backend::JitModule> jit;
  /// Null when forward runs on the calling thread only.
  std::shared_ptr<runtime::ThreadPool> pool;
  /// Floating-point operations per row, to decide when splitting a batch pays.
  double flopsPerRow = 0;
};

Network::Network(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

const std::string &Network::name() const { return impl_->graph.name; }
int64_t Network::input_size() const { return impl_->graph.inputWidth(); }
int64_t Network::output_size() const { return impl_->graph.outputWidth(); }
const std::vector<std::string> &Network::warnings() const { return impl_->warnings; }

void Network::forward(const float *input, float *output, int64_t batch) const {
  if (batch < 0)
    throw Error(driver::errorText(fmt::format("batch must not be negative, got {}", batch)));
  if (batch == 0)
    return;
  if (!input || !output)
    throw Error(driver::errorText("forward: input and output must not be null"));
  if (impl_->jit) {
    const backend::JitModule &jit = *impl_->jit;
    // Rows are independent: a large batch is split into contiguous slices of rows.
    unsigned parts =
        impl_->pool ? runtime::rowSlices(batch, impl_->flopsPerRow, impl_->pool->threads()) : 1;
    if (parts == 1) {
      if (jit.forward(input, output, batch) != 0)
        throw Error(driver::errorText("forward: out of memory for the intermediate values"));
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
      throw Error(driver::errorText("forward: out of memory for the intermediate values"));
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
  for (const ir::Node &node : impl->graph.nodes)
    impl->flopsPerRow += node.op == ir::Op::Dense
                             ? 2.0 * double(impl->graph.node(node.operands[0]).width) * double(node.width)
                             : double(node.width);
  unsigned threads = options.threads ? options.threads : runtime::ThreadPool::hardwareThreads();
  if (threads > 1)
    impl->pool = runtime::ThreadPool::shared(threads);
  if (!options.reference) {
    try {
      impl->jit = backend::JitModule::compile(impl->graph, impl->parameters);
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
