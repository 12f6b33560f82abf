// bench_clip: CLIP inference speed against limits measured in the same run.
//
// Generates a ViT-B/32-shaped model with random weights (open_clip layout, F32) in a temporary
// folder, then, in a child process (so that its peak memory is the engine's own):
//   - the forward pass of encode-images at batch 32 on 2 threads: images/s and the GFLOP/s
//     that this implies, against the GFLOP/s of plain BLAS sgemm calls of the same shapes
//     (every linear layer of the tower at batch 32, distinct weights per layer, same BLAS);
//   - the 12,000 edited captions of ../shared/data/circo/test_with_seize_captions.json through
//     the tokenizer and the text tower: texts/s;
//   - the peak resident memory against 1.3 × the weight bytes + 256 MB.
// Then the engine per precision (fp32, bf16, int8; one child process each, seize_clip_open):
//   - ViT-B/32 on shared inputs (32 random images, 128 tokenised captions in batches of 32):
//     images/s, texts/s, single-image latency, load time and memory, the engine line, and the
//     bf16/int8 embeddings' cosine with fp32. A precision the engine refuses prints "n/a".
//   - the references on the same weights and inputs: bench/clip_torch.py (open_clip's towers
//     restated in PyTorch: its cosine with seize fp32, its speed, the export to ONNX) and
//     bench/bench_ort.js (ONNX Runtime, npm onnxruntime-node); seize ÷ ONNX Runtime fp32 with
//     the aims (fp32 1.25×, bf16 2×, int8 2.5×); and seize fp32 once more in a child
//     with the other OPENBLAS_CORETYPE (Haswell's AVX2 kernels forced, or the variable unset
//     when the environment forces them): the speed does not depend on it.
//   - ViT-L/14- and ViT-bigG-14-shaped models with 2 layers per tower: time per layer per
//     image, G(FL)OP/s as a fraction of the CPU's peak for the precision (kernel-only loops of
//     this file: FMA, vdpbf16ps, vpdpbusd, each run only when cpuid has it), load and memory.
// And `seize encode-images` end to end (decode + preprocess overlapped with the forward pass)
// on the fixture images, repeated to 96 inputs.
//
// Environment: SEIZE_BENCH_THREADS (default 2), SEIZE_BENCH_BATCH (32), SEIZE_BENCH_RUNS (3),
// SEIZE_BENCH_TEXT_BATCH (128, the encode-texts default), SEIZE_BENCH_PREC_RUNS (3: best of,
// per precision and for ONNX Runtime), SEIZE_BENCH_REF_RUNS (1: PyTorch), SEIZE_BENCH_SHAPE_BATCH
// (4), SEIZE_BENCH_SRC (bench: where the scripts are), PYTHON, NODE_PATH (onnxruntime-node),
// SEIZE_FIXTURES, SEIZE_DATA, SEIZE_BIN; SEIZE_BENCH_TEXTS=0 skips the captions,
// SEIZE_BENCH_REFS=0 the references, SEIZE_BENCH_SHAPES=0 the large shapes.
#include "peak.h"

#include "seize/clip.h"
#include "seize/core.h"
#include "seize/model.h"
#include "seize/text.h"

#include <cblas.h>
#include <immintrin.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
        "{\"model_cfg\": {\"embed_dim\": %d, \"quick_gelu\": %s,\n"
        " \"vision_cfg\": {\"image_size\": %d, \"layers\": %d, \"width\": %d, \"patch_size\": %d, "
        "\"head_width\": %d, \"mlp_ratio\": %g},\n"
        " \"text_cfg\": {\"context_length\": %d, \"vocab_size\": %d, \"width\": %d, \"heads\": %d, "
        "\"layers\": %d, \"mlp_ratio\": %g}}}\n",
        cfg->embed_dim, cfg->act == SEIZE_ACT_QUICK_GELU ? "true" : "false", cfg->image_size,
        cfg->vision.layers, cfg->vision.width, cfg->patch_size,
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
    int runs = env_int("SEIZE_BENCH_RUNS", 3);
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
    char line[512], k[64];
    double v, found = NAN;
    while (fgets(line, sizeof line, fp))
        if (sscanf(line, "%63s %lf", k, &v) == 2 && !strcmp(k, key)) found = v;
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

static const char *prec_names[3] = {"fp32", "bf16", "int8"};

// The three peaks (fp32, bf16, int8) measured again, pk keeping the best so far (the machine
// may be shared: the best is the quiet machine's); with `print`, their line.
static void peak_report(int threads, double pk[3], int print)
{
    const char *nm[3];
    for (int k = 0; k < 3; k++) {
        double g = peak_measure(k, threads, &nm[k]);
        pk[k] = g > pk[k] ? g : pk[k];
    }
    if (!print) return;
    printf("cpu peak (kernel-only loops, %d threads, best of 3 at each of 3 points of the run):",
           threads);
    for (int k = 0; k < 3; k++) {
        if (pk[k] > 0)
            printf("%s %s %s %.0f G%s/s", k ? ";" : "", prec_names[k], nm[k], pk[k],
                   k == 2 ? "OP" : "FLOP");
        else
            printf("%s %s n/a (no %s on this CPU)", k ? ";" : "", prec_names[k], nm[k]);
    }
    printf("\n");
}

