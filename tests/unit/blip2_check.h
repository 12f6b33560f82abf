/*
 * blip2_check.h — helpers shared by tests/unit/test_blip2_sample.c and test_blip2_generate.c:
 * the BLIP-2 goldens (../shared/fixtures/blip2/<case>/goldens.{json,safetensors}) and a
 * chi-square goodness-of-fit test.
 */
#ifndef SEIZE_TEST_BLIP2_CHECK_H
#define SEIZE_TEST_BLIP2_CHECK_H

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "seize/model.h"

static const char *const blip2_cases[] = {"tiny224", "tiny364"};

typedef struct blip2_goldens {
    json_t *json;
    seize_st_file st;
} blip2_goldens;

static inline int blip2_goldens_open(const char *dir, blip2_goldens *g)
{
    char p[8192];
    memset(g, 0, sizeof *g);
    snprintf(p, sizeof p, "%s/goldens.json", dir);
    g->json = json_load_file(p, JSON_ALLOW_NUL, NULL); // a caption has U+0000
    if (!g->json) return -1;
    snprintf(p, sizeof p, "%s/goldens.safetensors", dir);
    return seize_st_open(p, &g->st);
}

static inline void blip2_goldens_close(blip2_goldens *g)
{
    json_decref(g->json);
    seize_st_close(&g->st);
}

/* A float32 golden tensor copied to the heap (NULL when absent or not F32); *count elements. */
static inline float *blip2_golden_f32(const blip2_goldens *g, const char *name, size_t *count)
{
    const seize_st_tensor *t = seize_st_find(&g->st, name);
    if (!t || t->dtype != SEIZE_ST_F32) return NULL;
    float *x = malloc(t->nbytes ? t->nbytes : 1);
    if (x) memcpy(x, t->data, t->nbytes);
    if (count) *count = t->count;
    return x;
}

/* The shape of a golden tensor (NULL when absent). */
static inline const size_t *blip2_golden_shape(const blip2_goldens *g, const char *name)
{
    const seize_st_tensor *t = seize_st_find(&g->st, name);
    return t ? t->shape : NULL;
}

/* goldens.json's runs[run][key] (borrowed). */
static inline json_t *blip2_run_get(const blip2_goldens *g, const char *run, const char *key)
{
    return json_object_get(json_object_get(g->json, run), key);
}

/* Sequence r of a run without BOS and without the <pad>s after EOS: its generated ids into
 * ids (cap), the count returned. */
static inline size_t blip2_run_generated(const blip2_goldens *g, const char *run, size_t r,
                                         int32_t eos, int32_t *ids, size_t cap)
{
    json_t *seq = json_array_get(blip2_run_get(g, run, "sequences"), r);
    size_t n = 0;
    for (size_t i = 1; i < json_array_size(seq) && n < cap; i++) {
        ids[n++] = (int32_t)json_integer_value(json_array_get(seq, i));
        if (ids[n - 1] == eos) break;
    }
    return n;
}

/* --- chi-square ------------------------------------------------------------------------- */

/* The regularised upper incomplete gamma function Q(a, x): a series below a + 1, a continued
 * fraction (modified Lentz) above. */
static inline double blip2_gamma_q(double a, double x)
{
    if (x <= 0) return 1.0;
    double lead = exp(-x + a * log(x) - lgamma(a));
    if (x < a + 1) {
        double term = 1.0 / a, sum = term;
        for (int n = 1; n < 10000 && fabs(term) > fabs(sum) * 1e-15; n++) {
            term *= x / (a + n);
            sum += term;
        }
        return 1.0 - sum * lead;
    }
    double b = x + 1 - a, c = 1e300, d = 1 / b, h = d;
    for (int i = 1; i < 10000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < 1e-300) d = 1e-300;
        c = b + an / c;
        if (fabs(c) < 1e-300) c = 1e-300;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15) break;
    }
    return h * lead;
}

/* The p-value of observed counts (n bins, total N) against probabilities prob (summing to 1):
 * bins expected below 5 are pooled into one; a bin observed but with probability 0 gives
 * p = 0. *chi2 and *df (may be NULL) get the statistic. */
static inline double blip2_chi_square(const long *observed, const double *prob, size_t n,
                                      double *chi2_out, int *df_out)
{
    long total = 0;
    for (size_t i = 0; i < n; i++)
        total += observed[i];
    double chi2 = 0, pool_e = 0;
    long pool_o = 0;
    int bins = 0;
    for (size_t i = 0; i < n; i++) {
        double e = prob[i] * (double)total;
        if (e <= 0 && observed[i] > 0) {
            if (chi2_out) *chi2_out = INFINITY;
            return 0.0;
        }
        if (e < 5) {
            pool_e += e;
            pool_o += observed[i];
            continue;
        }
        chi2 += (observed[i] - e) * (observed[i] - e) / e;
        bins++;
    }
    if (pool_e > 0) {
        chi2 += (pool_o - pool_e) * (pool_o - pool_e) / pool_e;
        bins++;
    }
    if (chi2_out) *chi2_out = chi2;
    if (df_out) *df_out = bins - 1;
    return bins > 1 ? blip2_gamma_q((bins - 1) / 2.0, chi2 / 2.0) : 1.0;
}

/* softmax of a warped row (-INFINITY = 0) in double. */
static inline void blip2_softmax(const float *x, size_t n, double *p)
{
    double max = -INFINITY, sum = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] > max) max = x[i];
    for (size_t i = 0; i < n; i++)
        sum += (p[i] = x[i] > -INFINITY ? exp(x[i] - max) : 0.0);
    for (size_t i = 0; i < n; i++)
        p[i] /= sum;
}

#endif
