/*
 * src/nn/blip2_model.h — a loaded BLIP-2 folder seen from the engine (private to src/nn):
 * tensor views across shards, the engine data cached on the model, and the two parsers
 * (config.json, model.safetensors.index.json) on memory buffers for the fuzzer.
 *
 * Written by blip2_model.c; read by blip2.c (the state) and tests/fuzz/fuzz_blip2_config.c.
 */
#ifndef SEIZE_NN_BLIP2_MODEL_H
#define SEIZE_NN_BLIP2_MODEL_H

#include <stddef.h>

#include "backend.h"
#include "model_cache.h"
#include "seize/blip2.h"

/* Switches of config.json that the state needs besides seize_blip2_config. */
typedef struct nn_blip2_extra {
    int qkv_bias; /* vision_config.qkv_bias (default true) */
} nn_blip2_extra;

/* Parses config.json text (len bytes; `name` in messages): transformers 4.40's defaults for
 * absent fields; SEIZE_EFORMAT naming `name` and the field for what is not BLIP-2 with OPT or
 * a value seize does not implement. n_params is left 0. */
int nn_blip2_config_parse(const char *text, size_t len, const char *name, seize_blip2_config *out,
                          nn_blip2_extra *extra);

/* A sharded checkpoint's index: shard file names (unique, in first-use order) and, per
 * tensor, the shard that holds it. */
typedef struct nn_blip2_index {
    char **shards;
    size_t n_shards;
    char **tensors;      /* n_tensors names */
    size_t *tensor_file; /* index into shards, per tensor */
    size_t n_tensors;
} nn_blip2_index;

/* Parses model.safetensors.index.json text: {"metadata": {...}, "weight_map": {"tensor":
 * "shard file"}}; shard names must be plain file names (no '/', '\\' or ".."). SEIZE_EFORMAT
 * naming `name`. */
int nn_blip2_index_parse(const char *text, size_t len, const char *name, nn_blip2_index *out);
void nn_blip2_index_free(nn_blip2_index *ix); /* accepts a zeroed struct */

/* Host views of the weights (into the mapped files, in the file's dtype), shapes checked at
 * load. Linear weights are (n_out, n_in); vectors rows = 1. */
typedef struct nn_blip2_hattn {
    nn_host_tensor wq, bq, wk, bk, wv, bv, wo, bo, ln_g, ln_b;
} nn_blip2_hattn;
typedef struct nn_blip2_hmlp {
    nn_host_tensor w1, b1, w2, b2, ln_g, ln_b;
} nn_blip2_hmlp;
/* A Q-Former or OPT layer: self-attention, cross-attention (Q-Former, when has_cross), MLP. */
typedef struct nn_blip2_hlayer {
    nn_blip2_hattn self, cross;
    int has_cross;
    nn_blip2_hmlp mlp;
} nn_blip2_hlayer;
/* A vision layer: fused qkv (3d, d) and its bias (data NULL when qkv_bias is false). */
typedef struct nn_blip2_hvis {
    nn_host_tensor ln1_g, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_g, ln2_b;
    nn_host_tensor fc1_w, fc1_b, fc2_w, fc2_b;
} nn_blip2_hvis;
typedef struct nn_blip2_host {
    nn_host_tensor patch_w, patch_b, cls, pos, post_g, post_b; /* pos: (1 + g², d) */
    nn_blip2_hvis *vis;
    nn_host_tensor query, qln_g, qln_b; /* query: (Q, dq) */
    nn_blip2_hlayer *qf;
    nn_host_tensor proj_w, proj_b;                /* language_projection */
    nn_host_tensor tok, tpos, head, fin_g, fin_b; /* head: lm_head.weight or tok (tied) */
    nn_blip2_hlayer *lm;
} nn_blip2_host;
const nn_blip2_host *nn_blip2_model_host(const seize_blip2_model *m);

/* The tensor `name` of the model's weights (any shard), or NULL. `file` (may be NULL) gets
 * the path of the file it is in, or of the weights file/index when absent. */
const seize_st_tensor *nn_blip2_tensor(const seize_blip2_model *m, const char *name,
                                       const char **file);
const nn_blip2_extra *nn_blip2_model_extra(const seize_blip2_model *m);
const char *nn_blip2_model_weights_path(const seize_blip2_model *m);

/* Engine data on the model, as nn_model_cache_get (model_cache.h) does for CLIP. */
int nn_blip2_cache_get(const seize_blip2_model *m, const char *key, nn_cache_make make, void *ud,
                       nn_cache_free fr, void **out);
/* Drops the whole pages of [p, p + n) from the resident set when they are a view into one of
 * the mapped weights files. */
void nn_blip2_drop_range(const seize_blip2_model *m, const void *p, size_t n);

#endif
