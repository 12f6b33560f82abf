// Stage 1 of a run: captions.jsonl and edits.jsonl, from a caption file or from the caption
// and editing servers (the caption and reason stages).
#include "stages.h"

#include "seize/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cap_ctx {
    pl_run *r;
    job *j;
    char *cap_out, *ed_out;
    char *cap_settings, *ed_settings; // what the journals' answers depend on besides each item
    seize_captions *from_file;        // the caption file, matched to the queries (or NULL)
    size_t *rows;                     // its row per query
    int have_edits_in_file;
} cap_ctx;

// --- keys ----------------------------------------------------------------------------------------

// The native captioner: its folder's config (content) and weight files (path, size, mtime),
// and its precision (the CPU's); the settings below too.
static int key_native(seize_sha256 *h, const run_opts *o)
{
    const char *files[] = {"config.json", "model.safetensors.index.json", "model.safetensors"};
    pl_key_str(h, "native blip2/1");
    pl_key_str(h, o->cap_dir);
    pl_key_num(h, (double)seize_captioner_blip2_precision());
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        char *path = pl_join(o->cap_dir, files[i]);
        rc = i == 0 || seize_path_exists(path) ? pl_key_file(h, path, i == 0) : 0;
        free(path);
    }
    return rc;
}

static void key_caption_settings(seize_sha256 *h, const run_opts *o)
{
    if (o->cap_dir) (void)key_native(h, o); // (a missing config.json fails when it runs)
    pl_key_str(h, o->cap_endpoint);
    pl_key_str(h, o->cap_model);
    pl_key_str(h, o->cap_prompt);
    pl_key_str(h, o->temperature);
    pl_key_str(h, o->top_p);
    pl_key_str(h, o->seed);
    pl_key_num(h, o->num_captions);
}

static int settings_keys(cap_ctx *c)
{
    const run_opts *o = &c->r->o;
    seize_sha256 h;
    seize_sha256_init(&h);
    pl_key_str(&h, "caption-settings/1");
    key_caption_settings(&h, o);
    c->cap_settings = pl_key_final(&h);
    seize_sha256_init(&h);
    pl_key_str(&h, "edit-settings/1");
    pl_key_str(&h, o->llm_endpoint);
    pl_key_str(&h, o->llm_model);
    pl_key_str(&h, o->seed);
    int rc = o->prompt_file ? pl_key_file(&h, o->prompt_file, 1) : 0;
    c->ed_settings = pl_key_final(&h);
    return rc;
}

static int captions_key(cap_ctx *c)
{
    job *j = c->j;
    seize_sha256 h;
    seize_sha256_init(&h);
    pl_key_str(&h, "captions/1");
    int rc = 0;
    if (j->captions_file) {
        pl_key_str(&h, "file");
        if ((rc = pl_key_file(&h, j->captions_file, 1)) < 0) return rc;
    } else {
        key_caption_settings(&h, &c->r->o);
    }
    for (size_t q = 0; q < j->n_q; q++) {
        pl_key_str(&h, j->q_id[q]);
        pl_key_str(&h, j->q_text[q]);
        if (!j->captions_file && (rc = pl_key_file(&h, j->q_ref_path[q], 0)) < 0) return rc;
    }
    j->key_captions = pl_key_final(&h);
    return 0;
}

static int edits_key(cap_ctx *c)
{
    const run_opts *o = &c->r->o;
    seize_sha256 h;
    seize_sha256_init(&h);
    pl_key_str(&h, "edits/2");
    // the captions themselves: sampled captions differ from one captioning to the next
    int rc = pl_key_file(&h, c->cap_out, 1);
    if (rc < 0) return rc;
    if (!c->have_edits_in_file) {
        pl_key_str(&h, o->llm_endpoint);
        pl_key_str(&h, o->llm_model);
        pl_key_str(&h, o->seed);
        if (o->prompt_file && (rc = pl_key_file(&h, o->prompt_file, 1)) < 0) return rc;
        pl_key_num(&h, o->num_captions);
    }
    c->j->key_edits = pl_key_final(&h);
    return 0;
}

