// seize reason: rewrite every caption of every query according to its relative text with an LLM
// (SEIZE step 2), over an OpenAI-compatible API, with retries, a journal and resume.
#include "llm_cli.h"

#include "seize/core.h"
#include "seize/data.h"
#include "seize/net.h"

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *CMD = "reason";

// --- queries ------------------------------------------------------------------------------

typedef struct query {
    json_t *rec;       // output record (id, relative_text, captions, other keys)
    const char *text;  // relative text (in rec)
    size_t n_caps;     // captions used
    size_t first_item; // index of its first batch item
    char *id_text;     // id as JSON text, for messages and keys
} query;

static const char *caption_at(const query *q, size_t c)
{
    return json_string_value(json_array_get(json_object_get(q->rec, "captions"), c));
}

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
    json_t *arr;
    int rc = seize_jsonl_load(path, &arr);
    if (rc < 0) return rc;
    json_t *map = json_object();
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *img = json_string_value(json_object_get(v, "image"));
        json_t *caps = json_object_get(v, "captions");
        if (!img || !json_is_array(caps)) {
            json_decref(arr);
            json_decref(map);
            return seize_error(SEIZE_EFORMAT, "%s: line %zu: expected {\"image\", \"captions\"}",
                               path, i + 1);
        }
        char *stem = image_stem(img, numeric);
        if (stem) json_object_set(map, stem, caps);
        free(stem);
    }
    json_decref(arr);
    *out = map;
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

typedef struct opts {
    const char *input, *dataset, *caption_key, *captions, *fiq_join;
    long n_captions;
} opts;

// A benchmark record's id, relative text (the loader's) and captions (from the caption file
// by the reference's name, or the record's caption key), set in `rec` as a JSON Lines input
// has them. 1 when the caption file has none for its reference.
static int dataset_record(const opts *o, const seize_dataset *ds, seize_ds_kind kind,
                          json_t *capmap, size_t i, json_t *rec, json_t **id_out, char **text_out,
                          json_t **caps_out)
{
    const seize_query *dq = &ds->q[i];
    const char *ref = dq->reference, *ckey = o->caption_key ? o->caption_key : "multi_caption_opt";
    json_t *id, *caps = NULL;
    char *text = seize_strdup(dq->text);
    *text_out = text;
    if (kind == SEIZE_DS_FASHIONIQ) {
        // No id in the file: the position. Its "captions" are the two relative captions: keep
        // them as "relative_captions".
        id = json_integer((json_int_t)i);
        json_object_set_new(rec, "id", id);
        json_object_set(rec, "relative_captions", json_object_get(rec, "captions"));
        json_object_del(rec, "captions");
    } else if (kind == SEIZE_DS_CIRR) {
        id = json_object_get(rec, "pairid"); // copied to "id", as JSON Lines inputs have
        if (id && !json_object_get(rec, "id")) json_object_set(rec, "id", id);
    } else {
        id = json_object_get(rec, "id");
    }
    *id_out = id;
    if (!text)
        return seize_error(SEIZE_EFORMAT, "%s: record %zu: no relative text", o->input, i + 1);
    if (capmap) {
        char *stem = ref ? image_stem(ref, kind == SEIZE_DS_CIRCO) : NULL;
        caps = stem ? json_object_get(capmap, stem) : NULL;
        free(stem);
        if (!caps) return 1;
    } else if (!(caps = json_object_get(rec, ckey))) {
        return seize_error(SEIZE_ENOTFOUND,
                           "%s: record %zu: no \"%s\" (use --caption-key or --captions)", o->input,
                           i + 1, ckey);
    }
    json_object_set(rec, "captions", caps);
    *caps_out = json_object_get(rec, "captions");
    json_object_set_new(rec, "relative_text", json_string(text));
    return 0;
}

// Bounded texts: one huge caption must not become gigabytes of requests.
static int check_lengths(const opts *o, size_t i, const char *idt, const char *text, json_t *caps)
{
    size_t nc_used = json_array_size(caps);
    if (o->n_captions > 0 && (size_t)o->n_captions < nc_used) nc_used = (size_t)o->n_captions;
    if (strlen(text) > CLI_LLM_MAX_TEXT)
        return seize_error(SEIZE_EFORMAT,
                           "%s: record %zu (query %s): the relative text is %zu bytes, over "
                           "the limit of %zu",
                           o->input, i + 1, idt, strlen(text), CLI_LLM_MAX_TEXT);
    for (size_t k = 0; k < nc_used; k++) {
        size_t cl = json_string_length(json_array_get(caps, k));
        if (cl > CLI_LLM_MAX_TEXT)
            return seize_error(SEIZE_EFORMAT,
                               "%s: record %zu (query %s): caption %zu is %zu bytes, over the "
                               "limit of %zu",
                               o->input, i + 1, idt, k, cl, CLI_LLM_MAX_TEXT);
    }
    return 0;
}

