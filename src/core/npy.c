// NumPy .npy reading and writing (format versions 1.0, 2.0 and 3.0).
#include "seize/core.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

// --- half precision ---------------------------------------------------------------------------

float seize_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { // subnormal: renormalise
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3ff;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t seize_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff);
    uint32_t man = x & 0x7fffff;
    if (exp == 255) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    exp = exp - 127 + 15;
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; // may carry into the exponent
    return (uint16_t)half;
}

float seize_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// --- reading ----------------------------------------------------------------------------------

static size_t dtype_size(seize_dtype t)
{
    return t == SEIZE_F16 ? 2 : 4;
}

static const char *dtype_descr(seize_dtype t)
{
    return t == SEIZE_F16 ? "<f2" : t == SEIZE_I32 ? "<i4" : "<f4";
}

// Finds 'key' (quoted with ' or ") in the header dict and returns a pointer after the colon.
static const char *find_key(const char *h, size_t n, const char *key)
{
    size_t k = strlen(key);
    for (size_t i = 0; i + k + 2 <= n; i++) {
        if ((h[i] == '\'' || h[i] == '"') && memcmp(h + i + 1, key, k) == 0 &&
            h[i + 1 + k] == h[i]) {
            const char *p = h + i + k + 2;
            while (p < h + n && isspace((unsigned char)*p))
                p++;
            if (p < h + n && *p == ':') {
                p++;
                while (p < h + n && isspace((unsigned char)*p))
                    p++;
                return p;
            }
        }
    }
    return NULL;
}

int seize_npy_parse(const void *buf, size_t len, const char *name, seize_npy **out)
{
    *out = NULL;
    const uint8_t *b = buf;
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return seize_error(SEIZE_EFORMAT, "cannot read '%s': not a .npy file (bad magic)", name);
    int major = b[6];
    size_t hlen, hoff;
    if (major == 1) {
        hlen = (size_t)b[8] | ((size_t)b[9] << 8);
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return seize_error(SEIZE_EFORMAT, "cannot read '%s': truncated header", name);
        hlen = (size_t)b[8] | ((size_t)b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24);
        hoff = 12;
    } else {
        return seize_error(SEIZE_EFORMAT, "cannot read '%s': unsupported .npy version %d", name,
                           major);
    }
    if (hlen > len - hoff)
        return seize_error(SEIZE_EFORMAT, "cannot read '%s': header length %zu past end of file",
                           name, hlen);
    const char *h = (const char *)b + hoff;
    // descr
    const char *p = find_key(h, hlen, "descr");
    if (!p) return seize_error(SEIZE_EFORMAT, "cannot read '%s': header has no 'descr'", name);
    seize_dtype dt;
    const char *end = h + hlen;
    if (end - p >= 5 && (p[0] == '\'' || p[0] == '"') && p[4] == p[0]) {
        if (memcmp(p + 1, "<f4", 3) == 0)
            dt = SEIZE_F32;
        else if (memcmp(p + 1, "<f2", 3) == 0)
            dt = SEIZE_F16;
        else if (memcmp(p + 1, "<i4", 3) == 0)
            dt = SEIZE_I32;
        else
            return seize_error(SEIZE_EFORMAT,
                               "cannot read '%s': unsupported dtype %.3s (need <f4, <f2 or <i4)",
                               name, p + 1);
    } else {
        return seize_error(SEIZE_EFORMAT, "cannot read '%s': unsupported dtype", name);
    }
    p = find_key(h, hlen, "fortran_order");
    if (!p)
        return seize_error(SEIZE_EFORMAT, "cannot read '%s': header has no 'fortran_order'", name);
    if (end - p < 5 || memcmp(p, "False", 5) != 0)
        return seize_error(SEIZE_EFORMAT, "cannot read '%s': Fortran order is not supported", name);
    p = find_key(h, hlen, "shape");
    if (!p || p >= end || *p != '(')
        return seize_error(SEIZE_EFORMAT, "cannot read '%s': header has no valid 'shape'", name);
    p++;
    seize_npy *a = calloc(1, sizeof *a);
    if (!a) return seize_error(SEIZE_ENOMEM, "out of memory");
    a->dtype = dt;
    size_t count = 1;
    for (;;) {
        while (p < end && (isspace((unsigned char)*p) || *p == ','))
            p++;
        if (p >= end) goto bad_shape;
        if (*p == ')') break;
        if (!isdigit((unsigned char)*p)) goto bad_shape;
        size_t v = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            if (v > (SIZE_MAX - 9) / 10) goto bad_shape;
            v = v * 10 + (size_t)(*p - '0');
            p++;
        }
        if (p < end && *p == 'L') p++;
        if (a->ndim == SEIZE_NPY_MAX_DIMS) goto bad_shape;
        a->shape[a->ndim++] = v;
        if (seize_mul_size(count, v, &count) < 0) goto bad_shape;
    }
    a->count = count;
    size_t bytes;
    if (seize_mul_size(count, dtype_size(dt), &bytes) < 0) goto bad_shape;
    size_t have = len - hoff - hlen;
    if (bytes != have) {
        seize_error(SEIZE_EFORMAT, "cannot read '%s': data is %zu bytes, shape needs %zu%s", name,
                    have, bytes, have < bytes ? " (truncated file)" : "");
        free(a);
        return SEIZE_EFORMAT;
    }
    a->data = malloc(bytes ? bytes : 1);
    if (!a->data) {
        free(a);
        return seize_error(SEIZE_ENOMEM, "out of memory reading '%s' (%zu bytes)", name, bytes);
    }
    memcpy(a->data, b + hoff + hlen, bytes);
    *out = a;
    return 0;
