// Merging the results of searches of disjoint slices of one gallery (the scale-out's rank 0):
// per query the best k of all parts by the search's own order, score descending, then row.
#include "seize/retrieval.h"

#include <stdlib.h>

typedef struct {
    float s;
    uint32_t i;
} entry;

static int entry_order(const void *x, const void *y)
{
    const entry *a = x, *b = y;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static int parts_check(const seize_search_result *const *parts, size_t n_parts)
{
    if (!n_parts || !parts[0]) return seize_error(SEIZE_EINVAL, "merge: no results");
    const seize_search_result *p0 = parts[0];
    for (size_t i = 1; i < n_parts; i++)
        if (!parts[i] || parts[i]->n_queries != p0->n_queries || parts[i]->k != p0->k ||
            !parts[i]->subset_off != !p0->subset_off)
            return seize_error(SEIZE_EINVAL,
                               "merge: result %zu does not match the first (queries, k, subsets)",
                               i);
    return 0;
}

// The merged ranking of every query into r (allocated by the caller); t: scratch.
static void merge_rankings(const seize_search_result *const *parts, size_t n_parts,
                           seize_search_result *r, entry *t)
{
    size_t k = r->k;
    for (size_t q = 0; q < r->n_queries; q++) {
        size_t m = 0;
        for (size_t p = 0; p < n_parts; p++)
            for (size_t j = 0; j < parts[p]->n_ranked[q]; j++)
                t[m++] = (entry){parts[p]->score[q * k + j], parts[p]->index[q * k + j]};
        qsort(t, m, sizeof *t, entry_order);
        r->n_ranked[q] = m < k ? m : k;
        for (size_t j = 0; j < r->n_ranked[q]; j++) {
            r->index[q * k + j] = t[j].i;
            r->score[q * k + j] = t[j].s;
        }
    }
}

// The subsets: every member was scored in exactly one part.
static int merge_subsets(const seize_search_result *const *parts, size_t n_parts,
                         seize_search_result *r)
{
    size_t n_q = r->n_queries, tot = 0, most = 1;
    for (size_t p = 0; p < n_parts; p++)
        tot += parts[p]->subset_off[n_q];
    r->subset_off = calloc(n_q + 1, sizeof *r->subset_off);
    r->subset_n = calloc(n_q ? n_q : 1, sizeof *r->subset_n);
    r->subset_index = malloc((tot ? tot : 1) * sizeof *r->subset_index);
    r->subset_score = malloc((tot ? tot : 1) * sizeof *r->subset_score);
    if (!r->subset_off || !r->subset_n || !r->subset_index || !r->subset_score)
        return seize_error(SEIZE_ENOMEM, "merge: out of memory");
    for (size_t q = 0; q < n_q; q++) {
        size_t m = 0;
        for (size_t p = 0; p < n_parts; p++)
            m += parts[p]->subset_n[q];
        r->subset_n[q] = m;
        r->subset_off[q + 1] = r->subset_off[q] + m;
        most = m > most ? m : most;
    }
    entry *t = malloc(most * sizeof *t);
    if (!t) return seize_error(SEIZE_ENOMEM, "merge: out of memory");
    for (size_t q = 0; q < n_q; q++) {
        size_t m = 0;
        for (size_t p = 0; p < n_parts; p++) {
            size_t off = parts[p]->subset_off[q];
            for (size_t j = 0; j < parts[p]->subset_n[q]; j++)
                t[m++] = (entry){parts[p]->subset_score[off + j], parts[p]->subset_index[off + j]};
        }
        qsort(t, m, sizeof *t, entry_order);
        for (size_t j = 0; j < m; j++) {
            r->subset_index[r->subset_off[q] + j] = t[j].i;
            r->subset_score[r->subset_off[q] + j] = t[j].s;
        }
    }
    free(t);
    return 0;
}

int seize_search_result_merge(const seize_search_result *const *parts, size_t n_parts,
                              seize_search_result **out)
{
    *out = NULL;
    int rc = parts_check(parts, n_parts);
    if (rc < 0) return rc;
    size_t n_q = parts[0]->n_queries, k = parts[0]->k, qk;
    if (seize_mul_size(n_q ? n_q : 1, k ? k : 1, &qk) < 0 || seize_mul_size(qk, n_parts, &qk) < 0)
        return seize_error(SEIZE_ENOMEM, "merge: too many results");
    seize_search_result *r = calloc(1, sizeof *r);
    entry *t = malloc(((k ? k : 1) * n_parts) * sizeof *t);
    if (r) {
        r->n_queries = n_q;
        r->k = k;
        r->n_ranked = calloc(n_q ? n_q : 1, sizeof *r->n_ranked);
        r->index = malloc((n_q ? n_q : 1) * (k ? k : 1) * sizeof *r->index);
        r->score = malloc((n_q ? n_q : 1) * (k ? k : 1) * sizeof *r->score);
    }
    if (!r || !t || !r->n_ranked || !r->index || !r->score) {
        rc = seize_error(SEIZE_ENOMEM, "merge: out of memory");
    } else {
        merge_rankings(parts, n_parts, r, t);
        if (parts[0]->subset_off) rc = merge_subsets(parts, n_parts, r);
    }
    free(t);
    if (rc < 0) {
        seize_search_result_free(r);
        return rc;
    }
    *out = r;
    return 0;
}
