// Unit tests for the image module: the golden preprocessing fixtures, Pillow's own results on
// images generated in this run (tests/unit/image_ref.py), and hostile inputs.
#include "check.h"

#include "seize/core.h"
#include "seize/image.h"
#include "seize/model.h"

#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

static char tmpdir[256];

// --- golden fixtures ------------------------------------------------------------------------

static void check_fixture_array(const char *npy_name, double pad_ratio)
{
    NEED_FIXTURES();
    char **names = NULL;
    size_t n_names = 0;
    CHECK(seize_read_lines(check_fixture_path("images.txt"), &names, &n_names) == 0);
    seize_npy *ref = NULL;
    int rc = seize_npy_load(check_fixture_path(npy_name), &ref);
    if (rc < 0) seize_lines_free(names, n_names);
    CHECK_MSG(rc == 0, "%s", seize_errmsg());
    int ok = ref->ndim == 4 && ref->shape[0] == n_names && ref->shape[1] == 3 &&
             ref->shape[2] == 224 && ref->shape[3] == 224;
    seize_preprocess_opts o = seize_preprocess_default_opts();
    o.pad_ratio = pad_ratio;
    size_t per = 3 * 224 * 224;
    float *x = malloc(per * sizeof *x);
    double worst = 0;
    int failed = 0;
    for (size_t i = 0; ok && i < n_names; i++) {
        char rel[512];
        snprintf(rel, sizeof rel, "images/%s", names[i]);
        if (seize_image_load_preprocess(check_fixture_path(rel), &o, x) < 0) {
            fprintf(stderr, "  %s: %s\n", names[i], seize_errmsg());
            failed = 1;
            continue;
        }
        const float *r = (const float *)ref->data + i * per;
        double md = 0;
        for (size_t j = 0; j < per; j++)
            md = fmax(md, fabs((double)x[j] - (double)r[j]));
        fprintf(stderr, "  %-22s max|diff| %.3g\n", names[i], md);
        if (md > worst) worst = md;
    }
    fprintf(stderr, "  %s: max |diff| over %zu images = %.3g\n", npy_name, n_names, worst);
    free(x);
    seize_npy_free(ref);
    seize_lines_free(names, n_names);
    CHECK(ok);
    CHECK(!failed);
    CHECK(worst <= 1e-6);
}

static void test_fixtures_targetpad(void)
{
    check_fixture_array("preprocess_targetpad.npy", 1.25);
}

static void test_fixtures_clip(void)
{
    check_fixture_array("preprocess_clip.npy", 0);
}

