// seize index build|import|merge: create gallery index folders.
#include "cli.h"
#include "opt.h"

#include "seize/index.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char *CMD = "index";

// The options, and what the build's callbacks use.
typedef struct index_args {
    const char *model_dir, *images, *list, *dataset, *gallery, *root, *out, *features, *names;
    const char *dtype, *shard;
    long batch, threads;
    seize_precision precision;
    int no_pad, restart, quiet, sharded;
    cli_args pos; // merge: OUT SHARD...
    const seize_image_list *il;
    cli_progress progress;
} index_args;

static const char about[] =
    "An index is a folder: features.npy (L2-normalised rows), names.txt (one gallery name per\n"
    "line, same order), index.json (model, preprocessing, dtype, count, failed images). Names are\n"
    "unique UTF-8 text without control characters (no line break or tab); a file named otherwise\n"
    "(e.g. 'r\\xe9sum\\xe9.jpg', shown as \\xNN) is refused before anything is encoded. Relative\n"
    "paths are taken from the current folder, those in a --list or --dataset file from --root\n"
    "(default: its folder). build: encodes the images with a CLIP model (SEIZE preprocessing:\n"
    "TargetPad 1.25, bicubic resize, center crop); FIFOs and devices are refused, a missing\n"
    "image folder is an error, missing images are left out (listed in one line), unreadable ones\n"
    "skipped (exit 3); both are listed in index.json. One build per INDEX (INDEX/.seize.lock);\n"
    "interrupted, the same command resumes after the last batch (INDEX/build.partial,\n"
    "build.progress.json with a checksum of the rows) or discards, with a note, a state that does\n"
    "not check out (other model, images, preprocessing); one made with another --precision is\n"
    "refused (--restart discards it). index.json records the precision. Files are written\n"
    "atomically. import: normalises [n, dim] features (f32 or f16 .npy) and writes them with the\n"
    "n names of --names (one per line, non-empty, unique; a bad line is named as FILE line N).\n"
    "--shard I/N: only the I-th of N blocks of whole batches; merge checks the shards belong\n"
    "together (model, settings, each once, names covering the list) and writes one index, or\n"
    "--sharded: a manifest over the shard folders (left in place) that opens as one index.";

static const char synopsis[] =
    "build --model DIR (--gallery FOLDER | --images FOLDER | --list FILE |\n"
    "      --dataset circo|cirr|fashioniq --gallery FILE) --out INDEX [--root DIR]\n"
    "      [--batch B] [--threads N] [--precision P] [--dtype T] [OPTION...]\n"
    "import --features F.npy --names N.txt --out INDEX [--dtype f32|f16]\n"
    "merge OUT SHARD... [--sharded]";

static const char dup_advice[] = "with --images the name is the file name without its extension: "
                                 "rename one, or use --gallery FOLDER or a NAME<TAB>PATH --list";

