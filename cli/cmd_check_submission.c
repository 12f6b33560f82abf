// seize check-submission circo|cirr: validate a submission file against its annotations.
#include "cli.h"

#include "seize/eval.h"

#include <getopt.h>
#include <string.h>

static const char *CMD = "check-submission";

static void usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: seize check-submission circo|cirr --annotations FILE --submission SUB.json\n"
        "                              [--gallery NAMES.txt]\n"
        "\n"
        "Checks a test-server submission before upload: every query of the annotations present,\n"
        "no unknown or duplicate query ids, 50 ids per query (CIRCO, CIRR recall) or 3 (CIRR\n"
        "recall_subset, told by its \"metric\"), no repeated id within a query, the reference "
        "image\n"
        "absent, CIRR subset ids among img_set.members, and with --gallery every id in the "
        "gallery.\n"
        "Prints \"ok\" and exits 0, or lists the problems and exits 1.\n"
        "\n"
        "  --annotations FILE  the split's official annotation file\n"
        "  --submission FILE   the file to check\n"
        "  --gallery FILE      gallery names, one per line (e.g. an index's names.txt)\n"
        "  -h, --help          this help\n"
        "\n"
        "Relative paths are taken from the current folder.\n");
}

int cmd_check_submission(int argc, char **argv)
{
    static const struct option opts[] = {{"annotations", required_argument, 0, 'a'},
                                         {"submission", required_argument, 0, 's'},
                                         {"gallery", required_argument, 0, 'g'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *ann = NULL, *sub = NULL, *gal = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            ann = optarg;
            break;
        case 's':
            sub = optarg;
            break;
        case 'g':
            gal = optarg;
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
    if (!ann || !sub) return cli_usage(CMD, "--annotations and --submission are required");
    seize_dataset *ds = NULL;
    char **names = NULL;
    size_t n_names = 0, n_q = 0;
    int rc = EXIT_FAIL;
    if (seize_dataset_load(kind, ann, &ds) < 0) goto fail;
    if (gal && seize_read_lines(gal, &names, &n_names) < 0) goto fail;
    if (seize_submission_check(ds, sub, (const char *const *)names, n_names, &n_q) < 0) goto fail;
    printf("ok: %s covers all %zu queries of %s\n", sub, n_q, ann);
    rc = EXIT_OK;
    goto done;
fail:
    cli_lib_fail(CMD);
done:
    seize_lines_free(names, n_names);
    seize_dataset_free(ds);
    return rc;
}
