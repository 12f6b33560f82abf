// A search result as bytes, for the gather on rank 0: little-endian as the machine's (the ranks
// of one job run the same build), only the ranked entries.
#include "seize/cluster.h"

#include <stdlib.h>
#include <string.h>

static const char MAGIC[8] = "SZRES01";

typedef struct {
    unsigned char *p;
    size_t len, cap;
    int oom;
} wbuf;

static void put(wbuf *w, const void *x, size_t n)
{
    if (w->oom) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap *= 2;
        unsigned char *q = realloc(w->p, cap);
        if (!q) {
            w->oom = 1;
            return;
        }
        w->p = q;
        w->cap = cap;
    }
    memcpy(w->p + w->len, x, n);
    w->len += n;
}

static void put_u64(wbuf *w, uint64_t v)
{
    put(w, &v, sizeof v);
}

int seize_cluster_result_pack(const seize_search_result *r, void **buf, size_t *len)
{
    wbuf w = {0};
    put(&w, MAGIC, sizeof MAGIC);
    put_u64(&w, r->n_queries);
    put_u64(&w, r->k);
    put_u64(&w, r->subset_off != NULL);
    for (size_t q = 0; q < r->n_queries; q++)
        put_u64(&w, r->n_ranked[q]);
    for (size_t q = 0; q < r->n_queries; q++) {
        put(&w, r->index + q * r->k, r->n_ranked[q] * sizeof *r->index);
        put(&w, r->score + q * r->k, r->n_ranked[q] * sizeof *r->score);
    }
    if (r->subset_off) {
        for (size_t q = 0; q < r->n_queries; q++)
            put_u64(&w, r->subset_n[q]);
        size_t tot = r->subset_off[r->n_queries];
        put(&w, r->subset_index, tot * sizeof *r->subset_index);
        put(&w, r->subset_score, tot * sizeof *r->subset_score);
    }
    if (w.oom) {
        free(w.p);
        return seize_error(SEIZE_ENOMEM, "out of memory packing a search result");
    }
    *buf = w.p;
    *len = w.len;
    return 0;
}

typedef struct {
    const unsigned char *p;
    size_t len, at;
    int bad;
} rbuf;

static void get(rbuf *b, void *x, size_t n)
{
    if (b->bad || n > b->len - b->at) {
        b->bad = 1;
        memset(x, 0, n);
        return;
    }
    memcpy(x, b->p + b->at, n);
    b->at += n;
}

static uint64_t get_u64(rbuf *b)
{
    uint64_t v;
    get(b, &v, sizeof v);
    return v;
}

// The rankings and subsets after the header, into r (arrays allocated here).
static int unpack_body(rbuf *b, seize_search_result *r, int has_sub)
{
    size_t n_q = r->n_queries, k = r->k, qk;
    if (seize_mul_size(n_q ? n_q : 1, k ? k : 1, &qk) < 0 || qk > b->len) return SEIZE_EFORMAT;
    r->n_ranked = calloc(n_q ? n_q : 1, sizeof *r->n_ranked);
    r->index = calloc(qk, sizeof *r->index);
    r->score = calloc(qk, sizeof *r->score);
    if (!r->n_ranked || !r->index || !r->score) return SEIZE_ENOMEM;
    for (size_t q = 0; q < n_q; q++)
        if ((r->n_ranked[q] = get_u64(b)) > k) return SEIZE_EFORMAT;
    for (size_t q = 0; q < n_q && !b->bad; q++) {
        get(b, r->index + q * k, r->n_ranked[q] * sizeof *r->index);
        get(b, r->score + q * k, r->n_ranked[q] * sizeof *r->score);
    }
    if (!has_sub) return b->bad ? SEIZE_EFORMAT : 0;
    r->subset_off = calloc(n_q + 1, sizeof *r->subset_off);
    r->subset_n = calloc(n_q ? n_q : 1, sizeof *r->subset_n);
    if (!r->subset_off || !r->subset_n) return SEIZE_ENOMEM;
    for (size_t q = 0; q < n_q; q++) {
        r->subset_n[q] = get_u64(b);
        if (r->subset_n[q] > b->len) return SEIZE_EFORMAT;
        r->subset_off[q + 1] = r->subset_off[q] + r->subset_n[q];
    }
    size_t tot = r->subset_off[n_q];
    if (b->bad || tot > b->len) return SEIZE_EFORMAT;
    r->subset_index = malloc((tot ? tot : 1) * sizeof *r->subset_index);
    r->subset_score = malloc((tot ? tot : 1) * sizeof *r->subset_score);
    if (!r->subset_index || !r->subset_score) return SEIZE_ENOMEM;
    get(b, r->subset_index, tot * sizeof *r->subset_index);
    get(b, r->subset_score, tot * sizeof *r->subset_score);
    return b->bad ? SEIZE_EFORMAT : 0;
}

int seize_cluster_result_unpack(const void *buf, size_t len, seize_search_result **out)
{
    *out = NULL;
    rbuf b = {buf, len, 0, 0};
    char magic[sizeof MAGIC];
    get(&b, magic, sizeof magic);
    seize_search_result *r = calloc(1, sizeof *r);
    if (!r) return seize_error(SEIZE_ENOMEM, "out of memory");
    r->n_queries = (size_t)get_u64(&b);
    r->k = (size_t)get_u64(&b);
    uint64_t has_sub = get_u64(&b);
    int rc = b.bad || memcmp(magic, MAGIC, sizeof MAGIC) || has_sub > 1 || r->n_queries > len
                 ? SEIZE_EFORMAT
                 : unpack_body(&b, r, (int)has_sub);
    if (rc == 0 && b.at != len) rc = SEIZE_EFORMAT;
    if (rc < 0) {
        seize_search_result_free(r);
        return rc == SEIZE_ENOMEM ? seize_error(rc, "out of memory")
                                  : seize_error(rc, "not a packed search result (%zu bytes)", len);
    }
    *out = r;
    return 0;
}
