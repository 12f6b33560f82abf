#!/usr/bin/env bash
# The journal is keyed by the settings: a rerun of seize reason / seize caption with another
# model, endpoint, prompt (--prompt-file, --system, --prompt), temperature, top-p, seed, max
# tokens or -n sends new requests and never reuses answers given under other settings; an
# unchanged rerun sends none; going back to former settings reuses their entries (kept). The
# OUT.settings.json sidecar names what produced the output.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/servers/server.sh"
CHK="$PYTHON $TOP/tests/servers/llm_check.py"
start_llm_server S
$CHK gen "$TMP/q.jsonl" 4 2 # 8 items
OUT="$TMP/e.jsonl"
BASE=(--input "$TMP/q.jsonl" --out "$OUT" --timeout 5 --backoff-base 0.01 -q)
printf 'Caption: {caption}\nChange: {instruction}\n' >"$TMP/p1.txt"
printf 'Caption (v2): {caption}\nChange: {instruction}\n' >"$TMP/p2.txt"

# sent ARGS...: runs seize reason and prints how many requests it sent
sent() {
  local before after
  before=$(wc -l <"$S_LOG")
  "$SEIZE_BIN" reason "${BASE[@]}" "$@" >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err" >&2; fail "reason $* failed"; }
  after=$(wc -l <"$S_LOG")
  echo $((after - before))
}
expect_sent() { # expect_sent N ARGS...
  local want=$1; shift
  local got
  got=$(sent "$@")
  [ "$got" -eq "$want" ] || fail "reason $*: $got requests, expected $want"
}
hash_of() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1.settings.json" "${2:-settings_hash}"; }

A=(--endpoint "$S_URL" --model m1)
expect_sent 8 "${A[@]}"
h1=$(hash_of "$OUT")
[ "$(hash_of "$OUT" model)" = m1 ] || fail "sidecar model"
expect_sent 0 "${A[@]}"
[ "$(hash_of "$OUT")" = "$h1" ] || fail "an unchanged rerun changed the settings hash"
# another model: everything asked again, and the output is the new model's
expect_sent 8 --endpoint "$S_URL" --model m2
[ "$(hash_of "$OUT" model)" = m2 ] || fail "sidecar does not name the new model"
[ "$(hash_of "$OUT")" != "$h1" ] || fail "the settings hash did not change with the model"
[ "$(tail -8 "$S_LOG" | grep -c '"model": "m2"')" -eq 8 ] || fail "the new requests are not for m2"
# back to the first model: its entries are still in the journal
expect_sent 0 "${A[@]}"
[ "$(hash_of "$OUT")" = "$h1" ] || fail "back to m1: another settings hash"
# every sampling parameter and the prompt are part of the key
expect_sent 8 "${A[@]}" --temperature 0.3
expect_sent 0 "${A[@]}" --temperature 0.3
expect_sent 8 "${A[@]}" --temperature 0.3 --top-p 0.5
expect_sent 8 "${A[@]}" --temperature 0.3 --top-p 0.5 --seed 11
expect_sent 8 "${A[@]}" --temperature 0.3 --top-p 0.5 --seed 12
expect_sent 8 "${A[@]}" --temperature 0.3 --top-p 0.5 --seed 12 --max-tokens 40
expect_sent 0 "${A[@]}" --temperature 0.3 --top-p 0.5 --seed 12 --max-tokens 40
expect_sent 8 "${A[@]}" --prompt-file "$TMP/p1.txt"
expect_sent 0 "${A[@]}" --prompt-file "$TMP/p1.txt"
$CHK reason "$TMP/q.jsonl" "$OUT" --prompt-file "$TMP/p1.txt" >/dev/null || fail "edits under p1"
expect_sent 8 "${A[@]}" --prompt-file "$TMP/p2.txt"
$CHK reason "$TMP/q.jsonl" "$OUT" --prompt-file "$TMP/p2.txt" >/dev/null || fail "edits under p2 (old answers reused?)"
cp "$TMP/p1.txt" "$TMP/p2.txt" # the same name, other content
expect_sent 0 "${A[@]}" --prompt-file "$TMP/p2.txt"
$CHK reason "$TMP/q.jsonl" "$OUT" --prompt-file "$TMP/p1.txt" >/dev/null || fail "edits under p1 again"
expect_sent 8 "${A[@]}" --system "Be brief."
# the endpoint: the same address written differently is the same; another address is not
expect_sent 0 --endpoint "${S_URL}/" --model m1
expect_sent 0 --endpoint "$(echo "$S_URL" | sed 's#^http://#HTTP://#')" --model m1
expect_sent 8 --endpoint "$(echo "$S_URL" | sed 's#127.0.0.1#localhost#')" --model m1
# credentials in the endpoint are not part of the key (and never stored)
expect_sent 0 --endpoint "$(echo "$S_URL" | sed 's#^http://#http://bob:pw-x-1234@#')" --model m1
grep -q "pw-x-1234" "$OUT.journal" "$OUT.settings.json" && fail "endpoint password stored"
# a journal line without settings (written by an older seize) is not reused
rm -f "$OUT" "$OUT.journal" "$OUT.settings.json"
expect_sent 8 "${A[@]}"
sed -i 's/"settings":"[0-9a-f]*",//' "$OUT.journal"
expect_sent 8 "${A[@]}"

# --- caption: model, -n, --prompt, temperature
"$PYTHON" - "$TMP/img.png" <<'EOF'
import struct, sys, zlib
chunk = lambda t, c: struct.pack(">I", len(c)) + t + c + struct.pack(">I", zlib.crc32(t + c))
raw = b"".join(b"\0" + bytes([y, 2 * y, 3]) * 2 for y in range(3))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 3, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
EOF
cap_sent() {
  local before after
  before=$(wc -l <"$S_LOG")
  "$SEIZE_BIN" caption "$TMP/img.png" --out "$TMP/c.jsonl" --endpoint "$S_URL" -q "$@" >"$TMP/out" 2>"$TMP/err" ||
    { cat "$TMP/err" >&2; fail "caption $* failed"; }
  after=$(wc -l <"$S_LOG")
  echo $((after - before))
}
c_expect() { local want=$1; shift; local got; got=$(cap_sent "$@"); [ "$got" -eq "$want" ] || fail "caption $*: $got requests, expected $want"; }
c_expect 1 --model v1 -n 3
c_expect 0 --model v1 -n 3
c_expect 1 --model v2 -n 3
grep -q '"model": "v2"' "$TMP/c.jsonl.settings.json" || fail "caption sidecar model"
c_expect 1 --model v1 -n 4
c_expect 1 --model v1 -n 3 --prompt "Describe it."
c_expect 1 --model v1 -n 3 --temperature 0.2
c_expect 0 --model v1 -n 3
grep -q '"n": 3' "$TMP/c.jsonl.settings.json" && grep -q '"prompt_sha256"' "$TMP/c.jsonl.settings.json" ||
  fail "caption sidecar: $(cat "$TMP/c.jsonl.settings.json")"
exit 0
