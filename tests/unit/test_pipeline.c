// Unit tests of the pipeline module (seize/pipeline.h) and the data-layout rule it uses
// (seize/data.h, "data layout").
#include "check.h"

#include "seize/core.h"
#include "seize/data.h"
#include "seize/index.h"
#include "seize/net.h"
#include "seize/pipeline.h"

// the library's private pieces (unit tests see src/)
#include "pipeline/report.h"
#include "pipeline/run_int.h"
#include "pipeline/stages.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/file.h>
#include <fcntl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

// --- data layout ---------------------------------------------------------------------------------

static void test_layout_paths(void)
{
    seize_layout l;
    CHECK_EQ(seize_layout_benchmark(SEIZE_DS_CIRCO, "/d", "val", NULL, &l), 0);
    CHECK_STREQ(l.annotations, "/d/annotations/val.json");
    CHECK_STREQ(l.gallery_list, "/d/COCO2017_unlabeled/annotations/image_info_unlabeled2017.json");
    CHECK_STREQ(l.image_root, "/d/COCO2017_unlabeled");
    char *p = seize_layout_image_path(&l, "unlabeled2017/000000000001.jpg");
    CHECK_STREQ(p, "/d/COCO2017_unlabeled/unlabeled2017/000000000001.jpg");
    free(p);
    seize_layout_free(&l);
    CHECK_EQ(seize_layout_benchmark(SEIZE_DS_CIRR, "/d", "test1", NULL, &l), 0);
    CHECK_STREQ(l.annotations, "/d/captions/cap.rc2.test1.json");
    CHECK_STREQ(l.gallery_list, "/d/image_splits/split.rc2.test1.json");
    p = seize_layout_image_path(&l, "./test1/x.png"); // the split file's "./" is dropped
    CHECK_STREQ(p, "/d/test1/x.png");
    free(p);
    seize_layout_free(&l);
    CHECK_EQ(seize_layout_benchmark(SEIZE_DS_FASHIONIQ, "/d", "val", "dress", &l), 0);
    CHECK_STREQ(l.annotations, "/d/captions/cap.dress.val.json");
    CHECK_STREQ(l.gallery_list, "/d/image_splits/split.dress.val.json");
    CHECK_STREQ(l.image_root, "/d/images");
    seize_layout_free(&l);
    CHECK_EQ(seize_layout_benchmark(SEIZE_DS_FASHIONIQ, "/d", "val", NULL, &l), SEIZE_EINVAL);
    seize_layout_free(&l);
    CHECK_EQ(seize_layout_folder("/photos", &l), 0);
    CHECK(l.is_folder && !l.annotations && !l.gallery_list);
    p = seize_layout_image_path(&l, "sub/a.jpg");
    CHECK_STREQ(p, "/photos/sub/a.jpg");
    free(p);
    seize_layout_free(&l);
    seize_layout_free(&l); // twice: a zeroed layout
}

// FashionIQ: the .jpg where the .png is absent, the .png when both or neither exist.
static void test_layout_fashioniq_jpg(void)
{
    char root[300];
    snprintf(root, sizeof root, "%s", check_tmp("fiq"));
    char images[400];
    snprintf(images, sizeof images, "%s/images", root);
    CHECK_EQ(seize_mkdirs(images), 0);
    char a_jpg[500], b_png[500], b_jpg[500];
    snprintf(a_jpg, sizeof a_jpg, "%s/a.jpg", images);
    snprintf(b_png, sizeof b_png, "%s/b.png", images);
    snprintf(b_jpg, sizeof b_jpg, "%s/b.jpg", images);
    touch(a_jpg);
    touch(b_png);
    touch(b_jpg);
    seize_layout l;
    CHECK_EQ(seize_layout_benchmark(SEIZE_DS_FASHIONIQ, root, "val", "shirt", &l), 0);
    char *p = seize_layout_image_path(&l, "a.png");
    CHECK_STREQ(p, a_jpg);
    free(p);
    p = seize_layout_image_path(&l, "b.png");
    CHECK_STREQ(p, b_png);
    free(p);
    p = seize_layout_image_path(&l, "c.png");
    CHECK(p && strstr(p, "/images/c.png"));
    free(p);
    seize_layout_free(&l);
}

// The check names the first missing file or folder, in the order annotations, gallery, images.
static void test_layout_check(void)
{
    char root[300];
    snprintf(root, sizeof root, "%s", check_tmp("circo"));
    seize_layout l;
    CHECK_EQ(seize_layout_benchmark(SEIZE_DS_CIRCO, root, "val", NULL, &l), 0);
    const char *missing = NULL;
    CHECK_EQ(seize_layout_check(&l, &missing), SEIZE_ENOTFOUND);
    CHECK(missing == l.annotations);
    CHECK(strstr(seize_errmsg(), "missing file '") &&
          strstr(seize_errmsg(), "annotations/val.json"));
    char d[500];
    snprintf(d, sizeof d, "%s/annotations", root);
    CHECK_EQ(seize_mkdirs(d), 0);
    touch(l.annotations);
    CHECK_EQ(seize_layout_check(&l, &missing), SEIZE_ENOTFOUND);
    CHECK(missing == l.gallery_list);
    snprintf(d, sizeof d, "%s/COCO2017_unlabeled/annotations", root);
    CHECK_EQ(seize_mkdirs(d), 0);
    touch(l.gallery_list);
    CHECK_EQ(seize_layout_check(&l, &missing), 0);
    CHECK(missing == NULL);
    // a missing image: the first missing part of its path
    char *img = seize_layout_image_path(&l, "unlabeled2017/1.jpg");
    char *m = seize_layout_first_missing(img);
    snprintf(d, sizeof d, "%s/COCO2017_unlabeled/unlabeled2017", root);
    CHECK_STREQ(m, d);
    free(m);
    CHECK_EQ(seize_mkdirs(d), 0);
    m = seize_layout_first_missing(img); // only the file itself
    CHECK_STREQ(m, img);
    free(m);
    touch(img);
    CHECK(seize_layout_first_missing(img) == NULL);
    free(img);
    seize_layout_free(&l);
    CHECK_EQ(seize_layout_folder(check_tmp("nosuch"), &l), 0);
    CHECK_EQ(seize_layout_check(&l, &missing), SEIZE_ENOTFOUND);
    CHECK(strstr(seize_errmsg(), "missing folder"));
    seize_layout_free(&l);
}

