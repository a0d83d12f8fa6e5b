// The AVX-512 VNNI tile kernel of the IVF int8 scan (sq8_blocks.h). This unit alone is compiled
// with -mavx512f -mavx512bw -mavx512vnni; no STL in it.
#include <immintrin.h>
#include <stdint.h>

#include "ivf/sq8_blocks.h"
#include "common/prefetch.h"

namespace adanns {
namespace {

typedef int32_t quad_t __attribute__((may_alias, aligned(1)));

// G queries against one block of 16 rows: per quad, one 64-byte load and one vpdpbusd per query
// (its 4 codes broadcast from memory); the 16 rows' sums land in the 16 lanes. Then the float
// epilogue: the scale, the wide dims (their codes converted once per block, in wc), one store.
template <int G>
__attribute__((always_inline)) inline void block_queries(const Sq8TileQuery* const* qs, const uint8_t* b8, size_t nq,
                                                         const __m512* wc, size_t hw, float* out, size_t ldo,
                                                         __mmask16 mask) {
    __m512i acc[G];
#pragma GCC unroll 16
    for (int j = 0; j < G; ++j) acc[j] = _mm512_setzero_si512();
    for (size_t k = 0; k < nq; ++k) {
        const __m512i x = _mm512_loadu_si512(b8 + 64 * k);
#pragma GCC unroll 16
        for (int j = 0; j < G; ++j)
            acc[j] = _mm512_dpbusd_epi32(acc[j], x, _mm512_set1_epi32(*reinterpret_cast<const quad_t*>(qs[j]->q8 + 4 * k)));
    }
#pragma GCC unroll 16
    for (int j = 0; j < G; ++j) {
        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[j]), _mm512_set1_ps(qs[j]->inv_scale8));
        for (size_t t = 0; t < hw; ++t) f = _mm512_fmadd_ps(wc[t], _mm512_set1_ps(qs[j]->qhi[t]), f);
        _mm512_mask_storeu_ps(out + j * ldo, mask, f);
    }
}

}  // namespace

void sq8_tile_vnni(const Sq8TileQuery* const* qs, size_t m, const uint8_t* blocks, size_t wide, size_t block_bytes,
                   size_t n, size_t w, float* out, size_t ldo) {
    if (m == 0 || n == 0) return;
    const size_t hw = w < wide ? w : wide, nq = (w - hw + 3) / 4;
    const size_t used = 32 * wide + 64 * nq;  // the prefix's bytes of a block
    const size_t nb = (n + kSq8BlockRows - 1) / kSq8BlockRows;
    auto prefetch = [&](size_t b) { prefetch_span(blocks + b * block_bytes, used); };
    constexpr size_t kAhead = 2;  // blocks (12 KiB at 384 dims)
    for (size_t b = 0; b < nb && b < kAhead; ++b) prefetch(b);
    for (size_t b = 0; b < nb; ++b) {
        if (b + kAhead < nb) prefetch(b + kAhead);
        const uint8_t* blk = blocks + b * block_bytes;
        const size_t r0 = b * kSq8BlockRows, rows = n - r0 < kSq8BlockRows ? n - r0 : kSq8BlockRows;
        const __mmask16 mask = static_cast<__mmask16>(rows == kSq8BlockRows ? 0xFFFFu : (1u << rows) - 1u);
        __m512 wc[8];
        for (size_t t = 0; t < hw && t < 8; ++t)
            wc[t] = _mm512_cvtepi32_ps(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32 * t))));
        const uint8_t* b8 = blk + 32 * wide;
        float* o = out + r0;
        size_t j = 0;
        for (; j + 8 <= m; j += 8) block_queries<8>(qs + j, b8, nq, wc, hw, o + j * ldo, ldo, mask);
        switch (m - j) {
            case 1: block_queries<1>(qs + j, b8, nq, wc, hw, o + j * ldo, ldo, mask); break;
            case 2: block_queries<2>(qs + j, b8, nq, wc, hw, o + j * ldo, ldo, mask); break;
            case 3: block_queries<3>(qs + j, b8, nq, wc, hw, o + j * ldo, ldo, mask); break;
            case 4: block_queries<4>(qs + j, b8, nq, wc, hw, o + j * ldo, ldo, mask); break;
            case 5: block_queries<5>(qs + j, b8, nq, wc, hw, o + j * ldo, ldo, mask); break;
            case 6: block_queries<6>(qs + j, b8, nq, wc, hw, o + j * ldo, ldo, mask); break;
            case 7: block_queries<7>(qs + j, b8, nq, wc, hw, o + j * ldo, ldo, mask); break;
            default: break;
        }
    }
}

}  // namespace adanns
