/*
 * seize/pipeline.h — the whole SEIZE pipeline as one library call: caption → edit → index →
 * query features → search → metrics or submission → report, each stage cached in a run
 * folder by a key of what it depends on (what `seize run` does).
 *
 *     static void on_event(void *user, const seize_run_event *ev)
 *     {
 *         if (ev->level != SEIZE_RUN_PROGRESS) fprintf(stderr, "run: %s\n", ev->message);
 *     }
 *     ...
 *     seize_run_params p = seize_run_default_params();
 *     p.dataset = "circo";
 *     p.data_root = "data/circo";
 *     p.split = "val";
 *     p.model_dir = "models/ViT-L-14";
 *     p.out_dir = "runs/circo-val";
 *     p.captions_file = "data/circo/val_with_captions.jsonl";
 *     p.on_event = on_event;
 *     seize_run_result res;
 *     int rc = seize_run(&p, &res);
 *     if (rc < 0) fprintf(stderr, "error: %s\n", res.error);
 *     else if (res.status == SEIZE_RUN_PARTIAL) fprintf(stderr, "some items failed\n");
 *
 * The run folder (out_dir) receives captions.jsonl, edits.jsonl, index/, rankings.jsonl,
 * metrics.json or the submission files, manifest.json and report.html (per FashionIQ category
 * in a subfolder), and .seize-cache.json with the stage keys. One run at a time per folder
 * (an flock on the folder itself: a second run fails at once with SEIZE_EBUSY). A rerun whose
 * stages are all cached writes nothing at all. The query features
 * (seize_query_vectors_encode), the search (seize_search, seize_rankings_write) and the
 * submission files (seize_submission_write_*) are computed in this process; seize_run sets the
 * BLAS thread count for each (one per call for CLIP encoding, the run's threads for the
 * search). Every stage runs in this process (captioning and editing through the
 * OpenAI-compatible seize_captioner and seize_reasoner, the index build through
 * seize_index_build, the metrics through seize_eval_metrics): seize_run starts no process.
 *
 * The library never prints: what a command-line tool would print reaches on_event.
 */
#ifndef SEIZE_PIPELINE_H
#define SEIZE_PIPELINE_H

#include "seize/blip2.h" /* seize_blip2_gen (the native captioner) */
#include "seize/core.h"
#include "seize/model.h" /* seize_precision */
#include "seize/net.h"   /* seize_llm_stats in seize_reason_file_result */

#include <signal.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- events ------------------------------------------------------------------------------ */

typedef enum {
    SEIZE_RUN_INFO = 0,    /* a stage line ("circo: index cached (0.0 s)"), a note, an LLM stage's
                              request summary */
    SEIZE_RUN_WARNING = 1, /* something the user must see also when quiet: images left out, a
                              file that cannot be removed */
    SEIZE_RUN_PROGRESS = 2 /* how far the running stage is (often: a caller that prints lines
                              draws these as one progress line, or skips them) */
} seize_run_level;

struct seize_llm_stats; /* seize/net.h */

/* One event for the user. Strings and pointers are borrowed for the duration of the callback. */
typedef struct seize_run_event {
    seize_run_level level;
    const char *message; /* one line, no newline; e.g. "circo: captions ran (1.2 s)" */
    /* stage lines, progress and summaries (else NULL): the job ("circo", "dress", "folder"),
     * the stage ("captions", "edits", "index", "features", "search", "metrics", "submission",
     * "report"); stage lines only: how it ended ("cached", "ran", "from file", "failed") and
     * its wall time */
    const char *job, *stage, *status;
    double seconds;
    /* PROGRESS: units of the stage's work done of `total` (images for captions and index,
     * caption pairs for edits, texts for features; the LLM stages leave out what their
     * journal already held), and failed attempts or images so far */
    size_t done, total, errors;
    /* an LLM stage's request summary (INFO, after its call; the message says the same as
     * seize_llm_stats_print: "circo captions: 4/4 items complete ..."), else NULL */
    const struct seize_llm_stats *llm;
} seize_run_event;

typedef void (*seize_run_event_fn)(void *user, const seize_run_event *ev);

/* --- cancellation ------------------------------------------------------------------------ */

/* Shared with a signal handler, which asks the run to stop with
 * seize_cancel_request(&c->token, sig) (async-signal-safe, core.h). seize_run stops after the
 * running stage has ended (the LLM stages finish the requests in flight and keep their
 * answers; the index build and the query features stop between batches) and returns
 * SEIZE_ECANCEL with status SEIZE_RUN_CANCELLED; it writes no manifest then.
 * `seize_run_cancel c = {0};` is a run with nothing requested. */
typedef struct seize_run_cancel {
    seize_cancel token; /* the request (level and signal) */
} seize_run_cancel;

/* --- parameters -------------------------------------------------------------------------- */

