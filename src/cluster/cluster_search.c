// seize search over MPI ranks (seize/cluster.h): rank 0 reads the queries and inputs and sends
// them out, every rank searches its rows (seize_search with a slice: global rows, the whole
// gallery's k), rank 0 merges the ranks' top k and writes the rankings file.
#include "seize/cluster.h"

#include "cluster_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// What every rank needs to search: rank 0's queries, inputs and search settings.
typedef struct job {
    uint64_t n_q, n_per, dim, has_b, has_sub, method, k, block, total_sub;
    float pos, neg;
    float *A, *B;
    size_t *exclude;
    seize_subsets S;
    size_t *sub_n, *sub_rows;
    const size_t **sub_ptr;
    void *buf; // the received bytes (other ranks)
} job;

enum { HEAD = 9 };

// --- rank 0: the job as bytes

// Bytes of the float arrays, padded so that the 8-byte fields after them stay aligned.
static size_t floats_len(const job *j)
{
    return (j->n_q * j->n_per * j->dim * 4 + 7) / 8 * 8;
}

static int job_pack(job *j, void **buf, size_t *len)
{
    size_t nqv = j->n_q * j->n_per * j->dim, fl = floats_len(j);
    size_t sz = HEAD * 8 + 8 + fl * (1 + j->has_b) + j->n_q * 8;
    if (j->has_sub) sz += j->n_q * 8 + j->total_sub * 8;
    unsigned char *p = *buf = calloc(1, sz);
    if (!p) return seize_error(SEIZE_ENOMEM, "out of memory");
    uint64_t head[HEAD] = {j->n_q,    j->n_per, j->dim,   j->has_b,    j->has_sub,
                           j->method, j->k,     j->block, j->total_sub};
    memcpy(p, head, sizeof head), p += sizeof head;
    memcpy(p, &j->pos, 4), memcpy(p + 4, &j->neg, 4), p += 8;
    memcpy(p, j->A, nqv * 4), p += fl;
    if (j->has_b) memcpy(p, j->B, nqv * 4), p += fl;
    for (size_t q = 0; q < j->n_q; q++, p += 8)
        memcpy(p, &(uint64_t){j->exclude ? j->exclude[q] : SIZE_MAX}, 8);
    for (size_t q = 0; j->has_sub && q < j->n_q; q++, p += 8)
        memcpy(p, &(uint64_t){j->S.n_rows[q]}, 8);
    for (size_t q = 0; j->has_sub && q < j->n_q; q++)
        for (size_t i = 0; i < j->S.n_rows[q]; i++, p += 8)
            memcpy(p, &(uint64_t){j->S.rows[q][i]}, 8);
    *len = sz;
    return 0;
}

// --- other ranks: the job from the bytes (size_t is 64 bits on every supported system)

static int job_unpack(job *j, void *buf, size_t len)
{
    unsigned char *p = buf;
    uint64_t head[HEAD];
    memcpy(head, p, sizeof head), p += sizeof head;
    *j = (job){head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7], head[8]};
    j->buf = buf;
    memcpy(&j->pos, p, 4), memcpy(&j->neg, p + 4, 4), p += 8;
    size_t fl = floats_len(j);
    j->A = (float *)(void *)p, p += fl;
    if (j->has_b) j->B = (float *)(void *)p, p += fl;
    j->exclude = (size_t *)(void *)p, p += j->n_q * 8;
    if (j->has_sub) {
        j->sub_n = (size_t *)(void *)p, p += j->n_q * 8;
        j->sub_rows = (size_t *)(void *)p, p += j->total_sub * 8;
        if (!(j->sub_ptr = malloc((j->n_q ? j->n_q : 1) * sizeof *j->sub_ptr)))
            return seize_error(SEIZE_ENOMEM, "out of memory");
        for (size_t q = 0, o = 0; q < j->n_q; o += j->sub_n[q], q++)
            j->sub_ptr[q] = j->sub_rows + o;
        j->S = (seize_subsets){j->sub_ptr, j->sub_n};
    }
    return (size_t)(p - (unsigned char *)buf) == len
               ? 0
               : seize_error(SEIZE_EFORMAT, "search job of %zu bytes is damaged", len);
}

// Rank 0: the index, the query arrays and the inputs, as seize_search_files_run reads them.
typedef struct root_state {
    seize_index *idx;
    seize_npy *A, *B;
    seize_search_inputs in;
} root_state;

