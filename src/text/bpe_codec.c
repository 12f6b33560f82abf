// GPT-2 byte-level BPE: encoding (added tokens, GPT-2's pre-tokenisation pattern, merges by rank)
// and decoding (bytes, UTF-8 with Python's error handlers, transformers' clean-up) as
// transformers 4.40's GPT2Tokenizer does. The loader is bpe.c.
//
// Encoding, step by step as PreTrainedTokenizer.tokenize + GPT2Tokenizer._tokenize:
//   1. add_prefix_space (tokenizer_config.json) puts a space in front.
//   2. Added tokens are cut out whole, leftmost first and longest at a position (the slow
//      tokenizer's trie); lstrip/rstrip ones strip Python white space off their neighbours.
//      single_word is not supported (taken as false).
//   3. The rest is split with
//        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      (the regex module's semantics: \s is Unicode White_Space, \p{L} / \p{N} the general
//      categories, from utf8proc). Bytes that are not UTF-8 are taken one by one as characters
//      of no class (what Python would see after decode("utf-8", "surrogateescape")).
//   4. Each piece's bytes become byte-alphabet symbols, merged by rank: all occurrences of the
//      best pair, left to right, then the next best pair (a heap of (rank, position) with the
//      pairs a round creates held back until the round ends, which is exactly that order).
//   5. Symbols become ids (an added token's id when its content is the symbol; a byte symbol
//      missing from vocab.json becomes unk's id, or nothing without one).
#include "seize/text.h"

#include "bpe_int.h"
#include "seize/core.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0) return rc_;                                                                   \
    } while (0)

// --- UTF-8 --------------------------------------------------------------------------------

// One character at s[0..n): its length (> 0) with *cp set, or minus the length of the maximal
// ill-formed subpart (CPython's UTF-8 decoder replaces each such subpart by one U+FFFD).
static int utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return -1;
    uint32_t v = c & (0x3F >> need);
    for (int k = 1; k <= need; k++) {
        if ((size_t)k >= n) return -k;
        unsigned b = s[k];
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return -k;
        v = (v << 6) | (b & 0x3F);
    }
    *cp = v;
    return need + 1;
}

// --- character classes of the pattern --------------------------------------------------------

enum cls { C_SPACE, C_LETTER, C_NUMBER, C_OTHER };

#define RAW_BYTE 0x110000u // code points from here on stand for bytes that are not UTF-8

static enum cls classify(uint32_t c)
{
    if (c < 0x80) {
        if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return C_SPACE;
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return C_LETTER;
        return c >= '0' && c <= '9' ? C_NUMBER : C_OTHER;
    }
    if (c >= RAW_BYTE) return C_OTHER;
    // the regex module's \s: the White_Space property
    if (c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
        c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000)
        return C_SPACE;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return C_LETTER;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return C_NUMBER;
    default:
        return C_OTHER;
    }
}

// --- per-call work space ----------------------------------------------------------------------

struct enc {
    uint32_t *cp; // code points of a text segment (RAW_BYTE + b for a stray byte)
    uint8_t *cls;
    size_t *off; // byte offset of each code point, and one past the end
    size_t cap_cp;
    int32_t *sym, *prev, *next; // a piece's symbols as a linked list
    uint8_t *byte;
    size_t cap_sym;
    uint64_t *heap, *pending;
    size_t n_heap, n_pending, cap_heap;
    int32_t *ids;
    size_t n_ids, cap_ids;
};

static void enc_free(struct enc *w)
{
    free(w->cp);
    free(w->cls);
    free(w->off);
    free(w->sym);
    free(w->prev);
    free(w->next);
    free(w->byte);
    free(w->heap);
    free(w->pending);
}

static int grow(void **p, size_t need, size_t elem)
{
    void *q = seize_realloc(*p, need ? need : 1, elem);
    if (!q) return SEIZE_ENOMEM;
    *p = q;
    return 0;
}

static int push_id(struct enc *w, int32_t id)
{
    if (id < 0) return 0; // no unk token: the symbol is dropped
    if (w->n_ids == w->cap_ids) {
        size_t cap = w->cap_ids ? 2 * w->cap_ids : 64;
        TRY(grow((void **)&w->ids, cap, sizeof *w->ids));
        w->cap_ids = cap;
    }
    w->ids[w->n_ids++] = id;
    return 0;
}

// --- BPE of one piece -----------------------------------------------------------------------

