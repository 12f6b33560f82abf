// Unit tests for the BLIP-2 model folder and state (src/nn/blip2_model.c, blip2_weights.c,
// blip2.c): every golden tensor of the forward pass of both fixture models (pixels, vision,
// Q-Former, language_projection, LM hidden states and logits), decoding with the KV cache
// against full-sequence logits, batching and cache sharing against single runs, bf16 against
// fp32, sharded weights, and bad folders (errors that name the file, no crash).
#include "check.h"

#include "nn/blip2_int.h"
#include "nn/blip2_model.h"
#include "seize/blip2.h"
#include "seize/core.h"
#include "seize/model.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

static const char *const fixtures[] = {"tiny224", "tiny364"};
#define N_FIX 2

// --- helpers -------------------------------------------------------------------------------------

// Golden comparison (fixtures/README.md): cosine ≥ min_cos per row and, when rel > 0,
// max |diff| ≤ rel × max |expected|. 1 when it holds, else prints and returns 0.
static int compare_rows_tol(const char *what, const float *got, const float *want, size_t n,
                            size_t d, double min_cos, double rel)
{
    double amax = 0, dmax = 0, worst = 1;
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
        double cs = aa == 0 && bb == 0 ? 1 : ab / (sqrt(aa) * sqrt(bb) + 1e-30);
        if (cs < worst) {
            worst = cs;
            worst_row = r;
        }
    }
    int ok = worst >= min_cos && (rel <= 0 || dmax <= rel * amax);
    if (!ok)
        fprintf(stderr,
                "  %s: worst cosine %.9f (row %zu), max|diff| %.3g (limit %.3g)  <-- FAIL\n", what,
                worst, worst_row, dmax, rel * amax);
    return ok;
}

static int compare_rows(const char *what, const float *got, const float *want, size_t n, size_t d)
{
    return compare_rows_tol(what, got, want, n, d, 0.99999, 1e-4);
}

// A fixture: its goldens and its model.
typedef struct fix {
    const char *name;
    char dir[1024];
    seize_st_file gold;
    json_t *js;
    seize_blip2_model *m;
    const seize_blip2_config *c;
    int32_t prompt[16];
    size_t n_prompt;
} fix;

static int fix_open(const char *name, fix *f)
{
    memset(f, 0, sizeof *f);
    f->name = name;
    char rel[64], path[1100];
    snprintf(rel, sizeof rel, "blip2/%s", name);
    snprintf(f->dir, sizeof f->dir, "%s", check_fixture_path(rel));
    snprintf(path, sizeof path, "%s/goldens.safetensors", f->dir);
    if (seize_st_open(path, &f->gold) < 0) return -1;
    snprintf(path, sizeof path, "%s/goldens.json", f->dir);
    if (seize_json_load(path, &f->js) < 0) return -1;
    json_t *ids = json_object_get(f->js, "prompt_ids");
    for (size_t i = 0; i < json_array_size(ids) && i < 16; i++)
        f->prompt[f->n_prompt++] = (int32_t)json_integer_value(json_array_get(ids, i));
    if (seize_blip2_model_load(f->dir, &f->m) < 0) {
        fprintf(stderr, "  %s\n", seize_errmsg());
        return -1;
    }
    f->c = seize_blip2_model_get_config(f->m);
    return 0;
}

static void fix_close(fix *f)
{
    seize_blip2_model_free(f->m);
    json_decref(f->js);
    seize_st_close(&f->gold);
}

static const float *gold(const fix *f, const char *name, size_t *count)
{
    const seize_st_tensor *t = seize_st_find(&f->gold, name);
    if (!t || t->dtype != SEIZE_ST_F32) return NULL;
    if (count) *count = t->count;
    return (const float *)t->data;
}

static seize_blip2 *open_state(const seize_blip2_model *m, seize_precision p, int images)
{
    seize_blip2 *s = NULL;
    seize_blip2_params prm = {.threads = 2, .precision = p, .max_images = images};
    if (seize_blip2_open(m, prm, &s) < 0) fprintf(stderr, "  open: %s\n", seize_errmsg());
    return s;
}

// The first-step logits (vocab_size floats) of the golden image and prompt through an fp32
// state of m: 0, or -1 (message printed).
static int first_logits(const fix *f, const seize_blip2_model *m, float *out)
{
    seize_blip2 *s = open_state(m, SEIZE_PRECISION_FP32, 1);
    int rc = s ? 0 : -1;
    if (rc == 0 && (nn_blip2_encode(s, gold(f, "pixel_values", NULL), 1, NULL, NULL) < 0 ||
                    nn_blip2_prefill(s, 1, f->prompt, f->n_prompt, out, NULL, NULL) < 0)) {
        fprintf(stderr, "  first logits: %s\n", seize_errmsg());
        rc = -1;
    }
    seize_blip2_free(s);
    return rc;
}

// --- traces --------------------------------------------------------------------------------------

#define MAX_TR 64
typedef struct trace_set {
    char name[MAX_TR][64];
    float *data[MAX_TR];
    size_t rows[MAX_TR], cols[MAX_TR], image[MAX_TR];
    int n;
} trace_set;

static void collect(void *user, size_t image, const char *name, const float *data, size_t rows,
                    size_t cols)
{
    trace_set *t = user;
    if (t->n == MAX_TR) return;
    int i = t->n++;
    snprintf(t->name[i], sizeof t->name[i], "%s", name);
    t->data[i] = malloc(rows * cols * sizeof(float));
    memcpy(t->data[i], data, rows * cols * sizeof(float));
    t->rows[i] = rows;
    t->cols[i] = cols;
    t->image[i] = image;
}

static void trace_clear(trace_set *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->data[i]);
    t->n = 0;
}

static int trace_find(const trace_set *t, const char *name, size_t image)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->name[i], name) && t->image[i] == image) return i;
    return -1;
}

// Every trace against the golden named gname(trace name); counts the comparisons.
static int trace_match(const fix *f, const trace_set *t, const char *prefix_from,
                       const char *prefix_to, int *n_cmp)
{
    int ok = 1;
    for (int i = 0; i < t->n; i++) {
        char g[128];
        size_t lf = strlen(prefix_from);
        if (strncmp(t->name[i], prefix_from, lf) != 0) continue;
        snprintf(g, sizeof g, "%s%s", prefix_to, t->name[i] + lf);
        size_t cnt;
        const float *want = gold(f, g, &cnt);
        if (!want) continue;
        char label[200];
        snprintf(label, sizeof label, "%s %s", f->name, g);
        if (cnt != t->rows[i] * t->cols[i]) {
            fprintf(stderr, "  %s: %zu values, golden %zu\n", label, t->rows[i] * t->cols[i], cnt);
            return 0;
        }
        ok &= compare_rows(label, t->data[i], want, t->rows[i], t->cols[i]);
        (*n_cmp)++;
    }
    return ok;
}

