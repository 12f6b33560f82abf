// Unit tests for src/eval: official metrics, predictions files, submissions and their checks.
#include "check.h"

#include "seize/eval.h"

#include "pipeline/stages.h"

#include <jansson.h>
#include <unistd.h>

static seize_dataset *parse(seize_ds_kind kind, const char *text)
{
    seize_dataset *ds = NULL;
    if (seize_dataset_parse(kind, text, strlen(text), "ann.json", NULL, &ds) < 0)
        fprintf(stderr, "  %s\n", seize_errmsg());
    return ds;
}

static seize_predictions *preds(const seize_dataset *ds, const char *text)
{
    seize_predictions *p = NULL;
    if (seize_predictions_parse_json(ds, text, strlen(text), "pred.json", &p) < 0)
        fprintf(stderr, "  %s\n", seize_errmsg());
    return p;
}

// The official example submission reproduces the metrics the official code printed for it.
static void test_circo_official_example(void)
{
    NEED_DATA("circo/submission_val_example.expected.json");
    seize_dataset *ds = NULL;
    seize_predictions *p = NULL;
    json_t *exp = NULL;
    CHECK_EQ(seize_dataset_load(SEIZE_DS_CIRCO, check_data_path("circo/val.json"), &ds), 0);
    CHECK_EQ(
        seize_predictions_load_json(ds, check_data_path("circo/submission_val_example.json"), &p),
        0);
    CHECK_EQ(seize_json_load(check_data_path("circo/submission_val_example.expected.json"), &exp),
             0);
    seize_circo_metrics m;
    CHECK_EQ(seize_eval_circo(ds, p, &m), 0);
    char key[8];
    for (int t = 0; t < 4; t++) {
        snprintf(key, sizeof key, "%d", seize_circo_ks[t]);
        double em = json_real_value(json_object_get(json_object_get(exp, "map"), key));
        double er = json_real_value(json_object_get(json_object_get(exp, "recall"), key));
        CHECK_MSG(fabs(m.map[t] - em) <= 1e-9, "mAP@%s %.17g vs %.17g", key, m.map[t], em);
        CHECK_MSG(fabs(m.recall[t] - er) <= 1e-9, "Recall@%s %.17g vs %.17g", key, m.recall[t], er);
    }
    json_t *sem = json_object_get(exp, "semantic_map10");
    CHECK_EQ(json_object_size(sem), m.n_aspects);
    size_t a = 0;
    const char *name;
    json_t *v;
    json_object_foreach(sem, name, v)
    {
        CHECK_STREQ(m.aspects[a], name); // same order as the official output
        CHECK_MSG(fabs(m.semantic_map10[a] - json_number_value(v)) <= 1e-9, "%s", name);
        a++;
    }
    CHECK(m.map[0] > 0.4); // not a trivially zero result
    seize_circo_metrics_release(&m);
    seize_predictions_free(p);
    seize_dataset_free(ds);
    json_decref(exp);
}

