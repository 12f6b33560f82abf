// What a benchmark asks of the search: per query the reference to exclude, CIRR's candidate
// subsets, and the authors' SEIZE weights per dataset; the methods' names.
#include "seize/retrieval.h"

#include <stdlib.h>
#include <string.h>

// --- weights

// The one table of per-dataset defaults (ARCHITECTURE.md §1, from the authors' code).
static const struct {
    seize_ds_kind kind;
    double pos, neg;
} weights[] = {
    {SEIZE_DS_CIRCO, 0.13, 2.1},
    {SEIZE_DS_CIRR, 0.22, 1.0},
    {SEIZE_DS_FASHIONIQ, 0.13, 2.1}, // as CIRCO: the authors tuned none for FashionIQ
};

seize_search_weights seize_search_weights_for(seize_ds_kind kind)
{
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++)
        if (weights[i].kind == kind) return (seize_search_weights){weights[i].pos, weights[i].neg};
    return (seize_search_weights){weights[0].pos, weights[0].neg};
}

int seize_method_parse(const char *name, seize_method *out)
{
    static const char *const names[] = {"seize", "mean", "ldre"}; // seize_method's order
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, names[i])) {
            if (out) *out = (seize_method)i;
            return 0;
        }
    return seize_error(SEIZE_EINVAL, "unknown method '%s' (seize, mean or ldre)", name ? name : "");
}

// --- inputs

void seize_search_inputs_release(seize_search_inputs *in)
{
    if (!in) return;
    free(in->exclude);
    free(in->sub_rows);
    free(in->sub_n);
    free(in->sub_ptr);
    memset(in, 0, sizeof *in);
}

// Every query without an exclusion and with an empty subset; room for `cap_rows` subset rows.
static int inputs_init(seize_search_inputs *in, size_t n_queries, size_t cap_rows)
{
    memset(in, 0, sizeof *in);
    size_t nq = n_queries ? n_queries : 1;
    in->n_queries = n_queries;
    in->exclude = seize_malloc(nq, sizeof *in->exclude);
    in->sub_n = seize_calloc(nq, sizeof *in->sub_n);
    in->sub_ptr = seize_calloc(nq, sizeof *in->sub_ptr);
    in->sub_rows = seize_malloc(cap_rows ? cap_rows : 1, sizeof *in->sub_rows);
    if (!in->exclude || !in->sub_n || !in->sub_ptr || !in->sub_rows) {
        seize_search_inputs_release(in);
        return SEIZE_ENOMEM;
    }
    for (size_t q = 0; q < n_queries; q++)
        in->exclude[q] = SIZE_MAX;
    in->subsets = (seize_subsets){in->sub_ptr, in->sub_n};
    return 0;
}

// CIRR: query q's candidates (img_set.members, the reference included as in the file).
static int dataset_members(const seize_dataset *ds, const seize_index *idx, seize_search_inputs *in,
                           size_t q, size_t *tot)
{
    in->sub_ptr[q] = in->sub_rows + *tot;
    for (size_t j = 0; j < ds->q[q].n_members; j++) {
        if (seize_index_find(idx, ds->q[q].members[j], &in->sub_rows[*tot]) < 0)
            return seize_error_prefix(SEIZE_ENOTFOUND, "query %s: member", ds->q[q].id);
        (*tot)++;
        in->sub_n[q]++;
    }
    return 0;
}

int seize_search_inputs_dataset(const seize_dataset *ds, const seize_index *idx,
                                seize_search_inputs *out)
{
    size_t tot = 0;
    for (size_t q = 0; q < ds->n; q++)
        tot += ds->q[q].n_members;
    int rc = inputs_init(out, ds->n, tot);
    if (rc < 0) return rc;
    int cirr = ds->kind == SEIZE_DS_CIRR;
    tot = 0;
    for (size_t q = 0; q < ds->n && rc == 0; q++) {
        if (seize_index_find(idx, ds->q[q].reference, &out->exclude[q]) < 0)
            rc = seize_error_prefix(SEIZE_ENOTFOUND, "query %s: reference", ds->q[q].id);
        else if (cirr)
            rc = dataset_members(ds, idx, out, q, &tot);
    }
    out->has_subsets = cirr;
    if (rc < 0) seize_search_inputs_release(out);
    return rc;
}