// --- the inputs shared with the references
// --------------------------------------------------------

enum { N_TEXTS = 128, TEXT_BATCH = 32, LAT_RUNS = 9 };

// The first N_TEXTS CIRCO edited captions through the tokenizer of dir into ids: 1, or 0 when
// the captions file or the tokenizer is missing.
static int caption_ids(const char *dir, int32_t *ids, int ctx)
{
    const char *data = getenv("SEIZE_DATA");
    char cap_path[PATH_MAX];
    snprintf(cap_path, sizeof cap_path, "%s/circo/test_with_seize_captions.json",
             data && *data ? data : "../shared/data");
    json_t *root = NULL, *list = NULL;
    seize_tokenizer *tok = NULL;
    const char *texts[N_TEXTS];
    int ok = 0;
    if (seize_json_load(cap_path, &root) == 0 && seize_tokenizer_load(dir, &tok) == 0 &&
        edited_captions(root, texts, N_TEXTS, &list) == N_TEXTS)
        ok = seize_tokenizer_encode_batch(tok, texts, N_TEXTS, ctx, ids) == 0;
    if (list && list != root) json_decref(list);
    json_decref(root);
    seize_tokenizer_free(tok);
    return ok;
}

// pixels.npy (B, 3, S, S) random pixels and ids.npy (N_TEXTS, context) int32: CIRCO captions,
// else synthetic texts of 5..24 tokens. 0, or -1. *real: whether the texts are captions.
static int write_inputs(const char *dir, const seize_clip_model_config *cfg, int B, int *real)
{
    size_t S = (size_t)cfg->image_size, per = 3 * S * S, ctx = (size_t)cfg->context_length;
    float *px = malloc((size_t)B * per * sizeof *px);
    int32_t *ids = calloc(N_TEXTS * ctx, sizeof *ids);
    char path[PATH_MAX + 32];
    int rc = -1;
    if (!px || !ids) goto done;
    uint32_t s = 4242;
    fill_pixels(px, (size_t)B * per, &s);
    size_t pshape[4] = {(size_t)B, 3, S, S}, ishape[2] = {N_TEXTS, ctx};
    snprintf(path, sizeof path, "%s/pixels.npy", dir);
    if (seize_npy_save(path, SEIZE_F32, 4, pshape, px) < 0) goto done;
    *real = caption_ids(dir, ids, (int)ctx);
    for (size_t i = 0; i < N_TEXTS && !*real; i++) {
        size_t n = 5 + (i * 7) % 20, t = 0;
        ids[i * ctx + t++] = cfg->vocab_size - 2; // start of text
        for (size_t j = 0; j < n; j++) {
            s = s * 1664525u + 1013904223u;
            ids[i * ctx + t++] = 1 + (int32_t)((s >> 8) % (uint32_t)(cfg->vocab_size - 3));
        }
        ids[i * ctx + t] = cfg->vocab_size - 1; // end of text
    }
    snprintf(path, sizeof path, "%s/ids.npy", dir);
    rc = seize_npy_save(path, SEIZE_I32, 2, ishape, ids) < 0 ? -1 : 0;
done:
    free(px);
    free(ids);
    return rc;
}

// --- a precision's child: load, open, memory, speed
// -----------------------------------------------

typedef struct proc_mem {
    long rss, anon, file, hwm; // kB
} proc_mem;

static void proc_mem_read(proc_mem *pm)
{
    memset(pm, 0, sizeof *pm);
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    while (fp && fgets(line, sizeof line, fp)) {
        sscanf(line, "VmRSS: %ld", &pm->rss);
        sscanf(line, "RssAnon: %ld", &pm->anon);
        sscanf(line, "RssFile: %ld", &pm->file);
        sscanf(line, "VmHWM: %ld", &pm->hwm);
    }
    if (fp) fclose(fp);
}

