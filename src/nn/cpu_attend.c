// The CPU kernel of `attend` (cpu_attend.h): general multi-head attention with separate,
// strided queries, keys and values, shared or per-sequence keys, and a causal offset — the
// cross-attention of an encoder-decoder and the decoder steps over a KV cache.
//
// One work item is one (sequence, head). A single query (a decoder step) reads its keys and
// values in place, once each. Otherwise the keys and values are first copied into padded,
// contiguous scratch (rows of d_head rounded up to 16): the source rows are often far apart (a
// KV cache row of 4096 floats, a fused qkv row of 3·d) and, with power-of-two strides, would
// fall into a few cache sets if read in place for every block of queries. Then queries go by
// blocks of QB rows: Q block (scaled) → scores S = Q·Kᵀ (4 × 2 dot-product blocks) → softmax
// per row → out = P·V (4 × 16 register blocks). With a causal offset a group of 4 query rows
// needs only the keys its last row sees; the later keys are neither scored nor summed.
#include "cpu_attend.h"

#include "backend.h"

#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define HAVE_AVX2 1
#endif

#define QB 64      // query rows per block (a multiple of 4)
#define PREFETCH 8 // rows ahead when packing keys and values

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

static size_t round4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

// Query rows in a block of a query set of Tq rows.
static size_t block_rows(size_t Tq)
{
    return Tq < QB ? round4(Tq) : QB;
}

size_t nn_cpu_attend_scratch(size_t Tq, size_t Tk, size_t d_head)
{
    size_t dhp = round16(d_head), Tkp = round16(Tk), qb = block_rows(Tq);
    // K and V (Tkp, dhp); Q block (qb, dhp); scores (qb, Tkp); output block (qb, dhp)
    return 2 * Tkp * dhp + qb * (2 * dhp + Tkp);
}

// --- small kernels -------------------------------------------------------------------------------

// dst[0..n) = src[0..n)·scale, dst[n..npad) = 0.
static void copy_scaled(float *restrict dst, const float *restrict src, size_t n, float scale,
                        size_t npad)
{
    size_t e = 0;
#ifdef HAVE_AVX2
    __m256 sc = _mm256_set1_ps(scale);
    for (; e + 8 <= n; e += 8)
        _mm256_storeu_ps(dst + e, _mm256_mul_ps(_mm256_loadu_ps(src + e), sc));
#endif
    for (; e < n; e++)
        dst[e] = src[e] * scale;
    for (; e < npad; e++)
        dst[e] = 0.0f;
}

// Asks for the cache lines of row j + PREFETCH (of n floats, stride ld) of rows when it is one
// of the nk to be read: rows far apart (a KV cache's) each lie on another page, where the
// hardware prefetchers stop.
static void prefetch_ahead(const float *rows, size_t ld, size_t j, size_t nk, size_t n)
{
#ifdef HAVE_AVX2
    if (j + PREFETCH < nk)
        for (size_t e = 0; e < n; e += 16)
            _mm_prefetch((const char *)(rows + (j + PREFETCH) * ld + e), _MM_HINT_T0);
#else
    (void)rows, (void)ld, (void)j, (void)nk, (void)n;
#endif
}

// S rows i..i+3 (stride lds), columns [0, nk2) = Q rows i..i+3 · K rows [0, nk2)ᵀ, rows of dhp
// (a multiple of 16) floats, nk2 even; the four Q rows and nk2 K rows must be readable.
static void scores4(size_t dhp, const float *Q, const float *K, size_t nk2, float *S, size_t lds)
{
    for (size_t j = 0; j < nk2; j += 2) {
        const float *q0 = Q, *k0 = K + j * dhp;
#ifdef HAVE_AVX2
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
               a7 = a0;
        const float *q1 = q0 + dhp, *q2 = q1 + dhp, *q3 = q2 + dhp, *k1 = k0 + dhp;
        for (size_t e = 0; e < dhp; e += 8) {
            __m256 ka = _mm256_loadu_ps(k0 + e), kb = _mm256_loadu_ps(k1 + e), qv;
            qv = _mm256_loadu_ps(q0 + e);
            a0 = _mm256_fmadd_ps(qv, ka, a0);
            a1 = _mm256_fmadd_ps(qv, kb, a1);
            qv = _mm256_loadu_ps(q1 + e);
            a2 = _mm256_fmadd_ps(qv, ka, a2);
            a3 = _mm256_fmadd_ps(qv, kb, a3);
            qv = _mm256_loadu_ps(q2 + e);
            a4 = _mm256_fmadd_ps(qv, ka, a4);
            a5 = _mm256_fmadd_ps(qv, kb, a5);
            qv = _mm256_loadu_ps(q3 + e);
            a6 = _mm256_fmadd_ps(qv, ka, a6);
            a7 = _mm256_fmadd_ps(qv, kb, a7);
        }
        // eight horizontal sums at once: [r0c0 r0c1 r1c0 r1c1 r2c0 r2c1 r3c0 r3c1]
        __m256 t0 = _mm256_hadd_ps(a0, a1), t1 = _mm256_hadd_ps(a2, a3);
        __m256 t2 = _mm256_hadd_ps(a4, a5), t3 = _mm256_hadd_ps(a6, a7);
        __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
        __m256 sum = _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                                   _mm256_permute2f128_ps(u0, u1, 0x31));
        float o[8];
        _mm256_storeu_ps(o, sum);
#else
        float o[8];
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 2; c++) {
                float acc = 0;
                for (size_t e = 0; e < dhp; e++)
                    acc += q0[r * dhp + e] * k0[c * dhp + e];
                o[2 * r + c] = acc;
            }
