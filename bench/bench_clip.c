// bench_clip: CLIP inference speed against the BLAS of the same run.
//
// Generates a ViT-B/32-shaped model with random weights (open_clip layout, F32) in a temporary
// folder, then, in a child process (so that its peak memory is the engine's own):
//   - the forward pass of encode-images at batch 32 on 2 threads: images/s and the GFLOP/s
//     that this implies, against the GFLOP/s of plain BLAS sgemm calls of the same shapes
//     (every linear layer of the tower at batch 32, distinct weights per layer, same BLAS);
//   - the 12,000 edited captions of ../shared/data/circo/test_with_seize_captions.json through
//     the tokenizer and the text tower: texts/s;
//   - the peak resident memory against 1.3 × the weight bytes + 256 MB.
// Then `seize encode-images` end to end (decode + preprocess overlapped with the forward pass)
// on the fixture images, repeated to 96 inputs.
//
// Environment: SEIZE_BENCH_THREADS (default 2), SEIZE_BENCH_BATCH (32), SEIZE_BENCH_RUNS (5),
// SEIZE_BENCH_TEXT_BATCH (128, the encode-texts default),
// SEIZE_FIXTURES, SEIZE_DATA, SEIZE_BIN; SEIZE_BENCH_TEXTS=0 skips the captions.
#include "seize/clip.h"
#include "seize/core.h"
#include "seize/model.h"
#include "seize/text.h"

#include <cblas.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int env_int(const char *name, int def)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : def;
}

static const char *fixtures(void)
{
    const char *f = getenv("SEIZE_FIXTURES");
    return f && *f ? f : "../shared/fixtures";
}

// --- a random ViT-B/32 in the open_clip layout --------------------------------------------------

typedef struct tensor_spec {
    char name[96];
    int ndim;
    size_t shape[4];
    int kind; // 0 random ±scale, 1 ones, 2 zeros
} tensor_spec;

