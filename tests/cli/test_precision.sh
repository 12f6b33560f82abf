#!/usr/bin/env bash
# --precision fp32|bf16|int8 (issue 13) on every command that runs the CLIP model: listed in
# --help, a bad value is a usage error, an explicit fp32 gives the default's bytes, index.json
# and a run's manifest.json record the precision, and an unfinished index build of another
# precision is refused (status 1, the folder and both precisions named).
#
# bf16 and int8 are checked on their real outputs (cosine to fp32 per row >= 0.999 for bf16,
# >= 0.99 for int8; index.json and the manifest say the precision): every build has them
# (oneDNN, or the portable GEMM path of NO_DNNL=1).
. "$(dirname "$0")/lib.sh"
need_fixtures
need_numpy
FIX=$(cd "$FIX" && pwd)   # absolute: the model folder below links into it
M=$TMP/model; tiny_model "$M"

# --- every command that runs the model lists --precision; a bad value is a usage error
cmds=("encode-images" "encode-texts" "index build" "query-features" "run")
for c in "${cmds[@]}"; do
  # shellcheck disable=SC2086  # "index build" is two words
  expect_status 0 seize $c --help
  grep -q -- "--precision P .*fp32 (exact, default), bf16 or int8 (faster, inexact)" "$TMP/out" \
    || fail "$c --help does not describe --precision"
  # shellcheck disable=SC2086
  expect_status 2 seize $c --precision fp16
  grep -q "^seize ${c% *}: unknown --precision 'fp16' (fp32, bf16 or int8)" "$TMP/err" \
    || { cat "$TMP/err" >&2; fail "$c: no standard message for a bad --precision"; }
done
grep -q "another --precision is" <(seize index --help) || fail "index --help lacks the resume rule"

# --- inputs: the fixture images, texts (one line each), captions and edits
sed "s|^|$FIX/images/|" "$FIX/images.txt" | grep -v truncated >"$TMP/images.txt"
$PYTHON - "$FIX/texts.jsonl" "$TMP/texts.txt" "$TMP/caps.jsonl" <<'PY'
import json, sys
t = [json.loads(l)["text"] for l in open(sys.argv[1])]
t = [x for x in t if "\n" not in x and "\r" not in x]
open(sys.argv[2], "w").write("".join(x + "\n" for x in t))
with open(sys.argv[3], "w") as f:
    for q in range(3):
        f.write(json.dumps({"id": q, "captions": t[q:q + 3], "edited": t[q + 3:q + 5]}) + "\n")
PY

# --- fp32 given explicitly = the default, byte for byte
enc() { # enc TAG [OPTION...]: every output of the model commands into $TMP/TAG.*
  local tag=$1; shift
  seize encode-images -m "$M" -o "$TMP/$tag.img.npy" -l "$TMP/images.txt" -q "$@" || return 1
  seize encode-texts -m "$M" -o "$TMP/$tag.txt.npy" -i "$TMP/texts.txt" -q "$@" || return 1
  seize query-features --model "$M" --captions "$TMP/caps.jsonl" --num-captions 3 \
    --out-after "$TMP/$tag.A.npy" --out-before "$TMP/$tag.B.npy" -q "$@" || return 1
  seize index build --model "$M" --list "$TMP/images.txt" --out "$TMP/$tag.ix" -q "$@"
}
enc def 2>"$TMP/err" || { cat "$TMP/err" >&2; fail "default outputs"; }
enc fp32 --precision fp32 2>"$TMP/err" || { cat "$TMP/err" >&2; fail "--precision fp32 outputs"; }
for f in img.npy txt.npy A.npy B.npy ix/features.npy ix/names.txt ix/index.json; do
  cmp -s "$TMP/def.$f" "$TMP/fp32.$f" || fail "--precision fp32 changed $f"
done
grep -q '"precision": "fp32"' "$TMP/def.ix/index.json" || fail "index.json lacks the precision"

# near TAG FLOOR: every row of TAG's outputs within cosine FLOOR of fp32's, index.json's
# precision TAG
near() {
  $PYTHON - "$TMP" "$1" "$2" <<'PY' || fail "$1 outputs are not within cosine $2 of fp32"
import json, sys, numpy as np
d, tag, floor = sys.argv[1], sys.argv[2], float(sys.argv[3])
for f in ["img.npy", "txt.npy", "A.npy", "B.npy", "ix/features.npy"]:
    a = np.load(f"{d}/fp32.{f}").astype(np.float64).reshape(-1, np.load(f"{d}/fp32.{f}").shape[-1])
    b = np.load(f"{d}/{tag}.{f}").astype(np.float64).reshape(a.shape)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() >= floor, (f, cos.min())
assert json.load(open(f"{d}/{tag}.ix/index.json"))["precision"] == tag
PY
}