// --- the caption file --------------------------------------------------------------------------

// Loads captions/edits for the job's queries from `path` (matched by id, else by position).
static int match_captions(job *j, const char *path, const char *edits_key, seize_captions **out,
                          size_t **row_of_query)
{
    seize_captions *c;
    int rc = seize_captions_load(path, NULL, edits_key, &c);
    if (rc < 0) return rc;
    size_t *rows = malloc((j->n_q + 1) * sizeof *rows);
    if (!rows) {
        seize_captions_free(c);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    int by_id = c->ids && c->n > 0 && c->ids[0];
    for (size_t q = 0; q < j->n_q; q++) {
        rows[q] = SIZE_MAX;
        if (by_id) {
            for (size_t i = 0; i < c->n && rows[q] == SIZE_MAX; i++)
                if (c->ids[i] && !strcmp(c->ids[i], j->q_id[q])) rows[q] = i;
        } else if (q < c->n) {
            rows[q] = q;
        }
        if (rows[q] == SIZE_MAX || c->n_captions[rows[q]] == 0) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': no captions for query %s", path, j->q_id[q]);
            free(rows);
            seize_captions_free(c);
            return rc;
        }
    }
    *out = c;
    *row_of_query = rows;
    return 0;
}

static int all_have_edits(const job *j, const seize_captions *c, const size_t *rows)
{
    for (size_t q = 0; q < j->n_q; q++)
        if (c->n_edits[rows[q]] == 0) return 0;
    return 1;
}

static int load_caption_file(cap_ctx *c)
{
    job *j = c->j;
    int rc = match_captions(j, j->captions_file, NULL, &c->from_file, &c->rows);
    if (rc < 0) return rc;
    c->have_edits_in_file = all_have_edits(j, c->from_file, c->rows);
    if (c->have_edits_in_file) return 0;
    // our own JSONL from seize reason names them "edited"
    seize_captions *c2;
    size_t *rows2;
    if (match_captions(j, j->captions_file, "edited", &c2, &rows2) < 0) return 0;
    if (!all_have_edits(j, c2, rows2)) {
        seize_captions_free(c2);
        free(rows2);
        return 0;
    }
    seize_captions_free(c->from_file);
    free(c->rows);
    c->from_file = c2;
    c->rows = rows2;
    c->have_edits_in_file = 1;
    return 0;
}

// captions.jsonl or edits.jsonl straight from the caption file.
static int from_file(cap_ctx *c, const char *stage, const char *key, int edits)
{
    job *j = c->j;
    json_t *lines = json_array();
    for (size_t q = 0; q < j->n_q; q++) {
        size_t i = c->rows[q];
        json_t *caps = pl_str_array(c->from_file->captions[i], c->from_file->n_captions[i]);
        json_array_append_new(
            lines, edits ? json_pack("{s:s, s:s, s:o, s:o}", "id", j->q_id[q], "relative_text",
                                     j->q_text[q], "captions", caps, "edited",
                                     pl_str_array(c->from_file->edits[i], c->from_file->n_edits[i]))
                         : json_pack("{s:s, s:s, s:o}", "id", j->q_id[q], "reference",
                                     j->q_ref_name[q], "captions", caps));
    }
    int fresh;
    int rc = pl_begin_stage(c->r, stage, key, NULL, &fresh);
    if (rc == 0) rc = pl_write_jsonl(edits ? c->ed_out : c->cap_out, lines);
    json_decref(lines);
    if (rc == 0)
        rc = pl_record_key(
            c->r, stage, key,
            json_pack("{s:s, s:s}", "source", "caption file", "file", j->captions_file));
    return rc;
}

// --- the caption server --------------------------------------------------------------------------

