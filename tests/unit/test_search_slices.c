// Unit tests for the scale-out's search pieces (seize/retrieval.h): a row's score does not depend
// on the block, thread count or slice it was searched in, and per-slice searches merged with
// seize_search_result_merge equal the whole gallery's search bit for bit (SEIZE, mean, the
// neg < pos estimate, LDRE; exclusions and subsets; float32 and float16 galleries).
#include "check.h"

#include "seize/retrieval.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
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

enum { N = 1300, DIM = 40, NQ = 13, NC = 3 };

typedef struct {
    float *G;
    uint16_t *H;
    float *A, *B;  // [NQ, DIM]
    float *E, *C;  // [NQ, NC, DIM] for LDRE
    size_t ex[NQ]; // exclusions
    size_t sub[NQ * 8], n_sub[NQ];
    const size_t *rows[NQ];
    seize_subsets S;
} data;

static void data_make(data *d)
{
    d->G = malloc(N * DIM * sizeof *d->G);
    d->H = malloc(N * DIM * sizeof *d->H);
    d->A = malloc(NQ * DIM * sizeof *d->A);
    d->B = malloc(NQ * DIM * sizeof *d->B);
    d->E = malloc(NQ * NC * DIM * sizeof *d->E);
    d->C = malloc(NQ * NC * DIM * sizeof *d->C);
    for (size_t i = 0; i < N * DIM; i++)
        d->G[i] = nrand();
    // a few duplicated rows: exact ties between slices, broken by row
    for (size_t i = 0; i < 40; i++)
        memcpy(d->G + (N - 1 - i * 31) * DIM, d->G + i * 17 * DIM, DIM * sizeof *d->G);
    seize_normalize_rows(d->G, N, DIM);
    for (size_t i = 0; i < N * DIM; i++)
        d->H[i] = seize_f32_to_f16(d->G[i]);
    for (size_t i = 0; i < NQ * DIM; i++)
        d->A[i] = nrand() * 2, d->B[i] = nrand();
    for (size_t i = 0; i < NQ * NC * DIM; i++)
        d->E[i] = nrand() * 2, d->C[i] = nrand();
    for (size_t q = 0; q < NQ; q++) {
        d->ex[q] = q % 4 == 3 ? SIZE_MAX : (size_t)(urand() * N);
        d->n_sub[q] = 1 + q % 8;
        for (size_t i = 0; i < d->n_sub[q]; i++)
            d->sub[q * 8 + i] = i == 0 && d->ex[q] != SIZE_MAX ? d->ex[q] : (size_t)(urand() * N);
        d->rows[q] = d->sub + q * 8;
    }
    d->S = (seize_subsets){d->rows, d->n_sub};
}

static void data_free(data *d)
{
    free(d->G);
    free(d->H);
    free(d->A);
    free(d->B);
    free(d->E);
    free(d->C);
}

static int same_result(const seize_search_result *x, const seize_search_result *y)
{
    if (x->n_queries != y->n_queries || x->k != y->k || !x->subset_off != !y->subset_off) return 0;
    for (size_t q = 0; q < x->n_queries; q++) {
        if (x->n_ranked[q] != y->n_ranked[q]) return 0;
        size_t o = q * x->k, m = x->n_ranked[q];
        if (memcmp(x->index + o, y->index + o, m * sizeof *x->index) ||
            memcmp(x->score + o, y->score + o, m * sizeof *x->score))
            return 0;
        if (!x->subset_off) continue;
        size_t so = x->subset_off[q], sm = x->subset_n[q];
        if (sm != y->subset_n[q] || so != y->subset_off[q] ||
            memcmp(x->subset_index + so, y->subset_index + so, sm * sizeof *x->subset_index) ||
            memcmp(x->subset_score + so, y->subset_score + so, sm * sizeof *x->subset_score))
            return 0;
    }
    return 1;
}

// One search of method m (0 seize, 1 seize with neg < pos, 2 mean, 3 ldre) of rows
// [row0, row0 + n) of the gallery (n_total rows in all).
static int search_part(const data *d, int half, int m, size_t row0, size_t n, size_t n_total,
                       seize_search_params p, seize_search_result **r)
{
    const void *base = half ? (const void *)(d->H + row0 * DIM) : (const void *)(d->G + row0 * DIM);
    seize_embeddings g = {base, half ? SEIZE_F16 : SEIZE_F32, n, DIM};
    p.row0 = row0;
    p.n_total = n_total;
    if (m == 1) p.pos = 1.5f, p.neg = 0.3f;
    if (m == 2) p.pos = p.neg = 0;
    if (m == 3) return seize_search_ldre(&g, d->E, d->C, NQ, NC, d->ex, &d->S, &p, NULL, r);
    return seize_search(&g, d->A, d->B, NQ, d->ex, &d->S, &p, r);
}

