// Predictions, official metrics (CIRCO, CIRR, FashionIQ), submission files and their checks.
#include "seize/eval.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const int seize_circo_ks[4] = {5, 10, 25, 50};
const int seize_cirr_ks[4] = {1, 5, 10, 50};
const int seize_cirr_subset_ks[3] = {1, 2, 3};

// --- predictions

void seize_predictions_free(seize_predictions *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n; i++)
        seize_strv_free(p->items[i], p->n_items[i]);
    free(p->items);
    free(p->n_items);
    free(p->metric);
    free(p);
}

static seize_predictions *pred_new(size_t n)
{
    seize_predictions *p = seize_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n;
    p->items = seize_calloc(n ? n : 1, sizeof *p->items);
    p->n_items = seize_calloc(n ? n : 1, sizeof *p->n_items);
    if (!p->items || !p->n_items) {
        seize_predictions_free(p);
        return NULL;
    }
    return p;
}

// Fails on the first query without predictions.
static int check_coverage(const seize_dataset *ds, const seize_predictions *p,
                          const unsigned char *seen, const char *name)
{
    size_t missing = 0, first = 0;
    for (size_t i = 0; i < ds->n; i++)
        if (!seen[i] && !missing++) first = i;
    (void)p;
    if (missing)
        return seize_error(SEIZE_EFORMAT,
                           "'%s': %zu of %zu queries have no predictions (first: query id %s)",
                           name, missing, ds->n, ds->q[first].id);
    return 0;
}

static int from_object(const seize_dataset *ds, json_t *root, const char *name,
                       seize_predictions **out)
{
    if (!json_is_object(root))
        return seize_error(SEIZE_EFORMAT, "'%s': expected a JSON object {query id: [...]}", name);
    seize_predictions *p = pred_new(ds->n);
    unsigned char *seen = seize_calloc(ds->n ? ds->n : 1, 1);
    int rc = SEIZE_ENOMEM;
    if (!p || !seen) goto done;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (!strcmp(key, "version")) continue;
        if (!strcmp(key, "metric")) {
            if (!json_is_string(v) || !(p->metric = seize_strdup(json_string_value(v)))) {
                rc = seize_error(SEIZE_EFORMAT, "'%s': 'metric' must be a string", name);
                goto done;
            }
            continue;
        }
        size_t i;
        if (seize_dataset_find(ds, key, &i) < 0) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': unknown query id '%s' (not in the annotations)",
                             name, key);
            goto done;
        }
        if (seen[i]) { // two keys that denote the same query
            rc = seize_error(SEIZE_EFORMAT, "'%s': duplicate query id '%s'", name, key);
            goto done;
        }
        seen[i] = 1;
        int r = seize_json_name_list(v, &p->items[i], &p->n_items[i]);
        if (r == SEIZE_ENOMEM) goto done;
        if (r < 0) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': query '%s': expected a list of image ids", name,
                             key);
            goto done;
        }
    }
    if ((rc = check_coverage(ds, p, seen, name)) < 0) goto done;
    *out = p;
    p = NULL;
    rc = 0;
done:
    free(seen);
    seize_predictions_free(p);
    return rc;
}

int seize_predictions_parse_json(const seize_dataset *ds, const char *text, size_t len,
                                 const char *name, seize_predictions **out)
{
    *out = NULL;
    json_t *root;
    // jansson rejects duplicate keys: the error names the file and position
    int rc = seize_json_parse(text, len, name, &root);
    if (rc < 0) return rc;
    rc = from_object(ds, root, name, out);
    json_decref(root);
    return rc;
}

int seize_predictions_load_json(const seize_dataset *ds, const char *path, seize_predictions **out)
{
    *out = NULL;
    char *buf;
    size_t len;
    int rc = seize_read_file(path, &buf, &len);
    if (rc < 0) return rc;
    rc = seize_predictions_parse_json(ds, buf, len, path, out);
    free(buf);
    return rc;
}