// The number of golden tensors whose name starts with prefix.
static int gold_count(const fix *f, const char *prefix)
{
    int n = 0;
    for (size_t i = 0; i < f->gold.n_tensors; i++)
        n += strncmp(f->gold.tensors[i].name, prefix, strlen(prefix)) == 0;
    return n;
}

// --- the goldens ---------------------------------------------------------------------------------

// Vision, Q-Former and language_projection of the golden pixels; then the LM with BOS + the
// prompt and with BOS only: every golden tensor of the forward pass is traced and matches.
static void golden_one(const char *name)
{
    fix f;
    CHECK(fix_open(name, &f) == 0);
    seize_blip2 *s = open_state(f.m, SEIZE_PRECISION_FP32, 1);
    CHECK(s != NULL);
    size_t V = (size_t)f.c->vocab_size, Q = (size_t)f.c->num_query_tokens;
    const float *pix = gold(&f, "pixel_values", NULL);
    CHECK(pix != NULL);
    trace_set t = {0};
    int n_cmp = 0, ok = 1;
    CHECK_EQ(nn_blip2_encode(s, pix, 1, collect, &t), 0);
    ok &= trace_match(&f, &t, "vision.", "vision.", &n_cmp);
    ok &= trace_match(&f, &t, "qformer.", "qformer.", &n_cmp);
    ok &= trace_match(&f, &t, "language_projection", "language_projection", &n_cmp);
    // the Q-Former's output is its last hidden state
    char last[64];
    snprintf(last, sizeof last, "qformer.hidden_states.%d", f.c->qformer_layers);
    int li = trace_find(&t, last, 0);
    CHECK(li >= 0 && gold(&f, "qformer.last_hidden_state", NULL));
    ok &= compare_rows("qformer.last_hidden_state", t.data[li],
                       gold(&f, "qformer.last_hidden_state", NULL), t.rows[li], t.cols[li]);
    // every golden of the encoder was compared (pooler_output and last_hidden_state aside)
    CHECK_EQ(n_cmp, gold_count(&f, "vision.") - 1 + gold_count(&f, "qformer.") - 1 + 1);
    trace_clear(&t);

    float *logits = malloc(V * sizeof *logits);
    n_cmp = 0;
    CHECK_EQ(nn_blip2_prefill(s, 1, f.prompt, f.n_prompt, logits, collect, &t), 0);
    ok &= trace_match(&f, &t, "lm.hidden_states.", "forward_prompt.lm.hidden_states.", &n_cmp);
    ok &= trace_match(&f, &t, "lm.logits", "forward_prompt.logits", &n_cmp);
    CHECK_EQ(n_cmp, gold_count(&f, "forward_prompt.lm.") + 1);
    size_t T = Q + f.n_prompt;
    ok &= compare_rows("prefill logits", logits,
                       gold(&f, "forward_prompt.logits", NULL) + (T - 1) * V, 1, V);
    trace_clear(&t);
    n_cmp = 0;
    int32_t bos = f.c->bos_id;
    CHECK_EQ(nn_blip2_prefill(s, 1, &bos, 1, logits, collect, &t), 0);
    ok &= trace_match(&f, &t, "lm.logits", "forward_bos.logits", &n_cmp);
    CHECK_EQ(n_cmp, 1);
    trace_clear(&t);
    free(logits);
    seize_blip2_free(s);
    fix_close(&f);
    CHECK(ok);
}

static void test_goldens(void)
{
    NEED_FIXTURES();
    for (int i = 0; i < N_FIX; i++) {
        golden_one(fixtures[i]);
        if (check_failed_now) return;
    }
}

// The config of both fixtures as the goldens' config (transformers' full config) has it.
static void test_config(void)
{
    NEED_FIXTURES();
    for (int i = 0; i < N_FIX; i++) {
        fix f;
        CHECK(fix_open(fixtures[i], &f) == 0);
        char path[1100];
        snprintf(path, sizeof path, "%s/config_full.json", f.dir);
        json_t *full;
        CHECK_EQ(seize_json_load(path, &full), 0);
        json_t *vc = json_object_get(full, "vision_config"),
               *qc = json_object_get(full, "qformer_config"),
               *tc = json_object_get(full, "text_config");
        const seize_blip2_config *c = f.c;
        CHECK_EQ(c->image_size, json_integer_value(json_object_get(vc, "image_size")));
        CHECK_EQ(c->patch_size, json_integer_value(json_object_get(vc, "patch_size")));
        CHECK_EQ(c->vision_width, json_integer_value(json_object_get(vc, "hidden_size")));
        CHECK_NEAR(c->vision_eps, json_number_value(json_object_get(vc, "layer_norm_eps")), 1e-12);
        CHECK_NEAR(c->qformer_eps, json_number_value(json_object_get(qc, "layer_norm_eps")), 1e-18);
        CHECK_EQ(c->cross_attention_frequency,
                 json_integer_value(json_object_get(qc, "cross_attention_frequency")));
        CHECK_EQ(c->encoder_hidden_size,
                 json_integer_value(json_object_get(qc, "encoder_hidden_size")));
        CHECK_EQ(c->num_query_tokens,
                 json_integer_value(json_object_get(full, "num_query_tokens")));
        CHECK_EQ(c->text_width, json_integer_value(json_object_get(tc, "hidden_size")));
        CHECK_EQ(c->vocab_size, json_integer_value(json_object_get(tc, "vocab_size")));
        CHECK_EQ(c->eos_id, json_integer_value(json_object_get(tc, "eos_token_id")));
        CHECK_EQ(c->bos_id, 2);
        CHECK_EQ(c->pad_id, 1);
        CHECK_NEAR(c->text_eps, 1e-5, 1e-12);
        CHECK_EQ(c->n_params, json_integer_value(json_object_get(f.js, "num_parameters")));
        CHECK(seize_blip2_model_tokenizer(f.m) != NULL);
        json_decref(full);
        fix_close(&f);
    }
}

// The BLIP image processor on the fixtures' image (RGBA PNG, 1192 × 874, not square): the
// golden pixel_values within 1e-6, from the file and from a decoded image.
static void test_pixels(void)
{
    NEED_FIXTURES();
    for (int i = 0; i < N_FIX; i++) {
        fix f;
        CHECK(fix_open(fixtures[i], &f) == 0);
        size_t S = (size_t)f.c->image_size, n = 3 * S * S, cnt = 0;
        const float *want = gold(&f, "pixel_values", &cnt);
        CHECK(want && cnt == n);
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        const char *png = check_fixture_path("blip2/merlion.png");
        CHECK_EQ(seize_blip2_load_pixels(f.m, png, a), 0);
        seize_image *img = NULL;
        CHECK_EQ(seize_image_load(png, 0, &img), 0);
        CHECK_EQ(seize_blip2_image_pixels(f.m, img, b), 0);
        seize_image_free(img);
        double dmax = 0;
        for (size_t k = 0; k < n; k++) {
            dmax = fmax(dmax, fabs(a[k] - want[k]));
            CHECK(a[k] == b[k]);
        }
        fprintf(stderr, "  %s pixels: max|diff| %.3g\n", f.name, dmax);
        CHECK(dmax <= 1e-6);
        free(a), free(b);
        fix_close(&f);
    }
}