// Saves (n, E) embeddings as dir/seize_<prec>_<what>.npy.
static void save_emb(const char *dir, const char *prec, const char *what, const float *x, size_t n,
                     size_t E)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/seize_%s_%s.npy", dir, prec, what);
    size_t shape[2] = {n, E};
    if (seize_npy_save(path, SEIZE_F32, 2, shape, x) < 0)
        fprintf(stderr, "bench_clip: %s\n", seize_errmsg());
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// B images (dir/pixels.npy when `inputs`, else random): best forward time of runs; with inputs
// 1, the embeddings are saved and the single-image latency (median of LAT_RUNS) is measured
// (inputs 2: the speed only).
static void prec_images(seize_clip *c, const char *dir, int k, int B, int inputs, FILE *out)
{
    int runs = env_int("SEIZE_BENCH_PREC_RUNS", 3);
    size_t S = (size_t)seize_clip_image_size(c), E = seize_clip_embed_dim(c), per = 3 * S * S;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/pixels.npy", dir);
    seize_npy *a = NULL;
    float *px = NULL, *feat = malloc((size_t)B * E * sizeof *feat);
    uint32_t s = 7;
    if (inputs && seize_npy_load(path, &a) == 0 && a->count == (size_t)B * per)
        px = seize_npy_f32(a);
    else if (!inputs && (px = malloc((size_t)B * per * sizeof *px)))
        fill_pixels(px, (size_t)B * per, &s);
    if (!px || !feat) goto done;
    seize_clip_encode_images(c, px, (size_t)B, feat); // warm-up
    proc_mem pm;
    proc_mem_read(&pm); // mapped weights count once the forward has touched them
    fprintf(out, "rss1_kb %ld\nhwm1_kb %ld\n", pm.rss, pm.hwm);
    double best = 1e30, lat[LAT_RUNS];
    for (int r = 0; r < runs; r++) {
        double t0 = seize_now();
        seize_clip_encode_images(c, px, (size_t)B, feat);
        double t = seize_now() - t0;
        best = t < best ? t : best;
    }
    const char *kernel;
    fprintf(out, "img_n %d\nimg_s %.6f\npeak %.3f\n", B, best,
            peak_measure(k, seize_clip_threads(c), &kernel)); // under the same load, if any
    if (inputs != 1) goto done;
    save_emb(dir, prec_names[k], "img", feat, (size_t)B, E);
    seize_clip_encode_images(c, px, 1, feat);
    for (int r = 0; r < LAT_RUNS; r++) {
        double t0 = seize_now();
        seize_clip_encode_images(c, px, 1, feat);
        lat[r] = seize_now() - t0;
    }
    qsort(lat, LAT_RUNS, sizeof *lat, cmp_double);
    fprintf(out, "lat1_s %.6f\n", lat[LAT_RUNS / 2]);
done:
    if (!a) free(px);
    seize_npy_free(a);
    free(feat);
}

// The texts of dir/ids.npy in batches of TEXT_BATCH (each computed up to its longest end of
// text): best time of runs; the embeddings are saved when `save`.
static void prec_texts(seize_clip *c, const char *dir, const char *prec, int save, FILE *out)
{
    int runs = env_int("SEIZE_BENCH_PREC_RUNS", 3);
    size_t E = seize_clip_embed_dim(c), ctx = (size_t)seize_clip_context_length(c);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/ids.npy", dir);
    seize_npy *a = NULL;
    if (seize_npy_load(path, &a) < 0 || a->dtype != SEIZE_I32 || a->ndim != 2 ||
        a->shape[1] != ctx) {
        seize_npy_free(a);
        return;
    }
    size_t n = a->shape[0];
    const int32_t *ids = a->data;
    float *feat = malloc(n * E * sizeof *feat);
    double best = 1e30;
    for (int r = 0; feat && r <= runs; r++) { // r == 0: warm-up
        double t0 = seize_now();
        for (size_t i = 0; i < n; i += TEXT_BATCH) {
            size_t b = n - i < TEXT_BATCH ? n - i : TEXT_BATCH;
            if (seize_clip_encode_tokens(c, ids + i * ctx, b, feat + i * E) < 0) {
                fprintf(stderr, "bench_clip: %s\n", seize_errmsg());
                goto done;
            }
        }
        double t = seize_now() - t0;
        if (r && t < best) best = t;
    }
    fprintf(out, "txt_n %zu\ntxt_s %.6f\n", n, best);
    if (save) save_emb(dir, prec, "txt", feat, n, E);
done:
    free(feat);
    seize_npy_free(a);
}

// --child-prec DIR PREC RESULTS FULL B: model load and seize_clip_open timed, memory after them,
// then the images (and with FULL, on the shared inputs: texts, latency, embeddings). A refused
// precision writes "refused 1" and its message. The engine line goes to RESULTS.desc.
static int child_prec(const char *dir, const char *prec, const char *results, int full, int B)
{
    seize_blas_threads_set(1);
    char dpath[PATH_MAX + 16];
    snprintf(dpath, sizeof dpath, "%s.desc", results);
    FILE *out = fopen(results, "w"), *desc = fopen(dpath, "w");
    seize_clip_model *m = NULL;
    seize_clip *c = NULL;
    seize_clip_params p = {.max_batch = B, .threads = env_int("SEIZE_BENCH_THREADS", 2)};
    if (!out || !desc || seize_precision_parse(prec, &p.precision) < 0) return 1;
    double t0 = seize_now();
    if (seize_clip_model_load(dir, &m) < 0) {
        fprintf(stderr, "bench_clip: %s\n", seize_errmsg());
        return 1;
    }
    double t1 = seize_now();
    int rc = seize_clip_open(m, p, &c);
    double t2 = seize_now();
    if (rc < 0) {
        fprintf(desc, "%s\n", seize_errmsg());
        fprintf(out, "refused 1\n");
    } else {
        proc_mem pm;
        proc_mem_read(&pm);
        fprintf(desc, "%s\n", seize_clip_describe(c));
        fprintf(out,
                "load_s %.6f\nopen_s %.6f\nrss_kb %ld\nanon_kb %ld\nfile_kb %ld\nhwm_kb %ld\n"
                "wbytes %zu\nparams %zu\n",
                t1 - t0, t2 - t1, pm.rss, pm.anon, pm.file, pm.hwm, seize_clip_weight_bytes(c),
                seize_clip_model_parameters(m));
        fflush(out);
        prec_images(c, dir, (int)p.precision, B, full, out);
        if (full) prec_texts(c, dir, prec, full == 1, out);
    }
    seize_clip_free(c);
    seize_clip_model_free(m);
    fclose(desc);
    return fclose(out) != 0;
}

