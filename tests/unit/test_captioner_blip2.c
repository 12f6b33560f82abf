// The native captioner (src/pipeline/captioner_blip2.c) on the tiny BLIP-2 fixture with real
// images: captions and tokens in the items, journal resume after an interrupted call, a
// non-image failing alone, a missing file stopping the call, the settings hash, teacher
// forcing, and the "tokens" member of the captions file (the OpenAI path's lines unchanged).
#include "check.h"

#include "seize/blip2.h"
#include "seize/net.h"
#include "seize/pipeline.h"

#include <jansson.h>
#include <limits.h>

#define MODEL "blip2/tiny364"

static seize_captioner_blip2_opts small_opts(void)
{
    seize_captioner_blip2_opts o = seize_captioner_blip2_default_opts();
    o.model_dir = check_fixture_path(MODEL);
    o.gen.n = 3, o.gen.max_new_tokens = 8, o.gen.seed = 7;
    o.precision = SEIZE_PRECISION_FP32, o.threads = 1;
    return o;
}

static const char *img(int k)
{
    static char buf[3][PATH_MAX];
    const char *rel[] = {"blip2/merlion.png", "images/chelsea.png", "images/coffee.png"};
    if (!realpath(check_fixture_path(rel[k]), buf[k])) return "missing";
    return buf[k];
}

#define NEED_MODEL()                                                                               \
    do {                                                                                           \
        NEED_FIXTURES();                                                                           \
        if (access(check_fixture_path(MODEL "/config.json"), F_OK) != 0)                           \
            SKIP("no BLIP-2 fixture");                                                             \
    } while (0)

static int caption(const seize_captioner_blip2_opts *o, const char *const *images, size_t n,
                   size_t n_captions, const seize_cancel *cancel, seize_stage_item *items)
{
    seize_captioner *c = NULL;
    int rc = seize_captioner_blip2_new(o, &c);
    if (rc < 0) return rc;
    seize_caption_job job = {images, n, n_captions, NULL, NULL, cancel, NULL};
    rc = seize_captioner_caption(c, &job, items);
    seize_captioner_free(c);
    return rc;
}

// 1 when two items hold the same captions and tokens.
static int same_item(const seize_stage_item *a, const seize_stage_item *b)
{
    if (!a->texts || !b->texts || a->n_texts != b->n_texts) return 0;
    for (size_t k = 0; k < a->n_texts; k++)
        if (strcmp(a->texts[k], b->texts[k])) return 0;
    return json_equal(a->extra, b->extra);
}

// Each image gets n captions and its generated ids: at most max_new_tokens each, EOS only
// last, and the caption is the decoded ids (special tokens skipped, stripped).
static void test_items_tokens(void)
{
    NEED_MODEL();
    seize_captioner_blip2_opts o = small_opts();
    seize_blip2_model *m = NULL;
    CHECK_EQ(seize_blip2_model_load(o.model_dir, &m), 0);
    const seize_bpe *tok = seize_blip2_model_tokenizer(m);
    int32_t eos = seize_blip2_model_get_config(m)->eos_id;
    const char *imgs[] = {img(0), img(1)};
    seize_stage_item items[2] = {{0}};
    int rc = caption(&o, imgs, 2, 3, NULL, items);
    for (size_t i = 0; rc == 0 && i < 2; i++) {
        json_t *toks = json_object_get(items[i].extra, "tokens");
        CHECK_EQ(items[i].n_texts, 3);
        CHECK_EQ(json_array_size(toks), 3);
        for (size_t j = 0; j < 3; j++) {
            json_t *t = json_array_get(toks, j);
            size_t n = json_array_size(t);
            CHECK(n >= 1 && n <= 8);
            int32_t ids[8];
            for (size_t q = 0; q < n; q++) {
                ids[q] = (int32_t)json_integer_value(json_array_get(t, q));
                CHECK(q + 1 == n || ids[q] != eos);
            }
            char *text = NULL;
            CHECK_EQ(seize_bpe_decode(tok, ids, n, 1, &text), 0);
            seize_text_strip_py(text);
            CHECK_STREQ(items[i].texts[j], text);
            free(text);
        }
    }
    seize_stage_items_release(items, 2);
    seize_blip2_model_free(m);
    CHECK_EQ(rc, 0);
}

typedef struct stop_after {
    seize_cancel *cancel;
    size_t after;
} stop_after;

static void stop_progress(void *user, const seize_stage_progress *p)
{
    stop_after *s = user;
    if (p->done >= s->after) seize_cancel_request(s->cancel, 0);
}

