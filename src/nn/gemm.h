/*
 * src/nn/gemm.h — the matrix products of the CPU backend (private to src/nn).
 *
 * y = beta·y + x · wᵀ (+ bias) with w packed once, in one of three precisions:
 *   fp32  float32 products (oneDNN's JIT kernels, chosen by the CPU's features at run time; the
 *         portable path calls OpenBLAS sgemm);
 *   bf16  w rounded to bfloat16 (round to nearest even; BF16 sources are taken as they are),
 *         each row of x rounded to bf16 at run time, products accumulated in float32;
 *   int8  w quantised per output row (symmetric, scale = max|w_row| / 127), each row of x per
 *         row at run time (symmetric, scale = max|x_row| / 127), products accumulated exactly
 *         in int32, then y = acc · sx[row] · sw[col] (+ bias). The quantised value is
 *         round-to-nearest-even(v · (127 / max|row|)) clamped to [-127, 127]; k <= 65536.
 * Packed with NN_GEMM_SMALL_M (products of few rows: decoder steps), bf16 runs seize's own
 * AVX512_BF16 kernel (gemm_bf16s.c) where CPUID has that instruction — ONEDNN_MAX_CPU_ISA does
 * not apply to it; like oneDNN's bf16 kernels it flushes subnormal operands.
 * The oneDNN path (libdnnl, Debian's libdnnl-dev 2.x) is used when the build has it
 * (SEIZE_HAVE_DNNL; `make NO_DNNL=1` builds without) and oneDNN accepts the shape; the portable
 * path is always compiled (the fallback and the tests' oracle). For int8, both paths give the
 * same int32 accumulators and share the epilogue, so they give the same bits. oneDNN is used for
 * int8 only on CPUs with VNNI (without it its u8·s8 kernels saturate), never through its
 * reference (plain C++) implementations, and for a product it declines at run time the columns
 * are unpacked into scratch and the portable path runs them (nn_gemm_describe says so).
 *
 * Threads: nn_gemm_run computes a slice of the output on the calling thread only (it never
 * starts threads); several threads may run slices of the same packed w at once, each with its
 * own scratch. The CPU backend splits a product among its pool threads. oneDNN (OpenMP in
 * Debian's build) is kept on the caller by omp_set_num_threads(1) in each thread that packs or
 * runs (once per thread: that thread's OpenMP setting). The portable fp32/bf16 products call
 * cblas_sgemm, which uses BLAS's own threads as seize_blas_threads_set left them: callers that
 * split a product among threads set 1.
 *
 *     nn_gemm_w *w;
 *     nn_gemm_pack(weights, SEIZE_ST_BF16, n, k, SEIZE_PRECISION_BF16, NN_GEMM_AUTO, &w);
 *     nn_gemm_scratch *s = nn_gemm_scratch_new();                 // one per thread
 *     nn_gemm_run(w, m, 0, nn_gemm_rows(w), x, k, bias, 0.0f, y, n, s);
 *     nn_gemm_scratch_free(s), nn_gemm_free(w);
 */
#ifndef SEIZE_NN_GEMM_H
#define SEIZE_NN_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "seize/model.h"

typedef struct nn_gemm_w nn_gemm_w;             /* a packed weight matrix, read-only once made */
typedef struct nn_gemm_scratch nn_gemm_scratch; /* per-thread working memory, grows on demand */

typedef enum {
    NN_GEMM_AUTO = 0, /* oneDNN when built in and it accepts the shape, else portable */
    NN_GEMM_PORTABLE, /* always the portable path */
    NN_GEMM_SMALL_M,  /* products mostly of few rows (decoder steps): for bf16 on a CPU with
                       * AVX512_BF16 the own kernel (gemm_bf16s.c, instead of oneDNN's layout);
                       * otherwise as NN_GEMM_AUTO */
} nn_gemm_impl;

/* Packs w: row-major (n, k) elements of dtype src (SEIZE_ST_F32, _F16 or _BF16; F16/BF16
 * widen exactly for fp32) for precision p. 0, or SEIZE_EINVAL (dtype, zero size) /
 * SEIZE_ENOMEM with the message set. w may be freed afterwards. */
int nn_gemm_pack(const void *w, seize_st_dtype src, size_t n, size_t k, seize_precision p,
                 nn_gemm_impl impl, nn_gemm_w **out);
void nn_gemm_free(nn_gemm_w *w); /* accepts NULL */

size_t nn_gemm_rows(const nn_gemm_w *w);  /* n */
size_t nn_gemm_cols(const nn_gemm_w *w);  /* k */
size_t nn_gemm_bytes(const nn_gemm_w *w); /* resident bytes: packed data and scales */
/* Column slices given to nn_gemm_run must start (and end, unless at n) at a multiple of this:
 * 1 (portable), oneDNN's column block (64 on AVX-512), 16 on oneDNN's plain layout (AVX2), 32
 * (the own small-m kernel), or
 * n for a layout that cannot be cut (none seen so far): then only whole-width products. */
size_t nn_gemm_col_align(const nn_gemm_w *w);
/* What runs the products: "oneDNN 2.6.3 (avx512_core_bf16)" (oneDNN's effective ISA),
 * "own AVX512_BF16 small-m kernel" (NN_GEMM_SMALL_M),
 * "portable (OpenBLAS sgemm)", "portable (bf16 widened, OpenBLAS sgemm)", "portable (int8,
 * AVX2)" / "(int8, C)", or "oneDNN, portable for shapes it declined (...)": static text. */
