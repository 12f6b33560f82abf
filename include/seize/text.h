/*
 * seize/text.h — the CLIP tokenizer (byte-level BPE) with the reference text cleaning.
 *
 *     seize_tokenizer *tok = NULL;
 *     if (seize_tokenizer_load("models/ViT-B-32", &tok) < 0) {
 *         fprintf(stderr, "error: %s\n", seize_errmsg());
 *         return 1;
 *     }
 *     int32_t ids[77];
 *     const char *s = "A man’s “red” hat";
 *     seize_tokenizer_encode(tok, s, strlen(s), ids, 77);  // 49406, 320, 786, 568, ..., 49407,
 * 0... seize_tokenizer_free(tok);
 *
 * Token ids match open_clip's SimpleTokenizer (with the real ftfy) exactly:
 *
 *   1. Clean: decode UTF-8 (each ill-formed sequence becomes U+FFFD, as Python's
 *      errors="replace" does); ftfy.fix_text with its default fixes — HTML entities (only until
 *      a line contains '<'), C1 controls read as Windows-1252, Latin ligatures, full-/half-width
 *      forms, curly quotes, line breaks, terminal escapes, control characters, NFC — per line,
 *      repeated until nothing changes; html.unescape twice; whitespace runs (Python's
 *      str.isspace) collapsed to one space and stripped; Python's str.lower (full mapping,
 *      including final sigma and U+0130).
 *      NOT done: ftfy's mojibake repair (fix_encoding: guessing that UTF-8 was decoded with a
 *      wrong single-byte encoding, e.g. "cafÃ©" -> "café"). Such text is tokenised as it is.
 *   2. Split with open_clip's pattern (case-insensitive):
 *        <start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 *      The two special strings are open_clip's spelling; in text they give the start/end ids.
 *   3. Map each piece's UTF-8 bytes to the printable byte alphabet, apply the merges by rank
 *      with "</w>" on the last symbol, look the symbols up in the vocabulary.
 *   4. [start] + ids + [end], padded with 0 to the context; when too long, the first
 *      context-2 ids are kept and the last position holds the end id.
 *
 * Unicode data (categories, case, normalisation) comes from utf8proc; characters assigned in
 * Unicode versions newer than the reference's may be classified differently (only those).
 *
 * Files (in the model folder): vocab.json + merges.txt (Hugging Face layout; "#version" header
 * line skipped; start/end ids are those of "<|startoftext|>" / "<|endoftext|>"), or
 * open_clip's bpe_simple_vocab_16e6.txt.gz (the vocabulary is then built as open_clip does:
 * 256 byte symbols, the same with "</w>", merges 1..48894, start, end; ids 49406/49407).
 *
 * Threads: a loaded tokenizer is read-only except for its word cache, a fixed-size lock-free
 * hash table (entries are published with an atomic compare-and-swap and never removed until
 * seize_tokenizer_free), so any number of threads may call the encode functions on one
 * tokenizer at the same time.
 */
#ifndef SEIZE_TEXT_H
#define SEIZE_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Ids CLIP uses for its special tokens and padding, and its context length. */
#define SEIZE_TOKEN_SOT 49406
#define SEIZE_TOKEN_EOT 49407
#define SEIZE_CONTEXT 77

typedef struct seize_tokenizer seize_tokenizer;

/* Loads the tokenizer from a model folder: vocab.json + merges.txt when vocab.json exists,
 * else bpe_simple_vocab_16e6.txt.gz. `model_dir` may also name a merges list file directly
 * (gzip-compressed or plain, open_clip format). On success *out is a new tokenizer (free with
 * seize_tokenizer_free). Errors (SEIZE_EIO, SEIZE_EFORMAT, SEIZE_ENOMEM) name the file: a
 * missing file, malformed JSON, a non-integer or duplicate id, a merges line that is not two
 * symbols or whose symbols are not in the vocabulary. */
int seize_tokenizer_load(const char *model_dir, seize_tokenizer **out);

/* Frees a tokenizer (NULL is fine). No encode call may be running on it. */
void seize_tokenizer_free(seize_tokenizer *t);

/* Tokenises `len` bytes of `text` (need not be NUL-terminated; any bytes are accepted) into
 * exactly `context` ids (context >= 2), written to ids[0..context). Returns 0, SEIZE_EINVAL
 * (context < 2 or NULL pointers) or SEIZE_ENOMEM. Thread-safe. */
int seize_tokenizer_encode(const seize_tokenizer *t, const char *text, size_t len, int32_t *ids,
                           int context);

/* Tokenises n NUL-terminated texts into out[i*context .. (i+1)*context), on the calling thread.
 * Returns 0 or the first error (then the contents of `out` are unspecified). Thread-safe. */
int seize_tokenizer_encode_batch(const seize_tokenizer *t, const char *const *texts, size_t n,
                                 int context, int32_t *out);

/* The number of ids in the vocabulary (largest id + 1; 49408 for CLIP). */
int seize_tokenizer_vocab_size(const seize_tokenizer *t);

/* The start-of-text and end-of-text ids of this vocabulary. */
int32_t seize_tokenizer_sot(const seize_tokenizer *t);
int32_t seize_tokenizer_eot(const seize_tokenizer *t);

/* The cleaned, lowercased text that the tokenizer splits (step 1 above), as a NUL-terminated
 * UTF-8 heap string in *out (caller frees; *out_len without the NUL, may be NULL). For
 * inspection and tests. Returns 0 or SEIZE_ENOMEM. Thread-safe. */
int seize_text_clean(const char *text, size_t len, char **out, size_t *out_len);

