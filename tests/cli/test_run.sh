#!/usr/bin/env bash
# seize run end to end on a small CIRCO-layout dataset made from the fixture images, with the
# tiny fixture model and the local OpenAI-compatible test server: outputs, the no-request
# rerun, a --pos/--neg change that only searches again, resumption after a failed stage, the
# caption-file path (test split, submission), the corrupt gallery image, and the HTML report
# rendered by headless Chromium.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/servers/server.sh"
need_fixtures
MODEL="$FIX/models/tiny-openai"
ROOT="$TMP/circo"
FAST=(--timeout 2 --backoff-base 0.01 --concurrency 8 --num-captions 3 --batch 8 --threads 2 --quiet)

# --- the dataset: 60 gallery images (copies of the 12 fixtures) and one corrupt JPEG
"$PYTHON" - "$FIX" "$ROOT" <<'PY'
import json, os, shutil, sys
fix, root = sys.argv[1], sys.argv[2]
imgdir = os.path.join(root, "COCO2017_unlabeled", "unlabeled2017")
os.makedirs(imgdir); os.makedirs(os.path.join(root, "COCO2017_unlabeled", "annotations"))
os.makedirs(os.path.join(root, "annotations"))
names = open(os.path.join(fix, "images.txt")).read().split()
images = []
for i in range(60):
    src = names[i % len(names)]
    fn = f"{i + 1:012d}{os.path.splitext(src)[1]}"
    shutil.copy(os.path.join(fix, "images", src), os.path.join(imgdir, fn))
    images.append({"id": i + 1, "file_name": fn})
shutil.copy(os.path.join(fix, "images", "truncated.jpg"), os.path.join(imgdir, "000000000099.jpg"))
images.append({"id": 99, "file_name": "000000000099.jpg"})
json.dump({"images": images}, open(os.path.join(root, "COCO2017_unlabeled", "annotations",
                                                  "image_info_unlabeled2017.json"), "w"))
texts = ["is a cat instead", "shows it at night", "has two of them", "is drawn in pencil"]
val, test = [], []
for q in range(4):
    ref = 1 + 5 * q
    gt = [ref + 1, ref + 13, ref + 25]
    val.append({"id": q, "reference_img_id": ref, "relative_caption": texts[q],
                "shared_concept": "thing", "target_img_id": gt[0], "gt_img_ids": gt,
                "semantic_aspects": ["cardinality"] if q % 2 else ["addition", "style"]})
    test.append({"id": 10 + q, "reference_img_id": ref, "relative_caption": texts[q],
                 "shared_concept": "thing"})
json.dump(val, open(os.path.join(root, "annotations", "val.json"), "w"))
json.dump(test, open(os.path.join(root, "annotations", "test.json"), "w"))
# the authors' caption format for the test split (captions and edits)
for q in test:
    q["multi_caption_opt"] = [f"a picture number {q['id']} version {k}" for k in range(5)]
    q["multi_gpt-3.5_opt"] = [f"a picture number {q['id']} {q['relative_caption']} v{k}" for k in range(5)]
json.dump(test, open(os.path.join(root, "test_with_captions.json"), "w"))
PY

start_llm_server CAP
start_llm_server LLM
LLM_ARGS=(--captioner-endpoint "$CAP_URL" --captioner-model capmodel --llm-endpoint "$LLM_URL" --llm-model llmmodel)
RUN="$TMP/run"

# --- 1. a full val run: the corrupt gallery image is reported and left out (exit 3)
expect_status 3 seize run circo --data-root "$ROOT" --split val --model "$MODEL" --out "$RUN" "${LLM_ARGS[@]}" "${FAST[@]}"
grep -q "000000000099.jpg\|99" "$TMP/err" || fail "corrupt image not reported on stderr: $(cat "$TMP/err")"
"$PYTHON" - "$RUN" <<'PY' || fail "outputs of the val run"
import json, os, sys
run = sys.argv[1]
rows = lambda f: [json.loads(l) for l in open(os.path.join(run, f)) if l.strip()]
caps, edits, ranks = rows("captions.jsonl"), rows("edits.jsonl"), rows("rankings.jsonl")
assert len(caps) == 4 and all(len(c["captions"]) == 3 for c in caps), caps
assert [e["id"] for e in edits] == ["0", "1", "2", "3"], edits
for e in edits:
    assert len(e["edited"]) == len(e["captions"]) == 3
    for c, x in zip(e["captions"], e["edited"]):
        assert x.startswith(c + " => " + e["relative_text"]), (c, x)   # the server's edit of that caption
