// seize search: rank an index for query vectors with the semantic editing score (or mean, LDRE).
#include "cli.h"
#include "opt.h"

#include "seize/retrieval.h"

#include <string.h>

static const char *CMD = "search";

static const char about[] =
    "Ranks the gallery of INDEX for each query. With A = normalize(after), B = normalize(before)\n"
    "and g a gallery row: a = A.g, b = B.g, d = a - b,\n"
    "  score = a + neg*min(d, 0) + pos*max(d, 0)\n"
    "ranked by score descending, then gallery row ascending; the excluded reference is removed.";

static const char footer[] =
    "Relative paths are taken from the current folder. OUT is written through a temporary\n"
    "file beside it (OUT.tmp.PID), renamed at the end and removed on Ctrl-C or SIGTERM.";

typedef struct search_opts {
    seize_search_files f;
    const char *method, *dataset;
    double pos, neg;
    long k, threads, block;
} search_opts;

// Parses the options into *o: -1 to go on, else the exit status (--help printed: EXIT_OK).
static int parse(int argc, char **argv, search_opts *o)
{
    *o = (search_opts){
        .f = seize_search_files_default(), .method = "seize", .pos = -1, .neg = -1, .k = 50};
    seize_search_files *f = &o->f;
    const cli_opt opts[] = {
        CLI_STR("index", 0, "DIR", &f->index_dir, "index folder (seize index build / import)"),
        CLI_STR("after", 0, "FILE", &f->after,
                ".npy query vectors from the edited captions: [Q, D] (seize, mean) or\n"
                "[Q, N, D] raw per-caption features (ldre)"),
        CLI_STR("before", 0, "FILE", &f->before,
                ".npy query vectors from the captions, same shape (not needed by mean)"),
        CLI_CHOICE("method", 0, "M", &o->method, "seize|mean|ldre",
                   "seize (default), mean (pos = neg = 0), ldre (LDRE caption weighting;\n"
                   "per-caption inputs, see above)"),
        CLI_FLOAT("pos", 0, "P", &o->pos, 0, INFINITY,
                  "SEIZE weights (default 0.13 and 2.1, the CIRCO values; with\n"
                  "--dataset cirr 0.22 and 1.0)"),
        CLI_FLOAT("neg", 0, "N", &o->neg, 0, INFINITY, "(see --pos)"),
        CLI_INT("k", 0, "K", &o->k, 1, 1000000000, "ranking length (default 50)"),
        CLI_STR("exclude", 0, "FILE", &f->exclude,
                "one gallery name per query (its reference image) or an empty line"),
        CLI_STR("subsets", 0, "FILE", &f->subsets,
                "one line per query: candidate gallery names separated by spaces; the\n"
                "output gets \"subset\" (the ranking restricted to them, minus the\n"
                "excluded name) and \"subset_scores\""),
        CLI_CHOICE("dataset", 0, "D", &o->dataset, "circo|cirr|fashioniq",
                   "circo, cirr or fashioniq; with --annotations: the exclusions"),
        CLI_STR("annotations", 0, "F", &f->annotations,
                "(reference images) and cirr's subsets (img_set.members) from it"),
        CLI_THREADS(&o->threads),
        CLI_INT("block", 0, "ROWS", &o->block, 1, 1L << 30,
                "gallery rows per block (default: automatic)"),
        CLI_STR("out", 0, "FILE", &f->out,
                "JSON Lines: {\"query\": i, \"ranking\": [K names], \"scores\": [K floats]}"),
        CLI_END};
    const cli_spec spec = {
        CMD, "--index INDEX --after A.npy [--before B.npy] --out RESULTS.jsonl [OPTION...]", about,
        opts, footer};
    return cli_parse(&spec, argc, argv, NULL);
}

// Checks the combination of options and fills in the method's weights.
static int check_opts(search_opts *o)
{
    seize_search_files *f = &o->f;
    if (!f->index_dir || !f->after || !f->out)
        return cli_usage(CMD, "--index, --after and --out are required");
    seize_method_parse(o->method, &f->method); // (one of the choices)
    if (f->method != SEIZE_METHOD_MEAN && !f->before)
        return cli_usage(CMD, "--method %s needs --before", o->method);
    if (!!o->dataset != !!f->annotations)
        return cli_usage(CMD, "--dataset and --annotations go together");
    if (f->annotations && (f->exclude || f->subsets))
        return cli_usage(CMD, "--annotations replaces --exclude and --subsets");
    if (o->dataset && seize_ds_kind_parse(o->dataset, &f->kind) < 0)
        return cli_usage(CMD, "%s", seize_errmsg());
    seize_search_weights w = seize_search_weights_for(f->kind); // CIRCO's without --dataset
    f->params.pos = (float)(o->pos == -1 ? w.pos : o->pos);
    f->params.neg = (float)(o->neg == -1 ? w.neg : o->neg);
    f->params.k = (size_t)o->k;
    f->params.block_rows = (size_t)o->block;
    return EXIT_OK;
}

int cmd_search(int argc, char **argv)
{
    search_opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0 || (rc = check_opts(&o)) != EXIT_OK) return rc;
    int n_threads = o.f.params.n_threads = cli_threads(o.threads);
    seize_blas_threads_set(n_threads); // one big product per block: BLAS threads it
    return seize_cluster_search_files_run(&o.f, NULL) < 0 ? cli_lib_fail(CMD) : EXIT_OK;
}