/* --- texts as lines (seize tokenize, seize encode-texts) --------------------------------- */

/* The longest text, in bytes, that the commands accept (64 KiB). */
#define SEIZE_TEXT_MAX_BYTES ((size_t)64 << 10)

/* 0 when each of the n NUL-terminated texts has at most SEIZE_TEXT_MAX_BYTES, else SEIZE_EINVAL
 * naming the first longer one: "'FILE' line L: N bytes, more than the limit of 65536 per text"
 * when `file` is given (the texts are its lines), else "text I: ..." (I from 1). */
int seize_texts_check_length(const char *const *texts, size_t n, const char *file);

typedef struct seize_tokenize_opts {
    int context; /* ids per text (>= 2) */
    int clean;   /* 1: the cleaned text (a JSON string) instead of ids; no tokenizer needed */
    int jsonl;   /* seize_tokenize_file: each non-blank line is a JSON string or an object with
                    a "text" string (for texts with line breaks) */
} seize_tokenize_opts;

/* Writes one line for `len` bytes of `text` to `out`: its `context` ids as a JSON array
 * ("[49406, 320, 49407, 0, ...]"), or with o->clean its cleaned text as a JSON string. Errors:
 * the tokenizer's, SEIZE_ENOMEM (write errors are left in `out`'s error flag). Thread-safe for
 * distinct streams. */
int seize_tokenize_write(const seize_tokenizer *t, const char *text, size_t len,
                         const seize_tokenize_opts *o, FILE *out);

/* seize_tokenize_write for each line of `path` ("-": standard input; otherwise a regular file,
 * a FIFO or device is refused), a trailing '\r' dropped. A line may have SEIZE_TEXT_MAX_BYTES
 * (six times that as JSON), the input 1 GiB: errors name the file and line ("'x.txt' line 2:
 * longer than the limit of 65536 bytes per text"), a bad JSON line, a read error. */
int seize_tokenize_file(const seize_tokenizer *t, const char *path, const seize_tokenize_opts *o,
                        FILE *out);

/* --- GPT-2 byte-level BPE (OPT's tokenizer, for the BLIP-2 captioner) -------------------- */

/* A byte-level BPE tokenizer as transformers' GPT2Tokenizer (slow) implements it: GPT-2's
 * pre-tokenisation pattern, bytes mapped to printable characters, merges by rank; no lower
 * casing, no cleaning. Special tokens (transformers' all_special_ids): bos, eos, unk, sep, pad,
 * cls, mask and additional_special_tokens of special_tokens_map.json, else of
 * tokenizer_config.json, else GPT2Tokenizer's defaults ("<|endoftext|>"). tokenizer_config.json's
 * added_tokens_decoder entries are added tokens: matched whole when encoding; decoded as their
 * content, with spaces around those that are not special. src/text/bpe.c has the details. */
typedef struct seize_bpe seize_bpe;

/* Loads vocab.json + merges.txt (+ the optional special_tokens_map.json and
 * tokenizer_config.json) from a model folder. Errors (SEIZE_EIO, SEIZE_EFORMAT, SEIZE_ENOMEM)
 * name the file and the problem. */
int seize_bpe_load(const char *dir, seize_bpe **out);
void seize_bpe_free(seize_bpe *t); /* accepts NULL */

/* Ids of len bytes of text (no BOS added) into *ids (heap, caller frees), *n of them. Invalid
 * UTF-8 is taken byte by byte. 0, SEIZE_ENOMEM. Thread-safe. */
int seize_bpe_encode(const seize_bpe *t, const char *text, size_t len, int32_t **ids, size_t *n);

/* The text of n ids as GPT2Tokenizer.decode(ids, skip_special_tokens=skip_special) gives it:
 * tokens to bytes, invalid UTF-8 replaced by U+FFFD as Python's errors="replace" does, and,
 * when the folder asks for it (clean_up_tokenization_spaces, default true), " ." → "." and the
 * other clean-ups of transformers. *out: NUL-terminated heap string. SEIZE_EINVAL (where
 * Python raises): an id outside the vocabulary (named), a decoded token with a character
 * outside the byte alphabet, bytes that are not UTF-8 with the folder's errors="strict".
 * Thread-safe. */
int seize_bpe_decode(const seize_bpe *t, const int32_t *ids, size_t n, int skip_special,
                     char **out);

/* seize_bpe_decode that also gives the byte length (*out_len, may be NULL): the text may hold
 * NUL characters (the token of byte 0), which the NUL-terminated form cannot show. */
int seize_bpe_decode_n(const seize_bpe *t, const int32_t *ids, size_t n, int skip_special,
                       char **out, size_t *out_len);

/* Python's str.strip(): the text without leading and trailing white space (str.isspace),
 * in place; returns s. */
char *seize_text_strip_py(char *s);
/* The same for s[0..len), which may hold NULs (s needs len + 1 bytes): the stripped text is
 * moved to s[0..], NUL-terminated; returns its length. */
size_t seize_text_strip_py_n(char *s, size_t len);

size_t seize_bpe_vocab_size(const seize_bpe *t); /* largest id + 1 */
/* The id of a token string (as in vocab.json or an added token), or -1. */
int32_t seize_bpe_token_id(const seize_bpe *t, const char *token);
int seize_bpe_is_special(const seize_bpe *t, int32_t id);
/* 1 when id has a token (vocab.json or an added token), so that seize_bpe_decode takes it; a
 * model's embedding may have more rows than its tokenizer has ids (OPT: 50272 and 50265). */
int seize_bpe_has_id(const seize_bpe *t, int32_t id);

#ifdef __cplusplus
}
#endif
#endif