static void test_fixture_modes(void)
{
    NEED_FIXTURES();
    // The fixture set covers these Pillow modes; make sure the decoder reports them.
    struct {
        const char *name, *mode;
    } want[] = {{"images/rocket.jpg", "RGB"},
                {"images/camera.png", "L"},
                {"images/logo.png", "RGBA"},
                {"images/green_palette.png", "P"},
                {"images/checker_bilevel.png", "1"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        seize_image *img = NULL;
        if (!seize_path_exists(check_fixture_path(want[i].name))) continue;
        CHECK_MSG(seize_image_load(check_fixture_path(want[i].name), 0, &img) == 0, "%s",
                  seize_errmsg());
        int same = !strcmp(seize_image_mode_name(img->mode), want[i].mode);
        if (!same)
            fprintf(stderr, "  %s: mode %s, expected %s\n", want[i].name,
                    seize_image_mode_name(img->mode), want[i].mode);
        seize_image_free(img);
        CHECK(same);
    }
}

static void test_truncated_fixture(void)
{
    NEED_FIXTURES();
    const char *p = check_fixture_path("images/truncated.jpg");
    seize_image *img = NULL;
    int rc = seize_image_load(p, 0, &img);
    CHECK(rc == SEIZE_EFORMAT);
    CHECK(img == NULL);
    fprintf(stderr, "  message: %s\n", seize_errmsg());
    CHECK(strstr(seize_errmsg(), p) != NULL);
    CHECK(strstr(seize_errmsg(), "truncated") != NULL);
    float *x = malloc(3 * 224 * 224 * sizeof *x);
    seize_preprocess_opts o = seize_preprocess_default_opts();
    rc = seize_image_load_preprocess(p, &o, x);
    free(x);
    CHECK(rc < 0);
    CHECK(strstr(seize_errmsg(), "truncated.jpg") != NULL);
}

// --- against Pillow, on images generated in this run ----------------------------------------

static int read_all(const char *path, uint8_t **buf, size_t *len)
{
    char *b = NULL;
    if (seize_read_file(path, &b, len) < 0) return -1;
    *buf = (uint8_t *)b;
    return 0;
}

// A file Pillow refuses ('E' line): both of our paths must refuse it too, naming it.
static int check_refused(const char *path, const seize_image *img, const char *line)
{
    int bad = 0;
    uint8_t px[32 * 32 * 3];
    seize_preprocess_opts o = seize_preprocess_default_opts();
    o.size = 32;
    if (seize_image_load_preprocess_u8(path, &o, px) == 0) {
        fprintf(stderr, "  %s: Pillow refuses it but the streamed path accepted it\n", path);
        bad++;
    }
    if (img) {
        fprintf(stderr, "  %s: Pillow refuses it (%s) but it decoded\n", path,
                line + 3 + strlen(path));
        bad++;
    } else if (!strstr(seize_errmsg(), path)) {
        fprintf(stderr, "  %s: message does not name the file: %s\n", path, seize_errmsg());
        bad++;
    }
    return bad;
}

// 'D <image> <mode> <decoded.bin>': the mode and the decoded pixels.
static int check_decoded(const char *line, const seize_image *img)
{
    char kind, path[600], mode[64], ref[600];
    if (sscanf(line, "%c %599s %63s %599s", &kind, path, mode, ref) != 4) return 0;
    uint8_t *want = NULL;
    size_t len = 0, bytes = img->width * img->height * seize_image_pixel_bytes(img->mode);
    if (read_all(ref, &want, &len) < 0) return 1;
    int bad = 0;
    if (strcmp(mode, seize_image_mode_name(img->mode))) {
        fprintf(stderr, "  %s: mode %s, Pillow says %s\n", path, seize_image_mode_name(img->mode),
                mode);
        bad++;
    } else if (len != bytes || memcmp(want, img->data, bytes)) {
        fprintf(stderr, "  %s: decoded pixels differ from Pillow's\n", path);
        bad++;
    }
    free(want);
    return bad;
}

// got vs Pillow's want (size, size, 3): 0, or 1 after describing the differences.
static int compare_u8(const uint8_t *got, const uint8_t *want, size_t len, size_t size,
                      const char *what)
{
    size_t nd = 0, first = 0;
    int maxd = 0;
    for (size_t j = 0; j < len; j++)
        if (got[j] != want[j]) {
            if (!nd) first = j;
            nd++;
            int d = abs((int)got[j] - (int)want[j]);
            if (d > maxd) maxd = d;
        }
    if (!nd) return 0;
    fprintf(
        stderr,
        "  %s: %zu of %zu values differ (max %d; first at y=%zu x=%zu c=%zu: %d vs Pillow %d)\n",
        what, nd, len, maxd, first / 3 / size, first / 3 % size, first % 3, got[first],
        want[first]);
    return 1;
}

// 'P <image> <pad_ratio> <size> <ref.bin>': both paths, a decoded image and rows streamed
// from the decoder, against Pillow's uint8 result.
static int check_preprocessed(const char *line, const seize_image *img)
{
    char kind, path[600], a[64], b[64], ref[600], what[800];
    if (sscanf(line, "%c %599s %63s %63s %599s", &kind, path, a, b, ref) != 5) return 0;
    seize_preprocess_opts o = seize_preprocess_default_opts();
    o.pad_ratio = atof(a);
    o.size = atoi(b);
    size_t want_len = (size_t)o.size * o.size * 3, len = 0;
    uint8_t *want = NULL, *got = malloc(want_len);
    int bad = 0;
    if (!got || read_all(ref, &want, &len) < 0 || len != want_len) bad++;
    for (int streamed = 0; !bad && streamed < 2; streamed++) {
        int rc = streamed ? seize_image_load_preprocess_u8(path, &o, got)
                          : seize_image_preprocess_u8(img, &o, got);
        snprintf(what, sizeof what, "%s (%s, pad %s, size %s%s)", path,
                 seize_image_mode_name(img->mode), a, b, streamed ? ", streamed path" : "");
        if (rc < 0) fprintf(stderr, "  %s: %s\n", what, seize_errmsg());
        bad += rc < 0 || compare_u8(got, want, len, (size_t)o.size, what);
    }
    free(got);
    free(want);
    return bad;
}

static void test_against_pillow(void)
{
    const char *py = getenv("PYTHON");
    if (!py || !*py) py = "/usr/bin/python3";
    char cmd[1024], dir[512], list[600];
    snprintf(dir, sizeof dir, "%s/ref", tmpdir);
    snprintf(cmd, sizeof cmd, "'%s' -c 'import PIL, numpy' 2>/dev/null", py);
    if (system(cmd) != 0) SKIP("%s with PIL and numpy not available", py);
    snprintf(cmd, sizeof cmd, "'%s' tests/unit/image_ref.py '%s' 2>/dev/null", py, dir);
    CHECK_MSG(system(cmd) == 0, "image_ref.py failed (run it by hand: %s)", cmd);
    snprintf(list, sizeof list, "%s/list.txt", dir);
    char **lines = NULL;
    size_t n = 0;
    CHECK(seize_read_lines(list, &lines, &n) == 0);
    int n_dec = 0, n_pre = 0, n_err = 0, bad = 0;
    seize_image *img = NULL;
    char cur[600] = "";
    for (size_t i = 0; i < n; i++) {
        char kind, path[600];
        if (sscanf(lines[i], "%c %599s", &kind, path) != 2) continue;
        if (strcmp(path, cur)) {
            seize_image_free(img);
            img = NULL;
            snprintf(cur, sizeof cur, "%s", path);
            if (seize_image_load(path, 0, &img) < 0 && kind != 'E') {
                fprintf(stderr, "  %s: %s\n", path, seize_errmsg());
                bad++;
                continue;
            }
        }
        if (kind == 'E') n_err++, bad += check_refused(path, img, lines[i]);
        if (kind == 'D' && img) n_dec++, bad += check_decoded(lines[i], img);
        if (kind == 'P' && img) n_pre++, bad += check_preprocessed(lines[i], img);
    }
    seize_image_free(img);
    seize_lines_free(lines, n);
    fprintf(stderr,
            "  Pillow comparison: %d decodes, %d preprocess results (each also streamed), "
            "%d refusals\n",
            n_dec, n_pre, n_err);
    CHECK(n_dec > 50 && n_pre > 150 && n_err >= 5);
    CHECK_EQ(bad, 0);
}

// --- hostile input --------------------------------------------------------------------------

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

static uint32_t crc32_png(const uint8_t *p, size_t n) // the PNG/zlib CRC-32
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

// A zlib stream with one stored (uncompressed) block; returns its length.
static size_t zlib_stored(uint8_t *out, const uint8_t *raw, size_t n)
{
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++)
        a = (a + raw[i]) % 65521, b = (b + a) % 65521;
    out[0] = 0x78, out[1] = 0x01, out[2] = 0x01;
    out[3] = (uint8_t)n, out[4] = (uint8_t)(n >> 8);
    out[5] = (uint8_t)~n, out[6] = (uint8_t)(~n >> 8);
    memcpy(out + 7, raw, n);
    put32(out + 7 + n, b << 16 | a);
    return n + 11;
}

