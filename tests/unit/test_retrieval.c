// Unit tests for src/retrieval: the semantic editing search (SEIZE, mean, LDRE), checked against
// a direct double-precision evaluation of the §1 formula.
#include "check.h"

#include "seize/retrieval.h"

#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t rng = 88172645463325252ull;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static float nrand(void)
{
    return (float)((urand() + urand() + urand() + urand() - 2.0) * 1.7);
}

// --- reference: the formula evaluated directly in double, sorted by (score desc, row asc)

typedef struct {
    double s;
    size_t i;
} ref_item;

static int ref_cmp(const void *x, const void *y)
{
    const ref_item *a = x, *b = y;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static void normalize_d(const float *x, double *y, size_t dim)
{
    double ss = 0;
    for (size_t j = 0; j < dim; j++)
        ss += (double)x[j] * x[j];
    double n = sqrt(ss);
    if (n < 1e-12) n = 1e-12;
    for (size_t j = 0; j < dim; j++)
        y[j] = x[j] / n;
}

// Full reference ranking of query q (excluded row removed); returns its length.
static size_t ref_rank(const float *G, size_t n, size_t dim, const float *A, const float *B,
                       double pos, double neg, size_t ex, ref_item *out)
{
    double *a = malloc(dim * sizeof *a), *b = malloc(dim * sizeof *b), *g = malloc(dim * sizeof *g);
    normalize_d(A, a, dim);
    normalize_d(B ? B : A, b, dim);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == ex) continue;
        // gallery rows are used as stored (already normalised by the caller)
        for (size_t j = 0; j < dim; j++)
            g[j] = G[i * dim + j];
        double sa = 0, sb = 0;
        for (size_t j = 0; j < dim; j++)
            sa += a[j] * g[j], sb += b[j] * g[j];
        double d = sa - sb;
        out[m++] = (ref_item){sa + neg * (d < 0 ? d : 0) + pos * (d > 0 ? d : 0), i};
    }
    qsort(out, m, sizeof *out, ref_cmp);
    free(a);
    free(b);
    free(g);
    return m;
}

static void random_unit_rows(float *x, size_t n, size_t dim)
{
    for (size_t i = 0; i < n * dim; i++)
        x[i] = nrand();
    seize_normalize_rows(x, n, dim);
}

// Compares a search result with the reference: scores to 1e-5 and, position by position, the
// same row unless the two rows' reference scores are within float rounding of each other.
static int compare_random(const float *G, size_t n, size_t dim, const float *A, const float *B,
                          size_t n_q, const size_t *ex, double pos, double neg,
                          const seize_search_result *r, size_t k)
{
    ref_item *ref = malloc(n * sizeof *ref);
    double *full = malloc(n * sizeof *full);
    int bad = 0;
    for (size_t q = 0; q < n_q && !bad; q++) {
        size_t e = ex ? ex[q] : SIZE_MAX;
        size_t m = ref_rank(G, n, dim, A + q * dim, B ? B + q * dim : NULL, pos, neg, e, ref);
        size_t want = k < m ? k : m;
        if (r->n_ranked[q] != want) {
            fprintf(stderr, "  query %zu: %zu ranked, expected %zu\n", q, r->n_ranked[q], want);
            bad = 1;
            break;
        }
        for (size_t i = 0; i < n; i++)
            full[i] = NAN;
        for (size_t i = 0; i < m; i++)
            full[ref[i].i] = ref[i].s;
        for (size_t j = 0; j < want; j++) {
            uint32_t got = r->index[q * r->k + j];
            float s = r->score[q * r->k + j];
            if (got == e || isnan(full[got]) || fabs(full[got] - s) > 1e-5 ||
                fabs(ref[j].s - s) > 1e-5) {
                fprintf(stderr, "  query %zu pos %zu: row %u score %.8f, reference row %zu %.8f\n",
                        q, j, got, s, ref[j].i, ref[j].s);
                bad = 1;
                break;
            }
            if (got != ref[j].i && fabs(full[got] - ref[j].s) > 1e-6) {
                fprintf(stderr, "  query %zu pos %zu: row %u, reference row %zu (not a near tie)\n",
                        q, j, got, ref[j].i);
                bad = 1;
                break;
            }
            if (j > 0) { // our own order must be consistent with our scores and the tie rule
                float ps = r->score[q * r->k + j - 1];
                uint32_t pi = r->index[q * r->k + j - 1];
                if (ps < s || (ps == s && pi > got)) {
                    fprintf(stderr, "  query %zu: output not sorted at %zu\n", q, j);
                    bad = 1;
                    break;
                }
            }
        }
    }
    free(ref);
    free(full);
    return bad;
}

static void test_search_random(void)
{
    const size_t n = 1500, dim = 37, n_q = 11;
    float *G = malloc(n * dim * sizeof *G), *A = malloc(n_q * dim * sizeof *A),
          *B = malloc(n_q * dim * sizeof *B);
    size_t ex[11];
    random_unit_rows(G, n, dim);
    for (size_t i = 0; i < n_q * dim; i++)
        A[i] = nrand() * 3, B[i] = nrand();
    for (size_t q = 0; q < n_q; q++)
        ex[q] = q % 3 == 2 ? SIZE_MAX : (size_t)(urand() * n);
    const double pn[][2] = {{0.13, 2.1}, {0.22, 1.0}, {0, 0}, {1.5, 0.3}, {0.5, 0.5}, {0, 3}};
    const size_t blocks[] = {0, 64, 1000, 7};
    seize_embeddings g = {G, SEIZE_F32, n, dim};
    for (size_t c = 0; c < sizeof pn / sizeof pn[0]; c++)
        for (int v = 0; v < 4; v++) {
            int use_ex = v & 1, no_prune = v >> 1;
            seize_search_params p = seize_search_default_params();
            p.pos = (float)pn[c][0];
            p.neg = (float)pn[c][1];
            p.k = c == 3 ? n : 25; // one case ranks the whole gallery
            p.block_rows = blocks[c % 4];
            p.n_threads = 1 + (int)(c % 2);
            p.no_prune = no_prune;
            size_t n_exact = 0;
            p.stats_exact = &n_exact;
            seize_search_result *r = NULL;
            CHECK_EQ(seize_search(&g, A, B, n_q, use_ex ? ex : NULL, NULL, &p, &r), 0);
            int bad =
                compare_random(G, n, dim, A, B, n_q, use_ex ? ex : NULL, p.pos, p.neg, r, p.k);
            seize_search_result_free(r);
            CHECK_MSG(!bad, "pos %g neg %g exclude %d no_prune %d", pn[c][0], pn[c][1], use_ex,
                      no_prune);
            // the pruned search scores only a fraction of the rows exactly
            if (p.pos <= p.neg && p.pos + p.neg > 0 && !no_prune && p.k == 25)
                CHECK_MSG(n_exact < n_q * n / 2, "%zu exact scores of %zu", n_exact, n_q * n);
        }
    free(G);
    free(A);
    free(B);
}