// Parses `seize index build|import|merge` (argv[0]; act 0|1|2): -1 to go on, else the exit status.
static int parse(int act, int argc, char **argv, index_args *a)
{
    *a = (index_args){.batch = 16, .dtype = "f32"};
    const cli_opt dtype = CLI_CHOICE("dtype", 0, "T", &a->dtype, "f32|f16|float32|float16",
                                     "stored dtype (default f32)");
    const cli_opt build[] = {
        CLI_STR("model", 0, "DIR", &a->model_dir, "CLIP model (transformers or open_clip layout)"),
        CLI_STR("gallery", 0, "FOLDER", &a->gallery,
                "every .jpg/.jpeg/.png under FOLDER (recursive, any case; links followed, each\n"
                "folder and file once), sorted; names are paths inside it (\"sub/x.jpg\")"),
        CLI_STR("images", 0, "FOLDER", &a->images,
                "the same in FOLDER only, named without extension"),
        CLI_STR("list", 0, "FILE", &a->list,
                "lines PATH (named without extension) or NAME<TAB>PATH"),
        CLI_CHOICE("dataset", 0, "D", &a->dataset, "circo|cirr|fashioniq",
                   "--gallery FILE is its gallery file: CIRCO image_info_unlabeled2017.json\n"
                   "(names: image ids), CIRR split.rc2.<split>.json, FashionIQ\n"
                   "split.<cat>.<split>.json (<name>.png, else .jpg)"),
        CLI_STR("root", 0, "DIR", &a->root, "image root of --list and --dataset"),
        CLI_STR("out", 0, "INDEX", &a->out, "index folder to write"),
        CLI_INT("batch", 0, "B", &a->batch, 1, 4096, "images per forward pass (default 16)"),
        CLI_THREADS(&a->threads),
        CLI_PRECISION(&a->precision),
        dtype,
        CLI_FLAG("no-pad", 0, &a->no_pad, "plain CLIP preprocessing (no TargetPad)"),
        CLI_FLAG("restart", 0, &a->restart, "discard an unfinished build instead of resuming it"),
        CLI_STR("shard", 0, "I/N", &a->shard, "build only shard I of N (0 <= I < N) into INDEX"),
        CLI_QUIET(&a->quiet),
        CLI_END};
    const cli_opt imp[] = {CLI_STR("features", 0, "F", &a->features, NULL),
                           CLI_STR("names", 0, "N", &a->names, NULL),
                           CLI_STR("out", 0, "INDEX", &a->out, NULL), dtype, CLI_END};
    const cli_opt mrg[] = {CLI_FLAG("sharded", 0, &a->sharded, "write a sharded index"),
                           CLI_QUIET(&a->quiet), CLI_END};
    const cli_spec spec[] = {
        {CMD, synopsis, about, build},
        {CMD, strstr(synopsis, "import"), about, imp},
        {CMD, strstr(synopsis, "merge"), about, mrg, .min_args = 2, .max_args = 1 << 20}};
    return cli_parse(&spec[act], argc, argv, &a->pos);
}

static seize_cancel interrupted; // the build stops after the batch in the towers
static void on_signal(int sig)
{
    seize_cancel_request(&interrupted, sig);
}

static void on_resume(void *ud, size_t done, size_t n, const char *discarded)
{
    index_args *a = ud;
    if (discarded)
        fprintf(stderr,
                "seize index: note: discarding the unfinished build in '%s' (%s); starting over\n",
                a->out, discarded);
    else if (!a->quiet)
        fprintf(stderr, "seize index: resuming after %zu of %zu images\n", done, n);
}

static void on_bad(void *ud, size_t i, const char *reason)
{
    index_args *a = ud;
    char *s = seize_gallery_name_shown(a->il->names[i]);
    fprintf(stderr, "%sseize index: skipped '%s': %s\n", a->progress.enabled ? "\n" : "",
            s ? s : "?", reason);
    free(s);
}

static int on_progress(void *ud, size_t done, size_t n, size_t n_failed)
{
    ((index_args *)ud)->progress.total = n; // a shard's
    cli_progress_update(&((index_args *)ud)->progress, done, n_failed);
    return 0;
}