// --- stage cache keys
// ------------------------------------------------------------------------------

static char *key_of(const char *a, const char *b)
{
    seize_sha256 h;
    seize_sha256_init(&h);
    pl_key_str(&h, a);
    pl_key_str(&h, b);
    return pl_key_final(&h);
}

static void test_cache_keys(void)
{
    char *k1 = key_of("ab", "c"), *k2 = key_of("a", "bc"), *k3 = key_of("ab", "c"),
         *k4 = key_of("ab", NULL), *k5 = key_of("ab", "");
    CHECK_EQ(strlen(k1), (size_t)64);
    CHECK_STREQ(k1, k3);        // deterministic
    CHECK(strcmp(k1, k2) != 0); // length-prefixed: no ambiguity at the joints
    CHECK(strcmp(k4, k5) != 0); // NULL (an unset option) is not ""
    free(k1), free(k2), free(k3), free(k4), free(k5);
    // numbers by their shortest exact text; files by content or identity
    seize_sha256 a, b;
    seize_sha256_init(&a);
    seize_sha256_init(&b);
    pl_key_num(&a, 0.13);
    pl_key_str(&b, "0.13"); // %.17g: 17 significant digits, trailing zeros dropped
    char *ka = pl_key_final(&a), *kb = pl_key_final(&b);
    CHECK_STREQ(ka, kb);
    free(ka), free(kb);
    const char *f = check_tmp("keyfile.txt");
    FILE *fp = fopen(f, "w");
    fputs("hello", fp);
    fclose(fp);
    seize_sha256_init(&a);
    CHECK_EQ(pl_key_file(&a, f, 1), 0);
    char *c1 = pl_key_final(&a);
    fp = fopen(f, "w");
    fputs("hellO", fp);
    fclose(fp);
    seize_sha256_init(&a);
    CHECK_EQ(pl_key_file(&a, f, 1), 0);
    char *c2 = pl_key_final(&a);
    CHECK(strcmp(c1, c2) != 0); // content keys see a changed byte
    seize_sha256_init(&a);
    CHECK_EQ(pl_key_file(&a, check_tmp("absent"), 1), 0); // a missing file is a value, not an error
    char *c3 = pl_key_final(&a);
    CHECK(strcmp(c3, c2) != 0);
    free(c1), free(c2), free(c3);
}

static void test_redact_url(void)
{
    char *s = pl_redact_url("http://user:secret@host:8080/v1?x=1");
    CHECK_STREQ(s, "http://***@host:8080/v1?x=1");
    free(s);
    s = pl_redact_url("http://host/v1/a@b"); // an '@' in the path is not a password
    CHECK_STREQ(s, "http://host/v1/a@b");
    free(s);
    s = pl_redact_url("--model");
    CHECK_STREQ(s, "--model");
    free(s);
    CHECK(pl_redact_url(NULL) == NULL);
    json_t *j = pl_json_url(NULL);
    CHECK(json_is_null(j));
    json_decref(j);
}

// A run folder's cache: pending until recorded, cached only with every output, fresh when the
// settings change or on --restart.
static void test_stage_cache(void)
{
    pl_run r;
    memset(&r, 0, sizeof r);
    const char *dir = check_tmp("run1");
    CHECK_EQ(seize_mkdirs(dir), 0);
    r.o.out_dir = dir;
    pl_load_cache(&r);
    CHECK(json_is_object(r.cache));
    char out[512];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    const char *outs[] = {out, NULL};
    int fresh = -1;
    CHECK_EQ(pl_begin_stage(&r, "x/search", "K1", NULL, &fresh), 0);
    CHECK_EQ(fresh, 0);
    CHECK(r.wrote);
    CHECK(!pl_cached(&r, "x/search", "K1", outs)); // pending
    CHECK_EQ(pl_record_key(&r, "x/search", "K1", json_pack("{s:s}", "source", "test")), 0);
    CHECK(!pl_cached(&r, "x/search", "K1", outs)); // no output yet
    FILE *fp = fopen(out, "w");
    fclose(fp);
    CHECK(pl_cached(&r, "x/search", "K1", outs));
    CHECK(!pl_cached(&r, "x/search", "K2", outs));
    json_decref(r.cache);
    r.cache = NULL;
    pl_load_cache(&r); // from the file
    CHECK(pl_cached(&r, "x/search", "K1", outs));
    CHECK_STREQ(
        json_string_value(json_object_get(
            json_object_get(json_object_get(r.cache, "produced_by"), "x/search"), "source")),
        "test");
    CHECK_EQ(pl_begin_stage(&r, "x/edits", "E1", "S1", &fresh), 0);
    CHECK_EQ(fresh, 0);
    CHECK_EQ(pl_begin_stage(&r, "x/edits", "E2", "S1", &fresh), 0); // same settings: resume
    CHECK_EQ(fresh, 0);
    CHECK_EQ(pl_begin_stage(&r, "x/edits", "E2", "S2", &fresh), 0); // other settings: start over
    CHECK_EQ(fresh, 1);
    r.o.restart = 1;
    CHECK_EQ(pl_begin_stage(&r, "x/edits", "E2", "S2", &fresh), 0);
    CHECK_EQ(fresh, 1);
    json_decref(r.cache);
}

