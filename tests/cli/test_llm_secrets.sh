#!/usr/bin/env bash
# Secrets never leave the process: servers that echo the Authorization header, the request URL or
# the Basic credentials back (in 400/401/500 error bodies, inside a reply, in a non-JSON body)
# never get the API key or the endpoint's user:password onto stderr, into the journal, the
# output or the settings sidecar of seize reason and seize caption, nor into any file of a
# seize run folder (whose caption and editing stages run in-process) or its stderr.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/servers/server.sh"
CHK="$PYTHON $TOP/tests/servers/llm_check.py"
KEY=sk-live-SECRETKEY-123
PW=pw-SECRET-456
B64=$(printf 'alice:%s' "$PW" | base64)
FAST=(--timeout 2 --backoff-base 0.01 --backoff-max 0.02 --max-attempts 2 --concurrency 2)
$CHK gen "$TMP/q.jsonl" 3 2
"$PYTHON" - "$TMP/img.png" <<'EOF'
import struct, sys, zlib
chunk = lambda t, c: struct.pack(">I", len(c)) + t + c + struct.pack(">I", zlib.crc32(t + c))
raw = b"".join(b"\0" + bytes([x * 20, y * 20, 99]) * 1 for y in range(4) for x in range(1))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 4, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
EOF

# a folder run (when the fixtures are here): the reference is a gallery image
if [ -d "$FIX" ]; then
  FIX_OK=1
  mkdir -p "$TMP/gallery"
  cp "$FIX/images/rocket.jpg" "$FIX/images/astronaut.png" "$TMP/gallery/"
  printf '{"id": "q1", "reference": "%s/gallery/rocket.jpg", "relative_text": "at night"}\n' "$TMP" >"$TMP/rq.jsonl"
fi

# no_secret WHAT FILES...: none of the files holds the key, the password or its Basic encoding
no_secret() {
  local what=$1; shift
  local f
  for f in "$@"; do
    [ -e "$f" ] || continue
    if grep -a -q -e "$KEY" -e "$PW" -e "$B64" "$f"; then
      cat "$f" >&2
      fail "$what: a secret is in $(basename "$f")"
    fi
  done
}

n=0
for mode in error400 error401 error500 reply malformed; do
  start_llm_server "E$n" --echo "$mode"
  eval "url=\$E${n}_URL"
  hostport=${url#http://}
  for auth in key userinfo; do
    d="$TMP/$mode-$auth"
    mkdir -p "$d"
    if [ "$auth" = key ]; then
      ep=$url
      export OPENAI_API_KEY=$KEY
    else
      ep="http://alice:$PW@$hostport"
      unset OPENAI_API_KEY
    fi
    seize reason --input "$TMP/q.jsonl" --out "$d/e.jsonl" --endpoint "$ep" --model m "${FAST[@]}" \
      >"$d/stdout" 2>"$d/stderr"
    rc=$?
    [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ] && [ "$rc" -ne 3 ] && fail "$mode/$auth: reason exited $rc"
    grep -q "you sent\|\*\*\*\|expected near" "$d/stderr" "$d/e.jsonl" "$d/e.jsonl.journal" 2>/dev/null ||
      { cat "$d/stderr" >&2; fail "$mode/$auth: the echo never reached the client (test broken?)"; }
    no_secret "reason $mode/$auth" "$d"/*
    seize caption "$TMP/img.png" -n 2 --out "$d/c.jsonl" --endpoint "$ep" --model m "${FAST[@]}" \
      >"$d/cstdout" 2>"$d/cstderr"
    no_secret "caption $mode/$auth" "$d"/*
    if [ -n "${FIX_OK:-}" ]; then
      seize run folder --gallery "$TMP/gallery" --queries "$TMP/rq.jsonl" --model "$FIX/models/tiny-openai" \
        --captioner-endpoint "$ep" --captioner-model m --llm-endpoint "$ep" --llm-model m \
        --num-captions 2 --timeout 2 --backoff-base 0.01 --max-attempts 2 --concurrency 2 --quiet --out "$d/run" >"$d/rstdout" 2>"$d/rstderr"
      rc=$?
      [ "$rc" -le 3 ] || fail "$mode/$auth: run exited $rc"
      no_secret "run $mode/$auth" "$d/rstdout" "$d/rstderr" $(find "$d/run" -type f 2>/dev/null)
    fi
  done
  n=$((n + 1))
done
# the redacted forms are what is shown
grep -q "Bearer \*\*\*" "$TMP/error400-key/stderr" || { cat "$TMP/error400-key/stderr" >&2; fail "400: no redacted echo"; }
grep -q "Basic \*\*\*" "$TMP/error400-userinfo/stderr" || { cat "$TMP/error400-userinfo/stderr" >&2; fail "400 Basic: no redacted echo"; }
grep -q "alice:\*\*\*@" "$TMP/error401-userinfo/stderr" || { cat "$TMP/error401-userinfo/stderr" >&2; fail "401: the endpoint is not shown redacted"; }
grep -q '\*\*\*' "$TMP/reply-key/e.jsonl" || fail "reply: the key was not replaced in the stored text"
if [ -n "${FIX_OK:-}" ]; then # the run got as far as storing echoed replies, redacted
  grep -q '\*\*\*' "$TMP/reply-key/run/edits.jsonl" || fail "run reply: no redacted reply stored in edits.jsonl"
  # a 400 is no failure a rerun can fix: the run says so; a 500 after its attempts may be
  grep -q 'rejected' "$TMP/error400-key/rstderr" && ! grep -q 'rerun' "$TMP/error400-key/rstderr" ||
    { cat "$TMP/error400-key/rstderr" >&2; fail "run 400: suggests a rerun"; }
  grep -q 'rerun the same command' "$TMP/error500-key/rstderr" ||
    { cat "$TMP/error500-key/rstderr" >&2; fail "run 500: no rerun suggested"; }
fi
"$PYTHON" - "$TMP/reply-userinfo/e.jsonl.settings.json" <<'EOF' || fail "settings sidecar"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["endpoint"].startswith("http://127.0.0.1:") and "alice" not in s["endpoint"], s
assert len(s["settings_hash"]) == 64 and s["model"] == "m", s
EOF
# unreachable endpoint with credentials: the message shows the address without the password
unset OPENAI_API_KEY
expect_status 1 seize reason --input "$TMP/q.jsonl" --out "$TMP/u.jsonl" \
  --endpoint "http://alice:$PW@127.0.0.1:1/v1" --model m --max-attempts 1 -q
grep -q "alice:\*\*\*@127.0.0.1:1" "$TMP/err" || { cat "$TMP/err" >&2; fail "unreachable: address not shown"; }
no_secret "unreachable" "$TMP/err" "$TMP/u.jsonl.journal"
exit 0
