// seize_blip2_generate: BOS + prompt prefilled once per image, its cache shared by the image's
// n sequences, all sequences of the call decoded as one batch (blip2_int.h's seams) that the
// sequences leave when they end, one draw per row and step from the image's own random stream.
//
// transformers 4.40 (the goldens) applies no logits processor besides temperature, top-k and
// top-p with SEIZE's settings: Blip2ForConditionalGeneration.generate adds the query tokens to
// min_length, and generate takes the whole input (queries + BOS + prompt) off it again, so
// LAVIS's min_length 1 becomes 0 and EOS is never banned (test_blip2_sample checks every
// recorded step's scores against warp(raw logits)).
#include "blip2_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

seize_blip2_gen seize_blip2_gen_default(void)
{
    return (seize_blip2_gen){.prompt = "a photo of",
                             .n = 15,
                             .top_p = 0.9f,
                             .top_k = 50,
                             .temperature = 1.0f,
                             .max_new_tokens = 30,
                             .seed = 0,
                             .greedy = 0};
}

void seize_blip2_caption_release(seize_blip2_caption *c, size_t n)
{
    if (!c) return;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < c[i].n; j++) {
            if (c[i].captions) free(c[i].captions[j]);
            if (c[i].tokens) free(c[i].tokens[j]);
        }
        free(c[i].captions);
        free(c[i].tokens);
        free(c[i].n_tokens);
        memset(&c[i], 0, sizeof c[i]);
    }
}

// --- settings ------------------------------------------------------------------------------

static int check_settings(const seize_blip2 *s, size_t n_images, const seize_blip2_gen *g)
{
    const nn_blip2_limits *lim = nn_blip2_state_limits(s);
    if (n_images > lim->max_images)
        return seize_error(SEIZE_EINVAL, "blip2: %zu images, more than the state's max_images %zu",
                           n_images, lim->max_images);
    if (g->n < 1 || (size_t)g->n > lim->max_samples)
        return seize_error(SEIZE_EINVAL,
                           "blip2: n (sequences per image) %d out of range [1, max_samples %zu]",
                           g->n, lim->max_samples);
    if (!(g->top_p > 0 && g->top_p <= 1))
        return seize_error(SEIZE_EINVAL, "blip2: top_p %g out of range (0, 1]", (double)g->top_p);
    if (g->top_k < 0)
        return seize_error(SEIZE_EINVAL, "blip2: top_k %d is negative (0 = off)", g->top_k);
    if (!(g->temperature > 0) || isinf(g->temperature))
        return seize_error(SEIZE_EINVAL, "blip2: temperature %g must be positive and finite",
                           (double)g->temperature);
    if (g->max_new_tokens < 1)
        return seize_error(SEIZE_EINVAL, "blip2: max_new_tokens %d must be at least 1",
                           g->max_new_tokens);
    if (g->force_ids && !g->force_len)
        return seize_error(SEIZE_EINVAL, "blip2: force_ids given without force_len");
    return 0;
}

// The forced ids of every row are in the vocabulary.
static int check_forced(const seize_blip2_gen *g, size_t n_seq, size_t vocab)
{
    if (!g->force_ids) return 0;
    for (size_t r = 0; r < n_seq; r++) {
        if (g->force_len[r] && !g->force_ids[r])
            return seize_error(SEIZE_EINVAL, "blip2: force_ids of sequence %zu is NULL", r);
        for (size_t t = 0; t < g->force_len[r]; t++) {
            int32_t id = g->force_ids[r][t];
            if (id < 0 || (size_t)id >= vocab)
                return seize_error(SEIZE_EINVAL,
                                   "blip2: forced id %d (sequence %zu, token %zu) is outside the "
                                   "vocabulary of %zu",
                                   (int)id, r, t, vocab);
        }
    }
    return 0;
}