// --- the parent: precisions, references, report
// -----------------------------------------------------

typedef struct prec_result {
    int ok;
    char desc[1024]; // the engine line, or why the precision was refused
    double load_s, open_s, rss_kb, anon_kb, file_kb, hwm_kb, rss1_kb, hwm1_kb, wbytes, img_n, img_s,
        txt_n, txt_s, lat1_s;
    double peak;   // of the precision, measured in the child right after its forward passes
    double params; // the model's parameters
} prec_result;

// The first line of a file (without its newline) into buf, or "".
static void read_line(const char *path, char *buf, size_t n)
{
    FILE *fp = fopen(path, "r");
    buf[0] = 0;
    if (fp && fgets(buf, (int)n, fp)) buf[strcspn(buf, "\n")] = 0;
    if (fp) fclose(fp);
}

// `self --child-prec dir <prec> dir/res_<prec>.txt full B` for precision k; with `coretype`
// (not NULL), under `env OPENBLAS_CORETYPE=<coretype>` ("" unsets it) into res_<prec>_env.txt.
static void run_precision_env(const char *self, const char *dir, int k, int full, int B,
                              const char *coretype, prec_result *p)
{
    char res[PATH_MAX + 32], desc[PATH_MAX + 48], cmd[3 * PATH_MAX + 192], env[96] = "";
    snprintf(res, sizeof res, "%s/res_%s%s.txt", dir, prec_names[k], coretype ? "_env" : "");
    snprintf(desc, sizeof desc, "%s.desc", res);
    if (coretype && *coretype)
        snprintf(env, sizeof env, "env OPENBLAS_CORETYPE=%s ", coretype);
    else if (coretype)
        snprintf(env, sizeof env, "env -u OPENBLAS_CORETYPE ");
    snprintf(cmd, sizeof cmd, "%s'%s' --child-prec '%s' %s '%s' %d %d", env, self, dir,
             prec_names[k], res, full, B);
    memset(p, 0, sizeof *p);
    int st = system(cmd);
    read_line(desc, p->desc, sizeof p->desc);
    p->ok = st == 0 && result(res, "refused") != 1 && !isnan(result(res, "img_s"));
    if (st != 0) snprintf(p->desc, sizeof p->desc, "the child run failed (status %d)", st);
    p->load_s = result(res, "load_s"), p->open_s = result(res, "open_s");
    p->rss_kb = result(res, "rss_kb"), p->anon_kb = result(res, "anon_kb");
    p->file_kb = result(res, "file_kb"), p->hwm_kb = result(res, "hwm_kb");
    p->rss1_kb = result(res, "rss1_kb"), p->hwm1_kb = result(res, "hwm1_kb");
    p->wbytes = result(res, "wbytes"), p->peak = result(res, "peak");
    p->params = result(res, "params");
    p->img_n = result(res, "img_n"), p->img_s = result(res, "img_s");
    p->txt_n = result(res, "txt_n"), p->txt_s = result(res, "txt_s");
    p->lat1_s = result(res, "lat1_s");
}

static void run_precision(const char *self, const char *dir, int k, int full, int B, prec_result *p)
{
    run_precision_env(self, dir, k, full, B, NULL, p);
}

// Matrix-product FLOPs of one image through the vision tower: one full layer and what the
// engine executes (the last block computes keys and values for every token, the rest for the
// class token only).
static void vision_flops(const seize_clip_model_config *c, double *layer, double *executed,
                         double *all)
{
    double g = c->image_size / c->patch_size, np = g * g, T = 1 + np, d = c->vision.width,
           mlp = c->vision.mlp_dim, L = c->vision.layers, p3 = 3.0 * c->patch_size * c->patch_size;
    *layer = 2 * T * (4 * d * d + 2 * d * mlp) + 4 * T * T * d;
    double last = 2 * T * 2 * d * d + 2 * (d * d + d * d + 2 * d * mlp) + 4 * T * d;
    *executed = 2 * np * d * p3 + (L - 1) * *layer + last + 2.0 * d * c->embed_dim;
    if (all) *all = *executed - last + *layer; // the last block on every token
}

// Load time and resident memory after model load + seize_clip_open, against the weight bytes in
// the state's precision.
static void print_load(const char *model, const prec_result *r)
{
    for (int k = 0; k < 3; k++) {
        const prec_result *p = &r[k];
        if (!p->ok) {
            printf("clip %s load %s: n/a (%s)\n", model, prec_names[k], p->desc);
            continue;
        }
        double ideal = p->params * (k == 0 ? 4 : k == 1 ? 2 : 1); // every parameter in k
        printf("clip %s load %s: model load %.3f s + seize_clip_open %.3f s; resident after "
               "them %.0f MB (anon %.0f, file %.0f; peak %.0f), after the first forward %.0f MB "
               "(peak %.0f); weights in the state's form %.0f MB (seize_clip_weight_bytes), all "
               "parameters in %s %.0f MB: resident after the forward / that = %.2fx\n",
               model, prec_names[k], p->load_s, p->open_s, p->rss_kb / 1024, p->anon_kb / 1024,
               p->file_kb / 1024, p->hwm_kb / 1024, p->rss1_kb / 1024, p->hwm1_kb / 1024,
               p->wbytes / 1048576, prec_names[k], ideal / 1048576, p->rss1_kb * 1024 / ideal);
    }
}