#endif
        for (int r = 0; r < 4; r++) {
            S[r * lds + j] = o[2 * r];
            S[r * lds + j + 1] = o[2 * r + 1];
        }
    }
}

// Largest of n ≥ 1 floats.
static float row_max(const float *x, size_t n)
{
    size_t j = 0;
    float mx = x[0];
#ifdef HAVE_AVX2
    if (n >= 8) {
        __m256 m8 = _mm256_loadu_ps(x);
        for (j = 8; j + 8 <= n; j += 8)
            m8 = _mm256_max_ps(m8, _mm256_loadu_ps(x + j));
        float t[8];
        _mm256_storeu_ps(t, m8);
        for (int k = 0; k < 8; k++)
            mx = t[k] > mx ? t[k] : mx;
    }
#endif
    for (; j < n; j++)
        mx = x[j] > mx ? x[j] : mx;
    return mx;
}

// x[0..n) += a (vectorised by hand: gcc -O2 leaves such loops scalar).
static void row_add(float *x, size_t n, float a)
{
    size_t j = 0;
#ifdef HAVE_AVX2
    __m256 a8 = _mm256_set1_ps(a);
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(x + j, _mm256_add_ps(_mm256_loadu_ps(x + j), a8));
#endif
    for (; j < n; j++)
        x[j] += a;
}

// Σ x[0..n), then x[0..n) *= 1/Σ.
static void row_normalise(float *x, size_t n)
{
    size_t j = 0;
    float sum = 0;
#ifdef HAVE_AVX2
    __m256 s8 = _mm256_setzero_ps();
    for (; j + 8 <= n; j += 8)
        s8 = _mm256_add_ps(s8, _mm256_loadu_ps(x + j));
    float t[8];
    _mm256_storeu_ps(t, s8);
    for (int k = 0; k < 8; k++)
        sum += t[k];
#endif
    for (; j < n; j++)
        sum += x[j];
    float inv = 1.0f / sum;
    j = 0;
#ifdef HAVE_AVX2
    __m256 i8 = _mm256_set1_ps(inv);
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), i8));
#endif
    for (; j < n; j++)
        x[j] *= inv;
}

// row[0..n) = softmax(row[0..n)) in float32 with the maximum subtracted; row[n..npad) = 0.
static void softmax_row(float *row, size_t n, size_t npad)
{
    row_add(row, n, -row_max(row, n));
    nn_cpu_exp(row, n);
    row_normalise(row, n);
    if (npad > n) memset(row + n, 0, (npad - n) * sizeof *row);
}

