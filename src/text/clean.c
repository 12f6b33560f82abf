// Text cleaning exactly as the reference tokenizer does it: open_clip's
// `whitespace_clean(basic_clean(text)).lower()`, where basic_clean is ftfy.fix_text (6.x,
// default config, mojibake repair excluded) followed by html.unescape twice.
//
// Everything works on arrays of code points (cpbuf) so that "one character" means what it
// means in Python. Unicode properties, normalisation and case come from utf8proc.
#include "text_internal.h"

#include "seize/core.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0) return rc_;                                                                   \
    } while (0)

// ftfy's segment length limit (TextFixerConfig.max_decode_length).
#define FTFY_MAX_SEGMENT 1000000
// ftfy loops until nothing changes; every change that can repeat shrinks the text, so the
// bound below is never reached by real input. It only guards against a pathological cycle.
#define FTFY_MAX_ROUNDS 100000

// --- buffers ----------------------------------------------------------------------------

int cpbuf_reserve(cpbuf *b, size_t cap)
{
    if (cap <= b->cap) return 0;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < cap) {
        if (nc > SIZE_MAX / 8) return seize_error(SEIZE_ENOMEM, "text too long");
        nc *= 2;
    }
    uint32_t *p = seize_realloc(b->p, nc, sizeof *p);
    if (!p) return SEIZE_ENOMEM;
    b->p = p;
    b->cap = nc;
    return 0;
}

void cpbuf_free(cpbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

void text_work_free(text_work *w)
{
    if (!w) return;
    cpbuf_free(&w->a);
    cpbuf_free(&w->b);
    cpbuf_free(&w->seg);
    cpbuf_free(&w->tmp);
    cpbuf_free(&w->orig);
    cpbuf_free(&w->small);
}

static inline int push(cpbuf *b, uint32_t c)
{
    if (b->n == b->cap) TRY(cpbuf_reserve(b, b->n + 1));
    b->p[b->n++] = c;
    return 0;
}

static int push_n(cpbuf *b, const uint32_t *c, size_t n)
{
    TRY(cpbuf_reserve(b, b->n + n));
    if (n) memcpy(b->p + b->n, c, n * sizeof *c);
    b->n += n;
    return 0;
}

static void swap(cpbuf *x, cpbuf *y)
{
    cpbuf t = *x;
    *x = *y;
    *y = t;
}

static int same(const cpbuf *x, const cpbuf *y)
{
    return x->n == y->n && (x->n == 0 || memcmp(x->p, y->p, x->n * sizeof *x->p) == 0);
}

// --- character classes ------------------------------------------------------------------

int text_is_space(uint32_t c)
{
    // Python's str.isspace (also what \s matches in the reference's patterns): bidirectional
    // class WS, B or S, or category Zs.
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
    return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

int text_is_letter(uint32_t c)
{
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return 1;
    default:
        return 0;
    }
}

int text_is_number(uint32_t c)
{
    if (c < 0x80) return c >= '0' && c <= '9';
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

static int is_decimal(uint32_t c) // Python's \d in a str pattern: category Nd
{
    if (c < 0x80) return c >= '0' && c <= '9';
    return utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_ND;
}

// --- UTF-8 decoding -----------------------------------------------------------------------

// Like Python's bytes.decode('utf-8', 'replace'): each maximal ill-formed subpart becomes one
// U+FFFD.
static int decode_utf8(const unsigned char *s, size_t len, cpbuf *out)
{
    TRY(cpbuf_reserve(out, len)); // never more code points than bytes
    uint32_t *o = out->p;
    size_t n = 0, i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            o[n++] = c;
            i++;
            continue;
        }
        int need;
        uint32_t cp;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            o[n++] = 0xFFFD;
            i++;
            continue;
        }
        size_t j = i + 1;
        int ok = 1;
        for (int k = 0; k < need; k++, j++) {
            if (j >= len || s[j] < lo || s[j] > hi) {
                ok = 0;
                break;
            }
            cp = (cp << 6) | (s[j] & 0x3F);
            lo = 0x80;
            hi = 0xBF;
        }
        o[n++] = ok ? cp : 0xFFFD;
        i = j; // on failure j is the first byte that did not fit: it starts the next unit
    }
    out->n = n;
    return 0;
}

