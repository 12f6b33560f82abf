// The metrics object of seize eval --json (also a run's metrics.json) and its text table; the
// submission files from rankings.
#include "seize/eval.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_FLAGS (JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17))

static void set_real(json_t *o, const char *fmt, int k, double v)
{
    char key[40];
    snprintf(key, sizeof key, fmt, k);
    json_object_set_new(o, key, json_real(v));
}

static int load_predictions(const seize_dataset *ds, const seize_eval_files *f,
                            seize_predictions **p)
{
    if (!!f->predictions + !!f->rankings != 1)
        return seize_error(SEIZE_EINVAL, "give exactly one of predictions and rankings");
    return f->predictions ? seize_predictions_load_json(ds, f->predictions, p)
                          : seize_predictions_load_rankings(ds, f->rankings, "ranking", p);
}

static int circo_json(const seize_eval_files *f, json_t *o)
{
    seize_dataset *ds = NULL;
    seize_predictions *p = NULL;
    seize_circo_metrics m = {0};
    int rc = seize_dataset_load(SEIZE_DS_CIRCO, f->annotations, &ds);
    if (rc == 0) rc = load_predictions(ds, f, &p);
    if (rc == 0) rc = seize_eval_circo(ds, p, &m);
    if (rc == 0) {
        json_t *sem = json_object();
        for (int t = 0; t < 4; t++)
            set_real(o, "mAP@%d", seize_circo_ks[t], m.map[t]);
        for (int t = 0; t < 4; t++)
            set_real(o, "Recall@%d", seize_circo_ks[t], m.recall[t]);
        for (size_t a = 0; a < m.n_aspects; a++)
            json_object_set_new(sem, m.aspects[a], json_real(m.semantic_map10[a]));
        json_object_set_new(o, "semantic_mAP@10", sem);
        json_object_set_new(o, "queries", json_integer((json_int_t)m.n_queries));
    }
    seize_circo_metrics_release(&m);
    seize_predictions_free(p);
    seize_dataset_free(ds);
    return rc;
}

// CIRR subset predictions: the given file, else the rankings' "subset" lists when they have
// them (seize search writes them when it had subsets).
static int cirr_subset(const seize_dataset *ds, const seize_eval_files *f, seize_predictions **s)
{
    if (f->subset_predictions) return seize_predictions_load_json(ds, f->subset_predictions, s);
    if (!f->rankings) return 0;
    json_t *all = NULL;
    int rc = seize_jsonl_load(f->rankings, &all);
    if (rc < 0) return rc;
    int has = json_array_size(all) && json_object_get(json_array_get(all, 0), "subset");
    json_decref(all);
    return has ? seize_predictions_load_rankings(ds, f->rankings, "subset", s) : 0;
}

static int cirr_json(const seize_eval_files *f, json_t *o)
{
    seize_dataset *ds = NULL;
    seize_predictions *p = NULL, *s = NULL;
    seize_cirr_metrics m;
    int rc = seize_dataset_load(SEIZE_DS_CIRR, f->annotations, &ds);
    if (rc == 0) rc = load_predictions(ds, f, &p);
    if (rc == 0) rc = cirr_subset(ds, f, &s);
    if (rc == 0) rc = seize_eval_cirr(ds, p, s, &m);
    if (rc == 0) {
        for (int t = 0; t < 4; t++)
            set_real(o, "Recall@%d", seize_cirr_ks[t], m.recall[t]);
        for (int t = 0; m.has_subset && t < 3; t++)
            set_real(o, "Recall_subset@%d", seize_cirr_subset_ks[t], m.recall_subset[t]);
        json_object_set_new(o, "queries", json_integer((json_int_t)m.n_queries));
    }
    seize_predictions_free(p);
    seize_predictions_free(s);
    seize_dataset_free(ds);
    return rc;
}

// FashionIQ category from "…/cap.<cat>.<split>.json".
static char *category_of(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    if (!strncmp(b, "cap.", 4)) b += 4;
    const char *e = strchr(b, '.');
    size_t n = e ? (size_t)(e - b) : strlen(b);
    char *s = seize_malloc(n + 1, 1);
    if (s) {
        memcpy(s, b, n);
        s[n] = 0;
    }
    return s;
}

