// Image decoding with Pillow 9.4's modes: JPEG through libjpeg-turbo, PNG through libpng.
//
// Both libraries report fatal errors through callbacks that must not return; we longjmp back
// to the decoder. To keep that well defined, each decoder keeps its state in a struct owned by
// the caller of the function that calls setjmp, so nothing local to that function changes
// between setjmp and longjmp.
#include "seize/image.h"

#include "internal.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

// Progressive JPEGs with absurd scan counts make libjpeg very slow; no real file has more.
#define MAX_JPEG_SCANS 1000
// Whatever the pixel limit, never ask malloc for more than this (1 TiB).
#define MAX_IMAGE_BYTES ((size_t)1 << 40)

// --- images ---------------------------------------------------------------------------------

const char *seize_image_mode_name(seize_image_mode mode)
{
    switch (mode) {
    case SEIZE_MODE_1:
        return "1";
    case SEIZE_MODE_L:
        return "L";
    case SEIZE_MODE_P:
        return "P";
    case SEIZE_MODE_I:
        return "I";
    case SEIZE_MODE_LA:
        return "LA";
    case SEIZE_MODE_RGB:
        return "RGB";
    case SEIZE_MODE_RGBA:
        return "RGBA";
    case SEIZE_MODE_CMYK:
        return "CMYK";
    }
    return "?";
}

size_t seize_image_pixel_bytes(seize_image_mode mode)
{
    switch (mode) {
    case SEIZE_MODE_1:
    case SEIZE_MODE_L:
    case SEIZE_MODE_P:
        return 1;
    case SEIZE_MODE_LA:
        return 2;
    case SEIZE_MODE_RGB:
        return 3;
    case SEIZE_MODE_I:
    case SEIZE_MODE_RGBA:
    case SEIZE_MODE_CMYK:
        return 4;
    }
    return 1;
}

void seize_image_free(seize_image *img)
{
    if (!img) return;
    free(img->data);
    free(img);
}

// Checks the dimensions: not zero, within the pixel limit, and never a buffer over 1 TiB.
static int check_size(const char *name, const char *format, size_t w, size_t h,
                      seize_image_mode mode, size_t max_pixels)
{
    if (max_pixels == 0) max_pixels = SEIZE_IMAGE_MAX_PIXELS;
    if (w == 0 || h == 0)
        return seize_error(SEIZE_EFORMAT, "cannot decode '%s': %s image has zero size (%zux%zu)",
                           name, format, w, h);
    size_t pixels, bytes;
    if (seize_mul_size(w, h, &pixels) < 0 || pixels > max_pixels)
        return seize_error(SEIZE_EINVAL,
                           "cannot decode '%s': image size %zux%zu exceeds the limit of %zu "
                           "pixels (possible decompression bomb)",
                           name, w, h, max_pixels);
    if (seize_mul_size(pixels, seize_image_pixel_bytes(mode), &bytes) < 0 ||
        bytes > MAX_IMAGE_BYTES)
        return seize_error(SEIZE_ENOMEM, "cannot decode '%s': image too large", name);
    return 0;
}

// The sink that builds a seize_image.
struct image_builder {
    const char *name;
    seize_image *img;
};

static int builder_begin(void *ctx, size_t w, size_t h, seize_image_mode mode,
                         const uint8_t *palette)
{
    struct image_builder *b = ctx;
    seize_image *img = calloc(1, sizeof *img);
    if (!img) return seize_error(SEIZE_ENOMEM, "cannot decode '%s': out of memory", b->name);
    img->data = seize_malloc(w * h, seize_image_pixel_bytes(mode)); // checked by check_size
    if (!img->data) {
        free(img);
        return seize_error(SEIZE_ENOMEM, "cannot decode '%s': out of memory (%zux%zu)", b->name, w,
                           h);
    }
    img->width = w;
    img->height = h;
    img->mode = mode;
    if (palette)
        memcpy(img->palette, palette, sizeof img->palette);
    else
        for (int i = 0; i < 256; i++)
            img->palette[3 * i] = img->palette[3 * i + 1] = img->palette[3 * i + 2] = (uint8_t)i;
    b->img = img;
    return 0;
}

static uint8_t *builder_row(void *ctx, size_t y)
{
    struct image_builder *b = ctx;
    return b->img->data + y * b->img->width * seize_image_pixel_bytes(b->img->mode);
}

