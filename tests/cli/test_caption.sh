#!/usr/bin/env bash
# seize caption against the local test server: images go as base64 data URLs, N samples per
# image through the `n` parameter or (when the server ignores or rejects it) N requests; faults
# are retried; a file that is not an image fails alone and is named; resume from the journal;
# --list and --dataset inputs; captions feed seize reason --captions.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/servers/server.sh"
FAST=(--timeout 1 --backoff-base 0.01 --backoff-max 0.05 --concurrency 4 -q)

expect_status 0 seize caption --help
grep -q -- "--list" "$TMP/out" || fail "--help does not describe --list"
grep -q -- "--n-mode MODE .*auto (default), param or requests" "$TMP/out" || fail "--help does not name the --n-mode values"
expect_status 2 seize caption --out x.jsonl --endpoint http://127.0.0.1:1/v1 --model m
expect_status 2 seize caption a.jpg --out x.jsonl --endpoint http://127.0.0.1:1/v1 --model m -n 0
expect_status 1 seize caption "$TMP/missing.jpg" --out x.jsonl --endpoint http://127.0.0.1:1/v1 --model m
grep -q "missing.jpg" "$TMP/err" || fail "missing image not named"

# Images: valid JPEG and PNG files with distinct bytes (magic numbers pick the MIME type; corrupt
# ones are refused before any request).
mkdir -p "$TMP/img"
"$PYTHON" - "$TMP/img" "$FIX/images/rocket.jpg" <<'EOF'
import os, random, struct, sys, zlib
d = sys.argv[1]
jpeg = open(sys.argv[2], "rb").read() if os.path.exists(sys.argv[2]) else None
def png(w, h, data):
    raw = b"".join(b"\0" + data[y * w * 3:(y + 1) * w * 3] for y in range(h))
    chunk = lambda t, c: struct.pack(">I", len(c)) + t + c + struct.pack(">I", zlib.crc32(t + c))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
for i in range(6):
    rnd = random.Random(1234 + i)
    with open(f"{d}/B00{i}.{'jpg' if i % 2 == 0 else 'png'}", "wb") as f:
        if i % 2 == 0 and jpeg:  # the same picture, told apart by bytes after its end marker
            f.write(jpeg + rnd.randbytes(100 + 977 * i))
        else:
            f.write(png(16 + i, 12, rnd.randbytes((16 + i) * 12 * 3)))
open(f"{d}/notes.txt", "w").write("not an image\n")
EOF
ls "$TMP"/img/B00* >"$TMP/list.txt"

# check_caps OUT N [IMAGES...]: every image has N distinct captions made from its own bytes
check_caps() {
  "$PYTHON" - "$@" <<'EOF' || fail "wrong captions in $1"
import hashlib, json, sys
out, n, images = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
recs = [json.loads(l) for l in open(out)]
got = [r["image"] for r in recs]
if got != images:
    sys.exit(f"images {got} != {images}")
for r in recs:
    d = hashlib.sha1(open(r["image"], "rb").read()).hexdigest()[:10]
    caps = r["captions"]
    if len(caps) != n or len(set(caps)) != n:
        sys.exit(f"{r['image']}: {len(caps)} captions ({len(set(caps))} distinct), expected {n}")
    for c in caps:
        if not c.startswith(f"a photo of {d} sample "):
            sys.exit(f"{r['image']}: caption {c!r} is not for this image")
EOF
}
mapfile -t IMGS <"$TMP/list.txt"

# 1. the server takes n: one request per image; defaults top_p 0.9, temperature 1.0
start_llm_server S --fault-every 2 --faults 429,500,drop,malformed,truncate,slow --slow 3 --retry-after 1
expect_status 0 seize caption "${IMGS[@]}" -n 5 --out "$TMP/c1.jsonl" --endpoint "$S_URL" --model vlm "${FAST[@]}"
check_caps "$TMP/c1.jsonl" 5 "${IMGS[@]}"
"$PYTHON" - "$S_LOG" <<'EOF' || fail "caption requests"
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
ok = [r for r in log if r["fault"] is None]
assert len(ok) == 6, f"{len(ok)} answered requests, expected 6"
assert all(r["n"] == 5 and r["top_p"] == 0.9 and r["temperature"] == 1.0 for r in log), log[0]
assert any(r["fault"] for r in log), "no fault injected"
EOF
# resume: a second run sends nothing
L=$(wc -l <"$S_LOG")
expect_status 0 seize caption "${IMGS[@]}" -n 5 --out "$TMP/c1.jsonl" --endpoint "$S_URL" --model vlm "${FAST[@]}"
[ "$(wc -l <"$S_LOG")" -eq "$L" ] || fail "a complete run sent requests again"
# asking for more samples fetches only the missing ones
expect_status 0 seize caption "${IMGS[@]}" -n 7 --out "$TMP/c1.jsonl" --endpoint "$S_URL" --model vlm "${FAST[@]}"
check_caps "$TMP/c1.jsonl" 7 "${IMGS[@]}"

# 2. a server that ignores n: auto mode falls back to separate requests, seeds vary per sample
start_llm_server I --n-mode ignore
expect_status 0 seize caption --list "$TMP/list.txt" -n 4 --seed 100 --out "$TMP/c2.jsonl" \
  --endpoint "$I_URL" --model vlm "${FAST[@]}"
check_caps "$TMP/c2.jsonl" 4 "${IMGS[@]}"
"$PYTHON" - "$I_LOG" <<'EOF' || fail "n ignored: requests"
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
per = {}
for r in log:
    per.setdefault(r["image"], []).append(r)
