// The caption and editing stages of a run in this process, through the OpenAI-compatible
// captioner and reasoner (pipeline.h): the same journals, locks, outputs and settings files as
// the seize caption / seize reason commands they replace.
#include "stages.h"

#include "seize/net.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

// The client parameters as the stage commands took them (string options parsed the same way).
static int llm_params(const run_opts *o, const char *endpoint, const char *model, int sampling,
                      seize_llm_params *p)
{
    *p = seize_llm_default_params();
    p->endpoint = endpoint;
    p->model = model;
    p->api_key = getenv("OPENAI_API_KEY");
    const char *names[] = {"temperature", "top-p",        "seed",        "concurrency",
                           "timeout",     "max-attempts", "backoff-base"};
    const char *values[] = {sampling ? (o->temperature ? o->temperature : "1.0") : NULL,
                            sampling ? (o->top_p ? o->top_p : "0.9") : NULL,
                            o->seed,
                            o->concurrency,
                            o->timeout,
                            o->max_attempts,
                            o->backoff_base};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        int rc = values[i] ? seize_llm_param_set(p, names[i], values[i]) : 0;
        if (rc < 0) return rc;
    }
    return 0;
}

static const seize_cancel *run_cancel(const pl_run *r)
{
    return r->p && r->p->cancel ? &r->p->cancel->token : NULL;
}

// Names the failed items (at most 20) as warnings; returns how many failed, *n_retry how many
// of those a rerun may fix.
static size_t warn_failures(pl_run *r, const char *what, const char *const *names,
                            const seize_stage_item *res, size_t n, size_t *n_retry)
{
    size_t n_failed = 0;
    *n_retry = 0;
    for (size_t i = 0; i < n; i++) {
        if (!res[i].error) continue;
        if (res[i].retryable) (*n_retry)++;
        if (n_failed++ < 20) pl_warn(r, "%s %s: %s", what, names[i], res[i].error);
    }
    if (n_failed > 20) pl_warn(r, "... and %zu more", n_failed - 20);
    return n_failed;
}

// The outcome of a call: 0, EXIT_PARTIAL_STAGE, EXIT_REJECTED_STAGE (no failure a rerun can
// fix), or a negative code (message set).
static int call_status(int rc, size_t n_failed, size_t n_retry)
{
    if (rc == SEIZE_ENET && n_failed) return n_retry ? EXIT_PARTIAL_STAGE : EXIT_REJECTED_STAGE;
    return rc;
}

static int caption_call(pl_run *r, seize_captioner *c, char **paths, size_t n, const char *out)
{
    seize_stage_item *res = seize_calloc(n ? n : 1, sizeof *res);
    if (!res) return SEIZE_ENOMEM;
    seize_caption_job job = {(const char *const *)paths,
                             n,
                             (size_t)r->o.num_captions,
                             pl_llm_progress,
                             r,
                             run_cancel(r),
                             NULL};
    int rc = seize_captioner_caption(c, &job, res);
    seize_llm_stats st;
    seize_captioner_openai_stats(c, &st);
    if (st.items) pl_llm_summary(r, &st);
    size_t n_retry = 0;
    size_t n_failed = rc == 0 || rc == SEIZE_ENET
                          ? warn_failures(r, "image", (const char *const *)paths, res, n, &n_retry)
                          : 0;
    rc = call_status(rc, n_failed, n_retry);
    json_t *settings = NULL;
    char hash[65];
    if (rc >= 0) {
        int wrc = seize_captions_items_write(out, (const char *const *)paths, res, n, NULL);
        if (wrc == 0) wrc = seize_captioner_settings(c, &settings, hash);
        if (wrc == 0) wrc = seize_stage_settings_save(out, settings, hash);
        if (wrc < 0) rc = wrc;
    }
    json_decref(settings);
    seize_stage_items_release(res, n);
    free(res);
    return rc;
}

int pl_inproc_caption(pl_run *r, const pl_caption_io *io)
{
    const run_opts *o = &r->o;
    seize_llm_params p;
    char **paths = NULL, *journal = NULL;
    size_t n = 0;
    seize_lock lock[2] = {{-1, NULL}, {-1, NULL}};
    seize_captioner *c = NULL;
    int rc = llm_params(o, o->cap_endpoint, o->cap_model, 1, &p);
    if (rc == 0) rc = seize_read_lines(io->list, &paths, &n);
    size_t w = 0; // the non-empty lines
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (paths[i][0])
            paths[w++] = paths[i];
        else
            free(paths[i]);
    }
    n = rc == 0 ? w : n;
    if (rc == 0 && !(journal = pl_fmt("%s.journal", io->out))) rc = SEIZE_ENOMEM;
    if (rc == 0) rc = seize_stage_lock(io->out, journal, lock);
    seize_captioner_openai_opts co = {o->cap_prompt, journal, (size_t)o->num_captions, "caption"};
    if (rc == 0) rc = seize_captioner_openai_new(&p, &co, &c);
    if (rc == 0) rc = caption_call(r, c, paths, n, io->out);
    if (rc < 0 && rc != SEIZE_ECANCEL) seize_error_prefix(rc, "caption stage");
    seize_captioner_free(c);
    seize_stage_unlock(lock);
    if (paths) seize_lines_free(paths, n);
    free(journal);
    return rc;
}

// The editing stage: reason-input.jsonl ({"id", "relative_text", "captions"} per query, written
// by the run itself) edited as seize reason does it (seize_reason_file).
int pl_inproc_reason(pl_run *r, const pl_reason_io *io)
{
    const run_opts *o = &r->o;
    seize_llm_params p;
    seize_reason_file_job job = {.input = io->input,
                                 .out = io->out,
                                 .prompt_file = o->prompt_file,
                                 .command = "reason",
                                 .on_progress = pl_llm_progress,
                                 .progress_user = r,
                                 .cancel = run_cancel(r)};
    seize_reason_file_result res = {0};
    int rc = llm_params(o, o->llm_endpoint, o->llm_model, 0, &p);
    if (rc == 0) rc = seize_reason_file(&p, &job, &res);
    if ((rc == 0 || rc == SEIZE_ENET || rc == SEIZE_ECANCEL) && res.stats.items)
        pl_llm_summary(r, &res.stats); // after the call, as seize reason prints it
    size_t n_retry = 0;
    size_t n_failed = rc == 0 || rc == SEIZE_ENET
                          ? warn_failures(r, "query", (const char *const *)res.in.keys.v, res.items,
                                          res.in.n, &n_retry)
                          : 0;
    rc = call_status(rc, n_failed, n_retry);
    if (rc < 0 && rc != SEIZE_ECANCEL) seize_error_prefix(rc, "editing stage");
    seize_reason_file_result_release(&res);
    return rc;
}
