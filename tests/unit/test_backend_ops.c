// Every op of every compiled backend (src/nn/backend.h) against plain C references, in the style
// of ggml's test-backend-ops: seeded random inputs go host → upload → op → download like a device
// backend's would (weights through ops->weight), and each output is compared with a reference
// written out loop by loop below, accumulated in double.
//
// Tolerances are relative to the magnitude of what was summed, never to wall-clock or luck:
//   - copies and single float additions (upload/download, patchify, the embeddings, gather_rows,
//     the fused `add` of layernorm, untouched padding and inputs) are exact: one IEEE add is
//     correctly rounded on every backend, so the reference does the same float add;
//   - a float32 sum of k products carries at most γ(k) ≈ k·u relative error of Σ|terms|
//     (u = 2⁻²⁴, FLT_EPSILON = 2u), whatever the summation order (BLAS blocking, FMA, warps);
//     linear, layernorm, attention and attend are checked against that bound, with mag = Σ|terms|;
//   - the vectorised exp is ~1–2 ulp and the erf of GELU (Abramowitz & Stegun 7.1.26) is within
//     1.5e-7 absolute, so the activations get a few eps of their magnitude (see acts[]).
// Linear, layernorm and the attentions use worst-case bounds, so that a backend summing in another
// order never fails by chance (the summary line of each op prints its worst error as a fraction
// of its limit: 0.03–0.25 on the CPU backend); an indexing, masking, bias or stride mistake, or
// reduced precision (TF32, bf16), is off by far more.
//
// Every member of nn_backend_ops is exercised: name and free (test_backends_present), the
// memory functions (test_memory), each op, reserve (before the attentions), and status, which
// must report no failed op after each op's cases.
//
// Index arrays (ids, q_rows, rows) are host memory, as clip.c passes them.
// The helpers (inputs, buffers, comparisons, the loop over the table) are in backend_check.h.
#define BACKEND_CHECK_SEED 12345 // this test's inputs
#include "check.h"

#include "backend_check.h"
#include "nn/gemm.h" // nn_bf16s_supported: whether the own small-m kernel can run here

#include <float.h>
#include <stdint.h>

// --- the backends under test ---------------------------------------------------------------------
//
// THE place a backend is added: every op test below runs on each entry of this table (a CUDA
// backend goes here, under its build flag, as the cuda entries are).

// The CPU backend under both BLAS thread plans: 1, as the CLI sets it (a slice of each
// product per pool thread), and 2 (the portable path's sgemm threaded by BLAS); in each
// precision; with oneDNN and with the portable GEMM path. The CUDA backend (make CUDA=1) on
// device 0 in each precision: where no device is usable, nn_backend_new fails with
// SEIZE_ENOTFOUND and these entries are skipped (each op's summary line and
// test_backends_present say so), neither failed nor passed.
#define PARAMS(thr, prec, portable)                                                                \
    {                                                                                              \
        (thr), SEIZE_PRECISION_##prec, 0, (portable)                                               \
    }
static const backend_entry backends[] = {
    {"cpu/1", "cpu", PARAMS(1, FP32, 0), 1},
    {"cpu/2", "cpu", PARAMS(2, FP32, 0), 1},
    {"cpu/2 portable GEMM, BLAS threads 2", "cpu", PARAMS(2, FP32, 1), 2},
    {"cpu/2 bf16", "cpu", PARAMS(2, BF16, 0), 1},
    {"cpu/1 int8", "cpu", PARAMS(1, INT8, 0), 1},
    {"cpu/2 int8 portable GEMM", "cpu", PARAMS(2, INT8, 1), 1},
#ifdef SEIZE_CUDA
    {"cuda", "cuda", PARAMS(1, FP32, 0), 0},
    {"cuda bf16", "cuda", PARAMS(1, BF16, 0), 0},
    {"cuda int8", "cuda", PARAMS(1, INT8, 0), 0},
#endif
};
#undef PARAMS
#define N_BACKENDS (sizeof backends / sizeof backends[0])

// Every backend of the table can be made here, and has a named ops table. One whose device is
// absent (SEIZE_ENOTFOUND: cuda on a machine without a GPU) makes this case skipped, with the
// reason, and its op cases are skipped: never counted as passed.
static void test_backends_present(void)
{
    check_backends_present(backends, N_BACKENDS);
}

// --- memory: alloc/release, weight, upload/download ----------------------------------------------

static void memory_cases(tctx *t)
{
    static const size_t sizes[] = {1, 7, 64, 1000};
    char label[128];
    for (size_t c = 0; c < sizeof sizes / sizeof *sizes; c++) {
        size_t n = sizes[c];
        snprintf(label, sizeof label, "%s memory n=%zu", t->name, n);
        float *h = hostf(n), *z = hostf(n);
        fill(h, n, 100);
        for (size_t i = 0; i < n; i++)
            z[i] = SENTINEL;
        float *p = dev_from(t, z, n);
        float *got = dev_get(t, p, n);
        int ok = compare_exact(label, "upload/download round trip", got, z, n);
        free(got);
        // a pointer into a buffer is a buffer too (clip.c writes qkv + d): upload the middle
        size_t lo = n / 3, len = n - lo - n / 4;
        t->o->upload(t->be, p + lo, h + lo, NN_F32, len);
        for (size_t i = lo; i < lo + len; i++)
            z[i] = h[i];
        got = dev_get(t, p, n);
        ok &= compare_exact(label, "upload into the middle", got, z, n);
        free(got);
        got = hostf(len);
        t->o->download(t->be, got, p + lo, NN_F32, len);
        ok &= compare_exact(label, "download of the middle", got, h + lo, len);
        free(got);
        // a vector weight holds the host values: x = 0 + bias, with no activation
        const nn_weight *w = dev_weight(t, h, 1, n, NN_W_VECTOR);
        ok &= w->rows == 1 && w->cols == n && w->use == NN_W_VECTOR && w->dtype == NN_F32;
        for (size_t i = 0; i < n; i++)
            z[i] = 0;
        float *dz = dev_from(t, z, n);
        t->o->bias_act(t->be, 1, n, dz, w, SEIZE_ACT_NONE);
        got = dev_get(t, dz, n);
        ok &= compare_exact(label, "vector weight", got, h, n);
        free(got);
        // copy_rows: rows of a strided buffer into another, padding untouched
        size_t rows = n >= 7 ? 3 : 1, d = n >= 7 ? 2 : 1, ldd = d + 1;
        float *dd = dev_out(t, rows * ldd), *want = hostf(rows * ldd + TAIL);
        for (size_t i = 0; i < rows * ldd + TAIL; i++)
            want[i] = SENTINEL;
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < d; j++)
                want[r * ldd + j] = h[r * 2 + j];
        t->o->copy_rows(t->be, rows, d, dz, 2, dd, ldd);
        got = dev_get(t, dd, rows * ldd + TAIL);
        ok &= compare_exact(label, "copy_rows", got, want, rows * ldd + TAIL);
        free(got);
        free(want);
        dev_release_all(t);
        free(h);
        free(z);
        case_done(ok);
    }
    t->o->release(t->be, NULL); // accepted by the contract
}

