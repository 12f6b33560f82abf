#!/usr/bin/env bash
# Makes docs/serve.jpg, the README's screenshot of the web page: scikit-image's sample photos
# (Debian's python3-skimage, unpacked into a temporary folder, never committed) indexed with the
# tiny fixture model, seize serve with the scripted captioner and LLM of scripted_llm.py, and
# headless Chromium (serve_page.js shot). The ranking of a tiny model means nothing; the page is real.
# Usage: tests/browser/readme_shot.sh [SEIZE_BIN] [OUT]   (defaults build/seize, docs/serve.jpg)
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(realpath "${1:-$TOP/build/seize}")
OUT=$(realpath -m "${2:-$TOP/docs/serve.jpg}")
FIX=$(cd "${SEIZE_FIXTURES:-$TOP/../shared/fixtures}" && pwd)
TMP=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
cd "$TMP"
apt-get download python3-skimage >/dev/null
dpkg -x python3-skimage_*.deb x
mkdir photos model
for f in astronaut brick camera chelsea coffee coins color grass gravel ihc moon motorcycle_left \
  motorcycle_right page text; do cp "x/usr/lib/python3/dist-packages/skimage/data/$f.png" photos/; done
for f in hubble_deep_field retina rocket; do cp "x/usr/lib/python3/dist-packages/skimage/data/$f.jpg" photos/; done
cp "$FIX/images/FreshFlower.jpg" photos/
for f in model.safetensors config.json vocab.json merges.txt; do ln -s "$FIX/models/tiny-openai/$f" model/; done
mv model tiny-openai
"$BIN" index build --gallery photos --model tiny-openai --out index --threads 2 -q
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/python3 "$TOP/tests/browser/scripted_llm.py" "$port" & pids+=($!)
"$BIN" serve --index index --model tiny-openai --gallery photos --listen 127.0.0.1:0 --threads 2 \
  --captioner-endpoint "http://127.0.0.1:$port/v1" --captioner-model blip2 \
  --llm-endpoint "http://127.0.0.1:$port/v1" --llm-model gpt-4o-mini 2>serve.err & pids+=($!)
for _ in $(seq 1 600); do grep -q "listening on" serve.err && break; sleep 0.1; done
url=$(sed -n 's|^seize serve: listening on \(http://[^ ]*/\)$|\1|p' serve.err)
[ -n "$url" ] || { cat serve.err >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
node "$TOP/tests/browser/serve_page.js" shot "$url" "$OUT" chelsea.png "the same cat, but asleep on a sofa" 8
echo "wrote $OUT" >&2