# --- bf16 and int8 outputs near fp32's
for p in bf16 int8; do
  floor=0.999; [ $p = int8 ] && floor=0.99
  enc $p --precision $p 2>"$TMP/err" || { cat "$TMP/err" >&2; fail "--precision $p outputs"; }
  near $p $floor
done

# --- an unfinished index build of another precision is refused, named, and left intact
for i in $(seq 0 79); do printf 'item%02d\t%s\n' "$i" "$(sed -n "$((i % 11 + 1))p" "$TMP/images.txt")"; done >"$TMP/list.txt"
first=bf16
( exec $WRAP "$SEIZE_BIN" index build --model "$M" --list "$TMP/list.txt" --out "$TMP/res" \
    --batch 1 --threads 1 --precision $first -q 2>/dev/null ) &
pid=$!
wait_progress "$TMP/res/build.progress.json"
kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null
if [ -e "$TMP/res/features.npy" ]; then
  echo "  note: the build finished before it could be stopped; the resume refusal not exercised" >&2
else
  prog=$TMP/res/build.progress.json
  grep -q "\"precision\":\"$first\"" "$prog" || fail "build.progress.json lacks the precision"
  cp "$TMP/res/build.partial" "$TMP/partial.before"
  expect_status 1 seize index build --model "$M" --list "$TMP/list.txt" --out "$TMP/res" --batch 1 --threads 1
  grep -q "index folder '$TMP/res' holds an unfinished build in precision bf16" "$TMP/err" \
    || { cat "$TMP/err" >&2; fail "the other precision's build is not refused by name"; }
  grep -q "this build's precision is fp32: give --precision bf16 to resume it, or --restart" "$TMP/err" \
    || fail "the refusal does not name both precisions"
  cmp -s "$TMP/partial.before" "$TMP/res/build.partial" || fail "the refused build touched the rows"
  [ -e "$TMP/res/features.npy" ] && fail "a refused build wrote an index"
  # the same precision resumes
  expect_status 0 seize index build --model "$M" --list "$TMP/list.txt" --out "$TMP/res" --batch 1 --threads 1 --precision bf16
  grep -q "resuming after" "$TMP/err" || fail "the bf16 rerun did not resume"
  grep -q '"precision": "bf16"' "$TMP/res/index.json" || fail "resumed bf16 index.json"
fi

# --- seize run: manifest.json records the precision; another precision rebuilds the index
G=$TMP/gallery; mkdir -p "$G"
cp "$FIX/images/astronaut.png" "$FIX/images/camera.png" "$FIX/images/chelsea.png" "$G/"
printf '{"id": "q1", "reference": "%s/astronaut.png", "relative_text": "x", "target": "camera.png"}\n' "$G" >"$TMP/q.jsonl"
echo '{"id": "q1", "captions": ["a person", "a suit"], "edited": ["a camera", "a man"]}' >"$TMP/rc.jsonl"
run() { seize run folder --gallery "$G" --queries "$TMP/q.jsonl" --captions "$TMP/rc.jsonl" \
          --model "$M" --out "$TMP/run" --num-captions 2 --batch 1 --threads 1 "$@"; }
expect_status 0 run
$PYTHON -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["parameters"]["precision"] == "fp32", m["parameters"]; assert m["produced_by"]["folder/index"]["precision"] == "fp32"' \
  "$TMP/run/manifest.json" || fail "manifest.json lacks the precision"
expect_status 0 run --precision fp32
grep -q "folder: index cached" "$TMP/err" || fail "an explicit fp32 did not keep the cached index"
expect_status 0 run --precision int8
grep -q "folder: index ran" "$TMP/err" || fail "another precision did not rebuild the index"
grep -q "folder: features ran" "$TMP/err" || fail "another precision did not redo the features"
$PYTHON -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["parameters"]["precision"] == "int8"' \
  "$TMP/run/manifest.json" || fail "manifest.json precision int8"
grep -q '"precision": "int8"' "$TMP/run/index/index.json" || fail "the run's index.json precision"
exit 0
