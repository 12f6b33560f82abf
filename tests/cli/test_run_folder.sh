#!/usr/bin/env bash
# seize run folder as a new user runs it: the README's "Your own photos" example verbatim in a
# scratch folder with relative paths; the query file checked before any request (duplicate ids,
# unknown targets, missing or non-image references, a wrong --model: zero requests);
# $OPENAI_BASE_URL as the default endpoint; rankings carry the user's ids; a symlink loop in
# the gallery counts each image once; the report wraps names at '/' and says where a target
# outside the shown top k ranked.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/servers/server.sh"
need_fixtures
FIX=$(cd "$FIX" && pwd) # the test changes folders
MODEL="$FIX/models/tiny-openai"
FAST=(--timeout 2 --backoff-base 0.01 --concurrency 8 --num-captions 2 --batch 8 --threads 2 --quiet)

start_llm_server SRV
requests() { wc -l <"$SRV_LOG"; }

# --- the scratch folder: photos/ with the fixture images (one in a subfolder), dog.jpg
W="$TMP/work"
mkdir -p "$W/photos/more"
for f in "$FIX"/images/*; do
  case "$(basename "$f")" in truncated.jpg) ;; *) cp "$f" "$W/photos/" ;; esac
done
cp "$FIX/images/rocket.jpg" "$W/photos/dog.jpg"
mv "$W/photos/horse.png" "$W/photos/more/horse.png"
n_images=$(find "$W/photos" -type f | wc -l)
cd "$W" || fail "cd"

# --- 1. the README example, verbatim (only the model and servers filled in)
cat > queries.jsonl <<'EOF'
{"id": "q1", "reference": "photos/dog.jpg", "relative_text": "same dog, but on a beach at night"}
EOF
mkdir models && ln -s "$MODEL" models/tiny   # a model folder given relative, as a user would
expect_status 0 seize run folder --gallery photos/ --queries queries.jsonl --model models/tiny \
    --captioner-endpoint "$SRV_URL" --captioner-model capmodel --llm-endpoint "$SRV_URL" --llm-model llmmodel --out runs/mine \
    "${FAST[@]}"
[ -s runs/mine/rankings.jsonl ] && [ -s runs/mine/report.html ] || fail "README example: no rankings or report"
# a cached rerun, not quiet: its closing line names the run folder as given (it once printed
# freed memory)
NOQUIET=()
for a in "${FAST[@]}"; do [ "$a" = --quiet ] || NOQUIET+=("$a"); done
expect_status 0 seize run folder --gallery photos/ --queries queries.jsonl --model models/tiny \
    --captioner-endpoint "$SRV_URL" --captioner-model capmodel --llm-endpoint "$SRV_URL" --llm-model llmmodel --out runs/mine \
    "${NOQUIET[@]}"
tail -1 "$TMP/err" | grep -qx 'seize run: done in [0-9.]* s: /.*/runs/mine' || fail "closing line: $(tail -1 "$TMP/err" | od -c | head -3)"
"$PYTHON" - "$n_images" <<'PY' || fail "README example outputs"
import json, sys
rows = [json.loads(l) for l in open("runs/mine/rankings.jsonl")]
assert len(rows) == 1 and rows[0]["id"] == "q1", rows
assert "dog.jpg" not in rows[0]["ranking"], "the reference is in its own ranking"
assert len(rows[0]["ranking"]) == int(sys.argv[1]) - 1, rows[0]["ranking"]
names = open("runs/mine/index/names.txt").read().split("\n")
assert "more/horse.png" in names, names
PY
grep -q 'more/<wbr>horse.png' runs/mine/report.html || fail "report: names do not wrap at '/'"
grep -q 'ground truth' runs/mine/report.html && fail "report: ground-truth legend without any target"
grep -q '<title>folder queries — runs/mine</title>' runs/mine/report.html || fail "report title: $(grep -o '<title>[^<]*' runs/mine/report.html)"
n_req=$(requests)

