/*
 * seize/retrieval.h — from captions to rankings (ARCHITECTURE.md §1): query vectors, the
 * benchmark's exclusions and subsets, the SEIZE / mean / LDRE search, and the rankings file.
 *
 *     // A and B for each query (captions and edits of seize/data.h, a CLIP text tower)
 *     seize_query_vectors_params qp = seize_query_vectors_default_params();
 *     seize_query_vectors v;
 *     if (seize_query_vectors_encode(clip, tok, caps, NULL, &qp, &v) < 0) { ...seize_errmsg()... }
 *     // what the benchmark asks: references excluded, CIRR subsets, the authors' weights
 *     seize_search_inputs in;
 *     if (seize_search_inputs_dataset(ds, idx, &in) < 0) { ... }
 *     seize_search_weights w = seize_search_weights_for(ds->kind);
 *     seize_search_params p = seize_search_default_params();
 *     p.pos = (float)w.pos; p.neg = (float)w.neg; p.k = 50; p.pool = pool;
 *     seize_embeddings g = seize_index_embeddings(idx);
 *     seize_search_result *r = NULL;
 *     if (seize_search(&g, v.after, v.before, v.n_queries, in.exclude,
 *                      in.has_subsets ? &in.subsets : NULL, &p, &r) < 0) { ... }
 *     seize_rankings_write("rankings.jsonl", r, idx, "circo-index", NULL);
 *     // r->index[q * r->k + j] is the j-th gallery row of query q, r->score[...] its score
 *     seize_search_result_free(r);
 *     seize_search_inputs_release(&in);
 *     seize_query_vectors_release(&v);
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
 * a and b come from one sgemm of the stacked [A; B], without B (mean, LDRE) a alone; these
 * estimates pick the rows scored exactly the same way. Every score in a result is thus a
 * fixed-order dot product of the row and the query: it does not depend on the block, the
 * thread count, the other queries, nor the slice of the gallery the row was searched in (the
 * BLAS's last bits do: OpenBLAS takes other kernels for small products), so per-slice
 * searches merge (seize_search_result_merge) into exactly the whole gallery's result.
 */
#ifndef SEIZE_RETRIEVAL_H
#define SEIZE_RETRIEVAL_H

#include "seize/clip.h"
#include "seize/core.h"
#include "seize/data.h"
#include "seize/index.h"
#include "seize/text.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- search ------------------------------------------------------------------------------ */

typedef enum {
    SEIZE_METHOD_SEIZE = 0, /* the score above with (pos, neg) */
    SEIZE_METHOD_MEAN = 1,  /* pos = neg = 0: plain similarity to A */
    SEIZE_METHOD_LDRE = 2   /* LDRE weighting of per-caption features (seize_search_ldre) */
} seize_method;
/* "seize", "mean" or "ldre" into *out (may be NULL: a check); SEIZE_EINVAL naming it. */
int seize_method_parse(const char *name, seize_method *out);

typedef struct seize_search_params {
    float pos, neg;      /* SEIZE weights (ignored by MEAN) */
    size_t k;            /* ranking length (clipped to the gallery size minus exclusions) */
    seize_pool *pool;    /* borrowed: the threads of the scan (used by one call at a time), or
                            NULL for a pool of n_threads made for the call */
    int n_threads;       /* threads when pool is NULL; 0 = all cores (at most 64) */
    size_t block_rows;   /* gallery rows per block; 0 = automatic (~32 MiB of scores) */
    int no_prune;        /* 1: rank the scores of the block products themselves (a and b for
                            every row; for tests and benchmarks): the rankings are the same up
                            to float rounding, the last bits of a score depend on the block */
    size_t *stats_exact; /* if not NULL: receives the number of rows scored exactly (pruned
                            search) */
    /* A slice (a scale-out's share, seize/cluster.h): the gallery passed holds rows
       [row0, row0 + n) of a gallery of n_total rows (0: no slice). Exclusions, subsets and the
       result's rows are rows of the whole gallery, k is clipped to n_total; rows outside the
       slice are simply not ranked (subset members outside it are left out). */
    size_t row0, n_total;
} seize_search_params;

