// A string -> size_t hash map with borrowed keys (see seize_strmap in core.h).
#include "seize/core.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

int seize_strmap_init(seize_strmap *m, size_t expect)
{
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap / 2 <= expect) { // cap > 2 * expect, without overflow
        if (cap > SIZE_MAX / 4) return seize_error(SEIZE_ENOMEM, "hash map too large");
        cap *= 2;
    }
    m->keys = seize_calloc(cap, sizeof *m->keys);
    m->vals = seize_calloc(cap, sizeof *m->vals);
    if (!m->keys || !m->vals) {
        seize_strmap_free(m);
        return SEIZE_ENOMEM;
    }
    m->cap = cap;
    return 0;
}

void seize_strmap_free(seize_strmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int grow(seize_strmap *m)
{
    seize_strmap bigger;
    int rc = seize_strmap_init(&bigger, m->cap);
    if (rc < 0) return rc;
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) seize_strmap_put(&bigger, m->keys[i], m->vals[i], NULL);
    seize_strmap_free(m);
    *m = bigger;
    return 0;
}

int seize_strmap_put(seize_strmap *m, const char *key, size_t val, size_t *old)
{
    if ((m->n + 1) * 2 > m->cap) {
        int rc = m->cap ? grow(m) : seize_strmap_init(m, 8);
        if (rc < 0) return rc;
    }
    size_t i = hash(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (!strcmp(m->keys[i], key)) {
            if (old) *old = m->vals[i];
            return 1;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return 0;
}

int seize_strmap_get(const seize_strmap *m, const char *key, size_t *val)
{
    if (!m->cap) return 0;
    size_t i = hash(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (!strcmp(m->keys[i], key)) {
            if (val) *val = m->vals[i];
            return 1;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return 0;
}