static void builder_done(void *ctx, size_t y, const uint8_t *row)
{
    (void)ctx, (void)y, (void)row;
}

// --- JPEG -----------------------------------------------------------------------------------

struct jctx {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_progress_mgr progress;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX + 64];
    const uint8_t *buf;
    size_t len;
    const char *name;
    size_t max_pixels;
    const image_sink *sink;
    uint8_t *row; // scratch row when the sink has no destination
    int code;     // error code to return after longjmp
};

static void jpeg_fail(j_common_ptr cinfo)
{
    struct jctx *c = (struct jctx *)cinfo->client_data;
    char m[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, m);
    snprintf(c->msg, sizeof c->msg, "%s", m);
    c->code = SEIZE_EFORMAT;
    longjmp(c->jmp, 1);
}

// Warnings (level -1) are ignored as Pillow ignores them, except running out of data: Pillow
// then fails with "image file is truncated", and libjpeg would pad the image with grey.
static void jpeg_message(j_common_ptr cinfo, int level)
{
    struct jctx *c = (struct jctx *)cinfo->client_data;
    if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        snprintf(c->msg, sizeof c->msg, "truncated JPEG data (premature end of file)");
        c->code = SEIZE_EFORMAT;
        longjmp(c->jmp, 1);
    }
}

static void jpeg_silent(j_common_ptr cinfo)
{
    (void)cinfo;
}

static void jpeg_progress(j_common_ptr cinfo)
{
    struct jctx *c = (struct jctx *)cinfo->client_data;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > MAX_JPEG_SCANS) {
        snprintf(c->msg, sizeof c->msg, "too many progressive scans (over %d)", MAX_JPEG_SCANS);
        c->code = SEIZE_EFORMAT;
        longjmp(c->jmp, 1);
    }
}

static int jpeg_run(struct jctx *c)
{
    struct jpeg_decompress_struct *ci = &c->cinfo;
    if (setjmp(c->jmp)) return c->code;
    jpeg_read_header(ci, TRUE);
    if (ci->data_precision != 8) {
        snprintf(c->msg, sizeof c->msg, "cannot handle %d-bit JPEG data", ci->data_precision);
        return SEIZE_EFORMAT;
    }
    seize_image_mode mode;
    switch (ci->num_components) {
    case 1:
        mode = SEIZE_MODE_L;
        ci->out_color_space = JCS_GRAYSCALE;
        break;
    case 3:
        mode = SEIZE_MODE_RGB;
        ci->out_color_space = JCS_RGB;
        break;
    case 4:
        mode = SEIZE_MODE_CMYK;
        ci->out_color_space = JCS_CMYK; // libjpeg turns YCCK into CMYK
        break;
    default:
        snprintf(c->msg, sizeof c->msg, "cannot handle %d-component JPEG images",
                 ci->num_components);
        return SEIZE_EFORMAT;
    }
    // libjpeg's defaults are Pillow's: JDCT_ISLOW, fancy upsampling, no scaling.
    size_t w = ci->image_width, h = ci->image_height, stride = w * seize_image_pixel_bytes(mode);
    int rc = check_size(c->name, "JPEG", w, h, mode, c->max_pixels);
    if (rc < 0) return rc;
    ci->progress = &c->progress;
    jpeg_start_decompress(ci);
    if (ci->output_width != w || ci->output_height != h ||
        (size_t)ci->output_components != seize_image_pixel_bytes(mode)) {
        snprintf(c->msg, sizeof c->msg, "unexpected decoder output layout");
        return SEIZE_EFORMAT;
    }
    c->row = malloc(stride);
    if (!c->row) {
        snprintf(c->msg, sizeof c->msg, "out of memory");
        return SEIZE_ENOMEM;
    }
    rc = c->sink->begin(c->sink->ctx, w, h, mode, NULL);
    if (rc < 0) return rc;
    while (ci->output_scanline < ci->output_height) {
        size_t y = ci->output_scanline;
        JSAMPROW row = c->sink->row_dst(c->sink->ctx, y);
        if (!row) row = c->row;
        if (jpeg_read_scanlines(ci, &row, 1) != 1) {
            snprintf(c->msg, sizeof c->msg, "truncated JPEG data");
            return SEIZE_EFORMAT;
        }
        if (mode == SEIZE_MODE_CMYK) // Pillow's "CMYK;I": assume Adobe's inverted CMYK
            for (size_t i = 0; i < stride; i++)
                row[i] = (uint8_t)~row[i];
        c->sink->row_done(c->sink->ctx, y, row);
    }
    // Pillow reads on to the end of image marker; a file cut just before it is truncated too.
    jpeg_finish_decompress(ci);
    return 0;
}

