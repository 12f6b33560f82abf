// seize encode-images: images → float32 [N, embed] CLIP image embeddings (.npy).
#include "cli.h"
#include "opt.h"
#include "seize/retrieval.h"
#include <stdlib.h>

static const char *CMD = "encode-images";
static const char synopsis[] = "--model DIR --out OUT.npy [OPTION...] (IMAGE... | --list FILE)";

static const char about[] =
    "Encodes images with the vision tower of the CLIP model in DIR (transformers or open_clip\n"
    "layout) into float32 [N, embed] OUT.npy, a row per image in order. Preprocessing as SEIZE:\n"
    "TargetPad 1.25, bicubic resize, center crop, CLIP normalisation (overlapping the encoding).";

static void on_bad(void *ud, const char *path, const char *msg)
{
    fprintf(stderr, "%sseize %s: skipped: %s\n", ((cli_progress *)ud)->enabled ? "\n" : "", CMD,
            msg);
}

static const char footer[] =
    "Images must be regular files (a FIFO or device is refused, named). Relative paths are\n"
    "taken from the current folder (the paths of a --list too).\n\n"
    "Speed: oneDNN's kernels for this CPU (OpenBLAS's in a NO_DNNL=1 build). bf16 and int8 ran at\n"
    "1.8x and 3x fp32's rate on a CPU with AVX512_BF16 and VNNI; without those, slower than fp32.";

int cmd_encode_images(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *list = NULL;
    long batch = 32, threads = 0;
    int no_pad = 0, quiet = 0;
    cli_progress pr = {0};
    seize_encode_params p = seize_encode_default_params();
    p.on_bad = on_bad, p.on_progress = cli_progress_cb, p.ud = &pr;
    const cli_opt opts[] = {
        CLI_STR("model", 'm', "DIR", &model, "CLIP model folder (required)"),
        CLI_STR("out", 'o', "FILE", &out, "output .npy (required)"),
        CLI_STR("list", 'l', "FILE", &list, "image paths, one per line (instead of IMAGE...)"),
        CLI_FLAG("no-pad", 0, &no_pad, "plain CLIP preprocessing (no TargetPad)"),
        CLI_INT("batch", 'b', "B", &batch, 1, 4096, "images per forward pass (default 32)"),
        CLI_INT("threads", 'j', "N", &threads, 1, 1024, "threads (default: all cores)"),
        CLI_PRECISION(&p.precision),
        CLI_FLAG("normalize", 0, &p.normalize, "L2-normalise each row (default: raw)"),
        CLI_FLAG("skip-bad", 0, &p.skip_bad,
                 "leave out images that cannot be decoded (stderr, OUT.failed.txt: path\n"
                 "TAB message; kept rows' paths: OUT.names.txt; exit 3). Without it the\n"
                 "first bad image stops the command (exit 1, nothing written)."),
        CLI_QUIET(&quiet),
        CLI_END};
    const cli_spec spec = {CMD, synopsis, about, opts, footer, .max_args = 1 << 30};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc >= 0) return rc;
    if (!model || !out) return cli_usage(CMD, "--model and --out are required");
    if (!list == !args.n)
        return cli_usage(CMD, list ? "give images either as arguments or with --list, not both"
                                   : "no images given");
    char **lines = NULL, *failed = NULL;
    size_t n = (size_t)args.n, n_bad = 0;
    if (list && seize_read_lines(list, &lines, &n) < 0) return cli_lib_fail(CMD);
    p.pad_ratio = no_pad ? 0 : p.pad_ratio, p.max_batch = (int)batch;
    p.n_threads = cli_model_threads(threads);
    cli_blas_note(quiet);
    cli_progress_start(&pr, CMD, n, quiet);
    const char *const *paths = (const char *const *)(list ? lines : args.v);
    int lrc = n ? seize_encode_images_dir(model, paths, n, out, &p, &n_bad) : 0;
    cli_progress_end(&pr);
    if (!n)
        rc = cli_fail(CMD, "'%s' lists no images", list);
    else if (lrc < 0 || (n_bad && !(failed = seize_encode_side_path(out, ".failed.txt"))))
        rc = cli_lib_fail(CMD);
    else if (n_bad)
        fprintf(stderr, "seize %s: %zu of %zu images could not be read (listed in %s)\n", CMD,
                n_bad, n, failed);
    rc = rc >= 0 ? rc : n_bad ? EXIT_PARTIAL : EXIT_OK;
    free(failed);
    if (lines) seize_lines_free(lines, n);
    return rc;
}