static void queries_free(query *q, size_t n)
{
    for (size_t k = 0; q && k < n; k++) {
        json_decref(q[k].rec);
        free(q[k].id_text);
    }
    free(q);
}

// Turns the input into output records {id, relative_text, captions, ...}.
static int load_queries(const opts *o, query **out, size_t *n_out)
{
    json_t *arr = NULL;
    seize_dataset *ds = NULL;
    seize_ds_kind kind = SEIZE_DS_CIRCO;
    int rc = 0;
    if (o->dataset) {
        // The benchmark's own loader gives the id, the relative text (FashionIQ joined as
        // asked) and the reference image; the raw records supply the other keys.
        seize_dataset_opts dopt = {0};
        dopt.fiq_joiner = o->fiq_join ? o->fiq_join : "";
        if ((rc = seize_ds_kind_parse(o->dataset, &kind)) < 0 ||
            (rc = seize_dataset_load_ex(kind, o->input, &dopt, &ds)) < 0)
            return rc;
        rc = seize_json_load(o->input, &arr);
        if (rc == 0 && json_array_size(arr) != ds->n)
            rc = seize_error(SEIZE_EFORMAT, "%s: expected a JSON array of queries", o->input);
    } else {
        rc = seize_jsonl_load(o->input, &arr);
    }
    if (rc < 0) {
        seize_dataset_free(ds);
        json_decref(arr);
        return rc;
    }
    int circo = ds && kind == SEIZE_DS_CIRCO;
    json_t *capmap = NULL;
    if (o->captions && (rc = load_caption_map(o->captions, circo, &capmap)) < 0) {
        seize_dataset_free(ds);
        json_decref(arr);
        return rc;
    }
    size_t n = json_array_size(arr);
    query *q = seize_calloc(n ? n : 1, sizeof *q);
    json_t *ids = json_object();
    if (!q || !ids) rc = seize_error(SEIZE_ENOMEM, "out of memory");
    size_t i, n_nocap = 0;
    char nocap[512] = "";
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (rc < 0) break;
        if (!json_is_object(v)) {
            rc = seize_error(SEIZE_EFORMAT, "%s: record %zu is not an object", o->input, i + 1);
            break;
        }
        json_t *rec = json_deep_copy(v), *id = NULL, *caps = NULL;
        char *text = NULL;
        if (!o->dataset) {
            id = json_object_get(rec, "id");
            const char *t = json_string_value(json_object_get(rec, "relative_text"));
            text = t ? seize_strdup(t) : NULL;
            caps = json_object_get(rec, "captions");
            if (!t)
                rc = seize_error(SEIZE_EFORMAT, "%s: line %zu: missing \"relative_text\"", o->input,
                                 i + 1);
        } else {
            rc = dataset_record(o, ds, kind, capmap, i, rec, &id, &text, &caps);
            if (rc == 1) { // no captions for its reference: counted, reported once below
                const char *ref = ds->q[i].reference;
                if (n_nocap++ < 3) {
                    size_t l = strlen(nocap);
                    snprintf(nocap + l, sizeof nocap - l, "%s'%s'", l ? ", " : "", ref ? ref : "?");
                }
                json_decref(rec);
                free(text);
                rc = 0;
                continue;
            }
        }
        if (rc == 0 && !(json_is_integer(id) || json_is_string(id)))
            rc = seize_error(SEIZE_EFORMAT, "%s: record %zu: missing or bad \"id\"", o->input,
                             i + 1);
        if (rc == 0) rc = check_captions(caps, o->input, i + 1);
        char *idt = rc == 0 ? json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        if (rc == 0 && !idt) rc = seize_error(SEIZE_ENOMEM, "out of memory");
        if (rc == 0) rc = check_lengths(o, i, idt, text, caps);
        if (rc == 0 && json_object_get(ids, idt))
            rc =
                seize_error(SEIZE_EFORMAT, "%s: record %zu: duplicate id %s", o->input, i + 1, idt);
        if (rc < 0) {
            json_decref(rec);
            free(text);
            free(idt);
            break;
        }
        json_object_set_new(ids, idt, json_true());
        free(text); // the record holds its own copy of the relative text
        q[i].rec = rec;
        q[i].text = json_string_value(json_object_get(rec, "relative_text"));
        q[i].id_text = idt;
        size_t nc = json_array_size(caps);
        q[i].n_caps = o->n_captions > 0 && (size_t)o->n_captions < nc ? (size_t)o->n_captions : nc;
    }
    if (rc == 0 && n_nocap)
        rc = seize_error(SEIZE_ENOTFOUND,
                         "%s: no captions in '%s' for the reference images of %zu of %zu queries "
                         "(first: %s); caption them with 'seize caption' first",
                         o->input, o->captions, n_nocap, n, nocap);
    json_decref(ids);
    json_decref(capmap);
    seize_dataset_free(ds);
    json_decref(arr);
    if (rc < 0) {
        queries_free(q, n);
        return rc;
    }
    *out = q;
    *n_out = n;
    return 0;
}

