// CLIP model folders: layout detection, configuration, shape checks, float32 tensor views.
#include "seize/model.h"

#include "model_cache.h"

#include <jansson.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct seize_clip_model {
    char *dir, *weights_path, *note;
    const char *layout, *dtype, *preset;
    seize_clip_model_config cfg;
    seize_clip_model_weights w;
    seize_block_weights *vblocks, *tblocks;
    seize_st_file st;
    void **owned; // converted / transposed / realigned tensors
    size_t n_owned, cap_owned;
    size_t parameters, weight_bytes;
    nn_cache cache; // engine data derived from the weights (model_cache.h)
};

// --- presets -------------------------------------------------------------------------------------

static const struct {
    const char *name;
    seize_clip_model_config cfg;
} presets[] = {
    {"ViT-B-32",
     {512,
      224,
      32,
      {768, 12, 12, 3072},
      77,
      49408,
      {512, 12, 8, 2048},
      SEIZE_ACT_QUICK_GELU,
      1e-5f}},
    {"ViT-B-16",
     {512,
      224,
      16,
      {768, 12, 12, 3072},
      77,
      49408,
      {512, 12, 8, 2048},
      SEIZE_ACT_QUICK_GELU,
      1e-5f}},
    {"ViT-L-14",
     {768,
      224,
      14,
      {1024, 24, 16, 4096},
      77,
      49408,
      {768, 12, 12, 3072},
      SEIZE_ACT_QUICK_GELU,
      1e-5f}},
    {"ViT-H-14",
     {1024, 224, 14, {1280, 32, 16, 5120}, 77, 49408, {1024, 24, 16, 4096}, SEIZE_ACT_GELU, 1e-5f}},
    {"ViT-g-14",
     {1024, 224, 14, {1408, 40, 16, 6144}, 77, 49408, {1024, 24, 16, 4096}, SEIZE_ACT_GELU, 1e-5f}},
    {"ViT-bigG-14",
     {1280, 224, 14, {1664, 48, 16, 8192}, 77, 49408, {1280, 32, 20, 5120}, SEIZE_ACT_GELU, 1e-5f}},
};

int seize_clip_model_preset(const char *name, seize_clip_model_config *out)
{
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(presets[i].name, name)) {
            *out = presets[i].cfg;
            return 0;
        }
    return seize_error(SEIZE_ENOTFOUND, "unknown model preset '%s'", name);
}

// --- tensor names per layout ---------------------------------------------------------------------

typedef struct names {
    // printf formats; %d is the block index
    const char *v_patch, *v_class, *v_pos, *v_ln_pre_w, *v_ln_pre_b, *v_ln_post_w, *v_ln_post_b,
        *v_proj;
    const char *t_tok, *t_pos, *t_ln_w, *t_ln_b, *t_proj;
    const char *v_block, *t_block; // prefix of a block, e.g. "visual.transformer.resblocks.%d."
    const char *ln1_w, *ln1_b, *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b, *out_w, *out_b;
    const char *qkv_w, *qkv_b;                     // fused (open_clip), or NULL
    const char *q_w, *q_b, *k_w, *k_b, *v_w, *v_b; // split (transformers)
    int proj_transposed;                           // stored (width, embed)
} names;

static const names openclip_names = {"visual.conv1.weight",
                                     "visual.class_embedding",
                                     "visual.positional_embedding",
                                     "visual.ln_pre.weight",
                                     "visual.ln_pre.bias",
                                     "visual.ln_post.weight",
                                     "visual.ln_post.bias",
                                     "visual.proj",
                                     "token_embedding.weight",
                                     "positional_embedding",
                                     "ln_final.weight",
                                     "ln_final.bias",
                                     "text_projection",
                                     "visual.transformer.resblocks.%d.",
                                     "transformer.resblocks.%d.",
                                     "ln_1.weight",
                                     "ln_1.bias",
                                     "ln_2.weight",
                                     "ln_2.bias",
                                     "mlp.c_fc.weight",
                                     "mlp.c_fc.bias",
                                     "mlp.c_proj.weight",
                                     "mlp.c_proj.bias",
                                     "attn.out_proj.weight",
                                     "attn.out_proj.bias",
                                     "attn.in_proj_weight",
                                     "attn.in_proj_bias",
                                     NULL,
                                     NULL,
                                     NULL,
                                     NULL,
                                     NULL,
                                     NULL,
                                     1};

