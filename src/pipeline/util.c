// Small pieces of seize_run: strings, paths, files, events.
#include "run_int.h"

#include "seize/net.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *need(char *p)
{
    if (!p) seize_assert_fail(__FILE__, __LINE__, "out of memory");
    return p;
}

char *pl_join(const char *a, const char *b)
{
    return need(seize_path_join(a, b));
}

char *pl_fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    int n = vasprintf(&s, f, ap);
    va_end(ap);
    return need(n < 0 ? NULL : s);
}

char *pl_absolute_path(const char *p)
{
    char *a;
    if (p[0] == '/') {
        a = need(seize_strdup(p));
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) {
            seize_error(SEIZE_EIO, "cannot find the current folder: %s", strerror(errno));
            return NULL;
        }
        while (p[0] == '.' && p[1] == '/')
            p += 2 + strspn(p + 2, "/");
        a = !strcmp(p, ".") || !p[0] ? need(seize_strdup(cwd)) : pl_join(cwd, p);
    }
    size_t n = strlen(a);
    while (n > 1 && a[n - 1] == '/')
        a[--n] = 0;
    return a;
}

static void emit(pl_run *r, const seize_run_event *ev)
{
    if (r->p && r->p->on_event) r->p->on_event(r->p->event_user, ev);
}

static void vsay(pl_run *r, seize_run_level level, const char *f, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, f, ap) < 0) return;
    seize_run_event ev = {.level = level, .message = msg};
    emit(r, &ev);
    free(msg);
}

void pl_say(pl_run *r, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsay(r, SEIZE_RUN_INFO, f, ap);
    va_end(ap);
}

void pl_warn(pl_run *r, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsay(r, SEIZE_RUN_WARNING, f, ap);
    va_end(ap);
}

void pl_stage_log(pl_run *r, const char *job, const char *stage, const char *status, double seconds,
                  json_t *counts)
{
    json_t *s = json_pack("{s:s, s:s, s:s, s:f}", "job", job, "stage", stage, "status", status,
                          "seconds", seconds);
    if (counts) json_object_set_new(s, "counts", counts);
    json_array_append_new(r->stages, s);
    if (pl_cancelled(r)) return; // the run stops now; the stage was stopped, not failed
    char *msg = pl_fmt("%s: %s %s (%.1f s)", job, stage, status, seconds);
    seize_run_event ev = {SEIZE_RUN_INFO, msg, job, stage, status, seconds};
    emit(r, &ev);
    free(msg);
}

void pl_progress(pl_run *r, size_t done, size_t total, size_t errors)
{
    if (!r->p || r->p->quiet || !r->p->on_event) return;
    char msg[160];
    snprintf(msg, sizeof msg, "%s: %s %zu/%zu", r->at_job, r->at_stage, done, total);
    seize_run_event ev = {.level = SEIZE_RUN_PROGRESS,
                          .message = msg,
                          .job = r->at_job,
                          .stage = r->at_stage,
                          .done = done,
                          .total = total,
                          .errors = errors};
    emit(r, &ev);
}

void pl_llm_progress(void *user, const seize_stage_progress *p)
{
    pl_progress(user, p->done - p->done_before, p->total - p->done_before, p->errors);
}

void pl_llm_summary(pl_run *r, const seize_llm_stats *st)
{
    char label[128], *msg = NULL;
    size_t len = 0;
    snprintf(label, sizeof label, "%s %s", r->at_job, r->at_stage);
    FILE *fp = open_memstream(&msg, &len);
    if (!fp) return; // out of memory: no summary
    seize_llm_stats_print(fp, label, st);
    if (fclose(fp) == 0 && msg) {
        while (len && msg[len - 1] == '\n')
            msg[--len] = 0;
        seize_run_event ev = {SEIZE_RUN_INFO, msg, r->at_job, r->at_stage, .llm = st};
        emit(r, &ev);
    }
    free(msg);
}

int pl_write_lines(const char *path, char *const *lines, size_t n)
{
    seize_atomic a;
    int rc = seize_atomic_open(path, &a);
    if (rc < 0) return rc;
    for (size_t i = 0; i < n; i++)
        fprintf(a.fp, "%s\n", lines[i] ? lines[i] : "");
    return seize_atomic_commit(&a);
}

int pl_write_jsonl(const char *path, json_t *rows)
{
    seize_atomic a;
    int rc = seize_atomic_open(path, &a);
    if (rc < 0) return rc;
    size_t i;
    json_t *v;
    json_array_foreach(rows, i, v)
    {
        char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!s) {
            seize_atomic_abort(&a);
            return seize_error(SEIZE_ENOMEM, "out of memory");
        }
        fprintf(a.fp, "%s\n", s);
        free(s);
    }
    return seize_atomic_commit(&a);
}

json_t *pl_str_array(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i] ? v[i] : ""));
    return a;
}

void pl_discard(pl_run *r, const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT)
        pl_warn(r, "warning: cannot remove '%s': %s", path, strerror(errno));
}

int pl_cancelled(const pl_run *r)
{
    return r->p && r->p->cancel && seize_cancel_level(&r->p->cancel->token) > 0;
}