// BOS + the prompt's ids into *ids (heap), after checking they and the new tokens fit.
static int prompt_ids(const seize_blip2 *s, const seize_blip2_gen *g, int32_t **ids, size_t *n)
{
    const seize_blip2_model *m = nn_blip2_state_model(s);
    const seize_blip2_config *c = seize_blip2_model_get_config(m);
    const char *prompt = g->prompt ? g->prompt : "a photo of";
    int32_t *p = NULL;
    size_t np = 0;
    int rc = seize_bpe_encode(seize_blip2_model_tokenizer(m), prompt, strlen(prompt), &p, &np);
    if (rc < 0) return rc;
    size_t max_tokens = nn_blip2_state_limits(s)->max_tokens;
    if (np + 1 + (size_t)g->max_new_tokens > max_tokens) {
        free(p);
        return seize_error(SEIZE_EINVAL,
                           "blip2: the prompt (%zu tokens with BOS) + max_new_tokens %d exceed "
                           "the state's max_tokens %zu",
                           np + 1, g->max_new_tokens, max_tokens);
    }
    *ids = seize_malloc(np + 1, sizeof **ids);
    if (!*ids) {
        free(p);
        return SEIZE_ENOMEM;
    }
    (*ids)[0] = c->bos_id;
    if (np) memcpy(*ids + 1, p, np * sizeof *p);
    free(p);
    *n = np + 1;
    return 0;
}

// --- the random stream of an image ---------------------------------------------------------

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Seeded by (seed, the image's pixels): captions do not depend on the batch around the image.
static void image_stream(nn_rng *r, uint64_t seed, const float *pix, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; // FNV-1a over the floats' bits, 4 bytes at a time
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, pix + i, sizeof bits);
        h = (h ^ bits) * 0x100000001b3ull;
    }
    nn_rng_seed(r, mix64(seed + 0x9e3779b97f4a7c15ull) ^ mix64(h ^ (uint64_t)n));
}

// --- the decode loop -----------------------------------------------------------------------

typedef struct run {
    seize_blip2 *s;
    const seize_blip2_gen *g;
    const seize_blip2_config *c;
    size_t n_img, n, n_seq, vocab, steps;
    float *logits;           // (n_seq, vocab) of the current step, by slot
    float *warped;           // (vocab)
    nn_blip2_ranked *ranked; // (vocab)
    nn_rng *rng;             // (n_img)
    int32_t *tok;            // (n_seq, steps) generated ids
    size_t *len;             // (n_seq)
    unsigned char *done;     // (n_seq)
    int32_t *feed;           // (n_seq) the ids of the next step, by slot
    size_t *slot, *row_of;   // (n_seq) the slot (cache sequence) of a live row; a slot's row
    size_t n_slots;          // slots 0..n_slots-1 hold the live rows
    int32_t *known;          // (steps) a row's ids that the tokenizer has
} run;

static int run_alloc(run *r)
{
    size_t lv, tv;
    if (seize_mul_size(r->n_seq, r->vocab, &lv) < 0 || seize_mul_size(r->n_seq, r->steps, &tv) < 0)
        return SEIZE_ENOMEM;
    r->logits = seize_malloc(lv, sizeof *r->logits);
    r->warped = seize_malloc(r->vocab, sizeof *r->warped);
    r->ranked = seize_malloc(r->vocab, sizeof *r->ranked);
    r->rng = seize_malloc(r->n_img, sizeof *r->rng);
    r->tok = seize_malloc(tv, sizeof *r->tok);
    r->len = seize_calloc(r->n_seq, sizeof *r->len);
    r->done = seize_calloc(r->n_seq, 1);
    r->feed = seize_malloc(r->n_seq, sizeof *r->feed);
    r->known = seize_malloc(r->steps, sizeof *r->known);
    r->slot = seize_malloc(r->n_seq, sizeof *r->slot);
    r->row_of = seize_malloc(r->n_seq, sizeof *r->row_of);
    if (!r->logits || !r->warped || !r->ranked || !r->rng || !r->tok || !r->len || !r->done ||
        !r->feed || !r->known || !r->slot || !r->row_of)
        return SEIZE_ENOMEM;
    for (size_t q = 0; q < r->n_seq; q++)
        r->slot[q] = r->row_of[q] = q;
    r->n_slots = r->n_seq;
    return 0;
}

static void run_free(run *r)
{
    free(r->logits);
    free(r->warped);
    free(r->ranked);
    free(r->rng);
    free(r->tok);
    free(r->len);
    free(r->done);
    free(r->feed);
    free(r->known);
    free(r->slot);
    free(r->row_of);
}

