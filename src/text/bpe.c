// GPT-2 byte-level BPE as transformers 4.40's GPT2Tokenizer (the slow Python one) behaves, for
// OPT's tokenizer in the BLIP-2 captioner: loading vocab.json + merges.txt and the optional
// tokenizer_config.json / special_tokens_map.json, added tokens, the special set. Encoding and
// decoding are in bpe_codec.c.
//
// What the Python tokenizer does, and what is done here the same way:
//   - merges.txt: read("\n" after universal newlines).split("\n")[1:-1]: the first line is
//     skipped whatever it holds, and so is the last element (empty when the file ends with a
//     newline; a last merge without one is dropped, as Python drops it). Each line is split on
//     str.isspace white space; the rank of a pair is its line's index, the last one when a pair
//     is listed twice. Blank lines keep their index and merge nothing.
//   - Special tokens: bos, eos, unk, sep, pad, cls, mask, additional_special_tokens from
//     special_tokens_map.json, else tokenizer_config.json, else GPT2Tokenizer's defaults
//     (bos = eos = unk = "<|endoftext|>"). all_special_ids are their ids only: an
//     added_tokens_decoder entry marked "special" that is none of them is an added token that
//     decode keeps (transformers' "legacy" added tokens, joined with spaces).
//   - Added tokens: tokenizer_config.json's added_tokens_decoder, then each special token not
//     among them (its vocab.json id, or the next free id).
// Stricter than Python, where Python would fail later or tokenise nonsense: a merges line that
// is not blank and not two symbols, merge symbols (and the merged one) missing from the
// vocabulary, duplicate, negative or huge ids are load errors.
#include "seize/text.h"

#include "bpe_int.h"
#include "seize/core.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0) return rc_;                                                                   \
    } while (0)

static const char *const special_keys[BPE_N_SPECIAL_ATTR] = {
    "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"};

// --- white space as Python's str.isspace ----------------------------------------------------

size_t bpe_py_space_at(const unsigned char *s, size_t n)
{
    if (!n) return 0;
    unsigned c = s[0];
    if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
    if (n >= 2 && c == 0xC2) return s[1] == 0x85 || s[1] == 0xA0 ? 2 : 0;
    if (n < 3) return 0;
    if (c == 0xE1) return s[1] == 0x9A && s[2] == 0x80 ? 3 : 0; // U+1680
    if (c == 0xE3) return s[1] == 0x80 && s[2] == 0x80 ? 3 : 0; // U+3000
    if (c != 0xE2) return 0;
    if (s[1] == 0x80) // U+2000..200A, U+2028, U+2029, U+202F
        return (s[2] >= 0x80 && s[2] <= 0x8A) || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF ? 3
                                                                                              : 0;
    return s[1] == 0x81 && s[2] == 0x9F ? 3 : 0; // U+205F
}

size_t bpe_py_space_before(const unsigned char *s, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++)
        if (bpe_py_space_at(s + n - k, k) == k) return k;
    return 0;
}

size_t seize_text_strip_py_n(char *s, size_t n)
{
    if (!s) return 0;
    unsigned char *u = (unsigned char *)s;
    size_t a = 0, k;
    while ((k = bpe_py_space_at(u + a, n - a)))
        a += k;
    while (n > a && (k = bpe_py_space_before(u + a, n - a)))
        n -= k;
    memmove(s, s + a, n - a);
    s[n - a] = 0;
    return n - a;
}

char *seize_text_strip_py(char *s)
{
    if (s) seize_text_strip_py_n(s, strlen(s));
    return s;
}

// --- the byte alphabet (GPT-2's bytes_to_unicode) ---------------------------------------------

static void byte_alphabet(seize_bpe *t)
{
    int extra = 0;
    for (int i = 0; i < BPE_ALPHABET_END; i++)
        t->cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        if (printable) t->byte_cp[b] = (uint32_t)b;
    }
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        if (!printable) t->byte_cp[b] = 256 + (uint32_t)extra++;
        t->cp_byte[t->byte_cp[b]] = (int16_t)b;
    }
}