static void test_circo_by_hand(void)
{
    seize_dataset *ds = parse(
        SEIZE_DS_CIRCO,
        "[{\"id\": 7, \"reference_img_id\": 1, \"relative_caption\": \"x\", \"target_img_id\": 10,"
        "  \"gt_img_ids\": [10, 11, 12], \"semantic_aspects\": [\"negation\", \"zoom\"]},"
        " {\"id\": 8, \"reference_img_id\": 2, \"relative_caption\": \"y\", \"target_img_id\": 20,"
        "  \"gt_img_ids\": [20], \"semantic_aspects\": [\"negation\"]}]");
    CHECK(ds != NULL);
    // query 7: hits at ranks 2 and 4 (11, 10) -> AP@5 = (1/2 + 2/4) / 3; recall@5 = 1
    // query 8: target at rank 6 -> AP@5 = 0, AP@10 = (1/6) / 1, recall@5 = 0, recall@10 = 1
    seize_predictions *p = preds(ds, "{\"8\": [\"1\", 2, 3, 4, 5, 20], \"7\": [99, 11, 98, 10]}");
    CHECK(p != NULL);
    seize_circo_metrics m;
    CHECK_EQ(seize_eval_circo(ds, p, &m), 0);
    double ap7 = (0.5 + 0.5) / 3, ap8_10 = 1.0 / 6;
    CHECK_NEAR(m.map[0], (ap7 + 0) / 2 * 100, 1e-12);
    CHECK_NEAR(m.map[1], (ap7 + ap8_10) / 2 * 100, 1e-12);
    CHECK_NEAR(m.map[2], (ap7 + ap8_10) / 2 * 100, 1e-12);
    CHECK_NEAR(m.recall[0], 50, 1e-12);
    CHECK_NEAR(m.recall[1], 100, 1e-12);
    CHECK_EQ(m.n_aspects, 10); // 9 official + "zoom"
    CHECK_STREQ(m.aspects[2], "negation");
    CHECK_NEAR(m.semantic_map10[2], (ap7 + ap8_10) / 2 * 100, 1e-12);
    CHECK_STREQ(m.aspects[9], "zoom");
    CHECK_NEAR(m.semantic_map10[9], ap7 * 100, 1e-12);
    CHECK_NEAR(m.semantic_map10[0], 0, 0);
    seize_circo_metrics_release(&m);
    seize_predictions_free(p);

    // duplicates within a query are rejected, as the official code does
    p = preds(ds, "{\"7\": [10, 10], \"8\": [20]}");
    CHECK(p != NULL);
    CHECK_EQ(seize_eval_circo(ds, p, &m), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "duplicate") != NULL);
    seize_predictions_free(p);
    // malformed predictions files
    struct {
        const char *text, *needle;
    } bad[] = {{"{\"7\": [1], \"7\": [2], \"8\": [3]}", "duplicate"},
               {"{\"7\": [1]}", "no predictions"},
               {"{\"7\": [1], \"8\": [2], \"9\": [3]}", "unknown query id '9'"},
               {"{\"7\": [1], \"8\": 2}", "list"},
               {"[1, 2]", "object"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        seize_predictions *q = (void *)1;
        int rc =
            seize_predictions_parse_json(ds, bad[i].text, strlen(bad[i].text), "pred.json", &q);
        CHECK_MSG(rc == SEIZE_EFORMAT && q == NULL, "case %zu", i);
        CHECK_MSG(strstr(seize_errmsg(), bad[i].needle) != NULL, "case %zu: %s", i, seize_errmsg());
    }
    seize_dataset_free(ds);
}

