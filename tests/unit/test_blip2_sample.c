// The BLIP-2 sampler (src/nn/blip2_sample.c): the random stream, transformers' warpers against
// the goldens of both fixture models, and the draw (argmax ties, excluded tokens, a chi-square
// test that a wrong distribution fails).
#include "check.h"

#include "blip2_check.h"
#include "nn/blip2_int.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// xoshiro256** seeded through splitmix64: the values of an independent Python implementation
// (the first four are also those of rand_xoshiro's Xoshiro256StarStar::seed_from_u64(0)).
static void test_rng_vectors(void)
{
    static const uint64_t want[3][4] = {
        {0x99ec5f36cb75f2b4ull, 0xbf6e1f784956452aull, 0x1a5f849d4933e6e0ull,
         0x6aa594f1262d2d2cull},
        {0x15780b2e0c2ec716ull, 0x6104d9866d113a7eull, 0xae17533239e499a1ull,
         0xecb8ad4703b360a1ull},
        {0x9e32cfb5bb93eebbull, 0x16006bd9d4ac0014ull, 0x8ada5d6d34b6538eull,
         0x7c327ca32346a238ull},
    };
    static const uint64_t seeds[3] = {0, 42, 0xdeadbeefcafef00dull};
    for (int s = 0; s < 3; s++) {
        nn_rng r;
        nn_rng_seed(&r, seeds[s]);
        for (int i = 0; i < 4; i++)
            CHECK_MSG(nn_rng_next(&r) == want[s][i], "seed %d value %d", s, i);
    }
    nn_rng r;
    nn_rng_seed(&r, 42);
    for (int i = 0; i < 4; i++)
        nn_rng_next(&r);
    CHECK(nn_rng_uniform(&r) == 0.9918039142821028);
    double lo = 1, hi = 0;
    for (int i = 0; i < 100000; i++) {
        double u = nn_rng_uniform(&r);
        CHECK(u >= 0 && u < 1);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
    }
    CHECK(lo < 1e-3 && hi > 1 - 1e-3);
}

// Whether two warped rows remove the same entries and keep the same values.
static int same_row(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int ia = isinf(a[i]) && a[i] < 0, ib = isinf(b[i]) && b[i] < 0;
        if (ia != ib || (!ia && a[i] != b[i])) return 0;
    }
    return 1;
}

static size_t n_kept(const float *a, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += a[i] > -INFINITY;
    return k;
}

static void check_warpers(const char *name)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", check_fixture_path(name));
    blip2_goldens g;
    CHECK_EQ(blip2_goldens_open(dir, &g), 0);
    size_t count = 0;
    float *in = blip2_golden_f32(&g, "warpers.input_logits", &count);
    CHECK(in);
    const size_t rows = blip2_golden_shape(&g, "warpers.input_logits")[0], n = count / rows;
    static const struct {
        const char *name;
        int k;
        float p;
    } cases[] = {{"warpers.top_p0.9", 0, 0.9f},
                 {"warpers.top_k50", 50, 1.0f},
                 {"warpers.top_k50_then_top_p0.9", 50, 0.9f}};
    float *row = malloc(n * sizeof *row);
    for (size_t c = 0; c < 3; c++) {
        float *want = blip2_golden_f32(&g, cases[c].name, NULL);
        CHECK(want && row);
        for (size_t r = 0; r < rows; r++) {
            memcpy(row, in + r * n, n * sizeof *row);
            seize_blip2_warp(row, n, 1.0f, cases[c].k, cases[c].p);
            // row 5 has exact ties: torch's unstable sort keeps an arbitrary subset of a tie
            if (r == 5)
                CHECK_MSG(n_kept(row, n) == n_kept(want + r * n, n), "%s %s row 5: %zu vs %zu",
                          name, cases[c].name, n_kept(row, n), n_kept(want + r * n, n));
            else
                CHECK_MSG(same_row(row, want + r * n, n), "%s %s row %zu", name, cases[c].name, r);
        }
        free(want);
    }
    free(row);
    free(in);
    blip2_goldens_close(&g);
}

static void test_warpers_goldens(void)
{
    NEED_FIXTURES();
    check_warpers("blip2/tiny224");
    if (check_failed_now) return;
    check_warpers("blip2/tiny364");
}