static void test_memory(void)
{
    for_each_backend(backends, N_BACKENDS, "memory", memory_cases);
    CHECK_EQ(st.n_fail, 0);
}

// --- linear --------------------------------------------------------------------------------------

typedef struct lin_case {
    size_t m, n, k, ldx, ldy;
} lin_case;

// max |v[0..n)| / 127: the int8 quantisation step of a row (gemm.h), 0 for a zero row.
static double q8_step(const float *v, size_t n)
{
    double mx = 0;
    for (size_t i = 0; i < n; i++)
        mx = fabs(v[i]) > mx ? fabs(v[i]) : mx;
    return mx / 127;
}

// y(m, n) = beta·y0 + x·wᵀ + bias in double; mag = |beta·y0| + |bias| + Σ|x·w|, plus what the
// precision's rounding of the operands may add, scaled so that the fp32 limit γ(k + 2)·mag
// covers it: bf16 rounds x and w to 8 significant bits (round to nearest even: relative 2⁻⁸
// each, as 1 + 2⁻⁸ rounds to 1; 2⁻⁷ + 2⁻¹⁶ per product),
// int8 moves each x by at most half its row's step sx and each w by half sw.
static void linear_ref(const lin_case *c, seize_precision prec, const float *x, const float *w,
                       const float *bias, float beta, const float *y0, double *want, double *mag)
{
    double tol = (double)(c->k + 2) * FLT_EPSILON;
    for (size_t i = 0; i < c->m; i++)
        for (size_t j = 0; j < c->n; j++) {
            double acc = 0, a = 0, q = 0;
            double sx = q8_step(x + i * c->ldx, c->k), sw = q8_step(w + j * c->k, c->k);
            for (size_t e = 0; e < c->k; e++) {
                double xv = x[i * c->ldx + e], wv = w[j * c->k + e], p = xv * wv;
                acc += p;
                a += fabs(p);
                if (prec == SEIZE_PRECISION_BF16) q += fabs(p) * (1.0 / 128 + 1.0 / 65536);
                if (prec == SEIZE_PRECISION_INT8)
                    q += fabs(xv) * sw / 2 + fabs(wv) * sx / 2 + sx * sw / 4;
            }
            a += q / tol;
            if (bias) {
                acc += bias[j];
                a += fabs(bias[j]);
            }
            if (beta != 0) {
                acc += (double)beta * y0[i * c->ldy + j];
                a += fabs((double)beta * y0[i * c->ldy + j]);
            }
            want[i * c->ldy + j] = acc;
            mag[i * c->ldy + j] = a;
        }
}

// The own small-m kernel packs NN_W_LINEAR_FEW_ROWS weights of the CPU backend in bf16 (not
// the portable GEMM path) where the CPU has AVX512_BF16; every other backend treats them as
// NN_W_LINEAR. 1 when w is packed as expected.
static int few_rows_impl_ok(const tctx *t, const nn_weight *w)
{
    int own = !strcmp(t->entry->backend, "cpu") && t->precision == SEIZE_PRECISION_BF16 &&
              !t->entry->p.gemm_portable && nn_bf16s_supported();
    int is_own = !strcmp(w->impl, "own AVX512_BF16 small-m kernel");
    if (own != is_own)
        fprintf(stderr, "  FAIL %s: few-rows weight packed by '%s'\n", t->name, w->impl);
    return w->use == NN_W_LINEAR_FEW_ROWS && own == is_own;
}

static int linear_one(tctx *t, const lin_case *c, int with_bias, float beta, nn_weight_use use)
{
    char label[200];
    snprintf(label, sizeof label, "%s linear%s m=%zu n=%zu k=%zu ldx=%zu ldy=%zu bias=%s beta=%g",
             t->name, use == NN_W_LINEAR_FEW_ROWS ? " (few rows)" : "", c->m, c->n, c->k, c->ldx,
             c->ldy, with_bias ? "yes" : "NULL", beta);
    size_t nx = c->m * c->ldx, ny = c->m * c->ldy;
    float *x = hostf(nx), *w = hostf(c->n * c->k), *b = hostf(c->n), *y0 = hostf(ny);
    double *want = hostd(ny), *mag = hostd(ny);
    fill(x, nx, 1);
    fill(w, c->n * c->k, 1);
    fill(b, c->n, 1);
    for (size_t i = 0; i < ny; i++) // padding (j ≥ n) must stay; with beta 0, y is not read
        y0[i] = i % c->ldy >= c->n ? SENTINEL : beta != 0 ? frand() : NAN;
    linear_ref(c, t->precision, x, w, with_bias ? b : NULL, beta, y0, want, mag);
    for (size_t i = 0; i < ny; i++)
        if (i % c->ldy >= c->n) {
            want[i] = SENTINEL;
            mag[i] = 0;
        }
    float *dx = dev_from(t, x, nx), *dy = dev_from(t, y0, ny);
    const nn_weight *dw = dev_weight(t, w, c->n, c->k, use);
    const nn_weight *db = with_bias ? dev_weight(t, b, 1, c->n, NN_W_VECTOR) : NULL;
    t->o->linear(t->be, c->m, dx, c->ldx, dw, db, beta, dy, c->ldy);
    float *got = dev_get(t, dy, ny), *gx = dev_get(t, dx, nx);
    int ok = use == NN_W_LINEAR || few_rows_impl_ok(t, dw);
    // γ(k + 2): k products, the bias and beta·y
    ok &= compare(label, "y", got, want, mag, (double)(c->k + 2) * FLT_EPSILON, ny);
    ok &= compare_exact(label, "x unchanged", gx, x, nx);
    dev_release_all(t);
    free(x), free(w), free(b), free(y0), free(want), free(mag), free(got), free(gx);
    return ok;
}

