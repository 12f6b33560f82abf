// Benchmark: the search split over MPI ranks (seize/cluster.h), run by bench/bench_mpi.sh under
// mpirun with an MPI build: INDEX A.npy B.npy THREADS REPS OUT. Rank 0 prints one line: the
// best of REPS seconds of the scan (every rank's slice, the slowest rank) and of the merge
// (gathering the ranks' top k and merging them on rank 0), and the first load (reading the
// index and queries, sending the queries). Run without arguments it only says how it is run.
#include "seize/cluster.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    seize_cluster_init(&argc, &argv);
    if (argc < 7) {
        if (seize_cluster_rank() == 0)
            printf("bench_mpi: the search over MPI ranks is measured by bench/bench_mpi.sh\n");
        return 0;
    }
    int threads = atoi(argv[4]), reps = atoi(argv[5]);
    seize_search_files f = seize_search_files_default();
    f.index_dir = argv[1], f.after = argv[2], f.before = argv[3], f.out = argv[6];
    f.params.k = 50;
    f.params.n_threads = seize_cluster_threads(threads);
    seize_blas_threads_set(f.params.n_threads);
    double load = 0, scan = 1e30, merge = 1e30;
    for (int r = 0; r < reps; r++) {
        double t[3];
        if (seize_cluster_search_files_run(&f, t) < 0) {
            fprintf(stderr, "bench_mpi: %s\n", seize_errmsg());
            return 1;
        }
        if (r == 0) load = t[0];
        scan = t[1] < scan ? t[1] : scan;
        merge = t[2] < merge ? t[2] : merge;
    }
    if (seize_cluster_rank() == 0)
        printf("ranks %d threads %d: load %.3f s scan %.4f s merge %.6f s\n", seize_cluster_size(),
               f.params.n_threads, load, scan, merge);
    return 0;
}
