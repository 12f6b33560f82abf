/*
 * src/nn/clip_weights.h — a CLIP model's weights in a backend's form (private to src/nn).
 *
 * Every tensor the towers use goes through the backend's `weight` op once per model, backend
 * kind, device and precision (cached on the model, model_cache.h): linear matrices packed in
 * the precision (q, k, v always as one fused (3d, d) matrix), vectors and tables as float32.
 */
#ifndef SEIZE_NN_CLIP_WEIGHTS_H
#define SEIZE_NN_CLIP_WEIGHTS_H

#include "backend.h"

typedef struct nn_clip_block {
    nn_weight *ln1_w, *ln1_b, *qkv_w, *q_b, *k_b, *v_b, *out_w, *out_b, *ln2_w, *ln2_b;
    nn_weight *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} nn_clip_block;

typedef struct nn_clip_tower {
    int n_layers;
    nn_clip_block *blocks;
    nn_weight *ln_pre_w, *ln_pre_b; /* vision only */
    nn_weight *ln_post_w, *ln_post_b, *proj;
    nn_weight *pos_emb;             /* vision: a vector of (1 + g²)·d; text: a table (ctx, d) */
    nn_weight *patch_w, *class_emb; /* vision */
    nn_weight *tok_emb;             /* text: a table (vocab, d) */
} nn_clip_tower;

typedef struct nn_clip_weights {
    nn_clip_tower vision, text;
    size_t bytes;     /* resident bytes of the backend's copies */
    const char *impl; /* how the linear layers multiply (the first one's nn_weight.impl) */
} nn_clip_weights;

/* The weights of m for backend b (created with precision p), shared through the model. */
int nn_clip_weights_get(const seize_clip_model *m, nn_backend *b, seize_precision p, int device,
                        const nn_clip_weights **out);

#endif
