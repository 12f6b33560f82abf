// A CLIP model's weights in a backend's form, made once per model, backend kind, device and
// precision, and kept on the model (model_cache.h).
#include "clip_weights.h"

#include "model_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct set {
    nn_clip_weights pub;
    void (*wfree)(nn_weight *w);
    nn_weight **all; // every handle, for freeing
    size_t n_all, cap_all;
} set;

typedef struct maker {
    const seize_clip_model *m;
    nn_backend *b;
    set *s;
} maker;

static void set_free(void *p)
{
    set *s = p;
    if (!s) return;
    for (size_t i = 0; i < s->n_all; i++)
        s->wfree(s->all[i]);
    free(s->all);
    free(s->pub.vision.blocks);
    free(s->pub.text.blocks);
    free(s);
}

static int keep(set *s, nn_weight *w, nn_weight **out)
{
    if (!w) return SEIZE_ENOMEM; // the backend set the message
    if (s->n_all == s->cap_all) {
        size_t cap = s->cap_all ? 2 * s->cap_all : 64;
        nn_weight **n = seize_realloc(s->all, cap, sizeof *n);
        if (!n) {
            s->wfree(w);
            return seize_error(SEIZE_ENOMEM, "out of memory");
        }
        s->all = n;
        s->cap_all = cap;
    }
    s->all[s->n_all++] = w;
    s->pub.bytes += w->bytes;
    if (w->use == NN_W_LINEAR && !s->pub.impl) s->pub.impl = w->impl;
    *out = w;
    return 0;
}

static nn_dtype st_dtype(seize_st_dtype t)
{
    return t == SEIZE_ST_BF16 ? NN_BF16 : t == SEIZE_ST_F16 ? NN_F16 : NN_F32;
}

static int vec(maker *k, const float *v, size_t rows, size_t cols, nn_weight_use use,
               nn_weight **out)
{
    *out = NULL;
    if (!v) return 0;
    nn_host_tensor t = {v, NN_F32, rows, cols};
    return keep(k->s, k->b->ops->weight(k->b, &t, use), out);
}

static int mat(maker *k, const seize_matrix *a, nn_weight **out)
{
    nn_host_tensor t = {a->data, st_dtype(a->dtype), a->rows, a->cols};
    int rc = keep(k->s, k->b->ops->weight(k->b, &t, NN_W_LINEAR), out);
    // packed: the file's pages of this matrix can go now (a backend that multiplies from the
    // mapping itself reads them back)
    if (rc == 0 && (*out)->bytes > 0)
        nn_model_drop_file_range(k->m, a->data,
                                 a->rows * a->cols * (a->dtype == SEIZE_ST_F32 ? 4 : 2));
    return rc;
}

// q, k and v as one (3d, d) matrix: the file's fused tensor, or a temporary concatenation.
static int qkv(maker *k, const seize_block_weights *bw, nn_weight **out)
{
    if (bw->qkv_w.data) return mat(k, &bw->qkv_w, out);
    const seize_matrix *p[3] = {&bw->q_w, &bw->k_w, &bw->v_w};
    if (p[1]->dtype != p[0]->dtype || p[2]->dtype != p[0]->dtype) {
        // mixed dtypes: not seen in practice; the backend would need three products
        return seize_error(SEIZE_EFORMAT, "q, k and v weights of different dtypes");
    }
    size_t es = p[0]->dtype == SEIZE_ST_F32 ? 4 : 2, one = p[0]->rows * p[0]->cols * es;
    uint8_t *cat = malloc(3 * one);
    if (!cat) return seize_error(SEIZE_ENOMEM, "out of memory");
    for (int i = 0; i < 3; i++)
        memcpy(cat + (size_t)i * one, p[i]->data, one);
    seize_matrix a = {cat, p[0]->dtype, 3 * p[0]->rows, p[0]->cols};
    int rc = mat(k, &a, out);
    free(cat);
    return rc;
}

