// Unit tests for src/index: index folders (the search over them: test_retrieval.c).
#include "check.h"

#include "seize/index.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_index_roundtrip(void)
{
    float feats[3 * 4] = {3, 0, 0, 4, 1, 1, 1, 1, 0, 0, 2, 0};
    const char *names[3] = {"img-a", "12345", "c.jpg"};
    seize_index_meta meta = {
        .model_path = "m.safetensors", .model_sha256 = "ab12", .preprocess = "targetpad-1.25"};
    const char *fn[1] = {"bad.jpg"}, *fr[1] = {"truncated JPEG data"};
    meta.failed_names = fn;
    meta.failed_reasons = fr;
    meta.n_failed = 1;
    CHECK_EQ(seize_index_write(check_tmp("ix"), feats, 3, 4, names, SEIZE_F32, &meta), 0);
    seize_index *idx = NULL;
    CHECK_EQ(seize_index_open(check_tmp("ix"), &idx), 0);
    CHECK_EQ(seize_index_count(idx), 3);
    CHECK_EQ(seize_index_dim(idx), 4);
    CHECK_STREQ(seize_index_name(idx, 2), "c.jpg");
    size_t row = 99;
    CHECK_EQ(seize_index_find(idx, "12345", &row), 0);
    CHECK_EQ(row, 1);
    CHECK_EQ(seize_index_find(idx, "nope", &row), SEIZE_ENOTFOUND);
    seize_embeddings g = seize_index_embeddings(idx);
    const float *x = g.data;
    CHECK_NEAR(x[0], 0.6, 1e-7);
    CHECK_NEAR(x[3], 0.8, 1e-7);
    CHECK_NEAR(x[4], 0.5, 1e-7);
    const json_t *j = seize_index_json(idx);
    CHECK_STREQ(json_string_value(json_object_get(json_object_get(j, "model"), "sha256")), "ab12");
    CHECK_STREQ(json_string_value(
                    json_object_get(json_array_get(json_object_get(j, "failed"), 0), "reason")),
                "truncated JPEG data");
    seize_index_free(idx);

    // import from .npy + names, stored as f16
    size_t shape[2] = {3, 4};
    CHECK_EQ(seize_npy_save(check_tmp("f.npy"), SEIZE_F32, 2, shape, feats), 0);
    FILE *fp = fopen(check_tmp("n.txt"), "w");
    fputs("x\ny\nz\n", fp);
    fclose(fp);
    CHECK_EQ(seize_index_import(check_tmp("f.npy"), check_tmp("n.txt"), check_tmp("ih"), SEIZE_F16),
             0);
    CHECK_EQ(seize_index_open(check_tmp("ih"), &idx), 0);
    CHECK_EQ(seize_index_dtype(idx), SEIZE_F16);
    g = seize_index_embeddings(idx);
    CHECK_NEAR(seize_f16_to_f32(((const uint16_t *)g.data)[3]), 0.8, 1e-3);
    seize_index_free(idx);

    // errors: name count, duplicates, NaN
    fp = fopen(check_tmp("n2.txt"), "w");
    fputs("x\ny\n", fp);
    fclose(fp);
    CHECK_EQ(
        seize_index_import(check_tmp("f.npy"), check_tmp("n2.txt"), check_tmp("bad"), SEIZE_F32),
        SEIZE_ESHAPE);
    const char *dup[3] = {"a", "b", "a"};
    CHECK_EQ(seize_index_write(check_tmp("bad"), feats, 3, 4, dup, SEIZE_F32, NULL), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "'a'") != NULL);
    feats[5] = NAN;
    CHECK_EQ(seize_index_write(check_tmp("bad"), feats, 3, 4, names, SEIZE_F32, NULL),
             SEIZE_EFORMAT);
    CHECK(!seize_path_exists(check_tmp("bad/features.npy")));
    CHECK_EQ(seize_index_open(check_tmp("missing"), &idx), SEIZE_EIO);
}

