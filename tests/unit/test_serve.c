// Unit tests for seize serve (seize/serve.h): the server in this process on 127.0.0.1:0 with the
// tiny fixture model, a gallery of fixture images and an index of them (deterministic
// features), driven with libcurl; the composed search against tests/servers/openai_server.py
// (started with $PYTHON) and against a socket of the test's own that never answers.
#include "check.h"

#include "seize/core.h"
#include "seize/image.h"
#include "seize/index.h"
#include "seize/model.h"
#include "seize/net.h"
#include "seize/pipeline.h"
#include "seize/retrieval.h"
#include "seize/serve.h"
#include "serve/serve_int.h" // the cache (srv_cache_*)

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <zlib.h>

static const char *const gallery_files[] = {"astronaut.png", "chelsea.png", "coffee.png",
                                            "rocket.jpg",    "horse.png",   "camera.png"};
#define N_GALLERY 6
static char g_model[600], g_index[600], g_gallery[600];
static int g_ready;

// --- fixtures: a gallery folder and its index ------------------------------------------------

static int setup(void)
{
    if (g_ready) return g_ready > 0;
    g_ready = -1;
    if (!check_fixtures()) return 0;
    snprintf(g_model, sizeof g_model, "%s", check_fixture_path("models/tiny-openai"));
    snprintf(g_index, sizeof g_index, "%s", check_tmp("index"));
    snprintf(g_gallery, sizeof g_gallery, "%s", check_tmp("gallery"));
    char cmd[2000];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && cd '%s' && cp astronaut.png chelsea.png coffee.png "
             "rocket.jpg horse.png camera.png '%s'/ && echo secret > '%s/not-indexed.png'",
             g_gallery, check_fixture_path("images"), g_gallery, g_gallery);
    if (system(cmd) != 0) return 0;
    seize_clip_model *m = NULL;
    if (seize_clip_model_load(g_model, &m) < 0) return 0;
    size_t dim = (size_t)seize_clip_model_get_config(m)->embed_dim;
    seize_clip_model_free(m);
    float *f = malloc(N_GALLERY * dim * sizeof *f);
    uint32_t s = 777;
    for (size_t i = 0; i < N_GALLERY * dim; i++) {
        s = s * 1664525u + 1013904223u;
        f[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
    int rc = seize_index_write(g_index, f, N_GALLERY, dim, gallery_files, SEIZE_F32, NULL);
    free(f);
    if (rc < 0) return 0;
    g_ready = 1;
    return 1;
}

#define NEED_SETUP()                                                                               \
    do {                                                                                           \
        NEED_FIXTURES();                                                                           \
        CHECK_MSG(setup(), "setup failed: %s", seize_errmsg());                                    \
    } while (0)

static seize_serve_params params(void)
{
    seize_serve_params p = seize_serve_default_params();
    p.index_dir = g_index, p.model_dir = g_model, p.gallery_dir = g_gallery;
    p.listen = "127.0.0.1:0";
    p.n_threads = 1, p.n_workers = 4, p.queue = 16;
    return p;
}

// --- an HTTP client --------------------------------------------------------------------------

typedef struct reply {
    long status;
    char *body;
    size_t len;
    char head[8192];
    size_t hlen;
    size_t sent; // request body bytes the client sent
    json_t *json;
} reply;

static void reply_free(reply *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    reply *r = ud;
    char *b = realloc(r->body, r->len + sz * n + 1);
    if (!b) return 0;
    memcpy(b + r->len, p, sz * n);
    r->body = b, r->len += sz * n;
    r->body[r->len] = 0;
    return sz * n;
}

static size_t on_head(char *p, size_t sz, size_t n, void *ud)
{
    reply *r = ud;
    size_t k = sz * n;
    if (r->hlen + k < sizeof r->head) memcpy(r->head + r->hlen, p, k), r->hlen += k;
    r->head[r->hlen] = 0;
    return k;
}

// A response header's value (static buffer), or NULL.
static const char *header(const reply *r, const char *name)
{
    static char v[512];
    size_t n = strlen(name);
    for (const char *p = r->head; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
        if (!strncasecmp(p, name, n) && p[n] == ':') {
            const char *s = p + n + 1;
            while (*s == ' ')
                s++;
            size_t k = strcspn(s, "\r\n");
            snprintf(v, sizeof v, "%.*s", (int)k, s);
            return v;
        }
    return NULL;
}

typedef struct body_src { // a generated request body: `size` bytes of `fill`
    size_t size, off;
    size_t *sent;
} body_src;

static size_t on_read(char *buf, size_t sz, size_t n, void *ud)
{
    body_src *b = ud;
    size_t k = sz * n;
    if (k > b->size - b->off) k = b->size - b->off;
    memset(buf, 'x', k);
    b->off += k, *b->sent += k;
    return k;
}

typedef struct req {
    const char *method, *path, *auth, *ctype, *origin;
    const char *body;
    size_t len;
    size_t gen;      // > 0: a generated body of this size instead
    int chunked;     // with gen: no Content-Length
    curl_mime *mime; // multipart instead
} req;

static int g_port;

static int http(const req *q, reply *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    char url[1024], auth[300], ct[300], origin[300];
    struct curl_slist *h = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_port, q->path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_head);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); // "../" reaches the server as sent
    if (q->auth)
        snprintf(auth, sizeof auth, "Authorization: %s", q->auth), h = curl_slist_append(h, auth);
    if (q->ctype)
        snprintf(ct, sizeof ct, "Content-Type: %s", q->ctype), h = curl_slist_append(h, ct);
    if (q->origin)
        snprintf(origin, sizeof origin, "Origin: %s", q->origin), h = curl_slist_append(h, origin);
    body_src src = {q->gen, 0, &r->sent};
    if (q->mime) {
        curl_easy_setopt(c, CURLOPT_MIMEPOST, q->mime);
    } else if (q->gen) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &src);
        if (!q->chunked)
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->gen);
        else
            h = curl_slist_append(h, "Transfer-Encoding: chunked");
    } else if (q->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->len);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK && getenv("TEST_SERVE_DEBUG"))
        fprintf(stderr, "  curl %s %s: %s\n", q->method, q->path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (r->body) r->json = json_loadb(r->body, r->len, 0, NULL);
    return rc == CURLE_OK ? 0 : -1;
}

static int get(const char *path, reply *r)
{
    req q = {"GET", path};
    return http(&q, r);
}

static int post(const char *path, const char *json, reply *r)
{
    req q = {"POST", path, .ctype = "application/json", .body = json, .len = strlen(json)};
    return http(&q, r);
}

// The error reply {"error": {"status": S, "message": "..."}} with that HTTP status.
static int is_error(const reply *r, long status)
{
    json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
    return r->status == status && e && json_integer_value(json_object_get(e, "status")) == status &&
           json_string_length(json_object_get(e, "message")) > 0;
}

static const char *msg_of(const reply *r)
{
    json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
    const char *m = e ? json_string_value(json_object_get(e, "message")) : NULL;
    return m ? m : (r->body ? r->body : "(no body)");
}

// A metric's value from /metrics (the first line starting with `name`), or -1.
static double metric(const char *name)
{
    reply r;
    if (get("/metrics", &r) < 0 || r.status != 200) {
        reply_free(&r);
        return -1;
    }
    double v = -1;
    size_t n = strlen(name);
    for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, name, n) && p[n] == ' ') {
            v = atof(p + n + 1);
            break;
        }
    reply_free(&r);
    return v;
}

static char *b64(const uint8_t *d, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc(n / 3 * 4 + 8), *p = o;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        *p++ = t[v >> 18], *p++ = t[(v >> 12) & 63];
        *p++ = i + 1 < n ? t[(v >> 6) & 63] : '=';
        *p++ = i + 2 < n ? t[v & 63] : '=';
    }
    *p = 0;
    return o;
}

// {"reference": {"image_base64": ...}, EXTRA} for the bytes of a file or buffer.
static char *upload_json(const void *data, size_t n, const char *extra)
{
    char *e = b64(data, n);
    size_t len = strlen(e) + strlen(extra) + 100;
    char *s = malloc(len);
    snprintf(s, len, "{\"reference\": {\"image_base64\": \"%s\"}%s%s}", e, *extra ? ", " : "",
             extra);
    free(e);
    return s;
}

static char *file_bytes(const char *path, size_t *n)
{
    char *d = NULL;
    if (seize_read_file(path, &d, n) < 0) return NULL;
    return d;
}

