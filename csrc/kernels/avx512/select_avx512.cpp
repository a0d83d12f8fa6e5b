// AVX-512F selection (kernels/distances.h, SelectKernel): 16 distances per compare into a mask;
// the qualifying indices are left-packed in a register (vpcompressd, register form: the memory
// form is microcoded on some CPUs) and stored whole; the last partial block is a masked load.
// Compiled with the other AVX-512 units; includes no STL templates.
#include <immintrin.h>
#include <stdint.h>

#include "kernels/distances.h"

namespace adanns {

std::size_t select_le_avx512(const float* d, std::size_t n, float thr, uint32_t* out) {
    const __m512 th = _mm512_set1_ps(thr);
    const __m512i sixteen = _mm512_set1_epi32(16);
    __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    std::size_t m = 0, r = 0;
    for (; r + 16 <= n; r += 16, idx = _mm512_add_epi32(idx, sixteen)) {
        const __mmask16 mask = _mm512_cmp_ps_mask(_mm512_loadu_ps(d + r), th, _CMP_LE_OQ);
        if (mask == 0) continue;
        _mm512_storeu_si512(out + m, _mm512_maskz_compress_epi32(mask, idx));
        m += static_cast<std::size_t>(__builtin_popcount(mask));
    }
    if (r < n) {
        const __mmask16 valid = static_cast<__mmask16>((1u << (n - r)) - 1u);
        const __mmask16 mask = _mm512_mask_cmp_ps_mask(valid, _mm512_maskz_loadu_ps(valid, d + r), th, _CMP_LE_OQ);
        _mm512_storeu_si512(out + m, _mm512_maskz_compress_epi32(mask, idx));
        m += static_cast<std::size_t>(__builtin_popcount(mask));
    }
    return m;
}

}  // namespace adanns
