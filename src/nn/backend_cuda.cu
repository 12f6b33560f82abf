// The CUDA backend of src/nn/backend.h (make CUDA=1): cuBLAS for `linear`, small kernels of our
// own for everything else. CUDA runtime + cuBLAS only.
//
// Streams and synchrony: an instance owns one stream and one cuBLAS handle on it; every op is
// queued on that stream and `download` waits for it, so from the caller's side the ops are
// synchronous (results are read only through `download`). Host index arrays (ids, q_rows, rows)
// are copied into a device scratch with a pageable-memory copy, which has consumed the host
// array when the call returns. `upload` and `weight` wait for their copies. SEIZE_CUDA_SYNC=1 in
// the environment waits after every op (a failing kernel is then named by the op that ran it)
// and prints each op failure on stderr as it happens (a debugging aid).
//
// Errors: the ops return nothing, so the first failure of an op (a launch, a cuBLAS call, a
// kernel fault seen at the next wait, a bad argument) is kept in the instance until `status`
// returns it: the ops in between do nothing and `download` fills its output with NaN bytes
// (0xff) rather than hand back stale values. `alloc` and `weight` report their own failures
// (NULL with the message) and are not blocked by a pending one. A device fault leaves the CUDA
// context unusable: every later call then fails again (and says so).
//
// Precision: fp32 products are cublasSgemm in CUBLAS_DEFAULT_MATH (never TF32: the default mode
// keeps float32's mantissa); bf16 keeps w in bfloat16 (round to nearest even, on the device),
// rounds each x to bf16 and multiplies with cublasGemmEx, accumulating in float32
// (CUBLAS_COMPUTE_32F); int8 quantises w per output row and x per row (symmetric, scale =
// max|row| / 127, q = x · (127 / max|row|) rounded to nearest even, as gemm.c), multiplies
// int8 × int8 → int32 exactly (cuBLAS, or our dp4a kernel when cuBLAS declines the shape) and
// scales back: y = acc · sx[row] · sw[col].
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "backend.h"
}

static_assert(sizeof(size_t) == sizeof(unsigned long long), "size_t is 64-bit");

namespace
{

// A weight: the common head, then the device data. LINEAR int8 rows are padded to ld = k
// rounded up to 4 (zeros), with one float scale per row; everything else is dense (ld = cols).
struct cu_weight {
    nn_weight head;
    void *d;
    float *scale; // int8 only: (rows)
    size_t ld;
    int device; // weight_free has no instance
};

struct cu_backend {
    nn_backend base;
    int device;
    seize_precision prec;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *idx; // host index arrays copied for an op
    size_t idx_bytes;
    void *lin; // linear: x in bf16 / int8 with its scales, int32 products
    size_t lin_bytes;
    int failed, sync_each; // failed: the SEIZE_E* code status will return, or 0
    char err[512];
};

constexpr int BS = 256;      // threads per block of the elementwise kernels
constexpr int ATTN_BS = 128; // threads per block of attention (4 warps)
constexpr int SMEM_DEFAULT = 48 * 1024;

cu_backend *cub(nn_backend *b)
{
    return (cu_backend *)b;
}

const cu_weight *cw(const nn_weight *w)
{
    return (const cu_weight *)w;
}

template <typename T> const T *wdata(const nn_weight *w)
{
    return w ? (const T *)cw(w)->d : nullptr;
}

// --- errors --------------------------------------------------------------------------------------

int cuda_code(cudaError_t e)
{
    return e == cudaErrorMemoryAllocation ? SEIZE_ENOMEM : SEIZE_EIO;
}

// Sets the message (and, when sticky, fails the instance: later ops do nothing). Returns code.
__attribute__((format(printf, 4, 5))) int fail(cu_backend *b, int sticky, int code, const char *fmt,
                                               ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sticky && !b->failed) {
        b->failed = code;
        snprintf(b->err, sizeof b->err, "%s", msg);
        if (b->sync_each) fprintf(stderr, "seize cuda (SEIZE_CUDA_SYNC): %s\n", msg);
    }
    return seize_error(code, "%s", msg);
}

int cuda_ok(cu_backend *b, cudaError_t e, const char *what, int sticky)
{
    if (e == cudaSuccess) return 1;
    (void)cudaGetLastError(); // clears a non-sticky error so the next check does not see it
    fail(b, sticky, cuda_code(e), "cuda: %s: %s", what, cudaGetErrorString(e));
    return 0;
}

int blas_ok(cu_backend *b, cublasStatus_t s, const char *what)
{
    if (s == CUBLAS_STATUS_SUCCESS) return 1;
    fail(b, 1, s == CUBLAS_STATUS_ALLOC_FAILED ? SEIZE_ENOMEM : SEIZE_EIO, "cuda: %s: %s", what,
         cublasGetStatusString(s));
    return 0;
}

// Every op starts here: 0 when a failure is pending (the op does nothing), else 1 with the
// instance's device current on the calling thread.
int enter(cu_backend *b)
{
    return !b->failed && cuda_ok(b, cudaSetDevice(b->device), "cudaSetDevice", 1);
}

// alloc and weight start here: they report their own failures.
int enter_mem(cu_backend *b)
{
    return cuda_ok(b, cudaSetDevice(b->device), "cudaSetDevice", 0);
}

// After an op's launches: a launch error fails the instance; SEIZE_CUDA_SYNC=1 also waits.
void launched(cu_backend *b, const char *op)
{
    if (!cuda_ok(b, cudaGetLastError(), op, 1)) return;
    if (b->sync_each) cuda_ok(b, cudaStreamSynchronize(b->stream), op, 1);
}

int fits_int(size_t v)
{
    return v <= (size_t)INT_MAX;
}

unsigned grid_for(size_t n, int bs)
{
    size_t g = (n + (size_t)bs - 1) / (size_t)bs;
    return (unsigned)(g < (1u << 20) ? (g ? g : 1) : (1u << 20)); // grid-stride loops cover more
}

