// seize_run: the parameters checked and completed, the run folder locked, the jobs set up and
// validated, the stages run in order, the manifest written.
#include "stages.h"

#include "seize/cluster.h"
#include "seize/retrieval.h"

#include <errno.h>
#include <sys/file.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

seize_run_params seize_run_default_params(void)
{
    seize_run_params p;
    memset(&p, 0, sizeof p);
    p.method = "seize";
    p.pos = p.neg = NAN;
    p.num_captions = 15;
    p.k = 50;
    p.batch = 32;
    p.report_queries = 10;
    p.report_k = 10;
    return p;
}

// --- parameters ----------------------------------------------------------------------------------

static void copy_params(const seize_run_params *p, run_opts *o)
{
    *o = (run_opts){p->dataset,         p->data_root,
                    p->split,           p->model_dir,
                    p->out_dir,         p->gallery_dir,
                    p->queries_file,    p->captions_file,
                    p->category,        p->captioner_endpoint,
                    p->captioner_model, p->llm_endpoint,
                    p->llm_model,       p->caption_prompt,
                    p->prompt_file,     p->temperature,
                    p->top_p,           p->seed,
                    p->concurrency,     p->timeout,
                    p->max_attempts,    p->fiq_join,
                    p->backoff_base};
    o->cap_dir = p->captioner_dir;
    o->user_gallery = p->gallery_dir;
    o->user_queries = p->queries_file;
    o->user_out = p->out_dir;
    o->method = p->method ? p->method : "seize";
    o->pos = p->pos;
    o->neg = p->neg;
    o->num_captions = p->num_captions;
    o->k = p->k;
    o->batch = p->batch;
    o->threads = p->threads;
    o->no_pad = p->no_pad;
    o->precision = p->precision;
    o->report_queries = p->report_queries;
    o->report_k = p->report_k;
    o->restart = p->restart;
}

// The run folder's lock: flock on the folder's own descriptor. It writes nothing (a fully
// cached run on a read-only folder still takes it) and is released by the kernel however the
// process ends.
int pl_lock_run_dir(const char *dir, int *fd_out)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return seize_error(SEIZE_EIO, "cannot open run folder '%s': %s", dir, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return seize_error(SEIZE_EBUSY,
                               "run folder '%s' is in use by another 'seize run'; wait for it to "
                               "finish or stop it (one run per folder at a time)",
                               dir);
        return seize_error(SEIZE_EIO, "cannot lock run folder '%s': %s", dir, strerror(e));
    }
    *fd_out = fd;
    return 0;
}

static int check_params(run_opts *o, int *folder, seize_ds_kind *kind)
{
    *folder = o->dataset && !strcmp(o->dataset, "folder");
    *kind = SEIZE_DS_CIRCO;
    if (!o->dataset || (!*folder && seize_ds_kind_parse(o->dataset, kind) < 0))
        return seize_error(SEIZE_EINVAL, "unknown dataset '%s' (circo, cirr, fashioniq or folder)",
                           o->dataset ? o->dataset : "");
    if (!o->model_dir || !o->out_dir)
        return seize_error(SEIZE_EINVAL, "a model folder and a run folder are required");
    if (*folder && (!o->gallery_dir || !o->queries_file))
        return seize_error(SEIZE_EINVAL, "folder needs a gallery folder and a queries file");
    if (*folder && !o->split) o->split = "val";
    if (!*folder && (!o->data_root || !o->split))
        return seize_error(SEIZE_EINVAL, "%s needs a data root and a split", o->dataset);
    if (!*folder && !strcmp(o->split, "test") && *kind == SEIZE_DS_CIRR) o->split = "test1";
    if (o->category && (*kind != SEIZE_DS_FASHIONIQ || *folder))
        return seize_error(SEIZE_EINVAL, "a category is for fashioniq");
    if (seize_method_parse(o->method, NULL) < 0) return SEIZE_EINVAL;
    if ((unsigned)o->precision > SEIZE_PRECISION_INT8)
        return seize_error(SEIZE_EINVAL, "unknown precision %d", (int)o->precision);
    if (o->num_captions < 1 || o->k < 1 || o->batch < 1 || o->report_k < 1 || o->report_queries < 0)
        return seize_error(SEIZE_EINVAL, "num_captions, k, batch and report_k must be positive");
    // per-dataset defaults of ARCHITECTURE.md §1
    int cirr = *kind == SEIZE_DS_CIRR && !*folder;
    if (isnan(o->pos)) o->pos = cirr ? 0.22 : 0.13;
    if (isnan(o->neg)) o->neg = cirr ? 1.0 : 2.1;
    if (!strcmp(o->method, "mean")) o->pos = o->neg = 0;
    return 0;
}

