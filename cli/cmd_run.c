// seize run: the whole pipeline (caption -> reason -> index -> features -> search -> eval or
// submission), each stage cached by a key of what it depends on, with a manifest and a report.
//
// The stages that talk to servers or walk the gallery run as the stage commands themselves
// (this binary, spawned), so that their journals, resumption and error reports are exactly
// those of `seize caption`, `seize reason`, `seize index build`, `seize query-features`,
// `seize search`, `seize eval` and `seize submission`. This file decides what to run (the cache
// keys), lays out RUN_DIR, and writes manifest.json and report.html.
#include "cli.h"
#include "run.h"

#include "seize/core.h"
#include "seize/data.h"
#include "seize/index.h"
#include "seize/model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char usage_text[] =
    "usage: seize run DATASET --data-root ROOT --split val|test --model DIR --out RUN_DIR [options]\n"
    "       seize run folder --gallery FOLDER --queries Q.jsonl --model DIR --out RUN_DIR [options]\n"
    "\n"
    "Runs SEIZE end to end: caption the reference images, edit the captions with an LLM, index\n"
    "the gallery with CLIP, encode the captions, search, then evaluate (val) or write the\n"
    "test-server submission files (test). Every stage is cached in RUN_DIR by a key of what it\n"
    "depends on: rerunning the same command redoes nothing and sends no request; changing\n"
    "--pos/--neg only searches again; an interrupted run resumes where it stopped.\n"
    "\n"
    "DATASET and its files under ROOT:\n"
    "  circo      annotations/<split>.json, COCO2017_unlabeled/annotations/\n"
    "             image_info_unlabeled2017.json, images under COCO2017_unlabeled/\n"
    "  cirr       captions/cap.rc2.<split>.json, image_splits/split.rc2.<split>.json, images\n"
    "             under ROOT as the split file gives them (val is the 'val' split: cap.rc2.val.json)\n"
    "  fashioniq  captions/cap.<category>.<split>.json, image_splits/split.<category>.<split>.json,\n"
    "             images/<name>.png (or .jpg); every category unless --category\n"
    "  folder     --gallery FOLDER (its images, named by their path in it) and --queries FILE\n"
    "             (JSON Lines {\"id\", \"reference\": image path, \"relative_text\"[, \"target\"]})\n"
    "\n"
    "Captions and edits (one of):\n"
    "  --captions FILE            the authors' caption file (multi_caption_opt, multi_gpt-3.5_opt)\n"
    "                             or JSON Lines {\"id\", \"captions\", \"edits\"|\"edited\"}; for\n"
    "                             fashioniq '{category}' in FILE is replaced by the category.\n"
    "                             Without edits in it, the LLM stage makes them.\n"
    "  --captioner-endpoint URL --captioner-model NAME   caption stage (seize caption)\n"
    "  --llm-endpoint URL --llm-model NAME               editing stage (seize reason)\n"
    "  --caption-prompt TEXT      instruction sent with each image\n"
    "  --temperature T, --top-p P captioning sampling (default 1.0, 0.9)\n"
    "  --seed S                   seed sent to both servers (not sent if unset)\n"
    "  --concurrency N            requests in flight (default 16)\n"
    "  --timeout SEC              per request (default 60)\n"
    "  --max-attempts N           per request (default 6)\n"
    "  --prompt-file FILE         editing prompt template (see seize reason --help)\n"
    "  --fiq-join STR             FashionIQ: text between its two captions (default none)\n"
    "Retrieval:\n"
    "  --num-captions N           captions per query (default 15)\n"
    "  --method M                 seize (default), mean or ldre\n"
    "  --pos P, --neg N           SEIZE weights (default: circo 0.13/2.1, cirr 0.22/1.0,\n"
    "                             fashioniq and folder 0.13/2.1)\n"
    "  --k K                      ranking length (default 50)\n"
    "  --category C               fashioniq: dress, shirt or toptee (default: all three)\n"
    "  --no-pad                   plain CLIP preprocessing (default: SEIZE's TargetPad 1.25)\n"
    "  --batch B, --threads N     encoding batch (default 32) and threads (default all cores)\n"
    "Report:\n"
    "  --report-queries N         queries shown in report.html (default 10)\n"
    "  --report-k K               ranked images shown per query (default 10)\n"
    "  -q, --quiet                no progress lines\n"
    "  -h, --help                 this help\n"
    "\n"
    "RUN_DIR receives captions.jsonl, edits.jsonl, index/, rankings.jsonl, metrics.json (val),\n"
    "submission files (test), manifest.json and report.html (per category for fashioniq).\n"
    "Exit status: 0 done; 1 error; 2 usage; 3 done, but some gallery images or queries failed\n"
    "(listed on stderr and in manifest.json).\n";

// --- options and state -----------------------------------------------------------------------------

typedef struct run_opts {
    const char *dataset, *data_root, *split, *model_dir, *out_dir;
    const char *gallery_dir, *queries_file, *captions_file, *category;
    const char *cap_endpoint, *cap_model, *llm_endpoint, *llm_model, *cap_prompt, *prompt_file;
    const char *temperature, *top_p, *seed, *concurrency, *timeout, *max_attempts, *fiq_join;
    const char *backoff_base; // hidden, for tests
    const char *method;
    double pos, neg;
    int pos_set, neg_set, num_captions, k, batch, threads, no_pad, quiet;
    int report_queries, report_k;
} run_opts;

typedef struct run_state {
    run_opts o;
    char exe[PATH_MAX];
    json_t *cache;    // RUN_DIR/.seize-cache.json: stage keys and the model hash
    json_t *manifest; // built as the run goes
    json_t *stages, *failed;
    char model_sha[65];
    int partial; // some items failed (exit 3)
} run_state;

// One benchmark split (one FashionIQ category) processed in `dir`.
typedef struct job {
    const char *name; // "circo", "cirr", "fashioniq/dress", "folder"
    char *dir, *annotations, *gallery_list, *image_root, *captions_file;
    seize_ds_kind kind;
    int folder;
    seize_dataset *ds; // NULL for folder
    seize_gallery_list *gl;
    // queries (from the dataset or the folder's JSONL)
    size_t n_q;
    char **q_id, **q_ref_name, **q_ref_path, **q_text, **q_target;
    size_t *q_ref_row; // gallery row of the reference, SIZE_MAX if not in the gallery
    char **g_paths;    // absolute-ish gallery paths (image_root joined)
    char *key_captions, *key_edits, *key_index, *key_features, *key_search;
} job;

// --- small helpers -----------------------------------------------------------------------------------