// Names that cannot round-trip (not UTF-8, control characters) never reach or leave an index:
// write refuses them by row, open and import by file:line, so names and rows stay aligned.
static void test_index_bad_names(void)
{
    float feats[3 * 2] = {1, 0, 0, 1, 1, 1};
    const char *ok[3] = {"a.jpg", "caf\xc3\xa9.jpg", "sub/b c.png"};
    CHECK_EQ(seize_index_write(check_tmp("bn"), feats, 3, 2, ok, SEIZE_F32, NULL), 0);
    seize_index *idx = NULL;
    CHECK_EQ(seize_index_open(check_tmp("bn"), &idx), 0);
    CHECK_STREQ(seize_index_name(idx, 1), "caf\xc3\xa9.jpg");
    seize_index_free(idx);
    const char *bad[][3] = {{"a", "r\xe9sum\xe9.jpg", "c"},
                            {"a", "b", "two\nlines"},
                            {"a", "t\tab", "c"},
                            {"a", "", "c"}};
    const char *needle[] = {"row 1: gallery name 'r\\xe9sum\\xe9.jpg' is not valid UTF-8", "row 2",
                            "row 1", "row 1"};
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(seize_index_write(check_tmp("bn2"), feats, 3, 2, bad[i], SEIZE_F32, NULL),
                 SEIZE_EFORMAT);
        CHECK_MSG(strstr(seize_errmsg(), needle[i]), "%d: %s", i, seize_errmsg());
    }
    // names.txt edited by hand: a Latin-1 line, a tab, a NUL byte, an empty line
    static const struct {
        const char *text;
        size_t len;
        const char *needle;
    } nt[] = {{"a.jpg\nr\xe9sum\xe9.jpg\nc\n", 19,
               "names.txt' line 2: gallery name 'r\\xe9sum\\xe9.jpg' is not valid UTF-8"},
              {"a\tx\nb\nc\n", 8, "line 1: gallery name 'a\\x09x' contains a control character"},
              {"a\nb\0z\nc\n", 8, "line 2: gallery name 'b\\x00z'"},
              {"a\n\nc\n", 5, "line 2: gallery name '' is empty"}};
    for (int i = 0; i < 4; i++) {
        FILE *fp = fopen(check_tmp("bn/names.txt"), "wb");
        CHECK(fp != NULL);
        fwrite(nt[i].text, 1, nt[i].len, fp);
        fclose(fp);
        idx = (void *)1;
        CHECK_EQ(seize_index_open(check_tmp("bn"), &idx), SEIZE_EFORMAT);
        CHECK(idx == NULL);
        CHECK_MSG(strstr(seize_errmsg(), nt[i].needle), "%d: %s", i, seize_errmsg());
        CHECK_EQ(seize_index_import(check_tmp("bn/features.npy"), check_tmp("bn/names.txt"),
                                    check_tmp("bn3"), SEIZE_F32),
                 SEIZE_EFORMAT);
        CHECK_MSG(strstr(seize_errmsg(), nt[i].needle), "import %d: %s", i, seize_errmsg());
    }
    // CRLF line ends are read as line ends
    check_write_text(check_tmp("bn/names.txt"), "a\r\nb\r\nc\r\n");
    CHECK_EQ(seize_index_open(check_tmp("bn"), &idx), 0);
    CHECK_STREQ(seize_index_name(idx, 2), "c");
    seize_index_free(idx);
}

// --- the resumable build ---------------------------------------------------------------------

typedef struct build_log {
    seize_cancel *stop; // requested after the first batch when set
    size_t resumed, n_bad, n_resume_calls, last_bad;
    const char *discarded;
} build_log;

static void log_resume(void *ud, size_t done, size_t n, const char *discarded)
{
    build_log *l = ud;
    (void)n;
    l->resumed = done;
    l->discarded = discarded;
    l->n_resume_calls++;
}

static void log_bad(void *ud, size_t i, const char *reason)
{
    build_log *l = ud;
    (void)reason;
    l->n_bad++;
    l->last_bad = i;
}

static int log_progress(void *ud, size_t done, size_t n, size_t n_failed)
{
    build_log *l = ud;
    (void)n;
    (void)n_failed;
    if (l->stop && done >= 1) seize_cancel_request(l->stop, 0);
    return 0;
}

static int same_file(const char *a, const char *b)
{
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    int same = seize_read_file(a, &x, &nx) == 0 && seize_read_file(b, &y, &ny) == 0 && nx == ny &&
               !memcmp(x, y, nx);
    free(x);
    free(y);
    return same;
}

// A build stopped through the cancel token after its first batch, then run again, resumes and
// gives the bytes of a clean build; an unreadable image and a missing one are left out.
static void test_index_build_resume(void)
{
    NEED_FIXTURES();
    static const char *files[] = {"astronaut.png", "camera.png", "truncated.jpg", "chelsea.png",
                                  "coffee.png",    "horse.png",  "gone.png"};
    enum { N = 7 };
    char paths[N][600];
    seize_build_item items[N];
    for (int i = 0; i < N; i++) {
        snprintf(paths[i], sizeof paths[i], "%s", check_fixture_path("images"));
        snprintf(paths[i] + strlen(paths[i]), sizeof paths[i] - strlen(paths[i]), "/%s", files[i]);
        items[i] = (seize_build_item){files[i], paths[i], i == N - 1};
    }
    seize_index_build_params p = seize_index_build_default_params();
    p.model_dir = check_fixture_path("models/tiny-openai");
    p.batch = 1;
    p.threads = 1;
    p.source = "test";
    p.on_resume = log_resume;
    p.on_bad = log_bad;
    p.on_progress = log_progress;
    build_log clean = {0}, cut = {0};
    seize_index_build_result res;
    p.out_dir = check_tmp("clean");
    p.ud = &clean;
    CHECK_EQ(seize_index_build(&p, items, N, &res), 0);
    CHECK_EQ(res.n_ok, (size_t)5);
    CHECK_EQ(res.n_failed, (size_t)2);
    CHECK_EQ(clean.n_bad, (size_t)1); // the missing one is the caller's to report
    CHECK_EQ(clean.n_resume_calls, (size_t)0);
    // stopped after the first batch: the rows done stay in the folder
    seize_cancel stop = {0};
    cut.stop = &stop;
    p.out_dir = check_tmp("cut");
    p.ud = &cut;
    p.cancel = &stop;
    CHECK_EQ(seize_index_build(&p, items, N, &res), SEIZE_ECANCEL);
    CHECK(strstr(seize_errmsg(), "run the same command again to resume"));
    CHECK(seize_path_exists(check_tmp("cut/build.progress.json")));
    CHECK(!seize_path_exists(check_tmp("cut/features.npy")));
    // the same call again resumes and gives the clean build's bytes
    seize_cancel_reset(&stop);
    cut.stop = NULL;
    CHECK_EQ(seize_index_build(&p, items, N, &res), 0);
    CHECK_EQ(cut.n_resume_calls, (size_t)1);
    CHECK(cut.discarded == NULL);
    CHECK(cut.resumed >= 1 && cut.resumed < N);
    CHECK_EQ(res.resumed, cut.resumed);
    CHECK_EQ(res.n_failed, (size_t)2);
    CHECK(same_file(check_tmp("clean/features.npy"), check_tmp("cut/features.npy")));
    CHECK(same_file(check_tmp("clean/names.txt"), check_tmp("cut/names.txt")));
    CHECK(same_file(check_tmp("clean/index.json"), check_tmp("cut/index.json")));
    CHECK(!seize_path_exists(check_tmp("cut/build.partial")));
    CHECK(!seize_path_exists(check_tmp("cut/build.progress.json")));
}

