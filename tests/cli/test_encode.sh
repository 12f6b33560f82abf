#!/usr/bin/env bash
# seize encode-images / encode-texts end to end on the fixture models: images decoded and
# preprocessed by seize itself give the golden image features; fixture texts give the golden
# text features (tokenised by seize); --skip-bad keeps order and writes names/failed lists;
# a bad image without --skip-bad fails naming it; --normalize; usage errors.
. "$(dirname "$0")/lib.sh"
need_fixtures

expect_status 0 seize encode-images --help
grep -q -- "--skip-bad" "$TMP/out" || fail "encode-images --help does not describe --skip-bad"
expect_status 0 seize encode-texts --help
grep -q -- "--input" "$TMP/out" || fail "encode-texts --help does not describe --input"
expect_status 2 seize encode-images --out "$TMP/x.npy" a.jpg
expect_status 2 seize encode-images --model m a.jpg
expect_status 2 seize encode-images --model m --out "$TMP/x.npy"
expect_status 2 seize encode-images --model m --out "$TMP/x.npy" --batch 0 a.jpg
expect_status 2 seize encode-texts --model m --out "$TMP/x.npy"
expect_status 2 seize encode-texts --model m --out "$TMP/x.npy" --threads x hi
expect_status 1 seize encode-texts --model "$TMP/nope" --out "$TMP/x.npy" hi
grep -q "nope" "$TMP/err" || fail "a missing model folder is not named"

# single-layout model folders (the loader prefers transformers when both are present)
for model in tiny-openai tiny-laion; do
  mkdir -p "$TMP/$model.oc" "$TMP/$model.hf"
  for f in open_clip_model.safetensors open_clip_config.json vocab.json merges.txt; do
    ln -s "$(cd "$FIX/models/$model" && pwd)/$f" "$TMP/$model.oc/$f"
  done
  for f in model.safetensors config.json vocab.json merges.txt; do
    ln -s "$(cd "$FIX/models/$model" && pwd)/$f" "$TMP/$model.hf/$f"
  done
done
IMGDIR=$(cd "$FIX/images" && pwd)
sed "s|^|$IMGDIR/|" "$FIX/images.txt" >"$TMP/images.txt"
"$PYTHON" - "$FIX/tokens.jsonl" "$TMP/texts.txt" <<'EOF'
import json, sys
# one text per line: the fixture texts that hold no line break
with open(sys.argv[2], "w") as out:
    keep = []
    for i, line in enumerate(open(sys.argv[1])):
        t = json.loads(line)["text"]
        if "\n" not in t and "\r" not in t:
            out.write(t + "\n"); keep.append(i)
open(sys.argv[2] + ".rows", "w").write(" ".join(map(str, keep)))
EOF

# compare GOT.npy WANT.npy [ROWS]: golden tolerance of fixtures/README.md
compare() {
  "$PYTHON" - "$@" <<'EOF' || fail "$1 differs from $2"
import sys, numpy as np
got, want = np.load(sys.argv[1]), np.load(sys.argv[2])
if len(sys.argv) > 3:
    want = want[[int(r) for r in open(sys.argv[3]).read().split()]]
assert got.dtype == np.float32 and got.shape == want.shape, (got.dtype, got.shape, want.shape)
cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
diff = np.abs(got - want).max()
print(f"  {sys.argv[1].split('/')[-1]}: min cosine {cos.min():.8f}, max|diff| {diff:.3g}", file=sys.stderr)
assert cos.min() >= 0.99999 and diff <= 1e-4 * np.abs(want).max()
EOF
}

# under valgrind ($WRAP set) the golden runs cover tiny-openai only (the unit tests cover both)
models="tiny-openai tiny-laion"
[ -n "$WRAP" ] && models="tiny-openai"
for model in $models; do
  for layout in oc hf; do
    dir="$TMP/$model.$layout"
    expect_status 0 seize encode-images --model "$dir" --out "$TMP/img.$model.$layout.npy" \
      --list "$TMP/images.txt" --batch 5 --threads 2 -q
    compare "$TMP/img.$model.$layout.npy" "$FIX/models/$model/expected_image_features.npy"
    expect_status 0 seize encode-texts --model "$dir" --out "$TMP/txt.$model.$layout.npy" \
      --input "$TMP/texts.txt" --batch 16 -q
    compare "$TMP/txt.$model.$layout.npy" "$FIX/models/$model/expected_text_features.npy" "$TMP/texts.txt.rows"
  done
done

# texts as arguments, normalised
expect_status 0 seize encode-texts --model "$TMP/tiny-openai.oc" --out "$TMP/t2.npy" --normalize \
  "a photo of a cat" "" "a dog"
"$PYTHON" - "$TMP/t2.npy" <<'EOF' || fail "--normalize rows are not unit length"
import sys, numpy as np
a = np.load(sys.argv[1]); assert a.shape == (3, 32), a.shape
assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
EOF

# --skip-bad: the broken JPEG and a missing file are left out, the rest keep their order
mapfile -t imgs <"$TMP/images.txt"
expect_status 3 seize encode-images --model "$TMP/tiny-openai.hf" --out "$TMP/skip.npy" --skip-bad \
  --batch 2 "${imgs[0]}" "$FIX/images/truncated.jpg" "${imgs[1]}" "$TMP/missing.png" "${imgs[2]}"
