// seize eval, submission and check-submission: a benchmark's official metrics of rankings or
// predictions, the test servers' submission files, and their check before upload.
#include "cli.h"
#include "opt.h"

#include "seize/eval.h"

#include <jansson.h>
#include <stdlib.h>

static const char paths[] = "Relative paths are taken from the current folder.";

// Parses the options and the benchmark argument (fashioniq only when fiq): -1 to go on, else
// the exit status.
static int parse(const char *cmd, const char *synopsis, const char *about, const cli_opt *opts,
                 int argc, char **argv, int fiq, seize_ds_kind *kind)
{
    cli_spec spec = {cmd, synopsis, about, opts, paths, 1, 1};
    spec.args_missing = fiq ? "missing the benchmark (circo, cirr or fashioniq)"
                            : "missing the benchmark (circo or cirr)";
    spec.col = fiq ? 29 : 22;
    cli_args a;
    int rc = cli_parse(&spec, argc, argv, &a);
    if (rc >= 0) return rc;
    if (seize_ds_kind_parse(a.v[0], kind) < 0) return cli_usage(cmd, "%s", seize_errmsg());
    if (!fiq && *kind == SEIZE_DS_FASHIONIQ)
        return cli_usage(cmd, "submission files exist for circo and cirr");
    return -1;
}

static const char eval_syn[] =
    "circo --annotations VAL.json (--predictions SUB.json | --rankings R.jsonl) [--json]\n"
    "cirr --annotations CAP.json (--predictions RECALL.json | --rankings R.jsonl)\n"
    "     [--subset-predictions SUBSET.json] [--json]\n"
    "fashioniq --annotations CAP.json --rankings R.jsonl\n"
    "          [--annotations CAP2.json --rankings R2.jsonl ...] [--json]";
static const char eval_about[] =
    "Computes the benchmark's official metrics, in percent.\n"
    "  circo      mAP@5/10/25/50, Recall@5/10/25/50, semantic mAP@10 per aspect\n"
    "  cirr       Recall@1/5/10/50 and, with subset rankings, Recall_subset@1/2/3\n"
    "  fashioniq  R@10 and R@50 per category (from the file name cap.<category>.<split>.json\n"
    "             or --category, once per annotations file) and their means\n"
    "Predictions with a duplicate id, a missing query or an unknown query are rejected.";

int cmd_eval(int argc, char **argv)
{
    cli_list ann = {0}, rank = {0}, cats = {0};
    const char *pred = NULL, *subset = NULL;
    int as_json = 0;
    const cli_opt opts[] = {
        CLI_LIST("annotations", 0, "FILE", &ann,
                 "official annotation file (a split with ground truth)"),
        CLI_STR("predictions", 0, "FILE", &pred, "submission-style JSON {query id: [image ids]}"),
        CLI_LIST("rankings", 0, "FILE", &rank,
                 "seize search output (JSON Lines; \"query\" = position in the\nannotations); for "
                 "cirr its \"subset\" lists give Recall_subset"),
        CLI_STR("subset-predictions", 0, "FILE", &subset, "cirr: a recall_subset submission file"),
        CLI_LIST("category", 0, "NAME", &cats, "fashioniq: category of the matching --annotations"),
        CLI_FLAG("json", 0, &as_json, "print one JSON object instead of text"),
        CLI_END};
    seize_ds_kind kind;
    seize_eval_files f[sizeof ann.items / sizeof *ann.items];
    json_t *m = NULL;
    char *t = NULL;
    int rc = parse("eval", eval_syn, eval_about, opts, argc, argv, 1, &kind);
    if (rc >= 0) return rc;
    static const char *const names[] = {"--annotations", "--rankings", "--category",
                                        "--predictions", "--subset-predictions"};
    if (seize_eval_files_set(kind, ann.items, ann.n, rank.items, rank.n, cats.items, cats.n, pred,
                             subset, names, f) < 0)
        return cli_usage("eval", "%s", seize_errmsg());
    if (seize_eval_metrics(kind, f, ann.n, &m) == 0 &&
        !(t = as_json ? seize_eval_metrics_dump(m) : seize_eval_metrics_text(kind, m)))
        seize_error(SEIZE_ENOMEM, "out of memory");
    if (t) printf(as_json ? "%s\n" : "%s", t);
    rc = t ? EXIT_OK : cli_lib_fail("eval");
    json_decref(m);
    free(t);
    return rc;
}

