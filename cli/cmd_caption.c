// seize caption: caption each image N times with a vision LLM over an OpenAI-compatible API
// (SEIZE step 1), with retries, a journal and resume.
#include "llm_cli.h"

#include "seize/core.h"
#include "seize/data.h"
#include "seize/image.h"
#include "seize/net.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *CMD = "caption";

#define DEFAULT_PROMPT "Write a short caption for this image in one sentence."
// Largest image sent (the base64 request is a third larger); bigger files are refused.
#define MAX_IMAGE_BYTES ((size_t)20 << 20)

static void usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: seize caption (IMAGE... | --list FILE | --dataset NAME --input ANN --images DIR)\n"
        "                     --out C.jsonl --endpoint URL --model NAME [options]\n"
        "\n"
        "Captions each image N times by nucleus sampling (SEIZE step 1) with a vision LLM: the\n"
        "image goes as a base64 data URL in an image_url part with a short prompt.\n"
        "Output: JSON Lines {\"image\": PATH, \"captions\": [...]} in input order.\n"
        "\n"
        "Input:\n"
        "  IMAGE...              image files\n"
        "  --list FILE           a file with one image path per line\n"
        "  --dataset NAME        the reference images of a benchmark's queries (each once):\n"
        "                        circo: DIR/<12-digit id>.jpg; cirr: DIR/<reference>.png;\n"
        "                        fashioniq: DIR/<candidate>.png (or .jpg)\n"
        "  --input FILE          with --dataset: the annotation file\n"
        "  --images DIR          with --dataset: the image folder\n"
        "  --split FILE          with --dataset cirr: split.rc2.<split>.json, whose paths "
        "(relative\n"
        "                        to DIR) locate the images\n"
        "Output:\n"
        "  --out FILE            written atomically once every image is complete\n"
        "  --journal FILE        progress journal (default OUT.journal); a rerun resumes from it.\n"
        "                        Entries are keyed by the settings (model, endpoint without\n"
        "                        credentials, prompt, -n, temperature, top-p, seed, max tokens):\n"
        "                        a rerun with other settings asks again (old entries are kept\n"
        "                        and reused if those settings come back).\n"
        "  OUT.journal.lock      (and FILE.lock for a --journal elsewhere) a second process on\n"
        "                        the same output or journal fails at once\n"
        "  OUT.settings.json     written with the output: model, endpoint (credentials\n"
        "                        replaced by ***), temperature, top_p, seed, max_tokens, n,\n"
        "                        prompt_sha256 and settings_hash\n"
        "Sampling:\n"
        "  -n N                  captions per image (default 15); sent as the `n` parameter,\n"
        "                        or as N requests when the server ignores or rejects it\n"
        "  --n-mode MODE         auto (default), param or requests\n"
        "  --prompt TEXT         the instruction sent with the image (default: \"%s\")\n"
        "  --temperature T       default 1.0\n"
        "  --top-p P             default 0.9\n"
        "  --max-tokens N, --seed S   (not sent if unset; with N requests sample k gets S + k)\n"
        "Client:\n"
        "  --endpoint URL        API base URL (default $OPENAI_BASE_URL); key from "
        "$OPENAI_API_KEY\n"
        "  --model NAME          model name (required)\n"
        "  --timeout SEC         per request (default 60)\n"
        "  --concurrency N       requests in flight (default 16)\n"
        "  --max-attempts N      attempts per request (default 6)\n"
        "  --backoff-base SEC, --backoff-max SEC   retry delays (default 1, 60; full jitter)\n"
        "  -q, --quiet           no progress or summary\n"
        "\n"
        "Relative paths (images, --list and the paths in it, --input, --images, --out,\n"
        "--journal) are taken from the current directory. Before any request every image is\n"
        "checked: missing files (one summary line), FIFOs and devices stop the command; a file\n"
        "that is not a JPEG, PNG, GIF or WebP image, a corrupt JPEG or PNG, or one over 20 MiB\n"
        "is reported and skipped (exit 3). The API key and any user:password in the endpoint\n"
        "never appear in messages or files (replaced by ***).\n"
        "\n"
        "Exit status: 0 done; 1 error; 2 usage; 3 some images failed (named on stderr; a rerun\n"
        "retries those that failed on network or server errors); 130 interrupted (a rerun\n"
        "resumes).\n",
        DEFAULT_PROMPT);
}

