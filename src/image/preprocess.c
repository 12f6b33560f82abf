// TargetPad → Resize (Pillow's antialiased bicubic / nearest) → CenterCrop → RGB → normalise,
// reproducing Pillow 9.4 + torchvision bit for bit.
//
// Pillow resizes the whole (padded) image and torchvision then crops it. Every output pixel of
// Pillow's separable resampler depends only on its own row and column coefficients, so we
// compute just the crop window, with the same coefficients and the same integer arithmetic, and
// get the same values. Padding is virtual: padded pixels are 0 in every working
// representation (including premultiplied RGBa and palette index 0), and a zero term adds
// nothing to Pillow's sums, so windows are clipped to the real image. The vertical pass is
// streamed: each source row is filtered horizontally once and added, in ascending row order
// (Pillow's order, which matters for the floating-point mode I), to the accumulators of the
// output rows whose windows contain it. Memory: O(size² + image width).
#include "seize/image.h"

#include "internal.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF // Pillow's coefficients are computed without fused multiply-add
#endif

#define PRECISION_BITS (32 - 8 - 2) // Pillow's fixed point for 8-bit images
#define MAX_SIZE 8192

seize_preprocess_opts seize_preprocess_default_opts(void)
{
    // The float32 values torch makes of open_clip's Python floats.
    seize_preprocess_opts o = {
        .pad_ratio = 1.25,
        .size = 224,
        .max_pixels = SEIZE_IMAGE_MAX_PIXELS,
        .mean = {(float)0.48145466, (float)0.4578275, (float)0.40821073},
        .std = {(float)0.26862954, (float)0.26130258, (float)0.27577711},
    };
    return o;
}

// --- Pillow's arithmetic --------------------------------------------------------------------