// --- merges: (left id, right id) -> (rank, merged id) -----------------------------------------

const struct bpe_pair *bpe_pair_find(const seize_bpe *t, int32_t a, int32_t b)
{
    if (!t->pairs || a < 0 || b < 0) return NULL;
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    for (size_t i = text_mix64(key) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        const struct bpe_pair *p = &t->pairs[i];
        if (p->key == key) return p;
        if (p->key == BPE_PAIR_EMPTY) return NULL;
    }
}

static void pair_set(seize_bpe *t, int32_t a, int32_t b, int32_t rank, int32_t merged)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t i = text_mix64(key) & t->pair_mask;
    while (t->pairs[i].key != BPE_PAIR_EMPTY && t->pairs[i].key != key)
        i = (i + 1) & t->pair_mask;
    t->pairs[i] = (struct bpe_pair){key, rank, merged}; // a repeated pair: the last rank wins
}

static int vocab_id(const seize_bpe *t, const char *s, size_t len, int32_t *id)
{
    char buf[256];
    if (len >= sizeof buf) {
        char *tmp = seize_malloc(len + 1, 1);
        if (!tmp) return SEIZE_ENOMEM;
        memcpy(tmp, s, len);
        tmp[len] = 0;
        size_t v;
        int hit = seize_strmap_get(&t->vocab, tmp, &v);
        free(tmp);
        *id = hit ? (int32_t)v : -1;
        return 0;
    }
    memcpy(buf, s, len);
    buf[len] = 0;
    size_t v;
    *id = seize_strmap_get(&t->vocab, buf, &v) ? (int32_t)v : -1;
    return 0;
}

// Splits a merges line on Python white space into at most 3 fields; returns the field count
// (3 means "three or more").
static int split_fields(const char *s, size_t n, const char *f[3], size_t fl[3])
{
    const unsigned char *u = (const unsigned char *)s;
    int nf = 0;
    size_t i = 0, k;
    while (i < n && nf < 3) {
        while (i < n && (k = bpe_py_space_at(u + i, n - i)))
            i += k;
        if (i >= n) break;
        size_t start = i;
        while (i < n && !bpe_py_space_at(u + i, n - i))
            i++;
        f[nf] = s + start;
        fl[nf++] = i - start;
    }
    return nf;
}

static int add_merge(seize_bpe *t, const char *path, size_t lineno, const char *s, size_t n,
                     int32_t rank)
{
    const char *f[3];
    size_t fl[3];
    int nf = split_fields(s, n, f, fl);
    if (nf == 0) return 0;
    if (nf != 2)
        return seize_error(SEIZE_EFORMAT, "'%s' line %zu: a merge is two symbols, not %s%d", path,
                           lineno, nf == 3 ? "at least " : "", nf);
    int32_t a = -1, b = -1, m = -1;
    size_t jl = fl[0] + fl[1];
    char small[256], *joined = jl <= sizeof small ? small : seize_malloc(jl, 1);
    if (!joined) return SEIZE_ENOMEM;
    memcpy(joined, f[0], fl[0]);
    memcpy(joined + fl[0], f[1], fl[1]);
    int rc = vocab_id(t, f[0], fl[0], &a);
    if (rc == 0) rc = vocab_id(t, f[1], fl[1], &b);
    if (rc == 0) rc = vocab_id(t, joined, jl, &m);
    const char *miss = a < 0 ? f[0] : b < 0 ? f[1] : joined;
    int miss_len = (int)(a < 0 ? fl[0] : b < 0 ? fl[1] : jl);
    if (rc == 0 && (a < 0 || b < 0 || m < 0))
        rc = seize_error(SEIZE_EFORMAT, "'%s' line %zu: '%.*s' is not in the vocabulary", path,
                         lineno, miss_len, miss);
    if (joined != small) free(joined);
    if (rc == 0) pair_set(t, a, b, rank, m);
    return rc;
}

