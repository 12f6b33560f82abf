// The matrix products of the CPU backend (src/nn/gemm.h): packing, dispatch, and the portable
// path (the fallback and the tests' oracle). The oneDNN part is in gemm_dnnl.c.
//
// Portable path:
//   fp32  cblas_sgemm on the plain float32 (n, k) copy;
//   bf16  w kept as bf16; blocks of 64 rows of w are widened to float32 in scratch and
//         multiplied (sgemm) with x rounded to bf16 and widened: a bf16·bf16 product is exact in
//         float32, so this is the bf16 product semantics with float32 accumulation;
//   int8  s8 weights + per-row scales; x quantised per row exactly as for oneDNN; int32 dot
//         products (AVX2 when the CPU has it, else plain C), then the shared epilogue.
// Both paths use the same rounding (round_bf16, quant_row) and the same epilogue, so int8 gives
// the same bits either way.
#include "gemm.h"

#include "seize/core.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct nn_gemm_w {
    size_t n, k;
    seize_precision p;
    void *plain;     // portable form, row-major (n, k): float, bf16 bits, or int8; NULL with dn
    float *sw;       // int8: the scale of each row of w (n)
    int32_t *corr;   // int8 through oneDNN: 128·Σ_k q_w[c][k], the u8 offset's share (n)
    nn_dnnl_w *dn;   // oneDNN's packed form, or NULL
    nn_bf16s_w *bs;  // the own small-m bf16 form (NN_GEMM_SMALL_M), or NULL; alone when set
    atomic_int fell; // oneDNN declined a product of this matrix at run time
};

// Per-thread working memory: buffers that only grow, and oneDNN's per-thread state.
enum {
    S_XQ,     // x rounded (bf16) or quantised (s8 / u8), (m, k)
    S_XF,     // x as dense floats: fp32 with ldx > k, or portable bf16's widened x (m, k)
    S_WF,     // portable bf16: a block of w widened (64, k)
    S_SX,     // int8: the scale of each row of x (m)
    S_ACC,    // oneDNN's dense output for a strided y (float), or int8's int32 (m, n1 - n0)
    S_WPLAIN, // a column range unpacked from oneDNN's layout (the run-time fallback)
    S_XP,     // the small-m kernel's interleaved x (nn_bf16s_xbytes)
    N_BUF
};

struct nn_gemm_scratch {
    void *buf[N_BUF];
    size_t cap[N_BUF]; // bytes
    nn_dnnl_tls *tls;
};

#define WBLOCK 64 // rows of w widened at a time by the portable bf16 path

// --- rounding, shared by both paths -------------------------------------------------------------

// float → bf16 bits, round to nearest even (NaN stays a quiet NaN).
static uint16_t round_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

// out[0..n) = round_bf16(x[0..n)); the AVX2 version gives the same bits (same NaN rule).
static void round_bf16_row_c(const float *x, size_t n, uint16_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = round_bf16(x[i]);
}

__attribute__((target("avx2"))) static void round_bf16_row_avx2(const float *x, size_t n,
                                                                uint16_t *out)
{
    const __m256i abs = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i half = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
    const __m256i quiet = _mm256_set1_epi32(0x40);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i r[2];
        for (int j = 0; j < 2; j++) {
            __m256i u = _mm256_loadu_si256((const __m256i *)(x + i + 8 * j));
            __m256i hi = _mm256_srli_epi32(u, 16);
            __m256i rounded = _mm256_srli_epi32(
                _mm256_add_epi32(u, _mm256_add_epi32(half, _mm256_and_si256(hi, one))), 16);
            __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs), inf);
            r[j] = _mm256_blendv_epi8(rounded, _mm256_or_si256(hi, quiet), nan);
        }
        // packus works within 128-bit lanes: r0[0..3] r1[0..3] r0[4..7] r1[4..7]
        __m256i p = _mm256_packus_epi32(r[0], r[1]);
        _mm256_storeu_si256((__m256i *)(out + i), _mm256_permute4x64_epi64(p, 0xd8));
    }
    round_bf16_row_c(x + i, n - i, out + i);
}

void nn_bf16_round(const float *x, size_t n, uint16_t *out)
{
    if (__builtin_cpu_supports("avx2"))
        round_bf16_row_avx2(x, n, out);
    else
        round_bf16_row_c(x, n, out);
}

