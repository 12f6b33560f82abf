#!/usr/bin/env bash
# seize index build --shard I/N and seize index merge: the shards of N = 1, 2, 3 merged are the
# bytes of a whole build; shard sets that do not belong together are refused with a message
# naming the folder and the problem; a killed shard build resumes (and another shard spec
# discards it with a note), a finished one is kept by the same build and built again by
# another; a sharded index (merge --sharded) searches like the merged one, in
# seize search and in seize serve.
. "$(dirname "$0")/lib.sh"
need_fixtures
need_numpy
FIX=$(cd "$FIX" && pwd)
M=$TMP/model; tiny_model "$M"
L=$TMP/laion; mkdir -p "$L"
for f in model.safetensors config.json vocab.json merges.txt; do ln -s "$FIX/models/tiny-laion/$f" "$L/$f"; done

# 17 items: the fixture images (some twice, under other names), the truncated JPEG (unreadable)
# and a missing file: both left out and listed
for i in $(seq 0 14); do
  printf 'item%02d\t%s\n' "$i" "$FIX/images/$(sed -n "$((i % 12 + 1))p" "$FIX/images.txt")"
done > "$TMP/list.txt"
printf 'broken\t%s\ngone\t%s\n' "$FIX/images/truncated.jpg" "$FIX/images/gone.png" >> "$TMP/list.txt"
build() { seize index build --model "$M" --batch 2 --threads 1 -q "$@"; }
# shards LIST DIR N [OPTION...]: builds the N shards of LIST into DIR/0 ... DIR/N-1
shards() {
  local list=$1 dir=$2 n=$3 i; shift 3
  for ((i = 0; i < n; i++)); do
    build --list "$list" --out "$dir/$i" --shard "$i/$n" "$@" >"$TMP/out" 2>"$TMP/err"
    case $? in 0|3) ;; *) cat "$TMP/err" >&2; fail "shard $i/$n of $list" ;; esac
  done
}
expect_status 3 build --list "$TMP/list.txt" --out "$TMP/full"