static void linear_cases(tctx *t)
{
    // m = 1; odd sizes; strides wider than the rows; few rows with many outputs (split by
    // columns on 2 threads) and many rows (split by rows); k = 1
    static const lin_case cases[] = {
        {1, 37, 19, 19, 37},  {1, 1, 1, 1, 1},        {3, 1, 1, 2, 3},       {5, 70, 33, 40, 75},
        {9, 6, 11, 11, 6},    {67, 23, 50, 53, 23},   {130, 40, 29, 29, 41}, {2, 40, 11, 11, 40},
        {17, 48, 64, 64, 48}, {33, 129, 77, 80, 131},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int bias = 0; bias < 2; bias++)
            for (int beta = 0; beta < 2; beta++)
                case_done(linear_one(t, &cases[c], bias, (float)beta, NN_W_LINEAR));
}

// NN_W_LINEAR_FEW_ROWS weights: decoder-step shapes (15 rows; 36, a prefill) split by columns
// between the threads, column tails (n not a multiple of 32), odd k, strides; and m = 1, 3.
static void linear_few_rows_cases(tctx *t)
{
    static const lin_case cases[] = {
        {15, 130, 33, 40, 131}, {15, 64, 64, 64, 64}, {36, 70, 75, 75, 72},
        {1, 37, 19, 19, 37},    {3, 1, 1, 2, 3},      {5, 70, 33, 40, 75},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int bias = 0; bias < 2; bias++)
            for (int beta = 0; beta < 2; beta++)
                case_done(linear_one(t, &cases[c], bias, (float)beta, NN_W_LINEAR_FEW_ROWS));
}

static void test_linear(void)
{
    for_each_backend(backends, N_BACKENDS, "linear", linear_cases);
    CHECK_EQ(st.n_fail, 0);
}

static void test_linear_few_rows(void)
{
    for_each_backend(backends, N_BACKENDS, "linear few rows", linear_few_rows_cases);
    CHECK_EQ(st.n_fail, 0);
}

// --- layernorm -----------------------------------------------------------------------------------

typedef struct ln_case {
    size_t rows, d, ldx, ldy;
} ln_case;

// Row r of xa (x after the fused add, float) normalised in double. mag: the mean's error scales
// with max|x|, the rest with |x − mean|; both through inv·|g|, plus |b|.
static void layernorm_ref(const ln_case *c, const float *xa, const float *g, const float *b,
                          float eps, size_t ldy, double *want, double *mag)
{
    for (size_t r = 0; r < c->rows; r++) {
        const float *x = xa + r * c->ldx;
        double m = 0, v = 0, amax = 0;
        for (size_t j = 0; j < c->d; j++) {
            m += x[j];
            amax = fabs(x[j]) > amax ? fabs(x[j]) : amax;
        }
        m /= (double)c->d;
        for (size_t j = 0; j < c->d; j++)
            v += (x[j] - m) * (x[j] - m);
        v /= (double)c->d;
        double inv = 1 / sqrt(v + eps);
        for (size_t j = 0; j < c->d; j++) {
            want[r * ldy + j] = (x[j] - m) * inv * g[j] + b[j];
            mag[r * ldy + j] = (amax + fabs(x[j] - m)) * inv * fabs(g[j]) + fabs(b[j]);
        }
    }
}

static int layernorm_one(tctx *t, const ln_case *c, int with_add, int in_place, float eps)
{
    char label[200];
    size_t ldy = in_place ? c->ldx : c->ldy, nx = c->rows * c->ldx, ny = c->rows * ldy;
    snprintf(label, sizeof label, "%s layernorm rows=%zu d=%zu ldx=%zu ldy=%zu add=%s %s eps=%g",
             t->name, c->rows, c->d, c->ldx, ldy, with_add ? "yes" : "NULL",
             in_place ? "in place" : "y != x", eps);
    float *x = hostf(nx), *xa = hostf(nx), *g = hostf(c->d), *b = hostf(c->d), *add = hostf(c->d);
    double *want = hostd(ny), *mag = hostd(ny);
    for (size_t i = 0; i < nx; i++) // an offset mean, as in a residual stream
        x[i] = i % c->ldx >= c->d ? SENTINEL : frand() * 3 + 1;
    fill(g, c->d, 1);
    fill(b, c->d, 1);
    fill(add, c->d, 1);
    for (size_t i = 0; i < nx; i++) // the fused add: one float add, in place (not the padding)
        xa[i] = with_add && i % c->ldx < c->d ? x[i] + add[i % c->ldx] : x[i];
    for (size_t i = 0; i < ny; i++) {
        want[i] = SENTINEL;
        mag[i] = 0;
    }
    layernorm_ref(c, xa, g, b, eps, ldy, want, mag);
    float *dx = dev_from(t, x, nx), *dy = in_place ? dx : dev_out(t, ny);
    const nn_weight *dg = dev_weight(t, g, 1, c->d, NN_W_VECTOR),
                    *db = dev_weight(t, b, 1, c->d, NN_W_VECTOR);
    const nn_weight *da = with_add ? dev_weight(t, add, 1, c->d, NN_W_VECTOR) : NULL;
    t->o->layernorm(t->be, c->rows, c->d, dx, c->ldx, da, dg, db, eps, dy, ldy);
    float *got = dev_get(t, dy, ny), *gx = dev_get(t, dx, nx);
    // γ(d) for the mean and the variance, a few roundings for the rest
    int ok = compare(label, "y", got, want, mag, (double)(c->d + 8) * FLT_EPSILON, ny);
    if (!in_place) {
        ok &= compare_exact(label, with_add ? "x += add" : "x unchanged", gx, xa, nx);
        ok &= check_tail(t, label, dy, ny);
    }
    dev_release_all(t);
    free(x), free(xa), free(g), free(b), free(add), free(want), free(mag), free(got), free(gx);
    return ok;
}

static void layernorm_cases(tctx *t)
{
    static const ln_case cases[] = {
        {5, 37, 37, 37}, {3, 8, 11, 13},   {7, 16, 16, 19},    {2, 100, 103, 100},
        {1, 1, 1, 1},    {66, 24, 24, 24}, {3, 300, 301, 300},
    };
    static const float eps[] = {1e-5f, 1e-12f, 0.1f};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int add = 0; add < 2; add++)
            for (int in_place = 0; in_place < 2; in_place++)
                for (size_t e = 0; e < sizeof eps / sizeof *eps; e++)
                    case_done(layernorm_one(t, &cases[c], add, in_place, eps[e]));
}

static void test_layernorm(void)
{
    for_each_backend(backends, N_BACKENDS, "layernorm", layernorm_cases);
    CHECK_EQ(st.n_fail, 0);
}

// --- bias_act ------------------------------------------------------------------------------------

