// seize fetch-model: download a CLIP model folder from the Hugging Face hub.
#include "cli.h"
#include "opt.h"

#include "seize/core.h"
#include "seize/hub.h"

#include <stdlib.h>
#include <unistd.h>

static const char about[] =
    "Downloads a CLIP or BLIP-2 model folder from the Hugging Face hub into the cache; prints its\n"
    "path. NAME is a hub repository id owner/name (transformers layout unless --layout) or:\n"
    "  ViT-B-32, ViT-B-16, ViT-L-14: openai/clip-vit-base-patch32, -base-patch16, -large-patch14\n"
    "  (transformers layout); ViT-H-14, ViT-g-14, ViT-bigG-14: laion/CLIP-ViT-H-14-laion2B-s32B-\n"
    "  b79K, -g-14-laion2B-s12B-b42K, -bigG-14-laion2B-39B-b160k (open_clip layout);\n"
    "  blip2-opt-6.7b-coco, blip2-opt-2.7b: Salesforce/blip2-opt-... (blip2 layout: sharded\n"
    "  transformers weights as model.safetensors.index.json names them, for seize caption).\n"
    "Interrupted downloads resume (HTTP Range). A file gets its final name once checked (the\n"
    "hub's SHA-256 when given, a safetensors header, JSON that parses, never an HTML page);\n"
    "cached files are not fetched again. An unreachable hub (no name resolution, connection\n"
    "refused) stops it after two attempts: set $HF_ENDPOINT to a mirror, or give a local model\n"
    "folder (--model; BLIP-2: --model-dir). $HF_TOKEN, if set, is sent for gated models. A\n"
    "relative --cache is taken from the current folder.";

// "file  done / total MB" on a terminal, at most five times a second.
static void on_progress(void *ctx, const char *file, size_t done, size_t total)
{
    double *last = ctx, now = seize_now();
    if (now - *last < 0.2 && done != total) return;
    *last = now;
    fprintf(stderr, "\r%s  %.1f", file, (double)done / 1e6);
    if (total) fprintf(stderr, " / %.1f", (double)total / 1e6);
    fprintf(stderr, " MB\033[K");
}

int cmd_fetch_model(int argc, char **argv)
{
    seize_hub_opts o = seize_hub_default_opts();
    long attempts = o.max_attempts;
    int quiet = 0;
    const cli_opt opts[] = {
        CLI_STR("cache", 0, "DIR", &o.cache_dir,
                "cache folder (default $SEIZE_CACHE, else $XDG_CACHE_HOME/seize, else\n"
                "~/.cache/seize); the model goes to DIR/models/NAME"),
        CLI_STR("endpoint", 0, "URL", &o.endpoint,
                "hub address (default $HF_ENDPOINT or https://huggingface.co)"),
        CLI_STR("revision", 0, "REV", &o.revision, "branch, tag or commit (default main)"),
        CLI_CHOICE("layout", 0, "L", &o.layout, "transformers|open_clip|hf|blip2",
                   "transformers, open_clip or blip2 (default: the model's usual layout);\n"
                   "hf is an alias of transformers"),
        CLI_INT("max-attempts", 0, "N", &attempts, 1, 100,
                "tries per file on network errors (default 5)"),
        CLI_FLOAT("retry-base", 0, "S", &o.retry_base, 0, INFINITY, NULL), // for tests
        CLI_QUIET(&quiet),
        CLI_END};
    const cli_spec spec = {"fetch-model", "[options] NAME", about, opts, NULL, 1, 1,
                           "missing NAME"};
    cli_args args;
    double last = 0;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc >= 0) return rc;
    o.max_attempts = (int)attempts;
    if (!quiet && isatty(STDERR_FILENO)) o.progress = on_progress, o.progress_ctx = &last;
    char *dir = NULL;
    rc = seize_hub_fetch(args.v[0], &o, &dir);
    if (o.progress) fputc('\n', stderr);
    if (rc < 0) return cli_lib_fail("fetch-model");
    printf("%s\n", dir);
    free(dir);
    return EXIT_OK;
}
