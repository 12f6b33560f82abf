// A gallery's images from one of its sources: a folder (recursive or flat), a list file or a
// benchmark's gallery file (seize/data.h, "gallery images").
#include "seize/data.h"

#include <stdlib.h>
#include <string.h>

// "dir/x.jpg" -> "x" (heap; NULL when out of memory).
static char *stem(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *e = strrchr(b, '.');
    size_t n = e && e != b ? (size_t)(e - b) : strlen(b);
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, b, n);
        s[n] = 0;
    }
    return s;
}

// The folder of a file ("." for a bare name).
static char *dir_of(const char *path)
{
    const char *b = strrchr(path, '/');
    if (!b) return seize_strdup(".");
    if (b == path) return seize_strdup("/");
    return strndup(path, (size_t)(b - path));
}

// p taken from root (an absolute p as it is).
static char *join_root(const char *root, const char *p)
{
    if (p[0] == '/' || !root[0]) return seize_strdup(p);
    return seize_path_join(root, p);
}

// Appends a name and a path, both taken over (freed on failure).
static int add(seize_strvec *names, seize_strvec *paths, char *name, char *path)
{
    if (!name || !path) {
        free(name);
        free(path);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    int rc = seize_strvec_push_owned(names, name);
    if (rc < 0) {
        free(path);
        return rc;
    }
    return seize_strvec_push_owned(paths, path);
}

// A bad name, as the error names it.
static int bad_name(const char *where, const char *name, const char *why, const char *advice)
{
    char *s = seize_gallery_name_shown(name);
    int rc =
        seize_error(SEIZE_EFORMAT, "%s: gallery name '%s' %s%s", where, s ? s : "?", why, advice);
    free(s);
    return rc;
}

static int from_folder(const seize_images_source *src, seize_strvec *names, seize_strvec *paths,
                       char **notes)
{
    int flat = src->from == SEIZE_IMAGES_FLAT;
    seize_folder_list fl;
    int rc = seize_folder_scan_ex(src->path, flat ? SEIZE_FOLDER_FLAT : 0, &fl);
    if (rc == 0 && fl.n_errors) {
        char *m = seize_folder_errors_message(&fl, src->path, 5);
        rc = seize_error(m ? SEIZE_EFORMAT : SEIZE_ENOMEM, "%s", m ? m : "out of memory");
        free(m);
    }
    if (rc == 0 && fl.n_issues) {
        *notes = seize_folder_notes_message(&fl, src->path, 3);
        if (!*notes) rc = seize_error(SEIZE_ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < fl.n; i++) {
        rc = add(names, paths, flat ? stem(fl.names[i]) : fl.names[i], fl.paths[i]);
        if (!flat) fl.names[i] = NULL;
        fl.paths[i] = NULL;
    }
    seize_folder_list_free(&fl);
    return rc;
}

// One image per line: PATH, or NAME<TAB>PATH; relative paths taken from `base`.
static int from_list(const seize_images_source *src, const char *base, seize_strvec *names,
                     seize_strvec *paths)
{
    char **lines;
    size_t n;
    int rc = seize_read_lines(src->path, &lines, &n);
    if (rc < 0) return rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *l = lines[i], *tab = strchr(l, '\t');
        if (!*l) continue;
        if (tab) *tab = 0;
        const char *p = tab ? tab + 1 : l;
        rc = add(names, paths, tab ? seize_strdup(l) : stem(l), join_root(base, p));
        const char *name = rc == 0 ? names->v[names->n - 1] : NULL;
        const char *why = name ? seize_gallery_name_problem(name, strlen(name)) : NULL;
        if (why) {
            char where[4200];
            snprintf(where, sizeof where, "'%s' line %zu", src->path, i + 1);
            rc = bad_name(where, name, why,
                          " (names must be UTF-8 text without control characters: rename the "
                          "file or give a NAME<TAB>PATH line)");
        }
    }
    seize_lines_free(lines, n);
    return rc;
}

// A benchmark's gallery file; the images by the data-layout rule (seize_layout_image_path:
// FashionIQ's .jpg where the .png is absent).
static int from_dataset(const seize_images_source *src, const char *base, seize_strvec *names,
                        seize_strvec *paths)
{
    seize_gallery_list *g;
    int rc = seize_gallery_list_load(src->kind, src->path, &g);
    if (rc < 0) return rc;
    seize_layout l = {.kind = src->kind, .image_root = (char *)base};
    for (size_t i = 0; rc == 0 && i < g->n; i++) {
        const char *why = seize_gallery_name_problem(g->names[i], strlen(g->names[i]));
        char where[4200];
        snprintf(where, sizeof where, "'%s': gallery item %zu", src->path, i + 1);
        rc = why ? bad_name(where, g->names[i], why, "")
                 : add(names, paths, seize_strdup(g->names[i]),
                       seize_layout_image_path(&l, g->paths[i]));
    }
    seize_gallery_list_free(g);
    return rc;
}

int seize_image_list_gather(const seize_images_source *src, seize_image_list *out)
{
    memset(out, 0, sizeof *out);
    seize_strvec names = {0}, paths = {0};
    char *base = NULL;
    int rc = 0;
    if (src->from == SEIZE_IMAGES_LIST || src->from == SEIZE_IMAGES_DATASET) {
        base = src->root ? seize_strdup(src->root) : dir_of(src->path);
        if (!base) return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    switch (src->from) {
    case SEIZE_IMAGES_TREE:
    case SEIZE_IMAGES_FLAT:
        rc = from_folder(src, &names, &paths, &out->notes);
        break;
    case SEIZE_IMAGES_LIST:
        rc = from_list(src, base, &names, &paths);
        break;
    case SEIZE_IMAGES_DATASET:
        rc = from_dataset(src, base, &names, &paths);
        break;
    default:
        rc = seize_error(SEIZE_EINVAL, "unknown image source %d", (int)src->from);
    }
    free(base);
    if (rc < 0) {
        seize_strvec_free(&names);
        seize_strvec_free(&paths);
        free(out->notes);
        out->notes = NULL;
        return rc;
    }
    size_t n;
    out->names = seize_strvec_release(&names, &out->n);
    out->paths = seize_strvec_release(&paths, &n);
    return 0;
}

char *seize_images_source_label(const seize_images_source *src)
{
    static const char *kinds[] = {"gallery", "images", "list", NULL};
    const char *k =
        src->from <= SEIZE_IMAGES_LIST ? kinds[src->from] : seize_ds_kind_name(src->kind);
    seize_buf b = {0};
    if (seize_buf_printf(&b, "%s:%s", k, src->path) < 0) return NULL;
    return seize_buf_release(&b);
}

void seize_image_list_free(seize_image_list *l)
{
    if (!l) return;
    seize_strv_free(l->names, l->n);
    seize_strv_free(l->paths, l->n);
    free(l->notes);
    memset(l, 0, sizeof *l);
}