static void say(run_state *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(run_state *r, const char *fmt, ...)
{
    if (r->o.quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "seize run: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static char *join(const char *a, const char *b)
{
    char *p = seize_path_join(a, b);
    if (!p) {
        fprintf(stderr, "seize run: error: out of memory\n");
        exit(EXIT_FAIL); // the CLI may exit; the library never does
    }
    return p;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0) {
        fprintf(stderr, "seize run: error: out of memory\n");
        exit(EXIT_FAIL);
    }
    va_end(ap);
    return s;
}

// Key material: length-prefixed strings into a SHA-256.
static void k_str(seize_sha256 *h, const char *s)
{
    if (!s) s = "\x01(null)";
    uint64_t n = strlen(s);
    seize_sha256_update(h, &n, sizeof n);
    seize_sha256_update(h, s, n);
}

static void k_num(seize_sha256 *h, double v)
{
    char b[64];
    snprintf(b, sizeof b, "%.17g", v);
    k_str(h, b);
}

// A file's identity for keys: its content hash for small files, else size and mtime.
static int k_file(seize_sha256 *h, const char *path, int content)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        k_str(h, "missing");
        k_str(h, path);
        return 0;
    }
    if (content) {
        uint8_t d[32];
        int rc = seize_sha256_file(path, d);
        if (rc < 0) return rc;
        seize_sha256_update(h, d, 32);
    } else {
        k_str(h, path);
        k_num(h, (double)st.st_size);
        k_num(h, (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec);
    }
    return 0;
}

static char *k_final(seize_sha256 *h)
{
    uint8_t d[32];
    char hex[65];
    seize_sha256_final(h, d);
    seize_sha256_hex(d, hex);
    return seize_strdup(hex);
}

static int write_lines(const char *path, char *const *lines, size_t n)
{
    seize_atomic a;
    int rc = seize_atomic_open(path, &a);
    if (rc < 0) return rc;
    for (size_t i = 0; i < n; i++) fprintf(a.fp, "%s\n", lines[i] ? lines[i] : "");
    return seize_atomic_commit(&a);
}

static int save_cache(run_state *r)
{
    char *p = join(r->o.out_dir, ".seize-cache.json");
    int rc = seize_json_save(p, r->cache, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    free(p);
    return rc;
}

// Whether a stage can be skipped: its key is recorded and every output exists.
static int cached(run_state *r, const char *stage, const char *key, const char *const *outputs)
{
    json_t *k = json_object_get(r->cache, stage);
    if (!json_is_string(k) || strcmp(json_string_value(k), key) != 0) return 0;
    for (; *outputs; outputs++)
        if (!seize_path_exists(*outputs)) return 0;
    return 1;
}

static int record_key(run_state *r, const char *stage, const char *key)
{
    json_object_set_new(r->cache, stage, json_string(key));
    return save_cache(r);
}

static void stage_log(run_state *r, const char *job, const char *stage, const char *status,
                      double seconds, json_t *counts)
{
    json_t *s = json_pack("{s:s, s:s, s:s, s:f}", "job", job, "stage", stage, "status", status,
                          "seconds", seconds);
    if (counts) json_object_set_new(s, "counts", counts);
    json_array_append_new(r->stages, s);
    say(r, "%s: %s %s (%.1f s)", job, stage, status, seconds);
}

// Runs this binary with argv (argv[0] = subcommand), stdout to `out_path` when not NULL.
// Returns the exit status (or 1 with the message set when it cannot start).
static int spawn(run_state *r, const char *out_path, char **args)
{
    size_t n = 0;
    while (args[n]) n++;
    char **argv = calloc(n + 2, sizeof *argv);
    if (!argv) return seize_error(SEIZE_ENOMEM, "out of memory"), 1;
    argv[0] = r->exe;
    for (size_t i = 0; i < n; i++) argv[i + 1] = args[i];
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (out_path) posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int e = posix_spawn(&pid, r->exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    free(argv);
    if (e != 0) {
        seize_error(SEIZE_EIO, "cannot run '%s %s': %s", r->exe, args[0], strerror(e));
        return 1;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            seize_error(SEIZE_EIO, "waiting for 'seize %s': %s", args[0], strerror(errno));
            return 1;
        }
    if (WIFSIGNALED(st)) {
        seize_error(SEIZE_EIO, "'seize %s' was killed by signal %d", args[0], WTERMSIG(st));
        return 128 + WTERMSIG(st);
    }
    int code = WEXITSTATUS(st);
    if (code) seize_error(SEIZE_EIO, "'seize %s' failed (exit status %d)", args[0], code);
    return code;
}

// A growable argv.
typedef struct args {
    char *v[96];
    int n;
} args;

static void arg(args *a, const char *s)
{
    SEIZE_ASSERT(a->n < 95);
    a->v[a->n++] = (char *)s;
    a->v[a->n] = NULL;
}

static void arg2(args *a, const char *flag, const char *value)
{
    if (!value) return;
    arg(a, flag);
    arg(a, value);
}

// --- jobs: datasets and folders ------------------------------------------------------------------

static int is_image_name(const char *n)
{
    const char *dot = strrchr(n, '.');
    if (!dot) return 0;
    return !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Lists image files under root (recursively), names relative to root, sorted.
static int scan_folder(const char *root, const char *rel, char ***names, size_t *n, size_t *cap)
{
    char *dir = rel[0] ? join(root, rel) : seize_strdup(root);
    DIR *d = opendir(dir);
    if (!d) {
        int rc = seize_error(SEIZE_EIO, "cannot open gallery folder '%s': %s", dir, strerror(errno));
        free(dir);
        return rc;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *sub = rel[0] ? fmt("%s/%s", rel, e->d_name) : seize_strdup(e->d_name);
        char *full = join(root, sub);
        struct stat st;
        if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = scan_folder(root, sub, names, n, cap);
            free(sub);
        } else if (is_image_name(e->d_name)) {
            if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 256;
                *names = realloc(*names, *cap * sizeof **names);
                if (!*names) rc = seize_error(SEIZE_ENOMEM, "out of memory");
            }
            if (rc == 0) (*names)[(*n)++] = sub;
        } else {
            free(sub);
        }
        free(full);
    }
    closedir(d);
    free(dir);
    return rc;
}

static void job_free(job *j)
{
    for (size_t i = 0; i < j->n_q; i++) {
        free(j->q_id[i]);
        free(j->q_ref_name[i]);
        free(j->q_ref_path[i]);
        free(j->q_text[i]);
        free(j->q_target[i]);
    }
    free(j->q_id);
    free(j->q_ref_name);
    free(j->q_ref_path);
    free(j->q_text);
    free(j->q_target);
    free(j->q_ref_row);
    if (j->gl)
        for (size_t i = 0; i < j->gl->n; i++) free(j->g_paths[i]);
    free(j->g_paths);
    seize_gallery_list_free(j->gl);
    seize_dataset_free(j->ds);
    free(j->dir);
    free(j->annotations);
    free(j->gallery_list);
    free(j->image_root);
    free(j->captions_file);
    free(j->key_captions);
    free(j->key_edits);
    free(j->key_index);
    free(j->key_features);
    free(j->key_search);
}

static int alloc_queries(job *j, size_t n)
{
    j->n_q = n;
    j->q_id = calloc(n + 1, sizeof(char *));
    j->q_ref_name = calloc(n + 1, sizeof(char *));
    j->q_ref_path = calloc(n + 1, sizeof(char *));
    j->q_text = calloc(n + 1, sizeof(char *));
    j->q_target = calloc(n + 1, sizeof(char *));
    j->q_ref_row = calloc(n + 1, sizeof(size_t));
    if (!j->q_id || !j->q_ref_name || !j->q_ref_path || !j->q_text || !j->q_target || !j->q_ref_row)
        return seize_error(SEIZE_ENOMEM, "out of memory");
    return 0;
}

// Finds the gallery row of a name (linear map built once).
typedef struct name_map {
    char **keys;
    size_t *rows;
    size_t n;
} name_map;

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t name_row(const job *j, const name_map *m, const char *name)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->keys[mid], name);
        if (c == 0) return m->rows[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    (void)j;
    return SIZE_MAX;
}

typedef struct name_row_pair {
    char *name; // first member: cmp_key compares it
    size_t row;
} name_row_pair;

static int build_map(const job *j, name_map *m)
{
    m->n = j->gl->n;
    m->keys = malloc((m->n + 1) * sizeof *m->keys);
    m->rows = malloc((m->n + 1) * sizeof *m->rows);
    name_row_pair *prs = malloc((m->n + 1) * sizeof *prs);
    if (!m->keys || !m->rows || !prs) {
        free(prs);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < m->n; i++) prs[i] = (name_row_pair){j->gl->names[i], i};
    qsort(prs, m->n, sizeof *prs, cmp_key);
    for (size_t i = 0; i < m->n; i++) {
        m->keys[i] = prs[i].name;
        m->rows[i] = prs[i].row;
    }
    free(prs);
    return 0;
}

static void free_map(name_map *m)
{
    free(m->keys);
    free(m->rows);
}

static int setup_dataset_job(run_state *r, job *j, const char *category)
{
    const run_opts *o = &r->o;
    const char *root = o->data_root;
    if (j->kind == SEIZE_DS_CIRCO) {
        char *rel = fmt("annotations/%s.json", o->split);
        j->annotations = join(root, rel);
        free(rel);
        j->gallery_list = join(root, "COCO2017_unlabeled/annotations/image_info_unlabeled2017.json");
        j->image_root = join(root, "COCO2017_unlabeled");
    } else if (j->kind == SEIZE_DS_CIRR) {
        char *rel = fmt("captions/cap.rc2.%s.json", o->split);
        j->annotations = join(root, rel);
        free(rel);
        rel = fmt("image_splits/split.rc2.%s.json", o->split);
        j->gallery_list = join(root, rel);
        free(rel);
        j->image_root = seize_strdup(root);
    } else {
        char *rel = fmt("captions/cap.%s.%s.json", category, o->split);
        j->annotations = join(root, rel);
        free(rel);
        rel = fmt("image_splits/split.%s.%s.json", category, o->split);
        j->gallery_list = join(root, rel);
        free(rel);
        j->image_root = join(root, "images");
    }
    seize_dataset_opts dso = {o->fiq_join ? o->fiq_join : ""};
    int rc = seize_dataset_load_ex(j->kind, j->annotations, &dso, &j->ds);
    if (rc < 0) return rc;
    if ((rc = seize_gallery_list_load(j->kind, j->gallery_list, &j->gl)) < 0) return rc;
    j->g_paths = calloc(j->gl->n + 1, sizeof *j->g_paths);
    if (!j->g_paths) return seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t i = 0; i < j->gl->n; i++) {
        const char *p = j->gl->paths[i];
        if (p[0] == '.' && p[1] == '/') p += 2;
        j->g_paths[i] = join(j->image_root, p);
        // FashionIQ: accept .jpg where the .png is absent
        if (j->kind == SEIZE_DS_FASHIONIQ && !seize_path_exists(j->g_paths[i])) {
            size_t n = strlen(j->g_paths[i]);
            if (n > 4 && !strcmp(j->g_paths[i] + n - 4, ".png")) {
                char *alt = seize_strdup(j->g_paths[i]);
                memcpy(alt + n - 4, ".jpg", 4);
                if (seize_path_exists(alt)) {
                    free(j->g_paths[i]);
                    j->g_paths[i] = alt;
                } else {
                    free(alt);
                }
            }
        }
    }
    if ((rc = alloc_queries(j, j->ds->n)) < 0) return rc;
    name_map m;
    if ((rc = build_map(j, &m)) < 0) return rc;
    for (size_t i = 0; i < j->ds->n; i++) {
        const seize_query *q = &j->ds->q[i];
        j->q_id[i] = seize_strdup(q->id);
        j->q_ref_name[i] = seize_strdup(q->reference);
        j->q_text[i] = seize_strdup(q->text);
        j->q_target[i] = q->target ? seize_strdup(q->target) : NULL;
        j->q_ref_row[i] = name_row(j, &m, q->reference);
        if (j->q_ref_row[i] == SIZE_MAX) {
            free_map(&m);
            return seize_error(SEIZE_EFORMAT, "'%s': query %s: reference image '%s' is not in the gallery '%s'",
                               j->annotations, q->id, q->reference, j->gallery_list);
        }
        j->q_ref_path[i] = seize_strdup(j->g_paths[j->q_ref_row[i]]);
    }
    free_map(&m);
    return 0;
}

