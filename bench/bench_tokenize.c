// bench_tokenize: texts/s of the CLIP tokenizer on the 12,000 edited captions of CIRCO test
// (data/circo/test_with_seize_captions.json, key "multi_gpt-3.5_opt", 15 per query), one thread,
// against the pure-Python reference (bench/ref_tokenize.py: open_clip's cleaning and BPE with
// the standard library) run in the same benchmark on the same texts, start-up included. The
// reference's ids must agree with ours on every text. Prints one line with the ratios.
#include "seize/core.h"
#include "seize/text.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PER_QUERY 15
#define SECONDS 2.0

static double cpu_self(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_children(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static const char *env(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

// The first PER_QUERY edited captions of every query (*n of them; the strings are root's).
static const char **edited_captions(json_t *root, size_t *n)
{
    size_t cap = json_array_size(root) * PER_QUERY, qi;
    const char **texts = calloc(cap ? cap : 1, sizeof *texts);
    json_t *q;
    *n = 0;
    json_array_foreach(root, qi, q)
    {
        json_t *caps = json_object_get(q, "multi_gpt-3.5_opt");
        for (size_t k = 0; k < PER_QUERY && k < json_array_size(caps); k++)
            if (json_is_string(json_array_get(caps, k)))
                texts[(*n)++] = json_string_value(json_array_get(caps, k));
    }
    return texts;
}

// How many of the reference's id lines (file `out`, one text a line) equal ours; the lines read
// in *lines.
static size_t count_agreeing(const char *out, const int32_t *ids, size_t n, size_t *lines)
{
    size_t agree = 0;
    FILE *fp = fopen(out, "r");
    *lines = 0;
    if (!fp) return 0;
    char buf[4096];
    while (*lines < n && fgets(buf, sizeof buf, fp)) {
        const int32_t *row = ids + *lines * SEIZE_CONTEXT;
        char *p = buf;
        int ok = 1;
        for (int k = 0; k < SEIZE_CONTEXT; k++) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p || v != row[k]) ok = 0;
            p = end;
        }
        agree += ok;
        (*lines)++;
    }
    fclose(fp);
    return agree;
}

typedef struct ref_run {
    int rc;              // the reference's exit status (system())
    double t, cpu;       // wall and CPU seconds, start-up included
    size_t agree, lines; // texts whose ids agree with ours; id lines read
} ref_run;

// The Python reference, start-up included, on the same texts (JSON Lines in, ids out).
static int run_reference(const char *py, const char *model, const char **texts, size_t n,
                         const int32_t *ids, ref_run *r)
{
    char dir[] = "/tmp/seize_bench_tok_XXXXXX";
    if (!mkdtemp(dir)) return -1;
    char in[600], out[600], cmd[16384];
    snprintf(in, sizeof in, "%s/texts.jsonl", dir);
    snprintf(out, sizeof out, "%s/ids.txt", dir);
    FILE *fp = fopen(in, "w");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_string(texts[i]);
        char *line = json_dumps(s, JSON_ENCODE_ANY);
        fprintf(fp, "%s\n", line);
        free(line);
        json_decref(s);
    }
    fclose(fp);
    snprintf(
        cmd, sizeof cmd,
        "'%s' bench/ref_tokenize.py --vocab '%s/vocab.json' --merges '%s/merges.txt' < '%s' > '%s'",
        py, model, model, in, out);
    double cc0 = cpu_children();
    double t0 = seize_now();
    r->rc = system(cmd);
    r->t = seize_now() - t0;
    r->cpu = cpu_children() - cc0;
    r->lines = 0;
    r->agree = r->rc == 0 ? count_agreeing(out, ids, n, &r->lines) : 0;
    unlink(in);
    unlink(out);
    rmdir(dir);
    return 0;
}

int main(void)
{
    const char *fix = env("SEIZE_FIXTURES", "../shared/fixtures");
    const char *data = env("SEIZE_DATA", "../shared/data");
    const char *py = env("PYTHON", "/usr/bin/python3");
    char model[4096], path[4096];
    snprintf(model, sizeof model, "%s/models/tiny-openai", fix);
    snprintf(path, sizeof path, "%s/circo/test_with_seize_captions.json", data);

    json_t *root = NULL;
    if (seize_json_load(path, &root) < 0 || !json_is_array(root)) {
        printf("tokenize: skipped (%s)\n", root ? "not a JSON array" : seize_errmsg());
        return 0;
    }
    size_t n;
    const char **texts = edited_captions(root, &n);

    // seize: load, then a pass with an empty word cache, then passes with a warm one.
    double c0 = cpu_self();
    double t0 = seize_now();
    seize_tokenizer *tok;
    if (seize_tokenizer_load(model, &tok) < 0) {
        printf("tokenize: skipped (%s)\n", seize_errmsg());
        return 0;
    }
    double t_load = seize_now() - t0;
    int32_t *ids = malloc(n * SEIZE_CONTEXT * sizeof *ids);
    t0 = seize_now();
    if (seize_tokenizer_encode_batch(tok, texts, n, SEIZE_CONTEXT, ids) < 0) {
        printf("tokenize: FAILED: %s\n", seize_errmsg());
        return 1;
    }
    double t_cold = seize_now() - t0;
    double cpu_ours = cpu_self() - c0; // load + first pass
    size_t done = 0;
    double el;
    t0 = seize_now();
    do {
        seize_tokenizer_encode_batch(tok, texts, n, SEIZE_CONTEXT, ids);
        done += n;
        el = seize_now() - t0;
    } while (el < SECONDS);
    double warm = (double)done / el;

    ref_run r;
    if (run_reference(py, model, texts, n, ids, &r) < 0) return 1;
    double ours_e2e = (double)n / (t_load + t_cold), ref = (double)n / r.t;
    if (r.rc != 0 || r.lines != n) {
        printf("tokenize: %zu texts, seize %.0f texts/s warm; Python reference FAILED (%d)\n", n,
               warm, r.rc);
        return 1;
    }
    printf(
        "tokenize: %zu CIRCO captions, 1 thread | seize: load %.0f ms, first pass %.0f "
        "texts/s, warm %.0f texts/s | Python reference, start-up included: %.0f texts/s | ids "
        "agree %zu/%zu | ratio load+first pass vs reference %.1fx (CPU time %.1fx), warm %.1fx\n",
        n, t_load * 1e3, (double)n / t_cold, warm, ref, r.agree, n, ours_e2e / ref,
        r.cpu / cpu_ours, warm / ref);
    free(ids);
    free(texts);
    seize_tokenizer_free(tok);
    json_decref(root);
    return r.agree == n ? 0 : 1;
}
