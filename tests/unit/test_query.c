// Unit tests for seize_engine_query: one query in-process with a model, tokenizer and index
// loaded once, fake deterministic captioner and reasoner behind the stage interfaces.
#include "check.h"

#include "seize/clip.h"
#include "seize/core.h"
#include "seize/image.h"
#include "seize/index.h"
#include "seize/model.h"
#include "seize/pipeline.h"
#include "seize/retrieval.h"
#include "seize/text.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// --- fakes: captions "<image> view <i>", edits "<caption>, <text>"; they count their calls

typedef struct fake {
    int calls;
    char last_image[512];
} fake;

static char *fmt_str(const char *a, const char *sep, const char *b)
{
    size_t n = strlen(a) + strlen(sep) + strlen(b) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%s%s%s", a, sep, b);
    return s;
}

static int fake_caption(void *self, const seize_caption_job *job, seize_stage_item *items)
{
    fake *f = self;
    f->calls++;
    for (size_t i = 0; i < job->n; i++) {
        const char *base = strrchr(job->images[i], '/');
        base = base ? base + 1 : job->images[i];
        snprintf(f->last_image, sizeof f->last_image, "%s", job->images[i]);
        items[i].texts = calloc(job->n_captions, sizeof(char *));
        items[i].n_texts = job->n_captions;
        for (size_t c = 0; c < job->n_captions; c++) {
            char num[32];
            snprintf(num, sizeof num, " view %zu", c);
            items[i].texts[c] = fmt_str("a photo of", " ", base);
            char *t = fmt_str(items[i].texts[c], "", num);
            free(items[i].texts[c]);
            items[i].texts[c] = t;
        }
        if (job->on_progress) {
            seize_stage_progress pr = {job->n, i + 1, 0, 0, 0};
            job->on_progress(job->progress_user, &pr);
        }
    }
    return 0;
}

// The second pair fails (a partial answer: the other edits are used).
static int fake_reason(void *self, const seize_reason_job *job, seize_stage_item *items)
{
    fake *f = self;
    f->calls++;
    for (size_t i = 0; i < job->n; i++) {
        if (i == 1) {
            items[i].error = strdup("fake failure");
            continue;
        }
        items[i].texts = calloc(1, sizeof(char *));
        items[i].n_texts = 1;
        items[i].texts[0] = fmt_str(job->captions[i], ", ", job->texts[i]);
        if (job->on_progress) {
            seize_stage_progress pr = {job->n, i + 1, 0, 0, 0};
            job->on_progress(job->progress_user, &pr);
        }
    }
    return job->n > 1 ? SEIZE_ENET : 0;
}

static int fake_settings(void *self, struct json_t **out, char hash[65])
{
    if (out) *out = NULL;
    if (hash) hash[0] = 0;
    return 0;
}

static void fake_destroy(void *self) {}

static const seize_captioner_methods cap_methods = {"fake", fake_caption, fake_settings,
                                                    fake_destroy};
static const seize_reasoner_methods rsn_methods = {"fake", fake_reason, fake_settings,
                                                   fake_destroy};

// --- helpers