// Dyadic data: unit rows whose entries are ±1, ±1/2 (4 entries) or ±1/4 (16 entries) and
// dyadic (pos, neg): every product and sum is exact in float and double, so the rankings
// must agree exactly, exact ties included (broken by row).
static void dyadic_rows(float *x, size_t n, size_t dim)
{
    for (size_t i = 0; i < n; i++) {
        float *v = x + i * dim;
        memset(v, 0, dim * sizeof *v);
        int kind = (int)(urand() * 3);
        size_t cnt = kind == 0 ? 1 : kind == 1 ? 4 : 16;
        float val = kind == 0 ? 1.0f : kind == 1 ? 0.5f : 0.25f;
        for (size_t c = 0; c < cnt; c++) { // cnt distinct positions
            size_t j;
            do
                j = (size_t)(urand() * dim);
            while (v[j] != 0);
            v[j] = urand() < 0.5 ? val : -val;
        }
    }
}

static void test_search_exact_dyadic(void)
{
    const size_t n = 700, dim = 16, n_q = 9;
    float *G = malloc(n * dim * sizeof *G), *A = malloc(n_q * dim * sizeof *A),
          *B = malloc(n_q * dim * sizeof *B);
    uint16_t *H = malloc(n * dim * sizeof *H);
    dyadic_rows(G, n, dim);
    dyadic_rows(A, n_q, dim);
    dyadic_rows(B, n_q, dim);
    for (size_t i = 0; i < n * dim; i++)
        H[i] = seize_f32_to_f16(G[i]);
    size_t ex[9];
    for (size_t q = 0; q < n_q; q++)
        ex[q] = q == 4 ? SIZE_MAX : (size_t)(urand() * n);
    const double pn[][2] = {{0.125, 2.0}, {0.25, 1.0}, {0, 0}, {0.5, 0.5}, {2.0, 0.25}};
    ref_item *ref = malloc(n * sizeof *ref);
    size_t n_ties = 0;
    for (size_t c = 0; c < sizeof pn / sizeof pn[0]; c++)
        for (int half = 0; half < 2; half++)
            for (int v = 0; v < 4; v++) {
                int use_ex = v & 1;
                seize_embeddings g = {half ? (const void *)H : (const void *)G,
                                      half ? SEIZE_F16 : SEIZE_F32, n, dim};
                seize_search_params p = seize_search_default_params();
                p.pos = (float)pn[c][0];
                p.neg = (float)pn[c][1];
                p.k = 60;
                p.block_rows = c == 1 ? 33 : 0;
                p.no_prune = v >> 1;
                seize_search_result *r = NULL;
                CHECK_EQ(seize_search(&g, A, B, n_q, use_ex ? ex : NULL, NULL, &p, &r), 0);
                for (size_t q = 0; q < n_q; q++) {
                    size_t e = use_ex ? ex[q] : SIZE_MAX;
                    size_t m = ref_rank(G, n, dim, A + q * dim, B + q * dim, p.pos, p.neg, e, ref);
                    CHECK_EQ(r->n_ranked[q], m < 60 ? m : 60);
                    for (size_t j = 0; j < r->n_ranked[q]; j++) {
                        CHECK_MSG(r->index[q * r->k + j] == ref[j].i,
                                  "case %zu half %d ex %d query %zu pos %zu: %u vs %zu", c, half,
                                  use_ex, q, j, r->index[q * r->k + j], ref[j].i);
                        CHECK(r->score[q * r->k + j] == (float)ref[j].s);
                        if (j && ref[j].s == ref[j - 1].s) n_ties++;
                    }
                }
                seize_search_result_free(r);
            }
    free(ref);
    free(G);
    free(H);
    free(A);
    free(B);
    CHECK(n_ties > 100); // the data really exercises the tie rule
}

static void test_search_chunks_and_subsets(void)
{
    // more queries than one chunk (2048), full rankings, subsets = restriction of the ranking
    const size_t n = 97, dim = 8, n_q = 2100;
    float *G = malloc(n * dim * sizeof *G), *A = malloc(n_q * dim * sizeof *A),
          *B = malloc(n_q * dim * sizeof *B);
    random_unit_rows(G, n, dim);
    for (size_t i = 0; i < n_q * dim; i++)
        A[i] = nrand(), B[i] = nrand();
    size_t *ex = malloc(n_q * sizeof *ex), *sub = malloc(n_q * 6 * sizeof *sub),
           *n_sub = malloc(n_q * sizeof *n_sub);
    const size_t **rows = malloc(n_q * sizeof *rows);
    for (size_t q = 0; q < n_q; q++) {
        ex[q] = (size_t)(urand() * n);
        n_sub[q] = 6;
        sub[q * 6] = ex[q]; // the reference is a member, as in CIRR
        for (int i = 1; i < 6; i++)
            sub[q * 6 + i] = (size_t)(urand() * n);
        rows[q] = sub + q * 6;
    }
    seize_subsets S = {rows, n_sub};
    seize_search_params p = seize_search_default_params();
    p.pos = 0.22f;
    p.neg = 1.0f;
    p.k = n;
    p.block_rows = 40;
    seize_embeddings g = {G, SEIZE_F32, n, dim};
    seize_search_result *r = NULL;
    CHECK_EQ(seize_search(&g, A, B, n_q, ex, &S, &p, &r), 0);
    CHECK(!compare_random(G, n, dim, A, B, n_q, ex, p.pos, p.neg, r, n));
    for (size_t q = 0; q < n_q; q++) {
        CHECK_EQ(r->n_ranked[q], n - 1);
        // expected subset: walk the global ranking and keep members
        size_t want[6], m = 0;
        for (size_t j = 0; j < r->n_ranked[q]; j++) {
            uint32_t row = r->index[q * r->k + j];
            for (int i = 1; i < 6; i++)
                if (sub[q * 6 + i] == row) {
                    want[m++] = row;
                    break;
                }
        }
        CHECK_EQ(r->subset_n[q], m);
        for (size_t i = 0; i < m; i++)
            CHECK_EQ(r->subset_index[r->subset_off[q] + i], want[i]);
    }
    seize_search_result_free(r);
    free(G);
    free(A);
    free(B);
    free(ex);
    free(sub);
    free(n_sub);
    free(rows);
}

static void test_search_errors(void)
{
    float G[8] = {1, 0, 0, 1, 0.6f, 0.8f, -1, 0};
    float A[2] = {1, NAN};
    seize_embeddings g = {G, SEIZE_F32, 4, 2};
    seize_search_params p = seize_search_default_params();
    seize_search_result *r = (void *)1;
    CHECK_EQ(seize_search(&g, A, A, 1, NULL, NULL, &p, &r), SEIZE_EINVAL);
    CHECK(r == NULL);
    CHECK(strstr(seize_errmsg(), "non-finite") != NULL);
    float Q[2] = {1, 0};
    size_t ex = 9;
    CHECK_EQ(seize_search(&g, Q, Q, 1, &ex, NULL, &p, &r), SEIZE_EINVAL);
    CHECK_EQ(seize_search(&g, Q, NULL, 1, NULL, NULL, &p, &r), SEIZE_EINVAL);
    // k larger than the gallery minus the exclusion, and a zero query (all scores 0: by row)
    ex = 0;
    p.k = 10;
    p.pos = p.neg = 0;
    float Z[2] = {0, 0};
    CHECK_EQ(seize_search(&g, Z, NULL, 1, &ex, NULL, &p, &r), 0);
    CHECK_EQ(r->n_ranked[0], 3);
    CHECK_EQ(r->index[0], 1);
    CHECK_EQ(r->index[1], 2);
    CHECK_EQ(r->index[2], 3);
    seize_search_result_free(r);
}

