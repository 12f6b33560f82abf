#!/usr/bin/env bash
# Size limits (issue 12): the CLI stays thin and no function grows past a screenful or two.
#
# Fails when
#   - cli/ (every *.c and *.h, as `wc -l` counts them) has more than $CHECK_SIZE_CLI_LINES lines
#     (default 2150: issue 12 set 2,000 for its 15 subcommands; serve and index merge (issues 15,
#     16) add two commands whose logic is in src/serve and src/index, and their option tables);
#   - a function in a C file of src/, cli/, bench/ or tests/ has more than $CHECK_SIZE_FN_LINES
#     lines (default 100), counted from its opening `{` to its closing `}`: clang-format (make
#     format, checked by scripts/check-format.sh) puts both at column 0 and nothing else there.
# Every offender is named (file:line, function, lines). The files are those git tracks plus the
# untracked ones it does not ignore; outside a git checkout, every file below the root.
# Usage: scripts/check-size.sh [repository root]   (run by `make check` and .ci/run)
#        scripts/check-size.sh --self-test          (checks that offenders are caught)
set -u
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
CLI_MAX=${CHECK_SIZE_CLI_LINES:-2150}
FN_MAX=${CHECK_SIZE_FN_LINES:-100}

# fn FILE NAME BODY_LINES: a C function of BODY_LINES lines between its braces.
fn() {
    { printf 'static int %s(int x)\n{\n' "$2"; for ((i = 0; i < $3; i++)); do echo '    x++;'; done
      printf '    return x;\n}\n\n'; } >>"$1"
}

if [ "${1:-}" = --self-test ]; then
    t=$(mktemp -d) || exit 2
    trap 'rm -rf "$t"' EXIT
    mkdir -p "$t/cli" "$t/src/core" "$t/src/index" "$t/bench" "$t/tests/unit"
    fn "$t/src/core/a.c" at_limit 97      # 97 + return + braces = 100 lines: fine
    fn "$t/src/core/a.c" over_limit 98    # 101 lines
    fn "$t/src/index/i.c" over_index 98   # one in each folder the rule covers (103 lines each)
    fn "$t/cli/d.c" over_cli 98
    fn "$t/tests/long.c" over_test 98
    printf 'int long_one(int a,\n             int b)\n' >"$t/bench/b.c"
    printf '{\n%s\n}\n' "$(for ((i = 0; i < 120; i++)); do echo '    a++;'; done)" >>"$t/bench/b.c"
    printf 'struct s {\n%s};\n' "$(for ((i = 0; i < 150; i++)); do echo '    int f;'; done)" \
        >"$t/tests/unit/t.c"
    for ((i = 0; i < 1887; i++)); do echo "// $i"; done >"$t/cli/c.c"
    for ((i = 0; i < 11; i++)); do echo "// $i"; done >"$t/cli/c.h"
    out=$(CHECK_SIZE_CLI_LINES=2000 "$self" "$t" 2>&1) && { echo "self-test: offenders not caught" >&2; exit 1; }
    for want in "cli/ has 2001 lines (limit 2000)" \
                "src/core/a.c:104 over_limit: 101 lines (limit 100)" \
                "bench/b.c:3 long_one: 122 lines (limit 100)" \
                "src/index/i.c:2 over_index: 101 lines" "cli/d.c:2 over_cli: 101 lines" \
                "tests/long.c:2 over_test: 101 lines"; do
        case "$out" in *"$want"*) ;; *) printf 'self-test: missing "%s" in:\n%s\n' "$want" "$out" >&2; exit 1 ;; esac
    done
    for unwanted in at_limit t.c; do
        case "$out" in *"$unwanted"*) printf 'self-test: "%s" flagged:\n%s\n' "$unwanted" "$out" >&2; exit 1 ;; esac
    done
    rm "$t/cli/c.h" "$t/bench/b.c"
    out=$(CHECK_SIZE_FN_LINES=101 "$self" "$t" 2>&1) || { printf 'self-test: a tree within the limits fails:\n%s\n' "$out" >&2; exit 1; }
    echo "check-size: self-test ok"
    exit 0
fi
cd "${1:-$(dirname "$0")/..}" || exit 2

files() { # the files below the given folders
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files --cached --others --exclude-standard -- "$@" | while read -r f; do
            [ -f "$f" ] && echo "$f"
        done | sort -u
    else
        find "$@" -type f 2>/dev/null | sort
    fi
}

fail=0
cli_lines=$(files cli | grep -E '\.[ch]$' | tr '\n' '\0' | xargs -0 -r cat | wc -l)
if [ "$cli_lines" -gt "$CLI_MAX" ]; then
    echo "check-size: cli/ has $cli_lines lines (limit $CLI_MAX)" >&2
    fail=1
fi

# A function's name: the identifier before the first '(' of the last line that started at
# column 0 before its '{' (the first line of its signature).
long=$(files src cli bench tests | grep -E '\.c$' | tr '\n' '\0' | xargs -0 -r awk -v max="$FN_MAX" '
    FNR == 1 { infn = 0; sig = ""; sigline = 0 }
    /^\{/ { infn = 1; start = FNR; name = sig; sub(/\(.*/, "", name); sub(/.*[^A-Za-z0-9_]/, "", name); next }
    infn && /^\}/ { n = FNR - start + 1; if (n > max) printf "%s:%d %s: %d lines (limit %d)\n", FILENAME, start, name, n, max; infn = 0; next }
    !infn && /^[A-Za-z_]/ { sig = $0 }
')
if [ -n "$long" ]; then
    echo "$long" | sed 's/^/check-size: /' >&2
    fail=1
fi
[ "$fail" = 0 ] || exit 1
echo "check-size: ok (cli/ $cli_lines lines of $CLI_MAX; no function over $FN_MAX lines)"