typedef struct seize_run_params {
    /* what to run: dataset "circo", "cirr", "fashioniq" (data_root and split "val", "test" or
     * "test1" (CIRR's test split; "test" is taken as it), category NULL = all three) or
     * "folder" (gallery_dir and queries_file: JSON Lines {"id", "reference",
     * "relative_text"[, "target"]}). Relative paths are the current folder's. */
    const char *dataset, *data_root, *split, *category;
    const char *gallery_dir, *queries_file;
    const char *model_dir; /* CLIP model folder */
    const char *out_dir;   /* the run folder (made when absent) */
    /* captions and edits: a caption file (for fashioniq "{category}" in it is replaced), or the
     * servers (endpoints are taken as given: the caller applies $OPENAI_BASE_URL) */
    const char *captions_file;
    const char *captioner_endpoint, *captioner_model, *caption_prompt;
    /* or the native BLIP-2 captioner of this folder (instead of captioner_endpoint and _model;
     * caption_prompt, temperature, top_p, seed, num_captions and threads apply, the rest is
     * SEIZE's: top-k 50, 30 new tokens; precision: seize_captioner_blip2_precision(), not the
     * CLIP products' `precision`) */
    const char *captioner_dir;
    const char *llm_endpoint, *llm_model, *prompt_file;
    /* passed to the LLM stages as written (NULL: their defaults; temperature 1.0, top_p 0.9) */
    const char *temperature, *top_p, *seed, *concurrency, *timeout, *max_attempts, *backoff_base;
    const char *fiq_join; /* FashionIQ: text between the two captions (NULL: none) */
    /* retrieval */
    const char *method; /* "seize" (default), "mean" or "ldre" */
    double pos, neg;    /* SEIZE weights; NAN (the default): the dataset's (ARCHITECTURE.md §1) */
    int num_captions;   /* captions per query (15) */
    int k;              /* ranking length (50) */
    int no_pad;         /* 1: plain CLIP preprocessing (default: TargetPad 1.25) */
    int batch, threads; /* encoding batch (32) and threads (0: all cores) */
    /* the CLIP products of the index build and the query features (fp32, 0: exact); recorded
     * in manifest.json, index.json and report.html, and part of those two stages' keys (a
     * change rebuilds them, discarding a partial index of the other precision) */
    seize_precision precision;
    int report_queries; /* queries shown in report.html (10) */
    int report_k;       /* ranked images shown per query (10) */
    int restart;        /* 1: unfinished stages discard their partial state */
    int quiet;          /* 1: no PROGRESS events (the other events still come) */
    /* the command as the user gave it, for manifest.json (endpoints' passwords are redacted);
     * may be NULL */
    const char *const *command;
    int n_command;
    seize_run_event_fn on_event; /* may be NULL */
    void *event_user;
    seize_run_cancel *cancel; /* may be NULL */
} seize_run_params;

/* The defaults above, by value (whisper.cpp style): every pointer NULL, method "seize",
 * pos = neg = NAN, num_captions 15, k 50, batch 32, report_queries 10, report_k 10. */
seize_run_params seize_run_default_params(void);

/* --- running ----------------------------------------------------------------------------- */

typedef enum {
    SEIZE_RUN_OK = 0,       /* every stage done */
    SEIZE_RUN_PARTIAL = 1,  /* done, but some gallery images failed (listed in manifest.json) */
    SEIZE_RUN_FAILED = 2,   /* stopped on an error (res.error; also in manifest.json) */
    SEIZE_RUN_CANCELLED = 3 /* stopped by params.cancel (res.signal) */
} seize_run_status;

typedef struct seize_run_result {
    seize_run_status status;
    int permanent;      /* FAILED on a bad input file (a reference that is not an image): no rerun
                           fixes it (the CLI's exit status 3) */
    int signal;         /* CANCELLED: the signal of the request (seize_cancel_signal), or 0 */
    int wrote;          /* 1 when a stage ran (a fully cached run writes nothing) */
    double seconds;     /* wall time */
    char out_dir[4096]; /* the run folder as an absolute path */
    char error[1024];   /* FAILED: the message (also seize_errmsg()); else "" */
} seize_run_result;

/* Runs the pipeline of `p` into p->out_dir. Checks everything it can before the first request
 * (the dataset's files, every reference image, query ids and targets, the model folder), then
 * runs or reuses each stage, then writes manifest.json (unless nothing was written and one
 * exists). Returns 0 with res->status OK or PARTIAL; SEIZE_ECANCEL (CANCELLED); another
 * SEIZE_E* code (FAILED; SEIZE_EBUSY when another run holds the folder, SEIZE_EINVAL for
 * parameters that do not fit together). Never exits, never prints. Not thread-safe: one run
 * per process at a time (the BLAS thread count and the folder lock are process-wide). */
int seize_run(const seize_run_params *p, seize_run_result *res);

/* --- stage interfaces: captioning and editing --------------------------------------------- */

/* A captioner writes N captions per image (SEIZE step 1); a reasoner writes the edited
 * description of each (caption, relative text) pair (step 2). Each is a table of functions
 * plus an instance pointer, in the style of SQLite's sqlite3_io_methods: the
 * OpenAI-compatible clients below are the first implementations, a native captioner can be
 * another. Journals, resume, retries and their keys stay inside the implementation.
 *
 *     seize_captioner *c;
 *     if (seize_captioner_openai_new(&llm, &copt, &c) < 0) ...
 *     seize_stage_item *res = calloc(n, sizeof *res);
 *     seize_caption_job job = {images, n, 15, on_progress, ctx, &cancel};
 *     int rc = seize_captioner_caption(c, &job, res);   // 0, SEIZE_ENET: some failed, ...
 *     ...res[i].texts or res[i].error...
 *     seize_stage_items_release(res, n);
 *     seize_captioner_free(c);
 */