refs = {q: str(1 + 5 * q) for q in range(4)}
names = open(os.path.join(run, "index", "names.txt")).read().split()
assert len(names) == 60 and "99" not in names, len(names)
for r in ranks:
    assert len(r["ranking"]) == 50 and len(r["scores"]) == 50
    assert refs[r["query"]] not in r["ranking"], "reference in the ranking"
    assert "99" not in r["ranking"]
    assert all(a >= b for a, b in zip(r["scores"], r["scores"][1:]))
m = json.load(open(os.path.join(run, "metrics.json")))
for k in ["mAP@5", "mAP@10", "mAP@25", "mAP@50", "Recall@5", "Recall@10", "Recall@25", "Recall@50", "semantic_mAP@10"]:
    assert k in m, k
man = json.load(open(os.path.join(run, "manifest.json")))
assert man["status"] == "partial", man["status"]
assert man["model"]["sha256"] and len(man["model"]["sha256"]) == 64
assert man["parameters"]["pos"] == 0.13 and man["parameters"]["neg"] == 2.1
assert any(f["stage"] == "index" and f["item"] == "99" for f in man["failed"]), man["failed"]
st = {s["stage"]: s["status"] for s in man["stages"]}
assert st["captions"] == "ran" and st["edits"] == "ran" and st["index"] == "ran", st
assert os.path.getsize(os.path.join(run, "report.html")) > 10000
PY
n_cap=$(wc -l <"$CAP_LOG"); n_llm=$(wc -l <"$LLM_LOG")
[ "$n_cap" -gt 0 ] && [ "$n_llm" -ge 12 ] || fail "servers saw $n_cap caption and $n_llm edit requests"
# the report: a title naming dataset, split and run folder; the metrics; the image that failed and why
grep -q "<title>circo val — $RUN</title>" "$RUN/report.html" || fail "report title: $(grep -o '<title>[^<]*' "$RUN/report.html")"
grep -q '<td>mAP@10</td>' "$RUN/report.html" || fail "report: no metrics table"
grep -q '<li><b>99</b>: cannot decode' "$RUN/report.html" || fail "report: the failed gallery image is not listed"
grep -q 'ground truth' "$RUN/report.html" || fail "report: no ground-truth legend on val"
grep -Eq 'class="target">target <b>[0-9]+</b>: (ranked [0-9]+|not in the top 50)' "$RUN/report.html" || fail "report: no target rank"
# the corrupt image: one summary line, not one per image twice
[ "$(grep -c "left out" "$TMP/err")" -eq 1 ] || fail "the left-out image is reported $(grep -c "left out" "$TMP/err") times: $(cat "$TMP/err")"
# the metrics are those of seize eval on the same rankings
seize eval circo --annotations "$ROOT/annotations/val.json" --rankings "$RUN/rankings.jsonl" --json >"$TMP/m2.json" || fail "seize eval"
"$PYTHON" -c "import json,sys; a=json.load(open('$RUN/metrics.json')); b=json.load(open('$TMP/m2.json')); sys.exit(a != b)" || fail "metrics.json differs from seize eval"

# --- 2. the report renders in headless Chromium with every thumbnail
if command -v chromium >/dev/null; then
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$TMP/chrome" --virtual-time-budget=5000 --dump-dom "file://$RUN/report.html" \
    >"$TMP/dom.html" 2>/dev/null
  loaded=$(grep -o 'data-images-loaded="[0-9]*"' "$TMP/dom.html" | grep -o '[0-9]*')
  broken=$(grep -o 'data-images-broken="[0-9]*"' "$TMP/dom.html" | grep -o '[0-9]*')
  # 4 queries x (1 reference + 10 ranked images)
  [ "$loaded" = 44 ] && [ "$broken" = 0 ] || fail "report: $loaded images loaded, $broken broken"
  # ground-truth marks: exactly the ranked images (top 10) that are in gt_img_ids
  "$PYTHON" - "$RUN" "$ROOT" "$TMP/dom.html" <<'PY' || fail "report ground-truth marks"
import json, sys
run, root, dom = sys.argv[1:]
val = json.load(open(root + "/annotations/val.json"))
ranks = [json.loads(l) for l in open(run + "/rankings.jsonl")]
want = sum(1 for q, r in zip(val, ranks) for n in r["ranking"][:10] if int(n) in q["gt_img_ids"])
got = open(dom).read().count('<figure class="gt">')
assert got == want, (got, want)
PY
else
  echo "  note: chromium not installed; report rendering not checked" >&2
fi

# --- 3. the same command again: nothing is redone, no request is sent, and nothing is written
# (the manifest stays that of the run that produced the files; stderr says every stage is cached)
listing() { find "$1" -printf '%P %i %s %T@\n' | sort; }
listing "$RUN" >"$TMP/before.txt"
expect_status 3 seize run circo --data-root "$ROOT" --split val --model "$MODEL" --out "$RUN" "${LLM_ARGS[@]}" "${FAST[@]:0:${#FAST[@]}-1}"
[ "$(wc -l <"$CAP_LOG")" -eq "$n_cap" ] && [ "$(wc -l <"$LLM_LOG")" -eq "$n_llm" ] || fail "the rerun sent requests"
for k in captions edits index features search metrics report; do
  grep -q "circo: $k cached" "$TMP/err" || fail "rerun: stage $k not cached: $(cat "$TMP/err")"
