// Shards (seize/index.h): the slice rule, and sharded index folders (a manifest over shard
// folders) opened as one index or shard by shard. The merge is in merge.c.
#include "index_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void seize_shard_rows(size_t total, size_t batch, size_t i, size_t n, size_t *first, size_t *end)
{
    size_t b = batch ? batch : 1, nb = total / b + (total % b != 0);
    n = n ? n : 1; // (no shards: the whole list)
    // i * nb / n without overflow: i * (nb % n) < n * n
    size_t fb = i * (nb / n) + i * (nb % n) / n, eb = (i + 1) * (nb / n) + (i + 1) * (nb % n) / n;
    *first = fb * b < total ? fb * b : total;
    *end = eb * b < total ? eb * b : total;
}

// A decimal number of 1 to 6 digits at *s (advanced past it): 0, or -1.
static int parse_count(const char **s, size_t *out)
{
    size_t v = 0, k = 0;
    for (; (*s)[k] >= '0' && (*s)[k] <= '9' && k < 7; k++)
        v = v * 10 + (size_t)((*s)[k] - '0');
    if (!k || k > 6) return -1;
    *s += k;
    *out = v;
    return 0;
}

int seize_shard_parse(const char *s, size_t *i, size_t *n)
{
    const char *p = s ? s : "";
    if (parse_count(&p, i) < 0 || *p++ != '/' || parse_count(&p, n) < 0 || *p || *i >= *n ||
        *n > 100000)
        return seize_error(SEIZE_EINVAL,
                           "bad shard '%s': expected I/N with 0 <= I < N <= 100000, e.g. 0/4",
                           s ? s : "");
    return 0;
}

void ix_names_sha256_at(const void *first, size_t stride, size_t n, char hex[65])
{
    seize_sha256 s;
    uint8_t d[32];
    seize_sha256_init(&s);
    for (size_t i = 0; i < n; i++) {
        const char *name = *(const char *const *)((const char *)first + i * stride);
        seize_sha256_update(&s, name, strlen(name) + 1);
    }
    seize_sha256_final(&s, d);
    seize_sha256_hex(d, hex);
}

void seize_names_sha256(const char *const *names, size_t n, char hex[65])
{
    ix_names_sha256_at(names, sizeof *names, n, hex);
}

// --- the manifest of a sharded index -----------------------------------------------------

typedef struct manifest {
    size_t n;     // shards
    char **paths; // each shard's folder (joined with the index folder unless absolute)
    size_t *off;  // n + 1 global row offsets
} manifest;

static void manifest_free(manifest *m)
{
    seize_lines_free(m->paths, m->n);
    free(m->off);
    memset(m, 0, sizeof *m);
}

// The shards of the manifest j of the sharded index `dir`: paths and row offsets, checked
// against its count.
static int manifest_read(const char *dir, const json_t *j, manifest *m)
{
    memset(m, 0, sizeof *m);
    const json_t *sh = json_object_get(j, "shards"), *c = json_object_get(j, "count");
    size_t n = json_array_size(sh);
    if (!json_is_array(sh) || !n || !json_is_integer(c))
        return seize_error(SEIZE_EFORMAT,
                           "sharded index '%s': index.json has no \"shards\" list or no count",
                           dir);
    m->paths = seize_calloc(n, sizeof *m->paths);
    m->off = seize_calloc(n + 1, sizeof *m->off);
    if (!m->paths || !m->off) {
        manifest_free(m);
        return SEIZE_ENOMEM;
    }
    m->n = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(sh, i), *ec = json_object_get(e, "count");
        const char *p = json_string_value(json_object_get(e, "path"));
        if (!p || !*p || !json_is_integer(ec) || json_integer_value(ec) < 0) {
            manifest_free(m);
            return seize_error(SEIZE_EFORMAT,
                               "sharded index '%s': index.json: shard %zu has no path or count",
                               dir, i);
        }
        m->paths[i] = p[0] == '/' ? seize_strdup(p) : seize_path_join(dir, p);
        m->off[i + 1] = m->off[i] + (size_t)json_integer_value(ec);
        if (!m->paths[i]) {
            manifest_free(m);
            return SEIZE_ENOMEM;
        }
    }
    if (m->off[n] != (size_t)json_integer_value(c)) {
        manifest_free(m);
        return seize_error(SEIZE_EFORMAT,
                           "sharded index '%s': index.json: the shards' counts do not add up to "
                           "its count",
                           dir);
    }
    return 0;
}

