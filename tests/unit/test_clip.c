// Unit tests for src/nn/clip*.c and the CPU backend: kernels against plain loops, the towers
// against the golden features of both fixture models in both weight layouts, batching
// invariance, id validation, and the list pipeline (order, skipped items, errors).
#include "check.h"

#include "nn/backend.h"
#include "seize/clip.h"
#include "seize/core.h"
#include "seize/model.h"

#include <jansson.h>
#include <stdint.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

static char tmpdir[256];

// --- helpers
// ---------------------------------------------------------------------------------------

static float frand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

// Golden comparison (fixtures/README.md): cosine ≥ 0.99999 per row and
// max |diff| ≤ 1e-4 × max |expected|. Returns 0 when it holds, else prints and returns -1.
static int compare_rows(const char *what, const float *got, const float *want, size_t n, size_t d)
{
    double amax = 0, dmax = 0, worst_cos = 1;
    size_t worst_row = 0;
    for (size_t i = 0; i < n * d; i++) {
        if (fabs(want[i]) > amax) amax = fabs(want[i]);
        if (fabs(got[i] - want[i]) > dmax) dmax = fabs(got[i] - want[i]);
    }
    for (size_t r = 0; r < n; r++) {
        double ab = 0, aa = 0, bb = 0;
        for (size_t j = 0; j < d; j++) {
            ab += (double)got[r * d + j] * want[r * d + j];
            aa += (double)got[r * d + j] * got[r * d + j];
            bb += (double)want[r * d + j] * want[r * d + j];
        }
        double cs = ab / (sqrt(aa) * sqrt(bb) + 1e-30);
        if (cs < worst_cos) {
            worst_cos = cs;
            worst_row = r;
        }
    }
    int ok = worst_cos >= 0.99999 && dmax <= 1e-4 * amax;
    fprintf(stderr, "  %s: worst cosine %.9f (row %zu), max|diff| %.3g (limit %.3g)%s\n", what,
            worst_cos, worst_row, dmax, 1e-4 * amax, ok ? "" : "  <-- FAIL");
    return ok ? 0 : -1;
}

// A folder in tmpdir with symlinks to one layout's files of a fixture model.
static const char *layout_dir(const char *model, int hf)
{
    static char dir[4][512];
    static int k;
    k = (k + 1) & 3;
    snprintf(dir[k], sizeof dir[k], "%s/%s.%s", tmpdir, model, hf ? "hf" : "oc");
    mkdir(dir[k], 0755);
    const char *files_hf[] = {"model.safetensors", "config.json", "vocab.json", "merges.txt"};
    const char *files_oc[] = {"open_clip_model.safetensors", "open_clip_config.json", "vocab.json",
                              "merges.txt"};
    for (int i = 0; i < 4; i++) {
        const char *f = hf ? files_hf[i] : files_oc[i];
        char src[1024], dst[1024], rel[512];
        snprintf(rel, sizeof rel, "models/%s/%s", model, f);
        const char *p = check_fixture_path(rel);
        if (p[0] == '/')
            snprintf(src, sizeof src, "%s", p);
        else {
            char cwd[512];
            if (!getcwd(cwd, sizeof cwd)) return NULL;
            snprintf(src, sizeof src, "%s/%s", cwd, p);
        }
        snprintf(dst, sizeof dst, "%s/%s", dir[k], f);
        unlink(dst);
        if (symlink(src, dst) != 0) return NULL;
    }
    return dir[k];
}

// The ids of fixtures/tokens.jsonl as (n, 77) int32.
static int32_t *load_token_ids(size_t *n_out)
{
    json_t *arr = NULL;
    if (seize_jsonl_load(check_fixture_path("tokens.jsonl"), &arr) < 0) return NULL;
    size_t n = json_array_size(arr);
    int32_t *ids = calloc(n * 77, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(json_array_get(arr, i), "ids");
        for (size_t t = 0; t < 77 && t < json_array_size(v); t++)
            ids[i * 77 + t] = (int32_t)json_integer_value(json_array_get(v, t));
    }
    json_decref(arr);
    *n_out = n;
    return ids;
}

// --- kernels -------------------------------------------------------------------------------------

static void test_activations_match_libm(void)
{
    enum { N = 4099 };
    static float x[N], y[N];
    double worst_exp = 0, worst_q = 0, worst_g = 0;
    for (int i = 0; i < N; i++)
        x[i] = -12.0f + 24.0f * (float)i / (N - 1);
    memcpy(y, x, sizeof x);
    nn_cpu_exp(y, N);
    for (int i = 0; i < N; i++) {
        double r = exp((double)x[i]);
        double e = fabs(y[i] - r) / r;
        if (e > worst_exp) worst_exp = e;
    }
    memcpy(y, x, sizeof x);
    nn_cpu_quick_gelu(y, N);
    for (int i = 0; i < N; i++) {
        double r = x[i] / (1.0 + exp(-1.702 * x[i]));
        double e = fabs(y[i] - r) / (fabs(r) + 1e-3);
        if (e > worst_q) worst_q = e;
    }
    memcpy(y, x, sizeof x);
    nn_cpu_gelu(y, N);
    for (int i = 0; i < N; i++) {
        double r = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
        double e = fabs(y[i] - r) / (fabs(x[i]) + 1e-3); // erf is within 1.5e-7 absolute
        if (e > worst_g) worst_g = e;
    }
    fprintf(stderr, "  exp rel %.3g, quick_gelu rel %.3g, gelu %.3g\n", worst_exp, worst_q,
            worst_g);
    CHECK(worst_exp < 4e-7);
    CHECK(worst_q < 1e-6);
    CHECK(worst_g < 2e-7);
    // extremes stay finite
    float ext[3] = {-200.0f, 200.0f, 0.0f};
    nn_cpu_quick_gelu(ext, 3);
    CHECK(isfinite(ext[0]) && fabsf(ext[0]) < 1e-30f);
    CHECK_NEAR(ext[1], 200.0, 1e-4);
    CHECK_NEAR(ext[2], 0.0, 0.0);
}

