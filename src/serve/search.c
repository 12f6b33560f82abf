// seize serve's searches: the reference of a request (a gallery name, or an upload as base64 or
// multipart), POST /v1/search/text and /v1/search/image through the batcher (a gallery
// reference ranks its own index row on the worker's state), and the composed POST /v1/search.
#include "serve_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// --- fields ----------------------------------------------------------------------------------

// An integer member in [lo, hi] (default `def` when absent): 0, or -1 with msg set.
int srv_get_int(json_t *body, const char *key, long lo, long hi, long def, long *out, char *msg,
                size_t cap)
{
    json_t *v = json_object_get(body, key);
    *out = def;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(msg, cap, "'%s' must be an integer from %ld to %ld", key, lo, hi);
        return -1;
    }
    *out = (long)json_integer_value(v);
    return 0;
}

// A text member: 0 with *out borrowed (NULL when absent and optional), or -1 with msg set.
int srv_get_text(json_t *body, const char *key, int required, const char **out, char *msg,
                 size_t cap)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if ((!v || json_is_null(v)) && !required) return 0;
    if (!json_is_string(v) || !*json_string_value(v) ||
        json_string_length(v) > SEIZE_STAGE_MAX_TEXT ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(msg, cap, "'%s' must be a non-empty string (at most 64 KiB)", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static json_t *hits_json(const seize_query_hit *h, size_t n, int ab)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:I,s:s,s:I,s:f}", "rank", (json_int_t)(i + 1), "name", h[i].name,
                              "row", (json_int_t)h[i].row, "score", (double)h[i].score);
        if (ab) {
            json_object_set_new(o, "a", json_real(h[i].a));
            json_object_set_new(o, "b", json_real(h[i].b));
            json_object_set_new(o, "increment", json_real(h[i].increment));
        }
        json_array_append_new(a, o);
    }
    return a;
}

// --- the reference ---------------------------------------------------------------------------

static int b64_value(int ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+' || ch == '-') return 62;
    if (ch == '/' || ch == '_') return 63;
    return -1;
}

// Decodes base64 (standard or URL-safe, whitespace and a "data:...;base64," prefix allowed):
// 0, or -1 for malformed text.
static int b64_decode(const char *s, size_t n, uint8_t **out, size_t *len)
{
    const char *comma = memchr(s, ',', n < 100 ? n : 100);
    if (!strncmp(s, "data:", 5) && comma) n -= (size_t)(comma + 1 - s), s = comma + 1;
    uint8_t *b = malloc(n / 4 * 3 + 3);
    if (!b) return -1;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') continue;
        if (ch == '=') {
            pad++;
            continue;
        }
        int v = b64_value(ch);
        if (v < 0 || pad) {
            free(b);
            return -1;
        }
        acc = (acc << 6) | (unsigned)v, bits += 6;
        if (bits >= 8) bits -= 8, b[o++] = (uint8_t)(acc >> bits);
    }
    *out = b, *len = o;
    return 0;
}

static int ref_error(char *msg, size_t cap, int status, const char *text)
{
    snprintf(msg, cap, "%s", text);
    return status;
}

// Checks and decodes an upload: 415 not a JPEG or PNG, 422 over the pixel cap, 400 corrupt.
static int check_upload(seize_server *s, srv_ref *ref, char *msg, size_t cap)
{
    const char *type = srv_image_type(ref->bytes, ref->len);
    if (!type) return ref_error(msg, cap, 415, "the upload is not a JPEG or PNG image");
    snprintf(ref->format, sizeof ref->format, "%s", strcmp(type, "image/png") ? "JPEG" : "PNG");
    srv_decode_enter(s); // given back by srv_ref_drop_pixels or srv_ref_release
    ref->decoding = s;
    int rc = seize_image_decode(ref->bytes, ref->len, "upload", s->p.max_pixels, &ref->img);
    if (rc == SEIZE_EINVAL) {
        snprintf(msg, cap, "the image has more pixels than the limit of %zu: %s", s->p.max_pixels,
                 seize_errmsg());
        return 422;
    }
    if (rc < 0) {
        snprintf(msg, cap, "%s", seize_errmsg());
        return rc == SEIZE_ENOMEM ? 500 : 400;
    }
    uint8_t d[32];
    seize_sha256_buffer(ref->bytes, ref->len, d);
    seize_sha256_hex(d, ref->sha);
    return 0;
}

int srv_ref_get(srv_req *r, json_t *body, srv_ref *ref, char *msg, size_t cap)
{
    memset(ref, 0, sizeof *ref);
    ref->row = SIZE_MAX;
    json_t *j = json_object_get(body, "reference");
    if (!json_is_object(j))
        return ref_error(msg, cap, 400,
                         "'reference' must be {\"name\": ...} or {\"image_base64\": ...}");
    json_t *name = json_object_get(j, "name"), *b64 = json_object_get(j, "image_base64");
    if (json_is_string(name)) {
        if (seize_index_find(r->s->idx, json_string_value(name), &ref->row) < 0)
            return ref_error(msg, cap, 404, "no gallery image of that name");
        ref->name = seize_index_name(r->s->idx, ref->row);
        return 0;
    }
    if (r->file && json_is_true(json_object_get(j, "upload"))) { // taken (no 20 MiB copy)
        ref->bytes = r->file, ref->len = r->file_len;
        r->file = NULL, r->file_len = 0;
    } else if (json_is_string(b64)) {
        if (b64_decode(json_string_value(b64), json_string_length(b64), &ref->bytes, &ref->len) < 0)
            return ref_error(msg, cap, 400, "'image_base64' is not base64");
    } else {
        return ref_error(msg, cap, 400, "'reference' must have \"name\" or \"image_base64\"");
    }
    return check_upload(r->s, ref, msg, cap);
}

