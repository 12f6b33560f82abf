// The CPU attention kernels (cpu_attend.h): CLIP's fused `attention` and the general `attend`
// (separate, strided queries, keys and values, shared or per-sequence keys, a causal offset —
// the cross-attention of an encoder-decoder and the decoder steps over a KV cache). Both pack
// their operands into padded scratch their own way, then run the same per-head kernel
// (attend_rows): blocks of 4 query rows → scores S = Q·Kᵀ (4 × 2 dot-product blocks) → softmax
// per row → out = P·V (4 × 16 register blocks). With a causal limit a group of 4 query rows
// needs only the keys its last row sees; the later keys are neither scored nor summed.
//
// Packing, rows of d_head rounded up to 16 (dhp), padding kept zero where read:
//   - `attention`: one work item is a sequence and a group of its heads. The group's Q (biased,
//     scaled), K and V (biased) are copied row by row — a linear walk through the sequence's
//     block of qkv that the hardware prefetcher follows (a walk head by head would jump between
//     rows 3·d floats apart and wait on memory for each) — then each head runs all its queries.
//   - `attend`: one work item is a (sequence, head). A single query (a decoder step) reads its
//     keys and values in place, once each. Otherwise the keys and values are first copied into
//     contiguous scratch: the source rows are often far apart (a KV cache row of 4096 floats,
//     a fused qkv row of 3·d) and, with power-of-two strides, would fall into a few cache sets
//     if read in place for every block of queries. Queries then go by blocks of QB rows.
#include "cpu_attend.h"

#include "backend.h"

#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define HAVE_AVX2 1
#endif

#define QB 64      // `attend`: query rows per block (a multiple of 4)
#define PREFETCH 8 // rows ahead when packing keys and values

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

static size_t round4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

// --- scratch -------------------------------------------------------------------------------------

// Query rows in a block of a query set of Tq rows (`attend`).
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

size_t nn_cpu_attention_scratch(size_t T, size_t d_head, size_t n_head)
{
    size_t T4 = round4(T), Tp = round16(T), dhp = round16(d_head);
    // per head Q (T4, dhp), K (Tp, dhp), V (Tp, dhp); shared scores (T4, Tp), output (T4, dhp)
    return n_head * (T4 * dhp + 2 * Tp * dhp) + T4 * Tp + T4 * dhp;
}

// --- small kernels -------------------------------------------------------------------------------

