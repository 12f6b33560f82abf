// The gallery scan of seize_engine_rank (seize serve's text and image searches, a batch of
// queries) and of a composed query's SEIZE or mean ranking: the gallery is streamed once, each
// group of 4 rows dotted with every query while it is in L1, on the state's pool. seize_search
// multiplies with cblas_sgemm, which for the few query rows of a batch packs every gallery block
// first and ran at 3-5x the memory-bound time (100,000 x 768: 45-65 ms for 1-16 queries, where
// reading the rows takes 14 ms).
//
// The products are seize_search's bound s1 = ((1+pos)A − pos·B)·g (A·g for mean), which is at
// least the score when neg >= pos: they only choose candidates. Each thread keeps its best
// kk·2 + SPARE per query; after the scan every row kept is scored exactly by seize_search_ab
// (the fixed-order dot products seize_search scores each result with) and the rows are sorted
// (score descending, then row), so that the ranking and its scores are seize_search's bit for
// bit, as long as no row left out could have entered: a full list's smallest bound (+ eps)
// must stay below the k-th exact score. When it does not (many near-equal scores, or bounds far
// above the scores), the query is handed to seize_search instead.
#include "engine_int.h"

#include "seize/retrieval.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#define SPARE 32    // estimates kept beyond kk per query and thread
#define CHUNK 1024  // gallery rows per task of the pool
#define MAX_FAST 64 // larger batches go to seize_search (its sgemm is efficient there)

typedef struct est {
    float s;
    uint32_t row;
} est;

typedef struct fscan {
    const float *g, *q; // gallery rows (n_rows, dim); the bound rows P (n_q, dim)
    size_t n_rows, dim, n_q, cap;
    const size_t *exclude;
    est *heaps;   // per thread and query: a min-heap of `cap` estimates
    size_t *fill; // per thread and query
} fscan;

// --- dot products: 4 gallery rows with 2 queries (8 sums), 1 with 1

#if defined(__AVX2__) && defined(__FMA__)
static float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

static void dots_4x2(const float *g, const float *qa, const float *qb, size_t dim, float out[8])
{
    size_t j = 0;
    for (int i = 0; i < 8; i++)
        out[i] = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (; j + 8 <= dim; j += 8) {
        __m256 g0 = _mm256_loadu_ps(g + j), g1 = _mm256_loadu_ps(g + dim + j);
        __m256 g2 = _mm256_loadu_ps(g + 2 * dim + j), g3 = _mm256_loadu_ps(g + 3 * dim + j);
        // in registers: GCC would fold each load into both queries' FMAs (10 loads, not 6)
        __asm__("" : "+x"(g0), "+x"(g1), "+x"(g2), "+x"(g3));
        __m256 x = _mm256_loadu_ps(qa + j);
        a0 = _mm256_fmadd_ps(x, g0, a0);
        a1 = _mm256_fmadd_ps(x, g1, a1);
        a2 = _mm256_fmadd_ps(x, g2, a2);
        a3 = _mm256_fmadd_ps(x, g3, a3);
        x = _mm256_loadu_ps(qb + j);
        b0 = _mm256_fmadd_ps(x, g0, b0);
        b1 = _mm256_fmadd_ps(x, g1, b1);
        b2 = _mm256_fmadd_ps(x, g2, b2);
        b3 = _mm256_fmadd_ps(x, g3, b3);
    }
    out[0] = hsum(a0), out[1] = hsum(a1), out[2] = hsum(a2), out[3] = hsum(a3);
    out[4] = hsum(b0), out[5] = hsum(b1), out[6] = hsum(b2), out[7] = hsum(b3);
#endif
    for (; j < dim; j++)
        for (int r = 0; r < 4; r++) {
            out[r] += qa[j] * g[r * dim + j];
            out[4 + r] += qb[j] * g[r * dim + j];
        }
}

static float dot_1(const float *g, const float *q, size_t dim)
{
    float s = 0;
    for (size_t j = 0; j < dim; j++)
        s += q[j] * g[j];
    return s;
}

