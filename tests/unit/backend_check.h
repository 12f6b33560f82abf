/*
 * backend_check.h — what the tests that run cases on every backend of src/nn/backend.h share
 * (test_backend_ops.c, test_transformer.c): seeded random inputs, host and backend buffers of a
 * case, comparisons against a double reference, and the loop over a test's table of backends.
 *
 *     #define BACKEND_CHECK_SEED 12345 // this test's inputs
 *     #include "check.h"
 *     #include "backend_check.h"
 *     static const backend_entry backends[] = {{"cpu/1", "cpu", {.n_threads = 1}, 1}, ...};
 *     #define N_BACKENDS (sizeof backends / sizeof backends[0])
 *     static void test_backends_present(void) { check_backends_present(backends, N_BACKENDS); }
 *     static void memory_cases(tctx *t) { ... case_done(ok); }
 *     static void test_memory(void)
 *     {
 *         for_each_backend(backends, N_BACKENDS, "memory", memory_cases);
 *         CHECK_EQ(st.n_fail, 0);
 *     }
 *
 * Each test keeps its own table (the place a backend is added to it); the helpers take it by
 * pointer and count. A backend whose device is absent (nn_backend_new returns SEIZE_ENOTFOUND: cuda
 * on a machine without a GPU) is skipped, never counted as passed: check_backends_present marks
 * its case skipped with the reason, and each summary line says so.
 *
 * Every output buffer (dev_out) is followed by TAIL floats of SENTINEL that an op must leave
 * alone (check_tail). Backend failures the contract reports through ops->status fail the case
 * they happen in (case_done_on) and, in any case, the backend's run (for_each_backend).
 */
#ifndef SEIZE_BACKEND_CHECK_H
#define SEIZE_BACKEND_CHECK_H

#ifndef BACKEND_CHECK_SEED
#error "define BACKEND_CHECK_SEED (the seed of this test's random inputs) before backend_check.h"
#endif

#include "check.h"

#include "nn/backend.h"
#include "seize/core.h"
#include "seize/model.h"

#include <stdint.h>

#define SENTINEL 1234.5f // fills padding and tails: an op must leave it alone
#define TAIL 16          // sentinel floats after every output buffer

/* --- the backends under test ------------------------------------------------------------------ */

/* One entry of a test's table: the backend by name (nn_backend_new) with its parameters —
 * p.precision is how `linear` multiplies, its reference rounds the operands the same way — and
 * the BLAS thread count its products run under (0: left as it is; read by each product, so
 * each entry sets its own). */
typedef struct backend_entry {
    const char *label, *backend;
    nn_backend_params p;
    int blas_threads;
} backend_entry;

/* A fresh instance of entry e: 0, SEIZE_ENOTFOUND when its device is absent, or another error. */
static inline int backend_create(const backend_entry *e, nn_backend **out)
{
    if (e->blas_threads) seize_blas_threads_set(e->blas_threads);
    return nn_backend_new(e->backend, e->p, out);
}

/* --- host memory and random inputs ------------------------------------------------------------ */

static uint32_t seed = BACKEND_CHECK_SEED;

