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

// The pairs of reason-input.jsonl ({"id", "relative_text", "captions"} per query, written by
// the run itself): captions, texts and keys "<id>#<caption>" as seize reason makes them.
typedef struct reason_in {
    json_t *rows;
    seize_strvec keys;
    const char **caps, **texts;
    size_t n;
} reason_in;

static int add_query_pairs(reason_in *in, json_t *row, const char *path, size_t line)
{
    json_t *caps = json_object_get(row, "captions");
    const char *text = json_string_value(json_object_get(row, "relative_text"));
    char *idt = json_dumps(json_object_get(row, "id"), JSON_ENCODE_ANY | JSON_COMPACT);
    int rc = idt && text && json_is_array(caps)
                 ? 0
                 : seize_error(SEIZE_EFORMAT,
                               "%s: line %zu: expected {\"id\", \"relative_text\", "
                               "\"captions\"}",
                               path, line);
    for (size_t c = 0; rc == 0 && c < json_array_size(caps); c++) {
        char *k = pl_fmt("%s#%zu", idt, c);
        rc = k ? seize_strvec_push_owned(&in->keys, k) : SEIZE_ENOMEM;
        in->caps[in->n] = json_string_value(json_array_get(caps, c));
        in->texts[in->n++] = text;
        if (rc == 0 && !in->caps[in->n - 1])
            rc = seize_error(SEIZE_EFORMAT, "%s: line %zu: caption %zu is not a string", path, line,
                             c);
    }
    free(idt);
    return rc;
}

static int reason_in_load(const char *path, reason_in *in)
{
    int rc = seize_jsonl_load(path, &in->rows);
    size_t total = 0, i;
    json_t *row;
    if (rc < 0) return rc;
    json_array_foreach(in->rows, i, row) total += json_array_size(json_object_get(row, "captions"));
    in->caps = seize_calloc(total + 1, sizeof *in->caps);
    in->texts = seize_calloc(total + 1, sizeof *in->texts);
    if (!in->caps || !in->texts) return SEIZE_ENOMEM;
    json_array_foreach(in->rows, i,
                       row) if ((rc = add_query_pairs(in, row, path, i + 1)) < 0) break;
    return rc;
}

static void reason_in_free(reason_in *in)
{
    json_decref(in->rows);
    seize_strvec_free(&in->keys);
    free(in->caps);
    free(in->texts);
}

// The queries whose pairs are all done, with "edited", in input order.
static int write_edits(const char *out, const reason_in *in, const seize_stage_item *res)
{
    json_t *lines = json_array(), *row;
    size_t i, item = 0;
    json_array_foreach(in->rows, i, row)
    {
        size_t nc = json_array_size(json_object_get(row, "captions"));
        json_t *edited = json_array();
        for (size_t c = 0; c < nc; c++, item++)
            if (res[item].n_texts) json_array_append_new(edited, json_string(res[item].texts[0]));
        if (json_array_size(edited) == nc) {
            json_t *rec = json_copy(row);
            json_object_set_new(rec, "edited", edited);
            json_array_append_new(lines, rec);
        } else {
            json_decref(edited);
        }
    }
    int rc = pl_write_jsonl(out, lines);
    json_decref(lines);
    return rc;
}

static int reason_call(pl_run *r, seize_reasoner *rs, const reason_in *in, const char *out)
{
    seize_stage_item *res = seize_calloc(in->n + 1, sizeof *res);
    if (!res) return SEIZE_ENOMEM;
    seize_reason_job job = {in->caps,     in->texts,       (const char *const *)in->keys.v,
                            in->n,        pl_llm_progress, r,
                            run_cancel(r)};
    int rc = seize_reasoner_reason(rs, &job, res);
    seize_llm_stats st;
    seize_reasoner_openai_stats(rs, &st);
    if (st.items) pl_llm_summary(r, &st);
    size_t n_retry = 0;
    size_t n_failed =
        rc == 0 || rc == SEIZE_ENET
            ? warn_failures(r, "query", (const char *const *)in->keys.v, res, in->n, &n_retry)
            : 0;
    rc = call_status(rc, n_failed, n_retry);
    json_t *settings = NULL;
    char hash[65];
    if (rc >= 0) {
        int wrc = write_edits(out, in, res);
        if (wrc == 0) wrc = seize_reasoner_settings(rs, &settings, hash);
        if (wrc == 0) wrc = seize_stage_settings_save(out, settings, hash);
        if (wrc < 0) rc = wrc;
    }
    json_decref(settings);
    seize_stage_items_release(res, in->n);
    free(res);
    return rc;
}

int pl_inproc_reason(pl_run *r, const pl_reason_io *io)
{
    const run_opts *o = &r->o;
    seize_llm_params p;
    char *journal = NULL, *sys = NULL, *user = NULL;
    seize_lock lock[2] = {{-1, NULL}, {-1, NULL}};
    seize_reasoner *rs = NULL;
    reason_in in = {0};
    int rc = llm_params(o, o->llm_endpoint, o->llm_model, 0, &p);
    if (rc == 0 && o->prompt_file) rc = seize_prompt_file_load(o->prompt_file, &sys, &user);
    if (rc == 0 && !(journal = pl_fmt("%s.journal", io->out))) rc = SEIZE_ENOMEM;
    if (rc == 0) rc = seize_stage_lock(io->out, journal, lock);
    seize_reasoner_openai_opts ro = {sys, user, journal, "reason"};
    if (rc == 0) rc = seize_reasoner_openai_new(&p, &ro, &rs);
    if (rc == 0) rc = reason_in_load(io->input, &in);
    if (rc == 0) rc = reason_call(r, rs, &in, io->out);
    if (rc < 0 && rc != SEIZE_ECANCEL) seize_error_prefix(rc, "editing stage");
    reason_in_free(&in);
    seize_reasoner_free(rs);
    seize_stage_unlock(lock);
    free(journal);
    free(sys);
    free(user);
    return rc;
}
