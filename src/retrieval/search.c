// The semantic editing search: one sgemm per gallery block for a and b, a streaming top-k per
// query, optional exclusion and candidate subsets; LDRE on top of the same scan.
#include "seize/retrieval.h"

#include <cblas.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

// --- top-k heap: the root is the worst kept item (lowest score, then highest row)

typedef struct {
    float s;
    uint32_t i;
} item;

static int worse(item x, item y)
{
    return x.s < y.s || (x.s == y.s && x.i > y.i);
}

static void sift_down(item *h, size_t n, size_t r)
{
    for (;;) {
        size_t c = 2 * r + 1;
        if (c >= n) return;
        if (c + 1 < n && worse(h[c + 1], h[c])) c++;
        if (!worse(h[c], h[r])) return;
        item t = h[c];
        h[c] = h[r];
        h[r] = t;
        r = c;
    }
}

static void sift_up(item *h, size_t c)
{
    while (c > 0) {
        size_t p = (c - 1) / 2;
        if (!worse(h[c], h[p])) return;
        item t = h[c];
        h[c] = h[p];
        h[p] = t;
        c = p;
    }
}

static int better_first(const void *x, const void *y)
{
    item a = *(const item *)x, b = *(const item *)y;
    if (worse(b, a)) return -1;
    if (worse(a, b)) return 1;
    return 0;
}

// --- the scan

seize_search_params seize_search_default_params(void)
{
    seize_search_params p = {.pos = 0.13f, .neg = 2.1f, .k = 50, .n_threads = 0, .block_rows = 0};
    return p;
}

enum { QUERY_CHUNK = 2048 };

typedef struct {
    float s1;
    uint32_t j;
} cand;

// A prepared query batch: `rows` [n_rows, dim] where the first n_q rows are A and, in pair
// mode, the next n_q rows are B.
typedef struct scan {
    const seize_embeddings *g; // rows [row0, row0 + g->n) of the whole gallery
    size_t row0;
    const float *rows;
    size_t n_q, n_rows, dim;
    int pair;
    float pos, neg;
    size_t k;
    const size_t *exclude;
    const seize_subsets *subsets;
    // per query state (rows in the heaps are the whole gallery's; sub_sorted holds g's rows)
    item *heaps;         // n_q * k
    size_t *fill;        // n_q
    size_t *sub_pos;     // n_q: how many subset rows of q are already scored (rows sorted)
    size_t **sub_sorted; // n_q sorted copies of the subset rows (without the excluded row)
    size_t *sub_n;
    float **sub_score;
    // current block
    const float *S; // [chunk rows, nb]: a of the chunk's queries, then b
    size_t q0, qc;  // current query chunk
    size_t j0, nb;
    float *block; // [n_rows, nb_max] the product of a block (S points here)
    float *crows; // [n_rows, dim] the rows multiplied with the gallery
    float *conv;  // F16 conversion scratch [nb_max, dim]
    float *tmp;   // per thread score scratch [threads, nb_max]
    // pruned mode (every search but no_prune): S holds an estimate of each score, and the rows
    // whose estimate (plus eps) can still enter the top k are scored exactly by fixed-order dot
    // products, so that a row's score does not depend on the block, slice or BLAS kernel it was
    // in. Pair with neg >= pos: s1 = P·g, P = (1+pos)A − pos·B, an upper bound of the score;
    // pair with neg < pos (est_pair): the score of the products a and b; no pair: a.
    int prune, est_pair;
    float eps;        // bound on (exact score − estimate) beyond the exact inequality
    cand *cands;      // per thread candidate scratch [threads, nb_max]
    size_t *n_exact;  // per thread count of exact evaluations (statistics)
    seize_pool *pool; // borrowed; NULL runs the loops on the calling thread
    int threads;      // seize_pool_threads(pool): per-thread scratch slots
} scan;

static float score_of(float a, float b, float pos, float neg)
{
    float d = a - b;
    return a + neg * fminf(d, 0.0f) + pos * fmaxf(d, 0.0f);
}

// a = A·g and b = B·g in one pass, in a fixed order (the same for every call, so a row's score
// does not depend on which path asked for it).
static void dot2(const float *A, const float *B, const float *g, size_t dim, float *a, float *b)
{
    size_t j = 0;
    float sa = 0, sb = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256 va0 = _mm256_setzero_ps(), vb0 = _mm256_setzero_ps();
    __m256 va1 = _mm256_setzero_ps(), vb1 = _mm256_setzero_ps();
    for (; j + 16 <= dim; j += 16) {
        __m256 g0 = _mm256_loadu_ps(g + j), g1 = _mm256_loadu_ps(g + j + 8);
        va0 = _mm256_fmadd_ps(_mm256_loadu_ps(A + j), g0, va0);
        vb0 = _mm256_fmadd_ps(_mm256_loadu_ps(B + j), g0, vb0);
        va1 = _mm256_fmadd_ps(_mm256_loadu_ps(A + j + 8), g1, va1);
        vb1 = _mm256_fmadd_ps(_mm256_loadu_ps(B + j + 8), g1, vb1);
    }
    float ta[8], tb[8];
    _mm256_storeu_ps(ta, _mm256_add_ps(va0, va1));
    _mm256_storeu_ps(tb, _mm256_add_ps(vb0, vb1));
    for (int l = 0; l < 8; l++)
        sa += ta[l], sb += tb[l];
#endif
    for (; j < dim; j++)
        sa += A[j] * g[j], sb += B[j] * g[j];
    *a = sa;
    *b = sb;
}

