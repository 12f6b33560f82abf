#!/usr/bin/env bash
# seize preprocess: help and usage errors, the golden fixtures end to end, other sizes and pad
# ratios against Pillow computed here, and broken images (stop, or --keep-going).
. "$(dirname "$0")/lib.sh"
need_fixtures

expect_status 0 seize preprocess --help
grep -q "usage: seize preprocess" "$TMP/out" || fail "--help does not print the usage"
expect_status 2 seize preprocess "$FIX/images/rocket.jpg"            # no --out
expect_status 2 seize preprocess --out "$TMP/x.npy"                  # no images
expect_status 2 seize preprocess --size 0 --out "$TMP/x.npy" "$FIX/images/rocket.jpg"
expect_status 2 seize preprocess --pad-ratio 0.5 --out "$TMP/x.npy" "$FIX/images/rocket.jpg"
expect_status 2 seize preprocess --no-pad --pad-ratio 2 --out "$TMP/x.npy" "$FIX/images/rocket.jpg"
expect_status 2 seize preprocess --bogus --out "$TMP/x.npy" "$FIX/images/rocket.jpg"

mapfile -t names < "$FIX/images.txt"
imgs=()
for n in "${names[@]}"; do imgs+=("$FIX/images/$n"); done
expect_status 0 seize preprocess -q -j 2 --out "$TMP/pad.npy" "${imgs[@]}"
expect_status 0 seize preprocess -q --no-pad --out "$TMP/clip.npy" "${imgs[@]}"
"$PYTHON" - "$TMP" "$FIX" <<'EOF' || fail "output differs from the fixtures"
import sys, numpy as np
tmp, fix = sys.argv[1:]
for mine, ref in [("pad.npy", "preprocess_targetpad.npy"), ("clip.npy", "preprocess_clip.npy")]:
    a, r = np.load(f"{tmp}/{mine}"), np.load(f"{fix}/{ref}")
    assert a.dtype == np.float32 and a.shape == r.shape == (12, 3, 224, 224), (a.shape, r.shape)
    d = float(np.abs(a - r).max())
    print(f"  {mine} vs {ref}: max |diff| {d:.3g}", file=sys.stderr)
    assert d <= 1e-6
EOF

# Another size and pad ratio, against Pillow + the same transforms (the one Python reference).
sel=("$FIX/images/rocket.jpg" "$FIX/images/logo.png" "$FIX/images/green_palette.png"
     "$FIX/images/checker_bilevel.png" "$FIX/images/camera.png")
expect_status 0 seize preprocess -q --pad-ratio 1.1 --size 97 --out "$TMP/s97.npy" "${sel[@]}"
"$PYTHON" "$TOP/tests/unit/pil_reference.py" --size 97 --pad-ratio 1.1 "$TMP/s97.npy" "${sel[@]}" ||
  fail "--size 97 --pad-ratio 1.1 differs from Pillow"

# A broken image stops the run (nothing written) ...
expect_status 1 seize preprocess -q --out "$TMP/bad.npy" "$FIX/images/rocket.jpg" "$FIX/images/truncated.jpg"
grep -q "truncated.jpg" "$TMP/err" || fail "the error does not name truncated.jpg"
[ ! -e "$TMP/bad.npy" ] || fail "output written despite the error"
ls "$TMP" | grep -q "bad.npy" && fail "temporary file left behind"
# ... or is reported and skipped with --keep-going (exit 3).
printf 'not an image' > "$TMP/fake.png"
expect_status 3 seize preprocess -q --keep-going --size 32 --out "$TMP/some.npy" \
  "$FIX/images/truncated.jpg" "$FIX/images/rocket.jpg" "$TMP/fake.png" "$FIX/images/logo.png"
grep -q "truncated.jpg" "$TMP/err" || fail "--keep-going does not report truncated.jpg"
grep -q "fake.png': unknown image format" "$TMP/err" || fail "--keep-going does not report fake.png"
"$PYTHON" -c "
import numpy as np, sys
a = np.load('$TMP/some.npy'); assert a.shape == (2, 3, 32, 32), a.shape
" || fail "--keep-going output has the wrong shape"
expect_status 1 seize preprocess -q --keep-going --out "$TMP/none.npy" "$TMP/fake.png"
[ ! -e "$TMP/none.npy" ] || fail "output written with no good image"
# The pixel limit.
expect_status 1 seize preprocess -q --max-pixels 1000 --out "$TMP/lim.npy" "$FIX/images/rocket.jpg"
grep -q "exceeds the limit of 1000 pixels" "$TMP/err" || fail "no pixel-limit message"

# --- images must be regular files: a FIFO or /dev/zero is refused at once, named
mkfifo "$TMP/pipe.png"
expect_status 1 timeout 20 "$SEIZE_BIN" preprocess --out "$TMP/p.npy" "$TMP/pipe.png"
grep -q "pipe.png" "$TMP/err" && grep -q "FIFO" "$TMP/err" || fail "FIFO not refused"
expect_status 1 timeout 20 "$SEIZE_BIN" preprocess --out "$TMP/p.npy" /dev/zero
grep -q "/dev/zero" "$TMP/err" || fail "/dev/zero not refused"
[ -e "$TMP/p.npy" ] && fail "an output was written"
exit 0
