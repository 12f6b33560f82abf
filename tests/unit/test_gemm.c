// src/nn/gemm.h: every precision (fp32, bf16, int8) × implementation (AUTO = oneDNN when built
// in, PORTABLE) × source dtype (F32, F16, BF16) × awkward shapes, column slices, beta 0/1, with
// and without bias, strided x and y, against references accumulated in double on the operands
// the product is defined on (gemm.h): the widened source for fp32, bf16-rounded x and w for
// bf16, and for int8 the exact integer dot products of the quantised rows times their scales.
//
// Tolerances (u = 2⁻²⁴, FLT_EPSILON = 2u), never wall-clock or luck:
//   - fp32 and bf16: a float32 sum of k products (exact for bf16·bf16) plus a bias and beta·y
//     carries at most γ(k + 2) ≈ (k + 2)·u relative error of Σ|terms| in any summation order;
//     the check allows (k + 3)·FLT_EPSILON·Σ|terms|, twice that;
//   - int8: the accumulator is exact, so only the epilogue's float rounding remains: a few ulps
//     of |acc·sx·sw| + |bias| + |y|; AUTO and PORTABLE must agree bit for bit.
// A wrong rounding (truncating bf16, a quantisation differing by one step), a slice, stride,
// bias or beta mistake is off by far more than these bounds.
#include "check.h"

#include "nn/gemm.h"
#include "seize/core.h"
#include "seize/model.h"

#include <dirent.h>
#include <float.h>
#include <pthread.h>
#include <stdint.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define SENTINEL 1234.5f

static uint32_t seed = 4242;

