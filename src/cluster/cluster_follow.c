// seize run under mpirun (seize/cluster.h): rank 0 runs the pipeline and leads the stages that
// split over the ranks (the index build, the search); the other ranks follow: they wait for
// each such stage and take their part, until rank 0 ends the run.
#include "seize/cluster.h"

#include "cluster_int.h"

#include <stdlib.h>
#include <string.h>

enum { OP_END = 0, OP_BUILD = 1, OP_SEARCH = 2, MSG = 1024 };

// What rank 0 sends for each stage: the operation, a status, a message (OP_END).
typedef struct op {
    int32_t op, status;
    char msg[MSG];
} op;

static int size_one(void)
{
    return seize_cluster_size() == 1;
}

// --- strings and numbers as bytes

typedef struct bytes {
    unsigned char *p;
    size_t len, at;
    int bad;
} bytes;

static void put(bytes *b, const void *x, size_t n)
{
    unsigned char *q = b->bad ? NULL : realloc(b->p, b->len + n);
    if (!q) {
        b->bad = 1;
        return;
    }
    memcpy(q + b->len, x, n);
    b->p = q, b->len += n;
}

static void put_i64(bytes *b, int64_t v)
{
    put(b, &v, sizeof v);
}

static void put_str(bytes *b, const char *s)
{
    put_i64(b, s ? (int64_t)strlen(s) : -1);
    if (s) put(b, s, strlen(s));
}

static int64_t get_i64(bytes *b)
{
    int64_t v = 0;
    if (b->at + sizeof v > b->len) b->bad = 1;
    if (!b->bad) memcpy(&v, b->p + b->at, sizeof v), b->at += sizeof v;
    return v;
}

// A string of the bytes (heap; NULL for a NULL string or when damaged: b->bad).
static char *get_str(bytes *b)
{
    int64_t n = get_i64(b);
    if (n < 0 || b->bad) return NULL;
    if ((uint64_t)n > b->len - b->at) {
        b->bad = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        b->bad = 1;
        return NULL;
    }
    memcpy(s, b->p + b->at, (size_t)n);
    s[n] = 0;
    b->at += (size_t)n;
    return s;
}

// --- the build: its parameters and items

typedef struct build_job {
    seize_index_build_params p;
    seize_build_item *items;
    size_t n;
    char **strs; // every string received (freed together)
    size_t n_strs;
} build_job;

static void build_pack(bytes *b, const seize_index_build_params *p, const seize_build_item *items,
                       size_t n)
{
    put_str(b, p->out_dir), put_str(b, p->model_dir), put_str(b, p->source);
    int64_t v[7] = {p->batch,   p->threads,   (int64_t)p->dtype, p->no_pad,
                    p->restart, p->precision, (int64_t)n};
    for (int i = 0; i < 7; i++)
        put_i64(b, v[i]);
    for (size_t i = 0; i < n; i++)
        put_str(b, items[i].name), put_str(b, items[i].path), put_i64(b, items[i].missing);
}

static char *keep(build_job *j, char *s)
{
    j->strs[j->n_strs++] = s;
    return s;
}

static int build_unpack(bytes *b, build_job *j)
{
    *j = (build_job){.p = seize_index_build_default_params()};
    j->strs = calloc(3, sizeof *j->strs);
    if (!j->strs) return seize_error(SEIZE_ENOMEM, "out of memory");
    j->p.out_dir = keep(j, get_str(b)), j->p.model_dir = keep(j, get_str(b));
    j->p.source = keep(j, get_str(b));
    int64_t v[7];
    for (int i = 0; i < 7; i++)
        v[i] = get_i64(b);
    j->p.batch = (int)v[0], j->p.threads = (int)v[1], j->p.dtype = (seize_dtype)v[2];
    j->p.no_pad = (int)v[3], j->p.restart = (int)v[4], j->p.precision = (seize_precision)v[5];
    j->n = v[6] > 0 && !b->bad ? (size_t)v[6] : 0;
    if (j->n > b->len) b->bad = 1, j->n = 0;
    char **more = realloc(j->strs, (3 + 2 * j->n) * sizeof *more);
    j->items = calloc(j->n ? j->n : 1, sizeof *j->items);
    if (!more || !j->items) return seize_error(SEIZE_ENOMEM, "out of memory");
    j->strs = more;
    for (size_t i = 0; i < j->n && !b->bad; i++) {
        j->items[i].name = keep(j, get_str(b));
        j->items[i].path = keep(j, get_str(b));
        j->items[i].missing = (int)get_i64(b);
    }
    return b->bad ? seize_error(SEIZE_EFORMAT, "the build sent by rank 0 is damaged") : 0;
}

