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
    size_t n_all;
    float *zeros; // the vision qkv bias of a model without one
} set;

// One tensor to make: recorded first, then made (in parallel on the CPU backend).
typedef struct job {
    nn_host_tensor t;
    nn_weight_use use;
    const nn_weight **slot; // where the handle goes
    nn_weight *w;
    char msg[256]; // the error of a failed job made on a pool thread
} job;

typedef struct maker {
    const seize_blip2_model *m;
    nn_backend *b;
    int threads;
    set *s;
    job *jobs;
    size_t n_jobs, cap_jobs;
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

// Records that *slot gets the backend's form of host tensor t for use (stays NULL when t is
// absent).
static void mk(maker *k, const nn_weight **slot, const nn_host_tensor *t, nn_weight_use use)
{
    *slot = NULL;
    if (k->rc < 0 || !t->data) return;
    if (k->n_jobs == k->cap_jobs) {
        size_t cap = k->cap_jobs ? 2 * k->cap_jobs : 256;
        job *n = seize_realloc(k->jobs, cap, sizeof *n);
        if (!n) {
            k->rc = seize_error(SEIZE_ENOMEM, "out of memory");
            return;
        }
        k->jobs = n;
        k->cap_jobs = cap;
    }
    k->jobs[k->n_jobs++] = (job){*t, use, slot, NULL, ""};
}

static void lin(maker *k, const nn_weight **slot, const nn_host_tensor *t)
{
    mk(k, slot, t, NN_W_LINEAR);
}

static void vec(maker *k, const nn_weight **slot, const nn_host_tensor *t)
{
    mk(k, slot, t, NN_W_VECTOR);
}

// Part i (of 3) of a fused (3d) bias vector.
static void third(maker *k, const nn_weight **slot, const nn_host_tensor *t, int i)
{
    size_t d = t->cols / 3;
    nn_host_tensor p = {(const char *)t->data + (size_t)i * d * nn_dtype_size(t->dtype), t->dtype,
                        1, d};
    vec(k, slot, &p);
}

// A tower's attention; lu: how its linear weights are used (NN_W_LINEAR_FEW_ROWS: the
// decoder's, multiplied by 15 rows at each step).
static void attn(maker *k, const nn_blip2_hattn *h, nn_xf_attn *a, nn_weight_use lu)
{
    mk(k, &a->wq, &h->wq, lu);
    vec(k, &a->bq, &h->bq);
    mk(k, &a->wk, &h->wk, lu);
    vec(k, &a->bk, &h->bk);
    mk(k, &a->wv, &h->wv, lu);
    vec(k, &a->bv, &h->bv);
    mk(k, &a->wo, &h->wo, lu);
    vec(k, &a->bo, &h->bo);
    vec(k, &a->ln_g, &h->ln_g);
    vec(k, &a->ln_b, &h->ln_b);
}

static void mlp(maker *k, const nn_blip2_hmlp *h, nn_xf_mlp *o, nn_weight_use lu)
{
    mk(k, &o->w1, &h->w1, lu);
    vec(k, &o->b1, &h->b1);
    mk(k, &o->w2, &h->w2, lu);
    vec(k, &o->b2, &h->b2);
    vec(k, &o->ln_g, &h->ln_g);
    vec(k, &o->ln_b, &h->ln_b);
}

static void layers(maker *k, const nn_blip2_hlayer *h, int n, nn_xf_layer *o, nn_weight_use lu)
{
    for (int l = 0; l < n && k->rc == 0; l++) {
        attn(k, &h[l].self, &o[l].self, lu);
        if (h[l].has_cross) attn(k, &h[l].cross, &o[l].cross, lu);
        mlp(k, &h[l].mlp, &o[l].mlp, lu);
    }
}

static void vision_layer(maker *k, const nn_blip2_hvis *v, const nn_host_tensor *qb,
                         nn_blip2_vis *o)
{
    vec(k, &o->ln1_g, &v->ln1_g);
    vec(k, &o->ln1_b, &v->ln1_b);
    lin(k, &o->qkv_w, &v->qkv_w);
    third(k, &o->q_b, qb, 0);
    third(k, &o->k_b, qb, 1);
    third(k, &o->v_b, qb, 2);
    lin(k, &o->proj_w, &v->proj_w);
    vec(k, &o->proj_b, &v->proj_b);
    lin(k, &o->mlp.w1, &v->fc1_w);
    vec(k, &o->mlp.b1, &v->fc1_b);
    lin(k, &o->mlp.w2, &v->fc2_w);
    vec(k, &o->mlp.b2, &v->fc2_b);
    vec(k, &o->mlp.ln_g, &v->ln2_g);
    vec(k, &o->mlp.ln_b, &v->ln2_b);
}

static void vision(maker *k, const seize_blip2_config *c, const nn_blip2_host *h)
{
    nn_blip2_weights *w = &k->s->pub;
    lin(k, &w->patch_w, &h->patch_w);
    vec(k, &w->patch_b, &h->patch_b);
    vec(k, &w->cls, &h->cls);
    vec(k, &w->pos, &h->pos);
    vec(k, &w->post_g, &h->post_g);
    vec(k, &w->post_b, &h->post_b);
    size_t d = (size_t)c->vision_width;
    if (c->vision_layers > 0 && !h->vis[0].qkv_b.data && k->rc == 0 &&
        !(k->s->zeros = seize_calloc(3 * d, sizeof(float))))
        k->rc = seize_error(SEIZE_ENOMEM, "out of memory");
    nn_host_tensor zero = {k->s->zeros, NN_F32, 1, 3 * d};
    for (int l = 0; l < c->vision_layers && k->rc == 0; l++)
        vision_layer(k, &h->vis[l], h->vis[l].qkv_b.data ? &h->vis[l].qkv_b : &zero, &w->vis[l]);
}

// Makes job i (on any thread: the CPU backend's `weight` only reads the backend and packs into
// new memory); a packed or converted tensor's file pages can go at once (a weight used in place
// reports 0 bytes and keeps them).
static void run_job(void *ctx, size_t i, int thread)
{
    maker *k = ctx;
    job *j = &k->jobs[i];
    j->w = k->b->ops->weight(k->b, &j->t, j->use);
    if (!j->w) {
        snprintf(j->msg, sizeof j->msg, "%s", seize_errmsg());
        return;
    }
    if (j->w->bytes > 0)
        nn_blip2_drop_range(k->m, j->t.data, j->t.rows * j->t.cols * nn_dtype_size(j->t.dtype));
}

// Makes jobs [0, n_par) on a pool of k->threads (only the CPU backend's `weight` may be called
// from several threads), then the rest in order on this thread.
static void run_jobs(maker *k, size_t n_par)
{
    seize_pool *pool = NULL;
    int threads = strcmp(k->b->ops->name, "cpu") == 0 ? k->threads : 1;
    if (threads > 1 && n_par > 1 && seize_pool_new(threads, &pool) < 0) pool = NULL; // serial
    seize_pool_for(pool, n_par, run_job, k);
    seize_pool_free(pool);
    for (size_t i = n_par; i < k->n_jobs; i++)
        run_job(k, i, 0);
}

// The made weights into their slots and the set's list (in the order recorded: the first
// linear weight names the implementation); the first failure's message.
static void collect(maker *k)
{
    set *s = k->s;
    if (!(s->all = seize_malloc(k->n_jobs ? k->n_jobs : 1, sizeof *s->all)))
        k->rc = seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t i = 0; i < k->n_jobs; i++) {
        job *j = &k->jobs[i];
        if (!j->w) {
            if (k->rc == 0) k->rc = seize_error(SEIZE_ENOMEM, "%s", j->msg);
            continue;
        }
        if (!s->all) {
            s->wfree(j->w);
            continue;
        }
        s->all[s->n_all++] = j->w;
        *j->slot = j->w;
        s->pub.bytes += j->w->bytes;
        if (j->use == NN_W_LINEAR && !s->pub.impl) s->pub.impl = j->w->impl;
        if (j->use == NN_W_LINEAR_FEW_ROWS && !s->pub.impl_lm) s->pub.impl_lm = j->w->impl;
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
    mk(k, &w->query, &h->query, NN_W_TABLE);
    vec(k, &w->qln_g, &h->qln_g);
    vec(k, &w->qln_b, &h->qln_b);
    layers(k, h->qf, c->qformer_layers, w->qf, NN_W_LINEAR);
    lin(k, &w->proj_w, &h->proj_w);
    vec(k, &w->proj_b, &h->proj_b);
    mk(k, &w->tok, &h->tok, NN_W_TABLE);
    mk(k, &w->tpos, &h->tpos, NN_W_TABLE);
    vec(k, &w->fin_g, &h->fin_g);
    vec(k, &w->fin_b, &h->fin_b);
    layers(k, h->lm, c->text_layers, w->lm, NN_W_LINEAR_FEW_ROWS); // OPT: 15 rows a step
    size_t n_par = k->n_jobs;
    mk(k, &w->head, &h->head,
       NN_W_LINEAR_FEW_ROWS); // last, after the others: its pages may be the table's (tied)
    if (k->rc == 0) run_jobs(k, n_par);
    if (k->rc == 0) collect(k);
    free(k->jobs);
    if (k->rc < 0) { // the weights made are in s->all (collect freed any it could not list)
        set_free(s);
        return k->rc;
    }
    *data = s;
    return 0;
}

int nn_blip2_weights_get(const seize_blip2_model *m, nn_backend *b, seize_precision p, int device,
                         int threads, const nn_blip2_weights **out)
{
    char key[96];
    snprintf(key, sizeof key, "blip2/%s/%d/%s", b->ops->name, device, seize_precision_name(p));
    maker k = {m, b, threads, NULL, NULL, 0, 0, 0};
    void *data = NULL;
    int rc = nn_blip2_cache_get(m, key, make, &k, set_free, &data);
    *out = data;
    return rc;
}
