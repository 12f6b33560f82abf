// Gallery folder scanning (see the "folder scanning" section of seize/data.h).
#include "seize/data.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// Deeper than this is treated as a loop we failed to see (and keeps the recursion bounded).
#define MAX_DEPTH 256

typedef struct cand {
    char *name, *path;
    dev_t dev;
    ino_t ino;
    size_t order; // position after sorting by name
} cand;

// (st_dev, st_ino) of the folders entered: open addressing, linear probing.
typedef struct dirset {
    dev_t *dev;
    ino_t *ino;
    uint8_t *used;
    size_t cap, n;
} dirset;

typedef struct scan {
    const char *root;
    unsigned flags;
    cand *c;
    size_t n_c, cap_c;
    seize_folder_list *out;
    size_t cap_issues;
    dirset dirs;
} scan;

// --- the set of folders entered

static size_t dir_hash(dev_t d, ino_t i, size_t cap)
{
    uint64_t h = (uint64_t)d * 0x9E3779B97F4A7C15ull ^ (uint64_t)i * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

// 1 if newly added, 0 if present, SEIZE_ENOMEM.
static int dirset_add(dirset *s, dev_t d, ino_t i)
{
    if (2 * (s->n + 1) > s->cap) {
        dirset t = {0};
        t.cap = s->cap ? s->cap * 2 : 64;
        t.dev = calloc(t.cap, sizeof *t.dev);
        t.ino = calloc(t.cap, sizeof *t.ino);
        t.used = calloc(t.cap, 1);
        if (!t.dev || !t.ino || !t.used) {
            free(t.dev);
            free(t.ino);
            free(t.used);
            return seize_error(SEIZE_ENOMEM, "out of memory");
        }
        for (size_t k = 0; k < s->cap; k++)
            if (s->used[k]) {
                size_t h = dir_hash(s->dev[k], s->ino[k], t.cap);
                while (t.used[h])
                    h = (h + 1) & (t.cap - 1);
                t.used[h] = 1;
                t.dev[h] = s->dev[k];
                t.ino[h] = s->ino[k];
                t.n++;
            }
        free(s->dev);
        free(s->ino);
        free(s->used);
        *s = t;
    }
    size_t h = dir_hash(d, i, s->cap);
    while (s->used[h]) {
        if (s->dev[h] == d && s->ino[h] == i) return 0;
        h = (h + 1) & (s->cap - 1);
    }
    s->used[h] = 1;
    s->dev[h] = d;
    s->ino[h] = i;
    s->n++;
    return 1;
}

static void dirset_free(dirset *s)
{
    free(s->dev);
    free(s->ino);
    free(s->used);
}

// --- helpers

static int is_image_name(const char *n)
{
    const char *e = strrchr(n, '.');
    if (!e || e == n) return 0;
    char ext[8] = {0};
    for (int i = 0; i < 7 && e[i + 1]; i++)
        ext[i] = (char)tolower((unsigned char)e[i + 1]);
    if (strlen(e + 1) > 4) return 0;
    return !strcmp(ext, "jpg") || !strcmp(ext, "jpeg") || !strcmp(ext, "png");
}

static const char *file_kind(mode_t m)
{
    return S_ISFIFO(m)   ? "a FIFO (named pipe)"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

// Records an issue; `reason` is taken over (freed here on failure).
static int add_issue(scan *s, seize_folder_issue_kind kind, const char *rel, char *reason)
{
    seize_folder_list *o = s->out;
    char *name = seize_gallery_name_escape(rel, strlen(rel));
    if (!name || !reason) goto oom;
    if (o->n_issues == s->cap_issues) {
        size_t cap = s->cap_issues ? s->cap_issues * 2 : 16;
        seize_folder_issue *t = seize_realloc(o->issues, cap, sizeof *t);
        if (!t) goto oom;
        o->issues = t;
        s->cap_issues = cap;
    }
    o->issues[o->n_issues++] = (seize_folder_issue){kind, name, reason};
    if (kind == SEIZE_FOLDER_BAD_NAME || kind == SEIZE_FOLDER_NOT_REGULAR ||
        kind == SEIZE_FOLDER_UNREADABLE)
        o->n_errors++;
    return 0;
oom:
    free(name);
    free(reason);
    return seize_error(SEIZE_ENOMEM, "out of memory");
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// --- the walk

static int walk(scan *s, const char *dir, const char *rel, int depth);

// The entries of d that are not hidden ('.' and '..' included), sorted, so that the walk (and
// which of two paths wins) is deterministic; a read error is an error (a folder read in part
// would lose images silently). Closes d.
static int read_entries(DIR *d, const char *dir, char ***out, size_t *n_out)
{
    char **ents = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((errno = 0, e = readdir(d))) {
        if (e->d_name[0] == '.') continue; // hidden files and folders, '.' and '..'
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **t = seize_realloc(ents, cap, sizeof *t);
            if (!t) {
                rc = seize_error(SEIZE_ENOMEM, "out of memory");
                break;
            }
            ents = t;
        }
        if (!(ents[n] = seize_strdup(e->d_name))) {
            rc = seize_error(SEIZE_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    if (rc == 0 && !e && errno)
        rc = seize_error(SEIZE_EIO, "cannot read folder '%s': %s", dir, strerror(errno));
    closedir(d);
    if (rc == 0 && n) qsort(ents, n, sizeof *ents, cmp_cstr);
    *out = ents;
    *n_out = n;
    return rc;
}

// A subfolder: entered once (a link to a folder already scanned is a note), to MAX_DEPTH.
static int enter_folder(scan *s, const struct stat *st, const char *full, const char *sub,
                        int depth)
{
    if (s->flags & SEIZE_FOLDER_FLAT) return 0;
    int fresh = dirset_add(&s->dirs, st->st_dev, st->st_ino);
    if (fresh < 0) return fresh;
    if (!fresh)
        return add_issue(s, SEIZE_FOLDER_LOOP, sub,
                         seize_str_printf("a link to a folder already scanned (itself, a parent or "
                                          "another path): skipped, its images are counted once"));
    if (depth + 1 >= MAX_DEPTH)
        return add_issue(
            s, SEIZE_FOLDER_UNREADABLE, sub,
            seize_str_printf("folders nested more than %d deep: not scanned", MAX_DEPTH));
    return walk(s, full, sub, depth + 1);
}

// An entry named like an image: listed when its name is good and it is a regular file (then
// *full and *sub are taken over and set to NULL), else an error issue.
static int add_image(scan *s, const struct stat *st, char **full, char **sub)
{
    const char *why = seize_gallery_name_problem(*sub, strlen(*sub));
    if (why)
        return add_issue(
            s, SEIZE_FOLDER_BAD_NAME, *sub,
            seize_str_printf("the name %s; gallery names must be UTF-8 text without control "
                             "characters: rename the file (or folder)%s",
                             why,
                             strstr(why, "UTF-8") ? ", e.g. with convmv -f latin1 -t utf8" : ""));
    if (!S_ISREG(st->st_mode))
        return add_issue(
            s, SEIZE_FOLDER_NOT_REGULAR, *sub,
            seize_str_printf("%s, not an image file: remove it from the gallery folder",
                             file_kind(st->st_mode)));
    if (s->n_c == s->cap_c) {
        size_t c2 = s->cap_c ? s->cap_c * 2 : 256;
        cand *t = seize_realloc(s->c, c2, sizeof *t);
        if (!t) return seize_error(SEIZE_ENOMEM, "out of memory");
        s->c = t;
        s->cap_c = c2;
    }
    s->c[s->n_c++] = (cand){*sub, *full, st->st_dev, st->st_ino, 0};
    *sub = *full = NULL;
    return 0;
}

// One entry `name` of the folder `dir` (rel inside root).
static int visit(scan *s, const char *dir, const char *rel, const char *name, int depth)
{
    char *full = seize_path_join(dir, name);
    char *sub = rel[0] ? seize_str_printf("%s/%s", rel, name) : seize_strdup(name);
    int rc = 0, image = is_image_name(name);
    struct stat st;
    if (!full || !sub) {
        rc = seize_error(SEIZE_ENOMEM, "out of memory");
    } else if (stat(full, &st) != 0) {
        // a dangling link or an entry we may not examine: an error only where an image would
        // be lost
        struct stat lst;
        int e = errno, link = lstat(full, &lst) == 0 && S_ISLNK(lst.st_mode);
        if (image)
            rc = add_issue(
                s, SEIZE_FOLDER_UNREADABLE, sub,
                seize_str_printf(
                    "cannot read: %s%s", strerror(e),
                    link ? " (a symbolic link to a missing file: fix or remove the link)" : ""));
    } else if (S_ISDIR(st.st_mode)) {
        rc = enter_folder(s, &st, full, sub, depth);
    } else if (image) {
        rc = add_image(s, &st, &full, &sub);
    }
    free(full);
    free(sub);
    return rc;
}

// Scans the folder `dir` (root joined with rel; rel "" for root itself).
static int walk(scan *s, const char *dir, const char *rel, int depth)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (!rel[0])
            return seize_error(SEIZE_EIO, "cannot open gallery folder '%s': %s", dir,
                               strerror(errno));
        return add_issue(
            s, SEIZE_FOLDER_UNREADABLE, rel,
            seize_str_printf("cannot open this folder: %s (its images would be missing)",
                             strerror(errno)));
    }
    char **ents;
    size_t n;
    int rc = read_entries(d, dir, &ents, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = visit(s, dir, rel, ents[i], depth);
    for (size_t i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    return rc;
}

static int cmp_cand_name(const void *a, const void *b)
{
    return strcmp(((const cand *)a)->name, ((const cand *)b)->name);
}

static int cmp_cand_file(const void *a, const void *b)
{
    const cand *x = *(const cand *const *)a, *y = *(const cand *const *)b;
    if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino) return x->ino < y->ino ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

int seize_folder_scan(const char *root, seize_folder_list *out)
{
    return seize_folder_scan_ex(root, 0, out);
}

int seize_folder_scan_ex(const char *root, unsigned flags, seize_folder_list *out)
{
    memset(out, 0, sizeof *out);
    scan s = {.root = root, .flags = flags, .out = out};
    cand **byfile = NULL;
    int rc;
    struct stat st;
    if (stat(root, &st) != 0)
        return seize_error(SEIZE_EIO, "cannot open gallery folder '%s': %s", root, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return seize_error(SEIZE_EIO, "gallery '%s' is not a folder", root);
    if ((rc = dirset_add(&s.dirs, st.st_dev, st.st_ino)) < 0) goto done;
    if ((rc = walk(&s, root, "", 0)) < 0) goto done;
    // sorted by name; then each file (dev, ino) once, under its first name
    if (s.n_c) qsort(s.c, s.n_c, sizeof *s.c, cmp_cand_name);
    for (size_t i = 0; i < s.n_c; i++)
        s.c[i].order = i;
    byfile = seize_malloc(s.n_c ? s.n_c : 1, sizeof *byfile);
    uint8_t *dup = calloc(s.n_c ? s.n_c : 1, 1);
    out->names = seize_calloc(s.n_c + 1, sizeof *out->names);
    out->paths = seize_calloc(s.n_c + 1, sizeof *out->paths);
    if (!byfile || !dup || !out->names || !out->paths) {
        free(dup);
        rc = seize_error(SEIZE_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < s.n_c; i++)
        byfile[i] = &s.c[i];
    if (s.n_c) qsort(byfile, s.n_c, sizeof *byfile, cmp_cand_file);
    for (size_t i = 1; i < s.n_c; i++)
        if (byfile[i]->dev == byfile[i - 1]->dev && byfile[i]->ino == byfile[i - 1]->ino) {
            dup[byfile[i]->order] = 1;
            // name the kept one: the first of this run of equal files
            size_t k = i;
            while (k > 0 && byfile[k - 1]->dev == byfile[i]->dev &&
                   byfile[k - 1]->ino == byfile[i]->ino)
                k--;
            char *kept = seize_gallery_name_escape(byfile[k]->name, strlen(byfile[k]->name));
            rc = add_issue(
                &s, SEIZE_FOLDER_DUPLICATE, byfile[i]->name,
                seize_str_printf("the same file as '%s' (a link): counted once, under that name",
                                 kept ? kept : "?"));
            free(kept);
            if (rc < 0) {
                free(dup);
                goto done;
            }
        }
    for (size_t i = 0; i < s.n_c; i++) {
        if (dup[i]) continue;
        out->names[out->n] = s.c[i].name;
        out->paths[out->n] = s.c[i].path;
        out->n++;
        s.c[i].name = s.c[i].path = NULL;
    }
    free(dup);
    rc = 0;
done:
    for (size_t i = 0; i < s.n_c; i++) {
        free(s.c[i].name);
        free(s.c[i].path);
    }
    free(s.c);
    free(byfile);
    dirset_free(&s.dirs);
    return rc;
}

void seize_folder_list_free(seize_folder_list *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->names[i]);
        free(l->paths[i]);
    }
    free(l->names);
    free(l->paths);
    for (size_t i = 0; i < l->n_issues; i++) {
        free(l->issues[i].name);
        free(l->issues[i].reason);
    }
    free(l->issues);
    memset(l, 0, sizeof *l);
}

static int is_note(seize_folder_issue_kind k)
{
    return k == SEIZE_FOLDER_LOOP || k == SEIZE_FOLDER_DUPLICATE;
}

char *seize_folder_errors_message(const seize_folder_list *l, const char *root, size_t max_show)
{
    if (!l || !l->n_errors) return NULL;
    char *shown_root = seize_gallery_name_shown(root);
    seize_buf b = {0};
    int rc = shown_root ? seize_buf_printf(&b,
                                           "gallery folder '%s' has %zu entr%s that cannot be "
                                           "indexed:",
                                           shown_root, l->n_errors, l->n_errors == 1 ? "y" : "ies")
                        : SEIZE_ENOMEM;
    size_t shown = 0;
    for (size_t i = 0; rc == 0 && i < l->n_issues && shown < max_show; i++) {
        const seize_folder_issue *is = &l->issues[i];
        if (is_note(is->kind)) continue;
        rc = seize_buf_printf(&b, "\n  '%s': %s", is->name, is->reason);
        shown++;
    }
    if (rc == 0 && l->n_errors > shown)
        rc = seize_buf_printf(&b, "\n  ... and %zu more", l->n_errors - shown);
    free(shown_root);
    if (rc < 0) {
        seize_buf_free(&b);
        return NULL;
    }
    return seize_buf_release(&b);
}

char *seize_folder_notes_message(const seize_folder_list *l, const char *root, size_t max_show)
{
    size_t n = l ? l->n_issues - l->n_errors : 0;
    if (!n) return NULL;
    char *shown_root = seize_gallery_name_shown(root);
    seize_buf b = {0};
    int rc = shown_root ? seize_buf_printf(&b,
                                           "%zu entr%s of '%s' skipped (a linked folder or file "
                                           "already counted: each is indexed once):",
                                           n, n == 1 ? "y" : "ies", shown_root)
                        : SEIZE_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < l->n_issues && k < max_show; i++)
        if (is_note(l->issues[i].kind))
            rc = seize_buf_printf(&b, "%s '%s'", k++ ? "," : "", l->issues[i].name);
    if (rc == 0 && n > k) rc = seize_buf_puts(&b, ", ...");
    free(shown_root);
    if (rc < 0) {
        seize_buf_free(&b);
        return NULL;
    }
    return seize_buf_release(&b);
}