// Grows a scratch buffer to at least `bytes` (never shrinks). 0 or the failure (sticky).
int scratch(cu_backend *b, void **p, size_t *have, size_t bytes)
{
    if (bytes <= *have) return 0;
    if (*p && !cuda_ok(b, cudaFree(*p), "cudaFree", 1)) return -1;
    *p = nullptr;
    *have = 0;
    size_t want = bytes < 4096 ? 4096 : bytes + bytes / 4;
    if (!cuda_ok(b, cudaMalloc(p, want), "cudaMalloc (scratch)", 1)) return -1;
    *have = want;
    return 0;
}

// Host index data (bytes) into the index scratch; NULL on failure (sticky).
void *host_to_idx(cu_backend *b, const void *src, size_t bytes)
{
    if (scratch(b, &b->idx, &b->idx_bytes, bytes) < 0) return nullptr;
    if (!cuda_ok(b, cudaMemcpyAsync(b->idx, src, bytes, cudaMemcpyHostToDevice, b->stream),
                 "copy of an index array", 1))
        return nullptr;
    return b->idx;
}

// --- device helpers ------------------------------------------------------------------------------

__device__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// The sum (is_max 0) or max over the block; every thread gets it. red: 33 shared floats. Starts
// with a barrier, so shared memory written before the call is visible to all after it.
__device__ float block_reduce(float v, float *red, int is_max)
{
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, n_w = (blockDim.x + 31) >> 5;
    v = is_max ? warp_max(v) : warp_sum(v);
    __syncthreads();
    if (lane == 0) red[w] = v;
    __syncthreads();
    if (w == 0) {
        float z = is_max ? -INFINITY : 0.0f;
        v = lane < n_w ? red[lane] : z;
        v = is_max ? warp_max(v) : warp_sum(v);
        if (lane == 0) red[32] = v;
    }
    __syncthreads();
    return red[32];
}

__device__ float load_as_float(const void *p, int dtype, size_t i)
{
    switch (dtype) {
    case NN_BF16:
        return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    case NN_F16:
        return __half2float(((const __half *)p)[i]);
    default:
        return ((const float *)p)[i];
    }
}

// --- kernels -------------------------------------------------------------------------------------

// (rows, cols) of dtype `in` → dense (rows, cols) float32 or bf16.
__global__ void convert_kernel(const void *src, int in, void *dst, int out, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = load_as_float(src, in, i);
        if (out == NN_BF16)
            ((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(v);
        else
            ((float *)dst)[i] = v;
    }
}

// x (m, k; stride ldx) float → dense (m, k) bf16, rounded to nearest even.
__global__ void x_to_bf16_kernel(const float *x, size_t ldx, size_t m, size_t k, __nv_bfloat16 *xb)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < m * k;
         i += (size_t)gridDim.x * blockDim.x)
        xb[i] = __float2bfloat16_rn(x[(i / k) * ldx + i % k]);
}

// One block per row r of (rows, k; stride lds) floats: scale[r] = max|row| / 127 and
// q[r·ldq + e] = x · (127 / max|row|) rounded to nearest even, in [-127, 127], zero past k up to
// ldq; as the CPU's gemm.c (a zero or non-finite maximum gives scale 0 and q 0; NaN → 127).
__global__ void quantize_rows_kernel(const float *src, size_t lds, size_t k, int8_t *q, size_t ldq,
                                     float *scale)
{
    __shared__ float red[33];
    const float *row = src + blockIdx.x * lds;
    float amax = 0;
    for (size_t e = threadIdx.x; e < k; e += blockDim.x)
        amax = fmaxf(amax, fabsf(row[e]));
    amax = block_reduce(amax, red, 1);
    int ok = amax > 0 && isfinite(amax);
    float inv = ok ? 127.0f / amax : 0.0f;
    if (threadIdx.x == 0) scale[blockIdx.x] = ok ? amax / 127.0f : 0.0f;
    int8_t *qr = q + blockIdx.x * ldq;
    for (size_t e = threadIdx.x; e < ldq; e += blockDim.x) {
        float v = e < k && ok ? rintf(row[e] * inv) : 0.0f;
        qr[e] = (int8_t)fmaxf(-127.0f, fminf(127.0f, v));
    }
}

// acc(m, n; stride ldc) int32 → y = beta·y + acc · sx[i] · sw[j] (+ bias[j]).
__global__ void dequant_kernel(const int32_t *acc, size_t ldc, const float *sx, const float *sw,
                               const float *bias, float beta, float *y, size_t ldy, size_t m,
                               size_t n)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < m * n;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t i = t / n, j = t % n;
        float v = (float)acc[i * ldc + j] * sx[i] * sw[j];
        if (bias) v += bias[j];
        if (beta != 0) v += beta * y[i * ldy + j];
        y[i * ldy + j] = v;
    }
}

// acc(i, j) = Σ_e xq[i, e] · wq[j, e] over ldk (a multiple of 4) int8s: the exact int32 product
// when cuBLAS declines the shape. One thread per output.
__global__ void igemm_kernel(const int8_t *xq, const int8_t *wq, size_t ldk, int32_t *acc,
                             size_t ldc, size_t m, size_t n)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < m * n;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t i = t / n, j = t % n;
        const int *a = (const int *)(xq + i * ldk), *w = (const int *)(wq + j * ldk);
        int s = 0;
        for (size_t e = 0; e < ldk / 4; e++)
            s = __dp4a(a[e], w[e], s);
        acc[i * ldc + j] = s;
    }
}

__global__ void add_bias_kernel(float *y, size_t ldy, size_t m, size_t n, const float *bias)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < m * n;
         t += (size_t)gridDim.x * blockDim.x)
        y[(t / n) * ldy + t % n] += bias[t % n];
}