static void test_rankings_file(void)
{
    seize_dataset *ds =
        parse(SEIZE_DS_FASHIONIQ,
              "[{\"candidate\": \"c0\", \"target\": \"t0\", \"captions\": [\"a\", \"b\"]},"
              " {\"candidate\": \"c1\", \"target\": \"t1\", \"captions\": [\"a\", \"b\"]}]");
    CHECK(ds != NULL);
    // query 1: target at rank 11 (R@10 miss, R@50 hit); query 0: at rank 1
    char line[2048] = "{\"query\": 1, \"ranking\": [";
    for (int i = 0; i < 10; i++)
        sprintf(line + strlen(line), "\"x%d\", ", i);
    strcat(line, "\"t1\"], \"scores\": []}\n{\"query\": 0, \"ranking\": [\"t0\"]}\n");
    check_write_text(check_tmp("r.jsonl"), line);
    seize_predictions *p = NULL;
    CHECK_EQ(seize_predictions_load_rankings(ds, check_tmp("r.jsonl"), "ranking", &p), 0);
    seize_fiq_metrics m;
    CHECK_EQ(seize_eval_fashioniq(ds, p, &m), 0);
    CHECK_NEAR(m.r10, 50, 1e-12);
    CHECK_NEAR(m.r50, 100, 1e-12);
    seize_predictions_free(p);
    check_write_text(check_tmp("d.jsonl"),
                     "{\"query\": 0, \"ranking\": []}\n{\"query\": 0, \"ranking\": []}\n");
    CHECK_EQ(seize_predictions_load_rankings(ds, check_tmp("d.jsonl"), "ranking", &p),
             SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "duplicate query 0") != NULL);
    check_write_text(check_tmp("m.jsonl"), "{\"query\": 1, \"ranking\": []}\n");
    CHECK_EQ(seize_predictions_load_rankings(ds, check_tmp("m.jsonl"), "ranking", &p),
             SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "no predictions") != NULL);
    check_write_text(check_tmp("u.jsonl"), "{\"query\": 2, \"ranking\": []}\n");
    CHECK_EQ(seize_predictions_load_rankings(ds, check_tmp("u.jsonl"), "ranking", &p),
             SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "query 2") != NULL);
    // odd input: every error names the file and the line (blank lines count)
    static const struct {
        const char *text, *needle;
    } odd[] = {
        {"{\"query\": 0, \"ranking\": []}\n\n{\"query\": 0, \"ranking\": []}\n",
         "o.jsonl' line 3: duplicate query 0 (first on line 1)"},
        {"\n\n[1, 2]\n", "o.jsonl' line 3: expected an object"},
        {"{\"query\": 0, \"ranking\": []}\n{\"query\": 1.0, \"ranking\": []}\n",
         "line 2: expected an object with an integer"},
        {"{\"query\": -1, \"ranking\": []}\n", "line 1: query -1 is not in"},
        {"{\"query\": 99999999999999999999, \"ranking\": []}\n", "line 1: not valid JSON"},
        {"{\"query\": 0, \"ranking\": [\"a\", null]}\n", "line 1: missing or bad \"ranking\""},
        {"{\"query\": 0, \"ranking\": \"a\"}\n", "line 1: missing or bad"},
        {"{\"query\": 0}\n", "line 1: missing or bad"},
        {"{\"query\": 0, \"ranking\": [\"a\\u0000b\"]}\n", "line 1: not valid JSON"},
        {"{\"query\": 0, \"query\": 1, \"ranking\": []}\n", "line 1: not valid JSON"},
        {"{\"query\": 0, \"ranking\": [\"a\"]}\n{\"query\": 1, \"rank", "line 2: not valid JSON"},
        {"\xff\xfe{}\n", "line 1: not valid JSON"},
        {"", "no predictions"}};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        check_write_text(check_tmp("o.jsonl"), odd[i].text);
        p = (void *)1;
        CHECK_MSG(seize_predictions_load_rankings(ds, check_tmp("o.jsonl"), "ranking", &p) ==
                          SEIZE_EFORMAT &&
                      !p,
                  "case %zu", i);
        CHECK_MSG(strstr(seize_errmsg(), odd[i].needle) != NULL, "case %zu: %s", i, seize_errmsg());
    }
    // blank lines, CRLF and a byte-order mark are fine
    check_write_text(check_tmp("ok.jsonl"),
                     "\xef\xbb\xbf{\"query\": 1, \"ranking\": [\"t1\"]}\r\n\n  \n{\"query\": 0, "
                     "\"ranking\": [\"t0\"]}");
    CHECK_EQ(seize_predictions_load_rankings(ds, check_tmp("ok.jsonl"), "ranking", &p), 0);
    seize_fiq_metrics m2;
    CHECK_EQ(seize_eval_fashioniq(ds, p, &m2), 0);
    CHECK_NEAR(m2.r10, 100, 1e-12);
    seize_predictions_free(p);
    seize_dataset_free(ds);
}