bad_shape:
    free(a);
    return seize_error(SEIZE_EFORMAT, "cannot read '%s': malformed 'shape' in header", name);
}

int seize_npy_load(const char *path, seize_npy **out)
{
    *out = NULL;
    seize_map m;
    int rc = seize_map_open(path, &m);
    if (rc < 0) return rc;
    rc = seize_npy_parse(m.data ? (const void *)m.data : "", m.size, path, out);
    seize_map_close(&m);
    return rc;
}

float *seize_npy_f32(seize_npy *a)
{
    if (a->dtype == SEIZE_F32) return a->data;
    if (a->dtype != SEIZE_F16) return NULL;
    float *f = malloc(a->count ? a->count * sizeof(float) : 1);
    if (!f) {
        seize_error(SEIZE_ENOMEM, "out of memory converting f16 array");
        return NULL;
    }
    const uint16_t *h = a->data;
    for (size_t i = 0; i < a->count; i++)
        f[i] = seize_f16_to_f32(h[i]);
    free(a->data);
    a->data = f;
    a->dtype = SEIZE_F32;
    return f;
}

void seize_npy_free(seize_npy *a)
{
    if (!a) return;
    free(a->data);
    free(a);
}

// --- writing ----------------------------------------------------------------------------------

// Builds a complete header (magic..newline) into buf; returns its length.
static size_t make_header(uint8_t *buf, size_t cap, seize_dtype dt, int ndim, const size_t *shape)
{
    char dict[512], shp[400];
    size_t k = 0;
    shp[0] = 0;
    for (int i = 0; i < ndim; i++)
        k += (size_t)snprintf(shp + k, sizeof shp - k, "%zu%s", shape[i],
                              ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                      dtype_descr(dt), shp);
    size_t pre = 10, total = pre + (size_t)dl + 1;
    int major = 1;
    if ((total + 63) / 64 * 64 - pre > 65535) {
        major = 2;
        pre = 12;
        total = pre + (size_t)dl + 1;
    }
    total = (total + 63) / 64 * 64;
    SEIZE_ASSERT(total <= cap);
    size_t hlen = total - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    if (major == 1) {
        buf[8] = (uint8_t)(hlen & 0xff);
        buf[9] = (uint8_t)(hlen >> 8);
    } else {
        for (int i = 0; i < 4; i++)
            buf[8 + i] = (uint8_t)(hlen >> (8 * i));
    }
    memcpy(buf + pre, dict, (size_t)dl);
    memset(buf + pre + dl, ' ', total - pre - (size_t)dl - 1);
    buf[total - 1] = '\n';
    return total;
}

