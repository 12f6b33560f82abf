// The native captioner (pipeline.h): BLIP-2 in this process (seize/blip2.h) behind the
// seize_captioner interface, with the same checks, journal and resume as the OpenAI one.
#include "llm_stage.h"

#include "seize/blip2.h"

#include <cpuid.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PROMPT "a photo of"

typedef struct blip2_cap {
    seize_captioner_blip2_opts o;                                  // strings below
    char *model_dir, *prompt, *journal, *dump_logits, *force_file; // force_file: or NULL
    int32_t **force; // force_ids parsed: n_force arrays
    size_t *force_len, n_force;
    seize_blip2_model *m;
    seize_blip2 *s;
    size_t s_samples, n_prompt; // the state's max_samples; prompt ids (without BOS)
    int s_batch;                // the state's max_images
    json_t *settings;
    char hash[65];
    seize_llm_stats last;
    pthread_mutex_t mu;
} blip2_cap;

// One call: the job, its items and what is kept between batches.
typedef struct b2_call {
    blip2_cap *c;
    const seize_caption_job *job;
    seize_stage_item *items;
    size_t n;       // sequences per image
    json_t *replay; // check -> its last journal line (or NULL)
    float *logits;  // dump: [images·n, steps, vocab], or NULL
    size_t vocab;   // of the dump
    seize_journal *jr;
} b2_call;

seize_precision seize_captioner_blip2_precision(void)
{
    unsigned a = 0, b = 0, c = 0, d = 0;
    // CPUID leaf 7, subleaf 1: EAX bit 5 is AVX512_BF16
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5))) return SEIZE_PRECISION_BF16;
    return SEIZE_PRECISION_FP32;
}

seize_captioner_blip2_opts seize_captioner_blip2_default_opts(void)
{
    seize_captioner_blip2_opts o;
    memset(&o, 0, sizeof o);
    o.gen = seize_blip2_gen_default();
    o.precision = seize_captioner_blip2_precision();
    o.batch = 1;
    return o;
}

// --- settings ------------------------------------------------------------------------------------

// {"name": size} of the weight files: model.safetensors, or the index and the shards it names.
static int weight_files(const char *dir, json_t *out)
{
    char *index = seize_path_join(dir, "model.safetensors.index.json");
    json_t *j = NULL, *v;
    const char *k;
    int rc = index ? 0 : SEIZE_ENOMEM;
    json_t *names = json_array();
    if (rc == 0 && seize_path_exists(index) && (rc = seize_json_load(index, &j)) == 0) {
        json_array_append_new(names, json_string("model.safetensors.index.json"));
        json_object_foreach(json_object_get(j, "weight_map"), k, v)
        {
            if (json_is_string(v)) json_array_append(names, v);
        }
    } else if (rc == 0) {
        json_array_append_new(names, json_string("model.safetensors"));
    }
    size_t i;
    json_array_foreach(names, i, v)
    {
        char *path = rc == 0 ? seize_path_join(dir, json_string_value(v)) : NULL;
        struct stat st;
        json_int_t size = path && stat(path, &st) == 0 ? (json_int_t)st.st_size : -1;
        if (rc == 0) json_object_set_new(out, json_string_value(v), json_integer(size));
        free(path);
    }
    json_decref(names);
    json_decref(j);
    free(index);
    return rc;
}

static int config_sha(const char *dir, char hex[65])
{
    char *path = seize_path_join(dir, "config.json"), *text = NULL;
    size_t len = 0;
    int rc = path ? seize_read_file(path, &text, &len) : SEIZE_ENOMEM;
    if (rc == 0) pl_sha256_hex(text, len, hex);
    free(text);
    free(path);
    return rc;
}

static json_t *force_sha(const json_t *force)
{
    if (!force) return json_null();
    char *text = json_dumps(force, JSON_COMPACT | JSON_ENCODE_ANY), hex[65];
    if (!text) return NULL;
    pl_sha256_hex(text, strlen(text), hex);
    free(text);
    return json_string(hex);
}

// A float setting as the user wrote it (0.9f is 0.899999976 as a double): 7 digits.
static double f2d(float v)
{
    char s[32];
    snprintf(s, sizeof s, "%.7g", (double)v);
    return strtod(s, NULL);
}

