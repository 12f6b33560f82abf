/*
 * seize/index.h — gallery indexes: folders of L2-normalised image features and their names.
 * The search over an index is in seize/retrieval.h.
 *
 *     seize_index *idx = NULL;
 *     if (seize_index_open("circo-index", &idx) < 0) { ...seize_errmsg()... }
 *     seize_embeddings g = seize_index_embeddings(idx);      // rows to search (seize/retrieval.h)
 *     size_t row;
 *     if (seize_index_find(idx, "000000123456", &row) == 0)
 *         printf("%s is row %zu of %zu\n", seize_index_name(idx, row), row, g.n);
 *     seize_index_free(idx);
 *
 * An index is a folder:
 *   features.npy   [count, dim] L2-normalised rows, '<f4' (default) or '<f2', C order
 *   names.txt      one gallery name per line, in row order (names are unique, non-empty)
 *   index.json     {"format": "seize-index", "version": 1, "count": n, "dim": d,
 *                   "dtype": "f32"|"f16", "model": {"path": ..., "sha256": ...} | null,
 *                   "preprocess": "..." | null, "source": "...",
 *                   "failed": [{"name": ..., "reason": ...}, ...],
 *                   "precision": "fp32"|"bf16"|"int8"}  (seize_index_build's CLIP products;
 *                   absent in an import or an index of an older seize: fp32 or not known)
 *                  A shard's index.json also has "shard" (seize_index_shard_info).
 *
 * A sharded index (seize_index_merge with `sharded`) is a folder whose index.json is a manifest:
 *   {"format": "seize-index", "version": 1, "sharded": true, "count", "dim", "dtype",
 *    "normalized", "model", "preprocess", "source", "failed" (of every shard, in list order),
 *    "precision" (when the shards have it), "total", "list_sha256",
 *    "shards": [{"path": "shard-0", "count": rows}, ...]}
 * with shard paths relative to the folder (or absolute), in list order. seize_index_open reads
 * it as one index: the shards' rows concatenated in that order (global row = position in the
 * concatenation), names unique across shards; seize_index_json gives the manifest.
 */
#ifndef SEIZE_INDEX_H
#define SEIZE_INDEX_H

#include "seize/core.h"
#include "seize/data.h"
#include "seize/model.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- galleries --------------------------------------------------------------------------- */

/* A borrowed view of the gallery images' embeddings: `n` rows of `dim` values, row-major, F32/F16.
 * Rows are expected to be L2-normalised (the index guarantees it). */
typedef struct seize_embeddings {
    const void *data;
    seize_dtype dtype;
    size_t n, dim;
} seize_embeddings;

/* --- index folders ----------------------------------------------------------------------- */

typedef struct seize_index seize_index;

/* Metadata written to index.json. All strings may be NULL. */
typedef struct seize_index_meta {
    const char *model_path;            /* the weights file the features came from */
    const char *model_sha256;          /* its SHA-256 in hex */
    const char *preprocess;            /* e.g. "targetpad-1.25" */
    const char *source;                /* e.g. "images:/data/coco" or "import:feats.npy" */
    const char *const *failed_names;   /* n_failed images that could not be encoded ... */
    const char *const *failed_reasons; /* ... and why */
    size_t n_failed;
    const char *precision; /* "fp32", "bf16", "int8" (seize_precision_name); NULL: not written */
    /* A shard of a build (seize_index_build with shard_count > 0): index.json "shard"
     * {"index", "count", "batch", "rows": [first, end], "total", "list_sha256", "failed_at"}.
     * NULL: not a shard. */
    const struct seize_index_shard_info *shard;
} seize_index_meta;

/* The gallery-name rule of the data module (seize_gallery_name_problem and
 * seize_gallery_name_escape in seize/data.h), under the names index users know: names.txt,
 * seize_index_write and seize_index_build accept exactly the names it accepts. */
const char *seize_index_name_problem(const char *name, size_t len);
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
seize_embeddings seize_index_embeddings(const seize_index *idx);

/* Writes an index folder: normalises each row of `feats` ([n, dim] float32, not modified),
 * stores it as `dtype` (SEIZE_F32 or SEIZE_F16), writes names.txt and index.json. Each file is
 * written atomically; the folder is created if needed. Rejects non-finite values, duplicate
 * names and names seize_index_name_problem refuses (SEIZE_EFORMAT naming the row). */