static const names hf_names = {"vision_model.embeddings.patch_embedding.weight",
                               "vision_model.embeddings.class_embedding",
                               "vision_model.embeddings.position_embedding.weight",
                               "vision_model.pre_layrnorm.weight",
                               "vision_model.pre_layrnorm.bias",
                               "vision_model.post_layernorm.weight",
                               "vision_model.post_layernorm.bias",
                               "visual_projection.weight",
                               "text_model.embeddings.token_embedding.weight",
                               "text_model.embeddings.position_embedding.weight",
                               "text_model.final_layer_norm.weight",
                               "text_model.final_layer_norm.bias",
                               "text_projection.weight",
                               "vision_model.encoder.layers.%d.",
                               "text_model.encoder.layers.%d.",
                               "layer_norm1.weight",
                               "layer_norm1.bias",
                               "layer_norm2.weight",
                               "layer_norm2.bias",
                               "mlp.fc1.weight",
                               "mlp.fc1.bias",
                               "mlp.fc2.weight",
                               "mlp.fc2.bias",
                               "self_attn.out_proj.weight",
                               "self_attn.out_proj.bias",
                               NULL,
                               NULL,
                               "self_attn.q_proj.weight",
                               "self_attn.q_proj.bias",
                               "self_attn.k_proj.weight",
                               "self_attn.k_proj.bias",
                               "self_attn.v_proj.weight",
                               "self_attn.v_proj.bias",
                               0};

// --- helpers -------------------------------------------------------------------------------------

