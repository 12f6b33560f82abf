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
    long *wmin = seize_malloc((size_t)n, sizeof *wmin), *wlen = seize_malloc((size_t)n, sizeof *wlen);
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
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(px, _mm256_loadu_si256((const __m256i *)(k + j))));
        }
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
        s += _mm_cvtsi128_si32(h);
#endif
        for (; j < len; j++) s += p[j] * k[j];
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
            __m256i kk = _mm256_setr_epi32(k[j], k[j], k[j], k[j], k[j + 1], k[j + 1], k[j + 1], k[j + 1]);
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
        for (int c = 0; c < 4; c++) t[4 * i + c] = clip8(o[c]);
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
    for (; i < n; i++) acc[i] += t[i] * k;
}

static void hpass32(const int32_t *row, const axis *ax, int32_t *t)
{
    for (int i = 0; i < ax->n; i++) {
        const double *k = ax->kd + (size_t)i * ax->kstride;
        const int32_t *p = row + ax->start[i];
        double s = 0.0;
        for (int j = 0; j < ax->len[i]; j++) s += p[j] * k[j];
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
    long w, h;       // image
    long hp, vp;     // padding left/right, top/bottom
    long pw, ph;     // padded size
    long nw, nh;     // resized size
    long left, top;  // crop offsets in the resized image
    int S;           // crop size
};

// Resamples the crop window of the padded image. `ch` bytes per source pixel (1..4), or mode I
// when is32; premul for LA/RGBA. dst: (S, S) uint8 when ch == 1, (S, S, 4) uint8 in the
// four-byte layout when ch > 1, (S, S) int32 for mode I.
static int resample(const seize_image *img, const struct geom *g, int ch, int is32, int premul,
                    void *dst)
{
    int S = g->S;
    axis ah, av;
    int rc = axis_init(&ah, g->pw, g->hp, g->w, g->nw, g->left, S);
    if (rc < 0) return rc;
    rc = axis_init(&av, g->ph, g->vp, g->h, g->nh, g->top, S);
    if (rc < 0) {
        axis_free(&ah);
        return rc;
    }
    int lanes = (is32 || ch == 1) ? 1 : 4;
    size_t rowlen = (size_t)S * (size_t)lanes, plane = rowlen * (size_t)S;
    int32_t *acc = is32 ? NULL : seize_malloc(plane, sizeof *acc);
    double *accd = is32 ? seize_malloc(plane, sizeof *accd) : NULL;
    void *t = seize_malloc(rowlen, is32 ? sizeof(int32_t) : 1);
    int widen = lanes == 4 && (ch != 4 || premul);
    uint8_t *wide = widen ? seize_malloc((size_t)g->w, 4) : NULL;
    if ((!acc && !accd) || !t || (widen && !wide)) {
        rc = seize_error(SEIZE_ENOMEM, "out of memory resampling image");
        goto done;
    }
    for (size_t i = 0; i < plane; i++) {
        if (is32) accd[i] = 0.0;
        else acc[i] = HALF;
    }

    // Columns the horizontal pass reads, and rows the vertical pass reads.
    long clo = g->w, chi = 0, rlo = g->h, rhi = 0;
    for (int i = 0; i < S; i++) {
        if (ah.len[i]) {
            if (ah.start[i] < clo) clo = ah.start[i];
            if (ah.start[i] + ah.len[i] > chi) chi = ah.start[i] + ah.len[i];
        }
        if (av.len[i]) {
            if (av.start[i] < rlo) rlo = av.start[i];
            if (av.start[i] + av.len[i] > rhi) rhi = av.start[i] + av.len[i];
        }
    }
    size_t stride = (size_t)g->w * (is32 ? sizeof(int32_t) : (size_t)ch);
    int ylo = 0;
    for (long r = rlo; r < rhi; r++) {
        while (ylo < S && (av.len[ylo] == 0 || av.start[ylo] + av.len[ylo] <= r)) ylo++;
        if (ylo >= S || av.start[ylo] > r) continue; // no output row uses this source row
        const uint8_t *row = img->data + (size_t)r * stride;
        if (is32) {
            int32_t *tr = t;
            hpass32((const int32_t *)(const void *)row, &ah, tr);
            // Ascending r for every accumulator: Pillow's order of the double additions.
            for (int y = ylo; y < S && av.start[y] <= r; y++) {
                if (!av.len[y]) continue;
                double k = av.kd[(size_t)y * av.kstride + (size_t)(r - av.start[y])];
                double *a = accd + (size_t)y * rowlen;
                for (size_t i = 0; i < rowlen; i++) a[i] += tr[i] * k;
            }
            continue;
        }
        if (widen) {
            widen_row(row, wide, clo, chi, ch, premul);
            row = wide;
        }
        if (lanes == 1) hpass_1(row, &ah, t);
        else hpass_4(row, &ah, t);
        for (int y = ylo; y < S && av.start[y] <= r; y++) {
            if (!av.len[y]) continue;
            int32_t k = av.k8[(size_t)y * av.kstride + (size_t)(r - av.start[y])];
            vadd_8(acc + (size_t)y * rowlen, t, rowlen, k);
        }
    }
    if (is32) {
        int32_t *d = dst;
        for (size_t i = 0; i < plane; i++) d[i] = round_up(accd[i]);
    } else {
        uint8_t *d = dst;
        for (size_t i = 0; i < plane; i++) d[i] = clip8(acc[i]);
    }
    rc = 0;
done:
    free(acc);
    free(accd);
    free(t);
    free(wide);
    axis_free(&ah);
    axis_free(&av);
    return rc;
}

// Nearest neighbour for modes P and 1, as Pillow's resize does it (an affine "scale"
// transform whose source position advances by repeated addition).
static int nearest(const seize_image *img, const struct geom *g, uint8_t *dst)
{
    int S = g->S;
    double ax = (double)(float)g->pw / (double)g->nw, ay = (double)(float)g->ph / (double)g->nh;
    long *xin = seize_malloc((size_t)S, sizeof *xin);
    if (!xin) return seize_error(SEIZE_ENOMEM, "out of memory resampling image");
    double xo = 0.0 + ax * 0.5;
    for (long x = 0; x < g->left + S; x++) {
        if (x >= g->left) xin[x - g->left] = xo < 0.0 ? -1 : (long)xo;
        xo += ax;
    }
    double yo = 0.0 + ay * 0.5;
    for (long y = 0; y < g->top + S; y++) {
        if (y >= g->top) {
            long yi = yo < 0.0 ? -1 : (long)yo, r = yi - g->vp;
            uint8_t *d = dst + (size_t)(y - g->top) * S;
            if (yi < 0 || yi >= g->ph || r < 0 || r >= g->h) {
                memset(d, 0, (size_t)S);
            } else {
                const uint8_t *row = img->data + (size_t)r * (size_t)g->w;
                for (int i = 0; i < S; i++) {
                    long c = xin[i] - g->hp;
                    d[i] = (xin[i] >= 0 && xin[i] < g->pw && c >= 0 && c < g->w) ? row[c] : 0;
                }
            }
        }
        yo += ay;
    }
    free(xin);
    return 0;
}

// The crop window of the padded image when no resize happens.
static void crop_copy(const seize_image *img, const struct geom *g, size_t bpp, uint8_t *dst)
{
    int S = g->S;
    memset(dst, 0, (size_t)S * S * bpp);
    for (int y = 0; y < S; y++) {
        long r = g->top + y - g->vp;
        if (r < 0 || r >= g->h) continue;
        for (int x = 0; x < S; x++) {
            long c = g->left + x - g->hp;
            if (c < 0 || c >= g->w) continue;
            memcpy(dst + ((size_t)y * S + x) * bpp,
                   img->data + ((size_t)r * (size_t)g->w + (size_t)c) * bpp, bpp);
        }
    }
}

// --- the pipeline ---------------------------------------------------------------------------

static long round_half_even_div2(long d)
{
    long h = d / 2;
    return (d & 1) && (h & 1) ? h + 1 : h;
}

static int plan(const seize_image *img, const seize_preprocess_opts *o, struct geom *g)
{
    if (!img || !img->data || img->width == 0 || img->height == 0)
        return seize_error(SEIZE_EINVAL, "preprocess: empty image");
    if (o->size < 1 || o->size > MAX_SIZE)
        return seize_error(SEIZE_EINVAL, "preprocess: size %d out of range 1..%d", o->size,
                           MAX_SIZE);
    if (!(o->pad_ratio == 0.0 || (o->pad_ratio >= 1.0 && isfinite(o->pad_ratio))))
        return seize_error(SEIZE_EINVAL, "preprocess: pad ratio %g must be 0 (none) or >= 1",
                           o->pad_ratio);
    if (img->width > INT_MAX || img->height > INT_MAX)
        return seize_error(SEIZE_EFORMAT, "preprocess: image too large (%zux%zu)", img->width,
                           img->height);
    memset(g, 0, sizeof *g);
    g->S = o->size;
    g->w = (long)img->width;
    g->h = (long)img->height;
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

int seize_image_preprocess_u8(const seize_image *img, const seize_preprocess_opts *o,
                              uint8_t *out)
{
    struct geom g;
    int rc = plan(img, o, &g);
    if (rc < 0) return rc;
    size_t S = (size_t)g.S, n = S * S, bpp = seize_image_pixel_bytes(img->mode);
    int resized = g.nw != g.pw || g.nh != g.ph;
    seize_image_mode m = img->mode;
    // The resampler works on four bytes per pixel for the multi-band modes (see resample).
    size_t ws = resized && bpp > 1 && m != SEIZE_MODE_I ? 4 : bpp;
    uint8_t *work = seize_malloc(n, ws);
    if (!work) return seize_error(SEIZE_ENOMEM, "out of memory preprocessing image");
    if (!resized) {
        crop_copy(img, &g, bpp, work);
    } else if (m == SEIZE_MODE_P || m == SEIZE_MODE_1) {
        rc = nearest(img, &g, work); // Pillow forces NEAREST for these modes
    } else {
        int premul = m == SEIZE_MODE_LA || m == SEIZE_MODE_RGBA;
        rc = resample(img, &g, m == SEIZE_MODE_I ? 1 : (int)bpp, m == SEIZE_MODE_I, premul, work);
    }
    if (rc < 0) {
        free(work);
        return rc;
    }
    // convert("RGB"), after undoing the premultiplication of a resized LA/RGBA image.
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = work + i * ws;
        uint8_t *d = out + 3 * i;
        switch (m) {
        case SEIZE_MODE_1: d[0] = d[1] = d[2] = p[0] ? 255 : 0; break;
        case SEIZE_MODE_L: d[0] = d[1] = d[2] = p[0]; break;
        case SEIZE_MODE_P: memcpy(d, img->palette + 3 * p[0], 3); break;
        case SEIZE_MODE_I: {
            int32_t v;
            memcpy(&v, p, sizeof v);
            d[0] = d[1] = d[2] = clip8i(v);
            break;
        }
        case SEIZE_MODE_RGB: memcpy(d, p, 3); break;
        case SEIZE_MODE_LA:
        case SEIZE_MODE_RGBA: {
            int nc = m == SEIZE_MODE_LA ? 1 : 3;
            unsigned a = p[m == SEIZE_MODE_LA ? 1 : 3];
            uint8_t v[3];
            for (int c = 0; c < nc; c++)
                v[c] = (!resized || a == 0 || a == 255) ? p[c] : clip8i((int)(255 * p[c] / a));
            if (nc == 1) v[1] = v[2] = v[0];
            memcpy(d, v, 3);
            break;
        }
        case SEIZE_MODE_CMYK: {
            unsigned nk = 255u - p[3];
            for (int c = 0; c < 3; c++) d[c] = clip8i((int)nk - (int)muldiv255(p[c], nk));
            break;
        }
        }
    }
    free(work);
    return 0;
}

int seize_image_preprocess(const seize_image *img, const seize_preprocess_opts *o, float *out)
{
    struct geom g;
    int rc = plan(img, o, &g); // validate before allocating
    if (rc < 0) return rc;
    size_t n = (size_t)g.S * (size_t)g.S;
    uint8_t *rgb = seize_malloc(n, 3);
    if (!rgb) return seize_error(SEIZE_ENOMEM, "out of memory preprocessing image");
    rc = seize_image_preprocess_u8(img, o, rgb);
    if (rc == 0) {
        // ToTensor (x / 255) then Normalize ((x - mean) / std), both in float32.
        for (int c = 0; c < 3; c++) {
            float lut[256];
            for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f - o->mean[c]) / o->std[c];
            float *plane = out + (size_t)c * n;
            for (size_t i = 0; i < n; i++) plane[i] = lut[rgb[3 * i + c]];
        }
    }
    free(rgb);
    return rc;
}

int seize_image_load_preprocess(const char *path, const seize_preprocess_opts *o, float *out)
{
    seize_image *img = NULL;
    int rc = seize_image_load(path, o->max_pixels, &img);
    if (rc < 0) return rc;
    rc = seize_image_preprocess(img, o, out);
    seize_image_free(img);
    if (rc < 0) return seize_error_prefix(rc, "cannot preprocess '%s'", path);
    return 0;
}