static int setup_folder_job(run_state *r, job *j)
{
    const run_opts *o = &r->o;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = scan_folder(o->gallery_dir, "", &names, &n, &cap);
    if (rc < 0) return rc;
    if (n == 0) {
        free(names);
        return seize_error(SEIZE_EINVAL, "gallery folder '%s' has no .jpg, .jpeg or .png images", o->gallery_dir);
    }
    qsort(names, n, sizeof *names, cmp_str);
    j->gl = calloc(1, sizeof *j->gl);
    j->g_paths = calloc(n + 1, sizeof *j->g_paths);
    if (!j->gl || !j->g_paths) return seize_error(SEIZE_ENOMEM, "out of memory");
    j->gl->n = n;
    j->gl->names = names;
    j->gl->paths = calloc(n + 1, sizeof(char *));
    if (!j->gl->paths) return seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        j->gl->paths[i] = seize_strdup(names[i]);
        j->g_paths[i] = join(o->gallery_dir, names[i]);
    }
    json_t *qs;
    if ((rc = seize_jsonl_load(o->queries_file, &qs)) < 0) return rc;
    if ((rc = alloc_queries(j, json_array_size(qs))) < 0) {
        json_decref(qs);
        return rc;
    }
    char *groot = realpath(o->gallery_dir, NULL);
    name_map m;
    if ((rc = build_map(j, &m)) < 0) {
        json_decref(qs);
        free(groot);
        return rc;
    }
    for (size_t i = 0; rc == 0 && i < j->n_q; i++) {
        json_t *q = json_array_get(qs, i), *id = json_object_get(q, "id"),
               *ref = json_object_get(q, "reference"), *txt = json_object_get(q, "relative_text"),
               *tgt = json_object_get(q, "target");
        if (!json_is_string(ref) || !json_is_string(txt)) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': line %zu: needs \"reference\" and \"relative_text\" strings",
                             o->queries_file, i + 1);
            break;
        }
        j->q_id[i] = json_is_string(id) ? seize_strdup(json_string_value(id))
                     : json_is_integer(id) ? fmt("%lld", (long long)json_integer_value(id))
                                           : fmt("%zu", i);
        j->q_text[i] = seize_strdup(json_string_value(txt));
        j->q_target[i] = json_is_string(tgt) ? seize_strdup(json_string_value(tgt)) : NULL;
        // the reference: relative paths are taken from the queries file's folder, then the gallery
        const char *rp = json_string_value(ref);
        char *path = NULL;
        if (rp[0] == '/') path = seize_strdup(rp);
        else {
            char *qdir = seize_strdup(o->queries_file);
            char *slash = strrchr(qdir, '/');
            if (slash) *slash = 0;
            path = slash ? join(qdir, rp) : seize_strdup(rp);
            free(qdir);
            if (!seize_path_exists(path)) {
                free(path);
                path = join(o->gallery_dir, rp);
            }
        }
        j->q_ref_path[i] = path;
        j->q_ref_row[i] = SIZE_MAX;
        char *real = realpath(path, NULL);
        size_t gl = groot ? strlen(groot) : 0;
        if (real && groot && !strncmp(real, groot, gl) && real[gl] == '/') {
            j->q_ref_row[i] = name_row(j, &m, real + gl + 1);
            j->q_ref_name[i] = seize_strdup(real + gl + 1);
        } else {
            const char *base = strrchr(rp, '/');
            j->q_ref_name[i] = seize_strdup(base ? base + 1 : rp);
        }
        free(real);
    }
    free_map(&m);
    free(groot);
    json_decref(qs);
    return rc;
}

// --- stage 1: captions and edits --------------------------------------------------------------------

// Loads captions/edits for the job's queries from `path` (matched by id, else by position).
// Fills caps/edits arrays (borrowed from *c).
static int match_captions(job *j, const char *path, const char *edits_key, seize_captions **out,
                          size_t **row_of_query)
{
    seize_captions *c;
    int rc = seize_captions_load(path, NULL, edits_key, &c);
    if (rc < 0) return rc;
    size_t *rows = malloc((j->n_q + 1) * sizeof *rows);
    if (!rows) {
        seize_captions_free(c);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    int by_id = c->ids && c->n > 0 && c->ids[0];
    for (size_t q = 0; q < j->n_q; q++) {
        rows[q] = SIZE_MAX;
        if (by_id) {
            for (size_t i = 0; i < c->n; i++)
                if (c->ids[i] && !strcmp(c->ids[i], j->q_id[q])) {
                    rows[q] = i;
                    break;
                }
        } else if (q < c->n) {
            rows[q] = q;
        }
        if (rows[q] == SIZE_MAX || c->n_captions[rows[q]] == 0) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': no captions for query %s", path, j->q_id[q]);
            free(rows);
            seize_captions_free(c);
            return rc;
        }
    }
    *out = c;
    *row_of_query = rows;
    return 0;
}

static json_t *str_array(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(v[i] ? v[i] : ""));
    return a;
}

static int write_jsonl(const char *path, json_t *rows)
{
    seize_atomic a;
    int rc = seize_atomic_open(path, &a);
    if (rc < 0) return rc;
    size_t i;
    json_t *v;
    json_array_foreach(rows, i, v)
    {
        char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!s) {
            seize_atomic_abort(&a);
            return seize_error(SEIZE_ENOMEM, "out of memory");
        }
        fprintf(a.fp, "%s\n", s);
        free(s);
    }
    return seize_atomic_commit(&a);
}

static void add_llm_opts(run_state *r, args *a)
{
    const run_opts *o = &r->o;
    arg2(a, "--seed", o->seed);
    arg2(a, "--concurrency", o->concurrency);
    arg2(a, "--timeout", o->timeout);
    arg2(a, "--max-attempts", o->max_attempts);
    arg2(a, "--backoff-base", o->backoff_base);
    if (o->quiet) arg(a, "--quiet");
}

