// A BLIP-2 (OPT) model folder: config.json, the weights (one file or an index + shards, mapped
// in the file's dtype), the tensors' host views with their shapes checked, the tokenizer, and
// the BLIP image processor.
#include "blip2_model.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct seize_blip2_model {
    char *dir, *config_path, *weights_path; // weights_path: the file or the index
    seize_blip2_config cfg;
    nn_blip2_extra extra;
    seize_st_file *st; // n_st files
    char **st_path;
    size_t n_st;
    nn_blip2_host host;
    seize_bpe *tok;
    nn_cache cache; // engine data (nn_blip2_cache_get)
};

// --- config.json ---------------------------------------------------------------------------------

typedef struct jc {
    const char *name; // the file, in messages
    int rc;           // the first error
} jc;

static void jfail(jc *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jfail(jc *j, const char *fmt, ...)
{
    if (j->rc < 0) return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    j->rc = seize_error(SEIZE_EFORMAT, "'%s': %s", j->name, msg);
}

// An integer field of section sec (lo ≤ value < 2^24), or def when absent or null.
static int jint(jc *j, json_t *o, const char *sec, const char *key, int def, int lo)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    if (!v || json_is_null(v)) return def;
    if (json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) < (1 << 24))
        return (int)json_integer_value(v);
    jfail(j, "%s%s must be an integer ≥ %d and < 2^24", sec, key, lo);
    return def;
}

static float jnum(jc *j, json_t *o, const char *sec, const char *key, double def)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    if (!v || json_is_null(v)) return (float)def;
    if (json_is_number(v) && json_number_value(v) > 0 && json_number_value(v) < 1)
        return (float)json_number_value(v);
    jfail(j, "%s%s must be a number in (0, 1)", sec, key);
    return (float)def;
}

static int jbool(jc *j, json_t *o, const char *sec, const char *key, int def)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    if (!v || json_is_null(v)) return def;
    if (json_is_boolean(v)) return json_is_true(v);
    jfail(j, "%s%s must be true or false", sec, key);
    return def;
}

static const char *jstr(jc *j, json_t *o, const char *sec, const char *key, const char *def)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    if (!v || json_is_null(v)) return def;
    if (json_is_string(v)) return json_string_value(v);
    jfail(j, "%s%s must be a string", sec, key);
    return def;
}

// A field whose value seize does not implement.
static void junsupported(jc *j, const char *sec, const char *key, const char *val, const char *why)
{
    jfail(j, "%s%s = %s is not implemented by seize (%s)", sec, key, val, why);
}

static void parse_vision(jc *j, json_t *vc, seize_blip2_config *c, nn_blip2_extra *x)
{
    const char *s = "vision_config.";
    c->image_size = jint(j, vc, s, "image_size", 224, 1);
    c->patch_size = jint(j, vc, s, "patch_size", 14, 1);
    c->vision_width = jint(j, vc, s, "hidden_size", 1408, 1);
    c->vision_layers = jint(j, vc, s, "num_hidden_layers", 39, 0);
    c->vision_heads = jint(j, vc, s, "num_attention_heads", 16, 1);
    c->vision_mlp = jint(j, vc, s, "intermediate_size", 6144, 1);
    c->vision_eps = jnum(j, vc, s, "layer_norm_eps", 1e-6);
    x->qkv_bias = jbool(j, vc, s, "qkv_bias", 1);
    const char *act = jstr(j, vc, s, "hidden_act", "gelu");
    if (strcmp(act, "gelu") != 0) junsupported(j, s, "hidden_act", act, "only gelu");
}

