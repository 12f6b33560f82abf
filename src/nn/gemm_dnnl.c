// The oneDNN part of src/nn/gemm.h: every oneDNN call of seize lives here, so that a move from
// the 2.x C API (Debian's libdnnl-dev 2.6) to 3.x stays in this file. Built with
// SEIZE_HAVE_DNNL; without it the functions below say "declined" and gemm.c runs its portable
// path.
//
// Packing: a matmul is created with weights in format `any` for the full (k, n); its queried
// weights layout (f32 BA16a64b, bf16 BA16a64b2a, u8·s8 BA16a64b4a on AVX-512) is what the plain
// (n, k) matrix is reordered into, once. The layout depends on the CPU, so it is never stored.
// int8 runs as u8 (x + 128) · s8: that layout carries no compensation buffer (s8·s8 would append
// one after the data), so a range of 64-column blocks is a contiguous sub-buffer and a column
// slice of the output is a matmul on that sub-buffer. gemm.c removes the 128·Σw term.
//
// Threads: the Debian build runs on OpenMP. Each thread that calls nn_dnnl_run (or packs) sets
// its own OpenMP thread count to 1 once, so oneDNN never starts a team: primitives are created
// for one thread and run on the caller. Scratchpads are ours (user mode, in the thread's state),
// so that threads may run the same primitive at once.
//
// Primitives are cached per packed matrix, keyed by (m, n0, n1, ldx, ldy, beta, bias), under a
// mutex; each thread keeps its memory objects for the last primitives it ran (keyed by a
// process-unique id), so a steady call allocates nothing.
#include "gemm.h"

#include "seize/core.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef SEIZE_HAVE_DNNL

#include <dnnl.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

// --- engine, description, per-thread OpenMP setting ---------------------------------------------

static dnnl_engine_t engine;
static int engine_ok;
static char describe_text[96];
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41:
        return "sse41";
    case dnnl_cpu_isa_avx:
        return "avx";
    case dnnl_cpu_isa_avx2:
        return "avx2";
    case dnnl_cpu_isa_avx2_vnni:
        return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core:
        return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
        return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
        return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
        return "avx512_core_amx";
    default:
        return "other";
    }
}

static void engine_init(void)
{
    engine_ok = dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success;
    const dnnl_version_t *v = dnnl_version();
    snprintf(describe_text, sizeof describe_text, "oneDNN %d.%d.%d (%s)", v->major, v->minor,
             v->patch, isa_name(dnnl_get_effective_cpu_isa()));
}

const char *nn_dnnl_describe(void)
{
    pthread_once(&engine_once, engine_init);
    return describe_text;
}

// oneDNN asks OpenMP how many threads it may use: one, on this thread (checked on every call:
// another library on the same thread, e.g. an OpenMP OpenBLAS, may have raised it since).
static void one_thread(void)
{
    if (omp_get_max_threads() != 1) omp_set_num_threads(1);
}

// 1 when oneDNN's choice is a reference (plain C++) implementation: orders of magnitude
// slower than the portable path (e.g. int8 without a JIT kernel), so it counts as declined.
static int ref_impl(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) || !impl) return 1;
    return strncmp(impl, "ref", 3) == 0;
}

// --- packed matrices and their primitives -------------------------------------------------------

typedef struct entry {
    size_t m, n0, n1, ldx, ldy;
    int beta, bias;
    uint64_t id;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t md[5]; // src, weights (the slice), dst, bias, scratchpad
    size_t wei_off;           // bytes from the packed base to column n0
} entry;

enum { MD_SRC, MD_WEI, MD_DST, MD_BIAS, MD_PAD, N_MD };

struct nn_dnnl_w {
    nn_dnnl_kind kind;
    size_t n, k, align, bytes;
    int strided; // plain `ab` layout (AVX2's gemm:jit): a column slice is a strided sub-matrix
    void *packed;
    dnnl_memory_desc_t md; // the full (k, n) packed layout
    pthread_mutex_t mu;
    entry **ents;
    size_t n_ents, cap_ents;
};

static _Atomic uint64_t next_id = 1;