// a = A·g with exactly the arithmetic of dot2's a (the same lanes and order), for the searches
// without B (mean, LDRE).
static float dot1(const float *A, const float *g, size_t dim)
{
    size_t j = 0;
    float sa = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256 va0 = _mm256_setzero_ps(), va1 = _mm256_setzero_ps();
    for (; j + 16 <= dim; j += 16) {
        va0 = _mm256_fmadd_ps(_mm256_loadu_ps(A + j), _mm256_loadu_ps(g + j), va0);
        va1 = _mm256_fmadd_ps(_mm256_loadu_ps(A + j + 8), _mm256_loadu_ps(g + j + 8), va1);
    }
    float ta[8];
    _mm256_storeu_ps(ta, _mm256_add_ps(va0, va1));
    for (int l = 0; l < 8; l++)
        sa += ta[l];
#endif
    for (; j < dim; j++)
        sa += A[j] * g[j];
    return sa;
}

static int cand_desc(const void *x, const void *y)
{
    const cand *a = x, *b = y;
    if (a->s1 != b->s1) return a->s1 > b->s1 ? -1 : 1;
    return a->j < b->j ? -1 : a->j > b->j;
}

// Moves the `top` best candidates (cand_desc order) to the front, in any order (quickselect).
static void select_top(cand *c, size_t m, size_t top)
{
    size_t lo = 0, hi = m; // the boundary `top` lies in [lo, hi)
    while (hi - lo > 1) {
        cand piv = c[lo + (hi - lo) / 2];
        // three-way partition: better than pivot | equal | worse
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            int r = cand_desc(&c[i], &piv);
            if (r < 0) {
                cand t = c[lt];
                c[lt++] = c[i];
                c[i++] = t;
            } else if (r > 0) {
                cand t = c[--gt];
                c[gt] = c[i];
                c[i] = t;
            } else {
                i++;
            }
        }
        if (top < lt)
            hi = lt;
        else if (top >= gt)
            lo = gt;
        else
            return;
    }
}

static const float *block_row(const scan *s, size_t j)
{
    return s->g->dtype == SEIZE_F16 ? s->conv + j * s->dim
                                    : (const float *)s->g->data + (s->j0 + j) * s->dim;
}

// The excluded row of query q as a row of g, or SIZE_MAX (none, or not in this slice).
static size_t local_exclude(const scan *s, size_t q)
{
    size_t ex = s->exclude ? s->exclude[q] : SIZE_MAX;
    return ex != SIZE_MAX && ex >= s->row0 && ex - s->row0 < s->g->n ? ex - s->row0 : SIZE_MAX;
}

static float exact_score(const scan *s, size_t q, const float *g)
{
    if (!s->pair) return dot1(s->rows + q * s->dim, g, s->dim);
    float a, b;
    dot2(s->rows + q * s->dim, s->rows + (s->n_q + q) * s->dim, g, s->dim, &a, &b);
    return score_of(a, b, s->pos, s->neg);
}

