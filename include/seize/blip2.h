/*
 * seize/blip2.h — BLIP-2 (OPT) image captioning, native: SEIZE's first stage in the binary.
 *
 *     seize_blip2_model *m = NULL;
 *     seize_blip2 *s = NULL;
 *     if (seize_blip2_model_load("models/blip2-opt-6.7b-coco", &m) < 0 ||
 *         seize_blip2_open(m, (seize_blip2_params){.precision = SEIZE_PRECISION_BF16}, &s) < 0)
 *         { ... seize_errmsg() ... }
 *     const seize_blip2_config *c = seize_blip2_model_get_config(m);
 *     float *pix = malloc(3 * c->image_size * c->image_size * sizeof(float));
 *     seize_blip2_load_pixels(m, "photo.jpg", pix);
 *     seize_blip2_gen g = seize_blip2_gen_default();  // SEIZE's settings: 15 samples, top-p 0.9
 *     seize_blip2_caption cap[1];
 *     seize_blip2_generate(s, pix, 1, &g, cap);       // cap[0].captions[0..14], cap[0].tokens
 *     seize_blip2_caption_release(cap, 1);
 *     seize_blip2_free(s);
 *     seize_blip2_model_free(m);
 *
 * The math is transformers 4.40's Blip2ForConditionalGeneration with an OPT decoder (issue 14):
 * EVA ViT (pre-LN, qkv bias [q, 0, v], erf GELU, post-layernorm) → Q-Former (BERT-shaped,
 * post-LN, learned query tokens layer-normed first, cross-attention to the image features in
 * layers where layer % cross_attention_frequency == 0) → language_projection → OPT (pre-LN,
 * learned positions offset 2, ReLU, LM head tied to the token embeddings). The projected
 * queries are prepended to the embeddings of BOS + the prompt's tokens. Generation follows
 * transformers' sampling: raw logits → temperature → top-k → top-p → softmax → one draw.
 *
 * A model folder is the hub's transformers layout: config.json, the weights as
 * model.safetensors or model.safetensors.index.json + its shards, and the GPT-2 byte-level BPE
 * tokenizer (vocab.json + merges.txt; seize/text.h). Weights stay in the file's dtype (F32,
 * F16 or BF16), mapped; the state converts them once to the backend's form in its precision.
 *
 * Threads: a loaded model is read-only and may be shared; a state (seize_blip2) belongs to one
 * thread at a time and runs its products on its own pool of `threads` workers.
 */
#ifndef SEIZE_BLIP2_H
#define SEIZE_BLIP2_H

#include <stddef.h>
#include <stdint.h>

#include "seize/core.h"
#include "seize/image.h"
#include "seize/model.h"
#include "seize/text.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- the model folder --------------------------------------------------------------------- */

typedef struct seize_blip2_model seize_blip2_model;

/* The shape of a BLIP-2 model, from config.json (transformers' defaults for absent fields). */
typedef struct seize_blip2_config {
    /* vision (EVA ViT) */
    int image_size, patch_size;
    int vision_width, vision_layers, vision_heads, vision_mlp;
    float vision_eps; /* vision_config.layer_norm_eps (1e-6 on current hub configs) */
    /* Q-Former */
    int num_query_tokens;
    int qformer_width, qformer_layers, qformer_heads, qformer_mlp;
    int cross_attention_frequency, encoder_hidden_size;
    float qformer_eps; /* 1e-12 */
    /* OPT */
    int text_width, text_layers, text_heads, text_ffn;
    int vocab_size, max_positions;  /* max_position_embeddings (the table has 2 more rows) */
    float text_eps;                 /* 1e-5 */
    int32_t bos_id, pad_id, eos_id; /* text_config: 2, 1, and the EOS that ends a caption
                                       (50118 = "\n" on the hub's BLIP-2 configs) */
    size_t n_params;                /* parameters in the weights files */
} seize_blip2_config;

/* Loads a model folder (above). Every error names the file and the problem: a folder that is
 * not BLIP-2 with OPT (e.g. a CLIP folder, a T5 language model), a config field with a value
 * seize does not implement, a missing or truncated shard, a tensor missing or of the wrong
 * shape, a missing or malformed tokenizer file. SEIZE_ENOTFOUND, SEIZE_EFORMAT, SEIZE_EINVAL,
 * SEIZE_EIO, SEIZE_ENOMEM. */
int seize_blip2_model_load(const char *dir, seize_blip2_model **out);
void seize_blip2_model_free(seize_blip2_model *m); /* accepts NULL */
const seize_blip2_config *seize_blip2_model_get_config(const seize_blip2_model *m);
/* The folder's tokenizer (owned by the model). */
const seize_bpe *seize_blip2_model_tokenizer(const seize_blip2_model *m);

/* --- preprocessing ------------------------------------------------------------------------ */

/* The BLIP image processor: convert("RGB"), resize to image_size × image_size with PIL's
 * bicubic filter (no crop, aspect not kept), /255, normalise with OpenAI CLIP's mean and std.
 * Writes 3·S·S floats, CHW. Errors name the file (not an image, corrupt, too many pixels). */
int seize_blip2_load_pixels(const seize_blip2_model *m, const char *path, float *pixels);
int seize_blip2_image_pixels(const seize_blip2_model *m, const seize_image *img, float *pixels);

/* --- the inference state ------------------------------------------------------------------ */

typedef struct seize_blip2 seize_blip2;

