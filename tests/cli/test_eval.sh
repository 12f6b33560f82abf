#!/usr/bin/env bash
# seize eval / submission / check-submission end to end on the official annotation files:
# the official CIRCO example, a CIRR test1 round trip (search -> submission -> check) and
# metrics recomputed independently in Python from the rankings.
. "$(dirname "$0")/lib.sh"
DATA=${SEIZE_DATA:-$TOP/../shared/data}
[ -f "$DATA/circo/val.json" ] || { echo "  skipped: benchmark data not found at $DATA" >&2; exit 77; }
need_numpy

expect_status 0 seize eval --help
expect_status 2 seize eval
expect_status 2 seize eval nope --annotations x
# option combinations (seize_eval_files_set): usage errors that name the problem
expect_status 2 seize eval circo --annotations x --rankings r --category dress
grep -q -- "--category is for fashioniq" "$TMP/err" || fail "eval --category with circo: $(cat "$TMP/err")"
expect_status 2 seize eval fashioniq --annotations a --annotations b --rankings r
grep -q "fashioniq needs one --rankings per --annotations" "$TMP/err" || fail "fashioniq pairs: $(cat "$TMP/err")"
expect_status 2 seize eval circo --annotations x --rankings r --predictions p
grep -q "give exactly one of --predictions and --rankings" "$TMP/err" || fail "eval both: $(cat "$TMP/err")"
expect_status 2 seize eval circo --rankings r
grep -q -- "--annotations is required" "$TMP/err" || fail "eval no annotations: $(cat "$TMP/err")"
for c in submission check-submission; do
  expect_status 0 seize $c --help
  expect_status 2 seize $c fashioniq --annotations a
  grep -q "circo and cirr" "$TMP/err" || fail "$c fashioniq: $(cat "$TMP/err")"
done

# --- CIRCO: the official example submission, as JSON and as rankings
C=$DATA/circo
expect_status 0 seize eval circo --annotations "$C/val.json" --predictions "$C/submission_val_example.json" --json
cp "$TMP/out" "$TMP/m.json"
$PYTHON - "$TMP/m.json" "$C/submission_val_example.expected.json" <<'PY' || fail "CIRCO metrics differ from the official ones"
import json, sys
got, exp = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
pairs = [(got[f"mAP@{k}"], v) for k, v in exp["map"].items()]
pairs += [(got[f"Recall@{k}"], v) for k, v in exp["recall"].items()]
pairs += [(got["semantic_mAP@10"][k], v) for k, v in exp["semantic_map10"].items()]
bad = [p for p in pairs if abs(p[0] - p[1]) > 1e-9]
assert not bad and len(pairs) == 17, bad
PY
$PYTHON - "$C/val.json" "$C/submission_val_example.json" "$TMP/r.jsonl" <<'PY'
import json, sys
ann, sub = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
with open(sys.argv[3], "w") as f:
    for i, q in enumerate(ann):
        f.write(json.dumps({"query": i, "ranking": [str(x) for x in sub[str(q["id"])]]}) + "\n")
PY
expect_status 0 seize eval circo --annotations "$C/val.json" --rankings "$TMP/r.jsonl" --json
cmp -s "$TMP/out" "$TMP/m.json" || fail "rankings and submission give different metrics"
expect_status 0 seize eval circo --annotations "$C/val.json" --predictions "$C/submission_val_example.json"
grep -q "^mAP@10 *0.5178" "$TMP/out" || fail "text output"
# malformed predictions
$PYTHON -c "
import json; s = json.load(open('$C/submission_val_example.json'))
del s['5']; json.dump(s, open('$TMP/missing.json', 'w'))
s['5'] = s['6']; s['9999'] = s['6']; json.dump(s, open('$TMP/unknown.json', 'w'))"
expect_status 1 seize eval circo --annotations "$C/val.json" --predictions "$TMP/missing.json"
grep -q "query id 5" "$TMP/err" || fail "missing query not named"
expect_status 1 seize eval circo --annotations "$C/val.json" --predictions "$TMP/unknown.json"
grep -q "unknown query id '9999'" "$TMP/err" || fail "unknown query not named"
sed 's/^{"0": /{"0": [1], "0": /' "$C/submission_val_example.json" > "$TMP/dup.json"
expect_status 1 seize eval circo --annotations "$C/val.json" --predictions "$TMP/dup.json"
grep -qi "duplicate" "$TMP/err" || fail "duplicate id not reported"
expect_status 2 seize eval circo --annotations "$C/val.json"