// A call interrupted after its first image keeps that image in the journal; the next call takes
// it from there and gives the same output as a call without a journal.
static void test_journal_resume(void)
{
    NEED_MODEL();
    const char *imgs[] = {img(0), img(1), img(2)};
    seize_captioner_blip2_opts o = small_opts();
    seize_stage_item ref[3] = {{0}}, got[3] = {{0}};
    CHECK_EQ(caption(&o, imgs, 3, 3, NULL, ref), 0);
    char journal[512];
    snprintf(journal, sizeof journal, "%s", check_tmp("resume.journal"));
    o.journal = journal;
    seize_cancel cancel = {0};
    stop_after stop = {&cancel, 1};
    seize_captioner *c = NULL;
    CHECK_EQ(seize_captioner_blip2_new(&o, &c), 0);
    seize_caption_job job = {imgs, 3, 3, stop_progress, &stop, &cancel, NULL};
    int rc = seize_captioner_caption(c, &job, got);
    seize_llm_stats st;
    seize_captioner_blip2_stats(c, &st);
    seize_captioner_free(c);
    CHECK_EQ(rc, SEIZE_ECANCEL);
    CHECK_EQ(st.items_done, 1);
    CHECK(same_item(&got[0], &ref[0]));
    CHECK(got[1].texts == NULL && got[2].texts == NULL);
    seize_stage_items_release(got, 3);
    CHECK_EQ(seize_captioner_blip2_new(&o, &c), 0);
    job = (seize_caption_job){imgs, 3, 3, NULL, NULL, NULL, NULL};
    rc = seize_captioner_caption(c, &job, got);
    seize_captioner_blip2_stats(c, &st);
    seize_captioner_free(c);
    CHECK_EQ(rc, 0);
    CHECK_EQ(st.items_from_journal, 1);
    CHECK_EQ(st.items_done, 3);
    for (int i = 0; i < 3; i++)
        CHECK_MSG(same_item(&got[i], &ref[i]), "image %d", i);
    seize_stage_items_release(got, 3);
    seize_stage_items_release(ref, 3);
}

static int caption_stats(const seize_captioner_blip2_opts *o, const char *const *images, size_t n,
                         seize_stage_item *items, seize_llm_stats *st)
{
    seize_captioner *c = NULL;
    int rc = seize_captioner_blip2_new(o, &c);
    seize_caption_job job = {images, n, (size_t)o->gen.n, NULL, NULL, NULL, NULL};
    if (rc == 0) rc = seize_captioner_caption(c, &job, items);
    seize_captioner_blip2_stats(c, st);
    seize_captioner_free(c);
    return rc;
}

// A journal shared by runs of other settings: each run takes only its own lines (seed 8 none
// of seed 7's), and the first settings again find theirs after the other's.
static void test_journal_settings(void)
{
    NEED_MODEL();
    const char *imgs[] = {img(0)};
    seize_captioner_blip2_opts a = small_opts(), b = small_opts();
    a.journal = b.journal = check_tmp("shared.journal");
    b.gen.seed = 8;
    seize_stage_item first[1] = {{0}}, other[1] = {{0}}, again[1] = {{0}};
    seize_llm_stats st;
    CHECK_EQ(caption_stats(&a, imgs, 1, first, &st), 0);
    CHECK_EQ(st.items_from_journal, 0);
    CHECK_EQ(caption_stats(&b, imgs, 1, other, &st), 0);
    CHECK_EQ(st.items_from_journal, 0);
    CHECK(!same_item(&first[0], &other[0]));
    CHECK_EQ(caption_stats(&a, imgs, 1, again, &st), 0);
    CHECK_EQ(st.items_from_journal, 1);
    CHECK(same_item(&first[0], &again[0]));
    seize_stage_items_release(first, 1);
    seize_stage_items_release(other, 1);
    seize_stage_items_release(again, 1);
}