int seize_predictions_load_rankings(const seize_dataset *ds, const char *path, const char *field,
                                    seize_predictions **out)
{
    *out = NULL;
    seize_rankings *r = NULL;
    int rc = seize_rankings_read(ds, path, field, &r);
    if (rc < 0) return rc;
    seize_predictions *p = seize_calloc(1, sizeof *p);
    if (!p) {
        seize_rankings_free(r);
        return SEIZE_ENOMEM;
    }
    p->n = r->n; // the lists are taken over
    p->items = r->items;
    p->n_items = r->n_items;
    free(r);
    *out = p;
    return 0;
}

// --- metrics

static int has_duplicate(char *const *v, size_t n, size_t *which)
{
    seize_strmap m;
    if (seize_strmap_init(&m, n) < 0) return SEIZE_ENOMEM;
    int dup = 0;
    for (size_t i = 0; i < n && !dup; i++)
        if (seize_strmap_put(&m, v[i], i, NULL) == 1) dup = 1, *which = i;
    seize_strmap_free(&m);
    return dup;
}

static int in_list(const char *s, char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, v[i])) return 1;
    return 0;
}

static const char *const official_aspects[] = {"cardinality",
                                               "addition",
                                               "negation",
                                               "direct_addressing",
                                               "compare_change",
                                               "comparative_statement",
                                               "statement_with_conjunction",
                                               "spatial_relations_background",
                                               "viewpoint"};

void seize_circo_metrics_release(seize_circo_metrics *m)
{
    if (!m) return;
    seize_strv_free(m->aspects, m->n_aspects);
    free(m->semantic_map10);
    memset(m, 0, sizeof *m);
}

static int need_gt(const seize_dataset *ds, const seize_predictions *p, const char *what)
{
    if (!ds->has_targets)
        return seize_error(
            SEIZE_EINVAL,
            "%s evaluation needs ground truth (a val split); the annotations have no targets",
            what);
    if (p->n != ds->n) return seize_error(SEIZE_EINVAL, "predictions do not match the annotations");
    return 0;
}

int seize_eval_circo(const seize_dataset *ds, const seize_predictions *p, seize_circo_metrics *out)
{
    memset(out, 0, sizeof *out);
    int rc = need_gt(ds, p, "CIRCO");
    if (rc < 0) return rc;
    // aspect list: official order, then any others in order of appearance
    size_t n_off = sizeof official_aspects / sizeof official_aspects[0], cap = n_off;
    for (size_t i = 0; i < ds->n; i++)
        cap += ds->q[i].n_aspects;
    out->aspects = seize_calloc(cap, sizeof *out->aspects);
    double *sum = seize_calloc(cap, sizeof *sum);
    size_t *cnt = seize_calloc(cap, sizeof *cnt);
    rc = SEIZE_ENOMEM;
    if (!out->aspects || !sum || !cnt) goto done;
    for (size_t a = 0; a < n_off; a++)
        if (!(out->aspects[out->n_aspects++] = seize_strdup(official_aspects[a]))) goto done;
    double ap_sum[4] = {0}, rec_sum[4] = {0};
    for (size_t i = 0; i < ds->n; i++) {
        const seize_query *q = &ds->q[i];
        char **pr = p->items[i];
        size_t np = p->n_items[i], dup;
        int d = has_duplicate(pr, np, &dup);
        if (d < 0) goto done;
        if (d) {
            rc = seize_error(SEIZE_EFORMAT, "query %s has duplicate predictions ('%s')", q->id,
                             pr[dup]);
            goto done;
        }
        double ap[4] = {0}, prec_sum = 0;
        size_t hits = 0, kk = 0;
        int rec[4] = {0};
        for (size_t j = 0; j < np && kk < 4; j++) {
            int rel = in_list(pr[j], q->gt, q->n_gt);
            if (rel) {
                hits++;
                prec_sum += (double)hits / (double)(j + 1);
            }
            int is_target = !strcmp(pr[j], q->target);
            for (size_t t = kk; t < 4; t++)
                if (is_target && j < (size_t)seize_circo_ks[t]) rec[t] = 1;
            while (kk < 4 && j + 1 == (size_t)seize_circo_ks[kk]) {
                ap[kk] = prec_sum;
                kk++;
            }
        }
        for (size_t t = kk; t < 4; t++)
            ap[t] = prec_sum; // fewer predictions than k
        for (int t = 0; t < 4; t++) {
            size_t k = (size_t)seize_circo_ks[t];
            ap[t] /= (double)(q->n_gt < k ? q->n_gt : k);
            ap_sum[t] += ap[t];
            rec_sum[t] += rec[t];
        }
        for (size_t a = 0; a < q->n_aspects; a++) {
            size_t slot = out->n_aspects;
            for (size_t b = 0; b < out->n_aspects; b++)
                if (!strcmp(out->aspects[b], q->aspects[a])) slot = b;
            if (slot == out->n_aspects &&
                !(out->aspects[out->n_aspects++] = seize_strdup(q->aspects[a])))
                goto done;
            sum[slot] += ap[1];
            cnt[slot]++;
        }
    }
    out->semantic_map10 = seize_calloc(out->n_aspects ? out->n_aspects : 1, sizeof(double));
    if (!out->semantic_map10) goto done;
    for (size_t a = 0; a < out->n_aspects; a++)
        out->semantic_map10[a] = cnt[a] ? sum[a] / (double)cnt[a] * 100 : 0;
    for (int t = 0; t < 4; t++) {
        out->map[t] = ds->n ? ap_sum[t] / (double)ds->n * 100 : 0;
        out->recall[t] = ds->n ? rec_sum[t] / (double)ds->n * 100 : 0;
    }
    out->n_queries = ds->n;
    rc = 0;
done:
    free(sum);
    free(cnt);
    if (rc < 0) seize_circo_metrics_release(out);
    return rc;
}

