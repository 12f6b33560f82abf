/*
 * src/nn/blip2_int.h — the seams inside the BLIP-2 captioner (private to src/nn).
 *
 *   blip2_model.c     config.json, shards, tensor views, the tokenizer   (seize_blip2_model_*)
 *   blip2.c           the state and the forward passes below              (seize_blip2_open, ...)
 *   blip2_generate.c  seize_blip2_generate: prefill once, share the cache, batched decode
 *   blip2_sample.c    warpers, the random stream, one draw per row
 *
 * The generation loop (blip2_generate.c) drives the model only through the functions below;
 * they return 0 or a negative SEIZE_E… with the message set (a backend failure included).
 */
#ifndef SEIZE_NN_BLIP2_INT_H
#define SEIZE_NN_BLIP2_INT_H

#include <stddef.h>
#include <stdint.h>

#include "seize/blip2.h"

/* Limits of the state (the params after defaults). */
typedef struct nn_blip2_limits {
    size_t max_images, max_samples, max_tokens;
} nn_blip2_limits;
const nn_blip2_limits *nn_blip2_state_limits(const seize_blip2 *s);
const seize_blip2_model *nn_blip2_state_model(const seize_blip2 *s);

/* Vision tower, Q-Former and language_projection for n ≤ max_images images (pixels: host,
 * n × 3·S·S): the prefix embeddings of each image (num_query_tokens rows of text_width) are
 * kept in the state for nn_blip2_prefill. trace (may be NULL) gets the "vision.*",
 * "qformer.*" and "language_projection" tensors of each image. */
int nn_blip2_encode(seize_blip2 *s, const float *pixels, size_t n, seize_blip2_trace_fn trace,
                    void *user);

/* The decoder's prefill for the n images of the last nn_blip2_encode: per image, its prefix
 * rows then the embeddings of ids[0..n_ids) (BOS + prompt, host) with positions 2.. (OPT's
 * offset), through every layer into the KV cache, sequences 0..n-1. Writes the logits of each
 * image's last row to logits (host, n × vocab). Resets the cache first. trace:
 * "lm.hidden_states.<i>" and "lm.logits" (every row) per image. Requires 1 ≤ n_ids ≤
 * max_tokens (the cache holds the prefix + max_tokens rows per sequence). */
int nn_blip2_prefill(seize_blip2 *s, size_t n, const int32_t *ids, size_t n_ids, float *logits,
                     seize_blip2_trace_fn trace, void *user);

/* Shares the prefill: the cache rows of image i become those of sequences i·r .. i·r + r-1
 * (n·r ≤ max_images·max_samples). */
int nn_blip2_expand(seize_blip2 *s, size_t n, size_t r);

/* One decode step: sequence j (< n_seq) takes token ids[j] (host) at the next position;
 * logits (host, n_seq × vocab) of the next token. Requires the cache to hold room for it. */
int nn_blip2_step(seize_blip2 *s, size_t n_seq, const int32_t *ids, float *logits);

/* Moves the cached rows of sequence `from` to sequence `to` (both < max_images·max_samples),
 * so that the live sequences of a batch stay first and the steps run over them only. */
int nn_blip2_move(seize_blip2 *s, size_t from, size_t to);

/* Sequence-steps run by nn_blip2_step since the state was opened (Σ n_seq), for tests. */
size_t nn_blip2_state_stepped(const seize_blip2 *s);

/* --- sampling (blip2_sample.c) ---------------------------------------------------------------- */

/* A random stream (xoshiro256** seeded through splitmix64): same seed → same numbers on
 * every machine. */
typedef struct nn_rng {
    uint64_t s[4];
} nn_rng;
void nn_rng_seed(nn_rng *r, uint64_t seed);
uint64_t nn_rng_next(nn_rng *r);
double nn_rng_uniform(nn_rng *r); /* [0, 1), 53 bits */

/* seize_blip2_warp on the caller's scratch of n entries, without allocating: the form the
 * generation loop uses (one scratch per call of seize_blip2_generate). */
typedef struct nn_blip2_ranked {
    float v;
    int32_t id;
} nn_blip2_ranked;
void nn_blip2_warp(float *logits, size_t n, float temperature, int top_k, float top_p,
                   nn_blip2_ranked *scratch);

/* One token drawn from softmax(warped) (n entries, -INFINITY = excluded), or the argmax
 * (lowest id among equal maxima) when greedy. */
int32_t nn_blip2_draw(const float *warped, size_t n, int greedy, nn_rng *r);

#endif
