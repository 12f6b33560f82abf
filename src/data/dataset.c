// Benchmark annotation files and gallery lists (CIRCO, CIRR, FashionIQ).
#include "seize/data.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int seize_ds_kind_parse(const char *name, seize_ds_kind *out)
{
    if (!strcmp(name, "circo"))
        *out = SEIZE_DS_CIRCO;
    else if (!strcmp(name, "cirr"))
        *out = SEIZE_DS_CIRR;
    else if (!strcmp(name, "fashioniq") || !strcmp(name, "fiq"))
        *out = SEIZE_DS_FASHIONIQ;
    else
        return seize_error(SEIZE_EINVAL, "unknown dataset '%s' (expected circo, cirr or fashioniq)",
                           name);
    return 0;
}

const char *seize_ds_kind_name(seize_ds_kind kind)
{
    return kind == SEIZE_DS_CIRCO ? "circo" : kind == SEIZE_DS_CIRR ? "cirr" : "fashioniq";
}

// --- queries

static void query_free(seize_query *q)
{
    free(q->id);
    free(q->reference);
    free(q->text);
    free(q->shared_concept);
    free(q->target);
    seize_strv_free(q->gt, q->n_gt);
    seize_strv_free(q->members, q->n_members);
    seize_strv_free(q->aspects, q->n_aspects);
    seize_strv_free(q->texts, q->n_texts);
}

void seize_dataset_free(seize_dataset *ds)
{
    if (!ds) return;
    for (size_t i = 0; i < ds->n; i++)
        query_free(&ds->q[i]);
    free(ds->q);
    if (ds->priv) {
        seize_strmap_free(ds->priv);
        free(ds->priv);
    }
    free(ds);
}

int seize_dataset_find(const seize_dataset *ds, const char *id, size_t *pos)
{
    if (ds->priv && seize_strmap_get(ds->priv, id, pos)) return 0;
    return seize_error(SEIZE_ENOTFOUND, "no query with id '%s'", id);
}

// Required field as a name (string or integer).
static int need_name(json_t *o, const char *key, const char *file, size_t i, char **out)
{
    json_t *v = json_object_get(o, key);
    if (!v) return seize_error(SEIZE_EFORMAT, "'%s': query %zu: missing '%s'", file, i, key);
    if (seize_json_name(v, out) < 0)
        return seize_error(SEIZE_EFORMAT, "'%s': query %zu: '%s' must be a string or an integer",
                           file, i, key);
    return 0;
}

static int opt_name(json_t *o, const char *key, const char *file, size_t i, char **out)
{
    *out = NULL;
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    return need_name(o, key, file, i, out);
}

static int name_list(json_t *v, const char *key, const char *file, size_t i, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!v) return 0;
    if (seize_json_name_list(v, out, n) < 0)
        return seize_error(SEIZE_EFORMAT,
                           "'%s': query %zu: '%s' must be a list of strings or integers", file, i,
                           key);
    return 0;
}

