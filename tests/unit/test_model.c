// Unit tests for src/nn/safetensors.c and src/nn/model.c.
#include "check.h"

#include "seize/model.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <unistd.h>

// Writes a safetensors file with the given JSON header and `data_len` bytes of data (a sparse
// hole: reads give zeros). Returns 0 on success.
static int write_raw(const char *path, const char *header, size_t data_len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    uint64_t n = strlen(header);
    fwrite(&n, 8, 1, fp);
    fwrite(header, 1, n, fp);
    fclose(fp);
    return truncate(path, (off_t)(8 + n + data_len));
}

// --- a synthetic model writer: F32 tensors, in either layout ------------------------------------

typedef struct {
    char *json;
    size_t len, cap, off;
    int first;
} hdr;

static void add(hdr *h, const char *name, int ndim, const size_t *shape)
{
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= shape[i];
    if (h->len + 512 > h->cap) {
        h->cap = h->cap * 2 + 4096;
        h->json = realloc(h->json, h->cap);
    }
    h->len += (size_t)sprintf(h->json + h->len, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[",
                              h->first ? "" : ",", name);
    for (int i = 0; i < ndim; i++)
        h->len += (size_t)sprintf(h->json + h->len, "%s%zu", i ? "," : "", shape[i]);
    h->len += (size_t)sprintf(h->json + h->len, "],\"data_offsets\":[%zu,%zu]}", h->off,
                              h->off + count * 4);
    h->off += count * 4;
    h->first = 0;
}

#define ADD(h, name, ...)                                                                          \
    do {                                                                                           \
        size_t s_[] = {__VA_ARGS__};                                                               \
        add(h, name, (int)(sizeof s_ / sizeof s_[0]), s_);                                         \
    } while (0)

// An HF-layout model with the given config and no config file (zeros as weights).
static int write_hf_model(const char *path, const seize_clip_model_config *c)
{
    hdr h = {malloc(4096), 1, 4096, 0, 1};
    h.json[0] = '{';
    size_t vw = (size_t)c->vision.width, tw = (size_t)c->text.width, e = (size_t)c->embed_dim;
    size_t p = (size_t)c->patch_size, np = 1 + (size_t)(c->image_size / c->patch_size) *
                                                   (size_t)(c->image_size / c->patch_size);
    char n[256];
    ADD(&h, "vision_model.embeddings.patch_embedding.weight", vw, 3, p, p);
    ADD(&h, "vision_model.embeddings.class_embedding", vw);
    ADD(&h, "vision_model.embeddings.position_embedding.weight", np, vw);
    ADD(&h, "vision_model.pre_layrnorm.weight", vw);
    ADD(&h, "vision_model.pre_layrnorm.bias", vw);
    ADD(&h, "vision_model.post_layernorm.weight", vw);
    ADD(&h, "vision_model.post_layernorm.bias", vw);
    ADD(&h, "visual_projection.weight", e, vw);
    ADD(&h, "text_model.embeddings.token_embedding.weight", (size_t)c->vocab_size, tw);
    ADD(&h, "text_model.embeddings.position_embedding.weight", (size_t)c->context_length, tw);
    ADD(&h, "text_model.final_layer_norm.weight", tw);
    ADD(&h, "text_model.final_layer_norm.bias", tw);
    ADD(&h, "text_projection.weight", e, tw);
    ADD(&h, "logit_scale", 1);
    for (int tower = 0; tower < 2; tower++) {
        const seize_tower_config *t = tower ? &c->text : &c->vision;
        const char *pre = tower ? "text_model" : "vision_model";
        size_t d = (size_t)t->width, f = (size_t)t->mlp_dim;
        for (int i = 0; i < t->layers; i++) {
#define L(suffix, ...)                                                                             \
    do {                                                                                           \
        snprintf(n, sizeof n, "%s.encoder.layers.%d.%s", pre, i, suffix);                          \
        ADD(&h, n, __VA_ARGS__);                                                                   \
    } while (0)
            L("layer_norm1.weight", d);
            L("layer_norm1.bias", d);
            L("layer_norm2.weight", d);
            L("layer_norm2.bias", d);
            L("mlp.fc1.weight", f, d);
            L("mlp.fc1.bias", f);
            L("mlp.fc2.weight", d, f);
            L("mlp.fc2.bias", d);
            L("self_attn.q_proj.weight", d, d);
            L("self_attn.q_proj.bias", d);
            L("self_attn.k_proj.weight", d, d);
            L("self_attn.k_proj.bias", d);
            L("self_attn.v_proj.weight", d, d);
            L("self_attn.v_proj.bias", d);
            L("self_attn.out_proj.weight", d, d);
            L("self_attn.out_proj.bias", d);
#undef L
        }
    }
    h.json[h.len++] = '}';
    h.json[h.len] = 0;
    int rc = write_raw(path, h.json, h.off);
    free(h.json);
    return rc;
}

// A folder with symlinks to some files of a fixture model folder.
static const char *linked_folder(const char *name, const char *fixture_model, const char **files)
{
    const char *dir = check_tmp(name);
    mkdir(dir, 0777);
    for (; *files; files++) {
        char src[1024], dst[1024];
        snprintf(src, sizeof src, "%s", check_fixture_path(fixture_model));
        char *abs = realpath(src, NULL);
        snprintf(src, sizeof src, "%s/%s", abs ? abs : "", *files);
        free(abs);
        snprintf(dst, sizeof dst, "%s/%s", dir, *files);
        if (symlink(src, dst) != 0) return NULL;
    }
    return dir;
}

// --- tests
// ----------------------------------------------------------------------------------------

static void test_fixture_layouts(void)
{
    NEED_FIXTURES();
    const char *oc_files[] = {"open_clip_model.safetensors", "open_clip_config.json", NULL};
    const char *hf_files[] = {"model.safetensors", "config.json", NULL};
    struct {
        const char *model, *dir, *layout, *dtype;
        int embed, vwidth, vheads, vmlp, patch, tlayers;
        seize_act act;
    } cases[] = {
        {"models/tiny-openai", NULL, "transformers", "F32", 32, 64, 2, 256, 32, 2,
         SEIZE_ACT_QUICK_GELU},
        {"models/tiny-openai", "oa-oc", "open_clip", "F32", 32, 64, 2, 256, 32, 2,
         SEIZE_ACT_QUICK_GELU},
        {"models/tiny-openai", "oa-hf", "transformers", "F32", 32, 64, 2, 256, 32, 2,
         SEIZE_ACT_QUICK_GELU},
        {"models/tiny-laion", NULL, "transformers", "F16", 48, 128, 4, 320, 14, 3, SEIZE_ACT_GELU},
        {"models/tiny-laion", "la-oc", "open_clip", "BF16", 48, 128, 4, 320, 14, 3, SEIZE_ACT_GELU},
        {"models/tiny-laion", "la-hf", "transformers", "F16", 48, 128, 4, 320, 14, 3,
         SEIZE_ACT_GELU},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *dir = check_fixture_path(cases[i].model);
        if (cases[i].dir)
            dir = linked_folder(cases[i].dir, cases[i].model,
                                !strcmp(cases[i].layout, "transformers") ? hf_files : oc_files);
        CHECK(dir != NULL);
        seize_clip_model *m;
        CHECK_MSG(seize_clip_model_load(dir, &m) == 0, "%s: %s", dir, seize_errmsg());
        const seize_clip_model_config *c = seize_clip_model_get_config(m);
        CHECK_STREQ(seize_clip_model_layout(m), cases[i].layout);
        CHECK_STREQ(seize_clip_model_dtype(m), cases[i].dtype);
        CHECK_EQ(c->embed_dim, cases[i].embed);
        CHECK_EQ(c->vision.width, cases[i].vwidth);
        CHECK_EQ(c->vision.heads, cases[i].vheads);
        CHECK_EQ(c->vision.mlp_dim, cases[i].vmlp);
        CHECK_EQ(c->patch_size, cases[i].patch);
        CHECK_EQ(c->text.layers, cases[i].tlayers);
        CHECK_EQ(c->text.heads, 2);
        CHECK_EQ(c->text.mlp_dim, 256);
        CHECK_EQ(c->context_length, 77);
        CHECK_EQ(c->vocab_size, 49408);
        CHECK_EQ(c->act, cases[i].act);
        CHECK_EQ(!!seize_clip_model_note(m), cases[i].dir == NULL);
        seize_clip_model_free(m);
    }
}

// Element i of a matrix as float32 (matrices keep the file's dtype).
static float mat_at(const seize_matrix *a, size_t i)
{
    if (a->dtype == SEIZE_ST_F32) return ((const float *)a->data)[i];
    uint16_t h = ((const uint16_t *)a->data)[i];
    return a->dtype == SEIZE_ST_F16 ? seize_f16_to_f32(h) : seize_bf16_to_f32(h);
}

// The first n elements of a and b are the same float32 values.
static int mat_eq(const seize_matrix *a, const seize_matrix *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (mat_at(a, i) != mat_at(b, i)) return 0;
    return 1;
}

// The two layouts of one fixture model must give the same float32 weights after loading.
static void test_layouts_agree(void)
{
    NEED_FIXTURES();
    const char *oc_files[] = {"open_clip_model.safetensors", "open_clip_config.json", NULL};
    const char *models[] = {"models/tiny-openai", "models/tiny-laion"};
    for (int k = 0; k < 2; k++) {
        char name[32];
        snprintf(name, sizeof name, "agree-%d", k);
        const char *oc_dir = linked_folder(name, models[k], oc_files);
        CHECK(oc_dir != NULL);
        seize_clip_model *hf, *oc;
        CHECK_MSG(seize_clip_model_load(check_fixture_path(models[k]), &hf) == 0, "%s",
                  seize_errmsg());
        CHECK_MSG(seize_clip_model_load(oc_dir, &oc) == 0, "%s", seize_errmsg());
        const seize_clip_model_config *c = seize_clip_model_get_config(hf);
        const seize_clip_model_weights *a = seize_clip_model_get_weights(hf),
                                       *b = seize_clip_model_get_weights(oc);
        CHECK_EQ(seize_clip_model_parameters(hf), seize_clip_model_parameters(oc));
        size_t vw = (size_t)c->vision.width, tw = (size_t)c->text.width, e = (size_t)c->embed_dim;
        CHECK(a->vision.proj.rows == e && a->vision.proj.cols == vw);
        CHECK(b->vision.proj.rows == e && b->vision.proj.cols == vw); // transposed at load
        CHECK(mat_eq(&a->vision.proj, &b->vision.proj, e * vw));
        CHECK(mat_eq(&a->text.proj, &b->text.proj, e * tw));
        CHECK(mat_eq(&a->vision.patch_w, &b->vision.patch_w,
                     vw * 3 * (size_t)(c->patch_size * c->patch_size)));
        CHECK(memcmp(a->text.tok_emb + 1000 * tw, b->text.tok_emb + 1000 * tw, tw * 4) == 0);
        for (int l = 0; l < c->vision.layers; l++) {
            const seize_block_weights *x = &a->vision.blocks[l], *y = &b->vision.blocks[l];
            CHECK(mat_eq(&x->q_w, &y->q_w, vw * vw));
            CHECK(mat_eq(&x->k_w, &y->k_w, vw * vw));
            CHECK(memcmp(x->v_b, y->v_b, vw * 4) == 0);
            CHECK(mat_eq(&x->fc2_w, &y->fc2_w, vw * (size_t)c->vision.mlp_dim));
            // matrices stay in the file's dtype (no float32 copy of an F16/BF16 file)
            CHECK_STREQ(seize_st_dtype_name(x->fc1_w.dtype), seize_clip_model_dtype(hf));
            CHECK_STREQ(seize_st_dtype_name(y->fc1_w.dtype), seize_clip_model_dtype(oc));
            // fused in_proj stays one (3d, d) matrix, q/k/v views into it
            CHECK(y->qkv_w.data == y->q_w.data && y->qkv_w.rows == 3 * vw);
            CHECK((const char *)y->k_w.data ==
                  (const char *)y->q_w.data + vw * vw * (y->q_w.dtype == SEIZE_ST_F32 ? 4 : 2));
            CHECK(x->qkv_w.data == NULL); // transformers: separate q, k, v
        }
        CHECK(a->logit_scale != 0 && a->logit_scale == b->logit_scale);
        seize_clip_model_free(hf);
        seize_clip_model_free(oc);
    }
}

static void test_presets(void)
{
    static const char *names[] = {"ViT-B-32", "ViT-B-16", "ViT-L-14",
                                  "ViT-H-14", "ViT-g-14", "ViT-bigG-14"};
    for (int i = 0; i < 6; i++) {
        seize_clip_model_config c;
        CHECK_EQ(seize_clip_model_preset(names[i], &c), 0);
        CHECK_EQ(c.vision.width % c.vision.heads, 0);
    }
    seize_clip_model_config c;
    CHECK(seize_clip_model_preset("ViT-X", &c) == SEIZE_ENOTFOUND);
    // A ViT-B-32-shaped file (sparse, zeros) without a config is matched to the preset.
    CHECK_EQ(seize_clip_model_preset("ViT-B-32", &c), 0);
    mkdir(check_tmp("b32"), 0777);
    CHECK_EQ(write_hf_model(check_tmp("b32/model.safetensors"), &c), 0);
    seize_clip_model *m;
    CHECK_MSG(seize_clip_model_load(check_tmp("b32"), &m) == 0, "%s", seize_errmsg());
    CHECK_STREQ(seize_clip_model_preset_name(m), "ViT-B-32");
    CHECK_EQ(seize_clip_model_get_config(m)->vision.heads, 12);
    CHECK_EQ(seize_clip_model_get_config(m)->act, SEIZE_ACT_QUICK_GELU);
    seize_clip_model_free(m);
    // ViT-B-16 differs only by the patch size
    CHECK_EQ(seize_clip_model_preset("ViT-B-16", &c), 0);
    mkdir(check_tmp("b16"), 0777);
    CHECK_EQ(write_hf_model(check_tmp("b16/model.safetensors"), &c), 0);
    CHECK_MSG(seize_clip_model_load(check_tmp("b16"), &m) == 0, "%s", seize_errmsg());
    CHECK_STREQ(seize_clip_model_preset_name(m), "ViT-B-16");
    seize_clip_model_free(m);
    // shapes matching no preset
    c.vision.layers = 3;
    mkdir(check_tmp("odd"), 0777);
    CHECK_EQ(write_hf_model(check_tmp("odd/model.safetensors"), &c), 0);
    CHECK(seize_clip_model_load(check_tmp("odd"), &m) < 0);
    CHECK(strstr(seize_errmsg(), "match no built-in preset") != NULL);
}

static void expect_st_error(const char *file, const char *needle)
{
    seize_st_file f;
    int rc = seize_st_open(file, &f);
    if (rc == 0) seize_st_close(&f);
    if (rc >= 0 || !strstr(seize_errmsg(), needle) || !strstr(seize_errmsg(), file)) {
        fprintf(stderr, "  %s: rc %d, message '%s', wanted '%s'\n", file, rc, seize_errmsg(),
                needle);
        check_failed_now = 1;
    }
}

static void test_bad_safetensors(void)
{
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                     "\"__metadata__\":{\"format\":\"pt\"}}";
    CHECK_EQ(write_raw(check_tmp("ok.safetensors"), ok, 24), 0);
    seize_st_file f;
    CHECK_EQ(seize_st_open(check_tmp("ok.safetensors"), &f), 0);
    CHECK_EQ(f.n_tensors, 1);
    CHECK(seize_st_find(&f, "a") != NULL && seize_st_find(&f, "a")->count == 6);
    CHECK(seize_st_find(&f, "b") == NULL);
    seize_st_close(&f);

    CHECK_EQ(write_raw(check_tmp("trunc.safetensors"), ok, 20), 0);
    expect_st_error(check_tmp("trunc.safetensors"), "past the end");
    FILE *fp = fopen(check_tmp("empty.safetensors"), "wb");
    fclose(fp);
    expect_st_error(check_tmp("empty.safetensors"), "empty file");
    fp = fopen(check_tmp("short.safetensors"), "wb");
    fwrite("abc", 1, 3, fp);
    fclose(fp);
    expect_st_error(check_tmp("short.safetensors"), "too short");
    fp = fopen(check_tmp("hlen.safetensors"), "wb");
    uint64_t huge = 1ull << 60;
    fwrite(&huge, 8, 1, fp);
    fwrite("{}", 1, 2, fp);
    fclose(fp);
    expect_st_error(check_tmp("hlen.safetensors"), "header length");
    CHECK_EQ(write_raw(check_tmp("notjson.safetensors"), "{\"a\": [1, 2", 0), 0);
    expect_st_error(check_tmp("notjson.safetensors"), "not JSON");
    CHECK_EQ(write_raw(check_tmp("array.safetensors"), "[1, 2]", 0), 0);
    expect_st_error(check_tmp("array.safetensors"), "not a JSON object");
    CHECK_EQ(write_raw(check_tmp("past.safetensors"),
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,240]}}", 24),
             0);
    expect_st_error(check_tmp("past.safetensors"), "past the end of the data");
    CHECK_EQ(write_raw(check_tmp("size.safetensors"),
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[0,24]}}", 24),
             0);
    expect_st_error(check_tmp("size.safetensors"), "bytes of data for shape");
    CHECK_EQ(write_raw(check_tmp("overlap.safetensors"),
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                       "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[8,16]}}",
                       16),
             0);
    expect_st_error(check_tmp("overlap.safetensors"), "overlap");
    CHECK_EQ(write_raw(check_tmp("dtype.safetensors"),
                       "{\"a\":{\"dtype\":\"F8_E9\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4),
             0);
    expect_st_error(check_tmp("dtype.safetensors"), "unsupported dtype");
    CHECK_EQ(write_raw(check_tmp("neg.safetensors"),
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4),
             0);
    expect_st_error(check_tmp("neg.safetensors"), "bad shape");
    CHECK_EQ(write_raw(check_tmp("ovf.safetensors"),
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_"
                       "offsets\":[0,4]}}",
                       4),
             0);
    expect_st_error(check_tmp("ovf.safetensors"), "overflow");
    expect_st_error(check_tmp("missing.safetensors"), "No such file");
}

