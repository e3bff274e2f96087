#!/usr/bin/env bash
# The peer comparison: slope against oneDNN, libxsmm, OpenBLAS, Eigen and PyTorch on the
# shapes of the performance table, measured side by side, written to docs/PERFORMANCE.md.
#
#   bench/run.sh [--rounds N] [--min-time S] [--no-install] [--output FILE]
#
# Installs the peers' Debian packages when they are missing (needs root), builds slope
# (Release, in build-bench/) and the peer programs (bench/CMakeLists.txt, in
# build-bench/peers/), then, for every row of the table, runs slope and each peer one
# after the other, round after round, in an order that rotates between rounds. Each
# process times one batch size as `slope bench` does (warm-up, >= 5 calls and
# >= --min-time seconds, median). A row's number for a library is its best median over
# the rounds: on a shared machine noise only ever adds time, and interleaving spreads
# the slow moments over all libraries alike. Raw JSON lines are kept in
# build-bench/results.jsonl; bench/report.py turns them into the Markdown file.
#
# Not part of the build or of scripts/test.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=3
min_time=0.3
install=1
output="$root/docs/PERFORMANCE.md"
command_line="bench/run.sh $*"
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --min-time) min_time=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    --output) output=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done

build="$root/build-bench"
results="$build/results.jsonl"
log="$build/bench.log"
python=/usr/bin/python3
start_seconds=$SECONDS
start_date=$(date -u '+%Y-%m-%d %H:%M UTC')

say() { printf '[bench %3ds] %s\n' "$((SECONDS - start_seconds))" "$*" >&2; }

# --- the peers' packages -------------------------------------------------------------
packages=(libdnnl-dev libxsmm-dev libopenblas-dev libeigen3-dev python3-torch)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  if ((install == 0)) || [[ $(id -u) != 0 ]]; then
    echo "bench/run.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- builds --------------------------------------------------------------------------
mkdir -p "$build"
say "building slope (Release) in build-bench/"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSLOPE_BUILD_TESTS=OFF >"$log" 2>&1
cmake --build "$build" -j2 --target slope_cli >>"$log" 2>&1 || { tail -30 "$log" >&2; exit 1; }
say "building the peers in build-bench/peers/"
cmake -S "$root/bench" -B "$build/peers" -DCMAKE_BUILD_TYPE=Release >>"$log" 2>&1
cmake --build "$build/peers" -j2 >>"$log" 2>&1 || { tail -30 "$log" >&2; exit 1; }
slope="$build/slope"
peers="$build/peers"

# --- what is measured ----------------------------------------------------------------
# network widths leaky-after-last-layer batch
rows=(
  "mlp_784_128_64_10 784,128,64,10 no 1"
  "mlp_784_128_64_10 784,128,64,10 no 64"
  "mlp_784_128_64_10 784,128,64,10 no 1024"
  "dense_1024 1024,1024 yes 1"
  "dense_1024 1024,1024 yes 16"
  "dense_1024 1024,1024 yes 256"
  "dense_4096 4096,4096 yes 512"
)
# The compute-bound rows, for the two-thread section.
thread_rows=(
  "mlp_784_128_64_10 784,128,64,10 no 1024"
  "dense_1024 1024,1024 yes 256"
  "dense_4096 4096,4096 yes 512"
)
# Small batches of layers whose weights stream from L3 or memory, for the two-thread
# latency section (threads share such a layer by columns: docs/architecture.md).
latency_rows=(
  "dense_1024 1024,1024 yes 1"
  "dense_4096 4096,4096 yes 1"
  "dense_4096 4096,4096 yes 16"
)
table_configs=(slope onednn libxsmm openblas openblas-haswell eigen torch)
thread_configs=(slope-1t slope-2t onednn-2t)

# Single thread everywhere unless a config says otherwise. OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE may be set on a machine to pin old OpenBLAS builds to the Haswell
# kernels; the peers run without them (OpenBLAS then picks its kernels from the CPU:
# the JSON lines record which, and every peer checks its results before timing) except
# the "openblas-haswell" config, which asks for the Haswell kernels (AVX2) whatever the
# environment says.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
no_coretype=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)