static void parse_qformer(jc *j, json_t *qc, seize_blip2_config *c)
{
    const char *s = "qformer_config.";
    c->qformer_width = jint(j, qc, s, "hidden_size", 768, 1);
    c->qformer_layers = jint(j, qc, s, "num_hidden_layers", 12, 0);
    c->qformer_heads = jint(j, qc, s, "num_attention_heads", 12, 1);
    c->qformer_mlp = jint(j, qc, s, "intermediate_size", 3072, 1);
    c->cross_attention_frequency = jint(j, qc, s, "cross_attention_frequency", 2, 1);
    c->qformer_eps = jnum(j, qc, s, "layer_norm_eps", 1e-12);
    // Blip2Config sets the Q-Former's encoder_hidden_size to the vision width, whatever the file
    (void)jint(j, qc, s, "encoder_hidden_size", 1408, 1);
    c->encoder_hidden_size = c->vision_width;
    const char *act = jstr(j, qc, s, "hidden_act", "gelu");
    if (strcmp(act, "gelu") != 0) junsupported(j, s, "hidden_act", act, "only gelu");
    const char *pe = jstr(j, qc, s, "position_embedding_type", "absolute");
    if (strcmp(pe, "absolute") != 0)
        junsupported(j, s, "position_embedding_type", pe, "only absolute");
}

static void parse_text(jc *j, json_t *tc, seize_blip2_config *c)
{
    const char *s = "text_config.";
    const char *mt = jstr(j, tc, s, "model_type", "opt");
    if (strcmp(mt, "opt") != 0)
        junsupported(j, s, "model_type", mt, "the language model must be OPT");
    c->text_width = jint(j, tc, s, "hidden_size", 768, 1);
    c->text_layers = jint(j, tc, s, "num_hidden_layers", 12, 0);
    c->text_heads = jint(j, tc, s, "num_attention_heads", 12, 1);
    c->text_ffn = jint(j, tc, s, "ffn_dim", 3072, 1);
    c->vocab_size = jint(j, tc, s, "vocab_size", 50272, 1);
    c->max_positions = jint(j, tc, s, "max_position_embeddings", 2048, 1);
    c->text_eps = 1e-5f; // OPT's layer norms: torch's default
    c->bos_id = jint(j, tc, s, "bos_token_id", 2, 0);
    c->pad_id = jint(j, tc, s, "pad_token_id", 1, 0);
    c->eos_id = jint(j, tc, s, "eos_token_id", 2, 0);
    int proj = jint(j, tc, s, "word_embed_proj_dim", c->text_width, 1);
    if (proj != c->text_width) {
        char v[32];
        snprintf(v, sizeof v, "%d", proj);
        junsupported(j, s, "word_embed_proj_dim", v, "project_in/out: must equal hidden_size");
    }
    const char *act = jstr(j, tc, s, "activation_function", "relu");
    if (strcmp(act, "relu") != 0) junsupported(j, s, "activation_function", act, "only relu");
    if (!jbool(j, tc, s, "do_layer_norm_before", 1))
        junsupported(j, s, "do_layer_norm_before", "false", "only pre-LN OPT");
    if (jbool(j, tc, s, "_remove_final_layer_norm", 0))
        junsupported(j, s, "_remove_final_layer_norm", "true", "the final layer norm is needed");
    if (!jbool(j, tc, s, "enable_bias", 1))
        junsupported(j, s, "enable_bias", "false", "OPT with biases only");
    if (!jbool(j, tc, s, "layer_norm_elementwise_affine", 1))
        junsupported(j, s, "layer_norm_elementwise_affine", "false", "affine layer norms only");
}

// Sizes that the engine needs to be consistent.
static void check_shape(jc *j, const seize_blip2_config *c)
{
    if (c->image_size % c->patch_size != 0)
        jfail(j, "vision_config.image_size %d is not a multiple of patch_size %d", c->image_size,
              c->patch_size);
    if (c->vision_width % c->vision_heads || c->qformer_width % c->qformer_heads ||
        c->text_width % c->text_heads)
        jfail(j, "a hidden_size is not a multiple of its num_attention_heads");
    if (c->bos_id >= c->vocab_size || c->pad_id >= c->vocab_size || c->eos_id >= c->vocab_size)
        jfail(j, "text_config: a special token id is outside vocab_size %d", c->vocab_size);
}

