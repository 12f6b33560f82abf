#!/usr/bin/env bash
# seize run's stage keys against the servers' request logs: another --llm-model sends new editing
# requests (and the manifest names the model that made the edits); a stage whose settings
# changed after a failed attempt starts over instead of resuming the old attempt's journal;
# --restart discards an unfinished stage; a fully cached run writes nothing and works on a
# read-only run folder (as an unprivileged user when setpriv can switch to one).
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/servers/server.sh"
need_fixtures
FIX=$(cd "$FIX" && pwd) # the test changes folders
MODEL="$FIX/models/tiny-openai"
FAST=(--timeout 2 --backoff-base 0.01 --concurrency 4 --num-captions 2 --batch 8 --threads 2 --quiet)

G="$TMP/photos"
mkdir -p "$G"
for f in FreshFlower.jpg horse.png page.png rocket.jpg block.png coffee.png camera.png logo.png; do cp "$FIX/images/$f" "$G/"; done
cat >"$TMP/q.jsonl" <<'EOF'
{"id": "a", "reference": "horse.png", "relative_text": "at night", "target": "rocket.jpg"}
{"id": "b", "reference": "page.png", "relative_text": "in the snow"}
{"id": "c", "reference": "block.png", "relative_text": "as a toy"}
{"id": "d", "reference": "camera.png", "relative_text": "made of wood"}
EOF
N_REFS=4

start_llm_server CAP
start_llm_server LLM
# counts the requests in log $1 whose field $2 equals $3 (and that got a reply: no fault)
count() {
  "$PYTHON" - "$@" <<'PY'
import json, sys
log, field, value = sys.argv[1:]
print(sum(1 for l in open(log) if l.strip() and str(json.loads(l).get(field)) == value and not json.loads(l).get("fault")))
PY
}
RUN="$TMP/run"
run() { # run CAPTIONER_URL CAPTIONER_MODEL LLM_MODEL [options]
  local cu=$1 cm=$2 lm=$3; shift 3
  seize run folder --gallery "$G" --queries "$TMP/q.jsonl" --model "$MODEL" --out "$RUN" \
    --captioner-endpoint "$cu" --captioner-model "$cm" --llm-endpoint "$LLM_URL" --llm-model "$lm" "${FAST[@]}" "$@"
}

# --- 1. a first run, then another --llm-model: new editing requests, captions cached
expect_status 0 run "$CAP_URL" capA llm1
n_cap=$(wc -l <"$CAP_LOG")
[ "$(count "$LLM_LOG" model llm1)" -eq $((N_REFS * 2)) ] || fail "first run: $(count "$LLM_LOG" model llm1) edit requests"
expect_status 0 run "$CAP_URL" capA llm2
[ "$(count "$LLM_LOG" model llm2)" -eq $((N_REFS * 2)) ] || fail "another --llm-model sent $(count "$LLM_LOG" model llm2) requests, expected $((N_REFS * 2))"
[ "$(wc -l <"$CAP_LOG")" -eq "$n_cap" ] || fail "another --llm-model captioned again"
"$PYTHON" - "$RUN" <<'PY' || fail "manifest: what produced the files"
import json, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
by = m["produced_by"]
assert by["folder/edits"]["model"] == "llm2", by["folder/edits"]
assert by["folder/captions"]["model"] == "capA", by["folder/captions"]
assert len(by["folder/index"]["model_sha256"]) == 64 and by["folder/index"]["model_sha256"] == m["model"]["sha256"]
st = {s["stage"]: s["status"] for s in m["stages"]}
assert st["captions"] == "cached" and st["edits"] == "ran" and st["index"] == "cached", st
PY

# --- 2. a failed caption attempt, then other settings: the old attempt's answers are not reused
start_llm_server FLAKY --faults 500 --fault-every 2 --fault-attempts 100
expect_status 1 run "$FLAKY_URL" capB llm2 --max-attempts 2
grep -q "rerun the same command to retry" "$TMP/err" || fail "retryable caption failure: $(cat "$TMP/err")"
done_b=$(count "$FLAKY_LOG" model capB)
[ "$done_b" -gt 0 ] && [ "$done_b" -lt "$N_REFS" ] || fail "the flaky server answered $done_b of $N_REFS images"
expect_status 0 run "$CAP_URL" capC llm2
[ "$(count "$CAP_LOG" model capC)" -eq "$N_REFS" ] || fail "after a settings change, $(count "$CAP_LOG" model capC) of $N_REFS images captioned anew"

