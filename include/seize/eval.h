/*
 * seize/eval.h — benchmark metrics, predictions, submission files and their checks
 * (ARCHITECTURE.md §6).
 *
 *     seize_dataset *ds;  seize_dataset_load(SEIZE_DS_CIRCO, "val.json", &ds);
 *     seize_predictions *p;
 *     if (seize_predictions_load_json(ds, "submission.json", &p) < 0) { ...seize_errmsg()... }
 *     seize_circo_metrics m;
 *     if (seize_eval_circo(ds, p, &m) == 0) printf("mAP@10 %.2f\n", m.map[1]);
 *     seize_circo_metrics_release(&m);
 *     seize_predictions_free(p);
 *
 * All metrics are percentages (×100), computed as the official code does:
 *  CIRCO: prec_i = hits in the top i / i, AP@k = Σ_{i≤k} prec_i·rel_i / min(|gt|, k) with
 *         rel_i = prediction i is one of gt_img_ids; mAP@k the mean over queries (k = 5, 10,
 *         25, 50); Recall@k = target_img_id within the top k; semantic mAP@10 per aspect = mean
 *         AP@10 over the queries having that aspect.
 *  CIRR:  Recall@k (k = 1, 5, 10, 50) = target_hard within the top k of the global ranking;
 *         Recall_subset@k (k = 1, 2, 3) the same within the subset ranking.
 *  FashionIQ: R@10, R@50 = target within the top k.
 */
#ifndef SEIZE_EVAL_H
#define SEIZE_EVAL_H

#include "seize/data.h"
#include "seize/retrieval.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- predictions ------------------------------------------------------------------------- */

/* Ranked gallery names for each query of a dataset, aligned with ds->q (items[i] holds
 * n_items[i] names for query i). */
typedef struct seize_predictions {
    size_t n;
    char ***items;
    size_t *n_items;
    char *metric; /* the CIRR "metric" field when the file had one, else NULL */
} seize_predictions;

/* Reads a submission-style JSON object {query id: [names...]} (CIRCO test/val submissions, CIRR
 * files; the CIRR "version" and "metric" fields are read and skipped). Names may be strings or
 * integers. Errors (SEIZE_EFORMAT, naming the file and the query): a duplicate id, a query of
 * the dataset that is missing, an id that is not in the dataset, a value that is not a list. */
int seize_predictions_load_json(const seize_dataset *ds, const char *path, seize_predictions **out);
int seize_predictions_parse_json(const seize_dataset *ds, const char *text, size_t len,
                                 const char *name, seize_predictions **out);
/* Reads the rankings of seize search (JSON Lines {"query": i, "ranking": [...], ...}) where i
 * is the query's position in the dataset, with seize_rankings_read (seize/retrieval.h: the
 * format and every error, each naming the file and line). `field` selects the list ("ranking"
 * or "subset"). */
int seize_predictions_load_rankings(const seize_dataset *ds, const char *path, const char *field,
                                    seize_predictions **out);
void seize_predictions_free(seize_predictions *p);

/* --- metrics ----------------------------------------------------------------------------- */

typedef struct seize_circo_metrics {
    double map[4];    /* mAP@5, @10, @25, @50 */
    double recall[4]; /* Recall@5, @10, @25, @50 */
    size_t n_aspects;
    char **aspects; /* aspect names: the official order first, then others as met */
    double *semantic_map10;
    size_t n_queries;
} seize_circo_metrics;
extern const int seize_circo_ks[4]; /* 5, 10, 25, 50 */

/* Needs ground truth (a val split). A query whose predictions repeat a name is rejected
 * (SEIZE_EFORMAT), as the official code does. */
int seize_eval_circo(const seize_dataset *ds, const seize_predictions *p, seize_circo_metrics *out);
void seize_circo_metrics_release(seize_circo_metrics *m);

typedef struct seize_cirr_metrics {
    double recall[4];        /* Recall@1, @5, @10, @50 */
    double recall_subset[3]; /* Recall_subset@1, @2, @3 (valid when has_subset) */
    int has_subset;
    size_t n_queries;
} seize_cirr_metrics;
extern const int seize_cirr_ks[4];        /* 1, 5, 10, 50 */
extern const int seize_cirr_subset_ks[3]; /* 1, 2, 3 */
/* `subset` may be NULL (then has_subset = 0). */
int seize_eval_cirr(const seize_dataset *ds, const seize_predictions *p,
                    const seize_predictions *subset, seize_cirr_metrics *out);

typedef struct seize_fiq_metrics {
    double r10, r50;
    size_t n_queries;
} seize_fiq_metrics;
int seize_eval_fashioniq(const seize_dataset *ds, const seize_predictions *p,
                         seize_fiq_metrics *out);

/* Recall@k of ranked lists against targets, the one Recall@k of the library (CIRR and
 * FashionIQ use it; a folder run's metrics too): out[t] = 100 × (queries whose target is among
 * the first ks[t] names of items[q]) / (queries with a target). Queries whose targets[q] is
 * NULL are not counted; *n_counted (may be NULL) receives how many were. Lists may be shorter
 * than k. With no query counted every out[t] is 0. Thread-safe. */
void seize_eval_recall(char **const *items, const size_t *n_items, const char *const *targets,
                       size_t n, const int *ks, size_t n_ks, double *out, size_t *n_counted);