static void test_ldre(void)
{
    const size_t n = 300, dim = 12, n_q = 5, n_c = 4;
    float *G = malloc(n * dim * sizeof *G), *E = malloc(n_q * n_c * dim * sizeof *E),
          *C = malloc(n_q * n_c * dim * sizeof *C);
    random_unit_rows(G, n, dim);
    for (size_t i = 0; i < n_q * n_c * dim; i++)
        E[i] = nrand() * 2, C[i] = nrand();
    // reference weights
    double v[4] = {0};
    double *f = malloc(dim * sizeof *f), *h = malloc(dim * sizeof *h);
    double *D = malloc(n * sizeof *D);
    for (size_t q = 0; q < n_q; q++)
        for (size_t i = 0; i < n_c; i++) {
            normalize_d(E + (q * n_c + i) * dim, f, dim);
            normalize_d(C + (q * n_c + i) * dim, h, dim);
            for (size_t j = 0; j < n; j++) {
                double s = 0;
                for (size_t t = 0; t < dim; t++)
                    s += (f[t] - h[t]) * G[j * dim + t];
                D[j] = -s > 0 ? -s : 0; // drop
            }
            for (int top = 0; top < 5; top++) { // 5 largest drops
                size_t best = 0;
                for (size_t j = 1; j < n; j++)
                    if (D[j] > D[best]) best = j;
                v[i] += D[best];
                D[best] = -1;
            }
        }
    double vmax = 0, w[4], sum = 0;
    for (size_t i = 0; i < n_c; i++)
        vmax = v[i] > vmax ? v[i] : vmax;
    for (size_t i = 0; i < n_c; i++)
        sum += (w[i] = exp(v[i] / vmax / 0.04));
    for (size_t i = 0; i < n_c; i++)
        w[i] /= sum;
    // reference query vectors and rankings
    float *Qv = calloc(n_q * dim, sizeof *Qv);
    for (size_t q = 0; q < n_q; q++)
        for (size_t i = 0; i < n_c; i++) {
            normalize_d(E + (q * n_c + i) * dim, f, dim);
            for (size_t t = 0; t < dim; t++)
                Qv[q * dim + t] += (float)(w[i] * f[t]);
        }
    size_t ex[5] = {3, SIZE_MAX, 100, 299, 0};
    seize_embeddings g = {G, SEIZE_F32, n, dim};
    seize_search_params p = seize_search_default_params();
    p.k = 30;
    float got_w[4];
    seize_search_result *r = NULL;
    CHECK_EQ(seize_search_ldre(&g, E, C, n_q, n_c, ex, NULL, &p, got_w, &r), 0);
    for (size_t i = 0; i < n_c; i++)
        CHECK_NEAR(got_w[i], w[i], 1e-5);
    CHECK(!compare_random(G, n, dim, Qv, NULL, n_q, ex, 0, 0, r, 30));
    seize_search_result_free(r);
    free(G);
    free(E);
    free(C);
    free(f);
    free(h);
    free(D);
    free(Qv);
}

// The scan runs on the caller's pool, and the library leaves the BLAS thread count to the
// application (it once set it to the scan's thread count on every call).
static void test_search_pool_and_blas(void)
{
    const size_t n = 400, dim = 24, n_q = 7;
    float *G = malloc(n * dim * sizeof *G), *A = malloc(n_q * dim * sizeof *A),
          *B = malloc(n_q * dim * sizeof *B);
    random_unit_rows(G, n, dim);
    for (size_t i = 0; i < n_q * dim; i++)
        A[i] = nrand(), B[i] = nrand();
    seize_embeddings g = {G, SEIZE_F32, n, dim};
    seize_pool *pool = NULL;
    CHECK_EQ(seize_pool_new(3, &pool), 0);
    int blas_was = seize_blas_threads();
    seize_blas_threads_set(1);
    seize_search_params p = seize_search_default_params();
    p.k = 20;
    p.pool = pool;
    p.block_rows = 50;
    seize_search_result *r = NULL;
    for (int rep = 0; rep < 3; rep++) { // one pool, several searches
        CHECK_EQ(seize_search(&g, A, B, n_q, NULL, NULL, &p, &r), 0);
        int bad = compare_random(G, n, dim, A, B, n_q, NULL, p.pos, p.neg, r, p.k);
        seize_search_result_free(r);
        CHECK(!bad);
    }
    p.pool = NULL;
    p.n_threads = 4;
    CHECK_EQ(seize_search(&g, A, B, n_q, NULL, NULL, &p, &r), 0);
    seize_search_result_free(r);
    int blas_now = seize_blas_threads();
    seize_blas_threads_set(blas_was);
    CHECK_EQ(blas_now, 1);
    seize_pool_free(pool);
    free(G);
    free(A);
    free(B);
}

// --- query vectors

static char *qa_caps[2][3] = {{"a dog on a sofa", "a dog on a sofa", "a cat"},
                              {"a red car", "a street", "x"}};
static char *qa_eds[2][3] = {{"a dog on a bed", "a puppy", "a tiger"},
                             {"a blue car", "a road at night", "y"}};
static char *qa_ids[2] = {"q7", "q9"};

// Two in-memory queries (3 captions and 3 edits each; n_edits[1] can be lowered by the test).
static void qa_fill(seize_captions *c, char **caps[2], char **eds[2], size_t nc[2], size_t ne[2])
{
    for (int q = 0; q < 2; q++)
        caps[q] = qa_caps[q], eds[q] = qa_eds[q], nc[q] = ne[q] = 3;
    *c = (seize_captions){
        .n = 2, .ids = qa_ids, .captions = caps, .n_captions = nc, .edits = eds, .n_edits = ne};
}