// The queries' records with "edited", in input order; a query with a failed pair is left out.
static int write_output(const char *path, query *q, size_t n_q, const seize_stage_item *res,
                        size_t *n_written)
{
    seize_atomic a;
    int rc = seize_atomic_open(path, &a);
    if (rc < 0) return rc;
    *n_written = 0;
    for (size_t i = 0; i < n_q; i++) {
        const seize_stage_item *it = &res[q[i].first_item];
        int ok = 1;
        for (size_t c = 0; c < q[i].n_caps; c++)
            ok &= it[c].n_texts > 0;
        if (!ok) continue;
        json_t *edited = json_array(), *rec = q[i].rec;
        for (size_t c = 0; c < q[i].n_caps; c++)
            json_array_append_new(edited, json_string(it[c].texts[0]));
        if (q[i].n_caps < json_array_size(json_object_get(rec, "captions"))) {
            json_t *caps = json_array();
            for (size_t c = 0; c < q[i].n_caps; c++)
                json_array_append(caps, json_array_get(json_object_get(rec, "captions"), c));
            json_object_set_new(rec, "captions", caps);
        }
        json_object_set_new(rec, "edited", edited);
        char *s = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!s || fputs(s, a.fp) < 0 || fputc('\n', a.fp) < 0) {
            free(s);
            seize_atomic_abort(&a);
            return seize_error(SEIZE_EIO, "cannot write '%s'", path);
        }
        free(s);
        (*n_written)++;
    }
    return seize_atomic_commit(&a);
}

// The first failed pair of query i, or NULL.
static const seize_stage_item *first_failure(const query *q, const seize_stage_item *res,
                                             size_t *cidx)
{
    for (size_t c = 0; c < q->n_caps; c++)
        if (res[q->first_item + c].error) {
            *cidx = c;
            return &res[q->first_item + c];
        }
    return NULL;
}

// Failures a rerun can fix (network, server) and the others (the server rejected the request:
// the input must change first) are reported apart.
static void print_failures(const query *q, size_t n_q, const seize_stage_item *res, size_t written,
                           const char *out, const char *journal)
{
    size_t n_failed = 0, n_retry = 0, shown = 0, c;
    for (size_t i = 0; i < n_q; i++) {
        const seize_stage_item *f = first_failure(&q[i], res, &c);
        n_failed += f != NULL;
        n_retry += f && f->retryable;
    }
    fprintf(stderr, "seize reason: error: %zu of %zu queries failed (the others are in '%s')",
            n_q - written, n_q, out);
    if (n_retry == n_failed)
        fprintf(stderr, "; rerun the same command to retry them:\n");
    else if (n_retry == 0)
        fprintf(stderr, "; the server rejected them: fix what is named below (the next "
                        "run sends only these):\n");
    else
        fprintf(stderr,
                "; %zu on network or server errors (a rerun retries them), %zu "
                "rejected by the server (fix them first):\n",
                n_retry, n_failed - n_retry);
    for (size_t i = 0; i < n_q && shown < 20; i++) {
        const seize_stage_item *f = first_failure(&q[i], res, &c);
        if (!f) continue;
        fprintf(stderr, "  query %s (caption %zu): %s\n", q[i].id_text, c, f->error);
        shown++;
    }
    if (n_failed > shown)
        fprintf(stderr, "  ... and %zu more (their errors are in '%s')\n", n_failed - shown,
                journal);
}

// The pairs of the queries: captions, texts and journal keys ("<id>#<caption>").
typedef struct pairs {
    const char **captions, **texts;
    char **keys;
    size_t n;
} pairs;

static void pairs_free(pairs *pr)
{
    for (size_t i = 0; pr->keys && i < pr->n; i++)
        free(pr->keys[i]);
    free(pr->keys);
    free(pr->captions);
    free(pr->texts);
}

