// The cluster module's process layer: MPI start and end, ranks, the thread plan, the agreement on
// a status, and the byte transfers the search and build use (src/cluster/cluster_int.h). Without
// SEIZE_MPI (or without a launcher) it is one process: rank 0 of 1.
#include "seize/cluster.h"

#include "cluster_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef SEIZE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1, g_local = 1, g_started = 0;

#ifdef SEIZE_MPI
// A launcher sets one of these (Open MPI's mpirun, PMIx, PMI-1/2 as srun's): without one the
// process is alone and MPI is not started (no singleton start-up, no MPI needed at run time).
static int launched(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}
#endif

int seize_cluster_init(int *argc, char ***argv)
{
#ifdef SEIZE_MPI
    if (g_started || !launched()) return 0;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return seize_error(SEIZE_EINVAL, "cannot start MPI");
    g_started = 1;
    atexit(seize_cluster_finalize);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) ==
        MPI_SUCCESS) {
        MPI_Comm_size(node, &g_local);
        MPI_Comm_free(&node);
    }
#else
    (void)argc;
    (void)argv;
#endif
    return 0;
}

void seize_cluster_finalize(void)
{
#ifdef SEIZE_MPI
    int done = 0;
    if (g_started && MPI_Finalized(&done) == MPI_SUCCESS && !done) MPI_Finalize();
#endif
    g_started = 0;
}

int seize_cluster_rank(void)
{
    return g_rank;
}

int seize_cluster_size(void)
{
    return g_size;
}

int seize_cluster_local_size(void)
{
    return g_local;
}

int seize_cluster_threads(int requested)
{
    if (requested > 0) return requested;
    int t = seize_cpu_count() / (g_local > 0 ? g_local : 1);
    return t > 0 ? t : 1;
}

void seize_cluster_range(const size_t *offsets, size_t n_shards, int rank, int size, size_t *first,
                         size_t *end)
{
    size_t n = offsets[n_shards], r = (size_t)rank, p = size > 0 ? (size_t)size : 1;
    if (n_shards >= p) {
        *first = offsets[r * n_shards / p];
        *end = offsets[(r + 1) * n_shards / p];
    } else {
        seize_shard_rows(n, 1, r, p, first, end);
    }
}

int seize_cluster_agree(int rc)
{
#ifdef SEIZE_MPI
    if (g_size <= 1) return rc;
    int mine = rc < 0 ? rc : 0, *all = malloc((size_t)g_size * sizeof *all);
    if (!all) MPI_Abort(MPI_COMM_WORLD, 1); // the last resort: a rank cannot even agree
    MPI_Allgather(&mine, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD);
    int f = 0;
    while (f < g_size && all[f] == 0)
        f++;
    int code = f < g_size ? all[f] : 0;
    free(all);
    if (f == g_size) return 0;
    char msg[1024] = {0};
    if (f == g_rank) snprintf(msg, sizeof msg, "%s", seize_errmsg());
    MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, f, MPI_COMM_WORLD);
    return seize_error(code, "rank %d of %d: %s", f, g_size, msg);
#else
    return rc;
#endif
}

// --- transfers (cluster_int.h)

void cl_barrier(void)
{
#ifdef SEIZE_MPI
    if (g_size > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

// MPI counts are int: large buffers go in pieces of 1 GiB.
enum { PIECE = 1 << 30 };

void cl_bcast(void *buf, size_t len)
{
#ifdef SEIZE_MPI
    if (g_size <= 1) return;
    for (size_t o = 0; o < len; o += PIECE) {
        size_t m = len - o < PIECE ? len - o : PIECE;
        MPI_Bcast((char *)buf + o, (int)m, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
#else
    (void)buf;
    (void)len;
#endif
}

void cl_bcast_idle(void *buf, size_t len)
{
#ifdef SEIZE_MPI
    if (g_size <= 1) return;
    // a waiting rank sleeps between tests instead of spinning on a core rank 0 may need
    MPI_Request req;
    MPI_Ibcast(buf, (int)len, MPI_BYTE, 0, MPI_COMM_WORLD, &req);
    int done = 0;
    while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done)
        nanosleep(&(struct timespec){0, 2000000}, NULL);
#else
    (void)buf;
    (void)len;
#endif
}

int cl_bcast_alloc(void **buf, size_t *len)
{
    uint64_t n = *len;
    cl_bcast(&n, sizeof n);
    if (g_rank != 0) {
        *len = (size_t)n;
        *buf = malloc(n ? n : 1);
    }
    int ok = *buf != NULL;
    int rc = seize_cluster_agree(
        ok ? 0 : seize_error(SEIZE_ENOMEM, "out of memory (%zu bytes)", (size_t)n));
    if (rc == 0) cl_bcast(*buf, (size_t)n);
    return rc;
}

int cl_gather(const void *buf, size_t len, void ***bufs, size_t **lens)
{
    *bufs = NULL;
    *lens = NULL;
    int rc = 0;
    if (g_rank == 0) {
        *bufs = calloc((size_t)g_size, sizeof **bufs);
        *lens = calloc((size_t)g_size, sizeof **lens);
        if (!*bufs || !*lens) rc = seize_error(SEIZE_ENOMEM, "out of memory");
        if (rc == 0 && ((*bufs)[0] = malloc(len ? len : 1)) != NULL) {
            memcpy((*bufs)[0], buf, len);
            (*lens)[0] = len;
        } else if (rc == 0) {
            rc = seize_error(SEIZE_ENOMEM, "out of memory");
        }
    }
#ifdef SEIZE_MPI
    if (g_size > 1) {
        uint64_t n = len, *all = g_rank == 0 ? calloc((size_t)g_size, sizeof *all) : NULL;
        if (g_rank == 0 && !all) MPI_Abort(MPI_COMM_WORLD, 1); // (MPI_Gather needs it; as agree)
        MPI_Gather(&n, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
        for (int r = 1; g_rank == 0 && all && r < g_size && rc == 0; r++)
            if (!((*bufs)[r] = malloc(all[r] ? all[r] : 1)))
                rc = seize_error(SEIZE_ENOMEM, "out of memory");
            else
                (*lens)[r] = (size_t)all[r];
        free(all);
        if ((rc = seize_cluster_agree(rc)) < 0) return rc;
        // point to point from each rank, in pieces
        if (g_rank == 0) {
            for (int r = 1; r < g_size; r++)
                for (size_t o = 0; o < (*lens)[r]; o += PIECE) {
                    size_t m = (*lens)[r] - o < PIECE ? (*lens)[r] - o : PIECE;
                    MPI_Recv((char *)(*bufs)[r] + o, (int)m, MPI_BYTE, r, 7, MPI_COMM_WORLD,
                             MPI_STATUS_IGNORE);
                }
        } else {
            for (size_t o = 0; o < len; o += PIECE) {
                size_t m = len - o < PIECE ? len - o : PIECE;
                MPI_Send((const char *)buf + o, (int)m, MPI_BYTE, 0, 7, MPI_COMM_WORLD);
            }
        }
    }
#endif
    return rc;
}

void cl_gather_free(void **bufs, size_t *lens)
{
    for (int r = 0; bufs && r < g_size; r++)
        free(bufs[r]);
    free(bufs);
    free(lens);
}