static int decode_jpeg(const uint8_t *buf, size_t len, const char *name, size_t max_pixels,
                       const image_sink *sink)
{
    struct jctx *c = calloc(1, sizeof *c);
    if (!c) return seize_error(SEIZE_ENOMEM, "cannot decode '%s': out of memory", name);
    c->buf = buf;
    c->len = len;
    c->name = name;
    c->max_pixels = max_pixels;
    c->sink = sink;
    c->cinfo.err = jpeg_std_error(&c->jerr);
    c->jerr.error_exit = jpeg_fail;
    c->jerr.emit_message = jpeg_message;
    c->jerr.output_message = jpeg_silent;
    c->progress.progress_monitor = jpeg_progress;
    c->cinfo.client_data = c;
    int rc;
    if (setjmp(c->jmp)) {
        rc = c->code; // jpeg_create_decompress failed (out of memory)
    } else {
        jpeg_create_decompress(&c->cinfo);
        jpeg_mem_src(&c->cinfo, buf, (unsigned long)len);
        rc = jpeg_run(c);
    }
    jpeg_destroy_decompress(&c->cinfo);
    if (rc < 0 && c->msg[0]) seize_error(rc, "cannot decode '%s': %s", name, c->msg);
    free(c->row);
    free(c);
    return rc;
}

// --- PNG ------------------------------------------------------------------------------------

struct pctx {
    png_structp png;
    png_infop info;
    char msg[256];
    const uint8_t *buf;
    size_t len, pos;
    const char *name;
    size_t max_pixels;
    const image_sink *sink;
    uint8_t *out;   // scratch converted row
    uint8_t *raw;   // one raw row, or the whole raw image when interlaced
    uint8_t **rows; // row pointers into raw (interlaced only)
    int code;
};

static void png_fail(png_structp png, png_const_charp m)
{
    struct pctx *c = png_get_error_ptr(png);
    if (!c->code) {
        snprintf(c->msg, sizeof c->msg, "%s", m);
        c->code = SEIZE_EFORMAT;
    }
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp m)
{
    (void)png, (void)m;
}

static void png_read_mem(png_structp png, png_bytep data, size_t n)
{
    struct pctx *c = png_get_io_ptr(png);
    if (n > c->len - c->pos) {
        snprintf(c->msg, sizeof c->msg, "truncated PNG data");
        c->code = SEIZE_EFORMAT;
        png_error(png, "truncated PNG data");
    }
    memcpy(data, c->buf + c->pos, n);
    c->pos += n;
}

// Unpacks one raw libpng row into Pillow's representation of the mode.
static void png_convert_row(const uint8_t *raw, uint8_t *dst, size_t w, int color, int depth)
{
    switch (color) {
    case PNG_COLOR_TYPE_GRAY:
    case PNG_COLOR_TYPE_PALETTE:
        if (depth == 16) { // mode I: the full big-endian value
            int32_t *d = (int32_t *)(void *)dst;
            for (size_t x = 0; x < w; x++)
                d[x] = (int32_t)raw[2 * x] << 8 | raw[2 * x + 1];
        } else if (depth == 8) {
            memcpy(dst, raw, w);
        } else {
            // 1/2/4-bit: gray 1 → mode 1 (0/255), 2 → ×85, 4 → ×17; palette keeps the index
            int per = 8 / depth, mask = (1 << depth) - 1;
            int scale = color == PNG_COLOR_TYPE_PALETTE ? 1 : 255 / mask;
            for (size_t x = 0; x < w; x++) {
                int shift = 8 - depth * (int)(x % (size_t)per + 1);
                dst[x] = (uint8_t)(((raw[x / (size_t)per] >> shift) & mask) * scale);
            }
        }
        break;
    case PNG_COLOR_TYPE_RGB:
        if (depth == 8)
            memcpy(dst, raw, 3 * w);
        else
            for (size_t i = 0; i < 3 * w; i++)
                dst[i] = raw[2 * i];
        break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        if (depth == 8)
            memcpy(dst, raw, 2 * w);
        else // 16-bit LA: Pillow makes RGBA from the high bytes
            for (size_t x = 0; x < w; x++) {
                dst[4 * x] = dst[4 * x + 1] = dst[4 * x + 2] = raw[4 * x];
                dst[4 * x + 3] = raw[4 * x + 2];
            }
        break;
    case PNG_COLOR_TYPE_RGB_ALPHA:
        if (depth == 8)
            memcpy(dst, raw, 4 * w);
        else
            for (size_t i = 0; i < 4 * w; i++)
                dst[i] = raw[2 * i];
        break;
    }
}