// An unfinished build for another list is discarded with the reason, never mixed in.
static void test_index_build_discard(void)
{
    NEED_FIXTURES();
    char a[600], b[600];
    snprintf(a, sizeof a, "%s", check_fixture_path("images/astronaut.png"));
    snprintf(b, sizeof b, "%s", check_fixture_path("images/camera.png"));
    seize_build_item items[2] = {{"a", a, 0}, {"b", b, 0}};
    seize_index_build_params p = seize_index_build_default_params();
    p.model_dir = check_fixture_path("models/tiny-openai");
    p.out_dir = check_tmp("disc");
    p.batch = 1;
    p.threads = 1;
    p.on_resume = log_resume;
    p.on_progress = log_progress;
    seize_cancel stop = {0};
    build_log l = {.stop = &stop};
    p.ud = &l;
    p.cancel = &stop;
    CHECK_EQ(seize_index_build(&p, items, 2, NULL), SEIZE_ECANCEL);
    seize_cancel_reset(&stop);
    l.stop = NULL;
    items[1].name = "b2"; // another list
    CHECK_EQ(seize_index_build(&p, items, 2, NULL), 0);
    CHECK_EQ(l.n_resume_calls, (size_t)1);
    CHECK(l.discarded && strstr(l.discarded, "another model, image list"));
    seize_index *idx = NULL;
    CHECK_EQ(seize_index_open(check_tmp("disc"), &idx), 0);
    CHECK_STREQ(seize_index_name(idx, 1), "b2");
    seize_index_free(idx);
    // no images, no model: refused before anything is created
    CHECK_EQ(seize_index_build(&p, items, 0, NULL), SEIZE_EINVAL);
    p.model_dir = NULL;
    CHECK_EQ(seize_index_build(&p, items, 2, NULL), SEIZE_EINVAL);
}

// Sets (or with NULL removes) "precision" in a build.progress.json.
static int set_progress_precision(const char *path, const char *precision)
{
    json_t *j = NULL;
    int rc = seize_json_load(path, &j);
    if (rc == 0 && precision) json_object_set_new(j, "precision", json_string(precision));
    if (rc == 0 && !precision) json_object_del(j, "precision");
    if (rc == 0) rc = seize_json_save(path, j, JSON_COMPACT);
    json_decref(j);
    return rc;
}

// The string "precision" of a folder's index.json, or "" when absent (copied into out).
static const char *index_precision(const char *dir, char *out, size_t cap)
{
    seize_index *idx = NULL;
    out[0] = 0;
    if (seize_index_open(dir, &idx) == 0) {
        const char *s = json_string_value(json_object_get(seize_index_json(idx), "precision"));
        snprintf(out, cap, "%s", s ? s : "");
    }
    seize_index_free(idx);
    return out;
}