static int make_pairs(query *q, size_t n_q, pairs *pr)
{
    size_t n = 0;
    for (size_t i = 0; i < n_q; i++)
        n += q[i].n_caps;
    pr->captions = seize_calloc(n ? n : 1, sizeof *pr->captions);
    pr->texts = seize_calloc(n ? n : 1, sizeof *pr->texts);
    pr->keys = seize_calloc(n ? n : 1, sizeof *pr->keys);
    if (!pr->captions || !pr->texts || !pr->keys) return SEIZE_ENOMEM;
    for (size_t i = 0; i < n_q; i++) {
        q[i].first_item = pr->n;
        for (size_t c = 0; c < q[i].n_caps; c++, pr->n++) {
            size_t kl = strlen(q[i].id_text) + 32;
            if (!(pr->keys[pr->n] = malloc(kl))) return seize_error(SEIZE_ENOMEM, "out of memory");
            snprintf(pr->keys[pr->n], kl, "%s#%zu", q[i].id_text, c);
            pr->captions[pr->n] = caption_at(&q[i], c);
            pr->texts[pr->n] = q[i].text;
        }
    }
    return 0;
}

// Prints the outcome of a call that ran; returns the exit status.
static int finish(seize_reasoner *r, int rc, const seize_llm_stats *st, query *q, size_t n_q,
                  const seize_stage_item *res, size_t n, const char *out, const char *journal,
                  int quiet)
{
    if (rc == SEIZE_ECANCEL) {
        if (st->items == 0) return cli_llm_interrupt_exit(CMD, "no request was sent");
        char detail[600];
        snprintf(detail, sizeof detail, "%zu of %zu requests done, kept in '%s'", st->texts_done,
                 st->texts_wanted, journal);
        return cli_llm_interrupt_exit(CMD, detail);
    }
    size_t n_failed = 0, written = 0;
    for (size_t i = 0; i < n; i++)
        n_failed += res[i].error != NULL;
    if ((rc < 0 && rc != SEIZE_ENET) || (rc == SEIZE_ENET && !n_failed)) return cli_lib_fail(CMD);
    if (write_output(out, q, n_q, res, &written) < 0) return cli_lib_fail(CMD);
    json_t *settings = NULL;
    char hash[65];
    if (seize_reasoner_settings(r, &settings, hash) < 0) return cli_lib_fail(CMD);
    int src = cli_llm_save_settings(CMD, out, settings, hash);
    json_decref(settings);
    if (src) return src;
    if (!quiet)
        fprintf(stderr, "seize reason: settings %.12s (in '%s.settings.json')\n", hash, out);
    if (!n_failed) return EXIT_OK;
    print_failures(q, n_q, res, written, out, journal);
    return EXIT_PARTIAL;
}

// Locks the output, loads the queries and edits every (caption, relative text) pair.
static int run_reason(const seize_llm_params *p, const opts *o, const char *out,
                      const char *journal, const char *prompt_file, const char *system_opt,
                      int quiet)
{
    char *sys_file = NULL, *user_file = NULL, *jpath = NULL;
    if (prompt_file && seize_prompt_file_load(prompt_file, &sys_file, &user_file) < 0)
        return cli_lib_fail(CMD);
    int ret = EXIT_FAIL;
    query *q = NULL;
    size_t n_q = 0;
    pairs pr = {0};
    seize_reasoner *r = NULL;
    seize_stage_item *res = NULL;
    seize_lock lock[2] = {{-1, NULL}, {-1, NULL}};
    journal = cli_llm_journal_path(out, journal, &jpath);
    if (!journal) {
        cli_fail(CMD, "out of memory");
        goto done;
    }
    if (cli_llm_lock(CMD, out, journal, lock)) goto done;
    seize_reasoner_openai_opts ro = {system_opt ? system_opt : sys_file, user_file, journal, CMD};
    if (seize_reasoner_openai_new(p, &ro, &r) < 0 || load_queries(o, &q, &n_q) < 0 ||
        make_pairs(q, n_q, &pr) < 0 || !(res = seize_calloc(pr.n ? pr.n : 1, sizeof *res))) {
        cli_lib_fail(CMD);
        goto done;
    }
    cli_llm_progress pc = {.cmd = CMD, .quiet = quiet};
    seize_reason_job job = {
        pr.captions, pr.texts,        (const char *const *)pr.keys, pr.n, cli_llm_progress_fn,
        &pc,         cli_llm_cancel()};
    int rc = seize_reasoner_reason(r, &job, res);
    seize_llm_stats st;
    seize_reasoner_openai_stats(r, &st);
    cli_llm_progress_end(&pc, &st);
    ret = finish(r, rc, &st, q, n_q, res, pr.n, out, journal, quiet);
done:
    seize_stage_items_release(res, pr.n);
    free(res);
    pairs_free(&pr);
    seize_reasoner_free(r);
    cli_llm_unlock(lock);
    queries_free(q, n_q);
    free(jpath);
    free(sys_file);
    free(user_file);
    return ret;
}

