// Declarative options (cli/opt.h): the table drives getopt_long and prints --help.
#include "opt.h"

#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPTS 96
#define HELP_VAL 1

static size_t count_opts(const cli_opt *o)
{
    size_t n = 0;
    while (o[n].kind != CLI_K_END)
        n++;
    return n;
}

// Whether s is one of the '|'-separated words; words[] gets them as "seize, mean or ldre".
static int is_choice(const char *choices, const char *s, char *words, size_t cap)
{
    int hit = 0, used = 0;
    for (const char *p = choices; p && used < (int)cap;) {
        const char *bar = strchr(p, '|');
        int len = bar ? (int)(bar - p) : (int)strlen(p);
        hit |= len == (int)strlen(s) && !strncmp(p, s, (size_t)len);
        used += snprintf(words + used, cap - (size_t)used, "%s%.*s",
                         p == choices ? ""
                         : bar        ? ", "
                                      : " or ",
                         len, p);
        p = bar ? bar + 1 : NULL;
    }
    return hit;
}

// Stores one option's value: 0, or the usage error's exit status (printed).
static int store(const char *cmd, const cli_opt *o, char *arg)
{
    char what[256];
    double v;
    cli_list *l = o->dst;
    switch (o->kind) {
    case CLI_K_FLAG:
        return *(int *)o->dst = 1, 0;
    case CLI_K_CHOICE:
        if (!is_choice(o->choices, arg, what, sizeof what))
            return cli_usage(cmd, "unknown --%s '%s' (%s)", o->name, arg, what);
        // fall through
    case CLI_K_STR:
        return *(const char **)o->dst = arg, 0;
    case CLI_K_INT:
        if (!cli_parse_int(arg, o->min, o->max, (long *)o->dst)) return 0;
        return cli_usage(cmd, "bad --%s '%s' (an integer from %ld to %ld)", o->name, arg, o->min,
                         o->max);
    case CLI_K_FLOAT:
        if (!cli_parse_float(arg, &v) && v >= o->fmin && v <= o->fmax)
            return *(double *)o->dst = v, 0;
        if (isinf(o->fmin))
            snprintf(what, sizeof what, "a number");
        else if (isinf(o->fmax))
            snprintf(what, sizeof what, "a number >= %g", o->fmin);
        else
            snprintf(what, sizeof what, "a number from %g to %g", o->fmin, o->fmax);
        return cli_usage(cmd, "bad --%s '%s' (%s)", o->name, arg, what);
    case CLI_K_LIST:
        if (l->n == sizeof l->items / sizeof l->items[0])
            return cli_usage(cmd, "--%s given more than %zu times", o->name, l->n);
        return l->items[l->n++] = arg, 0;
    case CLI_K_CALL:
        return o->fn(cmd, arg, o->dst);
    default:
        return 0;
    }
}

// The getopt_long tables of spec: long options (val = 256 + index; --help = HELP_VAL) and the
// short option string. -1 when the table is too long (a programming error).
static int build(const cli_spec *spec, struct option *lo, char *shorts, size_t n)
{
    if (n + 2 > MAX_OPTS) return -1;
    size_t k = 0, s = 0;
    shorts[s++] = ':';
    shorts[s++] = 'h';
    for (size_t i = 0; i < n; i++) {
        const cli_opt *o = &spec->opts[i];
        if (o->kind == CLI_K_TEXT) continue;
        int has_arg = o->kind == CLI_K_FLAG ? no_argument : required_argument;
        lo[k++] = (struct option){o->name, has_arg, NULL, 256 + (int)i};
        if (o->short_name) {
            shorts[s++] = o->short_name;
            if (has_arg) shorts[s++] = ':';
        }
    }
    lo[k++] = (struct option){"help", no_argument, NULL, HELP_VAL};
    lo[k] = (struct option){0, 0, 0, 0};
    shorts[s] = 0;
    return 0;
}

