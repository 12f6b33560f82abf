// safetensors reading: map the file, validate the header and every tensor before any use.
#include "seize/model.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

// Headers of real CLIP checkpoints are well under 1 MB; 100 MB rules out absurd lengths before
// the JSON parser sees them.
#define MAX_HEADER (100u << 20)

static const struct {
    const char *name;
    seize_st_dtype dtype;
    size_t size;
} dtypes[] = {
    {"F32", SEIZE_ST_F32, 4},   {"F16", SEIZE_ST_F16, 2}, {"BF16", SEIZE_ST_BF16, 2},
    {"F64", SEIZE_ST_F64, 8},   {"I64", SEIZE_ST_I64, 8}, {"I32", SEIZE_ST_I32, 4},
    {"I16", SEIZE_ST_I16, 2},   {"I8", SEIZE_ST_I8, 1},   {"U8", SEIZE_ST_U8, 1},
    {"BOOL", SEIZE_ST_BOOL, 1},
};

const char *seize_st_dtype_name(seize_st_dtype t)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == t) return dtypes[i].name;
    return "?";
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const seize_st_tensor *)a)->name, ((const seize_st_tensor *)b)->name);
}

static int cmp_offset(const void *a, const void *b)
{
    const seize_st_tensor *x = *(const seize_st_tensor *const *)a,
                          *y = *(const seize_st_tensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

void seize_st_close(seize_st_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    seize_map_close(&f->map);
    memset(f, 0, sizeof *f);
}

static int parse_tensor(const char *name, const char *key, json_t *v, const uint8_t *data,
                        size_t data_len, seize_st_tensor *t)
{
    if (!json_is_object(v))
        return seize_error(SEIZE_EFORMAT, "invalid '%s': tensor '%s': entry is not an object", name,
                           key);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
           *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) || json_array_size(jo) != 2)
        return seize_error(
            SEIZE_EFORMAT,
            "invalid '%s': tensor '%s': needs \"dtype\", \"shape\" and two \"data_offsets\"", name,
            key);
    size_t esize = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(json_string_value(jd), dtypes[i].name)) {
            t->dtype = dtypes[i].dtype;
            esize = dtypes[i].size;
        }
    if (!esize)
        return seize_error(SEIZE_EFORMAT, "invalid '%s': tensor '%s': unsupported dtype '%s'", name,
                           key, json_string_value(jd));
    if (json_array_size(js) > SEIZE_ST_MAX_DIMS)
        return seize_error(SEIZE_EFORMAT, "invalid '%s': tensor '%s': %zu dimensions", name, key,
                           json_array_size(js));
    t->ndim = (int)json_array_size(js);
    size_t count = 1;
    for (int i = 0; i < t->ndim; i++) {
        json_t *d = json_array_get(js, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return seize_error(SEIZE_EFORMAT, "invalid '%s': tensor '%s': bad shape", name, key);
        t->shape[i] = (size_t)json_integer_value(d);
        if (seize_mul_size(count, t->shape[i], &count) < 0)
            return seize_error(SEIZE_EFORMAT, "invalid '%s': tensor '%s': shape overflows", name,
                               key);
    }
    t->count = count;
    json_t *b = json_array_get(jo, 0), *e = json_array_get(jo, 1);
    if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
        json_integer_value(e) < json_integer_value(b))
        return seize_error(SEIZE_EFORMAT, "invalid '%s': tensor '%s': bad data_offsets", name, key);
    unsigned long long ob = (unsigned long long)json_integer_value(b),
                       oe = (unsigned long long)json_integer_value(e);
    if (oe > data_len)
        return seize_error(
            SEIZE_EFORMAT,
            "invalid '%s': tensor '%s': data_offsets [%llu, %llu] past the end of the "
            "data (%zu bytes; truncated file?)",
            name, key, ob, oe, data_len);
    size_t nbytes;
    if (seize_mul_size(count, esize, &nbytes) < 0 || nbytes != oe - ob)
        return seize_error(
            SEIZE_EFORMAT,
            "invalid '%s': tensor '%s': %llu bytes of data for shape of %zu %s elements", name, key,
            oe - ob, count, json_string_value(jd));
    t->data = data + ob;
    t->nbytes = nbytes;
    return 0;
}