static void scan_query_prune(void *ctx, size_t qi, int thread)
{
    scan *s = ctx;
    size_t nb = s->nb, k = s->k, q = s->q0 + qi;
    const float *s1 = s->S + qi * nb;
    if (s->est_pair) { // the estimates from the products a and b
        float *e = s->tmp + (size_t)thread * nb;
        const float *rb = s->S + (s->qc + qi) * nb;
        for (size_t j = 0; j < nb; j++)
            e[j] = score_of(s1[j], rb[j], s->pos, s->neg);
        s1 = e;
    }
    size_t ex = local_exclude(s, q);
    if (s->sub_sorted) {
        size_t *sp = &s->sub_pos[q];
        const size_t *rows = s->sub_sorted[q];
        for (; *sp < s->sub_n[q] && rows[*sp] < s->j0 + nb; (*sp)++)
            s->sub_score[q][*sp] = exact_score(s, q, block_row(s, rows[*sp] - s->j0));
    }
    if (!k) return;
    item *h = s->heaps + q * k;
    size_t n = s->fill[q];
    // candidates: rows whose bound s1 + eps reaches the current k-th score
    float thr = n == k ? h[0].s : -INFINITY;
    cand *c = s->cands + (size_t)thread * nb;
    size_t m = 0;
    for (size_t j = 0; j < nb; j++)
        if (s1[j] + s->eps >= thr && s->j0 + j != ex) c[m++] = (cand){s1[j], (uint32_t)j};
    size_t done = 0;
    // Best bounds first, so that the threshold rises as fast as possible. Many candidates (a
    // first block, when the heap is not yet full): score the best 2k bounds first, then keep
    // only the rest that can still enter and sort those.
    size_t head = m;
    if (m > 4 * k + 64) {
        head = 2 * k;
        select_top(c, m, head);
    }
    qsort(c, head, sizeof *c, cand_desc);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < head; i++) {
            if (n == k && c[i].s1 + s->eps < h[0].s) break; // nothing later can enter
            item it = {exact_score(s, q, block_row(s, c[i].j)),
                       (uint32_t)(s->row0 + s->j0 + c[i].j)};
            done++;
            if (n < k) {
                h[n] = it;
                sift_up(h, n);
                n++;
            } else if (worse(h[0], it)) {
                h[0] = it;
                sift_down(h, k, 0);
            }
        }
        if (head == m) break;
        // the rest: those whose bound still reaches the k-th score
        float t = n == k ? h[0].s : -INFINITY;
        size_t w = 0;
        for (size_t i = head; i < m; i++)
            if (c[i].s1 + s->eps >= t) c[w++] = c[i];
        m = head = w;
        qsort(c, head, sizeof *c, cand_desc);
    }
    s->fill[q] = n;
    s->n_exact[thread] += done;
}

static void scan_query(void *ctx, size_t qi, int thread)
{
    scan *s = ctx;
    size_t nb = s->nb, k = s->k, q = s->q0 + qi;
    const float *ra = s->S + qi * nb;
    float *sc = s->tmp + (size_t)thread * nb;
    if (s->pair) {
        const float *rb = s->S + (s->qc + qi) * nb;
        float pos = s->pos, neg = s->neg;
        for (size_t j = 0; j < nb; j++)
            sc[j] = score_of(ra[j], rb[j], pos, neg);
    } else {
        memcpy(sc, ra, nb * sizeof *sc);
    }
    size_t ex = local_exclude(s, q);
    // subset scores come from the same values the ranking uses
    if (s->sub_sorted) {
        size_t *sp = &s->sub_pos[q];
        const size_t *rows = s->sub_sorted[q];
        while (*sp < s->sub_n[q] && rows[*sp] < s->j0 + nb) {
            s->sub_score[q][*sp] = sc[rows[*sp] - s->j0];
            (*sp)++;
        }
    }
    item *h = s->heaps + q * k;
    size_t n = s->fill[q];
    if (!k) return;
    if (ex >= s->j0 && ex < s->j0 + nb)
        ex -= s->j0;
    else
        ex = SIZE_MAX;
    size_t j = 0;
    for (; j < nb && n < k; j++) {
        if (j == ex) continue;
        h[n] = (item){sc[j], (uint32_t)(s->row0 + s->j0 + j)};
        sift_up(h, n);
        n++;
    }
    s->fill[q] = n;
    if (n < k) return;
    float thr = h[0].s;
    for (; j < nb; j++) {
        // rows arrive in ascending order, so an equal score never beats the kept one
        if (sc[j] > thr && j != ex) {
            h[0] = (item){sc[j], (uint32_t)(s->row0 + s->j0 + j)};
            sift_down(h, k, 0);
            thr = h[0].s;
        }
    }
}

static void convert_rows(void *ctx, size_t r, int thread)
{
    scan *s = ctx;
    const uint16_t *src = (const uint16_t *)s->g->data + (s->j0 + r) * s->dim;
    float *dst = s->conv + r * s->dim;
    for (size_t j = 0; j < s->dim; j++)
        dst[j] = seize_f16_to_f32(src[j]);
}

static int cmp_size(const void *x, const void *y)
{
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    return a < b ? -1 : a > b;
}

void seize_search_result_free(seize_search_result *r)
{
    if (!r) return;
    free(r->n_ranked);
    free(r->index);
    free(r->score);
    free(r->subset_off);
    free(r->subset_n);
    free(r->subset_index);
    free(r->subset_score);
    free(r);
}

// --- the scan driver

// Gallery rows per block: about 32 MiB of scores for the chunk's query rows, unless given.
static size_t block_rows_for(const seize_search_params *p, size_t n_rows, size_t n)
{
    size_t nb = p->block_rows;
    if (!nb) {
        nb = ((size_t)32 << 20) / (sizeof(float) * (n_rows ? n_rows : 1));
        nb = nb < 256 ? 256 : nb > 16384 ? 16384 : nb;
    }
    if (nb > n) nb = n ? n : 1;
    return nb;
}