static inline float frand(void) // uniform in [-1, 1)
{
    seed = seed * 1664525u + 1013904223u;
    return (float)((seed >> 8) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

static inline void fill(float *x, size_t n, float amp)
{
    for (size_t i = 0; i < n; i++)
        x[i] = frand() * amp;
}

/* n zeroed bytes (at least one); exits on failure. */
static inline void *xmalloc(size_t n)
{
    void *p = calloc(n ? n : 1, 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

static inline float *hostf(size_t n)
{
    return xmalloc(n * sizeof(float));
}
static inline double *hostd(size_t n)
{
    return xmalloc(n * sizeof(double));
}

/* --- one backend while its cases run ---------------------------------------------------------- */

#define TCTX_MAX_BUFS 64
#define TCTX_MAX_WEIGHTS 256

/* The backend, its table entry, and the buffers and weights of the current case. */
typedef struct tctx {
    nn_backend *be;
    const nn_backend_ops *o;
    const char *name;
    const backend_entry *entry; // a fresh instance of the same: backend_create(entry, ...)
    seize_precision precision;
    float *bufs[TCTX_MAX_BUFS];
    int n_bufs;
    nn_weight *ws[TCTX_MAX_WEIGHTS];
    int n_ws;
} tctx;

static inline float *dev_alloc(tctx *t, size_t n)
{
    float *p = t->o->alloc(t->be, NN_F32, n);
    if (!p || t->n_bufs == TCTX_MAX_BUFS) {
        fprintf(stderr, "  FAIL %s: alloc of %zu floats: %s\n", t->name, n, seize_errmsg());
        exit(1);
    }
    return t->bufs[t->n_bufs++] = p;
}

/* A backend buffer holding host[0..n). */
static inline float *dev_from(tctx *t, const float *host, size_t n)
{
    float *p = dev_alloc(t, n);
    t->o->upload(t->be, p, host, NN_F32, n);
    return p;
}

/* The backend's form of host float32 values (rows, cols), through ops->weight. */
static inline const nn_weight *dev_weight(tctx *t, const float *host, size_t rows, size_t cols,
                                          nn_weight_use use)
{
    nn_host_tensor h = {host, NN_F32, rows, cols};
    nn_weight *w = t->o->weight(t->be, &h, use);
    if (!w || t->n_ws == TCTX_MAX_WEIGHTS) {
        fprintf(stderr, "  FAIL %s: weight (%zu, %zu): %s\n", t->name, rows, cols, seize_errmsg());
        exit(1);
    }
    return t->ws[t->n_ws++] = w;
}

static inline void dev_release_all(tctx *t)
{
    while (t->n_bufs > 0)
        t->o->release(t->be, t->bufs[--t->n_bufs]);
    while (t->n_ws > 0)
        t->o->weight_free(t->ws[--t->n_ws]);
}

/* The download of n floats of a backend buffer into a new host array. */
static inline float *dev_get(tctx *t, const float *p, size_t n)
{
    float *h = hostf(n);
    t->o->download(t->be, h, p, NN_F32, n);
    return h;
}

/* An output buffer of n floats plus TAIL, every float set to SENTINEL. */
static inline float *dev_out(tctx *t, size_t n)
{
    float *h = hostf(n + TAIL);
    for (size_t i = 0; i < n + TAIL; i++)
        h[i] = SENTINEL;
    float *p = dev_from(t, h, n + TAIL);
    free(h);
    return p;
}

/* --- comparisons and counts ------------------------------------------------------------------- */

/* Per op (or test): cases run, failures, backends skipped (no device), and the worst error as a
 * fraction of its limit, with the case it was seen in. */
static struct {
    int n_cases, n_fail;
    size_t n_skip;
    double worst;
    char worst_case[256];
} st;

static inline void stats_reset(void)
{
    memset(&st, 0, sizeof st);
}

/* Compares got[0..n) with want: element i fails when |got − want| > tol·mag[i] (mag NULL: the
 * values must be equal). Prints each failing output with its case and the max error; returns 1
 * when all holds. */
static inline int compare(const char *label, const char *what, const float *got, const double *want,
                          const double *mag, double tol, size_t n)
{
    double worst = 0, max_err = 0;
    size_t wi = 0, n_bad = 0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]), lim = mag ? tol * mag[i] : 0;
        if (isnan(err)) err = INFINITY;
        double r = lim > 0 ? err / lim : (err > 0 ? INFINITY : 0);
        if (err > lim) n_bad++;
        if (err > max_err) max_err = err;
        if (r > worst) {
            worst = r;
            wi = i;
        }
    }
    if (worst > st.worst && !n_bad) {
        st.worst = worst;
        snprintf(st.worst_case, sizeof st.worst_case, "%s %s", label, what);
    }
    if (!n_bad) return 1;
    fprintf(stderr,
            "  FAIL %s: %s: %zu of %zu values off, max |err| %.3g; worst [%zu] got %.9g want "
            "%.9g (limit %.3g)\n",
            label, what, n_bad, n, max_err, wi, got[wi], want[wi], mag ? tol * mag[wi] : 0.0);
    return 0;
}

/* Exact comparison of float arrays (inputs left unchanged, padding, copies). */
static inline int compare_exact(const char *label, const char *what, const float *got,
                                const float *want, size_t n)
{
    double *w = hostd(n);
    for (size_t i = 0; i < n; i++)
        w[i] = want[i];
    int ok = compare(label, what, got, w, NULL, 0, n);
    free(w);
    return ok;
}

/* The TAIL floats after an output of n floats are still SENTINEL. */
static inline int check_tail(tctx *t, const char *label, const float *dev, size_t n)
{
    float *h = dev_get(t, dev, n + TAIL), s[TAIL];
    for (int i = 0; i < TAIL; i++)
        s[i] = SENTINEL;
    int ok = compare_exact(label, "floats past the output", h + n, s, TAIL);
    free(h);
    return ok;
}

/* The backend's status: no op has failed since the last call (and the record is cleared). */
static inline int status_ok(tctx *t)
{
    int rc = t->o->status(t->be);
    if (rc < 0) fprintf(stderr, "  FAIL %s: an op failed: %s\n", t->name, seize_errmsg());
    return rc == 0;
}

/* Counts a case, failed unless ok. */
static inline void case_done(int ok)
{
    st.n_cases++;
    if (!ok) st.n_fail++;
}

/* Counts a case whose ops ran on t: failed unless ok and t's status reports no failed op since
 * the last call (ok is evaluated, so the case has run, before the status is read). */
static inline void case_done_on(tctx *t, int ok)
{
    case_done(status_ok(t) & ok);
}

/* --- the loop over a test's table ------------------------------------------------------------- */

/* Runs fn on a fresh instance of every backend of tab[0..n) (stats reset first); a backend whose
 * device is absent is skipped, one that cannot be made or whose status reports a failed op after
 * fn counts as a failure. Prints the op's summary line. */
static inline void for_each_backend(const backend_entry *tab, size_t n, const char *op,
                                    void (*fn)(tctx *t))
{
    stats_reset();
    for (size_t i = 0; i < n; i++) {
        tctx t = {0};
        t.name = tab[i].label;
        t.entry = &tab[i];
        t.precision = tab[i].p.precision;
        int rc = backend_create(t.entry, &t.be);
        if (rc == SEIZE_ENOTFOUND) { // its device is absent: skipped (check_backends_present)
            st.n_skip++;
            continue;
        }
        if (rc < 0) {
            fprintf(stderr, "  FAIL %s: cannot create: %s\n", t.name, seize_errmsg());
            st.n_fail++;
            continue;
        }
        t.o = t.be->ops;
        fn(&t);
        if (!status_ok(&t)) st.n_fail++; // an op failed during the cases
        dev_release_all(&t);
        t.o->free(t.be);
    }
    fprintf(stderr,
            "  %s: %d cases on %zu backends, %d failed%s; worst error %.3g of its limit%s%s\n", op,
            st.n_cases, n - st.n_skip, st.n_fail,
            st.n_skip ? " (backends without their device skipped)" : "", st.worst,
            st.worst > 0 ? " in " : "", st.worst_case);
}

/* The body of a test case: every backend of tab[0..n) can be made, and one made has a named ops
 * table. One whose device is absent (SEIZE_ENOTFOUND) makes the case skipped, with the reason
 * and the entries concerned (their cases elsewhere are skipped too: never counted as passed). */
static inline void check_backends_present(const backend_entry *tab, size_t n)
{
    char why[512] = "", skipped[256] = "";
    for (size_t i = 0; i < n; i++) {
        nn_backend *be = NULL;
        int rc = backend_create(&tab[i], &be);
        if (rc == SEIZE_ENOTFOUND) {
            if (!why[0]) snprintf(why, sizeof why, "%s", seize_errmsg());
            size_t used = strlen(skipped);
            snprintf(skipped + used, sizeof skipped - used, "%s%s", used ? ", " : "", tab[i].label);
        }
        int named = rc == 0 && be->ops->name && be->ops->name[0];
        if (be) be->ops->free(be);
        if (rc == 0) CHECK_MSG(named, "%s: ops->name is empty", tab[i].label);
        if (rc != SEIZE_ENOTFOUND) CHECK_EQ(rc, 0);
    }
    if (why[0]) SKIP("%s (cases skipped on: %s)", why, skipped);
}

#endif