int seize_index_write(const char *dir, const float *feats, size_t n, size_t dim,
                      const char *const *names, seize_dtype dtype, const seize_index_meta *meta);

/* `seize index import`: reads features (.npy [n, dim], f32 or f16) and names (text, one per
 * line, n lines; a bad name is SEIZE_EFORMAT naming the file and line) and writes a normalised
 * index folder with seize_index_write, holding the folder's lock (created if needed; a second
 * writer fails at once with SEIZE_EBUSY, as seize_index_build). */
int seize_index_import(const char *features_npy, const char *names_txt, const char *dir,
                       seize_dtype dtype);

/* --- building an index from images (src/index/build.c) ---------------------------------- */

struct seize_clip_model;
struct seize_clip;

/* One gallery image of a build: its name (unique, as seize_index_name_problem accepts) and
 * its file. `missing`: known to be absent (the caller checked): recorded as failed ("cannot
 * open ...: No such file or directory") without being opened, and not passed to on_bad. */
typedef struct seize_build_item {
    const char *name, *path;
    int missing;
} seize_build_item;

typedef struct seize_index_build_params {
    const char *out_dir;   /* the index folder (created; locked for the whole build) */
    const char *model_dir; /* CLIP model folder, loaded when `clip` is NULL */
    /* Or a loaded model and its CLIP state (borrowed; both or neither). */
    const struct seize_clip_model *model;
    struct seize_clip *clip;
    int batch, threads; /* when loading: images per forward pass (16), threads (0: all cores) */
    seize_dtype dtype;  /* stored dtype (SEIZE_F32) */
    int no_pad;         /* plain CLIP preprocessing (no TargetPad 1.25) */
    int restart;        /* discard an unfinished build instead of resuming it */
    const char *source; /* index.json "source" (may be NULL) */
    /* When loading: the CLIP products (SEIZE_PRECISION_FP32, 0: exact); with `clip` given,
     * the state's (seize_clip_precision). Recorded in the build state and index.json. */
    seize_precision precision;
    /* Optional, on the caller's thread. on_resume: once, before encoding, when an unfinished
     * build was found: `discarded` NULL when it is resumed after `done` of `n` images, else
     * why it was discarded (the build starts over). on_bad: an image that could not be read
     * (item index, the reason; it is left out and listed in index.json). on_progress: after
     * each batch (images done of n, failures so far); non-zero stops (SEIZE_ECANCEL). */
    void (*on_resume)(void *ud, size_t done, size_t n, const char *discarded);
    void (*on_bad)(void *ud, size_t i, const char *reason);
    int (*on_progress)(void *ud, size_t done, size_t n, size_t n_failed);
    void *ud;
    const seize_cancel *cancel; /* may be NULL: a stop ends the build after the batch in flight */
    /* shard_count > 0: encode only shard shard_index of shard_count of the items (the block
     * seize_shard_rows gives for the batch size; items is still the whole list, whose names are
     * hashed), as an index of its own whose index.json has "shard" (seize_index_shard_info). The
     * build state records the shard: an unfinished build of another shard (or of the whole list) in
     * the folder is discarded (on_resume says so). on_bad's index is the full list's. A
     * finished index of this very shard already in the folder (its "shard" record, model
     * SHA-256 and path, preprocessing, source, dtype and precision as this build would write
     * them; no build state; not `restart`) is kept: nothing is encoded, on_resume gets done ==
     * n, and the result is that index's (resumed = n). Anything else is rebuilt. */
    size_t shard_index, shard_count;
} seize_index_build_params;

typedef struct seize_index_build_result {
    size_t n_ok, n_failed; /* rows written; images left out (missing or unreadable) */
    size_t resumed;        /* images taken from an unfinished build */
} seize_index_build_result;

/* A problem seize_index_build_check found before anything is encoded. */
typedef enum seize_build_issue_kind {
    SEIZE_BUILD_DUPLICATE, /* items[i] has the name of items[other] (first three pairs, then
                            * one call with i = other = (size_t)-1 and `count` the total) */
    SEIZE_BUILD_NOT_FILE,  /* items[i].path is `what` ("a folder", "a FIFO (named pipe)",
                            * "a device", "not a regular file"): never opened */
    SEIZE_BUILD_NO_FOLDER  /* the folder `what` of items[i].path does not exist (once each) */
} seize_build_issue_kind;

typedef struct seize_build_issue {
    seize_build_issue_kind kind;
    size_t i, other, count;
    const char *what;
} seize_build_issue;

