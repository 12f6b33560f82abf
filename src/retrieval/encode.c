// Embedding files: a list of images or texts through a CLIP tower into float32 [N, embed] .npy
// (seize encode-images / encode-texts), with the bad-images sidecars.
#include "seize/retrieval.h"

#include "seize/image.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

seize_encode_params seize_encode_default_params(void)
{
    return (seize_encode_params){.pad_ratio = seize_preprocess_default_opts().pad_ratio,
                                 .max_batch = 32};
}

char *seize_encode_side_path(const char *out_npy, const char *suffix)
{
    size_t n = strlen(out_npy);
    if (n > 4 && !strcmp(out_npy + n - 4, ".npy")) n -= 4;
    char *p = malloc(n + strlen(suffix) + 1);
    if (!p) {
        seize_error(SEIZE_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(p, out_npy, n);
    strcpy(p + n, suffix);
    return p;
}

// Rows (n, E) to `out`, L2-normalised first when asked.
static int save_rows(const char *out, float *rows, size_t n, size_t E, int normalize)
{
    if (normalize) seize_normalize_rows(rows, n, E);
    size_t shape[2] = {n, E};
    return seize_npy_save(out, SEIZE_F32, 2, shape, rows);
}

static int progress(const seize_encode_params *p, size_t done, size_t n_bad)
{
    return p->on_progress ? p->on_progress(p->ud, done, n_bad) : 0;
}

// --- images

typedef struct images {
    const char *const *paths;
    const seize_encode_params *p;
    seize_preprocess_opts pre;
    FILE *failed;   // OUT.failed.txt (temporary) with skip_bad
    int failed_err; // 0, or the errno of a write error
} images;

static int load_image(void *ud, size_t i, float *px)
{
    images *c = ud;
    return seize_image_load_preprocess(c->paths[i], &c->pre, px);
}

static void on_bad(void *ud, size_t i, int code, const char *msg)
{
    images *c = ud;
    if (c->p->on_bad) c->p->on_bad(c->p->ud, c->paths[i], msg);
    if (c->failed && fprintf(c->failed, "%s\t%s\n", c->paths[i], msg) < 0) c->failed_err = errno;
}

static int on_image_progress(void *ud, size_t done, size_t n_bad)
{
    images *c = ud;
    return progress(c->p, done, n_bad);
}

// Moves the rows that loaded to the front, in order; returns their count.
static size_t keep_rows(float *rows, const uint8_t *ok, size_t n, size_t E)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (ok[i]) {
            if (kept != i) memmove(rows + kept * E, rows + i * E, E * sizeof *rows);
            kept++;
        }
    return kept;
}

// OUT.names.txt (the paths of the kept rows) and OUT.failed.txt, committed together.
static int commit_sidecars(const char *out, images *c, seize_atomic *failed, const uint8_t *ok,
                           size_t n)
{
    seize_atomic names = {0};
    char *path = seize_encode_side_path(out, ".names.txt");
    int rc = path ? seize_atomic_open(path, &names) : SEIZE_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (ok[i]) fprintf(names.fp, "%s\n", c->paths[i]);
    if (rc == 0 && c->failed_err)
        rc = seize_error(SEIZE_EIO, "cannot write '%s': %s", failed->path, strerror(c->failed_err));
    if (rc == 0) rc = seize_atomic_commit(&names);
    if (rc == 0) rc = seize_atomic_commit(failed);
    seize_atomic_abort(&names);
    free(path);
    return rc;
}

int seize_encode_images_npy(seize_clip *clip, const char *const *paths, size_t n, const char *out,
                            const seize_encode_params *p, size_t *n_bad)
{
    size_t E = seize_clip_embed_dim(clip), bad = 0;
    images c = {.paths = paths, .p = p, .pre = seize_preprocess_default_opts()};
    c.pre.size = seize_clip_image_size(clip);
    c.pre.pad_ratio = p->pad_ratio;
    seize_atomic failed = {0};
    char *failed_path = NULL;
    float *rows = seize_malloc(n, E * sizeof *rows);
    uint8_t *ok = seize_malloc(n, 1);
    int rc = rows && ok ? 0 : SEIZE_ENOMEM;
    if (rc == 0 && p->skip_bad) {
        failed_path = seize_encode_side_path(out, ".failed.txt");
        rc = failed_path ? seize_atomic_open(failed_path, &failed) : SEIZE_ENOMEM;
        c.failed = failed.fp;
    }
    seize_clip_list_opts lo = {.skip_bad = p->skip_bad,
                               .on_bad = on_bad,
                               .on_progress = on_image_progress,
                               .ud = &c,
                               .cancel = p->cancel};
    if (rc == 0) rc = seize_clip_encode_image_list(clip, n, load_image, &lo, rows, ok, &bad);
    if (rc == 0) rc = save_rows(out, rows, keep_rows(rows, ok, n, E), E, p->normalize);
    if (rc == 0 && p->skip_bad) rc = commit_sidecars(out, &c, &failed, ok, n);
    if (n_bad) *n_bad = rc == 0 ? bad : 0;
    seize_atomic_abort(&failed);
    free(failed_path);
    free(rows);
    free(ok);
    return rc;
}

// --- texts

// The tokenizer's ids must all be the model's (`dir`, may be NULL, names the model folder).
static int check_vocab(const seize_clip *clip, const seize_tokenizer *tok, const char *dir)
{
    int nt = seize_tokenizer_vocab_size(tok), nm = seize_clip_vocab_size(clip);
    if (nt <= nm) return 0;
    if (dir)
        return seize_error(SEIZE_EINVAL, "the tokenizer of '%s' has %d ids but the model only %d",
                           dir, nt, nm);
    return seize_error(SEIZE_EINVAL, "the tokenizer has %d ids but the model only %d", nt, nm);
}

int seize_encode_texts_npy(seize_clip *clip, const seize_tokenizer *tok, const char *const *texts,
                           size_t n, const char *out, const seize_encode_params *p)
{
    // a single huge text would cost far more than its size to tokenise: refused up front
    int rc = seize_texts_check_length(texts, n, p->texts_file);
    if (rc < 0) return rc;
    if ((rc = check_vocab(clip, tok, NULL)) < 0) return rc;
    size_t E = seize_clip_embed_dim(clip), ctx = (size_t)seize_clip_context_length(clip);
    int32_t *ids = seize_malloc(n, ctx * sizeof *ids);
    float *rows = seize_malloc(n, E * sizeof *rows);
    rc = ids && rows ? 0 : SEIZE_ENOMEM;
    if (rc == 0 && n) rc = seize_tokenizer_encode_batch(tok, texts, n, (int)ctx, ids);
    if (rc == 0) rc = seize_clip_encode_token_list(clip, ids, n, rows, p->on_progress, p->ud);
    if (rc == 0) rc = save_rows(out, rows, n, E, p->normalize);
    free(ids);
    free(rows);
    return rc;
}

// --- from a model folder

// The model in `dir` and a state for it (p->max_batch, p->n_threads, p->precision).
static int open_clip(const char *dir, const seize_encode_params *p, seize_clip_model **m,
                     seize_clip **clip)
{
    seize_clip_params cp = {
        .max_batch = p->max_batch, .threads = p->n_threads, .precision = p->precision};
    int rc = seize_clip_model_load(dir, m);
    return rc < 0 ? rc : seize_clip_open(*m, cp, clip);
}

int seize_encode_images_dir(const char *model_dir, const char *const *paths, size_t n,
                            const char *out_npy, const seize_encode_params *p, size_t *n_bad)
{
    seize_clip_model *m = NULL;
    seize_clip *clip = NULL;
    int rc = open_clip(model_dir, p, &m, &clip);
    if (rc == 0) rc = seize_encode_images_npy(clip, paths, n, out_npy, p, n_bad);
    seize_clip_free(clip);
    seize_clip_model_free(m);
    return rc;
}

int seize_encode_texts_dir(const char *model_dir, const char *const *texts, size_t n,
                           const char *out_npy, const seize_encode_params *p)
{
    seize_clip_model *m = NULL;
    seize_clip *clip = NULL;
    seize_tokenizer *tok = NULL;
    int rc = seize_texts_check_length(texts, n, p->texts_file); // before loading anything
    if (rc == 0) rc = open_clip(model_dir, p, &m, &clip);
    if (rc == 0) rc = seize_tokenizer_load(model_dir, &tok);
    if (rc == 0) rc = check_vocab(clip, tok, model_dir); // (before the texts' work, naming it)
    if (rc == 0) rc = seize_encode_texts_npy(clip, tok, texts, n, out_npy, p);
    seize_tokenizer_free(tok);
    seize_clip_free(clip);
    seize_clip_model_free(m);
    return rc;
}
