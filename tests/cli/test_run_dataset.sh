#!/usr/bin/env bash
# seize run on a benchmark layout with pieces missing, checked before the first request: a
# missing annotation file or image folder is named once; a missing reference image is the
# error (not an internal file); missing gallery images are one summary line and are left out
# (exit 3); a reference that is not an image is permanent (exit 3, no "rerun"); relative
# --data-root and --out work from the current folder.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/servers/server.sh"
need_fixtures
FIX=$(cd "$FIX" && pwd) # the test changes folders
MODEL="$FIX/models/tiny-openai"
FAST=(--timeout 2 --backoff-base 0.01 --concurrency 8 --num-captions 2 --batch 8 --threads 2 --quiet)

make_circo() { # make_circo ROOT: 24 gallery images, 3 val queries
  "$PYTHON" - "$FIX" "$1" <<'PY'
import json, os, shutil, sys
fix, root = sys.argv[1], sys.argv[2]
imgdir = os.path.join(root, "COCO2017_unlabeled", "unlabeled2017")
os.makedirs(imgdir); os.makedirs(os.path.join(root, "COCO2017_unlabeled", "annotations"))
os.makedirs(os.path.join(root, "annotations"))
names = [n for n in open(os.path.join(fix, "images.txt")).read().split() if n != "truncated.jpg"]
images = []
for i in range(24):
    src = names[i % len(names)]
    fn = f"{i + 1:012d}{os.path.splitext(src)[1]}"
    shutil.copy(os.path.join(fix, "images", src), os.path.join(imgdir, fn))
    images.append({"id": i + 1, "file_name": fn})
json.dump({"images": images}, open(os.path.join(root, "COCO2017_unlabeled", "annotations",
                                                  "image_info_unlabeled2017.json"), "w"))
val = [{"id": q, "reference_img_id": 1 + 5 * q, "relative_caption": t, "shared_concept": "thing",
        "target_img_id": 2 + 5 * q, "gt_img_ids": [2 + 5 * q], "semantic_aspects": ["style"]}
       for q, t in enumerate(["at night", "in the snow", "as a toy"])]
json.dump(val, open(os.path.join(root, "annotations", "val.json"), "w"))
PY
}
start_llm_server SRV
requests() { wc -l <"$SRV_LOG"; }
LLM=(--captioner-endpoint "$SRV_URL" --captioner-model cap --llm-endpoint "$SRV_URL" --llm-model llm)
cd "$TMP" || fail "cd"
circo() { # circo ROOT OUT [options]: a val run with relative paths
  local root=$1 out=$2; shift 2
  seize run circo --data-root "$root" --split val --model "$MODEL" --out "$out" "${LLM[@]}" "${FAST[@]}" "$@"
}

# --- 1. the annotation file is missing: named once, nothing sent
make_circo data1
mv data1/annotations/val.json data1/annotations/other.json
expect_status 1 circo data1 runs/1
grep -q "missing file '$TMP/data1/annotations/val.json'" "$TMP/err" || fail "missing annotations: $(cat "$TMP/err")"

# --- 2. the image folder is missing: named once, nothing sent
make_circo data2
mv data2/COCO2017_unlabeled/unlabeled2017 data2/COCO2017_unlabeled/elsewhere
expect_status 1 circo data2 runs/2
grep -q "missing folder '$TMP/data2/COCO2017_unlabeled/unlabeled2017'" "$TMP/err" || fail "missing folder: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "missing folder: more than one line: $(cat "$TMP/err")"

# --- 3. a missing reference image: the error names it
make_circo data3
rm data3/COCO2017_unlabeled/unlabeled2017/000000000006.*
expect_status 1 circo data3 runs/3
grep -q "1 reference image is missing: '$TMP/data3/COCO2017_unlabeled/unlabeled2017/000000000006\..*' (query 1)" "$TMP/err" \
  || fail "missing reference: $(cat "$TMP/err")"
