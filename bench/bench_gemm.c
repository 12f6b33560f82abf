// Benchmark: the CPU backend's matrix products (src/nn/gemm.h) in fp32, bf16 and int8 on the
// ViT-B/32 shapes at batch 32 (1600 tokens), y = x · wᵀ + b, rows split between 2 threads each
// calling nn_gemm_run (as the backend does), against, in the same run:
//   - OpenBLAS sgemm of the same shape on 2 threads;
//   - the CPU's peak for the precision: a kernel-only loop (24 independent accumulators, no
//     memory traffic) on 2 threads: vfmadd231ps (zmm with AVX-512, else ymm), vdpbf16ps zmm
//     (AVX512_BF16) and vpdpbusd zmm (AVX512_VNNI), each only when cpuid has it.
// One line per shape × precision: best-of GFLOP/s (int8: GOP/s of the same 2·m·n·k), 2 threads
// and 1 thread, the fraction of peak and the ratio to sgemm, and the pack time. Then the
// per-call cost of small products (primitive cache hits), first calls (primitive creation),
// and the fused (dense y) against the own epilogue (strided y).
// `bench_gemm --quick`: one shape, fewer repetitions (a smoke run).
#include "bench_util.h"
#include "peak.h"

#include "nn/gemm.h"
#include "seize/core.h"

#include <cblas.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reps = 7;

// Uniform in [-1, 1).
static float frand(void)
{
    return 2.0f * bench_frand();
}

// The peak of precision p (0 fp32, 1 bf16, 2 int8) on 2 threads (peak.h), 0 without the
// instruction.
static double peak_of(int p)
{
    const char *name;
    return peak_measure(p, 2, &name);
}

// --- products ----------------------------------------------------------------------------------

typedef struct {
    const nn_gemm_w *w;
    size_t r0, r1, ldy;
    const float *x, *b;
    float *y;
    nn_gemm_scratch *s;
} job;

static void *job_run(void *arg)
{
    job *j = arg;
    size_t k = nn_gemm_cols(j->w), n = nn_gemm_rows(j->w);
    if (nn_gemm_run(j->w, j->r1 - j->r0, 0, n, j->x + j->r0 * k, k, j->b, 0.0f,
                    j->y + j->r0 * j->ldy, j->ldy, j->s))
        fprintf(stderr, "bench_gemm: %s\n", seize_errmsg());
    return NULL;
}

// Best time of `reps` products of m rows on n_thr threads (rows split evenly), after a warm-up.
static double time_gemm(const nn_gemm_w *w, size_t m, int n_thr, const float *x, const float *b,
                        float *y, size_t ldy, nn_gemm_scratch **s)
{
    job j[2];
    for (int i = 0; i < n_thr; i++)
        j[i] = (job){w, m * i / n_thr, m * (i + 1) / n_thr, ldy, x, b, y, s[i]};
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        pthread_t t[2];
        double t0 = seize_now();
        for (int i = 1; i < n_thr; i++)
            pthread_create(&t[i], NULL, job_run, &j[i]);
        job_run(&j[0]);
        for (int i = 1; i < n_thr; i++)
            pthread_join(t[i], NULL);
        double dt = seize_now() - t0;
        if (r && dt < best) best = dt; // r = 0: warm-up (primitive creation, page faults)
    }
    return best;
}

static double time_sgemm(size_t m, size_t n, size_t k, const float *x, const float *w, float *y)
{
    double best = 1e30;
    seize_blas_threads_set(2);
    for (int r = 0; r <= reps; r++) {
        double t0 = seize_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, x,
                    (int)k, w, (int)k, 0.0f, y, (int)n);
        double dt = seize_now() - t0;
        if (r && dt < best) best = dt;
    }
    seize_blas_threads_set(1);
    return best;
}

static const char *prec_name[3] = {"fp32", "bf16", "int8"};