static int own(seize_clip_model *m, void *p)
{
    if (m->n_owned == m->cap_owned) {
        size_t cap = m->cap_owned ? m->cap_owned * 2 : 256;
        void **n = seize_realloc(m->owned, cap, sizeof *n);
        if (!n) {
            free(p);
            return SEIZE_ENOMEM;
        }
        m->owned = n;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    return 0;
}

// Looks a tensor up and checks its shape (ndim values, -1 = any) and floating-point dtype.
static int vlookup(seize_clip_model *m, const char *name, const seize_st_tensor **out, int ndim,
                   va_list ap)
{
    const seize_st_tensor *t = seize_st_find(&m->st, name);
    if (!t)
        return seize_error(SEIZE_EFORMAT, "invalid '%s': missing tensor '%s'", m->weights_path,
                           name);
    long want[SEIZE_ST_MAX_DIMS];
    for (int i = 0; i < ndim; i++)
        want[i] = va_arg(ap, long);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = want[i] < 0 || (size_t)want[i] == t->shape[i];
    if (!ok) {
        char got[128] = "", exp[128] = "";
        size_t a = 0, b = 0;
        for (int i = 0; i < t->ndim; i++)
            a += (size_t)snprintf(got + a, sizeof got - a, "%s%zu", i ? ", " : "", t->shape[i]);
        for (int i = 0; i < ndim; i++)
            b += (size_t)snprintf(exp + b, sizeof exp - b, "%s%ld", i ? ", " : "", want[i]);
        return seize_error(SEIZE_ESHAPE,
                           "invalid '%s': tensor '%s' has shape [%s], the configuration needs [%s]",
                           m->weights_path, name, got, exp);
    }
    if (t->dtype != SEIZE_ST_F32 && t->dtype != SEIZE_ST_F16 && t->dtype != SEIZE_ST_BF16)
        return seize_error(SEIZE_EFORMAT,
                           "invalid '%s': tensor '%s' has dtype %s (need F32, F16 or BF16)",
                           m->weights_path, name, seize_st_dtype_name(t->dtype));
    *out = t;
    return 0;
}

// A float32 view of a tensor (vectors, embedding tables): F32 in place when aligned, else a
// converted copy owned by the model.
static int tensor(seize_clip_model *m, const char *name, const float **out, int ndim, ...)
{
    const seize_st_tensor *t;
    va_list ap;
    va_start(ap, ndim);
    int rc = vlookup(m, name, &t, ndim, ap);
    va_end(ap);
    if (rc < 0) return rc;
    if (t->dtype == SEIZE_ST_F32 && ((uintptr_t)t->data & 3) == 0) {
        *out = (const float *)t->data;
        return 0;
    }
    float *f = seize_alloc_aligned(t->count ? t->count : 1, sizeof(float));
    if (!f) return SEIZE_ENOMEM;
    const uint8_t *p = t->data;
    for (size_t i = 0; i < t->count; i++) {
        uint16_t h = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
        if (t->dtype == SEIZE_ST_F32)
            memcpy(&f[i], p + 4 * i, 4);
        else if (t->dtype == SEIZE_ST_F16)
            f[i] = seize_f16_to_f32(h);
        else
            f[i] = seize_bf16_to_f32(h);
    }
    if ((rc = own(m, f)) < 0) return rc;
    *out = f;
    return 0;
}

static size_t elem_size(seize_st_dtype t)
{
    return t == SEIZE_ST_F32 ? 4 : 2;
}

// A matrix in the file's dtype: (rows, cols) = (shape[0], product of the rest), a view when
// aligned for its element size, else an aligned copy owned by the model.
static int matrix(seize_clip_model *m, const char *name, seize_matrix *out, int ndim, ...)
{
    const seize_st_tensor *t;
    va_list ap;
    va_start(ap, ndim);
    int rc = vlookup(m, name, &t, ndim, ap);
    va_end(ap);
    if (rc < 0) return rc;
    size_t es = elem_size(t->dtype);
    out->dtype = t->dtype;
    out->rows = t->shape[0];
    out->cols = out->rows ? t->count / out->rows : 0;
    out->data = t->data;
    if (((uintptr_t)t->data & (es - 1)) == 0) return 0;
    void *d = seize_alloc_aligned(t->count ? t->count : 1, es);
    if (!d) return SEIZE_ENOMEM;
    memcpy(d, t->data, t->nbytes);
    if ((rc = own(m, d)) < 0) return rc;
    out->data = d;
    return 0;
}

// The transpose of a (rows, cols) matrix, same dtype, owned by the model.
static int transposed(seize_clip_model *m, seize_matrix *a)
{
    size_t es = elem_size(a->dtype), rows = a->rows, cols = a->cols;
    uint8_t *d = seize_alloc_aligned(rows * cols > 0 ? rows * cols : 1, es);
    if (!d) return SEIZE_ENOMEM;
    const uint8_t *src = a->data;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            memcpy(d + (c * rows + r) * es, src + (r * cols + c) * es, es);
    int rc = own(m, d);
    if (rc < 0) return rc;
    a->data = d;
    a->rows = cols;
    a->cols = rows;
    return 0;
}

// Row block [r0, r0 + n) of a matrix, as a view.
static seize_matrix row_block(const seize_matrix *a, size_t r0, size_t n)
{
    seize_matrix v = *a;
    v.data = (const uint8_t *)a->data + r0 * a->cols * elem_size(a->dtype);
    v.rows = n;
    return v;
}

static int load_blocks(seize_clip_model *m, const names *nm, const char *prefix_fmt,
                       const seize_tower_config *tc, seize_block_weights **out)
{
    long d = tc->width, f = tc->mlp_dim;
    char name[256], prefix[160];
    // the last configured block must exist before its array is allocated (layers < 2^24)
    snprintf(prefix, sizeof prefix, prefix_fmt, tc->layers - 1);
    snprintf(name, sizeof name, "%s%s", prefix, nm->ln1_w);
    if (tc->layers > 0 && !seize_st_find(&m->st, name))
        return seize_error(
            SEIZE_ESHAPE,
            "invalid '%s': the configuration has %d layers but there is no tensor '%s'",
            m->weights_path, tc->layers, name);
    seize_block_weights *b = calloc((size_t)(tc->layers ? tc->layers : 1), sizeof *b);
    if (!b) return seize_error(SEIZE_ENOMEM, "out of memory");
    *out = b;
    int rc = 0;
#define T(field, suffix, ...)                                                                      \
    do {                                                                                           \
        snprintf(name, sizeof name, "%s%s", prefix, suffix);                                       \
        if ((rc = tensor(m, name, &b[i].field, __VA_ARGS__)) < 0) return rc;                       \
    } while (0)
#define M(field, suffix, ...)                                                                      \
    do {                                                                                           \
        snprintf(name, sizeof name, "%s%s", prefix, suffix);                                       \
        if ((rc = matrix(m, name, &b[i].field, __VA_ARGS__)) < 0) return rc;                       \
    } while (0)
    for (int i = 0; i < tc->layers; i++) {
        snprintf(prefix, sizeof prefix, prefix_fmt, i);
        T(ln1_w, nm->ln1_w, 1, d);
        T(ln1_b, nm->ln1_b, 1, d);
        T(ln2_w, nm->ln2_w, 1, d);
        T(ln2_b, nm->ln2_b, 1, d);
        M(fc1_w, nm->fc1_w, 2, f, d);
        T(fc1_b, nm->fc1_b, 1, f);
        M(fc2_w, nm->fc2_w, 2, d, f);
        T(fc2_b, nm->fc2_b, 1, d);
        M(out_w, nm->out_w, 2, d, d);
        T(out_b, nm->out_b, 1, d);
        if (nm->qkv_w) {
            const float *bias;
            M(qkv_w, nm->qkv_w, 2, 3 * d, d);
            snprintf(name, sizeof name, "%s%s", prefix, nm->qkv_b);
            if ((rc = tensor(m, name, &bias, 1, 3 * d)) < 0) return rc;
            b[i].q_w = row_block(&b[i].qkv_w, 0, (size_t)d);
            b[i].k_w = row_block(&b[i].qkv_w, (size_t)d, (size_t)d);
            b[i].v_w = row_block(&b[i].qkv_w, 2 * (size_t)d, (size_t)d);
            b[i].q_b = bias;
            b[i].k_b = bias + d;
            b[i].v_b = bias + 2 * d;
        } else {
            M(q_w, nm->q_w, 2, d, d);
            T(q_b, nm->q_b, 1, d);
            M(k_w, nm->k_w, 2, d, d);
            T(k_b, nm->k_b, 1, d);
            M(v_w, nm->v_w, 2, d, d);
            T(v_b, nm->v_b, 1, d);
        }
    }
#undef T
#undef M
    return 0;
}

static int load_weights(seize_clip_model *m, const names *nm)
{
    const seize_clip_model_config *c = &m->cfg;
    seize_tower_weights *v = &m->w.vision, *t = &m->w.text;
    long vw = c->vision.width, tw = c->text.width, e = c->embed_dim, p = c->patch_size;
    long n_pos = 1 + (long)(c->image_size / c->patch_size) * (c->image_size / c->patch_size);
    const float *tmp;
    int rc;
    if ((rc = matrix(m, nm->v_patch, &v->patch_w, 4, vw, 3L, p, p)) < 0) return rc;
    if ((rc = tensor(m, nm->v_class, &v->class_emb, 1, vw)) < 0) return rc;
    if ((rc = tensor(m, nm->v_pos, &v->pos_emb, 2, n_pos, vw)) < 0) return rc;
    if ((rc = tensor(m, nm->v_ln_pre_w, &v->ln_pre_w, 1, vw)) < 0) return rc;
    if ((rc = tensor(m, nm->v_ln_pre_b, &v->ln_pre_b, 1, vw)) < 0) return rc;
    if ((rc = tensor(m, nm->v_ln_post_w, &v->ln_post_w, 1, vw)) < 0) return rc;
    if ((rc = tensor(m, nm->v_ln_post_b, &v->ln_post_b, 1, vw)) < 0) return rc;
    if ((rc = tensor(m, nm->t_tok, &t->tok_emb, 2, (long)c->vocab_size, tw)) < 0) return rc;
    if ((rc = tensor(m, nm->t_pos, &t->pos_emb, 2, (long)c->context_length, tw)) < 0) return rc;
    if ((rc = tensor(m, nm->t_ln_w, &t->ln_post_w, 1, tw)) < 0) return rc;
    if ((rc = tensor(m, nm->t_ln_b, &t->ln_post_b, 1, tw)) < 0) return rc;
    if (nm->proj_transposed) {
        if ((rc = matrix(m, nm->v_proj, &v->proj, 2, vw, e)) < 0) return rc;
        if ((rc = transposed(m, &v->proj)) < 0) return rc;
        if ((rc = matrix(m, nm->t_proj, &t->proj, 2, tw, e)) < 0) return rc;
        if ((rc = transposed(m, &t->proj)) < 0) return rc;
    } else {
        if ((rc = matrix(m, nm->v_proj, &v->proj, 2, e, vw)) < 0) return rc;
        if ((rc = matrix(m, nm->t_proj, &t->proj, 2, e, tw)) < 0) return rc;
    }
    if ((rc = load_blocks(m, nm, nm->v_block, &c->vision, &m->vblocks)) < 0) return rc;
    if ((rc = load_blocks(m, nm, nm->t_block, &c->text, &m->tblocks)) < 0) return rc;
    v->n_layers = c->vision.layers;
    v->blocks = m->vblocks;
    t->n_layers = c->text.layers;
    t->blocks = m->tblocks;
    m->w.logit_scale = 0;
    const seize_st_tensor *ls = seize_st_find(&m->st, "logit_scale");
    // One size argument per dimension (count 1: every dimension is 1), up to SEIZE_ST_MAX_DIMS.
    _Static_assert(SEIZE_ST_MAX_DIMS == 8, "one 1L per possible dimension below");
    if (ls && ls->count == 1 && ls->ndim <= 8 &&
        (rc = tensor(m, "logit_scale", &tmp, ls->ndim, 1L, 1L, 1L, 1L, 1L, 1L, 1L, 1L)) == 0)
        m->w.logit_scale = tmp[0];
    // a block past the configured depth means the configuration is wrong for these weights
    char name[200];
    snprintf(name, sizeof name, nm->v_block, c->vision.layers);
    snprintf(name + strlen(name), sizeof name - strlen(name), "%s", nm->ln1_w);
    if (seize_st_find(&m->st, name))
        return seize_error(
            SEIZE_ESHAPE,
            "invalid '%s': has tensor '%s' but the configuration has %d vision layers",
            m->weights_path, name, c->vision.layers);
    snprintf(name, sizeof name, nm->t_block, c->text.layers);
    snprintf(name + strlen(name), sizeof name - strlen(name), "%s", nm->ln1_w);
    if (seize_st_find(&m->st, name))
        return seize_error(SEIZE_ESHAPE,
                           "invalid '%s': has tensor '%s' but the configuration has %d text layers",
                           m->weights_path, name, c->text.layers);
    return 0;
}

// --- configuration files ------------------------------------------------------------------------

static int get_int(json_t *o, const char *key, int def, int *out, const char *path)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < (1 << 24)) {
        *out = (int)json_integer_value(v);
        return 0;
    }
    return seize_error(SEIZE_EFORMAT, "invalid '%s': \"%s\" must be a positive integer", path, key);
}

