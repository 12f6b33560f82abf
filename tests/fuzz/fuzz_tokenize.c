// libFuzzer target: the tokenizer on arbitrary bytes (the real CLIP vocabulary from
// $SEIZE_FIXTURES/models/tiny-openai, or ../shared/fixtures), and the vocabulary loader.
//
// Input byte 0 picks the mode:
//   0x00..0xEF  encode the rest as text (context 77, or a small context when byte 0 is odd)
//               and clean it; check the ids' structure and that the cleaned text is UTF-8
//   0xF0..0xFF  load the rest as a tokenizer folder: vocab.json up to the first NUL byte,
//               merges.txt after it (a mismatched pair must fail with an error, not crash)
#include "seize/core.h"
#include "seize/text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static seize_tokenizer *tok;
static char dir[64];

static void remove_dir(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *fix = getenv("SEIZE_FIXTURES");
    char path[4096];
    snprintf(path, sizeof path, "%s/models/tiny-openai", fix && *fix ? fix : "../shared/fixtures");
    if (seize_tokenizer_load(path, &tok) < 0) {
        fprintf(stderr, "fuzz_tokenize: %s (set SEIZE_FIXTURES)\n", seize_errmsg());
        abort();
    }
    snprintf(dir, sizeof dir, "/tmp/fuzz_tokenize_%d", (int)getpid());
    mkdir(dir, 0700);
    atexit(remove_dir);
    return 0;
}

// Structure every encoding must have: start, ids in the vocabulary, end, zeros.
static void check_ids(const int32_t *ids, int context)
{
    int vocab = seize_tokenizer_vocab_size(tok);
    if (ids[0] != seize_tokenizer_sot(tok)) abort();
    int i = 1;
    while (i < context && ids[i] != seize_tokenizer_eot(tok)) {
        if (ids[i] < 0 || ids[i] >= vocab) abort();
        i++;
    }
    if (i == context) abort(); // no end id
    for (i++; i < context; i++)
        if (ids[i] != 0) abort();
}

static int valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        int k = c < 0x80                 ? 0
                : c >= 0xC2 && c <= 0xDF ? 1
                : c >= 0xE0 && c <= 0xEF ? 2
                : c >= 0xF0 && c <= 0xF4 ? 3
                                         : -1;
        if (k < 0 || (k > 0 && i + (size_t)k >= n)) return 0;
        for (int j = 1; j <= k; j++)
            if ((s[i + (size_t)j] & 0xC0) != 0x80) return 0;
        i += (size_t)k + 1;
    }
    return 1;
}

static void write_file(const char *name, const uint8_t *data, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp) abort();
    if (n) fwrite(data, 1, n, fp);
    fclose(fp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t mode = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (mode < 0xF0) {
        int context = (mode & 1) ? 2 + (mode >> 1) % 12 : SEIZE_CONTEXT;
        int32_t ids[SEIZE_CONTEXT];
        if (seize_tokenizer_encode(tok, text, len, ids, context) != 0) abort();
        check_ids(ids, context);
        const char *one[1] = {NULL};
        char *copy = malloc(len + 1);
        memcpy(copy, text, len);
        copy[len] = 0;
        one[0] = copy;
        int32_t batch[SEIZE_CONTEXT];
        if (seize_tokenizer_encode_batch(tok, one, 1, context, batch) != 0) abort();
        if (memchr(text, 0, len) == NULL && memcmp(batch, ids, (size_t)context * sizeof *ids))
            abort(); // the batch call must agree for NUL-free texts
        free(copy);
        char *clean;
        size_t n;
        if (seize_text_clean(text, len, &clean, &n) != 0) abort();
        if (strlen(clean) != n || !valid_utf8((const unsigned char *)clean, n)) abort();
        free(clean);
        return 0;
    }
    const uint8_t *nul = memchr(text, 0, len);
    size_t nv = nul ? (size_t)(nul - (const uint8_t *)text) : len;
    write_file("vocab.json", (const uint8_t *)text, nv);
    write_file("merges.txt", nul ? nul + 1 : (const uint8_t *)"", nul ? len - nv - 1 : 0);
    seize_tokenizer *t = NULL;
    if (seize_tokenizer_load(dir, &t) == 0) {
        int32_t ids[8];
        if (seize_tokenizer_encode(t, "a b", 3, ids, 8) != 0) abort();
        seize_tokenizer_free(t);
    } else if (t) {
        abort();
    }
    return 0;
}
