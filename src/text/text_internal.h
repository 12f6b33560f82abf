/*
 * src/text/text_internal.h — private to src/text: code point buffers, the cleaning pipeline
 * used by the tokenizer, and the generated HTML tables (entities.c).
 */
#ifndef SEIZE_TEXT_INTERNAL_H
#define SEIZE_TEXT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* --- generated tables (entities.c, from Python's html module) ---------------------------- */

struct html_entity {
    const char *name; /* without the leading '&'; may end with ';' */
    uint8_t n;        /* number of code points in cp */
    uint32_t cp[3];
};
struct html_charref {
    uint32_t num, cp;
};
extern const struct html_entity html5_entities[];
extern const size_t html5_entities_count;
extern const struct html_entity ftfy_upper_entities[];
extern const size_t ftfy_upper_entities_count;
extern const struct html_charref html_invalid_charrefs[];
extern const size_t html_invalid_charrefs_count;
extern const uint32_t html_invalid_codepoints[];
extern const size_t html_invalid_codepoints_count;

/* --- code point buffers ------------------------------------------------------------------ */

typedef struct cpbuf {
    uint32_t *p;
    size_t n, cap;
} cpbuf;

/* Makes room for at least `cap` code points (contents kept). 0 or SEIZE_ENOMEM. */
int cpbuf_reserve(cpbuf *b, size_t cap);
void cpbuf_free(cpbuf *b);

/* Scratch space for one cleaning at a time; reusable across calls, zero-initialise. */
typedef struct text_work {
    cpbuf a, b, seg, tmp, orig, small;
} text_work;
void text_work_free(text_work *w);

/* The reference cleaning: decode UTF-8 (invalid sequences -> U+FFFD per maximal subpart),
 * ftfy-style fixes per line to a fixed point, html.unescape twice, collapse whitespace, strip,
 * lowercase (Python's str.lower). On success *result points into `w` (valid until the next
 * call with the same `w`). */
int text_clean(const char *s, size_t len, text_work *w, const cpbuf **result);

/* Character classes as the reference uses them (Python str.isspace; regex \p{L}, \p{N}). */
int text_is_space(uint32_t c);
int text_is_letter(uint32_t c);
int text_is_number(uint32_t c);

/* A 64-bit mixer (murmur3's finaliser) for the tokenizers' hash tables. */
static inline uint64_t text_mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* A binary min-heap of n keys in h (the BPE merge loops: (rank << 32 | position) keys). */
void text_heap_push(uint64_t *h, size_t *n, uint64_t v);
uint64_t text_heap_pop(uint64_t *h, size_t *n); /* the smallest; requires *n > 0 */

/* Encodes one code point as UTF-8 into dst (4 bytes room); returns the byte count. */
static inline int text_utf8_put(uint32_t c, unsigned char *dst)
{
    if (c < 0x80) {
        dst[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        dst[0] = (unsigned char)(0xC0 | (c >> 6));
        dst[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        dst[0] = (unsigned char)(0xE0 | (c >> 12));
        dst[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        dst[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    dst[0] = (unsigned char)(0xF0 | (c >> 18));
    dst[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    dst[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    dst[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

#endif
