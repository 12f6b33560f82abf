// The CLIP byte-level BPE tokenizer: loading vocab.json + merges.txt (or open_clip's
// bpe_simple_vocab_16e6.txt.gz), splitting cleaned text with open_clip's pattern, BPE merges
// on vocabulary ids, and a lock-free word cache.
#include "seize/text.h"

#include "seize/core.h"
#include "text_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <utf8proc.h>
#include <zlib.h>

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0) return rc_;                                                                   \
    } while (0)

// open_clip reads merges[1 : 49152 - 256 - 2 + 1] of its gzip file.
#define OPENCLIP_N_MERGES (49152 - 256 - 2)
// Words up to this many bytes use the direct BPE loop; longer ones a heap (O(n log n)).
#define BPE_SIMPLE_MAX 48
// Word cache: 2^CACHE_BITS slots, filled to at most half; words up to CACHE_MAX_KEY bytes.
#define CACHE_BITS 16
#define CACHE_MAX_KEY 64
#define CACHE_MAX_PROBE 32

// --- hashing ------------------------------------------------------------------------------

// Eight bytes at a time; keys here are mostly a few bytes long.
static inline uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n, w;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = text_mix64(h ^ w);
    }
    w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)s[i] << (8 * i);
    return text_mix64(h ^ w);
}

// --- merges: (left id, right id) -> (rank, merged id) ----------------------------------------

struct pair_slot {
    uint64_t key; // left << 32 | right; PAIR_EMPTY when free
    int32_t rank, merged;
};
#define PAIR_EMPTY UINT64_MAX

// --- the word cache ------------------------------------------------------------------------

struct cache_entry {
    uint64_t hash;
    uint32_t key_len, n_ids;
    int32_t ids[]; // n_ids ids, then key_len bytes of key
};

static inline const char *entry_key(const struct cache_entry *e)
{
    return (const char *)(e->ids + e->n_ids);
}

struct seize_tokenizer {
    int32_t byte_id[256], byte_end_id[256]; // symbol ids of each byte, alone and with "</w>"
    int32_t sot, eot, n_vocab;
    struct pair_slot *pairs;
    size_t pair_mask, n_merges;
    _Atomic(struct cache_entry *) *cache;
    atomic_size_t cache_count;
};

static int pair_lookup(const seize_tokenizer *t, int32_t a, int32_t b, int32_t *merged)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t i = (size_t)text_mix64(key) & t->pair_mask;
    for (;;) {
        const struct pair_slot *s = &t->pairs[i];
        if (s->key == key) {
            *merged = s->merged;
            return s->rank;
        }
        if (s->key == PAIR_EMPTY) return -1;
        i = (i + 1) & t->pair_mask;
    }
}

static const struct cache_entry *cache_lookup(const seize_tokenizer *t, uint64_t h,
                                              const unsigned char *key, size_t len)
{
    size_t mask = ((size_t)1 << CACHE_BITS) - 1, i = (size_t)h & mask;
    for (int probe = 0; probe < CACHE_MAX_PROBE; probe++) {
        const struct cache_entry *e = atomic_load_explicit(&t->cache[i], memory_order_acquire);
        if (!e) return NULL;
        if (e->hash == h && e->key_len == len && memcmp(entry_key(e), key, len) == 0) return e;
        i = (i + 1) & mask;
    }
    return NULL;
}

// Publishes a result; silently gives up (the word is simply not cached) when the table is
// half full, the probe run is long, or another thread got there first.
static void cache_insert(const seize_tokenizer *t, uint64_t h, const unsigned char *key, size_t len,
                         const int32_t *ids, size_t n_ids)
{
    size_t mask = ((size_t)1 << CACHE_BITS) - 1;
    seize_tokenizer *mt = (seize_tokenizer *)t; // only the atomic members are written
    if (atomic_load_explicit(&mt->cache_count, memory_order_relaxed) >= (mask + 1) / 2) return;
    struct cache_entry *e = malloc(sizeof *e + n_ids * sizeof(int32_t) + len);
    if (!e) return;
    e->hash = h;
    e->key_len = (uint32_t)len;
    e->n_ids = (uint32_t)n_ids;
    memcpy(e->ids, ids, n_ids * sizeof(int32_t));
    memcpy((char *)(e->ids + n_ids), key, len);
    size_t i = (size_t)h & mask;
    for (int probe = 0; probe < CACHE_MAX_PROBE; probe++) {
        struct cache_entry *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(&mt->cache[i], &expected, e,
                                                    memory_order_release, memory_order_acquire)) {
            atomic_fetch_add_explicit(&mt->cache_count, 1, memory_order_relaxed);
            return;
        }
        if (expected->hash == h && expected->key_len == len &&
            memcmp(entry_key(expected), key, len) == 0)
            break;
        i = (i + 1) & mask;
    }
    free(e);
}

// --- loading --------------------------------------------------------------------------------
//
// Loading is dominated by first touches of fresh memory (page faults), so the files are
// mapped rather than copied, merges are applied straight from the mapped text, and the large
// tables come from 2 MiB-aligned blocks that the kernel may back with huge pages.

static void *big_alloc(size_t bytes)
{
    const size_t align = (size_t)2 << 20;
    if (bytes < align / 2) return malloc(bytes ? bytes : 1);
    if (bytes > SIZE_MAX - align) return NULL;
    size_t size = (bytes + align - 1) & ~(align - 1);
    void *p = NULL;
    if (posix_memalign(&p, align, size) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE); // advice only; failure is harmless
#endif
    return p;
}