// A file that is not an image fails alone (not retryable, named); a missing one stops the call
// before any work.
static void test_bad_images(void)
{
    NEED_MODEL();
    char bad[512];
    snprintf(bad, sizeof bad, "%s", check_tmp("not-an-image.png"));
    check_write_text(bad, "hello, not a PNG");
    const char *imgs[] = {bad, img(0)};
    seize_captioner_blip2_opts o = small_opts();
    seize_stage_item items[2] = {{0}};
    CHECK_EQ(caption(&o, imgs, 2, 2, NULL, items), SEIZE_ENET);
    CHECK(items[0].error && !items[0].retryable && !items[0].texts);
    CHECK_MSG(strstr(items[0].error, "not-an-image.png"), "%s", items[0].error);
    CHECK(items[1].texts && items[1].n_texts == 2 && !items[1].error);
    seize_stage_items_release(items, 2);
    const char *missing[] = {img(0), check_tmp("gone.jpg")};
    CHECK_EQ(caption(&o, missing, 2, 2, NULL, items), SEIZE_ENOTFOUND);
    CHECK_MSG(strstr(seize_errmsg(), "1 of 2 images are missing") &&
                  strstr(seize_errmsg(), "gone.jpg"),
              "%s", seize_errmsg());
    CHECK(!items[0].texts && !items[1].texts);
}

static int settings_hash(const seize_captioner_blip2_opts *o, char hash[65])
{
    seize_captioner *c = NULL;
    int rc = seize_captioner_blip2_new(o, &c);
    if (rc == 0) rc = seize_captioner_settings(c, NULL, hash);
    seize_captioner_free(c);
    return rc;
}

// Every setting that shapes the captions changes the hash; the same settings give the same.
static void test_settings_hash(void)
{
    NEED_MODEL();
    json_t *force = json_loads("[[5]]", 0, NULL);
    char h[12][65];
    seize_captioner_blip2_opts o = small_opts();
    CHECK_EQ(settings_hash(&o, h[0]), 0);
    CHECK_EQ(settings_hash(&o, h[1]), 0);
    CHECK_STREQ(h[0], h[1]);
    for (int k = 1; k < 12; k++) {
        seize_captioner_blip2_opts v = small_opts();
        switch (k) {
        case 1:
            v.gen.prompt = "a picture of";
            break;
        case 2:
            v.gen.n = 4;
            break;
        case 3:
            v.gen.greedy = 1;
            break;
        case 4:
            v.gen.top_p = 0.8f;
            break;
        case 5:
            v.gen.top_k = 0;
            break;
        case 6:
            v.gen.temperature = 0.7f;
            break;
        case 7:
            v.gen.max_new_tokens = 9;
            break;
        case 8:
            v.gen.seed = 8;
            break;
        case 9:
            v.precision = SEIZE_PRECISION_BF16;
            break;
        case 10:
            v.force_ids = force;
            break;
        case 11:
            v.gen.prompt = "";
            break;
        }
        CHECK_EQ(settings_hash(&v, h[k]), 0);
        for (int q = 0; q < k; q++)
            CHECK_MSG(strcmp(h[k], h[q]), "setting %d gives the hash of %d", k, q);
    }
    json_decref(force);
    // batch and threads do not change the captions (draws depend on seed and pixels only)
    seize_captioner_blip2_opts b = small_opts();
    b.batch = 2, b.threads = 2;
    CHECK_EQ(settings_hash(&b, h[1]), 0);
    CHECK_STREQ(h[0], h[1]);
}

// The model folder's part of the settings: config.json's content and the weight files' sizes.
static void test_settings_hash_folder(void)
{
    NEED_MODEL();
    char h[3][65];
    char dir[512], cfg[600], path[700];
    snprintf(dir, sizeof dir, "%s", check_tmp("model-copy"));
    CHECK_EQ(mkdir(dir, 0700), 0);
    const char *files[] = {"model.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json",
                           "special_tokens_map.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char *abs = realpath(check_fixture_path(MODEL), NULL);
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        snprintf(cfg, sizeof cfg, "%s/%s", abs, files[i]);
        free(abs);
        if (access(cfg, F_OK) == 0) CHECK_EQ(symlink(cfg, path), 0);
    }
    char *text = NULL;
    size_t len = 0;
    CHECK_EQ(seize_read_file(check_fixture_path(MODEL "/config.json"), &text, &len), 0);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    check_write_text(cfg, text);
    seize_captioner_blip2_opts v = small_opts();
    v.model_dir = dir;
    CHECK_EQ(settings_hash(&v, h[1]), 0); // (the folder's name is in the settings too)
    FILE *fp = fopen(cfg, "ab");
    CHECK(fp != NULL);
    fputs("\n", fp);
    fclose(fp);
    CHECK_EQ(settings_hash(&v, h[2]), 0);
    CHECK(strcmp(h[1], h[2]));
    check_write_text(cfg, text);
    free(text);
    CHECK_EQ(settings_hash(&v, h[2]), 0);
    CHECK_STREQ(h[1], h[2]);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK_EQ(unlink(path), 0);
    CHECK_EQ(seize_read_file(check_fixture_path(MODEL "/model.safetensors"), &text, &len), 0);
    fp = fopen(path, "wb");
    CHECK(fp != NULL);
    CHECK_EQ(fwrite(text, 1, len, fp), len);
    fputs("pad", fp); // 3 bytes more (not read: the tensors' offsets stay within the file)
    fclose(fp);
    free(text);
    CHECK_MSG(settings_hash(&v, h[2]) == 0, "%s", seize_errmsg());
    CHECK(strcmp(h[1], h[2]));
}