// Position of `target` among the n items (SIZE_MAX if absent).
static size_t rank_of(char *const *v, size_t n, const char *target)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] && !strcmp(v[i], target)) return i;
    return SIZE_MAX;
}

void seize_eval_recall(char **const *items, const size_t *n_items, const char *const *targets,
                       size_t n, const int *ks, size_t n_ks, double *out, size_t *n_counted)
{
    size_t counted = 0;
    for (size_t t = 0; t < n_ks; t++)
        out[t] = 0;
    for (size_t q = 0; q < n; q++) {
        if (!targets[q]) continue;
        counted++;
        size_t at = rank_of(items[q], n_items[q], targets[q]);
        for (size_t t = 0; t < n_ks; t++)
            out[t] += at < (size_t)ks[t];
    }
    for (size_t t = 0; t < n_ks; t++)
        out[t] = counted ? out[t] / (double)counted * 100 : 0;
    if (n_counted) *n_counted = counted;
}

// The queries' targets (borrowed), for seize_eval_recall.
static const char **targets_of(const seize_dataset *ds)
{
    const char **t = seize_calloc(ds->n ? ds->n : 1, sizeof *t);
    for (size_t i = 0; t && i < ds->n; i++)
        t[i] = ds->q[i].target;
    return t;
}

static int check_duplicates(const seize_dataset *ds, const seize_predictions *p)
{
    for (size_t i = 0; i < ds->n; i++) {
        size_t dup;
        int d = has_duplicate(p->items[i], p->n_items[i], &dup);
        if (d < 0) return d;
        if (d)
            return seize_error(SEIZE_EFORMAT, "query %s has duplicate predictions ('%s')",
                               ds->q[i].id, p->items[i][dup]);
    }
    return 0;
}

int seize_eval_cirr(const seize_dataset *ds, const seize_predictions *p,
                    const seize_predictions *subset, seize_cirr_metrics *out)
{
    memset(out, 0, sizeof *out);
    int rc = need_gt(ds, p, "CIRR");
    if (rc < 0) return rc;
    if (subset && subset->n != ds->n)
        return seize_error(SEIZE_EINVAL, "subset predictions do not match the annotations");
    if ((rc = check_duplicates(ds, p)) < 0) return rc;
    const char **t = targets_of(ds);
    if (!t) return SEIZE_ENOMEM;
    seize_eval_recall(p->items, p->n_items, t, ds->n, seize_cirr_ks, 4, out->recall, NULL);
    if (subset)
        seize_eval_recall(subset->items, subset->n_items, t, ds->n, seize_cirr_subset_ks, 3,
                          out->recall_subset, NULL);
    free(t);
    out->has_subset = subset != NULL;
    out->n_queries = ds->n;
    return 0;
}