// A PNG of w × h (signature, IHDR with its CRC, an empty IDAT, IEND): a header a decoder must
// refuse before allocating anything when w·h is over the cap.
static size_t bomb_png(uint32_t w, uint32_t h, uint8_t *out)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[17] = {'I',     'H',    'D', 'R', w >> 24, w >> 16, w >> 8, w, h >> 24,
                        h >> 16, h >> 8, h,   8,   2,       0,       0,      0};
    size_t o = 0;
    memcpy(out, sig, 8), o = 8;
    out[o++] = 0, out[o++] = 0, out[o++] = 0, out[o++] = 13;
    memcpy(out + o, ihdr, 17), o += 17;
    uint32_t crc = (uint32_t)crc32(0, ihdr, 17);
    out[o++] = crc >> 24, out[o++] = crc >> 16, out[o++] = crc >> 8, out[o++] = crc;
    static const uint8_t tail[] = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xAF, 0x06, 0x1E,
                                   0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
    memcpy(out + o, tail, sizeof tail), o += sizeof tail;
    return o;
}

// --- tests -----------------------------------------------------------------------------------

static seize_server *up(const seize_serve_params *p)
{
    seize_server *s = NULL;
    if (seize_server_start(p, &s) < 0) {
        fprintf(stderr, "  start: %s\n", seize_errmsg());
        return NULL;
    }
    g_port = seize_server_port(s);
    return s;
}

// The page and its assets (the committed files, byte for byte), /healthz, /v1/info (no LLM:
// "composed" false), /metrics, /v1/gallery with a filter and paging; unknown routes 404,
// wrong methods 405, every error JSON.
static void test_routes(void)
{
    NEED_SETUP();
    seize_serve_params p = params();
    seize_server *s = up(&p);
    CHECK(s != NULL);
    reply r;
    const char *assets[3][2] = {{"/", "src/serve/web/index.html"},
                                {"/app.js", "src/serve/web/app.js"},
                                {"/style.css", "src/serve/web/style.css"}};
    for (int i = 0; i < 3; i++) {
        size_t n = 0;
        char *want = file_bytes(assets[i][1], &n);
        CHECK(want != NULL);
        CHECK_EQ(get(assets[i][0], &r), 0);
        int same = r.status == 200 && r.len == n && !memcmp(r.body, want, n);
        free(want);
        CHECK_MSG(same, "%s: status %ld, %zu bytes", assets[i][0], r.status, r.len);
        reply_free(&r);
    }
    CHECK_EQ(get("/healthz", &r), 0);
    CHECK(r.status == 200 && !strcmp(json_string_value(json_object_get(r.json, "status")), "ok"));
    reply_free(&r);
    CHECK_EQ(get("/v1/info", &r), 0);
    CHECK_EQ(r.status, 200);
    json_t *idx = json_object_get(r.json, "index");
    CHECK_EQ(json_integer_value(json_object_get(idx, "count")), N_GALLERY);
    CHECK(json_is_false(json_object_get(r.json, "composed")));
    CHECK(json_is_true(json_object_get(r.json, "gallery")));
    CHECK(json_is_null(json_object_get(r.json, "llm")));
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(r.json, "limits"), "max_k")), 1000);
    reply_free(&r);
    CHECK_EQ(get("/v1/gallery?q=PNG&limit=2&offset=1", &r), 0);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(json_integer_value(json_object_get(r.json, "total")), 5); // case-insensitive
    json_t *items = json_object_get(r.json, "items");
    CHECK_EQ(json_array_size(items), 2);
    CHECK_STREQ(json_string_value(json_object_get(json_array_get(items, 0), "name")),
                "chelsea.png");
    CHECK_EQ(json_integer_value(json_object_get(json_array_get(items, 0), "row")), 1);
    reply_free(&r);
    CHECK_EQ(get("/v1/gallery?limit=5000", &r), 0);
    CHECK(is_error(&r, 400));
    reply_free(&r);
    CHECK_EQ(get("/v1/nothing", &r), 0);
    CHECK(is_error(&r, 404));
    reply_free(&r);
    CHECK_EQ(get("/v1/search", &r), 0);
    CHECK(is_error(&r, 405));
    reply_free(&r);
    CHECK_EQ(post("/healthz", "{}", &r), 0);
    CHECK(is_error(&r, 405));
    reply_free(&r);
    req del = {"DELETE", "/v1/search/text"};
    CHECK_EQ(http(&del, &r), 0);
    CHECK(is_error(&r, 405));
    reply_free(&r);
    CHECK_EQ(get("/metrics", &r), 0);
    CHECK(r.status == 200 &&
          strstr(r.body, "seize_requests_total{route=\"healthz\",status=\"200\"} 1"));
    CHECK(strstr(r.body, "seize_requests_total{route=\"other\",status=\"404\"} 1"));
    CHECK(strstr(r.body, "seize_request_seconds_bucket{route=\"page\",le=\"+Inf\"} 3"));
    CHECK(strstr(r.body, "# TYPE seize_batch_size histogram"));
    CHECK(strstr(r.body, "seize_queue_depth 0"));
    reply_free(&r);
    seize_server_stop(s);
}

// Gallery files byte for byte, JPEG thumbnails (longest side 256, cached; made again when the
// file changes), and 404 for names
// not in the index: "../", absolute, URL-encoded ones, a file of the folder the index lacks.
static void test_images(void)
{
    NEED_SETUP();
    seize_serve_params p = params();
    p.cache_dir = check_tmp("cache-images");
    seize_server *s = up(&p);
    CHECK(s != NULL);
    reply r;
    char path[1200];
    size_t n;
    snprintf(path, sizeof path, "%s/rocket.jpg", g_gallery);
    char *want = file_bytes(path, &n);
    CHECK_EQ(get("/v1/images/rocket.jpg", &r), 0);
    int same = r.status == 200 && r.len == n && !memcmp(r.body, want, n);
    free(want);
    CHECK(same);
    CHECK_STREQ(header(&r, "Content-Type"), "image/jpeg");
    reply_free(&r);
    CHECK_EQ(get("/v1/images/astronaut.png", &r), 0);
    CHECK(r.status == 200 && !strcmp(header(&r, "Content-Type"), "image/png"));
    reply_free(&r);
    CHECK_EQ(get("/v1/images/coffee.png?thumb=1", &r), 0);
    CHECK_EQ(r.status, 200);
    CHECK_STREQ(header(&r, "Content-Type"), "image/jpeg");
    seize_image *img = NULL;
    CHECK_EQ(seize_image_decode(r.body, r.len, "thumb", 0, &img), 0);
    int dims = img->width == 256 && img->height == 171 && img->mode == SEIZE_MODE_RGB;
    seize_image_free(img);
    CHECK(dims); // 600 x 400 -> 256 x 171
    reply second;
    CHECK_EQ(get("/v1/images/coffee.png?thumb=1", &second), 0);
    same = second.status == 200 && second.len == r.len && !memcmp(second.body, r.body, r.len);
    reply_free(&second);
    reply_free(&r);
    CHECK(same);
    snprintf(path, sizeof path, "ls '%s/thumbs/' | grep -c '\\.jpg$' | grep -qx 1", p.cache_dir);
    CHECK_EQ(system(path), 0); // one cached thumbnail
    snprintf(path, sizeof path, "touch -d 2001-01-01 '%s/coffee.png'", g_gallery);
    CHECK_EQ(system(path), 0); // a changed file: a new thumbnail
    CHECK_EQ(get("/v1/images/coffee.png?thumb=1", &r), 0);
    CHECK_EQ(r.status, 200);
    reply_free(&r);
    snprintf(path, sizeof path, "ls '%s/thumbs/' | grep -c '\\.jpg$' | grep -qx 2", p.cache_dir);
    CHECK_EQ(system(path), 0);
    const char *bad[] = {"/v1/images/not-indexed.png", "/v1/images/..%2F..%2Fetc%2Fpasswd",
                         "/v1/images/%2Fetc%2Fpasswd", "/v1/images/../index/names.txt",
                         "/v1/images/nope.jpg",        "/v1/images/%2E%2E/gallery/rocket.jpg"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(get(bad[i], &r), 0);
        CHECK_MSG(is_error(&r, 404), "%s: %ld %s", bad[i], r.status, msg_of(&r));
        reply_free(&r);
    }
    seize_server_stop(s);
    p.gallery_dir = NULL; // no gallery: no image served
    s = up(&p);
    CHECK(s != NULL);
    CHECK_EQ(get("/v1/images/rocket.jpg", &r), 0);
    CHECK(is_error(&r, 404));
    reply_free(&r);
    seize_server_stop(s);
}

