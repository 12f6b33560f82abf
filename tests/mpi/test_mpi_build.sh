#!/usr/bin/env bash
# mpirun -np P seize index build: rank r builds shard r/P into OUT.shards/R-of-P, rank 0 merges:
# features.npy, names.txt and index.json byte-identical to one process's build for P = 1..4;
# a rank that fails fails the job with its message; a rank killed mid-build fails the job and
# the rerun resumes every shard to the same bytes; a finished shard is kept by the rerun, one
# of other settings rebuilt. mpirun -np 2..4 seize search on a sharded
# index (whole shards per rank, or rows across shards) ranks as one process on the merged
# index, for seize, mean and LDRE with exclusions; a shard that does not match is named.
. "$(dirname "$0")/lib.sh"
need_fixtures
need_numpy
FIX=$(cd "$FIX" && pwd)
M=$TMP/model; tiny_model "$M"
# 17 items: fixture images (some under two names), the truncated JPEG and a missing file
for i in $(seq 0 14); do
  printf 'item%02d\t%s\n' "$i" "$FIX/images/$(sed -n "$((i % 12 + 1))p" "$FIX/images.txt")"
done > "$TMP/list.txt"
printf 'broken\t%s\ngone\t%s\n' "$FIX/images/truncated.jpg" "$FIX/images/gone.png" >> "$TMP/list.txt"
B="--model $M --list $TMP/list.txt --batch 2 --threads 1 -q"
expect_status 3 seize index build $B --out "$TMP/full"

# --- P = 1..4: the merged index is the whole build's, the shard folders are gone
for p in 1 2 3 4; do
  expect_status 3 mpi $p index build $B --out "$TMP/m$p"
  for f in features.npy names.txt index.json; do same "$TMP/full/$f" "$TMP/m$p/$f" "$p ranks: $f"; done
  [ -e "$TMP/m$p.shards" ] && fail "$p ranks: the shard folders were left behind"
done
expect_status 1 mpi 2 index build $B --out "$TMP/x" --shard 0/2
grep -q "rank 0 of 2: a shard build (--shard) cannot run under mpirun" "$TMP/err" || fail "--shard under mpirun"
# --- a rank that fails: the job fails with that rank's message
mkdir -p "$TMP/fr.shards"; : > "$TMP/fr.shards/1-of-2" # rank 1's folder is a file
expect_status 1 mpi 2 index build $B --out "$TMP/fr"
grep -q "rank 1 of 2: .*fr.shards/1-of-2" "$TMP/err" || { cat "$TMP/err" >&2; fail "rank 1's error"; }
[ -e "$TMP/fr/features.npy" ] && fail "a failed build wrote its index"

# --- a rank whose list cannot be read: the job fails with its message (no rank waits forever)
printf '#!/bin/sh\nl=%s/list.txt; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && l=%s/nope.txt\nexec "$@" --list "$l"\n' \
    "$TMP" "$TMP" > "$TMP/r1.sh"
chmod +x "$TMP/r1.sh"
expect_status 1 timeout 120 mpirun --oversubscribe --bind-to none -np 2 "$TMP/r1.sh" "$SEIZE_BIN" \
    index build --model "$M" --batch 2 --threads 1 -q --out "$TMP/lb"
grep -q "rank 1 of 2: .*nope.txt" "$TMP/err" || { cat "$TMP/err" >&2; fail "rank 1's list error"; }
# --- what concerns the whole list is said once; a command that does not split runs on rank 0
expect_status 3 mpi 3 index build ${B% -q} --out "$TMP/said"
[ "$(grep -c "images indexed in" "$TMP/err")" -eq 1 ] || { cat "$TMP/err" >&2; fail "said per rank"; }
for i in 0 1; do seize index build $B --out "$TMP/ms/$i" --shard $i/2 2>/dev/null; done
expect_status 0 mpi 2 index merge "$TMP/msone" "$TMP/ms/0" "$TMP/ms/1"
for f in features.npy names.txt index.json; do same "$TMP/full/$f" "$TMP/msone/$f" "merge under mpirun: $f"; done
[ "$(grep -c "shards merged into" "$TMP/err")" -eq 1 ] || { cat "$TMP/err" >&2; fail "merged per rank"; }

