#include "gather_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "graph/sq8.h"
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

float make_sq8_ip_query(const float* qw, std::size_t w, int16_t* q16) {
    float amax = 0.f;
    for (std::size_t j = 0; j < w; ++j) amax = std::max(amax, std::fabs(qw[j]));
    // |sum_j q16_j c_j| <= w * 255 * top must stay below 2^31
    const double top = std::min(32767.0, std::floor(2147483647.0 / (255.0 * double(w ? w : 1))));
    if (!(amax > 0.f) || !std::isfinite(amax)) {
        for (std::size_t j = 0; j < w; ++j) q16[j] = 0;
        return 1.f;
    }
    const double scale = top / double(amax);
    for (std::size_t j = 0; j < w; ++j) q16[j] = static_cast<int16_t>(sq8_round_even(double(qw[j]) * scale));
    return static_cast<float>(1.0 / scale);
}

void gather_sq8_scalar(const Sq8Query& q, const uint8_t* base, std::size_t stride, const uint32_t* idx,
                       std::size_t n, std::size_t w, float* out) {
    const std::size_t hw = std::min(q.wide, w);
    for (std::size_t i = 0; i < n; ++i) {
        const uint8_t* c = base + static_cast<std::size_t>(idx[i]) * stride;
        const uint8_t* c8 = c + 2 * q.wide;  // the 8-bit dims
        const float hi = sq8_wide_term(q, c, hw);
        if (q.kind == kSq8IP) {
            int32_t s = 0;
            for (std::size_t j = hw; j < w; ++j) s += int32_t(q.q16[j - hw]) * int32_t(c8[j - hw]);
            out[i] = float(s) * q.inv_scale + hi;
        } else {
            float s = 0.f;
            for (std::size_t j = hw; j < w; ++j) {
                const float d = q.q[j] - float(c8[j - hw]);
                s += q.wgt[j] * (d * d);
            }
            out[i] = s + hi;
        }
    }
}

namespace {

#if defined(ADANNS_HAVE_AVX2_TU)
constexpr GatherFn kGatherAvx2 = &gather_avx2;
constexpr GatherSq8Fn kGatherSq8Avx2 = &gather_sq8_avx2;
#else
constexpr GatherFn kGatherAvx2 = nullptr;
constexpr GatherSq8Fn kGatherSq8Avx2 = nullptr;
#endif

// The AVX2 kernel where the scan kernels chose AVX2 (CPU features and ADANNS_SIMD), else the scalar one.
template <class Fn>
Fn pick(Fn avx2, Fn scalar) {
    return avx2 != nullptr && kernels_use_avx2() ? avx2 : scalar;
}

}  // namespace

GatherSq8Fn gather_sq8_kernel() {
    static const GatherSq8Fn fn = pick(kGatherSq8Avx2, &gather_sq8_scalar);
    return fn;
}

GatherFn gather_kernel() {
    static const GatherFn fn = pick(kGatherAvx2, &gather_scalar);
    return fn;
}

}  // namespace adanns