// Shard i (opened) agrees with the manifest j: rows, dim, dtype, model, its place.
static int check_shard(const char *dir, const json_t *j, const manifest *m, size_t i,
                       const seize_index *s)
{
    const json_t *sj = seize_index_json(s), *rec = json_object_get(sj, "shard");
    const char *what = NULL;
    const char *dt = seize_index_dtype(s) == SEIZE_F16 ? "f16" : "f32";
    if (seize_index_count(s) != m->off[i + 1] - m->off[i])
        what = "its row count";
    else if (json_integer_value(json_object_get(j, "dim")) != (json_int_t)seize_index_dim(s))
        what = "its dimension";
    else if (!ix_same_str(json_string_value(json_object_get(j, "dtype")), dt))
        what = "its dtype";
    else if (!ix_same_str(ix_model_sha(j), ix_model_sha(sj)))
        what = "its model";
    else if (json_integer_value(json_object_get(rec, "index")) != (json_int_t)i ||
             json_integer_value(json_object_get(rec, "count")) != (json_int_t)m->n ||
             !ix_same_str(json_string_value(json_object_get(rec, "list_sha256")),
                          json_string_value(json_object_get(j, "list_sha256"))))
        what = "its place in the gallery list";
    if (!what) return 0;
    return seize_error(SEIZE_EFORMAT,
                       "sharded index '%s': shard %zu ('%s') does not match the manifest (%s "
                       "differs): was it rebuilt after the merge? merge the shards again",
                       dir, i, m->paths[i], what);
}

// Loads index.json of dir (not its rows).
static int load_json(const char *dir, json_t **j)
{
    char *jp = seize_path_join(dir, "index.json");
    int rc = jp ? seize_json_load(jp, j) : SEIZE_ENOMEM;
    if (rc == 0 && !json_is_object(*j)) {
        json_decref(*j);
        *j = NULL;
        rc = seize_error(SEIZE_EFORMAT, "'%s': not a JSON object", jp);
    }
    free(jp);
    return rc;
}

int seize_index_shards(const char *dir, size_t *n_shards, size_t **offsets)
{
    json_t *j = NULL;
    manifest m = {0};
    *n_shards = 0;
    if (offsets) *offsets = NULL;
    int rc = load_json(dir, &j);
    if (rc == 0 && json_is_true(json_object_get(j, "sharded"))) {
        rc = manifest_read(dir, j, &m);
    } else if (rc == 0) { // a single index: its own shard 0
        seize_index *idx = NULL;
        if (!json_is_integer(json_object_get(j, "count"))) rc = seize_index_open(dir, &idx);
        m.n = 1;
        m.off = rc == 0 ? seize_calloc(2, sizeof *m.off) : NULL;
        if (rc == 0 && !m.off) rc = SEIZE_ENOMEM;
        if (rc == 0)
            m.off[1] = idx ? seize_index_count(idx)
                           : (size_t)json_integer_value(json_object_get(j, "count"));
        seize_index_free(idx);
    }
    json_decref(j);
    if (rc == 0) {
        *n_shards = m.n;
        if (offsets) *offsets = m.off, m.off = NULL;
    }
    free(m.off);
    seize_lines_free(m.paths, m.paths ? m.n : 0);
    return rc;
}