// Teacher forcing: the forced ids come back as the tokens (up to EOS); a count other than
// images x n is refused naming both; forced ids out of the vocabulary are refused.
static void test_force_ids(void)
{
    NEED_MODEL();
    const char *imgs[] = {img(0), img(1)};
    seize_captioner_blip2_opts o = small_opts();
    json_t *f = json_loads("[[5, 6, 7], [8], [9, 10], [11, 12, 13, 15], [16], [17, 18]]", 0, NULL);
    o.force_ids = f;
    seize_stage_item items[2] = {{0}};
    CHECK_EQ(caption(&o, imgs, 2, 3, NULL, items), 0);
    for (size_t r = 0; r < 6; r++) {
        json_t *t = json_array_get(json_object_get(items[r / 3].extra, "tokens"), r % 3);
        CHECK_MSG(json_equal(t, json_array_get(f, r)), "sequence %zu", r);
    }
    seize_stage_items_release(items, 2);
    CHECK_EQ(caption(&o, imgs, 1, 3, NULL, items), SEIZE_EINVAL);
    CHECK_MSG(strstr(seize_errmsg(), "6 sequences") && strstr(seize_errmsg(), "has 3"), "%s",
              seize_errmsg());
    json_decref(f);
    f = json_loads("[[5], [1000000]]", 0, NULL);
    o.force_ids = f;
    CHECK_EQ(caption(&o, imgs, 1, 2, NULL, items), SEIZE_EINVAL);
    seize_stage_items_release(items, 1);
    json_decref(f);
    f = json_loads("[[5], \"x\"]", 0, NULL);
    o.force_ids = f;
    seize_captioner *c = NULL;
    CHECK_EQ(seize_captioner_blip2_new(&o, &c), SEIZE_EINVAL);
    CHECK(c == NULL);
    json_decref(f);
}

// A CLIP folder, a missing folder and int8 are refused with a message naming the problem.
static void test_bad_model(void)
{
    NEED_MODEL();
    seize_captioner_blip2_opts o = small_opts();
    seize_captioner *c = NULL;
    o.model_dir = check_fixture_path("models/tiny-openai");
    CHECK(seize_captioner_blip2_new(&o, &c) < 0 && c == NULL);
    CHECK_MSG(strstr(seize_errmsg(), "tiny-openai"), "%s", seize_errmsg());
    o.model_dir = check_tmp("no-such-model");
    CHECK(seize_captioner_blip2_new(&o, &c) < 0 && c == NULL);
    CHECK_MSG(strstr(seize_errmsg(), "no-such-model"), "%s", seize_errmsg());
    o = small_opts();
    o.precision = SEIZE_PRECISION_INT8;
    CHECK_EQ(seize_captioner_blip2_new(&o, &c), SEIZE_EINVAL);
}

