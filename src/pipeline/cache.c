// The stage cache of a run folder (.seize-cache.json): keys of what each stage depends on,
// pending and settings entries for resumption, what produced each output, the model's hash.
#include "run_int.h"

#include "seize/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void pl_key_str(seize_sha256 *h, const char *s)
{
    if (!s) s = "\x01(null)";
    uint64_t n = strlen(s);
    seize_sha256_update(h, &n, sizeof n);
    seize_sha256_update(h, s, n);
}

void pl_key_num(seize_sha256 *h, double v)
{
    char b[64];
    snprintf(b, sizeof b, "%.17g", v);
    pl_key_str(h, b);
}

int pl_key_file(seize_sha256 *h, const char *path, int content)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        pl_key_str(h, "missing");
        pl_key_str(h, path);
        return 0;
    }
    if (content) {
        uint8_t d[32];
        int rc = seize_sha256_file(path, d);
        if (rc < 0) return rc;
        seize_sha256_update(h, d, 32);
    } else {
        pl_key_str(h, path);
        pl_key_num(h, (double)st.st_size);
        pl_key_num(h, (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec);
    }
    return 0;
}

char *pl_key_final(seize_sha256 *h)
{
    uint8_t d[32];
    char hex[65];
    seize_sha256_final(h, d);
    seize_sha256_hex(d, hex);
    return pl_fmt("%s", hex);
}

int pl_save_cache(pl_run *r)
{
    char *p = pl_join(r->o.out_dir, ".seize-cache.json");
    int rc = seize_json_save(p, r->cache, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    free(p);
    return rc;
}

void pl_load_cache(pl_run *r)
{
    char *cp = pl_join(r->o.out_dir, ".seize-cache.json");
    if (!seize_path_exists(cp) || seize_json_load(cp, &r->cache) < 0 || !json_is_object(r->cache)) {
        json_decref(r->cache);
        r->cache = json_object();
    }
    free(cp);
}

int pl_cached(pl_run *r, const char *stage, const char *key, const char *const *outputs)
{
    json_t *k = json_object_get(r->cache, stage);
    if (!json_is_string(k) || strcmp(json_string_value(k), key) != 0) return 0;
    for (; *outputs; outputs++)
        if (!seize_path_exists(*outputs)) return 0;
    return 1;
}

// The LLM stages pass their settings only: their journals check each item's input, so a
// changed or added query keeps the answers of the others, while another model or prompt
// discards them.
int pl_begin_stage(pl_run *r, const char *stage, const char *key, const char *settings, int *fresh)
{
    if (!settings) settings = key;
    if (access(r->o.out_dir, W_OK) != 0)
        return seize_error(
            SEIZE_EIO,
            "run folder '%s' is not writable (%s), and stage %s must run (its inputs or "
            "settings are not those of its outputs there); make it writable or give "
            "another --out",
            r->o.user_out ? r->o.user_out : r->o.out_dir, strerror(errno), stage);
    const char *slash = strrchr(stage, '/'); // "job/stage"
    snprintf(r->at_job, sizeof r->at_job, "%.*s", slash ? (int)(slash - stage) : 0, stage);
    snprintf(r->at_stage, sizeof r->at_stage, "%s", slash ? slash + 1 : stage);
    char *sk = pl_fmt("%s@settings", stage), *pk = pl_fmt("%s@pending", stage);
    json_t *old = json_object_get(r->cache, sk);
    *fresh = r->o.restart || (json_is_string(old) && strcmp(json_string_value(old), settings) != 0);
    json_object_del(r->cache, stage);
    json_object_set_new(r->cache, pk, json_string(key));
    json_object_set_new(r->cache, sk, json_string(settings));
    free(sk);
    free(pk);
    r->wrote = 1;
    return pl_save_cache(r);
}

int pl_record_key(pl_run *r, const char *stage, const char *key, json_t *by)
{
    char *pk = pl_fmt("%s@pending", stage);
    json_object_del(r->cache, pk);
    free(pk);
    json_object_set_new(r->cache, stage, json_string(key));
    json_t *all = json_object_get(r->cache, "produced_by");
    if (!json_is_object(all)) {
        all = json_object();
        json_object_set_new(r->cache, "produced_by", all);
    }
    if (by)
        json_object_set_new(all, stage, by);
    else
        json_object_del(all, stage);
    r->wrote = 1;
    return pl_save_cache(r);
}

int pl_model_hash(pl_run *r)
{
    if (r->model_sha[0]) return 0;
    seize_clip_model *m;
    int rc = seize_clip_model_load(r->o.model_dir, &m);
    if (rc < 0) return rc;
    char *w = pl_fmt("%s", seize_clip_model_weights_path(m));
    seize_clip_model_free(m);
    struct stat st;
    if (stat(w, &st) != 0) {
        free(w);
        return seize_error(SEIZE_EIO, "cannot stat the model weights");
    }
    char *id = pl_fmt("%s|%lld|%lld.%09ld", w, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                      st.st_mtim.tv_nsec);
    json_t *c = json_object_get(r->cache, "model");
    if (json_is_object(c) && json_is_string(json_object_get(c, "id")) &&
        !strcmp(json_string_value(json_object_get(c, "id")), id) &&
        json_is_string(json_object_get(c, "sha256"))) {
        snprintf(r->model_sha, sizeof r->model_sha, "%s",
                 json_string_value(json_object_get(c, "sha256")));
    } else {
        uint8_t d[32];
        if ((rc = seize_sha256_file(w, d)) < 0) {
            free(w);
            free(id);
            return rc;
        }
        seize_sha256_hex(d, r->model_sha);
        json_object_set_new(r->cache, "model",
                            json_pack("{s:s, s:s}", "id", id, "sha256", r->model_sha));
        rc = pl_save_cache(r);
    }
    free(w);
    free(id);
    return rc;
}

char *pl_redact_url(const char *s)
{
    if (!s) return NULL;
    const char *p = strstr(s, "://");
    if (!p) return pl_fmt("%s", s);
    const char *host = p + 3, *end = host + strcspn(host, "/?#"), *at = NULL;
    for (const char *q = host; q < end; q++)
        if (*q == '@') at = q;
    if (!at) return pl_fmt("%s", s);
    return pl_fmt("%.*s***%s", (int)(host - s), s, at);
}

json_t *pl_json_url(const char *s)
{
    if (!s) return json_null();
    char *t = pl_redact_url(s);
    json_t *v = json_string(t);
    free(t);
    return v ? v : json_null();
}

json_t *pl_producer(const char *out, json_t *passed)
{
    char *side = pl_fmt("%s.settings.json", out);
    json_t *v = NULL;
    if (seize_path_exists(side) && seize_json_load(side, &v) == 0 && json_is_object(v)) {
        json_object_set_new(v, "passed_by_run", passed);
        passed = NULL;
    } else {
        json_decref(v);
        v = passed;
    }
    free(side);
    return v;
}