// A float32 host vector or matrix as a backend weight (freed by the caller's wfree).
static nn_weight *wt(nn_backend *be, const float *v, size_t rows, size_t cols, nn_weight_use use)
{
    nn_host_tensor h = {v, NN_F32, rows, cols};
    nn_weight *w = be->ops->weight(be, &h, use);
    if (!w) {
        fprintf(stderr, "weight: %s\n", seize_errmsg());
        exit(1);
    }
    return w;
}

// Backend attention against straightforward loops (double precision), for one shape.
static void attention_case(nn_backend *be, int NS, int T, int H, int DH, const size_t *q_rows)
{
    const nn_backend_ops *o = be->ops;
    int D = H * DH;
    CHECK_EQ(o->reserve(be, (size_t)T, (size_t)DH, (size_t)H), 0);
    uint32_t seed = 7 + (uint32_t)T;
    size_t n_qkv = (size_t)NS * T * 3 * D;
    float *qkv = malloc(n_qkv * sizeof *qkv), *qkv2 = malloc(n_qkv * sizeof *qkv);
    float *bias = malloc(3 * (size_t)D * sizeof *bias),
          *out = malloc((size_t)NS * T * D * sizeof *out);
    float *out1 = malloc((size_t)NS * D * sizeof *out1),
          *ref = malloc((size_t)NS * T * D * sizeof *ref);
    double *sc = malloc((size_t)T * sizeof *sc);
    for (size_t i = 0; i < n_qkv; i++)
        qkv[i] = frand(&seed);
    for (int j = 0; j < 3 * D; j++)
        bias[j] = frand(&seed) * 0.5f;
    int bad = 0;
    for (int causal = 0; causal < 2 && !bad; causal++) {
        for (int s = 0; s < NS; s++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < T; i++) {
                    double mx = -1e30, sum = 0;
                    int nk = causal ? i + 1 : T;
                    for (int j = 0; j < nk; j++) {
                        double dot = 0;
                        for (int e = 0; e < DH; e++) {
                            int c = h * DH + e;
                            dot += (double)(qkv[((size_t)s * T + i) * 3 * D + c] + bias[c]) *
                                   (qkv[((size_t)s * T + j) * 3 * D + D + c] + bias[D + c]);
                        }
                        sc[j] = dot / sqrt((double)DH);
                        if (sc[j] > mx) mx = sc[j];
                    }
                    for (int j = 0; j < nk; j++)
                        sum += (sc[j] = exp(sc[j] - mx));
                    for (int e = 0; e < DH; e++) {
                        int c = h * DH + e;
                        double acc = 0;
                        for (int j = 0; j < nk; j++)
                            acc += sc[j] / sum *
                                   (qkv[((size_t)s * T + j) * 3 * D + 2 * D + c] + bias[2 * D + c]);
                        ref[((size_t)s * T + i) * D + c] = (float)acc;
                    }
                }
        memcpy(qkv2, qkv, n_qkv * sizeof *qkv);
        nn_weight *bq = wt(be, bias, 1, (size_t)D, NN_W_VECTOR),
                  *bk = wt(be, bias + D, 1, (size_t)D, NN_W_VECTOR),
                  *bv = wt(be, bias + 2 * D, 1, (size_t)D, NN_W_VECTOR);
        o->attention(be, (size_t)NS, (size_t)T, H, DH, qkv2, bq, bk, bv, causal, NULL, out);
        if (memcmp(qkv2, qkv, n_qkv * sizeof *qkv) != 0) bad = 1; // qkv is only read
        for (size_t i = 0; i < (size_t)NS * T * D && !bad; i++)
            if (fabs(out[i] - ref[i]) > 1e-5) {
                fprintf(stderr, "  attention T=%d DH=%d causal=%d: out[%zu] %g vs %g\n", T, DH,
                        causal, i, out[i], ref[i]);
                bad = 1;
            }
        o->attention(be, (size_t)NS, (size_t)T, H, DH, qkv2, bq, bk, bv, causal, q_rows, out1);
        o->weight_free(bq);
        o->weight_free(bk);
        o->weight_free(bv);
        for (int s = 0; s < NS && !bad; s++)
            for (int c = 0; c < D; c++)
                if (fabs(out1[s * D + c] - ref[((size_t)s * T + q_rows[s]) * D + c]) > 1e-5) {
                    fprintf(stderr, "  attention T=%d DH=%d causal=%d: pooled row of %d differs\n",
                            T, DH, causal, s);
                    bad = 1;
                    break;
                }
    }
    free(qkv);
    free(qkv2);
    free(bias);
    free(out);
    free(out1);
    free(ref);
    free(sc);
    CHECK(!bad);
}

