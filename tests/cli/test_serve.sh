#!/usr/bin/env bash
# seize serve end to end: an index built by seize index build, the server on port 0 (the port
# read from its "listening on" line), the bearer token from a file, a composed search against
# the test LLM server (plain and streamed), the key never in a reply; SIGTERM during a composed
# search: that request is still answered, the server exits 0.
. "$(dirname "$0")/lib.sh"
need_fixtures
FIX=$(cd "$FIX" && pwd)
. "$TOP/tests/servers/server.sh"
M=$TMP/model; tiny_model "$M"
mkdir -p "$TMP/g"
cp "$FIX/images/chelsea.png" "$FIX/images/rocket.jpg" "$FIX/images/coffee.png" "$FIX/images/horse.png" "$TMP/g/"
expect_status 0 seize index build --model "$M" --gallery "$TMP/g" --out "$TMP/ix" --threads 1 -q
start_llm_server llm --latency 0.5
printf 'secret-token-1234\n' >"$TMP/token"
export OPENAI_API_KEY=sk-cli-secret-key-999
( exec $WRAP "$SEIZE_BIN" serve --index "$TMP/ix" --model "$M" --gallery "$TMP/g" --listen 127.0.0.1:0 \
    --token "$TMP/token" --captioner-endpoint "$llm_URL" --captioner-model vis --llm-endpoint "$llm_URL" \
    --llm-model ed --threads 1 --workers 2 2>"$TMP/serve.err" ) &
pid=$!
port=$(serve_port $pid "$TMP/serve.err") || exit 1
# req METHOD PATH [BODY] [TOKEN]: prints the status line "STATUS" then the body
cat >"$TMP/req.py" <<'PY'
import sys, urllib.request, urllib.error
m, url = sys.argv[1], sys.argv[2]
body = sys.argv[3].encode() if len(sys.argv) > 3 and sys.argv[3] else None
r = urllib.request.Request(url, data=body, method=m, headers={"Content-Type": "application/json"})
if len(sys.argv) > 4: r.add_header("Authorization", "Bearer " + sys.argv[4])
try:
    with urllib.request.urlopen(r, timeout=120) as f: print(f.status); print(f.read().decode())
except urllib.error.HTTPError as e: print(e.code); print(e.read().decode())
PY
req() { "$PYTHON" "$TMP/req.py" "$1" "http://127.0.0.1:$port$2" "${3:-}" ${4:+"$4"}; }
TOK=secret-token-1234
req GET /healthz >"$TMP/r"; [ "$(head -1 "$TMP/r")" = 200 ] || fail "healthz: $(cat "$TMP/r")"
req GET /v1/info >"$TMP/r"; [ "$(head -1 "$TMP/r")" = 401 ] || fail "info without a token: $(cat "$TMP/r")"
req GET /v1/info "" $TOK >"$TMP/r"; [ "$(head -1 "$TMP/r")" = 200 ] || fail "info: $(cat "$TMP/r")"
grep -q '"composed":true' "$TMP/r" || fail "info: not composed: $(cat "$TMP/r")"
Q='{"reference": {"name": "chelsea.png"}, "text": "make it a dog", "num_captions": 2, "k": 2}'
req POST /v1/search "$Q" $TOK >"$TMP/r"; [ "$(head -1 "$TMP/r")" = 200 ] || fail "search: $(cat "$TMP/r")"
grep -q '=> make it a dog' "$TMP/r" || fail "search: no edits: $(cat "$TMP/r")"
grep -q '"cached":false' "$TMP/r" || fail "first search cached"
req POST /v1/search "${Q%\}}, \"stream\": true}" $TOK >"$TMP/r"
[ "$(head -1 "$TMP/r")" = 200 ] && grep -q '^{"stage":"search"' "$TMP/r" && tail -2 "$TMP/r" | grep -q '^{"result":.*"cached":true' \
  || fail "stream: $(cat "$TMP/r")"
grep -rq "sk-cli-secret" "$TMP/r" "$TMP/serve.err" && fail "the API key was shown"
# SIGTERM while a composed search waits for the LLM: answered, then exit 0
n0=$(wc -l <"$llm_LOG")
req POST /v1/search '{"reference": {"name": "rocket.jpg"}, "text": "at night", "num_captions": 2}' $TOK >"$TMP/late" &
rq=$!
for _ in $(seq 1 2400); do [ "$(wc -l <"$llm_LOG")" -gt "$n0" ] && break; sleep 0.05; done
[ "$(wc -l <"$llm_LOG")" -gt "$n0" ] || fail "the late search never reached the LLM"
kill -TERM $pid
wait $pid; st=$?
[ $st -eq 0 ] || { cat "$TMP/serve.err" >&2; fail "seize serve exited $st on SIGTERM"; }
wait $rq
[ "$(head -1 "$TMP/late")" = 200 ] || fail "the search in flight at SIGTERM: $(cat "$TMP/late")"
grep -q "stopping" "$TMP/serve.err" || fail "no stopping line"
expect_status 2 seize serve --model "$M"
grep -q -- "--index and --model are required" "$TMP/err" || fail "usage message"
exit 0