// --- HTML tables --------------------------------------------------------------------------

static int cmp_entity(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const struct html_entity *)elem)->name);
}

// Looks up a name given as code points; NULL when absent (or not ASCII).
static const struct html_entity *find_entity(const struct html_entity *table, size_t count,
                                             const uint32_t *name, size_t n)
{
    char key[40];
    if (n == 0 || n >= sizeof key) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (name[i] == 0 || name[i] >= 0x80) return NULL;
        key[i] = (char)name[i];
    }
    key[n] = 0;
    return bsearch(key, table, count, sizeof *table, cmp_entity);
}

static int invalid_codepoint(uint32_t c)
{
    size_t lo = 0, hi = html_invalid_codepoints_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (html_invalid_codepoints[mid] == c) return 1;
        if (html_invalid_codepoints[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int invalid_charref(uint32_t num, uint32_t *cp)
{
    for (size_t i = 0; i < html_invalid_charrefs_count; i++)
        if (html_invalid_charrefs[i].num == num) {
            *cp = html_invalid_charrefs[i].cp;
            return 1;
        }
    return 0;
}

// --- html.unescape ------------------------------------------------------------------------

static int hexval(uint32_t c)
{
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

// Python's html._replace_charref for a numeric reference.
static int push_charref(cpbuf *out, uint32_t num)
{
    uint32_t cp;
    if (invalid_charref(num, &cp)) return push(out, cp);
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return push(out, 0xFFFD);
    if (invalid_codepoint(num)) return 0;
    return push(out, num);
}

static int named_excluded(uint32_t c) // [^\t\n\f <&#;]
{
    return c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' ||
           c == ';';
}

// Python's html.unescape: the regex
//   &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
// replaced by _replace_charref (numeric: remap/drop/U+FFFD; named: the html5 table, else the
// longest prefix of at least 2 characters that is a name, else unchanged).
static int html_unescape(const uint32_t *s, size_t n, cpbuf *out)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] != '&') {
            size_t j = i;
            while (j < n && s[j] != '&')
                j++;
            TRY(push_n(out, s + i, j - i));
            i = j;
            continue;
        }
        size_t j = i + 1;
        if (j < n && s[j] == '#') {
            int hex = j + 1 < n && (s[j + 1] == 'x' || s[j + 1] == 'X');
            size_t d = j + 1 + (size_t)hex, e = d;
            uint32_t num = 0;
            if (hex) {
                while (e < n && hexval(s[e]) >= 0) {
                    if (num <= 0x10FFFF) num = num * 16 + (uint32_t)hexval(s[e]);
                    e++;
                }
            } else {
                while (e < n && s[e] >= '0' && s[e] <= '9') {
                    if (num <= 0x10FFFF) num = num * 10 + (s[e] - '0');
                    e++;
                }
            }
            if (e == d) { // no digits (a named reference cannot start with '#')
                TRY(push(out, '&'));
                i++;
                continue;
            }
            if (e < n && s[e] == ';') e++;
            TRY(push_charref(out, num));
            i = e;
            continue;
        }
        size_t m = 0;
        while (m < 32 && j + m < n && !named_excluded(s[j + m]))
            m++;
        if (m == 0) {
            TRY(push(out, '&'));
            i++;
            continue;
        }
        size_t len = m + (j + m < n && s[j + m] == ';');
        const struct html_entity *e = find_entity(html5_entities, html5_entities_count, s + j, len);
        if (e) {
            TRY(push_n(out, e->cp, e->n));
            i = j + len;
            continue;
        }
        size_t x;
        for (x = len - 1; x >= 2; x--) {
            e = find_entity(html5_entities, html5_entities_count, s + j, x);
            if (e) break;
        }
        if (e && x >= 2) {
            TRY(push_n(out, e->cp, e->n));
            TRY(push_n(out, s + j + x, len - x));
        } else {
            TRY(push_n(out, s + i, 1 + len));
        }
        i = j + len;
    }
    return 0;
}

