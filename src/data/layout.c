// The one data-layout rule: where a benchmark's annotation file, gallery file and images are
// under its data root, and a folder's (seize/data.h, "data layout").
#include "seize/data.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// root joined with a printf-made relative path; NULL when out of memory.
static char *under(const char *root, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *under(const char *root, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    seize_buf rel = {0};
    int rc = seize_buf_vprintf(&rel, fmt, ap);
    va_end(ap);
    char *p = rc < 0 ? NULL : seize_path_join(root, rel.data);
    seize_buf_free(&rel);
    return p;
}

int seize_layout_benchmark(seize_ds_kind kind, const char *root, const char *split,
                           const char *category, seize_layout *out)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    if (!root || !split || !split[0])
        return seize_error(SEIZE_EINVAL, "a benchmark layout needs a data root and a split");
    if (kind == SEIZE_DS_CIRCO) {
        out->annotations = under(root, "annotations/%s.json", split);
        out->gallery_list =
            under(root, "COCO2017_unlabeled/annotations/image_info_unlabeled2017.json");
        out->image_root = under(root, "COCO2017_unlabeled");
    } else if (kind == SEIZE_DS_CIRR) {
        out->annotations = under(root, "captions/cap.rc2.%s.json", split);
        out->gallery_list = under(root, "image_splits/split.rc2.%s.json", split);
        out->image_root = seize_strdup(root);
    } else if (kind == SEIZE_DS_FASHIONIQ) {
        if (!category || !category[0])
            return seize_error(SEIZE_EINVAL, "a FashionIQ layout needs a category");
        out->annotations = under(root, "captions/cap.%s.%s.json", category, split);
        out->gallery_list = under(root, "image_splits/split.%s.%s.json", category, split);
        out->image_root = under(root, "images");
    } else {
        return seize_error(SEIZE_EINVAL, "unknown dataset kind %d", (int)kind);
    }
    if (!out->annotations || !out->gallery_list || !out->image_root)
        return seize_error(SEIZE_ENOMEM, "out of memory");
    return 0;
}

int seize_layout_folder(const char *folder, seize_layout *out)
{
    memset(out, 0, sizeof *out);
    out->is_folder = 1;
    out->image_root = seize_strdup(folder);
    return out->image_root ? 0 : seize_error(SEIZE_ENOMEM, "out of memory");
}

char *seize_layout_image_path(const seize_layout *l, const char *rel)
{
    if (rel[0] == '.' && rel[1] == '/') rel += 2;
    char *p = seize_path_join(l->image_root, rel);
    if (!p || l->is_folder || l->kind != SEIZE_DS_FASHIONIQ || seize_path_exists(p)) return p;
    // FashionIQ: accept .jpg where the .png is absent
    size_t n = strlen(p);
    if (n <= 4 || strcmp(p + n - 4, ".png") != 0) return p;
    char *alt = seize_strdup(p);
    if (!alt) return p;
    memcpy(alt + n - 4, ".jpg", 4);
    if (!seize_path_exists(alt)) {
        free(alt);
        return p;
    }
    free(p);
    return alt;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int seize_layout_check(const seize_layout *l, const char **missing)
{
    const char *files[] = {l->annotations, l->gallery_list};
    for (int i = 0; i < 2; i++)
        if (files[i] && !seize_path_exists(files[i])) {
            if (missing) *missing = files[i];
            return seize_error(SEIZE_ENOTFOUND, "missing file '%s'", files[i]);
        }
    if (l->image_root && !is_dir(l->image_root)) {
        if (missing) *missing = l->image_root;
        return seize_error(SEIZE_ENOTFOUND, "missing folder '%s'", l->image_root);
    }
    if (missing) *missing = NULL;
    return 0;
}

char *seize_layout_first_missing(const char *path)
{
    if (seize_path_exists(path)) return NULL;
    // the deepest existing folder above `path`, then the next part of the path below it
    char *d = seize_strdup(path);
    if (!d) return NULL;
    char *slash;
    while ((slash = strrchr(d, '/')) && slash != d) {
        *slash = 0;
        if (seize_path_exists(d)) break;
    }
    size_t keep = strlen(d);
    if (!seize_path_exists(d)) keep = 0; // nothing above exists (a relative path)
    free(d);
    const char *rest = path + keep;
    if (keep && *rest == '/') rest++;
    size_t n = (size_t)(rest - path) + strcspn(rest, "/");
    char *m = malloc(n + 1);
    if (!m) return NULL;
    memcpy(m, path, n);
    m[n] = 0;
    return m;
}

void seize_layout_free(seize_layout *l)
{
    if (!l) return;
    free(l->annotations);
    free(l->gallery_list);
    free(l->image_root);
    memset(l, 0, sizeof *l);
}