static void test_bad_models(void)
{
    NEED_FIXTURES();
    seize_clip_model *m;
    CHECK(seize_clip_model_load(check_tmp("nope"), &m) < 0);
    CHECK(strstr(seize_errmsg(), "nope") != NULL);
    mkdir(check_tmp("emptydir"), 0777);
    CHECK(seize_clip_model_load(check_tmp("emptydir"), &m) < 0);
    CHECK(strstr(seize_errmsg(), "no model.safetensors") != NULL);
    // a config that disagrees with the weights: name the file and the tensor
    const char *w[] = {"model.safetensors", NULL};
    const char *dir = linked_folder("cfgbad", "models/tiny-openai", w);
    CHECK(dir != NULL);
    FILE *fp = fopen(check_tmp("cfgbad/config.json"), "w");
    fputs("{\"projection_dim\": 32, \"text_config\": {\"hidden_size\": 64, \"intermediate_size\": "
          "128,"
          " \"num_attention_heads\": 2, \"num_hidden_layers\": 2, \"hidden_act\": \"quick_gelu\"},"
          " \"vision_config\": {\"hidden_size\": 64, \"intermediate_size\": 256, "
          "\"num_attention_heads\": 2,"
          " \"num_hidden_layers\": 2, \"patch_size\": 32, \"hidden_act\": \"quick_gelu\"}}",
          fp);
    fclose(fp);
    CHECK(seize_clip_model_load(dir, &m) == SEIZE_ESHAPE);
    CHECK_MSG(strstr(seize_errmsg(), "model.safetensors") &&
                  strstr(seize_errmsg(), "mlp.fc1.weight"),
              "%s", seize_errmsg());
    // too few layers in the config
    fp = fopen(check_tmp("cfgbad/config.json"), "w");
    fputs("{\"projection_dim\": 32, \"text_config\": {\"hidden_size\": 64, \"intermediate_size\": "
          "256,"
          " \"num_attention_heads\": 2, \"num_hidden_layers\": 1, \"hidden_act\": \"quick_gelu\"},"
          " \"vision_config\": {\"hidden_size\": 64, \"intermediate_size\": 256, "
          "\"num_attention_heads\": 2,"
          " \"num_hidden_layers\": 2, \"patch_size\": 32, \"hidden_act\": \"quick_gelu\"}}",
          fp);
    fclose(fp);
    CHECK(seize_clip_model_load(dir, &m) == SEIZE_ESHAPE);
    CHECK_MSG(strstr(seize_errmsg(), "text layers"), "%s", seize_errmsg());
    // malformed config JSON names the file
    fp = fopen(check_tmp("cfgbad/config.json"), "w");
    fputs("{\"projection_dim\": ", fp);
    fclose(fp);
    CHECK(seize_clip_model_load(dir, &m) == SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "config.json") != NULL);
    // an unknown activation
    fp = fopen(check_tmp("cfgbad/config.json"), "w");
    fputs("{\"projection_dim\": 32, \"text_config\": {\"hidden_act\": \"relu\"}}", fp);
    fclose(fp);
    CHECK(seize_clip_model_load(dir, &m) == SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "relu") != NULL);
    // a truncated copy of the weights
    char src[1024];
    snprintf(src, sizeof src, "%s/model.safetensors", check_fixture_path("models/tiny-openai"));
    mkdir(check_tmp("trunc"), 0777);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "head -c 1000000 '%s' > '%s'", src,
             check_tmp("trunc/model.safetensors"));
    CHECK(system(cmd) == 0);
    CHECK(seize_clip_model_load(check_tmp("trunc"), &m) == SEIZE_EFORMAT);
    CHECK_MSG(strstr(seize_errmsg(), "trunc/model.safetensors") &&
                  strstr(seize_errmsg(), "past the end"),
              "%s", seize_errmsg());
}

