// seize submission circo|cirr: test-server submission files from seize search rankings.
#include "cli.h"

#include "seize/eval.h"

#include <getopt.h>
#include <string.h>

static const char *CMD = "submission";

static void usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: seize submission circo --rankings R.jsonl --annotations TEST.json --out SUB.json\n"
        "       seize submission cirr --rankings R.jsonl --annotations CAP.json --out RECALL.json\n"
        "                             [--out-subset SUBSET.json]\n"
        "\n"
        "Writes the files the benchmarks' test servers accept, from the rankings of seize search\n"
        "(\"query\" = position in the annotations):\n"
        "  circo  {\"<query id>\": [50 image ids as strings], ...}\n"
        "  cirr   {\"version\": \"rc2\", \"metric\": \"recall\", \"<pairid>\": [50 names], ...} "
        "and,\n"
        "         from the rankings' \"subset\" lists (search with --dataset cirr), the\n"
        "         \"recall_subset\" file with the top 3\n"
        "Each query must have enough unique names and never its reference image; otherwise\n"
        "nothing is written and the problems are listed.\n"
        "\n"
        "  --rankings FILE     seize search output\n"
        "  --annotations FILE  the split's official annotation file\n"
        "  --out FILE          the submission (recall file for cirr)\n"
        "  --out-subset FILE   cirr: the recall_subset file\n"
        "  -h, --help          this help\n"
        "\n"
        "Relative paths are taken from the current folder.\n");
}

int cmd_submission(int argc, char **argv)
{
    static const struct option opts[] = {
        {"rankings", required_argument, 0, 'r'}, {"annotations", required_argument, 0, 'a'},
        {"out", required_argument, 0, 'o'},      {"out-subset", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *rank = NULL, *ann = NULL, *out = NULL, *out_sub = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            rank = optarg;
            break;
        case 'a':
            ann = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 's':
            out_sub = optarg;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            return cli_usage(CMD, "unknown option");
        }
    }
    if (optind >= argc) return cli_usage(CMD, "missing the benchmark (circo or cirr)");
    if (optind + 1 < argc) return cli_usage(CMD, "unexpected argument '%s'", argv[optind + 1]);
    seize_ds_kind kind;
    if (seize_ds_kind_parse(argv[optind], &kind) < 0 || kind == SEIZE_DS_FASHIONIQ)
        return cli_usage(CMD, "submission files exist for circo and cirr");
    if (!rank || !ann || !out)
        return cli_usage(CMD, "--rankings, --annotations and --out are required");
    if (out_sub && kind != SEIZE_DS_CIRR) return cli_usage(CMD, "--out-subset is for cirr");
    size_t n = 0;
    if (seize_submission_from_rankings(kind, ann, rank, out, out_sub, &n) < 0)
        return cli_lib_fail(CMD);
    fprintf(stderr, "seize submission: wrote %zu queries to %s%s%s\n", n, out,
            out_sub ? " and " : "", out_sub ? out_sub : "");
    return EXIT_OK;
}
