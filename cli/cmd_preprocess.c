// seize preprocess: images → float32 [N, 3, S, S] .npy, exactly as the reference pipeline.
#include "cli.h"
#include "opt.h"
#include "seize/image.h"
#include <limits.h>

static const char *CMD = "preprocess";

static const char about[] =
    "Decodes each IMAGE (JPEG or PNG, detected from its bytes) and runs the CLIP image\n"
    "preprocessing of the reference pipeline bit for bit (Pillow 9.4 + torchvision):\n"
    "TargetPad(R) -> Resize(S, bicubic, antialiased) -> CenterCrop(S) -> RGB -> /255 ->\n"
    "Normalize(CLIP mean, std). Writes float32 [N, 3, S, S] to OUT.npy, rows in argument order.";

static const char footer[] =
    "Images must be regular files (a FIFO or device is refused, named). Relative paths are\n"
    "taken from the current folder.";

static void on_bad(void *ud, size_t i, const char *msg)
{
    fprintf(stderr, "%sseize %s: skipping: %s\n", ((cli_progress *)ud)->enabled ? "\n" : "", CMD,
            msg);
}

int cmd_preprocess(int argc, char **argv)
{
    seize_preprocess_files_params p = seize_preprocess_files_default_params();
    const char *out = NULL;
    double ratio = 0;
    long size = p.pre.size, max_pixels = (long)p.pre.max_pixels, threads = 0;
    int no_pad = 0, quiet = 0;
    const cli_opt opts[] = {
        CLI_FLOAT("pad-ratio", 0, "R", &ratio, 1, INFINITY,
                  "SEIZE's TargetPad ratio (default 1.25; must be >= 1)"),
        CLI_FLAG("no-pad", 0, &no_pad, "plain CLIP preprocessing (no TargetPad)"),
        CLI_INT("size", 0, "S", &size, 1, 8192, "output side (default 224)"),
        CLI_INT("max-pixels", 0, "N", &max_pixels, 1, LONG_MAX,
                "refuse images with more pixels (default 178956970, Pillow's limit)"),
        CLI_FLAG("keep-going", 0, &p.keep_going,
                 "report unreadable images and leave them out of OUT.npy (exit 3)\n"
                 "instead of stopping at the first one (exit 1, nothing written)"),
        CLI_INT("threads", 'j', "N", &threads, 1, 1024,
                "worker threads (default: all cores, at most 64)"),
        CLI_QUIET(&quiet),
        CLI_STR("out", 'o', "FILE", &out, "output .npy (required)"),
        CLI_END};
    const char *synopsis = "[--no-pad | --pad-ratio R] [--size S] [--max-pixels N]\n"
                           "[--keep-going] [-j THREADS] [-q] --out OUT.npy IMAGE...";
    const cli_spec spec = {CMD, synopsis, about, opts, footer, .max_args = 1 << 30, .col = 20};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc >= 0) return rc;
    if (no_pad && ratio) return cli_usage(CMD, "--no-pad and --pad-ratio exclude each other");
    if (!out) return cli_usage(CMD, "--out OUT.npy is required");
    if (!args.n) return cli_usage(CMD, "no images given");
    p.pre.pad_ratio = no_pad ? 0 : ratio ? ratio : p.pre.pad_ratio;
    p.pre.size = (int)size, p.pre.max_pixels = (size_t)max_pixels, p.n_threads = (int)threads;
    cli_progress pr;
    p.on_bad = on_bad, p.on_progress = cli_progress_cb, p.ud = &pr;
    size_t n = (size_t)args.n, n_ok = 0;
    cli_progress_start(&pr, CMD, n, quiet);
    rc = seize_preprocess_files((const char *const *)args.v, n, out, &p, &n_ok);
    cli_progress_end(&pr);
    if (rc < 0) return cli_lib_fail(CMD);
    if (!quiet || n_ok != n)
        fprintf(stderr, "seize %s: wrote %zu of %zu images to %s (%zu failed)\n", CMD, n_ok, n, out,
                n - n_ok);
    return n_ok != n ? EXIT_PARTIAL : EXIT_OK;
}