// The rows of a results array, or 0 when it is not one of n ranked results.
static int rows_of(json_t *res, size_t n, size_t *rows)
{
    if (json_array_size(res) != n) return 0;
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_array_get(res, i);
        if (json_integer_value(json_object_get(h, "rank")) != (json_int_t)(i + 1)) return 0;
        rows[i] = (size_t)json_integer_value(json_object_get(h, "row"));
        if (strcmp(json_string_value(json_object_get(h, "name")), gallery_files[rows[i]])) return 0;
    }
    return 1;
}

// A text search ranks as seize_engine_embed_texts + seize_engine_rank on an engine of our own;
// bad fields and bodies are 400 naming the field.
static void test_search_text(void)
{
    NEED_SETUP();
    seize_serve_params p = params();
    seize_server *s = up(&p);
    CHECK(s != NULL);
    reply r;
    CHECK_EQ(post("/v1/search/text", "{\"text\": \"a photo of a rocket\", \"k\": 4}", &r), 0);
    CHECK_MSG(r.status == 200, "%ld %s", r.status, msg_of(&r));
    size_t rows[4];
    CHECK(rows_of(json_object_get(r.json, "results"), 4, rows));
    CHECK(json_is_number(json_object_get(r.json, "took_ms")));
    double score0 = json_number_value(
        json_object_get(json_array_get(json_object_get(r.json, "results"), 0), "score"));
    reply_free(&r);
    seize_engine *e = NULL;
    CHECK_EQ(seize_engine_open(g_model, g_index, NULL, &e), 0);
    seize_engine_state_params sp = seize_engine_state_default_params();
    seize_engine_state *st = NULL;
    CHECK_EQ(seize_engine_state_new(e, &sp, &st), 0);
    float q[4096];
    const char *t = "a photo of a rocket";
    CHECK_EQ(seize_engine_embed_texts(st, &t, 1, q), 0);
    seize_search_result *res = NULL;
    CHECK_EQ(seize_engine_rank(st, q, 1, NULL, 4, &res), 0);
    int same = res->n_ranked[0] == 4;
    for (size_t i = 0; same && i < 4; i++)
        same = res->index[i] == rows[i];
    CHECK_NEAR(res->score[0], score0, 1e-5);
    seize_search_result_free(res);
    seize_engine_state_free(st);
    seize_engine_free(e);
    CHECK(same);
    const char *bad[][2] = {{"{\"text\": ", "malformed JSON"},
                            {"[1, 2]", "JSON object"},
                            {"{}", "'text'"},
                            {"{\"text\": \"\"}", "'text'"},
                            {"{\"text\": 5}", "'text'"},
                            {"{\"text\": \"x\", \"k\": 0}", "'k'"},
                            {"{\"text\": \"x\", \"k\": 1001}", "'k'"},
                            {"{\"text\": \"x\", \"k\": \"5\"}", "'k'"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(post("/v1/search/text", bad[i][0], &r), 0);
        CHECK_MSG(is_error(&r, 400) && strstr(msg_of(&r), bad[i][1]), "%s: %ld %s", bad[i][0],
                  r.status, msg_of(&r));
        reply_free(&r);
    }
    seize_server_stop(s);
}

// Whether rows[0..n) are the gallery rows by descending dot product with row `ref` (itself
// left out), from the index's own features; also through an f16 copy of the index served
// anew (its rows converted to float).
static int same_as_dots(size_t ref, const size_t *rows, size_t n)
{
    seize_index *idx = NULL;
    if (seize_index_open(g_index, &idx) < 0) return 0;
    seize_embeddings g = seize_index_embeddings(idx);
    const float *f = g.data;
    double dot[N_GALLERY];
    for (size_t i = 0; i < N_GALLERY; i++) {
        dot[i] = 0;
        for (size_t j = 0; j < g.dim; j++)
            dot[i] += (double)f[ref * g.dim + j] * f[i * g.dim + j];
    }
    int ok = n == N_GALLERY - 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = rows[i] != ref && (i == 0 || dot[rows[i - 1]] >= dot[rows[i]]);
    char f16[600];
    snprintf(f16, sizeof f16, "%s", check_tmp("index-f16"));
    if (ok) ok = seize_index_write(f16, f, N_GALLERY, g.dim, gallery_files, SEIZE_F16, NULL) == 0;
    seize_index_free(idx);
    seize_serve_params p = params();
    p.index_dir = f16;
    int port = g_port;
    seize_server *s = ok ? up(&p) : NULL;
    reply r = {0};
    size_t got[N_GALLERY];
    char body[200];
    snprintf(body, sizeof body, "{\"reference\": {\"name\": \"%s\"}}", gallery_files[ref]);
    ok = s && post("/v1/search/image", body, &r) == 0 && r.status == 200 &&
         rows_of(json_object_get(r.json, "results"), n, got) &&
         !memcmp(got, rows, n * sizeof *rows);
    reply_free(&r);
    seize_server_stop(s);
    g_port = port;
    return ok;
}

// An image search by gallery name leaves the reference out and ranks by its own index row (f32
// and f16 indexes); an upload as base64 and as multipart give the same answer.
static void test_search_image(void)
{
    NEED_SETUP();
    seize_serve_params p = params();
    seize_server *s = up(&p);
    CHECK(s != NULL);
    reply r;
    CHECK_EQ(post("/v1/search/image", "{\"reference\": {\"name\": \"coffee.png\"}, \"k\": 10}", &r),
             0);
    CHECK_MSG(r.status == 200, "%ld %s", r.status, msg_of(&r));
    size_t rows[5];
    CHECK(rows_of(json_object_get(r.json, "results"), 5, rows)); // 6 - the reference
    for (int i = 0; i < 5; i++)
        CHECK(rows[i] != 2);
    reply_free(&r);
    CHECK(same_as_dots(2, rows, 5));
    char path[1200];
    size_t n;
    snprintf(path, sizeof path, "%s/horse.png", g_gallery);
    char *png = file_bytes(path, &n);
    CHECK(png != NULL);
    char *body = upload_json(png, n, "\"k\": 3");
    CHECK_EQ(post("/v1/search/image", body, &r), 0);
    free(body);
    CHECK_MSG(r.status == 200, "%ld %s", r.status, msg_of(&r));
    size_t a[3], b[3];
    CHECK(rows_of(json_object_get(r.json, "results"), 3, a));
    reply_free(&r);
    CURL *cu = curl_easy_init();
    curl_mime *mime = curl_mime_init(cu);
    curl_mimepart *part = curl_mime_addpart(mime);
    curl_mime_name(part, "image");
    curl_mime_filename(part, "horse.png");
    curl_mime_type(part, "image/png");
    curl_mime_data(part, png, n);
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "k");
    curl_mime_data(part, "3", CURL_ZERO_TERMINATED);
    req mq = {"POST", "/v1/search/image", .mime = mime};
    CHECK_EQ(http(&mq, &r), 0);
    curl_mime_free(mime);
    curl_easy_cleanup(cu);
    CHECK_MSG(r.status == 200, "%ld %s", r.status, msg_of(&r));
    CHECK(rows_of(json_object_get(r.json, "results"), 3, b));
    CHECK(!memcmp(a, b, sizeof a));
    reply_free(&r);
    free(png);
    seize_server_stop(s);
}

