// Unit tests for seize_batcher: plain text and image searches from many threads, batched on
// one engine state, against seize_engine_rank one query at a time.
#include "check.h"

#include "seize/clip.h"
#include "seize/core.h"
#include "seize/image.h"
#include "seize/index.h"
#include "seize/model.h"
#include "seize/pipeline.h"
#include "seize/retrieval.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_ROWS 300
#define N_TEXTS 24
#define N_THREADS 8
#define MAX_K 16

static const char *texts[N_TEXTS] = {
    "a dog",          "a cat on a mat",     "a red car",           "two people walking",
    "a bowl of soup", "mountains at night", "a yellow flower",     "an astronaut",
    "a coffee cup",   "a horse in a field", "a chess board",       "a camera on a table",
    "a city street",  "a sandy beach",      "a plate of food",     "a snowy forest",
    "a blue bicycle", "an old building",    "a child with a ball", "a boat on a lake",
    "a green parrot", "a laptop computer",  "a bridge at sunset",  "a bird in the sky"};

static seize_engine *engine;
static seize_image *images[2];

// An index of N_ROWS deterministic rows for the tiny model, names img<i>.png.
static int make_index(const char *dir, size_t dim)
{
    float *f = malloc(N_ROWS * dim * sizeof *f);
    char **names = calloc(N_ROWS, sizeof *names);
    uint32_t s = 777;
    for (size_t i = 0; i < N_ROWS * dim; i++) {
        s = s * 1664525u + 1013904223u;
        f[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
    for (size_t i = 0; i < N_ROWS; i++) {
        names[i] = malloc(32);
        snprintf(names[i], 32, "img%zu.png", i);
    }
    int rc = seize_index_write(dir, f, N_ROWS, dim, (const char *const *)names, SEIZE_F32, NULL);
    for (size_t i = 0; i < N_ROWS; i++)
        free(names[i]);
    free(names);
    free(f);
    return rc;
}

static int setup(void)
{
    const char *model = check_fixture_path("models/tiny-openai");
    seize_clip_model *m = NULL;
    if (seize_clip_model_load(model, &m) < 0) return -1;
    size_t dim = (size_t)seize_clip_model_get_config(m)->embed_dim;
    seize_clip_model_free(m);
    const char *index = check_tmp("index");
    if (make_index(index, dim) < 0 || seize_engine_open(model, index, NULL, &engine) < 0) return -1;
    if (seize_image_load(check_fixture_path("images/chelsea.png"), 0, &images[0]) < 0) return -1;
    return seize_image_load(check_fixture_path("images/horse.png"), 0, &images[1]);
}

// --- references: seize_engine_rank one query at a time

typedef struct ranking {
    size_t n;
    size_t row[MAX_K];
    float score[MAX_K];
} ranking;

static ranking ref_text[N_TEXTS], ref_image[2];

static void ref_one(seize_engine_state *st, const float *q, size_t exclude, ranking *out)
{
    seize_search_result *r = NULL;
    memset(out, 0, sizeof *out);
    if (seize_engine_rank(st, q, 1, &exclude, MAX_K, &r) < 0) return;
    out->n = r->n_ranked[0];
    for (size_t j = 0; j < out->n; j++) {
        out->row[j] = r->index[j];
        out->score[j] = r->score[j];
    }
    seize_search_result_free(r);
}

static int make_references(void)
{
    seize_engine_state_params sp = seize_engine_state_default_params();
    seize_engine_state *st = NULL;
    if (seize_engine_state_new(engine, &sp, &st) < 0) return -1;
    float q[64];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < N_TEXTS; i++) {
        rc = seize_engine_embed_texts(st, &texts[i], 1, q);
        ref_one(st, q, SIZE_MAX, &ref_text[i]);
    }
    for (size_t i = 0; rc == 0 && i < 2; i++) {
        const seize_image *im = images[i];
        rc = seize_engine_embed_images(st, &im, 1, q);
        ref_one(st, q, i == 0 ? 3 : SIZE_MAX, &ref_image[i]); // the first excludes row 3
    }
    seize_engine_state_free(st);
    return rc;
}

// 1 when hits are the reference's first k: the same rows with scores within 1e-5 (the
// embeddings' last bits depend on the batch), a swap allowed only between near-equal scores.
static int same_ranking(const ranking *ref, size_t k, const seize_query_hit *h, size_t n)
{
    size_t want = ref->n < k ? ref->n : k;
    if (n != want) return 0;
    for (size_t j = 0; j < n; j++) {
        if (fabsf(h[j].score - ref->score[j]) > 1e-5f || h[j].a != h[j].score || h[j].b != 0)
            return 0;
        if (h[j].row == ref->row[j]) continue;
        int near = (j > 0 && ref->score[j - 1] - ref->score[j] < 2e-5f) ||
                   (j + 1 < ref->n && ref->score[j] - ref->score[j + 1] < 2e-5f);
        if (!near) return 0;
    }
    return 1;
}

// --- many threads at once

typedef struct client {
    seize_batcher *b;
    int id, n_calls, n_bad, first_rc;
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    seize_query_hit hits[MAX_K];
    for (int it = 0; it < c->n_calls; it++) {
        size_t t = (size_t)(c->id * 7 + it * 5) % N_TEXTS, k = 1 + (t + (size_t)it) % MAX_K, n = 0;
        int rc;
        const ranking *ref;
        if ((it + c->id) % 6 == 5) { // an image search now and then
            size_t i = (size_t)(it / 6 + c->id) % 2;
            rc = seize_batcher_search_image(c->b, images[i], i == 0 ? 3 : SIZE_MAX, k, hits, &n);
            ref = &ref_image[i];
        } else {
            rc = seize_batcher_search_text(c->b, texts[t], k, hits, &n);
            ref = &ref_text[t];
        }
        if (rc < 0 && !c->first_rc) c->first_rc = rc;
        if (rc < 0 || !same_ranking(ref, k, hits, n)) c->n_bad++;
    }
    return NULL;
}

// 8 threads × 40 mixed searches with k differing per request give seize_engine_rank's
// rankings one at a time; every request is counted in the stats.
static void test_batcher_threads(void)
{
    NEED_FIXTURES();
    CHECK(engine != NULL);
    seize_batcher_params p = seize_batcher_default_params();
    CHECK_EQ(p.max_batch, 32);
    p.max_batch = 8;
    p.window_ms = 1;
    p.n_threads = 2;
    seize_batcher *b = NULL;
    CHECK_EQ(seize_batcher_new(engine, &p, &b), 0);
    client c[N_THREADS];
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        c[i] = (client){b, i, 40, 0, 0};
        CHECK_EQ(pthread_create(&t[i], NULL, client_main, &c[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(t[i], NULL);
        CHECK_MSG(c[i].n_bad == 0, "client %d: %d bad answers (first rc %d)", i, c[i].n_bad,
                  c[i].first_rc);
    }
    seize_batcher_stats st;
    seize_batcher_stats_get(b, &st);
    CHECK_EQ(st.requests, (unsigned long long)N_THREADS * 40);
    unsigned long long sum = 0;
    for (int i = 0; i < 7; i++)
        sum += st.size_hist[i];
    CHECK_EQ(sum, st.batches);
    CHECK_EQ(st.size_hist[6], 0); // never more than max_batch
    CHECK_EQ(st.waiting, 0);
    seize_batcher_free(b);
}

typedef struct one {
    seize_batcher *b;
    const char *text;
    const seize_image *img;
    size_t k, n;
    int rc;
    seize_query_hit hits[MAX_K];
} one;

static void *one_main(void *arg)
{
    one *o = arg;
    o->rc = o->img ? seize_batcher_search_image(o->b, o->img, SIZE_MAX, o->k, o->hits, &o->n)
                   : seize_batcher_search_text(o->b, o->text, o->k, o->hits, &o->n);
    return NULL;
}

// Waits (bounded) until `n` requests are queued.
static int wait_queued(seize_batcher *b, size_t n)
{
    for (int i = 0; i < 20000; i++) {
        seize_batcher_stats st;
        seize_batcher_stats_get(b, &st);
        if (st.waiting >= n) return 1;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return 0;
}

// Six requests submitted together while the window is long enough (60 s) are answered as one
// batch as soon as max_batch (6) are queued: batches < requests, deterministically.
static void test_batching_happens(void)
{
    NEED_FIXTURES();
    CHECK(engine != NULL);
    seize_batcher_params p = seize_batcher_default_params();
    p.max_batch = 6;
    p.window_ms = 60000;
    seize_batcher *b = NULL;
    CHECK_EQ(seize_batcher_new(engine, &p, &b), 0);
    one o[6];
    pthread_t t[6];
    for (int i = 0; i < 6; i++) {
        o[i] = (one){b, texts[i], i == 5 ? images[1] : NULL, (size_t)(3 + i), 0, 0, {{0}}};
        CHECK_EQ(pthread_create(&t[i], NULL, one_main, &o[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ(o[i].rc, 0);
        CHECK(same_ranking(i == 5 ? &ref_image[1] : &ref_text[i], o[i].k, o[i].hits, o[i].n));
    }
    seize_batcher_stats st;
    seize_batcher_stats_get(b, &st);
    CHECK_EQ(st.requests, 6);
    CHECK_EQ(st.batches, 1);
    CHECK_EQ(st.size_hist[3], 1); // 5-8
    seize_batcher_free(b);
}

// Starts n text searches ms apart (each on its own thread) and joins them; the batcher's stats.
static seize_batcher_stats spaced(seize_batcher *b, int n, long ms)
{
    one o[8];
    pthread_t t[8];
    for (int i = 0; i < n; i++) {
        if (i) nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
        o[i] = (one){b, texts[i], NULL, 5, 0, 0, {{0}}};
        pthread_create(&t[i], NULL, one_main, &o[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    seize_batcher_stats st;
    seize_batcher_stats_get(b, &st);
    return st;
}

// A batch stays open while requests keep arriving within window_ms of each other: three
// requests 600 ms apart with a 1 s window are one batch although they span 1.2 s (a window
// counted from the first request would split them); but at most 4 window_ms in all: eight
// requests 200 ms apart with a 300 ms window are not (1.2 s cap). The margins (400 ms, and a
// cap that only late requests could not reach) keep this independent of the machine's speed.
static void test_window_keeps_open(void)
{
    NEED_FIXTURES();
    CHECK(engine != NULL);
    seize_batcher_params p = seize_batcher_default_params();
    p.window_ms = 1000;
    seize_batcher *b = NULL;
    CHECK_EQ(seize_batcher_new(engine, &p, &b), 0);
    seize_batcher_stats st = spaced(b, 3, 600);
    CHECK_EQ(st.requests, 3);
    CHECK_EQ(st.batches, 1);
    seize_batcher_free(b);
    p.window_ms = 300;
    CHECK_EQ(seize_batcher_new(engine, &p, &b), 0);
    st = spaced(b, 8, 200);
    CHECK_EQ(st.requests, 8);
    CHECK(st.batches >= 2);
    seize_batcher_free(b);
}

// Freeing the batcher while requests wait in a 60 s window returns at once and answers them
// (or SEIZE_ECANCEL): nobody hangs.
static void test_free_while_waiting(void)
{
    NEED_FIXTURES();
    CHECK(engine != NULL);
    seize_batcher_params p = seize_batcher_default_params();
    p.max_batch = 64;
    p.window_ms = 60000;
    seize_batcher *b = NULL;
    CHECK_EQ(seize_batcher_new(engine, &p, &b), 0);
    one o[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        o[i] = (one){b, texts[i + 4], NULL, 5, 0, 0, {{0}}};
        CHECK_EQ(pthread_create(&t[i], NULL, one_main, &o[i]), 0);
    }
    CHECK(wait_queued(b, 4));
    seize_batcher_free(b);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(o[i].rc == 0 || o[i].rc == SEIZE_ECANCEL);
        if (o[i].rc == 0) CHECK(same_ranking(&ref_text[i + 4], 5, o[i].hits, o[i].n));
    }
    seize_batcher_free(NULL);
}

// Bad input fails alone, before it is queued: an empty or non-UTF-8 text, k 0, no image, a row
// out of range, an image preprocessing refuses; the good requests sent with them are batched
// and answered.
static void test_bad_input(void)
{
    NEED_FIXTURES();
    CHECK(engine != NULL);
    seize_batcher_params p = seize_batcher_default_params();
    p.max_batch = 2;
    p.window_ms = 60000;
    seize_batcher *b = NULL;
    CHECK_EQ(seize_batcher_new(engine, &p, &b), 0);
    seize_query_hit hits[MAX_K];
    size_t n = 99;
    CHECK_EQ(seize_batcher_search_text(b, "", 5, hits, &n), SEIZE_EINVAL);
    CHECK_EQ(n, 0);
    CHECK_EQ(seize_batcher_search_text(b, "\xff\xfe", 5, hits, &n), SEIZE_EINVAL);
    CHECK(strstr(seize_errmsg(), "UTF-8") != NULL);
    CHECK_EQ(seize_batcher_search_text(b, "a dog", 0, hits, &n), SEIZE_EINVAL);
    CHECK_EQ(seize_batcher_search_image(b, NULL, SIZE_MAX, 5, hits, &n), SEIZE_EINVAL);
    CHECK_EQ(seize_batcher_search_image(b, images[0], N_ROWS, 5, hits, &n), SEIZE_EINVAL);
    // sent together: a text, an image too wide to preprocess, a text and a bad text; the two
    // good ones make the batch of two (with a 60 s window nothing else could close it)
    uint8_t px[3] = {1, 2, 3};
    seize_image wide = {
        .width = (size_t)INT_MAX + 1, .height = 1, .mode = SEIZE_MODE_RGB, .data = px};
    one o[4] = {{b, texts[0], NULL, 4, 0, 0, {{0}}},
                {b, NULL, &wide, 4, 0, 0, {{0}}},
                {b, texts[1], NULL, MAX_K, 0, 0, {{0}}},
                {b, "", NULL, 4, 0, 0, {{0}}}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, one_main, &o[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(o[0].rc, 0);
    CHECK(same_ranking(&ref_text[0], 4, o[0].hits, o[0].n));
    CHECK(o[1].rc < 0 && o[1].n == 0);
    CHECK_EQ(o[2].rc, 0);
    CHECK(same_ranking(&ref_text[1], MAX_K, o[2].hits, o[2].n));
    CHECK_EQ(o[3].rc, SEIZE_EINVAL);
    seize_batcher_stats st;
    seize_batcher_stats_get(b, &st);
    CHECK_EQ(st.batches, 1);
    CHECK_EQ(st.requests, 2);
    seize_batcher_free(b);
    // bad parameters
    p.max_batch = 0;
    CHECK_EQ(seize_batcher_new(engine, &p, &b), SEIZE_EINVAL);
    p.max_batch = 4;
    p.window_ms = NAN;
    CHECK_EQ(seize_batcher_new(engine, &p, &b), SEIZE_EINVAL);
}

int main(void)
{
    if (check_tmp_init("batcher") < 0) return 1;
    if (check_fixtures() && (setup() < 0 || make_references() < 0)) {
        fprintf(stderr, "setup: %s\n", seize_errmsg());
        return 1;
    }
    RUN(test_batcher_threads);
    RUN(test_batching_happens);
    RUN(test_window_keeps_open);
    RUN(test_free_while_waiting);
    RUN(test_bad_input);
    seize_image_free(images[0]);
    seize_image_free(images[1]);
    seize_engine_free(engine);
    check_tmp_cleanup();
    return check_summary("batcher");
}
