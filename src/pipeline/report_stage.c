// Stage 6 of a run: report.html (per job), from the rankings, the edits, the metrics and the
// images that failed.
#include "report.h"
#include "run_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Numbers of a metrics object, flattened ("dress R@10"), into the page.
static void flatten_metrics(json_t *m, const char *prefix, report_page *pg)
{
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v)
    {
        char *name = prefix ? pl_fmt("%s %s", prefix, k) : pl_fmt("%s", k);
        if (json_is_object(v))
            flatten_metrics(v, name, pg);
        else if (json_is_number(v) && strcmp(k, "queries") && pg->n_metrics < REPORT_MAX_METRICS) {
            pg->metric_names[pg->n_metrics] = name;
            pg->metric_values[pg->n_metrics++] = json_number_value(v);
            name = NULL;
        }
        free(name);
    }
}

// Where the target ranked (the best-ranked ground truth), also beyond the shown top k.
static void target_rank(const job *j, size_t q, json_t *rank, report_query *x)
{
    const seize_query *dq = j->ds ? &j->ds->q[q] : NULL;
    x->target_name = j->q_target[q];
    x->target_rank = SIZE_MAX;
    x->ranking_length = json_array_size(rank);
    for (size_t i = 0; i < json_array_size(rank) && x->target_rank == SIZE_MAX; i++) {
        const char *nm = json_string_value(json_array_get(rank, i));
        if (!nm) continue;
        if (dq) {
            for (size_t g = 0; g < dq->n_gt; g++)
                if (!strcmp(dq->gt[g], nm)) {
                    x->target_rank = i + 1;
                    x->target_name = dq->gt[g];
                }
        } else if (!strcmp(j->q_target[q], nm)) {
            x->target_rank = i + 1;
        }
    }
}

// Query q of the page from its rankings row and edits row (strings borrowed from them). 0 or
// SEIZE_ENOMEM (what was allocated is in *x, for free_queries).
static int fill_query(pl_run *r, const job *j, size_t q, json_t *row, json_t *e, report_query *x)
{
    const run_opts *o = &r->o;
    json_t *rank = json_object_get(row, "ranking"), *scores = json_object_get(row, "scores");
    json_t *caps = json_object_get(e, "captions"), *edits = json_object_get(e, "edited");
    x->id = j->q_id[q];
    x->ref_name = j->q_ref_name[q];
    x->ref_path = j->q_ref_path[q];
    x->relative_text = j->q_text[q];
    x->n_captions = json_array_size(caps) < (size_t)o->num_captions ? json_array_size(caps)
                                                                    : (size_t)o->num_captions;
    const char **cv = calloc(x->n_captions + 1, sizeof *cv),
               **ev = calloc(x->n_captions + 1, sizeof *ev);
    x->captions = cv;
    x->edits = ev;
    if (!cv || !ev) return seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t i = 0; i < x->n_captions; i++) {
        cv[i] = json_string_value(json_array_get(caps, i));
        ev[i] = json_string_value(json_array_get(edits, i));
    }
    x->k =
        json_array_size(rank) < (size_t)o->report_k ? json_array_size(rank) : (size_t)o->report_k;
    const char **tn = calloc(x->k + 1, sizeof *tn), **tp = calloc(x->k + 1, sizeof *tp);
    float *ts = calloc(x->k + 1, sizeof *ts);
    uint8_t *gt = calloc(x->k + 1, 1);
    x->top_names = tn;
    x->top_paths = tp;
    x->top_scores = ts;
    x->top_gt = gt;
    if (!tn || !tp || !ts || !gt) return seize_error(SEIZE_ENOMEM, "out of memory");
    const seize_query *dq = j->ds ? &j->ds->q[q] : NULL;
    for (size_t i = 0; i < x->k; i++) {
        tn[i] = json_string_value(json_array_get(rank, i));
        size_t row_i = tn[i] ? pl_name_row(j, tn[i]) : SIZE_MAX;
        tp[i] = row_i == SIZE_MAX ? NULL : j->g_paths[row_i];
        ts[i] = (float)json_number_value(json_array_get(scores, i));
        if (dq && tn[i]) {
            for (size_t g = 0; g < dq->n_gt; g++)
                if (!strcmp(dq->gt[g], tn[i])) gt[i] = 1;
        } else if (j->q_target[q] && tn[i]) {
            gt[i] = !strcmp(j->q_target[q], tn[i]);
        }
    }
    if (j->q_target[q]) target_rank(j, q, rank, x);
    x->has_gt = j->q_target[q] != NULL;
    return 0;
}

static void free_queries(report_query *qs, size_t n)
{
    for (size_t q = 0; qs && q < n; q++) {
        free((void *)qs[q].captions);
        free((void *)qs[q].edits);
        free((void *)qs[q].top_names);
        free((void *)qs[q].top_paths);
        free((void *)qs[q].top_scores);
        free((void *)qs[q].top_gt);
    }
    free(qs);
}

