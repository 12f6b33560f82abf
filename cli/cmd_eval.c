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
    fprintf(fp,
            "usage: seize eval circo --annotations VAL.json (--predictions SUB.json | --rankings R.jsonl) [--json]\n"
            "       seize eval cirr --annotations CAP.json (--predictions RECALL.json | --rankings R.jsonl)\n"
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
            "  --rankings FILE            seize search output (JSON Lines; \"query\" = position in the\n"
            "                             annotations); for cirr its \"subset\" lists give Recall_subset\n"
            "  --subset-predictions FILE  cirr: a recall_subset submission file\n"
            "  --category NAME            fashioniq: category of the matching --annotations\n"
            "  --json                     print one JSON object instead of text\n"
            "  -h, --help                 this help\n"
            "\n"
            "Predictions with a duplicate id, a missing query or an unknown query are rejected.\n"
            "Relative paths are taken from the current folder.\n");
}

// fashioniq category from "…/cap.<cat>.<split>.json"
static char *category_of(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    if (!strncmp(b, "cap.", 4)) b += 4;
    const char *e = strchr(b, '.');
    size_t n = e ? (size_t)(e - b) : strlen(b);
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, b, n);
        s[n] = 0;
    }
    return s;
}

static void print_json(json_t *o)
{
    char *t = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    if (t) printf("%s\n", t);
    free(t);
}

static int eval_circo(const char *ann, const char *pred, const char *rank, int as_json)
{
    seize_dataset *ds = NULL;
    seize_predictions *p = NULL;
    seize_circo_metrics m = {0};
    int rc = EXIT_FAIL;
    if (seize_dataset_load(SEIZE_DS_CIRCO, ann, &ds) < 0) goto fail;
    if ((pred ? seize_predictions_load_json(ds, pred, &p)
              : seize_predictions_load_rankings(ds, rank, "ranking", &p)) < 0)
        goto fail;
    if (seize_eval_circo(ds, p, &m) < 0) goto fail;
    if (as_json) {
        json_t *o = json_object(), *sem = json_object();
        char key[32];
        for (int t = 0; t < 4; t++) {
            snprintf(key, sizeof key, "mAP@%d", seize_circo_ks[t]);
            json_object_set_new(o, key, json_real(m.map[t]));
        }
        for (int t = 0; t < 4; t++) {
            snprintf(key, sizeof key, "Recall@%d", seize_circo_ks[t]);
            json_object_set_new(o, key, json_real(m.recall[t]));
        }
        for (size_t a = 0; a < m.n_aspects; a++)
            json_object_set_new(sem, m.aspects[a], json_real(m.semantic_map10[a]));
        json_object_set_new(o, "semantic_mAP@10", sem);
        json_object_set_new(o, "queries", json_integer((json_int_t)m.n_queries));
        print_json(o);
        json_decref(o);
    } else {
        printf("CIRCO (%zu queries)\n", m.n_queries);
        for (int t = 0; t < 4; t++) printf("mAP@%-2d     %8.4f\n", seize_circo_ks[t], m.map[t]);
        for (int t = 0; t < 4; t++) printf("Recall@%-2d  %8.4f\n", seize_circo_ks[t], m.recall[t]);
        printf("semantic mAP@10:\n");
        for (size_t a = 0; a < m.n_aspects; a++)
            printf("  %-30s %8.4f\n", m.aspects[a], m.semantic_map10[a]);
    }
    rc = EXIT_OK;
    goto done;
fail:
    cli_lib_fail(CMD);
done:
    seize_circo_metrics_release(&m);
    seize_predictions_free(p);
    seize_dataset_free(ds);
    return rc;
}

static int eval_cirr(const char *ann, const char *pred, const char *rank, const char *subset_pred,
                     int as_json)
{
    seize_dataset *ds = NULL;
    seize_predictions *p = NULL, *s = NULL;
    seize_cirr_metrics m;
    int rc = EXIT_FAIL;
    if (seize_dataset_load(SEIZE_DS_CIRR, ann, &ds) < 0) goto fail;
    if ((pred ? seize_predictions_load_json(ds, pred, &p)
              : seize_predictions_load_rankings(ds, rank, "ranking", &p)) < 0)
        goto fail;
    if (subset_pred && seize_predictions_load_json(ds, subset_pred, &s) < 0) goto fail;
    if (!subset_pred && rank) {
        // rankings from seize search carry the subset ranking when it was asked for
        json_t *all = NULL;
        if (seize_jsonl_load(rank, &all) < 0) goto fail;
        int has = json_array_size(all) && json_object_get(json_array_get(all, 0), "subset");
        json_decref(all);
        if (has && seize_predictions_load_rankings(ds, rank, "subset", &s) < 0) goto fail;
    }
    if (seize_eval_cirr(ds, p, s, &m) < 0) goto fail;
    if (as_json) {
        json_t *o = json_object();
        char key[40];
        for (int t = 0; t < 4; t++) {
            snprintf(key, sizeof key, "Recall@%d", seize_cirr_ks[t]);
            json_object_set_new(o, key, json_real(m.recall[t]));
        }
        for (int t = 0; m.has_subset && t < 3; t++) {
            snprintf(key, sizeof key, "Recall_subset@%d", seize_cirr_subset_ks[t]);
            json_object_set_new(o, key, json_real(m.recall_subset[t]));
        }
        json_object_set_new(o, "queries", json_integer((json_int_t)m.n_queries));
        print_json(o);
        json_decref(o);
    } else {
        printf("CIRR (%zu queries)\n", m.n_queries);
        for (int t = 0; t < 4; t++) printf("Recall@%-2d         %8.4f\n", seize_cirr_ks[t], m.recall[t]);
        for (int t = 0; m.has_subset && t < 3; t++)
            printf("Recall_subset@%d    %8.4f\n", seize_cirr_subset_ks[t], m.recall_subset[t]);
    }
    rc = EXIT_OK;
    goto done;
fail:
    cli_lib_fail(CMD);
done:
    seize_predictions_free(p);
    seize_predictions_free(s);
    seize_dataset_free(ds);
    return rc;
}

