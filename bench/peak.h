/*
 * bench/peak.h — the CPU's peak per precision, measured by kernel-only loops (included by the
 * benchmarks that report a fraction of peak: bench_clip.c, bench_gemm.c).
 *
 *     const char *name;
 *     double g = peak_measure(1, 2, &name); // bf16 on 2 threads: G(FL)OP/s, 0 without the ISA
 */
#ifndef SEIZE_BENCH_PEAK_H
#define SEIZE_BENCH_PEAK_H

#include "seize/core.h"

#include <immintrin.h>
#include <pthread.h>

// Independent accumulators and no memory traffic: the instruction's throughput bound. Each
// kernel is compiled for its ISA and run only when cpuid reports it (the build flags are the
// baseline's, -mavx2 -mfma). Operations per iteration: accumulators × lanes × pairs × 2.
#define PEAK_ITERS 3000000L
#define REP12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define REP24(X) REP12(X) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
#define KEEP(v) __asm__ volatile("" : "+v"(v))

__attribute__((target("avx512f"))) static double peak_fp32_zmm(long it)
{
    __m512 a = _mm512_set1_ps(1.0001f), b = _mm512_set1_ps(0.9999f);
#define D(i) __m512 c##i = _mm512_set1_ps((float)(i));
    REP24(D)
#undef D
    for (long n = 0; n < it; n++) {
#define F(i)                                                                                       \
    c##i = _mm512_fmadd_ps(a, b, c##i);                                                            \
    KEEP(c##i);
        REP24(F)
#undef F
    }
    __m512 s = c0;
#define S(i) s = _mm512_add_ps(s, c##i);
    REP24(S)
#undef S
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static double peak_fp32_ymm(long it)
{
    __m256 a = _mm256_set1_ps(1.0001f), b = _mm256_set1_ps(0.9999f);
#define D(i) __m256 c##i = _mm256_set1_ps((float)(i));
    REP12(D)
#undef D
    for (long n = 0; n < it; n++) {
#define F(i)                                                                                       \
    c##i = _mm256_fmadd_ps(a, b, c##i);                                                            \
    KEEP(c##i);
        REP12(F)
#undef F
    }
    __m256 s = c0;
#define S(i) s = _mm256_add_ps(s, c##i);
    REP12(S)
#undef S
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0];
}

__attribute__((target("avx512f,avx512bf16"))) static double peak_bf16(long it)
{
    __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3f80);
#define D(i) __m512 c##i = _mm512_set1_ps((float)(i));
    REP24(D)
#undef D
    for (long n = 0; n < it; n++) {
#define F(i)                                                                                       \
    c##i = _mm512_dpbf16_ps(c##i, a, b);                                                           \
    KEEP(c##i);
        REP24(F)
#undef F
    }
    __m512 s = c0;
#define S(i) s = _mm512_add_ps(s, c##i);
    REP24(S)
#undef S
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512vnni"))) static double peak_int8(long it)
{
    __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(1);
#define D(i) __m512i c##i = _mm512_set1_epi32(i);
    REP24(D)
#undef D
    for (long n = 0; n < it; n++) {
#define F(i)                                                                                       \
    c##i = _mm512_dpbusd_epi32(c##i, a, b);                                                        \
    KEEP(c##i);
        REP24(F)
#undef F
    }
    __m512i s = c0;
#define S(i) s = _mm512_add_epi32(s, c##i);
    REP24(S)
#undef S
    return (double)_mm512_reduce_add_epi32(s);
}

// The kernel for precision k (0 fp32, 1 bf16, 2 int8) on this CPU: its operations per
// iteration and name, or 0 when the CPU lacks the instruction.
static double peak_kernel(int k, const char **name, double (**fn)(long))
{
    __builtin_cpu_init();
    int zmm = __builtin_cpu_supports("avx512f");
    if (k == 0 && zmm) return *name = "vfmadd231ps zmm", *fn = peak_fp32_zmm, 24 * 16 * 2;
    if (k == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return *name = "vfmadd231ps ymm", *fn = peak_fp32_ymm, 12 * 8 * 2;
    if (k == 1 && zmm && __builtin_cpu_supports("avx512bf16"))
        return *name = "vdpbf16ps zmm", *fn = peak_bf16, 24 * 16 * 2 * 2;
    if (k == 2 && zmm && __builtin_cpu_supports("avx512vnni"))
        return *name = "vpdpbusd zmm", *fn = peak_int8, 24 * 16 * 4 * 2;
    *name = k == 0 ? "FMA" : k == 1 ? "vdpbf16ps" : "vpdpbusd";
    return 0;
}

typedef struct peak_job {
    double (*fn)(long);
    double sink;
} peak_job;

static void *peak_thread(void *arg)
{
    peak_job *j = arg;
    j->sink = j->fn(PEAK_ITERS);
    return NULL;
}

static volatile double peak_sink;

// G(FL)OP/s of precision k's kernel on `threads` threads at once, best of 3; 0 if unsupported.
static double peak_measure(int k, int threads, const char **name)
{
    double (*fn)(long) = NULL, per = peak_kernel(k, name, &fn), best = 0;
    if (per == 0 || threads < 1 || threads > 64) return 0;
    peak_job jobs[64];
    pthread_t th[64];
    for (int r = 0; r < 3; r++) {
        double t0 = seize_now();
        for (int i = 0; i < threads; i++) {
            jobs[i].fn = fn;
            if (i && pthread_create(&th[i], NULL, peak_thread, &jobs[i]) != 0) return 0;
        }
        peak_thread(&jobs[0]);
        for (int i = 1; i < threads; i++)
            pthread_join(th[i], NULL);
        double t = seize_now() - t0, g = threads * (double)PEAK_ITERS * per / t / 1e9;
        for (int i = 0; i < threads; i++)
            peak_sink += jobs[i].sink;
        if (g > best) best = g;
    }
    return best;
}

#endif