static int is_ascii_alnum(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// ftfy's unescape_html: the regex &#?[0-9A-Za-z]{1,24}; replaced by _unescape_fixup: a name in
// ftfy's HTML_ENTITIES (html5 names ending in ';', plus all-caps variants), or a numeric
// reference decoded by html.unescape unless the result still contains ';'.
static int ftfy_unescape(const uint32_t *s, size_t n, cpbuf *out, cpbuf *small)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] != '&') {
            size_t j = i;
            while (j < n && s[j] != '&')
                j++;
            TRY(push_n(out, s + i, j - i));
            i = j;
            continue;
        }
        size_t k = i + 1;
        int num = k < n && s[k] == '#';
        k += (size_t)num;
        size_t m = 0;
        while (k + m < n && is_ascii_alnum(s[k + m]))
            m++;
        if (m < 1 || m > 24 || k + m >= n || s[k + m] != ';') {
            TRY(push(out, '&'));
            i++;
            continue;
        }
        size_t end = k + m + 1; // the match is s[i, end)
        const struct html_entity *e = NULL;
        if (!num) {
            e = find_entity(html5_entities, html5_entities_count, s + k, m + 1);
            if (!e) e = find_entity(ftfy_upper_entities, ftfy_upper_entities_count, s + k, m + 1);
        }
        if (e) {
            TRY(push_n(out, e->cp, e->n));
        } else if (num) {
            small->n = 0;
            TRY(html_unescape(s + i, end - i, small));
            int semi = 0;
            for (size_t q = 0; q < small->n; q++)
                semi |= small->p[q] == ';';
            if (semi)
                TRY(push_n(out, s + i, end - i));
            else
                TRY(push_n(out, small->p, small->n));
        } else {
            TRY(push_n(out, s + i, end - i));
        }
        i = end;
    }
    return 0;
}

// --- ftfy's character fixes -----------------------------------------------------------------

// ftfy.chardata.LIGATURES (ftfy 6): Latin ligatures and legacy digraphs, expanded to their
// one-level compatibility decomposition (which is why U+FB05 gives "ſt", not NFKC's "st").
static const struct {
    uint32_t c;
    uint32_t to[3];
} ligatures[] = {
    {0x0132, {'I', 'J'}},      {0x0133, {'i', 'j'}},      {0x0149, {0x02BC, 'n'}},
    {0x01C4, {'D', 0x017D}},   {0x01C5, {'D', 0x017E}},   {0x01C6, {'d', 0x017E}},
    {0x01C7, {'L', 'J'}},      {0x01C8, {'L', 'j'}},      {0x01C9, {'l', 'j'}},
    {0x01CA, {'N', 'J'}},      {0x01CB, {'N', 'j'}},      {0x01CC, {'n', 'j'}},
    {0x01F1, {'D', 'Z'}},      {0x01F2, {'D', 'z'}},      {0x01F3, {'d', 'z'}},
    {0xFB00, {'f', 'f'}},      {0xFB01, {'f', 'i'}},      {0xFB02, {'f', 'l'}},
    {0xFB03, {'f', 'f', 'i'}}, {0xFB04, {'f', 'f', 'l'}}, {0xFB05, {0x017F, 't'}},
    {0xFB06, {'s', 't'}},
};

static int ligature(uint32_t c, uint32_t out[3])
{
    if (!((c >= 0x0132 && c <= 0x01F3) || (c >= 0xFB00 && c <= 0xFB06))) return 0;
    for (size_t i = 0; i < sizeof ligatures / sizeof ligatures[0]; i++)
        if (ligatures[i].c == c) {
            int n = ligatures[i].to[2] ? 3 : 2;
            memcpy(out, ligatures[i].to, sizeof ligatures[i].to);
            return n;
        }
    return 0;
}

// Canonical ordering of a decomposed sequence: stable sort by combining class within each run
// of non-starters.
static void canonical_order(utf8proc_int32_t *b, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        utf8proc_int32_t c = b[i];
        int cc = utf8proc_get_property(c)->combining_class;
        if (cc == 0) continue;
        size_t j = i;
        while (j > 0) {
            int pc = utf8proc_get_property(b[j - 1])->combining_class;
            if (pc <= cc) break;
            b[j] = b[j - 1];
            j--;
        }
        b[j] = c;
    }
}

