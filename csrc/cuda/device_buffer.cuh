// CUDA error checks and an RAII owner of device memory.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

#include "gpu_ivf.h"

namespace adanns {
namespace gpu {

inline void cuda_check(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return;
    const std::string msg = std::string(what) + ": " + cudaGetErrorString(e);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();  // clear the sticky-free allocation error
        throw OutOfMemory(msg);
    }
    throw std::runtime_error("CUDA error in " + msg);
}

// Checks the launch of the kernel just issued (configuration errors; execution errors
// surface at the next synchronisation, which is checked too).
inline void launch_check(const char* kernel) { cuda_check(cudaGetLastError(), kernel); }

// Owns `n` elements of T in device memory. Move-only.
template <class T>
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    explicit DeviceBuffer(std::size_t n) { allocate(n); }
    ~DeviceBuffer() { release(); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
        if (this != &o) {
            release();
            p_ = std::exchange(o.p_, nullptr);
            n_ = std::exchange(o.n_, 0);
        }
        return *this;
    }

    void allocate(std::size_t n) {
        release();
        if (n == 0) return;
        void* p = nullptr;
        cuda_check(cudaMalloc(&p, n * sizeof(T)), "cudaMalloc");
        p_ = static_cast<T*>(p);
        n_ = n;
    }
    void upload(const T* host, std::size_t n, std::size_t offset = 0) {
        if (n) cuda_check(cudaMemcpy(p_ + offset, host, n * sizeof(T), cudaMemcpyHostToDevice), "upload");
    }
    void download(T* host, std::size_t n, std::size_t offset = 0) const {
        if (n) cuda_check(cudaMemcpy(host, p_ + offset, n * sizeof(T), cudaMemcpyDeviceToHost), "download");
    }
    T* get() { return p_; }
    const T* get() const { return p_; }
    std::size_t size() const { return n_; }

private:
    void release() noexcept {
        if (p_) cudaFree(p_);
        p_ = nullptr;
        n_ = 0;
    }
    T* p_ = nullptr;
    std::size_t n_ = 0;
};

}  // namespace gpu
}  // namespace adanns