// Bad uploads: a non-image is 415 (base64 and multipart), a 20k x 20k PNG header 422 (refused
// before decoding), a truncated JPEG 400, a malformed form 400, an unknown name 404.
static void test_bad_uploads(void)
{
    NEED_SETUP();
    seize_serve_params p = params();
    seize_server *s = up(&p);
    CHECK(s != NULL);
    reply r;
    char *body;
    size_t n;
    CURL *cu;
    curl_mime *mime;
    curl_mimepart *part;
    body = upload_json("GIF89a....", 10, "");
    CHECK_EQ(post("/v1/search/image", body, &r), 0);
    free(body);
    CHECK_MSG(is_error(&r, 415), "%ld %s", r.status, msg_of(&r));
    reply_free(&r);
    uint8_t bomb[64];
    size_t nb = bomb_png(20000, 20000, bomb);
    body = upload_json(bomb, nb, "");
    CHECK_EQ(post("/v1/search/image", body, &r), 0);
    free(body);
    CHECK_MSG(is_error(&r, 422), "%ld %s", r.status, msg_of(&r));
    reply_free(&r);
    char *trunc = file_bytes(check_fixture_path("images/truncated.jpg"), &n);
    body = upload_json(trunc, n, "");
    free(trunc);
    CHECK_EQ(post("/v1/search/image", body, &r), 0);
    free(body);
    CHECK_MSG(is_error(&r, 400), "%ld %s", r.status, msg_of(&r));
    reply_free(&r);
    cu = curl_easy_init();
    mime = curl_mime_init(cu);
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "image");
    curl_mime_filename(part, "notes.txt");
    curl_mime_data(part, "just some text, not an image", CURL_ZERO_TERMINATED);
    req mq2 = {"POST", "/v1/search/image", .mime = mime};
    CHECK_EQ(http(&mq2, &r), 0);
    curl_mime_free(mime);
    curl_easy_cleanup(cu);
    CHECK_MSG(is_error(&r, 415), "%ld %s", r.status, msg_of(&r));
    reply_free(&r);
    char *big = malloc(300 * 1024); // a form field over 256 KiB
    memset(big, 'a', 300 * 1024);
    cu = curl_easy_init();
    mime = curl_mime_init(cu);
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "text");
    curl_mime_data(part, big, 300 * 1024);
    free(big);
    req mq3 = {"POST", "/v1/search/image", .mime = mime};
    CHECK_EQ(http(&mq3, &r), 0);
    curl_mime_free(mime);
    curl_easy_cleanup(cu);
    CHECK_MSG(is_error(&r, 400) && strstr(msg_of(&r), "multipart"), "%ld %s", r.status, msg_of(&r));
    reply_free(&r);
    const char *bad[][2] = {{"{\"reference\": {\"name\": \"nope.png\"}}", "404"},
                            {"{\"reference\": {\"image_base64\": \"@@@\"}}", "400"},
                            {"{\"reference\": \"coffee.png\"}", "400"},
                            {"{\"k\": 3}", "400"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(post("/v1/search/image", bad[i][0], &r), 0);
        CHECK_MSG(is_error(&r, atol(bad[i][1])), "%s: %ld %s", bad[i][0], r.status, msg_of(&r));
        reply_free(&r);
    }
    seize_server_stop(s);
}

// 413: a 50 MB body is refused from its Content-Length (the client sent far less than 50 MB),
// a chunked one over the limit once read; the server still answers afterwards.
static void test_upload_limits(void)
{
    NEED_SETUP();
    seize_serve_params p = params();
    p.max_upload_bytes = 1 << 20;
    seize_server *s = up(&p);
    CHECK(s != NULL);
    reply r;
    req big = {"POST", "/v1/search/image", .ctype = "application/json", .gen = 50u << 20};
    http(&big, &r); // the server may close while curl still sends: only the status counts
    CHECK_MSG(is_error(&r, 413), "%ld %s", r.status, msg_of(&r));
    CHECK_MSG(r.sent < (10u << 20), "sent %zu bytes", r.sent);
    reply_free(&r);
    req chunked = {"POST", "/v1/search/text", .ctype = "application/json", .gen = (1u << 20) + 4096,
                   .chunked = 1};
    http(&chunked, &r);
    CHECK_MSG(is_error(&r, 413), "%ld %s", r.status, msg_of(&r));
    reply_free(&r);
    CHECK_EQ(get("/healthz", &r), 0);
    CHECK_EQ(r.status, 200);
    reply_free(&r);
    seize_server_stop(s);
}

// --token: /v1 and /metrics need "Authorization: Bearer <token>" (401 JSON otherwise), the
// page and /healthz stay open. CORS headers only with cors_origin (and a preflight then).
static void test_token_cors(void)
{
    NEED_SETUP();
    seize_serve_params p = params();
    p.token = "tok-0123456789";
    p.cors_origin = "http://example.test";
    seize_server *s = up(&p);
    CHECK(s != NULL);
    reply r;
    const char *closed[] = {"/v1/info", "/metrics", "/v1/gallery", "/v1/images/rocket.jpg"};
    const char *wrong[] = {NULL, "Bearer tok-012345678", "Bearer tok-0123456789x", "Basic abc",
                           "Bearer "};
    for (size_t i = 0; i < 4; i++)
        for (size_t w = 0; w < 5; w++) {
            req q = {"GET", closed[i], wrong[w]};
            CHECK_EQ(http(&q, &r), 0);
            CHECK_MSG(is_error(&r, 401), "%s with %s: %ld", closed[i], wrong[w], r.status);
            reply_free(&r);
        }
    req q = {"POST", "/v1/search/text", .ctype = "application/json", .body = "{\"text\": \"a\"}",
             .len = 13};
    CHECK_EQ(http(&q, &r), 0);
    CHECK(is_error(&r, 401));
    reply_free(&r);
    q.auth = "Bearer tok-0123456789";
    CHECK_EQ(http(&q, &r), 0);
    CHECK_EQ(r.status, 200);
    CHECK_STREQ(header(&r, "Access-Control-Allow-Origin"), "http://example.test");
    reply_free(&r);
    for (size_t i = 0; i < 4; i++) {
        req ok = {"GET", closed[i], "Bearer tok-0123456789"};
        CHECK_EQ(http(&ok, &r), 0);
        CHECK_MSG(r.status == 200, "%s: %ld", closed[i], r.status);
        reply_free(&r);
    }
    CHECK_EQ(get("/healthz", &r), 0);
    CHECK_EQ(r.status, 200);
    reply_free(&r);
    CHECK_EQ(get("/", &r), 0);
    CHECK_EQ(r.status, 200);
    reply_free(&r);
    req pre = {"OPTIONS", "/v1/search", .origin = "http://example.test"};
    CHECK_EQ(http(&pre, &r), 0);
    CHECK_EQ(r.status, 204);
    CHECK(header(&r, "Access-Control-Allow-Methods") != NULL);
    reply_free(&r);
    seize_server_stop(s);
    p.token = NULL, p.cors_origin = NULL;
    s = up(&p);
    CHECK(s != NULL);
    req plain = {"GET", "/v1/info", .origin = "http://example.test"};
    CHECK_EQ(http(&plain, &r), 0);
    CHECK(r.status == 200 && header(&r, "Access-Control-Allow-Origin") == NULL);
    reply_free(&r);
    seize_server_stop(s);
}

typedef struct client {
    int n;
    char texts[8][64];
    size_t rows[8][3];
    int ok;
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    c->ok = 1;
    for (int i = 0; i < c->n; i++) {
        char body[200];
        reply r;
        snprintf(body, sizeof body, "{\"text\": \"%s\", \"k\": 3}", c->texts[i]);
        if (post("/v1/search/text", body, &r) < 0 || r.status != 200 ||
            !rows_of(json_object_get(r.json, "results"), 3, c->rows[i]))
            c->ok = 0;
        reply_free(&r);
    }
    return NULL;
}

// 8 clients at once get the rankings one client gets alone; the batcher made batches.
static void test_concurrent(void)
{
    NEED_SETUP();
    seize_serve_params p = params();
    p.n_workers = 8, p.batch_window_ms = 5;
    seize_server *s = up(&p);
    CHECK(s != NULL);
    static const char *words[] = {"dog",     "cat",    "rocket", "coffee",
                                  "a horse", "camera", "red",    "blue"};
    client seq = {8}, par[8];
    for (int i = 0; i < 8; i++)
        snprintf(seq.texts[i], 64, "a photo of %s", words[i]);
    client_main(&seq);
    CHECK(seq.ok);
    pthread_t t[8];
    for (int c = 0; c < 8; c++) {
        par[c] = (client){8};
        for (int i = 0; i < 8; i++)
            memcpy(par[c].texts[i], seq.texts[(i + c) % 8], 64);
        CHECK_EQ(pthread_create(&t[c], NULL, client_main, &par[c]), 0);
    }
    for (int c = 0; c < 8; c++)
        pthread_join(t[c], NULL);
    for (int c = 0; c < 8; c++) {
        CHECK(par[c].ok);
        for (int i = 0; i < 8; i++)
            CHECK_MSG(!memcmp(par[c].rows[i], seq.rows[(i + c) % 8], sizeof seq.rows[0]),
                      "client %d text %d", c, i);
    }
    double batches = metric("seize_batches_total"), reqs = metric("seize_batch_size_sum");
    CHECK_MSG(batches >= 1 && reqs == 72 && batches <= reqs, "%g batches, %g requests", batches,
              reqs);
    seize_server_stop(s);
}

// --- the composed search against the test LLM server -----------------------------------------

static pid_t g_llm_pid;
static char g_llm_url[200], g_llm_log[600];