// Backend attention, layer norm and linear against straightforward loops.
static void test_backend_ops_match_loops(void)
{
    nn_backend *be = NULL, *be1 = NULL;
    CHECK_EQ(nn_backend_cpu_new((nn_backend_params){2, SEIZE_PRECISION_FP32, 0, 0}, &be), 0);
    CHECK_EQ(nn_backend_cpu_new((nn_backend_params){1, SEIZE_PRECISION_FP32, 0, 0}, &be1), 0);
    const nn_backend_ops *o = be->ops;
    // odd head size and T (padding, several blocks, head groups), a bigG-like head of 104,
    // one thread
    size_t rows_a[3] = {0, 17, 36}, rows_b[2] = {69, 5};
    attention_case(be, 3, 37, 3, 13, rows_a);
    if (check_failed_now) return;
    attention_case(be, 2, 70, 2, 104, rows_b);
    if (check_failed_now) return;
    attention_case(be1, 3, 37, 3, 13, rows_a);
    if (check_failed_now) return;
    uint32_t seed = 11;
    // layer norm with a fused bias, in place and out of place, odd width
    enum { R = 5, W = 37 };
    static float x[R * W], x2[R * W], y[R * W], g[W], b[W], add[W];
    for (int i = 0; i < R * W; i++)
        x[i] = frand(&seed) * 3 + 1;
    for (int j = 0; j < W; j++) {
        g[j] = frand(&seed);
        b[j] = frand(&seed);
        add[j] = frand(&seed);
    }
    memcpy(x2, x, sizeof x);
    nn_weight *wg = wt(be, g, 1, W, NN_W_VECTOR), *wb = wt(be, b, 1, W, NN_W_VECTOR),
              *wa = wt(be, add, 1, W, NN_W_VECTOR);
    o->layernorm(be, R, W, x2, W, wa, wg, wb, 1e-5f, y, W);
    o->weight_free(wg);
    o->weight_free(wb);
    o->weight_free(wa);
    for (int r = 0; r < R; r++) {
        double m = 0, v = 0;
        for (int j = 0; j < W; j++)
            m += x[r * W + j] + add[j];
        m /= W;
        for (int j = 0; j < W; j++)
            v += (x[r * W + j] + add[j] - m) * (x[r * W + j] + add[j] - m);
        v /= W;
        for (int j = 0; j < W; j++) {
            CHECK_NEAR(x2[r * W + j], x[r * W + j] + add[j], 1e-6);
            double want = (x[r * W + j] + add[j] - m) / sqrt(v + 1e-5) * g[j] + b[j];
            CHECK_NEAR(y[r * W + j], want, 1e-5);
        }
    }
    // linear with bias and beta = 1
    enum { M = 9, K = 11, N = 6 };
    static float a[M * K], w[N * K], bb[N], yy[M * N], y0[M * N];
    for (int i = 0; i < M * K; i++)
        a[i] = frand(&seed);
    for (int i = 0; i < N * K; i++)
        w[i] = frand(&seed);
    for (int i = 0; i < N; i++)
        bb[i] = frand(&seed);
    for (int i = 0; i < M * N; i++)
        y0[i] = yy[i] = frand(&seed);
    nn_weight *ww = wt(be, w, N, K, NN_W_LINEAR), *wbb = wt(be, bb, 1, N, NN_W_VECTOR);
    o->linear(be, M, a, K, ww, wbb, 1.0f, yy, N);
    o->weight_free(ww);
    o->weight_free(wbb);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = y0[i * N + j] + bb[j];
            for (int k = 0; k < K; k++)
                acc += (double)a[i * K + k] * w[j * K + k];
            CHECK_NEAR(yy[i * N + j], acc, 1e-5);
        }
    // few rows, many outputs: the product is split by output columns (w rows 0..39 reused)
    enum { M2 = 2, N2 = 40 };
    static float w2[N2 * K], b2[N2], y2[M2 * N2];
    for (int i = 0; i < N2 * K; i++)
        w2[i] = frand(&seed);
    for (int i = 0; i < N2; i++)
        b2[i] = frand(&seed);
    nn_weight *ww2 = wt(be, w2, N2, K, NN_W_LINEAR), *wb2 = wt(be, b2, 1, N2, NN_W_VECTOR);
    o->linear(be, M2, a, K, ww2, wb2, 0.0f, y2, N2);
    o->weight_free(ww2);
    o->weight_free(wb2);
    for (int i = 0; i < M2; i++)
        for (int j = 0; j < N2; j++) {
            double acc = b2[j];
            for (int k = 0; k < K; k++)
                acc += (double)a[i * K + k] * w2[j * K + k];
            CHECK_NEAR(y2[i * N2 + j], acc, 1e-5);
        }
    o->free(be);
    o->free(be1);
}

// --- the towers against the golden features ------------------------------------------------------

