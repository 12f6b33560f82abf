// A BLIP-2 model's weights in a backend's form, made once per model, backend kind, device and
// precision, and kept on the model (nn_blip2_cache_get).
#include "blip2_weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct set {
    nn_blip2_weights pub;
    void (*wfree)(nn_weight *w);
    nn_weight **all; // every handle, for freeing
    size_t n_all, cap_all;
    float *zeros; // the vision qkv bias of a model without one
} set;

typedef struct maker {
    const seize_blip2_model *m;
    nn_backend *b;
    set *s;
    int rc;
} maker;

static void set_free(void *p)
{
    set *s = p;
    if (!s) return;
    for (size_t i = 0; i < s->n_all; i++)
        s->wfree(s->all[i]);
    free(s->all);
    free(s->pub.vis);
    free(s->pub.qf);
    free(s->pub.lm);
    free(s->zeros);
    free(s);
}

// The backend's form of host tensor t for use (NULL when t is absent or on error: k->rc).
static nn_weight *mk(maker *k, const nn_host_tensor *t, nn_weight_use use)
{
    if (k->rc < 0 || !t->data) return NULL;
    set *s = k->s;
    if (s->n_all == s->cap_all) {
        size_t cap = s->cap_all ? 2 * s->cap_all : 256;
        nn_weight **n = seize_realloc(s->all, cap, sizeof *n);
        if (!n) {
            k->rc = seize_error(SEIZE_ENOMEM, "out of memory");
            return NULL;
        }
        s->all = n;
        s->cap_all = cap;
    }
    nn_weight *w = k->b->ops->weight(k->b, t, use);
    if (!w) {
        k->rc = SEIZE_ENOMEM; // the backend set the message
        return NULL;
    }
    s->all[s->n_all++] = w;
    s->pub.bytes += w->bytes;
    if (use == NN_W_LINEAR && !s->pub.impl) s->pub.impl = w->impl;
    // packed or converted: the file's pages of this tensor can go (a weight used in place
    // reports 0 bytes and keeps them)
    if (w->bytes > 0)
        nn_blip2_drop_range(k->m, t->data, t->rows * t->cols * nn_dtype_size(t->dtype));
    return w;
}

static nn_weight *lin(maker *k, const nn_host_tensor *t)
{
    return mk(k, t, NN_W_LINEAR);
}

static nn_weight *vec(maker *k, const nn_host_tensor *t)
{
    return mk(k, t, NN_W_VECTOR);
}

// Part i (of 3) of a fused (3d) bias vector.
static nn_weight *third(maker *k, const nn_host_tensor *t, int i)
{
    size_t d = t->cols / 3;
    nn_host_tensor p = {(const char *)t->data + (size_t)i * d * nn_dtype_size(t->dtype), t->dtype,
                        1, d};
    return vec(k, &p);
}

static void attn(maker *k, const nn_blip2_hattn *h, nn_xf_attn *a)
{
    *a = (nn_xf_attn){lin(k, &h->wq),   vec(k, &h->bq),  lin(k, &h->wk), vec(k, &h->bk),
                      lin(k, &h->wv),   vec(k, &h->bv),  lin(k, &h->wo), vec(k, &h->bo),
                      vec(k, &h->ln_g), vec(k, &h->ln_b)};
}

static void mlp(maker *k, const nn_blip2_hmlp *h, nn_xf_mlp *o)
{
    *o = (nn_xf_mlp){lin(k, &h->w1), vec(k, &h->b1),   lin(k, &h->w2),
                     vec(k, &h->b2), vec(k, &h->ln_g), vec(k, &h->ln_b)};
}

static void layers(maker *k, const nn_blip2_hlayer *h, int n, nn_xf_layer *o)
{
    for (int l = 0; l < n && k->rc == 0; l++) {
        attn(k, &h[l].self, &o[l].self);
        if (h[l].has_cross) attn(k, &h[l].cross, &o[l].cross);
        mlp(k, &h[l].mlp, &o[l].mlp);
    }
}