// Relative paths are the current folder's (the stages get absolute ones).
static int absolute_paths(pl_run *r)
{
    run_opts *o = &r->o;
    const char **paths[] = {&o->data_root,    &o->model_dir,     &o->out_dir,     &o->gallery_dir,
                            &o->queries_file, &o->captions_file, &o->prompt_file, &o->cap_dir};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (!*paths[i]) continue;
        char *a = pl_absolute_path(*paths[i]);
        if (!a) return SEIZE_EIO;
        *paths[i] = r->owned[r->n_owned++] = a;
    }
    return 0;
}

// --- jobs ----------------------------------------------------------------------------------------

static char *category_captions(const char *file, const char *cat)
{
    const char *at = strstr(file, "{category}"); // '{category}' is replaced
    return at ? pl_fmt("%.*s%s%s", (int)(at - file), file, cat, at + 10) : pl_fmt("%s", file);
}

static int setup_jobs(pl_run *r, int folder, seize_ds_kind kind, job *jobs, size_t *n_jobs)
{
    static const char *cats[] = {"dress", "shirt", "toptee"};
    const run_opts *o = &r->o;
    *n_jobs = 1;
    if (folder) {
        jobs[0] = (job){.name = "folder", .folder = 1, .dir = pl_fmt("%s", o->out_dir)};
        if (o->captions_file) jobs[0].captions_file = pl_fmt("%s", o->captions_file);
        return pl_setup_folder_job(r, &jobs[0]);
    }
    if (kind != SEIZE_DS_FASHIONIQ) {
        jobs[0] =
            (job){.name = seize_ds_kind_name(kind), .kind = kind, .dir = pl_fmt("%s", o->out_dir)};
        if (o->captions_file) jobs[0].captions_file = pl_fmt("%s", o->captions_file);
        return pl_setup_dataset_job(r, &jobs[0], NULL);
    }
    int rc = 0;
    *n_jobs = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (o->category && strcmp(o->category, cats[i])) continue;
        job *j = &jobs[(*n_jobs)++];
        *j = (job){.name = cats[i], .kind = kind, .dir = pl_join(o->out_dir, cats[i])};
        if (o->captions_file) j->captions_file = category_captions(o->captions_file, cats[i]);
        rc = pl_setup_dataset_job(r, j, cats[i]);
    }
    if (*n_jobs == 0)
        rc = seize_error(SEIZE_EINVAL, "unknown --category '%s' (dress, shirt or toptee)",
                         o->category);
    return rc;
}

// Everything that can be checked is checked before the first request: the inputs, then the
// model folder (a wrong --model costs nothing).
static int check_jobs(pl_run *r, job *jobs, size_t n_jobs)
{
    const run_opts *o = &r->o;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n_jobs; i++)
        rc = pl_validate_job(r, &jobs[i]);
    if (rc == 0 && o->cap_dir && o->cap_model)
        rc = seize_error(SEIZE_EINVAL, "give --captioner-dir or --captioner-model, not both");
    if (rc == 0 && !o->captions_file && !o->cap_dir && (!o->cap_endpoint || !o->cap_model))
        rc = seize_error(SEIZE_EINVAL,
                         "no captions: give --captions FILE, --captioner-dir DIR, or "
                         "--captioner-endpoint (or $OPENAI_BASE_URL) and --captioner-model");
    if (rc == 0 && !o->captions_file && (!o->llm_endpoint || !o->llm_model))
        rc =
            seize_error(SEIZE_EINVAL,
                        "no edits: give --llm-endpoint (or $OPENAI_BASE_URL) and --llm-model, or a "
                        "caption file with edits");
    if (rc == 0) rc = pl_model_hash(r);
    return rc;
}

static int run_job(pl_run *r, job *j)
{
    int rc = seize_path_exists(j->dir) ? 0 : seize_mkdirs(j->dir);
    int (*stages[])(pl_run *, job *) = {pl_stage_captions, pl_stage_index, pl_stage_features,
                                        pl_stage_search, pl_stage_results};
    for (size_t s = 0; rc == 0 && s < sizeof stages / sizeof stages[0]; s++)
        rc = pl_cancelled(r) ? seize_error(SEIZE_ECANCEL, "interrupted") : stages[s](r, j);
    return rc;
}