static float bf16_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// Symmetric per-row quantisation: scale = max|x| / 127, q = x · (127 / max|x|) rounded to
// nearest even, in [-127, 127] (+ offset: 0 for s8, 128 for oneDNN's u8). A zero or non-finite
// maximum gives scale 0 (q = offset); a NaN element is ignored by the maximum and becomes 127.
// The AVX2 version below gives the same bytes (same multiply, rounding, clamps and NaN rules).
static float quant_row_c(const float *x, size_t k, int offset, uint8_t *q)
{
    float mx = 0.0f;
    for (size_t i = 0; i < k; i++)
        mx = fmaxf(mx, fabsf(x[i]));
    if (!(mx > 0.0f) || !isfinite(mx)) {
        memset(q, offset, k);
        return 0.0f;
    }
    float inv = 127.0f / mx;
    for (size_t i = 0; i < k; i++) {
        float v = fmaxf(fminf(nearbyintf(x[i] * inv), 127.0f), -127.0f);
        q[i] = (uint8_t)((int)v + offset);
    }
    return mx / 127.0f;
}

__attribute__((target("avx2"))) static float quant_row_avx2(const float *x, size_t k, int offset,
                                                            uint8_t *q)
{
    __m256 sign = _mm256_set1_ps(-0.0f), vmx = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= k; i += 8) // max_ps returns its second operand when one is NaN
        vmx = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), vmx);
    float t[8], mx = 0.0f;
    _mm256_storeu_ps(t, vmx);
    for (int j = 0; j < 8; j++)
        mx = fmaxf(mx, t[j]);
    for (; i < k; i++)
        mx = fmaxf(mx, fabsf(x[i]));
    if (!(mx > 0.0f) || !isfinite(mx)) {
        memset(q, offset, k);
        return 0.0f;
    }
    float inv = 127.0f / mx;
    __m256 vinv = _mm256_set1_ps(inv), hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
    __m256i off = _mm256_set1_epi32(offset), perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (i = 0; i + 32 <= k; i += 32) {
        __m256i v[4];
        for (int j = 0; j < 4; j++) {
            __m256 f = _mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * j), vinv);
            f = _mm256_round_ps(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            f = _mm256_max_ps(_mm256_min_ps(f, hi), lo); // NaN → 127, as fminf/fmaxf
            v[j] = _mm256_add_epi32(_mm256_cvtps_epi32(f), off);
        }
        __m256i p01 = _mm256_packs_epi32(v[0], v[1]), p23 = _mm256_packs_epi32(v[2], v[3]);
        __m256i p = offset ? _mm256_packus_epi16(p01, p23) : _mm256_packs_epi16(p01, p23);
        _mm256_storeu_si256((__m256i *)(q + i), _mm256_permutevar8x32_epi32(p, perm));
    }
    for (; i < k; i++) {
        float v = fmaxf(fminf(nearbyintf(x[i] * inv), 127.0f), -127.0f);
        q[i] = (uint8_t)((int)v + offset);
    }
    return mx / 127.0f;
}

static float quant_row(const float *x, size_t k, int offset, uint8_t *q)
{
    return __builtin_cpu_supports("avx2") ? quant_row_avx2(x, k, offset, q)
                                          : quant_row_c(x, k, offset, q);
}

// y[r][c] = beta·y + acc·sx[r]·sw[c] (+ bias[c]), acc less corr[c] when corr is given, for
// columns [c0, nc) of every row (the C version and the tail of the AVX2 one: same operations).
static void int8_epilogue_c(size_t m, size_t c0, size_t nc, const int32_t *acc, const int32_t *corr,
                            const float *sx, const float *sw, const float *bias, float beta,
                            float *y, size_t ldy)
{
    for (size_t r = 0; r < m; r++) {
        const int32_t *a = acc + r * nc;
        float *yr = y + r * ldy;
        for (size_t c = c0; c < nc; c++) {
            float v = (float)(a[c] - (corr ? corr[c] : 0)) * sx[r] * sw[c];
            if (bias) v += bias[c];
            if (beta != 0.0f) v += yr[c];
            yr[c] = v;
        }
    }
}