# run_config CONFIG NETWORK WIDTHS LEAKY BATCH: prints one JSON line, or nothing.
run_config() {
  local config=$1 network=$2 widths=$3 leaky=$4 batch=$5
  local peer_args=(--network "$network" --layers "$widths" --batch "$batch" --min-time "$min_time")
  [[ $leaky == yes ]] && peer_args+=(--leaky-last)
  local slope_args=("$root/bench/networks/$network.slope" --batch "$batch" --json --min-time "$min_time")
  case $config in
    slope | slope-1t) "$slope" bench "${slope_args[@]}" --threads 1 ;;
    slope-2t) "$slope" bench "${slope_args[@]}" --threads 2 ;;
    onednn) "$peers/onednn_bench" "${peer_args[@]}" --threads 1 ;;
    onednn-2t) OMP_NUM_THREADS=2 "$peers/onednn_bench" "${peer_args[@]}" --threads 2 ;;
    libxsmm) "$peers/libxsmm_bench" "${peer_args[@]}" --threads 1 ;;
    openblas) "${no_coretype[@]}" "$peers/openblas_bench" "${peer_args[@]}" --threads 1 ;;
    openblas-haswell) "${no_coretype[@]}" OPENBLAS_CORETYPE=Haswell "$peers/openblas_bench" "${peer_args[@]}" --threads 1 ;;
    eigen) "$peers/eigen_bench" "${peer_args[@]}" --threads 1 ;;
    torch) "${no_coretype[@]}" "$python" "$root/bench/peers/torch_bench.py" "${peer_args[@]}" --threads 1 ;;
  esac
}

# measure SECTION CONFIGS... -- ROWS...: every row, every round, every config.
measure() {
  local section=$1; shift
  local configs=()
  while [[ $1 != -- ]]; do configs+=("$1"); shift; done
  shift
  local row_index=0 row round i config line
  for row in "$@"; do
    read -r network widths leaky batch <<<"$row"
    for ((round = 0; round < rounds; ++round)); do
      for ((i = 0; i < ${#configs[@]}; ++i)); do
        # Rotate the order so that no library always runs right after the same one.
        config=${configs[$(((i + round + row_index) % ${#configs[@]}))]}
        say "$section: $network batch $batch, round $((round + 1))/$rounds, $config"
        if line=$(run_config "$config" "$network" "$widths" "$leaky" "$batch" 2>>"$log" | tail -1) &&
           [[ $line == '{'* ]]; then
          printf '{"section":"%s","config":"%s","round":%d,%s\n' \
            "$section" "$config" "$round" "${line#\{}" >>"$results"
        else
          say "$config failed on $network batch $batch (see $log)"
          printf '{"section":"%s","config":"%s","round":%d,"network":"%s","batch":%d,"failed":true}\n' \
            "$section" "$config" "$round" "$network" "$batch" >>"$results"
        fi
      done
    done
    row_index=$((row_index + 1))
  done
}

# cpu_ticks: the machine's busy and stolen clock ticks, and this script's children's.
# The difference over the run, less what the measured processes used themselves, is what
# other work took from the cores while they ran.
cpu_ticks() {
  local busy steal children
  read -r busy steal < <(awk '/^cpu /{print $2 + $3 + $4 + $7 + $8, $9}' /proc/stat)
  children=$(awk '{print $16 + $17}' "/proc/$$/stat")
  echo "$busy $steal $children"
}

: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
read -r busy0 steal0 children0 < <(cpu_ticks)
measure_start=$SECONDS
# The FMA peak of one core, before, between and after the sections: the report uses the
# highest.
measure_peak() {
  say "peak: the FP32 FMA peak of one core"
  "$peers/peak" --min-time 0.3 | sed 's/^{/{"section":"peak","config":"peak","network":"-","batch":0,/' >>"$results"
}
measure_peak
measure table "${table_configs[@]}" -- "${rows[@]}"
measure_peak
measure threads "${thread_configs[@]}" -- "${thread_rows[@]}"
measure latency "${thread_configs[@]}" -- "${latency_rows[@]}"
measure_peak
read -r busy1 steal1 children1 < <(cpu_ticks)
measure_seconds=$((SECONDS - measure_start))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
hz=$(getconf CLK_TCK)
other_cores=$(awk -v b=$((busy1 - busy0 - (children1 - children0))) -v s=$measure_seconds -v hz="$hz" \
  'BEGIN { v = (s > 0 ? b / hz / s : 0); printf "%.2f", (v < 0 ? 0 : v) }')
steal_cores=$(awk -v t=$((steal1 - steal0)) -v s=$measure_seconds -v hz="$hz" \
  'BEGIN { printf "%.2f", (s > 0 ? t / hz / s : 0) }')

say "writing $output"
"$python" "$root/bench/report.py" --results "$results" --output "$output" \
  --command "$command_line" --rounds "$rounds" --min-time "$min_time" \
  --load "$load_before" --load "$load_after" --seconds "$((SECONDS - start_seconds))" \
  --other-cores "$other_cores" --steal-cores "$steal_cores" \
  --root "$root" --date "$start_date"
say "done"
