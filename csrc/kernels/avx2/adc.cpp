// AVX2 ADC kernels. Compiled with -mavx2 -mfma; includes no STL headers (see distances_avx2.cpp).
#include <immintrin.h>
#include <stdint.h>

#include "kernels/pq_kernels.h"

namespace adanns {

void adc_avx2(const float* lut, const uint8_t* codes, std::size_t ngroups, std::size_t m, float* out) {
    for (std::size_t b = 0; b < ngroups; ++b) {
        const uint8_t* c = codes + b * m * kCodeGroup;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (std::size_t s = 0; s < m; ++s) {
            const float* L = lut + s * kPQKsub;
            const uint8_t* cs = c + s * kCodeGroup;
            const __m256i i0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(cs)));
            const __m256i i1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(cs + 8)));
            const __m256i i2 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(cs + 16)));
            const __m256i i3 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(cs + 24)));
            a0 = _mm256_add_ps(a0, _mm256_i32gather_ps(L, i0, 4));
            a1 = _mm256_add_ps(a1, _mm256_i32gather_ps(L, i1, 4));
            a2 = _mm256_add_ps(a2, _mm256_i32gather_ps(L, i2, 4));
            a3 = _mm256_add_ps(a3, _mm256_i32gather_ps(L, i3, 4));
        }
        float* o = out + b * kCodeGroup;
        _mm256_storeu_ps(o, a0);
        _mm256_storeu_ps(o + 8, a1);
        _mm256_storeu_ps(o + 16, a2);
        _mm256_storeu_ps(o + 24, a3);
    }
}

void add_avx2(const float* a, const float* b, std::size_t n, float* out) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace adanns