// Gathers and checks the images (seize_build_images_prepare), then builds the index; a signal
// stops it after the batch in flight.
static int index_build(index_args a)
{
    int rc;
    size_t si = 0, sn = 0;
    if (!a.model_dir || !a.out) return cli_usage(CMD, "--model and --out are required");
    if (a.shard && seize_shard_parse(a.shard, &si, &sn) < 0)
        return cli_usage(CMD, "%s", seize_errmsg());
    if (!!a.images + !!a.list + !!a.gallery != 1)
        return cli_usage(CMD, "give exactly one of --images, --list and --gallery");
    if (a.dataset && !a.gallery)
        return cli_usage(CMD, "--dataset needs --gallery (the benchmark's gallery file)");
    if (a.root && (a.images || (a.gallery && !a.dataset)))
        return cli_usage(CMD, "--root goes with --list or --dataset");
    seize_images_source src = {SEIZE_IMAGES_TREE, a.gallery, a.root};
    if (a.images) src.from = SEIZE_IMAGES_FLAT, src.path = a.images;
    if (a.list) src.from = SEIZE_IMAGES_LIST, src.path = a.list;
    if (a.dataset) src.from = SEIZE_IMAGES_DATASET, seize_ds_kind_parse(a.dataset, &src.kind);
    seize_build_images im;
    rc = seize_build_images_prepare(&src, dup_advice, "check --root and the data layout", &im);
    if ((rc = seize_cluster_agree(rc)) < 0) goto done; // mpirun: every rank read the list
    int lead = seize_cluster_rank() == 0;              // says what concerns the whole list
    if (im.list.notes && !a.quiet && lead)
        fprintf(stderr, "seize index: note: %s\n", im.list.notes);
    if (im.missing && lead) fprintf(stderr, "seize index: %s\n", im.missing);
    a.il = &im.list;
    seize_index_build_params p = seize_index_build_default_params();
    p.out_dir = a.out, p.model_dir = a.model_dir, p.batch = (int)a.batch, p.source = im.source;
    p.threads = cli_model_threads(a.threads), p.no_pad = a.no_pad, p.restart = a.restart;
    p.dtype = strstr(a.dtype, "16") ? SEIZE_F16 : SEIZE_F32, p.cancel = &interrupted;
    p.precision = a.precision, p.shard_index = si, p.shard_count = sn;
    p.on_resume = on_resume, p.on_bad = on_bad, p.on_progress = on_progress, p.ud = &a;
    signal(SIGINT, on_signal), signal(SIGTERM, on_signal); // kept until the command ends
    cli_progress_start(&a.progress, "index", im.list.n, a.quiet);
    seize_index_build_result res;
    rc = seize_cluster_index_build(&p, im.items, im.list.n, &res); // mpirun: the shards
    cli_progress_end(&a.progress);
    if (rc == 0 && !a.quiet && lead)
        fprintf(stderr, "seize index: %zu images indexed in %s; %zu skipped\n", res.n_ok, a.out,
                res.n_failed);
done:
    seize_build_images_release(&im);
    return rc < 0 ? cli_lib_fail(CMD) : res.n_failed ? EXIT_PARTIAL : EXIT_OK;
}

// Checks the shard folders and writes OUT (seize_index_merge).
static int index_merge(index_args a)
{
    seize_index_merge_params p = {a.pos.v[0], (const char *const *)a.pos.v + 1, (size_t)a.pos.n - 1,
                                  a.sharded};
    seize_index_merge_result r;
    if (seize_index_merge(&p, &r) < 0) return cli_lib_fail(CMD);
    if (!a.quiet)
        fprintf(stderr, "seize index: %zu shards merged into %s: %zu images, %zu left out\n",
                r.n_shards, p.out_dir, r.count, r.n_failed);
    return EXIT_OK;
}

int cmd_index(int argc, char **argv)
{
    if (argc < 2) return cli_usage(CMD, "missing the action (build or import)");
    int help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"),
        import = !strcmp(argv[1], "import"), merge = !strcmp(argv[1], "merge");
    if (!help && !import && !merge && strcmp(argv[1], "build"))
        return cli_usage(CMD, "unknown action '%s'", argv[1]);
    index_args a;
    int rc = parse(import + 2 * merge, argc - !help, argv + !help, &a);
    if (rc >= 0) return rc;
    if (merge) return index_merge(a);
    if (!import) return index_build(a);
    if (!a.features || !a.names || !a.out)
        return cli_usage(CMD, "--features, --names and --out are required");
    seize_dtype dt = strstr(a.dtype, "16") ? SEIZE_F16 : SEIZE_F32;
    return seize_index_import(a.features, a.names, a.out, dt) < 0 ? cli_lib_fail(CMD) : EXIT_OK;
}