/* Progress of one call, reported now and then (on the calling thread). */
typedef struct seize_stage_progress {
    size_t total;       /* units of work of the call (images, pairs) */
    size_t done;        /* units done so far, including those taken from a journal */
    size_t done_before; /* of those, taken from a journal (not work of this call) */
    size_t failed;      /* units that failed for good in this call */
    size_t errors;      /* failed attempts so far (retried or not) */
} seize_stage_progress;
typedef void (*seize_stage_progress_fn)(void *user, const seize_stage_progress *p);

/* The outcome of one item: texts when done, else an error. Owned by the caller once
 * returned; release with seize_stage_items_release. */
typedef struct seize_stage_item {
    char **texts; /* captions (N) or the edited description (1), post-processed; NULL when
                     failed or not attempted (a cancelled call) */
    size_t n_texts;
    char *error;          /* why it failed (redacted), NULL when done or not attempted */
    int retryable;        /* failed: 1 when a rerun may fix it (network, server), 0 when the input
                             must change first (not an image, a request the server rejected) */
    struct json_t *extra; /* more members of the item's output line (owned), or NULL: the native
                             captioner's {"tokens": [[ids...], ...]} */
} seize_stage_item;
/* Frees the texts, errors and extras of items[0..n) and zeroes them (not the array). */
void seize_stage_items_release(seize_stage_item *items, size_t n);

typedef struct seize_caption_job {
    const char *const *images; /* image paths (distinct) */
    size_t n;
    size_t n_captions;                   /* captions per image (>= 1) */
    seize_stage_progress_fn on_progress; /* may be NULL */
    void *progress_user;
    const seize_cancel
        *cancel;           /* may be NULL: level 1 finishes the work in flight, 2 abandons it */
    const char *image_dir; /* the folder the images come from (a benchmark's), named in the
                              message about missing files; may be NULL */
} seize_caption_job;

typedef struct seize_reason_job {
    const char *const *captions; /* pair i: captions[i] edited by texts[i] */
    const char *const *texts;    /* relative texts */
    const char *const *keys;     /* a stable, unique name per pair (journal key; e.g. "id#c"),
                                    or NULL: the pair's position */
    size_t n;
    seize_stage_progress_fn on_progress; /* may be NULL */
    void *progress_user;
    const seize_cancel *cancel; /* may be NULL */
} seize_reason_job;

/* The functions of an implementation. `self` is the instance's own state. */
typedef struct seize_captioner_methods {
    const char *name; /* "openai" */
    /* Captions job->images into items[0..job->n) (zeroed by the caller). 0 when every item is
     * done; SEIZE_ENET when some failed (the others are done); SEIZE_ECANCEL when cancelled
     * (the items done so far are filled); another SEIZE_E* code when nothing could run.
     * Checks every image before any work: a missing file or one that is not a regular file
     * stops the call (SEIZE_ENOTFOUND, SEIZE_EINVAL); one that is not an image fails alone. */
    int (*caption)(void *self, const seize_caption_job *job, seize_stage_item *items);
    /* The settings that shape the captions: *out (optional, new reference) and the hash in
     * hash[65] (optional); 0 or SEIZE_ENOMEM. */
    int (*settings)(void *self, struct json_t **out, char hash[65]);
    void (*destroy)(void *self);
} seize_captioner_methods;

typedef struct seize_captioner {
    const seize_captioner_methods *methods;
    void *self;
} seize_captioner;

typedef struct seize_reasoner_methods {
    const char *name; /* "openai" */
    /* Edits each pair of job into items[0..job->n) (one text each); returns as caption. */
    int (*reason)(void *self, const seize_reason_job *job, seize_stage_item *items);
    int (*settings)(void *self, struct json_t **out, char hash[65]);
    void (*destroy)(void *self);
} seize_reasoner_methods;

typedef struct seize_reasoner {
    const seize_reasoner_methods *methods;
    void *self;
} seize_reasoner;

/* The calls through the tables (NULL-safe free). */
int seize_captioner_caption(seize_captioner *c, const seize_caption_job *job,
                            seize_stage_item *items);
int seize_captioner_settings(seize_captioner *c, struct json_t **out, char hash[65]);
void seize_captioner_free(seize_captioner *c);
int seize_reasoner_reason(seize_reasoner *r, const seize_reason_job *job, seize_stage_item *items);
int seize_reasoner_settings(seize_reasoner *r, struct json_t **out, char hash[65]);
void seize_reasoner_free(seize_reasoner *r);

/* --- the OpenAI-compatible implementations ------------------------------------------------- */

struct seize_llm_params; /* seize/net.h */
struct seize_llm_stats;

typedef struct seize_captioner_openai_opts {
    const char *prompt;  /* the instruction sent with each image; NULL: the default
                            ("Write a short caption for this image in one sentence.") */
    const char *journal; /* progress journal (NULL: none); a later call resumes from it */
    size_t n_captions;   /* captions per image the settings hash names (the jobs' n_captions) */
    const char *command; /* "command" member of the settings (e.g. "caption"), or NULL */
} seize_captioner_openai_opts;