grep -q "truncated.jpg" "$TMP/err" || fail "the broken image is not named on stderr"
grep -q "missing.png" "$TMP/err" || fail "the missing image is not named on stderr"
[ "$(cut -f1 "$TMP/skip.failed.txt")" = "$FIX/images/truncated.jpg
$TMP/missing.png" ] || fail "wrong skip.failed.txt: $(cat "$TMP/skip.failed.txt")"
printf '%s\n' "${imgs[0]}" "${imgs[1]}" "${imgs[2]}" >"$TMP/want.names"
cmp -s "$TMP/skip.names.txt" "$TMP/want.names" || fail "wrong skip.names.txt"
echo "0 1 2" >"$TMP/rows012"
compare "$TMP/skip.npy" "$FIX/models/tiny-openai/expected_image_features.npy" "$TMP/rows012"

# without --skip-bad: exit 1, the file named, nothing written
expect_status 1 seize encode-images --model "$TMP/tiny-openai.hf" --out "$TMP/bad.npy" \
  "${imgs[0]}" "$FIX/images/truncated.jpg"
grep -q "truncated.jpg" "$TMP/err" || fail "the broken image is not named"
[ ! -e "$TMP/bad.npy" ] || fail "an output was written despite the error"

# --normalize on images; --no-pad changes the input (plain CLIP preprocessing)
expect_status 0 seize encode-images --model "$TMP/tiny-openai.oc" --out "$TMP/n.npy" --normalize \
  --no-pad -q "${imgs[@]:0:3}"
"$PYTHON" - "$TMP/n.npy" "$TMP/img.tiny-openai.oc.npy" <<'EOF' || fail "--normalize/--no-pad"
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])[:3]
assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
b = b / np.linalg.norm(b, axis=1, keepdims=True)
# image 0 (FreshFlower.jpg) is far from square, so TargetPad matters for it
assert np.abs(a[0] - b[0]).max() > 1e-3
EOF

# --- images must be regular files: a FIFO or /dev/zero is refused at once, named
MT=$FIX/models/tiny-openai
mkfifo "$TMP/pipe.jpg"
expect_status 1 timeout 20 "$SEIZE_BIN" encode-images --model "$MT" --out "$TMP/f.npy" "$TMP/pipe.jpg"
grep -q "pipe.jpg" "$TMP/err" && grep -q "FIFO" "$TMP/err" || fail "encode-images: FIFO not refused"
expect_status 1 timeout 20 "$SEIZE_BIN" encode-images --model "$MT" --out "$TMP/f.npy" /dev/zero
grep -q "/dev/zero" "$TMP/err" || fail "encode-images: /dev/zero not refused"

# --- text inputs: FIFO/device refused; a text over 64 KiB refused naming its line, without
# costing memory (a 100 MB caption under a 1.5 GB address-space limit)
expect_status 1 timeout 20 "$SEIZE_BIN" encode-texts --model "$MT" --out "$TMP/t.npy" --input "$TMP/pipe.jpg"
grep -q "FIFO" "$TMP/err" || fail "encode-texts: FIFO input not refused"
expect_status 1 timeout 20 "$SEIZE_BIN" encode-texts --model "$MT" --out "$TMP/t.npy" --input /dev/zero
grep -q "/dev/zero" "$TMP/err" || fail "encode-texts: /dev/zero not refused"
$PYTHON -c 'import sys; sys.stdout.write("a dog\n" + "w " * 50000000 + "\n")' > "$TMP/huge.txt"
# (not under valgrind or a sanitizer: they need a large address space themselves)
if [ -z "$WRAP" ] && [ -z "${SEIZE_ASAN:-}" ] && ! ldd "$SEIZE_BIN" 2>/dev/null | grep -q "libasan\|libubsan"; then
  ( ulimit -v 1500000; exec "$SEIZE_BIN" encode-texts --model "$MT" --out "$TMP/t.npy" --input "$TMP/huge.txt" -q ) 2>"$TMP/err"; st=$?
  [ $st -eq 1 ] || { cat "$TMP/err" >&2; fail "encode-texts: huge text: exit $st"; }
  grep -q "huge.txt' line 2" "$TMP/err" && grep -q "limit" "$TMP/err" || { cat "$TMP/err" >&2; fail "encode-texts: huge text not named"; }
  $PYTHON -c 'import json; print(json.dumps({"id": 0, "captions": ["a", "w " * 50000000], "edited": ["b"]}))' > "$TMP/huge.jsonl"
  ( ulimit -v 1500000; exec "$SEIZE_BIN" query-features --model "$MT" --captions "$TMP/huge.jsonl" \
      --out-after "$TMP/a.npy" --out-before "$TMP/b.npy" -q ) 2>"$TMP/err"; st=$?
  [ $st -eq 1 ] && grep -q "query 0" "$TMP/err" && grep -q "caption" "$TMP/err" && grep -q "65536" "$TMP/err" || { cat "$TMP/err" >&2; fail "query-features: huge caption not refused (exit $st)"; }
fi
expect_status 1 seize encode-texts --model "$MT" --out "$TMP/t.npy" "$($PYTHON -c 'print("v" * 70000)')"
grep -q "text 1" "$TMP/err" || fail "encode-texts: long argument not named"
expect_status 1 timeout 20 "$SEIZE_BIN" query-features --model "$MT" --captions "$TMP/pipe.jpg" --out-after "$TMP/a.npy" --out-before "$TMP/b.npy"
grep -q "FIFO" "$TMP/err" || fail "query-features: FIFO not refused"
exit 0