// The result arrays and the scan's scratch: heaps, one score block, per-thread buffers.
static int scan_alloc(scan *s, seize_search_result *r, size_t nb)
{
    size_t n_q = s->n_q, qk, threads = (size_t)s->threads;
    if (seize_mul_size(n_q, s->k ? s->k : 1, &qk) < 0) return SEIZE_ENOMEM;
    r->n_ranked = seize_calloc(n_q ? n_q : 1, sizeof *r->n_ranked);
    r->index = seize_malloc(qk, sizeof *r->index);
    r->score = seize_malloc(qk, sizeof *r->score);
    s->heaps = seize_malloc(qk, sizeof *s->heaps);
    s->fill = seize_calloc(n_q ? n_q : 1, sizeof *s->fill);
    s->block = seize_alloc_aligned((s->n_rows ? s->n_rows : 1) * nb, sizeof(float));
    s->crows = seize_alloc_aligned((s->n_rows ? s->n_rows : 1) * s->dim, sizeof(float));
    s->tmp = seize_malloc(threads * nb, sizeof *s->tmp);
    s->cands = seize_malloc(threads * nb, sizeof *s->cands);
    s->n_exact = seize_calloc(threads, sizeof *s->n_exact);
    if (!r->n_ranked || !r->index || !r->score || !s->heaps || !s->fill || !s->block || !s->tmp ||
        !s->crows || !s->cands || !s->n_exact)
        return SEIZE_ENOMEM;
    if (s->g->dtype == SEIZE_F16 && !(s->conv = seize_alloc_aligned(nb * s->dim, sizeof(float))))
        return SEIZE_ENOMEM;
    if (s->g->dtype != SEIZE_F16 && s->g->dtype != SEIZE_F32)
        return seize_error(SEIZE_EINVAL, "gallery features must be float32 or float16");
    return 0;
}

// Per query: the subset rows of this slice (as rows of g) sorted, without the excluded row and
// duplicates.
static int subsets_prepare(scan *s, seize_search_result *r, size_t n_total)
{
    const seize_subsets *subsets = s->subsets;
    size_t n_q = s->n_q, n = s->g->n, row0 = s->row0;
    r->subset_off = seize_calloc(n_q + 1, sizeof *r->subset_off);
    r->subset_n = seize_calloc(n_q ? n_q : 1, sizeof *r->subset_n);
    s->sub_sorted = seize_calloc(n_q ? n_q : 1, sizeof *s->sub_sorted);
    s->sub_n = seize_calloc(n_q ? n_q : 1, sizeof *s->sub_n);
    s->sub_pos = seize_calloc(n_q ? n_q : 1, sizeof *s->sub_pos);
    s->sub_score = seize_calloc(n_q ? n_q : 1, sizeof *s->sub_score);
    if (!r->subset_off || !r->subset_n || !s->sub_sorted || !s->sub_n || !s->sub_pos ||
        !s->sub_score)
        return SEIZE_ENOMEM;
    for (size_t q = 0; q < n_q; q++) {
        size_t m = subsets->n_rows[q], w = 0;
        s->sub_sorted[q] = seize_malloc(m ? m : 1, sizeof(size_t));
        s->sub_score[q] = seize_malloc(m ? m : 1, sizeof(float));
        if (!s->sub_sorted[q] || !s->sub_score[q]) return SEIZE_ENOMEM;
        for (size_t i = 0; i < m; i++) {
            size_t row = subsets->rows[q][i];
            if (row >= n_total)
                return seize_error(SEIZE_EINVAL, "query %zu: subset row %zu out of range", q, row);
            if ((s->exclude && row == s->exclude[q]) || row < row0 || row - row0 >= n) continue;
            s->sub_sorted[q][w++] = row - row0;
        }
        qsort(s->sub_sorted[q], w, sizeof(size_t), cmp_size);
        size_t u = 0; // drop duplicates
        for (size_t i = 0; i < w; i++)
            if (!u || s->sub_sorted[q][u - 1] != s->sub_sorted[q][i])
                s->sub_sorted[q][u++] = s->sub_sorted[q][i];
        s->sub_n[q] = u;
        r->subset_off[q + 1] = r->subset_off[q] + u;
    }
    size_t tot = r->subset_off[n_q];
    r->subset_index = seize_malloc(tot ? tot : 1, sizeof *r->subset_index);
    r->subset_score = seize_malloc(tot ? tot : 1, sizeof *r->subset_score);
    return r->subset_index && r->subset_score ? 0 : SEIZE_ENOMEM;
}

