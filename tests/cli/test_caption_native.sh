#!/usr/bin/env bash
# seize caption --model-dir: the native BLIP-2 captioner on the tiny fixture model with the test
# image and photos: the output lines' schema, same seed -> same captions, greedy = the goldens'
# greedy decode, --dump-logits and --force-ids (teacher forcing reproduces a run), usage errors,
# a CLIP folder named, an interrupted run resumed to the same output; then seize run folder
# --captioner-dir end to end with the stand-in LLM server for the edits.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/servers/server.sh"
need_fixtures
need_numpy
FIX=$(cd "$FIX" && pwd)
B2="$FIX/blip2/tiny364"
[ -f "$B2/config.json" ] || { echo "  skipped: no BLIP-2 fixture" >&2; exit 77; }
IMG1="$FIX/blip2/merlion.png"
IMG2="$FIX/images/chelsea.png"
cd "$TMP" || fail "cd"

# --- 1. output lines: {"image", "captions" (n), "tokens" (n arrays of ids)}
expect_status 0 seize caption --model-dir "$B2" "$IMG1" "$IMG2" -n 3 --seed 1 --max-new-tokens 12 --out a.jsonl
grep -q "settings" "$TMP/err" || fail "no settings line: $(cat "$TMP/err")"
# the model's load (tens of seconds for the real one) is announced before the silence
grep -q "^seize caption: loading '$B2'" "$TMP/err" || fail "no loading line: $(cat "$TMP/err")"
# the summary counts generate calls and generated tokens (no server: no requests, retries, prompt tokens)
grep -Eq "^seize caption: 2/2 items complete \(0 from the journal\), 0 failed; 2 generate calls in [0-9.]+ s \([0-9.]+ s per image\); [0-9]+ tokens generated$" "$TMP/err" ||
    fail "summary line: $(cat "$TMP/err")"
"$PYTHON" - "$IMG1" "$IMG2" <<'PY' || fail "output lines: $(cat a.jsonl)"
import json, sys
rows = [json.loads(l) for l in open("a.jsonl")]
assert [r["image"] for r in rows] == sys.argv[1:3], rows
for r in rows:
    assert list(r) == ["image", "captions", "tokens"], list(r)
    assert len(r["captions"]) == 3 and len(r["tokens"]) == 3
    assert all(isinstance(c, str) for c in r["captions"])
    assert all(1 <= len(t) <= 12 and all(isinstance(i, int) for i in t) for t in r["tokens"])
s = json.load(open("a.jsonl.settings.json"))
assert s["kind"] == "blip2" and s["prompt"] == "a photo of" and s["n"] == 3 and s["top_k"] == 50, s
assert s["seed"] == 1 and s["max_new_tokens"] == 12 and s["model"]["name"] == "tiny364", s
PY

# --- 2. the same seed gives the same captions (a fresh output); another seed others
expect_status 0 seize caption --model-dir "$B2" "$IMG1" "$IMG2" -n 3 --seed 1 --max-new-tokens 12 --out b.jsonl -q
[ ! -s "$TMP/err" ] || fail "-q printed: $(cat "$TMP/err")"
# the folder with a trailing slash is the same model: same settings, the journal is reused
expect_status 0 seize caption --model-dir "$B2/" "$IMG1" "$IMG2" -n 3 --seed 1 --max-new-tokens 12 --out b.jsonl
grep -q "(2 from the journal)" "$TMP/err" || fail "'$B2/' did not resume: $(cat "$TMP/err")"
grep -q '"name": "tiny364"' b.jsonl.settings.json || fail "'$B2/': $(cat b.jsonl.settings.json)"
cmp -s a.jsonl b.jsonl || fail "'$B2/': other captions"
cmp -s a.jsonl b.jsonl || fail "same seed, other captions"
expect_status 0 seize caption --model-dir "$B2" "$IMG1" "$IMG2" -n 3 --seed 2 --max-new-tokens 12 --out c.jsonl -q
cmp -s a.jsonl c.jsonl && fail "seed 2 gave the captions of seed 1"

# --- 3. --dump-logits: [images*n, steps, vocab], NaN rows after a sequence ended; --force-ids
#        with the tokens of a run reproduces its captions and logits
expect_status 0 seize caption --model-dir "$B2" "$IMG1" "$IMG2" -n 3 --seed 1 --max-new-tokens 12 --out d.jsonl \
  --dump-logits d.npy -q
