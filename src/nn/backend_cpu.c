// The CPU backend of src/nn/backend.h: src/nn/gemm.h for the linear layers (oneDNN's kernels in
// fp32, bf16 or int8, or the portable path), our own kernels for attention, layer norm,
// activations and the embeddings, all run by one thread pool.
//
// Thread plan: every parallel step runs on our pool of n_threads (the caller included). Each pool
// thread computes a slice of a product (rows, or output columns in the packing's blocks when
// there are few rows) with a single-threaded GEMM call: no library starts threads of its own, so
// no busy-waiting worker of a library takes a core from the pool's next step (measured with
// OpenBLAS's workers: attention and activations then ran no faster on two threads than on one).
// The portable fp32 path calls OpenBLAS sgemm from the pool threads: the application keeps
// BLAS at one thread (seize_blas_threads_set(1)), as the CLI does; at more, each slice is
// threaded again by BLAS (correct, slower).
//
// Weights: linear matrices are packed once by gemm.h in the backend's precision; float32 vectors
// and tables are used in place (the model's mapping or its converted copies), F16/BF16 ones are
// converted once.
#include "backend.h"
#include "cpu_attend.h"
#include "gemm.h"

#include <stdio.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define HAVE_AVX2 1
#endif

typedef struct cpu_backend {
    nn_backend base;
    int n_threads;
    seize_precision precision;
    nn_gemm_impl gemm_impl;
    seize_pool *pool;
    nn_gemm_scratch **gs; // per pool thread
    int err;              // the first failure of an op (status)
    float *scratch;       // attention, per thread: Q, Kᵀ, V, scores, output (padded, see reserve)
    size_t max_T, max_dh, max_heads, per_thread;
} cpu_backend;

static cpu_backend *cpu(nn_backend *b)
{
    return (cpu_backend *)b;
}

// Splits [0, n) into about 4 chunks per thread for seize_pool_for.
static size_t n_chunks(const cpu_backend *c, size_t n)
{
    size_t k = (size_t)c->n_threads * 4;
    return n < k ? n : k;
}

static void chunk_range(size_t n, size_t n_chunk, size_t i, size_t *lo, size_t *hi)
{
    *lo = n * i / n_chunk;
    *hi = n * (i + 1) / n_chunk;
}

// --- vector math ------------------------------------------------------------------------------
//
// exp: x = k·ln2 + r with |r| ≤ ln2/2 (ln2 split in two for an exact k·ln2_hi), e^r by its
// degree-7 Taylor polynomial (truncation < 6e-9 relative), 2^k through the exponent bits.
// Inputs are clamped to [-87, 88] so that 2^k stays a normal number.
// erf: Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), enough for float32 GELU.

#define EXP_LO -87.0f
#define EXP_HI 88.0f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define LOG2E 1.44269504088896341f
#define ERF_P 0.3275911f
#define ERF_A1 0.254829592f
#define ERF_A2 -0.284496736f
#define ERF_A3 1.421413741f
#define ERF_A4 -1.453152027f
#define ERF_A5 1.061405429f

#ifdef HAVE_AVX2
static inline __m256 exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(EXP_LO)), _mm256_set1_ps(EXP_HI));
    __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(LN2_HI), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(LN2_LO), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline __m256 quick_gelu8(__m256 x)
{
    __m256 e = exp8(_mm256_mul_ps(x, _mm256_set1_ps(-1.702f)));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static inline __m256 gelu8(__m256 x)
{
    const __m256 sign_mask = _mm256_set1_ps(-0.0f);
    __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
    __m256 a = _mm256_andnot_ps(sign_mask, z);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                             _mm256_fmadd_ps(a, _mm256_set1_ps(ERF_P), _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(ERF_A5);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_A4));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_A3));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_A2));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_A1));
    p = _mm256_mul_ps(p, t);
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(a, a)));
    __m256 erf_abs = _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.0f));
    __m256 erf = _mm256_or_ps(erf_abs, _mm256_and_ps(sign_mask, z));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x),
                         _mm256_add_ps(_mm256_set1_ps(1.0f), erf));
}