// dst[0..n) = (src[0..n) + bias[0..n))·scale (bias NULL: no bias), dst[n..npad) = 0.
static void copy_pad(float *restrict dst, const float *restrict src, const float *restrict bias,
                     size_t n, float scale, size_t npad)
{
    size_t e = 0;
#ifdef HAVE_AVX2
    __m256 sc = _mm256_set1_ps(scale);
    if (bias)
        for (; e + 8 <= n; e += 8)
            _mm256_storeu_ps(dst + e, _mm256_mul_ps(_mm256_add_ps(_mm256_loadu_ps(src + e),
                                                                  _mm256_loadu_ps(bias + e)),
                                                    sc));
    else
        for (; e + 8 <= n; e += 8)
            _mm256_storeu_ps(dst + e, _mm256_mul_ps(_mm256_loadu_ps(src + e), sc));
#endif
    for (; e < n; e++)
        dst[e] = (bias ? src[e] + bias[e] : src[e]) * scale;
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
        // named accumulators (an array would live on the stack)
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

// --- one head ------------------------------------------------------------------------------------

// Keys query position t sees among Tk: causal_offset ≥ 0, keys j ≤ t + offset; else all.
static size_t keys_seen(size_t Tk, long off, size_t t)
{
    if (off < 0) return Tk;
    size_t n = t + (size_t)off + 1;
    return n < Tk ? n : Tk;
}

// Query rows 0..nq-1 of one head (positions t0 + i), packed, against the head's packed keys
// and values; the results go to out row i (stride ldo, dh floats).
typedef struct head_job {
    size_t nq, t0, Tk; // query rows, the position of row 0, keys
    long off;          // causal offset (< 0: every key), see keys_seen
    size_t dh, dhp;    // d_head, rounded up to 16
    const float *Q;    // (round4(nq), dhp): scaled; rows past nq zero
    const float *K;    // (nk2, dhp): nk keys seen by the last query, a zero row when nk is odd
    const float *V;    // (nk, dhp)
    float *S;          // (round4(nq), lds) scores
    size_t lds;        // ≥ nk2
    float *O;          // (round4(nq), dhp)
    float *out;        // row i at out + i·ldo
    size_t ldo;
} head_job;

static void attend_rows(const head_job *j)
{
    size_t dhp = j->dhp, lds = j->lds;
    for (size_t i = 0; i < j->nq; i += 4) {
        size_t r = j->nq - i < 4 ? j->nq - i : 4;
        size_t kk = keys_seen(j->Tk, j->off, j->t0 + i + r - 1); // the last row sees the most
        scores4(dhp, j->Q + i * dhp, j->K, (kk + 1) & ~(size_t)1, j->S + i * lds, lds);
        for (size_t q = 0; q < r; q++)
            softmax_row(j->S + (i + q) * lds, keys_seen(j->Tk, j->off, j->t0 + i + q), kk);
        pv4(r, kk, j->S + i * lds, lds, j->V, dhp, j->O + i * dhp);
    }
    for (size_t i = 0; i < j->nq; i++)
        memcpy(j->out + i * j->ldo, j->O + i * dhp, j->dh * sizeof *j->O);
}

// --- attend --------------------------------------------------------------------------------------

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

// A single query (a decoder step, Tq = 1) straight from the source rows: each key and value
// is used once, so packing them would only add a copy. S: Tk floats, O: d_head floats.
static void attend_single(const attend_ctx *a, size_t s, size_t h, float *S, float *O)
{
    size_t dh = a->dh, nk = keys_seen(a->Tk, a->off, 0);
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
    // the keys the last query sees are all any query sees
    size_t nk = keys_seen(a->Tk, a->off, a->Tq - 1);
    const float *ks = a->k + s * a->k_seq + h * dh, *vs = a->v + s * a->v_seq + h * dh;
    for (size_t j = 0; j < nk; j++) {
        prefetch_ahead(ks, a->ldk, j, nk, dh);
        prefetch_ahead(vs, a->ldv, j, nk, dh);
        copy_pad(K + j * dhp, ks + j * a->ldk, NULL, dh, 1.0f, dhp);
        copy_pad(V + j * dhp, vs + j * a->ldv, NULL, dh, 1.0f, dhp);
    }
    if (nk & 1) memset(K + nk * dhp, 0, dhp * sizeof *K);
    float scale = 1.0f / sqrtf((float)dh);
    head_job j = {.Tk = a->Tk,
                  .off = a->off,
                  .dh = dh,
                  .dhp = dhp,
                  .Q = Q,
                  .K = K,
                  .V = V,
                  .S = S,
                  .lds = Tkp,
                  .O = O,
                  .ldo = a->ldo};
    for (j.t0 = 0; j.t0 < a->Tq; j.t0 += qb) {
        j.nq = a->Tq - j.t0 < qb ? a->Tq - j.t0 : qb;
        for (size_t i = 0; i < j.nq; i++)
            copy_pad(Q + i * dhp, a->q + (s * a->Tq + j.t0 + i) * a->ldq + h * dh, NULL, dh, scale,
                     dhp);
        memset(Q + j.nq * dhp, 0, (round4(j.nq) - j.nq) * dhp * sizeof *Q);
        j.out = a->out + (s * a->Tq + j.t0) * a->ldo + h * dh;
        attend_rows(&j);
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

// --- attention (CLIP) ----------------------------------------------------------------------------

typedef struct attn_ctx {
    const float *qkv, *q_b, *k_b, *v_b;
    const size_t *q_rows;
    float *out;
    size_t T, n_group, per_group, n_head, dh; // work items: (sequence, group of heads)
    int causal;
    float *scratch;
    size_t per_thread;
} attn_ctx;

static void attn_item(void *ctx, size_t item, int thread)
{
    const attn_ctx *a = ctx;
    size_t T = a->T, dh = a->dh, d = dh * a->n_head, ld = 3 * d, dhp = round16(dh);
    size_t s = item / a->n_group, h0 = item % a->n_group * a->per_group;
    size_t h1 = h0 + a->per_group < a->n_head ? h0 + a->per_group : a->n_head;
    const float *seq = a->qkv + s * T * ld;
    // queries: all rows, or the one row q_rows[s]; keys: those the last query sees
    head_job j = {.nq = a->q_rows ? 1 : T,
                  .t0 = a->q_rows ? a->q_rows[s] : 0,
                  .Tk = T,
                  .off = a->causal ? 0 : -1,
                  .dh = dh,
                  .dhp = dhp,
                  .ldo = d};
    size_t nk = keys_seen(T, j.off, j.t0 + j.nq - 1), nq4 = round4(j.nq);
    size_t q_sz = nq4 * dhp, kv_sz = round16(nk) * dhp;
    float *Q = a->scratch + (size_t)thread * a->per_thread; // (h1 - h0) × (nq4, dhp)
    float *K = Q + (h1 - h0) * q_sz;                        // (h1 - h0) × (round16(nk), dhp)
    float *V = K + (h1 - h0) * kv_sz;                       // (h1 - h0) × (round16(nk), dhp)
    j.S = V + (h1 - h0) * kv_sz;                            // (nq4, round16(nk))
    j.O = j.S + nq4 * round16(nk);                          // (nq4, dhp)
    j.lds = round16(nk);
    float scale = 1.0f / sqrtf((float)dh);
    for (size_t t = 0; t < nk; t++) {
        const float *row = seq + t * ld;
        for (size_t h = h0; h < h1; h++) {
            size_t c = h * dh, x = (h - h0) * kv_sz + t * dhp;
            if (!a->q_rows && t < j.nq) // (all rows are queries)
                copy_pad(Q + (h - h0) * q_sz + t * dhp, row + c, a->q_b + c, dh, scale, dhp);
            copy_pad(K + x, row + d + c, a->k_b + c, dh, 1.0f, dhp);
            copy_pad(V + x, row + 2 * d + c, a->v_b + c, dh, 1.0f, dhp);
        }
    }
    float *o = a->q_rows ? a->out + s * d : a->out + s * T * d;
    for (size_t h = h0; h < h1; h++) {
        float *Qh = Q + (h - h0) * q_sz, *Kh = K + (h - h0) * kv_sz;
        if (a->q_rows) copy_pad(Qh, seq + j.t0 * ld + h * dh, a->q_b + h * dh, dh, scale, dhp);
        memset(Qh + j.nq * dhp, 0, (nq4 - j.nq) * dhp * sizeof *Qh);
        if (nk & 1) memset(Kh + nk * dhp, 0, dhp * sizeof *Kh);
        j.Q = Qh;
        j.K = Kh;
        j.V = V + (h - h0) * kv_sz;
        j.out = o + h * dh;
        attend_rows(&j);
    }
}

void nn_cpu_attention(seize_pool *pool, float *scratch, size_t scratch_per_thread, size_t n_seq,
                      size_t T, int n_head, int d_head, const float *qkv, const float *q_b,
                      const float *k_b, const float *v_b, int causal, const size_t *q_rows,
                      float *out)
{
    if (n_seq == 0 || T == 0 || n_head <= 0) return;
    SEIZE_ASSERT(d_head >= 1);
    size_t nh = (size_t)n_head, dh = (size_t)d_head;
    // enough items for every thread (2 per thread), whole sequences when there are many
    size_t want = 2 * (size_t)seize_pool_threads(pool), n_group = 1;
    if (n_seq < want) n_group = (want + n_seq - 1) / n_seq;
    if (n_group > nh) n_group = nh;
    size_t per_group = (nh + n_group - 1) / n_group;
    n_group = (nh + per_group - 1) / per_group;
    SEIZE_ASSERT(nn_cpu_attention_scratch(T, dh, per_group) <= scratch_per_thread);
    attn_ctx a = {qkv,     q_b,       k_b, v_b, q_rows, out,     T,
                  n_group, per_group, nh,  dh,  causal, scratch, scratch_per_thread};
    seize_pool_for(pool, n_seq * n_group, attn_item, &a);
}
