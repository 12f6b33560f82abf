/*
 * seize/cluster.h — scale-out over MPI (issue 16): one process per rank under mpirun (or srun),
 * each with its own threads; the index build and the search split over the ranks and joined on
 * rank 0 with the same results as one process, bit for bit.
 *
 *     int main(int argc, char **argv)
 *     {
 *         seize_cluster_init(&argc, &argv);       // MPI_Init when started by mpirun
 *         seize_search_files f = seize_search_files_default();
 *         ...
 *         f.params.n_threads = seize_cluster_threads(0); // this node's cores / its ranks
 *         if (seize_cluster_search_files_run(&f) < 0)     // every rank: its slice; rank 0 writes
 *             fprintf(stderr, "%s\n", seize_errmsg());    // "rank 2 of 4: cannot open ..."
 *     }
 *
 * Built without MPI (the default; `make MPI=1` adds it) or started without a launcher, the
 * module is single-process: rank 0 of 1, and every call does the plain thing (the search and
 * build calls are seize_search_files_run and seize_index_build). Collective calls (marked so)
 * must be made by every rank in the same order. Errors: a collective call returns the same
 * status on every rank; when some rank failed, the lowest failing rank's code and message
 * prefixed "rank R of P: ". A rank that dies ends the job (mpirun's rule).
 *
 * Layout of the work (the decisions of issue 16):
 *   search  the gallery's rows are split into P contiguous ranges: whole shards when a sharded
 *           index has at least P shards (rank r: shards [r·S/P, (r+1)·S/P)), else rows
 *           [r·N/P, (r+1)·N/P). A rank loads only the shards its range touches (of a single
 *           index it maps the features file and reads its rows only); rank 0 opens the whole
 *           index (the names, for the inputs and the rankings file); the queries, exclusions and
 *           subsets go out from rank 0; each rank's top k (global rows) come back and merge
 *           with the search's tie rule (seize_search_result_merge); LDRE joins its drops first.
 *   build   rank r builds shard r/P into OUT.shards/R-of-P (resumable; a rerun with the same P
 *           resumes every shard), then rank 0 merges them into OUT (byte-identical to one
 *           process's build) and removes OUT.shards.
 *   threads 0 requested: this node's cores divided by the ranks on this node (at least 1).
 */
#ifndef SEIZE_CLUSTER_H
#define SEIZE_CLUSTER_H

#include "seize/core.h"
#include "seize/index.h"
#include "seize/retrieval.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Starts MPI (MPI_THREAD_FUNNELED: only the calling thread talks to MPI) when the library was
 * built with it and the process was started by a launcher (Open MPI's mpirun, PMI/PMIx), and
 * registers seize_cluster_finalize with atexit. Once, before any other call of this header.
 * 0, or SEIZE_EINVAL when MPI cannot start. */
int seize_cluster_init(int *argc, char ***argv);
/* Ends MPI if seize_cluster_init started it (atexit-safe; a second call does nothing). */
void seize_cluster_finalize(void);

/* This process's rank, the number of ranks, and the ranks on this node (1, 1, 1 without MPI). */
int seize_cluster_rank(void);
int seize_cluster_size(void);
int seize_cluster_local_size(void);

/* Threads for this rank: `requested` when > 0, else the cores of this machine divided by the
 * ranks on this node (at least 1), so that P ranks on one node do not oversubscribe it. */
int seize_cluster_threads(int requested);

/* Collective: every rank's status (negative: failed with seize_errmsg() set). Returns 0 when
 * all succeeded, else on every rank the code of the lowest failing rank with its message as
 * "rank R of P: MESSAGE" (without MPI: rc itself). */
int seize_cluster_agree(int rc);

/* The rows [*first, *end) of rank `rank` of `size` in a gallery of offsets[n_shards] rows whose
 * shard s holds rows [offsets[s], offsets[s+1]): whole shards when n_shards >= size, else an
 * even split of the rows. Thread-safe. */
void seize_cluster_range(const size_t *offsets, size_t n_shards, int rank, int size, size_t *first,
                         size_t *end);

/* A search result as bytes (for the merge on rank 0) and back. Pack: *buf heap (free()).
 * Unpack: SEIZE_EFORMAT when the bytes are not a packed result. */
int seize_cluster_result_pack(const seize_search_result *r, void **buf, size_t *len);
int seize_cluster_result_unpack(const void *buf, size_t len, seize_search_result **out);

/* Collective: seize_search_files_run split over the ranks (see above): rank 0 reads the query
 * arrays and inputs and writes f->out; the other ranks need only the index folder. The
 * rankings are byte-identical to seize_search_files_run's. f is read on rank 0 only, except
 * index_dir, method and params (every rank's, normally the same command line). If
 * `times` is not NULL it receives on rank 0 the seconds of {load, scan, merge} (the merge:
 * gathering and merging the ranks' results; for benchmarks). */
int seize_cluster_search_files_run(const seize_search_files *f, double times[3]);

/* Collective: seize_index_build split over the ranks (see above). p->out_dir is the final
 * index; each rank builds its shard (p->shard_index/shard_count are set here) with p->threads
 * (0: seize_cluster_threads(0)). res (may be NULL, on any rank) gets on every rank n_ok and
 * n_failed of the merged index, and `resumed` of this rank's shard. Errors: a rank's build
 * error (the job fails, a rerun resumes), the merge's. */
int seize_cluster_index_build(const seize_index_build_params *p, const seize_build_item *items,
                              size_t n, seize_index_build_result *res);

/* seize run under mpirun: rank 0 runs the pipeline and leads the stages that split over the
 * ranks; the others follow. seize_cluster_follow (ranks > 0): takes part in each stage rank 0
 * leads (waiting without spinning) until rank 0 ends the run; returns 0, or rank 0's failure
 * ("rank 0: MESSAGE"). On rank 0: _lead_index_build and _lead_search are
 * seize_cluster_index_build and seize_cluster_search_files_run with the followers (with one
 * rank: seize_index_build and seize_search_files_run); _lead_end(rc, message) ends the
 * followers with the run's status (nothing with one rank). The index folder's path reaches the
 * followers through a message of at most 1023 bytes. */
int seize_cluster_follow(void);
int seize_cluster_lead_index_build(const seize_index_build_params *p, const seize_build_item *items,
                                   size_t n, seize_index_build_result *res);
int seize_cluster_lead_search(const seize_search_files *f);
void seize_cluster_lead_end(int rc, const char *msg);

#ifdef __cplusplus
}
#endif
#endif