int seize_npy_save(const char *path, seize_dtype dtype, int ndim, const size_t *shape,
                   const void *data)
{
    if (ndim < 0 || ndim > SEIZE_NPY_MAX_DIMS)
        return seize_error(SEIZE_EINVAL, "cannot write '%s': %d dimensions", path, ndim);
    size_t count = 1, bytes;
    for (int i = 0; i < ndim; i++)
        if (seize_mul_size(count, shape[i], &count) < 0) return SEIZE_ENOMEM;
    if (seize_mul_size(count, dtype_size(dtype), &bytes) < 0) return SEIZE_ENOMEM;
    uint8_t hdr[640];
    size_t hl = make_header(hdr, sizeof hdr, dtype, ndim, shape);
    seize_atomic a;
    int rc = seize_atomic_open(path, &a);
    if (rc < 0) return rc;
    if (fwrite(hdr, 1, hl, a.fp) != hl || (bytes && fwrite(data, 1, bytes, a.fp) != bytes)) {
        rc = seize_error(SEIZE_EIO, "cannot write '%s': %s", path, strerror(errno));
        seize_atomic_abort(&a);
        return rc;
    }
    return seize_atomic_commit(&a);
}

struct seize_npy_writer {
    seize_atomic a;
    size_t rows, cols, written, esize;
};

int seize_npy_writer_open(const char *path, seize_dtype dtype, size_t rows, size_t cols,
                          seize_npy_writer **out)
{
    *out = NULL;
    seize_npy_writer *w = calloc(1, sizeof *w);
    if (!w) return seize_error(SEIZE_ENOMEM, "out of memory");
    w->rows = rows;
    w->cols = cols;
    w->esize = dtype_size(dtype);
    int rc = seize_atomic_open(path, &w->a);
    if (rc < 0) {
        free(w);
        return rc;
    }
    uint8_t hdr[640];
    size_t shape[2] = {rows, cols};
    size_t hl = make_header(hdr, sizeof hdr, dtype, 2, shape);
    if (fwrite(hdr, 1, hl, w->a.fp) != hl) {
        rc = seize_error(SEIZE_EIO, "cannot write '%s': %s", path, strerror(errno));
        seize_npy_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

int seize_npy_writer_rows(seize_npy_writer *w, const void *data, size_t n_rows)
{
    if (w->written + n_rows > w->rows)
        return seize_error(SEIZE_EINVAL, "cannot write '%s': more rows than declared (%zu)",
                           w->a.path, w->rows);
    size_t n = n_rows * w->cols * w->esize;
    if (n && fwrite(data, 1, n, w->a.fp) != n)
        return seize_error(SEIZE_EIO, "cannot write '%s': %s", w->a.path, strerror(errno));
    w->written += n_rows;
    return 0;
}

int seize_npy_writer_close(seize_npy_writer *w)
{
    if (!w) return 0;
    int rc;
    if (w->written != w->rows) {
        rc = seize_error(SEIZE_EINVAL, "cannot write '%s': %zu of %zu rows written", w->a.path,
                         w->written, w->rows);
        seize_atomic_abort(&w->a);
    } else {
        rc = seize_atomic_commit(&w->a);
    }
    free(w);
    return rc;
}

void seize_npy_writer_abort(seize_npy_writer *w)
{
    if (!w) return;
    seize_atomic_abort(&w->a);
    free(w);
}