static int get_num(json_t *o, const char *key, double def, double *out, const char *path)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (json_is_number(v) && json_number_value(v) > 0) {
        *out = json_number_value(v);
        return 0;
    }
    return seize_error(SEIZE_EFORMAT, "invalid '%s': \"%s\" must be a positive number", path, key);
}

static int parse_act(json_t *o, const char *path, seize_act *act)
{
    json_t *a = json_object_get(o, "hidden_act");
    if (!a) return 0;
    const char *s = json_string_value(a);
    if (s && !strcmp(s, "quick_gelu"))
        *act = SEIZE_ACT_QUICK_GELU;
    else if (s && !strcmp(s, "gelu"))
        *act = SEIZE_ACT_GELU;
    else
        return seize_error(SEIZE_EFORMAT,
                           "invalid '%s': unsupported hidden_act '%s' (need quick_gelu or gelu)",
                           path, s ? s : "?");
    return 0;
}

// transformers config.json; missing fields take CLIPConfig's defaults, as transformers does.
static int parse_hf_config(const char *path, seize_clip_model_config *c)
{
    json_t *root;
    int rc = seize_json_load(path, &root);
    if (rc < 0) return rc;
    if (!json_is_object(root)) {
        json_decref(root);
        return seize_error(SEIZE_EFORMAT, "invalid '%s': not a JSON object", path);
    }
    json_t *tc = json_object_get(root, "text_config"), *vc = json_object_get(root, "vision_config");
    seize_act tact = SEIZE_ACT_QUICK_GELU, vact = SEIZE_ACT_QUICK_GELU;
    if ((tc && !json_is_object(tc)) || (vc && !json_is_object(vc))) {
        json_decref(root);
        return seize_error(SEIZE_EFORMAT, "invalid '%s': text_config/vision_config must be objects",
                           path);
    }
    memset(c, 0, sizeof *c);
    c->ln_eps = 1e-5f;
    if ((rc = get_int(root, "projection_dim", 512, &c->embed_dim, path)) < 0 ||
        (rc = get_int(tc, "hidden_size", 512, &c->text.width, path)) < 0 ||
        (rc = get_int(tc, "intermediate_size", 2048, &c->text.mlp_dim, path)) < 0 ||
        (rc = get_int(tc, "num_attention_heads", 8, &c->text.heads, path)) < 0 ||
        (rc = get_int(tc, "num_hidden_layers", 12, &c->text.layers, path)) < 0 ||
        (rc = get_int(tc, "max_position_embeddings", 77, &c->context_length, path)) < 0 ||
        (rc = get_int(tc, "vocab_size", 49408, &c->vocab_size, path)) < 0 ||
        (rc = get_int(vc, "hidden_size", 768, &c->vision.width, path)) < 0 ||
        (rc = get_int(vc, "intermediate_size", 3072, &c->vision.mlp_dim, path)) < 0 ||
        (rc = get_int(vc, "num_attention_heads", 12, &c->vision.heads, path)) < 0 ||
        (rc = get_int(vc, "num_hidden_layers", 12, &c->vision.layers, path)) < 0 ||
        (rc = get_int(vc, "image_size", 224, &c->image_size, path)) < 0 ||
        (rc = get_int(vc, "patch_size", 32, &c->patch_size, path)) < 0 ||
        (tc && (rc = parse_act(tc, path, &tact)) < 0) ||
        (vc && (rc = parse_act(vc, path, &vact)) < 0)) {
        json_decref(root);
        return rc;
    }
    json_decref(root);
    if (tact != vact)
        return seize_error(SEIZE_EFORMAT,
                           "invalid '%s': text and vision towers use different activations", path);
    c->act = tact;
    return 0;
}