static inline double bicubic(double x) // Keys cubic, a = -0.5, support 2
{
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static inline uint8_t clip8(int32_t v) // fixed point → uint8, floor then clamp
{
    if (v >= (1 << PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

static inline int32_t round_up(double f) // Pillow's ROUND_UP for the 32-bit path
{
    return (int32_t)(f >= 0.0 ? f + 0.5F : f - 0.5F);
}

static inline unsigned muldiv255(unsigned a, unsigned b)
{
    unsigned t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

static inline uint8_t clip8i(int v)
{
    return (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : v);
}

// --- one axis of the resampler --------------------------------------------------------------

// The filter windows of the `n` output positions off..off+n-1 of a resize from `in_size`
// (padded) to `out_size`, clipped to the real image [pad, pad + n_img) and expressed in image
// coordinates. Positions whose window misses the image have len 0 (their value is 0).
typedef struct axis {
    int n, kstride;
    long *start;
    int *len;
    int32_t *k8; // (n, kstride) fixed point
    double *kd;  // (n, kstride) normalised doubles (mode I)
} axis;

static void axis_free(axis *a)
{
    free(a->start);
    free(a->len);
    free(a->k8);
    free(a->kd);
}

static int axis_init(axis *a, long in_size, long pad, long n_img, long out_size, long off, int n)
{
    memset(a, 0, sizeof *a);
    a->n = n;
    a->start = seize_malloc((size_t)n, sizeof *a->start);
    a->len = seize_malloc((size_t)n, sizeof *a->len);
    long *wmin = seize_malloc((size_t)n, sizeof *wmin),
         *wlen = seize_malloc((size_t)n, sizeof *wlen);
    if (!a->start || !a->len || !wmin || !wlen) goto oom;

    int need = out_size != in_size; // Pillow skips a pass whose size does not change
    // Pillow passes the box as C floats: in1 - in0 is (float)in_size.
    double scale = (double)(float)in_size / (double)out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale, ss = 1.0 / filterscale;
    int kstride = 1;
    for (int i = 0; i < n; i++) {
        long xx = off + i, lo, hi; // window [lo, hi) in padded coordinates
        if (need) {
            double center = 0.0 + ((double)xx + 0.5) * scale;
            lo = (long)(center - support + 0.5);
            if (lo < 0) lo = 0;
            hi = (long)(center + support + 0.5);
            if (hi > in_size) hi = in_size;
        } else {
            lo = xx;
            hi = xx + 1;
        }
        wmin[i] = lo;
        wlen[i] = hi - lo;
        long clo = lo > pad ? lo : pad, chi = hi < pad + n_img ? hi : pad + n_img;
        if (chi < clo) chi = clo;
        a->start[i] = clo - pad;
        a->len[i] = (int)(chi - clo);
        if (a->len[i] > kstride) kstride = a->len[i];
    }
    a->kstride = kstride;
    a->k8 = seize_calloc((size_t)n, (size_t)kstride * sizeof *a->k8);
    a->kd = seize_calloc((size_t)n, (size_t)kstride * sizeof *a->kd);
    if (!a->k8 || !a->kd) goto oom;
    for (int i = 0; i < n; i++) {
        int32_t *k8 = a->k8 + (size_t)i * kstride;
        double *kd = a->kd + (size_t)i * kstride;
        if (!need) {
            if (a->len[i]) {
                k8[0] = 1 << PRECISION_BITS; // a copy, exactly
                kd[0] = 1.0;
            }
            continue;
        }
        // Pillow normalises by the sum over the whole window, padding included.
        long xx = off + i, lo = wmin[i], first = a->start[i] + pad - lo;
        double center = 0.0 + ((double)xx + 0.5) * scale, ww = 0.0;
        for (long x = 0; x < wlen[i]; x++) {
            double w = bicubic(((double)(x + lo) - center + 0.5) * ss);
            ww += w;
            if (x >= first && x < first + a->len[i]) kd[x - first] = w;
        }
        for (int j = 0; j < a->len[i]; j++) {
            if (ww != 0.0) kd[j] /= ww;
            double f = kd[j] * (1 << PRECISION_BITS);
            k8[j] = (int32_t)(kd[j] < 0 ? -0.5 + f : 0.5 + f);
        }
    }
    free(wmin);
    free(wlen);
    return 0;
oom:
    free(wmin);
    free(wlen);
    axis_free(a);
    return seize_error(SEIZE_ENOMEM, "out of memory computing resampling coefficients");
}

// --- resampling of 8-bit modes (L, LA, RGB, RGBA, CMYK) and of mode I ------------------------
//
// Working layouts: mode L is filtered as one byte per pixel; LA, RGB, RGBA and CMYK as four
// (LA as L, A, 0, 0; RGB as R, G, B, 0), which lets one SIMD kernel handle them all. Integer
// sums are exact, so the order of the additions (SIMD lanes, tap pairs) cannot change a
// result.

#define HALF (1 << (PRECISION_BITS - 1))

// Horizontal pass, one byte per pixel: t[i] = clip8(HALF + Σ k[j]·row[start + j]).
static void hpass_1(const uint8_t *row, const axis *ax, uint8_t *t)
{
    for (int i = 0; i < ax->n; i++) {
        const int32_t *k = ax->k8 + (size_t)i * ax->kstride;
        const uint8_t *p = row + ax->start[i];
        int len = ax->len[i], j = 0;
        int32_t s = HALF;
#ifdef __AVX2__
        __m256i acc = _mm256_setzero_si256();
        for (; j + 8 <= len; j += 8) {
            __m256i px = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + j)));
            acc = _mm256_add_epi32(
                acc, _mm256_mullo_epi32(px, _mm256_loadu_si256((const __m256i *)(k + j))));
        }
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
        s += _mm_cvtsi128_si32(h);
#endif
        for (; j < len; j++)
            s += p[j] * k[j];
        t[i] = clip8(s);
    }
}

// Horizontal pass, four bytes per pixel: t[4i + c] = clip8(HALF + Σ k[j]·row[4(start + j) + c]).
static void hpass_4(const uint8_t *row, const axis *ax, uint8_t *t)
{
    for (int i = 0; i < ax->n; i++) {
        const int32_t *k = ax->k8 + (size_t)i * ax->kstride;
        const uint8_t *p = row + (size_t)ax->start[i] * 4;
        int len = ax->len[i], j = 0;
#ifdef __AVX2__
        __m256i acc = _mm256_setzero_si256();
        for (; j + 2 <= len; j += 2) { // two pixels, four channels each
            __m256i px = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 4 * j)));
            __m256i kk =
                _mm256_setr_epi32(k[j], k[j], k[j], k[j], k[j + 1], k[j + 1], k[j + 1], k[j + 1]);
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(px, kk));
        }
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        s = _mm_add_epi32(s, _mm_set1_epi32(HALF));
        if (j < len) {
            int32_t v;
            memcpy(&v, p + 4 * j, 4);
            __m128i px = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(v));
            s = _mm_add_epi32(s, _mm_mullo_epi32(px, _mm_set1_epi32(k[j])));
        }
        int32_t o[4];
        _mm_storeu_si128((__m128i *)o, s);
        for (int c = 0; c < 4; c++)
            t[4 * i + c] = clip8(o[c]);
