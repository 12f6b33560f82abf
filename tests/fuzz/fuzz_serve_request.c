// libFuzzer target: `seize serve`'s request handling. One server runs in this process on
// 127.0.0.1:0 (tiny fixture model, a small index written to a scratch folder, a gallery of fixture
// images under names with a space and a '/', no captioner or LLM); each input goes to it over a
// fresh TCP connection and the reply must be a well-formed HTTP response.
//
// Input: the first byte picks a template (byte % N_TEMPLATES); template 0 sends the rest as raw
// bytes (a whole request), the others wrap the rest as a path or query (bytes outside printable
// ASCII percent-encoded), a JSON body, a multipart/form-data body or a base64 image, with the
// Content-Length right. Environment: $SEIZE_FIXTURES (default ../shared/fixtures).
#include "fuzz_files.h"

#include "seize/core.h"
#include "seize/index.h"
#include "seize/model.h"
#include "seize/serve.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

static seize_server *g_srv;
static int g_port;

static const char *const g_names[] = {"block.png", "my photo.png", "sub/dir.png", "horse.png",
                                      "bilevel.png"};
static const char *const g_files[] = {"block.png", "green_palette.png", "checker_bilevel.png",
                                      "horse.png", "checker_bilevel.png"};
#define N_ROWS 5

static void stop_server(void)
{
    seize_server_stop(g_srv);
    g_srv = NULL;
}

static void die(const char *what)
{
    fprintf(stderr, "fuzz_serve_request: %s: %s\n", what, seize_errmsg());
    abort();
}

// The gallery folder (copies of fixture images) and an index of random unit rows.
static void write_fixtures(const char *fix, const char *gallery, const char *index, size_t dim)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/sub'", gallery);
    for (int i = 0; i < N_ROWS; i++) {
        size_t n = strlen(cmd);
        snprintf(cmd + n, sizeof cmd - n, " && cp '%s/images/%s' '%s/%s'", fix, g_files[i], gallery,
                 g_names[i]);
    }
    if (system(cmd) != 0) die("copying the gallery images");
    float *f = malloc(N_ROWS * dim * sizeof *f);
    if (!f) abort();
    uint32_t s = 12345;
    for (int r = 0; r < N_ROWS; r++) {
        double norm = 0;
        for (size_t i = 0; i < dim; i++) {
            s = s * 1664525u + 1013904223u;
            f[r * dim + i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
            norm += (double)f[r * dim + i] * f[r * dim + i];
        }
        for (size_t i = 0; i < dim; i++)
            f[r * dim + i] /= (float)(norm > 0 ? sqrt(norm) : 1);
    }
    int rc = seize_index_write(index, f, N_ROWS, dim, g_names, SEIZE_F32, NULL);
    free(f);
    if (rc < 0) die("seize_index_write");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *fix = getenv("SEIZE_FIXTURES");
    if (!fix || !*fix) fix = "../shared/fixtures";
    static char model[1024], index[1024], gallery[1024];
    snprintf(model, sizeof model, "%s/models/tiny-openai", fix);
    fuzz_dir_init("fuzz_serve_request");
    snprintf(index, sizeof index, "%s/index", fuzz_dir);
    snprintf(gallery, sizeof gallery, "%s/gallery", fuzz_dir);
    seize_clip_model *m = NULL;
    if (seize_clip_model_load(model, &m) < 0) die(model);
    size_t dim = (size_t)seize_clip_model_get_config(m)->embed_dim;
    seize_clip_model_free(m);
    write_fixtures(fix, gallery, index, dim);
    seize_serve_params p = seize_serve_default_params();
    p.index_dir = index, p.model_dir = model, p.gallery_dir = gallery;
    p.listen = "127.0.0.1:0";
    p.n_threads = 1, p.n_workers = 2, p.queue = 8;
    p.max_upload_bytes = 64 * 1024; // 413 reachable
    p.max_pixels = 1024 * 1024;
    p.request_timeout_s = 5;
    if (seize_server_start(&p, &g_srv) < 0) die("seize_server_start");
    g_port = seize_server_port(g_srv);
    atexit(stop_server); // runs before fuzz_dir_remove (registered first)
    return 0;
}

// --- the request ------------------------------------------------------------------------------

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

// A path or query: printable ASCII as is (so "%xx" sequences reach the URL decoding), the rest
// percent-encoded so that the request line stays one line.
static void put_path(buf *b, const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char e[4];
        if (d[i] > 0x20 && d[i] < 0x7f && d[i] != '#')
            put(b, d + i, 1);
        else
            snprintf(e, sizeof e, "%%%02X", d[i]), put(b, e, 3);
    }
}

