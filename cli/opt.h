/*
 * cli/opt.h — declarative options: one table per command gives both the parsing and --help.
 *
 *     search_opts o = {.method = "seize", .k = 50};
 *     const cli_opt opts[] = {
 *         CLI_STR("index", 0, "DIR", &o.index_dir, "index folder (seize index build / import)"),
 *         CLI_CHOICE("method", 0, "M", &o.method, "seize|mean|ldre", "scoring (default seize)"),
 *         CLI_INT("k", 0, "K", &o.k, 1, 1000000000, "ranking length (default 50)"),
 *         CLI_FLAG("quiet", 'q', &o.quiet, "no progress line"),
 *         CLI_END};
 *     // (CLI_FLOAT bounds: -INFINITY/INFINITY for none)
 *     const cli_spec spec = {"search", "--index INDEX --after A.npy --out FILE", about, opts};
 *     int rc = cli_parse(&spec, argc, argv, &o.args);
 *     if (rc >= 0) return rc; // --help printed (EXIT_OK) or a usage error (EXIT_USAGE)
 *
 * Every option is a long option ("--name VALUE" or "--name=VALUE"); a short letter is optional.
 * "-h, --help" is always there. Values are checked as they are parsed, with one message per
 * kind ("bad --k 'x' (an integer from 1 to 1000000000)", "unknown --method 'x' (seize, mean or
 * ldre)"); the option given last wins. Positional arguments are returned in order.
 *
 * --help prints "usage: seize CMD SYNOPSIS" (each '\n' of the synopsis starts a line aligned
 * under the first), the about text, the options (name and argument, then the help at column
 * spec->col, default 21; a '\n' in a help continues at that column; a CLI_TEXT entry prints its
 * text as a heading line), then the footer.
 */
#ifndef SEIZE_CLI_OPT_H
#define SEIZE_CLI_OPT_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>

typedef enum cli_opt_kind {
    CLI_K_END = 0,
    CLI_K_FLAG,   /* int *: set to 1 */
    CLI_K_STR,    /* const char **: the argument as given */
    CLI_K_CHOICE, /* const char **: one of the '|'-separated words in `choices` */
    CLI_K_INT,    /* long *: an integer in [min, max] */
    CLI_K_FLOAT,  /* double *: a finite number in [fmin, fmax] */
    CLI_K_LIST,   /* cli_list *: every occurrence appended (repeatable option) */
    CLI_K_CALL,   /* fn(cmd, arg, dst): 0, or an exit status (its message printed) */
    CLI_K_TEXT,   /* not an option: `help` is printed as a line of the option list */
} cli_opt_kind;

typedef struct cli_list {
    const char *items[64];
    size_t n;
} cli_list;

typedef struct cli_opt {
    cli_opt_kind kind;
    const char *name; /* without "--" */
    char short_name;  /* 0: none */
    const char *arg;  /* the argument's name in --help; NULL for flags */
    void *dst;
    long min, max;
    double fmin, fmax;
    const char *choices;
    int (*fn)(const char *cmd, const char *arg, void *dst);
    const char *help; /* NULL: accepted but not listed */
} cli_opt;

// clang-format off
#define CLI_FLAG(name, sh, dst, help_) {CLI_K_FLAG, name, sh, NULL, (int *){dst}, .help = help_}
#define CLI_STR(name, sh, arg, dst, help_) {CLI_K_STR, name, sh, arg, (const char **){dst}, .help = help_}
#define CLI_CHOICE(name, sh, arg, dst, choices_, help_)                                            \
    {CLI_K_CHOICE, name, sh, arg, (const char **){dst}, .choices = choices_, .help = help_}
#define CLI_INT(name, sh, arg, dst, lo, hi, help_)                                                 \
    {CLI_K_INT, name, sh, arg, (long *){dst}, .min = lo, .max = hi, .help = help_}
#define CLI_FLOAT(name, sh, arg, dst, lo, hi, help_)                                               \
    {CLI_K_FLOAT, name, sh, arg, (double *){dst}, .fmin = lo, .fmax = hi, .help = help_}
#define CLI_LIST(name, sh, arg, dst, help_) {CLI_K_LIST, name, sh, arg, (cli_list *){dst}, .help = help_}
#define CLI_CALL(name, sh, arg, dst, fn_, help_) {CLI_K_CALL, name, sh, arg, dst, .fn = fn_, .help = help_}
#define CLI_TEXT(text_) {CLI_K_TEXT, .help = text_}
#define CLI_END {CLI_K_END}
// clang-format on

/* Positional arguments, in order (pointers into argv). */
typedef struct cli_args {
    char **v;
    int n;
} cli_args;

typedef struct cli_spec {
    const char *cmd;      /* "search": messages say "seize search: ..." */
    const char *synopsis; /* after "usage: seize CMD "; '\n' starts an aligned line */
    const char *about;    /* printed after a blank line; NULL: none */
    const cli_opt *opts;  /* ends with CLI_END */
    const char *footer;   /* printed after the options and a blank line; NULL: none */
    int min_args, max_args;
    const char *args_missing; /* message when fewer than min_args (default "missing argument") */
    int col;                  /* help column (default 21) */
} cli_spec;

/* Parses argv[1..] (argv[0] is the command's name). Returns -1 to go on, with the positional
 * arguments in *args (may be NULL when max_args is 0); EXIT_OK after printing --help to stdout;
 * EXIT_USAGE after printing the problem and "Try 'seize CMD --help'." to stderr. */
int cli_parse(const cli_spec *spec, int argc, char **argv, cli_args *args);

/* Options most commands share, one line each in a table. */
#define CLI_THREADS(dst) CLI_INT("threads", 0, "N", dst, 1, 1024, "threads (default: all cores)")
#define CLI_QUIET(dst) CLI_FLAG("quiet", 'q', dst, "no progress line")
#define CLI_PRECISION(dst) CLI_CALL("precision", 0, "P", dst, cli_precision_arg, CLI_PRECISION_HELP)
#define CLI_PRECISION_HELP "matrix products: fp32 (exact, default), bf16 or int8 (faster, inexact)"
int cli_precision_arg(const char *cmd, const char *arg, void *dst);

/* Copies table a then table b (each ending with CLI_END) into out, which holds cap entries, and
 * ends it with CLI_END: a shared group of options (e.g. the LLM client's) joins a command's
 * own. 0, or -1 when cap is too small (a programming error: nothing is written). */
int cli_opts_join(cli_opt *out, size_t cap, const cli_opt *a, const cli_opt *b);

/* Prints the --help text of spec to fp. */
void cli_help(const cli_spec *spec, FILE *fp);

#endif
