// Unit tests for src/cluster in one process (the MPI runs are tests/mpi/): rank 0 of 1, the
// thread plan, the row ranges of ranks, a search result as bytes and back, the single-process
// search and build calls.
#include "check.h"

#include "seize/cluster.h"

static void test_single_process(void)
{
    int argc = 1;
    char *args[] = {"test", NULL}, **argv = args;
    CHECK_EQ(seize_cluster_init(&argc, &argv), 0);
    CHECK_EQ(seize_cluster_rank(), 0);
    CHECK_EQ(seize_cluster_size(), 1);
    CHECK_EQ(seize_cluster_local_size(), 1);
    CHECK_EQ(seize_cluster_threads(3), 3);
    CHECK_EQ(seize_cluster_threads(0), seize_cpu_count());
    CHECK_EQ(seize_cluster_agree(0), 0);
    seize_error(SEIZE_EIO, "disk on fire");
    CHECK_EQ(seize_cluster_agree(SEIZE_EIO), SEIZE_EIO);
    CHECK(strstr(seize_errmsg(), "disk on fire") != NULL);
    seize_cluster_finalize();
    seize_cluster_finalize(); // a second call does nothing
}

static void test_ranges(void)
{
    // 3 shards of 4, 0 and 6 rows: at least as many shards as ranks: whole shards per rank
    const size_t off[4] = {0, 4, 4, 10};
    size_t a, b;
    seize_cluster_range(off, 3, 0, 2, &a, &b); // shards [0, 1)
    CHECK(a == 0 && b == 4);
    seize_cluster_range(off, 3, 1, 2, &a, &b); // shards [1, 3)
    CHECK(a == 4 && b == 10);
    seize_cluster_range(off, 3, 2, 3, &a, &b);
    CHECK(a == 4 && b == 10);
    // fewer shards than ranks: rows, covering the gallery in order
    const size_t one[2] = {0, 10};
    size_t end = 0;
    for (int r = 0; r < 4; r++) {
        seize_cluster_range(one, 1, r, 4, &a, &b);
        CHECK_EQ(a, end);
        CHECK(b >= a && b - a <= 3);
        end = b;
    }
    CHECK_EQ(end, 10);
    const size_t few[2] = {0, 2};
    size_t n_empty = 0;
    end = 0;
    for (int r = 0; r < 4; r++) { // more ranks than rows: some ranges are empty
        seize_cluster_range(few, 1, r, 4, &a, &b);
        CHECK_EQ(a, end);
        n_empty += a == b;
        end = b;
    }
    CHECK(end == 2 && n_empty == 2);
}

static void test_result_bytes(void)
{
    float G[5 * 2] = {1, 0, 0, 1, 0.6f, 0.8f, -1, 0, 0.8f, 0.6f};
    float A[2 * 2] = {0.8f, 0.6f, -0.2f, 1};
    size_t ex[2] = {0, SIZE_MAX}, r0[3] = {0, 1, 2}, r1[2] = {4, 3}, nr[2] = {3, 2};
    const size_t *rows[2] = {r0, r1};
    seize_subsets S = {rows, nr};
    seize_embeddings g = {G, SEIZE_F32, 5, 2};
    seize_search_params p = seize_search_default_params();
    p.pos = p.neg = 0;
    p.k = 3;
    for (int sub = 0; sub < 2; sub++) {
        seize_search_result *r = NULL, *back = NULL;
        CHECK_EQ(seize_search(&g, A, NULL, 2, ex, sub ? &S : NULL, &p, &r), 0);
        void *buf = NULL;
        size_t len = 0;
        CHECK_EQ(seize_cluster_result_pack(r, &buf, &len), 0);
        CHECK_EQ(seize_cluster_result_unpack(buf, len, &back), 0);
        CHECK(back->n_queries == 2 && back->k == 3 && !back->subset_off == !sub);
        for (size_t q = 0; q < 2; q++) {
            CHECK_EQ(back->n_ranked[q], r->n_ranked[q]);
            for (size_t j = 0; j < r->n_ranked[q]; j++) {
                CHECK_EQ(back->index[q * 3 + j], r->index[q * 3 + j]);
                CHECK(back->score[q * 3 + j] == r->score[q * 3 + j]);
            }
            for (size_t j = 0; sub && j < r->subset_n[q]; j++) {
                CHECK_EQ(back->subset_index[back->subset_off[q] + j],
                         r->subset_index[r->subset_off[q] + j]);
                CHECK(back->subset_score[back->subset_off[q] + j] ==
                      r->subset_score[r->subset_off[q] + j]);
            }
        }
        seize_search_result_free(back);
        back = (void *)1;
        // damaged: cut short, a byte more, another magic
        CHECK_EQ(seize_cluster_result_unpack(buf, len - 1, &back), SEIZE_EFORMAT);
        CHECK(back == NULL);
        CHECK(strstr(seize_errmsg(), "not a packed search result"));
        unsigned char *more = calloc(1, len + 1);
        memcpy(more, buf, len);
        CHECK_EQ(seize_cluster_result_unpack(more, len + 1, &back), SEIZE_EFORMAT);
        more[0] ^= 1;
        CHECK_EQ(seize_cluster_result_unpack(more, len, &back), SEIZE_EFORMAT);
        free(more);
        free(buf);
        seize_search_result_free(r);
    }
}