static void test_cirr_metrics_and_submission(void)
{
    seize_dataset *ds =
        parse(SEIZE_DS_CIRR,
              "[{\"pairid\": 5, \"reference\": \"r\", \"caption\": \"c\", \"target_hard\": \"t\","
              "  \"img_set\": {\"members\": [\"r\", \"t\", \"m1\", \"m2\", \"m3\", \"m4\"]}},"
              " {\"pairid\": 6, \"reference\": \"m1\", \"caption\": \"d\", \"target_hard\": \"m2\","
              "  \"img_set\": {\"members\": [\"r\", \"t\", \"m1\", \"m2\", \"m3\", \"m4\"]}}]");
    CHECK(ds != NULL);
    char text[4096];
    // query 5: target at rank 3; query 6: at rank 7
    strcpy(text, "{\"version\": \"rc2\", \"metric\": \"recall\", \"5\": [\"a\", \"b\", \"t\"");
    for (int i = 0; i < 47; i++)
        sprintf(text + strlen(text), ", \"g%d\"", i);
    strcat(text, "], \"6\": [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"m2\"");
    for (int i = 0; i < 43; i++)
        sprintf(text + strlen(text), ", \"g%d\"", i);
    strcat(text, "]}");
    seize_predictions *p = preds(ds, text);
    seize_predictions *s =
        preds(ds, "{\"version\": \"rc2\", \"metric\": \"recall_subset\","
                  " \"5\": [\"t\", \"m1\", \"m2\"], \"6\": [\"t\", \"m3\", \"m2\"]}");
    CHECK(p && s);
    CHECK_STREQ(s->metric, "recall_subset");
    seize_cirr_metrics m;
    CHECK_EQ(seize_eval_cirr(ds, p, s, &m), 0);
    CHECK_NEAR(m.recall[0], 0, 0);
    CHECK_NEAR(m.recall[1], 50, 1e-12);
    CHECK_NEAR(m.recall[2], 100, 1e-12);
    CHECK_NEAR(m.recall[3], 100, 1e-12);
    CHECK(m.has_subset);
    CHECK_NEAR(m.recall_subset[0], 50, 1e-12);
    CHECK_NEAR(m.recall_subset[1], 50, 1e-12);
    CHECK_NEAR(m.recall_subset[2], 100, 1e-12);

    // writers produce files that pass the check; the check catches each kind of problem
    CHECK_EQ(seize_submission_write_cirr(ds, p, 0, check_tmp("recall.json")), 0);
    CHECK_EQ(seize_submission_write_cirr(ds, s, 1, check_tmp("subset.json")), 0);
    size_t nq;
    CHECK_EQ(seize_submission_check(ds, check_tmp("recall.json"), NULL, 0, &nq), 0);
    CHECK_EQ(nq, 2);
    CHECK_EQ(seize_submission_check(ds, check_tmp("subset.json"), NULL, 0, &nq), 0);
    json_t *j;
    CHECK_EQ(seize_json_load(check_tmp("subset.json"), &j), 0);
    CHECK_STREQ(json_string_value(json_object_get(j, "version")), "rc2");
    CHECK_STREQ(json_string_value(json_object_get(j, "metric")), "recall_subset");
    CHECK_STREQ(json_string_value(json_array_get(json_object_get(j, "6"), 2)), "m2");
    json_decref(j);
    const char *gallery[3] = {"t", "m1", "m2"};
    CHECK_EQ(seize_submission_check(ds, check_tmp("subset.json"), gallery, 3, &nq), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "'m3' is not in the gallery") != NULL);
    check_write_text(check_tmp("bad.json"),
                     "{\"version\": \"rc2\", \"metric\": \"recall_subset\","
                     " \"5\": [\"t\", \"x\", \"r\"], \"6\": [\"t\", \"t\"]}");
    CHECK_EQ(seize_submission_check(ds, check_tmp("bad.json"), NULL, 0, &nq), SEIZE_EFORMAT);
    const char *msg = seize_errmsg();
    CHECK(strstr(msg, "'x' is not in img_set.members") != NULL);
    CHECK(strstr(msg, "reference image 'r'") != NULL);
    CHECK(strstr(msg, "query 6: 2 ids, expected 3") != NULL);
    CHECK(strstr(msg, "'t' appears twice") != NULL);
    check_write_text(check_tmp("nov.json"), "{\"5\": [], \"6\": []}");
    CHECK_EQ(seize_submission_check(ds, check_tmp("nov.json"), NULL, 0, &nq), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "version") != NULL);
    // a writer refuses a list with the reference in it
    free(s->items[1][0]);
    s->items[1][0] = strdup("m1");
    CHECK_EQ(seize_submission_write_cirr(ds, s, 1, check_tmp("no.json")), SEIZE_EFORMAT);
    CHECK(!seize_path_exists(check_tmp("no.json")));
    seize_predictions_free(p);
    seize_predictions_free(s);
    seize_dataset_free(ds);
}