#else
        int32_t s0 = HALF, s1 = HALF, s2 = HALF, s3 = HALF;
        for (; j < len; j++) {
            s0 += p[4 * j] * k[j];
            s1 += p[4 * j + 1] * k[j];
            s2 += p[4 * j + 2] * k[j];
            s3 += p[4 * j + 3] * k[j];
        }
        t[4 * i] = clip8(s0), t[4 * i + 1] = clip8(s1), t[4 * i + 2] = clip8(s2);
        t[4 * i + 3] = clip8(s3);
#endif
    }
}

// Vertical pass, streamed: acc[i] += k·t[i].
static void vadd_8(int32_t *restrict acc, const uint8_t *restrict t, size_t n, int32_t k)
{
    size_t i = 0;
#ifdef __AVX2__
    __m256i kk = _mm256_set1_epi32(k);
    for (; i + 8 <= n; i += 8) {
        __m256i px = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(t + i)));
        __m256i a = _mm256_loadu_si256((const __m256i *)(acc + i));
        _mm256_storeu_si256((__m256i *)(acc + i), _mm256_add_epi32(a, _mm256_mullo_epi32(px, kk)));
    }
#endif
    for (; i < n; i++)
        acc[i] += t[i] * k;
}

static void hpass32(const int32_t *row, const axis *ax, int32_t *t)
{
    for (int i = 0; i < ax->n; i++) {
        const double *k = ax->kd + (size_t)i * ax->kstride;
        const int32_t *p = row + ax->start[i];
        double s = 0.0;
        for (int j = 0; j < ax->len[i]; j++)
            s += p[j] * k[j];
        t[i] = round_up(s);
    }
}

// Copies columns [lo, hi) of a source row into the four-byte layout, premultiplying alpha as
// Pillow's convert("La") / convert("RGBa") does when `premul`.
static void widen_row(const uint8_t *src, uint8_t *dst, long lo, long hi, int ch, int premul)
{
    for (long x = lo; x < hi; x++) {
        const uint8_t *s = src + x * ch;
        uint8_t *d = dst + x * 4;
        if (ch == 2) {
            d[0] = premul ? (uint8_t)muldiv255(s[0], s[1]) : s[0];
            d[1] = s[1];
            d[2] = d[3] = 0;
        } else if (ch == 3) {
            d[0] = s[0], d[1] = s[1], d[2] = s[2], d[3] = 0;
        } else {
            unsigned a = s[3];
            d[0] = premul ? (uint8_t)muldiv255(s[0], a) : s[0];
            d[1] = premul ? (uint8_t)muldiv255(s[1], a) : s[1];
            d[2] = premul ? (uint8_t)muldiv255(s[2], a) : s[2];
            d[3] = (uint8_t)a;
        }
    }
}

struct geom {
    long w, h;      // image
    long hp, vp;    // padding left/right, top/bottom
    long pw, ph;    // padded size
    long nw, nh;    // resized size
    long left, top; // crop offsets in the resized image
    int S;          // crop size
};

// --- the pipeline as a row consumer -----------------------------------------------------------
//
// pp_init plans the geometry and allocates O(size² + width) state; pp_row takes source rows in
// ascending order (rows nobody needs are ignored, so callers may feed every row); pp_finish
// writes the uint8 RGB crop. seize_image_preprocess_u8 feeds the rows of a decoded image;
// seize_image_load_preprocess feeds rows straight from the decoder, so the whole decoded image
// never exists in memory.

