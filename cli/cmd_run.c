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
#include "seize/image.h"
#include "seize/index.h"
#include "seize/model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
    "  folder     --gallery FOLDER (its images, named by their path in it, searched recursively;\n"
    "             linked folders entered once) and --queries FILE (JSON Lines {\"id\", \"reference\",\n"
    "             \"relative_text\"[, \"target\"]}; ids unique; a target must be a gallery name)\n"
    "\n"
    "Paths: relative paths in options (--gallery, --data-root, --out, --queries, --captions,\n"
    "--model, --prompt-file) are taken from the current folder, as in any shell command. A\n"
    "query's \"reference\" is an image path: absolute, or relative to the current folder, else\n"
    "relative to the queries file's folder; failing both it is taken as a gallery name (the path\n"
    "inside --gallery). Everything is checked before the first request: the model folder, the\n"
    "dataset's files and folders, every reference image (a JPEG or PNG file), ids and targets.\n"
    "\n"
    "Captions and edits (one of):\n"
    "  --captions FILE            the authors' caption file (multi_caption_opt, multi_gpt-3.5_opt)\n"
    "                             or JSON Lines {\"id\", \"captions\", \"edits\"|\"edited\"}; for\n"
    "                             fashioniq '{category}' in FILE is replaced by the category.\n"
    "                             Without edits in it, the LLM stage makes them.\n"
    "  --captioner-endpoint URL --captioner-model NAME   caption stage (seize caption)\n"
    "  --llm-endpoint URL --llm-model NAME               editing stage (seize reason)\n"
    "                             (both endpoints default to $OPENAI_BASE_URL; the key comes\n"
    "                             from $OPENAI_API_KEY)\n"
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
    "Run folder:\n"
    "  --restart                  discard the unfinished stages' partial state (journals, a\n"
    "                             partial index) and start them over; finished stages stay\n"
    "                             cached. A stage starts over by itself when what its partial\n"
    "                             state was made with changed: another captioner or LLM model,\n"
    "                             endpoint, prompt, sampling or seed (answers of unchanged items\n"
    "                             are kept when only the queries changed), another gallery or\n"
    "                             CLIP model for the index.\n"
    "  -q, --quiet                no progress lines\n"
    "  -h, --help                 this help\n"
    "\n"
    "RUN_DIR receives captions.jsonl, edits.jsonl, index/, rankings.jsonl (with the query ids),\n"
    "metrics.json (val, or folder queries with targets), submission files (test), manifest.json\n"
    "(what produced each file: models, endpoints, prompts, settings, the CLIP weights' hash) and\n"
    "report.html (per category for fashioniq). One seize run at a time per RUN_DIR: a second one\n"
    "fails at once (the lock is an flock on the folder itself, so it writes nothing). A rerun\n"
    "whose stages are all cached writes nothing at all (RUN_DIR may then be read-only) and\n"
    "leaves manifest.json as the run that produced the files wrote it. The stages are this\n"
    "program's commands; they end when seize run ends, however it ends.\n"
    "Exit status: 0 done; 1 error; 2 usage; 3 done, but some gallery images failed, or a\n"
    "reference image is not an image (permanent: listed on stderr and in manifest.json);\n"
    "128+N stopped by signal N (130: Ctrl-C; rerun to resume).\n";

// --- options and state -----------------------------------------------------------------------------

typedef struct run_opts {
    const char *dataset, *data_root, *split, *model_dir, *out_dir;
    const char *gallery_dir, *queries_file, *captions_file, *category;
    const char *cap_endpoint, *cap_model, *llm_endpoint, *llm_model, *cap_prompt, *prompt_file;
    const char *temperature, *top_p, *seed, *concurrency, *timeout, *max_attempts, *fiq_join;
    const char *backoff_base; // hidden, for tests
    const char *user_gallery, *user_queries, *user_out; // as given (for messages)
    const char *method;
    double pos, neg;
    int pos_set, neg_set, num_captions, k, batch, threads, no_pad, quiet;
    int report_queries, report_k, restart;
} run_opts;

typedef struct run_state {
    run_opts o;
    char exe[PATH_MAX];
    json_t *cache;    // RUN_DIR/.seize-cache.json: stage keys and the model hash
    json_t *manifest; // built as the run goes
    json_t *stages, *failed;
    char model_sha[65];
    int partial; // some items failed (exit 3)
    int wrote;   // some stage ran (wrote files); a fully cached run writes nothing
    int permanent; // the error is a bad input file: exit 3, and no rerun can fix it
    char *owned[16]; // absolute paths made from the options
    int n_owned;
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
    char **g_paths;    // absolute gallery paths (image_root joined)
    uint8_t *g_missing; // 1 where the gallery image file does not exist (left out of the index)
    size_t n_g_missing;
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

// A path as the user meant it: relative paths are taken from the current folder (the stages
// read lists whose entries would otherwise be taken from the list's folder). Heap string.
static char *absolute_path(const char *p)
{
    char *a;
    if (p[0] == '/') a = seize_strdup(p);
    else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) {
            fprintf(stderr, "seize run: error: cannot find the current folder: %s\n", strerror(errno));
            exit(EXIT_FAIL);
        }
        while (p[0] == '.' && p[1] == '/') p += 2 + strspn(p + 2, "/");
        a = !strcmp(p, ".") || !p[0] ? seize_strdup(cwd) : join(cwd, p);
    }
    size_t n = strlen(a);
    while (n > 1 && a[n - 1] == '/') a[--n] = 0;
    return a;
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

// A stage that must run: records its key as pending and says whether it starts from scratch:
// --restart, or the earlier attempt (finished or not) had other settings (`settings`: what
// makes its partial state, a journal or a partial index, belong to other inputs; NULL: the
// key). The LLM stages pass their settings only: their journals check each item's input, so a
// changed or added query keeps the answers of the others, while another model or prompt
// discards them.
static int begin_stage_ex(run_state *r, const char *stage, const char *key, const char *settings, int *fresh)
{
    if (!settings) settings = key;
    if (access(r->o.out_dir, W_OK) != 0)
        return seize_error(SEIZE_EIO,
                           "run folder '%s' is not writable (%s), and stage %s must run (its inputs or "
                           "settings are not those of its outputs there); make it writable or give "
                           "another --out",
                           r->o.user_out ? r->o.user_out : r->o.out_dir, strerror(errno), stage);
    char *sk = fmt("%s@settings", stage), *pk = fmt("%s@pending", stage);
    json_t *old = json_object_get(r->cache, sk);
    *fresh = r->o.restart || (json_is_string(old) && strcmp(json_string_value(old), settings) != 0);
    json_object_del(r->cache, stage);
    json_object_set_new(r->cache, pk, json_string(key));
    json_object_set_new(r->cache, sk, json_string(settings));
    free(sk);
    free(pk);
    r->wrote = 1;
    return save_cache(r);
}

static int begin_stage(run_state *r, const char *stage, const char *key, int *fresh)
{
    return begin_stage_ex(r, stage, key, NULL, fresh);
}

