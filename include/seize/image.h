/*
 * seize/image.h — image decoding (JPEG, PNG) and CLIP preprocessing, bit-exact with
 * Pillow 9.4 + torchvision.
 *
 *     seize_preprocess_opts o = seize_preprocess_default_opts();   // TargetPad 1.25, 224
 *     float *x = malloc(3 * o.size * o.size * sizeof *x);          // (3, size, size)
 *     if (seize_image_load_preprocess("cat.jpg", &o, x) < 0) {
 *         fprintf(stderr, "skipping: %s\n", seize_errmsg());       // names the file
 *         ...
 *     }
 *
 * Pipeline (ARCHITECTURE.md §5), each step with Pillow's semantics:
 *   decode, keeping Pillow's image mode (1, L, P, I, LA, RGB, RGBA, CMYK) →
 *   TargetPad(ratio): pad int((max/ratio − w)/2) columns left and right and likewise rows,
 *     with 0 in every band (palette index 0 for P) →
 *   Resize: shorter side to `size`, longer side int(size·long/short); bicubic (a = −0.5)
 *     with antialiasing in 8-bit fixed point (two passes, horizontal then vertical); P and 1
 *     use nearest neighbour; LA and RGBA are resized premultiplied; I uses Pillow's 32-bit
 *     float path; nothing happens when the size is already right →
 *   CenterCrop(size): offsets round((dim − size)/2), half to even →
 *   convert("RGB"): palette lookup, 1 → 0/255, L replicated, alpha dropped, I clipped to
 *     0..255, CMYK with Pillow's cmyk2rgb →
 *   x/255, (x − mean)/std in float32, CHW.
 * Only the pixels inside the crop window are computed (exactly the values Pillow computes for
 * them), padding is never materialised, and rows are consumed top to bottom as they are
 * decoded, so work and memory stay bounded by O(width + size²) beyond the decoder's own needs
 * even for extreme aspect ratios.
 *
 * Decoding: the format is detected from the first bytes, never the file name.
 *   JPEG: libjpeg-turbo with its defaults (integer slow DCT, fancy upsampling), output RGB,
 *     grayscale (mode L) or CMYK (Adobe-inverted, as Pillow assumes; YCCK is converted to CMYK
 *     by libjpeg). Premature end of data is an error (Pillow: "image file is truncated");
 *     other libjpeg warnings are ignored as Pillow ignores them. Only 8-bit JPEGs.
 *   PNG: libpng, every colour type, bit depth and interlacing, mapped to Pillow's modes:
 *     gray 1-bit → 1; gray 2/4/8-bit → L (scaled ×85 / ×17); gray 16-bit → I (the full
 *     16-bit value); RGB 8/16 → RGB (16-bit keeps the high byte); palette → P (tRNS ignored,
 *     entries past the PLTE keep Pillow's grey ramp); gray+alpha 8 → LA, 16 → RGBA; RGBA
 *     8/16 → RGBA. Ancillary chunks are ignored; CRC errors in critical chunks are errors.
 *   WebP, GIF, BMP, TIFF and anything else are rejected with "unsupported image format".
 *   EXIF orientation is not applied (the reference pipeline does not).
 *
 * Errors: every failure returns a negative SEIZE_E* code and sets seize_errmsg() to a message
 * that names the file, e.g. "cannot decode 'x.jpg': truncated JPEG data". Hostile input never
 * crashes and never allocates more than about 8 bytes per pixel of the (pixel-count-limited)
 * image.
 *
 * Performance note for batch callers: a decoded image is one multi-megabyte buffer. With
 * glibc's default malloc settings each is a fresh mmap and its page faults can cost more than
 * the decoding; programs that decode many images should call, once at start-up,
 *     mallopt(M_MMAP_THRESHOLD, 64 << 20); mallopt(M_TRIM_THRESHOLD, 256 << 20);
 * (build/seize does, in cli/main.c; the library itself never changes process-wide settings).
 *
 * Thread safety: every function is reentrant (no global state); distinct threads may decode
 * and preprocess at the same time. A decoded seize_image is read-only to preprocessing and may
 * be shared between threads.
 */
#ifndef SEIZE_IMAGE_H
#define SEIZE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "seize/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Pillow's decompression-bomb error threshold: 2 × Image.MAX_IMAGE_PIXELS (89,478,485).
 * Images with more pixels than the limit in use are rejected. */
