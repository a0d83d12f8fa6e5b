// Per-block top-K selection of (distance, slot) pairs, smaller is better, ties broken by the
// smaller slot (the CPU core's order: a slot grows with (list, row)).
//
// Every thread of the block offers at most one candidate per step. Candidates at or under the
// current threshold are appended to a shared-memory buffer: the warp's survivors are found with
// __ballot_sync and placed with one atomicAdd per warp (warp-aggregated compaction). When the
// buffer could overflow on the next step it is bitonic-sorted in shared memory and cut back to
// the K best, which tightens the threshold. After the first cuts almost every candidate fails
// the threshold test, so the buffer work is paid for the few that can still enter the top K.
// The result is exactly the K smallest pairs offered, whatever the order they came in.
#pragma once
#include <cuda_runtime.h>

#include <climits>
#include <cstddef>

namespace adanns {
namespace gpu {

constexpr int kSelectThreads = 256;  // threads of every block that uses BlockSelect
constexpr int kNoSlot = INT_MAX;     // an empty buffer entry sorts after every real one

// Buffer capacity for K: a power of two >= 2K + kSelectThreads.
inline std::size_t select_capacity(std::size_t K) {
    std::size_t cap = 1;
    while (cap < 2 * K + kSelectThreads) cap <<= 1;
    return cap;
}
// Shared memory bytes of a BlockSelect of capacity cap (distances, slots, count, threshold).
inline std::size_t select_smem_bytes(std::size_t cap) { return cap * (sizeof(float) + sizeof(int)) + 16; }

__device__ __forceinline__ bool pair_less(float da, int sa, float db, int sb) {
    return da < db || (da == db && sa < sb);
}

class BlockSelect {
public:
    // smem: select_smem_bytes(cap) bytes, 16-byte aligned. Must be called by every thread.
    __device__ BlockSelect(void* smem, int K, int cap) : K_(K), cap_(cap) {
        d_ = static_cast<float*>(smem);
        s_ = reinterpret_cast<int*>(d_ + cap);
        count_ = s_ + cap;
        thr_ = reinterpret_cast<float*>(count_ + 1);
        for (int i = threadIdx.x; i < cap; i += blockDim.x) {
            d_[i] = __int_as_float(0x7f800000);  // +inf
            s_[i] = kNoSlot;
        }
        if (threadIdx.x == 0) {
            *count_ = 0;
            *thr_ = __int_as_float(0x7f800000);
        }
        __syncthreads();
    }

    // One step: every thread of the block must call it (valid=false when it has no candidate).
    __device__ void push(bool valid, float dist, int slot) {
        const bool keep = valid && dist <= *thr_;
        const unsigned mask = __ballot_sync(0xffffffffu, keep);
        const int lane = threadIdx.x & 31;
        int base = 0;
        if (lane == 0 && mask) base = atomicAdd(count_, __popc(mask));
        base = __shfl_sync(0xffffffffu, base, 0);
        if (keep) {
            const int pos = base + __popc(mask & ((1u << lane) - 1u));
            d_[pos] = dist;
            s_[pos] = slot;
        }
        __syncthreads();
        const int n = *count_;
        __syncthreads();  // every thread has read the count before anyone may change it
        if (n > cap_ - static_cast<int>(blockDim.x)) cut();
    }

    // Sorts; entries [0, K) are the best K (missing ones are (+inf, kNoSlot)). Only the
    // power-of-two prefix that holds the filled entries is sorted: past it all are empty.
    __device__ void finish() {
        const int n = *count_;
        int len = 1;
        while (len < n) len <<= 1;
        sort(len);
    }
    __device__ float dist(int i) const { return d_[i]; }
    __device__ int slot(int i) const { return s_[i]; }

private:
    // Bitonic sort of entries [0, len), len a power of two <= cap.
    __device__ void sort(int len) {
        for (int size = 2; size <= len; size <<= 1) {
            for (int stride = size >> 1; stride > 0; stride >>= 1) {
                for (int i = threadIdx.x; i < len; i += blockDim.x) {
                    const int j = i ^ stride;
                    if (j > i) {
                        const bool ascending = (i & size) == 0;
                        const bool jl = pair_less(d_[j], s_[j], d_[i], s_[i]);
                        if (jl == ascending) {
                            const float td = d_[i];
                            d_[i] = d_[j];
                            d_[j] = td;
                            const int ts = s_[i];
                            s_[i] = s_[j];
                            s_[j] = ts;
                        }
                    }
                }
                __syncthreads();
            }
        }
    }
    __device__ void cut() {
        sort(cap_);
        for (int i = K_ + threadIdx.x; i < cap_; i += blockDim.x) {
            d_[i] = __int_as_float(0x7f800000);
            s_[i] = kNoSlot;
        }
        if (threadIdx.x == 0) {
            *count_ = K_;
            *thr_ = d_[K_ - 1];
        }
        __syncthreads();
    }

    int K_, cap_;
    float* d_;
    int* s_;
    int* count_;
    float* thr_;
};

}  // namespace gpu
}  // namespace adanns
