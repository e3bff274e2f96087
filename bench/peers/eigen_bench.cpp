// Eigen peer: per layer, the matrix product into the output, then bias and leaky_relu
// as one coefficient-wise expression. Eigen evaluates a product inside a larger
// expression into a temporary anyway, so this is the fastest way to write it. Row-major
// matrices, W kept [out, in] as in PyTorch; Eigen picks gemv at batch 1 by itself.
// Compiled with -march=native (AVX-512 here) and without OpenMP, so it is single-threaded
// whatever --threads says.
//
// Eigen allocates the packing buffers of every large product with malloc and frees them
// after it. With glibc's defaults those buffers are mmap'ed or trimmed and page-faulted
// in again on each call, which costs more than the product itself at batch 64 on this
// virtual machine; a user who benchmarks Eigen turns that off, so this program does.
#include "PeerBench.h"

#include <Eigen/Core>

#include <malloc.h>

#include <string>
#include <vector>

namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowVector = Eigen::Matrix<float, 1, Eigen::Dynamic>;

struct EigenLayer {
  Matrix weight; // [out, in]
  RowVector bias;
  bool leaky;
};

void forward(const std::vector<EigenLayer> &layers, const Matrix &x, Matrix &y,
             std::vector<Matrix> &buffers, float alpha) {
  const Matrix *in = &x;
  for (size_t l = 0; l < layers.size(); ++l) {
    const EigenLayer &layer = layers[l];
    Matrix &out = l + 1 == layers.size() ? y : buffers[l];
    out.noalias() = *in * layer.weight.transpose();
    if (layer.leaky)
      out = (out.rowwise() + layer.bias).unaryExpr([alpha](float v) {
        return v > 0 ? v : alpha * v;
      });
    else
      out.rowwise() += layer.bias;
    in = &out;
  }
}

} // namespace

int main(int argc, char **argv) {
  peer::Args args = peer::parseArgs(argc, argv);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  Eigen::setNbThreads(1);
  args.threads = Eigen::nbThreads();
  std::vector<peer::Layer> layers = peer::randomNetwork(args);
  const double flops = peer::flopsPerRow(layers);
  std::vector<EigenLayer> eigenLayers;
  for (const peer::Layer &layer : layers)
    eigenLayers.push_back({Eigen::Map<const Matrix>(layer.weight.data(), layer.out, layer.in),
                           Eigen::Map<const RowVector>(layer.bias.data(), layer.out), layer.leaky});
  const std::string extra = std::string("\"simd\":\"") + Eigen::SimdInstructionSetsInUse() + "\"";
  for (int64_t batch : args.batches) {
    std::vector<float> xData = peer::randomInput(batch, layers.front().in);
    Matrix x = Eigen::Map<const Matrix>(xData.data(), batch, layers.front().in);
    Matrix y(batch, layers.back().out);
    std::vector<Matrix> buffers;
    for (const peer::Layer &layer : layers)
      buffers.emplace_back(batch, layer.out);
    auto call = [&] { forward(eigenLayers, x, y, buffers, args.alpha); };
    call();
    peer::checkOutput("eigen", layers, xData.data(), y.data(), batch, args.alpha);
    peer::printJson("eigen", args, batch, peer::timeCalls(call, args.minTime), flops, extra);
  }
  return 0;
}
