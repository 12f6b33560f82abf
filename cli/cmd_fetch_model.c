// seize fetch-model: download a CLIP model folder from the Hugging Face hub.
#include "cli.h"

#include "seize/core.h"
#include "seize/hub.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: seize fetch-model [options] NAME\n"
    "\n"
    "Downloads a CLIP model folder from the Hugging Face hub into the cache and prints its path.\n"
    "NAME is one of the supported architectures or a hub repository id (owner/name):\n"
    "  ViT-B-32     openai/clip-vit-base-patch32               (transformers layout)\n"
    "  ViT-B-16     openai/clip-vit-base-patch16               (transformers layout)\n"
    "  ViT-L-14     openai/clip-vit-large-patch14              (transformers layout)\n"
    "  ViT-H-14     laion/CLIP-ViT-H-14-laion2B-s32B-b79K      (open_clip layout)\n"
    "  ViT-g-14     laion/CLIP-ViT-g-14-laion2B-s12B-b42K      (open_clip layout)\n"
    "  ViT-bigG-14  laion/CLIP-ViT-bigG-14-laion2B-39B-b160k   (open_clip layout)\n"
    "Interrupted downloads resume (HTTP Range); files the hub gives a SHA-256 for are checked;\n"
    "every file is checked before it gets its final name (a .safetensors file must have a\n"
    "safetensors header, a .json file must parse, no HTML page is kept); files already in the\n"
    "cache are not fetched again. When the hub cannot be reached (no name resolution,\n"
    "connection refused) it stops after two attempts and says so; set $HF_ENDPOINT to a\n"
    "mirror, or give a local model folder to --model of the other commands instead.\n"
    "A relative --cache is taken from the current directory.\n"
    "\n"
    "options:\n"
    "  --cache DIR        cache folder (default $SEIZE_CACHE, else $XDG_CACHE_HOME/seize, else\n"
    "                     ~/.cache/seize); the model goes to DIR/models/NAME\n"
    "  --endpoint URL     hub address (default $HF_ENDPOINT or https://huggingface.co)\n"
    "  --revision REV     branch, tag or commit (default main)\n"
    "  --layout L         hf or open_clip (default: the model's usual layout)\n"
    "  --max-attempts N   tries per file on network errors (default 5)\n"
    "  --quiet            no progress line\n"
    "  -h, --help         show this help\n"
    "The token in $HF_TOKEN, if set, is sent for gated models.\n";

typedef struct {
    int enabled;
    double last;
} prog;

static void on_progress(void *ctx, const char *file, size_t done, size_t total)
{
    prog *p = ctx;
    if (!p->enabled) return;
    double now = seize_now();
    if (now - p->last < 0.2 && done != total) return;
    p->last = now;
    if (total)
        fprintf(stderr, "\r%s  %.1f / %.1f MB\033[K", file, (double)done / 1e6,
                (double)total / 1e6);
    else
        fprintf(stderr, "\r%s  %.1f MB\033[K", file, (double)done / 1e6);
}

int cmd_fetch_model(int argc, char **argv)
{
    enum { O_CACHE = 256, O_ENDPOINT, O_REVISION, O_LAYOUT, O_ATTEMPTS, O_QUIET, O_RETRY_BASE };
    static const struct option opts[] = {
        {"cache", required_argument, NULL, O_CACHE},
        {"endpoint", required_argument, NULL, O_ENDPOINT},
        {"revision", required_argument, NULL, O_REVISION},
        {"layout", required_argument, NULL, O_LAYOUT},
        {"max-attempts", required_argument, NULL, O_ATTEMPTS},
        {"retry-base", required_argument, NULL, O_RETRY_BASE}, // seconds; for tests
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    seize_hub_opts o = seize_hub_default_opts();
    prog p = {0, 0};
    int quiet = 0, c;
    long n;
    double d;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_CACHE:
            o.cache_dir = optarg;
            break;
        case O_ENDPOINT:
            o.endpoint = optarg;
            break;
        case O_REVISION:
            o.revision = optarg;
            break;
        case O_LAYOUT:
            if (strcmp(optarg, "hf") && strcmp(optarg, "open_clip"))
                return cli_usage("fetch-model", "--layout must be hf or open_clip");
            o.layout = optarg;
            break;
        case O_ATTEMPTS:
            if (cli_parse_int(optarg, 1, 100, &n) < 0)
                return cli_usage("fetch-model", "--max-attempts needs a number from 1 to 100");
            o.max_attempts = (int)n;
            break;
        case O_RETRY_BASE:
            if (cli_parse_float(optarg, &d) < 0 || d < 0)
                return cli_usage("fetch-model", "--retry-base needs a non-negative number");
            o.retry_base = d;
            break;
        case O_QUIET:
            quiet = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        default:
            return cli_usage("fetch-model", "invalid option");
        }
    }
    if (optind != argc - 1) return cli_usage("fetch-model", "expected exactly one model NAME");
    p.enabled = !quiet && isatty(STDERR_FILENO);
    o.progress = on_progress;
    o.progress_ctx = &p;
    char *dir;
    int rc = seize_hub_fetch(argv[optind], &o, &dir);
    if (p.enabled) fputc('\n', stderr);
    if (rc < 0) return cli_lib_fail("fetch-model");
    printf("%s\n", dir);
    free(dir);
    return EXIT_OK;
}
