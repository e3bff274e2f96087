// OpenBLAS peer: per layer, cblas_sgemm (cblas_sgemv at batch 1, which is what a user
// of OpenBLAS 0.3.21 calls for a single row: its sgemm has no gemv shortcut), then a
// separate pass that adds the bias and applies leaky_relu. Threads come from
// OPENBLAS_NUM_THREADS or --threads (openblas_set_num_threads).
#include "PeerBench.h"

#include <cblas.h>

#include <string>
#include <vector>

namespace {

void forward(const std::vector<peer::Layer> &layers, const float *x, float *y, int64_t batch,
             float alpha, std::vector<float> &bufferA, std::vector<float> &bufferB) {
  const float *in = x;
  for (size_t l = 0; l < layers.size(); ++l) {
    const peer::Layer &layer = layers[l];
    float *out = l + 1 == layers.size() ? y : (l % 2 ? bufferB.data() : bufferA.data());
    const int m = int(batch), n = int(layer.out), k = int(layer.in);
    if (batch == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, layer.weight.data(), k, in, 1, 0.0f, out,
                  1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, in, k,
                  layer.weight.data(), k, 0.0f, out, n);
    peer::addBiasAndActivate(out, batch, layer.out, layer.bias.data(), layer.leaky, alpha);
    in = out;
  }
}

} // namespace

int main(int argc, char **argv) {
  peer::Args args = peer::parseArgs(argc, argv);
  openblas_set_num_threads(args.threads);
  std::vector<peer::Layer> layers = peer::randomNetwork(args);
  const double flops = peer::flopsPerRow(layers);
  int64_t widest = 0;
  for (const peer::Layer &layer : layers)
    widest = std::max(widest, layer.out);
  const std::string extra = std::string("\"corename\":\"") + openblas_get_corename() +
                            "\",\"openblas_threads\":" + std::to_string(openblas_get_num_threads());
  for (int64_t batch : args.batches) {
    std::vector<float> x = peer::randomInput(batch, layers.front().in);
    std::vector<float> y(size_t(batch * layers.back().out));
    std::vector<float> bufferA(size_t(batch * widest)), bufferB(size_t(batch * widest));
    auto call = [&] { forward(layers, x.data(), y.data(), batch, args.alpha, bufferA, bufferB); };
    call();
    peer::checkOutput("openblas", layers, x.data(), y.data(), batch, args.alpha);
    peer::printJson("openblas", args, batch, peer::timeCalls(call, args.minTime), flops, extra);
  }
  return 0;
}
