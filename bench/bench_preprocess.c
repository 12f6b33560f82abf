// bench_preprocess: images/s of decode + preprocess (SEIZE pipeline, 224) of the 12 fixture
// images, seize on one thread against Pillow 9.4 (+ numpy for ToTensor/Normalize) in one
// process, measured in the same run on the same machine. Prints one line with the ratio.
//
// Both sides are timed in CPU seconds of their own process (the machine is shared, so wall
// time would measure the neighbours), and both run with the same glibc malloc settings
// (mmap threshold 64 MiB, trim threshold 256 MiB; seize preprocess uses them too): with glibc's
// defaults every multi-megabyte image buffer is a fresh mmap and its page faults, which on
// this VM cost more than the decoding itself.
#include "seize/core.h"
#include "seize/image.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define SECONDS 3.0

int main(void)
{
    const char *fix = getenv("SEIZE_FIXTURES");
    if (!fix || !*fix) fix = "../shared/fixtures";
    const char *py = getenv("PYTHON");
    if (!py || !*py) py = "/usr/bin/python3";
    char list[4096];
    snprintf(list, sizeof list, "%s/images.txt", fix);
    char **names = NULL;
    size_t n = 0;
    if (seize_read_lines(list, &names, &n) < 0 || n == 0) {
        printf("preprocess: skipped (fixtures not found: %s)\n", seize_errmsg());
        return 0;
    }
    char **paths = calloc(n, sizeof *paths);
    size_t cmdlen = 256;
    for (size_t i = 0; i < n; i++) {
        paths[i] = malloc(strlen(fix) + strlen(names[i]) + 16);
        sprintf(paths[i], "%s/images/%s", fix, names[i]);
        cmdlen += strlen(paths[i]) + 3;
    }
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    seize_preprocess_opts o = seize_preprocess_default_opts();
    float *x = malloc(3 * 224 * 224 * sizeof *x);

    // seize, one thread: warm-up pass, then whole passes for at least SECONDS.
    for (size_t i = 0; i < n; i++)
        if (seize_image_load_preprocess(paths[i], &o, x) < 0) {
            printf("preprocess: FAILED: %s\n", seize_errmsg());
            return 1;
        }
    size_t done = 0;
    double t0 = cpu_now(), el;
    do {
        for (size_t i = 0; i < n; i++)
            seize_image_load_preprocess(paths[i], &o, x);
        done += n;
        el = cpu_now() - t0;
    } while (el < SECONDS);
    double ours = (double)done / el;

    // Pillow, same images, same pipeline, same run.
    char *cmd = malloc(cmdlen + strlen(py));
    int k = sprintf(cmd,
                    "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=67108864:"
                    "glibc.malloc.trim_threshold=268435456 '%s' bench/bench_preprocess_pil.py %g",
                    py, SECONDS);
    for (size_t i = 0; i < n; i++)
        k += sprintf(cmd + k, " '%s'", paths[i]);
    double pil = 0;
    FILE *fp = popen(cmd, "r");
    if (!fp || fscanf(fp, "%lf", &pil) != 1) pil = 0;
    if (fp) pclose(fp);

    if (pil > 0)
        printf("preprocess: decode+preprocess of %zu fixture images (SEIZE pipeline, 224): "
               "seize %.1f img/s (1 thread), Pillow 9.4+numpy %.1f img/s (1 process), "
               "ratio %.2fx (per CPU second)\n",
               n, ours, pil, ours / pil);
    else
        printf("preprocess: decode+preprocess of %zu fixture images: seize %.1f img/s (1 "
               "thread); Pillow side unavailable (%s with PIL and numpy)\n",
               n, ours, py);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    free(cmd);
    free(x);
    seize_lines_free(names, n);
    return 0;
}
