// The OpenAI-compatible captioner (pipeline.h): each image as a base64 data URL in an
// image_url part with a short prompt, N captions per image, through the batch client with its
// journal. Every image is checked before the first request.
#include "llm_stage.h"

#include "seize/image.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PROMPT "Write a short caption for this image in one sentence."
// Largest image sent (the base64 request is a third larger); bigger files are refused.
#define MAX_IMAGE_BYTES ((size_t)20 << 20)

typedef struct openai_cap {
    pl_llm llm;
    char *prompt;
} openai_cap;

typedef struct cap_call {
    const char *const *paths;
    char **bad; // per image: why it cannot be captioned (found before any request), or NULL
    size_t n;
    const char *prompt;
} cap_call;

static const char *mime_of(const unsigned char *d, size_t n)
{
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return "image/jpeg";
    if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return "image/png";
    if (n >= 6 && (!memcmp(d, "GIF87a", 6) || !memcmp(d, "GIF89a", 6))) return "image/gif";
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) return "image/webp";
    return NULL;
}

// A corrupt or truncated JPEG or PNG is found here rather than paid for. Pixel cap: a
// decompression bomb must not take gigabytes here; an image over it is sent unchecked
// (SEIZE_EINVAL) and left to the server.
static int check_decodes(const seize_map *m, const char *path)
{
    seize_image *img = NULL;
    int rc = seize_image_decode(m->data, m->size, path, (size_t)1 << 26, &img);
    seize_image_free(img);
    if (rc < 0 && rc != SEIZE_EINVAL) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", seize_errmsg());
        return seize_error(SEIZE_EFORMAT, "%s", msg);
    }
    return 0;
}

// "data:MIME;base64,..." of a mapped image (checked), or a negative code.
static int data_url(const char *path, char **out)
{
    int fd = seize_open_regular(path, NULL); // still a regular file (not swapped for a FIFO)
    if (fd < 0) return fd;
    close(fd);
    seize_map m;
    int rc = seize_map_open(path, &m);
    if (rc < 0) return rc;
    const char *mime = mime_of(m.data, m.size);
    if (!mime)
        rc = seize_error(SEIZE_EFORMAT, "not a JPEG, PNG, GIF or WebP file");
    else if (m.size > MAX_IMAGE_BYTES)
        rc =
            seize_error(SEIZE_EFORMAT, "%zu bytes, over the limit of %zu", m.size, MAX_IMAGE_BYTES);
    else if (!strcmp(mime, "image/jpeg") || !strcmp(mime, "image/png"))
        rc = check_decodes(&m, path);
    char *b64 = rc == 0 ? seize_base64_encode(m.data, m.size) : NULL;
    seize_map_close(&m);
    if (rc < 0) return rc;
    if (!b64) return seize_error(SEIZE_ENOMEM, "out of memory");
    size_t ml = strlen(mime), bl = strlen(b64);
    char *url = malloc(ml + bl + 16);
    if (url) {
        memcpy(url, "data:", 5);
        memcpy(url + 5, mime, ml);
        memcpy(url + 5 + ml, ";base64,", 8);
        memcpy(url + 13 + ml, b64, bl + 1);
    }
    free(b64);
    *out = url;
    return url ? 0 : seize_error(SEIZE_ENOMEM, "out of memory");
}

static int build_messages(void *vctx, size_t item, json_t **out)
{
    cap_call *ctx = vctx;
    const char *path = ctx->paths[item];
    if (ctx->bad[item]) return seize_error(SEIZE_EFORMAT, "%s", ctx->bad[item]);
    char *url = NULL;
    int rc = data_url(path, &url);
    if (rc < 0) return rc;
    json_t *content = json_pack("[{s:s, s:s}, {s:s, s:{s:s}}]", "type", "text", "text", ctx->prompt,
                                "type", "image_url", "image_url", "url", url);
    free(url);
    json_t *msgs = content ? json_pack("[{s:s, s:o}]", "role", "user", "content", content) : NULL;
    if (!msgs) return seize_error(SEIZE_ENOMEM, "cannot build a request for '%s'", path);
    *out = msgs;
    return 0;
}