// manifest.json: written by a run that wrote something (command redacted), left alone by one
// that wrote nothing.
static void test_manifest(void)
{
    pl_run r;
    memset(&r, 0, sizeof r);
    const char *dir = check_tmp("run2");
    CHECK_EQ(seize_mkdirs(dir), 0);
    seize_run_params p = seize_run_default_params();
    const char *cmd[] = {"run", "--llm-endpoint", "http://me:pw@h/v1"};
    p.command = cmd;
    p.n_command = 3;
    r.p = &p;
    r.o.out_dir = dir;
    r.o.method = "seize";
    r.o.seed = "7";
    r.cache = json_object();
    r.stages = json_array();
    r.failed = json_array();
    r.partial = 1;
    CHECK_EQ(pl_write_manifest(&r, 0, "", 1.5), 0); // none yet: written
    char path[512];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    json_t *m = NULL;
    CHECK_EQ(seize_json_load(path, &m), 0);
    CHECK_STREQ(json_string_value(json_object_get(m, "status")), "partial");
    CHECK_STREQ(json_string_value(json_array_get(json_object_get(m, "command"), 2)),
                "http://***@h/v1");
    CHECK_STREQ(json_string_value(json_object_get(json_object_get(m, "seeds"), "llm")), "7");
    CHECK(json_is_object(json_object_get(m, "produced_by")));
    // the CLIP precision is recorded (issue 13)
    CHECK_STREQ(json_string_value(json_object_get(json_object_get(m, "parameters"), "precision")),
                "fp32");
    json_decref(m);
    r.o.precision = SEIZE_PRECISION_INT8;
    r.wrote = 1;
    CHECK_EQ(pl_write_manifest(&r, 0, "", 1.5), 0);
    CHECK_EQ(seize_json_load(path, &m), 0);
    CHECK_STREQ(json_string_value(json_object_get(json_object_get(m, "parameters"), "precision")),
                "int8");
    json_decref(m);
    r.o.precision = SEIZE_PRECISION_FP32;
    r.wrote = 0;
    r.partial = 0;
    CHECK_EQ(pl_write_manifest(&r, SEIZE_EINVAL, "bad", 1.0), 0); // wrote nothing: kept
    CHECK_EQ(seize_json_load(path, &m), 0);
    CHECK_STREQ(json_string_value(json_object_get(m, "status")), "partial");
    json_decref(m);
    r.wrote = 1;
    CHECK_EQ(pl_write_manifest(&r, SEIZE_EINVAL, "bad", 1.0), 0);
    CHECK_EQ(seize_json_load(path, &m), 0);
    CHECK_STREQ(json_string_value(json_object_get(m, "status")), "failed");
    CHECK_STREQ(json_string_value(json_object_get(m, "error")), "bad");
    json_decref(m);
    json_decref(r.cache);
    json_decref(r.stages);
    json_decref(r.failed);
}

// The report escapes what it shows and names an image it cannot decode.
static void test_report_page(void)
{
    const char *caps[] = {"a <b> cat"}, *eds[] = {"a dog & co"};
    const char *names[] = {"g1"}, *paths[] = {"/nonexistent/g1.jpg"};
    float scores[] = {0.5f};
    report_query q = {.id = "q0",
                      .ref_name = "r",
                      .ref_path = "/nonexistent/r.jpg",
                      .relative_text = "x",
                      .captions = caps,
                      .edits = eds,
                      .n_captions = 1,
                      .top_names = names,
                      .top_paths = paths,
                      .top_scores = scores,
                      .k = 1};
    report_page pg = {.title = "circo val — <runs>", .summary = "s"};
    const char *out = check_tmp("report.html");
    CHECK_EQ(pl_report_write(out, &pg, &q, 1, 32), 0);
    char *html;
    size_t len;
    CHECK_EQ(seize_read_file(out, &html, &len), 0);
    CHECK(strstr(html, "circo val — &lt;runs&gt;"));
    CHECK(strstr(html, "a &lt;b&gt; cat"));
    CHECK(strstr(html, "a dog &amp; co"));
    CHECK(!strstr(html, "<b> cat"));
    free(html);
}

// --- seize_run
// -------------------------------------------------------------------------------------