// Holds the pair starting at node p (if it merges) for the end of the round.
static void hold_pair(const seize_bpe *t, struct enc *w, int32_t p)
{
    if (p < 0 || w->next[p] < 0) return;
    const struct bpe_pair *m = bpe_pair_find(t, w->sym[p], w->sym[w->next[p]]);
    if (m) w->pending[w->n_pending++] = ((uint64_t)(uint32_t)m->rank << 32) | (uint32_t)p;
}

// Merges the pair at node p if it is still the pair of rank `rank`; returns 1 when merged.
static int merge_at(const seize_bpe *t, struct enc *w, int32_t p, int32_t rank)
{
    int32_t q = w->next[p];
    if (w->sym[p] < 0 || q < 0) return 0;
    const struct bpe_pair *m = bpe_pair_find(t, w->sym[p], w->sym[q]);
    if (!m || m->rank != rank) return 0;
    w->sym[p] = m->merged;
    w->next[p] = w->next[q];
    if (w->next[q] >= 0) w->prev[w->next[q]] = p;
    w->sym[q] = -1;
    w->next[q] = -1;
    hold_pair(t, w, w->prev[p]);
    hold_pair(t, w, p);
    return 1;
}

static int bpe_piece(const seize_bpe *t, struct enc *w, const unsigned char *s, size_t n)
{
    if (n == 1)
        return push_id(w,
                       t->byte_sym[s[0]] >= 0 ? t->out_id[t->byte_sym[s[0]]] : t->byte_out[s[0]]);
    if (n > INT32_MAX) return seize_error(SEIZE_ENOMEM, "a word of %zu bytes is too long", n);
    if (n > w->cap_sym) {
        TRY(grow((void **)&w->sym, n, sizeof *w->sym));
        TRY(grow((void **)&w->prev, n, sizeof *w->prev));
        TRY(grow((void **)&w->next, n, sizeof *w->next));
        TRY(grow((void **)&w->byte, n, 1));
        w->cap_sym = n;
    }
    if (3 * n > w->cap_heap) { // n - 1 pairs at first, at most 2 more per merge
        TRY(grow((void **)&w->heap, 3 * n, sizeof *w->heap));
        TRY(grow((void **)&w->pending, 3 * n, sizeof *w->pending));
        w->cap_heap = 3 * n;
    }
    w->n_heap = w->n_pending = 0;
    for (size_t i = 0; i < n; i++) {
        w->byte[i] = s[i];
        w->sym[i] = t->byte_sym[s[i]];
        w->prev[i] = (int32_t)i - 1;
        w->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    // a symbol missing from vocab.json (sym -1) never merges: bpe_pair_find refuses it
    for (size_t i = 0; i + 1 < n; i++)
        hold_pair(t, w, (int32_t)i);
    for (;;) {
        for (size_t i = 0; i < w->n_pending; i++)
            text_heap_push(w->heap, &w->n_heap, w->pending[i]);
        w->n_pending = 0;
        int32_t rank = -1;
        while (w->n_heap && rank < 0) { // the best pair that is still there opens a round
            uint64_t e = text_heap_pop(w->heap, &w->n_heap);
            if (merge_at(t, w, (int32_t)(uint32_t)e, (int32_t)(e >> 32))) rank = (int32_t)(e >> 32);
        }
        if (rank < 0) break;
        while (w->n_heap && (int32_t)(w->heap[0] >> 32) == rank) { // its other occurrences
            uint64_t e = text_heap_pop(w->heap, &w->n_heap);
            merge_at(t, w, (int32_t)(uint32_t)e, rank);
        }
    }
    for (int32_t p = 0; p >= 0; p = w->next[p]) {
        int32_t id = w->sym[p] >= 0 ? t->out_id[w->sym[p]] : t->byte_out[w->byte[p]];
        TRY(push_id(w, id));
    }
    return 0;
}

// --- the pre-tokenisation pattern -------------------------------------------------------------

// Length of the contraction ('s 't 're 've 'm 'll 'd) at code point i, else 0.
static size_t contraction(const uint32_t *c, size_t i, size_t n)
{
    if (c[i] != '\'' || i + 1 >= n) return 0;
    uint32_t a = c[i + 1], b = i + 2 < n ? c[i + 2] : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

static size_t run_end(const struct enc *w, size_t i, size_t n, uint8_t k)
{
    while (i < n && w->cls[i] == k)
        i++;
    return i;
}

// The end (code point index) of the match at i.
static size_t match_at(const struct enc *w, size_t i, size_t n)
{
    size_t k = contraction(w->cp, i, n);
    if (k) return i + k;
    if (w->cls[i] != C_SPACE) return run_end(w, i, n, w->cls[i]);
    size_t j = run_end(w, i, n, C_SPACE);
    if (j == n) return n;         // \s+(?!\S) takes a final run whole
    if (j - i >= 2) return j - 1; // ... and all but the last of a run before other text
    if (w->cp[i] == ' ') return run_end(w, j, n, w->cls[j]); // " ?\p{L}+" and the others
    return i + 1;                                            // \s+
}

static int encode_text(const seize_bpe *t, struct enc *w, const unsigned char *s, size_t len)
{
    if (!len) return 0;
    if (len + 1 > w->cap_cp) {
        TRY(grow((void **)&w->cp, len + 1, sizeof *w->cp));
        TRY(grow((void **)&w->cls, len + 1, 1));
        TRY(grow((void **)&w->off, len + 1, sizeof *w->off));
        w->cap_cp = len + 1;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; n++) {
        uint32_t c;
        int k = utf8_next(s + i, len - i, &c);
        if (k < 0) {
            c = RAW_BYTE + s[i];
            k = 1;
        }
        w->cp[n] = c;
        w->cls[n] = (uint8_t)classify(c);
        w->off[n] = i;
        i += (size_t)k;
    }
    w->off[n] = len;
    for (size_t i = 0; i < n;) {
        size_t j = match_at(w, i, n);
        TRY(bpe_piece(t, w, s + w->off[i], w->off[j] - w->off[i]));
        i = j;
    }
    return 0;
}

// --- added tokens -----------------------------------------------------------------------------

// The longest added token at s[0..n) (in the encoder), or NULL.
static const struct bpe_added *added_at(const seize_bpe *t, const unsigned char *s, size_t n)
{
    const struct bpe_added *best = NULL;
    for (size_t k = 0; k < t->n_added; k++) {
        const struct bpe_added *a = &t->added[k];
        if (!a->in_encoder || !a->len || a->len > n || (best && a->len <= best->len)) continue;
        if ((unsigned char)a->content[0] == s[0] && !memcmp(a->content, s, a->len)) best = a;
    }
    return best;
}

static int encode_all(const seize_bpe *t, struct enc *w, const unsigned char *s, size_t len)
{
    size_t start = 0;   // the text since the last added token
    size_t skip_ws = 0; // the previous added token strips white space after it
    for (size_t i = 0; i <= len;) {
        const struct bpe_added *a = i < len && t->n_added ? added_at(t, s + i, len - i) : NULL;
        if (!a && i < len) {
            i++;
            continue;
        }
        size_t end = i, k;
        if (skip_ws)
            while (start < end && (k = bpe_py_space_at(s + start, end - start)))
                start += k;
        if (a && a->lstrip)
            while (end > start && (k = bpe_py_space_before(s + start, end - start)))
                end -= k;
        TRY(encode_text(t, w, s + start, end - start));
        if (!a) break;
        TRY(push_id(w, a->id));
        skip_ws = a->rstrip;
        i += a->len;
        start = i;
    }
    return 0;
}

int seize_bpe_encode(const seize_bpe *t, const char *text, size_t len, int32_t **ids, size_t *n)
{
    if (ids) *ids = NULL;
    if (n) *n = 0;
    if (!t || !ids || !n || (!text && len)) return seize_error(SEIZE_EINVAL, "no text given");
    struct enc w = {0};
    unsigned char *buf = NULL;
    const unsigned char *s = (const unsigned char *)text;
    if (t->prefix_space) {
        if (!(buf = seize_malloc(len + 1, 1))) return SEIZE_ENOMEM;
        buf[0] = ' ';
        if (len) memcpy(buf + 1, text, len);
        s = buf;
        len++;
    }
    int rc = encode_all(t, &w, s, len);
    free(buf);
    enc_free(&w);
    if (rc < 0) {
        free(w.ids);
        return rc;
    }
    *ids = w.ids ? w.ids : seize_malloc(1, sizeof **ids);
    if (!*ids) return SEIZE_ENOMEM;
    *n = w.n_ids;
    return 0;
}

// --- decoding ---------------------------------------------------------------------------------

// Appends the UTF-8 text of bytes b[0..n) decoded with Python's error handler `errors`.
static int append_decoded(seize_buf *dst, const unsigned char *b, size_t n, int errors)
{
    TRY(seize_buf_reserve(dst, n + n / 2 + 4));
    for (size_t i = 0; i < n;) {
        uint32_t c;
        int k = utf8_next(b + i, n - i, &c);
        if (k > 0) {
            TRY(seize_buf_append(dst, b + i, (size_t)k));
            i += (size_t)k;
            continue;
        }
        if (errors == BPE_ERR_STRICT)
            return seize_error(SEIZE_EINVAL,
                               "the tokens' bytes are not UTF-8 (byte %zu; errors=\"strict\")", i);
        if (errors == BPE_ERR_REPLACE) TRY(seize_buf_append(dst, "\xEF\xBF\xBD", 3));
        i += (size_t)-k;
    }
    return 0;
}

// Appends the bytes that token string s stands for (each character through the byte alphabet).
static int token_bytes(const seize_bpe *t, seize_buf *dst, const char *s, int32_t id)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t c;
        int k = utf8_next(u + i, n - i, &c);
        if (k < 0 || c >= BPE_ALPHABET_END || t->cp_byte[c] < 0)
            return seize_error(SEIZE_EINVAL,
                               "token %d ('%s') has a character outside GPT-2's byte alphabet",
                               (int)id, s);
        unsigned char byte = (unsigned char)t->cp_byte[c];
        TRY(seize_buf_append(dst, &byte, 1));
        i += (size_t)k;
    }
    return 0;
}

