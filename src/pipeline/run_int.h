/*
 * src/pipeline/run_int.h — the pieces of seize_run (private to src/pipeline/).
 *
 * A run (pl_run) holds the settings (run_opts: the parameters with absolute paths and the
 * dataset's defaults applied), the stage cache (.seize-cache.json) and what the manifest
 * collects. It is split into jobs: one benchmark split, one FashionIQ category or the folder,
 * each processed in its own folder (run folder, or <run folder>/<category>).
 */
#ifndef SEIZE_PIPELINE_RUN_INT_H
#define SEIZE_PIPELINE_RUN_INT_H

#include "seize/core.h"
#include "seize/data.h"
#include "seize/pipeline.h"

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct pl_stage_ops;

// The parameters as the stages use them: paths absolute, defaults applied.
typedef struct run_opts {
    const char *dataset, *data_root, *split, *model_dir, *out_dir;
    const char *gallery_dir, *queries_file, *captions_file, *category;
    const char *cap_endpoint, *cap_model, *llm_endpoint, *llm_model, *cap_prompt, *prompt_file;
    const char *temperature, *top_p, *seed, *concurrency, *timeout, *max_attempts, *fiq_join;
    const char *backoff_base;
    const char *cap_dir; // the native captioner's model folder (or NULL)
    const char *user_gallery, *user_queries, *user_out; // as given (for messages)
    const char *method;
    double pos, neg;
    int num_captions, k, batch, threads, no_pad;
    int report_queries, report_k, restart;
    seize_precision precision; // of the CLIP products (index build, query features)
} run_opts;

typedef struct pl_run {
    run_opts o;
    const seize_run_params *p; // the caller's (events, cancellation, command)
    const struct pl_stage_ops *ops;
    json_t *cache; // RUN_DIR/.seize-cache.json: stage keys and the model hash
    json_t *stages, *failed;
    char model_sha[65];
    int partial;     // some items failed (exit 3)
    int wrote;       // some stage ran (wrote files); a fully cached run writes nothing
    int permanent;   // the error is a bad input file: no rerun can fix it
    char *owned[16]; // absolute paths made from the parameters
    int n_owned;
    char at_job[64], at_stage[32]; // the stage begun last (pl_begin_stage), for its progress
} pl_run;

// One benchmark split (one FashionIQ category) or the folder, processed in `dir`.
typedef struct job {
    const char *name; // "circo", "cirr", "dress", "folder"
    char *dir, *captions_file;
    seize_layout layout; // annotations, gallery_list, image_root
    seize_ds_kind kind;
    int folder;
    seize_dataset *ds; // NULL for folder
    seize_gallery_list *gl;
    seize_strmap by_name; // gallery name -> row (keys borrowed from gl)
    // queries (from the dataset or the folder's JSONL)
    size_t n_q;
    char **q_id, **q_ref_name, **q_ref_path, **q_text, **q_target;
    size_t *q_ref_row;  // gallery row of the reference, SIZE_MAX if not in the gallery
    char **g_paths;     // absolute gallery paths
    uint8_t *g_missing; // 1 where the gallery image file does not exist (left out of the index)
    size_t n_g_missing;
    char *key_captions, *key_edits, *key_index, *key_features, *key_search;
} job;

// --- util.c: strings, files, events ---
// Heap strings; out of memory is an invariant failure here (tiny strings), not an exit.
char *pl_join(const char *a, const char *b);
char *pl_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
// A path as the user meant it (relative: from the current folder), without trailing '/'.
// Heap string, or NULL with the message set.
char *pl_absolute_path(const char *p);
void pl_say(pl_run *r, const char *f, ...) __attribute__((format(printf, 2, 3)));
void pl_warn(pl_run *r, const char *f, ...) __attribute__((format(printf, 2, 3)));
// A stage line (event and manifest "stages" entry); `counts` stolen, may be NULL.
void pl_stage_log(pl_run *r, const char *job, const char *stage, const char *status, double seconds,
                  json_t *counts);
// How far the stage begun last is (a PROGRESS event; none when the run is quiet).
void pl_progress(pl_run *r, size_t done, size_t total, size_t errors);
// The same from an LLM stage call (a seize_stage_progress_fn; `user` is the pl_run): what its
// journal held is left out.
void pl_llm_progress(void *user, const seize_stage_progress *p);
// An LLM stage's request summary (an INFO event), after its call.
void pl_llm_summary(pl_run *r, const struct seize_llm_stats *st);
int pl_write_lines(const char *path, char *const *lines, size_t n);
int pl_write_jsonl(const char *path, json_t *rows);
json_t *pl_str_array(char **v, size_t n);
// Removes a file; a warning event when it exists and cannot be removed.
void pl_discard(pl_run *r, const char *path);
// 1 when the run was asked to stop.
int pl_cancelled(const pl_run *r);

