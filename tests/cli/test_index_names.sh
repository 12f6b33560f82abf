#!/usr/bin/env bash
# Gallery names and folder scanning: a non-UTF-8 (Latin-1) or multi-line file name is refused
# by index build before anything is encoded and named with \xNN escapes; names.txt with such a
# line is refused by search and index import with file:line; a symlink loop does not multiply
# images; FIFOs and devices are refused without blocking; relative paths; duplicate stems; a
# missing dataset folder is named once and missing images get one summary line.
. "$(dirname "$0")/lib.sh"
need_fixtures
need_numpy
FIX=$(cd "$FIX" && pwd)
M=$TMP/model; tiny_model "$M"
ok_images() { mkdir -p "$1"; cp "$FIX/images/rocket.jpg" "$FIX/images/FreshFlower.jpg" "$1/"; }

# --- a Latin-1 name: refused while scanning, named, nothing encoded (no model load needed)
ok_images "$TMP/g1"
cp "$FIX/images/rocket.jpg" "$TMP/g1/r$(printf '\351')sum$(printf '\351').jpg"
expect_status 1 seize index build --model "$M" --gallery "$TMP/g1" --out "$TMP/ix1" -q
grep -qF "'r\\xe9sum\\xe9.jpg'" "$TMP/err" || { cat "$TMP/err" >&2; fail "Latin-1 name not named with escapes"; }
grep -q "UTF-8" "$TMP/err" && grep -q "rename" "$TMP/err" || fail "the error does not say what is wrong and how to fix it"
grep -q "nothing was encoded" "$TMP/err" || fail "the error does not say nothing was encoded"
[ -e "$TMP/ix1/build.partial" ] || [ -e "$TMP/ix1/features.npy" ] && fail "something was encoded"
# the same through --images and a --list with that name
expect_status 1 seize index build --model "$M" --images "$TMP/g1" --out "$TMP/ix1" -q
grep -qF 'r\xe9sum\xe9' "$TMP/err" || fail "--images: Latin-1 name not named"
printf 'r\351sum\351\t%s\n' "$TMP/g1/rocket.jpg" > "$TMP/l1.txt"
expect_status 1 seize index build --model "$M" --list "$TMP/l1.txt" --out "$TMP/ix1" -q
grep -qF "l1.txt' line 1" "$TMP/err" || fail "--list: bad name without file:line"

# --- a name with a line break, and one with a tab
ok_images "$TMP/g2"
cp "$FIX/images/rocket.jpg" "$TMP/g2/two
lines.jpg"
cp "$FIX/images/rocket.jpg" "$TMP/g2/tab	x.png"
expect_status 1 seize index build --model "$M" --gallery "$TMP/g2" --out "$TMP/ix2" -q
grep -qF 'two\x0alines.jpg' "$TMP/err" || fail "name with a line break not named"
grep -qF 'tab\x09x.png' "$TMP/err" || fail "name with a tab not named"
grep -q "2 entries" "$TMP/err" || fail "the count of bad names is missing"

# --- names.txt with a Latin-1 line: search and import refuse it with file:line
ok_images "$TMP/g3"
expect_status 0 seize index build --model "$M" --gallery "$TMP/g3" --out "$TMP/ix3" -q
$PYTHON - "$TMP" <<'PY'
import sys, numpy as np
t = sys.argv[1]
np.save(f"{t}/A.npy", np.ones((1, np.load(f"{t}/ix3/features.npy").shape[1]), np.float32))
PY
expect_status 0 seize search --index "$TMP/ix3" --after "$TMP/A.npy" --method mean --k 2 --out "$TMP/r.jsonl"
printf 'FreshFlower.jpg\nr\351sum\351.jpg\n' > "$TMP/ix3/names.txt"
expect_status 1 seize search --index "$TMP/ix3" --after "$TMP/A.npy" --method mean --k 2 --out "$TMP/r2.jsonl"
grep -qF "names.txt' line 2" "$TMP/err" || { cat "$TMP/err" >&2; fail "search: bad names.txt line not named"; }
grep -qF 'r\xe9sum\xe9.jpg' "$TMP/err" || fail "search: bad name not shown escaped"
[ -e "$TMP/r2.jsonl" ] && fail "search wrote rankings from a bad names.txt"
cp "$TMP/ix3/names.txt" "$TMP/bad-names.txt"
expect_status 1 seize index import --features "$TMP/ix3/features.npy" --names "$TMP/bad-names.txt" --out "$TMP/imp"
grep -qF "bad-names.txt' line 2" "$TMP/err" || fail "import: bad name line not named"
printf 'a\tb\nc\n' > "$TMP/tab-names.txt"
expect_status 1 seize index import --features "$TMP/ix3/features.npy" --names "$TMP/tab-names.txt" --out "$TMP/imp"
grep -qF "tab-names.txt' line 1" "$TMP/err" && grep -q "control character" "$TMP/err" || fail "import: tab not refused"