# --- CIRR test1: a random index of the split, search with the annotations, submission files
R=$DATA/cirr
$PYTHON - "$R" "$TMP" <<'PY'
import json, sys, numpy as np
r, t = sys.argv[1], sys.argv[2]
names = list(json.load(open(f"{r}/split.rc2.test1.json")))
ann = json.load(open(f"{r}/cap.rc2.test1.json"))
rng = np.random.default_rng(3)
np.save(f"{t}/g.npy", rng.standard_normal((len(names), 16)).astype(np.float32))
open(f"{t}/names.txt", "w").write("\n".join(names) + "\n")
np.save(f"{t}/a.npy", rng.standard_normal((len(ann), 16)).astype(np.float32))
np.save(f"{t}/b.npy", rng.standard_normal((len(ann), 16)).astype(np.float32))
# a val-shaped copy: targets drawn among each query's members (not the reference)
for q in ann:
    q["target_hard"] = [m for m in q["img_set"]["members"] if m != q["reference"]][q["pairid"] % 3]
json.dump(ann, open(f"{t}/val_like.json", "w"))
PY
expect_status 0 seize index import --features "$TMP/g.npy" --names "$TMP/names.txt" --out "$TMP/ix"
expect_status 0 seize search --index "$TMP/ix" --after "$TMP/a.npy" --before "$TMP/b.npy" \
    --dataset cirr --annotations "$R/cap.rc2.test1.json" --k 60 --out "$TMP/cirr.jsonl"
expect_status 0 seize submission cirr --rankings "$TMP/cirr.jsonl" --annotations "$R/cap.rc2.test1.json" \
    --out "$TMP/recall.json" --out-subset "$TMP/subset.json"
expect_status 0 seize check-submission cirr --annotations "$R/cap.rc2.test1.json" --submission "$TMP/recall.json" \
    --gallery "$TMP/names.txt"
expect_status 0 seize check-submission cirr --annotations "$R/cap.rc2.test1.json" --submission "$TMP/subset.json"
expect_status 0 seize check-submission cirr --annotations "$R/cap.rc2.test1.json" \
    --submission "$R/example_submission_recall.json"
$PYTHON - "$R/cap.rc2.test1.json" "$TMP/cirr.jsonl" "$TMP/subset.json" "$TMP/recall.json" <<'PY' || fail "CIRR rankings/subsets inconsistent"
import json, sys
ann = json.load(open(sys.argv[1]))
rows = [json.loads(l) for l in open(sys.argv[2])]
sub, rec = json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
assert sub["version"] == rec["version"] == "rc2" and sub["metric"] == "recall_subset"
for q, r in zip(ann, rows):
    members = set(q["img_set"]["members"]) - {q["reference"]}
    assert q["reference"] not in r["ranking"]
    # the subset ranking is the global order restricted to the members (checked where the
    # global top 60 covers them), and its scores are sorted
    inside = [n for n in r["ranking"] if n in members]
    if len(inside) == len(members):
        assert r["subset"] == inside, (q["pairid"], r["subset"], inside)
    assert set(r["subset"]) == members
    assert r["subset_scores"] == sorted(r["subset_scores"], reverse=True)
    assert sub[str(q["pairid"])] == r["subset"][:3]
    assert rec[str(q["pairid"])] == r["ranking"][:50]
