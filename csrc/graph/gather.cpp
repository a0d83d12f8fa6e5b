#include "gather_kernels.h"

#include <cstring>

#include "kernels/kernels.h"
#include "kernels/scalar_row.h"

namespace adanns {

void gather_scalar(int kind, const float* q, const float* base, std::size_t stride, const uint32_t* idx,
                   std::size_t n, std::size_t w, float* out, float* out_norm) {
    for (std::size_t i = 0; i < n; ++i) {
        float nn = 0.f;
        out[i] = row_distance(kind, q, base + static_cast<std::size_t>(idx[i]) * stride, w, &nn);
        if (kind == kScanIPNorm) out_norm[i] = nn;
    }
}

void gather_sq8_scalar(int kind, const float* q, const float* wgt, const uint8_t* base, std::size_t stride,
                       const uint32_t* idx, std::size_t n, std::size_t w, float* out) {
    for (std::size_t i = 0; i < n; ++i) {
        const uint8_t* c = base + static_cast<std::size_t>(idx[i]) * stride;
        float s = 0.f;
        if (kind == kSq8IP) {
            for (std::size_t j = 0; j < w; ++j) s += q[j] * float(c[j]);
        } else {
            for (std::size_t j = 0; j < w; ++j) {
                const float d = q[j] - float(c[j]);
                s += wgt[j] * (d * d);
            }
        }
        out[i] = s;
    }
}

GatherSq8Fn gather_sq8_kernel() {
#if defined(ADANNS_HAVE_AVX2_TU)
    static const GatherSq8Fn fn = std::strcmp(kernels().name, "avx2") == 0 ? &gather_sq8_avx2 : &gather_sq8_scalar;
#else
    static const GatherSq8Fn fn = &gather_sq8_scalar;
#endif
    return fn;
}

GatherFn gather_kernel() {
#if defined(ADANNS_HAVE_AVX2_TU)
    // Same choice as the scan kernels (CPU features and ADANNS_SIMD).
    static const GatherFn fn = std::strcmp(kernels().name, "avx2") == 0 ? &gather_avx2 : &gather_scalar;
#else
    static const GatherFn fn = &gather_scalar;
#endif
    return fn;
}

}  // namespace adanns