// NFKC of one character (ftfy's WIDTH_MAP is built from it). Returns the length (<= 18).
static int nfkc_char(uint32_t c, uint32_t out[32])
{
    utf8proc_int32_t b[32];
    utf8proc_ssize_t n = utf8proc_decompose_char(
        (utf8proc_int32_t)c, b, 32, UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_STABLE, NULL);
    if (n < 0 || n > 32) {
        out[0] = c;
        return 1;
    }
    canonical_order(b, (size_t)n);
    n = utf8proc_normalize_utf32(b, n, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
    if (n < 0) {
        out[0] = c;
        return 1;
    }
    for (utf8proc_ssize_t i = 0; i < n; i++)
        out[i] = (uint32_t)b[i];
    return (int)n;
}

static uint32_t uncurl(uint32_t c) // ftfy.fixes.uncurl_quotes
{
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) return '\'';
    if (c >= 0x201C && c <= 0x201F) return '"';
    return c;
}

// One pass of fix_c1_controls, fix_latin_ligatures, fix_character_width and uncurl_quotes.
// Each is a per-character map, so applying them in order to each character is the same as
// applying them in order to the whole text.
static int fix_chars(const cpbuf *in, cpbuf *out)
{
    out->n = 0;
    TRY(cpbuf_reserve(out, in->n));
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->p[i];
        if (c < 0x80) {
            TRY(push(out, c));
            continue;
        }
        if (c <= 0x9F) invalid_charref(c, &c); // sloppy windows-1252 for C1 controls
        uint32_t l[3];
        int nl = ligature(c, l);
        if (!nl) {
            l[0] = c;
            nl = 1;
        }
        for (int a = 0; a < nl; a++) {
            uint32_t w[32];
            int nw = 1;
            w[0] = l[a];
            if (l[a] == 0x3000)
                w[0] = ' ';
            else if (l[a] >= 0xFF01 && l[a] <= 0xFFEF)
                nw = nfkc_char(l[a], w);
            for (int b = 0; b < nw; b++)
                TRY(push(out, uncurl(w[b])));
        }
    }
    return 0;
}

static int removed_control(uint32_t c) // ftfy.chardata.CONTROL_CHARS
{
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
           (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

// fix_line_breaks, remove_terminal_escapes and remove_control_chars in one pass (their
// patterns do not interact: escape sequences contain no line breaks, and ESC is only removed
// as a control character where it does not start a sequence).
static int fix_controls(const cpbuf *in, cpbuf *out)
{
    out->n = 0;
    TRY(cpbuf_reserve(out, in->n));
    const uint32_t *s = in->p;
    size_t n = in->n;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == 0x1B && i + 1 < n && s[i + 1] == '[') { // \033\[((?:\d|;)*)([a-zA-Z])
            size_t j = i + 2;
            while (j < n && (s[j] == ';' || is_decimal(s[j])))
                j++;
            if (j < n && s[j] < 0x80 && (s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z') {
                i = j;
                continue;
            }
        }
        if (c == '\r') {
            if (i + 1 < n && s[i + 1] == '\n') i++;
            c = '\n';
        } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
            c = '\n';
        } else if (removed_control(c)) {
            continue;
        }
        out->p[out->n++] = c; // never longer than the input
    }
    return 0;
}

