#!/usr/bin/env bash
# Installs slope from a build tree into a fresh prefix, builds samples/aot against the
# installed CMake package (slope_add_network compiles the digits network at build
# time), and runs its C and C++ programs on the digits sample. The programs link no
# slope library: their only run-time dependencies are the C and C++ libraries.
#   aot.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -euo pipefail
src=$1 build=$2 work=$3
digits=$src/samples/digits
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/samples/aot" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/classify" "$digits/test_x.npy" "$digits/test_y.npy" "$digits/expected_scores.npy"
"$work/build/classify_params" "$digits/digits.safetensors" "$digits/test_x.npy" \
  "$digits/expected_scores.npy"
# Nothing of slope or LLVM is linked in.
if ldd "$work/build/classify" "$work/build/classify_params" | grep -Ei 'slope|llvm'; then
  echo "aot.sh: a sample program links slope or LLVM" >&2
  exit 1
fi
# A rebuild with nothing changed does not run the compiler again.
if cmake --build "$work/build" | grep -q "Compiling network"; then
  echo "aot.sh: a rebuild with nothing changed recompiled a network" >&2
  exit 1
fi
