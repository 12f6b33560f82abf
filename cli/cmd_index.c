// seize index import|build: create gallery index folders.
#include "cli.h"

#include "seize/data.h"
#include "seize/index.h"

#include <ctype.h>
#include <dirent.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *CMD = "index";

static void usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: seize index build --model DIR (--gallery FOLDER | --images FOLDER | --list FILE |\n"
        "                         --dataset circo|cirr|fashioniq --gallery FILE) --out INDEX\n"
        "                         [--root DIR] [--batch B] [--threads N] [--dtype f32|f16]\n"
        "                         [--no-pad] [--restart] [-q]\n"
        "       seize index import --features F.npy --names N.txt --out INDEX [--dtype f32|f16]\n"
        "\n"
        "An index is a folder with features.npy (L2-normalised rows), names.txt (one gallery\n"
        "name per line, same order) and index.json (model identity, preprocessing, dtype,\n"
        "count, failed images). Gallery names are UTF-8 text without control characters (no\n"
        "line break or tab) and unique; a file name that is not (e.g. a Latin-1 "
        "'r\\xe9sum\\xe9.jpg')\n"
        "is refused before anything is encoded, named with its bytes as \\xNN: rename it.\n"
        "Relative paths (--gallery, --images, --list, --root, --model, --out, ...) are taken\n"
        "from the current folder, except the images of a --list or --dataset gallery file\n"
        "(see --root).\n"
        "\n"
        "build: encodes gallery images with a CLIP model (SEIZE preprocessing: TargetPad 1.25,\n"
        "        bicubic resize, center crop). Images must be regular files (a FIFO or device\n"
        "        is refused). Before encoding, a missing image folder is an error naming it;\n"
        "        missing images are listed in one line and left out. Images that cannot be\n"
        "        read are skipped and listed in index.json with the reason (exit status 3).\n"
        "        One build at a time per INDEX folder: a second one fails at once (lock file\n"
        "        INDEX/.seize.lock). Interrupted (Ctrl-C, a crash), the same command resumes\n"
        "        after the last completed batch: INDEX/build.partial holds the rows done and\n"
        "        INDEX/build.progress.json the position and a checksum of those rows, both\n"
        "        synced after each batch; an unfinished build that does not check out (other\n"
        "        model, images or preprocessing, changed rows) is discarded with a note. The\n"
        "        final files are written atomically at the end.\n"
        "  --model DIR       CLIP model folder (transformers or open_clip layout)\n"
        "  --gallery FOLDER  every .jpg/.jpeg/.png under FOLDER (recursive, any case), sorted;\n"
        "                    the name is the path inside FOLDER (\"sub/x.jpg\", as seize run\n"
        "                    folder); links are followed, each folder and file counted once\n"
        "  --images FOLDER   every .jpg/.jpeg/.png in FOLDER (not recursive), sorted; the name\n"
        "                    is the file name without its extension\n"
        "  --list FILE       one image per line: PATH, or NAME<TAB>PATH; relative paths are\n"
        "                    taken from --root (default: the list's folder); name defaults to\n"
        "                    the file name without its extension\n"
        "  --dataset D       with --gallery: a benchmark's gallery file (CIRCO: COCO\n"
        "  --gallery FILE    image_info_unlabeled2017.json, names = image ids; CIRR:\n"
        "                    split.rc2.<split>.json; FashionIQ: split.<cat>.<split>.json, images\n"
        "                    <name>.png), paths under --root (default: the file's folder)\n"
        "  --batch B         images per forward pass (default 16)\n"
        "  --threads N       threads (default: all cores)\n"
        "  --no-pad          plain CLIP preprocessing (no TargetPad)\n"
        "  --restart         discard an unfinished build in INDEX instead of resuming it\n"
        "  -q, --quiet       no progress display\n"
        "\n"
        "import: reads [n, dim] features (float32 or float16 .npy) and n names, normalises each\n"
        "        row and writes the index.\n"
        "  --features FILE   .npy features\n"
        "  --names FILE      gallery names, one per line (unique, non-empty, UTF-8 without\n"
        "                    control characters; a bad line is named as FILE line N)\n"
        "  --out DIR         index folder to write (files are replaced atomically)\n"
        "  --dtype T         stored dtype: f32 (default) or f16\n"
        "  -h, --help        this help\n");
}

static int parse_dtype(const char *s, seize_dtype *d)
{
    if (!strcmp(s, "f32") || !strcmp(s, "float32"))
        *d = SEIZE_F32;
    else if (!strcmp(s, "f16") || !strcmp(s, "float16"))
        *d = SEIZE_F16;
    else
        return -1;
    return 0;
}