// The folder's own name ("a/b/" and "./b" give "b"), of at most 255 bytes.
static void folder_name(const char *dir, char out[256])
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && dir[start - 1] != '/')
        start--;
    if (start == len) start = 0, len = strlen(dir); // "/" itself
    snprintf(out, 256, "%.*s", (int)(len - start), dir + start);
}

static int make_settings(blip2_cap *c)
{
    const seize_blip2_gen *g = &c->o.gen;
    char cfg[65];
    int rc = config_sha(c->model_dir, cfg);
    if (rc < 0) return rc;
    char base[256];
    folder_name(c->model_dir, base);
    json_t *weights = json_object();
    c->settings = json_pack(
        "{s:s, s:{s:s, s:s, s:o}, s:s, s:I, s:b, s:f, s:I, s:f, s:I, s:I, s:s, s:o}", "kind",
        "blip2", "model", "name", base, "config_sha256", cfg, "weights", weights, "prompt",
        c->prompt, "n", (json_int_t)g->n, "greedy", g->greedy, "top_p", f2d(g->top_p), "top_k",
        (json_int_t)g->top_k, "temperature", f2d(g->temperature), "max_new_tokens",
        (json_int_t)g->max_new_tokens, "seed", (json_int_t)g->seed, "precision",
        seize_precision_name(c->o.precision), "force_ids_sha256", force_sha(c->o.force_ids));
    if (!c->settings) return seize_error(SEIZE_ENOMEM, "out of memory");
    if ((rc = weight_files(c->model_dir, weights)) < 0) return rc;
    if (c->o.command) json_object_set_new(c->settings, "command", json_string(c->o.command));
    char *text = json_dumps(c->settings, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) return seize_error(SEIZE_ENOMEM, "out of memory");
    pl_sha256_hex(text, strlen(text), c->hash);
    free(text);
    return 0;
}

// --- the state -----------------------------------------------------------------------------------

int seize_captioner_blip2_check(const seize_captioner_blip2_opts *o)
{
    const seize_blip2_gen *g = &o->gen;
    if (g->n < 1 || g->n > 1024) return seize_error(SEIZE_EINVAL, "-n %d: must be 1 to 1024", g->n);
    if (g->max_new_tokens < 1 || g->max_new_tokens > 4096)
        return seize_error(SEIZE_EINVAL, "--max-new-tokens %d: must be 1 to 4096",
                           g->max_new_tokens);
    if (!(g->temperature > 0) || isinf(g->temperature))
        return seize_error(SEIZE_EINVAL,
                           "--temperature %g: must be above 0 for sampling (--greedy takes the "
                           "most likely token)",
                           (double)g->temperature);
    if (!(g->top_p > 0 && g->top_p <= 1))
        return seize_error(SEIZE_EINVAL, "--top-p %g: must be above 0 and at most 1",
                           (double)g->top_p);
    if (g->top_k < 0)
        return seize_error(SEIZE_EINVAL, "--top-k %d: must be 0 (off) or more", g->top_k);
    if (o->precision != SEIZE_PRECISION_FP32 && o->precision != SEIZE_PRECISION_BF16)
        return seize_error(SEIZE_EINVAL,
                           "--precision %s: the native captioner runs in fp32 or bf16",
                           seize_precision_name(o->precision));
    if (o->batch < 0 || o->batch > 4096)
        return seize_error(SEIZE_EINVAL, "--batch %d: must be 1 to 4096", o->batch);
    return 0;
}

// The query tokens, BOS, the prompt and the new tokens fit the language model's positions.
static int check_positions(const blip2_cap *c)
{
    const seize_blip2_config *cfg = seize_blip2_model_get_config(c->m);
    long fixed = cfg->num_query_tokens + 1 + (long)c->n_prompt, steps = c->o.gen.max_new_tokens;
    if (fixed + steps <= cfg->max_positions) return 0;
    char room[96] = "the prompt alone is too long";
    if (fixed < cfg->max_positions)
        snprintf(room, sizeof room, "at most %ld new tokens with this prompt",
                 cfg->max_positions - fixed);
    return seize_error(SEIZE_EINVAL,
                       "'%s/config.json': the language model has %d positions "
                       "(max_position_embeddings), but %d query tokens + BOS + the prompt's %zu "
                       "tokens + --max-new-tokens %ld need %ld: %s",
                       c->model_dir, cfg->max_positions, cfg->num_query_tokens, c->n_prompt, steps,
                       fixed + steps, room);
}