__attribute__((target("avx2"))) static void
int8_epilogue_avx2(size_t m, size_t nc, const int32_t *acc, const int32_t *corr, const float *sx,
                   const float *sw, const float *bias, float beta, float *y, size_t ldy)
{
    size_t n8 = nc / 8 * 8;
    for (size_t r = 0; r < m; r++) {
        const int32_t *a = acc + r * nc;
        float *yr = y + r * ldy;
        __m256 vsx = _mm256_set1_ps(sx[r]);
        for (size_t c = 0; c < n8; c += 8) {
            __m256i ai = _mm256_loadu_si256((const __m256i *)(a + c));
            if (corr) ai = _mm256_sub_epi32(ai, _mm256_loadu_si256((const __m256i *)(corr + c)));
            __m256 v =
                _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(ai), vsx), _mm256_loadu_ps(sw + c));
            if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + c));
            if (beta != 0.0f) v = _mm256_add_ps(v, _mm256_loadu_ps(yr + c));
            _mm256_storeu_ps(yr + c, v);
        }
    }
    int8_epilogue_c(m, n8, nc, acc, corr, sx, sw, bias, beta, y, ldy);
}

static void int8_epilogue(size_t m, size_t nc, const int32_t *acc, const int32_t *corr,
                          const float *sx, const float *sw, const float *bias, float beta, float *y,
                          size_t ldy)
{
    if (__builtin_cpu_supports("avx2"))
        int8_epilogue_avx2(m, nc, acc, corr, sx, sw, bias, beta, y, ldy);
    else
        int8_epilogue_c(m, 0, nc, acc, corr, sx, sw, bias, beta, y, ldy);
}

// --- packing ------------------------------------------------------------------------------------

// Row i of w as floats (widening F16/BF16 exactly).
static void row_float(const void *w, seize_st_dtype src, size_t k, size_t i, float *out)
{
    if (src == SEIZE_ST_F32) {
        memcpy(out, (const float *)w + i * k, k * sizeof *out);
        return;
    }
    const uint16_t *h = (const uint16_t *)w + i * k;
    for (size_t j = 0; j < k; j++)
        out[j] = src == SEIZE_ST_F16 ? seize_f16_to_f32(h[j]) : bf16_float(h[j]);
}

// The portable form of w for precision p (and, for int8, the row scales).
static int pack_plain(nn_gemm_w *g, const void *w, seize_st_dtype src)
{
    size_t n = g->n, k = g->k,
           es = g->p == SEIZE_PRECISION_FP32   ? 4
                : g->p == SEIZE_PRECISION_BF16 ? 2
                                               : 1;
    size_t bytes;
    if (seize_mul_size(n * k, es, &bytes)) return SEIZE_ENOMEM;
    float *row = malloc(k * sizeof *row);
    g->plain = seize_alloc_aligned(bytes, 1);
    if (g->p == SEIZE_PRECISION_INT8) g->sw = malloc(n * sizeof *g->sw);
    if (!row || !g->plain || (g->p == SEIZE_PRECISION_INT8 && !g->sw)) {
        free(row);
        return seize_error(SEIZE_ENOMEM, "out of memory (%zu bytes of weights)", bytes);
    }
    for (size_t i = 0; i < n; i++) {
        if (g->p == SEIZE_PRECISION_BF16 && src == SEIZE_ST_BF16) {
            memcpy((uint16_t *)g->plain + i * k, (const uint16_t *)w + i * k, k * 2);
            continue;
        }
        row_float(w, src, k, i, row);
        if (g->p == SEIZE_PRECISION_FP32) {
            memcpy((float *)g->plain + i * k, row, k * sizeof *row);
        } else if (g->p == SEIZE_PRECISION_BF16) {
            uint16_t *o = (uint16_t *)g->plain + i * k;
            for (size_t j = 0; j < k; j++)
                o[j] = round_bf16(row[j]);
        } else {
            g->sw[i] = quant_row(row, k, 0, (uint8_t *)g->plain + i * k);
        }
    }
    free(row);
    return 0;
}

