#!/usr/bin/env bash
# seize index import + seize search against the numpy reference (tests/search_reference.py):
# several (pos, neg), with and without exclusions, mean and LDRE, float16 index, exact ties.
. "$(dirname "$0")/lib.sh"
REF="$PYTHON $TOP/tests/search_reference.py"
need_numpy

expect_status 0 seize search --help
grep -q "neg\*min(d, 0)" "$TMP/out" || fail "search --help does not state the score"
grep -q -- "--dataset D .*circo, cirr or fashioniq" "$TMP/out" || fail "search --help does not name the datasets"
expect_status 0 seize index --help

# --- random data
D=$TMP/rand; mkdir -p "$D"
$REF gen "$D" --n 600 --dim 24 --queries 9 --captions 5 || fail "gen"
expect_status 0 seize index import --features "$D/gallery.npy" --names "$D/names.txt" --out "$D/ix"
for f in features.npy names.txt index.json; do [ -f "$D/ix/$f" ] || fail "index lacks $f"; done
for pn in "0.13 2.1" "0.22 1.0" "0 0" "1.5 0.3" "0 3"; do
  set -- $pn
  expect_status 0 seize search --index "$D/ix" --after "$D/after.npy" --before "$D/before.npy" \
      --pos "$1" --neg "$2" --k 40 --threads 2 --out "$D/r.jsonl"
  $REF check "$D" "$D/r.jsonl" --pos "$1" --neg "$2" --k 40 --index "$D/ix" >&2 || fail "pos $1 neg $2 without exclusions"
  expect_status 0 seize search --index "$D/ix" --after "$D/after.npy" --before "$D/before.npy" \
      --pos "$1" --neg "$2" --k 40 --exclude "$D/refs.txt" --block 64 --out "$D/r.jsonl"
  $REF check "$D" "$D/r.jsonl" --pos "$1" --neg "$2" --k 40 --exclude >&2 || fail "pos $1 neg $2 with exclusions"
done
expect_status 0 seize search --index "$D/ix" --after "$D/after.npy" --method mean --k 600 \
    --exclude "$D/refs.txt" --out "$D/r.jsonl"
$REF check "$D" "$D/r.jsonl" --method mean --k 600 --exclude >&2 || fail "mean, whole gallery"
expect_status 0 seize search --index "$D/ix" --after "$D/after3.npy" --before "$D/before3.npy" \
    --method ldre --k 30 --exclude "$D/refs.txt" --out "$D/r.jsonl"
$REF check "$D" "$D/r.jsonl" --method ldre --k 30 --exclude >&2 || fail "ldre"
expect_status 0 seize index import --features "$D/gallery.npy" --names "$D/names.txt" --out "$D/ix16" --dtype f16
grep -q '"dtype": "f16"' "$D/ix16/index.json" || fail "f16 index.json"
expect_status 0 seize search --index "$D/ix16" --after "$D/after.npy" --before "$D/before.npy" \
    --k 25 --exclude "$D/refs.txt" --out "$D/r.jsonl"
$REF check "$D" "$D/r.jsonl" --k 25 --exclude --index "$D/ix16" >&2 || fail "f16 index"

# --- dyadic data: exact scores, exact rankings, exact ties broken by gallery row
E=$TMP/dy; mkdir -p "$E"
$REF gen "$E" --n 800 --dim 16 --queries 8 --dyadic --seed 7 || fail "gen dyadic"
expect_status 0 seize index import --features "$E/gallery.npy" --names "$E/names.txt" --out "$E/ix"
for pn in "0.125 2" "0.25 1" "0 0" "2 0.5"; do
  set -- $pn
  expect_status 0 seize search --index "$E/ix" --after "$E/after.npy" --before "$E/before.npy" \
      --pos "$1" --neg "$2" --k 100 --exclude "$E/refs.txt" --block 37 --out "$E/r.jsonl"
  $REF check "$E" "$E/r.jsonl" --pos "$1" --neg "$2" --k 100 --exclude --exact --min-ties 50 >&2 \
      || fail "dyadic pos $1 neg $2"
done

# --- errors
$PYTHON -c "import numpy as np; np.save('$TMP/d5.npy', np.ones((9, 5), np.float32))"
expect_status 1 seize search --index "$D/ix" --after "$TMP/d5.npy" --before "$TMP/d5.npy" --out "$TMP/x.jsonl"
grep -q "dimension 5" "$TMP/err" || fail "dimension mismatch message"
printf 'nope\n' > "$TMP/refs1.txt"
expect_status 1 seize search --index "$D/ix" --after "$D/after.npy" --before "$D/before.npy" \
    --exclude "$TMP/refs1.txt" --out "$TMP/x.jsonl"
grep -q "lines" "$TMP/err" || fail "short exclude file message"
expect_status 2 seize search --index "$D/ix" --after "$D/after.npy" --out "$TMP/x.jsonl"
expect_status 2 seize search --index "$D/ix" --after "$D/after.npy" --before "$D/before.npy" --method foo --out x
expect_status 1 seize index import --features "$D/gallery.npy" --names "$TMP/refs1.txt" --out "$TMP/ix"
if [ -e "$TMP/x.jsonl" ]; then fail "a failed search left an output file"; fi
exit 0