// NFC (unicodedata.normalize('NFC', ...)). Text below U+0300 is always in NFC.
static int nfc(const cpbuf *in, cpbuf *out)
{
    size_t i = 0;
    while (i < in->n && in->p[i] < 0x300)
        i++;
    out->n = 0;
    if (i == in->n) return push_n(out, in->p, in->n);
    TRY(cpbuf_reserve(out, in->n + 32));
    size_t k = 0;
    for (i = 0; i < in->n; i++) {
        if (out->cap - k < 32) TRY(cpbuf_reserve(out, k + 32));
        utf8proc_ssize_t r =
            utf8proc_decompose_char((utf8proc_int32_t)in->p[i], (utf8proc_int32_t *)out->p + k, 32,
                                    UTF8PROC_COMPOSE | UTF8PROC_STABLE, NULL);
        if (r < 0 || r > 32)
            return seize_error(SEIZE_EINVAL, "cannot normalise U+%04X", (unsigned)in->p[i]);
        k += (size_t)r;
    }
    canonical_order((utf8proc_int32_t *)out->p, k);
    utf8proc_ssize_t r = utf8proc_normalize_utf32((utf8proc_int32_t *)out->p, (utf8proc_ssize_t)k,
                                                  UTF8PROC_COMPOSE | UTF8PROC_STABLE);
    if (r < 0) return seize_error(SEIZE_EINVAL, "cannot normalise text");
    out->n = (size_t)r;
    return 0;
}

// True when no ftfy step can change the segment (the usual case for captions): printable
// ASCII plus tab, newline and form feed, and no '&' when entities are being decoded.
static int segment_is_clean(const uint32_t *s, size_t n, int unescape)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c >= 0x20 && c < 0x7F) {
            if (c == '&' && unescape) return 0;
        } else if (c != '\t' && c != '\n' && c != '\f') {
            return 0;
        }
    }
    return 1;
}

// ftfy.fix_and_explain on one segment, appended to `out`.
static int fix_segment(const uint32_t *s, size_t n, int unescape, cpbuf *out, text_work *w)
{
    if (segment_is_clean(s, n, unescape)) return push_n(out, s, n);
    cpbuf *cur = &w->seg, *tmp = &w->tmp, *orig = &w->orig;
    cur->n = 0;
    TRY(push_n(cur, s, n));
    for (int round = 0; round < FTFY_MAX_ROUNDS; round++) {
        orig->n = 0;
        TRY(push_n(orig, cur->p, cur->n));
        if (unescape) {
            tmp->n = 0;
            TRY(ftfy_unescape(cur->p, cur->n, tmp, &w->small));
            swap(cur, tmp);
        }
        TRY(fix_chars(cur, tmp));
        swap(cur, tmp);
        TRY(fix_controls(cur, tmp));
        swap(cur, tmp);
        TRY(nfc(cur, tmp));
        swap(cur, tmp);
        if (same(cur, orig)) break;
    }
    return push_n(out, cur->p, cur->n);
}

// ftfy.fix_text: independent segments ending after each '\n' (at most 10^6 characters);
// HTML entities are decoded until a segment contains '<', and never after that one.
static int ftfy_fix_text(const cpbuf *in, cpbuf *out, text_work *w)
{
    out->n = 0;
    TRY(cpbuf_reserve(out, in->n));
    int unescape = 1;
    size_t pos = 0;
    while (pos < in->n) {
        size_t end = pos;
        while (end < in->n && in->p[end] != '\n')
            end++;
        end = end < in->n ? end + 1 : in->n;
        if (end - pos > FTFY_MAX_SEGMENT) end = pos + FTFY_MAX_SEGMENT;
        if (unescape)
            for (size_t i = pos; i < end; i++)
                if (in->p[i] == '<') {
                    unescape = 0;
                    break;
                }
        TRY(fix_segment(in->p + pos, end - pos, unescape, out, w));
        pos = end;
    }
    return 0;
}

// --- whitespace and case --------------------------------------------------------------------

// re.sub(r'\s+', ' ', text).strip() (after basic_clean's own strip, which this subsumes).
static int collapse_space(const cpbuf *in, cpbuf *out)
{
    out->n = 0;
    TRY(cpbuf_reserve(out, in->n));
    int pending = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->p[i];
        if (text_is_space(c)) {
            pending = out->n > 0;
            continue;
        }
        if (pending) out->p[out->n++] = ' ';
        pending = 0;
        out->p[out->n++] = c;
    }
    return 0;
}