// Moves w into oneDNN's layout when it takes it (then the portable form is dropped).
static int pack_dnnl(nn_gemm_w *g)
{
    nn_dnnl_kind kind = g->p == SEIZE_PRECISION_FP32   ? NN_DNNL_F32
                        : g->p == SEIZE_PRECISION_BF16 ? NN_DNNL_BF16
                                                       : NN_DNNL_U8S8;
    if (kind == NN_DNNL_U8S8) {
        g->corr = malloc(g->n * sizeof *g->corr);
        if (!g->corr) return seize_error(SEIZE_ENOMEM, "out of memory (int8 weights)");
        const int8_t *q = g->plain;
        for (size_t i = 0; i < g->n; i++) {
            int32_t s = 0;
            for (size_t j = 0; j < g->k; j++)
                s += q[i * g->k + j];
            g->corr[i] = 128 * s;
        }
    }
    int rc = nn_dnnl_pack(g->plain, kind, g->n, g->k, &g->dn);
    if (rc < 0) return rc;
    if (rc == 0) {
        free(g->plain);
        g->plain = NULL;
    } else {
        free(g->corr);
        g->corr = NULL;
    }
    return 0;
}

// The own small-m form (from bf16 bits directly, else through the portable form), never also
// oneDNN's: a decoder's weights are too large to hold twice.
static int pack_small(nn_gemm_w *g, const void *w, seize_st_dtype src, nn_gemm_w **out)
{
    int rc = src == SEIZE_ST_BF16 ? 0 : pack_plain(g, w, src);
    if (!rc) rc = nn_bf16s_pack(src == SEIZE_ST_BF16 ? w : g->plain, g->n, g->k, &g->bs);
    free(g->plain);
    g->plain = NULL;
    if (rc) {
        nn_gemm_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

int nn_gemm_pack(const void *w, seize_st_dtype src, size_t n, size_t k, seize_precision p,
                 nn_gemm_impl impl, nn_gemm_w **out)
{
    *out = NULL;
    if (src != SEIZE_ST_F32 && src != SEIZE_ST_F16 && src != SEIZE_ST_BF16)
        return seize_error(SEIZE_EINVAL, "cannot pack a %s matrix (F32, F16 or BF16 only)",
                           seize_st_dtype_name(src));
    if (p != SEIZE_PRECISION_FP32 && p != SEIZE_PRECISION_BF16 && p != SEIZE_PRECISION_INT8)
        return seize_error(SEIZE_EINVAL, "unknown precision %d", (int)p);
    if (!w || !n || !k) return seize_error(SEIZE_EINVAL, "cannot pack an empty matrix");
    size_t nk;
    if (seize_mul_size(n, k, &nk) || seize_mul_size(nk, 4, &nk))
        return seize_error(SEIZE_ENOMEM, "matrix too large (%zu x %zu)", n, k);
    // int32 accumulators of k products of at most 255·127 (oneDNN's u8) must not overflow
    if (p == SEIZE_PRECISION_INT8 && k > 65536)
        return seize_error(SEIZE_EINVAL, "int8 products need k <= 65536 (got %zu)", k);
    nn_gemm_w *g = calloc(1, sizeof *g);
    if (!g) return seize_error(SEIZE_ENOMEM, "out of memory (packed weights)");
    g->n = n, g->k = k, g->p = p;
    if (impl == NN_GEMM_SMALL_M) {
        if (p == SEIZE_PRECISION_BF16 && nn_bf16s_supported()) return pack_small(g, w, src, out);
        impl = NN_GEMM_AUTO;
    }
    // A source already in the portable form (F32 for fp32, BF16 for bf16) goes to oneDNN's
    // layout directly: no intermediate copy (its page faults were half of an fp32 pack).
    int direct = impl == NN_GEMM_AUTO && ((p == SEIZE_PRECISION_FP32 && src == SEIZE_ST_F32) ||
                                          (p == SEIZE_PRECISION_BF16 && src == SEIZE_ST_BF16));
    int rc = direct ? nn_dnnl_pack(w, p == SEIZE_PRECISION_FP32 ? NN_DNNL_F32 : NN_DNNL_BF16, n, k,
                                   &g->dn)
                    : 1;
    if (rc == 1) {
        rc = pack_plain(g, w, src);
        if (!rc && impl == NN_GEMM_AUTO && !direct) rc = pack_dnnl(g);
    }
    if (rc) {
        nn_gemm_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

void nn_gemm_free(nn_gemm_w *w)
{
    if (!w) return;
    nn_dnnl_free(w->dn);
    nn_bf16s_free(w->bs);
    free(w->plain);
    free(w->sw);
    free(w->corr);
    free(w);
}

size_t nn_gemm_rows(const nn_gemm_w *w)
{
    return w->n;
}

size_t nn_gemm_cols(const nn_gemm_w *w)
{
    return w->k;
}

size_t nn_gemm_bytes(const nn_gemm_w *w)
{
    size_t es = w->p == SEIZE_PRECISION_FP32 ? 4 : w->p == SEIZE_PRECISION_BF16 ? 2 : 1;
    size_t b = w->bs ? nn_bf16s_bytes(w->bs) : w->dn ? nn_dnnl_bytes(w->dn) : w->n * w->k * es;
    if (w->sw) b += w->n * sizeof *w->sw;
    if (w->corr) b += w->n * sizeof *w->corr;
    return b;
}

size_t nn_gemm_col_align(const nn_gemm_w *w)
{
    return w->bs ? nn_bf16s_col_align() : w->dn ? nn_dnnl_col_align(w->dn) : 1;
}

const char *nn_gemm_describe(const nn_gemm_w *w)
{
    if (w->bs) return "own AVX512_BF16 small-m kernel";
    if (w->dn && !atomic_load(&w->fell)) return nn_dnnl_describe();
    if (w->dn) return "oneDNN, portable for shapes it declined (OpenBLAS sgemm / AVX2 / C)";
    if (w->p == SEIZE_PRECISION_FP32) return "portable (OpenBLAS sgemm)";
    if (w->p == SEIZE_PRECISION_BF16) return "portable (bf16 widened, OpenBLAS sgemm)";
    return __builtin_cpu_supports("avx2") ? "portable (int8, AVX2)" : "portable (int8, C)";
}

// --- scratch ------------------------------------------------------------------------------------

nn_gemm_scratch *nn_gemm_scratch_new(void)
{
    nn_gemm_scratch *s = calloc(1, sizeof *s);
    if (!s) seize_error(SEIZE_ENOMEM, "out of memory (GEMM scratch)");
    return s;
}

void nn_gemm_scratch_free(nn_gemm_scratch *s)
{
    if (!s) return;
    for (int i = 0; i < N_BUF; i++)
        free(s->buf[i]);
    nn_dnnl_tls_free(s->tls);
    free(s);
}

// Buffer i of s with room for a·b bytes (contents not kept). NULL when out of memory.
static void *grow(nn_gemm_scratch *s, int i, size_t a, size_t b)
{
    size_t need;
    if (seize_mul_size(a, b, &need)) {
        seize_error(SEIZE_ENOMEM, "GEMM scratch too large");
        return NULL;
    }
    if (need <= s->cap[i] && s->buf[i]) return s->buf[i];
    void *p = seize_alloc_aligned(need ? need : 64, 1);
    if (!p) {
        seize_error(SEIZE_ENOMEM, "out of memory (%zu bytes of GEMM scratch)", need);
        return NULL;
    }
    free(s->buf[i]);
    s->buf[i] = p;
    s->cap[i] = need;
    return p;
}

// --- portable products --------------------------------------------------------------------------

// y[:, 0..nc) = beta·y (+ bias) before an sgemm with beta 1; returns that sgemm's beta.
static float y_prepare(size_t m, size_t nc, const float *bias, float beta, float *y, size_t ldy)
{
    if (!bias) return beta;
    for (size_t r = 0; r < m; r++)
        for (size_t c = 0; c < nc; c++)
            y[r * ldy + c] = beta != 0.0f ? y[r * ldy + c] + bias[c] : bias[c];
    return 1.0f;
}

static void fp32_portable(const float *w, size_t k, size_t m, size_t nc, const float *x, size_t ldx,
                          const float *bias, float beta, float *y, size_t ldy)
{
    float b = y_prepare(m, nc, bias, beta, y, ldy);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nc, (int)k, 1.0f, x, (int)ldx,
                w, (int)k, b, y, (int)ldy);
}

// xb: x rounded to bf16 and widened, (m, k) contiguous.
static int bf16_portable(const uint16_t *w, size_t k, size_t m, size_t nc, const float *xb,
                         const float *bias, float beta, float *y, size_t ldy, nn_gemm_scratch *s)
{
    float *wf = grow(s, S_WF, WBLOCK * sizeof(float), k);
    if (!wf) return SEIZE_ENOMEM;
    float b = y_prepare(m, nc, bias, beta, y, ldy);
    for (size_t c0 = 0; c0 < nc; c0 += WBLOCK) {
        size_t nb = nc - c0 < WBLOCK ? nc - c0 : WBLOCK;
        for (size_t i = 0; i < nb * k; i++)
            wf[i] = bf16_float(w[c0 * k + i]);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nb, (int)k, 1.0f, xb,
                    (int)k, wf, (int)k, b, y + c0, (int)ldy);
    }
    return 0;
}

static int32_t dot_s8_c(const int8_t *a, const int8_t *b, size_t k)
{
    int32_t s = 0;
    for (size_t i = 0; i < k; i++)
        s += (int32_t)a[i] * b[i];
    return s;
}

// Exact: s8·s8 products fit int16 and vpmaddwd sums pairs into int32 without saturation.
__attribute__((target("avx2"))) static int32_t dot_s8_avx2(const int8_t *a, const int8_t *b,
                                                           size_t k)
{
    __m256i acc = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 16 <= k; i += 16) {
        __m256i va = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i vb = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(va, vb));
    }
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return _mm_cvtsi128_si32(h) + dot_s8_c(a + i, b + i, k - i);
}