// The forced ids are in the model's vocabulary (named by their index in the whole file).
static int check_force_ids(const blip2_cap *c)
{
    int vocab = seize_blip2_model_get_config(c->m)->vocab_size;
    for (size_t i = 0; i < c->n_force; i++)
        for (size_t k = 0; k < c->force_len[i]; k++)
            if (c->force[i][k] >= vocab)
                return seize_error(SEIZE_EINVAL,
                                   "force ids: sequence %zu, token %zu: id %d is outside the "
                                   "model's vocabulary (0 to %d)",
                                   i, k, (int)c->force[i][k], vocab - 1);
    return 0;
}

// (Re)opens the state for n sequences per image.
static int open_state(blip2_cap *c, size_t n)
{
    if (c->s && n <= c->s_samples) return 0;
    seize_blip2_free(c->s);
    c->s = NULL;
    seize_blip2_params p = {.threads = c->o.threads, .precision = c->o.precision};
    p.max_images = c->o.batch > 0 ? c->o.batch : 1;
    p.max_samples = (int)n;
    p.max_tokens = (int)(1 + c->n_prompt) + c->o.gen.max_new_tokens;
    int rc = seize_blip2_open(c->m, p, &c->s);
    c->s_samples = rc == 0 ? n : 0;
    c->s_batch = p.max_images;
    return rc;
}

// force_ids: an array of arrays of integers (ids are checked by the generation).
static int parse_force(blip2_cap *c, const json_t *f)
{
    if (!f) return 0;
    if (!json_is_array(f))
        return seize_error(SEIZE_EINVAL, "force ids: expected a JSON array of id arrays");
    c->n_force = json_array_size(f);
    c->force = seize_calloc(c->n_force + 1, sizeof *c->force);
    c->force_len = seize_calloc(c->n_force + 1, sizeof *c->force_len);
    if (!c->force || !c->force_len) return SEIZE_ENOMEM;
    for (size_t i = 0; i < c->n_force; i++) {
        const json_t *a = json_array_get(f, i);
        size_t n = json_array_size(a);
        if (!json_is_array(a))
            return seize_error(SEIZE_EINVAL, "force ids: sequence %zu is not an array", i);
        if (!(c->force[i] = seize_calloc(n + 1, sizeof **c->force))) return SEIZE_ENOMEM;
        for (size_t k = 0; k < n; k++) {
            const json_t *v = json_array_get(a, k);
            json_int_t id = json_integer_value(v);
            if (!json_is_integer(v) || id < 0 || id > INT32_MAX)
                return seize_error(SEIZE_EINVAL, "force ids: sequence %zu, token %zu is not an id",
                                   i, k);
            c->force[i][k] = (int32_t)id;
        }
        c->force_len[i] = n;
    }
    return 0;
}