int seize_eval_fashioniq(const seize_dataset *ds, const seize_predictions *p,
                         seize_fiq_metrics *out)
{
    memset(out, 0, sizeof *out);
    int rc = need_gt(ds, p, "FashionIQ");
    if (rc < 0) return rc;
    const char **t = targets_of(ds);
    if (!t) return SEIZE_ENOMEM;
    static const int ks[2] = {10, 50};
    double r[2];
    seize_eval_recall(p->items, p->n_items, t, ds->n, ks, 2, r, NULL);
    free(t);
    out->r10 = r[0];
    out->r50 = r[1];
    out->n_queries = ds->n;
    return 0;
}

// --- submissions

// A problem list: keeps the first 10 messages and counts the rest.
typedef struct problems {
    char buf[4096];
    size_t len, n;
} problems;

static void problem(problems *pb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(problems *pb, const char *fmt, ...)
{
    if (pb->n++ >= 10) return;
    if (pb->len + 3 >= sizeof pb->buf) return;
    if (pb->len) {
        memcpy(pb->buf + pb->len, "; ", 2);
        pb->len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(pb->buf + pb->len, sizeof pb->buf - pb->len, fmt, ap);
    va_end(ap);
    if (w > 0)
        pb->len += (size_t)w < sizeof pb->buf - pb->len ? (size_t)w : sizeof pb->buf - pb->len - 1;
}

// Checks the list of query i: count, uniqueness, reference, members, gallery.
static void check_list(const seize_dataset *ds, size_t i, char *const *v, size_t n, size_t want,
                       int members_only, const seize_strmap *gallery, problems *pb)
{
    const seize_query *q = &ds->q[i];
    if (n != want) problem(pb, "query %s: %zu ids, expected %zu", q->id, n, want);
    size_t dup;
    int d = has_duplicate(v, n, &dup);
    if (d > 0) problem(pb, "query %s: '%s' appears twice", q->id, v[dup]);
    for (size_t j = 0; j < n; j++) {
        if (!strcmp(v[j], q->reference))
            problem(pb, "query %s: the reference image '%s' is ranked (position %zu)", q->id, v[j],
                    j + 1);
        if (members_only && !in_list(v[j], q->members, q->n_members))
            problem(pb, "query %s: '%s' is not in img_set.members", q->id, v[j]);
        if (gallery && !seize_strmap_get(gallery, v[j], NULL))
            problem(pb, "query %s: '%s' is not in the gallery", q->id, v[j]);
    }
}

static int build_submission(const seize_dataset *ds, const seize_predictions *p, size_t want,
                            int members_only, json_t *root, const char *path)
{
    problems pb = {0};
    for (size_t i = 0; i < ds->n; i++) {
        size_t n = p->n_items[i] < want ? p->n_items[i] : want;
        check_list(ds, i, p->items[i], n, want, members_only, NULL, &pb);
        json_t *arr = json_array();
        for (size_t j = 0; j < n; j++)
            json_array_append_new(arr, json_string(p->items[i][j]));
        json_object_set_new(root, ds->q[i].id, arr);
    }
    if (pb.n)
        return seize_error(SEIZE_EFORMAT, "cannot write '%s': %zu problem%s: %s%s", path, pb.n,
                           pb.n == 1 ? "" : "s", pb.buf, pb.n > 10 ? "; ..." : "");
    return 0;
}

int seize_submission_write_circo(const seize_dataset *ds, const seize_predictions *p,
                                 const char *path)
{
    if (ds->kind != SEIZE_DS_CIRCO || p->n != ds->n)
        return seize_error(SEIZE_EINVAL,
                           "CIRCO submission needs CIRCO annotations and matching predictions");
    json_t *root = json_object();
    int rc = build_submission(ds, p, 50, 0, root, path);
    if (rc == 0) rc = seize_json_save(path, root, JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(root);
    return rc;
}

int seize_submission_write_cirr(const seize_dataset *ds, const seize_predictions *p, int subset,
                                const char *path)
{
    if (ds->kind != SEIZE_DS_CIRR || p->n != ds->n)
        return seize_error(SEIZE_EINVAL,
                           "CIRR submission needs CIRR annotations and matching predictions");
    json_t *root = json_object();
    json_object_set_new(root, "version", json_string("rc2"));
    json_object_set_new(root, "metric", json_string(subset ? "recall_subset" : "recall"));
    int rc = build_submission(ds, p, subset ? 3 : 50, subset, root, path);
    if (rc == 0) rc = seize_json_save(path, root, JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(root);
    return rc;
}

int seize_submission_check(const seize_dataset *ds, const char *path, const char *const *gallery,
                           size_t n_gallery, size_t *n_queries)
{
    if (n_queries) *n_queries = 0;
    json_t *root;
    int rc = seize_json_load(path, &root);
    if (rc < 0) return rc;
    seize_predictions *p = NULL;
    seize_strmap gm = {0};
    int subset = 0;
    if (ds->kind == SEIZE_DS_CIRR) {
        json_t *v = json_object_get(root, "version"), *m = json_object_get(root, "metric");
        if (!json_is_string(v) || strcmp(json_string_value(v), "rc2")) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': \"version\" must be \"rc2\"", path);
            goto done;
        }
        if (!json_is_string(m) || (strcmp(json_string_value(m), "recall") &&
                                   strcmp(json_string_value(m), "recall_subset"))) {
            rc = seize_error(SEIZE_EFORMAT,
                             "'%s': \"metric\" must be \"recall\" or \"recall_subset\"", path);
            goto done;
        }
        subset = !strcmp(json_string_value(m), "recall_subset");
    } else if (ds->kind != SEIZE_DS_CIRCO) {
        rc = seize_error(SEIZE_EINVAL, "submission files exist for CIRCO and CIRR only");
        goto done;
    } else if (json_object_get(root, "version") || json_object_get(root, "metric")) {
        rc =
            seize_error(SEIZE_EFORMAT, "'%s': a CIRCO submission has only query ids as keys", path);
        goto done;
    }
    if ((rc = from_object(ds, root, path, &p)) < 0) goto done;
    if (gallery) {
        if ((rc = seize_strmap_init(&gm, n_gallery)) < 0) goto done;
        for (size_t i = 0; i < n_gallery; i++)
            seize_strmap_put(&gm, gallery[i], i, NULL);
    }
    problems pb = {0};
    size_t want = ds->kind == SEIZE_DS_CIRCO ? 50 : subset ? 3 : 50;
    for (size_t i = 0; i < ds->n; i++)
        check_list(ds, i, p->items[i], p->n_items[i], want, subset, gallery ? &gm : NULL, &pb);
    if (pb.n) {
        rc = seize_error(SEIZE_EFORMAT, "'%s': %zu problem%s: %s%s", path, pb.n,
                         pb.n == 1 ? "" : "s", pb.buf, pb.n > 10 ? "; ..." : "");
        goto done;
    }
    if (n_queries) *n_queries = ds->n;
    rc = 0;
done:
    seize_strmap_free(&gm);
    seize_predictions_free(p);
    json_decref(root);
    return rc;
}

int seize_submission_check_files(seize_ds_kind kind, const char *annotations, const char *path,
                                 const char *gallery, size_t *n_queries)
{
    if (n_queries) *n_queries = 0;
    if (kind == SEIZE_DS_FASHIONIQ)
        return seize_error(SEIZE_EINVAL, "submission files exist for circo and cirr");
    seize_dataset *ds = NULL;
    char **names = NULL;
    size_t n_names = 0;
    int rc = seize_dataset_load(kind, annotations, &ds);
    if (rc == 0 && gallery) rc = seize_read_lines(gallery, &names, &n_names);
    if (rc == 0)
        rc = seize_submission_check(ds, path, (const char *const *)names, n_names, n_queries);
    seize_lines_free(names, n_names);
    seize_dataset_free(ds);
    return rc;
}