/* pos 0.13, neg 2.1 (CIRCO defaults), k 50, no pool (all cores), automatic blocks. */
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

/* Merges the results of searches of disjoint slices of one gallery (seize_search_params
 * row0/n_total, the same queries and parameters) into the whole gallery's: per query the
 * first k of all parts' rankings by score descending, then row ascending, and the subsets'
 * members of all parts in that order. Equal to one seize_search over the whole gallery, bit
 * for bit (the scores do not depend on the slice). Parts must agree on n_queries, k and on
 * having subsets (SEIZE_EINVAL). *out is owned by the caller. Thread-safe. */
int seize_search_result_merge(const seize_search_result *const *parts, size_t n_parts,
                              seize_search_result **out);

/* The semantic editing search. `after` (A) and `before` (B) are [n_queries, dim] float32
 * query vectors; they are L2-normalised internally (eps 1e-12) and not modified. `before`
 * may be NULL only when pos == neg == 0. `exclude` (NULL for none) gives per query a gallery
 * row to remove from the ranking, or SIZE_MAX for none. `subsets` may be NULL.
 * *out is owned by the caller. Memory: the result plus one block of scores and one converted
 * gallery block, independent of n_queries × gallery size. Non-finite query values are
 * rejected (SEIZE_EINVAL naming the query). Thread-safe for distinct outputs and pools.
 * Threads: the scan runs on p->pool; the gallery products are one cblas_sgemm per block, run
 * with the BLAS threads the application chose (seize_blas_threads_set; the library never
 * changes it: seize search sets its thread count, since the products dominate). */
int seize_search(const seize_embeddings *g, const float *after, const float *before,
                 size_t n_queries, const size_t *exclude, const seize_subsets *subsets,
                 const seize_search_params *p, seize_search_result **out);

/* a = A·g and b = B·g of one query for the n gallery rows `rows`, computed as seize_search's
 * exact scoring does (A and B L2-normalised the same way, the same fixed-order dot products):
 * with neg >= pos (every default) a result's score is exactly
 * a + neg·min(a − b, 0) + pos·max(a − b, 0) of these. `after` and `before` are [dim] float32.
 * Errors: SEIZE_EINVAL (a row out of range), SEIZE_ENOMEM. Thread-safe. */
int seize_search_ab(const seize_embeddings *g, const float *after, const float *before,
                    const uint32_t *rows, size_t n, float *a, float *b);

/* LDRE (ARCHITECTURE.md §1): `after` and `before` are per-caption raw text features
 * [n_queries, n_captions, dim] (edited captions e_i and captions c_i). Per caption index i,
 * f_i = normalize(e_i), h_i = normalize(c_i), D_i = f_i·g − h_i·g over the whole gallery; for
 * each query the 5 largest drops max(−D_i, 0) are summed over all queries into v_i;
 * w = softmax(v / max(v) / 0.04) (uniform when max(v) = 0); the query vector is
 * normalize(Σ_i w_i f_i), ranked by similarity (pos = neg = 0) with the same exclusion,
 * subsets and tie rule as seize_search. If `weights` is not NULL it receives the n_captions
 * weights. */
int seize_search_ldre(const seize_embeddings *g, const float *after, const float *before,
                      size_t n_queries, size_t n_captions, const size_t *exclude,
                      const seize_subsets *subsets, const seize_search_params *p, float *weights,
                      seize_search_result **out);

/* LDRE in its three steps, for a search split into slices (seize/cluster.h):
 * seize_search_ldre = _drops, _weights of the drops, _rank with those weights.
 * _drops: the top-5 similarities of the rows h_i − f_i ([n_queries * n_captions] "queries",
 * row q * n_captions + i; k = 5, no exclusions) over g (a slice: p->row0/n_total; the parts
 * merge with seize_search_result_merge). _weights: w (n_captions doubles) from the drops of the
 * whole gallery, summed in query order, then rank order (SEIZE_EINVAL when the drops do not
 * have n_queries * n_captions rows). _rank: the ranking of normalize(Σ_i w_i f_i) with the
 * exclusions and subsets. Errors and threads as seize_search_ldre. */
