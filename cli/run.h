/*
 * cli/run.h — pieces of `seize run` (cli/cmd_run.c): the HTML report.
 */
#ifndef SEIZE_CLI_RUN_H
#define SEIZE_CLI_RUN_H

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
    int has_gt; /* the split has ground truth (val) */
} report_query;

/* Writes a self-contained HTML page (thumbnails embedded as JPEG data URLs) atomically.
 * `title` and `summary` are plain text. Images that cannot be decoded are shown as a
 * placeholder naming the file. Returns 0 or a SEIZE_E* code (message set). */
int report_write(const char *path, const char *title, const char *summary,
                 const report_query *queries, size_t n_queries, int thumb_size);

#endif
