// libFuzzer target: the --exclude and --subsets files of seize search
// (seize_search_inputs_files) against a small fixed index, then the search with what they gave.
//
// Input byte 0 gives the query count (% 6); the rest is the exclude file, then FUZZ_SEP, then
// the subsets file (a missing part: that file is not given).
#include "seize/retrieval.h"

#include "fuzz_files.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static seize_index *idx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_dir_init("fuzz_search_inputs");
    static const float feats[5 * 2] = {1, 0, 0, 1, 0.6f, 0.8f, -1, 0, 0.8f, -0.6f};
    const char *names[5] = {"r", "t", "m", "1", "caf\xc3\xa9"};
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/index", fuzz_dir);
    if (seize_index_write(dir, feats, 5, 2, names, SEIZE_F32, NULL) < 0 ||
        seize_index_open(dir, &idx) < 0) {
        fprintf(stderr, "fuzz_search_inputs: %s\n", seize_errmsg());
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t nq = data[0] % 6;
    const uint8_t *part[2];
    size_t len[2];
    size_t n = fuzz_split(data + 1, size - 1, part, len, 2);
    const char *ex = fuzz_write(0, "exclude.txt", part[0], len[0]);
    const char *sub = n > 1 ? fuzz_write(1, "subsets.txt", part[1], len[1]) : NULL;
    seize_search_inputs in;
    if (seize_search_inputs_files(idx, nq, ex, sub, &in) < 0) {
        if (in.exclude || in.sub_rows) abort(); // an error leaves *out zeroed
        return 0;
    }
    if (in.n_queries != nq || in.has_subsets != (sub != NULL)) abort();
    for (size_t q = 0; q < nq; q++) {
        if (in.exclude[q] != SIZE_MAX && in.exclude[q] >= 5) abort();
        for (size_t j = 0; in.has_subsets && j < in.subsets.n_rows[q]; j++)
            if (in.subsets.rows[q][j] >= 5) abort();
    }
    static const float A[6 * 2] = {1, 0, 0, 1, 1, 1, -1, 0.5f, 0.3f, 0.3f, 0, 0};
    seize_search_params p = seize_search_default_params();
    p.k = 3;
    p.n_threads = 1;
    seize_embeddings g = seize_index_embeddings(idx);
    seize_search_result *r = NULL;
    if (seize_search(&g, A, A, nq, in.exclude, in.has_subsets ? &in.subsets : NULL, &p, &r) < 0)
        abort(); // every row the inputs hold is in range
    for (size_t q = 0; q < nq; q++)
        for (size_t j = 0; j < r->n_ranked[q]; j++)
            if (r->index[q * r->k + j] == in.exclude[q]) abort();
    seize_search_result_free(r);
    seize_search_inputs_release(&in);
    return 0;
}
