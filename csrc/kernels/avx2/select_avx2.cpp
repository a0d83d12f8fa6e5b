// AVX2 selection (kernels/distances.h, SelectKernel): 8 distances per compare; a block with
// none at or under the threshold costs the compare and one test, the others store their
// qualifying indices left-packed by one permutation (the lanes of each 8-bit mask in a table of
// 256 nibble lists, 1 KiB). Compiled with -mavx2; includes no STL templates.
#include <immintrin.h>
#include <stdint.h>

#include "kernels/distances.h"

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

}  // namespace

std::size_t select_le_avx2(const float* d, std::size_t n, float thr, uint32_t* out) {
    const __m256 th = _mm256_set1_ps(thr);
    const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    const __m256i nibble = _mm256_set1_epi32(15);
    std::size_t m = 0, r = 0;
    for (; r + 8 <= n; r += 8) {
        const unsigned mask = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(d + r), th, _CMP_LE_OQ)));
        if (mask == 0) continue;
        const __m256i lanes = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(kLanes.v[mask])), shifts), nibble);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + m), _mm256_add_epi32(lanes, _mm256_set1_epi32(static_cast<int>(r))));
        m += static_cast<std::size_t>(__builtin_popcount(mask));
    }
    for (; r < n; ++r) {
        out[m] = static_cast<uint32_t>(r);
        m += d[r] <= thr ? 1 : 0;
    }
    return m;
}

}  // namespace adanns