#define SEIZE_IMAGE_MAX_PIXELS ((size_t)178956970)

/* Pillow image modes that decoding can produce. */
typedef enum seize_image_mode {
    SEIZE_MODE_1 = 0, /* bilevel, one byte per pixel holding 0 or 255 */
    SEIZE_MODE_L,     /* 8-bit gray */
    SEIZE_MODE_P,     /* 8-bit palette index; `palette` holds 256 RGB entries */
    SEIZE_MODE_I,     /* 32-bit signed integer gray (16-bit PNG), int32_t per pixel */
    SEIZE_MODE_LA,    /* gray + alpha, 2 bytes per pixel */
    SEIZE_MODE_RGB,   /* 3 bytes per pixel */
    SEIZE_MODE_RGBA,  /* 4 bytes per pixel, straight (not premultiplied) alpha */
    SEIZE_MODE_CMYK   /* 4 bytes per pixel, Pillow's CMYK (0 = no ink) */
} seize_image_mode;

/* A decoded image. Pixels are row-major, interleaved, rows packed with no padding:
 * `data` holds width·height·seize_image_pixel_bytes(mode) bytes (int32_t values for mode I,
 * native byte order). */
typedef struct seize_image {
    size_t width, height;
    seize_image_mode mode;
    uint8_t *data;
    uint8_t palette[256 * 3]; /* mode P only: RGB of each index */
    char format[8];           /* "JPEG" or "PNG" */
} seize_image;

/* Pillow's name of a mode ("RGB", "P", ...). */
const char *seize_image_mode_name(seize_image_mode mode);
/* Bytes per pixel of a mode (1, 2, 3 or 4). */
size_t seize_image_pixel_bytes(seize_image_mode mode);

/* Options of the preprocessing pipeline. Get the defaults from seize_preprocess_default_opts()
 * and change fields. */
typedef struct seize_preprocess_opts {
    double pad_ratio;      /* TargetPad ratio (≥ 1); 0 = no padding (plain CLIP). Default 1.25 */
    int size;              /* output side; default 224; 1..8192 */
    size_t max_pixels;     /* decoder pixel limit; 0 = SEIZE_IMAGE_MAX_PIXELS (the default) */
    float mean[3], std[3]; /* default: CLIP's mean and std */
    int squash;            /* 1: BLIP's image processor instead (transformers' BlipImageProcessor,
                              BLIP-2): convert("RGB") first, then resize to size × size with the
                              bicubic filter above (aspect not kept); no pad, no crop. pad_ratio
                              must be 0 with it. Default 0 */
} seize_preprocess_opts;

/* The SEIZE defaults: pad_ratio 1.25, size 224, Pillow's pixel limit, CLIP mean/std, no
 * squash. */
seize_preprocess_opts seize_preprocess_default_opts(void);

/* Reads and decodes the image file `path` (see "Decoding" above), keeping Pillow's mode.
 * Images with more than `max_pixels` pixels are refused; 0 means SEIZE_IMAGE_MAX_PIXELS
 * (SIZE_MAX lifts the limit, though allocations over 1 TiB are still refused). On success *out is a
 * new image (free with seize_image_free). Errors: SEIZE_EIO (cannot read), SEIZE_EFORMAT (unknown
 * format, corrupt or truncated data, zero size), SEIZE_EINVAL (more pixels than max_pixels),
 * SEIZE_ENOMEM. */
int seize_image_load(const char *path, size_t max_pixels, seize_image **out);

/* Decodes an image held in memory; `name` is used in error messages (may be NULL). As
 * seize_image_load otherwise. */
int seize_image_decode(const void *buf, size_t len, const char *name, size_t max_pixels,
                       seize_image **out);

/* Frees an image; accepts NULL. */
void seize_image_free(seize_image *img);

/* Runs pad → resize → crop → RGB on `img` and writes the uint8 result, (size, size, 3) HWC,
 * to `out` (size·size·3 bytes). This is the exact uint8 stage of the reference pipeline
 * (what np.asarray(pil_image) gives after CenterCrop and convert("RGB")).
 * Errors: SEIZE_EINVAL for bad options, SEIZE_ENOMEM, SEIZE_EFORMAT when the resized image
 * would be larger than Pillow can represent (a side over INT_MAX). Reentrant. */