/* A captioner over an OpenAI-compatible vision chat API (the image as a base64 data URL in an
 * image_url part). `p` is copied (its strings must outlive the captioner); its api_key and the
 * endpoint's credentials are registered as secrets. Journal keys: the path; checks: the
 * prompt, the path, the file's size and modification time; settings: seize_llm_settings with
 * prompt_sha256 and n. SEIZE_EINVAL, SEIZE_EIO (journal), SEIZE_ENET, SEIZE_ENOMEM. */
int seize_captioner_openai_new(const struct seize_llm_params *p,
                               const seize_captioner_openai_opts *o, seize_captioner **out);
/* The client's counters of the last call (NULL-safe; zeroed for another implementation). */
void seize_captioner_openai_stats(const seize_captioner *c, struct seize_llm_stats *out);

typedef struct seize_reasoner_openai_opts {
    const char *system;  /* system message; NULL: the authors' (SEIZE_REASON_SYSTEM); "": none */
    const char *user;    /* user template with {caption} and {instruction}; NULL: the authors' */
    const char *journal; /* progress journal (NULL: none) */
    const char *command; /* "command" member of the settings, or NULL */
} seize_reasoner_openai_opts;

/* A reasoner over an OpenAI-compatible chat API with the SEIZE editing prompt; replies are
 * cleaned with seize_reason_clean. Checks: the exact system and user messages; settings:
 * seize_llm_settings with prompt_sha256, system_sha256, user_template_sha256 and n = 1. */
int seize_reasoner_openai_new(const struct seize_llm_params *p, const seize_reasoner_openai_opts *o,
                              seize_reasoner **out);
void seize_reasoner_openai_stats(const seize_reasoner *r, struct seize_llm_stats *out);

/* --- the native BLIP-2 captioner (seize/blip2.h) --------------------------------------------- */

typedef struct seize_captioner_blip2_opts {
    const char *model_dir; /* a BLIP-2 (OPT) model folder (seize_blip2_model_load; required) */
    /* prompt (NULL: "a photo of"), n, greedy, top_p, top_k, temperature, max_new_tokens, seed;
     * its pointers (force_ids, logits, trace, cancel) are the captioner's and ignored here */
    seize_blip2_gen gen;
    seize_precision precision; /* FP32 or BF16 (seize_captioner_blip2_precision: the CPU's) */
    int batch;                 /* images per generate call (0: 1) */
    int threads;               /* 0: all online cores */
    const char *journal;       /* progress journal (NULL: none); a later call resumes from it */
    const char *command;       /* "command" member of the settings, or NULL */
    /* research hooks (NULL: off). dump_logits: a float32 .npy [images·n, max_new_tokens,
     * vocab] of the raw next-token logits of the call's images in order (NaN rows after a
     * sequence ended and for failed images); with it, every image is computed (the journal is
     * not read). force_ids: a JSON array of id arrays, one per sequence of the call in order
     * (images × n), fed instead of drawn tokens (teacher forcing); borrowed, part of the
     * settings. */
    const char *dump_logits;
    const struct json_t *force_ids;
    const char *force_ids_file; /* or the same read from this JSON file */
} seize_captioner_blip2_opts;

/* SEIZE's settings: seize_blip2_gen_default(), the precision of
 * seize_captioner_blip2_precision(), batch 1, all cores, everything else NULL. */
seize_captioner_blip2_opts seize_captioner_blip2_default_opts(void);
/* BF16 when the CPU has AVX512_BF16, else FP32. */
seize_precision seize_captioner_blip2_precision(void);
/* The settings of o that need no model (n, max_new_tokens, temperature, top_p, top_k, precision,
 * batch): 0, or SEIZE_EINVAL with a message naming the setting by its option ("--top-p 0: ...").
 * seize_captioner_blip2_new checks them too, and then the model's limits (positions, vocabulary
 * of force_ids). */
int seize_captioner_blip2_check(const seize_captioner_blip2_opts *o);

/* The native captioner: loads the model folder and opens a state (both kept until freed),
 * then captions the images of each call in batches on the calling thread (calls on one
 * captioner from several threads are serialised). Each image is checked first as the
 * OpenAI captioner does (a missing file or one that is not a regular file stops the call; one
 * that cannot be decoded fails alone, not retryable); the job's n_captions sequences per image;
 * items get the captions and extra {"tokens": [[generated ids, EOS included when produced],
 * ...]}. Journal keys: the path; checks: the settings hash, n, the file's size and mtime. The
 * draws of an image depend on (seed, its pixels) only, so a resumed call gives the same
 * captions. Settings: "kind" "blip2", the model (config.json's SHA-256, the weight files'
 * names and sizes), the generation settings, the precision, force_ids' SHA-256. Errors: the
 * loader's (naming the file), SEIZE_EINVAL (settings; force_ids not an array of id arrays),
 * SEIZE_ENOMEM. A call with force_ids of another count than images × n: SEIZE_EINVAL. A
 * cancelled call stops between decode steps (its finished batches are in the journal). */