static void test_query_vectors_check(void)
{
    seize_captions c, e;
    char **caps[2], **eds[2], **caps2[2], **eds2[2];
    size_t nc[2], ne[2], nc2[2], ne2[2], total = 0;
    qa_fill(&c, caps, eds, nc, ne);
    qa_fill(&e, caps2, eds2, nc2, ne2);
    seize_query_vectors_params p = seize_query_vectors_default_params();
    CHECK_EQ(p.n_use, 15);
    p.captions_name = "c.jsonl";
    p.edits_name = "e.jsonl";
    CHECK_EQ(seize_query_vectors_check(&c, NULL, &p, &total), 0);
    CHECK_EQ(total, 12);
    p.n_use = 2;
    CHECK_EQ(seize_query_vectors_check(&c, &e, &p, &total), 0);
    CHECK_EQ(total, 8);
    // per caption: every query needs n_use of each
    ne2[1] = 1;
    p.per_caption = 1;
    CHECK_EQ(seize_query_vectors_check(&c, &e, &p, NULL), SEIZE_EFORMAT);
    CHECK_STREQ(seize_errmsg(),
                "query 1 (id q9): 3 captions and 1 edits (need N of each with --per-caption)");
    p.per_caption = 0;
    CHECK_EQ(seize_query_vectors_check(&c, &e, &p, NULL), 0);
    ne2[1] = 0;
    CHECK_EQ(seize_query_vectors_check(&c, &e, &p, NULL), SEIZE_EFORMAT);
    CHECK_STREQ(seize_errmsg(),
                "query 1 (id q9): 3 captions and 0 edits (need at least one of each)");
    ne2[1] = 3;
    // the two files must pair up
    char *other_ids[2] = {"q7", "q8"};
    e.ids = other_ids;
    CHECK_EQ(seize_query_vectors_check(&c, &e, &p, NULL), SEIZE_EFORMAT);
    CHECK_STREQ(seize_errmsg(), "query 1: id 'q9' in 'c.jsonl' but 'q8' in 'e.jsonl'");
    e.ids = qa_ids;
    e.n = 1;
    CHECK_EQ(seize_query_vectors_check(&c, &e, &p, NULL), SEIZE_EFORMAT);
    CHECK_STREQ(seize_errmsg(), "'e.jsonl' has 1 queries but 'c.jsonl' has 2");
    // a text over the limit (captions built in memory: the loader refuses them from files)
    size_t big = SEIZE_MAX_CAPTION_BYTES + 1;
    char *huge = malloc(big + 1);
    memset(huge, 'a', big);
    huge[big] = 0;
    char *hc[3] = {"x", huge, "z"};
    caps[0] = hc;
    c.ids = NULL;
    int rc = seize_query_vectors_check(&c, NULL, &p, NULL);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", seize_errmsg());
    free(huge);
    CHECK_EQ(rc, SEIZE_EFORMAT);
    CHECK_STREQ(msg, "'c.jsonl': query 0: caption 2 has 65537 bytes, more than the limit of 65536");
}

static void test_query_vector_mean(void)
{
    float emb[3 * 2] = {3, 0, 3, 0, 0, 8}, out[2];
    seize_query_vector_mean(emb, 3, 2, out); // mean (2, 8/3), then L2
    double n = sqrt(4.0 + 64.0 / 9.0);
    CHECK_NEAR(out[0], 2.0 / n, 1e-7);
    CHECK_NEAR(out[1], (8.0 / 3.0) / n, 1e-7);
}

// A folder with one layout of a fixture model (the fixture folder holds both).
static const char *model_dir(const char *model)
{
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", check_tmp(""), model);
    mkdir(dir, 0755);
    const char *files[] = {"model.safetensors", "config.json", "vocab.json", "merges.txt"};
    for (int i = 0; i < 4; i++) {
        char rel[512], src[2048], dst[2048], cwd[1024];
        snprintf(rel, sizeof rel, "models/%s/%s", model, files[i]);
        const char *p = check_fixture_path(rel);
        if (p[0] == '/')
            snprintf(src, sizeof src, "%s", p);
        else if (getcwd(cwd, sizeof cwd))
            snprintf(src, sizeof src, "%s/%s", cwd, p);
        else
            return NULL;
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        unlink(dst);
        if (symlink(src, dst) != 0) return NULL;
    }
    return dir;
}

// A and B against each text encoded on its own and averaged here; per-caption rows are the
// raw embeddings of the first n_use texts.
static void test_query_vectors_encode(void)
{
    if (access(check_fixture_path("models/tiny-openai/model.safetensors"), R_OK) != 0)
        SKIP("no fixtures");
    const char *dir = model_dir("tiny-openai");
    CHECK(dir != NULL);
    seize_clip_model *m = NULL;
    seize_clip *clip = NULL;
    seize_tokenizer *tok = NULL;
    int blas_was = seize_blas_threads();
    seize_blas_threads_set(1); // the application's policy for the model, as the CLI's
    CHECK_EQ(seize_clip_model_load(dir, &m), 0);
    CHECK_EQ(seize_clip_new(m, 4, 2, &clip), 0);
    CHECK_EQ(seize_tokenizer_load(dir, &tok), 0);
    seize_captions c;
    char **caps[2], **eds[2];
    size_t nc[2], ne[2];
    qa_fill(&c, caps, eds, nc, ne);
    nc[1] = 2; // the second query has 2 captions
    size_t D = seize_clip_embed_dim(clip), ctx = (size_t)seize_clip_context_length(clip);
    seize_query_vectors_params p = seize_query_vectors_default_params();
    seize_query_vectors v = {0}, w = {0};
    CHECK_EQ(seize_query_vectors_encode(clip, tok, &c, NULL, &p, &v), 0);
    CHECK_EQ(v.n_queries, 2);
    CHECK_EQ(v.n_per_query, 1);
    CHECK_EQ(v.dim, D);
    CHECK_EQ(v.n_texts, 11);
    float *one = malloc(3 * D * sizeof *one), *want = malloc(D * sizeof *want);
    int32_t *ids = malloc(3 * ctx * sizeof *ids);
    int bad = 0;
    for (size_t q = 0; q < 2 && !bad; q++)
        for (int side = 0; side < 2 && !bad; side++) {
            size_t cnt = side ? nc[q] : ne[q];
            char **t = side ? caps[q] : eds[q];
            bad |=
                seize_tokenizer_encode_batch(tok, (const char *const *)t, cnt, (int)ctx, ids) < 0;
            bad |= seize_clip_encode_tokens(clip, ids, cnt, one) < 0;
            seize_query_vector_mean(one, cnt, D, want);
            const float *got = (side ? v.before : v.after) + q * D;
            for (size_t j = 0; j < D; j++)
                bad |= fabsf(got[j] - want[j]) > 1e-6f;
        }
    CHECK(!bad);
    // per caption, the first 2 of each
    p.per_caption = 1;
    p.n_use = 2;
    CHECK_EQ(seize_query_vectors_encode(clip, tok, &c, NULL, &p, &w), 0);
    CHECK_EQ(w.n_per_query, 2);
    CHECK_EQ(seize_tokenizer_encode_batch(tok, (const char *const *)caps[1], 2, (int)ctx, ids), 0);
    CHECK_EQ(seize_clip_encode_tokens(clip, ids, 2, one), 0);
    for (size_t j = 0; j < 2 * D; j++)
        CHECK_NEAR(w.before[2 * D + j], one[j], 1e-5); // raw, other batches
    CHECK_EQ(seize_query_vectors_save(&w, check_tmp("a.npy"), check_tmp("b.npy")), 0);
    seize_npy *a = NULL;
    CHECK_EQ(seize_npy_load(check_tmp("b.npy"), &a), 0);
    CHECK(a->ndim == 3 && a->shape[0] == 2 && a->shape[1] == 2 && a->shape[2] == D);
    seize_npy_free(a);
    free(one);
    free(want);
    free(ids);
    seize_query_vectors_release(&v);
    seize_query_vectors_release(&w);
    seize_tokenizer_free(tok);
    seize_clip_free(clip);
    seize_clip_model_free(m);
    seize_blas_threads_set(blas_was);
}

// --- rankings files

static const char *cirr_ann =
    "[{\"pairid\": 5, \"reference\": \"r\", \"caption\": \"c\", \"target_hard\": \"t\","
    "  \"img_set\": {\"members\": [\"r\", \"t\", \"m\"]}},"
    " {\"pairid\": 7, \"reference\": \"t\", \"caption\": \"d\", \"target_hard\": \"m\","
    "  \"img_set\": {\"members\": [\"t\", \"m\", \"r\"]}}]";