static int root_load(const seize_search_files *f, root_state *st, job *j)
{
    int ldre = f->method == SEIZE_METHOD_LDRE, mean = f->method == SEIZE_METHOD_MEAN;
    int rc = seize_index_open(f->index_dir, &st->idx);
    if (rc == 0)
        rc = seize_search_queries_load(f->after, mean ? NULL : f->before, ldre,
                                       seize_index_dim(st->idx), &st->A, &st->B);
    if (rc == 0 && !mean && !st->B)
        rc = seize_error(SEIZE_EINVAL, "the search needs the 'before' query vectors");
    if (rc < 0) return rc;
    size_t nq = st->A->shape[0];
    if (!f->annotations) {
        rc = seize_search_inputs_files(st->idx, nq, f->exclude, f->subsets, &st->in);
    } else {
        seize_dataset *ds = NULL;
        rc = seize_dataset_load(f->kind, f->annotations, &ds);
        if (rc == 0 && ds->n != nq)
            rc = seize_error(SEIZE_ESHAPE, "'%s' has %zu queries but '%s' has %zu rows",
                             f->annotations, ds->n, f->after, nq);
        if (rc == 0) rc = seize_search_inputs_dataset(ds, st->idx, &st->in);
        seize_dataset_free(ds);
    }
    if (rc < 0) return rc;
    seize_search_params p = f->params;
    if (mean) p.pos = p.neg = 0;
    *j = (job){.n_q = nq,
               .n_per = ldre ? st->A->shape[1] : 1,
               .dim = seize_index_dim(st->idx),
               .has_b = st->B != NULL,
               .has_sub = (uint64_t)st->in.has_subsets,
               .method = (uint64_t)f->method,
               .k = p.k,
               .block = p.block_rows,
               .pos = p.pos,
               .neg = p.neg,
               .A = st->A->data,
               .B = st->B ? st->B->data : NULL,
               .exclude = st->in.exclude,
               .S = st->in.subsets};
    for (size_t q = 0; j->has_sub && q < nq; q++)
        j->total_sub += j->S.n_rows[q];
    return 0;
}

static void root_release(root_state *st)
{
    seize_search_inputs_release(&st->in);
    seize_index_free(st->idx);
    seize_npy_free(st->A);
    seize_npy_free(st->B);
}

// --- this rank's rows

typedef struct slices {
    size_t n, total, dim;
    seize_index **own; // shards opened by this rank (NULL entries: views into rank 0's index)
    seize_embeddings *g;
    size_t *row0;
    seize_map map; // a single index's features file, mapped (ranks > 0)
} slices;

static void slices_release(slices *sl)
{
    seize_map_close(&sl->map);
    for (size_t i = 0; sl->own && i < sl->n; i++)
        seize_index_free(sl->own[i]);
    free(sl->own);
    free(sl->g);
    free(sl->row0);
}

// The parts of rows [lo, hi) of shard s (rows [off, ...)): a view into `whole` (rank 0's index,
// all rows) or the shard opened on its own.
static int slice_add(slices *sl, const char *dir, const seize_index *whole, size_t s, size_t lo,
                     size_t hi)
{
    size_t i = sl->n, o = 0;
    seize_index *idx = NULL;
    if (!whole) {
        int rc = seize_index_open_shard(dir, s, &idx, &o);
        if (rc < 0) return rc;
    }
    const seize_index *from = whole ? whole : idx;
    seize_embeddings g = seize_index_embeddings(from);
    size_t el = g.dtype == SEIZE_F16 ? 2 : 4;
    if (hi - o > g.n || g.dim != sl->dim) {
        seize_index_free(idx);
        return seize_error(SEIZE_EFORMAT, "'%s': shard %zu does not match the manifest", dir, s);
    }
    sl->own[i] = idx;
    sl->g[i] =
        (seize_embeddings){(const char *)g.data + (lo - o) * g.dim * el, g.dtype, hi - lo, g.dim};
    sl->row0[i] = lo;
    sl->n++;
    return 0;
}