int seize_captioner_blip2_new(const seize_captioner_blip2_opts *o, seize_captioner **out);
/* The counters of the last call (items, done, failed, from the journal; requests = generate
 * calls, completion_tokens = tokens generated), zeroed for another implementation. */
void seize_captioner_blip2_stats(const seize_captioner *c, struct seize_llm_stats *out);
/* The loaded model's configuration, or NULL for another implementation. */
const seize_blip2_config *seize_captioner_blip2_config(const seize_captioner *c);

/* Longest caption, relative text or prompt file accepted (bytes). */
#define SEIZE_STAGE_MAX_TEXT ((size_t)64 << 10)

/* Reads a prompt file: an optional system part above a line "---", then the user template,
 * which must hold {caption} and {instruction} (SEIZE_EINVAL otherwise). Trailing newlines are
 * dropped. *system is NULL when there is no "---" line. At most SEIZE_STAGE_MAX_TEXT bytes. */
int seize_prompt_file_load(const char *path, char **system, char **user);

/* --- seize_query: one query at a time, in-process ---------------------------------------- */

/* (The call is seize_engine_query: `seize_query` is data.h's annotation query type.) */

/* An engine holds what every query reads: the CLIP model, its tokenizer and the gallery
 * index, loaded once by seize_engine_open and only read afterwards, so that several threads
 * may call seize_engine_query on one engine at once (each call makes its own CLIP state, search
 * scratch and results). The captioner and reasoner are the caller's, per call.
 *
 *     seize_engine *e;
 *     if (seize_engine_open("models/ViT-L-14", "runs/photos/index", "photos", &e) < 0) ...
 *     seize_query_options o = seize_query_default_options();
 *     o.captioner = cap;  o.reasoner = rsn;
 *     seize_query_result r;
 *     if (seize_engine_query(e, "dog.jpg", "make it a cat", &o, &r) == 0)
 *         for (size_t i = 0; i < r.n_hits; i++)
 *             printf("%s %.4f (a %.4f, b %.4f)\n", r.hits[i].name, r.hits[i].score,
 *                    r.hits[i].a, r.hits[i].b);
 *     seize_query_result_release(&r);
 *     seize_engine_free(e);
 */
typedef struct seize_engine seize_engine;
struct seize_index;

/* Loads the model and tokenizer of `model_dir` and the index of `index_dir` (its dimension
 * must be the model's). `gallery_dir` (may be NULL) is where a gallery name's image is
 * (gallery_dir/name), for captioning a gallery reference. Errors: the loaders' (naming the
 * folder), SEIZE_ESHAPE (dimensions), SEIZE_ENOMEM. */
int seize_engine_open(const char *model_dir, const char *index_dir, const char *gallery_dir,
                      seize_engine **out);
void seize_engine_free(seize_engine *e); /* accepts NULL */
/* The files the engine has loaded (model, tokenizer, index: 3 after a successful open); no
 * later call loads any, so this never grows (a test checks it). */
unsigned seize_engine_loads(const seize_engine *e);
const struct seize_index *seize_engine_index(const seize_engine *e); /* borrowed */

typedef struct seize_query_options {
    seize_captioner *captioner; /* required: captions the reference */
    seize_reasoner *reasoner;   /* required: edits each caption with the relative text */
    size_t n_captions;          /* captions of the reference (15) */
    size_t k;                   /* results (50; at most the gallery minus the reference) */
    double pos, neg;            /* SEIZE weights (NAN: a folder's, seize_search_weights_for) */
    int n_threads;              /* CLIP encoding and search threads (1); BLAS threads are the
                                   application's (seize_blas_threads_set) */
    seize_precision precision;  /* the CLIP text products (fp32, 0); any index precision is
                                   searched (its rows are normalised features either way) */
    const seize_cancel *cancel; /* may be NULL; passed to the captioner and reasoner */
    int method; /* seize_method (retrieval.h): SEIZE (0, with pos/neg), MEAN or LDRE (this
                   query's own caption weights) */
    /* Progress, on the calling thread: stage "caption", "edit", "encode" or "search", with
     * done of total units (captions, edits, texts, 1). May be NULL. */
    void (*on_stage)(void *user, const char *stage, size_t done, size_t total);
    void *stage_user;
} seize_query_options;

/* n_captions 15, k 50, pos = neg = NAN, one thread, no captioner or reasoner. */
seize_query_options seize_query_default_options(void);

typedef struct seize_query_hit {
    const char *name; /* gallery name (borrowed from the engine's index) */
    size_t row;       /* gallery row */
    float score;      /* SEIZE's score (seize_search), what the ranking is sorted by */
    float a, b;       /* A·g and B·g (seize_search_ab) */
    float increment;  /* a − b: how much the edit moved the query towards this image */
} seize_query_hit;

typedef struct seize_query_result {
    char **captions; /* the reference's captions (n_captions) */
    size_t n_captions;
    char **edits;          /* edits[i]: captions[i] edited, NULL where the reasoner failed on it */
    size_t n_edits;        /* = n_captions */
    seize_query_hit *hits; /* ranked: score descending, then gallery row */
    size_t n_hits;
    size_t reference_row;  /* the excluded gallery row of a gallery-name reference, or
                              SIZE_MAX */
    float *after, *before; /* A and B as searched ([dim] each, normalised) */
    size_t dim;
} seize_query_result;
void seize_query_result_release(seize_query_result *r); /* frees the members, zeroes *r */