static int llm_server_start(void)
{
    if (g_llm_pid) return 0;
    const char *py = getenv("PYTHON");
    if (!py || !*py) py = "/usr/bin/python3";
    char port_file[600];
    snprintf(port_file, sizeof port_file, "%s", check_tmp("llm.port"));
    snprintf(g_llm_log, sizeof g_llm_log, "%s", check_tmp("llm.log"));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        execl(py, py, "tests/servers/openai_server.py", "--port-file", port_file, "--log",
              g_llm_log, (char *)NULL);
        _exit(127);
    }
    g_llm_pid = pid;
    for (int i = 0; i < 2400; i++) { // up to 120 s: Python starts slowly on a loaded machine
        char *t = NULL;
        size_t n;
        if (seize_read_file(port_file, &t, &n) == 0 && n > 0 && t[n - 1] == '\n') {
            snprintf(g_llm_url, sizeof g_llm_url, "http://127.0.0.1:%d/v1", atoi(t));
            free(t);
            return 0;
        }
        free(t);
        if (waitpid(pid, NULL, WNOHANG) == pid) return g_llm_pid = 0, -1;
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

// Requests in the test server's log: caption requests (an image) and edit requests.
static void llm_counts(int *captions, int *edits)
{
    char *t = NULL;
    size_t n = 0;
    *captions = *edits = 0;
    if (seize_read_file(g_llm_log, &t, &n) < 0) return;
    for (char *p = t; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (!strncmp(p, "{\"key\": \"img:", 13)) (*captions)++;
        if (!strncmp(p, "{\"key\": \"txt:", 13)) (*edits)++;
    }
    free(t);
}

static seize_llm_params g_cap, g_llm;

static seize_serve_params composed_params(const char *endpoint)
{
    seize_serve_params p = params();
    g_cap = seize_llm_default_params();
    g_cap.endpoint = endpoint, g_cap.model = "vision-test", g_cap.api_key = "sk-test-secret-key-42";
    g_cap.max_attempts = 1, g_cap.timeout = 30;
    g_llm = g_cap;
    g_llm.model = "llm-test";
    p.captioner = &g_cap, p.llm = &g_llm;
    return p;
}

// A composed search of a gallery image: its captions and their edits as the test server
// writes them, a ranking with a, b and increment; the same request again asks nothing
// ("cached": true, the server's log unchanged), a refined text asks only for edits; an upload
// works as a gallery image does; /v1/info names the models but never the key.
static void test_composed(void)
{
    NEED_SETUP();
    CHECK_MSG(llm_server_start() == 0, "the test LLM server did not start");
    seize_serve_params p = composed_params(g_llm_url);
    seize_server *s = up(&p);
    CHECK(s != NULL);
    reply r;
    CHECK_EQ(get("/v1/info", &r), 0);
    CHECK(json_is_true(json_object_get(r.json, "composed")));
    CHECK_STREQ(json_string_value(json_object_get(json_object_get(r.json, "llm"), "model")),
                "llm-test");
    CHECK(!strstr(r.body, "sk-test-secret"));
    reply_free(&r);
    int c0, e0, c1, e1;
    llm_counts(&c0, &e0);
    const char *q = "{\"reference\": {\"name\": \"chelsea.png\"}, \"text\": \"make it a dog\", "
                    "\"num_captions\": 3, \"k\": 4}";
    CHECK_EQ(post("/v1/search", q, &r), 0);
    CHECK_MSG(r.status == 200, "%ld %s", r.status, msg_of(&r));
    json_t *caps = json_object_get(r.json, "captions"), *eds = json_object_get(r.json, "edits");
    CHECK(json_array_size(caps) == 3 && json_array_size(eds) == 3);
    CHECK(strstr(json_string_value(json_array_get(caps, 0)), "a photo of "));
    CHECK(strstr(json_string_value(json_array_get(eds, 0)), "=> make it a dog"));
    CHECK(json_is_false(json_object_get(r.json, "cached")));
    CHECK_STREQ(json_string_value(json_object_get(json_object_get(r.json, "reference"), "name")),
                "chelsea.png");
    CHECK_STREQ(json_string_value(json_object_get(r.json, "method")), "seize");
    json_t *res = json_object_get(r.json, "results");
    CHECK_EQ(json_array_size(res), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *h = json_array_get(res, i);
        double a = json_number_value(json_object_get(h, "a")),
               b = json_number_value(json_object_get(h, "b"));
        CHECK_NEAR(json_number_value(json_object_get(h, "increment")), a - b, 1e-5);
        CHECK(json_integer_value(json_object_get(h, "row")) != 1); // the reference is left out
    }
    CHECK(json_is_number(json_object_get(json_object_get(r.json, "timing"), "total_ms")));
    char first[4096];
    char *dump = json_dumps(res, JSON_COMPACT);
    snprintf(first, sizeof first, "%s", dump);
    free(dump);
    reply_free(&r);
    llm_counts(&c1, &e1);
    CHECK_MSG(c1 - c0 >= 1 && e1 - e0 == 3, "%d caption and %d edit requests", c1 - c0, e1 - e0);
    // the same again: nothing asked
    CHECK_EQ(post("/v1/search", q, &r), 0);
    CHECK(r.status == 200 && json_is_true(json_object_get(r.json, "cached")));
    char *again = json_dumps(json_object_get(r.json, "results"), JSON_COMPACT);
    int same = !strcmp(again, first);
    free(again);
    reply_free(&r);
    CHECK(same);
    int c2, e2;
    llm_counts(&c2, &e2);
    CHECK_MSG(c2 == c1 && e2 == e1, "asked again: %d captions, %d edits", c2 - c1, e2 - e1);
    // refined: no caption request, 3 edits
    CHECK_EQ(post("/v1/search",
                  "{\"reference\": {\"name\": \"chelsea.png\"}, \"text\": \"make "
                  "it two dogs\", \"num_captions\": 3, \"method\": \"mean\"}",
                  &r),
             0);
    CHECK(r.status == 200 && json_is_false(json_object_get(r.json, "cached")));
    reply_free(&r);
    llm_counts(&c1, &e1);
    CHECK_MSG(c1 == c2 && e1 - e2 == 3, "refined: %d captions, %d edits", c1 - c2, e1 - e2);
    // hits: the captions and 3 edits of the repeat, the captions of the refined query
    CHECK_EQ(metric("seize_cache_hits_total"), 5);
    CHECK_EQ(metric("seize_cache_misses_total"), 7);
    CHECK(metric("seize_llm_requests_total{stage=\"edit\"}") == 6);
    // an upload
    char path[1200];
    size_t n;
    snprintf(path, sizeof path, "%s/rocket.jpg", g_gallery);
    char *jpg = file_bytes(path, &n);
    char *body =
        upload_json(jpg, n, "\"text\": \"at night\", \"num_captions\": 2, \"method\": \"ldre\"");
    free(jpg);
    CHECK_EQ(post("/v1/search", body, &r), 0);
    free(body);
    CHECK_MSG(r.status == 200, "%ld %s", r.status, msg_of(&r));
    CHECK(json_is_null(json_object_get(json_object_get(r.json, "reference"), "name")));
    CHECK_EQ(json_array_size(json_object_get(r.json, "results")), 6); // nothing left out
    CHECK_EQ(
        strlen(json_string_value(json_object_get(json_object_get(r.json, "reference"), "sha256"))),
        64);
    reply_free(&r);
    seize_server_stop(s);
}

// "stream": true: NDJSON stage lines (caption, edit, encode, search in that order) then one
// result line with the same answer as without streaming.
static void test_stream(void)
{
    NEED_SETUP();
    CHECK_MSG(llm_server_start() == 0, "the test LLM server did not start");
    seize_serve_params p = composed_params(g_llm_url);
    seize_server *s = up(&p);
    CHECK(s != NULL);
    reply r;
    const char *q = "{\"reference\": {\"name\": \"horse.png\"}, \"text\": \"in the snow\", "
                    "\"num_captions\": 2, \"k\": 3, \"stream\": true}";
    CHECK_EQ(post("/v1/search", q, &r), 0);
    CHECK_EQ(r.status, 200);
    CHECK_STREQ(header(&r, "Content-Type"), "application/x-ndjson");
    int stage = -1, n_lines = 0, got_result = 0;
    static const char *const order[4] = {"caption", "edit", "encode", "search"};
    for (char *line = r.body; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        json_t *j = json_loadb(line, strcspn(line, "\n"), 0, NULL);
        CHECK_MSG(j != NULL && !got_result, "line %d: %.80s", n_lines, line);
        n_lines++;
        const char *st = json_string_value(json_object_get(j, "stage"));
        if (st) {
            int k = 0;
            while (k < 4 && strcmp(order[k], st))
                k++;
            CHECK_MSG(k < 4 && k >= stage, "stage %s after %d", st, stage);
            stage = k;
        } else {
            json_t *res = json_object_get(j, "result");
            got_result = res && json_array_size(json_object_get(res, "results")) == 3;
        }
        json_decref(j);
    }
    reply_free(&r);
    CHECK_MSG(got_result && stage == 3 && n_lines >= 5, "%d lines, last stage %d", n_lines, stage);
    seize_server_stop(s);
}

// Without a captioner and an LLM the composed search is 501; with an LLM server that refuses
// connections it is 502, its message without the key.
static void test_composed_errors(void)
{
    NEED_SETUP();
    seize_serve_params p = params();
    seize_server *s = up(&p);
    CHECK(s != NULL);
    reply r;
    const char *q =
        "{\"reference\": {\"name\": \"chelsea.png\"}, \"text\": \"x\", \"num_captions\": 2}";
    CHECK_EQ(post("/v1/search", q, &r), 0);
    CHECK_MSG(is_error(&r, 501), "%ld %s", r.status, msg_of(&r));
    reply_free(&r);
    seize_server_stop(s);
    int fd = socket(AF_INET, SOCK_STREAM, 0); // a port nobody listens on
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, al) == 0 &&
          getsockname(fd, (struct sockaddr *)&a, &al) == 0);
    char url[100];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", ntohs(a.sin_port));
    p = composed_params(url);
    s = up(&p);
    CHECK(s != NULL);
    // bad requests are refused before any LLM request
    const char *bad[][2] = {
        {"{\"reference\": {\"name\": \"chelsea.png\"}}", "400"},
        {"{\"reference\": {\"name\": \"chelsea.png\"}, \"text\": \"x\", \"method\": \"best\"}",
         "400"},
        {"{\"reference\": {\"name\": \"chelsea.png\"}, \"text\": \"x\", \"num_captions\": 0}",
         "400"},
        {"{\"reference\": {\"name\": \"chelsea.png\"}, \"text\": \"x\", \"pos\": \"a\"}", "400"},
        {"{\"reference\": {\"name\": \"zebra.png\"}, \"text\": \"x\"}", "404"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(post("/v1/search", bad[i][0], &r), 0);
        CHECK_MSG(is_error(&r, atol(bad[i][1])), "%s: %ld %s", bad[i][0], r.status, msg_of(&r));
        reply_free(&r);
    }
    CHECK_EQ(post("/v1/search", q, &r), 0);
    close(fd);
    CHECK_MSG(is_error(&r, 502), "%ld %s", r.status, msg_of(&r));
    CHECK(!strstr(r.body, "sk-test-secret"));
    reply_free(&r);
    CHECK(metric("seize_llm_failures_total{stage=\"caption\"}") >= 1);
    seize_server_stop(s);
}

