// Overflow-checked allocation.
#include "seize/core.h"

#include <stdlib.h>
#include <string.h>

int seize_mul_size(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a) return seize_error(SEIZE_ENOMEM, "size overflow (%zu x %zu)", a, b);
    *out = a * b;
    return 0;
}

void *seize_malloc(size_t n, size_t size)
{
    size_t total = 0;
    if (seize_mul_size(n, size, &total) < 0) return NULL;
    void *p = malloc(total ? total : 1);
    if (!p) seize_error(SEIZE_ENOMEM, "out of memory allocating %zu bytes", total);
    return p;
}

void *seize_calloc(size_t n, size_t size)
{
    size_t total = 0;
    if (seize_mul_size(n, size, &total) < 0) return NULL;
    void *p = calloc(total ? n : 1, total ? size : 1);
    if (!p) seize_error(SEIZE_ENOMEM, "out of memory allocating %zu bytes", total);
    return p;
}

void *seize_realloc(void *old, size_t n, size_t size)
{
    size_t total = 0;
    if (seize_mul_size(n, size, &total) < 0) return NULL;
    void *p = realloc(old, total ? total : 1);
    if (!p) seize_error(SEIZE_ENOMEM, "out of memory allocating %zu bytes", total);
    return p;
}

void *seize_alloc_aligned(size_t n, size_t size)
{
    size_t total = 0;
    if (seize_mul_size(n, size, &total) < 0) return NULL;
    total = (total + 63) & ~(size_t)63;
    if (total == 0) total = 64;
    void *p = NULL;
    if (posix_memalign(&p, 64, total) != 0) {
        seize_error(SEIZE_ENOMEM, "out of memory allocating %zu bytes", total);
        return NULL;
    }
    return p;
}

char *seize_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = seize_malloc(n, 1);
    if (p) memcpy(p, s, n);
    return p;
}