// A 4-image index ("r", "t", "m", "x") in folder `name` and the two queries of cirr_ann.
static const char *cirr_names[4] = {"r", "t", "m", "x"};
static void cirr_fixture(const char *name, seize_index **idx, seize_dataset **ds)
{
    float G[4 * 2] = {1, 0, 0, 1, 0.6f, 0.8f, -1, 0};
    CHECK_EQ(seize_index_write(check_tmp(name), G, 4, 2, cirr_names, SEIZE_F32, NULL), 0);
    CHECK_EQ(seize_index_open(check_tmp(name), idx), 0);
    CHECK_EQ(seize_dataset_parse(SEIZE_DS_CIRR, cirr_ann, strlen(cirr_ann), "cirr.json", NULL, ds),
             0);
}

// A search with subsets written, then read back by field: the same names in the same order.
static void test_rankings_roundtrip(void)
{
    seize_index *idx = NULL;
    seize_dataset *ds = NULL;
    cirr_fixture("rix", &idx, &ds);
    float A[2 * 2] = {0.8f, 0.6f, -0.2f, 1};
    size_t ex[2] = {0, 1}, rows0[3] = {0, 1, 2}, rows1[3] = {1, 2, 0}, n_rows[2] = {3, 3};
    const size_t *rows[2] = {rows0, rows1};
    seize_subsets S = {rows, n_rows};
    seize_search_params p = seize_search_default_params();
    p.pos = p.neg = 0;
    p.k = 3;
    p.n_threads = 1;
    seize_search_result *r = NULL;
    seize_embeddings g = seize_index_embeddings(idx);
    CHECK_EQ(seize_search(&g, A, NULL, 2, ex, &S, &p, &r), 0);
    const char *ids[2] = {"5", NULL};
    CHECK_EQ(seize_rankings_write(check_tmp("r.jsonl"), r, idx, "rix", ids), 0);
    seize_rankings *rk = NULL, *sub = NULL;
    CHECK_EQ(seize_rankings_read(ds, check_tmp("r.jsonl"), "ranking", &rk), 0);
    CHECK_EQ(seize_rankings_read(ds, check_tmp("r.jsonl"), "subset", &sub), 0);
    int bad = rk->n != 2 || sub->n != 2;
    for (size_t q = 0; q < 2 && !bad; q++) {
        bad |= rk->n_items[q] != r->n_ranked[q] || sub->n_items[q] != r->subset_n[q];
        for (size_t j = 0; !bad && j < rk->n_items[q]; j++)
            bad |= strcmp(rk->items[q][j], cirr_names[r->index[q * r->k + j]]) != 0;
        for (size_t j = 0; !bad && j < sub->n_items[q]; j++)
            bad |= strcmp(sub->items[q][j], cirr_names[r->subset_index[r->subset_off[q] + j]]) != 0;
    }
    seize_rankings_free(rk);
    seize_rankings_free(sub);
    CHECK(!bad);
    CHECK_EQ(r->n_ranked[0], 3);
    CHECK_EQ(r->subset_n[0], 2); // members minus the reference
    // the row as written: query number, lists, the id only where given
    char *text = NULL;
    size_t len = 0;
    CHECK_EQ(seize_read_file(check_tmp("r.jsonl"), &text, &len), 0);
    int ok = strncmp(text, "{\"query\":0,\"ranking\":[", 22) == 0 &&
             strstr(text, "\"subset_scores\":[") && strstr(text, ",\"id\":\"5\"}\n{\"query\":1,") &&
             !strstr(strchr(text, '\n') + 1, "\"id\"");
    free(text);
    CHECK(ok);
    // a file that misses a query: the count and the first id
    check_write_text(check_tmp("m.jsonl"), "\n{\"query\": 1, \"ranking\": [\"r\"]}\n");
    rk = (void *)1;
    CHECK_EQ(seize_rankings_read(ds, check_tmp("m.jsonl"), "ranking", &rk), SEIZE_EFORMAT);
    CHECK(rk == NULL);
    CHECK(
        strstr(seize_errmsg(), "m.jsonl': 1 of 2 queries have no predictions (first: query id 5)"));
    check_write_text(
        check_tmp("d.jsonl"),
        "{\"query\": 1, \"ranking\": []}\n{\"query\": 0, \"ranking\": []}\n{\"query\": 1}\n");
    CHECK_EQ(seize_rankings_read(ds, check_tmp("d.jsonl"), "ranking", &rk), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "d.jsonl' line 3: duplicate query 1 (first on line 1)"));
    seize_search_result_free(r);
    seize_dataset_free(ds);
    seize_index_free(idx);
}

// --- benchmark inputs

static void test_search_weights(void)
{
    seize_search_weights w = seize_search_weights_for(SEIZE_DS_CIRCO);
    CHECK(w.pos == 0.13 && w.neg == 2.1);
    w = seize_search_weights_for(SEIZE_DS_CIRR);
    CHECK(w.pos == 0.22 && w.neg == 1.0);
    w = seize_search_weights_for(SEIZE_DS_FASHIONIQ);
    CHECK(w.pos == 0.13 && w.neg == 2.1);
}

static void test_method_parse(void)
{
    seize_method m = SEIZE_METHOD_SEIZE;
    CHECK(seize_method_parse("ldre", &m) == 0 && m == SEIZE_METHOD_LDRE);
    CHECK(seize_method_parse("mean", &m) == 0 && m == SEIZE_METHOD_MEAN);
    CHECK(seize_method_parse("seize", NULL) == 0);
    CHECK_EQ(seize_method_parse("best", &m), SEIZE_EINVAL);
    CHECK_MSG(strstr(seize_errmsg(), "unknown method 'best' (seize, mean or ldre)"), "%s",
              seize_errmsg());
    CHECK(m == SEIZE_METHOD_MEAN && seize_method_parse(NULL, NULL) == SEIZE_EINVAL);
}