// Rows [lo, hi) of a single index (rows 0..n) without reading the others: its features file
// mapped, so that only this rank's pages are read (and ranks on one node share the page cache).
// Rank 0 opens and checks the whole index, so the header's dtype and the size suffice here.
static int slice_map(slices *sl, const char *dir, size_t n, size_t lo, size_t hi)
{
    size_t dl = strlen(dir);
    char *path = malloc(dl + sizeof "/features.npy");
    if (!path) return seize_error(SEIZE_ENOMEM, "out of memory");
    memcpy(path, dir, dl), memcpy(path + dl, "/features.npy", sizeof "/features.npy");
    int rc = seize_map_open(path, &sl->map);
    const uint8_t *b = sl->map.data;
    size_t size = sl->map.size, off = 0, hlen = 0, el = 0, bytes;
    if (rc == 0 && size >= 12 && !memcmp(b, "\x93NUMPY", 6) && (b[6] == 1 || b[6] == 2)) {
        hlen = b[6] == 1
                   ? (size_t)b[8] | (size_t)b[9] << 8
                   : (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        off = (b[6] == 1 ? 10 : 12) + hlen;
        const char *h = (const char *)b + off - hlen, *d = NULL;
        for (size_t i = 0; off <= size && i + 5 <= hlen && !d; i++)
            if (!memcmp(h + i, "'<f2'", 5) || !memcmp(h + i, "'<f4'", 5)) d = h + i;
        el = d ? (size_t)(d[3] - '0') : 0;
    }
    if (rc == 0 && (!el || seize_mul_size(n, sl->dim * el, &bytes) < 0 || off + bytes != size))
        rc = seize_error(SEIZE_EFORMAT, "'%s' does not hold the index's %zu rows of %zu values",
                         path, n, sl->dim);
    free(path);
    if (rc < 0) return rc;
    const uint8_t *rows = b + off + lo * sl->dim * el;
    // the rows' pages now (read once), not one fault at a time inside the scan's products
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < (hi - lo) * sl->dim * el; i += 4096)
        sink ^= rows[i];
    (void)sink;
    sl->g[0] = (seize_embeddings){rows, el == 2 ? SEIZE_F16 : SEIZE_F32, hi - lo, sl->dim};
    sl->row0[0] = lo;
    sl->n = 1;
    return 0;
}

static int slices_open(const char *dir, const seize_index *whole, size_t dim, slices *sl)
{
    *sl = (slices){.dim = dim};
    size_t n_shards = 0, *off = NULL, first, end;
    int rc = seize_index_shards(dir, &n_shards, &off);
    if (rc < 0) return rc;
    sl->total = off[n_shards];
    seize_cluster_range(off, n_shards, seize_cluster_rank(), seize_cluster_size(), &first, &end);
    sl->own = calloc(n_shards, sizeof *sl->own);
    sl->g = calloc(n_shards, sizeof *sl->g);
    sl->row0 = calloc(n_shards, sizeof *sl->row0);
    if (!sl->own || !sl->g || !sl->row0) rc = seize_error(SEIZE_ENOMEM, "out of memory");
    if (whole && rc == 0 && seize_index_count(whole) != sl->total)
        rc = seize_error(SEIZE_EFORMAT, "'%s': %zu rows but the manifest says %zu", dir,
                         seize_index_count(whole), sl->total);
    if (rc == 0 && !whole && n_shards == 1 && first < end)
        rc = slice_map(sl, dir, sl->total, first, end);
    for (size_t s = 0; s < n_shards && rc == 0 && !sl->map.data; s++) {
        size_t lo = off[s] > first ? off[s] : first, hi = off[s + 1] < end ? off[s + 1] : end;
        if (lo < hi) rc = slice_add(sl, dir, whole, s, lo, hi);
    }
    free(off);
    return rc;
}

// --- the searches

enum { PLAIN, DROPS, RANK };

// This rank's result over its slices (an empty result when it has no rows).
static int search_local(const job *j, const slices *sl, seize_search_params p, int phase,
                        const double *w, seize_search_result **out)
{
    *out = NULL;
    size_t n = sl->n ? sl->n : 1;
    seize_search_result **parts = calloc(n, sizeof *parts);
    if (!parts) return seize_error(SEIZE_ENOMEM, "out of memory");
    const seize_subsets *S = j->has_sub ? &j->S : NULL;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        seize_embeddings g = sl->n ? sl->g[i] : (seize_embeddings){NULL, SEIZE_F32, 0, sl->dim};
        p.row0 = sl->n ? sl->row0[i] : 0;
        p.n_total = sl->total;
        if (phase == DROPS)
            rc = seize_search_ldre_drops(&g, j->A, j->B, j->n_q, j->n_per, &p, &parts[i]);
        else if (phase == RANK)
            rc =
                seize_search_ldre_rank(&g, j->A, j->n_q, j->n_per, w, j->exclude, S, &p, &parts[i]);
        else
            rc = seize_search(&g, j->A, j->B, j->n_q, j->exclude, S, &p, &parts[i]);
    }
    if (rc == 0 && n == 1) {
        *out = parts[0];
        parts[0] = NULL;
    } else if (rc == 0) {
        rc = seize_search_result_merge((const seize_search_result *const *)parts, n, out);
    }
    for (size_t i = 0; i < n; i++)
        seize_search_result_free(parts[i]);
    free(parts);
    return rc;
}