# --- 2. the same from another current folder with absolute paths: the same answers, nothing sent
cd "$TMP" || fail "cd"
expect_status 0 seize run folder --gallery "$W/photos" --queries "$W/queries.jsonl" --model "$W/models/tiny" \
    --captioner-endpoint "$SRV_URL" --captioner-model capmodel --llm-endpoint "$SRV_URL" --llm-model llmmodel \
    --out "$W/runs/mine" "${FAST[@]}"
[ "$(requests)" -eq "$n_req" ] || fail "absolute paths: requests sent again"
cd "$W" || fail "cd"

# --- 3. the queries file is checked before any request
run_q() { # run_q STATUS QUERIES [options...]: the folder run on QUERIES, expecting STATUS
  local st=$1 q=$2; shift 2
  expect_status "$st" seize run folder --gallery photos --queries "$q" --model "$MODEL" \
      --captioner-endpoint "$SRV_URL" --captioner-model capmodel --llm-endpoint "$SRV_URL" --llm-model llmmodel \
      --out runs/check "${FAST[@]}" "$@"
}
cat > dup.jsonl <<'EOF'
{"id": "a", "reference": "photos/dog.jpg", "relative_text": "at night"}

{"id": "a", "reference": "photos/coffee.png", "relative_text": "in the rain"}
EOF
run_q 1 dup.jsonl
grep -q "line 3: query id 'a' is already used on line 1" "$TMP/err" || fail "duplicate id: $(cat "$TMP/err")"
cat > target.jsonl <<'EOF'
{"id": "a", "reference": "photos/dog.jpg", "relative_text": "at night", "target": "coffee.png"}
{"id": "b", "reference": "photos/dog.jpg", "relative_text": "at night", "target": "horse.png"}
EOF
run_q 1 target.jsonl
grep -q "line 2 (query b): target 'horse.png' is not a gallery name" "$TMP/err" || fail "unknown target: $(cat "$TMP/err")"
echo '{"id": "m", "reference": "photos/nosuch.jpg", "relative_text": "x"}' > missing.jsonl
run_q 1 missing.jsonl
grep -q "reference image 'photos/nosuch.jpg' not found" "$TMP/err" || fail "missing reference: $(cat "$TMP/err")"
echo "not an image" > notimage.jpg
echo '{"id": "n", "reference": "notimage.jpg", "relative_text": "x"}' > notimage.jsonl
run_q 3 notimage.jsonl
grep -q "notimage.jpg.*not a JPEG or PNG image" "$TMP/err" || fail "non-image reference: $(cat "$TMP/err")"
grep -qi "retry\|rerun" "$TMP/err" && fail "a permanent failure suggests a rerun: $(cat "$TMP/err")"
cp "$FIX/images/truncated.jpg" corrupt.jpg
echo '{"id": "t", "reference": "corrupt.jpg", "relative_text": "x"}' > corrupt.jsonl
run_q 3 corrupt.jsonl
grep -q "reference image cannot be decoded: cannot decode '.*corrupt.jpg'" "$TMP/err" || fail "corrupt reference: $(cat "$TMP/err")"
grep -qi "retry\|rerun" "$TMP/err" && fail "a corrupt image suggests a rerun: $(cat "$TMP/err")"
mkfifo fifo.jpg
echo '{"id": "f", "reference": "fifo.jpg", "relative_text": "x"}' > fifo.jsonl
run_q 3 fifo.jsonl
grep -q "fifo.jpg.*not a regular file" "$TMP/err" || fail "FIFO reference: $(cat "$TMP/err")"
"$PYTHON" -c 'import json; print(json.dumps({"id": "l", "reference": "photos/dog.jpg", "relative_text": "x" * 100000}))' > long.jsonl
run_q 1 long.jsonl
grep -q "line 1: \"relative_text\" is 100000 bytes long" "$TMP/err" || fail "long relative text: $(cat "$TMP/err")"
# a wrong --model costs nothing either
expect_status 1 seize run folder --gallery photos --queries queries.jsonl --model "$TMP/nosuch-model" \
    --captioner-endpoint "$SRV_URL" --captioner-model capmodel --llm-endpoint "$SRV_URL" --llm-model llmmodel \
    --out runs/check "${FAST[@]}"