// warp(raw logits) equals the recorded scores at every step of every row not yet finished, in
// every sampling run: no processor besides temperature, top-k and top-p acted (issue 14).
static void check_scores(const char *name, const char *run)
{
    char dir[4096], key[256];
    snprintf(dir, sizeof dir, "%s", check_fixture_path(name));
    blip2_goldens g;
    CHECK_EQ(blip2_goldens_open(dir, &g), 0);
    json_t *kw = blip2_run_get(&g, run, "kwargs");
    json_t *tk = json_object_get(kw, "top_k"), *tp = json_object_get(kw, "top_p");
    int k = tk ? (int)json_integer_value(tk) : 50; // generation_config's default
    float p = tp ? (float)json_number_value(tp) : 1.0f;
    int32_t eos = (int32_t)json_integer_value(json_object_get(
        json_object_get(json_object_get(g.json, "config"), "text_config"), "eos_token_id"));
    snprintf(key, sizeof key, "%s.logits", run);
    float *logits = blip2_golden_f32(&g, key, NULL);
    const size_t *shape = blip2_golden_shape(&g, key);
    snprintf(key, sizeof key, "%s.scores", run);
    float *scores = blip2_golden_f32(&g, key, NULL);
    CHECK(logits && scores && shape);
    size_t steps = shape[0], rows = shape[1], n = shape[2], compared = 0;
    for (size_t r = 0; r < rows; r++) {
        int32_t ids[64];
        size_t len = blip2_run_generated(&g, run, r, eos, ids, 64);
        for (size_t s = 0; s < steps && s < len; s++) {
            float *x = logits + (s * rows + r) * n;
            seize_blip2_warp(x, n, 1.0f, k, p);
            CHECK_MSG(same_row(x, scores + (s * rows + r) * n, n), "%s %s step %zu row %zu", name,
                      run, s, r);
            CHECK_MSG(x[ids[s]] > -INFINITY, "%s %s: token %d of step %zu row %zu removed", name,
                      run, ids[s], s, r);
            compared++;
        }
    }
    CHECK(compared >= rows * 5);
    free(logits);
    free(scores);
    blip2_goldens_close(&g);
}

static void test_warp_scores_goldens(void)
{
    NEED_FIXTURES();
    static const char *runs[] = {"sample_bos_topk50_topp0.9", "sample_bos_topp0.9_only",
                                 "sample_prompt_lavis"};
    for (int c = 0; c < 2; c++)
        for (int r = 0; r < 3; r++) {
            char name[64];
            snprintf(name, sizeof name, "blip2/%s", blip2_cases[c]);
            check_scores(name, runs[r]);
            if (check_failed_now) return;
        }
}

static void test_warp_edges(void)
{
    float x[6] = {1, 3, 3, 2, -1, 0};
    float y[6];
    // temperature divides; top-k 0 and top-p 1 are off
    memcpy(y, x, sizeof x);
    seize_blip2_warp(y, 6, 2.0f, 0, 1.0f);
    for (int i = 0; i < 6; i++)
        CHECK(y[i] == x[i] / 2.0f);
    // top-k keeps ties at the boundary: the 2nd largest is 3, both 3s stay
    memcpy(y, x, sizeof x);
    seize_blip2_warp(y, 6, 1.0f, 2, 1.0f);
    CHECK_EQ(n_kept(y, 6), 2);
    CHECK(y[1] == 3 && y[2] == 3);
    memcpy(y, x, sizeof x);
    seize_blip2_warp(y, 6, 1.0f, 3, 1.0f);
    CHECK_EQ(n_kept(y, 6), 3);
    CHECK(y[3] == 2 && isinf(y[0]));
    // k ≥ n removes nothing
    memcpy(y, x, sizeof x);
    seize_blip2_warp(y, 6, 1.0f, 6, 1.0f);
    CHECK_EQ(n_kept(y, 6), 6);
    memcpy(y, x, sizeof x);
    seize_blip2_warp(y, 6, 1.0f, 1000, 1.0f);
    CHECK_EQ(n_kept(y, 6), 6);
    // a tiny top-p keeps the largest entry only (one of a tie)
    float z[4] = {0, 5, 1, 2};
    seize_blip2_warp(z, 4, 1.0f, 0, 1e-6f);
    CHECK_EQ(n_kept(z, 4), 1);
    CHECK(z[1] == 5);
    // top-p 0.5 on probabilities 0.1, 0.2, 0.3, 0.4 (cumulative 0.1, 0.3, 0.6, 1.0): the two
    // smallest go
    float w[4] = {logf(0.3f), logf(0.1f), logf(0.4f), logf(0.2f)};
    seize_blip2_warp(w, 4, 1.0f, 0, 0.5f);
    CHECK(w[0] > -INFINITY && w[2] > -INFINITY && isinf(w[1]) && isinf(w[3]));
    // top-p works on what top-k left: 3 entries of equal weight, p 0.5 keeps 2 (1/3 ≤ 0.5)
    float v[5] = {1, 1, 1, -5, -6};
    seize_blip2_warp(v, 5, 1.0f, 3, 0.5f);
    CHECK_EQ(n_kept(v, 5), 2);
    CHECK(isinf(v[3]) && isinf(v[4]));
}

