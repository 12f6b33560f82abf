// Unit tests of the editing stage's input and output (pipeline.h): queries from JSON Lines and
// from the benchmarks' annotation files, their pairs and keys, the checks, the output records,
// and seize_reason_file against an endpoint that refuses connections.
#include "seize/net.h"
#include "seize/pipeline.h"

#include "check.h"

#include <jansson.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    static char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    return buf;
}

static void test_jsonl_pairs(void)
{
    check_write_text(check_tmp("q.jsonl"),
                     "{\"id\": 7, \"relative_text\": \"red\", \"captions\": [\"a\", \"b\", \"c\"], "
                     "\"x\": 1}\n\n{\"id\": \"s\", \"relative_text\": \"blue\", \"captions\": "
                     "[\"d\"]}\n");
    seize_reason_input in;
    seize_reason_input_opts o = {.n_captions = 2};
    CHECK_EQ(seize_reason_input_load(check_tmp("q.jsonl"), &o, &in), 0);
    CHECK_EQ(in.ids.n, 2);
    CHECK_STREQ(in.ids.v[0], "7");
    CHECK_STREQ(in.ids.v[1], "\"s\"");
    CHECK_EQ(in.n, 3); // two of query 7 (--n-captions 2), one of "s"
    CHECK_EQ(in.first[0], 0);
    CHECK_EQ(in.first[1], 2);
    CHECK_EQ(in.first[2], 3);
    CHECK_STREQ(in.keys.v[1], "7#1");
    CHECK_STREQ(in.keys.v[2], "\"s\"#0");
    CHECK_STREQ(in.captions[1], "b");
    CHECK_STREQ(in.texts[2], "blue");
    // the output: complete queries only, their records (other keys kept, captions cut to the
    // first N) with "edited" aligned with "captions"
    seize_stage_item items[3] = {0};
    char *t0[] = {"A"}, *t1[] = {"B"};
    items[0] = (seize_stage_item){t0, 1};
    items[1] = (seize_stage_item){t1, 1};
    size_t n_written = 9;
    CHECK_EQ(seize_reason_output_write(check_tmp("e.jsonl"), &in, items, &n_written), 0);
    CHECK_EQ(n_written, 1);
    CHECK_STREQ(slurp(check_tmp("e.jsonl")), "{\"id\":7,\"relative_text\":\"red\",\"captions\":"
                                             "[\"a\",\"b\"],\"x\":1,\"edited\":[\"A\",\"B\"]}\n");
    seize_reason_input_free(&in);
    seize_reason_input_free(&in); // a freed input is zeroed: freeing again does nothing
}

// An input that fails to load, with the error code and a part of the message.
static void expect_error(const char *text, const seize_reason_input_opts *o, int code,
                         const char *needle)
{
    check_write_text(check_tmp("bad.jsonl"), text);
    seize_reason_input in;
    CHECK_EQ(seize_reason_input_load(check_tmp("bad.jsonl"), o, &in), code);
    CHECK_MSG(strstr(seize_errmsg(), needle), "'%s' not in '%s'", needle, seize_errmsg());
    CHECK(in.records == NULL && in.n == 0);
}

static void test_jsonl_errors(void)
{
    char big[80000];
    memset(big, 'x', sizeof big);
    const char *head = "{\"id\": 3, \"relative_text\": \"t\", \"captions\": [\"ok\", \"";
    memcpy(big, head, strlen(head));
    strcpy(big + sizeof big - 5, "\"]}\n");
    expect_error("{\"id\": 1, \"relative_text\": \"x\", \"captions\": [\"a\"]}\n{\"id\": 2, "
                 "\"captions\": [\"b\"]}\n",
                 NULL, SEIZE_EFORMAT, "line 2: missing \"relative_text\"");
    expect_error("{\"id\": 1, \"relative_text\": \"x\", \"captions\": [\"a\"]}\n{\"id\": 1, "
                 "\"relative_text\": \"y\", \"captions\": [\"b\"]}\n",
                 NULL, SEIZE_EFORMAT, "record 2: duplicate id 1");
    expect_error("{\"id\": [1], \"relative_text\": \"x\", \"captions\": [\"a\"]}\n", NULL,
                 SEIZE_EFORMAT, "missing or bad \"id\"");
    expect_error("{\"id\": 1, \"relative_text\": \"x\", \"captions\": []}\n", NULL, SEIZE_EFORMAT,
                 "non-empty array");
    expect_error("{\"id\": 1, \"relative_text\": \"x\", \"captions\": [\"a\", 2]}\n", NULL,
                 SEIZE_EFORMAT, "caption 1 is not a string");
    expect_error("[1]\n", NULL, SEIZE_EFORMAT, "record 1 is not an object");
    expect_error(big, NULL, SEIZE_EFORMAT, "(query 3): caption 1 is");
    // beyond --n-captions a long caption is not sent, so not refused either
    seize_reason_input_opts one = {.n_captions = 1};
    seize_reason_input in;
    CHECK_EQ(seize_reason_input_load(check_tmp("bad.jsonl"), &one, &in), 0);
    CHECK_EQ(in.n, 1);
    seize_reason_input_free(&in);
}