// A PNG with the given IHDR fields and one IDAT holding `raw` (already filtered rows).
static size_t make_png(uint8_t *out, uint32_t w, uint32_t h, int depth, int color,
                       const uint8_t *raw, size_t raw_len)
{
    size_t n = 0;
    memcpy(out, "\x89PNG\r\n\x1a\n", 8);
    n = 8;
    put32(out + n, 13);
    memcpy(out + n + 4, "IHDR", 4);
    put32(out + n + 8, w);
    put32(out + n + 12, h);
    out[n + 16] = (uint8_t)depth, out[n + 17] = (uint8_t)color;
    out[n + 18] = out[n + 19] = out[n + 20] = 0;
    put32(out + n + 21, crc32_png(out + n + 4, 17));
    n += 25;
    size_t zl = zlib_stored(out + n + 8, raw, raw_len);
    put32(out + n, (uint32_t)zl);
    memcpy(out + n + 4, "IDAT", 4);
    put32(out + n + 8 + zl, crc32_png(out + n + 4, zl + 4));
    n += 12 + zl;
    memcpy(out + n, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    return n + 12;
}

static int decode_fails(const void *buf, size_t len, const char *name, size_t max_pixels,
                        const char *want)
{
    seize_image *img = NULL;
    int rc = seize_image_decode(buf, len, name, max_pixels, &img);
    if (rc >= 0) {
        seize_image_free(img);
        fprintf(stderr, "  %s: decoded, expected an error\n", name);
        return 0;
    }
    fprintf(stderr, "  %s: %s\n", name, seize_errmsg());
    if (!strstr(seize_errmsg(), name)) return 0;
    if (want && !strstr(seize_errmsg(), want)) return 0;
    return img == NULL;
}

static void test_hostile(void)
{
    uint8_t buf[4096], raw[64];
    CHECK(decode_fails("", 0, "empty.png", 0, "empty"));
    CHECK(decode_fails("hello world, not an image", 25, "text.jpg", 0, "unknown image format"));
    CHECK(decode_fails("GIF89a\1\0\1\0", 10, "anim.gif", 0, "GIF"));
    CHECK(decode_fails("RIFF\0\0\0\0WEBPVP8 ", 16, "x.webp", 0, "WebP"));
    CHECK(decode_fails("\xff\xd8\xff", 3, "stub.jpg", 0, NULL));
    CHECK(decode_fails("\x89PNG\r\n\x1a\n", 8, "stub.png", 0, NULL));

    memset(raw, 0, sizeof raw);
    size_t n = make_png(buf, 2, 2, 8, 0, raw, 6); // valid 2x2 gray: sanity of the builder
    seize_image *img = NULL;
    CHECK_MSG(seize_image_decode(buf, n, "ok.png", 0, &img) == 0, "%s", seize_errmsg());
    CHECK(img->width == 2 && img->height == 2 && img->mode == SEIZE_MODE_L);
    seize_image_free(img);
    n = make_png(buf, 0, 5, 8, 0, raw, 6);
    CHECK(decode_fails(buf, n, "zero_width.png", 0, NULL));
    n = make_png(buf, 5, 0, 8, 0, raw, 6);
    CHECK(decode_fails(buf, n, "zero_height.png", 0, NULL));
    n = make_png(buf, 100000, 100000, 8, 2, raw, 6); // 10^10 pixels, tiny file
    CHECK(decode_fails(buf, n, "bomb.png", SEIZE_IMAGE_MAX_PIXELS, "exceeds the limit"));
    n = make_png(buf, 0x7fffffff, 0x7fffffff, 16, 6, raw, 6);
    CHECK(decode_fails(buf, n, "huge.png", 0, "exceeds the limit")); // 0: the default limit
    CHECK(decode_fails(buf, n, "huge2.png", SIZE_MAX, NULL));        // no limit: no huge allocation
    n = make_png(buf, 64, 64, 8, 2, raw, 6);                         // far too little image data
    CHECK(decode_fails(buf, n, "short.png", 0, NULL));
    n = make_png(buf, 4, 4, 3, 2, raw, 6); // bit depth 3 is invalid
    CHECK(decode_fails(buf, n, "depth3.png", 0, NULL));
    n = make_png(buf, 2, 2, 8, 3, raw, 6); // palette image without PLTE
    CHECK(decode_fails(buf, n, "noplte.png", 0, NULL));
    n = make_png(buf, 2, 2, 8, 0, raw, 6);
    buf[20] ^= 1; // IHDR CRC mismatch
    CHECK(decode_fails(buf, n, "badcrc.png", 0, NULL));

    // A JPEG whose SOF claims 65000x65000: refused before any pixel memory is allocated.
    static const uint8_t sof[] = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0xFD, 0xE8, 0xFD,
                                  0xE8, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x00, 0x03, 0x11,
                                  0x00, 0xFF, 0xDA, 0x00, 0x0C, 0x03, 0x01, 0x00, 0x02, 0x11,
                                  0x03, 0x11, 0x00, 0x3F, 0x00, 0xFF, 0xD9};
    CHECK(decode_fails(sof, sizeof sof, "bomb.jpg", 1000000, "exceeds the limit"));
    CHECK(decode_fails(sof, sizeof sof, "bomb2.jpg", 0, "exceeds the limit"));
    CHECK(decode_fails(sof, 12, "cut_sof.jpg", 0, NULL));

    seize_image *none = NULL;
    CHECK(seize_image_load("/nonexistent/dir/x.jpg", 0, &none) == SEIZE_EIO);
    CHECK(strstr(seize_errmsg(), "/nonexistent/dir/x.jpg") != NULL);
    CHECK(none == NULL);
}