int seize_search_ldre_drops(const seize_embeddings *g, const float *after, const float *before,
                            size_t n_queries, size_t n_captions, const seize_search_params *p,
                            seize_search_result **drops);
int seize_search_ldre_weights(const seize_search_result *drops, size_t n_queries, size_t n_captions,
                              double *w);
int seize_search_ldre_rank(const seize_embeddings *g, const float *after, size_t n_queries,
                           size_t n_captions, const double *w, const size_t *exclude,
                           const seize_subsets *subsets, const seize_search_params *p,
                           seize_search_result **out);

/* --- benchmark inputs -------------------------------------------------------------------- */

/* The authors' SEIZE weights per benchmark (ARCHITECTURE.md §1), the one table of them:
 * CIRCO pos 0.13 neg 2.1, CIRR 0.22 / 1.0, FashionIQ as CIRCO (none were tuned for it). A
 * folder gallery (no benchmark) takes CIRCO's. Doubles, so that 0.13 is recorded as 0.13.
 * Thread-safe. */
typedef struct seize_search_weights {
    double pos, neg;
} seize_search_weights;
seize_search_weights seize_search_weights_for(seize_ds_kind kind);

/* The exclusions and subsets of a search, as seize_search takes them. exclude[q] is the
 * gallery row of query q's reference or SIZE_MAX; `subsets` is valid when has_subsets. The
 * remaining fields are the storage (owned; seize_search_inputs_release). */
typedef struct seize_search_inputs {
    size_t n_queries;
    size_t *exclude;
    int has_subsets;
    seize_subsets subsets;
    size_t *sub_rows, *sub_n;
    const size_t **sub_ptr;
} seize_search_inputs;
void seize_search_inputs_release(seize_search_inputs *in);

/* A benchmark's inputs for its ds->n queries (in annotation order) on `idx`: every query's
 * reference (CIRCO reference_img_id, CIRR reference, FashionIQ candidate) is excluded; CIRR
 * queries get their img_set.members as subset (the search removes the reference from it).
 * Errors: a name that is not in the index (SEIZE_ENOTFOUND, "query <id>: reference: ..." or
 * "query <id>: member: ..."), SEIZE_ENOMEM. *out is zeroed on error. Thread-safe (the index
 * and dataset are only read). */
int seize_search_inputs_dataset(const seize_dataset *ds, const seize_index *idx,
                                seize_search_inputs *out);

/* Inputs from text files (either may be NULL): `exclude_txt` has one gallery name per query
 * or an empty line (blanks around ignored; the last line may be missing when its query has
 * none); `subsets_txt` one line per query of names separated by spaces or tabs. Errors name
 * the file and line: a line count that does not match n_queries (SEIZE_EFORMAT), a name that
 * is not in the index (SEIZE_ENOTFOUND), the file's own errors. *out is zeroed on error.
 * Thread-safe. */
int seize_search_inputs_files(const seize_index *idx, size_t n_queries, const char *exclude_txt,
                              const char *subsets_txt, seize_search_inputs *out);

/* Loads the query vectors of a search (seize search, seize run): `after` and, when not NULL,
 * `before`, float .npy arrays of shape [Q, D] ([Q, N, D] raw per-caption features when
 * per_caption), converted to float32. Both must have the same shape and D must equal `dim`
 * (0: any). Errors name the file: SEIZE_ESHAPE ("'a.npy': expected a float array of shape
 * [queries, dim]", "'a.npy' has dimension 5 but the index has 32", "'a.npy' and 'b.npy' have
 * different shapes"), the loader's. *A and *B (freed with seize_npy_free) are NULL on error.
 * Thread-safe. */
int seize_search_queries_load(const char *after, const char *before, int per_caption, size_t dim,
                              seize_npy **A, seize_npy **B);

