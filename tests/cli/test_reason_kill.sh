#!/usr/bin/env bash
# Crash safety of seize reason: SIGKILL in the middle of a run, then a rerun finishes with nothing
# lost, nothing duplicated, and no request repeated for an item the killed run had completed
# (only the requests in flight at the kill are sent again). Then Ctrl-C (SIGINT): a clean stop
# with exit 130, and a rerun that resumes.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/servers/server.sh"
CHK="$PYTHON $TOP/tests/servers/llm_check.py"
CONC=4

start_llm_server K --latency 0.03
$CHK gen "$TMP/q.jsonl" 40 5
OUT="$TMP/e.jsonl"
ARGS=(--input "$TMP/q.jsonl" --out "$OUT" --endpoint "$K_URL" --model m --concurrency $CONC
      --timeout 5 --backoff-base 0.01 -q)

# wait_journal N: waits until the journal has at least N lines (or the client exits)
wait_journal() {
  local i
  for i in $(seq 1 1000); do
    [ -f "$OUT.journal" ] && [ "$(wc -l <"$OUT.journal")" -ge "$1" ] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.01
  done
  return 1
}

$WRAP "$SEIZE_BIN" reason "${ARGS[@]}" 2>"$TMP/err1" &
pid=$!
wait_journal 60 || fail "the client ended before it could be killed"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
[ -e "$OUT" ] && fail "output written by the killed run"
sleep 0.2 # let the server log the requests that were in flight
$CHK journal-keys "$OUT.journal" | sort >"$TMP/done_keys"
n_done=$(wc -l <"$TMP/done_keys")
[ "$n_done" -ge 60 ] && [ "$n_done" -lt 200 ] || fail "$n_done items done at the kill"
L1=$(wc -l <"$K_LOG")
$CHK log-keys "$K_LOG" "$TMP/q.jsonl" | sort >"$TMP/asked_before"

# rerun to completion
expect_status 0 seize reason "${ARGS[@]}"
$CHK reason "$TMP/q.jsonl" "$OUT" || fail "wrong or missing edits after the rerun"
# nothing duplicated: each item appears once in the journal
dups=$($CHK journal-keys "$OUT.journal" | sort | uniq -d | wc -l)
[ "$dups" -eq 0 ] || fail "$dups items journaled twice"
[ "$($CHK journal-keys "$OUT.journal" | wc -l)" -eq 200 ] || fail "journal does not hold 300 items"
# no completed item requested again
$CHK log-keys "$K_LOG" "$TMP/q.jsonl" "$L1" | sort >"$TMP/asked_after"
again=$(comm -12 "$TMP/done_keys" "$TMP/asked_after" | wc -l)
[ "$again" -eq 0 ] || fail "$again items completed before the kill were requested again"
# everything asked after the kill was either never asked or in flight at the kill (<= CONC)
inflight=$(comm -12 "$TMP/asked_before" "$TMP/asked_after" | wc -l)
[ "$inflight" -le $CONC ] || fail "$inflight items asked before the kill were asked again (> $CONC)"
total=$(sort -u "$TMP/asked_before" "$TMP/asked_after" | wc -l)
[ "$total" -eq 200 ] || fail "$total distinct items asked, expected 200"
# a third run has nothing to do
L2=$(wc -l <"$K_LOG")
expect_status 0 seize reason "${ARGS[@]}"
[ "$(wc -l <"$K_LOG")" -eq "$L2" ] || fail "a complete run sent requests again"

# --- SIGINT: stop cleanly, keep what is done, resume
rm -f "$OUT" "$OUT.journal"
$WRAP "$SEIZE_BIN" reason "${ARGS[@]}" 2>"$TMP/err2" &
pid=$!
wait_journal 30 || fail "the client ended before it could be interrupted"
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || { cat "$TMP/err2" >&2; fail "SIGINT: exit $rc, expected 130"; }
grep -q "seize reason: interrupted; rerun to resume" "$TMP/err2" || { cat "$TMP/err2" >&2; fail "SIGINT: no 'interrupted; rerun to resume' message"; }
[ -z "$(find "$TMP" -name '*.tmp.*')" ] || fail "SIGINT: temporary files left: $(find "$TMP" -name '*.tmp.*')"
[ -e "$OUT" ] && fail "SIGINT: output written for an unfinished run"
n_int=$($CHK journal-keys "$OUT.journal" | wc -l)
[ "$n_int" -ge 30 ] && [ "$n_int" -lt 200 ] || fail "SIGINT: $n_int items kept"
expect_status 0 seize reason "${ARGS[@]}"
$CHK reason "$TMP/q.jsonl" "$OUT" || fail "wrong edits after resuming from SIGINT"
[ "$($CHK journal-keys "$OUT.journal" | wc -l)" -eq 200 ] || fail "journal after SIGINT + resume"
[ -z "$(find "$TMP" -name '*.tmp.*')" ] || fail "temporary files left: $(find "$TMP" -name '*.tmp.*')"

# --- SIGINT and SIGTERM of seize caption: the same message and exit status, nothing left behind
mkdir -p "$TMP/img"
"$PYTHON" - "$TMP/img" <<'EOF'
import sys
for i in range(40):  # GIF files are sent without decoding: only their bytes matter
    open(f"{sys.argv[1]}/g{i:02d}.gif", "wb").write(b"GIF89a" + bytes([i]) * 50)
EOF
start_llm_server C --latency 0.2
for sig in INT TERM; do
  rm -f "$TMP/c.jsonl" "$TMP/c.jsonl.journal"
  $WRAP "$SEIZE_BIN" caption "$TMP"/img/*.gif -n 1 --out "$TMP/c.jsonl" --endpoint "$C_URL" --model m \
    --concurrency 2 -q 2>"$TMP/err3" &
  pid=$!
  for _ in $(seq 1 400); do [ -s "$TMP/c.jsonl.journal" ] && break; sleep 0.02; done
  kill -$sig "$pid"
  wait "$pid"
  rc=$?
  [ "$rc" -eq 130 ] || { cat "$TMP/err3" >&2; fail "caption SIG$sig: exit $rc, expected 130"; }
  grep -q "seize caption: interrupted; rerun to resume" "$TMP/err3" || { cat "$TMP/err3" >&2; fail "caption SIG$sig: message"; }
  [ -e "$TMP/c.jsonl" ] && fail "caption SIG$sig: output written for an unfinished run"
  [ -z "$(find "$TMP" -name '*.tmp.*')" ] || fail "caption SIG$sig: temporary files left"
done
exit 0