static size_t spec_count(const tensor_spec *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

static void add(tensor_spec *t, size_t *n, const char *name, int kind, int ndim, size_t a, size_t b,
                size_t c, size_t d)
{
    tensor_spec *s = &t[(*n)++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ndim = ndim;
    s->shape[0] = a, s->shape[1] = b, s->shape[2] = c, s->shape[3] = d;
    s->kind = kind;
}

static void add_blocks(tensor_spec *t, size_t *n, const char *prefix, int layers, size_t d,
                       size_t mlp)
{
    char nm[96];
    for (int l = 0; l < layers; l++) {
#define B(suffix, kind, ndim, a, b)                                                                \
    snprintf(nm, sizeof nm, "%s%d.%s", prefix, l, suffix);                                         \
    add(t, n, nm, kind, ndim, a, b, 0, 0)
        B("ln_1.weight", 1, 1, d, 0);
        B("ln_1.bias", 2, 1, d, 0);
        B("attn.in_proj_weight", 0, 2, 3 * d, d);
        B("attn.in_proj_bias", 0, 1, 3 * d, 0);
        B("attn.out_proj.weight", 0, 2, d, d);
        B("attn.out_proj.bias", 0, 1, d, 0);
        B("ln_2.weight", 1, 1, d, 0);
        B("ln_2.bias", 2, 1, d, 0);
        B("mlp.c_fc.weight", 0, 2, mlp, d);
        B("mlp.c_fc.bias", 0, 1, mlp, 0);
        B("mlp.c_proj.weight", 0, 2, d, mlp);
        B("mlp.c_proj.bias", 0, 1, d, 0);
#undef B
    }
}

static int cmp_spec(const void *a, const void *b)
{
    return strcmp(((const tensor_spec *)a)->name, ((const tensor_spec *)b)->name);
}

// Writes open_clip_model.safetensors + open_clip_config.json for `cfg` into dir; returns the
// weight bytes or 0 on failure.
static size_t write_model(const char *dir, const seize_clip_model_config *cfg)
{
    size_t cap = 16 + 12 * (size_t)(cfg->vision.layers + cfg->text.layers), n = 0;
    tensor_spec *t = calloc(cap, sizeof *t);
    size_t dv = (size_t)cfg->vision.width, dt = (size_t)cfg->text.width,
           p = (size_t)cfg->patch_size;
    size_t g = (size_t)(cfg->image_size / cfg->patch_size), E = (size_t)cfg->embed_dim;
    add(t, &n, "visual.conv1.weight", 0, 4, dv, 3, p, p);
    add(t, &n, "visual.class_embedding", 0, 1, dv, 0, 0, 0);
    add(t, &n, "visual.positional_embedding", 0, 2, 1 + g * g, dv, 0, 0);
    add(t, &n, "visual.ln_pre.weight", 1, 1, dv, 0, 0, 0);
    add(t, &n, "visual.ln_pre.bias", 2, 1, dv, 0, 0, 0);
    add(t, &n, "visual.ln_post.weight", 1, 1, dv, 0, 0, 0);
    add(t, &n, "visual.ln_post.bias", 2, 1, dv, 0, 0, 0);
    add(t, &n, "visual.proj", 0, 2, dv, E, 0, 0);
    add(t, &n, "token_embedding.weight", 0, 2, (size_t)cfg->vocab_size, dt, 0, 0);
    add(t, &n, "positional_embedding", 0, 2, (size_t)cfg->context_length, dt, 0, 0);
    add(t, &n, "ln_final.weight", 1, 1, dt, 0, 0, 0);
    add(t, &n, "ln_final.bias", 2, 1, dt, 0, 0, 0);
    add(t, &n, "text_projection", 0, 2, dt, E, 0, 0);
    add(t, &n, "logit_scale", 1, 0, 0, 0, 0, 0);
    add_blocks(t, &n, "visual.transformer.resblocks.", cfg->vision.layers, dv,
               (size_t)cfg->vision.mlp_dim);
    add_blocks(t, &n, "transformer.resblocks.", cfg->text.layers, dt, (size_t)cfg->text.mlp_dim);
    qsort(t, n, sizeof *t, cmp_spec);

    // header
    size_t hcap = n * 200 + 64, hlen = 0, off = 0;
    char *h = malloc(hcap);
    hlen += (size_t)snprintf(h + hlen, hcap - hlen, "{");
    for (size_t i = 0; i < n; i++) {
        size_t bytes = spec_count(&t[i]) * 4;
        hlen += (size_t)snprintf(h + hlen, hcap - hlen, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[",
                                 i ? "," : "", t[i].name);
        for (int k = 0; k < t[i].ndim; k++)
            hlen += (size_t)snprintf(h + hlen, hcap - hlen, "%s%zu", k ? "," : "", t[i].shape[k]);
        hlen += (size_t)snprintf(h + hlen, hcap - hlen, "],\"data_offsets\":[%zu,%zu]}", off,
                                 off + bytes);
        off += bytes;
    }
    hlen += (size_t)snprintf(h + hlen, hcap - hlen, "}");
    while (hlen % 8)
        h[hlen++] = ' '; // keeps the data 8-byte aligned

    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/open_clip_model.safetensors", dir);
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    uint64_t hl = hlen;
    fwrite(&hl, 8, 1, fp);
    fwrite(h, 1, hlen, fp);
    enum { CHUNK = 1 << 20 };
    float *buf = malloc(CHUNK * sizeof *buf);
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        size_t cnt = spec_count(&t[i]);
        float scale = 0.02f;
        while (cnt) {
            size_t k = cnt < CHUNK ? cnt : CHUNK;
            for (size_t j = 0; j < k; j++) {
                s = s * 1664525u + 1013904223u;
                buf[j] = t[i].kind == 1   ? 1.0f
                         : t[i].kind == 2 ? 0.0f
                                          : scale * ((float)(s >> 8) / 8388608.0f - 1.0f);
            }
            fwrite(buf, sizeof *buf, k, fp);
            cnt -= k;
        }
    }
    free(buf);
    free(h);
    free(t);
    if (fclose(fp) != 0) return 0;

    snprintf(path, sizeof path, "%s/open_clip_config.json", dir);
    fp = fopen(path, "w");
    if (!fp) return 0;
    fprintf(
        fp,
        "{\"model_cfg\": {\"embed_dim\": %d, \"quick_gelu\": true,\n"
        " \"vision_cfg\": {\"image_size\": %d, \"layers\": %d, \"width\": %d, \"patch_size\": %d, "
        "\"head_width\": %d, \"mlp_ratio\": %g},\n"
        " \"text_cfg\": {\"context_length\": %d, \"vocab_size\": %d, \"width\": %d, \"heads\": %d, "
        "\"layers\": %d, \"mlp_ratio\": %g}}}\n",
        cfg->embed_dim, cfg->image_size, cfg->vision.layers, cfg->vision.width, cfg->patch_size,
        cfg->vision.width / cfg->vision.heads, (double)cfg->vision.mlp_dim / cfg->vision.width,
        cfg->context_length, cfg->vocab_size, cfg->text.width, cfg->text.heads, cfg->text.layers,
        (double)cfg->text.mlp_dim / cfg->text.width);
    fclose(fp);
    return off + 8 + hlen;
}

// --- the BLAS baseline
// ------------------------------------------------------------------------------

// cblas_sgemm over the linear layers of the vision tower at batch B (x · wᵀ, distinct
// weights per layer), as the forward pass calls them: one pass, its seconds and FLOPs.
typedef struct baseline {
    const seize_clip_model_config *cfg;
    int B;
    float *w, *x, *y;
    size_t wsz;
} baseline;

static int baseline_init(baseline *b, const seize_clip_model_config *cfg, int B)
{
    b->cfg = cfg;
    b->B = B;
    size_t g = (size_t)(cfg->image_size / cfg->patch_size), T = 1 + g * g;
    size_t d = (size_t)cfg->vision.width, mlp = (size_t)cfg->vision.mlp_dim,
           L = (size_t)cfg->vision.layers;
    size_t p3 = 3 * (size_t)cfg->patch_size * (size_t)cfg->patch_size, M = (size_t)B * T;
    b->wsz = 3 * d * d + d * d + 2 * d * mlp;
    size_t nw = L * b->wsz + d * p3, nx = M * (mlp > p3 ? mlp : p3),
           ny = M * (mlp > 3 * d ? mlp : 3 * d);
    b->w = malloc(nw * sizeof(float));
    b->x = malloc(nx * sizeof(float));
    b->y = malloc(ny * sizeof(float));
    if (!b->w || !b->x || !b->y) return -1;
    for (size_t i = 0; i < nw; i++)
        b->w[i] = (float)((i * 2654435761u) % 1000) * 1e-5f;
    for (size_t i = 0; i < nx; i++)
        b->x[i] = (float)((i * 40503u) % 1000) * 1e-3f;
    memset(b->y, 0, ny * sizeof(float));
    return 0;
}

static void baseline_free(baseline *b)
{
    free(b->w);
    free(b->x);
    free(b->y);
}

static double baseline_pass(baseline *b, int threads, double *flops_out)
{
    const seize_clip_model_config *cfg = b->cfg;
    seize_blas_threads_set(threads); // plain BLAS: one call per product, BLAS's threads
    size_t g = (size_t)(cfg->image_size / cfg->patch_size), np = g * g, T = 1 + np;
    size_t d = (size_t)cfg->vision.width, mlp = (size_t)cfg->vision.mlp_dim,
           L = (size_t)cfg->vision.layers;
    size_t p3 = 3 * (size_t)cfg->patch_size * (size_t)cfg->patch_size, M = (size_t)b->B * T;
    float *x = b->x, *y = b->y, *w = b->w;
    double flops = 0, t0 = seize_now();
#define GEMM(m_, n_, k_, wp)                                                                       \
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(m_), (int)(n_), (int)(k_), 1.0f, x, \
                (int)(k_), (wp), (int)(k_), 0.0f, y, (int)(n_));                                   \
    flops += 2.0 * (double)(m_) * (double)(n_) * (double)(k_)
    GEMM((size_t)b->B * np, d, p3, w + L * b->wsz);
    for (size_t l = 0; l < L; l++) {
        float *wl = w + l * b->wsz;
        GEMM(M, 3 * d, d, wl);
        GEMM(M, d, d, wl + 3 * d * d);
        GEMM(M, mlp, d, wl + 4 * d * d);
        GEMM(M, d, mlp, wl + 4 * d * d + d * mlp);
    }
#undef GEMM
    double t = seize_now() - t0;
    seize_blas_threads_set(1); // back to the engine's policy (as the CLI sets it)
    *flops_out = flops;
    return t;
}

// --- the child: the engine's own numbers ---------------------------------------------------------

// Random pixels in [-2, 2) from the generator state *s (a linear congruential generator).
static void fill_pixels(float *px, size_t n, uint32_t *s)
{
    for (size_t i = 0; i < n; i++) {
        *s = *s * 1664525u + 1013904223u;
        px[i] = (float)(*s >> 8) / 4194304.0f - 2.0f;
    }
}

// One warm-up batch of B random images: are the features finite?
static void child_images_warmup(seize_clip *c, int B, uint32_t *s, FILE *out)
{
    size_t S = (size_t)seize_clip_image_size(c), E = seize_clip_embed_dim(c), per = 3 * S * S;
    float *px = malloc((size_t)B * per * sizeof *px), *feat = malloc((size_t)B * E * sizeof *feat);
    fill_pixels(px, (size_t)B * per, s);
    seize_clip_encode_images(c, px, (size_t)B, feat); // warm-up
    int finite = 1;
    for (size_t i = 0; i < (size_t)B * E; i++)
        finite &= isfinite(feat[i]);
    fprintf(out, "img_finite %d\nimg_n %d\n", finite, B);
    free(px);
    free(feat);
}

// Every edited caption of a captions file (a list of queries or an object of queries), up to
// cap; *list is the array they come from (to be freed when it is not root).
static size_t edited_captions(json_t *root, const char **texts, size_t cap, json_t **list)
{
    size_t n = 0, qi;
    json_t *q;
    *list = root;
    if (json_is_object(root)) {
        *list = json_array();
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v) json_array_append(*list, v);
    }
    json_array_foreach(*list, qi, q)
    {
        json_t *caps = json_object_get(q, "multi_gpt-3.5_opt");
        size_t ci;
        json_t *cv;
        json_array_foreach(caps, ci, cv) if (json_is_string(cv) && n < cap) texts[n++] =
            json_string_value(cv);
    }
    return n;
}