static void test_search_inputs(void)
{
    seize_index *idx = NULL;
    seize_dataset *ds = NULL;
    cirr_fixture("iix", &idx, &ds);
    seize_search_inputs in;
    CHECK_EQ(seize_search_inputs_dataset(ds, idx, &in), 0);
    int ok = in.n_queries == 2 && in.exclude[0] == 0 && in.exclude[1] == 1 && in.has_subsets &&
             in.subsets.n_rows[0] == 3 && in.subsets.rows[0][1] == 1 &&
             in.subsets.rows[1][0] == 1 && in.subsets.rows[1][2] == 0;
    seize_search_inputs_release(&in);
    CHECK(ok);
    // a reference that is not in the gallery: the query id and the name
    seize_dataset_free(ds);
    const char *bad = "[{\"pairid\": 5, \"reference\": \"zz\", \"caption\": \"c\", \"img_set\": "
                      "{\"members\": [\"r\"]}}]";
    CHECK_EQ(seize_dataset_parse(SEIZE_DS_CIRR, bad, strlen(bad), "cirr.json", NULL, &ds), 0);
    CHECK_EQ(seize_search_inputs_dataset(ds, idx, &in), SEIZE_ENOTFOUND);
    CHECK(in.exclude == NULL);
    CHECK_MSG(strstr(seize_errmsg(), "query 5: reference: ") && strstr(seize_errmsg(), "zz"), "%s",
              seize_errmsg());
    seize_dataset_free(ds);
    // files: an empty line (no reference), the last line missing; subsets split on blanks
    check_write_text(check_tmp("ex.txt"), "  t\n\nm\n");
    check_write_text(check_tmp("sub.txt"), "r t\tm\n\nx\nr\n");
    CHECK_EQ(seize_search_inputs_files(idx, 4, check_tmp("ex.txt"), check_tmp("sub.txt"), &in), 0);
    ok = in.exclude[0] == 1 && in.exclude[1] == SIZE_MAX && in.exclude[2] == 2 &&
         in.exclude[3] == SIZE_MAX && in.has_subsets && in.subsets.n_rows[0] == 3 &&
         in.subsets.rows[0][2] == 2 && in.subsets.n_rows[1] == 0 && in.subsets.rows[2][0] == 3;
    seize_search_inputs_release(&in);
    CHECK(ok);
    CHECK_EQ(seize_search_inputs_files(idx, 4, NULL, NULL, &in), 0);
    ok = !in.has_subsets && in.exclude[3] == SIZE_MAX;
    seize_search_inputs_release(&in);
    CHECK(ok);
    CHECK_EQ(seize_search_inputs_files(idx, 5, check_tmp("ex.txt"), NULL, &in), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "ex.txt' has 3 lines but there are 5 queries"));
    CHECK_EQ(seize_search_inputs_files(idx, 3, NULL, check_tmp("sub.txt"), &in), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "sub.txt' has 4 lines but there are 3 queries"));
    check_write_text(check_tmp("sub2.txt"), "r\nr nope\n");
    CHECK_EQ(seize_search_inputs_files(idx, 2, NULL, check_tmp("sub2.txt"), &in), SEIZE_ENOTFOUND);
    CHECK_MSG(strstr(seize_errmsg(), "sub2.txt' line 2: ") && strstr(seize_errmsg(), "nope"), "%s",
              seize_errmsg());
    seize_index_free(idx);
}

// --- files: query arrays, a whole search, embedding files, query vectors

static void test_search_queries_load(void)
{
    float a[6] = {1, 0, 0, 1, 1, 1}, c[12] = {0};
    int32_t ints[6] = {0};
    size_t s32[2] = {3, 2}, s22[2] = {2, 2}, s322[3] = {3, 2, 2};
    CHECK_EQ(seize_npy_save(check_tmp("qa.npy"), SEIZE_F32, 2, s32, a), 0);
    CHECK_EQ(seize_npy_save(check_tmp("qb.npy"), SEIZE_F32, 2, s32, a), 0);
    CHECK_EQ(seize_npy_save(check_tmp("q22.npy"), SEIZE_F32, 2, s22, a), 0);
    CHECK_EQ(seize_npy_save(check_tmp("q3d.npy"), SEIZE_F32, 3, s322, c), 0);
    CHECK_EQ(seize_npy_save(check_tmp("qi.npy"), SEIZE_I32, 2, s32, ints), 0);
    seize_npy *A = NULL, *B = NULL;
    CHECK_EQ(seize_search_queries_load(check_tmp("qa.npy"), check_tmp("qb.npy"), 0, 2, &A, &B), 0);
    int ok = A && B && A->shape[0] == 3 && B->shape[1] == 2 && ((float *)B->data)[5] == 1;
    seize_npy_free(A);
    seize_npy_free(B);
    CHECK(ok);
    CHECK_EQ(seize_search_queries_load(check_tmp("qa.npy"), NULL, 0, 0, &A, &B), 0);
    ok = A && !B;
    seize_npy_free(A);
    CHECK(ok);
    CHECK_EQ(seize_search_queries_load(check_tmp("qa.npy"), NULL, 0, 5, &A, &B), SEIZE_ESHAPE);
    CHECK(A == NULL && strstr(seize_errmsg(), "qa.npy' has dimension 2 but the index has 5"));
    CHECK_EQ(seize_search_queries_load(check_tmp("qa.npy"), check_tmp("q22.npy"), 0, 2, &A, &B),
             SEIZE_ESHAPE);
    CHECK(A == NULL && B == NULL && strstr(seize_errmsg(), "q22.npy' have different shapes"));
    CHECK_EQ(seize_search_queries_load(check_tmp("qi.npy"), NULL, 0, 2, &A, &B), SEIZE_ESHAPE);
    CHECK(strstr(seize_errmsg(), "qi.npy': expected a float array of shape [queries, dim]"));
    CHECK_EQ(seize_search_queries_load(check_tmp("q3d.npy"), NULL, 0, 2, &A, &B), SEIZE_ESHAPE);
    CHECK_EQ(seize_search_queries_load(check_tmp("q3d.npy"), check_tmp("q3d.npy"), 1, 2, &A, &B),
             0);
    ok = A->ndim == 3 && B->ndim == 3;
    seize_npy_free(A);
    seize_npy_free(B);
    CHECK(ok);
    CHECK_EQ(seize_search_queries_load(check_tmp("qa.npy"), NULL, 1, 2, &A, &B), SEIZE_ESHAPE);
    CHECK(strstr(seize_errmsg(), "[queries, captions, dim]"));
}

// The whole search from files: the same rankings as seize_search on the arrays.
static void test_search_files_run(void)
{
    float G[4 * 2] = {1, 0, 0, 1, 0.6f, 0.8f, -1, 0}, A[2 * 2] = {1, 0, 0, 1};
    const char *names[4] = {"r", "t", "m", "x"};
    size_t shape[2] = {2, 2};
    CHECK_EQ(seize_index_write(check_tmp("fix"), G, 4, 2, names, SEIZE_F32, NULL), 0);
    CHECK_EQ(seize_npy_save(check_tmp("fa.npy"), SEIZE_F32, 2, shape, A), 0);
    check_write_text(check_tmp("fex.txt"), "r\n\n");
    seize_search_files f = seize_search_files_default();
    f.index_dir = check_tmp("fix");
    f.after = check_tmp("fa.npy");
    f.out = check_tmp("f.jsonl");
    f.exclude = check_tmp("fex.txt");
    f.method = SEIZE_METHOD_MEAN;
    f.params.n_threads = 1;
    CHECK_EQ(seize_search_files_run(&f), 0);
    char *text = NULL;
    size_t len = 0;
    CHECK_EQ(seize_read_file(check_tmp("f.jsonl"), &text, &len), 0);
    // query 0 (A = [1, 0], "r" excluded): m (0.6), t (0), x (-1); query 1: t, m, r, x
    int ok = strstr(text, "{\"query\":0,\"ranking\":[\"m\",\"t\",\"x\"]") &&
             strstr(text, "{\"query\":1,\"ranking\":[\"t\",\"m\",\"r\",\"x\"]");
    CHECK_MSG(ok, "%s", text);
    free(text);
    f.method = SEIZE_METHOD_SEIZE; // needs B
    CHECK_EQ(seize_search_files_run(&f), SEIZE_EINVAL);
    f.method = SEIZE_METHOD_MEAN;
    f.exclude = NULL;
    f.annotations = check_tmp("fcirr.json");
    f.kind = SEIZE_DS_CIRR;
    check_write_text(f.annotations, "[]");
    CHECK(seize_search_files_run(&f) < 0);
    CHECK_MSG(strstr(seize_errmsg(), "fcirr.json' has 0 queries but ") &&
                  strstr(seize_errmsg(), "fa.npy' has 2 rows"),
              "%s", seize_errmsg());
}

