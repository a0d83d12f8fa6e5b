// The GPU AdANNS-IVF search. Per batch of queries (sized so the workspace fits the budget):
//   1. queries uploaded with a zero-padded row stride (cosine: normalised on the device);
//   2. coarse probe: scores of the batch against the probe_dim centroid prefixes as a GEMM
//      (gemm.cu), then top-nprobe per query (BlockSelect); nprobe == nlist skips both;
//   3. scan: one block per (query, probed list); each warp takes a group of 32 interleaved rows,
//      one lane per row, and reads only the first ceil(scan_dim / 4) float4 chunks of the group
//      (512 contiguous bytes per chunk and warp); per block the best K1 = max(k, rerank_k);
//   4. merge of the nprobe candidate lists of a query into its best K1;
//   5. rerank (rerank_k > 0): the K1 candidates re-scored on rerank_dim dims, one warp per
//      candidate, best k kept;
//   6. emit: slots mapped to ids, distances to the output convention (as search.cpp).
// Semantics, tie-breaking (by (list, row)) and output conventions are those of the CPU core.
#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "block_select.cuh"
#include "device_buffer.cuh"
#include "gemm.cuh"
#include "gpu_ivf.h"

namespace adanns {
namespace gpu {

namespace {

enum : int { kMetricL2 = 0, kMetricIP = 1, kMetricCosine = 2 };  // as ivf.h
enum : int { kKindL2 = 0, kKindIP = 1, kKindIPNorm = 2 };         // per-stage distance

constexpr std::size_t kMaxBatch = 65535;  // grid.y limit of the scan launch

// The distance kind of one stage at prefix length d (StageMetric in search.cpp).
int stage_kind(int metric, std::size_t d, std::size_t dim) {
    if (metric == kMetricL2) return kKindL2;
    return metric == kMetricCosine && d < dim ? kKindIPNorm : kKindIP;
}

__device__ __forceinline__ float stage_finish(int kind, float acc, float accn) {
    if (kind == kKindL2) return acc;
    if (kind == kKindIPNorm) return accn > 0.f ? -acc / sqrtf(accn) : 0.f;
    return -acc;
}

__device__ __forceinline__ void accumulate(int kind, float4 q, float4 x, float& acc, float& accn) {
    if (kind == kKindL2) {
        const float a = q.x - x.x, b = q.y - x.y, c = q.z - x.z, d = q.w - x.w;
        acc = fmaf(a, a, acc);
        acc = fmaf(b, b, acc);
        acc = fmaf(c, c, acc);
        acc = fmaf(d, d, acc);
    } else {
        acc = fmaf(q.x, x.x, acc);
        acc = fmaf(q.y, x.y, acc);
        acc = fmaf(q.z, x.z, acc);
        acc = fmaf(q.w, x.w, acc);
        if (kind == kKindIPNorm) {
            accn = fmaf(x.x, x.x, accn);
            accn = fmaf(x.y, x.y, accn);
            accn = fmaf(x.z, x.z, accn);
            accn = fmaf(x.w, x.w, accn);
        }
    }
}

// Components of the chunk at or past `valid` dims replaced so they add nothing: by the query's
// own component for L2 (zero difference), by zero for the inner products.
__device__ __forceinline__ float4 mask_tail(int kind, float4 x, float4 q, int valid) {
    if (kind == kKindL2) {
        if (valid <= 1) x.y = q.y;
        if (valid <= 2) x.z = q.z;
        x.w = q.w;
    } else {
        if (valid <= 1) x.y = 0.f;
        if (valid <= 2) x.z = 0.f;
        x.w = 0.f;
    }
    return x;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Loads the first d dims of a padded query row into shared memory as float4 chunks (zeros past d).
__device__ void load_query_prefix(const float* q, int d, float4* qs) {
    const int nch = (d + 3) / 4;
    for (int c = threadIdx.x; c < nch; c += blockDim.x) {
        float v[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) v[j] = c * 4 + j < d ? q[c * 4 + j] : 0.f;
        qs[c] = make_float4(v[0], v[1], v[2], v[3]);
    }
}

// Bytes of a float4 query prefix of d dims, rounded to keep what follows 16-byte aligned.
inline std::size_t query_smem_bytes(std::size_t d) { return (d + 3) / 4 * sizeof(float4); }

// ------------------------------------------------------------------ kernels

// Cosine: every query row normalised over its dim values (double accumulation, as the CPU).
__global__ void normalize_rows(float* q, int dim, std::size_t ld) {
    float* row = q + static_cast<std::size_t>(blockIdx.x) * ld;
    double s = 0;
    for (int t = threadIdx.x; t < dim; t += 32) s += double(row[t]) * row[t];
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    const float nrm = static_cast<float>(sqrt(s));
    const float inv = nrm > 0.f ? 1.f / nrm : 0.f;
    for (int t = threadIdx.x; t < dim; t += 32) row[t] *= inv;
}

__global__ void fill_all_lists(int* probes, int nprobe) {
    for (int j = threadIdx.x; j < nprobe; j += blockDim.x) probes[static_cast<std::size_t>(blockIdx.x) * nprobe + j] = j;
}

// Top-nprobe lists per query from the (nb x nlist) probe scores; ties to the smaller list.
// Every score is offered (non-finite ones as FLT_MAX), so nprobe <= nlist valid lists come out.
__global__ void __launch_bounds__(kSelectThreads) select_probes(const float* scores, int nlist, int nprobe, int cap,
                                                                int* probes) {
    extern __shared__ float4 smem[];
    BlockSelect sel(smem, nprobe, cap);
    const float* row = scores + static_cast<std::size_t>(blockIdx.x) * nlist;
    for (int j0 = 0; j0 < nlist; j0 += blockDim.x) {
        const int j = j0 + threadIdx.x;
        float v = j < nlist ? row[j] : 0.f;
        if (!(v < __int_as_float(0x7f800000))) v = 3.402823466e38f;  // NaN / inf rank last (as top_nearest)
        sel.push(j < nlist, v, j);
    }
    sel.finish();
    for (int t = threadIdx.x; t < nprobe; t += blockDim.x) probes[static_cast<std::size_t>(blockIdx.x) * nprobe + t] = sel.slot(t);
}

// One block per (probe p = blockIdx.x, query i = blockIdx.y): the best K of list probes[i][p]
// on the first sd dims, as (distance, slot) at out[(i * nprobe + p) * K ...]; slot -1 = none.
// KIND is the stage's distance kind, a template argument so the inner loop has no branch.
template <int KIND>
__global__ void __launch_bounds__(kSelectThreads) scan_lists(const float4* __restrict__ data,
                                                             const long long* __restrict__ list_off,
                                                             const int* __restrict__ list_len,
                                                             const float* __restrict__ q, std::size_t ldq,
                                                             const int* __restrict__ probes, int nprobe, int sd,
                                                             std::size_t group_f4, int K, int cap,
                                                             float* __restrict__ out_d, int* __restrict__ out_s) {
    extern __shared__ float4 smem[];
    const int nch = (sd + 3) / 4, nfull = sd / 4, tail = sd % 4;
    float4* qs = smem;
    const int i = blockIdx.y, p = blockIdx.x;
    load_query_prefix(q + static_cast<std::size_t>(i) * ldq, sd, qs);
    __syncthreads();
    BlockSelect sel(smem + nch, K, cap);

    const int l = probes[static_cast<std::size_t>(i) * nprobe + p];
    const int n = list_len[l];
    const long long base = list_off[l];  // a multiple of 32
    const int ngroups = (n + 31) / 32;
    const int warps = blockDim.x / 32, w = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int g0 = 0; g0 < ngroups; g0 += warps) {
        const int g = g0 + w;
        const int row = g * 32 + lane;
        float dist = 0.f;
        if (g < ngroups) {  // rows past n are zero padding: read, then not offered
            const float4* gp = data + static_cast<std::size_t>(base / 32 + g) * group_f4 + lane;
            float acc = 0.f, accn = 0.f;
#pragma unroll 4
            for (int c = 0; c < nfull; ++c) accumulate(KIND, qs[c], __ldg(gp + static_cast<std::size_t>(c) * 32), acc, accn);
            if (tail) {
                const float4 qv = qs[nfull];
                accumulate(KIND, qv, mask_tail(KIND, __ldg(gp + static_cast<std::size_t>(nfull) * 32), qv, tail), acc, accn);
            }
            dist = stage_finish(KIND, acc, accn);
        }
        sel.push(g < ngroups && row < n, dist, static_cast<int>(base) + row);
    }
    sel.finish();
    const std::size_t o = (static_cast<std::size_t>(i) * nprobe + p) * K;
    for (int t = threadIdx.x; t < K; t += blockDim.x) {
        const int s = sel.slot(t);
        out_d[o + t] = sel.dist(t);
        out_s[o + t] = s == kNoSlot ? -1 : s;
    }
}

// The best K of the `m` candidates of each query (block i): in[i * m ...] -> out[i * K ...].
__global__ void __launch_bounds__(kSelectThreads) merge_candidates(const float* in_d, const int* in_s, int m, int K,
                                                                   int cap, float* out_d, int* out_s) {
    extern __shared__ float4 smem[];
    BlockSelect sel(smem, K, cap);
    const std::size_t b = static_cast<std::size_t>(blockIdx.x) * m;
    for (int j0 = 0; j0 < m; j0 += blockDim.x) {
        const int j = j0 + threadIdx.x;
        const int s = j < m ? in_s[b + j] : -1;
        sel.push(s >= 0, s >= 0 ? in_d[b + j] : 0.f, s);
    }
    sel.finish();
    const std::size_t o = static_cast<std::size_t>(blockIdx.x) * K;
    for (int t = threadIdx.x; t < K; t += blockDim.x) {
        const int s = sel.slot(t);
        out_d[o + t] = sel.dist(t);
        out_s[o + t] = s == kNoSlot ? -1 : s;
    }
}

// Rerank: the K1 candidates of query i re-scored on the first rd dims (one warp per
// candidate), the best k kept.
__global__ void __launch_bounds__(kSelectThreads) rerank(const float4* __restrict__ data, std::size_t group_f4,
                                                         const float* __restrict__ q, std::size_t ldq,
                                                         const int* __restrict__ in_s, int K1, int rd, int kind,
                                                         int k, int cap, float* out_d, int* out_s) {
    extern __shared__ float4 smem[];
    const int nch = (rd + 3) / 4, nfull = rd / 4, tail = rd % 4;
    float4* qs = smem;
    float* cand_d = reinterpret_cast<float*>(smem + nch);  // K1 floats, rounded up to float4s
    const int i = blockIdx.x;
    load_query_prefix(q + static_cast<std::size_t>(i) * ldq, rd, qs);
    __syncthreads();
    const int* slots = in_s + static_cast<std::size_t>(i) * K1;
    const int warps = blockDim.x / 32, w = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int c = w; c < K1; c += warps) {
        const int s = slots[c];
        if (s < 0) continue;  // warp-uniform
        const float4* gp = data + static_cast<std::size_t>(s / 32) * group_f4 + (s % 32);
        float acc = 0.f, accn = 0.f;
        for (int ch = lane; ch < nch; ch += 32) {
            const float4 qv = qs[ch];
            float4 x = __ldg(gp + static_cast<std::size_t>(ch) * 32);
            if (ch == nfull && tail) x = mask_tail(kind, x, qv, tail);
            accumulate(kind, qv, x, acc, accn);
        }
        acc = warp_sum(acc);
        accn = warp_sum(accn);
        if (lane == 0) cand_d[c] = stage_finish(kind, acc, accn);
    }
    __syncthreads();
    BlockSelect sel(smem + nch + (K1 + 3) / 4, k, cap);
    for (int j0 = 0; j0 < K1; j0 += blockDim.x) {
        const int j = j0 + threadIdx.x;
        const int s = j < K1 ? slots[j] : -1;
        sel.push(s >= 0, s >= 0 ? cand_d[j] : 0.f, s);
    }
    sel.finish();
    const std::size_t o = static_cast<std::size_t>(i) * k;
    for (int t = threadIdx.x; t < k; t += blockDim.x) {
        const int s = sel.slot(t);
        out_d[o + t] = sel.dist(t);
        out_s[o + t] = s == kNoSlot ? -1 : s;
    }
}

// Output conventions (search.cpp): L2 squared distance; IP / cosine similarity = -distance,
// for cosine on a prefix rd < dim also divided by ||q[:rd]||; slot -> id; none -> (+/-inf, -1).
__global__ void emit(const float* in_d, const int* in_s, std::size_t ldin, const long long* slot_ids,
                     const float* q, std::size_t ldq, int metric, int rd, int dim, int k, float* D, long long* I) {
    const int i = blockIdx.x;
    float qscale = 1.f;
    if (metric == kMetricCosine && rd < dim) {
        const float* row = q + static_cast<std::size_t>(i) * ldq;
        double s = 0;
        for (int t = threadIdx.x; t < rd; t += 32) s += double(row[t]) * row[t];
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        const float qn = static_cast<float>(sqrt(s));
        qscale = qn > 0.f ? 1.f / qn : 0.f;
    }
    const float missing = metric == kMetricL2 ? __int_as_float(0x7f800000) : __int_as_float(0xff800000);
    for (int t = threadIdx.x; t < k; t += 32) {
        const int s = in_s[static_cast<std::size_t>(i) * ldin + t];
        const float d = in_d[static_cast<std::size_t>(i) * ldin + t];
        const std::size_t o = static_cast<std::size_t>(i) * k + t;
        if (s < 0) {
            D[o] = missing;
            I[o] = -1;
        } else {
            D[o] = metric == kMetricL2 ? d : -d * qscale;
            I[o] = slot_ids[s];
        }
    }
}

// Lets `kernel` use `bytes` of dynamic shared memory (opting in past 48 KiB where the device can).
template <class Kernel>
void allow_smem(Kernel kernel, std::size_t bytes, int device, const char* what) {
    int optin = 0;
    cuda_check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device), "device attribute");
    if (bytes > static_cast<std::size_t>(optin))
        throw std::invalid_argument(std::string(what) + " needs " + std::to_string(bytes) +
                                    " bytes of shared memory per block, more than this GPU's " + std::to_string(optin) +
                                    "; use a smaller k / rerank_k / nprobe or prefix");
    if (bytes > 48 * 1024)
        cuda_check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
                   what);
}

