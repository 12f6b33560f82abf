// What the OpenAI-compatible captioner and reasoner share (llm_stage.h), and the calls through
// the stage interfaces' tables (pipeline.h).
#include "llm_stage.h"

#include <stdlib.h>
#include <string.h>

void seize_stage_items_release(seize_stage_item *items, size_t n)
{
    for (size_t i = 0; items && i < n; i++) {
        for (size_t k = 0; k < items[i].n_texts; k++)
            free(items[i].texts[k]);
        free(items[i].texts);
        free(items[i].error);
        json_decref(items[i].extra);
        memset(&items[i], 0, sizeof items[i]);
    }
}

int seize_captioner_caption(seize_captioner *c, const seize_caption_job *job,
                            seize_stage_item *items)
{
    return c->methods->caption(c->self, job, items);
}

int seize_captioner_settings(seize_captioner *c, json_t **out, char hash[65])
{
    return c->methods->settings(c->self, out, hash);
}

void seize_captioner_free(seize_captioner *c)
{
    if (!c) return;
    if (c->methods->destroy) c->methods->destroy(c->self);
    free(c);
}

int seize_reasoner_reason(seize_reasoner *r, const seize_reason_job *job, seize_stage_item *items)
{
    return r->methods->reason(r->self, job, items);
}

int seize_reasoner_settings(seize_reasoner *r, json_t **out, char hash[65])
{
    return r->methods->settings(r->self, out, hash);
}

void seize_reasoner_free(seize_reasoner *r)
{
    if (!r) return;
    if (r->methods->destroy) r->methods->destroy(r->self);
    free(r);
}

int pl_file_job_begin(const char *out, const char *journal, char **path, seize_lock lock[2])
{
    seize_buf b = {0};
    int rc = journal ? seize_buf_puts(&b, journal) : seize_buf_printf(&b, "%s.journal", out);
    *path = seize_buf_release(&b);
    return rc < 0 ? rc : seize_stage_lock(out, *path, lock);
}

int pl_file_job_writes(int rc, size_t n_failed)
{
    return rc == 0 || (rc == SEIZE_ENET && n_failed);
}

int pl_file_job_end(int rc, json_t *settings, const char *out, const char *hash, size_t n_failed)
{
    if (rc == 0) rc = seize_stage_settings_save(out, settings, hash);
    json_decref(settings);
    return rc < 0 ? rc : n_failed ? SEIZE_ENET : 0;
}

void pl_sha256_hex(const char *s, size_t len, char hex[65])
{
    uint8_t d[32];
    seize_sha256_buffer(s ? s : "", s ? len : 0, d);
    seize_sha256_hex(d, hex);
}

int pl_llm_init(pl_llm *l, const seize_llm_params *p, json_t *extra, const char *command,
                const char *journal)
{
    memset(l, 0, sizeof *l);
    l->p = *p;
    if (journal && !(l->journal = seize_strdup(journal))) return SEIZE_ENOMEM;
    if (command && json_object_set_new(extra, "command", json_string(command)) < 0)
        return seize_error(SEIZE_ENOMEM, "out of memory");
    int rc = seize_llm_settings(&l->p, extra, &l->settings, l->hash);
    if (rc < 0) return rc;
    l->p.settings = l->hash;
    // Known from now on: no message or file of this process shows them.
    seize_secret_add(l->p.api_key);
    if (l->p.endpoint) seize_secret_add_url(l->p.endpoint);
    return 0;
}

void pl_llm_release(pl_llm *l)
{
    json_decref(l->settings);
    free(l->journal);
    memset(l, 0, sizeof *l);
}

int pl_llm_settings(const pl_llm *l, json_t **out, char hash[65])
{
    if (hash) memcpy(hash, l->hash, 65);
    if (out && !(*out = json_deep_copy(l->settings)))
        return seize_error(SEIZE_ENOMEM, "out of memory");
    return 0;
}

typedef struct progress_ctx {
    seize_stage_progress_fn fn;
    void *user;
    int by_texts;
    size_t base;
} progress_ctx;

static seize_stage_progress to_progress(const progress_ctx *pc, const seize_llm_stats *st)
{
    seize_stage_progress g = {0};
    g.total = pc->by_texts ? st->texts_wanted : st->items;
    g.done = pc->by_texts ? st->texts_done : st->items_done;
    g.done_before = pc->base;
    g.failed = st->items_failed;
    for (int k = 0; k < SEIZE_LLM_ERR_COUNT; k++)
        g.errors += st->errors[k];
    return g;
}

static void on_progress(void *ctx, const seize_llm_stats *st)
{
    progress_ctx *pc = ctx;
    seize_stage_progress g = to_progress(pc, st);
    pc->fn(pc->user, &g);
}

int pl_llm_run(pl_llm *l, seize_llm_batch *b, int by_texts, seize_stage_progress_fn fn, void *user)
{
    seize_llm_stats st0 = seize_llm_batch_stats(b);
    progress_ctx pc = {fn, user, by_texts, by_texts ? st0.texts_done : st0.items_done};
    if (fn) {
        seize_stage_progress g = to_progress(&pc, &st0);
        fn(user, &g);
    }
    int rc = seize_llm_batch_run(b, fn ? on_progress : NULL, &pc);
    l->last = seize_llm_batch_stats(b);
    return rc;
}

int pl_llm_result(const pl_llm *l, int rc)
{
    const seize_llm_stats *st = &l->last;
    if (rc == SEIZE_ECANCEL) return rc;
    if (rc < 0 && (st->items_failed == 0 || st->items_done + st->items_failed < st->items))
        return rc;
    return st->items_failed ? SEIZE_ENET : 0;
}

int pl_llm_fill(seize_stage_item *it, const seize_llm_batch *b, size_t item,
                char *(*clean)(const char *))
{
    const json_t *t = seize_llm_batch_texts(b, item);
    const char *err = seize_llm_batch_error(b, item);
    if (!t) {
        if (!err) return 0;
        it->retryable = seize_llm_err_retryable(seize_llm_batch_error_kind(b, item));
        it->error = seize_strdup(err);
        return it->error ? 0 : SEIZE_ENOMEM;
    }
    size_t n = json_array_size(t);
    it->texts = seize_calloc(n ? n : 1, sizeof *it->texts);
    if (!it->texts) return SEIZE_ENOMEM;
    for (size_t k = 0; k < n; k++) {
        it->texts[k] = clean(json_string_value(json_array_get(t, k)));
        if (!it->texts[k]) return seize_error(SEIZE_ENOMEM, "out of memory");
        it->n_texts = k + 1;
    }
    return 0;
}