static dnnl_data_type_t src_type(nn_dnnl_kind kind)
{
    return kind == NN_DNNL_F32 ? dnnl_f32 : kind == NN_DNNL_BF16 ? dnnl_bf16 : dnnl_u8;
}
static dnnl_data_type_t wei_type(nn_dnnl_kind kind)
{
    return kind == NN_DNNL_F32 ? dnnl_f32 : kind == NN_DNNL_BF16 ? dnnl_bf16 : dnnl_s8;
}
static size_t wei_size(nn_dnnl_kind kind)
{
    return kind == NN_DNNL_F32 ? 4 : kind == NN_DNNL_BF16 ? 2 : 1;
}

// The packed layout of columns [n0, n1): the full one cut down (only valid when 64-column
// blocks are contiguous, or the layout is plain, which nn_dnnl_pack checked), and the byte
// offset of column n0.
static dnnl_memory_desc_t slice_md(const nn_dnnl_w *w, size_t n0, size_t n1, size_t *off)
{
    dnnl_memory_desc_t md = w->md;
    size_t a = w->align;
    *off = 0;
    if (n0 == 0 && n1 == w->n) return md;
    md.dims[1] = (dnnl_dim_t)(n1 - n0);
    if (w->strided) { // same row stride n, fewer columns
        md.padded_dims[1] = md.dims[1];
        *off = n0 * wei_size(w->kind);
        return md;
    }
    md.padded_dims[1] = (dnnl_dim_t)((n1 - n0 + a - 1) / a * a);
    *off = n0 / a * (size_t)w->md.format_desc.blocking.strides[1] * wei_size(w->kind);
    return md;
}

// Creates the matmul for one key. 0, 1 when oneDNN declines (no implementation, or one that
// wants another weights layout than the packed one), SEIZE_ENOMEM.
static int entry_make(const nn_dnnl_w *w, entry *e)
{
    size_t nn = e->n1 - e->n0;
    dnnl_dims_t sd = {(dnnl_dim_t)e->m, (dnnl_dim_t)w->k}, ss = {(dnnl_dim_t)e->ldx, 1};
    dnnl_dims_t wd = {(dnnl_dim_t)w->k, (dnnl_dim_t)nn};
    dnnl_dims_t dd = {(dnnl_dim_t)e->m, (dnnl_dim_t)nn}, ds = {(dnnl_dim_t)e->ldy, 1};
    dnnl_dims_t bd = {1, (dnnl_dim_t)nn};
    dnnl_memory_desc_t any;
    dnnl_data_type_t dt = w->kind == NN_DNNL_U8S8 ? dnnl_s32 : dnnl_f32;
    if (dnnl_memory_desc_init_by_strides(&e->md[MD_SRC], 2, sd, src_type(w->kind), ss) ||
        dnnl_memory_desc_init_by_tag(&any, 2, wd, wei_type(w->kind), dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_strides(&e->md[MD_DST], 2, dd, dt, ds) ||
        dnnl_memory_desc_init_by_tag(&e->md[MD_BIAS], 2, bd, dnnl_f32, dnnl_ab))
        return 1;
    // the layout oneDNN picks for `any` must be the packed one; a strided slice of a plain
    // layout is given as it is (`any` would be a dense one)
    dnnl_memory_desc_t want = slice_md(w, e->n0, e->n1, &e->wei_off);
    dnnl_matmul_desc_t desc;
    if (dnnl_matmul_desc_init(&desc, &e->md[MD_SRC], w->strided ? &want : &any,
                              e->bias ? &e->md[MD_BIAS] : NULL, &e->md[MD_DST]))
        return 1;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int rc = 1;
    // strict: fp32 stays fp32 whatever ONEDNN_DEFAULT_FPMATH_MODE says (it may allow bf16)
    if (dnnl_primitive_attr_create(&attr) ||
        dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) ||
        dnnl_primitive_attr_set_fpmath_mode(attr, dnnl_fpmath_mode_strict))
        goto done;
    if (e->beta) {
        if (dnnl_post_ops_create(&po) || dnnl_post_ops_append_sum(po, 1.0f) ||
            dnnl_primitive_attr_set_post_ops(attr, po))
            goto done;
    }
    if (dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) || ref_impl(pd)) goto done;
    const dnnl_memory_desc_t *got = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *pad = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (!got || !pad || !dnnl_memory_desc_equal(got, &want)) goto done;
    e->md[MD_WEI] = want;
    e->md[MD_PAD] = *pad;
    if (dnnl_primitive_create(&e->prim, pd)) goto done;
    e->id = atomic_fetch_add(&next_id, 1);
    rc = 0;
done:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int entry_match(const entry *e, const entry *key)
{
    return e->m == key->m && e->n0 == key->n0 && e->n1 == key->n1 && e->ldx == key->ldx &&
           e->ldy == key->ldy && e->beta == key->beta && e->bias == key->bias;
}

static void entry_free(entry *e)
{
    if (e && e->prim) dnnl_primitive_destroy(e->prim);
    free(e);
}

// At most this many primitives per matrix are kept (text batches of many lengths would make
// one per length); past it each product makes its own and drops it (oneDNN's own primitive
// cache still spares the JIT).
#define MAX_ENTRIES 64

// The primitive for key: the cached one, made on first use; *owned set when it is a
// temporary the caller frees (the cache is full). 0, 1 when oneDNN declines, SEIZE_ENOMEM.
static int entry_get(nn_dnnl_w *w, const entry *key, entry **out, int *owned)
{
    *out = NULL, *owned = 0;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->n_ents && !*out; i++)
        if (entry_match(w->ents[i], key)) *out = w->ents[i];
    pthread_mutex_unlock(&w->mu);
    if (*out) return (*out)->prim ? 0 : 1;
    // Made outside the lock (0.1–1 ms of JIT); a thread that made the same one meanwhile wins.
    entry *e = malloc(sizeof *e);
    if (!e) return seize_error(SEIZE_ENOMEM, "out of memory (oneDNN primitive cache)");
    *e = *key;
    e->prim = NULL;
    if (entry_make(w, e) != 0) e->prim = NULL; // cached as declined: never retried
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->n_ents && !*out; i++)
        if (entry_match(w->ents[i], key)) *out = w->ents[i];
    if (!*out && w->n_ents == w->cap_ents && w->cap_ents < MAX_ENTRIES) {
        size_t cap = w->cap_ents ? 2 * w->cap_ents : 16;
        entry **ents = realloc(w->ents, cap * sizeof *ents);
        if (ents) w->ents = ents, w->cap_ents = cap;
    }
    if (!*out && w->n_ents < w->cap_ents) {
        w->ents[w->n_ents++] = e;
        *out = e;
        e = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    if (e && !*out && e->prim) *out = e, *owned = 1, e = NULL;
    entry_free(e);
    return *out && (*out)->prim ? 0 : 1;
}

// --- packing ------------------------------------------------------------------------------------

// The output-column block of a packed layout: columns [a·j, a·j + a) for all k must be one
// contiguous run, the runs in column order (BA16a64b and friends; a plain `ba` gives 1). 0 when
// the layout is something else (then only whole-matrix products run through oneDNN).
static size_t col_block(const dnnl_memory_desc_t *md)
{
    if (md->format_kind != dnnl_blocked || md->extra.flags != 0 || md->offset0 != 0) return 0;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    dnnl_dim_t bk = 1, bn = 1;
    for (int i = 0; i < b->inner_nblks; i++)
        if (b->inner_idxs[i] == 0)
            bk *= b->inner_blks[i];
        else
            bn *= b->inner_blks[i];
    // one k-block's stride × the number of k-blocks = the run of one column block
    dnnl_dim_t run = md->padded_dims[0] / bk * b->strides[0];
    if (b->strides[0] != bk * bn || b->strides[1] != run) return 0;
    return (size_t)bn;
}

// 1 for the plain `ab` layout of (k, n): element (i, j) at i·n + j.
static int plain_ab(const dnnl_memory_desc_t *md)
{
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    return md->format_kind == dnnl_blocked && md->extra.flags == 0 && md->offset0 == 0 &&
           b->inner_nblks == 0 && b->strides[1] == 1 && b->strides[0] == md->dims[1] &&
           md->padded_dims[0] == md->dims[0] && md->padded_dims[1] == md->dims[1];
}