// Tokenizes and encodes the CIRCO edited captions with state c; their time and text FLOPs.
static void child_texts_run(const seize_clip_model *m, seize_clip *c, seize_tokenizer *tok,
                            json_t *root, FILE *out)
{
    size_t cap = 16384, E = seize_clip_embed_dim(c);
    const char **texts = malloc(cap * sizeof *texts);
    json_t *list;
    size_t n = edited_captions(root, texts, cap, &list);
    size_t ctx = (size_t)seize_clip_context_length(c);
    int32_t *ids = malloc(n * ctx * sizeof *ids);
    float *tf = malloc(n * E * sizeof *tf);
    double t1 = seize_now();
    int rc = seize_tokenizer_encode_batch(tok, texts, n, (int)ctx, ids);
    double t2 = seize_now();
    if (rc == 0) rc = seize_clip_encode_token_list(c, ids, n, tf, NULL, NULL);
    double t3 = seize_now();
    double flops = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t best = 0;
        for (size_t t = 1; t < ctx; t++)
            if (ids[i * ctx + t] > ids[i * ctx + best]) best = t;
        flops += seize_clip_text_flops(m, (int)best + 1);
    }
    if (rc == 0)
        fprintf(out, "txt_n %zu\ntxt_tok_s %.6f\ntxt_enc_s %.6f\ntxt_flops %.6g\n", n, t2 - t1,
                t3 - t2, flops);
    free(ids);
    free(tf);
    free(texts);
    if (list != root) json_decref(list);
}