// Why one existing file cannot be captioned (msg "" when it can); a negative code for a FIFO,
// a device or a folder.
static int scan_one(const char *path, char msg[256])
{
    size_t size = 0;
    int fd = seize_open_regular(path, &size);
    if (fd < 0) return fd; // named by seize_open_regular
    unsigned char head[16];
    ssize_t got = read(fd, head, sizeof head);
    close(fd);
    msg[0] = 0;
    if (got < 0)
        snprintf(msg, 256, "cannot read: %s", strerror(errno));
    else if (!mime_of(head, (size_t)got))
        snprintf(msg, 256, "not a JPEG, PNG, GIF or WebP file");
    else if (size > MAX_IMAGE_BYTES)
        snprintf(msg, 256, "%zu bytes, over the limit of %zu", size, MAX_IMAGE_BYTES);
    return 0;
}

// Checks every image before any request: missing files are summarised in one error; FIFOs,
// devices and folders stop the call; files that are not images or are too big are marked in
// ctx->bad (failed items, never sent).
static int scan_images(cap_call *ctx, const char *image_dir)
{
    size_t n_missing = 0;
    char first[600] = "";
    for (size_t i = 0; i < ctx->n; i++) {
        const char *path = ctx->paths[i];
        struct stat st;
        if (stat(path, &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
            if (n_missing++ < 3) {
                size_t l = strlen(first);
                snprintf(first + l, sizeof first - l, "%s'%s'", l ? ", " : "", path);
            }
            continue;
        }
        char msg[256];
        int rc = scan_one(path, msg);
        if (rc < 0) return rc;
        if (msg[0] && !(ctx->bad[i] = seize_strdup(msg))) return SEIZE_ENOMEM;
    }
    if (n_missing && image_dir)
        return seize_error(SEIZE_ENOTFOUND,
                           "%zu of %zu reference images are missing from '%s' (first: %s%s); no "
                           "request was sent",
                           n_missing, ctx->n, image_dir, first, n_missing > 3 ? ", ..." : "");
    if (n_missing)
        return seize_error(SEIZE_ENOTFOUND,
                           "%zu of %zu images are missing (first: %s%s); no request was sent",
                           n_missing, ctx->n, first, n_missing > 3 ? ", ..." : "");
    return 0;
}

// The check pins the prompt and the file (size and modification time).
static int add_items(seize_llm_batch *b, const cap_call *ctx, size_t n_captions)
{
    for (size_t i = 0; i < ctx->n; i++) {
        struct stat st;
        memset(&st, 0, sizeof st);
        stat(ctx->paths[i], &st);
        size_t dl = strlen(ctx->prompt) + strlen(ctx->paths[i]) + 96;
        char *desc = malloc(dl), check[17] = "";
        if (desc) {
            int w = snprintf(desc, dl, "%s%c%s%c%lld%c%lld.%09ld", ctx->prompt, 0, ctx->paths[i], 0,
                             (long long)st.st_size, 0, (long long)st.st_mtim.tv_sec,
                             (long)st.st_mtim.tv_nsec);
            seize_llm_fingerprint(desc, (size_t)w, check);
            free(desc);
        }
        int rc = check[0] ? seize_llm_batch_add(b, ctx->paths[i], check, n_captions)
                          : seize_error(SEIZE_ENOMEM, "out of memory");
        if (rc < 0) return rc;
    }
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static char *trim(const char *s)
{
    const char *e = s + strlen(s);
    while (s < e && is_space(*s))
        s++;
    while (e > s && is_space(e[-1]))
        e--;
    char *t = malloc((size_t)(e - s) + 1);
    if (t) {
        memcpy(t, s, (size_t)(e - s));
        t[e - s] = 0;
    }
    return t;
}

static int run_batch(openai_cap *c, cap_call *ctx, const seize_caption_job *job,
                     seize_stage_item *items)
{
    seize_llm_params p = c->llm.p;
    if (job->cancel) p.cancel = job->cancel;
    seize_llm_batch *b = NULL;
    int rc = seize_llm_batch_new(&p, c->llm.journal, build_messages, ctx, &b);
    if (rc == 0) rc = add_items(b, ctx, job->n_captions);
    if (rc == 0)
        rc =
            pl_llm_result(&c->llm, pl_llm_run(&c->llm, b, 0, job->on_progress, job->progress_user));
    for (size_t i = 0; b && (rc == 0 || rc == SEIZE_ENET || rc == SEIZE_ECANCEL) && i < ctx->n;
         i++) {
        int frc = pl_llm_fill(&items[i], b, i, trim);
        if (frc < 0) rc = frc;
    }
    seize_llm_batch_free(b);
    return rc;
}

static int openai_caption(void *self, const seize_caption_job *job, seize_stage_item *items)
{
    openai_cap *c = self;
    memset(&c->llm.last, 0, sizeof c->llm.last);
    if (job->n_captions < 1) return seize_error(SEIZE_EINVAL, "n_captions must be at least 1");
    cap_call ctx = {job->images, NULL, job->n, c->prompt};
    ctx.bad = seize_calloc(job->n ? job->n : 1, sizeof *ctx.bad);
    if (!ctx.bad) return SEIZE_ENOMEM;
    int rc = scan_images(&ctx, job->image_dir);
    if (rc == 0 && seize_cancel_level(job->cancel ? job->cancel : c->llm.p.cancel))
        rc = seize_error(SEIZE_ECANCEL, "cancelled; no request was sent");
    if (rc == 0) rc = run_batch(c, &ctx, job, items);
    for (size_t i = 0; i < job->n; i++)
        free(ctx.bad[i]);
    free(ctx.bad);
    return rc;
}

static int openai_cap_settings(void *self, json_t **out, char hash[65])
{
    return pl_llm_settings(&((openai_cap *)self)->llm, out, hash);
}

static void openai_cap_destroy(void *self)
{
    openai_cap *c = self;
    pl_llm_release(&c->llm);
    free(c->prompt);
    free(c);
}

static const seize_captioner_methods openai_methods = {"openai", openai_caption,
                                                       openai_cap_settings, openai_cap_destroy};

int seize_captioner_openai_new(const seize_llm_params *p, const seize_captioner_openai_opts *o,
                               seize_captioner **out)
{
    *out = NULL;
    openai_cap *c = seize_calloc(1, sizeof *c);
    seize_captioner *cc = seize_calloc(1, sizeof *cc);
    const char *prompt = o && o->prompt ? o->prompt : DEFAULT_PROMPT;
    if (c) c->prompt = seize_strdup(prompt);
    if (!c || !cc || !c->prompt) {
        free(c ? c->prompt : NULL);
        free(c);
        free(cc);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    char h_prompt[65];
    pl_sha256_hex(prompt, strlen(prompt), h_prompt);
    json_t *extra = json_pack("{s:s, s:i}", "prompt_sha256", h_prompt, "n",
                              (json_int_t)(o && o->n_captions ? o->n_captions : 1));
    int rc = extra ? pl_llm_init(&c->llm, p, extra, o ? o->command : NULL, o ? o->journal : NULL)
                   : seize_error(SEIZE_ENOMEM, "out of memory");
    json_decref(extra);
    cc->methods = &openai_methods;
    cc->self = c;
    if (rc < 0) {
        seize_captioner_free(cc);
        return rc;
    }
    *out = cc;
    return 0;
}

void seize_captioner_openai_stats(const seize_captioner *c, seize_llm_stats *out)
{
    memset(out, 0, sizeof *out);
    if (c && c->methods == &openai_methods) *out = ((const openai_cap *)c->self)->llm.last;
}