// Found by fuzzing the configuration files: an mlp_ratio whose MLP width does not fit an int
// (undefined float-to-int conversion), and a layer count far beyond the weights (its block
// array was allocated, up to 2.7 GB, before the first missing layer was noticed).
static void test_config_limits(void)
{
    NEED_FIXTURES();
    seize_clip_model *m = NULL;
    const char *oc[] = {"open_clip_model.safetensors", NULL};
    const char *dir = linked_folder("cfgbig_oc", "models/tiny-openai", oc);
    CHECK(dir != NULL);
    const char *ratios[] = {"1e30", "1e-9"};
    for (int k = 0; k < 2; k++) {
        char cfg[512];
        snprintf(cfg, sizeof cfg,
                 "{\"model_cfg\": {\"embed_dim\": 32, \"quick_gelu\": true, \"vision_cfg\": "
                 "{\"image_size\": 224,"
                 " \"layers\": 2, \"width\": 64, \"head_width\": 32, \"mlp_ratio\": %s, "
                 "\"patch_size\": 32},"
                 " \"text_cfg\": {\"width\": 64, \"heads\": 2, \"layers\": 2}}}",
                 ratios[k]);
        check_write_text(check_tmp("cfgbig_oc/open_clip_config.json"), cfg);
        CHECK(seize_clip_model_load(dir, &m) == SEIZE_EFORMAT && !m);
        CHECK_MSG(strstr(seize_errmsg(), "mlp_ratio") &&
                      strstr(seize_errmsg(), "open_clip_config.json"),
                  "%s", seize_errmsg());
    }
    const char *hf[] = {"model.safetensors", NULL};
    dir = linked_folder("cfgbig_hf", "models/tiny-openai", hf);
    CHECK(dir != NULL);
    check_write_text(
        check_tmp("cfgbig_hf/config.json"),
        "{\"projection_dim\": 32, \"text_config\": {\"hidden_size\": 64, \"intermediate_size\": "
        "256,"
        " \"num_attention_heads\": 2, \"num_hidden_layers\": 2, \"hidden_act\": \"quick_gelu\"},"
        " \"vision_config\": {\"hidden_size\": 64, \"intermediate_size\": 256, "
        "\"num_attention_heads\": 2,"
        " \"num_hidden_layers\": 16000000, \"patch_size\": 32, \"hidden_act\": \"quick_gelu\"}}");
    CHECK(seize_clip_model_load(dir, &m) == SEIZE_ESHAPE && !m);
    CHECK_MSG(strstr(seize_errmsg(), "16000000 layers") &&
                  strstr(seize_errmsg(), "layers.15999999.layer_norm1.weight"),
              "%s", seize_errmsg());
}