// An unfinished build in another precision is refused (folder and both precisions named) and
// left as it was; a record without "precision" (an older seize) is fp32 and resumes; --restart
// discards it. index.json records the precision of a build.
static void test_index_build_precision(void)
{
    NEED_FIXTURES();
    char a[600], b[600], c[600], got[16];
    snprintf(a, sizeof a, "%s", check_fixture_path("images/astronaut.png"));
    snprintf(b, sizeof b, "%s", check_fixture_path("images/camera.png"));
    snprintf(c, sizeof c, "%s", check_fixture_path("images/coffee.png"));
    seize_build_item items[3] = {{"a", a, 0}, {"b", b, 0}, {"c", c, 0}};
    seize_index_build_params p = seize_index_build_default_params();
    CHECK_EQ(p.precision, SEIZE_PRECISION_FP32);
    p.model_dir = check_fixture_path("models/tiny-openai");
    p.out_dir = check_tmp("prec");
    p.batch = 1;
    p.threads = 1;
    p.on_resume = log_resume;
    p.on_progress = log_progress;
    seize_cancel stop = {0};
    build_log l = {.stop = &stop};
    p.ud = &l;
    p.cancel = &stop;
    CHECK_EQ(seize_index_build(&p, items, 3, NULL), SEIZE_ECANCEL);
    seize_cancel_reset(&stop);
    l.stop = NULL;
    const char *prog = check_tmp("prec/build.progress.json");
    char *before = NULL, *text = NULL;
    size_t n_before = 0, n_text = 0;
    CHECK_EQ(seize_read_file(prog, &text, &n_text), 0);
    CHECK(strstr(text, "\"precision\":\"fp32\""));
    free(text);
    // a bf16 partial (as a bf16 build leaves it) and an fp32 build: refused, nothing touched
    CHECK_EQ(set_progress_precision(prog, "bf16"), 0);
    CHECK_EQ(seize_read_file(check_tmp("prec/build.partial"), &before, &n_before), 0);
    CHECK_EQ(seize_index_build(&p, items, 3, NULL), SEIZE_EINVAL);
    const char *msg = seize_errmsg();
    CHECK(strstr(msg, check_tmp("prec")) && strstr(msg, "precision bf16"));
    CHECK(strstr(msg, "this build's precision is fp32") && strstr(msg, "--restart"));
    CHECK_EQ(l.n_resume_calls, (size_t)0);
    CHECK(seize_path_exists(prog));
    CHECK_EQ(seize_read_file(check_tmp("prec/build.partial"), &text, &n_text), 0);
    CHECK(n_text == n_before && n_text > 0 && !memcmp(text, before, n_text));
    free(text);
    free(before);
    // an older record (no "precision") is an fp32 one: resumed
    CHECK_EQ(set_progress_precision(prog, NULL), 0);
    CHECK_EQ(seize_index_build(&p, items, 3, NULL), 0);
    CHECK_EQ(l.n_resume_calls, (size_t)1);
    CHECK(l.discarded == NULL && l.resumed >= 1);
    CHECK_STREQ(index_precision(check_tmp("prec"), got, sizeof got), "fp32");
    // --restart discards a partial of another precision
    p.cancel = &stop;
    l.stop = &stop;
    CHECK_EQ(seize_index_build(&p, items, 3, NULL), SEIZE_ECANCEL);
    seize_cancel_reset(&stop);
    l.stop = NULL;
    CHECK_EQ(set_progress_precision(prog, "int8"), 0);
    p.restart = 1;
    CHECK_EQ(seize_index_build(&p, items, 3, NULL), 0);
    CHECK_STREQ(index_precision(check_tmp("prec"), got, sizeof got), "fp32");
    // with the engine (issue 13) a bf16 build records bf16; without it the state is refused
    p.precision = SEIZE_PRECISION_BF16;
    p.out_dir = check_tmp("prec16");
    int rc = seize_index_build(&p, items, 3, NULL);
    CHECK(rc == 0 || rc == SEIZE_EINVAL);
    if (rc == 0) CHECK_STREQ(index_precision(check_tmp("prec16"), got, sizeof got), "bf16");
}

// index.json has "precision" only when the metadata gives one (an import gives none).
static void test_index_meta_precision(void)
{
    float f[2] = {1, 0};
    const char *names[] = {"x"};
    char got[16];
    seize_index_meta meta = {.precision = "int8"};
    CHECK_EQ(seize_index_write(check_tmp("mp1"), f, 1, 2, names, SEIZE_F32, &meta), 0);
    CHECK_STREQ(index_precision(check_tmp("mp1"), got, sizeof got), "int8");
    meta.precision = NULL;
    CHECK_EQ(seize_index_write(check_tmp("mp2"), f, 1, 2, names, SEIZE_F32, &meta), 0);
    CHECK_STREQ(index_precision(check_tmp("mp2"), got, sizeof got), "");
    CHECK_EQ(seize_index_write(check_tmp("mp3"), f, 1, 2, names, SEIZE_F32, NULL), 0);
    CHECK_STREQ(index_precision(check_tmp("mp3"), got, sizeof got), "");
}

typedef struct issues {
    size_t n_dup_pairs, dup_total, n_not_file, n_no_folder;
    char what[64];
} issues;

static void count_issue(void *ud, const seize_build_issue *is)
{
    issues *c = ud;
    if (is->kind == SEIZE_BUILD_DUPLICATE && is->i != (size_t)-1) c->n_dup_pairs++;
    if (is->kind == SEIZE_BUILD_DUPLICATE && is->i == (size_t)-1) c->dup_total = is->count;
    if (is->kind == SEIZE_BUILD_NOT_FILE) {
        c->n_not_file++;
        snprintf(c->what, sizeof c->what, "%s", is->what);
    }
    if (is->kind == SEIZE_BUILD_NO_FOLDER) c->n_no_folder++;
}

// The check before a build: duplicate names first; then a folder given as an image, a missing
// folder (once), and missing images marked.
static void test_index_build_check(void)
{
    NEED_FIXTURES();
    char a[600], dir[600], gone1[700], gone2[700], nodir[700];
    snprintf(a, sizeof a, "%s", check_fixture_path("images/astronaut.png"));
    snprintf(dir, sizeof dir, "%s", check_fixture_path("images"));
    snprintf(gone1, sizeof gone1, "%s/gone1.png", dir);
    snprintf(gone2, sizeof gone2, "%s/gone2.png", dir);
    snprintf(nodir, sizeof nodir, "%s/nowhere/x.png", dir);
    seize_build_item dup[4] = {{"x", a, 0}, {"y", a, 0}, {"x", dir, 0}, {"x", gone1, 0}};
    issues c = {0};
    size_t n_missing = 99;
    CHECK_EQ(seize_index_build_check(dup, 4, count_issue, &c, &n_missing), 2);
    CHECK_EQ(c.n_dup_pairs, (size_t)2);
    CHECK_EQ(c.dup_total, (size_t)2);
    CHECK_EQ(c.n_not_file, (size_t)0); // only the duplicates are reported
    seize_build_item it[5] = {
        {"a", a, 0}, {"d", dir, 0}, {"g1", gone1, 0}, {"g2", gone2, 0}, {"n", nodir, 0}};
    c = (issues){0};
    CHECK_EQ(seize_index_build_check(it, 5, count_issue, &c, &n_missing), 2);
    CHECK_EQ(c.n_not_file, (size_t)1);
    CHECK_STREQ(c.what, "a folder");
    CHECK_EQ(c.n_no_folder, (size_t)1);
    CHECK_EQ(n_missing, (size_t)3);
    CHECK(!it[0].missing && !it[1].missing && it[2].missing && it[3].missing && it[4].missing);
    CHECK_EQ(seize_index_build_check(it, 3, NULL, NULL, &n_missing), 1);
    CHECK_EQ(seize_index_build_check(it, 1, NULL, NULL, &n_missing), 0);
    CHECK_EQ(n_missing, (size_t)0);
}

