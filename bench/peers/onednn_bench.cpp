// oneDNN peer: one matmul primitive per layer with the bias and, where the layer has
// leaky_relu, an eltwise_relu post-op with alpha (oneDNN's relu with a negative slope
// is leaky relu), so bias and activation are fused into the GEMM as in slope. Weights
// are reordered once into the layout the primitive asks for (format_tag::any), as slope
// packs them once at compile time; primitives are created once per batch size and only
// execute() is timed. Debian's oneDNN 2.6 runs on OpenMP: threads are set with
// omp_set_num_threads.
#include "PeerBench.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <string>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Type = memory::data_type;

struct Step {
  dnnl::matmul primitive;
  std::unordered_map<int, memory> arguments;
  std::string implementation;
};

const char *isaName(dnnl::cpu_isa isa) {
  switch (isa) {
  case dnnl::cpu_isa::avx512_core_amx:
    return "avx512_core_amx";
  case dnnl::cpu_isa::avx512_core_bf16:
    return "avx512_core_bf16";
  case dnnl::cpu_isa::avx512_core_vnni:
    return "avx512_core_vnni";
  case dnnl::cpu_isa::avx512_core:
    return "avx512_core";
  case dnnl::cpu_isa::avx2_vnni:
    return "avx2_vnni";
  case dnnl::cpu_isa::avx2:
    return "avx2";
  default:
    return "other";
  }
}

} // namespace

int main(int argc, char **argv) {
  peer::Args args = peer::parseArgs(argc, argv);
  omp_set_num_threads(args.threads);
  std::vector<peer::Layer> layers = peer::randomNetwork(args);
  const double flops = peer::flopsPerRow(layers);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);

  for (int64_t batch : args.batches) {
    std::vector<float> x = peer::randomInput(batch, layers.front().in);
    std::vector<float> y(size_t(batch * layers.back().out));
    memory::dim m = batch;
    memory source({{m, layers.front().in}, Type::f32, Tag::ab}, engine, x.data());
    std::vector<Step> steps;
    for (size_t l = 0; l < layers.size(); ++l) {
      const peer::Layer &layer = layers[l];
      memory::dim k = layer.in, n = layer.out;
      memory::desc sourceDesc({m, k}, Type::f32, Tag::ab);
      memory::desc weightDesc({k, n}, Type::f32, Tag::any);
      memory::desc biasDesc({1, n}, Type::f32, Tag::ab);
      memory::desc destDesc({m, n}, Type::f32, Tag::ab);
      dnnl::primitive_attr attributes;
      if (layer.leaky) {
        dnnl::post_ops postOps;
        postOps.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, args.alpha, 0.0f);
        attributes.set_post_ops(postOps);
      }
      dnnl::matmul::primitive_desc primitiveDesc(
          dnnl::matmul::desc(sourceDesc, weightDesc, biasDesc, destDesc), attributes, engine);
      // W is [out, in] row-major, which is the K x N matrix in "ba" order.
      memory userWeight({{k, n}, Type::f32, Tag::ba}, engine,
                        const_cast<float *>(layer.weight.data()));
      memory weight(primitiveDesc.weights_desc(), engine);
      dnnl::reorder(userWeight, weight).execute(stream, userWeight, weight);
      memory bias(biasDesc, engine, const_cast<float *>(layer.bias.data()));
      memory dest =
          l + 1 == layers.size() ? memory(destDesc, engine, y.data()) : memory(destDesc, engine);
      Step step;
      step.primitive = dnnl::matmul(primitiveDesc);
      step.arguments = {{DNNL_ARG_SRC, source},
                        {DNNL_ARG_WEIGHTS, weight},
                        {DNNL_ARG_BIAS, bias},
                        {DNNL_ARG_DST, dest}};
      step.implementation = primitiveDesc.impl_info_str();
      steps.push_back(std::move(step));
      source = dest;
    }
    stream.wait();
    auto call = [&] {
      for (Step &step : steps)
        step.primitive.execute(stream, step.arguments);
      stream.wait();
    };
    call();
    peer::checkOutput("onednn", layers, x.data(), y.data(), batch, args.alpha);
    std::string extra = std::string("\"isa\":\"") + isaName(dnnl::get_effective_cpu_isa()) +
                        "\",\"omp_threads\":" + std::to_string(omp_get_max_threads()) +
                        ",\"impl\":\"" + steps.front().implementation + "\"";
    peer::printJson("onednn", args, batch, peer::timeCalls(call, args.minTime), flops, extra);
  }
  return 0;
}