# --- a failed merge (OUT in its way) after rank 0's shard had finished and rank 1's finished
# with another dtype: the rerun keeps shard 0 (not encoded again), rebuilds shard 1, and the
# next rerun keeps both and merges them to the whole build's bytes
mkdir -p "$TMP/rs.shards"
seize index build $B --out "$TMP/rs.shards/0-of-2" --shard 0/2 2>/dev/null
seize index build $B --out "$TMP/rs.shards/1-of-2" --shard 1/2 --dtype f16 2>/dev/null
ino() { stat -c %i "$TMP/rs.shards/$1/features.npy"; }
i0=$(ino 0-of-2) i1=$(ino 1-of-2)
: > "$TMP/rs"
expect_status 1 timeout 120 mpirun --oversubscribe --bind-to none -np 2 $WRAP "$SEIZE_BIN" index build \
    ${B% -q} --out "$TMP/rs" # (rank 1 waited forever for the failed merge's status)
grep -q "resuming after 8 of 8 images" "$TMP/err" || { cat "$TMP/err" >&2; fail "shard 0 not kept"; }
grep -q "resuming after 9 of 9" "$TMP/err" && fail "shard 1 of another dtype was kept"
[ "$(ino 0-of-2)" = "$i0" ] || fail "the finished shard 0 was encoded again"
[ "$(ino 1-of-2)" = "$i1" ] && fail "shard 1 of another dtype was not rebuilt"
rm "$TMP/rs"
expect_status 3 mpi 2 index build ${B% -q} --out "$TMP/rs"
[ "$(grep -c "resuming after \(8 of 8\|9 of 9\) images" "$TMP/err")" -eq 2 ] ||
  { cat "$TMP/err" >&2; fail "the rerun after a failed merge did not keep both shards"; }
for f in features.npy names.txt index.json; do same "$TMP/full/$f" "$TMP/rs/$f" "kept shards merged: $f"; done
[ -e "$TMP/rs.shards" ] && fail "the kept shard folders were left behind"

# --- a rank killed mid-build: the job fails; the rerun resumes and gives the same bytes
for i in $(seq 0 399); do
  printf 'k%03d\t%s\n' "$i" "$FIX/images/$(sed -n "$((i % 12 + 1))p" "$FIX/images.txt")"
done > "$TMP/big.txt"
K="--model $M --list $TMP/big.txt --batch 1 --threads 1 -q"
expect_status 0 seize index build $K --out "$TMP/bigfull"
mpirun --oversubscribe --bind-to none -np 2 $WRAP "$SEIZE_BIN" index build $K --out "$TMP/kb" \
    >/dev/null 2>"$TMP/kerr" &
mpid=$!
wait_progress "$TMP/kb.shards/1-of-2/build.progress.json"
for c in $(pgrep -P $mpid); do # rank 1's process (a child of this mpirun)
  tr '\0' '\n' < /proc/$c/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && kill -9 $c
done
wait $mpid; rc=$?
if [ -e "$TMP/kb/features.npy" ]; then
  echo "  note: the build finished before rank 1 could be killed; resume not exercised" >&2
else
  [ $rc -ne 0 ] || fail "the job of a killed rank exited 0"
  [ -e "$TMP/kb.shards/1-of-2/build.partial" ] || fail "rank 1's finished batches are gone"
  expect_status 0 mpirun --oversubscribe --bind-to none -np 2 "$SEIZE_BIN" index build \
      --model "$M" --list "$TMP/big.txt" --batch 1 --threads 1 --out "$TMP/kb"
  grep -q "resuming after" "$TMP/err" || { cat "$TMP/err" >&2; fail "the rerun did not resume"; }