[ "$(requests)" -eq "$n_req" ] || fail "rejected inputs sent $(( $(requests) - n_req )) requests"

# --- 4. a gallery name as reference, a target outside the shown top k, metrics, ids in rankings
cat > named.jsonl <<'EOF'
{"id": 7, "reference": "coffee.png", "relative_text": "as a drawing", "target": "more/horse.png"}
{"id": "x", "reference": "photos/dog.jpg", "relative_text": "at dawn", "target": "chelsea.png"}
EOF
run_q 0 named.jsonl --report-k 1
"$PYTHON" <<'PY' || fail "gallery-name reference, ids, metrics"
import json
rows = [json.loads(l) for l in open("runs/check/rankings.jsonl")]
assert [r["id"] for r in rows] == ["7", "x"], rows
assert "coffee.png" not in rows[0]["ranking"], "a gallery-name reference is not excluded"
m = json.load(open("runs/check/metrics.json"))
assert set(m) == {"Recall@1", "Recall@5", "Recall@10", "Recall@50"}, m
PY
grep -q 'class="metrics"' runs/check/report.html || fail "report: no metrics"
grep -q 'ground truth' runs/check/report.html || fail "report: no legend with targets"
grep -Eq 'target <b>(more/<wbr>horse.png|chelsea.png)</b>: ranked [0-9]+ \(below the 1 shown\)' runs/check/report.html \
  || fail "report: the rank of a target outside the top k is not shown"

# --- 5. $OPENAI_BASE_URL is the default endpoint of both servers
start_llm_server ENV
OPENAI_BASE_URL="$ENV_URL" expect_status 0 seize run folder --gallery photos --queries queries.jsonl --model "$MODEL" \
    --captioner-model capmodel --llm-model llmmodel --out runs/env "${FAST[@]}"
grep -q '"image"' "$ENV_LOG" && grep -q '"instruction"' "$ENV_LOG" || fail "\$OPENAI_BASE_URL not used for both stages"

# --- 6. a symlink loop in the gallery: each image once
ln -s . photos/loop
ln -s ../photos photos/more/up
ln -s ../dog.jpg photos/more/dog-again.jpg   # another name of a file already listed
expect_status 0 seize run folder --gallery photos --queries queries.jsonl --model "$MODEL" \
    --captioner-endpoint "$SRV_URL" --captioner-model capmodel --llm-endpoint "$SRV_URL" --llm-model llmmodel \
    --out runs/loop "${NOQUIET[@]}"
[ "$(wc -l <runs/loop/index/names.txt)" -eq "$n_images" ] || fail "symlink loop: $(wc -l <runs/loop/index/names.txt) names for $n_images images"
# the note names every link left out (it once named the first only)
note=$(grep "^seize run: note: 2 entries of 'photos' skipped" "$TMP/err") || fail "no note: $(cat "$TMP/err")"
case $note in *"'loop'"*"'more/dog-again.jpg'"* | *"'more/dog-again.jpg'"*"'loop'"*) ;; *) fail "note: $note" ;; esac

# --- 7. a gallery name that cannot round-trip (not UTF-8): refused up front, named, nothing sent
mkdir -p photos2
cp "$FIX/images/rocket.jpg" photos2/dog.jpg
cp "$FIX/images/coffee.png" "photos2/$(printf 'r\xe9sum\xe9.png')"
n_req=$(requests)
expect_status 1 seize run folder --gallery photos2 --queries queries.jsonl --model "$MODEL" \
    --captioner-endpoint "$SRV_URL" --captioner-model capmodel --llm-endpoint "$SRV_URL" --llm-model llmmodel \
    --out runs/latin1 "${FAST[@]}"
grep -q 'r\\xe9sum\\xe9.png.*UTF-8' "$TMP/err" || fail "non-UTF-8 gallery name: $(cat "$TMP/err")"
[ "$(requests)" -eq "$n_req" ] || fail "a bad gallery name cost requests"
exit 0