// "= 0.77 of the bf16 peak (463 GFLOP/s, ...)" for a rate g (G(FL)OP/s) of precision k: against
// the run's best peak pk[k] (the quiet machine's), with the loop that the case's child ran right
// after its forward passes (lower when the machine was loaded then); ends the line.
static void print_peak_frac(double g, const prec_result *p, int k, const double pk[3])
{
    if (!(pk[k] > 0)) {
        printf("(no %s peak loop on this CPU)\n", prec_names[k]);
        return;
    }
    printf("= %.2f of the %s peak (%.0f G%s/s, the run's best; the loop right after this case: "
           "%.0f%s)\n",
           g / pk[k], prec_names[k], pk[k], k == 2 ? "OP" : "FLOP", p->peak,
           p->peak < 0.9 * pk[k] ? ", the machine was loaded" : "");
}

// "= 1.23x ONNX Runtime (aim >= 1.25x: below)" for seize's rate a against ORT's b.
static void print_vs(double a, double b, double aim)
{
    if (isnan(b) || b <= 0)
        printf("(no ONNX Runtime figure)");
    else
        printf("= %.2fx ONNX Runtime fp32 (aim >= %.2fx: %s)", a / b, aim,
               a / b >= aim ? "met" : "below");
}

// --- references and fidelity
// -------------------------------------------------------------------------

// The value of `key` in a "key value" file as text into buf ("?" when missing).
static const char *result_str(const char *path, const char *key, char *buf, size_t n)
{
    FILE *fp = fopen(path, "r");
    char line[512], k[64], v[256];
    snprintf(buf, n, "?");
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "%63s %255s", k, v) == 2 && !strcmp(k, key)) {
            size_t len = strlen(v) < n - 1 ? strlen(v) : n - 1;
            memcpy(buf, v, len);
            buf[len] = 0;
        }
    if (fp) fclose(fp);
    return buf;
}

// PyTorch (bench/clip_torch.py: check, timing, ONNX export) on dir's model and inputs: its
// "key value" lines into ref. 0, or -1.
static int run_torch(const char *dir, const char *ref)
{
    const char *src = getenv("SEIZE_BENCH_SRC"), *py = getenv("PYTHON");
    char cmd[3 * PATH_MAX + 128];
    snprintf(cmd, sizeof cmd, "'%s' '%s/clip_torch.py' '%s' %d > '%s'", py && *py ? py : "python3",
             src && *src ? src : "bench", dir, env_int("SEIZE_BENCH_REF_RUNS", 1), ref);
    int st = system(cmd);
    if (st != 0)
        printf("clip ViT-B-32 PyTorch reference: FAILED (status %d; scripts/install-bench-deps.sh "
               "installs python3-torch and python3-onnx)\n",
               st);
    return st ? -1 : 0;
}

// ONNX Runtime (bench/bench_ort.js) on the exported towers: its lines appended to out. As many
// runs as seize's precisions get (it is the ratios' denominator).
static void run_ort(const char *dir, const char *out)
{
    const char *src = getenv("SEIZE_BENCH_SRC");
    char cmd[3 * PATH_MAX + 128];
    snprintf(cmd, sizeof cmd, "node '%s/bench_ort.js' '%s' %d >> '%s'", src && *src ? src : "bench",
             dir, env_int("SEIZE_BENCH_PREC_RUNS", 3), out);
    int st = system(cmd);
    if (st != 0)
        printf("clip ViT-B-32 ONNX Runtime reference: FAILED (status %d; NODE_PATH needs "
               "onnxruntime-node: scripts/install-bench-deps.sh)\n",
               st);
}

// ONNX Runtime's best times of two sessions (ref and other) appended to ref (the last value of
// a key is the one read).
static void ort_best(const char *ref, const char *other)
{
    static const char *keys[3] = {"ort_img_s", "ort_txt_s", "ort_lat1_s"};
    double v[3];
    for (int i = 0; i < 3; i++)
        v[i] = fmin(result(ref, keys[i]), result(other, keys[i])); // NaN: the other one
    FILE *fp = fopen(ref, "a");
    for (int i = 0; fp && i < 3; i++)
        if (!isnan(v[i])) fprintf(fp, "%s %.6f\n", keys[i], v[i]);
    if (fp) fclose(fp);
}