__attribute__((target("avx2"))) static int32_t hsum_epi32(__m256i v)
{
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return _mm_cvtsi128_si32(h);
}

// The 2 × 4 tile acc[r0..r0+1][c0..c0+3] (row stride nc): each 16-value step of k loads two
// rows of x and four of w once and feeds 8 exact vpmaddwd (s8·s8 fit int16, pairs fit int32).
__attribute__((target("avx2"))) static void tile_2x4(const int8_t *x, const int8_t *w, size_t k,
                                                     int32_t *acc, size_t nc)
{
    __m256i s[2][4];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            s[i][j] = _mm256_setzero_si256();
    size_t e = 0;
    for (; e + 16 <= k; e += 16) {
        __m256i a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + e)));
        __m256i a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + k + e)));
        for (int j = 0; j < 4; j++) {
            __m256i b = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + j * k + e)));
            s[0][j] = _mm256_add_epi32(s[0][j], _mm256_madd_epi16(a0, b));
            s[1][j] = _mm256_add_epi32(s[1][j], _mm256_madd_epi16(a1, b));
        }
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            acc[(size_t)i * nc + (size_t)j] =
                hsum_epi32(s[i][j]) + dot_s8_c(x + (size_t)i * k + e, w + (size_t)j * k + e, k - e);
}