static void test_options(void)
{
    uint8_t raw[64] = {0}, buf[4096];
    size_t n = make_png(buf, 4, 2, 8, 0, raw, 10);
    seize_image *img = NULL;
    CHECK(seize_image_decode(buf, n, "o.png", 0, &img) == 0);
    seize_preprocess_opts o = seize_preprocess_default_opts();
    CHECK(o.size == 224 && o.pad_ratio == 1.25 && o.max_pixels == SEIZE_IMAGE_MAX_PIXELS);
    float *x = malloc(3 * 224 * 224 * sizeof *x);
    o.size = 0;
    int r1 = seize_image_preprocess(img, &o, x);
    o.size = 224;
    o.pad_ratio = 0.5;
    int r2 = seize_image_preprocess(img, &o, x);
    o.pad_ratio = NAN;
    int r3 = seize_image_preprocess(img, &o, x);
    o.pad_ratio = 1.25;
    int r4 = seize_image_preprocess(img, &o, x);
    // all-black input: every value is (0 - mean) / std
    float want = (0.0f - o.mean[1]) / o.std[1];
    int r5 = x[224 * 224 + 5] == want;
    free(x);
    seize_image_free(img);
    CHECK(r1 == SEIZE_EINVAL && r2 == SEIZE_EINVAL && r3 == SEIZE_EINVAL);
    CHECK(r4 == 0 && r5);
}

