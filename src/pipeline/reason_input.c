// The editing stage's input (pipeline.h): a file of queries, JSON Lines or a benchmark's
// annotation file with captions, as records {id, relative_text, captions, ...} and their
// (caption, relative text) pairs; and the output, the records with "edited".
#include "seize/data.h"
#include "seize/pipeline.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

// What one load keeps while it reads the records.
typedef struct loader {
    const char *path;
    const seize_reason_input_opts *o;
    seize_dataset *ds; // with o->dataset
    seize_ds_kind kind;
    json_t *capmap; // with o->captions: reference image stem -> captions
    json_t *ids;    // the ids seen, as JSON text
    size_t n_nocap; // references with no captions in o->captions
    char nocap[512];
} loader;

// The file name of `path` without its extension (CIRCO's numeric names without leading zeros).
static char *image_stem(const char *path, int numeric)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    if (numeric) {
        size_t k = 0;
        while (k + 1 < n && b[k] == '0')
            k++;
        int digits = n > 0;
        for (size_t i = 0; i < n; i++)
            if (b[i] < '0' || b[i] > '9') digits = 0;
        if (digits) b += k, n -= k;
    }
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, b, n);
        s[n] = 0;
    }
    return s;
}

// Loads `seize caption` output into stem -> captions.
static int load_caption_map(const char *path, int numeric, json_t **out)
{
    json_t *arr = NULL, *map = json_object(), *v;
    int rc = map ? seize_jsonl_load(path, &arr) : seize_error(SEIZE_ENOMEM, "out of memory");
    size_t i;
    json_array_foreach(arr, i, v)
    {
        const char *img = json_string_value(json_object_get(v, "image"));
        json_t *caps = json_object_get(v, "captions");
        if (rc < 0) break;
        if (!img || !json_is_array(caps)) {
            rc = seize_error(SEIZE_EFORMAT, "%s: line %zu: expected {\"image\", \"captions\"}",
                             path, i + 1);
            break;
        }
        char *stem = image_stem(img, numeric);
        if (!stem || json_object_set(map, stem, caps) < 0)
            rc = seize_error(SEIZE_ENOMEM, "out of memory");
        free(stem);
    }
    json_decref(arr);
    if (rc < 0) json_decref(map);
    *out = rc < 0 ? NULL : map;
    return rc;
}

// A benchmark record's id, relative text (the loader's) and captions (from the caption file by
// the reference's name, or the record's caption key), set in `rec` as a JSON Lines input has
// them. 1 when the caption file has none for its reference.
static int dataset_record(const loader *L, size_t i, json_t *rec)
{
    const seize_query *dq = &L->ds->q[i];
    const char *ckey = L->o->caption_key ? L->o->caption_key : "multi_caption_opt";
    json_t *caps = NULL;
    if (L->kind == SEIZE_DS_FASHIONIQ) {
        // No id in the file: the position. Its "captions" are the two relative captions: kept
        // as "relative_captions".
        json_object_set_new(rec, "id", json_integer((json_int_t)i));
        json_object_set(rec, "relative_captions", json_object_get(rec, "captions"));
        json_object_del(rec, "captions");
    } else if (L->kind == SEIZE_DS_CIRR) {
        json_t *id = json_object_get(rec, "pairid"); // copied to "id", as JSON Lines have it
        if (id && !json_object_get(rec, "id")) json_object_set(rec, "id", id);
    }
    if (!dq->text)
        return seize_error(SEIZE_EFORMAT, "%s: record %zu: no relative text", L->path, i + 1);
    if (L->capmap) {
        char *stem = dq->reference ? image_stem(dq->reference, L->kind == SEIZE_DS_CIRCO) : NULL;
        caps = stem ? json_object_get(L->capmap, stem) : NULL;
        free(stem);
        if (!caps) return 1;
    } else if (!(caps = json_object_get(rec, ckey))) {
        return seize_error(SEIZE_ENOTFOUND,
                           "%s: record %zu: no \"%s\" (use --caption-key or --captions)", L->path,
                           i + 1, ckey);
    }
    if (json_object_set(rec, "captions", caps) < 0 ||
        json_object_set_new(rec, "relative_text", json_string(dq->text)) < 0)
        return seize_error(SEIZE_ENOMEM, "out of memory");
    return 0;
}

static int check_captions(json_t *caps, const char *src, size_t line)
{
    size_t k;
    json_t *c;
    if (!json_is_array(caps) || json_array_size(caps) == 0)
        return seize_error(SEIZE_EFORMAT, "%s: record %zu: \"captions\" must be a non-empty array",
                           src, line);
    json_array_foreach(caps, k, c) if (!json_is_string(c)) return seize_error(
        SEIZE_EFORMAT, "%s: record %zu: caption %zu is not a string", src, line, k);
    return 0;
}