// One more sub-text for " ".join(sub_texts).
static int append_sub(seize_buf *res, size_t *n_sub, const char *s, size_t len)
{
    if ((*n_sub)++) TRY(seize_buf_append(res, " ", 1));
    return seize_buf_append(res, s, len);
}

// Flushes the bytes of the pending ordinary tokens as one sub-text (an empty one is dropped
// before a legacy added token, kept at the end, as transformers does).
static int flush_sub(const seize_bpe *t, seize_buf *res, size_t *n_sub, seize_buf *cur,
                     int keep_empty)
{
    seize_buf txt = {0};
    int rc = append_decoded(&txt, (const unsigned char *)cur->data, cur->len, t->errors);
    if (rc == 0 && (txt.len || keep_empty))
        rc = append_sub(res, n_sub, txt.data ? txt.data : "", txt.len);
    seize_buf_free(&txt);
    cur->len = 0;
    return rc;
}

// str.replace(from, to) in place, for `to` no longer than `from`.
static void replace_all(seize_buf *b, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), r = 0, wr = 0;
    while (r < b->len) {
        if (r + fl <= b->len && !memcmp(b->data + r, from, fl)) {
            memmove(b->data + wr, to, tl);
            wr += tl;
            r += fl;
        } else
            b->data[wr++] = b->data[r++];
    }
    b->len = wr;
    if (b->data) b->data[wr] = 0;
}

