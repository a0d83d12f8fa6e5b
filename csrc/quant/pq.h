// Product quantiser: per-sub-space k-means codebooks (256 codewords each), encoding and decoding.
// (The OPQ rotation is learned in adanns/pq_index.py with these primitives.)
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/pq_kernels.h"

namespace adanns {

// Per-sub-space k-means (256 centroids): returns m x 256 x (d / m) codebooks. x is n x d.
std::vector<float> pq_train(const float* x, std::size_t n, std::size_t d, std::size_t m, int niter,
                            uint64_t seed, std::size_t max_points_per_centroid);
// Nearest codeword per sub-space: codes n x m (row-major). x rows of stride ldx >= d.
void pq_encode(const float* x, std::size_t n, std::size_t ldx, std::size_t d, std::size_t m,
               const float* codebooks, uint8_t* codes);
// Reconstruction: out n x d.
void pq_decode(const uint8_t* codes, std::size_t n, std::size_t d, std::size_t m,
               const float* codebooks, float* out);

namespace pqdetail {
// GEMM panels and squared norms of each sub-space's 256 codewords.
void pack_codebooks(const float* cb, std::size_t m, std::size_t dsub, std::vector<float>& packed,
                    std::vector<float>& norms);
// Sequential: codes (n x m) of n rows of stride ldx; tmp has n entries.
void encode_rows(const float* x, std::size_t n, std::size_t ldx, std::size_t dsub, std::size_t m,
                 const float* packed, const float* norms, uint8_t* codes, int64_t* tmp);
}  // namespace pqdetail

}  // namespace adanns