// top-p as transformers writes it (sort everything ascending, cumulative sum, drop the prefix
// ≤ 1 − p, keep the largest), the reference for the sampler's partitioning version.
static int by_value(const void *a, const void *b)
{
    const nn_blip2_ranked *p = a, *q = b;
    if (p->v != q->v) return p->v < q->v ? -1 : 1;
    return (p->id > q->id) - (p->id < q->id);
}

static void top_p_reference(float *x, size_t n, double p, nn_blip2_ranked *r)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] > -INFINITY) r[m++] = (nn_blip2_ranked){x[i], (int32_t)i};
    if (m < 2) return;
    qsort(r, m, sizeof *r, by_value);
    float max = r[m - 1].v;
    double sum = 0, cum = 0;
    for (size_t i = 0; i < m; i++)
        sum += expf(r[i].v - max);
    float inv = 1.0f / (float)sum, thr = (float)(1.0 - p);
    for (size_t i = 0; i + 1 < m; i++) {
        cum += expf(r[i].v - max) * inv;
        if ((float)cum > thr) break;
        x[r[i].id] = -INFINITY;
    }
}

// The partitioning top-p equals the full sort on random rows: flat and peaked, with ties, with
// entries already removed, short and long.
static void test_top_p_reference(void)
{
    enum { N = 6000 };
    static float x[N], a[N], b[N];
    static nn_blip2_ranked r[N];
    static const double ps[] = {0.1, 0.5, 0.9, 0.95, 0.99, 0.999};
    nn_rng g;
    nn_rng_seed(&g, 3);
    size_t removed_total = 0;
    for (int it = 0; it < 600; it++) {
        size_t n = 2 + (size_t)(nn_rng_uniform(&g) * (it % 3 ? 600 : N - 2));
        double scale = (double[]){0.3, 2, 8, 30}[it % 4];
        int ties = it % 5 == 0, holes = it % 7 == 0;
        for (size_t i = 0; i < n; i++) {
            double u1 = nn_rng_uniform(&g) + 1e-300, u2 = nn_rng_uniform(&g);
            double v = scale * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
            x[i] = ties ? (float)round(v) : (float)v;
            if (holes && nn_rng_uniform(&g) < 0.5) x[i] = -INFINITY;
        }
        double p = ps[it % 6];
        memcpy(a, x, n * sizeof *x);
        memcpy(b, x, n * sizeof *x);
        seize_blip2_warp(a, n, 1.0f, 0, (float)p);
        top_p_reference(b, n, p, r); // the warper reads 0.9f as the decimal 0.9
        CHECK_MSG(n_kept(a, n) == n_kept(b, n), "case %d (n %zu, p %g): %zu vs %zu kept", it, n, p,
                  n_kept(a, n), n_kept(b, n));
        CHECK_MSG(same_row(a, b, n), "case %d", it);
        removed_total += n - n_kept(a, n);
    }
    CHECK(removed_total > 10000);
}

static void test_draw_greedy(void)
{
    nn_rng r, r0;
    nn_rng_seed(&r, 7);
    r0 = r;
    float x[5] = {1, 4, -INFINITY, 4, 2};
    CHECK_EQ(nn_blip2_draw(x, 5, 1, &r), 1); // ties: the lowest id, as torch.argmax
    CHECK(!memcmp(&r, &r0, sizeof r));       // greedy draws nothing
    float one[4] = {-INFINITY, -INFINITY, 0.5f, -INFINITY};
    for (int i = 0; i < 100; i++)
        CHECK_EQ(nn_blip2_draw(one, 4, 0, &r), 2);
    // excluded entries are never drawn; each draw takes one number of the stream
    nn_rng a = r;
    for (int i = 0; i < 2000; i++) {
        int32_t t = nn_blip2_draw(x, 5, 0, &r);
        CHECK(t >= 0 && t < 5 && t != 2);
        nn_rng_next(&a);
    }
    CHECK(!memcmp(&r, &a, sizeof r));
}

