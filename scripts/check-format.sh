#!/usr/bin/env bash
# Fails when a C source or header tracked by git is not laid out as .clang-format says.
# Usage: scripts/check-format.sh            (run by `make check` and so by .ci/run)
#        make format                         (rewrites the files in place)
set -u
cd "$(dirname "$0")/.." || exit 2
command -v clang-format >/dev/null || { echo "check-format: clang-format not installed" >&2; exit 2; }
bad=()
while IFS= read -r f; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.c' '*.h')
if [ ${#bad[@]} -gt 0 ]; then
  echo "check-format: ${#bad[@]} file(s) not formatted (run 'make format'):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check-format: $(git ls-files '*.c' '*.h' | wc -l) files formatted"
