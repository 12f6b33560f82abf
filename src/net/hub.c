// Model downloads from the Hugging Face hub: resumable, checksummed, atomic per file.
#include "seize/hub.h"

#include "seize/core.h"
#include "seize/net.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct {
    const char *name, *repo, *layout;
} known[] = {
    {"ViT-B-32", "openai/clip-vit-base-patch32", "transformers"},
    {"ViT-B-16", "openai/clip-vit-base-patch16", "transformers"},
    {"ViT-L-14", "openai/clip-vit-large-patch14", "transformers"},
    {"ViT-H-14", "laion/CLIP-ViT-H-14-laion2B-s32B-b79K", "open_clip"},
    {"ViT-g-14", "laion/CLIP-ViT-g-14-laion2B-s12B-b42K", "open_clip"},
    {"ViT-bigG-14", "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k", "open_clip"},
    {"blip2-opt-6.7b-coco", "Salesforce/blip2-opt-6.7b-coco", "blip2"},
    {"blip2-opt-2.7b", "Salesforce/blip2-opt-2.7b", "blip2"},
};

static const char *tf_files[] = {"config.json", "vocab.json", "merges.txt", "model.safetensors",
                                 NULL};
static const char *oc_files[] = {"open_clip_config.json", "vocab.json", "merges.txt",
                                 "open_clip_model.safetensors", NULL};
// BLIP-2 (transformers layout, sharded): the index first, then the shards it names (bl_shards),
// then the rest.
static const char *bl_head[] = {"config.json", "model.safetensors.index.json", NULL};
static const char *bl_tail[] = {"vocab.json",
                                "merges.txt",
                                "tokenizer_config.json",
                                "special_tokens_map.json",
                                "preprocessor_config.json",
                                "generation_config.json",
                                NULL};

seize_hub_opts seize_hub_default_opts(void)
{
    seize_hub_opts o;
    memset(&o, 0, sizeof o);
    o.max_attempts = 5;
    o.retry_base = 1.0;
    o.revision = "main";
    return o;
}

int seize_hub_lookup(const char *name, const char **repo, const char **layout)
{
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(known[i].name, name)) {
            *repo = known[i].repo;
            *layout = known[i].layout;
            return 0;
        }
    return seize_error(SEIZE_ENOTFOUND, "unknown model name '%s'", name);
}

// --- one transfer
// ---------------------------------------------------------------------------------

typedef struct xfer {
    FILE *fp;
    const char *file;
    long status;          // status of the current (last) response
    char linked_etag[80]; // sha256 from X-Linked-Etag, if any
    size_t offset, got, total;
    int write_error;
    const seize_hub_opts *o;
} xfer;

static size_t on_header(char *buf, size_t size, size_t n, void *ctx)
{
    xfer *x = ctx;
    size_t len = size * n;
    if (len > 5 && !strncmp(buf, "HTTP/", 5)) {
        x->status = 0; // a new response (after a redirect)
        const char *sp = memchr(buf, ' ', len);
        if (sp) x->status = strtol(sp + 1, NULL, 10);
    } else if (len > 15 && !strncasecmp(buf, "x-linked-etag:", 14)) {
        // value: "<64 hex>" (with quotes), possibly W/ prefixed
        const char *p = buf + 14, *end = buf + len;
        size_t k = 0;
        for (; p < end && k + 1 < sizeof x->linked_etag; p++)
            if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))
                x->linked_etag[k++] = *p;
            else if (k)
                break;
        x->linked_etag[k] = 0;
        if (k != 64) x->linked_etag[0] = 0; // not a sha256 (e.g. a git blob id)
    } else if (len > 15 && !strncasecmp(buf, "content-range:", 14)) {
        const char *slash = memchr(buf, '/', len);
        if (slash) x->total = (size_t)strtoull(slash + 1, NULL, 10);
    }
    return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ctx)
{
    xfer *x = ctx;
    size_t len = size * n;
    if (x->status != 200 && x->status != 206) return len; // error page: drop it
    if (x->status == 200 && x->offset > 0 && x->got == 0) {
        // the server ignored the Range request: start again from the beginning
        if (ftruncate(fileno(x->fp), 0) != 0 || fseek(x->fp, 0, SEEK_SET) != 0) {
            x->write_error = errno;
            return 0;
        }
        x->offset = 0;
    }
    if (fwrite(buf, 1, len, x->fp) != len) {
        x->write_error = errno;
        return 0;
    }
    x->got += len;
    if (x->o->progress) x->o->progress(x->o->progress_ctx, x->file, x->offset + x->got, x->total);
    return len;
}

