// AdANNS-IVF on a CUDA GPU: a read-only, device-resident copy of an IVF (or flat) index
// with the same three-stage search as the CPU core (probe on probe_dim, scan on scan_dim,
// rerank on rerank_dim) and the same output conventions.
//
// This header is plain C++ (no CUDA types): the pybind11 binding includes it and is compiled
// by the host compiler; everything CUDA lives behind the pimpl in gpu_ivf.cu.
//
// Device layout of the inverted lists (see gpu_ivf.cu): each list is padded to a multiple of
// 32 rows; every group of 32 rows is stored as dimension chunks of kVecWidth floats,
// [chunk][row in group][kVecWidth], so a warp (one lane per row) loads 32 consecutive
// float4 = 512 contiguous bytes per chunk, and a scan on a prefix of s dims reads only the
// first ceil(s / kVecWidth) chunks of each group: one contiguous run of bytes per group.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace adanns {
namespace gpu {

constexpr std::size_t kVecWidth = 4;    // floats per chunk (one float4 load per lane)
constexpr std::size_t kGroupRows = 32;  // rows interleaved together (one warp)
// Largest k (and max(k, rerank_k), and nprobe unless nprobe == nlist) of one GPU search:
// the per-query selection buffer of 2 * k entries lives in shared memory.
constexpr std::size_t kMaxK = 1024;

// Thrown when the index or one query does not fit the device memory (budget); the binding
// maps it to a Python MemoryError.
class OutOfMemory : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Number of CUDA devices usable by this process (0 when there is none, or no driver).
int device_count();
// "name (compute capability x.y, N MiB)" of a device.
std::string device_description(int device);

struct GpuSearchParams {
    std::size_t k = 10;
    std::size_t nprobe = 1;
    std::size_t scan_dim = 0;
    std::size_t rerank_k = 0;  // 0: no rerank
    std::size_t rerank_dim = 0;
    std::size_t probe_dim = 0;  // 0: coarse_dim
};

class GpuIVF {
public:
    // Uploads an index given in the CPU core's export form: centroids (nlist x coarse_dim),
    // list sizes (nlist), then ids (n) and vectors (n x dim) in list order. Vectors are stored
    // as given (cosine indices export normalised vectors). memory_limit: bytes of device memory
    // this object may use for the index and its search workspace (0: 90% of the free memory).
    GpuIVF(int device, std::size_t dim, std::size_t nlist, std::size_t coarse_dim, int metric,
           const float* centroids, const int64_t* sizes, const int64_t* ids, const float* vectors,
           std::size_t memory_limit);
    ~GpuIVF();
    GpuIVF(const GpuIVF&) = delete;
    GpuIVF& operator=(const GpuIVF&) = delete;

    std::size_t dim() const;
    std::size_t nlist() const;
    std::size_t coarse_dim() const;
    int metric() const;
    int device() const;
    std::size_t ntotal() const;
    std::size_t index_bytes() const;   // device memory held by the index itself
    std::size_t memory_limit() const;  // index + workspace budget
    // Queries searched per device batch with these settings (the workspace bound).
    std::size_t batch_size(const GpuSearchParams& p) const;

    // D, I: nq x k (host memory). Thread-safe: searches are serialised on the device.
    void search(const float* xq, std::size_t nq, const GpuSearchParams& p, float* D, int64_t* I) const;

    // Copies back to the host, in the CPU export form.
    std::vector<float> centroids() const;
    void export_state(std::vector<int64_t>& sizes, std::vector<int64_t>& ids, std::vector<float>& vectors) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gpu
}  // namespace adanns