cmp -s a.jsonl d.jsonl || fail "--dump-logits changed the captions"
"$PYTHON" - <<'PY' || fail "--force-ids input"
import json
rows = [json.loads(l) for l in open("d.jsonl")]
json.dump([t for r in rows for t in r["tokens"]], open("f.json", "w"))
PY
expect_status 0 seize caption --model-dir "$B2" "$IMG1" "$IMG2" -n 3 --seed 9 --max-new-tokens 12 --out f.jsonl \
  --force-ids f.json --dump-logits f.npy -q
"$PYTHON" - "$B2/config.json" <<'PY' || fail "--dump-logits / --force-ids"
import json, sys, numpy as np
vocab = json.load(open(sys.argv[1]))["text_config"]["vocab_size"]
d, f = np.load("d.npy"), np.load("f.npy")
assert d.dtype == np.float32 and d.shape == (6, 12, vocab), d.shape
rows = [json.loads(l) for l in open("d.jsonl")]
toks = [t for r in rows for t in r["tokens"]]
for s, t in enumerate(toks):
    assert np.isfinite(d[s, :len(t)]).all(), s
    assert np.isnan(d[s, len(t):]).all(), (s, len(t))
assert np.array_equal(np.isnan(d), np.isnan(f))
m = ~np.isnan(d)
assert np.abs(d[m] - f[m]).max() <= 1e-4 * np.abs(d[m]).max(), np.abs(d[m] - f[m]).max()
a = [json.loads(l) for l in open("f.jsonl")]
assert [r["captions"] for r in a] == [r["captions"] for r in rows]
assert [r["tokens"] for r in a] == [r["tokens"] for r in rows]
PY
# an output that cannot be made stops the command before any work (it is written at the end)
mkdir -p isdir.jsonl
expect_status 1 seize caption --model-dir "$B2" "$IMG1" --out isdir.jsonl
grep -q "the output 'isdir.jsonl' is a folder" "$TMP/err" || fail "--out a folder: $(cat "$TMP/err")"
grep -q "items complete" "$TMP/err" && fail "--out a folder: captions were made first"
expect_status 1 seize caption --model-dir "$B2" "$IMG1" --out no/such/o.jsonl
grep -q "the output 'no/such/o.jsonl': no folder 'no/such'" "$TMP/err" || fail "--out folder: $(cat "$TMP/err")"
# a dump that cannot be written stops the command before any work (it is written at the end)
expect_status 1 seize caption --model-dir "$B2" "$IMG1" --out nd.jsonl --dump-logits no/such/d.npy
grep -q "logits dump 'no/such/d.npy': no folder 'no/such'" "$TMP/err" || fail "dump folder: $(cat "$TMP/err")"
[ ! -s nd.jsonl.journal ] || fail "dump folder: captions were made before the error"
echo '[[5]]' >short.json
expect_status 1 seize caption --model-dir "$B2" "$IMG1" -n 3 --out s.jsonl --force-ids short.json
grep -q "1 sequences given" "$TMP/err" || fail "force-ids count: $(cat "$TMP/err")"
grep -q "'short.json'" "$TMP/err" || fail "force-ids count: the file is not named: $(cat "$TMP/err")"
# an id outside the vocabulary: the file and the sequence's index in it, before any work
echo '[[5], [6, 7], [8, 99999]]' >range.json
expect_status 1 seize caption --model-dir "$B2" "$IMG1" -n 3 --out s.jsonl --force-ids range.json
grep -q "'range.json': force ids: sequence 2, token 1: id 99999 is outside" "$TMP/err" ||
  fail "force-ids range: $(cat "$TMP/err")"
[ ! -e s.jsonl.journal ] || [ ! -s s.jsonl.journal ] || fail "force-ids range: work was done"
# settings the native captioner cannot sample with: usage errors naming the option
for o in "--top-p 0" "--temperature 0" "--precision int8"; do
  expect_status 2 seize caption --model-dir "$B2" "$IMG1" --out s.jsonl $o
  grep -q -- "^seize caption: $o: " "$TMP/err" || fail "$o: $(cat "$TMP/err")"
done
# more tokens than the language model has positions: the limit named before any work
expect_status 1 seize caption --model-dir "$B2" "$IMG1" --out s.jsonl --max-new-tokens 4000
grep -q "tiny364/config.json': .*max_position_embeddings.*at most [0-9]* new tokens" "$TMP/err" ||
  fail "--max-new-tokens beyond the positions: $(cat "$TMP/err")"