// The reference images of a benchmark's queries, each once, in first-use order. The queries
// come from the data module's loader; `split` (CIRR, optional) maps names to the files'
// paths under `dir`, as the split file gives them.
static int dataset_paths(const char *dataset, const char *input, const char *dir, const char *split,
                         seize_strvec *paths)
{
    seize_ds_kind kind;
    seize_dataset *ds = NULL;
    seize_gallery_list *g = NULL;
    int rc = seize_ds_kind_parse(dataset, &kind);
    struct stat dst;
    if (rc == 0 && (stat(dir, &dst) != 0 || !S_ISDIR(dst.st_mode)))
        return seize_error(SEIZE_ENOTFOUND, "image folder '%s' %s (expected %s)", dir,
                           seize_path_exists(dir) ? "is not a folder" : "does not exist",
                           kind == SEIZE_DS_CIRCO  ? "the COCO 2017 unlabeled images, "
                                                     "COCO2017_unlabeled/unlabeled2017/<id>.jpg"
                           : kind == SEIZE_DS_CIRR ? "the CIRR images (with --split, the folder "
                                                     "its paths start from)"
                                                   : "the FashionIQ images, <name>.png or .jpg");
    if (rc == 0) rc = seize_dataset_load(kind, input, &ds);
    if (rc == 0 && split) rc = seize_gallery_list_load(kind, split, &g);
    json_t *where = json_object(), *seen = json_object();
    for (size_t i = 0; rc == 0 && g && i < g->n; i++)
        json_object_set_new(where, g->names[i], json_string(g->paths[i]));
    for (size_t i = 0; rc == 0 && i < ds->n; i++) {
        const char *ref = ds->q[i].reference;
        char name[4096];
        const char *rel = json_string_value(json_object_get(where, ref));
        if (rel) {
            while (rel[0] == '.' && rel[1] == '/')
                rel += 2;
            snprintf(name, sizeof name, "%s/%s", dir, rel);
        } else if (g) {
            rc = seize_error(SEIZE_ENOTFOUND, "%s: query %zu: reference '%s' is not in '%s'", input,
                             i + 1, ref, split);
            break;
        } else if (kind == SEIZE_DS_CIRCO) {
            snprintf(name, sizeof name, "%s/%012lld.jpg", dir, atoll(ref));
        } else {
            snprintf(name, sizeof name, "%s/%s.png", dir, ref);
            if (kind == SEIZE_DS_FASHIONIQ && !seize_path_exists(name))
                snprintf(name, sizeof name, "%s/%s.jpg", dir, ref);
        }
        if (json_object_get(seen, name)) continue;
        json_object_set_new(seen, name, json_true());
        rc = seize_strvec_push(paths, name);
    }
    json_decref(where);
    json_decref(seen);
    seize_gallery_list_free(g);
    seize_dataset_free(ds);
    return rc;
}

// Two groups: images that cannot be captioned (fix or remove them; a rerun will not help) and
// failures a rerun can fix (network, server).
static void print_failures(char **paths, const seize_stage_item *res, size_t n, const char *journal)
{
    for (int pass = 0; pass < 2; pass++) {
        size_t shown = 0, n_group = 0;
        for (size_t i = 0; i < n; i++) {
            if (!res[i].error || res[i].retryable != pass) continue;
            if (n_group == 0)
                fprintf(stderr, pass == 0 ? "images that cannot be captioned (fix or remove "
                                            "them):\n"
                                          : "failed on network or server errors (rerun the "
                                            "same command to retry them):\n");
            if (shown < 20) {
                fprintf(stderr, "  %s: %s\n", paths[i], res[i].error);
                shown++;
            }
            n_group++;
        }
        if (n_group > shown)
            fprintf(stderr, "  ... and %zu more (their errors are in '%s')\n", n_group - shown,
                    journal);
    }
}

// The images as given, in order, each once.
static int collect_paths(const char *list, const char *dataset, const char *input,
                         const char *images, const char *split, char **argv, int argc,
                         seize_strvec *paths)
{
    int rc = 0;
    seize_strvec all = {0};
    if (list) {
        char **lines;
        size_t nl;
        if ((rc = seize_read_lines(list, &lines, &nl)) == 0) {
            for (size_t i = 0; i < nl && rc == 0; i++)
                if (lines[i][0]) rc = seize_strvec_push(&all, lines[i]);
            seize_lines_free(lines, nl);
        }
    } else if (dataset) {
        rc = dataset_paths(dataset, input, images, split, &all);
    } else {
        for (int i = 0; i < argc && rc == 0; i++)
            rc = seize_strvec_push(&all, argv[i]);
    }
    json_t *seen = json_object();
    if (!seen && rc == 0) rc = seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < all.n; i++) {
        if (json_object_get(seen, all.v[i])) continue;
        json_object_set_new(seen, all.v[i], json_true());
        rc = seize_strvec_push(paths, all.v[i]);
    }
    json_decref(seen);
    seize_strvec_free(&all);
    return rc;
}