// Settings errors name the option (seize_captioner_blip2_check, no model needed); the model's
// limits are checked when the captioner is made: positions (the room left named) and forced ids
// outside the vocabulary (by their index in the whole array).
static void test_settings_errors(void)
{
    seize_captioner_blip2_opts o = seize_captioner_blip2_default_opts();
    CHECK_EQ(seize_captioner_blip2_check(&o), 0);
    o.gen.temperature = 0;
    CHECK_EQ(seize_captioner_blip2_check(&o), SEIZE_EINVAL);
    CHECK_MSG(strstr(seize_errmsg(), "--temperature 0: "), "%s", seize_errmsg());
    o = seize_captioner_blip2_default_opts(), o.gen.top_p = 0;
    CHECK_EQ(seize_captioner_blip2_check(&o), SEIZE_EINVAL);
    CHECK_MSG(strstr(seize_errmsg(), "--top-p 0: "), "%s", seize_errmsg());
    o = seize_captioner_blip2_default_opts(), o.gen.top_k = -1;
    CHECK_EQ(seize_captioner_blip2_check(&o), SEIZE_EINVAL);
    CHECK_MSG(strstr(seize_errmsg(), "--top-k -1: "), "%s", seize_errmsg());
    o = seize_captioner_blip2_default_opts(), o.gen.max_new_tokens = 0;
    CHECK_EQ(seize_captioner_blip2_check(&o), SEIZE_EINVAL);
    CHECK_MSG(strstr(seize_errmsg(), "--max-new-tokens 0: "), "%s", seize_errmsg());
    o = seize_captioner_blip2_default_opts(), o.precision = SEIZE_PRECISION_INT8;
    CHECK_EQ(seize_captioner_blip2_check(&o), SEIZE_EINVAL);
    CHECK_MSG(strstr(seize_errmsg(), "--precision int8: "), "%s", seize_errmsg());
    NEED_MODEL();
    seize_captioner *c = NULL;
    o = small_opts(), o.gen.max_new_tokens = 4000; // the fixture's OPT has 128 positions
    CHECK_EQ(seize_captioner_blip2_new(&o, &c), SEIZE_EINVAL);
    CHECK_MSG(c == NULL && strstr(seize_errmsg(), "config.json': the language model has 128") &&
                  strstr(seize_errmsg(), "at most 92 new tokens"),
              "%s", seize_errmsg());
    o = small_opts();
    json_t *f = json_loads("[[5], [6, 7], [8, 424]]", 0, NULL); // vocabulary: 424 ids
    o.force_ids = f;
    CHECK_EQ(seize_captioner_blip2_new(&o, &c), SEIZE_EINVAL);
    CHECK_MSG(c == NULL && strstr(seize_errmsg(), "sequence 2, token 1: id 424 is outside"), "%s",
              seize_errmsg());
    json_decref(f);
}

// The captions file: an item's extra members follow "captions"; items without one are written
// as before ({"image", "captions"} only).
static void test_items_write_extra(void)
{
    char *a[] = {"x"}, *b[] = {"y", "z"};
    seize_stage_item items[2] = {{a, 1, NULL, 0, NULL},
                                 {b, 2, NULL, 0, json_pack("{s:[[i]]}", "tokens", 3)}};
    const char *imgs[] = {"i0.png", "i1.png"};
    size_t n = 0;
    CHECK_EQ(seize_captions_items_write(check_tmp("w.jsonl"), imgs, items, 2, &n), 0);
    json_decref(items[1].extra);
    CHECK_EQ(n, 2);
    char *text = NULL;
    size_t len = 0;
    CHECK_EQ(seize_read_file(check_tmp("w.jsonl"), &text, &len), 0);
    CHECK_STREQ(text, "{\"image\":\"i0.png\",\"captions\":[\"x\"]}\n"
                      "{\"image\":\"i1.png\",\"captions\":[\"y\",\"z\"],\"tokens\":[[3]]}\n");
    free(text);
}

// A call for more samples than the captioner's n (seize serve's num_captions) runs on a larger
// state that is not kept: calls of 5, then 3, then 5 samples on one captioner give what fresh
// captioners give.
static void test_larger_call(void)
{
    NEED_MODEL();
    seize_captioner_blip2_opts o = small_opts();
    const char *imgs[] = {img(0)};
    seize_stage_item want3[1] = {{0}}, want5[1] = {{0}}, got[3] = {{0}};
    CHECK_EQ(caption(&o, imgs, 1, 3, NULL, want3), 0);
    CHECK_EQ(caption(&o, imgs, 1, 5, NULL, want5), 0);
    seize_captioner *c = NULL;
    CHECK_EQ(seize_captioner_blip2_new(&o, &c), 0);
    size_t n[3] = {5, 3, 5};
    for (int i = 0; c && i < 3; i++) {
        seize_caption_job job = {imgs, 1, n[i], NULL, NULL, NULL, NULL};
        CHECK_EQ(seize_captioner_caption(c, &job, &got[i]), 0);
        CHECK(same_item(&got[i], n[i] == 3 ? &want3[0] : &want5[0]));
    }
    seize_captioner_free(c);
    seize_stage_items_release(want3, 1);
    seize_stage_items_release(want5, 1);
    seize_stage_items_release(got, 3);
}

int main(void)
{
    if (check_tmp_init("captioner_blip2") < 0) return 1;
    RUN(test_items_tokens);
    RUN(test_journal_resume);
    RUN(test_journal_settings);
    RUN(test_bad_images);
    RUN(test_settings_hash);
    RUN(test_settings_hash_folder);
    RUN(test_force_ids);
    RUN(test_bad_model);
    RUN(test_items_write_extra);
    RUN(test_settings_errors);
    RUN(test_larger_call);
    check_tmp_cleanup();
    return check_summary("captioner_blip2");
}