// Every seize_act value with its reference, the magnitude its error scales with, and a
// tolerance relative to that (a new value of seize_act gets a line here).
// quick_gelu, y = x·σ(1.702x): the ~2-ulp exp of z = −1.702x (whose rounding is |z|·u of e^z),
// a division and an add give ≤ 8 eps of |y|·(1 + |z|); where the exp clamps its input at −87,
// the true e^z is below 1.6e-38: values under 1e-24·|x| count as zero.
// gelu, y = ½x(1 + erf(x/√2)): erf within 1.5e-7 absolute (A&S 7.1.26) is 7.5e-8 of |x| (the
// relative error grows where y → 0, x < 0), plus the same roundings.
static double quick_gelu_ref(double x)
{
    return x / (1 + exp(-1.702 * x));
}
static double quick_gelu_mag(double x)
{
    return fabs(quick_gelu_ref(x)) * (1 + fabs(1.702 * x)) + 1e-24 * fabs(x);
}
static double gelu_ref(double x)
{
    return 0.5 * x * (1 + erf(x / sqrt(2.0)));
}
static double gelu_mag(double x)
{
    return fabs(x);
}
static double relu_ref(double x)
{
    return x > 0 ? x : 0;
}
static double none_ref(double x)
{
    return x;
}
static double exact_mag(double x)
{
    return 1;
}

static const struct {
    seize_act act;
    const char *name;
    double (*ref)(double), (*mag)(double);
    double tol;
} acts[] = {
    {SEIZE_ACT_QUICK_GELU, "quick_gelu", quick_gelu_ref, quick_gelu_mag, 8 * FLT_EPSILON},
    {SEIZE_ACT_GELU, "gelu", gelu_ref, gelu_mag, 7.5e-8 + 8 * FLT_EPSILON},
    {SEIZE_ACT_RELU, "relu", relu_ref, exact_mag, 0},
    {SEIZE_ACT_NONE, "none", none_ref, exact_mag, 0},
};

static int bias_act_one(tctx *t, size_t rows, size_t n, size_t a)
{
    char label[200];
    snprintf(label, sizeof label, "%s bias_act rows=%zu n=%zu act=%s", t->name, rows, n,
             acts[a].name);
    size_t nx = rows * n;
    float *x = hostf(nx), *b = hostf(n);
    double *want = hostd(nx), *mag = hostd(nx);
    // mostly [-6, 6] (where the curves bend), some far tails (the exp's clamping) and zeros
    for (size_t i = 0; i < nx; i++)
        x[i] = i % 29 == 3 ? frand() * 100 : i % 31 == 5 ? 0 : frand() * 5;
    fill(b, n, 1);
    for (size_t i = 0; i < nx; i++) {
        float xb = x[i] + b[i % n]; // one float add, as the backend does
        want[i] = acts[a].ref(xb);
        mag[i] = acts[a].mag(xb);
    }
    float *dx = dev_from(t, x, nx);
    const nn_weight *db = dev_weight(t, b, 1, n, NN_W_VECTOR);
    t->o->bias_act(t->be, rows, n, dx, db, acts[a].act);
    float *got = dev_get(t, dx, nx);
    int ok = compare(label, "x", got, want, mag, acts[a].tol, nx);
    dev_release_all(t);
    free(x), free(b), free(want), free(mag), free(got);
    return ok;
}

static void bias_act_cases(tctx *t)
{
    static const size_t shapes[][2] = {{1, 1}, {3, 7}, {2, 8}, {5, 37}, {40, 16}, {9, 100}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (size_t a = 0; a < sizeof acts / sizeof *acts; a++)
            case_done(bias_act_one(t, shapes[s][0], shapes[s][1], a));
}

static void test_bias_act(void)
{
    for_each_backend(backends, N_BACKENDS, "bias_act", bias_act_cases);
    CHECK_EQ(st.n_fail, 0);
}

// --- add -----------------------------------------------------------------------------------------

// x += y on strided rows: one float add per element, exact; padding left alone.
static int add_one(tctx *t, size_t rows, size_t n, size_t ldx, size_t ldy)
{
    char label[160];
    snprintf(label, sizeof label, "%s add rows=%zu n=%zu ldx=%zu ldy=%zu", t->name, rows, n, ldx,
             ldy);
    size_t nx = rows * ldx, ny = rows * ldy;
    float *x = hostf(nx), *y = hostf(ny), *want = hostf(nx);
    fill(x, nx, 3);
    fill(y, ny, 3);
    for (size_t i = 0; i < nx; i++)
        want[i] = i % ldx < n ? x[i] + y[i / ldx * ldy + i % ldx] : x[i];
    float *dx = dev_from(t, x, nx), *dy = dev_from(t, y, ny);
    t->o->add(t->be, rows, n, dx, ldx, dy, ldy);
    float *got = dev_get(t, dx, nx), *gy = dev_get(t, dy, ny);
    int ok = compare_exact(label, "x", got, want, nx) && compare_exact(label, "y", gy, y, ny);
    dev_release_all(t);
    free(x), free(y), free(want), free(got), free(gy);
    return ok;
}

static void add_cases(tctx *t)
{
    static const size_t shapes[][4] = {
        {1, 1, 1, 1}, {3, 7, 9, 7}, {40, 16, 16, 20}, {5, 37, 40, 37}};
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++)
        case_done(add_one(t, shapes[c][0], shapes[c][1], shapes[c][2], shapes[c][3]));
}

static void test_add(void)
{
    for_each_backend(backends, N_BACKENDS, "add", add_cases);
    CHECK_EQ(st.n_fail, 0);
}

// --- reserve + attention -------------------------------------------------------------------------

typedef struct attn_case {
    size_t n_seq, T;
    int n_head, d_head;
    float amp; // of q and k: large values make peaked softmaxes
} attn_case;

// One query row (sequence s, token i) of one head in double: out[e] and its mag. The output is
// Σ p_j·v_j: its error is Σ p_j|v_j| times (the scores' relative error, 2·γ(dh)·Smax with
// Smax = max_j scale·Σ|q·k|, through the softmax) plus γ(nk) for the exp's, the sum's and
// P·V's roundings.
static void attn_row_ref(const attn_case *c, const float *qkv, const float *bias, size_t s,
                         size_t i, int h, size_t nk, double *sc, double *want, double *mag)
{
    size_t dh = (size_t)c->d_head, d = dh * (size_t)c->n_head, ld = 3 * d;
    const float *seq = qkv + s * c->T * ld;
    double scale = 1 / sqrt((double)dh), mx = -INFINITY, smax = 0, sum = 0;
    for (size_t j = 0; j < nk; j++) {
        double dot = 0, a = 0;
        for (size_t e = 0; e < dh; e++) {
            size_t col = (size_t)h * dh + e;
            double q = (double)seq[i * ld + col] + bias[col];
            double k = (double)seq[j * ld + d + col] + bias[d + col];
            dot += q * k;
            a += fabs(q * k);
        }
        sc[j] = dot * scale;
        mx = sc[j] > mx ? sc[j] : mx;
        smax = a * scale > smax ? a * scale : smax;
    }
    for (size_t j = 0; j < nk; j++)
        sum += (sc[j] = exp(sc[j] - mx));
    for (size_t e = 0; e < dh; e++) {
        size_t col = (size_t)h * dh + e;
        double acc = 0, a = 0;
        for (size_t j = 0; j < nk; j++) {
            double v = (double)seq[j * ld + 2 * d + col] + bias[2 * d + col];
            acc += sc[j] / sum * v;
            a += sc[j] / sum * fabs(v);
        }
        want[col] = acc;
        mag[col] = a * (1 + 2 * smax);
    }
}

