#!/usr/bin/env bash
# mpirun -np P seize run (a CIRCO val layout, captions and edits from the test LLM server):
# rank 0 runs the pipeline and its LLM stages, the index build and the search split over the
# ranks: the index and rankings.jsonl are byte-identical to one process's run, the LLM got the
# same requests once, the other ranks write nothing in the run folder.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/servers/server.sh"
need_fixtures
need_numpy
FIX=$(cd "$FIX" && pwd)
MODEL="$FIX/models/tiny-openai"
"$PYTHON" - "$FIX" "$TMP/data" <<'PY'
import json, os, shutil, sys
fix, root = sys.argv[1], sys.argv[2]
imgdir = os.path.join(root, "COCO2017_unlabeled", "unlabeled2017")
os.makedirs(imgdir); os.makedirs(os.path.join(root, "COCO2017_unlabeled", "annotations"))
os.makedirs(os.path.join(root, "annotations"))
names = [n for n in open(os.path.join(fix, "images.txt")).read().split() if n != "truncated.jpg"]
images = []
for i in range(30):
    src = names[i % len(names)]
    fn = f"{i + 1:012d}{os.path.splitext(src)[1]}"
    shutil.copy(os.path.join(fix, "images", src), os.path.join(imgdir, fn))
    images.append({"id": i + 1, "file_name": fn})
json.dump({"images": images}, open(os.path.join(root, "COCO2017_unlabeled", "annotations",
                                                  "image_info_unlabeled2017.json"), "w"))
val = [{"id": q, "reference_img_id": 1 + 5 * q, "relative_caption": t, "shared_concept": "thing",
        "target_img_id": 2 + 5 * q, "gt_img_ids": [2 + 5 * q], "semantic_aspects": ["style"]}
       for q, t in enumerate(["at night", "in the snow", "as a toy", "in red"])]
json.dump(val, open(os.path.join(root, "annotations", "val.json"), "w"))
PY
# each run gets a fresh server: its captions count samples since it started
run() { # run NAME P ARGS...: seize run on P ranks (0: one process); sets REQ (LLM requests)
  local name=$1 p=$2; shift 2
  start_llm_server "$name"
  local url=${name}_URL log=${name}_LOG
  local llm=(--captioner-endpoint "${!url}" --captioner-model cap --llm-endpoint "${!url}" --llm-model llm)
  if [ "$p" = 0 ]; then expect_status 0 seize run "$@" "${llm[@]}"
  else expect_status 0 mpi "$p" run "$@" "${llm[@]}"; fi
  REQ=$(wc -l <"${!log}")
}
ARGS=(circo --data-root "$TMP/data" --split val --model "$MODEL" --num-captions 2 --batch 4
      --threads 1 --k 20)
for m in seize ldre; do
  run S1$m 0 "${ARGS[@]}" --quiet --method $m --out "$TMP/one-$m"
  want=$REQ
  for p in 2 3; do
    q=(--quiet); [ $p = 2 ] && q=() # 2 ranks: not quiet, "done in" said by rank 0 only
    run S$p$m $p "${ARGS[@]}" "${q[@]}" --method $m --out "$TMP/p$p-$m"
    [ $p = 2 ] && { [ "$(grep -c "seize run: done in" "$TMP/err")" -eq 1 ] ||
      { cat "$TMP/err" >&2; fail "$p ranks: \"done in\" not said once"; }; }
    [ "$REQ" -eq "$want" ] || fail "--method $m, $p ranks: $REQ LLM requests, one process made $want"
    for f in rankings.jsonl edits.jsonl index/features.npy index/names.txt; do
      same "$TMP/one-$m/$f" "$TMP/p$p-$m/$f" "--method $m, $p ranks: $f"
    done
    # index.json: the same but for the source (the run folder's list)
    diff <(grep -v '"source"' "$TMP/one-$m/index/index.json") \
        <(grep -v '"source"' "$TMP/p$p-$m/index/index.json") >&2 || fail "$p ranks: index.json"
    ls -d "$TMP/p$p-$m"/*.shards "$TMP/p$p-$m"/*/*.shards 2>/dev/null | grep -q . &&
      fail "shard folders left in the run folder"
  done
done
# the build really splits (its shard folders go beside the index): a file in their way fails
# the run on every rank, with the rank's message
mkdir -p "$TMP/blocked"; : > "$TMP/blocked/index.shards"
start_llm_server SB
expect_status 1 mpi 2 run "${ARGS[@]}" --quiet --out "$TMP/blocked" --captioner-endpoint "$SB_URL" \
    --captioner-model cap --llm-endpoint "$SB_URL" --llm-model llm
grep -q "rank [01] of 2: cannot create folder '.*blocked/index.shards/[01]-of-2'" "$TMP/err" ||
  { cat "$TMP/err" >&2; fail "the blocked build's message"; }
exit 0
