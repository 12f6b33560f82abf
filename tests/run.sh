#!/usr/bin/env bash
# Runs every unit test binary in $BUILD/tests and every tests/cli/test_*.sh script, then prints
# the closing line "N passed, N failed, N skipped" (test cases) and exits non-zero on any failure.
# Environment: BUILD (build folder), WRAP (e.g. a valgrind command line), PYTHON, SEIZE_FIXTURES.
set -u
BUILD=${BUILD:-build}
export PYTHON=${PYTHON:-/usr/bin/python3}
export SEIZE_FIXTURES=${SEIZE_FIXTURES:-../shared/fixtures}
export SEIZE_BIN="$PWD/$BUILD/seize"
export WRAP=${WRAP:-}
export TOP="$PWD"
pass=0 fail=0 skip=0
failed_names=()
if [ ! -d "$SEIZE_FIXTURES" ]; then
  echo "note: fixtures folder '$SEIZE_FIXTURES' not found: fixture-based tests are skipped" >&2
fi
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  echo "== $name" >&2
  out=$($WRAP "$t")
  rc=$?
  line=$(printf '%s\n' "$out" | grep -E '^# .*: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' | tail -1)
  if [ -n "$line" ]; then
    p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    s=$(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$line")
  else
    p=0 f=0 s=0
  fi
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed or valgrind error
  [ $rc -ne 0 ] && failed_names+=("$name")
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done
for t in tests/cli/test_*.sh; do
  [ -f "$t" ] || continue
  name=$(basename "$t" .sh)
  echo "== $name" >&2
  bash "$t" >&2
  rc=$?
  if [ $rc -eq 0 ]; then pass=$((pass + 1)); echo "ok   $name" >&2
  elif [ $rc -eq 77 ]; then skip=$((skip + 1)); echo "SKIP $name" >&2
  else fail=$((fail + 1)); failed_names+=("$name"); echo "FAIL $name" >&2; fi
done
[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}" >&2
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