// The golden features of a fixture model on a backend ("cpu", or "cuda" in a CUDA build).
static void check_model_on(const char *model, int hf, const char *backend)
{
    const char *dir = layout_dir(model, hf);
    CHECK(dir != NULL);
    seize_clip_model *m = NULL;
    int rc = seize_clip_model_load(dir, &m);
    CHECK_MSG(rc == 0, "%s", seize_errmsg());
    CHECK_STREQ(seize_clip_model_layout(m), hf ? "transformers" : "open_clip");
    seize_clip *c = NULL;
    // batch 5: 12 images and 73 texts go through full and partial batches
    seize_clip_params cp = {.max_batch = 5, .threads = 2, .backend = backend};
    CHECK_MSG(seize_clip_open(m, cp, &c) == 0, "%s", seize_errmsg());
    if (!c) {
        seize_clip_model_free(m);
        return;
    }
    size_t E = seize_clip_embed_dim(c);
    char rel[256];

    seize_npy *px = NULL, *want = NULL;
    CHECK_EQ(seize_npy_load(check_fixture_path("preprocess_targetpad.npy"), &px), 0);
    snprintf(rel, sizeof rel, "models/%s/expected_image_features.npy", model);
    CHECK_EQ(seize_npy_load(check_fixture_path(rel), &want), 0);
    size_t n = px->shape[0];
    CHECK_EQ(want->shape[0], n);
    // under valgrind (about 50x slower) the golden checks use the first rows only
    if (RUNNING_ON_VALGRIND) n = 4;
    CHECK_EQ(want->shape[1], E);
    float *got = calloc(n * E, sizeof *got);
    CHECK_EQ(seize_clip_encode_images(c, seize_npy_f32(px), n, got), 0);
    char what[256];
    snprintf(what, sizeof what, "%s %s images", model, hf ? "hf" : "open_clip");
    int img_ok = compare_rows(what, got, seize_npy_f32(want), n, E);
    free(got);
    seize_npy_free(px);
    seize_npy_free(want);

    size_t nt = 0;
    int32_t *ids = load_token_ids(&nt);
    snprintf(rel, sizeof rel, "models/%s/expected_text_features.npy", model);
    CHECK_EQ(seize_npy_load(check_fixture_path(rel), &want), 0);
    CHECK_EQ(want->shape[0], nt);
    if (RUNNING_ON_VALGRIND) nt = 24;
    float *tg = calloc(nt * E, sizeof *tg), *tl = calloc(nt * E, sizeof *tl);
    CHECK_EQ(seize_clip_encode_tokens(c, ids, nt, tg), 0);
    CHECK_EQ(seize_clip_encode_token_list(c, ids, nt, tl, NULL, NULL), 0);
    snprintf(what, sizeof what, "%s %s texts", model, hf ? "hf" : "open_clip");
    int txt_ok = compare_rows(what, tg, seize_npy_f32(want), nt, E);
    snprintf(what, sizeof what, "%s %s texts (length-sorted list)", model, hf ? "hf" : "open_clip");
    int lst_ok = compare_rows(what, tl, seize_npy_f32(want), nt, E);
    free(tg);
    free(tl);
    free(ids);
    seize_npy_free(want);
    seize_clip_free(c);
    seize_clip_model_free(m);
    CHECK(img_ok == 0);
    CHECK(txt_ok == 0);
    CHECK(lst_ok == 0);
}

static void test_tiny_openai_open_clip(void)
{
    NEED_FIXTURES();
    check_model_on("tiny-openai", 0, NULL);
}
static void test_tiny_openai_hf(void)
{
    NEED_FIXTURES();
    check_model_on("tiny-openai", 1, NULL);
}
static void test_tiny_laion_open_clip(void)
{
    NEED_FIXTURES();
    check_model_on("tiny-laion", 0, NULL);
}
static void test_tiny_laion_hf(void)
{
    NEED_FIXTURES();
    check_model_on("tiny-laion", 1, NULL);
}

// A text alone gives the same embedding as inside a batch padded to a longer text, and
// one thread gives what two give.
static void test_batch_and_thread_invariance(void)
{
    NEED_FIXTURES();
    seize_clip_model *m = NULL;
    CHECK_EQ(seize_clip_model_load(layout_dir("tiny-openai", 0), &m), 0);
    seize_clip *c1 = NULL, *c8 = NULL;
    CHECK_EQ(seize_clip_new(m, 1, 1, &c1), 0);
    CHECK_EQ(seize_clip_new(m, 8, 2, &c8), 0);
    size_t nt = 0, E = seize_clip_embed_dim(c1);
    int32_t *ids = load_token_ids(&nt);
    CHECK(nt >= 8);
    float one[8 * 64], many[8 * 64];
    CHECK(E <= 64);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(seize_clip_encode_tokens(c1, ids + i * 77, 1, one + i * E), 0);
    CHECK_EQ(seize_clip_encode_tokens(c8, ids, 8, many), 0);
    for (size_t i = 0; i < 8 * E; i++)
        CHECK_NEAR(one[i], many[i], 1e-5 * (1 + fabs(one[i])));
    // the BLAS thread count is the application's: the state never changes it, and both plans
    // (one threaded BLAS call per product, or single-threaded calls per pool thread) agree
    int blas_was = seize_blas_threads();
    seize_blas_threads_set(3);
    float threaded[8 * 64];
    CHECK_EQ(seize_clip_encode_tokens(c8, ids, 8, threaded), 0);
    CHECK_EQ(seize_blas_threads(), 3);
    seize_blas_threads_set(1);
    CHECK_EQ(seize_clip_encode_tokens(c8, ids, 8, many), 0);
    CHECK_EQ(seize_blas_threads(), 1);
    seize_blas_threads_set(blas_was);
    for (size_t i = 0; i < 8 * E; i++)
        CHECK_NEAR(threaded[i], many[i], 1e-5 * (1 + fabs(many[i])));
    // bad ids are refused, naming the text and the position
    ids[3 * 77 + 5] = 49408;
    CHECK_EQ(seize_clip_encode_tokens(c8, ids, 8, many), SEIZE_EINVAL);
    CHECK(strstr(seize_errmsg(), "text 3") != NULL);
    CHECK(strstr(seize_errmsg(), "position 5") != NULL);
    ids[3 * 77 + 5] = -1;
    CHECK_EQ(seize_clip_encode_token_list(c8, ids, 8, many, NULL, NULL), SEIZE_EINVAL);
    free(ids);
    seize_clip_free(c1);
    seize_clip_free(c8);
    seize_clip_model_free(m);
}