static void test_run_params(void)
{
    seize_run_params p = seize_run_default_params();
    CHECK_STREQ(p.method, "seize");
    CHECK(isnan(p.pos) && isnan(p.neg));
    CHECK_EQ(p.num_captions, 15);
    CHECK_EQ(p.k, 50);
    CHECK_EQ(p.batch, 32);
    CHECK_EQ(p.report_queries, 10);
    CHECK_EQ(p.report_k, 10);
    CHECK(p.on_event == NULL && p.cancel == NULL);
    seize_run_result res;
    p.dataset = "nosuch";
    p.model_dir = "m";
    p.out_dir = check_tmp("run3");
    CHECK_EQ(seize_run(&p, &res), SEIZE_EINVAL);
    CHECK_EQ(res.status, SEIZE_RUN_FAILED);
    CHECK(strstr(res.error, "nosuch"));
    CHECK(!seize_path_exists(check_tmp("run3"))); // nothing made
    CHECK_EQ(p.precision, SEIZE_PRECISION_FP32);
    p.dataset = "folder";
    p.gallery_dir = "g";
    p.queries_file = "q.jsonl";
    p.precision = (seize_precision)7;
    CHECK_EQ(seize_run(&p, &res), SEIZE_EINVAL);
    CHECK(strstr(res.error, "unknown precision 7"));
    CHECK(!seize_path_exists(check_tmp("run3")));
}

// One run per folder: a held lock is SEIZE_EBUSY before anything is read or written.
static void test_run_lock(void)
{
    const char *dir = check_tmp("run4");
    CHECK_EQ(seize_mkdirs(dir), 0);
    int fd = -1;
    CHECK_EQ(pl_lock_run_dir(dir, &fd), 0);
    seize_run_params p = seize_run_default_params();
    p.dataset = "folder";
    p.gallery_dir = "g";
    p.queries_file = "q.jsonl";
    p.model_dir = "m";
    p.out_dir = dir;
    seize_run_result res;
    CHECK_EQ(seize_run(&p, &res), SEIZE_EBUSY);
    CHECK(strstr(res.error, "in use by another"));
    close(fd);
    char cache[512];
    snprintf(cache, sizeof cache, "%s/.seize-cache.json", dir);
    CHECK(!seize_path_exists(cache));
}

typedef struct events {
    int n, n_warn, n_progress, bad_progress;
    char last[512];
    char stage[64];                   // the stage of the last progress event
    size_t done, total;               // its counts
    size_t index_done, index_total;   // the index stage's last counts
    size_t feat_done, feat_total;     // the features stage's
    int index_events, feature_events; // progress events of each
} events;

// Progress: counts that never go back within a stage and never pass the total.
static void on_progress(events *e, const seize_run_event *ev)
{
    e->n_progress++;
    char stage[64];
    snprintf(stage, sizeof stage, "%s/%s", ev->job ? ev->job : "?", ev->stage ? ev->stage : "?");
    if (!ev->job || !ev->stage || ev->done > ev->total ||
        (!strcmp(stage, e->stage) && (ev->done < e->done || ev->total != e->total)))
        e->bad_progress++;
    snprintf(e->stage, sizeof e->stage, "%s", stage);
    e->done = ev->done;
    e->total = ev->total;
    if (ev->stage && !strcmp(ev->stage, "index"))
        e->index_done = ev->done, e->index_total = ev->total, e->index_events++;
    if (ev->stage && !strcmp(ev->stage, "features"))
        e->feat_done = ev->done, e->feat_total = ev->total, e->feature_events++;
}

static void on_event(void *user, const seize_run_event *ev)
{
    events *e = user;
    if (ev->level == SEIZE_RUN_PROGRESS) {
        on_progress(e, ev);
        return;
    }
    e->n++;
    e->n_warn += ev->level == SEIZE_RUN_WARNING;
    snprintf(e->last, sizeof e->last, "%s", ev->message);
}

// A folder run that fails validation: the error names the query, the manifest says so, and
// the library printed nothing (events only).
static void test_run_folder_validation(void)
{
    const char *g = check_tmp("gallery");
    CHECK_EQ(seize_mkdirs(g), 0);
    char img[512], q[512];
    snprintf(img, sizeof img, "%s/a.png", g);
    FILE *fp = fopen(img, "wb");
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, fp);
    fclose(fp);
    snprintf(q, sizeof q, "%s", check_tmp("q.jsonl"));
    fp = fopen(q, "w");
    fputs("{\"id\": \"q1\", \"reference\": \"a.png\", \"relative_text\": \"x\", \"target\": "
          "\"b.png\"}\n",
          fp);
    fclose(fp);
    seize_run_params p = seize_run_default_params();
    p.dataset = "folder";
    p.gallery_dir = g;
    p.queries_file = q;
    p.model_dir = check_tmp("nomodel");
    p.out_dir = check_tmp("run5");
    events e = {0};
    p.on_event = on_event;
    p.event_user = &e;
    seize_run_result res;
    CHECK_EQ(seize_run(&p, &res), SEIZE_EINVAL);
    CHECK(strstr(res.error, "target 'b.png' is not a gallery name"));
    CHECK(strstr(res.error, "query q1"));
    char man[512];
    snprintf(man, sizeof man, "%s/manifest.json", check_tmp("run5"));
    json_t *m = NULL;
    CHECK_EQ(seize_json_load(man, &m), 0);
    CHECK_STREQ(json_string_value(json_object_get(m, "status")), "failed");
    json_decref(m);
}

// Page faults of this process's reaped children: any process that seize_run started (a fork,
// an exec) and waited for adds hundreds, so an unchanged count means it started none.
static long child_faults(void)
{
    struct rusage u;
    getrusage(RUSAGE_CHILDREN, &u);
    return u.ru_minflt + u.ru_majflt;
}