// The references' line; 1 when a reference that ran disagrees with seize fp32 (min cosine
// under 0.99999: then the comparison would not be of the same model), else 0.
static int print_refs(const char *ref)
{
    static const char *keys[4] = {"torch_cos_img", "torch_cos_txt", "ort_cos_img", "ort_cos_txt"};
    char tv[64], ov[64], op[64], cs[4][64];
    int bad = 0, ran = 0;
    for (int i = 0; i < 4; i++) {
        result_str(ref, keys[i], cs[i], sizeof cs[i]);
        bad |= result(ref, keys[i]) < 0.99999; // NaN (not run) is not a mismatch
        ran += !isnan(result(ref, keys[i]));
    }
    printf("clip ViT-B-32 references on the same random weights and inputs: PyTorch %s with "
           "open_clip's towers restated (bench/clip_torch.py; 2 threads, inference_mode): "
           "cosine with seize fp32 (min over rows) images %s, texts %s; ONNX Runtime %s (npm "
           "onnxruntime-node; exported by that torch, opset %s, dynamic batch and text length; "
           "2 intra-op threads, all graph optimisations): cosine images %s, texts %s (aim >= "
           "0.99999: %s)\n",
           result_str(ref, "torch_version", tv, sizeof tv), cs[0], cs[1],
           result_str(ref, "ort_version", ov, sizeof ov),
           result_str(ref, "onnx_opset", op, sizeof op), cs[2], cs[3],
           bad       ? "MISMATCH"
           : ran < 4 ? "not all run"
                     : "ok");
    return bad;
}

// The smallest cosine between the rows of dir/seize_<prec>_<what>.npy and those of fp32.
static double min_cosine(const char *dir, const char *prec, const char *what)
{
    char pa[PATH_MAX + 64], pb[PATH_MAX + 64];
    snprintf(pa, sizeof pa, "%s/seize_%s_%s.npy", dir, prec, what);
    snprintf(pb, sizeof pb, "%s/seize_fp32_%s.npy", dir, what);
    seize_npy *a = NULL, *b = NULL;
    double worst = NAN;
    if (seize_npy_load(pa, &a) == 0 && seize_npy_load(pb, &b) == 0 && a->ndim == 2 &&
        b->ndim == 2 && a->count == b->count) {
        const float *x = seize_npy_f32(a), *y = seize_npy_f32(b);
        size_t n = a->shape[0], E = a->shape[1];
        worst = 1;
        for (size_t i = 0; i < n; i++) {
            double xy = 0, xx = 0, yy = 0;
            for (size_t j = 0; j < E; j++) {
                xy += (double)x[i * E + j] * y[i * E + j];
                xx += (double)x[i * E + j] * x[i * E + j];
                yy += (double)y[i * E + j] * y[i * E + j];
            }
            double cs = xy / sqrt(xx * yy);
            worst = cs < worst ? cs : worst;
        }
    }
    seize_npy_free(a);
    seize_npy_free(b);
    return worst;
}

static void print_fidelity(const char *dir, const prec_result *r)
{
    static const double aims[3] = {1, 0.999, 0.99};
    printf("clip ViT-B-32 fidelity vs seize fp32 on the random model (min cosine over rows):");
    for (int k = 1; k < 3; k++) {
        if (!r[k].ok) {
            printf("%s %s n/a", k > 1 ? ";" : "", prec_names[k]);
            continue;
        }
        double ci = min_cosine(dir, prec_names[k], "img"),
               ct = min_cosine(dir, prec_names[k], "txt");
        printf("%s %s images %.6f, texts %.6f (aim >= %g: %s)", k > 1 ? ";" : "", prec_names[k], ci,
               ct, aims[k], ci >= aims[k] && ct >= aims[k] ? "met" : "below");
    }
    printf("\n");
}

// seize fp32 under the other OPENBLAS_CORETYPE setting (b32_run) against the environment's.
static void print_alt(const prec_result *r, const prec_result *alt, const char *alt_ct,
                      const char *ct, double oi, double ot)
{
    printf("clip ViT-B-32 forward seize fp32 with OPENBLAS_CORETYPE=%s (a subprocess; the run "
           "above: %s): ",
           *alt_ct ? alt_ct : "(unset)", ct && *ct ? ct : "(unset)");
    if (!alt->ok || !r->ok || !(alt->txt_s > 0)) {
        printf("n/a (%s)\n", alt->desc);
        return;
    }
    double ips = alt->img_n / alt->img_s, tps = alt->txt_n / alt->txt_s;
    printf("%.2f images/s ", ips);
    print_vs(ips, oi, 1.25);
    printf(", %.1f texts/s ", tps);
    print_vs(tps, ot, 1.25);
    printf("; %.2fx / %.2fx the run above (%s)\n", ips / (r->img_n / r->img_s),
           tps / (r->txt_n / r->txt_s), alt->desc);
}