static float frand(void) // uniform in [-1, 1)
{
    seed = seed * 1664525u + 1013904223u;
    return (float)((seed >> 8) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

// --- the operands as the product sees them (written independently of gemm.c) -----------------

static uint16_t to_bf16(float f) // round to nearest even
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float bf16_round(float f)
{
    return seize_bf16_to_f32(to_bf16(f));
}

// gemm.h's int8 rule: scale = max|row| / 127, q = round-to-even(x · (127 / max)), |q| <= 127.
static float quant(const float *x, size_t k, int *q)
{
    float mx = 0.0f;
    for (size_t i = 0; i < k; i++)
        mx = fmaxf(mx, fabsf(x[i]));
    float inv = mx > 0.0f ? 127.0f / mx : 0.0f;
    for (size_t i = 0; i < k; i++) {
        float v = nearbyintf(x[i] * inv);
        q[i] = (int)fmaxf(-127.0f, fminf(127.0f, v));
    }
    return mx / 127.0f;
}

static const char *prec_name(seize_precision p)
{
    return p == SEIZE_PRECISION_FP32 ? "fp32" : p == SEIZE_PRECISION_BF16 ? "bf16" : "int8";
}

// One problem: x (m, ldx), w (n, k) in a source dtype, bias, y0 (m, ldy), and the operands
// the reference multiplies (xe, we for fp32/bf16; qx, qw, sx, sw for int8).
typedef struct {
    size_t m, n, k, ldx, ldy;
    seize_precision p;
    seize_st_dtype src;
    float *x, *wf, *bias, *y0, *xe, *we, *sx, *sw;
    void *wsrc;
    int *qx, *qw;
} problem;

static void problem_free(problem *pb)
{
    free(pb->x), free(pb->wf), free(pb->bias), free(pb->y0), free(pb->xe), free(pb->we);
    free(pb->sx), free(pb->sw), free(pb->wsrc), free(pb->qx), free(pb->qw);
}

static void problem_make(problem *pb, seize_precision p, seize_st_dtype src, size_t m, size_t n,
                         size_t k, size_t pad)
{
    *pb = (problem){.m = m, .n = n, .k = k, .ldx = k + pad, .ldy = n + pad, .p = p, .src = src};
    pb->x = malloc(m * pb->ldx * sizeof(float));
    pb->wf = malloc(n * k * sizeof(float));
    pb->bias = malloc(n * sizeof(float));
    pb->y0 = malloc(m * pb->ldy * sizeof(float));
    pb->xe = malloc(m * k * sizeof(float));
    pb->we = malloc(n * k * sizeof(float));
    pb->sx = malloc(m * sizeof(float));
    pb->sw = malloc(n * sizeof(float));
    pb->qx = malloc(m * k * sizeof(int));
    pb->qw = malloc(n * k * sizeof(int));
    pb->wsrc = malloc(n * k * (src == SEIZE_ST_F32 ? 4 : 2));
    for (size_t i = 0; i < m * pb->ldx; i++)
        pb->x[i] = frand() * 2.0f;
    for (size_t i = 0; i < m * pb->ldy; i++)
        pb->y0[i] = i % pb->ldy < n ? frand() : SENTINEL;
    for (size_t i = 0; i < n; i++)
        pb->bias[i] = frand() * 0.5f;
    float ws = 1.0f / sqrtf((float)k);
    for (size_t i = 0; i < n * k; i++) {
        float v = frand() * ws;
        if (src == SEIZE_ST_F32) {
            ((float *)pb->wsrc)[i] = v;
            pb->wf[i] = v;
        } else if (src == SEIZE_ST_F16) {
            uint16_t h = seize_f32_to_f16(v);
            ((uint16_t *)pb->wsrc)[i] = h;
            pb->wf[i] = seize_f16_to_f32(h);
        } else {
            uint16_t h = to_bf16(v);
            ((uint16_t *)pb->wsrc)[i] = h;
            pb->wf[i] = seize_bf16_to_f32(h);
        }
    }
    for (size_t r = 0; r < m; r++)
        for (size_t i = 0; i < k; i++) {
            float v = pb->x[r * pb->ldx + i];
            pb->xe[r * k + i] = p == SEIZE_PRECISION_BF16 ? bf16_round(v) : v;
        }
    for (size_t i = 0; i < n * k; i++)
        pb->we[i] = p == SEIZE_PRECISION_BF16 ? bf16_round(pb->wf[i]) : pb->wf[i];
    if (p == SEIZE_PRECISION_INT8) {
        for (size_t r = 0; r < m; r++)
            pb->sx[r] = quant(pb->x + r * pb->ldx, k, pb->qx + r * k);
        for (size_t c = 0; c < n; c++)
            pb->sw[c] = quant(pb->wf + c * k, k, pb->qw + c * k);
    }
}

// The reference of element (r, c) and its tolerance.
static double reference(const problem *pb, size_t r, size_t c, int beta, int bias, double *tol)
{
    double s = 0, mag = 0;
    size_t k = pb->k;
    if (pb->p == SEIZE_PRECISION_INT8) {
        int64_t acc = 0;
        for (size_t i = 0; i < k; i++)
            acc += (int64_t)pb->qx[r * k + i] * pb->qw[c * k + i];
        s = (double)acc * pb->sx[r] * pb->sw[c];
        mag = fabs(s);
    } else {
        for (size_t i = 0; i < k; i++) {
            double t = (double)pb->xe[r * k + i] * pb->we[c * k + i];
            s += t;
            mag += fabs(t);
        }
    }
    if (bias) s += pb->bias[c], mag += fabs(pb->bias[c]);
    if (beta) s += pb->y0[r * pb->ldy + c], mag += fabs(pb->y0[r * pb->ldy + c]);
    double rel = pb->p == SEIZE_PRECISION_INT8 ? 4.0 : (double)(k + 3);
    *tol = rel * FLT_EPSILON * mag + FLT_MIN;
    return s;
}

// Rows checked: all of a small product, a spread sample of a large one.
static int row_checked(size_t m, size_t r)
{
    return m <= 64 || r % 97 == 0 || r == m - 1;
}

// y against the reference; the padding columns must still hold the sentinel. 0 or 1.
static int compare(const problem *pb, const float *y, int beta, int bias, const char *what)
{
    double worst = 0;
    for (size_t r = 0; r < pb->m; r++) {
        if (!row_checked(pb->m, r)) continue;
        for (size_t c = 0; c < pb->ldy; c++) {
            float got = y[r * pb->ldy + c];
            if (c >= pb->n) {
                if (got != SENTINEL) {
                    fprintf(stderr, "  %s: padding (%zu, %zu) overwritten\n", what, r, c);
                    return 1;
                }
                continue;
            }
            double tol, ref = reference(pb, r, c, beta, bias, &tol);
            double e = fabs(got - ref);
            if (!(e <= tol)) {
                fprintf(stderr, "  %s: (%zu, %zu) got %.9g want %.9g (err %.3g > tol %.3g)\n", what,
                        r, c, got, ref, e, tol);
                return 1;
            }
            if (e / tol > worst) worst = e / tol;
        }
    }
    return 0;
}

// Runs columns [n0, n1) of the product into y. 0 or the error.
static int run_cols(const nn_gemm_w *w, const problem *pb, size_t n0, size_t n1, int beta, int bias,
                    float *y, nn_gemm_scratch *s)
{
    return nn_gemm_run(w, pb->m, n0, n1, pb->x, pb->ldx, bias ? pb->bias : NULL, beta ? 1.0f : 0.0f,
                       y, pb->ldy, s);
}

// A split point for two column slices: a multiple of the alignment inside (0, n), or 0.
static size_t split_point(const nn_gemm_w *w)
{
    size_t a = nn_gemm_col_align(w), n = nn_gemm_rows(w);
    size_t s = n / 2 / a * a;
    if (!s && a < n) s = a;
    return s;
}

// Packs pb's w for impl and checks every (beta, bias) combination (or only beta 1 with bias),
// as one product and as two column slices. 0, or 1 with the first difference printed.
static int check_problem(const problem *pb, nn_gemm_impl impl, int all_combos)
{
    char what[160];
    snprintf(what, sizeof what, "%s %s src %s %zux%zux%zu", prec_name(pb->p),
             impl == NN_GEMM_AUTO      ? "auto"
             : impl == NN_GEMM_SMALL_M ? "small-m"
                                       : "portable",
             seize_st_dtype_name(pb->src), pb->m, pb->n, pb->k);
    nn_gemm_w *w;
    if (nn_gemm_pack(pb->wsrc, pb->src, pb->n, pb->k, pb->p, impl, &w)) {
        fprintf(stderr, "  %s: pack failed: %s\n", what, seize_errmsg());
        return 1;
    }
    nn_gemm_scratch *s = nn_gemm_scratch_new();
    float *y = malloc(pb->m * pb->ldy * sizeof *y);
    int bad = !s || !y || nn_gemm_rows(w) != pb->n || nn_gemm_cols(w) != pb->k;
    size_t sp = split_point(w);
    for (int combo = all_combos ? 0 : 3; combo < 4 && !bad; combo++) {
        int beta = combo & 1, bias = combo >> 1;
        for (int sliced = 0; sliced < 2 && !bad; sliced++) {
            if (sliced && !sp) continue;
            memcpy(y, pb->y0, pb->m * pb->ldy * sizeof *y);
            int rc = sliced ? run_cols(w, pb, 0, sp, beta, bias, y, s) ||
                                  run_cols(w, pb, sp, pb->n, beta, bias, y, s)
                            : run_cols(w, pb, 0, pb->n, beta, bias, y, s);
            char how[240];
            snprintf(how, sizeof how, "%s beta %d bias %d %s (%s)", what, beta, bias,
                     sliced ? "two slices" : "whole", nn_gemm_describe(w));
            if (rc) fprintf(stderr, "  %s: run failed: %s\n", how, seize_errmsg());
            bad = rc || compare(pb, y, beta, bias, how);
        }
    }
    free(y);
    nn_gemm_scratch_free(s);
    nn_gemm_free(w);
    return bad;
}

static const seize_st_dtype srcs[] = {SEIZE_ST_F32, SEIZE_ST_F16, SEIZE_ST_BF16};
static const nn_gemm_impl impls[] = {NN_GEMM_AUTO, NN_GEMM_PORTABLE};

// Small and awkward shapes (m = 1, 3; n = 1, 70; k = 1, 33), x and y with padded strides, every
// source dtype and implementation, then one ViT-B/32-sized product (1600 × 768 × 768).
static void shapes(seize_precision p)
{
    static const size_t sh[][3] = {{1, 1, 1},   {1, 70, 33},   {3, 70, 33},   {3, 1, 768},
                                   {5, 130, 1}, {50, 200, 64}, {17, 64, 128}, {2, 192, 100}};
    for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++)
        for (int d = 0; d < 3; d++)
            for (int im = 0; im < 2; im++) {
                problem pb;
                problem_make(&pb, p, srcs[d], sh[i][0], sh[i][1], sh[i][2], i % 2 ? 3 : 0);
                int bad = check_problem(&pb, impls[im], 1);
                problem_free(&pb);
                CHECK(!bad);
            }
    for (int im = 0; im < 2; im++) {
        problem pb;
        // (under valgrind, about 50x slower, 160 rows of it)
        problem_make(&pb, p, SEIZE_ST_F32, RUNNING_ON_VALGRIND ? 160 : 1600, 768, 768, 5);
        int bad = check_problem(&pb, impls[im], 0);
        problem_free(&pb);
        CHECK(!bad);
    }
}

static void test_fp32_shapes(void)
{
    shapes(SEIZE_PRECISION_FP32);
}
static void test_bf16_shapes(void)
{
    shapes(SEIZE_PRECISION_BF16);
}
static void test_int8_shapes(void)
{
    shapes(SEIZE_PRECISION_INT8);
}

// This process's thread count.
static int n_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

// nn_gemm_run computes on the calling thread: oneDNN (OpenMP) must not start a team. Runs first,
// before any other case could have started one.
static void test_runs_on_caller(void)
{
    int before = n_threads();
    for (int pi = 0; pi < 3; pi++) {
        problem pb;
        problem_make(&pb, (seize_precision)pi, SEIZE_ST_F32, 256, 512, 256, 0);
        nn_gemm_w *w;
        CHECK_EQ(nn_gemm_pack(pb.wsrc, pb.src, pb.n, pb.k, pb.p, NN_GEMM_AUTO, &w), 0);
        nn_gemm_scratch *s = nn_gemm_scratch_new();
        float *y = malloc(pb.m * pb.ldy * sizeof *y);
        for (int rep = 0; rep < 3; rep++)
            CHECK_EQ(run_cols(w, &pb, 0, pb.n, 0, 1, y, s), 0);
        int bad = compare(&pb, y, 0, 1, "runs_on_caller");
        free(y);
        nn_gemm_scratch_free(s);
        nn_gemm_free(w);
        problem_free(&pb);
        CHECK(!bad);
    }
    CHECK_EQ(n_threads(), before);
}

// int8: oneDNN (u8 · s8 less 128·Σw) and the portable int32 dot products give the same
// accumulators, and the epilogue is shared: the outputs are equal bit for bit.
static void test_int8_auto_equals_portable(void)
{
    problem pb;
    problem_make(&pb, SEIZE_PRECISION_INT8, SEIZE_ST_BF16, 37, 200, 300, 2);
    nn_gemm_w *wa, *wp;
    CHECK_EQ(nn_gemm_pack(pb.wsrc, pb.src, pb.n, pb.k, pb.p, NN_GEMM_AUTO, &wa), 0);
    CHECK_EQ(nn_gemm_pack(pb.wsrc, pb.src, pb.n, pb.k, pb.p, NN_GEMM_PORTABLE, &wp), 0);
    nn_gemm_scratch *s = nn_gemm_scratch_new();
    size_t sz = pb.m * pb.ldy * sizeof(float);
    float *ya = malloc(sz), *yp = malloc(sz);
    for (int combo = 0; combo < 4; combo++) {
        memcpy(ya, pb.y0, sz), memcpy(yp, pb.y0, sz);
        CHECK_EQ(run_cols(wa, &pb, 0, pb.n, combo & 1, combo >> 1, ya, s), 0);
        CHECK_EQ(run_cols(wp, &pb, 0, pb.n, combo & 1, combo >> 1, yp, s), 0);
        CHECK(memcmp(ya, yp, sz) == 0);
    }
    fprintf(stderr, "  int8 auto: %s; portable: %s\n", nn_gemm_describe(wa), nn_gemm_describe(wp));
    free(ya), free(yp);
    nn_gemm_scratch_free(s);
    nn_gemm_free(wa), nn_gemm_free(wp);
    problem_free(&pb);
}

// bf16 and int8 against fp32 on a ViT-like product: close (rounding / quantisation noise), but
// not equal (the reduced precision is really used).
static void test_reduced_vs_fp32(void)
{
    float rel[3];
    for (int pi = 0; pi < 3; pi++) {
        seed = 777; // the same x, w, bias for every precision
        problem pb;
        problem_make(&pb, (seize_precision)pi, SEIZE_ST_F32, 64, 256, 768, 0);
        static float y[3][64 * 256];
        nn_gemm_w *w;
        CHECK_EQ(nn_gemm_pack(pb.wsrc, pb.src, pb.n, pb.k, pb.p, NN_GEMM_AUTO, &w), 0);
        nn_gemm_scratch *s = nn_gemm_scratch_new();
        CHECK_EQ(run_cols(w, &pb, 0, pb.n, 0, 1, y[pi], s), 0);
        nn_gemm_scratch_free(s);
        nn_gemm_free(w);
        problem_free(&pb);
        double err = 0, mx = 0;
        for (size_t i = 0; i < 64 * 256; i++)
            err = fmax(err, fabs(y[pi][i] - y[0][i])), mx = fmax(mx, fabs(y[0][i]));
        rel[pi] = (float)(err / mx);
    }
    fprintf(stderr, "  max error / max |y| vs fp32: bf16 %.2e, int8 %.2e\n", rel[1], rel[2]);
    CHECK(rel[1] > 1e-5f && rel[1] < 1e-2f);
    CHECK(rel[2] > 1e-4f && rel[2] < 3e-2f);
}

// --- several threads on one packed matrix --------------------------------------------------------

typedef struct {
    const nn_gemm_w *w;
    const problem *pb;
    size_t r0, r1, n0, n1;
    float *y;
    int rc;
} slice_job;

static void *slice_run(void *arg)
{
    slice_job *j = arg;
    const problem *pb = j->pb;
    nn_gemm_scratch *s = nn_gemm_scratch_new();
    j->rc = !s;
    for (int rep = 0; rep < 4 && !j->rc; rep++)
        j->rc = nn_gemm_run(j->w, j->r1 - j->r0, j->n0, j->n1, pb->x + j->r0 * pb->ldx, pb->ldx,
                            pb->bias, 0.0f, j->y + j->r0 * pb->ldy, pb->ldy, s);
    nn_gemm_scratch_free(s);
    return NULL;
}

// Two threads running row slices, then column slices, of one matrix at once give what the same
// slices give one after the other; and that is the product within tolerance.
static void test_concurrent_slices(void)
{
    for (int pi = 0; pi < 3; pi++) {
        problem pb;
        problem_make(&pb, (seize_precision)pi, SEIZE_ST_F32, 96, 512, 384, 1);
        nn_gemm_w *w;
        CHECK_EQ(nn_gemm_pack(pb.wsrc, pb.src, pb.n, pb.k, pb.p, NN_GEMM_AUTO, &w), 0);
        size_t sz = pb.m * pb.ldy * sizeof(float), sp = split_point(w);
        float *ys = malloc(sz), *yc = malloc(sz);
        for (int by_cols = 0; by_cols < (sp ? 2 : 1); by_cols++) { // sp 0: whole products only
            slice_job j[2] = {{w, &pb, 0, pb.m / 2, 0, pb.n, NULL, 0},
                              {w, &pb, pb.m / 2, pb.m, 0, pb.n, NULL, 0}};
            if (by_cols)
                j[0] = (slice_job){w, &pb, 0, pb.m, 0, sp, NULL, 0},
                j[1] = (slice_job){w, &pb, 0, pb.m, sp, pb.n, NULL, 0};
            memcpy(ys, pb.y0, sz), memcpy(yc, pb.y0, sz);
            j[0].y = j[1].y = ys;
            slice_run(&j[0]), slice_run(&j[1]);
            CHECK(!j[0].rc && !j[1].rc);
            CHECK(!compare(&pb, ys, 0, 1, "sequential slices"));
            j[0].y = j[1].y = yc;
            pthread_t t[2];
            for (int i = 0; i < 2; i++)
                CHECK_EQ(pthread_create(&t[i], NULL, slice_run, &j[i]), 0);
            for (int i = 0; i < 2; i++)
                pthread_join(t[i], NULL);
            CHECK(!j[0].rc && !j[1].rc);
            CHECK(memcmp(ys, yc, sz) == 0);
        }
        free(ys), free(yc);
        nn_gemm_free(w);
        problem_free(&pb);
    }
}

// When oneDNN declines a product at run time (here forced), the columns are unpacked from its
// layout and the portable path computes them: same results within tolerance, and the
// description says so.
static void test_runtime_fallback(void)
{
#ifndef SEIZE_HAVE_DNNL
    SKIP("built without oneDNN");
#endif
    for (int pi = 0; pi < 3; pi++) {
        problem pb;
        problem_make(&pb, (seize_precision)pi, SEIZE_ST_F16, 7, 200, 96, 2);
        nn_gemm_w *w;
        CHECK_EQ(nn_gemm_pack(pb.wsrc, pb.src, pb.n, pb.k, pb.p, NN_GEMM_AUTO, &w), 0);
        int dnnl = !strncmp(nn_gemm_describe(w), "oneDNN 2", 8);
        nn_gemm_free(w);
        if (!dnnl) { // this precision is portable on this CPU
            problem_free(&pb);
            continue;
        }
        nn_dnnl_test_decline(1);
        int bad = check_problem(&pb, NN_GEMM_AUTO, 1);
        CHECK_EQ(nn_gemm_pack(pb.wsrc, pb.src, pb.n, pb.k, pb.p, NN_GEMM_AUTO, &w), 0);
        nn_gemm_scratch *s = nn_gemm_scratch_new();
        float *y = malloc(pb.m * pb.ldy * sizeof *y);
        memcpy(y, pb.y0, pb.m * pb.ldy * sizeof *y);
        CHECK_EQ(run_cols(w, &pb, split_point(w), pb.n, 1, 1, y, s), 0);
        nn_dnnl_test_decline(0);
        CHECK(strstr(nn_gemm_describe(w), "declined") != NULL);
        free(y);
        nn_gemm_scratch_free(s);
        nn_gemm_free(w);
        problem_free(&pb);
        CHECK(!bad);
    }
}

// The same cases with oneDNN limited to older instruction sets (ONEDNN_MAX_CPU_ISA, in a child
// process: the limit is read once per process): AVX2 (fp32 through gemm:jit's plain layout,
// bf16 declined, int8 portable since u8·s8 without VNNI saturates) and AVX-512 without VNNI.
static const char *self_path = "build/tests/test_gemm"; // argv[0] (under valgrind too)

static void test_older_isas(void)
{
#ifndef SEIZE_HAVE_DNNL
    SKIP("built without oneDNN");
#endif
    if (getenv("SEIZE_GEMM_CHILD")) SKIP("in the child");
    static const char *isas[] = {"AVX2", "AVX512_CORE"};
    for (int i = 0; i < 2; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "SEIZE_GEMM_CHILD=1 ONEDNN_MAX_CPU_ISA=%s CHECK_ONLY=test_fp32_shapes,"
                 "test_bf16_shapes,test_int8_shapes,test_concurrent_slices,test_runtime_fallback,"
                 "test_bytes '%s' >/dev/null 2>&1",
                 isas[i], self_path);
        int rc = system(cmd);
        CHECK_MSG(rc == 0, "with ONEDNN_MAX_CPU_ISA=%s: exit status %d (run it by hand)", isas[i],
                  rc);
    }
}

