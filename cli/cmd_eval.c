// seize eval circo|cirr|fashioniq: official benchmark metrics from predictions or rankings.
#include "cli.h"

#include "seize/eval.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *CMD = "eval";

static void usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: seize eval circo --annotations VAL.json (--predictions SUB.json | --rankings "
        "R.jsonl) [--json]\n"
        "       seize eval cirr --annotations CAP.json (--predictions RECALL.json | --rankings "
        "R.jsonl)\n"
        "                       [--subset-predictions SUBSET.json] [--json]\n"
        "       seize eval fashioniq --annotations CAP.json --rankings R.jsonl\n"
        "                       [--annotations CAP2.json --rankings R2.jsonl ...] [--json]\n"
        "\n"
        "Computes the benchmark's official metrics, in percent.\n"
        "  circo      mAP@5/10/25/50, Recall@5/10/25/50, semantic mAP@10 per aspect\n"
        "  cirr       Recall@1/5/10/50 and, with subset rankings, Recall_subset@1/2/3\n"
        "  fashioniq  R@10 and R@50 per category (from the file name cap.<category>.<split>.json\n"
        "             or --category, once per annotations file) and their means\n"
        "\n"
        "  --annotations FILE         official annotation file (a split with ground truth)\n"
        "  --predictions FILE         submission-style JSON {query id: [image ids]}\n"
        "  --rankings FILE            seize search output (JSON Lines; \"query\" = position in "
        "the\n"
        "                             annotations); for cirr its \"subset\" lists give "
        "Recall_subset\n"
        "  --subset-predictions FILE  cirr: a recall_subset submission file\n"
        "  --category NAME            fashioniq: category of the matching --annotations\n"
        "  --json                     print one JSON object instead of text\n"
        "  -h, --help                 this help\n"
        "\n"
        "Predictions with a duplicate id, a missing query or an unknown query are rejected.\n"
        "Relative paths are taken from the current folder.\n");
}

#define MAX_CATS 16

// The metrics of `kind` for the n file sets, printed as JSON or as the text table.
static int eval_print(seize_ds_kind kind, const seize_eval_files *f, size_t n, int as_json)
{
    json_t *m = NULL;
    if (seize_eval_metrics(kind, f, n, &m) < 0) return cli_lib_fail(CMD);
    char *t = as_json ? seize_eval_metrics_dump(m) : seize_eval_metrics_text(kind, m);
    json_decref(m);
    if (!t) {
        seize_error(SEIZE_ENOMEM, "out of memory");
        return cli_lib_fail(CMD);
    }
    printf(as_json ? "%s\n" : "%s", t);
    free(t);
    return EXIT_OK;
}

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {{"annotations", required_argument, 0, 'a'},
                                         {"predictions", required_argument, 0, 'p'},
                                         {"rankings", required_argument, 0, 'r'},
                                         {"subset-predictions", required_argument, 0, 's'},
                                         {"category", required_argument, 0, 'c'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    char *ann[MAX_CATS], *rank[MAX_CATS], *cats[MAX_CATS];
    size_t n_ann = 0, n_rank = 0, n_cats = 0;
    const char *pred = NULL, *subset = NULL;
    int as_json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            if (n_ann == MAX_CATS) return cli_usage(CMD, "too many --annotations");
            ann[n_ann++] = optarg;
            break;
        case 'r':
            if (n_rank == MAX_CATS) return cli_usage(CMD, "too many --rankings");
            rank[n_rank++] = optarg;
            break;
        case 'c':
            if (n_cats == MAX_CATS) return cli_usage(CMD, "too many --category");
            cats[n_cats++] = optarg;
            break;
        case 'p':
            pred = optarg;
            break;
        case 's':
            subset = optarg;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            return cli_usage(CMD, "unknown option");
        }
    }
    if (optind >= argc) return cli_usage(CMD, "missing the benchmark (circo, cirr or fashioniq)");
    if (optind + 1 < argc) return cli_usage(CMD, "unexpected argument '%s'", argv[optind + 1]);
    seize_ds_kind kind;
    if (seize_ds_kind_parse(argv[optind], &kind) < 0) return cli_usage(CMD, "%s", seize_errmsg());
    if (!n_ann) return cli_usage(CMD, "--annotations is required");
    seize_eval_files f[MAX_CATS] = {{0}};
    if (kind == SEIZE_DS_FASHIONIQ) {
        if (pred || subset) return cli_usage(CMD, "fashioniq takes --rankings only");
        if (n_ann != n_rank)
            return cli_usage(CMD, "fashioniq needs one --rankings per --annotations");
        if (n_cats && n_cats != n_ann)
            return cli_usage(CMD, "give --category once per --annotations or not at all");
        for (size_t i = 0; i < n_ann; i++)
            f[i] = (seize_eval_files){ann[i], NULL, rank[i], NULL, n_cats ? cats[i] : NULL};
        return eval_print(kind, f, n_ann, as_json);
    }
    if (n_ann > 1 || n_rank > 1)
        return cli_usage(CMD, "give one --annotations and one predictions file");
    if (!!pred + !!n_rank != 1)
        return cli_usage(CMD, "give exactly one of --predictions and --rankings");
    if (subset && kind != SEIZE_DS_CIRR) return cli_usage(CMD, "--subset-predictions is for cirr");
    f[0] = (seize_eval_files){ann[0], pred, n_rank ? rank[0] : NULL, subset, NULL};
    return eval_print(kind, f, 1, as_json);
}