static void build_release(build_job *j)
{
    for (size_t i = 0; i < j->n_strs; i++)
        free(j->strs[i]);
    free(j->strs);
    free(j->items);
}

// --- rank 0

static void send_op(int32_t code, int32_t status, const char *msg)
{
    op o = {code, status, {0}};
    if (msg) snprintf(o.msg, sizeof o.msg, "%s", msg);
    cl_bcast_idle(&o, sizeof o); // (the followers wait in a non-blocking broadcast)
}

int seize_cluster_lead_index_build(const seize_index_build_params *p, const seize_build_item *items,
                                   size_t n, seize_index_build_result *res)
{
    if (size_one()) return seize_index_build(p, items, n, res);
    bytes b = {0};
    build_pack(&b, p, items, n);
    void *buf = b.p;
    size_t len = b.len;
    send_op(OP_BUILD, 0, NULL);
    int rc = seize_cluster_agree(b.bad ? seize_error(SEIZE_ENOMEM, "out of memory") : 0);
    if (rc == 0) rc = cl_bcast_alloc(&buf, &len);
    free(b.p);
    if (rc == 0) rc = seize_cluster_agree(0); // the followers unpacked it
    return rc < 0 ? rc : seize_cluster_index_build(p, items, n, res);
}

int seize_cluster_lead_search(const seize_search_files *f)
{
    if (size_one()) return seize_search_files_run(f);
    if (strlen(f->index_dir) >= MSG) // (before the followers are told: they go on waiting)
        return seize_error(SEIZE_EINVAL, "index path of %zu bytes: under mpirun at most %d",
                           strlen(f->index_dir), MSG - 1);
    send_op(OP_SEARCH, 0, f->index_dir);
    return seize_cluster_search_files_run(f, NULL);
}

void seize_cluster_lead_end(int rc, const char *msg)
{
    if (!size_one()) send_op(OP_END, rc < 0 ? rc : 0, rc < 0 ? msg : NULL);
}

// --- the other ranks

static int follow_build(void)
{
    void *buf = NULL;
    size_t len = 0;
    int rc = seize_cluster_agree(0); // rank 0 packed its build
    if (rc == 0) rc = cl_bcast_alloc(&buf, &len);
    if (rc < 0) return rc;
    bytes b = {buf, len, 0, 0};
    build_job j;
    rc = seize_cluster_agree(build_unpack(&b, &j)); // every rank builds, or none
    free(buf);
    if (rc == 0) rc = seize_cluster_index_build(&j.p, j.items, j.n, NULL);
    build_release(&j);
    return rc;
}

int seize_cluster_follow(void)
{
    if (seize_cluster_rank() == 0)
        return seize_error(SEIZE_EINVAL, "rank 0 leads: it does not follow");
    int last = 0;
    for (;;) {
        op o;
        cl_bcast_idle(&o, sizeof o);
        o.msg[MSG - 1] = 0;
        if (o.op == OP_END && o.status >= 0) return 0;
        if (o.op == OP_END) // (a message of another rank already names it)
            return strncmp(o.msg, "rank ", 5) ? seize_error(o.status, "rank 0: %s", o.msg)
                                              : seize_error(o.status, "%s", o.msg);
        if (o.op == OP_BUILD) {
            last = follow_build();
        } else if (o.op == OP_SEARCH) {
            seize_search_files f = seize_search_files_default();
            f.index_dir = o.msg;
            f.params.n_threads = seize_cluster_threads(0);
            seize_blas_threads_set(f.params.n_threads);
            last = seize_cluster_search_files_run(&f, NULL);
        }
        (void)last; // a failed stage fails on rank 0 too (the agreement), which ends the run
    }
}
