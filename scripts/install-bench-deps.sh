#!/usr/bin/env bash
# Installs what `make bench` needs beyond the test dependencies, if anything is missing:
#   - Debian's PyTorch and ONNX (python3-torch, python3-onnx): the reference CLIP restated in
#     bench/clip_torch.py, its timing, and the export to ONNX;
#   - ONNX Runtime for Node (npm onnxruntime-node, its bundled libonnxruntime) into
#     $BUILD/bench-node/node_modules, with --ignore-scripts (no download at install time).
# Usage: BUILD=build scripts/install-bench-deps.sh   (a no-op when everything is present)
# A missing piece is reported and the benchmarks that need it print "skipped"; the script itself
# does not fail the bench.
set -u
BUILD=${BUILD:-build}
ORT_VERSION=1.30.0
missing=""
for p in python3-torch python3-onnx; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# node and npm: any install will do (Debian's nodejs + npm, or NodeSource's nodejs that has both)
command -v npm >/dev/null || missing="$missing nodejs npm"
if [ -n "$missing" ]; then
  echo "install-bench-deps: installing:$missing" >&2
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $missing >&2 ||
    { $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq --no-install-recommends $missing >&2; } ||
    echo "install-bench-deps: could not install$missing (the reference benchmarks will be skipped)" >&2
fi
dir="$BUILD/bench-node"
have=$(sed -n 's/^ *"version": "\(.*\)",$/\1/p' "$dir/node_modules/onnxruntime-node/package.json" 2>/dev/null)
if [ "$have" != "$ORT_VERSION" ] && command -v npm >/dev/null; then
  echo "install-bench-deps: npm install onnxruntime-node@$ORT_VERSION into $dir" >&2
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"name": "seize-bench", "private": true}' >"$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --ignore-scripts "onnxruntime-node@$ORT_VERSION" >&2) ||
    echo "install-bench-deps: npm install failed (the ONNX Runtime benchmark will be skipped)" >&2
fi
exit 0
