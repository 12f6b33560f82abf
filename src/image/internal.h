// Private to src/image: streaming decode into a sink, so that preprocessing can consume rows
// as they are decoded without holding the whole image.
#ifndef SEIZE_IMAGE_INTERNAL_H
#define SEIZE_IMAGE_INTERNAL_H

#include "seize/image.h"

// Receives a decoded image row by row, top to bottom.
typedef struct image_sink {
    // Called once, after the header and the pixel-limit check, before any row. palette: 256
    // RGB entries for mode P (Pillow's grey ramp past the PLTE), else NULL. Returns 0 or a
    // negative SEIZE_E* code with the message set.
    int (*begin)(void *ctx, size_t w, size_t h, seize_image_mode mode, const uint8_t *palette);
    // Where to decode row y (w · seize_image_pixel_bytes(mode) bytes), or NULL to let the
    // decoder use its own scratch row.
    uint8_t *(*row_dst)(void *ctx, size_t y);
    // Row y is complete at `row`.
    void (*row_done)(void *ctx, size_t y, const uint8_t *row);
    void *ctx;
} image_sink;

// Decodes buf (format sniffed) into the sink. On failure the message names `name`; the sink
// may have received some rows and must be discarded. `format` receives "JPEG" or "PNG".
int image_decode_stream(const void *buf, size_t len, const char *name, size_t max_pixels,
                        const image_sink *sink, char format[8]);

#endif