/* A whole search from files (seize search, seize run): what it reads and writes. */
typedef struct seize_search_files {
    const char *index_dir;         /* index folder (seize/index.h) */
    const char *after, *before;    /* query arrays (seize_search_queries_load); before is not
                                      read by MEAN and needed by the others */
    const char *out;               /* the rankings file (seize_rankings_write) */
    const char *exclude, *subsets; /* text files of seize_search_inputs_files (may be NULL) */
    const char *annotations;       /* or: the benchmark's annotation file (kind) for
                                      seize_search_inputs_dataset; it needs one query per row */
    seize_ds_kind kind;
    seize_method method;
    seize_search_params params;   /* MEAN sets pos = neg = 0 */
    const char *const *query_ids; /* "id" of each rankings row (may be NULL) */
} seize_search_files;

/* Method SEIZE, kind CIRCO, seize_search_default_params(), nothing else set. */
seize_search_files seize_search_files_default(void);

/* Opens the index, loads the query arrays, takes the exclusions and subsets from the
 * annotations or the text files, searches with f->method and writes f->out. Errors: each
 * step's (naming its file), SEIZE_ESHAPE "'ann.json' has 5 queries but 'a.npy' has 4 rows".
 * Thread-safe for distinct outputs (the BLAS thread count is the application's, as for
 * seize_search). */
int seize_search_files_run(const seize_search_files *f);

/* --- query vectors ----------------------------------------------------------------------- */

/* Options of seize_query_vectors_check / _encode. */
typedef struct seize_query_vectors_params {
    size_t n_use;    /* captions and edits used per query: the first n_use of each (15) */
    int per_caption; /* 1: the raw per-caption embeddings [Q, n_use, D] (LDRE input); every
                        query then needs n_use captions and n_use edits */
    const char *captions_name; /* file names for messages (NULL: "captions" / "edits") */
    const char *edits_name;
    /* called after each encoded batch with the texts done so far (may be NULL); a non-zero
       return stops the encoding with SEIZE_ECANCEL */
    int (*on_progress)(void *ud, size_t done, size_t n_bad);
    void *progress_ud;
    /* called once before the first batch with the number of texts to encode (may be NULL) */
    void (*on_start)(void *ud, size_t n_texts);
} seize_query_vectors_params;

/* n_use 15, mean vectors, no names, no progress. */
seize_query_vectors_params seize_query_vectors_default_params(void);

/* Query vectors: `after` and `before` are [n_queries, n_per_query, dim] float32 (n_per_query =
 * 1 for the means; per_caption: n_use raw embeddings). Owned; seize_query_vectors_release. */
typedef struct seize_query_vectors {
    size_t n_queries, n_per_query, dim;
    int per_caption;
    size_t n_texts; /* texts encoded */
    float *after;   /* A from the edited captions */
    float *before;  /* B from the captions */
} seize_query_vectors;
void seize_query_vectors_release(seize_query_vectors *v);

/* Checks what seize_query_vectors_encode would encode, without a model, so that a bad input
 * fails before the model is loaded: `edits` (NULL: the edits of `caps`) must have as many
 * queries as `caps` and the same ids where both have one; every query needs at least one
 * caption and one edit among its first n_use (per_caption: n_use of each); each text used is at
 * most SEIZE_MAX_CAPTION_BYTES. Errors are SEIZE_EFORMAT naming the file, the query (number
 * and id) and the problem. *n_texts (may be NULL) receives the number of texts to encode. */
int seize_query_vectors_check(const seize_captions *caps, const seize_captions *edits,
                              const seize_query_vectors_params *p, size_t *n_texts);

/* ARCHITECTURE.md §1: for each query, with c_i its captions and e_i its edits (the first n_use;
 * duplicates count as often as they occur), A = normalize(mean_i text(e_i)) and
 * B = normalize(mean_i text(c_i)), text() the raw projected CLIP embedding (mean in double,
 * L2 with eps 1e-12); per_caption: the raw text(e_i) and text(c_i). Tokenises with `tok` and
 * encodes on `clip` (its threads; one call at a time per clip state). Checks as
 * seize_query_vectors_check first. *out is filled (zeroed on error). Errors: the check's,
 * the encoder's, SEIZE_ECANCEL (on_progress), SEIZE_ENOMEM. */