fi
for f in features.npy names.txt index.json; do same "$TMP/bigfull/$f" "$TMP/kb/$f" "killed and resumed: $f"; done

# --- search on a sharded index (3 shards) on 2, 3, 4 ranks = one process on the merged index
for i in 0 1 2; do
  seize index build $B --out "$TMP/sh/$i" --shard $i/3 2>/dev/null
done
expect_status 0 seize index merge "$TMP/sh" "$TMP/sh/0" "$TMP/sh/1" "$TMP/sh/2" --sharded -q
$PYTHON - "$TMP" <<'PY'
import sys, numpy as np
t = sys.argv[1]; r = np.random.default_rng(5)
f = np.load(f"{t}/full/features.npy")
np.save(f"{t}/A.npy", (f[[0, 3, 7, 12]] + 0.3 * r.standard_normal((4, f.shape[1]))).astype(np.float32))
np.save(f"{t}/B.npy", f[[1, 5, 13, 2]])
np.save(f"{t}/A3.npy", r.standard_normal((4, 3, f.shape[1])).astype(np.float32))
np.save(f"{t}/B3.npy", r.standard_normal((4, 3, f.shape[1])).astype(np.float32))
open(f"{t}/refs.txt", "w").write("item00\nitem13\n\nitem07\n")
PY
for m in seize mean ldre; do
  q="--after $TMP/A.npy --before $TMP/B.npy"; [ $m = ldre ] && q="--after $TMP/A3.npy --before $TMP/B3.npy"
  o="--method $m --k 10 --exclude $TMP/refs.txt"
  expect_status 0 seize search --index "$TMP/m3" $q $o --out "$TMP/one.$m.jsonl"
  for p in 2 3 4; do
    expect_status 0 mpi $p search --index "$TMP/sh" $q $o --out "$TMP/p$p.$m.jsonl"
    same "$TMP/one.$m.jsonl" "$TMP/p$p.$m.jsonl" "sharded index, --method $m, $p ranks"
  done
done
# CIRR subsets (img_set members spread over the shards): 4 ranks over 3 shards = one process
$PYTHON - "$TMP" <<'PY'
import json, sys
t = sys.argv[1]; m = ["item%02d" % i for i in (1, 4, 6, 9, 11, 14)]
ann = [{"pairid": q, "reference": "item%02d" % (3 * q), "caption": "x", "target_hard": m[q],
        "img_set": {"members": ["item%02d" % (3 * q)] + m[q:q + 3]}} for q in range(4)]
json.dump(ann, open(f"{t}/cirr.json", "w"))
PY
for m in seize ldre; do
  q="--after $TMP/A.npy --before $TMP/B.npy"; [ $m = ldre ] && q="--after $TMP/A3.npy --before $TMP/B3.npy"
  o="--method $m --k 10 --dataset cirr --annotations $TMP/cirr.json"
  expect_status 0 seize search --index "$TMP/m3" $q $o --out "$TMP/one.c$m.jsonl"
  expect_status 0 mpi 4 search --index "$TMP/sh" $q $o --out "$TMP/p4.c$m.jsonl"
  same "$TMP/one.c$m.jsonl" "$TMP/p4.c$m.jsonl" "sharded index, CIRR subsets, --method $m"
  grep -q '"subset"' "$TMP/p4.c$m.jsonl" || fail "no CIRR subset ranking in $TMP/p4.c$m.jsonl"
done
# a shard rebuilt after the merge: the job fails naming it
seize index build $B --out "$TMP/sh/2" --shard 2/3 --dtype f16 2>/dev/null
expect_status 1 mpi 3 search --index "$TMP/sh" $q --out "$TMP/x.jsonl"
grep -q "rank [0-2] of 3: .*shard 2 .*does not match the manifest" "$TMP/err" ||
  { cat "$TMP/err" >&2; fail "a mismatched shard not named"; }
exit 0
