/*
 * check.h — the tiny test harness shared by tests/unit/test_*.c.
 *
 *     static void test_roundtrip(void) { CHECK_EQ(1 + 1, 2); }
 *     int main(void) { RUN(test_roundtrip); return check_summary("core"); }
 *
 * A failing CHECK prints file:line and the values, marks the current test failed and returns
 * from it. SKIP(...) marks it skipped (for absent fixtures) and returns. check_summary prints
 * "# <name>: N passed, N failed, N skipped" (read by tests/run.sh) and returns the exit status.
 *
 * Running some test cases only: name them as arguments, or in $CHECK_ONLY (comma- or
 * space-separated), e.g. `build/tests/test_core test_locks test_pool` or
 * `CHECK_ONLY=test_locks build/tests/test_core`. The others are not run and not counted; a name
 * that matches no RUN(...) fails the binary (a typo never passes silently). Cases that depend on
 * an earlier case's files need it named too.
 */
#ifndef SEIZE_CHECK_H
#define SEIZE_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int check_failed_now, check_skipped_now, check_n_pass, check_n_fail, check_n_skip;

/* --- selecting test cases by name (arguments or $CHECK_ONLY) ----------------------------- */

#define CHECK_MAX_ONLY 64
static char check_only_buf[4096];
static const char *check_only[CHECK_MAX_ONLY];
static int check_n_only, check_only_hit[CHECK_MAX_ONLY];
static size_t check_only_used;

static void check_only_add(const char *list)
{
    size_t len = strlen(list);
    if (check_only_used + len + 1 > sizeof check_only_buf) return;
    char *s = check_only_buf + check_only_used;
    memcpy(s, list, len + 1);
    check_only_used += len + 1;
    for (char *tok = strtok(s, ", "); tok && check_n_only < CHECK_MAX_ONLY;
         tok = strtok(NULL, ", "))
        check_only[check_n_only++] = tok;
}

/* glibc passes (argc, argv) to constructors, so main(void) test binaries take names too. */
__attribute__((constructor)) static void check_args_init(int argc, char **argv)
{
    const char *env = getenv("CHECK_ONLY");
    if (env && *env) check_only_add(env);
    for (int i = 1; i < argc && argv; i++)
        check_only_add(argv[i]);
}

/* 1 if the case named `name` is to run (no selection, or it is selected). */
static inline int check_selected(const char *name)
{
    if (!check_n_only) return 1;
    int hit = 0;
    for (int i = 0; i < check_n_only; i++)
        if (!strcmp(check_only[i], name)) hit = check_only_hit[i] = 1;
    return hit;
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);             \
            check_failed_now = 1;                                                                  \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            check_failed_now = 1;                                                                  \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ != check_b_) {                                                                \
            fprintf(stderr, "  %s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld\n", __FILE__,          \
                    __LINE__, #a, #b, check_a_, check_b_);                                         \
            check_failed_now = 1;                                                                  \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_STREQ(a, b)                                                                          \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                           \
            fprintf(stderr, "  %s:%d: CHECK_STREQ(%s, %s) failed: \"%s\" != \"%s\"\n", __FILE__,   \
                    __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",                              \
                    check_b_ ? check_b_ : "(null)");                                               \
            check_failed_now = 1;                                                                  \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double check_a_ = (double)(a), check_b_ = (double)(b);                                     \
        if (!(fabs(check_a_ - check_b_) <= (tol))) {                                               \
            fprintf(stderr, "  %s:%d: CHECK_NEAR(%s, %s, %s) failed: %.9g vs %.9g\n", __FILE__,    \
                    __LINE__, #a, #b, #tol, check_a_, check_b_);                                   \
            check_failed_now = 1;                                                                  \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define SKIP(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "  skipped: ");                                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        check_skipped_now = 1;                                                                     \
        return;                                                                                    \
    } while (0)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        if (!check_selected(#fn)) break;                                                           \
        check_failed_now = check_skipped_now = 0;                                                  \
        fn();                                                                                      \
        if (check_failed_now) {                                                                    \
            check_n_fail++;                                                                        \
            fprintf(stderr, "FAIL %s\n", #fn);                                                     \
        } else if (check_skipped_now) {                                                            \
            check_n_skip++;                                                                        \
            fprintf(stderr, "SKIP %s\n", #fn);                                                     \
        } else {                                                                                   \
            check_n_pass++;                                                                        \
            fprintf(stderr, "ok   %s\n", #fn);                                                     \
        }                                                                                          \
    } while (0)

static inline int check_summary(const char *name)
{
    for (int i = 0; i < check_n_only; i++)
        if (!check_only_hit[i]) {
            fprintf(stderr, "FAIL no test case named '%s' in %s\n", check_only[i], name);
            check_n_fail++;
        }
    printf("# %s: %d passed, %d failed, %d skipped\n", name, check_n_pass, check_n_fail,
           check_n_skip);
    fflush(stdout);
    return check_n_fail ? 1 : 0;
}

/* The fixtures folder: $SEIZE_FIXTURES or ../shared/fixtures; NULL when absent. */
static inline const char *check_fixtures(void)
{
    const char *d = getenv("SEIZE_FIXTURES");
    if (!d || !*d) d = "../shared/fixtures";
    struct stat st;
    if (stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return d;
}

/* Joins the fixtures folder and a relative path into a static buffer (one at a time). */
static inline const char *check_fixture_path(const char *rel)
{
    static char buf[4][4096];
    static int k;
    const char *d = check_fixtures();
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", d ? d : "../shared/fixtures", rel);
    return buf[k];
}

#define NEED_FIXTURES()                                                                            \
    do {                                                                                           \
        if (!check_fixtures())                                                                     \
            SKIP("fixtures folder not found (set SEIZE_FIXTURES; default ../shared/fixtures)");    \
    } while (0)

/* --- scratch files ------------------------------------------------------------------------ */

static char check_tmpdir[256];

/* Creates this binary's scratch folder /tmp/seize-test-<name>-XXXXXX. 0, or -1. */
static inline int check_tmp_init(const char *name)
{
    snprintf(check_tmpdir, sizeof check_tmpdir, "/tmp/seize-test-%s-XXXXXX", name);
    return mkdtemp(check_tmpdir) ? 0 : -1;
}

/* The path of `name` in the scratch folder (8 rotating static buffers). */
static inline const char *check_tmp(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) & 7;
    snprintf(buf[k], sizeof buf[k], "%s/%s", check_tmpdir, name);
    return buf[k];
}

/* Removes the scratch folder and everything in it. */
static inline void check_tmp_cleanup(void)
{
    char cmd[300];
    if (!check_tmpdir[0]) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", check_tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", check_tmpdir);
}

/* Writes a text file (no error reporting: the test's reads will fail instead). */
static inline void check_write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    fputs(text, fp);
    fclose(fp);
}

/* The benchmark annotation files: $SEIZE_DATA or ../shared/data (4 rotating buffers). */
static inline const char *check_data_path(const char *rel)
{
    static char buf[4][1024];
    static int k;
    const char *d = getenv("SEIZE_DATA");
    if (!d || !*d) d = "../shared/data";
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", d, rel);
    return buf[k];
}

#define NEED_DATA(rel)                                                                             \
    do {                                                                                           \
        if (access(check_data_path(rel), R_OK) != 0)                                               \
            SKIP("%s not found (set SEIZE_DATA)", check_data_path(rel));                           \
    } while (0)

#endif