static int verify_sha(const char *path, const char *want, const char *file)
{
    uint8_t d[32];
    char hex[65];
    int rc = seize_sha256_file(path, d);
    if (rc < 0) return rc;
    seize_sha256_hex(d, hex);
    if (strcmp(hex, want) != 0)
        return seize_error(SEIZE_EFORMAT, "download of '%s' is corrupt: sha256 %s, the hub says %s",
                           file, hex, want);
    return 0;
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

// What a downloaded file must look like before it replaces nothing and gets its final name:
// a proxy, a captive portal or a mirror's error page can answer 200 with HTML.
static int check_content(const char *path, const char *file, const char *url)
{
    size_t size = 0;
    int fd = seize_open_regular(path, &size);
    if (fd < 0) return fd;
    char head[64] = "";
    ssize_t got = pread(fd, head, sizeof head - 1, 0);
    if (got < 0) got = 0;
    head[got] = 0;
    const char *what = NULL;
    int rc = 0;
    if (ends_with(file, ".safetensors")) {
        // 8-byte little-endian header length, then that many bytes of JSON (an object).
        uint64_t n = 0;
        for (int i = 7; i >= 0 && got >= 8; i--)
            n = n << 8 | (unsigned char)head[i];
        if (got < 8 || n < 2 || n > size - 8 || n > ((uint64_t)100 << 20)) {
            what = "not a safetensors file";
        } else {
            char *h = malloc((size_t)n);
            if (!h) {
                close(fd);
                return seize_error(SEIZE_ENOMEM, "out of memory");
            }
            json_t *j = pread(fd, h, (size_t)n, 8) == (ssize_t)n
                            ? json_loadb(h, (size_t)n, JSON_DISABLE_EOF_CHECK, NULL)
                            : NULL;
            if (!json_is_object(j)) what = "not a safetensors file (its header is not JSON)";
            json_decref(j);
            free(h);
        }
    } else if (ends_with(file, ".json")) {
        close(fd);
        fd = -1;
        char *text = NULL;
        size_t len = 0;
        rc = seize_read_file(path, &text, &len);
        if (rc < 0) return rc;
        // transformers writes model_max_length 1e30 as an integer: jansson takes it as a real
        json_t *j = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, NULL);
        if (!json_is_object(j)) what = "not a JSON object";
        json_decref(j);
        free(text);
    } else if (size == 0) {
        what = "empty";
    }
    if (fd >= 0) close(fd);
    if (!what) {
        // A text file that starts like a web page is one.
        const char *p = head;
        while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
            p++;
        if (!strncasecmp(p, "<!doctype", 9) || !strncasecmp(p, "<html", 5)) what = "an HTML page";
    } else if (strcasestr(head, "<html") || strcasestr(head, "<!doctype")) {
        what = "an HTML page";
    }
    if (!what) return 0;
    char *shown = seize_url_redact(url);
    rc = seize_error(SEIZE_EFORMAT,
                     "the download of '%s' from %s is %s, not the model file (a proxy, captive "
                     "portal or mirror error page?); it was not kept",
                     file, shown ? shown : "the hub", what);
    free(shown);
    return rc;
}

// Whether a curl error means the hub cannot be reached at all (no network, wrong address).
static int unreachable(CURLcode cc)
{
    return cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_RESOLVE_PROXY ||
           cc == CURLE_COULDNT_CONNECT;
}

