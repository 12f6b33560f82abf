// Unit tests of src/net: prompt, post-processing, reply parsing, request bodies, retry policy,
// base64, journal replay, the batch client's offline paths (journal resume, refused
// connections, bad endpoints), and the event loop with asynchronous chat calls against a tiny
// HTTP server on a thread of this test. Batch tests against a live server are in
// tests/cli/test_reason*.sh.
#include "check.h"

#include "seize/hub.h"
#include "seize/net.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", check_tmpdir, name);
    return buf[k];
}

// --- prompt -------------------------------------------------------------------------------

static void test_prompt_builtin(void)
{
    char *s = seize_prompt_format(SEIZE_REASON_USER, "a dog on a sofa", "make it a cat");
    CHECK(s != NULL);
    const char *want =
        "I will put my image content beginning with \"Image Content:\". The instruction I "
        "provide will begin with \"Instruction:\". The edited description you generate should "
        "begin with \"Edited Description:\". You just generate one edited description only begin "
        "with \"Edited Description:\". The edited description needs to be as simple as possible "
        "and only reflects image content. Just one line.\nA example:\nImage Content: a man "
        "adjusting a woman's tie.\nInstruction: has the woman and the man with the roles "
        "switched.\nEdited Description: a woman adjusting a man's tie.\n\nImage Content: a dog on "
        "a sofa\nInstruction: make it a cat\nEdited Description:";
    int same = strcmp(s, want) == 0;
    free(s);
    CHECK(same);
    CHECK_STREQ(SEIZE_REASON_SYSTEM, "I have an image. Given an instruction to edit the image, "
                                     "carefully generate a description of the edited image.");
}

static void test_prompt_placeholders(void)
{
    char *s = seize_prompt_format("{{caption}} {caption}/{instruction}/{caption} {x} }} {", "A",
                                  "B{caption}");
    CHECK(s != NULL);
    // Substituted text is not scanned again; {{ }} are literal braces; unknown ones are kept.
    int ok = strcmp(s, "{caption} A/B{caption}/A {x} } {") == 0;
    if (!ok) fprintf(stderr, "  got '%s'\n", s);
    free(s);
    CHECK(ok);
    s = seize_prompt_format("", "A", "B");
    CHECK(s && !strcmp(s, ""));
    free(s);
}