static void destroy(void *self)
{
    blip2_cap *c = self;
    if (!c) return;
    seize_blip2_free(c->s);
    seize_blip2_model_free(c->m);
    for (size_t i = 0; c->force && i < c->n_force; i++)
        free(c->force[i]);
    free(c->force);
    free(c->force_len);
    json_decref(c->settings);
    free(c->model_dir), free(c->prompt), free(c->journal), free(c->dump_logits);
    free(c->force_file);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

// --- one call: checks ----------------------------------------------------------------------------

// Missing files are summarised in one error; FIFOs, devices and folders stop the call. Images
// that do not decode fail alone later (seize_blip2_load_pixels names them).
static int scan_images(const seize_caption_job *job)
{
    size_t n_missing = 0;
    char first[600] = "";
    for (size_t i = 0; i < job->n; i++) {
        struct stat st;
        if (stat(job->images[i], &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
            size_t l = strlen(first);
            if (n_missing++ < 3)
                snprintf(first + l, sizeof first - l, "%s'%s'", l ? ", " : "", job->images[i]);
            continue;
        }
        int fd = seize_open_regular(job->images[i], NULL);
        if (fd < 0) return fd;
        close(fd);
    }
    if (!n_missing) return 0;
    if (job->image_dir)
        return seize_error(SEIZE_ENOTFOUND,
                           "%zu of %zu reference images are missing from '%s' (first: %s%s); "
                           "nothing was captioned",
                           n_missing, job->n, job->image_dir, first, n_missing > 3 ? ", ..." : "");
    return seize_error(SEIZE_ENOTFOUND,
                       "%zu of %zu images are missing (first: %s%s); nothing was captioned",
                       n_missing, job->n, first, n_missing > 3 ? ", ..." : "");
}

// The journal check of an image: the settings, n, the path, the file's size and mtime.
static void check_of(const b2_call *k, const char *path, char hex[65])
{
    struct stat st;
    memset(&st, 0, sizeof st);
    stat(path, &st);
    seize_buf b = {0};
    seize_buf_printf(&b, "%s%c%zu%c%s%c%lld%c%lld.%09ld", k->c->hash, 0, k->n, 0, path, 0,
                     (long long)st.st_size, 0, (long long)st.st_mtim.tv_sec,
                     (long)st.st_mtim.tv_nsec);
    pl_sha256_hex(b.data, b.len, hex);
    seize_buf_free(&b);
}

// Lines by check (a path's lines of other settings stay apart; the last of each check wins).
static void on_replay(void *ctx, json_t *line)
{
    json_t *map = ctx;
    const char *check = json_string_value(json_object_get(line, "check"));
    if (check && json_is_string(json_object_get(line, "key"))) json_object_set(map, check, line);
}

// Item i from a journal line of the same check: 1 taken, 0 not there.
static int from_journal(b2_call *k, size_t i)
{
    const char *path = k->job->images[i];
    char check[65];
    check_of(k, path, check);
    json_t *line = k->replay ? json_object_get(k->replay, check) : NULL;
    if (!line || strcmp(json_string_value(json_object_get(line, "key")), path)) return 0;
    json_t *caps = json_object_get(line, "captions"), *toks = json_object_get(line, "tokens");
    size_t n = json_array_size(caps);
    if (n != k->n || json_array_size(toks) != n) return 0;
    seize_stage_item *it = &k->items[i];
    if (!(it->texts = seize_calloc(n, sizeof *it->texts))) return SEIZE_ENOMEM;
    for (size_t j = 0; j < n; j++) {
        const char *t = json_string_value(json_array_get(caps, j));
        if (!(it->texts[j] = seize_strdup(t ? t : ""))) return SEIZE_ENOMEM;
        it->n_texts = j + 1;
    }
    it->extra = json_pack("{s:O}", "tokens", toks);
    return it->extra ? 1 : SEIZE_ENOMEM;
}

// --- one call: generation ------------------------------------------------------------------------

// Item i from the generated caption, and its journal line.
static int take(b2_call *k, size_t i, const seize_blip2_caption *cap)
{
    seize_stage_item *it = &k->items[i];
    json_t *caps = json_array(), *toks = json_array();
    it->texts = seize_calloc(cap->n + 1, sizeof *it->texts);
    int rc = caps && toks && it->texts ? 0 : SEIZE_ENOMEM;
    for (size_t j = 0; rc == 0 && j < cap->n; j++) {
        json_t *t = json_array();
        for (size_t q = 0; t && q < cap->n_tokens[j]; q++)
            json_array_append_new(t, json_integer(cap->tokens[j][q]));
        json_array_append_new(toks, t);
        json_array_append_new(caps, json_string(cap->captions[j]));
        if (!t || !(it->texts[j] = seize_strdup(cap->captions[j]))) rc = SEIZE_ENOMEM;
        it->n_texts = j + 1;
        k->c->last.completion_tokens += (int64_t)cap->n_tokens[j];
    }
    if (rc == 0 && !(it->extra = json_pack("{s:O}", "tokens", toks))) rc = SEIZE_ENOMEM;
    if (rc == 0 && k->jr) {
        char check[65];
        check_of(k, k->job->images[i], check);
        json_t *line = json_pack("{s:s, s:s, s:O, s:O}", "key", k->job->images[i], "check", check,
                                 "captions", caps, "tokens", toks);
        rc = line ? seize_journal_add(k->jr, line) : SEIZE_ENOMEM;
        json_decref(line);
    }
    json_decref(caps);
    json_decref(toks);
    return rc < 0 ? seize_error(rc, "%s", rc == SEIZE_ENOMEM ? "out of memory" : seize_errmsg())
                  : 0;
}

// Generates for nb loaded images (pixels of idx[0..nb) in pix) and takes their items.
static int run_batch(b2_call *k, const size_t *idx, size_t nb, const float *pix)
{
    blip2_cap *c = k->c;
    size_t n = k->n, steps = (size_t)c->o.gen.max_new_tokens, rows = nb * n;
    seize_blip2_gen g = c->o.gen;
    g.n = (int)n, g.cancel = k->job->cancel;
    const int32_t **fi = c->force ? seize_calloc(rows, sizeof *fi) : NULL;
    size_t *fl = c->force ? seize_calloc(rows, sizeof *fl) : NULL;
    float *lg = k->logits ? seize_calloc(rows * steps * k->vocab, sizeof *lg) : NULL;
    seize_blip2_caption *out = seize_calloc(nb, sizeof *out);
    int rc = out && (!c->force || (fi && fl)) && (!k->logits || lg) ? 0 : SEIZE_ENOMEM;
    for (size_t r = 0; rc == 0 && fi && r < rows; r++)
        fi[r] = c->force[idx[r / n] * n + r % n], fl[r] = c->force_len[idx[r / n] * n + r % n];
    g.force_ids = fi, g.force_len = fl, g.logits = lg;
    if (rc == 0) rc = seize_blip2_generate(c->s, pix, nb, &g, out);
    c->last.requests += rc == 0, c->last.replies_ok += rc == 0;
    for (size_t b = 0; rc == 0 && b < nb; b++) {
        rc = take(k, idx[b], &out[b]);
        if (lg) {
            size_t row = steps * k->vocab * n;
            memcpy(k->logits + idx[b] * row, lg + b * row, row * sizeof *lg);
        }
    }
    if (out) seize_blip2_caption_release(out, nb);
    free(out), free(fi), free(fl), free(lg);
    if (rc == 0) c->last.items_done += nb;
    if (rc == 0 && k->jr) rc = seize_journal_sync(k->jr);
    return rc;
}

static void progress(b2_call *k)
{
    const seize_llm_stats *st = &k->c->last;
    seize_stage_progress p = {st->items, st->items_done, st->items_from_journal, st->items_failed,
                              st->items_failed};
    if (k->job->on_progress) k->job->on_progress(k->job->progress_user, &p);
}

// Loads image i into pix; a file that does not decode fails alone (1), else 0 or an error.
static int load_one(b2_call *k, size_t i, float *pix)
{
    int rc = seize_blip2_load_pixels(k->c->m, k->job->images[i], pix);
    if (rc == 0 || rc == SEIZE_ENOMEM) return rc;
    seize_stage_item *it = &k->items[i];
    it->retryable = 0;
    if (!(it->error = seize_strdup(seize_errmsg()))) return SEIZE_ENOMEM;
    k->c->last.items_failed++;
    return 1;
}

// Every image of the call: from the journal, else in batches of o.batch.
static int caption_all(b2_call *k)
{
    blip2_cap *c = k->c;
    const seize_blip2_config *cfg = seize_blip2_model_get_config(c->m);
    size_t px = 3 * (size_t)cfg->image_size * (size_t)cfg->image_size, bmax = (size_t)c->s_batch;
    float *pix = seize_malloc(bmax * px, sizeof *pix);
    size_t *idx = seize_calloc(bmax, sizeof *idx), nb = 0;
    int rc = pix && idx ? 0 : SEIZE_ENOMEM;
    progress(k);
    for (size_t i = 0; rc == 0 && i <= k->job->n; i++) {
        if (i < k->job->n) {
            int got = k->logits ? 0 : from_journal(k, i);
            if (got > 0) c->last.items_done++, c->last.items_from_journal++;
            if (got == 0 && (got = load_one(k, i, pix + nb * px)) == 0) idx[nb++] = i;
            if (got == 1) progress(k);
            if ((rc = got < 0 ? got : 0) < 0 || (nb < bmax && i + 1 < k->job->n)) continue;
        }
        if (nb && seize_cancel_level(k->job->cancel)) rc = seize_error(SEIZE_ECANCEL, "cancelled");
        if (rc == 0 && nb) rc = run_batch(k, idx, nb, pix);
        if (rc == 0 && nb) progress(k);
        nb = 0;
    }
    free(pix);
    free(idx);
    return rc;
}

// --- the interface -------------------------------------------------------------------------------

static int open_journal(b2_call *k)
{
    if (!k->c->journal) return 0;
    if (!(k->replay = json_object())) return seize_error(SEIZE_ENOMEM, "out of memory");
    int rc = seize_journal_open(k->c->journal, on_replay, k->replay, &k->jr);
    if (k->c->dump_logits) { // every image computed: the dump needs its logits
        json_decref(k->replay);
        k->replay = NULL;
    }
    return rc;
}

static int dump_alloc(b2_call *k)
{
    if (!k->c->dump_logits) return 0;
    k->vocab = (size_t)seize_blip2_model_get_config(k->c->m)->vocab_size;
    size_t count = k->job->n * k->n * (size_t)k->c->o.gen.max_new_tokens * k->vocab;
    if (!(k->logits = seize_malloc(count ? count : 1, sizeof *k->logits))) return SEIZE_ENOMEM;
    for (size_t i = 0; i < count; i++)
        k->logits[i] = NAN;
    return 0;
}

static int dump_save(b2_call *k)
{
    size_t shape[3] = {k->job->n * k->n, (size_t)k->c->o.gen.max_new_tokens, k->vocab};
    return seize_npy_save(k->c->dump_logits, SEIZE_F32, 3, shape, k->logits);
}

// The dump can be written (checked before the work: it is written at the end).
static int check_dump_path(const char *path)
{
    if (!path) return 0;
    const char *slash = strrchr(path, '/');
    char dir[4096];
    int len = !slash ? 1 : slash == path ? 1 : (int)(slash - path); // "/x": "/"
    snprintf(dir, sizeof dir, "%.*s", len, slash ? path : ".");
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return seize_error(SEIZE_EINVAL, "logits dump '%s' is a folder", path);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return seize_error(SEIZE_ENOTFOUND, "logits dump '%s': no folder '%s'", path, dir);
    if (access(dir, W_OK) != 0)
        return seize_error(SEIZE_EIO, "logits dump '%s': cannot write in '%s' (%s)", path, dir,
                           strerror(errno));
    return 0;
}

static int call_checks(b2_call *k)
{
    const blip2_cap *c = k->c;
    if (k->n < 1 || k->n > 1024) return seize_error(SEIZE_EINVAL, "n_captions must be 1 to 1024");
    int rc = scan_images(k->job);
    if (rc == 0) rc = check_dump_path(c->dump_logits);
    if (rc == 0 && c->force && c->n_force != k->job->n * k->n) {
        rc = seize_error(SEIZE_EINVAL,
                         "force ids: %zu sequences given, but the call has %zu (%zu images x "
                         "n %zu)",
                         c->n_force, k->job->n * k->n, k->job->n, k->n);
        if (c->force_file) seize_error_prefix(rc, "'%s'", c->force_file);
    }
    if (rc == 0 && seize_cancel_level(k->job->cancel))
        rc = seize_error(SEIZE_ECANCEL, "cancelled; nothing was captioned");
    return rc;
}

static int b2_caption(void *self, const seize_caption_job *job, seize_stage_item *items)
{
    blip2_cap *c = self;
    pthread_mutex_lock(&c->mu);
    memset(&c->last, 0, sizeof c->last);
    c->last.items = job->n;
    c->last.native = 1;
    b2_call k = {c, job, items, job->n_captions};
    double t0 = seize_now();
    int rc = call_checks(&k);
    if (rc == 0) rc = open_state(c, k.n);
    if (rc == 0) rc = open_journal(&k);
    if (rc == 0) rc = dump_alloc(&k);
    if (rc == 0) rc = caption_all(&k);
    if (rc == 0 && c->last.items_failed) rc = SEIZE_ENET;
    if ((rc == 0 || rc == SEIZE_ENET) && k.logits) {
        int drc = dump_save(&k);
        rc = drc < 0 ? drc : rc;
    }
    int jrc = seize_journal_close(k.jr);
    if (rc == 0 && jrc < 0) rc = jrc;
    c->last.seconds = seize_now() - t0;
    json_decref(k.replay);
    free(k.logits);
    // A call for more samples than the captioner's own n (seize serve's num_captions) does not
    // keep its larger state (its KV cache grows with n): the next call reopens the usual one.
    if (c->s_samples > (size_t)c->o.gen.n) {
        seize_blip2_free(c->s);
        c->s = NULL;
        c->s_samples = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int b2_settings(void *self, json_t **out, char hash[65])
{
    blip2_cap *c = self;
    if (hash) memcpy(hash, c->hash, 65);
    if (out && !(*out = json_deep_copy(c->settings)))
        return seize_error(SEIZE_ENOMEM, "out of memory");
    return 0;
}

static const seize_captioner_methods blip2_methods = {"blip2", b2_caption, b2_settings, destroy};

static int dup_opt(const char *s, char **out)
{
    *out = NULL;
    if (s && !(*out = seize_strdup(s))) return seize_error(SEIZE_ENOMEM, "out of memory");
    return 0;
}

// The prompt's token count (the state's token limit).
static int prompt_tokens(blip2_cap *c)
{
    int32_t *ids = NULL;
    int rc = seize_bpe_encode(seize_blip2_model_tokenizer(c->m), c->prompt, strlen(c->prompt), &ids,
                              &c->n_prompt);
    free(ids);
    return rc;
}

int seize_captioner_blip2_new(const seize_captioner_blip2_opts *o, seize_captioner **out)
{
    *out = NULL;
    blip2_cap *c = seize_calloc(1, sizeof *c);
    seize_captioner *cc = seize_calloc(1, sizeof *cc);
    if (!c || !cc) {
        free(c), free(cc);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&c->mu, NULL);
    cc->methods = &blip2_methods, cc->self = c;
    c->o = *o;
    int rc = o->model_dir ? 0 : seize_error(SEIZE_EINVAL, "no model folder");
    if (rc == 0) rc = dup_opt(o->model_dir, &c->model_dir);
    if (rc == 0) rc = dup_opt(o->gen.prompt ? o->gen.prompt : DEFAULT_PROMPT, &c->prompt);
    if (rc == 0) rc = dup_opt(o->journal, &c->journal);
    if (rc == 0) rc = dup_opt(o->dump_logits, &c->dump_logits);
    if (rc == 0 && !o->force_ids) rc = dup_opt(o->force_ids_file, &c->force_file);
    c->o.gen.prompt = c->prompt, c->o.model_dir = c->model_dir;
    c->o.gen.force_ids = NULL, c->o.gen.force_len = NULL, c->o.gen.logits = NULL;
    c->o.gen.trace = NULL, c->o.gen.cancel = NULL, c->o.force_ids = NULL;
    c->o.journal = c->journal, c->o.dump_logits = c->dump_logits, c->o.command = NULL;
    json_t *fj = NULL;
    if (rc == 0) rc = seize_captioner_blip2_check(o);
    if (rc == 0 && o->force_ids_file && !o->force_ids) rc = seize_json_load(o->force_ids_file, &fj);
    const json_t *force = o->force_ids ? o->force_ids : fj;
    if (rc == 0 && (rc = parse_force(c, force)) < 0 && fj)
        seize_error_prefix(rc, "'%s'", o->force_ids_file);
    if (rc == 0) rc = seize_blip2_model_load(c->model_dir, &c->m);
    if (rc == 0 && (rc = check_force_ids(c)) < 0 && fj)
        seize_error_prefix(rc, "'%s'", o->force_ids_file);
    if (rc == 0) rc = prompt_tokens(c);
    if (rc == 0) rc = check_positions(c);
    if (rc == 0) rc = open_state(c, (size_t)o->gen.n);
    c->o.command = o->command, c->o.force_ids = force;
    if (rc == 0) rc = make_settings(c);
    c->o.command = NULL, c->o.force_ids = NULL, c->o.force_ids_file = NULL;
    json_decref(fj);
    if (rc < 0) {
        seize_captioner_free(cc);
        return rc;
    }
    *out = cc;
    return 0;
}

void seize_captioner_blip2_stats(const seize_captioner *c, seize_llm_stats *out)
{
    memset(out, 0, sizeof *out);
    if (c && c->methods == &blip2_methods) *out = ((const blip2_cap *)c->self)->last;
}

const seize_blip2_config *seize_captioner_blip2_config(const seize_captioner *c)
{
    return c && c->methods == &blip2_methods
               ? seize_blip2_model_get_config(((const blip2_cap *)c->self)->m)
               : NULL;
}
