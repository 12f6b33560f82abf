#!/usr/bin/env bash
# Runs every benchmark: build/bench/bench_* binaries and bench/bench_*.sh scripts. Each prints
# one line per case with its ratio against a limit measured in the same run.
set -u
BUILD=${BUILD:-build}
export PYTHON=${PYTHON:-/usr/bin/python3}
export SEIZE_FIXTURES=${SEIZE_FIXTURES:-../shared/fixtures}
export SEIZE_BIN="$PWD/$BUILD/seize"
export SEIZE_DATA=${SEIZE_DATA:-../shared/data}
echo "# seize bench on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
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