static int index_import(int argc, char **argv)
{
    static const struct option opts[] = {
        {"features", required_argument, 0, 'f'}, {"names", required_argument, 0, 'n'},
        {"out", required_argument, 0, 'o'},      {"dtype", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *feats = NULL, *names = NULL, *out = NULL;
    seize_dtype dt = SEIZE_F32;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            feats = optarg;
            break;
        case 'n':
            names = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'd':
            if (parse_dtype(optarg, &dt) < 0)
                return cli_usage(CMD, "bad --dtype '%s' (f32 or f16)", optarg);
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            return cli_usage(CMD, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!feats || !names || !out)
        return cli_usage(CMD, "--features, --names and --out are required");
    if (seize_mkdirs(out) < 0) return cli_lib_fail(CMD);
    char what[4200];
    snprintf(what, sizeof what, "index folder '%s'", out);
    seize_lock lock = {0};
    if (seize_lock_dir(out, what, &lock) < 0) return cli_lib_fail(CMD);
    int rc = seize_index_import(feats, names, out, dt) < 0 ? cli_lib_fail(CMD) : EXIT_OK;
    seize_lock_release(&lock);
    return rc;
}

// --- index build

typedef struct build_item {
    char *name, *path;
    int missing; // absent at the check before encoding (reported once, in the summary)
} build_item;

static seize_cancel interrupted; // the build stops after the batch in the towers
static void on_sigint(int sig)
{
    seize_cancel_request(&interrupted, sig);
}

static void items_free(build_item *it, size_t n)
{
    for (size_t i = 0; it && i < n; i++) {
        free(it[i].name);
        free(it[i].path);
    }
    free(it);
}

// "dir/x.jpg" -> "x"
static char *stem(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *e = strrchr(b, '.');
    size_t n = e && e != b ? (size_t)(e - b) : strlen(b);
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, b, n);
        s[n] = 0;
    }
    return s;
}

static char *join_root(const char *root, const char *p)
{
    if (p[0] == '/' || !root || !*root) return strdup(p);
    return seize_path_join(root, p);
}

static char *dir_of(const char *path)
{
    const char *b = strrchr(path, '/');
    if (!b) return strdup(".");
    if (b == path) return strdup("/");
    char *s = strndup(path, (size_t)(b - path));
    return s;
}

static char *shown(const char *s)
{
    return seize_index_name_escape(s, strlen(s));
}

// Notes on links skipped by the scan (each distinct folder and file is indexed once).
static void scan_notes(const seize_folder_list *fl, const char *dir, int quiet)
{
    size_t n = fl->n_issues - fl->n_errors;
    if (quiet || !n) return;
    fprintf(stderr,
            "seize index: note: %zu entr%s of '%s' skipped (a linked folder or file already "
            "counted: each is indexed once):",
            n, n == 1 ? "y" : "ies", dir);
    size_t k = 0;
    for (size_t i = 0; i < fl->n_issues && k < 3; i++)
        if (fl->issues[i].kind == SEIZE_FOLDER_LOOP || fl->issues[i].kind == SEIZE_FOLDER_DUPLICATE)
            fprintf(stderr, "%s '%s'", k++ ? "," : "", fl->issues[i].name);
    fprintf(stderr, "%s\n", n > k ? ", ..." : "");
}

// --images (flat, names are file stems) and --gallery FOLDER (recursive, names are the paths
// inside the folder): one scan, bad entries refused before anything is encoded.
static int gather_folder(const char *dir, int recursive, int quiet, build_item **out, size_t *n_out)
{
    seize_folder_list fl;
    int rc = seize_folder_scan_ex(dir, recursive ? 0 : SEIZE_FOLDER_FLAT, &fl);
    if (rc < 0) {
        seize_folder_list_free(&fl);
        return rc;
    }
    if (fl.n_errors) {
        char *m = seize_folder_errors_message(&fl, dir, 5);
        rc = seize_error(SEIZE_EFORMAT,
                         "%s\nnothing was encoded; fix these entries and run the command again",
                         m ? m : "gallery folder has entries that cannot be indexed");
        free(m);
        seize_folder_list_free(&fl);
        return rc;
    }
    scan_notes(&fl, dir, quiet);
    build_item *it = calloc(fl.n ? fl.n : 1, sizeof *it);
    for (size_t i = 0; it && i < fl.n; i++) {
        it[i].path = fl.paths[i];
        fl.paths[i] = NULL;
        it[i].name = recursive ? fl.names[i] : stem(fl.names[i]);
        if (recursive) fl.names[i] = NULL;
    }
    size_t n = fl.n;
    seize_folder_list_free(&fl);
    if (!it) return seize_error(SEIZE_ENOMEM, "out of memory");
    *out = it;
    *n_out = n;
    return 0;
}