// acc (m, nc) = xq (m, k) · wq (nc, k)ᵀ in int32, exactly. With AVX2: blocks of 64 columns of
// w (kept in cache) against pairs of rows of x, in 2 × 4 tiles; the edges one dot at a time.
__attribute__((target("avx2"))) static void
int8_portable_avx2(const int8_t *wq, size_t k, size_t m, size_t nc, const int8_t *xq, int32_t *acc)
{
    for (size_t c0 = 0; c0 < nc; c0 += 64) {
        size_t c1 = c0 + 64 < nc ? c0 + 64 : nc, c4 = c0 + (c1 - c0) / 4 * 4;
        size_t r = 0;
        for (; r + 2 <= m; r += 2) {
            for (size_t c = c0; c < c4; c += 4)
                tile_2x4(xq + r * k, wq + c * k, k, acc + r * nc + c, nc);
            for (size_t c = c4; c < c1; c++)
                for (size_t i = r; i < r + 2; i++)
                    acc[i * nc + c] = dot_s8_avx2(xq + i * k, wq + c * k, k);
        }
        for (; r < m; r++)
            for (size_t c = c0; c < c1; c++)
                acc[r * nc + c] = dot_s8_avx2(xq + r * k, wq + c * k, k);
    }
}

static void int8_portable(const int8_t *wq, size_t k, size_t m, size_t nc, const int8_t *xq,
                          int32_t *acc)
{
    if (__builtin_cpu_supports("avx2")) {
        int8_portable_avx2(wq, k, m, nc, xq, acc);
        return;
    }
    for (size_t r = 0; r < m; r++)
        for (size_t c = 0; c < nc; c++)
            acc[r * nc + c] = dot_s8_c(xq + r * k, wq + c * k, k);
}

// --- running ------------------------------------------------------------------------------------

