// The caption and editing stages of a run in this process, through the OpenAI-compatible
// captioner and reasoner (pipeline.h): the same journals, locks, outputs and settings files as
// the seize caption / seize reason commands they replace.
#include "stages.h"

#include "seize/net.h"

#include <jansson.h>
#include <limits.h>
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

// A call's outcome: its request summary and failed items (at most 20 named) as events, then
// 0, EXIT_PARTIAL_STAGE, EXIT_REJECTED_STAGE (no failure a rerun can fix), or a negative code
// (message prefixed with the stage).
static int outcome(pl_run *r, int rc, const seize_llm_stats *st, const char *stage,
                   const char *what, const char *const *names, const seize_stage_item *res,
                   size_t n)
{
    size_t n_failed = 0, n_retry = 0;
    if (st->items) pl_llm_summary(r, st); // after the call, as the command prints it
    for (size_t i = 0; (rc == 0 || rc == SEIZE_ENET) && i < n; i++) {
        if (!res[i].error) continue;
        n_retry += res[i].retryable;
        if (n_failed++ < 20) pl_warn(r, "%s %s: %s", what, names[i], res[i].error);
    }
    if (n_failed > 20) pl_warn(r, "... and %zu more", n_failed - 20);
    if (rc == SEIZE_ENET && n_failed) return n_retry ? EXIT_PARTIAL_STAGE : EXIT_REJECTED_STAGE;
    if (rc < 0 && rc != SEIZE_ECANCEL) seize_error_prefix(rc, "%s stage", stage);
    return rc;
}

// The native captioner as seize caption --model-dir DIR runs it with the run's prompt,
// temperature, top-p, seed, captions per query and threads (the rest: SEIZE's settings).
static int native_caption(const run_opts *o, const seize_caption_file_job *job,
                          seize_caption_file_result *res)
{
    seize_captioner_blip2_opts n = seize_captioner_blip2_default_opts();
    n.model_dir = o->cap_dir, n.threads = o->threads;
    double t = 1.0, top_p = 0.9;
    long seed = 0;
    int rc = o->temperature ? seize_parse_double(o->temperature, &t) : 0;
    if (rc == 0 && o->top_p) rc = seize_parse_double(o->top_p, &top_p);
    if (rc == 0 && o->seed) rc = seize_parse_long(o->seed, 0, LONG_MAX, &seed);
    if (rc < 0)
        return seize_error(SEIZE_EINVAL,
                           "the native captioner's temperature, top-p or seed is "
                           "not a number ('%s', '%s', '%s')",
                           o->temperature ? o->temperature : "", o->top_p ? o->top_p : "",
                           o->seed ? o->seed : "");
    n.gen.temperature = (float)t, n.gen.top_p = (float)top_p, n.gen.seed = (uint64_t)seed;
    return seize_caption_file_blip2(&n, job, res);
}

// The caption stage: the run's list of reference images captioned as seize caption does it
// (seize_caption_file; seize_caption_file_blip2 with a captioner folder).
int pl_inproc_caption(pl_run *r, const pl_caption_io *io)
{
    const run_opts *o = &r->o;
    seize_llm_params p;
    seize_caption_file_job job = {.list = io->list,
                                  .out = io->out,
                                  .prompt = o->cap_prompt,
                                  .n_captions = (size_t)o->num_captions,
                                  .command = "caption",
                                  .on_progress = pl_llm_progress,
                                  .progress_user = r,
                                  .cancel = run_cancel(r)};
    seize_caption_file_result res = {0};
    int rc = o->cap_dir ? native_caption(o, &job, &res)
                        : llm_params(o, o->cap_endpoint, o->cap_model, 1, &p);
    if (rc == 0 && !o->cap_dir) rc = seize_caption_file(&p, &job, &res);
    rc = outcome(r, rc, &res.stats, "caption", "image", (const char *const *)res.images.v,
                 res.items, res.images.n);
    seize_caption_file_result_release(&res);
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
    rc = outcome(r, rc, &res.stats, "editing", "query", (const char *const *)res.in.keys.v,
                 res.items, res.in.n);
    seize_reason_file_result_release(&res);
    return rc;
}
