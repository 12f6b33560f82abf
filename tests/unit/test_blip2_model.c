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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int main(void)
{
    RUN(test_config);
    RUN(test_goldens);
    return check_summary("blip2_model");
}
