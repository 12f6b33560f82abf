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
