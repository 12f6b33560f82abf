// Editing a file of queries (pipeline.h): what seize reason and seize_run's editing stage both
// do, from the prompt file to the output and its settings file.
#include "llm_stage.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

const seize_stage_item *seize_reason_file_failure(const seize_reason_file_result *res, size_t q,
                                                  size_t *caption)
{
    for (size_t i = res->in.first[q]; res->items && i < res->in.first[q + 1]; i++)
        if (res->items[i].error) {
            *caption = i - res->in.first[q];
            return &res->items[i];
        }
    return NULL;
}

// The call's outcome: 0, SEIZE_ENET (some pairs failed; the output is written), or an error.
static int finish(seize_reasoner *r, int rc, const seize_reason_file_job *job,
                  seize_reason_file_result *res)
{
    for (size_t q = 0; q < res->in.ids.n; q++) {
        size_t c;
        const seize_stage_item *f = seize_reason_file_failure(res, q, &c);
        res->n_failed += f != NULL;
        res->n_retry += f && f->retryable;
    }
    if (!pl_file_job_writes(rc, res->n_failed)) return rc;
    json_t *settings = NULL;
    rc = seize_reason_output_write(job->out, &res->in, res->items, &res->n_written);
    if (rc == 0) rc = seize_reasoner_settings(r, &settings, res->hash);
    return pl_file_job_end(rc, settings, job->out, res->hash, res->n_failed);
}

int seize_reason_file(const seize_llm_params *p, const seize_reason_file_job *job,
                      seize_reason_file_result *res)
{
    char *sys = NULL, *user = NULL;
    seize_lock lock[2] = {{-1, NULL}, {-1, NULL}};
    seize_reasoner *r = NULL;
    memset(res, 0, sizeof *res);
    int rc = job->prompt_file ? seize_prompt_file_load(job->prompt_file, &sys, &user) : 0;
    if (rc == 0) rc = pl_file_job_begin(job->out, job->journal, &res->journal, lock);
    seize_reasoner_openai_opts ro = {job->system ? job->system : sys, user, res->journal,
                                     job->command};
    if (rc == 0) rc = seize_reasoner_openai_new(p, &ro, &r);
    if (rc == 0) rc = seize_reason_input_load(job->input, &job->in, &res->in);
    if (rc == 0 && !(res->items = seize_calloc(res->in.n + 1, sizeof *res->items)))
        rc = seize_error(SEIZE_ENOMEM, "out of memory");
    if (rc == 0) {
        seize_reason_job rj = {
            res->in.captions, res->in.texts,    (const char *const *)res->in.keys.v,
            res->in.n,        job->on_progress, job->progress_user,
            job->cancel};
        rc = seize_reasoner_reason(r, &rj, res->items);
        seize_reasoner_openai_stats(r, &res->stats);
        rc = finish(r, rc, job, res);
    }
    seize_reasoner_free(r);
    seize_stage_unlock(lock);
    free(sys);
    free(user);
    return rc;
}

void seize_reason_file_result_release(seize_reason_file_result *res)
{
    seize_stage_items_release(res->items, res->in.n);
    free(res->items);
    seize_reason_input_free(&res->in);
    free(res->journal);
    memset(res, 0, sizeof *res);
}
