/*
 * seize/clip.h — the CLIP image and text towers (inference on the CPU).
 *
 *     seize_clip_model *m = NULL;
 *     seize_clip *c = NULL;
 *     if (seize_clip_model_load("models/ViT-B-32", &m) < 0 ||
 *         seize_clip_new(m, 32, 0, &c) < 0) { ... seize_errmsg() ... }
 *     size_t E = seize_clip_embed_dim(c);
 *     float *feats = malloc(n * E * sizeof(float));
 *     seize_clip_encode_images(c, pixels, n, feats);   // pixels (n, 3, 224, 224), preprocessed
 *     seize_clip_encode_tokens(c, ids, n_texts, tfeats); // ids (n_texts, 77) from seize/text.h
 *     seize_clip_free(c);
 *     seize_clip_model_free(m);
 *
 * The math is open_clip's VisionTransformer / TextTransformer (ARCHITECTURE.md §3); the
 * outputs are the raw projected embeddings (not normalised), equal to the reference to float32
 * rounding. Every architecture of §3 is supported, from either weight layout.
 *
 * State: a seize_clip holds a worker pool and the activation buffers, sized once for
 * `max_batch` inputs, so that a forward pass allocates nothing. The model is only read.
 *
 * Engine (seize_clip_params): the CPU backend multiplies with oneDNN (its JIT kernels picked
 * by the CPU's features at run time, whatever OPENBLAS_CORETYPE says) in fp32, bf16 or int8;
 * a `make NO_DNNL=1` build uses its portable kernels (OpenBLAS sgemm for fp32). fp32 results
 * agree with the reference to float32 rounding; their last bits may depend on the batch size
 * and thread count on some CPUs (oneDNN's AVX2 kernels; on AVX-512 they do not).
 *
 * Threads: one seize_clip runs on n_threads cores through its own worker pool (the calling
 * thread included); each pool thread computes a slice of every product single-threaded, so
 * no library starts threads of its own. The portable path calls OpenBLAS from the pool
 * threads: set seize_blas_threads_set(1) (core.h) for it. Several seize_clip states may share
 * a model from different threads (they share its packed weights); give them n_threads that
 * add up to the cores.
 */
#ifndef SEIZE_CLIP_H
#define SEIZE_CLIP_H

#include <stddef.h>
#include <stdint.h>

#include "seize/core.h"
#include "seize/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct seize_clip seize_clip;

/* What a state runs with (seize_clip_open), passed by value; zero fields take the defaults. */
typedef struct seize_clip_params {
    int max_batch;             /* inputs per forward pass (0: 32) */
    int threads;               /* ≤ 0: all online cores */
    seize_precision precision; /* SEIZE_PRECISION_FP32 (0): exact to the reference */
    const char *backend;       /* "cpu" (NULL), or "cuda" in a `make CUDA=1` build */
    int device;                /* the backend's device index (cuda) */
} seize_clip_params;

/* Creates an inference state for `m` (borrowed: it must outlive the state) with p. The
 * model's matrices are converted to the backend's form in p.precision once per model,
 * backend and precision, and shared by every state of that kind (they are freed with the
 * model), so N states on N threads hold one copy of the weights. Errors: SEIZE_EINVAL (bad
 * parameters, a backend not compiled in, an image size the patch size does not divide),
 * SEIZE_ENOMEM. Not thread-safe: use one state per thread. */
int seize_clip_open(const seize_clip_model *m, seize_clip_params p, seize_clip **out);

/* The precision of the state; a line naming the engine for logs and benchmarks (backend, GEMM
 * library and ISA, precision, threads), owned by the state; the resident bytes of the
 * weights in the backend's form (shared among the states of the model). */
seize_precision seize_clip_precision(const seize_clip *c);
const char *seize_clip_describe(const seize_clip *c);
size_t seize_clip_weight_bytes(const seize_clip *c);

/* seize_clip_open with {max_batch, n_threads} and the defaults (fp32, cpu).
 * Creates an inference state for `m` (borrowed: it must outlive the state) that encodes up to
 * `max_batch` inputs per forward pass (larger requests are split) on `n_threads` threads
 * (≤ 0: all online cores). Allocates every buffer now. Errors: SEIZE_EINVAL (bad arguments or
 * an image size that the patch size does not divide), SEIZE_ENOMEM. Not thread-safe: use one
 * state per thread. Speed: the state's products are fastest with single-threaded BLAS calls,
 * one per thread of its pool: call seize_blas_threads_set(1) first (core.h; the state never
 * changes the BLAS thread count itself). */
int seize_clip_new(const seize_clip_model *m, int max_batch, int n_threads, seize_clip **out);

/* Frees the state (not the model). Accepts NULL. */
void seize_clip_free(seize_clip *c);

/* Dimensions: embedding size (rows written per input), image size S (inputs are 3·S·S
 * floats), text context (ids per text), text vocabulary (ids the text tower accepts), the
 * max_batch and thread count given at creation. */
size_t seize_clip_embed_dim(const seize_clip *c);
int seize_clip_image_size(const seize_clip *c);
int seize_clip_context_length(const seize_clip *c);
int seize_clip_vocab_size(const seize_clip *c);
int seize_clip_max_batch(const seize_clip *c);
int seize_clip_threads(const seize_clip *c);

/* Encodes n preprocessed images: pixels is (n, 3, S, S) float32, CHW, normalised as in
 * ARCHITECTURE.md §5; out receives (n, embed) raw embeddings, row i for image i. n may
 * exceed max_batch (done in chunks) and may be 0. Returns 0, or a negative code when the
 * backend failed (out of memory for its scratch, a device error; message set). */
