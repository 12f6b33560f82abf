#!/usr/bin/env bash
# Runs every tests/mpi/test_*.sh with an MPI build (make MPI=1 BUILD=build/mpi) and prints
# "N passed, N failed, N skipped"; non-zero exit on a failure. Environment as tests/run.sh:
# BUILD (default build/mpi), PYTHON, SEIZE_FIXTURES, WRAP.
set -u
BUILD=${BUILD:-build/mpi}
export PYTHON=${PYTHON:-/usr/bin/python3}
export SEIZE_FIXTURES=${SEIZE_FIXTURES:-../shared/fixtures}
export SEIZE_BIN="$PWD/$BUILD/seize"
export TOP="$PWD"
[ -x "$SEIZE_BIN" ] || { echo "tests/mpi: no $SEIZE_BIN (make MPI=1 BUILD=$BUILD)" >&2; exit 1; }
pass=0 fail=0 skip=0 failed=()
# the MPI build's cluster unit test, started without mpirun: one process, MPI not started
if [ -x "$BUILD/tests/test_cluster" ]; then
  echo "== test_cluster ($BUILD)" >&2
  if "$BUILD/tests/test_cluster" >&2; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=(test_cluster); fi
fi
for t in tests/mpi/test_*.sh; do
  name=$(basename "$t" .sh)
  echo "== $name" >&2
  bash "$t" >&2
  rc=$?
  if [ $rc -eq 0 ]; then pass=$((pass + 1)); echo "ok   $name" >&2
  elif [ $rc -eq 77 ]; then skip=$((skip + 1)); echo "SKIP $name" >&2
  else fail=$((fail + 1)); failed+=("$name"); echo "FAIL $name" >&2; fi
done
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}" >&2
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