// Draws from softmax(x) binned by id. 0 or -1.
static int histogram(const float *x, size_t n, uint64_t seed, long draws, long *count)
{
    nn_rng r;
    nn_rng_seed(&r, seed);
    memset(count, 0, n * sizeof *count);
    for (long i = 0; i < draws; i++) {
        int32_t t = nn_blip2_draw(x, n, 0, &r);
        if (t < 0 || (size_t)t >= n) return -1;
        count[t]++;
    }
    return 0;
}

// A chi-square test of 20000 draws against the warped distribution of a golden row (top-k 50 +
// top-p 0.9): a correct sampler fails it with probability 1e-4; the unwarped softmax and a
// distribution with one token's weight moved by 10 % must fail it.
static void test_draw_chi_square(void)
{
    NEED_FIXTURES();
    blip2_goldens g;
    CHECK_EQ(blip2_goldens_open(check_fixture_path("blip2/tiny364"), &g), 0);
    size_t count = 0;
    float *in = blip2_golden_f32(&g, "sample_prompt_lavis.logits", &count);
    const size_t *shape = blip2_golden_shape(&g, "sample_prompt_lavis.logits");
    CHECK(in && shape);
    const size_t n = shape[2];
    float *w = malloc(n * sizeof *w);
    double *p = malloc(n * sizeof *p), *praw = malloc(n * sizeof *p);
    long *obs = malloc(n * sizeof *obs);
    CHECK(w && p && praw && obs);
    memcpy(w, in, n * sizeof *w); // step 0, row 0
    blip2_softmax(w, n, praw);
    seize_blip2_warp(w, n, 1.0f, 50, 0.9f);
    blip2_softmax(w, n, p);
    CHECK(n_kept(w, n) > 10);
    double chi2 = 0;
    int df = 0;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        CHECK_EQ(histogram(w, n, seed, 20000, obs), 0);
        double pv = blip2_chi_square(obs, p, n, &chi2, &df);
        CHECK_MSG(pv >= 1e-4, "seed %llu: p = %g (chi2 %g, df %d)", (unsigned long long)seed, pv,
                  chi2, df);
        CHECK(blip2_chi_square(obs, praw, n, NULL, NULL) < 1e-4);
        // the largest kept weight moved by 10 % to the next one
        double *q = praw; // reused: p with a shifted weight
        memcpy(q, p, n * sizeof *q);
        size_t a = 0, b = 0;
        for (size_t i = 0; i < n; i++)
            if (q[i] > q[a]) a = i;
        b = a == 0 ? 1 : 0;
        for (size_t i = 0; i < n; i++)
            if (i != a && q[i] > q[b]) b = i;
        q[b] += 0.1 * q[a];
        q[a] *= 0.9;
        CHECK(blip2_chi_square(obs, q, n, NULL, NULL) < 1e-4);
        blip2_softmax(in, n, praw); // back to the unwarped softmax for the next seed
    }
    free(w);
    free(p);
    free(praw);
    free(obs);
    free(in);
    blip2_goldens_close(&g);
}

// The p-value function itself: known chi-square quantiles.
static void test_chi_square_p(void)
{
    CHECK_NEAR(blip2_gamma_q(0.5, 3.841458820694124 / 2), 0.05, 1e-9); // df 1, 95 %
    CHECK_NEAR(blip2_gamma_q(5, 18.307038053275146 / 2), 0.05, 1e-9);  // df 10
    CHECK_NEAR(blip2_gamma_q(50, 135.80672317102676 / 2), 0.01, 1e-9); // df 100, 99 %
    // tails (torch.special.gammaincc)
    CHECK_NEAR(blip2_gamma_q(50, 80) / 0.00013078397659140923, 1, 1e-9);
    CHECK_NEAR(blip2_gamma_q(20, 70) / 5.077811831109475e-13, 1, 1e-9);
    CHECK_NEAR(blip2_gamma_q(2, 1.0), exp(-1.0) * 2, 1e-12); // df 4: e^-x (1 + x)
}

int main(void)
{
    RUN(test_rng_vectors);
    RUN(test_warpers_goldens);
    RUN(test_warp_scores_goldens);
    RUN(test_warp_edges);
    RUN(test_top_p_reference);
    RUN(test_draw_greedy);
    RUN(test_draw_chi_square);
    RUN(test_chi_square_p);
    return check_summary("blip2_sample");
}