/* Answers one query as SEIZE does (ARCHITECTURE.md §1): `reference` is a gallery name of the
 * engine's index (excluded from the ranking; its image is gallery_dir/name) or else an image
 * path; the captioner writes o->n_captions captions of it, the reasoner edits each with
 * `relative_text`, A and B are the mean CLIP text embeddings of the edits and captions
 * (seize_query_vectors_encode, in batches of 32 as a run's query features; CLIP's numbers
 * depend on the batch), and the gallery is ranked by seize_search. *out is zeroed on
 * error. Errors: SEIZE_EINVAL (no captioner or reasoner, a gallery name with no gallery_dir,
 * empty or too long text), the captioner's (its item error as the message; SEIZE_ENET when
 * it failed), SEIZE_ENET when every edit failed, SEIZE_ECANCEL, the encoder's and search's.
 * Thread-safe for distinct results, captioners and reasoners. */
int seize_engine_query(const seize_engine *e, const char *reference, const char *relative_text,
                       const seize_query_options *o, seize_query_result *out);

/* --- engine states and the batcher: many queries on one engine (seize serve) ------------- */

/* A state is one worker's CLIP state and search scratch on a shared engine, made once and used
 * for any number of calls by one thread at a time (whisper.cpp's model/state split).
 *
 *     seize_engine_state *st;
 *     seize_engine_state_params sp = seize_engine_state_default_params();
 *     if (seize_engine_state_new(e, &sp, &st) < 0) ...
 *     float q[2 * 512];
 *     seize_engine_embed_texts(st, (const char *[]){"a dog", "a cat"}, 2, q);
 *     seize_search_result *r;
 *     seize_engine_rank(st, q, 2, NULL, 10, &r);           // top 10 per query
 *     seize_search_result_free(r);
 *     seize_engine_state_free(st);
 */
typedef struct seize_engine_state seize_engine_state;
struct seize_image;
struct seize_search_result;

typedef struct seize_engine_state_params {
    int max_batch;             /* texts or images per forward pass (32) */
    int n_threads;             /* CLIP and search threads of this state (1) */
    seize_precision precision; /* CLIP products (fp32) */
} seize_engine_state_params;
seize_engine_state_params seize_engine_state_default_params(void);

/* Makes a state on e (which must outlive it). Errors: SEIZE_EINVAL (parameters), SEIZE_ENOMEM,
 * the CLIP engine's. */
int seize_engine_state_new(const seize_engine *e, const seize_engine_state_params *p,
                           seize_engine_state **out);
void seize_engine_state_free(seize_engine_state *s); /* accepts NULL */

/* [n, dim] L2-normalised CLIP text embeddings of n texts (tokenised as the engine's tokenizer
 * does, truncated to the context), in forward passes of max_batch. SEIZE_EINVAL: an empty or
 * non-UTF-8 text (naming it by position). */
int seize_engine_embed_texts(seize_engine_state *s, const char *const *texts, size_t n, float *out);
/* [n, dim] L2-normalised CLIP image embeddings of n decoded images, preprocessed as the
 * engine's index was built (its index.json "preprocess": TargetPad 1.25 or plain CLIP). */
int seize_engine_embed_images(seize_engine_state *s, const struct seize_image *const *imgs,
                              size_t n, float *out);
/* Similarity ranking (SEIZE_METHOD_MEAN: score = q·g) of n normalised query vectors [n, dim]
 * over the engine's index in one gallery scan: top k per query (k clipped to the gallery minus
 * the exclusion), exclude[q] a gallery row to leave out or SIZE_MAX (exclude may be NULL),
 * ties by gallery row. *out as seize_search's. */
int seize_engine_rank(seize_engine_state *s, const float *queries, size_t n, const size_t *exclude,
                      size_t k, struct seize_search_result **out);
/* seize_engine_query on a state: the same answer, without making a CLIP state per call
 * (o->n_threads and o->precision are the state's). */
int seize_engine_query_state(seize_engine_state *s, const char *reference,
                             const char *relative_text, const seize_query_options *o,
                             seize_query_result *out);

/* A batcher answers plain text and image searches from many threads at once: requests that
 * arrive within window_ms of each other (at most max_batch) are encoded as one forward pass and
 * ranked in one gallery scan, on the batcher's own thread and state. The embeddings' last bits
 * may depend on the batch a request shared (CLIP's products do); rankings of well-separated
 * scores do not. */
typedef struct seize_batcher seize_batcher;
typedef struct seize_batcher_params {
    int max_batch;    /* requests per batch (32) */
    double window_ms; /* a batch stays open while requests arrive within window_ms of each
                         other, at most 4 window_ms in all (2) */
    int n_threads;    /* CLIP and search threads (1) */
    seize_precision precision;
} seize_batcher_params;
seize_batcher_params seize_batcher_default_params(void);
int seize_batcher_new(const seize_engine *e, const seize_batcher_params *p, seize_batcher **out);
/* Answers the requests waiting, stops the thread, frees. Accepts NULL. */
void seize_batcher_free(seize_batcher *b);

