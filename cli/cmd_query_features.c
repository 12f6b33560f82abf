// seize query-features: per-query vectors from captions and edited captions (SEIZE step 3).
#include "cli.h"
#include "opt.h"
#include "seize/retrieval.h"

static const char *CMD = "query-features";
static int quiet;

static const char about[] =
    "Encodes each query's captions c_i and edited captions e_i with the CLIP text tower and\n"
    "writes, for the first N of each (N = 15 by default; duplicates count as often as they "
    "occur):\n"
    "  A = normalize(mean_i text(e_i))  -> --out-after   [Q, D] float32\n"
    "  B = normalize(mean_i text(c_i))  -> --out-before  [Q, D] float32\n"
    "where text() is the raw projected embedding. With --per-caption the raw embeddings are\n"
    "written instead, [Q, N, D] (the input of seize search --method ldre); every query must\n"
    "then have at least N captions and N edits.";

static const char footer[] =
    "Limits: each caption and edit used may have at most 64 KiB (65536 bytes; a longer one is\n"
    "an error naming the query), a captions file at most 1 GiB, and it must be a regular file\n"
    "(a FIFO or device is refused). Relative paths are taken from the current folder.";

static void on_start(void *ud, size_t n_texts)
{
    cli_progress_start(ud, CMD, n_texts, quiet);
}

int cmd_query_features(int argc, char **argv)
{
    seize_query_vectors_files f = {.params = seize_query_vectors_default_params()};
    long n_use = 15, batch = 64, threads = 0;
    const cli_opt opts[] = {
        CLI_STR("model", 0, "DIR", &f.model_dir, "CLIP model folder"),
        CLI_STR("captions", 0, "FILE", &f.captions,
                "the authors' JSON (an annotation array with \"multi_caption_opt\"\n"
                "and \"multi_gpt-3.5_opt\") or JSON Lines ({\"captions\": [...],\n"
                "\"edited\": [...]}, the output of seize reason)"),
        CLI_STR("edits", 0, "FILE", &f.edits, "take the edits from this file (same query order)"),
        CLI_STR("out-after", 0, "FILE", &f.out_after, "A (above)"),
        CLI_STR("out-before", 0, "FILE", &f.out_before, "B (above)"),
        CLI_STR("captions-key", 0, "K", &f.captions_key,
                "key of the captions (default per format)"),
        CLI_STR("edits-key", 0, "K", &f.edits_key, "key of the edits"),
        CLI_INT("num-captions", 0, "N", &n_use, 1, 10000, "N above (default 15)"),
        CLI_FLAG("per-caption", 0, &f.params.per_caption, "raw per-caption embeddings (above)"),
        CLI_INT("batch", 0, "B", &batch, 1, 65536, "texts per forward pass (default 64)"),
        CLI_THREADS(&threads),
        CLI_PRECISION(&f.precision),
        CLI_QUIET(&quiet),
        CLI_END};
    const cli_spec spec = {CMD,
                           "--model DIR --captions FILE [--edits FILE]\n"
                           "--out-after A.npy --out-before B.npy [OPTION...]",
                           about, opts, footer};
    quiet = 0;
    int rc = cli_parse(&spec, argc, argv, NULL);
    if (rc >= 0) return rc;
    if (!f.model_dir || !f.captions || !f.out_after || !f.out_before)
        return cli_usage(CMD, "--model, --captions, --out-after and --out-before are required");
    cli_progress pr = {0};
    f.params.n_use = (size_t)n_use, f.max_batch = (int)batch;
    f.params.on_start = on_start, f.params.on_progress = cli_progress_cb,
    f.params.progress_ud = &pr;
    f.n_threads = cli_model_threads(threads);
    seize_query_vectors v = {0};
    rc = seize_query_vectors_files_run(&f, &v);
    cli_progress_end(&pr);
    if (rc < 0) return cli_lib_fail(CMD);
    if (!quiet)
        fprintf(stderr, "seize %s: %zu queries, %zu texts, dim %zu\n", CMD, v.n_queries, v.n_texts,
                v.dim);
    seize_query_vectors_release(&v);
    return EXIT_OK;
}