static int parse_query(seize_ds_kind kind, json_t *o, size_t i, const char *file,
                       const seize_dataset_opts *opts, seize_query *q)
{
    int rc;
    if (!json_is_object(o))
        return seize_error(SEIZE_EFORMAT, "'%s': query %zu is not an object", file, i);
    if (kind == SEIZE_DS_CIRCO) {
        if ((rc = need_name(o, "id", file, i, &q->id)) < 0) return rc;
        if ((rc = need_name(o, "reference_img_id", file, i, &q->reference)) < 0) return rc;
        if ((rc = need_name(o, "relative_caption", file, i, &q->text)) < 0) return rc;
        if ((rc = opt_name(o, "shared_concept", file, i, &q->shared_concept)) < 0) return rc;
        if ((rc = opt_name(o, "target_img_id", file, i, &q->target)) < 0) return rc;
        if ((rc = name_list(json_object_get(o, "gt_img_ids"), "gt_img_ids", file, i, &q->gt,
                            &q->n_gt)) < 0)
            return rc;
        if ((rc = name_list(json_object_get(o, "semantic_aspects"), "semantic_aspects", file, i,
                            &q->aspects, &q->n_aspects)) < 0)
            return rc;
        if (q->target && !q->n_gt)
            return seize_error(SEIZE_EFORMAT,
                               "'%s': query %zu: has 'target_img_id' but no 'gt_img_ids'", file, i);
        if (q->target && strcmp(q->gt[0], q->target))
            return seize_error(SEIZE_EFORMAT,
                               "'%s': query %zu: target %s is not the first of gt_img_ids", file, i,
                               q->target);
    } else if (kind == SEIZE_DS_CIRR) {
        if ((rc = need_name(o, "pairid", file, i, &q->id)) < 0) return rc;
        if ((rc = need_name(o, "reference", file, i, &q->reference)) < 0) return rc;
        if ((rc = need_name(o, "caption", file, i, &q->text)) < 0) return rc;
        if ((rc = opt_name(o, "target_hard", file, i, &q->target)) < 0) return rc;
        json_t *set = json_object_get(o, "img_set");
        json_t *mem = json_is_object(set) ? json_object_get(set, "members") : NULL;
        if (!mem)
            return seize_error(SEIZE_EFORMAT, "'%s': query %zu: missing 'img_set.members'", file,
                               i);
        if ((rc = name_list(mem, "img_set.members", file, i, &q->members, &q->n_members)) < 0)
            return rc;
    } else {
        char buf[32];
        snprintf(buf, sizeof buf, "%zu", i);
        if (!(q->id = seize_strdup(buf))) return SEIZE_ENOMEM;
        if ((rc = need_name(o, "candidate", file, i, &q->reference)) < 0) return rc;
        if ((rc = opt_name(o, "target", file, i, &q->target)) < 0) return rc;
        json_t *caps = json_object_get(o, "captions");
        if (!caps)
            return seize_error(SEIZE_EFORMAT, "'%s': query %zu: missing 'captions'", file, i);
        if ((rc = name_list(caps, "captions", file, i, &q->texts, &q->n_texts)) < 0) return rc;
        const char *j = opts && opts->fiq_joiner ? opts->fiq_joiner : "";
        size_t len = 1;
        for (size_t t = 0; t < q->n_texts; t++)
            len += strlen(q->texts[t]) + strlen(j);
        if (!(q->text = seize_malloc(len, 1))) return SEIZE_ENOMEM;
        q->text[0] = 0;
        for (size_t t = 0; t < q->n_texts; t++) {
            if (t) strcat(q->text, j);
            strcat(q->text, q->texts[t]);
        }
    }
    if (kind != SEIZE_DS_FASHIONIQ) {
        if (!(q->texts = seize_malloc(1, sizeof *q->texts)) ||
            !(q->texts[0] = seize_strdup(q->text)))
            return SEIZE_ENOMEM;
        q->n_texts = 1;
    }
    if (kind != SEIZE_DS_CIRCO && q->target) {
        if (!(q->gt = seize_malloc(1, sizeof *q->gt)) || !(q->gt[0] = seize_strdup(q->target)))
            return SEIZE_ENOMEM;
        q->n_gt = 1;
    }
    return 0;
}

static int from_json(seize_ds_kind kind, json_t *root, const char *name,
                     const seize_dataset_opts *opts, seize_dataset **out)
{
    if (!json_is_array(root))
        return seize_error(SEIZE_EFORMAT, "'%s': expected a JSON array of queries", name);
    seize_dataset *ds = seize_calloc(1, sizeof *ds);
    if (!ds) return SEIZE_ENOMEM;
    ds->kind = kind;
    size_t n = json_array_size(root);
    int rc = SEIZE_ENOMEM;
    ds->q = seize_calloc(n ? n : 1, sizeof *ds->q);
    ds->priv = seize_calloc(1, sizeof(seize_strmap));
    if (!ds->q || !ds->priv || seize_strmap_init(ds->priv, n) < 0) goto fail;
    ds->has_targets = n > 0;
    for (size_t i = 0; i < n; i++) {
        ds->n = i + 1;
        if ((rc = parse_query(kind, json_array_get(root, i), i, name, opts, &ds->q[i])) < 0)
            goto fail;
        if (!ds->q[i].target) ds->has_targets = 0;
        size_t old;
        rc = seize_strmap_put(ds->priv, ds->q[i].id, i, &old);
        if (rc < 0) goto fail;
        if (rc == 1) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': queries %zu and %zu have the same id '%s'", name,
                             old, i, ds->q[i].id);
            goto fail;
        }
    }
    *out = ds;
    return 0;
fail:
    seize_dataset_free(ds);
    return rc;
}

int seize_dataset_parse(seize_ds_kind kind, const char *text, size_t len, const char *name,
                        const seize_dataset_opts *opts, seize_dataset **out)
{
    *out = NULL;
    json_t *root;
    int rc = seize_json_parse(text, len, name, &root);
    if (rc < 0) return rc;
    rc = from_json(kind, root, name, opts, out);
    json_decref(root);
    return rc;
}