// A folder run from a caption file (3 gallery images, one query with 2 captions and edits)
// into *p; its strings live in static buffers. 0, or -1 when the fixtures are absent.
static int folder_run_params(const char *tag, seize_run_params *p)
{
    const char *fix = getenv("SEIZE_FIXTURES") ? getenv("SEIZE_FIXTURES") : "../shared/fixtures";
    static char model[512], g[512], q[512], caps[512];
    char cmd[2048];
    snprintf(model, sizeof model, "%s/models/tiny-openai", fix);
    if (!seize_path_exists(model)) return -1;
    snprintf(g, sizeof g, "%s", check_tmp("photos"));
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && cp '%s/images/astronaut.png' '%s/images/camera.png' "
             "'%s/images/chelsea.png' '%s/'",
             g, fix, fix, fix, g);
    if (system(cmd) != 0) return -1;
    snprintf(q, sizeof q, "%s", check_tmp("queries6.jsonl"));
    snprintf(caps, sizeof caps, "%s", check_tmp("captions6.jsonl"));
    snprintf(cmd, sizeof cmd,
             "{\"id\": \"q1\", \"reference\": \"%s/astronaut.png\", \"relative_text\": \"x\", "
             "\"target\": \"camera.png\"}\n",
             g);
    put(q, cmd);
    put(caps, "{\"id\": \"q1\", \"captions\": [\"a person\", \"a suit\"], \"edited\": "
              "[\"a camera\", \"a man\"]}\n");
    *p = seize_run_default_params();
    p->dataset = "folder";
    p->gallery_dir = g;
    p->queries_file = q;
    p->captions_file = caps;
    p->model_dir = model;
    p->out_dir = check_tmp(tag);
    p->num_captions = 2;
    p->batch = 1;
    p->threads = 2;
    p->quiet = 1;
    return 0;
}

// A folder run from a caption file, end to end through the library: every stage runs in this
// process (no child process; the rankings carry the query ids); the events carry the stage
// lines (no progress: the run is quiet); a rerun is fully cached, runs nothing and writes
// nothing.
static void test_run_inprocess_features(void)
{
    seize_run_params p;
    if (folder_run_params("run6", &p) < 0) SKIP("fixtures not found");
    events e = {0};
    p.on_event = on_event;
    p.event_user = &e;
    seize_run_result res;
    long faults = child_faults();
    int rc = seize_run(&p, &res);
    CHECK_MSG(rc == 0, "seize_run: %d %s", rc, res.error);
    CHECK_EQ(res.status, SEIZE_RUN_OK);
    CHECK(res.wrote);
    // every stage in-process (the index build too): the stage program never ran
    CHECK_EQ(child_faults(), faults);
    char path[600];
    snprintf(path, sizeof path, "%s/query-after.npy", check_tmp("run6"));
    CHECK(seize_path_exists(path));
    snprintf(path, sizeof path, "%s/metrics.json", check_tmp("run6")); // the query has a target
    CHECK(seize_path_exists(path));
    snprintf(path, sizeof path, "%s/rankings.jsonl", check_tmp("run6"));
    json_t *rows = NULL;
    CHECK_EQ(seize_jsonl_load(path, &rows), 0);
    json_t *row = json_array_get(rows, 0);
    CHECK_STREQ(json_string_value(json_object_get(row, "id")), "q1");      // the folder query's id
    CHECK_EQ(json_array_size(json_object_get(row, "ranking")), (size_t)2); // the reference left out
    json_decref(rows);
    CHECK(e.n >= 7 && e.n_warn == 0);
    CHECK_EQ(e.n_progress, 0); // quiet
    CHECK(strstr(e.last, "folder: report ran"));
    // the precision in manifest.json, for the run and for what made the index and features
    json_t *man = NULL;
    snprintf(path, sizeof path, "%s/manifest.json", check_tmp("run6"));
    CHECK_EQ(seize_json_load(path, &man), 0);
    json_t *by = json_object_get(man, "produced_by");
    CHECK_STREQ(json_string_value(json_object_get(json_object_get(man, "parameters"), "precision")),
                "fp32");
    CHECK_STREQ(
        json_string_value(json_object_get(json_object_get(by, "folder/index"), "precision")),
        "fp32");
    CHECK_STREQ(
        json_string_value(json_object_get(json_object_get(by, "folder/features"), "precision")),
        "fp32");
    json_decref(man);
    // rerun: everything cached, no command, nothing written
    e = (events){0};
    CHECK_EQ(seize_run(&p, &res), 0);
    CHECK(!res.wrote);
    CHECK_EQ(child_faults(), faults);
    CHECK(strstr(e.last, "folder: report cached"));
    // a run asked to stop before its first stage: cancelled, nothing run, no manifest
    seize_run_cancel c = {0};
    seize_cancel_request(&c.token, SIGINT);
    p.cancel = &c;
    p.out_dir = check_tmp("run6b");
    CHECK_EQ(seize_run(&p, &res), SEIZE_ECANCEL);
    CHECK_EQ(res.status, SEIZE_RUN_CANCELLED);
    CHECK_EQ(res.signal, SIGINT);
    CHECK_EQ(child_faults(), faults);
    snprintf(path, sizeof path, "%s/manifest.json", check_tmp("run6b"));
    CHECK(!seize_path_exists(path));
}