class Stream {
public:
    // A blocking stream: it is ordered after the synchronous copies made on the legacy default
    // stream (index upload, probe operands), whose pageable host-to-device DMA may still be in flight.
    Stream() { cuda_check(cudaStreamCreate(&s_), "cudaStreamCreate"); }
    ~Stream() {
        if (s_) cudaStreamDestroy(s_);
    }
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    cudaStream_t get() const { return s_; }

private:
    cudaStream_t s_ = nullptr;
};

std::size_t round_up(std::size_t x, std::size_t m) { return (x + m - 1) / m * m; }

}  // namespace

int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // no driver / no device: not an error for the caller
        return 0;
    }
    return n;
}

std::string device_description(int device) {
    cudaDeviceProp prop{};
    cuda_check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    return std::string(prop.name) + " (compute capability " + std::to_string(prop.major) + "." +
           std::to_string(prop.minor) + ", " + std::to_string(prop.totalGlobalMem >> 20) + " MiB)";
}

struct GpuIVF::Impl {
    int device;
    std::size_t dim, nlist, coarse_dim, dim_pad;
    int metric;
    std::size_t ntotal = 0, total_rows = 0;  // total_rows: padded to 32 per list
    std::size_t limit = 0, index_bytes = 0;
    std::vector<int64_t> sizes, offsets;  // host copies (offsets in padded rows)

