// Sampling for the BLIP-2 captioner: transformers' warpers (temperature, top-k, top-p, as 4.40
// applies them with do_sample), a portable random stream and one draw per row.
//
// The warpers follow transformers' arithmetic where it decides which tokens survive: top-k
// keeps every entry ≥ the k-th largest (ties at the boundary stay); top-p sorts ascending,
// takes the float32 softmax, accumulates it in double rounding each partial sum to float (as
// torch's CPU cumsum does) and drops the prefix whose cumulative probability is ≤ 1 − top_p,
// never the largest entry. The draw itself cannot match torch.multinomial (another generator):
// it is checked by a chi-square test (tests/unit/test_blip2_sample.c).
#include "blip2_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

// --- the random stream (xoshiro256**, seeded through splitmix64) ---------------------------

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void nn_rng_seed(nn_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x); // never all zero: splitmix64 is a bijection of distinct x
}

uint64_t nn_rng_next(nn_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double nn_rng_uniform(nn_rng *r)
{
    return (double)(nn_rng_next(r) >> 11) * 0x1.0p-53;
}

// --- warpers -------------------------------------------------------------------------------

// The k-th largest value of x (k ≤ n) with a min-heap of k entries in `heap`: one comparison
// for most entries. NaN never enters the heap.
static float kth_largest(const float *x, size_t n, size_t k, float *heap)
{
    size_t h = 0;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (h == k && !(v > heap[0])) continue;
        if (v != v) continue;
        size_t j;
        if (h < k) { // sift up from the end
            j = h++;
            while (j > 0 && heap[(j - 1) / 2] > v) {
                heap[j] = heap[(j - 1) / 2];
                j = (j - 1) / 2;
            }
        } else { // replace the minimum, sift down
            j = 0;
            for (;;) {
                size_t c = 2 * j + 1;
                if (c >= k) break;
                if (c + 1 < k && heap[c + 1] < heap[c]) c++;
                if (!(heap[c] < v)) break;
                heap[j] = heap[c];
                j = c;
            }
        }
        heap[j] = v;
    }
    return h ? heap[0] : -INFINITY;
}

static void top_k(float *x, size_t n, int k, nn_blip2_ranked *scratch)
{
    if ((size_t)k >= n) return; // transformers clamps k to the vocabulary: nothing removed
    float thr = kth_largest(x, n, (size_t)k, (float *)scratch);
    for (size_t i = 0; i < n; i++)
        if (x[i] < thr) x[i] = -INFINITY;
}

static int by_value_then_id(const void *a, const void *b)
{
    const nn_blip2_ranked *p = a, *q = b;
    if (p->v != q->v) return p->v < q->v ? -1 : 1;
    return (p->id > q->id) - (p->id < q->id);
}

// The double nearest to the shortest decimal that reads back as f: 0.9f → 0.9, as the
// Python float a user types. transformers computes 1 − top_p in double from that float.
static double shortest_decimal(float f)
{
    char buf[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f) return d;
    }
    return (double)f;
}

// Σ of the float32 probabilities of r[lo, hi) in double.
static double mass(const nn_blip2_ranked *r, size_t lo, size_t hi, float max, float inv)
{
    double s = 0;
    for (size_t i = lo; i < hi; i++)
        s += expf(r[i].v - max) * inv;
    return s;
}

// Moves the entries of r[lo, hi) below pv to the front; returns where the others start.
static size_t partition(nn_blip2_ranked *r, size_t lo, size_t hi, float pv)
{
    size_t mid = lo;
    for (size_t i = lo; i < hi; i++)
        if (r[i].v < pv) {
            nn_blip2_ranked t = r[i];
            r[i] = r[mid];
            r[mid++] = t;
        }
    return mid;
}

static float median3(float a, float b, float c)
{
    return a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
}