// Applies f to n floats in place, after adding bias[0..n) when bias is not NULL (one pass); the
// tail goes through a padded block so every element sees the same arithmetic wherever it sits.
#define MAP8(x, bias, n, f)                                                                        \
    do {                                                                                           \
        size_t i_ = 0;                                                                             \
        for (; i_ + 8 <= (n); i_ += 8) {                                                           \
            __m256 v_ = _mm256_loadu_ps((x) + i_);                                                 \
            if (bias) v_ = _mm256_add_ps(v_, _mm256_loadu_ps((bias) + i_));                        \
            _mm256_storeu_ps((x) + i_, f(v_));                                                     \
        }                                                                                          \
        if (i_ < (n)) {                                                                            \
            float t_[8] = {0};                                                                     \
            for (size_t j_ = 0; j_ < (n)-i_; j_++)                                                 \
                t_[j_] = bias ? (x)[i_ + j_] + (bias)[i_ + j_] : (x)[i_ + j_];                     \
            _mm256_storeu_ps(t_, f(_mm256_loadu_ps(t_)));                                          \
            memcpy((x) + i_, t_, ((n)-i_) * sizeof(float));                                        \
        }                                                                                          \
    } while (0)

void nn_cpu_exp(float *x, size_t n)
{
    MAP8(x, (const float *)NULL, n, exp8);
}
static void bias_quick_gelu(float *x, const float *bias, size_t n)
{
    MAP8(x, bias, n, quick_gelu8);
}
static void bias_gelu(float *x, const float *bias, size_t n)
{
    MAP8(x, bias, n, gelu8);
}

#else // portable fallback

static inline float exp1(float x)
{
    return expf(x < EXP_LO ? EXP_LO : x > EXP_HI ? EXP_HI : x);
}
void nn_cpu_exp(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = exp1(x[i]);
}
static void bias_quick_gelu(float *x, const float *bias, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = bias ? x[i] + bias[i] : x[i];
        x[i] = v / (1.0f + exp1(-1.702f * v));
    }
}
static void bias_gelu(float *x, const float *bias, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = bias ? x[i] + bias[i] : x[i];
        x[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}
#endif

void nn_cpu_quick_gelu(float *x, size_t n)
{
    bias_quick_gelu(x, NULL, n);
}
void nn_cpu_gelu(float *x, size_t n)
{
    bias_gelu(x, NULL, n);
}

// Sum of n floats and sum of squared deviations from `mean` (8 lanes, then a final reduction).
static float row_sum(const float *x, size_t n)
{
    size_t i = 0;
    float s = 0;
#ifdef HAVE_AVX2
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(a0, a1));
    for (int k = 0; k < 8; k++)
        s += t[k];
#endif
    for (; i < n; i++)
        s += x[i];
    return s;
}

static float row_sqdev(const float *x, size_t n, float mean)
{
    size_t i = 0;
    float s = 0;
#ifdef HAVE_AVX2
    __m256 m = _mm256_set1_ps(mean), a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), m);
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), m);
        a0 = _mm256_fmadd_ps(d0, d0, a0);
        a1 = _mm256_fmadd_ps(d1, d1, a1);
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(a0, a1));
    for (int k = 0; k < 8; k++)
        s += t[k];
#endif
    for (; i < n; i++)
        s += (x[i] - mean) * (x[i] - mean);
    return s;
}

static void add_inplace(float *restrict y, const float *restrict x, size_t n)
{
    size_t i = 0;
#ifdef HAVE_AVX2
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
#endif
    for (; i < n; i++)
        y[i] += x[i];
}