/* Checks items before a build: names unique (else only the duplicates are reported), every
 * image a regular file, the folder of every missing image present. Marks the missing images
 * (items[i].missing = 1: left out, listed as failed) and counts them in *n_missing. Calls
 * on_issue (may be NULL) for each problem. Returns the number of problems (0: build), or
 * SEIZE_ENOMEM. */
int seize_index_build_check(seize_build_item *items, size_t n,
                            void (*on_issue)(void *ud, const seize_build_issue *issue), void *ud,
                            size_t *n_missing);

/* seize_index_build_check with its findings as text for a person; returns what the check
 * returns, or 1 when every image is missing. With problems, *errors (heap) says what to fix:
 *   "two images get the same gallery name:\n  'x' for 'a/x.jpg' and 'b/x.png'\n  ... and N
 *   more\nnames must be unique (DUP_ADVICE)", else a line per image that is not a file ("'p'
 *   is a FIFO (named pipe), not an image file") and per missing folder ("folder 'd' does not
 *   exist (it should hold gallery images, e.g. 'name'): FOLDER_ADVICE"; five lines, then "...
 *   and N more"), or "none of the N
 *   images exists (first: 'p')".
 * Without problems, *missing (heap, NULL when none is missing): "K of N images are missing and
 * will be left out (listed in index.json): 'p1', 'p2', ..." (at most five named). Names and
 * paths are shown with seize_gallery_name_shown. The advice strings may be NULL. */
int seize_index_build_check_text(seize_build_item *items, size_t n, const char *dup_advice,
                                 const char *folder_advice, char **errors, char **missing);

/* The images of a build from a source (seize/data.h), gathered and checked. */
typedef struct seize_build_images {
    seize_image_list list;   /* names and paths; list.notes: a folder scan's notes, or NULL */
    seize_build_item *items; /* list.n items for seize_index_build, the missing ones marked */
    char *missing;           /* the summary line of missing images (check_text), or NULL */
    char *source;            /* seize_images_source_label: index.json's "source" */
} seize_build_images;

/* Gathers the images of a source (seize_image_list_gather) and checks them before a build
 * (seize_index_build_check_text with the two advice strings). 0, or a negative code with the
 * message set: what the gathering refused and the check's errors (SEIZE_EFORMAT) end with
 * "\nnothing was encoded"; no image at all is SEIZE_ENOTFOUND ("no images to index"). *out is
 * zeroed first and owned by the caller, also after a failure (seize_build_images_release). */
int seize_build_images_prepare(const seize_images_source *src, const char *dup_advice,
                               const char *folder_advice, seize_build_images *out);
void seize_build_images_release(seize_build_images *b); /* accepts a zeroed one */

seize_index_build_params seize_index_build_default_params(void);

/* Encodes items[0..n) with a CLIP model (SEIZE preprocessing) into the index folder
 * p->out_dir, resumably: out_dir/build.partial holds the rows done and build.progress.json
 * (version 2) the position, the model's SHA-256, a hash of the list and of the rows, and the
 * failures, both synced after each batch. A rerun with the same model, list and preprocessing
 * resumes after the last recorded batch; any other unfinished state is discarded (never mixed
 * in, on_resume says why), except an unfinished build in another precision (absent in an
 * older record: fp32), which is refused (SEIZE_EINVAL naming the folder and both precisions;
 * p->restart discards it). The final files are written atomically (seize_index_write, only
 * the rows that loaded, in list order, index.json with "precision") and the build state
 * removed. One build per folder (SEIZE_EBUSY naming the holder). Returns 0 (res->n_failed may
 * be > 0), SEIZE_ECANCEL ("interrupted; the finished batches are kept in ...": the same call
 * resumes), or another negative code with the message set. Prints nothing. The caller sets
 * the BLAS threads (one per CLIP thread: seize_blas_threads_set(1)). `res` may be NULL. */
int seize_index_build(const seize_index_build_params *p, const seize_build_item *items, size_t n,
                      seize_index_build_result *res);

/* --- shards (src/index/shard.c) --------------------------------------------------------- */

/* Shard i of n (0 counts as 1) of a list of `total` items encoded `batch` at a time (0 counts
 * as 1) is a contiguous block of whole batches: with nb = ceil(total / batch) batches, batches
 * [i * nb / n, (i + 1) * nb / n) (integer division), i.e. items [*first, *end) clipped to
 * total. The shards are in list order, their batch counts differ by at most one (some are
 * empty when n > nb). Whole batches make every forward pass of a shard build the one a whole
 * build makes (CPU kernels' last bits may depend on the batch size: clip.h), so a merge is
 * byte-identical to a whole build with the same --batch and --threads. */