// The rows multiplied with the gallery for queries [q0, q0 + qc): P = (1+pos)A − pos·B when
// pruning, else the chunk's A rows and (pair) B rows stacked, so that one sgemm gives a and b.
static size_t chunk_rows(scan *s, size_t q0, size_t qc)
{
    size_t dim = s->dim, n_q = s->n_q;
    float *crows = s->crows;
    if (s->prune && s->pair && !s->est_pair) {
        double pos = s->pos;
        for (size_t q = 0; q < qc; q++) {
            const float *A = s->rows + (q0 + q) * dim, *B = s->rows + (n_q + q0 + q) * dim;
            for (size_t j = 0; j < dim; j++)
                crows[q * dim + j] = (float)((1.0 + pos) * A[j] - pos * B[j]);
        }
        return qc;
    }
    memcpy(crows, s->rows + q0 * dim, qc * dim * sizeof *crows);
    if (s->pair) memcpy(crows + qc * dim, s->rows + (n_q + q0) * dim, qc * dim * sizeof *crows);
    return s->pair ? 2 * qc : qc;
}

// Walks the gallery in blocks of nb rows for every chunk of at most qc_max queries.
static void scan_blocks(scan *s, size_t nb, size_t qc_max)
{
    size_t n = s->g->n, n_q = s->n_q, dim = s->dim;
    s->S = s->block;
    for (size_t q0 = 0; q0 < n_q && n > 0 && (s->k > 0 || s->subsets); q0 += qc_max) {
        size_t qc = n_q - q0 < qc_max ? n_q - q0 : qc_max;
        s->q0 = q0;
        s->qc = qc;
        size_t m_rows = chunk_rows(s, q0, qc);
        for (size_t j0 = 0; j0 < n; j0 += nb) {
            size_t m = n - j0 < nb ? n - j0 : nb;
            s->j0 = j0;
            s->nb = m;
            const float *G;
            if (s->g->dtype == SEIZE_F16) {
                seize_pool_for(s->pool, m, convert_rows, s);
                G = s->conv;
            } else {
                G = (const float *)s->g->data + j0 * dim;
            }
            // S[m_rows, m] = chunk rows · G_blockᵀ
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m_rows, (int)m, (int)dim,
                        1.0f, s->crows, (int)dim, G, (int)dim, 0.0f, s->block, (int)m);
            seize_pool_for(s->pool, qc, s->prune ? scan_query_prune : scan_query, s);
        }
    }
}

// Sorts each query's heap (and subset scores) into the result.
static int scan_collect(scan *s, seize_search_result *r)
{
    size_t k = s->k;
    for (size_t q = 0; q < s->n_q; q++) {
        item *h = s->heaps + q * k;
        size_t f = s->fill[q];
        qsort(h, f, sizeof *h, better_first);
        r->n_ranked[q] = f;
        for (size_t j = 0; j < f; j++) {
            r->index[q * k + j] = h[j].i;
            r->score[q * k + j] = h[j].s;
        }
        if (!s->subsets) continue;
        size_t m = s->sub_n[q];
        item *t = seize_malloc(m ? m : 1, sizeof *t);
        if (!t) return SEIZE_ENOMEM;
        for (size_t i = 0; i < m; i++)
            t[i] = (item){s->sub_score[q][i], (uint32_t)(s->row0 + s->sub_sorted[q][i])};
        qsort(t, m, sizeof *t, better_first);
        size_t off = r->subset_off[q];
        r->subset_n[q] = m;
        for (size_t i = 0; i < m; i++) {
            r->subset_index[off + i] = t[i].i;
            r->subset_score[off + i] = t[i].s;
        }
        free(t);
    }
    return 0;
}

static void scan_release(scan *s)
{
    free(s->block);
    free(s->crows);
    free(s->tmp);
    free(s->cands);
    free(s->n_exact);
    free(s->conv);
    free(s->heaps);
    free(s->fill);
    if (s->sub_sorted)
        for (size_t q = 0; q < s->n_q; q++) {
            free(s->sub_sorted[q]);
            free(s->sub_score[q]);
        }
    free(s->sub_sorted);
    free(s->sub_score);
    free(s->sub_n);
    free(s->sub_pos);
}