int seize_st_parse(const uint8_t *buf, size_t len, const char *name, seize_st_file *out)
{
    memset(out, 0, sizeof *out);
    if (len < 8)
        return seize_error(SEIZE_EFORMAT, "invalid '%s': %zu bytes is too short for safetensors",
                           name, len);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n |= (uint64_t)buf[i] << (8 * i);
    if (n > len - 8)
        return seize_error(
            SEIZE_EFORMAT,
            "invalid '%s': header length %llu is past the end of the file (%zu bytes)", name,
            (unsigned long long)n, len);
    if (n > MAX_HEADER)
        return seize_error(SEIZE_EFORMAT, "invalid '%s': absurd header length %llu", name,
                           (unsigned long long)n);
    json_error_t err;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)n, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return seize_error(SEIZE_EFORMAT, "invalid '%s': header is not JSON (column %d: %s)", name,
                           err.column, err.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return seize_error(SEIZE_EFORMAT, "invalid '%s': header is not a JSON object", name);
    }
    const uint8_t *data = buf + 8 + n;
    size_t data_len = len - 8 - (size_t)n;
    size_t cap = json_object_size(root);
    out->tensors = calloc(cap ? cap : 1, sizeof *out->tensors);
    if (!out->tensors) {
        json_decref(root);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    int rc = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(v)) {
                rc =
                    seize_error(SEIZE_EFORMAT, "invalid '%s': __metadata__ is not an object", name);
                break;
            }
            continue;
        }
        seize_st_tensor *t = &out->tensors[out->n_tensors];
        rc = parse_tensor(name, key, v, data, data_len, t);
        if (rc < 0) break;
        t->name = seize_strdup(key);
        if (!t->name) {
            rc = SEIZE_ENOMEM;
            break;
        }
        out->n_tensors++;
    }
    json_decref(root);
    if (rc == 0 && out->n_tensors > 1) {
        // no two tensors may share bytes
        const seize_st_tensor **byoff = malloc(out->n_tensors * sizeof *byoff);
        if (!byoff) rc = seize_error(SEIZE_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < out->n_tensors; i++)
            byoff[i] = &out->tensors[i];
        if (rc == 0) qsort(byoff, out->n_tensors, sizeof *byoff, cmp_offset);
        for (size_t i = 1; rc == 0 && i < out->n_tensors; i++)
            if (byoff[i - 1]->data + byoff[i - 1]->nbytes > byoff[i]->data)
                rc = seize_error(SEIZE_EFORMAT, "invalid '%s': tensors '%s' and '%s' overlap", name,
                                 byoff[i - 1]->name, byoff[i]->name);
        free(byoff);
    }
    if (rc < 0) {
        seize_st_close(out);
        return rc;
    }
    qsort(out->tensors, out->n_tensors, sizeof *out->tensors, cmp_name);
    return 0;
}

int seize_st_open(const char *path, seize_st_file *out)
{
    memset(out, 0, sizeof *out);
    seize_map m;
    int rc = seize_map_open(path, &m);
    if (rc < 0) return rc;
    if (m.size == 0) {
        seize_map_close(&m);
        return seize_error(SEIZE_EFORMAT, "invalid '%s': empty file", path);
    }
    rc = seize_st_parse(m.data, m.size, path, out);
    if (rc < 0) {
        seize_map_close(&m);
        return rc;
    }
    out->map = m;
    return 0;
}

const seize_st_tensor *seize_st_find(const seize_st_file *f, const char *name)
{
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(f->tensors[mid].name, name);
        if (c == 0) return &f->tensors[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
