/*
 * src/nn/model_cache.h — engine data derived from a model's weights (private to src/nn).
 *
 * A loaded model is read-only and shared by threads; what an engine derives from its weights
 * (the backend's packed matrices, per backend kind and precision) is made once, by the first
 * state that needs it, kept on the model under a string key and freed with the model.
 */
#ifndef SEIZE_NN_MODEL_CACHE_H
#define SEIZE_NN_MODEL_CACHE_H

#include "seize/model.h"

#include <pthread.h>
#include <stddef.h>

/* Makes the data for a key: 0 with *data set, or a negative SEIZE_E* code (message set). */
typedef int (*nn_cache_make)(void *ud, void **data);
typedef void (*nn_cache_free)(void *data);

/* The engine data of one model (CLIP's, BLIP-2's): entries by key under a lock. */
typedef struct nn_cache {
    pthread_mutex_t lock;
    struct nn_cache_entry *e;
    size_t n;
} nn_cache;
void nn_cache_init(nn_cache *c);
void nn_cache_destroy(nn_cache *c); /* frees every entry's data with its free function */
/* The data under `key`, made by make(ud) under the lock when absent (concurrent callers wait
 * for the first one). 0, or make's error (nothing stored). */
int nn_cache_get(nn_cache *c, const char *key, nn_cache_make make, void *ud, nn_cache_free fr,
                 void **out);

/* Drops the whole pages inside [p, p + n) from the resident set when that range lies inside the
 * mapping [map, map + size) (its pages are read back from the file if touched again); returns 1
 * when it did, 0 when the range is not inside. Pages the range only partly covers are kept: their
 * neighbours may still be needed. */
int nn_drop_pages(const void *map, size_t size, const void *p, size_t n);

/* nn_cache_get on the CLIP model's cache. */
int nn_model_cache_get(const seize_clip_model *m, const char *key, nn_cache_make make, void *ud,
                       nn_cache_free fr, void **out);

/* Drops the mapped weights file's pages from the process's resident set (they are read back
 * from the file if touched again): called once the matrices live in the backend's own form. */
void nn_model_drop_file_pages(const seize_clip_model *m);
/* The same for the whole pages inside [p, p + n) when that range is a view into the mapped file
 * (nothing otherwise): called after each matrix is packed, so that loading a model never holds
 * the whole file and its packed copy at once. */
void nn_model_drop_file_range(const seize_clip_model *m, const void *p, size_t n);

#endif