static int png_run(struct pctx *c)
{
    if (setjmp(png_jmpbuf(c->png))) return c->code ? c->code : SEIZE_EFORMAT;
    png_set_read_fn(c->png, c, png_read_mem);
    // We check the pixel count ourselves; libpng's default 1e6 width cap is not Pillow's.
    png_set_user_limits(c->png, 0x7fffffff, 0x7fffffff);
    // Chunks that libpng reads whole into a buffer of their declared length, unused here, are
    // skipped (read through, never buffered): a 60-byte upload declaring a 1.9 GB tEXt chunk had
    // it allocated (libpng 1.6.39 ignores its chunk malloc limit there; fuzz_serve_request).
    static const png_byte skip[] = "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0eXIf";
    png_set_keep_unknown_chunks(c->png, PNG_HANDLE_CHUNK_NEVER, skip, 6);
    png_set_benign_errors(c->png, 1);
#ifdef PNG_IGNORE_ADLER32
    png_set_option(c->png, PNG_IGNORE_ADLER32, PNG_OPTION_ON);
#endif
    png_read_info(c->png, c->info);
    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(c->png, c->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    seize_image_mode mode;
    switch (color) {
    case PNG_COLOR_TYPE_GRAY:
        mode = depth == 1 ? SEIZE_MODE_1 : depth == 16 ? SEIZE_MODE_I : SEIZE_MODE_L;
        break;
    case PNG_COLOR_TYPE_PALETTE:
        mode = SEIZE_MODE_P;
        break;
    case PNG_COLOR_TYPE_RGB:
        mode = SEIZE_MODE_RGB;
        break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        mode = depth == 16 ? SEIZE_MODE_RGBA : SEIZE_MODE_LA;
        break;
    case PNG_COLOR_TYPE_RGB_ALPHA:
        mode = SEIZE_MODE_RGBA;
        break;
    default:
        snprintf(c->msg, sizeof c->msg, "unknown PNG colour type %d", color);
        return SEIZE_EFORMAT;
    }
    int rc = check_size(c->name, "PNG", w, h, mode, c->max_pixels);
    if (rc < 0) return rc;
    uint8_t palette[256 * 3];
    if (mode == SEIZE_MODE_P) {
        for (int i = 0; i < 256; i++) // Pillow's palettes start as a grey ramp
            palette[3 * i] = palette[3 * i + 1] = palette[3 * i + 2] = (uint8_t)i;
        png_colorp pal;
        int n_pal = 0;
        if (png_get_PLTE(c->png, c->info, &pal, &n_pal) & PNG_INFO_PLTE)
            for (int i = 0; i < n_pal && i < 256; i++) {
                palette[3 * i] = pal[i].red;
                palette[3 * i + 1] = pal[i].green;
                palette[3 * i + 2] = pal[i].blue;
            }
    }
    int passes = png_set_interlace_handling(c->png);
    png_read_update_info(c->png, c->info);
    size_t rowbytes = png_get_rowbytes(c->png, c->info);
    c->out = seize_malloc(w, seize_image_pixel_bytes(mode));
    if (passes <= 1)
        c->raw = malloc(rowbytes ? rowbytes : 1);
    else {
        // Zeroed: libpng merges each Adam7 pass into the rows with masks, so the padding
        // bits of sub-byte rows would otherwise stay uninitialised.
        c->raw = seize_calloc(rowbytes, h);
        c->rows = seize_malloc(h, sizeof *c->rows);
    }
    if (!c->out || !c->raw || (passes > 1 && !c->rows)) {
        snprintf(c->msg, sizeof c->msg, "out of memory");
        return SEIZE_ENOMEM;
    }
    rc = c->sink->begin(c->sink->ctx, w, h, mode, mode == SEIZE_MODE_P ? palette : NULL);
    if (rc < 0) return rc;
    if (passes > 1) { // Adam7: libpng needs the whole image before any row is final
        for (size_t y = 0; y < h; y++)
            c->rows[y] = c->raw + y * rowbytes;
        png_read_image(c->png, c->rows);
    }
    for (size_t y = 0; y < h; y++) {
        const uint8_t *raw = c->raw;
        if (passes > 1)
            raw = c->rows[y];
        else
            png_read_row(c->png, c->raw, NULL);
        uint8_t *dst = c->sink->row_dst(c->sink->ctx, y);
        if (!dst) dst = c->out;
        png_convert_row(raw, dst, w, color, depth);
        c->sink->row_done(c->sink->ctx, y, dst);
    }
    // Like Pillow we stop after the image data: a missing IEND is not an error.
    return 0;
}

static int decode_png(const uint8_t *buf, size_t len, const char *name, size_t max_pixels,
                      const image_sink *sink)
{
    struct pctx *c = calloc(1, sizeof *c);
    if (!c) return seize_error(SEIZE_ENOMEM, "cannot decode '%s': out of memory", name);
    c->buf = buf;
    c->len = len;
    c->name = name;
    c->max_pixels = max_pixels;
    c->sink = sink;
    int rc;
    c->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, png_fail, png_warn);
    if (c->png) c->info = png_create_info_struct(c->png);
    if (!c->png || !c->info) {
        snprintf(c->msg, sizeof c->msg, "out of memory");
        rc = SEIZE_ENOMEM;
    } else {
        rc = png_run(c);
    }
    png_destroy_read_struct(c->png ? &c->png : NULL, c->info ? &c->info : NULL, NULL);
    free(c->raw);
    free(c->rows);
    free(c->out);
    if (rc < 0 && c->msg[0]) seize_error(rc, "cannot decode '%s': %s", name, c->msg);
    free(c);
    return rc;
}