static void test_circo_submission(void)
{
    NEED_DATA("circo/test.json");
    seize_dataset *ds = NULL;
    CHECK_EQ(seize_dataset_load(SEIZE_DS_CIRCO, check_data_path("circo/test.json"), &ds), 0);
    // rankings of 50 unique ids per query (none a reference image)
    FILE *fp = fopen(check_tmp("r.jsonl"), "w");
    for (size_t i = 0; i < ds->n; i++) {
        fprintf(fp, "{\"query\": %zu, \"ranking\": [", i);
        for (int j = 0; j < 50; j++)
            fprintf(fp, "%s\"%zu\"", j ? ", " : "", 1000000 + i * 100 + (size_t)j);
        fprintf(fp, "]}\n");
    }
    fclose(fp);
    seize_predictions *p = NULL;
    CHECK_EQ(seize_predictions_load_rankings(ds, check_tmp("r.jsonl"), "ranking", &p), 0);
    CHECK_EQ(seize_submission_write_circo(ds, p, check_tmp("sub.json")), 0);
    size_t nq;
    CHECK_EQ(seize_submission_check(ds, check_tmp("sub.json"), NULL, 0, &nq), 0);
    CHECK_EQ(nq, 800);
    json_t *j;
    CHECK_EQ(seize_json_load(check_tmp("sub.json"), &j), 0);
    CHECK_EQ(json_object_size(j), 800);
    CHECK(json_is_string(json_array_get(json_object_get(j, "799"), 49)));
    json_decref(j);
    free(p->items[3][7]);
    p->items[3][7] = strdup(ds->q[3].reference);
    CHECK_EQ(seize_submission_write_circo(ds, p, check_tmp("sub2.json")), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "query 3: the reference image") != NULL);
    CHECK_EQ(seize_eval_circo(ds, p, &(seize_circo_metrics){0}), SEIZE_EINVAL); // no ground truth
    seize_predictions_free(p);
    seize_dataset_free(ds);
}

// The one Recall@k: queries without a target are not counted, short lists, ties of ks.
static void test_recall(void)
{
    char *l0[] = {"a", "b", "t0"}, *l1[] = {"x"}, *l2[] = {"t2", "y"};
    char **items[] = {l0, l1, l2, l1};
    size_t n_items[] = {3, 1, 2, 1};
    const char *targets[] = {"t0", NULL, "t2", "zz"};
    static const int ks[] = {1, 3, 50};
    double r[3];
    size_t n = 99;
    seize_eval_recall(items, n_items, targets, 4, ks, 3, r, &n);
    CHECK_EQ(n, 3);
    CHECK_NEAR(r[0], 100.0 / 3, 1e-12);
    CHECK_NEAR(r[1], 200.0 / 3, 1e-12);
    CHECK_NEAR(r[2], 200.0 / 3, 1e-12);
    const char *none[] = {NULL, NULL};
    seize_eval_recall(items, n_items, none, 2, ks, 3, r, &n);
    CHECK_EQ(n, 0);
    CHECK_NEAR(r[2], 0, 0);
}

// The metrics object from files: CIRR rankings with subset lists give Recall_subset, keys in
// order; its dump is seize eval --json's text; the text table; files that do not fit.
static void test_metrics_json(void)
{
    char dir[] = "/tmp/seize-evalXXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char ann[256], rk[256];
    snprintf(ann, sizeof ann, "%s/cap.json", dir);
    snprintf(rk, sizeof rk, "%s/r.jsonl", dir);
    FILE *f = fopen(ann, "w");
    fputs("[{\"pairid\": 5, \"reference\": \"r\", \"caption\": \"c\", \"target_hard\": \"t\","
          " \"img_set\": {\"members\": [\"r\", \"t\", \"m\"]}}]",
          f);
    fclose(f);
    f = fopen(rk, "w");
    fputs("{\"query\": 0, \"ranking\": [\"a\", \"t\"], \"subset\": [\"t\", \"m\"]}\n", f);
    fclose(f);
    seize_eval_files files = {ann, NULL, rk, NULL, NULL};
    json_t *m = NULL;
    CHECK_EQ(seize_eval_metrics(SEIZE_DS_CIRR, &files, 1, &m), 0);
    CHECK(m != NULL);
    const char *want[] = {"Recall@1",        "Recall@5",        "Recall@10",       "Recall@50",
                          "Recall_subset@1", "Recall_subset@2", "Recall_subset@3", "queries"};
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) CHECK_STREQ(k, want[i++]);
    CHECK_EQ(i, 8);
    CHECK_NEAR(json_real_value(json_object_get(m, "Recall@1")), 0, 0);
    CHECK_NEAR(json_real_value(json_object_get(m, "Recall@5")), 100, 0);
    CHECK_NEAR(json_real_value(json_object_get(m, "Recall_subset@1")), 100, 0);
    char *d = seize_eval_metrics_dump(m);
    CHECK(d && !strncmp(d, "{\n \"Recall@1\": 0.0,\n", 20));
    char *t = seize_eval_metrics_text(SEIZE_DS_CIRR, m);
    CHECK(t && !strncmp(t, "CIRR (1 queries)\nRecall@1 ", 26));
    CHECK(t && strstr(t, "Recall_subset@3    100.0000\n"));
    free(d);
    free(t);
    json_decref(m);
    CHECK_EQ(seize_eval_metrics(SEIZE_DS_CIRCO, &files, 0, &m), SEIZE_EINVAL);
    files.predictions = rk; // both predictions and rankings
    CHECK_EQ(seize_eval_metrics(SEIZE_DS_CIRR, &files, 1, &m), SEIZE_EINVAL);
    CHECK(m == NULL);
    files.rankings = NULL; // FashionIQ takes rankings only
    CHECK_EQ(seize_eval_metrics(SEIZE_DS_FASHIONIQ, &files, 1, &m), SEIZE_EINVAL);
    unlink(ann);
    unlink(rk);
    rmdir(dir);
}

