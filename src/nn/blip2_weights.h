/*
 * src/nn/blip2_weights.h — a BLIP-2 model's weights in a backend's form (private to src/nn).
 *
 * Every tensor goes through the backend's `weight` op once per model, backend kind, device and
 * precision (cached on the model): linear matrices packed in the precision (the vision tower's
 * q, k, v as the file's fused (3d, d) matrix), vectors and tables as float32. The LM head is
 * the token table packed as a linear weight when the file has no lm_head (tied).
 */
#ifndef SEIZE_NN_BLIP2_WEIGHTS_H
#define SEIZE_NN_BLIP2_WEIGHTS_H

#include "blip2_model.h"
#include "transformer.h"

/* A vision layer: pre-LN attention with the fused qkv (biases split in three), MLP. */
typedef struct nn_blip2_vis {
    const nn_weight *ln1_g, *ln1_b, *qkv_w, *q_b, *k_b, *v_b, *proj_w, *proj_b;
    nn_xf_mlp mlp; /* ln = layer_norm2 */
} nn_blip2_vis;

typedef struct nn_blip2_weights {
    const nn_weight *patch_w, *patch_b, *cls, *pos, *post_g, *post_b;
    nn_blip2_vis *vis;
    const nn_weight *query, *qln_g, *qln_b; /* query: a table (Q, dq) */
    nn_xf_layer *qf;
    const nn_weight *proj_w, *proj_b;
    const nn_weight *tok, *tpos, *head, *fin_g, *fin_b; /* tok, tpos: tables */
    nn_xf_layer *lm;
    size_t bytes;        /* resident bytes of the backend's copies */
    const char *impl;    /* how the linear layers multiply (the first: the vision tower's) */
    const char *impl_lm; /* how the language model's (decoder and LM head) multiply */
} nn_blip2_weights;

/* The weights of m for backend b (created with precision p), shared through the model. The
 * first call makes them; on the CPU backend it packs on `threads` threads (the matrices are
 * independent), on others on the calling thread. */
int nn_blip2_weights_get(const seize_blip2_model *m, nn_backend *b, seize_precision p, int device,
                         int threads, const nn_blip2_weights **out);

#endif