// A batch of short and long texts, interleaved, is split into groups of similar length
// (clip.c's group_cuts: 16 texts of 3 tokens and 16 of 77 cost 32 × 77 rows as one pass, far
// more than two passes): every row equals the text encoded alone and the batch computed as one
// padded pass (SEIZE_TEXT_GROUP_ROWS forces that), rows in input order.
static void test_text_groups(void)
{
    NEED_FIXTURES();
    enum { N = 32, CTX = 77 };
    seize_clip_model *m = NULL;
    CHECK_EQ(seize_clip_model_load(layout_dir("tiny-openai", 0), &m), 0);
    seize_clip *c = NULL;
    CHECK_EQ(seize_clip_new(m, N, 2, &c), 0);
    size_t E = seize_clip_embed_dim(c);
    static int32_t ids[N * CTX];
    uint32_t seed = 5;
    memset(ids, 0, sizeof ids);
    for (int i = 0; i < N; i++) {
        int len = i % 2 ? CTX : 3 + i % 5; // end-of-text at len - 1
        ids[i * CTX] = 49406;
        for (int t = 1; t < len - 1; t++) {
            seed = seed * 1664525u + 1013904223u;
            ids[i * CTX + t] = (int32_t)(seed >> 8) % 49000 + 256;
        }
        ids[i * CTX + len - 1] = 49407;
    }
    float *grouped = malloc(N * E * sizeof(float)), *one = malloc(N * E * sizeof(float));
    float *padded = malloc(N * E * sizeof(float));
    unsetenv("SEIZE_TEXT_GROUP_ROWS"); // the default rule (again below)
    CHECK_EQ(seize_clip_encode_tokens(c, ids, N, grouped), 0);
    setenv("SEIZE_TEXT_GROUP_ROWS", "1e9", 1);
    int rc = seize_clip_encode_tokens(c, ids, N, padded);
    // an override no cost beats (inf, 1e300: v == the initial cost; nan: no comparison holds)
    // still makes one padded pass
    static const char *huge[] = {"inf", "1e300", "nan"};
    int same = 1;
    for (int h = 0; h < 3 && rc == 0; h++) {
        setenv("SEIZE_TEXT_GROUP_ROWS", huge[h], 1);
        rc = seize_clip_encode_tokens(c, ids, N, grouped);
        same = same && memcmp(grouped, padded, N * E * sizeof(float)) == 0;
    }
    CHECK_MSG(same, "SEIZE_TEXT_GROUP_ROWS inf / 1e300 / nan: not one padded pass");
    unsetenv("SEIZE_TEXT_GROUP_ROWS");
    if (rc == 0) rc = seize_clip_encode_tokens(c, ids, N, grouped);
    for (int i = 0; i < N && rc == 0; i++)
        rc = seize_clip_encode_tokens(c, ids + i * CTX, 1, one + i * E);
    double worst = 0, worst_pad = 0;
    for (size_t i = 0; i < N * E; i++) {
        double a = fabs(grouped[i] - one[i]) / (1 + fabs(one[i]));
        double b = fabs(grouped[i] - padded[i]) / (1 + fabs(padded[i]));
        worst = a > worst ? a : worst;
        worst_pad = b > worst_pad ? b : worst_pad;
    }
    free(grouped);
    free(one);
    free(padded);
    seize_clip_free(c);
    seize_clip_model_free(m);
    CHECK_EQ(rc, 0);
    CHECK_MSG(worst <= 1e-5 && worst_pad <= 1e-5,
              "grouped texts vs alone %.3g, vs one padded pass %.3g", worst, worst_pad);
}

// --- the list pipeline ---------------------------------------------------------------------------

typedef struct list_ud {
    const float *pixels; // (12, 3, 224, 224)
    size_t n_src;
    size_t bad_seen[16], n_bad_seen;
    size_t batches, next_first, last_done;
    int order_ok;
    float *collect; // when set, on_batch copies the rows here
    size_t E;
} list_ud;

// Item i is image i % 12; items 2 and 9 fail.
static int load_item(void *ud, size_t i, float *px)
{
    list_ud *u = ud;
    if (i == 2 || i == 9)
        return seize_error(SEIZE_EFORMAT, "cannot decode 'item%zu.jpg': broken", i);
    memcpy(px, u->pixels + (i % u->n_src) * 3 * 224 * 224, 3 * 224 * 224 * sizeof *px);
    return 0;
}

