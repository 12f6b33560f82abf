// The check before an index build (seize/index.h): names unique, every image a regular file,
// missing folders and images; and its findings as text for a person.
#include "seize/data.h"
#include "seize/index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// --- the check before a build ------------------------------------------------------------

typedef struct checker {
    void (*on_issue)(void *ud, const seize_build_issue *issue);
    void *ud;
} checker;

static void issue(const checker *c, seize_build_issue_kind kind, size_t i, size_t other,
                  size_t count, const char *what)
{
    seize_build_issue is = {kind, i, other, count, what};
    if (c->on_issue) c->on_issue(c->ud, &is);
}

static int cmp_by_name(const void *a, const void *b, void *items)
{
    const seize_build_item *it = items;
    return strcmp(it[*(const size_t *)a].name, it[*(const size_t *)b].name);
}

// Pairs of items with the same name (the first three, then the count). -1 when out of memory.
static long check_duplicates(const seize_build_item *it, size_t n, const checker *c)
{
    size_t *by = malloc((n ? n : 1) * sizeof *by), n_dup = 0;
    if (!by) return -1;
    for (size_t i = 0; i < n; i++)
        by[i] = i;
    qsort_r(by, n, sizeof *by, cmp_by_name, (void *)it);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(it[by[i]].name, it[by[i - 1]].name) && n_dup++ < 3)
            issue(c, SEIZE_BUILD_DUPLICATE, by[i], by[i - 1], 0, NULL);
    free(by);
    if (n_dup) issue(c, SEIZE_BUILD_DUPLICATE, (size_t)-1, (size_t)-1, n_dup, NULL);
    return (long)n_dup;
}

static const char *file_kind(mode_t m)
{
    return S_ISDIR(m)                 ? "a folder"
           : S_ISFIFO(m)              ? "a FIFO (named pipe)"
           : S_ISCHR(m) || S_ISBLK(m) ? "a device"
                                      : "not a regular file";
}

int seize_index_build_check(seize_build_item *it, size_t n,
                            void (*on_issue)(void *ud, const seize_build_issue *issue), void *ud,
                            size_t *n_missing)
{
    checker c = {on_issue, ud};
    *n_missing = 0;
    long n_dup = check_duplicates(it, n, &c);
    if (n_dup) return n_dup < 0 ? seize_error(SEIZE_ENOMEM, "out of memory") : (int)n_dup;
    int problems = 0;
    char *last_dir = NULL;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(it[i].path, &st) == 0) {
            if (!S_ISREG(st.st_mode)) {
                issue(&c, SEIZE_BUILD_NOT_FILE, i, 0, 0, file_kind(st.st_mode));
                problems++;
            }
            continue;
        }
        // missing: is its folder there? (each folder checked and reported once)
        const char *slash = strrchr(it[i].path, '/');
        char *d = !slash                ? strdup(".")
                  : slash == it[i].path ? strdup("/")
                                        : strndup(it[i].path, (size_t)(slash - it[i].path));
        if (!d) {
            free(last_dir);
            return seize_error(SEIZE_ENOMEM, "out of memory");
        }
        if (!last_dir || strcmp(d, last_dir)) {
            struct stat ds;
            if (stat(d, &ds) != 0 || !S_ISDIR(ds.st_mode)) {
                issue(&c, SEIZE_BUILD_NO_FOLDER, i, 0, 0, d);
                problems++;
            }
            free(last_dir);
            last_dir = d;
        } else {
            free(d);
        }
        it[i].missing = 1;
        (*n_missing)++;
    }
    free(last_dir);
    return problems;
}

// --- the findings as text

typedef struct texts {
    const seize_build_item *items;
    const char *dup_advice, *folder_advice;
    seize_buf err;
    size_t n_lines; // lines of images that are not files and of missing folders
    int rc;
} texts;

// Lines of the not-a-file and missing-folder kinds shown (the others counted).
#define MAX_LINES 5

static void on_text(void *ud, const seize_build_issue *is)
{
    texts *t = ud;
    const seize_build_item *it = t->items;
    char *a = NULL, *b = NULL, *c = NULL;
    if (t->rc < 0) return;
    if (is->kind != SEIZE_BUILD_DUPLICATE && t->n_lines++ >= MAX_LINES) return;
    if (t->err.len) t->rc = seize_buf_puts(&t->err, "\n");
    if (is->kind == SEIZE_BUILD_DUPLICATE && is->i != (size_t)-1) {
        a = seize_gallery_name_shown(it[is->i].name);
        b = seize_gallery_name_shown(it[is->other].path);
        c = seize_gallery_name_shown(it[is->i].path);
        if (t->rc == 0 && t->err.len == 0)
            t->rc = seize_buf_puts(&t->err, "two images get the same gallery name:\n");
        if (t->rc == 0)
            t->rc = a && b && c ? seize_buf_printf(&t->err, "  '%s' for '%s' and '%s'", a, b, c)
                                : SEIZE_ENOMEM;
    } else if (is->kind == SEIZE_BUILD_DUPLICATE) {
        if (t->rc == 0 && is->count > 3)
            t->rc = seize_buf_printf(&t->err, "  ... and %zu more\n", is->count - 3);
        if (t->rc == 0)
            t->rc =
                seize_buf_printf(&t->err, "names must be unique%s%s%s", t->dup_advice ? " (" : "",
                                 t->dup_advice ? t->dup_advice : "", t->dup_advice ? ")" : "");
    } else if (is->kind == SEIZE_BUILD_NOT_FILE) {
        a = seize_gallery_name_shown(it[is->i].path);
        if (t->rc == 0)
            t->rc = a ? seize_buf_printf(&t->err, "'%s' is %s, not an image file", a, is->what)
                      : SEIZE_ENOMEM;
    } else {
        a = seize_gallery_name_shown(is->what);
        b = seize_gallery_name_shown(it[is->i].name);
        if (t->rc == 0)
            t->rc = a && b ? seize_buf_printf(&t->err,
                                              "folder '%s' does not exist (it should hold gallery "
                                              "images, e.g. '%s')%s%s",
                                              a, b, t->folder_advice ? ": " : "",
                                              t->folder_advice ? t->folder_advice : "")
                           : SEIZE_ENOMEM;
    }
    free(a);
    free(b);
    free(c);
}