static void test_encode_side_path(void)
{
    char *a = seize_encode_side_path("x/out.npy", ".names.txt"),
         *b = seize_encode_side_path("out.bin", ".failed.txt");
    int ok = a && b && !strcmp(a, "x/out.names.txt") && !strcmp(b, "out.bin.failed.txt");
    free(a);
    free(b);
    CHECK(ok);
}

static size_t n_bad_seen;
static void count_bad(void *ud, const char *path, const char *msg)
{
    n_bad_seen += strstr(msg, path) != NULL;
}

// Images: the rows of the good images in order; with skip_bad the side files; without it
// the first bad image is the error and nothing is written.
static void test_encode_images_npy(void)
{
    if (access(check_fixture_path("models/tiny-openai/model.safetensors"), R_OK) != 0)
        SKIP("no fixtures");
    const char *dir = model_dir("tiny-openai");
    CHECK(dir != NULL);
    char img[3][1024]; // (check_tmp's and check_fixture_path's buffers are reused)
    snprintf(img[0], sizeof img[0], "%s", check_fixture_path("images/rocket.jpg"));
    snprintf(img[1], sizeof img[1], "%s", check_fixture_path("images/logo.png"));
    snprintf(img[2], sizeof img[2], "%s", check_tmp("fake.png"));
    check_write_text(img[2], "not an image");
    const char *good[2] = {img[0], img[1]}, *mixed[3] = {img[0], img[2], img[1]};
    seize_encode_params p = seize_encode_default_params();
    p.max_batch = 2, p.n_threads = 1;
    CHECK_EQ(seize_encode_images_dir(dir, good, 2, check_tmp("good.npy"), &p, NULL), 0);
    CHECK_EQ(seize_encode_images_dir(dir, mixed, 3, check_tmp("bad.npy"), &p, NULL), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "fake.png") && access(check_tmp("bad.npy"), F_OK) != 0);
    p.skip_bad = 1, p.on_bad = count_bad, n_bad_seen = 0;
    size_t n_bad = 0;
    CHECK_EQ(seize_encode_images_dir(dir, mixed, 3, check_tmp("skip.npy"), &p, &n_bad), 0);
    CHECK(n_bad == 1 && n_bad_seen == 1);
    seize_npy *g = NULL, *k = NULL;
    CHECK_EQ(seize_npy_load(check_tmp("good.npy"), &g), 0);
    CHECK_EQ(seize_npy_load(check_tmp("skip.npy"), &k), 0);
    // the same rows, to float32 rounding: an fp32 product's last bits may depend on the batch
    // (oneDNN's AVX2 kernels; OpenBLAS's Haswell ones before) — here 2 images vs 1 + 1
    int ok = g->shape[0] == 2 && k->shape[0] == 2 && g->shape[1] == k->shape[1];
    for (size_t i = 0; ok && i < 2 * g->shape[1]; i++)
        ok = fabsf(seize_npy_f32(g)[i] - seize_npy_f32(k)[i]) <= 1e-5f;
    seize_npy_free(g);
    seize_npy_free(k);
    CHECK(ok);
    char *names = NULL, *failed = NULL, want[4096];
    size_t len;
    CHECK_EQ(seize_read_file(check_tmp("skip.names.txt"), &names, &len), 0);
    CHECK_EQ(seize_read_file(check_tmp("skip.failed.txt"), &failed, &len), 0);
    snprintf(want, sizeof want, "%s\n%s\n", img[0], img[1]);
    ok = !strcmp(names, want) && !strncmp(failed, mixed[1], strlen(mixed[1])) &&
         failed[strlen(mixed[1])] == '\t';
    free(names);
    free(failed);
    CHECK(ok);
}

// With skip_bad, a list of failed images that cannot be written (a file size limit here) is
// an error naming that file; run in a child (the limit is process-wide).
static void test_encode_failed_unwritable(void)
{
    if (access(check_fixture_path("models/tiny-openai/model.safetensors"), R_OK) != 0)
        SKIP("no fixtures");
    const char *dir = model_dir("tiny-openai");
    CHECK(dir != NULL);
    char img[41][1024], out[1024];
    const char *paths[41];
    snprintf(img[0], sizeof img[0], "%s", check_fixture_path("images/rocket.jpg"));
    for (int i = 1; i < 41; i++) { // some 8 KiB of failed lines: more than a stdio buffer
        snprintf(img[i], sizeof img[i], "%s", check_tmp(""));
        snprintf(img[i] + strlen(img[i]), sizeof img[i] - strlen(img[i]),
                 "not-an-image-with-a-long-name-for-a-long-line-%02d.png", i);
        check_write_text(img[i], "not an image");
    }
    for (int i = 0; i < 41; i++)
        paths[i] = img[i];
    snprintf(out, sizeof out, "%s", check_tmp("lim.npy"));
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct rlimit lim = {3000, 3000};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &lim);
        seize_encode_params p = seize_encode_default_params();
        p.max_batch = 2, p.n_threads = 1, p.skip_bad = 1;
        int rc = seize_encode_images_dir(dir, paths, 41, out, &p, NULL);
        int ok = rc == SEIZE_EIO && strstr(seize_errmsg(), "cannot write '") &&
                 strstr(seize_errmsg(), "lim.failed.txt': ");
        if (!ok) fprintf(stderr, "  rc %d: %s\n", rc, seize_errmsg());
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

// Texts: normalised rows; a text over the limit is refused naming its line, before loading.
static void test_encode_texts_npy(void)
{
    if (access(check_fixture_path("models/tiny-openai/model.safetensors"), R_OK) != 0)
        SKIP("no fixtures");
    const char *dir = model_dir("tiny-openai");
    CHECK(dir != NULL);
    const char *texts[3] = {"a photo of a cat", "", "a dog"};
    seize_encode_params p = seize_encode_default_params();
    p.normalize = 1, p.n_threads = 1;
    CHECK_EQ(seize_encode_texts_dir(dir, texts, 3, check_tmp("t.npy"), &p), 0);
    seize_npy *t = NULL;
    CHECK_EQ(seize_npy_load(check_tmp("t.npy"), &t), 0);
    double ss = 0;
    for (size_t j = 0; j < t->shape[1]; j++)
        ss += (double)((float *)t->data)[2 * t->shape[1] + j] *
              ((float *)t->data)[2 * t->shape[1] + j];
    int ok = t->shape[0] == 3 && fabs(ss - 1) < 1e-5;
    seize_npy_free(t);
    CHECK(ok);
    char *big = malloc(SEIZE_TEXT_MAX_BYTES + 2);
    CHECK(big != NULL);
    memset(big, 'w', SEIZE_TEXT_MAX_BYTES + 1);
    big[SEIZE_TEXT_MAX_BYTES + 1] = 0;
    const char *two[2] = {"ok", big};
    p.texts_file = "in.txt";
    int rc = seize_encode_texts_dir("/nonexistent-model", two, 2, check_tmp("t2.npy"), &p);
    free(big);
    CHECK_EQ(rc, SEIZE_EINVAL);
    CHECK_MSG(strstr(seize_errmsg(), "'in.txt' line 2: 65537 bytes, more than the limit"), "%s",
              seize_errmsg());
    // a tokenizer with an id the model lacks: refused naming the model folder
    char vocab[2048], *text = NULL;
    size_t len;
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    CHECK_EQ(seize_read_file(vocab, &text, &len), 0);
    CHECK(len > 2 && text[len - 1] == '}');
    unlink(vocab);
    FILE *fp = fopen(vocab, "w");
    CHECK(fp != NULL);
    fprintf(fp, "%.*s, \"zzqqxx</w>\": 49408}", (int)(len - 1), text);
    fclose(fp);
    free(text);
    rc = seize_encode_texts_dir(dir, texts, 3, check_tmp("t3.npy"), &p);
    CHECK_EQ(rc, SEIZE_EINVAL);
    CHECK_MSG(strstr(seize_errmsg(), "the tokenizer of '") && strstr(seize_errmsg(), dir) &&
                  strstr(seize_errmsg(), "has 49409 ids but the model only 49408"),
              "%s", seize_errmsg());
}