// y = (x − mean)·inv·g + b over n floats (y may equal x).
static void ln_apply(float *y, const float *x, size_t n, float mean, float inv, const float *g,
                     const float *b)
{
    size_t i = 0;
#ifdef HAVE_AVX2
    __m256 m = _mm256_set1_ps(mean), s = _mm256_set1_ps(inv);
    for (; i + 8 <= n; i += 8) {
        __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), m), s);
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(t, _mm256_loadu_ps(g + i), _mm256_loadu_ps(b + i)));
    }
#endif
    for (; i < n; i++)
        y[i] = (x[i] - mean) * inv * g[i] + b[i];
}

// --- memory --------------------------------------------------------------------------------------

static void *cpu_alloc(nn_backend *b, nn_dtype t, size_t n)
{
    void *p = seize_alloc_aligned(n ? n : 1, nn_dtype_size(t));
    if (!p) seize_error(SEIZE_ENOMEM, "out of memory for a buffer of %zu elements", n);
    return p;
}

static void cpu_release(nn_backend *b, void *p)
{
    free(p);
}

static void cpu_copy(nn_backend *b, void *dst, const void *src, nn_dtype t, size_t n)
{
    if (n) memcpy(dst, src, n * nn_dtype_size(t));
}

static void cpu_copy_rows(nn_backend *b, size_t rows, size_t d, const float *src, size_t lds,
                          float *dst, size_t ldd)
{
    for (size_t r = 0; r < rows; r++)
        memmove(dst + r * ldd, src + r * lds, d * sizeof(float));
}

// A weight: a packed matrix (linear) or float32 values (vectors, tables: the host's own when
// they are float32 already, else a converted copy).
typedef struct cpu_weight {
    nn_weight head;
    nn_gemm_w *g;
    const float *f;
    float *owned;
} cpu_weight;

static const float *F(const nn_weight *w)
{
    return w ? ((const cpu_weight *)w)->f : NULL;
}