// "K of N images are missing and will be left out (listed in index.json): 'p', ..."
static int missing_text(const seize_build_item *it, size_t n, size_t n_missing, seize_buf *m)
{
    int rc = seize_buf_printf(m,
                              "%zu of %zu images are missing and will be left out (listed in "
                              "index.json):",
                              n_missing, n);
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < n && k < 5; i++) {
        if (!it[i].missing) continue;
        char *p = seize_gallery_name_shown(it[i].path);
        rc = p ? seize_buf_printf(m, "%s '%s'", k++ ? "," : "", p) : SEIZE_ENOMEM;
        free(p);
    }
    if (rc == 0 && n_missing > k) rc = seize_buf_puts(m, ", ...");
    return rc;
}

int seize_index_build_check_text(seize_build_item *items, size_t n, const char *dup_advice,
                                 const char *folder_advice, char **errors, char **missing)
{
    *errors = *missing = NULL;
    texts t = {items, dup_advice, folder_advice, {0}, 0, 0};
    seize_buf m = {0};
    size_t n_missing = 0;
    int problems = seize_index_build_check(items, n, on_text, &t, &n_missing);
    if (problems > 0 && t.rc == 0 && t.n_lines > MAX_LINES)
        t.rc = seize_buf_printf(&t.err, "\n... and %zu more", t.n_lines - MAX_LINES);
    if (problems == 0 && n && n_missing == n) {
        char *p = seize_gallery_name_shown(items[0].path);
        t.rc = p ? seize_buf_printf(&t.err, "none of the %zu images exists (first: '%s')", n, p)
                 : SEIZE_ENOMEM;
        free(p);
        problems = 1;
    } else if (problems == 0 && n_missing) {
        t.rc = missing_text(items, n, n_missing, &m);
    }
    if (problems >= 0 && t.rc < 0) problems = seize_error(SEIZE_ENOMEM, "out of memory");
    if (problems > 0) *errors = seize_buf_release(&t.err);
    if (problems == 0) *missing = seize_buf_release(&m);
    seize_buf_free(&t.err);
    seize_buf_free(&m);
    return problems;
}

// Build items for the images of a list (names and paths borrowed), none missing.
static seize_build_item *items_new(const seize_image_list *l)
{
    seize_build_item *v = seize_calloc(l->n ? l->n : 1, sizeof *v);
    for (size_t i = 0; v && i < l->n; i++)
        v[i] = (seize_build_item){l->names[i], l->paths[i], 0};
    return v;
}

// The message so far, followed by "\nnothing was encoded".
static int nothing_encoded(int rc)
{
    char *m = seize_strdup(seize_errmsg());
    if (!m) return seize_error(SEIZE_ENOMEM, "out of memory");
    seize_error(rc, "%s\nnothing was encoded", m);
    free(m);
    return rc;
}

int seize_build_images_prepare(const seize_images_source *src, const char *dup_advice,
                               const char *folder_advice, seize_build_images *out)
{
    memset(out, 0, sizeof *out);
    char *errors = NULL;
    int rc = seize_image_list_gather(src, &out->list);
    if (rc < 0) return rc == SEIZE_EFORMAT ? nothing_encoded(rc) : rc;
    if (!out->list.n)
        return seize_error(SEIZE_ENOTFOUND, "no images to index%s",
                           src->from == SEIZE_IMAGES_DATASET
                               ? ""
                               : " (no .jpg, .jpeg or .png file in the folder)");
    if (!(out->items = items_new(&out->list)) || !(out->source = seize_images_source_label(src)))
        return seize_error(SEIZE_ENOMEM, "out of memory");
    rc = seize_index_build_check_text(out->items, out->list.n, dup_advice, folder_advice, &errors,
                                      &out->missing);
    if (rc > 0) rc = seize_error(SEIZE_EFORMAT, "%s\nnothing was encoded", errors);
    free(errors);
    return rc;
}

void seize_build_images_release(seize_build_images *b)
{
    if (!b) return;
    seize_image_list_free(&b->list);
    free(b->items);
    free(b->missing);
    free(b->source);
    memset(b, 0, sizeof *b);
}
