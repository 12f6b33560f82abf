// Stages run as commands of the stage program (a child process each), and the run folder's
// lock. Behind the stage seam (stages.h): pl_spawned_stages is today's table.
#include "stages.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

// --- the run folder's lock -----------------------------------------------------------------------

// flock on the folder's own descriptor: it writes nothing (a fully cached run on a read-only
// folder still takes it), is released by the kernel however the process ends, and is not
// inherited by the stages (close-on-exec).
int pl_lock_run_dir(const char *dir, int *fd_out)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return seize_error(SEIZE_EIO, "cannot open run folder '%s': %s", dir, strerror(errno));
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

// --- spawning ------------------------------------------------------------------------------------

static void set_stage_pid(pl_run *r, pid_t pid)
{
    if (r->p && r->p->cancel) r->p->cancel->stage_pid = (sig_atomic_t)pid;
}

// The child: dies with the run (PR_SET_PDEATHSIG), so that a killed run never leaves a stage
// writing into RUN_DIR behind it; its own process group (signals come from the run, once).
static void exec_stage(const char *exe, char **argv, int outfd, pid_t parent)
{
    // the parent may have died before prctl took effect: then no signal would come
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(128 + SIGTERM);
    setpgid(0, 0);
    // out of the terminal's foreground group, progress lines must still reach it (with
    // `stty tostop` a write would otherwise stop the stage)
    signal(SIGTTOU, SIG_IGN);
    if (outfd >= 0 && dup2(outfd, 1) < 0) _exit(127);
    execv(exe, argv);
    static const char msg[] = "seize run: cannot start a stage\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(127);
}

// Runs the stage program with args (args[0] = subcommand), stdout to `out_path` when not
// NULL. Returns its exit status (128+N when killed by signal N; 1 with the message set when it
// cannot start). A cancellation that arrived meanwhile returns SEIZE_ECANCEL.
static int spawn(pl_run *r, const char *out_path, char **args)
{
    size_t n = 0;
    while (args[n])
        n++;
    char **argv = calloc(n + 2, sizeof *argv);
    if (!argv) return seize_error(SEIZE_ENOMEM, "out of memory"), 1;
    argv[0] = r->exe;
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = args[i];
    int outfd = -1;
    if (out_path && (outfd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        seize_error(SEIZE_EIO, "cannot write '%s': %s", out_path, strerror(errno));
        free(argv);
        return 1;
    }
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) exec_stage(r->exe, argv, outfd, parent);
    int e = errno;
    if (pid > 0) set_stage_pid(r, pid);
    if (outfd >= 0) close(outfd);
    free(argv);
    if (pid < 0) {
        seize_error(SEIZE_EIO, "cannot run '%s %s': %s", r->exe, args[0], strerror(e));
        return 1;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            set_stage_pid(r, 0);
            seize_error(SEIZE_EIO, "waiting for 'seize %s': %s", args[0], strerror(errno));
            return 1;
        }
    set_stage_pid(r, 0);
    if (pl_cancelled(r)) return seize_error(SEIZE_ECANCEL, "interrupted");
    if (WIFSIGNALED(st)) {
        seize_error(SEIZE_EIO, "'seize %s' was killed by signal %d", args[0], WTERMSIG(st));
        return 128 + WTERMSIG(st);
    }
    int code = WEXITSTATUS(st);
    if (code) seize_error(SEIZE_EIO, "'seize %s' failed (exit status %d)", args[0], code);
    return code;
}

// --- the stage commands --------------------------------------------------------------------------

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

static void add_llm_opts(pl_run *r, args *a)
{
    const run_opts *o = &r->o;
    arg2(a, "--seed", o->seed);
    arg2(a, "--concurrency", o->concurrency);
    arg2(a, "--timeout", o->timeout);
    arg2(a, "--max-attempts", o->max_attempts);
    arg2(a, "--backoff-base", o->backoff_base);
    if (o->quiet) arg(a, "--quiet");
}

static int spawned_caption(pl_run *r, const pl_caption_io *io)
{
    const run_opts *o = &r->o;
    char nbuf[32];
    snprintf(nbuf, sizeof nbuf, "%d", o->num_captions);
    args a = {0};
    arg(&a, "caption");
    arg2(&a, "--list", io->list);
    arg2(&a, "--out", io->out);
    arg2(&a, "--endpoint", o->cap_endpoint);
    arg2(&a, "--model", o->cap_model);
    arg2(&a, "-n", nbuf);
    arg2(&a, "--prompt", o->cap_prompt);
    arg2(&a, "--temperature", o->temperature ? o->temperature : "1.0");
    arg2(&a, "--top-p", o->top_p ? o->top_p : "0.9");
    add_llm_opts(r, &a);
    return spawn(r, NULL, a.v);
}