// The LRU bound (the least recently used goes), replacing, and the file: read back by a new
// cache, torn and malformed lines skipped.
static void test_cache_lru(void)
{
    srv_cache *c = NULL;
    char path[600], **t = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s", check_tmp("lru.jsonl"));
    CHECK_EQ(srv_cache_new(2, path, &c), 0);
    char *a[] = {"a1", "a2"}, *b[] = {"b"}, *x[] = {"x"};
    srv_cache_put(c, "a", a, 2);
    srv_cache_put(c, "b", b, 1);
    CHECK(srv_cache_get(c, "a", &t, &n) == 1 && n == 2 && !strcmp(t[1], "a2")); // a: recent
    free(t[0]), free(t[1]), free(t);
    srv_cache_put(c, "c", x, 1); // evicts b
    CHECK_EQ(srv_cache_get(c, "b", &t, &n), 0);
    srv_cache_put(c, "a", x, 1); // replaces a
    CHECK(srv_cache_get(c, "a", &t, &n) == 1 && n == 1 && !strcmp(t[0], "x"));
    free(t[0]), free(t);
    srv_cache_free(c);
    FILE *fp = fopen(path, "a");
    fputs("{\"k\": 5}\nnot json\n{\"k\": \"d\", \"t\": [\"d", fp); // bad lines, a torn one
    fclose(fp);
    CHECK_EQ(srv_cache_new(2, path, &c), 0);
    CHECK(srv_cache_get(c, "a", &t, &n) == 1 && n == 1 && !strcmp(t[0], "x"));
    free(t[0]), free(t);
    CHECK(srv_cache_get(c, "c", &t, &n) == 1 && !strcmp(t[0], "x"));
    free(t[0]), free(t);
    CHECK_EQ(srv_cache_get(c, "b", &t, &n), 0); // two entries kept: the last written
    CHECK_EQ(srv_cache_get(c, "d", &t, &n), 0);
    srv_cache_free(c);
}

// With a cache folder, the captions and edits outlive the server: the same query to a new
// server on that folder asks nothing.
static void test_cache_persisted(void)
{
    NEED_SETUP();
    CHECK_MSG(llm_server_start() == 0, "the test LLM server did not start");
    seize_serve_params p = composed_params(g_llm_url);
    p.cache_dir = check_tmp("cache-persist");
    const char *q = "{\"reference\": {\"name\": \"camera.png\"}, \"text\": \"in colour\", "
                    "\"num_captions\": 2}";
    int c0, e0, c1, e1;
    reply r;
    for (int round = 0; round < 2; round++) {
        seize_server *s = up(&p);
        CHECK(s != NULL);
        llm_counts(&c0, &e0);
        CHECK_EQ(post("/v1/search", q, &r), 0);
        int cached = r.status == 200 && json_is_true(json_object_get(r.json, "cached"));
        CHECK_MSG(r.status == 200, "%ld %s", r.status, msg_of(&r));
        reply_free(&r);
        seize_server_stop(s);
        llm_counts(&c1, &e1);
        CHECK_MSG(cached == round && (c1 - c0 + e1 - e0 > 0) == !round,
                  "round %d: cached %d, %d requests", round, cached, c1 - c0 + e1 - e0);
    }
}

// --- a queue that fills up, a deadline that passes --------------------------------------------

// A listening socket that never answers (an LLM server that hangs): its port.
static int hang_listen(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(*fd, (struct sockaddr *)&a, al) < 0 || listen(*fd, 8) < 0 ||
        getsockname(*fd, (struct sockaddr *)&a, &al) < 0)
        return -1;
    return ntohs(a.sin_port);
}

typedef struct call {
    const char *path, *body;
    reply r;
} call;

static void *call_main(void *arg)
{
    call *c = arg;
    post(c->path, c->body, &c->r);
    return NULL;
}

// One worker, a queue of one: a composed search holds the worker (its caption request reached
// our silent socket), a search by a gallery image waits (seize_queue_depth 1), the next gets
// 503 with Retry-After, while text searches (the batcher's, not a worker's) are answered; when
// the socket closes the first fails (502) and the waiting one is answered.
static void test_queue_full(void)
{
    NEED_SETUP();
    int lfd, port = hang_listen(&lfd);
    CHECK(port > 0);
    char url[100];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
    seize_serve_params p = composed_params(url);
    p.n_workers = 1, p.queue = 1;
    seize_server *s = up(&p);
    CHECK(s != NULL);
    call a = {"/v1/search", "{\"reference\": {\"name\": \"rocket.jpg\"}, \"text\": \"x\", "
                            "\"num_captions\": 1}"};
    call b = {"/v1/search/image", "{\"reference\": {\"name\": \"horse.png\"}, \"k\": 2}"};
    pthread_t ta, tb;
    CHECK_EQ(pthread_create(&ta, NULL, call_main, &a), 0);
    int cfd = accept(lfd, NULL, NULL); // the caption request: the worker is held
    CHECK(cfd >= 0);
    CHECK_EQ(metric("seize_workers_busy"), 1);
    CHECK_EQ(pthread_create(&tb, NULL, call_main, &b), 0);
    int waited = 0;
    while (metric("seize_queue_depth") != 1 && waited++ < 6000) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    CHECK(metric("seize_queue_depth") == 1);
    reply r;
    CHECK_EQ(post("/v1/search/image", "{\"reference\": {\"name\": \"coffee.png\"}}", &r), 0);
    CHECK_MSG(is_error(&r, 503), "%ld %s", r.status, msg_of(&r));
    CHECK(header(&r, "Retry-After") != NULL);
    reply_free(&r);
    CHECK_EQ(post("/v1/search/text", "{\"text\": \"a cat\"}", &r), 0);
    CHECK_MSG(r.status == 200, "%ld %s", r.status, msg_of(&r));
    reply_free(&r);
    CHECK_EQ(get("/healthz", &r), 0); // not queued
    CHECK_EQ(r.status, 200);
    reply_free(&r);
    close(cfd);
    close(lfd);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_MSG(is_error(&a.r, 502), "%ld %s", a.r.status, msg_of(&a.r));
    CHECK_EQ(b.r.status, 200);
    reply_free(&a.r);
    reply_free(&b.r);
    CHECK(metric("seize_requests_total{route=\"search_image\",status=\"503\"}") == 1);
    seize_server_stop(s);
}

