// seize search: rank an index for query vectors with the semantic editing score (or mean, LDRE).
#include "cli.h"

#include "seize/data.h"
#include "seize/retrieval.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char *CMD = "search";

// OpenBLAS (pthreads build): the command plans BLAS threads together with its own.
void openblas_set_num_threads(int n);

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: seize search --index INDEX --after A.npy [--before B.npy] --out RESULTS.jsonl\n"
            "                    [--method seize|mean|ldre] [--pos P] [--neg N] [--k K]\n"
            "                    [--exclude REFS.txt] [--subsets SUBSETS.txt]\n"
            "                    [--dataset circo|cirr|fashioniq --annotations FILE]\n"
            "                    [--threads N] [--block ROWS]\n"
            "\n"
            "Ranks the gallery of INDEX for each query. With A = normalize(after), B = normalize(before)\n"
            "and g a gallery row: a = A.g, b = B.g, d = a - b,\n"
            "  score = a + neg*min(d, 0) + pos*max(d, 0)\n"
            "ranked by score descending, then gallery row ascending; the excluded reference is removed.\n"
            "\n"
            "  --index DIR        index folder (seize index build / import)\n"
            "  --after FILE       .npy query vectors from the edited captions: [Q, D] (seize, mean) or\n"
            "                     [Q, N, D] raw per-caption features (ldre)\n"
            "  --before FILE      .npy query vectors from the captions, same shape (not needed by mean)\n"
            "  --method M         seize (default), mean (pos = neg = 0), ldre (LDRE caption weighting;\n"
            "                     per-caption inputs, see above)\n"
            "  --pos P, --neg N   SEIZE weights (default 0.13 and 2.1, the CIRCO values; with\n"
            "                     --dataset cirr 0.22 and 1.0)\n"
            "  --k K              ranking length (default 50)\n"
            "  --exclude FILE     one gallery name per query (its reference image) or an empty line\n"
            "  --subsets FILE     one line per query: candidate gallery names separated by spaces; the\n"
            "                     output gets \"subset\" (the ranking restricted to them, minus the\n"
            "                     excluded name) and \"subset_scores\"\n"
            "  --dataset D        with --annotations: take exclusions (the reference images) and, for\n"
            "  --annotations F    cirr, subsets (img_set.members) from the annotation file\n"
            "  --threads N        threads (default: all cores)\n"
            "  --block ROWS       gallery rows per block (default: automatic)\n"
            "  --out FILE         JSON Lines: {\"query\": i, \"ranking\": [K names], \"scores\": [K floats]}\n"
            "  -h, --help         this help\n"
            "\n"
            "Relative paths are taken from the current folder. OUT is written through a temporary\n"
            "file beside it (OUT.tmp.PID), renamed at the end and removed on Ctrl-C or SIGTERM.\n");
}

// Reads a [Q, D] (or [Q, N, D] when three_d) float array.
static int load_queries(const char *path, int three_d, seize_npy **out)
{
    if (seize_npy_load(path, out) < 0) return -1;
    seize_npy *a = *out;
    if (a->dtype == SEIZE_I32 || a->ndim != (three_d ? 3 : 2)) {
        seize_error(SEIZE_ESHAPE, "'%s': expected a float array of shape %s", path,
                    three_d ? "[queries, captions, dim]" : "[queries, dim]");
        return -1;
    }
    seize_npy_f32(a);
    return 0;
}