// The check's findings as text, and a build's images gathered and checked in one call.
static void test_index_build_check_text(void)
{
    NEED_FIXTURES();
    char a[PATH_MAX + 32], dir[600], gone[PATH_MAX + 32], nodir[700];
    snprintf(a, sizeof a, "%s", check_fixture_path("images/astronaut.png"));
    snprintf(dir, sizeof dir, "%s", check_fixture_path("images"));
    snprintf(gone, sizeof gone, "%s/gone.png", dir);
    snprintf(nodir, sizeof nodir, "%s/nowhere/x.png", dir);
    char *err = NULL, *missing = NULL;
    seize_build_item dup[3] = {{"x", a, 0}, {"x", dir, 0}, {"y", a, 0}};
    CHECK_EQ(seize_index_build_check_text(dup, 3, "rename one", NULL, &err, &missing), 1);
    CHECK_MSG(err && strstr(err, "two images get the same gallery name:\n  'x' for '") &&
                  strstr(err, "names must be unique (rename one)"),
              "%s", err ? err : "(null)");
    CHECK(missing == NULL);
    free(err);
    seize_build_item it[4] = {{"a", a, 0}, {"d", dir, 0}, {"g", gone, 0}, {"n", nodir, 0}};
    CHECK_EQ(seize_index_build_check_text(it, 4, NULL, "check --root", &err, &missing), 2);
    CHECK_MSG(err && strstr(err, "is a folder, not an image file\nfolder '") &&
                  strstr(err, "nowhere' does not exist (it should hold gallery images, e.g. "
                              "'n'): check --root"),
              "%s", err ? err : "(null)");
    free(err);
    CHECK_EQ(seize_index_build_check_text(it, 3, NULL, NULL, &err, &missing), 1);
    free(err);
    seize_build_item some[2] = {{"a", a, 0}, {"g", gone, 0}};
    CHECK_EQ(seize_index_build_check_text(some, 2, NULL, NULL, &err, &missing), 0);
    CHECK(err == NULL && some[1].missing);
    CHECK_MSG(missing && strstr(missing, "1 of 2 images are missing") &&
                  strstr(missing, "gone.png"),
              "%s", missing ? missing : "(null)");
    free(missing);
    CHECK_EQ(seize_index_build_check_text(some + 1, 1, NULL, NULL, &err, &missing), 1);
    CHECK(err && strstr(err, "none of the 1 images exists"));
    free(err);

    // prepare: gathered, checked, labelled; refusals end with "nothing was encoded"
    mkdir(check_tmp("prep"), 0755);
    char list[600], abs_a[PATH_MAX];
    snprintf(list, sizeof list, "%s", check_tmp("prep/list.txt"));
    CHECK(realpath(a, abs_a) != NULL); // the list's relative paths are taken from its folder
    snprintf(a, sizeof a, "%s", abs_a);
    snprintf(gone, sizeof gone, "%s.gone.png", abs_a);
    FILE *fp = fopen(list, "w");
    fprintf(fp, "%s\n%s\n", a, gone);
    fclose(fp);
    seize_images_source src = {SEIZE_IMAGES_LIST, list, NULL};
    seize_build_images im;
    CHECK_EQ(seize_build_images_prepare(&src, NULL, NULL, &im), 0);
    CHECK_EQ(im.list.n, 2);
    CHECK_STREQ(im.items[0].name, "astronaut");
    CHECK(im.items[1].missing && im.missing && !strncmp(im.source, "list:", 5));
    seize_build_images_release(&im);
    fp = fopen(list, "w");
    fprintf(fp, "%s\nastronaut\t%s\n", a, a); // the same name twice
    fclose(fp);
    CHECK_EQ(seize_build_images_prepare(&src, NULL, NULL, &im), SEIZE_EFORMAT);
    CHECK_EQ(im.list.n, 1 + 1);
    seize_build_images_release(&im);
    fp = fopen(list, "w");
    fprintf(fp, "%s\nast\001\t%s\n", a, a);
    fclose(fp);
    CHECK_EQ(seize_build_images_prepare(&src, NULL, NULL, &im), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "line 2") && strstr(seize_errmsg(), "\nnothing was encoded"));
    seize_build_images_release(&im);
    src = (seize_images_source){SEIZE_IMAGES_TREE, check_tmp("prep"), NULL};
    CHECK_EQ(seize_build_images_prepare(&src, NULL, NULL, &im), SEIZE_ENOTFOUND);
    CHECK(strstr(seize_errmsg(), "no images to index"));
    seize_build_images_release(&im);
}

