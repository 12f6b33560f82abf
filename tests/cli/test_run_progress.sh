#!/usr/bin/env bash
# seize run shows what its in-process stages do: each LLM stage ends with a request summary as
# seize caption / seize reason print it (not with --quiet); on a terminal each stage draws a
# progress line ("folder index 3/3"), and off a terminal there is none.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/servers/server.sh"
need_fixtures
MODEL="$FIX/models/tiny-openai"
OPTS=(--timeout 2 --backoff-base 0.01 --num-captions 2 --batch 1 --threads 1)

start_llm_server SRV
G="$TMP/photos"
mkdir -p "$G"
cp "$FIX/images/rocket.jpg" "$FIX/images/horse.png" "$FIX/images/page.png" "$G/"
echo '{"id": "q1", "reference": "rocket.jpg", "relative_text": "at night"}' >"$TMP/q.jsonl"
run() { # run OUT [options]: a folder run into $TMP/OUT
  local out=$1; shift
  seize run folder --gallery "$G" --queries "$TMP/q.jsonl" --model "$MODEL" --out "$TMP/$out" \
    --captioner-endpoint "$SRV_URL" --captioner-model cap --llm-endpoint "$SRV_URL" \
    --llm-model llm "${OPTS[@]}" "$@"
}

# --- 1. off a terminal: the summaries, no progress line
expect_status 0 run a
grep -q '^seize run: folder captions: 1/1 items complete (0 from the journal), 0 failed; [0-9]* requests' "$TMP/err" \
  || fail "caption summary: $(cat "$TMP/err")"
grep -q '^seize run: folder edits: 2/2 items complete (0 from the journal), 0 failed; [0-9]* requests' "$TMP/err" \
  || fail "editing summary: $(cat "$TMP/err")"
grep -q $'\r' "$TMP/err" && fail "a progress line off a terminal: $(od -c "$TMP/err" | head)"

# --- 2. --quiet: neither
expect_status 0 run b --quiet
[ -s "$TMP/err" ] && fail "--quiet printed: $(cat "$TMP/err")"

# --- 3. on a terminal (script(1) gives the run a pty): a progress line per stage
command -v script >/dev/null || { echo "  skipped: no script(1) for a terminal" >&2; exit 77; }
cmd=$(printf '%q ' "$SEIZE_BIN" run folder --gallery "$G" --queries "$TMP/q.jsonl" --model "$MODEL" \
  --out "$TMP/c" --captioner-endpoint "$SRV_URL" --captioner-model cap --llm-endpoint "$SRV_URL" \
  --llm-model llm "${OPTS[@]}")
script -qec "$cmd" /dev/null >"$TMP/tty" 2>&1 </dev/null || fail "run on a terminal: $(cat "$TMP/tty")"
for line in 'folder captions 1/1' 'folder edits 2/2' 'folder index 3/3' 'folder features 4/4'; do
  grep -q $'\r'"$line " "$TMP/tty" || fail "no progress line '$line': $(od -c "$TMP/tty" | head -40)"
done
grep -q 'seize run: folder captions: 1/1 items complete' "$TMP/tty" || fail "no summary on a terminal"
grep -q 'seize run: done in' "$TMP/tty" || fail "no closing line on a terminal"
# --quiet on a terminal: no progress line either
cmd=$(printf '%q ' "$SEIZE_BIN" run folder --gallery "$G" --queries "$TMP/q.jsonl" --model "$MODEL" \
  --out "$TMP/d" --captions "$TMP/c/edits.jsonl" "${OPTS[@]}" --quiet)
script -qec "$cmd" /dev/null >"$TMP/tty" 2>&1 </dev/null || fail "quiet run on a terminal: $(cat "$TMP/tty")"
[ -s "$TMP/tty" ] && fail "--quiet on a terminal printed: $(od -c "$TMP/tty" | head)"
exit 0