static void top_p(float *x, size_t n, float p, nn_blip2_ranked *r)
{
    size_t m = 0; // the finite entries: the others have probability 0 and stay removed
    float max = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (x[i] > -INFINITY) {
            r[m++] = (nn_blip2_ranked){x[i], (int32_t)i};
            max = x[i] > max ? x[i] : max;
        }
    if (m < 2) return;
    // float32 softmax as torch computes it: exp(x − max) scaled by 1 / sum
    float inv = 1.0f / (float)mass(r, 0, m, max, 1.0f);
    // torch compares the float cumsum with the Python double 1 − top_p converted to float
    float thr = (float)(1.0 - shortest_decimal(p));
    // Most entries are decided without sorting the vocabulary: partition [lo, hi) around a
    // pivot; when the entries below it hold clearly less than thr (with those removed so far),
    // they all go; when clearly more, every entry above it stays. Only the narrow rest around
    // the boundary is sorted. "Clearly": a margin of 1e-6 relative, far above the rounding
    // differences of summing in another order than torch's sorted cumsum (1e-16).
    size_t lo = 0, hi = m;
    double below = 0;
    while (hi - lo > 32) {
        float pv = median3(r[lo].v, r[lo + (hi - lo) / 2].v, r[hi - 1].v);
        size_t mid = partition(r, lo, hi, pv);
        if (mid == lo) break; // the pivot is the smallest value: sort what is left
        double s = below + mass(r, lo, mid, max, inv);
        if (s <= thr * (1 - 1e-6)) {
            for (size_t i = lo; i < mid; i++)
                x[r[i].id] = -INFINITY;
            below = s;
            lo = mid;
        } else if (s > thr * (1 + 1e-6)) {
            hi = mid;
        } else {
            break;
        }
    }
    qsort(r + lo, hi - lo, sizeof *r, by_value_then_id);
    double cum = below;
    for (size_t i = lo; i < hi && i + 1 < m; i++) { // the largest entry always stays
        cum += expf(r[i].v - max) * inv;
        if ((float)cum > thr) break;
        x[r[i].id] = -INFINITY;
    }
}

void nn_blip2_warp(float *logits, size_t n, float temperature, int top_k_, float top_p_,
                   nn_blip2_ranked *scratch)
{
    if (!logits || n == 0) return;
    if (temperature != 1.0f && temperature > 0) // transformers skips the warper at 1.0
        for (size_t i = 0; i < n; i++)
            logits[i] = logits[i] / temperature;
    if (top_k_ > 0) top_k(logits, n, top_k_, scratch);
    if (top_p_ < 1.0f) top_p(logits, n, top_p_, scratch);
}

void seize_blip2_warp(float *logits, size_t n, float temperature, int top_k_, float top_p_)
{
    if (!logits || n == 0) return;
    nn_blip2_ranked *scratch = malloc(n * sizeof *scratch);
    SEIZE_ASSERT(scratch); // a few hundred KiB for a real vocabulary; there is no error return
    nn_blip2_warp(logits, n, temperature, top_k_, top_p_, scratch);
    free(scratch);
}

// --- one draw ------------------------------------------------------------------------------

static int32_t argmax(const float *x, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best] || (x[best] != x[best] && x[i] == x[i])) best = i;
    return (int32_t)best;
}

int32_t nn_blip2_draw(const float *warped, size_t n, int greedy, nn_rng *r)
{
    SEIZE_ASSERT(n > 0);
    int32_t best = argmax(warped, n);
    if (greedy || !(warped[best] > -INFINITY)) return best;
    // softmax(warped) walked in id order; the unnormalised weights are accumulated in double
    // and the uniform scaled by their total instead of dividing each one
    double max = warped[best], total = 0;
    for (size_t i = 0; i < n; i++)
        if (warped[i] > -INFINITY) total += exp((double)warped[i] - max);
    double target = nn_rng_uniform(r) * total, acc = 0;
    int32_t last = best;
    for (size_t i = 0; i < n; i++) {
        if (!(warped[i] > -INFINITY)) continue;
        acc += exp((double)warped[i] - max);
        last = (int32_t)i;
        if (acc > target) return last;
    }
    return last; // rounding left the target at the very end
}
