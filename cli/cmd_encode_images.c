// seize encode-images: images → float32 [N, embed] CLIP image embeddings (.npy).
#include "cli.h"

#include "seize/clip.h"
#include "seize/image.h"
#include "seize/index.h"
#include "seize/model.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: seize encode-images --model DIR --out OUT.npy [--no-pad] [--batch B]\n"
    "                           [--threads N] [--normalize] [--skip-bad] [--quiet]\n"
    "                           (IMAGE... | --list FILE)\n"
    "\n"
    "Encodes images with the vision tower of the CLIP model in DIR (transformers or open_clip\n"
    "layout) and writes float32 [N, embed] to OUT.npy, one row per image in input order.\n"
    "Images are preprocessed as the SEIZE pipeline does (TargetPad 1.25, bicubic resize,\n"
    "center crop, CLIP normalisation); decoding of the next batch overlaps the current one.\n"
    "\n"
    "  -m, --model DIR     CLIP model folder (required)\n"
    "  -o, --out FILE      output .npy (required)\n"
    "  -l, --list FILE     read image paths from FILE, one per line (instead of IMAGE...)\n"
    "      --no-pad        plain CLIP preprocessing (no TargetPad)\n"
    "  -b, --batch B       images per forward pass (default 32)\n"
    "  -j, --threads N     threads (default: all cores)\n"
    "      --normalize     L2-normalise each row (default: raw projected embeddings)\n"
    "      --skip-bad      leave out images that cannot be decoded: list them on stderr and in\n"
    "                      OUT.failed.txt (path TAB message), write the paths of the kept rows\n"
    "                      to OUT.names.txt, exit 3 when any failed. Without it, the first bad\n"
    "                      image stops the command (exit 1, nothing written).\n"
    "  -q, --quiet         no progress display\n"
    "  -h, --help          show this help\n"
    "\n"
    "Images must be regular files (a FIFO or device is refused, named). Relative paths are\n"
    "taken from the current folder (the paths of a --list too).\n"
    "\n"
    "Speed: Debian's OpenBLAS 0.3.21 does not recognise recent AVX-512 CPUs (AMD Zen 4/5) and\n"
    "uses its Haswell kernels there; on such a CPU a note on stderr says so. Running with\n"
    "OPENBLAS_CORETYPE=SkylakeX was about twice as fast in our measurements; it is not done\n"
    "automatically because some OpenBLAS builds are known to misbehave with forced kernels.\n";

// "OUT.npy" → "OUT<suffix>" (the extension replaced when it is .npy).
static char *side_path(const char *out, const char *suffix)
{
    size_t n = strlen(out);
    if (n > 4 && !strcmp(out + n - 4, ".npy")) n -= 4;
    char *p = malloc(n + strlen(suffix) + 1);
    if (!p) return NULL;
    memcpy(p, out, n);
    strcpy(p + n, suffix);
    return p;
}

typedef struct ctx {
    char **paths;
    seize_preprocess_opts pre;
    cli_progress *progress;
    FILE *failed;     // OUT.failed.txt (temporary) with --skip-bad
    int failed_write; // 0, or -1 after a write error
} ctx;

static int load_image(void *ud, size_t i, float *px)
{
    ctx *c = ud;
    return seize_image_load_preprocess(c->paths[i], &c->pre, px);
}

static void on_bad(void *ud, size_t i, int code, const char *msg)
{
    ctx *c = ud;
    if (c->progress->enabled) fputc('\n', stderr);
    fprintf(stderr, "seize encode-images: skipped: %s\n", msg);
    if (c->failed && fprintf(c->failed, "%s\t%s\n", c->paths[i], msg) < 0) c->failed_write = -1;
}

static int on_progress(void *ud, size_t done, size_t n_bad)
{
    ctx *c = ud;
    cli_progress_update(c->progress, done, n_bad);
    return 0;
}

