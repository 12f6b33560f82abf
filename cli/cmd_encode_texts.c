// seize encode-texts: texts → float32 [M, embed] CLIP text embeddings (.npy).
#include "cli.h"
#include "opt.h"
#include "seize/retrieval.h"

static const char *CMD = "encode-texts";

static const char synopsis[] = "--model DIR --out OUT.npy [OPTION...] (TEXT... | --input FILE)";
static const char about[] =
    "Encodes each text (CLIP tokenizer of the model in DIR; texts of similar length batched)\n"
    "with the text tower into float32 [M, embed] OUT.npy, a row per text in input order.";

static const char footer[] =
    "Limits: a text may have at most 64 KiB (65536 bytes; a longer one is an error naming its\n"
    "line), an --input at most 1 GiB and a regular file (a FIFO or device is refused). Relative\n"
    "paths are taken from the current folder. Speed: see encode-images --help.";

int cmd_encode_texts(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *input = NULL;
    long batch = 128, threads = 0;
    int quiet = 0;
    cli_progress pr = {0};
    seize_encode_params p = seize_encode_default_params();
    const cli_opt opts[] = {
        CLI_STR("model", 'm', "DIR", &model, "CLIP model folder (with vocab.json + merges.txt)"),
        CLI_STR("out", 'o', "FILE", &out, "output .npy (required)"),
        CLI_STR("input", 'i', "FILE", &input,
                "the texts, one per line (UTF-8; empty lines are empty texts)"),
        CLI_INT("batch", 'b', "B", &batch, 1, 4096, "texts per forward pass (default 128)"),
        CLI_INT("threads", 'j', "N", &threads, 1, 1024, "threads (default: all cores)"),
        CLI_PRECISION(&p.precision),
        CLI_FLAG("normalize", 0, &p.normalize, "L2-normalise each row (default: raw)"),
        CLI_QUIET(&quiet),
        CLI_END};
    const cli_spec spec = {CMD, synopsis, about, opts, footer, .max_args = 1 << 30};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc >= 0) return rc;
    if (!model || !out) return cli_usage(CMD, "--model and --out are required");
    if (!input == !args.n)
        return cli_usage(CMD, input ? "give texts either as arguments or with --input, not both"
                                    : "no texts given");
    char **lines = NULL;
    size_t n = (size_t)args.n;
    if (input && seize_read_lines(input, &lines, &n) < 0) return cli_lib_fail(CMD);
    p.on_progress = cli_progress_cb, p.ud = &pr, p.max_batch = (int)batch, p.texts_file = input;
    p.n_threads = cli_model_threads(threads);
    cli_blas_note(quiet);
    cli_progress_start(&pr, CMD, n, quiet);
    rc = seize_encode_texts_dir(model, (const char *const *)(input ? lines : args.v), n, out, &p);
    cli_progress_end(&pr);
    rc = rc < 0 ? cli_lib_fail(CMD) : EXIT_OK;
    if (lines) seize_lines_free(lines, n);
    return rc;
}