// One block per row; see the contract of `layernorm`. Each thread reads and writes the same
// columns in every pass, so y may equal x.
__global__ void layernorm_kernel(size_t d, float *x, size_t ldx, const float *add, const float *g,
                                 const float *beta, float eps, float *y, size_t ldy)
{
    __shared__ float red[33];
    float *xr = x + blockIdx.x * ldx, *yr = y + blockIdx.x * ldy;
    float s = 0;
    for (size_t j = threadIdx.x; j < d; j += blockDim.x) {
        float v = xr[j];
        if (add) xr[j] = v = v + add[j];
        s += v;
    }
    float mean = block_reduce(s, red, 0) / (float)d;
    float q = 0;
    for (size_t j = threadIdx.x; j < d; j += blockDim.x) {
        float c = xr[j] - mean;
        q += c * c;
    }
    float inv = 1.0f / sqrtf(block_reduce(q, red, 0) / (float)d + eps);
    for (size_t j = threadIdx.x; j < d; j += blockDim.x) {
        float v = (xr[j] - mean) * inv;
        if (g) v *= g[j];
        if (beta) v += beta[j];
        yr[j] = v;
    }
}

__device__ float activate(float v, int act)
{
    switch (act) {
    case SEIZE_ACT_QUICK_GELU:
        return v / (1.0f + expf(-1.702f * v));
    case SEIZE_ACT_GELU:
        return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    case SEIZE_ACT_RELU:
        return v > 0 ? v : 0.0f;
    default:
        return v;
    }
}

__global__ void bias_act_kernel(size_t rows, size_t n, float *x, const float *bias, int act)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < rows * n;
         t += (size_t)gridDim.x * blockDim.x) {
        float v = x[t];
        if (bias) v += bias[t % n];
        x[t] = activate(v, act);
    }
}

__global__ void add_kernel(size_t rows, size_t n, float *x, size_t ldx, const float *y, size_t ldy)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < rows * n;
         t += (size_t)gridDim.x * blockDim.x)
        x[(t / n) * ldx + t % n] += y[(t / n) * ldy + t % n];
}

// Where the rows of one attention call are: q row t of sequence s at q + s·q_seq + t·ldq, out
// row at out + s·o_seq + t·ldo (t = 0 with q_rows), key/value row j at k + s·k_seq + j·ldk.
struct attn_args {
    const float *q, *k, *v, *qb, *kb, *vb; // biases: NULL = none
    float *out;
    size_t q_seq, k_seq, v_seq, o_seq, ldq, ldk, ldv, ldo;
    const unsigned long long *q_rows; // device; NULL: every query row
    unsigned n_q;                     // queries per sequence in the grid
    int Tk, d_head;
    long long causal; // < 0: every key; else query t sees keys j ≤ t + causal
    float scale;
};

// One block per (sequence · query, head): scores in shared memory (d_head + Tk floats), one warp
// per key for the dot products, softmax in float32, then P·V with threads over d_head.
__global__ void attn_kernel(attn_args a)
{
    extern __shared__ float sh[];
    __shared__ float red[33];
    float *qs = sh, *sc = sh + a.d_head;
    size_t s = blockIdx.x / a.n_q, t = blockIdx.x % a.n_q, col = (size_t)blockIdx.y * a.d_head;
    size_t tq = a.q_rows ? (size_t)a.q_rows[s] : t, to = a.q_rows ? 0 : t;
    int dh = a.d_head, nk = a.Tk;
    if (a.causal >= 0 && (long long)tq + a.causal + 1 < nk) nk = (int)(tq + a.causal + 1);
    const float *qr = a.q + s * a.q_seq + tq * a.ldq + col;
    for (int e = threadIdx.x; e < dh; e += blockDim.x)
        qs[e] = a.qb ? qr[e] + a.qb[col + e] : qr[e];
    __syncthreads();
    int lane = threadIdx.x & 31, n_warp = blockDim.x >> 5;
    for (int j = threadIdx.x >> 5; j < nk; j += n_warp) {
        const float *kr = a.k + s * a.k_seq + (size_t)j * a.ldk + col;
        float dot = 0;
        for (int e = lane; e < dh; e += 32)
            dot += qs[e] * (a.kb ? kr[e] + a.kb[col + e] : kr[e]);
        dot = warp_sum(dot);
        if (lane == 0) sc[j] = dot * a.scale;
    }
    float mx = -INFINITY;
    __syncthreads();
    for (int j = threadIdx.x; j < nk; j += blockDim.x)
        mx = fmaxf(mx, sc[j]);
    mx = block_reduce(mx, red, 1);
    float sum = 0;
    for (int j = threadIdx.x; j < nk; j += blockDim.x) {
        float p = expf(sc[j] - mx);
        sc[j] = p;
        sum += p;
    }
    sum = block_reduce(sum, red, 0);
    float inv = nk > 0 ? 1.0f / sum : 0.0f;
    float *orow = a.out + s * a.o_seq + to * a.ldo + col;
    const float *vbase = a.v + s * a.v_seq + col;
    for (int e = threadIdx.x; e < dh; e += blockDim.x) {
        float acc = 0, vb = a.vb ? a.vb[col + e] : 0.0f;
        for (int j = 0; j < nk; j++) {
            float v = vbase[(size_t)j * a.ldv + e];
            acc += sc[j] * (a.vb ? v + vb : v);
        }
        orow[e] = acc * inv;
    }
}

// cols (n·g·g, 3·p·p) from pixels (n, 3, S, S), g = S / p; one thread per output float.
__global__ void patchify_kernel(size_t total, int S, int p, int g, const float *pix, float *cols)
{
    size_t pp = (size_t)p * p, row = 3 * pp;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t patch = t / row, r = t % row, ch = r / pp, ky = (r % pp) / p, kx = r % p;
        size_t img = patch / ((size_t)g * g), gy = (patch / g) % g, gx = patch % g;
        cols[t] = pix[((img * 3 + ch) * S + gy * p + ky) * S + gx * p + kx];
    }
}