// texts: the CIRCO edited captions, with a state of the encode-texts batch size
static int child_texts(const seize_clip_model *m, const char *dir, int threads, FILE *out)
{
    seize_clip *c = NULL;
    if (seize_clip_new(m, env_int("SEIZE_BENCH_TEXT_BATCH", 128), threads, &c) < 0) {
        fprintf(stderr, "bench_clip: %s\n", seize_errmsg());
        return 1;
    }
    const char *data = getenv("SEIZE_DATA");
    char cap_path[PATH_MAX];
    snprintf(cap_path, sizeof cap_path, "%s/circo/test_with_seize_captions.json",
             data && *data ? data : "../shared/data");
    json_t *root = NULL;
    seize_tokenizer *tok = NULL;
    if (env_int("SEIZE_BENCH_TEXTS", 1) && seize_json_load(cap_path, &root) == 0 &&
        seize_tokenizer_load(dir, &tok) == 0)
        child_texts_run(m, c, tok, root, out);
    json_decref(root);
    seize_tokenizer_free(tok);
    seize_clip_free(c);
    return 0;
}

// forward passes and BLAS baseline passes in turn (the machine may be shared: best of each)
static int child_forward(const seize_clip_model *m, int B, int threads, uint32_t *s, FILE *out)
{
    int runs = env_int("SEIZE_BENCH_RUNS", 5);
    seize_clip *c = NULL;
    if (seize_clip_new(m, B, threads, &c) < 0) return 1;
    baseline bl;
    if (baseline_init(&bl, seize_clip_model_get_config(m), B) < 0) return 1;
    size_t S = (size_t)seize_clip_image_size(c), E = seize_clip_embed_dim(c), per = 3 * S * S;
    float *px = malloc((size_t)B * per * sizeof *px), *feat = malloc((size_t)B * E * sizeof *feat);
    fill_pixels(px, (size_t)B * per, s);
    double best_fwd = 1e30, best_base = 1e30, base_flops = 0;
    baseline_pass(&bl, threads, &base_flops); // warm-up
    for (int r = 0; r < runs; r++) {
        double t0 = seize_now();
        seize_clip_encode_images(c, px, (size_t)B, feat);
        double t = seize_now() - t0;
        if (t < best_fwd) best_fwd = t;
        t = baseline_pass(&bl, threads, &base_flops);
        if (t < best_base) best_base = t;
    }
    fprintf(out, "img_s %.6f\nbase_s %.6f\nbase_flops %.6g\n", best_fwd, best_base, base_flops);
    baseline_free(&bl);
    free(px);
    free(feat);
    seize_clip_free(c);
    return 0;
}

