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

/* Makes the data for a key: 0 with *data set, or a negative SEIZE_E* code (message set). */
typedef int (*nn_cache_make)(void *ud, void **data);
typedef void (*nn_cache_free)(void *data);

/* The data stored under `key` on the model, made by make(ud) under the model's lock when
 * absent (concurrent callers wait for the first one). 0, or make's error (nothing stored). */
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