// A run's eval stage is in-process (no seize eval command): metrics.json holds the bytes of
// seize eval --json; a missing rankings file is the library's own message.
static void test_eval_stage_inprocess(void)
{
    char dir[] = "/tmp/seize-evalstageXXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char ann[256], rk[256], out[256];
    snprintf(ann, sizeof ann, "%s/cap.json", dir);
    snprintf(rk, sizeof rk, "%s/r.jsonl", dir);
    snprintf(out, sizeof out, "%s/metrics.json", dir);
    FILE *f = fopen(ann, "w");
    fputs("[{\"pairid\": 5, \"reference\": \"r\", \"caption\": \"c\", \"target_hard\": \"t\","
          " \"img_set\": {\"members\": [\"r\", \"t\", \"m\"]}}]",
          f);
    fclose(f);
    f = fopen(rk, "w");
    fputs("{\"query\": 0, \"ranking\": [\"a\", \"b\", \"t\"]}\n", f);
    fclose(f);
    pl_stage_ops ops = pl_stage_table();
    CHECK(ops.eval == pl_inproc_stages.eval && ops.eval);
    pl_run r;
    memset(&r, 0, sizeof r);
    pl_eval_io io = {"cirr", {ann}, {rk}, 1, out};
    CHECK_EQ(ops.eval(&r, &io), 0);
    seize_eval_files files = {ann, NULL, rk, NULL, NULL};
    json_t *m = NULL;
    CHECK_EQ(seize_eval_metrics(SEIZE_DS_CIRR, &files, 1, &m), 0);
    char *want = seize_eval_metrics_dump(m), *got = NULL;
    size_t len = 0;
    CHECK_EQ(seize_read_file(out, &got, &len), 0);
    CHECK(want && got && len == strlen(want) + 1 && !strncmp(got, want, len - 1) &&
          got[len - 1] == '\n');
    free(want);
    free(got);
    json_decref(m);
    unlink(out);
    unlink(rk);
    CHECK(ops.eval(&r, &io) < 0);
    CHECK(strstr(seize_errmsg(), "r.jsonl") != NULL);
    unlink(ann);
    rmdir(dir);
}