#define MAX_CATS 16

static int eval_fiq(char **ann, size_t n_ann, char **rank, size_t n_rank, char **cats,
                    size_t n_cats, int as_json)
{
    if (n_ann != n_rank) return cli_usage(CMD, "fashioniq needs one --rankings per --annotations");
    if (n_cats && n_cats != n_ann) return cli_usage(CMD, "give --category once per --annotations or not at all");
    json_t *o = json_object();
    double s10 = 0, s50 = 0;
    int rc = EXIT_OK;
    if (!as_json) printf("FashionIQ\n%-12s %8s %8s %8s\n", "category", "R@10", "R@50", "mean");
    for (size_t c = 0; c < n_ann; c++) {
        seize_dataset *ds = NULL;
        seize_predictions *p = NULL;
        seize_fiq_metrics m;
        char *cat = n_cats ? strdup(cats[c]) : category_of(ann[c]);
        if (seize_dataset_load(SEIZE_DS_FASHIONIQ, ann[c], &ds) < 0 ||
            seize_predictions_load_rankings(ds, rank[c], "ranking", &p) < 0 ||
            seize_eval_fashioniq(ds, p, &m) < 0) {
            rc = cli_lib_fail(CMD);
        } else {
            s10 += m.r10;
            s50 += m.r50;
            if (as_json) {
                json_t *e = json_object();
                json_object_set_new(e, "R@10", json_real(m.r10));
                json_object_set_new(e, "R@50", json_real(m.r50));
                json_object_set_new(e, "queries", json_integer((json_int_t)m.n_queries));
                json_object_set_new(o, cat ? cat : "?", e);
            } else {
                printf("%-12s %8.4f %8.4f %8.4f\n", cat ? cat : "?", m.r10, m.r50, (m.r10 + m.r50) / 2);
            }
        }
        free(cat);
        seize_predictions_free(p);
        seize_dataset_free(ds);
        if (rc) break;
    }
    if (rc == EXIT_OK) {
        double n = (double)n_ann;
        if (as_json) {
            json_t *e = json_object();
            json_object_set_new(e, "R@10", json_real(s10 / n));
            json_object_set_new(e, "R@50", json_real(s50 / n));
            json_object_set_new(e, "mean", json_real((s10 + s50) / (2 * n)));
            json_object_set_new(o, "average", e);
            print_json(o);
        } else {
            printf("%-12s %8.4f %8.4f %8.4f\n", "average", s10 / n, s50 / n, (s10 + s50) / (2 * n));
        }
    }
    json_decref(o);
    return rc;
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
        case 'p': pred = optarg; break;
        case 's': subset = optarg; break;
        case 'j': as_json = 1; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: return cli_usage(CMD, "unknown option");
        }
    }
    if (optind >= argc) return cli_usage(CMD, "missing the benchmark (circo, cirr or fashioniq)");
    if (optind + 1 < argc) return cli_usage(CMD, "unexpected argument '%s'", argv[optind + 1]);
    seize_ds_kind kind;
    if (seize_ds_kind_parse(argv[optind], &kind) < 0) return cli_usage(CMD, "%s", seize_errmsg());
    if (!n_ann) return cli_usage(CMD, "--annotations is required");
    if (kind == SEIZE_DS_FASHIONIQ) {
        if (pred || subset) return cli_usage(CMD, "fashioniq takes --rankings only");
        return eval_fiq(ann, n_ann, rank, n_rank, cats, n_cats, as_json);
    }
    if (n_ann > 1 || n_rank > 1) return cli_usage(CMD, "give one --annotations and one predictions file");
    if (!!pred + !!n_rank != 1) return cli_usage(CMD, "give exactly one of --predictions and --rankings");
    if (subset && kind != SEIZE_DS_CIRR) return cli_usage(CMD, "--subset-predictions is for cirr");
    if (kind == SEIZE_DS_CIRCO) return eval_circo(ann[0], pred, n_rank ? rank[0] : NULL, as_json);
    return eval_cirr(ann[0], pred, n_rank ? rank[0] : NULL, subset, as_json);
}