expect_status 1 seize caption --model-dir "$B2" "$IMG1" --out s.jsonl --prompt "$(printf 'word %.0s' $(seq 1 200))"
grep -q "the prompt alone is too long" "$TMP/err" || fail "long prompt: $(cat "$TMP/err")"

# --- 4. usage errors (exit 2) and a CLIP folder (exit 1, naming the file)
expect_status 2 seize caption --model-dir "$B2" "$IMG1" --out u.jsonl --no-such-flag
expect_status 2 seize caption --model-dir "$B2" --endpoint http://127.0.0.1:9/v1 "$IMG1" --out u.jsonl
grep -q "not both" "$TMP/err" || fail "both: $(cat "$TMP/err")"
expect_status 2 seize caption --model-dir "$B2" --model m "$IMG1" --out u.jsonl
# the API's --max-tokens would be ignored by the native captioner: refused, naming its own option
expect_status 2 seize caption --model-dir "$B2" "$IMG1" --out u.jsonl --max-tokens 5
grep -q -- "--max-new-tokens, not --max-tokens" "$TMP/err" || fail "--max-tokens: $(cat "$TMP/err")"
expect_status 1 seize caption --model-dir "$FIX/models/tiny-openai" "$IMG1" --out u.jsonl
grep -q "tiny-openai/config.json" "$TMP/err" || fail "CLIP folder: $(cat "$TMP/err")"
[ ! -e u.jsonl ] || fail "an output was written"
echo "not an image" >bad.png
expect_status 3 seize caption --model-dir "$B2" bad.png "$IMG1" -n 2 --out p.jsonl
grep -q "bad.png" "$TMP/err" || fail "non-image not named: $(cat "$TMP/err")"
[ "$(wc -l <p.jsonl)" -eq 1 ] || fail "the good image is not in the output"

# --- 5. an interrupted run (SIGINT) resumes from its journal to the same output
for i in $(seq 1 150); do ln -sf "$IMG2" "p$i.png"; done
ln -sf "$IMG1" p0.png
ls p*.png >list.txt
expect_status 0 seize caption --model-dir "$B2" --list list.txt -n 8 --seed 3 --out full.jsonl -q
$WRAP "$SEIZE_BIN" caption --model-dir "$B2" --list list.txt -n 8 --seed 3 --out r.jsonl -q 2>r.err &
pid=$!
for _ in $(seq 1 2000); do [ -s r.jsonl.journal ] && break; sleep 0.005; done
kill -INT "$pid" 2>/dev/null
wait "$pid"
st=$?
[ "$st" -eq 130 ] || [ "$st" -eq 0 ] || fail "interrupted run exited $st: $(cat r.err)"
[ "$st" -eq 0 ] || [ ! -e r.jsonl ] || fail "an interrupted run wrote its output"
[ "$st" -eq 0 ] || grep -q "stopping, finished work is kept" r.err || fail "no stop message: $(cat r.err)"
expect_status 0 seize caption --model-dir "$B2" --list list.txt -n 8 --seed 3 --out r.jsonl
cmp -s full.jsonl r.jsonl || fail "resumed output differs"
[ "$st" -eq 0 ] || grep -Eq "\([1-9][0-9]* from the journal\)" "$TMP/err" || fail "resume summary: $(cat "$TMP/err")"

# --- 6. seize run folder --captioner-dir: the native captions, edits by the stand-in server
start_llm_server SRV
expect_status 0 seize run --help
grep -q -- "--seed S .*native: 0" "$TMP/out" || fail "run --help: the native seed's default"
mkdir -p photos
for f in chelsea.png coffee.png astronaut.png horse.png; do cp "$FIX/images/$f" photos/; done
cat >q.jsonl <<'EOF'
{"id": "q1", "reference": "photos/chelsea.png", "relative_text": "as a dog"}
{"id": "q2", "reference": "photos/coffee.png", "relative_text": "with milk"}
EOF
RUN=(seize run folder --gallery photos --queries q.jsonl --model "$FIX/models/tiny-openai"
  --captioner-dir "$B2" --llm-endpoint "$SRV_URL" --llm-model llm --num-captions 2 --seed 5
  --out runs/n --timeout 5 --backoff-base 0.01 --threads 2 --quiet)
