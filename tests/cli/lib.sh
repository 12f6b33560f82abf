# Shared helpers for tests/cli/test_*.sh (sourced). Exit 77 means skipped.
set -u
TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SEIZE_BIN=${SEIZE_BIN:-$TOP/build/seize}
FIX=${SEIZE_FIXTURES:-$TOP/../shared/fixtures}
PYTHON=${PYTHON:-/usr/bin/python3}
WRAP=${WRAP:-}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Runs the tool (under $WRAP, e.g. valgrind, when set).
seize() { $WRAP "$SEIZE_BIN" "$@"; }
fail() { echo "  FAIL: $*" >&2; exit 1; }
need_fixtures() { [ -d "$FIX" ] || { echo "  skipped: fixtures not found at $FIX" >&2; exit 77; }; }
# expect_status N cmd...: runs cmd, fails unless its exit status is N; stderr kept in $TMP/err.
expect_status() {
  local want=$1; shift
  "$@" >"$TMP/out" 2>"$TMP/err"; local got=$?
  [ "$got" -eq "$want" ] || { cat "$TMP/err" >&2; fail "'$*' exited $got, expected $want"; }
}
# need_numpy: skips the test when $PYTHON has no numpy.
need_numpy() { $PYTHON -c 'import numpy' 2>/dev/null || { echo "  skipped: numpy not available to $PYTHON" >&2; exit 77; }; }
# tiny_model DIR: a model folder DIR linking the fixture model tiny-openai's files.
tiny_model() {
  mkdir -p "$1"
  local f
  for f in model.safetensors config.json vocab.json merges.txt; do ln -s "$FIX/models/tiny-openai/$f" "$1/$f"; done
}
# wait_progress FILE: waits (up to 60 s) until an index build's progress FILE records a batch.
wait_progress() {
  local _
  for _ in $(seq 1 3000); do grep -q '"done":[1-9]' "$1" 2>/dev/null && return 0; sleep 0.02; done
  return 1
}

# serve_port PID ERRFILE: waits (up to 120 s) for `seize serve` (process PID, stderr in ERRFILE)
# to print its "listening on http://127.0.0.1:PORT/" line and prints PORT; fails when it exits
# first or never says it.
serve_port() {
  local port= i
  for i in $(seq 1 2400); do
    port=$(sed -n 's|^seize serve: listening on http://127.0.0.1:\([0-9]*\)/$|\1|p' "$2")
    [ -n "$port" ] && { echo "$port"; return 0; }
    kill -0 "$1" 2>/dev/null || { cat "$2" >&2; fail "seize serve exited before listening"; }
    sleep 0.05
  done
  fail "seize serve: no 'listening on' line"
}