// A finished stage: its key, and what produced its outputs (`by`, stolen; may be NULL).
static int record_key(run_state *r, const char *stage, const char *key, json_t *by)
{
    char *pk = fmt("%s@pending", stage);
    json_object_del(r->cache, pk);
    free(pk);
    json_object_set_new(r->cache, stage, json_string(key));
    json_t *all = json_object_get(r->cache, "produced_by");
    if (!json_is_object(all)) {
        all = json_object();
        json_object_set_new(r->cache, "produced_by", all);
    }
    if (by) json_object_set_new(all, stage, by);
    else json_object_del(all, stage);
    r->wrote = 1;
    return save_cache(r);
}

// Removes a file and says nothing when it is absent.
static void discard(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT)
        fprintf(stderr, "seize run: warning: cannot remove '%s': %s\n", path, strerror(errno));
}

// A URL for messages and files: any user:password before '@' is replaced by "***".
static char *redact_url(const char *s)
{
    if (!s) return NULL;
    const char *p = strstr(s, "://");
    if (!p) return seize_strdup(s);
    const char *host = p + 3, *end = host + strcspn(host, "/?#"), *at = NULL;
    for (const char *q = host; q < end; q++)
        if (*q == '@') at = q;
    if (!at) return seize_strdup(s);
    return fmt("%.*s***%s", (int)(host - s), s, at);
}

static json_t *json_url(const char *s)
{
    if (!s) return json_null();
    char *t = redact_url(s);
    json_t *v = json_string(t);
    free(t);
    return v ? v : json_null();
}

