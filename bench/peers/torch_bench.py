#!/usr/bin/python3
"""PyTorch peer of the performance comparison (docs/PERFORMANCE.md).

Eager PyTorch as a user writes it: F.linear then F.leaky_relu per layer, under
torch.inference_mode(), with torch.set_num_threads(N). Same command line, timing loop
and JSON lines as the C++ peers (bench/peers/PeerBench.h) and `slope bench --json`.
Run it with Debian's /usr/bin/python3 and python3-torch. Debian's torch calls the
system BLAS (libblas.so.3, OpenBLAS once libopenblas is installed) for F.linear; the
JSON line says which library and, for OpenBLAS, which kernels it uses.
"""
import argparse
import ctypes
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def parse_list(text):
    return [int(item) for item in text.split(",")]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="net")
    parser.add_argument("--layers", type=parse_list, required=True)
    parser.add_argument("--batch", type=parse_list, default=[1, 64, 1024])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-time", type=float, default=0.2)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--leaky-last", action="store_true")
    return parser.parse_args()


def blas_info():
    """The BLAS library this process loaded, and OpenBLAS's kernel name if it is one."""
    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps if "blas" in line and "/" in line})
    info = {"blas": " ".join(p.rsplit("/", 1)[-1] for p in paths)}
    for path in paths:
        if "openblas" in path.rsplit("/", 1)[-1]:
            library = ctypes.CDLL(path)
            library.openblas_get_corename.restype = ctypes.c_char_p
            info["corename"] = library.openblas_get_corename().decode()
            break
    return info


def time_calls(call, min_time):
    """The loop of `slope bench`: one warm-up call, then >= 5 calls and >= min_time s."""
    call()
    times = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        call()
        t1 = time.perf_counter()
        times.append((t1 - t0) * 1e6)
        if len(times) >= 5 and t1 - start >= min_time:
            return times


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(7)
    layers = []
    for i in range(1, len(args.layers)):
        fan_in, units = args.layers[i - 1], args.layers[i]
        bound = 1.0 / math.sqrt(fan_in)
        weight = (torch.rand(units, fan_in, generator=generator) * 2 - 1) * bound
        bias = (torch.rand(units, generator=generator) * 2 - 1) * bound
        leaky = i + 1 < len(args.layers) or args.leaky_last
        layers.append((weight, bias, leaky))
    flops = sum(2.0 * w.shape[0] * w.shape[1] + (w.shape[0] if leaky else 0)
                for w, _, leaky in layers)

    def forward(x):
        for weight, bias, leaky in layers:
            x = F.linear(x, weight, bias)
            if leaky:
                x = F.leaky_relu(x, args.alpha)
        return x

    extra = None
    for batch in args.batch:
        x = torch.rand(batch, args.layers[0], generator=generator) * 2 - 1
        with torch.inference_mode():
            y = forward(x)
            # The same check as the C++ peers: a few rows against float64.
            reference = x.double()
            for weight, bias, leaky in layers:
                reference = F.linear(reference, weight.double(), bias.double())
                if leaky:
                    reference = F.leaky_relu(reference, args.alpha)
            if not torch.allclose(y.double(), reference, rtol=1e-3, atol=1e-3):
                sys.exit(f"torch: wrong result at batch {batch}")
            times = sorted(time_calls(lambda: forward(x), args.min_time))
        if extra is None:
            extra = blas_info()
        median = statistics.median(times)
        row = {"library": "torch", "network": args.network, "batch": batch,
               "threads": torch.get_num_threads(), "median_us": median,
               "min_us": times[0], "max_us": times[-1],
               "gflops": flops * batch / (median * 1e3) if median > 0 else 0.0,
               "runs": len(times), "torch": torch.__version__, **extra}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