enum { PP_COPY, PP_NEAREST, PP_RESAMPLE8, PP_RESAMPLE32 };

typedef struct pp {
    struct geom g;
    seize_image_mode mode;
    uint8_t palette[256 * 3];
    int kind, resized, ch, lanes, premul, widen;
    size_t bpp, ws; // source bytes per pixel; working bytes per pixel
    uint8_t *work;  // (S, S, ws) crop in the working layout
    // PP_COPY / PP_NEAREST: image row of each output row (-1 above, h below the image) and
    // image column of each output column (-1 when in the padding).
    long *ysrc, *xsrc;
    int ycur;
    // PP_RESAMPLE*
    axis ah, av;
    int32_t *acc;
    double *accd;
    void *t;
    uint8_t *wide;
    long clo, chi, rlo, rhi;
    int ylo;
    // squash (BLIP): rows are converted to RGB before anything else
    seize_image_mode src_mode;
    uint8_t *rgb; // one source row in RGB, or NULL
} pp;

static void pp_free(pp *p)
{
    free(p->work);
    free(p->ysrc);
    free(p->xsrc);
    axis_free(&p->ah);
    axis_free(&p->av);
    free(p->acc);
    free(p->accd);
    free(p->t);
    free(p->wide);
    free(p->rgb);
    memset(p, 0, sizeof *p);
}

static long round_half_even_div2(long d)
{
    long h = d / 2;
    return (d & 1) && (h & 1) ? h + 1 : h;
}

static int plan(size_t width, size_t height, const seize_preprocess_opts *o, struct geom *g)
{
    if (width == 0 || height == 0) return seize_error(SEIZE_EINVAL, "preprocess: empty image");
    if (o->size < 1 || o->size > MAX_SIZE)
        return seize_error(SEIZE_EINVAL, "preprocess: size %d out of range 1..%d", o->size,
                           MAX_SIZE);
    if (!(o->pad_ratio == 0.0 || (o->pad_ratio >= 1.0 && isfinite(o->pad_ratio))))
        return seize_error(SEIZE_EINVAL, "preprocess: pad ratio %g must be 0 (none) or >= 1",
                           o->pad_ratio);
    if (width > INT_MAX || height > INT_MAX)
        return seize_error(SEIZE_EFORMAT, "preprocess: image too large (%zux%zu)", width, height);
    if (o->squash && o->pad_ratio != 0.0)
        return seize_error(SEIZE_EINVAL, "preprocess: squash needs pad ratio 0 (got %g)",
                           o->pad_ratio);
    memset(g, 0, sizeof *g);
    g->S = o->size;
    g->w = (long)width;
    g->h = (long)height;
    if (o->squash) { // BLIP: both sides to size, nothing padded or cropped
        g->pw = g->w;
        g->ph = g->h;
        g->nw = g->nh = g->S;
        return 0;
    }
    // TargetPad (SEIZE): pad to an aspect ratio of at most `ratio`, truncating.
    if (o->pad_ratio > 0) {
        double mx = (double)(g->w > g->h ? g->w : g->h), mn = (double)(g->w < g->h ? g->w : g->h);
        if (!(mx / mn < o->pad_ratio)) {
            double s = mx / o->pad_ratio;
            double hp = (s - (double)g->w) / 2, vp = (s - (double)g->h) / 2;
            g->hp = hp > 0 ? (long)hp : 0;
            g->vp = vp > 0 ? (long)vp : 0;
        }
    }
    g->pw = g->w + 2 * g->hp;
    g->ph = g->h + 2 * g->vp;
    if (g->pw > INT_MAX || g->ph > INT_MAX)
        return seize_error(SEIZE_EFORMAT, "preprocess: padded image too large");
    // torchvision Resize(size): shorter side to size, longer int(size * long / short).
    long shrt = g->pw <= g->ph ? g->pw : g->ph, lng = g->pw <= g->ph ? g->ph : g->pw;
    double nl = (double)((long long)g->S * lng) / (double)shrt;
    if (nl >= (double)INT_MAX)
        return seize_error(SEIZE_EFORMAT,
                           "preprocess: aspect ratio too extreme (%ldx%ld would resize to more "
                           "than %d pixels on one side)",
                           g->pw, g->ph, INT_MAX);
    if (g->pw <= g->ph) {
        g->nw = g->S;
        g->nh = (long)nl;
    } else {
        g->nw = (long)nl;
        g->nh = g->S;
    }
    // CenterCrop(size): round((dim - size) / 2) with Python's half-to-even rounding.
    g->top = round_half_even_div2(g->nh - g->S);
    g->left = round_half_even_div2(g->nw - g->S);
    return 0;
}

