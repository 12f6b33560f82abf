// seize serve's GET routes: /v1/info, /v1/gallery and /v1/images/{name} (files and thumbnails).
#include "serve_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dtype_name(seize_dtype t)
{
    return t == SEIZE_F16 ? "float16" : t == SEIZE_I32 ? "int32" : "float32";
}

enum MHD_Result srv_info(srv_req *r, struct MHD_Connection *c)
{
    seize_server *s = r->s;
    seize_search_weights w = seize_search_weights_for(SEIZE_DS_CIRCO);
    json_t *cap = s->native    ? json_pack("{s:s,s:s}", "kind", "blip2", "model", s->cap_name)
                  : s->has_cap ? json_pack("{s:s,s:s?}", "kind", "openai", "model", s->cap_p.model)
                               : json_null();
    json_t *llm = s->has_llm ? json_pack("{s:s?}", "model", s->llm_p.model) : json_null();
    json_t *j = json_pack(
        "{s:s,s:{s:s,s:I,s:s},s:{s:s,s:I,s:I,s:s},s:b,s:b,s:o,s:o,"
        "s:{s:s,s:f,s:f,s:i,s:i},s:{s:I,s:I,s:i}}",
        "version", SEIZE_VERSION, "model", "path", s->model_dir, "embed_dim",
        (json_int_t)seize_index_dim(s->idx), "precision", seize_precision_name(s->p.precision),
        "index", "path", s->index_dir, "count", (json_int_t)seize_index_count(s->idx), "dim",
        (json_int_t)seize_index_dim(s->idx), "dtype", dtype_name(seize_index_dtype(s->idx)),
        "gallery", s->gallery_dir != NULL, "composed", s->has_cap && s->has_llm, "captioner", cap,
        "llm", llm, "defaults", "method", "seize", "pos", w.pos, "neg", w.neg, "k", 50,
        "num_captions", 15, "limits", "max_upload_bytes", (json_int_t)s->p.max_upload_bytes,
        "max_pixels", (json_int_t)s->p.max_pixels, "max_k", SRV_MAX_K);
    if (!j) return srv_send_error(r, c, 500, "out of memory");
    return srv_send_json(r, c, 200, j);
}

// An unsigned query argument in [0, max], or `def` when absent; -1 when malformed.
static long arg_long(struct MHD_Connection *c, const char *key, long def, long max)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
    if (!v || !*v) return def;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (*end || errno || x < 0 || x > max) return -1;
    return x;
}

static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (!n) return 1;
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return 1;
    return 0;
}

enum MHD_Result srv_gallery(srv_req *r, struct MHD_Connection *c)
{
    const seize_index *idx = r->s->idx;
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q");
    long offset = arg_long(c, "offset", 0, 1L << 40), limit = arg_long(c, "limit", 100, 1000);
    if (offset < 0 || limit < 0)
        return srv_send_error(r, c, 400, "bad offset or limit (limit: 0 to 1000)");
    json_t *items = json_array();
    size_t total = 0;
    for (size_t i = 0, n = seize_index_count(idx); i < n; i++) {
        const char *name = seize_index_name(idx, i);
        if (q && !contains_nocase(name, q)) continue;
        if (total >= (size_t)offset && total < (size_t)offset + (size_t)limit)
            json_array_append_new(items,
                                  json_pack("{s:s,s:I}", "name", name, "row", (json_int_t)i));
        total++;
    }
    return srv_send_json(r, c, 200,
                         json_pack("{s:I,s:I,s:o}", "total", (json_int_t)total, "offset",
                                   (json_int_t)offset, "items", items));
}

// --- images ----------------------------------------------------------------------------------

const char *srv_image_type(const uint8_t *b, size_t n)
{
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "image/jpeg";
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return "image/png";
    return NULL;
}

// A name is served only when it is in the index and is a plain relative path (no "..").
static int safe_name(const char *name)
{
    if (!*name || name[0] == '/') return 0;
    for (const char *p = name; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if ((n == 2 && !strncmp(p, "..", 2)) || n == 0) return 0;
        p += n + (e ? 1 : 0);
    }
    return 1;
}

static enum MHD_Result send_fd(srv_req *r, struct MHD_Connection *c, int fd, const char *type,
                               const char *cache)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return srv_send_error(r, c, 404, "image file not found");
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", cache);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    return srv_send(r, c, 200, resp);
}

// Makes the thumbnail file `out` (atomically) from the image `path` inside one of s->decodes:
// each decodes a whole photo (up to max_pixels), and a page of cold thumbnails must not decode
// as many as there are connections.
static int make_thumb(seize_server *s, const char *path, const char *out)
{
    seize_image *img = NULL, *t = NULL;
    uint8_t *jpg = NULL;
    size_t n = 0;
    srv_decode_enter(s);
    int rc = seize_image_load(path, s->p.max_pixels, &img);
    if (rc == 0) rc = seize_image_thumbnail(img, 256, &t);
    seize_image_free(img);
    if (rc == 0) rc = seize_image_encode_jpeg(t, 85, &jpg, &n);
    seize_image_free(t);
    srv_decode_leave(s);
    if (rc < 0) return rc;
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", out, (long)gettid());
    FILE *fp = fopen(tmp, "wb");
    int ok = fp && fwrite(jpg, 1, n, fp) == n;
    if (fp && fclose(fp) != 0) ok = 0;
    free(jpg);
    if (!ok || rename(tmp, out) < 0) {
        unlink(tmp);
        return seize_error(SEIZE_EIO, "cannot write the thumbnail '%s'", out);
    }
    return 0;
}

enum MHD_Result srv_image(srv_req *r, struct MHD_Connection *c, const char *name)
{
    seize_server *s = r->s;
    size_t row;
    if (!s->gallery_dir) return srv_send_error(r, c, 404, "this server has no gallery folder");
    // never a filesystem lookup of a name that is not in the index
    if (!safe_name(name) || seize_index_find(s->idx, name, &row) < 0)
        return srv_send_error(r, c, 404, "no gallery image named '%s'", name);
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", s->gallery_dir, seize_index_name(s->idx, row));
    const char *thumb = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "thumb");
    if (thumb && strcmp(thumb, "0")) {
        uint8_t d[32];
        char hex[65], out[4300], key[8300];
        struct stat st; // a changed file gets a new thumbnail
        if (stat(path, &st) < 0)
            return srv_send_error(r, c, 404, "image file of '%s' not found", name);
        int n = snprintf(key, sizeof key, "%s\n%lld\n%lld.%09ld", path, (long long)st.st_size,
                         (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        seize_sha256_buffer(key, (size_t)n < sizeof key ? (size_t)n : sizeof key - 1, d);
        seize_sha256_hex(d, hex);
        snprintf(out, sizeof out, "%s/thumbs/%s.jpg", s->cache_dir, hex);
        if (access(out, R_OK) != 0 && make_thumb(s, path, out) < 0)
            return srv_send_error(r, c, 404, "no thumbnail of '%s': %s", name, seize_errmsg());
        int fd = open(out, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return srv_send_error(r, c, 404, "thumbnail of '%s' not found", name);
        return send_fd(r, c, fd, "image/jpeg", "max-age=3600");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return srv_send_error(r, c, 404, "image file of '%s' not found", name);
    uint8_t head[8];
    ssize_t n = pread(fd, head, sizeof head, 0);
    const char *type = srv_image_type(head, n > 0 ? (size_t)n : 0);
    return send_fd(r, c, fd, type ? type : "application/octet-stream", "max-age=3600");
}