static int fiq_one(const seize_eval_files *f, json_t *o, double *s10, double *s50)
{
    if (f->predictions || f->subset_predictions || !f->rankings)
        return seize_error(SEIZE_EINVAL, "fashioniq takes rankings only");
    seize_dataset *ds = NULL;
    seize_predictions *p = NULL;
    seize_fiq_metrics m;
    char *cat = f->category ? seize_strdup(f->category) : category_of(f->annotations);
    int rc = cat ? 0 : SEIZE_ENOMEM;
    if (rc == 0) rc = seize_dataset_load(SEIZE_DS_FASHIONIQ, f->annotations, &ds);
    if (rc == 0) rc = seize_predictions_load_rankings(ds, f->rankings, "ranking", &p);
    if (rc == 0) rc = seize_eval_fashioniq(ds, p, &m);
    if (rc == 0) {
        *s10 += m.r10;
        *s50 += m.r50;
        json_object_set_new(o, cat,
                            json_pack("{s:f, s:f, s:I}", "R@10", m.r10, "R@50", m.r50, "queries",
                                      (json_int_t)m.n_queries));
    }
    free(cat);
    seize_predictions_free(p);
    seize_dataset_free(ds);
    return rc;
}

static int fiq_json(const seize_eval_files *f, size_t n, json_t *o)
{
    double s10 = 0, s50 = 0, d = (double)n;
    for (size_t c = 0; c < n; c++) {
        int rc = fiq_one(&f[c], o, &s10, &s50);
        if (rc < 0) return rc;
    }
    json_object_set_new(o, "average",
                        json_pack("{s:f, s:f, s:f}", "R@10", s10 / d, "R@50", s50 / d, "mean",
                                  (s10 + s50) / (2 * d)));
    return 0;
}

int seize_eval_files_set(seize_ds_kind kind, const char *const *annotations, size_t n_annotations,
                         const char *const *rankings, size_t n_rankings,
                         const char *const *categories, size_t n_categories,
                         const char *predictions, const char *subset_predictions,
                         const char *const *names, seize_eval_files *f)
{
    static const char *const words[] = {"annotations", "rankings", "category", "predictions",
                                        "subset predictions"};
    const char *const *w = names ? names : words, *name = seize_ds_kind_name(kind);
    if (!n_annotations) return seize_error(SEIZE_EINVAL, "%s is required", w[0]);
    if (kind == SEIZE_DS_FASHIONIQ) {
        if (predictions || subset_predictions)
            return seize_error(SEIZE_EINVAL, "%s takes %s only", name, w[1]);
        if (n_rankings != n_annotations)
            return seize_error(SEIZE_EINVAL, "%s needs one %s per %s", name, w[1], w[0]);
        if (n_categories && n_categories != n_annotations)
            return seize_error(SEIZE_EINVAL, "give %s once per %s or not at all", w[2], w[0]);
        for (size_t i = 0; i < n_annotations; i++)
            f[i] = (seize_eval_files){annotations[i], NULL, rankings[i], NULL,
                                      n_categories ? categories[i] : NULL};
        return 0;
    }
    if (n_annotations > 1 || n_rankings > 1)
        return seize_error(SEIZE_EINVAL, "give one %s and one %s or %s", w[0], w[3], w[1]);
    if (!!predictions + !!n_rankings != 1)
        return seize_error(SEIZE_EINVAL, "give exactly one of %s and %s", w[3], w[1]);
    if (subset_predictions && kind != SEIZE_DS_CIRR)
        return seize_error(SEIZE_EINVAL, "%s is for cirr", w[4]);
    if (n_categories) return seize_error(SEIZE_EINVAL, "%s is for fashioniq", w[2]);
    f[0] = (seize_eval_files){annotations[0], predictions, n_rankings ? rankings[0] : NULL,
                              subset_predictions, NULL};
    return 0;
}

int seize_eval_metrics(seize_ds_kind kind, const seize_eval_files *f, size_t n, json_t **out)
{
    *out = NULL;
    if (n == 0 || (kind != SEIZE_DS_FASHIONIQ && n != 1))
        return seize_error(SEIZE_EINVAL, "%s takes %s", seize_ds_kind_name(kind),
                           kind == SEIZE_DS_FASHIONIQ ? "one or more annotation files"
                                                      : "one annotation file");
    if (kind != SEIZE_DS_CIRR && f->subset_predictions)
        return seize_error(SEIZE_EINVAL, "subset predictions are for cirr");
    json_t *o = json_object();
    if (!o) return seize_error(SEIZE_ENOMEM, "out of memory");
    int rc = kind == SEIZE_DS_CIRCO  ? circo_json(f, o)
             : kind == SEIZE_DS_CIRR ? cirr_json(f, o)
                                     : fiq_json(f, n, o);
    if (rc < 0)
        json_decref(o);
    else
        *out = o;
    return rc;
}

