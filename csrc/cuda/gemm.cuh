// The coarse probe's GEMM on the device: out[i * ldo + j] = bias[j] + alpha * <a_i[:d], b_j[:d]>
// (A: m rows of stride lda, B: n rows of stride ldb, bias may be null). Shared-memory tiles of
// 64 x 64 outputs, 4 x 4 per thread; each output is one sequential chain over the d dims.
// (The CUDA toolkit on the build machines ships no cuBLAS, so the project has its own kernel.)
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

namespace adanns {
namespace gpu {

void gemm_nt_bias(const float* A, std::size_t lda, const float* B, std::size_t ldb, std::size_t m,
                  std::size_t n, std::size_t d, const float* bias, float alpha, float* out, std::size_t ldo,
                  cudaStream_t stream);

}  // namespace gpu
}  // namespace adanns