// Runs the blocked scan for prepared rows (normalised; in pair mode A rows then B rows) on
// `pool` and fills a result.
static int run_scan(const seize_embeddings *g, const float *rows, size_t n_q, int pair, float pos,
                    float neg, const size_t *exclude, const seize_subsets *subsets,
                    const seize_search_params *p, seize_pool *pool, seize_search_result **out)
{
    size_t n = g->n, dim = g->dim;
    // queries are processed in chunks so that the score block stays bounded for any Q
    size_t qc_max = n_q < QUERY_CHUNK ? n_q : QUERY_CHUNK;
    // With neg >= pos the score is at most s1 = a + pos·d = ((1+pos)A − pos·B)·g (for d < 0,
    // neg·d <= pos·d), so one product of M = Q rows bounds every score and only the rows that
    // can still reach the top k are scored exactly. With neg < pos, a and b come from one
    // product of the stacked [A; B], and the score of those estimates picks the rows to score
    // exactly (without B: a itself). no_prune ranks the products' own scores.
    int prune = !p->no_prune, est_pair = pair && neg < pos;
    size_t n_rows = pair && (!prune || est_pair) ? 2 * qc_max : qc_max;
    size_t n_total = p->n_total ? p->n_total : n;
    size_t nb = block_rows_for(p, n_rows, n);
    scan s = {.g = g,
              .row0 = p->row0,
              .rows = rows,
              .n_q = n_q,
              .n_rows = n_rows,
              .dim = dim,
              .pair = pair,
              .pos = pos,
              .neg = neg,
              .k = p->k > n_total ? n_total : p->k,
              .exclude = exclude,
              .subsets = subsets,
              .prune = prune,
              .est_pair = est_pair,
              .pool = pool,
              .threads = seize_pool_threads(pool)};
    // Float error bound: each of s1, a, b is a dot product of unit-norm-ish vectors of length
    // dim (|error| <= dim·u·|P|·|g| with u = 2^-24); the score combines a and b with weights up
    // to 1 + 2·|neg|. Take four times that, plus the rounding of P itself (weights of any sign:
    // the library takes negative ones, and a negative eps would drop rows of the top k).
    s.eps = (float)(4.0 * (double)dim * 5.96e-8 * (3.0 + 2.0 * fabs(pos) + 2.0 * fabs(neg)) + 1e-6);
    seize_search_result *r = seize_calloc(1, sizeof *r);
    if (!r) return SEIZE_ENOMEM;
    r->n_queries = n_q;
    r->k = s.k;
    int rc = scan_alloc(&s, r, nb);
    if (rc == 0 && subsets) rc = subsets_prepare(&s, r, n_total);
    if (rc == 0) {
        scan_blocks(&s, nb, qc_max);
        rc = scan_collect(&s, r);
    }
    if (p->stats_exact) {
        size_t tot = 0;
        for (int t = 0; s.n_exact && t < s.threads; t++)
            tot += s.n_exact[t];
        *p->stats_exact = tot;
    }
    scan_release(&s);
    if (rc < 0) {
        seize_search_result_free(r);
        r = NULL;
    }
    *out = r;
    return rc;
}

static int check_common(const seize_embeddings *g, size_t n_q, const size_t *exclude,
                        const seize_search_params *p)
{
    if (!g || !p) return seize_error(SEIZE_EINVAL, "search: missing gallery or parameters");
    size_t n_total = p->n_total ? p->n_total : g->n;
    if (n_total > UINT32_MAX || n_total > INT32_MAX || g->dim > INT32_MAX)
        return seize_error(SEIZE_EINVAL, "search: gallery of %zu rows is too large", n_total);
    if (p->row0 > n_total || g->n > n_total - p->row0)
        return seize_error(SEIZE_EINVAL, "search: rows %zu..%zu are not in a gallery of %zu rows",
                           p->row0, p->row0 + g->n, n_total);
    if (g->n && !g->data) return seize_error(SEIZE_EINVAL, "search: gallery has no data");
    if (!g->dim) return seize_error(SEIZE_EINVAL, "search: gallery dimension is 0");
    if (n_q > INT32_MAX / 2) return seize_error(SEIZE_EINVAL, "search: too many queries");
    if (exclude)
        for (size_t q = 0; q < n_q; q++)
            if (exclude[q] != SIZE_MAX && exclude[q] >= n_total)
                return seize_error(SEIZE_EINVAL, "query %zu: excluded row %zu out of range", q,
                                   exclude[q]);
    return 0;
}

static int check_finite(const float *x, size_t n_q, size_t per_q, const char *what)
{
    for (size_t q = 0; q < n_q; q++)
        for (size_t j = 0; j < per_q; j++)
            if (!isfinite(x[q * per_q + j]))
                return seize_error(SEIZE_EINVAL,
                                   "query %zu: %s features contain a non-finite value", q, what);
    return 0;
}

// The pool of the parameters, or (*own) one of p->n_threads threads (0 = all cores, at most
// 64) made for this call.
static int pool_of(const seize_search_params *p, seize_pool **pool, seize_pool **own)
{
    *own = NULL;
    *pool = p->pool;
    if (p->pool) return 0;
    int threads = p->n_threads > 0 ? p->n_threads : seize_cpu_count();
    int rc = seize_pool_new(threads > 64 ? 64 : threads, own);
    *pool = *own;
    return rc;
}