// The token of row q at the current step from its logits.
static int32_t choose(run *r, size_t q, const float *x)
{
    const seize_blip2_gen *g = r->g;
    if (g->force_ids) return g->force_ids[q][r->len[q]];
    if (g->greedy) return nn_blip2_draw(x, r->vocab, 1, NULL);
    memcpy(r->warped, x, r->vocab * sizeof *x);
    nn_blip2_warp(r->warped, r->vocab, g->temperature, g->top_k, g->top_p, r->ranked);
    return nn_blip2_draw(r->warped, r->vocab, 0, &r->rng[q / r->n]);
}

// One step over every live row (in row order, so an image's rows draw from its stream in
// turn): dump the raw logits, choose, append; a row ends at EOS, after its last forced id or
// at max_new_tokens. Returns the rows still live.
static size_t take_step(run *r, size_t t)
{
    const seize_blip2_gen *g = r->g;
    size_t live = 0;
    for (size_t q = 0; q < r->n_seq; q++) {
        if (r->done[q]) continue;
        const float *x = r->logits + r->slot[q] * r->vocab;
        if (g->logits) memcpy(g->logits + (q * r->steps + t) * r->vocab, x, r->vocab * sizeof *x);
        int32_t id = choose(r, q, x);
        r->tok[q * r->steps + r->len[q]++] = id;
        if (id == r->c->eos_id || r->len[q] == r->steps ||
            (g->force_ids && r->len[q] == g->force_len[q]))
            r->done[q] = 1;
        else
            live++;
    }
    return live;
}

// Keeps the live rows in the first slots, so that a step runs over them only: the cache rows
// of the last slot move into the slot of a row that ended. Then the ids of the next step, by
// slot.
static int compact(run *r)
{
    size_t k = 0;
    while (k < r->n_slots) {
        if (!r->done[r->row_of[k]]) {
            k++;
            continue;
        }
        size_t last = --r->n_slots, q = r->row_of[last];
        if (last == k) break;
        if (!r->done[q]) {
            int rc = nn_blip2_move(r->s, last, k);
            if (rc < 0) return rc;
            r->slot[q] = k;
        }
        r->row_of[k] = q; // checked again: it may have ended too
    }
    for (k = 0; k < r->n_slots; k++) {
        size_t q = r->row_of[k];
        r->feed[k] = r->tok[q * r->steps + r->len[q] - 1];
    }
    return 0;
}

static int decode(run *r)
{
    const seize_blip2_gen *g = r->g;
    size_t live = r->n_seq;
    if (g->force_ids)
        for (size_t q = 0; q < r->n_seq; q++)
            if (!g->force_len[q]) r->done[q] = 1, live--;
    for (size_t t = 0; t < r->steps && live; t++) {
        int rc = seize_cancel_check(g->cancel);
        if (rc < 0) return rc;
        live = take_step(r, t);
        if (!live) break;
        if ((rc = compact(r)) < 0) return rc;
        rc = nn_blip2_step(r->s, r->n_slots, r->feed, r->logits);
        if (rc < 0) return rc;
    }
    return 0;
}

// Encode, prefill once per image, share, then the first step's logits of every row.
static int prefill(run *r, const float *pixels, const int32_t *ids, size_t n_ids)
{
    const seize_blip2_gen *g = r->g;
    int rc = nn_blip2_encode(r->s, pixels, r->n_img, g->trace, g->trace_user);
    if (rc == 0)
        rc = nn_blip2_prefill(r->s, r->n_img, ids, n_ids, r->logits, g->trace, g->trace_user);
    if (rc == 0) rc = nn_blip2_expand(r->s, r->n_img, r->n);
    if (rc < 0) return rc;
    // image i's row sits at i; its n sequences are rows i·n .. i·n + n-1 (from the last image
    // down, so no row is overwritten before it is copied)
    for (size_t i = r->n_img; i-- > 0;)
        for (size_t j = r->n; j-- > 0;)
            if (i * r->n + j != i)
                memcpy(r->logits + (i * r->n + j) * r->vocab, r->logits + i * r->vocab,
                       r->vocab * sizeof *r->logits);
    return 0;
}