static int run_jobs(pl_run *r, int folder, seize_ds_kind kind, job *jobs, size_t n_jobs)
{
    int rc = check_jobs(r, jobs, n_jobs);
    for (size_t i = 0; rc == 0 && i < n_jobs; i++)
        rc = run_job(r, &jobs[i]);
    if (rc == 0 && kind == SEIZE_DS_FASHIONIQ && !folder && !strcmp(r->o.split, "val"))
        rc = pl_fiq_metrics(r, jobs, n_jobs);
    for (size_t i = 0; rc == 0 && i < n_jobs; i++)
        rc = pl_stage_report(r, &jobs[i]);
    if (rc == 0 && pl_cancelled(r)) rc = seize_error(SEIZE_ECANCEL, "interrupted");
    return rc;
}

// --- the run -------------------------------------------------------------------------------------

static int finish(pl_run *r, int rc, seize_run_result *res, double t0)
{
    snprintf(res->error, sizeof res->error, "%s", rc < 0 ? seize_errmsg() : "");
    res->permanent = rc < 0 && r->permanent;
    if (rc == SEIZE_ECANCEL || (rc < 0 && pl_cancelled(r))) {
        res->status = SEIZE_RUN_CANCELLED;
        res->signal = r->p->cancel ? seize_cancel_signal(&r->p->cancel->token) : 0;
        res->error[0] = 0;
        res->wrote = r->wrote;
        res->seconds = seize_now() - t0;
        return SEIZE_ECANCEL;
    }
    int mrc = pl_write_manifest(r, rc, res->error, seize_now() - t0);
    if (rc == 0 && mrc < 0) {
        rc = mrc;
        snprintf(res->error, sizeof res->error, "%s", seize_errmsg());
    }
    res->status = rc < 0 ? SEIZE_RUN_FAILED : r->partial ? SEIZE_RUN_PARTIAL : SEIZE_RUN_OK;
    res->wrote = r->wrote;
    res->seconds = seize_now() - t0;
    if (rc < 0) seize_error(rc, "%s", res->error);
    return rc;
}

int seize_run(const seize_run_params *p, seize_run_result *res)
{
    memset(res, 0, sizeof *res);
    res->status = SEIZE_RUN_FAILED;
    pl_run R;
    memset(&R, 0, sizeof R);
    pl_run *r = &R;
    r->p = p;
    pl_stage_ops table = pl_stage_table(); // lives as long as the run
    r->ops = &table;
    copy_params(p, &r->o);
    int folder, lock_fd = -1, rc;
    seize_ds_kind kind;
    job jobs[3];
    memset(jobs, 0, sizeof jobs);
    size_t n_jobs = 0;
    double t0 = seize_now();
    if (seize_cluster_rank() > 0) { // under mpirun: the stages rank 0 leads (seize/cluster.h)
        rc = seize_cluster_follow();
        res->status = rc < 0 ? SEIZE_RUN_FAILED : SEIZE_RUN_OK;
        snprintf(res->error, sizeof res->error, "%s", rc < 0 ? seize_errmsg() : "");
        return rc;
    }
    if ((rc = check_params(&r->o, &folder, &kind)) < 0 || (rc = absolute_paths(r)) < 0) goto out;
    snprintf(res->out_dir, sizeof res->out_dir, "%s", r->o.out_dir);
    if (!seize_path_exists(r->o.out_dir) && (rc = seize_mkdirs(r->o.out_dir)) < 0) goto out;
    if ((rc = pl_lock_run_dir(r->o.out_dir, &lock_fd)) < 0) goto out;
    pl_load_cache(r);
    r->stages = json_array();
    r->failed = json_array();
    rc = setup_jobs(r, folder, kind, jobs, &n_jobs);
    if (rc == 0) rc = run_jobs(r, folder, kind, jobs, n_jobs);
    rc = finish(r, rc, res, t0);
    goto done;
out:
    snprintf(res->error, sizeof res->error, "%s", seize_errmsg());
done:
    json_decref(r->cache);
    json_decref(r->stages);
    json_decref(r->failed);
    for (size_t i = 0; i < n_jobs; i++)
        pl_job_free(&jobs[i]);
    for (int i = 0; i < r->n_owned; i++)
        free(r->owned[i]);
    if (lock_fd >= 0) close(lock_fd);
    seize_cluster_lead_end(rc, res->error); // the other ranks end with the run
    return rc;
}
