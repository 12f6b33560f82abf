#!/usr/bin/env bash
# seize index build --dataset finds gallery images by the data-layout rule that seize run uses
# (seize_layout_image_path): a FashionIQ image stored as .jpg where the split names the .png
# is indexed, not reported missing.
. "$(dirname "$0")/lib.sh"
need_fixtures
FIX=$(cd "$FIX" && pwd)
M=$TMP/model; tiny_model "$M"
mkdir -p "$TMP/fiq/img"
printf '["a1", "a2"]' > "$TMP/fiq/split.dress.val.json"
cp "$FIX/images/rocket.jpg" "$TMP/fiq/img/a1.png"
cp "$FIX/images/rocket.jpg" "$TMP/fiq/img/a2.jpg"
expect_status 0 seize index build --model "$M" --dataset fashioniq --gallery "$TMP/fiq/split.dress.val.json" \
    --root "$TMP/fiq/img" --out "$TMP/ix" -q
[ "$(wc -l <"$TMP/ix/names.txt")" -eq 2 ] || fail "the .jpg image was not indexed: $(cat "$TMP/err")"
grep -q "missing" "$TMP/err" && fail "a .jpg image reported missing: $(cat "$TMP/err")"
exit 0