// Every reference decodes before the first request: a corrupt one is no server failure.
static int check_decodes(cap_ctx *c, char **uniq, size_t n_u)
{
    size_t n_bad = 0;
    char shown[1024] = "";
    for (size_t u = 0; u < n_u; u++) {
        seize_image *img;
        if (seize_image_load(uniq[u], SEIZE_IMAGE_MAX_PIXELS, &img) == 0) {
            seize_image_free(img);
            continue;
        }
        if (n_bad++ < 3) {
            size_t l = strlen(shown);
            snprintf(shown + l, sizeof shown - l, "%s%s", l ? "; " : "", seize_errmsg());
        }
        json_array_append_new(c->r->failed,
                              json_pack("{s:s, s:s, s:s, s:s}", "job", c->j->name, "stage",
                                        "captions", "item", uniq[u], "error", seize_errmsg()));
    }
    if (!n_bad) return 0;
    c->r->permanent = 1;
    return seize_error(SEIZE_EFORMAT,
                       "%s: %zu reference image%s cannot be decoded: %s%s (permanent: fix or "
                       "replace the file%s, or "
                       "remove the quer%s)",
                       c->j->name, n_bad, n_bad == 1 ? "" : "s", shown, n_bad > 3 ? "; ..." : "",
                       n_bad == 1 ? "" : "s", n_bad == 1 ? "y" : "ies");
}

// captions.jsonl from the caption stage's output (one row per image).
static int assemble_captions(cap_ctx *c, const char *raw)
{
    job *j = c->j;
    json_t *raw_rows = NULL;
    int rc = seize_jsonl_load(raw, &raw_rows);
    if (rc < 0) return rc;
    json_t *lines = json_array();
    for (size_t q = 0; q < j->n_q && rc == 0; q++) {
        json_t *caps = NULL, *v;
        size_t i;
        json_array_foreach(raw_rows, i, v)
        {
            const char *img = json_string_value(json_object_get(v, "image"));
            if (img && !strcmp(img, j->q_ref_path[q])) caps = json_object_get(v, "captions");
        }
        if (!json_is_array(caps))
            rc = seize_error(SEIZE_EFORMAT, "'%s': no captions for '%s'", raw, j->q_ref_path[q]);
        else
            json_array_append_new(lines, json_pack("{s:s, s:s, s:O}", "id", j->q_id[q], "reference",
                                                   j->q_ref_name[q], "captions", caps));
    }
    if (rc == 0) rc = pl_write_jsonl(c->cap_out, lines);
    json_decref(lines);
    json_decref(raw_rows);
    return rc;
}

static int caption_server(cap_ctx *c, const char *stage, char **uniq, size_t n_u)
{
    pl_run *r = c->r;
    const run_opts *o = &r->o;
    char *list = pl_join(c->j->dir, "caption-images.txt"),
         *raw = pl_join(c->j->dir, "captions.raw.jsonl"), *journal = pl_fmt("%s.journal", raw);
    int fresh;
    int rc = pl_begin_stage(r, stage, c->j->key_captions, c->cap_settings, &fresh);
    if (rc == 0 && fresh) { // answers of another model, endpoint, prompt or sampling
        pl_discard(r, journal);
        pl_discard(r, raw);
    }
    if (rc == 0) rc = pl_write_lines(list, uniq, n_u);
    pl_caption_io io = {list, raw};
    int st = rc == 0 ? r->ops->caption(r, &io) : 0;
    if (rc == 0 && st < 0)
        rc = st;
    else if (rc == 0 && st == EXIT_PARTIAL_STAGE)
        rc = seize_error(SEIZE_ENET, "caption stage: some images got no captions (named above); "
                                     "rerun the same command to retry only those");
    else if (rc == 0 && st == EXIT_REJECTED_STAGE)
        rc = seize_error(SEIZE_ENET,
                         "caption stage: the server rejected some images (named "
                         "above); running again would send the same requests: fix those images "
                         "or the captioner settings (model, endpoint)");
    else if (rc == 0 && st != 0)
        rc = seize_error(SEIZE_ENET,
                         "caption stage failed (seize caption exit %d; its error is above)", st);
    if (rc == 0) rc = assemble_captions(c, raw);
    if (rc == 0 && o->cap_dir) {
        json_t *passed = json_pack(
            "{s:s, s:s, s:s?, s:s, s:s, s:s, s:i, s:s}", "source", "seize caption --model-dir",
            "model_dir", o->cap_dir, "prompt", o->cap_prompt, "temperature",
            o->temperature ? o->temperature : "1.0", "top_p", o->top_p ? o->top_p : "0.9", "seed",
            o->seed ? o->seed : "0", "n", o->num_captions, "precision",
            seize_precision_name(seize_captioner_blip2_precision()));
        rc = pl_record_key(r, stage, c->j->key_captions, pl_producer(raw, passed));
    } else if (rc == 0) {
        json_t *passed =
            json_pack("{s:s, s:o, s:s, s:s?, s:s, s:s, s:s?, s:i}", "source", "seize caption",
                      "endpoint", pl_json_url(o->cap_endpoint), "model", o->cap_model, "prompt",
                      o->cap_prompt, "temperature", o->temperature ? o->temperature : "1.0",
                      "top_p", o->top_p ? o->top_p : "0.9", "seed", o->seed, "n", o->num_captions);
        rc = pl_record_key(r, stage, c->j->key_captions, pl_producer(raw, passed));
    }
    free(list);
    free(raw);
    free(journal);
    return rc;
}

