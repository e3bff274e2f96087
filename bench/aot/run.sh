#!/usr/bin/env bash
# The cost of passing weights at run time to a `slope compile` object: the 1024 -> 1024
# layer of bench/networks/dense_1024.slope compiled with its weights embedded and without
# (the function then takes them in the user's [units, in] layout and packs them on every
# call), each linked with a C driver (driver.c) and timed at batch 1, 4, 16 and 256.
#
#   bench/aot/run.sh [SLOPE]     # SLOPE: the slope program (default: build-bench/slope)
#
# Needs /usr/bin/python3 with numpy for the random weights file. Not part of scripts/test.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
slope=${1:-$root/build-bench/slope}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

/usr/bin/python3 - "$work/w.npz" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(1)
np.savez(sys.argv[1], **{"out.weight": (rng.standard_normal((1024, 1024)) / 32).astype(np.float32),
                         "out.bias": rng.standard_normal(1024).astype(np.float32)})
PY
net=$root/bench/networks/dense_1024.slope
"$slope" compile "$net" -o "$work/embedded.o" --header "$work/embedded.h" --weights "$work/w.npz"
"$slope" compile "$net" -o "$work/user.o" --header "$work/user.h"
cc -O2 -std=c99 -Wall -Wextra -Werror -I "$work" -DHEADER='"embedded.h"' \
  "$root/bench/aot/driver.c" "$work/embedded.o" -lm -o "$work/embedded"
cc -O2 -std=c99 -Wall -Wextra -Werror -I "$work" -DHEADER='"user.h"' -DUSER_LAYOUT \
  "$root/bench/aot/driver.c" "$work/user.o" -lm -o "$work/user"
for round in 1 2 3; do
  echo "round $round, weights embedded:"; "$work/embedded"
  echo "round $round, weights passed at run time:"; "$work/user"
done
