#!/usr/bin/env bash
# The CUDA backend on a GPU machine, in one run: lists the GPU, builds with `make CUDA=1`, runs
# the unit tests that exercise the "cuda" backend, and writes a compact summary to
# $OUT/gpu-summary.txt with every full log beside it (build.log, test_*.log, ...).
#
# Usage (repository root):
#     scripts/gpu-check.sh --bundle                 on this (development) machine: makes
#                                                   build/gpu-bundle (see below)
#     OUT=/some/folder scripts/gpu-check.sh         on the GPU machine (OUT: build/gpu-check)
# The lent GPU machines (Ubuntu 24.04 + CUDA 13, no network) lack some of our -dev packages
# (jansson, utf8proc, oneDNN) and the fixtures; build/gpu-bundle carries what they miss: the
# static jansson and utf8proc with their headers (taken from this machine), and the fixtures
# test_clip's cuda case reads (tiny-laion). Carry build/gpu-bundle to the GPU machine (about
# 24 MB); the check uses it for whatever is missing there, builds with NO_DNNL=1 when oneDNN is
# absent (the CPU's portable GEMM; the cuda backend does not use it), and tries
# scripts/install-deps.sh only when something is still missing.
# Environment: BUILD (default build/cuda), JOBS (make -j, default 16), BUDGET (seconds the
# optional extra steps may use in all, default 300: the SEIZE_CUDA_SYNC=1 rerun after a failure
# and compute-sanitizer), SEIZE_FIXTURES (default: shared/fixtures, ../shared/fixtures or the
# bundle's, whichever exists; without fixtures test_clip's cuda case is skipped).
# Exit status: 0 when the build and every test run passed.
set -u
BUNDLE=build/gpu-bundle

if [ "${1:-}" = "--bundle" ]; then
  fx=${SEIZE_FIXTURES:-../shared/fixtures}
  rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/deps/include" "$BUNDLE/deps/lib" "$BUNDLE/fixtures/models"
  for h in jansson.h jansson_config.h utf8proc.h; do cp "/usr/include/$h" "$BUNDLE/deps/include/" || exit 1; done
  for l in libjansson.a libutf8proc.a; do
    cp "$(dirname "$(pkg-config --variable=pcfiledir jansson)")/$l" "$BUNDLE/deps/lib/" || exit 1
  done
  cp -rL "$fx"/models/tiny-laion* "$BUNDLE/fixtures/models/" || exit 1
  for f in preprocess_targetpad.npy tokens.jsonl texts.jsonl images.txt README.md; do
    cp -L "$fx/$f" "$BUNDLE/fixtures/" || exit 1
  done
  echo "gpu-check: $BUNDLE ($(du -sh "$BUNDLE" | cut -f1)): carry it to the GPU machine"
  exit 0
fi

OUT=${OUT:-build/gpu-check}
BUILD=${BUILD:-build/cuda}
JOBS=${JOBS:-16}
BUDGET=${BUDGET:-300}
mkdir -p "$OUT"
S="$OUT/gpu-summary.txt"
: >"$S"
t0=$(date +%s)
status=0
say() { printf '%s\n' "$*" | tee -a "$S"; }
elapsed() { echo $(($(date +%s) - t0)); }

say "== gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git rev-parse --short HEAD 2>/dev/null || echo 'no git') on $(hostname)"

# --- the machine ----------------------------------------------------------------------------
have_gpu=1
nvidia-smi -L >"$OUT/nvidia-smi.log" 2>&1 || { have_gpu=0; say "nvidia-smi -L failed (rc $?)"; }
nvidia-smi >>"$OUT/nvidia-smi.log" 2>&1
sed 's/^/gpu: /' "$OUT/nvidia-smi.log" | grep -E '^gpu: GPU [0-9]' | tee -a "$S"
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
say "nvcc: $NVCC: $("$NVCC" --version 2>&1 | grep -E 'release' || echo 'not found')"
say "cc: $(cc --version 2>&1 | head -1)"