static int child(const char *dir, const char *results)
{
    int threads = env_int("SEIZE_BENCH_THREADS", 2), B = env_int("SEIZE_BENCH_BATCH", 32);
    seize_blas_threads_set(1); // the application's BLAS policy for the model (as the CLI's)
    seize_clip_model *m = NULL;
    seize_clip *c = NULL;
    if (seize_clip_model_load(dir, &m) < 0 || seize_clip_new(m, B, threads, &c) < 0) {
        fprintf(stderr, "bench_clip: %s\n", seize_errmsg());
        return 1;
    }
    FILE *out = fopen(results, "w");
    if (!out) return 1;
    uint32_t s = 99;
    child_images_warmup(c, B, &s, out);
    seize_clip_free(c);
    if (child_texts(m, dir, threads, out)) return 1;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(out, "maxrss_kb %ld\nweight_bytes %zu\n", ru.ru_maxrss,
            seize_clip_model_weight_bytes(m));
    if (child_forward(m, B, threads, &s, out)) return 1;
    fclose(out);
    seize_clip_model_free(m);
    return 0;
}

static double result(const char *path, const char *key)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return NAN;
    char k[64];
    double v, found = NAN;
    while (fscanf(fp, "%63s %lf", k, &v) == 2)
        if (!strcmp(k, key)) found = v;
    fclose(fp);
    return found;
}