int nn_blip2_config_parse(const char *text, size_t len, const char *name, seize_blip2_config *out,
                          nn_blip2_extra *extra)
{
    memset(out, 0, sizeof *out);
    memset(extra, 0, sizeof *extra);
    json_t *root;
    int rc = seize_json_parse(text, len, name, &root);
    if (rc < 0) return rc;
    jc j = {name, 0};
    json_t *vc = NULL, *qc = NULL, *tc = NULL;
    if (!json_is_object(root)) {
        jfail(&j, "not a JSON object");
        goto done;
    }
    const char *mt = jstr(&j, root, "", "model_type", NULL);
    vc = json_object_get(root, "vision_config");
    qc = json_object_get(root, "qformer_config");
    tc = json_object_get(root, "text_config");
    if (mt ? strcmp(mt, "blip-2") != 0 : !qc) {
        j.rc = seize_error(SEIZE_EFORMAT,
                           "'%s': not a BLIP-2 folder (model_type \"%s\", need \"blip-2\")", name,
                           mt ? mt : "absent, and no qformer_config");
        goto done;
    }
    if ((vc && !json_is_object(vc)) || (qc && !json_is_object(qc)) || (tc && !json_is_object(tc))) {
        jfail(&j, "vision_config, qformer_config and text_config must be objects");
        goto done;
    }
    if (!jbool(&j, root, "", "use_decoder_only_language_model", 1))
        junsupported(&j, "", "use_decoder_only_language_model", "false",
                     "an encoder-decoder language model such as T5; OPT only");
    out->num_query_tokens = jint(&j, root, "", "num_query_tokens", 32, 1);
    parse_vision(&j, vc, out, extra);
    parse_qformer(&j, qc, out);
    parse_text(&j, tc, out);
    if (j.rc == 0) check_shape(&j, out);
done:
    json_decref(root);
    return j.rc;
}

// --- model.safetensors.index.json -----------------------------------------------------------

void nn_blip2_index_free(nn_blip2_index *ix)
{
    if (!ix) return;
    seize_strv_free(ix->shards, ix->n_shards);
    seize_strv_free(ix->tensors, ix->n_tensors);
    free(ix->tensor_file);
    memset(ix, 0, sizeof *ix);
}

static int shard_name_ok(const char *s, size_t len)
{
    return len > 0 && strlen(s) == len && !strchr(s, '/') && !strchr(s, '\\') && !strstr(s, "..");
}

// The index of shard file s in ix (added when new); < 0 on error.
static long shard_of(nn_blip2_index *ix, const char *s)
{
    for (size_t i = 0; i < ix->n_shards; i++)
        if (strcmp(ix->shards[i], s) == 0) return (long)i;
    char **n = seize_realloc(ix->shards, ix->n_shards + 1, sizeof *n);
    if (!n) return SEIZE_ENOMEM;
    ix->shards = n;
    if (!(ix->shards[ix->n_shards] = seize_strdup(s))) return SEIZE_ENOMEM;
    return (long)ix->n_shards++;
}