// More distinct shapes than the per-matrix primitive cache keeps (64): the products past it
// run on temporary primitives, with the same results.
static void test_many_shapes(void)
{
    for (int pi = 0; pi < 3; pi++) {
        problem pb;
        problem_make(&pb, (seize_precision)pi, SEIZE_ST_F32, 80, 128, 64, 0);
        nn_gemm_w *w;
        CHECK_EQ(nn_gemm_pack(pb.wsrc, pb.src, pb.n, pb.k, pb.p, NN_GEMM_AUTO, &w), 0);
        nn_gemm_scratch *s = nn_gemm_scratch_new();
        float *y = malloc(pb.m * pb.ldy * sizeof *y);
        int bad = 0;
        for (int pass = 0; pass < 2 && !bad; pass++)
            for (size_t m = 1; m <= pb.m && !bad; m++) {
                memcpy(y, pb.y0, pb.m * pb.ldy * sizeof *y);
                bad = nn_gemm_run(w, m, 0, pb.n, pb.x, pb.ldx, pb.bias, 0.0f, y, pb.ldy, s) != 0;
                problem part = pb;
                part.m = m;
                bad = bad || compare(&part, y, 0, 1, "many shapes");
            }
        free(y);
        nn_gemm_scratch_free(s);
        nn_gemm_free(w);
        problem_free(&pb);
        CHECK(!bad);
    }
}