// One line per precision for one shape.
static void bench_shape(const char *name, size_t m, size_t n, size_t k)
{
    float *x = seize_alloc_aligned(m * k, sizeof *x), *w = seize_alloc_aligned(n * k, sizeof *w);
    float *b = malloc(n * sizeof *b), *y = seize_alloc_aligned(m * n, sizeof *y);
    nn_gemm_scratch *s[2] = {nn_gemm_scratch_new(), nn_gemm_scratch_new()};
    if (!x || !w || !b || !y || !s[0] || !s[1]) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < m * k; i++)
        x[i] = frand();
    for (size_t i = 0; i < n * k; i++)
        w[i] = frand() * 0.03f;
    for (size_t i = 0; i < n; i++)
        b[i] = frand() * 0.1f;
    double fl = 2.0 * m * n * k * 1e-9, blas = fl / time_sgemm(m, n, k, x, w, y);
    for (int p = 0; p < 3; p++) {
        nn_gemm_w *g;
        double t0 = seize_now();
        if (nn_gemm_pack(w, SEIZE_ST_F32, n, k, (seize_precision)p, NN_GEMM_AUTO, &g)) {
            fprintf(stderr, "bench_gemm: %s\n", seize_errmsg());
            exit(1);
        }
        double pack_ms = (seize_now() - t0) * 1e3;
        double r2 = fl / time_gemm(g, m, 2, x, b, y, n, s);
        double r1 = fl / time_gemm(g, m, 1, x, b, y, n, s);
        // the peak again, right after: on a shared machine the load changes from line to line
        double pk_now = peak_of(p);
        char pk[48] = "peak n/a";
        if (pk_now > 0) snprintf(pk, sizeof pk, "%.2f of peak %.0f", r2 / pk_now, pk_now);
        printf("gemm %-8s %4zux%4zux%4zu %s: 2 threads %6.1f G%s/s (%s, %.2fx sgemm %.0f), "
               "1 thread %6.1f, pack %.1f ms\n",
               name, m, n, k, prec_name[p], r2, p == 2 ? "OP" : "FLOP", pk, r2 / blas, blas, r1,
               pack_ms);
        fflush(stdout);
        nn_gemm_free(g);
    }
    nn_gemm_scratch_free(s[0]), nn_gemm_scratch_free(s[1]);
    free(x), free(w), free(b), free(y);
}

// Small m (batch 1): the first call of a shape creates a primitive, later ones hit the cache.
static void bench_calls(void)
{
    size_t n = 768, k = 768, ms[4] = {1, 4, 16, 64};
    float *x = malloc(64 * k * sizeof *x), *w = malloc(n * k * sizeof *w), *y = malloc(64 * n * 4);
    for (size_t i = 0; i < 64 * k; i++)
        x[i] = frand();
    for (size_t i = 0; i < n * k; i++)
        w[i] = frand() * 0.03f;
    for (int p = 0; p < 3; p++) {
        nn_gemm_w *g;
        nn_gemm_scratch *s = nn_gemm_scratch_new();
        if (nn_gemm_pack(w, SEIZE_ST_F32, n, k, (seize_precision)p, NN_GEMM_AUTO, &g)) exit(1);
        char line[512];
        int len =
            snprintf(line, sizeof line, "gemm calls %s %zux%zu, 1 thread:", prec_name[p], n, k);
        for (int i = 0; i < 4; i++) {
            double t0 = seize_now(), best = 1e30;
            nn_gemm_run(g, ms[i], 0, n, x, k, NULL, 0.0f, y, n, s);
            double first = seize_now() - t0;
            for (int r = 0; r < 200; r++) {
                t0 = seize_now();
                nn_gemm_run(g, ms[i], 0, n, x, k, NULL, 0.0f, y, n, s);
                double dt = seize_now() - t0;
                if (dt < best) best = dt;
            }
            len += snprintf(line + len, sizeof line - len, " m=%zu first %.2f ms, then %.1f us;",
                            ms[i], first * 1e3, best * 1e6);
        }
        // the cache hit alone: a 64 x 64 product is ~nothing
        nn_gemm_w *t;
        float tw[64 * 64] = {0};
        if (nn_gemm_pack(tw, SEIZE_ST_F32, 64, 64, (seize_precision)p, NN_GEMM_AUTO, &t)) exit(1);
        double best = 1e30;
        nn_gemm_run(t, 1, 0, 64, x, 64, NULL, 0.0f, y, 64, s);
        for (int r = 0; r < 1000; r++) {
            double t0 = seize_now();
            nn_gemm_run(t, 1, 0, 64, x, 64, NULL, 0.0f, y, 64, s);
            double dt = seize_now() - t0;
            if (dt < best) best = dt;
        }
        printf("%s 1x64x64 call %.1f us\n", line, best * 1e6);
        nn_gemm_free(t);
        nn_gemm_free(g);
        nn_gemm_scratch_free(s);
    }
    free(x), free(w), free(y);
}