// What produced a stage command's output: the sidecar OUT.settings.json that seize caption and
// seize reason write when they have one, else what this run passed (`passed`, stolen).
static json_t *producer(const char *out, json_t *passed)
{
    char *side = fmt("%s.settings.json", out);
    json_t *v = NULL;
    if (seize_path_exists(side) && seize_json_load(side, &v) == 0 && json_is_object(v)) {
        json_object_set_new(v, "passed_by_run", passed);
        passed = NULL;
    } else {
        json_decref(v);
        v = passed;
    }
    free(side);
    return v;
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

// --- spawned stages and signals --------------------------------------------------------------------

// The stage running now (0: none) and the signal that asked this run to stop (0: none).
static volatile sig_atomic_t g_child, g_signal;

static void interrupted(int sig)
{
    seize_tmp_unlink_all();
    static const char msg[] = "seize run: interrupted; rerun to resume\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(128 + sig);
}

// SIGINT/SIGTERM/SIGHUP: with no stage running the run stops here (temporaries removed); with
// one running, the stage gets the signal once (it runs in its own process group, so a
// terminal's Ctrl-C reaches this process only and is passed on from here) and the run stops
// when the stage has ended (the LLM stages finish the requests in flight and keep them).
static void on_run_signal(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    g_signal = sig;
    pid_t c = (pid_t)g_child;
    if (c <= 0) interrupted(sig);
    kill(c, sig);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_run_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

// Runs this binary with argv (argv[0] = subcommand), stdout to `out_path` when not NULL.
// The stage dies with this process (PR_SET_PDEATHSIG), so that a killed `seize run` never
// leaves a stage writing into RUN_DIR behind it. Returns the exit status (or 1 with the
// message set when it cannot start).
static int spawn(run_state *r, const char *out_path, char **args)
{
    size_t n = 0;
    while (args[n]) n++;
    char **argv = calloc(n + 2, sizeof *argv);
    if (!argv) return seize_error(SEIZE_ENOMEM, "out of memory"), 1;
    argv[0] = r->exe;
    for (size_t i = 0; i < n; i++) argv[i + 1] = args[i];
    int outfd = -1;
    if (out_path && (outfd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        seize_error(SEIZE_EIO, "cannot write '%s': %s", out_path, strerror(errno));
        free(argv);
        return 1;
    }
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        // the parent may have died before prctl took effect: then no signal would come
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(128 + SIGTERM);
        setpgid(0, 0); // signals come from the run, once
        // out of the terminal's foreground group, progress lines must still reach it (with
        // `stty tostop` a write would otherwise stop the stage)
        signal(SIGTTOU, SIG_IGN);
        if (outfd >= 0 && dup2(outfd, 1) < 0) _exit(127);
        execv(r->exe, argv);
        static const char msg[] = "seize run: cannot start a stage\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    int e = errno;
    if (pid > 0) g_child = pid;
    if (outfd >= 0) close(outfd);
    free(argv);
    if (pid < 0) {
        seize_error(SEIZE_EIO, "cannot run '%s %s': %s", r->exe, args[0], strerror(e));
        return 1;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            g_child = 0;
            seize_error(SEIZE_EIO, "waiting for 'seize %s': %s", args[0], strerror(errno));
            return 1;
        }
    g_child = 0;
    if (g_signal) interrupted(g_signal);
    if (WIFSIGNALED(st)) {
        seize_error(SEIZE_EIO, "'seize %s' was killed by signal %d", args[0], WTERMSIG(st));
        return 128 + WTERMSIG(st);
    }
    int code = WEXITSTATUS(st);
    if (code) seize_error(SEIZE_EIO, "'seize %s' failed (exit status %d)", args[0], code);
    return code;
}

// The run folder's lock: flock on the folder's own descriptor. It writes nothing (a fully
// cached run on a read-only folder still takes it), is released by the kernel however this
// process ends, and is not inherited by the stages (close-on-exec).
static int lock_run_dir(const char *dir, int *fd_out)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return seize_error(SEIZE_EIO, "cannot open run folder '%s': %s", dir, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return seize_error(SEIZE_EBUSY,
                               "run folder '%s' is in use by another 'seize run'; wait for it to "
                               "finish or stop it (one run per folder at a time)",
                               dir);
        return seize_error(SEIZE_EIO, "cannot lock run folder '%s': %s", dir, strerror(e));
    }
    *fd_out = fd;
    return 0;
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
    free(j->g_missing);
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
    const char *need[] = {j->annotations, j->gallery_list};
    for (int i = 0; i < 2; i++)
        if (!seize_path_exists(need[i]))
            return seize_error(SEIZE_EINVAL, "%s: missing file '%s' (see 'seize run --help' for the files each dataset needs under --data-root)",
                               j->name, need[i]);
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

// An image given by the user, checked without decoding: NULL when it is a regular file that
// starts like a JPEG or PNG, else why not (a static string). *missing is set when it is absent.
static const char *image_problem(const char *path, int *missing)
{
    struct stat st;
    *missing = 0;
    if (stat(path, &st) != 0) {
        *missing = errno == ENOENT || errno == ENOTDIR;
        return *missing ? "missing" : "cannot be examined";
    }
    if (S_ISDIR(st.st_mode)) return "a folder, not an image file";
    if (!S_ISREG(st.st_mode)) return "not a regular file (a FIFO, socket or device)";
    int fd = seize_open_regular(path, NULL);
    if (fd < 0) return "cannot be opened";
    unsigned char m[8] = {0};
    ssize_t got = read(fd, m, sizeof m);
    close(fd);
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (got >= 3 && m[0] == 0xff && m[1] == 0xd8 && m[2] == 0xff) return NULL;
    if (got == 8 && !memcmp(m, png, 8)) return NULL;
    return got <= 0 ? "an empty file, not an image" : "not a JPEG or PNG image";
}

typedef struct id_line {
    const char *id;
    size_t line;
} id_line;

static int cmp_id_line(const void *a, const void *b)
{
    const id_line *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int setup_folder_job(run_state *r, job *j)
{
    const run_opts *o = &r->o;
    const char *gshow = o->user_gallery ? o->user_gallery : o->gallery_dir;
    // one scan: symlink loops and repeated files counted once, bad names refused up front
    seize_folder_list fl;
    int rc = seize_folder_scan(o->gallery_dir, &fl);
    if (rc == 0 && fl.n_errors) {
        char *msg = seize_folder_errors_message(&fl, gshow, 5);
        rc = seize_error(SEIZE_EINVAL, "%s", msg ? msg : "the gallery folder has entries that cannot be indexed");
        free(msg);
    }
    if (rc == 0 && fl.n == 0) rc = seize_error(SEIZE_EINVAL, "gallery folder '%s' has no .jpg, .jpeg or .png images", gshow);
    if (rc == 0 && fl.n_issues && !o->quiet)
        fprintf(stderr, "seize run: note: %zu entr%s of gallery folder '%s' skipped (a linked folder already scanned, or another name of a file already listed), e.g. '%s': %s\n",
                fl.n_issues, fl.n_issues == 1 ? "y" : "ies", gshow, fl.issues[0].name, fl.issues[0].reason);
    if (rc < 0) {
        seize_folder_list_free(&fl);
        return rc;
    }
    size_t n = fl.n;
    j->gl = calloc(1, sizeof *j->gl);
    char **rel = calloc(n + 1, sizeof *rel);
    if (!j->gl || !rel) {
        free(rel);
        seize_folder_list_free(&fl);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) rel[i] = seize_strdup(fl.names[i]);
    // the list's arrays become the job's (the gallery folder is absolute: so are the paths)
    j->gl->n = n;
    j->gl->names = fl.names;
    j->gl->paths = rel;
    j->g_paths = fl.paths;
    fl.names = fl.paths = NULL;
    fl.n = 0;
    seize_folder_list_free(&fl);
    // the queries, one JSON object per line (line numbers as in the file)
    char *text;
    size_t len;
    if ((rc = seize_read_file(o->queries_file, &text, &len)) < 0) return rc;
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++) n_lines += text[i] == '\n';
    size_t *line_of = calloc(n_lines + 1, sizeof *line_of);
    if (!line_of || (rc = alloc_queries(j, n_lines)) < 0) {
        free(text);
        free(line_of);
        return rc < 0 ? rc : seize_error(SEIZE_ENOMEM, "out of memory");
    }
    j->n_q = 0;
    name_map m;
    if ((rc = build_map(j, &m)) < 0) {
        free(text);
        free(line_of);
        return rc;
    }
    char *groot = realpath(o->gallery_dir, NULL);
    const char *qf = o->user_queries ? o->user_queries : o->queries_file;
    char *ln = text;
    for (size_t line = 1; rc == 0 && ln; line++) {
        char *nl = strchr(ln, '\n');
        if (nl) *nl = 0;
        char *cur = ln;
        ln = nl ? nl + 1 : NULL;
        size_t k = strspn(cur, " \t\r");
        if (!cur[k]) continue;
        json_error_t je;
        json_t *q = json_loads(cur, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(q)) {
            json_decref(q);
            rc = seize_error(SEIZE_EFORMAT, "'%s': line %zu: not a JSON object: %s", qf, line, je.text);
            break;
        }
        json_t *id = json_object_get(q, "id"), *ref = json_object_get(q, "reference"),
               *txt = json_object_get(q, "relative_text"), *tgt = json_object_get(q, "target");
        size_t i = j->n_q;
        if (!json_is_string(ref) || !json_string_value(ref)[0] || !json_is_string(txt) ||
            (tgt && !json_is_string(tgt) && !json_is_null(tgt)) ||
            (id && !json_is_string(id) && !json_is_integer(id))) {
            rc = seize_error(SEIZE_EFORMAT,
                             "'%s': line %zu: needs \"reference\" and \"relative_text\" strings (and "
                             "optionally \"id\": a string or integer, \"target\": a gallery name)",
                             qf, line);
            json_decref(q);
            break;
        }
        if (json_string_length(txt) > SEIZE_MAX_CAPTION_BYTES) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': line %zu: \"relative_text\" is %zu bytes long (at most %zu)", qf, line,
                             json_string_length(txt), SEIZE_MAX_CAPTION_BYTES);
            json_decref(q);
            break;
        }
        j->n_q++;
        line_of[i] = line;
        j->q_id[i] = json_is_string(id)    ? seize_strdup(json_string_value(id))
                     : json_is_integer(id) ? fmt("%lld", (long long)json_integer_value(id))
                                           : fmt("%zu", i);
        j->q_text[i] = seize_strdup(json_string_value(txt));
        // the reference: a path relative to the current folder (as a shell user expects),
        // else a gallery name
        const char *rp = json_string_value(ref);
        char *path = NULL;
        if (rp[0] == '/') path = seize_strdup(rp);
        else {
            char *c = absolute_path(rp);
            if (seize_path_exists(c)) path = c;
            else {
                free(c);
                // the queries file's folder (queries_file is absolute: it has a '/')
                const char *slash = strrchr(o->queries_file, '/');
                c = fmt("%.*s/%s", (int)(slash - o->queries_file), o->queries_file, rp);
                if (seize_path_exists(c)) path = c;
                else {
                    free(c);
                    size_t row = name_row(j, &m, rp);
                    if (row != SIZE_MAX) path = seize_strdup(j->g_paths[row]);
                }
            }
        }
        if (!path) {
            rc = seize_error(SEIZE_EINVAL,
                             "'%s': line %zu (query %s): reference image '%s' not found: neither a file "
                             "(relative paths are taken from the current folder, then from the queries "
                             "file's folder) nor a gallery name in '%s'",
                             qf, line, j->q_id[i], rp, o->user_gallery ? o->user_gallery : o->gallery_dir);
            json_decref(q);
            break;
        }
        j->q_ref_path[i] = path;
        j->q_ref_row[i] = SIZE_MAX;
        char *real = realpath(path, NULL);
        size_t gl = groot ? strlen(groot) : 0;
        if (real && groot && !strncmp(real, groot, gl) && real[gl] == '/')
            j->q_ref_row[i] = name_row(j, &m, real + gl + 1);
        if (j->q_ref_row[i] != SIZE_MAX) {
            j->q_ref_name[i] = seize_strdup(j->gl->names[j->q_ref_row[i]]);
        } else {
            const char *base = strrchr(rp, '/');
            j->q_ref_name[i] = seize_strdup(base ? base + 1 : rp);
        }
        free(real);
        if (json_is_string(tgt)) {
            const char *t = json_string_value(tgt);
            if (name_row(j, &m, t) == SIZE_MAX) {
                rc = seize_error(SEIZE_EINVAL,
                                 "'%s': line %zu (query %s): target '%s' is not a gallery name in '%s' "
                                 "(names are paths inside the gallery folder, e.g. '%s')",
                                 qf, line, j->q_id[i], t, o->user_gallery ? o->user_gallery : o->gallery_dir,
                                 j->gl->names[0]);
                json_decref(q);
                break;
            }
            j->q_target[i] = seize_strdup(t);
        }
        json_decref(q);
    }
    free(text);
    if (rc == 0 && j->n_q == 0) rc = seize_error(SEIZE_EINVAL, "'%s' has no queries", qf);
    // query ids are unique: the caption and edit files are matched by them
    if (rc == 0) {
        id_line *ids = malloc((j->n_q + 1) * sizeof *ids);
        if (!ids) rc = seize_error(SEIZE_ENOMEM, "out of memory");
        for (size_t i = 0; ids && i < j->n_q; i++) ids[i] = (id_line){j->q_id[i], line_of[i]};
        if (ids) qsort(ids, j->n_q, sizeof *ids, cmp_id_line);
        for (size_t i = 1; rc == 0 && ids && i < j->n_q; i++)
            if (!strcmp(ids[i].id, ids[i - 1].id))
                rc = seize_error(SEIZE_EINVAL, "'%s': line %zu: query id '%s' is already used on line %zu (ids must be unique)",
                                 qf, ids[i].line, ids[i].id, ids[i - 1].line);
        free(ids);
    }
    free(line_of);
    free_map(&m);
    free(groot);
    return rc;
}

// Checks a job's files before anything is sent or encoded: every reference image exists and is
// a JPEG or PNG file; the gallery images exist (a missing image folder is an error, named once;
// some missing images are one summary line and are left out). Sets *permanent when the problem
// is a bad file (exit status 3) rather than a missing one.
static int validate_job(run_state *r, job *j)
{
    // gallery images that do not exist
    j->g_missing = calloc(j->gl->n + 1, 1);
    if (!j->g_missing) return seize_error(SEIZE_ENOMEM, "out of memory");
    size_t first_missing = SIZE_MAX;
    for (size_t i = 0; i < j->gl->n; i++) {
        struct stat st;
        if (stat(j->g_paths[i], &st) != 0) {
            j->g_missing[i] = 1;
            j->n_g_missing++;
            if (first_missing == SIZE_MAX) first_missing = i;
        }
    }
    if (j->n_g_missing && !j->folder) {
        // the deepest existing folder above the first missing image names what is absent
        char *d = seize_strdup(j->g_paths[first_missing]);
        char *slash;
        while ((slash = strrchr(d, '/')) && slash != d) {
            *slash = 0;
            if (seize_path_exists(d)) break;
        }
        char *want = seize_strdup(j->g_paths[first_missing]);
        char *miss = want + strlen(d);
        if (*miss == '/') miss++;
        char *cut = strchr(miss, '/');
        if (cut) {
            *cut = 0; // a whole folder is missing
            int rc = seize_error(SEIZE_EINVAL,
                                 "%s: missing folder '%s' (%zu of the %zu gallery images are missing; "
                                 "see 'seize run --help' for the files each dataset needs)",
                                 j->name, want, j->n_g_missing, j->gl->n);
            free(d);
            free(want);
            return rc;
        }
        free(d);
        free(want);
    }
    // reference images: missing ones are the error (the run cannot answer those queries)
    size_t n_missing = 0, n_bad = 0;
    char shown[512] = "", badshown[1024] = "";
    for (size_t q = 0; q < j->n_q; q++) {
        int dup = 0;
        for (size_t p = q; p-- > 0 && p + 64 > q && !dup;) dup = !strcmp(j->q_ref_path[p], j->q_ref_path[q]);
        if (dup) continue;
        int missing;
        const char *why = image_problem(j->q_ref_path[q], &missing);
        if (!why) continue;
        if (missing) {
            if (n_missing++ < 3) {
                size_t l = strlen(shown);
                snprintf(shown + l, sizeof shown - l, "%s'%s' (query %s)", l ? ", " : "", j->q_ref_path[q], j->q_id[q]);
            }
        } else {
            if (n_bad++ < 3) {
                size_t l = strlen(badshown);
                snprintf(badshown + l, sizeof badshown - l, "%s'%s' (query %s): %s", l ? "; " : "", j->q_ref_path[q],
                         j->q_id[q], why);
            }
            json_array_append_new(r->failed, json_pack("{s:s, s:s, s:s, s:s}", "job", j->name, "stage", "validate",
                                                       "item", j->q_ref_path[q], "error", why));
        }
    }
    if (n_missing)
        return seize_error(SEIZE_EINVAL, "%s: %zu reference image%s missing: %s%s", j->name, n_missing,
                           n_missing == 1 ? " is" : "s are", shown, n_missing > 3 ? ", ..." : "");
    if (n_bad) {
        r->permanent = 1;
        return seize_error(SEIZE_EFORMAT,
                           "%s: %zu reference image%s cannot be used: %s%s (permanent: "
                           "replace the file%s or remove the quer%s)",
                           j->name, n_bad, n_bad == 1 ? "" : "s", badshown, n_bad > 3 ? "; ..." : "",
                           n_bad == 1 ? "" : "s", n_bad == 1 ? "y" : "ies");
    }
    if (j->n_g_missing) {
        char list[512] = "";
        size_t shown_n = 0;
        for (size_t i = 0; i < j->gl->n; i++) {
            if (!j->g_missing[i]) continue;
            if (shown_n++ < 5) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof list - l, "%s'%s'", l ? ", " : "", j->g_paths[i]);
            }
            json_array_append_new(r->failed, json_pack("{s:s, s:s, s:s, s:s}", "job", j->name, "stage", "index",
                                                       "item", j->gl->names[i], "error", "missing"));
        }
        fprintf(stderr, "seize run: %s: %zu of the %zu gallery images are missing and left out: %s%s\n", j->name,
                j->n_g_missing, j->gl->n, list, j->n_g_missing > 5 ? ", ..." : "");
        r->partial = 1;
    }
    return 0;
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
    // what the journals' answers depend on besides each item (an image; a query's caption)
    seize_sha256_init(&h);
    k_str(&h, "caption-settings/1");
    k_str(&h, o->cap_endpoint);
    k_str(&h, o->cap_model);
    k_str(&h, o->cap_prompt);
    k_str(&h, o->temperature);
    k_str(&h, o->top_p);
    k_str(&h, o->seed);
    k_num(&h, o->num_captions);
    char *cap_settings = k_final(&h);
    seize_sha256_init(&h);
    k_str(&h, "edit-settings/1");
    k_str(&h, o->llm_endpoint);
    k_str(&h, o->llm_model);
    k_str(&h, o->seed);
    if (o->prompt_file && (rc = k_file(&h, o->prompt_file, 1)) < 0) {
        free(cap_settings);
        free(cap_out);
        free(ed_out);
        return rc;
    }
    char *ed_settings = k_final(&h);
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
        int fresh;
        rc = begin_stage(r, stage, j->key_captions, &fresh);
        if (rc == 0) rc = write_jsonl(cap_out, lines);
        json_decref(lines);
        if (rc == 0)
            rc = record_key(r, stage, j->key_captions,
                            json_pack("{s:s, s:s}", "source", "caption file", "file", j->captions_file));
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
        // every reference decodes before the first request: a corrupt one is no server failure
        size_t n_bad = 0;
        char shown[1024] = "";
        for (size_t u = 0; u < n_u; u++) {
            seize_image *img;
            if (seize_image_load(uniq[u], SEIZE_IMAGE_MAX_PIXELS, &img) < 0) {
                if (n_bad++ < 3) {
                    size_t l = strlen(shown);
                    snprintf(shown + l, sizeof shown - l, "%s%s", l ? "; " : "", seize_errmsg());
                }
                json_array_append_new(r->failed, json_pack("{s:s, s:s, s:s, s:s}", "job", j->name, "stage", "captions",
                                                           "item", uniq[u], "error", seize_errmsg()));
            } else {
                seize_image_free(img);
            }
        }
        if (n_bad) {
            r->permanent = 1;
            rc = seize_error(SEIZE_EFORMAT, "%s: %zu reference image%s cannot be decoded: %s%s (permanent: fix or replace the file%s, or remove the quer%s)",
                             j->name, n_bad, n_bad == 1 ? "" : "s", shown, n_bad > 3 ? "; ..." : "", n_bad == 1 ? "" : "s",
                             n_bad == 1 ? "y" : "ies");
            free(uniq);
            free(list);
            goto done1;
        }
        char *raw = join(j->dir, "captions.raw.jsonl"), *journal = fmt("%s.journal", raw);
        int fresh;
        rc = begin_stage_ex(r, stage, j->key_captions, cap_settings, &fresh);
        if (rc == 0 && fresh) { // answers of another model, endpoint, prompt or sampling
            discard(journal);
            discard(raw);
        }
        if (rc == 0) rc = write_lines(list, uniq, n_u);
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
        if (rc == 0 && st == EXIT_PARTIAL) {
            rc = SEIZE_ENET;
            seize_error(rc, "caption stage: some images got no captions (named above by seize caption); "
                            "rerun the same command to retry only those");
        } else if (rc == 0 && st != 0) {
            rc = SEIZE_ENET;
            seize_error(rc, "caption stage failed (seize caption exit %d; its error is above)", st);
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
        if (rc == 0) {
            json_t *passed = json_pack("{s:s, s:o, s:s, s:s?, s:s, s:s, s:s?, s:i}", "source", "seize caption",
                                       "endpoint", json_url(o->cap_endpoint), "model", o->cap_model, "prompt",
                                       o->cap_prompt, "temperature", o->temperature ? o->temperature : "1.0",
                                       "top_p", o->top_p ? o->top_p : "0.9", "seed", o->seed, "n", o->num_captions);
            rc = record_key(r, stage, j->key_captions, producer(raw, passed));
        }
        stage_log(r, j->name, "captions", rc == 0 ? "ran" : "failed", seize_now() - t0,
                  json_pack("{s:I}", "images", (json_int_t)n_u));
        free(uniq);
        free(list);
        free(raw);
        free(journal);
    }
    if (rc < 0) goto done1;

    // ---- edits
    t0 = seize_now();
    seize_sha256_init(&h);
    k_str(&h, "edits/2");
    // the captions themselves: sampled captions differ from one captioning to the next
    if ((rc = k_file(&h, cap_out, 1)) < 0) goto done1;
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
        int fresh;
        rc = begin_stage(r, stage, j->key_edits, &fresh);
        if (rc == 0) rc = write_jsonl(ed_out, lines);
        json_decref(lines);
        if (rc == 0)
            rc = record_key(r, stage, j->key_edits,
                            json_pack("{s:s, s:s}", "source", "caption file", "file", j->captions_file));
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
        char *qin = join(j->dir, "reason-input.jsonl"), *journal = fmt("%s.journal", ed_out);
        int fresh;
        rc = begin_stage_ex(r, stage, j->key_edits, ed_settings, &fresh);
        if (rc == 0 && fresh) { // answers of another model, endpoint or prompt are not resumed
            discard(journal);
            discard(ed_out);
        }
        if (rc == 0) rc = write_jsonl(qin, lines);
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
        if (rc == 0 && st == EXIT_PARTIAL) {
            rc = SEIZE_ENET;
            seize_error(rc, "editing stage: some queries got no edits (named above by seize reason); "
                            "rerun the same command to retry only those");
        } else if (rc == 0 && st != 0) {
            rc = SEIZE_ENET;
            seize_error(rc, "editing stage failed (seize reason exit %d; its error is above)", st);
        }
        if (rc == 0) {
            json_t *passed = json_pack("{s:s, s:o, s:s, s:s?, s:s?, s:i}", "source", "seize reason", "endpoint",
                                       json_url(o->llm_endpoint), "model", o->llm_model, "prompt_file",
                                       o->prompt_file, "seed", o->seed, "captions_per_query", o->num_captions);
            rc = record_key(r, stage, j->key_edits, producer(ed_out, passed));
        }
        stage_log(r, j->name, "edits", rc == 0 ? "ran" : "failed", seize_now() - t0,
                  json_pack("{s:I}", "queries", (json_int_t)j->n_q));
        free(qin);
        free(journal);
    }