// Extreme aspect ratios: bounded memory and time, and the right answer on a tiny check.
static void test_extreme_aspect(void)
{
    // 1 x 20000 gray: padded to 16000 x 20000 virtually; only the crop window is computed.
    size_t h = 20000;
    seize_image img = {.width = 1, .height = h, .mode = SEIZE_MODE_L};
    img.data = malloc(h);
    memset(img.data, 200, h);
    seize_preprocess_opts o = seize_preprocess_default_opts();
    uint8_t *out = malloc(224 * 224 * 3);
    double t0 = seize_now();
    int rc = seize_image_preprocess_u8(&img, &o, out);
    double dt = seize_now() - t0;
    // The single bright column sits in the middle of a black square: the centre stays dim,
    // the corners are black.
    int corner_black = out[0] == 0 && out[3 * (224 * 224 - 1)] == 0;
    o.pad_ratio = 0; // no pad: 224 x 4480000 resized, 224 x 224 crop of a uniform column
    int rc2 = seize_image_preprocess_u8(&img, &o, out);
    int uniform = out[3 * (112 * 224 + 112)] == 200 && out[0] == 200;
    free(out);
    free(img.data);
    CHECK_MSG(rc == 0 && rc2 == 0, "%s", seize_errmsg());
    CHECK(corner_black);
    CHECK(uniform);
    fprintf(stderr, "  1x20000 with TargetPad: %.3f s\n", dt);
}

// Several threads preprocessing at once give the same result as one.
struct job {
    const seize_image *img;
    uint8_t *out;
    int rc;
};

static void *job_run(void *p)
{
    struct job *j = p;
    seize_preprocess_opts o = seize_preprocess_default_opts();
    j->rc = seize_image_preprocess_u8(j->img, &o, j->out);
    return NULL;
}