// One process: the search call is seize_search_files_run (the same file), also through the
// cluster path that benchmarks time (times given).
static void test_search_single(void)
{
    float G[4 * 2] = {1, 0, 0, 1, 0.6f, 0.8f, -1, 0}, A[2 * 2] = {0.8f, 0.6f, -0.2f, 1};
    const char *names[4] = {"r", "t", "m", "x"};
    CHECK_EQ(seize_index_write(check_tmp("ix"), G, 4, 2, names, SEIZE_F32, NULL), 0);
    size_t shape[2] = {2, 2};
    CHECK_EQ(seize_npy_save(check_tmp("a.npy"), SEIZE_F32, 2, shape, A), 0);
    seize_search_files f = seize_search_files_default();
    char *ix = strdup(check_tmp("ix")), *a = strdup(check_tmp("a.npy")); // (check_tmp's buffer)
    char *one = strdup(check_tmp("one.jsonl")), *timed = strdup(check_tmp("timed.jsonl"));
    char *led = strdup(check_tmp("led.jsonl")), *missing = strdup(check_tmp("missing.npy"));
    f.index_dir = ix;
    f.after = f.before = a;
    f.params.k = 3;
    f.out = one;
    CHECK_EQ(seize_cluster_search_files_run(&f, NULL), 0);
    double t[3] = {-1, -1, -1};
    f.out = timed;
    CHECK_EQ(seize_cluster_search_files_run(&f, t), 0);
    CHECK(t[0] >= 0 && t[1] >= 0 && t[2] >= 0);
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    CHECK_EQ(seize_read_file(one, &x, &nx), 0);
    CHECK_EQ(seize_read_file(timed, &y, &ny), 0);
    CHECK(nx == ny && nx > 0 && memcmp(x, y, nx) == 0);
    free(y);
    // seize run's leading calls are the plain ones with one rank; rank 0 never follows
    f.out = led;
    CHECK_EQ(seize_cluster_lead_search(&f), 0);
    CHECK_EQ(seize_read_file(led, &y, &ny), 0);
    CHECK(nx == ny && memcmp(x, y, nx) == 0);
    free(x);
    free(y);
    seize_cluster_lead_end(0, NULL);
    seize_cluster_lead_end(SEIZE_EIO, "x");
    CHECK_EQ(seize_cluster_follow(), SEIZE_EINVAL);
    f.after = missing;
    CHECK(seize_cluster_search_files_run(&f, t) < 0);
    CHECK_MSG(strstr(seize_errmsg(), "missing.npy"), "%s", seize_errmsg());
    free(ix), free(a), free(one), free(timed), free(led), free(missing);
}

int main(void)
{
    if (check_tmp_init("cluster") < 0) return 1;
    RUN(test_single_process);
    RUN(test_ranges);
    RUN(test_result_bytes);
    RUN(test_search_single);
    check_tmp_cleanup();
    return check_summary("cluster");
}