done1:
    seize_captions_free(from_file);
    free(rows);
    free(stage);
done:
    free(cap_settings);
    free(ed_settings);
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
        int fresh;
        rc = begin_stage(r, stage, j->key_index, &fresh);
        // NAME<TAB>PATH per image, as seize index build --list reads it (absolute paths; the
        // missing images, already reported, are left out)
        char *list = join(j->dir, "gallery-images.txt");
        char **lines = calloc(j->gl->n + 1, sizeof *lines);
        size_t n_lines = 0;
        if (!lines) rc = seize_error(SEIZE_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < j->gl->n; i++)
            if (!j->g_missing || !j->g_missing[i]) lines[n_lines++] = fmt("%s\t%s", j->gl->names[i], j->g_paths[i]);
        if (rc == 0) rc = write_lines(list, lines, n_lines);
        for (size_t i = 0; lines && i < n_lines; i++) free(lines[i]);
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
        if (fresh) arg(&a, "--restart"); // a partial build of other images or another model
        int st = rc == 0 ? spawn(r, NULL, a.v) : 1;
        if (rc == 0 && st != 0 && st != EXIT_PARTIAL)
            rc = seize_error(SEIZE_EIO,
                             "index stage failed (seize index build exit %d; its error is above); if the "
                             "unfinished build in '%s' cannot be resumed, add --restart to start it over",
                             st, dir);
        if (rc == 0)
            rc = record_key(r, stage, j->key_index,
                            json_pack("{s:s, s:s, s:s, s:I}", "source", "seize index build", "model_sha256",
                                      r->model_sha, "preprocess", o->no_pad ? "clip" : "targetpad-1.25", "images",
                                      (json_int_t)(j->gl->n - j->n_g_missing)));
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
            char list[768] = "";
            json_array_foreach(failed, i, v)
            {
                const char *name = json_string_value(json_object_get(v, "name"));
                const char *why = json_string_value(json_object_get(v, "reason"));
                if (i < 3) {
                    size_t l = strlen(list);
                    snprintf(list + l, sizeof list - l, "%s%s (%s)", l ? "; " : "", name ? name : "?", why ? why : "?");
                }
                json_array_append_new(r->failed, json_pack("{s:s, s:s, s:s, s:s}", "job", j->name, "stage", "index",
                                                           "item", name ? name : "?", "error", why ? why : "?"));
                r->partial = 1;
            }
            size_t nf = json_array_size(failed);
            if (nf)
                fprintf(stderr, "seize run: %s: %zu gallery image%s left out (cannot be read; permanent, "
                                "fix or remove the file%s): %s%s\n",
                        j->name, nf, nf == 1 ? "" : "s", nf == 1 ? "" : "s", list, nf > 3 ? "; ..." : "");
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
        int fresh;
        rc = begin_stage(r, stage, j->key_features, &fresh);
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
        int st = rc == 0 ? spawn(r, NULL, a.v) : 1;
        if (rc == 0 && st != 0) rc = seize_error(SEIZE_EIO, "query features failed (seize query-features exit %d)", st);
        if (rc == 0)
            rc = record_key(r, stage, j->key_features,
                            json_pack("{s:s, s:s, s:i, s:b}", "source", "seize query-features", "model_sha256",
                                      r->model_sha, "captions_per_query", o->num_captions, "per_caption", ldre));
        stage_log(r, j->name, "features", rc == 0 ? "ran" : "failed", seize_now() - t0,
                  json_pack("{s:I}", "queries", (json_int_t)j->n_q));
    }
    free(stage);
    free(ed);
    free(fa);
    free(fb);
    return rc;
}

