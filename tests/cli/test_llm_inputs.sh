#!/usr/bin/env bash
# Inputs of seize reason / seize caption: one process per journal (a second fails at once);
# FIFOs, devices and /dev/zero refused as texts or images without blocking; captions, relative
# texts and prompt files over 64 KiB refused before any request, naming the query; relative paths
# from the current directory; a missing dataset folder or missing reference images reported once
# with zero requests; images that cannot be captioned reported without suggesting a rerun.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/servers/server.sh"
CHK="$PYTHON $TOP/tests/servers/llm_check.py"
FAST=(--timeout 5 --backoff-base 0.01 --backoff-max 0.02 --max-attempts 2 -q)
start_llm_server S
start_llm_server SLOW --latency 30
$CHK gen "$TMP/q.jsonl" 4 2
requests() { wc -l <"$S_LOG"; }
# png FILE SEED: a small valid PNG
png() {
  "$PYTHON" - "$1" "$2" <<'EOF'
import random, struct, sys, zlib
rnd = random.Random(int(sys.argv[2]))
chunk = lambda t, c: struct.pack(">I", len(c)) + t + c + struct.pack(">I", zlib.crc32(t + c))
raw = b"".join(b"\0" + rnd.randbytes(3 * 4) for y in range(3))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 3, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
EOF
}
mkdir -p "$TMP/img"
png "$TMP/img/a.png" 1
png "$TMP/img/b.png" 2
png "$TMP/img/c.png" 3

# --- 1. exclusive lock: a second process on the same journal fails at once
"$SEIZE_BIN" reason --input "$TMP/q.jsonl" --out "$TMP/l.jsonl" --endpoint "$SLOW_URL" --model m \
  --concurrency 1 -q 2>"$TMP/l1.err" &
pid=$!
for _ in $(seq 1 400); do [ -s "$SLOW_LOG" ] && break; sleep 0.05; done
[ -s "$SLOW_LOG" ] || fail "the first reason never sent a request"
expect_status 1 seize reason --input "$TMP/q.jsonl" --out "$TMP/l.jsonl" --endpoint "$S_URL" --model m "${FAST[@]}"
grep -q "in use by another seize process (pid $pid" "$TMP/err" || { cat "$TMP/err" >&2; fail "lock: no clear message"; }
# another output but the same journal: refused too
expect_status 1 seize reason --input "$TMP/q.jsonl" --out "$TMP/l2.jsonl" --journal "$TMP/l.jsonl.journal" \
  --endpoint "$S_URL" --model m "${FAST[@]}"
grep -q "in use" "$TMP/err" || fail "lock (same journal): $(cat "$TMP/err")"
# the same output with another journal: refused too
expect_status 1 seize reason --input "$TMP/q.jsonl" --out "$TMP/l.jsonl" --journal "$TMP/other.journal" \
  --endpoint "$S_URL" --model m "${FAST[@]}"
grep -q "output '$TMP/l.jsonl' is in use" "$TMP/err" || fail "lock (same output): $(cat "$TMP/err")"
[ "$(requests)" -eq 0 ] || fail "a locked-out process sent requests"
kill -INT "$pid"; kill -INT "$pid" 2>/dev/null; wait "$pid"
# caption: the same
"$SEIZE_BIN" caption "$TMP/img/a.png" --out "$TMP/lc.jsonl" --endpoint "$SLOW_URL" --model m -n 1 -q 2>/dev/null &
pid=$!
n0=$(wc -l <"$SLOW_LOG")
for _ in $(seq 1 400); do [ "$(wc -l <"$SLOW_LOG")" -gt "$n0" ] && break; sleep 0.05; done
expect_status 1 seize caption "$TMP/img/a.png" --out "$TMP/lc.jsonl" --endpoint "$S_URL" --model m -n 1 "${FAST[@]}"
grep -q "in use by another seize process" "$TMP/err" || fail "caption lock: $(cat "$TMP/err")"
kill -INT "$pid"; kill -INT "$pid" 2>/dev/null; wait "$pid"
# once the first is gone the lock is free
expect_status 0 seize reason --input "$TMP/q.jsonl" --out "$TMP/l.jsonl" --endpoint "$S_URL" --model m "${FAST[@]}"

