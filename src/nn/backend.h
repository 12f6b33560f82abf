/*
 * src/nn/backend.h — the arithmetic behind the transformers of src/nn (private to src/nn).
 *
 * Model code (clip.c, transformer.c) describes a forward pass as calls through this table and
 * never touches numbers itself; another backend (CUDA) fills the same table.
 *
 * The contract (engine v2, issue 13):
 *   - Memory the ops read or write is the backend's: `alloc` gives it (typed: every buffer has
 *     a dtype), host data reaches it only through `upload`, results leave it only through
 *     `download`. Index arrays that steer an op (ids, q_rows, rows) are host memory.
 *   - Weights reach the backend only through `weight`: the host tensor (any of F32/F16/BF16,
 *     as the loader keeps it) becomes an opaque nn_weight in the backend's form — for
 *     NN_W_LINEAR a matrix packed for `linear` in the backend's precision (fp32, bf16 or int8
 *     with per-output-row scales), for NN_W_VECTOR / NN_W_TABLE float32 values the ops read
 *     (biases, layer-norm gains, embedding tables). A weight made by one backend instance is
 *     valid for every instance of the same ops table, precision and device, so that states on
 *     several threads share one packed copy of a model (clip.c caches them on the model).
 *   - Activations are float32 buffers; precision only changes how `linear` multiplies.
 *
 * Conventions: matrices are row-major; `ld*` is the row stride in elements. Linear layers
 * follow PyTorch: w is (n_out, n_in) and y = x · wᵀ (+ bias). All ops are synchronous.
 *
 * Threads: a backend instance belongs to one thread at a time (it owns scratch space and a
 * worker pool of n_threads, the caller included).
 */
#ifndef SEIZE_NN_BACKEND_H
#define SEIZE_NN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "seize/model.h"

typedef struct nn_backend nn_backend;

typedef enum { NN_F32 = 0, NN_BF16, NN_F16, NN_I8, NN_I32 } nn_dtype;

/* Bytes per element of a dtype. */
size_t nn_dtype_size(nn_dtype t);

/* What a weight is for. */
typedef enum {
    NN_W_LINEAR, /* the w of `linear`: (rows = n_out, cols = n_in), packed in the precision */
    NN_W_VECTOR, /* float32 values read by elementwise ops (bias, gain, class/pos embedding) */
    NN_W_TABLE,  /* float32 rows gathered by id (token embeddings) */
    NN_W_LINEAR_FEW_ROWS /* an NN_W_LINEAR mostly multiplied by a few rows (decoder steps): the
                          * same for every op and backend, except that the CPU backend may pack
                          * it for small products (NN_GEMM_SMALL_M) */
} nn_weight_use;

/* 1 for the uses `linear` takes (NN_W_LINEAR, NN_W_LINEAR_FEW_ROWS). */
static inline int nn_weight_use_linear(nn_weight_use u)
{
    return u == NN_W_LINEAR || u == NN_W_LINEAR_FEW_ROWS;
}

/* A host tensor handed to `weight`: row-major (rows, cols) elements of dtype (F32, F16 or
 * BF16), e.g. a seize_matrix of the loader or a float vector (rows = 1). */
typedef struct nn_host_tensor {
    const void *data;
    nn_dtype dtype;
    size_t rows, cols;
} nn_host_tensor;

/* Backend-owned; the common head lets model code read the shape. */
typedef struct nn_weight {
    nn_weight_use use;
    nn_dtype dtype; /* as stored by the backend: the precision's for LINEAR, F32 otherwise */
    size_t rows, cols;
    size_t bytes; /* resident bytes (packed data, scales; 0 when used in place) */
    const char
        *impl; /* static text: how it is multiplied, e.g. "oneDNN 2.6.3 (avx512_core_bf16)" */
} nn_weight;

