// seize search: rank an index for query vectors with the semantic editing score (or mean, LDRE).
#include "cli.h"
#include "opt.h"

#include "seize/retrieval.h"

#include <stdlib.h>
#include <string.h>

static const char *CMD = "search";

static const char synopsis[] = "--index INDEX --after A.npy [--before B.npy] --out RESULTS.jsonl\n"
                               "[--method seize|mean|ldre] [--pos P] [--neg N] [--k K]\n"
                               "[--exclude REFS.txt] [--subsets SUBSETS.txt]\n"
                               "[--dataset circo|cirr|fashioniq --annotations FILE]\n"
                               "[--threads N] [--block ROWS]";

static const char about[] =
    "Ranks the gallery of INDEX for each query. With A = normalize(after), B = normalize(before)\n"
    "and g a gallery row: a = A.g, b = B.g, d = a - b,\n"
    "  score = a + neg*min(d, 0) + pos*max(d, 0)\n"
    "ranked by score descending, then gallery row ascending; the excluded reference is removed.";

static const char footer[] =
    "Relative paths are taken from the current folder. OUT is written through a temporary\n"
    "file beside it (OUT.tmp.PID), renamed at the end and removed on Ctrl-C or SIGTERM.";

// Reads a [Q, D] (or [Q, N, D] when three_d) float array.
static int load_queries(const char *path, int three_d, seize_npy **out)
{
    if (seize_npy_load(path, out) < 0) return -1;
    seize_npy *a = *out;
    if (a->dtype == SEIZE_I32 || a->ndim != (three_d ? 3 : 2)) {
        seize_error(SEIZE_ESHAPE, "'%s': expected a float array of shape %s", path,
                    three_d ? "[queries, captions, dim]" : "[queries, dim]");
        return -1;
    }
    seize_npy_f32(a);
    return 0;
}

typedef struct search_opts {
    const char *index_dir, *after, *before, *method, *exclude, *subsets, *dataset, *annotations,
        *out;
    double pos, neg;
    long k, threads, block;
    int ldre;
    seize_ds_kind kind;
} search_opts;

// Parses the options into *o: -1 to go on, else the exit status (--help printed: EXIT_OK).
static int parse(int argc, char **argv, search_opts *o)
{
    *o = (search_opts){.method = "seize", .pos = -1, .neg = -1, .k = 50};
    const cli_opt opts[] = {
        CLI_STR("index", 0, "DIR", &o->index_dir, "index folder (seize index build / import)"),
        CLI_STR("after", 0, "FILE", &o->after,
                ".npy query vectors from the edited captions: [Q, D] (seize, mean) or\n"
                "[Q, N, D] raw per-caption features (ldre)"),
        CLI_STR("before", 0, "FILE", &o->before,
                ".npy query vectors from the captions, same shape (not needed by mean)"),
        CLI_CHOICE("method", 0, "M", &o->method, "seize|mean|ldre",
                   "seize (default), mean (pos = neg = 0), ldre (LDRE caption weighting;\n"
                   "per-caption inputs, see above)"),
        CLI_FLOAT("pos", 0, "P", &o->pos, 0, INFINITY,
                  "SEIZE weights (default 0.13 and 2.1, the CIRCO values; with\n"
                  "--dataset cirr 0.22 and 1.0)"),
        CLI_FLOAT("neg", 0, "N", &o->neg, 0, INFINITY, "(see --pos)"),
        CLI_INT("k", 0, "K", &o->k, 1, 1000000000, "ranking length (default 50)"),
        CLI_STR("exclude", 0, "FILE", &o->exclude,
                "one gallery name per query (its reference image) or an empty line"),
        CLI_STR("subsets", 0, "FILE", &o->subsets,
                "one line per query: candidate gallery names separated by spaces; the\n"
                "output gets \"subset\" (the ranking restricted to them, minus the\n"
                "excluded name) and \"subset_scores\""),
        CLI_CHOICE("dataset", 0, "D", &o->dataset, "circo|cirr|fashioniq",
                   "with --annotations: take exclusions (the reference images) and, for"),
        CLI_STR("annotations", 0, "F", &o->annotations,
                "cirr, subsets (img_set.members) from the annotation file"),
        CLI_INT("threads", 0, "N", &o->threads, 1, 1024, "threads (default: all cores)"),
        CLI_INT("block", 0, "ROWS", &o->block, 1, 1L << 30,
                "gallery rows per block (default: automatic)"),
        CLI_STR("out", 0, "FILE", &o->out,
                "JSON Lines: {\"query\": i, \"ranking\": [K names], \"scores\": [K floats]}"),
        CLI_END};
    const cli_spec spec = {CMD, synopsis, about, opts, footer};
    return cli_parse(&spec, argc, argv, NULL);
}

