// The own bf16 kernel for products of few rows (NN_GEMM_SMALL_M, src/nn/gemm.h), on CPUs with
// AVX512_BF16: a decoder step multiplies 15 rows by every weight matrix, where oneDNN 2.6
// reached 0.65-0.69 of vdpbf16ps's peak.
//
// Layout: w (n, k) in column blocks of 32 output columns, each (k2 = ceil(k/2), 32, 2) bf16:
// one k-pair of 32 columns is 128 contiguous bytes (two zmm of 16 columns × 2 k), the block a
// single sequential stream. Padding (columns up to a multiple of 32, the last k of an odd k)
// is zero. x is rounded to bf16 (nn_bf16_round, in gemm.c) and interleaved per block of up to
// 15 rows as (k2, 16) 32-bit pairs, rows past m zero.
// Kernel: up to 15 rows × 32 columns of float32 accumulators in zmm0-29, the block's two weight
// vectors in zmm30-31, x broadcast from memory ({1to16}); the whole depth in one pass, the
// weight stream prefetched 1 KiB ahead. Written in inline assembly because GCC 12 spills an
// accumulator and does not fold the broadcasts (intrinsics: 0.45 of peak, this: up to 0.86).
// Same semantics as oneDNN's bf16 path (vdpbf16ps: bf16 operands, float32 accumulation,
// denormal inputs and results flushed).
#include "gemm.h"

#include "seize/core.h"

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define COLS 32 // columns of a block (nn_gemm_col_align)
#define MR 15   // rows of x per kernel call

struct nn_bf16s_w {
    size_t n, k, k2;
    uint16_t *p; // (ceil(n/32), k2, 32, 2)
};

int nn_bf16s_supported(void)
{
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
}

// --- packing ------------------------------------------------------------------------------------

int nn_bf16s_pack(const uint16_t *w, size_t n, size_t k, nn_bf16s_w **out)
{
    size_t nb = (n + COLS - 1) / COLS, k2 = (k + 1) / 2, elems;
    if (seize_mul_size(nb * COLS * 2, k2, &elems) || elems > SIZE_MAX / 2)
        return seize_error(SEIZE_ENOMEM, "matrix too large (%zu x %zu)", n, k);
    nn_bf16s_w *g = calloc(1, sizeof *g);
    uint16_t *p = seize_alloc_aligned(elems, 2);
    if (!g || !p) {
        free(g), free(p);
        return seize_error(SEIZE_ENOMEM, "out of memory (%zu bytes of weights)", elems * 2);
    }
    g->n = n, g->k = k, g->k2 = k2, g->p = p;
    // 32 rows of w read in step (sequential each), the block written sequentially
    for (size_t b = 0; b < nb; b++) {
        uint16_t *o = p + b * k2 * COLS * 2;
        size_t c0 = b * COLS, nc = n - c0 < COLS ? n - c0 : COLS;
        for (size_t j = 0; j < k2; j++, o += COLS * 2) {
            size_t e = 2 * j;
            for (size_t c = 0; c < COLS; c++) {
                const uint16_t *row = w + (c0 + c) * k;
                o[2 * c] = c < nc ? row[e] : 0;
                o[2 * c + 1] = c < nc && e + 1 < k ? row[e + 1] : 0;
            }
        }
    }
    *out = g;
    return 0;
}

void nn_bf16s_free(nn_bf16s_w *w)
{
    if (!w) return;
    free(w->p);
    free(w);
}

size_t nn_bf16s_bytes(const nn_bf16s_w *w)
{
    return (w->n + COLS - 1) / COLS * COLS * w->k2 * 4;
}

size_t nn_bf16s_col_align(void)
{
    return COLS;
}

size_t nn_bf16s_xbytes(size_t m, size_t k)
{
    return (m + MR - 1) / MR * ((k + 1) / 2) * 16 * sizeof(uint32_t);
}

// --- kernels ------------------------------------------------------------------------------------

// Row r of a block: accumulators zmm a (columns 0-15) and zmm b (16-31).
#define R_ZERO(r, a, b)                                                                            \
    "vpxord %%zmm" #a ", %%zmm" #a ", %%zmm" #a "\n\t"                                             \
    "vpxord %%zmm" #b ", %%zmm" #b ", %%zmm" #b "\n\t"
#define R_DP(r, a, b)                                                                              \
    "vdpbf16ps " #r "*4(%[x])%{1to16%}, %%zmm30, %%zmm" #a "\n\t"                                  \
    "vdpbf16ps " #r "*4(%[x])%{1to16%}, %%zmm31, %%zmm" #b "\n\t"
#define R_ST(r, a, b)                                                                              \
    "vmovups %%zmm" #a ", " #r "*128(%[o])\n\t"                                                    \
    "vmovups %%zmm" #b ", " #r "*128+64(%[o])\n\t"

#define ROWS4(X) X(0, 0, 1) X(1, 2, 3) X(2, 4, 5) X(3, 6, 7)
#define ROWS8(X) ROWS4(X) X(4, 8, 9) X(5, 10, 11) X(6, 12, 13) X(7, 14, 15)
#define ROWS15(X)                                                                                  \
    ROWS8(X)                                                                                       \
    X(8, 16, 17) X(9, 18, 19) X(10, 20, 21) X(11, 22, 23) X(12, 24, 25) X(13, 26, 27) X(14, 28, 29)