// O rows 0..r-1 (r ≤ 4, stride dhp) = P rows 0..r-1 (stride ldp, kk terms) · V (kk, dhp).
static void pv4(size_t r, size_t kk, const float *P, size_t ldp, const float *V, size_t dhp,
                float *O)
{
    for (size_t j = 0; j < dhp; j += 16) {
#ifdef HAVE_AVX2
        // rows past r repeat row 0 (their results are not stored)
        const float *a0 = P, *a1 = r > 1 ? P + ldp : P, *a2 = r > 2 ? P + 2 * ldp : P,
                    *a3 = r > 3 ? P + 3 * ldp : P;
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
               c30 = c00, c31 = c00;
        const float *bp = V + j;
        for (size_t e = 0; e < kk; e++, bp += dhp) {
            __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8), av;
            av = _mm256_broadcast_ss(a0 + e);
            c00 = _mm256_fmadd_ps(av, b0, c00);
            c01 = _mm256_fmadd_ps(av, b1, c01);
            av = _mm256_broadcast_ss(a1 + e);
            c10 = _mm256_fmadd_ps(av, b0, c10);
            c11 = _mm256_fmadd_ps(av, b1, c11);
            av = _mm256_broadcast_ss(a2 + e);
            c20 = _mm256_fmadd_ps(av, b0, c20);
            c21 = _mm256_fmadd_ps(av, b1, c21);
            av = _mm256_broadcast_ss(a3 + e);
            c30 = _mm256_fmadd_ps(av, b0, c30);
            c31 = _mm256_fmadd_ps(av, b1, c31);
        }
        __m256 c[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
        for (size_t q = 0; q < r; q++) {
            _mm256_storeu_ps(O + q * dhp + j, c[q][0]);
            _mm256_storeu_ps(O + q * dhp + j + 8, c[q][1]);
        }
#else
        for (size_t q = 0; q < r; q++) {
            float acc[16] = {0};
            for (size_t e = 0; e < kk; e++) {
                float av = P[q * ldp + e];
                for (int t = 0; t < 16; t++)
                    acc[t] += av * V[e * dhp + j + t];
            }
            memcpy(O + q * dhp + j, acc, sizeof acc);
        }
#endif
    }
}

// --- the op --------------------------------------------------------------------------------------

typedef struct attend_ctx {
    float *scratch;
    size_t per_thread;
    size_t Tq, Tk, n_head, dh;
    const float *q, *k, *v;
    size_t ldq, k_seq, ldk, v_seq, ldv;
    long off;
    float *out;
    size_t ldo;
} attend_ctx;

// Keys query t sees.
static size_t keys_seen(const attend_ctx *a, size_t t)
{
    if (a->off < 0) return a->Tk;
    size_t n = t + (size_t)a->off + 1;
    return n < a->Tk ? n : a->Tk;
}

// Query rows [t0, t0 + nq) of sequence s, head h, against the packed K and V (Tkp, dhp).
static void attend_block(const attend_ctx *a, size_t s, size_t h, size_t t0, size_t nq,
                         const float *K, const float *V, float *Q, float *S, float *O)
{
    size_t dh = a->dh, dhp = round16(dh), Tkp = round16(a->Tk), nq4 = round4(nq);
    float scale = 1.0f / sqrtf((float)dh);
    for (size_t i = 0; i < nq; i++)
        copy_scaled(Q + i * dhp, a->q + (s * a->Tq + t0 + i) * a->ldq + h * dh, dh, scale, dhp);
    memset(Q + nq * dhp, 0, (nq4 - nq) * dhp * sizeof *Q);
    for (size_t i = 0; i < nq; i += 4) {
        size_t r = nq - i < 4 ? nq - i : 4;
        size_t kk = keys_seen(a, t0 + i + r - 1); // the group's last row sees the most
        scores4(dhp, Q + i * dhp, K, (kk + 1) & ~(size_t)1, S + i * Tkp, Tkp);
        for (size_t q = 0; q < r; q++)
            softmax_row(S + (i + q) * Tkp, keys_seen(a, t0 + i + q), kk);
        pv4(r, kk, S + i * Tkp, Tkp, V, dhp, O + i * dhp);
    }
    for (size_t i = 0; i < nq; i++)
        memcpy(a->out + (s * a->Tq + t0 + i) * a->ldo + h * dh, O + i * dhp, dh * sizeof *O);
}

// Σ x[e]·y[e] over n floats.
static float dot(const float *x, const float *y, size_t n)
{
    size_t e = 0;
    float sum = 0;
#ifdef HAVE_AVX2
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    for (; e + 16 <= n; e += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + e), _mm256_loadu_ps(y + e), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + e + 8), _mm256_loadu_ps(y + e + 8), a1);
    }
    for (; e + 8 <= n; e += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + e), _mm256_loadu_ps(y + e), a0);
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(a0, a1));
    for (int k = 0; k < 8; k++)
        sum += t[k];
#endif
    for (; e < n; e++)
        sum += x[e] * y[e];
    return sum;
}

// y[0..n) += a·x[0..n).
static void axpy(float *restrict y, float a, const float *restrict x, size_t n)
{
    size_t e = 0;
#ifdef HAVE_AVX2
    __m256 a8 = _mm256_set1_ps(a);
    for (; e + 8 <= n; e += 8)
        _mm256_storeu_ps(y + e,
                         _mm256_fmadd_ps(a8, _mm256_loadu_ps(x + e), _mm256_loadu_ps(y + e)));
#endif
    for (; e < n; e++)
        y[e] += a * x[e];
}