// --- shards ----------------------------------------------------------------------------------

// seize_shard_rows: blocks of whole batches, in order, covering the list, balanced.
static void test_shard_rows(void)
{
    size_t a, b;
    static const size_t want[3][2] = {{0, 6}, {6, 12}, {12, 17}}; // 9 batches of 2: 3, 3, 3
    for (size_t i = 0; i < 3; i++) {
        seize_shard_rows(17, 2, i, 3, &a, &b);
        CHECK_EQ(a, want[i][0]);
        CHECK_EQ(b, want[i][1]);
    }
    seize_shard_rows(5, 0, 1, 2, &a, &b); // batch 0 counts as 1: rows [2, 5)
    CHECK_EQ(a, (size_t)2);
    CHECK_EQ(b, (size_t)5);
    seize_shard_rows(3, 16, 0, 2, &a, &b); // one batch, two shards: the first is empty
    CHECK_EQ(b - a, (size_t)0);
    seize_shard_rows(3, 16, 1, 2, &a, &b);
    CHECK(a == 0 && b == 3);
    seize_shard_rows(7, 2, 0, 0, &a, &b); // no shards counts as one: the whole list
    CHECK(a == 0 && b == 7);
    int bad = 0;
    for (size_t total = 0; total < 40; total++)
        for (size_t batch = 1; batch < 6; batch++)
            for (size_t n = 1; n < 9; n++) {
                size_t at = 0, lo = SIZE_MAX, hi = 0, nb = (total + batch - 1) / batch;
                for (size_t i = 0; i < n; i++) {
                    seize_shard_rows(total, batch, i, n, &a, &b);
                    size_t nbi = (b - a + batch - 1) / batch;
                    bad += a != at || b < a || (a % batch && a != total);
                    lo = nbi < lo ? nbi : lo, hi = nbi > hi ? nbi : hi, at = b;
                }
                bad += at != total || hi - lo > 1 || (n <= nb && lo == 0 && total);
            }
    CHECK_EQ(bad, 0);
}

static void test_shard_parse(void)
{
    size_t i = 9, n = 9;
    CHECK_EQ(seize_shard_parse("2/4", &i, &n), 0);
    CHECK(i == 2 && n == 4);
    CHECK_EQ(seize_shard_parse("0/1", &i, &n), 0);
    static const char *bad[] = {"4/4", "1",  "a/2", "-1/2", "1/0",  "0/100001", "1/2x",
                                "",    "/2", "1/",  " 1/2", "1//2", "9999999/1"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        CHECK_EQ(seize_shard_parse(bad[k], &i, &n), SEIZE_EINVAL);
        CHECK(strstr(seize_errmsg(), "expected I/N"));
    }
    char hex[65], want[65];
    const char *names[2] = {"a", "bc"};
    uint8_t d[32];
    seize_names_sha256(names, 2, hex);
    seize_sha256_buffer("a\0bc", 5, d); // each name and its NUL
    seize_sha256_hex(d, want);
    CHECK_STREQ(hex, want);
}

// Writes shard k of 3 of the list nm[0..7) (batch 2: items [0,2) [2,4) [4,7); "n5" failed)
// as seize_index_build would.
static void write_shard(const float *f, const char *const *nm, size_t k, const char *sha,
                        const char *dir)
{
    size_t a, b, rows = 0, fail_at = 5;
    seize_shard_rows(7, 2, k, 3, &a, &b);
    const char *names[7], *fn[1] = {"n5"}, *fr[1] = {"unreadable"};
    float feats[7 * 3];
    for (size_t i = a; i < b; i++)
        if (i != fail_at) {
            memcpy(feats + rows * 3, f + i * 3, sizeof(float) * 3);
            names[rows++] = nm[i];
        }
    seize_index_shard_info sh = {k, 3, 2, a, b, 7, sha, &fail_at};
    seize_index_meta meta = {.model_sha256 = "ab12",
                             .preprocess = "pre",
                             .source = "test",
                             .failed_names = fn,
                             .failed_reasons = fr,
                             .n_failed = a <= fail_at && fail_at < b,
                             .precision = "fp32",
                             .shard = &sh};
    CHECK_EQ(seize_index_write(dir, feats, rows, 3, names, SEIZE_F16, &meta), 0);
}