// --- NN_GEMM_SMALL_M: the own AVX512_BF16 kernel (gemm_bf16s.c) ---------------------------------

// With AVX512_BF16, bf16 weights packed for NN_GEMM_SMALL_M run the own kernel: its
// description, column blocks of 32, and resident bytes = the zero-padded layout (32-column
// blocks × pairs of k) and nothing beside it. fp32 and int8 (and bf16 without the instruction)
// pack as NN_GEMM_AUTO would.
static void test_small_m_layout(void)
{
    static const size_t sh[][2] = {{70, 33}, {64, 128}, {1, 1}, {4096, 96}};
    int have = nn_bf16s_supported();
    fprintf(stderr, "  AVX512_BF16: %s\n", have ? "yes" : "no (SMALL_M = AUTO)");
    float *w = malloc(4096 * 128 * sizeof *w);
    for (size_t i = 0; i < 4096 * 128; i++)
        w[i] = frand();
    for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++)
        for (int pi = 0; pi < 3; pi++) {
            size_t n = sh[i][0], k = sh[i][1];
            nn_gemm_w *g, *a;
            CHECK_EQ(nn_gemm_pack(w, SEIZE_ST_F32, n, k, (seize_precision)pi, NN_GEMM_SMALL_M, &g),
                     0);
            CHECK_EQ(nn_gemm_pack(w, SEIZE_ST_F32, n, k, (seize_precision)pi, NN_GEMM_AUTO, &a), 0);
            CHECK(nn_gemm_rows(g) == n && nn_gemm_cols(g) == k);
            if (have && pi == SEIZE_PRECISION_BF16) {
                CHECK_STREQ(nn_gemm_describe(g), "own AVX512_BF16 small-m kernel");
                CHECK_EQ(nn_gemm_col_align(g), 32);
                CHECK_EQ(nn_gemm_bytes(g), (n + 31) / 32 * 32 * ((k + 1) / 2) * 4);
            } else {
                CHECK_STREQ(nn_gemm_describe(g), nn_gemm_describe(a));
                CHECK_EQ(nn_gemm_col_align(g), nn_gemm_col_align(a));
                CHECK_EQ(nn_gemm_bytes(g), nn_gemm_bytes(a));
            }
            nn_gemm_free(g), nn_gemm_free(a);
        }
    free(w);
}