// The same result for other blocks and thread counts.
static void test_blocks_and_threads(void)
{
    data d;
    data_make(&d);
    const size_t blocks[] = {7, 64, 333, 5000};
    for (int half = 0; half < 2; half++)
        for (int m = 0; m < 4; m++) {
            seize_search_params p = seize_search_default_params();
            p.k = 40;
            p.n_threads = 1;
            seize_search_result *ref = NULL;
            CHECK_EQ(search_part(&d, half, m, 0, N, 0, p, &ref), 0);
            for (size_t b = 0; b < 4; b++) {
                p.block_rows = blocks[b];
                p.n_threads = 1 + (int)(b % 2);
                seize_search_result *r = NULL;
                CHECK_EQ(search_part(&d, half, m, 0, N, 0, p, &r), 0);
                CHECK_MSG(same_result(ref, r), "half %d method %d block %zu", half, m, blocks[b]);
                seize_search_result_free(r);
            }
            seize_search_result_free(ref);
        }
    data_free(&d);
}

// Slices at uneven cuts (one empty, one of a single row) merged: the whole gallery's result.
static void test_slices_merge(void)
{
    data d;
    data_make(&d);
    const size_t cuts[][6] = {{0, N, N, N, N, N},
                              {0, 650, N, N, N, N},
                              {0, 1, 2, 777, 778, N},
                              {0, 0, 413, 413, 1000, N},
                              {0, 199, 400, 901, 1299, N}};
    for (int half = 0; half < 2; half++)
        for (int m = 0; m < 3; m++) // (LDRE: test_ldre_steps)
            for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
                seize_search_params p = seize_search_default_params();
                p.k = m == 2 ? N : 30; // mean ranks the whole gallery
                p.n_threads = 2;
                seize_search_result *ref = NULL, *parts[5] = {0}, *r = NULL;
                CHECK_EQ(search_part(&d, half, m, 0, N, 0, p, &ref), 0);
                p.block_rows = 97; // other blocks than the reference
                for (int i = 0; i < 5; i++)
                    CHECK_EQ(search_part(&d, half, m, cuts[c][i], cuts[c][i + 1] - cuts[c][i], N, p,
                                         &parts[i]),
                             0);
                CHECK_EQ(
                    seize_search_result_merge((const seize_search_result *const *)parts, 5, &r), 0);
                CHECK_MSG(same_result(ref, r), "half %d method %d cuts %zu", half, m, c);
                seize_search_result_free(r);
                seize_search_result_free(ref);
                for (int i = 0; i < 5; i++)
                    seize_search_result_free(parts[i]);
            }
    data_free(&d);
}

// LDRE step by step: the drops of slices merged give the whole gallery's weights bit for bit.
static void test_ldre_steps(void)
{
    data d;
    data_make(&d);
    seize_search_params p = seize_search_default_params();
    p.k = 25;
    seize_embeddings g = {d.G, SEIZE_F32, N, DIM};
    float wf[NC];
    seize_search_result *ref = NULL, *drops[3] = {0}, *all = NULL, *r[3] = {0}, *merged = NULL;
    CHECK_EQ(seize_search_ldre(&g, d.E, d.C, NQ, NC, d.ex, &d.S, &p, wf, &ref), 0);
    const size_t cut[4] = {0, 500, 501, N};
    for (int i = 0; i < 3; i++) {
        seize_embeddings gi = {d.G + cut[i] * DIM, SEIZE_F32, cut[i + 1] - cut[i], DIM};
        seize_search_params pi = p;
        pi.row0 = cut[i];
        pi.n_total = N;
        CHECK_EQ(seize_search_ldre_drops(&gi, d.E, d.C, NQ, NC, &pi, &drops[i]), 0);
    }
    CHECK_EQ(seize_search_result_merge((const seize_search_result *const *)drops, 3, &all), 0);
    double w[NC];
    CHECK_EQ(seize_search_ldre_weights(all, NQ, NC, w), 0);
    for (int i = 0; i < NC; i++)
        CHECK(memcmp(&(float){(float)w[i]}, &wf[i], sizeof(float)) == 0);
    for (int i = 0; i < 3; i++) {
        seize_embeddings gi = {d.G + cut[i] * DIM, SEIZE_F32, cut[i + 1] - cut[i], DIM};
        seize_search_params pi = p;
        pi.row0 = cut[i];
        pi.n_total = N;
        CHECK_EQ(seize_search_ldre_rank(&gi, d.E, NQ, NC, w, d.ex, &d.S, &pi, &r[i]), 0);
    }
    CHECK_EQ(seize_search_result_merge((const seize_search_result *const *)r, 3, &merged), 0);
    CHECK(same_result(ref, merged));
    CHECK_EQ(seize_search_ldre_weights(all, NQ + 1, NC, w), SEIZE_EINVAL);
    seize_search_result_free(ref);
    seize_search_result_free(all);
    seize_search_result_free(merged);
    for (int i = 0; i < 3; i++) {
        seize_search_result_free(drops[i]);
        seize_search_result_free(r[i]);
    }
    data_free(&d);
}

