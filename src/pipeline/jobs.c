// The jobs of a run: a benchmark split (its files by the data-layout rule) or a folder of
// images with a JSON Lines queries file; queries, references and gallery paths.
#include "run_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pl_job_free(job *j)
{
    for (size_t i = 0; i < j->n_q; i++) {
        free(j->q_id[i]);
        free(j->q_ref_name[i]);
        free(j->q_ref_path[i]);
        free(j->q_text[i]);
        free(j->q_target[i]);
    }
    free(j->q_id);
    free(j->q_ref_name);
    free(j->q_ref_path);
    free(j->q_text);
    free(j->q_target);
    free(j->q_ref_row);
    if (j->gl && j->g_paths)
        for (size_t i = 0; i < j->gl->n; i++)
            free(j->g_paths[i]);
    free(j->g_paths);
    free(j->g_missing);
    seize_strmap_free(&j->by_name);
    seize_gallery_list_free(j->gl);
    seize_dataset_free(j->ds);
    seize_layout_free(&j->layout);
    free(j->dir);
    free(j->captions_file);
    free(j->key_captions);
    free(j->key_edits);
    free(j->key_index);
    free(j->key_features);
    free(j->key_search);
}

int pl_alloc_queries(job *j, size_t n)
{
    j->n_q = n;
    j->q_id = calloc(n + 1, sizeof(char *));
    j->q_ref_name = calloc(n + 1, sizeof(char *));
    j->q_ref_path = calloc(n + 1, sizeof(char *));
    j->q_text = calloc(n + 1, sizeof(char *));
    j->q_target = calloc(n + 1, sizeof(char *));
    j->q_ref_row = calloc(n + 1, sizeof(size_t));
    if (!j->q_id || !j->q_ref_name || !j->q_ref_path || !j->q_text || !j->q_target || !j->q_ref_row)
        return seize_error(SEIZE_ENOMEM, "out of memory");
    return 0;
}

size_t pl_name_row(const job *j, const char *name)
{
    size_t row;
    return seize_strmap_get(&j->by_name, name, &row) ? row : SIZE_MAX;
}

// The gallery's name -> row map (the first row of a repeated name).
static int build_map(job *j)
{
    int rc = seize_strmap_init(&j->by_name, j->gl->n);
    for (size_t i = 0; rc >= 0 && i < j->gl->n; i++)
        rc = seize_strmap_put(&j->by_name, j->gl->names[i], i, NULL);
    return rc < 0 ? rc : 0;
}

// The gallery's image files, by the data-layout rule.
static int gallery_paths(job *j)
{
    j->g_paths = calloc(j->gl->n + 1, sizeof *j->g_paths);
    if (!j->g_paths) return seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t i = 0; i < j->gl->n; i++)
        if (!(j->g_paths[i] = seize_layout_image_path(&j->layout, j->gl->paths[i])))
            return seize_error(SEIZE_ENOMEM, "out of memory");
    return 0;
}

int pl_setup_dataset_job(pl_run *r, job *j, const char *category)
{
    const run_opts *o = &r->o;
    int rc = seize_layout_benchmark(j->kind, o->data_root, o->split, category, &j->layout);
    if (rc < 0) return rc;
    const char *missing = NULL;
    if (seize_layout_check(&j->layout, &missing) < 0 && missing != j->layout.image_root)
        return seize_error(SEIZE_EINVAL,
                           "%s: missing file '%s' (see 'seize run --help' for the files each "
                           "dataset needs under --data-root)",
                           j->name, missing);
    // a missing image folder is named by validation with the count of images it takes
    seize_dataset_opts dso = {o->fiq_join ? o->fiq_join : ""};
    if ((rc = seize_dataset_load_ex(j->kind, j->layout.annotations, &dso, &j->ds)) < 0) return rc;
    if ((rc = seize_gallery_list_load(j->kind, j->layout.gallery_list, &j->gl)) < 0) return rc;
    if ((rc = gallery_paths(j)) < 0 || (rc = pl_alloc_queries(j, j->ds->n)) < 0 ||
        (rc = build_map(j)) < 0)
        return rc;
    for (size_t i = 0; i < j->ds->n; i++) {
        const seize_query *q = &j->ds->q[i];
        j->q_id[i] = pl_fmt("%s", q->id);
        j->q_ref_name[i] = pl_fmt("%s", q->reference);
        j->q_text[i] = pl_fmt("%s", q->text);
        j->q_target[i] = q->target ? pl_fmt("%s", q->target) : NULL;
        j->q_ref_row[i] = pl_name_row(j, q->reference);
        if (j->q_ref_row[i] == SIZE_MAX)
            return seize_error(SEIZE_EFORMAT,
                               "'%s': query %s: reference image '%s' is not in the gallery '%s'",
                               j->layout.annotations, q->id, q->reference, j->layout.gallery_list);
        j->q_ref_path[i] = pl_fmt("%s", j->g_paths[j->q_ref_row[i]]);
    }
    return 0;
}