static void test_threads(void)
{
    size_t w = 300, h = 200;
    seize_image img = {.width = w, .height = h, .mode = SEIZE_MODE_RGBA};
    img.data = malloc(w * h * 4);
    for (size_t i = 0; i < w * h * 4; i++)
        img.data[i] = (uint8_t)(i * 2654435761u >> 13);
    struct job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct job){&img, malloc(224 * 224 * 3), -1};
        pthread_create(&th[i], NULL, job_run, &jobs[i]);
    }
    int same = 1, ok = 1;
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        ok &= jobs[i].rc == 0;
        same &= !memcmp(jobs[i].out, jobs[0].out, 224 * 224 * 3);
    }
    for (int i = 0; i < 4; i++)
        free(jobs[i].out);
    free(img.data);
    CHECK(ok);
    CHECK(same);
}

// --- many files into one .npy ----------------------------------------------------------------

static size_t bad_index = SIZE_MAX;
static void on_bad_item(void *ud, size_t i, const char *msg)
{
    bad_index = i;
}

// Rows in list order equal to seize_image_load_preprocess; a bad file stops the run (nothing
// written) or, with keep_going, is reported and left out (the header says the rows written).
static void test_preprocess_files(void)
{
    NEED_FIXTURES();
    char img[3][600], fake[600], out[600];
    snprintf(img[0], sizeof img[0], "%s", check_fixture_path("images/rocket.jpg"));
    snprintf(img[1], sizeof img[1], "%s", check_fixture_path("images/logo.png"));
    snprintf(fake, sizeof fake, "%s/fake.png", tmpdir);
    snprintf(out, sizeof out, "%s/pre.npy", tmpdir);
    check_write_text(fake, "not an image");
    const char *paths[3] = {img[0], fake, img[1]};
    seize_preprocess_files_params p = seize_preprocess_files_default_params();
    p.pre.size = 40, p.n_threads = 2, p.on_bad = on_bad_item;
    size_t n_ok = 7;
    CHECK_EQ(seize_preprocess_files(paths, 3, out, &p, &n_ok), SEIZE_EFORMAT);
    CHECK(n_ok == 0 && strstr(seize_errmsg(), "fake.png") && access(out, F_OK) != 0);
    p.keep_going = 1;
    CHECK_EQ(seize_preprocess_files(paths, 3, out, &p, &n_ok), 0);
    CHECK(n_ok == 2 && bad_index == 1);
    seize_npy *a = NULL;
    CHECK_EQ(seize_npy_load(out, &a), 0);
    float *want = malloc(2 * 3 * 40 * 40 * sizeof *want);
    int ok = want && a->ndim == 4 && a->shape[0] == 2 && a->shape[1] == 3 && a->shape[3] == 40 &&
             seize_image_load_preprocess(img[0], &p.pre, want) == 0 &&
             seize_image_load_preprocess(img[1], &p.pre, want + 3 * 40 * 40) == 0 &&
             !memcmp(a->data, want, 2 * 3 * 40 * 40 * sizeof *want);
    free(want);
    seize_npy_free(a);
    CHECK(ok);
    const char *none[1] = {fake};
    CHECK_EQ(seize_preprocess_files(none, 1, out, &p, &n_ok), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "no image could be read"));
}

// --- BLIP's image processor (squash) ------------------------------------------------------------

// Every entry point with `o` on the image file `path`, each compared with the uint8 (S, S, 3)
// `want` (and, when `want_f` is given, the float32 (3, S, S) result with |diff| <= 1e-6).
// Returns the number of mismatches.
static int check_all_paths(const char *path, const seize_preprocess_opts *o, const uint8_t *want,
                           const float *want_f, const char *what)
{
    size_t S = (size_t)o->size, n = S * S * 3;
    uint8_t *got = malloc(n);
    float *x = malloc(n * sizeof *x);
    seize_image *img = NULL;
    seize_map m = {0};
    int bad = 0;
    if (!got || !x || seize_image_load(path, o->max_pixels, &img) < 0 ||
        seize_map_open(path, &m) < 0) {
        fprintf(stderr, "  %s: %s\n", what, seize_errmsg());
        bad = 1;
    }
    for (int k = 0; !bad && k < 3; k++) {
        int rc = k == 0   ? seize_image_preprocess_u8(img, o, got)
                 : k == 1 ? seize_image_load_preprocess_u8(path, o, got)
                          : seize_image_decode_preprocess_u8(m.data, m.size, path, o, got);
        if (rc < 0 || memcmp(got, want, n)) {
            size_t i = 0;
            while (rc == 0 && i < n && got[i] == want[i])
                i++;
            fprintf(stderr, "  %s (entry point %d): %s at byte %zu\n", what, k,
                    rc < 0 ? seize_errmsg() : "differs", i);
            bad++;
        }
    }
    for (int k = 0; !bad && want_f && k < 2; k++) {
        int rc = k ? seize_image_load_preprocess(path, o, x) : seize_image_preprocess(img, o, x);
        double md = 0;
        for (size_t i = 0; rc == 0 && i < n; i++)
            md = fmax(md, fabs((double)x[i] - (double)want_f[i]));
        if (rc < 0 || md > 1e-6) {
            fprintf(stderr, "  %s (float entry point %d): %s, max |diff| %.3g\n", what, k,
                    rc < 0 ? seize_errmsg() : "differs", md);
            bad++;
        }
    }
    seize_map_close(&m);
    seize_image_free(img);
    free(got);
    free(x);
    return bad;
}

