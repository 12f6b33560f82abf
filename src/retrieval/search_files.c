// A whole search from files, as seize search and seize run do it: the index, the query
// arrays, the exclusions and subsets, the search, the rankings file.
#include "seize/retrieval.h"

#include <string.h>

seize_search_files seize_search_files_default(void)
{
    return (seize_search_files){.method = SEIZE_METHOD_SEIZE,
                                .kind = SEIZE_DS_CIRCO,
                                .params = seize_search_default_params()};
}

// The exclusions and subsets: from the annotations (one query per row of A) or the text files.
static int search_inputs(const seize_search_files *f, const seize_index *idx, size_t nq,
                         seize_search_inputs *in)
{
    if (!f->annotations) return seize_search_inputs_files(idx, nq, f->exclude, f->subsets, in);
    seize_dataset *ds = NULL;
    int rc = seize_dataset_load(f->kind, f->annotations, &ds);
    if (rc == 0 && ds->n != nq)
        rc = seize_error(SEIZE_ESHAPE, "'%s' has %zu queries but '%s' has %zu rows", f->annotations,
                         ds->n, f->after, nq);
    if (rc == 0) rc = seize_search_inputs_dataset(ds, idx, in);
    seize_dataset_free(ds);
    return rc;
}

int seize_search_files_run(const seize_search_files *f)
{
    int ldre = f->method == SEIZE_METHOD_LDRE, mean = f->method == SEIZE_METHOD_MEAN;
    seize_search_params p = f->params;
    if (mean) p.pos = p.neg = 0;
    seize_index *idx = NULL;
    seize_npy *A = NULL, *B = NULL;
    seize_search_inputs in = {0};
    seize_search_result *r = NULL;
    int rc = seize_index_open(f->index_dir, &idx);
    if (rc == 0)
        rc = seize_search_queries_load(f->after, mean ? NULL : f->before, ldre,
                                       seize_index_dim(idx), &A, &B);
    if (rc == 0 && !mean && !B)
        rc = seize_error(SEIZE_EINVAL, "the search needs the 'before' query vectors");
    if (rc == 0) rc = search_inputs(f, idx, A->shape[0], &in);
    if (rc == 0) {
        const seize_subsets *S = in.has_subsets ? &in.subsets : NULL;
        const float *b = B ? B->data : NULL;
        seize_embeddings g = seize_index_embeddings(idx);
        rc = ldre ? seize_search_ldre(&g, A->data, b, A->shape[0], A->shape[1], in.exclude, S, &p,
                                      NULL, &r)
                  : seize_search(&g, A->data, b, A->shape[0], in.exclude, S, &p, &r);
    }
    if (rc == 0) rc = seize_rankings_write(f->out, r, idx, f->index_dir, f->query_ids);
    seize_search_result_free(r);
    seize_search_inputs_release(&in);
    seize_index_free(idx);
    seize_npy_free(A);
    seize_npy_free(B);
    return rc;
}
