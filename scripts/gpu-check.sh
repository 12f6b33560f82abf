#!/usr/bin/env bash
# The CUDA backend on a GPU machine, in one run: lists the GPU, builds with `make CUDA=1`, runs
# the unit tests that exercise the "cuda" backend, and writes a compact summary to
# $OUT/gpu-summary.txt with every full log beside it (build.log, test_*.log, ...).
#
# Usage (repository root, on a machine with the CUDA toolkit and a GPU):
#     OUT=/some/folder scripts/gpu-check.sh        (OUT defaults to build/gpu-check)
# Environment: BUILD (default build/cuda), JOBS (make -j, default 16), BUDGET (seconds the
# optional extra steps may use in all, default 300: the SEIZE_CUDA_SYNC=1 rerun after a failure
# and compute-sanitizer), SEIZE_FIXTURES (the golden fixtures for test_clip's cuda case; default
# shared/fixtures or ../shared/fixtures, whichever exists; without them that case is skipped).
# Exit status: 0 when the build and every test run passed.
set -u
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

# --- build dependencies: install only when some are missing (apt may have no network) -------
missing=""
for p in openblas libjpeg libpng libutf8proc jansson libcurl zlib; do
  pkg-config --exists "$p" 2>/dev/null || missing="$missing $p"
done
[ -e /usr/include/dnnl.h ] || [ -e /usr/include/oneapi/dnnl/dnnl.h ] || missing="$missing dnnl"
MAKEVARS=""
if [ -n "$missing" ]; then
  say "deps: missing:$missing; running scripts/install-deps.sh (at most 150 s)"
  if timeout 150 scripts/install-deps.sh >"$OUT/deps.log" 2>&1; then
    say "deps: installed"
  else
    say "deps: install-deps.sh failed (rc $?; see deps.log): $(tail -2 "$OUT/deps.log" | tr '\n' ' ')"
    if ! [ -e /usr/include/dnnl.h ] && ! [ -e /usr/include/oneapi/dnnl/dnnl.h ]; then
      MAKEVARS="NO_DNNL=1"
      say "deps: building with NO_DNNL=1 (no oneDNN headers)"
    fi
  fi
fi

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

if [ -z "${SEIZE_FIXTURES:-}" ]; then
  for d in shared/fixtures ../shared/fixtures; do [ -d "$d" ] && SEIZE_FIXTURES=$PWD/$d && break; done
fi
export SEIZE_FIXTURES=${SEIZE_FIXTURES:-../shared/fixtures}
say "fixtures: $SEIZE_FIXTURES$([ -d "$SEIZE_FIXTURES" ] || echo ' (absent: test_clip cuda case skipped)')"

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