# a reference that is not an image: permanent, exit 3, no rerun suggested
echo "hello" >data3/COCO2017_unlabeled/unlabeled2017/000000000006.png
expect_status 3 circo data3 runs/3
grep -q "000000000006.png' (query 1): not a JPEG or PNG image" "$TMP/err" || fail "non-image reference: $(cat "$TMP/err")"
grep -qi "rerun\|retry" "$TMP/err" && fail "a permanent failure suggests a rerun: $(cat "$TMP/err")"
[ "$(requests)" -eq 0 ] || fail "rejected inputs sent $(requests) requests"

# --- 4. missing gallery images (not references): one summary line, left out, exit 3
make_circo data4
rm data4/COCO2017_unlabeled/unlabeled2017/0000000000{20,21,22}.*
expect_status 3 circo data4 runs/4
[ "$(grep -c "missing" "$TMP/err")" -eq 1 ] || fail "missing gallery images: not one line: $(cat "$TMP/err")"
grep -q "3 of the 24 gallery images are missing and left out: .*000000000020" "$TMP/err" || fail "summary line: $(cat "$TMP/err")"
"$PYTHON" <<'PY' || fail "outputs with missing gallery images"
import json
names = open("runs/4/index/names.txt").read().split()
assert len(names) == 21 and "20" not in names, names
m = json.load(open("runs/4/manifest.json"))
assert m["status"] == "partial" and sorted(f["item"] for f in m["failed"]) == ["20", "21", "22"], m["failed"]
assert json.load(open("runs/4/metrics.json"))["mAP@10"] >= 0
PY

# --- 5. FashionIQ val, every category: per-category runs, one metrics file, reports with it;
# the rerun is fully cached and writes nothing
"$PYTHON" - "$FIX" fiq <<'PY'
import json, os, shutil, sys
fix, root = sys.argv[1], sys.argv[2]
for d in ("captions", "image_splits", "images"):
    os.makedirs(os.path.join(root, d))
names = [n for n in open(os.path.join(fix, "images.txt")).read().split() if n != "truncated.jpg"]
for c, cat in enumerate(["dress", "shirt", "toptee"]):
    gallery = [f"{cat}{i}" for i in range(6)]
    for i, g in enumerate(gallery):
        src = names[(i + c) % len(names)]
        ext = ".png" if src.endswith(".png") else ".jpg"   # .jpg stands in for a missing .png
        shutil.copy(os.path.join(fix, "images", src), os.path.join(root, "images", g + ext))
    json.dump(gallery, open(os.path.join(root, "image_splits", f"split.{cat}.val.json"), "w"))
    json.dump([{"candidate": gallery[0], "target": gallery[1], "captions": ["is red", "has sleeves"]},
               {"candidate": gallery[2], "target": gallery[3], "captions": ["is longer", "is blue"]}],
              open(os.path.join(root, "captions", f"cap.{cat}.val.json"), "w"))
PY
expect_status 0 seize run fashioniq --data-root fiq --split val --model "$MODEL" --out runs/fiq "${LLM[@]}" "${FAST[@]}"
"$PYTHON" <<'PY' || fail "fashioniq outputs"
import json
m = json.load(open("runs/fiq/metrics.json"))
assert set(m) >= {"dress", "shirt", "toptee", "average"}, m
for cat in ("dress", "shirt", "toptee"):
    assert len(open(f"runs/fiq/{cat}/rankings.jsonl").read().splitlines()) == 2
    assert "<td>average R@10</td>" in open(f"runs/fiq/{cat}/report.html").read(), cat
PY
listing() { find "$1" -printf '%P %i %s %T@\n' | sort; }
listing runs/fiq >"$TMP/fiq-before.txt"
n_req=$(requests)
expect_status 0 seize run fashioniq --data-root fiq --split val --model "$MODEL" --out runs/fiq "${LLM[@]}" "${FAST[@]}"
listing runs/fiq >"$TMP/fiq-after.txt"
diff "$TMP/fiq-before.txt" "$TMP/fiq-after.txt" >&2 || fail "fashioniq: the cached rerun wrote files"
[ "$(requests)" -eq "$n_req" ] || fail "fashioniq: the cached rerun sent requests"
exit 0
