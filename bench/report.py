#!/usr/bin/python3
"""Writes docs/PERFORMANCE.md from the JSON lines that bench/run.sh collected.

Each line is one process timing one batch size of one network with one library
("config"), in one round. A library's number for a row is the smallest of its
per-round medians. Standard library only.
"""
import argparse
import collections
import datetime
import glob
import json
import os
import re
import statistics
import subprocess
import textwrap

# The rows of issue 5's table: (network, batch) -> (best peer then, its time in µs,
# slope's target in µs).
TARGETS = {
    ("mlp_784_128_64_10", 1): ("OpenBLAS, Eigen", 3.2, 2.9),
    ("mlp_784_128_64_10", 64): ("oneDNN", 81, 73),
    ("mlp_784_128_64_10", 1024): ("oneDNN", 1316, 1250),
    ("dense_1024", 1): ("Eigen", 145, 150),
    ("dense_1024", 16): ("oneDNN, libxsmm", 272, 180),
    ("dense_1024", 256): ("oneDNN", 3211, 3050),
    ("dense_4096", 512): ("libxsmm", 110700, 105000),
}
SHAPES = {
    "mlp_784_128_64_10": "784→128→64→10",
    "dense_1024": "1024→1024",
    "dense_4096": "4096→4096",
}
PEERS = ["onednn", "libxsmm", "openblas", "openblas-haswell", "eigen", "torch"]
TITLES = {
    "slope": "slope",
    "onednn": "oneDNN",
    "libxsmm": "libxsmm",
    "openblas": "OpenBLAS",
    "openblas-haswell": "OpenBLAS (Haswell)",
    "eigen": "Eigen",
    "torch": "PyTorch",
}
SCALING_TARGET = 1.8
COMPILE_TARGET_MS = 20.0


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--min-time", required=True)
    parser.add_argument("--load", action="append", default=[])
    parser.add_argument("--other-cores", type=float, default=None,
                        help="cores' worth of CPU time other processes used during the run")
    parser.add_argument("--steal-cores", type=float, default=None,
                        help="cores' worth of time the hypervisor took during the run")
    parser.add_argument("--seconds", type=int, default=0)
    parser.add_argument("--root", required=True)
    parser.add_argument("--date", help="when the run started (default: now)")
    return parser.parse_args()


def run(*command, cwd=None):
    try:
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                              check=False).stdout.strip()
    except OSError:
        return ""


def cpu_info():
    fields, flags = {}, set()
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "flags":
                flags = set(value.split())
            elif key and key not in fields:
                fields[key] = value.strip()
    return fields, flags


def memory_gib():
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1 << 20)
    return 0.0


def cache_sizes():
    """The per-core caches the kernel reports, as "L1d 48 KiB, L2 2 MiB, ...", or ""."""
    names = []
    for index in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index[0-9]*")):
        def read(field):
            try:
                with open(os.path.join(index, field)) as f:
                    return f.read().strip()
            except OSError:
                return ""
        level, kind, size = read("level"), read("type"), read("size")
        if not level or not size or kind == "Instruction":
            continue
        kib = int(size[:-1]) * (1024 if size.endswith("M") else 1) if size[-1] in "KM" else 0
        size = f"{kib // 1024} MiB" if kib and kib % 1024 == 0 else f"{kib} KiB" if kib else size
        names.append(f"L{level}{'d' if kind == 'Data' else ''} {size}")
    return ", ".join(names)


def package_version(name):
    return run("dpkg-query", "-W", "-f=${Version}", name) or "not installed"


def fmt_us(value):
    if value is None:
        return "—"
    if value >= 10000:
        return f"{value / 1000:.1f}k"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def load_results(path):
    runs = []
    with open(path) as results:
        for line in results:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    return runs