int seize_search(const seize_embeddings *g, const float *after, const float *before,
                 size_t n_queries, const size_t *exclude, const seize_subsets *subsets,
                 const seize_search_params *p, seize_search_result **out)
{
    *out = NULL;
    int rc = check_common(g, n_queries, exclude, p);
    if (rc < 0) return rc;
    if (!isfinite(p->pos) || !isfinite(p->neg))
        return seize_error(SEIZE_EINVAL, "search: pos and neg must be finite");
    int pair = !(p->pos == 0 && p->neg == 0);
    if (pair && !before)
        return seize_error(SEIZE_EINVAL, "search: the SEIZE score needs 'before' features");
    size_t dim = g->dim;
    if ((rc = check_finite(after, n_queries, dim, "after")) < 0) return rc;
    if (pair && (rc = check_finite(before, n_queries, dim, "before")) < 0) return rc;
    size_t n_rows = pair ? 2 * n_queries : n_queries, total;
    if (seize_mul_size(n_rows ? n_rows : 1, dim, &total) < 0) return SEIZE_ENOMEM;
    seize_pool *pool, *own;
    if ((rc = pool_of(p, &pool, &own)) < 0) return rc;
    float *rows = seize_alloc_aligned(total, sizeof(float));
    if (!rows) {
        seize_pool_free(own);
        return SEIZE_ENOMEM;
    }
    memcpy(rows, after, n_queries * dim * sizeof(float));
    if (pair) memcpy(rows + n_queries * dim, before, n_queries * dim * sizeof(float));
    seize_normalize_rows(rows, n_rows, dim);
    rc = run_scan(g, rows, n_queries, pair, p->pos, p->neg, exclude, subsets, p, pool, out);
    free(rows);
    seize_pool_free(own);
    return rc;
}

int seize_search_ab(const seize_embeddings *g, const float *after, const float *before,
                    const uint32_t *rows, size_t n, float *a, float *b)
{
    size_t dim = g->dim;
    float *q = seize_alloc_aligned(dim ? 3 * dim : 1, sizeof(float));
    if (!q) return SEIZE_ENOMEM;
    memcpy(q, after, dim * sizeof(float));
    memcpy(q + dim, before, dim * sizeof(float));
    seize_normalize_rows(q, 2, dim);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (rows[i] >= g->n) {
            rc = seize_error(SEIZE_EINVAL, "search: row %u is not in the gallery", rows[i]);
            break;
        }
        const float *row = (const float *)g->data + (size_t)rows[i] * dim;
        if (g->dtype == SEIZE_F16) {
            const uint16_t *src = (const uint16_t *)g->data + (size_t)rows[i] * dim;
            for (size_t j = 0; j < dim; j++)
                q[2 * dim + j] = seize_f16_to_f32(src[j]);
            row = q + 2 * dim;
        }
        dot2(q, q + dim, row, dim, &a[i], &b[i]);
    }
    free(q);
    return rc;
}

// --- LDRE

// w = softmax(v / max(v) / 0.04) over the captions (uniform when max(v) = 0), where v_i sums
// the positive top-5 drops of caption i over all queries.
int seize_search_ldre_weights(const seize_search_result *drops, size_t n_queries, size_t n_captions,
                              double *w)
{
    if (!drops || drops->n_queries != n_queries * n_captions || !n_captions)
        return seize_error(SEIZE_EINVAL, "ldre: drops of %zu rows for %zu queries of %zu captions",
                           drops ? drops->n_queries : 0, n_queries, n_captions);
    double *v = seize_calloc(n_captions, sizeof *v);
    if (!v) return SEIZE_ENOMEM;
    for (size_t q = 0; q < n_queries; q++)
        for (size_t i = 0; i < n_captions; i++) {
            size_t row = q * n_captions + i;
            for (size_t j = 0; j < drops->n_ranked[row]; j++) {
                float d = drops->score[row * drops->k + j];
                if (d > 0) v[i] += d;
            }
        }
    double vmax = 0;
    for (size_t i = 0; i < n_captions; i++)
        vmax = v[i] > vmax ? v[i] : vmax;
    if (vmax > 0) {
        double zmax = -INFINITY, sum = 0;
        for (size_t i = 0; i < n_captions; i++) {
            w[i] = v[i] / vmax / 0.04;
            zmax = w[i] > zmax ? w[i] : zmax;
        }
        for (size_t i = 0; i < n_captions; i++)
            sum += (w[i] = exp(w[i] - zmax));
        for (size_t i = 0; i < n_captions; i++)
            w[i] /= sum;
    } else {
        for (size_t i = 0; i < n_captions; i++)
            w[i] = 1.0 / (double)n_captions;
    }
    free(v);
    return 0;
}

// Query vectors normalize(Σ_i w_i f_i) from the normalised per-caption rows f.
static void ldre_queries(const float *f, const double *w, size_t n_queries, size_t n_captions,
                         size_t dim, float *qv)
{
    for (size_t q = 0; q < n_queries; q++)
        for (size_t j = 0; j < dim; j++) {
            double acc = 0;
            for (size_t i = 0; i < n_captions; i++)
                acc += w[i] * f[(q * n_captions + i) * dim + j];
            qv[q * dim + j] = (float)acc;
        }
    seize_normalize_rows(qv, n_queries, dim);
}

