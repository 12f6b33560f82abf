// libFuzzer target: the model configuration files (config.json of transformers and
// open_clip_config.json) read by seize_clip_model_load, next to a tiny weights file generated here
// (embed 4, image 4, patch 2, widths 4, one layer per tower, MLP 8, context 3, vocabulary 5).
// A configuration that loads is then used: one image and one text are encoded.
//
// Input byte 0 picks the layout: even = transformers (config.json + model.safetensors), odd =
// open_clip (open_clip_config.json + open_clip_model.safetensors); the rest is the config file.
#include "seize/clip.h"
#include "seize/model.h"

#include "fuzz_files.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { E = 4, IMG = 4, P = 2, W = 4, F = 8, CTX = 3, VOCAB = 5, NPOS = 1 + (IMG / P) * (IMG / P) };

typedef struct spec {
    const char *name;
    int ndim;
    int shape[4];
} spec;

static const spec tf[] = {
    {"vision_model.embeddings.patch_embedding.weight", 4, {W, 3, P, P}},
    {"vision_model.embeddings.class_embedding", 1, {W}},
    {"vision_model.embeddings.position_embedding.weight", 2, {NPOS, W}},
    {"vision_model.pre_layrnorm.weight", 1, {W}},
    {"vision_model.pre_layrnorm.bias", 1, {W}},
    {"vision_model.post_layernorm.weight", 1, {W}},
    {"vision_model.post_layernorm.bias", 1, {W}},
    {"visual_projection.weight", 2, {E, W}},
    {"text_model.embeddings.token_embedding.weight", 2, {VOCAB, W}},
    {"text_model.embeddings.position_embedding.weight", 2, {CTX, W}},
    {"text_model.final_layer_norm.weight", 1, {W}},
    {"text_model.final_layer_norm.bias", 1, {W}},
    {"text_projection.weight", 2, {E, W}},
    {"logit_scale", 0, {0}},
    {NULL, 0, {0}},
};
static const spec tf_block[] = {
    {"layer_norm1.weight", 1, {W}},
    {"layer_norm1.bias", 1, {W}},
    {"layer_norm2.weight", 1, {W}},
    {"layer_norm2.bias", 1, {W}},
    {"mlp.fc1.weight", 2, {F, W}},
    {"mlp.fc1.bias", 1, {F}},
    {"mlp.fc2.weight", 2, {W, F}},
    {"mlp.fc2.bias", 1, {W}},
    {"self_attn.out_proj.weight", 2, {W, W}},
    {"self_attn.out_proj.bias", 1, {W}},
    {"self_attn.q_proj.weight", 2, {W, W}},
    {"self_attn.q_proj.bias", 1, {W}},
    {"self_attn.k_proj.weight", 2, {W, W}},
    {"self_attn.k_proj.bias", 1, {W}},
    {"self_attn.v_proj.weight", 2, {W, W}},
    {"self_attn.v_proj.bias", 1, {W}},
    {NULL, 0, {0}},
};
static const spec oc[] = {
    {"visual.conv1.weight", 4, {W, 3, P, P}},
    {"visual.class_embedding", 1, {W}},
    {"visual.positional_embedding", 2, {NPOS, W}},
    {"visual.ln_pre.weight", 1, {W}},
    {"visual.ln_pre.bias", 1, {W}},
    {"visual.ln_post.weight", 1, {W}},
    {"visual.ln_post.bias", 1, {W}},
    {"visual.proj", 2, {W, E}},
    {"token_embedding.weight", 2, {VOCAB, W}},
    {"positional_embedding", 2, {CTX, W}},
    {"ln_final.weight", 1, {W}},
    {"ln_final.bias", 1, {W}},
    {"text_projection", 2, {W, E}},
    {"logit_scale", 0, {0}},
    {NULL, 0, {0}},
};
static const spec oc_block[] = {
    {"ln_1.weight", 1, {W}},
    {"ln_1.bias", 1, {W}},
    {"ln_2.weight", 1, {W}},
    {"ln_2.bias", 1, {W}},
    {"mlp.c_fc.weight", 2, {F, W}},
    {"mlp.c_fc.bias", 1, {F}},
    {"mlp.c_proj.weight", 2, {W, F}},
    {"mlp.c_proj.bias", 1, {W}},
    {"attn.out_proj.weight", 2, {W, W}},
    {"attn.out_proj.bias", 1, {W}},
    {"attn.in_proj_weight", 2, {3 * W, W}},
    {"attn.in_proj_bias", 1, {3 * W}},
    {NULL, 0, {0}},
};

typedef struct buf {
    char *s;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        if (!(b->s = realloc(b->s, b->cap))) abort();
    }
    memcpy(b->s + b->n, p, n);
    b->n += n;
}