// --exclude: one gallery name per query, or an empty line for none.
static int exclude_file(const char *path, const seize_index *idx, seize_search_inputs *in)
{
    char **lines = NULL;
    size_t n = 0, nq = in->n_queries;
    int rc = seize_read_lines(path, &lines, &n);
    if (rc < 0) return rc;
    // a final query without a reference may have lost its empty line
    if (n != nq && !(n + 1 == nq && nq))
        rc =
            seize_error(SEIZE_EFORMAT, "'%s' has %zu lines but there are %zu queries", path, n, nq);
    for (size_t q = 0; q < n && rc == 0; q++) {
        const char *name = lines[q];
        while (*name == ' ' || *name == '\t')
            name++;
        if (*name && seize_index_find(idx, name, &in->exclude[q]) < 0)
            rc = seize_error_prefix(SEIZE_ENOTFOUND, "'%s' line %zu", path, q + 1);
    }
    seize_lines_free(lines, n);
    return rc;
}

// --subsets: one line per query, candidate gallery names separated by spaces or tabs.
static int subsets_file(const char *path, const seize_index *idx, seize_search_inputs *in)
{
    char **lines = NULL;
    size_t n = 0, nq = in->n_queries, tot = 0;
    int rc = seize_read_lines(path, &lines, &n);
    if (rc < 0) return rc;
    if (n != nq)
        rc =
            seize_error(SEIZE_EFORMAT, "'%s' has %zu lines but there are %zu queries", path, n, nq);
    for (size_t q = 0; q < n && rc == 0; q++)
        tot += strlen(lines[q]) / 2 + 1; // names per line, at most
    free(in->sub_rows);
    in->sub_rows = rc == 0 ? seize_malloc(tot ? tot : 1, sizeof *in->sub_rows) : NULL;
    if (rc == 0 && !in->sub_rows) rc = SEIZE_ENOMEM;
    tot = 0;
    for (size_t q = 0; q < n && rc == 0; q++) {
        in->sub_ptr[q] = in->sub_rows + tot;
        char *save = NULL;
        for (char *tok = strtok_r(lines[q], " \t", &save); tok && rc == 0;
             tok = strtok_r(NULL, " \t", &save)) {
            if (seize_index_find(idx, tok, &in->sub_rows[tot]) < 0) {
                rc = seize_error_prefix(SEIZE_ENOTFOUND, "'%s' line %zu", path, q + 1);
                break;
            }
            tot++;
            in->sub_n[q]++;
        }
    }
    in->has_subsets = 1;
    seize_lines_free(lines, n);
    return rc;
}

int seize_search_inputs_files(const seize_index *idx, size_t n_queries, const char *exclude_txt,
                              const char *subsets_txt, seize_search_inputs *out)
{
    int rc = inputs_init(out, n_queries, 0);
    if (rc < 0) return rc;
    if (exclude_txt) rc = exclude_file(exclude_txt, idx, out);
    if (rc == 0 && subsets_txt) rc = subsets_file(subsets_txt, idx, out);
    if (rc < 0) seize_search_inputs_release(out);
    return rc;
}

// --- query arrays

// A [Q, D] (or [Q, N, D] when per_caption) float array, converted to float32.
static int load_query_array(const char *path, int per_caption, seize_npy **out)
{
    int rc = seize_npy_load(path, out);
    if (rc < 0) return rc;
    seize_npy *a = *out;
    if (a->dtype == SEIZE_I32 || a->ndim != (per_caption ? 3 : 2))
        return seize_error(SEIZE_ESHAPE, "'%s': expected a float array of shape %s", path,
                           per_caption ? "[queries, captions, dim]" : "[queries, dim]");
    return seize_npy_f32(a) ? 0 : SEIZE_ENOMEM; // NULL: out of memory converting f16 (message set)
}

int seize_search_queries_load(const char *after, const char *before, int per_caption, size_t dim,
                              seize_npy **A, seize_npy **B)
{
    *A = *B = NULL;
    int rc = load_query_array(after, per_caption, A);
    if (rc == 0 && before) rc = load_query_array(before, per_caption, B);
    if (rc == 0 && dim && (*A)->shape[(*A)->ndim - 1] != dim)
        rc = seize_error(SEIZE_ESHAPE, "'%s' has dimension %zu but the index has %zu", after,
                         (*A)->shape[(*A)->ndim - 1], dim);
    if (rc == 0 && *B && memcmp((*A)->shape, (*B)->shape, sizeof(*A)->shape))
        rc = seize_error(SEIZE_ESHAPE, "'%s' and '%s' have different shapes", after, before);
    if (rc < 0) {
        seize_npy_free(*A);
        seize_npy_free(*B);
        *A = *B = NULL;
    }
    return rc;
}