done
listing "$RUN" >"$TMP/after.txt"
diff "$TMP/before.txt" "$TMP/after.txt" >&2 || fail "the fully cached rerun wrote into the run folder"

# --- 4. other --pos/--neg: only the search runs again
cp "$RUN/rankings.jsonl" "$TMP/rank-before.jsonl"
expect_status 3 seize run circo --data-root "$ROOT" --split val --model "$MODEL" --out "$RUN" "${LLM_ARGS[@]}" "${FAST[@]}" --pos 0.5 --neg 0.5
"$PYTHON" - "$RUN" <<'PY' || fail "pos/neg rerun stages"
import json, sys
man = json.load(open(sys.argv[1] + "/manifest.json"))
st = {s["stage"]: s["status"] for s in man["stages"]}
for k in ["captions", "edits", "index", "features"]:
    assert st[k] == "cached", st
assert st["search"] == "ran", st
assert man["parameters"]["pos"] == 0.5
PY
[ "$(wc -l <"$LLM_LOG")" -eq "$n_llm" ] || fail "the pos/neg rerun sent requests"

# --- 5. an interrupted run resumes: the editing server is down, then back
RUN2="$TMP/run2"
kill "$LLM_PID"; wait "$LLM_PID" 2>/dev/null
expect_status 1 seize run circo --data-root "$ROOT" --split val --model "$MODEL" --out "$RUN2" \
  --captioner-endpoint "$CAP_URL" --captioner-model capmodel --llm-endpoint "$LLM_URL" --llm-model llmmodel \
  "${FAST[@]}" --max-attempts 2
grep -q "edit\|reason" "$TMP/err" || fail "failed stage not named: $(cat "$TMP/err")"
n_cap=$(wc -l <"$CAP_LOG")
start_llm_server LLM2
expect_status 3 seize run circo --data-root "$ROOT" --split val --model "$MODEL" --out "$RUN2" \
  --captioner-endpoint "$CAP_URL" --captioner-model capmodel --llm-endpoint "$LLM2_URL" --llm-model llmmodel "${FAST[@]}"
[ "$(wc -l <"$CAP_LOG")" -eq "$n_cap" ] || fail "resumed run captioned again"
[ -s "$RUN2/metrics.json" ] || fail "resumed run has no metrics"

# --- 6. the caption-file path on the test split: no endpoint, submission file written
RUN3="$TMP/run3"
expect_status 3 seize run circo --data-root "$ROOT" --split test --model "$MODEL" --out "$RUN3" \
  --captions "$ROOT/test_with_captions.json" "${FAST[@]}"
"$PYTHON" - "$RUN3" <<'PY' || fail "test split outputs"
import json, sys
run = sys.argv[1]
sub = json.load(open(run + "/submission.json"))
assert sorted(sub) == ["10", "11", "12", "13"], sorted(sub)
for q, ids in sub.items():
    assert len(ids) == 50 and len(set(ids)) == 50
    ref = str(1 + 5 * (int(q) - 10))
    assert ref not in ids and "99" not in ids
ed = [json.loads(l) for l in open(run + "/edits.jsonl")]
assert ed[0]["edited"][0] == "a picture number 10 is a cat instead v0", ed[0]
import os
assert not os.path.exists(run + "/metrics.json")
PY
grep -q 'ground truth' "$RUN3/report.html" && fail "report: a ground-truth legend on the test split"
grep -q 'class="target"' "$RUN3/report.html" && fail "report: target ranks on the test split"
seize check-submission circo --annotations "$ROOT/annotations/test.json" --submission "$RUN3/submission.json" >/dev/null \
  || fail "check-submission rejects the run's submission"

# --- 7. usage errors
expect_status 2 seize run
expect_status 2 seize run circo --data-root "$ROOT" --model "$MODEL" --out "$TMP/x"
expect_status 2 seize run nosuch --data-root "$ROOT" --split val --model "$MODEL" --out "$TMP/x"
expect_status 1 seize run circo --data-root "$ROOT" --split val --model "$MODEL" --out "$TMP/x" --quiet
grep -q "captions" "$TMP/err" || fail "missing caption source not explained: $(cat "$TMP/err")"
expect_status 0 seize run --help
grep -q -- "--fiq-join STR .*(default none)" "$TMP/out" || fail "run --help: --fiq-join's default"
exit 0