// Checks the combination of options and fills in the method's weights.
static int check_opts(search_opts *o)
{
    if (!o->index_dir || !o->after || !o->out)
        return cli_usage(CMD, "--index, --after and --out are required");
    int m_seize = !strcmp(o->method, "seize"), m_mean = !strcmp(o->method, "mean");
    o->ldre = !strcmp(o->method, "ldre");
    if (!m_seize && !m_mean && !o->ldre) return cli_usage(CMD, "unknown --method '%s'", o->method);
    if ((m_seize || o->ldre) && !o->before)
        return cli_usage(CMD, "--method %s needs --before", o->method);
    if (!!o->dataset != !!o->annotations)
        return cli_usage(CMD, "--dataset and --annotations go together");
    if (o->annotations && (o->exclude || o->subsets))
        return cli_usage(CMD, "--annotations replaces --exclude and --subsets");
    o->kind = SEIZE_DS_CIRCO;
    if (o->dataset && seize_ds_kind_parse(o->dataset, &o->kind) < 0)
        return cli_usage(CMD, "%s", seize_errmsg());
    seize_search_weights w = seize_search_weights_for(o->kind); // CIRCO's without --dataset
    if (o->pos == -1) o->pos = w.pos;
    if (o->neg == -1) o->neg = w.neg;
    if (m_mean) o->pos = o->neg = 0, o->before = NULL;
    return EXIT_OK;
}

// The exclusions and subsets: from the annotations (which must have one query per row of
// A) or from --exclude / --subsets.
static int search_inputs(const search_opts *o, const seize_index *idx, size_t nq,
                         seize_search_inputs *in)
{
    if (!o->annotations)
        return seize_search_inputs_files(idx, nq, o->exclude, o->subsets, in) < 0
                   ? cli_lib_fail(CMD)
                   : 0;
    seize_dataset *ds = NULL;
    int rc = 0;
    if (seize_dataset_load(o->kind, o->annotations, &ds) < 0)
        rc = cli_lib_fail(CMD);
    else if (ds->n != nq)
        rc = cli_fail(CMD, "'%s' has %zu queries but '%s' has %zu rows", o->annotations, ds->n,
                      o->after, nq);
    else if (seize_search_inputs_dataset(ds, idx, in) < 0)
        rc = cli_lib_fail(CMD);
    seize_dataset_free(ds);
    return rc;
}

// The search on a pool of the command's threads, BLAS on as many for the gallery products.
static int run_search(const search_opts *o, const seize_index *idx, const seize_npy *A,
                      const seize_npy *B, const seize_search_inputs *in, seize_search_result **r)
{
    seize_search_params p = seize_search_default_params();
    p.pos = (float)o->pos;
    p.neg = (float)o->neg;
    p.k = (size_t)o->k;
    p.block_rows = (size_t)o->block;
    int n_threads = cli_threads(o->threads);
    if (seize_pool_new(n_threads, &p.pool) < 0) return -1;
    seize_blas_threads_set(n_threads); // one big product per block: BLAS threads it
    const seize_subsets *S = in->has_subsets ? &in->subsets : NULL;
    const float *b = B ? B->data : NULL;
    seize_gallery g = seize_index_gallery(idx);
    int rc = o->ldre ? seize_search_ldre(&g, A->data, b, A->shape[0], A->shape[1], in->exclude, S,
                                         &p, NULL, r)
                     : seize_search(&g, A->data, b, A->shape[0], in->exclude, S, &p, r);
    seize_pool_free(p.pool);
    return rc;
}

int cmd_search(int argc, char **argv)
{
    search_opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0 || (rc = check_opts(&o)) != EXIT_OK) return rc;
    rc = EXIT_FAIL;
    seize_index *idx = NULL;
    seize_npy *A = NULL, *B = NULL;
    seize_search_inputs in = {0};
    seize_search_result *r = NULL;
    if (seize_index_open(o.index_dir, &idx) < 0 || load_queries(o.after, o.ldre, &A) < 0 ||
        (o.before && load_queries(o.before, o.ldre, &B) < 0)) {
        rc = cli_lib_fail(CMD);
        goto done;
    }
    size_t nq = A->shape[0], dim = A->shape[A->ndim - 1];
    if (dim != seize_index_dim(idx)) {
        rc = cli_fail(CMD, "'%s' has dimension %zu but the index has %zu", o.after, dim,
                      seize_index_dim(idx));
        goto done;
    }
    if (B && memcmp(A->shape, B->shape, sizeof A->shape)) {
        rc = cli_fail(CMD, "'%s' and '%s' have different shapes", o.after, o.before);
        goto done;
    }
    if ((rc = search_inputs(&o, idx, nq, &in)) != 0) goto done;
    if (run_search(&o, idx, A, B, &in, &r) < 0 ||
        seize_rankings_write(o.out, r, idx, o.index_dir, NULL) < 0)
        rc = cli_lib_fail(CMD);
done:
    seize_search_result_free(r);
    seize_search_inputs_release(&in);
    seize_index_free(idx);
    seize_npy_free(A);
    seize_npy_free(B);
    return rc;
}