static int stage_captions(run_state *r, job *j)
{
    const run_opts *o = &r->o;
    char *cap_out = join(j->dir, "captions.jsonl"), *ed_out = join(j->dir, "edits.jsonl");
    int rc = 0;
    double t0 = seize_now();
    seize_sha256 h;
    // ---- captions
    seize_sha256_init(&h);
    k_str(&h, "captions/1");
    if (j->captions_file) {
        k_str(&h, "file");
        if ((rc = k_file(&h, j->captions_file, 1)) < 0) goto done;
    } else {
        k_str(&h, o->cap_endpoint);
        k_str(&h, o->cap_model);
        k_str(&h, o->cap_prompt);
        k_str(&h, o->temperature);
        k_str(&h, o->top_p);
        k_str(&h, o->seed);
        k_num(&h, o->num_captions);
    }
    for (size_t q = 0; q < j->n_q; q++) {
        k_str(&h, j->q_id[q]);
        k_str(&h, j->q_text[q]);
        if (!j->captions_file && (rc = k_file(&h, j->q_ref_path[q], 0)) < 0) goto done;
    }
    j->key_captions = k_final(&h);
    char *stage = fmt("%s/captions", j->name);
    const char *outs[] = {cap_out, NULL};
    seize_captions *from_file = NULL;
    size_t *rows = NULL;
    int have_edits_in_file = 0;
    if (j->captions_file) {
        if ((rc = match_captions(j, j->captions_file, NULL, &from_file, &rows)) < 0) goto done1;
        have_edits_in_file = 1;
        for (size_t q = 0; q < j->n_q; q++)
            if (from_file->n_edits[rows[q]] == 0) have_edits_in_file = 0;
        if (!have_edits_in_file) { // our own JSONL from seize reason names them "edited"
            seize_captions *c2;
            size_t *rows2;
            if (match_captions(j, j->captions_file, "edited", &c2, &rows2) == 0) {
                int all = 1;
                for (size_t q = 0; q < j->n_q; q++)
                    if (c2->n_edits[rows2[q]] == 0) all = 0;
                if (all) {
                    seize_captions_free(from_file);
                    free(rows);
                    from_file = c2;
                    rows = rows2;
                    have_edits_in_file = 1;
                } else {
                    seize_captions_free(c2);
                    free(rows2);
                }
            }
        }
    }
    if (cached(r, stage, j->key_captions, outs)) {
        stage_log(r, j->name, "captions", "cached", seize_now() - t0, NULL);
    } else if (j->captions_file) {
        json_t *lines = json_array();
        for (size_t q = 0; q < j->n_q; q++) {
            size_t i = rows[q];
            json_array_append_new(lines, json_pack("{s:s, s:s, s:o}", "id", j->q_id[q], "reference",
                                                   j->q_ref_name[q], "captions",
                                                   str_array(from_file->captions[i], from_file->n_captions[i])));
        }
        rc = write_jsonl(cap_out, lines);
        json_decref(lines);
        if (rc == 0) rc = record_key(r, stage, j->key_captions);
        stage_log(r, j->name, "captions", "from file", seize_now() - t0,
                  json_pack("{s:I}", "queries", (json_int_t)j->n_q));
    } else {
        if (!o->cap_endpoint || !o->cap_model) {
            rc = seize_error(SEIZE_EINVAL, "no captions: give --captions FILE, or --captioner-endpoint and --captioner-model");
            goto done1;
        }
        // each reference image once
        char *list = join(j->dir, "caption-images.txt");
        char **uniq = calloc(j->n_q + 1, sizeof *uniq);
        size_t n_u = 0;
        for (size_t q = 0; q < j->n_q; q++) {
            int seen = 0;
            for (size_t u = 0; u < n_u && !seen; u++) seen = !strcmp(uniq[u], j->q_ref_path[q]);
            if (!seen) uniq[n_u++] = j->q_ref_path[q];
        }
        rc = write_lines(list, uniq, n_u);
        char *raw = join(j->dir, "captions.raw.jsonl");
        char nbuf[32];
        snprintf(nbuf, sizeof nbuf, "%d", o->num_captions);
        args a = {0};
        arg(&a, "caption");
        arg2(&a, "--list", list);
        arg2(&a, "--out", raw);
        arg2(&a, "--endpoint", o->cap_endpoint);
        arg2(&a, "--model", o->cap_model);
        arg2(&a, "-n", nbuf);
        arg2(&a, "--prompt", o->cap_prompt);
        arg2(&a, "--temperature", o->temperature ? o->temperature : "1.0");
        arg2(&a, "--top-p", o->top_p ? o->top_p : "0.9");
        add_llm_opts(r, &a);
        int st = rc == 0 ? spawn(r, NULL, a.v) : 1;
        if (rc == 0 && st != 0) {
            rc = SEIZE_ENET;
            seize_error(rc, "caption stage failed (seize caption exit %d); rerun to retry the failed images", st);
        }
        json_t *raw_rows = NULL;
        if (rc == 0) rc = seize_jsonl_load(raw, &raw_rows);
        if (rc == 0) {
            json_t *lines = json_array();
            for (size_t q = 0; q < j->n_q && rc == 0; q++) {
                json_t *caps = NULL;
                size_t i;
                json_t *v;
                json_array_foreach(raw_rows, i, v)
                {
                    const char *img = json_string_value(json_object_get(v, "image"));
                    if (img && !strcmp(img, j->q_ref_path[q])) caps = json_object_get(v, "captions");
                }
                if (!json_is_array(caps)) {
                    rc = seize_error(SEIZE_EFORMAT, "'%s': no captions for '%s'", raw, j->q_ref_path[q]);
                    break;
                }
                json_array_append_new(lines, json_pack("{s:s, s:s, s:O}", "id", j->q_id[q], "reference",
                                                       j->q_ref_name[q], "captions", caps));
            }
            if (rc == 0) rc = write_jsonl(cap_out, lines);
            json_decref(lines);
        }
        json_decref(raw_rows);
        if (rc == 0) rc = record_key(r, stage, j->key_captions);
        stage_log(r, j->name, "captions", rc == 0 ? "ran" : "failed", seize_now() - t0,
                  json_pack("{s:I}", "images", (json_int_t)n_u));
        free(uniq);
        free(list);
        free(raw);
    }
    if (rc < 0) goto done1;

    // ---- edits
    t0 = seize_now();
    seize_sha256_init(&h);
    k_str(&h, "edits/1");
    k_str(&h, j->key_captions);
    if (!have_edits_in_file) {
        k_str(&h, o->llm_endpoint);
        k_str(&h, o->llm_model);
        k_str(&h, o->seed);
        if (o->prompt_file && (rc = k_file(&h, o->prompt_file, 1)) < 0) goto done1;
        k_num(&h, o->num_captions);
    }
    j->key_edits = k_final(&h);
    free(stage);
    stage = fmt("%s/edits", j->name);
    const char *eouts[] = {ed_out, NULL};
    if (cached(r, stage, j->key_edits, eouts)) {
        stage_log(r, j->name, "edits", "cached", seize_now() - t0, NULL);
    } else if (have_edits_in_file) {
        json_t *lines = json_array();
        for (size_t q = 0; q < j->n_q; q++) {
            size_t i = rows[q];
            json_array_append_new(lines, json_pack("{s:s, s:s, s:o, s:o}", "id", j->q_id[q], "relative_text",
                                                   j->q_text[q], "captions",
                                                   str_array(from_file->captions[i], from_file->n_captions[i]),
                                                   "edited", str_array(from_file->edits[i], from_file->n_edits[i])));
        }
        rc = write_jsonl(ed_out, lines);
        json_decref(lines);
        if (rc == 0) rc = record_key(r, stage, j->key_edits);
        stage_log(r, j->name, "edits", "from file", seize_now() - t0, NULL);
    } else {
        if (!o->llm_endpoint || !o->llm_model) {
            rc = seize_error(SEIZE_EINVAL, "the captions have no edits: give --llm-endpoint and --llm-model (or a caption file with edits)");
            goto done1;
        }
        // the reason stage's input: our captions, first N each
        json_t *caps_rows;
        if ((rc = seize_jsonl_load(cap_out, &caps_rows)) < 0) goto done1;
        json_t *lines = json_array();
        for (size_t q = 0; q < j->n_q; q++) {
            json_t *caps = json_object_get(json_array_get(caps_rows, q), "captions"), *first = json_array();
            for (size_t i = 0; i < json_array_size(caps) && i < (size_t)o->num_captions; i++)
                json_array_append(first, json_array_get(caps, i));
            json_array_append_new(lines, json_pack("{s:s, s:s, s:o}", "id", j->q_id[q], "relative_text",
                                                   j->q_text[q], "captions", first));
        }
        json_decref(caps_rows);
        char *qin = join(j->dir, "reason-input.jsonl");
        rc = write_jsonl(qin, lines);
        json_decref(lines);
        args a = {0};
        arg(&a, "reason");
        arg2(&a, "--input", qin);
        arg2(&a, "--out", ed_out);
        arg2(&a, "--endpoint", o->llm_endpoint);
        arg2(&a, "--model", o->llm_model);
        arg2(&a, "--prompt-file", o->prompt_file);
        add_llm_opts(r, &a);
        int st = rc == 0 ? spawn(r, NULL, a.v) : 1;
        if (rc == 0 && st != 0) {
            rc = SEIZE_ENET;
            seize_error(rc, "editing stage failed (seize reason exit %d); rerun to retry the failed queries", st);
        }
        if (rc == 0) rc = record_key(r, stage, j->key_edits);
        stage_log(r, j->name, "edits", rc == 0 ? "ran" : "failed", seize_now() - t0,
                  json_pack("{s:I}", "queries", (json_int_t)j->n_q));
        free(qin);
    }
done1:
    seize_captions_free(from_file);
    free(rows);
    free(stage);
done:
    free(cap_out);
    free(ed_out);
    return rc;
}

// --- stage 2: the gallery index ------------------------------------------------------------------

