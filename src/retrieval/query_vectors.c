// Query vectors from captions and edited captions (SEIZE step 3): A = normalize(mean text(e_i)),
// B = normalize(mean text(c_i)), or the raw per-caption embeddings for LDRE.
#include "seize/retrieval.h"

#include "seize/clip.h"
#include "seize/text.h"

#include <stdlib.h>
#include <string.h>

seize_query_vectors_params seize_query_vectors_default_params(void)
{
    seize_query_vectors_params p = {.n_use = 15};
    return p;
}

void seize_query_vectors_release(seize_query_vectors *v)
{
    if (!v) return;
    free(v->after);
    free(v->before);
    memset(v, 0, sizeof *v);
}

void seize_query_vector_mean(const float *emb, size_t n, size_t dim, float *out)
{
    for (size_t j = 0; j < dim; j++) {
        double acc = 0; // the rows in order, in double, as the reference pipeline's sum
        for (size_t i = 0; i < n; i++)
            acc += emb[i * dim + j];
        out[j] = (float)(acc / (double)(n ? n : 1));
    }
    seize_normalize_rows(out, 1, dim);
}

// --- checks

static const char *name_or(const char *name, const char *dflt)
{
    return name ? name : dflt;
}

// The id of query q, or "" when it has none; messages write it as " (id X)" after the number.
static const char *qid_of(const seize_captions *c, size_t q)
{
    return c->ids && c->ids[q] ? c->ids[q] : "";
}
#define ID_FMT "%s%s%s"
#define ID_ARGS(qid) *(qid) ? " (id " : "", (qid), *(qid) ? ")" : ""

// A caption longer than SEIZE_MAX_CAPTION_BYTES: an error naming the file, query and item (the
// captions loader refuses them already; this guards captions built in memory).
static int check_len(const char *path, size_t q, const char *qid, const char *what, size_t i,
                     const char *t)
{
    size_t len = strlen(t);
    if (len <= SEIZE_MAX_CAPTION_BYTES) return 0;
    return seize_error(SEIZE_EFORMAT,
                       "'%s': query %zu" ID_FMT
                       ": %s %zu has %zu bytes, more than the limit of %zu",
                       path, q, ID_ARGS(qid), what, i + 1, len, SEIZE_MAX_CAPTION_BYTES);
}

// Captions and edits taken from two files must describe the same queries in the same order.
static int check_pairing(const seize_captions *caps, const seize_captions *ed,
                         const seize_query_vectors_params *p)
{
    const char *cn = name_or(p->captions_name, "captions"), *en = name_or(p->edits_name, "edits");
    if (ed->n != caps->n)
        return seize_error(SEIZE_EFORMAT, "'%s' has %zu queries but '%s' has %zu", en, ed->n, cn,
                           caps->n);
    for (size_t q = 0; q < caps->n; q++)
        if (caps->ids && ed->ids && caps->ids[q] && ed->ids[q] && strcmp(caps->ids[q], ed->ids[q]))
            return seize_error(SEIZE_EFORMAT, "query %zu: id '%s' in '%s' but '%s' in '%s'", q,
                               caps->ids[q], cn, ed->ids[q], en);
    return 0;
}

// Captions and edits used by query q (the first n_use of each).
static void counts(const seize_captions *caps, const seize_captions *es, size_t q, size_t n_use,
                   size_t *n_c, size_t *n_e)
{
    *n_c = caps->n_captions[q] < n_use ? caps->n_captions[q] : n_use;
    *n_e = es->n_edits[q] < n_use ? es->n_edits[q] : n_use;
}

int seize_query_vectors_check(const seize_captions *caps, const seize_captions *edits,
                              const seize_query_vectors_params *p, size_t *n_texts)
{
    if (!caps || !p || !p->n_use) return seize_error(SEIZE_EINVAL, "query vectors: bad arguments");
    const seize_captions *es = edits ? edits : caps;
    const char *cn = name_or(p->captions_name, "captions");
    const char *en = edits ? name_or(p->edits_name, "edits") : cn;
    int rc;
    if (edits && (rc = check_pairing(caps, edits, p)) < 0) return rc;
    size_t total = 0, N = p->n_use;
    for (size_t q = 0; q < caps->n; q++) {
        size_t n_c, n_e;
        counts(caps, es, q, N, &n_c, &n_e);
        const char *qid = qid_of(caps, q);
        if (!n_c || !n_e || (p->per_caption && (n_c < N || n_e < N)))
            return seize_error(
                SEIZE_EFORMAT, "query %zu" ID_FMT ": %zu captions and %zu edits (need %s)", q,
                ID_ARGS(qid), caps->n_captions[q], es->n_edits[q],
                p->per_caption ? "N of each with --per-caption" : "at least one of each");
        for (size_t i = 0; i < n_c; i++)
            if ((rc = check_len(cn, q, qid, "caption", i, caps->captions[q][i])) < 0) return rc;
        for (size_t i = 0; i < n_e; i++)
            if ((rc = check_len(en, q, qid, "edit", i, es->edits[q][i])) < 0) return rc;
        total += n_c + n_e;
    }
    if (n_texts) *n_texts = total;
    return 0;
}