static int reorder(const dnnl_memory_desc_t *from_md, const void *from,
                   const dnnl_memory_desc_t *to_md, void *to)
{
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t p = NULL;
    dnnl_memory_t a = NULL, b = NULL;
    dnnl_stream_t st = NULL;
    int rc = 1;
    if (dnnl_reorder_primitive_desc_create(&pd, from_md, engine, to_md, engine, NULL) ||
        dnnl_primitive_create(&p, pd) ||
        dnnl_stream_create(&st, engine, dnnl_stream_default_flags) ||
        dnnl_memory_create(&a, from_md, engine, (void *)from) ||
        dnnl_memory_create(&b, to_md, engine, to))
        goto done;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, a}, {DNNL_ARG_TO, b}};
    if (dnnl_primitive_execute(p, st, 2, args) || dnnl_stream_wait(st)) goto done;
    rc = 0;
done:
    if (a) dnnl_memory_destroy(a);
    if (b) dnnl_memory_destroy(b);
    if (st) dnnl_stream_destroy(st);
    if (p) dnnl_primitive_destroy(p);
    if (pd) dnnl_primitive_desc_destroy(pd);
    return rc;
}

// The weights layout oneDNN wants for an (m, k)·(k, n) product of this kind. 0 or 1.
static int query_layout(nn_dnnl_kind kind, size_t m, size_t n, size_t k, dnnl_memory_desc_t *out)
{
    dnnl_dims_t sd = {(dnnl_dim_t)m, (dnnl_dim_t)k}, wd = {(dnnl_dim_t)k, (dnnl_dim_t)n};
    dnnl_dims_t dd = {(dnnl_dim_t)m, (dnnl_dim_t)n};
    dnnl_memory_desc_t s, wany, d;
    dnnl_data_type_t dt = kind == NN_DNNL_U8S8 ? dnnl_s32 : dnnl_f32;
    dnnl_matmul_desc_t desc;
    dnnl_primitive_desc_t pd;
    if (dnnl_memory_desc_init_by_tag(&s, 2, sd, src_type(kind), dnnl_ab) ||
        dnnl_memory_desc_init_by_tag(&wany, 2, wd, wei_type(kind), dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&d, 2, dd, dt, dnnl_ab) ||
        dnnl_matmul_desc_init(&desc, &s, &wany, NULL, &d))
        return 1;
    dnnl_primitive_attr_t attr = NULL; // strict fp32, as entry_make's
    if (dnnl_primitive_attr_create(&attr) ||
        dnnl_primitive_attr_set_fpmath_mode(attr, dnnl_fpmath_mode_strict) ||
        dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL)) {
        if (attr) dnnl_primitive_attr_destroy(attr);
        return 1;
    }
    dnnl_primitive_attr_destroy(attr);
    int rc = ref_impl(pd);
    if (!rc) *out = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

// int8 runs as u8·s8 → s32, exact only with VNNI's vpdpbusd: without it oneDNN multiplies with
// vpmaddubsw, whose int16 pair sums saturate (255·127·2 > 32767), so the portable path runs.
static int has_vnni(void)
{
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_vnni) == dnnl_cpu_isa_avx512_core_vnni ||
           (isa & dnnl_cpu_isa_avx2_vnni) == dnnl_cpu_isa_avx2_vnni;
}