// A composed search whose LLM never answers is 504 at request_timeout_s (the watchdog cancels
// its requests), streamed or not; the server stops at once afterwards.
static void test_timeout(void)
{
    NEED_SETUP();
    int lfd, port = hang_listen(&lfd);
    CHECK(port > 0);
    char url[100];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
    seize_serve_params p = composed_params(url);
    p.request_timeout_s = 0.5;
    seize_server *s = up(&p);
    CHECK(s != NULL);
    reply r;
    CHECK_EQ(post("/v1/search",
                  "{\"reference\": {\"name\": \"rocket.jpg\"}, \"text\": \"x\", "
                  "\"num_captions\": 1}",
                  &r),
             0);
    CHECK_MSG(is_error(&r, 504), "%ld %s", r.status, msg_of(&r));
    reply_free(&r);
    CHECK_EQ(post("/v1/search",
                  "{\"reference\": {\"name\": \"rocket.jpg\"}, \"text\": \"x\", "
                  "\"num_captions\": 1, \"stream\": true}",
                  &r),
             0);
    CHECK_EQ(r.status, 200);
    CHECK_MSG(strstr(r.body, "{\"error\":{\"status\":504,"), "%s", r.body);
    reply_free(&r);
    seize_server_stop(s);
    close(lfd);
}

// Start errors: a missing index (naming it), a bad listen address, a port in use.
static void test_start_errors(void)
{
    NEED_SETUP();
    seize_server *s = NULL;
    seize_serve_params p = params();
    p.index_dir = "/nonexistent-index";
    CHECK(seize_server_start(&p, &s) < 0 && s == NULL);
    CHECK_MSG(strstr(seize_errmsg(), "/nonexistent-index"), "%s", seize_errmsg());
    p = params();
    p.listen = "127.0.0.1";
    CHECK_EQ(seize_server_start(&p, &s), SEIZE_EINVAL);
    p.listen = "127.0.0.1:99999"; // not port 34463 (99999 mod 65536)
    CHECK_EQ(seize_server_start(&p, &s), SEIZE_EINVAL);
    CHECK_MSG(strstr(seize_errmsg(), "bad port"), "%s", seize_errmsg());
    p.listen = "127.0.0.1:-1";
    CHECK_EQ(seize_server_start(&p, &s), SEIZE_EINVAL);
    int fd, port = hang_listen(&fd);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    p.listen = addr;
    CHECK_EQ(seize_server_start(&p, &s), SEIZE_EIO);
    CHECK_MSG(strstr(seize_errmsg(), addr), "%s", seize_errmsg());
    close(fd);
    p = params();
    p.model_dir = NULL;
    CHECK_EQ(seize_server_start(&p, &s), SEIZE_EINVAL);
    seize_server_stop(NULL);
}

// A multipart part without a name (no Content-Disposition; found by fuzz_serve_request) is a
// malformed form, 400, not a NULL field name; the server still answers afterwards.
static void test_form_nameless(void)
{
    NEED_SETUP();
    seize_serve_params p = params();
    seize_server *s = up(&p);
    CHECK(s != NULL);
    const char *body = "--bnd\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n1\r\n"
                       "--bnd\r\nXontent-Disposition: form-data; name=\"image\"\r\n\r\nzz\r\n"
                       "--bnd--\r\n";
    req q = {"POST", "/v1/search/image", .ctype = "multipart/form-data; boundary=bnd", .body = body,
             .len = strlen(body)};
    reply r;
    CHECK_EQ(http(&q, &r), 0);
    CHECK_MSG(is_error(&r, 400) && strstr(msg_of(&r), "multipart"), "%ld %s", r.status, msg_of(&r));
    reply_free(&r);
    CHECK_EQ(get("/healthz", &r), 0);
    CHECK_EQ(r.status, 200);
    reply_free(&r);
    seize_server_stop(s);
}

// The process's peak virtual memory in bytes (VmPeak), 0 when unknown.
static size_t vm_peak(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmPeak: %zu kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb * 1024;
}

// A 60-byte PNG upload declaring a 1.8 GB tEXt chunk is 400 without that much being allocated
// (libpng allocated the chunk's declared length; found by fuzz_serve_request).
static void test_png_chunk_bomb(void)
{
    NEED_SETUP();
    seize_serve_params p = params();
    seize_server *s = up(&p);
    CHECK(s != NULL);
    size_t n;
    uint8_t *png = (uint8_t *)file_bytes(check_fixture_path("images/block.png"), &n);
    CHECK(png && n > 33);
    static const char text[] = "\x70\0\0\0tEXtComment\0a few bytes"; // 0x70000000 bytes
    uint8_t bomb[33 + sizeof text - 1]; // signature and IHDR, then the tEXt chunk, cut short
    memcpy(bomb, png, 33);
    memcpy(bomb + 33, text, sizeof text - 1);
    free(png);
    char *json = upload_json(bomb, sizeof bomb, "\"k\": 1");
    size_t before = vm_peak();
    reply r;
    CHECK_EQ(post("/v1/search/image", json, &r), 0);
    free(json);
    CHECK_MSG(is_error(&r, 400), "%ld %s", r.status, msg_of(&r));
    reply_free(&r);
    size_t after = vm_peak();
    CHECK_MSG(after < before + (512u << 20), "peak virtual memory grew %zu MB",
              (after - before) >> 20);
    seize_server_stop(s);
}

// --- review: odd inputs, uploads on disk, the cache file's bound ------------------------------

// A multipart POST of /v1/search/image with the gallery's coffee.png and one more field.
static void form_search(const char *key, const char *value, reply *r)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/coffee.png", g_gallery);
    CURL *cu = curl_easy_init();
    curl_mime *mime = curl_mime_init(cu);
    curl_mimepart *part = curl_mime_addpart(mime);
    curl_mime_name(part, "image");
    curl_mime_filedata(part, path);
    part = curl_mime_addpart(mime);
    curl_mime_name(part, key);
    curl_mime_data(part, value, CURL_ZERO_TERMINATED);
    req q = {"POST", "/v1/search/image", .mime = mime};
    http(&q, r);
    curl_mime_free(mime);
    curl_easy_cleanup(cu);
}