static int load_merges(seize_bpe *t, const char *path)
{
    char *buf;
    size_t len;
    TRY(seize_read_file(path, &buf, &len));
    if (!seize_utf8_valid(buf, len)) {
        free(buf);
        return seize_error(SEIZE_EFORMAT, "'%s' is not UTF-8 text", path);
    }
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++)
        n_lines += buf[i] == '\n' || (buf[i] == '\r' && (i + 1 == len || buf[i + 1] != '\n'));
    size_t cap = 64;
    while (cap < 2 * n_lines)
        cap <<= 1;
    t->pairs = seize_malloc(cap, sizeof *t->pairs);
    if (!t->pairs) {
        free(buf);
        return SEIZE_ENOMEM;
    }
    for (size_t i = 0; i < cap; i++)
        t->pairs[i].key = BPE_PAIR_EMPTY;
    t->pair_mask = cap - 1;
    int rc = 0;
    size_t start = 0, lineno = 0;
    for (size_t i = 0; i <= len && rc == 0; i++) {
        if (i < len && buf[i] != '\n' && buf[i] != '\r') continue;
        // element `lineno` of split("\n") is buf[start, i); the last element (i == len) is not
        // a merge, nor is the first
        if (i < len && lineno > 0) {
            if (lineno - 1 > INT32_MAX - 1)
                rc = seize_error(SEIZE_EFORMAT, "'%s': too long", path);
            else
                rc = add_merge(t, path, lineno + 1, buf + start, i - start, (int32_t)(lineno - 1));
        }
        if (i < len && buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n') i++;
        start = i + 1;
        lineno++;
    }
    free(buf);
    return rc;
}

// --- vocab.json ---------------------------------------------------------------------------

static int load_vocab(seize_bpe *t, const char *path)
{
    json_t *j;
    TRY(seize_json_load(path, &j));
    int rc = 0;
    if (!json_is_object(j)) {
        rc = seize_error(SEIZE_EFORMAT, "'%s': not a JSON object (token -> id)", path);
        goto done;
    }
    const char *key;
    json_t *v;
    json_int_t max_id = -1;
    json_object_foreach(j, key, v)
    {
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (!json_is_integer(v) || id < 0 || id > BPE_MAX_ID) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': the id of '%s' is not an integer in 0..%d", path,
                             key, BPE_MAX_ID);
            goto done;
        }
        if (strlen(key) != json_object_iter_key_len(json_object_key_to_iter(key))) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': a token holds a NUL character", path);
            goto done;
        }
        if (id > max_id) max_id = id;
    }
    t->n_vocab = json_object_size(j);
    t->n_vocab_ids = (size_t)(max_id + 1);
    t->vocab_str = seize_calloc(t->n_vocab_ids ? t->n_vocab_ids : 1, sizeof *t->vocab_str);
    if (!t->vocab_str || seize_strmap_init(&t->vocab, t->n_vocab) < 0) {
        rc = SEIZE_ENOMEM;
        goto done;
    }
    json_object_foreach(j, key, v)
    {
        size_t id = (size_t)json_integer_value(v);
        if (t->vocab_str[id]) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': id %zu is used twice ('%s' and '%s')", path, id,
                             t->vocab_str[id], key);
            goto done;
        }
        if (!(t->vocab_str[id] = seize_strdup(key))) {
            rc = SEIZE_ENOMEM;
            goto done;
        }
        if (seize_strmap_put(&t->vocab, t->vocab_str[id], id, NULL) < 0) {
            rc = SEIZE_ENOMEM;
            goto done;
        }
    }
done:
    json_decref(j);
    return rc;
}

// --- tokenizer_config.json, special_tokens_map.json -----------------------------------------

struct specials {
    char *attr[BPE_N_SPECIAL_ATTR];    // NULL: None
    uint8_t strip[BPE_N_SPECIAL_ATTR]; // 1: lstrip, 2: rstrip (given as {"content", "lstrip", ...})
    seize_strvec extra;                // additional_special_tokens
    uint8_t *extra_strip;
};

static void specials_free(struct specials *s)
{
    for (int i = 0; i < BPE_N_SPECIAL_ATTR; i++)
        free(s->attr[i]);
    seize_strvec_free(&s->extra);
    free(s->extra_strip);
}

