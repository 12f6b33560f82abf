/*
 * seize/data.h — benchmark annotation loaders (CIRCO, CIRR, FashionIQ), gallery lists and
 * caption files (ARCHITECTURE.md §6).
 *
 *     seize_dataset *ds = NULL;
 *     if (seize_dataset_load(SEIZE_DS_CIRCO, "data/circo/val.json", &ds) < 0) { ... }
 *     for (size_t i = 0; i < ds->n; i++)
 *         printf("%s: ref %s, \"%s\"\n", ds->q[i].id, ds->q[i].reference, ds->q[i].text);
 *     seize_dataset_free(ds);
 *
 * Identifiers are strings everywhere: CIRCO image ids and query ids, which the annotation files
 * store as JSON integers, become their decimal text ("355099"); CIRR names and FashionIQ ASINs
 * are used as written. A query's position in its annotation file is its index in ds->q, which
 * is also the "query" number of the rankings that seize search writes.
 */
#ifndef SEIZE_DATA_H
#define SEIZE_DATA_H

#include "seize/core.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { SEIZE_DS_CIRCO = 0, SEIZE_DS_CIRR = 1, SEIZE_DS_FASHIONIQ = 2 } seize_ds_kind;

/* "circo", "cirr", "fashioniq" -> kind: 0, or SEIZE_EINVAL. */
int seize_ds_kind_parse(const char *name, seize_ds_kind *out);
const char *seize_ds_kind_name(seize_ds_kind kind);

/* One query. Strings are owned by the dataset. */
typedef struct seize_query {
    char *id;             /* CIRCO "id", CIRR "pairid", FashionIQ the 0-based position */
    char *reference;      /* gallery name of the reference image (FashionIQ "candidate") */
    char *text;           /* relative text: CIRCO relative_caption, CIRR caption, FashionIQ the
                             two captions joined with the loader's joiner */
    char *shared_concept; /* CIRCO only, else NULL */
    char *target;         /* CIRCO target_img_id, CIRR target_hard, FashionIQ target; NULL if
                             the split has no ground truth */
    char **gt;            /* CIRCO gt_img_ids (in file order); others: {target} or none */
    size_t n_gt;
    char **members; /* CIRR img_set.members (reference included, as in the file) */
    size_t n_members;
    char **aspects; /* CIRCO semantic_aspects */
    size_t n_aspects;
    char **texts; /* FashionIQ the individual captions; others the single text */
    size_t n_texts;
} seize_query;

typedef struct seize_dataset {
    seize_ds_kind kind;
    seize_query *q;
    size_t n;
    int has_targets; /* every query has a target (val splits) */
    void *priv;      /* id lookup */
} seize_dataset;

/* Options for seize_dataset_load_ex. */
typedef struct seize_dataset_opts {
    const char *fiq_joiner; /* between the two FashionIQ captions; default "" (as the authors);
                               " and " is the usual alternative */
} seize_dataset_opts;

/* Loads an official annotation file: CIRCO val/test JSON (array of queries), CIRR
 * cap.rc2.<split>.json, FashionIQ cap.<category>.<split>.json. Checks the fields each query
 * needs and that ids are unique; errors name the file and the query ("'val.json': query 12:
 * missing 'reference_img_id'"). *out is owned by the caller. */
int seize_dataset_load(seize_ds_kind kind, const char *path, seize_dataset **out);
int seize_dataset_load_ex(seize_ds_kind kind, const char *path, const seize_dataset_opts *opts,
                          seize_dataset **out);
/* The same from memory (`name` appears in errors). Used by the fuzz target. */
int seize_dataset_parse(seize_ds_kind kind, const char *text, size_t len, const char *name,
                        const seize_dataset_opts *opts, seize_dataset **out);
void seize_dataset_free(seize_dataset *ds);
/* Position of the query with this id: 0 and *pos, or SEIZE_ENOTFOUND. */
int seize_dataset_find(const seize_dataset *ds, const char *id, size_t *pos);

/* --- gallery lists ----------------------------------------------------------------------- */

/* Gallery images: names[i] (the name rankings use) and paths[i] (relative to the dataset's
 * image root, as the split file gives it; never NULL). */
typedef struct seize_gallery_list {
    char **names;
    char **paths;
    size_t n;
} seize_gallery_list;

/* Reads a gallery list:
 *  CIRCO:     COCO image_info_unlabeled2017.json: {"images": [{"id": N, "file_name": F}, ...]}
 *             -> names "N", paths "unlabeled2017/F"
 *  CIRR:      split.rc2.<split>.json: {name: "./<split>/<file>.png", ...} -> key order kept
 *  FashionIQ: split.<category>.<split>.json: [name, ...] -> paths "<name>.png"
 * Duplicate names are an error. */