// The page around the queries: title, summary, metrics (from `mp`), failed images; writes it.
static int write_page(pl_run *r, const job *j, const char *out, const char *mp, json_t *failed,
                      const report_query *qs, size_t n)
{
    const run_opts *o = &r->o;
    int has_gt = 0;
    for (size_t q = 0; q < j->n_q; q++)
        has_gt |= j->q_target[q] != NULL;
    report_page pg;
    memset(&pg, 0, sizeof pg);
    const char *ds = j->folder ? "folder" : seize_ds_kind_name(j->kind);
    char *jname = j->kind == SEIZE_DS_FASHIONIQ && !j->folder ? pl_fmt("fashioniq %s", j->name)
                                                              : pl_fmt("%s", ds);
    pg.title =
        pl_fmt("%s %s — %s", jname, j->folder ? (has_gt ? "with targets" : "queries") : o->split,
               o->user_out ? o->user_out : o->out_dir);
    free(jname);
    pg.summary = pl_fmt(
        "model %s (sha256 %.12s, %s)\nmethod %s, pos %.4g, neg %.4g, %d captions per "
        "query\n%zu queries, %zu gallery images%s",
        o->model_dir, r->model_sha, seize_precision_name(o->precision), o->method, o->pos, o->neg,
        o->num_captions, j->n_q, j->gl->n, n < j->n_q ? " (the first ones shown)" : "");
    pg.has_gt = has_gt;
    json_t *mj = NULL;
    if (seize_path_exists(mp) && seize_json_load(mp, &mj) == 0 && json_is_object(mj))
        flatten_metrics(mj, NULL, &pg);
    json_decref(mj);
    pg.n_failed = json_array_size(failed);
    pg.failed_names = calloc(pg.n_failed + 1, sizeof *pg.failed_names);
    pg.failed_reasons = calloc(pg.n_failed + 1, sizeof *pg.failed_reasons);
    int rc = pg.failed_names && pg.failed_reasons ? 0 : seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < pg.n_failed; i++) {
        pg.failed_names[i] = json_string_value(json_object_get(json_array_get(failed, i), "item"));
        pg.failed_reasons[i] =
            json_string_value(json_object_get(json_array_get(failed, i), "error"));
    }
    if (rc == 0) rc = pl_report_write(out, &pg, qs, n, 128);
    free((void *)pg.title);
    free((void *)pg.summary);
    for (size_t i = 0; i < pg.n_metrics; i++)
        free((void *)pg.metric_names[i]);
    free((void *)pg.failed_names);
    free((void *)pg.failed_reasons);
    return rc;
}

static int build_report(pl_run *r, job *j, const char *out, const char *mp, json_t *failed)
{
    json_t *rows = NULL, *eds = NULL;
    char *rk = pl_join(j->dir, "rankings.jsonl"), *ed = pl_join(j->dir, "edits.jsonl");
    int rc = seize_jsonl_load(rk, &rows);
    if (rc == 0) rc = seize_jsonl_load(ed, &eds);
    size_t n = j->n_q < (size_t)r->o.report_queries ? j->n_q : (size_t)r->o.report_queries;
    report_query *qs = calloc(n + 1, sizeof *qs);
    if (rc == 0 && !qs) rc = seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t q = 0; rc == 0 && q < n; q++)
        rc = fill_query(r, j, q, json_array_get(rows, q), json_array_get(eds, q), &qs[q]);
    if (rc == 0) rc = write_page(r, j, out, mp, failed, qs, n);
    free_queries(qs, n);
    json_decref(rows);
    json_decref(eds);
    free(rk);
    free(ed);
    return rc;
}

typedef struct report_ctx {
    job *j;
    const char *out, *mp; // report.html, the metrics shown
    json_t *failed;       // the job's failed images
} report_ctx;

static int run_report(pl_run *r, void *ctx, int fresh, json_t **by)
{
    (void)fresh, (void)by;
    const report_ctx *c = ctx;
    return build_report(r, c->j, c->out, c->mp, c->failed);
}

int pl_stage_report(pl_run *r, job *j)
{
    const run_opts *o = &r->o;
    double t0 = seize_now();
    char *out = pl_join(j->dir, "report.html");
    // the metrics shown: the job's own, else (FashionIQ) the run's over its categories
    char *mp = pl_join(j->dir, "metrics.json");
    if (!seize_path_exists(mp)) {
        free(mp);
        mp = pl_join(o->out_dir, "metrics.json");
    }
    // the images that failed, for this job
    json_t *failed = json_array(), *fv;
    size_t fi;
    int rc = failed ? 0 : seize_error(SEIZE_ENOMEM, "out of memory");
    json_array_foreach(r->failed, fi, fv)
    {
        if (!strcmp(json_string_value(json_object_get(fv, "job")), j->name))
            json_array_append(failed, fv);
    }
    seize_sha256 h;
    seize_sha256_init(&h);
    pl_key_str(&h, "report/2");
    pl_key_str(&h, j->key_search);
    pl_key_str(&h, j->key_edits);
    pl_key_str(&h, o->out_dir);
    pl_key_num(&h, o->report_queries);
    pl_key_num(&h, o->report_k);
    if (rc == 0) rc = pl_key_file(&h, mp, 1);
    char *fd = json_dumps(failed, JSON_COMPACT);
    pl_key_str(&h, fd ? fd : "");
    free(fd);
    char *key = pl_key_final(&h);
    const char *outs[] = {out, NULL};
    report_ctx c = {j, out, mp, failed};
    pl_step s = {j->name, "report", NULL, key, outs, run_report, &c};
    rc = pl_step_run(r, &s, rc, t0, NULL);
    json_decref(failed);
    free(key);
    free(mp);
    free(out);
    return rc;
}