// --- encoding

// Raw text embeddings of every text used, per query its edits then its captions: (total, D).
static int encode_all(seize_clip *clip, const seize_tokenizer *tok, const seize_captions *caps,
                      const seize_captions *es, const seize_query_vectors_params *p, size_t total,
                      float *emb)
{
    size_t ctx = (size_t)seize_clip_context_length(clip), t = 0;
    const char **texts = seize_malloc(total ? total : 1, sizeof *texts);
    int32_t *ids = seize_malloc(total ? total : 1, ctx * sizeof *ids);
    int rc = SEIZE_ENOMEM;
    if (!texts || !ids) goto done;
    for (size_t q = 0; q < caps->n; q++) {
        size_t n_c, n_e;
        counts(caps, es, q, p->n_use, &n_c, &n_e);
        for (size_t i = 0; i < n_e; i++)
            texts[t++] = es->edits[q][i];
        for (size_t i = 0; i < n_c; i++)
            texts[t++] = caps->captions[q][i];
    }
    if ((rc = seize_tokenizer_encode_batch(tok, texts, total, (int)ctx, ids)) < 0) goto done;
    rc = seize_clip_encode_token_list(clip, ids, total, emb, p->on_progress, p->progress_ud);
done:
    free(texts);
    free(ids);
    return rc;
}

int seize_query_vectors_encode(seize_clip *clip, const seize_tokenizer *tok,
                               const seize_captions *caps, const seize_captions *edits,
                               const seize_query_vectors_params *p, seize_query_vectors *out)
{
    memset(out, 0, sizeof *out);
    size_t total = 0;
    int rc = seize_query_vectors_check(caps, edits, p, &total);
    if (rc < 0) return rc;
    if (p->on_start) p->on_start(p->progress_ud, total);
    const seize_captions *es = edits ? edits : caps;
    size_t Q = caps->n, D = seize_clip_embed_dim(clip), n_per = p->per_caption ? p->n_use : 1;
    size_t per = n_per * D;
    float *emb = seize_malloc(total ? total : 1, D * sizeof *emb);
    out->after = seize_calloc(Q ? Q : 1, per * sizeof(float));
    out->before = seize_calloc(Q ? Q : 1, per * sizeof(float));
    rc = SEIZE_ENOMEM;
    if (!emb || !out->after || !out->before) goto done;
    if ((rc = encode_all(clip, tok, caps, es, p, total, emb)) < 0) goto done;
    size_t t = 0;
    for (size_t q = 0; q < Q; q++) {
        size_t n_c, n_e;
        counts(caps, es, q, p->n_use, &n_c, &n_e);
        for (int side = 0; side < 2; side++) { // 0: edits -> A, 1: captions -> B
            size_t cnt = side ? n_c : n_e;
            float *dst = (side ? out->before : out->after) + q * per;
            if (p->per_caption)
                memcpy(dst, emb + t * D, cnt * D * sizeof *dst);
            else
                seize_query_vector_mean(emb + t * D, cnt, D, dst);
            t += cnt;
        }
    }
    out->n_queries = Q;
    out->n_per_query = n_per;
    out->per_caption = p->per_caption;
    out->dim = D;
    out->n_texts = total;
    rc = 0;
done:
    free(emb);
    if (rc < 0) seize_query_vectors_release(out);
    return rc;
}

int seize_query_vectors_save(const seize_query_vectors *v, const char *after_npy,
                             const char *before_npy)
{
    size_t shape[3] = {v->n_queries, v->per_caption ? v->n_per_query : v->dim, v->dim};
    int nd = v->per_caption ? 3 : 2, rc = seize_npy_save(after_npy, SEIZE_F32, nd, shape, v->after);
    return rc < 0 ? rc : seize_npy_save(before_npy, SEIZE_F32, nd, shape, v->before);
}