int seize_index_open_shard(const char *dir, size_t i, seize_index **out, size_t *row_offset)
{
    json_t *j = NULL;
    manifest m = {0};
    *out = NULL;
    if (row_offset) *row_offset = 0;
    int rc = load_json(dir, &j);
    if (rc == 0 && !json_is_true(json_object_get(j, "sharded"))) {
        json_decref(j);
        if (i != 0)
            return seize_error(SEIZE_EINVAL, "index '%s' is a single index: it has no shard %zu",
                               dir, i);
        return seize_index_open(dir, out);
    }
    if (rc == 0) rc = manifest_read(dir, j, &m);
    if (rc == 0 && i >= m.n)
        rc = seize_error(SEIZE_EINVAL, "sharded index '%s' has %zu shards: it has no shard %zu",
                         dir, m.n, i);
    if (rc == 0) rc = ix_open_single(m.paths[i], out);
    if (rc == 0) rc = check_shard(dir, j, &m, i, *out);
    if (rc < 0) {
        seize_index_free(*out);
        *out = NULL;
    } else if (row_offset) {
        *row_offset = m.off[i];
    }
    manifest_free(&m);
    json_decref(j);
    return rc;
}

// Moves shard s's rows and names into idx at row `at`.
static void take_rows(seize_index *idx, seize_index *s, size_t at)
{
    size_t row = seize_index_dim(s) * (seize_index_dtype(s) == SEIZE_F16 ? 2 : 4);
    if (s->n_names) memcpy((char *)idx->feats->data + at * row, s->feats->data, s->n_names * row);
    memcpy(idx->names + at, s->names, s->n_names * sizeof *s->names);
    idx->n_names = at + s->n_names;
    free(s->names); // the strings are idx's now
    s->names = NULL, s->n_names = 0;
}

// The name map over all shards; a name in two shards is named with both folders.
static int map_names(seize_index *idx, const manifest *m)
{
    int rc = seize_strmap_init(&idx->map, idx->n_names);
    for (size_t r = 0; rc == 0 && r < idx->n_names; r++) {
        size_t old, a = 0, b = 0;
        int put = seize_strmap_put(&idx->map, idx->names[r], r, &old);
        if (put < 0) return put;
        if (put == 0) continue;
        while (m->off[a + 1] <= old)
            a++;
        while (m->off[b + 1] <= r)
            b++;
        rc = seize_error(SEIZE_EFORMAT,
                         "sharded index '%s': gallery name '%s' is in shard %zu ('%s') and shard "
                         "%zu ('%s')",
                         idx->dir, idx->names[r], a, m->paths[a], b, m->paths[b]);
    }
    return rc;
}

int ix_open_sharded(seize_index *idx)
{
    manifest m;
    int rc = manifest_read(idx->dir, idx->json, &m);
    if (rc < 0) return rc;
    const char *dt = json_string_value(json_object_get(idx->json, "dtype"));
    json_int_t dim = json_integer_value(json_object_get(idx->json, "dim"));
    size_t total = m.off[m.n];
    if (!ix_same_str(dt, "f32") && !ix_same_str(dt, "f16")) dim = 0;
    if (dim <= 0) {
        manifest_free(&m);
        return seize_error(SEIZE_EFORMAT, "sharded index '%s': index.json: bad dim or dtype",
                           idx->dir);
    }
    size_t esz = ix_same_str(dt, "f16") ? 2 : 4;
    idx->feats = seize_calloc(1, sizeof *idx->feats);
    idx->names = seize_calloc(total ? total : 1, sizeof *idx->names);
    if (idx->feats) idx->feats->data = seize_malloc(total ? total : 1, (size_t)dim * esz);
    rc = idx->feats && idx->names && idx->feats->data ? 0 : SEIZE_ENOMEM;
    if (rc == 0) {
        seize_npy *f = idx->feats;
        f->dtype = esz == 2 ? SEIZE_F16 : SEIZE_F32, f->ndim = 2;
        f->shape[0] = total, f->shape[1] = (size_t)dim, f->count = total * (size_t)dim;
    }
    for (size_t i = 0; rc == 0 && i < m.n; i++) {
        seize_index *s = NULL;
        rc = ix_open_single(m.paths[i], &s);
        if (rc == 0) rc = check_shard(idx->dir, idx->json, &m, i, s);
        if (rc == 0) take_rows(idx, s, m.off[i]);
        seize_index_free(s);
    }
    if (rc == 0) rc = map_names(idx, &m);
    manifest_free(&m);
    return rc;
}
