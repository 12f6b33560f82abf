#!/usr/bin/env bash
# LLM client throughput: seize reason sends 800 x 15 = 12,000 chat requests (a CIRCO test run)
# to a local server that answers each after 50 ms, with 64 requests in flight (journal fsync'd
# as in real use). The ideal is 64 / 0.05 s = 1280 requests/s; the line reports the measured
# rate against it. The server is tests/servers/bench_server.c (epoll, built here with cc) so
# that the client is what is measured; LLM_BENCH_SERVER=python uses openai_server.py instead.
# Environment: SEIZE_BIN, PYTHON, CC; LLM_BENCH_QUERIES (default 800), LLM_BENCH_CONCURRENCY
# (64), LLM_BENCH_LATENCY (0.05), LLM_BENCH_SERVER (c | python).
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
SEIZE_BIN=${SEIZE_BIN:-$TOP/build/seize}
PYTHON=${PYTHON:-/usr/bin/python3}
NQ=${LLM_BENCH_QUERIES:-800}
CONC=${LLM_BENCH_CONCURRENCY:-64}
LAT=${LLM_BENCH_LATENCY:-0.05}
TMP=$(mktemp -d)
fail() { echo "bench_llm: $*" >&2; exit 1; }
. "$TOP/tests/servers/server.sh"

KIND=${LLM_BENCH_SERVER:-c}
if [ "$KIND" = c ]; then
  ${CC:-cc} -O2 -o "$TMP/bench_server" "$TOP/tests/servers/bench_server.c" || fail "cannot build bench_server"
  "$TMP/bench_server" "$TMP/port" "$LAT" &
  _llm_pids+=("$!")
  for i in $(seq 1 200); do [ -s "$TMP/port" ] && break; sleep 0.05; done
  [ -s "$TMP/port" ] || fail "bench_server did not start"
  B_URL="http://127.0.0.1:$(cat "$TMP/port")/v1"
else
  start_llm_server B --latency "$LAT"
fi
# The real CIRCO test file (800 queries x 15 captions) when present, else synthetic queries.
CIRCO=${SEIZE_DATA:-$TOP/../shared/data}/circo/test_with_seize_captions.json
if [ -f "$CIRCO" ] && [ "$NQ" -eq 800 ]; then
  INPUT=(--dataset circo --input "$CIRCO")
else
  "$PYTHON" "$TOP/tests/servers/llm_check.py" gen "$TMP/q.jsonl" "$NQ" 15
  INPUT=(--input "$TMP/q.jsonl")
fi
t0=$(date +%s.%N)
"$SEIZE_BIN" reason "${INPUT[@]}" --out "$TMP/e.jsonl" --endpoint "$B_URL" --model bench \
  --concurrency "$CONC" --timeout 30 -q 2>"$TMP/err" || { cat "$TMP/err" >&2; fail "seize reason failed"; }
t1=$(date +%s.%N)
n=$(wc -l <"$TMP/e.jsonl")
[ "$n" -eq "$NQ" ] || fail "$n of $NQ queries written"
"$PYTHON" - "$t0" "$t1" "$NQ" "$CONC" "$LAT" "$KIND" <<'EOF'
import sys
t0, t1, nq, conc, lat = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
kind = sys.argv[6]
req = nq * 15
rate = req / (t1 - t0)
ideal = conc / lat
print(f"llm reason ({kind} server): {req} requests, {conc} in flight, {lat * 1000:.0f} ms latency: "
      f"{t1 - t0:.2f} s, {rate:.0f} req/s = {100 * rate / ideal:.1f}% of ideal {ideal:.0f} req/s")
EOF