// A small index of n rows (deterministic features) in `dir`, names img<i>.png, its
// index.json "preprocess" as given (may be NULL).
static int make_index_pre(const char *dir, size_t n, size_t dim, const char *preprocess)
{
    float *f = malloc(n * dim * sizeof *f);
    char **names = calloc(n, sizeof *names);
    uint32_t s = 12345;
    for (size_t i = 0; i < n * dim; i++) {
        s = s * 1664525u + 1013904223u;
        f[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
    for (size_t i = 0; i < n; i++) {
        names[i] = malloc(32);
        snprintf(names[i], 32, "img%zu.png", i);
    }
    seize_index_meta meta = {0};
    meta.preprocess = preprocess;
    int rc = seize_index_write(dir, f, n, dim, (const char *const *)names, SEIZE_F32, &meta);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(f);
    return rc;
}

static int make_index(const char *dir, size_t n, size_t dim)
{
    return make_index_pre(dir, n, dim, NULL);
}

// The ranking seize_search gives on the result's own A and B, on an index opened anew.
static void check_same_as_search(const char *index_dir, const seize_query_result *r, size_t k)
{
    seize_index *idx = NULL;
    CHECK_EQ(seize_index_open(index_dir, &idx), 0);
    if (!idx) return;
    seize_embeddings g = seize_index_embeddings(idx);
    seize_search_weights w = seize_search_weights_for(SEIZE_DS_CIRCO);
    seize_search_params p = seize_search_default_params();
    p.pos = (float)w.pos;
    p.neg = (float)w.neg;
    p.k = k;
    p.n_threads = 1;
    size_t ex = r->reference_row;
    seize_search_result *s = NULL;
    CHECK_EQ(seize_search(&g, r->after, r->before, 1, &ex, NULL, &p, &s), 0);
    CHECK_EQ(s->n_ranked[0], r->n_hits);
    for (size_t i = 0; i < r->n_hits && i < s->n_ranked[0]; i++) {
        const seize_query_hit *h = &r->hits[i];
        CHECK_EQ(h->row, (size_t)s->index[i]);
        CHECK(h->score == s->score[i]);
        CHECK_STREQ(h->name, seize_index_name(idx, h->row));
        float d = h->a - h->b;
        CHECK(h->increment == d);
        CHECK(h->score == h->a + p.neg * fminf(d, 0.0f) + p.pos * fmaxf(d, 0.0f));
    }
    seize_search_result_free(s);
    seize_index_free(idx);
}

// A from the answered edits and B from the captions, as a run's query features encode them.
static void check_vectors(const char *model_dir, const seize_query_result *r)
{
    seize_clip_model *m = NULL;
    seize_tokenizer *tok = NULL;
    seize_clip *clip = NULL;
    CHECK_EQ(seize_clip_model_load(model_dir, &m), 0);
    CHECK_EQ(seize_tokenizer_load(model_dir, &tok), 0);
    CHECK_EQ(seize_clip_new(m, 32, 1, &clip), 0);
    char *done[8];
    size_t n_done = 0;
    for (size_t i = 0; i < r->n_edits && n_done < 8; i++)
        if (r->edits[i]) done[n_done++] = r->edits[i];
    char **dp = done;
    size_t n_caps = r->n_captions;
    char **caps = r->captions;
    seize_captions c = {1, NULL, &caps, &n_caps, &dp, &n_done};
    seize_query_vectors_params p = seize_query_vectors_default_params();
    seize_query_vectors v = {0};
    CHECK_EQ(seize_query_vectors_encode(clip, tok, &c, NULL, &p, &v), 0);
    CHECK_EQ(v.dim, r->dim);
    CHECK(v.after && !memcmp(v.after, r->after, r->dim * sizeof(float)));
    CHECK(v.before && !memcmp(v.before, r->before, r->dim * sizeof(float)));
    seize_query_vectors_release(&v);
    seize_clip_free(clip);
    seize_tokenizer_free(tok);
    seize_clip_model_free(m);
}

static int same_hits(const seize_query_result *x, const seize_query_result *y)
{
    if (x->n_hits != y->n_hits) return 0;
    for (size_t i = 0; i < x->n_hits; i++)
        if (x->hits[i].row != y->hits[i].row || x->hits[i].score != y->hits[i].score ||
            x->hits[i].a != y->hits[i].a || x->hits[i].b != y->hits[i].b)
            return 0;
    return 1;
}

typedef struct worker {
    const seize_engine *e;
    seize_query_options o;
    fake fc, fr;
    seize_captioner cap;
    seize_reasoner rsn;
    seize_query_result r;
    int rc;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    w->cap = (seize_captioner){&cap_methods, &w->fc};
    w->rsn = (seize_reasoner){&rsn_methods, &w->fr};
    w->o.captioner = &w->cap;
    w->o.reasoner = &w->rsn;
    w->rc = seize_engine_query(w->e, "img2.png", "make it red", &w->o, &w->r);
    return NULL;
}

// Threads sharing one engine, each with its own captioner and reasoner, get the same answer.
static void check_threads(const seize_engine *e, const seize_query_options *o,
                          const seize_query_result *want)
{
    worker w[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].e = e;
        w[i].o = *o;
        CHECK_EQ(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ(w[i].rc, 0);
        CHECK(same_hits(&w[i].r, want));
        seize_query_result_release(&w[i].r);
    }
}

// One engine answers a gallery-name query twice: the second call loads nothing (the engine's
// counter stays at 3 and its model and index folders are gone by then), both answers are equal
// (also from three threads at once), the reference is excluded, the ranking is seize_search's
// on the same A and B with a and b per result, A and B are the query features of a run; an
// image path is not excluded.
static void test_query_twice(void)
{
    NEED_FIXTURES();
    char model[600], index[600], cmd[1500];
    snprintf(model, sizeof model, "%s", check_tmp("model"));
    snprintf(index, sizeof index, "%s", check_tmp("index"));
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", check_fixture_path("models/tiny-openai"), model);
    CHECK_EQ(system(cmd), 0);
    seize_clip_model *m = NULL;
    CHECK_EQ(seize_clip_model_load(model, &m), 0);
    if (!m) return;
    size_t dim = (size_t)seize_clip_model_get_config(m)->embed_dim;
    seize_clip_model_free(m);
    CHECK_EQ(make_index(index, 6, dim), 0);
    seize_engine *e = NULL;
    CHECK_EQ(seize_engine_open(model, index, "/gallery", &e), 0);
    if (!e) return;
    CHECK_EQ(seize_engine_loads(e), 3u);
    fake fc = {0}, fr = {0};
    seize_captioner cap = {&cap_methods, &fc};
    seize_reasoner rsn = {&rsn_methods, &fr};
    seize_query_options o = seize_query_default_options();
    o.captioner = &cap;
    o.reasoner = &rsn;
    o.n_captions = 3;
    o.k = 10;
    seize_query_result r1, r2, r3;
    CHECK_EQ(seize_engine_query(e, "img2.png", "make it red", &o, &r1), 0);
    CHECK_STREQ(fc.last_image, "/gallery/img2.png");
    CHECK_EQ(r1.n_captions, 3);
    CHECK_STREQ(r1.captions[1], "a photo of img2.png view 1");
    CHECK_EQ(r1.n_edits, 3);
    CHECK(r1.edits[1] == NULL); // the failed edit
    CHECK_STREQ(r1.edits[2], "a photo of img2.png view 2, make it red");
    CHECK_EQ(r1.reference_row, 2);
    CHECK_EQ(r1.n_hits, 5);
    for (size_t i = 0; i < r1.n_hits; i++)
        CHECK(r1.hits[i].row != 2);
    check_same_as_search(index, &r1, 10);
    check_vectors(model, &r1);
    // the second call: nothing left to load from
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", model, index);
    CHECK_EQ(system(cmd), 0);
    CHECK_EQ(seize_engine_query(e, "img2.png", "make it red", &o, &r2), 0);
    CHECK_EQ(seize_engine_loads(e), 3u);
    CHECK(same_hits(&r1, &r2));
    CHECK(!memcmp(r1.after, r2.after, dim * sizeof(float)));
    CHECK_EQ(fc.calls, 2);
    CHECK_EQ(fr.calls, 2);
    check_threads(e, &o, &r1);
    CHECK_EQ(seize_engine_loads(e), 3u);
    // an image path: captioned as given, nothing excluded
    CHECK_EQ(seize_engine_query(e, "/photos/dog.jpg", "make it red", &o, &r3), 0);
    CHECK_STREQ(fc.last_image, "/photos/dog.jpg");
    CHECK_EQ(r3.reference_row, SIZE_MAX);
    CHECK_EQ(r3.n_hits, 6);
    // the precision reaches the query's CLIP state: bf16 vectors near fp32's
    CHECK_EQ(o.precision, SEIZE_PRECISION_FP32);
    seize_query_result r4;
    o.precision = SEIZE_PRECISION_BF16;
    int rc4 = seize_engine_query(e, "img2.png", "make it red", &o, &r4);
    CHECK_MSG(rc4 == 0, "%s", seize_errmsg());
    double dot = 0;
    for (size_t i = 0; rc4 == 0 && i < dim; i++)
        dot += (double)r4.after[i] * r1.after[i]; // both normalised
    CHECK(rc4 == 0 && dot >= 0.999);
    if (rc4 == 0) seize_query_result_release(&r4);
    o.precision = SEIZE_PRECISION_FP32;
    seize_query_result_release(&r1);
    seize_query_result_release(&r2);
    seize_query_result_release(&r3);
    // errors: no reasoner; no relative text
    o.reasoner = NULL;
    CHECK_EQ(seize_engine_query(e, "img2.png", "x", &o, &r1), SEIZE_EINVAL);
    CHECK(r1.hits == NULL && r1.captions == NULL);
    o.reasoner = &rsn;
    CHECK_EQ(seize_engine_query(e, "img2.png", "", &o, &r1), SEIZE_EINVAL);
    seize_engine_free(e);
}

// An engine without a gallery folder cannot caption a gallery-name reference; a missing index
// fails the open with the loader's message.
static void test_engine_errors(void)
{
    NEED_FIXTURES();
    seize_engine *e = NULL;
    char index[600];
    snprintf(index, sizeof index, "%s", check_tmp("absent-index"));
    CHECK(seize_engine_open(check_fixture_path("models/tiny-openai"), index, NULL, &e) < 0);
    CHECK(e == NULL);
    CHECK(strstr(seize_errmsg(), "absent-index") != NULL);
}

// --- engine states

// A fresh engine on the tiny model with an index of n rows whose "preprocess" is given;
// *dim receives the model's embedding size.
static seize_engine *open_engine(const char *name, size_t n, const char *preprocess, size_t *dim)
{
    const char *model = check_fixture_path("models/tiny-openai");
    seize_clip_model *m = NULL;
    if (seize_clip_model_load(model, &m) < 0) return NULL;
    *dim = (size_t)seize_clip_model_get_config(m)->embed_dim;
    seize_clip_model_free(m);
    char index[600];
    snprintf(index, sizeof index, "%s", check_tmp(name));
    if (make_index_pre(index, n, *dim, preprocess) < 0) return NULL;
    seize_engine *e = NULL;
    return seize_engine_open(model, index, "/gallery", &e) == 0 ? e : NULL;
}

// What a CLIP state of max_batch 32 on one thread gives for the texts, normalised.
static void direct_texts(const char *const *texts, size_t n, float *out)
{
    const char *model = check_fixture_path("models/tiny-openai");
    seize_clip_model *m = NULL;
    seize_tokenizer *tok = NULL;
    seize_clip *clip = NULL;
    if (seize_clip_model_load(model, &m) == 0 && seize_tokenizer_load(model, &tok) == 0 &&
        seize_clip_new(m, 32, 1, &clip) == 0) {
        int ctx = seize_clip_context_length(clip);
        int32_t *ids = calloc(n * (size_t)ctx, sizeof *ids);
        if (seize_tokenizer_encode_batch(tok, texts, n, ctx, ids) == 0 &&
            seize_clip_encode_tokens(clip, ids, n, out) == 0)
            seize_normalize_rows(out, n, seize_clip_embed_dim(clip));
        free(ids);
    }
    seize_clip_free(clip);
    seize_tokenizer_free(tok);
    seize_clip_model_free(m);
}

// The same for images preprocessed with pad_ratio at the model's size.
static void direct_images(const seize_image *const *imgs, size_t n, double pad, float *out)
{
    seize_clip_model *m = NULL;
    seize_clip *clip = NULL;
    if (seize_clip_model_load(check_fixture_path("models/tiny-openai"), &m) == 0 &&
        seize_clip_new(m, 32, 1, &clip) == 0) {
        seize_preprocess_opts o = seize_preprocess_default_opts();
        o.pad_ratio = pad;
        o.size = seize_clip_image_size(clip);
        size_t per = 3 * (size_t)o.size * (size_t)o.size;
        float *px = calloc(n * per, sizeof *px);
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = seize_image_preprocess(imgs[i], &o, px + i * per);
        if (rc == 0 && seize_clip_encode_images(clip, px, n, out) == 0)
            seize_normalize_rows(out, n, seize_clip_embed_dim(clip));
        free(px);
    }
    seize_clip_free(clip);
    seize_clip_model_free(m);
}

// A state's text and image embeddings are bit for bit a CLIP state's direct encodes of the
// same batch, normalised; images are preprocessed as index.json says (TargetPad 1.25 when not
// recorded, plain CLIP for "no pad, ..."); bad texts are named by position.
static void test_state_embeddings(void)
{
    NEED_FIXTURES();
    size_t dim = 0, dim2 = 0;
    seize_engine *e = open_engine("state-index", 6, NULL, &dim);
    seize_engine *e2 = open_engine("state-index-nopad", 6, "no pad, resize 224", &dim2);
    CHECK(e && e2);
    seize_engine_state_params sp = seize_engine_state_default_params();
    CHECK_EQ(sp.max_batch, 32);
    CHECK_EQ(sp.n_threads, 1);
    seize_engine_state *st = NULL, *st2 = NULL;
    CHECK_EQ(seize_engine_state_new(e, &sp, &st), 0);
    CHECK_EQ(seize_engine_state_new(e2, &sp, &st2), 0);
    const char *texts[3] = {"a dog", "a photo of a red cat sitting on a mat", "x"};
    float got[3 * 64], want[3 * 64];
    CHECK(dim <= 64);
    CHECK_EQ(seize_engine_embed_texts(st, texts, 3, got), 0);
    direct_texts(texts, 3, want);
    CHECK(!memcmp(got, want, 3 * dim * sizeof(float)));
    CHECK_EQ(seize_engine_embed_texts(st, texts, 3, got), 0); // the state again: same
    CHECK(!memcmp(got, want, 3 * dim * sizeof(float)));
    seize_image *im[2] = {NULL, NULL};
    CHECK_EQ(seize_image_load(check_fixture_path("images/chelsea.png"), 0, &im[0]), 0);
    CHECK_EQ(seize_image_load(check_fixture_path("images/horse.png"), 0, &im[1]), 0);
    const seize_image *const *imgs = (const seize_image *const *)im;
    CHECK_EQ(seize_engine_embed_images(st, imgs, 2, got), 0);
    direct_images(imgs, 2, 1.25, want);
    CHECK(!memcmp(got, want, 2 * dim * sizeof(float)));
    CHECK_EQ(seize_engine_embed_images(st2, imgs, 2, got), 0);
    CHECK(memcmp(got, want, 2 * dim * sizeof(float)) != 0); // not TargetPad
    direct_images(imgs, 2, 0.0, want);
    CHECK(!memcmp(got, want, 2 * dim * sizeof(float)));
    // errors
    const char *bad[2] = {"fine", ""};
    CHECK_EQ(seize_engine_embed_texts(st, bad, 2, got), SEIZE_EINVAL);
    CHECK(strstr(seize_errmsg(), "text 1") != NULL);
    bad[1] = "\xff\xfe";
    CHECK_EQ(seize_engine_embed_texts(st, bad, 2, got), SEIZE_EINVAL);
    CHECK(strstr(seize_errmsg(), "UTF-8") != NULL);
    sp.max_batch = 0;
    seize_engine_state *none = NULL;
    CHECK_EQ(seize_engine_state_new(e, &sp, &none), SEIZE_EINVAL);
    CHECK(none == NULL);
    seize_image_free(im[0]);
    seize_image_free(im[1]);
    seize_engine_state_free(st);
    seize_engine_state_free(st2);
    seize_engine_free(e);
    seize_engine_free(e2);
}

// seize_engine_rank is seize_search with pos = neg = 0, no B, the exclusions and k (clipped).
static void test_state_rank(void)
{
    NEED_FIXTURES();
    size_t dim = 0;
    seize_engine *e = open_engine("rank-index", 40, NULL, &dim);
    CHECK(e != NULL);
    seize_engine_state_params sp = seize_engine_state_default_params();
    sp.n_threads = 2;
    seize_engine_state *st = NULL;
    CHECK_EQ(seize_engine_state_new(e, &sp, &st), 0);
    float q[3 * 64];
    uint32_t r = 99;
    for (size_t i = 0; i < 3 * dim; i++) {
        r = r * 1664525u + 1013904223u;
        q[i] = (float)(r >> 8) / 16777216.0f - 0.5f;
    }
    seize_normalize_rows(q, 3, dim);
    size_t ex[3] = {SIZE_MAX, 7, SIZE_MAX};
    for (size_t k = 5; k <= 100; k += 95) {
        seize_search_result *got = NULL, *want = NULL;
        CHECK_EQ(seize_engine_rank(st, q, 3, ex, k, &got), 0);
        seize_search_params p = seize_search_default_params();
        p.pos = p.neg = 0;
        p.k = k;
        p.n_threads = 1;
        seize_embeddings g = seize_index_embeddings(seize_engine_index(e));
        CHECK_EQ(seize_search(&g, q, NULL, 3, ex, NULL, &p, &want), 0);
        for (size_t i = 0; i < 3; i++) {
            CHECK_EQ(got->n_ranked[i], want->n_ranked[i]);
            CHECK_EQ(got->n_ranked[i], k < 40 ? k : i == 1 ? 39 : 40);
            for (size_t j = 0; j < got->n_ranked[i]; j++) {
                CHECK_EQ(got->index[i * got->k + j], want->index[i * want->k + j]);
                CHECK(got->score[i * got->k + j] == want->score[i * want->k + j]);
                CHECK(got->index[i * got->k + j] != (uint32_t)ex[i]);
            }
        }
        seize_search_result_free(got);
        seize_search_result_free(want);
    }
    seize_search_result *none = NULL;
    CHECK_EQ(seize_engine_rank(st, q, 3, NULL, 0, &none), SEIZE_EINVAL);
    seize_engine_state_free(st);
    seize_engine_free(e);
}

// An index of n rows in `dir`: random, or (n_distinct > 0) n_distinct random rows repeated
// (every score tied n / n_distinct times), stored as dtype.
static seize_engine *open_engine_rows(const char *name, size_t n, size_t n_distinct,
                                      seize_dtype dtype, size_t *dim)
{
    const char *model = check_fixture_path("models/tiny-openai");
    seize_clip_model *m = NULL;
    if (seize_clip_model_load(model, &m) < 0) return NULL;
    *dim = (size_t)seize_clip_model_get_config(m)->embed_dim;
    seize_clip_model_free(m);
    size_t D = *dim;
    float *f = malloc(n * D * sizeof *f);
    char **names = calloc(n, sizeof *names);
    uint32_t r = 4242;
    for (size_t i = 0; i < n; i++) {
        names[i] = malloc(32);
        snprintf(names[i], 32, "r%zu", i);
        for (size_t j = 0; j < D; j++) {
            r = r * 1664525u + 1013904223u;
            f[i * D + j] = n_distinct && i >= n_distinct ? f[(i % n_distinct) * D + j]
                                                         : (float)(r >> 8) / 16777216.0f - 0.5f;
        }
    }
    char index[600];
    snprintf(index, sizeof index, "%s", check_tmp(name));
    int rc = seize_index_write(index, f, n, D, (const char *const *)names, dtype, NULL);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(f);
    seize_engine *e = NULL;
    return rc == 0 && seize_engine_open(model, index, "/gallery", &e) == 0 ? e : NULL;
}

// seize_engine_rank of nq random queries (k, the exclusions of every third query) equals
// seize_search's ranking and scores bit for bit.
static void check_rank_big(seize_engine *e, size_t dim, size_t nq, size_t k, int threads)
{
    seize_engine_state_params sp = seize_engine_state_default_params();
    sp.n_threads = threads;
    seize_engine_state *st = NULL;
    CHECK_EQ(seize_engine_state_new(e, &sp, &st), 0);
    float *q = malloc(nq * dim * sizeof *q);
    size_t *ex = malloc(nq * sizeof *ex);
    uint32_t r = 7;
    for (size_t i = 0; i < nq * dim; i++) {
        r = r * 1664525u + 1013904223u;
        q[i] = (float)(r >> 8) / 16777216.0f - 0.5f;
    }
    for (size_t i = 0; i < nq; i++)
        ex[i] = i % 3 ? SIZE_MAX : i * 37 % seize_index_count(seize_engine_index(e));
    seize_search_result *got = NULL, *want = NULL;
    CHECK_EQ(seize_engine_rank(st, q, nq, ex, k, &got), 0);
    seize_search_params p = seize_search_default_params();
    p.pos = p.neg = 0;
    p.k = k;
    p.n_threads = 1;
    seize_embeddings g = seize_index_embeddings(seize_engine_index(e));
    CHECK_EQ(seize_search(&g, q, NULL, nq, ex, NULL, &p, &want), 0);
    size_t bad = 0;
    for (size_t i = 0; got && want && i < nq; i++) {
        bad += got->n_ranked[i] != want->n_ranked[i];
        for (size_t j = 0; j < got->n_ranked[i] && j < want->n_ranked[i]; j++)
            bad += got->index[i * got->k + j] != want->index[i * want->k + j] ||
                   got->score[i * got->k + j] != want->score[i * want->k + j];
    }
    CHECK_MSG(bad == 0, "%zu differences (%zu queries, k %zu, %d threads)", bad, nq, k, threads);
    seize_search_result_free(got);
    seize_search_result_free(want);
    free(q);
    free(ex);
    seize_engine_state_free(st);
}

// The rank's own scan on a larger gallery (its per-thread lists full, several chunks, 1 and 3
// threads, up to the 64 queries it takes), on many tied scores (where it hands the batch to
// seize_search), an f16 gallery and a larger batch (seize_search's): seize_search's results.
static void test_rank_scan(void)
{
    NEED_FIXTURES();
    size_t dim = 0;
    seize_engine *e = open_engine_rows("scan-index", 5003, 0, SEIZE_F32, &dim);
    CHECK(e != NULL);
    check_rank_big(e, dim, 20, 50, 1);
    check_rank_big(e, dim, 64, 10, 3);
    check_rank_big(e, dim, 1, 1, 2);
    check_rank_big(e, dim, 70, 5, 2);
    seize_engine_free(e);
    e = open_engine_rows("scan-ties", 3000, 7, SEIZE_F32, &dim);
    CHECK(e != NULL);
    check_rank_big(e, dim, 5, 20, 2);
    seize_engine_free(e);
    e = open_engine_rows("scan-f16", 2000, 0, SEIZE_F16, &dim);
    CHECK(e != NULL);
    check_rank_big(e, dim, 8, 20, 2);
    seize_engine_free(e);
}

static void set_fakes(seize_query_options *o, fake *fc, fake *fr, seize_captioner *cap,
                      seize_reasoner *rsn)
{
    *cap = (seize_captioner){&cap_methods, fc};
    *rsn = (seize_reasoner){&rsn_methods, fr};
    o->captioner = cap;
    o->reasoner = rsn;
    o->n_captions = 4;
    o->k = 8;
}

// A query on a state (used twice) is seize_engine_query's answer bit for bit.
static void test_query_state(void)
{
    NEED_FIXTURES();
    size_t dim = 0;
    seize_engine *e = open_engine("qs-index", 12, NULL, &dim);
    CHECK(e != NULL);
    fake fc = {0}, fr = {0};
    seize_captioner cap;
    seize_reasoner rsn;
    seize_query_options o = seize_query_default_options();
    set_fakes(&o, &fc, &fr, &cap, &rsn);
    seize_engine_state_params sp = seize_engine_state_default_params();
    seize_engine_state *st = NULL;
    CHECK_EQ(seize_engine_state_new(e, &sp, &st), 0);
    seize_query_result want, got;
    CHECK_EQ(seize_engine_query(e, "img3.png", "make it blue", &o, &want), 0);
    for (int round = 0; round < 2; round++) {
        CHECK_EQ(seize_engine_query_state(st, "img3.png", "make it blue", &o, &got), 0);
        CHECK(same_hits(&got, &want));
        CHECK_EQ(got.reference_row, 3);
        CHECK(!memcmp(got.after, want.after, dim * sizeof(float)));
        CHECK(!memcmp(got.before, want.before, dim * sizeof(float)));
        seize_query_result_release(&got);
    }
    o.method = 7;
    CHECK_EQ(seize_engine_query_state(st, "img3.png", "make it blue", &o, &got), SEIZE_EINVAL);
    seize_query_result_release(&want);
    seize_engine_state_free(st);
    seize_engine_free(e);
}

// A composed query's SEIZE and mean rankings on a larger gallery (the engine's own scan, and
// seize_search's when neg < pos) are seize_search's on the same A and B, bit for bit.
static void test_query_scan(void)
{
    NEED_FIXTURES();
    size_t dim = 0;
    seize_engine *e = open_engine_rows("qscan-index", 4001, 0, SEIZE_F32, &dim);
    CHECK(e != NULL);
    seize_embeddings g = seize_index_embeddings(seize_engine_index(e));
    fake fc = {0}, fr = {0};
    seize_captioner cap;
    seize_reasoner rsn;
    seize_query_options o = seize_query_default_options();
    set_fakes(&o, &fc, &fr, &cap, &rsn);
    seize_engine_state_params sp = seize_engine_state_default_params();
    sp.n_threads = 2;
    seize_engine_state *st = NULL;
    CHECK_EQ(seize_engine_state_new(e, &sp, &st), 0);
    const struct {
        int method;
        double pos, neg;
        size_t k;
    } cases[] = {{SEIZE_METHOD_SEIZE, NAN, NAN, 10},
                 {SEIZE_METHOD_SEIZE, NAN, NAN, 60},
                 {SEIZE_METHOD_SEIZE, 0.5, 0.5, 25},
                 {SEIZE_METHOD_SEIZE, 1.0, 0.2, 25},
                 {SEIZE_METHOD_MEAN, NAN, NAN, 40}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        o.method = cases[c].method;
        o.pos = cases[c].pos;
        o.neg = cases[c].neg;
        o.k = cases[c].k;
        seize_query_result r;
        CHECK_EQ(seize_engine_query_state(st, "r17", "make it green", &o, &r), 0);
        seize_search_weights w = seize_search_weights_for(SEIZE_DS_CIRCO);
        seize_search_params p = seize_search_default_params();
        p.pos = o.method == SEIZE_METHOD_MEAN ? 0 : (float)(isnan(o.pos) ? w.pos : o.pos);
        p.neg = o.method == SEIZE_METHOD_MEAN ? 0 : (float)(isnan(o.neg) ? w.neg : o.neg);
        p.k = o.k;
        p.n_threads = 1;
        size_t ex = 17;
        seize_search_result *want = NULL;
        CHECK_EQ(seize_search(&g, r.after, r.before, 1, &ex, NULL, &p, &want), 0);
        CHECK_EQ(want->n_ranked[0], r.n_hits);
        size_t bad = 0;
        for (size_t i = 0; i < r.n_hits; i++)
            bad += r.hits[i].row != want->index[i] || r.hits[i].score != want->score[i];
        CHECK_MSG(bad == 0, "case %zu: %zu differences", c, bad);
        seize_search_result_free(want);
        seize_query_result_release(&r);
    }
    seize_engine_state_free(st);
    seize_engine_free(e);
}

// Method MEAN ranks as seize_search with pos = neg = 0 on A; LDRE as seize_search_ldre on the
// per-caption features of the pairs whose edit was done (the fake fails pair 1).
static void test_methods(void)
{
    NEED_FIXTURES();
    size_t dim = 0;
    seize_engine *e = open_engine("methods-index", 30, NULL, &dim);
    CHECK(e != NULL);
    seize_embeddings g = seize_index_embeddings(seize_engine_index(e));
    fake fc = {0}, fr = {0};
    seize_captioner cap;
    seize_reasoner rsn;
    seize_query_options o = seize_query_default_options();
    set_fakes(&o, &fc, &fr, &cap, &rsn);
    seize_query_result r;
    o.method = SEIZE_METHOD_MEAN;
    CHECK_EQ(seize_engine_query(e, "img5.png", "at night", &o, &r), 0);
    seize_search_params p = seize_search_default_params();
    p.pos = p.neg = 0;
    p.k = o.k;
    p.n_threads = 1;
    size_t ex = 5;
    seize_search_result *s = NULL;
    CHECK_EQ(seize_search(&g, r.after, NULL, 1, &ex, NULL, &p, &s), 0);
    CHECK_EQ(s->n_ranked[0], r.n_hits);
    for (size_t i = 0; i < r.n_hits; i++) {
        CHECK_EQ(r.hits[i].row, (size_t)s->index[i]);
        CHECK(r.hits[i].score == s->score[i] && r.hits[i].score == r.hits[i].a);
    }
    seize_search_result_free(s);
    seize_query_result_release(&r);
    // LDRE: the test encodes the done pairs' raw features itself
    o.method = SEIZE_METHOD_LDRE;
    CHECK_EQ(seize_engine_query(e, "img5.png", "at night", &o, &r), 0);
    char *caps[4], *eds[4];
    size_t n_done = 0;
    for (size_t i = 0; i < r.n_edits; i++)
        if (r.edits[i]) {
            caps[n_done] = r.captions[i];
            eds[n_done++] = r.edits[i];
        }
    CHECK_EQ(n_done, 3);
    char **cp = caps, **ep = eds;
    seize_captions c = {1, NULL, &cp, &n_done, &ep, &n_done};
    seize_clip_model *m = NULL;
    seize_tokenizer *tok = NULL;
    seize_clip *clip = NULL;
    const char *model = check_fixture_path("models/tiny-openai");
    CHECK_EQ(seize_clip_model_load(model, &m), 0);
    CHECK_EQ(seize_tokenizer_load(model, &tok), 0);
    CHECK_EQ(seize_clip_new(m, 32, 1, &clip), 0);
    seize_query_vectors_params qp = seize_query_vectors_default_params();
    qp.n_use = n_done;
    qp.per_caption = 1;
    seize_query_vectors v = {0};
    CHECK_EQ(seize_query_vectors_encode(clip, tok, &c, NULL, &qp, &v), 0);
    float w[4];
    CHECK_EQ(seize_search_ldre(&g, v.after, v.before, 1, n_done, &ex, NULL, &p, w, &s), 0);
    CHECK_EQ(s->n_ranked[0], r.n_hits);
    for (size_t i = 0; i < r.n_hits; i++) {
        CHECK_EQ(r.hits[i].row, (size_t)s->index[i]);
        CHECK(r.hits[i].score == s->score[i]);
        CHECK_NEAR(r.hits[i].a, r.hits[i].score, 1e-5); // A is LDRE's query vector
    }
    seize_search_result_free(s);
    seize_query_vectors_release(&v);
    seize_clip_free(clip);
    seize_tokenizer_free(tok);
    seize_clip_model_free(m);
    seize_query_result_release(&r);
    seize_engine_free(e);
}

typedef struct stage_log {
    char stage[16][16];
    size_t done[16], total[16];
    int n;
} stage_log;

static void on_stage(void *user, const char *stage, size_t done, size_t total)
{
    stage_log *l = user;
    if (l->n >= 16) return;
    snprintf(l->stage[l->n], sizeof l->stage[l->n], "%s", stage);
    l->done[l->n] = done;
    l->total[l->n++] = total;
}

// on_stage reports caption, edit, encode and search in that order, each from 0 to its total
// (the captioner's and reasoner's own progress in between), on the calling thread.
static void test_on_stage(void)
{
    NEED_FIXTURES();
    size_t dim = 0;
    seize_engine *e = open_engine("stage-index", 10, NULL, &dim);
    CHECK(e != NULL);
    fake fc = {0}, fr = {0};
    seize_captioner cap;
    seize_reasoner rsn;
    seize_query_options o = seize_query_default_options();
    set_fakes(&o, &fc, &fr, &cap, &rsn);
    o.n_captions = 3;
    stage_log log = {0};
    o.on_stage = on_stage;
    o.stage_user = &log;
    seize_query_result r;
    CHECK_EQ(seize_engine_query(e, "img1.png", "in the snow", &o, &r), 0);
    // caption 0/3 3/3; edit 0/3 1/3 2/3 3/3; encode 0/5 .. 5/5 (3 captions + 2 edits); search
    const char *order[4] = {"caption", "edit", "encode", "search"};
    size_t totals[4] = {3, 3, 5, 1};
    int s = 0;
    for (int i = 0; i < log.n; i++) {
        while (s < 4 && strcmp(log.stage[i], order[s]))
            s++;
        CHECK_MSG(s < 4, "event %d: stage '%s' out of order", i, log.stage[i]);
        CHECK_EQ(log.total[i], totals[s]);
        int first = i == 0 || strcmp(log.stage[i - 1], log.stage[i]);
        if (first)
            CHECK_EQ(log.done[i], 0);
        else
            CHECK(log.done[i] > log.done[i - 1]);
        int last = i == log.n - 1 || strcmp(log.stage[i + 1], log.stage[i]);
        if (last) CHECK_EQ(log.done[i], log.total[i]);
    }
    CHECK_EQ(s, 3);
    int edit_mid = 0;
    for (int i = 0; i < log.n; i++)
        edit_mid |= !strcmp(log.stage[i], "edit") && log.done[i] == 1;
    CHECK(edit_mid); // the reasoner's own progress came through
    seize_query_result_release(&r);
    seize_engine_free(e);
}

int main(void)
{
    if (check_tmp_init("query") < 0) return 1;
    RUN(test_query_twice);
    RUN(test_engine_errors);
    RUN(test_state_embeddings);
    RUN(test_state_rank);
    RUN(test_rank_scan);
    RUN(test_query_state);
    RUN(test_methods);
    RUN(test_query_scan);
    RUN(test_on_stage);
    check_tmp_cleanup();
    return check_summary("query");
}