// Fetches url into dest (resuming dest.incomplete). Returns 0, or an error; *retry says whether
// another attempt may help, *offline whether the hub could not be reached at all.
static int fetch_once(CURL *c, const char *url, const char *dest, const char *file,
                      const seize_hub_opts *o, int *retry, int *offline)
{
    *retry = 0;
    *offline = 0;
    char *shown = seize_url_redact(url);
    if (!shown) return SEIZE_ENOMEM;
    size_t n = strlen(dest);
    char *part = seize_malloc(n + 16, 1);
    if (!part) return SEIZE_ENOMEM;
    snprintf(part, n + 16, "%s.incomplete", dest);
    struct stat st;
    size_t offset = stat(part, &st) == 0 ? (size_t)st.st_size : 0;
    FILE *fp = fopen(part, offset ? "r+b" : "wb");
    if (!fp) {
        int rc = seize_error(SEIZE_EIO, "cannot create '%s': %s", part, strerror(errno));
        free(part);
        return rc;
    }
    if (offset && fseek(fp, 0, SEEK_END) != 0) offset = 0;
    xfer x = {fp, file, 0, "", offset, 0, 0, 0, o};
    char range[64];
    snprintf(range, sizeof range, "%zu-", offset);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); // abort a stalled transfer after 60 s
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "seize/" SEIZE_VERSION);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (offset) curl_easy_setopt(c, CURLOPT_RANGE, range);
    struct curl_slist *hdrs = NULL;
    char *auth = NULL;
    if (o->token && *o->token) {
        size_t k = strlen(o->token) + 32;
        auth = seize_malloc(k, 1);
        if (auth) {
            snprintf(auth, k, "Authorization: Bearer %s", o->token);
            hdrs = curl_slist_append(hdrs, auth);
        }
    }
    hdrs = curl_slist_append(hdrs, "Accept-Encoding: identity");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    free(auth);
    int rc = 0;
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0)
        x.write_error = x.write_error ? x.write_error : errno;
    fclose(fp);
    if (x.write_error) {
        rc = seize_error(SEIZE_EIO, "cannot write '%s': %s", part, strerror(x.write_error));
    } else if (cc != CURLE_OK) {
        rc = seize_error(SEIZE_ENET, "cannot download '%s' from %s: %s", file, shown,
                         curl_easy_strerror(cc));
        *retry = 1;
        *offline = unreachable(cc);
    } else if (x.status == 416 && offset > 0) {
        // the partial file already holds every byte; check it below
    } else if (x.status != 200 && x.status != 206) {
        rc = seize_error(SEIZE_ENET, "cannot download '%s' from %s: HTTP status %ld%s", file, shown,
                         x.status,
                         x.status == 401 || x.status == 403 ? " (a gated model? set HF_TOKEN)"
                         : x.status == 404                  ? " (no such file in the repository)"
                                                            : "");
        *retry = x.status == 408 || x.status == 429 || x.status >= 500;
    }
    if (rc == 0 && x.linked_etag[0]) {
        rc = verify_sha(part, x.linked_etag, file);
        if (rc < 0) unlink(part); // corrupt: start from scratch next time
    }
    if (rc == 0 && (rc = check_content(part, file, url)) < 0) unlink(part); // never kept
    if (rc == 0 && rename(part, dest) != 0)
        rc = seize_error(SEIZE_EIO, "cannot rename '%s': %s", part, strerror(errno));
    // An attempt that got no byte leaves no empty partial file behind.
    if (rc < 0 && stat(part, &st) == 0 && st.st_size == 0) unlink(part);
    free(part);
    free(shown);
    return rc;
}

static const char *default_cache(char *buf, size_t n)
{
    const char *s = getenv("SEIZE_CACHE");
    if (s && *s) return s;
    s = getenv("XDG_CACHE_HOME");
    if (s && *s) {
        snprintf(buf, n, "%s/seize", s);
        return buf;
    }
    s = getenv("HOME");
    snprintf(buf, n, "%s/.cache/seize", s && *s ? s : ".");
    return buf;
}

