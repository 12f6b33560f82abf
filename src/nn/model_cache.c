// Engine data kept on a loaded model (model_cache.h): the one mutable part of a model, shared by
// every state made from it.
#include "model_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct nn_cache_entry {
    char *key;
    void *data;
    nn_cache_free fr;
};

void nn_cache_init(nn_cache *c)
{
    pthread_mutex_init(&c->lock, NULL);
    c->e = NULL;
    c->n = 0;
}

void nn_cache_destroy(nn_cache *c)
{
    for (size_t i = 0; i < c->n; i++) {
        c->e[i].fr(c->e[i].data);
        free(c->e[i].key);
    }
    free(c->e);
    c->e = NULL;
    c->n = 0;
    pthread_mutex_destroy(&c->lock);
}

int nn_cache_get(nn_cache *c, const char *key, nn_cache_make make, void *ud, nn_cache_free fr,
                 void **out)
{
    *out = NULL;
    pthread_mutex_lock(&c->lock);
    int rc = 0;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].key, key) == 0) {
            *out = c->e[i].data;
            goto done;
        }
    struct nn_cache_entry *n = seize_realloc(c->e, c->n + 1, sizeof *n);
    char *k = seize_strdup(key);
    if (n) c->e = n;
    if (!n || !k) {
        free(k);
        rc = seize_error(SEIZE_ENOMEM, "out of memory");
        goto done;
    }
    void *data = NULL;
    if ((rc = make(ud, &data)) < 0) {
        free(k);
        goto done;
    }
    c->e[c->n++] = (struct nn_cache_entry){k, data, fr};
    *out = data;
done:
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int nn_drop_pages(const void *map, size_t size, const void *p, size_t n)
{
    uintptr_t lo = (uintptr_t)p, hi = lo + n, base = (uintptr_t)map;
    if (!map || lo < base || hi > base + size) return 0; // not a view into this mapping
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (lo + page - 1) / page * page, b = hi / page * page; // whole pages only
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
    return 1;
}
