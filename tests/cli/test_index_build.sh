#!/usr/bin/env bash
# seize index build (folder, list, resume after a kill) and seize query-features, checked
# against the fixture model's expected embeddings; then a search on the built index.
. "$(dirname "$0")/lib.sh"
need_fixtures
need_numpy
FIX=$(cd "$FIX" && pwd)   # absolute: the model folder below links into it
M=$TMP/model; tiny_model "$M"   # a single-layout model folder (the fixture folder has both)
EXP=$FIX/models/tiny-openai

# --- build from a folder: 12 images encoded, the truncated JPEG skipped and recorded (exit 3)
expect_status 3 seize index build --model "$M" --images "$FIX/images" --out "$TMP/ix" --batch 5 -q
grep -q "truncated" "$TMP/err" || fail "the bad image is not reported"
$PYTHON - "$TMP/ix" "$FIX/images.txt" "$EXP/expected_image_features.npy" "$M/model.safetensors" <<'PY' || fail "built index"
import hashlib, json, sys, numpy as np
ix, order, exp, weights = sys.argv[1:]
names = open(f"{ix}/names.txt").read().split()
want = [l.strip().rsplit(".", 1)[0] for l in open(order) if l.strip()]
assert names == want, (names, want)
f = np.load(f"{ix}/features.npy"); e = np.load(exp).astype(np.float64)
e /= np.linalg.norm(e, axis=1, keepdims=True)
assert f.dtype == np.float32 and f.shape == e.shape
assert (f * e).sum(1).min() >= 0.99999, (f * e).sum(1)
j = json.load(open(f"{ix}/index.json"))
assert j["count"] == 12 and j["dim"] == f.shape[1] and j["dtype"] == "f32"
assert j["model"]["sha256"] == hashlib.sha256(open(weights, "rb").read()).hexdigest()
assert [x["name"] for x in j["failed"]] == ["truncated"] and "truncated JPEG" in j["failed"][0]["reason"]
PY
[ -e "$TMP/ix/build.partial" ] && fail "build.partial left behind"

# --- a list with names; killed part-way, the same command resumes and gives the same rows
for i in $(seq 0 29); do
  f=$(sed -n "$((i % 12 + 1))p" "$FIX/images.txt")
  printf 'item%02d\t%s\n' "$i" "$FIX/images/$f"
done > "$TMP/list.txt"
seize index build --model "$M" --list "$TMP/list.txt" --out "$TMP/full" --batch 2 --threads 1 -q \
    2>/dev/null || fail "uninterrupted list build"
# exec: $! must be the tool itself, not a subshell around it
( exec $WRAP "$SEIZE_BIN" index build --model "$M" --list "$TMP/list.txt" --out "$TMP/res" \
    --batch 2 --threads 1 -q 2>/dev/null ) &
pid=$!
for _ in $(seq 1 600); do  # wait until at least one batch is recorded
  grep -q '"done":[1-9]' "$TMP/res/build.progress.json" 2>/dev/null && break
  sleep 0.05
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
if [ -e "$TMP/res/features.npy" ]; then
  echo "  note: the build finished before it could be killed; resume not exercised" >&2
else
  [ -e "$TMP/res/build.partial" ] || fail "no partial rows after the kill"
  expect_status 0 seize index build --model "$M" --list "$TMP/list.txt" --out "$TMP/res" --batch 2 --threads 1
  grep -q "resuming after" "$TMP/err" || fail "the rerun did not resume"
