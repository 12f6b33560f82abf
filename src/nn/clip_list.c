// Encoding whole lists of images: loading and preprocessing of the next batch runs on
// background threads while the current batch goes through the towers.
//
// The background threads are SCHED_IDLE: they take only cores that the forward pass leaves
// idle (spare cores, gaps between products), so they never slow it down. When a forward pass
// ends, the caller's thread joins in to finish the next batch, so no core waits either.
#include "seize/clip.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    float *pix;   // (B, 3·S·S)
    int *rc;      // (B) per item
    char **msg;   // (B) per failed item, heap
    size_t first, count;
    atomic_size_t next; // next item to take
    size_t done;        // items finished (under mu)
    int users;          // threads inside this job (under mu)
} job;

typedef struct pipeline {
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    job *cur; // the job that workers should help with, or NULL
    atomic_int quit;
    seize_clip_load_fn load;
    void *ud;
    size_t per; // floats per image
} pipeline;

// Takes items of j until none is left (or quit). The caller holds j (users > 0).
static void work(pipeline *p, job *j)
{
    for (;;) {
        if (atomic_load(&p->quit)) break;
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->count) break;
        float *px = j->pix + i * p->per;
        int rc = p->load(p->ud, j->first + i, px);
        if (rc < 0) {
            j->msg[i] = seize_strdup(seize_errmsg());
            memset(px, 0, p->per * sizeof *px);
        }
        j->rc[i] = rc;
        pthread_mutex_lock(&p->mu);
        if (++j->done == j->count) pthread_cond_broadcast(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static void *worker(void *arg)
{
    pipeline *p = arg;
#ifdef SCHED_IDLE
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp); // best effort
#endif
    pthread_mutex_lock(&p->mu);
    while (!atomic_load(&p->quit)) {
        job *j = p->cur;
        if (j && atomic_load(&j->next) < j->count) {
            j->users++;
            pthread_mutex_unlock(&p->mu);
            work(p, j);
            pthread_mutex_lock(&p->mu);
            if (--j->users == 0) pthread_cond_broadcast(&p->done_cv);
            continue;
        }
        pthread_cond_wait(&p->work_cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void post(pipeline *p, job *j, size_t first, size_t count)
{
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < count; i++) {
        j->rc[i] = 0;
        j->msg[i] = NULL;
    }
    j->first = first;
    j->count = count;
    j->done = 0;
    atomic_store(&j->next, 0);
    p->cur = j;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
}

// The caller's thread helps finish j, then waits until every item is done and no worker is
// still inside it (so that j can be reused).
static void finish(pipeline *p, job *j)
{
    pthread_mutex_lock(&p->mu);
    j->users++;
    pthread_mutex_unlock(&p->mu);
    work(p, j);
    pthread_mutex_lock(&p->mu);
    j->users--;
    while ((j->done < j->count && !atomic_load(&p->quit)) || j->users > 0)
        pthread_cond_wait(&p->done_cv, &p->mu);
    if (p->cur == j) p->cur = NULL;
    pthread_mutex_unlock(&p->mu);
}

static void free_msgs(job *j, size_t cap)
{
    for (size_t i = 0; i < cap; i++) {
        free(j->msg[i]);
        j->msg[i] = NULL;
    }
}

int seize_clip_encode_image_list(seize_clip *c, size_t n, seize_clip_load_fn load,
                                 const seize_clip_list_opts *opts, float *out, uint8_t *ok,
                                 size_t *n_bad_out)
{
    static const seize_clip_list_opts no_opts = {0};
    if (!opts) opts = &no_opts;
    if (n_bad_out) *n_bad_out = 0;
    if (n == 0) return 0;
    size_t S = (size_t)seize_clip_image_size(c), E = seize_clip_embed_dim(c);
    size_t B = (size_t)seize_clip_max_batch(c), per = 3 * S * S;
    if (B > n) B = n;

    int rc = 0;
    pipeline p = {.load = load, .ud = opts->ud, .per = per};
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.work_cv, NULL);
    pthread_cond_init(&p.done_cv, NULL);
    atomic_store(&p.quit, 0);
    job jobs[2];
    memset(jobs, 0, sizeof jobs);
    float *feat = NULL;
    uint8_t *bok = NULL;
    pthread_t th[16];
    int n_workers = 0;

    size_t pix_n;
    if (seize_mul_size(B, per, &pix_n) < 0) return SEIZE_ENOMEM;
    for (int k = 0; k < 2; k++) {
        atomic_store(&jobs[k].next, 0);
        jobs[k].pix = seize_alloc_aligned(pix_n, sizeof(float));
        jobs[k].rc = seize_calloc(B, sizeof(int));
        jobs[k].msg = seize_calloc(B, sizeof(char *));
        if (!jobs[k].pix || !jobs[k].rc || !jobs[k].msg) rc = SEIZE_ENOMEM;
    }
    if (!(feat = seize_malloc(B * E, sizeof *feat)) || !(bok = seize_malloc(B, 1))) rc = SEIZE_ENOMEM;
    if (rc < 0) goto done;

    // Background loaders: the state's threads minus the caller, or the spare cores, whichever
    // is more (they only run on idle cores).
    int cores = seize_cpu_count(), t = seize_clip_threads(c);
    int want = t - 1 > cores - t ? t - 1 : cores - t;
    if (want < 1) want = 1;
    if (want > 16) want = 16;
    for (; n_workers < want; n_workers++)
        if (pthread_create(&th[n_workers], NULL, worker, &p) != 0) break;

    size_t n_bad = 0, n_batches = (n + B - 1) / B;
    post(&p, &jobs[0], 0, B < n ? B : n);
    for (size_t b = 0; b < n_batches; b++) {
        job *j = &jobs[b % 2];
        finish(&p, j);
        size_t first = j->first, cnt = j->count;
        if (b + 1 < n_batches) {
            size_t f2 = first + cnt;
            post(&p, &jobs[(b + 1) % 2], f2, n - f2 < B ? n - f2 : B);
        }
        size_t good = 0;
        for (size_t i = 0; i < cnt; i++) {
            bok[i] = j->rc[i] >= 0;
            if (bok[i]) {
                good++;
                continue;
            }
            if (!opts->skip_bad) {
                rc = seize_error(j->rc[i], "%s", j->msg[i] ? j->msg[i] : "cannot load item");
                free_msgs(j, B);
                goto done;
            }
            n_bad++;
            if (opts->on_bad) opts->on_bad(opts->ud, first + i, j->rc[i], j->msg[i] ? j->msg[i] : "");
        }
        free_msgs(j, B);
        float *dst = out ? out + first * E : feat;
        if (good) seize_clip_encode_images(c, j->pix, cnt, dst);
        for (size_t i = 0; i < cnt; i++)
            if (!bok[i]) memset(dst + i * E, 0, E * sizeof *dst);
        if (ok) memcpy(ok + first, bok, cnt);
        if (opts->on_batch && (rc = opts->on_batch(opts->ud, first, cnt, dst, bok)) < 0) goto done;
        rc = 0;
        if (opts->on_progress && opts->on_progress(opts->ud, first + cnt, n_bad)) {
            rc = seize_error(SEIZE_ECANCEL, "interrupted");
            goto done;
        }
    }
    if (n_bad_out) *n_bad_out = n_bad;
done:
    pthread_mutex_lock(&p.mu);
    atomic_store(&p.quit, 1);
    pthread_cond_broadcast(&p.work_cv);
    pthread_mutex_unlock(&p.mu);
    for (int k = 0; k < n_workers; k++) pthread_join(th[k], NULL);
    for (int k = 0; k < 2; k++) {
        if (jobs[k].msg) free_msgs(&jobs[k], B);
        free(jobs[k].pix);
        free(jobs[k].rc);
        free(jobs[k].msg);
    }
    free(feat);
    free(bok);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.work_cv);
    pthread_cond_destroy(&p.done_cv);
    return rc;
}