static nn_weight *cpu_weight_new(nn_backend *b, const nn_host_tensor *src, nn_weight_use use)
{
    cpu_backend *c = cpu(b);
    cpu_weight *w = calloc(1, sizeof *w);
    if (!w) {
        seize_error(SEIZE_ENOMEM, "out of memory");
        return NULL;
    }
    size_t n = src->rows * src->cols;
    w->head = (nn_weight){use, NN_F32, src->rows, src->cols, 0, "in place"};
    if (nn_weight_use_linear(use)) {
        seize_st_dtype st = src->dtype == NN_BF16  ? SEIZE_ST_BF16
                            : src->dtype == NN_F16 ? SEIZE_ST_F16
                                                   : SEIZE_ST_F32;
        nn_gemm_impl impl = use == NN_W_LINEAR_FEW_ROWS && c->gemm_impl == NN_GEMM_AUTO
                                ? NN_GEMM_SMALL_M
                                : c->gemm_impl;
        if (nn_gemm_pack(src->data, st, src->rows, src->cols, c->precision, impl, &w->g) < 0) {
            free(w);
            return NULL;
        }
        w->head.dtype = c->precision == SEIZE_PRECISION_BF16   ? NN_BF16
                        : c->precision == SEIZE_PRECISION_INT8 ? NN_I8
                                                               : NN_F32;
        w->head.bytes = nn_gemm_bytes(w->g);
        w->head.impl = nn_gemm_describe(w->g);
    } else if (src->dtype == NN_F32) {
        w->f = src->data;
    } else {
        const uint16_t *h = src->data;
        if (!(w->owned = seize_alloc_aligned(n ? n : 1, sizeof(float)))) {
            free(w);
            seize_error(SEIZE_ENOMEM, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < n; i++)
            w->owned[i] = src->dtype == NN_BF16 ? seize_bf16_to_f32(h[i]) : seize_f16_to_f32(h[i]);
        w->f = w->owned;
        w->head.bytes = n * sizeof(float);
    }
    return &w->head;
}

static void cpu_weight_free(nn_weight *p)
{
    cpu_weight *w = (cpu_weight *)p;
    if (!w) return;
    nn_gemm_free(w->g);
    free(w->owned);
    free(w);
}

// Per thread: nn_cpu_attention_scratch of the largest request so far, which covers both
// attention ops (cpu_attend.h).
static int cpu_reserve(nn_backend *b, size_t max_T, size_t max_dh, size_t max_heads)
{
    cpu_backend *c = cpu(b);
    if (max_T <= c->max_T && max_dh <= c->max_dh && max_heads <= c->max_heads) return 0;
    if (max_T < c->max_T) max_T = c->max_T;
    if (max_dh < c->max_dh) max_dh = c->max_dh;
    if (max_heads < c->max_heads) max_heads = c->max_heads;
    if (max_T > (1u << 20) || max_dh > (1u << 16) || max_heads > (1u << 12))
        return seize_error(SEIZE_EINVAL,
                           "attention of %zu tokens with %zu heads of %zu is too large", max_T,
                           max_heads, max_dh);
    size_t per = nn_cpu_attention_scratch(max_T, max_dh, max_heads), n;
    float *s = seize_mul_size(per, (size_t)c->n_threads, &n) < 0
                   ? NULL
                   : seize_alloc_aligned(n, sizeof(float));
    if (!s)
        return seize_error(SEIZE_ENOMEM, "out of memory for the attention scratch (%zu tokens)",
                           max_T);
    free(c->scratch);
    c->scratch = s;
    c->max_T = max_T;
    c->max_dh = max_dh;
    c->max_heads = max_heads;
    c->per_thread = per;
    return 0;
}

// --- linear
// ---------------------------------------------------------------------------------------

typedef struct gemm_ctx {
    size_t m, n, ldx, ldy, chunk;
    int split_rows; // slices of rows (of x and y), else of output columns (of w and y)
    const float *x, *bias;
    const nn_gemm_w *w;
    float beta, *y;
    nn_gemm_scratch **gs;
    _Atomic int rc; // a failed slice's code (written by any pool thread)
} gemm_ctx;

static void gemm_part(void *ctx, size_t i, int thread)
{
    gemm_ctx *a = ctx;
    size_t lo = i * a->chunk, total = a->split_rows ? a->m : a->n;
    if (lo >= total) return;
    size_t hi = total - lo < a->chunk ? total : lo + a->chunk;
    int rc = a->split_rows
                 ? nn_gemm_run(a->w, hi - lo, 0, a->n, a->x + lo * a->ldx, a->ldx, a->bias, a->beta,
                               a->y + lo * a->ldy, a->ldy, a->gs[thread])
                 : nn_gemm_run(a->w, a->m, lo, hi, a->x, a->ldx, a->bias, a->beta, a->y, a->ldy,
                               a->gs[thread]);
    if (rc < 0) atomic_store(&a->rc, rc);
}

static void cpu_linear(nn_backend *b, size_t m, const float *x, size_t ldx, const nn_weight *w,
                       const nn_weight *bias, float beta, float *y, size_t ldy)
{
    cpu_backend *c = cpu(b);
    const nn_gemm_w *g = ((const cpu_weight *)w)->g;
    size_t n = w->rows;
    if (m == 0 || n == 0) return;
    size_t T = (size_t)c->n_threads, align = nn_gemm_col_align(g);
    // one slice per thread: rows when there are enough of them (each thread reads all of w
    // once, a small cost next to the product), else output columns (in the packing's blocks)
    int split_rows = T == 1 || m >= 32 * T || m >= n || n < 2 * align;
    size_t total = split_rows ? m : n, chunk = (total + T - 1) / T;
    chunk = split_rows ? (chunk + 15) & ~(size_t)15 : (chunk + align - 1) / align * align;
    gemm_ctx a = {m, n, ldx, ldy, chunk, split_rows, x, F(bias), g, beta, y, c->gs, 0};
    if (T == 1)
        gemm_part(&a, 0, 0);
    else
        seize_pool_for(c->pool, (total + chunk - 1) / chunk, gemm_part, &a);
    if (a.rc < 0 && c->err == 0) c->err = a.rc; // scratch growth, the only failure
}

// --- layer norm
// ------------------------------------------------------------------------------------

typedef struct ln_ctx {
    size_t rows, d, ldx, ldy, n_chunk;
    float *x, *y;
    const float *add, *g, *beta;
    float eps;
} ln_ctx;

static void ln_chunk(void *ctx, size_t i, int thread)
{
    ln_ctx *a = ctx;
    size_t lo, hi, d = a->d;
    chunk_range(a->rows, a->n_chunk, i, &lo, &hi);
    for (size_t r = lo; r < hi; r++) {
        float *x = a->x + r * a->ldx, *y = a->y + r * a->ldy;
        if (a->add) add_inplace(x, a->add, d);
        float mean = row_sum(x, d) / (float)d;
        float var = row_sqdev(x, d, mean) / (float)d;
        float inv = 1.0f / sqrtf(var + a->eps);
        ln_apply(y, x, d, mean, inv, a->g, a->beta);
    }
}

static void cpu_layernorm(nn_backend *b, size_t rows, size_t d, float *x, size_t ldx,
                          const nn_weight *add, const nn_weight *g, const nn_weight *beta,
                          float eps, float *y, size_t ldy)
{
    cpu_backend *c = cpu(b);
    ln_ctx a = {rows, d, ldx, ldy, n_chunks(c, rows), x, y, F(add), F(g), F(beta), eps};
    seize_pool_for(c->pool, a.n_chunk, ln_chunk, &a);
}

// --- bias + activation ---------------------------------------------------------------------------

typedef struct act_ctx {
    size_t rows, n, n_chunk;
    float *x;
    const float *bias;
    seize_act act;
} act_ctx;

static void act_chunk(void *ctx, size_t i, int thread)
{
    act_ctx *a = ctx;
    size_t lo, hi;
    chunk_range(a->rows, a->n_chunk, i, &lo, &hi);
    for (size_t r = lo; r < hi; r++) {
        float *x = a->x + r * a->n;
        if (a->act == SEIZE_ACT_GELU) { // bias added in the same pass
            bias_gelu(x, a->bias, a->n);
            continue;
        }
        if (a->act == SEIZE_ACT_QUICK_GELU) {
            bias_quick_gelu(x, a->bias, a->n);
            continue;
        }
        if (a->bias) add_inplace(x, a->bias, a->n);
        if (a->act == SEIZE_ACT_RELU)
            for (size_t j = 0; j < a->n; j++)
                x[j] = x[j] > 0.0f ? x[j] : 0.0f;
    }
}

static void cpu_bias_act(nn_backend *b, size_t rows, size_t n, float *x, const nn_weight *bias,
                         seize_act act)
{
    cpu_backend *c = cpu(b);
    act_ctx a = {rows, n, n_chunks(c, rows), x, F(bias), act};
    seize_pool_for(c->pool, a.n_chunk, act_chunk, &a);
}

typedef struct add_ctx {
    size_t rows, n, ldx, ldy, n_chunk;
    float *x;
    const float *y;
} add_ctx;

static void add_chunk(void *ctx, size_t i, int thread)
{
    add_ctx *a = ctx;
    size_t lo, hi;
    chunk_range(a->rows, a->n_chunk, i, &lo, &hi);
    for (size_t r = lo; r < hi; r++)
        add_inplace(a->x + r * a->ldx, a->y + r * a->ldy, a->n);
}

static void cpu_add(nn_backend *b, size_t rows, size_t n, float *x, size_t ldx, const float *y,
                    size_t ldy)
{
    cpu_backend *c = cpu(b);
    add_ctx a = {rows, n, ldx, ldy, n_chunks(c, rows), x, y};
    seize_pool_for(c->pool, a.n_chunk, add_chunk, &a);
}

// --- attention (cpu_attend.c) ------------------------------------------------------------------

static void cpu_attention(nn_backend *b, size_t n_seq, size_t T, int n_head, int d_head, float *qkv,
                          const nn_weight *q_b, const nn_weight *k_b, const nn_weight *v_b,
                          int causal, const size_t *q_rows, float *out)
{
    cpu_backend *c = cpu(b);
    SEIZE_ASSERT(T <= c->max_T && (size_t)d_head <= c->max_dh && (size_t)n_head <= c->max_heads);
    nn_cpu_attention(c->pool, c->scratch, c->per_thread, n_seq, T, n_head, d_head, qkv, F(q_b),
                     F(k_b), F(v_b), causal, q_rows, out);
}

static void cpu_attend_op(nn_backend *b, size_t n_seq, size_t Tq, size_t Tk, int n_head, int d_head,
                          const float *q, size_t ldq, const float *k, size_t k_seq, size_t ldk,
                          const float *v, size_t v_seq, size_t ldv, long causal_offset, float *out,
                          size_t ldo)
{
    cpu_backend *c = cpu(b);
    SEIZE_ASSERT(Tq <= c->max_T && Tk <= c->max_T && (size_t)d_head <= c->max_dh);
    nn_cpu_attend(c->pool, c->scratch, c->per_thread, n_seq, Tq, Tk, n_head, d_head, q, ldq, k,
                  k_seq, ldk, v, v_seq, ldv, causal_offset, out, ldo);
}

// --- embeddings
// --------------------------------------------------------------------------------------

typedef struct patch_ctx {
    int S, p;
    const float *pixels;
    float *cols;
} patch_ctx;

static void patch_item(void *ctx, size_t i, int thread)
{
    patch_ctx *a = ctx;
    size_t S = (size_t)a->S, p = (size_t)a->p, g = S / p, pp = p * p;
    const float *img = a->pixels + i * 3 * S * S;
    float *cols = a->cols + i * g * g * 3 * pp;
    for (size_t gy = 0; gy < g; gy++)
        for (size_t gx = 0; gx < g; gx++) {
            float *dst = cols + (gy * g + gx) * 3 * pp;
            for (size_t ch = 0; ch < 3; ch++)
                for (size_t ky = 0; ky < p; ky++)
                    memcpy(dst + ch * pp + ky * p, img + ch * S * S + (gy * p + ky) * S + gx * p,
                           p * sizeof(float));
        }
}

static void cpu_patchify(nn_backend *b, size_t n, int S, int p, const float *pixels, float *cols)
{
    patch_ctx a = {S, p, pixels, cols};
    seize_pool_for(cpu(b)->pool, n, patch_item, &a);
}

typedef struct embed_ctx {
    size_t n_patch, d, T, ld_ids, pos0;
    const float *patches, *class_emb, *pos, *tok_emb;
    const int32_t *ids;
    float *x;
} embed_ctx;

static void embed_patch_item(void *ctx, size_t i, int thread)
{
    embed_ctx *a = ctx;
    size_t d = a->d, T = a->n_patch + 1;
    float *x = a->x + i * T * d;
    for (size_t j = 0; j < d; j++)
        x[j] = a->class_emb[j] + a->pos[j];
    for (size_t t = 1; t < T; t++) {
        const float *src = a->patches + (i * a->n_patch + t - 1) * d, *pos = a->pos + t * d;
        float *dst = x + t * d;
        for (size_t j = 0; j < d; j++)
            dst[j] = src[j] + pos[j];
    }
}

static void cpu_embed_patches(nn_backend *b, size_t n, size_t n_patch, size_t d,
                              const float *patches, const nn_weight *class_emb,
                              const nn_weight *pos, float *x)
{
    embed_ctx a = {n_patch, d, n_patch + 1, 0, 0, patches, F(class_emb), F(pos), NULL, NULL, x};
    seize_pool_for(cpu(b)->pool, n, embed_patch_item, &a);
}

static void embed_token_item(void *ctx, size_t i, int thread)
{
    embed_ctx *a = ctx;
    size_t d = a->d;
    for (size_t t = 0; t < a->T; t++) {
        const float *e = a->tok_emb + (size_t)a->ids[i * a->ld_ids + t] * d;
        float *dst = a->x + (i * a->T + t) * d;
        if (!a->pos) {
            memcpy(dst, e, d * sizeof *dst);
            continue;
        }
        const float *pos = a->pos + (a->pos0 + t) * d;
        for (size_t j = 0; j < d; j++)
            dst[j] = e[j] + pos[j];
    }
}

static void cpu_embed_tokens(nn_backend *b, size_t n, size_t T, size_t d, const int32_t *ids,
                             size_t ld_ids, const nn_weight *tok_emb, const nn_weight *pos,
                             size_t pos0, float *x)
{
    embed_ctx a = {0, d, T, ld_ids, pos0, NULL, NULL, F(pos), F(tok_emb), ids, x};
    seize_pool_for(cpu(b)->pool, n, embed_token_item, &a);
}

static void cpu_gather_rows(nn_backend *b, size_t n, size_t d, const float *x, size_t ldx,
                            const size_t *rows, float *y)
{
    for (size_t i = 0; i < n; i++)
        memcpy(y + i * d, x + rows[i] * ldx, d * sizeof(float));
}

// --- the table
// ---------------------------------------------------------------------------------------

static void cpu_free(nn_backend *b)
{
    if (!b) return;
    cpu_backend *c = cpu(b);
    seize_pool_free(c->pool);
    for (int i = 0; c->gs && i < c->n_threads; i++)
        nn_gemm_scratch_free(c->gs[i]);
    free(c->gs);
    free(c->scratch);
    free(c);
}

static int cpu_status(nn_backend *b)
{
    cpu_backend *c = cpu(b);
    int rc = c->err;
    c->err = 0;
    return rc;
}

static const nn_backend_ops cpu_ops = {
    .name = "cpu",
    .free = cpu_free,
    .status = cpu_status,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .weight = cpu_weight_new,
    .weight_free = cpu_weight_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .copy_rows = cpu_copy_rows,
    .linear = cpu_linear,
    .layernorm = cpu_layernorm,
    .bias_act = cpu_bias_act,
    .add = cpu_add,
    .reserve = cpu_reserve,
    .attention = cpu_attention,
    .attend = cpu_attend_op,
    .patchify = cpu_patchify,
    .embed_patches = cpu_embed_patches,
    .embed_tokens = cpu_embed_tokens,
    .gather_rows = cpu_gather_rows,
};

int nn_backend_cpu_new(nn_backend_params p, nn_backend **out)
{
    *out = NULL;
    int n_threads = p.n_threads < 1 ? 1 : p.n_threads;
    cpu_backend *c = calloc(1, sizeof *c);
    if (!c) return seize_error(SEIZE_ENOMEM, "out of memory");
    c->base.ops = &cpu_ops;
    c->n_threads = n_threads;
    c->precision = p.precision;
    c->gemm_impl = p.gemm_portable ? NN_GEMM_PORTABLE : NN_GEMM_AUTO;
    int rc = seize_pool_new(n_threads, &c->pool);
    if (rc < 0) {
        free(c);
        return rc;
    }
    if (!(c->gs = calloc((size_t)n_threads, sizeof *c->gs))) rc = SEIZE_ENOMEM;
    for (int i = 0; rc == 0 && i < n_threads; i++)
        if (!(c->gs[i] = nn_gemm_scratch_new())) rc = SEIZE_ENOMEM;
    if (rc < 0) {
        cpu_free(&c->base);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    *out = &c->base;
    return 0;
}