// Prints the outcome of a call that ran; returns the exit status.
static int finish(seize_captioner *c, int rc, const seize_llm_stats *st, char **paths,
                  const seize_stage_item *res, size_t n, const char *out, const char *journal,
                  int quiet)
{
    if (rc == SEIZE_ECANCEL) {
        if (st->items == 0) return cli_llm_interrupt_exit(CMD, "no request was sent");
        char detail[600];
        snprintf(detail, sizeof detail, "%zu of %zu images done, kept in '%s'", st->items_done,
                 st->items, journal);
        return cli_llm_interrupt_exit(CMD, detail);
    }
    if (rc < 0 && rc != SEIZE_ENET) return cli_lib_fail(CMD);
    size_t written = 0, n_failed = 0;
    for (size_t i = 0; i < n; i++)
        n_failed += res[i].error != NULL;
    if (rc == SEIZE_ENET && n_failed == 0) return cli_lib_fail(CMD);
    if (seize_captions_items_write(out, (const char *const *)paths, res, n, &written) < 0)
        return cli_lib_fail(CMD);
    json_t *settings = NULL;
    char hash[65];
    if (seize_captioner_settings(c, &settings, hash) < 0) return cli_lib_fail(CMD);
    int src = cli_llm_save_settings(CMD, out, settings, hash);
    json_decref(settings);
    if (src) return src;
    if (!quiet)
        fprintf(stderr, "seize caption: settings %.12s (in '%s.settings.json')\n", hash, out);
    if (!n_failed) return EXIT_OK;
    fprintf(stderr, "seize caption: error: %zu of %zu images failed (the others are in '%s')\n",
            n - written, n, out);
    print_failures(paths, res, n, journal);
    return EXIT_PARTIAL;
}

// Locks the output, collects the images and captions them through the captioner.
static int run_caption(const seize_llm_params *p, const char *prompt, size_t n_samples,
                       const char *out, const char *journal, int quiet, const char *list,
                       const char *dataset, const char *input, const char *images,
                       const char *split, char **argv, int argc)
{
    int ret = EXIT_FAIL;
    char *jpath = NULL;
    seize_lock lock[2] = {{-1, NULL}, {-1, NULL}};
    seize_strvec paths = {0};
    seize_captioner *c = NULL;
    seize_stage_item *res = NULL;
    journal = cli_llm_journal_path(out, journal, &jpath);
    if (!journal) {
        cli_fail(CMD, "out of memory");
        goto done;
    }
    if (cli_llm_lock(CMD, out, journal, lock)) goto done;
    seize_captioner_openai_opts co = {prompt, journal, n_samples, CMD};
    if (seize_captioner_openai_new(p, &co, &c) < 0 ||
        collect_paths(list, dataset, input, images, split, argv, argc, &paths) < 0 ||
        !(res = seize_calloc(paths.n ? paths.n : 1, sizeof *res))) {
        cli_lib_fail(CMD);
        goto done;
    }
    cli_llm_progress pc = {.cmd = CMD, .quiet = quiet};
    seize_caption_job job = {(const char *const *)paths.v, paths.n, n_samples,
                             cli_llm_progress_fn,          &pc,     cli_llm_cancel(),
                             dataset ? images : NULL};
    int rc = seize_captioner_caption(c, &job, res);
    seize_llm_stats st;
    seize_captioner_openai_stats(c, &st);
    cli_llm_progress_end(&pc, &st);
    ret = finish(c, rc, &st, paths.v, res, paths.n, out, journal, quiet);
done:
    seize_stage_items_release(res, paths.n);
    free(res);
    seize_captioner_free(c);
    cli_llm_unlock(lock);
    seize_strvec_free(&paths);
    free(jpath);
    return ret;
}

enum {
    OPT_CLIENT = 1000,
    OPT_LIST = 500,
    OPT_DATASET,
    OPT_INPUT,
    OPT_IMAGES,
    OPT_SPLIT,
    OPT_JOURNAL,
    OPT_PROMPT,
    OPT_NMODE,
    OPT_ENDPOINT,
    OPT_MODEL
};