class Results:
    def __init__(self, runs):
        self.runs = runs
        self.medians = collections.defaultdict(list)  # (section, config, net, batch)
        self.mins = collections.defaultdict(list)
        self.failed = collections.Counter()
        self.peak = max((r["gflops"] for r in runs if r.get("section") == "peak"), default=None)
        for run_ in runs:
            if run_.get("section") == "peak":
                continue
            key = (run_["section"], run_["config"], run_["network"], run_["batch"])
            if run_.get("failed"):
                self.failed[key] += 1
            else:
                self.medians[key].append(run_["median_us"])
                self.mins[key].append(run_["min_us"])

    def best(self, section, config, network, batch):
        values = self.medians.get((section, config, network, batch))
        return min(values) if values else None

    def fastest(self, section, config, network, batch):
        values = self.mins.get((section, config, network, batch))
        return min(values) if values else None

    def rounds(self, section, config, network, batch):
        return self.medians.get((section, config, network, batch), [])

    def first(self, config, field):
        for run_ in self.runs:
            if run_["config"] == config and field in run_:
                return run_[field]
        return None

    def flops(self, network, batch):
        """Floating-point operations of one forward pass, from slope's runs."""
        for run_ in self.runs:
            if (run_.get("config") == "slope" and run_.get("network") == network
                    and run_.get("batch") == batch and run_.get("median_us")):
                return run_["gflops"] * run_["median_us"] * 1e3
        return None

    def at_peak(self, network, batch):
        """µs that one forward pass takes at the measured FMA peak of one core."""
        flops = self.flops(network, batch)
        return flops / (self.peak * 1e3) if flops and self.peak else None

    def rows(self, section):
        seen = []
        for run_ in self.runs:
            row = (run_["network"], run_["batch"])
            if run_["section"] == section and row not in seen:
                seen.append(row)
        return seen


def table_section(results, out):
    rows = results.rows("table")
    misses = []
    header = ["network", "batch"] + [TITLES[c] for c in ["slope"] + PEERS] + [
        "best peer", "ratio", "target ratio", "slope target", "at target?", "at FMA peak"]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * len(header))
    for network, batch in rows:
        slope = results.best("table", "slope", network, batch)
        peers = {c: results.best("table", c, network, batch) for c in PEERS}
        measured = {c: v for c, v in peers.items() if v is not None}
        best_config = min(measured, key=measured.get) if measured else None
        best = measured.get(best_config)
        then_peer, then_us, target_us = TARGETS.get((network, batch), ("", None, None))
        target_ratio = then_us / target_us if then_us and target_us else None
        ratio = best / slope if best and slope else None
        cells = [SHAPES.get(network, network), str(batch), f"**{fmt_us(slope)}**"]
        for config in PEERS:
            value = peers[config]
            if value is None and results.failed[("table", config, network, batch)]:
                cells.append("failed")
            else:
                cells.append(fmt_us(value))
        verdict = "—"
        if ratio is not None and target_ratio is not None:
            verdict = "yes" if ratio >= target_ratio else "**no**"
            if ratio < target_ratio:
                misses.append((network, batch, slope, best, best_config, ratio, target_ratio,
                               target_us, results.at_peak(network, batch)))
        at_peak = results.at_peak(network, batch)
        cells += [
            f"{TITLES.get(best_config, '—')} {fmt_us(best)}" if best_config else "—",
            f"{ratio:.3f}×" if ratio else "—",
            f"≥ {target_ratio:.3f}×" if target_ratio else "—",
            f"≤ {fmt_us(target_us)}" if target_us else "—",
            verdict,
            fmt_us(at_peak),
        ]
        out.append("| " + " | ".join(cells) + " |")
    return misses


def rounds_section(results, out):
    out.append("| network | batch | " + " | ".join(TITLES[c] for c in ["slope"] + PEERS) + " |")
    out.append("|" + "---|" * (2 + 1 + len(PEERS)))
    for network, batch in results.rows("table"):
        cells = [SHAPES.get(network, network), str(batch)]
        for config in ["slope"] + PEERS:
            values = results.rounds("table", config, network, batch)
            cells.append(" / ".join(fmt_us(v) for v in values) if values else "—")
        out.append("| " + " | ".join(cells) + " |")


def fastest_section(results, out):
    out.append("| network | batch | " + " | ".join(TITLES[c] for c in ["slope"] + PEERS)
               + " | ratio |")
    out.append("|" + "---|" * (2 + 1 + len(PEERS) + 1))
    for network, batch in results.rows("table"):
        slope = results.fastest("table", "slope", network, batch)
        peers = [results.fastest("table", c, network, batch) for c in PEERS]
        measured = [v for v in peers if v is not None]
        ratio = min(measured) / slope if measured and slope else None
        out.append(f"| {SHAPES.get(network, network)} | {batch} | {fmt_us(slope)} | "
                   + " | ".join(fmt_us(v) for v in peers)
                   + f" | {f'{ratio:.2f}×' if ratio else '—'} |")