static void clean_up(seize_buf *b)
{
    static const char *const rep[][2] = {
        {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (size_t i = 0; i < sizeof rep / sizeof rep[0]; i++)
        replace_all(b, rep[i][0], rep[i][1]);
}

static int decode_ids(const seize_bpe *t, const int32_t *ids, size_t n, int skip, seize_buf *res)
{
    seize_buf cur = {0};
    size_t n_sub = 0;
    int have_cur = 0, rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int32_t id = ids[i];
        int known = id >= 0 && (size_t)id < t->n_ids && t->str[id];
        if (known && skip && (t->flags[id] & BPE_F_SPECIAL)) continue;
        if (!known) {
            rc = seize_error(SEIZE_EINVAL, "token id %d is not in the vocabulary (0..%zu)", (int)id,
                             t->n_ids ? t->n_ids - 1 : 0);
        } else if (t->flags[id] & BPE_F_LEGACY) {
            if (have_cur) rc = flush_sub(t, res, &n_sub, &cur, 0);
            have_cur = 0;
            if (rc == 0) rc = append_sub(res, &n_sub, t->str[id], strlen(t->str[id]));
        } else {
            have_cur = 1;
            rc = token_bytes(t, &cur, t->str[id], id);
        }
    }
    if (rc == 0 && have_cur) rc = flush_sub(t, res, &n_sub, &cur, 1);
    seize_buf_free(&cur);
    return rc;
}

int seize_bpe_decode(const seize_bpe *t, const int32_t *ids, size_t n, int skip_special, char **out)
{
    return seize_bpe_decode_n(t, ids, n, skip_special, out, NULL);
}

int seize_bpe_decode_n(const seize_bpe *t, const int32_t *ids, size_t n, int skip_special,
                       char **out, size_t *out_len)
{
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!t || !out || (!ids && n)) return seize_error(SEIZE_EINVAL, "no ids given");
    seize_buf res = {0};
    int rc = decode_ids(t, ids, n, skip_special, &res);
    if (rc < 0) {
        seize_buf_free(&res);
        return rc;
    }
    if (t->clean_up) clean_up(&res);
    size_t len = res.len;
    *out = len ? seize_buf_release(&res) : seize_strdup("");
    seize_buf_free(&res);
    if (!*out) return SEIZE_ENOMEM;
    if (out_len) *out_len = len;
    return 0;
}
