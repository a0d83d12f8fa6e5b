// AVX2/FMA scan kernel. This translation unit alone is compiled with
// -mavx2 -mfma; it includes no STL templates, so no AVX2-compiled inline code can
// leak into the portable part of the module through ODR merging.
#include <immintrin.h>
#include <stdint.h>

#include "distances.h"

namespace adanns {
namespace {

alignas(32) const int32_t kMaskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

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

// R rows at a time (R = 8 for L2/IP, 4 for IPNorm which needs two accumulators per row).
template <int KIND, int R>
void scan_impl(const float* q, const float* X, std::size_t n, std::size_t stride, std::size_t w,
               float* acc, float* acc_norm) {
    const std::size_t nfull = w / 8;
    const std::size_t rem = w % 8;
    const __m256i mask = tail_mask(rem);
    const __m256 qtail = rem ? _mm256_maskload_ps(q + nfull * 8, mask) : _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + R <= n; i += R) {
        const float* x = X + i * stride;
        __m256 a[R], nn[R];
        for (int r = 0; r < R; ++r) {
            a[r] = _mm256_setzero_ps();
            nn[r] = _mm256_setzero_ps();
        }
        for (std::size_t c = 0; c < nfull; ++c) {
            const __m256 qv = _mm256_loadu_ps(q + c * 8);
            for (int r = 0; r < R; ++r)
                step<KIND>(qv, _mm256_loadu_ps(x + r * stride + c * 8), a[r], nn[r]);
        }
        if (rem) {
            for (int r = 0; r < R; ++r)
                step<KIND>(qtail, _mm256_maskload_ps(x + r * stride + nfull * 8, mask), a[r], nn[r]);
        }
        for (int r = 0; r < R; r += 4) {
            const __m128 s = hsum4(a[r], a[r + 1], a[r + 2], a[r + 3]);
            _mm_storeu_ps(acc + i + r, _mm_add_ps(_mm_loadu_ps(acc + i + r), s));
            if (KIND == kScanIPNorm) {
                const __m128 t = hsum4(nn[r], nn[r + 1], nn[r + 2], nn[r + 3]);
                _mm_storeu_ps(acc_norm + i + r, _mm_add_ps(_mm_loadu_ps(acc_norm + i + r), t));
            }
        }
    }
    for (; i < n; ++i) {
        const float* x = X + i * stride;
        __m256 a = _mm256_setzero_ps(), nn = _mm256_setzero_ps();
        for (std::size_t c = 0; c < nfull; ++c)
            step<KIND>(_mm256_loadu_ps(q + c * 8), _mm256_loadu_ps(x + c * 8), a, nn);
        if (rem) step<KIND>(qtail, _mm256_maskload_ps(x + nfull * 8, mask), a, nn);
        acc[i] += hsum1(a);
        if (KIND == kScanIPNorm) acc_norm[i] += hsum1(nn);
    }
}

}  // namespace

void scan_avx2(int kind, const float* q, const float* X, std::size_t n, std::size_t stride,
               std::size_t w, float* acc, float* acc_norm) {
    switch (kind) {
        case kScanL2: scan_impl<kScanL2, 8>(q, X, n, stride, w, acc, acc_norm); break;
        case kScanIP: scan_impl<kScanIP, 8>(q, X, n, stride, w, acc, acc_norm); break;
        default: scan_impl<kScanIPNorm, 4>(q, X, n, stride, w, acc, acc_norm); break;
    }
}

}  // namespace adanns
