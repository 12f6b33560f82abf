// The gallery-name rule (seize/data.h, "gallery names"): which names survive names.txt, JSON
// rankings, TSV lists and reports unchanged, and how to show one that does not.
#include "seize/data.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Length of the well-formed UTF-8 character at s (n bytes left), 0 if none starts there;
// *cp gets its code point.
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len = s[0] < 0x80             ? 1
                 : (s[0] & 0xE0) == 0xC0 ? 2
                 : (s[0] & 0xF0) == 0xE0 ? 3
                 : (s[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (!len || len > n || !seize_utf8_valid((const char *)s, len)) return 0;
    uint32_t c = len == 1 ? s[0] : len == 2 ? s[0] & 0x1Fu : len == 3 ? s[0] & 0x0Fu : s[0] & 0x07u;
    for (size_t i = 1; i < len; i++)
        c = (c << 6) | (s[i] & 0x3Fu);
    *cp = c;
    return len;
}

static int is_control(uint32_t c)
{
    return c < 0x20 || (c >= 0x7F && c <= 0x9F);
}

const char *seize_gallery_name_problem(const char *name, size_t len)
{
    if (!name || !len) return "is empty";
    if (!seize_utf8_valid(name, len)) return "is not valid UTF-8";
    const unsigned char *s = (const unsigned char *)name;
    for (size_t i = 0; i < len;) {
        uint32_t c = 0;
        size_t l = utf8_char(s + i, len - i, &c);
        if (!l) return "is not valid UTF-8";
        if (is_control(c)) return "contains a control character (line break, tab, ...)";
        i += l;
    }
    return NULL;
}

char *seize_gallery_name_escape(const char *name, size_t len)
{
    size_t cap;
    if (seize_mul_size(len, 4, &cap) < 0) return NULL;
    char *o = seize_malloc(cap + 1, 1);
    if (!o) return NULL;
    const unsigned char *s = (const unsigned char *)name;
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c = 0;
        size_t l = utf8_char(s + i, len - i, &c);
        if (l && !is_control(c)) {
            memcpy(o + k, s + i, l);
            k += l;
            i += l;
        } else {
            // an invalid byte, or each byte of a control character
            size_t m = l ? l : 1;
            for (size_t j = 0; j < m; j++, k += 4)
                snprintf(o + k, 5, "\\x%02x", s[i + j]);
            i += m;
        }
    }
    o[k] = 0;
    return o;
}

char *seize_gallery_name_shown(const char *name)
{
    return seize_gallery_name_escape(name, name ? strlen(name) : 0);
}