int nn_dnnl_pack(const void *plain, nn_dnnl_kind kind, size_t n, size_t k, nn_dnnl_w **out)
{
    *out = NULL;
    pthread_once(&engine_once, engine_init);
    if (!engine_ok || (kind == NN_DNNL_U8S8 && !has_vnni())) return 1;
    one_thread();
    nn_dnnl_w *w = calloc(1, sizeof *w);
    if (!w) return seize_error(SEIZE_ENOMEM, "out of memory (packed weights)");
    w->kind = kind, w->n = n, w->k = k;
    // The layout does not depend on m (checked at m = 1 and 1600 on AVX-512; every product
    // later compares its own wish with this one and declines on a difference).
    dnnl_memory_desc_t user;
    dnnl_dims_t wd = {(dnnl_dim_t)k, (dnnl_dim_t)n};
    if (query_layout(kind, 64, n, k, &w->md) ||
        dnnl_memory_desc_init_by_tag(&user, 2, wd, wei_type(kind), dnnl_ba)) {
        free(w);
        return 1;
    }
    w->align = col_block(&w->md);
    if (!w->align && plain_ab(&w->md)) w->strided = 1, w->align = 16; // 64-byte rows of fp32
    if (!w->align) w->align = n;                                      // whole products only
    w->bytes = dnnl_memory_desc_get_size(&w->md);
    w->packed = seize_alloc_aligned(w->bytes, 1);
    if (!w->packed) {
        size_t bytes = w->bytes;
        free(w);
        return seize_error(SEIZE_ENOMEM, "out of memory (%zu bytes of packed weights)", bytes);
    }
    if (reorder(&user, plain, &w->md, w->packed)) {
        free(w->packed);
        free(w);
        return 1;
    }
    pthread_mutex_init(&w->mu, NULL);
    *out = w;
    return 0;
}

void nn_dnnl_free(nn_dnnl_w *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n_ents; i++)
        entry_free(w->ents[i]);
    free(w->ents);
    pthread_mutex_destroy(&w->mu);
    free(w->packed);
    free(w);
}

size_t nn_dnnl_bytes(const nn_dnnl_w *w)
{
    return w->bytes;
}

size_t nn_dnnl_col_align(const nn_dnnl_w *w)
{
    return w->align;
}

int nn_dnnl_unpack(const nn_dnnl_w *w, size_t n0, size_t n1, void *out)
{
    size_t off;
    dnnl_memory_desc_t from = slice_md(w, n0, n1, &off), to;
    dnnl_dims_t wd = {(dnnl_dim_t)w->k, (dnnl_dim_t)(n1 - n0)};
    if (dnnl_memory_desc_init_by_tag(&to, 2, wd, wei_type(w->kind), dnnl_ba)) return -1;
    one_thread();
    return reorder(&from, (const char *)w->packed + off, &to, out) ? -1 : 0;
}

// --- running ------------------------------------------------------------------------------------

#define N_SLOTS 32

struct nn_dnnl_tls {
    dnnl_stream_t st;
    struct {
        uint64_t id;
        dnnl_memory_t mem[N_MD];
    } slot[N_SLOTS];
    void *pad;
    size_t pad_cap;
};

void nn_dnnl_tls_free(nn_dnnl_tls *t)
{
    if (!t) return;
    for (int i = 0; i < N_SLOTS; i++)
        for (int j = 0; j < N_MD; j++)
            if (t->slot[i].mem[j]) dnnl_memory_destroy(t->slot[i].mem[j]);
    if (t->st) dnnl_stream_destroy(t->st);
    free(t->pad);
    free(t);
}

// This thread's memory objects for primitive e (made when the slot held another).
static int slot_get(nn_dnnl_tls *t, const entry *e, dnnl_memory_t **mem)
{
    int i = (int)(e->id % N_SLOTS);
    *mem = t->slot[i].mem;
    if (t->slot[i].id == e->id) return 0;
    for (int j = 0; j < N_MD; j++) {
        if (t->slot[i].mem[j]) dnnl_memory_destroy(t->slot[i].mem[j]);
        t->slot[i].mem[j] = NULL;
    }
    t->slot[i].id = 0;
    for (int j = 0; j < N_MD; j++)
        if (e->md[j].ndims &&
            dnnl_memory_create(&t->slot[i].mem[j], &e->md[j], engine, DNNL_MEMORY_NONE))
            return seize_error(SEIZE_ENOMEM, "out of memory (oneDNN memory objects)");
    t->slot[i].id = e->id;
    return 0;
}

static atomic_int test_decline;

void nn_dnnl_test_decline(int on)
{
    atomic_store(&test_decline, on);
}

