// seize query-features: per-query vectors from captions and edited captions (SEIZE step 3).
#include "cli.h"

#include "seize/model.h"
#include "seize/retrieval.h"

#include <getopt.h>
#include <stdlib.h>

static const char *CMD = "query-features";

static const char usage_text[] =
    "usage: seize query-features --model DIR --captions FILE [--edits FILE]\n"
    "                            --out-after A.npy --out-before B.npy\n"
    "                            [--num-captions N] [--captions-key K] [--edits-key K]\n"
    "                            [--per-caption] [--batch B] [--threads N] [-q]\n"
    "\n"
    "Encodes each query's captions c_i and edited captions e_i with the CLIP text tower and\n"
    "writes, for the first N of each (N = 15 by default; duplicates count as often as they\n"
    "occur):\n"
    "  A = normalize(mean_i text(e_i))  -> --out-after   [Q, D] float32\n"
    "  B = normalize(mean_i text(c_i))  -> --out-before  [Q, D] float32\n"
    "where text() is the raw projected embedding. With --per-caption the raw embeddings are\n"
    "written instead, [Q, N, D] (the input of seize search --method ldre); every query must\n"
    "then have at least N captions and N edits.\n"
    "\n"
    "  --captions FILE     the authors' JSON (an annotation array with \"multi_caption_opt\"\n"
    "                      and \"multi_gpt-3.5_opt\") or JSON Lines ({\"captions\": [...],\n"
    "                      \"edited\": [...]}, the output of seize reason)\n"
    "  --edits FILE        take the edits from this file instead (same query order)\n"
    "  --captions-key K    key of the captions (default per format, see above)\n"
    "  --edits-key K       key of the edits\n"
    "  --num-captions N    captions and edits used per query (default 15)\n"
    "  --batch B           texts per forward pass (default 64)\n"
    "  --threads N         threads (default: all cores)\n"
    "  -q, --quiet         no progress display\n"
    "  -h, --help          this help\n"
    "\n"
    "Limits: each caption and edit used may have at most 64 KiB (65536 bytes; a longer one is\n"
    "an error naming the query), a captions file at most 1 GiB, and it must be a regular file\n"
    "(a FIFO or device is refused). Relative paths are taken from the current folder.\n";

static void usage(FILE *fp)
{
    fputs(usage_text, fp);
}

static int on_progress(void *ud, size_t done, size_t n_bad)
{
    cli_progress_update(ud, done, n_bad);
    return 0;
}

typedef struct qf_opts {
    const char *model_dir, *caps_path, *edits_path, *out_a, *out_b, *ckey, *ekey;
    long N, batch, threads;
    int per_caption, quiet;
} qf_opts;

// Parses the options into *o: EXIT_OK to go on, else the exit code (usage printed).
static int parse(int argc, char **argv, qf_opts *o, int *done)
{
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"captions", required_argument, 0, 'c'},
                                         {"edits", required_argument, 0, 'e'},
                                         {"out-after", required_argument, 0, 'A'},
                                         {"out-before", required_argument, 0, 'B'},
                                         {"num-captions", required_argument, 0, 'n'},
                                         {"captions-key", required_argument, 0, 'C'},
                                         {"edits-key", required_argument, 0, 'E'},
                                         {"per-caption", no_argument, 0, 'p'},
                                         {"batch", required_argument, 0, 'b'},
                                         {"threads", required_argument, 0, 't'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    *o = (qf_opts){.N = 15, .batch = 64};
    *done = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            o->model_dir = optarg;
            break;
        case 'c':
            o->caps_path = optarg;
            break;
        case 'e':
            o->edits_path = optarg;
            break;
        case 'A':
            o->out_a = optarg;
            break;
        case 'B':
            o->out_b = optarg;
            break;
        case 'C':
            o->ckey = optarg;
            break;
        case 'E':
            o->ekey = optarg;
            break;
        case 'n':
            if (cli_parse_int(optarg, 1, 10000, &o->N) < 0)
                return cli_usage(CMD, "bad --num-captions '%s'", optarg);
            break;
        case 'p':
            o->per_caption = 1;
            break;
        case 'b':
            if (cli_parse_int(optarg, 1, 65536, &o->batch) < 0)
                return cli_usage(CMD, "bad --batch '%s'", optarg);
            break;
        case 't':
            if (cli_parse_int(optarg, 1, 1024, &o->threads) < 0)
                return cli_usage(CMD, "bad --threads '%s'", optarg);
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            usage(stdout);
            *done = 1;
            return EXIT_OK;
        default:
            return cli_usage(CMD, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!o->model_dir || !o->caps_path || !o->out_a || !o->out_b)
        return cli_usage(CMD, "--model, --captions, --out-after and --out-before are required");
    return EXIT_OK;
}

int cmd_query_features(int argc, char **argv)
{
    qf_opts o;
    int done, rc = parse(argc, argv, &o, &done);
    if (rc != EXIT_OK || done) return rc;
    seize_captions *cap = NULL, *ed = NULL;
    seize_model *m = NULL;
    seize_clip *clip = NULL;
    seize_tokenizer *tok = NULL;
    seize_query_vectors v = {0};
    cli_progress progress = {0};
    seize_query_vectors_params p = seize_query_vectors_default_params();
    p.n_use = (size_t)o.N;
    p.per_caption = o.per_caption;
    p.captions_name = o.caps_path;
    p.edits_name = o.edits_path;
    p.on_progress = on_progress;
    p.progress_ud = &progress;
    size_t total = 0;
    // the inputs are checked before the model is loaded
    if (seize_captions_load(o.caps_path, o.ckey, o.ekey, &cap) < 0 ||
        (o.edits_path &&
         seize_captions_load(o.edits_path, o.ekey ? o.ekey : o.ckey, o.ekey, &ed) < 0) ||
        seize_query_vectors_check(cap, ed, &p, &total) < 0 ||
        seize_model_load(o.model_dir, &m) < 0 ||
        seize_clip_new(m, (int)o.batch, cli_model_threads(o.threads), &clip) < 0 ||
        seize_tokenizer_load(o.model_dir, &tok) < 0)
        goto fail;
    cli_progress_start(&progress, CMD, total, o.quiet);
    int erc = seize_query_vectors_encode(clip, tok, cap, ed, &p, &v);
    cli_progress_end(&progress);
    if (erc < 0 || seize_query_vectors_save(&v, o.out_a, o.out_b) < 0) goto fail;
    if (!o.quiet)
        fprintf(stderr, "seize query-features: %zu queries, %zu texts, dim %zu\n", v.n_queries,
                v.n_texts, v.dim);
    rc = EXIT_OK;
    goto out;
fail:
    rc = cli_lib_fail(CMD);
out:
    seize_query_vectors_release(&v);
    seize_captions_free(cap);
    seize_captions_free(ed);
    seize_tokenizer_free(tok);
    seize_clip_free(clip);
    seize_model_free(m);
    return rc;
}