// open_clip_config.json ({"model_cfg": {...}} or the bare model config).
static int parse_openclip_config(const char *path, seize_clip_model_config *c)
{
    json_t *root;
    int rc = seize_json_load(path, &root);
    if (rc < 0) return rc;
    json_t *mc = json_object_get(root, "model_cfg");
    if (!mc) mc = root;
    json_t *vc = json_object_get(mc, "vision_cfg"), *tc = json_object_get(mc, "text_cfg");
    if (!json_is_object(mc) || !json_is_object(vc) || !json_is_object(tc)) {
        json_decref(root);
        return seize_error(SEIZE_EFORMAT,
                           "invalid '%s': needs model_cfg with vision_cfg and text_cfg", path);
    }
    memset(c, 0, sizeof *c);
    c->ln_eps = 1e-5f;
    int head_width;
    double vratio, tratio;
    if ((rc = get_int(mc, "embed_dim", 512, &c->embed_dim, path)) < 0 ||
        (rc = get_int(vc, "image_size", 224, &c->image_size, path)) < 0 ||
        (rc = get_int(vc, "patch_size", 16, &c->patch_size, path)) < 0 ||
        (rc = get_int(vc, "width", 768, &c->vision.width, path)) < 0 ||
        (rc = get_int(vc, "layers", 12, &c->vision.layers, path)) < 0 ||
        (rc = get_int(vc, "head_width", 64, &head_width, path)) < 0 ||
        (rc = get_num(vc, "mlp_ratio", 4.0, &vratio, path)) < 0 ||
        (rc = get_int(tc, "context_length", 77, &c->context_length, path)) < 0 ||
        (rc = get_int(tc, "vocab_size", 49408, &c->vocab_size, path)) < 0 ||
        (rc = get_int(tc, "width", 512, &c->text.width, path)) < 0 ||
        (rc = get_int(tc, "heads", 8, &c->text.heads, path)) < 0 ||
        (rc = get_int(tc, "layers", 12, &c->text.layers, path)) < 0 ||
        (rc = get_num(tc, "mlp_ratio", 4.0, &tratio, path)) < 0) {
        json_decref(root);
        return rc;
    }
    json_t *qg = json_object_get(mc, "quick_gelu");
    c->act = json_is_true(qg) ? SEIZE_ACT_QUICK_GELU : SEIZE_ACT_GELU;
    json_decref(root);
    if (c->vision.width % head_width)
        return seize_error(SEIZE_EFORMAT,
                           "invalid '%s': vision width %d is not a multiple of head_width %d", path,
                           c->vision.width, head_width);
    c->vision.heads = c->vision.width / head_width;
    double vmlp = c->vision.width * vratio, tmlp = c->text.width * tratio;
    if (!(vmlp >= 1 && vmlp < (1 << 24)) || !(tmlp >= 1 && tmlp < (1 << 24)))
        return seize_error(SEIZE_EFORMAT,
                           "invalid '%s': \"mlp_ratio\" gives an MLP width outside 1..%d", path,
                           (1 << 24) - 1);
    c->vision.mlp_dim = (int)vmlp; // open_clip: int(width * mlp_ratio)
    c->text.mlp_dim = (int)tmlp;
    return 0;
}