// PP_COPY / PP_NEAREST: the image row of each output row and image column of each output
// column.
static void index_tables(pp *p)
{
    const struct geom *g = &p->g;
    size_t S = (size_t)g->S;
    if (p->kind == PP_COPY) {
        for (size_t i = 0; i < S; i++) {
            p->ysrc[i] = g->top + (long)i - g->vp;
            p->xsrc[i] = g->left + (long)i - g->hp;
        }
    } else {
        // Pillow resizes P and 1 with an affine "scale" transform whose source position
        // advances by repeated addition (so we add too, rather than multiply).
        double ax = (double)(float)g->pw / (double)g->nw;
        double ay = (double)(float)g->ph / (double)g->nh;
        double xo = 0.0 + ax * 0.5, yo = 0.0 + ay * 0.5;
        for (long x = 0; x < g->left + g->S; x++) {
            if (x >= g->left) {
                long xi = xo < 0.0 ? -1 : (long)xo;
                p->xsrc[x - g->left] = xi >= g->pw ? -1 : xi - g->hp;
            }
            xo += ax;
        }
        for (long y = 0; y < g->top + g->S; y++) {
            if (y >= g->top) {
                long yi = yo < 0.0 ? -1 : (long)yo;
                p->ysrc[y - g->top] = yi < 0 ? -1 : yi >= g->ph ? g->h : yi - g->vp;
            }
            yo += ay;
        }
    }
    for (size_t i = 0; i < S; i++) {
        if (p->xsrc[i] < 0 || p->xsrc[i] >= g->w) p->xsrc[i] = -1;
        if (p->ysrc[i] < 0) p->ysrc[i] = -1;
        if (p->ysrc[i] > g->h) p->ysrc[i] = g->h;
    }
}