# --- a symlink to '.' and to a parent: each image once; a second path to a file: once
ok_images "$TMP/g4"
mkdir -p "$TMP/g4/sub"
cp "$FIX/images/rocket.jpg" "$TMP/g4/sub/deep.jpg"
ln -s . "$TMP/g4/self"; ln -s .. "$TMP/g4/sub/up"; ln -s ../rocket.jpg "$TMP/g4/sub/zz.jpg"
expect_status 0 seize index build --model "$M" --gallery "$TMP/g4" --out "$TMP/ix4"
printf 'FreshFlower.jpg\nrocket.jpg\nsub/deep.jpg\n' | cmp -s - "$TMP/ix4/names.txt" || { cat "$TMP/ix4/names.txt" >&2; fail "loop or second path multiplied images"; }
grep -q "skipped" "$TMP/err" || fail "no note about the skipped links"

# --- FIFOs and devices: refused at once, named (timeout guards against a blocked open)
ok_images "$TMP/g5"
mkfifo "$TMP/g5/pipe.jpg"
expect_status 1 timeout 20 "$SEIZE_BIN" index build --model "$M" --gallery "$TMP/g5" --out "$TMP/ix5" -q
grep -q "pipe.jpg" "$TMP/err" && grep -q "FIFO" "$TMP/err" || fail "FIFO in the gallery not refused"
printf 'z\t/dev/zero\np\t%s\nr\t%s\n' "$TMP/g5/pipe.jpg" "$TMP/g5/rocket.jpg" > "$TMP/l5.txt"
expect_status 1 timeout 20 "$SEIZE_BIN" index build --model "$M" --list "$TMP/l5.txt" --out "$TMP/ix5" -q
grep -q "/dev/zero" "$TMP/err" && grep -q "pipe.jpg" "$TMP/err" || fail "device or FIFO in a list not refused"

# --- duplicate stems with --images: refused before encoding, both files named
ok_images "$TMP/g6"
cp "$FIX/images/rocket.jpg" "$TMP/g6/rocket.png"
expect_status 1 seize index build --model "$M" --images "$TMP/g6" --out "$TMP/ix6" -q
grep -q "rocket.jpg" "$TMP/err" && grep -q "rocket.png" "$TMP/err" || fail "duplicate stems not named"

# --- relative paths are taken from the current folder
mkdir -p "$TMP/cwd/photos" && ok_images "$TMP/cwd/photos"
( cd "$TMP/cwd" && "$SEIZE_BIN" index build --model "$M" --gallery photos --out rel-ix -q ) 2>"$TMP/err" || { cat "$TMP/err" >&2; fail "relative --gallery/--out"; }
[ -s "$TMP/cwd/rel-ix/features.npy" ] || fail "relative --out not written in the current folder"

for c in index search encode-images encode-texts preprocess tokenize query-features eval submission check-submission; do
  seize $c --help 2>/dev/null | grep -q "current folder" || fail "$c --help does not state how relative paths resolve"
done
# the import synopsis stands out from build's continued lines (less indented)
"$SEIZE_BIN" index --help | awk '!d && /^ +--dataset/ { d = match($0, /[^ ]/) } /^ +import / { i = match($0, /[^ ]/) }
  END { exit !(i && d > i) }' || fail "index --help: import reads as part of build's synopsis"

# --- a dataset whose image folder is missing: named once; missing images: one line
mkdir -p "$TMP/fiq"
printf '["a1", "a2", "a3"]' > "$TMP/fiq/split.dress.val.json"
expect_status 1 seize index build --model "$M" --dataset fashioniq --gallery "$TMP/fiq/split.dress.val.json" \
    --root "$TMP/fiq/nowhere" --out "$TMP/ix7" -q
[ "$(grep -c "nowhere" "$TMP/err")" -eq 1 ] || { cat "$TMP/err" >&2; fail "missing folder not named exactly once"; }
mkdir -p "$TMP/fiq/img"; cp "$FIX/images/rocket.jpg" "$TMP/fiq/img/a2.png"
expect_status 3 seize index build --model "$M" --dataset fashioniq --gallery "$TMP/fiq/split.dress.val.json" \
    --root "$TMP/fiq/img" --out "$TMP/ix7" -q
[ "$(grep -c "a1" "$TMP/err")" -eq 1 ] || { cat "$TMP/err" >&2; fail "missing images not in one summary line"; }
grep -q "2 of 3 images are missing" "$TMP/err" || fail "no summary count of missing images"
exit 0
