// A job's files checked before anything is sent or encoded: every reference image exists and
// is a JPEG or PNG file; the gallery images exist (a missing image folder is an error, named
// once; some missing images are one summary line and are left out).
#include "run_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *pl_image_problem(const char *path, int *missing)
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

static void append(char *buf, size_t size, const char *sep, const char *f, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t size, const char *sep, const char *f, ...)
{
    size_t l = strlen(buf);
    if (l && l < size) snprintf(buf + l, size - l, "%s", sep), l = strlen(buf);
    va_list ap;
    va_start(ap, f);
    if (l < size) vsnprintf(buf + l, size - l, f, ap);
    va_end(ap);
}

static void failed_item(pl_run *r, job *j, const char *stage, const char *item, const char *why)
{
    json_array_append_new(r->failed, json_pack("{s:s, s:s, s:s, s:s}", "job", j->name, "stage",
                                               stage, "item", item, "error", why));
}

// Marks the gallery images that do not exist; a whole missing folder is the error.
static int missing_gallery(job *j)
{
    j->g_missing = calloc(j->gl->n + 1, 1);
    if (!j->g_missing) return seize_error(SEIZE_ENOMEM, "out of memory");
    size_t first = SIZE_MAX;
    for (size_t i = 0; i < j->gl->n; i++) {
        struct stat st;
        if (stat(j->g_paths[i], &st) != 0) {
            j->g_missing[i] = 1;
            j->n_g_missing++;
            if (first == SIZE_MAX) first = i;
        }
    }
    if (!j->n_g_missing || j->folder) return 0;
    char *miss = seize_layout_first_missing(j->g_paths[first]);
    int rc = 0;
    if (miss && strcmp(miss, j->g_paths[first]) != 0)
        rc = seize_error(SEIZE_EINVAL,
                         "%s: missing folder '%s' (%zu of the %zu gallery images are missing; "
                         "see 'seize run --help' for the files each dataset needs)",
                         j->name, miss, j->n_g_missing, j->gl->n);
    free(miss);
    return rc;
}

// Reference images: missing ones are the error (the run cannot answer those queries); files
// that are no image are a permanent error.
static int check_references(pl_run *r, job *j)
{
    size_t n_missing = 0, n_bad = 0;
    char shown[512] = "", badshown[1024] = "";
    for (size_t q = 0; q < j->n_q; q++) {
        int dup = 0;
        for (size_t p = q; p-- > 0 && p + 64 > q && !dup;)
            dup = !strcmp(j->q_ref_path[p], j->q_ref_path[q]);
        if (dup) continue;
        int missing;
        const char *why = pl_image_problem(j->q_ref_path[q], &missing);
        if (!why) continue;
        if (missing) {
            if (n_missing++ < 3)
                append(shown, sizeof shown, ", ", "'%s' (query %s)", j->q_ref_path[q], j->q_id[q]);
        } else {
            if (n_bad++ < 3)
                append(badshown, sizeof badshown, "; ", "'%s' (query %s): %s", j->q_ref_path[q],
                       j->q_id[q], why);
            failed_item(r, j, "validate", j->q_ref_path[q], why);
        }
    }
    if (n_missing)
        return seize_error(SEIZE_EINVAL, "%s: %zu reference image%s missing: %s%s", j->name,
                           n_missing, n_missing == 1 ? " is" : "s are", shown,
                           n_missing > 3 ? ", ..." : "");
    if (n_bad) {
        r->permanent = 1;
        return seize_error(SEIZE_EFORMAT,
                           "%s: %zu reference image%s cannot be used: %s%s (permanent: "
                           "replace the file%s or remove the quer%s)",
                           j->name, n_bad, n_bad == 1 ? "" : "s", badshown,
                           n_bad > 3 ? "; ..." : "", n_bad == 1 ? "" : "s",
                           n_bad == 1 ? "y" : "ies");
    }
    return 0;
}

int pl_validate_job(pl_run *r, job *j)
{
    int rc = missing_gallery(j);
    if (rc == 0) rc = check_references(r, j);
    if (rc < 0 || !j->n_g_missing) return rc;
    char list[512] = "";
    size_t shown_n = 0;
    for (size_t i = 0; i < j->gl->n; i++) {
        if (!j->g_missing[i]) continue;
        if (shown_n++ < 5) append(list, sizeof list, ", ", "'%s'", j->g_paths[i]);
        failed_item(r, j, "index", j->gl->names[i], "missing");
    }
    pl_warn(r, "%s: %zu of the %zu gallery images are missing and left out: %s%s", j->name,
            j->n_g_missing, j->gl->n, list, j->n_g_missing > 5 ? ", ..." : "");
    r->partial = 1;
    return 0;
}