// A run that is not quiet reports each stage's progress as events: the index stage counts the
// 3 gallery images (one batch each), the features stage the 4 texts (2 captions, 2 edits);
// counts never go back or pass the total, and the stage line comes after them.
static void test_run_progress_events(void)
{
    seize_run_params p;
    if (folder_run_params("run6p", &p) < 0) SKIP("fixtures not found");
    events e = {0};
    p.on_event = on_event;
    p.event_user = &e;
    p.quiet = 0;
    seize_run_result res;
    int rc = seize_run(&p, &res);
    CHECK_MSG(rc == 0, "seize_run: %d %s", rc, res.error);
    CHECK_EQ(e.bad_progress, 0);
    CHECK_EQ(e.index_total, 3);
    CHECK_EQ(e.index_done, 3);
    CHECK(e.index_events >= 3); // after each batch of one
    CHECK_EQ(e.feat_total, 4);
    CHECK_EQ(e.feat_done, 4);
    CHECK(e.feature_events >= 1);
    CHECK(strstr(e.last, "folder: report ran"));
    // a cached rerun runs no stage: no progress
    e = (events){0};
    CHECK_EQ(seize_run(&p, &res), 0);
    CHECK_EQ(e.n_progress, 0);
}

// The in-process submission stage writes CIRR's two files (no CLI test runs CIRR's test split).
static void test_submission_stage_cirr(void)
{
    char ann[512], rk[512], out[512], sub[512];
    snprintf(ann, sizeof ann, "%s", check_tmp("cap.rc2.test1.json"));
    snprintf(rk, sizeof rk, "%s", check_tmp("rankings7.jsonl"));
    snprintf(out, sizeof out, "%s", check_tmp("submission_recall.json"));
    snprintf(sub, sizeof sub, "%s", check_tmp("submission_recall_subset.json"));
    FILE *fp = fopen(ann, "w");
    fputs("[{\"pairid\": 7, \"reference\": \"r\", \"caption\": \"c\", \"img_set\": {\"members\": "
          "[\"r\", \"m1\", \"m2\", \"m3\", \"m4\", \"m5\"]}}]",
          fp);
    fclose(fp);
    fp = fopen(rk, "w");
    fputs("{\"query\": 0, \"ranking\": [", fp);
    for (int i = 0; i < 50; i++)
        fprintf(fp, "%s\"g%d\"", i ? ", " : "", i);
    fputs("], \"subset\": [\"m3\", \"m1\", \"m2\", \"m5\", \"m4\"]}\n", fp);
    fclose(fp);
    pl_run r;
    memset(&r, 0, sizeof r);
    pl_stage_ops ops = pl_stage_table();
    CHECK(ops.submission == pl_inproc_stages.submission && ops.submission); // in-process
    pl_submission_io io = {"cirr", rk, ann, out, sub};
    CHECK_EQ(ops.submission(&r, &io), 0);
    json_t *a = NULL, *b = NULL;
    CHECK_EQ(seize_json_load(out, &a), 0);
    CHECK_EQ(seize_json_load(sub, &b), 0);
    CHECK_STREQ(json_string_value(json_object_get(a, "metric")), "recall");
    CHECK_STREQ(json_string_value(json_object_get(b, "metric")), "recall_subset");
    CHECK_EQ(json_array_size(json_object_get(a, "7")), (size_t)50);
    CHECK_EQ(json_array_size(json_object_get(b, "7")), (size_t)3);
    CHECK_STREQ(json_string_value(json_array_get(json_object_get(b, "7"), 0)), "m3");
    json_decref(a);
    json_decref(b);
    io.rankings = check_tmp("absent.jsonl"); // the library's own message, not an exit status
    CHECK(ops.submission(&r, &io) < 0);
    CHECK(strstr(seize_errmsg(), "absent.jsonl"));
}

// The caption stage runs in this process through the OpenAI captioner: with the server down
// the run fails with the stage's own error (named "caption stage") and the stage program never
// runs.
static void test_run_inprocess_caption(void)
{
    const char *fix = getenv("SEIZE_FIXTURES") ? getenv("SEIZE_FIXTURES") : "../shared/fixtures";
    char model[512], g[512], q[512], cmd[2048];
    snprintf(model, sizeof model, "%s/models/tiny-openai", fix);
    if (!seize_path_exists(model)) SKIP("fixtures not found at %s", fix);
    snprintf(g, sizeof g, "%s", check_tmp("photos7"));
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && cp '%s/images/astronaut.png' '%s/images/camera.png' '%s/'", g, fix,
             fix, g);
    CHECK_EQ(system(cmd), 0);
    snprintf(q, sizeof q, "%s", check_tmp("queries7.jsonl"));
    snprintf(cmd, sizeof cmd,
             "{\"id\": \"q1\", \"reference\": \"%s/astronaut.png\", \"relative_text\": \"x\"}\n",
             g);
    put(q, cmd);
    seize_run_params p = seize_run_default_params();
    p.dataset = "folder";
    p.gallery_dir = g;
    p.queries_file = q;
    p.model_dir = model;
    p.out_dir = check_tmp("run7");
    p.captioner_endpoint = "http://127.0.0.1:1/v1";
    p.captioner_model = "m";
    p.llm_endpoint = "http://127.0.0.1:1/v1";
    p.llm_model = "m";
    p.max_attempts = "1";
    p.num_captions = 2;
    p.quiet = 1;
    seize_run_result res;
    long faults = child_faults();
    CHECK(seize_run(&p, &res) < 0);
    CHECK_EQ(res.status, SEIZE_RUN_FAILED);
    CHECK_MSG(strstr(res.error, "caption stage") != NULL, "%s", res.error);
    CHECK_EQ(child_faults(), faults); // the caption stage ran here, not as a command
}

// --- stage interfaces ----------------------------------------------------------------------------