# --- N = 1, 2, 3: merged (shards given in any order) == the whole build, byte for byte
for n in 1 2 3; do
  shards "$TMP/list.txt" "$TMP/s$n" "$n"
  expect_status 0 seize index merge "$TMP/m$n" $(ls -d "$TMP/s$n"/* | sort -r)
  grep -q "$n shards merged into .*15 images, 2 left out" "$TMP/err" || fail "merge summary (N=$n)"
  for f in features.npy names.txt index.json; do
    cmp "$TMP/full/$f" "$TMP/m$n/$f" || fail "N=$n: merged $f differs from the whole build's"
  done
done
$PYTHON - "$TMP" <<'PY' || fail "shard records"
import json, sys
t = sys.argv[1]
full = json.load(open(f"{t}/full/index.json"))
assert "shard" not in full and [f["name"] for f in full["failed"]] == ["broken", "gone"]
rows = []
for i in range(3):
    j = json.load(open(f"{t}/s3/{i}/index.json"))
    s = j["shard"]
    assert (s["index"], s["count"], s["batch"], s["total"]) == (i, 3, 2, 17), s
    rows.append(s["rows"])
    assert j["count"] + len(j["failed"]) == s["rows"][1] - s["rows"][0]
    assert s["failed_at"] == [15, 16][:len(j["failed"])] if i == 2 else s["failed_at"] == []
    assert j["model"] == full["model"] and j["preprocess"] == full["preprocess"]
assert rows == [[0, 6], [6, 12], [12, 17]], rows   # 9 batches of 2: 3 + 3 + 3
PY
expect_status 2 build --list "$TMP/list.txt" --out "$TMP/x" --shard 3/3
grep -q "bad shard '3/3'" "$TMP/err" || fail "shard 3/3 accepted"
expect_status 2 build --list "$TMP/list.txt" --out "$TMP/x" --shard 1
expect_status 2 seize index merge "$TMP/x"

# --- shard sets that do not belong together
refused() { # refused MESSAGE OUT SHARD...: the merge fails, saying MESSAGE, and writes nothing
  local want=$1; shift
  expect_status 1 seize index merge "$@"
  grep -q -- "$want" "$TMP/err" || { cat "$TMP/err" >&2; fail "no '$want' for: merge $*"; }
  [ -e "$TMP/r/features.npy" ] && fail "a refused merge wrote $TMP/r"
  return 0
}
S=$TMP/s3
refused "shard 1/3 is missing (given: 0/3 '$S/0', 2/3 '$S/2')" "$TMP/r" "$S/0" "$S/2"
cp -r "$S/1" "$TMP/dup1"
refused "shard 1/3 is given twice: '$S/1' and '$TMP/dup1'" "$TMP/r" "$S/0" "$S/1" "$TMP/dup1" "$S/2"
refused "'$TMP/s2/1' is shard 1/2 and '$S/0' is shard 0/3: they are of builds with different shard counts" \
    "$TMP/r" "$S/0" "$TMP/s2/1" "$S/2"
refused "'$TMP/full' is not a shard" "$TMP/r" "$S/0" "$TMP/full"
build --list "$TMP/list.txt" --out "$TMP/f16" --shard 1/2 --dtype f16 2>/dev/null
refused "'$TMP/f16' stores f16 rows and '$TMP/s2/0' f32" "$TMP/r" "$TMP/s2/0" "$TMP/f16"
build --list "$TMP/list.txt" --out "$TMP/b3" --shard 1/2 --batch 3 2>/dev/null
refused "'$TMP/b3' was built with --batch 3 and '$TMP/s2/0' with --batch 2" "$TMP/r" "$TMP/s2/0" "$TMP/b3"
seize index build --model "$L" --list "$TMP/list.txt" --out "$TMP/laion" --shard 1/2 --batch 2 -q 2>/dev/null
refused "'$TMP/laion' was built with another model" "$TMP/r" "$TMP/s2/0" "$TMP/laion"
# the list in reverse: its shard 1/2 holds names of the first half
tac "$TMP/list.txt" > "$TMP/rev.txt"
build --list "$TMP/rev.txt" --out "$TMP/rev" --shard 1/2 2>/dev/null
refused "gallery name 'item0[0-9]' is in both '$TMP/s2/0' and '$TMP/rev'" "$TMP/r" "$TMP/s2/0" "$TMP/rev"
# one more image: disjoint halves of another list
{ cat "$TMP/list.txt"; printf 'extra\t%s\n' "$FIX/images/logo.png"; } > "$TMP/more.txt"
build --list "$TMP/more.txt" --out "$TMP/more" --shard 1/2 2>/dev/null
refused "'$TMP/more' was built from another gallery list than '$TMP/s2/0' (18 names" "$TMP/r" "$TMP/s2/0" "$TMP/more"
refused "the output folder '$TMP/s2/0' is shard" "$TMP/s2/0" "$TMP/s2/0" "$TMP/s2/1"
# an edited names.txt no longer makes up the list
cp -r "$TMP/s2/1" "$TMP/edit"; sed -i 's/^item10$/item99/' "$TMP/edit/names.txt"
refused "the shards' names do not make up the gallery list" "$TMP/r" "$TMP/s2/0" "$TMP/edit"

# --- a killed shard build: the same command resumes and the merge is still the whole build;
# another shard spec discards the unfinished state with a note
( exec $WRAP "$SEIZE_BIN" index build --model "$M" --list "$TMP/list.txt" --out "$TMP/k" \
    --batch 2 --threads 1 --shard 1/2 -q 2>/dev/null ) &
pid=$!
wait_progress "$TMP/k/build.progress.json"
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
if [ -e "$TMP/k/features.npy" ]; then
  echo "  note: the shard build finished before it could be killed; resume not exercised" >&2
else
  grep -q '"shard":"1/2"' "$TMP/k/build.progress.json" || fail "the build state does not record the shard"
  refused "'$TMP/k' holds an unfinished build" "$TMP/r" "$TMP/s2/0" "$TMP/k"
  cp -r "$TMP/k" "$TMP/k2"
  expect_status 3 seize index build --model "$M" --list "$TMP/list.txt" --out "$TMP/k" --batch 2 \
      --threads 1 --shard 1/2
  grep -q "resuming after" "$TMP/err" || fail "the rerun did not resume"
  expect_status 0 build --list "$TMP/list.txt" --out "$TMP/k2" --shard 0/2
  grep -q "discarding the unfinished build in '$TMP/k2' (it was for shard 1/2, this build is shard 0/2)" \
      "$TMP/err" || fail "another shard spec did not discard the state with a note"
  cmp "$TMP/k2/features.npy" "$TMP/s2/0/features.npy" || fail "the discarded state was mixed in"
fi
expect_status 0 seize index merge "$TMP/mk" "$TMP/s2/0" "$TMP/k" -q
cmp "$TMP/full/features.npy" "$TMP/mk/features.npy" || fail "resumed shard: merge differs"
# --- a finished shard: the same build again keeps it (nothing encoded; a note), another model,
# list, dtype, batch or --restart builds it anew
kept() { cp -r "$TMP/s2/1" "$TMP/$1"; stat -c %i "$TMP/$1/features.npy" > "$TMP/$1.ino"; }
same_file() { [ "$(stat -c %i "$TMP/$1/features.npy")" = "$(cat "$TMP/$1.ino")" ]; }
kept keep
expect_status 3 seize index build --model "$M" --list "$TMP/list.txt" --out "$TMP/keep" --batch 2 \
    --threads 1 --shard 1/2
grep -q "resuming after 9 of 9 images" "$TMP/err" || { cat "$TMP/err" >&2; fail "a finished shard was not kept"; }
grep -q "7 images indexed in .*; 2 skipped" "$TMP/err" || fail "a kept shard's summary"
same_file keep || fail "a finished shard was encoded again"
for f in features.npy names.txt index.json; do cmp "$TMP/s2/1/$f" "$TMP/keep/$f" || fail "kept shard: $f"; done
for c in "kp-m --model $L" "kp-l --list $TMP/more.txt" "kp-d --dtype f16" "kp-b --batch 3" "kp-r --restart"; do
  set -- $c; kept "$1"; d=$1; shift
  build --list "$TMP/list.txt" --out "$TMP/$d" --shard 1/2 "$@" -q 2>/dev/null
  same_file "$d" && fail "a finished shard was kept for $*"
done
cmp -s "$TMP/s2/1/index.json" "$TMP/kp-m/index.json" && fail "another model: the shard was not rebuilt"
grep -q '"total": *18' "$TMP/kp-l/index.json" || fail "another list: the shard was not rebuilt"
grep -q '"dtype": *"f16"' "$TMP/kp-d/index.json" || fail "another dtype: the shard was not rebuilt"

# --- a sharded index (the shards inside it, and one referenced from elsewhere) searches like
# the merged index: seize, mean and LDRE, with exclusions
mkdir -p "$TMP/sh"; mv "$S/0" "$S/1" "$TMP/sh/"
expect_status 0 seize index merge "$TMP/sh" "$TMP/sh/0" "$TMP/sh/1" "$S/2" --sharded
$PYTHON - "$TMP/sh/index.json" <<'PY' || fail "manifest"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["sharded"] is True and j["count"] == 15 and j["total"] == 17
assert [(s["path"], s["count"]) for s in j["shards"]] == [("0", 6), ("1", 6), ("../s3/2", 3)], j["shards"]
assert [f["name"] for f in j["failed"]] == ["broken", "gone"]
PY
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
  for ix in m3 sh; do
    expect_status 0 seize search --index "$TMP/$ix" $q --method $m --k 10 --exclude "$TMP/refs.txt" --out "$TMP/$ix.$m.jsonl"
  done
  cmp "$TMP/m3.$m.jsonl" "$TMP/sh.$m.jsonl" || fail "--method $m: the sharded index ranks otherwise"
done
grep -q '"item13"' "$TMP/sh.seize.jsonl" || fail "rankings lack a row of the last shard"
# seize serve opens the sharded index as one: a text search and a search by a gallery name of the
# last shard answer as on the merged index
serve_search() { # INDEX OUT: the two searches' results through seize serve on INDEX
  ( exec $WRAP "$SEIZE_BIN" serve --index "$1" --model "$M" --listen 127.0.0.1:0 --threads 1 \
      2>"$TMP/serve.err" ) &
  local pid=$! port
  port=$(serve_port $pid "$TMP/serve.err") || exit 1
  $PYTHON - "http://127.0.0.1:$port" >"$2" <<'PY' || fail "seize serve $1: a search failed"
import json, sys, urllib.request
for path, body in (("/v1/search/text", {"text": "a photo of a cat", "k": 10}),
                   ("/v1/search/image", {"reference": {"name": "item13"}, "k": 10})):
    r = urllib.request.Request(sys.argv[1] + path, data=json.dumps(body).encode(), method="POST")
    print(json.dumps(json.load(urllib.request.urlopen(r))["results"]))
PY
  kill -TERM $pid; wait $pid || fail "seize serve $1 did not exit 0 on SIGTERM"
}
serve_search "$TMP/m3" "$TMP/serve.m3"
serve_search "$TMP/sh" "$TMP/serve.sh"
cmp "$TMP/serve.m3" "$TMP/serve.sh" || fail "seize serve: the sharded index answers otherwise"
sed -n 1p "$TMP/serve.sh" | grep -q '"item13"' || fail "seize serve: a text search lacks the last shard"
sed -n 2p "$TMP/serve.sh" | grep -q '"item13"' && fail "seize serve: the reference is in its own results"
# a shard changed after the merge is named
build --list "$TMP/list.txt" --out "$S/2" --shard 2/3 --dtype f16 2>/dev/null
expect_status 1 seize search --index "$TMP/sh" $q --out "$TMP/x.jsonl"
grep -q "shard 2 ('$TMP/sh/../s3/2') does not match the manifest (its dtype differs)" "$TMP/err" \
    || fail "a rebuilt shard not named"
exit 0