PY
# corrupt the submission: the checker names the problems
$PYTHON -c "
import json; s = json.load(open('$TMP/recall.json'))
k = [x for x in s if x not in ('version', 'metric')]
s[k[0]] = s[k[0]][:49]; s[k[1]][3] = s[k[1]][4]
json.dump(s, open('$TMP/bad.json', 'w'))"
expect_status 1 seize check-submission cirr --annotations "$R/cap.rc2.test1.json" --submission "$TMP/bad.json"
grep -q "49 ids, expected 50" "$TMP/err" && grep -q "appears twice" "$TMP/err" || fail "check-submission messages"
# metrics on the val-shaped copy, recomputed in Python
expect_status 0 seize search --index "$TMP/ix" --after "$TMP/a.npy" --before "$TMP/b.npy" \
    --dataset cirr --annotations "$TMP/val_like.json" --k 50 --out "$TMP/val.jsonl"
expect_status 0 seize eval cirr --annotations "$TMP/val_like.json" --rankings "$TMP/val.jsonl" --json
$PYTHON - "$TMP/val_like.json" "$TMP/val.jsonl" "$TMP/out" <<'PY' || fail "CIRR metrics"
import json, sys
ann = json.load(open(sys.argv[1])); rows = [json.loads(l) for l in open(sys.argv[2])]
got = json.load(open(sys.argv[3]))
for k in (1, 5, 10, 50):
    want = 100 * sum(q["target_hard"] in r["ranking"][:k] for q, r in zip(ann, rows)) / len(ann)
    assert abs(got[f"Recall@{k}"] - want) < 1e-9, (k, got, want)
for k in (1, 2, 3):
    want = 100 * sum(q["target_hard"] in r["subset"][:k] for q, r in zip(ann, rows)) / len(ann)
    assert abs(got[f"Recall_subset@{k}"] - want) < 1e-9, (k, got, want)
assert got["Recall_subset@3"] > 40  # 3 of 5 members: about 60 %
PY

# --- FashionIQ dress: search with the annotations (candidate excluded), metrics in Python
F=$DATA/fashioniq
$PYTHON - "$F" "$TMP" <<'PY'
import json, sys, numpy as np
f, t = sys.argv[1], sys.argv[2]
names = json.load(open(f"{f}/split.dress.val.json"))
ann = json.load(open(f"{f}/cap.dress.val.json"))[:300]
json.dump(ann, open(f"{t}/cap.dress.val.json", "w"))
row = {n: i for i, n in enumerate(names)}
rng = np.random.default_rng(5)
g = rng.standard_normal((len(names), 12)).astype(np.float32)
np.save(f"{t}/fg.npy", g)
open(f"{t}/fnames.txt", "w").write("\n".join(names) + "\n")
# queries close to their targets so that the recalls are not trivial
a = np.stack([g[row[q["target"]]] / np.linalg.norm(g[row[q["target"]]]) * 2 for q in ann])
a += rng.standard_normal(a.shape).astype(np.float32) * 1.0
np.save(f"{t}/fa.npy", a.astype(np.float32))
np.save(f"{t}/fb.npy", rng.standard_normal(a.shape).astype(np.float32))
PY
expect_status 0 seize index import --features "$TMP/fg.npy" --names "$TMP/fnames.txt" --out "$TMP/fix"
expect_status 0 seize search --index "$TMP/fix" --after "$TMP/fa.npy" --before "$TMP/fb.npy" \
    --dataset fashioniq --annotations "$TMP/cap.dress.val.json" --out "$TMP/f.jsonl"
expect_status 0 seize eval fashioniq --annotations "$TMP/cap.dress.val.json" --rankings "$TMP/f.jsonl" --json
$PYTHON - "$TMP/cap.dress.val.json" "$TMP/f.jsonl" "$TMP/out" <<'PY' || fail "FashionIQ metrics"
import json, sys
ann = json.load(open(sys.argv[1])); rows = [json.loads(l) for l in open(sys.argv[2])]
got = json.load(open(sys.argv[3]))
for q, r in zip(ann, rows):
    assert q["candidate"] not in r["ranking"]
for k in (10, 50):
    want = 100 * sum(q["target"] in r["ranking"][:k] for q, r in zip(ann, rows)) / len(ann)
    assert abs(got["dress"][f"R@{k}"] - want) < 1e-9, (k, got, want)
    assert abs(got["average"][f"R@{k}"] - want) < 1e-9
assert 5 < got["dress"]["R@50"] < 100, got
PY
exit 0