// The summary seize inspect prints: JSON with the layout's name and the configuration, and the
// text lines (the note about a folder with both layouts among them).
static void test_summary(void)
{
    seize_clip_model *m;
    CHECK_MSG(seize_clip_model_load(check_fixture_path("models/tiny-laion"), &m) == 0, "%s",
              seize_errmsg());
    char *s = seize_clip_model_summary(m, 1);
    CHECK(s != NULL && !strchr(s, '\n'));
    json_t *j = json_loads(s ? s : "", 0, NULL);
    CHECK(j != NULL);
    CHECK_STREQ(json_string_value(json_object_get(j, "layout")), "transformers");
    CHECK_STREQ(json_string_value(json_object_get(j, "dtype")), "F16");
    CHECK_STREQ(json_string_value(json_object_get(j, "activation")), "gelu");
    CHECK_EQ(json_integer_value(json_object_get(j, "embed_dim")), 48);
    CHECK_EQ((size_t)json_integer_value(json_object_get(j, "parameters")),
             seize_clip_model_parameters(m));
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(j, "vision"), "heads")), 4);
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(j, "text"), "layers")), 3);
    CHECK_EQ(json_object_size(j), 7);
    json_decref(j);
    free(s);
    s = seize_clip_model_summary(m, 0);
    CHECK(s != NULL);
    CHECK(strstr(s ? s : "", "(transformers layout, F16,") != NULL);
    CHECK(strstr(s ? s : "", "\nvision     image 224, patch 14, width 128, layers 2, heads 4") !=
          NULL);
    CHECK(strstr(s ? s : "", "\nnote       folder has both") != NULL);
    free(s);
    seize_clip_model_free(m);
}

int main(void)
{
    if (check_tmp_init("model") < 0) return 1;
    RUN(test_fixture_layouts);
    RUN(test_layouts_agree);
    RUN(test_presets);
    RUN(test_bad_safetensors);
    RUN(test_bad_models);
    RUN(test_config_limits);
    RUN(test_summary);
    check_tmp_cleanup();
    return check_summary("model");
}
