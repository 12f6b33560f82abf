#!/usr/bin/env bash
# seize run starts no process: every stage (captions and edits through the test server, the
# index build, query features, search, metrics, report) runs inside the one seize process.
# strace -f follows every child it could start; exactly one execve (seize itself) may appear.
# (Run directly, not under $WRAP: valgrind and strace do not combine.)
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/servers/server.sh"
need_fixtures
command -v strace >/dev/null || { echo "  skipped: strace not installed" >&2; exit 77; }
strace -f -qq -e trace=execve -o "$TMP/probe" /bin/true 2>/dev/null ||
  { echo "  skipped: ptrace not permitted here" >&2; exit 77; }
FIX=$(cd "$FIX" && pwd)
start_llm_server SRV
mkdir -p "$TMP/photos"
for f in astronaut.png camera.png chelsea.png rocket.jpg; do cp "$FIX/images/$f" "$TMP/photos/"; done
printf '{"id": "q1", "reference": "%s/photos/rocket.jpg", "relative_text": "at night", "target": "camera.png"}\n' \
  "$TMP" >"$TMP/q.jsonl"
# LeakSanitizer cannot run under ptrace: leaks are checked by the other tests of make asan.
run_traced() {
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq -e trace=execve,fork,vfork -o "$TMP/trace" "$SEIZE_BIN" run folder \
    --gallery "$TMP/photos" --queries "$TMP/q.jsonl" --model "$FIX/models/tiny-openai" \
    --captioner-endpoint "$SRV_URL" --captioner-model cap --llm-endpoint "$SRV_URL" --llm-model llm \
    --num-captions 2 --batch 8 --threads 2 --quiet --out "$TMP/run" 2>"$TMP/err"
}
run_traced || { cat "$TMP/err" >&2; fail "seize run failed under strace"; }
for f in rankings.jsonl metrics.json report.html edits.jsonl index/features.npy; do
  [ -s "$TMP/run/$f" ] || fail "no $f"
done
n=$(grep -c 'execve(' "$TMP/trace")
[ "$n" -eq 1 ] || { grep -E 'execve\(|fork\(' "$TMP/trace" >&2; fail "seize run executed $n programs (only itself expected)"; }
grep -qE '(^| )v?fork\(' "$TMP/trace" && fail "seize run forked"
[ "$(wc -l <"$SRV_LOG")" -gt 0 ] || fail "the LLM stages sent no request"
exit 0