// A fake captioner: "cap k of NAME" per image; an image named "bad" fails for good.
typedef struct fake_cap {
    int calls, destroyed;
} fake_cap;

static int fake_caption(void *self, const seize_caption_job *job, seize_stage_item *items)
{
    fake_cap *f = self;
    f->calls++;
    int failed = 0;
    for (size_t i = 0; i < job->n; i++) {
        if (!strcmp(job->images[i], "bad")) {
            items[i].error = strdup("not an image");
            failed = 1;
            continue;
        }
        items[i].texts = calloc(job->n_captions, sizeof *items[i].texts);
        for (size_t k = 0; k < job->n_captions; k++) {
            char t[64];
            snprintf(t, sizeof t, "cap %zu of %s", k, job->images[i]);
            items[i].texts[k] = strdup(t);
        }
        items[i].n_texts = job->n_captions;
        seize_stage_progress p = {job->n, i + 1, 0, 0, 0};
        if (job->on_progress) job->on_progress(job->progress_user, &p);
    }
    return failed ? SEIZE_ENET : 0;
}

static int fake_settings(void *self, json_t **out, char hash[65])
{
    (void)self;
    if (out) *out = json_pack("{s:s}", "model", "fake");
    if (hash) memset(hash, 'a', 64), hash[64] = 0;
    return 0;
}

static void fake_destroy(void *self)
{
    ((fake_cap *)self)->destroyed = 1;
}

static void count_progress(void *user, const seize_stage_progress *p)
{
    *(size_t *)user = p->done;
}

static void test_captioner_table(void)
{
    static const seize_captioner_methods m = {"fake", fake_caption, fake_settings, fake_destroy};
    fake_cap f = {0};
    seize_captioner *c = calloc(1, sizeof *c);
    c->methods = &m;
    c->self = &f;
    const char *imgs[] = {"a.jpg", "bad", "b.jpg"};
    seize_stage_item res[3] = {{0}};
    size_t done = 0;
    seize_caption_job job = {imgs, 3, 2, count_progress, &done, NULL, NULL};
    CHECK_EQ(seize_captioner_caption(c, &job, res), SEIZE_ENET);
    CHECK_EQ(f.calls, 1);
    CHECK_EQ(done, 3);
    CHECK_EQ(res[0].n_texts, 2);
    CHECK_STREQ(res[2].texts[1], "cap 1 of b.jpg");
    CHECK(res[1].texts == NULL && !strcmp(res[1].error, "not an image"));
    char hash[65];
    CHECK_EQ(seize_captioner_settings(c, NULL, hash), 0);
    CHECK_EQ(hash[0], 'a');
    seize_stage_items_release(res, 3);
    CHECK(res[0].texts == NULL && res[1].error == NULL && res[0].n_texts == 0);
    seize_captioner_free(c);
    CHECK_EQ(f.destroyed, 1);
    seize_captioner_free(NULL);
    seize_reasoner_free(NULL);
}

static seize_llm_params local_params(void)
{
    seize_llm_params p = seize_llm_default_params();
    p.endpoint = "http://127.0.0.1:1/v1"; // never reached in these tests
    p.model = "m";
    p.max_attempts = 1;
    return p;
}

// Inputs are checked before any request: a missing file stops the call and is named; a file
// that is not an image fails alone, for good, without a request.
static void test_captioner_openai_inputs(void)
{
    seize_llm_params p = local_params();
    seize_captioner_openai_opts o = {NULL, NULL, 3, "caption"};
    seize_captioner *c = NULL;
    CHECK_EQ(seize_captioner_openai_new(&p, &o, &c), 0);
    char text[256];
    snprintf(text, sizeof text, "%s", check_tmp("notimage.jpg"));
    put(text, "hello, not a picture");
    const char *missing[] = {text, check_tmp("nosuch.jpg")};
    seize_stage_item res[2] = {{0}};
    seize_caption_job job = {missing, 2, 3, NULL, NULL, NULL, check_tmp("")};
    CHECK_EQ(seize_captioner_caption(c, &job, res), SEIZE_ENOTFOUND);
    CHECK(strstr(seize_errmsg(), "1 of 2 reference images are missing") != NULL);
    CHECK(strstr(seize_errmsg(), "nosuch.jpg") != NULL);
    const char *bad[] = {text};
    seize_caption_job job2 = {bad, 1, 3, NULL, NULL, NULL, NULL};
    CHECK_EQ(seize_captioner_caption(c, &job2, res), SEIZE_ENET);
    CHECK(res[0].texts == NULL && res[0].error != NULL && res[0].retryable == 0);
    CHECK(strstr(res[0].error, "not a JPEG, PNG, GIF or WebP file") != NULL);
    seize_llm_stats st;
    seize_captioner_openai_stats(c, &st);
    CHECK_EQ(st.requests, 0);
    CHECK_EQ(st.items_failed, 1);
    seize_stage_items_release(res, 2);
    seize_captioner_free(c);
}