static int model_hash(run_state *r)
{
    if (r->model_sha[0]) return 0;
    seize_model *m;
    int rc = seize_model_load(r->o.model_dir, &m);
    if (rc < 0) return rc;
    char *w = seize_strdup(seize_model_weights_path(m));
    seize_model_free(m);
    struct stat st;
    if (stat(w, &st) != 0) {
        free(w);
        return seize_error(SEIZE_EIO, "cannot stat the model weights");
    }
    char *id = fmt("%s|%lld|%lld.%09ld", w, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                   st.st_mtim.tv_nsec);
    json_t *c = json_object_get(r->cache, "model");
    if (json_is_object(c) && json_is_string(json_object_get(c, "id")) &&
        !strcmp(json_string_value(json_object_get(c, "id")), id) &&
        json_is_string(json_object_get(c, "sha256"))) {
        snprintf(r->model_sha, sizeof r->model_sha, "%s", json_string_value(json_object_get(c, "sha256")));
    } else {
        uint8_t d[32];
        if ((rc = seize_sha256_file(w, d)) < 0) {
            free(w);
            free(id);
            return rc;
        }
        seize_sha256_hex(d, r->model_sha);
        json_object_set_new(r->cache, "model", json_pack("{s:s, s:s}", "id", id, "sha256", r->model_sha));
        rc = save_cache(r);
    }
    free(w);
    free(id);
    return rc;
}

static int stage_index(run_state *r, job *j)
{
    const run_opts *o = &r->o;
    double t0 = seize_now();
    int rc = model_hash(r);
    if (rc < 0) return rc;
    seize_sha256 h;
    seize_sha256_init(&h);
    k_str(&h, "index/1");
    k_str(&h, r->model_sha);
    k_num(&h, o->no_pad);
    for (size_t i = 0; i < j->gl->n; i++) {
        k_str(&h, j->gl->names[i]);
        if ((rc = k_file(&h, j->g_paths[i], 0)) < 0) return rc;
    }
    j->key_index = k_final(&h);
    char *dir = join(j->dir, "index"), *feat = join(dir, "features.npy"), *names = join(dir, "names.txt");
    char *stage = fmt("%s/index", j->name);
    const char *outs[] = {feat, names, NULL};
    if (cached(r, stage, j->key_index, outs)) {
        stage_log(r, j->name, "index", "cached", seize_now() - t0, NULL);
    } else {
        // NAME<TAB>PATH per image, as seize index build --list reads it
        char *list = join(j->dir, "gallery-images.txt");
        char **lines = calloc(j->gl->n + 1, sizeof *lines);
        if (!lines) rc = seize_error(SEIZE_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < j->gl->n; i++) lines[i] = fmt("%s\t%s", j->gl->names[i], j->g_paths[i]);
        if (rc == 0) rc = write_lines(list, lines, j->gl->n);
        for (size_t i = 0; lines && i < j->gl->n; i++) free(lines[i]);
        free(lines);
        char bb[32], tb[32];
        snprintf(bb, sizeof bb, "%d", o->batch);
        snprintf(tb, sizeof tb, "%d", o->threads);
        args a = {0};
        arg(&a, "index");
        arg(&a, "build");
        arg2(&a, "--model", o->model_dir);
        arg2(&a, "--list", list);
        arg2(&a, "--out", dir);
        arg2(&a, "--batch", bb);
        if (o->threads > 0) arg2(&a, "--threads", tb);
        if (o->no_pad) arg(&a, "--no-pad");
        if (o->quiet) arg(&a, "--quiet");
        int st = rc == 0 ? spawn(r, NULL, a.v) : 1;
        if (rc == 0 && st != 0 && st != EXIT_PARTIAL) rc = seize_error(SEIZE_EIO, "index stage failed (seize index build exit %d)", st);
        if (rc == 0) rc = record_key(r, stage, j->key_index);
        stage_log(r, j->name, "index", rc == 0 ? "ran" : "failed", seize_now() - t0,
                  json_pack("{s:I}", "images", (json_int_t)j->gl->n));
        free(list);
    }
    // failed gallery images, from index.json (also when cached: the manifest lists them)
    if (rc == 0) {
        char *ij = join(dir, "index.json");
        json_t *meta;
        if (seize_json_load(ij, &meta) == 0) {
            json_t *failed = json_object_get(meta, "failed");
            size_t i;
            json_t *v;
            json_array_foreach(failed, i, v)
            {
                const char *name = json_string_value(json_object_get(v, "name"));
                const char *why = json_string_value(json_object_get(v, "reason"));
                fprintf(stderr, "seize run: %s: gallery image %s left out: %s\n", j->name, name ? name : "?",
                        why ? why : "?");
                json_array_append_new(r->failed, json_pack("{s:s, s:s, s:s, s:s}", "job", j->name, "stage", "index",
                                                           "item", name ? name : "?", "error", why ? why : "?"));
                r->partial = 1;
            }
            json_decref(meta);
        }
        free(ij);
    }
    free(stage);
    free(dir);
    free(feat);
    free(names);
    return rc;
}

// --- stage 3: query features ---------------------------------------------------------------------

static int stage_features(run_state *r, job *j)
{
    const run_opts *o = &r->o;
    double t0 = seize_now();
    char *ed = join(j->dir, "edits.jsonl"), *fa = join(j->dir, "query-after.npy"),
         *fb = join(j->dir, "query-before.npy");
    int ldre = !strcmp(o->method, "ldre");
    int rc = model_hash(r);
    seize_sha256 h;
    seize_sha256_init(&h);
    k_str(&h, "features/1");
    k_str(&h, r->model_sha);
    if (rc == 0) rc = k_file(&h, ed, 1);
    k_num(&h, o->num_captions);
    k_num(&h, ldre);
    j->key_features = k_final(&h);
    char *stage = fmt("%s/features", j->name);
    const char *outs[] = {fa, fb, NULL};
    if (rc == 0 && cached(r, stage, j->key_features, outs)) {
        stage_log(r, j->name, "features", "cached", seize_now() - t0, NULL);
    } else if (rc == 0) {
        // edits.jsonl holds the queries in order with "captions" and "edited"
        char nb[32], bb[32], tb[32];
        snprintf(nb, sizeof nb, "%d", o->num_captions);
        snprintf(bb, sizeof bb, "%d", o->batch);
        snprintf(tb, sizeof tb, "%d", o->threads);
        args a = {0};
        arg(&a, "query-features");
        arg2(&a, "--model", o->model_dir);
        arg2(&a, "--captions", ed);
        arg2(&a, "--out-after", fa);
        arg2(&a, "--out-before", fb);
        arg2(&a, "--num-captions", nb);
        arg2(&a, "--batch", bb);
        if (o->threads > 0) arg2(&a, "--threads", tb);
        if (ldre) arg(&a, "--per-caption");
        if (o->quiet) arg(&a, "--quiet");
        int st = spawn(r, NULL, a.v);
        if (st != 0) rc = seize_error(SEIZE_EIO, "query features failed (seize query-features exit %d)", st);
        if (rc == 0) rc = record_key(r, stage, j->key_features);
        stage_log(r, j->name, "features", rc == 0 ? "ran" : "failed", seize_now() - t0,
                  json_pack("{s:I}", "queries", (json_int_t)j->n_q));
    }
    free(stage);
    free(ed);
    free(fa);
    free(fb);
    return rc;
}

// --- stage 4: search -------------------------------------------------------------------------------