static void on_bad(void *ud, size_t i, int code, const char *msg)
{
    list_ud *u = ud;
    char want[64];
    snprintf(want, sizeof want, "'item%zu.jpg'", i);
    if (code == SEIZE_EFORMAT && strstr(msg, want) && u->n_bad_seen < 16)
        u->bad_seen[u->n_bad_seen++] = i;
}

static seize_cancel list_cancel; // requested by on_batch after batch `cancel_after` (when > 0)
static size_t cancel_after;

static int on_batch(void *ud, size_t first, size_t n, const float *rows, const uint8_t *ok)
{
    list_ud *u = ud;
    if (cancel_after && u->batches + 1 == cancel_after) seize_cancel_request(&list_cancel, 0);
    if (first != u->next_first) u->order_ok = 0;
    u->next_first = first + n;
    u->batches++;
    if (u->collect) memcpy(u->collect + first * u->E, rows, n * u->E * sizeof *rows);
    return 0;
}

static int on_progress(void *ud, size_t done, size_t n_bad)
{
    ((list_ud *)ud)->last_done = done;
    return 0;
}

static void test_image_list_pipeline(void)
{
    NEED_FIXTURES();
    seize_clip_model *m = NULL;
    CHECK_EQ(seize_clip_model_load(layout_dir("tiny-openai", 1), &m), 0);
    seize_clip *c = NULL;
    CHECK_EQ(seize_clip_new(m, 4, 2, &c), 0);
    size_t E = seize_clip_embed_dim(c);
    seize_npy *px = NULL;
    CHECK_EQ(seize_npy_load(check_fixture_path("preprocess_targetpad.npy"), &px), 0);
    const float *pix = seize_npy_f32(px);
    enum { N = 14 };
    float *direct = calloc(12 * E, sizeof(float)), *out = calloc(N * E, sizeof(float));
    uint8_t ok[N];
    CHECK_EQ(seize_clip_encode_images(c, pix, 12, direct), 0);

    list_ud u = {.pixels = pix, .n_src = 12, .order_ok = 1};
    seize_clip_list_opts o = {.skip_bad = 1,
                              .on_bad = on_bad,
                              .on_batch = on_batch,
                              .on_progress = on_progress,
                              .ud = &u};
    size_t n_bad = 0;
    CHECK_EQ(seize_clip_encode_image_list(c, N, load_item, &o, out, ok, &n_bad), 0);
    CHECK_EQ(n_bad, 2);
    CHECK_EQ(u.n_bad_seen, 2);
    CHECK_EQ(u.bad_seen[0], 2);
    CHECK_EQ(u.bad_seen[1], 9);
    CHECK_EQ(u.batches, 4); // 14 items in batches of 4
    CHECK(u.order_ok);
    CHECK_EQ(u.last_done, N);
    for (size_t i = 0; i < N; i++) {
        CHECK_EQ(ok[i], (i != 2 && i != 9));
        for (size_t j = 0; j < E; j++) {
            float want = ok[i] ? direct[(i % 12) * E + j] : 0.0f;
            CHECK_NEAR(out[i * E + j], want, 1e-5 * (1 + fabs(want)));
        }
    }
    // rows delivered only through on_batch (out == NULL) are the same
    float *coll = calloc(N * E, sizeof(float));
    list_ud u3 = {.pixels = pix, .n_src = 12, .order_ok = 1, .collect = coll, .E = E};
    seize_clip_list_opts o3 = {.skip_bad = 1, .on_batch = on_batch, .ud = &u3};
    CHECK_EQ(seize_clip_encode_image_list(c, N, load_item, &o3, NULL, NULL, NULL), 0);
    CHECK(u3.order_ok);
    CHECK(memcmp(coll, out, N * E * sizeof(float)) == 0);
    free(coll);
    // without skip_bad the first failure stops the list with the loader's message
    list_ud u2 = {.pixels = pix, .n_src = 12, .order_ok = 1};
    seize_clip_list_opts o2 = {.ud = &u2};
    CHECK_EQ(seize_clip_encode_image_list(c, N, load_item, &o2, out, NULL, NULL), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "'item2.jpg'") != NULL);
    // a cancel token requested during batch 2 (as by a signal): the list stops after it
    list_ud u4 = {.pixels = pix, .n_src = 12, .order_ok = 1};
    seize_clip_list_opts o4 = {
        .skip_bad = 1, .on_batch = on_batch, .ud = &u4, .cancel = &list_cancel};
    cancel_after = 2;
    CHECK_EQ(seize_clip_encode_image_list(c, N, load_item, &o4, out, NULL, NULL), SEIZE_ECANCEL);
    cancel_after = 0;
    CHECK_STREQ(seize_errmsg(), "interrupted");
    CHECK_EQ(u4.batches, 2);
    // requested before the call: no batch at all
    list_ud u5 = {.pixels = pix, .n_src = 12, .order_ok = 1};
    o4.ud = &u5;
    CHECK_EQ(seize_clip_encode_image_list(c, N, load_item, &o4, out, NULL, NULL), SEIZE_ECANCEL);
    CHECK_EQ(u5.batches, 0);
    seize_cancel_reset(&list_cancel);
    free(direct);
    free(out);
    seize_npy_free(px);
    seize_clip_free(c);
    seize_clip_model_free(m);
}