/* Blocking, thread-safe: the top k gallery rows for `text` into hits[0..*n_hits) (the caller's
 * array of k; a = score, b = increment = 0). Errors as seize_engine_embed_texts, SEIZE_ECANCEL
 * when the batcher is being freed. */
int seize_batcher_search_text(seize_batcher *b, const char *text, size_t k, seize_query_hit *hits,
                              size_t *n_hits);
/* The same for an image; `exclude` is a gallery row left out (SIZE_MAX: none). */
int seize_batcher_search_image(seize_batcher *b, const struct seize_image *img, size_t exclude,
                               size_t k, seize_query_hit *hits, size_t *n_hits);

typedef struct seize_batcher_stats {
    unsigned long long batches, requests; /* so far */
    unsigned long long size_hist[7];      /* batches of 1, 2, 3-4, 5-8, 9-16, 17-32, more */
    size_t waiting;                       /* requests queued now */
} seize_batcher_stats;
void seize_batcher_stats_get(seize_batcher *b, seize_batcher_stats *out);

/* --- the stages' files (shared by seize caption / seize reason and seize_run) ------------- */

/* Locks "<out>.journal.lock" and, when the journal is not "<out>.journal", "<journal>.lock"
 * too (until seize_stage_unlock): a second process on the same output or journal fails at once
 * with SEIZE_EBUSY naming it ("output 'OUT'" or "journal 'J'"). lock[2] need no set-up. */
int seize_stage_lock(const char *out, const char *journal, seize_lock lock[2]);
void seize_stage_unlock(seize_lock lock[2]);
/* Writes "<out>.settings.json" atomically: the settings object plus "settings_hash". */
int seize_stage_settings_save(const char *out, const struct json_t *settings, const char *hash);
/* Writes the captions of the images done as JSON Lines {"image", "captions"}, in order,
 * atomically; *n_written (optional) receives how many. */
int seize_captions_items_write(const char *out, const char *const *images,
                               const seize_stage_item *items, size_t n, size_t *n_written);

/* --- captioning a list of images (seize caption) ------------------------------------------- */

typedef struct seize_caption_file_job {
    /* The images, one source: `images` (n_images paths), a `list` file (one path per line,
     * empty lines skipped) or a benchmark's reference images (`dataset` "circo", "cirr" or
     * "fashioniq": the queries of `annotations`, their images under `image_dir` located by the
     * optional `gallery_list`: seize_layout_files, seize_layout_references). Each path once,
     * in order (a path given twice is captioned once). */
    const char *const *images;
    size_t n_images;
    const char *list;
    const char *dataset, *annotations, *gallery_list, *image_dir;
    const char *out;     /* JSON Lines {"image", "captions"} (seize_captions_items_write) */
    const char *journal; /* NULL: "<out>.journal" */
    const char *prompt;  /* NULL: the captioner's default (seize_captioner_openai_opts; the
                            native one: "a photo of") */
    size_t n_captions;   /* captions per image (>= 1) */
    const char *command; /* "command" member of the settings, or NULL */
    seize_stage_progress_fn on_progress; /* may be NULL */
    void *progress_user;
    const seize_cancel *cancel; /* may be NULL */
} seize_caption_file_job;

typedef struct seize_caption_file_result {
    seize_strvec images;      /* the images captioned, each once */
    seize_stage_item *items;  /* per image: captions or the error */
    size_t n_written;         /* images in the output */
    size_t n_failed, n_retry; /* images failed; of those, on network or server errors */
    seize_llm_stats stats;    /* the client's counters of the call */
    char hash[65];            /* settings hash (when written) */
    char *journal;            /* the journal's path */
} seize_caption_file_result;

/* Captions job's images with the OpenAI-compatible captioner of `p`: locks the output and the
 * journal (seize_stage_lock), collects the images, runs (every image checked before any
 * request: seize_captioner_methods.caption), then writes the output and "<out>.settings.json"
 * (seize_stage_settings_save). Returns as seize_reason_file: 0; SEIZE_ENET with
 * res->n_failed > 0 (the output holds the others); SEIZE_ECANCEL or another error (nothing
 * written). *res is filled as far as the call got; release it in every case. */
int seize_caption_file(const struct seize_llm_params *p, const seize_caption_file_job *job,
                       seize_caption_file_result *res);
/* The same with another captioner: make(user, journal, &c) creates it once the output and the
 * journal (its path, which the captioner must use) are locked; it is freed before the return.
 * res->stats: the OpenAI or the native captioner's counters, else zeroed. */
typedef int (*seize_captioner_make_fn)(void *user, const char *journal, seize_captioner **out);
int seize_caption_file_with(seize_captioner_make_fn make, void *user,
                            const seize_caption_file_job *job, seize_caption_file_result *res);
/* The same with the native captioner of `o` (seize_captioner_blip2_new): its journal and command
 * are the job's, gen.n is job->n_captions, gen.prompt job->prompt when set. Output lines get
 * "tokens" too: {"image", "captions", "tokens"}. */
int seize_caption_file_blip2(const seize_captioner_blip2_opts *o, const seize_caption_file_job *job,
                             seize_caption_file_result *res);
void seize_caption_file_result_release(seize_caption_file_result *res);