fi
[ -e "$TMP/res/build.partial" ] && fail "build.partial left behind after resuming"
$PYTHON - "$TMP/full" "$TMP/res" <<'PY' || fail "resumed index differs"
import sys, numpy as np
a, b = (np.load(f"{d}/features.npy") for d in sys.argv[1:])
assert open(f"{sys.argv[1]}/names.txt").read() == open(f"{sys.argv[2]}/names.txt").read()
assert a.shape == b.shape == (30, a.shape[1]) and (a * b).sum(1).min() > 0.99999
PY
# another model's unfinished build is not silently mixed in: it is discarded with a note
mkdir -p "$TMP/mix" && echo '{"model_sha256": "x", "list_sha256": "y", "dim": 32, "done": 1}' > "$TMP/mix/build.progress.json"
expect_status 0 seize index build --model "$M" --list "$TMP/list.txt" --out "$TMP/mix" -q
grep -q "discarding the unfinished build" "$TMP/err" || fail "mixed build not discarded with a note"
$PYTHON - "$TMP/full" "$TMP/mix" <<'PY' || fail "discarded build differs from a clean one"
import sys, numpy as np
a, b = (np.load(f"{d}/features.npy") for d in sys.argv[1:])
assert a.shape == b.shape and (a * b).sum(1).min() > 0.99999
PY
expect_status 0 seize index build --model "$M" --list "$TMP/list.txt" --out "$TMP/mix" -q --restart --dtype f16
grep -q '"dtype": "f16"' "$TMP/mix/index.json" || fail "f16 build"
expect_status 2 seize index build --model "$M" --out "$TMP/x"
expect_status 1 seize index build --model "$TMP/nomodel" --images "$FIX/images" --out "$TMP/x"

# --- query features: means of raw text embeddings, normalised (fixture texts as captions)
$PYTHON - "$FIX/texts.jsonl" "$TMP/c.jsonl" <<'PY'
import json, sys
t = [json.loads(l)["text"] for l in open(sys.argv[1])]
recs = [{"id": 0, "captions": t[0:3], "edited": t[3:5]},
        {"id": 1, "captions": [t[5], t[5], t[9]], "edited": t[6:9]},
        {"id": 2, "captions": t[10:13], "edited": t[13:16]}]
open(sys.argv[2], "w").write("".join(json.dumps(r) + "\n" for r in recs))
PY
expect_status 0 seize query-features --model "$M" --captions "$TMP/c.jsonl" --out-after "$TMP/A.npy" --out-before "$TMP/B.npy" -q
expect_status 0 seize query-features --model "$M" --captions "$TMP/c.jsonl" --num-captions 2 --per-caption \
    --out-after "$TMP/A3.npy" --out-before "$TMP/B3.npy" -q
$PYTHON - "$EXP/expected_text_features.npy" "$TMP" <<'PY' || fail "query features"
import sys, numpy as np
e = np.load(sys.argv[1]).astype(np.float64); t = sys.argv[2]
n = lambda x: x / np.linalg.norm(x)
A, B = np.load(f"{t}/A.npy"), np.load(f"{t}/B.npy")
wa = [n(e[3:5].mean(0)), n(e[6:9].mean(0)), n(e[13:16].mean(0))]
wb = [n(e[0:3].mean(0)), n((2 * e[5] + e[9]) / 3), n(e[10:13].mean(0))]
for i in range(3):
    assert A[i] @ wa[i] >= 0.99999 and B[i] @ wb[i] >= 0.99999, i
A3, B3 = np.load(f"{t}/A3.npy"), np.load(f"{t}/B3.npy")
assert A3.shape == (3, 2, e.shape[1])
for q, (ei, ci) in enumerate([((3, 4), (0, 1)), ((6, 7), (5, 5)), ((13, 14), (10, 11))]):
    for j in range(2):
        assert n(A3[q, j]) @ n(e[ei[j]]) >= 0.99999 and n(B3[q, j]) @ n(e[ci[j]]) >= 0.99999
PY
echo '{"id": 0, "captions": ["a"]}' > "$TMP/noedit.jsonl"
expect_status 1 seize query-features --model "$M" --captions "$TMP/noedit.jsonl" --out-after "$TMP/x" --out-before "$TMP/y" -q
grep -q "query 0" "$TMP/err" || fail "query without edits not named"

# --- search the built index with them (seize and LDRE)
expect_status 0 seize search --index "$TMP/ix" --after "$TMP/A.npy" --before "$TMP/B.npy" --k 5 --out "$TMP/r.jsonl"
[ "$(wc -l < "$TMP/r.jsonl")" -eq 3 ] || fail "3 rankings expected"
expect_status 0 seize search --index "$TMP/ix" --after "$TMP/A3.npy" --before "$TMP/B3.npy" --method ldre --k 5 --out "$TMP/r.jsonl"
exit 0