// Collective: every rank's result merged on rank 0 (*merged; NULL elsewhere).
static int gather_merge(const seize_search_result *local, seize_search_result **merged)
{
    *merged = NULL;
    void *buf = NULL, **bufs = NULL;
    size_t len = 0, *lens = NULL, size = (size_t)seize_cluster_size();
    int rc = seize_cluster_agree(seize_cluster_result_pack(local, &buf, &len));
    if (rc == 0) rc = cl_gather(buf, len, &bufs, &lens);
    free(buf);
    if (rc < 0) { // agreed already (agreeing again would name rank 0 as the failed one)
        cl_gather_free(bufs, lens);
        return rc;
    }
    if (seize_cluster_rank() == 0) {
        seize_search_result **parts = calloc(size, sizeof *parts);
        if (!parts) rc = seize_error(SEIZE_ENOMEM, "out of memory");
        for (size_t r = 0; r < size && rc == 0; r++)
            rc = seize_cluster_result_unpack(bufs[r], lens[r], &parts[r]);
        if (rc == 0)
            rc = seize_search_result_merge((const seize_search_result *const *)parts, size, merged);
        for (size_t r = 0; parts && r < size; r++)
            seize_search_result_free(parts[r]);
        free(parts);
    }
    cl_gather_free(bufs, lens);
    return seize_cluster_agree(rc);
}

// Collective: the search of the job over the slices; *out on rank 0. t[1] += scan, t[2] += merge.
static int search_all(const job *j, const slices *sl, seize_search_params p, double *t,
                      seize_search_result **out)
{
    int ldre = j->method == SEIZE_METHOD_LDRE;
    seize_search_result *local = NULL, *drops = NULL;
    cl_barrier(); // the scan starts together (for its time)
    double *w = calloc(j->n_per ? j->n_per : 1, sizeof *w), t0 = now();
    int rc = seize_cluster_agree(w ? 0 : seize_error(SEIZE_ENOMEM, "out of memory"));
    if (rc == 0)
        rc = seize_cluster_agree(search_local(j, sl, p, ldre ? DROPS : PLAIN, NULL, &local));
    cl_barrier();
    double t1 = now();
    if (rc == 0) rc = gather_merge(local, ldre ? &drops : out);
    t[1] += t1 - t0, t[2] += now() - t1;
    if (rc == 0 && ldre) {
        if (seize_cluster_rank() == 0) rc = seize_search_ldre_weights(drops, j->n_q, j->n_per, w);
        if ((rc = seize_cluster_agree(rc)) == 0) cl_bcast(w, j->n_per * sizeof *w);
        seize_search_result_free(local);
        local = NULL;
        t0 = now();
        if (rc == 0) rc = seize_cluster_agree(search_local(j, sl, p, RANK, w, &local));
        cl_barrier();
        t1 = now();
        if (rc == 0) rc = gather_merge(local, out);
        t[1] += t1 - t0, t[2] += now() - t1;
    }
    seize_search_result_free(local);
    seize_search_result_free(drops);
    free(w);
    return rc;
}

int seize_cluster_search_files_run(const seize_search_files *f, double times[3])
{
    if (seize_cluster_size() == 1 && !times) return seize_search_files_run(f);
    double t[3] = {now(), 0, 0};
    int root = seize_cluster_rank() == 0;
    root_state st = {0};
    job j = {0};
    slices sl = {0};
    void *buf = NULL;
    size_t len = 0;
    int rc = root ? root_load(f, &st, &j) : 0;
    if (rc == 0 && root) rc = job_pack(&j, &buf, &len);
    if ((rc = seize_cluster_agree(rc)) == 0 && seize_cluster_size() > 1) {
        rc = cl_bcast_alloc(&buf, &len);
        if (rc == 0) rc = seize_cluster_agree(root ? 0 : job_unpack(&j, buf, len));
    }
    if (rc == 0) rc = seize_cluster_agree(slices_open(f->index_dir, st.idx, j.dim, &sl));
    t[0] = now() - t[0];
    seize_search_result *r = NULL;
    seize_search_params p = f->params;
    p.k = j.k, p.block_rows = j.block, p.pos = j.pos, p.neg = j.neg;
    if (rc == 0) rc = search_all(&j, &sl, p, t, &r);
    if (rc == 0 && root) rc = seize_rankings_write(f->out, r, st.idx, f->index_dir, f->query_ids);
    rc = rc == 0 ? seize_cluster_agree(rc) : rc;
    if (times) memcpy(times, t, sizeof t);
    seize_search_result_free(r);
    slices_release(&sl);
    if (!root) free(j.sub_ptr);
    free(buf);
    root_release(&st);
    return rc;
}
