// Helpers shared by the subcommands: error reporting, number parsing, progress.
#include "cli.h"

#include "seize/clip.h"
#include "seize/core.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "seize %s: error: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "seize %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'seize %s --help'.\n", cmd);
    return EXIT_USAGE;
}

int cli_lib_fail(const char *cmd)
{
    return cli_fail(cmd, "%s", seize_errmsg());
}

int cli_parse_int(const char *s, long min, long max, long *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int cli_parse_float(const char *s, double *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

void cli_progress_start(cli_progress *p, const char *label, size_t total, int quiet)
{
    p->label = label;
    p->total = total;
    p->done = p->errors = 0;
    p->t0 = p->last = seize_now();
    p->enabled = !quiet && isatty(STDERR_FILENO);
}

static void draw(cli_progress *p, double now)
{
    double el = now - p->t0, rate = el > 0 ? (double)p->done / el : 0;
    fprintf(stderr, "\r%s %zu/%zu  %.1f/s", p->label, p->done, p->total, rate);
    if (rate > 0 && p->total > p->done) {
        double eta = (double)(p->total - p->done) / rate;
        fprintf(stderr, "  ETA %dm%02ds", (int)(eta / 60), (int)eta % 60);
    }
    if (p->errors) fprintf(stderr, "  %zu errors", p->errors);
    fprintf(stderr, "\033[K");
    fflush(stderr);
}

void cli_progress_update(cli_progress *p, size_t done, size_t errors)
{
    p->done = done;
    p->errors = errors;
    if (!p->enabled) return;
    double now = seize_now();
    if (now - p->last < 0.1 && done < p->total) return;
    p->last = now;
    draw(p, now);
}

void cli_progress_end(cli_progress *p)
{
    if (!p->enabled) return;
    draw(p, seize_now());
    fputc('\n', stderr);
}

int cli_threads(long requested)
{
    return requested > 0 ? (int)requested : seize_cpu_count();
}

int cli_model_threads(long requested)
{
    seize_blas_threads_set(1); // the CLIP state's pool makes one single-threaded call per thread
    return cli_threads(requested);
}

void cli_blas_note(int quiet)
{
    const char *core = seize_clip_blas_better_core();
    if (core && !quiet)
        fprintf(stderr,
                "seize: note: OpenBLAS uses slower kernels than this CPU allows; "
                "OPENBLAS_CORETYPE=%s may be about twice as fast\n",
                core);
}
