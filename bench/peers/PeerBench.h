// What every C++ peer program shares: the command line, the random network, the
// timing loop and the JSON line, so that the peers and `slope bench` measure the same
// thing the same way.
//
// A peer program times forward passes of a multi-layer perceptron given by its widths
// (`--layers 784,128,64,10`): dense layers y = x * W^T + b, with W stored [out, in]
// row-major as in PyTorch and in slope, each followed by leaky_relu(alpha) except the
// last one unless `--leaky-last` is given. For each batch size: one warm-up call, then
// calls in a loop until at least --min-time seconds have passed and at least 5 calls
// were made; the median, minimum and maximum time per call are printed as one JSON
// object per line, as `slope bench --json` prints them, plus "library".
//
// Before timing, the first, middle and last rows of the output are checked against a plain
// double-precision evaluation, so that a peer that is fast because it computes
// something else is caught.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace peer {

struct Args {
  std::string network = "net";
  std::vector<int64_t> layers; // widths: input, then each layer's units
  std::vector<int64_t> batches{1, 64, 1024};
  int threads = 1;
  double minTime = 0.2;
  float alpha = 0.01f;
  bool leakyLast = false;
};

struct Layer {
  int64_t in = 0, out = 0;
  bool leaky = false;
  std::vector<float> weight; // [out, in]
  std::vector<float> bias;   // [out]
};

[[noreturn]] inline void usage(const char *program, const std::string &message) {
  std::fprintf(stderr,
               "%s: %s\nusage: %s --layers IN,H1,...,OUT [--network NAME] [--batch 1,64,1024]\n"
               "       [--threads N] [--min-time S] [--alpha A] [--leaky-last]\n",
               program, message.c_str(), program);
  std::exit(2);
}

inline std::vector<int64_t> parseList(const char *program, const std::string &text) {
  std::vector<int64_t> values;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    char *end = nullptr;
    long long value = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || value < 0)
      usage(program, "bad list '" + text + "'");
    values.push_back(value);
  }
  return values;
}

inline Args parseArgs(int argc, char **argv) {
  Args args;
  const char *program = argv[0];
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--leaky-last") {
      args.leakyLast = true;
      continue;
    }
    if (i + 1 >= argc)
      usage(program, "missing value after " + flag);
    std::string value = argv[++i];
    if (flag == "--network")
      args.network = value;
    else if (flag == "--layers")
      args.layers = parseList(program, value);
    else if (flag == "--batch")
      args.batches = parseList(program, value);
    else if (flag == "--threads")
      args.threads = std::max(1, std::atoi(value.c_str()));
    else if (flag == "--min-time")
      args.minTime = std::atof(value.c_str());
    else if (flag == "--alpha")
      args.alpha = float(std::atof(value.c_str()));
    else
      usage(program, "unknown option " + flag);
  }
  if (args.layers.size() < 2)
    usage(program, "--layers needs at least two widths");
  for (int64_t width : args.layers)
    if (width < 1)
      usage(program, "widths must be positive");
  return args;
}

// Uniform in [-1/sqrt(in), 1/sqrt(in)], the scale of slope's random weights and of
// PyTorch's default initialization: activations stay O(1), so no subnormals appear.
inline std::vector<Layer> randomNetwork(const Args &args) {
  std::mt19937 random(7);
  std::vector<Layer> layers;
  for (size_t i = 1; i < args.layers.size(); ++i) {
    Layer layer;
    layer.in = args.layers[i - 1];
    layer.out = args.layers[i];
    layer.leaky = i + 1 < args.layers.size() || args.leakyLast;
    std::uniform_real_distribution<float> uniform(-1.0f / std::sqrt(float(layer.in)),
                                                  1.0f / std::sqrt(float(layer.in)));
    layer.weight.resize(size_t(layer.out * layer.in));
    layer.bias.resize(size_t(layer.out));
    for (float &v : layer.weight)
      v = uniform(random);
    for (float &v : layer.bias)
      v = uniform(random);
    layers.push_back(std::move(layer));
  }
  return layers;
}

inline std::vector<float> randomInput(int64_t batch, int64_t width) {
  std::mt19937 random(12345);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(size_t(batch * width));
  for (float &v : x)
    v = uniform(random);
  return x;
}