__global__ void embed_patches_kernel(size_t n, size_t n_patch, size_t d, const float *patches,
                                     const float *cls, const float *pos, float *x)
{
    size_t T = n_patch + 1;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < n * T * d;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t i = t / (T * d), tok = (t / d) % T, j = t % d;
        float v = tok ? patches[(i * n_patch + tok - 1) * d + j] : cls[j];
        x[t] = v + pos[tok * d + j];
    }
}

// ids: dense (n, T) int32 on the device.
__global__ void embed_tokens_kernel(size_t n, size_t T, size_t d, const int32_t *ids,
                                    const float *tok, const float *pos, size_t pos0, float *x)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < n * T * d;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t r = t / d, j = t % d;
        float v = tok[(size_t)ids[r] * d + j];
        x[t] = pos ? v + pos[(pos0 + r % T) * d + j] : v;
    }
}

__global__ void gather_kernel(size_t n, size_t d, const float *x, size_t ldx,
                              const unsigned long long *rows, float *y)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < n * d;
         t += (size_t)gridDim.x * blockDim.x)
        y[t] = x[(size_t)rows[t / d] * ldx + t % d];
}

// --- memory --------------------------------------------------------------------------------------

int bytes_of(cu_backend *b, nn_dtype t, size_t n, size_t *out)
{
    size_t es = nn_dtype_size(t);
    if (es == 0) return fail(b, 0, SEIZE_EINVAL, "cuda: unknown dtype %d", (int)t);
    if (n > SIZE_MAX / es) return fail(b, 0, SEIZE_ENOMEM, "cuda: %zu elements overflow", n);
    *out = n * es;
    return 0;
}

void *cu_alloc(nn_backend *bb, nn_dtype t, size_t n)
{
    cu_backend *b = cub(bb);
    size_t bytes;
    void *p = nullptr;
    if (!enter_mem(b) || bytes_of(b, t, n, &bytes) < 0) return nullptr;
    if (!cuda_ok(b, cudaMalloc(&p, bytes ? bytes : 16), "cudaMalloc", 0)) return nullptr;
    return p;
}

void cu_release(nn_backend *bb, void *p)
{
    cu_backend *b = cub(bb);
    if (!p) return;
    // cudaFree waits for the device; after a failure the memory is still handed back
    if (cudaSetDevice(b->device) == cudaSuccess) cuda_ok(b, cudaFree(p), "cudaFree", 1);
}

void cu_upload(nn_backend *bb, void *dst, const void *src, nn_dtype t, size_t n)
{
    cu_backend *b = cub(bb);
    size_t bytes;
    if (!enter(b) || bytes_of(b, t, n, &bytes) < 0 || !bytes) return;
    if (cuda_ok(b, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, b->stream), "upload",
                1))
        cuda_ok(b, cudaStreamSynchronize(b->stream), "upload", 1);
}

void cu_download(nn_backend *bb, void *dst, const void *src, nn_dtype t, size_t n)
{
    cu_backend *b = cub(bb);
    size_t bytes;
    if (bytes_of(b, t, n, &bytes) < 0 || !bytes) return;
    if (enter(b) &&
        cuda_ok(b, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, b->stream), "download",
                1) &&
        cuda_ok(b, cudaStreamSynchronize(b->stream), "download (or an op before it)", 1))
        return;
    memset(dst, 0xff, bytes); // NaN floats: a failed backend never hands back stale values
}

void cu_copy_rows(nn_backend *bb, size_t rows, size_t d, const float *src, size_t lds, float *dst,
                  size_t ldd)
{
    cu_backend *b = cub(bb);
    if (!rows || !d || !enter(b)) return;
    cuda_ok(b,
            cudaMemcpy2DAsync(dst, ldd * sizeof(float), src, lds * sizeof(float), d * sizeof(float),
                              rows, cudaMemcpyDeviceToDevice, b->stream),
            "copy_rows", 1);
    launched(b, "copy_rows");
}

// --- weights -------------------------------------------------------------------------------------

// The host tensor as dense device values of dtype `to` (F32 or BF16) in *out (cudaMalloc'd).
// Non-sticky failures; waits for the conversion.
int to_device(cu_backend *b, const nn_host_tensor *src, nn_dtype to, void **out)
{
    size_t n = src->rows * src->cols, in_bytes, out_bytes;
    void *tmp = nullptr, *dst = nullptr;
    if (src->rows && n / src->rows != src->cols)
        return fail(b, 0, SEIZE_ENOMEM, "cuda: weight of %zu x %zu overflows", src->rows,
                    src->cols);
    if (bytes_of(b, src->dtype, n, &in_bytes) < 0 || bytes_of(b, to, n, &out_bytes) < 0)
        return SEIZE_EINVAL;
    if (!cuda_ok(b, cudaMalloc(&dst, out_bytes ? out_bytes : 16), "cudaMalloc (weight)", 0))
        return SEIZE_ENOMEM;
    // on the instance's stream (a pageable copy may still be in flight when cudaMemcpy returns,
    // and the stream does not wait for the legacy one), then waited for
    int same = src->dtype == to, ok = 1;
    if (!same)
        ok = cuda_ok(b, cudaMalloc(&tmp, in_bytes ? in_bytes : 16), "cudaMalloc (weight)", 0);
    if (ok && n)
        ok = cuda_ok(b,
                     cudaMemcpyAsync(same ? dst : tmp, src->data, in_bytes, cudaMemcpyHostToDevice,
                                     b->stream),
                     "weight upload", 0);
    if (ok && n && !same) {
        convert_kernel<<<grid_for(n, BS), BS, 0, b->stream>>>(tmp, src->dtype, dst, to, n);
        ok = cuda_ok(b, cudaGetLastError(), "weight conversion", 0);
    }
    ok = ok && cuda_ok(b, cudaStreamSynchronize(b->stream), "weight upload", 0);
    cudaFree(tmp);
    if (!ok) {
        cudaFree(dst);
        return SEIZE_EIO;
    }
    *out = dst;
    return 0;
}