static int pp_init(pp *p, size_t width, size_t height, seize_image_mode mode,
                   const uint8_t *palette, const seize_preprocess_opts *o)
{
    memset(p, 0, sizeof *p);
    int rc = plan(width, height, o, &p->g);
    if (rc < 0) return rc;
    const struct geom *g = &p->g;
    size_t S = (size_t)g->S;
    if (palette) memcpy(p->palette, palette, sizeof p->palette);
    p->src_mode = mode;
    if (o->squash && mode != SEIZE_MODE_RGB) { // BLIP converts to RGB, then resizes
        if (!(p->rgb = seize_malloc(width, 3))) goto oom;
        mode = SEIZE_MODE_RGB;
    }
    p->mode = mode;
    p->bpp = seize_image_pixel_bytes(mode);
    p->resized = g->nw != g->pw || g->nh != g->ph;
    if (!p->resized)
        p->kind = PP_COPY;
    else if (mode == SEIZE_MODE_P || mode == SEIZE_MODE_1)
        p->kind = PP_NEAREST; // Pillow's rule
    else if (mode == SEIZE_MODE_I)
        p->kind = PP_RESAMPLE32;
    else
        p->kind = PP_RESAMPLE8;
    p->ch = (int)p->bpp;
    p->lanes = (p->kind == PP_RESAMPLE32 || p->bpp == 1) ? 1 : 4;
    p->ws = p->kind == PP_RESAMPLE8 ? (size_t)p->lanes : p->bpp;
    p->work = seize_calloc(S * S, p->ws);
    if (!p->work) goto oom;

    if (p->kind == PP_COPY || p->kind == PP_NEAREST) {
        p->ysrc = seize_malloc(S, sizeof *p->ysrc);
        p->xsrc = seize_malloc(S, sizeof *p->xsrc);
        if (!p->ysrc || !p->xsrc) goto oom;
        index_tables(p);
        return 0;
    }

    rc = axis_init(&p->ah, g->pw, g->hp, g->w, g->nw, g->left, g->S);
    if (rc == 0) rc = axis_init(&p->av, g->ph, g->vp, g->h, g->nh, g->top, g->S);
    if (rc < 0) {
        pp_free(p);
        return rc;
    }
    int is32 = p->kind == PP_RESAMPLE32;
    size_t rowlen = S * (size_t)p->lanes, plane = rowlen * S;
    p->premul = mode == SEIZE_MODE_LA || mode == SEIZE_MODE_RGBA; // Pillow resizes La / RGBa
    p->widen = p->lanes == 4 && (p->ch != 4 || p->premul);
    if (is32)
        p->accd = seize_calloc(plane, sizeof *p->accd);
    else
        p->acc = seize_malloc(plane, sizeof *p->acc);
    p->t = seize_malloc(rowlen, is32 ? sizeof(int32_t) : 1);
    if (p->widen) p->wide = seize_malloc((size_t)g->w, 4);
    if ((!p->acc && !p->accd) || !p->t || (p->widen && !p->wide)) goto oom;
    if (!is32)
        for (size_t i = 0; i < plane; i++)
            p->acc[i] = HALF;
    // Columns the horizontal pass reads, and rows the vertical pass reads.
    p->clo = g->w, p->chi = 0, p->rlo = g->h, p->rhi = 0;
    for (int i = 0; i < g->S; i++) {
        const axis *ah = &p->ah, *av = &p->av;
        if (ah->len[i]) {
            if (ah->start[i] < p->clo) p->clo = ah->start[i];
            if (ah->start[i] + ah->len[i] > p->chi) p->chi = ah->start[i] + ah->len[i];
        }
        if (av->len[i]) {
            if (av->start[i] < p->rlo) p->rlo = av->start[i];
            if (av->start[i] + av->len[i] > p->rhi) p->rhi = av->start[i] + av->len[i];
        }
    }
    return 0;
oom:
    pp_free(p);
    return seize_error(SEIZE_ENOMEM, "out of memory preprocessing image");
}

// Pillow's convert("RGB") of w pixels in mode m, `stride` bytes apart (palette lookup, 1 → 0/255,
// gray replicated, I clipped, alpha dropped, Pillow's cmyk2rgb).
static void row_to_rgb(const uint8_t *src, size_t stride, uint8_t *dst, size_t w,
                       seize_image_mode m, const uint8_t *palette)
{
    for (size_t x = 0; x < w; x++) {
        const uint8_t *q = src + x * stride;
        uint8_t *d = dst + 3 * x;
        switch (m) {
        case SEIZE_MODE_1:
            d[0] = d[1] = d[2] = q[0] ? 255 : 0;
            break;
        case SEIZE_MODE_L:
        case SEIZE_MODE_LA:
            d[0] = d[1] = d[2] = q[0];
            break;
        case SEIZE_MODE_P:
            memcpy(d, palette + 3 * q[0], 3);
            break;
        case SEIZE_MODE_I: {
            int32_t v;
            memcpy(&v, q, sizeof v);
            d[0] = d[1] = d[2] = clip8i(v);
            break;
        }
        case SEIZE_MODE_RGB:
        case SEIZE_MODE_RGBA:
            memcpy(d, q, 3);
            break;
        case SEIZE_MODE_CMYK: {
            unsigned nk = 255u - q[3];
            for (int c = 0; c < 3; c++)
                d[c] = clip8i((int)nk - (int)muldiv255(q[c], nk));
            break;
        }
        }
    }
}