static int opt_bool(const json_t *j, const char *path, const char *key, int *out)
{
    const json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v))
        return seize_error(SEIZE_EFORMAT, "'%s': %s is not true or false", path, key);
    *out = json_is_true(v);
    return 0;
}

// A token given as a string, {"content": string, "lstrip": bool, ...} or null (*out NULL).
static int token_value(const json_t *v, const char *path, const char *key, char **out,
                       uint8_t *strip)
{
    int ls = 0, rs = 0;
    *out = NULL;
    *strip = 0;
    if (json_is_null(v)) return 0;
    if (json_is_object(v)) {
        TRY(opt_bool(v, path, "lstrip", &ls));
        TRY(opt_bool(v, path, "rstrip", &rs));
        *strip = (uint8_t)(ls | rs << 1);
    }
    const json_t *c = json_is_object(v) ? json_object_get(v, "content") : v;
    if (!json_is_string(c))
        return seize_error(SEIZE_EFORMAT,
                           "'%s': %s is not a string or an object with a \"content\" string", path,
                           key);
    if (strlen(json_string_value(c)) != json_string_length(c))
        return seize_error(SEIZE_EFORMAT, "'%s': %s holds a NUL character", path, key);
    if (!(*out = seize_strdup(json_string_value(c)))) return SEIZE_ENOMEM;
    return 0;
}

static int read_specials(const json_t *j, const char *path, struct specials *s)
{
    for (int i = 0; i < BPE_N_SPECIAL_ATTR; i++) {
        const json_t *v = json_object_get(j, special_keys[i]);
        if (!v) continue;
        char *val;
        TRY(token_value(v, path, special_keys[i], &val, &s->strip[i]));
        free(s->attr[i]);
        s->attr[i] = val;
    }
    const json_t *a = json_object_get(j, "additional_special_tokens");
    if (!a || json_is_null(a)) return 0;
    if (!json_is_array(a))
        return seize_error(SEIZE_EFORMAT, "'%s': additional_special_tokens is not a list", path);
    seize_strvec_free(&s->extra);
    free(s->extra_strip);
    if (!(s->extra_strip = seize_calloc(json_array_size(a) + 1, 1))) return SEIZE_ENOMEM;
    size_t i;
    const json_t *v;
    json_array_foreach(a, i, v)
    {
        char *val;
        uint8_t strip;
        TRY(token_value(v, path, "an additional special token", &val, &strip));
        s->extra_strip[s->extra.n] = strip;
        if (val && seize_strvec_push_owned(&s->extra, val) < 0) return SEIZE_ENOMEM;
    }
    return 0;
}

static int added_push(seize_bpe *t, const char *content, int32_t id, int lstrip, int rstrip)
{
    if (t->n_added == t->cap_added) {
        size_t cap = t->cap_added ? 2 * t->cap_added : 8;
        struct bpe_added *p = seize_realloc(t->added, cap, sizeof *p);
        if (!p) return SEIZE_ENOMEM;
        t->added = p;
        t->cap_added = cap;
    }
    // _added_tokens_encoder keeps the last id of a content: earlier entries stop matching
    for (size_t i = 0; i < t->n_added; i++)
        if (!strcmp(t->added[i].content, content)) t->added[i].in_encoder = 0;
    char *c = seize_strdup(content);
    if (!c) return SEIZE_ENOMEM;
    t->added[t->n_added++] =
        (struct bpe_added){c, strlen(c), id, (uint8_t)lstrip, (uint8_t)rstrip, 1};
    return 0;
}

