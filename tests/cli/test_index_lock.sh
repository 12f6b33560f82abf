#!/usr/bin/env bash
# Two writers and resumed builds: a second index build on a folder in use fails at once with a
# clear message and the first one's result is that of a clean build; a resumed build checks
# its partial state (truncated, extended, altered rows, a changed progress record) and starts
# over when it does not check out, so the result always equals a clean build.
. "$(dirname "$0")/lib.sh"
need_fixtures
need_numpy
FIX=$(cd "$FIX" && pwd)
M=$TMP/model; tiny_model "$M"
for i in $(seq 0 199); do
  f=$(sed -n "$((i % 12 + 1))p" "$FIX/images.txt")
  printf 'item%03d\t%s\n' "$i" "$FIX/images/$f"
done > "$TMP/list.txt"
head -24 "$TMP/list.txt" > "$TMP/small.txt"
build() { seize index build --model "$M" --batch 1 --threads 1 -q "$@"; }
same() {  # same() A B: same names, rows equal to float rounding
  $PYTHON - "$1" "$2" <<'PY'
import sys, numpy as np
a, b = (np.load(f"{d}/features.npy") for d in sys.argv[1:])
assert open(f"{sys.argv[1]}/names.txt").read() == open(f"{sys.argv[2]}/names.txt").read()
assert a.shape == b.shape and (a * b).sum(1).min() > 0.99999, (a * b).sum(1).min()
PY
}
build --list "$TMP/list.txt" --out "$TMP/clean" 2>/dev/null || fail "clean build"
build --list "$TMP/small.txt" --out "$TMP/clean-small" 2>/dev/null || fail "clean small build"

# --- two builds on one folder: the second fails at once, the first is correct
( exec $WRAP "$SEIZE_BIN" index build --model "$M" --list "$TMP/list.txt" --out "$TMP/ix" --batch 1 --threads 1 -q \
    2>"$TMP/first.err" ) &
pid=$!
wait_progress "$TMP/ix/build.progress.json"
if [ -e "$TMP/ix/features.npy" ] || ! kill -0 $pid 2>/dev/null; then
  echo "  note: the first build finished before the second started; lock not exercised" >&2
else
  expect_status 1 seize index build --model "$M" --list "$TMP/list.txt" --out "$TMP/ix" --batch 1 --threads 1 -q
  grep -q "in use by another seize process" "$TMP/err" || { cat "$TMP/err" >&2; fail "no clear message for the second writer"; }
  grep -q "pid $pid" "$TMP/err" || fail "the message does not name the first process"
  # also with another list (it would otherwise discard the first one's state)
  expect_status 1 seize index build --model "$M" --list "$TMP/small.txt" --out "$TMP/ix" --batch 1 --threads 1 -q
  grep -q "in use" "$TMP/err" || fail "second writer with another list not refused"
fi
wait $pid || { cat "$TMP/first.err" >&2; fail "the first build failed"; }
same "$TMP/clean" "$TMP/ix" || fail "the first build's result differs from a clean build"

# --- resume checks: stop a build part-way (SIGKILL), tamper, rerun: always equal to clean
partial_build() {  # leaves an unfinished build of small.txt in $1 (at least 2 rows done)
  rm -rf "$1"
  ( exec $WRAP "$SEIZE_BIN" index build --model "$M" --list "$TMP/small.txt" --out "$1" --batch 1 --threads 1 -q \
      2>/dev/null ) &
  local p=$!
  for _ in $(seq 1 1200); do
    grep -q '"done":\([2-9]\|1[0-9]\)' "$1/build.progress.json" 2>/dev/null && break
    sleep 0.02
  done
  kill -9 $p 2>/dev/null; wait $p 2>/dev/null
  [ -e "$1/features.npy" ] && return 1
  [ -e "$1/build.partial" ]
}
rowbytes=$($PYTHON -c "import numpy as np; print(4 * np.load('$TMP/clean-small/features.npy').shape[1])")
for how in none truncate-row truncate-odd extend flip progress-done progress-garbage no-partial; do
  partial_build "$TMP/r" || { echo "  note: $how: the build finished before the kill; skipped" >&2; continue; }
  p=$TMP/r/build.partial
  case $how in
    truncate-row|truncate-odd)  # below the rows the progress record counts
      done_rows=$(grep -o '"done":[0-9]*' "$TMP/r/build.progress.json" | cut -d: -f2)
      cut=$rowbytes; [ $how = truncate-odd ] && cut=7
      truncate -s $((done_rows * rowbytes - cut)) "$p" ;;
    extend) head -c $((3 * rowbytes)) /dev/urandom >> "$p" ;;
    flip) printf '\377\377\377\377' | dd of="$p" bs=1 seek=8 conv=notrunc 2>/dev/null ;;
    progress-done) sed -i 's/"done":[0-9]*/"done":1/' "$TMP/r/build.progress.json" ;;
    progress-garbage) echo 'not json' > "$TMP/r/build.progress.json" ;;
    no-partial) rm -f "$p" ;;
  esac
  seize index build --model "$M" --list "$TMP/small.txt" --out "$TMP/r" --batch 1 --threads 1 2>"$TMP/err" \
      || { cat "$TMP/err" >&2; fail "$how: rerun failed"; }
  case $how in
    none|extend) grep -q "resuming after" "$TMP/err" || fail "$how: a good partial state was not resumed" ;;
    *) grep -q "discarding the unfinished build" "$TMP/err" || { cat "$TMP/err" >&2; fail "$how: bad state not discarded with a note"; } ;;
  esac
  same "$TMP/clean-small" "$TMP/r" || fail "$how: the result differs from a clean build"
done
exit 0
