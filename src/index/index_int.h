/*
 * src/index/index_int.h — the pieces of index folders shared by index.c and shard.c (private
 * to src/index/).
 */
#ifndef SEIZE_INDEX_INT_H
#define SEIZE_INDEX_INT_H

#include "seize/index.h"

#include <jansson.h>
#include <string.h>

struct seize_index {
    seize_npy *feats;
    char **names;
    size_t n_names;
    seize_strmap map;
    json_t *json;
    char *dir;
};

// index.json's object for n rows (NULL when out of memory), and the file written atomically
// with a final line break.
json_t *ix_meta_json(size_t n, size_t dim, seize_dtype dtype, const seize_index_meta *meta);
int ix_json_write(const char *path, const json_t *j);

// seize_index_open of a folder that must not be a sharded index (SEIZE_EFORMAT "'dir' is a
// sharded index, not a shard").
int ix_open_single(const char *dir, seize_index **out);

// seize_index_open of a sharded index: idx->dir and idx->json (the manifest) are set; fills
// the rest (rows concatenated, names and their map). Errors name the folder and the shard.
int ix_open_sharded(seize_index *idx);

// seize_names_sha256 of n names found at `first`, `first + stride`, ... (each a const char *
// member of an array of structs, or stride sizeof(char *) for a plain array).
void ix_names_sha256_at(const void *first, size_t stride, size_t n, char hex[65]);

// index.json's "model"."sha256" (NULL when absent), and whether two optional strings are equal
// (both NULL, or the same text): what merge and the manifest check compare.
static inline const char *ix_model_sha(const json_t *j)
{
    return json_string_value(json_object_get(json_object_get(j, "model"), "sha256"));
}
static inline int ix_same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

#endif
