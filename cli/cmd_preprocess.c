// seize preprocess: images → float32 [N, 3, S, S] .npy, exactly as the reference pipeline.
#include "cli.h"

#include "seize/image.h"

#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: seize preprocess [--no-pad | --pad-ratio R] [--size S] [--max-pixels N]\n"
    "                        [--keep-going] [-j THREADS] [-q] --out OUT.npy IMAGE...\n"
    "\n"
    "Decodes each IMAGE (JPEG or PNG, detected from its bytes) and runs the CLIP image\n"
    "preprocessing of the reference pipeline bit for bit (Pillow 9.4 + torchvision):\n"
    "TargetPad(R) -> Resize(S, bicubic, antialiased) -> CenterCrop(S) -> RGB -> /255 ->\n"
    "Normalize(CLIP mean, std). Writes float32 [N, 3, S, S] to OUT.npy, rows in argument order.\n"
    "\n"
    "  --pad-ratio R     SEIZE's TargetPad ratio (default 1.25; must be >= 1)\n"
    "  --no-pad          plain CLIP preprocessing (no TargetPad)\n"
    "  --size S          output side (default 224)\n"
    "  --max-pixels N    refuse images with more pixels (default 178956970, Pillow's limit)\n"
    "  --keep-going      report unreadable images and leave them out of OUT.npy (exit 3)\n"
    "                    instead of stopping at the first one (exit 1, nothing written)\n"
    "  -j, --threads N   worker threads (default: all cores, at most 64)\n"
    "  -q, --quiet       no progress display\n"
    "  -o, --out FILE    output .npy (required)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Images must be regular files (a FIFO or device is refused, named). Relative paths are\n"
    "taken from the current folder.\n";

static char oom_msg[] = "out of memory";

struct work {
    char **paths;
    size_t first;
    const seize_preprocess_opts *o;
    float *out;    // (chunk, 3, S, S)
    char **errors; // per item, NULL when it went well
};

// Item i of the current chunk, on a thread of the pool.
static void preprocess_item(void *ctx, size_t i, int thread)
{
    struct work *w = ctx;
    size_t per = 3 * (size_t)w->o->size * (size_t)w->o->size;
    if (seize_image_load_preprocess(w->paths[w->first + i], w->o, w->out + i * per) < 0) {
        w->errors[i] = strdup(seize_errmsg());
        if (!w->errors[i]) w->errors[i] = oom_msg;
    }
}

static void free_error(char **e)
{
    if (*e != oom_msg) free(*e);
    *e = NULL;
}

// A v1 .npy header for float32 (n, 3, s, s). With total == 0 it is padded so the data starts
// at a multiple of 64; otherwise it is padded to exactly `total` bytes (to rewrite a header in
// place with a smaller row count). Returns its length, or 0 on a write error.
static size_t write_header(FILE *fp, size_t n, int s, size_t total)
{
    char dict[160];
    int len =
        snprintf(dict, sizeof dict,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, 3, %d, %d), }", n, s, s);
    size_t natural = 10 + (size_t)len + 1;
    if (!total) total = natural + (64 - natural % 64) % 64;
    size_t pad = total - natural, hlen = total - 10;
    unsigned char pre[10] = {0x93,
                             'N',
                             'U',
                             'M',
                             'P',
                             'Y',
                             1,
                             0,
                             (unsigned char)(hlen & 255),
                             (unsigned char)(hlen >> 8)};
    if (fwrite(pre, 1, 10, fp) != 10 || fwrite(dict, 1, (size_t)len, fp) != (size_t)len) return 0;
    for (size_t i = 0; i < pad; i++)
        if (fputc(' ', fp) == EOF) return 0;
    return fputc('\n', fp) == EOF ? 0 : total;
}