// The ViT-B/32 lines: engines, references, speeds and ratios, fidelity, latency; 1 when a
// reference disagrees with seize fp32.
static int print_b32(const char *dir, const prec_result *r, const char *ref, const double pk[3],
                     const seize_clip_model_config *cfg, int real_texts, const prec_result *alt,
                     const char *alt_ct)
{
    static const double aims[3] = {1.25, 2.0, 2.5};
    const char *ct = getenv("OPENBLAS_CORETYPE");
    int B = env_int("SEIZE_BENCH_BATCH", 32), threads = env_int("SEIZE_BENCH_THREADS", 2);
    for (int k = 0; k < 3; k++)
        printf("clip ViT-B-32 engine %s: %s%s%s\n", prec_names[k], r[k].ok ? "" : "n/a (",
               r[k].desc[0] ? r[k].desc : "?", r[k].ok ? "" : ")");
    int bad = print_refs(ref);
    double layer, exe, all, oi = result(ref, "ort_img_n") / result(ref, "ort_img_s"),
                            ot = result(ref, "ort_txt_n") / result(ref, "ort_txt_s");
    vision_flops(cfg, &layer, &exe, &all);
    printf("clip ViT-B-32 forward on the same inputs (batch %d, %d threads, OPENBLAS_CORETYPE=%s; "
           "%d random images; %d %s in batches of %d: the references compute each batch up to its "
           "longest end-of-text, seize groups a batch's texts by length):",
           B, threads, ct && *ct ? ct : "(unset)", B, N_TEXTS,
           real_texts ? "CIRCO edited captions" : "synthetic texts", TEXT_BATCH);
    printf(" PyTorch fp32 %.2f images/s, %.1f texts/s; ONNX Runtime fp32 %.2f images/s, %.1f "
           "texts/s%s\n",
           result(ref, "torch_img_n") / result(ref, "torch_img_s"),
           result(ref, "torch_txt_n") / result(ref, "torch_txt_s"), oi, ot,
           isnan(oi) || isnan(ot) ? " (nan: not run)" : "");
    for (int k = 0; k < 3; k++) {
        if (!r[k].ok) {
            printf("clip ViT-B-32 forward seize %s: n/a (%s)\n", prec_names[k], r[k].desc);
            continue;
        }
        double ips = r[k].img_n / r[k].img_s, tps = r[k].txt_n / r[k].txt_s;
        printf("clip ViT-B-32 forward seize %s: %.2f images/s ", prec_names[k], ips);
        print_vs(ips, oi, aims[k]);
        printf(", %.1f texts/s ", tps);
        print_vs(tps, ot, aims[k]);
        printf("; images %.1f G%s/s executed ", ips * exe / 1e9, k == 2 ? "OP" : "FLOP");
        print_peak_frac(ips * exe / 1e9, &r[k], k, pk);
    }
    print_alt(&r[0], alt, alt_ct, ct, oi, ot);
    if (pk[0] > 0 && oi > 0) // what the fp32 aim asks of this CPU
        printf("clip ViT-B-32 fp32 image ceiling on this CPU (every executed FLOP at the fp32 peak "
               "%.0f GFLOP/s, nothing else): %.2f images/s = %.2fx ONNX Runtime fp32; ONNX Runtime "
               "runs at %.2f of that peak (%.2f GFLOP/image)\n",
               pk[0], pk[0] / exe * 1e9, pk[0] / exe * 1e9 / oi, oi * all / 1e9 / pk[0], all / 1e9);
    print_fidelity(dir, r);
    printf("clip ViT-B-32 single-image latency (batch 1, median of %d):", LAT_RUNS);
    for (int k = 0; k < 3; k++)
        if (r[k].ok)
            printf(" seize %s %.1f ms (%.2fx ONNX Runtime);", prec_names[k], r[k].lat1_s * 1e3,
                   result(ref, "ort_lat1_s") / r[k].lat1_s);
        else
            printf(" seize %s n/a;", prec_names[k]);
    printf(" ONNX Runtime fp32 %.1f ms\n", result(ref, "ort_lat1_s") * 1e3);
    print_load("ViT-B-32", r);
    return bad;
}

// --- ViT-L/14- and ViT-bigG-shaped models: per-layer figures
// --------------------------------------

typedef struct shape_result {
    seize_clip_model_config cfg;
    char label[96];
    int ok, B;
    prec_result r[3];
} shape_result;

// A 2-layer-per-tower model of `preset`'s shapes in dir/<preset> (removed after): per
// precision, load, open, memory and the vision forward at SEIZE_BENCH_SHAPE_BATCH (4) images.
static void shape_run(const char *self, const char *dir, const char *preset, shape_result *sr)
{
    char sub[PATH_MAX + 32], cmd[PATH_MAX + 64];
    memset(sr, 0, sizeof *sr);
    sr->B = env_int("SEIZE_BENCH_SHAPE_BATCH", 4);
    snprintf(sr->label, sizeof sr->label, "%s-shaped (2 layers per tower)", preset);
    if (seize_clip_model_preset(preset, &sr->cfg) < 0) return;
    sr->cfg.vision.layers = sr->cfg.text.layers = 2;
    snprintf(sub, sizeof sub, "%s/%s", dir, preset);
    if (mkdir(sub, 0700) != 0 || !write_model(sub, &sr->cfg)) {
        fprintf(stderr, "bench_clip: cannot write the model to %s\n", sub);
        return;
    }
    sr->ok = 1;
    for (int k = 0; k < 3; k++)
        run_precision(self, sub, k, 0, sr->B, &sr->r[k]);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", sub);
    if (system(cmd) != 0) fprintf(stderr, "bench_clip: could not remove %s\n", sub);
}