    DeviceBuffer<float> data;             // total_rows x dim_pad, interleaved (header comment)
    DeviceBuffer<long long> slot_ids;     // total_rows; -1 on padding rows
    DeviceBuffer<long long> list_off;     // nlist
    DeviceBuffer<int> list_len;           // nlist
    DeviceBuffer<float> centroids;        // nlist x coarse_dim, as given
    // Probe operands for the probe_dim used last: the centroid prefixes (normalised for cosine
    // on a shorter prefix, as search.cpp) and the bias ||c||^2 (L2).
    std::vector<float> host_centroids;
    DeviceBuffer<float> probe_c, probe_bias;
    std::size_t probe_pd = 0;
    Stream stream;
    std::mutex mu;

    std::size_t group_f4() const { return kGroupRows * dim_pad / kVecWidth; }

    void set_probe_dim(std::size_t pd) {
        if (pd == probe_pd) return;
        std::vector<float> c(nlist * pd), bias(nlist);
        for (std::size_t j = 0; j < nlist; ++j) {
            const float* src = host_centroids.data() + j * coarse_dim;
            float s2 = 0.f;
            for (std::size_t t = 0; t < pd; ++t) s2 += src[t] * src[t];
            const float scale = pd < coarse_dim && metric == kMetricCosine && s2 > 0.f ? 1.f / std::sqrt(s2) : 1.f;
            for (std::size_t t = 0; t < pd; ++t) c[j * pd + t] = src[t] * scale;
            bias[j] = s2;
        }
        probe_pd = 0;
        probe_c.allocate(c.size());
        probe_c.upload(c.data(), c.size());
        probe_bias.allocate(nlist);
        probe_bias.upload(bias.data(), nlist);
        probe_pd = pd;
    }