// Runs primitive e on this thread's stream, scratchpad and memory objects.
static int entry_exec(const nn_dnnl_w *w, nn_dnnl_tls *t, const entry *e, const void *x,
                      const float *bias, void *y)
{
    size_t pad = dnnl_memory_desc_get_size(&e->md[MD_PAD]);
    if (pad > t->pad_cap) {
        void *p = seize_alloc_aligned(pad, 1);
        if (!p) return seize_error(SEIZE_ENOMEM, "out of memory (%zu bytes of scratchpad)", pad);
        free(t->pad);
        t->pad = p, t->pad_cap = pad;
    }
    dnnl_memory_t *mem;
    int rc = slot_get(t, e, &mem);
    if (rc) return rc;
    // (set_data_handle zero-fills the padding of a padded layout: the packed weights' padding
    // is zero already, so threads sharing w write the zeros it holds)
    void *h[N_MD] = {(void *)x, (char *)w->packed + e->wei_off, y, (void *)bias, t->pad};
    dnnl_exec_arg_t args[N_MD];
    static const int arg_of[N_MD] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS,
                                     DNNL_ARG_SCRATCHPAD};
    int n_args = 0;
    for (int j = 0; j < N_MD; j++) {
        if (j == MD_BIAS && !bias) continue;
        if (j == MD_PAD && !pad) continue;
        if (dnnl_memory_set_data_handle_v2(mem[j], h[j], t->st)) return 1;
        args[n_args++] = (dnnl_exec_arg_t){arg_of[j], mem[j]};
    }
    if (dnnl_primitive_execute(e->prim, t->st, n_args, args) || dnnl_stream_wait(t->st))
        return seize_error(SEIZE_EINVAL, "oneDNN matmul failed (%zux%zux%zu)", e->m, e->n1 - e->n0,
                           w->k);
    return 0;
}

int nn_dnnl_run(nn_dnnl_w *w, nn_dnnl_tls **tls, size_t m, size_t n0, size_t n1, const void *x,
                size_t ldx, const float *bias, float beta, void *y, size_t ldy)
{
    if (atomic_load(&test_decline)) return 1;
    one_thread();
    if (!*tls) {
        *tls = calloc(1, sizeof **tls);
        if (!*tls) return seize_error(SEIZE_ENOMEM, "out of memory (oneDNN thread state)");
        if (dnnl_stream_create(&(*tls)->st, engine, dnnl_stream_default_flags)) {
            free(*tls);
            *tls = NULL;
            return 1;
        }
    }
    nn_dnnl_tls *t = *tls;
    if (n0 % w->align || (n1 % w->align && n1 != w->n)) return 1;
    entry key = {.m = m,
                 .n0 = n0,
                 .n1 = n1,
                 .ldx = ldx,
                 .ldy = ldy,
                 .beta = beta != 0.0f,
                 .bias = bias != NULL};
    entry *e;
    int owned, rc = entry_get(w, &key, &e, &owned);
    if (rc) return rc;
    rc = entry_exec(w, t, e, x, bias, y);
    if (owned) entry_free(e);
    return rc;
}

#else // !SEIZE_HAVE_DNNL: the portable path does everything.

int nn_dnnl_pack(const void *w, nn_dnnl_kind kind, size_t n, size_t k, nn_dnnl_w **out)
{
    *out = NULL;
    return 1;
}
void nn_dnnl_free(nn_dnnl_w *w) {}
size_t nn_dnnl_bytes(const nn_dnnl_w *w)
{
    return 0;
}
size_t nn_dnnl_col_align(const nn_dnnl_w *w)
{
    return 1;
}
const char *nn_dnnl_describe(void)
{
    return "oneDNN not built in";
}
void nn_dnnl_tls_free(nn_dnnl_tls *t) {}
int nn_dnnl_run(nn_dnnl_w *w, nn_dnnl_tls **tls, size_t m, size_t n0, size_t n1, const void *x,
                size_t ldx, const float *bias, float beta, void *y, size_t ldy)
{
    return 1;
}
int nn_dnnl_unpack(const nn_dnnl_w *w, size_t n0, size_t n1, void *out)
{
    return -1;
}
void nn_dnnl_test_decline(int on) {}

#endif