// The page has a Content-Security-Policy; bytes that are not UTF-8 in a URL still get a JSON
// error (the message names them with '?'), not a closed connection; form numbers that are not
// integers (or finite) are 400, not cast.
static void test_odd_inputs(void)
{
    NEED_SETUP();
    seize_serve_params p = params();
    seize_server *s = up(&p);
    CHECK(s != NULL);
    reply r;
    CHECK_EQ(get("/", &r), 0); // the page: its own files only, never framed
    const char *csp = header(&r, "Content-Security-Policy");
    CHECK_MSG(r.status == 200 && csp && strstr(csp, "default-src 'self'") &&
                  strstr(csp, "frame-ancestors 'none'"),
              "%s", csp ? csp : "no Content-Security-Policy");
    reply_free(&r);
    const char *urls[] = {"/v1/images/%FF%FE.png", "/v1/nothing%FF"};
    for (size_t i = 0; i < 2; i++) {
        CHECK_EQ(get(urls[i], &r), 0);
        CHECK_MSG(is_error(&r, 404) && strstr(msg_of(&r), "?"), "%s: %ld %s", urls[i], r.status,
                  msg_of(&r));
        reply_free(&r);
    }
    const char *bad[][2] = {{"k", "2.5"}, {"k", "1e300"}, {"k", "nan"}, {"k", "-inf"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        form_search(bad[i][0], bad[i][1], &r);
        CHECK_MSG(is_error(&r, 400) && strstr(msg_of(&r), bad[i][0]), "%s=%s: %ld %s", bad[i][0],
                  bad[i][1], r.status, msg_of(&r));
        reply_free(&r);
    }
    form_search("k", "2", &r);
    CHECK_MSG(r.status == 200 && json_array_size(json_object_get(r.json, "results")) == 2, "%ld %s",
              r.status, msg_of(&r));
    reply_free(&r);
    seize_server_stop(s);
}

static int files_in(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *fp = popen(cmd, "r");
    int n = -1;
    if (fp && fscanf(fp, "%d", &n) != 1) n = -1;
    if (fp) pclose(fp);
    return n;
}

// An upload of a composed search is on disk only while its request runs (plain or streamed),
// and what a killed server left in CACHE_DIR/uploads goes at start: uploads take no disk space
// past their requests.
static void test_uploads_removed(void)
{
    NEED_SETUP();
    CHECK_MSG(llm_server_start() == 0, "the test LLM server did not start");
    seize_serve_params p = composed_params(g_llm_url);
    p.cache_dir = check_tmp("cache-uploads");
    char dir[1000], path[1300];
    snprintf(dir, sizeof dir, "%s/uploads", p.cache_dir);
    CHECK_EQ(mkdir(p.cache_dir, 0700), 0);
    CHECK_EQ(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/left-by-a-crash.png", dir);
    FILE *fp = fopen(path, "w");
    CHECK(fp != NULL);
    fclose(fp);
    seize_server *s = up(&p);
    CHECK(s != NULL);
    CHECK_EQ(files_in(dir), 0);
    snprintf(path, sizeof path, "%s/rocket.jpg", g_gallery);
    size_t n;
    char *jpg = file_bytes(path, &n);
    const char *extra[2] = {"\"text\": \"at dawn\", \"num_captions\": 2",
                            "\"text\": \"at dusk\", \"num_captions\": 2, \"stream\": true"};
    for (int i = 0; i < 2; i++) {
        char *body = upload_json(jpg, n, extra[i]);
        reply r;
        CHECK_EQ(post("/v1/search", body, &r), 0);
        free(body);
        CHECK_MSG(r.status == 200 && !strstr(r.body, "\"error\""), "%ld %s", r.status, msg_of(&r));
        reply_free(&r);
        if (i == 0) CHECK_EQ(files_in(dir), 0); // removed before the reply
    }
    free(jpg);
    seize_server_stop(s); // (a stream's job is freed with its response)
    CHECK_EQ(files_in(dir), 0);
}

static void *thumb_main(void *arg)
{
    const char *name = arg;
    char path[200];
    reply r;
    snprintf(path, sizeof path, "/v1/images/%s?thumb=1", name);
    long ok = get(path, &r) == 0 && r.status == 200;
    reply_free(&r);
    return (void *)ok;
}

// Cold thumbnails asked for all at once are made at most n_threads (here 1) at a time: each
// decodes a whole photo; all are answered.
static void test_thumbs_bounded(void)
{
    NEED_SETUP();
    seize_serve_params p = params();
    p.cache_dir = check_tmp("cache-thumbs-bounded");
    seize_server *s = up(&p);
    CHECK(s != NULL);
    pthread_t t[N_GALLERY];
    for (int i = 0; i < N_GALLERY; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, thumb_main, (void *)gallery_files[i]), 0);
    for (int i = 0; i < N_GALLERY; i++) {
        void *ok = NULL;
        pthread_join(t[i], &ok);
        CHECK_MSG(ok, "%s", gallery_files[i]);
    }
    CHECK_MSG(s->decodes.peak == 1 && s->decodes.busy == 0, "peak %d, busy %d", s->decodes.peak,
              s->decodes.busy);
    seize_server_stop(s);
}

static void *upload_main(void *arg)
{
    reply r;
    form_search("k", "3", &r);
    long ok = r.status == 200;
    reply_free(&r);
    return (void *)ok;
}

// Uploads searched all at once are decoded (and held until the batcher has them) at most
// n_threads (here 1) at a time, as thumbnails: a photo of up to max_pixels each; all answered.
static void test_uploads_bounded(void)
{
    NEED_SETUP();
    seize_serve_params p = params();
    seize_server *s = up(&p);
    CHECK(s != NULL);
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, upload_main, NULL), 0);
    for (int i = 0; i < 8; i++) {
        void *ok = NULL;
        pthread_join(t[i], &ok);
        CHECK(ok);
    }
    CHECK_MSG(s->decodes.peak == 1 && s->decodes.busy == 0, "peak %d, busy %d", s->decodes.peak,
              s->decodes.busy);
    seize_server_stop(s);
}

static void *stop_main(void *arg)
{
    seize_server_stop(arg);
    return NULL;
}

static long keepalive_get(CURL *cu, const char *path)
{
    char url[300];
    long status = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_port, path);
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
    reply r = {0};
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, 60L);
    if (curl_easy_perform(cu) == CURLE_OK) curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
    reply_free(&r);
    return status;
}

// While the server stops (a composed search still in flight), the next request of a kept-alive
// connection is refused with 503, so a busy client cannot hold the drain; the search in flight
// is answered.
static void test_stop_keepalive(void)
{
    NEED_SETUP();
    int lfd, port = hang_listen(&lfd);
    CHECK(port > 0);
    char url[100];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
    seize_serve_params p = composed_params(url);
    seize_server *s = up(&p);
    CHECK(s != NULL);
    CURL *cu = curl_easy_init();
    CHECK_EQ(keepalive_get(cu, "/healthz"), 200);
    call a = {"/v1/search", "{\"reference\": {\"name\": \"rocket.jpg\"}, \"text\": \"x\", "
                            "\"num_captions\": 1}"};
    pthread_t ta, ts;
    CHECK_EQ(pthread_create(&ta, NULL, call_main, &a), 0);
    int cfd = accept(lfd, NULL, NULL); // the caption request: the search is in flight
    CHECK(cfd >= 0);
    CHECK_EQ(pthread_create(&ts, NULL, stop_main, s), 0);
    int stopping = 0;
    for (int i = 0; i < 6000 && !stopping; i++) {
        pthread_mutex_lock(&s->mu);
        stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        struct timespec t = {0, 5000000};
        if (!stopping) nanosleep(&t, NULL);
    }
    CHECK(stopping);
    long st = keepalive_get(cu, "/healthz");
    curl_easy_cleanup(cu);
    close(cfd); // the caption request fails: the search is answered, the stop goes on
    close(lfd);
    pthread_join(ta, NULL);
    pthread_join(ts, NULL);
    CHECK_MSG(st == 503, "a kept-alive request while stopping: %ld", st);
    CHECK_MSG(is_error(&a.r, 502), "%ld %s", a.r.status, msg_of(&a.r));
    reply_free(&a.r);
}

static int lines_in(const char *path)
{
    size_t n = 0;
    char *t = file_bytes(path, &n);
    int k = 0;
    for (size_t i = 0; t && i < n; i++)
        k += t[i] == '\n';
    free(t);
    return t ? k : -1;
}

// The cache file stays within twice the bound while entries are written (rewritten with the
// entries kept), and a new cache reads back the most recent ones.
static void test_cache_compacted(void)
{
    srv_cache *c = NULL;
    char path[600], key[32], **t = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s", check_tmp("compact.jsonl"));
    CHECK_EQ(srv_cache_new(4, path, &c), 0);
    char *v[] = {"a text"};
    int most = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        srv_cache_put(c, key, v, 1);
        int l = lines_in(path);
        if (l > most) most = l;
    }
    srv_cache_free(c);
    CHECK_MSG(most <= 8, "the file grew to %d lines (bound 4)", most);
    CHECK_EQ(srv_cache_new(4, path, &c), 0);
    for (int i = 96; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK_MSG(srv_cache_get(c, key, &t, &n) == 1 && n == 1, "%s", key);
        if (n == 1) free(t[0]), free(t);
        n = 0;
    }
    CHECK_EQ(srv_cache_get(c, "k95", &t, &n), 0);
    srv_cache_free(c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (check_tmp_init("serve") != 0) return 1;
    RUN(test_routes);
    RUN(test_images);
    RUN(test_search_text);
    RUN(test_search_image);
    RUN(test_bad_uploads);
    RUN(test_upload_limits);
    RUN(test_token_cors);
    RUN(test_concurrent);
    RUN(test_composed);
    RUN(test_stream);
    RUN(test_cache_lru);
    RUN(test_cache_persisted);
    RUN(test_composed_errors);
    RUN(test_queue_full);
    RUN(test_timeout);
    RUN(test_start_errors);
    RUN(test_odd_inputs);
    RUN(test_form_nameless);
    RUN(test_png_chunk_bomb);
    RUN(test_uploads_removed);
    RUN(test_cache_compacted);
    RUN(test_thumbs_bounded);
    RUN(test_uploads_bounded);
    RUN(test_stop_keepalive);
    if (g_llm_pid) {
        kill(g_llm_pid, SIGTERM);
        waitpid(g_llm_pid, NULL, 0);
    }
    check_tmp_cleanup();
    curl_global_cleanup();
    return check_summary("serve");
}