// Bounded texts: one huge caption must not become gigabytes of requests.
static int check_lengths(const loader *L, size_t i, const char *idt, const char *text, json_t *caps,
                         size_t n_used)
{
    if (strlen(text) > SEIZE_STAGE_MAX_TEXT)
        return seize_error(SEIZE_EFORMAT,
                           "%s: record %zu (query %s): the relative text is %zu bytes, over "
                           "the limit of %zu",
                           L->path, i + 1, idt, strlen(text), SEIZE_STAGE_MAX_TEXT);
    for (size_t k = 0; k < n_used; k++) {
        size_t cl = json_string_length(json_array_get(caps, k));
        if (cl > SEIZE_STAGE_MAX_TEXT)
            return seize_error(SEIZE_EFORMAT,
                               "%s: record %zu (query %s): caption %zu is %zu bytes, over the "
                               "limit of %zu",
                               L->path, i + 1, idt, k, cl, SEIZE_STAGE_MAX_TEXT);
    }
    return 0;
}

// The first n_used captions in place of all of them.
static int keep_first(json_t *rec, json_t *caps, size_t n_used)
{
    if (n_used == json_array_size(caps)) return 0;
    json_t *first = json_array();
    for (size_t c = 0; first && c < n_used; c++)
        if (json_array_append(first, json_array_get(caps, c)) < 0) json_decref(first), first = NULL;
    if (!first || json_object_set_new(rec, "captions", first) < 0)
        return seize_error(SEIZE_ENOMEM, "out of memory");
    return 0;
}

// Checks record `rec` (i, 0-based) and adds it to in->records; the id's text goes to *idt.
static int check_record(loader *L, seize_reason_input *in, size_t i, json_t *rec, char **idt)
{
    json_t *id = json_object_get(rec, "id"), *caps = json_object_get(rec, "captions");
    const char *text = json_string_value(json_object_get(rec, "relative_text"));
    if (!text)
        return seize_error(SEIZE_EFORMAT, "%s: line %zu: missing \"relative_text\"", L->path,
                           i + 1);
    if (!(json_is_integer(id) || json_is_string(id)))
        return seize_error(SEIZE_EFORMAT, "%s: record %zu: missing or bad \"id\"", L->path, i + 1);
    int rc = check_captions(caps, L->path, i + 1);
    if (rc < 0) return rc;
    if (!(*idt = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT)))
        return seize_error(SEIZE_ENOMEM, "out of memory");
    size_t n_used = json_array_size(caps);
    if (L->o->n_captions > 0 && L->o->n_captions < n_used) n_used = L->o->n_captions;
    if ((rc = check_lengths(L, i, *idt, text, caps, n_used)) < 0) return rc;
    if (json_object_get(L->ids, *idt))
        return seize_error(SEIZE_EFORMAT, "%s: record %zu: duplicate id %s", L->path, i + 1, *idt);
    if (json_object_set_new(L->ids, *idt, json_true()) < 0 || keep_first(rec, caps, n_used) < 0 ||
        json_array_append(in->records, rec) < 0)
        return seize_error(SEIZE_ENOMEM, "out of memory");
    return 0;
}

// Record i of the file: 0 added, 1 left out (no captions for its reference), or an error.
static int add_record(loader *L, seize_reason_input *in, size_t i, json_t *v)
{
    if (!json_is_object(v))
        return seize_error(SEIZE_EFORMAT, "%s: record %zu is not an object", L->path, i + 1);
    json_t *rec = json_deep_copy(v);
    char *idt = NULL;
    int rc = rec ? 0 : seize_error(SEIZE_ENOMEM, "out of memory");
    if (rc == 0 && L->ds) rc = dataset_record(L, i, rec);
    if (rc == 1) { // counted, reported once at the end
        const char *ref = L->ds->q[i].reference;
        size_t l = strlen(L->nocap);
        if (L->n_nocap++ < 3)
            snprintf(L->nocap + l, sizeof L->nocap - l, "%s'%s'", l ? ", " : "", ref ? ref : "?");
    }
    if (rc == 0) rc = check_record(L, in, i, rec, &idt);
    if (rc == 0)
        rc = seize_strvec_push_owned(&in->ids, idt);
    else
        free(idt);
    json_decref(rec);
    return rc;
}

// The records of the file: JSON Lines as they are, or the benchmark's loader's queries (id,
// relative text, reference image: FashionIQ joined as asked) with the raw records' other keys.
static int load_records(loader *L, json_t **arr)
{
    const seize_reason_input_opts *o = L->o;
    if (!o->dataset) return seize_jsonl_load(L->path, arr);
    seize_dataset_opts dopt = {o->fiq_join ? o->fiq_join : ""};
    int rc = seize_ds_kind_parse(o->dataset, &L->kind);
    if (rc == 0) rc = seize_dataset_load_ex(L->kind, L->path, &dopt, &L->ds);
    if (rc == 0) rc = seize_json_load(L->path, arr);
    if (rc == 0 && json_array_size(*arr) != L->ds->n)
        rc = seize_error(SEIZE_EFORMAT, "%s: expected a JSON array of queries", L->path);
    if (rc == 0 && o->captions)
        rc = load_caption_map(o->captions, L->kind == SEIZE_DS_CIRCO, &L->capmap);
    return rc;
}