int seize_clip_encode_images(seize_clip *c, const float *pixels, size_t n, float *out);

/* Encodes n tokenised texts: ids is (n, context) int32 as produced by the tokenizer (start,
 * tokens, end-of-text, zero padding). Each text is pooled at its end-of-text position, the
 * first maximum of its ids; a batch is computed only up to the longest such position (exact:
 * attention is causal), and a batch of texts of very different lengths is split into groups
 * of similar length, each computed up to its own longest text (fewer padded rows; 1.2-1.3x
 * faster on CIRCO's edited captions in batches of 32; the environment variable
 * SEIZE_TEXT_GROUP_ROWS, for measurements, sets the cost in rows of one more forward pass that
 * the grouping weighs: default 32, 1e9 gives one padded pass). out receives (n, embed). Errors:
 * SEIZE_EINVAL when an id is outside [0, vocab) (the message names the row and position);
 * nothing is written to out then. */
int seize_clip_encode_tokens(seize_clip *c, const int32_t *ids, size_t n, float *out);

/* --- whole lists -------------------------------------------------------------------------- */

/* Fills pixels (3·S·S floats) for item i of a list: 0, or a negative SEIZE_E* code with the
 * message set (seize_error; it should name the item, e.g. "cannot decode 'x.jpg': ...").
 * Called from several threads at once, for different i. */
typedef int (*seize_clip_load_fn)(void *ud, size_t i, float *pixels);

typedef struct seize_clip_list_opts {
    /* 0: the first item (in list order) that fails to load stops the list with its error.
     * 1: failed items are left out (their `ok` flag is 0, their row zero) and the list goes
     *    on; on_bad reports each. */
    int skip_bad;
    /* Optional, called on the caller's thread in list order for each failed item with the
     * loader's message (only with skip_bad). */
    void (*on_bad)(void *ud, size_t i, int code, const char *msg);
    /* Optional, called on the caller's thread after each batch, in order: rows (n, embed) of
     * items first..first+n−1 and their ok flags (1 loaded, 0 failed: row is zero). Return 0
     * to go on, or a negative SEIZE_E* code (with the message set) to stop with it. */
    int (*on_batch)(void *ud, size_t first, size_t n, const float *rows, const uint8_t *ok);
    /* Optional, called on the caller's thread after each batch: items done so far (loaded or
     * failed) and failures so far. Return non-zero to stop (SEIZE_ECANCEL). */
    int (*on_progress)(void *ud, size_t done, size_t n_bad);
    void *ud;
    /* Optional (core.h): once a stop is requested (any level), the items not yet loading are
     * left, the list stops after the batch in the towers (its on_batch still runs) and returns
     * SEIZE_ECANCEL. */
    const seize_cancel *cancel;
} seize_clip_list_opts;

/* Encodes n images obtained through `load`: the loading and preprocessing of the next batch
 * runs while the current batch is encoded, on background threads that only take otherwise
 * idle cores (SCHED_IDLE); when a forward pass ends, every thread of the state helps finish
 * the next batch. Results go to `out` ((n, embed), may be NULL when on_batch consumes them)
 * and `ok` (n flags, may be NULL). *n_bad (may be NULL) receives the number of failed items.
 * Errors: the loader's (without skip_bad), on_batch's, SEIZE_ECANCEL (opts->cancel or
 * on_progress), SEIZE_ENOMEM. */
int seize_clip_encode_image_list(seize_clip *c, size_t n, seize_clip_load_fn load,
                                 const seize_clip_list_opts *opts, float *out, uint8_t *ok,
                                 size_t *n_bad);

/* Encodes n tokenised texts (as seize_clip_encode_tokens) in an order that groups texts of
 * similar length into batches, which saves most of the padding work; out rows stay in input
 * order. on_progress (may be NULL) is called after each batch with the texts done so far
 * (its n_bad is always 0); a non-zero return stops with SEIZE_ECANCEL. Errors: as
 * seize_clip_encode_tokens, SEIZE_ENOMEM, SEIZE_ECANCEL. */
int seize_clip_encode_token_list(seize_clip *c, const int32_t *ids, size_t n, float *out,
                                 int (*on_progress)(void *ud, size_t done, size_t n_bad), void *ud);

/* --- performance helpers ------------------------------------------------------------------ */

/* Floating-point operations of one forward pass with the model's full shapes (multiply-add
 * = 2): one image, or one text of `n_tokens` tokens (up to the end-of-text). Counts the
 * matrix products only (patch embedding, q/k/v, attention, output, MLP, projection). */
double seize_clip_image_flops(const seize_clip_model *m);
double seize_clip_text_flops(const seize_clip_model *m, int n_tokens);

/* The OpenBLAS kernel set that this CPU could use but the loaded OpenBLAS did not pick, or
 * NULL. An OpenBLAS that does not recognise an AVX-512 CPU falls back to AVX2 (Haswell) or
 * older kernels; there "SkylakeX" is returned (OPENBLAS_CORETYPE=SkylakeX, read by OpenBLAS at
 * start-up, ran up to about twice as fast). Debian's 0.3.21 recognises AMD Zen 4/5 (it picks
 * SkylakeX/Cooperlake), so on those the AVX2 kernels come only from OPENBLAS_CORETYPE=Haswell
 * in the environment. NULL when OPENBLAS_CORETYPE is set or the CPU lacks AVX-512 (F, CD, BW,
 * DQ, VL), and always in a build with oneDNN (the model's products do not use OpenBLAS there:
 * only a `make NO_DNNL=1` build depends on OpenBLAS's choice). */
const char *seize_clip_blas_better_core(void);

#ifdef __cplusplus
}
#endif
#endif