static const cli_opt *by_short(const cli_spec *spec, int c)
{
    for (const cli_opt *o = spec->opts; o->kind != CLI_K_END; o++)
        if (o->kind != CLI_K_TEXT && o->short_name == c) return o;
    return NULL;
}

// The option that getopt_long could not take: argv[optind - 1] names it.
static int getopt_error(const cli_spec *spec, int c, char **argv)
{
    const char *what = argv[optind - 1];
    if (c == ':') return cli_usage(spec->cmd, "%s needs an argument", what);
    if (optopt && optopt < 256 && !strncmp(what, "-", 1) && strncmp(what, "--", 2))
        return cli_usage(spec->cmd, "unknown option '-%c'", optopt);
    return cli_usage(spec->cmd, "unknown option '%s'", what);
}

int cli_parse(const cli_spec *spec, int argc, char **argv, cli_args *args)
{
    struct option lo[MAX_OPTS];
    char shorts[2 * MAX_OPTS + 3];
    size_t n = count_opts(spec->opts);
    if (build(spec, lo, shorts, n) < 0) return cli_fail(spec->cmd, "too many options");
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        const cli_opt *o = c >= 256 ? &spec->opts[c - 256] : by_short(spec, c);
        if (c == HELP_VAL || c == 'h') {
            cli_help(spec, stdout);
            return EXIT_OK;
        }
        if (!o) return getopt_error(spec, c, argv);
        int rc = store(spec->cmd, o, optarg);
        if (rc) return rc;
    }
    int n_args = argc - optind;
    if (n_args < spec->min_args)
        return cli_usage(spec->cmd, "%s",
                         spec->args_missing ? spec->args_missing : "missing argument");
    if (n_args > spec->max_args)
        return cli_usage(spec->cmd, "unexpected argument '%s'", argv[optind + spec->max_args]);
    if (args) *args = (cli_args){argv + optind, n_args};
    return -1;
}

int cli_opts_join(cli_opt *out, size_t cap, const cli_opt *a, const cli_opt *b)
{
    size_t na = count_opts(a), nb = count_opts(b);
    if (na + nb + 1 > cap) return -1;
    memcpy(out, a, na * sizeof *a);
    memcpy(out + na, b, nb * sizeof *b);
    out[na + nb] = (cli_opt)CLI_END;
    return 0;
}

// "text" up to each '\n', the lines after the first indented by `indent`.
static void put_indented(FILE *fp, const char *text, int indent)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        if (p != text) fprintf(fp, "%*s", indent, "");
        fprintf(fp, "%.*s\n", len, p);
        p = nl ? nl + 1 : p + len;
    }
}

static void put_option(FILE *fp, const cli_opt *o, int col)
{
    char label[160], sh[8] = "";
    if (o->short_name) snprintf(sh, sizeof sh, "-%c, ", o->short_name);
    int len = snprintf(label, sizeof label, "  %s--%s%s%s", sh, o->name, o->arg ? " " : "",
                       o->arg ? o->arg : "");
    if (len >= col)
        fprintf(fp, "%s\n%*s", label, col, "");
    else
        fprintf(fp, "%-*s", col, label);
    put_indented(fp, o->help, col);
}

void cli_help(const cli_spec *spec, FILE *fp)
{
    int col = spec->col ? spec->col : 21;
    int indent = (int)strlen("usage: seize  ") + (int)strlen(spec->cmd);
    fprintf(fp, "usage: seize %s ", spec->cmd);
    put_indented(fp, spec->synopsis, indent);
    if (spec->about) {
        fputc('\n', fp);
        put_indented(fp, spec->about, 0);
    }
    fputc('\n', fp);
    for (const cli_opt *o = spec->opts; o->kind != CLI_K_END; o++) {
        if (o->kind == CLI_K_TEXT)
            put_indented(fp, o->help, 0);
        else if (o->help)
            put_option(fp, o, col);
    }
    fprintf(fp, "%-*s%s\n", col, "  -h, --help", "this help");
    if (spec->footer) {
        fputc('\n', fp);
        put_indented(fp, spec->footer, 0);
    }
}