char *seize_eval_metrics_dump(const json_t *m)
{
    return json_dumps(m, METRICS_FLAGS);
}

int seize_eval_metrics_save(const char *path, const json_t *m)
{
    return seize_json_save(path, m, METRICS_FLAGS);
}

// --- submissions from rankings

int seize_submission_from_rankings(seize_ds_kind kind, const char *annotations,
                                   const char *rankings, const char *out, const char *out_subset,
                                   size_t *n_queries)
{
    if (kind == SEIZE_DS_FASHIONIQ)
        return seize_error(SEIZE_EINVAL, "submission files exist for circo and cirr");
    if (out_subset && kind != SEIZE_DS_CIRR)
        return seize_error(SEIZE_EINVAL, "a subset submission is for cirr");
    seize_dataset *ds = NULL;
    seize_predictions *p = NULL, *s = NULL;
    int rc = seize_dataset_load(kind, annotations, &ds);
    if (rc == 0) rc = seize_predictions_load_rankings(ds, rankings, "ranking", &p);
    if (rc == 0 && kind == SEIZE_DS_CIRCO) rc = seize_submission_write_circo(ds, p, out);
    if (rc == 0 && kind == SEIZE_DS_CIRR) {
        if (out_subset) rc = seize_predictions_load_rankings(ds, rankings, "subset", &s);
        if (rc == 0) rc = seize_submission_write_cirr(ds, p, 0, out);
        if (rc == 0 && out_subset) rc = seize_submission_write_cirr(ds, s, 1, out_subset);
    }
    if (rc == 0 && n_queries) *n_queries = ds->n;
    seize_predictions_free(p);
    seize_predictions_free(s);
    seize_dataset_free(ds);
    return rc;
}

// --- the text table

typedef struct text {
    char *s;
    size_t len, cap;
    int oom;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (t->oom || n < 0) return;
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = (t->len + (size_t)n + 1) * 2;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->oom = 1;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

static double num(const json_t *o, const char *fmt, int k)
{
    char key[40];
    snprintf(key, sizeof key, fmt, k);
    return json_real_value(json_object_get(o, key));
}

static void circo_text(text *t, const json_t *m)
{
    add(t, "CIRCO (%lld queries)\n", (long long)json_integer_value(json_object_get(m, "queries")));
    for (int i = 0; i < 4; i++)
        add(t, "mAP@%-2d     %8.4f\n", seize_circo_ks[i], num(m, "mAP@%d", seize_circo_ks[i]));
    for (int i = 0; i < 4; i++)
        add(t, "Recall@%-2d  %8.4f\n", seize_circo_ks[i], num(m, "Recall@%d", seize_circo_ks[i]));
    add(t, "semantic mAP@10:\n");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(m, "semantic_mAP@10"), k, v)
        add(t, "  %-30s %8.4f\n", k, json_real_value(v));
}

static void cirr_text(text *t, const json_t *m)
{
    add(t, "CIRR (%lld queries)\n", (long long)json_integer_value(json_object_get(m, "queries")));
    for (int i = 0; i < 4; i++)
        add(t, "Recall@%-2d         %8.4f\n", seize_cirr_ks[i],
            num(m, "Recall@%d", seize_cirr_ks[i]));
    for (int i = 0; json_object_get(m, "Recall_subset@1") && i < 3; i++)
        add(t, "Recall_subset@%d    %8.4f\n", seize_cirr_subset_ks[i],
            num(m, "Recall_subset@%d", seize_cirr_subset_ks[i]));
}

static void fiq_text(text *t, const json_t *m)
{
    add(t, "FashionIQ\n%-12s %8s %8s %8s\n", "category", "R@10", "R@50", "mean");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)m, k, v)
    {
        double r10 = json_real_value(json_object_get(v, "R@10"));
        double r50 = json_real_value(json_object_get(v, "R@50"));
        add(t, "%-12s %8.4f %8.4f %8.4f\n", k, r10, r50, (r10 + r50) / 2);
    }
}

char *seize_eval_metrics_text(seize_ds_kind kind, const json_t *m)
{
    text t = {0};
    if (kind == SEIZE_DS_CIRCO)
        circo_text(&t, m);
    else if (kind == SEIZE_DS_CIRR)
        cirr_text(&t, m);
    else
        fiq_text(&t, m);
    if (t.oom || !t.s) {
        free(t.s);
        return NULL;
    }
    return t.s;
}