int seize_gallery_list_load(seize_ds_kind kind, const char *path, seize_gallery_list **out);
void seize_gallery_list_free(seize_gallery_list *g);

/* --- gallery names ----------------------------------------------------------------------- */

/* Gallery names are valid UTF-8 text without control characters (U+0000-U+001F and
 * U+007F-U+009F: no line break, tab or NUL), non-empty: any such name round-trips unchanged
 * through names.txt, JSON rankings, TSV lists and reports (seize_folder_scan lists only such
 * names; an index refuses others). Returns NULL for a good name, else a static phrase saying
 * what is wrong ("is empty", "is not valid UTF-8", "contains a control character (line break,
 * tab, ...)"). Thread-safe. */
const char *seize_gallery_name_problem(const char *name, size_t len);
/* A printable copy of name[0..len) for messages: bytes that are not part of a valid UTF-8
 * character, and control characters, are written as \xNN (heap string; NULL on allocation
 * failure). */
char *seize_gallery_name_escape(const char *name, size_t len);
/* The same for a NUL-terminated name (NULL: ""). */
char *seize_gallery_name_shown(const char *name);

/* --- captions ---------------------------------------------------------------------------- */

/* The longest caption or edit a caption file may hold, in bytes: a caption is a sentence (CLIP
 * reads 77 tokens of it), so anything longer is a broken file, refused before it costs memory
 * and time downstream. */
#define SEIZE_MAX_CAPTION_BYTES ((size_t)64 << 10)

/* Per-query captions of the reference image and their edited versions. */
typedef struct seize_captions {
    size_t n;   /* queries, in file order */
    char **ids; /* per query id string, or NULL when the file has none */
    char ***captions;
    size_t *n_captions;
    char ***edits;
    size_t *n_edits;
} seize_captions;

/* Reads captions in one of two formats, told apart by the first non-blank byte:
 *  '[' the authors' format: the annotation array with extra keys per query, by default
 *      "multi_caption_opt" (captions) and "multi_gpt-3.5_opt" (edits);
 *  '{' JSON Lines, one object per query: {"id": ..., "captions": [...], "edited": [...]}
 *      (the output of seize reason; "edits" is accepted for "edited").
 * Keys are configurable (NULL = the format's default). The id is taken from "id", "pairid" or
 * "query" when present. A key that is absent on a query gives zero items for it (a missing
 * captions key on every query is an error); items must be strings of at most
 * SEIZE_MAX_CAPTION_BYTES (SEIZE_EFORMAT naming the file, the query and the size otherwise). */
int seize_captions_load(const char *path, const char *captions_key, const char *edits_key,
                        seize_captions **out);
void seize_captions_free(seize_captions *c);

/* --- folder scanning --------------------------------------------------------------------- */

/* A gallery folder's images, found by one scan:
 *
 *     seize_folder_list fl;
 *     if (seize_folder_scan("photos", &fl) < 0) { ... seize_errmsg() ... }
 *     if (fl.n_errors) {  // bad names or non-regular files: refuse before encoding anything
 *         char *msg = seize_folder_errors_message(&fl, "photos", 5);
 *         ... print msg, free(msg), seize_folder_list_free(&fl), fail ...
 *     }
 *     for (size_t i = 0; i < fl.n; i++) use(fl.names[i], fl.paths[i]);
 *     seize_folder_list_free(&fl);
 *
 * Rules:
 *  - images are the entries whose name ends in .jpg, .jpeg or .png (any case); entries whose
 *    name starts with '.' are skipped (files and folders);
 *  - recursive (unless SEIZE_FOLDER_FLAT); symbolic links are followed, to files and to
 *    folders, but a folder (st_dev, st_ino) is entered once: a link to '.', to a parent or to
 *    a folder already scanned is skipped with a SEIZE_FOLDER_LOOP note;
 *  - each distinct file (st_dev, st_ino) is listed once, under the first of its names in the
 *    sorted order; the other names (hard links, links through symlinks) get a
 *    SEIZE_FOLDER_DUPLICATE note;
 *  - names[i] is the path inside root with '/' separators ("sub/x.jpg"); paths[i] is root
 *    joined with it (root as given: a relative root stays relative to the current folder);
 *    the list is sorted by strcmp of the names (byte order), so the same tree always gives the
 *    same list;
 *  - every name is valid UTF-8 with no control characters (U+0000-U+001F, U+007F-U+009F: no
 *    line break or tab), so that it survives names.txt, JSON and TSV files unchanged; other
 *    image entries are SEIZE_FOLDER_BAD_NAME errors and are not listed;
 *  - only regular files are listed: a FIFO, device or socket with an image name is a
 *    SEIZE_FOLDER_NOT_REGULAR error (never opened); an entry that cannot be examined (a
 *    dangling symlink) or a subfolder that cannot be opened is a SEIZE_FOLDER_UNREADABLE error.
 * Returns 0 with *out filled (also when issues were found: n_errors counts the errors), or
 * SEIZE_EIO when root itself cannot be opened as a folder, SEIZE_ENOMEM. *out is zeroed first
 * and owned by the caller (seize_folder_list_free, also after a failure). Thread-safe. */
