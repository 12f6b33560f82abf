/*
 * src/text/bpe_int.h — private to src/text/bpe*.c: the loaded GPT-2 BPE tokenizer (seize_bpe)
 * shared by the loader (bpe.c) and the encoder/decoder (bpe_codec.c).
 */
#ifndef SEIZE_BPE_INT_H
#define SEIZE_BPE_INT_H

#include "seize/core.h"
#include "seize/text.h"
#include "text_internal.h"

#include <stddef.h>
#include <stdint.h>

#define BPE_MAX_ID ((1 << 24) - 1) /* larger ids are refused (tables are indexed by id) */
#define BPE_N_SPECIAL_ATTR 7       /* bos, eos, unk, sep, pad, cls, mask */
#define BPE_ALPHABET_END 324       /* bytes_to_unicode gives code points below this */
#define BPE_PAIR_EMPTY UINT64_MAX

enum { BPE_F_SPECIAL = 1, BPE_F_LEGACY = 2 };
enum { BPE_ERR_REPLACE = 0, BPE_ERR_IGNORE = 1, BPE_ERR_STRICT = 2 };

struct bpe_pair {
    uint64_t key; /* (left id << 32) | right id; BPE_PAIR_EMPTY when unused */
    int32_t rank, merged;
};

struct bpe_added {
    char *content;
    size_t len;
    int32_t id;
    uint8_t lstrip, rstrip;
    uint8_t in_encoder; /* 0: a later entry has the same content (it wins) */
};

struct seize_bpe {
    char **vocab_str;   /* vocab.json id -> its string (NULL for unused ids) */
    size_t n_vocab_ids; /* largest vocab.json id + 1 */
    size_t n_vocab;     /* entries of vocab.json (GPT2Tokenizer.vocab_size) */
    seize_strmap vocab; /* vocab.json string -> id (keys: vocab_str) */
    size_t n_ids;       /* largest id + 1 over vocab.json and the added tokens */
    const char **str;   /* id -> token string (an added token's content first), or NULL */
    uint8_t *flags;     /* id -> BPE_F_* */
    int32_t *out_id;    /* vocab.json id -> the id convert_tokens_to_ids gives its string */
    struct bpe_pair *pairs;
    size_t pair_mask;
    int32_t byte_sym[256]; /* vocab.json id of each byte's symbol, -1 when absent */
    int32_t byte_out[256]; /* the id a lone byte symbol encodes to, -1: dropped */
    uint32_t byte_cp[256]; /* bytes_to_unicode */
    int16_t cp_byte[BPE_ALPHABET_END];
    struct bpe_added *added; /* tokenizer_config's added_tokens_decoder, then specials */
    size_t n_added, cap_added;
    int32_t unk_vocab; /* vocab.json id of the unk token, or -1 */
    int clean_up, prefix_space, errors;
};

/* The merge of (a, b), or NULL. */
const struct bpe_pair *bpe_pair_find(const seize_bpe *t, int32_t a, int32_t b);

/* Byte length of the Python white space character (str.isspace) at s[0..n), else 0; of the
 * one ending at s[n], else 0. */
size_t bpe_py_space_at(const unsigned char *s, size_t n);
size_t bpe_py_space_before(const unsigned char *s, size_t n);

#endif