// Folder mode: each rankings row gets the user's query "id" beside seize search's "query".
static int add_query_ids(job *j, const char *path)
{
    json_t *rows;
    int rc = seize_jsonl_load(path, &rows);
    if (rc < 0) return rc;
    size_t i;
    json_t *v;
    json_array_foreach(rows, i, v)
    {
        json_int_t q = json_integer_value(json_object_get(v, "query"));
        if (q >= 0 && (size_t)q < j->n_q) json_object_set_new(v, "id", json_string(j->q_id[q]));
    }
    rc = write_jsonl(path, rows);
    json_decref(rows);
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
        int fresh;
        rc = begin_stage(r, stage, j->key_search, &fresh);
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
        if (rc == 0 && j->folder) rc = add_query_ids(j, out);
        if (rc == 0)
            rc = record_key(r, stage, j->key_search,
                            json_pack("{s:s, s:s, s:f, s:f, s:i}", "source", "seize search", "method", o->method, "pos",
                                      o->pos, "neg", o->neg, "k", o->k));
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

static int stage_results(run_state *r, job *j)
{
    const run_opts *o = &r->o;
    double t0 = seize_now();
    int rc = 0, val = !strcmp(o->split, "val") || j->folder;
    char *rk = join(j->dir, "rankings.jsonl"), *mp = join(j->dir, "metrics.json"),
         *sp = join(j->dir, "submission.json"), *sr = join(j->dir, "submission_recall.json"),
         *ss = join(j->dir, "submission_recall_subset.json");
    const char *outs[4] = {NULL, NULL, NULL, NULL};
    int n_folder_targets = 0;
    for (size_t q = 0; q < j->n_q; q++) n_folder_targets += j->folder && j->q_target[q];
    if ((j->folder && n_folder_targets) || (val && !j->folder && j->kind != SEIZE_DS_FASHIONIQ)) outs[0] = mp;
    else if (!val && j->kind == SEIZE_DS_CIRCO) outs[0] = sp;
    else if (!val && j->kind == SEIZE_DS_CIRR) outs[0] = sr, outs[1] = ss;
    seize_sha256 h;
    seize_sha256_init(&h);
    k_str(&h, "results/1");
    k_str(&h, j->key_search);
    k_str(&h, o->split);
    if (j->annotations) rc = k_file(&h, j->annotations, 1);
    for (size_t q = 0; q < j->n_q; q++) k_str(&h, j->q_target[q]);
    char *key = k_final(&h), *stage = fmt("%s/results", j->name);
    const char *what = val ? "metrics" : "submission";
    if (rc == 0 && cached(r, stage, key, outs)) {
        stage_log(r, j->name, what, "cached", seize_now() - t0, NULL);
    } else if (rc == 0) {
        int fresh;
        rc = begin_stage(r, stage, key, &fresh);
        if (rc == 0 && j->folder) {
            if (n_folder_targets) rc = folder_metrics(r, j, mp);
        } else if (rc == 0 && val && j->kind != SEIZE_DS_FASHIONIQ) {
            char *tmp = join(j->dir, "metrics.json.part");
            seize_tmp_register(tmp);
            args a = {0};
            arg(&a, "eval");
            arg(&a, seize_ds_kind_name(j->kind));
            arg2(&a, "--annotations", j->annotations);
            arg2(&a, "--rankings", rk);
            arg(&a, "--json");
            int st = spawn(r, tmp, a.v);
            if (st != 0) rc = seize_error(SEIZE_EIO, "evaluation failed (seize eval exit %d)", st);
            else if (rename(tmp, mp) != 0) rc = seize_error(SEIZE_EIO, "cannot write '%s': %s", mp, strerror(errno));
            unlink(tmp);
            seize_tmp_unregister(tmp);
            free(tmp);
        } else if (rc == 0 && !val && j->kind == SEIZE_DS_CIRCO) {
            args a = {0};
            arg(&a, "submission");
            arg(&a, "circo");
            arg2(&a, "--rankings", rk);
            arg2(&a, "--annotations", j->annotations);
            arg2(&a, "--out", sp);
            int st = spawn(r, NULL, a.v);
            if (st != 0) rc = seize_error(SEIZE_EIO, "writing the submission failed (seize submission exit %d)", st);
        } else if (rc == 0 && !val && j->kind == SEIZE_DS_CIRR) {
            args a = {0};
            arg(&a, "submission");
            arg(&a, "cirr");
            arg2(&a, "--rankings", rk);
            arg2(&a, "--annotations", j->annotations);
            arg2(&a, "--out", sr);
            arg2(&a, "--out-subset", ss);
            int st = spawn(r, NULL, a.v);
            if (st != 0) rc = seize_error(SEIZE_EIO, "writing the submissions failed (seize submission exit %d)", st);
        }
        if (rc == 0) rc = record_key(r, stage, key, NULL);
        stage_log(r, j->name, what, rc == 0 ? "ran" : "failed", seize_now() - t0, NULL);
    }
    free(key);
    free(stage);
    free(rk);
    free(mp);
    free(sp);
    free(sr);
    free(ss);
    return rc;
}

// --- stage 6: report ---------------------------------------------------------------------------------

// Numbers of a metrics object, flattened ("dress R@10"), into the page.
static void flatten_metrics(json_t *m, const char *prefix, report_page *pg)
{
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v)
    {
        char *name = prefix ? fmt("%s %s", prefix, k) : seize_strdup(k);
        if (json_is_object(v)) flatten_metrics(v, name, pg);
        else if (json_is_number(v) && strcmp(k, "queries") && pg->n_metrics < REPORT_MAX_METRICS) {
            pg->metric_names[pg->n_metrics] = name;
            pg->metric_values[pg->n_metrics++] = json_number_value(v);
            name = NULL;
        }
        free(name);
    }
}