// The repository and layout of `name` (a known name or "owner/name"; "hf" is the older
// name of the transformers layout) and the options' defaults filled in.
static int resolve(const char *name, seize_hub_opts *o, const char **repo, const char **layout)
{
    if (seize_hub_lookup(name, repo, layout) < 0) {
        if (!strchr(name, '/') || name[0] == '/' || strstr(name, ".."))
            return seize_error(SEIZE_ENOTFOUND,
                               "unknown model '%s' (known: ViT-B-32, ViT-B-16, ViT-L-14, ViT-H-14, "
                               "ViT-g-14, ViT-bigG-14, blip2-opt-6.7b-coco, blip2-opt-2.7b, or a "
                               "hub repository id owner/name)",
                               name);
        *repo = name;
        *layout = "transformers";
    }
    if (o->layout) *layout = !strcmp(o->layout, "hf") ? "transformers" : o->layout;
    if (strcmp(*layout, "transformers") && strcmp(*layout, "open_clip") && strcmp(*layout, "blip2"))
        return seize_error(SEIZE_EINVAL, "unknown layout '%s' (transformers or open_clip)",
                           *layout);
    if (!o->endpoint) o->endpoint = getenv("HF_ENDPOINT");
    if (!o->endpoint || !*o->endpoint) o->endpoint = "https://huggingface.co";
    if (!o->token) o->token = getenv("HF_TOKEN");
    seize_secret_add(o->token);
    seize_secret_add_url(o->endpoint);
    if (!o->revision) o->revision = "main";
    if (o->max_attempts < 1) o->max_attempts = 1;
    return 0;
}

// The model's folder, created: <cache>/models/<name> with each '/' of a repository id as "--".
static int model_dir(const char *name, const seize_hub_opts *o, char **dir)
{
    char cbuf[1024], sub[600];
    const char *cache = o->cache_dir ? o->cache_dir : default_cache(cbuf, sizeof cbuf);
    size_t k = (size_t)snprintf(sub, sizeof sub, "models/");
    for (const char *p = name; *p && k + 3 < sizeof sub; p++) {
        if (*p == '/') {
            sub[k++] = '-';
            sub[k++] = '-';
        } else {
            sub[k++] = *p;
        }
    }
    sub[k] = 0;
    *dir = seize_path_join(cache, sub);
    if (!*dir) return SEIZE_ENOMEM;
    int rc = seize_mkdirs(*dir);
    if (rc < 0) {
        free(*dir);
        *dir = NULL;
    }
    return rc;
}

// One file of the repository to dest, retried with backoff on network errors. Offline (no name
// resolution, connection refused): one quick second try, then a clear message rather than
// minutes of backoff.
static int fetch_file(CURL *c, const char *repo, const char *file, const char *dest,
                      const seize_hub_opts *o)
{
    size_t ul = strlen(o->endpoint) + strlen(repo) + strlen(o->revision) + strlen(file) + 32;
    char *url = seize_malloc(ul, 1);
    if (!url) return SEIZE_ENOMEM;
    const char *sep = o->endpoint[strlen(o->endpoint) - 1] == '/' ? "" : "/";
    snprintf(url, ul, "%s%s%s/resolve/%s/%s", o->endpoint, sep, repo, o->revision, file);
    double wait = o->retry_base;
    int rc;
    for (int attempt = 1;; attempt++) {
        int retry, offline;
        rc = fetch_once(c, url, dest, file, o, &retry, &offline);
        if (rc < 0 && offline && (attempt >= 2 || attempt >= o->max_attempts)) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", seize_errmsg());
            char *hub = seize_url_redact(o->endpoint);
            const char *env = getenv("HF_ENDPOINT");
            rc =
                seize_error(SEIZE_ENET,
                            "%s (%d attempt%s); the hub at %s cannot be reached: check the "
                            "network, or set $HF_ENDPOINT (%s) to a reachable mirror, or "
                            "pass a local model folder (--model; BLIP-2: --model-dir) instead of a "
                            "name",
                            msg, attempt, attempt > 1 ? "s" : "", hub ? hub : "?",
                            env && *env ? "set now" : "not set");
            free(hub);
            break;
        }
        if (rc == 0 || !retry || attempt >= o->max_attempts) break;
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        nanosleep(&ts, NULL);
        wait *= 2;
    }
    free(url);
    return rc;
}