// int8: w quantised per row into (rows, ld) with ld = cols rounded up to 4, plus the scales.
int quantize_weight(cu_backend *b, cu_weight *w, const nn_host_tensor *src)
{
    void *f = nullptr;
    size_t rows = src->rows, ld = (src->cols + 3) / 4 * 4;
    if (to_device(b, src, NN_F32, &f) < 0) return SEIZE_EIO;
    int ok = cuda_ok(b, cudaMalloc(&w->d, rows * ld + 16), "cudaMalloc (weight)", 0) &&
             cuda_ok(b, cudaMalloc((void **)&w->scale, rows * sizeof(float) + 16),
                     "cudaMalloc (weight)", 0);
    if (ok && rows) {
        quantize_rows_kernel<<<(unsigned)rows, BS, 0, b->stream>>>(
            (const float *)f, src->cols, src->cols, (int8_t *)w->d, ld, w->scale);
        ok = cuda_ok(b, cudaGetLastError(), "weight quantisation", 0) &&
             cuda_ok(b, cudaStreamSynchronize(b->stream), "weight quantisation", 0);
    }
    cudaFree(f);
    w->ld = ld;
    w->head.bytes = rows * ld + rows * sizeof(float);
    return ok ? 0 : SEIZE_EIO;
}

// Frees on the weight's device and leaves the calling thread's current device as it was.
void cu_weight_free(nn_weight *ww)
{
    cu_weight *w = (cu_weight *)ww;
    if (!w) return;
    int cur = -1;
    if (cudaGetDevice(&cur) == cudaSuccess && cudaSetDevice(w->device) == cudaSuccess) {
        cudaFree(w->d);
        cudaFree(w->scale);
        cudaSetDevice(cur);
    }
    (void)cudaGetLastError();
    free(w);
}

const char *weight_impl(nn_dtype t, nn_weight_use use)
{
    if (!nn_weight_use_linear(use)) return "cuda (float32)";
    switch (t) {
    case NN_BF16:
        return "cuBLAS GemmEx bf16 x bf16 -> float32";
    case NN_I8:
        return "cuBLAS GemmEx int8 x int8 -> int32";
    default:
        return "cuBLAS sgemm float32";
    }
}

nn_weight *cu_weight_new(nn_backend *bb, const nn_host_tensor *src, nn_weight_use use)
{
    cu_backend *b = cub(bb);
    if (!enter_mem(b)) return nullptr;
    if (src->dtype != NN_F32 && src->dtype != NN_F16 && src->dtype != NN_BF16) {
        fail(b, 0, SEIZE_EINVAL, "cuda: a weight of dtype %d (F32, F16 or BF16 expected)",
             (int)src->dtype);
        return nullptr;
    }
    if (nn_weight_use_linear(use) && src->rows > (size_t)INT_MAX) {
        fail(b, 0, SEIZE_EINVAL, "cuda: a linear weight of %zu rows", src->rows);
        return nullptr;
    }
    cu_weight *w = (cu_weight *)calloc(1, sizeof *w);
    if (!w) {
        seize_error(SEIZE_ENOMEM, "out of memory");
        return nullptr;
    }
    w->device = b->device;
    w->head.use = use;
    w->head.rows = src->rows;
    w->head.cols = src->cols;
    w->ld = src->cols;
    int rc;
    if (nn_weight_use_linear(use) && b->prec == SEIZE_PRECISION_INT8) {
        w->head.dtype = NN_I8;
        rc = quantize_weight(b, w, src);
    } else {
        int bf = nn_weight_use_linear(use) && b->prec == SEIZE_PRECISION_BF16;
        w->head.dtype = bf ? NN_BF16 : NN_F32;
        w->head.bytes = src->rows * src->cols * nn_dtype_size(w->head.dtype);
        rc = to_device(b, src, w->head.dtype, &w->d);
    }
    w->head.impl = weight_impl(w->head.dtype, use);
    if (rc < 0) {
        cu_weight_free(&w->head);
        return nullptr;
    }
    return &w->head;
}

// --- linear --------------------------------------------------------------------------------------

// y = beta·y + x·wᵀ in the column-major terms of cuBLAS: yᵀ (n × m, ldy) = w (stored as the
// column-major k × n matrix, transposed) · xᵀ (k × m, ldx).
void linear_f32(cu_backend *b, size_t m, const float *x, size_t ldx, const cu_weight *w, float beta,
                float *y, size_t ldy)
{
    int n = (int)w->head.rows, k = (int)w->head.cols;
    float one = 1.0f;
    blas_ok(b,
            cublasSgemm(b->blas, CUBLAS_OP_T, CUBLAS_OP_N, n, (int)m, k, &one, (const float *)w->d,
                        k > 0 ? k : 1, x, (int)ldx, &beta, y, (int)ldy),
            "cublasSgemm");
}

void linear_bf16(cu_backend *b, size_t m, const float *x, size_t ldx, const cu_weight *w,
                 float beta, float *y, size_t ldy)
{
    size_t k = w->head.cols;
    if (scratch(b, &b->lin, &b->lin_bytes, m * k * sizeof(__nv_bfloat16)) < 0) return;
    __nv_bfloat16 *xb = (__nv_bfloat16 *)b->lin;
    if (k) x_to_bf16_kernel<<<grid_for(m * k, BS), BS, 0, b->stream>>>(x, ldx, m, k, xb);
    float one = 1.0f;
    int ki = k > 0 ? (int)k : 1;
    blas_ok(b,
            cublasGemmEx(b->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)w->head.rows, (int)m, (int)k, &one,
                         w->d, CUDA_R_16BF, ki, xb, CUDA_R_16BF, ki, &beta, y, CUDA_R_32F, (int)ldy,
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "cublasGemmEx (bf16)");
}