// Checks the per-caption features and returns f = normalize(after) (and with `before` the
// rows h − f, h = normalize(before)), each [n_queries * n_captions, dim].
static int ldre_rows(const seize_embeddings *g, const float *after, const float *before,
                     size_t n_queries, size_t n_captions, const seize_search_params *p, float **f,
                     float **diff)
{
    *f = NULL;
    if (diff) *diff = NULL;
    int rc = check_common(g, n_queries, NULL, p);
    if (rc < 0) return rc;
    if (!n_captions) return seize_error(SEIZE_EINVAL, "ldre: no captions per query");
    size_t dim = g->dim, per_q, total;
    if (seize_mul_size(n_captions, dim, &per_q) < 0 || seize_mul_size(n_queries, per_q, &total) < 0)
        return SEIZE_ENOMEM;
    if ((rc = check_finite(after, n_queries, per_q, "after")) < 0) return rc;
    if (before && (rc = check_finite(before, n_queries, per_q, "before")) < 0) return rc;
    *f = seize_alloc_aligned(total ? total : 1, sizeof(float));
    if (!*f) return SEIZE_ENOMEM;
    memcpy(*f, after, total * sizeof(float));
    seize_normalize_rows(*f, n_queries * n_captions, dim);
    if (!before) return 0;
    float *d = *diff = seize_alloc_aligned(total ? total : 1, sizeof(float));
    if (!d) return SEIZE_ENOMEM;
    memcpy(d, before, total * sizeof(float));
    seize_normalize_rows(d, n_queries * n_captions, dim);
    // rows h_i − f_i: their top-5 similarities are the 5 largest drops −D_i
    for (size_t i = 0; i < total; i++)
        d[i] = d[i] - (*f)[i];
    return 0;
}

int seize_search_ldre_drops(const seize_embeddings *g, const float *after, const float *before,
                            size_t n_queries, size_t n_captions, const seize_search_params *p,
                            seize_search_result **drops)
{
    *drops = NULL;
    float *f = NULL, *diff = NULL;
    seize_pool *pool = NULL, *own = NULL;
    int rc = ldre_rows(g, after, before, n_queries, n_captions, p, &f, &diff);
    if (rc == 0) rc = pool_of(p, &pool, &own);
    if (rc == 0) {
        seize_search_params dp = *p;
        dp.k = 5;
        rc = run_scan(g, diff, n_queries * n_captions, 0, 0, 0, NULL, NULL, &dp, pool, drops);
    }
    seize_pool_free(own);
    free(f);
    free(diff);
    return rc;
}

int seize_search_ldre_rank(const seize_embeddings *g, const float *after, size_t n_queries,
                           size_t n_captions, const double *w, const size_t *exclude,
                           const seize_subsets *subsets, const seize_search_params *p,
                           seize_search_result **out)
{
    *out = NULL;
    float *f = NULL, *qv = NULL;
    seize_pool *pool = NULL, *own = NULL;
    int rc = ldre_rows(g, after, NULL, n_queries, n_captions, p, &f, NULL);
    if (rc == 0) rc = check_common(g, n_queries, exclude, p);
    if (rc == 0) rc = pool_of(p, &pool, &own);
    if (rc == 0 && !(qv = seize_alloc_aligned((n_queries ? n_queries : 1) * g->dim, sizeof(float))))
        rc = SEIZE_ENOMEM;
    if (rc == 0) {
        ldre_queries(f, w, n_queries, n_captions, g->dim, qv);
        rc = run_scan(g, qv, n_queries, 0, 0, 0, exclude, subsets, p, pool, out);
    }
    seize_pool_free(own);
    free(f);
    free(qv);
    return rc;
}

int seize_search_ldre(const seize_embeddings *g, const float *after, const float *before,
                      size_t n_queries, size_t n_captions, const size_t *exclude,
                      const seize_subsets *subsets, const seize_search_params *p, float *weights,
                      seize_search_result **out)
{
    *out = NULL;
    int rc = check_common(g, n_queries, exclude, p);
    if (rc < 0) return rc;
    if (!n_captions) return seize_error(SEIZE_EINVAL, "ldre: no captions per query");
    seize_pool *pool, *own;
    if ((rc = pool_of(p, &pool, &own)) < 0) return rc;
    seize_search_params lp = *p; // one pool for both passes
    lp.pool = pool;
    double *w = seize_calloc(n_captions, sizeof *w);
    seize_search_result *drops = NULL;
    rc = w ? seize_search_ldre_drops(g, after, before, n_queries, n_captions, &lp, &drops)
           : SEIZE_ENOMEM;
    if (rc == 0) rc = seize_search_ldre_weights(drops, n_queries, n_captions, w);
    if (rc == 0 && weights)
        for (size_t i = 0; i < n_captions; i++)
            weights[i] = (float)w[i];
    if (rc == 0)
        rc = seize_search_ldre_rank(g, after, n_queries, n_captions, w, exclude, subsets, &lp, out);
    seize_search_result_free(drops);
    seize_pool_free(own);
    free(w);
    return rc;
}