# --- 2. FIFOs, devices, /dev/zero: refused without blocking, named
mkfifo "$TMP/fifo"
R=(--out "$TMP/x.jsonl" --endpoint "$S_URL" --model m "${FAST[@]}")
n0=$(requests)
for src in "$TMP/fifo" /dev/zero /dev/null; do
  expect_status 1 timeout 20 "$SEIZE_BIN" reason --input "$src" "${R[@]}"
  grep -q "$src" "$TMP/err" || fail "reason --input $src: $(cat "$TMP/err")"
  expect_status 1 timeout 20 "$SEIZE_BIN" reason --input "$TMP/q.jsonl" --prompt-file "$src" "${R[@]}"
  grep -q "$src" "$TMP/err" || fail "--prompt-file $src: $(cat "$TMP/err")"
  expect_status 1 timeout 20 "$SEIZE_BIN" caption --list "$src" "${R[@]}"
  grep -q "$src" "$TMP/err" || fail "caption --list $src: $(cat "$TMP/err")"
  expect_status 1 timeout 20 "$SEIZE_BIN" caption "$TMP/img/a.png" "$src" "${R[@]}"
  grep -q "$src" "$TMP/err" && grep -q "not a regular file" "$TMP/err" || fail "caption image $src: $(cat "$TMP/err")"
done
[ "$(requests)" -eq "$n0" ] || fail "refused inputs sent requests"

# --- 3. size limits, before any request, naming the query
"$PYTHON" - "$TMP/q.jsonl" "$TMP/big.jsonl" "$TMP/bigtext.jsonl" <<'EOF'
import json, sys
qs = [json.loads(l) for l in open(sys.argv[1])]
qs[2]["captions"][1] = "x" * (5 << 20)
open(sys.argv[2], "w").write("".join(json.dumps(q) + "\n" for q in qs))
qs = [json.loads(l) for l in open(sys.argv[1])]
qs[3]["relative_text"] = "y" * (65 << 10)
open(sys.argv[3], "w").write("".join(json.dumps(q) + "\n" for q in qs))
EOF
n0=$(requests)
expect_status 1 seize reason --input "$TMP/big.jsonl" "${R[@]}"
grep -q "query 2" "$TMP/err" && grep -q "caption 1" "$TMP/err" && grep -q "limit of 65536" "$TMP/err" ||
  fail "big caption: $(cat "$TMP/err")"
expect_status 1 seize reason --input "$TMP/bigtext.jsonl" "${R[@]}"
grep -q "query 3" "$TMP/err" && grep -q "relative text" "$TMP/err" || fail "big relative text: $(cat "$TMP/err")"
head -c 70000 /dev/zero | tr '\0' 'z' >"$TMP/bigprompt.txt"
printf '{caption} {instruction}\n' >>"$TMP/bigprompt.txt"
expect_status 1 seize reason --input "$TMP/q.jsonl" --prompt-file "$TMP/bigprompt.txt" "${R[@]}"
grep -q "bigprompt.txt" "$TMP/err" || fail "big prompt file: $(cat "$TMP/err")"
[ "$(requests)" -eq "$n0" ] || fail "over-limit inputs sent requests"

# --- 4. relative paths are taken from the current directory
mkdir -p "$TMP/work/sub"
cp "$TMP/q.jsonl" "$TMP/work/sub/q.jsonl"
printf 'C: {caption}\nI: {instruction}\n' >"$TMP/work/sub/p.txt"
cp "$TMP/img/a.png" "$TMP/img/b.png" "$TMP/work/sub/"
printf 'sub/a.png\nsub/b.png\n' >"$TMP/work/sub/list.txt"
(cd "$TMP/work" && "$SEIZE_BIN" reason --input sub/q.jsonl --prompt-file sub/p.txt --out e.jsonl \
   --endpoint "$S_URL" --model m "${FAST[@]}") || fail "reason with relative paths"
[ -s "$TMP/work/e.jsonl" ] && [ -s "$TMP/work/e.jsonl.journal" ] && [ -s "$TMP/work/e.jsonl.settings.json" ] ||
  fail "relative --out: files not in the current directory"
$CHK reason "$TMP/q.jsonl" "$TMP/work/e.jsonl" --prompt-file "$TMP/work/sub/p.txt" >/dev/null || fail "relative: edits"
(cd "$TMP/work" && "$SEIZE_BIN" caption --list sub/list.txt -n 2 --out c.jsonl --endpoint "$S_URL" --model m "${FAST[@]}") ||
  fail "caption with relative paths"
