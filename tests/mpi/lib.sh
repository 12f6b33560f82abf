# Shared helpers for tests/mpi/test_*.sh (sourced; on top of tests/cli/lib.sh). Exit 77: skipped.
TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SEIZE_BIN=${SEIZE_BIN:-$TOP/build/mpi/seize} # an MPI build (make MPI=1 BUILD=build/mpi)
. "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
command -v mpirun >/dev/null || { echo "  skipped: no mpirun" >&2; exit 77; }
# Open MPI refuses root unless told; CI containers run as root
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMPI_MCA_btl=self,vader # one machine: shared memory only (no network probing)
# mpi P ARGS...: the tool on P ranks of this machine (more ranks than cores allowed)
mpi() { local p=$1; shift; mpirun --oversubscribe --bind-to none -np "$p" $WRAP "$SEIZE_BIN" "$@"; }
# same A B WHAT: the two files are byte-identical
same() { cmp "$1" "$2" >/dev/null || fail "$3: '$2' differs from '$1'"; }
