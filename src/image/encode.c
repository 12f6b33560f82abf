// Thumbnails and JPEG encoding (seize serve's /v1/images?thumb=1): any decoded mode to RGB,
// an area-average reduction, libjpeg-turbo's encoder into memory.
//
// libjpeg reports fatal errors through a callback that must not return: it longjmps back to
// encode_jpeg, whose state lives in a struct owned by the caller (as decode.c does).
#include "seize/image.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

// --- one pixel of any mode as RGB (Pillow's convert("RGB"), alpha dropped) --------------------

static uint8_t clip8(long v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void pixel_rgb(const seize_image *img, size_t i, uint8_t rgb[3])
{
    const uint8_t *p = img->data + i * seize_image_pixel_bytes(img->mode);
    switch (img->mode) {
    case SEIZE_MODE_1:
    case SEIZE_MODE_L:
    case SEIZE_MODE_LA:
        rgb[0] = rgb[1] = rgb[2] = p[0];
        return;
    case SEIZE_MODE_P:
        memcpy(rgb, img->palette + 3 * (size_t)p[0], 3);
        return;
    case SEIZE_MODE_I: {
        int32_t v;
        memcpy(&v, p, sizeof v);
        rgb[0] = rgb[1] = rgb[2] = clip8(v);
        return;
    }
    case SEIZE_MODE_CMYK:
        for (int c = 0; c < 3; c++)
            rgb[c] = clip8(255 - ((long)p[c] + p[3]));
        return;
    case SEIZE_MODE_RGB:
    case SEIZE_MODE_RGBA:
        memcpy(rgb, p, 3);
        return;
    }
}

// --- thumbnails -------------------------------------------------------------------------------

int seize_image_thumbnail(const seize_image *img, size_t max_side, seize_image **out)
{
    *out = NULL;
    if (!img || !img->width || !img->height || !max_side)
        return seize_error(SEIZE_EINVAL, "thumbnail: empty image or side");
    size_t w = img->width, h = img->height, ow = w, oh = h;
    if (w > max_side || h > max_side) {
        if (w >= h)
            ow = max_side, oh = (h * max_side + w / 2) / w;
        else
            oh = max_side, ow = (w * max_side + h / 2) / h;
        if (!ow) ow = 1;
        if (!oh) oh = 1;
    }
    seize_image *t = calloc(1, sizeof *t);
    unsigned long long *acc = calloc(3 * ow, sizeof *acc);
    if (t) t->data = malloc(ow * oh * 3);
    if (!t || !acc || !t->data) {
        seize_image_free(t);
        free(acc);
        return seize_error(SEIZE_ENOMEM, "thumbnail: out of memory");
    }
    t->width = ow, t->height = oh, t->mode = SEIZE_MODE_RGB;
    memcpy(t->format, "JPEG", 5);
    // Output pixel (x, y) averages the source rectangle [x·w/ow, (x+1)·w/ow) × [y·h/oh, ...).
    for (size_t y = 0; y < oh; y++) {
        size_t y0 = y * h / oh, y1 = (y + 1) * h / oh;
        memset(acc, 0, 3 * ow * sizeof *acc);
        for (size_t sy = y0; sy < y1; sy++)
            for (size_t x = 0; x < ow; x++)
                for (size_t sx = x * w / ow; sx < (x + 1) * w / ow; sx++) {
                    uint8_t rgb[3];
                    pixel_rgb(img, sy * w + sx, rgb);
                    for (int c = 0; c < 3; c++)
                        acc[3 * x + c] += rgb[c];
                }
        for (size_t x = 0; x < ow; x++) {
            unsigned long long n = (unsigned long long)(y1 - y0) * ((x + 1) * w / ow - x * w / ow);
            for (int c = 0; c < 3; c++)
                t->data[(y * ow + x) * 3 + c] = (uint8_t)((acc[3 * x + c] + n / 2) / n);
        }
    }
    free(acc);
    *out = t;
    return 0;
}

// --- JPEG encoding ----------------------------------------------------------------------------

typedef struct jpeg_enc {
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
    unsigned char *buf;
    unsigned long len;
    uint8_t *row;
} jpeg_enc;

static void on_jpeg_error(j_common_ptr cinfo)
{
    jpeg_enc *e = (jpeg_enc *)cinfo; // cinfo is the first member
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jmp, 1);
}

static int encode_jpeg(jpeg_enc *e, const seize_image *img, int quality)
{
    e->cinfo.err = jpeg_std_error(&e->jerr);
    e->jerr.error_exit = on_jpeg_error;
    if (setjmp(e->jmp)) {
        jpeg_destroy_compress(&e->cinfo);
        return seize_error(SEIZE_EFORMAT, "cannot encode JPEG: %s", e->msg);
    }
    jpeg_create_compress(&e->cinfo);
    jpeg_mem_dest(&e->cinfo, &e->buf, &e->len);
    e->cinfo.image_width = (JDIMENSION)img->width;
    e->cinfo.image_height = (JDIMENSION)img->height;
    e->cinfo.input_components = 3;
    e->cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&e->cinfo);
    jpeg_set_quality(&e->cinfo, quality, TRUE);
    jpeg_start_compress(&e->cinfo, TRUE);
    while (e->cinfo.next_scanline < e->cinfo.image_height) {
        size_t y = e->cinfo.next_scanline;
        if (img->mode == SEIZE_MODE_RGB) {
            JSAMPROW r = img->data + y * img->width * 3;
            jpeg_write_scanlines(&e->cinfo, &r, 1);
            continue;
        }
        for (size_t x = 0; x < img->width; x++)
            pixel_rgb(img, y * img->width + x, e->row + 3 * x);
        JSAMPROW r = e->row;
        jpeg_write_scanlines(&e->cinfo, &r, 1);
    }
    jpeg_finish_compress(&e->cinfo);
    jpeg_destroy_compress(&e->cinfo);
    return 0;
}

int seize_image_encode_jpeg(const seize_image *img, int quality, uint8_t **out, size_t *len)
{
    *out = NULL, *len = 0;
    if (!img || !img->width || !img->height || img->width > 65500 || img->height > 65500)
        return seize_error(SEIZE_EINVAL, "cannot encode JPEG: size out of range (1 to 65500)");
    if (quality < 1 || quality > 100)
        return seize_error(SEIZE_EINVAL, "cannot encode JPEG: quality %d (1 to 100)", quality);
    jpeg_enc *e = calloc(1, sizeof *e);
    if (e) e->row = malloc(img->width * 3);
    if (!e || !e->row) {
        if (e) free(e);
        return seize_error(SEIZE_ENOMEM, "cannot encode JPEG: out of memory");
    }
    int rc = encode_jpeg(e, img, quality);
    if (rc == 0 && e->buf) {
        *out = malloc(e->len);
        if (*out)
            memcpy(*out, e->buf, e->len), *len = e->len;
        else
            rc = seize_error(SEIZE_ENOMEM, "cannot encode JPEG: out of memory");
    }
    free(e->buf); // jpeg_mem_dest's buffer is malloc'ed by libjpeg-turbo
    free(e->row);
    free(e);
    return rc;
}