// Properties for the Final_Sigma rule of str.lower(). utf8proc has categories and case
// mappings but not the derived Cased / Case_Ignorable properties; the code points they add
// (Other_Lowercase/Other_Uppercase letters without mappings, and Word_Break MidLetter,
// MidNumLet and Single_Quote) are listed here, checked against CPython 3.11 over all code points.
static int is_cased(uint32_t c)
{
    if (c == 0xAA || c == 0xBA || (c >= 0x1F130 && c <= 0x1F149) ||
        (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189))
        return 1;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT)
        return 1;
    return utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c ||
           utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c;
}

static int is_case_ignorable(uint32_t c)
{
    switch (c) {
    case 0x27:
    case 0x2E:
    case 0x3A:
    case 0xB7:
    case 0x387:
    case 0x55F:
    case 0x5F4:
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0x2027:
    case 0xFE13:
    case 0xFE52:
    case 0xFE55:
    case 0xFF07:
    case 0xFF0E:
    case 0xFF1A:
        return 1;
    default:
        break;
    }
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
        return 1;
    default:
        return 0;
    }
}

// CPython's handle_capital_sigma: U+03A3 lowercases to final sigma when preceded by a cased
// letter (skipping case-ignorables) and not followed by one.
static int final_sigma(const uint32_t *s, size_t n, size_t i)
{
    size_t j = i;
    uint32_t c = 0;
    int found = 0;
    while (j > 0) {
        c = s[--j];
        if (!is_case_ignorable(c)) {
            found = 1;
            break;
        }
    }
    if (!found || !is_cased(c)) return 0;
    for (j = i + 1; j < n; j++) {
        c = s[j];
        if (!is_case_ignorable(c)) return !is_cased(c);
    }
    return 1;
}

// str.lower(): full lowercase mapping. The only unconditional multi-character lowercase in
// SpecialCasing is U+0130; the only context-dependent one Python applies is Final_Sigma.
static int lower(const cpbuf *in, cpbuf *out)
{
    out->n = 0;
    TRY(cpbuf_reserve(out, in->n));
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->p[i];
        if (c < 0x80) {
            if (c >= 'A' && c <= 'Z') c += 32;
        } else if (c == 0x130) {
            TRY(push(out, 'i'));
            c = 0x307;
        } else if (c == 0x3A3) {
            c = final_sigma(in->p, in->n, i) ? 0x3C2 : 0x3C3;
        } else {
            c = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
        }
        TRY(push(out, c));
    }
    return 0;
}

// --- the pipeline -----------------------------------------------------------------------------

static int contains_amp(const cpbuf *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->p[i] == '&') return 1;
    return 0;
}

// The whole pipeline for the common case in one pass: printable ASCII and the whitespace
// characters ftfy keeps (tab, LF, FF, CR), no '&'. No ftfy step and no unescaping can change
// such text, so cleaning is collapsing whitespace and lowercasing. Returns 0 when the text
// needs the general path.
static int clean_ascii(const unsigned char *s, size_t len, cpbuf *out)
{
    if (cpbuf_reserve(out, len) < 0) return 0;
    uint32_t *o = out->p;
    size_t n = 0;
    int pending = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned c = s[i];
        if (c > 0x20 && c < 0x7F && c != '&') {
            if (pending) o[n++] = ' ';
            pending = 0;
            o[n++] = c >= 'A' && c <= 'Z' ? c + 32 : c;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r') {
            pending = n > 0;
        } else {
            return 0;
        }
    }
    out->n = n;
    return 1;
}

int text_clean(const char *s, size_t len, text_work *w, const cpbuf **result)
{
    if (clean_ascii((const unsigned char *)s, len, &w->b)) {
        *result = &w->b;
        return 0;
    }
    TRY(decode_utf8((const unsigned char *)s, len, &w->a));
    TRY(ftfy_fix_text(&w->a, &w->b, w));
    for (int k = 0; k < 2; k++) { // html.unescape(html.unescape(text))
        if (!contains_amp(&w->b)) break;
        w->a.n = 0;
        TRY(html_unescape(w->b.p, w->b.n, &w->a));
        swap(&w->a, &w->b);
    }
    TRY(collapse_space(&w->b, &w->a));
    TRY(lower(&w->a, &w->b));
    *result = &w->b;
    return 0;
}