static int index_fill(nn_blip2_index *ix, json_t *wm, const char *name)
{
    size_t n = json_object_size(wm);
    ix->tensors = seize_calloc(n ? n : 1, sizeof *ix->tensors);
    ix->tensor_file = seize_calloc(n ? n : 1, sizeof *ix->tensor_file);
    if (!ix->tensors || !ix->tensor_file) return seize_error(SEIZE_ENOMEM, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(wm, key, v)
    {
        const char *s = json_string_value(v);
        if (!s || !shard_name_ok(s, json_string_length(v)))
            return seize_error(SEIZE_EFORMAT,
                               "'%s': weight_map[\"%s\"] must be a file name in the folder "
                               "(no '/', '\\\\' or '..')",
                               name, key);
        long f = shard_of(ix, s);
        if (f < 0) return seize_error(SEIZE_ENOMEM, "out of memory");
        if (!(ix->tensors[ix->n_tensors] = seize_strdup(key)))
            return seize_error(SEIZE_ENOMEM, "out of memory");
        ix->tensor_file[ix->n_tensors++] = (size_t)f;
    }
    if (ix->n_tensors == 0) return seize_error(SEIZE_EFORMAT, "'%s': weight_map is empty", name);
    return 0;
}

int nn_blip2_index_parse(const char *text, size_t len, const char *name, nn_blip2_index *out)
{
    memset(out, 0, sizeof *out);
    json_t *root;
    int rc = seize_json_parse(text, len, name, &root);
    if (rc < 0) return rc;
    json_t *wm = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    json_t *meta = json_is_object(root) ? json_object_get(root, "metadata") : NULL;
    if (!json_is_object(wm))
        rc = seize_error(SEIZE_EFORMAT, "'%s': no \"weight_map\" object", name);
    else if (meta && !json_is_object(meta) && !json_is_null(meta))
        rc = seize_error(SEIZE_EFORMAT, "'%s': \"metadata\" must be an object", name);
    else
        rc = index_fill(out, wm, name);
    json_decref(root);
    if (rc < 0) nn_blip2_index_free(out);
    return rc;
}

// --- tensor views ----------------------------------------------------------------------------

const seize_st_tensor *nn_blip2_tensor(const seize_blip2_model *m, const char *name,
                                       const char **file)
{
    for (size_t i = 0; i < m->n_st; i++) {
        const seize_st_tensor *t = seize_st_find(&m->st[i], name);
        if (t) {
            if (file) *file = m->st_path[i];
            return t;
        }
    }
    if (file) *file = m->weights_path;
    return NULL;
}

typedef struct hv {
    const seize_blip2_model *m;
    int rc;
} hv;

static const char *shape_str(char *buf, size_t cap, int nd, const size_t *shape)
{
    size_t at = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < nd && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%zu", i ? ", " : "", shape[i]);
    if (at < cap) snprintf(buf + at, cap - at, "]");
    return buf;
}

// dst = the tensor `name` of shape[0..nd) seen as (rows, cols); an error names the file.
static void view_shape(hv *h, nn_host_tensor *dst, size_t rows, size_t cols, int nd,
                       const size_t *shape, const char *name)
{
    if (h->rc < 0) return;
    const char *file;
    const seize_st_tensor *t = nn_blip2_tensor(h->m, name, &file);
    char a[96], b[96];
    if (!t) {
        h->rc = seize_error(SEIZE_EFORMAT, "'%s': tensor '%s' is missing", file, name);
        return;
    }
    if (t->dtype != SEIZE_ST_F32 && t->dtype != SEIZE_ST_F16 && t->dtype != SEIZE_ST_BF16) {
        h->rc = seize_error(SEIZE_EFORMAT, "'%s': tensor '%s' is %s (need F32, F16 or BF16)", file,
                            name, seize_st_dtype_name(t->dtype));
        return;
    }
    int same = t->ndim == nd;
    for (int i = 0; same && i < nd; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        h->rc = seize_error(SEIZE_EFORMAT, "'%s': tensor '%s' has shape %s, the config needs %s",
                            file, name, shape_str(a, sizeof a, t->ndim, t->shape),
                            shape_str(b, sizeof b, nd, shape));
        return;
    }
    nn_dtype dt = t->dtype == SEIZE_ST_F32 ? NN_F32 : t->dtype == SEIZE_ST_F16 ? NN_F16 : NN_BF16;
    *dst = (nn_host_tensor){t->data, dt, rows, cols};
}

static void vecf(hv *h, nn_host_tensor *dst, size_t n, const char *pre, const char *what)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s", pre, what);
    view_shape(h, dst, 1, n, 1, (size_t[]){n}, name);
}

static void matf(hv *h, nn_host_tensor *dst, size_t rows, size_t cols, const char *pre,
                 const char *what)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s", pre, what);
    view_shape(h, dst, rows, cols, 2, (size_t[]){rows, cols}, name);
}

// A linear layer pre+what.weight (rows, cols) and its bias (rows).
static void linf(hv *h, nn_host_tensor *w, nn_host_tensor *b, size_t rows, size_t cols,
                 const char *pre, const char *what)
{
    char name[256];
    snprintf(name, sizeof name, "%s.weight", what);
    matf(h, w, rows, cols, pre, name);
    snprintf(name, sizeof name, "%s.bias", what);
    vecf(h, b, rows, pre, name);
}

