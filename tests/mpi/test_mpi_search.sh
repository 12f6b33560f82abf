#!/usr/bin/env bash
# mpirun -np 1..4 seize search on a single index: rankings.jsonl byte-identical to one process's
# for seize (neg >= pos and neg < pos), mean and LDRE, with exclusions, subsets, a CIRR
# annotation file, other blocks and a float16 index; errors of rank 0 fail the job with them.
. "$(dirname "$0")/lib.sh"
need_numpy
REF="$PYTHON $TOP/tests/search_reference.py"
D=$TMP/rand; mkdir -p "$D"
$REF gen "$D" --n 2000 --dim 40 --queries 11 --captions 4 --seed 3 || fail "gen"
# duplicated gallery rows (exact ties across ranks' slices), subsets and a CIRR file from names
$PYTHON - "$D" <<'PY'
import json, sys, numpy as np
d = sys.argv[1]; r = np.random.default_rng(9)
g = np.load(f"{d}/gallery.npy"); g[1999] = g[3]; g[1000] = g[999]; g[1500] = g[10]
np.save(f"{d}/gallery.npy", g)
names = open(f"{d}/names.txt").read().split()
refs = open(f"{d}/refs.txt").read().split("\n")[:11]
with open(f"{d}/subsets.txt", "w") as f:
    for q in range(11):
        m = [names[i] for i in r.choice(2000, 6, replace=False)]
        f.write(" ".join(([refs[q]] if refs[q] else []) + m) + "\n")
ann = [{"pairid": q, "reference": names[(q * 181) % 2000], "caption": "x",
        "target_hard": names[q], "img_set": {"members": [names[(q * 181) % 2000]] +
        [names[i] for i in r.choice(2000, 5, replace=False)]}} for q in range(11)]
json.dump(ann, open(f"{d}/cirr.json", "w"))
PY
expect_status 0 seize index import --features "$D/gallery.npy" --names "$D/names.txt" --out "$D/ix"
expect_status 0 seize index import --features "$D/gallery.npy" --names "$D/names.txt" --out "$D/ix16" --dtype f16
n=0
# check NAME ARGS...: one process, then 2, 3 and 4 ranks (and 1 under mpirun): the same bytes
check() {
  local name=$1 p; shift
  expect_status 0 seize search "$@" --out "$D/one.jsonl"
  for p in 1 2 3 4; do
    expect_status 0 mpi $p search "$@" --out "$D/p$p.jsonl"
    same "$D/one.jsonl" "$D/p$p.jsonl" "$name, $p ranks"
  done
  n=$((n + 1))
}
S="--after $D/after.npy --before $D/before.npy"
L="--after $D/after3.npy --before $D/before3.npy --method ldre"
check "seize" --index "$D/ix" $S --k 60
check "seize, exclusions, subsets" --index "$D/ix" $S --k 60 --exclude "$D/refs.txt" --subsets "$D/subsets.txt"
check "neg < pos" --index "$D/ix" $S --pos 1.5 --neg 0.3 --k 30 --exclude "$D/refs.txt" --block 77
check "mean, whole gallery" --index "$D/ix" --after "$D/after.npy" --method mean --k 2000 --exclude "$D/refs.txt"
check "ldre, subsets" --index "$D/ix" $L --k 40 --exclude "$D/refs.txt" --subsets "$D/subsets.txt"
check "cirr annotations" --index "$D/ix" $S --dataset cirr --annotations "$D/cirr.json" --k 50
check "ldre, cirr" --index "$D/ix" $L --dataset cirr --annotations "$D/cirr.json" --k 50 --block 300
check "f16 index" --index "$D/ix16" $S --k 25 --exclude "$D/refs.txt" --subsets "$D/subsets.txt"
check "f16 mean" --index "$D/ix16" --after "$D/after.npy" --method mean --k 25
grep -q '"subset"' "$D/p3.jsonl" || true
# the merged ranking really spans the ranks: rows of the last quarter are ranked
$PYTHON - "$D/p4.jsonl" "$D/names.txt" <<'PY' || fail "rankings do not span the gallery"
import json, sys
names = open(sys.argv[2]).read().split(); pos = {n: i for i, n in enumerate(names)}
rows = {pos[x] for l in open(sys.argv[1]) for x in json.loads(l)["ranking"]}
assert min(rows) < 500 and max(rows) >= 1500, (min(rows), max(rows))
PY
# more ranks than rows: the empty ranks take part
$PYTHON -c "import numpy as np; np.save('$TMP/g3.npy', np.eye(3, 40, dtype=np.float32))"
printf 'a\nb\nc\n' > "$TMP/n3.txt"
expect_status 0 seize index import --features "$TMP/g3.npy" --names "$TMP/n3.txt" --out "$TMP/ix3"
expect_status 0 seize search --index "$TMP/ix3" $S --k 5 --out "$TMP/one.jsonl"
expect_status 0 mpi 4 search --index "$TMP/ix3" $S --k 5 --out "$TMP/p4.jsonl"
same "$TMP/one.jsonl" "$TMP/p4.jsonl" "4 ranks over 3 rows"
# rank 0's error ends every rank with its message
printf 'nope\n' > "$TMP/bad.txt"
expect_status 1 mpi 3 search --index "$D/ix" $S --exclude "$TMP/bad.txt" --out "$TMP/x.jsonl"
grep -q "rank 0 of 3: .*bad.txt" "$TMP/err" || { cat "$TMP/err" >&2; fail "rank 0's error"; }
[ "$(grep -c "error: rank 0 of 3" "$TMP/err")" -eq 1 ] || fail "the error is said more than once"
[ -e "$TMP/x.jsonl" ] && fail "a failed search wrote its output"
echo "  ok: $n searches byte-identical on 1-4 ranks" >&2
exit 0