static int check_config(const seize_clip_model_config *c, const char *path)
{
    if (c->image_size % c->patch_size)
        return seize_error(SEIZE_EFORMAT,
                           "invalid '%s': image size %d is not a multiple of patch size %d", path,
                           c->image_size, c->patch_size);
    if (c->vision.width % c->vision.heads || c->text.width % c->text.heads)
        return seize_error(SEIZE_EFORMAT,
                           "invalid '%s': width is not a multiple of the number of heads", path);
    return 0;
}

// Matches weights without a config against the presets by tensor shapes.
static int match_preset(seize_clip_model *m, const names *nm)
{
    const seize_st_tensor *patch = seize_st_find(&m->st, nm->v_patch),
                          *tok = seize_st_find(&m->st, nm->t_tok);
    if (!patch || !tok || patch->ndim != 4 || tok->ndim != 2)
        return seize_error(
            SEIZE_EFORMAT,
            "invalid '%s': no configuration file and no CLIP tensors to match a preset",
            m->weights_path);
    int vl = 0, tl = 0;
    char name[200];
    for (;; vl++) {
        snprintf(name, sizeof name, nm->v_block, vl);
        strcat(name, nm->ln1_w);
        if (!seize_st_find(&m->st, name)) break;
    }
    for (;; tl++) {
        snprintf(name, sizeof name, nm->t_block, tl);
        strcat(name, nm->ln1_w);
        if (!seize_st_find(&m->st, name)) break;
    }
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        const seize_clip_model_config *c = &presets[i].cfg;
        if (patch->shape[0] == (size_t)c->vision.width &&
            patch->shape[2] == (size_t)c->patch_size && tok->shape[1] == (size_t)c->text.width &&
            vl == c->vision.layers && tl == c->text.layers) {
            m->cfg = *c;
            m->preset = presets[i].name;
            return 0;
        }
    }
    return seize_error(
        SEIZE_EFORMAT,
        "invalid '%s': no configuration file, and the tensor shapes (vision width %zu, "
        "patch %zu, %d layers; text width %zu, %d layers) match no built-in preset",
        m->weights_path, patch->shape[0], patch->shape[2], vl, tok->shape[1], tl);
}