// bias and beta = 1 fused into oneDNN (dense y) against its plain product + our epilogue
// (strided y), on vit.fc1, 2 threads.
static void bench_epilogue(void)
{
    size_t m = 1600, n = 3072, k = 768, ldy = n + 16;
    float *x = seize_alloc_aligned(m * k, 4), *w = seize_alloc_aligned(n * k, 4);
    float *b = malloc(n * 4), *y = seize_alloc_aligned(m * ldy, 4);
    nn_gemm_scratch *s[2] = {nn_gemm_scratch_new(), nn_gemm_scratch_new()};
    for (size_t i = 0; i < m * k; i++)
        x[i] = frand();
    for (size_t i = 0; i < n * k; i++)
        w[i] = frand() * 0.03f;
    for (size_t i = 0; i < n; i++)
        b[i] = frand();
    memset(y, 0, m * ldy * 4);
    double fl = 2.0 * m * n * k * 1e-9;
    for (int p = 0; p < 2; p++) {
        nn_gemm_w *g;
        if (nn_gemm_pack(w, SEIZE_ST_F32, n, k, (seize_precision)p, NN_GEMM_AUTO, &g)) exit(1);
        double fused = fl / time_gemm(g, m, 2, x, b, y, n, s);
        double own = fl / time_gemm(g, m, 2, x, b, y, ldy, s);
        printf("gemm epilogue %s vit.fc1 + bias, 2 threads: fused (dense y) %.1f GFLOP/s, "
               "own epilogue (strided y) %.1f GFLOP/s\n",
               prec_name[p], fused, own);
        nn_gemm_free(g);
    }
    nn_gemm_scratch_free(s[0]), nn_gemm_scratch_free(s[1]);
    free(x), free(w), free(b), free(y);
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    if (quick) reps = 1;
    seize_blas_threads_set(1);
    __builtin_cpu_init();
    double peak[3] = {peak_of(0), peak_of(1), peak_of(2)};
    float one = 1;
    nn_gemm_w *g;
    const char *desc = "?";
    if (!nn_gemm_pack(&one, SEIZE_ST_F32, 1, 1, SEIZE_PRECISION_FP32, NN_GEMM_AUTO, &g))
        desc = nn_gemm_describe(g);
    printf("# gemm engine: %s; peak on 2 threads: fp32 %.0f, bf16 %.0f, int8 %.0f G(FL)OP/s "
           "(0 = no such instruction)\n",
           desc, peak[0], peak[1], peak[2]);
    nn_gemm_free(g);
    static const struct {
        const char *name;
        size_t m, n, k;
    } sh[] = {{"vit.qkv", 1600, 2304, 768},
              {"vit.out", 1600, 768, 768},
              {"vit.fc1", 1600, 3072, 768},
              {"vit.fc2", 1600, 768, 3072}};
    for (size_t i = 0; i < (quick ? 1 : sizeof sh / sizeof sh[0]); i++)
        bench_shape(sh[i].name, sh[i].m, sh[i].n, sh[i].k);
    bench_calls();
    if (!quick) bench_epilogue();
    return 0;
}
