// libFuzzer target: the GPT-2 byte-level BPE (seize_bpe_*): its loader on arbitrary tokenizer
// files, and encode/decode on arbitrary text and ids with the BLIP-2 fixture's tokenizer
// ($SEIZE_FIXTURES/blip2/tiny364, or ../shared/fixtures).
//
// Input byte 0 picks the mode:
//   0x00..0x7F  encode the rest as text; ids must be in the vocabulary, decode (with and
//               without special tokens) must succeed with UTF-8, strip must shorten it
//   0x80..0xBF  decode the rest as little-endian 16-bit ids (some past the vocabulary: those
//               must fail with SEIZE_EINVAL, the others succeed with UTF-8)
//   0xC0..0xFF  load the rest as a tokenizer folder: vocab.json, merges.txt,
//               tokenizer_config.json, special_tokens_map.json separated by FUZZ_SEP lines (a
//               file missing when there are fewer parts); a loaded one encodes and decodes
#include "fuzz_files.h"

#include "seize/core.h"
#include "seize/text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static seize_bpe *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *fix = getenv("SEIZE_FIXTURES");
    char path[4096];
    snprintf(path, sizeof path, "%s/blip2/tiny364", fix && *fix ? fix : "../shared/fixtures");
    if (seize_bpe_load(path, &tok) < 0) {
        fprintf(stderr, "fuzz_bpe: %s (set SEIZE_FIXTURES)\n", seize_errmsg());
        abort();
    }
    fuzz_dir_init("fuzz_bpe");
    return 0;
}

static void check_text(const char *s, size_t n)
{
    if (!seize_utf8_valid(s, n) || s[n] != 0) abort();
    char *copy = malloc(n + 1);
    memcpy(copy, s, n + 1);
    size_t m = seize_text_strip_py_n(copy, n);
    if (m > n || copy[m] != 0 || !seize_utf8_valid(copy, m)) abort();
    free(copy);
}

// Decodes ids both ways; out-of-vocabulary ids must be the only failure (for a tokenizer
// whose tokens are all in the byte alphabet, as the fixture's are).
static void decode_both(const seize_bpe *t, const int32_t *ids, size_t n, int strict)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= ids[i] < 0 || (size_t)ids[i] >= seize_bpe_vocab_size(t);
    for (int skip = 0; skip < 2; skip++) {
        char *out = NULL;
        size_t len;
        int rc = seize_bpe_decode_n(t, ids, n, skip, &out, &len);
        if (rc == 0) {
            check_text(out, len);
            free(out);
        } else if (out || (strict && (!bad || rc != SEIZE_EINVAL)) ||
                   (rc != SEIZE_EINVAL && rc != SEIZE_ENOMEM)) {
            abort();
        }
    }
}

static void encode_decode(const seize_bpe *t, const char *text, size_t len, int strict)
{
    int32_t *ids = NULL;
    size_t n = 0;
    if (seize_bpe_encode(t, text, len, &ids, &n) != 0) abort();
    if (n > len + 1) abort(); // at most one id per byte (+ the prefix space)
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= seize_bpe_vocab_size(t)) abort();
    decode_both(t, ids, n, strict);
    free(ids);
}

static void load_mode(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                        "special_tokens_map.json"};
    const uint8_t *part[4];
    size_t len[4];
    size_t n = fuzz_split(data, size, part, len, 4);
    char path[1024];
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", fuzz_dir, names[i]);
        unlink(path);
        if (i < n) fuzz_write((int)i, names[i], part[i], len[i]);
    }
    seize_bpe *t = (seize_bpe *)&t;
    if (seize_bpe_load(fuzz_dir, &t) != 0) {
        if (t) abort();
        fuzz_touch(seize_errmsg());
        return;
    }
    static const char text[] = "a photo of </s> <pad> it's  \n\t 12 \xff\xc3 caf\xc3\xa9 <s>";
    encode_decode(t, text, sizeof text - 1, 0);
    int32_t ids[64];
    size_t vs = seize_bpe_vocab_size(t);
    for (size_t i = 0; i < 64; i++)
        ids[i] = (int32_t)(vs ? (i * 7919) % (vs + 1) : i);
    decode_both(t, ids, 64, 0);
    fuzz_touch(seize_errmsg());
    seize_bpe_token_id(t, "</s>");
    seize_bpe_is_special(t, 2);
    seize_bpe_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t mode = data[0];
    data++;
    size--;
    if (mode < 0x80) {
        encode_decode(tok, (const char *)data, size, 1);
    } else if (mode < 0xC0) {
        size_t n = size / 2;
        int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
        for (size_t i = 0; i < n; i++)
            ids[i] = (int32_t)(data[2 * i] | (data[2 * i + 1] << 8)) % 500 - (mode & 1);
        decode_both(tok, ids, n, 1);
        free(ids);
    } else {
        load_mode(data, size);
    }
    return 0;
}