// The caption of n generated ids: decoded without special tokens and without the ids the
// tokenizer does not have (the model's vocab_size may exceed the tokenizer's: 50272 rows of
// OPT's embedding, 50265 tokens; the fast tokenizer that transformers' Blip2Processor loads
// skips them too), NUL characters (the token of byte 0) dropped, as captions are C strings,
// then stripped as Python's str.strip. known: scratch of n ids.
static int caption_text(const seize_bpe *bpe, const int32_t *ids, size_t n, int32_t *known,
                        char **out)
{
    size_t len = 0, k = 0, m = 0;
    for (size_t i = 0; i < n; i++)
        if (seize_bpe_has_id(bpe, ids[i])) known[m++] = ids[i];
    int rc = seize_bpe_decode_n(bpe, known, m, 1, out, &len);
    if (rc < 0) return rc;
    for (size_t i = 0; i < len; i++)
        if ((*out)[i]) (*out)[k++] = (*out)[i];
    (*out)[k] = 0;
    seize_text_strip_py(*out);
    return 0;
}

// The captions of every image from the generated ids.
static int collect(run *r, seize_blip2_caption *out)
{
    const seize_bpe *bpe = seize_blip2_model_tokenizer(nn_blip2_state_model(r->s));
    for (size_t i = 0; i < r->n_img; i++) {
        seize_blip2_caption *c = &out[i];
        c->captions = seize_calloc(r->n, sizeof *c->captions);
        c->tokens = seize_calloc(r->n, sizeof *c->tokens);
        c->n_tokens = seize_calloc(r->n, sizeof *c->n_tokens);
        if (!c->captions || !c->tokens || !c->n_tokens) return SEIZE_ENOMEM;
        c->n = r->n;
        for (size_t j = 0; j < r->n; j++) {
            size_t q = i * r->n + j, len = r->len[q];
            c->tokens[j] = seize_malloc(len ? len : 1, sizeof **c->tokens);
            if (!c->tokens[j]) return SEIZE_ENOMEM;
            memcpy(c->tokens[j], r->tok + q * r->steps, len * sizeof **c->tokens);
            c->n_tokens[j] = len;
            int rc = caption_text(bpe, c->tokens[j], len, r->known, &c->captions[j]);
            if (rc < 0) return rc;
        }
    }
    return 0;
}

int seize_blip2_generate(seize_blip2 *s, const float *pixels, size_t n_images,
                         const seize_blip2_gen *g, seize_blip2_caption *out)
{
    if (!s || !g || (n_images && (!pixels || !out)))
        return seize_error(SEIZE_EINVAL, "seize_blip2_generate: NULL argument");
    int rc = check_settings(s, n_images, g);
    if (rc < 0 || n_images == 0) return rc;
    const seize_blip2_config *c = seize_blip2_model_get_config(nn_blip2_state_model(s));
    run r = {.s = s, .g = g, .c = c, .n_img = n_images, .n = (size_t)g->n};
    r.n_seq = n_images * r.n;
    r.vocab = (size_t)c->vocab_size;
    r.steps = (size_t)g->max_new_tokens;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if ((rc = check_forced(g, r.n_seq, r.vocab)) < 0 || (rc = prompt_ids(s, g, &ids, &n_ids)) < 0)
        return rc;
    rc = run_alloc(&r);
    if (rc == 0 && g->logits)
        for (size_t i = 0; i < r.n_seq * r.steps * r.vocab; i++)
            g->logits[i] = NAN;
    size_t per = 3 * (size_t)c->image_size * (size_t)c->image_size;
    for (size_t i = 0; rc == 0 && i < n_images; i++)
        image_stream(&r.rng[i], g->seed, pixels + i * per, per);
    if (rc == 0) rc = prefill(&r, pixels, ids, n_ids);
    if (rc == 0) rc = decode(&r);
    if (rc == 0 && (rc = collect(&r, out)) < 0) seize_blip2_caption_release(out, n_images);
    free(ids);
    run_free(&r);
    return rc;
}