// open_clip's bytes_to_unicode(): printable bytes map to themselves, the others to U+0100 on.
// order[k] is the byte whose symbol is the k-th vocabulary entry.
static void byte_alphabet(uint32_t cp[256], int order[256])
{
    int k = 0, extra = 0;
    int printable[256] = {0};
    for (int b = '!'; b <= '~'; b++)
        printable[b] = 1;
    for (int b = 0xA1; b <= 0xAC; b++)
        printable[b] = 1;
    for (int b = 0xAE; b <= 0xFF; b++)
        printable[b] = 1;
    for (int b = 0; b < 256; b++)
        if (printable[b]) {
            cp[b] = (uint32_t)b;
            order[k++] = b;
        }
    for (int b = 0; b < 256; b++)
        if (!printable[b]) {
            cp[b] = 256 + (uint32_t)extra++;
            order[k++] = b;
        }
}

// A string -> id map used while loading (keys are borrowed).
struct strslot {
    const char *key;
    uint16_t len, tag; // tag: high bits of the hash, to skip most key comparisons
    int32_t id;
};
struct strmap {
    struct strslot *slots;
    size_t mask;
    int replaced; // a key was set twice
};

#define STRMAP_MAX_KEY 65535

static int strmap_init(struct strmap *m, size_t n)
{
    size_t cap = 1024;
    while (cap < 2 * n + 1)
        cap *= 2;
    m->slots = big_alloc(cap * sizeof *m->slots);
    if (!m->slots) return seize_error(SEIZE_ENOMEM, "out of memory");
    memset(m->slots, 0, cap * sizeof *m->slots);
    m->mask = cap - 1;
    return 0;
}

static struct strslot *strmap_find(const struct strmap *m, const char *key, size_t len,
                                   uint16_t *tag)
{
    uint64_t h = hash_bytes(key, len);
    size_t i = (size_t)h & m->mask;
    *tag = (uint16_t)(h >> 48);
    for (;;) {
        struct strslot *s = &m->slots[i];
        if (!s->key || (s->tag == *tag && s->len == len && memcmp(s->key, key, len) == 0)) return s;
        i = (i + 1) & m->mask;
    }
}

static int strmap_get(const struct strmap *m, const char *key, size_t len)
{
    uint16_t tag;
    if (len > STRMAP_MAX_KEY) return -1;
    struct strslot *s = strmap_find(m, key, len, &tag);
    return s->key ? s->id : -1;
}

// Sets (later assignments win, as in a Python dict). Callers size the map for their keys and
// keep them within STRMAP_MAX_KEY bytes.
static void strmap_set(struct strmap *m, const char *key, size_t len, int32_t id)
{
    uint16_t tag;
    struct strslot *s = strmap_find(m, key, len, &tag);
    if (s->key) m->replaced = 1;
    s->key = key;
    s->len = (uint16_t)len;
    s->tag = tag;
    s->id = id;
}

static int pairs_init(seize_tokenizer *t, size_t n)
{
    size_t cap = 1024;
    while (cap < 2 * n + 1)
        cap *= 2;
    t->pairs = big_alloc(cap * sizeof *t->pairs);
    if (!t->pairs) return seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t i = 0; i < cap; i++)
        t->pairs[i].key = PAIR_EMPTY;
    t->pair_mask = cap - 1;
    return 0;
}

static void pairs_set(seize_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t merged)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t i = (size_t)text_mix64(key) & t->pair_mask;
    while (t->pairs[i].key != PAIR_EMPTY && t->pairs[i].key != key)
        i = (i + 1) & t->pair_mask;
    t->pairs[i].key = key;
    t->pairs[i].rank = rank; // a repeated pair takes its last rank, like dict(zip(merges, ...))
    t->pairs[i].merged = merged;
}

// Lines of a text, as Python's text.split('\n') gives them.
struct lines {
    const char *p, *end;
    int done;
};

static int next_line(struct lines *it, const char **s, size_t *len)
{
    if (it->done) return 0;
    const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
    *s = it->p;
    if (!nl) {
        *len = (size_t)(it->end - it->p);
        it->done = 1;
    } else {
        *len = (size_t)(nl - it->p);
        it->p = nl + 1;
    }
    return 1;
}

static inline int is_blank(char c)
{
    unsigned char u = (unsigned char)c;
    return u <= ' ' && (u == ' ' || u == '\t' || u == '\r' || u == '\v' || u == '\f');
}

// One merges line split on whitespace (Python's str.split()); -1 unless exactly two symbols.
static int split_merge(const char *s, size_t len, const char **a, size_t *na, const char **b,
                       size_t *nb)
{
    const char *part[2];
    size_t plen[2];
    int k = 0;
    size_t i = 0;
    for (;;) {
        while (i < len && is_blank(s[i]))
            i++;
        if (i >= len) break;
        size_t start = i;
        while (i < len && !is_blank(s[i]))
            i++;
        if (k == 2) return -1;
        part[k] = s + start;
        plen[k] = i - start;
        k++;
    }
    if (k != 2) return -1;
    *a = part[0], *na = plen[0], *b = part[1], *nb = plen[1];
    return 0;
}

static int line_is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_blank(s[i])) return 0;
    return 1;
}