static int read_added_decoder(seize_bpe *t, const json_t *j, const char *path)
{
    const json_t *dec = json_object_get(j, "added_tokens_decoder");
    if (!dec || json_is_null(dec)) return 0;
    if (!json_is_object(dec))
        return seize_error(SEIZE_EFORMAT, "'%s': added_tokens_decoder is not an object", path);
    const char *key;
    size_t key_len;
    json_t *v;
    json_object_keylen_foreach((json_t *)dec, key, key_len, v)
    {
        char *end;
        long id = strtol(key, &end, 10);
        if (!*key || *end || key_len != strlen(key) || id < 0 || id > BPE_MAX_ID || key[0] == '-' ||
            key[0] == '+')
            return seize_error(SEIZE_EFORMAT,
                               "'%s': added_tokens_decoder key '%s' is not an id in 0..%d", path,
                               key, BPE_MAX_ID);
        const json_t *c = json_is_object(v) ? json_object_get(v, "content") : NULL;
        if (!json_is_string(c) || strlen(json_string_value(c)) != json_string_length(c))
            return seize_error(SEIZE_EFORMAT,
                               "'%s': added_tokens_decoder entry %s has no \"content\" string",
                               path, key);
        int ls = 0, rs = 0;
        TRY(opt_bool(v, path, "lstrip", &ls));
        TRY(opt_bool(v, path, "rstrip", &rs));
        TRY(added_push(t, json_string_value(c), (int32_t)id, ls, rs));
    }
    return 0;
}

// A JSON file whose numbers need not fit in 64 bits (tokenizer_config.json's
// model_max_length is 1e30 as an integer): integers are read as reals.
static int load_json_any(const char *path, json_t **out)
{
    char *buf;
    size_t len;
    *out = NULL;
    TRY(seize_read_file(path, &buf, &len));
    json_error_t e;
    *out = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &e);
    free(buf);
    if (!*out)
        return seize_error(SEIZE_EFORMAT, "cannot parse '%s': line %d column %d: %s", path, e.line,
                           e.column, e.text);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return seize_error(SEIZE_EFORMAT, "'%s': not a JSON object", path);
    }
    return 0;
}

static int read_config(seize_bpe *t, const char *dir, struct specials *sp)
{
    char *path = seize_path_join(dir, "tokenizer_config.json");
    if (!path) return SEIZE_ENOMEM;
    int rc = 0;
    json_t *j = NULL;
    if (seize_path_exists(path)) {
        rc = load_json_any(path, &j);
        if (rc == 0) rc = read_specials(j, path, sp);
        if (rc == 0) rc = read_added_decoder(t, j, path);
        if (rc == 0) rc = opt_bool(j, path, "clean_up_tokenization_spaces", &t->clean_up);
        if (rc == 0) rc = opt_bool(j, path, "add_prefix_space", &t->prefix_space);
        const json_t *e = rc == 0 ? json_object_get(j, "errors") : NULL;
        if (e && !json_is_null(e)) {
            const char *s = json_string_value(e);
            t->errors = !s                      ? -1
                        : !strcmp(s, "replace") ? BPE_ERR_REPLACE
                        : !strcmp(s, "ignore")  ? BPE_ERR_IGNORE
                        : !strcmp(s, "strict")  ? BPE_ERR_STRICT
                                                : -1;
            if (t->errors < 0)
                rc =
                    seize_error(SEIZE_EFORMAT,
                                "'%s': errors must be \"replace\", \"ignore\" or \"strict\"", path);
        }
    }
    json_decref(j);
    j = NULL;
    free(path);
    if (rc < 0 || !(path = seize_path_join(dir, "special_tokens_map.json")))
        return rc < 0 ? rc : SEIZE_ENOMEM;
    if (seize_path_exists(path)) {
        rc = load_json_any(path, &j);
        if (rc == 0) rc = read_specials(j, path, sp);
    }
    json_decref(j);
    free(path);
    return rc;
}

// --- the special set and per-id tables --------------------------------------------------------

static int32_t added_id(const seize_bpe *t, const char *s)
{
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].in_encoder && !strcmp(t->added[i].content, s)) return t->added[i].id;
    return -1;
}

// transformers' convert_tokens_to_ids for one token: added tokens, vocab.json, else unk's
// vocab.json id (-1 when none).
static int32_t token_to_id(const seize_bpe *t, const char *s)
{
    int32_t id = added_id(t, s);
    size_t v;
    if (id >= 0) return id;
    if (seize_strmap_get(&t->vocab, s, &v)) return (int32_t)v;
    return t->unk_vocab;
}

