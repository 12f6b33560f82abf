// The OpenAI-compatible reasoner (pipeline.h): each (caption, relative text) pair through the
// SEIZE editing prompt (ARCHITECTURE.md §2), one request per pair, through the batch client with
// its journal; replies cleaned with seize_reason_clean. Also the prompt-file reader.
#include "llm_stage.h"

#include <stdlib.h>
#include <string.h>

typedef struct openai_reason {
    pl_llm llm;
    char *system, *user;
} openai_reason;

typedef struct reason_call {
    const openai_reason *r;
    const seize_reason_job *job;
} reason_call;

static int build_messages(void *vctx, size_t item, json_t **out)
{
    reason_call *ctx = vctx;
    const char *sys = ctx->r->system;
    char *user = seize_prompt_format(ctx->r->user, ctx->job->captions[item], ctx->job->texts[item]);
    if (!user) return seize_error(SEIZE_ENOMEM, "out of memory");
    json_t *m = json_array();
    if (m && *sys)
        json_array_append_new(m, json_pack("{s:s, s:s}", "role", "system", "content", sys));
    if (m)
        json_array_append_new(
            m, json_pack("{s:s, s:s%}", "role", "user", "content", user, strlen(user)));
    free(user);
    if (!m) return seize_error(SEIZE_ENOMEM, "out of memory");
    *out = m;
    return 0;
}

// The check pins the exact prompt: a changed caption, text or template is redone.
static int pair_check(const openai_reason *r, const char *caption, const char *text, char check[17])
{
    char *user = seize_prompt_format(r->user, caption, text);
    size_t sl = strlen(r->system), ul = user ? strlen(user) : 0;
    char *both = user ? malloc(sl + ul + 2) : NULL;
    check[0] = 0;
    if (both) {
        memcpy(both, r->system, sl + 1);
        memcpy(both + sl + 1, user, ul + 1);
        seize_llm_fingerprint(both, sl + ul + 1, check);
    }
    free(both);
    free(user);
    return check[0] ? 0 : seize_error(SEIZE_ENOMEM, "out of memory");
}

static int add_items(seize_llm_batch *b, const openai_reason *r, const seize_reason_job *job)
{
    for (size_t i = 0; i < job->n; i++) {
        char pos[32], check[17];
        snprintf(pos, sizeof pos, "%zu", i);
        int rc = pair_check(r, job->captions[i], job->texts[i], check);
        if (rc == 0) rc = seize_llm_batch_add(b, job->keys ? job->keys[i] : pos, check, 1);
        if (rc < 0) return rc;
    }
    return 0;
}

static int openai_reason_run(void *self, const seize_reason_job *job, seize_stage_item *items)
{
    openai_reason *r = self;
    memset(&r->llm.last, 0, sizeof r->llm.last);
    seize_llm_params p = r->llm.p;
    if (job->cancel) p.cancel = job->cancel;
    if (seize_cancel_level(p.cancel))
        return seize_error(SEIZE_ECANCEL, "cancelled; no request was sent");
    reason_call ctx = {r, job};
    seize_llm_batch *b = NULL;
    int rc = seize_llm_batch_new(&p, r->llm.journal, build_messages, &ctx, &b);
    if (rc == 0) rc = add_items(b, r, job);
    if (rc == 0)
        rc =
            pl_llm_result(&r->llm, pl_llm_run(&r->llm, b, 1, job->on_progress, job->progress_user));
    for (size_t i = 0; b && (rc == 0 || rc == SEIZE_ENET || rc == SEIZE_ECANCEL) && i < job->n;
         i++) {
        int frc = pl_llm_fill(&items[i], b, i, seize_reason_clean);
        if (frc < 0) rc = frc;
    }
    seize_llm_batch_free(b);
    return rc;
}

static int openai_reason_settings(void *self, json_t **out, char hash[65])
{
    return pl_llm_settings(&((openai_reason *)self)->llm, out, hash);
}

static void openai_reason_destroy(void *self)
{
    openai_reason *r = self;
    pl_llm_release(&r->llm);
    free(r->system);
    free(r->user);
    free(r);
}

