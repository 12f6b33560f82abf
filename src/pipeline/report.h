/*
 * src/pipeline/report.h — the HTML report of a run (report.html), private to src/pipeline/.
 */
#ifndef SEIZE_PIPELINE_REPORT_H
#define SEIZE_PIPELINE_REPORT_H

#include <stddef.h>
#include <stdint.h>

/* One query shown in the report. Paths are image files (NULL or unreadable: a placeholder). */
typedef struct report_query {
    const char *id;
    const char *ref_name, *ref_path;
    const char *relative_text;
    const char *const *captions, *const *edits;
    size_t n_captions; /* captions[i] and edits[i] (edits may be NULL) */
    const char *const *top_names, *const *top_paths;
    const float *top_scores;
    const uint8_t *top_gt; /* 1 where the ranked image is a ground truth; may be NULL */
    size_t k;
    int has_gt; /* the query has ground truth (a target) */
    /* where the target (the best-ranked ground truth) is in the whole ranking: 1-based rank,
     * SIZE_MAX when it is not among the ranking_length images ranked; 0 when there is no target */
    const char *target_name;
    size_t target_rank, ranking_length;
} report_query;

#define REPORT_MAX_METRICS 64

/* The page around the queries. Strings are plain text. */
typedef struct report_page {
    const char *title;   /* e.g. "circo val — runs/x" */
    const char *summary; /* model, method, counts */
    const char *metric_names[REPORT_MAX_METRICS];
    double metric_values[REPORT_MAX_METRICS];
    size_t n_metrics; /* none: no metrics section */
    const char **failed_names, **failed_reasons;
    size_t n_failed; /* the images that failed, with why */
    int has_gt;      /* some query has ground truth: the legend is shown */
} report_page;

/* Writes a self-contained HTML page (thumbnails embedded as JPEG data URLs) atomically.
 * Images that cannot be decoded are shown as a placeholder naming the file; names wrap after
 * '/'. Returns 0 or a SEIZE_E* code (message set). */
int pl_report_write(const char *path, const report_page *page, const report_query *queries,
                    size_t n_queries, int thumb_size);

#endif