static void lnf(hv *h, nn_host_tensor *g, nn_host_tensor *b, size_t n, const char *pre,
                const char *what)
{
    char name[256];
    snprintf(name, sizeof name, "%s.weight", what);
    vecf(h, g, n, pre, name);
    snprintf(name, sizeof name, "%s.bias", what);
    vecf(h, b, n, pre, name);
}

static void vision_views(hv *h, const seize_blip2_config *c, nn_blip2_host *w, int qkv_bias)
{
    size_t d = (size_t)c->vision_width, p = (size_t)c->patch_size, mlp = (size_t)c->vision_mlp;
    size_t g = (size_t)(c->image_size / c->patch_size), T = 1 + g * g;
    const char *e = "vision_model.embeddings.";
    char name[256], pre[128];
    snprintf(name, sizeof name, "%spatch_embedding.weight", e);
    view_shape(h, &w->patch_w, d, 3 * p * p, 4, (size_t[]){d, 3, p, p}, name);
    vecf(h, &w->patch_b, d, e, "patch_embedding.bias");
    snprintf(name, sizeof name, "%sclass_embedding", e);
    view_shape(h, &w->cls, 1, d, 3, (size_t[]){1, 1, d}, name);
    snprintf(name, sizeof name, "%sposition_embedding", e);
    view_shape(h, &w->pos, T, d, 3, (size_t[]){1, T, d}, name);
    lnf(h, &w->post_g, &w->post_b, d, "vision_model.", "post_layernorm");
    for (int l = 0; l < c->vision_layers && h->rc == 0; l++) {
        nn_blip2_hvis *v = &w->vis[l];
        snprintf(pre, sizeof pre, "vision_model.encoder.layers.%d.", l);
        lnf(h, &v->ln1_g, &v->ln1_b, d, pre, "layer_norm1");
        matf(h, &v->qkv_w, 3 * d, d, pre, "self_attn.qkv.weight");
        if (qkv_bias) vecf(h, &v->qkv_b, 3 * d, pre, "self_attn.qkv.bias");
        linf(h, &v->proj_w, &v->proj_b, d, d, pre, "self_attn.projection");
        lnf(h, &v->ln2_g, &v->ln2_b, d, pre, "layer_norm2");
        linf(h, &v->fc1_w, &v->fc1_b, mlp, d, pre, "mlp.fc1");
        linf(h, &v->fc2_w, &v->fc2_b, d, mlp, pre, "mlp.fc2");
    }
}

// A BERT attention block of the Q-Former: pre = "...layer.<l>.attention." or "crossattention.".
static void bert_attn(hv *h, nn_blip2_hattn *a, size_t d, size_t d_kv, const char *pre)
{
    linf(h, &a->wq, &a->bq, d, d, pre, "attention.query");
    linf(h, &a->wk, &a->bk, d, d_kv, pre, "attention.key");
    linf(h, &a->wv, &a->bv, d, d_kv, pre, "attention.value");
    linf(h, &a->wo, &a->bo, d, d, pre, "output.dense");
    lnf(h, &a->ln_g, &a->ln_b, d, pre, "output.LayerNorm");
}

static void qformer_views(hv *h, const seize_blip2_config *c, nn_blip2_host *w)
{
    size_t d = (size_t)c->qformer_width, Q = (size_t)c->num_query_tokens;
    size_t mlp = (size_t)c->qformer_mlp, de = (size_t)c->encoder_hidden_size;
    char pre[160], sub[200];
    view_shape(h, &w->query, Q, d, 3, (size_t[]){1, Q, d}, "query_tokens");
    lnf(h, &w->qln_g, &w->qln_b, d, "qformer.", "layernorm");
    for (int l = 0; l < c->qformer_layers && h->rc == 0; l++) {
        nn_blip2_hlayer *L = &w->qf[l];
        snprintf(pre, sizeof pre, "qformer.encoder.layer.%d.", l);
        snprintf(sub, sizeof sub, "%sattention.", pre);
        bert_attn(h, &L->self, d, d, sub);
        L->has_cross = l % c->cross_attention_frequency == 0;
        snprintf(sub, sizeof sub, "%scrossattention.", pre);
        if (L->has_cross) bert_attn(h, &L->cross, d, de, sub);
        linf(h, &L->mlp.w1, &L->mlp.b1, mlp, d, pre, "intermediate_query.dense");
        linf(h, &L->mlp.w2, &L->mlp.b2, d, mlp, pre, "output_query.dense");
        lnf(h, &L->mlp.ln_g, &L->mlp.ln_b, d, pre, "output_query.LayerNorm");
    }
    linf(h, &w->proj_w, &w->proj_b, (size_t)c->text_width, d, "", "language_projection");
}