int cmd_preprocess(int argc, char **argv)
{
    static const struct option opts[] = {{"pad-ratio", required_argument, NULL, 'r'},
                                         {"no-pad", no_argument, NULL, 'n'},
                                         {"size", required_argument, NULL, 's'},
                                         {"max-pixels", required_argument, NULL, 'm'},
                                         {"keep-going", no_argument, NULL, 'k'},
                                         {"threads", required_argument, NULL, 'j'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    seize_preprocess_opts o = seize_preprocess_default_opts();
    const char *out = NULL;
    int keep_going = 0, quiet = 0, c, have_ratio = 0, no_pad = 0;
    long threads = 0, v;
    double d;
    optind = 1;
    while ((c = getopt_long(argc, argv, "j:qo:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (cli_parse_float(optarg, &d) < 0 || d < 1.0)
                return cli_usage("preprocess", "--pad-ratio must be a number >= 1, not '%s'",
                                 optarg);
            o.pad_ratio = d;
            have_ratio = 1;
            break;
        case 'n':
            no_pad = 1;
            break;
        case 's':
            if (cli_parse_int(optarg, 1, 8192, &v) < 0)
                return cli_usage("preprocess", "--size must be an integer in 1..8192, not '%s'",
                                 optarg);
            o.size = (int)v;
            break;
        case 'm':
            if (cli_parse_int(optarg, 1, LONG_MAX, &v) < 0)
                return cli_usage("preprocess", "--max-pixels must be a positive integer, not '%s'",
                                 optarg);
            o.max_pixels = (size_t)v;
            break;
        case 'k':
            keep_going = 1;
            break;
        case 'j':
            if (cli_parse_int(optarg, 1, 1024, &threads) < 0)
                return cli_usage("preprocess", "--threads must be an integer in 1..1024");
            break;
        case 'q':
            quiet = 1;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        default:
            return cli_usage("preprocess", "invalid option");
        }
    }
    if (no_pad && have_ratio)
        return cli_usage("preprocess", "--no-pad and --pad-ratio exclude each other");
    if (no_pad) o.pad_ratio = 0;
    if (!out) return cli_usage("preprocess", "--out OUT.npy is required");
    if (optind >= argc) return cli_usage("preprocess", "no images given");
    char **paths = argv + optind;
    size_t n = (size_t)(argc - optind), per = 3 * (size_t)o.size * (size_t)o.size;

    int n_threads = cli_threads(threads);
    if (n_threads > 64) n_threads = 64;
    size_t chunk = 4 * (size_t)n_threads;
    float *buf = seize_malloc(chunk, per * sizeof(float));
    char **errors = seize_calloc(chunk, sizeof *errors);
    seize_atomic dst = {0};
    seize_pool *pool = NULL;
    int rc = EXIT_OK;
    size_t n_ok = 0, n_bad = 0, hdr = 0;
    if (!buf || !errors || seize_pool_new(n_threads, &pool) < 0) {
        rc = cli_lib_fail("preprocess");
        goto done;
    }
    // The header is written for all n rows and rewritten, same length, if some fail.
    if (seize_atomic_open(out, &dst) < 0) {
        rc = cli_lib_fail("preprocess");
        goto done;
    }
    hdr = write_header(dst.fp, n, o.size, 0);
    if (!hdr) {
        rc = cli_fail("preprocess", "cannot write '%s'", out);
        goto done;
    }
    cli_progress p;
    cli_progress_start(&p, "preprocess", n, quiet);
    for (size_t first = 0; first < n && rc == EXIT_OK; first += chunk) {
        size_t m = n - first < chunk ? n - first : chunk;
        struct work w = {.paths = paths, .first = first, .o = &o, .out = buf, .errors = errors};
        seize_pool_for(pool, m, preprocess_item, &w);
        for (size_t i = 0; i < m; i++) {
            if (errors[i]) {
                n_bad++;
                if (keep_going)
                    fprintf(stderr, "seize preprocess: skipping: %s\n", errors[i]);
                else if (rc == EXIT_OK)
                    rc = cli_fail("preprocess", "%s", errors[i]);
                free_error(&errors[i]);
                continue;
            }
            if (rc == EXIT_OK && fwrite(buf + i * per, sizeof(float), per, dst.fp) != per)
                rc = cli_fail("preprocess", "cannot write '%s'", out);
            n_ok++;
        }
        cli_progress_update(&p, first + m, n_bad);
    }
    cli_progress_end(&p);
    if (rc != EXIT_OK) goto done;
    if (n_ok == 0) {
        rc = cli_fail("preprocess", "no image could be read; '%s' not written", out);
        goto done;
    }
    if (n_ok != n &&
        (fseek(dst.fp, 0, SEEK_SET) != 0 || write_header(dst.fp, n_ok, o.size, hdr) != hdr)) {
        rc = cli_fail("preprocess", "cannot write '%s'", out);
        goto done;
    }
    if (seize_atomic_commit(&dst) < 0) {
        rc = cli_lib_fail("preprocess");
        goto done;
    }
    if (!quiet || n_bad)
        fprintf(stderr, "seize preprocess: wrote %zu of %zu images to %s (%zu failed)\n", n_ok, n,
                out, n_bad);
    if (n_bad) rc = EXIT_PARTIAL;
done:
    seize_atomic_abort(&dst); // no-op after a commit
    if (errors)
        for (size_t i = 0; i < chunk; i++)
            free_error(&errors[i]);
    free(errors);
    free(buf);
    seize_pool_free(pool);
    return rc;
}
