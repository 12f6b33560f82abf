#!/usr/bin/env bash
# Runs every benchmark: build/bench/bench_* binaries and bench/bench_*.sh scripts. Each prints
# one line per case with its ratio against a limit measured in the same run.
set -u
BUILD=${BUILD:-build}
export PYTHON=${PYTHON:-/usr/bin/python3}
export SEIZE_FIXTURES=${SEIZE_FIXTURES:-../shared/fixtures}
export SEIZE_BIN="$PWD/$BUILD/seize"
export SEIZE_DATA=${SEIZE_DATA:-../shared/data}
# bench_serve's stand-in LLM server (tests/servers/openai_server.py)
export SEIZE_SERVERS=${SEIZE_SERVERS:-$PWD/tests/servers}
# bench_clip's references: bench/clip_torch.py and bench/bench_ort.js, with the onnxruntime-node
# that scripts/install-bench-deps.sh installs into $BUILD/bench-node
export SEIZE_BENCH_SRC=${SEIZE_BENCH_SRC:-$PWD/bench}
case $BUILD in /*) build_abs=$BUILD ;; *) build_abs=$PWD/$BUILD ;; esac
export NODE_PATH="$build_abs/bench-node/node_modules${NODE_PATH:+:$NODE_PATH}"
echo "# seize bench on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}"
rc=0
for b in "$BUILD"/bench/bench_*; do
  [ -x "$b" ] || continue
  "$b" || rc=1
done
for s in bench/bench_*.sh; do
  [ -f "$s" ] || continue
  bash "$s" || rc=1
done
exit $rc
