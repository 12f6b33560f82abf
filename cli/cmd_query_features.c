// seize query-features: per-query vectors from captions and edited captions (SEIZE step 3).
#include "cli.h"

#include "seize/clip.h"
#include "seize/data.h"
#include "seize/index.h"
#include "seize/model.h"
#include "seize/text.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *CMD = "query-features";

static void usage(FILE *fp)
{
    fprintf(fp,
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
            "(a FIFO or device is refused). Relative paths are taken from the current folder.\n");
}

#define TEXT_MAX ((size_t)64 << 10) // bytes per caption or edit

// A caption longer than TEXT_MAX: an error naming the file, the query and the item.
static int check_len(const char *path, size_t q, const char *qid, const char *what, size_t i, const char *t)
{
    size_t len = strlen(t);
    if (len <= TEXT_MAX) return 0;
    return cli_fail(CMD, "'%s': query %zu%s%s%s: %s %zu has %zu bytes, more than the limit of %zu", path, q,
                    *qid ? " (id " : "", qid, *qid ? ")" : "", what, i + 1, len, TEXT_MAX);
}

static int on_progress(void *ud, size_t done, size_t n_bad)
{
    cli_progress_update(ud, done, n_bad);
    return 0;
}

int cmd_query_features(int argc, char **argv)
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
    const char *model_dir = NULL, *caps_path = NULL, *edits_path = NULL, *out_a = NULL,
               *out_b = NULL, *ckey = NULL, *ekey = NULL;
    long N = 15, batch = 64, threads = 0;
    int per_caption = 0, quiet = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 'c': caps_path = optarg; break;
        case 'e': edits_path = optarg; break;
        case 'A': out_a = optarg; break;
        case 'B': out_b = optarg; break;
        case 'C': ckey = optarg; break;
        case 'E': ekey = optarg; break;
        case 'n':
            if (cli_parse_int(optarg, 1, 10000, &N) < 0) return cli_usage(CMD, "bad --num-captions '%s'", optarg);
            break;
        case 'p': per_caption = 1; break;
        case 'b':
            if (cli_parse_int(optarg, 1, 65536, &batch) < 0) return cli_usage(CMD, "bad --batch '%s'", optarg);
            break;
        case 't':
            if (cli_parse_int(optarg, 1, 1024, &threads) < 0) return cli_usage(CMD, "bad --threads '%s'", optarg);
            break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: return cli_usage(CMD, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!model_dir || !caps_path || !out_a || !out_b)
        return cli_usage(CMD, "--model, --captions, --out-after and --out-before are required");

    int rc = EXIT_FAIL;
    seize_captions *cap = NULL, *ed = NULL;
    seize_model *m = NULL;
    seize_clip *clip = NULL;
    seize_tokenizer *tok = NULL;
    const char **texts = NULL;
    int32_t *ids = NULL;
    float *emb = NULL, *A = NULL, *B = NULL;
    size_t *n_c = NULL, *n_e = NULL;
    cli_progress progress = {0};
    if (seize_captions_load(caps_path, ckey, ekey, &cap) < 0) goto lib_fail;
    const seize_captions *es = cap;
    if (edits_path) {
        if (seize_captions_load(edits_path, ekey ? ekey : ckey, ekey, &ed) < 0) goto lib_fail;
        if (ed->n != cap->n) {
            rc = cli_fail(CMD, "'%s' has %zu queries but '%s' has %zu", edits_path, ed->n, caps_path, cap->n);
            goto done;
        }
        for (size_t q = 0; q < cap->n; q++)
            if (cap->ids[q] && ed->ids[q] && strcmp(cap->ids[q], ed->ids[q])) {
                rc = cli_fail(CMD, "query %zu: id '%s' in '%s' but '%s' in '%s'", q, cap->ids[q],
                              caps_path, ed->ids[q], edits_path);
                goto done;
            }
        es = ed;
    }
    size_t Q = cap->n, total = 0;
    n_c = calloc(Q ? Q : 1, sizeof *n_c);
    n_e = calloc(Q ? Q : 1, sizeof *n_e);
    if (!n_c || !n_e) goto oom;
    for (size_t q = 0; q < Q; q++) {
        n_c[q] = cap->n_captions[q] < (size_t)N ? cap->n_captions[q] : (size_t)N;
        n_e[q] = es->n_edits[q] < (size_t)N ? es->n_edits[q] : (size_t)N;
        const char *qid = cap->ids[q] ? cap->ids[q] : "";
        if (!n_c[q] || !n_e[q] || (per_caption && (n_c[q] < (size_t)N || n_e[q] < (size_t)N))) {
            rc = cli_fail(CMD, "query %zu%s%s%s: %zu captions and %zu edits (need %s)", q,
                          *qid ? " (id " : "", qid, *qid ? ")" : "", cap->n_captions[q],
                          es->n_edits[q], per_caption ? "N of each with --per-caption" : "at least one of each");
            goto done;
        }
        for (size_t i = 0; i < n_c[q]; i++)
            if ((rc = check_len(caps_path, q, qid, "caption", i, cap->captions[q][i])) != 0) goto done;
        for (size_t i = 0; i < n_e[q]; i++)
            if ((rc = check_len(edits_path ? edits_path : caps_path, q, qid, "edit", i, es->edits[q][i])) != 0)
                goto done;
        total += n_c[q] + n_e[q];
    }
    if (seize_model_load(model_dir, &m) < 0 || seize_clip_new(m, (int)batch, cli_threads(threads), &clip) < 0 ||
        seize_tokenizer_load(model_dir, &tok) < 0)
        goto lib_fail;
    size_t D = seize_clip_embed_dim(clip), ctx = (size_t)seize_clip_context_length(clip);
    texts = malloc((total ? total : 1) * sizeof *texts);
    ids = seize_malloc(total ? total : 1, ctx * sizeof *ids);
    emb = seize_malloc(total ? total : 1, D * sizeof *emb);
    size_t per = per_caption ? (size_t)N * D : D;
    A = seize_calloc(Q ? Q : 1, per * sizeof *A);
    B = seize_calloc(Q ? Q : 1, per * sizeof *B);
    if (!texts || !ids || !emb || !A || !B) goto oom;
    size_t t = 0;
    for (size_t q = 0; q < Q; q++) {
        for (size_t i = 0; i < n_e[q]; i++) texts[t++] = es->edits[q][i];
        for (size_t i = 0; i < n_c[q]; i++) texts[t++] = cap->captions[q][i];
    }
    if (seize_tokenizer_encode_batch(tok, texts, total, (int)ctx, ids) < 0) goto lib_fail;
    cli_progress_start(&progress, CMD, total, quiet);
    int erc = seize_clip_encode_token_list(clip, ids, total, emb, on_progress, &progress);
    cli_progress_end(&progress);
    if (erc < 0) goto lib_fail;
    t = 0;
    double *acc = malloc(D * sizeof *acc);
    if (!acc) goto oom;
    for (size_t q = 0; q < Q; q++) {
        for (int side = 0; side < 2; side++) { // 0: edits -> A, 1: captions -> B
            size_t cnt = side ? n_c[q] : n_e[q];
            float *dst = (side ? B : A) + q * per;
            if (per_caption) {
                memcpy(dst, emb + t * D, cnt * D * sizeof *dst);
                t += cnt;
                continue;
            }
            for (size_t j = 0; j < D; j++) acc[j] = 0;
            for (size_t i = 0; i < cnt; i++, t++)
                for (size_t j = 0; j < D; j++) acc[j] += emb[t * D + j];
            for (size_t j = 0; j < D; j++) dst[j] = (float)(acc[j] / (double)cnt);
            seize_normalize_rows(dst, 1, D);
        }
    }
    free(acc);
    size_t shape[3] = {Q, per_caption ? (size_t)N : D, D};
    int nd = per_caption ? 3 : 2;
    if (seize_npy_save(out_a, SEIZE_F32, nd, shape, A) < 0 || seize_npy_save(out_b, SEIZE_F32, nd, shape, B) < 0)
        goto lib_fail;
    if (!quiet) fprintf(stderr, "seize query-features: %zu queries, %zu texts, dim %zu\n", Q, total, D);
    rc = EXIT_OK;
    goto done;
oom:
    rc = cli_fail(CMD, "out of memory");
    goto done;
lib_fail:
    rc = cli_lib_fail(CMD);
done:
    seize_captions_free(cap);
    seize_captions_free(ed);
    seize_tokenizer_free(tok);
    seize_clip_free(clip);
    seize_model_free(m);
    free(texts);
    free(ids);
    free(emb);
    free(A);
    free(B);
    free(n_c);
    free(n_e);
    return rc;
}