void srv_ref_drop_pixels(srv_ref *ref)
{
    seize_image_free(ref->img);
    ref->img = NULL;
    if (ref->decoding) srv_decode_leave(ref->decoding);
    ref->decoding = NULL;
}

void srv_ref_release(srv_ref *ref)
{
    srv_ref_drop_pixels(ref);
    free(ref->bytes);
    memset(ref, 0, sizeof *ref);
}

// --- plain searches --------------------------------------------------------------------------

// A worker (worker = 1) or a place among the batcher's searches for r: 0, or the status sent.
static int gate(srv_req *r, struct MHD_Connection *c, int worker, enum MHD_Result *res)
{
    r->act = (srv_active){0};
    r->act.deadline = r->t0 + r->s->p.request_timeout_s;
    int st = srv_gate_enter(r->s, &r->act, worker ? &r->slot : NULL);
    if (st == 503)
        *res = srv_send_error(r, c, 503, "the server is busy: try again shortly");
    else if (st)
        *res = srv_send_error(r, c, 504, "no worker became free within %g s",
                              r->s->p.request_timeout_s);
    return st;
}

static enum MHD_Result send_hits(srv_req *r, struct MHD_Connection *c, int rc,
                                 const seize_query_hit *hits, size_t n)
{
    if (rc == SEIZE_EINVAL) return srv_send_error(r, c, 400, "%s", seize_errmsg());
    if (rc < 0) return srv_send_error(r, c, 500, "search failed: %s", seize_errmsg());
    double ms = (srv_now() - r->t0) * 1e3;
    return srv_send_json(r, c, 200,
                         json_pack("{s:o,s:f}", "results", hits_json(hits, n, 0), "took_ms", ms));
}

enum MHD_Result srv_search_text(srv_req *r, struct MHD_Connection *c, json_t *body)
{
    char msg[600];
    const char *text;
    long k;
    if (srv_get_text(body, "text", 1, &text, msg, sizeof msg) < 0 ||
        srv_get_int(body, "k", 1, SRV_MAX_K, 50, &k, msg, sizeof msg) < 0)
        return srv_send_error(r, c, 400, "%s", msg);
    enum MHD_Result res;
    if (gate(r, c, 0, &res)) return res;
    seize_query_hit *hits = calloc((size_t)k, sizeof *hits);
    size_t n = 0;
    int rc = hits ? seize_batcher_search_text(r->s->b, text, (size_t)k, hits, &n) : SEIZE_ENOMEM;
    srv_gate_leave(r->s, &r->act, r->slot);
    res = send_hits(r, c, rc, hits, n);
    free(hits);
    return res;
}

// A gallery image's own index row ranked on the worker's state (itself excluded).
static int rank_row(srv_req *r, size_t row, size_t k, seize_query_hit *hits, size_t *n)
{
    seize_embeddings g = seize_index_embeddings(r->s->idx);
    float *q = malloc(g.dim * sizeof *q);
    if (!q) return seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t j = 0; j < g.dim; j++)
        q[j] = g.dtype == SEIZE_F16 ? seize_f16_to_f32(((const uint16_t *)g.data)[row * g.dim + j])
                                    : ((const float *)g.data)[row * g.dim + j];
    seize_search_result *res = NULL;
    int rc = seize_engine_rank(r->slot->st, q, 1, &row, k, &res);
    free(q);
    *n = 0;
    for (size_t i = 0; rc == 0 && i < res->n_ranked[0]; i++) {
        size_t gr = res->index[i];
        hits[i] = (seize_query_hit){
            seize_index_name(r->s->idx, gr), gr, res->score[i], res->score[i], 0, 0};
        (*n)++;
    }
    seize_search_result_free(res);
    return rc;
}

enum MHD_Result srv_search_image(srv_req *r, struct MHD_Connection *c, json_t *body)
{
    char msg[1200];
    long k;
    if (srv_get_int(body, "k", 1, SRV_MAX_K, 50, &k, msg, sizeof msg) < 0)
        return srv_send_error(r, c, 400, "%s", msg);
    srv_ref ref;
    int st = srv_ref_get(r, body, &ref, msg, sizeof msg);
    if (st) {
        srv_ref_release(&ref);
        return srv_send_error(r, c, st, "%s", msg);
    }
    enum MHD_Result res;
    if (gate(r, c, ref.row != SIZE_MAX, &res)) {
        srv_ref_release(&ref);
        return res;
    }
    seize_query_hit *hits = calloc((size_t)k, sizeof *hits);
    size_t n = 0;
    int rc = !hits ? SEIZE_ENOMEM
             : ref.row != SIZE_MAX
                 ? rank_row(r, ref.row, (size_t)k, hits, &n)
                 : seize_batcher_search_image(r->s->b, ref.img, SIZE_MAX, (size_t)k, hits, &n);
    srv_gate_leave(r->s, &r->act, r->slot);
    res = send_hits(r, c, rc, hits, n);
    free(hits);
    srv_ref_release(&ref);
    return res;
}