static const char sub_syn[] = "circo --rankings R.jsonl --annotations TEST.json --out SUB.json\n"
                              "cirr --rankings R.jsonl --annotations CAP.json --out RECALL.json\n"
                              "     [--out-subset SUBSET.json]";
static const char sub_about[] =
    "Writes the files the benchmarks' test servers accept, from the rankings of seize search\n"
    "(\"query\" = position in the annotations):\n"
    "  circo  {\"<query id>\": [50 image ids as strings], ...}\n"
    "  cirr   {\"version\": \"rc2\", \"metric\": \"recall\", \"<pairid>\": [50 names], ...} and,\n"
    "         from the rankings' \"subset\" lists (search with --dataset cirr), the\n"
    "         \"recall_subset\" file with the top 3\n"
    "Each query must have enough unique names and never its reference image; otherwise\n"
    "nothing is written and the problems are listed.";

int cmd_submission(int argc, char **argv)
{
    const char *rank = NULL, *ann = NULL, *out = NULL, *out_sub = NULL;
    const cli_opt opts[] = {
        CLI_STR("rankings", 0, "FILE", &rank, "seize search output"),
        CLI_STR("annotations", 0, "FILE", &ann, "the split's official annotation file"),
        CLI_STR("out", 0, "FILE", &out, "the submission (recall file for cirr)"),
        CLI_STR("out-subset", 0, "FILE", &out_sub, "cirr: the recall_subset file"), CLI_END};
    seize_ds_kind kind;
    size_t n = 0;
    int rc = parse("submission", sub_syn, sub_about, opts, argc, argv, 0, &kind);
    if (rc >= 0) return rc;
    if (!rank || !ann || !out)
        return cli_usage("submission", "--rankings, --annotations and --out are required");
    if (out_sub && kind != SEIZE_DS_CIRR)
        return cli_usage("submission", "--out-subset is for cirr");
    if (seize_submission_from_rankings(kind, ann, rank, out, out_sub, &n) < 0)
        return cli_lib_fail("submission");
    fprintf(stderr, "seize submission: wrote %zu queries to %s%s%s\n", n, out,
            out_sub ? " and " : "", out_sub ? out_sub : "");
    return EXIT_OK;
}

static const char check_about[] =
    "Checks a test-server submission before upload: every query of the annotations present,\n"
    "no unknown or duplicate query ids, 50 ids per query (CIRCO, CIRR recall) or 3 (CIRR\n"
    "recall_subset, told by its \"metric\"), no repeated id within a query, the reference image\n"
    "absent, CIRR subset ids among img_set.members, and with --gallery every id in the gallery.\n"
    "Prints \"ok\" and exits 0, or lists the problems and exits 1.";

int cmd_check_submission(int argc, char **argv)
{
    const char *ann = NULL, *sub = NULL, *gal = NULL;
    const cli_opt opts[] = {
        CLI_STR("annotations", 0, "FILE", &ann, "the split's official annotation file"),
        CLI_STR("submission", 0, "FILE", &sub, "the file to check"),
        CLI_STR("gallery", 0, "FILE", &gal,
                "gallery names, one per line (e.g. an index's names.txt)"),
        CLI_END};
    seize_ds_kind kind;
    size_t n = 0;
    int rc = parse("check-submission",
                   "circo|cirr --annotations FILE --submission SUB.json [--gallery NAMES.txt]",
                   check_about, opts, argc, argv, 0, &kind);
    if (rc >= 0) return rc;
    if (!ann || !sub)
        return cli_usage("check-submission", "--annotations and --submission are required");
    if (seize_submission_check_files(kind, ann, sub, gal, &n) < 0)
        return cli_lib_fail("check-submission");
    printf("ok: %s covers all %zu queries of %s\n", sub, n, ann);
    return EXIT_OK;
}