static void vision(maker *k, const seize_blip2_config *c, const nn_blip2_host *h)
{
    nn_blip2_weights *w = &k->s->pub;
    w->patch_w = lin(k, &h->patch_w);
    w->patch_b = vec(k, &h->patch_b);
    w->cls = vec(k, &h->cls);
    w->pos = vec(k, &h->pos);
    w->post_g = vec(k, &h->post_g);
    w->post_b = vec(k, &h->post_b);
    size_t d = (size_t)c->vision_width;
    if (c->vision_layers > 0 && !h->vis[0].qkv_b.data && k->rc == 0 &&
        !(k->s->zeros = seize_calloc(3 * d, sizeof(float))))
        k->rc = seize_error(SEIZE_ENOMEM, "out of memory");
    nn_host_tensor zero = {k->s->zeros, NN_F32, 1, 3 * d};
    for (int l = 0; l < c->vision_layers && k->rc == 0; l++) {
        const nn_blip2_hvis *v = &h->vis[l];
        nn_blip2_vis *o = &w->vis[l];
        const nn_host_tensor *qb = v->qkv_b.data ? &v->qkv_b : &zero;
        o->ln1_g = vec(k, &v->ln1_g);
        o->ln1_b = vec(k, &v->ln1_b);
        o->qkv_w = lin(k, &v->qkv_w);
        o->q_b = third(k, qb, 0);
        o->k_b = third(k, qb, 1);
        o->v_b = third(k, qb, 2);
        o->proj_w = lin(k, &v->proj_w);
        o->proj_b = vec(k, &v->proj_b);
        o->mlp = (nn_xf_mlp){lin(k, &v->fc1_w), vec(k, &v->fc1_b), lin(k, &v->fc2_w),
                             vec(k, &v->fc2_b), vec(k, &v->ln2_g), vec(k, &v->ln2_b)};
    }
}

static int make(void *ud, void **data)
{
    maker *k = ud;
    set *s = calloc(1, sizeof *s);
    if (!s) return seize_error(SEIZE_ENOMEM, "out of memory");
    s->wfree = k->b->ops->weight_free;
    k->s = s;
    const seize_blip2_config *c = seize_blip2_model_get_config(k->m);
    const nn_blip2_host *h = nn_blip2_model_host(k->m);
    nn_blip2_weights *w = &s->pub;
    w->vis = calloc((size_t)c->vision_layers + 1, sizeof *w->vis);
    w->qf = calloc((size_t)c->qformer_layers + 1, sizeof *w->qf);
    w->lm = calloc((size_t)c->text_layers + 1, sizeof *w->lm);
    if (!w->vis || !w->qf || !w->lm) k->rc = seize_error(SEIZE_ENOMEM, "out of memory");
    vision(k, c, h);
    w->query = mk(k, &h->query, NN_W_TABLE);
    w->qln_g = vec(k, &h->qln_g);
    w->qln_b = vec(k, &h->qln_b);
    layers(k, h->qf, c->qformer_layers, w->qf);
    w->proj_w = lin(k, &h->proj_w);
    w->proj_b = vec(k, &h->proj_b);
    w->tok = mk(k, &h->tok, NN_W_TABLE);
    w->tpos = mk(k, &h->tpos, NN_W_TABLE);
    w->fin_g = vec(k, &h->fin_g);
    w->fin_b = vec(k, &h->fin_b);
    layers(k, h->lm, c->text_layers, w->lm);
    w->head = lin(k, &h->head); // last: its pages may be the table's (tied)
    if (k->rc < 0) {
        set_free(s);
        return k->rc;
    }
    *data = s;
    return 0;
}

int nn_blip2_weights_get(const seize_blip2_model *m, nn_backend *b, seize_precision p, int device,
                         const nn_blip2_weights **out)
{
    char key[96];
    snprintf(key, sizeof key, "blip2/%s/%d/%s", b->ops->name, device, seize_precision_name(p));
    maker k = {m, b, NULL, 0};
    void *data = NULL;
    int rc = nn_blip2_cache_get(m, key, make, &k, set_free, &data);
    *out = data;
    return rc;
}