# --- build dependencies: the bundle's for what is missing, then apt (may have no network) ----
missing_pkgs() {
  local m=""
  for p in openblas libjpeg libpng libutf8proc jansson libcurl zlib; do
    pkg-config --exists "$p" 2>/dev/null || m="$m $p"
  done
  echo "$m"
}
have_dnnl() { [ -e /usr/include/dnnl.h ] || [ -e /usr/include/oneapi/dnnl/dnnl.h ]; }
missing=$(missing_pkgs)
if [ -n "$missing" ] && [ -d "$BUNDLE/deps" ]; then
  # pkg-config files for the bundle's static libraries, pointing at where it lies now
  d=$PWD/$BUNDLE/deps
  mkdir -p "$d/pkgconfig"
  for p in jansson libutf8proc; do
    l=${p#lib}
    printf 'Name: %s\nDescription: bundled by gpu-check\nVersion: 0\nLibs: -L%s/lib -l%s\nCflags: -I%s/include\n' \
      "$p" "$d" "$l" "$d" >"$d/pkgconfig/$p.pc"
  done
  export PKG_CONFIG_PATH="$d/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  say "deps: missing:$missing; using $BUNDLE for jansson and utf8proc"
  missing=$(missing_pkgs)
fi
if [ -n "$missing" ] || ! have_dnnl; then
  say "deps: missing:$missing$(have_dnnl || echo ' dnnl'); running scripts/install-deps.sh (at most 150 s)"
  if timeout 150 scripts/install-deps.sh >"$OUT/deps.log" 2>&1; then
    say "deps: installed"
  else
    say "deps: install-deps.sh failed (rc $?; see deps.log): $(grep -m1 -E '^(W|E):' "$OUT/deps.log")"
  fi
fi
MAKEVARS=""
if ! have_dnnl; then
  MAKEVARS="NO_DNNL=1"
  say "deps: building with NO_DNNL=1 (no oneDNN headers; the cuda backend does not use it)"
fi
if [ -z "${SEIZE_FIXTURES:-}" ]; then
  for d in shared/fixtures ../shared/fixtures "$BUNDLE/fixtures"; do
    [ -d "$d" ] && SEIZE_FIXTURES=$(cd "$d" && pwd) && break
  done
fi
export SEIZE_FIXTURES=${SEIZE_FIXTURES:-../shared/fixtures}
say "fixtures: $SEIZE_FIXTURES$([ -d "$SEIZE_FIXTURES" ] || echo ' (absent: test_clip cuda case skipped)')"

# --- build ----------------------------------------------------------------------------------
# shellcheck disable=SC2086
if make --no-print-directory -j"$JOBS" SEIZE_DEPS_OK=1 CUDA=1 BUILD="$BUILD" $MAKEVARS all \
  >"$OUT/build.log" 2>&1; then
  say "build: ok in $(elapsed) s, $(grep -c 'warning' "$OUT/build.log") warning lines"
else
  say "build: FAILED (see build.log); last errors:"
  grep -E 'error|Error' "$OUT/build.log" | head -20 | tee -a "$S"
  say "result: FAILED (build) after $(elapsed) s"
  exit 1
fi
grep -E 'warning' "$OUT/build.log" | head -10 | sed 's/^/build warning: /' | tee -a "$S"

# --- tests ----------------------------------------------------------------------------------
# run_test NAME [ENV=VAL ...]: runs $BUILD/tests/NAME with a timeout; summary: its closing line,
# the op summary lines and the first failures.
run_test() {
  local name=$1 log
  shift
  log="$OUT/$name${LOGSUFFIX:-}.log"
  if [ ! -x "$BUILD/tests/$name" ]; then
    say "$name: not built (skipped)"
    return 0
  fi
  local ts rc
  ts=$(date +%s)
  env "$@" timeout 150 "$BUILD/tests/$name" >"$log" 2>&1
  rc=$?
  say "$name${LOGSUFFIX:-}: rc $rc in $(($(date +%s) - ts)) s$([ $rc -eq 124 ] && echo ' (TIMEOUT)')"
  grep -E '^# .*passed' "$log" | sed 's/^/  /' | tee -a "$S"
  grep -E '^  [a-z_, ]+: [0-9]+ cases on' "$log" | sed 's/^/ /' | tee -a "$S"
  grep -E 'SKIP|skipped:' "$log" | head -10 | sed 's/^/  /' | tee -a "$S"
  grep -E 'FAIL|CHECK|failed:|Assertion|Segmentation|terminate|cannot' "$log" | head -25 |
    sed 's/^/  /' | tee -a "$S"
  [ $rc -eq 0 ] || status=1
  return $rc
}

run_test test_backend_ops
ops_rc=$?
if [ $have_gpu -eq 1 ] && grep -q 'op cases skipped on' "$OUT/test_backend_ops.log"; then
  say "ERROR: nvidia-smi lists a GPU but the cuda backend could not find it (see above)"
  status=1
fi
run_test test_transformer
# test_clip: only its cuda case (tiny-laion's golden features through the cuda backend, both
# layouts, and bf16/int8 fidelity); the CPU cases are `make test`'s
run_test test_clip CHECK_ONLY=test_cuda_backend

# --- extra steps within the budget: a synchronous rerun to name a failing op, memcheck -------
if [ $ops_rc -ne 0 ] && [ "$(elapsed)" -lt "$BUDGET" ]; then
  LOGSUFFIX=.sync run_test test_backend_ops SEIZE_CUDA_SYNC=1
fi
CS=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
if [ -n "$CS" ] && [ -x "$BUILD/tests/test_backend_ops" ] && [ "$(elapsed)" -lt "$BUDGET" ]; then
  ts=$(date +%s)
  timeout 120 "$CS" --tool memcheck --leak-check no --error-exitcode 99 \
    "$BUILD/tests/test_backend_ops" >"$OUT/memcheck.log" 2>&1
  rc=$?
  say "compute-sanitizer memcheck test_backend_ops: rc $rc in $(($(date +%s) - ts)) s$([ $rc -eq 124 ] && echo ' (TIMEOUT, not a failure)')"
  grep -E 'ERROR SUMMARY|Invalid|out of bounds|misaligned' "$OUT/memcheck.log" | head -8 |
    sed 's/^/  /' | tee -a "$S"
  [ $rc -eq 0 ] || [ $rc -eq 124 ] || status=1
fi

say "result: $([ $status -eq 0 ] && echo ok || echo FAILED) after $(elapsed) s"
exit $status