assert len(per) == 6
singles = [r for r in log if r["n"] == 1]
assert len(singles) >= 6 * 3, f"{len(singles)} single requests"
# the single-sample requests of an image carry distinct seeds
for img, rs in per.items():
    seeds = [r["seed"] for r in rs if r["n"] == 1]
    assert len(seeds) == len(set(seeds)), seeds
EOF

# 3. a server that rejects n > 1 (400): fall back without counting a failure; --n-mode requests
start_llm_server R --n-mode reject
expect_status 0 seize caption "${IMGS[@]:0:3}" -n 3 --out "$TMP/c3.jsonl" --endpoint "$R_URL" --model vlm "${FAST[@]}"
check_caps "$TMP/c3.jsonl" 3 "${IMGS[@]:0:3}"
expect_status 0 seize caption "${IMGS[@]:3:3}" -n 3 --n-mode requests --out "$TMP/c4.jsonl" \
  --endpoint "$R_URL" --model vlm "${FAST[@]}"
check_caps "$TMP/c4.jsonl" 3 "${IMGS[@]:3:3}"
expect_status 3 seize caption "${IMGS[@]:3:1}" -n 3 --n-mode param --out "$TMP/c5.jsonl" \
  --endpoint "$R_URL" --model vlm --timeout 1 --max-attempts 2 -q
grep -q "HTTP 400" "$TMP/err" || fail "--n-mode param: the 400 is not reported"

# 4. a file that is not an image fails alone, named, exit 3; the others are written
expect_status 3 seize caption "${IMGS[@]:0:2}" "$TMP/img/notes.txt" -n 2 --out "$TMP/c6.jsonl" \
  --endpoint "$S_URL" --model vlm "${FAST[@]}"
grep -q "notes.txt" "$TMP/err" || fail "the non-image is not named"
check_caps "$TMP/c6.jsonl" 2 "${IMGS[@]:0:2}"

# 5. --dataset fashioniq: the reference images of the queries; then seize reason --captions
cat >"$TMP/fiq.json" <<'EOF'
[{"target": "T1", "candidate": "B000", "captions": ["is red", "has long sleeves"]},
 {"target": "T2", "candidate": "B001", "captions": ["is blue", "is shorter"]},
 {"target": "T3", "candidate": "B000", "captions": ["is green", "has a collar"]}]
EOF
expect_status 0 seize caption --dataset fashioniq --input "$TMP/fiq.json" --images "$TMP/img" -n 3 \
  --out "$TMP/c7.jsonl" --endpoint "$S_URL" --model vlm "${FAST[@]}"
# B000 only has a .jpg: the .png name is tried first, then .jpg
check_caps "$TMP/c7.jsonl" 3 "$TMP/img/B000.jpg" "$TMP/img/B001.png"
expect_status 0 seize reason --dataset fashioniq --input "$TMP/fiq.json" --captions "$TMP/c7.jsonl" \
  --fiq-join " and " --out "$TMP/e7.jsonl" --endpoint "$S_URL" --model llm "${FAST[@]}"
"$PYTHON" - "$TMP/c7.jsonl" "$TMP/e7.jsonl" <<'EOF' || fail "reason --captions"
import json, sys
caps = {r["image"].rsplit("/", 1)[1].split(".")[0]: r["captions"] for r in map(json.loads, open(sys.argv[1]))}
out = [json.loads(l) for l in open(sys.argv[2])]
assert [o["id"] for o in out] == [0, 1, 2], [o["id"] for o in out]
for o in out:
    assert o["captions"] == caps[o["candidate"]], o
    assert o["relative_text"] == " and ".join(o["relative_captions"]), o
    assert len(o["edited"]) == 3
    for c, e in zip(o["captions"], o["edited"]):
        assert e.startswith(f"{c} => {o['relative_text']} #"), (c, e)
EOF
# 6. --dataset cirr with the split file locating the images in sub-folders
mkdir -p "$TMP/cirr/test1"
cp "$TMP/img/B001.png" "$TMP/cirr/test1/test1-1-0-img0.png"
cp "$TMP/img/B003.png" "$TMP/cirr/test1/test1-2-0-img1.png"
cat >"$TMP/cirr.json" <<'EOF'
[{"pairid": 5, "reference": "test1-1-0-img0", "caption": "add a dog", "img_set": {"id": 1, "members": ["test1-1-0-img0", "test1-2-0-img1"]}},
 {"pairid": 6, "reference": "test1-2-0-img1", "caption": "remove the dog", "img_set": {"id": 2, "members": ["test1-1-0-img0", "test1-2-0-img1"]}}]
EOF
printf '{"test1-1-0-img0": "./test1/test1-1-0-img0.png", "test1-2-0-img1": "./test1/test1-2-0-img1.png"}\n' >"$TMP/split.json"
expect_status 0 seize caption --dataset cirr --input "$TMP/cirr.json" --images "$TMP/cirr" --split "$TMP/split.json" \
  -n 2 --out "$TMP/c8.jsonl" --endpoint "$S_URL" --model vlm "${FAST[@]}"
check_caps "$TMP/c8.jsonl" 2 "$TMP/cirr/test1/test1-1-0-img0.png" "$TMP/cirr/test1/test1-2-0-img1.png"
expect_status 2 seize caption --dataset fashioniq --input "$TMP/fiq.json" --images "$TMP/img" --split "$TMP/split.json" \
  --out "$TMP/c9.jsonl" --endpoint "$S_URL" --model vlm "${FAST[@]}"
exit 0
