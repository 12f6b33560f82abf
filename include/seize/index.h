/*
 * seize/index.h — gallery indexes and the semantic editing search (ARCHITECTURE.md §1).
 *
 *     seize_index *idx = NULL;
 *     if (seize_index_open("circo-index", &idx) < 0) { ...seize_errmsg()... }
 *     seize_search_params p = seize_search_default_params();
 *     p.pos = 0.13f; p.neg = 2.1f; p.k = 50;
 *     seize_search_result *r = NULL;
 *     seize_gallery g = seize_index_gallery(idx);
 *     if (seize_search(&g, A, B, n_queries, exclude, NULL, &p, &r) < 0) { ... }
 *     for (size_t q = 0; q < r->n_queries; q++)
 *         for (size_t j = 0; j < r->n_ranked[q]; j++)
 *             printf("%s %f\n", seize_index_name(idx, r->index[q * r->k + j]),
 *                    r->score[q * r->k + j]);
 *     seize_search_result_free(r);
 *     seize_index_free(idx);
 *
 * An index is a folder:
 *   features.npy   [count, dim] L2-normalised rows, '<f4' (default) or '<f2', C order
 *   names.txt      one gallery name per line, in row order (names are unique, non-empty)
 *   index.json     {"format": "seize-index", "version": 1, "count": n, "dim": d,
 *                   "dtype": "f32"|"f16", "model": {"path": ..., "sha256": ...} | null,
 *                   "preprocess": "..." | null, "source": "...",
 *                   "failed": [{"name": ..., "reason": ...}, ...]}
 *
 * Score of gallery row g for a query (A, B normalised, g as stored):
 *   a = A·g, b = B·g, d = a − b, score = a + neg·min(d, 0) + pos·max(d, 0)
 * evaluated in float32 in exactly this order. Rankings: score descending, then gallery row
 * ascending; an excluded row (the reference image) is removed from the ranking.
 * The gallery is walked in blocks with a bounded top-k per query, so memory is O(Q·k + block).
 * With neg >= pos (every default), score <= s1 = ((1+pos)A − pos·B)·g exactly, so one sgemm of
 * the Q rows P = (1+pos)A − pos·B per block bounds all scores, and only rows whose bound (plus
 * a float-rounding margin) reaches the current k-th score are scored exactly (a and b by dot
 * products in a fixed order): the result is the exact top k of the formula. With neg < pos
 * a and b come from one sgemm of the stacked [A; B] for every row.
 */
#ifndef SEIZE_INDEX_H
#define SEIZE_INDEX_H

#include "seize/core.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- galleries --------------------------------------------------------------------------- */

/* A borrowed view of a gallery matrix: `n` rows of `dim` values, row-major, F32 or F16.
 * Rows are expected to be L2-normalised (the index guarantees it). */
typedef struct seize_gallery {
    const void *data;
    seize_dtype dtype;
    size_t n, dim;
} seize_gallery;

/* --- index folders ----------------------------------------------------------------------- */

typedef struct seize_index seize_index;

/* Metadata written to index.json. All strings may be NULL. */
typedef struct seize_index_meta {
    const char *model_path;   /* the weights file the features came from */
    const char *model_sha256; /* its SHA-256 in hex */
    const char *preprocess;   /* e.g. "targetpad-1.25" */
    const char *source;       /* e.g. "images:/data/coco" or "import:feats.npy" */
    const char *const *failed_names;   /* n_failed images that could not be encoded ... */
    const char *const *failed_reasons; /* ... and why */
    size_t n_failed;
} seize_index_meta;

/* Gallery names are valid UTF-8 text without control characters (U+0000-U+001F and
 * U+007F-U+009F: no line break, tab or NUL), non-empty: any such name round-trips unchanged
 * through names.txt, JSON rankings, TSV lists and reports. Returns NULL for a good name, else
 * a static phrase saying what is wrong ("is empty", "is not valid UTF-8", "contains a control
 * character (line break, tab, ...)"). Thread-safe. */
const char *seize_index_name_problem(const char *name, size_t len);
/* A printable copy of name[0..len) for messages: bytes that are not part of a valid UTF-8
 * character, and control characters, are written as \xNN (heap string; NULL on allocation
 * failure). */
char *seize_index_name_escape(const char *name, size_t len);

/* Loads an index folder (features.npy, names.txt, index.json) and checks that they agree
 * (row count, dimension, dtype, unique names; every name as seize_index_name_problem accepts,
 * else SEIZE_EFORMAT naming names.txt and the line). The features stay in their stored dtype.
 * *out is owned by the caller (seize_index_free). Read-only afterwards: safe to share
 * between threads. Errors name the folder and the file. */
int seize_index_open(const char *dir, seize_index **out);
void seize_index_free(seize_index *idx);

size_t seize_index_count(const seize_index *idx);
size_t seize_index_dim(const seize_index *idx);
seize_dtype seize_index_dtype(const seize_index *idx);
/* The name of row i (borrowed, valid until seize_index_free). */
const char *seize_index_name(const seize_index *idx, size_t i);
/* Row of a name: 0 and *row, or SEIZE_ENOTFOUND (message names the gallery item). */
int seize_index_find(const seize_index *idx, const char *name, size_t *row);
/* The parsed index.json (a borrowed jansson object, valid until seize_index_free). */
const struct json_t *seize_index_json(const seize_index *idx);
/* The gallery view of the features (borrowed, valid until seize_index_free). */
seize_gallery seize_index_gallery(const seize_index *idx);