static void test_reason_clean(void)
{
    static const char *cases[][2] = {
        {"  Edited Description: a dog on a sofa.\nInstruction: more", "a dog on a sofa."},
        {"a cat", "a cat"},
        {"\n\nEdited Description:\n  two cats  \n\nmore", "two cats"},
        {"", ""},
        {"   \n ", ""},
        {"edited description: lower case kept", "edited description: lower case kept"},
        {"Edited Description:", ""},
        {"first line\r\nsecond", "first line"},
        {"Edited Description: Edited Description: twice", "Edited Description: twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = seize_reason_clean(cases[i][0]);
        CHECK(s != NULL);
        int ok = strcmp(s, cases[i][1]) == 0;
        if (!ok) fprintf(stderr, "  case %zu: got '%s'\n", i, s);
        free(s);
        CHECK(ok);
    }
}

// --- replies ------------------------------------------------------------------------------

static void test_parse_reply(void)
{
    const char *body =
        "{\"id\":\"x\",\"choices\":[{\"index\":1,\"message\":{\"role\":\"assistant\","
        "\"content\":\"second\"}},{\"index\":0,\"message\":{\"content\":\"first\"}}],"
        "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7}}";
    seize_chat_reply r;
    CHECK_EQ(seize_chat_parse(body, strlen(body), &r), 0);
    CHECK_EQ(r.n_texts, 2);
    CHECK_STREQ(r.texts[0], "first");
    CHECK_STREQ(r.texts[1], "second");
    CHECK_EQ(r.prompt_tokens, 12);
    CHECK_EQ(r.completion_tokens, 7);
    seize_chat_reply_free(&r);

    const char *parts = "{\"choices\":[{\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"a "
                        "\"},{\"type\":\"text\",\"text\":\"b\"}]}}]}";
    CHECK_EQ(seize_chat_parse(parts, strlen(parts), &r), 0);
    CHECK_EQ(r.n_texts, 1);
    CHECK_STREQ(r.texts[0], "a b");
    CHECK_EQ(r.prompt_tokens, 0);
    seize_chat_reply_free(&r);
}

static void test_parse_reply_bad(void)
{
    static const char *bad[] = {
        "",
        "not json",
        "{\"choices\": [{\"message\": {\"content\": \"trunc",
        "{\"choices\": []}",
        "{\"choices\": {}}",
        "{\"choices\": [{\"message\": {\"content\": null}}]}",
        "{\"choices\": [{\"message\": {}}]}",
        "{\"choices\": [{\"text\": \"legacy\"}]}",
        "{\"choices\": [{\"message\": {\"content\": [{\"type\": \"image\"}]}}]}",
        "[1, 2]",
        "{\"error\": {\"message\": \"x\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        seize_chat_reply r;
        int rc = seize_chat_parse(bad[i], strlen(bad[i]), &r);
        if (rc != SEIZE_EFORMAT) fprintf(stderr, "  case %zu accepted\n", i);
        CHECK_EQ(rc, SEIZE_EFORMAT);
        CHECK_EQ(r.n_texts, 0);
        CHECK(r.texts == NULL);
        seize_chat_reply_free(&r);
    }
    // Never reads past len: a valid body cut short is rejected.
    const char *body = "{\"choices\":[{\"message\":{\"content\":\"x\"}}]}";
    seize_chat_reply r;
    CHECK_EQ(seize_chat_parse(body, strlen(body) - 1, &r), SEIZE_EFORMAT);
}

static void test_error_message(void)
{
    const char *b1 = "{\"error\": {\"message\": \"Rate limit reached\", \"type\": \"x\"}}";
    char *m = seize_chat_error_message(b1, strlen(b1));
    CHECK(m && !strcmp(m, "Rate limit reached"));
    free(m);
    const char *b2 = "{\"error\": \"model not found\"}";
    m = seize_chat_error_message(b2, strlen(b2));
    CHECK(m && !strcmp(m, "model not found"));
    free(m);
    const char *b3 = "<html>\n<b>502</b></html>";
    m = seize_chat_error_message(b3, strlen(b3));
    CHECK(m && !strcmp(m, "<html> <b>502</b></html>"));
    free(m);
    char big[1000];
    memset(big, 'x', sizeof big);
    m = seize_chat_error_message(big, sizeof big);
    CHECK(m && strlen(m) == 200);
    free(m);
    m = seize_chat_error_message(NULL, 0);
    CHECK(m && !strcmp(m, ""));
    free(m);
}

// --- requests -----------------------------------------------------------------------------

static void test_request_body(void)
{
    seize_llm_params p = seize_llm_default_params();
    p.model = "gpt-x";
    json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", "hi");
    char *s = seize_chat_request_body(&p, msgs, 1, 0);
    CHECK(s != NULL);
    int ok =
        !strcmp(s, "{\"model\":\"gpt-x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    if (!ok) fprintf(stderr, "  got %s\n", s);
    free(s);
    CHECK(ok);
    p.temperature = 1.0;
    p.top_p = 0.9;
    p.max_tokens = 77;
    p.seed = 40;
    s = seize_chat_request_body(&p, msgs, 15, 2);
    json_t *o = s ? json_loads(s, 0, NULL) : NULL;
    free(s);
    json_decref(msgs);
    CHECK(o != NULL);
    int good = json_real_value(json_object_get(o, "temperature")) == 1.0 &&
               json_real_value(json_object_get(o, "top_p")) == 0.9 &&
               json_integer_value(json_object_get(o, "max_tokens")) == 77 &&
               json_integer_value(json_object_get(o, "seed")) == 42 &&
               json_integer_value(json_object_get(o, "n")) == 15;
    json_decref(o);
    CHECK(good);
}

static void test_params(void)
{
    seize_llm_params p = seize_llm_default_params();
    CHECK_EQ(seize_llm_param_set(&p, "temperature", "0.7"), 0);
    CHECK_NEAR(p.temperature, 0.7, 1e-12);
    CHECK_EQ(seize_llm_param_set(&p, "concurrency", "64"), 0);
    CHECK_EQ(p.concurrency, 64);
    CHECK_EQ(seize_llm_param_set(&p, "max-attempts", "0"), SEIZE_EINVAL);
    CHECK(strstr(seize_errmsg(), "--max-attempts") != NULL);
    CHECK_EQ(seize_llm_param_set(&p, "top-p", "1.5"), SEIZE_EINVAL);
    CHECK_EQ(seize_llm_param_set(&p, "timeout", "abc"), SEIZE_EINVAL);
    CHECK_EQ(seize_llm_param_set(&p, "seed", "-1"), SEIZE_EINVAL);
    CHECK_EQ(seize_llm_param_set(&p, "nope", "1"), SEIZE_EINVAL);
    CHECK_EQ(p.max_attempts, 6);
}

static void test_retry_policy(void)
{
    CHECK(seize_llm_status_retryable(429));
    CHECK(seize_llm_status_retryable(500));
    CHECK(seize_llm_status_retryable(503));
    CHECK(seize_llm_status_retryable(408));
    CHECK(seize_llm_status_retryable(409));
    CHECK(!seize_llm_status_retryable(400));
    CHECK(!seize_llm_status_retryable(401));
    CHECK(!seize_llm_status_retryable(404));
    CHECK(!seize_llm_status_retryable(422));
    CHECK(!seize_llm_status_retryable(200));
    // Full jitter: u * min(max, base * 2^(attempt-1)).
    CHECK_NEAR(seize_llm_backoff(1, 1.0, 60, 0, 0.5), 0.5, 1e-12);
    CHECK_NEAR(seize_llm_backoff(3, 1.0, 60, 0, 0.5), 2.0, 1e-12);
    CHECK_NEAR(seize_llm_backoff(10, 1.0, 5, 0, 0.5), 2.5, 1e-12);
    CHECK_NEAR(seize_llm_backoff(1000, 1.0, 5, 0, 0.999), 4.995, 1e-9);
    // Retry-After is a floor, capped at 600 s.
    CHECK_NEAR(seize_llm_backoff(1, 1.0, 60, 3, 0.1), 3.0, 1e-12);
    CHECK_NEAR(seize_llm_backoff(7, 1.0, 60, 3, 0.5), 30.0, 1e-12);
    CHECK_NEAR(seize_llm_backoff(1, 1.0, 60, 100000, 0.5), 600.0, 1e-12);
    for (int a = 1; a < 20; a++)
        for (double u = 0; u < 1; u += 0.125) {
            double d = seize_llm_backoff(a, 0.5, 8, 0, u);
            CHECK(d >= 0 && d <= 8);
        }
}

static void test_base64_fnv(void)
{
    static const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *s = seize_base64_encode(in[i], strlen(in[i]));
        CHECK(s != NULL);
        int ok = !strcmp(s, out[i]);
        free(s);
        CHECK(ok);
    }
    unsigned char bin[3] = {0xFF, 0xFE, 0x00};
    char *s = seize_base64_encode(bin, 3);
    CHECK(s && !strcmp(s, "//4A"));
    free(s);
    char h[17];
    seize_llm_fingerprint("", 0, h);
    CHECK_STREQ(h, "cbf29ce484222325");
    seize_llm_fingerprint("a", 1, h);
    CHECK_STREQ(h, "af63dc4c8601ec8c");
}

// --- journal ------------------------------------------------------------------------------

static void count_line(void *ctx, json_t *line)
{
    json_t *acc = ctx;
    json_array_append(acc, line);
}

static void test_journal_replay(void)
{
    const char *path = tmp_path("j1.journal");
    unlink(path);
    seize_journal *j = NULL;
    json_t *seen = json_array();
    CHECK_EQ(seize_journal_open(path, count_line, seen, &j), 0);
    CHECK_EQ(json_array_size(seen), 0);
    for (int i = 0; i < 3; i++) {
        json_t *l = json_pack("{s:i, s:s}", "i", i, "t", "x\ny");
        CHECK_EQ(seize_journal_add(j, l), 0);
        json_decref(l);
    }
    CHECK_EQ(seize_journal_sync(j), 0);
    CHECK_EQ(seize_journal_close(j), 0);
    // A crash in the middle of a write leaves a torn line without a newline.
    FILE *fp = fopen(path, "ab");
    CHECK(fp != NULL);
    fputs("{\"i\": 3, \"t\": \"tor", fp);
    fclose(fp);
    CHECK_EQ(seize_journal_open(path, count_line, seen, &j), 0);
    CHECK_EQ(json_array_size(seen), 3);
    CHECK_EQ(json_integer_value(json_object_get(json_array_get(seen, 2), "i")), 2);
    CHECK_STREQ(json_string_value(json_object_get(json_array_get(seen, 0), "t")), "x\ny");
    json_t *l = json_pack("{s:i}", "i", 4);
    CHECK_EQ(seize_journal_add(j, l), 0);
    json_decref(l);
    CHECK_EQ(seize_journal_close(j), 0);
    json_array_clear(seen);
    // The torn line is gone and the next line is intact.
    CHECK_EQ(seize_journal_open(path, count_line, seen, &j), 0);
    CHECK_EQ(json_array_size(seen), 4);
    CHECK_EQ(json_integer_value(json_object_get(json_array_get(seen, 3), "i")), 4);
    CHECK_EQ(seize_journal_close(j), 0);
    json_array_clear(seen);
    // A corrupt line in the middle is skipped; what follows is kept.
    check_write_text(path, "{\"i\":0}\ngarbage{\n\n{\"i\":1}\n");
    CHECK_EQ(seize_journal_open(path, count_line, seen, &j), 0);
    CHECK_EQ(json_array_size(seen), 2);
    CHECK_EQ(seize_journal_close(j), 0);
    json_decref(seen);
    // Unwritable location.
    CHECK(seize_journal_open("/nonexistent-dir/x.journal", NULL, NULL, &j) == SEIZE_EIO);
}

static int n_notified;
static void on_notify(void *ctx)
{
    (void)ctx;
    __atomic_add_fetch(&n_notified, 1, __ATOMIC_SEQ_CST);
}

static void test_journal_committer(void)
{
    const char *path = tmp_path("j2.journal");
    unlink(path);
    seize_journal *j = NULL;
    CHECK_EQ(seize_journal_open(path, NULL, NULL, &j), 0);
    CHECK_EQ(seize_journal_start(j, on_notify, NULL), 0);
    for (int i = 0; i < 200; i++) {
        json_t *l = json_pack("{s:i}", "i", i);
        CHECK_EQ(seize_journal_add(j, l), 0);
        json_decref(l);
    }
    uint64_t synced = 0;
    int failed = 1;
    CHECK_EQ(seize_journal_lines(j, &synced, &failed), 200);
    CHECK_EQ(failed, 0);
    CHECK(synced <= 200);
    // The committer makes everything durable by itself, and says so.
    for (int k = 0; k < 500 && synced < 200; k++) {
        usleep(10000);
        seize_journal_lines(j, &synced, NULL);
    }
    CHECK_EQ(synced, 200);
    CHECK(__atomic_load_n(&n_notified, __ATOMIC_SEQ_CST) >= 1);
    json_t *l = json_pack("{s:i}", "i", 200);
    CHECK_EQ(seize_journal_add(j, l), 0);
    json_decref(l);
    CHECK_EQ(seize_journal_stop(j), 0); // drains the last line
    CHECK_EQ(seize_journal_lines(j, &synced, NULL), 201);
    CHECK_EQ(synced, 201);
    CHECK_EQ(seize_journal_close(j), 0);
    json_t *seen = json_array();
    CHECK_EQ(seize_journal_open(path, count_line, seen, &j), 0);
    size_t n = json_array_size(seen);
    int in_order = 1;
    for (size_t i = 0; i < n; i++)
        in_order &=
            json_integer_value(json_object_get(json_array_get(seen, i), "i")) == (json_int_t)i;
    json_decref(seen);
    CHECK_EQ(seize_journal_close(j), 0);
    CHECK_EQ(n, 201);
    CHECK(in_order);
}

// --- batch (offline) ----------------------------------------------------------------------

static int n_built;

static int build_user(void *ctx, size_t item, json_t **out)
{
    (void)ctx;
    n_built++;
    *out = json_pack("[{s:s, s:s}]", "role", "user", "content", "hello");
    (void)item;
    return 0;
}

static void test_batch_resume_from_journal(void)
{
    const char *path = tmp_path("b1.journal");
    seize_llm_params p = seize_llm_default_params();
    p.endpoint = "http://127.0.0.1:1/v1"; // nothing listens there
    p.model = "m";
    p.max_attempts = 2;
    p.backoff_base = 0.001;
    p.backoff_max = 0.002;
    p.timeout = 2;
    char h[65], other[65];
    CHECK_EQ(seize_llm_settings(&p, NULL, NULL, h), 0);
    p.model = "m2";
    CHECK_EQ(seize_llm_settings(&p, NULL, NULL, other), 0);
    p.model = "m";
    // Lines of other settings (another model), or without settings (an older seize), are not
    // this batch's answers, whatever their check.
    char text[2048];
    snprintf(text, sizeof text,
             "{\"key\":\"a\",\"check\":\"c1\",\"settings\":\"%s\",\"texts\":[\"A\"]}\n"
             "{\"key\":\"b\",\"check\":\"old\",\"settings\":\"%s\",\"texts\":[\"stale\"]}\n"
             "{\"key\":\"c\",\"check\":\"c3\",\"settings\":\"%s\",\"texts\":[\"OTHER\"]}\n"
             "{\"key\":\"c\",\"check\":\"c3\",\"texts\":[\"LEGACY\"]}\n"
             "{\"key\":\"c\",\"check\":\"c3\",\"settings\":\"%s\",\"texts\":[\"C1\",\"C2\"]}\n"
             "{\"key\":\"c\",\"check\":\"c3\",\"settings\":\"%s\",\"texts\":[\"C3\"]}\n"
             "{\"key\":\"d\",\"check\":\"c4\",\"settings\":\"%s\",\"error\":\"HTTP 400\"}\n",
             h, h, other, h, h, h);
    check_write_text(path, text);
    seize_llm_batch *b = NULL;
    CHECK_EQ(seize_llm_batch_new(&p, path, build_user, NULL, &b), 0);
    CHECK_EQ(seize_llm_batch_add(b, "a", "c1", 1), 0);
    CHECK_EQ(seize_llm_batch_add(b, "c", "c3", 3), 0);
    CHECK_EQ(seize_llm_batch_add(b, "a", "c1", 1), SEIZE_EINVAL); // duplicate key
    seize_llm_stats st = seize_llm_batch_stats(b);
    CHECK_EQ(st.items, 2);
    CHECK_EQ(st.items_from_journal, 2);
    n_built = 0;
    CHECK_EQ(seize_llm_batch_run(b, NULL, NULL), 0);
    CHECK_EQ(n_built, 0);
    CHECK_EQ(seize_llm_batch_stats(b).requests, 0);
    const json_t *t = seize_llm_batch_texts(b, 1);
    CHECK(t != NULL && json_array_size(t) == 3);
    CHECK_STREQ(json_string_value(json_array_get(t, 0)), "C1");
    CHECK_STREQ(json_string_value(json_array_get(t, 2)), "C3");
    CHECK_STREQ(seize_llm_batch_settings(b), h);
    seize_llm_batch_free(b);

    // Another model: nothing is reused (the answers belong to "m").
    p.model = "m2";
    CHECK_EQ(seize_llm_batch_new(&p, path, build_user, NULL, &b), 0);
    CHECK_EQ(seize_llm_batch_add(b, "a", "c1", 1), 0);
    CHECK_EQ(seize_llm_batch_add(b, "c", "c3", 1), 0);
    CHECK_EQ(seize_llm_batch_stats(b).items_from_journal, 1); // "c": its "OTHER" line
    CHECK(seize_llm_batch_texts(b, 0) == NULL);
    CHECK_STREQ(json_string_value(json_array_get(seize_llm_batch_texts(b, 1), 0)), "OTHER");
    seize_llm_batch_free(b);
    // Settings given by the caller (extra members: a prompt) key the journal instead.
    p.model = "m";
    json_t *extra = json_pack("{s:s}", "prompt_sha256", "abc");
    char hx[65];
    CHECK_EQ(seize_llm_settings(&p, extra, NULL, hx), 0);
    json_decref(extra);
    p.settings = hx;
    CHECK_EQ(seize_llm_batch_new(&p, path, build_user, NULL, &b), 0);
    CHECK_EQ(seize_llm_batch_add(b, "a", "c1", 1), 0);
    CHECK_EQ(seize_llm_batch_stats(b).items_from_journal, 0);
    CHECK_STREQ(seize_llm_batch_settings(b), hx);
    seize_llm_batch_free(b);
    p.settings = NULL;

    // A changed check (input changed) and a recorded failure are not complete: they are
    // requested again. Nothing listens: once a request has used its attempts without any
    // reply ever received, the run stops as unreachable instead of failing item after item.
    p.concurrency = 1;
    CHECK_EQ(seize_llm_batch_new(&p, path, build_user, NULL, &b), 0);
    CHECK_EQ(seize_llm_batch_add(b, "b", "new", 1), 0);
    CHECK_EQ(seize_llm_batch_add(b, "d", "c4", 1), 0);
    CHECK_EQ(seize_llm_batch_stats(b).items_from_journal, 0);
    n_built = 0;
    CHECK_EQ(seize_llm_batch_run(b, NULL, NULL), SEIZE_ENET);
    CHECK(strstr(seize_errmsg(), "cannot reach") != NULL);
    CHECK(strstr(seize_errmsg(), "after 2 attempts") != NULL);
    st = seize_llm_batch_stats(b);
    CHECK_EQ(st.items_failed, 0);
    CHECK_EQ(st.items_done, 0);
    // "b" fails, "d" (queued first) fails, "b" fails again: unreachable.
    CHECK_EQ(st.requests, 3);
    CHECK_EQ(st.errors[SEIZE_LLM_ERR_CONNECT], 3);
    CHECK_EQ(st.retries, 2);
    CHECK_EQ(n_built, 2); // the body is built once per request and kept for retries
    CHECK(seize_llm_batch_texts(b, 0) == NULL);
    CHECK(seize_llm_batch_error(b, 0) == NULL);
    seize_llm_batch_free(b);
}

// A cancel token (core.h): requested before the run, nothing is sent; requested from inside
// the run (here by the body builder, as a signal handler would), the request in flight ends
// and is not retried, and the run returns SEIZE_ECANCEL.
static int build_and_cancel(void *ctx, size_t item, json_t **out)
{
    seize_cancel_request(ctx, 0);
    return build_user(NULL, item, out);
}

static void test_batch_cancel(void)
{
    seize_llm_params p = seize_llm_default_params();
    p.endpoint = "http://127.0.0.1:1/v1"; // nothing listens there
    p.model = "m";
    p.concurrency = 1;
    p.max_attempts = 5;
    p.backoff_base = 0.001;
    p.backoff_max = 0.002;
    seize_cancel cancel = {0};
    p.cancel = &cancel;
    for (int level = 1; level <= 2; level++) {
        seize_cancel_reset(&cancel);
        for (int k = 0; k < level; k++)
            seize_cancel_request(&cancel, 2);
        seize_llm_batch *b = NULL;
        CHECK_EQ(seize_llm_batch_new(&p, NULL, build_user, NULL, &b), 0);
        CHECK_EQ(seize_llm_batch_add(b, "x", "", 1), 0);
        n_built = 0;
        CHECK_EQ(seize_llm_batch_run(b, NULL, NULL), SEIZE_ECANCEL);
        CHECK_STREQ(seize_errmsg(), "interrupted");
        CHECK_EQ(seize_llm_batch_stats(b).requests, 0);
        CHECK_EQ(n_built, 0);
        seize_llm_batch_free(b);
    }
    seize_cancel_reset(&cancel);
    seize_llm_batch *b = NULL;
    CHECK_EQ(seize_llm_batch_new(&p, NULL, build_and_cancel, &cancel, &b), 0);
    CHECK_EQ(seize_llm_batch_add(b, "x", "", 1), 0);
    CHECK_EQ(seize_llm_batch_add(b, "y", "", 1), 0);
    CHECK_EQ(seize_llm_batch_run(b, NULL, NULL), SEIZE_ECANCEL);
    CHECK_EQ(seize_llm_batch_stats(b).requests, 1); // no retry, no second item
    CHECK_EQ(seize_cancel_level(&cancel), 1);
    seize_llm_batch_free(b);
}

static void test_batch_bad_endpoint(void)
{
    seize_llm_params p = seize_llm_default_params();
    p.endpoint = "ftp://127.0.0.1:1/v1";
    p.model = "m";
    p.concurrency = 1;
    seize_llm_batch *b = NULL;
    CHECK_EQ(seize_llm_batch_new(&p, NULL, build_user, NULL, &b), 0);
    CHECK_EQ(seize_llm_batch_add(b, "x", "", 1), 0);
    CHECK_EQ(seize_llm_batch_add(b, "y", "", 1), 0);
    CHECK_EQ(seize_llm_batch_run(b, NULL, NULL), SEIZE_ENET);
    CHECK(strstr(seize_errmsg(), "cannot use endpoint") != NULL);
    CHECK_EQ(seize_llm_batch_stats(b).requests, 1); // stopped at the first
    seize_llm_batch_free(b);
    p.model = NULL;
    CHECK_EQ(seize_llm_batch_new(&p, NULL, build_user, NULL, &b), SEIZE_EINVAL);
    p.model = "m";
    p.endpoint = NULL;
    CHECK_EQ(seize_llm_batch_new(&p, NULL, build_user, NULL, &b), SEIZE_EINVAL);
}

// --- the event loop and asynchronous chat calls ---------------------------------------------

static int fired[8], n_fired;
static void on_timer_fire(void *ctx)
{
    if (n_fired < 8) fired[n_fired++] = (int)(intptr_t)ctx;
}

static void *wake_later(void *arg)
{
    usleep(20000);
    seize_loop_wake(arg);
    return NULL;
}

// Timers fire once, in due order, not when cancelled; a wake-up from another thread ends a
// long wait (the 60 s timer has not fired when run_once returns).
static void test_loop_timers_and_wake(void)
{
    seize_loop *l = NULL;
    CHECK_EQ(seize_loop_new(&l), 0);
    double now = seize_now();
    n_fired = 0;
    long a = seize_loop_timer_add(l, now + 0.02, on_timer_fire, (void *)1);
    long b = seize_loop_timer_add(l, now - 1, on_timer_fire, (void *)2);
    long c = seize_loop_timer_add(l, now + 0.01, on_timer_fire, (void *)3);
    CHECK(a > 0 && b > 0 && c > 0 && a != b && b != c);
    seize_loop_timer_cancel(l, a);
    seize_loop_timer_cancel(l, 12345); // unknown: ignored
    CHECK_EQ(seize_loop_pending(l), 2);
    while (seize_loop_pending(l))
        CHECK_EQ(seize_loop_run_once(l, 1.0), 0);
    CHECK_EQ(n_fired, 2);
    CHECK_EQ(fired[0], 2);
    CHECK_EQ(fired[1], 3);
    long far = seize_loop_timer_add(l, seize_now() + 60, on_timer_fire, (void *)4);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, wake_later, l), 0);
    CHECK_EQ(seize_loop_run_once(l, 60), 0);
    pthread_join(th, NULL);
    CHECK_EQ(n_fired, 2);
    seize_loop_timer_cancel(l, far);
    CHECK_EQ(seize_loop_pending(l), 0);
    seize_loop_free(l);
    seize_loop_free(NULL);
}

