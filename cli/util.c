// Helpers shared by the subcommands: messages, the progress line, threads.
#include "cli.h"
#include "seize/clip.h"

#include <stdarg.h>
#include <unistd.h>

int cli_say(int rc, const char *cmd, const char *fmt, ...)
{
    if (seize_cluster_rank() > 0) return rc; // mpirun: rank 0 says it (the ranks agree on errors)
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "seize %s: %s", cmd, rc == EXIT_FAIL ? "error: " : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (rc == EXIT_USAGE) fprintf(stderr, "Try 'seize %s --help'.\n", cmd);
    return rc;
}

void cli_progress_start(cli_progress *p, const char *label, size_t total, int quiet)
{
    *p = (cli_progress){label, total, 0, 0, seize_now(), 0, !quiet && isatty(STDERR_FILENO)};
}

// Redraws the line when enabled and forced or a tenth of a second after the last time.
static void draw(cli_progress *p, int force)
{
    double now = seize_now(), el = now - p->t0, rate = el > 0 ? (double)p->done / el : 0;
    if (!p->enabled || (!force && now - p->last < 0.1)) return;
    p->last = now;
    int eta = rate > 0 && p->total > p->done ? (int)((double)(p->total - p->done) / rate) : -1;
    fprintf(stderr, "\r%s %zu/%zu  %.1f/s", p->label, p->done, p->total, rate);
    if (eta >= 0) fprintf(stderr, "  ETA %dm%02ds", eta / 60, eta % 60);
    if (p->errors) fprintf(stderr, "  %zu errors", p->errors);
    fputs("\033[K", stderr);
    fflush(stderr);
}

void cli_progress_update(cli_progress *p, size_t done, size_t errors)
{
    p->done = done, p->errors = errors;
    draw(p, done >= p->total);
}

void cli_progress_end(cli_progress *p)
{
    draw(p, 1);
    if (p->enabled) fputc('\n', stderr);
}

int cli_threads(long requested)
{
    return seize_cluster_threads((int)requested); // 0: the cores / the ranks on this node
}

int cli_model_threads(long requested)
{
    seize_blas_threads_set(1); // the CLIP state's pool makes one single-threaded call per thread
    return cli_threads(requested);
}

void cli_blas_note(int quiet)
{
    const char *core = quiet ? NULL : seize_clip_blas_better_core();
    if (core)
        fprintf(stderr,
                "seize: note: OpenBLAS uses slower kernels than this CPU allows; "
                "OPENBLAS_CORETYPE=%s may be about twice as fast\n",
                core);
}

int cli_precision_arg(const char *cmd, const char *arg, void *dst)
{
    if (seize_precision_parse(arg, dst) == 0) return 0;
    return cli_usage(cmd, "unknown --precision '%s' (fp32, bf16 or int8)", arg);
}

int cli_progress_cb(void *progress, size_t done, size_t n_bad)
{
    cli_progress_update(progress, done, n_bad);
    return 0;
}