size_t align256(size_t v)
{
    return (v + 255) / 256 * 256;
}

// x quantised per row into the scratch, int32 products (cuBLAS, else igemm_kernel), scaled back.
void linear_i8(cu_backend *b, size_t m, const float *x, size_t ldx, const cu_weight *w,
               const float *bias, float beta, float *y, size_t ldy)
{
    size_t n = w->head.rows, ld = w->ld, ldc = (n + 3) / 4 * 4;
    size_t o_sx = align256(m * ld), o_acc = o_sx + align256(m * sizeof(float));
    if (scratch(b, &b->lin, &b->lin_bytes, o_acc + m * ldc * sizeof(int32_t)) < 0) return;
    int8_t *xq = (int8_t *)b->lin;
    float *sx = (float *)((char *)b->lin + o_sx);
    int32_t *acc = (int32_t *)((char *)b->lin + o_acc);
    quantize_rows_kernel<<<(unsigned)m, BS, 0, b->stream>>>(x, ldx, w->head.cols, xq, ld, sx);
    int32_t one = 1, zero = 0;
    cublasStatus_t st =
        cublasGemmEx(b->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)n, (int)m, (int)ld, &one, w->d,
                     CUDA_R_8I, (int)ld, xq, CUDA_R_8I, (int)ld, &zero, acc, CUDA_R_32I, (int)ldc,
                     CUBLAS_COMPUTE_32I, CUBLAS_GEMM_DEFAULT);
    if (st == CUBLAS_STATUS_NOT_SUPPORTED || st == CUBLAS_STATUS_INVALID_VALUE)
        igemm_kernel<<<grid_for(m * n, BS), BS, 0, b->stream>>>(xq, (const int8_t *)w->d, ld, acc,
                                                                ldc, m, n);
    else if (!blas_ok(b, st, "cublasGemmEx (int8)"))
        return;
    dequant_kernel<<<grid_for(m * n, BS), BS, 0, b->stream>>>(acc, ldc, sx, w->scale, bias, beta, y,
                                                              ldy, m, n);
}

void cu_linear(nn_backend *bb, size_t m, const float *x, size_t ldx, const nn_weight *wh,
               const nn_weight *bias, float beta, float *y, size_t ldy)
{
    cu_backend *b = cub(bb);
    const cu_weight *w = cw(wh);
    size_t n = wh->rows;
    if (!m || !n || !enter(b)) return;
    if (!fits_int(m) || !fits_int(ldx) || !fits_int(ldy) || !fits_int(wh->cols) || ldy < n) {
        fail(b, 1, SEIZE_EINVAL, "cuda: linear of m=%zu n=%zu k=%zu ldx=%zu ldy=%zu", m, n,
             wh->cols, ldx, ldy);
        return;
    }
    if (!nn_weight_use_linear(wh->use)) {
        fail(b, 1, SEIZE_EINVAL, "cuda: linear given a weight that is not NN_W_LINEAR");
        return;
    }
    if (wh->dtype == NN_I8) {
        linear_i8(b, m, x, ldx, w, wdata<float>(bias), beta, y, ldy);
    } else {
        if (wh->dtype == NN_BF16)
            linear_bf16(b, m, x, ldx, w, beta, y, ldy);
        else
            linear_f32(b, m, x, ldx, w, beta, y, ldy);
        if (bias && !b->failed)
            add_bias_kernel<<<grid_for(m * n, BS), BS, 0, b->stream>>>(y, ldy, m, n,
                                                                       wdata<float>(bias));
    }
    launched(b, "linear");
}

// --- elementwise ops -----------------------------------------------------------------------------

void cu_layernorm(nn_backend *bb, size_t rows, size_t d, float *x, size_t ldx, const nn_weight *add,
                  const nn_weight *g, const nn_weight *beta, float eps, float *y, size_t ldy)
{
    cu_backend *b = cub(bb);
    if (!rows || !d || !enter(b)) return;
    if (rows > (size_t)INT_MAX) {
        fail(b, 1, SEIZE_EINVAL, "cuda: layernorm of %zu rows", rows);
        return;
    }
    layernorm_kernel<<<(unsigned)rows, BS, 0, b->stream>>>(
        d, x, ldx, wdata<float>(add), wdata<float>(g), wdata<float>(beta), eps, y, ldy);
    launched(b, "layernorm");
}

void cu_bias_act(nn_backend *bb, size_t rows, size_t n, float *x, const nn_weight *bias,
                 seize_act act)
{
    cu_backend *b = cub(bb);
    if (!rows || !n || !enter(b)) return;
    if (!bias && act == SEIZE_ACT_NONE) return;
    bias_act_kernel<<<grid_for(rows * n, BS), BS, 0, b->stream>>>(rows, n, x, wdata<float>(bias),
                                                                  (int)act);
    launched(b, "bias_act");
}

void cu_add(nn_backend *bb, size_t rows, size_t n, float *x, size_t ldx, const float *y, size_t ldy)
{
    cu_backend *b = cub(bb);
    if (!rows || !n || !enter(b)) return;
    add_kernel<<<grid_for(rows * n, BS), BS, 0, b->stream>>>(rows, n, x, ldx, y, ldy);
    launched(b, "add");
}

// --- attention -----------------------------------------------------------------------------------

int attn_smem_max(cu_backend *b)
{
    int v = SMEM_DEFAULT;
    cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, b->device);
    return v;
}

// Allows attn_kernel `bytes` of dynamic shared memory; 0, or the failure (sticky when asked).
int attn_smem(cu_backend *b, size_t Tk, size_t d_head, int sticky)
{
    size_t bytes = (Tk + d_head) * sizeof(float);
    if (bytes + 33 * sizeof(float) > (size_t)attn_smem_max(b))
        return fail(b, sticky, SEIZE_EINVAL,
                    "cuda: attention over %zu keys of d_head %zu exceeds the shared memory of "
                    "the device (%d bytes)",
                    Tk, d_head, attn_smem_max(b));
    if (bytes > (size_t)SMEM_DEFAULT &&
        !cuda_ok(b,
                 cudaFuncSetAttribute(attn_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      (int)bytes),
                 "attention shared memory", sticky))
        return SEIZE_EIO;
    return 0;
}