static void test_flops_and_bad_args(void)
{
    NEED_FIXTURES();
    seize_clip_model *m = NULL;
    CHECK_EQ(seize_clip_model_load(layout_dir("tiny-openai", 0), &m), 0);
    // tiny-openai vision: 49 patches of 3·32·32, width 64, 2 layers, mlp 256, T = 50, embed 32
    double T = 50, d = 64, mlp = 256;
    double want = 2 * 49 * 3072 * d +
                  2 * (2 * T * d * 3 * d + 4 * T * T * d + 2 * T * d * d + 4 * T * d * mlp) +
                  2 * d * 32;
    CHECK_NEAR(seize_clip_image_flops(m), want, 1);
    seize_clip *c = NULL;
    CHECK_EQ(seize_clip_new(m, 0, 1, &c), SEIZE_EINVAL);
    CHECK(c == NULL);
    seize_clip_model_free(m);
}

// --- reduced precision against fp32 --------------------------------------------------------------

// 12 fixture images and 8 pixel-level variants of each (flips, a transpose, brightness and
// contrast, a channel swap, a shift): a 96-image gallery whose neighbours are close.
static float *variant_gallery(const float *px, size_t n, int S, size_t *n_out)
{
    size_t per = 3 * (size_t)S * (size_t)S, V = 8;
    float *g = malloc(n * V * per * sizeof *g);
    for (size_t i = 0; i < n; i++)
        for (size_t v = 0; v < V; v++) {
            const float *a = px + i * per;
            float *b = g + (i * V + v) * per;
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < S; y++)
                    for (int x = 0; x < S; x++) {
                        int sc = c, sy = y, sx = x;
                        float mul = 1, add = 0;
                        switch (v) {
                        case 1:
                            sx = S - 1 - x;
                            break;
                        case 2:
                            sy = S - 1 - y;
                            break;
                        case 3:
                            sy = x, sx = y;
                            break;
                        case 4:
                            mul = 0.8f;
                            add = 0.2f;
                            break;
                        case 5:
                            mul = 1.2f;
                            break;
                        case 6:
                            sc = 2 - c;
                            break;
                        case 7:
                            sx = (x + 7) % S;
                            break;
                        }
                        b[((size_t)c * S + y) * S + x] =
                            a[((size_t)sc * S + sy) * S + sx] * mul + add;
                    }
        }
    *n_out = n * V;
    return g;
}

// Indices of the k largest dot products of q with the rows of g (ties by index).
// Cosine of q with each row of g into s (n).
static void cosines(const float *q, const float *g, size_t n, size_t E, double *s)
{
    for (size_t i = 0; i < n; i++) {
        double d = 0, gn = 0;
        for (size_t e = 0; e < E; e++) {
            d += (double)q[e] * g[i * E + e];
            gn += (double)g[i * E + e] * g[i * E + e];
        }
        s[i] = d / sqrt(gn + 1e-30);
    }
}

// Indices of the k largest cosines of q with the rows of g (ties by index); s (n) receives the
// cosines.
static void top_k(const float *q, const float *g, size_t n, size_t E, size_t k, size_t *out,
                  double *s)
{
    cosines(q, g, n, E, s);
    double *t = malloc(n * sizeof *t);
    memcpy(t, s, n * sizeof *t);
    for (size_t j = 0; j < k; j++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < n; i++)
            if (t[i] > -1e300 && (best == SIZE_MAX || t[i] > t[best])) best = i;
        out[j] = best;
        t[best] = -1e301;
    }
    free(t);
}

static double min_cosine(const float *a, const float *b, size_t n, size_t E)
{
    double worst = 1;
    for (size_t i = 0; i < n; i++) {
        double d = 0, na = 0, nb = 0;
        for (size_t e = 0; e < E; e++) {
            d += (double)a[i * E + e] * b[i * E + e];
            na += (double)a[i * E + e] * a[i * E + e];
            nb += (double)b[i * E + e] * b[i * E + e];
        }
        double c = d / sqrt(na * nb + 1e-300);
        if (c < worst) worst = c;
    }
    return worst;
}

// Encodes the gallery and the texts with precision p.
static void encode_all(seize_clip_model *m, const char *backend, seize_precision p,
                       const float *gal, size_t ng, const int32_t *ids, size_t nt, float *gf,
                       float *tf, size_t *bytes)
{
    seize_clip *c = NULL;
    seize_clip_params cp = {.max_batch = 16, .threads = 2, .precision = p, .backend = backend};
    CHECK_MSG(seize_clip_open(m, cp, &c) == 0, "%s", seize_errmsg());
    if (!c) return;
    CHECK_EQ(seize_clip_precision(c), p);
    CHECK_EQ(seize_clip_encode_images(c, gal, ng, gf), 0);
    CHECK_EQ(seize_clip_encode_token_list(c, ids, nt, tf, NULL, NULL), 0);
    *bytes = seize_clip_weight_bytes(c);
    fprintf(stderr, "  %s\n", seize_clip_describe(c));
    seize_clip_free(c);
}