static int block(maker *k, const seize_block_weights *bw, size_t d, size_t mlp, nn_clip_block *o)
{
    int rc;
    if ((rc = vec(k, bw->ln1_w, 1, d, NN_W_VECTOR, &o->ln1_w)) < 0 ||
        (rc = vec(k, bw->ln1_b, 1, d, NN_W_VECTOR, &o->ln1_b)) < 0 ||
        (rc = qkv(k, bw, &o->qkv_w)) < 0 ||
        (rc = vec(k, bw->q_b, 1, d, NN_W_VECTOR, &o->q_b)) < 0 ||
        (rc = vec(k, bw->k_b, 1, d, NN_W_VECTOR, &o->k_b)) < 0 ||
        (rc = vec(k, bw->v_b, 1, d, NN_W_VECTOR, &o->v_b)) < 0 ||
        (rc = mat(k, &bw->out_w, &o->out_w)) < 0 ||
        (rc = vec(k, bw->out_b, 1, d, NN_W_VECTOR, &o->out_b)) < 0 ||
        (rc = vec(k, bw->ln2_w, 1, d, NN_W_VECTOR, &o->ln2_w)) < 0 ||
        (rc = vec(k, bw->ln2_b, 1, d, NN_W_VECTOR, &o->ln2_b)) < 0 ||
        (rc = mat(k, &bw->fc1_w, &o->fc1_w)) < 0 ||
        (rc = vec(k, bw->fc1_b, 1, mlp, NN_W_VECTOR, &o->fc1_b)) < 0 ||
        (rc = mat(k, &bw->fc2_w, &o->fc2_w)) < 0 ||
        (rc = vec(k, bw->fc2_b, 1, d, NN_W_VECTOR, &o->fc2_b)) < 0)
        return rc;
    return 0;
}

static int tower(maker *k, const seize_tower_weights *tw, const seize_tower_config *tc,
                 size_t n_pos, size_t vocab, nn_clip_tower *o)
{
    size_t d = (size_t)tc->width;
    int rc;
    o->n_layers = tw->n_layers;
    o->blocks = calloc((size_t)(tw->n_layers ? tw->n_layers : 1), sizeof *o->blocks);
    if (!o->blocks) return seize_error(SEIZE_ENOMEM, "out of memory");
    for (int l = 0; l < tw->n_layers; l++)
        if ((rc = block(k, &tw->blocks[l], d, (size_t)tc->mlp_dim, &o->blocks[l])) < 0) return rc;
    int vision = tw->patch_w.data != NULL;
    if ((rc = vec(k, tw->ln_pre_w, 1, d, NN_W_VECTOR, &o->ln_pre_w)) < 0 ||
        (rc = vec(k, tw->ln_pre_b, 1, d, NN_W_VECTOR, &o->ln_pre_b)) < 0 ||
        (rc = vec(k, tw->ln_post_w, 1, d, NN_W_VECTOR, &o->ln_post_w)) < 0 ||
        (rc = vec(k, tw->ln_post_b, 1, d, NN_W_VECTOR, &o->ln_post_b)) < 0 ||
        (rc = mat(k, &tw->proj, &o->proj)) < 0 ||
        (rc = vec(k, tw->pos_emb, n_pos, d, vision ? NN_W_VECTOR : NN_W_TABLE, &o->pos_emb)) < 0 ||
        (rc = vec(k, tw->class_emb, 1, d, NN_W_VECTOR, &o->class_emb)) < 0 ||
        (rc = vec(k, tw->tok_emb, vocab, d, NN_W_TABLE, &o->tok_emb)) < 0)
        return rc;
    if (vision && (rc = mat(k, &tw->patch_w, &o->patch_w)) < 0) return rc;
    return 0;
}

static int make(void *ud, void **data)
{
    maker *k = ud;
    set *s = calloc(1, sizeof *s);
    if (!s) return seize_error(SEIZE_ENOMEM, "out of memory");
    s->wfree = k->b->ops->weight_free;
    k->s = s;
    const seize_clip_model_config *c = seize_clip_model_get_config(k->m);
    const seize_clip_model_weights *w = seize_clip_model_get_weights(k->m);
    size_t g = (size_t)(c->image_size / c->patch_size);
    int rc = tower(k, &w->vision, &c->vision, 1 + g * g, 0, &s->pub.vision);
    if (rc == 0)
        rc = tower(k, &w->text, &c->text, (size_t)c->context_length, (size_t)c->vocab_size,
                   &s->pub.text);
    if (rc < 0) {
        set_free(s);
        return rc;
    }
    // the matrices now live in the backend's own form: the file's pages can go
    nn_model_drop_file_pages(k->m);
    *data = s;
    return 0;
}

int nn_clip_weights_get(const seize_clip_model *m, nn_backend *b, seize_precision p, int device,
                        const nn_clip_weights **out)
{
    char key[96];
    snprintf(key, sizeof key, "clip/%s/%d/%s", b->ops->name, device, seize_precision_name(p));
    maker k = {m, b, NULL};
    void *data = NULL;
    int rc = nn_model_cache_get(m, key, make, &k, set_free, &data);
    *out = data;
    return rc;
}