// The expected output: (n_seq·T, d), or (n_seq, d) with q_rows.
static void attention_ref(const attn_case *c, const float *qkv, const float *bias, int causal,
                          const size_t *q_rows, double *want, double *mag)
{
    size_t d = (size_t)c->d_head * (size_t)c->n_head;
    double *sc = hostd(c->T);
    for (size_t s = 0; s < c->n_seq; s++)
        for (size_t i = 0; i < c->T; i++) {
            if (q_rows && i != q_rows[s]) continue;
            size_t r = q_rows ? s : s * c->T + i, nk = causal ? i + 1 : c->T;
            for (int h = 0; h < c->n_head; h++)
                attn_row_ref(c, qkv, bias, s, i, h, nk, sc, want + r * d, mag + r * d);
        }
    free(sc);
}

static int attention_one(tctx *t, const attn_case *c, int causal, int pooled)
{
    char label[200];
    size_t d = (size_t)c->d_head * (size_t)c->n_head, nqkv = c->n_seq * c->T * 3 * d;
    size_t nout = (pooled ? c->n_seq : c->n_seq * c->T) * d;
    snprintf(label, sizeof label, "%s attention n_seq=%zu T=%zu n_head=%d d_head=%d amp=%g %s %s",
             t->name, c->n_seq, c->T, c->n_head, c->d_head, c->amp,
             causal ? "causal" : "non-causal", pooled ? "q_rows" : "q_rows=NULL");
    float *qkv = hostf(nqkv), *bias = hostf(3 * d);
    size_t *q_rows = xmalloc(c->n_seq * sizeof *q_rows);
    double *want = hostd(nout), *mag = hostd(nout);
    for (size_t i = 0; i < nqkv; i++) // q and k scaled by amp, v not
        qkv[i] = frand() * (i % (3 * d) < 2 * d ? c->amp : 1);
    fill(bias, 3 * d, 0.5f);
    for (size_t s = 0; s < c->n_seq; s++) // the last token, the first, and others
        q_rows[s] = s == 0 ? c->T - 1 : s == 1 ? 0 : (s * 5 + 2) % c->T;
    attention_ref(c, qkv, bias, causal, pooled ? q_rows : NULL, want, mag);
    float *dqkv = dev_from(t, qkv, nqkv), *dout = dev_out(t, nout);
    const nn_weight *dq = dev_weight(t, bias, 1, d, NN_W_VECTOR),
                    *dk = dev_weight(t, bias + d, 1, d, NN_W_VECTOR),
                    *dv = dev_weight(t, bias + 2 * d, 1, d, NN_W_VECTOR);
    t->o->attention(t->be, c->n_seq, c->T, c->n_head, c->d_head, dqkv, dq, dk, dv, causal,
                    pooled ? q_rows : NULL, dout);
    float *got = dev_get(t, dout, nout), *gq = dev_get(t, dqkv, nqkv);
    double tol = (double)((size_t)c->d_head + 2 * c->T + 16) * FLT_EPSILON;
    int ok = compare(label, "out", got, want, mag, tol, nout);
    ok &= compare_exact(label, "qkv unchanged", gq, qkv, nqkv);
    ok &= check_tail(t, label, dout, nout);
    dev_release_all(t);
    free(qkv), free(bias), free(q_rows), free(want), free(mag), free(got), free(gq);
    return ok;
}

// reserve for the case; reports and counts a failed case when it fails.
static int reserve_ok(tctx *t, const attn_case *k)
{
    int rc = t->o->reserve(t->be, k->T, (size_t)k->d_head, (size_t)k->n_head);
    if (rc < 0) {
        fprintf(stderr, "  FAIL %s reserve(%zu, %d, %d): %s\n", t->name, k->T, k->d_head, k->n_head,
                seize_errmsg());
        case_done(0);
    }
    return rc == 0;
}