int seize_dataset_load_ex(seize_ds_kind kind, const char *path, const seize_dataset_opts *opts,
                          seize_dataset **out)
{
    *out = NULL;
    char *buf;
    size_t len;
    int rc = seize_read_file(path, &buf, &len);
    if (rc < 0) return rc;
    rc = seize_dataset_parse(kind, buf, len, path, opts, out);
    free(buf);
    return rc;
}

int seize_dataset_load(seize_ds_kind kind, const char *path, seize_dataset **out)
{
    return seize_dataset_load_ex(kind, path, NULL, out);
}

// --- gallery lists

void seize_gallery_list_free(seize_gallery_list *g)
{
    if (!g) return;
    seize_strv_free(g->names, g->n);
    seize_strv_free(g->paths, g->n);
    free(g);
}

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = seize_malloc(la + lb + 1, 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

int seize_gallery_list_load(seize_ds_kind kind, const char *path, seize_gallery_list **out)
{
    *out = NULL;
    json_t *root;
    int rc = seize_json_load(path, &root);
    if (rc < 0) return rc;
    seize_gallery_list *g = seize_calloc(1, sizeof *g);
    seize_strmap seen = {0};
    rc = SEIZE_ENOMEM;
    if (!g) goto done;
    json_t *list = root;
    if (kind == SEIZE_DS_CIRCO) {
        list = json_is_object(root) ? json_object_get(root, "images") : NULL;
        if (!json_is_array(list)) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': expected {\"images\": [...]} (COCO image info)",
                             path);
            goto done;
        }
    } else if (kind == SEIZE_DS_CIRR ? !json_is_object(root) : !json_is_array(root)) {
        rc = seize_error(SEIZE_EFORMAT, "'%s': expected a JSON %s", path,
                         kind == SEIZE_DS_CIRR ? "object {name: path}" : "array of names");
        goto done;
    }
    size_t n = json_is_array(list) ? json_array_size(list) : json_object_size(list);
    g->names = seize_calloc(n ? n : 1, sizeof *g->names);
    g->paths = seize_calloc(n ? n : 1, sizeof *g->paths);
    if (!g->names || !g->paths || seize_strmap_init(&seen, n) < 0) goto done;
    if (kind == SEIZE_DS_CIRR) {
        const char *key;
        json_t *v;
        json_object_foreach(list, key, v)
        {
            if (!json_is_string(v)) {
                rc = seize_error(SEIZE_EFORMAT, "'%s': '%s': path must be a string", path, key);
                goto done;
            }
            const char *p = json_string_value(v);
            if (!strncmp(p, "./", 2)) p += 2;
            if (!(g->names[g->n] = seize_strdup(key)) || !(g->paths[g->n] = seize_strdup(p)))
                goto done;
            g->n++;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(list, i);
            if (kind == SEIZE_DS_CIRCO) {
                json_t *id = json_is_object(e) ? json_object_get(e, "id") : NULL;
                json_t *fn = json_is_object(e) ? json_object_get(e, "file_name") : NULL;
                if (!id || seize_json_name(id, &g->names[i]) < 0) {
                    rc = seize_error(SEIZE_EFORMAT, "'%s': images[%zu]: missing or bad 'id'", path,
                                     i);
                    goto done;
                }
                g->n = i + 1;
                if (fn && !json_is_string(fn)) {
                    rc = seize_error(SEIZE_EFORMAT, "'%s': images[%zu]: bad 'file_name'", path, i);
                    goto done;
                }
                char file[64];
                if (json_is_integer(id))
                    snprintf(file, sizeof file, "%012lld.jpg", (long long)json_integer_value(id));
                g->paths[i] = fn ? concat("unlabeled2017/", json_string_value(fn))
                              : json_is_integer(id) ? concat("unlabeled2017/", file)
                                                    : concat(g->names[i], ".jpg");
                if (!g->paths[i]) goto done;
            } else {
                if (seize_json_name(e, &g->names[i]) < 0) {
                    rc = seize_error(SEIZE_EFORMAT, "'%s': item %zu is not a name", path, i);
                    goto done;
                }
                g->n = i + 1;
                if (!(g->paths[i] = concat(g->names[i], ".png"))) goto done;
            }
        }
    }
    for (size_t i = 0; i < g->n; i++) {
        size_t old;
        int r = seize_strmap_put(&seen, g->names[i], i, &old);
        if (r < 0) goto done;
        if (r == 1) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': gallery name '%s' appears twice", path,
                             g->names[i]);
            goto done;
        }
    }
    *out = g;
    g = NULL;
    rc = 0;
done:
    seize_strmap_free(&seen);
    seize_gallery_list_free(g);
    json_decref(root);
    return rc;
}