// Multiply-adds count as two operations and activations as one per element, as in
// `slope bench`.
/// The pass a peer without fused post-ops runs after its GEMM: `out` (batch rows of
/// `width`) += bias, then leaky_relu(alpha) when `leaky`.
inline void addBiasAndActivate(float *out, int64_t batch, int64_t width, const float *bias,
                               bool leaky, float alpha) {
  for (int64_t r = 0; r < batch; ++r) {
    float *row = out + r * width;
    if (leaky)
      for (int64_t c = 0; c < width; ++c) {
        float v = row[c] + bias[c];
        row[c] = v > 0 ? v : alpha * v;
      }
    else
      for (int64_t c = 0; c < width; ++c)
        row[c] += bias[c];
  }
}

inline double flopsPerRow(const std::vector<Layer> &layers) {
  double flops = 0;
  for (const Layer &layer : layers)
    flops += 2.0 * double(layer.in) * double(layer.out) + (layer.leaky ? double(layer.out) : 0.0);
  return flops;
}

inline std::vector<double> referenceRow(const std::vector<Layer> &layers, const float *x,
                                        float alpha) {
  std::vector<double> value(x, x + layers.front().in);
  for (const Layer &layer : layers) {
    std::vector<double> next(size_t(layer.out));
    for (int64_t o = 0; o < layer.out; ++o) {
      double sum = layer.bias[size_t(o)];
      for (int64_t i = 0; i < layer.in; ++i)
        sum += double(layer.weight[size_t(o * layer.in + i)]) * value[size_t(i)];
      next[size_t(o)] = layer.leaky && !(sum > 0) ? double(alpha) * sum : sum;
    }
    value = std::move(next);
  }
  return value;
}

// Checks rows 0, batch/2 and batch-1 of y against the reference; exits on a mismatch.
inline void checkOutput(const char *library, const std::vector<Layer> &layers, const float *x,
                        const float *y, int64_t batch, float alpha) {
  const int64_t in = layers.front().in, out = layers.back().out;
  for (int64_t row : {int64_t(0), batch / 2, batch - 1}) {
    if (row >= batch)
      continue;
    std::vector<double> want = referenceRow(layers, x + row * in, alpha);
    for (int64_t o = 0; o < out; ++o) {
      double got = y[row * out + o];
      if (!(std::fabs(got - want[size_t(o)]) <= 1e-3 * (1.0 + std::fabs(want[size_t(o)])))) {
        std::fprintf(stderr, "%s: wrong result at batch %lld, row %lld, column %lld: %g, want %g\n",
                     library, (long long)batch, (long long)row, (long long)o, got, want[size_t(o)]);
        std::exit(1);
      }
    }
  }
}

struct Timing {
  double median = 0, min = 0, max = 0;
  size_t runs = 0;
};

// The loop of `slope bench`: one warm-up call, then at least 5 calls and at least
// minTime seconds.
inline Timing timeCalls(const std::function<void()> &call, double minTime) {
  using Clock = std::chrono::steady_clock;
  call();
  std::vector<double> times;
  auto start = Clock::now();
  while (true) {
    auto t0 = Clock::now();
    call();
    auto t1 = Clock::now();
    times.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    if (times.size() >= 5 && std::chrono::duration<double>(t1 - start).count() >= minTime)
      break;
  }
  std::sort(times.begin(), times.end());
  size_t n = times.size();
  Timing timing;
  timing.median = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
  timing.min = times.front();
  timing.max = times.back();
  timing.runs = n;
  return timing;
}

// Escapes nothing: names and notes are plain ASCII chosen by the programs.
inline void printJson(const char *library, const Args &args, int64_t batch, const Timing &timing,
                      double flopsRow, const std::string &extra = "") {
  double gflops = timing.median > 0 ? flopsRow * double(batch) / (timing.median * 1e3) : 0.0;
  std::printf("{\"library\":\"%s\",\"network\":\"%s\",\"batch\":%lld,\"threads\":%d,"
              "\"median_us\":%.3f,\"min_us\":%.3f,\"max_us\":%.3f,\"gflops\":%.3f,"
              "\"runs\":%zu%s%s}\n",
              library, args.network.c_str(), (long long)batch, args.threads, timing.median,
              timing.min, timing.max, gflops, timing.runs, extra.empty() ? "" : ",", extra.c_str());
  std::fflush(stdout);
}

} // namespace peer