static void test_circo(void)
{
    check_write_text(check_tmp("circo.json"),
                     "[{\"id\": 4, \"reference_img_id\": 12, \"relative_caption\": \"has a cat\", "
                     "\"shared_concept\": \"pet\", \"multi_caption_opt\": [\"a dog\", \"a bed\"]},"
                     " {\"id\": 5, \"reference_img_id\": 13, \"relative_caption\": \"is red\", "
                     "\"multi_caption_opt\": [\"a car\"]}]");
    seize_reason_input in;
    seize_reason_input_opts o = {.dataset = "circo"};
    CHECK_EQ(seize_reason_input_load(check_tmp("circo.json"), &o, &in), 0);
    CHECK_EQ(in.n, 3);
    CHECK_STREQ(in.keys.v[2], "5#0");
    CHECK_STREQ(in.texts[0], "has a cat");
    CHECK_STREQ(json_string_value(json_object_get(json_array_get(in.records, 0), "shared_concept")),
                "pet");
    seize_reason_input_free(&in);
    // captions from a caption file, by the reference image's name (leading zeros dropped)
    check_write_text(check_tmp("caps.jsonl"),
                     "{\"image\": \"imgs/000000000012.jpg\", \"captions\": [\"c1\", \"c2\"]}\n"
                     "{\"image\": \"13.jpg\", \"captions\": [\"c3\"]}\n");
    o.captions = check_tmp("caps.jsonl");
    CHECK_EQ(seize_reason_input_load(check_tmp("circo.json"), &o, &in), 0);
    CHECK_EQ(in.n, 3);
    CHECK_STREQ(in.captions[1], "c2");
    CHECK_STREQ(in.captions[2], "c3");
    seize_reason_input_free(&in);
    // a reference with no captions is named
    check_write_text(check_tmp("caps.jsonl"), "{\"image\": \"12.jpg\", \"captions\": [\"c\"]}\n");
    CHECK_EQ(seize_reason_input_load(check_tmp("circo.json"), &o, &in), SEIZE_ENOTFOUND);
    CHECK(strstr(seize_errmsg(), "the reference images of 1 of 2 queries (first: '13')"));
    o.captions = NULL, o.caption_key = "other";
    CHECK_EQ(seize_reason_input_load(check_tmp("circo.json"), &o, &in), SEIZE_ENOTFOUND);
    CHECK(strstr(seize_errmsg(), "record 1: no \"other\""));
}

static void test_cirr_fashioniq(void)
{
    check_write_text(check_tmp("cirr.json"),
                     "[{\"pairid\": 9, \"reference\": \"dev-1-a\", \"caption\": \"two dogs\", "
                     "\"img_set\": {\"members\": [\"dev-1-a\"]}}]");
    check_write_text(check_tmp("caps.jsonl"),
                     "{\"image\": \"x/dev-1-a.png\", \"captions\": [\"one dog\"]}\n");
    seize_reason_input in;
    seize_reason_input_opts o = {.dataset = "cirr", .captions = check_tmp("caps.jsonl")};
    CHECK_EQ(seize_reason_input_load(check_tmp("cirr.json"), &o, &in), 0);
    CHECK_STREQ(in.keys.v[0], "9#0"); // pairid copied to "id"
    CHECK_STREQ(in.captions[0], "one dog");
    seize_reason_input_free(&in);
    check_write_text(check_tmp("fiq.json"),
                     "[{\"candidate\": \"a\", \"target\": \"b\", \"captions\": [\"is red\", \"has "
                     "dots\"], \"multi_caption_opt\": [\"a dress\"]}]");
    seize_reason_input_opts f = {.dataset = "fashioniq", .fiq_join = " and "};
    CHECK_EQ(seize_reason_input_load(check_tmp("fiq.json"), &f, &in), 0);
    CHECK_STREQ(in.keys.v[0], "0#0"); // the position
    CHECK_STREQ(in.texts[0], "is red and has dots");
    json_t *rec = json_array_get(in.records, 0);
    CHECK_EQ(json_array_size(json_object_get(rec, "relative_captions")), 2);
    CHECK_STREQ(json_string_value(json_array_get(json_object_get(rec, "captions"), 0)), "a dress");
    seize_reason_input_free(&in);
}

// The whole call against a port nobody listens on: the client fails as a whole (SEIZE_ENET with
// no query failed), nothing is written; a bad prompt file stops it before anything is read.
static void test_reason_file_unreachable(void)
{
    check_write_text(check_tmp("q.jsonl"),
                     "{\"id\": 1, \"relative_text\": \"t\", \"captions\": [\"a\", \"b\"]}\n");
    seize_llm_params p = seize_llm_default_params();
    p.endpoint = "http://127.0.0.1:1/v1", p.model = "m", p.max_attempts = 1;
    p.backoff_base = 0, p.timeout = 5;
    seize_reason_file_job job = {.input = check_tmp("q.jsonl"), .out = check_tmp("out.jsonl")};
    seize_reason_file_result res;
    CHECK_EQ(seize_reason_file(&p, &job, &res), SEIZE_ENET);
    CHECK_MSG(strstr(seize_errmsg(), "cannot reach"), "%s", seize_errmsg());
    CHECK_EQ(res.n_failed, 0);
    CHECK_EQ(res.in.n, 2); // read before the call
    CHECK_STREQ(res.journal, check_tmp("out.jsonl.journal"));
    CHECK(access(check_tmp("out.jsonl"), F_OK) != 0);
    CHECK(access(check_tmp("out.jsonl.settings.json"), F_OK) != 0);
    seize_reason_file_result_release(&res);
    job.prompt_file = check_tmp("nothere.txt");
    CHECK(seize_reason_file(&p, &job, &res) < 0);
    CHECK(strstr(seize_errmsg(), "nothere.txt"));
    CHECK(res.journal == NULL && res.items == NULL);
    seize_reason_file_result_release(&res);
}

int main(void)
{
    if (check_tmp_init("reason") < 0) return 1;
    RUN(test_jsonl_pairs);
    RUN(test_jsonl_errors);
    RUN(test_circo);
    RUN(test_cirr_fashioniq);
    RUN(test_reason_file_unreachable);
    check_tmp_cleanup();
    return check_summary("reason_input");
}