// --- format detection -----------------------------------------------------------------------

static const char *sniff_other(const uint8_t *b, size_t n)
{
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return "WebP";
    if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) return "GIF";
    if (n >= 2 && !memcmp(b, "BM", 2)) return "BMP";
    if (n >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4))) return "TIFF";
    if (n >= 12 && !memcmp(b + 4, "ftyp", 4)) return "HEIF/AVIF";
    if (n >= 12 && !memcmp(b, "\0\0\0\x0cjP  ", 8)) return "JPEG 2000";
    return NULL;
}

int image_decode_stream(const void *buf, size_t len, const char *name, size_t max_pixels,
                        const image_sink *sink, char format[8])
{
    if (!name) name = "<memory>";
    const uint8_t *b = buf;
    if (!b || len == 0) return seize_error(SEIZE_EFORMAT, "cannot decode '%s': empty file", name);
    if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
        snprintf(format, 8, "JPEG");
        return decode_jpeg(b, len, name, max_pixels, sink);
    }
    if (len >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) {
        snprintf(format, 8, "PNG");
        return decode_png(b, len, name, max_pixels, sink);
    }
    const char *other = sniff_other(b, len);
    if (other)
        return seize_error(SEIZE_EFORMAT,
                           "cannot decode '%s': unsupported image format (%s; JPEG and PNG "
                           "are supported)",
                           name, other);
    return seize_error(SEIZE_EFORMAT, "cannot decode '%s': unknown image format", name);
}

int seize_image_decode(const void *buf, size_t len, const char *name, size_t max_pixels,
                       seize_image **out)
{
    *out = NULL;
    struct image_builder b = {name ? name : "<memory>", NULL};
    image_sink sink = {builder_begin, builder_row, builder_done, &b};
    char format[8] = "";
    int rc = image_decode_stream(buf, len, name, max_pixels, &sink, format);
    if (rc < 0) {
        seize_image_free(b.img);
        return rc;
    }
    snprintf(b.img->format, sizeof b.img->format, "%s", format);
    *out = b.img;
    return 0;
}

int seize_image_load(const char *path, size_t max_pixels, seize_image **out)
{
    *out = NULL;
    seize_map m;
    int rc = seize_map_open(path, &m);
    if (rc < 0) return rc;
    rc = seize_image_decode(m.data, m.size, path, max_pixels, out);
    seize_map_close(&m);
    return rc;
}