// --- cache.c: stage keys, .seize-cache.json, what produced each output ---
// Key material: length-prefixed strings into a SHA-256 (NULL is its own value).
void pl_key_str(seize_sha256 *h, const char *s);
void pl_key_num(seize_sha256 *h, double v);
// A file's identity: its content hash (content), else path, size and mtime; absent: "missing".
int pl_key_file(seize_sha256 *h, const char *path, int content);
char *pl_key_final(seize_sha256 *h); // hex digest, heap
int pl_save_cache(pl_run *r);
// Loads RUN_DIR/.seize-cache.json (an empty object when absent or unreadable).
void pl_load_cache(pl_run *r);
// Whether a stage can be skipped: its key is recorded and every output (NULL-ended) exists.
int pl_cached(pl_run *r, const char *stage, const char *key, const char *const *outputs);
// A stage that must run: records its key as pending; *fresh when it starts from scratch
// (--restart, or its partial state was made with other `settings`; NULL: the key).
int pl_begin_stage(pl_run *r, const char *stage, const char *key, const char *settings, int *fresh);
// A finished stage: its key, and what produced its outputs (`by`, stolen; may be NULL).
int pl_record_key(pl_run *r, const char *stage, const char *key, json_t *by);
// The CLIP weights' SHA-256 into r->model_sha (cached by path, size and mtime).
int pl_model_hash(pl_run *r);
// A URL with any user:password replaced by "***" (heap; NULL for NULL).
char *pl_redact_url(const char *s);
json_t *pl_json_url(const char *s); // the same as JSON (null for NULL)
// The sidecar OUT.settings.json of a stage command when there is one (with `passed` inside as
// "passed_by_run"), else `passed`. `passed` is stolen.
json_t *pl_producer(const char *out, json_t *passed);

// --- jobs.c, validate.c: datasets and folders ---
int pl_setup_dataset_job(pl_run *r, job *j, const char *category);
int pl_setup_folder_job(pl_run *r, job *j);
int pl_validate_job(pl_run *r, job *j);
void pl_job_free(job *j);
size_t pl_name_row(const job *j, const char *name); // SIZE_MAX when not a gallery name
int pl_alloc_queries(job *j, size_t n);
// Why a user's image cannot be used (static string), NULL when it starts like a JPEG or PNG.
const char *pl_image_problem(const char *path, int *missing);

// --- stages.c: running a stage ---
// One stage of a job, decided by its key: cached (the key recorded in the cache entry
// "JOB/ENTRY" and every output there): a "cached" line; else pl_begin_stage, run() (`fresh`
// from pl_begin_stage; it may put what produced the outputs in *by), pl_record_key and a "ran"
// or "failed" line with `counts`.
typedef struct pl_step {
    const char *job, *name; // the stage line's ("circo", "metrics")
    const char *entry;      // the cache entry's stage ("results"); NULL: name
    const char *key;
    const char *const *outputs; // NULL-ended
    int (*run)(pl_run *r, void *ctx, int fresh, json_t **by);
    void *ctx;
} pl_step;
// `rc` < 0 (the key could not be made): a "failed" line, nothing run. `counts` stolen (may be
// NULL). Returns 0 or the first error.
int pl_step_run(pl_run *r, const pl_step *s, int rc, double t0, json_t *counts);

// --- stage_captions.c, stages.c, report_stage.c: the stages ---
int pl_stage_captions(pl_run *r, job *j);
int pl_stage_index(pl_run *r, job *j);
int pl_stage_features(pl_run *r, job *j);
int pl_stage_search(pl_run *r, job *j);
int pl_stage_results(pl_run *r, job *j);
int pl_fiq_metrics(pl_run *r, job *jobs, size_t n_jobs);
int pl_stage_report(pl_run *r, job *j);

// --- manifest.c ---
json_t *pl_params_json(const run_opts *o);
// Writes RUN_DIR/manifest.json unless the run wrote nothing and one exists. 0 or an error.
int pl_write_manifest(pl_run *r, int rc, const char *error, double seconds);

// --- run.c: the run folder's lock ---
int pl_lock_run_dir(const char *dir, int *fd_out);

#endif