// Resident kB of the mapping that holds address p (/proc/self/smaps), or -1.
static long mapping_rss_kb(const void *p, size_t *size)
{
    FILE *fp = fopen("/proc/self/smaps", "r");
    if (!fp) return -1;
    char line[512];
    int in = 0;
    long rss = -1;
    uintptr_t a = (uintptr_t)p;
    while (fgets(line, sizeof line, fp)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = a >= lo && a < hi;
            if (in) *size = hi - lo;
        } else if (in && !strncmp(line, "Rss:", 4)) {
            rss = atol(line + 4);
            break;
        }
    }
    fclose(fp);
    return rss;
}

// Once a state has packed the weights, the file's pages of every packed matrix have left the
// resident set: the weights file's mapping keeps less than half its size resident after a
// forward pass (the float32 vectors are used in place).
static void test_file_pages_dropped(void)
{
    NEED_FIXTURES();
    if (RUNNING_ON_VALGRIND) SKIP("valgrind maps files its own way");
    fix f;
    CHECK(fix_open("tiny364", &f) == 0);
    const seize_st_tensor *t = nn_blip2_tensor(f.m, "language_projection.weight", NULL);
    CHECK(t != NULL);
    size_t size = 0;
    volatile uint8_t sum = 0;
    for (size_t k = 0; k < t->nbytes; k += 64)
        sum += t->data[k]; // the file is touched (as a load that checks the data would)
    seize_blip2 *s = open_state(f.m, SEIZE_PRECISION_FP32, 1);
    CHECK(s != NULL);
    size_t V = (size_t)f.c->vocab_size;
    float *lg = malloc(V * sizeof *lg);
    CHECK_EQ(nn_blip2_encode(s, gold(&f, "pixel_values", NULL), 1, NULL, NULL), 0);
    CHECK_EQ(nn_blip2_prefill(s, 1, f.prompt, f.n_prompt, lg, NULL, NULL), 0);
    long rss = mapping_rss_kb(t->data, &size);
    fprintf(stderr, "  mapping of %zu kB: %ld kB resident after open and a forward pass\n",
            size / 1024, rss);
    CHECK(rss >= 0 && (size_t)rss * 1024 < size / 2);
    free(lg);
    seize_blip2_free(s);
    fix_close(&f);
}

// --- decoding with the cache ---------------------------------------------------------------------

static const int32_t extra_ids[] = {5, 77, 300, 14, 9, 2};
#define N_EXTRA (sizeof extra_ids / sizeof *extra_ids)

// Prefill of BOS + prompt, then one step per token, reproduces the logits of the whole
// sequence prefilled at once.
static void decode_one(const char *name)
{
    fix f;
    CHECK(fix_open(name, &f) == 0);
    seize_blip2 *s = open_state(f.m, SEIZE_PRECISION_FP32, 1);
    CHECK(s != NULL);
    size_t V = (size_t)f.c->vocab_size, Q = (size_t)f.c->num_query_tokens;
    CHECK_EQ(nn_blip2_encode(s, gold(&f, "pixel_values", NULL), 1, NULL, NULL), 0);
    int32_t all[32];
    memcpy(all, f.prompt, f.n_prompt * sizeof *all);
    memcpy(all + f.n_prompt, extra_ids, sizeof extra_ids);
    size_t n_all = f.n_prompt + N_EXTRA;
    float *lg = malloc(V * sizeof *lg);
    trace_set t = {0};
    CHECK_EQ(nn_blip2_prefill(s, 1, all, n_all, lg, collect, &t), 0);
    int li = trace_find(&t, "lm.logits", 0);
    CHECK(li >= 0 && t.rows[li] == Q + n_all);
    const float *full = t.data[li];
    int ok = compare_rows("last row", lg, full + (Q + n_all - 1) * V, 1, V);
    CHECK_EQ(nn_blip2_prefill(s, 1, f.prompt, f.n_prompt, lg, NULL, NULL), 0);
    ok &= compare_rows("prefill", lg, full + (Q + f.n_prompt - 1) * V, 1, V);
    for (size_t j = 0; j < N_EXTRA; j++) {
        CHECK_EQ(nn_blip2_step(s, 1, &extra_ids[j], lg), 0);
        char label[64];
        snprintf(label, sizeof label, "%s step %zu", name, j);
        ok &= compare_rows(label, lg, full + (Q + f.n_prompt + j) * V, 1, V);
    }
    trace_clear(&t);
    free(lg);
    seize_blip2_free(s);
    fix_close(&f);
    CHECK(ok);
}

static void test_decode_steps(void)
{
    NEED_FIXTURES();
    for (int i = 0; i < N_FIX && !check_failed_now; i++)
        decode_one(fixtures[i]);
}

// A second image: the golden pixels mirrored left-right and dimmed.
static float *other_pixels(const fix *f)
{
    size_t S = (size_t)f->c->image_size;
    const float *p = gold(f, "pixel_values", NULL);
    float *o = malloc(3 * S * S * sizeof *o);
    for (size_t c = 0; c < 3; c++)
        for (size_t y = 0; y < S; y++)
            for (size_t x = 0; x < S; x++)
                o[(c * S + y) * S + x] = 0.7f * p[(c * S + y) * S + (S - 1 - x)] - 0.1f;
    return o;
}

// Image i alone: prefill logits, then one step with token `id` per sample j (ids[j]).
static int single_run(seize_blip2 *s, const fix *f, const float *pix, const int32_t *ids, size_t r,
                      float *pre, float *steps)
{
    size_t V = (size_t)f->c->vocab_size;
    if (nn_blip2_encode(s, pix, 1, NULL, NULL) < 0) return -1;
    for (size_t j = 0; j < r; j++) {
        if (nn_blip2_prefill(s, 1, f->prompt, f->n_prompt, pre, NULL, NULL) < 0) return -1;
        if (nn_blip2_step(s, 1, &ids[j], steps + j * V) < 0) return -1;
    }
    return 0;
}

