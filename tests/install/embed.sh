#!/usr/bin/env bash
# Installs slope from a build tree into a fresh prefix, builds samples/embed against the
# installed CMake package, and runs it on the digits sample.
#   embed.sh SOURCE_DIR BUILD_DIR WORK_DIR [CXX_FLAGS]
# CXX_FLAGS (e.g. -fsanitize=address,undefined, for a sanitized build) go to the sample.
set -euo pipefail
src=$1 build=$2 work=$3 cxx_flags=${4:-}
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/samples/embed" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS="$cxx_flags" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/embed" "$src/samples/digits/digits.slope" "$src/samples/digits/digits.safetensors"
# The installed command line runs too (its run path finds the installed library).
"$work/prefix/bin/slope" check "$src/samples/digits/digits.slope"