static int gather_list(const char *list, const char *root, build_item **out, size_t *n_out)
{
    char **lines;
    size_t n;
    int rc = seize_read_lines(list, &lines, &n);
    if (rc < 0) return rc;
    char *base = root ? strdup(root) : dir_of(list);
    build_item *it = calloc(n ? n : 1, sizeof *it);
    size_t m = 0;
    for (size_t i = 0; it && base && i < n; i++) {
        char *l = lines[i];
        if (!*l) continue;
        char *tab = strchr(l, '\t');
        if (tab) {
            *tab = 0;
            it[m].name = strdup(l);
            it[m].path = join_root(base, tab + 1);
        } else {
            it[m].name = stem(l);
            it[m].path = join_root(base, l);
        }
        if (!it[m].name || !it[m].path) {
            m++;
            rc = seize_error(SEIZE_ENOMEM, "out of memory");
            break;
        }
        const char *why = seize_index_name_problem(it[m].name, strlen(it[m].name));
        if (why) {
            char *s = shown(it[m].name);
            m++;
            rc = seize_error(
                SEIZE_EFORMAT,
                "'%s' line %zu: gallery name '%s' %s (names must be UTF-8 text without control "
                "characters: rename the file or give a NAME<TAB>PATH line); nothing was encoded",
                list, i + 1, s ? s : "?", why);
            free(s);
            break;
        }
        m++;
    }
    seize_lines_free(lines, n);
    free(base);
    if (!it) return seize_error(SEIZE_ENOMEM, "out of memory");
    if (rc < 0) {
        items_free(it, m);
        return rc;
    }
    *out = it;
    *n_out = m;
    return 0;
}

static int gather_dataset(const char *kind_name, const char *gallery, const char *root,
                          build_item **out, size_t *n_out)
{
    seize_ds_kind kind;
    int rc = seize_ds_kind_parse(kind_name, &kind);
    if (rc < 0) return rc;
    seize_gallery_list *g;
    if ((rc = seize_gallery_list_load(kind, gallery, &g)) < 0) return rc;
    char *base = root ? strdup(root) : dir_of(gallery);
    build_item *it = calloc(g->n ? g->n : 1, sizeof *it);
    for (size_t i = 0; it && base && i < g->n; i++) {
        const char *why = seize_index_name_problem(g->names[i], strlen(g->names[i]));
        if (why && rc == 0) {
            char *s = shown(g->names[i]);
            rc = seize_error(SEIZE_EFORMAT, "'%s': gallery item %zu: name '%s' %s", gallery, i + 1,
                             s ? s : "?", why);
            free(s);
        }
        it[i].name = strdup(g->names[i]);
        // the data-layout rule: FashionIQ's .jpg where the .png is absent, as seize run
        seize_layout l = {.kind = kind, .image_root = base};
        it[i].path = seize_layout_image_path(&l, g->paths[i]);
        if ((!it[i].name || !it[i].path) && rc == 0)
            rc = seize_error(SEIZE_ENOMEM, "out of memory");
    }
    size_t n = g->n;
    seize_gallery_list_free(g);
    if (!it || !base) rc = seize_error(SEIZE_ENOMEM, "out of memory");
    free(base);
    if (rc < 0) {
        items_free(it, n);
        return rc;
    }
    *out = it;
    *n_out = n;
    return 0;
}

// What seize_index_build_check found, as the build reports it.
typedef struct check_ui {
    const build_item *items;
    int n_dup; // duplicate pairs shown
} check_ui;

static void on_issue(void *ud, const seize_build_issue *is)
{
    check_ui *u = ud;
    const build_item *it = u->items;
    if (is->kind == SEIZE_BUILD_DUPLICATE && is->i != (size_t)-1) {
        char *a = shown(it[is->i].name), *p1 = shown(it[is->other].path),
             *p2 = shown(it[is->i].path);
        if (!u->n_dup++)
            fprintf(stderr, "seize index: error: two images get the same gallery name:");
        fprintf(stderr, "\n  '%s' for '%s' and '%s'", a ? a : "?", p1 ? p1 : "?", p2 ? p2 : "?");
        free(a);
        free(p1);
        free(p2);
    } else if (is->kind == SEIZE_BUILD_DUPLICATE) {
        if (is->count > 3) fprintf(stderr, "\n  ... and %zu more", is->count - 3);
        fprintf(stderr,
                "\nnames must be unique (with --images the name is the file name without its "
                "extension: rename one of the files, or use --gallery FOLDER or a NAME<TAB>PATH "
                "--list); nothing was encoded\n");
    } else if (is->kind == SEIZE_BUILD_NOT_FILE) {
        char *p = shown(it[is->i].path);
        fprintf(stderr, "seize index: error: '%s' is %s, not an image file\n", p ? p : "?",
                is->what);
        free(p);
    } else {
        char *p = shown(is->what), *q = shown(it[is->i].name);
        fprintf(stderr,
                "seize index: error: folder '%s' does not exist (it should hold gallery images, "
                "e.g. '%s'): check --root and the data layout\n",
                p ? p : "?", q ? q : "?");
        free(p);
        free(q);
    }
}