/* What a state runs with, by value; zero fields take the defaults. */
typedef struct seize_blip2_params {
    int threads;               /* ≤ 0: all online cores */
    seize_precision precision; /* FP32 (0, exact to the reference) or BF16; INT8 is refused */
    const char *backend;       /* "cpu" (NULL), or "cuda" in a `make CUDA=1` build */
    int device;
    int max_images;  /* images per call of seize_blip2_generate (0: 1) */
    int max_samples; /* sequences per image (0: 15) */
    int max_tokens;  /* prompt tokens + new tokens per sequence (0: 64) */
} seize_blip2_params;

/* Creates a state for m (borrowed; it must outlive the state); allocates every buffer for
 * the limits of p. SEIZE_EINVAL (bad parameters, a backend not compiled in), SEIZE_ENOMEM. */
int seize_blip2_open(const seize_blip2_model *m, seize_blip2_params p, seize_blip2 **out);
void seize_blip2_free(seize_blip2 *s); /* accepts NULL */
/* A line naming the engine (backend, GEMM library and ISA, precision, threads). */
const char *seize_blip2_describe(const seize_blip2 *s);
/* Resident bytes of the weights in the backend's form. */
size_t seize_blip2_weight_bytes(const seize_blip2 *s);

/* Intermediate tensors of a forward pass, for tests and research: called on the calling
 * thread with host float32 data of rows × cols, under the names of the golden fixtures
 * (../shared/fixtures/README.md): "vision.hidden_states.<i>" (0 = embeddings),
 * "vision.last_hidden_state" (after post-layernorm), "qformer.hidden_states.<i>" (0 = the
 * layer-normed query tokens), "language_projection", "lm.hidden_states.<i>" (the prefill's
 * rows, 0 = the input embeddings, the last = after the final layer norm), "lm.logits" (every
 * prefill row). One image per call: `image` is its index in the call. */
typedef void (*seize_blip2_trace_fn)(void *user, size_t image, const char *name, const float *data,
                                     size_t rows, size_t cols);

/* --- generation --------------------------------------------------------------------------- */

typedef struct seize_blip2_gen {
    const char *prompt; /* text after BOS; NULL: "a photo of"; "": BOS only */
    int n;              /* sequences per image (≤ max_samples) */
    int greedy;         /* 1: argmax at every step (the n sequences are then equal) */
    float top_p;        /* 1.0: off */
    int top_k;          /* 0: off */
    float temperature;  /* > 0 */
    int max_new_tokens; /* ≥ 1; prompt + max_new_tokens ≤ max_tokens of the state */
    uint64_t seed;      /* image i's draws come from a stream seeded by (seed, the image's
                           pixels): same seed and image → same captions, whatever the batch */
    /* Teacher forcing (may be NULL): sequence j of image i (row i·n + j) is fed
     * force_ids[i·n + j][0 .. force_len[i·n + j]) instead of drawn tokens; it ends after its
     * last forced id or at EOS, whichever comes first. */
    const int32_t *const *force_ids;
    const size_t *force_len;
    /* Raw next-token logits (may be NULL): float32 [n_images·n, max_new_tokens, vocab],
     * before temperature, top-k and top-p; rows of steps after a sequence ended are NaN. */
    float *logits;
    seize_blip2_trace_fn trace; /* may be NULL */
    void *trace_user;
    const seize_cancel *cancel; /* may be NULL: checked between steps (SEIZE_ECANCEL) */
} seize_blip2_gen;

/* SEIZE's settings (LAVIS caption_coco_opt6.7b): prompt "a photo of", n 15, top-p 0.9,
 * top-k 50, temperature 1, 30 new tokens, seed 0, sampling. */
seize_blip2_gen seize_blip2_gen_default(void);

/* The result for one image. */
typedef struct seize_blip2_caption {
    size_t n;         /* sequences */
    char **captions;  /* decoded generated tokens, special tokens and ids the tokenizer
                         does not have (vocab_size may exceed it: 50272 vs 50265 for OPT; as
                         the fast tokenizer) skipped, invalid UTF-8 as U+FFFD, NUL
                         characters dropped, stripped of surrounding white space */
    int32_t **tokens; /* generated ids, EOS included when produced */
    size_t *n_tokens;
} seize_blip2_caption;

/* Captions n_images preprocessed images (pixels: n_images × 3·S·S) into out[0..n_images)
 * (zeroed by the caller; release with seize_blip2_caption_release). The vision tower,
 * Q-Former and the prefill of BOS + prompt run once per image; their KV cache is shared by
 * the image's n sequences, and all sequences of the call decode as one batch (a sequence
 * that ended leaves it). 0; SEIZE_EINVAL (settings out of range, more images or tokens than
 * the state was opened for, a forced id out of the vocabulary); SEIZE_ECANCEL; a backend
 * error. */
int seize_blip2_generate(seize_blip2 *s, const float *pixels, size_t n_images,
                         const seize_blip2_gen *g, seize_blip2_caption *out);
void seize_blip2_caption_release(seize_blip2_caption *c, size_t n);

/* --- sampling, exposed for tests (transformers' warpers) ------------------------------------ */

/* In place over one row of logits (n): temperature (x / t), then top-k (keep the k highest:
 * every value ≥ the k-th largest stays), then top-p (sort ascending, drop the tokens whose
 * cumulative probability is ≤ 1 − top_p, keeping at least one) — dropped entries become
 * -INFINITY. top_k 0 and top_p ≥ 1 are off. */
void seize_blip2_warp(float *logits, size_t n, float temperature, int top_k, float top_p);

#ifdef __cplusplus
}
#endif
#endif