static int spawned_reason(pl_run *r, const pl_reason_io *io)
{
    const run_opts *o = &r->o;
    args a = {0};
    arg(&a, "reason");
    arg2(&a, "--input", io->input);
    arg2(&a, "--out", io->out);
    arg2(&a, "--endpoint", o->llm_endpoint);
    arg2(&a, "--model", o->llm_model);
    arg2(&a, "--prompt-file", o->prompt_file);
    add_llm_opts(r, &a);
    return spawn(r, NULL, a.v);
}

static int spawned_index_build(pl_run *r, const pl_index_io *io)
{
    const run_opts *o = &r->o;
    char bb[32], tb[32];
    snprintf(bb, sizeof bb, "%d", o->batch);
    snprintf(tb, sizeof tb, "%d", o->threads);
    args a = {0};
    arg(&a, "index");
    arg(&a, "build");
    arg2(&a, "--model", o->model_dir);
    arg2(&a, "--list", io->list);
    arg2(&a, "--out", io->out_dir);
    arg2(&a, "--batch", bb);
    if (o->threads > 0) arg2(&a, "--threads", tb);
    if (o->no_pad) arg(&a, "--no-pad");
    if (o->quiet) arg(&a, "--quiet");
    if (io->restart) arg(&a, "--restart");
    return spawn(r, NULL, a.v);
}

static int spawned_query_features(pl_run *r, const pl_features_io *io)
{
    const run_opts *o = &r->o;
    char nb[32], bb[32], tb[32];
    snprintf(nb, sizeof nb, "%d", o->num_captions);
    snprintf(bb, sizeof bb, "%d", o->batch);
    snprintf(tb, sizeof tb, "%d", o->threads);
    args a = {0};
    arg(&a, "query-features");
    arg2(&a, "--model", o->model_dir);
    arg2(&a, "--captions", io->captions);
    arg2(&a, "--out-after", io->out_after);
    arg2(&a, "--out-before", io->out_before);
    arg2(&a, "--num-captions", nb);
    arg2(&a, "--batch", bb);
    if (o->threads > 0) arg2(&a, "--threads", tb);
    if (io->per_caption) arg(&a, "--per-caption");
    if (o->quiet) arg(&a, "--quiet");
    return spawn(r, NULL, a.v);
}

// Each rankings row gets its query's "id" beside the search's "query" (ids[q] for row q).
static int add_query_ids(const char *const *ids, const char *path)
{
    json_t *rows;
    int rc = seize_jsonl_load(path, &rows);
    if (rc < 0) return rc;
    size_t i;
    json_t *v;
    json_array_foreach(rows, i, v)
    {
        json_int_t q = json_integer_value(json_object_get(v, "query"));
        if (q >= 0 && (size_t)q < json_array_size(rows))
            json_object_set_new(v, "id", json_string(ids[q]));
    }
    rc = pl_write_jsonl(path, rows);
    json_decref(rows);
    return rc;
}

static int spawned_search(pl_run *r, const pl_search_io *io)
{
    const run_opts *o = &r->o;
    char pb[64], nb[64], kb[32], tb[32];
    snprintf(pb, sizeof pb, "%.9g", o->pos);
    snprintf(nb, sizeof nb, "%.9g", o->neg);
    snprintf(kb, sizeof kb, "%d", o->k);
    snprintf(tb, sizeof tb, "%d", o->threads);
    args a = {0};
    arg(&a, "search");
    arg2(&a, "--index", io->index_dir);
    arg2(&a, "--after", io->after);
    arg2(&a, "--before", io->before);
    arg2(&a, "--method", o->method);
    arg2(&a, "--pos", pb);
    arg2(&a, "--neg", nb);
    arg2(&a, "--k", kb);
    if (o->threads > 0) arg2(&a, "--threads", tb);
    if (io->cirr_annotations) {
        arg2(&a, "--dataset", "cirr");
        arg2(&a, "--annotations", io->cirr_annotations);
    }
    arg2(&a, "--exclude", io->exclude);
    arg2(&a, "--out", io->out);
    int st = spawn(r, NULL, a.v);
    if (st == 0 && io->query_ids) st = add_query_ids(io->query_ids, io->out);
    return st;
}

static int spawned_eval(pl_run *r, const pl_eval_io *io)
{
    args a = {0};
    arg(&a, "eval");
    arg(&a, io->dataset);
    for (size_t i = 0; i < io->n && i < 3; i++) {
        arg2(&a, "--annotations", io->annotations[i]);
        arg2(&a, "--rankings", io->rankings[i]);
    }
    arg(&a, "--json");
    return spawn(r, io->out_json, a.v);
}

static int spawned_submission(pl_run *r, const pl_submission_io *io)
{
    args a = {0};
    arg(&a, "submission");
    arg(&a, io->dataset);
    arg2(&a, "--rankings", io->rankings);
    arg2(&a, "--annotations", io->annotations);
    arg2(&a, "--out", io->out);
    arg2(&a, "--out-subset", io->out_subset);
    return spawn(r, NULL, a.v);
}

const pl_stage_ops pl_spawned_stages = {
    spawned_caption, spawned_reason, spawned_index_build, spawned_query_features,
    spawned_search,  spawned_eval,   spawned_submission,
};
