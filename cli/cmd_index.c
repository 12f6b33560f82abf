// seize index import|build: create gallery index folders.
#include "cli.h"

#include "seize/clip.h"
#include "seize/data.h"
#include "seize/image.h"
#include "seize/index.h"
#include "seize/model.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *CMD = "index";

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: seize index build --model DIR (--gallery FOLDER | --images FOLDER | --list FILE |\n"
            "                         --dataset circo|cirr|fashioniq --gallery FILE) --out INDEX\n"
            "                         [--root DIR] [--batch B] [--threads N] [--dtype f32|f16]\n"
            "                         [--no-pad] [--restart] [-q]\n"
            "       seize index import --features F.npy --names N.txt --out INDEX [--dtype f32|f16]\n"
            "\n"
            "An index is a folder with features.npy (L2-normalised rows), names.txt (one gallery\n"
            "name per line, same order) and index.json (model identity, preprocessing, dtype,\n"
            "count, failed images). Gallery names are UTF-8 text without control characters (no\n"
            "line break or tab) and unique; a file name that is not (e.g. a Latin-1 'r\\xe9sum\\xe9.jpg')\n"
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
    if (!strcmp(s, "f32") || !strcmp(s, "float32")) *d = SEIZE_F32;
    else if (!strcmp(s, "f16") || !strcmp(s, "float16")) *d = SEIZE_F16;
    else return -1;
    return 0;
}