static int captions_from_server(cap_ctx *c, const char *stage, double t0)
{
    job *j = c->j;
    const run_opts *o = &c->r->o;
    if (!o->cap_dir && (!o->cap_endpoint || !o->cap_model))
        return seize_error(SEIZE_EINVAL, "no captions: give --captions FILE, --captioner-dir DIR, "
                                         "or --captioner-endpoint and --captioner-model");
    // each reference image once, in first-use order
    char **uniq = calloc(j->n_q + 1, sizeof *uniq);
    seize_strmap seen = {0};
    size_t n_u = 0;
    int rc = uniq ? 0 : seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t q = 0; rc == 0 && q < j->n_q; q++) {
        int dup = seize_strmap_put(&seen, j->q_ref_path[q], q, NULL);
        if (dup < 0) rc = dup;
        if (dup == 0) uniq[n_u++] = j->q_ref_path[q];
    }
    seize_strmap_free(&seen);
    if (rc == 0) rc = check_decodes(c, uniq, n_u);
    if (rc == 0) {
        rc = caption_server(c, stage, uniq, n_u);
        pl_stage_log(c->r, j->name, "captions", rc == 0 ? "ran" : "failed", seize_now() - t0,
                     json_pack("{s:I}", "images", (json_int_t)n_u));
    }
    free(uniq);
    return rc;
}

// --- the editing server --------------------------------------------------------------------------

// The reason stage's input: our captions, the first N of each.
static int reason_input(cap_ctx *c, const char *qin)
{
    job *j = c->j;
    json_t *caps_rows;
    int rc = seize_jsonl_load(c->cap_out, &caps_rows);
    if (rc < 0) return rc;
    json_t *lines = json_array();
    for (size_t q = 0; q < j->n_q; q++) {
        json_t *caps = json_object_get(json_array_get(caps_rows, q), "captions"),
               *first = json_array();
        for (size_t i = 0; i < json_array_size(caps) && i < (size_t)c->r->o.num_captions; i++)
            json_array_append(first, json_array_get(caps, i));
        json_array_append_new(lines, json_pack("{s:s, s:s, s:o}", "id", j->q_id[q], "relative_text",
                                               j->q_text[q], "captions", first));
    }
    json_decref(caps_rows);
    rc = pl_write_jsonl(qin, lines);
    json_decref(lines);
    return rc;
}