// Registers one merge: rank `rank`, merged symbol = the vocabulary id of the two joined.
// `guess`, when not NULL, is the entry that usually holds the joined string (in CLIP's
// vocab.json, merge k makes id 512 + k); used only when the map has no repeated keys.
static int add_merge(seize_tokenizer *t, const struct strmap *vocab, const char *s, size_t len,
                     int32_t rank, const char *path, size_t lineno, const struct strslot *guess)
{
    const char *a, *b;
    size_t na, nb;
    if (split_merge(s, len, &a, &na, &b, &nb) < 0)
        return seize_error(SEIZE_EFORMAT,
                           "'%s' line %zu: expected two symbols separated by a space", path,
                           lineno);
    char buf[512];
    if (na + nb > sizeof buf)
        return seize_error(SEIZE_EFORMAT, "'%s' line %zu: symbol too long", path, lineno);
    memcpy(buf, a, na);
    memcpy(buf + na, b, nb);
    int32_t ia = strmap_get(vocab, a, na), ib = strmap_get(vocab, b, nb), iab;
    if (guess && guess->key && guess->len == na + nb && memcmp(guess->key, buf, na + nb) == 0)
        iab = guess->id;
    else
        iab = strmap_get(vocab, buf, na + nb);
    if (ia < 0 || ib < 0 || iab < 0) {
        const char *miss = ia < 0 ? a : ib < 0 ? b : buf;
        size_t nmiss = ia < 0 ? na : ib < 0 ? nb : na + nb;
        return seize_error(SEIZE_EFORMAT, "'%s' line %zu: '%.*s' is not in the vocabulary", path,
                           lineno, (int)nmiss, miss);
    }
    pairs_set(t, ia, ib, rank, iab);
    return 0;
}

// Fills byte_id / byte_end_id from the vocabulary.
static int byte_symbols(seize_tokenizer *t, const struct strmap *vocab, const char *path)
{
    uint32_t cp[256];
    int order[256];
    byte_alphabet(cp, order);
    for (int b = 0; b < 256; b++) {
        char s[16];
        int n = text_utf8_put(cp[b], (unsigned char *)s);
        memcpy(s + n, "</w>", 4);
        int32_t id = strmap_get(vocab, s, (size_t)n), id_end = strmap_get(vocab, s, (size_t)n + 4);
        if (id < 0 || id_end < 0)
            return seize_error(SEIZE_EFORMAT, "'%s' has no entry for byte 0x%02X ('%.*s%s')", path,
                               b, n, s, id < 0 ? "" : "</w>");
        t->byte_id[b] = id;
        t->byte_end_id[b] = id_end;
    }
    return 0;
}

// --- vocab.json ---------------------------------------------------------------------------------
//
// A JSON object of token string -> integer id, parsed directly (a general JSON library costs
// more than everything else in loading). Keys without escapes point into the mapped file;
// decoded ones into an arena.

struct vocab_entry {
    const char *key;
    uint32_t len;
    int32_t id;
};

struct json_cursor {
    const char *s, *end, *base, *path;
    char *arena; // decoded keys; allocated at the first escape, as large as the file
    size_t arena_n;
};

static int json_fail(const struct json_cursor *c, const char *what)
{
    size_t line = 1, col = 1;
    for (const char *p = c->base; p < c->s && p < c->end; p++) {
        if (*p == '\n')
            line++, col = 1;
        else
            col++;
    }
    return seize_error(SEIZE_EFORMAT, "'%s' line %zu column %zu: %s", c->path, line, col, what);
}

static void json_ws(struct json_cursor *c)
{
    while (c->s < c->end && (*c->s == ' ' || *c->s == '\n' || *c->s == '\r' || *c->s == '\t'))
        c->s++;
}

static int hex4(const char *p, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = p[i] >= '0' && p[i] <= '9'   ? p[i] - '0'
                : p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10
                : p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 10
                                             : -1;
        if (h < 0) return -1;
        *v = *v << 4 | (uint32_t)h;
    }
    return 0;
}

// A string at c->s (on its opening quote). Decoding never makes a string longer than its
// source, so an arena as large as the file always has room.
static int json_key(struct json_cursor *c, const char **key, size_t *len)
{
    if (c->s >= c->end || *c->s != '"') return json_fail(c, "expected a string");
    const char *p = ++c->s;
    while (p < c->end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
        p++;
    if (p < c->end && *p == '"') { // no escapes: point into the file
        *key = c->s;
        *len = (size_t)(p - c->s);
        c->s = p + 1;
        return 0;
    }
    if (!c->arena && !(c->arena = malloc((size_t)(c->end - c->base) + 1)))
        return seize_error(SEIZE_ENOMEM, "out of memory");
    char *o = c->arena + c->arena_n, *o0 = o;
    memcpy(o, c->s, (size_t)(p - c->s));
    o += p - c->s;
    c->s = p;
    for (;;) {
        if (c->s >= c->end) return json_fail(c, "unterminated string");
        unsigned char ch = (unsigned char)*c->s;
        if (ch == '"') break;
        if (ch < 0x20) return json_fail(c, "control character in a string");
        if (ch != '\\') {
            *o++ = (char)ch;
            c->s++;
            continue;
        }
        if (c->s + 1 >= c->end) return json_fail(c, "unterminated string");
        char e = c->s[1];
        const char *simple = e ? strchr("\"\\/bfnrt", e) : NULL;
        if (simple) {
            *o++ = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            c->s += 2;
            continue;
        }
        uint32_t cp, lo;
        if (e != 'u' || c->end - c->s < 6 || hex4(c->s + 2, &cp) < 0)
            return json_fail(c, "invalid escape in a string");
        c->s += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (c->end - c->s < 6 || c->s[0] != '\\' || c->s[1] != 'u' || hex4(c->s + 2, &lo) < 0 ||
                lo < 0xDC00 || lo > 0xDFFF)
                return json_fail(c, "unpaired surrogate escape in a string");
            c->s += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return json_fail(c, "unpaired surrogate escape in a string");
        }
        o += text_utf8_put(cp, (unsigned char *)o);
    }
    c->s++;
    *key = o0;
    *len = (size_t)(o - o0);
    c->arena_n += *len;
    return 0;
}

