// Caption files: the authors' annotation-with-captions JSON and our JSON Lines.
#include "seize/data.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void seize_captions_free(seize_captions *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) {
        if (c->ids) free(c->ids[i]);
        if (c->captions) seize_strv_free(c->captions[i], c->n_captions[i]);
        if (c->edits) seize_strv_free(c->edits[i], c->n_edits[i]);
    }
    free(c->ids);
    free(c->captions);
    free(c->n_captions);
    free(c->edits);
    free(c->n_edits);
    free(c);
}

static int string_list(json_t *v, const char *key, const char *path, size_t i, char ***out,
                       size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v)) return 0;
    for (size_t t = 0; json_is_string(v) ? t < 1 : t < json_array_size(v); t++) {
        json_t *item = json_is_string(v) ? v : json_array_get(v, t);
        if (json_is_string(item) && json_string_length(item) > SEIZE_MAX_CAPTION_BYTES)
            return seize_error(SEIZE_EFORMAT,
                               "'%s': query %zu: a '%s' item is %zu bytes long (at most %zu: a "
                               "caption is a sentence)",
                               path, i, key, json_string_length(item), SEIZE_MAX_CAPTION_BYTES);
    }
    if (json_is_string(v)) { // a single caption
        char **s = seize_malloc(1, sizeof *s);
        if (!s || !(s[0] = seize_strdup(json_string_value(v)))) {
            free(s);
            return SEIZE_ENOMEM;
        }
        *out = s;
        *n = 1;
        return 0;
    }
    if (!json_is_array(v)) goto bad;
    for (size_t t = 0; t < json_array_size(v); t++)
        if (!json_is_string(json_array_get(v, t))) goto bad;
    int rc = seize_json_name_list(v, out, n);
    return rc < 0 ? SEIZE_ENOMEM : 0;
bad:
    return seize_error(SEIZE_EFORMAT, "'%s': query %zu: '%s' must be a list of strings", path, i,
                       key);
}

int seize_captions_load(const char *path, const char *captions_key, const char *edits_key,
                        seize_captions **out)
{
    *out = NULL;
    char *buf;
    size_t len;
    int rc = seize_read_file(path, &buf, &len);
    if (rc < 0) return rc;
    size_t p = 0;
    while (p < len && (buf[p] == ' ' || buf[p] == '\t' || buf[p] == '\n' || buf[p] == '\r'))
        p++;
    json_t *root = NULL;
    int authors = p < len && buf[p] == '[';
    if (authors) rc = seize_json_parse(buf, len, path, &root);
    free(buf);
    if (rc < 0) return rc;
    if (!authors && (rc = seize_jsonl_load(path, &root)) < 0) return rc;
    const char *ck = captions_key ? captions_key : authors ? "multi_caption_opt" : "captions";
    // JSON Lines: seize reason writes "edited"; "edits" is accepted too
    const char *ek = edits_key ? edits_key : authors ? "multi_gpt-3.5_opt" : "edited";
    const char *ek2 = edits_key || authors ? NULL : "edits";
    size_t n = json_array_size(root);
    seize_captions *c = seize_calloc(1, sizeof *c);
    rc = SEIZE_ENOMEM;
    if (!c) goto done;
    c->ids = seize_calloc(n ? n : 1, sizeof *c->ids);
    c->captions = seize_calloc(n ? n : 1, sizeof *c->captions);
    c->n_captions = seize_calloc(n ? n : 1, sizeof *c->n_captions);
    c->edits = seize_calloc(n ? n : 1, sizeof *c->edits);
    c->n_edits = seize_calloc(n ? n : 1, sizeof *c->n_edits);
    if (!c->ids || !c->captions || !c->n_captions || !c->edits || !c->n_edits) goto done;
    size_t any_caps = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(root, i);
        c->n = i + 1;
        if (!json_is_object(o)) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': %s %zu is not an object", path,
                             authors ? "query" : "line", i + 1);
            goto done;
        }
        json_t *id = json_object_get(o, "id");
        if (!id) id = json_object_get(o, "pairid");
        if (!id) id = json_object_get(o, "query");
        if (id && seize_json_name(id, &c->ids[i]) < 0) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': query %zu: id must be a string or an integer",
                             path, i);
            goto done;
        }
        json_t *cv = json_object_get(o, ck);
        if (cv) any_caps++;
        if ((rc = string_list(cv, ck, path, i, &c->captions[i], &c->n_captions[i])) < 0) goto done;
        json_t *ev = json_object_get(o, ek);
        if (!ev && ek2) ev = json_object_get(o, ek2);
        if ((rc = string_list(ev, ek, path, i, &c->edits[i], &c->n_edits[i])) < 0) goto done;
    }
    if (n && !any_caps) {
        // a file of edits only (e.g. the output of seize reason) is fine when edits are present
        int any_edits = 0;
        for (size_t i = 0; i < n; i++)
            any_edits |= c->n_edits[i] > 0;
        if (!any_edits) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': no query has '%s' or '%s'", path, ck, ek);
            goto done;
        }
    }
    *out = c;
    c = NULL;
    rc = 0;
done:
    seize_captions_free(c);
    json_decref(root);
    return rc;
}