static void opt_views(hv *h, const seize_blip2_config *c, nn_blip2_host *w)
{
    size_t d = (size_t)c->text_width, V = (size_t)c->vocab_size, ffn = (size_t)c->text_ffn;
    const char *dec = "language_model.model.decoder.";
    char pre[160];
    matf(h, &w->tok, V, d, dec, "embed_tokens.weight");
    matf(h, &w->tpos, (size_t)c->max_positions + 2, d, dec, "embed_positions.weight");
    lnf(h, &w->fin_g, &w->fin_b, d, dec, "final_layer_norm");
    w->head = w->tok; // tied, unless the file has its own head
    if (nn_blip2_tensor(h->m, "language_model.lm_head.weight", NULL))
        matf(h, &w->head, V, d, "language_model.", "lm_head.weight");
    for (int l = 0; l < c->text_layers && h->rc == 0; l++) {
        nn_blip2_hlayer *L = &w->lm[l];
        nn_blip2_hattn *a = &L->self;
        snprintf(pre, sizeof pre, "%slayers.%d.", dec, l);
        linf(h, &a->wq, &a->bq, d, d, pre, "self_attn.q_proj");
        linf(h, &a->wk, &a->bk, d, d, pre, "self_attn.k_proj");
        linf(h, &a->wv, &a->bv, d, d, pre, "self_attn.v_proj");
        linf(h, &a->wo, &a->bo, d, d, pre, "self_attn.out_proj");
        lnf(h, &a->ln_g, &a->ln_b, d, pre, "self_attn_layer_norm");
        linf(h, &L->mlp.w1, &L->mlp.b1, ffn, d, pre, "fc1");
        linf(h, &L->mlp.w2, &L->mlp.b2, d, ffn, pre, "fc2");
        lnf(h, &L->mlp.ln_g, &L->mlp.ln_b, d, pre, "final_layer_norm");
    }
}

static int host_views(seize_blip2_model *m)
{
    const seize_blip2_config *c = &m->cfg;
    nn_blip2_host *w = &m->host;
    w->vis = seize_calloc((size_t)c->vision_layers + 1, sizeof *w->vis);
    w->qf = seize_calloc((size_t)c->qformer_layers + 1, sizeof *w->qf);
    w->lm = seize_calloc((size_t)c->text_layers + 1, sizeof *w->lm);
    if (!w->vis || !w->qf || !w->lm) return seize_error(SEIZE_ENOMEM, "out of memory");
    hv h = {m, 0};
    vision_views(&h, c, w, m->extra.qkv_bias);
    qformer_views(&h, c, w);
    opt_views(&h, c, w);
    return h.rc;
}

// --- loading ---------------------------------------------------------------------------------

// config.json, or why the folder is not a BLIP-2 folder.
static int load_config(seize_blip2_model *m)
{
    if (!(m->config_path = seize_path_join(m->dir, "config.json"))) return SEIZE_ENOMEM;
    if (!seize_path_exists(m->config_path)) {
        char *oc = seize_path_join(m->dir, "open_clip_config.json");
        char *ow = seize_path_join(m->dir, "open_clip_model.safetensors");
        int clip = (oc && seize_path_exists(oc)) || (ow && seize_path_exists(ow));
        free(oc);
        free(ow);
        if (clip)
            return seize_error(SEIZE_EFORMAT,
                               "'%s' is not a BLIP-2 folder: no config.json, and it has "
                               "open_clip files (a CLIP model)",
                               m->dir);
        return seize_error(SEIZE_ENOTFOUND, "cannot load BLIP-2 model: '%s' does not exist",
                           m->config_path);
    }
    char *text;
    size_t len;
    int rc = seize_read_file(m->config_path, &text, &len);
    if (rc < 0) return rc;
    rc = nn_blip2_config_parse(text, len, m->config_path, &m->cfg, &m->extra);
    free(text);
    return rc;
}

