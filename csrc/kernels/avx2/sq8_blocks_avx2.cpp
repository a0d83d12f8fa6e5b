// The AVX2 kernels of the IVF int8 scan (ivf/sq8_blocks.h): the tile kernel (the same integer
// sums as the VNNI one, by vpmaddwd on codes and query widened to 16 bits) and the L2 row term.
// Compiled with -mavx2 -mfma; no STL in it.
#include <immintrin.h>
#include <stdint.h>

#include "ivf/sq8_blocks.h"

namespace adanns {
namespace {

typedef int32_t quad_t __attribute__((may_alias, aligned(1)));

inline __m256i load_quad16(const int8_t* q) {  // 4 int8 weights widened to int16, in every 64-bit group
    return _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(*reinterpret_cast<const quad_t*>(q))));
}

inline __m256i row_mask(size_t rows) {  // lanes < rows set
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rows)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// G queries against the 8 rows of one half block (rows 8 h .. 8 h + 7): per quad the 32 bytes
// (8 rows x 4 codes) widened to two registers of 4 rows x 4 int16, vpmaddwd with each query's 4
// weights: per row two partial sums, added by one horizontal add at the end.
template <int G>
inline void half_queries(const Sq8TileQuery* const* qs, const uint8_t* b8, size_t nq, const __m256* wc, size_t hw,
                         float* out, size_t ldo, size_t rows) {
    __m256i lo[G], hi[G];
    for (int j = 0; j < G; ++j) lo[j] = hi[j] = _mm256_setzero_si256();
    for (size_t k = 0; k < nq; ++k) {
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b8 + 64 * k));
        const __m256i x0 = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(x));       // rows 0..3
        const __m256i x1 = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(x, 1));  // rows 4..7
        for (int j = 0; j < G; ++j) {
            const __m256i qv = load_quad16(qs[j]->q8 + 4 * k);
            lo[j] = _mm256_add_epi32(lo[j], _mm256_madd_epi16(x0, qv));
            hi[j] = _mm256_add_epi32(hi[j], _mm256_madd_epi16(x1, qv));
        }
    }
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    for (int j = 0; j < G; ++j) {
        // hadd: [r0 r1 r4 r5 | r2 r3 r6 r7]
        const __m256i s = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(lo[j], hi[j]), order);
        __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(qs[j]->inv_scale8));
        for (size_t t = 0; t < hw; ++t) f = _mm256_fmadd_ps(wc[t], _mm256_set1_ps(qs[j]->qhi[t]), f);
        if (rows == 8)
            _mm256_storeu_ps(out + j * ldo, f);
        else
            _mm256_maskstore_ps(out + j * ldo, row_mask(rows), f);
    }
}

inline __m256 wide_codes(const uint8_t* blk, size_t t, size_t half) {  // dim t of the half's 8 rows
    return _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 32 * t + 16 * half))));
}

}  // namespace

void sq8_tile_avx2(const Sq8TileQuery* const* qs, size_t m, const uint8_t* blocks, size_t wide, size_t block_bytes,
                   size_t n, size_t w, float* out, size_t ldo) {
    if (m == 0) return;
    const size_t hw = w < wide ? w : wide, nq = (w - hw + 3) / 4;
    for (size_t r0 = 0; r0 < n; r0 += 8) {
        const size_t half = (r0 / 8) % 2, rows = n - r0 < 8 ? n - r0 : 8;
        const uint8_t* blk = blocks + (r0 / kSq8BlockRows) * block_bytes;
        __m256 wc[8];
        for (size_t t = 0; t < hw && t < 8; ++t) wc[t] = wide_codes(blk, t, half);
        const uint8_t* b8 = blk + 32 * wide + 32 * half;
        size_t j = 0;
        for (; j + 4 <= m; j += 4) half_queries<4>(qs + j, b8, nq, wc, hw, out + j * ldo + r0, ldo, rows);
        for (; j < m; ++j) half_queries<1>(qs + j, b8, nq, wc, hw, out + j * ldo + r0, ldo, rows);
    }
}

void sq8_norms_avx2(const uint8_t* blocks, size_t wide, size_t block_bytes, size_t n, size_t w, const float* wsq,
                    float* out) {
    const size_t hw = w < wide ? w : wide, nq = (w - hw + 3) / 4;
    const __m256i byte = _mm256_set1_epi32(0xFF);
    for (size_t r0 = 0; r0 < n; r0 += 8) {
        const size_t half = (r0 / 8) % 2, rows = n - r0 < 8 ? n - r0 : 8;
        const uint8_t* blk = blocks + (r0 / kSq8BlockRows) * block_bytes;
        __m256 acc = _mm256_setzero_ps();
        for (size_t t = 0; t < hw; ++t) {
            const __m256 c = wide_codes(blk, t, half);
            acc = _mm256_fmadd_ps(_mm256_mul_ps(c, c), _mm256_set1_ps(wsq[t]), acc);
        }
        const uint8_t* b8 = blk + 32 * wide + 32 * half;
        for (size_t k = 0; k < nq; ++k) {
            const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b8 + 64 * k));
            const float* ws = wsq + wide + 4 * k;
            for (int b = 0; b < 4; ++b) {
                const __m256 c = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srlv_epi32(x, _mm256_set1_epi32(8 * b)), byte));
                acc = _mm256_fmadd_ps(_mm256_mul_ps(c, c), _mm256_set1_ps(ws[b]), acc);
            }
        }
        if (rows == 8)
            _mm256_storeu_ps(out + r0, acc);
        else
            _mm256_maskstore_ps(out + r0, row_mask(rows), acc);
    }
}

}  // namespace adanns