// The BLIP-2 goldens (transformers' BlipImageProcessor on the RGBA merlion.png): the resized
// uint8 image exactly, pixel_values within 1e-6.
static void test_blip2_fixture_squash(void)
{
    NEED_FIXTURES();
    static const char *const cases[] = {"blip2/tiny224/goldens.safetensors",
                                        "blip2/tiny364/goldens.safetensors"};
    for (int c = 0; c < 2; c++) {
        seize_st_file f = {0};
        CHECK_MSG(seize_st_open(check_fixture_path(cases[c]), &f) == 0, "%s", seize_errmsg());
        const seize_st_tensor *u = seize_st_find(&f, "preprocess.resized_uint8_hwc");
        const seize_st_tensor *pv = seize_st_find(&f, "pixel_values");
        int ok = u && pv && u->dtype == SEIZE_ST_I64 && u->ndim == 3 && u->shape[2] == 3 &&
                 u->shape[0] == u->shape[1] && pv->dtype == SEIZE_ST_F32 && pv->count == u->count;
        size_t S = ok ? u->shape[0] : 0;
        uint8_t *want = ok ? malloc(u->count) : NULL;
        float *want_f = ok ? malloc(pv->count * sizeof *want_f) : NULL;
        for (size_t i = 0; want && i < u->count; i++) {
            int64_t v;
            memcpy(&v, u->data + 8 * i, 8);
            ok &= v >= 0 && v <= 255;
            want[i] = (uint8_t)v;
        }
        if (want_f) memcpy(want_f, pv->data, pv->count * sizeof *want_f);
        seize_st_close(&f);
        seize_preprocess_opts o = seize_preprocess_default_opts();
        o.pad_ratio = 0;
        o.size = (int)S;
        o.squash = 1;
        int bad = ok && want && want_f ? check_all_paths(check_fixture_path("blip2/merlion.png"),
                                                         &o, want, want_f, cases[c])
                                       : 1;
        free(want);
        free(want_f);
        CHECK(ok);
        CHECK(S == 224 || S == 364);
        CHECK_EQ(bad, 0);
    }
}