// The settings hash names the prompt and the number of captions; a cancelled call sends
// nothing.
static void test_stage_openai_settings_cancel(void)
{
    seize_llm_params p = local_params();
    char h1[65], h2[65], h3[65];
    seize_captioner *c = NULL;
    seize_captioner_openai_opts o = {NULL, NULL, 15, "caption"};
    CHECK_EQ(seize_captioner_openai_new(&p, &o, &c), 0);
    json_t *s = NULL;
    CHECK_EQ(seize_captioner_settings(c, &s, h1), 0);
    CHECK_EQ(json_integer_value(json_object_get(s, "n")), 15);
    CHECK_STREQ(json_string_value(json_object_get(s, "command")), "caption");
    json_decref(s);
    seize_captioner_free(c);
    o.prompt = "Describe it.";
    CHECK_EQ(seize_captioner_openai_new(&p, &o, &c), 0);
    CHECK_EQ(seize_captioner_settings(c, NULL, h2), 0);
    seize_captioner_free(c);
    CHECK(strcmp(h1, h2) != 0);

    seize_reasoner *r = NULL;
    seize_reasoner_openai_opts ro = {NULL, NULL, NULL, "reason"};
    CHECK_EQ(seize_reasoner_openai_new(&p, &ro, &r), 0);
    CHECK_EQ(seize_reasoner_settings(r, NULL, h3), 0);
    CHECK(strcmp(h3, h1) != 0);
    seize_cancel cancel = {0};
    seize_cancel_request(&cancel, SIGINT);
    const char *caps[] = {"a dog"}, *texts[] = {"make it a cat"};
    seize_stage_item res[1] = {{0}};
    seize_reason_job job = {caps, texts, NULL, 1, NULL, NULL, &cancel};
    CHECK_EQ(seize_reasoner_reason(r, &job, res), SEIZE_ECANCEL);
    CHECK(res[0].texts == NULL && res[0].error == NULL);
    seize_llm_stats st;
    seize_reasoner_openai_stats(r, &st);
    CHECK_EQ(st.requests, 0);
    seize_reasoner_free(r);
}

static void test_prompt_file_load(void)
{
    const char *path = check_tmp("prompt.txt");
    char *sys = NULL, *user = NULL;
    put(path, "You edit.\n\n---\nEdit {caption} by {instruction}\n\n");
    CHECK_EQ(seize_prompt_file_load(path, &sys, &user), 0);
    CHECK_STREQ(sys, "You edit.");
    CHECK_STREQ(user, "Edit {caption} by {instruction}");
    free(sys);
    free(user);
    put(path, "Only {caption} and {instruction}\r\n");
    CHECK_EQ(seize_prompt_file_load(path, &sys, &user), 0);
    CHECK(sys == NULL);
    CHECK_STREQ(user, "Only {caption} and {instruction}");
    free(user);
    put(path, "sys\n---\nno placeholders\n");
    CHECK_EQ(seize_prompt_file_load(path, &sys, &user), SEIZE_EINVAL);
    CHECK(sys == NULL && user == NULL);
    CHECK(strstr(seize_errmsg(), "{caption} and {instruction}") != NULL);
}

// The index stage is a library call: the run's cancel token stops it, the same call resumes.
static void test_index_stage_inprocess(void)
{
    NEED_FIXTURES();
    char a[600], b[600], c[600];
    snprintf(a, sizeof a, "%s", check_fixture_path("images/astronaut.png"));
    snprintf(b, sizeof b, "%s", check_fixture_path("images/camera.png"));
    snprintf(c, sizeof c, "%s", check_fixture_path("images/chelsea.png"));
    seize_build_item items[3] = {{"a", a, 0}, {"b", b, 0}, {"c", c, 0}};
    pl_run r;
    memset(&r, 0, sizeof r);
    r.o.model_dir = check_fixture_path("models/tiny-openai");
    r.o.batch = 1;
    r.o.threads = 1;
    seize_run_cancel cancel = {0};
    seize_run_params rp = seize_run_default_params();
    rp.cancel = &cancel;
    r.p = &rp;
    pl_stage_ops ops = pl_stage_table();
    CHECK(ops.index_build == pl_inproc_stages.index_build && ops.index_build); // in-process
    pl_index_io io = {check_tmp("gallery-images.txt"), check_tmp("ix8"), 0, items, 3};
    seize_cancel_request(&cancel.token, SIGINT); // stopped: nothing encoded, state kept
    CHECK_EQ(ops.index_build(&r, &io), SEIZE_ECANCEL);
    CHECK(seize_path_exists(check_tmp("ix8/build.progress.json")));
    seize_cancel_reset(&cancel.token);
    CHECK_EQ(ops.index_build(&r, &io), 0);
    seize_index *idx = NULL;
    CHECK_EQ(seize_index_open(check_tmp("ix8"), &idx), 0);
    CHECK_EQ(seize_index_count(idx), (size_t)3);
    const char *src = json_string_value(json_object_get(seize_index_json(idx), "source"));
    CHECK(src && !strncmp(src, "list:", 5)); // as seize index build --list wrote it
    seize_index_free(idx);
}

int main(void)
{
    if (check_tmp_init("pipeline") < 0) return 1;
    RUN(test_layout_paths);
    RUN(test_layout_fashioniq_jpg);
    RUN(test_layout_check);
    RUN(test_cache_keys);
    RUN(test_redact_url);
    RUN(test_stage_cache);
    RUN(test_manifest);
    RUN(test_report_page);
    RUN(test_run_params);
    RUN(test_run_lock);
    RUN(test_run_folder_validation);
    RUN(test_run_inprocess_features);
    RUN(test_run_progress_events);
    RUN(test_submission_stage_cirr);
    RUN(test_index_stage_inprocess);
    RUN(test_run_inprocess_caption);
    RUN(test_captioner_table);
    RUN(test_captioner_openai_inputs);
    RUN(test_stage_openai_settings_cancel);
    RUN(test_prompt_file_load);
    check_tmp_cleanup();
    return check_summary("pipeline");
}