static int edits_from_server(cap_ctx *c, const char *stage, double t0)
{
    pl_run *r = c->r;
    job *j = c->j;
    const run_opts *o = &r->o;
    if (!o->llm_endpoint || !o->llm_model)
        return seize_error(
            SEIZE_EINVAL,
            "the captions have no edits: give --llm-endpoint and --llm-model (or a caption "
            "file with edits)");
    char *qin = pl_join(j->dir, "reason-input.jsonl"), *journal = pl_fmt("%s.journal", c->ed_out);
    int fresh;
    int rc = pl_begin_stage(r, stage, j->key_edits, c->ed_settings, &fresh);
    if (rc == 0 && fresh) { // answers of another model, endpoint or prompt are not resumed
        pl_discard(r, journal);
        pl_discard(r, c->ed_out);
    }
    if (rc == 0) rc = reason_input(c, qin);
    pl_reason_io io = {qin, c->ed_out};
    int st = rc == 0 ? r->ops->reason(r, &io) : 0;
    if (rc == 0 && st < 0)
        rc = st;
    else if (rc == 0 && st == EXIT_PARTIAL_STAGE)
        rc = seize_error(SEIZE_ENET, "editing stage: some queries got no edits (named above); "
                                     "rerun the same command to retry only those");
    else if (rc == 0 && st == EXIT_REJECTED_STAGE)
        rc = seize_error(SEIZE_ENET,
                         "editing stage: the server rejected some queries (named "
                         "above); running again would send the same requests: fix those captions "
                         "or relative texts, or the editing settings (model, endpoint, "
                         "prompt)");
    else if (rc == 0 && st != 0)
        rc = seize_error(SEIZE_ENET,
                         "editing stage failed (seize reason exit %d; its error is above)", st);
    if (rc == 0) {
        json_t *passed =
            json_pack("{s:s, s:o, s:s, s:s?, s:s?, s:i}", "source", "seize reason", "endpoint",
                      pl_json_url(o->llm_endpoint), "model", o->llm_model, "prompt_file",
                      o->prompt_file, "seed", o->seed, "captions_per_query", o->num_captions);
        rc = pl_record_key(r, stage, j->key_edits, pl_producer(c->ed_out, passed));
    }
    pl_stage_log(r, j->name, "edits", rc == 0 ? "ran" : "failed", seize_now() - t0,
                 json_pack("{s:I}", "queries", (json_int_t)j->n_q));
    free(qin);
    free(journal);
    return rc;
}

// --- the stage -----------------------------------------------------------------------------------

static int captions(cap_ctx *c)
{
    job *j = c->j;
    double t0 = seize_now();
    int rc = captions_key(c);
    if (rc == 0 && j->captions_file) rc = load_caption_file(c);
    if (rc < 0) return rc;
    char *stage = pl_fmt("%s/captions", j->name);
    const char *outs[] = {c->cap_out, NULL};
    if (pl_cached(c->r, stage, j->key_captions, outs)) {
        pl_stage_log(c->r, j->name, "captions", "cached", seize_now() - t0, NULL);
    } else if (j->captions_file) {
        rc = from_file(c, stage, j->key_captions, 0);
        pl_stage_log(c->r, j->name, "captions", "from file", seize_now() - t0,
                     json_pack("{s:I}", "queries", (json_int_t)j->n_q));
    } else {
        rc = captions_from_server(c, stage, t0);
    }
    free(stage);
    return rc;
}

static int edits(cap_ctx *c)
{
    job *j = c->j;
    double t0 = seize_now();
    int rc = edits_key(c);
    if (rc < 0) return rc;
    char *stage = pl_fmt("%s/edits", j->name);
    const char *outs[] = {c->ed_out, NULL};
    if (pl_cached(c->r, stage, j->key_edits, outs)) {
        pl_stage_log(c->r, j->name, "edits", "cached", seize_now() - t0, NULL);
    } else if (c->have_edits_in_file) {
        rc = from_file(c, stage, j->key_edits, 1);
        pl_stage_log(c->r, j->name, "edits", "from file", seize_now() - t0, NULL);
    } else {
        rc = edits_from_server(c, stage, t0);
    }
    free(stage);
    return rc;
}

int pl_stage_captions(pl_run *r, job *j)
{
    cap_ctx c = {r, j, pl_join(j->dir, "captions.jsonl"), pl_join(j->dir, "edits.jsonl")};
    int rc = settings_keys(&c);
    if (rc == 0) rc = captions(&c);
    if (rc == 0) rc = edits(&c);
    seize_captions_free(c.from_file);
    free(c.rows);
    free(c.cap_settings);
    free(c.ed_settings);
    free(c.cap_out);
    free(c.ed_out);
    return rc;
}