// Consumes source row r (image coordinates). Rows must come in ascending order.
static void pp_row(pp *p, long r, const uint8_t *row)
{
    const struct geom *g = &p->g;
    int S = g->S;
    if (p->rgb) {
        row_to_rgb(row, seize_image_pixel_bytes(p->src_mode), p->rgb, (size_t)g->w, p->src_mode,
                   p->palette);
        row = p->rgb;
    }
    if (p->kind == PP_COPY || p->kind == PP_NEAREST) {
        while (p->ycur < S && p->ysrc[p->ycur] < r)
            p->ycur++;
        for (int y = p->ycur; y < S && p->ysrc[y] == r; y++) {
            uint8_t *d = p->work + (size_t)y * (size_t)S * p->ws;
            for (int x = 0; x < S; x++)
                if (p->xsrc[x] >= 0)
                    memcpy(d + (size_t)x * p->ws, row + (size_t)p->xsrc[x] * p->bpp, p->bpp);
        }
        return;
    }
    if (r < p->rlo || r >= p->rhi) return;
    const axis *av = &p->av;
    while (p->ylo < S && (av->len[p->ylo] == 0 || av->start[p->ylo] + av->len[p->ylo] <= r))
        p->ylo++;
    if (p->ylo >= S || av->start[p->ylo] > r) return; // no output row uses this source row
    size_t rowlen = (size_t)S * (size_t)p->lanes;
    if (p->kind == PP_RESAMPLE32) {
        int32_t *tr = p->t;
        hpass32((const int32_t *)(const void *)row, &p->ah, tr);
        // Ascending r for every accumulator: Pillow's order of the double additions.
        for (int y = p->ylo; y < S && av->start[y] <= r; y++) {
            if (!av->len[y]) continue;
            double k = av->kd[(size_t)y * av->kstride + (size_t)(r - av->start[y])];
            double *a = p->accd + (size_t)y * rowlen;
            for (size_t i = 0; i < rowlen; i++)
                a[i] += tr[i] * k;
        }
        return;
    }
    if (p->widen) {
        widen_row(row, p->wide, p->clo, p->chi, p->ch, p->premul);
        row = p->wide;
    }
    if (p->lanes == 1)
        hpass_1(row, &p->ah, p->t);
    else
        hpass_4(row, &p->ah, p->t);
    for (int y = p->ylo; y < S && av->start[y] <= r; y++) {
        if (!av->len[y]) continue;
        int32_t k = av->k8[(size_t)y * av->kstride + (size_t)(r - av->start[y])];
        vadd_8(p->acc + (size_t)y * rowlen, p->t, rowlen, k);
    }
}

// Finishes the resampling and converts the crop to RGB (Pillow's convert("RGB"), after undoing
// the premultiplication of a resized LA/RGBA image). out: (S, S, 3).
static void pp_finish(pp *p, uint8_t *out)
{
    size_t S = (size_t)p->g.S, n = S * S;
    seize_image_mode m = p->mode;
    if (p->kind == PP_RESAMPLE8)
        for (size_t i = 0; i < n * p->ws; i++)
            p->work[i] = clip8(p->acc[i]);
    if (p->kind == PP_RESAMPLE32) {
        int32_t *w = (int32_t *)(void *)p->work;
        for (size_t i = 0; i < n; i++)
            w[i] = round_up(p->accd[i]);
    }
    if (m != SEIZE_MODE_LA && m != SEIZE_MODE_RGBA) {
        row_to_rgb(p->work, p->ws, out, n, m, p->palette);
        return;
    }
    int resized = p->resized, nc = m == SEIZE_MODE_LA ? 1 : 3;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *q = p->work + i * p->ws;
        unsigned a = q[m == SEIZE_MODE_LA ? 1 : 3];
        uint8_t v[3];
        for (int c = 0; c < nc; c++)
            v[c] = (!resized || a == 0 || a == 255) ? q[c] : clip8i((int)(255 * q[c] / a));
        if (nc == 1) v[1] = v[2] = v[0];
        memcpy(out + 3 * i, v, 3);
    }
}

// ToTensor (x / 255) then Normalize ((x - mean) / std), both in float32; CHW.
static void normalise(const uint8_t *rgb, size_t n, const seize_preprocess_opts *o, float *out)
{
    for (int c = 0; c < 3; c++) {
        float lut[256];
        for (int v = 0; v < 256; v++)
            lut[v] = ((float)v / 255.0f - o->mean[c]) / o->std[c];
        float *plane = out + (size_t)c * n;
        for (size_t i = 0; i < n; i++)
            plane[i] = lut[rgb[3 * i + c]];
    }
}

// --- public entry points ----------------------------------------------------------------------