// Parses the object into v (room for `cap` entries: an entry and its separator take at least
// 5 bytes, as in `"":0,`).
static int parse_vocab(struct json_cursor *c, struct vocab_entry *v, size_t cap, size_t *n_out)
{
    size_t n = 0;
    json_ws(c);
    if (c->s >= c->end || *c->s != '{')
        return json_fail(c, "expected a JSON object of token -> id");
    c->s++;
    json_ws(c);
    if (c->s < c->end && *c->s == '}') {
        c->s++;
    } else {
        for (;;) {
            json_ws(c);
            const char *key = NULL;
            size_t len = 0;
            TRY(json_key(c, &key, &len));
            json_ws(c);
            if (c->s >= c->end || *c->s != ':') return json_fail(c, "expected ':'");
            c->s++;
            json_ws(c);
            long long id = 0;
            const char *d = c->s;
            while (c->s < c->end && *c->s >= '0' && *c->s <= '9' && id < INT32_MAX)
                id = id * 10 + (*c->s++ - '0');
            if (c->s == d || id >= INT32_MAX ||
                (c->s < c->end &&
                 (*c->s == '.' || *c->s == 'e' || *c->s == 'E' || (*c->s >= '0' && *c->s <= '9'))))
                return json_fail(c, "expected a non-negative integer id");
            if (len > STRMAP_MAX_KEY) return json_fail(c, "token longer than 65535 bytes");
            if (n == cap) return json_fail(c, "too many entries");
            v[n++] = (struct vocab_entry){key, (uint32_t)len, (int32_t)id};
            json_ws(c);
            if (c->s < c->end && *c->s == ',') {
                c->s++;
                continue;
            }
            if (c->s < c->end && *c->s == '}') {
                c->s++;
                break;
            }
            return json_fail(c, "expected ',' or '}'");
        }
    }
    json_ws(c);
    if (c->s != c->end) return json_fail(c, "unexpected data after the object");
    *n_out = n;
    return 0;
}

static int load_hf(seize_tokenizer *t, const char *vocab_path, const char *merges_path)
{
    seize_map jm = {0}, mm = {0};
    struct json_cursor c = {0};
    struct vocab_entry *v = NULL;
    unsigned char *seen = NULL;
    struct strslot *by_id = NULL;
    struct strmap vocab = {0};
    size_t n_vocab = 0;
    int rc = seize_map_open(vocab_path, &jm);
    if (rc < 0) goto done;
    const char *js = jm.size ? (const char *)jm.data : ""; // an empty file maps to NULL
    c = (struct json_cursor){js, js + jm.size, js, vocab_path, NULL, 0};
    size_t cap = jm.size / 5 + 1;
    if (!(v = big_alloc(cap * sizeof *v))) {
        rc = seize_error(SEIZE_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = parse_vocab(&c, v, cap, &n_vocab)) < 0) goto done;
    if ((rc = strmap_init(&vocab, n_vocab)) < 0) goto done;
    if (!(seen = seize_calloc(n_vocab ? n_vocab : 1, 1))) {
        rc = SEIZE_ENOMEM;
        goto done;
    }
    int32_t max_id = -1;
    for (size_t i = 0; i < n_vocab; i++) {
        if ((size_t)v[i].id >= n_vocab) {
            rc = seize_error(SEIZE_EFORMAT,
                             "'%s': id %d of '%.*s' is not below the number of entries (%zu)",
                             vocab_path, v[i].id, (int)v[i].len, v[i].key, n_vocab);
            goto done;
        }
        if (seen[v[i].id]++) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': id %d is used twice (again by '%.*s')",
                             vocab_path, v[i].id, (int)v[i].len, v[i].key);
            goto done;
        }
        strmap_set(&vocab, v[i].key, v[i].len, v[i].id);
        if (v[i].id > max_id) max_id = v[i].id;
    }
    t->n_vocab = max_id + 1;
    t->sot = strmap_get(&vocab, "<|startoftext|>", 15);
    t->eot = strmap_get(&vocab, "<|endoftext|>", 13);
    if (t->sot < 0 || t->eot < 0) {
        rc = seize_error(SEIZE_EFORMAT, "'%s' has no '%s' token", vocab_path,
                         t->sot < 0 ? "<|startoftext|>" : "<|endoftext|>");
        goto done;
    }
    if ((rc = byte_symbols(t, &vocab, vocab_path)) < 0) goto done;

    // merges.txt: an optional "#version" line, then one merge per line (blank lines skipped)
    if ((rc = seize_map_open(merges_path, &mm)) < 0) goto done;
    const char *text = mm.size ? (const char *)mm.data : "";
    size_t n_lines = 1;
    for (const char *p = text; p && (p = memchr(p, '\n', (size_t)(text + mm.size - p))); p++)
        n_lines++;
    if ((rc = pairs_init(t, n_lines)) < 0) goto done;
    // by_id[id]: the vocabulary entry of each id, for add_merge's guess
    if (!vocab.replaced && !(by_id = seize_calloc(n_vocab ? n_vocab : 1, sizeof *by_id))) {
        rc = SEIZE_ENOMEM;
        goto done;
    }
    for (size_t i = 0; by_id && i < n_vocab; i++)
        by_id[v[i].id] = (struct strslot){v[i].key, (uint16_t)v[i].len, 0, v[i].id};
    struct lines it = {text, text + mm.size, mm.size == 0};
    const char *s;
    size_t len, lineno = 0;
    int32_t rank = 0;
    while (next_line(&it, &s, &len)) {
        lineno++;
        if (lineno == 1 && len >= 8 && memcmp(s, "#version", 8) == 0) continue;
        if (line_is_blank(s, len)) continue;
        const struct strslot *guess =
            by_id && (size_t)rank + 512 < n_vocab ? &by_id[rank + 512] : NULL;
        if ((rc = add_merge(t, &vocab, s, len, rank++, merges_path, lineno, guess)) < 0) goto done;
    }
    t->n_merges = (size_t)rank;