// The portable form of columns [n0, n1): a pointer into w, or oneDNN's unpacked into scratch.
static int plain_cols(const nn_gemm_w *w, size_t n0, size_t n1, size_t es, nn_gemm_scratch *s,
                      const void **out)
{
    if (w->plain) {
        *out = (const char *)w->plain + n0 * w->k * es;
        return 0;
    }
    void *p = grow(s, S_WPLAIN, (n1 - n0) * es, w->k);
    if (!p) return SEIZE_ENOMEM;
    if (nn_dnnl_unpack(w->dn, n0, n1, p))
        return seize_error(SEIZE_EINVAL, "cannot unpack oneDNN's weights (%zu x %zu)", n1 - n0,
                           w->k);
    atomic_store((atomic_int *)&w->fell, 1);
    *out = p;
    return 0;
}

// y[:, c0..nc) = beta·y + t (+ bias), t dense (m, nc).
static void add_epilogue_c(size_t m, size_t c0, size_t nc, const float *t, const float *bias,
                           float beta, float *y, size_t ldy)
{
    for (size_t r = 0; r < m; r++)
        for (size_t c = c0; c < nc; c++) {
            float v = t[r * nc + c];
            if (bias) v += bias[c];
            if (beta != 0.0f) v += y[r * ldy + c];
            y[r * ldy + c] = v;
        }
}

__attribute__((target("avx2"))) static void add_epilogue_avx2(size_t m, size_t nc, const float *t,
                                                              const float *bias, float beta,
                                                              float *y, size_t ldy)
{
    size_t n8 = nc / 8 * 8;
    for (size_t r = 0; r < m; r++)
        for (size_t c = 0; c < n8; c += 8) {
            __m256 v = _mm256_loadu_ps(t + r * nc + c);
            if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + c));
            if (beta != 0.0f) v = _mm256_add_ps(v, _mm256_loadu_ps(y + r * ldy + c));
            _mm256_storeu_ps(y + r * ldy + c, v);
        }
    add_epilogue_c(m, n8, nc, t, bias, beta, y, ldy);
}

static void add_epilogue(size_t m, size_t nc, const float *t, const float *bias, float beta,
                         float *y, size_t ldy)
{
    if (__builtin_cpu_supports("avx2"))
        add_epilogue_avx2(m, nc, t, bias, beta, y, ldy);
    else
        add_epilogue_c(m, 0, nc, t, bias, beta, y, ldy);
}

// oneDNN for fp32/bf16, x dense (m, k). oneDNN 2.6's fast kernels (brgemm) take dense
// matrices only, so a strided y (a column slice, or ldy > n) gets the product in scratch and
// our own epilogue; a dense y gets bias and beta fused (bias argument, sum post-op).
// 0, 1 when oneDNN declines, or <0.
static int dnnl_float(const nn_gemm_w *w, size_t m, size_t n0, size_t n1, const void *xd,
                      const float *bias, float beta, float *y, size_t ldy, nn_gemm_scratch *s)
{
    size_t nc = n1 - n0;
    if (ldy == nc) return nn_dnnl_run(w->dn, &s->tls, m, n0, n1, xd, w->k, bias, beta, y, ldy);
    float *t = grow(s, S_ACC, m * nc, sizeof(float));
    if (!t) return SEIZE_ENOMEM;
    int rc = nn_dnnl_run(w->dn, &s->tls, m, n0, n1, xd, w->k, NULL, 0.0f, t, nc);
    if (rc == 0) add_epilogue(m, nc, t, bias, beta, y, ldy);
    return rc;
}

static int run_fp32(const nn_gemm_w *w, size_t m, size_t n0, size_t n1, const float *x, size_t ldx,
                    const float *bias, float beta, float *y, size_t ldy, nn_gemm_scratch *s)
{
    size_t k = w->k;
    if (w->dn) {
        const float *xd = x;
        if (ldx != k) { // dense copy (see dnnl_float)
            float *xf = grow(s, S_XF, m * sizeof(float), k);
            if (!xf) return SEIZE_ENOMEM;
            for (size_t r = 0; r < m; r++)
                memcpy(xf + r * k, x + r * ldx, k * sizeof *xf);
            xd = xf;
        }
        int rc = dnnl_float(w, m, n0, n1, xd, bias, beta, y, ldy, s);
        if (rc <= 0) return rc;
    }
    const void *wp;
    int rc = plain_cols(w, n0, n1, 4, s, &wp);
    if (rc) return rc;
    fp32_portable(wp, k, m, n1 - n0, x, ldx, bias, beta, y, ldy);
    return 0;
}