/* --- editing a file of queries (seize reason, and seize_run's editing stage) ------------- */

/*     seize_reason_file_job job = {.input = "q.jsonl", .out = "e.jsonl"};
 *     seize_reason_file_result res;
 *     int rc = seize_reason_file(&llm, &job, &res);  // 0, SEIZE_ENET: some failed, ...
 *     ...res.in.ids.v[q], res.items[res.in.first[q] + c].error...
 *     seize_reason_file_result_release(&res);
 */

typedef struct seize_reason_input_opts {
    /* NULL: JSON Lines {"id", "relative_text", "captions": [...]} (other keys kept); "circo",
     * "cirr", "fashioniq": the benchmark's annotation file, read by its loader (data.h): the id
     * (CIRR's pairid copied to "id", FashionIQ's position, its two captions kept as
     * "relative_captions"), the relative text, and the captions from: */
    const char *dataset;
    const char *caption_key; /* this key of each record (NULL: "multi_caption_opt"), or */
    const char *captions; /* a `seize caption` file ({"image", "captions"} lines), by the reference
                             image's file name without extension (CIRCO: without leading zeros) */
    const char *fiq_join; /* FashionIQ: text between the two captions (NULL: none) */
    size_t n_captions;    /* the first N captions of each query only (0: all) */
} seize_reason_input_opts;

/* Queries as output records and their (caption, relative text) pairs. */
typedef struct seize_reason_input {
    struct json_t *records; /* per query: {"id", "relative_text", "captions" (the first N), other
                               keys}, in file order */
    seize_strvec ids;       /* per query: its id as JSON text (12 or "a"); ids.n queries */
    size_t *first;          /* query q's pairs are first[q] .. first[q + 1] - 1 */
    size_t n;               /* pairs */
    const char **captions, **texts; /* pair i: captions[i] edited by texts[i] (borrowed) */
    seize_strvec keys;              /* pair i: "<id>#<caption index>", its journal key */
} seize_reason_input;

/* Reads the queries of `path` (o may be NULL: JSON Lines). Every record is checked before any
 * request: an object, an integer or string id (no duplicates), a relative text, a non-empty
 * array of string captions, texts within SEIZE_STAGE_MAX_TEXT (naming the query); with a caption
 * file, the references it has no captions for are counted and named (the first 3).
 * SEIZE_EFORMAT, SEIZE_ENOTFOUND, the loaders' errors, SEIZE_ENOMEM; *in is empty on error. */
int seize_reason_input_load(const char *path, const seize_reason_input_opts *o,
                            seize_reason_input *in);
void seize_reason_input_free(seize_reason_input *in); /* zeroes it; accepts a zeroed one */
/* Writes the records of the queries whose pairs are all done (items[0..in->n)) with "edited":
 * [...] aligned with "captions", in order, JSON Lines, atomically; *n_written (may be NULL)
 * receives how many. */
int seize_reason_output_write(const char *out, const seize_reason_input *in,
                              const seize_stage_item *items, size_t *n_written);

typedef struct seize_reason_file_job {
    const char *input; /* the queries (seize_reason_input_load with `in`) */
    seize_reason_input_opts in;
    const char *out;                     /* the edits (seize_reason_output_write) */
    const char *journal;                 /* NULL: "<out>.journal" */
    const char *prompt_file;             /* NULL: the authors' prompt (seize_prompt_file_load) */
    const char *system;                  /* NULL: the prompt file's or the authors'; "": none */
    const char *command;                 /* "command" member of the settings, or NULL */
    seize_stage_progress_fn on_progress; /* may be NULL */
    void *progress_user;
    const seize_cancel *cancel; /* may be NULL */
} seize_reason_file_job;

typedef struct seize_reason_file_result {
    seize_reason_input in;    /* the queries (empty when they could not be read) */
    seize_stage_item *items;  /* per pair (in.n): texts or the error */
    size_t n_written;         /* queries in the output */
    size_t n_failed, n_retry; /* queries failed; of those, the ones whose first failed
                                 pair failed on a network or server error (retryable) */
    seize_llm_stats stats;    /* the client's counters of the call */
    char hash[65];            /* settings hash (when written) */
    char *journal;            /* the journal's path */
} seize_reason_file_result;

/* Query q's first failed pair (its caption index in *caption), or NULL. */
const seize_stage_item *seize_reason_file_failure(const seize_reason_file_result *res, size_t q,
                                                  size_t *caption);
/* Edits every pair of job->input with the OpenAI-compatible reasoner of `p`: reads the prompt
 * file, locks the output and journal (seize_stage_lock), reads the queries, runs, then writes
 * the output and "<out>.settings.json" (seize_stage_settings_save). 0: every query done;
 * SEIZE_ENET with res->n_failed > 0: some queries failed (the output holds the others; with
 * none failed, the client failed as a whole and nothing is written); SEIZE_ECANCEL
 * (nothing written; the journal keeps the answers); another error (nothing written). *res is
 * filled as far as the call got; release it in every case. */
int seize_reason_file(const struct seize_llm_params *p, const seize_reason_file_job *job,
                      seize_reason_file_result *res);
void seize_reason_file_result_release(seize_reason_file_result *res);

#ifdef __cplusplus
}
#endif
#endif
