// AVX2 selection kernels (kernels/distances.h), 8 values per compare; left-packing is one
// permutation, the lanes of each 8-bit mask taken from a table of 256 nibble lists (1 KiB):
// - select: a block with none at or under the threshold costs the compare and one test, the
//   others store their qualifying indices left-packed;
// - kth: the quickselect of kernels/kth_driver.h on 8 lanes: values under the pivot left-packed
//   to the front of the other buffer, those over it to its back, by masked stores of exactly
//   their count.
// Compiled with -mavx2; includes no STL templates.
#include <immintrin.h>
#include <stdint.h>

#include "kernels/distances.h"
#include "kernels/kth_driver.h"

namespace adanns {
namespace {

// kLanes.v[mask]: the set lanes of mask, ascending, one per nibble from the lowest.
struct LaneLists {
    uint32_t v[256];
    constexpr LaneLists() : v() {
        for (unsigned m = 0; m < 256; ++m) {
            uint32_t x = 0;
            unsigned j = 0;
            for (unsigned b = 0; b < 8; ++b)
                if (m >> b & 1u) x |= b << (4 * j++);
            v[m] = x;
        }
    }
};
constexpr LaneLists kLanes{};

// The lanes of mask, left-packed: a permutation vector for vpermd / vpermps.
inline __m256i packed_lanes(unsigned mask) {
    const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    return _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(kLanes.v[mask])), shifts), _mm256_set1_epi32(15));
}

// The first c lanes (a maskstore mask).
inline __m256i first_lanes(unsigned c) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(c)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The 8 values of x under p to dst[nl...), over p to dst[...ng) (ng decremented).
inline void partition8(__m256 x, __m256 pv, float* dst, size_t& nl, size_t& ng) {
    const unsigned lt = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(x, pv, _CMP_LT_OQ)));
    const unsigned gt = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(x, pv, _CMP_GT_OQ)));
    const unsigned cl = static_cast<unsigned>(__builtin_popcount(lt)), cg = static_cast<unsigned>(__builtin_popcount(gt));
    _mm256_maskstore_ps(dst + nl, first_lanes(cl), _mm256_permutevar8x32_ps(x, packed_lanes(lt)));
    ng -= cg;
    _mm256_maskstore_ps(dst + ng, first_lanes(cg), _mm256_permutevar8x32_ps(x, packed_lanes(gt)));
    nl += cl;
}

}  // namespace

std::size_t select_le_avx2(const float* d, std::size_t n, float thr, uint32_t* out) {
    const __m256 th = _mm256_set1_ps(thr);
    std::size_t m = 0, r = 0;
    for (; r + 8 <= n; r += 8) {
        const unsigned mask = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(d + r), th, _CMP_LE_OQ)));
        if (mask == 0) continue;
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + m), _mm256_add_epi32(packed_lanes(mask), _mm256_set1_epi32(static_cast<int>(r))));
        m += static_cast<std::size_t>(__builtin_popcount(mask));
    }
    for (; r < n; ++r) {
        out[m] = static_cast<uint32_t>(r);
        m += d[r] <= thr ? 1 : 0;
    }
    return m;
}

namespace {

// The form of kth_driver.h on 8 lanes.
struct Avx2Kth {
    static void partition(const float* src, std::size_t lo, std::size_t hi, float p, float* dst, std::size_t& nl,
                          std::size_t& ng) {
        const __m256 pv = _mm256_set1_ps(p);
        std::size_t i = lo;
        for (; i + 8 <= hi; i += 8) partition8(_mm256_loadu_ps(src + i), pv, dst, nl, ng);
        for (; i < hi; ++i) {
            const float x = src[i];
            if (x < p) dst[nl++] = x;
            else if (x > p) dst[--ng] = x;
        }
    }
    // The value whose rank (values under it, plus equal ones before it) is want: mask counts over
    // the range padded to 16 with +inf (never under a value, never before one).
    static float rank_of(const float* x, std::size_t span, std::size_t want) {
        float v[16];
        for (std::size_t j = 0; j < 16; ++j) v[j] = j < span ? x[j] : __builtin_inff();
        const __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8);
        for (std::size_t i = 0; i + 1 < span; ++i) {
            const __m256 xv = _mm256_set1_ps(v[i]);
            const unsigned lt = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v0, xv, _CMP_LT_OQ))) |
                                static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v1, xv, _CMP_LT_OQ))) << 8;
            const unsigned eq = (static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v0, xv, _CMP_EQ_OQ))) |
                                 static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v1, xv, _CMP_EQ_OQ))) << 8) &
                                ((1u << i) - 1u);
            if (static_cast<std::size_t>(__builtin_popcount(lt) + __builtin_popcount(eq)) == want) return v[i];
        }
        return v[span - 1];  // (the last one: no other has the rank)
    }
};

}  // namespace

float kth_avx2(float* a, std::size_t n, std::size_t k, float* tmp) {
    return kth_detail::kth_quickselect<Avx2Kth>(a, n, k, tmp);
}

}  // namespace adanns