// The image source: exactly one of images, --list and --dataset, with what each needs.
static int check_sources(int have_args, const char *list, const char *dataset, const char *input,
                         const char *images, const char *split)
{
    int n_sources = (have_args != 0) + (list != NULL) + (dataset != NULL);
    if (n_sources != 1)
        return cli_usage(CMD, "give images, --list FILE or --dataset (exactly one of them)");
    if (dataset && strcmp(dataset, "circo") && strcmp(dataset, "cirr") &&
        strcmp(dataset, "fashioniq"))
        return cli_usage(CMD, "unknown --dataset '%s' (circo, cirr or fashioniq)", dataset);
    if (dataset && (!input || !images))
        return cli_usage(CMD, "--dataset needs --input ANNOTATIONS and --images DIR");
    if (split && (!dataset || strcmp(dataset, "cirr")))
        return cli_usage(CMD, "--split goes with --dataset cirr");
    return 0;
}

int cmd_caption(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"out", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},
        {"list", required_argument, NULL, OPT_LIST},
        {"dataset", required_argument, NULL, OPT_DATASET},
        {"input", required_argument, NULL, OPT_INPUT},
        {"images", required_argument, NULL, OPT_IMAGES},
        {"split", required_argument, NULL, OPT_SPLIT},
        {"journal", required_argument, NULL, OPT_JOURNAL},
        {"prompt", required_argument, NULL, OPT_PROMPT},
        {"n-mode", required_argument, NULL, OPT_NMODE},
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"model", required_argument, NULL, OPT_MODEL},
        {"temperature", required_argument, NULL, OPT_CLIENT},
        {"top-p", required_argument, NULL, OPT_CLIENT},
        {"max-tokens", required_argument, NULL, OPT_CLIENT},
        {"seed", required_argument, NULL, OPT_CLIENT},
        {"timeout", required_argument, NULL, OPT_CLIENT},
        {"concurrency", required_argument, NULL, OPT_CLIENT},
        {"max-attempts", required_argument, NULL, OPT_CLIENT},
        {"backoff-base", required_argument, NULL, OPT_CLIENT},
        {"backoff-max", required_argument, NULL, OPT_CLIENT},
        {NULL, 0, NULL, 0},
    };
    seize_llm_params p = seize_llm_default_params();
    p.temperature = 1.0;
    p.top_p = 0.9;
    const char *out = NULL, *journal = NULL, *list = NULL, *dataset = NULL, *input = NULL,
               *images = NULL, *split = NULL, *prompt = DEFAULT_PROMPT;
    long n_samples = 15;
    int quiet = 0, c, idx;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:qn:", longopts, &idx)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'o':
            out = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'n':
            if (cli_parse_int(optarg, 1, 128, &n_samples))
                return cli_usage(CMD, "invalid -n '%s' (1 to 128)", optarg);
            break;
        case OPT_LIST:
            list = optarg;
            break;
        case OPT_DATASET:
            dataset = optarg;
            break;
        case OPT_INPUT:
            input = optarg;
            break;
        case OPT_IMAGES:
            images = optarg;
            break;
        case OPT_SPLIT:
            split = optarg;
            break;
        case OPT_JOURNAL:
            journal = optarg;
            break;
        case OPT_PROMPT:
            prompt = optarg;
            break;
        case OPT_NMODE:
            if (!strcmp(optarg, "auto"))
                p.use_n = -1;
            else if (!strcmp(optarg, "param"))
                p.use_n = 1;
            else if (!strcmp(optarg, "requests"))
                p.use_n = 0;
            else
                return cli_usage(CMD, "invalid --n-mode '%s' (auto, param or requests)", optarg);
            break;
        case OPT_ENDPOINT:
            p.endpoint = optarg;
            break;
        case OPT_MODEL:
            p.model = optarg;
            break;
        case OPT_CLIENT:
            if (seize_llm_param_set(&p, longopts[idx].name, optarg) < 0)
                return cli_usage(CMD, "%s", seize_errmsg());
            break;
        case ':':
            return cli_usage(CMD, "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    int bad = check_sources(optind < argc, list, dataset, input, images, split);
    if (bad) return bad;
    if (!out) return cli_usage(CMD, "--out is required");
    int usage_rc = cli_llm_finish_params(CMD, &p);
    if (usage_rc) return usage_rc;

    return run_caption(&p, prompt, (size_t)n_samples, out, journal, quiet, list, dataset, input,
                       images, split, argv + optind, argc - optind);
}