def threads_section(results, out):
    out.append("| network | batch | slope, 1 thread | slope, 2 threads | scaling "
               f"(target ≥ {SCALING_TARGET}×) | oneDNN, 2 threads | fastest call, slope 1 / 2"
               " threads |")
    out.append("|---|---|---|---|---|---|---|")
    misses = []
    for network, batch in results.rows("threads"):
        one = results.best("threads", "slope-1t", network, batch)
        two = results.best("threads", "slope-2t", network, batch)
        onednn = results.best("threads", "onednn-2t", network, batch)
        fast_one = results.fastest("threads", "slope-1t", network, batch)
        fast_two = results.fastest("threads", "slope-2t", network, batch)
        scaling = one / two if one and two else None
        verdict = ""
        if scaling is not None:
            verdict = " (yes)" if scaling >= SCALING_TARGET else " (**no**)"
            if scaling < SCALING_TARGET:
                misses.append((network, batch, scaling))
        fast = (f"{fmt_us(fast_one)} / {fmt_us(fast_two)} ({fast_one / fast_two:.2f}×)"
                if fast_one and fast_two else "—")
        out.append(f"| {SHAPES.get(network, network)} | {batch} | {fmt_us(one)} | "
                   f"{fmt_us(two)} | {f'{scaling:.2f}×' if scaling else '—'}{verdict} | "
                   f"{fmt_us(onednn)} | {fast} |")
    return misses


def latency_section(results, out):
    out.append("| network | batch | slope, 1 thread | slope, 2 threads | speed-up | "
               "oneDNN, 2 threads | oneDNN / slope, 2 threads |")
    out.append("|---|---|---|---|---|---|---|")
    for network, batch in results.rows("latency"):
        one = results.best("latency", "slope-1t", network, batch)
        two = results.best("latency", "slope-2t", network, batch)
        onednn = results.best("latency", "onednn-2t", network, batch)
        speedup = f"{one / two:.2f}×" if one and two else "—"
        ratio = f"{onednn / two:.2f}×" if onednn and two else "—"
        out.append(f"| {SHAPES.get(network, network)} | {batch} | {fmt_us(one)} | "
                   f"{fmt_us(two)} | {speedup} | {fmt_us(onednn)} | {ratio} |")


def prose(out, *parts):
    """One paragraph, wrapped."""
    out.append(textwrap.fill(" ".join(parts), width=92, break_on_hyphens=False,
                             break_long_words=False))
    out.append("")


def bullet(out, *parts):
    out.append(textwrap.fill(" ".join(parts), width=92, initial_indent="- ",
                             subsequent_indent="  ", break_on_hyphens=False,
                             break_long_words=False))