// Fetches the files of `files` (n of them, or up to a NULL) that are not in dir yet.
static int fetch_list(CURL *c, const char *repo, const char *dir, const char *const *files,
                      size_t n, const seize_hub_opts *o)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n && files[i]; i++) {
        char *dest = seize_path_join(dir, files[i]);
        if (!dest)
            rc = SEIZE_ENOMEM;
        else if (!seize_path_exists(dest))
            rc = fetch_file(c, repo, files[i], dest, o);
        free(dest);
    }
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// The shard files an index's weight_map names, each once, sorted into *names. A name must be
// a plain file name ending in ".safetensors" (no folder, no "..").
static int bl_shards(const char *dir, seize_strvec *names)
{
    char *path = seize_path_join(dir, "model.safetensors.index.json");
    json_t *j = NULL, *v;
    const char *k;
    seize_strmap seen = {0};
    int rc = path ? seize_json_load(path, &j) : SEIZE_ENOMEM;
    json_t *map = json_object_get(j, "weight_map");
    if (rc == 0 && (!json_is_object(map) || !json_object_size(map)))
        rc = seize_error(SEIZE_EFORMAT, "'%s': no \"weight_map\" object", path);
    json_object_foreach(map, k, v)
    {
        const char *f = json_string_value(v);
        if (rc < 0) break;
        if (!f || !*f || strchr(f, '/') || strchr(f, '\\') || f[0] == '.' ||
            !ends_with(f, ".safetensors"))
            rc = seize_error(SEIZE_EFORMAT, "'%s': tensor '%s' is in '%s', not a shard file name",
                             path, k, f ? f : "(not a string)");
        int dup = rc == 0 ? seize_strmap_put(&seen, f, 0, NULL) : 0;
        if (dup < 0) rc = dup;
        if (rc == 0 && dup == 0) rc = seize_strvec_push(names, f);
    }
    if (rc == 0) qsort(names->v, names->n, sizeof *names->v, by_name);
    seize_strmap_free(&seen);
    json_decref(j);
    free(path);
    return rc;
}

int seize_hub_fetch(const char *name, const seize_hub_opts *opts, char **dir_out)
{
    *dir_out = NULL;
    seize_hub_opts o = opts ? *opts : seize_hub_default_opts();
    const char *repo = NULL, *layout = NULL;
    char *dir = NULL;
    seize_strvec shards = {0};
    int rc = resolve(name, &o, &repo, &layout);
    if (rc < 0 || (rc = model_dir(name, &o, &dir)) < 0) return rc;
    CURL *c = curl_easy_init();
    if (!c) {
        free(dir);
        return seize_error(SEIZE_ENET, "cannot initialise libcurl");
    }
    if (!strcmp(layout, "blip2")) {
        rc = fetch_list(c, repo, dir, bl_head, SIZE_MAX, &o);
        if (rc == 0) rc = bl_shards(dir, &shards);
        if (rc == 0) rc = fetch_list(c, repo, dir, (const char *const *)shards.v, shards.n, &o);
        if (rc == 0) rc = fetch_list(c, repo, dir, bl_tail, SIZE_MAX, &o);
        seize_strvec_free(&shards);
    } else {
        const char **files = !strcmp(layout, "transformers") ? tf_files : oc_files;
        rc = fetch_list(c, repo, dir, files, SIZE_MAX, &o);
    }
    curl_easy_cleanup(c);
    if (rc < 0) {
        free(dir);
        return rc;
    }
    *dir_out = dir;
    return 0;
}
