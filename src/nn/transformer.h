/*
 * src/nn/transformer.h — generic transformer pieces, written once for any model (private to
 * src/nn): attention sub-layers (self, causal, cross, over a KV cache), MLP sub-layers, pre-LN
 * or post-LN, the KV cache and its sharing among samples, the LM head.
 *
 *     nn_xf_sizes sz = {.max_rows = n * T, .d_model = d, .d_mlp = 4 * d, .max_T = T,
 *                       .d_head = d / heads, .n_head = heads};
 *     nn_xf *s;
 *     nn_xf_new(be, &sz, &s);
 *     nn_xf_config c = {.d_model = d, .n_head = heads, .post_ln = 0, .ln_eps = 1e-6f,
 *                       .act = SEIZE_ACT_GELU};
 *     for (int l = 0; l < n_layer; l++)
 *         nn_xf_layer_forward(s, &c, &layers[l], n, T, 0, NULL, x); // x: (n·T, d) in place
 *     nn_xf_free(s);
 *
 * Every piece is a sequence of calls through the backend's ops (src/nn/backend.h) and does no
 * arithmetic of its own, so it runs on any backend. Weights are the backend's nn_weight handles
 * (the model's loader makes them); activations and caches are backend buffers of float32.
 * Linear weights follow PyTorch, (n_out, n_in). Sub-layers:
 *   pre-LN  (ViT, EVA, OPT):  x ← x + f(LN(x))
 *   post-LN (BERT, Q-Former): x ← LN(x + f(x))
 * where f is attention (q, k, v, out projections, biases optional, scale 1/sqrt(d_head),
 * heads side by side) or the MLP (fc1, bias + activation, fc2).
 *
 * Errors: like the ops, the pieces return nothing; a failed op is recorded by the backend, and
 * the model code checks ops->status(be) after a forward pass.
 *
 * Threads: an nn_xf belongs to one thread at a time, like its backend.
 */
#ifndef SEIZE_NN_TRANSFORMER_H
#define SEIZE_NN_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/* The shape of one tower. */
typedef struct nn_xf_config {
    size_t d_model;
    int n_head; /* d_head = d_model / n_head */
    int post_ln;
    float ln_eps;
    seize_act act; /* of the MLP */
} nn_xf_config;

/* An attention sub-layer: projections (n_out = d_model; wk and wv may take a wider encoder
 * input in cross-attention), their biases (NULL = none, e.g. EVA's key bias), and the layer
 * norm of the sub-layer (before it in pre-LN, after the residual in post-LN). */
typedef struct nn_xf_attn {
    const nn_weight *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo;
    const nn_weight *ln_g, *ln_b;
} nn_xf_attn;

/* An MLP sub-layer: fc1 (d_mlp, d_model) + b1, the activation, fc2 (d_model, d_mlp) + b2. */
typedef struct nn_xf_mlp {
    const nn_weight *w1, *b1, *w2, *b2;
    const nn_weight *ln_g, *ln_b;
} nn_xf_mlp;

/* One layer: self-attention, then cross-attention when cross.wq is not NULL, then the MLP. */
typedef struct nn_xf_layer {
    nn_xf_attn self, cross;
    nn_xf_mlp mlp;
} nn_xf_layer;

/* Keys and values of one attention (backend buffers, rows of d_model): row j of sequence s at
 * k + s·seq + j·d_model (and v likewise). seq = 0: one set shared by every sequence. */
typedef struct nn_xf_kv {
    float *k, *v;
    size_t seq; /* floats from one sequence's rows to the next's */
    size_t T;   /* rows per sequence (the capacity, in a cache) */
} nn_xf_kv;

/* A decoder's KV cache: per layer, K and V of (n_seq, max_T, d) (kv.seq = max_T·d); len rows
 * of every sequence are filled (the decoder functions append and advance it). */
typedef struct nn_xf_cache {
    nn_backend *be;
    nn_xf_kv *layer; /* n_layer */
    size_t n_layer, n_seq, max_T, d;
    size_t len;
} nn_xf_cache;

/* Sizes of the working buffers; each the largest over the towers that share them. */
typedef struct nn_xf_sizes {
    size_t max_rows; /* rows (n_seq·T) of one call */
    size_t d_model;  /* widest model, or encoder input of nn_xf_kv_project */
    size_t d_mlp;    /* widest MLP */
    size_t max_T;    /* most queries or keys of one sequence in an attention */
    size_t d_head, n_head;
} nn_xf_sizes;

/* Working buffers (backend memory) and the backend they belong to. */
typedef struct nn_xf {
    nn_backend *be;
    const nn_backend_ops *o;
    nn_xf_sizes sz;
    float *h, *q, *k, *v, *att, *mid; /* (max_rows, d_model), mid (max_rows, d_mlp) */
    int32_t *ids;                     /* host, max_T: position ids of nn_xf_add_positions */
} nn_xf;