// Submission files from rankings: CIRR's two files; what does not fit is SEIZE_EINVAL.
static void test_submission_from_rankings(void)
{
    char dir[] = "/tmp/seize-subXXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char ann[256], rk[256], out[256], sub[256];
    snprintf(ann, sizeof ann, "%s/cap.json", dir);
    snprintf(rk, sizeof rk, "%s/r.jsonl", dir);
    snprintf(out, sizeof out, "%s/recall.json", dir);
    snprintf(sub, sizeof sub, "%s/subset.json", dir);
    FILE *f = fopen(ann, "w");
    fputs("[{\"pairid\": 7, \"reference\": \"r\", \"caption\": \"c\", \"img_set\": {\"members\": "
          "[\"r\", \"m1\", \"m2\", \"m3\"]}}]",
          f);
    fclose(f);
    f = fopen(rk, "w");
    fputs("{\"query\": 0, \"ranking\": [", f);
    for (int i = 0; i < 50; i++)
        fprintf(f, "%s\"g%d\"", i ? ", " : "", i);
    fputs("], \"subset\": [\"m3\", \"m1\", \"m2\"]}\n", f);
    fclose(f);
    size_t n = 0;
    CHECK_EQ(seize_submission_from_rankings(SEIZE_DS_CIRR, ann, rk, out, sub, &n), 0);
    CHECK_EQ(n, 1);
    json_t *b = NULL;
    CHECK_EQ(seize_json_load(sub, &b), 0);
    CHECK_STREQ(json_string_value(json_array_get(json_object_get(b, "7"), 0)), "m3");
    json_decref(b);
    CHECK_EQ(seize_submission_from_rankings(SEIZE_DS_FASHIONIQ, ann, rk, out, NULL, NULL),
             SEIZE_EINVAL);
    CHECK_EQ(seize_submission_from_rankings(SEIZE_DS_CIRCO, ann, rk, out, sub, NULL), SEIZE_EINVAL);
    unlink(ann);
    unlink(rk);
    unlink(out);
    unlink(sub);
    rmdir(dir);
}

// seize eval's file sets: FashionIQ pairs annotations with rankings (and categories), CIRCO and
// CIRR take one annotations file and one of predictions and rankings; anything else is refused.
static void test_eval_files_set(void)
{
    const char *ann[2] = {"cap.dress.val.json", "cap.shirt.val.json"}, *rk[2] = {"a", "b"};
    const char *cats[2] = {"dress", "shirt"};
    seize_eval_files f[2] = {{0}};
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_FASHIONIQ, ann, 2, rk, 2, cats, 2, NULL, NULL, NULL, f),
             0);
    CHECK_STREQ(f[1].annotations, "cap.shirt.val.json");
    CHECK_STREQ(f[1].rankings, "b");
    CHECK_STREQ(f[1].category, "shirt");
    CHECK(f[1].predictions == NULL);
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_FASHIONIQ, ann, 2, rk, 2, NULL, 0, NULL, NULL, NULL, f),
             0);
    CHECK(f[0].category == NULL);
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_FASHIONIQ, ann, 2, rk, 1, NULL, 0, NULL, NULL, NULL, f),
             SEIZE_EINVAL);
    CHECK(strstr(seize_errmsg(), "fashioniq needs one rankings per annotations") != NULL);
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_FASHIONIQ, ann, 2, rk, 2, cats, 1, NULL, NULL, NULL, f),
             SEIZE_EINVAL);
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_FASHIONIQ, ann, 1, rk, 1, NULL, 0, "p", NULL, NULL, f),
             SEIZE_EINVAL);
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_CIRR, ann, 1, NULL, 0, NULL, 0, "p", "s", NULL, f), 0);
    CHECK_STREQ(f[0].predictions, "p");
    CHECK_STREQ(f[0].subset_predictions, "s");
    CHECK(f[0].rankings == NULL);
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_CIRCO, ann, 1, rk, 1, NULL, 0, NULL, NULL, NULL, f), 0);
    CHECK_STREQ(f[0].rankings, "a");
    CHECK(f[0].predictions == NULL);
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_CIRCO, ann, 1, NULL, 0, NULL, 0, "p", "s", NULL, f),
             SEIZE_EINVAL); // subset predictions: CIRR only
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_CIRCO, ann, 1, rk, 1, NULL, 0, "p", NULL, NULL, f),
             SEIZE_EINVAL); // both
    CHECK(strstr(seize_errmsg(), "exactly one of predictions and rankings") != NULL);
    const char *const opt[] = {"--a", "--r", "--c", "--p", "--s"}; // a CLI's option names
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_CIRCO, ann, 1, rk, 1, NULL, 0, "p", NULL, opt, f),
             SEIZE_EINVAL);
    CHECK_STREQ(seize_errmsg(), "give exactly one of --p and --r");
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_FASHIONIQ, ann, 2, rk, 1, NULL, 0, NULL, NULL, opt, f),
             SEIZE_EINVAL);
    CHECK_STREQ(seize_errmsg(), "fashioniq needs one --r per --a");
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_CIRR, ann, 1, rk, 1, NULL, 0, NULL, "s", opt, f), 0);
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_CIRCO, ann, 1, rk, 1, NULL, 0, NULL, "s", opt, f),
             SEIZE_EINVAL);
    CHECK_STREQ(seize_errmsg(), "--s is for cirr");
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_CIRCO, ann, 0, rk, 1, NULL, 0, NULL, NULL, opt, f),
             SEIZE_EINVAL);
    CHECK_STREQ(seize_errmsg(), "--a is required");
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_CIRCO, ann, 1, NULL, 0, NULL, 0, NULL, NULL, NULL, f),
             SEIZE_EINVAL); // neither
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_CIRR, ann, 2, rk, 2, NULL, 0, NULL, NULL, NULL, f),
             SEIZE_EINVAL);
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_CIRR, ann, 0, rk, 1, NULL, 0, NULL, NULL, NULL, f),
             SEIZE_EINVAL);
    CHECK_EQ(seize_eval_files_set(SEIZE_DS_CIRCO, ann, 1, rk, 1, cats, 1, NULL, NULL, NULL, f),
             SEIZE_EINVAL); // a category: FashionIQ only
}