// The number of distinct strings in vocab.json and the added tokens (len(tokenizer)).
static size_t distinct_count(const seize_bpe *t)
{
    size_t n = t->n_vocab;
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].in_encoder && !seize_strmap_get(&t->vocab, t->added[i].content, NULL)) n++;
    return n;
}

// Each special token not yet an added token becomes one (_add_tokens(special_tokens=True)).
static int add_specials(seize_bpe *t, const struct specials *sp)
{
    size_t n_all = BPE_N_SPECIAL_ATTR + sp->extra.n;
    for (size_t k = 0; k < n_all; k++) {
        const char *s = k < BPE_N_SPECIAL_ATTR ? sp->attr[k] : sp->extra.v[k - BPE_N_SPECIAL_ATTR];
        uint8_t strip =
            k < BPE_N_SPECIAL_ATTR ? sp->strip[k] : sp->extra_strip[k - BPE_N_SPECIAL_ATTR];
        if (!s || !*s || added_id(t, s) >= 0) continue;
        size_t v;
        int32_t id;
        if (seize_strmap_get(&t->vocab, s, &v))
            id = (int32_t)v;
        else {
            size_t n = distinct_count(t);
            if (n > BPE_MAX_ID) return seize_error(SEIZE_EFORMAT, "too many tokens");
            id = (int32_t)n;
        }
        TRY(added_push(t, s, id, strip & 1, strip >> 1));
    }
    return 0;
}

static int is_special_string(const struct specials *sp, const char *s)
{
    for (int i = 0; i < BPE_N_SPECIAL_ATTR; i++)
        if (sp->attr[i] && !strcmp(sp->attr[i], s)) return 1;
    for (size_t i = 0; i < sp->extra.n; i++)
        if (!strcmp(sp->extra.v[i], s)) return 1;
    return 0;
}

// The per-id tables: token strings (added content first), flags, the ids convert_tokens_to_ids
// gives vocab strings, the special set.
static int build_tables(seize_bpe *t, const struct specials *sp)
{
    size_t n = t->n_vocab_ids;
    for (size_t i = 0; i < t->n_added; i++)
        if ((size_t)t->added[i].id + 1 > n) n = (size_t)t->added[i].id + 1;
    t->n_ids = n;
    t->str = seize_calloc(n ? n : 1, sizeof *t->str);
    t->flags = seize_calloc(n ? n : 1, 1);
    t->out_id = seize_malloc(t->n_vocab_ids ? t->n_vocab_ids : 1, sizeof *t->out_id);
    if (!t->str || !t->flags || !t->out_id) return SEIZE_ENOMEM;
    for (size_t i = 0; i < t->n_vocab_ids; i++) {
        t->str[i] = t->vocab_str[i];
        t->out_id[i] = (int32_t)i;
    }
    for (size_t i = 0; i < t->n_added; i++) {
        const struct bpe_added *a = &t->added[i];
        t->str[a->id] = a->content;
        size_t v;
        if (a->in_encoder && seize_strmap_get(&t->vocab, a->content, &v)) t->out_id[v] = a->id;
    }
    size_t n_all = BPE_N_SPECIAL_ATTR + sp->extra.n;
    for (size_t k = 0; k < n_all; k++) {
        const char *s = k < BPE_N_SPECIAL_ATTR ? sp->attr[k] : sp->extra.v[k - BPE_N_SPECIAL_ATTR];
        if (!s) continue;
        int32_t id = token_to_id(t, s);
        if (id >= 0) t->flags[id] |= BPE_F_SPECIAL;
    }
    // "legacy" added tokens: added contents that are not special strings, and additional
    // special tokens past vocab.json's size; decode matches them by string
    for (size_t i = 0; i < t->n_added; i++) {
        const struct bpe_added *a = &t->added[i];
        int legacy = a->in_encoder && !is_special_string(sp, a->content);
        for (size_t k = 0; k < sp->extra.n && !legacy; k++)
            legacy =
                !strcmp(sp->extra.v[k], a->content) && a->in_encoder && (size_t)a->id >= t->n_vocab;
        if (!legacy) continue;
        // the ids whose token string is this content: added tokens, and vocab.json's entry
        for (size_t k = 0; k < t->n_added; k++)
            if (!strcmp(t->added[k].content, a->content)) t->flags[t->added[k].id] |= BPE_F_LEGACY;
        size_t v;
        if (seize_strmap_get(&t->vocab, a->content, &v) && !strcmp(t->str[v], a->content))
            t->flags[v] |= BPE_F_LEGACY;
    }
    return 0;
}