// Appends one tensor's header entry and its F32 data (small deterministic values).
static void tensor(buf *hdr, buf *dat, const char *prefix, const spec *s, unsigned *seed)
{
    size_t count = 1;
    for (int i = 0; i < s->ndim; i++)
        count *= (size_t)s->shape[i];
    char e[512];
    int n = snprintf(e, sizeof e, "%s\"%s%s\": {\"dtype\": \"F32\", \"shape\": [",
                     hdr->n > 1 ? ", " : "", prefix, s->name);
    put(hdr, e, (size_t)n);
    for (int i = 0; i < s->ndim; i++) {
        n = snprintf(e, sizeof e, "%s%d", i ? ", " : "", s->shape[i]);
        put(hdr, e, (size_t)n);
    }
    n = snprintf(e, sizeof e, "], \"data_offsets\": [%zu, %zu]}", dat->n, dat->n + count * 4);
    put(hdr, e, (size_t)n);
    for (size_t i = 0; i < count; i++) {
        *seed = *seed * 1103515245u + 12345u;
        float v = (float)((*seed >> 16) & 0xff) / 512.0f - 0.25f;
        if ((strstr(s->name, "ln") || strstr(s->name, "norm")) && strstr(s->name, "weight"))
            v += 1.0f; // layer norm scales near 1
        put(dat, &v, 4);
    }
}

static void write_weights(const char *dir_name, const char *file, const spec *top,
                          const spec *block, const char *vprefix, const char *tprefix)
{
    buf hdr = {0}, dat = {0};
    unsigned seed = 1;
    put(&hdr, "{", 1);
    for (const spec *s = top; s->name; s++)
        tensor(&hdr, &dat, "", s, &seed);
    for (const spec *s = block; s->name; s++)
        tensor(&hdr, &dat, vprefix, s, &seed);
    for (const spec *s = block; s->name; s++)
        tensor(&hdr, &dat, tprefix, s, &seed);
    put(&hdr, "}", 1);
    while (hdr.n % 8)
        put(&hdr, " ", 1);
    char name[256];
    snprintf(name, sizeof name, "%s/%s", dir_name, file);
    buf all = {0};
    uint64_t hl = hdr.n;
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(hl >> (8 * i));
    put(&all, le, 8);
    put(&all, hdr.s, hdr.n);
    put(&all, dat.s, dat.n);
    fuzz_write(7, name, all.s, all.n);
    free(hdr.s);
    free(dat.s);
    free(all.s);
}

static char dirs[2][600];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_dir_init("fuzz_model_config");
    const char *sub[2] = {"tf", "oc"};
    for (int k = 0; k < 2; k++) {
        snprintf(dirs[k], sizeof dirs[k], "%s/%s", fuzz_dir, sub[k]);
        if (mkdir(dirs[k], 0700) < 0 && errno != EEXIST) abort();
    }
    write_weights("tf", "model.safetensors", tf, tf_block, "vision_model.encoder.layers.0.",
                  "text_model.encoder.layers.0.");
    write_weights("oc", "open_clip_model.safetensors", oc, oc_block,
                  "visual.transformer.resblocks.0.", "transformer.resblocks.0.");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int open_clip = data[0] & 1;
    fuzz_write(0, open_clip ? "oc/open_clip_config.json" : "tf/config.json", data + 1, size - 1);
    seize_clip_model *m = NULL;
    if (seize_clip_model_load(dirs[open_clip], &m) < 0) {
        if (m) abort(); // an error leaves *out NULL
        return 0;
    }
    // the layout is the weights file's: "transformers" (model.safetensors) or "open_clip"
    if (strcmp(seize_clip_model_layout(m), open_clip ? "open_clip" : "transformers")) abort();
    const seize_clip_model_config *c = seize_clip_model_get_config(m);
    // the tiny weights fix every shape; only the head counts and the activation may vary
    if (c->embed_dim != E || c->image_size != IMG || c->patch_size != P || c->vision.width != W ||
        c->text.width != W || c->vision.mlp_dim != F || c->text.mlp_dim != F ||
        c->vision.layers != 1 || c->text.layers != 1 || c->context_length != CTX ||
        c->vocab_size != VOCAB || c->vision.heads < 1 || W % c->vision.heads || c->text.heads < 1 ||
        W % c->text.heads)
        abort();
    seize_clip *clip = NULL;
    if (seize_clip_new(m, 1, 1, &clip) == 0) {
        float pixels[3 * IMG * IMG], out[E];
        for (int i = 0; i < 3 * IMG * IMG; i++)
            pixels[i] = (float)(i % 7) / 7.0f - 0.5f;
        seize_clip_encode_images(clip, pixels, 1, out);
        for (int i = 0; i < E; i++)
            if (!isfinite(out[i])) abort();
        const int32_t ids[CTX] = {3, 1, 4};
        if (seize_clip_encode_tokens(clip, ids, 1, out) != 0) abort();
        for (int i = 0; i < E; i++)
            if (!isfinite(out[i])) abort();
        seize_clip_free(clip);
    }
    seize_clip_model_free(m);
    return 0;
}