// Pillow's img.convert("RGB").resize((S, S), Image.BICUBIC) on every image that image_ref.py
// makes (every decoded mode: 1, L, P, I, LA, RGB, RGBA, CMYK; PNG and JPEG; sizes from 1x1 up,
// so most are upscaled to 364, some are shrunk, and 224x224 is the unresized copy).
static void test_squash_against_pillow(void)
{
    const char *py = getenv("PYTHON");
    if (!py || !*py) py = "/usr/bin/python3";
    char cmd[2048], dir[512], list[600];
    snprintf(dir, sizeof dir, "%s/squash", tmpdir);
    snprintf(cmd, sizeof cmd, "'%s' -c 'import PIL, numpy' 2>/dev/null", py);
    if (system(cmd) != 0) SKIP("%s with PIL and numpy not available", py);
    snprintf(cmd, sizeof cmd,
             "'%s' tests/unit/image_ref.py '%s' 2>/dev/null && '%s' -c '\n"
             "import sys, warnings\nfrom PIL import Image\nwarnings.simplefilter(\"ignore\")\n"
             "d = sys.argv[1]\nout = []\n"
             "for line in open(d + \"/list.txt\"):\n"
             "    f = line.split()\n"
             "    if f[0] != \"D\":\n        continue\n"
             "    im = Image.open(f[1])\n"
             "    for s in (224, 364):\n"
             "        q = \"%%s.squash%%d\" %% (f[1], s)\n"
             "        open(q, \"wb\").write(im.convert(\"RGB\").resize((s, s), Image.BICUBIC)"
             ".tobytes())\n"
             "        out.append(\"%%s %%d %%s %%s\" %% (f[1], s, q, f[2]))\n"
             "open(d + \"/squash.txt\", \"w\").write(\"\\n\".join(out) + \"\\n\")\n' '%s'",
             py, dir, py, dir);
    CHECK_MSG(system(cmd) == 0, "the Pillow reference failed (run it by hand: %s)", cmd);
    snprintf(list, sizeof list, "%s/squash.txt", dir);
    char **lines = NULL;
    size_t n = 0;
    CHECK(seize_read_lines(list, &lines, &n) == 0);
    int bad = 0, n_up = 0, modes = 0;
    uint8_t *want = malloc(364 * 364 * 3);
    for (size_t i = 0; want && i < n; i++) {
        char path[600], ref[700], mode[16];
        int s;
        if (sscanf(lines[i], "%599s %d %699s %15s", path, &s, ref, mode) != 4) continue;
        FILE *f = fopen(ref, "rb");
        size_t got = f ? fread(want, 1, (size_t)s * s * 3, f) : 0;
        if (f) fclose(f);
        seize_preprocess_opts o = seize_preprocess_default_opts();
        o.pad_ratio = 0, o.size = s, o.squash = 1;
        char what[800];
        snprintf(what, sizeof what, "%s (%s) at %d", path, mode, s);
        bad += got != (size_t)s * s * 3 || check_all_paths(path, &o, want, NULL, what);
        seize_image *img = NULL;
        if (seize_image_load(path, 0, &img) == 0) {
            n_up += img->width < (size_t)s && img->height < (size_t)s;
            modes |= 1 << img->mode;
        }
        seize_image_free(img);
    }
    free(want);
    fprintf(stderr, "  squash vs Pillow: %zu results (%d upscaled both ways), modes mask 0x%x\n", n,
            n_up, modes);
    seize_lines_free(lines, n);
    CHECK(n >= 150);
    CHECK(n_up >= 10);
    CHECK_EQ(modes, 0xFF); // all eight modes
    CHECK_EQ(bad, 0);
}

static void test_squash_options(void)
{
    NEED_FIXTURES();
    const char *png = check_fixture_path("blip2/merlion.png");
    seize_preprocess_opts o = seize_preprocess_default_opts();
    CHECK_EQ(o.squash, 0);
    o.squash = 1; // pad_ratio is still 1.25
    uint8_t *out = malloc(224 * 224 * 3);
    float *x = malloc(224 * 224 * 3 * sizeof *x);
    seize_image *img = NULL;
    int ok = out && x && seize_image_load(png, 0, &img) == 0;
    int r1 = ok ? seize_image_preprocess_u8(img, &o, out) : 0;
    int r2 = ok ? seize_image_preprocess(img, &o, x) : 0;
    int r3 = ok ? seize_image_load_preprocess(png, &o, x) : 0;
    int r4 = ok ? seize_image_load_preprocess_u8(png, &o, out) : 0;
    free(out);
    free(x);
    seize_image_free(img);
    CHECK(ok);
    CHECK(r1 == SEIZE_EINVAL && r2 == SEIZE_EINVAL && r3 == SEIZE_EINVAL && r4 == SEIZE_EINVAL);
    CHECK(strstr(seize_errmsg(), "squash") && strstr(seize_errmsg(), "merlion.png"));
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/seize-test-image-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_fixtures_targetpad);
    RUN(test_fixtures_clip);
    RUN(test_fixture_modes);
    RUN(test_truncated_fixture);
    RUN(test_against_pillow);
    RUN(test_hostile);
    RUN(test_options);
    RUN(test_extreme_aspect);
    RUN(test_threads);
    RUN(test_preprocess_files);
    RUN(test_blip2_fixture_squash);
    RUN(test_squash_against_pillow);
    RUN(test_squash_options);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    return check_summary("image");
}