/* Writes an index folder: normalises each row of `feats` ([n, dim] float32, not modified),
 * stores it as `dtype` (SEIZE_F32 or SEIZE_F16), writes names.txt and index.json. Each file is
 * written atomically; the folder is created if needed. Rejects non-finite values, duplicate
 * names and names seize_index_name_problem refuses (SEIZE_EFORMAT naming the row). */
int seize_index_write(const char *dir, const float *feats, size_t n, size_t dim,
                      const char *const *names, seize_dtype dtype, const seize_index_meta *meta);

/* `seize index import`: reads features (.npy [n, dim], f32 or f16) and names (text, one per
 * line, n lines; a bad name is SEIZE_EFORMAT naming the file and line) and writes a normalised index folder with seize_index_write. */
int seize_index_import(const char *features_npy, const char *names_txt, const char *dir,
                       seize_dtype dtype);

/* --- search ------------------------------------------------------------------------------ */

typedef enum {
    SEIZE_METHOD_SEIZE = 0, /* the score above with (pos, neg) */
    SEIZE_METHOD_MEAN = 1,  /* pos = neg = 0: plain similarity to A */
    SEIZE_METHOD_LDRE = 2   /* LDRE weighting of per-caption features (seize_search_ldre) */
} seize_method;

typedef struct seize_search_params {
    float pos, neg;    /* SEIZE weights (ignored by MEAN) */
    size_t k;          /* ranking length (clipped to the gallery size minus exclusions) */
    int n_threads;     /* threads for the scan and for BLAS; 0 = all cores */
    size_t block_rows; /* gallery rows per block; 0 = automatic (~32 MiB of scores) */
    int no_prune;      /* 1: compute a and b for every row even when neg >= pos (for tests and
                          benchmarks; the rankings are the same) */
    size_t *stats_exact; /* if not NULL: receives the number of rows scored exactly (pruned
                            search) */
} seize_search_params;

/* pos 0.13, neg 2.1 (CIRCO defaults), k 50, all cores, automatic blocks. */
seize_search_params seize_search_default_params(void);

/* Per-query candidate subsets (CIRR img_set.members): n_rows[q] gallery rows for query q.
 * The subset ranking of q is its global ranking restricted to these rows minus the excluded
 * row; the scores are the very values the global scan computed. */
typedef struct seize_subsets {
    const size_t *const *rows;
    const size_t *n_rows;
} seize_subsets;

/* Rankings for n_queries queries. For query q the ranking is index[q*k .. q*k + n_ranked[q])
 * (gallery rows) with score[...] alongside. With subsets, subset_index/subset_score hold
 * subset_n[q] entries from subset_off[q]. */
typedef struct seize_search_result {
    size_t n_queries, k;
    size_t *n_ranked;
    uint32_t *index;
    float *score;
    size_t *subset_off, *subset_n;
    uint32_t *subset_index;
    float *subset_score;
} seize_search_result;
void seize_search_result_free(seize_search_result *r);

/* The semantic editing search. `after` (A) and `before` (B) are [n_queries, dim] float32
 * query vectors; they are L2-normalised internally (eps 1e-12) and not modified. `before`
 * may be NULL only when pos == neg == 0. `exclude` (NULL for none) gives per query a gallery
 * row to remove from the ranking, or SIZE_MAX for none. `subsets` may be NULL.
 * *out is owned by the caller. Memory: the result plus one block of scores and one converted
 * gallery block, independent of n_queries × gallery size. Non-finite query values are
 * rejected (SEIZE_EINVAL naming the query). Thread-safe for distinct outputs (it sets the
 * BLAS thread count). */
int seize_search(const seize_gallery *g, const float *after, const float *before,
                 size_t n_queries, const size_t *exclude, const seize_subsets *subsets,
                 const seize_search_params *p, seize_search_result **out);

/* LDRE (ARCHITECTURE.md §1): `after` and `before` are per-caption raw text features
 * [n_queries, n_captions, dim] (edited captions e_i and captions c_i). Per caption index i,
 * f_i = normalize(e_i), h_i = normalize(c_i), D_i = f_i·g − h_i·g over the whole gallery; for
 * each query the 5 largest drops max(−D_i, 0) are summed over all queries into v_i;
 * w = softmax(v / max(v) / 0.04) (uniform when max(v) = 0); the query vector is
 * normalize(Σ_i w_i f_i), ranked by similarity (pos = neg = 0) with the same exclusion,
 * subsets and tie rule as seize_search. If `weights` is not NULL it receives the n_captions
 * weights. */
int seize_search_ldre(const seize_gallery *g, const float *after, const float *before,
                      size_t n_queries, size_t n_captions, const size_t *exclude,
                      const seize_subsets *subsets, const seize_search_params *p,
                      float *weights, seize_search_result **out);

/* L2-normalises n rows of dim floats in place (x / max(‖x‖, 1e-12)), in float32 with a
 * double accumulator. */
void seize_normalize_rows(float *x, size_t n, size_t dim);

#ifdef __cplusplus
}
#endif
#endif
