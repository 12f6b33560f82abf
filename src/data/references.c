// The reference images of a benchmark's queries by the data-layout rule (seize/data.h, "data
// layout"): what seize caption --dataset captions.
#include "seize/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int seize_layout_files(seize_ds_kind kind, const char *annotations, const char *gallery_list,
                       const char *image_dir, seize_layout *out)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->annotations = annotations ? seize_strdup(annotations) : NULL;
    out->gallery_list = gallery_list ? seize_strdup(gallery_list) : NULL;
    out->image_root = seize_strdup(image_dir ? image_dir : ".");
    if ((annotations && !out->annotations) || (gallery_list && !out->gallery_list) ||
        !out->image_root)
        return seize_error(SEIZE_ENOMEM, "out of memory");
    return 0;
}

char *seize_layout_name_path(const seize_layout *l, const char *name)
{
    seize_buf rel = {0};
    int rc = l->kind == SEIZE_DS_CIRCO ? seize_buf_printf(&rel, "%012lld.jpg", atoll(name))
                                       : seize_buf_printf(&rel, "%s.png", name);
    char *p = rc == 0 ? seize_layout_image_path(l, rel.data) : NULL;
    seize_buf_free(&rel);
    size_t n = p ? strlen(p) : 0;
    // FashionIQ when neither file exists: the .jpg is named (as seize caption always did)
    if (l->kind == SEIZE_DS_FASHIONIQ && n > 4 && !strcmp(p + n - 4, ".png") &&
        !seize_path_exists(p))
        memcpy(p + n - 4, ".jpg", 4);
    return p;
}

// The image folder must be there before anything is looked up in it.
static int check_image_root(const seize_layout *l)
{
    struct stat st;
    const char *d = l->image_root;
    if (stat(d, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    return seize_error(SEIZE_ENOTFOUND, "image folder '%s' %s (expected %s)", d,
                       seize_path_exists(d) ? "is not a folder" : "does not exist",
                       l->kind == SEIZE_DS_CIRCO ? "the COCO 2017 unlabeled images, "
                                                   "COCO2017_unlabeled/unlabeled2017/<id>.jpg"
                       : l->kind == SEIZE_DS_CIRR
                           ? "the CIRR images (with a split file, the folder its paths start from)"
                           : "the FashionIQ images, <name>.png or .jpg");
}

// Query i's reference image: by the gallery file's path for its name, else by its name.
static int reference_path(const seize_layout *l, const seize_dataset *ds, size_t i,
                          const seize_gallery_list *g, const seize_strmap *where, char **out)
{
    const char *ref = ds->q[i].reference;
    size_t k;
    if (g && !seize_strmap_get(where, ref, &k))
        return seize_error(SEIZE_ENOTFOUND, "%s: query %zu: reference '%s' is not in '%s'",
                           l->annotations, i + 1, ref, l->gallery_list);
    *out = g ? seize_layout_image_path(l, g->paths[k]) : seize_layout_name_path(l, ref);
    return *out ? 0 : seize_error(SEIZE_ENOMEM, "out of memory");
}

int seize_layout_references(const seize_layout *l, seize_strvec *out)
{
    seize_dataset *ds = NULL;
    seize_gallery_list *g = NULL;
    seize_strmap where = {0}, seen = {0};
    int rc = check_image_root(l);
    if (rc == 0) rc = seize_dataset_load(l->kind, l->annotations, &ds);
    if (rc == 0 && l->gallery_list) rc = seize_gallery_list_load(l->kind, l->gallery_list, &g);
    for (size_t i = 0; rc == 0 && g && i < g->n; i++)
        rc = seize_strmap_put(&where, g->names[i], i, NULL) < 0 ? SEIZE_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < ds->n; i++) {
        char *p = NULL;
        if ((rc = reference_path(l, ds, i, g, &where, &p)) < 0) break;
        int dup = seize_strmap_put(&seen, p, i, NULL); // the key stays alive in *out
        if (dup == 0)
            rc = seize_strvec_push_owned(out, p);
        else
            free(p);
        if (dup < 0) rc = dup;
    }
    seize_strmap_free(&where);
    seize_strmap_free(&seen);
    seize_gallery_list_free(g);
    seize_dataset_free(ds);
    return rc;
}