void seize_shard_rows(size_t total, size_t batch, size_t i, size_t n, size_t *first, size_t *end);

/* Parses "I/N" (decimal, 0 <= I < N <= 100000): 0, or SEIZE_EINVAL with a message ("bad
 * shard 'x': expected I/N with 0 <= I < N, e.g. 0/4"). */
int seize_shard_parse(const char *s, size_t *i, size_t *n);

/* The SHA-256 (lower-case hex) of a gallery list's names: each name and a NUL, in list order
 * (index.json's shard.list_sha256; the paths are not part of it). */
void seize_names_sha256(const char *const *names, size_t n, char hex[65]);

/* What a shard's index.json records ("shard"). */
typedef struct seize_index_shard_info {
    size_t index, count;     /* shard `index` of `count` */
    size_t batch;            /* images per forward pass: the block unit of seize_shard_rows */
    size_t first, end;       /* its items: [first, end) of the full list (seize_shard_rows) */
    size_t total;            /* items in the full list */
    const char *list_sha256; /* seize_names_sha256 of the full list */
    const size_t *failed_at; /* the full-list positions of meta's n_failed images, ascending */
} seize_index_shard_info;

typedef struct seize_index_merge_params {
    const char *out_dir;       /* written (created if needed; locked while merging) */
    const char *const *shards; /* n_shards shard folders, in any order */
    size_t n_shards;
    int sharded; /* write a sharded index: out_dir/index.json, a manifest referencing the
                  * shard folders where they are (relative paths; nothing is copied) */
} seize_index_merge_params;

typedef struct seize_index_merge_result {
    size_t count, n_failed, n_shards; /* rows, images left out, shards */
} seize_index_merge_result;

/* `seize index merge`: checks that the shard folders belong together (each a finished shard
 * build, none unfinished; same model SHA-256, preprocessing, dtype, dim, precision, shard
 * count, batch size, list size and list hash; every shard 0..N-1 exactly once; names disjoint; rows
 * and failures making up exactly the gallery list) and writes one index (features.npy and names.txt
 * byte-identical to a build of the whole list with the same settings: the stored rows are copied,
 * not renormalised; index.json as that build's: the first shard's model path and source, every
 * shard's failures in list order) or, with `sharded`, the manifest of a sharded index. A problem is
 * SEIZE_EINVAL (SEIZE_EFORMAT for a damaged shard) whose message names the shard folder(s) and what
 * differs, e.g. "'b' was built with another model (sha256 1234abcd... vs 5678ef01... in 'a')",
 * "shard 2/3 is missing (given: 0/3 'a', 1/3 'b')", "shard 1/3 is given twice: 'b' and 'c'", "'c'
 * is shard 0/2, 'a' is shard 0/3: they are of builds with different shard counts", "gallery name
 * 'x' is in both 'a' and 'b'". Files are written atomically; out_dir must not be one of the shards.
 * `res` may be NULL. */
int seize_index_merge(const seize_index_merge_params *p, seize_index_merge_result *res);

/* The shard layout of an index folder, from its index.json only (no rows loaded): *n_shards
 * (1 for a single index: it is its own shard 0) and, when `offsets` is not NULL, a heap array
 * of n_shards + 1 global row offsets (shard i holds rows [offsets[i], offsets[i+1]),
 * offsets[n_shards] = the count; caller frees). */
int seize_index_shards(const char *dir, size_t *n_shards, size_t **offsets);

/* Opens shard i of an index folder as an index of its own (its rows, names and index.json),
 * checked against the manifest (count, dim, dtype, model); *row_offset (may be NULL) is its
 * first global row. A single index is its own shard 0 (offset 0). Names are checked unique
 * within the shard only (seize_index_open checks them across shards). */
int seize_index_open_shard(const char *dir, size_t i, seize_index **out, size_t *row_offset);

/* --- rows ------------------------------------------------------------------------------- */

/* L2-normalises n rows of dim floats in place (x / max(‖x‖, 1e-12)), in float32 with a
 * double accumulator. */
void seize_normalize_rows(float *x, size_t n, size_t dim);

#ifdef __cplusplus
}
#endif
#endif