/* Allocates the working buffers and reserves the backend's attention scratch (ops->reserve);
 * the only allocations: the forward functions below allocate nothing. 0, or a negative
 * SEIZE_E… with the message set. */
int nn_xf_new(nn_backend *be, const nn_xf_sizes *sz, nn_xf **out);
void nn_xf_free(nn_xf *s); /* accepts NULL */

/* Self-attention sub-layer over n_seq sequences of T rows; x (n_seq·T, d) in place. causal:
 * token t sees tokens 0..t. */
void nn_xf_self_attn(nn_xf *s, const nn_xf_config *c, const nn_xf_attn *w, size_t n_seq, size_t T,
                     int causal, float *x);

/* Keys and values of a cross-attention, computed once per encoder output: enc (rows, d_enc;
 * stride ld_enc) → k = enc·wkᵀ + bk, v = enc·wvᵀ + bv, both (rows, d_model) contiguous. */
void nn_xf_kv_project(nn_xf *s, const nn_xf_attn *w, size_t rows, const float *enc, size_t ld_enc,
                      float *k, float *v);

/* Cross-attention sub-layer: the queries are x (n_seq·T, d), in place; the keys and values
 * kv (kv->T per sequence, or one shared set). */
void nn_xf_cross_attn(nn_xf *s, const nn_xf_config *c, const nn_xf_attn *w, size_t n_seq, size_t T,
                      const nn_xf_kv *kv, float *x);

/* MLP sub-layer over rows of x (rows, d), in place. */
void nn_xf_mlp_forward(nn_xf *s, const nn_xf_config *c, const nn_xf_mlp *w, size_t rows, float *x);

/* One encoder layer (self-attention, cross-attention when the layer has it — cross must then
 * be given —, MLP); x (n_seq·T, d) in place. */
void nn_xf_layer_forward(nn_xf *s, const nn_xf_config *c, const nn_xf_layer *L, size_t n_seq,
                         size_t T, int causal, const nn_xf_kv *cross, float *x);

/* --- decoding with a KV cache ------------------------------------------------------------ */

/* A cache for n_layer layers of n_seq sequences of up to max_T tokens of d; len = 0.
 * 0, or a negative SEIZE_E… with the message set. */
int nn_xf_cache_new(nn_backend *be, size_t n_layer, size_t n_seq, size_t max_T, size_t d,
                    nn_xf_cache **out);
void nn_xf_cache_free(nn_xf_cache *cache); /* accepts NULL */

/* Causal self-attention sub-layer of decoder layer `layer` for T new tokens of sequences
 * 0..n_seq-1 (n_seq ≤ cache->n_seq), x (n_seq·T, d) in place: their keys and values are
 * written at rows len..len+T-1 of the cache and token t attends to rows 0..len+t. Does not
 * change len (nn_xf_decoder_forward does, after the last layer). */
void nn_xf_cached_attn(nn_xf *s, const nn_xf_config *c, const nn_xf_attn *w, nn_xf_cache *cache,
                       size_t layer, size_t n_seq, size_t T, float *x);

/* A decoder stack over T new tokens of sequences 0..n_seq-1 (prefill: T = the prompt; a
 * step: T = 1): per layer nn_xf_cached_attn then the MLP (decoder layers have no
 * cross-attention here); then cache->len += T. Requires len + T ≤ max_T. x (n_seq·T, d) in
 * place. */
void nn_xf_decoder_forward(nn_xf *s, const nn_xf_config *c, const nn_xf_layer *layers,
                           size_t n_layer, nn_xf_cache *cache, size_t n_seq, size_t T, float *x);

/* Shares a prefill among samples: the len cached rows of each sequence i < n_src become those
 * of sequences i·r .. i·r + r-1 (n_src·r ≤ n_seq), so one prefill serves r samples that then
 * decode as one batch. */
void nn_xf_cache_expand(nn_xf_cache *cache, size_t n_src, size_t r);

/* --- embeddings and the head ------------------------------------------------------------- */

/* x rows (i, t) += pos[pos0 + t] for i < n, t < T (rows of d, stride ldx): learned positions
 * with an offset (OPT's is 2) added to embeddings that are not tokens (e.g. projected query
 * features). pos: NN_W_TABLE with at least pos0 + T rows. */
void nn_xf_add_positions(nn_xf *s, size_t n, size_t T, size_t d, const nn_weight *pos, size_t pos0,
                         float *x, size_t ldx);

/* The LM head: logits (n, vocab) = LN(x)·w_outᵀ for n rows of x (d, stride ldx; a prefill's
 * last tokens: x + (T-1)·d with ldx = T·d). x is left unchanged. w_out: NN_W_LINEAR
 * (vocab, d), e.g. made from the same host tensor as the tied token embedding table. */
void nn_xf_lm_head(nn_xf *s, const nn_weight *ln_g, const nn_weight *ln_b, float eps,
                   const nn_weight *w_out, size_t n, float *x, size_t ldx, float *logits);

#endif