def main():
    args = parse_args()
    results = Results(load_results(args.results))
    fields, flags = cpu_info()
    now = datetime.datetime.now(datetime.timezone.utc)
    commit = run("git", "rev-parse", "--short", "HEAD", cwd=args.root)
    changed = [line for line in run("git", "status", "--porcelain", cwd=args.root).splitlines()
               if not re.search(r"\s(bench/|docs/PERFORMANCE\.md)", line)]
    isa = ", ".join(f for f in ["avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                                "avx2", "fma"] if f in flags)
    family = fields.get("cpu family", "?")
    amd = "AMD" in fields.get("vendor_id", "") + fields.get("model name", "")
    family_note = " (0x1a: Zen 5)" if family == "26" and amd else ""
    llvm = run("/usr/lib/llvm-19/bin/llvm-config", "--version")
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    l2_size = os.environ.get("OPENBLAS_L2_SIZE")
    caches = cache_sizes()
    rounds = f"{args.rounds} round" + ("" if args.rounds == 1 else "s")

    out = ["# Performance", ""]
    prose(out, "slope against the libraries a user could pick instead, on the shapes of the",
          "performance table of issue 5, measured side by side in one run of `bench/run.sh`.",
          "This file is written by that script (with `bench/report.py`): rerun it rather than",
          "editing the numbers.")

    out += ["## The run", ""]
    bullet(out, f"Command: `{args.command.strip()}`, as root, from the repository root;",
           f"{rounds}, `--min-time {args.min_time}`, {args.seconds // 60} min",
           f"{args.seconds % 60} s in all, builds included.")
    bullet(out, f"Date: {args.date or f'{now:%Y-%m-%d %H:%M} UTC'} (start of the run).")
    bullet(out, f"Source: commit `{commit}`" + (
        f", with {len(changed)} files outside `bench/` changed or added in the working tree by"
        " other work in progress at the time: what was measured is that tree."
        if changed else ", clean tree."))
    bullet(out, f"Machine: {fields.get('model name', '?')}, family {family}{family_note} model",
           f"{fields.get('model', '?')}, {os.cpu_count()} cores (1 thread per core),",
           f"{memory_gib():.0f} GiB; ISA: {isa}; " +
           (f"caches of core 0: {caches}." if caches else "the machine exposes no cache sizes."))
    if args.load:
        other = args.other_cores
        steal = args.steal_cores
        usage = ""
        if other is not None:
            usage = (f" While it measured, other processes used {other:.2f} of the {os.cpu_count()} cores on"
                     f" average" + (f", and the hypervisor took {steal:.2f}" if steal else "")
                     + ".")
        if other is not None and other < 0.1 and (steal or 0) < 0.1:
            bullet(out, f"Load average (1, 5, 15 min) before the run: {args.load[0]}; after:",
                   f"{args.load[-1]}.{usage} The machine was quiet; the per-round medians are",
                   "listed below so that the spread can be judged.")
        else:
            bullet(out, f"Load average (1, 5, 15 min) before the run: {args.load[0]}; after:",
                   f"{args.load[-1]}.{usage} **The machine was shared**: other work ran on",
                   "the same cores during the run, so processes had only part of a core now and",
                   "then. The times are noisy, and the long calls (milliseconds) suffer most,",
                   "since they are preempted more often. The per-round medians are listed below",
                   "so that the spread can be judged.")
    bullet(out, f"Toolchain: g++ {run('g++', '-dumpfullversion')}, LLVM {llvm or '?'}",
           "(slope's JIT); slope built Release in `build-bench/`.")
    bullet(out, f"Peers, Debian 12 packages: oneDNN {package_version('libdnnl2')},",
           f"libxsmm {package_version('libxsmm-dev')},",
           f"OpenBLAS {package_version('libopenblas0-pthread')},",
           f"Eigen {package_version('libeigen3-dev')},",
           f"PyTorch {package_version('python3-torch')}.")
    out.append("")

    out += ["## Single thread: median µs per forward pass", ""]
    prose(out, "fp32, leaky_relu(0.01) after every layer but the last (the single-layer networks",
          "have it after their layer). Each cell is the best over the rounds of that library's",
          "median; smaller is better. **ratio** = best peer's time / slope's time: above 1,",
          "slope is faster. The issue's targets are absolute times set from an earlier",
          "measurement; since absolute times drift on a shared machine, the **target ratio** is",
          "that measurement's best-peer time divided by slope's target time, and **at target?**",
          "compares the ratio measured here with it. slope's target in µs is listed too.",
          "**at FMA peak** is the time the row's work would take at the measured FP32 FMA",
          "peak of one core: a lower bound for any code.")
    misses = table_section(results, out)
    out.append("")
    if misses:
        out += ["**Where slope is not at the target in this run:**", ""]
        for (network, batch, slope, best, config, ratio, target_ratio, target_us,
             at_peak) in misses:
            absolute = ""
            if target_us:
                absolute = (f"; in absolute time {fmt_us(slope)} µs against the target"
                            f" {fmt_us(target_us)} µs"
                            + (" (met in absolute time only)" if slope <= target_us else ""))
            needed = best / target_ratio
            beyond = ""
            if at_peak and needed < at_peak:
                beyond = (f" The target ratio needs {fmt_us(needed)} µs, faster than this"
                          f" row's work takes at the measured FMA peak ({fmt_us(at_peak)} µs):"
                          " no code can reach it on this machine while the peer runs this fast.")
            elif at_peak:
                beyond = (f" The target ratio needs {fmt_us(needed)} µs"
                          f" ({at_peak / needed:.0%} of the FMA peak).")
            bullet(out, f"{SHAPES.get(network, network)}, batch {batch}: slope {fmt_us(slope)}",
                   f"µs, {TITLES[config]} {fmt_us(best)} µs: ratio {ratio:.3f}×, target",
                   f"≥ {target_ratio:.3f}×{absolute}.{beyond}")
        out.append("")
    else:
        prose(out, "Every row is at or beyond its target ratio in this run.")
    slope_gflops = {}
    for run_ in results.runs:
        if run_["section"] == "table" and run_["config"] == "slope" and "gflops" in run_:
            key = (run_["network"], run_["batch"])
            slope_gflops[key] = max(slope_gflops.get(key, 0.0), run_["gflops"])
    if slope_gflops:
        peak = (f"the FP32 FMA peak of one core, measured by `bench/peers/peak.cpp` in this"
                f" run, is {results.peak:.0f} GFLOP/s" if results.peak else
                "the FP32 FMA peak was not measured in this run")
        prose(out, "slope's best GFLOP/s per row (a multiply-add counts 2, an activation 1;",
              peak + "): " + "; ".join(
                  f"{SHAPES.get(n, n)} × {b}: {g:.0f}" for (n, b), g in slope_gflops.items())
              + ".")

    out += ["### Every round", ""]
    prose(out, "The median of each process, round by round in the order they ran (the table",
          "above takes the smallest):")
    rounds_section(results, out)
    out.append("")

    out += ["### Fastest single call", ""]
    prose(out, "Not the measure of the table, but a help to read it: the fastest single call of",
          "each library over all its rounds (µs), and the best peer's over slope's. On a loaded",
          "machine the median of a call of several milliseconds is mostly a measure of how",
          "often it was preempted; the fastest call is closer to what the kernel does",
          "undisturbed.")
    fastest_section(results, out)
    out.append("")

    out += ["## Two threads, compute-bound shapes", ""]
    prose(out, "`slope bench --threads 2` against `--threads 1`, run alternately in the same",
          "rounds (the issue asks for ≥ 1.8× on these shapes), and oneDNN with 2 OpenMP",
          "threads for comparison. On a machine whose 2 cores are busy with other work, a",
          "2-thread run needs both cores at once and is hurt by the load far more than a",
          "1-thread run (a thread that waits at a barrier for a preempted partner waits for",
          "the whole time slice): read these numbers as a lower bound on the scaling.")
    thread_misses = threads_section(results, out)
    out.append("")
    if thread_misses:
        prose(out, "Below the 1.8× scaling target in this run: " + "; ".join(
            f"{SHAPES.get(n, n)} × {b} ({s:.2f}×)" for n, b, s in thread_misses) + ".")

    if results.rows("latency"):
        out += ["## Two threads, small batches", ""]
        prose(out, "Layers whose weights stream from L3 or memory, where a batch this small",
              "cannot be split by rows (every thread would stream all the weights): two",
              "threads share each such layer by column tiles, each streaming its own half of",
              "the weights (docs/architecture.md, \"Threads\"). Same runs and rounds as above;",
              "the last column is above 1 where slope is faster.")
        latency_section(results, out)
        out.append("")

    out += ["## JIT compile time", ""]
    compile_ms = [r["compile_ms"] for r in results.runs
                  if r.get("config") == "slope" and r.get("network") == "mlp_784_128_64_10"
                  and "compile_ms" in r]
    if compile_ms:
        median = statistics.median(compile_ms)
        best = min(compile_ms)
        if median <= COMPILE_TARGET_MS:
            verdict = "at the target"
        elif best <= COMPILE_TARGET_MS:
            verdict = "**not at the target** by the median, only in the fastest runs"
        else:
            verdict = (f"**not at the target**, even the fastest is "
                       f"{best / COMPILE_TARGET_MS:.1f}× too slow")
        first_ms = [r["first_compile_ms"] for r in results.runs
                    if r.get("config") == "slope" and r.get("network") == "mlp_784_128_64_10"
                    and "first_compile_ms" in r]
        first = (f" The first compile in each process, which also pays for LLVM's one-time"
                 f" set-up and for paging in its code, took {statistics.median(first_ms):.1f} ms"
                 f" (median)." if first_ms else "")
        prose(out, "`compile_ms` of `slope bench` for the 784→128→64→10 MLP: the time of",
              "`slope::compile_source` with random weights, from the source text to callable JIT",
              "code (the median of five compiles after the first in the process), in each of",
              f"its {len(compile_ms)} single-thread runs. Median {median:.1f} ms,",
              f"min {best:.1f} ms, max {max(compile_ms):.1f} ms. The JIT compiles the kernels",
              "on both cores at once (docs/codegen.md), so the load inflates it more than the",
              f"rest. Target ≤ {COMPILE_TARGET_MS:.0f} ms: {verdict}.{first}")
    else:
        prose(out, "No compile time was measured in this run.")

    out += ["## The peers, and how they were run", ""]
    prose(out, "Every program times one batch size as `slope bench` does: one warm-up call, then",
          "calls until at least `--min-time` seconds and at least 5 calls; the median per call.",
          "Every peer first checks the first, middle and last rows of its output against a",
          "float64 evaluation of the same network, so that no peer is fast by computing",
          "something else. Weights are random, scaled 1/√fan-in like slope's random weights.",
          "Sources: `bench/peers/`.")
    onednn_isa = results.first("onednn", "isa")
    onednn_impl = results.first("onednn", "impl")
    bullet(out, "**oneDNN** (`onednn_bench`): one matmul primitive per layer, with the bias and",
           "an `eltwise_relu` post-op of alpha 0.01 (leaky relu) fused into it; weights reordered",
           "once into the primitive's layout (`format_tag::any`) and primitives created once;",
           "only `execute` is timed. OpenMP threads via `omp_set_num_threads`. It ran",
           f"`{onednn_impl or '?'}` on ISA `{onednn_isa or '?'}`.")
    bullet(out, "**libxsmm** (`libxsmm_bench`): libxsmm's generated kernels",
           "(`libxsmm_smmdispatch`, target",
           f"`{results.first('libxsmm', 'target') or '?'}`), one per block of 64 outputs x 16",
           "rows over the whole K, as a user of that small-matrix library tiles a layer (its",
           "own large-GEMM path hands the work to a BLAS); weights transposed once for its",
           "column-major kernels; then a separate bias + leaky_relu pass; 1 thread.")
    bullet(out, "**OpenBLAS** (`openblas_bench`): `cblas_sgemm` per layer (`cblas_sgemv` at batch",
           "1: OpenBLAS 0.3.21's sgemm has no shortcut for one row, and a user would call",
           "sgemv), then a separate bias + leaky_relu pass; 1 thread.")
    bullet(out, "**Eigen** (`eigen_bench`): the product into the output, then bias and leaky_relu",
           "in one expression; row-major; `-march=native`",
           f"({results.first('eigen', 'simd') or '?'}), no OpenMP. glibc is told to keep freed",
           "memory (`mallopt`): Eigen mallocs its packing buffers for every product, and with",
           "glibc's defaults they went back to the kernel and were page-faulted in again on",
           "every call, which made batch 64 more than ten times slower.")
    bullet(out, "**PyTorch** (`torch_bench.py`, `/usr/bin/python3`): `F.linear` + `F.leaky_relu`",
           "in eager mode under `torch.inference_mode()`, `torch.set_num_threads(1)`. Debian's",
           "torch runs `F.linear` on the system BLAS:",
           f"`{results.first('torch', 'blas') or '?'}`.")
    out.append("")
    pinned = (f"`OPENBLAS_CORETYPE={coretype}`" if coretype else "") \
        + (" and " if coretype and l2_size else "") \
        + (f"`OPENBLAS_L2_SIZE={l2_size}`" if l2_size else "")
    prose(out, "**OPENBLAS_CORETYPE.**",
          f"This machine's environment sets {pinned}, which pins OpenBLAS to kernels other"
          " than its own choice (older builds misdetect some processors)." if pinned else
          "This machine's environment sets neither `OPENBLAS_CORETYPE` nor `OPENBLAS_L2_SIZE`,"
          " which some machines set to pin OpenBLAS to older kernels.",
          "The comparison runs OpenBLAS and PyTorch with both variables removed",
          "from their environment, so that OpenBLAS picks its kernels from the CPU:",
          f"`openblas_get_corename()` then says `{results.first('openblas', 'corename') or '?'}`",
          f"(PyTorch's OpenBLAS: `{results.first('torch', 'corename') or '?'}`), and the results",
          "check passes. The column \"OpenBLAS (Haswell)\" is the same program run with",
          "`OPENBLAS_CORETYPE=Haswell`",
          f"(`openblas_get_corename()`: `{results.first('openblas-haswell', 'corename') or '?'}`;"
          " AVX2 kernels), for reference.")
    prose(out, "Single thread everywhere in the main table: `slope bench --threads 1`,",
          "`OMP_NUM_THREADS=1`, `OPENBLAS_NUM_THREADS=1`, `torch.set_num_threads(1)`.")

    out += ["## Reproducing", "", "```sh",
            "sudo bench/run.sh       # installs the peers, builds, measures, writes this file",
            "bench/run.sh --rounds 5 --min-time 1 --output /tmp/PERFORMANCE.md",
            "build-bench/peers/onednn_bench --layers 784,128,64,10 --batch 1,64 --threads 1",
            "build-bench/slope bench bench/networks/dense_1024.slope --batch 1,16,256 --threads 1",
            "```", ""]
    prose(out, "Raw results of the last run: `build-bench/results.jsonl`, one JSON line per",
          "process with each library's details. `bench/` is part of neither the slope build",
          "nor `scripts/test`.")
    with open(args.output, "w") as output:
        output.write("\n".join(out).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