static void put_head(buf *b, const char *method, const char *path, const char *ctype, size_t clen)
{
    char h[256];
    puts_(b, method);
    puts_(b, " ");
    puts_(b, path); // any length
    puts_(b, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if (ctype) snprintf(h, sizeof h, "Content-Type: %s\r\n", ctype), puts_(b, h);
    if (clen != (size_t)-1) snprintf(h, sizeof h, "Content-Length: %zu\r\n", clen), puts_(b, h);
    puts_(b, "\r\n");
}

#define BOUNDARY "fuzzBoundary7MA4YWxk"
enum {
    T_RAW,
    T_GALLERY,
    T_IMAGE,
    T_THUMB,
    T_GET,
    T_TEXT,
    T_IMG_JSON,
    T_SEARCH,
    T_IMG_MULTI,
    T_SEARCH_MULTI,
    T_IMG_B64,
    T_SEARCH_B64,
    N_TEMPLATES
};

// Builds the request of template t around the input's rest; returns 1 when it is well-formed
// (a reply is then required), 0 for raw bytes.
static int build(buf *b, int t, const uint8_t *d, size_t n)
{
    static const char *const post[] = {
        [T_TEXT] = "/v1/search/text",    [T_IMG_JSON] = "/v1/search/image",
        [T_SEARCH] = "/v1/search",       [T_IMG_MULTI] = "/v1/search/image",
        [T_SEARCH_MULTI] = "/v1/search", [T_IMG_B64] = "/v1/search/image",
        [T_SEARCH_B64] = "/v1/search"};
    static const char *const get[] = {[T_GALLERY] = "/v1/gallery?q=",
                                      [T_IMAGE] = "/v1/images/",
                                      [T_THUMB] = "/v1/images/",
                                      [T_GET] = ""};
    buf body = {0};
    if (t == T_RAW) {
        put(b, d, n);
        return 0;
    }
    if (t <= T_GET) {
        buf path = {0};
        puts_(&path, get[t]);
        if (t == T_GET && (!n || d[0] != '/')) puts_(&path, "/");
        put_path(&path, d, n);
        if (t == T_THUMB) puts_(&path, "?thumb=1");
        put_head(b, "GET", path.p, NULL, (size_t)-1);
        free(path.p);
        return 1;
    }
    const char *ctype = "application/json";
    if (t == T_IMG_MULTI || t == T_SEARCH_MULTI) {
        ctype = "multipart/form-data; boundary=" BOUNDARY;
        put(&body, d, n);
    } else if (t == T_IMG_B64 || t == T_SEARCH_B64) {
        puts_(&body, "{\"k\": 3, \"text\": \"red\", \"reference\": {\"image_base64\": \"");
        put(&body, d, n);
        puts_(&body, "\"}}");
    } else {
        put(&body, d, n);
    }
    put_head(b, "POST", post[t], ctype, body.len);
    if (body.len) put(b, body.p, body.len);
    free(body.p);
    return 1;
}

// --- the exchange -----------------------------------------------------------------------------

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Sends the request and reads the reply until the server closes or `limit` seconds pass; returns
// the bytes read (up to cap), -1 on a timeout.
static long exchange(const buf *req, int half_close, char *reply, size_t cap, double limit)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) abort();
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) abort();
    if (half_close && !req->len) shutdown(fd, SHUT_WR); // nothing to send
    double t0 = now_s();
    size_t off = 0, got = 0;
    int timed_out = 0, open = 1;
    while (open) {
        if (now_s() - t0 > limit) {
            timed_out = 1;
            break;
        }
        struct pollfd pf = {fd, POLLIN | (off < req->len ? POLLOUT : 0), 0};
        if (poll(&pf, 1, 50) <= 0) continue;
        if ((pf.revents & POLLOUT) && off < req->len) {
            ssize_t k = send(fd, req->p + off, req->len - off, MSG_NOSIGNAL);
            if (k < 0)
                off = req->len; // the server closed early: read what it said
            else
                off += (size_t)k;
            if (off == req->len && half_close) shutdown(fd, SHUT_WR);
        }
        if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
            char tmp[4096];
            ssize_t k = recv(fd, tmp, sizeof tmp, 0);
            if (k <= 0)
                open = 0;
            else {
                size_t c = got < cap ? (cap - got < (size_t)k ? cap - got : (size_t)k) : 0;
                memcpy(reply + got, tmp, c);
                got += c;
            }
        }
    }
    close(fd);
    return timed_out ? -1 : (long)got;
}

// "HTTP/1.x NNN " with a status 100..599.
static int status_line_ok(const char *r, long n)
{
    if (n < 13 || memcmp(r, "HTTP/1.", 7) || (r[7] != '0' && r[7] != '1') || r[8] != ' ') return 0;
    for (int i = 9; i < 12; i++)
        if (r[i] < '0' || r[i] > '9') return 0;
    int st = (r[9] - '0') * 100 + (r[10] - '0') * 10 + (r[11] - '0');
    return st >= 100 && st < 600 && r[12] == ' ';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size || size > 200000) return 0;
    int t = data[0] % N_TEMPLATES;
    buf req = {0};
    int structured = build(&req, t, data + 1, size - 1);
    static char reply[(1 << 16) + 1];
    // Raw bytes may be an unfinished request: half-close so the server sees the end at once.
    long n = exchange(&req, !structured, reply, sizeof reply - 1, structured ? 20.0 : 10.0);
    if (n < 0 && structured) {
        fprintf(stderr, "fuzz_serve_request: no reply within 20 s (template %d)\n", t);
        abort();
    }
    reply[n > 0 ? n : 0] = 0;
    if (n > 0 && !status_line_ok(reply, n)) {
        fprintf(stderr, "fuzz_serve_request: malformed reply: %.*s\n", (int)(n < 200 ? n : 200),
                reply);
        abort();
    }
    if (structured && n == 0) {
        fprintf(stderr, "fuzz_serve_request: empty reply (template %d)\n", t);
        abort();
    }
    static int verbose = -1; // $FUZZ_SERVE_VERBOSE: each reply's status line on stderr
    if (verbose < 0) verbose = getenv("FUZZ_SERVE_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "[%d] %.*s\n", t, (int)(n > 0 ? (n < 600 ? n : 600) : 0), reply);
    free(req.p);
    return 0;
}