grep -q '"image":"sub/a.png"' "$TMP/work/c.jsonl" || fail "relative caption output: $(cat "$TMP/work/c.jsonl")"

# --- 5. dataset layout checked before any request
cat >"$TMP/fiq.json" <<'EOF'
[{"target": "T1", "candidate": "a", "captions": ["is red", "has long sleeves"]},
 {"target": "T2", "candidate": "m1", "captions": ["is blue", "is shorter"]},
 {"target": "T3", "candidate": "m2", "captions": ["is green", "has a collar"]},
 {"target": "T4", "candidate": "m3", "captions": ["is green", "has a collar"]},
 {"target": "T5", "candidate": "m4", "captions": ["is green", "has a collar"]},
 {"target": "T6", "candidate": "b", "captions": ["is green", "has a collar"]}]
EOF
D=(-n 2 --out "$TMP/d.jsonl" --endpoint "$S_URL" --model m "${FAST[@]}")
n0=$(requests)
expect_status 1 seize caption --dataset fashioniq --input "$TMP/fiq.json" --images "$TMP/nowhere" "${D[@]}"
grep -q "image folder '$TMP/nowhere' does not exist" "$TMP/err" || fail "missing folder: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "missing folder reported more than once: $(cat "$TMP/err")"
expect_status 1 seize caption --dataset fashioniq --input "$TMP/nothere.json" --images "$TMP/img" "${D[@]}"
grep -q "nothere.json" "$TMP/err" || fail "missing annotation file: $(cat "$TMP/err")"
expect_status 1 seize caption --dataset fashioniq --input "$TMP/fiq.json" --images "$TMP/img" "${D[@]}"
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "missing images: more than one line: $(cat "$TMP/err")"
grep -q "4 of 6 reference images are missing from '$TMP/img' (first: .*m1.jpg.*m2.jpg.*m3.jpg.*, ...)" "$TMP/err" ||
  fail "missing images summary: $(cat "$TMP/err")"
[ "$(requests)" -eq "$n0" ] || fail "a broken dataset layout sent requests"
# seize reason --captions without captions for some reference images: one line, no request
printf '{"image": "%s/img/a.png", "captions": ["c1", "c2"]}\n' "$TMP" >"$TMP/caps.jsonl"
expect_status 1 seize reason --dataset fashioniq --input "$TMP/fiq.json" --captions "$TMP/caps.jsonl" "${R[@]}"
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "reason --captions: more than one line: $(cat "$TMP/err")"
grep -q "for the reference images of 5 of 6 queries (first: 'm1', 'm2', 'm3')" "$TMP/err" ||
  fail "reason --captions summary: $(cat "$TMP/err")"
[ "$(requests)" -eq "$n0" ] || fail "missing captions sent requests"

# --- 6. images that cannot be captioned: named, exit 3, never sent, no rerun suggested
printf 'hello\n' >"$TMP/img/notes.jpg"
head -c 60 "$TMP/img/c.png" >"$TMP/img/cut.png"
n0=$(requests)
expect_status 3 seize caption "$TMP/img/a.png" "$TMP/img/notes.jpg" "$TMP/img/cut.png" -n 2 --out "$TMP/p.jsonl" \
  --endpoint "$S_URL" --model m "${FAST[@]}"
grep -q "notes.jpg: not a JPEG, PNG, GIF or WebP file" "$TMP/err" || fail "non-image: $(cat "$TMP/err")"
grep -q "cut.png: " "$TMP/err" || fail "corrupt image: $(cat "$TMP/err")"
grep -qi "rerun\|retry" "$TMP/err" && fail "a permanent failure suggests a rerun: $(cat "$TMP/err")"
[ "$(($(requests) - n0))" -eq 1 ] || fail "bad images were sent: $(($(requests) - n0)) requests"
[ "$(wc -l <"$TMP/p.jsonl")" -eq 1 ] || fail "the good image is not in the output"
# a server failure, by contrast, says a rerun retries it
start_llm_server F --faults 500 --fault-every 1 --fault-attempts 100
expect_status 3 seize caption "$TMP/img/a.png" -n 1 --out "$TMP/f.jsonl" --endpoint "$F_URL" --model m "${FAST[@]}"
grep -q "rerun the same command to retry" "$TMP/err" || fail "retryable failure: $(cat "$TMP/err")"
exit 0
