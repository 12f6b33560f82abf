// The files of the caption and editing stages (pipeline.h): the locks of an output and its
// journal, the settings sidecar, the captions file.
#include "seize/pipeline.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

// a heap "AB", or NULL
static char *cat2(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

// Locks "<base>.lock"; "KIND 'NAME'" names it in the message of a second process.
static int lock_one(const char *base, const char *kind, const char *name, seize_lock *lock)
{
    char *path = cat2(base, ".lock");
    size_t wl = strlen(name) + 32;
    char *what = malloc(wl);
    int rc = path && what ? 0 : seize_error(SEIZE_ENOMEM, "out of memory");
    if (rc == 0) {
        snprintf(what, wl, "%s '%s'", kind, name);
        rc = seize_lock_file(path, what, lock);
    }
    free(path);
    free(what);
    return rc;
}

int seize_stage_lock(const char *out, const char *journal, seize_lock lock[2])
{
    lock[0].fd = lock[1].fd = -1;
    lock[0].path = lock[1].path = NULL;
    char *dj = cat2(out, ".journal");
    if (!dj) return seize_error(SEIZE_ENOMEM, "out of memory");
    int same = !strcmp(dj, journal);
    int rc =
        same ? lock_one(dj, "journal", journal, &lock[0]) : lock_one(dj, "output", out, &lock[0]);
    if (rc == 0 && !same) rc = lock_one(journal, "journal", journal, &lock[1]);
    free(dj);
    if (rc < 0) seize_stage_unlock(lock);
    return rc;
}

void seize_stage_unlock(seize_lock lock[2])
{
    seize_lock_release(&lock[0]);
    seize_lock_release(&lock[1]);
}

int seize_stage_settings_save(const char *out, const json_t *settings, const char *hash)
{
    char *path = cat2(out, ".settings.json");
    json_t *o = json_deep_copy(settings);
    int rc = path && o ? json_object_set_new(o, "settings_hash", json_string(hash)) : -1;
    rc = rc == 0 ? seize_json_save(path, o, JSON_INDENT(2) | JSON_SORT_KEYS)
                 : seize_error(SEIZE_ENOMEM, "out of memory");
    json_decref(o);
    free(path);
    return rc;
}

int seize_captions_items_write(const char *out, const char *const *images,
                               const seize_stage_item *items, size_t n, size_t *n_written)
{
    seize_atomic a;
    size_t w = 0;
    int rc = seize_atomic_open(out, &a);
    if (rc < 0) return rc;
    for (size_t i = 0; i < n; i++) {
        if (!items[i].texts) continue;
        json_t *caps = json_array();
        for (size_t k = 0; caps && k < items[i].n_texts; k++)
            json_array_append_new(caps, json_string(items[i].texts[k]));
        json_t *rec = caps ? json_pack("{s:s, s:o}", "image", images[i], "captions", caps) : NULL;
        if (rec && items[i].extra) json_object_update(rec, items[i].extra); // e.g. "tokens"
        char *s = rec ? json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(rec);
        if (!s || fputs(s, a.fp) < 0 || fputc('\n', a.fp) < 0) {
            free(s);
            seize_atomic_abort(&a);
            return seize_error(SEIZE_EIO, "cannot write '%s'", out);
        }
        free(s);
        w++;
    }
    if (n_written) *n_written = w;
    return seize_atomic_commit(&a);
}