// Two images in one call equal each image alone; nn_blip2_expand to r = 15 samples per image
// then one step of 2 × 15 sequences equals each sequence decoded alone (r = 1).
static void batch_one(const char *name)
{
    fix f;
    CHECK(fix_open(name, &f) == 0);
    seize_blip2 *s = open_state(f.m, SEIZE_PRECISION_FP32, 2);
    CHECK(s != NULL);
    size_t V = (size_t)f.c->vocab_size, S = (size_t)f.c->image_size, r = 15;
    CHECK_EQ(nn_blip2_state_limits(s)->max_samples, 15);
    float *pix = malloc(2 * 3 * S * S * sizeof *pix), *b = other_pixels(&f);
    memcpy(pix, gold(&f, "pixel_values", NULL), 3 * S * S * sizeof *pix);
    memcpy(pix + 3 * S * S, b, 3 * S * S * sizeof *pix);
    int32_t ids[30];
    for (size_t j = 0; j < 2 * r; j++)
        ids[j] = (int32_t)((7 + 13 * j) % V);
    float *pre1 = malloc(2 * V * sizeof(float)), *st1 = malloc(2 * r * V * sizeof(float));
    float *pre2 = malloc(2 * V * sizeof(float)), *st2 = malloc(2 * r * V * sizeof(float));
    for (size_t i = 0; i < 2; i++)
        CHECK_EQ(
            single_run(s, &f, pix + i * 3 * S * S, ids + i * r, r, pre1 + i * V, st1 + i * r * V),
            0);
    CHECK_EQ(nn_blip2_encode(s, pix, 2, NULL, NULL), 0);
    CHECK_EQ(nn_blip2_prefill(s, 2, f.prompt, f.n_prompt, pre2, NULL, NULL), 0);
    int ok = compare_rows("2 images: prefill", pre2, pre1, 2, V);
    CHECK_EQ(nn_blip2_expand(s, 2, r), 0);
    CHECK_EQ(nn_blip2_step(s, 2 * r, ids, st2), 0);
    ok &= compare_rows("2 images × 15: step", st2, st1, 2 * r, V);
    // limits: a 3rd image, 31 sequences
    CHECK(nn_blip2_encode(s, pix, 3, NULL, NULL) < 0);
    CHECK(nn_blip2_expand(s, 2, r + 1) < 0);
    CHECK(nn_blip2_step(s, 2 * r + 1, ids, st2) < 0);
    int32_t bad = (int32_t)V;
    CHECK(nn_blip2_step(s, 1, &bad, st2) < 0);
    CHECK(strstr(seize_errmsg(), "vocabulary") != NULL);
    free(pix), free(b), free(pre1), free(pre2), free(st1), free(st2);
    seize_blip2_free(s);
    fix_close(&f);
    CHECK(ok);
}

static void test_batch_expand(void)
{
    NEED_FIXTURES();
    for (int i = 0; i < N_FIX && !check_failed_now; i++)
        batch_one(fixtures[i]);
}

// bf16 products: every prefill row's logits within cosine 0.999 of fp32; the packed weights
// take about half the bytes.
static void test_bf16(void)
{
    NEED_FIXTURES();
    for (int i = 0; i < N_FIX; i++) {
        fix f;
        CHECK(fix_open(fixtures[i], &f) == 0);
        seize_blip2 *s32 = open_state(f.m, SEIZE_PRECISION_FP32, 1);
        seize_blip2 *s16 = open_state(f.m, SEIZE_PRECISION_BF16, 1);
        CHECK(s32 && s16);
        size_t V = (size_t)f.c->vocab_size;
        trace_set a = {0}, b = {0};
        float *lg = malloc(V * sizeof *lg);
        const float *pix = gold(&f, "pixel_values", NULL);
        CHECK_EQ(nn_blip2_encode(s32, pix, 1, NULL, NULL), 0);
        CHECK_EQ(nn_blip2_prefill(s32, 1, f.prompt, f.n_prompt, lg, collect, &a), 0);
        CHECK_EQ(nn_blip2_encode(s16, pix, 1, NULL, NULL), 0);
        CHECK_EQ(nn_blip2_prefill(s16, 1, f.prompt, f.n_prompt, lg, collect, &b), 0);
        int ia = trace_find(&a, "lm.logits", 0), ib = trace_find(&b, "lm.logits", 0);
        CHECK(ia >= 0 && ib >= 0);
        int ok = compare_rows_tol("bf16 logits", b.data[ib], a.data[ia], a.rows[ia], V, 0.999, 0);
        size_t w32 = seize_blip2_weight_bytes(s32), w16 = seize_blip2_weight_bytes(s16);
        fprintf(stderr, "  %s: weights fp32 %zu B, bf16 %zu B; %s\n", f.name, w32, w16,
                seize_blip2_describe(s16));
        CHECK(w16 < w32 * 6 / 10 && w16 > w32 * 4 / 10);
        // the language model's products: the own small-m kernel where the CPU has AVX512_BF16
        CHECK(!__builtin_cpu_supports("avx512bf16") ||
              strstr(seize_blip2_describe(s16), "(language model: own AVX512_BF16") != NULL);
        trace_clear(&a);
        trace_clear(&b);
        free(lg);
        seize_blip2_free(s32);
        seize_blip2_free(s16);
        fix_close(&f);
        CHECK(ok);
    }
}

// --- folders: shards and bad input ---------------------------------------------------------------

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    int ok = fwrite(data, 1, n, fp) == n;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

// Writes tensors [lo, hi) of src as a safetensors file (header padded to 8 bytes), skipping
// the one named `skip` (may be NULL).
static int write_shard_as(const char *path, const seize_st_file *src, size_t lo, size_t hi,
                          const char *skip, seize_st_dtype to);

static int write_shard(const char *path, const seize_st_file *src, size_t lo, size_t hi,
                       const char *skip)
{
    return write_shard_as(path, src, lo, hi, skip, SEIZE_ST_F32);
}

// f32 → bf16, rounding to nearest even.
static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

// The bytes of F32 tensor t converted to `to` (F16 or BF16) in a new buffer.
static uint16_t *convert(const seize_st_tensor *t, seize_st_dtype to)
{
    uint16_t *o = malloc(t->count * 2 + 1);
    const float *x = (const float *)t->data;
    for (size_t i = 0; i < t->count; i++)
        o[i] = to == SEIZE_ST_F16 ? seize_f32_to_f16(x[i]) : to_bf16(x[i]);
    return o;
}