/* --- metrics as JSON (seize eval --json, a run's metrics.json) --------------------------- */

/* One annotation file and what to score against it. */
typedef struct seize_eval_files {
    const char *annotations;        /* the official file (a split with ground truth) */
    const char *predictions;        /* submission-style JSON (CIRCO, CIRR), or NULL */
    const char *rankings;           /* seize search rankings, or NULL; exactly one of the two */
    const char *subset_predictions; /* CIRR: a recall_subset file; NULL: the rankings' "subset"
                                       lists when their first row has one */
    const char *category;           /* FashionIQ: the category; NULL: from the file name
                                       cap.<category>.<split>.json */
} seize_eval_files;

/* The file sets of one evaluation from lists of files, in f (n_annotations entries): FashionIQ
 * pairs each annotations file with a rankings file (same count) and a category (categories
 * given once per annotations file, or none: from the file names), and takes no predictions;
 * CIRCO and CIRR take one annotations file and exactly one of predictions and rankings, subset
 * predictions for CIRR only. 0, or SEIZE_EINVAL saying what is wrong (f untouched), the
 * inputs called by names[0..4] (annotations, rankings, category, predictions, subset
 * predictions: a CLI passes its option names) or, names NULL, by those words. */
int seize_eval_files_set(seize_ds_kind kind, const char *const *annotations, size_t n_annotations,
                         const char *const *rankings, size_t n_rankings,
                         const char *const *categories, size_t n_categories,
                         const char *predictions, const char *subset_predictions,
                         const char *const *names, seize_eval_files *f);

/* The metrics object of `seize eval --json`, keys in this order:
 *   circo:     "mAP@5".."mAP@50", "Recall@5".."Recall@50", "semantic_mAP@10": {aspect: value},
 *              "queries"
 *   cirr:      "Recall@1".."Recall@50", ["Recall_subset@1".."@3"], "queries"
 *   fashioniq: {category: {"R@10", "R@50", "queries"}} per file, then
 *              "average": {"R@10", "R@50", "mean"}
 * CIRCO and CIRR take n = 1 file, FashionIQ n ≥ 1 (rankings only). *out (a new jansson
 * reference, NULL on error). Errors: SEIZE_EINVAL for files that do not fit the benchmark, and
 * those of seize_dataset_load, the predictions' loaders and seize_eval_*. Thread-safe. */
int seize_eval_metrics(seize_ds_kind kind, const seize_eval_files *f, size_t n,
                       struct json_t **out);
/* The object as seize eval --json prints it (indent 1, keys in order, 17 digits; no final
 * newline): a heap string, NULL when out of memory. */
char *seize_eval_metrics_dump(const struct json_t *m);
/* Writes that text and a newline to `path`, atomically. */
int seize_eval_metrics_save(const char *path, const struct json_t *m);
/* The plain-text table of seize eval for the same object (heap string ending with a newline,
 * NULL when out of memory). */
char *seize_eval_metrics_text(seize_ds_kind kind, const struct json_t *m);

/* --- submissions ------------------------------------------------------------------------- */

/* CIRCO test submission: {"<query id>": ["<image id>" × 50], ...}; needs 50 unique names per
 * query, none of them the reference. Written atomically. */
int seize_submission_write_circo(const seize_dataset *ds, const seize_predictions *p,
                                 const char *path);
/* CIRR: {"version": "rc2", "metric": "recall", "<pairid>": [50 names]} or with
 * metric "recall_subset" and 3 names. `subset` selects which. */
int seize_submission_write_cirr(const seize_dataset *ds, const seize_predictions *p, int subset,
                                const char *path);

/* The test-server files from seize search rankings (what seize submission and a run's test
 * split write): CIRCO's submission to `out`; CIRR's recall file to `out` and, when
 * `out_subset` is not NULL, the recall_subset file from the rankings' "subset" lists.
 * *n_queries (may be NULL) receives the query count. Errors: SEIZE_EINVAL (FashionIQ, or
 * out_subset for CIRCO), those of seize_dataset_load, seize_predictions_load_rankings and the
 * writers. */
int seize_submission_from_rankings(seize_ds_kind kind, const char *annotations,
                                   const char *rankings, const char *out, const char *out_subset,
                                   size_t *n_queries);

/* Validates a submission file before upload against its annotations: every query present, no
 * unknown or duplicate ids, the expected count per query (CIRCO 50, CIRR recall 50, CIRR
 * recall_subset 3), unique names, the reference absent, CIRR subset names among the query's
 * members, and, when `gallery` is not NULL (n_gallery names), every name in the gallery.
 * Returns 0 when valid; otherwise SEIZE_EFORMAT with a message listing up to 10 problems and
 * their total count. *n_queries (if not NULL) receives the number of queries checked. */
int seize_submission_check(const seize_dataset *ds, const char *path, const char *const *gallery,
                           size_t n_gallery, size_t *n_queries);
/* The same with the annotations (of `kind`: CIRCO or CIRR) and the gallery names (one per line,
 * e.g. an index's names.txt; NULL: not checked) read from files. */
int seize_submission_check_files(seize_ds_kind kind, const char *annotations, const char *path,
                                 const char *gallery, size_t *n_queries);

#ifdef __cplusplus
}
#endif
#endif