typedef enum seize_folder_issue_kind {
    SEIZE_FOLDER_BAD_NAME = 1,    /* error: not UTF-8 or a control character in the name */
    SEIZE_FOLDER_NOT_REGULAR = 2, /* error: a FIFO, device or socket named like an image */
    SEIZE_FOLDER_UNREADABLE = 3,  /* error: a dangling link or a subfolder that cannot be read */
    SEIZE_FOLDER_LOOP = 4,        /* note: a linked folder already scanned, skipped */
    SEIZE_FOLDER_DUPLICATE = 5    /* note: another name of a file already listed, skipped */
} seize_folder_issue_kind;

typedef struct seize_folder_issue {
    seize_folder_issue_kind kind;
    char *name;   /* path inside root, printable: invalid bytes and control characters as \xNN */
    char *reason; /* what is wrong and what to do ("the name is not valid UTF-8: rename it") */
} seize_folder_issue;

typedef struct seize_folder_list {
    char **names; /* n gallery names (path inside root), sorted */
    char **paths; /* n paths to open */
    size_t n;
    seize_folder_issue *issues; /* in the order found */
    size_t n_issues;
    size_t n_errors; /* issues of the three error kinds */
} seize_folder_list;

#define SEIZE_FOLDER_FLAT 1u /* only root's own entries, no subfolders */

int seize_folder_scan(const char *root, seize_folder_list *out);
int seize_folder_scan_ex(const char *root, unsigned flags, seize_folder_list *out);
void seize_folder_list_free(seize_folder_list *l); /* accepts a zeroed list */

/* One message for the errors of a scan: "gallery folder 'photos' has 2 entries that cannot be
 * indexed: 'r\xe9sum\xe9.jpg': the name is not valid UTF-8 (rename the file ...); ..." with at
 * most max_show entries named ("... and N more"). Heap string (caller frees), NULL when the
 * scan found no error or on allocation failure. */
char *seize_folder_errors_message(const seize_folder_list *l, const char *root, size_t max_show);

/* Notes of a scan (links skipped: SEIZE_FOLDER_LOOP, SEIZE_FOLDER_DUPLICATE) in one line: "2
 * entries of 'photos' skipped (a linked folder or file already counted: each is indexed once):
 * 'a', 'b'" with at most max_show named (", ..." after them). Heap string, NULL when there is
 * none or on allocation failure. */
char *seize_folder_notes_message(const seize_folder_list *l, const char *root, size_t max_show);

/* --- gallery images: the images of an index build, from one of four sources -------------- */

typedef enum seize_images_from {
    SEIZE_IMAGES_TREE = 0, /* a folder, recursive (seize_folder_scan): names are the paths
                            * inside it ("sub/x.jpg") */
    SEIZE_IMAGES_FLAT,     /* a folder's own images: names are the file names without extension */
    SEIZE_IMAGES_LIST,     /* a list file, one image per line: PATH, or NAME<TAB>PATH (empty
                            * lines skipped); the name defaults to the file name without
                            * extension */
    SEIZE_IMAGES_DATASET   /* a benchmark's gallery file (seize_gallery_list_load), the images
                            * by the data-layout rule (seize_layout_image_path) */
} seize_images_from;

typedef struct seize_images_source {
    seize_images_from from;
    const char *path;   /* the folder, list file or gallery file */
    const char *root;   /* LIST, DATASET: the folder relative image paths are taken from (an
                         * absolute one as it is); NULL: the file's own folder */
    seize_ds_kind kind; /* DATASET: the benchmark */
} seize_images_source;

/* n images: names[i] (a gallery name) and paths[i] (the file to open). */
typedef struct seize_image_list {
    char **names, **paths;
    size_t n;
    char *notes; /* a folder scan's notes (seize_folder_notes_message), or NULL */
} seize_image_list;

/* The images of a source, in its order (a folder's sorted). Refused before anything is used:
 * a folder's bad entries (SEIZE_EFORMAT with seize_folder_errors_message), a name the
 * gallery-name rule refuses (SEIZE_EFORMAT naming the list file and line, or the gallery file
 * and item). Names are not checked for uniqueness here (seize_index_build_check does). A
 * folder that cannot be opened is SEIZE_EIO; a file that cannot be read, its loader's error.
 * *out is zeroed first; owned by the caller (seize_image_list_free). Thread-safe. */
