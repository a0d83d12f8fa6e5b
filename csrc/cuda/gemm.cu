#include "device_buffer.cuh"
#include "gemm.cuh"

namespace adanns {
namespace gpu {

namespace {

constexpr int kTile = 64;  // outputs per block side
constexpr int kTileK = 16;  // depth of one shared-memory stage

__global__ void __launch_bounds__(256) gemm_nt_bias_kernel(const float* __restrict__ A, std::size_t lda,
                                                           const float* __restrict__ B, std::size_t ldb, int m,
                                                           int n, int d, const float* __restrict__ bias,
                                                           float alpha, float* __restrict__ out, std::size_t ldo) {
    __shared__ float As[kTileK][kTile + 1];
    __shared__ float Bs[kTileK][kTile + 1];
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const int row0 = blockIdx.y * kTile, col0 = blockIdx.x * kTile;
    float acc[4][4] = {};
    for (int k0 = 0; k0 < d; k0 += kTileK) {
        for (int e = threadIdx.x; e < kTile * kTileK; e += blockDim.x) {
            const int r = e / kTileK, kk = e % kTileK;
            const int gk = k0 + kk;
            const int ga = row0 + r, gb = col0 + r;
            As[kk][r] = (ga < m && gk < d) ? A[static_cast<std::size_t>(ga) * lda + gk] : 0.f;
            Bs[kk][r] = (gb < n && gk < d) ? B[static_cast<std::size_t>(gb) * ldb + gk] : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < kTileK; ++kk) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int r = row0 + ty + 16 * i;
        if (r >= m) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int c = col0 + tx + 16 * j;
            if (c < n) out[static_cast<std::size_t>(r) * ldo + c] = (bias ? bias[c] : 0.f) + alpha * acc[i][j];
        }
    }
}

}  // namespace

void gemm_nt_bias(const float* A, std::size_t lda, const float* B, std::size_t ldb, std::size_t m, std::size_t n,
                  std::size_t d, const float* bias, float alpha, float* out, std::size_t ldo, cudaStream_t stream) {
    if (m == 0 || n == 0) return;
    const dim3 grid(static_cast<unsigned>((n + kTile - 1) / kTile), static_cast<unsigned>((m + kTile - 1) / kTile));
    gemm_nt_bias_kernel<<<grid, 256, 0, stream>>>(A, lda, B, ldb, static_cast<int>(m), static_cast<int>(n),
                                                   static_cast<int>(d), bias, alpha, out, ldo);
    launch_check("gemm_nt_bias_kernel");
}

}  // namespace gpu
}  // namespace adanns
