// The rankings file (JSON Lines, one row per query): written from a search result, read back
// by query number with every error naming the file and line.
#include "seize/retrieval.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// --- writer

// Appends n gallery names (rows `idx_rows` of the index) and their scores to two arrays;
// -1 when a name cannot be a JSON string (or out of memory).
static int append_ranked(json_t *names, json_t *scores, const seize_index *idx,
                         const uint32_t *rows, const float *sc, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        // names and scores stay aligned: a name JSON cannot hold stops the writer (the index
        // refuses such names when it is opened, so this is a last guard)
        json_t *nm = json_string(seize_index_name(idx, rows[j]));
        if (!nm || json_array_append_new(names, nm) < 0 ||
            json_array_append_new(scores, json_real(sc[j])) < 0)
            return -1;
    }
    return 0;
}

// The row of query q: {"query": q, "ranking": [...], "scores": [...], ["subset": [...],
// "subset_scores": [...]], ["id": ...]}; NULL when a name cannot be written.
static json_t *ranking_row(const seize_search_result *r, const seize_index *idx,
                           const char *const *query_ids, size_t q)
{
    json_t *o = json_object(), *rk = json_array(), *sc = json_array();
    json_object_set_new(o, "query", json_integer((json_int_t)q));
    int bad =
        !o || !rk || !sc ||
        append_ranked(rk, sc, idx, r->index + q * r->k, r->score + q * r->k, r->n_ranked[q]) < 0;
    json_object_set_new(o, "ranking", rk);
    json_object_set_new(o, "scores", sc);
    if (r->subset_n) {
        json_t *sr = json_array(), *ss = json_array();
        size_t off = r->subset_off[q];
        bad = bad || !sr || !ss ||
              append_ranked(sr, ss, idx, r->subset_index + off, r->subset_score + off,
                            r->subset_n[q]) < 0;
        json_object_set_new(o, "subset", sr);
        json_object_set_new(o, "subset_scores", ss);
    }
    if (query_ids && query_ids[q]) {
        json_t *id = json_string(query_ids[q]);
        bad = bad || !id || json_object_set_new(o, "id", id) < 0;
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int seize_rankings_write(const char *path, const seize_search_result *r, const seize_index *idx,
                         const char *index_name, const char *const *query_ids)
{
    seize_atomic at = {0};
    int rc = seize_atomic_open(path, &at);
    if (rc < 0) return rc;
    for (size_t q = 0; q < r->n_queries; q++) {
        json_t *o = ranking_row(r, idx, query_ids, q);
        if (!o) {
            rc = seize_error(SEIZE_EFORMAT,
                             "query %zu: a gallery name of index '%s' cannot be written as "
                             "JSON text (not UTF-8?): rebuild the index",
                             q, index_name ? index_name : "(index)");
            goto fail;
        }
        int wrc = json_dumpf(o, at.fp, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
        json_decref(o);
        if (wrc < 0 || fputc('\n', at.fp) == EOF) {
            rc = seize_error(SEIZE_EIO, "cannot write '%s'", path);
            goto fail;
        }
    }
    return seize_atomic_commit(&at);
fail:
    seize_atomic_abort(&at);
    return rc;
}

// --- reader

void seize_rankings_free(seize_rankings *r)
{
    if (!r) return;
    for (size_t i = 0; r->items && r->n_items && i < r->n; i++)
        seize_strv_free(r->items[i], r->n_items[i]);
    free(r->items);
    free(r->n_items);
    free(r);
}

typedef struct reader {
    const seize_dataset *ds;
    const char *path, *field;
    seize_rankings *r;
    size_t *seen_line; // per query: the line that gave it, 0 = not yet
} reader;

// One non-blank line: {"query": k, <field>: [names...], ...}.
static int read_row(reader *rd, const char *text, size_t len, size_t line)
{
    const char *path = rd->path;
    json_error_t err;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!o)
        return seize_error(SEIZE_EFORMAT, "'%s' line %zu: not valid JSON: %s", path, line,
                           err.text);
    int rc = 0;
    json_t *q = json_object_get(o, "query");
    if (!json_is_object(o) || !json_is_integer(q)) {
        rc = seize_error(SEIZE_EFORMAT,
                         "'%s' line %zu: expected an object with an integer \"query\" (the "
                         "query's position in the annotation file)",
                         path, line);
        goto done;
    }
    json_int_t k = json_integer_value(q);
    if (k < 0 || (uint64_t)k >= rd->ds->n) {
        rc = seize_error(SEIZE_EFORMAT,
                         "'%s' line %zu: query %lld is not in the annotations (%zu queries)", path,
                         line, (long long)k, rd->ds->n);
        goto done;
    }
    if (rd->seen_line[k]) {
        rc = seize_error(SEIZE_EFORMAT, "'%s' line %zu: duplicate query %lld (first on line %zu)",
                         path, line, (long long)k, rd->seen_line[k]);
        goto done;
    }
    rd->seen_line[k] = line;
    json_t *list = json_object_get(o, rd->field);
    int r = list ? seize_json_name_list(list, &rd->r->items[k], &rd->r->n_items[k]) : -1;
    if (r == SEIZE_ENOMEM)
        rc = r;
    else if (r < 0)
        rc = seize_error(SEIZE_EFORMAT,
                         "'%s' line %zu: missing or bad \"%s\" (a list of gallery names)", path,
                         line, rd->field);
done:
    json_decref(o);
    return rc;
}

// One JSON object per line; blank lines are skipped; every error names the line.
static int read_lines(reader *rd, const char *buf, size_t len)
{
    size_t i = 0, line = 0;
    if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) i = 3; // a UTF-8 byte-order mark
    while (i < len) {
        size_t j = i;
        while (j < len && buf[j] != '\n')
            j++;
        line++;
        size_t a = i, e = j;
        i = j + 1;
        while (a < e && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\r'))
            a++;
        while (e > a && (buf[e - 1] == ' ' || buf[e - 1] == '\t' || buf[e - 1] == '\r'))
            e--;
        if (e == a) continue;
        int rc = read_row(rd, buf + a, e - a, line);
        if (rc < 0) return rc;
    }
    // the first query without a row
    size_t missing = 0, first = 0;
    for (size_t q = 0; q < rd->ds->n; q++)
        if (!rd->seen_line[q] && !missing++) first = q;
    if (missing)
        return seize_error(SEIZE_EFORMAT,
                           "'%s': %zu of %zu queries have no predictions (first: query id %s)",
                           rd->path, missing, rd->ds->n, rd->ds->q[first].id);
    return 0;
}

int seize_rankings_read(const seize_dataset *ds, const char *path, const char *field,
                        seize_rankings **out)
{
    *out = NULL;
    char *buf = NULL;
    size_t len = 0, n = ds->n;
    int rc = seize_read_file(path, &buf, &len);
    if (rc < 0) return rc;
    reader rd = {.ds = ds, .path = path, .field = field};
    rd.r = seize_calloc(1, sizeof *rd.r);
    rd.seen_line = seize_calloc(n ? n : 1, sizeof *rd.seen_line);
    rc = SEIZE_ENOMEM;
    if (rd.r) {
        rd.r->n = n;
        rd.r->items = seize_calloc(n ? n : 1, sizeof *rd.r->items);
        rd.r->n_items = seize_calloc(n ? n : 1, sizeof *rd.r->n_items);
    }
    if (rd.r && rd.r->items && rd.r->n_items && rd.seen_line) rc = read_lines(&rd, buf, len);
    if (rc == 0)
        *out = rd.r;
    else
        seize_rankings_free(rd.r);
    free(rd.seen_line);
    free(buf);
    return rc;
}