done:
    free(vocab.slots);
    free(seen);
    free(by_id);
    free(v);
    free(c.arena);
    seize_map_close(&jm);
    seize_map_close(&mm);
    return rc;
}

// Reads a whole file through zlib (which also passes plain files through unchanged).
static int read_gz(const char *path, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return seize_error(SEIZE_EIO, "cannot open '%s': %s", path,
                           errno ? strerror(errno) : "out of memory");
    size_t cap = (size_t)4 << 20, n = 0;
    char *buf = big_alloc(cap);
    int rc = 0;
    for (;;) {
        if (!buf) {
            rc = seize_error(SEIZE_ENOMEM, "out of memory reading '%s'", path);
            break;
        }
        if (cap - n < ((size_t)1 << 16)) {
            char *nb = cap > SIZE_MAX / 4 ? NULL : big_alloc(cap * 2);
            if (nb) memcpy(nb, buf, n);
            free(buf);
            buf = nb;
            cap *= 2;
            continue;
        }
        int got =
            gzread(gz, buf + n, (unsigned)(cap - n - 1 > INT32_MAX ? INT32_MAX : cap - n - 1));
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            rc = seize_error(SEIZE_EFORMAT, "cannot read '%s': %s", path, msg ? msg : "gzip error");
            break;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    gzclose(gz);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

// open_clip's SimpleTokenizer: merges = text.split('\n')[1:48895]; vocabulary = the byte
// symbols, the byte symbols + "</w>", each merge joined, "<start_of_text>", "<end_of_text>".
static int load_openclip(seize_tokenizer *t, const char *path)
{
    char *text = NULL, *joined = NULL;
    struct strmap vocab = {0};
    size_t len = 0;
    int rc = read_gz(path, &text, &len);
    if (rc < 0) goto done;
    // the merge lines, and the room their joined strings need
    struct lines it = {text, text + len, 0};
    const char *s;
    size_t l, idx = 0, n = 0, bytes = 256 * 2 * 8;
    while (next_line(&it, &s, &l) && idx < 1 + OPENCLIP_N_MERGES)
        if (idx++ >= 1) n++, bytes += l;
    if (n == 0) {
        rc = seize_error(SEIZE_EFORMAT,
                         "'%s' has no merges (expected a version line, then one merge per line)",
                         path);
        goto done;
    }
    if ((rc = strmap_init(&vocab, 512 + n + 2)) < 0) goto done;
    if (!(joined = malloc(bytes))) {
        rc = seize_error(SEIZE_ENOMEM, "out of memory");
        goto done;
    }
    uint32_t cp[256];
    int order[256];
    byte_alphabet(cp, order);
    char *w = joined;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < 256; k++) {
            int nb = text_utf8_put(cp[order[k]], (unsigned char *)w);
            if (pass) memcpy(w + nb, "</w>", 4), nb += 4;
            strmap_set(&vocab, w, (size_t)nb, pass * 256 + k);
            w += nb;
        }
    it = (struct lines){text, text + len, 0};
    idx = 0;
    size_t k = 0;
    while (next_line(&it, &s, &l) && idx < 1 + OPENCLIP_N_MERGES) {
        if (idx++ == 0) continue;
        const char *a, *b;
        size_t na, nb;
        if (split_merge(s, l, &a, &na, &b, &nb) < 0) {
            rc = seize_error(SEIZE_EFORMAT,
                             "'%s' line %zu: expected two symbols separated by a space", path, idx);
            goto done;
        }
        if (na + nb > 512) {
            rc = seize_error(SEIZE_EFORMAT, "'%s' line %zu: symbol too long", path, idx);
            goto done;
        }
        memcpy(w, a, na);
        memcpy(w + na, b, nb);
        strmap_set(&vocab, w, na + nb, (int32_t)(512 + k++));
        w += na + nb;
    }
    t->sot = (int32_t)(512 + n);
    t->eot = (int32_t)(512 + n + 1);
    t->n_vocab = (int32_t)(512 + n + 2);
    if ((rc = byte_symbols(t, &vocab, path)) < 0) goto done;
    if ((rc = pairs_init(t, n)) < 0) goto done;
    it = (struct lines){text, text + len, 0};
    idx = 0;
    while (next_line(&it, &s, &l) && idx < 1 + OPENCLIP_N_MERGES) {
        if (idx++ == 0) continue;
        if ((rc = add_merge(t, &vocab, s, l, (int32_t)(idx - 2), path, idx, NULL)) < 0) goto done;
    }
    t->n_merges = n;
done:
    free(vocab.slots);
    free(joined);
    free(text);
    return rc;
}

int seize_tokenizer_load(const char *model_dir, seize_tokenizer **out)
{
    *out = NULL;
    if (!model_dir) return seize_error(SEIZE_EINVAL, "no model folder given");
    struct stat st;
    if (stat(model_dir, &st) != 0)
        return seize_error(SEIZE_EIO, "cannot open '%s': %s", model_dir, strerror(errno));
    seize_tokenizer *t = seize_calloc(1, sizeof *t);
    if (!t) return SEIZE_ENOMEM;
    size_t n_slots = (size_t)1 << CACHE_BITS;
    t->cache = big_alloc(n_slots * sizeof *t->cache);
    if (!t->cache) {
        free(t);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n_slots; i++)
        atomic_init(&t->cache[i], NULL);
    atomic_init(&t->cache_count, 0);
    int rc;
    if (!S_ISDIR(st.st_mode)) {
        rc = load_openclip(t, model_dir);
    } else {
        char *vocab = seize_path_join(model_dir, "vocab.json");
        char *merges = seize_path_join(model_dir, "merges.txt");
        char *gz = seize_path_join(model_dir, "bpe_simple_vocab_16e6.txt.gz");
        if (!vocab || !merges || !gz)
            rc = seize_error(SEIZE_ENOMEM, "out of memory");
        else if (seize_path_exists(vocab))
            rc = load_hf(t, vocab, merges);
        else if (seize_path_exists(gz))
            rc = load_openclip(t, gz);
        else
            rc = seize_error(SEIZE_ENOTFOUND,
                             "no tokenizer in '%s': expected vocab.json and merges.txt, or "
                             "bpe_simple_vocab_16e6.txt.gz",
                             model_dir);
        free(vocab);
        free(merges);
        free(gz);
    }
    if (rc < 0) {
        seize_tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void seize_tokenizer_free(seize_tokenizer *t)
{
    if (!t) return;
    if (t->cache)
        for (size_t i = 0; i < (size_t)1 << CACHE_BITS; i++)
            free(atomic_load_explicit(&t->cache[i], memory_order_relaxed));
    free(t->cache);
    free(t->pairs);
    free(t);
}

int seize_tokenizer_vocab_size(const seize_tokenizer *t)
{
    return t->n_vocab;
}
int32_t seize_tokenizer_sot(const seize_tokenizer *t)
{
    return t->sot;
}
int32_t seize_tokenizer_eot(const seize_tokenizer *t)
{
    return t->eot;
}

// --- BPE --------------------------------------------------------------------------------------

// The reference loop: find the lowest-ranked adjacent pair, merge all its occurrences left to
// right, repeat. sym[0..n) is rewritten; returns the new length. Pair ranks are looked up
// again only next to merged symbols.
static size_t bpe_simple(const seize_tokenizer *t, int32_t *sym, size_t n)
{
    int32_t rank[BPE_SIMPLE_MAX], merged[BPE_SIMPLE_MAX];
    int32_t nrank[BPE_SIMPLE_MAX], nmerged[BPE_SIMPLE_MAX];
    uint8_t fresh[BPE_SIMPLE_MAX];
    size_t src[BPE_SIMPLE_MAX];
    for (size_t i = 0; i + 1 < n; i++)
        rank[i] = pair_lookup(t, sym[i], sym[i + 1], &merged[i]);
    while (n > 1) {
        size_t best = 0;
        int32_t r = -1;
        for (size_t i = 0; i + 1 < n; i++)
            if (rank[i] >= 0 && (r < 0 || rank[i] < r)) r = rank[i], best = i;
        if (r < 0) break;
        int32_t a = sym[best], b = sym[best + 1], m = merged[best];
        size_t o = 0;
        for (size_t i = 0; i < n; o++) {
            src[o] = i;
            if (i + 1 < n && sym[i] == a && sym[i + 1] == b) {
                sym[o] = m;
                fresh[o] = 1;
                i += 2;
            } else {
                sym[o] = sym[i];
                fresh[o] = 0;
                i++;
            }
        }
        for (size_t q = 0; q + 1 < o; q++) {
            if (fresh[q] || fresh[q + 1]) {
                nrank[q] = pair_lookup(t, sym[q], sym[q + 1], &nmerged[q]);
            } else { // the same two symbols were neighbours before this pass
                nrank[q] = rank[src[q]];
                nmerged[q] = merged[src[q]];
            }
        }
        n = o;
        if (n > 1) {
            memcpy(rank, nrank, (n - 1) * sizeof *rank);
            memcpy(merged, nmerged, (n - 1) * sizeof *merged);
        }
    }
    return n;
}

void text_heap_push(uint64_t *h, size_t *n, uint64_t v)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

uint64_t text_heap_pop(uint64_t *h, size_t *n)
{
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (v <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = v;
    return top;
}

// The same result as bpe_simple in O(n log n): a heap of (rank, position) over a linked list.
// Each round takes every entry of the lowest rank and applies them left to right (stale ones
// are skipped), exactly like one pass of the reference loop.
static int bpe_heap(const seize_tokenizer *t, int32_t *sym, size_t n, size_t *n_out)
{
    int32_t *next = seize_malloc(n, sizeof *next), *prev = seize_malloc(n, sizeof *prev);
    uint64_t *heap = seize_malloc(3 * n, sizeof *heap);
    uint32_t *batch = seize_malloc(3 * n, sizeof *batch);
    if (!next || !prev || !heap || !batch) {
        free(next), free(prev), free(heap), free(batch);
        return SEIZE_ENOMEM;
    }
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prev[i] = (int32_t)i - 1;
        int32_t m;
        int32_t r = i + 1 < n ? pair_lookup(t, sym[i], sym[i + 1], &m) : -1;
        if (r >= 0) text_heap_push(heap, &nh, (uint64_t)r << 32 | i);
    }
    while (nh) {
        uint32_t r = (uint32_t)(heap[0] >> 32);
        size_t nb = 0;
        while (nh && (uint32_t)(heap[0] >> 32) == r)
            batch[nb++] = (uint32_t)text_heap_pop(heap, &nh);
        for (size_t k = 0; k < nb; k++) {
            uint32_t p = batch[k];
            if (sym[p] < 0 || next[p] < 0) continue;
            int32_t q = next[p], m;
            if (pair_lookup(t, sym[p], sym[q], &m) != (int32_t)r) continue;
            sym[p] = m;
            sym[q] = -1;
            next[p] = next[q];
            if (next[q] >= 0) prev[next[q]] = (int32_t)p;
            int32_t mm, rr;
            if (prev[p] >= 0 && (rr = pair_lookup(t, sym[prev[p]], sym[p], &mm)) >= 0)
                text_heap_push(heap, &nh, (uint64_t)rr << 32 | (uint32_t)prev[p]);
            if (next[p] >= 0 && (rr = pair_lookup(t, sym[p], sym[next[p]], &mm)) >= 0)
                text_heap_push(heap, &nh, (uint64_t)rr << 32 | p);
        }
    }
    size_t o = 0;
    for (int32_t i = 0; i >= 0; i = next[i])
        sym[o++] = sym[i];
    *n_out = o;
    free(next), free(prev), free(heap), free(batch);
    return 0;
}

// --- encoding ----------------------------------------------------------------------------------

struct enc_state {
    text_work w;
    unsigned char *bytes;
    int32_t *sym;
    size_t bytes_cap, sym_cap;
};

static void enc_state_free(struct enc_state *st)
{
    text_work_free(&st->w);
    free(st->bytes);
    free(st->sym);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    void *q = seize_realloc(*p, nc, elem);
    if (!q) return SEIZE_ENOMEM;
    *p = q;
    *cap = nc;
    return 0;
}

// BPE ids of one word (its UTF-8 bytes), through the cache. *ids is valid until the next call.
static int bpe_word(const seize_tokenizer *t, struct enc_state *st, size_t len, const int32_t **ids,
                    size_t *n_ids)
{
    unsigned char *w = st->bytes;
    uint64_t h = 0;
    if (len <= CACHE_MAX_KEY) {
        // The buffer has 8 spare bytes: hash whole zero-padded words.
        memset(w + len, 0, 8);
        h = 0x9E3779B97F4A7C15ULL ^ len;
        for (size_t i = 0; i < len; i += 8) {
            uint64_t x;
            memcpy(&x, w + i, 8);
            h = text_mix64(h ^ x);
        }
        const struct cache_entry *e = cache_lookup(t, h, w, len);
        if (e) {
            *ids = e->ids;
            *n_ids = e->n_ids;
            return 0;
        }
    }
    TRY(grow((void **)&st->sym, &st->sym_cap, len, sizeof *st->sym));
    int32_t *sym = st->sym;
    for (size_t i = 0; i + 1 < len; i++)
        sym[i] = t->byte_id[w[i]];
    sym[len - 1] = t->byte_end_id[w[len - 1]];
    size_t n;
    if (len <= BPE_SIMPLE_MAX)
        n = bpe_simple(t, sym, len);
    else
        TRY(bpe_heap(t, sym, len, &n));
    if (len <= CACHE_MAX_KEY) cache_insert(t, h, w, len, sym, n);
    *ids = sym;
    *n_ids = n;
    return 0;
}

// Case-insensitive match of one pattern letter, as the reference's re.IGNORECASE does it on
// lowercased text: ASCII case, and U+017F (long s) for 's'.
static inline int ci(uint32_t c, char x)
{
    return c == (uint32_t)x || (x >= 'a' && x <= 'z' && c == (uint32_t)(x - 32)) ||
           (x == 's' && c == 0x17F);
}

static int match_ci(const uint32_t *s, size_t n, const char *lit)
{
    size_t i = 0;
    for (; lit[i]; i++)
        if (i >= n || !ci(s[i], lit[i])) return 0;
    return (int)i;
}

// How the reference's pattern sees a character: [\p{L}]+ and [\p{N}] test the property of the
// character itself, but the set [^\s\p{L}\p{N}] is matched ignoring case (the `regex` module
// tries every case of the character), so a character that is none of these while one of its
// case mappings is one (U+0345, whose uppercase is a letter) matches no alternative at all.
enum cls { CLS_SPACE, CLS_LETTER, CLS_NUMBER, CLS_OTHER, CLS_NONE };

static enum cls classify_plain(uint32_t c)
{
    if (text_is_letter(c)) return CLS_LETTER;
    if (text_is_number(c)) return CLS_NUMBER;
    if (text_is_space(c)) return CLS_SPACE;
    return CLS_OTHER;
}

static inline enum cls classify(uint32_t c)
{
    if (c < 0x80) {
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return CLS_LETTER;
        if (c >= '0' && c <= '9') return CLS_NUMBER;
        if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return CLS_SPACE;
        return CLS_OTHER;
    }
    enum cls k = classify_plain(c);
    if (k != CLS_OTHER) return k;
    utf8proc_int32_t v[3] = {utf8proc_toupper((utf8proc_int32_t)c),
                             utf8proc_tolower((utf8proc_int32_t)c),
                             utf8proc_totitle((utf8proc_int32_t)c)};
    for (int q = 0; q < 3; q++)
        if ((uint32_t)v[q] != c && classify_plain((uint32_t)v[q]) != CLS_OTHER) return CLS_NONE;
    return CLS_OTHER;
}

static int exact_ascii(const uint32_t *s, const char *lit)
{
    for (size_t i = 0; lit[i]; i++)
        if (s[i] != (uint32_t)lit[i]) return 0;
    return 1;
}

// Length of the contraction at s (which starts with '\''), or 0.
static size_t contraction(const uint32_t *s, size_t n)
{
    if (n < 2) return 0;
    if (ci(s[1], 's') || ci(s[1], 't') || ci(s[1], 'm') || ci(s[1], 'd')) return 2;
    if (n < 3) return 0;
    if ((ci(s[1], 'r') && ci(s[2], 'e')) || (ci(s[1], 'v') && ci(s[2], 'e')) ||
        (ci(s[1], 'l') && ci(s[2], 'l')))
        return 3;
    return 0;
}

static int encode_one(const seize_tokenizer *t, struct enc_state *st, const char *text, size_t len,
                      int32_t *out, int context)
{
    const cpbuf *clean;
    TRY(text_clean(text, len, &st->w, &clean));
    const uint32_t *s = clean->p;
    size_t n = clean->n, max = (size_t)context - 2, k = 0; // k content ids so far
    if (n > (SIZE_MAX - 16) / 4) return seize_error(SEIZE_ENOMEM, "text too long");
    TRY(grow((void **)&st->bytes, &st->bytes_cap, 4 * n + 16, 1));
    out[0] = t->sot;
    for (size_t i = 0; i < n && k < max;) {
        uint32_t c = s[i];
        size_t j;
        int special = 0;
        if (c == '<') {
            const char *name = "<start_of_text>";
            int m = match_ci(s + i, n - i, name);
            if (!m) m = match_ci(s + i, n - i, name = "<end_of_text>");
            if (m && exact_ascii(s + i, name)) {
                out[1 + k++] = name[1] == 's' ? t->sot : t->eot;
                i += (size_t)m;
                continue;
            }
            // Matched only case-insensitively (U+017F for 's'): open_clip's cache holds the
            // exact strings only, so the piece goes through BPE as one word.
            if (m) special = m;
        }
        if (special) {
            j = i + (size_t)special;
        } else if (c == '\'' && (j = contraction(s + i, n - i)) > 0) {
            j += i;
        } else {
            enum cls k0 = classify(c);
            if (k0 == CLS_SPACE || k0 == CLS_NONE) {
                i++;
                continue;
            }
            if (k0 == CLS_NUMBER) {
                j = i + 1;
            } else {
                for (j = i + 1; j < n && classify(s[j]) == k0; j++) {
                }
            }
        }
        // the piece's UTF-8 bytes (the buffer was sized for the whole text)
        size_t nb = 0;
        unsigned char *bytes = st->bytes;
        for (size_t q = i; q < j; q++) {
            if (s[q] < 0x80)
                bytes[nb++] = (unsigned char)s[q];
            else
                nb += (size_t)text_utf8_put(s[q], bytes + nb);
        }
        const int32_t *ids;
        size_t n_ids;
        TRY(bpe_word(t, st, nb, &ids, &n_ids));
        for (size_t q = 0; q < n_ids && k < max; q++)
            out[1 + k++] = ids[q];
        i = j;
    }
    out[1 + k] = t->eot;
    for (size_t q = k + 2; q < (size_t)context; q++)
        out[q] = 0;
    return 0;
}

int seize_tokenizer_encode(const seize_tokenizer *t, const char *text, size_t len, int32_t *ids,
                           int context)
{
    if (!t || !ids || (!text && len) || context < 2)
        return seize_error(SEIZE_EINVAL, "tokenizer: invalid argument (context %d)", context);
    struct enc_state st = {0};
    int rc = encode_one(t, &st, text ? text : "", len, ids, context);
    enc_state_free(&st);
    return rc;
}

int seize_tokenizer_encode_batch(const seize_tokenizer *t, const char *const *texts, size_t n,
                                 int context, int32_t *out)
{
    if (!t || (n && (!texts || !out)) || context < 2)
        return seize_error(SEIZE_EINVAL, "tokenizer: invalid argument (context %d)", context);
    struct enc_state st = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *s = texts[i] ? texts[i] : "";
        rc = encode_one(t, &st, s, strlen(s), out + i * (size_t)context, context);
    }
    enc_state_free(&st);
    return rc;
}

int seize_text_clean(const char *text, size_t len, char **out, size_t *out_len)
{
    *out = NULL;
    if (out_len) *out_len = 0;
    text_work w = {0};
    const cpbuf *c;
    int rc = text_clean(text ? text : "", text ? len : 0, &w, &c);
    if (rc == 0) {
        size_t cap;
        if (seize_mul_size(c->n, 4, &cap) < 0 || !(*out = seize_malloc(cap + 1, 1))) {
            rc = SEIZE_ENOMEM;
        } else {
            size_t nb = 0;
            for (size_t i = 0; i < c->n; i++)
                nb += (size_t)text_utf8_put(c->p[i], (unsigned char *)*out + nb);
            (*out)[nb] = 0;
            if (out_len) *out_len = nb;
        }
    }
    text_work_free(&w);
    return rc;
}
