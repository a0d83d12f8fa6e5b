// Small AVX2/FMA building blocks shared by the AVX2 translation units (kernels/avx2/*.cpp,
// graph/gather_avx2.cpp). Include ONLY from units compiled with -mavx2 -mfma: everything here
// has internal linkage so no AVX2 code can be merged into portable units.
#pragma once
#include <immintrin.h>
#include <stdint.h>

#include <cstddef>

#include "kernels/distances.h"

namespace adanns {
namespace avx2 {
namespace {

alignas(32) const int32_t kMaskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

// Lanes [0, rem) set: masked loads of the last rem (< 8) floats of a row.
inline __m256i tail_mask(std::size_t rem) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 8 - rem));
}

// [sum(a), sum(b), sum(c), sum(d)]
inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256 ab = _mm256_hadd_ps(a, b);
    const __m256 cd = _mm256_hadd_ps(c, d);
    const __m256 abcd = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

inline float hsum1(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// One 8-dim step of a scan kind (kScanL2 / kScanIP / kScanIPNorm): a += distance part,
// nn += squared norm part (IPNorm only).
template <int KIND>
inline void step(__m256 qv, __m256 xv, __m256& a, __m256& nn) {
    if (KIND == kScanL2) {
        const __m256 d = _mm256_sub_ps(qv, xv);
        a = _mm256_fmadd_ps(d, d, a);
    } else {
        a = _mm256_fmadd_ps(qv, xv, a);
        if (KIND == kScanIPNorm) nn = _mm256_fmadd_ps(xv, xv, nn);
    }
}

}  // namespace
}  // namespace avx2
}  // namespace adanns