// Before anything is encoded (seize_index_build_check): names unique; every image a regular
// file (a FIFO or device is refused, never opened); a missing folder reported once by name
// (exit 1); missing images reported in one summary line and marked (left out, listed in
// index.json, exit 3).
static int check_items(build_item *it, size_t n)
{
    seize_build_item *v = calloc(n ? n : 1, sizeof *v);
    if (!v) return cli_fail(CMD, "out of memory");
    for (size_t i = 0; i < n; i++)
        v[i] = (seize_build_item){it[i].name, it[i].path, 0};
    check_ui u = {.items = it};
    size_t n_missing = 0;
    int problems = seize_index_build_check(v, n, on_issue, &u, &n_missing);
    for (size_t i = 0; i < n; i++)
        it[i].missing = v[i].missing;
    free(v);
    if (problems < 0) return cli_lib_fail(CMD);
    if (problems && !u.n_dup) fprintf(stderr, "seize index: nothing was encoded\n");
    if (problems) return EXIT_FAIL;
    if (n_missing == n)
        return cli_fail(CMD, "none of the %zu images exists (first: '%s')", n, it[0].path);
    if (n_missing) {
        fprintf(stderr,
                "seize index: %zu of %zu images are missing and will be left out (listed in "
                "index.json):",
                n_missing, n);
        size_t k = 0;
        for (size_t i = 0; i < n && k < 5; i++)
            if (it[i].missing) {
                char *p = shown(it[i].path);
                fprintf(stderr, "%s '%s'", k++ ? "," : "", p ? p : "?");
                free(p);
            }
        fprintf(stderr, "%s\n", n_missing > k ? ", ..." : "");
    }
    return EXIT_OK;
}

// What the build's callbacks print.
typedef struct build_ui {
    const char *out;
    const build_item *items;
    int quiet;
    cli_progress progress;
} build_ui;

static void on_resume(void *ud, size_t done, size_t n, const char *discarded)
{
    build_ui *u = ud;
    if (discarded)
        fprintf(stderr,
                "seize index: note: discarding the unfinished build in '%s' (%s); starting over\n",
                u->out, discarded);
    else if (!u->quiet)
        fprintf(stderr, "seize index: resuming after %zu of %zu images\n", done, n);
}

static void on_bad(void *ud, size_t i, const char *reason)
{
    build_ui *u = ud;
    const build_item *it = u->items;
    if (u->progress.enabled) fputc('\n', stderr);
    char *s = shown(it[i].name);
    fprintf(stderr, "seize index: skipped '%s': %s\n", s ? s : "?", reason);
    free(s);
}

static int on_progress(void *ud, size_t done, size_t n, size_t n_failed)
{
    build_ui *u = ud;
    (void)n;
    cli_progress_update(&u->progress, done, n_failed);
    return 0;
}

// The build itself (seize_index_build), Ctrl-C and SIGTERM stopping it after the batch in flight.
static int run_build(seize_index_build_params *p, build_item *items, size_t n, build_ui *u,
                     seize_index_build_result *res)
{
    seize_build_item *v = calloc(n, sizeof *v);
    if (!v) return seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        v[i] = (seize_build_item){items[i].name, items[i].path, items[i].missing};
    p->on_resume = on_resume;
    p->on_bad = on_bad;
    p->on_progress = on_progress;
    p->ud = u;
    p->cancel = &interrupted;
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    cli_progress_start(&u->progress, "index", n, u->quiet);
    int rc = seize_index_build(p, v, n, res);
    cli_progress_end(&u->progress);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free(v);
    return rc;
}
// The options of index build.
typedef struct build_args {
    const char *model_dir, *images, *list, *dataset, *gallery, *root, *out;
    long batch, threads;
    int no_pad, restart, quiet;
    seize_dtype dt;
} build_args;

static int build_gallery(const build_args *a);