static int add_file(seize_blip2_model *m, char *path)
{
    m->st_path[m->n_st] = path;
    if (!path) return SEIZE_ENOMEM;
    if (!seize_path_exists(path)) {
        m->n_st++;
        return seize_error(SEIZE_ENOTFOUND, "weights file '%s' does not exist", path);
    }
    int rc = seize_st_open(path, &m->st[m->n_st]);
    m->n_st++;
    return rc;
}

// The shards of an index; every tensor it lists must be in its shard.
static int load_index(seize_blip2_model *m)
{
    char *text;
    size_t len;
    int rc = seize_read_file(m->weights_path, &text, &len);
    if (rc < 0) return rc;
    nn_blip2_index ix;
    rc = nn_blip2_index_parse(text, len, m->weights_path, &ix);
    free(text);
    if (rc < 0) return rc;
    m->st = seize_calloc(ix.n_shards, sizeof *m->st);
    m->st_path = seize_calloc(ix.n_shards, sizeof *m->st_path);
    if (!m->st || !m->st_path) rc = seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t i = 0; i < ix.n_shards && rc == 0; i++) {
        rc = add_file(m, seize_path_join(m->dir, ix.shards[i]));
        if (rc < 0 && rc != SEIZE_ENOMEM)
            seize_error_prefix(rc, "shard %zu of '%s'", i + 1, m->weights_path);
    }
    for (size_t i = 0; i < ix.n_tensors && rc == 0; i++)
        if (!seize_st_find(&m->st[ix.tensor_file[i]], ix.tensors[i]))
            rc =
                seize_error(SEIZE_EFORMAT, "'%s' lists tensor '%s' in '%s', which does not hold it",
                            m->weights_path, ix.tensors[i], m->st_path[ix.tensor_file[i]]);
    nn_blip2_index_free(&ix);
    return rc;
}

static int load_weights(seize_blip2_model *m)
{
    char *index = seize_path_join(m->dir, "model.safetensors.index.json");
    char *single = seize_path_join(m->dir, "model.safetensors");
    if (!index || !single) {
        free(index);
        free(single);
        return SEIZE_ENOMEM;
    }
    if (seize_path_exists(single)) {
        free(index);
        m->weights_path = seize_strdup(single);
        m->st = seize_calloc(1, sizeof *m->st);
        m->st_path = seize_calloc(1, sizeof *m->st_path);
        if (!m->weights_path || !m->st || !m->st_path) {
            free(single);
            return seize_error(SEIZE_ENOMEM, "out of memory");
        }
        return add_file(m, single);
    }
    free(single);
    if (!seize_path_exists(index)) {
        int rc =
            seize_error(SEIZE_ENOTFOUND, "'%s' has neither model.safetensors nor its index (%s)",
                        m->dir, index);
        free(index);
        return rc;
    }
    m->weights_path = index;
    return load_index(m);
}

static void count_params(seize_blip2_model *m)
{
    for (size_t i = 0; i < m->n_st; i++)
        for (size_t k = 0; k < m->st[i].n_tensors; k++) {
            seize_st_dtype t = m->st[i].tensors[k].dtype;
            if (t == SEIZE_ST_F32 || t == SEIZE_ST_F16 || t == SEIZE_ST_BF16)
                m->cfg.n_params += m->st[i].tensors[k].count;
        }
}

// Every layer has tensors: a config with more layers than the files have tensors is refused
// before the per-layer tables are allocated (num_hidden_layers may be up to 2^24 - 1).
static int check_layers(const seize_blip2_model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_st; i++)
        n += m->st[i].n_tensors;
    const seize_blip2_config *c = &m->cfg;
    size_t layers = (size_t)c->vision_layers + (size_t)c->qformer_layers + (size_t)c->text_layers;
    if (layers <= n) return 0;
    return seize_error(SEIZE_EFORMAT,
                       "'%s': %d + %d + %d num_hidden_layers (vision, qformer, text) but the "
                       "weights ('%s') hold %zu tensors",
                       m->config_path, c->vision_layers, c->qformer_layers, c->text_layers,
                       m->weights_path, n);
}