typedef struct nn_backend_ops {
    const char *name; /* "cpu", "cuda" */
    void (*free)(nn_backend *b);
    /* Ops return nothing: a backend records the first failure of an op (scratch out of
     * memory, a device error) and this returns it (0 if none, else a negative SEIZE_E* code
     * with the message set) and clears it. Model code checks it after each forward pass. */
    int (*status)(nn_backend *b);

    /* --- memory ------------------------------------------------------------------------ */
    /* A buffer of n elements of dtype t (contents undefined); NULL with the message set. */
    void *(*alloc)(nn_backend *b, nn_dtype t, size_t n);
    void (*release)(nn_backend *b, void *p); /* accepts NULL */
    /* The backend's form of a host tensor (see the top); NULL with the message set on
     * failure (out of memory, an unsupported dtype or precision). The host data must outlive
     * the weight (the CPU backend uses float32 vectors and tables in place). */
    nn_weight *(*weight)(nn_backend *b, const nn_host_tensor *src, nn_weight_use use);
    /* Frees a weight of this backend kind; needs no instance (weights outlive the states that
     * made them: they are freed with the model). Accepts NULL. */
    void (*weight_free)(nn_weight *w);
    /* Host <-> backend copies of n elements of dtype t. */
    void (*upload)(nn_backend *b, void *dst, const void *src, nn_dtype t, size_t n);
    void (*download)(nn_backend *b, void *dst, const void *src, nn_dtype t, size_t n);
    /* Strided copy inside the backend: rows × d floats (e.g. into a KV cache). */
    void (*copy_rows)(nn_backend *b, size_t rows, size_t d, const float *src, size_t lds,
                      float *dst, size_t ldd);

    /* --- ops ---------------------------------------------------------------------------- */
    /* y(m, n) = beta·y + x(m, k) · w(n, k)ᵀ, plus bias(n) when bias is not NULL (beta 0 or 1).
     * w is an NN_W_LINEAR weight (n = w->rows, k = w->cols); bias an NN_W_VECTOR of n. */
    void (*linear)(nn_backend *b, size_t m, const float *x, size_t ldx, const nn_weight *w,
                   const nn_weight *bias, float beta, float *y, size_t ldy);
    /* Per row r of x (rows × d, stride ldx): when add is not NULL, x[r] += add first (in
     * place; fuses the bias of the previous residual GEMM); then
     * y[r] = (x[r] − mean) / sqrt(var + eps) · g + beta, biased variance. y may equal x.
     * add, g, beta: NN_W_VECTOR weights of d. */
    void (*layernorm)(nn_backend *b, size_t rows, size_t d, float *x, size_t ldx,
                      const nn_weight *add, const nn_weight *g, const nn_weight *beta, float eps,
                      float *y, size_t ldy);
    /* x(rows, n) = act(x + bias) in place (contiguous rows; bias NULL = none). act is one of
     * seize_act: quick GELU, erf GELU, ReLU, or none (bias only). */
    void (*bias_act)(nn_backend *b, size_t rows, size_t n, float *x, const nn_weight *bias,
                     seize_act act);
    /* x(rows, n) += y(rows, n) elementwise (residual connections that are not a GEMM's). */
    void (*add)(nn_backend *b, size_t rows, size_t n, float *x, size_t ldx, const float *y,
                size_t ldy);
    /* Sizes the attention scratch for up to max_T keys (and queries), up to max_heads heads
     * of up to max_d_head (call once, before the forward passes, so they allocate nothing). */
    int (*reserve)(nn_backend *b, size_t max_T, size_t max_d_head, size_t max_heads);
    /* CLIP's fused self-attention over n_seq sequences of T tokens. qkv is (n_seq·T, 3·d)
     * with rows [q | k | v] (d = n_head·d_head) before their biases; the biases q_b, k_b, v_b
     * (NN_W_VECTOR of d each) are added here. Scale 1/sqrt(d_head), softmax
     * in float32; causal: query t sees keys 0..t. qkv itself is left unchanged.
     * q_rows NULL: every row is a query and out is (n_seq·T, d), heads side by side.
     * q_rows given (host): only row q_rows[s] of sequence s is a query (keys and values still
     * use all T rows) and out is (n_seq, d) — used by the last block. */
    void (*attention)(nn_backend *b, size_t n_seq, size_t T, int n_head, int d_head, float *qkv,
                      const nn_weight *q_b, const nn_weight *k_b, const nn_weight *v_b, int causal,
                      const size_t *q_rows, float *out);
    /* General attention, biases already applied: for sequence s, query row t (of Tq) at
     * q + (s·Tq + t)·ldq, key row j (of Tk) at k + s·k_seq + j·ldk, value row j at
     * v + s·v_seq + j·ldv (k_seq = 0: all sequences share one key/value set, e.g. image
     * features in cross-attention); each row holds n_head heads of d_head side by side.
     * out row (s, t) at out + (s·Tq + t)·ldo. Scale 1/sqrt(d_head), softmax in float32.
     * causal_offset ≥ 0: query t sees keys j ≤ t + causal_offset (a decoder step with a KV
     * cache of causal_offset earlier tokens); < 0: every key. */
    void (*attend)(nn_backend *b, size_t n_seq, size_t Tq, size_t Tk, int n_head, int d_head,
                   const float *q, size_t ldq, const float *k, size_t k_seq, size_t ldk,
                   const float *v, size_t v_seq, size_t ldv, long causal_offset, float *out,
                   size_t ldo);
    /* Vision: im2col. pixels (n, 3, S, S) → cols (n·g·g, 3·p·p) with g = S/p, patch rows in
     * raster order, each patch laid out (c, ky, kx) like the conv weight. */
    void (*patchify)(nn_backend *b, size_t n, int S, int p, const float *pixels, float *cols);
    /* Vision: x (n·T, d) with T = 1 + n_patch: row 0 = class + pos[0], row 1+j = patches[j] +
     * pos[1+j] where patches is (n·n_patch, d). class_emb, pos: NN_W_VECTOR. */
    void (*embed_patches)(nn_backend *b, size_t n, size_t n_patch, size_t d, const float *patches,
                          const nn_weight *class_emb, const nn_weight *pos, float *x);
    /* Text: x (n·T, d) row (i, t) = tok_emb[ids[i·ld_ids + t]] + pos[pos0 + t] (pos NULL:
     * no position term). ids are host int32 and must be valid rows of tok_emb (NN_W_TABLE);
     * pos an NN_W_TABLE with at least pos0 + T rows. */
    void (*embed_tokens)(nn_backend *b, size_t n, size_t T, size_t d, const int32_t *ids,
                         size_t ld_ids, const nn_weight *tok_emb, const nn_weight *pos, size_t pos0,
                         float *x);
    /* y[i] = x[rows[i]] for i < n (rows of d floats, x stride ldx, y contiguous; rows host). */
    void (*gather_rows)(nn_backend *b, size_t n, size_t d, const float *x, size_t ldx,
                        const size_t *rows, float *y);
} nn_backend_ops;