int seize_image_list_gather(const seize_images_source *src, seize_image_list *out);
void seize_image_list_free(seize_image_list *l); /* accepts a zeroed list */
/* "gallery:PATH", "images:PATH", "list:PATH" or "<dataset>:PATH" (an index's "source"). Heap
 * string; NULL when out of memory. */
char *seize_images_source_label(const seize_images_source *src);

/* --- data layout: where a benchmark's or a folder's files and images are ----------------- */

/* The one image-path rule (used by seize run, seize index build --dataset and seize caption
 * --dataset; serve is to use it too).
 * Under a benchmark's data root (ROOT), for a split (and a FashionIQ category):
 *  CIRCO:     annotations/<split>.json; gallery COCO2017_unlabeled/annotations/
 *             image_info_unlabeled2017.json; images under COCO2017_unlabeled/
 *  CIRR:      captions/cap.rc2.<split>.json; gallery image_splits/split.rc2.<split>.json;
 *             images under ROOT as the split file gives them (CIRR's test split is "test1":
 *             "test" is taken as it)
 *  FashionIQ: captions/cap.<category>.<split>.json; gallery image_splits/
 *             split.<category>.<split>.json; images/<name>.png, or .jpg where the .png is absent
 * A folder of images: no annotation or gallery file; its images are the folder's own
 * (seize_folder_scan), named by their path inside it.
 * All strings are heap copies owned by the layout (seize_layout_free). */
typedef struct seize_layout {
    seize_ds_kind kind; /* the benchmark (SEIZE_DS_CIRCO for a folder) */
    int is_folder;      /* 1: a folder of images (annotations and gallery_list NULL) */
    char *annotations;  /* the queries file */
    char *gallery_list; /* the gallery file (seize_gallery_list_load) */
    char *image_root;   /* the folder that gallery paths are relative to */
} seize_layout;

/* The layout of a benchmark split under `root` (category: FashionIQ only, else ignored).
 * 0, SEIZE_EINVAL (no split, or FashionIQ without a category) or SEIZE_ENOMEM; *out is
 * zeroed first and owned by the caller also after a failure. Paths start with `root` as
 * given. Nothing is read: seize_layout_check looks at the files. */
int seize_layout_benchmark(seize_ds_kind kind, const char *root, const char *split,
                           const char *category, seize_layout *out);
/* The layout of a folder of images. 0 or SEIZE_ENOMEM. */
int seize_layout_folder(const char *folder, seize_layout *out);
/* The file of a gallery entry whose path (seize_gallery_list paths[i]) is `rel`: image_root
 * joined with it (a leading "./" dropped); FashionIQ: the .jpg when the .png does not exist
 * but the .jpg does. Heap string, NULL when out of memory. */
char *seize_layout_image_path(const seize_layout *l, const char *rel);
/* Checks that the layout's annotation file, gallery file and image folder exist, in that
 * order. 0, or SEIZE_ENOTFOUND with "missing file 'P'" / "missing folder 'P'" and *missing
 * (when not NULL) pointing at the path (borrowed from the layout). */
int seize_layout_check(const seize_layout *l, const char **missing);
/* The shortest leading part of `path` that does not exist ("a/b" for "a/b/c/x.jpg" when "a"
 * exists and "a/b" does not): what to name when files are missing. Heap string; NULL when
 * `path` exists or when out of memory. */
char *seize_layout_first_missing(const char *path);
void seize_layout_free(seize_layout *l); /* accepts a zeroed layout */

/* The layout of a benchmark's files given one by one: its annotation file, an optional gallery
 * file (NULL: none) and the folder holding the images (NULL: "."). 0 or SEIZE_ENOMEM; *out is
 * zeroed first and owned by the caller also after a failure (seize_layout_free). */
int seize_layout_files(seize_ds_kind kind, const char *annotations, const char *gallery_list,
                       const char *image_dir, seize_layout *out);
/* The file of gallery item `name` when no gallery file says where it is: under image_root,
 * CIRCO "<id as 12 digits>.jpg" (COCO's file name), CIRR and FashionIQ "<name>.png" (FashionIQ:
 * the .jpg where the .png is absent, as seize_layout_image_path, and also when neither exists:
 * the file a message names then). Heap string, NULL when out of memory. */
char *seize_layout_name_path(const seize_layout *l, const char *name);
/* The reference images of the queries of l->annotations (seize_dataset_load), each once, in
 * first-use order, appended to *out: by the gallery file's path for the name when the layout
 * has one (seize_layout_image_path; a reference missing from it is SEIZE_ENOTFOUND naming the
 * query), else by name (seize_layout_name_path). The image folder is checked first
 * (SEIZE_ENOTFOUND: "image folder 'D' does not exist (expected ...)"). The images themselves
 * are not looked at. */
int seize_layout_references(const seize_layout *l, seize_strvec *out);

#ifdef __cplusplus
}
#endif
#endif