int cu_reserve(nn_backend *bb, size_t max_T, size_t max_d_head, size_t max_heads)
{
    cu_backend *b = cub(bb);
    (void)max_heads;
    if (!enter(b)) return SEIZE_EIO;
    return attn_smem(b, max_T, max_d_head, 0);
}

void attn_run(cu_backend *b, attn_args a, size_t n_seq, int n_head)
{
    size_t blocks = n_seq * a.n_q;
    if (!blocks || !n_head || a.d_head <= 0) return;
    if (blocks > (size_t)INT_MAX || n_head > 65535) {
        fail(b, 1, SEIZE_EINVAL, "cuda: attention grid of %zu x %d", blocks, n_head);
        return;
    }
    if (attn_smem(b, (size_t)a.Tk, (size_t)a.d_head, 1) < 0) return;
    size_t bytes = ((size_t)a.Tk + (size_t)a.d_head) * sizeof(float);
    a.scale = 1.0f / sqrtf((float)a.d_head);
    attn_kernel<<<dim3((unsigned)blocks, (unsigned)n_head), ATTN_BS, bytes, b->stream>>>(a);
    launched(b, "attention");
}

void cu_attention(nn_backend *bb, size_t n_seq, size_t T, int n_head, int d_head, float *qkv,
                  const nn_weight *q_b, const nn_weight *k_b, const nn_weight *v_b, int causal,
                  const size_t *q_rows, float *out)
{
    cu_backend *b = cub(bb);
    if (!n_seq || !T || !enter(b)) return;
    if (T > (size_t)INT_MAX || n_head <= 0 || d_head <= 0) {
        fail(b, 1, SEIZE_EINVAL, "cuda: attention of T=%zu n_head=%d d_head=%d", T, n_head, d_head);
        return;
    }
    size_t d = (size_t)n_head * (size_t)d_head, ld = 3 * d;
    attn_args a = {};
    a.q = qkv, a.k = qkv + d, a.v = qkv + 2 * d;
    a.qb = wdata<float>(q_b), a.kb = wdata<float>(k_b), a.vb = wdata<float>(v_b);
    a.out = out;
    a.q_seq = a.k_seq = a.v_seq = T * ld;
    a.ldq = a.ldk = a.ldv = ld;
    a.ldo = d;
    a.Tk = (int)T, a.d_head = d_head;
    a.causal = causal ? 0 : -1;
    if (q_rows) {
        for (size_t s = 0; s < n_seq; s++)
            if (q_rows[s] >= T) {
                fail(b, 1, SEIZE_EINVAL, "cuda: attention q_rows[%zu] = %zu of T = %zu", s,
                     q_rows[s], T);
                return;
            }
        a.q_rows = (const unsigned long long *)host_to_idx(b, q_rows, n_seq * sizeof *q_rows);
        if (!a.q_rows) return;
        a.n_q = 1, a.o_seq = d;
    } else {
        a.n_q = (unsigned)T, a.o_seq = T * d;
    }
    attn_run(b, a, n_seq, n_head);
}

void cu_attend(nn_backend *bb, size_t n_seq, size_t Tq, size_t Tk, int n_head, int d_head,
               const float *q, size_t ldq, const float *k, size_t k_seq, size_t ldk, const float *v,
               size_t v_seq, size_t ldv, long causal_offset, float *out, size_t ldo)
{
    cu_backend *b = cub(bb);
    if (!n_seq || !Tq || !enter(b)) return;
    if (Tq > (size_t)UINT_MAX || Tk > (size_t)INT_MAX || n_head <= 0 || d_head <= 0) {
        fail(b, 1, SEIZE_EINVAL, "cuda: attend of Tq=%zu Tk=%zu n_head=%d d_head=%d", Tq, Tk,
             n_head, d_head);
        return;
    }
    attn_args a = {};
    a.q = q, a.k = k, a.v = v;
    a.out = out;
    a.q_seq = Tq * ldq, a.k_seq = k_seq, a.v_seq = v_seq, a.o_seq = Tq * ldo;
    a.ldq = ldq, a.ldk = ldk, a.ldv = ldv, a.ldo = ldo;
    a.n_q = (unsigned)Tq, a.Tk = (int)Tk, a.d_head = d_head;
    a.causal = causal_offset;
    attn_run(b, a, n_seq, n_head);
}

// --- embeddings ----------------------------------------------------------------------------------

void cu_patchify(nn_backend *bb, size_t n, int S, int p, const float *pixels, float *cols)
{
    cu_backend *b = cub(bb);
    if (!n || p <= 0 || S < p || !enter(b)) return;
    int g = S / p;
    size_t total = n * (size_t)g * g * 3 * (size_t)p * p;
    patchify_kernel<<<grid_for(total, BS), BS, 0, b->stream>>>(total, S, p, g, pixels, cols);
    launched(b, "patchify");
}

void cu_embed_patches(nn_backend *bb, size_t n, size_t n_patch, size_t d, const float *patches,
                      const nn_weight *class_emb, const nn_weight *pos, float *x)
{
    cu_backend *b = cub(bb);
    if (!n || !d || !enter(b)) return;
    embed_patches_kernel<<<grid_for(n * (n_patch + 1) * d, BS), BS, 0, b->stream>>>(
        n, n_patch, d, patches, wdata<float>(class_emb), wdata<float>(pos), x);
    launched(b, "embed_patches");
}