struct nn_backend {
    const nn_backend_ops *ops;
};

/* What a backend is created with. */
typedef struct nn_backend_params {
    int n_threads;             /* ≥ 1 */
    seize_precision precision; /* how `linear` multiplies */
    int device;                /* device index (cuda) */
    int gemm_portable;         /* cpu: the portable GEMM path even where oneDNN is built in */
} nn_backend_params;

/* The CPU backend: `linear` through src/nn/gemm.h (oneDNN, or the portable kernels of a
 * NO_DNNL=1 build), own kernels for the rest, all on a thread pool of n_threads. Sets the
 * message on failure. */
int nn_backend_cpu_new(nn_backend_params p, nn_backend **out);

#ifdef SEIZE_CUDA
/* The CUDA backend (make CUDA=1): cuBLAS for `linear`, own kernels for the rest. Fails with
 * a message when no device is usable. */
int nn_backend_cuda_new(nn_backend_params p, nn_backend **out);
#endif

/* By name: "cpu", or "cuda" in a CUDA build; SEIZE_EINVAL naming the backends compiled in. */
int nn_backend_new(const char *name, nn_backend_params p, nn_backend **out);

/* --- CPU kernels, exposed for the unit tests ------------------------------------------- */

/* In-place activations over n floats (vectorised; ~1 ulp from the libm forms). */
void nn_cpu_quick_gelu(float *x, size_t n);
void nn_cpu_gelu(float *x, size_t n);
/* exp over n floats, in place (vectorised). */
void nn_cpu_exp(float *x, size_t n);

#endif