int cmd_encode_images(int argc, char **argv)
{
    static const char *cmd = "encode-images";
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"list", required_argument, NULL, 'l'},
                                         {"no-pad", no_argument, NULL, 'P'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"threads", required_argument, NULL, 'j'},
                                         {"normalize", no_argument, NULL, 'N'},
                                         {"skip-bad", no_argument, NULL, 'S'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        }

    const char *model_dir = NULL, *out = NULL, *list = NULL;
    long batch = 32, threads = 0;
    int no_pad = 0, normalize = 0, skip_bad = 0, quiet = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:o:l:b:j:qh", opts, NULL)) != -1) {
        switch (opt) {
        case 'm':
            model_dir = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'l':
            list = optarg;
            break;
        case 'P':
            no_pad = 1;
            break;
        case 'b':
            if (cli_parse_int(optarg, 1, 4096, &batch) < 0)
                return cli_usage(cmd, "--batch: expected an integer in 1..4096, got '%s'", optarg);
            break;
        case 'j':
            if (cli_parse_int(optarg, 1, 1024, &threads) < 0)
                return cli_usage(cmd, "--threads: expected an integer in 1..1024, got '%s'",
                                 optarg);
            break;
        case 'N':
            normalize = 1;
            break;
        case 'S':
            skip_bad = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        default:
            return cli_usage(cmd, "invalid option");
        }
    }
    if (!model_dir) return cli_usage(cmd, "--model is required");
    if (!out) return cli_usage(cmd, "--out is required");
    if (list && optind < argc)
        return cli_usage(cmd, "give images either as arguments or with --list, not both");
    if (!list && optind >= argc) return cli_usage(cmd, "no images given");

    int rc = EXIT_FAIL;
    char **paths = NULL, **lines = NULL;
    size_t n = 0, n_lines = 0, n_bad = 0;
    seize_model *m = NULL;
    seize_clip *clip = NULL;
    float *feats = NULL;
    uint8_t *ok = NULL;
    char *names_path = NULL, *failed_path = NULL;
    seize_atomic failed = {0}, names = {0};
    cli_progress progress = {0};

    if (list) {
        if (seize_read_lines(list, &lines, &n_lines) < 0) {
            rc = cli_lib_fail(cmd);
            goto done;
        }
        paths = lines;
        n = n_lines;
        if (n == 0) {
            rc = cli_fail(cmd, "'%s' lists no images", list);
            goto done;
        }
    } else {
        paths = argv + optind;
        n = (size_t)(argc - optind);
    }
    cli_blas_note(quiet);
    if (seize_model_load(model_dir, &m) < 0 ||
        seize_clip_new(m, (int)batch, cli_model_threads(threads), &clip) < 0) {
        rc = cli_lib_fail(cmd);
        goto done;
    }
    size_t E = seize_clip_embed_dim(clip);
    if (!(feats = seize_malloc(n, E * sizeof *feats)) || !(ok = seize_malloc(n, 1))) {
        rc = cli_lib_fail(cmd);
        goto done;
    }
    if (skip_bad) {
        if (!(names_path = side_path(out, ".names.txt")) ||
            !(failed_path = side_path(out, ".failed.txt"))) {
            rc = cli_fail(cmd, "out of memory");
            goto done;
        }
        if (seize_atomic_open(failed_path, &failed) < 0) {
            rc = cli_lib_fail(cmd);
            goto done;
        }
    }

    ctx c = {.paths = paths,
             .pre = seize_preprocess_default_opts(),
             .progress = &progress,
             .failed = failed.fp};
    c.pre.size = seize_clip_image_size(clip);
    if (no_pad) c.pre.pad_ratio = 0;
    seize_clip_list_opts lo = {
        .skip_bad = skip_bad, .on_bad = on_bad, .on_progress = on_progress, .ud = &c};
    cli_progress_start(&progress, cmd, n, quiet);
    int lrc = seize_clip_encode_image_list(clip, n, load_image, &lo, feats, ok, &n_bad);
    cli_progress_end(&progress);
    if (lrc < 0) {
        rc = cli_lib_fail(cmd);
        goto done;
    }
    // keep the rows that loaded, in order
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (ok[i]) {
            if (kept != i) memmove(feats + kept * E, feats + i * E, E * sizeof *feats);
            kept++;
        }
    if (normalize) seize_normalize_rows(feats, kept, E);
    size_t shape[2] = {kept, E};
    if (seize_npy_save(out, SEIZE_F32, 2, shape, feats) < 0) {
        rc = cli_lib_fail(cmd);
        goto done;
    }
    if (skip_bad) {
        if (seize_atomic_open(names_path, &names) < 0) {
            rc = cli_lib_fail(cmd);
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            if (ok[i]) fprintf(names.fp, "%s\n", paths[i]);
        if (c.failed_write < 0) {
            rc = cli_fail(cmd, "cannot write '%s': %s", failed_path, strerror(errno));
            goto done;
        }
        if (seize_atomic_commit(&names) < 0 || seize_atomic_commit(&failed) < 0) {
            rc = cli_lib_fail(cmd);
            goto done;
        }
    }
    if (n_bad)
        fprintf(stderr, "seize %s: %zu of %zu images could not be read (listed in %s)\n", cmd,
                n_bad, n, failed_path);
    rc = n_bad ? EXIT_PARTIAL : EXIT_OK;
done:
    seize_atomic_abort(&names);
    seize_atomic_abort(&failed);
    free(names_path);
    free(failed_path);
    free(feats);
    free(ok);
    seize_clip_free(clip);
    seize_model_free(m);
    if (lines) seize_lines_free(lines, n_lines);
    return rc;
}