static int index_build(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"images", required_argument, 0, 'I'},
                                         {"list", required_argument, 0, 'l'},
                                         {"dataset", required_argument, 0, 'D'},
                                         {"gallery", required_argument, 0, 'g'},
                                         {"root", required_argument, 0, 'R'},
                                         {"out", required_argument, 0, 'o'},
                                         {"batch", required_argument, 0, 'b'},
                                         {"threads", required_argument, 0, 't'},
                                         {"dtype", required_argument, 0, 'd'},
                                         {"no-pad", no_argument, 0, 'P'},
                                         {"restart", no_argument, 0, 'r'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    build_args a = {.batch = 16, .dt = SEIZE_F32};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            a.model_dir = optarg;
            break;
        case 'I':
            a.images = optarg;
            break;
        case 'l':
            a.list = optarg;
            break;
        case 'D':
            a.dataset = optarg;
            break;
        case 'g':
            a.gallery = optarg;
            break;
        case 'R':
            a.root = optarg;
            break;
        case 'o':
            a.out = optarg;
            break;
        case 'b':
            if (cli_parse_int(optarg, 1, 4096, &a.batch) < 0)
                return cli_usage(CMD, "bad --batch '%s'", optarg);
            break;
        case 't':
            if (cli_parse_int(optarg, 1, 1024, &a.threads) < 0)
                return cli_usage(CMD, "bad --threads '%s'", optarg);
            break;
        case 'd':
            if (parse_dtype(optarg, &a.dt) < 0)
                return cli_usage(CMD, "bad --dtype '%s' (f32 or f16)", optarg);
            break;
        case 'P':
            a.no_pad = 1;
            break;
        case 'r':
            a.restart = 1;
            break;
        case 'q':
            a.quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            return cli_usage(CMD, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!a.model_dir || !a.out) return cli_usage(CMD, "--model and --out are required");
    if (!!a.images + !!a.list + !!a.gallery != 1)
        return cli_usage(CMD, "give exactly one of --images, --list and --gallery");
    if (a.dataset && !a.gallery)
        return cli_usage(CMD, "--dataset needs --gallery (the benchmark's gallery file)");
    if (a.root && (a.images || (a.gallery && !a.dataset)))
        return cli_usage(CMD, "--root goes with --list or --dataset");

    return build_gallery(&a);
}

// Gathers the images, checks them, builds the index and reports.
static int build_gallery(const build_args *a)
{
    build_item *items = NULL;
    size_t n = 0;
    int rc = a->images    ? gather_folder(a->images, 0, a->quiet, &items, &n)
             : a->list    ? gather_list(a->list, a->root, &items, &n)
             : a->dataset ? gather_dataset(a->dataset, a->gallery, a->root, &items, &n)
                          : gather_folder(a->gallery, 1, a->quiet, &items, &n);
    if (rc < 0) return cli_lib_fail(CMD);
    if (!n)
        rc = cli_fail(CMD, "no images to index%s",
                      a->images || !a->dataset ? " (no .jpg, .jpeg or .png file in the folder)"
                                               : "");
    else
        rc = check_items(items, n);
    if (rc != EXIT_OK) {
        items_free(items, n);
        return rc;
    }
    char source[4200];
    snprintf(source, sizeof source, "%s:%s",
             a->images    ? "images"
             : a->list    ? "list"
             : a->dataset ? a->dataset
                          : "gallery",
             a->images ? a->images
             : a->list ? a->list
                       : a->gallery);
    seize_index_build_params p = seize_index_build_default_params();
    p.out_dir = a->out;
    p.model_dir = a->model_dir;
    p.batch = (int)a->batch;
    p.threads = cli_model_threads(a->threads);
    p.dtype = a->dt;
    p.no_pad = a->no_pad;
    p.restart = a->restart;
    p.source = source;
    build_ui ui = {.out = a->out, .quiet = a->quiet, .items = items};
    seize_index_build_result res;
    if (run_build(&p, items, n, &ui, &res) < 0) {
        rc = cli_lib_fail(CMD);
    } else {
        if (!a->quiet)
            fprintf(stderr, "seize index: %zu images indexed in %s; %zu skipped\n", res.n_ok,
                    a->out, res.n_failed);
        rc = res.n_failed ? EXIT_PARTIAL : EXIT_OK;
    }
    items_free(items, n);
    return rc;
}

int cmd_index(int argc, char **argv)
{
    if (argc < 2) return cli_usage(CMD, "missing the action (build or import)");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "import")) return index_import(argc - 1, argv + 1);
    if (!strcmp(argv[1], "build")) return index_build(argc - 1, argv + 1);
    return cli_usage(CMD, "unknown action '%s'", argv[1]);
}
