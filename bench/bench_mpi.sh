#!/usr/bin/env bash
# Strong scaling of seize search over MPI ranks (issue 16) on the CIRCO test shape with ViT-bigG
# features: 800 queries over a 123,403 x 1280 float16 gallery (random unit rows), k = 50, SEIZE
# weights. The same search on 1 rank of 1 thread, 2 ranks of 1 thread (ideal: 2x), 1 rank of 2
# threads and 2 ranks of 1 thread (the whole machine either way: ideal 1x); the merge of the
# ranks' top k on rank 0 against the scan. Needs an MPI build (make MPI=1 BUILD=build/mpi, built
# here when missing) and mpirun; otherwise one line says it was skipped. Set SEIZE_MPI_BENCH_ROWS
# for another gallery size.
set -u
MPI_BUILD=${MPI_BUILD:-build/mpi}
PYTHON=${PYTHON:-/usr/bin/python3}
N=${SEIZE_MPI_BENCH_ROWS:-123403}
say() { echo "mpi_search: $*"; }
command -v mpirun >/dev/null || { say "skipped (no mpirun)"; exit 0; }
pkg-config --exists ompi-c 2>/dev/null || { say "skipped (no Open MPI development files)"; exit 0; }
if [ ! -x "$MPI_BUILD/bench/bench_mpi" ] || [ ! -x "$MPI_BUILD/seize" ]; then
  make --no-print-directory -j2 SEIZE_DEPS_OK=1 MPI=1 BUILD="$MPI_BUILD" "$MPI_BUILD/seize" \
      "$MPI_BUILD/bench/bench_mpi" >/dev/null || { say "skipped (the MPI build failed)"; exit 0; }
fi
$PYTHON -c 'import numpy' 2>/dev/null || { say "skipped (no numpy)"; exit 0; }
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMPI_MCA_btl=self,vader
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
$PYTHON - "$T" "$N" <<'PY' || { say "skipped (cannot make the data)"; exit 0; }
import sys, numpy as np
t, n = sys.argv[1], int(sys.argv[2]); r = np.random.default_rng(1)
g = np.empty((n, 1280), np.float32)
for i in range(0, n, 16384):
    g[i:i + 16384] = r.standard_normal((min(16384, n - i), 1280), dtype=np.float32)
np.save(f"{t}/g.npy", g)
open(f"{t}/names.txt", "w").write("".join(f"{i:012d}\n" for i in range(n)))
a = r.standard_normal((800, 1280), dtype=np.float32)
np.save(f"{t}/a.npy", a); np.save(f"{t}/b.npy", a + 0.5 * r.standard_normal((800, 1280), dtype=np.float32))
PY
"$MPI_BUILD/seize" index import --features "$T/g.npy" --names "$T/names.txt" --out "$T/ix" \
    --dtype f16 >/dev/null 2>&1 || { say "skipped (index import failed)"; exit 0; }
rm -f "$T/g.npy"
run() { # run P THREADS: the bench line of P ranks
  mpirun --oversubscribe --bind-to none -np "$1" "$MPI_BUILD/bench/bench_mpi" "$T/ix" "$T/a.npy" \
      "$T/b.npy" "$2" 3 "$T/r$1-$2.jsonl" 2>&1 | grep '^ranks'
}
l11=$(run 1 1) l21=$(run 2 1) l12=$(run 1 2)
for l in "$l11" "$l21" "$l12"; do [ -n "$l" ] || { say "failed: $l11 / $l21 / $l12"; exit 1; }; done
cmp -s "$T/r1-1.jsonl" "$T/r2-1.jsonl" && cmp -s "$T/r1-1.jsonl" "$T/r1-2.jsonl" ||
  { say "FAILED: the rankings of 1 and 2 ranks differ"; exit 1; }
field() { sed -E "s/.* $1 ([0-9.]+) s.*/\1/" <<<"$2"; }
s11=$(field scan "$l11") s21=$(field scan "$l21") s12=$(field scan "$l12") m21=$(field merge "$l21")
say "800 queries x $N x 1280 f16, k=50, $(nproc) cores (rankings identical on 1 and 2 ranks)"
say "  1 rank  x 1 thread : scan $s11 s  ($l11)"
say "  2 ranks x 1 thread : scan $s21 s  ($l21)"
say "  1 rank  x 2 threads: scan $s12 s  ($l12)"
awk -v a="$s11" -v b="$s21" -v c="$s12" -v m="$m21" 'BEGIN {
  printf "mpi_search: speedup 2 ranks vs 1 (1 thread each): %.2fx, efficiency %.2f of ideal 2x\n", a / b, a / b / 2
  printf "mpi_search: 2 ranks x 1 thread vs 1 rank x 2 threads: %.2fx (ideal 1x: the same cores)\n", c / b
  printf "mpi_search: merge of 2 ranks'"'"' top 50 on rank 0: %.6f s = %.4f of the scan\n", m, m / b
}'
