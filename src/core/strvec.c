// Growable containers: a vector of owned strings and a byte buffer (see core.h).
#include "seize/core.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

// --- string vector

static int strvec_grow(seize_strvec *sv)
{
    if (sv->n < sv->cap) return 0;
    size_t cap = sv->cap ? sv->cap : 8;
    if (sv->cap && seize_mul_size(cap, 2, &cap) < 0) return SEIZE_ENOMEM;
    char **v = seize_realloc(sv->v, cap, sizeof *v);
    if (!v) return SEIZE_ENOMEM;
    sv->v = v;
    sv->cap = cap;
    return 0;
}

int seize_strvec_push_owned(seize_strvec *sv, char *s)
{
    if (!s) return SEIZE_ENOMEM; // the allocation that made s failed (message set there)
    if (strvec_grow(sv) < 0) {
        free(s);
        return SEIZE_ENOMEM;
    }
    sv->v[sv->n++] = s;
    return 0;
}

int seize_strvec_pushn(seize_strvec *sv, const char *s, size_t len)
{
    if (len == SIZE_MAX) return seize_error(SEIZE_ENOMEM, "string too long");
    char *c = seize_malloc(len + 1, 1);
    if (c) {
        memcpy(c, s, len);
        c[len] = 0;
    }
    return seize_strvec_push_owned(sv, c);
}

int seize_strvec_push(seize_strvec *sv, const char *s)
{
    return seize_strvec_pushn(sv, s, strlen(s));
}

char **seize_strvec_release(seize_strvec *sv, size_t *n)
{
    char **v = sv->v;
    *n = sv->n;
    if (!sv->n) {
        free(v);
        v = NULL;
    }
    memset(sv, 0, sizeof *sv);
    return v;
}

void seize_strvec_free(seize_strvec *sv)
{
    seize_strv_free(sv->v, sv->n);
    memset(sv, 0, sizeof *sv);
}

void seize_strv_free(char **v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

// --- byte buffer

int seize_buf_reserve(seize_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - 1 - b->len) return seize_error(SEIZE_ENOMEM, "buffer too large");
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *d = seize_realloc(b->data, cap, 1);
    if (!d) return SEIZE_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int seize_buf_append(seize_buf *b, const void *p, size_t n)
{
    int rc = seize_buf_reserve(b, n);
    if (rc < 0) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int seize_buf_puts(seize_buf *b, const char *s)
{
    return seize_buf_append(b, s, strlen(s));
}

int seize_buf_vprintf(seize_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return seize_error(SEIZE_EINVAL, "bad format string '%s'", fmt);
    int rc = seize_buf_reserve(b, (size_t)n);
    if (rc < 0) return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int seize_buf_printf(seize_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = seize_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *seize_str_printf(const char *fmt, ...)
{
    seize_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    int rc = seize_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return rc < 0 ? NULL : seize_buf_release(&b);
}

char *seize_buf_release(seize_buf *b)
{
    char *d = b->data;
    memset(b, 0, sizeof *b);
    return d;
}

void seize_buf_free(seize_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