int seize_image_preprocess_u8(const seize_image *img, const seize_preprocess_opts *o, uint8_t *out)
{
    if (!img || !img->data) return seize_error(SEIZE_EINVAL, "preprocess: no image");
    pp p;
    int rc = pp_init(&p, img->width, img->height, img->mode,
                     img->mode == SEIZE_MODE_P ? img->palette : NULL, o);
    if (rc < 0) return rc;
    size_t stride = img->width * seize_image_pixel_bytes(img->mode);
    for (size_t r = 0; r < img->height; r++)
        pp_row(&p, (long)r, img->data + r * stride);
    pp_finish(&p, out);
    pp_free(&p);
    return 0;
}

int seize_image_preprocess(const seize_image *img, const seize_preprocess_opts *o, float *out)
{
    struct geom g;
    if (!img) return seize_error(SEIZE_EINVAL, "preprocess: no image");
    int rc = plan(img->width, img->height, o, &g); // validate before allocating
    if (rc < 0) return rc;
    size_t n = (size_t)g.S * (size_t)g.S;
    uint8_t *rgb = seize_malloc(n, 3);
    if (!rgb) return seize_error(SEIZE_ENOMEM, "out of memory preprocessing image");
    rc = seize_image_preprocess_u8(img, o, rgb);
    if (rc == 0) normalise(rgb, n, o, out);
    free(rgb);
    return rc;
}

// The streaming sink: decoder rows go straight into the pipeline.
struct stream {
    const seize_preprocess_opts *o;
    pp p;
    int started;
};

static int stream_begin(void *ctx, size_t w, size_t h, seize_image_mode mode,
                        const uint8_t *palette)
{
    struct stream *s = ctx;
    int rc = pp_init(&s->p, w, h, mode, palette, s->o);
    if (rc == 0) s->started = 1;
    return rc;
}

static uint8_t *stream_row_dst(void *ctx, size_t y)
{
    (void)ctx, (void)y;
    return NULL;
}

static void stream_row_done(void *ctx, size_t y, const uint8_t *row)
{
    struct stream *s = ctx;
    pp_row(&s->p, (long)y, row);
}

int seize_image_decode_preprocess_u8(const void *buf, size_t len, const char *name,
                                     const seize_preprocess_opts *o, uint8_t *out)
{
    if (!name) name = "<memory>";
    struct geom g;
    int rc = plan(1, 1, o, &g); // options are checked before anything is decoded
    if (rc < 0) return seize_error_prefix(rc, "cannot preprocess '%s'", name);
    struct stream s = {.o = o};
    image_sink sink = {stream_begin, stream_row_dst, stream_row_done, &s};
    char format[8];
    rc = image_decode_stream(buf, len, name, o->max_pixels, &sink, format);
    if (rc == 0)
        pp_finish(&s.p, out);
    else if (!s.started && rc != SEIZE_ENOMEM && strncmp(seize_errmsg(), "cannot", 6))
        seize_error_prefix(rc, "cannot preprocess '%s'", name); // a geometry error
    if (s.started) pp_free(&s.p);
    return rc;
}

int seize_image_load_preprocess_u8(const char *path, const seize_preprocess_opts *o, uint8_t *out)
{
    seize_map m;
    int rc = seize_map_open(path, &m);
    if (rc < 0) return rc;
    rc = seize_image_decode_preprocess_u8(m.data, m.size, path, o, out);
    seize_map_close(&m);
    return rc;
}

int seize_image_load_preprocess(const char *path, const seize_preprocess_opts *o, float *out)
{
    size_t n = (size_t)o->size * (size_t)o->size;
    if (o->size < 1 || o->size > MAX_SIZE)
        return seize_error(SEIZE_EINVAL, "cannot preprocess '%s': size %d out of range 1..%d", path,
                           o->size, MAX_SIZE);
    uint8_t *rgb = seize_malloc(n, 3);
    if (!rgb) return seize_error(SEIZE_ENOMEM, "out of memory preprocessing '%s'", path);
    int rc = seize_image_load_preprocess_u8(path, o, rgb);
    if (rc == 0) normalise(rgb, n, o, out);
    free(rgb);
    return rc;
}