// bf16 and int8 against fp32 on a fixture model: embedding cosines (images and texts; bf16 ≥
// 0.999, int8 ≥ 0.99), top-10 agreement of text → image retrieval over the 96-image variant
// gallery (≥ 95%), and the weights' resident size (bf16 about half of fp32's, int8 a quarter).
static void check_precisions(const char *model, int hf, const char *backend)
{
    seize_clip_model *m = NULL;
    CHECK_MSG(seize_clip_model_load(layout_dir(model, hf), &m) == 0, "%s", seize_errmsg());
    if (!m) return;
    seize_npy *px = NULL;
    CHECK_EQ(seize_npy_load(check_fixture_path("preprocess_targetpad.npy"), &px), 0);
    int S = seize_clip_model_get_config(m)->image_size;
    size_t n_img = RUNNING_ON_VALGRIND ? 2 : px->shape[0], ng = 0, nt = 0, E;
    E = (size_t)seize_clip_model_get_config(m)->embed_dim;
    float *gal = variant_gallery(seize_npy_f32(px), n_img, S, &ng);
    int32_t *ids = load_token_ids(&nt);
    if (RUNNING_ON_VALGRIND) nt = 8;
    float *gf[3], *tf[3];
    size_t bytes[3] = {0, 0, 0};
    for (int p = 0; p < 3; p++) {
        gf[p] = calloc(ng * E, sizeof(float));
        tf[p] = calloc(nt * E, sizeof(float));
        encode_all(m, backend, (seize_precision)p, gal, ng, ids, nt, gf[p], tf[p], &bytes[p]);
    }
    size_t K = 10, a[10], b[10];
    for (int p = 1; p < 3; p++) {
        double ci = min_cosine(gf[0], gf[p], ng, E), ct = min_cosine(tf[0], tf[p], nt, E);
        // a result of the reduced top-10 agrees when fp32 ranks it in its top-10 too, or when
        // its fp32 score is within 1e-4 of fp32's 10th (a swap among near-ties: the random tiny
        // models have many, and which of them wins depends on the CPU's kernels)
        size_t hits = 0, strict = 0;
        double *s0 = malloc(ng * sizeof *s0), *sp = malloc(ng * sizeof *sp);
        for (size_t q = 0; q < nt; q++) {
            top_k(tf[0] + q * E, gf[0], ng, E, K, a, s0);
            top_k(tf[p] + q * E, gf[p], ng, E, K, b, sp);
            for (size_t j = 0; j < K; j++) {
                int in = 0;
                for (size_t i = 0; i < K; i++)
                    in |= a[i] == b[j];
                strict += (size_t)in;
                hits += (size_t)(in || s0[b[j]] >= s0[a[K - 1]] - 1e-4);
            }
        }
        free(s0);
        free(sp);
        double agree = (double)hits / (double)(nt * K), need = p == 1 ? 0.999 : 0.99;
        fprintf(stderr,
                "  %s %s %s: min cosine images %.6f texts %.6f; top-10 agreement %.1f%% (%.1f%% "
                "counting near-ties as misses) over %zu images, %zu queries; weights %.2f of "
                "fp32's\n",
                model, hf ? "hf" : "open_clip", p == 1 ? "bf16" : "int8", ci, ct, 100 * agree,
                100.0 * (double)strict / (double)(nt * K), ng, nt,
                (double)bytes[p] / (double)bytes[0]);
        CHECK(ci >= need);
        CHECK(ct >= need);
        CHECK(agree >= 0.95);
        // on the CPU the float32 vectors and tables are used in place: the bytes are the
        // packed matrices' (a device backend copies the tables too, in every precision)
        double want = p == 1 ? 0.5 : 0.25;
        if (!backend)
            CHECK(bytes[p] <= (want + 0.05) * bytes[0] && bytes[p] >= (want - 0.05) * bytes[0]);
    }
    for (int p = 0; p < 3; p++) {
        free(gf[p]);
        free(tf[p]);
    }
    free(gal);
    free(ids);
    seize_npy_free(px);
    seize_clip_model_free(m);
}

static void test_precisions_tiny_openai(void)
{
    NEED_FIXTURES();
    check_precisions("tiny-openai", 0, NULL);
    check_precisions("tiny-openai", 1, NULL);
}

static void test_precisions_tiny_laion(void)
{
    NEED_FIXTURES();
    check_precisions("tiny-laion", 0, NULL);
    check_precisions("tiny-laion", 1, NULL);
}

// The CUDA backend (make CUDA=1) on the golden features and in bf16/int8, where a GPU is
// present; skipped, saying why, in a build without it or on a machine without a device.
static void test_cuda_backend(void)
{
#ifndef SEIZE_CUDA
    SKIP("built without CUDA (make CUDA=1)");
#else
    NEED_FIXTURES();
    nn_backend *be = NULL;
    if (nn_backend_new("cuda", (nn_backend_params){1, SEIZE_PRECISION_FP32, 0, 0}, &be) < 0)
        SKIP("no usable CUDA device: %s", seize_errmsg());
    be->ops->free(be);
    check_model_on("tiny-laion", 0, "cuda");
    check_model_on("tiny-laion", 1, "cuda");
    check_precisions("tiny-laion", 1, "cuda");
#endif
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/seize-test-clip-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_activations_match_libm);
    RUN(test_backend_ops_match_loops);
    RUN(test_tiny_openai_open_clip);
    RUN(test_tiny_openai_hf);
    RUN(test_tiny_laion_open_clip);
    RUN(test_tiny_laion_hf);
    RUN(test_precisions_tiny_openai);
    RUN(test_precisions_tiny_laion);
    RUN(test_cuda_backend);
    RUN(test_batch_and_thread_invariance);
    RUN(test_text_groups);
    RUN(test_image_list_pipeline);
    RUN(test_flops_and_bad_args);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    return check_summary("clip");
}
