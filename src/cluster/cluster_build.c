// seize index build over MPI ranks (seize/cluster.h): rank r builds shard r/P into
// OUT.shards/R-of-P (its own threads; a rerun resumes it), then rank 0 merges the shards into
// OUT and removes them.
#include "seize/cluster.h"

#include "cluster_int.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

// OUT.shards/R-of-P (heap) for rank r of p; NULL on out of memory.
static char *shard_dir(const char *out, int r, int p)
{
    int n = snprintf(NULL, 0, "%s.shards/%d-of-%d", out, r, p);
    char *s = malloc((size_t)n + 1);
    if (s) snprintf(s, (size_t)n + 1, "%s.shards/%d-of-%d", out, r, p);
    return s;
}

// Rank 0: the P shards into p->out_dir; the shard folders are removed after a merge.
static int merge_shards(const seize_index_build_params *p, int size, seize_index_build_result *res)
{
    char **dirs = calloc((size_t)size, sizeof *dirs);
    int rc = dirs ? 0 : seize_error(SEIZE_ENOMEM, "out of memory");
    for (int r = 0; r < size && rc == 0; r++)
        if (!(dirs[r] = shard_dir(p->out_dir, r, size)))
            rc = seize_error(SEIZE_ENOMEM, "out of memory");
    seize_index_merge_result m = {0};
    if (rc == 0) {
        seize_index_merge_params mp = {p->out_dir, (const char *const *)dirs, (size_t)size, 0};
        rc = seize_index_merge(&mp, &m);
    }
    if (rc == 0 && res) res->n_ok = m.count, res->n_failed = m.n_failed;
    for (int r = 0; rc == 0 && r < size; r++)
        nftw(dirs[r], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (rc == 0 && dirs) { // the parent, when nothing else is in it
        char *parent = shard_dir(p->out_dir, 0, 1);
        if (parent) *strrchr(parent, '/') = 0, rmdir(parent);
        free(parent);
    }
    for (int r = 0; dirs && r < size; r++)
        free(dirs[r]);
    free(dirs);
    return rc;
}

int seize_cluster_index_build(const seize_index_build_params *p, const seize_build_item *items,
                              size_t n, seize_index_build_result *res)
{
    int size = seize_cluster_size(), rank = seize_cluster_rank();
    if (size == 1) return seize_index_build(p, items, n, res);
    int rc = 0;
    if (p->shard_count)
        rc = seize_error(SEIZE_EINVAL, "a shard build (--shard) cannot run under mpirun: each "
                                       "rank builds its shard of the whole list itself");
    char *dir = rc == 0 ? shard_dir(p->out_dir, rank, size) : NULL;
    if (rc == 0 && !dir) rc = seize_error(SEIZE_ENOMEM, "out of memory");
    if (rc == 0) { // OUT.shards: every rank may be first
        char *parent = shard_dir(p->out_dir, 0, 1);
        if (parent) *strrchr(parent, '/') = 0;
        if (!parent || (mkdir(parent, 0777) < 0 && errno != EEXIST))
            rc = seize_error(SEIZE_EIO, "cannot create '%s': %s", parent ? parent : p->out_dir,
                             strerror(errno));
        free(parent);
    }
    seize_index_build_result mine = {0}; // (a rank may pass res NULL, another not)
    if (rc == 0) {
        seize_index_build_params sp = *p;
        sp.out_dir = dir;
        sp.shard_index = (size_t)rank;
        sp.shard_count = (size_t)size;
        sp.threads = seize_cluster_threads(p->threads);
        rc = seize_index_build(&sp, items, n, &mine);
    }
    free(dir);
    if ((rc = seize_cluster_agree(rc)) < 0) return rc;
    if (rank == 0) rc = merge_shards(p, size, &mine);
    if ((rc = seize_cluster_agree(rc)) < 0) return rc; // every rank waits for the merge's status
    uint64_t c[2] = {mine.n_ok, mine.n_failed}; // every rank reports the merged index's counts
    cl_bcast(c, sizeof c);
    if (res) *res = (seize_index_build_result){(size_t)c[0], (size_t)c[1], mine.resumed};
    return 0;
}