int seize_query_vectors_encode(seize_clip *clip, const seize_tokenizer *tok,
                               const seize_captions *caps, const seize_captions *edits,
                               const seize_query_vectors_params *p, seize_query_vectors *out);

/* The whole step from files (seize query-features): what it reads and writes. */
typedef struct seize_query_vectors_files {
    const char *model_dir;                /* CLIP model and tokenizer */
    const char *captions, *edits;         /* seize_captions_load files (edits may be NULL) */
    const char *captions_key, *edits_key; /* keys (NULL: per format); the edits file takes its
                                             captions from edits_key too, else captions_key */
    const char *out_after, *out_before;   /* seize_query_vectors_save */
    int max_batch, n_threads;             /* the CLIP state (seize_clip_open) */
    seize_precision precision;            /* its products (SEIZE_PRECISION_FP32, 0: exact) */
    seize_query_vectors_params params;    /* the file names are set from the fields above */
} seize_query_vectors_files;

/* Loads the captions (and edits), checks them (seize_query_vectors_check) before the model is
 * loaded, encodes them (seize_query_vectors_encode) and saves A and B. *out gets the vectors
 * (seize_query_vectors_release; zeroed on error). Errors: each step's, naming its file. */
int seize_query_vectors_files_run(const seize_query_vectors_files *f, seize_query_vectors *out);

/* One query vector: out = normalize(mean of the n rows of emb [n, dim]) in the order and
 * precision seize_query_vectors_encode uses (for a caller with its own embeddings). */
void seize_query_vector_mean(const float *emb, size_t n, size_t dim, float *out);

/* Writes after and before as .npy float32 ([Q, D], or [Q, N, D] when per_caption), each
 * atomically. */
int seize_query_vectors_save(const seize_query_vectors *v, const char *after_npy,
                             const char *before_npy);

/* --- embedding files (seize encode-images / encode-texts) ------------------------------- */

typedef struct seize_encode_params {
    int normalize;    /* L2-normalise each row (default: the raw projected embeddings) */
    double pad_ratio; /* images: SEIZE's TargetPad ratio (default 1.25; 0: plain CLIP) */
    int skip_bad;     /* images: see seize_encode_images_npy */
    /* Optional, on the caller's thread in list order: each image left out (skip_bad), with
       the loader's message naming it. */
    void (*on_bad)(void *ud, const char *path, const char *msg);
    /* Optional, after each batch: items done and failed so far; non-zero stops
       (SEIZE_ECANCEL). */
    int (*on_progress)(void *ud, size_t done, size_t n_bad);
    void *ud;
    const seize_cancel *cancel; /* optional (images) */
    int max_batch, n_threads;   /* the _dir calls' CLIP state (seize_clip_open) */
    seize_precision precision;  /* its products (SEIZE_PRECISION_FP32, 0: exact) */
    const char *texts_file;     /* texts: the file whose lines they are, for messages (NULL:
                                   "text I") */
} seize_encode_params;

/* No normalisation, pad ratio 1.25, the first bad image stops, no callbacks, batches of 32,
 * all cores. */
seize_encode_params seize_encode_default_params(void);

/* "OUT.npy" → "OUT<suffix>" (a trailing ".npy" replaced, else appended): the side files'
 * names. Heap (free()), or NULL (SEIZE_ENOMEM set). */
char *seize_encode_side_path(const char *out_npy, const char *suffix);