// --- loading -------------------------------------------------------------------------------------

static int file_in(const char *dir, const char *name, char **out)
{
    *out = seize_path_join(dir, name);
    if (!*out) return SEIZE_ENOMEM;
    return seize_path_exists(*out);
}

int seize_clip_model_load(const char *dir, seize_clip_model **out)
{
    *out = NULL;
    if (!seize_path_exists(dir))
        return seize_error(SEIZE_EIO, "cannot open model folder '%s': No such file or directory",
                           dir);
    seize_clip_model *m = calloc(1, sizeof *m);
    if (!m) return seize_error(SEIZE_ENOMEM, "out of memory");
    nn_cache_init(&m->cache);
    int rc = 0;
    char *hf_w = NULL, *hf_c = NULL, *oc_w = NULL, *oc_c = NULL;
    int has_hf_w = file_in(dir, "model.safetensors", &hf_w),
        has_hf_c = file_in(dir, "config.json", &hf_c),
        has_oc_w = file_in(dir, "open_clip_model.safetensors", &oc_w),
        has_oc_c = file_in(dir, "open_clip_config.json", &oc_c);
    m->dir = seize_strdup(dir);
    if (!hf_w || !hf_c || !oc_w || !oc_c || !m->dir) {
        rc = SEIZE_ENOMEM;
        goto done;
    }
    const names *nm;
    const char *cfg_path = NULL;
    if (has_hf_w) {
        m->layout = "transformers";
        nm = &hf_names;
        m->weights_path = hf_w;
        hf_w = NULL;
        if (has_hf_c) cfg_path = hf_c;
        if (has_oc_w) {
            const char *msg = "folder has both the transformers and the open_clip layout; using "
                              "the transformers one (model.safetensors)";
            m->note = seize_strdup(msg);
        }
    } else if (has_oc_w) {
        m->layout = "open_clip";
        nm = &openclip_names;
        m->weights_path = oc_w;
        oc_w = NULL;
        if (has_oc_c) cfg_path = oc_c;
    } else {
        rc = seize_error(SEIZE_EIO,
                         "cannot load model '%s': no model.safetensors or "
                         "open_clip_model.safetensors in the folder",
                         dir);
        goto done;
    }
    if ((rc = seize_st_open(m->weights_path, &m->st)) < 0) goto done;
    m->weight_bytes = m->st.map.size;
    if (cfg_path) {
        rc = nm == &hf_names ? parse_hf_config(cfg_path, &m->cfg)
                             : parse_openclip_config(cfg_path, &m->cfg);
        if (rc == 0) rc = check_config(&m->cfg, cfg_path);
    } else {
        rc = match_preset(m, nm);
    }
    if (rc < 0) goto done;
    if ((rc = load_weights(m, nm)) < 0) goto done;
    // parameters: every floating-point tensor of the file; dtype: the one holding most bytes
    size_t bytes[3] = {0, 0, 0};
    for (size_t i = 0; i < m->st.n_tensors; i++) {
        const seize_st_tensor *t = &m->st.tensors[i];
        if (t->dtype == SEIZE_ST_F32 || t->dtype == SEIZE_ST_F16 || t->dtype == SEIZE_ST_BF16) {
            m->parameters += t->count;
            bytes[t->dtype == SEIZE_ST_F32 ? 0 : t->dtype == SEIZE_ST_F16 ? 1 : 2] += t->nbytes;
        }
    }
    m->dtype = bytes[0] >= bytes[1] && bytes[0] >= bytes[2] ? "F32"
               : bytes[1] >= bytes[2]                       ? "F16"
                                                            : "BF16";
done:
    free(hf_w);
    free(hf_c);
    free(oc_w);
    free(oc_c);
    if (rc < 0) {
        seize_clip_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void seize_clip_model_free(seize_clip_model *m)
{
    if (!m) return;
    nn_cache_destroy(&m->cache);
    for (size_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->vblocks);
    free(m->tblocks);
    seize_st_close(&m->st);
    free(m->dir);
    free(m->weights_path);
    free(m->note);
    free(m);
}

const seize_clip_model_config *seize_clip_model_get_config(const seize_clip_model *m)
{
    return &m->cfg;
}
const seize_clip_model_weights *seize_clip_model_get_weights(const seize_clip_model *m)
{
    return &m->w;
}
const char *seize_clip_model_layout(const seize_clip_model *m)
{
    return m->layout;
}
const char *seize_clip_model_dtype(const seize_clip_model *m)
{
    return m->dtype;
}
const char *seize_clip_model_dir(const seize_clip_model *m)
{
    return m->dir;
}
const char *seize_clip_model_weights_path(const seize_clip_model *m)
{
    return m->weights_path;
}
const char *seize_clip_model_preset_name(const seize_clip_model *m)
{
    return m->preset;
}
const char *seize_clip_model_note(const seize_clip_model *m)
{
    return m->note;
}
size_t seize_clip_model_parameters(const seize_clip_model *m)
{
    return m->parameters;
}
size_t seize_clip_model_weight_bytes(const seize_clip_model *m)
{
    return m->weight_bytes;
}

// --- engine data (model_cache.h) -----------------------------------------------------------------

int nn_model_cache_get(const seize_clip_model *cm, const char *key, nn_cache_make make, void *ud,
                       nn_cache_free fr, void **out)
{
    seize_clip_model *m = (seize_clip_model *)cm; // the cache is the one mutable part
    return nn_cache_get(&m->cache, key, make, ud, fr, out);
}

void nn_model_drop_file_range(const seize_clip_model *m, const void *p, size_t n)
{
    nn_drop_pages(m->st.map.data, m->st.map.size, p, n);
}

void nn_model_drop_file_pages(const seize_clip_model *m)
{
    if (m->st.map.data && m->st.map.size)
        madvise((void *)m->st.map.data, m->st.map.size, MADV_DONTNEED);
}
