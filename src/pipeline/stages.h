/*
 * src/pipeline/stages.h — the stage-runner seam of seize_run.
 *
 * The pipeline decides what to run (cache keys, inputs, outputs) and calls each stage's work
 * through this table. Every entry is an in-process library call (inproc.c, stage_llm.c):
 * seize_run starts no process. Another implementation of a stage (a native captioner, a
 * sharded index build) is another entry, without touching the rest of the pipeline.
 *
 * Each function returns 0 when the stage is done or a negative SEIZE_E* code (message set);
 * caption and reason may also end with EXIT_PARTIAL_STAGE or EXIT_REJECTED_STAGE (some items
 * failed; named in warnings). The settings (model, endpoints, threads) come from r->o; progress
 * goes to pl_progress.
 */
#ifndef SEIZE_PIPELINE_STAGES_H
#define SEIZE_PIPELINE_STAGES_H

#include "run_int.h"

#include "seize/index.h"

// A stage's positive statuses: done, but some items failed; or failed items that the server
// rejected (none of them retryable: a rerun would send the same requests for the same answer).
#define EXIT_PARTIAL_STAGE 3
#define EXIT_REJECTED_STAGE 4

typedef struct pl_caption_io {
    const char *list; // the images to caption, one path per line
    const char *out;  // JSON Lines {"image", "captions"} (a journal beside it)
} pl_caption_io;

typedef struct pl_reason_io {
    const char *input; // JSON Lines {"id", "relative_text", "captions"}
    const char *out;   // JSON Lines with "edited" (a journal beside it)
} pl_reason_io;

typedef struct pl_index_io {
    const char *list;              // NAME<TAB>PATH per image
    const char *out_dir;           // the index folder
    int restart;                   // discard a partial build
    const seize_build_item *items; // the same images (in-process build)
    size_t n;
} pl_index_io;

typedef struct pl_features_io {
    const char *captions;               // edits.jsonl ("captions" and "edited" per query)
    const char *out_after, *out_before; // .npy files
    int per_caption;                    // LDRE: one row per caption
} pl_features_io;

typedef struct pl_search_io {
    const char *index_dir, *after, *before;
    const char *exclude;          // the reference's gallery name per query (or NULL)
    const char *cirr_annotations; // CIRR: subsets and exclusions from the annotations (or NULL)
    const char *out;              // rankings.jsonl
    const char *const *query_ids; // each row's "id" (folder queries), or NULL
} pl_search_io;

typedef struct pl_eval_io {
    const char *dataset; // "circo", "cirr", "fashioniq"
    const char *annotations[3], *rankings[3];
    size_t n;             // pairs (FashionIQ: one per category)
    const char *out_json; // the metrics object
} pl_eval_io;

typedef struct pl_submission_io {
    const char *dataset; // "circo" or "cirr"
    const char *rankings, *annotations;
    const char *out, *out_subset; // out_subset: CIRR only
} pl_submission_io;

typedef struct pl_stage_ops {
    int (*caption)(pl_run *r, const pl_caption_io *io);
    int (*reason)(pl_run *r, const pl_reason_io *io);
    int (*index_build)(pl_run *r, const pl_index_io *io);
    int (*query_features)(pl_run *r, const pl_features_io *io);
    int (*search)(pl_run *r, const pl_search_io *io);
    int (*eval)(pl_run *r, const pl_eval_io *io);
    int (*submission)(pl_run *r, const pl_submission_io *io);
} pl_stage_ops;

// The stages, run in this process (inproc.c).
extern const pl_stage_ops pl_inproc_stages;
// The caption and editing stages through the OpenAI-compatible captioner and reasoner
// (stage_llm.c).
int pl_inproc_caption(pl_run *r, const pl_caption_io *io);
int pl_inproc_reason(pl_run *r, const pl_reason_io *io);
// The table of a run (pl_inproc_stages).
pl_stage_ops pl_stage_table(void);

#endif