static void test_slice_errors(void)
{
    float G[8] = {1, 0, 0, 1, 0.6f, 0.8f, -1, 0}, Q[2] = {1, 0};
    seize_embeddings g = {G, SEIZE_F32, 4, 2};
    seize_search_params p = seize_search_default_params();
    p.row0 = 3;
    p.n_total = 6; // rows 3..7 of 6
    seize_search_result *r = NULL, *r2 = NULL, *m = NULL;
    CHECK_EQ(seize_search(&g, Q, Q, 1, NULL, NULL, &p, &r), SEIZE_EINVAL);
    CHECK(strstr(seize_errmsg(), "rows 3..7 are not in a gallery of 6 rows"));
    p.row0 = 2;
    size_t ex = 6;
    CHECK_EQ(seize_search(&g, Q, Q, 1, &ex, NULL, &p, &r), SEIZE_EINVAL);
    ex = 5; // excluded in this slice: rows 2, 3, 4 remain
    p.k = 10;
    CHECK_EQ(seize_search(&g, Q, Q, 1, &ex, NULL, &p, &r), 0);
    CHECK_EQ(r->k, 6);
    CHECK_EQ(r->n_ranked[0], 3);
    CHECK_EQ(r->index[0], 2);
    p.k = 5;
    CHECK_EQ(seize_search(&g, Q, Q, 1, &ex, NULL, &p, &r2), 0);
    const seize_search_result *parts[2] = {r, r2};
    CHECK_EQ(seize_search_result_merge(parts, 2, &m), SEIZE_EINVAL);
    CHECK(m == NULL);
    seize_search_result_free(r);
    seize_search_result_free(r2);
}

// Negative weights (the library takes any finite pos, neg): the pruning's margin stays positive,
// so no row of the top k is left out. Reference: the unpruned search (its own scores, so a row
// counts as missing only when it beats the k-th score by more than float noise).
static void test_negative_weights(void)
{
    enum { GN = 4000, GD = 768, GQ = 24, GK = 60 };
    float *G = malloc((size_t)GN * GD * sizeof *G), *A = malloc(GQ * GD * sizeof *A),
          *B = malloc(GQ * GD * sizeof *B);
    for (size_t i = 0; i < (size_t)GN * GD; i++)
        G[i] = nrand();
    for (size_t i = 0; i < GQ * GD; i++)
        A[i] = nrand(), B[i] = nrand();
    seize_normalize_rows(G, GN, GD);
    seize_embeddings g = {G, SEIZE_F32, GN, GD};
    const float w[][2] = {{-1, -1}, {-0.3f, -1.5f}, {-1.5f, -0.3f}};
    for (int c = 0; c < 3; c++) {
        seize_search_params p = seize_search_default_params();
        p.k = GK, p.pos = w[c][0], p.neg = w[c][1], p.n_threads = 1;
        seize_search_result *r = NULL, *ref = NULL;
        CHECK_EQ(seize_search(&g, A, B, GQ, NULL, NULL, &p, &r), 0);
        p.no_prune = 1;
        CHECK_EQ(seize_search(&g, A, B, GQ, NULL, NULL, &p, &ref), 0);
        size_t missing = 0;
        for (size_t q = 0; q < GQ; q++) {
            float kth = r->score[q * GK + GK - 1];
            for (size_t i = 0; i < GK; i++) {
                size_t row = ref->index[q * GK + i], found = 0;
                for (size_t j = 0; j < GK; j++)
                    found |= r->index[q * GK + j] == row;
                missing += !found && ref->score[q * GK + i] > kth + 1e-5f;
            }
        }
        CHECK_MSG(missing == 0, "pos %g neg %g: %zu rows of the top k left out", w[c][0], w[c][1],
                  missing);
        seize_search_result_free(r);
        seize_search_result_free(ref);
    }
    free(G);
    free(A);
    free(B);
}

int main(void)
{
    RUN(test_blocks_and_threads);
    RUN(test_slices_merge);
    RUN(test_ldre_steps);
    RUN(test_slice_errors);
    RUN(test_negative_weights);
    return check_summary("search_slices");
}