int seize_blip2_model_load(const char *dir, seize_blip2_model **out)
{
    *out = NULL;
    if (!dir || !seize_path_exists(dir))
        return seize_error(SEIZE_ENOTFOUND, "cannot open model folder '%s': no such folder",
                           dir ? dir : "");
    seize_blip2_model *m = calloc(1, sizeof *m);
    if (!m) return seize_error(SEIZE_ENOMEM, "out of memory");
    nn_cache_init(&m->cache);
    int rc = (m->dir = seize_strdup(dir)) ? 0 : SEIZE_ENOMEM;
    if (rc == 0) rc = load_config(m);
    if (rc == 0) rc = load_weights(m);
    if (rc == 0) rc = check_layers(m);
    if (rc == 0) rc = host_views(m);
    if (rc == 0) rc = seize_bpe_load(dir, &m->tok);
    if (rc < 0) {
        if (rc == SEIZE_ENOMEM) seize_error(rc, "out of memory loading '%s'", dir);
        seize_blip2_model_free(m);
        return rc;
    }
    count_params(m);
    *out = m;
    return 0;
}

void seize_blip2_model_free(seize_blip2_model *m)
{
    if (!m) return;
    nn_cache_destroy(&m->cache);
    seize_bpe_free(m->tok);
    for (size_t i = 0; i < m->n_st; i++) {
        seize_st_close(&m->st[i]);
        free(m->st_path[i]);
    }
    free(m->st);
    free(m->st_path);
    free(m->host.vis);
    free(m->host.qf);
    free(m->host.lm);
    free(m->dir);
    free(m->config_path);
    free(m->weights_path);
    free(m);
}

const seize_blip2_config *seize_blip2_model_get_config(const seize_blip2_model *m)
{
    return &m->cfg;
}

const seize_bpe *seize_blip2_model_tokenizer(const seize_blip2_model *m)
{
    return m->tok;
}

const nn_blip2_extra *nn_blip2_model_extra(const seize_blip2_model *m)
{
    return &m->extra;
}

const nn_blip2_host *nn_blip2_model_host(const seize_blip2_model *m)
{
    return &m->host;
}

const char *nn_blip2_model_weights_path(const seize_blip2_model *m)
{
    return m->weights_path;
}

// --- engine data -----------------------------------------------------------------------------

int nn_blip2_cache_get(const seize_blip2_model *cm, const char *key, nn_cache_make make, void *ud,
                       nn_cache_free fr, void **out)
{
    seize_blip2_model *m = (seize_blip2_model *)cm; // the cache is the one mutable part
    return nn_cache_get(&m->cache, key, make, ud, fr, out);
}

void nn_blip2_drop_range(const seize_blip2_model *m, const void *p, size_t n)
{
    for (size_t i = 0; i < m->n_st; i++)
        if (nn_drop_pages(m->st[i].map.data, m->st[i].map.size, p, n)) return;
}

// --- the BLIP image processor --------------------------------------------------------------------

// convert("RGB"), resize to S × S (bicubic), /255, CLIP's mean and std.
static seize_preprocess_opts blip_opts(const seize_blip2_model *m)
{
    seize_preprocess_opts o = seize_preprocess_default_opts();
    o.pad_ratio = 0;
    o.squash = 1;
    o.size = m->cfg.image_size;
    return o;
}

int seize_blip2_load_pixels(const seize_blip2_model *m, const char *path, float *pixels)
{
    seize_preprocess_opts o = blip_opts(m);
    return seize_image_load_preprocess(path, &o, pixels);
}

int seize_blip2_image_pixels(const seize_blip2_model *m, const seize_image *img, float *pixels)
{
    seize_preprocess_opts o = blip_opts(m);
    return seize_image_preprocess(img, &o, pixels);
}