// A submission checked from files: the annotations and the gallery names read, FashionIQ refused.
static void test_submission_check_files(void)
{
    check_write_text(check_tmp("sc_cap.json"),
                     "[{\"pairid\": 7, \"reference\": \"r\", \"caption\": \"c\", "
                     "\"img_set\": {\"members\": [\"r\", \"m1\", \"m2\", \"m3\"]}}]");
    check_write_text(check_tmp("sc_sub.json"),
                     "{\"version\": \"rc2\", \"metric\": "
                     "\"recall_subset\", \"7\": [\"m3\", \"m1\", \"m2\"]}");
    check_write_text(check_tmp("sc_all.txt"), "r\nm1\nm2\nm3\n");
    check_write_text(check_tmp("sc_some.txt"), "m1\nm2\n");
    size_t n = 0;
    CHECK_EQ(seize_submission_check_files(SEIZE_DS_CIRR, check_tmp("sc_cap.json"),
                                          check_tmp("sc_sub.json"), NULL, &n),
             0);
    CHECK_EQ(n, 1);
    CHECK_EQ(seize_submission_check_files(SEIZE_DS_CIRR, check_tmp("sc_cap.json"),
                                          check_tmp("sc_sub.json"), check_tmp("sc_all.txt"), &n),
             0);
    CHECK_EQ(seize_submission_check_files(SEIZE_DS_CIRR, check_tmp("sc_cap.json"),
                                          check_tmp("sc_sub.json"), check_tmp("sc_some.txt"), &n),
             SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "'m3' is not in the gallery") != NULL);
    CHECK(seize_submission_check_files(SEIZE_DS_CIRR, check_tmp("sc_cap.json"),
                                       check_tmp("sc_sub.json"), check_tmp("sc_none.txt"), &n) < 0);
    CHECK(seize_submission_check_files(SEIZE_DS_CIRR, check_tmp("sc_none.json"),
                                       check_tmp("sc_sub.json"), NULL, &n) < 0);
    CHECK_EQ(seize_submission_check_files(SEIZE_DS_FASHIONIQ, check_tmp("sc_cap.json"),
                                          check_tmp("sc_sub.json"), NULL, &n),
             SEIZE_EINVAL);
}

int main(void)
{
    if (check_tmp_init("eval") < 0) return 1;
    RUN(test_circo_official_example);
    RUN(test_circo_by_hand);
    RUN(test_rankings_file);
    RUN(test_cirr_metrics_and_submission);
    RUN(test_circo_submission);
    RUN(test_recall);
    RUN(test_metrics_json);
    RUN(test_eval_stage_inprocess);
    RUN(test_submission_from_rankings);
    RUN(test_eval_files_set);
    RUN(test_submission_check_files);
    check_tmp_cleanup();
    return check_summary("eval");
}