# --- 3. --restart discards an unfinished stage of the same settings
: >"$FLAKY_LOG"
expect_status 1 run "$FLAKY_URL" capD llm2 --max-attempts 2
# same endpoint and model through a good server would be a settings change; so the same flaky
# server, whose faults last 100 attempts: only a restart can ask for every image again
n_before=$(count "$FLAKY_LOG" model capD)
expect_status 1 run "$FLAKY_URL" capD llm2 --max-attempts 2 --restart
n_after=$(count "$FLAKY_LOG" model capD)
[ $((n_after - n_before)) -eq "$n_before" ] || fail "--restart: $((n_after - n_before)) images answered again, expected $n_before"
expect_status 1 run "$FLAKY_URL" capD llm2 --max-attempts 2
[ "$(count "$FLAKY_LOG" model capD)" -eq "$n_after" ] || fail "a plain rerun asked again for answers it had"

# --- 4. back to capC: captioned anew (sampled captions differ), so the edits are made again
# from these captions; then a fully cached run writes nothing, also on a read-only folder
expect_status 0 run "$CAP_URL" capC llm2
"$PYTHON" - "$RUN" <<'PY' || fail "edits do not belong to the current captions"
import json, sys
run = sys.argv[1]
caps = [json.loads(l)["captions"] for l in open(run + "/captions.jsonl")]
eds = [json.loads(l)["captions"] for l in open(run + "/edits.jsonl")]
assert caps == eds, (caps, eds)
PY
listing() { find "$1" -printf '%P %i %s %T@ %m\n' | sort; }
chmod -R a-w "$RUN"
listing "$RUN" >"$TMP/before.txt"
n_cap=$(wc -l <"$CAP_LOG"); n_llm=$(wc -l <"$LLM_LOG")
expect_status 0 run "$CAP_URL" capC llm2
listing "$RUN" >"$TMP/after.txt"
diff "$TMP/before.txt" "$TMP/after.txt" >&2 || fail "a fully cached run wrote into the run folder"
[ "$(wc -l <"$CAP_LOG")" -eq "$n_cap" ] && [ "$(wc -l <"$LLM_LOG")" -eq "$n_llm" ] || fail "a fully cached run sent requests"
# as an unprivileged user the folder is really read-only
if command -v setpriv >/dev/null && setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>/dev/null; then
  chmod 755 "$TMP" "$TMP/photos"
  chmod 644 "$TMP/q.jsonl" "$G"/*
  if setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$SEIZE_BIN" -a -r "$MODEL/config.json" 2>/dev/null; then
    expect_status 0 setpriv --reuid=nobody --regid=nogroup --clear-groups "$SEIZE_BIN" run folder --gallery "$G" \
      --queries "$TMP/q.jsonl" --model "$MODEL" --out "$RUN" --captioner-endpoint "$CAP_URL" --captioner-model capC \
      --llm-endpoint "$LLM_URL" --llm-model llm2 "${FAST[@]}"
    listing "$RUN" >"$TMP/after2.txt"
    diff "$TMP/before.txt" "$TMP/after2.txt" >&2 || fail "the unprivileged cached run changed the folder"
    # a stage that must run on the read-only folder: one clear error naming it
    expect_status 1 setpriv --reuid=nobody --regid=nogroup --clear-groups "$SEIZE_BIN" run folder --gallery "$G" \
      --queries "$TMP/q.jsonl" --model "$MODEL" --out "$RUN" --captioner-endpoint "$CAP_URL" --captioner-model capC \
      --llm-endpoint "$LLM_URL" --llm-model llm2 "${FAST[@]}" --pos 0.5
    grep -q "run folder '.*' is not writable (Permission denied), and stage folder/search must run" "$TMP/err" \
      || fail "read-only folder, stage to run: $(cat "$TMP/err")"
  else
    echo "  note: the build or the fixtures are not readable by nobody; read-only run as root only" >&2
  fi
fi
chmod -R u+w "$RUN"

# --- 5. one more query: only its image is captioned and only its captions edited (the journals
# check each item's input; a changed query set does not discard the others' answers)
echo '{"id": "e", "reference": "logo.png", "relative_text": "in gold"}' >>"$TMP/q.jsonl"
n_cap=$(count "$CAP_LOG" model capC); n_llm=$(count "$LLM_LOG" model llm2)
expect_status 0 run "$CAP_URL" capC llm2
[ $(( $(count "$CAP_LOG" model capC) - n_cap )) -eq 1 ] || fail "one more query: $(( $(count "$CAP_LOG" model capC) - n_cap )) caption requests, expected 1"
[ $(( $(count "$LLM_LOG" model llm2) - n_llm )) -eq 2 ] || fail "one more query: $(( $(count "$LLM_LOG" model llm2) - n_llm )) edit requests, expected 2"
[ "$(wc -l <"$RUN/rankings.jsonl")" -eq 5 ] || fail "one more query: rankings"
exit 0