static int stage_search(run_state *r, job *j)
{
    const run_opts *o = &r->o;
    double t0 = seize_now();
    char *out = join(j->dir, "rankings.jsonl"), *fa = join(j->dir, "query-after.npy"),
         *fb = join(j->dir, "query-before.npy"), *idx = join(j->dir, "index"),
         *refs = join(j->dir, "query-references.txt");
    seize_sha256 h;
    seize_sha256_init(&h);
    k_str(&h, "search/1");
    k_str(&h, j->key_index);
    k_str(&h, j->key_features);
    k_str(&h, o->method);
    k_num(&h, o->pos);
    k_num(&h, o->neg);
    k_num(&h, o->k);
    j->key_search = k_final(&h);
    char *stage = fmt("%s/search", j->name);
    const char *outs[] = {out, NULL};
    int rc = 0;
    if (cached(r, stage, j->key_search, outs)) {
        stage_log(r, j->name, "search", "cached", seize_now() - t0, NULL);
    } else {
        // exclusions: the reference's gallery name, or an empty line when it is not in it
        char **ex = calloc(j->n_q + 1, sizeof *ex);
        if (!ex) rc = seize_error(SEIZE_ENOMEM, "out of memory");
        for (size_t q = 0; rc == 0 && q < j->n_q; q++)
            ex[q] = j->q_ref_row[q] == SIZE_MAX ? "" : j->gl->names[j->q_ref_row[q]];
        if (rc == 0) rc = write_lines(refs, ex, j->n_q);
        free(ex);
        char pb[64], nb[64], kb[32], tb[32];
        snprintf(pb, sizeof pb, "%.9g", o->pos);
        snprintf(nb, sizeof nb, "%.9g", o->neg);
        snprintf(kb, sizeof kb, "%d", o->k);
        snprintf(tb, sizeof tb, "%d", o->threads);
        args a = {0};
        arg(&a, "search");
        arg2(&a, "--index", idx);
        arg2(&a, "--after", fa);
        arg2(&a, "--before", fb);
        arg2(&a, "--method", o->method);
        arg2(&a, "--pos", pb);
        arg2(&a, "--neg", nb);
        arg2(&a, "--k", kb);
        if (o->threads > 0) arg2(&a, "--threads", tb);
        if (j->kind == SEIZE_DS_CIRR && !j->folder) { // subsets (img_set.members) and exclusions
            arg2(&a, "--dataset", "cirr");
            arg2(&a, "--annotations", j->annotations);
        } else {
            arg2(&a, "--exclude", refs);
        }
        arg2(&a, "--out", out);
        int st = rc == 0 ? spawn(r, NULL, a.v) : 1;
        if (rc == 0 && st != 0) rc = seize_error(SEIZE_EIO, "search stage failed (seize search exit %d)", st);
        if (rc == 0) rc = record_key(r, stage, j->key_search);
        stage_log(r, j->name, "search", rc == 0 ? "ran" : "failed", seize_now() - t0,
                  json_pack("{s:I, s:I}", "queries", (json_int_t)j->n_q, "gallery", (json_int_t)j->gl->n));
    }
    free(stage);
    free(out);
    free(fa);
    free(fb);
    free(idx);
    free(refs);
    return rc;
}

// --- stage 5: metrics or submissions -----------------------------------------------------------------