// Every source dtype × shapes with column tails (n = 1, 31, 33, 70, 130), odd and even k,
// padded strides, m across the kernel's row blocks (4, 8, 15 rows: 1, 5, 9, 15, 16, 31, 36),
// whole and two column slices, every (beta, bias): within the bf16 tolerance.
static void test_small_m_shapes(void)
{
    static const size_t sh[][3] = {{1, 1, 1},     {5, 31, 2},   {9, 33, 3},    {15, 70, 33},
                                   {16, 130, 64}, {31, 96, 17}, {36, 70, 258}, {4, 64, 1}};
    for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++)
        for (int d = 0; d < 3; d++) {
            problem pb;
            problem_make(&pb, SEIZE_PRECISION_BF16, srcs[d], sh[i][0], sh[i][1], sh[i][2],
                         i % 2 ? 3 : 0);
            int bad = check_problem(&pb, NN_GEMM_SMALL_M, 1);
            problem_free(&pb);
            CHECK(!bad);
        }
}

// m = 1..40 on one packed matrix (n = 100: a tail of 4; odd k = 75), y strided, bias, beta 1,
// the columns run as three slices [0, 32), [32, 96), [96, 100) and as one.
static void test_small_m_rows(void)
{
    problem pb;
    problem_make(&pb, SEIZE_PRECISION_BF16, SEIZE_ST_BF16, 40, 100, 75, 7);
    nn_gemm_w *w;
    CHECK_EQ(nn_gemm_pack(pb.wsrc, pb.src, pb.n, pb.k, pb.p, NN_GEMM_SMALL_M, &w), 0);
    size_t a = nn_gemm_col_align(w), cut[4] = {0, 32, 96, 100};
    int three = a == 1 || a == 32;
    nn_gemm_scratch *s = nn_gemm_scratch_new();
    float *y = malloc(pb.m * pb.ldy * sizeof *y);
    int bad = 0;
    for (size_t m = 1; m <= pb.m && !bad; m++)
        for (int sliced = 0; sliced < 1 + three && !bad; sliced++) {
            memcpy(y, pb.y0, pb.m * pb.ldy * sizeof *y);
            for (int c = 0; c < (sliced ? 3 : 1) && !bad; c++)
                bad = nn_gemm_run(w, m, cut[c], sliced ? cut[c + 1] : pb.n, pb.x, pb.ldx, pb.bias,
                                  1.0f, y, pb.ldy, s) != 0;
            problem part = pb;
            part.m = m;
            bad = bad || compare(&part, y, 1, 1, "small-m rows");
            for (size_t i = m * pb.ldy; i < pb.m * pb.ldy && !bad; i++) // rows past m untouched
                bad = y[i] != pb.y0[i];
        }
    free(y);
    nn_gemm_scratch_free(s);
    nn_gemm_free(w);
    problem_free(&pb);
    CHECK(!bad);
}