// A tiny HTTP/1.1 server, one thread per connection: POST /ok answers a chat completion,
// /busy 429 with Retry-After: 7, /hang never answers (until the server stops). Connection: close.
typedef struct mini_server {
    int fd, port, stop, active;
    pthread_t th;
} mini_server;

typedef struct mini_conn {
    mini_server *sv;
    int fd;
} mini_conn;

static void *mini_handle(void *arg)
{
    mini_conn *mc = arg;
    mini_server *sv = mc->sv;
    int c = mc->fd;
    free(mc);
    char buf[8192];
    size_t n = 0;
    ssize_t k;
    buf[0] = 0;
    while (n < sizeof buf - 1 && (k = read(c, buf + n, sizeof buf - 1 - n)) > 0) {
        n += (size_t)k;
        buf[n] = 0;
        char *end = strstr(buf, "\r\n\r\n"), *cl = strcasestr(buf, "content-length:");
        if (end && (!cl || n >= (size_t)(end + 4 - buf) + (size_t)atoi(cl + 15))) break;
    }
    const char *reply = NULL;
    if (strstr(buf, "POST /ok "))
        reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                "Content-Length: 58\r\n\r\n"
                "{\"choices\":[{\"message\":{\"content\":\"a red car at night\"}}]}";
    else if (strstr(buf, "POST /busy "))
        reply = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nConnection: close\r\n"
                "Content-Length: 2\r\n\r\n{}";
    if (reply) {
        ssize_t w = write(c, reply, strlen(reply));
        (void)w;
    } else {
        while (!__atomic_load_n(&sv->stop, __ATOMIC_SEQ_CST))
            usleep(5000); // /hang
    }
    close(c);
    __atomic_fetch_sub(&sv->active, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *mini_serve(void *arg)
{
    mini_server *sv = arg;
    while (!__atomic_load_n(&sv->stop, __ATOMIC_SEQ_CST)) {
        int c = accept(sv->fd, NULL, NULL);
        if (c < 0) continue;
        mini_conn *mc = malloc(sizeof *mc);
        pthread_t th;
        __atomic_fetch_add(&sv->active, 1, __ATOMIC_SEQ_CST);
        if (mc) *mc = (mini_conn){sv, c};
        if (!mc || pthread_create(&th, NULL, mini_handle, mc) != 0) {
            free(mc);
            close(c);
            __atomic_fetch_sub(&sv->active, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        pthread_detach(th);
    }
    return NULL;
}

static int mini_start(mini_server *sv)
{
    memset(sv, 0, sizeof *sv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    sv->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (sv->fd < 0 || bind(sv->fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(sv->fd, 16) < 0 ||
        getsockname(sv->fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    sv->port = ntohs(a.sin_port);
    return pthread_create(&sv->th, NULL, mini_serve, sv) == 0 ? 0 : -1;
}

static void mini_stop(mini_server *sv)
{
    __atomic_store_n(&sv->stop, 1, __ATOMIC_SEQ_CST);
    shutdown(sv->fd, SHUT_RDWR); // ends a blocked accept
    pthread_join(sv->th, NULL);
    while (__atomic_load_n(&sv->active, __ATOMIC_SEQ_CST))
        usleep(1000); // connection threads
    close(sv->fd);
}

typedef struct chat_seen {
    int calls, transport;
    long status;
    double retry_after;
    char text[128];
} chat_seen;

static void on_chat(void *ctx, const seize_chat_result *res)
{
    chat_seen *c = ctx;
    c->calls++;
    c->transport = res->transport;
    c->status = res->status;
    c->retry_after = res->retry_after;
    seize_chat_reply rep;
    if (res->transport == SEIZE_CHAT_OK && res->status == 200 &&
        seize_chat_parse(res->body, res->len, &rep) == 0) {
        if (rep.n_texts) snprintf(c->text, sizeof c->text, "%s", rep.texts[0]);
        seize_chat_reply_free(&rep);
    }
}

// Concurrent calls on one loop, each with its own callback: a reply, a 429 with Retry-After, a
// refused connection, an unusable URL, and a call cancelled in flight (no callback).
static void test_chat_async(void)
{
    mini_server sv;
    CHECK_EQ(mini_start(&sv), 0);
    seize_loop *l = NULL;
    CHECK_EQ(seize_loop_new(&l), 0);
    char ok_url[64], busy_url[64], hang_url[64], closed_url[64];
    snprintf(ok_url, sizeof ok_url, "http://127.0.0.1:%d/ok", sv.port);
    snprintf(busy_url, sizeof busy_url, "http://127.0.0.1:%d/busy", sv.port);
    snprintf(hang_url, sizeof hang_url, "http://127.0.0.1:%d/hang", sv.port);
    snprintf(closed_url, sizeof closed_url, "http://127.0.0.1:1/v1/chat/completions");
    const char *body = "{\"model\":\"m\",\"messages\":[]}";
    chat_seen ok = {0}, busy = {0}, hang = {0}, closed = {0}, bad = {0};
    seize_chat_request q = {ok_url, body, "sk-test", 20};
    CHECK_EQ(seize_chat_async(l, &q, on_chat, &ok, NULL), 0);
    q.url = busy_url;
    CHECK_EQ(seize_chat_async(l, &q, on_chat, &busy, NULL), 0);
    q.url = closed_url;
    CHECK_EQ(seize_chat_async(l, &q, on_chat, &closed, NULL), 0);
    q.url = "ftp://127.0.0.1:1/x";
    CHECK_EQ(seize_chat_async(l, &q, on_chat, &bad, NULL), 0);
    seize_chat_call *h = NULL;
    q.url = hang_url;
    CHECK_EQ(seize_chat_async(l, &q, on_chat, &hang, &h), 0);
    CHECK(h != NULL);
    CHECK_EQ(seize_loop_pending(l), 5);
    while (seize_loop_pending(l) > 1)
        CHECK_EQ(seize_loop_run_once(l, 1.0), 0);
    seize_chat_cancel(h);
    CHECK_EQ(seize_loop_pending(l), 0);
    CHECK(ok.calls == 1 && ok.transport == SEIZE_CHAT_OK && ok.status == 200);
    CHECK_STREQ(ok.text, "a red car at night");
    CHECK(busy.calls == 1 && busy.transport == SEIZE_CHAT_OK && busy.status == 429);
    CHECK_NEAR(busy.retry_after, 7, 0);
    CHECK(closed.calls == 1 && closed.transport == SEIZE_CHAT_ECONNECT);
    CHECK(bad.calls == 1 && bad.transport == SEIZE_CHAT_EURL);
    CHECK_EQ(hang.calls, 0);
    // freeing a loop with a call in flight abandons it without a callback
    CHECK_EQ(seize_chat_async(l, &q, on_chat, &hang, NULL), 0);
    seize_loop_free(l);
    CHECK_EQ(hang.calls, 0);
    mini_stop(&sv);
}

// --- secrets and settings ------------------------------------------------------------------

static void check_redact(const char *in, const char *want)
{
    char *got = seize_redact(in);
    CHECK(got != NULL);
    if (got && strcmp(got, want))
        fprintf(stderr, "  redact(%s) = '%s', expected '%s'\n", in, got, want);
    CHECK(got && !strcmp(got, want));
    free(got);
}

static void test_redact(void)
{
    seize_secret_add("sk-unit-SECRET-1");
    seize_secret_add("ab"); // too short to register: ordinary text stays
    check_redact("key sk-unit-SECRET-1 in the middle, sk-unit-SECRET-1",
                 "key *** in the middle, ***");
    check_redact("a cab", "a cab");
    // Echoed Authorization headers, registered or not.
    check_redact("you sent Authorization: Bearer tok-xyz-987 here",
                 "you sent Authorization: Bearer *** here");
    check_redact("Basic Ym9iOnB3", "Basic ***");
    check_redact("a bearer of gifts", "a bearer of gifts");
    // URL credentials anywhere in a message.
    check_redact("cannot reach http://bob:pa55@host:8/v1: refused",
                 "cannot reach http://bob:***@host:8/v1: refused");
    check_redact("http://host/v1 and https://x.y/z", "http://host/v1 and https://x.y/z");
    // Registering a URL registers its password, user:password, its Basic form and secret query
    // values, which are then redacted wherever they appear.
    seize_secret_add_url("http://alice:pw%21-unit-7@h:9/v1?api-key=qk-unit-55&v=2");
    char *b64 = seize_base64_encode("alice:pw!-unit-7", 16);
    char text[256];
    snprintf(text, sizeof text, "[%s] [pw!-unit-7] [pw%%21-unit-7] [qk-unit-55] [v=2]", b64);
    char *got = seize_redact_secrets(text);
    CHECK(got && !strcmp(got, "[***] [***] [***] [***] [v=2]"));
    free(got);
    free(b64);
    got = seize_url_redact("http://alice:pw%21-unit-7@h:9/v1?api-key=qk-unit-55&v=2");
    CHECK(got && !strcmp(got, "http://alice:***@h:9/v1?api-key=***&v=2"));
    free(got);
    got = seize_url_redact("http://h:9/v1");
    CHECK(got && !strcmp(got, "http://h:9/v1"));
    free(got);
    got = seize_url_canonical("HTTP://Bob:pw-unit-x@LocalHost:8000/V1/?token=tk-unit-123");
    CHECK(got && !strcmp(got, "http://localhost:8000/V1?token=***"));
    free(got);
    got = seize_url_canonical("http://127.0.0.1:8000/v1//");
    CHECK(got && !strcmp(got, "http://127.0.0.1:8000/v1"));
    free(got);
}

static void test_settings(void)
{
    seize_llm_params p = seize_llm_default_params();
    p.endpoint = "http://127.0.0.1:8000/v1";
    p.model = "m";
    char h0[65], h[65];
    CHECK_EQ(seize_llm_settings(&p, NULL, NULL, h0), 0);
    CHECK_EQ(strlen(h0), 64);
    // Unchanged by what does not change an answer, and by how the endpoint is written.
    p.timeout = 5;
    p.concurrency = 3;
    p.max_attempts = 1;
    p.endpoint = "http://user:pw-unit-zz@127.0.0.1:8000/v1/";
    CHECK_EQ(seize_llm_settings(&p, NULL, NULL, h), 0);
    CHECK_STREQ(h, h0);
    // Changed by everything that does.
    const char *changes[] = {"model", "endpoint", "temperature", "top_p", "max_tokens", "seed"};
    for (int k = 0; k < 6; k++) {
        seize_llm_params q = p;
        switch (k) {
        case 0:
            q.model = "m2";
            break;
        case 1:
            q.endpoint = "http://127.0.0.1:8001/v1";
            break;
        case 2:
            q.temperature = 0.7;
            break;
        case 3:
            q.top_p = 0.9;
            break;
        case 4:
            q.max_tokens = 10;
            break;
        default:
            q.seed = 0;
            break;
        }
        CHECK_EQ(seize_llm_settings(&q, NULL, NULL, h), 0);
        if (!strcmp(h, h0)) fprintf(stderr, "  %s does not change the settings hash\n", changes[k]);
        CHECK(strcmp(h, h0) != 0);
    }
    json_t *extra = json_pack("{s:i}", "n", 15), *o = NULL;
    CHECK_EQ(seize_llm_settings(&p, extra, &o, h), 0);
    CHECK(strcmp(h, h0) != 0);
    CHECK(json_integer_value(json_object_get(o, "n")) == 15);
    CHECK(json_is_null(json_object_get(o, "temperature")));
    CHECK_STREQ(json_string_value(json_object_get(o, "endpoint")), "http://127.0.0.1:8000/v1");
    json_decref(o);
    json_decref(extra);
    CHECK(seize_llm_err_retryable(SEIZE_LLM_ERR_5XX) &&
          seize_llm_err_retryable(SEIZE_LLM_ERR_CONNECT));
    CHECK(!seize_llm_err_retryable(SEIZE_LLM_ERR_4XX) &&
          !seize_llm_err_retryable(SEIZE_LLM_ERR_INPUT));
    CHECK_STREQ(seize_llm_err_name(SEIZE_LLM_ERR_INPUT), "input");
}

// --- hub: layout names -----------------------------------------------------------------------

// The known names' layouts are "transformers" or "open_clip"; --layout takes either, and "hf"
// as the older name of the transformers layout; any other is refused before any network use.
static void test_hub_layouts(void)
{
    const char *repo, *layout;
    CHECK(seize_hub_lookup("ViT-B-32", &repo, &layout) == 0);
    CHECK_STREQ(repo, "openai/clip-vit-base-patch32");
    CHECK_STREQ(layout, "transformers");
    CHECK(seize_hub_lookup("ViT-bigG-14", &repo, &layout) == 0);
    CHECK_STREQ(layout, "open_clip");
    CHECK(seize_hub_lookup("ViT-X", &repo, &layout) == SEIZE_ENOTFOUND);
    seize_hub_opts o = seize_hub_default_opts();
    o.layout = "bogus";
    o.cache_dir = tmp_path("hub-cache");
    char *dir = (char *)"unchanged";
    CHECK(seize_hub_fetch("ViT-B-32", &o, &dir) == SEIZE_EINVAL);
    CHECK(dir == NULL);
    CHECK(strstr(seize_errmsg(), "transformers or open_clip") != NULL);
}

int main(void)
{
    if (check_tmp_init("net") < 0) return 1;
    RUN(test_prompt_builtin);
    RUN(test_prompt_placeholders);
    RUN(test_reason_clean);
    RUN(test_parse_reply);
    RUN(test_parse_reply_bad);
    RUN(test_error_message);
    RUN(test_request_body);
    RUN(test_params);
    RUN(test_retry_policy);
    RUN(test_base64_fnv);
    RUN(test_journal_replay);
    RUN(test_journal_committer);
    RUN(test_batch_resume_from_journal);
    RUN(test_batch_bad_endpoint);
    RUN(test_batch_cancel);
    RUN(test_loop_timers_and_wake);
    RUN(test_chat_async);
    RUN(test_redact);
    RUN(test_settings);
    RUN(test_hub_layouts);
    check_tmp_cleanup();
    return check_summary("net");
}
