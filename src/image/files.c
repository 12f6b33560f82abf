// Many image files preprocessed into one float32 [N, 3, S, S] .npy (seize preprocess), on a
// thread pool, a chunk of images at a time.
#include "seize/image.h"

#include "seize/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static char oom_msg[] = "out of memory";

typedef struct chunk {
    const char *const *paths;
    size_t first;
    const seize_preprocess_opts *o;
    float *out;    // (chunk, 3, S, S)
    char **errors; // per item, NULL when it went well
} chunk;

// Item i of the current chunk, on a thread of the pool.
static void preprocess_item(void *ctx, size_t i, int thread)
{
    chunk *w = ctx;
    size_t per = 3 * (size_t)w->o->size * (size_t)w->o->size;
    if (seize_image_load_preprocess(w->paths[w->first + i], w->o, w->out + i * per) < 0) {
        w->errors[i] = strdup(seize_errmsg());
        if (!w->errors[i]) w->errors[i] = oom_msg;
    }
}

static void free_error(char **e)
{
    if (*e != oom_msg) free(*e);
    *e = NULL;
}

// A v1 .npy header for float32 (n, 3, s, s). With total == 0 it is padded so the data starts
// at a multiple of 64; otherwise it is padded to exactly `total` bytes (to rewrite a header in
// place with a smaller row count). Returns its length, or 0 on a write error.
static size_t write_header(FILE *fp, size_t n, int s, size_t total)
{
    char dict[160];
    int len =
        snprintf(dict, sizeof dict,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, 3, %d, %d), }", n, s, s);
    size_t natural = 10 + (size_t)len + 1;
    if (!total) total = natural + (64 - natural % 64) % 64;
    size_t pad = total - natural, hlen = total - 10;
    unsigned char pre[10] = {0x93,
                             'N',
                             'U',
                             'M',
                             'P',
                             'Y',
                             1,
                             0,
                             (unsigned char)(hlen & 255),
                             (unsigned char)(hlen >> 8)};
    if (fwrite(pre, 1, 10, fp) != 10 || fwrite(dict, 1, (size_t)len, fp) != (size_t)len) return 0;
    for (size_t i = 0; i < pad; i++)
        if (fputc(' ', fp) == EOF) return 0;
    return fputc('\n', fp) == EOF ? 0 : total;
}

typedef struct run {
    const seize_preprocess_files_params *p;
    const char *out;
    FILE *fp;
    size_t per, n_ok, n_bad;
    int rc;
} run;

// The m results of a chunk in order: rows written, failures reported (or the first kept as
// the error without keep_going).
static void take_chunk(run *r, chunk *w, size_t m)
{
    for (size_t i = 0; i < m; i++) {
        if (w->errors[i]) {
            r->n_bad++;
            if (r->p->keep_going && r->p->on_bad)
                r->p->on_bad(r->p->ud, w->first + i, w->errors[i]);
            else if (!r->p->keep_going && r->rc == 0)
                r->rc = seize_error(SEIZE_EFORMAT, "%s", w->errors[i]);
            free_error(&w->errors[i]);
            continue;
        }
        if (r->rc == 0 && fwrite(w->out + i * r->per, sizeof(float), r->per, r->fp) != r->per)
            r->rc = seize_error(SEIZE_EIO, "cannot write '%s': %s", r->out, strerror(errno));
        r->n_ok++;
    }
}

// The header is written for all n rows and rewritten, same length, if some fail.
static int write_all(run *r, seize_pool *pool, const char *const *paths, size_t n, chunk *w,
                     size_t chunk_n)
{
    size_t hdr = write_header(r->fp, n, r->p->pre.size, 0);
    if (!hdr) return seize_error(SEIZE_EIO, "cannot write '%s': %s", r->out, strerror(errno));
    for (size_t first = 0; first < n && r->rc == 0; first += chunk_n) {
        size_t m = n - first < chunk_n ? n - first : chunk_n;
        w->first = first;
        seize_pool_for(pool, m, preprocess_item, w);
        take_chunk(r, w, m);
        if (r->p->on_progress && r->p->on_progress(r->p->ud, first + m, r->n_bad) && !r->rc)
            r->rc = seize_error(SEIZE_ECANCEL, "interrupted");
    }
    if (r->rc) return r->rc;
    if (r->n_ok == 0)
        return seize_error(SEIZE_EFORMAT, "no image could be read; '%s' not written", r->out);
    if (r->n_ok != n && (fseek(r->fp, 0, SEEK_SET) != 0 ||
                         write_header(r->fp, r->n_ok, r->p->pre.size, hdr) != hdr))
        return seize_error(SEIZE_EIO, "cannot write '%s': %s", r->out, strerror(errno));
    return 0;
}

seize_preprocess_files_params seize_preprocess_files_default_params(void)
{
    return (seize_preprocess_files_params){.pre = seize_preprocess_default_opts()};
}

int seize_preprocess_files(const char *const *paths, size_t n, const char *out_npy,
                           const seize_preprocess_files_params *p, size_t *n_ok)
{
    int n_threads = p->n_threads > 0 ? p->n_threads : seize_cpu_count();
    if (n_threads > 64) n_threads = 64;
    size_t chunk_n = 4 * (size_t)n_threads;
    run r = {.p = p, .out = out_npy, .per = 3 * (size_t)p->pre.size * (size_t)p->pre.size};
    chunk w = {.paths = paths, .o = &p->pre};
    w.out = seize_malloc(chunk_n, r.per * sizeof(float));
    w.errors = seize_calloc(chunk_n, sizeof *w.errors);
    seize_atomic dst = {0};
    seize_pool *pool = NULL;
    int rc = w.out && w.errors ? 0 : SEIZE_ENOMEM;
    if (rc == 0) rc = seize_pool_new(n_threads, &pool);
    if (rc == 0) rc = seize_atomic_open(out_npy, &dst);
    r.fp = dst.fp;
    if (rc == 0) rc = write_all(&r, pool, paths, n, &w, chunk_n);
    if (rc == 0) rc = seize_atomic_commit(&dst);
    seize_atomic_abort(&dst); // no-op after a commit
    for (size_t i = 0; w.errors && i < chunk_n; i++)
        free_error(&w.errors[i]);
    free(w.errors);
    free(w.out);
    seize_pool_free(pool);
    if (n_ok) *n_ok = rc == 0 ? r.n_ok : 0;
    return rc;
}
