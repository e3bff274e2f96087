// libxsmm peer (Debian's libxsmm 1.17): libxsmm is a library of JIT-generated small
// matrix kernels, and its own large-GEMM paths fall back to a BLAS; so, as its users do
// for a dense layer, the GEMM is tiled here into blocks of at most kBlockM outputs x
// kBlockN rows, each one call of a kernel from libxsmm_smmdispatch over the whole K,
// then a separate pass adds the bias and applies leaky_relu. libxsmm is column-major
// and its kernels take no transposes, so the weights are transposed once, before
// timing, into W^T [in, out] row-major, i.e. the column-major [out, in] matrix A; then
// Y^T (out x batch, column-major) = A * X^T, where X [batch, in] row-major is X^T
// column-major. Kernels are dispatched once per shape, before timing. Single thread.
#include "PeerBench.h"

#include <libxsmm.h>

#include <string>
#include <vector>

namespace {

constexpr int64_t kBlockM = 64, kBlockN = 16;

struct Transposed {
  int64_t in = 0, out = 0;
  bool leaky = false;
  std::vector<float> weightT; // [in, out]
  const float *bias = nullptr;
};

/// The kernel for an m x n block over the whole K of `layer`, generated on first use.
libxsmm_smmfunction kernel(const Transposed &layer, int64_t m, int64_t n) {
  const libxsmm_blasint lda = libxsmm_blasint(layer.out), ldb = libxsmm_blasint(layer.in),
                        ldc = libxsmm_blasint(layer.out);
  const float one = 1.0f, zero = 0.0f;
  const int flags = LIBXSMM_GEMM_FLAG_NONE, prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
  libxsmm_smmfunction f =
      libxsmm_smmdispatch(libxsmm_blasint(m), libxsmm_blasint(n), libxsmm_blasint(layer.in),
                          &lda, &ldb, &ldc, &one, &zero, &flags, &prefetch);
  if (!f) {
    std::fprintf(stderr, "libxsmm: no kernel for %lld x %lld x %lld\n", (long long)m,
                 (long long)n, (long long)layer.in);
    std::exit(1);
  }
  return f;
}

void forward(const std::vector<Transposed> &layers, const float *x, float *y, int64_t batch,
             float alpha, std::vector<float> &bufferA, std::vector<float> &bufferB) {
  const float *in = x;
  for (size_t l = 0; l < layers.size(); ++l) {
    const Transposed &layer = layers[l];
    float *out = l + 1 == layers.size() ? y : (l % 2 ? bufferB.data() : bufferA.data());
    for (int64_t n0 = 0; n0 < batch; n0 += kBlockN) {
      int64_t n = std::min(kBlockN, batch - n0);
      for (int64_t m0 = 0; m0 < layer.out; m0 += kBlockM) {
        int64_t m = std::min(kBlockM, layer.out - m0);
        // Dispatch is a lookup in libxsmm's code registry once the kernel exists.
        kernel(layer, m, n)(layer.weightT.data() + m0, in + n0 * layer.in,
                            out + n0 * layer.out + m0);
      }
    }
    peer::addBiasAndActivate(out, batch, layer.out, layer.bias, layer.leaky, alpha);
    in = out;
  }
}

} // namespace

int main(int argc, char **argv) {
  peer::Args args = peer::parseArgs(argc, argv);
  libxsmm_init();
  std::vector<peer::Layer> layers = peer::randomNetwork(args);
  const double flops = peer::flopsPerRow(layers);
  std::vector<Transposed> transposed;
  int64_t widest = 0;
  for (const peer::Layer &layer : layers) {
    Transposed t{layer.in, layer.out, layer.leaky, std::vector<float>(size_t(layer.in * layer.out)),
                 layer.bias.data()};
    for (int64_t o = 0; o < layer.out; ++o)
      for (int64_t i = 0; i < layer.in; ++i)
        t.weightT[size_t(i * layer.out + o)] = layer.weight[size_t(o * layer.in + i)];
    transposed.push_back(std::move(t));
    widest = std::max(widest, layer.out);
  }
  const std::string extra = std::string("\"libxsmm\":\"") + LIBXSMM_VERSION + "\",\"target\":\"" +
                            libxsmm_get_target_arch() + "\"";
  for (int64_t batch : args.batches) {
    std::vector<float> x = peer::randomInput(batch, layers.front().in);
    std::vector<float> y(size_t(batch * layers.back().out));
    std::vector<float> bufferA(size_t(batch * widest)), bufferB(size_t(batch * widest));
    auto call = [&] { forward(transposed, x.data(), y.data(), batch, args.alpha, bufferA, bufferB); };
    call();
    peer::checkOutput("libxsmm", layers, x.data(), y.data(), batch, args.alpha);
    peer::printJson("libxsmm", args, batch, peer::timeCalls(call, args.minTime), flops, extra);
  }
  libxsmm_finalize();
  return 0;
}
