// seize encode-texts: texts → float32 [M, embed] CLIP text embeddings (.npy).
#include "cli.h"

#include "seize/clip.h"
#include "seize/index.h"
#include "seize/model.h"
#include "seize/text.h"

#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: seize encode-texts --model DIR --out OUT.npy [--batch B] [--threads N]\n"
    "                          [--normalize] [--quiet] (TEXT... | --input FILE)\n"
    "\n"
    "Tokenises each text with the CLIP tokenizer of the model in DIR and encodes it with the\n"
    "text tower; writes float32 [M, embed] to OUT.npy, one row per text in input order.\n"
    "Texts of similar length are batched together (the output order is kept).\n"
    "\n"
    "  -m, --model DIR     CLIP model folder (required; with vocab.json + merges.txt)\n"
    "  -o, --out FILE      output .npy (required)\n"
    "  -i, --input FILE    read the texts from FILE, one per line (UTF-8; empty lines are\n"
    "                      empty texts), instead of TEXT...\n"
    "  -b, --batch B       texts per forward pass (default 128)\n"
    "  -j, --threads N     threads (default: all cores)\n"
    "      --normalize     L2-normalise each row (default: raw projected embeddings)\n"
    "  -q, --quiet         no progress display\n"
    "  -h, --help          show this help\n"
    "\n"
    "Limits: a text may have at most 64 KiB (65536 bytes; a longer one is an error naming its\n"
    "line), an --input at most 1 GiB, and it must be a regular file (a FIFO or device is\n"
    "refused). Relative paths are taken from the current folder.\n"
    "\n"
    "Speed: see seize encode-images --help about OPENBLAS_CORETYPE.\n";

#define TEXT_MAX ((size_t)64 << 10) // bytes per text

static int on_progress(void *ud, size_t done, size_t n_bad)
{
    cli_progress_update(ud, done, n_bad);
    return 0;
}

int cmd_encode_texts(int argc, char **argv)
{
    static const char *cmd = "encode-texts";
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"input", required_argument, NULL, 'i'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"threads", required_argument, NULL, 'j'},
                                         {"normalize", no_argument, NULL, 'N'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        }

    const char *model_dir = NULL, *out = NULL, *input = NULL;
    long batch = 128, threads = 0;
    int normalize = 0, quiet = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:o:i:b:j:qh", opts, NULL)) != -1) {
        switch (opt) {
        case 'm':
            model_dir = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'i':
            input = optarg;
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
    if (input && optind < argc)
        return cli_usage(cmd, "give texts either as arguments or with --input, not both");
    if (!input && optind >= argc) return cli_usage(cmd, "no texts given");

    int rc = EXIT_FAIL;
    char **lines = NULL;
    const char *const *texts;
    size_t n = 0, n_lines = 0;
    seize_model *m = NULL;
    seize_clip *clip = NULL;
    seize_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    float *feats = NULL;
    cli_progress progress = {0};

    if (input) {
        if (seize_read_lines(input, &lines, &n_lines) < 0) {
            rc = cli_lib_fail(cmd);
            goto done;
        }
        texts = (const char *const *)lines;
        n = n_lines;
    } else {
        texts = (const char *const *)(argv + optind);
        n = (size_t)(argc - optind);
    }
    // a single huge text would cost far more than its size to tokenise: refused up front
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(texts[i]);
        if (len > TEXT_MAX) {
            rc = input ? cli_fail(cmd,
                                  "'%s' line %zu: %zu bytes, more than the limit of %zu per text",
                                  input, i + 1, len, TEXT_MAX)
                       : cli_fail(cmd, "text %zu: %zu bytes, more than the limit of %zu per text",
                                  i + 1, len, TEXT_MAX);
            goto done;
        }
    }
    cli_blas_note(quiet);
    if (seize_model_load(model_dir, &m) < 0 || seize_tokenizer_load(model_dir, &tok) < 0 ||
        seize_clip_new(m, (int)batch, cli_model_threads(threads), &clip) < 0) {
        rc = cli_lib_fail(cmd);
        goto done;
    }
    size_t E = seize_clip_embed_dim(clip), ctx = (size_t)seize_clip_context_length(clip);
    if (seize_tokenizer_vocab_size(tok) > seize_model_get_config(m)->vocab_size) {
        rc = cli_fail(cmd, "the tokenizer of '%s' has %d ids but the model only %d", model_dir,
                      seize_tokenizer_vocab_size(tok), seize_model_get_config(m)->vocab_size);
        goto done;
    }
    if (!(ids = seize_malloc(n, ctx * sizeof *ids)) ||
        !(feats = seize_malloc(n, E * sizeof *feats))) {
        rc = cli_lib_fail(cmd);
        goto done;
    }
    if (n && seize_tokenizer_encode_batch(tok, texts, n, (int)ctx, ids) < 0) {
        rc = cli_lib_fail(cmd);
        goto done;
    }
    cli_progress_start(&progress, cmd, n, quiet);
    int lrc = seize_clip_encode_token_list(clip, ids, n, feats, on_progress, &progress);
    cli_progress_end(&progress);
    if (lrc < 0) {
        rc = cli_lib_fail(cmd);
        goto done;
    }
    if (normalize) seize_normalize_rows(feats, n, E);
    size_t shape[2] = {n, E};
    if (seize_npy_save(out, SEIZE_F32, 2, shape, feats) < 0) {
        rc = cli_lib_fail(cmd);
        goto done;
    }
    rc = EXIT_OK;
done:
    free(ids);
    free(feats);
    seize_clip_free(clip);
    seize_tokenizer_free(tok);
    seize_model_free(m);
    if (lines) seize_lines_free(lines, n_lines);
    return rc;
}
