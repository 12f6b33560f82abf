// libFuzzer target: image decoding (JPEG via libjpeg-turbo, PNG via libpng, format sniffing)
// and the preprocessing geometry.
//
// Inputs starting with "GEOM" are not decoded: the next bytes pick a synthetic image (mode,
// width, height) and options (pad ratio, size), which exercises padding, the resampler's
// windows and the crop arithmetic on shapes that would need huge files to reach otherwise.
// Everything else is decoded (with a small pixel limit, so the fuzzer stays fast) and, when
// that works, preprocessed with and without TargetPad, and with BLIP's squash resize.
#include "seize/image.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void run(const seize_image *img, double ratio, int size)
{
    seize_preprocess_opts o = seize_preprocess_default_opts();
    o.pad_ratio = ratio;
    o.size = size;
    uint8_t *out = malloc((size_t)size * size * 3);
    if (!out) return;
    if (seize_image_preprocess_u8(img, &o, out) == 0)
        (void)*(volatile uint8_t *)&out[(size_t)size * size * 3 - 1];
    free(out);
}

// BLIP's image processor: convert("RGB"), then resize to size x size.
static void run_squash(const seize_image *img, int size)
{
    seize_preprocess_opts o = seize_preprocess_default_opts();
    o.pad_ratio = 0.0;
    o.size = size;
    o.squash = 1;
    uint8_t *out = malloc((size_t)size * size * 3);
    if (!out) return;
    if (seize_image_preprocess_u8(img, &o, out) == 0)
        (void)*(volatile uint8_t *)&out[(size_t)size * size * 3 - 1];
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 12 && !memcmp(data, "GEOM", 4)) {
        seize_image img = {0};
        img.mode = (seize_image_mode)(data[4] % 8);
        img.width = 1 + ((size_t)data[5] << 8 | data[6]) % 3000;
        img.height = 1 + ((size_t)data[7] << 8 | data[8]) % 3000;
        if (img.width * img.height > 250000) return 0;
        double ratio = data[9] < 32 ? 0.0 : 1.0 + data[9] / 64.0;
        int out_size = 1 + data[10] % 64;
        size_t bytes = img.width * img.height * seize_image_pixel_bytes(img.mode);
        img.data = malloc(bytes);
        if (!img.data) return 0;
        for (size_t i = 0; i < bytes; i++)
            img.data[i] = data[11 + i % (size - 11)];
        if (img.mode == SEIZE_MODE_I) // keep mode-I values in a 16-bit PNG's range
            for (size_t i = 0; i < img.width * img.height; i++)
                ((int32_t *)img.data)[i] &= 0xffff;
        for (int i = 0; i < 256 * 3; i++)
            img.palette[i] = (uint8_t)(i * 7);
        run(&img, ratio, out_size);
        if (ratio == 0.0) run_squash(&img, out_size);
        free(img.data);
        return 0;
    }
    // The streamed path (rows go from the decoder straight into the resampler) ...
    seize_preprocess_opts o = seize_preprocess_default_opts();
    o.max_pixels = 1 << 18;
    o.size = 1 + (int)(size % 40);
    o.pad_ratio = size % 3 ? 1.25 : 0.0;
    uint8_t *px = malloc((size_t)o.size * o.size * 3);
    if (px) {
        if (seize_image_decode_preprocess_u8(data, size, "fuzz", &o, px) == 0)
            (void)*(volatile uint8_t *)&px[(size_t)o.size * o.size * 3 - 1];
        free(px);
    }
    // ... and decoding to an image, then preprocessing it.
    seize_image *img = NULL;
    if (seize_image_decode(data, size, "fuzz", 1 << 18, &img) == 0) {
        size_t bytes = img->width * img->height * seize_image_pixel_bytes(img->mode);
        (void)*(volatile uint8_t *)&img->data[bytes - 1];
        run(img, 1.25, 32);
        run(img, 0.0, 17);
        run_squash(img, 23);
        seize_image_free(img);
    }
    return 0;
}