static const char *synopsis =
    "--input Q.jsonl --out E.jsonl --endpoint URL --model NAME [options]\n"
    "--dataset circo|cirr|fashioniq --input ANNOTATIONS.json\n"
    "[--captions C.jsonl | --caption-key KEY] --out E.jsonl ...";
static const char *about =
    "Asks an LLM to rewrite each caption of each query according to the query's relative\n"
    "text (SEIZE step 2, the authors' prompt), one chat request per caption.";
static const char *footer =
    "Relative paths are taken from the current directory. Inputs must be regular files; a\n"
    "caption or relative text longer than 64 KiB is refused (naming the query) before any\n"
    "request. The API key and any user:password in the endpoint never appear in messages\n"
    "or files (replaced by ***).\n"
    "\n"
    "Exit status: 0 done; 1 error; 2 usage; 3 some queries failed (named on stderr; a rerun\n"
    "retries only those: network and server errors as they are, requests the server\n"
    "rejected once their input is fixed); 130 interrupted (a rerun resumes).";

int cmd_reason(int argc, char **argv)
{
    opts o = {0};
    cli_llm g;
    const char *out = NULL, *prompt_file = NULL, *system_opt = NULL;
    cli_opt llm[CLI_LLM_N_OPTS], all[40];
    cli_llm_init(&g, -1, -1, llm);
    const cli_opt own[] = {
        CLI_TEXT("Input:"),
        CLI_STR("input", 'i', "FILE", &o.input,
                "JSON Lines {\"id\", \"relative_text\", \"captions\": [...]} (other\nkeys are "
                "kept), or with --dataset the benchmark annotation file"),
        CLI_CHOICE(
            "dataset", 0, "NAME", &o.dataset, "circo|cirr|fashioniq",
            "read the annotation file with the benchmark's loader: circo\n(relative_caption, "
            "id), cirr (caption, pairid, copied to id)\nor fashioniq (captions[0] + JOIN + "
            "captions[1], kept as\nrelative_captions; id = position in the file)"),
        CLI_STR("caption-key", 0, "KEY", &o.caption_key,
                "with --dataset: captions from this key of each record\n(default "
                "multi_caption_opt, as in test_with_seize_captions.json)"),
        CLI_STR("captions", 0, "FILE", &o.captions,
                "with --dataset: captions from 'seize caption' output, matched\nby the reference "
                "image's file name (without extension)"),
        CLI_STR("fiq-join", 0, "STR", &o.fiq_join,
                "FashionIQ: text between the two captions (default none, as the\nauthors did; "
                "e.g. \" and \")"),
        CLI_INT("n-captions", 0, "N", &o.n_captions, 1, 1000000,
                "use only the first N captions of each query"),
        CLI_TEXT("Output:"),
        CLI_STR("out", 'o', "FILE", &out,
                "JSON Lines: each input record plus \"edited\": [...] aligned with\n\"captions\"; "
                "written atomically once every query is complete"),
        CLI_TEXT("Prompt:"),
        CLI_STR("prompt-file", 0, "FILE", &prompt_file,
                "user message template with {caption} and {instruction}\n(at most 64 KiB; {{ and "
                "}} for braces); a line '---' separates an\noptional system message above it; "
                "trailing newlines are dropped"),
        CLI_STR("system", 0, "TEXT", &system_opt,
                "system message (default: the authors'; '' for none)"),
        CLI_TEXT("Client:"),
        CLI_END};
    if (cli_opts_join(all, sizeof all / sizeof *all, own, llm) < 0)
        return cli_fail(CMD, "too many options");
    const cli_spec spec = {CMD, synopsis, about, all, footer};
    int rc = cli_parse(&spec, argc, argv, NULL);
    if (rc >= 0) return rc;
    if (!o.input) return cli_usage(CMD, "--input is required");
    if (!out) return cli_usage(CMD, "--out is required");
    if (!o.dataset && (o.captions || o.caption_key))
        return cli_usage(CMD, "--captions and --caption-key need --dataset");
    if (o.captions && o.caption_key)
        return cli_usage(CMD, "give --captions or --caption-key, not both");
    if ((rc = cli_llm_finish(CMD, &g))) return rc;
    return run_reason(&g.p, &o, out, g.journal, prompt_file, system_opt, g.quiet);
}
