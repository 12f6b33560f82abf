// Benchmark: the semantic editing search for the CIRCO test shape with ViT-bigG features
// (800 queries over a 123,403 × 1280 gallery, k = 50, 2 threads) against one cblas_sgemm of the
// same M, N, K (800 × 123403 × 1280) and one of the stacked a/b size (1600 × 123403 × 1280),
// measured in the same run. Also reports the peak memory the search added.
#include "seize/retrieval.h"

#include "bench_util.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define frand bench_frand
// Peak resident memory so far (VmHWM), in MiB.
static double peak_mib(void)
{
    return bench_status_mib("VmHWM:");
}

static double time_sgemm(const float *A, const float *G, float *C, int M, int N, int K, int reps)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = seize_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, G, K, 0.0f, C, N);
        t = seize_now() - t;
        if (t < best) best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    size_t n = 123403, dim = 1280, nq = 800, k = 50;
    int threads = 2, reps = 2;
    if (argc > 1 && !strcmp(argv[1], "--quick")) n = 20000, reps = 1; // smoke run
    float *G = seize_alloc_aligned(n * dim, sizeof *G);
    float *A = seize_alloc_aligned(nq * dim, sizeof *A),
          *B = seize_alloc_aligned(nq * dim, sizeof *B);
    size_t *ex = malloc(nq * sizeof *ex);
    if (!G || !A || !B || !ex) {
        fprintf(stderr, "bench_search: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n * dim; i++)
        G[i] = frand();
    seize_normalize_rows(G, n, dim);
    for (size_t i = 0; i < nq * dim; i++)
        A[i] = frand(), B[i] = A[i] + 0.5f * frand();
    for (size_t q = 0; q < nq; q++)
        ex[q] = (q * 7919) % n;
    seize_embeddings g = {G, SEIZE_F32, n, dim};
    // the application plans the threads: one pool for the scans, BLAS on as many threads
    seize_pool *pool = NULL;
    if (seize_pool_new(threads, &pool) < 0) {
        fprintf(stderr, "bench_search: %s\n", seize_errmsg());
        return 1;
    }
    seize_blas_threads_set(threads);
    seize_search_params p = seize_search_default_params();
    p.k = k;
    p.pool = pool;

    // search (best of reps), with the memory it adds on top of gallery and queries
    double before = peak_mib(), t_search = 1e30;
    for (int r = 0; r < reps; r++) {
        seize_search_result *res = NULL;
        double t = seize_now();
        if (seize_search(&g, A, B, nq, ex, NULL, &p, &res) < 0) {
            fprintf(stderr, "bench_search: %s\n", seize_errmsg());
            return 1;
        }
        t = seize_now() - t;
        if (t < t_search) t_search = t;
        seize_search_result_free(res);
    }
    double search_extra = peak_mib() - before;
    size_t n_exact = 0;
    p.stats_exact = &n_exact;
    seize_search_result *res = NULL;
    if (seize_search(&g, A, B, nq, ex, NULL, &p, &res) < 0) return 1;
    seize_search_result_free(res);
    // the same search without pruning: a and b for every row (one sgemm of 2Q rows per block)
    p.no_prune = 1;
    p.stats_exact = NULL;
    double t_full = 1e30;
    for (int r = 0; r < 1; r++) {
        double t = seize_now();
        if (seize_search(&g, A, B, nq, ex, NULL, &p, &res) < 0) return 1;
        t = seize_now() - t;
        if (t < t_full) t_full = t;
        seize_search_result_free(res);
    }

    // the sgemm limits (the output matrices are what a non-streaming search would hold)
    float *C = seize_alloc_aligned(2 * nq * n, sizeof *C);
    float *AB = seize_alloc_aligned(2 * nq * dim, sizeof *AB);
    if (!C || !AB) {
        fprintf(stderr, "bench_search: out of memory for the sgemm output\n");
        return 1;
    }
    memcpy(AB, A, nq * dim * sizeof *A);
    memcpy(AB + nq * dim, B, nq * dim * sizeof *B);
    double t_gemm = time_sgemm(A, G, C, (int)nq, (int)n, (int)dim, reps);
    double t_gemm2 = time_sgemm(AB, G, C, (int)(2 * nq), (int)n, (int)dim, 1);
    double gflop = 2.0 * (double)nq * (double)n * (double)dim / 1e9;
    printf("search %zu queries x %zu x %zu (seize pos 0.13 neg 2.1, k=%zu, %d threads): %.3f s, "
           "%.2f x sgemm %zux%zux%zu (%.3f s, %.0f GFLOP/s); %zu rows scored exactly (%.2f%%); "
           "search added %.0f MiB peak (a full score matrix: %.0f MiB)\n",
           nq, n, dim, k, threads, t_search, t_search / t_gemm, nq, n, dim, t_gemm, gflop / t_gemm,
           n_exact, 100.0 * (double)n_exact / ((double)nq * (double)n), search_extra,
           2.0 * (double)nq * (double)n * 4 / 1048576.0);
    printf("search without pruning (a and b for every row): %.3f s, %.2f x sgemm %zux%zux%zu "
           "(%.3f s)\n",
           t_full, t_full / t_gemm2, 2 * nq, n, dim, t_gemm2);
    seize_pool_free(pool);
    free(C);
    free(AB);
    free(G);
    free(A);
    free(B);
    free(ex);
    return 0;
}