static int index_import(int argc, char **argv)
{
    static const struct option opts[] = {{"features", required_argument, 0, 'f'},
                                         {"names", required_argument, 0, 'n'},
                                         {"out", required_argument, 0, 'o'},
                                         {"dtype", required_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *feats = NULL, *names = NULL, *out = NULL;
    seize_dtype dt = SEIZE_F32;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': feats = optarg; break;
        case 'n': names = optarg; break;
        case 'o': out = optarg; break;
        case 'd':
            if (parse_dtype(optarg, &dt) < 0) return cli_usage(CMD, "bad --dtype '%s' (f32 or f16)", optarg);
            break;
        case 'h': usage(stdout); return EXIT_OK;
        default: return cli_usage(CMD, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!feats || !names || !out) return cli_usage(CMD, "--features, --names and --out are required");
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

static char *shown(const char *s) { return seize_index_name_escape(s, strlen(s)); }

// Notes on links skipped by the scan (each distinct folder and file is indexed once).
static void scan_notes(const seize_folder_list *fl, const char *dir, int quiet)
{
    size_t n = fl->n_issues - fl->n_errors;
    if (quiet || !n) return;
    fprintf(stderr, "seize index: note: %zu entr%s of '%s' skipped (a linked folder or file already "
                    "counted: each is indexed once):", n, n == 1 ? "y" : "ies", dir);
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
        rc = seize_error(SEIZE_EFORMAT, "%s\nnothing was encoded; fix these entries and run the command again",
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
            rc = seize_error(SEIZE_EFORMAT,
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
            rc = seize_error(SEIZE_EFORMAT, "'%s': gallery item %zu: name '%s' %s", gallery, i + 1, s ? s : "?", why);
            free(s);
        }
        it[i].name = strdup(g->names[i]);
        it[i].path = join_root(base, g->paths[i]);
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

static int cmp_item_name(const void *a, const void *b)
{
    return strcmp((*(build_item *const *)a)->name, (*(build_item *const *)b)->name);
}

// Before anything is encoded: names unique; every image a regular file (a FIFO or device is
// refused, never opened); a missing folder reported once by name (exit 1); missing images
// reported in one summary line and marked (left out, listed in index.json, exit 3).
static int check_items(build_item *it, size_t n, int quiet)
{
    build_item **by = malloc((n ? n : 1) * sizeof *by);
    if (!by) return cli_fail(CMD, "out of memory");
    for (size_t i = 0; i < n; i++) by[i] = &it[i];
    qsort(by, n, sizeof *by, cmp_item_name);
    size_t n_dup = 0;
    for (size_t i = 1; i < n; i++)
        if (!strcmp(by[i]->name, by[i - 1]->name)) {
            if (!n_dup)
                fprintf(stderr, "seize index: error: two images get the same gallery name:");
            if (n_dup < 3) {
                char *a = shown(by[i]->name), *p1 = shown(by[i - 1]->path), *p2 = shown(by[i]->path);
                fprintf(stderr, "\n  '%s' for '%s' and '%s'", a ? a : "?", p1 ? p1 : "?", p2 ? p2 : "?");
                free(a);
                free(p1);
                free(p2);
            }
            n_dup++;
        }
    free(by);
    if (n_dup) {
        if (n_dup > 3) fprintf(stderr, "\n  ... and %zu more", n_dup - 3);
        fprintf(stderr, "\nnames must be unique (with --images the name is the file name without its "
                        "extension: rename one of the files, or use --gallery FOLDER or a NAME<TAB>PATH "
                        "--list); nothing was encoded\n");
        return EXIT_FAIL;
    }
    size_t n_missing = 0, n_bad = 0;
    char *last_dir = NULL;
    int last_dir_ok = 1, dir_missing = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(it[i].path, &st) == 0) {
            if (!S_ISREG(st.st_mode)) {
                char *p = shown(it[i].path);
                fprintf(stderr, "seize index: error: '%s' is %s, not an image file\n", p ? p : "?",
                        S_ISDIR(st.st_mode) ? "a folder" : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                        : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "not a regular file");
                free(p);
                n_bad++;
            }
            continue;
        }
        // missing: is its folder there? (each folder checked and reported once)
        char *d = dir_of(it[i].path);
        if (!d) return cli_fail(CMD, "out of memory");
        if (!last_dir || strcmp(d, last_dir)) {
            struct stat ds;
            last_dir_ok = stat(d, &ds) == 0 && S_ISDIR(ds.st_mode);
            if (!last_dir_ok) {
                char *p = shown(d), *q = shown(it[i].name);
                fprintf(stderr, "seize index: error: folder '%s' does not exist (it should hold gallery images, "
                                "e.g. '%s'): check --root and the data layout\n", p ? p : "?", q ? q : "?");
                free(p);
                free(q);
                dir_missing = 1;
            }
            free(last_dir);
            last_dir = d;
        } else {
            free(d);
        }
        it[i].missing = 1;
        n_missing++;
    }
    free(last_dir);
    if (dir_missing || n_bad) {
        fprintf(stderr, "seize index: nothing was encoded\n");
        return EXIT_FAIL;
    }
    if (n_missing == n) return cli_fail(CMD, "none of the %zu images exists (first: '%s')", n, it[0].path);
    if (n_missing) {
        fprintf(stderr, "seize index: %zu of %zu images are missing and will be left out (listed in index.json):",
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

typedef struct build {
    build_item *items;
    size_t n, base, dim; // base: items done before this run
    seize_preprocess_opts pre;
    FILE *partial;
    char *progress_path;
    const char *model_sha, *list_sha, *params;
    seize_sha256 rows_h; // of the rows in the partial file so far
    json_t *failed;      // [{"i", "name", "reason"}]
    cli_progress *progress;
} build;

static int load_item(void *ud, size_t i, float *px)
{
    build *b = ud;
    const build_item *it = &b->items[b->base + i];
    if (it->missing) return seize_error(SEIZE_EIO, "cannot open '%s': No such file or directory", it->path);
    return seize_image_load_preprocess(it->path, &b->pre, px);
}

static void on_bad_item(void *ud, size_t i, int code, const char *msg)
{
    build *b = ud;
    (void)code;
    size_t k = b->base + i;
    if (!b->items[k].missing) { // the missing ones were summed up before the start
        if (b->progress->enabled) fputc('\n', stderr);
        char *s = shown(b->items[k].name);
        fprintf(stderr, "seize index: skipped '%s': %s\n", s ? s : "?", msg);
        free(s);
    }
    json_array_append_new(b->failed, json_pack("{s:I, s:s, s:s}", "i", (json_int_t)k, "name",
                                               b->items[k].name, "reason", msg));
}

static int write_progress(build *b, size_t done)
{
    seize_sha256 h = b->rows_h; // a copy: the running hash goes on
    uint8_t d[32];
    char hex[65];
    seize_sha256_final(&h, d);
    seize_sha256_hex(d, hex);
    json_t *j = json_pack("{s:i, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:O}", "version", 2, "model_sha256",
                          b->model_sha, "list_sha256", b->list_sha, "params", b->params, "count",
                          (json_int_t)b->n, "dim", (json_int_t)b->dim, "done", (json_int_t)done,
                          "rows_sha256", hex, "failed", b->failed);
    char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!t) return seize_error(SEIZE_ENOMEM, "out of memory");
    int rc = seize_write_file_atomic(b->progress_path, t, strlen(t));
    free(t);
    return rc;
}

static int on_batch_rows(void *ud, size_t first, size_t n, const float *rows, const uint8_t *ok)
{
    build *b = ud;
    (void)ok;
    // rows of failed items are zero; they are left out at the end by the failed list
    if (fwrite(rows, sizeof(float) * b->dim, n, b->partial) != n || fflush(b->partial) != 0 ||
        fsync(fileno(b->partial)) != 0)
        return seize_error(SEIZE_EIO, "cannot write '%s.partial': %s", b->progress_path, strerror(errno));
    seize_sha256_update(&b->rows_h, rows, n * b->dim * sizeof(float));
    return write_progress(b, b->base + first + n);
}

static int on_build_progress(void *ud, size_t done, size_t n_bad)
{
    build *b = ud;
    cli_progress_update(b->progress, b->base + done, json_array_size(b->failed));
    (void)n_bad;
    return 0;
}

static char *list_hash(const build_item *it, size_t n)
{
    seize_sha256 s;
    seize_sha256_init(&s);
    for (size_t i = 0; i < n; i++) {
        seize_sha256_update(&s, it[i].name, strlen(it[i].name) + 1);
        seize_sha256_update(&s, it[i].path, strlen(it[i].path) + 1);
    }
    uint8_t d[32];
    char *hex = malloc(65);
    seize_sha256_final(&s, d);
    if (hex) seize_sha256_hex(d, hex);
    return hex;
}

// Checks an unfinished build against this one: same model, list and preprocessing, and the
// first `done` rows of the partial file hash to the recorded rows_sha256. Returns the rows to
// keep (and *h the hash state after them), or 0 with *why set when the state must be discarded.
static size_t verify_partial(const json_t *prog, const build *b, const char *partial_path, seize_sha256 *h,
                             const char **why)
{
    const char *ms = json_string_value(json_object_get(prog, "model_sha256"));
    const char *ls = json_string_value(json_object_get(prog, "list_sha256"));
    const char *ps = json_string_value(json_object_get(prog, "params"));
    const char *rs = json_string_value(json_object_get(prog, "rows_sha256"));
    json_t *pd = json_object_get(prog, "done");
    *why = NULL;
    seize_sha256_init(h);
    if (!ms || !ls || !ps || strcmp(ms, b->model_sha) || strcmp(ls, b->list_sha) || strcmp(ps, b->params) ||
        json_integer_value(json_object_get(prog, "dim")) != (json_int_t)b->dim ||
        json_integer_value(json_object_get(prog, "count")) != (json_int_t)b->n) {
        *why = "it was for another model, image list or preprocessing";
        return 0;
    }
    if (!json_is_integer(pd) || json_integer_value(pd) < 0 || (size_t)json_integer_value(pd) > b->n || !rs) {
        *why = "its progress record is incomplete";
        return 0;
    }
    size_t done = (size_t)json_integer_value(pd), row = b->dim * sizeof(float);
    int fd = seize_open_regular(partial_path, NULL);
    if (fd < 0) {
        *why = "its rows file is missing or unreadable";
        return 0;
    }
    struct stat st;
    // a crash between writing rows and recording them leaves extra rows: those are dropped
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < done * row) {
        close(fd);
        *why = "its rows file is shorter than its progress record";
        return 0;
    }
    char *buf = malloc(1 << 16);
    size_t left = done * row;
    while (buf && left) {
        ssize_t r = read(fd, buf, left < (1u << 16) ? left : (1u << 16));
        if (r <= 0) break;
        seize_sha256_update(h, buf, (size_t)r);
        left -= (size_t)r;
    }
    free(buf);
    close(fd);
    uint8_t d[32];
    char hex[65];
    seize_sha256 copy = *h;
    seize_sha256_final(&copy, d);
    seize_sha256_hex(d, hex);
    if (left || strcmp(hex, rs)) {
        *why = "its rows do not match its progress record (the rows file was changed)";
        return 0;
    }
    return done;
}

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
    const char *model_dir = NULL, *images = NULL, *list = NULL, *dataset = NULL, *gallery = NULL,
               *root = NULL, *out = NULL;
    long batch = 16, threads = 0;
    int no_pad = 0, restart = 0, quiet = 0, c;
    seize_dtype dt = SEIZE_F32;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 'I': images = optarg; break;
        case 'l': list = optarg; break;
        case 'D': dataset = optarg; break;
        case 'g': gallery = optarg; break;
        case 'R': root = optarg; break;
        case 'o': out = optarg; break;
        case 'b':
            if (cli_parse_int(optarg, 1, 4096, &batch) < 0) return cli_usage(CMD, "bad --batch '%s'", optarg);
            break;
        case 't':
            if (cli_parse_int(optarg, 1, 1024, &threads) < 0) return cli_usage(CMD, "bad --threads '%s'", optarg);
            break;
        case 'd':
            if (parse_dtype(optarg, &dt) < 0) return cli_usage(CMD, "bad --dtype '%s' (f32 or f16)", optarg);
            break;
        case 'P': no_pad = 1; break;
        case 'r': restart = 1; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: return cli_usage(CMD, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!model_dir || !out) return cli_usage(CMD, "--model and --out are required");
    if (!!images + !!list + !!gallery != 1)
        return cli_usage(CMD, "give exactly one of --images, --list and --gallery");
    if (dataset && !gallery) return cli_usage(CMD, "--dataset needs --gallery (the benchmark's gallery file)");
    if (root && (images || (gallery && !dataset)))
        return cli_usage(CMD, "--root goes with --list or --dataset");

    int rc = EXIT_FAIL;
    build_item *items = NULL;
    size_t n = 0;
    seize_model *m = NULL;
    seize_clip *clip = NULL;
    char *partial_path = NULL, *progress_path = NULL, *list_sha = NULL;
    json_t *prog = NULL, *failed = json_array();
    seize_lock lock = {0};
    FILE *pf = NULL;
    float *feats = NULL;
    seize_map map = {0};
    const char **names = NULL, **fnames = NULL, **freasons = NULL;
    cli_progress progress = {0};
    char model_sha[65];
    uint8_t digest[32];

    int grc = images ? gather_folder(images, 0, quiet, &items, &n)
              : list ? gather_list(list, root, &items, &n)
              : dataset ? gather_dataset(dataset, gallery, root, &items, &n)
                        : gather_folder(gallery, 1, quiet, &items, &n);
    if (grc < 0) goto lib_fail;
    if (!n) {
        rc = cli_fail(CMD, "no images to index%s", images || !dataset ? " (no .jpg, .jpeg or .png file in the folder)" : "");
        goto done;
    }
    if ((rc = check_items(items, n, quiet)) != EXIT_OK) goto done;
    rc = EXIT_FAIL;
    // one writer per index folder, for the whole build (a second build fails at once)
    if (seize_mkdirs(out) < 0) goto lib_fail;
    {
        char what[4200];
        snprintf(what, sizeof what, "index folder '%s'", out);
        if (seize_lock_dir(out, what, &lock) < 0) goto lib_fail;
    }
    if (seize_model_load(model_dir, &m) < 0 ||
        seize_clip_new(m, (int)batch, cli_model_threads(threads), &clip) < 0)
        goto lib_fail;
    if (seize_sha256_file(seize_model_weights_path(m), digest) < 0) goto lib_fail;
    seize_sha256_hex(digest, model_sha);
    size_t dim = seize_clip_embed_dim(clip);
    partial_path = seize_path_join(out, "build.partial");
    progress_path = seize_path_join(out, "build.progress.json");
    list_sha = list_hash(items, n);
    if (!partial_path || !progress_path || !list_sha || !failed) goto oom;

    build b = {.items = items, .n = n, .dim = dim, .pre = seize_preprocess_default_opts(),
               .progress_path = progress_path, .model_sha = model_sha, .list_sha = list_sha,
               .failed = failed, .progress = &progress};
    b.pre.size = seize_clip_image_size(clip);
    if (no_pad) b.pre.pad_ratio = 0;
    char pre[128];
    snprintf(pre, sizeof pre, "%s resize %d bicubic antialias, center crop %d, CLIP mean/std",
             no_pad ? "no pad," : "TargetPad 1.25,", b.pre.size, b.pre.size);
    b.params = pre;
    seize_sha256_init(&b.rows_h);

    // resume? only from a state that checks out; anything else is discarded (never mixed in)
    size_t done = 0;
    if (!restart && seize_path_exists(progress_path)) {
        const char *why = NULL;
        if (seize_json_load(progress_path, &prog) < 0 || !json_is_object(prog)) why = "its progress record is unreadable";
        else done = verify_partial(prog, &b, partial_path, &b.rows_h, &why);
        if (why) {
            done = 0;
            seize_sha256_init(&b.rows_h);
            fprintf(stderr, "seize index: note: discarding the unfinished build in '%s' (%s); starting over\n", out, why);
        } else {
            json_t *f;
            size_t i;
            json_array_foreach(json_object_get(prog, "failed"), i, f) {
                json_int_t k = json_integer_value(json_object_get(f, "i"));
                if (k >= 0 && (size_t)k < done && json_is_string(json_object_get(f, "name")) &&
                    json_is_string(json_object_get(f, "reason")))
                    json_array_append(failed, f);
            }
            if (!quiet) fprintf(stderr, "seize index: resuming after %zu of %zu images\n", done, n);
        }
    }
    b.base = done;
    if (done) {
        if (truncate(partial_path, (off_t)(done * dim * sizeof(float))) != 0) {
            rc = cli_fail(CMD, "cannot truncate '%s': %s", partial_path, strerror(errno));
            goto done;
        }
    } else {
        FILE *t = fopen(partial_path, "wb");
        if (!t) {
            rc = cli_fail(CMD, "cannot create '%s': %s", partial_path, strerror(errno));
            goto done;
        }
        fclose(t);
    }
    if (!(pf = fopen(partial_path, "ab"))) {
        rc = cli_fail(CMD, "cannot open '%s': %s", partial_path, strerror(errno));
        goto done;
    }
    b.partial = pf;
    if (write_progress(&b, done) < 0) goto lib_fail;
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    seize_clip_list_opts lo = {.skip_bad = 1, .on_bad = on_bad_item, .on_batch = on_batch_rows,
                               .on_progress = on_build_progress, .ud = &b,
                               .cancel = &interrupted};
    cli_progress_start(&progress, "index", n, quiet);
    int lrc = n > done ? seize_clip_encode_image_list(clip, n - done, load_item, &lo, NULL, NULL, NULL) : 0;
    cli_progress_end(&progress);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    fclose(pf);
    pf = NULL;
    if (lrc == SEIZE_ECANCEL || seize_cancel_level(&interrupted)) {
        rc = cli_fail(CMD, "interrupted; the finished batches are kept in '%s': run the same command again to resume",
                      out);
        goto done;
    }
    if (lrc < 0) goto lib_fail;

    // final files: the rows that loaded, in list order
    size_t n_fail = json_array_size(failed), n_ok = 0;
    unsigned char *bad = calloc(n, 1);
    fnames = calloc(n_fail ? n_fail : 1, sizeof *fnames);
    freasons = calloc(n_fail ? n_fail : 1, sizeof *freasons);
    if (!bad || !fnames || !freasons) {
        free(bad);
        goto oom;
    }
    for (size_t i = 0; i < n_fail; i++) {
        json_t *f = json_array_get(failed, i);
        json_int_t k = json_integer_value(json_object_get(f, "i"));
        if (k >= 0 && (size_t)k < n) bad[k] = 1;
        fnames[i] = json_string_value(json_object_get(f, "name"));
        freasons[i] = json_string_value(json_object_get(f, "reason"));
    }
    if (seize_map_open(partial_path, &map) < 0) {
        free(bad);
        goto lib_fail;
    }
    if (map.size != n * dim * sizeof(float)) {
        free(bad);
        rc = cli_fail(CMD, "'%s' has %zu bytes, expected %zu", partial_path, map.size, n * dim * sizeof(float));
        goto done;
    }
    {
        // the rows read back are the rows written (the folder is locked; this catches the rest)
        seize_sha256 h = b.rows_h, h2;
        uint8_t d1[32], d2[32];
        seize_sha256_final(&h, d1);
        seize_sha256_init(&h2);
        if (map.size) seize_sha256_update(&h2, map.data, map.size);
        seize_sha256_final(&h2, d2);
        if (memcmp(d1, d2, 32)) {
            free(bad);
            rc = cli_fail(CMD, "'%s' was changed while the build ran; run the command again with --restart",
                          partial_path);
            goto done;
        }
    }
    feats = seize_malloc(n, dim * sizeof *feats);
    names = calloc(n, sizeof *names);
    if (!feats || !names) {
        free(bad);
        goto oom;
    }
    for (size_t i = 0; i < n; i++) {
        if (bad[i]) continue;
        memcpy(feats + n_ok * dim, map.data + i * dim * sizeof(float), dim * sizeof(float));
        names[n_ok++] = items[i].name;
    }
    free(bad);
    if (!n_ok) {
        rc = cli_fail(CMD, "none of the %zu images could be encoded", n);
        goto done;
    }
    char source[4200];
    snprintf(source, sizeof source, "%s:%s", images ? "images" : list ? "list" : dataset ? dataset : "gallery",
             images ? images : list ? list : gallery);
    seize_index_meta meta = {.model_path = seize_model_weights_path(m), .model_sha256 = model_sha,
                             .preprocess = pre, .source = source, .failed_names = fnames,
                             .failed_reasons = freasons, .n_failed = n_fail};
    if (seize_index_write(out, feats, n_ok, dim, names, dt, &meta) < 0) goto lib_fail;
    unlink(partial_path);
    unlink(progress_path);
    if (!quiet)
        fprintf(stderr, "seize index: %zu images indexed in %s; %zu skipped\n", n_ok, out, n_fail);
    rc = n_fail ? EXIT_PARTIAL : EXIT_OK;
    goto done;
oom:
    rc = cli_fail(CMD, "out of memory");
    goto done;
lib_fail:
    rc = cli_lib_fail(CMD);
done:
    if (pf) fclose(pf);
    seize_map_close(&map);
    free(feats);
    free(names);
    free(fnames);
    free(freasons);
    json_decref(prog);
    json_decref(failed);
    free(partial_path);
    free(progress_path);
    free(list_sha);
    seize_clip_free(clip);
    seize_model_free(m);
    items_free(items, n);
    seize_lock_release(&lock);
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