int cmd_search(int argc, char **argv)
{
    static const struct option opts[] = {
        {"index", required_argument, 0, 'i'},   {"after", required_argument, 0, 'A'},
        {"before", required_argument, 0, 'B'},  {"method", required_argument, 0, 'm'},
        {"pos", required_argument, 0, 'P'},     {"neg", required_argument, 0, 'N'},
        {"k", required_argument, 0, 'k'},       {"exclude", required_argument, 0, 'x'},
        {"subsets", required_argument, 0, 's'}, {"dataset", required_argument, 0, 'd'},
        {"annotations", required_argument, 0, 'a'}, {"threads", required_argument, 0, 't'},
        {"block", required_argument, 0, 'b'},   {"out", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    const char *index_dir = NULL, *after = NULL, *before = NULL, *method = "seize", *exclude = NULL,
               *subsets = NULL, *dataset = NULL, *annotations = NULL, *out = NULL;
    double pos = -1, neg = -1;
    long k = 50, threads = 0, block = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': index_dir = optarg; break;
        case 'A': after = optarg; break;
        case 'B': before = optarg; break;
        case 'm': method = optarg; break;
        case 'P':
            if (cli_parse_float(optarg, &pos) < 0) return cli_usage(CMD, "bad --pos '%s'", optarg);
            break;
        case 'N':
            if (cli_parse_float(optarg, &neg) < 0) return cli_usage(CMD, "bad --neg '%s'", optarg);
            break;
        case 'k':
            if (cli_parse_int(optarg, 1, 1000000000, &k) < 0) return cli_usage(CMD, "bad --k '%s'", optarg);
            break;
        case 'x': exclude = optarg; break;
        case 's': subsets = optarg; break;
        case 'd': dataset = optarg; break;
        case 'a': annotations = optarg; break;
        case 't':
            if (cli_parse_int(optarg, 1, 1024, &threads) < 0) return cli_usage(CMD, "bad --threads '%s'", optarg);
            break;
        case 'b':
            if (cli_parse_int(optarg, 1, 1L << 30, &block) < 0) return cli_usage(CMD, "bad --block '%s'", optarg);
            break;
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: return cli_usage(CMD, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!index_dir || !after || !out) return cli_usage(CMD, "--index, --after and --out are required");
    int m_seize = !strcmp(method, "seize"), m_mean = !strcmp(method, "mean"),
        m_ldre = !strcmp(method, "ldre");
    if (!m_seize && !m_mean && !m_ldre) return cli_usage(CMD, "unknown --method '%s'", method);
    if ((m_seize || m_ldre) && !before) return cli_usage(CMD, "--method %s needs --before", method);
    if (!!dataset != !!annotations) return cli_usage(CMD, "--dataset and --annotations go together");
    if (annotations && (exclude || subsets))
        return cli_usage(CMD, "--annotations replaces --exclude and --subsets");
    seize_ds_kind kind = SEIZE_DS_CIRCO;
    if (dataset && seize_ds_kind_parse(dataset, &kind) < 0) return cli_usage(CMD, "%s", seize_errmsg());
    if (pos < 0 && pos != -1) return cli_usage(CMD, "--pos must be >= 0");
    if (neg < 0 && neg != -1) return cli_usage(CMD, "--neg must be >= 0");
    if (pos == -1) pos = dataset && kind == SEIZE_DS_CIRR ? 0.22 : 0.13;
    if (neg == -1) neg = dataset && kind == SEIZE_DS_CIRR ? 1.0 : 2.1;
    if (m_mean) pos = neg = 0;

    int rc = EXIT_FAIL;
    seize_index *idx = NULL;
    seize_npy *A = NULL, *B = NULL;
    seize_dataset *ds = NULL;
    char **ex_lines = NULL, **sub_lines = NULL;
    size_t n_ex = 0, n_sub = 0, nq = 0;
    size_t *ex = NULL, *sub_rows = NULL, *sub_n = NULL;
    const size_t **sub_ptr = NULL;
    seize_search_result *r = NULL;
    seize_pool *pool = NULL;
    if (seize_index_open(index_dir, &idx) < 0) goto lib_fail;
    if (load_queries(after, m_ldre, &A) < 0) goto lib_fail;
    if (before && !m_mean && load_queries(before, m_ldre, &B) < 0) goto lib_fail;
    nq = A->shape[0];
    size_t dim = A->shape[A->ndim - 1];
    if (dim != seize_index_dim(idx)) {
        rc = cli_fail(CMD, "'%s' has dimension %zu but the index has %zu", after, dim, seize_index_dim(idx));
        goto done;
    }
    if (B && memcmp(A->shape, B->shape, sizeof A->shape)) {
        rc = cli_fail(CMD, "'%s' and '%s' have different shapes", after, before);
        goto done;
    }
    ex = malloc((nq ? nq : 1) * sizeof *ex);
    sub_n = calloc(nq ? nq : 1, sizeof *sub_n);
    sub_ptr = calloc(nq ? nq : 1, sizeof *sub_ptr);
    if (!ex || !sub_n || !sub_ptr) goto oom;
    for (size_t q = 0; q < nq; q++) ex[q] = SIZE_MAX;
    int have_subsets = 0;
    if (annotations) {
        if (seize_dataset_load(kind, annotations, &ds) < 0) goto lib_fail;
        if (ds->n != nq) {
            rc = cli_fail(CMD, "'%s' has %zu queries but '%s' has %zu rows", annotations, ds->n, after, nq);
            goto done;
        }
        size_t tot = 0;
        for (size_t q = 0; q < nq; q++) tot += ds->q[q].n_members;
        if (!(sub_rows = malloc((tot ? tot : 1) * sizeof *sub_rows))) goto oom;
        tot = 0;
        for (size_t q = 0; q < nq; q++) {
            if (seize_index_find(idx, ds->q[q].reference, &ex[q]) < 0) {
                rc = cli_fail(CMD, "query %s: reference: %s", ds->q[q].id, seize_errmsg());
                goto done;
            }
            if (kind == SEIZE_DS_CIRR) {
                sub_ptr[q] = sub_rows + tot;
                for (size_t j = 0; j < ds->q[q].n_members; j++) {
                    if (seize_index_find(idx, ds->q[q].members[j], &sub_rows[tot]) < 0) {
                        rc = cli_fail(CMD, "query %s: member: %s", ds->q[q].id, seize_errmsg());
                        goto done;
                    }
                    tot++;
                    sub_n[q]++;
                }
            }
        }
        have_subsets = kind == SEIZE_DS_CIRR;
    }
    if (exclude) {
        if (seize_read_lines(exclude, &ex_lines, &n_ex) < 0) goto lib_fail;
        // a final query without a reference may have lost its empty line
        if (n_ex != nq && !(n_ex + 1 == nq && nq)) {
            rc = cli_fail(CMD, "'%s' has %zu lines but there are %zu queries", exclude, n_ex, nq);
            goto done;
        }
        for (size_t q = 0; q < n_ex; q++) {
            const char *name = ex_lines[q];
            while (*name == ' ' || *name == '\t') name++;
            if (!*name) continue;
            if (seize_index_find(idx, name, &ex[q]) < 0) {
                rc = cli_fail(CMD, "'%s' line %zu: %s", exclude, q + 1, seize_errmsg());
                goto done;
            }
        }
    }
    if (subsets) {
        if (seize_read_lines(subsets, &sub_lines, &n_sub) < 0) goto lib_fail;
        if (n_sub != nq) {
            rc = cli_fail(CMD, "'%s' has %zu lines but there are %zu queries", subsets, n_sub, nq);
            goto done;
        }
        size_t tot = 0;
        for (size_t q = 0; q < nq; q++) tot += strlen(sub_lines[q]) / 2 + 1;
        if (!(sub_rows = malloc(tot * sizeof *sub_rows))) goto oom;
        tot = 0;
        for (size_t q = 0; q < nq; q++) {
            sub_ptr[q] = sub_rows + tot;
            for (char *tok = strtok(sub_lines[q], " \t"); tok; tok = strtok(NULL, " \t")) {
                if (seize_index_find(idx, tok, &sub_rows[tot]) < 0) {
                    rc = cli_fail(CMD, "'%s' line %zu: %s", subsets, q + 1, seize_errmsg());
                    goto done;
                }
                tot++;
                sub_n[q]++;
            }
        }
        have_subsets = 1;
    }
    seize_search_params p = seize_search_default_params();
    p.pos = (float)pos;
    p.neg = (float)neg;
    p.k = (size_t)k;
    // the threads are planned here: the scan's pool, and BLAS on as many for the products
    int n_threads = cli_threads(threads);
    if (seize_pool_new(n_threads, &pool) < 0) goto lib_fail;
    openblas_set_num_threads(n_threads);
    p.pool = pool;
    p.block_rows = (size_t)block;
    seize_subsets S = {sub_ptr, sub_n};
    const float *a = A->data, *b = B ? B->data : NULL;
    int src;
    seize_gallery g = seize_index_gallery(idx);
    if (m_ldre) {
        src = seize_search_ldre(&g, a, b, nq, A->shape[1], ex, have_subsets ? &S : NULL, &p, NULL, &r);
    } else {
        src = seize_search(&g, a, b, nq, ex, have_subsets ? &S : NULL, &p, &r);
    }
    if (src < 0) goto lib_fail;
    if (seize_rankings_write(out, r, idx, index_dir, NULL) < 0) goto lib_fail;
    rc = EXIT_OK;
    goto done;
oom:
    rc = cli_fail(CMD, "out of memory");
    goto done;
lib_fail:
    rc = cli_lib_fail(CMD);
done:
    seize_search_result_free(r);
    seize_pool_free(pool);
    seize_index_free(idx);
    seize_npy_free(A);
    seize_npy_free(B);
    seize_dataset_free(ds);
    seize_lines_free(ex_lines, n_ex);
    seize_lines_free(sub_lines, n_sub);
    free(ex);
    free(sub_rows);
    free(sub_n);
    free(sub_ptr);
    return rc;
}