// --- memory, description, errors -------------------------------------------------------------

// Resident bytes ≈ n·k·(4 | 2 | 1) (+ the int8 scales), whatever the source dtype: no float
// copy is kept beside the packed one.
static void test_bytes(void)
{
    size_t n = 768, k = 3072, es[3] = {4, 2, 1};
    float *w = malloc(n * k * sizeof *w);
    for (size_t i = 0; i < n * k; i++)
        w[i] = frand();
    for (int pi = 0; pi < 3; pi++)
        for (int im = 0; im < 2; im++) {
            nn_gemm_w *g;
            CHECK_EQ(nn_gemm_pack(w, SEIZE_ST_F32, n, k, (seize_precision)pi, impls[im], &g), 0);
            size_t b = nn_gemm_bytes(g), want = n * k * es[pi];
            fprintf(stderr, "  %s %s: %zu bytes (%s)\n", prec_name((seize_precision)pi),
                    im ? "portable" : "auto", b, nn_gemm_describe(g));
            CHECK(b >= want && b <= want + n * 8);
            if (im) CHECK(!strncmp(nn_gemm_describe(g), "portable", 8));
#ifdef SEIZE_HAVE_DNNL // fp32 has JIT kernels on any x86-64; bf16/int8 may be portable
            if (!im && pi == 0) CHECK(!strncmp(nn_gemm_describe(g), "oneDNN", 6));
#endif
            nn_gemm_free(g);
        }
    free(w);
}