// Time per layer per image (one full layer's FLOPs at the forward's executed-FLOP rate), as a
// fraction of that precision's peak; then the load time and memory.
static void print_shape(const shape_result *sr, const double pk[3])
{
    const seize_clip_model_config *cfg = &sr->cfg;
    if (!sr->ok) {
        printf("clip %s: FAILED (cannot write the model)\n", sr->label);
        return;
    }
    double layer, exe;
    vision_flops(cfg, &layer, &exe, NULL);
    int g = cfg->image_size / cfg->patch_size;
    for (int k = 0; k < 3; k++) {
        const prec_result *p = &sr->r[k];
        if (!p->ok) {
            printf("clip %s per layer %s: n/a (%s)\n", sr->label, prec_names[k], p->desc);
            continue;
        }
        double rate = p->img_n * exe / p->img_s; // executed FLOP/s
        printf("clip %s per layer %s (width %d, %d tokens, batch %d, %d threads): %.1f ms per "
               "image (%.1f GFLOP), %.1f G%s/s ",
               sr->label, prec_names[k], cfg->vision.width, 1 + g * g, sr->B,
               env_int("SEIZE_BENCH_THREADS", 2), layer / rate * 1e3, layer / 1e9, rate / 1e9,
               k == 2 ? "OP" : "FLOP");
        print_peak_frac(rate / 1e9, p, k, pk);
    }
    print_load(sr->label, sr->r);
}

typedef struct b32_result {
    seize_clip_model_config cfg;
    int ok, real_texts;
    char ref[PATH_MAX + 32];
    prec_result r[3];
    const char *alt_ct; // fp32 again under this OPENBLAS_CORETYPE ("" = unset): alt
    prec_result alt;
} b32_result;

// The ViT-B/32 precisions and the references, on shared inputs written to dir: seize fp32
// (whose embeddings PyTorch checks), PyTorch, ONNX Runtime, seize bf16 and int8, ONNX Runtime
// again (the best of its two sessions counts: the load of a shared machine changes).
static void b32_run(const char *self, const char *dir, b32_result *b)
{
    int B = env_int("SEIZE_BENCH_BATCH", 32), refs = env_int("SEIZE_BENCH_REFS", 1);
    char ort2[PATH_MAX + 32];
    memset(b, 0, sizeof *b);
    seize_clip_model_preset("ViT-B-32", &b->cfg);
    if (write_inputs(dir, &b->cfg, B, &b->real_texts) < 0) {
        fprintf(stderr, "bench_clip: cannot write the inputs: %s\n", seize_errmsg());
        return;
    }
    b->ok = 1;
    snprintf(b->ref, sizeof b->ref, "%s/ref.txt", dir);
    snprintf(ort2, sizeof ort2, "%s/ort2.txt", dir);
    run_precision(self, dir, 0, 1, B, &b->r[0]);
    refs = refs && b->r[0].ok && run_torch(dir, b->ref) == 0;
    if (refs) run_ort(dir, b->ref);
    for (int k = 1; k < 3; k++)
        run_precision(self, dir, k, 1, B, &b->r[k]);
    // "whatever OPENBLAS_CORETYPE says": fp32 again with the AVX2 kernels forced (Haswell), or
    // with the variable unset when the environment forces them
    const char *ct = getenv("OPENBLAS_CORETYPE");
    b->alt_ct = ct && !strcasecmp(ct, "Haswell") ? "" : "Haswell";
    run_precision_env(self, dir, 0, 2, B, b->alt_ct, &b->alt);
    if (refs) {
        run_ort(dir, ort2);
        ort_best(b->ref, ort2);
    }
}

// The engine cases: peaks measured at three points of the run (their best is the quiet
// machine's), ViT-B/32 per precision against the references, then the large shapes. 1 when a
// reference disagrees with seize fp32 (the comparison would not be of the same model).
static int engine_all(const char *self, const char *dir, const char *fx, double ips)
{
    int threads = env_int("SEIZE_BENCH_THREADS", 2), shapes = env_int("SEIZE_BENCH_SHAPES", 1);
    double pk[3] = {0, 0, 0};
    static b32_result b;
    static shape_result sr[2];
    peak_report(threads, pk, 0);
    b32_run(self, dir, &b);
    end_to_end(dir, fx, env_int("SEIZE_BENCH_BATCH", 32), threads, ips);
    peak_report(threads, pk, 0);
    for (int i = 0; i < 2 && shapes; i++)
        shape_run(self, dir, i ? "ViT-bigG-14" : "ViT-L-14", &sr[i]);
    peak_report(threads, pk, 1);
    int bad = b.ok ? print_b32(dir, b.r, b.ref, pk, &b.cfg, b.real_texts, &b.alt, b.alt_ct) : 0;
    for (int i = 0; i < 2 && shapes; i++)
        print_shape(&sr[i], pk);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--child")) return child(argv[2], argv[3]);
    if (argc == 7 && !strcmp(argv[1], "--child-prec"))
        return child_prec(argv[2], argv[3], argv[4], atoi(argv[5]), atoi(argv[6]));
    setvbuf(stdout, NULL, _IOLBF, 0); // lines in order with the child processes' output
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
    rc = engine_all(self, dir, fx, ips);
done:
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_clip: could not remove %s\n", dir);
    return rc;
}