static int stage_report(run_state *r, job *j)
{
    const run_opts *o = &r->o;
    double t0 = seize_now();
    char *rk = join(j->dir, "rankings.jsonl"), *ed = join(j->dir, "edits.jsonl"), *out = join(j->dir, "report.html");
    // the metrics shown: the job's own, else (FashionIQ) the run's over its categories
    char *mp = join(j->dir, "metrics.json");
    if (!seize_path_exists(mp)) {
        free(mp);
        mp = join(o->out_dir, "metrics.json");
    }
    // the images that failed, for this job
    json_t *failed = json_array();
    size_t fi;
    json_t *fv;
    json_array_foreach(r->failed, fi, fv) if (!strcmp(json_string_value(json_object_get(fv, "job")), j->name))
        json_array_append(failed, fv);
    seize_sha256 h;
    seize_sha256_init(&h);
    k_str(&h, "report/2");
    k_str(&h, j->key_search);
    k_str(&h, j->key_edits);
    k_str(&h, o->out_dir);
    k_num(&h, o->report_queries);
    k_num(&h, o->report_k);
    int rc = k_file(&h, mp, 1);
    char *fd = json_dumps(failed, JSON_COMPACT);
    k_str(&h, fd ? fd : "");
    free(fd);
    char *key = k_final(&h), *stage = fmt("%s/report", j->name);
    const char *outs[] = {out, NULL};
    if (rc == 0 && cached(r, stage, key, outs)) {
        stage_log(r, j->name, "report", "cached", seize_now() - t0, NULL);
        goto done;
    }
    int fresh;
    if (rc == 0) rc = begin_stage(r, stage, key, &fresh);
    json_t *rows = NULL, *eds = NULL;
    if (rc == 0) rc = seize_jsonl_load(rk, &rows);
    if (rc == 0) rc = seize_jsonl_load(ed, &eds);
    size_t n = j->n_q < (size_t)o->report_queries ? j->n_q : (size_t)o->report_queries;
    report_query *qs = calloc(n + 1, sizeof *qs);
    name_map m = {0};
    if (rc == 0 && !qs) rc = seize_error(SEIZE_ENOMEM, "out of memory");
    if (rc == 0) rc = build_map(j, &m);
    int has_gt = 0;
    for (size_t q = 0; q < j->n_q; q++) has_gt |= j->q_target[q] != NULL;
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
        const seize_query *dq = j->ds ? &j->ds->q[q] : NULL;
        for (size_t i = 0; tn && tp && ts && gt && i < x->k; i++) {
            tn[i] = json_string_value(json_array_get(rank, i));
            size_t row_i = tn[i] ? name_row(j, &m, tn[i]) : SIZE_MAX;
            tp[i] = row_i == SIZE_MAX ? NULL : j->g_paths[row_i];
            ts[i] = (float)json_number_value(json_array_get(scores, i));
            if (dq && tn[i]) {
                for (size_t g = 0; g < dq->n_gt; g++)
                    if (!strcmp(dq->gt[g], tn[i])) gt[i] = 1;
            } else if (j->q_target[q] && tn[i]) {
                gt[i] = !strcmp(j->q_target[q], tn[i]);
            }
        }
        // where the target ranked (the best-ranked ground truth), also beyond the shown top k
        if (j->q_target[q]) {
            x->target_name = j->q_target[q];
            x->target_rank = SIZE_MAX;
            x->ranking_length = json_array_size(rank);
            for (size_t i = 0; i < json_array_size(rank) && x->target_rank == SIZE_MAX; i++) {
                const char *nm = json_string_value(json_array_get(rank, i));
                if (!nm) continue;
                if (dq) {
                    for (size_t g = 0; g < dq->n_gt; g++)
                        if (!strcmp(dq->gt[g], nm)) {
                            x->target_rank = i + 1;
                            x->target_name = dq->gt[g];
                        }
                } else if (!strcmp(j->q_target[q], nm)) {
                    x->target_rank = i + 1;
                }
            }
        }
        x->top_names = tn;
        x->top_paths = tp;
        x->top_scores = ts;
        x->top_gt = gt;
        x->has_gt = j->q_target[q] != NULL;
    }
    if (rc == 0) {
        report_page pg;
        memset(&pg, 0, sizeof pg);
        const char *ds = j->folder ? "folder" : seize_ds_kind_name(j->kind);
        char *jname = j->kind == SEIZE_DS_FASHIONIQ && !j->folder ? fmt("fashioniq %s", j->name) : seize_strdup(ds);
        pg.title = fmt("%s %s — %s", jname, j->folder ? (has_gt ? "with targets" : "queries") : o->split,
                       o->user_out ? o->user_out : o->out_dir);
        free(jname);
        pg.summary = fmt("model %s (sha256 %.12s)\nmethod %s, pos %.4g, neg %.4g, %d captions per query\n"
                         "%zu queries, %zu gallery images%s",
                         o->model_dir, r->model_sha, o->method, o->pos, o->neg, o->num_captions, j->n_q, j->gl->n,
                         n < j->n_q ? " (the first ones shown)" : "");
        pg.has_gt = has_gt;
        json_t *mj = NULL;
        if (seize_path_exists(mp) && seize_json_load(mp, &mj) == 0 && json_is_object(mj)) flatten_metrics(mj, NULL, &pg);
        json_decref(mj);
        pg.n_failed = json_array_size(failed);
        pg.failed_names = calloc(pg.n_failed + 1, sizeof *pg.failed_names);
        pg.failed_reasons = calloc(pg.n_failed + 1, sizeof *pg.failed_reasons);
        for (size_t i = 0; pg.failed_names && pg.failed_reasons && i < pg.n_failed; i++) {
            pg.failed_names[i] = json_string_value(json_object_get(json_array_get(failed, i), "item"));
            pg.failed_reasons[i] = json_string_value(json_object_get(json_array_get(failed, i), "error"));
        }
        rc = report_write(out, &pg, qs, n, 128);
        free((void *)pg.title);
        free((void *)pg.summary);
        for (size_t i = 0; i < pg.n_metrics; i++) free((void *)pg.metric_names[i]);
        free((void *)pg.failed_names);
        free((void *)pg.failed_reasons);
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
    if (rc == 0) rc = record_key(r, stage, key, NULL);
    stage_log(r, j->name, "report", rc == 0 ? "ran" : "failed", seize_now() - t0, NULL);
done:
    json_decref(failed);
    free(key);
    free(stage);
    free(mp);
    free(rk);
    free(ed);
    free(out);
    return rc;
}