// Recall@k for folder queries with a "target" (the gallery name).
static int folder_metrics(run_state *r, job *j, const char *path)
{
    char *rk = join(j->dir, "rankings.jsonl");
    json_t *rows;
    int rc = seize_jsonl_load(rk, &rows);
    free(rk);
    if (rc < 0) return rc;
    static const int ks[] = {1, 5, 10, 50};
    double hits[4] = {0};
    size_t n = 0;
    for (size_t q = 0; q < j->n_q; q++) {
        if (!j->q_target[q]) continue;
        n++;
        json_t *rank = json_object_get(json_array_get(rows, q), "ranking");
        for (size_t i = 0; i < json_array_size(rank); i++) {
            const char *s = json_string_value(json_array_get(rank, i));
            if (s && !strcmp(s, j->q_target[q])) {
                for (int t = 0; t < 4; t++)
                    if ((int)i < ks[t]) hits[t] += 1;
                break;
            }
        }
    }
    json_decref(rows);
    if (n == 0) return 0;
    json_t *m = json_object();
    for (int t = 0; t < 4; t++) {
        char key[32];
        snprintf(key, sizeof key, "Recall@%d", ks[t]);
        json_object_set_new(m, key, json_real(100.0 * hits[t] / (double)n));
    }
    rc = seize_json_save(path, m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(m);
    return rc;
}

static int stage_results(run_state *r, job *j, int *wrote_metrics)
{
    const run_opts *o = &r->o;
    double t0 = seize_now();
    int rc = 0, val = !strcmp(o->split, "val") || j->folder;
    char *rk = join(j->dir, "rankings.jsonl");
    *wrote_metrics = 0;
    if (j->folder) {
        char *mp = join(j->dir, "metrics.json");
        rc = folder_metrics(r, j, mp);
        *wrote_metrics = seize_path_exists(mp);
        free(mp);
    } else if (val && j->kind != SEIZE_DS_FASHIONIQ) {
        char *mp = join(j->dir, "metrics.json"), *tmp = join(j->dir, "metrics.json.part");
        args a = {0};
        arg(&a, "eval");
        arg(&a, seize_ds_kind_name(j->kind));
        arg2(&a, "--annotations", j->annotations);
        arg2(&a, "--rankings", rk);
        arg(&a, "--json");
        int st = spawn(r, tmp, a.v);
        if (st != 0) rc = seize_error(SEIZE_EIO, "evaluation failed (seize eval exit %d)", st);
        else if (rename(tmp, mp) != 0) rc = seize_error(SEIZE_EIO, "cannot write '%s': %s", mp, strerror(errno));
        else *wrote_metrics = 1;
        unlink(tmp);
        free(mp);
        free(tmp);
    } else if (!val && j->kind == SEIZE_DS_CIRCO) {
        char *sp = join(j->dir, "submission.json");
        args a = {0};
        arg(&a, "submission");
        arg(&a, "circo");
        arg2(&a, "--rankings", rk);
        arg2(&a, "--annotations", j->annotations);
        arg2(&a, "--out", sp);
        int st = spawn(r, NULL, a.v);
        if (st != 0) rc = seize_error(SEIZE_EIO, "writing the submission failed (seize submission exit %d)", st);
        free(sp);
    } else if (!val && j->kind == SEIZE_DS_CIRR) {
        char *sp = join(j->dir, "submission_recall.json"), *ss = join(j->dir, "submission_recall_subset.json");
        args a = {0};
        arg(&a, "submission");
        arg(&a, "cirr");
        arg2(&a, "--rankings", rk);
        arg2(&a, "--annotations", j->annotations);
        arg2(&a, "--out", sp);
        arg2(&a, "--out-subset", ss);
        int st = spawn(r, NULL, a.v);
        if (st != 0) rc = seize_error(SEIZE_EIO, "writing the submissions failed (seize submission exit %d)", st);
        free(sp);
        free(ss);
    }
    stage_log(r, j->name, val ? "metrics" : "submission", rc == 0 ? "ran" : "failed", seize_now() - t0, NULL);
    free(rk);
    return rc;
}

// --- stage 6: report ---------------------------------------------------------------------------------

static int stage_report(run_state *r, job *j)
{
    const run_opts *o = &r->o;
    double t0 = seize_now();
    char *rk = join(j->dir, "rankings.jsonl"), *ed = join(j->dir, "edits.jsonl"), *out = join(j->dir, "report.html");
    json_t *rows = NULL, *eds = NULL;
    int rc = seize_jsonl_load(rk, &rows);
    if (rc == 0) rc = seize_jsonl_load(ed, &eds);
    size_t n = j->n_q < (size_t)o->report_queries ? j->n_q : (size_t)o->report_queries;
    report_query *qs = calloc(n + 1, sizeof *qs);
    name_map m = {0};
    if (rc == 0 && !qs) rc = seize_error(SEIZE_ENOMEM, "out of memory");
    if (rc == 0) rc = build_map(j, &m);
    for (size_t q = 0; rc == 0 && q < n; q++) {
        report_query *x = &qs[q];
        json_t *row = json_array_get(rows, q), *rank = json_object_get(row, "ranking"),
               *scores = json_object_get(row, "scores"), *e = json_array_get(eds, q);
        json_t *caps = json_object_get(e, "captions"), *edits = json_object_get(e, "edited");
        x->id = j->q_id[q];
        x->ref_name = j->q_ref_name[q];
        x->ref_path = j->q_ref_path[q];
        x->relative_text = j->q_text[q];
        x->n_captions = json_array_size(caps) < (size_t)o->num_captions ? json_array_size(caps) : (size_t)o->num_captions;
        const char **cv = calloc(x->n_captions + 1, sizeof *cv), **ev = calloc(x->n_captions + 1, sizeof *ev);
        for (size_t i = 0; cv && ev && i < x->n_captions; i++) {
            cv[i] = json_string_value(json_array_get(caps, i));
            ev[i] = json_string_value(json_array_get(edits, i));
        }
        x->captions = cv;
        x->edits = ev;
        x->k = json_array_size(rank) < (size_t)o->report_k ? json_array_size(rank) : (size_t)o->report_k;
        const char **tn = calloc(x->k + 1, sizeof *tn), **tp = calloc(x->k + 1, sizeof *tp);
        float *ts = calloc(x->k + 1, sizeof *ts);
        uint8_t *gt = calloc(x->k + 1, 1);
        for (size_t i = 0; tn && tp && ts && gt && i < x->k; i++) {
            tn[i] = json_string_value(json_array_get(rank, i));
            size_t row_i = tn[i] ? name_row(j, &m, tn[i]) : SIZE_MAX;
            tp[i] = row_i == SIZE_MAX ? NULL : j->g_paths[row_i];
            ts[i] = (float)json_number_value(json_array_get(scores, i));
            if (j->ds && tn[i]) {
                const seize_query *dq = &j->ds->q[q];
                for (size_t g = 0; g < dq->n_gt; g++)
                    if (!strcmp(dq->gt[g], tn[i])) gt[i] = 1;
            } else if (j->q_target[q] && tn[i]) {
                gt[i] = !strcmp(j->q_target[q], tn[i]);
            }
        }
        x->top_names = tn;
        x->top_paths = tp;
        x->top_scores = ts;
        x->top_gt = gt;
        x->has_gt = j->q_target[q] != NULL;
    }
    if (rc == 0) {
        char *title = fmt("seize run: %s (%s)", j->name, j->folder ? "folder" : o->split);
        char *summary = fmt("model %s\nmethod %s, pos %.4g, neg %.4g, %d captions per query\n%zu queries, %zu gallery images",
                            o->model_dir, o->method, o->pos, o->neg, o->num_captions, j->n_q, j->gl->n);
        rc = report_write(out, title, summary, qs, n, 128);
        free(title);
        free(summary);
    }
    for (size_t q = 0; qs && q < n; q++) {
        free((void *)qs[q].captions);
        free((void *)qs[q].edits);
        free((void *)qs[q].top_names);
        free((void *)qs[q].top_paths);
        free((void *)qs[q].top_scores);
        free((void *)qs[q].top_gt);
    }
    free(qs);
    free_map(&m);
    json_decref(rows);
    json_decref(eds);
    stage_log(r, j->name, "report", rc == 0 ? "ran" : "failed", seize_now() - t0, NULL);
    free(rk);
    free(ed);
    free(out);
    return rc;
}

// --- the command -------------------------------------------------------------------------------------

static int run_job(run_state *r, job *j)
{
    int rc = seize_mkdirs(j->dir);
    if (rc == 0) rc = stage_captions(r, j);
    if (rc == 0) rc = stage_index(r, j);
    if (rc == 0) rc = stage_features(r, j);
    if (rc == 0) rc = stage_search(r, j);
    int wrote = 0;
    if (rc == 0) rc = stage_results(r, j, &wrote);
    if (rc == 0) rc = stage_report(r, j);
    return rc;
}

static json_t *params_json(const run_opts *o)
{
    json_t *p = json_object();
#define S(k, v) json_object_set_new(p, k, (v) ? json_string(v) : json_null())
    S("dataset", o->dataset);
    S("data_root", o->data_root);
    S("split", o->split);
    S("model", o->model_dir);
    S("out", o->out_dir);
    S("gallery", o->gallery_dir);
    S("queries", o->queries_file);
    S("captions", o->captions_file);
    S("category", o->category);
    S("captioner_endpoint", o->cap_endpoint);
    S("captioner_model", o->cap_model);
    S("llm_endpoint", o->llm_endpoint);
    S("llm_model", o->llm_model);
    S("caption_prompt", o->cap_prompt);
    S("prompt_file", o->prompt_file);
    S("temperature", o->temperature ? o->temperature : "1.0");
    S("top_p", o->top_p ? o->top_p : "0.9");
    S("concurrency", o->concurrency);
    S("timeout", o->timeout);
    S("max_attempts", o->max_attempts);
    S("fiq_join", o->fiq_join);
    S("method", o->method);
#undef S
    json_object_set_new(p, "pos", json_real(o->pos));
    json_object_set_new(p, "neg", json_real(o->neg));
    json_object_set_new(p, "num_captions", json_integer(o->num_captions));
    json_object_set_new(p, "k", json_integer(o->k));
    json_object_set_new(p, "preprocess", json_string(o->no_pad ? "clip" : "targetpad-1.25"));
    json_object_set_new(p, "batch", json_integer(o->batch));
    json_object_set_new(p, "threads", json_integer(o->threads));
    return p;
}

int cmd_run(int argc, char **argv)
{
    enum {
        O_ROOT = 256, O_SPLIT, O_MODEL, O_OUT, O_GALLERY, O_QUERIES, O_CAPTIONS, O_CATEGORY,
        O_CAP_EP, O_CAP_MODEL, O_LLM_EP, O_LLM_MODEL, O_CAP_PROMPT, O_PROMPT_FILE, O_TEMP, O_TOPP,
        O_SEED, O_CONC, O_TIMEOUT, O_ATTEMPTS, O_FIQ, O_NUMCAP, O_METHOD, O_POS, O_NEG, O_K,
        O_NOPAD, O_BATCH, O_THREADS, O_RQ, O_RK, O_BACKOFF
    };
    static const struct option opts[] = {
        {"data-root", required_argument, NULL, O_ROOT},
        {"split", required_argument, NULL, O_SPLIT},
        {"model", required_argument, NULL, O_MODEL},
        {"out", required_argument, NULL, O_OUT},
        {"gallery", required_argument, NULL, O_GALLERY},
        {"queries", required_argument, NULL, O_QUERIES},
        {"captions", required_argument, NULL, O_CAPTIONS},
        {"category", required_argument, NULL, O_CATEGORY},
        {"captioner-endpoint", required_argument, NULL, O_CAP_EP},
        {"captioner-model", required_argument, NULL, O_CAP_MODEL},
        {"llm-endpoint", required_argument, NULL, O_LLM_EP},
        {"llm-model", required_argument, NULL, O_LLM_MODEL},
        {"caption-prompt", required_argument, NULL, O_CAP_PROMPT},
        {"prompt-file", required_argument, NULL, O_PROMPT_FILE},
        {"temperature", required_argument, NULL, O_TEMP},
        {"top-p", required_argument, NULL, O_TOPP},
        {"seed", required_argument, NULL, O_SEED},
        {"concurrency", required_argument, NULL, O_CONC},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"max-attempts", required_argument, NULL, O_ATTEMPTS},
        {"backoff-base", required_argument, NULL, O_BACKOFF},
        {"fiq-join", required_argument, NULL, O_FIQ},
        {"num-captions", required_argument, NULL, O_NUMCAP},
        {"method", required_argument, NULL, O_METHOD},
        {"pos", required_argument, NULL, O_POS},
        {"neg", required_argument, NULL, O_NEG},
        {"k", required_argument, NULL, O_K},
        {"no-pad", no_argument, NULL, O_NOPAD},
        {"batch", required_argument, NULL, O_BATCH},
        {"threads", required_argument, NULL, O_THREADS},
        {"report-queries", required_argument, NULL, O_RQ},
        {"report-k", required_argument, NULL, O_RK},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    run_state R;
    memset(&R, 0, sizeof R);
    run_opts *o = &R.o;
    o->method = "seize";
    o->num_captions = 15;
    o->k = 50;
    o->batch = 32;
    o->report_queries = 10;
    o->report_k = 10;
    int c;
    long n;
    double d;
    optind = 0;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case O_ROOT: o->data_root = optarg; break;
        case O_SPLIT: o->split = optarg; break;
        case O_MODEL: o->model_dir = optarg; break;
        case O_OUT: o->out_dir = optarg; break;
        case O_GALLERY: o->gallery_dir = optarg; break;
        case O_QUERIES: o->queries_file = optarg; break;
        case O_CAPTIONS: o->captions_file = optarg; break;
        case O_CATEGORY: o->category = optarg; break;
        case O_CAP_EP: o->cap_endpoint = optarg; break;
        case O_CAP_MODEL: o->cap_model = optarg; break;
        case O_LLM_EP: o->llm_endpoint = optarg; break;
        case O_LLM_MODEL: o->llm_model = optarg; break;
        case O_CAP_PROMPT: o->cap_prompt = optarg; break;
        case O_PROMPT_FILE: o->prompt_file = optarg; break;
        case O_TEMP: o->temperature = optarg; break;
        case O_TOPP: o->top_p = optarg; break;
        case O_SEED: o->seed = optarg; break;
        case O_CONC: o->concurrency = optarg; break;
        case O_TIMEOUT: o->timeout = optarg; break;
        case O_ATTEMPTS: o->max_attempts = optarg; break;
        case O_BACKOFF: o->backoff_base = optarg; break;
        case O_FIQ: o->fiq_join = optarg; break;
        case O_NUMCAP:
            if (cli_parse_int(optarg, 1, 1000, &n) < 0) return cli_usage("run", "--num-captions needs a number from 1 to 1000");
            o->num_captions = (int)n;
            break;
        case O_METHOD:
            if (strcmp(optarg, "seize") && strcmp(optarg, "mean") && strcmp(optarg, "ldre"))
                return cli_usage("run", "--method must be seize, mean or ldre");
            o->method = optarg;
            break;
        case O_POS:
            if (cli_parse_float(optarg, &d) < 0) return cli_usage("run", "--pos needs a number");
            o->pos = d;
            o->pos_set = 1;
            break;
        case O_NEG:
            if (cli_parse_float(optarg, &d) < 0) return cli_usage("run", "--neg needs a number");
            o->neg = d;
            o->neg_set = 1;
            break;
        case O_K:
            if (cli_parse_int(optarg, 1, 100000, &n) < 0) return cli_usage("run", "--k needs a number from 1 to 100000");
            o->k = (int)n;
            break;
        case O_NOPAD: o->no_pad = 1; break;
        case O_BATCH:
            if (cli_parse_int(optarg, 1, 4096, &n) < 0) return cli_usage("run", "--batch needs a number from 1 to 4096");
            o->batch = (int)n;
            break;
        case O_THREADS:
            if (cli_parse_int(optarg, 1, 1024, &n) < 0) return cli_usage("run", "--threads needs a number from 1 to 1024");
            o->threads = (int)n;
            break;
        case O_RQ:
            if (cli_parse_int(optarg, 0, 100000, &n) < 0) return cli_usage("run", "--report-queries needs a number");
            o->report_queries = (int)n;
            break;
        case O_RK:
            if (cli_parse_int(optarg, 1, 1000, &n) < 0) return cli_usage("run", "--report-k needs a number");
            o->report_k = (int)n;
            break;
        case 'q': o->quiet = 1; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: return cli_usage("run", "invalid option");
        }
    }
    if (optind != argc - 1) return cli_usage("run", "expected one DATASET (circo, cirr, fashioniq or folder)");
    o->dataset = argv[optind];
    int folder = !strcmp(o->dataset, "folder");
    seize_ds_kind kind = SEIZE_DS_CIRCO;
    if (!folder && seize_ds_kind_parse(o->dataset, &kind) < 0)
        return cli_usage("run", "unknown DATASET '%s' (circo, cirr, fashioniq or folder)", o->dataset);
    if (!o->model_dir || !o->out_dir) return cli_usage("run", "--model and --out are required");
    if (folder) {
        if (!o->gallery_dir || !o->queries_file) return cli_usage("run", "folder needs --gallery and --queries");
        if (!o->split) o->split = "val";
    } else {
        if (!o->data_root || !o->split) return cli_usage("run", "%s needs --data-root and --split", o->dataset);
        if (strcmp(o->split, "val") && strcmp(o->split, "test") && strcmp(o->split, "test1"))
            return cli_usage("run", "--split must be val or test");
        if (!strcmp(o->split, "test") && kind == SEIZE_DS_CIRR) o->split = "test1";
    }
    if (o->category && (kind != SEIZE_DS_FASHIONIQ || folder)) return cli_usage("run", "--category is for fashioniq");
    // per-dataset defaults of ARCHITECTURE.md §1
    if (!o->pos_set) o->pos = kind == SEIZE_DS_CIRR && !folder ? 0.22 : 0.13;
    if (!o->neg_set) o->neg = kind == SEIZE_DS_CIRR && !folder ? 1.0 : 2.1;
    if (!strcmp(o->method, "mean")) o->pos = o->neg = 0;

    ssize_t len = readlink("/proc/self/exe", R.exe, sizeof R.exe - 1);
    if (len <= 0) return cli_fail("run", "cannot find this program's path: %s", strerror(errno));
    R.exe[len] = 0;
    if (seize_mkdirs(o->out_dir) < 0) return cli_lib_fail("run");
    char *cp = join(o->out_dir, ".seize-cache.json");
    if (!seize_path_exists(cp) || seize_json_load(cp, &R.cache) < 0 || !json_is_object(R.cache)) {
        json_decref(R.cache);
        R.cache = json_object();
    }
    free(cp);
    R.stages = json_array();
    R.failed = json_array();
    double t0 = seize_now();

    static const char *cats[] = {"dress", "shirt", "toptee"};
    job jobs[3];
    memset(jobs, 0, sizeof jobs);
    size_t n_jobs = 1;
    int rc = 0;
    if (folder) {
        jobs[0].name = "folder";
        jobs[0].folder = 1;
        jobs[0].dir = seize_strdup(o->out_dir);
        if (o->captions_file) jobs[0].captions_file = seize_strdup(o->captions_file);
        rc = setup_folder_job(&R, &jobs[0]);
    } else if (kind == SEIZE_DS_FASHIONIQ) {
        n_jobs = 0;
        for (int i = 0; i < 3 && rc == 0; i++) {
            if (o->category && strcmp(o->category, cats[i])) continue;
            job *j = &jobs[n_jobs++];
            j->kind = kind;
            j->name = cats[i];
            j->dir = join(o->out_dir, cats[i]);
            if (o->captions_file) { // '{category}' is replaced
                const char *at = strstr(o->captions_file, "{category}");
                j->captions_file = at ? fmt("%.*s%s%s", (int)(at - o->captions_file), o->captions_file, cats[i], at + 10)
                                      : seize_strdup(o->captions_file);
            }
            rc = setup_dataset_job(&R, j, cats[i]);
        }
        if (n_jobs == 0) rc = seize_error(SEIZE_EINVAL, "unknown --category '%s' (dress, shirt or toptee)", o->category);
    } else {
        jobs[0].kind = kind;
        jobs[0].name = seize_ds_kind_name(kind);
        jobs[0].dir = seize_strdup(o->out_dir);
        if (o->captions_file) jobs[0].captions_file = seize_strdup(o->captions_file);
        rc = setup_dataset_job(&R, &jobs[0], NULL);
    }
    for (size_t i = 0; rc == 0 && i < n_jobs; i++) rc = run_job(&R, &jobs[i]);

    // FashionIQ val: one metrics file over the categories run
    if (rc == 0 && kind == SEIZE_DS_FASHIONIQ && !folder && !strcmp(o->split, "val")) {
        char *mp = join(o->out_dir, "metrics.json"), *tmp = join(o->out_dir, "metrics.json.part");
        args a = {0};
        arg(&a, "eval");
        arg(&a, "fashioniq");
        char *paths[6] = {0};
        for (size_t i = 0; i < n_jobs; i++) {
            paths[2 * i] = jobs[i].annotations;
            paths[2 * i + 1] = join(jobs[i].dir, "rankings.jsonl");
            arg2(&a, "--annotations", paths[2 * i]);
            arg2(&a, "--rankings", paths[2 * i + 1]);
        }
        arg(&a, "--json");
        int st = spawn(&R, tmp, a.v);
        if (st != 0) rc = seize_error(SEIZE_EIO, "evaluation failed (seize eval exit %d)", st);
        else if (rename(tmp, mp) != 0) rc = seize_error(SEIZE_EIO, "cannot write '%s': %s", mp, strerror(errno));
        unlink(tmp);
        for (size_t i = 0; i < n_jobs; i++) free(paths[2 * i + 1]);
        free(mp);
        free(tmp);
    }

    // manifest.json: what ran, with what, and what failed
    R.manifest = json_object();
    json_object_set_new(R.manifest, "seize_version", json_string(SEIZE_VERSION));
    json_t *cmd = json_array();
    for (int i = 0; i < argc; i++) json_array_append_new(cmd, json_string(argv[i]));
    json_object_set_new(R.manifest, "command", cmd);
    json_object_set_new(R.manifest, "status", json_string(rc == 0 ? (R.partial ? "partial" : "ok") : "failed"));
    if (rc < 0) json_object_set_new(R.manifest, "error", json_string(seize_errmsg()));
    json_object_set_new(R.manifest, "model", json_pack("{s:s, s:s*}", "dir", o->model_dir, "sha256",
                                                       R.model_sha[0] ? R.model_sha : NULL));
    json_object_set_new(R.manifest, "parameters", params_json(o));
    json_object_set_new(R.manifest, "seeds", json_pack("{s:s*}", "llm", o->seed));
    json_object_set_new(R.manifest, "stages", R.stages);
    json_object_set_new(R.manifest, "failed", R.failed);
    json_object_set_new(R.manifest, "seconds", json_real(seize_now() - t0));
    char *mpath = join(o->out_dir, "manifest.json");
    char errbuf[1024];
    snprintf(errbuf, sizeof errbuf, "%s", seize_errmsg());
    int mrc = seize_json_save(mpath, R.manifest, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    free(mpath);
    json_decref(R.manifest);
    json_decref(R.cache);
    for (size_t i = 0; i < n_jobs; i++) job_free(&jobs[i]);
    if (rc < 0) return cli_fail("run", "%s", errbuf);
    if (mrc < 0) return cli_lib_fail("run");
    if (R.partial) {
        fprintf(stderr, "seize run: finished, but some items failed (see manifest.json)\n");
        return EXIT_PARTIAL;
    }
    say(&R, "done in %.1f s: %s", seize_now() - t0, o->out_dir);
    return EXIT_OK;
}