int seize_image_preprocess_u8(const seize_image *img, const seize_preprocess_opts *o, uint8_t *out);

/* The full pipeline: seize_image_preprocess_u8 then x/255 and (x − mean)/std in float32.
 * Writes 3·size·size floats to `out`, CHW (channel planes R, G, B). Errors as above. */
int seize_image_preprocess(const seize_image *img, const seize_preprocess_opts *o, float *out);

/* Reads, decodes and preprocesses the image file `path`: the same result as seize_image_load
 * (with o->max_pixels) then seize_image_preprocess, but streamed: decoded rows go straight
 * into the resampler, so the whole decoded image is never held (except for Adam7-interlaced
 * PNGs, which libpng decodes whole). Errors name the file. */
int seize_image_load_preprocess(const char *path, const seize_preprocess_opts *o, float *out);

/* The same, stopping at the uint8 stage: (size, size, 3) HWC into `out` (as
 * seize_image_preprocess_u8). */
int seize_image_load_preprocess_u8(const char *path, const seize_preprocess_opts *o, uint8_t *out);

/* The streamed pipeline on an encoded image held in memory (`name` is used in error messages
 * and may be NULL): decode + pad/resize/crop/RGB into `out`, (size, size, 3) HWC. */
int seize_image_decode_preprocess_u8(const void *buf, size_t len, const char *name,
                                     const seize_preprocess_opts *o, uint8_t *out);

/* --- thumbnails and JPEG encoding (seize serve) ------------------------------------------ */

/* A new RGB image whose longest side is at most max_side (aspect kept, each side at least 1),
 * each pixel the mean of the source rectangle it covers (box filter); a smaller image is only
 * converted to RGB (Pillow's convert("RGB"): palette looked up, gray replicated, alpha
 * dropped). Free with seize_image_free. SEIZE_EINVAL (empty image, max_side 0), SEIZE_ENOMEM.
 * Reentrant. */
int seize_image_thumbnail(const seize_image *img, size_t max_side, seize_image **out);

/* Encodes `img` (any mode, converted to RGB as above) as a baseline JPEG of `quality` (1..100)
 * into *out (malloc'ed, *len bytes; the caller frees it). SEIZE_EINVAL (a side over 65500, bad
 * quality), SEIZE_EFORMAT (libjpeg's error), SEIZE_ENOMEM. Reentrant. */
int seize_image_encode_jpeg(const seize_image *img, int quality, uint8_t **out, size_t *len);

/* --- many files into one .npy (seize preprocess) ----------------------------------------- */

typedef struct seize_preprocess_files_params {
    seize_preprocess_opts pre; /* the pipeline (default: seize_preprocess_default_opts()) */
    int n_threads;             /* ≤ 0: all cores; at most 64 are used */
    int keep_going;            /* 1: images that cannot be read are reported (on_bad) and left out;
                                  0: the first one (in list order) is the error, nothing is written */
    /* Optional, on the caller's thread in list order: item i left out, with its message. */
    void (*on_bad)(void *ud, size_t i, const char *msg);
    /* Optional, after each chunk: items done and failed so far; non-zero stops
       (SEIZE_ECANCEL). */
    int (*on_progress)(void *ud, size_t done, size_t n_bad);
    void *ud;
} seize_preprocess_files_params;

/* The SEIZE pipeline, all cores, stop at the first bad image, no callbacks. */
seize_preprocess_files_params seize_preprocess_files_default_params(void);

/* Decodes and preprocesses (seize_image_load_preprocess) the n files `paths` on a pool of
 * threads and writes float32 [rows, 3, S, S] to out_npy atomically (a temporary beside it,
 * removed on error), rows in list order. *n_ok (may be NULL) receives the rows written.
 * Errors: the first bad image's (without keep_going), SEIZE_EFORMAT "no image could be read;
 * 'x.npy' not written", the file's (SEIZE_EIO), SEIZE_ECANCEL, SEIZE_ENOMEM. Thread-safe for
 * distinct outputs. */
int seize_preprocess_files(const char *const *paths, size_t n, const char *out_npy,
                           const seize_preprocess_files_params *p, size_t *n_ok);

#ifdef __cplusplus
}
#endif
#endif