// FLOPs that the engine really executes for one image: the last block computes its keys and
// values for every token but everything else for the class token only.
static double executed_image_flops(const seize_clip_model *m)
{
    const seize_clip_model_config *c = seize_clip_model_get_config(m);
    double g = c->image_size / c->patch_size, T = 1 + g * g, d = c->vision.width,
           mlp = c->vision.mlp_dim;
    double full_last = 2 * T * d * d + 4 * T * T * d + 4 * T * d * mlp; // out, attention, MLP
    double one_last = 2 * d * d + 4 * T * d + 4 * d * mlp;
    return seize_clip_image_flops(m) - full_last + one_last;
}

// The model folder: a random ViT-B-32 with the fixtures' tokenizer files (the real CLIP BPE,
// for the captions); fx gets the fixtures' real path. The weights' size, or 0.
static size_t prepare(const char *dir, char *fx)
{
    seize_clip_model_config cfg;
    seize_clip_model_preset("ViT-B-32", &cfg);
    size_t wbytes = write_model(dir, &cfg);
    if (!wbytes) {
        fprintf(stderr, "bench_clip: cannot write the model to %s\n", dir);
        return 0;
    }
    if (realpath(fixtures(), fx)) {
        for (int i = 0; i < 2; i++) {
            const char *f = i ? "merges.txt" : "vocab.json";
            char src[2 * PATH_MAX], dst[2 * PATH_MAX];
            snprintf(src, sizeof src, "%s/models/tiny-openai/%s", fx, f);
            snprintf(dst, sizeof dst, "%s/%s", dir, f);
            if (symlink(src, dst) != 0) perror("bench_clip: symlink");
        }
    }
    return wbytes;
}

// The child's numbers as the report's lines; the forward-only images per second in *ips.
static int report(const char *dir, const char *results, int B, int threads, double *ips)
{
    seize_clip_model *m = NULL;
    if (seize_clip_model_load(dir, &m) < 0) return -1;
    double img_s = result(results, "img_s"), img_n = result(results, "img_n");
    double nominal = seize_clip_image_flops(m), executed = executed_image_flops(m);
    double base = result(results, "base_flops") / result(results, "base_s") / 1e9;
    *ips = img_n / img_s;
    double gf_nom = *ips * nominal / 1e9, gf_exe = *ips * executed / 1e9;
    printf("clip ViT-B-32 encode-images forward (batch %d, %d threads, random weights): %.2f "
           "images/s; "
           "%.2f GFLOP/image -> %.1f GFLOP/s; BLAS sgemm of the same shapes: %.1f GFLOP/s; "
           "ratio %.3f\n",
           B, threads, *ips, nominal / 1e9, gf_nom, base, gf_nom / base);
    printf("clip ViT-B-32 encode-images forward, counting only executed FLOPs (%.2f GFLOP/image, "
           "last block pruned to the class token): %.1f GFLOP/s; ratio %.3f\n",
           executed / 1e9, gf_exe, gf_exe / base);
    if (result(results, "img_finite") != 1) printf("clip: WARNING: non-finite image features\n");
    double tn = result(results, "txt_n");
    if (!isnan(tn)) {
        double tt = result(results, "txt_tok_s"), te = result(results, "txt_enc_s");
        double tf = result(results, "txt_flops");
        printf("clip ViT-B-32 encode-texts (%.0f CIRCO edited captions, batch %d, %d threads): "
               "%.1f texts/s "
               "(tokenize %.2f s + encode %.2f s); text tower %.1f GFLOP/s (%.3f of the sgemm "
               "figure)\n",
               tn, env_int("SEIZE_BENCH_TEXT_BATCH", 128), threads, tn / (tt + te), tt, te,
               tf / te / 1e9, tf / te / 1e9 / base);
    } else {
        printf(
            "clip ViT-B-32 encode-texts: skipped (captions file or tokenizer files not found)\n");
    }
    double rss = result(results, "maxrss_kb") * 1024.0, wb = result(results, "weight_bytes");
    double limit = 1.3 * wb + 256.0 * 1048576.0;
    printf(
        "clip ViT-B-32 peak memory: %.0f MB for %.0f MB of weights (limit 1.3 x weights + 256 MB = "
        "%.0f MB): %s\n",
        rss / 1048576.0, wb / 1048576.0, limit / 1048576.0, rss <= limit ? "ok" : "OVER");
    seize_clip_model_free(m);
    return 0;
}