// The lowest cosine between the rows of two [n, d] float32 .npy files (-2 when unreadable or
// of other shapes).
static double min_row_cosine(const char *a_path, const char *b_path)
{
    seize_npy *a = NULL, *b = NULL;
    double worst = -2;
    if (seize_npy_load(a_path, &a) == 0 && seize_npy_load(b_path, &b) == 0 &&
        a->shape[0] == b->shape[0] && a->shape[1] == b->shape[1]) {
        const float *x = a->data, *y = b->data;
        size_t d = a->shape[1];
        worst = 2;
        for (size_t i = 0; i < a->shape[0]; i++) {
            double xy = 0, xx = 0, yy = 0;
            for (size_t j = 0; j < d; j++) {
                xy += (double)x[i * d + j] * y[i * d + j];
                xx += (double)x[i * d + j] * x[i * d + j];
                yy += (double)y[i * d + j] * y[i * d + j];
            }
            double c = xy / sqrt(xx * yy);
            worst = c < worst ? c : worst;
        }
    }
    seize_npy_free(a);
    seize_npy_free(b);
    return worst;
}

// seize_encode_params.precision reaches the _dir calls' CLIP state: default fp32; bf16 and
// int8 rows within cosine 0.999 / 0.99 of fp32's, and not all equal to them (the mode was
// applied).
static void test_encode_precision(void)
{
    if (access(check_fixture_path("models/tiny-openai/model.safetensors"), R_OK) != 0)
        SKIP("no fixtures");
    const char *dir = model_dir("tiny-openai");
    CHECK(dir != NULL);
    const char *texts[3] = {"a photo of a cat", "", "a dog on a red sofa"};
    seize_encode_params p = seize_encode_default_params();
    CHECK_EQ(p.precision, SEIZE_PRECISION_FP32);
    p.n_threads = 1;
    char ref[1024];
    snprintf(ref, sizeof ref, "%s", check_tmp("p32.npy"));
    CHECK_EQ(seize_encode_texts_dir(dir, texts, 3, ref, &p), 0);
    const seize_precision modes[2] = {SEIZE_PRECISION_BF16, SEIZE_PRECISION_INT8};
    const double floors[2] = {0.999, 0.99};
    for (int m = 0; m < 2; m++) {
        p.precision = modes[m];
        const char *name = seize_precision_name(modes[m]);
        int rc = seize_encode_texts_dir(dir, texts, 3, check_tmp("pq.npy"), &p);
        CHECK_MSG(rc == 0, "%s: %s", name, seize_errmsg());
        double c = rc == 0 ? min_row_cosine(ref, check_tmp("pq.npy")) : 0;
        CHECK_MSG(c >= floors[m] && c < 1, "%s: cosine %.7f", name, c);
    }
}

static size_t qf_started = SIZE_MAX;
static void qf_on_start(void *ud, size_t n_texts)
{
    qf_started = n_texts;
}

// The step from files: captions checked before the model is loaded, then A and B saved.
static void test_query_vectors_files(void)
{
    if (access(check_fixture_path("models/tiny-openai/model.safetensors"), R_OK) != 0)
        SKIP("no fixtures");
    const char *dir = model_dir("tiny-openai");
    CHECK(dir != NULL);
    check_write_text(check_tmp("qc.jsonl"),
                     "{\"captions\": [\"a dog\", \"a cat\"], \"edited\": [\"a puppy\"]}\n"
                     "{\"captions\": [\"a car\"], \"edited\": [\"a red car\", \"a bus\"]}\n");
    char caps[1024], out_a[1024], out_b[1024]; // (check_tmp's buffers are reused)
    snprintf(caps, sizeof caps, "%s", check_tmp("qc.jsonl"));
    snprintf(out_a, sizeof out_a, "%s", check_tmp("qA.npy"));
    snprintf(out_b, sizeof out_b, "%s", check_tmp("qB.npy"));
    seize_query_vectors_files f = {.model_dir = "/nonexistent-model",
                                   .captions = caps,
                                   .out_after = out_a,
                                   .out_before = out_b,
                                   .max_batch = 4,
                                   .n_threads = 1,
                                   .params = seize_query_vectors_default_params()};
    f.params.on_start = qf_on_start;
    seize_query_vectors v;
    f.params.n_use = 2, f.params.per_caption = 1; // too few: refused before the model
    CHECK_EQ(seize_query_vectors_files_run(&f, &v), SEIZE_EFORMAT);
    CHECK_MSG(strstr(seize_errmsg(), "query 0: 2 captions and 1 edits") && qf_started == SIZE_MAX,
              "%s", seize_errmsg());
    f.params.per_caption = 0, f.model_dir = dir;
    CHECK_EQ(seize_query_vectors_files_run(&f, &v), 0);
    int ok = v.n_queries == 2 && v.n_texts == 6 && qf_started == 6 && access(out_a, R_OK) == 0 &&
             access(out_b, R_OK) == 0;
    seize_query_vectors_release(&v);
    CHECK(ok);
}

int main(void)
{
    if (check_tmp_init("retrieval") < 0) return 1;
    RUN(test_search_random);
    RUN(test_search_exact_dyadic);
    RUN(test_search_chunks_and_subsets);
    RUN(test_search_errors);
    RUN(test_ldre);
    RUN(test_search_pool_and_blas);
    RUN(test_query_vectors_check);
    RUN(test_query_vector_mean);
    RUN(test_query_vectors_encode);
    RUN(test_rankings_roundtrip);
    RUN(test_search_weights);
    RUN(test_method_parse);
    RUN(test_search_inputs);
    RUN(test_search_queries_load);
    RUN(test_search_files_run);
    RUN(test_encode_side_path);
    RUN(test_encode_images_npy);
    RUN(test_encode_failed_unwritable);
    RUN(test_encode_texts_npy);
    RUN(test_query_vectors_files);
    RUN(test_encode_precision);
    check_tmp_cleanup();
    return check_summary("retrieval");
}
