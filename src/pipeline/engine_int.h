/*
 * src/pipeline/engine_int.h — the engine and its per-worker states (private to src/pipeline/):
 * query.c opens engines and answers composed queries, engine_state.c embeds and ranks on a
 * state, batcher.c batches plain searches on one.
 */
#ifndef SEIZE_PIPELINE_ENGINE_INT_H
#define SEIZE_PIPELINE_ENGINE_INT_H

#include "seize/clip.h"
#include "seize/core.h"
#include "seize/image.h"
#include "seize/index.h"
#include "seize/model.h"
#include "seize/pipeline.h"
#include "seize/text.h"

#include <stddef.h>
#include <stdint.h>

struct seize_engine {
    seize_clip_model *model;
    seize_tokenizer *tok;
    seize_index *idx;
    char *gallery_dir;
    unsigned loads;   // files loaded; only seize_engine_open adds to it
    double pad_ratio; // the index's preprocessing: TargetPad 1.25, or 0 (plain CLIP)
};

struct seize_engine_state {
    const seize_engine *e;
    seize_engine_state_params p;
    seize_clip *clip;
    seize_pool *pool; // the search's scan threads
    seize_preprocess_opts pre;
    size_t dim, context;
    int32_t *ids; // (cap_ids, context) token scratch
    size_t cap_ids;
    float *pixels; // (cap_px, 3, S, S) image scratch
    size_t cap_px;
};

// The index's preprocessing from its index.json "preprocess" (seize_index_build writes "no pad,
// ..." for plain CLIP; a run's manifest says "clip"): 0 for plain CLIP, else 1.25.
double engine_pad_ratio(const seize_index *idx);

// Preprocesses image i into the state's pixel scratch slot `slot` (room for max(n, slot + 1)
// images is made first by engine_pixels_reserve). Errors name the image by position i
// (SIZE_MAX: "the image").
int engine_pixels_reserve(seize_engine_state *s, size_t n);
int engine_preprocess(seize_engine_state *s, const seize_image *img, size_t i, size_t slot);
// Encodes the first n preprocessed images of the scratch into out [n, dim], normalised.
int engine_encode_pixels(seize_engine_state *s, size_t n, float *out);
// The gallery scan of seize_engine_rank and of a query's SEIZE (before, pos <= neg) or mean
// (before NULL, pos = neg = 0) ranking on an f32 gallery, up to 64 queries (engine_scan.c): 0
// with *out (seize_search's ranking and scores bit for bit), 1 when seize_search must do it (an
// f16 gallery, a larger batch, neg < pos, non-finite values, near-equal scores it cannot
// separate), or a negative error.
struct seize_search_result;
int engine_scan(seize_engine_state *s, const float *after, const float *before, size_t n,
                const size_t *exclude, size_t k, float pos, float neg,
                struct seize_search_result **out);
// 0 when text i is a non-empty UTF-8 text of at most SEIZE_TEXT_MAX_BYTES, else SEIZE_EINVAL
// naming it by position (SIZE_MAX: "the text").
int engine_check_text(const char *text, size_t i);

#endif