static void attention_cases(tctx *t)
{
    // T and d_head below, at and above the vector width and its multiples (8, 16), one token,
    // heads split into groups (n_seq 1 with 5 heads), many sequences, a bigG-like head of 104
    static const attn_case cases[] = {
        {1, 1, 1, 1, 1},  {2, 5, 3, 7, 1},   {3, 37, 3, 13, 1},  {1, 8, 5, 9, 4},
        {2, 17, 4, 8, 2}, {5, 9, 1, 24, 1},  {2, 70, 2, 104, 1}, {1, 33, 2, 16, 4},
        {4, 3, 2, 5, 1},  {1, 16, 3, 32, 3}, {6, 4, 2, 64, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const attn_case *k = &cases[c];
        // a fresh instance reserved for exactly this case (an op that used more scratch than
        // it reserves fails under ASan), every variant; then the long-lived instance, reserved
        // case after case (the scratch grows, a smaller request keeps it), one variant
        tctx u = *t;
        u.n_bufs = 0;
        if (backend_create(u.entry, &u.be) < 0) {
            fprintf(stderr, "  FAIL %s: cannot create: %s\n", t->name, seize_errmsg());
            case_done(0);
            continue;
        }
        u.o = u.be->ops;
        if (reserve_ok(&u, k))
            for (int causal = 0; causal < 2; causal++)
                for (int pooled = 0; pooled < 2; pooled++)
                    case_done(attention_one(&u, k, causal, pooled));
        u.o->free(u.be);
        if (reserve_ok(t, k)) case_done(attention_one(t, k, (int)(c & 1), 0));
    }
}

static void test_attention(void)
{
    for_each_backend(backends, N_BACKENDS, "attention", attention_cases);
    CHECK_EQ(st.n_fail, 0);
}

// --- attend --------------------------------------------------------------------------------------
//
// Every argument is exercised: Tq ≠ Tk, keys and values shared by the sequences (k_seq =
// v_seq = 0), causal offsets 0, > 0 and past the keys, strides larger than a row, gaps between
// sequences, q/k/v interleaved in one buffer, 1 to 5 heads, several query blocks, single
// queries (decoder steps); the floats the op must not write (row padding, the tail past the
// output, the inputs) stay as they were. Tolerance: the bound of `attention` above, with Tk.

typedef struct attend_case {
    size_t n_seq, Tq, Tk;
    int n_head, d_head;
    int layout; // 0: separate q, k, v; 1: keys and values shared by the sequences (k_seq = 0);
                // 2: rows [q | k | v] of one buffer (self-attention, Tq = Tk)
    long off;   // causal_offset
    size_t pad; // floats past each row (and between sequences) that the op must not touch
    float amp;  // of q and k: large values make peaked softmaxes
} attend_case;

// Where the op's arguments point, as offsets into one host/backend buffer of n floats.
typedef struct attend_layout {
    size_t q, k, v, ldq, ldk, ldv, k_seq, v_seq, n;
} attend_layout;

static attend_layout layout_of(const attend_case *c)
{
    size_t d = (size_t)c->n_head * (size_t)c->d_head, p = c->pad;
    attend_layout L = {0};
    if (c->layout == 2) {
        L.ldq = L.ldk = L.ldv = 3 * d + p;
        L.k = d, L.v = 2 * d;
        L.k_seq = L.v_seq = c->Tk * L.ldq;
        L.n = c->n_seq * c->Tq * L.ldq;
        return L;
    }
    L.ldq = d + p, L.ldk = d + 2 * p + 1, L.ldv = d + p + 3;
    size_t nkv = c->layout == 1 ? 1 : c->n_seq;
    if (c->layout == 0) L.k_seq = c->Tk * L.ldk + p + 5, L.v_seq = c->Tk * L.ldv + 2;
    L.k = c->n_seq * c->Tq * L.ldq + p;
    L.v = L.k + nkv * (L.k_seq ? L.k_seq : c->Tk * L.ldk) + 7;
    L.n = L.v + nkv * (L.v_seq ? L.v_seq : c->Tk * L.ldv);
    return L;
}

// One output row (sequence s, query t) of head h in double, with its error magnitude (see
// attn_row_ref).
static void attend_row_ref(const attend_case *c, const attend_layout *L, const float *buf, size_t s,
                           size_t t, int h, double *sc, double *want, double *mag)
{
    size_t dh = (size_t)c->d_head, nk = c->Tk;
    if (c->off >= 0 && t + (size_t)c->off + 1 < nk) nk = t + (size_t)c->off + 1;
    const float *q = buf + L->q + (s * c->Tq + t) * L->ldq + (size_t)h * dh;
    const float *k = buf + L->k + s * L->k_seq + (size_t)h * dh;
    const float *v = buf + L->v + s * L->v_seq + (size_t)h * dh;
    double scale = 1 / sqrt((double)dh), mx = -INFINITY, smax = 0, sum = 0;
    for (size_t j = 0; j < nk; j++) {
        double dot = 0, a = 0;
        for (size_t e = 0; e < dh; e++) {
            dot += (double)q[e] * k[j * L->ldk + e];
            a += fabs((double)q[e] * k[j * L->ldk + e]);
        }
        sc[j] = dot * scale;
        mx = sc[j] > mx ? sc[j] : mx;
        smax = a * scale > smax ? a * scale : smax;
    }
    for (size_t j = 0; j < nk; j++)
        sum += (sc[j] = exp(sc[j] - mx));
    for (size_t e = 0; e < dh; e++) {
        double acc = 0, a = 0;
        for (size_t j = 0; j < nk; j++) {
            acc += sc[j] / sum * v[j * L->ldv + e];
            a += sc[j] / sum * fabs((double)v[j * L->ldv + e]);
        }
        want[(size_t)h * dh + e] = acc;
        mag[(size_t)h * dh + e] = a * (1 + 2 * smax);
    }
}

// The inputs of a case in one host buffer (L->n floats): uniform, queries and keys times amp.
static float *attend_inputs(const attend_case *c, const attend_layout *L)
{
    size_t d = (size_t)c->n_head * (size_t)c->d_head;
    float *buf = hostf(L->n);
    fill(buf, L->n, 1);
    for (size_t i = 0; i < c->n_seq * c->Tq; i++)
        for (size_t e = 0; e < d; e++)
            buf[L->q + i * L->ldq + e] *= c->amp;
    for (size_t s = 0; s < (c->layout == 1 ? 1 : c->n_seq); s++)
        for (size_t j = 0; j < c->Tk; j++)
            for (size_t e = 0; e < d; e++)
                buf[L->k + s * L->k_seq + j * L->ldk + e] *= c->amp;
    return buf;
}

static int attend_one(tctx *t, const attend_case *c)
{
    char label[200];
    snprintf(label, sizeof label,
             "%s attend n_seq=%zu Tq=%zu Tk=%zu n_head=%d d_head=%d layout=%d off=%ld pad=%zu "
             "amp=%g",
             t->name, c->n_seq, c->Tq, c->Tk, c->n_head, c->d_head, c->layout, c->off, c->pad,
             c->amp);
    size_t d = (size_t)c->n_head * (size_t)c->d_head, ldo = d + c->pad, rows = c->n_seq * c->Tq;
    attend_layout L = layout_of(c);
    float *buf = attend_inputs(c, &L);
    double *want = hostd(rows * d), *mag = hostd(rows * d), *sc = hostd(c->Tk);
    for (size_t r = 0; r < rows; r++)
        for (int h = 0; h < c->n_head; h++)
            attend_row_ref(c, &L, buf, r / c->Tq, r % c->Tq, h, sc, want + r * d, mag + r * d);
    float *db = dev_from(t, buf, L.n), *dout = dev_out(t, rows * ldo);
    t->o->attend(t->be, c->n_seq, c->Tq, c->Tk, c->n_head, c->d_head, db + L.q, L.ldq, db + L.k,
                 L.k_seq, L.ldk, db + L.v, L.v_seq, L.ldv, c->off, dout, ldo);
    float *o = dev_get(t, dout, rows * ldo), *after = dev_get(t, db, L.n);
    float *got = hostf(rows * d), *pad = hostf(rows * c->pad), *sent = hostf(rows * c->pad);
    for (size_t r = 0; r < rows; r++) {
        memcpy(got + r * d, o + r * ldo, d * sizeof *got);
        memcpy(pad + r * c->pad, o + r * ldo + d, c->pad * sizeof *pad);
    }
    for (size_t i = 0; i < rows * c->pad; i++)
        sent[i] = SENTINEL;
    double tol = (double)((size_t)c->d_head + 2 * c->Tk + 16) * FLT_EPSILON;
    int ok = compare(label, "out", got, want, mag, tol, rows * d);
    ok &= compare_exact(label, "row padding of out", pad, sent, rows * c->pad);
    ok &= check_tail(t, label, dout, rows * ldo);
    ok &= compare_exact(label, "inputs unchanged", after, buf, L.n);
    dev_release_all(t);
    free(buf), free(want), free(mag), free(sc), free(o), free(after), free(got), free(pad);
    free(sent);
    return ok;
}

static void attend_cases(tctx *t)
{
    static const attend_case cases[] = {
        {1, 1, 1, 1, 1, 0, -1, 0, 1},     // the least
        {2, 3, 7, 2, 8, 0, -1, 0, 1},     // Tq < Tk, all keys
        {3, 9, 4, 1, 5, 0, -1, 2, 1},     // Tq > Tk
        {3, 5, 9, 2, 16, 1, -1, 3, 1},    // cross-attention to shared features
        {4, 32, 37, 3, 24, 1, -1, 1, 2},  // Q-Former-like: 32 queries, shared keys
        {2, 17, 17, 3, 13, 0, 0, 2, 1},   // causal
        {2, 17, 17, 2, 8, 2, 0, 5, 1},    // causal over a fused qkv
        {2, 70, 70, 2, 64, 2, -1, 0, 1},  // fused, two query blocks
        {15, 1, 9, 4, 32, 0, 8, 5, 1},    // a decoder step: 8 cached + 1 new, 15 samples
        {15, 1, 40, 2, 128, 0, 39, 0, 1}, // the same, head 128
        {3, 1, 7, 2, 13, 0, 6, 3, 2},     // a step, odd head (the single query's tails)
        {2, 1, 5, 3, 8, 1, -1, 1, 1},     // a single query, shared keys
        {2, 1, 12, 1, 20, 0, 3, 0, 1},    // a single query that sees 4 of 12 keys
        {2, 6, 11, 2, 24, 0, 5, 1, 1},    // 6 new tokens after 5 cached
        {1, 130, 133, 2, 40, 0, 3, 0, 1}, // three query blocks, offset 3
        {1, 4, 6, 1, 8, 0, 10, 0, 1},     // an offset past the keys: every key
        {2, 4, 4, 1, 9, 1, 0, 1, 1},      // shared keys, causal
        {1, 8, 8, 5, 9, 0, -1, 0, 4},     // peaked softmaxes
        {3, 2, 5, 3, 7, 0, 1, 4, 3},      // odd sizes everywhere
        {2, 7, 7, 3, 16, 2, 0, 0, 1},     // causal over a fused qkv, Tq and Tk odd
        {1, 67, 200, 1, 8, 1, 150, 2, 1}, // causal offset, last block partial, shared keys
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const attend_case *c = &cases[i];
        attn_case r = {1, c->Tq > c->Tk ? c->Tq : c->Tk, c->n_head, c->d_head, 1}; // for reserve
        // a fresh instance reserved for exactly this case (an op that used more scratch than
        // it reserves fails under ASan), then the long-lived one, its scratch grown case by case
        tctx u = *t;
        u.n_bufs = u.n_ws = 0;
        if (backend_create(u.entry, &u.be) < 0) {
            fprintf(stderr, "  FAIL %s: cannot create: %s\n", t->name, seize_errmsg());
            case_done(0);
            continue;
        }
        u.o = u.be->ops;
        if (reserve_ok(&u, &r)) case_done_on(&u, attend_one(&u, c));
        u.o->free(u.be);
        if (reserve_ok(t, &r)) case_done_on(t, attend_one(t, c));
    }
}

static void test_attend(void)
{
    for_each_backend(backends, N_BACKENDS, "attend", attend_cases);
    CHECK_EQ(st.n_fail, 0);
}

// --- patchify ------------------------------------------------------------------------------------

static int patchify_one(tctx *t, size_t n, int S, int p)
{
    char label[160];
    snprintf(label, sizeof label, "%s patchify n=%zu S=%d p=%d", t->name, n, S, p);
    size_t Sz = (size_t)S, pz = (size_t)p, g = Sz / pz, pp = pz * pz;
    size_t npix = n * 3 * Sz * Sz, ncols = n * g * g * 3 * pp;
    float *pix = hostf(npix), *want = hostf(ncols);
    fill(pix, npix, 1);
    for (size_t i = 0; i < n; i++)
        for (size_t gy = 0; gy < g; gy++)
            for (size_t gx = 0; gx < g; gx++)
                for (size_t ch = 0; ch < 3; ch++)
                    for (size_t ky = 0; ky < pz; ky++)
                        for (size_t kx = 0; kx < pz; kx++)
                            want[((i * g + gy) * g + gx) * 3 * pp + ch * pp + ky * pz + kx] =
                                pix[((i * 3 + ch) * Sz + gy * pz + ky) * Sz + gx * pz + kx];
    float *dpix = dev_from(t, pix, npix), *dcols = dev_out(t, ncols);
    t->o->patchify(t->be, n, S, p, dpix, dcols);
    float *got = dev_get(t, dcols, ncols);
    int ok = compare_exact(label, "cols", got, want, ncols) && check_tail(t, label, dcols, ncols);
    dev_release_all(t);
    free(pix), free(want), free(got);
    return ok;
}

static void patchify_cases(tctx *t)
{
    // S a multiple of p, and not (the last S % p rows and columns are not read: g = S / p)
    static const int cases[][3] = {{2, 8, 4}, {3, 10, 3}, {1, 5, 5}, {2, 14, 2}, {1, 6, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        case_done(patchify_one(t, (size_t)cases[c][0], cases[c][1], cases[c][2]));
}

static void test_patchify(void)
{
    for_each_backend(backends, N_BACKENDS, "patchify", patchify_cases);
    CHECK_EQ(st.n_fail, 0);
}

// --- embed_patches, embed_tokens -----------------------------------------------------------------

static int embed_patches_one(tctx *t, size_t n, size_t np, size_t d)
{
    char label[160];
    snprintf(label, sizeof label, "%s embed_patches n=%zu n_patch=%zu d=%zu", t->name, n, np, d);
    size_t T = np + 1, nx = n * T * d;
    float *pat = hostf(n * np * d), *cls = hostf(d), *pos = hostf(T * d), *want = hostf(nx);
    fill(pat, n * np * d, 1);
    fill(cls, d, 1);
    fill(pos, T * d, 1);
    for (size_t i = 0; i < n; i++)
        for (size_t tk = 0; tk < T; tk++)
            for (size_t j = 0; j < d; j++)
                want[(i * T + tk) * d + j] =
                    (tk ? pat[(i * np + tk - 1) * d + j] : cls[j]) + pos[tk * d + j];
    float *dpat = dev_from(t, pat, n * np * d), *dx = dev_out(t, nx);
    const nn_weight *dcls = dev_weight(t, cls, 1, d, NN_W_VECTOR),
                    *dpos = dev_weight(t, pos, T, d, NN_W_VECTOR);
    t->o->embed_patches(t->be, n, np, d, dpat, dcls, dpos, dx);
    float *got = dev_get(t, dx, nx);
    int ok = compare_exact(label, "x", got, want, nx) && check_tail(t, label, dx, nx);
    dev_release_all(t);
    free(pat), free(cls), free(pos), free(want), free(got);
    return ok;
}

// pos0: the position of the first id (a decoder step); with_pos 0: no position term.
static int embed_tokens_one(tctx *t, size_t n, size_t T, size_t d, size_t ld_ids, size_t pos0,
                            int with_pos)
{
    char label[160];
    snprintf(label, sizeof label, "%s embed_tokens n=%zu T=%zu d=%zu ld_ids=%zu pos0=%zu%s",
             t->name, n, T, d, ld_ids, pos0, with_pos ? "" : " pos=NULL");
    size_t n_pos = pos0 + T;
    enum { VOCAB = 23 };
    size_t nx = n * T * d;
    int32_t *ids = xmalloc(n * ld_ids * sizeof *ids);
    float *tok = hostf(VOCAB * d), *pos = hostf(n_pos * d), *want = hostf(nx);
    // ids past T are invalid: an op that read them would fail here (or under ASan)
    for (size_t i = 0; i < n * ld_ids; i++)
        ids[i] = i % ld_ids < T ? (int32_t)((i * 7 + 3) % VOCAB) : -1;
    fill(tok, VOCAB * d, 1);
    fill(pos, n_pos * d, 1);
    for (size_t i = 0; i < n; i++)
        for (size_t tk = 0; tk < T; tk++)
            for (size_t j = 0; j < d; j++)
                want[(i * T + tk) * d + j] = tok[(size_t)ids[i * ld_ids + tk] * d + j] +
                                             (with_pos ? pos[(pos0 + tk) * d + j] : 0.0f);
    float *dx = dev_out(t, nx);
    const nn_weight *dtok = dev_weight(t, tok, VOCAB, d, NN_W_TABLE),
                    *dpos = with_pos ? dev_weight(t, pos, n_pos, d, NN_W_TABLE) : NULL;
    t->o->embed_tokens(t->be, n, T, d, ids, ld_ids, dtok, dpos, pos0, dx);
    float *got = dev_get(t, dx, nx);
    int ok = compare_exact(label, "x", got, want, nx) && check_tail(t, label, dx, nx);
    dev_release_all(t);
    free(ids), free(tok), free(pos), free(want), free(got);
    return ok;
}

static void embed_cases(tctx *t)
{
    static const size_t patches[][3] = {{3, 4, 13}, {1, 1, 1}, {2, 9, 37}, {4, 16, 8}};
    for (size_t c = 0; c < sizeof patches / sizeof *patches; c++)
        case_done(embed_patches_one(t, patches[c][0], patches[c][1], patches[c][2]));
    // ld_ids > T (the batch's longest text inside the context), and = T
    static const size_t tokens[][4] = {{3, 5, 11, 8}, {1, 1, 3, 1}, {4, 7, 37, 77}, {2, 16, 8, 16}};
    for (size_t c = 0; c < sizeof tokens / sizeof *tokens; c++)
        case_done(
            embed_tokens_one(t, tokens[c][0], tokens[c][1], tokens[c][2], tokens[c][3], 0, 1));
    // a decoder's steps: positions from pos0 (OPT's offset, a KV cache), or none
    case_done(embed_tokens_one(t, 3, 1, 11, 1, 9, 1));
    case_done(embed_tokens_one(t, 2, 4, 8, 6, 2, 1));
    case_done(embed_tokens_one(t, 2, 4, 8, 6, 0, 0));
}

static void test_embed(void)
{
    for_each_backend(backends, N_BACKENDS, "embed_patches, embed_tokens", embed_cases);
    CHECK_EQ(st.n_fail, 0);
}

// --- gather_rows ---------------------------------------------------------------------------------

static int gather_one(tctx *t, size_t n, size_t d, size_t ldx, size_t n_x)
{
    char label[160];
    snprintf(label, sizeof label, "%s gather_rows n=%zu d=%zu ldx=%zu rows of x=%zu", t->name, n, d,
             ldx, n_x);
    size_t *rows = xmalloc(n * sizeof *rows);
    float *x = hostf(n_x * ldx), *want = hostf(n * d);
    fill(x, n_x * ldx, 1);
    for (size_t i = 0; i < n; i++) // out of order, repeated, the first and the last row
        rows[i] = i == 0 ? n_x - 1 : i == 1 ? 0 : (i * 5 + 1) % n_x;
    for (size_t i = 0; i < n; i++)
        memcpy(want + i * d, x + rows[i] * ldx, d * sizeof *want);
    float *dx = dev_from(t, x, n_x * ldx), *dy = dev_out(t, n * d);
    t->o->gather_rows(t->be, n, d, dx, ldx, rows, dy);
    float *got = dev_get(t, dy, n * d);
    int ok = compare_exact(label, "y", got, want, n * d) && check_tail(t, label, dy, n * d);
    dev_release_all(t);
    free(rows), free(x), free(want), free(got);
    return ok;
}

static void gather_cases(tctx *t)
{
    static const size_t cases[][4] = {
        {5, 13, 17, 9}, {1, 1, 1, 1}, {8, 16, 16, 3}, {3, 37, 40, 40}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        case_done(gather_one(t, cases[c][0], cases[c][1], cases[c][2], cases[c][3]));
}

static void test_gather_rows(void)
{
    for_each_backend(backends, N_BACKENDS, "gather_rows", gather_cases);
    CHECK_EQ(st.n_fail, 0);
}

int main(void)
{
    int blas_was = seize_blas_threads();
    RUN(test_backends_present);
    RUN(test_memory);
    RUN(test_linear);
    RUN(test_linear_few_rows);
    RUN(test_layernorm);
    RUN(test_bias_act);
    RUN(test_add);
    RUN(test_attention);
    RUN(test_attend);
    RUN(test_patchify);
    RUN(test_embed);
    RUN(test_gather_rows);
    seize_blas_threads_set(blas_was);
    return check_summary("backend_ops");
}