static int run_bf16(const nn_gemm_w *w, size_t m, size_t n0, size_t n1, const float *x, size_t ldx,
                    const float *bias, float beta, float *y, size_t ldy, nn_gemm_scratch *s)
{
    size_t k = w->k;
    uint16_t *xb = grow(s, S_XQ, m * 2, k);
    if (!xb) return SEIZE_ENOMEM;
    for (size_t r = 0; r < m; r++)
        nn_bf16_round(x + r * ldx, k, xb + r * k);
    if (w->bs) {
        void *xs = grow(s, S_XP, nn_bf16s_xbytes(m, k), 1);
        if (!xs) return SEIZE_ENOMEM;
        nn_bf16s_run(w->bs, m, n0, n1, xb, bias, beta, y, ldy, xs);
        return 0;
    }
    if (w->dn) {
        int rc = dnnl_float(w, m, n0, n1, xb, bias, beta, y, ldy, s);
        if (rc <= 0) return rc;
    }
    float *xf = grow(s, S_XF, m * sizeof(float), k);
    if (!xf) return SEIZE_ENOMEM;
    const void *wp;
    int rc = plain_cols(w, n0, n1, 2, s, &wp);
    if (rc) return rc;
    for (size_t i = 0; i < m * k; i++)
        xf[i] = bf16_float(xb[i]);
    return bf16_portable(wp, k, m, n1 - n0, xf, bias, beta, y, ldy, s);
}

static int run_int8(const nn_gemm_w *w, size_t m, size_t n0, size_t n1, const float *x, size_t ldx,
                    const float *bias, float beta, float *y, size_t ldy, nn_gemm_scratch *s)
{
    size_t k = w->k, nc = n1 - n0;
    uint8_t *xq = grow(s, S_XQ, m, k);
    float *sx = xq ? grow(s, S_SX, m, sizeof(float)) : NULL;
    int32_t *acc = sx ? grow(s, S_ACC, m * nc, sizeof(int32_t)) : NULL;
    if (!acc) return SEIZE_ENOMEM;
    int off = w->dn ? 128 : 0;
    for (size_t r = 0; r < m; r++)
        sx[r] = quant_row(x + r * ldx, k, off, xq + r * k);
    const int32_t *corr = NULL;
    int rc = 1;
    if (w->dn) rc = nn_dnnl_run(w->dn, &s->tls, m, n0, n1, xq, k, NULL, 0.0f, acc, nc);
    if (rc < 0) return rc;
    if (rc == 0) {
        corr = w->corr + n0;
    } else {
        const void *wp;
        if ((rc = plain_cols(w, n0, n1, 1, s, &wp))) return rc;
        if (off)
            for (size_t i = 0; i < m * k; i++)
                xq[i] = (uint8_t)(xq[i] - 128);
        int8_portable(wp, k, m, nc, (const int8_t *)xq, acc);
    }
    int8_epilogue(m, nc, acc, corr, sx, w->sw + n0, bias, beta, y, ldy);
    return 0;
}

int nn_gemm_run(const nn_gemm_w *w, size_t m, size_t n0, size_t n1, const float *x, size_t ldx,
                const float *bias, float beta, float *y, size_t ldy, nn_gemm_scratch *s)
{
    size_t a = nn_gemm_col_align(w);
    SEIZE_ASSERT(n0 <= n1 && n1 <= w->n && n0 % a == 0 && (n1 % a == 0 || n1 == w->n));
    SEIZE_ASSERT(ldx >= w->k && ldy >= n1 && (beta == 0.0f || beta == 1.0f));
    if (!m || n0 == n1) return 0;
    y += n0;
    if (bias) bias += n0;
    switch (w->p) {
    case SEIZE_PRECISION_FP32:
        return run_fp32(w, m, n0, n1, x, ldx, bias, beta, y, ldy, s);
    case SEIZE_PRECISION_BF16:
        return run_bf16(w, m, n0, n1, x, ldx, bias, beta, y, ldy, s);
    default:
        return run_int8(w, m, n0, n1, x, ldx, bias, beta, y, ldy, s);
    }
}