// Final ids of the single-byte symbols (vocab.json, else an added token, else unk, else -1).
static void byte_ids(seize_bpe *t)
{
    for (int b = 0; b < 256; b++) {
        unsigned char u[4];
        char s[5];
        int k = text_utf8_put(t->byte_cp[b], u);
        memcpy(s, u, (size_t)k);
        s[k] = 0;
        size_t v;
        t->byte_sym[b] = seize_strmap_get(&t->vocab, s, &v) ? (int32_t)v : -1;
        t->byte_out[b] = t->byte_sym[b] >= 0 ? t->out_id[t->byte_sym[b]] : token_to_id(t, s);
    }
}

int seize_bpe_load(const char *dir, seize_bpe **out)
{
    if (out) *out = NULL;
    if (!dir || !out) return seize_error(SEIZE_EINVAL, "no tokenizer folder given");
    seize_bpe *t = seize_calloc(1, sizeof *t);
    if (!t) return SEIZE_ENOMEM;
    t->clean_up = 1;
    t->errors = BPE_ERR_REPLACE;
    t->unk_vocab = -1;
    struct specials sp = {0};
    for (int i = 0; i < 3; i++) // GPT2Tokenizer's defaults for bos, eos, unk
        if (!(sp.attr[i] = seize_strdup("<|endoftext|>"))) goto nomem;
    char *vp = seize_path_join(dir, "vocab.json"), *mp = seize_path_join(dir, "merges.txt");
    int rc = !vp || !mp ? SEIZE_ENOMEM : 0;
    if (rc == 0) rc = load_vocab(t, vp);
    if (rc == 0) rc = load_merges(t, mp);
    free(vp);
    free(mp);
    byte_alphabet(t);
    if (rc == 0) rc = read_config(t, dir, &sp);
    if (rc == 0) rc = add_specials(t, &sp);
    if (rc == 0) {
        size_t v;
        if (sp.attr[2] && seize_strmap_get(&t->vocab, sp.attr[2], &v)) t->unk_vocab = (int32_t)v;
        rc = build_tables(t, &sp);
    }
    if (rc == 0) byte_ids(t);
    specials_free(&sp);
    if (rc < 0) {
        seize_bpe_free(t);
        return rc;
    }
    *out = t;
    return 0;
nomem:
    specials_free(&sp);
    seize_bpe_free(t);
    return SEIZE_ENOMEM;
}

void seize_bpe_free(seize_bpe *t)
{
    if (!t) return;
    for (size_t i = 0; t->vocab_str && i < t->n_vocab_ids; i++)
        free(t->vocab_str[i]);
    free(t->vocab_str);
    seize_strmap_free(&t->vocab);
    for (size_t i = 0; i < t->n_added; i++)
        free(t->added[i].content);
    free(t->added);
    free(t->pairs);
    free(t->str);
    free(t->flags);
    free(t->out_id);
    free(t);
}

size_t seize_bpe_vocab_size(const seize_bpe *t)
{
    return t ? t->n_ids : 0;
}

int32_t seize_bpe_token_id(const seize_bpe *t, const char *token)
{
    if (!t || !token) return -1;
    int32_t id = added_id(t, token);
    size_t v;
    if (id >= 0) return id;
    return seize_strmap_get(&t->vocab, token, &v) ? (int32_t)v : -1;
}

int seize_bpe_is_special(const seize_bpe *t, int32_t id)
{
    return t && id >= 0 && (size_t)id < t->n_ids && (t->flags[id] & BPE_F_SPECIAL);
}

int seize_bpe_has_id(const seize_bpe *t, int32_t id)
{
    return t && id >= 0 && (size_t)id < t->n_ids && t->str[id] != NULL;
}