// The pairs of the records: captions, texts and keys "<id>#<caption index>".
static int make_pairs(seize_reason_input *in)
{
    size_t nq = json_array_size(in->records), n = 0;
    for (size_t q = 0; q < nq; q++)
        n += json_array_size(json_object_get(json_array_get(in->records, q), "captions"));
    in->first = seize_calloc(nq + 1, sizeof *in->first);
    in->captions = seize_calloc(n + 1, sizeof *in->captions);
    in->texts = seize_calloc(n + 1, sizeof *in->texts);
    if (!in->first || !in->captions || !in->texts) return SEIZE_ENOMEM;
    for (size_t q = 0; q < nq; q++) {
        json_t *rec = json_array_get(in->records, q), *caps = json_object_get(rec, "captions");
        in->first[q] = in->n;
        for (size_t c = 0; c < json_array_size(caps); c++, in->n++) {
            size_t kl = strlen(in->ids.v[q]) + 32;
            char *key = malloc(kl);
            if (key) snprintf(key, kl, "%s#%zu", in->ids.v[q], c);
            int rc = key ? seize_strvec_push_owned(&in->keys, key) : SEIZE_ENOMEM;
            if (rc < 0) return seize_error(SEIZE_ENOMEM, "out of memory");
            in->captions[in->n] = json_string_value(json_array_get(caps, c));
            in->texts[in->n] = json_string_value(json_object_get(rec, "relative_text"));
        }
    }
    in->first[nq] = in->n;
    return 0;
}

int seize_reason_input_load(const char *path, const seize_reason_input_opts *o,
                            seize_reason_input *in)
{
    static const seize_reason_input_opts none = {0};
    loader L = {path, o ? o : &none, .ids = json_object()};
    json_t *arr = NULL, *v;
    size_t i;
    memset(in, 0, sizeof *in);
    in->records = json_array();
    int rc = L.ids && in->records ? load_records(&L, &arr) : SEIZE_ENOMEM;
    json_array_foreach(arr, i, v)
    {
        if (rc < 0) break;
        rc = add_record(&L, in, i, v);
        if (rc == 1) rc = 0;
    }
    if (rc == 0 && L.n_nocap)
        rc = seize_error(SEIZE_ENOTFOUND,
                         "%s: no captions in '%s' for the reference images of %zu of %zu queries "
                         "(first: %s); caption them with 'seize caption' first",
                         path, L.o->captions, L.n_nocap, json_array_size(arr), L.nocap);
    if (rc == 0) rc = make_pairs(in);
    if (rc == SEIZE_ENOMEM) seize_error(rc, "out of memory");
    json_decref(arr);
    json_decref(L.ids);
    json_decref(L.capmap);
    seize_dataset_free(L.ds);
    if (rc < 0) seize_reason_input_free(in);
    return rc;
}

void seize_reason_input_free(seize_reason_input *in)
{
    json_decref(in->records);
    seize_strvec_free(&in->ids);
    seize_strvec_free(&in->keys);
    free(in->first);
    free(in->captions);
    free(in->texts);
    memset(in, 0, sizeof *in);
}

// Record q with "edited" in *rec (a new reference): 0, 1 when one of its pairs is not done,
// or SEIZE_ENOMEM.
static int edited_record(const seize_reason_input *in, size_t q, const seize_stage_item *items,
                         json_t **rec)
{
    for (size_t i = in->first[q]; i < in->first[q + 1]; i++)
        if (!items[i].n_texts) return 1;
    json_t *edited = json_array();
    *rec = json_copy(json_array_get(in->records, q));
    for (size_t i = in->first[q]; edited && i < in->first[q + 1]; i++)
        if (json_array_append_new(edited, json_string(items[i].texts[0])) < 0)
            json_decref(edited), edited = NULL;
    if (!*rec || !edited || json_object_set_new(*rec, "edited", edited) < 0) {
        json_decref(*rec);
        *rec = NULL;
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    return 0;
}

int seize_reason_output_write(const char *out, const seize_reason_input *in,
                              const seize_stage_item *items, size_t *n_written)
{
    seize_atomic a = {0};
    size_t written = 0;
    int rc = seize_atomic_open(out, &a);
    for (size_t q = 0; rc == 0 && q < in->ids.n; q++) {
        json_t *rec = NULL;
        int st = edited_record(in, q, items, &rec);
        char *s = st == 0 ? json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (st < 0)
            rc = st;
        else if (st == 0 && (!s || fputs(s, a.fp) < 0 || fputc('\n', a.fp) < 0))
            rc = seize_error(SEIZE_EIO, "cannot write '%s'", out);
        written += st == 0 && rc == 0;
        free(s);
        json_decref(rec);
    }
    if (rc == 0)
        rc = seize_atomic_commit(&a);
    else
        seize_atomic_abort(&a);
    if (n_written) *n_written = written;
    return rc;
}