// Shards written as a build writes them, merged into one index (the bytes of the whole list's)
// and into a sharded index, opened as one and shard by shard.
static void test_shard_merge_open(void)
{
    const float f[7 * 3] = {1, 2, 3, 0.1f, 5, 1, 3, 3, 0, 7, 1, 1, 2, 9, 4, 0, 0, 1, 1, 1, 1};
    const char *nm[7] = {"n0", "n1", "n2", "n3", "n4", "n5", "n6"};
    char sha[65], dirs[3][300];
    seize_names_sha256(nm, 7, sha);
    for (size_t k = 0; k < 3; k++) {
        snprintf(dirs[k], sizeof dirs[k], "%s", check_tmp(k ? k == 1 ? "sh/s1" : "sh/s2" : "s0"));
        write_shard(f, nm, k, sha, dirs[k]);
    }
    const char *whole[6] = {"n0", "n1", "n2", "n3", "n4", "n6"}, *fn[1] = {"n5"},
               *fr[1] = {"unreadable"};
    float wf[6 * 3];
    memcpy(wf, f, sizeof(float) * 15);
    memcpy(wf + 15, f + 18, sizeof(float) * 3);
    seize_index_meta meta = {.model_sha256 = "ab12",
                             .preprocess = "pre",
                             .source = "test",
                             .failed_names = fn,
                             .failed_reasons = fr,
                             .n_failed = 1,
                             .precision = "fp32"};
    CHECK_EQ(seize_index_write(check_tmp("whole"), wf, 6, 3, whole, SEIZE_F16, &meta), 0);
    const char *given[3] = {dirs[2], dirs[0], dirs[1]};
    seize_index_merge_params mp = {check_tmp("one"), given, 3, 0};
    seize_index_merge_result res;
    CHECK_EQ(seize_index_merge(&mp, &res), 0);
    CHECK(res.count == 6 && res.n_failed == 1 && res.n_shards == 3);
    CHECK(same_file(check_tmp("whole/features.npy"), check_tmp("one/features.npy")));
    CHECK(same_file(check_tmp("whole/names.txt"), check_tmp("one/names.txt")));
    CHECK(same_file(check_tmp("whole/index.json"), check_tmp("one/index.json")));
    mp.out_dir = check_tmp("sh"), mp.sharded = 1;
    CHECK_EQ(seize_index_merge(&mp, &res), 0);
    seize_index *one = NULL, *sh = NULL, *part = NULL;
    CHECK_EQ(seize_index_open(check_tmp("one"), &one), 0);
    CHECK_EQ(seize_index_open(check_tmp("sh"), &sh), 0);
    if (!one || !sh) goto done;
    seize_embeddings a = seize_index_embeddings(one), b = seize_index_embeddings(sh);
    CHECK(a.n == 6 && b.n == 6 && b.dim == 3 && b.dtype == SEIZE_F16);
    CHECK(!memcmp(a.data, b.data, 6 * 3 * 2));
    size_t row = 0;
    CHECK_EQ(seize_index_find(sh, "n6", &row), 0);
    CHECK_EQ(row, (size_t)5);
    CHECK_STREQ(seize_index_name(sh, 3), "n3");
    CHECK(json_is_true(json_object_get(seize_index_json(sh), "sharded")));
    const char *p0 = json_string_value(json_object_get(
        json_array_get(json_object_get(seize_index_json(sh), "shards"), 0), "path"));
    CHECK_STREQ(p0, "../s0"); // relative to the sharded folder; s1, s2 inside it
    size_t n_sh = 0, *off = NULL, ro = 9;
    CHECK_EQ(seize_index_shards(check_tmp("sh"), &n_sh, &off), 0);
    CHECK(n_sh == 3 && off && off[0] == 0 && off[1] == 2 && off[2] == 4 && off[3] == 6);
    free(off);
    CHECK_EQ(seize_index_open_shard(check_tmp("sh"), 1, &part, &ro), 0);
    CHECK(part && ro == 2 && seize_index_count(part) == 2);
    if (part) CHECK_STREQ(seize_index_name(part, 0), "n2");
    seize_index_free(part);
    CHECK_EQ(seize_index_open_shard(check_tmp("sh"), 3, &part, &ro), SEIZE_EINVAL);
    CHECK_EQ(seize_index_shards(check_tmp("one"), &n_sh, &off), 0); // a single index: one shard
    CHECK(n_sh == 1 && off && off[1] == 6);
    free(off);
    CHECK_EQ(seize_index_open_shard(check_tmp("one"), 0, &part, &ro), 0);
    CHECK(part && ro == 0 && seize_index_count(part) == 6);
    seize_index_free(part);
    CHECK_EQ(seize_index_open_shard(check_tmp("one"), 1, &part, &ro), SEIZE_EINVAL);
    // a sharded index is no shard: neither of a merge nor of another sharded index
    const char *nested[1] = {check_tmp("sh")};
    seize_index_merge_params np = {check_tmp("x"), nested, 1, 0};
    CHECK_EQ(seize_index_merge(&np, NULL), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "is a sharded index, not a shard"));
done:
    seize_index_free(one);
    seize_index_free(sh);
}

// A manifest whose shards hold a name twice, or that does not match its shards, is refused.
static void test_shard_manifest_bad(void)
{
    float f[2 * 2] = {1, 0, 0, 1};
    const char *n1[2] = {"a", "b"}, *n2[2] = {"c", "a"};
    CHECK_EQ(seize_index_write(check_tmp("m/x"), f, 2, 2, n1, SEIZE_F32, NULL), 0);
    CHECK_EQ(seize_index_write(check_tmp("m/y"), f, 2, 2, n2, SEIZE_F32, NULL), 0);
    check_write_text(check_tmp("m/index.json"),
                     "{\"format\": \"seize-index\", \"sharded\": true, \"count\": 4, \"dim\": 2, "
                     "\"dtype\": \"f32\", \"model\": null, \"shards\": [{\"path\": \"x\", "
                     "\"count\": 2}, {\"path\": \"y\", \"count\": 2}]}");
    seize_index *idx = NULL;
    CHECK_EQ(seize_index_open(check_tmp("m"), &idx), SEIZE_EFORMAT); // no shard records
    CHECK(strstr(seize_errmsg(), "does not match the manifest (its place in the gallery list"));
    check_write_text(check_tmp("m/index.json"),
                     "{\"sharded\": true, \"count\": 5, \"dim\": 2, \"dtype\": \"f32\", "
                     "\"shards\": [{\"path\": \"x\", \"count\": 2}, {\"path\": \"y\", \"count\": "
                     "2}]}");
    CHECK_EQ(seize_index_open(check_tmp("m"), &idx), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "do not add up"));
    check_write_text(check_tmp("m/index.json"), "{\"sharded\": true, \"count\": 0, \"dim\": 2}");
    CHECK_EQ(seize_index_open(check_tmp("m"), &idx), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "no \"shards\" list"));
    CHECK(idx == NULL);
}

