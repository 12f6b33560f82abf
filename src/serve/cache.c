// The captions/edits cache of seize serve: an in-memory LRU map from a key to a list of texts,
// and a captioner and a reasoner (the stage interfaces of pipeline.h) that answer from it what
// it holds and pass the rest to the worker's own, storing their answers. Keys:
//   captions  "c:<image sha256>:<captioner settings hash>:<n captions>"
//   edits     "e:<sha256 of reasoner settings hash, caption and relative text>"
// so a repeated query asks nothing, and a refined one (same image, other text) only edits.
// With a file, every entry stored is appended to it as a line {"k": key, "t": [texts]}, and
// the file is read back when the cache is made (a torn last line is skipped), so answers
// outlive a restart; a file grown past twice the bound in lines is rewritten with the entries
// kept (at start and while serving), so it stays within about twice the cache.
#include "serve_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct entry {
    char *key;
    char **texts;
    size_t n;
    struct entry *hnext;       // hash chain
    struct entry *prev, *next; // LRU list, most recent first
} entry;

struct srv_cache {
    pthread_mutex_t mu;
    FILE *fp;     // the file entries are appended to, or NULL
    char *path;   // its path
    size_t lines; // lines in it (entries read or written since it was last rewritten)
    entry **buckets;
    size_t n_buckets, count, max;
    entry *head, *tail;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; // FNV-1a
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static void insert(srv_cache *c, const char *key, char *const *texts, size_t n);
static int load(srv_cache *c);

int srv_cache_new(size_t max_entries, const char *path, srv_cache **out)
{
    srv_cache *c = calloc(1, sizeof *c);
    if (!c) return seize_error(SEIZE_ENOMEM, "out of memory");
    c->max = max_entries ? max_entries : 1;
    c->n_buckets = 1;
    while (c->n_buckets < c->max)
        c->n_buckets <<= 1;
    c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&c->mu, NULL);
    if (path && (!(c->path = strdup(path)) || load(c) < 0)) {
        int rc = c->path ? SEIZE_EIO : seize_error(SEIZE_ENOMEM, "out of memory");
        srv_cache_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void entry_free(entry *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->texts[i]);
    free(e->texts);
    free(e->key);
    free(e);
}

void srv_cache_free(srv_cache *c)
{
    if (!c) return;
    for (entry *e = c->head, *nx; e; e = nx) {
        nx = e->next;
        entry_free(e);
    }
    free(c->buckets);
    if (c->fp) fclose(c->fp);
    free(c->path);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static entry **find(srv_cache *c, const char *key)
{
    entry **p = &c->buckets[hash_str(key) & (c->n_buckets - 1)];
    while (*p && strcmp((*p)->key, key))
        p = &(*p)->hnext;
    return p;
}

static void unlink_lru(srv_cache *c, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(srv_cache *c, entry *e)
{
    e->next = c->head, e->prev = NULL;
    if (c->head) c->head->prev = e;
    c->head = e;
    if (!c->tail) c->tail = e;
}

static char **copy_texts(char *const *texts, size_t n)
{
    char **v = calloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        if (!(v[i] = strdup(texts[i]))) {
            while (i--)
                free(v[i]);
            free(v);
            return NULL;
        }
    return v;
}

int srv_cache_get(srv_cache *c, const char *key, char ***texts, size_t *n)
{
    pthread_mutex_lock(&c->mu);
    entry *e = *find(c, key);
    char **v = e ? copy_texts(e->texts, e->n) : NULL;
    if (v) {
        unlink_lru(c, e);
        push_front(c, e);
        *texts = v, *n = e->n;
    }
    pthread_mutex_unlock(&c->mu);
    return v != NULL;
}

// Stores a copy (under c->mu): the entry replaces one of the same key, the least recently used
// goes when the cache is full.
static void insert(srv_cache *c, const char *key, char *const *texts, size_t n)
{
    entry *e = calloc(1, sizeof *e);
    if (!e || !(e->key = strdup(key)) || !(e->texts = copy_texts(texts, n))) {
        if (e) free(e->key), free(e);
        return; // out of memory: not cached
    }
    e->n = n;
    entry **p = find(c, key);
    if (*p) { // replace
        entry *old = *p;
        *p = old->hnext;
        unlink_lru(c, old);
        entry_free(old);
        c->count--;
    }
    *find(c, key) = e;
    push_front(c, e);
    if (++c->count > c->max) { // evict the least recently used
        entry *t = c->tail;
        entry **q = find(c, t->key);
        *q = t->hnext;
        unlink_lru(c, t);
        entry_free(t);
        c->count--;
    }
}

static int write_line(FILE *fp, const char *key, char *const *texts, size_t n)
{
    json_t *t = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(t, json_string(texts[i]));
    json_t *line = json_pack("{s:s,s:o}", "k", key, "t", t);
    char *s = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    int ok = s && fprintf(fp, "%s\n", s) > 0;
    free(s);
    return ok ? 0 : -1;
}

// Rewrites the file with the entries kept, least recently used first (a failure leaves the
// file as it was, only longer), and opens it for appending.
static int compact(srv_cache *c)
{
    if (c->fp) fclose(c->fp), c->fp = NULL;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", c->path);
    FILE *fp = fopen(tmp, "w");
    int ok = fp != NULL;
    for (entry *e = c->tail; ok && e; e = e->prev)
        ok = write_line(fp, e->key, e->texts, e->n) == 0;
    if (fp && fclose(fp) != 0) ok = 0;
    if (!ok || rename(tmp, c->path) < 0) unlink(tmp);
    c->lines = c->count; // (after a failure: tried again once as many more are written)
    if (!(c->fp = fopen(c->path, "a")))
        return seize_error(SEIZE_EIO, "cannot open the cache file '%s': %s", c->path,
                           strerror(errno));
    return 0;
}

// Reads the file's entries, rewrites it when it has grown past twice the bound, opens it for
// appending.
static int load(srv_cache *c)
{
    char *text = NULL;
    size_t len = 0;
    if (access(c->path, F_OK) == 0 && seize_read_file(c->path, &text, &len) < 0) return SEIZE_EIO;
    for (char *p = text; p && p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        json_t *j = json_loadb(p, n, 0, NULL), *t = json_object_get(j, "t");
        const char *key = json_string_value(json_object_get(j, "k"));
        char *v[SRV_MAX_CAPTIONS];
        size_t m = json_array_size(t), k = 0;
        for (; key && m <= SRV_MAX_CAPTIONS && k < m && json_is_string(json_array_get(t, k)); k++)
            v[k] = (char *)json_string_value(json_array_get(t, k));
        if (key && m && k == m) insert(c, key, v, m), c->lines++;
        json_decref(j);
        p += n + 1;
    }
    free(text);
    if (c->lines > 2 * c->max) return compact(c);
    if (!(c->fp = fopen(c->path, "a")))
        return seize_error(SEIZE_EIO, "cannot open the cache file '%s': %s", c->path,
                           strerror(errno));
    return 0;
}

void srv_cache_put(srv_cache *c, const char *key, char *const *texts, size_t n)
{
    pthread_mutex_lock(&c->mu);
    insert(c, key, texts, n);
    if (c->fp && write_line(c->fp, key, texts, n) == 0) fflush(c->fp), c->lines++;
    if (c->fp && c->lines > 2 * c->max) compact(c); // (a failure: no file, the cache works on)
    pthread_mutex_unlock(&c->mu);
}

// --- the wrappers ----------------------------------------------------------------------------

static void count_llm(srv_llm_wrap *w, int stage)
{
    seize_llm_stats st = {0};
    if (stage == 0)
        seize_captioner_openai_stats(w->cap, &st);
    else
        seize_reasoner_openai_stats(w->rsn, &st);
    srv_metrics_llm(w->m, stage, st.requests, st.requests - st.replies_ok);
}

static int wrap_caption(void *self, const seize_caption_job *job, seize_stage_item *items)
{
    srv_llm_wrap *w = self;
    char key[200];
    snprintf(key, sizeof key, "c:%s:%s:%zu", w->image_sha, w->cap_hash, job->n_captions);
    if (job->n == 1 && w->image_sha &&
        srv_cache_get(w->cache, key, &items[0].texts, &items[0].n_texts)) {
        w->hits++;
        srv_metrics_cache(w->m, 1, 0);
        return 0;
    }
    srv_metrics_cache(w->m, 0, job->n);
    w->misses += job->n, w->asked = 1;
    int rc = seize_captioner_caption(w->cap, job, items);
    count_llm(w, 0);
    if (job->n == 1 && w->image_sha && items[0].texts && items[0].n_texts == job->n_captions)
        srv_cache_put(w->cache, key, items[0].texts, items[0].n_texts);
    return rc;
}

static void edit_key(const srv_llm_wrap *w, const char *caption, const char *text, char key[70])
{
    seize_sha256 h;
    uint8_t d[32];
    seize_sha256_init(&h);
    seize_sha256_update(&h, w->rsn_hash, strlen(w->rsn_hash) + 1);
    seize_sha256_update(&h, caption, strlen(caption) + 1);
    seize_sha256_update(&h, text, strlen(text));
    seize_sha256_final(&h, d);
    key[0] = 'e', key[1] = ':';
    seize_sha256_hex(d, key + 2);
}

// Progress of the pairs asked, as progress of the whole job (the cached ones are done).
typedef struct sub_progress {
    const seize_reason_job *job;
    size_t hits;
} sub_progress;

static void on_sub_progress(void *user, const seize_stage_progress *p)
{
    sub_progress *sp = user;
    seize_stage_progress q = *p;
    q.total += sp->hits, q.done += sp->hits, q.done_before += sp->hits;
    sp->job->on_progress(sp->job->progress_user, &q);
}

static int ask_edits(srv_llm_wrap *w, const seize_reason_job *job, seize_stage_item *items,
                     size_t *miss, size_t n_miss)
{
    const char **caps = calloc(n_miss, sizeof *caps), **texts = calloc(n_miss, sizeof *texts);
    seize_stage_item *sub = calloc(n_miss, sizeof *sub);
    if (!caps || !texts || !sub) {
        free(caps), free(texts), free(sub);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    for (size_t j = 0; j < n_miss; j++)
        caps[j] = job->captions[miss[j]], texts[j] = job->texts[miss[j]];
    sub_progress sp = {job, job->n - n_miss};
    seize_reason_job sj = {
        caps, texts, NULL, n_miss, job->on_progress ? on_sub_progress : NULL, &sp, job->cancel};
    w->asked = 1;
    int rc = seize_reasoner_reason(w->rsn, &sj, sub);
    count_llm(w, 1);
    for (size_t j = 0; j < n_miss; j++) {
        items[miss[j]] = sub[j];
        if (sub[j].texts && sub[j].n_texts == 1) {
            char key[70];
            edit_key(w, caps[j], texts[j], key);
            srv_cache_put(w->cache, key, sub[j].texts, 1);
        }
    }
    free(caps), free(texts), free(sub);
    return rc;
}

static int wrap_reason(void *self, const seize_reason_job *job, seize_stage_item *items)
{
    srv_llm_wrap *w = self;
    size_t *miss = calloc(job->n ? job->n : 1, sizeof *miss), n_miss = 0;
    if (!miss) return seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t i = 0; i < job->n; i++) {
        char key[70];
        edit_key(w, job->captions[i], job->texts[i], key);
        if (!srv_cache_get(w->cache, key, &items[i].texts, &items[i].n_texts)) miss[n_miss++] = i;
    }
    w->hits += job->n - n_miss, w->misses += n_miss;
    srv_metrics_cache(w->m, job->n - n_miss, n_miss);
    int rc = 0;
    if (n_miss)
        rc = ask_edits(w, job, items, miss, n_miss);
    else if (job->on_progress) {
        seize_stage_progress p = {job->n, job->n, job->n, 0, 0};
        job->on_progress(job->progress_user, &p);
    }
    free(miss);
    return rc;
}

static int wrap_cap_settings(void *self, struct json_t **out, char hash[65])
{
    return seize_captioner_settings(((srv_llm_wrap *)self)->cap, out, hash);
}

static int wrap_rsn_settings(void *self, struct json_t **out, char hash[65])
{
    return seize_reasoner_settings(((srv_llm_wrap *)self)->rsn, out, hash);
}

static void wrap_destroy(void *self) {}

static const seize_captioner_methods wcap_methods = {"serve-cache", wrap_caption, wrap_cap_settings,
                                                     wrap_destroy};
static const seize_reasoner_methods wrsn_methods = {"serve-cache", wrap_reason, wrap_rsn_settings,
                                                    wrap_destroy};

void srv_llm_wrap_init(srv_llm_wrap *w)
{
    w->wcap = (seize_captioner){&wcap_methods, w};
    w->wrsn = (seize_reasoner){&wrsn_methods, w};
}