#define CLOBBERS                                                                                   \
    "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",        \
        "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18",   \
        "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28",  \
        "xmm29", "xmm30", "xmm31"

// o (rows, 32) = x (k2 pairs × 16 rows) · the block w (k2, 32, 2); k2 >= 1.
// clang-format off
#define KERNEL(name, ROWS)                                                                         \
    TGT static void name(const uint32_t *x, const uint16_t *w, size_t k2, float *o)                \
    {                                                                                              \
        __asm__ volatile(ROWS(R_ZERO)                                                              \
                         "1:\n\t"                                                                  \
                         "prefetcht0 1024(%[w])\n\t"                                               \
                         "prefetcht0 1088(%[w])\n\t"                                               \
                         "vmovdqu64 (%[w]), %%zmm30\n\t"                                           \
                         "vmovdqu64 64(%[w]), %%zmm31\n\t"                                         \
                         ROWS(R_DP)                                                                \
                         "add $128, %[w]\n\t"                                                      \
                         "add $64, %[x]\n\t"                                                       \
                         "dec %[c]\n\t"                                                            \
                         "jnz 1b\n\t"                                                              \
                         ROWS(R_ST)                                                                \
                         : [x] "+r"(x), [w] "+r"(w), [c] "+r"(k2)                                  \
                         : [o] "r"(o)                                                              \
                         : CLOBBERS);                                                              \
    }
// clang-format on

KERNEL(kernel4, ROWS4)
KERNEL(kernel8, ROWS8)
KERNEL(kernel15, ROWS15)

// y[r][0..nc) = o[r][0..nc) (+ bias) (+ y when beta is 1), nc <= 32.
TGT static void epilogue(const float *o, size_t rows, size_t nc, const float *bias, float beta,
                         float *y, size_t ldy)
{
    __mmask16 m0 = (__mmask16)(nc >= 16 ? 0xffff : (1u << nc) - 1);
    __mmask16 m1 = (__mmask16)(nc >= 32 ? 0xffff : nc <= 16 ? 0 : (1u << (nc - 16)) - 1);
    __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
    if (bias) b0 = _mm512_maskz_loadu_ps(m0, bias), b1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    for (size_t r = 0; r < rows; r++) {
        float *yr = y + r * ldy;
        __m512 v0 = _mm512_add_ps(_mm512_load_ps(o + r * COLS), b0);
        __m512 v1 = _mm512_add_ps(_mm512_load_ps(o + r * COLS + 16), b1);
        if (beta != 0.0f) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, yr));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, yr + 16));
        }
        _mm512_mask_storeu_ps(yr, m0, v0);
        _mm512_mask_storeu_ps(yr + 16, m1, v1);
    }
}

// --- running ------------------------------------------------------------------------------------

// xs (ceil(m/15), k2, 16) = the bf16 rows xb (m, k) as pairs, rows past m zero.
static void interleave_x(const uint16_t *xb, size_t m, size_t k, size_t k2, uint32_t *xs)
{
    size_t nrb = (m + MR - 1) / MR;
    memset(xs, 0, nrb * k2 * 16 * sizeof *xs);
    for (size_t r = 0; r < m; r++) {
        const uint16_t *row = xb + r * k;
        uint32_t *o = xs + (r / MR) * k2 * 16 + r % MR;
        for (size_t j = 0; j < k / 2; j++)
            o[j * 16] = (uint32_t)row[2 * j] | (uint32_t)row[2 * j + 1] << 16;
        if (k & 1) o[(k2 - 1) * 16] = row[k - 1];
    }
}

void nn_bf16s_run(const nn_bf16s_w *w, size_t m, size_t n0, size_t n1, const uint16_t *xb,
                  const float *bias, float beta, float *y, size_t ldy, void *xs)
{
    size_t k2 = w->k2, nrb = (m + MR - 1) / MR;
    float o[MR * COLS] __attribute__((aligned(64)));
    interleave_x(xb, m, w->k, k2, xs);
    // each block of w (k·64 bytes) is read once from memory and reused by all row blocks
    for (size_t c = n0; c < n1; c += COLS) {
        const uint16_t *wb = w->p + c / COLS * k2 * COLS * 2;
        size_t nc = n1 - c < COLS ? n1 - c : COLS;
        for (size_t rb = 0; rb < nrb; rb++) {
            size_t rows = m - rb * MR < MR ? m - rb * MR : MR;
            const uint32_t *xr = (const uint32_t *)xs + rb * k2 * 16;
            if (rows <= 4)
                kernel4(xr, wb, k2, o);
            else if (rows <= 8)
                kernel8(xr, wb, k2, o);
            else
                kernel15(xr, wb, k2, o);
            epilogue(o, rows, nc, bias ? bias + (c - n0) : NULL, beta, y + rb * MR * ldy + (c - n0),
                     ldy);
        }
    }
}