// A shard build through the library: on_bad gets the full list's index, the shard's
// index.json its record, and a state of another shard spec is discarded with the reason.
static void test_shard_build(void)
{
    NEED_FIXTURES();
    static const char *files[] = {"astronaut.png", "camera.png", "truncated.jpg", "chelsea.png",
                                  "gone.png"};
    enum { N = 5 };
    char paths[N][600];
    seize_build_item items[N];
    for (int i = 0; i < N; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", check_fixture_path("images"), files[i]);
        items[i] = (seize_build_item){files[i], paths[i], i == N - 1};
    }
    seize_index_build_params p = seize_index_build_default_params();
    p.model_dir = check_fixture_path("models/tiny-openai");
    p.batch = 2, p.threads = 1, p.on_resume = log_resume, p.on_bad = log_bad;
    // 3 batches in 4 shards: [] [0,2) [2,4) [4,5)
    p.shard_index = 0, p.shard_count = 4;
    build_log log = {0};
    p.ud = &log;
    p.out_dir = check_tmp("sb");
    seize_index_build_result res;
    CHECK_EQ(seize_index_build(&p, items, N, &res), 0); // a shard may have no rows
    CHECK(res.n_ok == 0 && res.n_failed == 0);
    p.shard_index = 2;
    log = (build_log){0};
    CHECK_EQ(seize_index_build(&p, items, N, &res), 0); // the state is gone: nothing to discard
    CHECK_EQ(log.n_resume_calls, (size_t)0);
    CHECK(res.n_ok == 1 && res.n_failed == 1 && log.n_bad == 1 && log.last_bad == 2);
    seize_index *idx = NULL;
    CHECK_EQ(seize_index_open(check_tmp("sb"), &idx), 0);
    const json_t *sh = idx ? json_object_get(seize_index_json(idx), "shard") : NULL;
    CHECK_EQ(json_integer_value(json_object_get(sh, "batch")), 2);
    CHECK_EQ(json_integer_value(json_array_get(json_object_get(sh, "rows"), 1)), 4);
    CHECK_EQ(json_integer_value(json_array_get(json_object_get(sh, "failed_at"), 0)), 2);
    seize_index_free(idx);
    // an unfinished shard build met by another shard spec: discarded with the reason
    check_write_text(check_tmp("sb/build.progress.json"), "{\"shard\": \"1/2\", \"done\": 1}");
    log = (build_log){0};
    CHECK_EQ(seize_index_build(&p, items, N, &res), 0);
    CHECK(log.discarded && strstr(log.discarded, "it was for shard 1/2, this build is shard 2/4"));
    p.shard_index = 4;
    CHECK_EQ(seize_index_build(&p, items, N, &res), SEIZE_EINVAL);
}

// seize_index_import holds the folder's lock: a second writer fails at once.
static void test_index_import_lock(void)
{
    float feats[2] = {1, 0};
    size_t shape[2] = {1, 2};
    CHECK_EQ(seize_npy_save(check_tmp("lf.npy"), SEIZE_F32, 2, shape, feats), 0);
    check_write_text(check_tmp("ln.txt"), "one\n");
    mkdir(check_tmp("locked"), 0755);
    seize_lock lock = {0};
    CHECK_EQ(seize_lock_dir(check_tmp("locked"), "index folder", &lock), 0);
    pid_t pid = fork();
    if (pid == 0) // flock is per open file: another process sees the lock
        _exit(seize_index_import(check_tmp("lf.npy"), check_tmp("ln.txt"), check_tmp("locked"),
                                 SEIZE_F32) == SEIZE_EBUSY
                  ? 0
                  : 1);
    int st = -1;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    seize_lock_release(&lock);
    CHECK_EQ(seize_index_import(check_tmp("lf.npy"), check_tmp("ln.txt"), check_tmp("locked"),
                                SEIZE_F32),
             0);
}

int main(void)
{
    if (check_tmp_init("index") < 0) return 1;
    RUN(test_index_roundtrip);
    RUN(test_index_bad_names);
    RUN(test_index_build_resume);
    RUN(test_index_build_discard);
    RUN(test_index_build_precision);
    RUN(test_index_meta_precision);
    RUN(test_index_build_check);
    RUN(test_index_build_check_text);
    RUN(test_index_import_lock);
    RUN(test_shard_rows);
    RUN(test_shard_parse);
    RUN(test_shard_merge_open);
    RUN(test_shard_manifest_bad);
    RUN(test_shard_build);
    check_tmp_cleanup();
    return check_summary("index");
}
