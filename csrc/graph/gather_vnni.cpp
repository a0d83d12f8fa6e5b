// The AVX-512 VNNI tile kernel of the IVF int8 scan (gather_kernels.h, ScanSq8Fn). This unit
// alone is compiled with -mavx512f -mavx512bw -mavx512vnni; no STL templates in it.
#include <immintrin.h>
#include <stdint.h>

#include "gather_kernels.h"
#include "sq8_tile_rows.h"

namespace adanns {
namespace {

// Four consecutive rows against Q (<= 4) queries: per 64-code step each row is loaded once and
// multiplied with every query's q8 (vpdpbusd: unsigned codes x signed query, 4 products summed
// into each 32-bit lane; exact integer sums).
template <int Q>
__attribute__((always_inline)) inline void vnni_tile4(const Sq8Query* const* qs, const uint8_t* const* x, std::size_t m,
                                                      std::size_t hw, std::size_t off, std::size_t nsteps, float* out,
                                                      std::size_t ldo) {
    __m512i a[Q][4];
    for (int j = 0; j < Q; ++j)
        for (int r = 0; r < 4; ++r) a[j][r] = _mm512_setzero_si512();
    for (std::size_t c = 0; c < nsteps; ++c) {
        __m512i qv[Q];
        for (int j = 0; j < Q; ++j) qv[j] = _mm512_loadu_si512(qs[j]->q8 + c * 64);
        for (int r = 0; r < 4; ++r) {
            const __m512i xv = _mm512_loadu_si512(x[r] + off + c * 64);
            for (int j = 0; j < Q; ++j) a[j][r] = _mm512_dpbusd_epi32(a[j][r], xv, qv[j]);
        }
    }
    // The four rows' sums of each query at once: 512 -> 256 bits, then the AVX2 horizontal adds
    // (exact integer sums in any order); the 16-bit dims (with 8 of them, the usual case) as four
    // float dot products of the rows' codes, converted once, with the query's qhi.
    __m256 v[4];
    if (hw == 8)
        for (int r = 0; r < 4; ++r)
            v[r] = _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[r]))));
    for (int j = 0; j < Q; ++j) {
        __m256i h[4];
        for (int r = 0; r < 4; ++r)
            h[r] = _mm256_add_epi32(_mm512_castsi512_si256(a[j][r]), _mm512_extracti64x4_epi64(a[j][r], 1));
        const __m256i abcd = _mm256_hadd_epi32(_mm256_hadd_epi32(h[0], h[1]), _mm256_hadd_epi32(h[2], h[3]));
        const __m128i sums = _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
        __m128 hi;
        if (hw == 8) {
            const __m256 qh = _mm256_loadu_ps(qs[j]->qhi);
            __m256 p[4];
            for (int r = 0; r < 4; ++r) p[r] = _mm256_mul_ps(qh, v[r]);
            const __m256 pq = _mm256_hadd_ps(_mm256_hadd_ps(p[0], p[1]), _mm256_hadd_ps(p[2], p[3]));
            hi = _mm_add_ps(_mm256_castps256_ps128(pq), _mm256_extractf128_ps(pq, 1));
        } else {
            hi = _mm_setr_ps(sq8_wide_term(*qs[j], x[0], hw), sq8_wide_term(*qs[j], x[1], hw),
                             sq8_wide_term(*qs[j], x[2], hw), sq8_wide_term(*qs[j], x[3], hw));
        }
        const __m128 val = _mm_add_ps(_mm_mul_ps(_mm_cvtepi32_ps(sums), _mm_set1_ps(qs[j]->inv_scale8)), hi);
        if (m == 4) {
            _mm_storeu_ps(out + j * ldo, val);
        } else {
            alignas(16) float t[4];
            _mm_store_ps(t, val);
            for (std::size_t r = 0; r < m; ++r) out[j * ldo + r] = t[r];
        }
    }
}

}  // namespace

void scan_sq8_ip_vnni(const Sq8Query* const* qs, std::size_t m, const uint8_t* base, std::size_t stride,
                      std::size_t n, std::size_t w, float* out, std::size_t ldo) {
    if (m == 0) return;
    const std::size_t wide = qs[0]->wide, hw = w < wide ? w : wide, off = 2 * wide;
    const std::size_t nsteps = (w - hw + 63) / 64;
    sq8_tile_rows(base, stride, n, off + (w - hw), [&](const uint8_t* const* x, std::size_t i, std::size_t rows) {
        std::size_t j = 0;
        for (; j + 4 <= m; j += 4) vnni_tile4<4>(qs + j, x, rows, hw, off, nsteps, out + j * ldo + i, ldo);
        switch (m - j) {
            case 1: vnni_tile4<1>(qs + j, x, rows, hw, off, nsteps, out + j * ldo + i, ldo); break;
            case 2: vnni_tile4<2>(qs + j, x, rows, hw, off, nsteps, out + j * ldo + i, ldo); break;
            case 3: vnni_tile4<3>(qs + j, x, rows, hw, off, nsteps, out + j * ldo + i, ldo); break;
            default: break;
        }
    });
}

}  // namespace adanns
