#!/usr/bin/env bash
# seize run and its stages as processes: one run per run folder (a second one fails at once, the
# first's result is right); a kill -9 of the run alone takes its stage with it, and the rerun
# gives the index of a clean run; Ctrl-C (SIGINT to the run's process group) and a SIGTERM to
# the run alone stop the stage too, say "interrupted; rerun to resume", exit 128+signal and
# leave no temporary file; the rerun finishes.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/servers/server.sh"
need_fixtures
FIX=$(cd "$FIX" && pwd) # the test changes folders
MODEL="$FIX/models/tiny-openai"
QUIET=(--num-captions 2 --threads 1 --quiet)

# processes whose command line mentions $1 (the stages of a run get its folder in their arguments)
procs_of() {
  local p
  for p in /proc/[0-9]*; do
    { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$1" && echo "${p#/proc/}"
  done
}
# waits (up to 60 s) until no process mentions $1
wait_gone() {
  local i
  for i in $(seq 1 600); do
    [ -z "$(procs_of "$1")" ] && return 0
    sleep 0.1
  done
  return 1
}
# waits (up to 60 s) until the file $1 exists and is not empty
wait_file() {
  local i
  for i in $(seq 1 600); do
    [ -s "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

# --- a gallery of 300 images (copies of five fixtures) and a caption file with edits
G="$TMP/gallery"
mkdir -p "$G"
srcs=(FreshFlower.jpg horse.png page.png rocket.jpg block.png)
for i in $(seq 0 299); do
  s=${srcs[$((i % 5))]}
  cp "$FIX/images/$s" "$G/$(printf 'img%03d' "$i").${s##*.}"
done
"$PYTHON" - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
with open(tmp + "/q.jsonl", "w") as q, open(tmp + "/caps.jsonl", "w") as c:
    for i, (ref, txt) in enumerate([("img000.jpg", "at night"), ("img001.png", "in the snow"), ("img005.jpg", "as a toy")]):
        q.write(json.dumps({"id": f"q{i}", "reference": ref, "relative_text": txt, "target": ["img010.jpg", "img011.png", "img012.png"][i]}) + "\n")
        c.write(json.dumps({"id": f"q{i}", "captions": [f"a photo {i} {k}" for k in range(2)],
                            "edited": [f"a photo {i} {k} {txt}" for k in range(2)]}) + "\n")
PY
# the folder run from the caption file (no server needed): "${FILE_RUN[@]}" --out OUT
FILE_RUN=("$SEIZE_BIN" run folder --gallery "$G" --queries "$TMP/q.jsonl" --model "$MODEL" --captions "$TMP/caps.jsonl"
          --batch 2 "${QUIET[@]}")
file_run() { $WRAP "${FILE_RUN[@]}" --out "$@"; }

# --- 1. the reference: a clean run
expect_status 0 file_run "$TMP/clean"

# --- 2. kill -9 of the run alone during the index stage: the stage dies with it, and the
# rerun's index is the clean run's
K="$TMP/killed"
"${FILE_RUN[@]}" --out "$K" 2>"$TMP/killed.err" &
pid=$!
wait_file "$K/index/build.progress.json" || fail "the index stage did not start"
finished_before=0
[ -e "$K/index/features.npy" ] && finished_before=1
kill -9 "$pid"
{ wait "$pid"; } 2>/dev/null
wait_gone "$K" || fail "a stage of the killed run is still running: $(procs_of "$K")"
# an orphaned stage would have gone on to finish the index
[ "$finished_before" = 1 ] || [ ! -e "$K/index/features.npy" ] || fail "the index stage went on after its run was killed"
expect_status 0 file_run "$K"
cmp "$TMP/clean/index/features.npy" "$K/index/features.npy" || fail "index after kill -9 + rerun differs from a clean run"
cmp "$TMP/clean/index/names.txt" "$K/index/names.txt" || fail "names after kill -9 + rerun differ from a clean run"
cmp "$TMP/clean/rankings.jsonl" "$K/rankings.jsonl" || fail "rankings after kill -9 + rerun differ from a clean run"

# --- 3. two runs on one folder: the second fails at once, the first's result is right
start_llm_server SLOW --latency 1
SLOW_ARGS=(--captioner-endpoint "$SLOW_URL" --captioner-model cap --llm-endpoint "$SLOW_URL" --llm-model llm
           --timeout 30 --concurrency 2)
# the folder run through the slow server: "${SRV_RUN[@]}" --out OUT
SRV_RUN=("$SEIZE_BIN" run folder --gallery "$G" --queries "$TMP/q.jsonl" --model "$MODEL" --batch 2
         "${SLOW_ARGS[@]}" "${QUIET[@]}")
srv_run() { $WRAP "${SRV_RUN[@]}" --out "$@"; }
A="$TMP/shared-run"
"${SRV_RUN[@]}" --out "$A" 2>"$TMP/a.err" &
pid=$!
wait_file "$SLOW_LOG" || fail "the first run sent no request"
expect_status 1 srv_run "$A"
grep -q "run folder '.*shared-run' is in use by another 'seize run'" "$TMP/err" || fail "second run: $(cat "$TMP/err")"
wait "$pid" || { cat "$TMP/a.err" >&2; fail "the first run failed"; }
"$PYTHON" - "$A" "$TMP/clean" <<'PY' || fail "the first run's outputs"
import json, sys
a, clean = sys.argv[1:]
rows = [json.loads(l) for l in open(a + "/rankings.jsonl")]
assert [r["id"] for r in rows] == ["q0", "q1", "q2"], rows
assert all(len(r["ranking"]) == 50 for r in rows)
assert open(a + "/index/features.npy", "rb").read() == open(clean + "/index/features.npy", "rb").read()
assert json.load(open(a + "/manifest.json"))["status"] == "ok"
PY

# --- 4. Ctrl-C during the caption stage: the stage stops too; no temporary file; the rerun finishes
C="$TMP/ctrlc"
: >"$SLOW_LOG"
setsid "${SRV_RUN[@]}" --out "$C" 2>"$TMP/c.err" &
pid=$!
wait_file "$SLOW_LOG" || fail "the run sent no request"
kill -INT -- "-$pid"
wait "$pid"
st=$?
[ "$st" -eq 130 ] || { cat "$TMP/c.err" >&2; fail "Ctrl-C: exit status $st, expected 130"; }
grep -q "interrupted; rerun to resume" "$TMP/c.err" || fail "Ctrl-C message: $(cat "$TMP/c.err")"
wait_gone "$C" || fail "a stage survived Ctrl-C: $(procs_of "$C")"
left=$(find "$C" -name '*.tmp.*' -o -name '*.part')
[ -z "$left" ] || fail "temporary files left after Ctrl-C: $left"
expect_status 0 srv_run "$C"

# --- 5. SIGTERM to the run alone (not its stage) during the caption stage: the same
T="$TMP/term"
: >"$SLOW_LOG"
"${SRV_RUN[@]}" --out "$T" 2>"$TMP/t.err" &
pid=$!
wait_file "$SLOW_LOG" || fail "the run sent no request"
kill -TERM "$pid"
wait "$pid"
st=$?
[ "$st" -eq 143 ] || { cat "$TMP/t.err" >&2; fail "SIGTERM: exit status $st, expected 143"; }
grep -q "interrupted; rerun to resume" "$TMP/t.err" || fail "SIGTERM message: $(cat "$TMP/t.err")"
wait_gone "$T" || fail "a stage survived SIGTERM of the run: $(procs_of "$T")"
expect_status 0 srv_run "$T"
exit 0
