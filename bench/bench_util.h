/*
 * bench/bench_util.h — small helpers the benchmarks share: a fixed pseudo-random sequence (the
 * same inputs on every run) and this process's memory from /proc/self/status.
 *
 *     float x = bench_frand();                      // uniform in [-0.5, 0.5)
 *     double peak = bench_status_mib("VmHWM:");     // peak resident memory so far, MiB
 */
#ifndef SEIZE_BENCH_UTIL_H
#define SEIZE_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// xorshift64 from a fixed seed: every benchmark run sees the same numbers.
static uint64_t bench_rng = 0x9E3779B97F4A7C15ull;
static inline float bench_frand(void)
{
    bench_rng ^= bench_rng << 13;
    bench_rng ^= bench_rng >> 7;
    bench_rng ^= bench_rng << 17;
    return (float)((double)(bench_rng >> 40) / 16777216.0 - 0.5);
}

// The value of a "Key:" line of /proc/self/status ("VmRSS:", "VmHWM:", in kB there) in MiB; 0
// when it cannot be read.
static inline double bench_status_mib(const char *key)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    double v = 0;
    size_t n = strlen(key);
    while (fp && fgets(line, sizeof line, fp))
        if (!strncmp(line, key, n)) v = atof(line + n) / 1024.0;
    if (fp) fclose(fp);
    return v;
}

#endif
