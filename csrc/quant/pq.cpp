// Product quantiser: per-sub-space k-means, encoding, decoding, and the portable ADC kernels.
#include "quant/pq.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "quant/kmeans.h"
#include "common/parallel.h"

namespace adanns {

std::vector<float> pq_train(const float* x, std::size_t n, std::size_t d, std::size_t m, int niter,
                            uint64_t seed, std::size_t max_points_per_centroid) {
    if (m == 0 || d == 0 || d % m != 0) throw std::invalid_argument("pq_train: d must be a multiple of m");
    if (n < kPQKsub)
        throw std::invalid_argument("PQ training needs at least 256 vectors, got " + std::to_string(n));
    const std::size_t dsub = d / m;
    std::vector<float> cb(m * kPQKsub * dsub);
    std::vector<float> sub(n * dsub);
    for (std::size_t s = 0; s < m; ++s) {
        parallel_for_chunks(n, 4096, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i)
                std::memcpy(sub.data() + i * dsub, x + i * d + s * dsub, dsub * sizeof(float));
        });
        KMeansParams p;
        p.k = kPQKsub;
        p.niter = niter;
        p.seed = seed + 0x9E37ull * (s + 1);
        p.max_points_per_centroid = max_points_per_centroid;
        const std::vector<float> c = kmeans_train(sub.data(), n, dsub, p);
        std::copy(c.begin(), c.end(), cb.begin() + s * kPQKsub * dsub);
    }
    return cb;
}

namespace pqdetail {

void pack_codebooks(const float* cb, std::size_t m, std::size_t dsub, std::vector<float>& packed,
                    std::vector<float>& norms) {
    const std::size_t ps = packed_size(kPQKsub, dsub);
    packed.assign(m * ps, 0.f);
    norms.assign(m * kPQKsub, 0.f);
    for (std::size_t s = 0; s < m; ++s) {
        const float* c = cb + s * kPQKsub * dsub;
        pack_panels(c, kPQKsub, dsub, dsub, packed.data() + s * ps);
        for (std::size_t j = 0; j < kPQKsub; ++j) {
            float t = 0.f;
            for (std::size_t u = 0; u < dsub; ++u) t += c[j * dsub + u] * c[j * dsub + u];
            norms[s * kPQKsub + j] = t;
        }
    }
}

// Sequential: codes (n x m) of n rows of stride ldx.
void encode_rows(const float* x, std::size_t n, std::size_t ldx, std::size_t dsub, std::size_t m,
                 const float* packed, const float* norms, uint8_t* codes, int64_t* tmp) {
    const GemmArgminFn argmin = kernels().gemm_argmin;
    const std::size_t ps = packed_size(kPQKsub, dsub);
    for (std::size_t s = 0; s < m; ++s) {
        argmin(x + s * dsub, n, ldx, packed + s * ps, kPQKsub, dsub, norms + s * kPQKsub, -2.f, tmp, nullptr);
        for (std::size_t i = 0; i < n; ++i) codes[i * m + s] = static_cast<uint8_t>(tmp[i]);
    }
}

}  // namespace pqdetail

void pq_encode(const float* x, std::size_t n, std::size_t ldx, std::size_t d, std::size_t m,
               const float* codebooks, uint8_t* codes) {
    if (m == 0 || d % m != 0) throw std::invalid_argument("pq_encode: d must be a multiple of m");
    const std::size_t dsub = d / m;
    std::vector<float> packed, norms;
    pqdetail::pack_codebooks(codebooks, m, dsub, packed, norms);
    parallel_for_chunks(n, 512, [&](std::size_t b, std::size_t e) {
        std::vector<int64_t> tmp(e - b);
        pqdetail::encode_rows(x + b * ldx, e - b, ldx, dsub, m, packed.data(), norms.data(), codes + b * m,
                              tmp.data());
    });
}

void pq_decode(const uint8_t* codes, std::size_t n, std::size_t d, std::size_t m, const float* codebooks,
               float* out) {
    if (m == 0 || d % m != 0) throw std::invalid_argument("pq_decode: d must be a multiple of m");
    const std::size_t dsub = d / m;
    parallel_for_chunks(n, 4096, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i)
            for (std::size_t s = 0; s < m; ++s)
                std::memcpy(out + i * d + s * dsub, codebooks + (s * kPQKsub + codes[i * m + s]) * dsub,
                            dsub * sizeof(float));
    });
}

}  // namespace adanns
