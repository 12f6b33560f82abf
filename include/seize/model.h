/*
 * seize/model.h — CLIP model folders: safetensors weights, configuration, tensor views.
 *
 *     seize_clip_model *m = NULL;
 *     if (seize_clip_model_load("models/ViT-B-32", &m) < 0) { ... seize_errmsg() ... }
 *     const seize_clip_model_config *c = seize_clip_model_get_config(m);
 *     printf("%s, embed %d\n", seize_clip_model_layout(m), c->embed_dim);
 *     seize_clip_model_free(m);
 *
 * A model folder is read as users download it from the Hugging Face hub (ARCHITECTURE.md §3):
 *   - transformers layout: model.safetensors + config.json
 *   - open_clip layout:    open_clip_model.safetensors + open_clip_config.json
 * When both are present, the transformers layout is used (seize_clip_model_note says so). A folder
 * with weights but no config is matched by tensor shapes against the six built-in presets.
 *
 * Weights: matrices (seize_matrix) stay in the file's dtype, views into the mapped file (copied
 * only when misaligned or transposed), so that a bf16 engine never holds a float32 copy; the
 * vectors and embedding tables (const float *) are F32 views or converted to float32 once at
 * load. Every matrix follows PyTorch's Linear
 * convention, row-major (out_features, in_features): y = x · Wᵀ + b. The open_clip projections
 * (stored as (width, embed) and used as x · P) are transposed at load to (embed, width) so
 * that both layouts look the same here.
 *
 * Thread safety: a loaded model is read-only and may be shared by any number of threads.
 */
#ifndef SEIZE_MODEL_H
#define SEIZE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "seize/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- safetensors ------------------------------------------------------------------------- */

/* File format: u64 little-endian header length N, then N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"k": "v"}}
 * then the data region; offsets are relative to the start of the data region. */
typedef enum {
    SEIZE_ST_F32,
    SEIZE_ST_F16,
    SEIZE_ST_BF16,
    SEIZE_ST_F64,
    SEIZE_ST_I64,
    SEIZE_ST_I32,
    SEIZE_ST_I16,
    SEIZE_ST_I8,
    SEIZE_ST_U8,
    SEIZE_ST_BOOL,
    SEIZE_ST_OTHER
} seize_st_dtype;

#define SEIZE_ST_MAX_DIMS 8

typedef struct seize_st_tensor {
    char *name;
    seize_st_dtype dtype;
    int ndim;
    size_t shape[SEIZE_ST_MAX_DIMS];
    size_t count;        /* product of shape */
    const uint8_t *data; /* into the mapping */
    size_t nbytes;
} seize_st_tensor;

typedef struct seize_st_file {
    seize_map map;
    seize_st_tensor *tensors; /* sorted by name */
    size_t n_tensors;
} seize_st_file;

/* Maps and validates a safetensors file: header length against the file size, JSON header,
 * known dtypes, shapes, offsets inside the data region, size = count × dtype size, no overlap.
 * Errors name the file and the tensor. */
int seize_st_open(const char *path, seize_st_file *out);
/* Validates an in-memory buffer (used by the fuzzer); `name` appears in error messages.
 * The buffer must outlive `out`; out->map.data stays NULL. */
int seize_st_parse(const uint8_t *buf, size_t len, const char *name, seize_st_file *out);
void seize_st_close(seize_st_file *f); /* accepts a zeroed struct */
/* Binary search by name; NULL when absent. */
const seize_st_tensor *seize_st_find(const seize_st_file *f, const char *name);
const char *seize_st_dtype_name(seize_st_dtype t);

/* --- configuration ------------------------------------------------------------------------ */

/* Activations: CLIP's x·σ(1.702x), the exact erf GELU, ReLU (OPT), or none. */
typedef enum {
    SEIZE_ACT_QUICK_GELU = 0,
    SEIZE_ACT_GELU = 1,
    SEIZE_ACT_RELU = 2,
    SEIZE_ACT_NONE = 3
} seize_act;

/* How the matrix products of a model run (seize_clip_params): float32 (exact to the
 * reference), bfloat16 (weights stored in bf16, bf16 products accumulated in float32), or int8
 * (weights quantised per output channel, activations per row at run time). Everything else
 * (layer norms, softmax, activations, residuals) stays float32 in every mode. */
typedef enum {
    SEIZE_PRECISION_FP32 = 0,
    SEIZE_PRECISION_BF16 = 1,
    SEIZE_PRECISION_INT8 = 2
} seize_precision;

/* "fp32", "bf16", "int8" ↔ the enum. parse: 0, or SEIZE_EINVAL with a message naming the
 * value and the choices. */
int seize_precision_parse(const char *s, seize_precision *out);
const char *seize_precision_name(seize_precision p);