// --- folder jobs ---------------------------------------------------------------------------------

// The gallery: one scan (symlink loops and repeated files counted once, bad names refused).
static int scan_gallery(pl_run *r, job *j)
{
    const run_opts *o = &r->o;
    const char *gshow = o->user_gallery ? o->user_gallery : o->gallery_dir;
    seize_folder_list fl;
    int rc = seize_folder_scan(o->gallery_dir, &fl);
    if (rc == 0 && fl.n_errors) {
        char *msg = seize_folder_errors_message(&fl, gshow, 5);
        rc = seize_error(SEIZE_EINVAL, "%s",
                         msg ? msg : "the gallery folder has entries that cannot be indexed");
        free(msg);
    }
    if (rc == 0 && fl.n == 0)
        rc = seize_error(SEIZE_EINVAL, "gallery folder '%s' has no .jpg, .jpeg or .png images",
                         gshow);
    char *notes = rc == 0 ? seize_folder_notes_message(&fl, gshow, 3) : NULL;
    if (notes) pl_say(r, "note: %s", notes);
    free(notes);
    size_t n = fl.n;
    char **rel = rc < 0 ? NULL : calloc(n + 1, sizeof *rel);
    if (rc == 0 && (!(j->gl = calloc(1, sizeof *j->gl)) || !rel))
        rc = seize_error(SEIZE_ENOMEM, "out of memory");
    if (rc < 0) {
        free(rel);
        seize_folder_list_free(&fl);
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        rel[i] = pl_fmt("%s", fl.names[i]);
    // the list's arrays become the job's (the gallery folder is absolute: so are the paths)
    j->gl->n = n;
    j->gl->names = fl.names;
    j->gl->paths = rel;
    j->g_paths = fl.paths;
    fl.names = fl.paths = NULL;
    fl.n = 0;
    seize_folder_list_free(&fl);
    return build_map(j);
}

// A query's reference: a path relative to the current folder (as a shell user expects), then
// to the queries file's folder, else a gallery name. Heap path, NULL when none.
static char *find_reference(pl_run *r, job *j, const char *rp)
{
    if (rp[0] == '/') return pl_fmt("%s", rp);
    char *c = pl_absolute_path(rp);
    if (c && seize_path_exists(c)) return c;
    free(c);
    const char *qf = r->o.queries_file; // absolute: it has a '/'
    const char *slash = strrchr(qf, '/');
    c = pl_fmt("%.*s/%s", (int)(slash - qf), qf, rp);
    if (seize_path_exists(c)) return c;
    free(c);
    size_t row = pl_name_row(j, rp);
    return row == SIZE_MAX ? NULL : pl_fmt("%s", j->g_paths[row]);
}

typedef struct folder_ctx {
    pl_run *r;
    job *j;
    const char *qf;    // the queries file as shown
    const char *gshow; // the gallery folder as shown
    char *groot;       // its real path (NULL when unknown)
} folder_ctx;

// Sets the reference's gallery row and name (a path inside the gallery is that image).
static void reference_name(folder_ctx *c, size_t i, const char *rp)
{
    job *j = c->j;
    j->q_ref_row[i] = SIZE_MAX;
    char *real = realpath(j->q_ref_path[i], NULL);
    size_t gl = c->groot ? strlen(c->groot) : 0;
    if (real && c->groot && !strncmp(real, c->groot, gl) && real[gl] == '/')
        j->q_ref_row[i] = pl_name_row(j, real + gl + 1);
    if (j->q_ref_row[i] != SIZE_MAX) {
        j->q_ref_name[i] = pl_fmt("%s", j->gl->names[j->q_ref_row[i]]);
    } else {
        const char *base = strrchr(rp, '/');
        j->q_ref_name[i] = pl_fmt("%s", base ? base + 1 : rp);
    }
    free(real);
}

// One line of the queries file: query j->n_q (already counted) from object q.
static int folder_query(folder_ctx *c, json_t *q, size_t line)
{
    job *j = c->j;
    json_t *id = json_object_get(q, "id"), *ref = json_object_get(q, "reference"),
           *txt = json_object_get(q, "relative_text"), *tgt = json_object_get(q, "target");
    if (!json_is_string(ref) || !json_string_value(ref)[0] || !json_is_string(txt) ||
        (tgt && !json_is_string(tgt) && !json_is_null(tgt)) ||
        (id && !json_is_string(id) && !json_is_integer(id)))
        return seize_error(SEIZE_EFORMAT,
                           "'%s': line %zu: needs \"reference\" and \"relative_text\" strings (and "
                           "optionally \"id\": a string or integer, \"target\": a gallery name)",
                           c->qf, line);
    if (json_string_length(txt) > SEIZE_MAX_CAPTION_BYTES)
        return seize_error(SEIZE_EFORMAT,
                           "'%s': line %zu: \"relative_text\" is %zu bytes long (at most %zu)",
                           c->qf, line, json_string_length(txt), (size_t)SEIZE_MAX_CAPTION_BYTES);
    size_t i = j->n_q++;
    j->q_id[i] = json_is_string(id)    ? pl_fmt("%s", json_string_value(id))
                 : json_is_integer(id) ? pl_fmt("%lld", (long long)json_integer_value(id))
                                       : pl_fmt("%zu", i);
    j->q_text[i] = pl_fmt("%s", json_string_value(txt));
    const char *rp = json_string_value(ref);
    if (!(j->q_ref_path[i] = find_reference(c->r, j, rp)))
        return seize_error(
            SEIZE_EINVAL,
            "'%s': line %zu (query %s): reference image '%s' not found: neither a file "
            "(relative paths are taken from the current folder, then from the queries "
            "file's folder) nor a gallery name in '%s'",
            c->qf, line, j->q_id[i], rp, c->gshow);
    reference_name(c, i, rp);
    if (json_is_string(tgt)) {
        const char *t = json_string_value(tgt);
        if (pl_name_row(j, t) == SIZE_MAX)
            return seize_error(
                SEIZE_EINVAL,
                "'%s': line %zu (query %s): target '%s' is not a gallery name in '%s' "
                "(names are paths inside the gallery folder, e.g. '%s')",
                c->qf, line, j->q_id[i], t, c->gshow, j->gl->names[0]);
        j->q_target[i] = pl_fmt("%s", t);
    }
    return 0;
}

typedef struct id_line {
    const char *id;
    size_t line;
} id_line;

static int cmp_id_line(const void *a, const void *b)
{
    const id_line *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

// Query ids are unique: the caption and edit files are matched by them.
static int unique_ids(folder_ctx *c, const size_t *line_of)
{
    job *j = c->j;
    id_line *ids = malloc((j->n_q + 1) * sizeof *ids);
    if (!ids) return seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t i = 0; i < j->n_q; i++)
        ids[i] = (id_line){j->q_id[i], line_of[i]};
    qsort(ids, j->n_q, sizeof *ids, cmp_id_line);
    int rc = 0;
    for (size_t i = 1; rc == 0 && i < j->n_q; i++)
        if (!strcmp(ids[i].id, ids[i - 1].id))
            rc = seize_error(
                SEIZE_EINVAL,
                "'%s': line %zu: query id '%s' is already used on line %zu (ids must be unique)",
                c->qf, ids[i].line, ids[i].id, ids[i - 1].line);
    free(ids);
    return rc;
}

// The queries, one JSON object per line (line numbers as in the file).
static int read_queries(folder_ctx *c, char *text, size_t len)
{
    job *j = c->j;
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++)
        n_lines += text[i] == '\n';
    size_t *line_of = calloc(n_lines + 1, sizeof *line_of);
    int rc = line_of ? pl_alloc_queries(j, n_lines) : seize_error(SEIZE_ENOMEM, "out of memory");
    j->n_q = 0;
    char *ln = text;
    for (size_t line = 1; rc == 0 && ln; line++) {
        char *nl = strchr(ln, '\n');
        if (nl) *nl = 0;
        char *cur = ln;
        ln = nl ? nl + 1 : NULL;
        if (!cur[strspn(cur, " \t\r")]) continue;
        json_error_t je;
        json_t *q = json_loads(cur, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(q))
            rc = seize_error(SEIZE_EFORMAT, "'%s': line %zu: not a JSON object: %s", c->qf, line,
                             je.text);
        else
            line_of[j->n_q] = line, rc = folder_query(c, q, line);
        json_decref(q);
    }
    if (rc == 0 && j->n_q == 0) rc = seize_error(SEIZE_EINVAL, "'%s' has no queries", c->qf);
    if (rc == 0) rc = unique_ids(c, line_of);
    free(line_of);
    return rc;
}

int pl_setup_folder_job(pl_run *r, job *j)
{
    const run_opts *o = &r->o;
    int rc = seize_layout_folder(o->gallery_dir, &j->layout);
    if (rc == 0) rc = scan_gallery(r, j);
    if (rc < 0) return rc;
    char *text;
    size_t len;
    if ((rc = seize_read_file(o->queries_file, &text, &len)) < 0) return rc;
    folder_ctx c = {r, j, o->user_queries ? o->user_queries : o->queries_file,
                    o->user_gallery ? o->user_gallery : o->gallery_dir,
                    realpath(o->gallery_dir, NULL)};
    rc = read_queries(&c, text, len);
    free(text);
    free(c.groot);
    return rc;
}
