/*
 * src/pipeline/llm_stage.h — what the OpenAI-compatible captioner and reasoner share: the
 * client parameters and settings hash, a batch run with the stage progress, and the per-item
 * results taken from the batch.
 */
#ifndef SEIZE_PIPELINE_LLM_STAGE_H
#define SEIZE_PIPELINE_LLM_STAGE_H

#include "seize/net.h"
#include "seize/pipeline.h"

#include <jansson.h>

typedef struct pl_llm {
    seize_llm_params p;
    char hash[65];
    json_t *settings;
    char *journal;
    seize_llm_stats last; // of the last call
} pl_llm;

// Copies p, adds "command" (when given) to `extra` (borrowed) and computes the settings.
int pl_llm_init(pl_llm *l, const seize_llm_params *p, json_t *extra, const char *command,
                const char *journal);
void pl_llm_release(pl_llm *l);
int pl_llm_settings(const pl_llm *l, json_t **out, char hash[65]);
// Runs the batch with progress in texts (by_texts) or items; l->last receives the counters.
int pl_llm_run(pl_llm *l, seize_llm_batch *b, int by_texts, seize_stage_progress_fn fn, void *user);
// The call's result: 0 when complete, SEIZE_ENET when some failed, else the batch's code.
int pl_llm_result(const pl_llm *l, int rc);
// Item `it` from batch item `item`; `clean` post-processes each text (heap string).
int pl_llm_fill(seize_stage_item *it, const seize_llm_batch *b, size_t item,
                char *(*clean)(const char *));
// A file job's start (seize_caption_file, seize_reason_file): its journal, `journal` or else
// "<out>.journal" (heap, in *path also on error), and the locks of out and journal
// (seize_stage_lock).
int pl_file_job_begin(const char *out, const char *journal, char **path, seize_lock lock[2]);
// A file job's end: whether the call's outcome `rc` (with n_failed items failed) gets the output
// written (0, or SEIZE_ENET with some failed), then, after the output was written (`rc`) and
// the settings taken, "<out>.settings.json" saved and `settings` released: 0, SEIZE_ENET when
// some failed, or the error.
int pl_file_job_writes(int rc, size_t n_failed);
int pl_file_job_end(int rc, json_t *settings, const char *out, const char *hash, size_t n_failed);
// SHA-256 hex of a string (NULL as "").
void pl_sha256_hex(const char *s, size_t len, char hex[65]);

#endif