// nn_bf16_round against to_bf16 (NaN: the sign and top payload bits kept, quiet bit set) on
// every length 0..40 (vector body and tail), ties both ways, subnormals, infinities, NaNs and
// random bit patterns; a truncating or DAZ conversion fails here.
static void test_bf16_round(void)
{
    enum { N = 1 << 16 };
    static const uint32_t special[] = {
        0x00000000u, 0x80000000u, 0x00000001u, 0x00008000u, 0x00018000u, 0x007fffffu, 0x3f808000u,
        0x3f818000u, 0x3f807fffu, 0x3f808001u, 0x7f7fffffu, 0x7f7f8000u, 0x7f800000u, 0xff800000u,
        0x7fc00000u, 0xffc00001u, 0x7f800001u, 0xff810000u, 0xffffffffu, 0x80008000u};
    uint32_t *u = malloc(N * sizeof *u);
    uint16_t *got = malloc((N + 1) * sizeof *got);
    uint32_t seed = 99;
    for (size_t i = 0; i < N; i++) {
        seed = seed * 1664525u + 1013904223u;
        u[i] = i < sizeof special / sizeof *special ? special[i] : seed ^ (seed << 13);
    }
    size_t bad = 0;
    for (size_t n = 0; n <= 40; n++) {
        got[n] = 0xabcd;
        nn_bf16_round((const float *)(u + n), n, got);
        for (size_t i = 0; i < n; i++) {
            uint32_t v = u[n + i];
            uint16_t want = (v & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((v >> 16) | 0x40)
                                                            : to_bf16(((const float *)u)[n + i]);
            bad += got[i] != want;
        }
        bad += got[n] != 0xabcd; // nothing past n
    }
    nn_bf16_round((const float *)u, N, got);
    for (size_t i = 0; i < N; i++) {
        uint32_t v = u[i];
        uint16_t want = (v & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((v >> 16) | 0x40)
                                                        : to_bf16(((const float *)u)[i]);
        bad += got[i] != want;
    }
    free(u);
    free(got);
    CHECK_MSG(bad == 0, "nn_bf16_round: %zu elements differ from round-to-nearest-even", bad);
}

static void test_errors(void)
{
    float w[4] = {1, 2, 3, 4};
    nn_gemm_w *g = (nn_gemm_w *)w;
    CHECK_EQ(nn_gemm_pack(w, SEIZE_ST_I8, 2, 2, SEIZE_PRECISION_FP32, NN_GEMM_AUTO, &g),
             SEIZE_EINVAL);
    CHECK(g == NULL);
    CHECK_EQ(nn_gemm_pack(w, SEIZE_ST_F32, 0, 2, SEIZE_PRECISION_BF16, NN_GEMM_AUTO, &g),
             SEIZE_EINVAL);
    CHECK_EQ(nn_gemm_pack(w, SEIZE_ST_F32, 2, 2, (seize_precision)7, NN_GEMM_AUTO, &g),
             SEIZE_EINVAL);
    nn_gemm_free(NULL);
    nn_gemm_scratch_free(NULL);
}

int main(int argc, char **argv)
{
    if (argc > 0 && !strchr(argv[0], '\'')) self_path = argv[0];
    seize_blas_threads_set(1); // the portable fp32 path calls sgemm: on this thread only
    RUN(test_runs_on_caller);
    RUN(test_fp32_shapes);
    RUN(test_bf16_shapes);
    RUN(test_int8_shapes);
    RUN(test_int8_auto_equals_portable);
    RUN(test_reduced_vs_fp32);
    RUN(test_concurrent_slices);
    RUN(test_runtime_fallback);
    RUN(test_older_isas);
    RUN(test_many_shapes);
    RUN(test_small_m_layout);
    RUN(test_small_m_shapes);
    RUN(test_small_m_rows);
    RUN(test_bytes);
    RUN(test_bf16_round);
    RUN(test_errors);
    return check_summary("gemm");
}
