// Captioning a list of images into a captions file (pipeline.h): what seize caption does, from
// its image sources to the output and its settings file.
#include "seize/data.h"
#include "seize/pipeline.h"

#include "llm_stage.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// The images of the job, in order, each once.
static int collect(const seize_caption_file_job *job, seize_strvec *out)
{
    seize_strvec all = {0};
    seize_strmap seen = {0};
    int rc = 0;
    if (job->list) {
        char **lines;
        size_t n;
        if ((rc = seize_read_lines(job->list, &lines, &n)) == 0) {
            for (size_t i = 0; i < n && rc == 0; i++)
                if (lines[i][0]) rc = seize_strvec_push(&all, lines[i]);
            seize_lines_free(lines, n);
        }
    } else if (job->dataset) {
        seize_ds_kind kind;
        seize_layout l = {0};
        rc = seize_ds_kind_parse(job->dataset, &kind);
        if (rc == 0)
            rc = seize_layout_files(kind, job->annotations, job->gallery_list, job->image_dir, &l);
        if (rc == 0) rc = seize_layout_references(&l, &all);
        seize_layout_free(&l);
    } else {
        for (size_t i = 0; i < job->n_images && rc == 0; i++)
            rc = seize_strvec_push(&all, job->images[i]);
    }
    for (size_t i = 0; rc == 0 && i < all.n; i++) {
        int dup = seize_strmap_put(&seen, all.v[i], i, NULL);
        rc = dup < 0 ? dup : dup ? 0 : seize_strvec_push(out, all.v[i]);
    }
    seize_strmap_free(&seen);
    seize_strvec_free(&all);
    return rc;
}

// The call's outcome: 0, SEIZE_ENET (some images failed; the output is written), or an error.
static int finish(seize_captioner *c, int rc, const seize_caption_file_job *job,
                  seize_caption_file_result *res)
{
    for (size_t i = 0; i < res->images.n; i++) {
        res->n_failed += res->items[i].error != NULL;
        res->n_retry += res->items[i].error && res->items[i].retryable;
    }
    if (!pl_file_job_writes(rc, res->n_failed)) return rc;
    json_t *settings = NULL;
    rc = seize_captions_items_write(job->out, (const char *const *)res->images.v, res->items,
                                    res->images.n, &res->n_written);
    if (rc == 0) rc = seize_captioner_settings(c, &settings, res->hash);
    return pl_file_job_end(rc, settings, job->out, res->hash, res->n_failed);
}

// The output can be made where it is asked (checked first: it is written after the work).
static int check_out(const char *out)
{
    struct stat st;
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        return seize_error(SEIZE_EINVAL, "the output '%s' is a folder (give a file name)", out);
    const char *slash = strrchr(out, '/');
    if (!slash || slash == out) return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - out), out);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return seize_error(SEIZE_ENOTFOUND, "the output '%s': no folder '%s' (create it first)",
                           out, dir);
    return 0;
}

int seize_caption_file_with(seize_captioner_make_fn make, void *user,
                            const seize_caption_file_job *job, seize_caption_file_result *res)
{
    seize_lock lock[2] = {{-1, NULL}, {-1, NULL}};
    seize_captioner *c = NULL;
    memset(res, 0, sizeof *res);
    int rc = job->out ? check_out(job->out) : 0;
    if (rc == 0) rc = pl_file_job_begin(job->out, job->journal, &res->journal, lock);
    if (rc == 0) rc = make(user, res->journal, &c);
    if (rc == 0) rc = collect(job, &res->images);
    if (rc == 0 && !(res->items = seize_calloc(res->images.n + 1, sizeof *res->items)))
        rc = seize_error(SEIZE_ENOMEM, "out of memory");
    if (rc == 0) {
        seize_caption_job cj = {(const char *const *)res->images.v,
                                res->images.n,
                                job->n_captions,
                                job->on_progress,
                                job->progress_user,
                                job->cancel,
                                job->dataset ? job->image_dir : NULL};
        rc = seize_captioner_caption(c, &cj, res->items);
        seize_captioner_openai_stats(c, &res->stats);
        if (!strcmp(c->methods->name, "blip2")) seize_captioner_blip2_stats(c, &res->stats);
        rc = finish(c, rc, job, res);
    }
    seize_captioner_free(c);
    seize_stage_unlock(lock);
    return rc;
}

typedef struct openai_make {
    const seize_llm_params *p;
    const seize_caption_file_job *job;
} openai_make;

static int make_openai(void *user, const char *journal, seize_captioner **out)
{
    const openai_make *m = user;
    seize_captioner_openai_opts co = {m->job->prompt, journal, m->job->n_captions, m->job->command};
    return seize_captioner_openai_new(m->p, &co, out);
}

int seize_caption_file(const seize_llm_params *p, const seize_caption_file_job *job,
                       seize_caption_file_result *res)
{
    openai_make m = {p, job};
    return seize_caption_file_with(make_openai, &m, job, res);
}

typedef struct blip2_make {
    const seize_captioner_blip2_opts *o;
    const seize_caption_file_job *job;
} blip2_make;

static int make_blip2(void *user, const char *journal, seize_captioner **out)
{
    const blip2_make *m = user;
    seize_captioner_blip2_opts o = *m->o;
    o.journal = journal, o.command = m->job->command;
    if (m->job->prompt) o.gen.prompt = m->job->prompt;
    o.gen.n = (int)m->job->n_captions;
    return seize_captioner_blip2_new(&o, out);
}

int seize_caption_file_blip2(const seize_captioner_blip2_opts *o, const seize_caption_file_job *job,
                             seize_caption_file_result *res)
{
    blip2_make m = {o, job};
    return seize_caption_file_with(make_blip2, &m, job, res);
}

void seize_caption_file_result_release(seize_caption_file_result *res)
{
    seize_stage_items_release(res->items, res->images.n);
    free(res->items);
    seize_strvec_free(&res->images);
    free(res->journal);
    memset(res, 0, sizeof *res);
}