/* Encodes n image files (decoded and preprocessed as ARCHITECTURE.md §5, at the state's image
 * size, with p->pad_ratio) on `clip` and writes float32 [rows, embed] to out_npy atomically,
 * one row per image in input order. Without skip_bad the first image that cannot be read
 * (in list order) is the error and nothing is written. With skip_bad such images are left
 * out (reported through on_bad; *n_bad, may be NULL, gets their count) and two side files are
 * written with the .npy: OUT.names.txt, the paths of the kept rows, and OUT.failed.txt,
 * "path TAB message" per failed image (seize_encode_side_path). Errors: the encoder's, the
 * files', SEIZE_ECANCEL, SEIZE_ENOMEM; nothing is left behind then. One call at a time per
 * clip state. */
int seize_encode_images_npy(seize_clip *clip, const char *const *paths, size_t n,
                            const char *out_npy, const seize_encode_params *p, size_t *n_bad);

/* Tokenises n NUL-terminated texts with `tok` (context of the model), encodes them with the
 * text tower (texts of similar length batched together) and writes float32 [n, embed] to
 * out_npy atomically, in input order. Errors: a text longer than SEIZE_TEXT_MAX_BYTES (checked
 * first, seize_texts_check_length with p->texts_file), SEIZE_EINVAL when the tokenizer has more
 * ids than the model's vocabulary, the tokenizer's, the encoder's, the file's, SEIZE_ECANCEL.
 * One call at a time per clip state. */
int seize_encode_texts_npy(seize_clip *clip, const seize_tokenizer *tok, const char *const *texts,
                           size_t n, const char *out_npy, const seize_encode_params *p);

/* The same with the CLIP model of `model_dir` (and for texts its tokenizer), loaded for the
 * call with a state of p->max_batch inputs on p->n_threads threads in p->precision. Errors:
 * the loaders', then as above. Thread-safe for distinct outputs. */
int seize_encode_images_dir(const char *model_dir, const char *const *paths, size_t n,
                            const char *out_npy, const seize_encode_params *p, size_t *n_bad);
int seize_encode_texts_dir(const char *model_dir, const char *const *texts, size_t n,
                           const char *out_npy, const seize_encode_params *p);

/* --- rankings files ---------------------------------------------------------------------- */

/* The rankings file of seize search (JSON Lines, one row per query, in query order):
 *   {"query": q, "ranking": [k gallery names], "scores": [k floats],
 *    "subset": [names], "subset_scores": [floats],   (when the search had subsets)
 *    "id": "<query id>"}                              (when query ids were given)
 * q is the query's position in the input (for a benchmark: in the annotation file); scores are
 * written with 9 significant digits (float32 round-trips). */

/* Writes the rankings of `r` with the gallery names of `idx`, atomically (a temporary beside
 * `path`, removed on error or on SIGINT/SIGTERM through seize_tmp). `query_ids` (may be NULL,
 * else r->n_queries strings, NULL entries skipped) adds "id" to each row. Errors: the file's
 * (SEIZE_EIO), SEIZE_EFORMAT naming the query and `index_name` when a gallery name cannot be
 * JSON text (the index refuses such names when opened: a last guard). Thread-safe for
 * distinct paths. */
int seize_rankings_write(const char *path, const seize_search_result *r, const seize_index *idx,
                         const char *index_name, const char *const *query_ids);

/* Rankings read back for the queries of a dataset: items[q] holds n_items[q] gallery names
 * (the list of the chosen field) for query q (ds->q[q]). */
typedef struct seize_rankings {
    size_t n;
    char ***items;
    size_t *n_items;
} seize_rankings;

/* Reads `path` (blank lines skipped, a UTF-8 byte-order mark accepted) taking from each row
 * `field` ("ranking" or "subset"; names may be strings or integers). Every query of `ds` must
 * have exactly one row. Errors are SEIZE_EFORMAT naming the file and line: not JSON, no
 * integer "query", a query number outside the annotations, a duplicate (with the line of the
 * first), a missing or bad list; then the count of queries without a row and the id of the
 * first. *out (NULL on error) is freed with seize_rankings_free. Thread-safe. */
int seize_rankings_read(const seize_dataset *ds, const char *path, const char *field,
                        seize_rankings **out);
void seize_rankings_free(seize_rankings *r);

#ifdef __cplusplus
}
#endif
#endif
