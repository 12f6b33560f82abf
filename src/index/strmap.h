// Private: a string -> size_t hash map (open addressing, FNV-1a) used by the index, the dataset
// loaders and the evaluators to look gallery names and query ids up in O(1).
#ifndef SEIZE_STRMAP_H
#define SEIZE_STRMAP_H

#include <stddef.h>

typedef struct strmap {
    const char **keys; /* borrowed: the caller keeps the strings alive */
    size_t *vals;
    size_t cap, n;
} strmap;

/* Prepares an empty map for about `expect` keys. 0 or SEIZE_ENOMEM. */
int strmap_init(strmap *m, size_t expect);
void strmap_free(strmap *m);
/* Adds key -> val. Returns 0 when added, 1 when the key was already present (*old set to its
 * value, the map unchanged), SEIZE_ENOMEM on allocation failure. */
int strmap_put(strmap *m, const char *key, size_t val, size_t *old);
/* 1 and *val when found, else 0. */
int strmap_get(const strmap *m, const char *key, size_t *val);

#endif