const char *nn_gemm_describe(const nn_gemm_w *w);

nn_gemm_scratch *nn_gemm_scratch_new(void);    /* NULL when out of memory (message set) */
void nn_gemm_scratch_free(nn_gemm_scratch *s); /* accepts NULL */

/* Output columns [n0, n1) of y(m, n) = beta·y + x(m, k) · wᵀ (+ bias[n0..n1) when not NULL),
 * on the calling thread. x has row stride ldx (floats); y points at column 0 of row 0, stride
 * ldy; beta is 0 or 1. n0 and n1 must be multiples of nn_gemm_col_align(w) (n1 may be n).
 * oneDNN's fast kernels want dense operands: ldx = k and ldy = n1 - n0 run fused (bias and
 * beta inside oneDNN); otherwise x is copied densely / the product goes through scratch and a
 * separate epilogue. On steady calls (a shape seen before) this code allocates nothing (the
 * scratch grows to the largest m·k, m·(n1 - n0) seen); inside, oneDNN 2.x's execute allocates
 * a few small blocks for its argument map, and OpenBLAS's sgemm some buffers. 0, or SEIZE_ENOMEM
 * when the scratch cannot grow (message set; y unchanged then), or SEIZE_EINVAL when oneDNN fails
 * to run (message set). */
int nn_gemm_run(const nn_gemm_w *w, size_t m, size_t n0, size_t n1, const float *x, size_t ldx,
                const float *bias, float beta, float *y, size_t ldy, nn_gemm_scratch *s);

/* out[0..n) = x[0..n) rounded to bfloat16 bits, to nearest even (NaN stays a quiet NaN; no flush
 * of subnormals): how bf16 products round their x (AVX2 when the CPU has it, same bits). */
void nn_bf16_round(const float *x, size_t n, uint16_t *out);

/* --- between gemm.c and gemm_dnnl.c only (the oneDNN part; no other caller) ---------------- */

typedef struct nn_dnnl_w nn_dnnl_w;     /* a matrix in oneDNN's packed layout + primitives */
typedef struct nn_dnnl_tls nn_dnnl_tls; /* one thread's stream and memory objects */
typedef enum { NN_DNNL_F32, NN_DNNL_BF16, NN_DNNL_U8S8 } nn_dnnl_kind;

/* Packs plain row-major (n, k) w (float, bf16 bits, or int8) for kind. 0, 1 when oneDNN is not
 * built in or declines (the caller keeps the portable form), or SEIZE_ENOMEM. */
int nn_dnnl_pack(const void *w, nn_dnnl_kind kind, size_t n, size_t k, nn_dnnl_w **out);
void nn_dnnl_free(nn_dnnl_w *w);
size_t nn_dnnl_bytes(const nn_dnnl_w *w);
size_t nn_dnnl_col_align(const nn_dnnl_w *w);
const char *nn_dnnl_describe(void); /* "oneDNN 2.6.3 (avx512_core_bf16)", static */
void nn_dnnl_tls_free(nn_dnnl_tls *t);
/* Columns [n0, n1) of y = beta·y + x·wᵀ (+ bias) on the calling thread. x: float / bf16 / u8
 * rows, stride ldx elements; y: float (F32, BF16) or int32 (U8S8, beta 0, no bias), stride ldy.
 * 0, 1 when oneDNN declines this shape (nothing written), or SEIZE_ENOMEM. */
int nn_dnnl_run(nn_dnnl_w *w, nn_dnnl_tls **tls, size_t m, size_t n0, size_t n1, const void *x,
                size_t ldx, const float *bias, float beta, void *y, size_t ldy);
/* Tests only: when on, nn_dnnl_run declines every product (the run-time fallback's test). */
void nn_dnnl_test_decline(int on);
/* The plain row-major (n1 - n0, k) form of columns [n0, n1) (the run-time fallback). 0 or <0. */
int nn_dnnl_unpack(const nn_dnnl_w *w, size_t n0, size_t n1, void *out);

/* --- between gemm.c and gemm_bf16s.c only (NN_GEMM_SMALL_M's bf16 kernel) ------------------ */

typedef struct nn_bf16s_w nn_bf16s_w; /* w in column blocks of 32 for vdpbf16ps */

int nn_bf16s_supported(void); /* 1 when the CPU (and OS) run AVX512_BF16 */
/* Packs row-major (n, k) bf16 bits. 0 or SEIZE_ENOMEM (message set). */
int nn_bf16s_pack(const uint16_t *w, size_t n, size_t k, nn_bf16s_w **out);
void nn_bf16s_free(nn_bf16s_w *w); /* accepts NULL */
size_t nn_bf16s_bytes(const nn_bf16s_w *w);
size_t nn_bf16s_col_align(void);            /* 32 */
size_t nn_bf16s_xbytes(size_t m, size_t k); /* the scratch nn_bf16s_run needs, 64-byte aligned */
/* Columns [n0, n1) of y = beta·y + xb·wᵀ (+ bias): xb the dense bf16 rows (m, k); y and bias
 * point at column n0 (y stride ldy); n0 a multiple of 32; xs scratch of nn_bf16s_xbytes. */
void nn_bf16s_run(const nn_bf16s_w *w, size_t m, size_t n0, size_t n1, const uint16_t *xb,
                  const float *bias, float beta, float *y, size_t ldy, void *xs);

#endif