void cu_embed_tokens(nn_backend *bb, size_t n, size_t T, size_t d, const int32_t *ids,
                     size_t ld_ids, const nn_weight *tok_emb, const nn_weight *pos, size_t pos0,
                     float *x)
{
    cu_backend *b = cub(bb);
    if (!n || !T || !d || !enter(b)) return;
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < T; t++) {
            int32_t id = ids[i * ld_ids + t];
            if (id < 0 || (size_t)id >= tok_emb->rows) {
                fail(b, 1, SEIZE_EINVAL, "cuda: token id %d outside the table of %zu rows", (int)id,
                     tok_emb->rows);
                return;
            }
        }
    if (pos && pos0 + T > pos->rows) {
        fail(b, 1, SEIZE_EINVAL, "cuda: positions %zu..%zu outside the table of %zu rows", pos0,
             pos0 + T - 1, pos->rows);
        return;
    }
    if (scratch(b, &b->idx, &b->idx_bytes, n * T * sizeof(int32_t)) < 0) return;
    if (!cuda_ok(b,
                 cudaMemcpy2DAsync(b->idx, T * sizeof(int32_t), ids, ld_ids * sizeof(int32_t),
                                   T * sizeof(int32_t), n, cudaMemcpyHostToDevice, b->stream),
                 "copy of the token ids", 1))
        return;
    embed_tokens_kernel<<<grid_for(n * T * d, BS), BS, 0, b->stream>>>(
        n, T, d, (const int32_t *)b->idx, wdata<float>(tok_emb), wdata<float>(pos), pos0, x);
    launched(b, "embed_tokens");
}

void cu_gather_rows(nn_backend *bb, size_t n, size_t d, const float *x, size_t ldx,
                    const size_t *rows, float *y)
{
    cu_backend *b = cub(bb);
    if (!n || !d || !enter(b)) return;
    const void *r = host_to_idx(b, rows, n * sizeof *rows);
    if (!r) return;
    gather_kernel<<<grid_for(n * d, BS), BS, 0, b->stream>>>(n, d, x, ldx,
                                                             (const unsigned long long *)r, y);
    launched(b, "gather_rows");
}

// --- the instance --------------------------------------------------------------------------------

int cu_status(nn_backend *bb)
{
    cu_backend *b = cub(bb);
    int rc = b->failed;
    if (!rc) return 0;
    b->failed = 0;
    return seize_error(rc, "%s", b->err);
}

void cu_free(nn_backend *bb)
{
    cu_backend *b = cub(bb);
    if (!b) return;
    if (cudaSetDevice(b->device) == cudaSuccess) {
        if (b->stream) cudaStreamSynchronize(b->stream);
        if (b->blas) cublasDestroy(b->blas);
        if (b->stream) cudaStreamDestroy(b->stream);
        cudaFree(b->idx);
        cudaFree(b->lin);
    }
    (void)cudaGetLastError();
    free(b);
}

const nn_backend_ops cuda_ops = {
    .name = "cuda",
    .free = cu_free,
    .status = cu_status,
    .alloc = cu_alloc,
    .release = cu_release,
    .weight = cu_weight_new,
    .weight_free = cu_weight_free,
    .upload = cu_upload,
    .download = cu_download,
    .copy_rows = cu_copy_rows,
    .linear = cu_linear,
    .layernorm = cu_layernorm,
    .bias_act = cu_bias_act,
    .add = cu_add,
    .reserve = cu_reserve,
    .attention = cu_attention,
    .attend = cu_attend,
    .patchify = cu_patchify,
    .embed_patches = cu_embed_patches,
    .embed_tokens = cu_embed_tokens,
    .gather_rows = cu_gather_rows,
};

// The device, its stream and cuBLAS handle. 0, or the failure (message set).
int cu_open(cu_backend *b)
{
    int n_dev = 0;
    cudaError_t e = cudaGetDeviceCount(&n_dev);
    (void)cudaGetLastError();
    if (e != cudaSuccess || n_dev == 0)
        return seize_error(SEIZE_ENOTFOUND, "cuda: no CUDA device is usable%s%s",
                           e != cudaSuccess ? ": " : " (none found)",
                           e != cudaSuccess ? cudaGetErrorString(e) : "");
    if (b->device < 0 || b->device >= n_dev)
        return seize_error(SEIZE_EINVAL, "cuda: device %d does not exist (%d device%s)", b->device,
                           n_dev, n_dev == 1 ? "" : "s");
    if (!cuda_ok(b, cudaSetDevice(b->device), "cudaSetDevice", 0) ||
        !cuda_ok(b, cudaStreamCreateWithFlags(&b->stream, cudaStreamNonBlocking),
                 "cudaStreamCreate", 0))
        return SEIZE_EIO;
    cublasStatus_t st = cublasCreate(&b->blas);
    if (st != CUBLAS_STATUS_SUCCESS) {
        b->blas = nullptr;
        return seize_error(SEIZE_EIO, "cuda: cublasCreate: %s", cublasGetStatusString(st));
    }
    // CUBLAS_DEFAULT_MATH keeps float32 products in float32 (TF32 only with _TF32_TENSOR_OP_)
    if (!blas_ok(b, cublasSetStream(b->blas, b->stream), "cublasSetStream") ||
        !blas_ok(b, cublasSetMathMode(b->blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode"))
        return SEIZE_EIO;
    return 0;
}

} // namespace

extern "C" int nn_backend_cuda_new(nn_backend_params p, nn_backend **out)
{
    *out = nullptr;
    cu_backend *b = (cu_backend *)calloc(1, sizeof *b);
    if (!b) return seize_error(SEIZE_ENOMEM, "out of memory");
    b->base.ops = &cuda_ops;
    b->device = p.device;
    b->prec = p.precision;
    const char *sync = getenv("SEIZE_CUDA_SYNC");
    b->sync_each = sync && *sync && strcmp(sync, "0") != 0;
    int rc = cu_open(b);
    if (rc < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", seize_errmsg());
        cu_free(&b->base);
        return seize_error(rc, "%s", msg);
    }
    *out = &b->base;
    return 0;
}