// A single query (a decoder step, Tq = 1) straight from the source rows: each key and value
// is used once, so packing them would only add a copy. S: Tk floats, O: d_head floats.
static void attend_single(const attend_ctx *a, size_t s, size_t h, float *S, float *O)
{
    size_t dh = a->dh, nk = keys_seen(a, 0);
    const float *q = a->q + s * a->ldq + h * dh;
    const float *ks = a->k + s * a->k_seq + h * dh, *vs = a->v + s * a->v_seq + h * dh;
    float scale = 1.0f / sqrtf((float)dh);
    for (size_t j = 0; j < nk; j++) {
        prefetch_ahead(ks, a->ldk, j, nk, dh);
        S[j] = dot(q, ks + j * a->ldk, dh) * scale;
    }
    softmax_row(S, nk, nk);
    memset(O, 0, dh * sizeof *O);
    for (size_t j = 0; j < nk; j++) {
        prefetch_ahead(vs, a->ldv, j, nk, dh);
        axpy(O, S[j], vs + j * a->ldv, dh);
    }
    memcpy(a->out + s * a->ldo + h * dh, O, dh * sizeof *O);
}

static void attend_item(void *ctx, size_t item, int thread)
{
    const attend_ctx *a = ctx;
    size_t s = item / a->n_head, h = item % a->n_head, dh = a->dh, dhp = round16(dh);
    size_t Tkp = round16(a->Tk), qb = block_rows(a->Tq);
    float *K = a->scratch + (size_t)thread * a->per_thread; // (Tkp, dhp)
    float *V = K + Tkp * dhp;                               // (Tkp, dhp)
    float *Q = V + Tkp * dhp;                               // (qb, dhp)
    float *S = Q + qb * dhp;                                // (qb, Tkp)
    float *O = S + qb * Tkp;                                // (qb, dhp)
    if (a->Tq == 1) {
        attend_single(a, s, h, S, O);
        return;
    }
    // the keys the last query sees are all any query sees; an odd count gets a zero row for
    // the 2-key blocks of scores4
    size_t nk = keys_seen(a, a->Tq - 1);
    const float *ks = a->k + s * a->k_seq + h * dh, *vs = a->v + s * a->v_seq + h * dh;
    for (size_t j = 0; j < nk; j++) {
        prefetch_ahead(ks, a->ldk, j, nk, dh);
        prefetch_ahead(vs, a->ldv, j, nk, dh);
        copy_scaled(K + j * dhp, ks + j * a->ldk, dh, 1.0f, dhp);
        copy_scaled(V + j * dhp, vs + j * a->ldv, dh, 1.0f, dhp);
    }
    if (nk & 1) memset(K + nk * dhp, 0, dhp * sizeof *K);
    for (size_t t0 = 0; t0 < a->Tq; t0 += qb) {
        size_t nq = a->Tq - t0 < qb ? a->Tq - t0 : qb;
        attend_block(a, s, h, t0, nq, K, V, Q, S, O);
    }
}

void nn_cpu_attend(seize_pool *pool, float *scratch, size_t scratch_per_thread, size_t n_seq,
                   size_t Tq, size_t Tk, int n_head, int d_head, const float *q, size_t ldq,
                   const float *k, size_t k_seq, size_t ldk, const float *v, size_t v_seq,
                   size_t ldv, long causal_offset, float *out, size_t ldo)
{
    if (n_seq == 0 || Tq == 0 || n_head <= 0) return;
    SEIZE_ASSERT(Tk >= 1 && d_head >= 1);
    SEIZE_ASSERT(nn_cpu_attend_scratch(Tq, Tk, (size_t)d_head) <= scratch_per_thread);
    attend_ctx a = {.scratch = scratch,
                    .per_thread = scratch_per_thread,
                    .Tq = Tq,
                    .Tk = Tk,
                    .n_head = (size_t)n_head,
                    .dh = (size_t)d_head,
                    .q = q,
                    .k = k,
                    .v = v,
                    .ldq = ldq,
                    .k_seq = k_seq,
                    .ldk = ldk,
                    .v_seq = v_seq,
                    .ldv = ldv,
                    .off = causal_offset,
                    .out = out,
                    .ldo = ldo};
    seize_pool_for(pool, n_seq * (size_t)n_head, attend_item, &a);
}
