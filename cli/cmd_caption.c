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

typedef struct cap_ctx {
    char **paths;
    char **bad; // per image: why it cannot be captioned (found before any request), or NULL
    size_t n;
    const char *prompt;
} cap_ctx;

static const char *mime_of(const unsigned char *d, size_t n, const char *path)
{
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return "image/jpeg";
    if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return "image/png";
    if (n >= 6 && (!memcmp(d, "GIF87a", 6) || !memcmp(d, "GIF89a", 6))) return "image/gif";
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) return "image/webp";
    (void)path;
    return NULL;
}

static int build_messages(void *vctx, size_t item, json_t **out)
{
    cap_ctx *ctx = vctx;
    const char *path = ctx->paths[item];
    if (ctx->bad && ctx->bad[item]) return seize_error(SEIZE_EFORMAT, "%s", ctx->bad[item]);
    int fd = seize_open_regular(path, NULL); // still a regular file (not swapped for a FIFO)
    if (fd < 0) return fd;
    close(fd);
    seize_map m;
    int rc = seize_map_open(path, &m);
    if (rc < 0) return rc;
    const char *mime = mime_of(m.data, m.size, path);
    if (!mime) {
        seize_map_close(&m);
        return seize_error(SEIZE_EFORMAT, "not a JPEG, PNG, GIF or WebP file");
    }
    if (m.size > MAX_IMAGE_BYTES) {
        seize_map_close(&m);
        return seize_error(SEIZE_EFORMAT, "%zu bytes, over the limit of %zu", m.size,
                           MAX_IMAGE_BYTES);
    }
    if (!strcmp(mime, "image/jpeg") || !strcmp(mime, "image/png")) {
        // A corrupt or truncated image is found here rather than paid for.
        // Pixel cap: a decompression bomb must not take gigabytes here; an image over it is
        // sent unchecked (SEIZE_EINVAL) and left to the server.
        seize_image *img = NULL;
        rc = seize_image_decode(m.data, m.size, path, (size_t)1 << 26, &img);
        seize_image_free(img);
        if (rc < 0 && rc != SEIZE_EINVAL) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", seize_errmsg());
            seize_map_close(&m);
            return seize_error(SEIZE_EFORMAT, "%s", msg);
        }
    }
    char *b64 = seize_base64_encode(m.data, m.size);
    seize_map_close(&m);
    if (!b64) return SEIZE_ENOMEM;
    size_t ml = strlen(mime), bl = strlen(b64);
    char *url = malloc(ml + bl + 16);
    if (!url) {
        free(b64);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    memcpy(url, "data:", 5);
    memcpy(url + 5, mime, ml);
    memcpy(url + 5 + ml, ";base64,", 8);
    memcpy(url + 13 + ml, b64, bl + 1);
    free(b64);
    json_t *content = json_pack("[{s:s, s:s}, {s:s, s:{s:s}}]", "type", "text", "text", ctx->prompt,
                                "type", "image_url", "image_url", "url", url);
    free(url);
    json_t *msgs = content ? json_pack("[{s:s, s:o}]", "role", "user", "content", content) : NULL;
    if (!msgs) return seize_error(SEIZE_ENOMEM, "cannot build a request for '%s'", path);
    *out = msgs;
    return 0;
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
                           kind == SEIZE_DS_CIRCO ? "the COCO 2017 unlabeled images, "
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

// Checks every image before any request: missing files are summarised in one error; FIFOs,
// devices and folders stop the command; files that are not images or are too big are marked
// in ctx->bad (reported as failed items, never sent).
static int scan_images(cap_ctx *ctx, const char *dataset_dir)
{
    ctx->bad = seize_calloc(ctx->n ? ctx->n : 1, sizeof *ctx->bad);
    if (!ctx->bad) return SEIZE_ENOMEM;
    size_t n_missing = 0;
    char first[600] = "";
    for (size_t i = 0; i < ctx->n; i++) {
        const char *path = ctx->paths[i];
        struct stat st;
        if (stat(path, &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
            if (n_missing < 3) {
                size_t l = strlen(first);
                snprintf(first + l, sizeof first - l, "%s'%s'", l ? ", " : "", path);
            }
            n_missing++;
            continue;
        }
        size_t size = 0;
        int fd = seize_open_regular(path, &size);
        if (fd < 0) return fd; // a FIFO, a device, a folder: named by seize_open_regular
        unsigned char head[16];
        ssize_t got = read(fd, head, sizeof head);
        close(fd);
        char msg[256] = "";
        if (got < 0)
            snprintf(msg, sizeof msg, "cannot read: %s", strerror(errno));
        else if (!mime_of(head, (size_t)got, path))
            snprintf(msg, sizeof msg, "not a JPEG, PNG, GIF or WebP file");
        else if (size > MAX_IMAGE_BYTES)
            snprintf(msg, sizeof msg, "%zu bytes, over the limit of %zu", size, MAX_IMAGE_BYTES);
        if (msg[0] && !(ctx->bad[i] = seize_strdup(msg))) return SEIZE_ENOMEM;
    }
    if (n_missing && dataset_dir)
        return seize_error(SEIZE_ENOTFOUND,
                           "%zu of %zu reference images are missing from '%s' (first: %s%s); no "
                           "request was sent",
                           n_missing, ctx->n, dataset_dir, first, n_missing > 3 ? ", ..." : "");
    if (n_missing)
        return seize_error(SEIZE_ENOTFOUND,
                           "%zu of %zu images are missing (first: %s%s); no request was sent",
                           n_missing, ctx->n, first, n_missing > 3 ? ", ..." : "");
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int write_output(const char *path, const cap_ctx *ctx, seize_llm_batch *b, size_t *n_written)
{
    seize_atomic a;
    int rc = seize_atomic_open(path, &a);
    if (rc < 0) return rc;
    *n_written = 0;
    for (size_t i = 0; i < ctx->n; i++) {
        const json_t *t = seize_llm_batch_texts(b, i);
        if (!t) continue;
        json_t *caps = json_array(), *x;
        size_t k;
        json_array_foreach(t, k, x)
        {
            const char *s = json_string_value(x);
            const char *e = s + strlen(s);
            while (s < e && is_space(*s))
                s++;
            while (e > s && is_space(e[-1]))
                e--;
            json_array_append_new(caps, json_stringn(s, (size_t)(e - s)));
        }
        json_t *rec = json_pack("{s:s, s:o}", "image", ctx->paths[i], "captions", caps);
        char *s = rec ? json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(rec);
        if (!s || fputs(s, a.fp) < 0 || fputc('\n', a.fp) < 0) {
            free(s);
            seize_atomic_abort(&a);
            return seize_error(SEIZE_EIO, "cannot write '%s'", path);
        }
        free(s);
        (*n_written)++;
    }
    return seize_atomic_commit(&a);
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
    int n_sources = (optind < argc) + (list != NULL) + (dataset != NULL);
    if (n_sources != 1)
        return cli_usage(CMD, "give images, --list FILE or --dataset (exactly one of them)");
    if (dataset && strcmp(dataset, "circo") && strcmp(dataset, "cirr") &&
        strcmp(dataset, "fashioniq"))
        return cli_usage(CMD, "unknown --dataset '%s' (circo, cirr or fashioniq)", dataset);
    if (dataset && (!input || !images))
        return cli_usage(CMD, "--dataset needs --input ANNOTATIONS and --images DIR");
    if (split && (!dataset || strcmp(dataset, "cirr")))
        return cli_usage(CMD, "--split goes with --dataset cirr");
    if (!out) return cli_usage(CMD, "--out is required");
    int usage_rc = cli_llm_finish_params(CMD, &p);
    if (usage_rc) return usage_rc;

    int ret = EXIT_FAIL, rc = 0;
    cap_ctx ctx = {0};
    ctx.prompt = prompt;
    seize_strvec paths = {0}; // the images as given, in order (ctx.paths once collected)
    seize_llm_batch *b = NULL;
    char *jpath = NULL;
    seize_lock lock[2] = {{-1, NULL}, {-1, NULL}};
    json_t *settings = NULL;
    char settings_hash[65] = "";
    journal = cli_llm_journal_path(out, journal, &jpath);
    if (!journal) {
        cli_fail(CMD, "out of memory");
        goto done;
    }
    if (cli_llm_lock(CMD, out, journal, lock)) goto done;
    { // Everything that shapes an answer keys the journal and goes into OUT.settings.json.
        char h_prompt[65];
        cli_llm_sha256(prompt, h_prompt);
        json_t *extra =
            json_pack("{s:s, s:i}", "prompt_sha256", h_prompt, "n", (json_int_t)n_samples);
        int src = extra ? cli_llm_settings(CMD, &p, extra, &settings, settings_hash) : EXIT_FAIL;
        json_decref(extra);
        if (src) goto done;
    }
    if (list) {
        char **lines;
        size_t nl;
        if ((rc = seize_read_lines(list, &lines, &nl)) == 0) {
            for (size_t i = 0; i < nl && rc == 0; i++)
                if (lines[i][0]) rc = seize_strvec_push(&paths, lines[i]);
            seize_lines_free(lines, nl);
        }
    } else if (dataset) {
        rc = dataset_paths(dataset, input, images, split, &paths);
    } else {
        for (int i = optind; i < argc && rc == 0; i++)
            rc = seize_strvec_push(&paths, argv[i]);
    }
    ctx.paths = seize_strvec_release(&paths, &ctx.n); // freed with ctx
    if (rc < 0) {
        cli_lib_fail(CMD);
        goto done;
    }
    { // An image listed twice is captioned once.
        json_t *seen = json_object();
        size_t w = 0;
        for (size_t i = 0; i < ctx.n; i++) {
            if (json_object_get(seen, ctx.paths[i])) {
                free(ctx.paths[i]);
                continue;
            }
            json_object_set_new(seen, ctx.paths[i], json_true());
            ctx.paths[w++] = ctx.paths[i];
        }
        json_decref(seen);
        ctx.n = w;
    }
    if (scan_images(&ctx, dataset ? images : NULL) < 0) {
        cli_lib_fail(CMD);
        goto done;
    }
    if (cli_llm_interrupted()) {
        ret = cli_llm_interrupt_exit(CMD, "no request was sent");
        goto done;
    }
    if (seize_llm_batch_new(&p, journal, build_messages, &ctx, &b) < 0) {
        cli_lib_fail(CMD);
        goto done;
    }
    for (size_t i = 0; i < ctx.n; i++) {
        // The check pins the prompt and the file (size and modification time).
        struct stat st;
        memset(&st, 0, sizeof st);
        stat(ctx.paths[i], &st);
        size_t dl = strlen(prompt) + strlen(ctx.paths[i]) + 96;
        char *desc = malloc(dl), check[17] = "";
        if (desc) {
            int w = snprintf(desc, dl, "%s%c%s%c%lld%c%lld.%09ld", prompt, 0, ctx.paths[i], 0,
                             (long long)st.st_size, 0, (long long)st.st_mtim.tv_sec,
                             (long)st.st_mtim.tv_nsec);
            seize_llm_fingerprint(desc, (size_t)w, check);
            free(desc);
        }
        rc = check[0] ? seize_llm_batch_add(b, ctx.paths[i], check, (size_t)n_samples)
                      : SEIZE_ENOMEM;
        if (rc < 0) break;
    }
    if (rc < 0) {
        cli_lib_fail(CMD);
        goto done;
    }

    seize_llm_stats st;
    rc = cli_llm_run(CMD, b, 0, quiet, &st);
    if (rc == SEIZE_ECANCEL) {
        char detail[600];
        snprintf(detail, sizeof detail, "%zu of %zu images done, kept in '%s'", st.items_done,
                 st.items, journal);
        ret = cli_llm_interrupt_exit(CMD, detail);
        goto done;
    }
    if (rc < 0 && (st.items_failed == 0 || st.items_done + st.items_failed < st.items)) {
        cli_lib_fail(CMD);
        goto done;
    }
    size_t written = 0;
    if (write_output(out, &ctx, b, &written) < 0) {
        cli_lib_fail(CMD);
        goto done;
    }
    if (cli_llm_save_settings(CMD, out, settings, settings_hash)) goto done;
    if (!quiet)
        fprintf(stderr, "seize caption: settings %.12s (in '%s.settings.json')\n", settings_hash,
                out);
    if (st.items_failed) {
        fprintf(stderr, "seize caption: error: %zu of %zu images failed (the others are in '%s')\n",
                ctx.n - written, ctx.n, out);
        // Two groups: images that cannot be captioned (fix or remove them; a rerun will not
        // help) and failures a rerun can fix (network, server).
        for (int pass = 0; pass < 2; pass++) {
            size_t shown = 0, n_group = 0;
            for (size_t i = 0; i < ctx.n; i++) {
                const char *err = seize_llm_batch_error(b, i);
                if (!err || seize_llm_err_retryable(seize_llm_batch_error_kind(b, i)) != pass)
                    continue;
                if (n_group == 0)
                    fprintf(stderr, pass == 0 ? "images that cannot be captioned (fix or remove "
                                                "them):\n"
                                              : "failed on network or server errors (rerun the "
                                                "same command to retry them):\n");
                if (shown < 20) {
                    fprintf(stderr, "  %s: %s\n", ctx.paths[i], err);
                    shown++;
                }
                n_group++;
            }
            if (n_group > shown)
                fprintf(stderr, "  ... and %zu more (their errors are in '%s')\n",
                        n_group - shown, journal);
        }
        ret = EXIT_PARTIAL;
        goto done;
    }
    ret = EXIT_OK;
done:
    seize_llm_batch_free(b);
    cli_llm_unlock(lock);
    json_decref(settings);
    for (size_t i = 0; i < ctx.n; i++) {
        free(ctx.paths[i]);
        if (ctx.bad) free(ctx.bad[i]);
    }
    free(ctx.paths);
    free(ctx.bad);
    free(jpath);
    return ret;
}