// --- the per-thread lists

static void push(est *h, size_t *fill, size_t cap, float s, uint32_t row)
{
    size_t n = *fill, i;
    if (n < cap) { // sift up
        for (i = n++; i > 0 && h[(i - 1) / 2].s > s; i = (i - 1) / 2)
            h[i] = h[(i - 1) / 2];
        h[i] = (est){s, row};
        *fill = n;
        return;
    }
    if (!(s > h[0].s)) return;
    for (i = 0;;) { // replace the minimum, sift down
        size_t c = 2 * i + 1;
        if (c >= cap) break;
        if (c + 1 < cap && h[c + 1].s < h[c].s) c++;
        if (!(h[c].s < s)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = (est){s, row};
}

static void offer(fscan *f, int thread, size_t q, size_t row, float s)
{
    if (f->exclude && f->exclude[q] == row) return;
    size_t slot = (size_t)thread * f->n_q + q;
    push(f->heaps + slot * f->cap, &f->fill[slot], f->cap, s, (uint32_t)row);
}

static void scan_chunk(void *ctx, size_t c, int thread)
{
    fscan *f = ctx;
    size_t r0 = c * CHUNK, r1 = r0 + CHUNK < f->n_rows ? r0 + CHUNK : f->n_rows, dim = f->dim;
    float o[8];
    size_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const float *g = f->g + r * dim;
        for (size_t q = 0; q < f->n_q; q += 2) {
            size_t qb = q + 1 < f->n_q ? q + 1 : q;
            dots_4x2(g, f->q + q * dim, f->q + qb * dim, dim, o);
            for (int i = 0; i < 4; i++) {
                offer(f, thread, q, r + (size_t)i, o[i]);
                if (qb != q) offer(f, thread, qb, r + (size_t)i, o[4 + i]);
            }
        }
    }
    for (; r < r1; r++)
        for (size_t q = 0; q < f->n_q; q++)
            offer(f, thread, q, r, dot_1(f->g + r * dim, f->q + q * dim, dim));
}

// --- exact scores of the candidates

static int cmp_est_desc(const void *a, const void *b)
{
    const est *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

// What the exact scoring needs: the query vectors as given and the weights.
typedef struct exact {
    const seize_embeddings *g;
    const float *after, *before; // before NULL: mean
    float pos, neg, eps;
    size_t kk;
} exact;

// Query q's kept rows scored exactly and sorted, the first kk into the result. 1 when a row left
// out might have entered (nothing written), 0, or a negative error.
static int finish_query(const fscan *f, const exact *x, size_t q, int threads,
                        seize_search_result *r)
{
    size_t m = 0, dim = f->dim;
    for (int t = 0; t < threads; t++)
        m += f->fill[(size_t)t * f->n_q + q];
    est *all = seize_malloc(m ? m : 1, sizeof *all);
    uint32_t *rows = seize_malloc(m ? m : 1, sizeof *rows);
    float *a = seize_malloc(m ? m : 1, sizeof *a), *b = seize_malloc(m ? m : 1, sizeof *b);
    int rc = all && rows && a && b ? 0 : SEIZE_ENOMEM;
    for (int t = 0, i = 0; rc == 0 && t < threads; t++) {
        size_t slot = (size_t)t * f->n_q + q;
        for (size_t j = 0; j < f->fill[slot]; j++)
            rows[i++] = f->heaps[slot * f->cap + j].row;
    }
    const float *A = x->after + q * dim, *B = x->before ? x->before + q * dim : A;
    if (rc == 0) rc = seize_search_ab(x->g, A, B, rows, m, a, b);
    for (size_t i = 0; rc == 0 && i < m; i++) {
        float d = a[i] - b[i]; // seize_search's score, in its order
        all[i] = (est){x->before ? a[i] + x->neg * fminf(d, 0.0f) + x->pos * fmaxf(d, 0.0f) : a[i],
                       rows[i]};
    }
    size_t n_take = x->kk < m ? x->kk : m;
    if (rc == 0) qsort(all, m, sizeof *all, cmp_est_desc);
    for (int t = 0; rc == 0 && n_take && t < threads; t++) { // rows a full list left out
        size_t slot = (size_t)t * f->n_q + q;
        if (f->fill[slot] == f->cap && !(f->heaps[slot * f->cap].s + x->eps < all[n_take - 1].s))
            rc = 1;
    }
    if (rc == 0) {
        r->n_ranked[q] = n_take;
        for (size_t i = 0; i < n_take; i++) {
            r->index[q * r->k + i] = all[i].row;
            r->score[q * r->k + i] = all[i].s;
        }
    }
    free(all);
    free(rows);
    free(a);
    free(b);
    return rc;
}

static seize_search_result *result_new(size_t n_q, size_t k)
{
    seize_search_result *r = seize_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->n_queries = n_q;
    r->k = k;
    r->n_ranked = seize_calloc(n_q, sizeof *r->n_ranked);
    r->index = seize_malloc(n_q * (k ? k : 1), sizeof *r->index);
    r->score = seize_malloc(n_q * (k ? k : 1), sizeof *r->score);
    if (r->n_ranked && r->index && r->score) return r;
    seize_search_result_free(r);
    return NULL;
}

// The bound rows P = (1+pos)A − pos·B of normalised A and B, as seize_search makes them.
static float *bound_rows(const float *after, const float *before, size_t n, size_t dim, float pos)
{
    float *P = seize_alloc_aligned(n * dim, sizeof *P);
    float *B = before ? seize_malloc(n * dim, sizeof *B) : NULL;
    if (!P || (before && !B)) {
        free(P);
        free(B);
        return NULL;
    }
    memcpy(P, after, n * dim * sizeof *P);
    seize_normalize_rows(P, n, dim);
    if (B) {
        memcpy(B, before, n * dim * sizeof *B);
        seize_normalize_rows(B, n, dim);
        for (size_t i = 0; i < n * dim; i++)
            P[i] = (float)((1.0 + pos) * P[i] - pos * B[i]);
    }
    free(B);
    return P;
}

int engine_scan(seize_engine_state *s, const float *after, const float *before, size_t n,
                const size_t *exclude, size_t k, float pos, float neg, seize_search_result **out)
{
    seize_embeddings g = seize_index_embeddings(s->e->idx);
    if (g.dtype != SEIZE_F32 || n == 0 || n > MAX_FAST || g.n == 0 || g.n > UINT32_MAX || k == 0 ||
        !(neg >= pos) || (!before && (pos != 0 || neg != 0)))
        return 1;
    size_t dim = g.dim, kk = k < g.n ? k : g.n;
    for (size_t i = 0; i < n * dim; i++)
        if (!isfinite(after[i]) || (before && !isfinite(before[i])))
            return 1; // seize_search names the query
    int threads = seize_pool_threads(s->pool);
    fscan f = {(const float *)g.data, NULL, g.n, dim, n, 2 * kk + SPARE, exclude, NULL, NULL};
    float *P = bound_rows(after, before, n, dim, pos);
    f.heaps = seize_malloc((size_t)threads * n * f.cap, sizeof *f.heaps);
    f.fill = seize_calloc((size_t)threads * n, sizeof *f.fill);
    seize_search_result *r = result_new(n, kk);
    int rc = P && f.heaps && f.fill && r ? 0 : SEIZE_ENOMEM;
    f.q = P;
    if (rc == 0) seize_pool_for(s->pool, (g.n + CHUNK - 1) / CHUNK, scan_chunk, &f);
    // seize_search's bound on |exact − estimate|
    exact x = {&g,     after,
               before, pos,
               neg,    (float)(4.0 * (double)dim * 5.96e-8 * (3.0 + 2.0 * pos + 2.0 * neg) + 1e-6),
               kk};
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = finish_query(&f, &x, i, threads, r);
    free(P);
    free(f.heaps);
    free(f.fill);
    if (rc != 0) {
        seize_search_result_free(r);
        return rc;
    }
    *out = r;
    return 0;
}