// As write_shard; F32 tensors are written in dtype `to` (F32, F16 or BF16).
static int write_shard_as(const char *path, const seize_st_file *src, size_t lo, size_t hi,
                          const char *skip, seize_st_dtype to)
{
    seize_buf h = {0};
    size_t off = 0;
    seize_buf_puts(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = lo; i < hi; i++) {
        const seize_st_tensor *t = &src->tensors[i];
        if (skip && !strcmp(t->name, skip)) continue;
        int conv = t->dtype == SEIZE_ST_F32 && to != SEIZE_ST_F32;
        size_t nb = conv ? t->count * 2 : t->nbytes;
        seize_buf_printf(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t->name,
                         seize_st_dtype_name(conv ? to : t->dtype));
        for (int k = 0; k < t->ndim; k++)
            seize_buf_printf(&h, "%s%zu", k ? "," : "", t->shape[k]);
        seize_buf_printf(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + nb);
        off += nb;
    }
    seize_buf_puts(&h, "}");
    while (h.len % 8)
        seize_buf_puts(&h, " ");
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    uint64_t n = h.len;
    int ok = fwrite(&n, 8, 1, fp) == 1 && fwrite(h.data, 1, h.len, fp) == h.len;
    for (size_t i = lo; i < hi && ok; i++) {
        const seize_st_tensor *t = &src->tensors[i];
        if (skip && !strcmp(t->name, skip)) continue;
        if (t->dtype == SEIZE_ST_F32 && to != SEIZE_ST_F32) {
            uint16_t *c = convert(t, to);
            ok = fwrite(c, 2, t->count, fp) == t->count;
            free(c);
        } else {
            ok = fwrite(t->data, 1, t->nbytes, fp) == t->nbytes;
        }
    }
    seize_buf_free(&h);
    return fclose(fp) == 0 && ok ? 0 : -1;
}

#define SHARD1 "model-00001-of-00002.safetensors"
#define SHARD2 "model-00002-of-00002.safetensors"

// A folder `sub` of the scratch folder with the fixture's config and tokenizer files linked.
static const char *make_folder(const fix *f, const char *sub, int with_config)
{
    static char dir[600];
    snprintf(dir, sizeof dir, "%s", check_tmp(sub));
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) return NULL;
    const char *files[] = {"config.json", "vocab.json", "merges.txt", "special_tokens_map.json",
                           "tokenizer_config.json"};
    for (size_t i = with_config ? 0 : 1; i < sizeof files / sizeof *files; i++) {
        char from[1100], to[700];
        snprintf(from, sizeof from, "%s/%s", f->dir, files[i]);
        snprintf(to, sizeof to, "%s/%s", dir, files[i]);
        char *abs = realpath(from, NULL);
        if (!abs || symlink(abs, to) != 0) {
            free(abs);
            return NULL;
        }
        free(abs);
    }
    return dir;
}

