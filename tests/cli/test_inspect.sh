#!/usr/bin/env bash
# seize inspect: JSON summaries of the fixture models in every layout and dtype; bad inputs.
source "$(dirname "$0")/lib.sh"
need_fixtures

# single-layout folders (the fixture folder holds both layouts)
mk() { # mk NAME MODEL FILE...
  local d="$TMP/$1" m="$2"; shift 2; mkdir -p "$d"
  for f in "$@"; do ln -s "$(cd "$FIX/models/$m" && pwd)/$f" "$d/$f"; done
}
mk oa-oc tiny-openai open_clip_model.safetensors open_clip_config.json
mk la-oc tiny-laion open_clip_model.safetensors open_clip_config.json
mk la-hf tiny-laion model.safetensors config.json

check() { # check DIR expected-python-dict
  seize inspect --json "$1" >"$TMP/j" 2>"$TMP/e" || { cat "$TMP/e" >&2; fail "inspect $1"; }
  "$PYTHON" - "$TMP/j" "$2" <<'PY' || fail "inspect --json $1: $(cat "$TMP/j")"
import json, sys
lines = open(sys.argv[1]).read().strip().splitlines()
assert len(lines) == 1, "not exactly one line"
got = json.loads(lines[0])
want = eval(sys.argv[2])
for k, v in want.items():
    if isinstance(v, dict):
        for kk, vv in v.items():
            assert got[k][kk] == vv, (k, kk, got[k][kk], vv)
    else:
        assert got[k] == v, (k, got[k], v)
assert set(got) == {"layout", "dtype", "activation", "embed_dim", "parameters", "vision", "text"}
PY
}
oa_vis="{'image_size': 224, 'patch_size': 32, 'width': 64, 'layers': 2, 'heads': 2, 'mlp_dim': 256}"
txt="{'context_length': 77, 'vocab_size': 49408, 'width': 64, 'layers': 2, 'heads': 2, 'mlp_dim': 256}"
la_vis="{'image_size': 224, 'patch_size': 14, 'width': 128, 'layers': 2, 'heads': 4, 'mlp_dim': 320}"
la_txt="{'context_length': 77, 'vocab_size': 49408, 'width': 64, 'layers': 3, 'heads': 2, 'mlp_dim': 256}"
# parameter counts computed independently from the safetensors headers
params() {
  "$PYTHON" - "$1" <<'PY'
import json, struct, sys, math
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
print(sum(math.prod(v['shape']) for k, v in h.items() if k != '__metadata__' and v['dtype'] in ('F32', 'F16', 'BF16')))
PY
}
p_oa=$(params "$FIX/models/tiny-openai/model.safetensors")
p_la=$(params "$FIX/models/tiny-laion/open_clip_model.safetensors")
check "$FIX/models/tiny-openai" "{'layout': 'transformers', 'dtype': 'F32', 'activation': 'quick_gelu', 'embed_dim': 32, 'parameters': $p_oa, 'vision': $oa_vis, 'text': $txt}"
grep -q "transformers" "$TMP/e" || fail "no note about both layouts"
check "$TMP/oa-oc" "{'layout': 'open_clip', 'dtype': 'F32', 'activation': 'quick_gelu', 'embed_dim': 32, 'parameters': $p_oa, 'vision': $oa_vis, 'text': $txt}"
check "$TMP/la-oc" "{'layout': 'open_clip', 'dtype': 'BF16', 'activation': 'gelu', 'embed_dim': 48, 'parameters': $p_la, 'vision': $la_vis, 'text': $la_txt}"
check "$TMP/la-hf" "{'layout': 'transformers', 'dtype': 'F16', 'activation': 'gelu', 'embed_dim': 48, 'parameters': $p_la, 'vision': $la_vis, 'text': $la_txt}"

# human-readable output
seize inspect "$TMP/la-oc" >"$TMP/h" || fail "inspect (text)"
grep -q "BF16" "$TMP/h" && grep -q "heads 4" "$TMP/h" || fail "text summary: $(cat "$TMP/h")"

# bad input: exit 1 and one line naming the file
mkdir -p "$TMP/bad"
head -c 5000 "$FIX/models/tiny-openai/model.safetensors" >"$TMP/bad/model.safetensors"
expect_status 1 seize inspect "$TMP/bad"
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "more than one error line: $(cat "$TMP/err")"
grep -q "bad/model.safetensors" "$TMP/err" || fail "error does not name the file: $(cat "$TMP/err")"
: >"$TMP/bad/model.safetensors"
expect_status 1 seize inspect "$TMP/bad"
grep -q "empty file" "$TMP/err" || fail "empty file: $(cat "$TMP/err")"
printf '\x08\x00\x00\x00\x00\x00\x00\x00not json' >"$TMP/bad/model.safetensors"
expect_status 1 seize inspect "$TMP/bad"
grep -q "not JSON" "$TMP/err" || fail "not JSON: $(cat "$TMP/err")"
expect_status 1 seize inspect "$TMP/missing"
grep -q "missing" "$TMP/err" || fail "missing folder: $(cat "$TMP/err")"
# usage errors
expect_status 2 seize inspect
expect_status 2 seize inspect --bogus "$TMP/oa-oc"
expect_status 0 seize inspect --help
grep -q "usage: seize inspect" "$TMP/out" || fail "--help"
expect_status 2 seize no-such-command
exit 0