// seize encode-images end to end on the fixture images (decoding overlapped)
static void end_to_end(const char *dir, const char *fx, int B, int threads, double ips)
{
    const char *bin = getenv("SEIZE_BIN");
    char list[PATH_MAX + 32], imgs[2 * PATH_MAX], cmd[4 * PATH_MAX];
    snprintf(list, sizeof list, "%s/list.txt", dir);
    snprintf(imgs, sizeof imgs, "%s/images.txt", fx);
    char **names = NULL;
    size_t n_names = 0;
    if (!bin || !*bin || access(bin, X_OK) != 0 || seize_read_lines(imgs, &names, &n_names) != 0 ||
        !n_names)
        return;
    FILE *fp = fopen(list, "w");
    size_t n_in = 96;
    for (size_t i = 0; fp && i < n_in; i++)
        fprintf(fp, "%s/images/%s\n", fx, names[i % n_names]);
    if (fp) fclose(fp);
    snprintf(cmd, sizeof cmd,
             "'%s' encode-images -q --model '%s' --out '%s/e2e.npy' --batch %d --threads %d "
             "--list '%s'",
             bin, dir, dir, B, threads, list);
    double t0 = seize_now();
    int st = system(cmd);
    double t = seize_now() - t0;
    if (st == 0)
        printf("clip ViT-B-32 seize encode-images end to end (%zu fixture images incl. a "
               "1600x1203 JPEG, "
               "decode + preprocess overlapped, model load included): %.2f images/s (%.3f of "
               "the forward-only rate)\n",
               n_in, n_in / t, n_in / t / ips);
    else
        printf("clip ViT-B-32 seize encode-images end to end: FAILED (status %d)\n", st);
    seize_lines_free(names, n_names);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--child")) return child(argv[2], argv[3]);
    int threads = env_int("SEIZE_BENCH_THREADS", 2), B = env_int("SEIZE_BENCH_BATCH", 32);
    const char *tmpbase = getenv("TMPDIR");
    char dir[PATH_MAX], results[PATH_MAX + 32], cmd[4 * PATH_MAX], fx[PATH_MAX] = "";
    snprintf(dir, sizeof dir, "%s/seize-bench-clip-XXXXXX", tmpbase && *tmpbase ? tmpbase : "/tmp");
    if (!mkdtemp(dir)) {
        perror("bench_clip: mkdtemp");
        return 1;
    }
    snprintf(results, sizeof results, "%s/results.txt", dir);
    int rc = 1;
    double ips = 0;
    if (!prepare(dir, fx)) goto done;
    snprintf(cmd, sizeof cmd, "/proc/%d/exe", (int)getpid());
    char self[PATH_MAX];
    ssize_t k = readlink(cmd, self, sizeof self - 1);
    if (k <= 0) goto done;
    self[k] = 0;
    snprintf(cmd, sizeof cmd, "'%s' --child '%s' '%s'", self, dir, results);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_clip: the child run failed\n");
        goto done;
    }
    if (report(dir, results, B, threads, &ips) < 0) goto done;
    end_to_end(dir, fx, B, threads, ips);
    rc = 0;
done:
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_clip: could not remove %s\n", dir);
    return rc;
}