typedef struct seize_tower_config {
    int width, layers, heads, mlp_dim;
} seize_tower_config;

typedef struct seize_clip_model_config {
    int embed_dim;
    int image_size, patch_size;
    seize_tower_config vision;
    int context_length, vocab_size;
    seize_tower_config text;
    seize_act act;
    float ln_eps; /* 1e-5 */
} seize_clip_model_config;

/* The built-in presets of ARCHITECTURE.md §3: "ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-H-14",
 * "ViT-g-14", "ViT-bigG-14". 0, or SEIZE_ENOTFOUND. */
int seize_clip_model_preset(const char *name, seize_clip_model_config *out);

/* --- weights ----------------------------------------------------------------------------- */

/* A weight matrix as the file stores it: row-major (rows, cols) of dtype F32, F16 or BF16,
 * never widened (a view into the mapped file, or a loader-owned copy when transposed or
 * misaligned). The engine converts it once, to its precision (src/nn/backend.h). */
typedef struct seize_matrix {
    const void *data;
    seize_st_dtype dtype;
    size_t rows, cols;
} seize_matrix;

typedef struct seize_block_weights {
    const float *ln1_w, *ln1_b;   /* (d) */
    seize_matrix qkv_w;           /* (3d, d) when the file stores q, k, v fused, else data NULL */
    seize_matrix q_w, k_w, v_w;   /* (d, d) each (views into qkv_w when fused) */
    const float *q_b, *k_b, *v_b; /* (d) each */
    seize_matrix out_w;           /* (d, d) */
    const float *out_b;           /* (d) */
    const float *ln2_w, *ln2_b;   /* (d) */
    seize_matrix fc1_w;           /* (mlp, d) */
    const float *fc1_b;           /* (mlp) */
    seize_matrix fc2_w;           /* (d, mlp) */
    const float *fc2_b;           /* (d) */
} seize_block_weights;

typedef struct seize_tower_weights {
    int n_layers;
    const seize_block_weights *blocks;
    const float *ln_pre_w, *ln_pre_b;   /* vision only: (width); NULL for text */
    const float *ln_post_w, *ln_post_b; /* ln_post (vision) or ln_final (text): (width) */
    seize_matrix proj;                  /* (embed, width) */
    const float *pos_emb;               /* (n_pos, width): 1 + (image/patch)^2, or context */
    /* vision */
    seize_matrix patch_w;   /* (width, 3·patch·patch): conv weight (width, 3, p, p) flattened */
    const float *class_emb; /* (width) */
    /* text */
    const float *tok_emb; /* (vocab, width) */
} seize_tower_weights;

typedef struct seize_clip_model_weights {
    seize_tower_weights vision, text;
    float logit_scale;
} seize_clip_model_weights;

/* --- the model ---------------------------------------------------------------------------- */

typedef struct seize_clip_model seize_clip_model;

/* Loads a model folder (see the top of this file). Errors name the file and the tensor. */
int seize_clip_model_load(const char *dir, seize_clip_model **out);
void seize_clip_model_free(seize_clip_model *m);

/* Borrowed views, valid until seize_clip_model_free. */
const seize_clip_model_config *seize_clip_model_get_config(const seize_clip_model *m);
const seize_clip_model_weights *seize_clip_model_get_weights(const seize_clip_model *m);
/* "open_clip" or "transformers"; "F32", "F16" or "BF16"; the folder given to load; the
 * safetensors file used; the matched preset or NULL; a note (e.g. both layouts present) or NULL;
 * elements of the used tensors; bytes of the weights file. */
const char *seize_clip_model_layout(const seize_clip_model *m);
const char *seize_clip_model_dtype(const seize_clip_model *m);
const char *seize_clip_model_dir(const seize_clip_model *m);
const char *seize_clip_model_weights_path(const seize_clip_model *m);
const char *seize_clip_model_preset_name(const seize_clip_model *m);
const char *seize_clip_model_note(const seize_clip_model *m);
size_t seize_clip_model_parameters(const seize_clip_model *m);
size_t seize_clip_model_weight_bytes(const seize_clip_model *m);

/* The summary `seize inspect` prints (no final newline), a heap string; NULL when out of memory.
 * As text: lines "model", "weights" (path, layout, dtype, MB), "config" (a matched preset),
 * "parameters", "embedding", "vision", "text", "note". As JSON (as_json), one object:
 *   {"layout", "dtype", "activation", "embed_dim", "parameters",
 *    "vision": {"image_size", "patch_size", "width", "layers", "heads", "mlp_dim"},
 *    "text": {"context_length", "vocab_size", "width", "layers", "heads", "mlp_dim"}} */
char *seize_clip_model_summary(const seize_clip_model *m, int as_json);

#ifdef __cplusplus
}
#endif
#endif
