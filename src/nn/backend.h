/*
 * src/nn/backend.h — the arithmetic behind the CLIP towers (private to src/nn).
 *
 * The model code (clip.c) describes a forward pass as a sequence of calls through this table
 * and never touches numbers itself, so that another backend (CUDA) can be added by filling the
 * same table. Buffers are opaque float pointers owned by the backend (alloc/release); weights
 * are handed to `weight` once and the returned pointer is used from then on (the CPU backend
 * returns the loader's own pointer: weights stay where the loader put them).
 *
 * Conventions: matrices are row-major; `ld*` is the row stride in floats. Linear layers follow
 * PyTorch: w is (n_out, n_in) and y = x · wᵀ (+ bias). All ops are synchronous.
 *
 * Threads: a backend instance belongs to one thread at a time (it owns scratch space and a
 * worker pool). The CPU backend runs everything on its own pool of n_threads and calls BLAS
 * single-threaded from each pool thread (a slice of each product per thread), so that BLAS's
 * busy-waiting workers never compete with the pool for the cores.
 */
#ifndef SEIZE_NN_BACKEND_H
#define SEIZE_NN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "seize/model.h"

typedef struct nn_backend nn_backend;

typedef struct nn_backend_ops {
    const char *name;
    void (*free)(nn_backend *b);

    /* --- memory ------------------------------------------------------------------------ */
    /* A buffer of n floats (contents undefined); NULL with the message set on failure. */
    float *(*alloc)(nn_backend *b, size_t n);
    void (*release)(nn_backend *b, float *p); /* accepts NULL */
    /* The backend's view of a weight tensor of n floats (CPU: `host` itself). */
    const float *(*weight)(nn_backend *b, const float *host, size_t n);
    /* Host <-> backend copies of n floats. */
    void (*upload)(nn_backend *b, float *dst, const float *src, size_t n);
    void (*download)(nn_backend *b, float *dst, const float *src, size_t n);

    /* --- ops ---------------------------------------------------------------------------- */
    /* y(m, n) = beta·y + x(m, k) · w(n, k)ᵀ, plus bias(n) when bias is not NULL. */
    void (*linear)(nn_backend *b, size_t m, size_t n, size_t k, const float *x, size_t ldx,
                   const float *w, const float *bias, float beta, float *y, size_t ldy);
    /* Per row r of x (rows × d, stride ldx): when add is not NULL, x[r] += add first (in
     * place; fuses the bias of the previous residual GEMM); then
     * y[r] = (x[r] − mean) / sqrt(var + eps) · g + beta, biased variance. y may equal x. */
    void (*layernorm)(nn_backend *b, size_t rows, size_t d, float *x, size_t ldx, const float *add,
                      const float *g, const float *beta, float eps, float *y, size_t ldy);
    /* x(rows, n) = act(x + bias) in place (contiguous rows). */
    void (*bias_act)(nn_backend *b, size_t rows, size_t n, float *x, const float *bias,
                     seize_act act);
    /* Sizes the attention scratch for sequences of up to max_T tokens and up to max_heads
     * heads of up to max_d_head (call once, before the forward passes, so that they
     * allocate nothing). */
    int (*reserve)(nn_backend *b, size_t max_T, size_t max_d_head, size_t max_heads);
    /* Multi-head self-attention over n_seq sequences of T tokens. qkv is (n_seq·T, 3·d) with
     * rows [q | k | v] (d = n_head·d_head) before their biases; the biases q_b, k_b, v_b (d
     * each) are added here. Scale 1/sqrt(d_head), softmax in float32;
     * causal: query t sees keys 0..t. qkv itself is left unchanged.
     * q_rows NULL: every row is a query and out is (n_seq·T, d), heads side by side.
     * q_rows given: only row q_rows[s] of sequence s is a query (keys and values still use
     * all T rows) and out is (n_seq, d) — used by the last block, whose other rows are
     * never read. */
    void (*attention)(nn_backend *b, size_t n_seq, size_t T, int n_head, int d_head, float *qkv,
                      const float *q_b, const float *k_b, const float *v_b, int causal,
                      const size_t *q_rows, float *out);
    /* Vision: im2col. pixels (n, 3, S, S) → cols (n·g·g, 3·p·p) with g = S/p, patch rows in
     * raster order, each patch laid out (c, ky, kx) like the conv weight. */
    void (*patchify)(nn_backend *b, size_t n, int S, int p, const float *pixels, float *cols);
    /* Vision: x (n·T, d) with T = 1 + n_patch: row 0 = class + pos[0], row 1+j = patches[j] +
     * pos[1+j] where patches is (n·n_patch, d). */
    void (*embed_patches)(nn_backend *b, size_t n, size_t n_patch, size_t d, const float *patches,
                          const float *class_emb, const float *pos, float *x);
    /* Text: x (n·T, d) row (i, t) = tok_emb[ids[i·ld_ids + t]] + pos[t]. ids must be valid. */
    void (*embed_tokens)(nn_backend *b, size_t n, size_t T, size_t d, const int32_t *ids,
                         size_t ld_ids, const float *tok_emb, const float *pos, float *x);
    /* y[i] = x[rows[i]] for i < n (rows of d floats, x stride ldx, y contiguous). */
    void (*gather_rows)(nn_backend *b, size_t n, size_t d, const float *x, size_t ldx,
                        const size_t *rows, float *y);
} nn_backend_ops;

struct nn_backend {
    const nn_backend_ops *ops;
};

/* The CPU backend: single-threaded BLAS sgemm per slice for `linear`, own kernels for the
 * rest, all on a thread pool of n_threads (the caller included). Sets the message on
 * failure. */
int nn_backend_cpu_new(int n_threads, nn_backend **out);

/* --- CPU kernels, exposed for the unit tests ------------------------------------------- */

/* In-place activations over n floats (vectorised; ~1 ulp from the libm forms). */
void nn_cpu_quick_gelu(float *x, size_t n);
void nn_cpu_gelu(float *x, size_t n);
/* exp over n floats, in place (vectorised). */
void nn_cpu_exp(float *x, size_t n);

#endif
