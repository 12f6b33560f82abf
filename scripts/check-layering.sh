#!/usr/bin/env bash
# Include layering (ARCHITECTURE.md §9): data flows one way, each arrow a public header.
#
#   core <- image <- text <- nn <- net <- data <- index <- retrieval <- cluster <- eval <- pipeline
#   <- serve <- cli
#
# Fails when
#   - a module (src/<module>/ or its public header include/seize/<h>.h) includes the public header
#     of a module that comes later in that order (core including anything else, index including
#     retrieval.h, ...);
#   - a file in src/, cli/ or include/ includes another folder's private header ("nn/backend.h";
#     the build enforces this too: src/<module>/ compiles with -Iinclude -Isrc/<module> only);
#   - a public header or a src/ folder is not in the table below (add it there);
#   - the umbrella include/seize/seize.h misses a public header.
# The umbrella seize/seize.h is for applications (cli/, server/, tests, bench) only.
# Usage: scripts/check-layering.sh [repository root]   (run by `make check` and .ci/run)
#        scripts/check-layering.sh --self-test          (checks that violations are caught)
set -u
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

if [ "${1:-}" = --self-test ]; then
    t=$(mktemp -d) || exit 2
    trap 'rm -rf "$t"' EXIT
    mkdir -p "$t/include/seize" "$t/src/core" "$t/src/index" "$t/cli"
    printf '#include "seize/core.h"\n#include "seize/index.h"\n' >"$t/include/seize/clip.h"
    printf '#include <stdio.h>\n' >"$t/include/seize/core.h"
    printf '#include "seize/core.h"\n' >"$t/include/seize/index.h"
    printf '#include "seize/core.h"\n' >"$t/include/seize/retrieval.h"
    printf '#include "seize/core.h"\n#include "seize/clip.h"\n' >"$t/include/seize/seize.h"
    printf '#include "seize/seize.h"\n' >"$t/src/core/c.c"
    printf '#include "seize/image.h"\n' >"$t/src/core/a.c"
    printf '#include "seize/retrieval.h"\n#include "nn/backend.h"\n' >"$t/src/index/b.c"
    printf '#include "seize/retrieval.h"\n#include "cli.h"\n' >"$t/cli/ok.c"
    out=$("$self" "$t" 2>&1) && { echo "self-test: violations not caught" >&2; exit 1; }
    for want in "include/seize/clip.h (nn) includes \"seize/index.h\"" \
                "src/core/a.c (core) includes \"seize/image.h\"" \
                "src/index/b.c (index) includes \"seize/retrieval.h\"" \
                "src/index/b.c includes \"nn/backend.h\": another folder's private header" \
                "src/core/c.c: library code includes the umbrella" \
                "(the umbrella) does not include \"seize/index.h\""; do
        case "$out" in *"$want"*) ;; *) echo "self-test: missing '$want' in:\n$out" >&2; exit 1 ;; esac
    done
    case "$out" in *"seize/core.h\""*) echo "self-test: core.h flagged:\n$out" >&2; exit 1 ;; esac
    case "$out" in *cli/ok.c*) echo "self-test: cli/ok.c flagged:\n$out" >&2; exit 1 ;; esac
    echo "check-layering: self-test ok"
    exit 0
fi
cd "${1:-$(dirname "$0")/..}" || exit 2

ORDER="core image text nn net data index retrieval cluster eval pipeline serve"
# public header (include/seize/<name>.h) -> module
header_module() {
    case "$1" in
        core) echo core ;;
        image) echo image ;;
        text) echo text ;;
        model | clip | blip2) echo nn ;;
        net | hub) echo net ;;
        data | layout) echo data ;;
        index) echo index ;;
        retrieval) echo retrieval ;;
        cluster) echo cluster ;;
        serve) echo serve ;;
        eval) echo eval ;;
        pipeline | run | query | captioner | reasoner) echo pipeline ;;
        seize) echo app ;;
        *) echo "" ;;
    esac
}
rank() {
    local i=0 m
    for m in $ORDER; do
        [ "$m" = "$1" ] && { echo $i; return; }
        i=$((i + 1))
    done
    [ "$1" = app ] && { echo 100; return; }
    echo ""
}

fail=0
err() { echo "check-layering: $*" >&2; fail=1; }

check_file() { # file module
    local f=$1 mod=$2 r inc h hm hr
    r=$(rank "$mod")
    while IFS= read -r inc; do
        case "$inc" in
            seize/*.h)
                h=${inc#seize/}; h=${h%.h}
                hm=$(header_module "$h")
                if [ -z "$hm" ]; then
                    err "$f includes \"$inc\", a public header missing from the table in $0"
                    continue
                fi
                hr=$(rank "$hm")
                [ "$hr" -gt "$r" ] &&
                    err "$f ($mod) includes \"$inc\" of module '$hm', which comes later (order: $ORDER)" ;;
            */*) err "$f includes \"$inc\": another folder's private header (use public headers only)" ;;
        esac
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
}

for h in include/seize/*.h; do
    n=$(basename "$h" .h)
    if [ "$n" != seize ] && [ -e include/seize/seize.h ] &&
        ! grep -q "^#include \"seize/$n.h\"" include/seize/seize.h; then
        err "include/seize/seize.h (the umbrella) does not include \"seize/$n.h\""
    fi
    m=$(header_module "$n")
    if [ -z "$m" ]; then err "$h: public header missing from the table in $0"; continue; fi
    check_file "$h" "$m"
done
for d in src/*/; do
    m=$(basename "$d")
    if [ -z "$(rank "$m")" ]; then err "$d: module missing from the order in $0"; continue; fi
    for f in "$d"*.c "$d"*.h; do
        [ -e "$f" ] || continue
        grep -q '"seize/seize.h"' "$f" && err "$f: library code includes the umbrella seize/seize.h"
        check_file "$f" "$m"
    done
done
for f in cli/*.c cli/*.h server/*.c server/*.h; do
    [ -e "$f" ] && check_file "$f" app
done

if [ $fail -ne 0 ]; then exit 1; fi
echo "check-layering: ok ($ORDER)"