// --- the command -------------------------------------------------------------------------------------

static int run_job(run_state *r, job *j)
{
    int rc = seize_path_exists(j->dir) ? 0 : seize_mkdirs(j->dir);
    if (rc == 0) rc = stage_captions(r, j);
    if (rc == 0) rc = stage_index(r, j);
    if (rc == 0) rc = stage_features(r, j);
    if (rc == 0) rc = stage_search(r, j);
    if (rc == 0) rc = stage_results(r, j);
    return rc;
}

// FashionIQ val: one metrics file over the categories run.
static int fiq_metrics(run_state *r, job *jobs, size_t n_jobs)
{
    const run_opts *o = &r->o;
    double t0 = seize_now();
    char *mp = join(o->out_dir, "metrics.json"), *tmp = join(o->out_dir, "metrics.json.part");
    seize_sha256 h;
    seize_sha256_init(&h);
    k_str(&h, "fashioniq-metrics/1");
    int rc = 0;
    for (size_t i = 0; i < n_jobs && rc == 0; i++) {
        k_str(&h, jobs[i].key_search);
        rc = k_file(&h, jobs[i].annotations, 1);
    }
    char *key = k_final(&h);
    const char *outs[] = {mp, NULL};
    if (rc == 0 && cached(r, "fashioniq/metrics", key, outs)) {
        stage_log(r, "fashioniq", "metrics", "cached", seize_now() - t0, NULL);
    } else if (rc == 0) {
        int fresh;
        rc = begin_stage(r, "fashioniq/metrics", key, &fresh);
        seize_tmp_register(tmp);
        args a = {0};
        arg(&a, "eval");
        arg(&a, "fashioniq");
        char *paths[3] = {0};
        for (size_t i = 0; i < n_jobs; i++) {
            paths[i] = join(jobs[i].dir, "rankings.jsonl");
            arg2(&a, "--annotations", jobs[i].annotations);
            arg2(&a, "--rankings", paths[i]);
        }
        arg(&a, "--json");
        int st = rc == 0 ? spawn(r, tmp, a.v) : 1;
        if (rc == 0 && st != 0) rc = seize_error(SEIZE_EIO, "evaluation failed (seize eval exit %d)", st);
        else if (rc == 0 && rename(tmp, mp) != 0) rc = seize_error(SEIZE_EIO, "cannot write '%s': %s", mp, strerror(errno));
        unlink(tmp);
        seize_tmp_unregister(tmp);
        for (size_t i = 0; i < n_jobs; i++) free(paths[i]);
        if (rc == 0) rc = record_key(r, "fashioniq/metrics", key, NULL);
        stage_log(r, "fashioniq", "metrics", rc == 0 ? "ran" : "failed", seize_now() - t0, NULL);
    }
    free(key);
    free(mp);
    free(tmp);
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
    json_object_set_new(p, "captioner_endpoint", json_url(o->cap_endpoint));
    S("captioner_model", o->cap_model);
    json_object_set_new(p, "llm_endpoint", json_url(o->llm_endpoint));
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
        O_NOPAD, O_BATCH, O_THREADS, O_RQ, O_RK, O_BACKOFF, O_RESTART
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
        {"restart", no_argument, NULL, O_RESTART},
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
    // the command as given (getopt reorders argv)
    char *given[argc + 1];
    memcpy(given, argv, (size_t)argc * sizeof *argv);
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
        case O_RESTART: o->restart = 1; break;
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
    // endpoints default to $OPENAI_BASE_URL, as for seize caption and seize reason
    const char *env_url = getenv("OPENAI_BASE_URL");
    if (env_url && !env_url[0]) env_url = NULL;
    if (!o->cap_endpoint) o->cap_endpoint = env_url;
    if (!o->llm_endpoint) o->llm_endpoint = env_url;
    // relative paths are the current folder's (the stages get absolute ones)
    o->user_gallery = o->gallery_dir;
    o->user_queries = o->queries_file;
    o->user_out = o->out_dir;
    const char **paths[] = {&o->data_root, &o->model_dir, &o->out_dir, &o->gallery_dir, &o->queries_file,
                            &o->captions_file, &o->prompt_file};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (*paths[i] && R.n_owned < 16) *paths[i] = R.owned[R.n_owned++] = absolute_path(*paths[i]);

    int rc = 0, lock_fd = -1;
    install_signals();
    if (!seize_path_exists(o->out_dir) && seize_mkdirs(o->out_dir) < 0) rc = -1;
    if (rc == 0) rc = lock_run_dir(o->out_dir, &lock_fd);
    if (rc < 0) {
        for (int i = 0; i < R.n_owned; i++) free(R.owned[i]);
        return cli_lib_fail("run");
    }
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
    // everything that can be checked is checked before the first request: the inputs, then
    // the model folder (a wrong --model costs nothing)
    for (size_t i = 0; rc == 0 && i < n_jobs; i++) rc = validate_job(&R, &jobs[i]);
    if (rc == 0 && !o->captions_file && (!o->cap_endpoint || !o->cap_model))
        rc = seize_error(SEIZE_EINVAL, "no captions: give --captions FILE, or --captioner-endpoint (or $OPENAI_BASE_URL) and --captioner-model");
    if (rc == 0 && !o->captions_file && (!o->llm_endpoint || !o->llm_model))
        rc = seize_error(SEIZE_EINVAL, "no edits: give --llm-endpoint (or $OPENAI_BASE_URL) and --llm-model, or a caption file with edits");
    if (rc == 0) rc = model_hash(&R);
    for (size_t i = 0; rc == 0 && i < n_jobs; i++) rc = run_job(&R, &jobs[i]);
    if (rc == 0 && kind == SEIZE_DS_FASHIONIQ && !folder && !strcmp(o->split, "val")) rc = fiq_metrics(&R, jobs, n_jobs);
    for (size_t i = 0; rc == 0 && i < n_jobs; i++) rc = stage_report(&R, &jobs[i]);

    // manifest.json: what ran, with what, and what failed
    R.manifest = json_object();
    json_object_set_new(R.manifest, "seize_version", json_string(SEIZE_VERSION));
    json_t *cmd = json_array(); // endpoints without their user:password
    for (int i = 0; i < argc; i++) json_array_append_new(cmd, json_url(given[i]));
    json_object_set_new(R.manifest, "command", cmd);
    json_object_set_new(R.manifest, "status", json_string(rc == 0 ? (R.partial ? "partial" : "ok") : "failed"));
    if (rc < 0) json_object_set_new(R.manifest, "error", json_string(seize_errmsg()));
    json_object_set_new(R.manifest, "model", json_pack("{s:s, s:s*}", "dir", o->model_dir, "sha256",
                                                       R.model_sha[0] ? R.model_sha : NULL));
    json_object_set_new(R.manifest, "parameters", params_json(o));
    json_object_set_new(R.manifest, "seeds", json_pack("{s:s*}", "llm", o->seed));
    json_t *by = json_object_get(R.cache, "produced_by");
    json_object_set_new(R.manifest, "produced_by", json_is_object(by) ? json_deep_copy(by) : json_object());
    json_object_set_new(R.manifest, "stages", R.stages);
    json_object_set_new(R.manifest, "failed", R.failed);
    json_object_set_new(R.manifest, "seconds", json_real(seize_now() - t0));
    char *mpath = join(o->out_dir, "manifest.json");
    char errbuf[1024];
    snprintf(errbuf, sizeof errbuf, "%s", seize_errmsg());
    // a run that wrote nothing (everything cached, or stopped before its first stage) leaves
    // the manifest of the run that produced the files as it is
    int mrc = R.wrote || !seize_path_exists(mpath) ? seize_json_save(mpath, R.manifest, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : 0;
    free(mpath);
    json_decref(R.manifest);
    json_decref(R.cache);
    if (rc == 0 && mrc == 0 && !R.partial) say(&R, "done in %.1f s: %s", seize_now() - t0, o->out_dir);
    for (size_t i = 0; i < n_jobs; i++) job_free(&jobs[i]);
    for (int i = 0; i < R.n_owned; i++) free(R.owned[i]);
    if (lock_fd >= 0) close(lock_fd);
    if (rc < 0 && R.permanent) {
        fprintf(stderr, "seize run: error: %s\n", errbuf);
        return EXIT_PARTIAL;
    }
    if (rc < 0) return cli_fail("run", "%s", errbuf);
    if (mrc < 0) return cli_lib_fail("run");
    if (R.partial) {
        fprintf(stderr, "seize run: finished, but some items failed (see manifest.json)\n");
        return EXIT_PARTIAL;
    }
    return EXIT_OK;
}
