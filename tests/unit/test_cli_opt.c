// Unit tests of the CLI's declarative options (cli/opt.h): parsing by kind, errors, --help.
#include "../../cli/cli.h"
#include "../../cli/opt.h"

#include "check.h"

#include <stdio.h>

typedef struct opts {
    const char *name, *method;
    long k;
    double pos;
    int quiet;
    cli_list inputs;
    const char *called;
} opts;

static int take_upper(const char *cmd, const char *arg, void *dst)
{
    if (arg[0] < 'A' || arg[0] > 'Z') return cli_usage(cmd, "--upper wants capitals");
    *(const char **)dst = arg;
    return 0;
}

// Parses argv (NULL-ended) into *o, with stderr captured in err (truncated) and stdout in out.
static int parse(opts *o, cli_args *args, char *out, size_t n_out, char *err, size_t n_err,
                 char **argv)
{
    *o = (opts){.method = "seize", .k = 50, .pos = -1};
    const cli_opt table[] = {
        CLI_STR("name", 'n', "NAME", &o->name, "a name"),
        CLI_CHOICE("method", 0, "M", &o->method, "seize|mean|ldre", "the method\nsecond line"),
        CLI_INT("k", 0, "K", &o->k, 1, 100, "ranking length"),
        CLI_FLOAT("pos", 0, "P", &o->pos, 0, INFINITY, "weight"),
        CLI_QUIET(&o->quiet),
        CLI_TEXT("Heading:"),
        CLI_LIST("input", 'i', "FILE", &o->inputs, "repeatable"),
        CLI_CALL("upper", 0, "U", &o->called, take_upper, NULL),
        CLI_END};
    const cli_spec spec = {"demo", "--name NAME\n[--k K]", "About it.", table, "Footer.", 0, 2};
    int argc = 0;
    while (argv[argc])
        argc++;
    fflush(stdout);
    fflush(stderr);
    FILE *fo = tmpfile(), *fe = tmpfile();
    int so = dup(1), se = dup(2);
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    int rc = cli_parse(&spec, argc, argv, args);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    rewind(fo);
    rewind(fe);
    out[fread(out, 1, n_out - 1, fo)] = 0;
    err[fread(err, 1, n_err - 1, fe)] = 0;
    fclose(fo);
    fclose(fe);
    return rc;
}

#define PARSE(...)                                                                                 \
    parse(&o, &args, out, sizeof out, err, sizeof err, (char *[]){"demo", __VA_ARGS__, NULL})

static void test_values(void)
{
    opts o;
    cli_args args;
    char out[4096], err[4096];
    int rc = PARSE("--name", "x", "pos1", "--method=mean", "--k", "7", "--pos", "0.5", "-q", "-i",
                   "a", "--input", "b", "--upper", "Yes", "pos2");
    CHECK_EQ(rc, -1);
    CHECK_STREQ(o.name, "x");
    CHECK_STREQ(o.method, "mean");
    CHECK_EQ(o.k, 7);
    CHECK_NEAR(o.pos, 0.5, 0);
    CHECK_EQ(o.quiet, 1);
    CHECK_EQ(o.inputs.n, 2);
    CHECK_STREQ(o.inputs.items[1], "b");
    CHECK_STREQ(o.called, "Yes");
    CHECK_EQ(args.n, 2);
    CHECK_STREQ(args.v[0], "pos1");
    CHECK_STREQ(args.v[1], "pos2");
    CHECK_STREQ(err, "");
}

static void test_errors(void)
{
    opts o;
    cli_args args;
    char out[4096], err[4096];
    CHECK_EQ(PARSE("--k", "0"), EXIT_USAGE);
    CHECK_MSG(strstr(err, "bad --k '0' (an integer from 1 to 100)"), "%s", err);
    CHECK_MSG(strstr(err, "Try 'seize demo --help'."), "%s", err);
    CHECK_EQ(PARSE("--pos", "-0.1"), EXIT_USAGE);
    CHECK_MSG(strstr(err, "bad --pos '-0.1' (a number >= 0)"), "%s", err);
    CHECK_EQ(PARSE("--pos", "inf"), EXIT_USAGE);
    CHECK_EQ(PARSE("--method", "best"), EXIT_USAGE);
    CHECK_MSG(strstr(err, "unknown --method 'best' (seize, mean or ldre)"), "%s", err);
    CHECK_EQ(PARSE("--bogus"), EXIT_USAGE);
    CHECK_MSG(strstr(err, "unknown option '--bogus'"), "%s", err);
    CHECK_EQ(PARSE("-z"), EXIT_USAGE);
    CHECK_MSG(strstr(err, "unknown option '-z'"), "%s", err);
    CHECK_EQ(PARSE("--name"), EXIT_USAGE);
    CHECK_MSG(strstr(err, "--name needs an argument"), "%s", err);
    CHECK_EQ(PARSE("a", "b", "c"), EXIT_USAGE);
    CHECK_MSG(strstr(err, "unexpected argument 'c'"), "%s", err);
    CHECK_EQ(PARSE("--upper", "no"), EXIT_USAGE);
    CHECK_MSG(strstr(err, "--upper wants capitals"), "%s", err);
    CHECK_STREQ(out, "");
}

static void test_help(void)
{
    opts o;
    cli_args args;
    char out[4096], err[4096];
    CHECK_EQ(PARSE("--k", "5", "--help", "--k", "bad"), EXIT_OK);
    const char *want = "usage: seize demo --name NAME\n"
                       "                  [--k K]\n"
                       "\n"
                       "About it.\n"
                       "\n"
                       "  -n, --name NAME    a name\n"
                       "  --method M         the method\n"
                       "                     second line\n"
                       "  --k K              ranking length\n"
                       "  --pos P            weight\n"
                       "  -q, --quiet        no progress line\n"
                       "Heading:\n"
                       "  -i, --input FILE   repeatable\n"
                       "  -h, --help         this help\n"
                       "\n"
                       "Footer.\n";
    CHECK_STREQ(out, want);
    CHECK_STREQ(err, "");
}

static void test_join(void)
{
    int a1 = 0, b1 = 0;
    const cli_opt a[] = {CLI_FLAG("a", 0, &a1, "a"), CLI_END};
    const cli_opt b[] = {CLI_FLAG("b", 0, &b1, "b"), CLI_FLAG("c", 0, &b1, "c"), CLI_END};
    cli_opt all[4];
    CHECK_EQ(cli_opts_join(all, 4, a, b), 0);
    CHECK_STREQ(all[0].name, "a");
    CHECK_STREQ(all[2].name, "c");
    CHECK_EQ(all[3].kind, CLI_K_END);
    CHECK_EQ(cli_opts_join(all, 3, a, b), -1);
}

int main(void)
{
    RUN(test_values);
    RUN(test_errors);
    RUN(test_help);
    RUN(test_join);
    return check_summary("cli_opt");
}
