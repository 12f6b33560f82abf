// Encoding whole lists of images: loading and preprocessing of the next batch runs on
// background threads while the current batch goes through the towers.
//
// The background threads (a seize_pool with SEIZE_POOL_IDLE) are SCHED_IDLE: they take only
// cores that the forward pass leaves idle (spare cores, gaps between products), so they never
// slow it down. When a forward pass ends, the caller's thread joins in (seize_pool_wait) to
// finish the next batch, so no core waits either.
#include "seize/clip.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct loader {
    seize_clip_load_fn load;
    void *ud;
    size_t per;                 // floats per image
    atomic_int quit;            // set on failure: the items left return at once
    const seize_cancel *cancel; // the caller's: a stop request does the same
} loader;

typedef struct job {
    loader *ld;
    float *pix; // (B, 3·S·S)
    int *rc;    // (B) per item
    char **msg; // (B) per failed item, heap
    size_t first, count;
} job;

// One item of a batch, on a pool thread (or the caller's, which joins in seize_pool_wait).
static void load_item(void *ctx, size_t i, int thread)
{
    job *j = ctx;
    loader *ld = j->ld;
    if (atomic_load(&ld->quit) || seize_cancel_level(ld->cancel)) {
        j->rc[i] = SEIZE_ECANCEL; // left: the list stops before this batch is used
        return;
    }
    float *px = j->pix + i * ld->per;
    int rc = ld->load(ld->ud, j->first + i, px);
    if (rc < 0) {
        j->msg[i] = seize_strdup(seize_errmsg());
        memset(px, 0, ld->per * sizeof *px);
    }
    j->rc[i] = rc;
}

// Starts loading items [first, first + count) into j on the pool's background workers.
static void post(seize_pool *pool, job *j, size_t first, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        j->rc[i] = 0;
        j->msg[i] = NULL;
    }
    j->first = first;
    j->count = count;
    seize_pool_start(pool, count, load_item, j);
}

static void free_msgs(job *j, size_t cap)
{
    for (size_t i = 0; i < cap; i++) {
        free(j->msg[i]);
        j->msg[i] = NULL;
    }
}

// Background loaders: the state's threads minus the caller, or the spare cores, whichever is
// more (they only run on idle cores), at most 16; plus the caller, who joins in to finish.
static int loader_pool(const seize_clip *c, seize_pool **out)
{
    int cores = seize_cpu_count(), t = seize_clip_threads(c);
    int want = t - 1 > cores - t ? t - 1 : cores - t;
    if (want < 1) want = 1;
    if (want > 16) want = 16;
    return seize_pool_new_ex(want + 1, SEIZE_POOL_IDLE, out);
}

// Checks the items of a finished batch: bok[i], the count of bad ones; the first bad item is
// an error unless skip_bad.
static int check_batch(job *j, const seize_clip_list_opts *opts, uint8_t *bok, size_t *good,
                       size_t *n_bad)
{
    *good = 0;
    for (size_t i = 0; i < j->count; i++) {
        bok[i] = j->rc[i] >= 0;
        if (bok[i]) {
            (*good)++;
            continue;
        }
        if (!opts->skip_bad)
            return seize_error(j->rc[i], "%s", j->msg[i] ? j->msg[i] : "cannot load item");
        (*n_bad)++;
        if (opts->on_bad)
            opts->on_bad(opts->ud, j->first + i, j->rc[i], j->msg[i] ? j->msg[i] : "");
    }
    return 0;
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

    int rc = 0, loading = 0;
    loader ld = {.load = load, .ud = opts->ud, .per = per, .cancel = opts->cancel};
    atomic_store(&ld.quit, 0);
    job jobs[2];
    memset(jobs, 0, sizeof jobs);
    float *feat = NULL;
    uint8_t *bok = NULL;
    seize_pool *pool = NULL;

    size_t pix_n;
    if (seize_mul_size(B, per, &pix_n) < 0) return SEIZE_ENOMEM;
    for (int k = 0; k < 2; k++) {
        jobs[k].ld = &ld;
        jobs[k].pix = seize_alloc_aligned(pix_n, sizeof(float));
        jobs[k].rc = seize_calloc(B, sizeof(int));
        jobs[k].msg = seize_calloc(B, sizeof(char *));
        if (!jobs[k].pix || !jobs[k].rc || !jobs[k].msg) rc = SEIZE_ENOMEM;
    }
    if (!(feat = seize_malloc(B * E, sizeof *feat)) || !(bok = seize_malloc(B, 1)))
        rc = SEIZE_ENOMEM;
    if (rc < 0 || (rc = loader_pool(c, &pool)) < 0) goto done;

    size_t n_bad = 0, n_batches = (n + B - 1) / B;
    post(pool, &jobs[0], 0, B < n ? B : n);
    loading = 1;
    for (size_t b = 0; b < n_batches; b++) {
        job *j = &jobs[b % 2];
        seize_pool_wait(pool); // the caller helps finish batch b
        loading = 0;
        if ((rc = seize_cancel_check(opts->cancel)) < 0) goto done; // items of b may be left
        size_t first = j->first, cnt = j->count, good = 0;
        if (b + 1 < n_batches) { // batch b + 1 loads while batch b goes through the towers
            size_t f2 = first + cnt;
            post(pool, &jobs[(b + 1) % 2], f2, n - f2 < B ? n - f2 : B);
            loading = 1;
        }
        rc = check_batch(j, opts, bok, &good, &n_bad);
        free_msgs(j, B);
        if (rc < 0) goto done;
        float *dst = out ? out + first * E : feat;
        if (good && (rc = seize_clip_encode_images(c, j->pix, cnt, dst)) < 0) goto done;
        for (size_t i = 0; i < cnt; i++)
            if (!bok[i]) memset(dst + i * E, 0, E * sizeof *dst);
        if (ok) memcpy(ok + first, bok, cnt);
        if (opts->on_batch && (rc = opts->on_batch(opts->ud, first, cnt, dst, bok)) < 0) goto done;
        rc = 0;
        if (seize_cancel_level(opts->cancel) ||
            (opts->on_progress && opts->on_progress(opts->ud, first + cnt, n_bad))) {
            rc = seize_error(SEIZE_ECANCEL, "interrupted");
            goto done;
        }
    }
    if (n_bad_out) *n_bad_out = n_bad;
done:
    atomic_store(&ld.quit, 1); // the items not started yet return at once
    if (loading) seize_pool_wait(pool);
    seize_pool_free(pool);
    for (int k = 0; k < 2; k++) {
        if (jobs[k].msg) free_msgs(&jobs[k], B);
        free(jobs[k].pix);
        free(jobs[k].rc);
        free(jobs[k].msg);
    }
    free(feat);
    free(bok);
    return rc;
}