expect_status 0 "${RUN[@]}"
"$PYTHON" - <<'PY' || fail "run --captioner-dir outputs"
import json
caps = [json.loads(l) for l in open("runs/n/captions.jsonl")]
assert [c["id"] for c in caps] == ["q1", "q2"] and all(len(c["captions"]) == 2 for c in caps), caps
raw = [json.loads(l) for l in open("runs/n/captions.raw.jsonl")]
assert all(len(r["tokens"]) == 2 for r in raw), raw
ed = [json.loads(l) for l in open("runs/n/edits.jsonl")]
assert all(len(e["edited"]) == 2 for e in ed), ed
assert len([l for l in open("runs/n/rankings.jsonl")]) == 2
m = json.load(open("runs/n/manifest.json"))
assert "blip2" in json.dumps(m) or "model-dir" in json.dumps(m), m
PY
grep -q '"model": "capmodel"\|"capmodel"' "$SRV_LOG" && fail "the captioning server was asked"
n_req=$(wc -l <"$SRV_LOG")
expect_status 0 "${RUN[@]}"
[ "$(wc -l <"$SRV_LOG")" -eq "$n_req" ] || fail "a cached rerun sent requests"
expect_status 1 "${RUN[@]}" --captioner-model cap
grep -q "not both" "$TMP/err" || fail "run: both captioners: $(cat "$TMP/err")"
# --- 7. seize serve --captioner-dir: /v1/info names it (a trailing slash is no part of its name),
#        a composed search captions natively
( exec $WRAP "$SEIZE_BIN" serve --index runs/n/index --model "$FIX/models/tiny-openai" --gallery photos \
    --listen 127.0.0.1:0 --captioner-dir "$B2/" --llm-endpoint "$SRV_URL" --llm-model llm --threads 1 \
    --workers 2 2>serve.err ) &
spid=$!
port=$(serve_port $spid serve.err) || exit 1
"$PYTHON" - "$port" <<'PY' || fail "serve --captioner-dir"
import json, sys, threading, urllib.request
base = "http://127.0.0.1:%s" % sys.argv[1]
def req(path, body=None):
    r = urllib.request.Request(base + path, data=body and json.dumps(body).encode(),
                               headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(r, timeout=120) as f:
        return json.loads(f.read())
info = req("/v1/info")
assert info["captioner"] == {"kind": "blip2", "model": "tiny364"} and info["composed"], info
out = []
def search(name):  # two at once: one native state, serialised
    out.append(req("/v1/search", {"reference": {"name": name}, "text": "at night", "num_captions": 3, "k": 2}))
ts = [threading.Thread(target=search, args=(n,)) for n in ("chelsea.png", "coffee.png")]
[t.start() for t in ts]; [t.join() for t in ts]
assert len(out) == 2 and all(len(o["captions"]) == 3 and len(o["results"]) == 2 for o in out), out
PY
kill -TERM $spid
wait $spid || fail "seize serve exited $? on SIGTERM: $(cat serve.err)"
expect_status 1 seize serve --index runs/n/index --model "$FIX/models/tiny-openai" --listen 127.0.0.1:0 \
  --captioner-dir "$B2" --captioner-endpoint "$SRV_URL" --captioner-model cap
grep -q "not both" "$TMP/err" || fail "serve: both captioners: $(cat "$TMP/err")"

# --- fetch-model: the BLIP-2 names in its help; an unreachable hub names --model-dir for them
expect_status 0 seize fetch-model --help
for w in blip2-opt-6.7b-coco blip2-opt-2.7b "BLIP-2: --model-dir"; do
  grep -q -- "$w" "$TMP/out" || fail "fetch-model --help lacks '$w'"
done
expect_status 1 seize fetch-model blip2-opt-2.7b --cache "$TMP/fc" --endpoint http://127.0.0.1:9 --max-attempts 1 -q
grep -q "cannot be reached.*BLIP-2: --model-dir" "$TMP/err" || fail "unreachable hub: $(cat "$TMP/err")"

# --- 8. greedy: the goldens' greedy decode with the prompt (transformers 4.40)
expect_status 0 seize caption --model-dir "$B2" "$IMG1" --greedy --max-new-tokens 20 -n 1 --precision fp32 --out g.jsonl -q
"$PYTHON" - "$B2/goldens.json" <<'PY' || fail "greedy: $(cat g.jsonl)"
import json, sys
g = json.load(open(sys.argv[1]))["greedy_prompt"]
r = json.loads(open("g.jsonl").readline())
assert r["tokens"][0] == g["sequences"][0][1:], (r["tokens"][0], g["sequences"][0][1:])
assert r["captions"][0] == g["captions"][0].strip(), (r["captions"][0], g["captions"][0])
PY

exit 0