static const seize_reasoner_methods openai_methods = {
    "openai", openai_reason_run, openai_reason_settings, openai_reason_destroy};

// prompt_sha256 (system NUL user), system_sha256, user_template_sha256 and n = 1.
static json_t *prompt_settings(const char *sys, const char *user)
{
    char h_sys[65], h_user[65], h_both[65];
    pl_sha256_hex(sys, strlen(sys), h_sys);
    pl_sha256_hex(user, strlen(user), h_user);
    size_t ls = strlen(sys), lu = strlen(user);
    char *both = malloc(ls + lu + 2);
    if (!both) return NULL;
    memcpy(both, sys, ls + 1);
    memcpy(both + ls + 1, user, lu + 1);
    pl_sha256_hex(both, ls + lu + 1, h_both);
    free(both);
    return json_pack("{s:s, s:s, s:s, s:i}", "prompt_sha256", h_both, "system_sha256", h_sys,
                     "user_template_sha256", h_user, "n", 1);
}

int seize_reasoner_openai_new(const seize_llm_params *p, const seize_reasoner_openai_opts *o,
                              seize_reasoner **out)
{
    *out = NULL;
    const char *sys = o && o->system ? o->system : SEIZE_REASON_SYSTEM;
    const char *user = o && o->user ? o->user : SEIZE_REASON_USER;
    openai_reason *r = seize_calloc(1, sizeof *r);
    seize_reasoner *rr = seize_calloc(1, sizeof *rr);
    if (r) {
        r->system = seize_strdup(sys);
        r->user = seize_strdup(user);
    }
    if (!r || !rr || !r->system || !r->user) {
        if (r) openai_reason_destroy(r);
        free(rr);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    rr->methods = &openai_methods;
    rr->self = r;
    json_t *extra = prompt_settings(sys, user);
    int rc = extra ? pl_llm_init(&r->llm, p, extra, o ? o->command : NULL, o ? o->journal : NULL)
                   : seize_error(SEIZE_ENOMEM, "out of memory");
    json_decref(extra);
    if (rc < 0) {
        seize_reasoner_free(rr);
        return rc;
    }
    *out = rr;
    return 0;
}

void seize_reasoner_openai_stats(const seize_reasoner *r, seize_llm_stats *out)
{
    memset(out, 0, sizeof *out);
    if (r && r->methods == &openai_methods) *out = ((const openai_reason *)r->self)->llm.last;
}

// The system part: the text above the first line that is exactly "---" (or "---\r"), its
// trailing line ends dropped; *user_start receives where the template begins.
static int split_system(char *text, char **system, char **user_start)
{
    *system = NULL;
    *user_start = text;
    for (char *p = text; p && *p;) {
        char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        if (ll >= 3 && !strncmp(p, "---", 3) && (ll == 3 || (ll == 4 && p[3] == '\r'))) {
            size_t sl = (size_t)(p - text);
            while (sl > 0 && (text[sl - 1] == '\n' || text[sl - 1] == '\r'))
                sl--;
            *system = malloc(sl + 1);
            if (!*system) return seize_error(SEIZE_ENOMEM, "out of memory");
            memcpy(*system, text, sl);
            (*system)[sl] = 0;
            *user_start = nl ? nl + 1 : p + ll;
            return 0;
        }
        p = nl ? nl + 1 : NULL;
    }
    return 0;
}

int seize_prompt_file_load(const char *path, char **system, char **user)
{
    char *text, *u;
    size_t len;
    *system = *user = NULL;
    int rc = seize_read_file_max(path, SEIZE_STAGE_MAX_TEXT, &text, &len);
    if (rc < 0) return rc;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = 0;
    rc = split_system(text, system, &u);
    if (rc == 0 && !(*user = seize_strdup(u))) rc = seize_error(SEIZE_ENOMEM, "out of memory");
    free(text);
    if (rc == 0 && (!strstr(*user, "{caption}") || !strstr(*user, "{instruction}")))
        rc = seize_error(SEIZE_EINVAL, "prompt file '%s' must contain {caption} and {instruction}",
                         path);
    if (rc < 0) {
        free(*system);
        free(*user);
        *system = *user = NULL;
    }
    return rc;
}
