#!/usr/bin/env bash
# SIGTERM and SIGINT: a running index build stops, leaves no temporary file and resumes; a
# search stopped while writing its output leaves no OUT.tmp.* behind (and no partial OUT).
. "$(dirname "$0")/lib.sh"
need_fixtures
need_numpy
FIX=$(cd "$FIX" && pwd)
M=$TMP/model; tiny_model "$M"
no_tmp() { local l; l=$(find "$1" -name '*.tmp.*'); [ -z "$l" ] || fail "$2: temporary files left: $l"; }

# --- index build: SIGTERM, then SIGINT, each part-way; no temporary file; then it resumes
for i in $(seq 0 119); do
  f=$(sed -n "$((i % 12 + 1))p" "$FIX/images.txt")
  printf 'item%03d\t%s\n' "$i" "$FIX/images/$f"
done > "$TMP/list.txt"
for sig in TERM INT; do
  ( exec $WRAP "$SEIZE_BIN" index build --model "$M" --list "$TMP/list.txt" --out "$TMP/ix" --batch 1 --threads 1 -q \
      2>"$TMP/build.err" ) &
  pid=$!
  wait_progress "$TMP/ix/build.progress.json"
  kill -$sig $pid 2>/dev/null; wait $pid; st=$?
  if [ -e "$TMP/ix/features.npy" ]; then
    echo "  note: the build finished before SIG$sig; not exercised" >&2
    break
  fi
  [ $st -ne 0 ] || fail "SIG$sig: the build exited 0 without finishing"
  grep -q "interrupted" "$TMP/build.err" || [ $st -gt 128 ] || { cat "$TMP/build.err" >&2; fail "SIG$sig: no interruption message"; }
  no_tmp "$TMP/ix" "index build SIG$sig"
done
expect_status 0 seize index build --model "$M" --list "$TMP/list.txt" --out "$TMP/ix" --batch 4
[ -e "$TMP/ix/features.npy" ] || fail "no index after the rerun"
grep -q "resuming after\|discarding" "$TMP/err" || [ -z "$(ls "$TMP/ix"/build.* 2>/dev/null)" ] || fail "rerun neither resumed nor started over"
no_tmp "$TMP/ix" "index build rerun"

# --- search: a large output, stopped while being written
$PYTHON - "$TMP" <<'PY'
import sys, numpy as np
t = sys.argv[1]
rng = np.random.default_rng(1)
np.save(f"{t}/g.npy", rng.standard_normal((60000, 16)).astype(np.float32))
open(f"{t}/g.txt", "w").write("".join(f"image-with-a-long-name-{i:06d}.jpg\n" for i in range(60000)))
np.save(f"{t}/A.npy", rng.standard_normal((3000, 16)).astype(np.float32))
np.save(f"{t}/B.npy", rng.standard_normal((3000, 16)).astype(np.float32))
PY
expect_status 0 seize index import --features "$TMP/g.npy" --names "$TMP/g.txt" --out "$TMP/big"
mkdir -p "$TMP/s"
for sig in TERM INT; do
  ( exec $WRAP "$SEIZE_BIN" search --index "$TMP/big" --after "$TMP/A.npy" --before "$TMP/B.npy" --k 1000 \
      --threads 1 --out "$TMP/s/r.jsonl" 2>/dev/null ) &
  pid=$!
  seen=0
  for _ in $(seq 1 3000); do
    if ls "$TMP/s"/r.jsonl.tmp.* >/dev/null 2>&1; then seen=1; break; fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.01
  done
  kill -$sig $pid 2>/dev/null; wait $pid; st=$?
  if [ $seen -eq 0 ] || [ $st -eq 0 ]; then
    echo "  note: search SIG$sig: the output was not caught being written; not exercised" >&2
    rm -f "$TMP/s/r.jsonl"
  else
    [ -e "$TMP/s/r.jsonl" ] && fail "search SIG$sig: a partial output was left"
  fi
  no_tmp "$TMP/s" "search SIG$sig"
done
exit 0