    // Device bytes one query of a batch needs with these settings.
    std::size_t per_query_bytes(const GpuSearchParams& p, std::size_t K1) const {
        const bool gemm_probe = nlist > 1 && p.nprobe < nlist;
        std::size_t b = dim_pad * sizeof(float);                         // query
        if (gemm_probe) b += nlist * sizeof(float);                      // probe scores
        b += p.nprobe * sizeof(int);                                     // probes
        b += p.nprobe * K1 * (sizeof(float) + sizeof(int));              // per-list candidates
        if (p.nprobe > 1) b += K1 * (sizeof(float) + sizeof(int));       // merged
        if (p.rerank_k > 0) b += p.k * (sizeof(float) + sizeof(int));    // reranked
        b += p.k * (sizeof(float) + sizeof(long long));                  // D, I
        return b;
    }
};

GpuIVF::GpuIVF(int device, std::size_t dim, std::size_t nlist, std::size_t coarse_dim, int metric,
               const float* centroids, const int64_t* sizes, const int64_t* ids, const float* vectors,
               std::size_t memory_limit) {
    const int ndev = device_count();
    if (ndev == 0) throw std::runtime_error("no CUDA GPU is available to this process");
    if (device < 0 || device >= ndev)
        throw std::invalid_argument("device must be in 0.." + std::to_string(ndev - 1) + ", got " + std::to_string(device));
    if (dim == 0 || nlist == 0 || coarse_dim == 0 || coarse_dim > dim) throw std::invalid_argument("bad index shape");
    if (metric < kMetricL2 || metric > kMetricCosine) throw std::invalid_argument("bad metric");
    cuda_check(cudaSetDevice(device), "cudaSetDevice");

    auto im = std::make_unique<Impl>();
    im->device = device;
    im->dim = dim;
    im->nlist = nlist;
    im->coarse_dim = coarse_dim;
    im->metric = metric;
    im->dim_pad = round_up(dim, kVecWidth);
    im->sizes.assign(sizes, sizes + nlist);
    im->offsets.resize(nlist);
    for (std::size_t l = 0; l < nlist; ++l) {
        if (sizes[l] < 0) throw std::invalid_argument("negative list size");
        im->offsets[l] = static_cast<int64_t>(im->total_rows);
        im->ntotal += static_cast<std::size_t>(sizes[l]);
        im->total_rows += round_up(static_cast<std::size_t>(sizes[l]), kGroupRows);
    }
    if (im->total_rows >= static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw std::invalid_argument("the GPU index holds at most 2^31 - 1 rows (padded to 32 per list)");

    im->index_bytes = im->total_rows * (im->dim_pad * sizeof(float) + sizeof(long long)) +
                      nlist * (sizeof(long long) + sizeof(int)) + 2 * nlist * coarse_dim * sizeof(float) +
                      nlist * sizeof(float);
    std::size_t free_b = 0, total_b = 0;
    cuda_check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
    im->limit = memory_limit ? memory_limit : free_b / 10 * 9;
    const auto mib = [](std::size_t b) { return std::to_string((b + (1u << 20) - 1) >> 20) + " MiB"; };
    if (im->index_bytes > im->limit)
        throw OutOfMemory("the GPU index needs " + mib(im->index_bytes) + " of device memory, more than the limit of " +
                          mib(im->limit));
    if (im->index_bytes > free_b)
        throw OutOfMemory("the GPU index needs " + mib(im->index_bytes) + " of device memory; " + mib(free_b) +
                          " are free on device " + std::to_string(device));

    im->host_centroids.assign(centroids, centroids + nlist * coarse_dim);
    im->centroids.allocate(nlist * coarse_dim);
    im->centroids.upload(centroids, nlist * coarse_dim);
    std::vector<long long> off(im->offsets.begin(), im->offsets.end());
    std::vector<int> len(sizes, sizes + nlist);
    im->list_off.allocate(nlist);
    im->list_off.upload(off.data(), nlist);
    im->list_len.allocate(nlist);
    im->list_len.upload(len.data(), nlist);

    // Interleave on the host in slices of whole lists (about 64 MiB) and upload each slice.
    im->data.allocate(im->total_rows * im->dim_pad);
    im->slot_ids.allocate(im->total_rows);
    const std::size_t dp = im->dim_pad, slice_rows = std::max<std::size_t>(kGroupRows, (std::size_t(16) << 20) / dp);
    std::vector<float> stage;
    std::vector<long long> stage_ids;
    std::size_t slice_begin = 0, src_row = 0;  // slice start (padded rows), next input row
    auto flush = [&]() {
        im->data.upload(stage.data(), stage.size(), slice_begin * dp);
        im->slot_ids.upload(stage_ids.data(), stage_ids.size(), slice_begin);
        slice_begin += stage_ids.size();
        stage.clear();
        stage_ids.clear();
    };
    for (std::size_t l = 0; l < nlist; ++l) {
        const std::size_t n = static_cast<std::size_t>(sizes[l]), rows = round_up(n, kGroupRows);
        const std::size_t at = stage_ids.size();
        stage.resize((at + rows) * dp, 0.f);
        stage_ids.resize(at + rows, -1);
        float* dst = stage.data() + at * dp;
        for (std::size_t r = 0; r < n; ++r, ++src_row) {
            const float* v = vectors + src_row * dim;
            float* g = dst + (r / kGroupRows) * kGroupRows * dp + (r % kGroupRows) * kVecWidth;
            for (std::size_t t = 0; t < dim; ++t) g[(t / kVecWidth) * kGroupRows * kVecWidth + t % kVecWidth] = v[t];
            stage_ids[at + r] = ids[src_row];
        }
        if (stage_ids.size() >= slice_rows) flush();
    }
    if (!stage_ids.empty()) flush();
    cuda_check(cudaDeviceSynchronize(), "index upload");
    impl_ = std::move(im);
}

GpuIVF::~GpuIVF() = default;

std::size_t GpuIVF::dim() const { return impl_->dim; }
std::size_t GpuIVF::nlist() const { return impl_->nlist; }
std::size_t GpuIVF::coarse_dim() const { return impl_->coarse_dim; }
int GpuIVF::metric() const { return impl_->metric; }
int GpuIVF::device() const { return impl_->device; }
std::size_t GpuIVF::ntotal() const { return impl_->ntotal; }
std::size_t GpuIVF::index_bytes() const { return impl_->index_bytes; }
std::size_t GpuIVF::memory_limit() const { return impl_->limit; }

std::size_t GpuIVF::batch_size(const GpuSearchParams& p) const {
    const Impl& im = *impl_;
    const std::size_t K1 = p.rerank_k > 0 ? std::max(p.k, p.rerank_k) : p.k;
    const std::size_t probe_bytes = im.nlist * (p.probe_dim ? p.probe_dim : im.coarse_dim) * sizeof(float);
    const std::size_t used = im.index_bytes + probe_bytes;
    if (used >= im.limit) return 0;
    return std::min(kMaxBatch, (im.limit - used) / im.per_query_bytes(p, K1));
}

void GpuIVF::search(const float* xq, std::size_t nq, const GpuSearchParams& p, float* D, int64_t* I) const {
    Impl& im = *impl_;
    const std::size_t k = p.k, nprobe = p.nprobe, sd = p.scan_dim;
    const bool rerank = p.rerank_k > 0;
    const std::size_t K1 = rerank ? std::max(k, p.rerank_k) : k;
    const std::size_t rd = rerank ? p.rerank_dim : sd;
    const std::size_t pd = p.probe_dim ? p.probe_dim : im.coarse_dim;
    if (k == 0 || K1 > kMaxK)
        throw std::invalid_argument("on the GPU, k and rerank_k must be in 1.." + std::to_string(kMaxK));
    if (nprobe == 0 || nprobe > im.nlist) throw std::invalid_argument("nprobe must be in 1..nlist");
    if (nprobe > kMaxK && nprobe < im.nlist)
        throw std::invalid_argument("on the GPU, nprobe must be <= " + std::to_string(kMaxK) + " or equal to nlist");
    if (sd == 0 || sd > im.dim) throw std::invalid_argument("scan_dim must be in 1..dim");
    if (rd == 0 || rd > im.dim) throw std::invalid_argument("rerank_dim must be in 1..dim");
    if (pd > im.coarse_dim) throw std::invalid_argument("probe_dim must be in 1..coarse_dim");
    if (nq == 0) return;

    std::lock_guard<std::mutex> lock(im.mu);
    cuda_check(cudaSetDevice(im.device), "cudaSetDevice");
    const bool gemm_probe = im.nlist > 1 && nprobe < im.nlist;
    if (gemm_probe) im.set_probe_dim(pd);
    const std::size_t B = std::min(nq, batch_size(p));
    if (B == 0)
        throw OutOfMemory("the GPU memory limit (" + std::to_string(im.limit >> 20) +
                          " MiB) leaves no room for the search workspace of one query");

    const int dev = im.device;
    const std::size_t cap1 = select_capacity(K1), capk = select_capacity(k), capp = select_capacity(nprobe);
    const std::size_t smem_scan = query_smem_bytes(sd) + select_smem_bytes(cap1);
    const std::size_t smem_merge = select_smem_bytes(cap1);
    const std::size_t smem_rerank = query_smem_bytes(rd) + round_up(K1, 4) * sizeof(float) + select_smem_bytes(capk);
    const std::size_t smem_probe = select_smem_bytes(capp);
    const int scan_kind = stage_kind(im.metric, sd, im.dim), rerank_kind = stage_kind(im.metric, rd, im.dim);
    auto scan = scan_kind == kKindL2 ? &scan_lists<kKindL2> : scan_kind == kKindIP ? &scan_lists<kKindIP> : &scan_lists<kKindIPNorm>;
    allow_smem(scan, smem_scan, dev, "the scan");
    if (nprobe > 1) allow_smem(merge_candidates, smem_merge, dev, "the merge");
    if (rerank) allow_smem(adanns::gpu::rerank, smem_rerank, dev, "the rerank");
    if (gemm_probe) allow_smem(select_probes, smem_probe, dev, "the probe selection");

    const std::size_t dp = im.dim_pad;
    DeviceBuffer<float> q(B * dp), scores(gemm_probe ? B * im.nlist : 0);
    DeviceBuffer<int> probes(B * nprobe);
    DeviceBuffer<float> cand_d(B * nprobe * K1), merged_d(nprobe > 1 ? B * K1 : 0), rr_d(rerank ? B * k : 0);
    DeviceBuffer<int> cand_s(B * nprobe * K1), merged_s(nprobe > 1 ? B * K1 : 0), rr_s(rerank ? B * k : 0);
    DeviceBuffer<float> Dd(B * k);
    DeviceBuffer<long long> Id(B * k);
    const cudaStream_t st = im.stream.get();
    const auto* data4 = reinterpret_cast<const float4*>(im.data.get());

    for (std::size_t q0 = 0; q0 < nq; q0 += B) {
        const std::size_t nb = std::min(B, nq - q0);
        const unsigned nbu = static_cast<unsigned>(nb);
        cuda_check(cudaMemsetAsync(q.get(), 0, nb * dp * sizeof(float), st), "memset");
        cuda_check(cudaMemcpy2DAsync(q.get(), dp * sizeof(float), xq + q0 * im.dim, im.dim * sizeof(float),
                                     im.dim * sizeof(float), nb, cudaMemcpyHostToDevice, st),
                   "query upload");
        if (im.metric == kMetricCosine) {
            normalize_rows<<<nbu, 32, 0, st>>>(q.get(), static_cast<int>(im.dim), dp);
            launch_check("normalize_rows");
        }
        if (gemm_probe) {
            const float alpha = im.metric == kMetricL2 ? -2.f : -1.f;
            gemm_nt_bias(q.get(), dp, im.probe_c.get(), pd, nb, im.nlist, pd,
                         im.metric == kMetricL2 ? im.probe_bias.get() : nullptr, alpha, scores.get(), im.nlist, st);
            select_probes<<<nbu, kSelectThreads, smem_probe, st>>>(scores.get(), static_cast<int>(im.nlist),
                                                                   static_cast<int>(nprobe), static_cast<int>(capp),
                                                                   probes.get());
            launch_check("select_probes");
        } else {
            fill_all_lists<<<nbu, 256, 0, st>>>(probes.get(), static_cast<int>(nprobe));
            launch_check("fill_all_lists");
        }
        scan<<<dim3(static_cast<unsigned>(nprobe), nbu), kSelectThreads, smem_scan, st>>>(
            data4, im.list_off.get(), im.list_len.get(), q.get(), dp, probes.get(), static_cast<int>(nprobe),
            static_cast<int>(sd), im.group_f4(), static_cast<int>(K1), static_cast<int>(cap1), cand_d.get(),
            cand_s.get());
        launch_check("scan_lists");
        const float* best_d = cand_d.get();
        const int* best_s = cand_s.get();
        if (nprobe > 1) {
            merge_candidates<<<nbu, kSelectThreads, smem_merge, st>>>(cand_d.get(), cand_s.get(),
                                                                      static_cast<int>(nprobe * K1), static_cast<int>(K1),
                                                                      static_cast<int>(cap1), merged_d.get(), merged_s.get());
            launch_check("merge_candidates");
            best_d = merged_d.get();
            best_s = merged_s.get();
        }
        std::size_t ld = K1;
        if (rerank) {
            adanns::gpu::rerank<<<nbu, kSelectThreads, smem_rerank, st>>>(
                data4, im.group_f4(), q.get(), dp, best_s, static_cast<int>(K1), static_cast<int>(rd), rerank_kind,
                static_cast<int>(k), static_cast<int>(capk), rr_d.get(), rr_s.get());
            launch_check("rerank");
            best_d = rr_d.get();
            best_s = rr_s.get();
            ld = k;
        }
        emit<<<nbu, 32, 0, st>>>(best_d, best_s, ld, im.slot_ids.get(), q.get(), dp, im.metric, static_cast<int>(rd),
                                 static_cast<int>(im.dim), static_cast<int>(k), Dd.get(), Id.get());
        launch_check("emit");
        cuda_check(cudaMemcpyAsync(D + q0 * k, Dd.get(), nb * k * sizeof(float), cudaMemcpyDeviceToHost, st), "download");
        static_assert(sizeof(long long) == sizeof(int64_t), "int64 ids");
        cuda_check(cudaMemcpyAsync(I + q0 * k, Id.get(), nb * k * sizeof(long long), cudaMemcpyDeviceToHost, st),
                   "download");
        cuda_check(cudaStreamSynchronize(st), "search");
    }
}

std::vector<float> GpuIVF::centroids() const {
    const Impl& im = *impl_;
    std::lock_guard<std::mutex> lock(impl_->mu);
    cuda_check(cudaSetDevice(im.device), "cudaSetDevice");
    std::vector<float> c(im.nlist * im.coarse_dim);
    im.centroids.download(c.data(), c.size());
    return c;
}

void GpuIVF::export_state(std::vector<int64_t>& sizes, std::vector<int64_t>& ids, std::vector<float>& vectors) const {
    const Impl& im = *impl_;
    std::lock_guard<std::mutex> lock(impl_->mu);
    cuda_check(cudaSetDevice(im.device), "cudaSetDevice");
    const std::size_t dp = im.dim_pad;
    sizes = im.sizes;
    ids.resize(im.ntotal);
    vectors.resize(im.ntotal * im.dim);
    std::vector<long long> slot_ids(im.total_rows);
    im.slot_ids.download(slot_ids.data(), slot_ids.size());
    std::vector<float> buf;
    std::size_t out_row = 0;
    for (std::size_t l = 0; l < im.nlist; ++l) {
        const std::size_t n = static_cast<std::size_t>(im.sizes[l]), rows = round_up(n, kGroupRows);
        const std::size_t off = static_cast<std::size_t>(im.offsets[l]);
        buf.resize(rows * dp);
        im.data.download(buf.data(), buf.size(), off * dp);
        for (std::size_t r = 0; r < n; ++r, ++out_row) {
            const float* g = buf.data() + (r / kGroupRows) * kGroupRows * dp + (r % kGroupRows) * kVecWidth;
            float* v = vectors.data() + out_row * im.dim;
            for (std::size_t t = 0; t < im.dim; ++t) v[t] = g[(t / kVecWidth) * kGroupRows * kVecWidth + t % kVecWidth];
            ids[out_row] = slot_ids[off + r];
        }
    }
}

}  // namespace gpu
}  // namespace adanns