// The fixture's weights split in two shards with an index; extra_entry (may be NULL) is added
// to the weight_map, `skip` left out of the shards.
static const char *make_sharded(const fix *f, const char *sub, const char *extra_entry,
                                const char *skip)
{
    const char *dir = make_folder(f, sub, 1);
    if (!dir) return NULL;
    char path[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", f->dir);
    seize_st_file st;
    if (seize_st_open(path, &st) < 0) return NULL;
    size_t half = st.n_tensors / 2;
    char p1[800], p2[800];
    snprintf(p1, sizeof p1, "%s/" SHARD1, dir);
    snprintf(p2, sizeof p2, "%s/" SHARD2, dir);
    int rc = write_shard(p1, &st, 0, half, skip) | write_shard(p2, &st, half, st.n_tensors, skip);
    seize_buf ix = {0};
    seize_buf_puts(&ix, "{\"metadata\": {\"total_size\": 1}, \"weight_map\": {");
    for (size_t i = 0; i < st.n_tensors; i++)
        if (!skip || strcmp(st.tensors[i].name, skip))
            seize_buf_printf(&ix, "%s\"%s\": \"%s\"", i ? ", " : "", st.tensors[i].name,
                             i < half ? SHARD1 : SHARD2);
    if (extra_entry) seize_buf_printf(&ix, ", %s", extra_entry);
    seize_buf_puts(&ix, "}}");
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    rc |= write_file(path, ix.data, ix.len);
    seize_buf_free(&ix);
    seize_st_close(&st);
    return rc == 0 ? dir : NULL;
}

// Loading dir fails with code and a message holding each of want[] (NULL-terminated).
static int load_fails(const char *dir, int code, const char *const *want)
{
    seize_blip2_model *m = NULL;
    int rc = seize_blip2_model_load(dir, &m);
    seize_blip2_model_free(m);
    const char *msg = seize_errmsg();
    int ok = rc == code;
    for (size_t i = 0; want[i]; i++)
        ok &= strstr(msg, want[i]) != NULL;
    if (!ok) fprintf(stderr, "  %s: rc %d (want %d): %s\n", dir, rc, code, msg);
    return ok;
}

// Split in two shards with an index: the same model (bit for bit); a truncated or missing
// shard, an index naming a tensor its shard does not hold or a path outside the folder, and a
// tensor absent from every shard are errors naming the file.
static void test_shards(void)
{
    NEED_FIXTURES();
    fix f;
    CHECK(fix_open("tiny224", &f) == 0);
    const char *dir = make_sharded(&f, "sharded", NULL, NULL);
    CHECK(dir != NULL);
    seize_blip2_model *m2 = NULL;
    CHECK_EQ(seize_blip2_model_load(dir, &m2), 0);
    CHECK_EQ(seize_blip2_model_get_config(m2)->n_params, f.c->n_params);
    size_t V = (size_t)f.c->vocab_size;
    float *a = malloc(V * sizeof *a), *b = malloc(V * sizeof *b);
    CHECK_EQ(first_logits(&f, f.m, a), 0);
    CHECK_EQ(first_logits(&f, m2, b), 0);
    CHECK(memcmp(a, b, V * sizeof *a) == 0);
    seize_blip2_model_free(m2);
    free(a), free(b);

    char p[900];
    CHECK((dir = make_sharded(&f, "truncated", NULL, NULL)) != NULL);
    snprintf(p, sizeof p, "%s/" SHARD2, dir);
    size_t len;
    CHECK(seize_open_regular(p, &len) >= 0);
    CHECK_EQ(truncate(p, (off_t)(len - 100)), 0);
    CHECK(load_fails(dir, SEIZE_EFORMAT, (const char *[]){SHARD2, NULL}));
    CHECK((dir = make_sharded(&f, "missing", NULL, NULL)) != NULL);
    snprintf(p, sizeof p, "%s/" SHARD1, dir);
    CHECK_EQ(unlink(p), 0);
    CHECK(load_fails(dir, SEIZE_ENOTFOUND, (const char *[]){SHARD1, "does not exist", NULL}));
    CHECK((dir = make_sharded(&f, "absent", "\"vision_model.extra\": \"" SHARD2 "\"", NULL)));
    CHECK(load_fails(dir, SEIZE_EFORMAT,
                     (const char *[]){"index.json", "vision_model.extra", SHARD2, NULL}));
    CHECK((dir = make_sharded(&f, "escape", "\"x\": \"../" SHARD2 "\"", NULL)));
    CHECK(load_fails(dir, SEIZE_EFORMAT, (const char *[]){"index.json", "file name", NULL}));
    CHECK((dir = make_sharded(&f, "lacking", NULL, "language_projection.bias")));
    CHECK(load_fails(dir, SEIZE_EFORMAT,
                     (const char *[]){"index.json", "language_projection.bias", "missing", NULL}));
    fix_close(&f);
}

// The fixture's weights stored as BF16 and as F16: loaded in the file's dtype, the logits of
// every prefill row within cosine 0.999 of the F32 file's, in fp32 and bf16 products.
static void test_half_files(void)
{
    NEED_FIXTURES();
    fix f;
    CHECK(fix_open("tiny364", &f) == 0);
    seize_blip2 *ref = open_state(f.m, SEIZE_PRECISION_FP32, 1);
    CHECK(ref != NULL);
    size_t V = (size_t)f.c->vocab_size;
    float *lg = malloc(V * sizeof *lg);
    trace_set a = {0};
    const float *pix = gold(&f, "pixel_values", NULL);
    CHECK_EQ(nn_blip2_encode(ref, pix, 1, NULL, NULL), 0);
    CHECK_EQ(nn_blip2_prefill(ref, 1, f.prompt, f.n_prompt, lg, collect, &a), 0);
    int ia = trace_find(&a, "lm.logits", 0), ok = 1;
    CHECK(ia >= 0);
    char path[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", f.dir);
    seize_st_file st;
    CHECK_EQ(seize_st_open(path, &st), 0);
    seize_st_dtype dts[2] = {SEIZE_ST_BF16, SEIZE_ST_F16};
    for (int k = 0; k < 2; k++) {
        const char *dir = make_folder(&f, k ? "f16" : "bf16", 1);
        CHECK(dir != NULL);
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        CHECK_EQ(write_shard_as(path, &st, 0, st.n_tensors, NULL, dts[k]), 0);
        seize_blip2_model *m = NULL;
        CHECK_EQ(seize_blip2_model_load(dir, &m), 0);
        for (int p = 0; p < 2; p++) {
            seize_blip2 *s = open_state(m, p ? SEIZE_PRECISION_BF16 : SEIZE_PRECISION_FP32, 1);
            CHECK(s != NULL);
            trace_set b = {0};
            CHECK_EQ(nn_blip2_encode(s, pix, 1, NULL, NULL), 0);
            CHECK_EQ(nn_blip2_prefill(s, 1, f.prompt, f.n_prompt, lg, collect, &b), 0);
            int ib = trace_find(&b, "lm.logits", 0);
            CHECK(ib >= 0);
            char label[64];
            snprintf(label, sizeof label, "%s file, %s products", seize_st_dtype_name(dts[k]),
                     p ? "bf16" : "fp32");
            ok &= compare_rows_tol(label, b.data[ib], a.data[ia], a.rows[ia], V, 0.999, 0);
            trace_clear(&b);
            seize_blip2_free(s);
        }
        seize_blip2_model_free(m);
    }
    seize_st_close(&st);
    trace_clear(&a);
    free(lg);
    seize_blip2_free(ref);
    fix_close(&f);
    CHECK(ok);
}

// A safetensors file of one F32 tensor (rows, cols).
static int write_one(const char *path, const char *name, const float *data, size_t rows,
                     size_t cols)
{
    char h[512];
    int n = snprintf(h, sizeof h,
                     "{\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu,%zu],\"data_offsets\":[0,%zu]}}",
                     name, rows, cols, rows * cols * 4);
    while (n % 8)
        h[n++] = ' ';
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    uint64_t len = (uint64_t)n;
    int ok = fwrite(&len, 8, 1, fp) == 1 && fwrite(h, 1, (size_t)n, fp) == (size_t)n &&
             fwrite(data, 4, rows * cols, fp) == rows * cols;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

// A file with its own lm_head.weight (here 2 × the token table) uses it instead of the tied
// table: the logits are exactly twice those of the tied model.
static void test_own_lm_head(void)
{
    NEED_FIXTURES();
    fix f;
    CHECK(fix_open("tiny224", &f) == 0);
    const char *dir = make_folder(&f, "head", 1);
    CHECK(dir != NULL);
    char path[1100], p1[800], p2[800];
    snprintf(path, sizeof path, "%s/model.safetensors", f.dir);
    seize_st_file st;
    CHECK_EQ(seize_st_open(path, &st), 0);
    snprintf(p1, sizeof p1, "%s/" SHARD1, dir);
    snprintf(p2, sizeof p2, "%s/" SHARD2, dir);
    CHECK_EQ(write_shard(p1, &st, 0, st.n_tensors, NULL), 0);
    const seize_st_tensor *tok =
        seize_st_find(&st, "language_model.model.decoder.embed_tokens.weight");
    CHECK(tok != NULL && tok->dtype == SEIZE_ST_F32);
    float *two = malloc(tok->count * sizeof *two);
    for (size_t k = 0; k < tok->count; k++)
        two[k] = 2 * ((const float *)tok->data)[k];
    CHECK_EQ(write_one(p2, "language_model.lm_head.weight", two, tok->shape[0], tok->shape[1]), 0);
    free(two);
    seize_buf ix = {0};
    seize_buf_puts(&ix, "{\"weight_map\": {\"language_model.lm_head.weight\": \"" SHARD2 "\"");
    for (size_t k = 0; k < st.n_tensors; k++)
        seize_buf_printf(&ix, ", \"%s\": \"" SHARD1 "\"", st.tensors[k].name);
    seize_buf_puts(&ix, "}}");
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    CHECK_EQ(write_file(path, ix.data, ix.len), 0);
    seize_buf_free(&ix);
    seize_st_close(&st);
    seize_blip2_model *m = NULL;
    CHECK_EQ(seize_blip2_model_load(dir, &m), 0);
    size_t V = (size_t)f.c->vocab_size;
    float *a = malloc(V * sizeof *a), *b = malloc(V * sizeof *b);
    CHECK_EQ(first_logits(&f, f.m, a), 0);
    CHECK_EQ(first_logits(&f, m, b), 0);
    size_t same = 0;
    for (size_t k = 0; k < V; k++)
        same += b[k] == 2 * a[k];
    CHECK_EQ(same, V);
    free(a), free(b);
    seize_blip2_model_free(m);
    fix_close(&f);
}

// A config.json with one field changed: refused, naming the file and the field.
static int bad_config_msg(const fix *f, const char *sub, const char *section, const char *key,
                          json_t *val, const char *want);

static int bad_config(const fix *f, const char *sub, const char *section, const char *key,
                      json_t *val)
{
    return bad_config_msg(f, sub, section, key, val, key);
}

// The same; the message holds `want` besides the file's name.
static int bad_config_msg(const fix *f, const char *sub, const char *section, const char *key,
                          json_t *val, const char *want)
{
    const char *dir = make_folder(f, sub, 0);
    char path[1100];
    snprintf(path, sizeof path, "%s/config.json", f->dir);
    json_t *cfg;
    if (!dir || seize_json_load(path, &cfg) < 0) return 0;
    json_t *o = section ? json_object_get(cfg, section) : cfg;
    json_object_set_new(o, key, val);
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_dump_file(cfg, path, 0);
    json_decref(cfg);
    snprintf(path, sizeof path, "%s/model.safetensors", f->dir);
    char to[800], *abs = realpath(path, NULL);
    snprintf(to, sizeof to, "%s/model.safetensors", dir);
    int linked = abs && symlink(abs, to) == 0;
    free(abs);
    const char *file = strcmp(want, key) ? "model.safetensors" : "config.json";
    return linked && load_fails(dir, SEIZE_EFORMAT, (const char *[]){file, want, NULL});
}

// Fields as the hub's BLIP-2 configs (Salesforce/blip2-opt-2.7b, blip2-opt-6.7b-coco) have
// them, besides transformers' full set of defaults (config_full.json).
static void hub_fields(json_t *cfg, int width)
{
    json_t *vc = json_object_get(cfg, "vision_config"),
           *qc = json_object_get(cfg, "qformer_config"), *tc = json_object_get(cfg, "text_config");
    json_object_set_new(cfg, "_commit_hash", json_null());
    json_object_set_new(cfg, "tie_word_embeddings", json_false());
    json_object_set_new(cfg, "image_token_index", json_integer(50265));
    json_object_set_new(cfg, "transformers_version", json_null());
    json_object_set_new(cfg, "torch_dtype", json_string("float32"));
    json_object_set_new(tc, "_name_or_path", json_string("facebook/opt-2.7b"));
    json_object_set_new(tc, "architectures", json_pack("[s]", "OPTForCausalLM"));
    json_object_set_new(tc, "prefix", json_string("</s>"));
    json_object_set_new(tc, "torch_dtype", json_string("float16"));
    json_object_set_new(tc, "dropout", json_real(0.1));
    json_object_set_new(tc, "layerdrop", json_real(0.0));
    json_object_set_new(tc, "init_std", json_real(0.02));
    json_object_set_new(tc, "bos_token_id", json_integer(2));
    json_object_set_new(tc, "pad_token_id", json_integer(1));
    json_object_set_new(tc, "use_cache", json_true());
    json_object_set_new(tc, "transformers_version", json_string("4.27.0.dev0"));
    json_object_set_new(vc, "layer_norm_eps", json_real(1e-5));
    json_object_set_new(vc, "initializer_range", json_real(1e-10));
    json_object_set_new(vc, "qkv_bias", json_true());
    json_object_set_new(vc, "num_channels", json_integer(3));
    json_object_set_new(vc, "projection_dim", json_integer(512));
    json_object_set_new(qc, "classifier_dropout", json_null());
    json_object_set_new(qc, "vocab_size", json_integer(30522));
    json_object_set_new(qc, "pad_token_id", json_integer(0));
    json_object_set_new(qc, "max_position_embeddings", json_integer(512));
    json_object_set_new(qc, "encoder_hidden_size", json_integer(width));
    json_object_set_new(qc, "id2label", json_pack("{s:s,s:s}", "0", "LABEL_0", "1", "LABEL_1"));
}

// A config.json shaped like the hub's (every field transformers writes, the hub's values of
// the harmless ones) loads, with the same shapes and the file's vision layer_norm_eps.
static void test_hub_config(void)
{
    NEED_FIXTURES();
    for (int i = 0; i < N_FIX; i++) {
        fix f;
        CHECK(fix_open(fixtures[i], &f) == 0);
        char sub[32], path[1100];
        snprintf(sub, sizeof sub, "hub%d", i);
        const char *dir = make_folder(&f, sub, 0);
        CHECK(dir != NULL);
        snprintf(path, sizeof path, "%s/config_full.json", f.dir);
        json_t *cfg;
        CHECK_EQ(seize_json_load(path, &cfg), 0);
        hub_fields(cfg, f.c->vision_width);
        snprintf(path, sizeof path, "%s/config.json", dir);
        CHECK_EQ(json_dump_file(cfg, path, JSON_INDENT(2)), 0);
        json_decref(cfg);
        snprintf(path, sizeof path, "%s/model.safetensors", f.dir);
        char to[800], *abs = realpath(path, NULL);
        snprintf(to, sizeof to, "%s/model.safetensors", dir);
        CHECK(abs && symlink(abs, to) == 0);
        free(abs);
        seize_blip2_model *m = NULL;
        CHECK_MSG(seize_blip2_model_load(dir, &m) == 0, "%s", seize_errmsg());
        seize_blip2_config want = *f.c, got = *seize_blip2_model_get_config(m);
        CHECK(fabsf(got.vision_eps - 1e-5f) == 0);
        got.vision_eps = want.vision_eps;
        CHECK(memcmp(&got, &want, sizeof got) == 0);
        seize_blip2_model_free(m);
        fix_close(&f);
    }
}

static void test_bad_folders(void)
{
    NEED_FIXTURES();
    fix f;
    CHECK(fix_open("tiny224", &f) == 0);
    CHECK(bad_config(&f, "c1", "text_config", "model_type", json_string("t5")));
    CHECK(bad_config(&f, "c2", NULL, "use_decoder_only_language_model", json_false()));
    CHECK(bad_config(&f, "c3", "text_config", "activation_function", json_string("gelu")));
    CHECK(bad_config(&f, "c4", "text_config", "word_embed_proj_dim", json_integer(32)));
    CHECK(bad_config(&f, "c5", "text_config", "do_layer_norm_before", json_false()));
    CHECK(bad_config(&f, "c6", "text_config", "_remove_final_layer_norm", json_true()));
    CHECK(bad_config(&f, "c7", "vision_config", "hidden_act", json_string("quick_gelu")));
    CHECK(bad_config(&f, "c8", "qformer_config", "position_embedding_type",
                     json_string("relative_key")));
    CHECK(bad_config(&f, "c9", "qformer_config", "hidden_act", json_string("relu")));
    CHECK(bad_config(&f, "c10", "text_config", "enable_bias", json_false()));
    CHECK(bad_config(&f, "c11", NULL, "model_type", json_string("clip")));
    CHECK(bad_config(&f, "c12", "vision_config", "hidden_size", json_string("64")));
    // more layers than the weights have tensors: refused before any per-layer table
    CHECK(bad_config(&f, "c13", "text_config", "num_hidden_layers", json_integer((1 << 24) - 1)));
    CHECK(bad_config(&f, "c14", "vision_config", "num_hidden_layers", json_integer(1 << 23)));
    // a config whose shapes disagree with the tensors: the tensor and both shapes are named
    CHECK(bad_config_msg(&f, "shape", "text_config", "ffn_dim", json_integer(100),
                         "layers.0.fc1.weight' has shape [128, 64], the config needs [100, 64]"));
    // CLIP folders, a folder without config.json, a missing folder
    CHECK(load_fails(check_fixture_path("models/tiny-laion"), SEIZE_EFORMAT,
                     (const char *[]){"config.json", "not a BLIP-2 folder", NULL}));
    CHECK(load_fails(check_fixture_path("models/tiny-laion.open_clip"), SEIZE_EFORMAT,
                     (const char *[]){"tiny-laion.open_clip", "not a BLIP-2 folder", NULL}));
    const char *dir = make_folder(&f, "noconfig", 0);
    CHECK(dir != NULL);
    CHECK(load_fails(dir, SEIZE_ENOTFOUND, (const char *[]){"config.json", NULL}));
    CHECK(load_fails(check_tmp("nowhere"), SEIZE_ENOTFOUND, (const char *[]){"nowhere", NULL}));
    // the tokenizer's merges missing
    CHECK((dir = make_folder(&f, "nomerges", 1)) != NULL);
    char p[1100], to[800], *abs;
    snprintf(p, sizeof p, "%s/model.safetensors", f.dir);
    snprintf(to, sizeof to, "%s/model.safetensors", dir);
    CHECK((abs = realpath(p, NULL)) != NULL);
    CHECK_EQ(symlink(abs, to), 0);
    free(abs);
    snprintf(p, sizeof p, "%s/merges.txt", dir);
    CHECK_EQ(unlink(p), 0);
    seize_blip2_model *mm = NULL;
    CHECK(seize_blip2_model_load(dir, &mm) < 0 && mm == NULL);
    CHECK(strstr(seize_errmsg(), "merges.txt") != NULL);
    // weights absent
    CHECK((dir = make_folder(&f, "noweights", 1)) != NULL);
    CHECK(load_fails(dir, SEIZE_ENOTFOUND, (const char *[]){"model.safetensors", NULL}));
    fix_close(&f);
}

// --- two threads, one model ----------------------------------------------------------------------

typedef struct opener {
    const fix *f;
    seize_precision prec;
    int rc;
    size_t bytes;
    float *logits; // (vocab) after BOS + the prompt
} opener;

static void *open_and_run(void *arg)
{
    opener *o = arg;
    const fix *f = o->f;
    seize_blip2 *s = NULL;
    seize_blip2_params p = {.threads = 1, .precision = o->prec};
    o->rc = seize_blip2_open(f->m, p, &s);
    if (o->rc == 0) o->rc = nn_blip2_encode(s, gold(f, "pixel_values", NULL), 1, NULL, NULL);
    if (o->rc == 0) o->rc = nn_blip2_prefill(s, 1, f->prompt, f->n_prompt, o->logits, NULL, NULL);
    if (o->rc == 0) o->bytes = seize_blip2_weight_bytes(s);
    seize_blip2_free(s);
    return NULL;
}

// States opened at once from four threads on one freshly loaded model (two precisions: the
// weights in each form are made once, under the model's lock, while the other form is in
// use): every state runs, and states of one precision give the same logits bit for bit.
static void test_threads_open(void)
{
    NEED_FIXTURES();
    fix f;
    CHECK(fix_open("tiny224", &f) == 0);
    size_t V = (size_t)f.c->vocab_size;
    opener o[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        o[i] = (opener){&f, i % 2 ? SEIZE_PRECISION_BF16 : SEIZE_PRECISION_FP32, -1, 0,
                        malloc(V * sizeof(float))};
        CHECK_EQ(pthread_create(&th[i], NULL, open_and_run, &o[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        CHECK_MSG(o[i].rc == 0, "thread %d: rc %d", i, o[i].rc);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(o[i].bytes, o[i + 2].bytes);
        CHECK(memcmp(o[i].logits, o[i + 2].logits, V * sizeof(float)) == 0);
    }
    const float *want = gold(&f, "forward_prompt.logits", NULL);
    size_t T = (size_t)f.c->num_query_tokens + f.n_prompt;
    CHECK(want && compare_rows("threaded prefill", o[0].logits, want + (T - 1) * V, 1, V));
    for (int i = 0; i < 4; i++)
        free(o[i].logits);
    fix_close(&f);
}

// A non-image file and a missing image: errors naming the file; int8 refused.
static void test_bad_inputs(void)
{
    NEED_FIXTURES();
    fix f;
    CHECK(fix_open("tiny224", &f) == 0);
    size_t S = (size_t)f.c->image_size;
    float *pix = malloc(3 * S * S * sizeof *pix);
    char path[1100];
    snprintf(path, sizeof path, "%s/config.json", f.dir);
    CHECK(seize_blip2_load_pixels(f.m, path, pix) < 0);
    CHECK(strstr(seize_errmsg(), "config.json") != NULL);
    CHECK(seize_blip2_load_pixels(f.m, check_tmp("absent.png"), pix) < 0);
    CHECK(strstr(seize_errmsg(), "absent.png") != NULL);
    free(pix);
    seize_blip2 *s = NULL;
    seize_blip2_params p = {.threads = 1, .precision = SEIZE_PRECISION_INT8};
    CHECK_EQ(seize_blip2_open(f.m, p, &s), SEIZE_EINVAL);
    CHECK(strstr(seize_errmsg(), "int8") != NULL);
    p = (seize_blip2_params){.threads = 1, .max_tokens = 1000};
    CHECK_EQ(seize_blip2_open(f.m, p, &s), SEIZE_EINVAL);
    CHECK(strstr(seize_errmsg(), "max_position_embeddings") != NULL);
    // a step before any prefill
    CHECK((s = open_state(f.m, SEIZE_PRECISION_FP32, 1)) != NULL);
    int32_t id = 5;
    float *lg = malloc((size_t)f.c->vocab_size * sizeof *lg);
    CHECK(nn_blip2_step(s, 1, &id, lg) == SEIZE_EINVAL);
    CHECK(nn_blip2_prefill(s, 1, &id, 1, lg, NULL, NULL) == SEIZE_EINVAL); // nothing encoded
    free(lg);
    seize_blip2_free(s);
    fix_close(&f);
}

int main(void)
{
    if (check_tmp_init("blip2_model") < 0) return 1;
    RUN(test_config);
    RUN(test_pixels);
    RUN(test_goldens);
    RUN(test_decode_steps);
    RUN(test_batch_expand);
    RUN(test_bf16);
    RUN(test_file_pages_dropped);
    RUN(test_shards);
    RUN(test_half_files);
    RUN(test_own_lm_head);
    RUN(test_hub_config);
    RUN(test_bad_folders);
    RUN(test_bad_inputs);
    RUN(test_threads_open);
    check_tmp_cleanup();
    return check_summary("blip2_model");
}
